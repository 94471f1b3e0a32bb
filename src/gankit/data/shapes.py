"""``shapes``: a toy image dataset of two classes, white squares and white discs on black, drawn
in numpy — the toy domains of unpaired translation (square <-> circle) and its fast tests.

Each image holds one filled shape of random size and position; a square and a disc of the same
size parameter r have the same area (side r * sqrt(pi)), so area alone does not tell the class
and a translator must change the outline. Drawn at 4x the resolution and averaged down
(anti-aliased edges). uint8 (N, 1, R, R), labels 0 = square, 1 = circle, alternating, so any
prefix is balanced. The train split is drawn from seed 0 and the test split from seed 1: the
data is fixed, whatever the run's seed (as a file on disk would be).
"""

from __future__ import annotations

import numpy as np
import torch

from gankit.data.dataset import DataError, Dataset

CLASSES = ["square", "circle"]
SIZES = {"train": 4096, "test": 1024}
SUPERSAMPLE = 4


def draw(kinds: np.ndarray, resolution: int, rng: np.random.Generator) -> np.ndarray:
    """Images uint8 (N, R, R) of the shapes `kinds` (N,) (0 square, 1 circle), sizes and centres from rng."""
    n, big = len(kinds), resolution * SUPERSAMPLE
    r = rng.uniform(0.18, 0.32, n) * big                     # half-size of the shape
    half = np.maximum(r, r * np.sqrt(np.pi) / 2)             # the larger half-extent of the two shapes
    cy = rng.uniform(half + 1, big - half - 1)
    cx = rng.uniform(half + 1, big - half - 1)
    grid = np.arange(big) + 0.5
    dy = grid[None, :, None] - cy[:, None, None]
    dx = grid[None, None, :] - cx[:, None, None]
    disc = dy ** 2 + dx ** 2 <= (r ** 2)[:, None, None]
    side = (r * np.sqrt(np.pi) / 2)[:, None, None]          # equal area: (2 * side)^2 = pi r^2
    square = (np.abs(dy) <= side) & (np.abs(dx) <= side)
    mask = np.where((kinds == 1)[:, None, None], disc, square).astype(np.float32)
    small = mask.reshape(n, resolution, SUPERSAMPLE, resolution, SUPERSAMPLE).mean(axis=(2, 4))
    return np.round(small * 255).astype(np.uint8)


def load_shapes(split: str, resolution: int, n: int = 0) -> Dataset:
    """The `split` of the shapes dataset at `resolution` (>= 8): n images (0: SIZES[split])."""
    if split not in SIZES:
        raise DataError(f"data.split: must be 'train' or 'test', got {split!r}")
    if resolution < 8:
        raise DataError(f"data.resolution: shapes are drawn at 8 pixels or more, got {resolution}")
    n = n or SIZES[split]
    rng = np.random.default_rng(0 if split == "train" else 1)
    kinds = np.arange(n) % 2
    x = torch.from_numpy(draw(kinds, resolution, rng)).unsqueeze(1).contiguous()
    return Dataset(x=x, y=torch.from_numpy(kinds.astype(np.int64)), name="shapes", classes=list(CLASSES),
                   source=f"shapes: {n} squares and circles drawn at {resolution}x{resolution} ({split} split)")
