"""Latent interpolation: walk between the latents of several seeds and watch the samples morph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gankit.data import to_uint8
from gankit.io.images import make_grid, save_gif, save_png
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


@torch.inference_mode()
def write_interpolation(G: Generator, seeds: list[int], steps: int, out_dir: str | Path,
                        spherical: bool = False, scale: int = 2) -> list[Path]:
    """A PNG strip per consecutive pair of seeds and one looping GIF through all of them.

    Returns the written paths (strips first, GIF last). Images only: toy generators are refused.
    """
    if len(G.out_shape) != 3:
        raise ValueError("interpolation pictures need an image generator (this one makes toy points)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = interpolation_path(G.z_dim, seeds, steps, spherical)
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
    save_gif(gif_frames, written[-1], scale=4)
    return written
