"""`gankit interpolate`: walk the latent space between seeds, or a conditional run's classes."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from gankit.cli.common import device_arg, positive_int, seed, seed_list
from gankit.cli.common import MAX_SAMPLE_BYTES


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name, help="interpolate between the latents of several seeds, or between classes",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Interpolate between the latents of seeds (latent 0 of each seed, the first "
                    "sample `gankit sample --seed S` draws). Writes a PNG strip per consecutive pair "
                    "and one looping GIF through all of them.",
        epilog="""class-conditional runs (model.conditional):
  --seeds walks z with one fixed class: --class NAME_OR_INDEX (default: class 0, and it says so).
  --classes A,B[,C...] keeps z fixed (latent 0 of --seed) and interpolates the class embedding
  instead: the generator gets soft class weights (1 - t) onehot(A) + t onehot(B), t from 0 to 1,
  so the sample morphs from class A into class B. Strips are named strip_<A>_<B>.png after the
  class names (characters unsafe in file names become _). Classes are names (exact, else ignoring
  case) or indices; an unknown one is refused with the list of classes.

examples:
  gankit interpolate runs/demo --seeds 1,2,3 --steps 8 --slerp --out runs/demo/interp
  gankit interpolate runs/fashion-cond --classes Shirt,Sneaker,Bag --seed 4 --steps 10
  gankit interpolate runs/fashion-cond --seeds 1,2,3 --class Sneaker""")
    p.add_argument("model", metavar="RUN_OR_GENERATOR", help="a run folder, its generator/ folder or a checkpoint")
    p.add_argument("--seeds", type=seed_list, default=None, help="comma-separated seeds (default: 1,2,3)")
    p.add_argument("--classes", metavar="A,B[,...]", default=None,
                   help="conditional runs: interpolate between these classes (names or indices) with z fixed")
    p.add_argument("--seed", type=seed, default=None,
                   help="with --classes: the seed whose latent 0 is held fixed (default: 0)")
    p.add_argument("--class", dest="class_", metavar="NAME_OR_INDEX", default=None,
                   help="conditional runs, with --seeds: the fixed class of the z walk (default: class 0)")
    p.add_argument("--steps", type=positive_int, default=8, help="images per pair, ends included (default: 8)")
    p.add_argument("--slerp", action="store_true", help="spherical instead of linear interpolation (of z)")
    p.add_argument("--out", help="output folder: a path with no extension, or an existing folder "
                                 "(default: <run>/interpolation)")
    device_arg(p)
    return p


def _check_flags(args) -> None:
    """Options that do not go together, refused before the model is loaded."""
    if args.classes is not None:
        if args.seeds is not None:
            raise ValueError("--seeds and --classes: choose one (--classes holds z fixed at latent 0 of --seed)")
        if args.class_ is not None:
            raise ValueError("--class and --classes: choose one (--class fixes the class of a --seeds walk)")
        if args.slerp:
            raise ValueError("--slerp: interpolates z, which --classes holds fixed; drop --slerp")
    elif args.seed is not None:
        raise ValueError("--seed: only with --classes (a walk between seeds takes --seeds)")
    if args.steps < 2:
        raise ValueError(f"--steps: need at least 2, got {args.steps}")


def run(args) -> int:
    from gankit.apps.interpolate import write_class_interpolation, write_interpolation
    from gankit.apps.sample import resolve_class
    from gankit.io.generator import load_generator
    _check_flags(args)
    names = None
    if args.classes is not None:
        names = [c.strip() for c in args.classes.split(",")]
        if len(names) < 2 or not all(names):
            raise ValueError(f"--classes: expected at least two comma-separated classes like Shirt,Sneaker, "
                             f"got {args.classes!r}")
    G = load_generator(args.model, device=args.device)
    seeds = args.seeds or [1, 2, 3]
    ends = len(names) if names else len(seeds)
    frames = (ends - 1) * args.steps
    need = frames * math.prod(G.out_shape) * 4 * 3  # latents' outputs, uint8 copies and GIF frames
    if need > MAX_SAMPLE_BYTES:
        raise ValueError(f"--steps: {args.steps:,} steps between {ends} {'classes' if names else 'seeds'} make "
                         f"{frames:,} frames needing about {need / 2**30:,.1f} GiB; use fewer steps")
    out = Path(args.out) if args.out else Path(args.model) / "interpolation"
    if names is not None:
        classes = [resolve_class(G, n, "--classes") for n in names]
        paths = write_class_interpolation(G, classes, args.steps, out, seed=args.seed or 0)
    else:
        label = resolve_class(G, args.class_) if args.class_ is not None else None
        if G.num_classes and label is None:
            first = (getattr(G, "classes", None) or ["0"])[0]
            print(f"note: a class-conditional run: walking z with class 0 ({first}); choose another with "
                  f"--class, or interpolate between classes with --classes", file=sys.stderr)
        paths = write_interpolation(G, seeds, args.steps, out, spherical=args.slerp, label=label)
    for path in paths:
        print(path)
    return 0
