"""Paired folders (A|B side by side, or A/ and B/), and the photos dataset."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gankit.config import DataConfig
from gankit.data import DataError, check, has_labels, load_dataset
from gankit.data.degrade import split_pair
from gankit.data.transforms import to_float


def _save(path, a):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)


def _pair(seed, h=20, w=20):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (h, w), dtype=np.uint8)
    return a, 255 - a


def cfg(path, **kw):
    return DataConfig(name="folder", path=str(path), task="paired", resolution=16, **kw)


def test_side_by_side_and_two_folders_load_the_same_pairs(tmp_path):
    for i in range(3):
        a, b = _pair(i)
        _save(tmp_path / "sbs" / f"{i}.png", np.concatenate([a, b], 1))
        _save(tmp_path / "ab" / "A" / f"{i}.png", a)
        _save(tmp_path / "ab" / "B" / f"{i}.jpg" if i == 0 else tmp_path / "ab" / "B" / f"{i}.png", b)
    one, two = load_dataset(cfg(tmp_path / "sbs")), load_dataset(cfg(tmp_path / "ab"))
    assert one.x.shape == two.x.shape == (3, 2, 16, 16)
    assert np.array_equal(one.x[1:].numpy(), two.x[1:].numpy())  # (0's B is a JPEG)
    a, b = split_pair(to_float(one.x), "AtoB")
    assert ((a + b).abs() < 1e-2).all()  # B = 255 - A
    assert "3 side-by-side pairs" in check(cfg(tmp_path / "sbs")) and not has_labels(cfg(tmp_path / "ab"))
    a2, b2 = split_pair(to_float(one.x), "BtoA")
    assert (a2 == b).all() and (b2 == a).all()


def test_split_subfolders_are_used(tmp_path):
    a, b = _pair(0)
    _save(tmp_path / "train" / "x.png", np.concatenate([a, b], 1))
    _save(tmp_path / "test" / "y.png", np.concatenate([b, a], 1))
    assert load_dataset(cfg(tmp_path)).x.shape[0] == 1
    assert "test" in load_dataset(cfg(tmp_path, split="test")).source


def test_bad_pairs_are_refused_naming_the_files(tmp_path):
    a, b = _pair(0)
    _save(tmp_path / "names" / "A" / "one.png", a)
    _save(tmp_path / "names" / "A" / "two.png", a)
    _save(tmp_path / "names" / "B" / "one.png", b)
    _save(tmp_path / "names" / "B" / "three.png", b)
    with pytest.raises(DataError, match=r"in A/ only: two.png; in B/ only: three.png"):
        load_dataset(cfg(tmp_path / "names"))
    _save(tmp_path / "sizes" / "A" / "p.png", a)
    _save(tmp_path / "sizes" / "B" / "p.png", b[:10])
    with pytest.raises(DataError, match=r"A/p.png is 20x20 but .*B/p.png is 20x10"):
        load_dataset(cfg(tmp_path / "sizes"))
    _save(tmp_path / "odd" / "q.png", np.concatenate([a, b[:, :5]], 1))
    with pytest.raises(DataError, match=r"q.png is 25 px wide, an odd width"):
        load_dataset(cfg(tmp_path / "odd"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="neither A/ and B/ folders nor"):
        check(cfg(tmp_path / "empty"))
    with pytest.raises(DataError, match="set data.name = folder"):
        load_dataset(DataConfig(task="paired"))


def test_paired_training_end_to_end(tmp_path):
    from gankit.apps.translate import load_translator
    from gankit.config import resolve
    from gankit.training.loop import train
    for i in range(8):
        a, b = _pair(i)
        _save(tmp_path / "pairs" / f"{i}.png", np.concatenate([a, b], 1))
    run = train(resolve(overrides=[{"out": str(tmp_path / "run"), "data": {"name": "folder", "task": "paired",
                "path": str(tmp_path / "pairs"), "resolution": 16}, "model": {"width": 4},
                "train": {"batch_size": 4, "kimg": 0.016, "threads": 1, "grid_size": 4}}]), progress=False)
    assert load_translator(run)(np.zeros((16, 16), np.uint8)).shape == (16, 16)


def test_photos_dataset():
    train = load_dataset(DataConfig(name="photos", channels=3, resolution=32, limit=20))
    assert train.x.shape == (20, 3, 32, 32) and train.y is None
    assert np.array_equal(train.x.numpy(), load_dataset(DataConfig(name="photos", channels=3, resolution=32,
                                                                       limit=20)).x.numpy())  # fixed patches
    grey = load_dataset(DataConfig(name="photos", channels=1, resolution=32, limit=4))
    assert grey.x.shape == (4, 1, 32, 32)
    test = load_dataset(DataConfig(name="photos", channels=3, resolution=128, split="test"))
    assert test.x.shape[1:] == (3, 128, 128) and len(test) >= 10
    from gankit.data.photos import HELD_OUT, TRAIN, held_out
    assert not set(TRAIN) & set(HELD_OUT) and [n for n, _ in held_out()] == ["chelsea", "rocket", "flower"]
    assert "3 held out" in check(DataConfig(name="photos")) and not has_labels(DataConfig(name="photos"))
