"""`gankit synthesize`: write a (labelled) synthetic dataset from a trained generator."""

from __future__ import annotations

import argparse

from gankit.cli.common import device_arg, positive_int, seed
from gankit.cli.sample import truncation


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name, help="write a synthetic dataset: class folders of PNGs or one .npz",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write a synthetic dataset drawn from a trained generator: --per-class N images of "
                    "each class of a class-conditional run, or --num N images of an unconditional one. "
                    "Deterministic by --seed: image i is sample i of the seed, whatever --batch-size or "
                    "--device (a conditional run's sample i is of class i mod K, image i // K of its class).",
        epilog="""output by --out:
  DIR              (no extension, or an existing folder) one PNG per image:
                   conditional: DIR/<class name>/<j>.png (names unsafe in file names get _ for the
                   unsafe characters, e.g. T-shirt_top); gankit's folder reader reads it back with
                   the class sub-folders as labels (gankit train --data DIR, data.name = folder)
                   unconditional: DIR/<i>.png
                   DIR/synthesize.json records the generator, seed, truncation, classes and files
  FILE.npz         x uint8 (N, C, H, W) (float32 (N, D) for toy data); conditional runs also
                   y int64 (N,) and classes (K,) str; np.load(FILE, allow_pickle=False) reads it
A non-empty DIR or an existing FILE is refused unless --overwrite; --overwrite replaces only a
previous synthesize output (the files its synthesize.json lists), never files gankit did not write.
An .npz is built in memory (at most 4 GiB of images); a folder is written batch by batch, and
refused up front if the disk it is on lacks the space.

--truncation PSI: the truncation trick, as in `gankit sample` (1: none; smaller: less varied).

examples:
  gankit synthesize runs/fashion-cond --per-class 1000 --out synthetic/
  gankit synthesize runs/fashion-cond --per-class 6000 --truncation 0.8 --out fashion-synthetic.npz
  gankit synthesize runs/demo --num 5000 --seed 1 --out unlabelled/""")
    p.add_argument("model", metavar="RUN_OR_GENERATOR", help="a run folder, its generator/ folder or a checkpoint")
    p.add_argument("--per-class", type=positive_int, default=None, metavar="N",
                   help="conditional runs: images of each class")
    p.add_argument("--num", type=positive_int, default=None, metavar="N", help="unconditional runs: images in all")
    p.add_argument("--out", required=True, help="output folder (DIR/<class>/<j>.png) or .npz file")
    p.add_argument("--seed", type=seed, default=0, help="latent seed, in [0, 2**32) (default: 0)")
    p.add_argument("--truncation", type=truncation, default=1.0, metavar="PSI",
                   help="the truncation trick, PSI in [0, 1] (default: 1, no truncation)")
    p.add_argument("--batch-size", type=positive_int, default=256,
                   help="samples drawn at once; never changes the images (default: 256)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing .npz, or a folder holding a previous synthesize output")
    device_arg(p)
    return p


def run(args) -> int:
    from gankit.apps.synthesize import output_kind, synthesize
    from gankit.io.generator import load_generator
    output_kind(args.out)  # a refused --out costs no model loading
    G = load_generator(args.model, device=args.device)
    r = synthesize(G, args.out, per_class=args.per_class, num=args.num, seed=args.seed,
                   truncation=args.truncation, batch_size=args.batch_size, overwrite=args.overwrite,
                   source=str(args.model))
    what = (f"{r['per_class']:,} images of each of {len(r['classes'])} classes" if r["classes"]
            else f"{r['num']:,} images")
    psi = f", truncation {r['truncation']:g}" if r["truncation"] != 1 else ""
    where = f"{r['path']}/" if r["format"] == "folder" else str(r["path"])
    print(f"wrote {what} (seed {r['seed']}{psi}) to {where} in {r['seconds']:.1f} s")
    return 0
