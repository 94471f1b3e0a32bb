"""`gankit report`: one self-contained HTML page that explains a run."""

from __future__ import annotations

import argparse
import textwrap


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name, help="write an HTML report of a run: curves, samples over training, alarms",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Write one self-contained HTML page about a run (no network assets; plots and sample "
            "grids are embedded PNGs): a summary, the alarms raised by the training diagnostics with "
            "what to try, the loss curves, D(x) and D(G(z)) against the 0.5 equilibrium, every other "
            "numeric metric logged (FID, KID, augment p, throughput, ...), the fixed-seed sample grids "
            "over training and the resolved config. Works on a run that is still training. "
            "Needs matplotlib (pip install 'gankit[metrics]').", 100),
        epilog="examples:\n  gankit report runs/demo                  # writes runs/demo/report.html\n"
               "  gankit report runs/demo --out demo.html --grids 24")
    p.add_argument("run", metavar="RUN", help="a run folder (holding metrics.jsonl)")
    p.add_argument("--out", metavar="FILE", help="where to write the page (default: RUN/report.html)")
    p.add_argument("--grids", type=int, default=12, metavar="N",
                   help="show at most N sample grids, evenly spaced over training incl. the first and last "
                        "(default: 12)")
    return p


def run(args) -> int:
    from gankit.apps.report import write_report
    if args.grids < 2:
        raise ValueError(f"--grids: must be >= 2 (the first and the last grid), got {args.grids}")
    out = write_report(args.run, args.out, max_grids=args.grids)
    print(f"wrote {out}")
    return 0
