"""Toy distributions: Gaussian mixtures with known modes, for fast runs and mode-collapse tests.

- ``toy-gaussian``: 1-D N(4, 0.5^2), the classic first GAN demo (a generator
  starting near 0 must move its mass to 4 and learn the width).
- ``toy-ring``: 8 Gaussians evenly spaced on a circle of radius 2, std 0.02,
  as in Metz et al., "Unrolled GANs" (2017), reused by VEEGAN (Srivastava et
  al., 2017). Centre k is at angle 2*pi*k/8 from the +x axis.
- ``toy-grid``: 25 Gaussians centred at (-4 + 2i, -4 + 2j), i, j in 0..4, std
  0.05, as in VEEGAN and PacGAN (Lin et al., 2018; fjxmlzn/PacGAN,
  synthetic_data_experiments/2DGrid_GAN&PacGAN/config.py). Centre index is 5*i + j.

The mixture components are equally likely. The usual scores on these (VEEGAN,
PacGAN) call a generated point "high quality" when it lies within 3 std of its
nearest centre and a mode "covered" when it receives such points; evaluation
code gets the centres and std from `toy_modes`.

Points are float32 (N, D) drawn from a CPU torch.Generator seeded with `seed`,
so a seed gives the same points on every machine; y is the int64 component index.
"""

from __future__ import annotations

import math

import torch

from gankit.data.dataset import DataError, Dataset

GAUSSIAN_MEAN = 4.0
GAUSSIAN_STD = 0.5

RING_MODES = 8
RING_RADIUS = 2.0
RING_STD = 0.02

GRID_SIDE = 5
GRID_SPACING = 2.0
GRID_STD = 0.05

DIMS = {"toy-gaussian": 1, "toy-ring": 2, "toy-grid": 2}


def toy_modes(name: str) -> tuple[torch.Tensor, float]:
    """(centers float32 (K, D), std) of the equally weighted isotropic Gaussians of `name`."""
    if name == "toy-gaussian":
        return torch.tensor([[GAUSSIAN_MEAN]], dtype=torch.float32), GAUSSIAN_STD
    if name == "toy-ring":
        angles = torch.arange(RING_MODES, dtype=torch.float64) * (2 * math.pi / RING_MODES)
        centers = RING_RADIUS * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
        centers[centers.abs() < 1e-12] = 0.0  # cos(pi/2) = 6e-17: print 0 where 0 is meant
        return centers.to(torch.float32), RING_STD
    if name == "toy-grid":
        offset = (GRID_SIDE - 1) / 2 * GRID_SPACING  # 4.0: the grid is centred on the origin
        steps = torch.arange(GRID_SIDE, dtype=torch.float32) * GRID_SPACING - offset
        i, j = torch.meshgrid(steps, steps, indexing="ij")
        return torch.stack([i.reshape(-1), j.reshape(-1)], dim=1), GRID_STD
    raise DataError(f"data.name: {name!r} is not a toy dataset (known: {', '.join(DIMS)})")


def describe(name: str) -> str:
    centers, std = toy_modes(name)
    if name == "toy-gaussian":
        return f"1-D Gaussian N({GAUSSIAN_MEAN}, {GAUSSIAN_STD}^2)"
    if name == "toy-ring":
        return f"{len(centers)} Gaussians on a circle of radius {RING_RADIUS}, std {std}"
    return f"{len(centers)} Gaussians on a {GRID_SIDE}x{GRID_SIDE} grid, spacing {GRID_SPACING}, std {std}"


def load_toy(name: str, n: int, seed: int) -> Dataset:
    """Draw `n` points of toy distribution `name` -> Dataset with x float32 (n, D), y int64 (n,)."""
    centers, std = toy_modes(name)
    if n <= 0:
        raise DataError(f"data.toy_samples: must be > 0, got {n}")
    g = torch.Generator(device="cpu").manual_seed(seed)
    y = torch.randint(len(centers), (n,), generator=g, dtype=torch.int64)
    noise = torch.randn((n, centers.shape[1]), generator=g, dtype=torch.float32)
    x = centers[y] + std * noise
    return Dataset(x=x, y=y, name=name, classes=[f"mode {k}" for k in range(len(centers))],
                   source=f"{describe(name)}; {n} points, seed {seed}")
