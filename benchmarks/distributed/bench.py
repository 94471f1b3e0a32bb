#!/usr/bin/env python
"""Images/s of one process against two (torchrun, gloo) on this machine's CPU cores.

    python benchmarks/distributed/bench.py [--rounds 2] [--minutes 0.3] [--configs mlp-28,dcgan-28]
                                           [--out benchmarks/distributed/results.md]

For each config it runs `gankit train` (the command users run) for the same training-time
budget as
- 1 process x 1 thread,
- 1 process x 2 threads (the same two cores, used by intra-op threads instead),
- 2 processes x 1 thread (`python -m torch.distributed.run --nproc-per-node 2 -m gankit train`),
with the same global batch, in rounds whose order rotates, and reads img/s from each run's
metrics.jsonl (rank 0's windows: global images over its wall time; the first window is
skipped as warm-up); a round's figure is the median window, the result the median over rounds.
It also times the gradient all-reduce alone (flattened G or D gradients, the loop's
`average_gradients`) under gloo with 2 processes, so the table says what share of a
two-process step is communication. The load average is recorded around every run: on a shared
machine the absolute figures are noisy; compare them only within one result file.
Writes Markdown to --out and JSON beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
# name -> (preset, overrides, what it is)
CONFIGS = {
    "mlp-28": ("fashion-dcgan", ["model.arch=mlp", "model.width=512", "model.depth=3", "model.z_dim=100",
                                 "model.ema_half_life_kimg=0"],
               "the 2014 GAN MLP on Fashion-MNIST 1x28x28, batch 64 (global)"),
    "dcgan-28": ("fashion-dcgan", [], "the default preset as shipped (DCGAN width 32, EMA), Fashion-MNIST, "
                                      "batch 64 (global)"),
    "dcgan-28-b256": ("fashion-dcgan", ["train.batch_size=256"],
                      "the default preset at global batch 256 (128 per process under 2)"),
}
VARIANTS = (("1 proc x 1 thread", 1, 1), ("1 proc x 2 threads", 1, 2), ("2 procs x 1 thread", 2, 1))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_once(config: str, procs: int, threads: int, minutes: float, work: Path) -> dict:
    preset, sets, _ = CONFIGS[config]
    out = work / f"{config}-{procs}x{threads}"
    args = ["-m", "gankit", "train", "--preset", preset, "--minutes", str(minutes), "--out", str(out),
            "--overwrite", "--no-progress", "--set", "train.log_every=5", "--set", f"train.threads={threads}",
            "--set", "train.checkpoint_every_minutes=0", "--set", "train.sample_every_kimg=1000",
            *[a for s in sets for a in ("--set", s)]]
    if procs > 1:
        args = ["-m", "torch.distributed.run", "--nproc-per-node", str(procs), "--master-port",
                str(_free_port()), *args]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT / "src")}
    load0 = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"{config} {procs}x{threads} failed:\n{proc.stderr[-3000:]}")
    records = [r for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "img_per_s" in r]
    if not records:
        raise SystemExit(f"{config} {procs}x{threads}: no logging window in {minutes} minutes; raise --minutes")
    rates = [r["img_per_s"] for r in records[1:]]
    overall = records[-1]["images"] / max(records[-1]["seconds"], 1e-9)  # warm-up included
    return {"img_per_s": statistics.median(rates) if rates else overall, "windows": len(rates),
            "overall_img_per_s": overall, "wall_s": round(wall, 1), "load_before": load0,
            "load_after": os.getloadavg()[0]}


def allreduce_worker(sizes: dict[str, int], repeats: int, out: str) -> None:
    """Under torchrun: median ms of one all-reduce of each flattened gradient size (gloo)."""
    import torch.distributed as td
    td.init_process_group("gloo")
    result = {}
    for name, numel in sizes.items():
        flat = torch.randn(numel)
        for _ in range(3):
            td.all_reduce(flat)
        times = []
        for _ in range(repeats):
            td.barrier()
            t0 = time.perf_counter()
            td.all_reduce(flat)
            flat /= 2
            times.append(time.perf_counter() - t0)
        result[name] = statistics.median(times) * 1000
    if td.get_rank() == 0:
        Path(out).write_text(json.dumps(result))
    td.destroy_process_group()


def gradient_sizes(config: str) -> dict[str, int]:
    sys.path.insert(0, str(ROOT / "src"))
    from gankit import config as C
    from gankit.models import build
    preset, sets, _ = CONFIGS[config]
    cfg = C.resolve(preset=preset, overrides=sets)
    G, D = build(cfg.model, (cfg.data.channels, cfg.data.resolution, cfg.data.resolution))
    return {f"{config} G": sum(p.numel() for p in G.parameters()),
            f"{config} D": sum(p.numel() for p in D.parameters())}


def time_allreduce(configs: list[str], work: Path) -> dict[str, dict]:
    sizes = {k: v for c in configs for k, v in gradient_sizes(c).items()}
    out = work / "allreduce.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
           str(_free_port()), str(Path(__file__).resolve()), "--allreduce-worker", json.dumps(sizes), str(out)]
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True)
    ms = json.loads(out.read_text())
    return {k: {"params": sizes[k], "ms": ms[k]} for k in sizes}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--allreduce-worker":
        allreduce_worker(json.loads(sys.argv[2]), 50, sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=0.3, help="training minutes per run")
    ap.add_argument("--configs", default="mlp-28,dcgan-28,dcgan-28-b256")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results.md"))
    ap.add_argument("--report-only", action="store_true", help="rewrite --out from the JSON beside it")
    a = ap.parse_args()
    out = Path(a.out)
    if a.report_only:
        write_report(json.loads(out.with_suffix(".json").read_text()), out)
        return
    configs = a.configs.split(",")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    started, t0 = datetime.now(timezone.utc), time.perf_counter()
    runs: dict[str, dict[str, list]] = {c: {v[0]: [] for v in VARIANTS} for c in configs}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for r in range(a.rounds):
            for c in configs:
                order = VARIANTS[r % 3:] + VARIANTS[:r % 3]  # rotate so drift hits every variant alike
                for name, procs, threads in order:
                    res = run_once(c, procs, threads, a.minutes, work)
                    runs[c][name].append(res)
                    print(f"round {r + 1} {c} {name}: {res['img_per_s']:.0f} img/s "
                          f"(load {res['load_before']:.1f} -> {res['load_after']:.1f})", flush=True)
        allreduce = time_allreduce(configs, work)
    summary = {c: {v: statistics.median(x["img_per_s"] for x in runs[c][v]) for v in runs[c]} for c in configs}
    loads = [x[k] for c in runs.values() for v in c.values() for x in v for k in ("load_before", "load_after")]
    data = {"started": started.isoformat(timespec="minutes"), "commit": commit, "wall_s": round(time.perf_counter() - t0),
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "torch": torch.__version__,
            "minutes_per_run": a.minutes, "rounds": a.rounds, "summary": summary, "runs": runs,
            "allreduce_ms": allreduce, "load_min_max": [min(loads), max(loads)]}
    out.with_suffix(".json").write_text(json.dumps(data, indent=1))
    write_report(data, out)


def write_report(data: dict, out: Path) -> None:
    configs, summary, runs, allreduce = list(data["summary"]), data["summary"], data["runs"], data["allreduce_ms"]
    commit, loads = data["commit"], data["load_min_max"]
    lines = [
        "# One process vs two (torchrun, gloo) on this machine's CPU cores", "",
        f"`python benchmarks/distributed/bench.py --rounds {data['rounds']} --minutes {data['minutes_per_run']} "
        f"--configs {','.join(configs)}` — {data['started']} UTC, {data['wall_s']} s wall, gankit {commit}, "
        f"torch {data['torch']}, {data['cores']} cores.", "",
        f"- **Load average (1 min) around the runs: {min(loads):.1f} to {max(loads):.1f}** on {data['cores']} cores: "
        "the machine was shared with other work, so these are figures of a busy machine, not of an idle one; rerun "
        "the command above on a quiet machine for clean numbers. On a machine this oversubscribed the scheduler "
        "gives two single-thread processes about twice the CPU share of one, so part of the two-process gain is a "
        "larger share of a contended machine, not parallel speed-up; and two OpenMP threads of one process stall "
        "whenever either is descheduled, which is why 1 x 2 threads is slowest here.",
        f"- Each run: `gankit train --minutes {data['minutes_per_run']}` (training seconds, rank 0's), "
        "img/s = global "
        "images per second of rank 0's logging windows (median window, first skipped), median over rounds.",
        "- No GPU was available: there are no GPU figures here (see README.md in this folder for what changes "
        "on 8 GPUs).", "",
        "| config | " + " | ".join(v[0] + " img/s" for v in VARIANTS)
        + " | 2 procs / 1 proc x 1 thread | 2 procs / 1 proc x 2 threads |",
        "|---|" + "---|" * (len(VARIANTS) + 2)]
    for c in configs:
        s = summary[c]
        lines.append(f"| {c} | " + " | ".join(f"{s[v[0]]:.0f}" for v in VARIANTS)
                     + f" | {s['2 procs x 1 thread'] / s['1 proc x 1 thread']:.2f}"
                     + f" | {s['2 procs x 1 thread'] / s['1 proc x 2 threads']:.2f} |")
    lines += ["", "Gradient all-reduce alone (gloo, 2 processes on this machine, one flattened tensor as the "
              "loop sends it, median of 50):", "", "| gradients | parameters | ms per all-reduce |", "|---|---|---|"]
    for k, v in allreduce.items():
        lines.append(f"| {k} | {v['params']:,} | {v['ms']:.2f} |")
    lines += ["", "Configs:", ""] + [f"- {c}: {CONFIGS[c][2]}" for c in configs]
    lines += ["", "Every run (img/s, load average before -> after):", ""]
    for c in configs:
        for v in runs[c]:
            lines.append(f"- {c}, {v}: " + "; ".join(f"{x['img_per_s']:.0f} ({x['load_before']:.1f} -> "
                                                       f"{x['load_after']:.1f})" for x in runs[c][v]))
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
