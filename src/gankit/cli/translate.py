"""`gankit translate`: apply an image-to-image run to a user's images."""

from __future__ import annotations

import argparse

from gankit.cli.common import device_arg, nonnegative_int


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name, help="translate images with an image-to-image run (superres, inpaint, denoise, ...)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a trained image-to-image generator (a run with data.task) on image files of any "
                    "size. Each INPUT gives OUT/<name>.png (the output; super-resolution: data.scale times "
                    "larger) and OUT/<name>_strip.png (input | output, and | target with --degrade).",
        epilog="""how inputs are read:
  PNG, JPEG, BMP or WebP files. A run trained on grey images takes grey files and one trained on
  colour takes RGB; anything else is refused unless --convert. Images larger than --tile pixels
  a side are translated in overlapping tiles blended across the overlap (memory stays bounded).
  An inpainting run needs each image's hole mask: --masks DIR with DIR/<name>.<ext> (white = hole);
  known pixels are kept exactly.

--degrade: the INPUTs are clean images; the run's own degradation (data.task with its
  parameters, image i fixed by data.degrade_seed and i) is applied first, and the strip shows
  degraded input | output | clean target: a demo, or a check on your own pictures.

errors (one line, exit 1): an unreadable or missing file, the wrong number of channels, a size
  the run's data.scale does not divide (--degrade with superres), a run that is not
  image-to-image, a --scale other than the run's.

examples:
  gankit translate runs/superres photo.jpg --out big/
  gankit translate runs/superres clean.png --degrade --out demo/
  gankit translate runs/inpaint photo.png --masks masks/ --out filled/""")
    p.add_argument("model", metavar="RUN", help="an image-to-image run folder, its generator/ folder or a checkpoint")
    p.add_argument("inputs", metavar="INPUT", nargs="+", help="image files to translate")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument("--degrade", action="store_true",
                   help="apply the run's degradation to the (clean) inputs first; the strips then show the target")
    p.add_argument("--masks", metavar="DIR", default=None,
                   help="inpainting runs: folder of hole masks named like the inputs (white = hole)")
    p.add_argument("--convert", action="store_true",
                   help="convert inputs to the run's channels (grey <-> RGB) instead of refusing them")
    p.add_argument("--scale", type=int, default=None,
                   help="check the scale factor: must equal the run's data.scale (1 for other tasks)")
    p.add_argument("--tile", type=nonnegative_int, default=0,
                   help="tile side in input pixels for large images (default 0: 8x the training size, at "
                        "least 256)")
    p.add_argument("--overlap", type=nonnegative_int, default=0, help="pixels neighbouring tiles share (default: tile / 8)")
    device_arg(p)
    return p


def run(args) -> int:
    from gankit.apps.translate import load_translator, translate_files
    translator = load_translator(args.model, device=args.device, tile=args.tile, overlap=args.overlap)
    if args.scale is not None and args.scale != translator.scale:
        what = f"super-resolves by data.scale = {translator.scale}" if translator.task == "superres" \
            else f"is a {translator.task} run (scale 1)"
        raise ValueError(f"--scale {args.scale}: this run {what}; a model translates at the scale it was trained for")
    written = translate_files(translator, args.inputs, args.out, degrade=args.degrade, masks_dir=args.masks,
                              convert=args.convert)
    print(f"wrote {len(written)} output(s) and strip(s) to {args.out}")
    return 0
