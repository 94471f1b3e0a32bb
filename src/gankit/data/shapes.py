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

import functools

import numpy as np
import torch

from gankit.data.dataset import DataError, Dataset

CLASSES = ["square", "circle"]
SIZES = {"train": 4096, "test": 1024}
SUPERSAMPLE = 4


def draw(kinds: np.ndarray, resolution: int, rng: np.random.Generator) -> np.ndarray:
    """Images uint8 (N, R, R) of the shapes `kinds` (N,) (0 square, 1 circle), sizes and centres from rng."""
    n, big = len(kinds), resolution * SUPERSAMPLE
    r = rng.uniform(0.24, 0.36, n) * big                     # half-size of the shape
    half = np.maximum(r, r * np.sqrt(np.pi) / 2)             # the larger half-extent of the two shapes
    cy = rng.uniform(half + 1, big - half - 1)
    cx = rng.uniform(half + 1, big - half - 1)
    side = r * np.sqrt(np.pi) / 2                            # equal area: (2 * side)^2 = pi r^2
    grid = np.arange(big, dtype=np.float32) + 0.5
    out = np.empty((n, resolution, resolution), np.uint8)
    for lo in range(0, n, 256):  # in chunks: float32 planes of 256 x big^2 stay small and fast
        sl = slice(lo, lo + 256)
        dy = np.abs(grid[None, :, None] - cy[sl, None, None].astype(np.float32))
        dx = np.abs(grid[None, None, :] - cx[sl, None, None].astype(np.float32))
        disc = dy * dy + dx * dx <= (r[sl] ** 2).astype(np.float32)[:, None, None]
        s = side[sl].astype(np.float32)[:, None, None]
        square = (dy <= s) & (dx <= s)
        mask = np.where((kinds[sl] == 1)[:, None, None], disc, square)
        small = mask.reshape(-1, resolution, SUPERSAMPLE, resolution, SUPERSAMPLE).sum(axis=(2, 4), dtype=np.int32)
        out[sl] = np.round(small * (255 / SUPERSAMPLE ** 2)).astype(np.uint8)
    return out


@functools.lru_cache(maxsize=8)
def _drawn(split: str, resolution: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    # Drawing takes a second or two at 28 px; runs and tests read the same split again and again.
    rng = np.random.default_rng(0 if split == "train" else 1)
    kinds = np.arange(n) % 2
    x = torch.from_numpy(draw(kinds, resolution, rng)).unsqueeze(1).contiguous()
    return x, torch.from_numpy(kinds.astype(np.int64))


def load_shapes(split: str, resolution: int, n: int = 0) -> Dataset:
    """The `split` of the shapes dataset at `resolution` (>= 8): n images (0: SIZES[split])."""
    if split not in SIZES:
        raise DataError(f"data.split: must be 'train' or 'test', got {split!r}")
    if resolution < 8:
        raise DataError(f"data.resolution: shapes are drawn at 8 pixels or more, got {resolution}")
    n = n or SIZES[split]
    x, y = _drawn(split, resolution, n)
    return Dataset(x=x.clone(), y=y.clone(), name="shapes", classes=list(CLASSES),
                   source=f"shapes: {n} squares and circles drawn at {resolution}x{resolution} ({split} split)")


def fill_ratio(x: torch.Tensor) -> torch.Tensor:
    """How much of its bounding box each image's shape fills: (N,) float; about 1 for a square, pi/4 ~
    0.785 for a disc. x: (N, 1, H, W) float in [-1, 1] (or uint8); the shape is the pixels above mid-grey.
    An image with nothing above mid-grey reads 0."""
    if x.dtype == torch.uint8:
        x = x.float() / 127.5 - 1
    on = (x[:, 0] > 0).float()                                       # (N, H, W)
    rows, cols = on.amax(dim=2), on.amax(dim=1)                      # (N, H), (N, W): lit rows / columns
    box = rows.sum(1) * cols.sum(1)
    return torch.where(box > 0, on.sum((1, 2)) / box.clamp_min(1), torch.zeros_like(box))


def classify(x: torch.Tensor) -> torch.Tensor:
    """The toy domain classifier: (N,) int64, 0 = square (fills > 0.89 of its box), 1 = circle (fills
    less; an empty image counts as neither and reads 2). Right on every image of this dataset's test split
    at 16, 28 and 32 px (squares fill >= 0.95 of their box, discs <= 0.88).
    """
    r = fill_ratio(x)
    return torch.where(r == 0, torch.full_like(r, 2), (r <= 0.89).to(r)).long()
