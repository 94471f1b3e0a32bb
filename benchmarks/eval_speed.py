"""Evaluation speed: seconds to compute every metric for 10k samples, cold and warm.

    python benchmarks/eval_speed.py RUN_OR_GENERATOR [--num 10000] [--threads N]

The domain classifier must be cached already (`gankit features fit --data fashion-mnist`;
its one-off fit is timed by that command, ~2 min). The harness copies it into a
fresh cache, so the first evaluation is *cold* (real-data features and floors computed
and cached) and the following ones are *warm* (only sampling, extraction and the
metrics). Each warm figure is the median of `--repeats` runs; then each metric alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flops import machine_info, source_state, write_report  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("generator", help="a run or generator folder (Fashion-MNIST)")
    ap.add_argument("--num", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/eval_speed.md")
    args = ap.parse_args(argv)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    from gankit.evaluation import IMAGE_METRICS, evaluate
    from gankit.evaluation.classifier import classifier_dir
    from gankit.evaluation.features import features_dir
    from gankit.io.generator import load_generator

    G = load_generator(args.generator)
    source = classifier_dir(G.config.data)
    if not (source / "meta.json").is_file():
        raise SystemExit(f"no cached classifier at {source}: run `gankit features fit --data {G.config.data.name}`")
    old_cache = os.environ.get("GANKIT_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["GANKIT_CACHE"] = tmp
        shutil.copytree(source, classifier_dir(G.config.data))
        assert not (features_dir() / "real").exists()

        def timed(metrics=None) -> float:
            start = time.perf_counter()
            evaluate(G, metrics=metrics, num=args.num)
            return time.perf_counter() - start

        cold = timed()
        warm = [timed() for _ in range(args.repeats)]
        alone = {m: statistics.median(timed([m]) for _ in range(args.repeats)) for m in IMAGE_METRICS}
    if old_cache is None:
        os.environ.pop("GANKIT_CACHE", None)
    else:
        os.environ["GANKIT_CACHE"] = old_cache
    report = {"command": "python benchmarks/eval_speed.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "machine": machine_info(), "gankit_source": source_state(), "num": args.num,
              "generator": str(args.generator), "cold_s": cold, "warm_s": statistics.median(warm),
              "warm_runs_s": warm, "alone_s": alone}
    write_report(report, args.out, markdown)


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = ["# Evaluation speed", "", f"Command: `{r['command']}`  ",
             f"gankit {r['gankit_source']}; {m['cpu']}, {m['usable_cores']} cores, torch {m['torch']} with "
             f"{m['torch_threads']} threads; load average {m['load_average_1_5_15']}.", "",
             f"All eight metrics (fid, kid, precision, recall, density, coverage, is, classes) on "
             f"{r['num']:,} samples of `{r['generator']}`, the domain classifier already fitted:", "",
             "| | seconds |", "|---|---|",
             f"| cold (real features and floors computed, then cached) | {r['cold_s']:.1f} |",
             f"| warm (median of {len(r['warm_runs_s'])}) | {r['warm_s']:.1f} |", "",
             "Each metric alone, warm (sampling and feature extraction included in each):", "",
             "| metric | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in r["alone_s"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
