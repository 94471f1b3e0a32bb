"""`gankit sample`: draw samples from a trained generator."""

from __future__ import annotations

import argparse

from gankit.cli.common import check_sample_memory, device_arg, positive_int, seed


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name, help="draw samples from a trained generator",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Draw samples 0..N-1 of a seed. Sample i of seed S is bitwise the same image "
                    "whatever N, so `--num 8` is a prefix of `--num 64`.",
        epilog="""output by the ending of --out:
  grid.png        one PNG grid (a scatter plot for toy data)
  samples.npy     a numpy array, uint8 (N, C, H, W)  (float32 (N, D) for toy data)
  samples.npz     the same, compressed, under the key "samples"
  some/folder     one PNG per sample: sample_<seed>_<i>.png (a path with no extension, or an
                  existing folder); any other ending (.jpg, .txt, ...) is refused
A grid larger than Pillow opens (Image.MAX_IMAGE_PIXELS, ~89 megapixels) and an output that
cannot be written are refused before sampling.

A conditional run (model.conditional) draws balanced classes (sample i of class i mod K), or
only --class. --class on an unconditional run, or a class it does not have, is refused.

--truncation PSI (the truncation trick) trades variety for typical, cleaner samples: each latent
value is mapped, keeping its rank, onto a normal truncated to its central PSI of probability mass
(PSI 0.7 keeps |z_i| < 1.04). 1 (the default) is no truncation; 0 gives every sample the mean
latent. Sample i of seed S stays the same sample, tamed, at every PSI.

examples:
  gankit sample runs/demo --num 64 --seed 0 --out grid.png
  gankit sample runs/fashion-cond --class Sneaker --num 16 --out sneakers.png
  gankit sample runs/demo --truncation 0.7 --num 64 --out typical.png""")
    p.add_argument("model", metavar="RUN_OR_GENERATOR", help="a run folder, its generator/ folder or a checkpoint")
    p.add_argument("--num", type=positive_int, default=64, help="number of samples (default: 64)")
    p.add_argument("--seed", type=seed, default=0, help="latent seed, in [0, 2**32) (default: 0)")
    p.add_argument("--out", required=True, help="output .png (a grid), .npy/.npz (a numpy array) or a folder")
    p.add_argument("--class", dest="class_", metavar="NAME_OR_INDEX", default=None,
                   help="conditional runs only: draw this class (a class name, e.g. Sneaker, or its index)")
    p.add_argument("--truncation", type=truncation, default=1.0, metavar="PSI",
                   help="the truncation trick: keep the central PSI in [0, 1] of each latent value's "
                        "normal distribution (default: 1, no truncation; smaller: less varied, more typical)")
    device_arg(p)
    return p


def truncation(text: str) -> float:
    """--truncation: a number in [0, 1] (checked at parse time, before any model is loaded)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1] (1 = no truncation), got {text!r}")
    return value


def run(args) -> int:
    from gankit.apps.sample import output_kind, resolve_class, write_samples
    from gankit.io.generator import load_generator
    output_kind(args.out)  # a refused --out costs no model loading
    G = load_generator(args.model, device=args.device)
    label = resolve_class(G, args.class_) if args.class_ is not None else None
    check_sample_memory(args.num, G.out_shape, "write")
    print(write_samples(G, args.num, args.seed, args.out, label, truncation=args.truncation))
    return 0
