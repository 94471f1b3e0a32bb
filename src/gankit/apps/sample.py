"""Sampling a trained generator to PNG grids, per-sample PNGs or uint8 numpy arrays."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from gankit.data import to_uint8
from gankit.io.files import write_bytes_atomic
from gankit.io.images import (TOO_LARGE_HINT, check_size, grid_scale, grid_shape, plot_points, prepare_dir, save_grid,
                              save_image, save_png)
from gankit.models import Generator
from gankit.models.base import check_truncation

# What --out may end with, and what each writes (the folder is any path without an ending).
OUTPUTS = (".png", ".npy", ".npz")
ACCEPTED = ".png (a grid), .npy or .npz (a numpy array), or a folder (no extension, or an existing folder)"


def output_kind(out: str | Path) -> str:
    """The kind of output `out` names: "png", "npy", "npz" or "folder"; ValueError for any other file ending.

    An existing folder is a folder whatever its name (runs/v1.0); otherwise the ending decides,
    and an unknown one (x.jpg, x.txt) is refused rather than silently made a folder of that name.
    """
    out = Path(out)
    if out.is_dir():
        return "folder"
    suffix = out.suffix.lower()
    if suffix in OUTPUTS:
        return suffix[1:]
    if not suffix:
        return "folder"
    raise ValueError(f"--out {out}: unknown file extension {out.suffix!r}; --out takes {ACCEPTED}")


def check_output(G: Generator, num: int, out: str | Path) -> str:
    """Everything about writing `num` samples of G to `out` that can fail, checked before any is
    drawn: the kind of output, a grid Pillow would not open again, a folder that cannot be written.
    Returns the output kind (see output_kind)."""
    out = Path(out)
    kind = output_kind(out)
    is_image = len(G.out_shape) == 3
    if kind == "folder" and not is_image:
        raise ValueError(f"{out}: toy samples are points; write them to a .npy, .npz or .png file")
    if kind == "png" and is_image:
        c, h, w = G.out_shape
        height, width = grid_shape(num, h, w)
        scale = grid_scale(w)
        check_size(out, width * scale, height * scale, hint=f"{TOO_LARGE_HINT}, or fewer samples")
    prepare_dir(out if kind == "folder" else out.parent)
    return kind


def resolve_class(G: Generator, name: str, flag: str = "--class") -> int:
    """The class index `name` means for a conditional G: a class name (as in G.classes, matched
    exactly, else ignoring case) or an index in [0, K). ValueError (one line, starting with `flag`)
    otherwise, and for an unconditional G."""
    if not G.num_classes:
        raise ValueError(f"{flag}: this generator is unconditional (model.conditional = none), it has no "
                         f"classes to ask for; drop {flag}")
    classes = list(getattr(G, "classes", []) or [str(i) for i in range(G.num_classes)])
    if name in classes:
        return classes.index(name)
    folded = [c.casefold() for c in classes]
    if name.casefold() in folded and folded.count(name.casefold()) == 1:
        return folded.index(name.casefold())
    if name.strip().isdigit() and int(name) < G.num_classes:
        return int(name)
    listing = ", ".join(f"{i} {c}" for i, c in enumerate(classes))
    raise ValueError(f"{flag}: unknown class {name!r} (classes: {listing})")


_UNSAFE = re.compile(r"[^\w .+-]+")


def class_file_name(name: str) -> str:
    """A class name made safe as one file or folder name on every OS: each run of characters other
    than letters, digits, space and ``_ . + -`` becomes one ``_`` ("T-shirt/top" -> "T-shirt_top",
    "Ankle boot" stays); leading dots are dropped (folder readers skip hidden files), and leading or
    trailing spaces and trailing dots (Windows drops them); "" or a name of dots becomes "_"."""
    safe = _UNSAFE.sub("_", str(name)).lstrip(". ").rstrip(". ")
    return safe or "_"


def write_samples(G: Generator, num: int, seed: int, out: str | Path, label: int | None = None,
                  truncation: float = 1.0) -> str:
    """Draw samples 0..num-1 of `seed` and write them to `out`; returns a one-line description.

    out ending .png   one grid (images, enlarged 2x up to 32 px) or scatter plot (toy points)
    out ending .npy   images: uint8 (N, C, H, W); toy points: float32 (N, D)
    out ending .npz   the same array under the key "samples", compressed
    a folder          (no extension, or an existing folder) one PNG per sample, sample_<seed>_<i>.png
    Any other ending is refused, as is a grid larger than Pillow opens or an output that cannot be
    written: all before a sample is drawn (ValueError / FileError naming the path).
    `label`: a conditional G draws every sample of that class index (None: balanced classes).
    `truncation`: psi of the truncation trick, in [0, 1] (1: none; see gankit.models.base.truncate).
    """
    out = Path(out)
    check_truncation(truncation)
    kind = check_output(G, num, out)
    x = G.sample(num, seed=seed, labels=label, truncation=truncation)
    if label is not None:
        classes = getattr(G, "classes", None) or []
        seed = f"{seed}, class {label}" + (f" {classes[label]}" if label < len(classes) else "")
    if truncation != 1:
        seed = f"{seed}, truncation {truncation:g}"
    is_image = x.ndim == 4
    arr = to_uint8(x) if is_image else x.float()
    if kind == "png":
        if is_image:
            save_grid(arr, out, scale=grid_scale(arr.shape[-1]))
        else:
            save_png(plot_points(arr, arr), out)
        return f"wrote a grid of {num} samples (seed {seed}) to {out}"
    if kind in ("npy", "npz"):
        array = arr.numpy()
        buf = io.BytesIO()
        if kind == "npy":
            np.save(buf, array)
        else:
            np.savez_compressed(buf, samples=array)
        write_bytes_atomic(out, buf.getvalue())
        key = ' under the key "samples"' if kind == "npz" else ""
        return f"wrote a numpy array {array.dtype} {tuple(array.shape)}{key} (seed {seed}) to {out}"
    for i in range(num):
        save_image(arr[i], out / f"sample_{seed}_{i:05d}.png")
    return f"wrote {num} PNG files (seed {seed}) to {out}/"
