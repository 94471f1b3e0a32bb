"""`gankit interpolate`: walk the latent space between seeds."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from gankit.cli.common import device_arg, positive_int, seed_list
from gankit.cli.common import MAX_SAMPLE_BYTES


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name, help="interpolate between the latents of several seeds",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Interpolate between the latents of seeds (latent 0 of each seed, the first "
                    "sample `gankit sample --seed S` draws). Writes a PNG strip per consecutive pair "
                    "and one looping GIF through all of them.",
        epilog="example:\n  gankit interpolate runs/demo --seeds 1,2,3 --steps 8 --slerp --out runs/demo/interp")
    p.add_argument("model", metavar="RUN_OR_GENERATOR", help="a run folder, its generator/ folder or a checkpoint")
    p.add_argument("--seeds", type=seed_list, default=[1, 2, 3], help="comma-separated seeds (default: 1,2,3)")
    p.add_argument("--steps", type=positive_int, default=8, help="images per pair, ends included (default: 8)")
    p.add_argument("--slerp", action="store_true", help="spherical instead of linear interpolation")
    p.add_argument("--out", help="output folder: a path with no extension, or an existing folder "
                                 "(default: <run>/interpolation)")
    device_arg(p)
    return p


def run(args) -> int:
    from gankit.apps.interpolate import write_interpolation
    from gankit.io.generator import load_generator
    if args.steps < 2:
        raise ValueError(f"--steps: need at least 2, got {args.steps}")
    G = load_generator(args.model, device=args.device)
    frames = (len(args.seeds) - 1) * args.steps
    need = frames * math.prod(G.out_shape) * 4 * 3  # latents' outputs, uint8 copies and GIF frames
    if need > MAX_SAMPLE_BYTES:
        raise ValueError(f"--steps: {args.steps:,} steps between {len(args.seeds)} seeds make {frames:,} frames "
                         f"needing about {need / 2**30:,.1f} GiB; use fewer steps")
    out = Path(args.out) if args.out else Path(args.model) / "interpolation"
    paths = write_interpolation(G, args.seeds, args.steps, out, spherical=args.slerp)
    for path in paths:
        print(path)
    return 0
