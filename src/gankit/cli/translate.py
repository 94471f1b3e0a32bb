"""`gankit translate`: apply an image-to-image run to a user's images."""

from __future__ import annotations

import argparse

from gankit.cli.common import device_arg, nonnegative_int, positive_int, seed


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name, help="translate images with an image-to-image run (superres, inpaint, denoise, ...)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a trained image-to-image generator (a run with data.task) on image files of any "
                    "size. Each INPUT gives OUT/<name>.png (the output; super-resolution: data.scale times "
                    "larger) and OUT/<name>_strip.png (input | output, and | target with --degrade). "
                    "Unpaired runs (data.task = unpaired) translate in --direction a2b or b2a; example-guided "
                    "ones (model.arch = munit) take a --style image, or draw --styles random styles.",
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

unpaired runs (CycleGAN, example-guided style):
  --direction a2b maps data.domain_a to data.domain_b, b2a the reverse. An example-guided run renders
  each INPUT's content in the style of --style FILE (an image of the target domain): OUT/<name>.png
  and a strip input | style | output; without --style it draws --styles N random styles (seed
  --seed): OUT/<name>_style0.png ... and a strip input | output 0 | output 1 | ... --style and
  --styles on a CycleGAN run, or --direction on a paired run, are refused in one line.

examples:
  gankit translate runs/cyclegan sneaker.png --direction a2b --out boots/
  gankit translate runs/munit sneaker.png --style boot.png --out styled/
  gankit translate runs/munit sneaker.png --styles 5 --seed 1 --out styles/
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
    p.add_argument("--direction", choices=("a2b", "b2a"), default=None,
                   help="unpaired runs: a2b translates domain A to B (the default), b2a the reverse")
    p.add_argument("--style", metavar="FILE", default=None,
                   help="example-guided runs: render the inputs in the style of this image (of the target domain)")
    p.add_argument("--styles", type=positive_int, default=None, metavar="N",
                   help="example-guided runs without --style: N outputs per input in random styles (default 3)")
    p.add_argument("--seed", type=seed, default=0,
                   help="example-guided runs: the seed of the random styles (style i of seed s is always alike)")
    p.add_argument("--overlap", type=nonnegative_int, default=0, help="pixels neighbouring tiles share (default: tile / 8)")
    device_arg(p)
    return p


def run(args) -> int:
    from gankit.apps.translate import load_translator, translate_files
    translator = load_translator(args.model, device=args.device, tile=args.tile, overlap=args.overlap,
                                 direction=args.direction)
    if translator.task == "unpaired":
        return _run_unpaired(translator, args)
    for flag, value in (("--style", args.style), ("--styles", args.styles)):
        if value is not None:
            raise ValueError(f"{flag}: only example-guided unpaired runs (model.arch = munit) take styles; this "
                             f"run is a {translator.task} run")
    if args.scale is not None and args.scale != translator.scale:
        what = f"super-resolves by data.scale = {translator.scale}" if translator.task == "superres" \
            else f"is a {translator.task} run (scale 1)"
        raise ValueError(f"--scale {args.scale}: this run {what}; a model translates at the scale it was trained for")
    written = translate_files(translator, args.inputs, args.out, degrade=args.degrade, masks_dir=args.masks,
                              convert=args.convert)
    print(f"wrote {len(written)} output(s) and strip(s) to {args.out}")
    return 0


def _run_unpaired(translator, args) -> int:
    from gankit.apps.unpaired import translate_unpaired_files
    for flag, given in (("--degrade", args.degrade), ("--masks", args.masks is not None),
                        ("--scale", args.scale not in (None, 1))):
        if given:
            raise ValueError(f"{flag}: an unpaired run translates between two domains; it has no degradation, "
                             f"masks or scale factor")
    if args.style is not None and args.styles is not None:
        raise ValueError("--styles: give --style FILE (one example's style) or --styles N (random ones), not both")
    written = translate_unpaired_files(translator, args.inputs, args.out, style=args.style, styles=args.styles,
                                       seed=args.seed, convert=args.convert)
    print(f"wrote {len(written)} output(s) and {len(args.inputs)} strip(s) to {args.out} "
          f"({translator.source} -> {translator.target})")
    return 0
