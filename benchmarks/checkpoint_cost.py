"""Checkpoint cost: what the default cadence (a checkpoint every training minute) costs.

    python benchmarks/checkpoint_cost.py [--preset fashion-dcgan] [--repeats 20] [--threads 1]

Trains the preset for a few steps so that every part of the state is real (G, D, the EMA
of G, both Adam states with their moments, regularizer state, counters, RNGs, config),
then times `save_checkpoint` of that state as the training loop calls it (into a run
folder keeping 2 checkpoints, so each save also prunes one, with every fsync). The
cost of the default cadence is the median save time over 60 s of training time.

The data is a synthetic IDX set of Fashion-MNIST's shape (28x28, 1 channel) written
into a temporary folder: the state's size depends only on the models, not on the
images, and the benchmark then needs no dataset on the machine.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flops import machine_info, source_state, write_report  # noqa: E402


def _fake_idx(folder: Path, n: int = 512) -> None:
    import numpy as np
    images = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    with gzip.open(folder / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes())
    with gzip.open(folder / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(n))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="fashion-dcgan")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/results/checkpoint_cost.md")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    from gankit import config as C
    from gankit.io.checkpoint import complete_checkpoints, load_checkpoint, save_checkpoint
    from gankit.training.loop import train

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "data").mkdir()
        _fake_idx(tmp / "data")
        cfg = C.resolve(preset=args.preset, overrides=[
            {"out": str(tmp / "run"), "data": {"path": str(tmp / "data")},
             "train": {"minutes": 0.0, "epochs": 0.0, "kimg": 0.64, "threads": args.threads}}])
        run = train(cfg, progress=False)
        ckpt = complete_checkpoints(run)[-1]
        weights, state, config_text = load_checkpoint(ckpt)
        size = sum(p.stat().st_size for p in ckpt.iterdir())
        every_s = C.TrainConfig().checkpoint_every_minutes * 60
        seconds = []
        for i in range(args.repeats):
            start = time.perf_counter()
            save_checkpoint(tmp / "bench", 1000 + i, weights, state, config_text, keep=cfg.train.keep_checkpoints)
            seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    report = {"command": " ".join(["python benchmarks/checkpoint_cost.py", *(sys.argv[1:] if argv is None else argv)]),
              "machine": machine_info(), "gankit_source": source_state(), "preset": args.preset,
              "checkpoint_bytes": size, "parts": sorted(weights) + ["state.pt"], "save_s": seconds,
              "median_save_s": median, "max_save_s": max(seconds), "every_s": every_s,
              "cost_percent": 100 * median / every_s, "worst_cost_percent": 100 * max(seconds) / every_s}
    write_report(report, args.out, markdown)


def markdown(r: dict) -> str:
    m = r["machine"]
    return "\n".join([
        "# Checkpoint cost", "", f"Command: `{r['command']}`  ",
        f"gankit {r['gankit_source']}; {m['cpu']}, {m['usable_cores']} cores, torch {m['torch']} with "
        f"{m['torch_threads']} threads; load average {m['load_average_1_5_15']}.", "",
        f"Full training state of the `{r['preset']}` preset ({', '.join(r['parts'])}): "
        f"{r['checkpoint_bytes'] / 1e6:.2f} MB per checkpoint, {len(r['save_s'])} saves (each with its "
        f"fsyncs and the pruning of the oldest).", "",
        "| | seconds | share of one checkpoint period |", "|---|---|---|",
        f"| median save | {r['median_save_s']:.4f} | {r['cost_percent']:.3f} % of {r['every_s']:.0f} s |",
        f"| slowest save | {r['max_save_s']:.4f} | {r['worst_cost_percent']:.3f} % |", "",
        f"The default `train.checkpoint_every_minutes = {r['every_s'] / 60:g}` writes one checkpoint per "
        f"{r['every_s']:.0f} s of training time, so it costs the median save over that period "
        f"(target: at most 1 %).", ""])


if __name__ == "__main__":
    main()
