"""Sampling a trained generator to PNG grids, per-sample PNGs or uint8 arrays."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from gankit.data import to_uint8
from gankit.io.files import write_bytes_atomic
from gankit.io.images import plot_points, save_grid, save_image, save_png
from gankit.models import Generator


def write_samples(G: Generator, num: int, seed: int, out: str | Path) -> str:
    """Draw samples 0..num-1 of `seed` and write them to `out`; returns a one-line description.

    out ending .png   one grid (images, enlarged 2x up to 32 px) or scatter plot (toy points)
    out ending .npy   images: uint8 (N, C, H, W); toy points: float32 (N, D)
    out ending .npz   the same array under the key "samples", compressed
    any other path    a folder with one PNG per sample, named sample_<seed>_<i>.png
    """
    out = Path(out)
    x = G.sample(num, seed=seed)
    is_image = x.ndim == 4
    arr = to_uint8(x) if is_image else x.float()
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".png":
        if is_image:
            save_grid(arr, out, scale=2 if arr.shape[-1] <= 32 else 1)  # 28 px tiles are hard to see
        else:
            save_png(plot_points(arr, arr), out)
        return f"wrote a grid of {num} samples (seed {seed}) to {out}"
    if suffix in (".npy", ".npz"):
        buf = io.BytesIO()
        if suffix == ".npy":
            np.save(buf, arr.numpy())
        else:
            np.savez_compressed(buf, samples=arr.numpy())
        write_bytes_atomic(out, buf.getvalue())
        return f"wrote {arr.dtype} array {tuple(arr.shape)} (seed {seed}) to {out}"
    if not is_image:
        raise ValueError(f"{out}: toy samples are points; write them to a .npy, .npz or .png file")
    out.mkdir(parents=True, exist_ok=True)
    for i in range(num):
        save_image(arr[i], out / f"sample_{seed}_{i:05d}.png")
    return f"wrote {num} PNG files (seed {seed}) to {out}/"

