"""The toy `shapes` dataset: squares and circles, balanced, fixed per split, of equal area."""

import numpy as np
import pytest

from gankit.data import DataError
from gankit.data.shapes import CLASSES, draw, load_shapes


def test_balanced_fixed_and_in_range():
    d = load_shapes("train", 16, n=64)
    assert d.x.shape == (64, 1, 16, 16) and d.x.dtype.is_floating_point is False
    assert d.classes == CLASSES == ["square", "circle"]
    assert d.y.tolist() == [0, 1] * 32
    again = load_shapes("train", 16, n=64)
    assert (d.x == again.x).all()
    assert not (load_shapes("test", 16, n=64).x == d.x).all()


def test_equal_area_and_different_outlines():
    rng = np.random.default_rng(0)
    sq = draw(np.zeros(200, int), 32, rng).astype(float)
    ci = draw(np.ones(200, int), 32, np.random.default_rng(0)).astype(float)
    # the same size draws: areas agree within anti-aliasing, outlines differ (a corner is lit only in squares)
    assert abs(sq.sum() / ci.sum() - 1) < 0.02
    assert (np.abs(sq - ci).sum(axis=(1, 2)) > 0).all()


def test_bad_split_or_size():
    with pytest.raises(DataError, match="data.split"):
        load_shapes("val", 16)
    with pytest.raises(DataError, match="data.resolution"):
        load_shapes("train", 4)
