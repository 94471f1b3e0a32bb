"""The mode-collapse benchmark on 2-D mixtures: every classic recipe over 10 seeds.

    python benchmarks/modes/run.py                      # ring + grid, 7 recipes x 10 seeds, 2 workers
    python benchmarks/modes/run.py --recipe-seeds 5     # what results/ holds: ~26 min on 2 cores
    python benchmarks/modes/run.py --seeds 3 --quick    # a smoke run

Protocol (PacGAN, Lin et al. 2018, after VEEGAN): the 8-Gaussian ring (radius 2,
std 0.02) and the 25-Gaussian grid (5 x 5 at -4..4, std 0.05); after training,
2,500 samples (latent seed 0) are scored: a mode is covered when at least one
sample lies within 3 std of its centre, a sample is high quality when it lies
within 3 std of some centre, and the reverse KL compares the histogram of
high-quality samples over modes with the uniform one.

Each image recipe preset (gan-mlp, dcgan, lsgan, wgan, wgan-gp, hinge-sn) runs
with its loss, optimizer, D steps and regularizers on the toy MLP
(`gankit.config.on_toy_data`: G and D 3 x 128, z_dim 2) at batch 256 for a
common budget (500 kimg); the `toy-ring` / `toy-grid` presets (gankit's best toy recipes)
run exactly as shipped. Deviations from the paper's setup: ReLU/LeakyReLU MLPs
instead of maxout D and batch-norm G, and budgets sized for 2 CPU cores.

Writes modes.md / modes.json and one picture per dataset (seed-0 samples of
each recipe over the real data) beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from flops import machine_info, source_state, write_report  # noqa: E402

RECIPES = ("gan-mlp", "dcgan", "lsgan", "wgan", "wgan-gp", "hinge-sn")
DATASETS = {"toy-ring": "toy-ring", "toy-grid": "toy-grid"}  # dataset -> its shipped best preset
PUBLISHED = {  # PacGAN Table 1 (10 trials): modes, high-quality %, reverse KL
    "toy-ring": [("GAN", 6.3, 98.2, 0.45), ("PacGAN2", 7.9, 95.6, 0.07), ("PacGAN4", 7.8, 98.5, 0.12)],
    "toy-grid": [("GAN", 17.3, 94.8, 0.70), ("PacGAN2", 23.8, 91.3, 0.13), ("PacGAN4", 24.8, 93.8, 0.04)],
}


def job_config(recipe: str, dataset: str, seed: int, kimg: float, runs: Path, best_kimg: float = 0.0):
    from gankit import config as C
    if recipe == DATASETS[dataset]:  # the shipped toy preset, as is (best_kimg > 0 shortens it for smoke runs)
        values = C.resolve(recipe).to_dict()
        if best_kimg:
            values["train"].update(kimg=best_kimg, minutes=0.0, epochs=0.0)
    else:
        values = C.on_toy_data(C.resolve(recipe), dataset).to_dict()
        values["train"].update(batch_size=256, kimg=kimg, minutes=0.0, epochs=0.0)
    values["train"].update(seed=seed, threads=1, log_every=100, sample_every_kimg=0.0)
    values["out"] = str(runs / dataset / recipe / f"seed{seed}")
    values["diagnostics"]["enabled"] = False
    return C.from_dict(values)


def run_one(args: tuple) -> dict:
    recipe, dataset, seed, kimg, runs, best_kimg = args
    import torch
    torch.set_num_threads(1)
    from gankit.evaluation.evaluator import evaluate
    from gankit.training.loop import train
    cfg = job_config(recipe, dataset, seed, kimg, Path(runs), best_kimg)
    start = time.perf_counter()
    run = train(cfg, overwrite=True, progress=False)
    seconds = time.perf_counter() - start
    m = evaluate(run / "generator", num=2500, seed=0)["metrics"]
    return {"recipe": recipe, "dataset": dataset, "seed": seed, "kimg": cfg.train.kimg, "seconds": round(seconds, 1),
            "modes": m["modes"]["value"], "of": m["modes"]["of"], "high_quality": m["high_quality"]["value"],
            "reverse_kl": m["reverse_kl"]["value"]}


def summarise(rows: list[dict]) -> dict:
    out = {}
    for r in rows:
        out.setdefault(r["dataset"], {}).setdefault(r["recipe"], []).append(r)
    table = {}
    for dataset, by_recipe in out.items():
        table[dataset] = {}
        for recipe, rs in by_recipe.items():
            kls = [r["reverse_kl"] for r in rs if r["reverse_kl"] is not None and r["reverse_kl"] != float("inf")]
            table[dataset][recipe] = {
                "seeds": len(rs), "of": rs[0]["of"], "kimg": rs[0]["kimg"],
                "modes_mean": statistics.mean(r["modes"] for r in rs),
                "modes_std": statistics.pstdev(r["modes"] for r in rs),
                "all_modes_seeds": sum(r["modes"] == r["of"] for r in rs),
                "hq_mean": statistics.mean(r["high_quality"] for r in rs),
                "hq_min": min(r["high_quality"] for r in rs),
                "kl_mean": statistics.mean(kls) if kls else None, "kl_finite_seeds": len(kls),
                "seconds_mean": statistics.mean(r["seconds"] for r in rs)}
    return table


def picture(dataset: str, recipes: list[str], runs: Path, out: Path) -> None:
    """One panel per recipe: seed 0's samples (red) over the real mixture (grey)."""
    import numpy as np
    from PIL import Image, ImageDraw

    from gankit.config import DataConfig
    from gankit.data import load_dataset
    from gankit.io.generator import load_generator
    from gankit.io.images import plot_points
    real = load_dataset(DataConfig(name=dataset, toy_samples=2500), seed=1).x
    limits = (-2.6, 2.6) if dataset == "toy-ring" else (-5.0, 5.0)
    panels = []
    for recipe in recipes:
        run = runs / dataset / recipe / "seed0"
        if not (run / "generator").is_dir():
            continue
        fake = load_generator(run).sample(2500, seed=0)
        img = Image.fromarray(plot_points(real, fake, size=240, limits=limits))
        canvas = Image.new("RGB", (240, 262), "white")
        canvas.paste(img, (0, 22))
        ImageDraw.Draw(canvas).text((6, 5), recipe, fill=(0, 0, 0))
        panels.append(np.asarray(canvas))
    if panels:
        Image.fromarray(np.concatenate(panels, axis=1)).save(out)


def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def _timing(report: dict) -> str:
    return f"{report['workers']} worker process(es) with 1 thread each, {report['seconds'] / 60:.1f} min"


def markdown(report: dict) -> str:
    lines = ["# Mode collapse on 2-D mixtures (PacGAN protocol)", "",
             f"Command: `{report['command']}`  ",
             f"gankit {report['gankit_source']}; {report['machine']['cpu']}, torch {report['machine']['torch']}; "
             f"{report.get('timing') or _timing(report)}.", "",
             "Scores on 2,500 samples per run (3-std balls; a mode needs one sample); mean over seeds. "
             "*all-modes seeds*: runs that covered every mode. *hq min*: the worst seed's high-quality share.", ""]
    for dataset, by_recipe in report["table"].items():
        lines += [f"## {dataset}", "", f"![samples of seed 0 per recipe]({dataset}.png)", "",
                  "| recipe | kimg | modes (mean ± std) | all-modes seeds | high quality (mean, min) | reverse KL | "
                  "s/run |", "|---|---|---|---|---|---|---|"]
        for recipe, s in by_recipe.items():
            name = f"**{recipe}** (best, shipped preset)" if recipe == DATASETS[dataset] else recipe
            kl = _fmt(s["kl_mean"], ".3f") + ("" if s["kl_finite_seeds"] == s["seeds"]
                                               else f" ({s['kl_finite_seeds']}/{s['seeds']} finite)")
            lines.append(f"| {name} | {s['kimg']:g} | {s['modes_mean']:.1f} ± {s['modes_std']:.1f} / {s['of']} | "
                         f"{s['all_modes_seeds']}/{s['seeds']} | {100 * s['hq_mean']:.1f}%, "
                         f"{100 * s['hq_min']:.1f}% | {kl} | {s['seconds_mean']:.0f} |")
        lines += ["", "Published (PacGAN Table 1, their networks and budgets): " + "; ".join(
            f"{n} {m}/{8 if dataset == 'toy-ring' else 25} modes, {hq}% hq, KL {kl}"
            for n, m, hq, kl in PUBLISHED[dataset]), ""]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10, help="seeds of the best (shipped toy) presets")
    ap.add_argument("--recipe-seeds", type=int, default=0, help="seeds of the image recipes (default: --seeds)")
    ap.add_argument("--recipes", default=",".join(RECIPES), help="image presets to run on the toy MLP")
    ap.add_argument("--datasets", default="toy-ring,toy-grid")
    ap.add_argument("--kimg", type=float, default=0.0,
                    help="budget of the recipe runs (default: 500)")
    ap.add_argument("--best-kimg", type=float, default=0.0,
                    help="shorten the shipped toy presets to this budget (smoke runs only; default: as shipped)")
    ap.add_argument("--merge", action="store_true",
                    help="keep the rows of recipes not run now from the existing results JSON (to rerun one row)")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--runs", default="runs/modes")
    ap.add_argument("--out", default=str(HERE / "results" / "modes.md"))
    args = ap.parse_args(argv)
    from gankit.evaluation.evaluator import finite_or_none
    recipes = [r for r in args.recipes.split(",") if r and r != "none"]
    datasets = [d for d in args.datasets.split(",") if d]
    runs = Path(args.runs)
    seeds = {r: args.recipe_seeds or args.seeds for r in recipes}
    jobs = [(recipe, ds, seed, args.kimg or 500.0, str(runs), args.best_kimg)
            for ds in datasets for recipe in [*recipes, DATASETS[ds]]
            for seed in range(seeds.get(recipe, args.seeds))]
    start = time.perf_counter()
    rows = []
    # One worker runs in this process (no pickling: the smoke test loads this file by path).
    with (ProcessPoolExecutor(args.workers) if args.workers > 1 else nullcontext()) as pool:
        for i, row in enumerate((pool.map if pool else map)(run_one, jobs), 1):
            rows.append(row)
            print(f"[{i}/{len(jobs)}] {row['dataset']} {row['recipe']} seed {row['seed']}: modes {row['modes']:g}/"
                  f"{row['of']}, hq {row['high_quality']:.3f}, KL {row['reverse_kl']}, {row['seconds']:.0f} s",
                  flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/modes/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    timing = None
    if args.merge and out.with_suffix(".json").is_file():
        old = json.loads(out.with_suffix(".json").read_text())
        ran = {(r["dataset"], r["recipe"]) for r in rows}
        kept = [r for r in old["rows"] if (r["dataset"], r["recipe"]) not in ran]
        rows = kept + rows
        recipes = list(dict.fromkeys([r["recipe"] for r in kept if r["recipe"] not in DATASETS.values()] + recipes))
        datasets = list(dict.fromkeys([r["dataset"] for r in rows]))
        command = f"{old['command']}, then {command}"
        timing = f"{old.get('timing') or _timing(old)}, then (rerun rows) {{}}"
    order = {r: i for i, r in enumerate([*recipes, *DATASETS.values()])}
    rows.sort(key=lambda r: (list(DATASETS).index(r["dataset"]), order[r["recipe"]], r["seed"]))
    for ds in datasets:
        picture(ds, [*recipes, DATASETS[ds]], runs, out.parent / f"{ds}.png")
    report = {"command": command, "timing": None,
              "machine": machine_info(), "gankit_source": source_state(), "workers": args.workers,
              "seconds": time.perf_counter() - start, "rows": rows, "table": summarise(rows)}
    if timing:
        report["timing"] = timing.format(_timing(report))
    write_report(finite_or_none(report), str(out), markdown)


if __name__ == "__main__":
    main()
