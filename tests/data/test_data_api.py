"""The gankit.data front door: registry, load_dataset post-processing, check, conversions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gankit.config import DataConfig
from gankit.data import (DATASETS, DataError, Dataset, check, load_dataset, sample_shape,
                         to_float, to_uint8)
from gankit.data.transforms import convert_channels


def test_registry_names():
    assert set(DATASETS) == {"fashion-mnist", "mnist", "cifar10", "folder", "toy-gaussian", "toy-ring", "toy-grid",
                             "lfw-faces",
                             "stacked-fashion-mnist", "stacked-mnist", "photos", "shapes"}
    assert all(callable(f) for f in DATASETS.values())


# ---------------------------------------------------------------------------
# uint8 <-> [-1, 1]


def test_to_float_to_uint8_round_trip_is_exact_for_all_256_values():
    u = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    f = to_float(u)
    assert f.dtype == torch.float32 and f.shape == u.shape
    assert f.min().item() == -1.0 and f.max().item() == 1.0
    assert torch.all(f[..., 1:] > f[..., :-1])  # order preserved within rows
    back = to_uint8(f)
    assert back.dtype == torch.uint8 and torch.equal(back, u)


def test_to_uint8_clamps_rounds_and_handles_nan():
    x = torch.tensor([-3.0, -1.0, 0.0, 1.0, 2.0, float("nan"), 127.6 / 127.5 - 1, 127.4 / 127.5 - 1])
    assert to_uint8(x).tolist() == [0, 0, 128, 255, 255, 0, 128, 127]
    assert to_uint8(torch.zeros(2, dtype=torch.float16)).tolist() == [128, 128]


# ---------------------------------------------------------------------------
# load_dataset on IDX fixtures: limit, channels, resolution


def _idx_cfg(path, **kw):
    return DataConfig(name="fashion-mnist", path=str(path), **kw)


def test_limit_keeps_the_first_examples(tmp_path, write_idx):
    images, labels = write_idx(tmp_path, n=12)
    data = load_dataset(_idx_cfg(tmp_path, limit=5))
    assert len(data) == 5 and torch.equal(data.x[:, 0], torch.from_numpy(images[:5]))
    assert data.y.tolist() == labels[:5].tolist()
    assert len(load_dataset(_idx_cfg(tmp_path, limit=0))) == 12
    assert len(load_dataset(_idx_cfg(tmp_path, limit=100))) == 12


def test_channels_three_repeats_the_grey_channel(tmp_path, write_idx):
    images, _ = write_idx(tmp_path, n=4)
    data = load_dataset(_idx_cfg(tmp_path, channels=3))
    assert data.x.shape == (4, 3, 28, 28) and data.x.is_contiguous()
    for c in range(3):
        assert torch.equal(data.x[:, c], torch.from_numpy(images))
    assert data.sample_shape == sample_shape(_idx_cfg(tmp_path, channels=3))


@pytest.mark.parametrize("resolution", [14, 32, 64])
def test_resolution_is_antialiased_bilinear_rounded_to_uint8(tmp_path, write_idx, resolution):
    images, _ = write_idx(tmp_path, n=3)
    data = load_dataset(_idx_cfg(tmp_path, resolution=resolution))
    assert data.x.shape == (3, 1, resolution, resolution) and data.x.dtype == torch.uint8
    src = torch.from_numpy(images)[:, None].float()
    ref = F.interpolate(src, size=(resolution, resolution), mode="bilinear", align_corners=False,
                        antialias=True).round().clamp(0, 255).to(torch.uint8)
    assert torch.equal(data.x, ref)
    if resolution < 28:  # downscaling: antialiasing must actually have been used
        plain = F.interpolate(src, size=(resolution, resolution), mode="bilinear", align_corners=False)
        assert not torch.equal(data.x, plain.round().to(torch.uint8))


def test_resize_keeps_flat_images_flat_with_three_channels(tmp_path, write_idx):
    write_idx(tmp_path, n=2)
    data = load_dataset(_idx_cfg(tmp_path, resolution=32, channels=3))
    ref = load_dataset(_idx_cfg(tmp_path, resolution=32, channels=1))
    assert data.x.shape == (2, 3, 32, 32)
    assert all(torch.equal(data.x[:, c], ref.x[:, 0]) for c in range(3))


def test_rgb_to_grey_matches_pillow_luminance():
    rgb = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, 3, 16, 16), dtype=np.uint8))
    ours = convert_channels(rgb, 1)[0, 0].numpy().astype(int)
    pil = np.asarray(Image.fromarray(rgb[0].permute(1, 2, 0).numpy(), "RGB").convert("L")).astype(int)
    assert np.abs(ours - pil).max() <= 1
    pure = torch.tensor([[255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=torch.uint8).view(3, 3, 1, 1)
    assert convert_channels(pure, 1).flatten().tolist() == [76, 150, 29]


def test_loader_output_is_post_processed_whatever_the_loader_returns(monkeypatch):
    # A loader may return RGB at any size: load_dataset brings it to the config.
    rgb = torch.zeros((2, 3, 10, 10), dtype=torch.uint8)
    rgb[:, 1] = 255
    fake = lambda cfg, seed: Dataset(rgb, None, "folder", [], "fake")  # noqa: E731
    monkeypatch.setitem(DATASETS, "folder", fake)
    data = load_dataset(DataConfig(name="folder", path="x", channels=1, resolution=5))
    assert data.x.shape == (2, 1, 5, 5) and data.x.unique().tolist() == [150]


# ---------------------------------------------------------------------------
# errors, check, sample_shape


def test_unknown_name_lists_the_known_ones():
    for call in (load_dataset, check, sample_shape):
        with pytest.raises(DataError) as e:
            call(DataConfig(name="cifar-100"))
        assert "cifar-100" in str(e.value) and all(n in str(e.value) for n in DATASETS)


def test_check_raises_exactly_what_load_dataset_raises_when_missing():
    cfg = DataConfig(name="fashion-mnist")
    with pytest.raises(DataError) as from_check:
        check(cfg)
    with pytest.raises(DataError) as from_load:
        load_dataset(cfg)
    assert str(from_check.value) == str(from_load.value)
    assert "apt-get install dataset-fashion-mnist" in str(from_check.value)


def test_check_describes_the_source_and_reads_headers_only(tmp_path, write_idx, monkeypatch):
    write_idx(tmp_path / "data" / "mnist", split="test")
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "data"))
    cfg = DataConfig(name="mnist", split="test")
    assert check(cfg) == f"mnist test split from {tmp_path / 'data' / 'mnist'}"
    # a labels file where the images should be: caught by the header check
    images = tmp_path / "data" / "mnist" / "t10k-images-idx3-ubyte.gz"
    images.write_bytes((tmp_path / "data" / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    with pytest.raises(DataError, match="magic"):
        check(cfg)


def test_check_passes_toy_data_and_rejects_folder_without_path():
    assert "toy-grid" in check(DataConfig(name="toy-grid"))
    with pytest.raises(DataError, match="data.path"):
        check(DataConfig(name="folder"))


def test_sample_shape_without_reading_data():
    assert sample_shape(DataConfig()) == (1, 28, 28)
    assert sample_shape(DataConfig(name="folder", channels=3, resolution=64)) == (3, 64, 64)
    assert sample_shape(DataConfig(name="toy-gaussian", channels=3)) == (1,)
    assert sample_shape(DataConfig(name="toy-ring")) == (2,)
    assert sample_shape(DataConfig(name="toy-grid")) == (2,)


def test_dataset_properties():
    img = Dataset(torch.zeros(5, 1, 4, 4, dtype=torch.uint8), torch.zeros(5, dtype=torch.int64), "x", ["a"], "s")
    pts = Dataset(torch.zeros(7, 2), None, "y", [], "s")
    assert img.is_image and img.sample_shape == (1, 4, 4) and len(img) == 5
    assert not pts.is_image and pts.sample_shape == (2,) and len(pts) == 7
    assert "n=5" in repr(img)
    with pytest.raises(ValueError):
        Dataset(torch.zeros(5, 2), torch.zeros(4, dtype=torch.int64), "z", [], "s")
