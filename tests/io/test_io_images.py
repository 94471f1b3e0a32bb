"""Image writing: pictures Pillow would not open again are refused before drawing, output
folders are checked before anything is computed for them, errors name the path."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.io import images
from gankit.io.files import FileError
from gankit.io.images import ImageTooLarge, check_size, grid_shape, make_grid, prepare_dir, save_gif, save_png


def _lazy(height: int, width: int, channels: int = 1) -> np.ndarray:
    """A (height, width, channels) uint8 array that takes no memory: a refusal must not draw it."""
    return np.broadcast_to(np.zeros((1, 1, channels), np.uint8), (height, width, channels))


@pytest.fixture
def read_only(monkeypatch):
    """read_only(dir): creating anything under dir fails as on a read-only file system (EROFS);
    tests run as root, which permission bits do not stop."""
    def make(folder: Path) -> Path:
        folder = Path(folder)
        real_mkdir, real_open = os.mkdir, os.open

        def refuse(path):
            p = Path(os.fsdecode(path))
            if p == folder or folder in p.parents:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))

        def mkdir(path, *a, **k):
            refuse(path)
            return real_mkdir(path, *a, **k)

        def open_(path, flags, *a, **k):
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                refuse(path)
            return real_open(path, flags, *a, **k)
        monkeypatch.setattr(os, "mkdir", mkdir)
        monkeypatch.setattr(os, "open", open_)
        return folder
    return make


def test_grid_shape_is_the_shape_make_grid_draws():
    for n, nrow in ((1, None), (7, None), (64, None), (10, 3), (5, 5)):
        grid = make_grid(torch.zeros((n, 1, 6, 9), dtype=torch.uint8), nrow=nrow)
        assert grid.shape[:2] == grid_shape(n, 6, 9, nrow)


def test_a_png_pillow_would_not_open_is_refused_before_it_is_drawn(tmp_path):
    limit = Image.MAX_IMAGE_PIXELS
    side = int(limit ** 0.5) + 1  # just over the limit
    out = tmp_path / "big.png"
    with pytest.raises(ImageTooLarge) as e:
        save_png(_lazy(side, side), out)
    message = str(e.value)
    assert str(out) in message and ".npy/.npz" in message and "folder" in message and "megapixels" in message
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(ImageTooLarge):  # enlarging counts
        save_png(_lazy(side // 2 + 1, side // 2 + 1), out, scale=2)


def test_a_png_at_the_limit_opens_again(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40 * 50)  # keep the test small; same rule
    save_png(np.zeros((40, 50, 3), np.uint8), tmp_path / "ok.png")
    with Image.open(tmp_path / "ok.png") as img:
        img.load()
    with pytest.raises(ImageTooLarge, match="no.png: a 50x41 PNG"):
        save_png(np.zeros((41, 50, 3), np.uint8), tmp_path / "no.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # a process that lifted the limit writes anything
    check_size(tmp_path / "any.png", 10**6, 10**6)


def test_gif_frames_are_checked_too(tmp_path, monkeypatch):
    with pytest.raises(ImageTooLarge, match="interpolation.gif"):
        save_gif([_lazy(10_000, 10_000)], tmp_path / "interpolation.gif")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(ImageTooLarge, match="65535 pixels a side"):
        save_gif([_lazy(1, 70_000)], tmp_path / "wide.gif")
    assert list(tmp_path.iterdir()) == []


def test_prepare_dir_creates_nested_folders_and_names_what_is_in_the_way(tmp_path):
    assert prepare_dir(tmp_path / "a" / "b").is_dir()
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(FileError, match="f.txt: is a file, not a folder"):
        prepare_dir(tmp_path / "f.txt")
    with pytest.raises(FileError) as e:
        prepare_dir(tmp_path / "f.txt" / "sub")
    assert str(tmp_path / "f.txt" / "sub") in str(e.value) and "Errno" not in str(e.value)


def test_a_read_only_folder_is_one_line_naming_it(tmp_path, read_only):
    ro = read_only(tmp_path / "ro")
    for target in (ro, ro / "deeper"):
        with pytest.raises(FileError) as e:
            prepare_dir(target)
        assert str(e.value) == f"cannot write in {target}: Read-only file system"


def test_read_only_is_also_found_in_an_existing_folder(tmp_path, read_only):
    (tmp_path / "exists").mkdir()
    read_only(tmp_path / "exists")
    with pytest.raises(FileError, match="exists: Read-only file system"):
        prepare_dir(tmp_path / "exists")
    assert images.prepare_dir(tmp_path / "elsewhere").is_dir()
