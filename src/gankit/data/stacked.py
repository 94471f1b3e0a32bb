"""Stacked MNIST / Fashion-MNIST (Metz et al. 2017, as used by VEEGAN and PacGAN): three grey
images drawn at random become the R, G and B channels of one colour image. Its class is the
triple of their classes, so the data has 1000 equally likely modes: the standard test of
whether a GAN covers many modes at once.

x: uint8 (N, 3, 28, 28), N = the size of the base split; y: int64 100*a + 10*b + c where
a, b, c are the base classes of the R, G and B images. The triples are drawn from a generator
seeded by the split alone, so every run and every evaluation sees the same stacks.
"""

from __future__ import annotations

import torch

from gankit.data import idx
from gankit.data.dataset import DataError, Dataset

BASES = {"stacked-fashion-mnist": "fashion-mnist", "stacked-mnist": "mnist"}
SPLIT_SEEDS = {"train": 0, "test": 1}


def check_channels(name: str, channels: int) -> None:
    """Stacks are RGB by construction: any other data.channels is a DataError naming the fix."""
    if channels != 3:
        raise DataError(f"data.channels: {name} is a colour dataset (three stacked images); "
                        f"set data.channels = 3, got {channels}")


def load_stacked(name: str, path: str, split: str, channels: int) -> Dataset:
    check_channels(name, channels)
    base = idx.load_idx(BASES[name], path, split)
    if base.y is None:
        raise DataError(f"{name}: the {BASES[name]} labels are missing")
    n = len(base.x)
    g = torch.Generator().manual_seed(SPLIT_SEEDS[split])
    picks = torch.randint(n, (n, 3), generator=g)
    x = base.x[picks, 0]  # (n, 3, 28, 28): one grey image per channel
    y = (base.y[picks] * torch.tensor([100, 10, 1])).sum(dim=1)
    names = base.classes or [str(i) for i in range(10)]
    classes = [f"{names[a]}/{names[b]}/{names[c]}" for a in range(10) for b in range(10) for c in range(10)]
    return Dataset(x=x.contiguous(), y=y, name=name, classes=classes,
                   source=f"{base.source}, stacked in threes ({split} seed {SPLIT_SEEDS[split]})")
