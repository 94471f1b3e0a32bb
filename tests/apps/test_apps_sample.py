"""Sample and interpolation outputs: what --out names is what gets written, and whatever cannot be
written usefully is refused, naming the path, before a sample is drawn."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gankit.apps.interpolate import check_outputs, gif_scale, write_interpolation
from gankit.apps.sample import output_kind, write_samples
from gankit.config import ModelConfig
from gankit.io.files import FileError
from gankit.io.images import ImageTooLarge
from gankit.models import build


@pytest.fixture(scope="module")
def G():
    return build(ModelConfig(arch="dcgan", z_dim=8, width=8), (1, 28, 28), seed=0)[0]


@pytest.fixture
def no_sampling(G, monkeypatch):
    """G may not compute anything: the refusal must come first."""
    def refuse(*a, **k):
        raise AssertionError("sampled before the output was checked")
    monkeypatch.setattr(G, "sample", refuse)
    monkeypatch.setattr(G, "forward", refuse)
    return G


@pytest.mark.parametrize("out, kind", [("g.png", "png"), ("G.PNG", "png"), ("a.npy", "npy"), ("b.npz", "npz"),
                                       ("folder", "folder"), ("some/deep/folder", "folder")])
def test_output_kind_by_ending(out, kind):
    assert output_kind(out) == kind


def test_an_existing_folder_is_a_folder_whatever_its_name(tmp_path):
    (tmp_path / "v1.0").mkdir()
    assert output_kind(tmp_path / "v1.0") == "folder"


@pytest.mark.parametrize("name", ["x.jpg", "x.txt", "samples.tar.gz"])
def test_an_unknown_ending_is_refused_and_nothing_is_created(no_sampling, tmp_path, name):
    with pytest.raises(ValueError) as e:
        write_samples(no_sampling, 4, 0, tmp_path / name)
    message = str(e.value)
    assert str(tmp_path / name) in message and "unknown file extension" in message
    assert all(s in message for s in (".png", ".npy", ".npz", "folder")) and "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_a_grid_pillow_would_not_open_is_refused_before_sampling(no_sampling, tmp_path):
    with pytest.raises(ImageTooLarge) as e:
        write_samples(no_sampling, 200_000, 0, tmp_path / "big.png")
    assert str(tmp_path / "big.png") in str(e.value) and ".npy/.npz" in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_numpy_arrays_are_named_so(G, tmp_path):
    message = write_samples(G, 5, 3, tmp_path / "a.npy")
    assert message == f"wrote a numpy array uint8 (5, 1, 28, 28) (seed 3) to {tmp_path / 'a.npy'}"
    assert np.load(tmp_path / "a.npy").shape == (5, 1, 28, 28)
    message = write_samples(G, 5, 3, tmp_path / "b.npz")
    assert message.startswith('wrote a numpy array uint8 (5, 1, 28, 28) under the key "samples"')


def test_a_read_only_place_is_refused_before_sampling(no_sampling, tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    real_mkdir, real_open = os.mkdir, os.open

    def refuse(path):
        p = Path(os.fsdecode(path))
        if p == ro or ro in p.parents:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))
    monkeypatch.setattr(os, "mkdir", lambda p, *a, **k: (refuse(p), real_mkdir(p, *a, **k))[1])
    monkeypatch.setattr(os, "open", lambda p, f, *a, **k: (refuse(p), real_open(p, f, *a, **k))[1])
    for out in (ro / "x.png", ro / "x.npy", ro / "folder"):
        with pytest.raises(FileError) as e:
            write_samples(no_sampling, 4, 0, out)
        assert "Read-only file system" in str(e.value) and str(ro) in str(e.value) and "Errno" not in str(e.value)


def test_a_file_in_the_way_is_named(no_sampling, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileError, match="file: is a file, not a folder"):
        write_samples(no_sampling, 4, 0, tmp_path / "file")
    with pytest.raises(FileError, match="file"):
        write_samples(no_sampling, 4, 0, tmp_path / "file" / "g.png")


def test_toy_points_cannot_go_to_a_folder(tmp_path):
    toy = build(ModelConfig(arch="mlp", z_dim=2, width=8, depth=1), (2,), seed=0)[0]
    with pytest.raises(ValueError, match="toy samples are points"):
        write_samples(toy, 4, 0, tmp_path / "points")
    assert not (tmp_path / "points").exists()
    assert "numpy array float32 (4, 2)" in write_samples(toy, 4, 0, tmp_path / "p.npy")


# ---- interpolation


def test_interpolation_strips_pillow_would_not_open_are_refused_before_drawing(no_sampling, tmp_path):
    with pytest.raises(ImageTooLarge) as e:
        write_interpolation(no_sampling, [1, 2], 50_000, tmp_path / "interp")
    assert str(tmp_path / "interp" / "strip_1_2.png") in str(e.value) and "fewer steps" in str(e.value)
    assert not (tmp_path / "interp").exists()


def test_interpolation_writes_a_folder_only(no_sampling, tmp_path):
    with pytest.raises(ValueError, match="interp.gif: interpolation writes a folder"):
        write_interpolation(no_sampling, [1, 2], 4, tmp_path / "interp.gif")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "v1.0").mkdir()
    assert check_outputs(no_sampling, [1, 2], 4, tmp_path / "v1.0") == tmp_path / "v1.0"


def test_interpolation_into_a_file_is_one_line(no_sampling, tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(FileError, match="taken: is a file, not a folder"):
        write_interpolation(no_sampling, [1, 2], 4, tmp_path / "taken")


def test_gif_frames_are_enlarged_to_about_128_px_never_shrunk(G, tmp_path):
    assert [gif_scale(r) for r in (28, 32, 64, 128, 1024)] == [4, 4, 2, 1, 1]
    paths = write_interpolation(G, [1, 2], 3, tmp_path / "i")
    with Image.open(paths[-1]) as gif:
        assert gif.size == (112, 112)
