"""Latent interpolation: walk between the latents of several seeds and watch the samples morph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gankit.data import to_uint8
from gankit.io.images import check_size, grid_shape, make_grid, prepare_dir, save_gif, save_png
from gankit.models import Generator, latents


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents a, b (z_dim,) at fractions t (T,) -> (T, z_dim).

    Gaussian latents concentrate near a sphere; slerp keeps the path's norm
    there, where linear interpolation dips towards the origin mid-way.
    """
    cos = torch.dot(a / a.norm(), b / b.norm()).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-6:  # nearly parallel: slerp degenerates to lerp
        return lerp(a, b, t)
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so)[:, None] * a + (torch.sin(t * omega) / so)[:, None] * b


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation (T, z_dim)."""
    return (1 - t)[:, None] * a + t[:, None] * b


def interpolation_path(z_dim: int, seeds: list[int], steps: int, spherical: bool = False) -> torch.Tensor:
    """Latents walking seed[0] -> seed[1] -> ...: (len(seeds) - 1, steps, z_dim).

    The latent of a seed is sample 0 of that seed, the same one `gankit sample --seed S` draws first.
    """
    if len(seeds) < 2 or steps < 2:
        raise ValueError("interpolation needs at least 2 seeds and 2 steps")
    ends = torch.cat([latents(1, z_dim, s) for s in seeds])
    t = torch.linspace(0, 1, steps)
    fn = slerp if spherical else lerp
    return torch.stack([fn(ends[i], ends[i + 1], t) for i in range(len(seeds) - 1)])


def gif_scale(resolution: int) -> int:
    """GIF frames are enlarged to about 128 px (4x for 28 px), never shrunk."""
    return max(1, min(4, 128 // resolution))


def check_outputs(G: Generator, seeds: list[int], steps: int, out_dir: str | Path, scale: int = 2) -> Path:
    """Everything about writing an interpolation to `out_dir` that can fail, checked before a frame
    is drawn: a folder path (no extension, or an existing folder) that can be written, strips
    and GIF frames that Pillow would open again. Returns the folder."""
    if len(G.out_shape) != 3:
        raise ValueError("interpolation pictures need an image generator (this one makes toy points)")
    if G.num_classes:
        raise ValueError("interpolate: this generator is class-conditional; interpolating conditional generators "
                         "(--classes) is not built yet")
    out_dir = Path(out_dir)
    if out_dir.suffix and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir}: interpolation writes a folder (PNG strips and a GIF); "
                         f"give a path with no extension, or an existing folder")
    _, h, w = G.out_shape
    height, width = grid_shape(steps, h, w, nrow=steps)
    check_size(out_dir / f"strip_{seeds[0]}_{seeds[1]}.png", width * scale, height * scale,
               hint="use fewer steps")
    check_size(out_dir / "interpolation.gif", w * gif_scale(w), h * gif_scale(w), "GIF",
               hint="the generator's images are too large for a GIF")
    return prepare_dir(out_dir)


@torch.inference_mode()
def write_interpolation(G: Generator, seeds: list[int], steps: int, out_dir: str | Path,
                        spherical: bool = False, scale: int = 2) -> list[Path]:
    """A PNG strip per consecutive pair of seeds and one looping GIF through all of them.

    Returns the written paths (strips first, GIF last). Images only: toy generators are refused,
    and so (before any frame is drawn) is anything `check_outputs` finds.
    """
    path = interpolation_path(G.z_dim, seeds, steps, spherical)
    out_dir = check_outputs(G, seeds, steps, out_dir, scale)
    was_training = G.training
    G.eval()
    device = next(G.parameters()).device
    try:
        frames = [to_uint8(G(p.to(device)).cpu()) for p in path]  # each (steps, C, H, W)
    finally:
        G.train(was_training)
    written = []
    for (a, b), strip in zip(zip(seeds, seeds[1:]), frames):
        written.append(out_dir / f"strip_{a}_{b}.png")
        save_png(make_grid(strip, nrow=steps), written[-1], scale=scale)
    # The GIF drops each pair's last frame (it is the next pair's first) and loops back.
    seq = torch.cat([f[:-1] for f in frames] + [frames[-1][-1:]])
    gif_frames = [np.ascontiguousarray(img.permute(1, 2, 0).numpy()) for img in seq]
    gif_frames += gif_frames[-2:0:-1]
    written.append(out_dir / "interpolation.gif")
    save_gif(gif_frames, written[-1], scale=gif_scale(seq.shape[-1]))
    return written
