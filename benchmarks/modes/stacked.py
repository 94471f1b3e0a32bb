"""The 1000-mode test on stacked Fashion-MNIST: does a GAN cover all class triples?

    python benchmarks/modes/stacked.py                 # 2 recipes x 5 min, in parallel: ~7 min wall
    python benchmarks/modes/stacked.py --minutes 1     # a smoke run

Data: `stacked-fashion-mnist` (three Fashion-MNIST images as the R, G, B channels;
1000 equally likely class triples). Each recipe trains for `--minutes` of training
time, pinned to its own core with one thread; then 26,000 samples (PacGAN's count)
are read channel by channel with the Fashion-MNIST domain classifier and scored:
modes covered (triples seen at least once) and KL(sample modes || uniform). The
floor is the same on 26,000 real test stacks.

Recipes: gankit's default DCGAN recipe (`fashion-dcgan`: width 32, EMA) and the same
with PacGAN packing of 2 (D judges pairs), the PacDCGAN of the paper.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from flops import machine_info, run_commands, source_state, write_report  # noqa: E402

RECIPES = {"dcgan (fashion-dcgan)": [], "pacdcgan (fashion-dcgan, pack 2)": ["model.pack=2"]}
PUBLISHED = "stacked MNIST, PacGAN Table 3: DCGAN 99 modes (KL 3.40), PacDCGAN2 1000 modes (KL 0.06)"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--num", type=int, default=26000)
    ap.add_argument("--runs", default="runs/stacked")
    ap.add_argument("--out", default=str(HERE / "results" / "stacked.md"))
    args = ap.parse_args(argv)
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    jobs = []
    for i, (name, extra) in enumerate(RECIPES.items()):
        cmd = [sys.executable, "-m", "gankit", "train", "--preset", "fashion-dcgan", "--data", "stacked-fashion-mnist",
               "--set", "data.channels=3", "--minutes", str(args.minutes), "--out", str(runs / f"r{i}"), "--overwrite",
               "--no-progress", "--set", "train.threads=1", *[a for x in extra for a in ("--set", x)]]
        jobs.append((name, cmd, runs / f"r{i}.log"))
    run_commands(jobs)

    import torch
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    from gankit.evaluation import evaluate
    from gankit.io.generator import read_generator_meta
    rows = []
    for name, _, log in jobs:
        out = log.with_suffix("")
        r = evaluate(out / "generator", num=args.num)
        meta = read_generator_meta(out / "generator")
        rows.append({"recipe": name, "kimg": meta["images_seen"] / 1000, "minutes": meta["train_seconds"] / 60,
                     **{k: v["value"] for k, v in r["metrics"].items()},
                     "floor": {k: v["floor"] for k, v in r["metrics"].items()}})
        print(rows[-1], flush=True)
    report = {"command": "python benchmarks/modes/stacked.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "machine": machine_info(), "gankit_source": source_state(), "num": args.num,
              "seconds": time.perf_counter() - start, "rows": rows}
    write_report(report, args.out, markdown)


def markdown(report: dict) -> str:
    floor = report["rows"][0]["floor"]
    lines = ["# Stacked Fashion-MNIST: the 1000-mode test", "",
             f"Command: `{report['command']}`  ",
             f"gankit {report['gankit_source']}; {report['machine']['cpu']}, torch {report['machine']['torch']}; "
             f"each recipe pinned to its own core, 1 thread; {report['seconds'] / 60:.1f} min in all.", "",
             f"{report['num']:,} samples per recipe; modes read channel by channel with the Fashion-MNIST domain "
             f"classifier. Real test stacks score {floor['modes']:g} modes, KL {floor['reverse_kl']:.3f} "
             "(the floor: classifier errors included).", "",
             "| recipe | minutes | kimg | modes (of 1000) | KL(samples ‖ uniform) |", "|---|---|---|---|---|"]
    for r in report["rows"]:
        lines.append(f"| {r['recipe']} | {r['minutes']:.1f} | {r['kimg']:,.0f} | {r['modes']:g} | "
                     f"{r['reverse_kl']:.3f} |")
    lines += ["", f"Published anchors ({PUBLISHED}); theirs are MNIST digits and far longer GPU runs."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
