"""The image-to-image benchmark: classical baseline vs L1-only U-Net vs U-Net GAN, per task.

    python benchmarks/image2image/run.py                    # everything: ~16 trainings of --minutes each
    python benchmarks/image2image/run.py --minutes 6 --jobs 2    # what results/ holds: two trainings at a time
    python benchmarks/image2image/run.py --only fashion:denoise --minutes 0.2 --num 200   # a smoke run

Fashion-MNIST (28 px grey, test split: the first --num images, degradations fixed by
data.degrade_seed): superres x4, inpaint (centre box of half the side), denoise (sigma 25),
derain, dehaze. Photos (`gankit.data.photos`, 32 px RGB patches for training; the three
held-out photographs whole for testing): superres x4, derain, dehaze.

Rows per task: the classical baseline (bicubic for superres; the degraded input; the dark
channel prior for dehaze; biharmonic inpainting; see classical.py), the L1-only U-Net
(loss.adversarial_weight = 0) and the U-Net GAN (pix2pix: non-saturating loss + 100 L1, Adam
2e-4, beta1 0.5), both the same residual U-Net (width --width) trained for --minutes of training
time each, one thread, batch 32. Columns: PSNR and SSIM (scikit-image, Wang et al. settings,
per-image means), FID of the outputs vs the clean targets in gankit's domain feature space
(the cached Fashion-MNIST classifier; the photos have no labelled feature space, so no FID
there), training minutes. Every timing was taken on a shared machine: the load average is
recorded beside each run.

Writes results/image2image.md and .json, and results/strip_<dataset>_<task>.png (.jpg for the
photos; rows: test images; columns: input | baselines | L1 | GAN | target).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from classical import biharmonic, dark_channel_prior  # noqa: E402
from flops import machine_info, source_state  # noqa: E402

from gankit import config as C  # noqa: E402
from gankit.apps.translate import load_translator  # noqa: E402
from gankit.data import to_float, to_uint8  # noqa: E402
from gankit.data.degrade import upsample  # noqa: E402
from gankit.data.photos import held_out  # noqa: E402
from gankit.evaluation.restoration import psnr, score, ssim, test_pairs, translate_batches  # noqa: E402
from gankit.training.loop import train  # noqa: E402

FASHION_TASKS = ("superres", "inpaint", "denoise", "derain", "dehaze")
PHOTO_TASKS = ("superres", "derain", "dehaze")
STRIP_ROWS = 6


def config(dataset: str, task: str, kind: str, args, out: Path) -> C.Config:
    data = {"name": "fashion-mnist", "resolution": 28, "channels": 1} if dataset == "fashion" else \
        {"name": "photos", "resolution": 32, "channels": 3}
    values = {
        "out": str(out), "data": {**data, "task": task, "scale": 4},
        "model": {"arch": "unet", "width": args.width},
        "loss": {"adversarial_weight": 0.0 if kind == "l1" else 1.0},
        "train": {"batch_size": 32, "minutes": args.minutes, "threads": 1, "log_every": 20, "seed": 0,
                  "sample_every_kimg": 5.0},
    }
    return C.resolve(overrides=[values])


def baselines(task: str, inputs: torch.Tensor, scale: int) -> dict[str, torch.Tensor]:
    """name -> uint8 (N, C, H, W) outputs of the classical methods for float inputs."""
    if task == "superres":
        return {"bicubic": to_uint8(upsample(inputs, scale))}
    if task == "inpaint":
        c = inputs.shape[1] - 1
        out = []
        for x in inputs:
            img = ((x[:c] + 1) / 2).permute(1, 2, 0).numpy().astype(np.float64)
            out.append(biharmonic(img, x[c].numpy() > 0))
        return {"biharmonic inpainting": _from01(out), "degraded input (holes grey)": to_uint8(inputs[:, :c])}
    rows = {"degraded input": to_uint8(inputs)}
    if task == "dehaze":
        out = [dark_channel_prior(((x + 1) / 2).permute(1, 2, 0).numpy().astype(np.float64)) for x in inputs]
        rows["dark channel prior"] = _from01(out)
    return rows


def _from01(arrays) -> torch.Tensor:
    return torch.from_numpy(np.round(np.stack(arrays) * 255).clip(0, 255).astype(np.uint8)).permute(0, 3, 1, 2)


def _train(dataset, task, kind, args) -> tuple[Path, dict]:
    out = Path(args.runs) / f"{dataset}-{task}-{kind}"
    cfg = config(dataset, task, kind, args, out)
    load_before = os.getloadavg()
    if args.reuse and (out / "generator" / "config.json").is_file():
        print(f"reusing {out}")
    else:
        train(cfg, overwrite=True, progress=args.progress)
    meta = json.loads((out / "generator" / "config.json").read_text())
    return out, {"train_minutes": round(meta["train_seconds"] / 60, 2), "images_seen": meta["images_seen"],
                 "load_average_before": [round(v, 2) for v in load_before],
                 "load_average_after": [round(v, 2) for v in os.getloadavg()]}


def fashion_task(task: str, args) -> tuple[list[dict], np.ndarray]:
    rows, shown = [], {}
    runs = {kind: _train("fashion", task, kind, args) for kind in ("l1", "gan")}
    cfg = C.resolve(file=runs["gan"][0] / "config.toml")
    inputs, targets = test_pairs(cfg.data, args.num)
    metrics = ("psnr", "ssim", "fid")
    for name, outputs in baselines(task, inputs, cfg.data.scale).items():
        rows.append({"method": name, **score(outputs, targets, metrics, cfg.data), "train_minutes": None})
        shown[name] = outputs
    for kind, label in (("l1", "U-Net, L1 only"), ("gan", "U-Net GAN (pix2pix)")):
        run_dir, info = runs[kind]
        G = load_translator(run_dir).G
        outputs = translate_batches(G, inputs)
        rows.append({"method": label, **score(outputs, targets, metrics, cfg.data), **info, "run": str(run_dir)})
        shown[label] = outputs
    c = targets.shape[1]
    first = to_uint8(inputs[:STRIP_ROWS, :c])
    if task == "superres":
        first = torch.nn.functional.interpolate(first.float(), scale_factor=cfg.data.scale).to(torch.uint8)
    columns = [first] + [v[:STRIP_ROWS] for v in shown.values()] + [targets[:STRIP_ROWS]]
    return rows, _strip_grid(columns, ["input"] + list(shown) + ["target"])


def photo_task(task: str, args) -> tuple[list[dict], np.ndarray]:
    runs = {kind: _train("photos", task, kind, args) for kind in ("l1", "gan")}
    translators = {kind: load_translator(runs[kind][0]) for kind in runs}
    t = translators["gan"]
    results: dict[str, list] = {}
    strips = []
    for i, (name, photo) in enumerate(held_out()):
        _, h, w = photo.shape
        m = 8 * t.scale  # a whole photo, cropped to a multiple of the scale (and of 8, for tidy tiles)
        clean = photo[:, :h // m * m, :w // m * m].transpose(1, 2, 0).copy()
        x_in, _ = t.degrade(clean, index=i)
        target = torch.from_numpy(clean).permute(2, 0, 1)[None]
        inputs = to_float(torch.from_numpy(x_in).permute(2, 0, 1)[None])
        outs = baselines(task, inputs, t.scale)
        for kind, label in (("l1", "U-Net, L1 only"), ("gan", "U-Net GAN (pix2pix)")):
            outs[label] = torch.from_numpy(translators[kind](x_in)).permute(2, 0, 1)[None]
        for label, o in outs.items():
            results.setdefault(label, []).append((float(np.minimum(psnr(o, target), 100)[0]), float(ssim(o, target)[0])))
        shown_in = torch.from_numpy(x_in).permute(2, 0, 1)[None]
        if t.scale > 1:
            shown_in = torch.nn.functional.interpolate(shown_in.float(), scale_factor=t.scale).to(torch.uint8)
        strips.append([shown_in] + list(outs.values()) + [target])
        labels = ["input"] + list(outs) + ["target"]
    rows = []
    for label, values in results.items():
        row = {"method": label, "psnr": float(np.mean([v[0] for v in values])),
               "ssim": float(np.mean([v[1] for v in values])), "fid": None, "train_minutes": None}
        for kind, name in (("l1", "U-Net, L1 only"), ("gan", "U-Net GAN (pix2pix)")):
            if label == name:
                row.update(runs[kind][1], run=str(runs[kind][0]))
        rows.append(row)
    # One strip row per photo, each photo shrunk to a common height so the picture stays small.
    picture_rows = []
    for parts in strips:
        arrays = [p[0].permute(1, 2, 0).numpy() for p in parts]
        height = 160
        resized = [np.array(Image.fromarray(a).resize((round(a.shape[1] * height / a.shape[0]), height),
                                                      Image.Resampling.LANCZOS)) for a in arrays]
        picture_rows.append(_hstack(resized))
    width = max(r.shape[1] for r in picture_rows)
    picture = np.concatenate([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255)
                              for r in picture_rows])
    print(f"photos {task} strip columns: {', '.join(labels)}")
    return rows, picture


def _hstack(arrays, gap: int = 4) -> np.ndarray:
    h = arrays[0].shape[0]
    c = arrays[0].shape[2]
    pad = np.full((h, gap, c), 255, np.uint8)
    out = []
    for a in arrays:
        out += [a, pad]
    return np.concatenate(out[:-1], 1)


def _strip_grid(columns: list[torch.Tensor], labels: list[str], scale: int = 3) -> np.ndarray:
    rows = []
    for i in range(len(columns[0])):
        parts = [col[i].permute(1, 2, 0).numpy() for col in columns]
        parts = [np.repeat(np.repeat(p, scale, 0), scale, 1) for p in parts]
        rows.append(_hstack(parts))
    print(f"strip columns: {', '.join(labels)}")
    gap = np.full((4, rows[0].shape[1], rows[0].shape[2]), 255, np.uint8)
    return np.concatenate([x for r in rows for x in (r, gap)][:-1])


def _strip_name(key: str) -> str:
    """Fashion-MNIST strips as PNG (small, exact pixels); the photo strips as JPEG (a PNG is ~0.9 MB)."""
    return f"strip_{key.replace(':', '_')}.{'png' if key.startswith('fashion') else 'jpg'}"


def _fmt(v, digits=2):
    return "—" if v is None or (isinstance(v, float) and v != v) else f"{v:.{digits}f}"


def markdown(report: dict) -> str:
    lines = ["# Image-to-image benchmark", "",
             f"Command: `{report['command']}`  ", f"Source: {report['source']}; {report['minutes']} training minutes "
             f"per U-Net, width {report['width']}, one thread each, {report.get('jobs', 1)} at a time; Fashion-MNIST: "
             f"first {report['num']} test images.  ",
             f"Machine: {report['machine']['cpu']}, {report['machine']['usable_cores']} cores shared with other "
             f"work (load average before/after each training in the JSON).", ""]
    for key, rows in report["tasks"].items():
        if report.get("commands", {}).get(key, report["command"]) != report["command"]:
            lines += [f"## {key}", "", f"(rerun alone: `{report['commands'][key]}`)", ""]
        else:
            lines += [f"## {key}", ""]
        lines += ["| method | PSNR (dB) | SSIM | FID | training minutes | load avg (1 min) |",
                  "|---|---:|---:|---:|---:|---:|"]
        for r in rows:
            load = r.get("load_average_before")
            lines.append(f"| {r['method']} | {_fmt(r['psnr'])} | {_fmt(r['ssim'], 3)} | {_fmt(r.get('fid'), 1)} | "
                         f"{_fmt(r.get('train_minutes'))} | {_fmt(load[0], 1) if load else '—'} |")
        lines += ["", f"![{key}]({_strip_name(key)})", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=2.0, help="training minutes per U-Net (default 2)")
    p.add_argument("--width", type=int, default=16, help="U-Net / PatchGAN width (default 16)")
    p.add_argument("--num", type=int, default=2000, help="Fashion-MNIST test images scored (default 2000)")
    p.add_argument("--only", nargs="*", default=None, help="dataset:task pairs, e.g. fashion:denoise photos:dehaze")
    p.add_argument("--runs", default=str(ROOT / "runs" / "image2image"), help="where the training runs go")
    p.add_argument("--out", default=str(HERE / "results"), help="where tables and strips go")
    p.add_argument("--reuse", action="store_true", help="score existing runs instead of training them again")
    p.add_argument("--progress", action="store_true", help="show training progress bars")
    p.add_argument("--jobs", type=int, default=1,
                   help="tasks trained at once, one process and one thread each (2 on a 2-core machine)")
    args = p.parse_args()
    if args.jobs < 1:
        p.error(f"--jobs must be >= 1, got {args.jobs}")
    torch.set_num_threads(1)
    jobs = [("fashion", t) for t in FASHION_TASKS] + [("photos", t) for t in PHOTO_TASKS]
    if args.only:
        jobs = [j for j in jobs if f"{j[0]}:{j[1]}" in args.only]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "image2image.json"
    report = json.loads(path.read_text()) if args.only and path.is_file() else {"tasks": {}}
    command = "python benchmarks/image2image/run.py " + " ".join(sys.argv[1:])
    report.update(command=command, minutes=args.minutes, width=args.width, num=args.num, jobs=args.jobs,
                  source=source_state(),
                  machine=machine_info())
    pool = ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("fork")) if args.jobs > 1 else None
    futures = {job: pool.submit(run_job, *job, args) for job in jobs} if pool else {}
    for dataset, task in jobs:  # reported in task order, each as soon as it and those before it are done
        rows, picture, seconds = futures[dataset, task].result() if pool else run_job(dataset, task, args)
        key = f"{dataset}:{task}"
        report["tasks"][key] = rows
        report.setdefault("commands", {})[key] = command  # a task rerun with --only says so
        Image.fromarray(picture.squeeze(-1) if picture.shape[-1] == 1 else picture).save(
            out / _strip_name(key), quality=90)
        print(f"{key}: done in {seconds:.0f} s")
        for r in rows:
            print(f"  {r['method']:32s} psnr {_fmt(r['psnr'])} ssim {_fmt(r['ssim'], 3)} fid {_fmt(r.get('fid'), 1)}")
        path.write_text(json.dumps(report, indent=1) + "\n")
        (out / "image2image.md").write_text(markdown(report))
    if pool:
        pool.shutdown()


def run_job(dataset: str, task: str, args) -> tuple[list[dict], np.ndarray, float]:
    """One task's trainings and scores (in a worker process with --jobs): (rows, strip picture, seconds)."""
    torch.set_num_threads(1)
    started = time.time()
    rows, picture = (fashion_task if dataset == "fashion" else photo_task)(task, args)
    return rows, picture, time.time() - started


if __name__ == "__main__":
    main()
