"""IDX reading and the search for MNIST / Fashion-MNIST files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.data import DataError, idx

# Read before any test patches it: the real search path, for the one test on real data.
REAL_SYSTEM_DIRS = dict(idx.SYSTEM_DIRS)


def _write(path: Path, data: bytes, gz: bool) -> Path:
    path = path.with_name(path.name + ".gz") if gz else path
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


# ---------------------------------------------------------------------------
# reading


@pytest.mark.parametrize("gz", [True, False])
def test_reads_images_and_labels_exactly(tmp_path, gz, idx_bytes, fixture_images):
    images = fixture_images(7, 5, 4)
    labels = np.array([3, 1, 4, 1, 5, 9, 2], dtype=np.uint8)
    ip = _write(tmp_path / "imgs", idx_bytes(idx.IMAGES_MAGIC, (7, 5, 4), images.tobytes()), gz)
    lp = _write(tmp_path / "labs", idx_bytes(idx.LABELS_MAGIC, (7,), labels.tobytes()), gz)

    x = idx.read_images(ip)
    y = idx.read_labels(lp)

    assert x.dtype == torch.uint8 and x.shape == (7, 1, 5, 4) and x.is_contiguous()
    assert torch.equal(x[:, 0], torch.from_numpy(images))
    assert y.dtype == torch.int64 and y.tolist() == labels.tolist()


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_payload_names_file_and_expected_size(tmp_path, gz, idx_bytes, fixture_images):
    images = fixture_images(3, 28, 28)
    data = idx_bytes(idx.IMAGES_MAGIC, (3, 28, 28), images.tobytes()[:-5])
    path = _write(tmp_path / "train-images-idx3-ubyte", data, gz)
    with pytest.raises(DataError) as e:
        idx.read_images(path)
    msg = str(e.value)
    assert str(path) in msg and "truncated" in msg and "2352" in msg and "2347" in msg


def test_overlong_payload_is_an_error(tmp_path, idx_bytes):
    data = idx_bytes(idx.LABELS_MAGIC, (4,), bytes([1, 2, 3, 4, 5]))
    path = _write(tmp_path / "labels", data, gz=False)
    with pytest.raises(DataError, match="overlong"):
        idx.read_labels(path)


def test_header_dims_that_do_not_match_the_payload(tmp_path, idx_bytes, fixture_images):
    # 3 images of 28x28 on disk, header claims 28x27: must not be silently reshaped.
    images = fixture_images(3, 28, 28)
    path = _write(tmp_path / "imgs", idx_bytes(idx.IMAGES_MAGIC, (3, 28, 27), images.tobytes()), gz=False)
    with pytest.raises(DataError, match=r"3x28x27"):
        idx.read_images(path)


def test_zero_dimension_is_an_error(tmp_path, idx_bytes):
    path = _write(tmp_path / "imgs", idx_bytes(idx.IMAGES_MAGIC, (0, 28, 28), b""), gz=False)
    with pytest.raises(DataError, match="empty dimension"):
        idx.read_images(path)


def test_truncated_header(tmp_path):
    path = _write(tmp_path / "imgs", struct.pack(">II", idx.IMAGES_MAGIC, 5), gz=False)
    with pytest.raises(DataError, match="header"):
        idx.read_images(path)


@pytest.mark.parametrize("magic", [idx.LABELS_MAGIC, 0x00000802, 0x1F8B0800])
def test_wrong_magic_is_rejected(tmp_path, magic, idx_bytes, fixture_images):
    images = fixture_images(2, 28, 28)
    path = _write(tmp_path / "imgs", idx_bytes(magic, (2, 28, 28), images.tobytes()), gz=True)
    with pytest.raises(DataError) as e:
        idx.read_images(path)
    assert f"0x{magic:08x}" in str(e.value) and "0x00000803" in str(e.value) and str(path) in str(e.value)


def test_labels_file_rejects_image_magic(tmp_path, idx_bytes):
    path = _write(tmp_path / "labs", idx_bytes(idx.IMAGES_MAGIC, (2, 1, 1), b"\0\0"), gz=False)
    with pytest.raises(DataError, match="0x00000801"):
        idx.read_labels(path)


def test_not_gzip_and_cut_off_gzip(tmp_path, idx_bytes, fixture_images):
    bogus = tmp_path / "train-images-idx3-ubyte.gz"
    bogus.write_bytes(b"this is not gzip at all")
    with pytest.raises(DataError, match="gzip") as e:
        idx.read_images(bogus)
    assert str(bogus) in str(e.value)

    good = gzip.compress(idx_bytes(idx.IMAGES_MAGIC, (2, 28, 28), fixture_images(2).tobytes()))
    bogus.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="gzip"):
        idx.read_images(bogus)


def test_label_count_mismatch(tmp_path, write_idx):
    write_idx(tmp_path, n=10, labels=np.arange(9) % 10)
    with pytest.raises(DataError) as e:
        idx.load_idx("fashion-mnist", tmp_path, "train")
    assert "10 images" in str(e.value) and "9 labels" in str(e.value)


def test_label_out_of_range(tmp_path, write_idx):
    write_idx(tmp_path, n=4, labels=np.array([0, 1, 10, 2]))
    with pytest.raises(DataError, match="label 10"):
        idx.load_idx("mnist", tmp_path, "train")


@pytest.mark.parametrize("split", ["train", "test"])
def test_load_idx_split_and_classes(tmp_path, write_idx, split):
    images, labels = write_idx(tmp_path, split=split, n=6, gz=False)
    data = idx.load_idx("fashion-mnist", tmp_path, split)
    assert data.x.shape == (6, 1, 28, 28) and torch.equal(data.x[:, 0], torch.from_numpy(images))
    assert data.y.tolist() == labels.tolist()
    assert data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"
    assert data.source.endswith(idx.FILES[split][0])


# ---------------------------------------------------------------------------
# search order


def test_search_order_path_env_cache_system(tmp_path, write_idx, monkeypatch, isolated_search):
    explicit, env, system = tmp_path / "explicit", tmp_path / "env", tmp_path / "system"
    cache = isolated_search / ".cache" / "gankit" / "fashion-mnist"
    for d in (explicit, env, cache, system):
        write_idx(d)
    monkeypatch.setenv("GANKIT_DATA", str(env))
    monkeypatch.setattr(idx, "SYSTEM_DIRS", {"fashion-mnist": system, "mnist": tmp_path / "none"})

    assert idx.find_idx_dir("fashion-mnist", explicit) == explicit
    assert idx.find_idx_dir("fashion-mnist", "") == env
    monkeypatch.delenv("GANKIT_DATA")
    assert idx.find_idx_dir("fashion-mnist", None) == cache
    for f in cache.iterdir():
        f.unlink()
    assert idx.find_idx_dir("fashion-mnist") == system


def test_env_may_hold_a_folder_per_dataset(tmp_path, write_idx, monkeypatch):
    write_idx(tmp_path / "mnist")
    write_idx(tmp_path / "fashion-mnist")
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path))
    assert idx.find_idx_dir("mnist") == tmp_path / "mnist"
    assert idx.find_idx_dir("fashion-mnist") == tmp_path / "fashion-mnist"


def test_explicit_path_without_files_does_not_fall_back(tmp_path, write_idx, monkeypatch):
    write_idx(tmp_path / "env")
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "env"))
    typo = tmp_path / "tpyo"
    with pytest.raises(DataError) as e:
        idx.find_idx_dir("fashion-mnist", typo)
    assert str(typo) in str(e.value) and "apt-get install dataset-fashion-mnist" in str(e.value)


def test_split_is_part_of_the_search(tmp_path, write_idx, monkeypatch):
    write_idx(tmp_path / "env", split="train")
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "env"))
    assert idx.find_idx_dir("fashion-mnist", split="train") == tmp_path / "env"
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte"):
        idx.find_idx_dir("fashion-mnist", split="test")


def test_not_found_message_lists_every_place_and_how_to_get_the_data(tmp_path, monkeypatch, isolated_search):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "mydata"))
    with pytest.raises(DataError) as e:
        idx.find_idx_dir("fashion-mnist", split="train")
    msg = str(e.value)
    for place in (tmp_path / "mydata", tmp_path / "mydata" / "fashion-mnist",
                  isolated_search / ".cache" / "gankit" / "fashion-mnist",
                  idx.SYSTEM_DIRS["fashion-mnist"]):
        assert str(place) in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    assert "~/.cache/gankit/fashion-mnist" in msg and "--data-dir" in msg
    assert "github.com/zalandoresearch/fashion-mnist" in msg
    assert "\n" not in msg


def test_not_found_without_env_says_it_is_unset():
    with pytest.raises(DataError) as e:
        idx.find_idx_dir("mnist")
    assert "$GANKIT_DATA (not set)" in str(e.value) and "apt-get" not in str(e.value)


# ---------------------------------------------------------------------------
# the real thing, where installed


@pytest.mark.skipif(not (REAL_SYSTEM_DIRS["fashion-mnist"] / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_from_the_system_dir(monkeypatch):
    monkeypatch.setattr(idx, "SYSTEM_DIRS", REAL_SYSTEM_DIRS)
    data = idx.load_idx("fashion-mnist", None, "train")
    assert data.x.shape == (60000, 1, 28, 28) and data.x.dtype == torch.uint8
    assert len(data.classes) == 10 and sorted(data.y.unique().tolist()) == list(range(10))
    assert torch.bincount(data.y).tolist() == [6000] * 10  # Fashion-MNIST is balanced
