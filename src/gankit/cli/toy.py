"""`gankit toy`: the 1-D picture of the 2014 paper, from a real run."""

from __future__ import annotations

import argparse

from gankit.cli.common import positive_float, positive_int, seed

MAX_MOMENTS, FRAME_WIDTH, MAX_KIMG = 12, 320, 100_000  # gankit.apps.toy_picture's (not imported: it pulls in
# torch, and every verb's parser is built for any --help)


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name, help="draw p_data, p_g and D(x) on the 1-D Gaussian over training (the 2014 figure)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a GAN on the 1-D Gaussian (preset toy-gaussian) and draw, at several moments, "
                    "the data density, the generator's density and D(x) on one axis: a PNG strip and a "
                    "GIF. At the end p_g lies on p_data and D(x) is near 0.5 everywhere.",
        epilog="example:\n  gankit toy --out runs/toy-picture --kimg 150 --moments 6")
    p.add_argument("--out", default="runs/toy-picture", help="output folder (default: runs/toy-picture)")
    p.add_argument("--kimg", type=positive_float, default=150.0,
                   help=f"training length in thousands of images, at most {MAX_KIMG:,}; at least one batch "
                        f"(256) per moment (default: 150)")
    p.add_argument("--moments", type=positive_int, default=6,
                   help=f"frames over training, 2 to {MAX_MOMENTS} (each {FRAME_WIDTH} px wide in the strip; "
                        f"default: 6)")
    p.add_argument("--seed", type=seed, default=0, help="random seed, in [0, 2**32) (default: 0)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a config field of the toy-gaussian preset (repeatable); not the data, "
                        "out or train.kimg/minutes/epochs/seed, which the picture sets (use --out, --kimg, --seed)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier picture's run in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args) -> int:
    from gankit.apps.toy_picture import toy_picture
    result = toy_picture(args.out, kimg=args.kimg, moments=args.moments, seed=args.seed,
                         overrides=args.overrides, progress=not args.no_progress,
                         overwrite=args.overwrite)
    print(f"wrote {result['strip']} and {result['gif']}; mean D(x) near the data at the end: "
          f"{result['final_d_mean']:.3f}")
    return 0
