"""`gankit data`: find a dataset on disk and look at it."""

from __future__ import annotations

import argparse

from gankit.cli.common import positive_int


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help="check where a dataset is found, or write a grid of its images",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Inspect datasets. `check` says where a dataset would be read from (exit 1 "
                                   "with instructions when it is missing); `grid` writes a PNG of its first images.",
                       epilog="examples:\n  gankit data check fashion-mnist\n"
                              "  gankit data grid fashion-mnist --num 64 --out real.png")
    p.add_argument("action", choices=["check", "grid"], help="what to do")
    p.add_argument("name", help="dataset name (fashion-mnist, mnist, toy-ring, ...) or `folder` with --data-dir")
    p.add_argument("--data-dir", metavar="DIR", default="", help="where the dataset files are")
    p.add_argument("--num", type=positive_int, default=64, help="images in the grid (default: 64)")
    p.add_argument("--out", default="real.png", help="grid PNG path (default: real.png)")
    return p


def run(args) -> int:
    from gankit.config import DataConfig
    from gankit.data import DATASETS, DataError, check, load_dataset

    if args.name not in DATASETS:
        raise DataError(f"unknown dataset {args.name!r} (known: {', '.join(sorted(DATASETS))})")
    cfg = DataConfig(name=args.name, path=args.data_dir)
    if args.action == "check":
        print(f"{args.name}: {check(cfg)}")
        return 0
    from gankit.io.images import plot_points, save_grid, save_png
    data = load_dataset(cfg)
    if data.is_image:
        save_grid(data.x[:args.num], args.out)
    else:
        save_png(plot_points(data.x, data.x[:0]), args.out)
    print(f"wrote {args.out} ({len(data):,} examples from {data.source})")
    return 0
