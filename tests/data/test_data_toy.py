"""Toy distributions: shapes, seeding, the published constants, balanced modes."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from gankit.config import DataConfig
from gankit.data import DataError, load_dataset, sample_shape, toy, toy_modes

TOYS = {"toy-gaussian": (1, 1), "toy-ring": (2, 8), "toy-grid": (2, 25)}  # name: (D, K)


@pytest.mark.parametrize("name", TOYS)
def test_shapes_dtypes_labels(name):
    d, k = TOYS[name]
    data = load_dataset(DataConfig(name=name, toy_samples=1000), seed=0)
    assert data.x.shape == (1000, d) and data.x.dtype == torch.float32
    assert data.y.shape == (1000,) and data.y.dtype == torch.int64
    assert data.classes == [f"mode {i}" for i in range(k)]
    assert 0 <= int(data.y.min()) and int(data.y.max()) < k
    assert not data.is_image and data.sample_shape == (d,) == sample_shape(DataConfig(name=name))


@pytest.mark.parametrize("name", TOYS)
def test_same_seed_same_points_other_seed_other_points(name):
    cfg = DataConfig(name=name, toy_samples=500)
    a, b, c = load_dataset(cfg, seed=3), load_dataset(cfg, seed=3), load_dataset(cfg, seed=4)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)


def test_gaussian_moments_match_the_constants():
    x = load_dataset(DataConfig(name="toy-gaussian", toy_samples=40000), seed=0).x[:, 0]
    assert toy.GAUSSIAN_MEAN == 4.0 and toy.GAUSSIAN_STD == 0.5
    assert abs(x.mean().item() - 4.0) < 0.02          # standard error 0.0025
    assert abs(x.std().item() - 0.5) < 0.02


@pytest.mark.parametrize("name", ["toy-ring", "toy-grid"])
def test_modes_are_balanced_and_points_sit_on_their_mode(name):
    n = 40000
    data = load_dataset(DataConfig(name=name, toy_samples=n), seed=1)
    centers, std = toy_modes(name)
    k = len(centers)
    counts = torch.bincount(data.y, minlength=k).float()
    assert (counts - n / k).abs().max() < 0.15 * n / k   # > 6 binomial standard deviations
    offsets = data.x - centers[data.y]
    # every point within 6 std of its own centre, and spread like an isotropic std Gaussian
    assert offsets.norm(dim=1).max() < 6 * std
    assert torch.allclose(offsets.std(dim=0), torch.full((2,), std), rtol=0.05)
    assert offsets.mean(dim=0).abs().max() < 0.05 * std   # standard error std / 200
    # the nearest centre of each point is its label (the modes are far apart relative to std)
    nearest = torch.cdist(data.x, centers).argmin(dim=1)
    assert torch.equal(nearest, data.y)


def test_ring_constants_follow_unrolled_gan_and_veegan():
    centers, std = toy_modes("toy-ring")
    assert std == 0.02 and centers.shape == (8, 2) and centers.dtype == torch.float32
    assert torch.allclose(centers.norm(dim=1), torch.full((8,), 2.0))
    angles = torch.atan2(centers[:, 1], centers[:, 0]).double()
    expected = torch.tensor([2 * math.pi * i / 8 for i in range(8)], dtype=torch.float64)
    assert torch.allclose(torch.remainder(angles, 2 * math.pi), expected, atol=1e-6)


def test_grid_constants_follow_veegan_and_pacgan():
    centers, std = toy_modes("toy-grid")
    assert std == 0.05 and centers.shape == (25, 2)
    expected = {(-4.0 + 2 * i, -4.0 + 2 * j) for i, j in itertools.product(range(5), range(5))}
    assert {tuple(c) for c in centers.tolist()} == expected
    assert centers[0].tolist() == [-4.0, -4.0] and centers[5 * 1 + 2].tolist() == [-2.0, 0.0]


def test_gaussian_modes_and_unknown_name():
    centers, std = toy_modes("toy-gaussian")
    assert centers.tolist() == [[4.0]] and std == 0.5
    with pytest.raises(DataError, match="toy-ring"):
        toy_modes("toy-spiral")


def test_limit_applies_to_toy_data():
    data = load_dataset(DataConfig(name="toy-ring", toy_samples=100, limit=10), seed=0)
    full = load_dataset(DataConfig(name="toy-ring", toy_samples=100), seed=0)
    assert torch.equal(data.x, full.x[:10]) and torch.equal(data.y, full.y[:10])
