"""Image folders: layouts, conversion to L/RGB, resize + crop, and hostile files."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import DataConfig
from gankit.data import DataError, check, folder, load_dataset


def _save(path: Path, img: Image.Image, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)
    return path


def _solid(color, size=(12, 12), mode="RGB") -> Image.Image:
    return Image.new(mode, size, color)


def _load(path, channels=3, resolution=8, limit=0):
    return load_dataset(DataConfig(name="folder", path=str(path), channels=channels,
                                   resolution=resolution, limit=limit))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims width x height 8-bit grey pixels (the data is a stub)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\0" * 16)) + _png_chunk(b"IEND", b""))


# ---------------------------------------------------------------------------
# layouts


def test_class_subfolders_give_sorted_classes_and_matching_labels(tmp_path):
    colors = {"dog": (0, 0, 255), "cat": (255, 0, 0), "bird": (0, 255, 0)}
    for name, color in colors.items():
        for i in range(2 if name != "cat" else 3):
            _save(tmp_path / name / f"{i}.png", _solid(color))
    _save(tmp_path / "bird" / "nested" / "deep.jpg", _solid(colors["bird"]), quality=95)

    data = _load(tmp_path)

    assert data.classes == ["bird", "cat", "dog"]
    assert torch.bincount(data.y).tolist() == [3, 3, 2]
    assert data.x.shape == (8, 3, 8, 8) and data.x.dtype == torch.uint8
    for img, label in zip(data.x, data.y.tolist()):
        expected = torch.tensor(colors[data.classes[label]], dtype=torch.float32)
        assert (img.float().mean(dim=(1, 2)) - expected).abs().max() < 3  # JPEG is near, PNG exact


def test_top_level_images_are_unlabeled(tmp_path):
    for i in range(3):
        _save(tmp_path / f"img{i}.png", _solid((i * 50, 0, 0)))
    data = _load(tmp_path)
    assert data.y is None and data.classes == [] and len(data) == 3
    assert data.x[:, 0, 0, 0].tolist() == [0, 50, 100]  # sorted by name
    assert "3 images (unlabeled)" in check(DataConfig(name="folder", path=str(tmp_path)))


def test_mixing_top_level_images_and_class_folders_is_an_error(tmp_path):
    _save(tmp_path / "stray.png", _solid(0))
    _save(tmp_path / "a" / "x.png", _solid(0))
    with pytest.raises(DataError, match="top level"):
        _load(tmp_path)


def test_only_allowed_extensions_and_no_hidden_files_are_opened(tmp_path):
    _save(tmp_path / "good.png", _solid((9, 9, 9)))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "anim.gif").write_bytes(b"garbage that would fail to decode")
    (tmp_path / "._good.png").write_bytes(b"\0\5\26\7 macOS resource fork")
    data = _load(tmp_path)
    assert len(data) == 1 and data.x[0, 0, 0, 0] == 9


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "no images"),
    (lambda p: (p / "readme.txt").write_text("hi"), "no images"),
    (lambda p: (p / "empty_class").mkdir(), "no images"),
])
def test_folders_without_images(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(DataError, match=message) as e:
        _load(tmp_path)
    assert str(tmp_path) in str(e.value)


def test_missing_folder_and_missing_path(tmp_path):
    with pytest.raises(DataError, match="does not exist") as e:
        _load(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(e.value)
    with pytest.raises(DataError, match="data.path"):
        _load("")
    with pytest.raises(DataError, match="does not exist"):
        check(DataConfig(name="folder", path=str(tmp_path / "nope")))


def test_limit_reads_only_the_first_files(tmp_path):
    for i in range(3):
        _save(tmp_path / f"{i}.png", _solid((i, i, i)))
    (tmp_path / "9_broken.png").write_bytes(b"")  # sorted last, never opened
    data = _load(tmp_path, limit=2)
    assert len(data) == 2 and data.x[:, 0, 0, 0].tolist() == [0, 1]


# ---------------------------------------------------------------------------
# pixels


def test_resize_shorter_side_then_centre_crop(tmp_path):
    wide = np.zeros((20, 60), dtype=np.uint8)
    wide[:, 20:40] = 255                      # a white middle third on black
    _save(tmp_path / "wide.png", Image.fromarray(wide))
    tall = np.zeros((60, 20), dtype=np.uint8)
    tall[20:40, :] = 255
    _save(tmp_path / "tall.png", Image.fromarray(tall))

    data = _load(tmp_path, channels=1, resolution=10)

    assert data.x.shape == (2, 1, 10, 10)
    # the crop keeps only the white middle; Lanczos may ring a little at the cut edges
    for img in data.x[:, 0]:
        assert img[2:8, 2:8].min() >= 250 and img.float().mean() > 230


def test_upscaling_small_images(tmp_path):
    _save(tmp_path / "small.png", _solid((10, 20, 30), size=(3, 5)))
    data = _load(tmp_path, channels=3, resolution=16)
    assert data.x.shape == (1, 3, 16, 16)
    assert data.x[0, :, 8, 8].tolist() == [10, 20, 30]


def test_rgb_to_grey_uses_luminance_and_grey_to_rgb_repeats(tmp_path):
    _save(tmp_path / "rgb" / "red.png", _solid((255, 0, 0)))
    _save(tmp_path / "grey" / "g.png", _solid(77, mode="L"))
    grey = _load(tmp_path, channels=1)
    rgb = _load(tmp_path, channels=3)
    assert grey.x.shape[1] == 1 and rgb.x.shape[1] == 3
    idx_rgb, idx_grey = grey.classes.index("rgb"), grey.classes.index("grey")
    assert grey.x[idx_rgb].unique().tolist() == [76]           # 0.299 * 255
    assert rgb.x[idx_grey].unique().tolist() == [77]           # all three channels equal
    assert rgb.x[idx_rgb, 0].unique().tolist() == [255] and rgb.x[idx_rgb, 1:].max() == 0


def test_transparency_is_composited_on_white(tmp_path):
    _save(tmp_path / "clear.png", _solid((0, 0, 0, 0), mode="RGBA"))
    _save(tmp_path / "half.png", _solid((255, 0, 0, 128), mode="RGBA"))
    _save(tmp_path / "la.png", _solid((0, 0), mode="LA"))
    pal = _solid(0, mode="P")
    pal.putpalette([0, 0, 0] * 256)
    _save(tmp_path / "pal.png", pal, transparency=0)
    data = _load(tmp_path, channels=3)
    by_name = dict(zip(["clear", "half", "la", "pal"], data.x))
    assert by_name["clear"].unique().tolist() == [255]
    assert by_name["la"].unique().tolist() == [255]
    assert by_name["pal"].unique().tolist() == [255]
    assert by_name["half"][:, 4, 4].tolist() == [255, 127, 127]  # red at alpha 128/255 over white


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    arr = np.array([[0, 257 * 128], [65535, 65535]], dtype=np.uint16).repeat(4, 0).repeat(4, 1)
    img = Image.fromarray(arr)
    assert img.mode.startswith("I")
    _save(tmp_path / "deep.png", img)
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")   # really stored as 16 bits
    data = _load(tmp_path, channels=1, resolution=8)
    x = data.x[0, 0]
    assert x[0, 0] == 0 and x[0, 7] == 128 and x[7, 0] == 255


def test_cmyk_jpeg_is_converted(tmp_path):
    _save(tmp_path / "print.jpg", _solid((255, 0, 0, 0), mode="CMYK"), quality=95)  # cyan ink only
    data = _load(tmp_path, channels=3)
    r, g, b = data.x[0].float().mean(dim=(1, 2)).tolist()
    assert r < 20 and g > 235 and b > 235


# ---------------------------------------------------------------------------
# hostile files


def test_unreadable_files_are_all_named(tmp_path):
    _save(tmp_path / "ok.png", _solid(1))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("I am not a PNG, just a note with the wrong name")
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(DataError) as e:
        _load(tmp_path)
    msg = str(e.value)
    assert "3 unreadable" in msg and "\n" not in msg
    for name in ("empty.png", "text.png", "cut.png"):
        assert name in msg
    assert "ok.png" not in msg and "empty file" in msg


def test_many_bad_files_name_five_and_count_the_rest(tmp_path):
    for i in range(8):
        (tmp_path / f"bad{i}.jpg").write_bytes(b"nope")
    with pytest.raises(DataError) as e:
        _load(tmp_path)
    msg = str(e.value)
    assert "8 unreadable" in msg and "and 3 more" in msg
    assert sum(f"bad{i}.jpg" in msg for i in range(8)) == 5


@pytest.mark.parametrize("side", [100_000, 9_000])  # far over the limit / just over it (a warning in Pillow)
def test_decompression_bomb_header_is_rejected_fast(tmp_path, side):
    _save(tmp_path / "ok.png", _solid(1))
    (tmp_path / "bomb.png").write_bytes(_png_header_only(side, side))
    saved = Image.MAX_IMAGE_PIXELS
    start = time.perf_counter()
    with pytest.raises(DataError) as e:
        _load(tmp_path)
    assert time.perf_counter() - start < 2.0
    assert "bomb.png" in str(e.value) and "megapixels" in str(e.value)
    assert Image.MAX_IMAGE_PIXELS == saved  # Pillow's global setting is left as found


def test_progress_bar_only_for_many_files(tmp_path, monkeypatch, capsys):
    for i in range(3):
        _save(tmp_path / f"{i}.png", _solid(i))
    _load(tmp_path)
    assert "reading" not in capsys.readouterr().err
    monkeypatch.setattr(folder, "PROGRESS_MIN_FILES", 2)
    _load(tmp_path)
    assert "reading" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# symbolic links: the folder is never left, no file is read twice


def _photos(tmp_path: Path, n: int = 2) -> Path:
    """tmp_path/photos with n images, and an image beside it that must never be read."""
    for i in range(n):
        _save(tmp_path / "photos" / f"{i}.png", _solid((i, i, i)))
    _save(tmp_path / "outside.png", _solid((200, 0, 0)))
    return tmp_path / "photos"


def test_a_link_to_the_parent_is_not_followed_and_is_named(tmp_path, capsys):
    photos = _photos(tmp_path)
    _save(tmp_path / "other" / "x.png", _solid(7))
    (photos / "loop").symlink_to("..")
    files, labels, classes, left_out = folder.scan(photos)
    assert [p.name for p in files] == ["0.png", "1.png"] and labels is None
    assert left_out == [f"loop (a link leading outside the folder, to {tmp_path})"]
    described = check(DataConfig(name="folder", path=str(photos)))
    assert "2 images (unlabeled)" in described and "left out 1 path(s): loop (a link leading outside" in described
    assert len(_load(photos)) == 2
    assert "left out 1 path(s): loop (a link leading outside" in capsys.readouterr().err


def test_a_link_loop_inside_reads_each_file_once(tmp_path):
    photos = tmp_path / "photos"
    _save(photos / "cats" / "a.png", _solid(1))
    _save(photos / "cats" / "deep" / "b.png", _solid(2))
    (photos / "cats" / "deep" / "up").symlink_to("..")  # cats/deep/up -> cats: a loop
    (photos / "cats" / "self").symlink_to(".")
    files, labels, classes, left_out = folder.scan(photos)
    assert [str(p.relative_to(photos)) for p in files] == ["cats/a.png", "cats/deep/b.png"]
    assert classes == ["cats"] and sorted(s.split()[0] for s in left_out) == ["cats/deep/up", "cats/self"]
    assert all("a link to a folder read already: cats" in s for s in left_out)


def test_a_link_to_an_outside_file_is_not_read(tmp_path):
    photos = _photos(tmp_path)
    (photos / "z.png").symlink_to(tmp_path / "outside.png")
    (photos / "notes.txt").symlink_to(tmp_path / "outside.png")  # not an image by name: ignored
    data = _load(photos)
    assert len(data) == 2 and data.x[:, 0].amax().item() < 200
    left_out = folder.scan(photos).left_out
    assert len(left_out) == 1 and left_out[0].startswith("z.png (a link leading outside the folder")


def test_links_inside_are_followed_once(tmp_path):
    photos = tmp_path / "photos"
    _save(photos / "cats" / "a.png", _solid(1))
    _save(photos / "dogs" / "b.png", _solid(2))
    _save(photos / ".store" / "c.png", _solid(3))  # hidden: read only through a link
    (photos / "cats" / "alias.png").symlink_to("a.png")  # a second name for a file counted
    (photos / "cats" / "more").symlink_to("../.store")  # a folder inside, not read otherwise
    (photos / "dogs" / "cats").symlink_to("../cats")  # a folder read already
    (photos / "dogs" / "gone.png").symlink_to("nowhere.png")
    files, labels, classes, left_out = folder.scan(photos)
    assert [str(p.relative_to(photos)) for p in files] == ["cats/a.png", "cats/more/c.png", "dogs/b.png"]
    assert labels == [0, 0, 1] and classes == ["cats", "dogs"]
    assert sorted(left_out) == ["cats/alias.png (a link to cats/a.png, read already)",
                                "dogs/cats (a link to a folder read already: cats)", "dogs/gone.png (a broken link)"]
    assert len(_load(photos)) == 3


def test_a_linked_root_is_read(tmp_path):
    photos = _photos(tmp_path)
    (tmp_path / "link").symlink_to(photos)
    assert [p.name for p in folder.scan(tmp_path / "link").files] == ["0.png", "1.png"]
    assert folder.scan(tmp_path / "link").left_out == []


def test_a_sub_folder_that_cannot_be_read_is_left_out_and_named(tmp_path, monkeypatch):
    photos = _photos(tmp_path)
    (photos / "locked").mkdir()
    real_iterdir = Path.iterdir

    def iterdir(self):  # root ignores permission bits, so refuse as a non-root user would be refused
        if self.name in ("locked", "photos-locked"):
            raise PermissionError(13, "Permission denied", str(self))
        return real_iterdir(self)
    monkeypatch.setattr(Path, "iterdir", iterdir)
    scanned = folder.scan(photos)
    assert len(scanned.files) == 2 and scanned.left_out == ["locked/ (a folder that cannot be read: Permission denied)"]
    (tmp_path / "photos-locked").mkdir()
    with pytest.raises(DataError, match="cannot read the image folder .*Permission denied"):
        folder.scan(tmp_path / "photos-locked")
