"""Stacked Fashion-MNIST: the data (three base images as RGB, the class triple as label) and its
1000-mode scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from gankit.config import DataConfig
from gankit.data import DataError, check, load_dataset, to_float
from gankit.evaluation import evaluate
from gankit.evaluation.stacked import mode_ids, score_ids


def _stacked(tiny_idx_dir, split="train", channels=3):
    return DataConfig(name="stacked-fashion-mnist", path=str(tiny_idx_dir), split=split, channels=channels)


def test_stacks_are_three_labelled_base_images(tiny_idx_dir):
    data = load_dataset(_stacked(tiny_idx_dir))
    base = load_dataset(DataConfig(name="fashion-mnist", path=str(tiny_idx_dir)))
    assert data.x.shape == (len(base), 3, 28, 28) and data.x.dtype == torch.uint8
    assert len(data.classes) == 1000 and int(data.y.min()) >= 0 and int(data.y.max()) < 1000
    label_of = {bytes(x.numpy()): int(y) for x, y in zip(base.x[:, 0], base.y)}
    for x, y in zip(data.x[:30], data.y[:30]):
        digits = [label_of[bytes(x[c].numpy())] for c in range(3)]  # every channel is a base image
        assert 100 * digits[0] + 10 * digits[1] + digits[2] == int(y)
    assert torch.equal(load_dataset(_stacked(tiny_idx_dir)).x, data.x)  # fixed stacks
    assert not torch.equal(load_dataset(_stacked(tiny_idx_dir, "test")).x[:5], data.x[:5])


def test_stacked_needs_three_channels(tiny_idx_dir):
    for fn in (check, load_dataset):
        with pytest.raises(DataError, match="set data.channels = 3"):
            fn(_stacked(tiny_idx_dir, channels=1))


def test_score_ids_counts_modes_and_kl():
    uniform = score_ids(np.arange(1000).repeat(3))
    assert uniform["modes"] == 1000 and uniform["reverse_kl"] == pytest.approx(0.0, abs=1e-12)
    one = score_ids(np.full(50, 7))
    assert one["modes"] == 1 and one["reverse_kl"] == pytest.approx(math.log(1000))
    half = score_ids(np.arange(500))
    assert half["modes"] == 500 and half["reverse_kl"] == pytest.approx(math.log(2))


class _Brightness(nn.Module):
    """A stand-in classifier: the class is the image's mean level in tenths of [-1, 1]."""

    def logits(self, x):
        digit = ((x.mean(dim=(1, 2, 3)) + 1) / 2 * 9).round().long()
        return torch.nn.functional.one_hot(digit, 10).float()


def test_mode_ids_read_each_channel_in_rgb_order():
    levels = torch.tensor([[2, 5, 9], [0, 0, 1], [9, 9, 9]])
    images = torch.empty(3, 3, 8, 8)
    for i, row in enumerate(levels):
        for c, d in enumerate(row):
            images[i, c] = d / 9 * 2 - 1
    assert mode_ids(images, _Brightness()).tolist() == [259, 1, 999]
    with pytest.raises(Exception, match=r"must be \(N, 3, H, W\)"):
        mode_ids(images[:, :1], _Brightness())


def test_evaluate_routes_stacked_data_and_real_stacks_score_the_floor(tiny_idx_dir, fitted, replay):
    cfg = _stacked(tiny_idx_dir)
    test = load_dataset(_stacked(tiny_idx_dir, "test"))
    r = evaluate(replay(to_float(test.x)), num=len(test), data_cfg=cfg)
    assert r["kind"] == "stacked" and set(r["metrics"]) == {"modes", "reverse_kl"}
    for m in r["metrics"].values():
        assert m["value"] == pytest.approx(m["floor"])
    assert r["metrics"]["modes"]["of"] == 1000
    collapsed = evaluate(replay(to_float(test.x[:1].repeat(64, 1, 1, 1))), num=64, data_cfg=cfg)
    assert collapsed["metrics"]["modes"]["value"] == 1
    assert collapsed["metrics"]["reverse_kl"]["value"] == pytest.approx(math.log(1000))


def test_the_real_stacks_floor_is_cached(tiny_idx_dir, fitted, replay, eval_cache, monkeypatch):
    from gankit.evaluation import stacked
    cfg = _stacked(tiny_idx_dir)
    G = replay(to_float(load_dataset(_stacked(tiny_idx_dir, "test")).x))
    first = evaluate(G, num=64, data_cfg=cfg)
    assert list((eval_cache / "features" / "real").glob("*stacked-modes*.npz"))
    calls = []
    real_mode_ids = stacked.mode_ids
    monkeypatch.setattr(stacked, "mode_ids", lambda images, *a, **k: calls.append(len(images))
                        or real_mode_ids(images, *a, **k))
    again = evaluate(G, num=64, data_cfg=cfg)
    assert calls == [64]  # only the samples are classified; the test stacks' modes come from the cache
    assert again["metrics"] == first["metrics"]
