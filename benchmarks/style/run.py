"""Unpaired translation on Fashion-MNIST Sneaker <-> Ankle boot: CycleGAN vs the example-guided
(MUNIT-like) model vs the no-GAN baseline (the input itself).

    python benchmarks/style/run.py --minutes 10            # train both presets, then evaluate
    python benchmarks/style/run.py --eval-only             # evaluate runs/style/* again

Per direction, on the test split's Sneakers (1000) and Ankle boots (1000):
  success   share of translations the Fashion-MNIST domain classifier (gankit's, 10 classes, cached)
            assigns to the target class (argmax over all 10 classes, so "looks like a shoe" is not enough)
  FID       Frechet distance of the translations to the real target test images, in that
            classifier's 128-D feature space (gankit's domain FID; lower is better)
  cycle PSNR  mean per-image PSNR (dB, [0, 255] uint8 images as a user gets them) of the round trip
            x -> G_ab(x) -> G_ba(G_ab(x)) against x: how much content the translation keeps
  diversity (example-guided only) mean pairwise L1 distance, in [0, 1] pixel units, between the 5
            random-style translations of the same input (0 for a deterministic translator)
The example-guided model is scored in random styles (style code N(0, I) per image, seed 0) and,
as a second row, guided by example images of the target domain (test image i's style from target
test image i). The baseline "input itself" row has cycle PSNR infinite by construction.

Each model trains in a child process (`gankit train --preset NAME`), one thread each, both at once
with --parallel; wall time, the child's CPU time (os.wait4) and the load average are recorded:
on a loaded machine a wall-clock budget buys fewer steps, and the CPU time says what it bought.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
MODELS = {
    "cyclegan": ("cyclegan", ()),  # the published recipe: identity loss 0.5
    "cyclegan-no-identity": ("cyclegan", ("loss.identity_weight=0",)),
    "munit": ("munit", ()),
}
"""Benchmark model name -> (preset, --set overrides). The identity term (|G_ab(b) - b|, meant to
keep a painting's colours when it becomes a photo) asks G_ab to leave Ankle boots alone, which works
against turning a shoe's shape into the other's: without it CycleGAN passes 90 % both ways."""
CLASSES = {"a": 7, "b": 9}  # Fashion-MNIST Sneaker, Ankle boot
STYLES = 5


def train(models, minutes, kimg, out: Path, parallel: bool) -> dict:
    runs, info = {}, {}
    for name in models:
        budget = ["--kimg", str(kimg)] if kimg else ["--minutes", str(minutes)]
        preset, sets = MODELS[name]
        cmd = [sys.executable, "-m", "gankit", "train", "--preset", preset, *budget, "--out", str(out / name),
               "--overwrite", "--no-progress", "--set", "train.threads=1", *(a for v in sets for a in ("--set", v))]
        log = open(out / f"{name}.log", "w")
        start = time.time()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
        runs[name] = (proc, start, cmd, os.getloadavg())
        if not parallel:
            info[name] = _wait(name, *runs.pop(name), out)
    for name, args in runs.items():
        info[name] = _wait(name, *args, out)
    return info


def _wait(name, proc, start, cmd, load_before, out):
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.time() - start
    metrics = [json.loads(line) for line in (out / name / "metrics.jsonl").read_text().splitlines()]
    steps = [m for m in metrics if "loss_d" in m]
    last = steps[-1] if steps else {}
    if status:
        raise SystemExit(f"{name}: training failed (status {status}); see {out / (name + '.log')}")
    return {"command": " ".join(cmd[1:]), "wall_s": round(wall, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "train_seconds": last.get("seconds"), "steps": last.get("step"), "images": last.get("images"),
            "load_before": [round(v, 2) for v in load_before], "load_after": [round(v, 2) for v in os.getloadavg()]}


def _to_u8(x: torch.Tensor) -> torch.Tensor:
    from gankit.data import to_uint8
    return to_uint8(x.clamp(-1, 1))


def psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean per-image PSNR of uint8 image batches (N, C, H, W)."""
    mse = ((x.double() - y.double()) ** 2).flatten(1).mean(1)
    values = 10 * torch.log10(255.0 ** 2 / mse.clamp_min(1e-10))
    return float(values.mean())


def evaluate(out: Path, models) -> dict:
    from gankit.apps.translate import load_translator
    from gankit.config import DataConfig
    from gankit.data import load_dataset, to_float
    from gankit.evaluation.classifier import load_classifier
    from gankit.evaluation.metrics import fid
    torch.set_num_threads(1)
    test = load_dataset(DataConfig(name="fashion-mnist", split="test"))
    real = {d: test.x[test.y == k] for d, k in CLASSES.items()}
    clf, meta = load_classifier(DataConfig(name="fashion-mnist"))
    clf.eval()

    @torch.no_grad()
    def feats_and_class(u8):
        x = to_float(u8)
        return clf(x).numpy(), clf.logits(x).argmax(1)

    real_feats = {d: feats_and_class(x)[0] for d, x in real.items()}
    rows = []

    def score(model, direction, fakes_u8, cycled_u8=None, diversity=None, note=""):
        src, dst = direction[0], direction[-1]
        f, cls = feats_and_class(fakes_u8)
        rows.append({"model": model, "direction": direction, "note": note,
                     "success": float((cls == CLASSES[dst]).float().mean()),
                     "fid": fid(f, real_feats[dst]),
                     "cycle_psnr": psnr(cycled_u8, real[src]) if cycled_u8 is not None else float("inf"),
                     "diversity": diversity})

    for direction in ("a2b", "b2a"):
        score("input itself (no GAN)", direction, real[direction[0]], diversity=0.0)
    for model in models:
        run = out / model
        if not (run / "generator").is_dir():
            print(f"skipping {model}: no {run / 'generator'}", file=sys.stderr)
            continue
        for direction in ("a2b", "b2a"):
            back = "b2a" if direction == "a2b" else "a2b"
            T, R = load_translator(run, direction=direction), load_translator(run, direction=back)
            x = to_float(real[direction[0]])
            with torch.no_grad():
                if not T.guided:
                    y = _to_u8(T.run(x))
                    cyc = _to_u8(R.run(to_float(y)))
                    score(model, direction, y, cyc, diversity=0.0)
                    continue
                G, src, dst = T.G, direction[0], direction[-1]
                own = G.encode_style(x, src)  # the round trip returns to the input's own style
                styles = T.styles(len(x), seed=0)
                y = _to_u8(G.translate(x, direction, styles))
                cyc = _to_u8(G.decode(G.domain(dst).content(to_float(y)), own, src))
                outs = [G.translate(x, direction, T.styles(len(x), seed=s + 1)) for s in range(STYLES)]
                pairs = [(i, j) for i in range(STYLES) for j in range(i + 1, STYLES)]
                div = float(np.mean([((outs[i] - outs[j]).abs() / 2).mean().item() for i, j in pairs]))
                score(model, direction, y, cyc, diversity=div, note="random styles")
                examples = to_float(real[dst][:len(x)])
                y = _to_u8(G.translate(x, direction, G.encode_style(examples, dst)))
                cyc = _to_u8(G.decode(G.domain(dst).content(to_float(y)), own, src))
                score(model, direction, y, cyc, note="example styles")
    return {"rows": rows, "classifier": {"test_accuracy": meta["test_accuracy"], "dataset": meta["dataset"]},
            "real_target_success": {d: float((feats_and_class(x)[1] == CLASSES[d]).float().mean())
                                    for d, x in real.items()},
            "test_images": {d: len(x) for d, x in real.items()}}


def strips(out: Path, models, n: int = 8) -> list[str]:
    """benchmarks/style/strips_<model>.png: n test inputs per direction, input | translation | round trip
    (example-guided: input | 3 random styles | round trip), A's rows over B's."""
    from gankit.apps.translate import load_translator
    from gankit.config import DataConfig
    from gankit.data import load_dataset, to_float
    from gankit.io.images import make_grid, save_png
    test = load_dataset(DataConfig(name="fashion-mnist", split="test"))
    written = []
    for model in models:
        run = out / model
        if not (run / "generator").is_dir():
            continue
        T = load_translator(run)
        game_rows = []
        with torch.no_grad():
            for direction in ("a2b", "b2a"):
                x = to_float(test.x[test.y == CLASSES[direction[0]]][:n])
                G, src, dst = T.G, direction[0], direction[-1]
                if not T.guided:
                    y = G(x, direction)
                    back = G(y, "b2a" if direction == "a2b" else "a2b")
                    game_rows.append(torch.stack([x, y, back], 1))
                else:
                    ys = [G.translate(x, direction, T.styles(1, seed=s).expand(n, -1)) for s in range(3)]
                    back = G.decode(G.domain(dst).content(ys[0]), G.encode_style(x, src), src)
                    game_rows.append(torch.stack([x, *ys, back], 1))
        tiles = torch.cat(game_rows)
        cols = tiles.shape[1]
        grid = make_grid(_to_u8(tiles.flatten(0, 1)), nrow=cols)
        path = HERE / f"strips_{model}.png"
        save_png(grid, path, scale=3)
        written.append(path.name)
    return written


def table(results: dict, info: dict) -> str:
    lines = ["| model | direction | styles | success | FID | cycle PSNR (dB) | diversity |",
             "|---|---|---|---:|---:|---:|---:|"]
    names = {"a2b": "Sneaker → Ankle boot", "b2a": "Ankle boot → Sneaker"}
    for r in results["rows"]:
        div = "" if r["diversity"] is None else f"{r['diversity']:.3f}"
        cyc = "∞" if r["cycle_psnr"] == float("inf") else f"{r['cycle_psnr']:.1f}"
        lines.append(f"| {r['model']} | {names[r['direction']]} | {r['note'] or '–'} | {100 * r['success']:.1f} % | "
                     f"{r['fid']:.2f} | {cyc} | {div} |")
    lines += ["", "| run | steps | images shown to D | training s (wall, in-loop) | CPU s (child) | wall s | "
              "load before → after |", "|---|---:|---:|---:|---:|---:|---|"]
    for name, i in info.items():
        lines.append(f"| {name} | {i['steps']} | {i['images']} | {i['train_seconds']:.0f} | {i['cpu_s']:.0f} | "
                     f"{i['wall_s']:.0f} | {i['load_before']} → {i['load_after']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="training minutes per model (wall clock)")
    p.add_argument("--kimg", type=float, default=0.0, help="train on K thousand images instead of --minutes")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)}")
    p.add_argument("--out", default="runs/style", help="where the runs go")
    p.add_argument("--parallel", action="store_true", help="train the models at the same time")
    p.add_argument("--eval-only", action="store_true", help="evaluate existing runs in --out")
    args = p.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        p.error(f"--models: unknown {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info_path = HERE / "train_info.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    if not args.eval_only:  # models trained by earlier invocations keep their records
        info.update(train(models, args.minutes, args.kimg, out, args.parallel))
        info_path.write_text(json.dumps(info, indent=1))
    info = {m: info[m] for m in models if m in info}
    results = evaluate(out, models)
    results["strips"] = strips(out, models)
    results["train"] = info
    results["load_at_eval"] = [round(v, 2) for v in os.getloadavg()]
    (HERE / "results.json").write_text(json.dumps(results, indent=1, default=str))
    text = table(results, info)
    (HERE / "table.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
