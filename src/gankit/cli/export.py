"""`gankit export`: a trained generator as a file other runtimes read (ONNX)."""

from __future__ import annotations

import argparse

FORMATS = {"onnx": "ONNX (opset 17), for onnxruntime and any ONNX runtime; needs the extra gankit[onnx]"}


def _tolerance(text: str) -> float:
    import math
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


# gankit.apps.export's TOLERANCE and CHECK_BATCHES, repeated so that --help needs no torch import
# (tests/apps/test_apps_export.py checks that they agree).
TOLERANCE = 1e-4
CHECK_BATCHES = (1, 5)


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name, help="export a trained generator to ONNX, checked against PyTorch in onnxruntime",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Export the generator of a run (the weights it shows: EMA when it keeps one) to a file "
                    "that runs without PyTorch. The exported graph is run in onnxruntime against PyTorch on "
                    f"fixed inputs (batches of {' and '.join(map(str, CHECK_BATCHES))}; image-to-image graphs at two "
                    "sizes) before it is written; "
                    "the largest absolute difference is printed, and above --tolerance nothing is written "
                    "and the exit status is 1.",
        epilog="""the graph's inputs and output (the batch axis N is dynamic):
  unconditional runs   z (N, z_dim) float32                    -> images (N, C, H, W) float32 in [-1, 1]
  conditional runs     z (N, z_dim) float32, label (N,) int64  -> images (N, C, H, W) float32 in [-1, 1]
  toy runs             z (N, z_dim) float32                    -> points (N, D) float32
  image-to-image runs  image (N, C, H, W) float32 in [-1, 1]   -> images (N, C, H*s, W*s) float32 in [-1, 1]
  inpainting runs      image (N, C, H, W), mask (N, 1, H, W)   -> images (N, C, H, W) float32 in [-1, 1]
Image-to-image graphs take any height and width H, W (the U-Net's padding to its stride is in the
graph; the check runs two sizes, one not a multiple of it); s is data.scale for super-resolution, else
1; mask > 0 marks a hole, and known pixels are kept exactly.
z ~ N(0, I): gankit.models.latents(n, z_dim, seed) gives the latents `gankit sample --seed` draws.
Labels must be in [0, K): ONNX's OneHot makes any other value an all-zero class.
The file's metadata_props carry format, gankit_version, kind, z_dim, output_shape, value_range,
num_classes, classes (JSON), inputs, output, arch, conditional, loss and data; image-to-image
files also task, scale, mask, stride, sizes and trained_input_shape.

formats:
""" + "".join(f"  {k:<8} {v}\n" for k, v in FORMATS.items()) + """
examples:
  gankit export runs/demo --format onnx --out g.onnx
  gankit export runs/sr --out sr.onnx        # an image-to-image run: image (N, C, H, W) -> (N, C, sH, sW)
  gankit export runs/cyclegan --direction b2a --out b2a.onnx   # an unpaired run: one direction per file
  python -c "import onnxruntime as ort, numpy as np; s = ort.InferenceSession('g.onnx');
             print(s.run(None, {'z': np.random.randn(4, 64).astype('float32')})[0].shape)\"""")
    p.add_argument("model", metavar="RUN_OR_GENERATOR", help="a run folder, its generator/ folder or a checkpoint")
    p.add_argument("--format", choices=sorted(FORMATS), default="onnx", help="file format (default: onnx)")
    p.add_argument("--out", required=True, help="the file to write (ending in .onnx)")
    p.add_argument("--direction", choices=("a2b", "b2a"),
                   help="unpaired (CycleGAN) runs: which generator to export (default: a2b)")
    p.add_argument("--tolerance", type=_tolerance, default=TOLERANCE,
                   help=f"largest |onnxruntime - PyTorch| accepted (default: {TOLERANCE:g})")
    return p


def run(args) -> int:
    from pathlib import Path

    from gankit.apps.export import export_onnx, load_model
    from gankit.extras import require
    from gankit.io.images import prepare_dir
    require("onnx")  # before loading anything
    out = Path(args.out)
    if out.suffix.lower() != ".onnx":
        raise ValueError(f"--out {out}: an ONNX file name ends in .onnx")
    prepare_dir(out.parent)
    G = load_model(args.model, direction=args.direction)  # a Translator for an image-to-image run
    print(export_onnx(G, out, tolerance=args.tolerance).summary())
    return 0
