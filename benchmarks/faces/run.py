"""Faces from a hundred photos: `faces-100` with and without DiffAugment/ADA, and did it copy?

    python benchmarks/faces/run.py                  # 3 runs to 150 then 300 kimg, in parallel on 2 cores
    python benchmarks/faces/run.py --kimg 2,4       # a smoke run
    (a rerun with the same --runs reuses the runs already trained to a budget, and resumes them)

Data: `lfw-faces`, the 100 LFW faces in scikit-image, 80 for training and 20 held out.
Each recipe trains on `--kimg` thousand images, evaluated at each budget (a fixed amount of work
rather than of minutes, so that a busy shared machine changes the time taken but not the result),
all at once, each pinned to a core with one thread:

- the ADA variant: colour + translation + cutout + flip at a strength ADA adapts to D's
  overfitting (p from 0.5, target E[sign D(x)] = 0.6; the first version of the preset);
- `faces-100` as shipped: DiffAugment as its paper runs it on 100 images, colour + translation +
  cutout always applied (p = 1), R1 0.1, EMA of G;
- the same without augmentation (augment.policy = "").

Then, as the 100-shot papers report (DiffAugment: "fid5k-train"), FID and KID of 5,000 samples
against the 100 faces, and the data-copying test (`gankit evaluate --metrics copying`: samples'
nearest-training-face distances against the 20 held-out faces'). gankit has no Inception weights
here (nothing is downloaded), and lfw-faces has one class, so there is no domain classifier: every
number is in pixel space (`gankit.evaluation.pixels`) and is comparable only within this table,
not with the papers' Inception FIDs. Two reference rows put the numbers in scale: "copy the
training set" (a generator that returns the 80 training faces: what memorisation scores) and
"the 20 held-out faces" (real new faces; their FID/KID is against a set that contains them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from flops import load_average, machine_info, run_commands, source_state  # noqa: E402

RECIPES = {  # name -> (--set overrides of the preset, picture stem); the preset is the second
    "faces-100 with ADA instead (adaptive p from 0.5, target 0.6) and flips": (
        ["augment.policy=color,translation,cutout,flip", "augment.p=0.5", "augment.adaptive=true",
         "augment.ada_target=0.6", "augment.ada_kimg=100"], "ada-flip"),
    "faces-100 (DiffAugment at p = 1, R1, EMA)": ([], "faces-100"),
    "faces-100 without augmentation": (["augment.policy="], "no-augmentation"),
}
PRESET = 1
ANCHOR = ("DiffAugment (Zhao et al. 2020), 100-shot, StyleGAN2 at 256x256, Inception fid5k-train: "
          "Obama 80.20 -> 46.87, Grumpy cat 48.90 -> 27.08, Panda 34.27 -> 12.06 without -> with "
          "DiffAugment (mit-han-lab/data-efficient-gans, DiffAugment-stylegan2/README.md)")
NUM = 5000


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kimg", default="150,300",
                    help="training budgets in thousands of images, comma-separated: each run is evaluated at "
                         "each one, resumed from the previous (default 150,300)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--num", type=int, default=NUM, help=f"samples per evaluation (default {NUM})")
    ap.add_argument("--runs", default="runs/faces-bench", help="where the runs go (default runs/faces-bench)")
    ap.add_argument("--out", default=str(HERE), help="where the table and pictures go (default benchmarks/faces)")
    args = ap.parse_args(argv)
    budgets = sorted(float(k) for k in args.kimg.split(","))
    runs, out = Path(args.runs), Path(args.out)
    runs.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    import torch
    torch.set_num_threads(1)
    stages = []
    for n, kimg in enumerate(budgets):
        t0, load_before = time.perf_counter(), load_average()
        jobs = []
        for i, (name, (extra, _)) in enumerate(RECIPES.items()):
            run = runs / f"r{i}"
            seen = _images_seen(run)
            if seen is not None and kimg * 1000 <= seen < kimg * 1000 + 1000:
                continue  # already trained to this budget (a rerun of the same command): reuse it
            if seen is None or n == 0 or seen > kimg * 1000:
                cmd = [sys.executable, "-m", "gankit", "train", "--preset", "faces-100", "--kimg", str(kimg),
                       "--out", str(run), "--overwrite", "--no-progress", "--set", "train.threads=1",
                       "--set", f"train.seed={args.seed}", *[a for x in extra for a in ("--set", x)]]
            else:
                cmd = [sys.executable, "-m", "gankit", "train", "--resume", str(run), "--kimg", str(kimg),
                       "--no-progress"]
            jobs.append((name, cmd, runs / f"r{i}-{kimg:g}kimg.log"))
        run_commands(jobs)
        rows = [evaluate_run(name, runs / f"r{i}", args.num, out, f"{RECIPES[name][1]}-{kimg:g}kimg", i == PRESET)
                for i, name in enumerate(RECIPES)]
        stages.append({"kimg": kimg, "trained": [j[0] for j in jobs], "wall_seconds": round(time.perf_counter() - t0, 1),
                       "load_average_before": load_before, "load_average_after": load_average(), "rows": rows})
    report = {"command": "python benchmarks/faces/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "machine": machine_info(), "gankit_source": source_state(), "num": args.num, "seed": args.seed,
              "seconds": round(time.perf_counter() - start, 1), "anchor": ANCHOR, "stages": stages,
              "references": reference_rows(args.num)}
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "results.md").write_text(markdown(report))
    print(markdown(report))


def _images_seen(run: Path) -> int | None:
    from gankit.io.generator import read_generator_meta
    try:
        return int(read_generator_meta(run / "generator")["images_seen"])
    except Exception:  # no run there yet, or an unfinished one: train it afresh
        return None


def _faces():
    from gankit.config import DataConfig
    from gankit.data import load_dataset
    train = load_dataset(DataConfig(name="lfw-faces", split="train")).x
    test = load_dataset(DataConfig(name="lfw-faces", split="test")).x
    return train, test


def _scores(samples_u8, train_u8, test_u8) -> dict:
    """Pixel-space FID and KID against all 100 faces, and the data-copying test (80 train / 20 held out)."""
    import torch

    from gankit.data import to_float
    from gankit.evaluation import copying, metrics as M

    def f(x):
        return to_float(x).flatten(1).double().numpy()
    gen, tr, te = f(samples_u8), f(train_u8), f(test_u8)
    hundred = f(torch.cat([train_u8, test_u8]))
    kid, kid_std = M.kid(gen, hundred)
    test = copying.copying_test(gen, te, tr)
    return {"fid": M.fid(gen, hundred), "kid": kid, "kid_std": kid_std, "c_t": test["c_t"], "z_u": test["z_u"],
            "share_closer": test["share_closer"], "spread": test["spread"], "copying": test["copying"],
            "cells": test["cells"],
            "cells_used": test["cells_used"]}


def evaluate_run(name: str, run: Path, num: int, out: Path, stem: str, is_preset: bool) -> dict:
    from gankit.config import DataConfig
    from gankit.evaluation import evaluate
    from gankit.evaluation.copying import write_picture
    from gankit.io.generator import load_generator, read_generator_meta
    from gankit.io.images import save_grid
    G = load_generator(run / "generator")
    train, test = _faces()
    samples = torch_uint8(G, num)
    row = {"recipe": name, **_scores(samples, train, test)}
    meta = read_generator_meta(run / "generator")
    row.update(kimg=meta["images_seen"] / 1000, train_minutes=meta["train_seconds"] / 60)
    # The same test through gankit evaluate (its picture, and its own 80-face reference FID/KID).
    res = evaluate(G, metrics="fid,kid,copying", num=num, data_cfg=DataConfig(name="lfw-faces"))
    row["evaluate"] = {k: {kk: vv for kk, vv in v.items() if kk not in ("closest", "closest_heldout",
                                                                           "cell_z_u", "cell_heldout_share")}
                       for k, v in res["metrics"].items()}
    save_grid(samples[:64], out / f"{stem}.png", nrow=8, scale=3)
    row["grid"] = f"{stem}.png"
    if is_preset:
        kimg = stem.rsplit("-", 1)[1]
        write_picture(G, DataConfig(name="lfw-faces"), res["metrics"]["copying"], 0, out / f"copying-{kimg}.png")
    print(row, flush=True)
    return row


def torch_uint8(G, num: int):
    import torch

    from gankit.data import to_uint8
    with torch.no_grad():
        return torch.cat([to_uint8(G.sample(min(1000, num - i), seed=0, start=i)) for i in range(0, num, 1000)])


def reference_rows(num: int) -> list[dict]:
    """What memorisation and real new faces score on the same scales."""
    import torch
    train, test = _faces()
    copies = train[torch.arange(num) % len(train)]
    rows = [{"recipe": "reference: copy the 80 training faces", **_scores(copies, train, test)}]
    rows.append({"recipe": "reference: the 20 held-out faces (real, never trained on)",
                 **_scores(test, train, test)})
    return rows


def _f(x, digits=2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _row(r: dict, minutes: str) -> str:
    return (f"| {r['recipe']} | {minutes} | {_f(r['fid'], 1)} | {1000 * r['kid']:.2f} ± {1000 * r['kid_std']:.2f} | "
            f"{_f(r['c_t'])} | {_f(r['z_u'])} | {100 * r['share_closer']:.1f} % | {'yes' if r['copying'] else 'no'} |")


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Faces from a hundred photos: augmentation and data copying", "",
        f"Command: `{report['command']}`  ",
        f"gankit {report['gankit_source']}; {m['cpu']}, torch {m['torch']}; the recipes trained all at once "
        f"on {m['usable_cores']} cores of a shared machine, 1 thread each (seed {report['seed']}); "
        f"{report['seconds'] / 60:.1f} min in all. Budgets are images, not minutes, so the load changes the time "
        "taken, not the result; the minutes column is each run's own training time.", "",
        *([f"Note: {report['note']}", ""] if report.get("note") else []),
        f"Data: lfw-faces (scikit-image's 100 LFW faces, 28x28 grey), 80 train / 20 held out. "
        f"{report['num']:,} samples per row (latent seed 0). FID and KID against all 100 faces, as the 100-shot "
        "papers report (their FID is against the training set); **pixel space**, not Inception: comparable "
        "within this table only. Data copying: Meehan et al.'s C_T over k-means cells of the 80 training "
        "faces, Z_U over all 80, the share of samples closer to a training face than 95 % of the held-out "
        "faces are (~5 % for a generator that does not copy); copying = C_T < -3 and that share > 25 %.", ""]
    head = ["| recipe | training minutes | FID (pixels) | KID x 10^3 | C_T | Z_U | closer than 95 % of held-out "
            "| copying? |", "|---|---|---|---|---|---|---|---|"]
    for st in report["stages"]:
        lines += [f"**{st['kimg']:g} kimg** ({st['wall_seconds'] / 60:.1f} min wall for this stage; load average "
                  f"{st['load_average_before']} before, {st['load_average_after']} after)", "", *head]
        lines += [_row(r, _f(r.get("train_minutes"), 1)) for r in st["rows"]]
        lines.append("")
    lines += ["**References** (no training)", "", *head]
    lines += [_row(r, "-") for r in report["references"]]
    lines += ["", f"Anchor: {report['anchor']}. Their ratio (about 1.7-2.8x lower FID with DiffAugment) is the "
              "effect sought here; the values are not comparable (Inception features, 256x256 colour, "
              "StyleGAN2 trained for hours on GPUs).", "",
              "Pictures, per budget K: `faces-100-Kkimg.png`, `diffaugment-p1-Kkimg.png` and "
              "`no-augmentation-Kkimg.png` (64 samples each, latent seed 0), `copying-Kkimg.png` (the faces-100 "
              "samples closest to a training face, their nearest training faces, and the held-out faces closest "
              "to a training face for scale).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
