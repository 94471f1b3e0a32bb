"""lfw-faces: scikit-image's 100 LFW faces, split 80/20 for good, refused in one line without scikit-image."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from gankit.cli import main
from gankit.config import DataConfig
from gankit.data import DATASETS, DataError, check, has_labels, lfw, load_dataset

from helpers import needs_skimage





def _faces_uint8() -> np.ndarray:
    from skimage import data
    return np.round(np.asarray(data.lfw_subset())[:100] * 255).astype(np.uint8)


@needs_skimage
def test_registered_unlabelled_and_split_80_20_without_overlap():
    assert "lfw-faces" in DATASETS and not has_labels(DataConfig(name="lfw-faces"))
    train = lfw.load_lfw("train")
    test = lfw.load_lfw("test")
    assert train.x.shape == (80, 1, 25, 25) and test.x.shape == (20, 1, 25, 25)
    assert train.x.dtype == torch.uint8 and train.y is None and train.classes == []
    idx = lfw.split_indices()
    assert set(idx["train"].tolist()).isdisjoint(idx["test"].tolist())
    assert sorted(idx["train"].tolist() + idx["test"].tolist()) == list(range(100))
    # The split is the faces themselves (the first 100 images), in index order, fixed for good.
    faces = _faces_uint8()
    assert np.array_equal(train.x[:, 0].numpy(), faces[idx["train"].numpy()])
    assert np.array_equal(test.x[:, 0].numpy(), faces[idx["test"].numpy()])
    assert torch.equal(lfw.split_indices()["test"], idx["test"])


@needs_skimage
def test_only_faces_are_used_not_the_background_crops():
    from skimage import data
    every = np.asarray(data.lfw_subset())
    both = torch.cat([lfw.load_lfw("train").x, lfw.load_lfw("test").x])[:, 0].numpy()
    backgrounds = np.round(every[100:] * 255).astype(np.uint8)
    assert not any(np.array_equal(b, f) for b in backgrounds for f in both)


@needs_skimage
@pytest.mark.parametrize("resolution", [28, 32])
def test_load_dataset_resizes_antialiased(resolution):
    data = load_dataset(DataConfig(name="lfw-faces", resolution=resolution))
    assert data.x.shape == (80, 1, resolution, resolution) and data.x.dtype == torch.uint8
    ref = torch.nn.functional.interpolate(lfw.load_lfw("train").x.float(), size=(resolution, resolution),
                                          mode="bilinear", align_corners=False, antialias=True)
    assert torch.equal(data.x, ref.round().clamp(0, 255).to(torch.uint8))
    assert load_dataset(DataConfig(name="lfw-faces", split="test", channels=3)).x.shape == (20, 3, 28, 28)


@needs_skimage
def test_check_and_the_cli_say_where_the_faces_come_from(capsys):
    assert "80" in check(DataConfig(name="lfw-faces")) and "scikit-image" in check(DataConfig(name="lfw-faces"))
    assert main(["data", "check", "lfw-faces"]) == 0
    out = capsys.readouterr().out
    assert "lfw-faces train split: 80" in out and "1x28x28" in out


def test_without_scikit_image_one_line_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "skimage", None)  # import skimage now raises ImportError
    with pytest.raises(DataError, match=r"scikit-image is not installed: pip install 'gankit\[faces\]'"):
        load_dataset(DataConfig(name="lfw-faces"))
    assert main(["data", "check", "lfw-faces"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("gankit: error:") and "gankit[faces]" in err and "\n" not in err


@needs_skimage
def test_a_damaged_scikit_image_data_file_is_one_line(monkeypatch):
    from skimage import data

    def broken():
        raise OSError("lfw_subset.npy: unexpected end of file")
    monkeypatch.setattr(data, "lfw_subset", broken)
    with pytest.raises(DataError, match="could not read its lfw_subset data.*unexpected end"):
        lfw.load_lfw("train")
    monkeypatch.setattr(data, "lfw_subset", lambda: np.zeros((5, 25, 25)))
    with pytest.raises(DataError, match=r"returned shape \(5, 25, 25\)"):
        lfw.load_lfw("test")
