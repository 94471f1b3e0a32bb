"""Hostile data (issue 5): image folders validated before training, bad files skipped only when
asked and only up to a maximum fraction, decompression bombs and disguised formats refused,
IDX and CIFAR-10 files with wrong magic, lengths or truncation refused, and CIFAR python
batches read without unpickling arbitrary objects."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import resource
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from gankit import config as C
from gankit.cli import main
from gankit.config import DataConfig
from gankit.data import DATASETS, DataError, check, cifar, idx, load_dataset


# ---------------------------------------------------------------------------
# image folders


def _img(path: Path, mode="RGB", size=(12, 12), color=None, fmt=None, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "I;16":
        img = Image.fromarray(np.full(size[::-1], 40000, dtype=np.uint16))
    else:
        default = 0 if mode in ("L", "P", "I") else (9,) * len(mode)
        img = Image.new(mode, size, color if color is not None else default)
    img.save(path, fmt, **kw)
    return path


def _folder(path, channels=3, resolution=8, **kw):
    return load_dataset(DataConfig(name="folder", path=str(path), channels=channels, resolution=resolution, **kw))


def _jpeg_bytes(size=(64, 64)) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "no images"),
    (lambda p: (p / "notes.txt").write_text("hello"), "no images"),
    (lambda p: (p / "cls").mkdir(), "no images"),
])
def test_folders_without_images_are_refused_before_training(tmp_path, setup, message):
    setup(tmp_path)
    for call in (lambda: check(DataConfig(name="folder", path=str(tmp_path))), lambda: _folder(tmp_path)):
        with pytest.raises(DataError, match=message) as e:
            call()
        assert str(tmp_path) in str(e.value)


def test_bad_files_are_all_named(tmp_path):
    _img(tmp_path / "good.png")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "note.png").write_text("just text with the wrong name")
    (tmp_path / "cut.jpg").write_bytes(_jpeg_bytes()[:400])
    with pytest.raises(DataError) as e:
        _folder(tmp_path)
    msg = str(e.value)
    assert "3 unreadable image file(s)" in msg and "\n" not in msg and "good.png" not in msg
    assert "empty.png (empty file)" in msg and "note.png (not an image" in msg and "cut.jpg" in msg
    assert "skip_bad_files" in msg  # says how to go on anyway


def test_truncated_images_fail_even_if_pillow_was_told_to_accept_them(tmp_path, monkeypatch):
    (tmp_path / "cut.jpg").write_bytes(_jpeg_bytes()[:-200])
    _img(tmp_path / "good.png")
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # global state some other library set
    with pytest.raises(DataError, match="cut.jpg"):
        _folder(tmp_path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # and left as found


def test_mixed_modes_and_sizes_are_converted_with_a_counted_note(tmp_path, capsys):
    _img(tmp_path / "a_rgb.png", size=(8, 8))
    _img(tmp_path / "b_rgba.png", "RGBA", size=(20, 10))
    _img(tmp_path / "c_cmyk.jpg", "CMYK", size=(8, 8))
    _img(tmp_path / "d_deep.png", "I;16", size=(16, 16))
    _img(tmp_path / "e_grey.png", "L", size=(8, 8))
    data = _folder(tmp_path, channels=3, resolution=8)
    assert data.x.shape == (5, 3, 8, 8) and data.x.dtype == torch.uint8
    note = capsys.readouterr().err
    assert note.count("\n") == 1 and note.startswith(f"note: {tmp_path}")
    assert "converted 4 image(s) to RGB (1 CMYK, 1 I;16, 1 L, 1 RGBA)" in note
    assert "resized/cropped 2 image(s) to 8x8" in note


def test_only_allow_listed_formats_are_opened_whatever_the_name(tmp_path):
    for name, fmt in (("tiff.png", "TIFF"), ("gif.jpg", "GIF"), ("ico.bmp", "ICO")):
        _img(tmp_path / name, size=(16, 16), fmt=fmt)
    (tmp_path / "eps.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n")
    _img(tmp_path / "real.png")
    (tmp_path / "skipped.gif").write_bytes(b"GIF89a")  # not an allowed extension: never even opened
    assert Image.open(tmp_path / "tiff.png").format == "TIFF"  # Pillow alone would happily decode it
    with pytest.raises(DataError) as e:
        _folder(tmp_path)
    msg = str(e.value)
    assert "4 unreadable" in msg and "skipped.gif" not in msg
    for name in ("tiff.png", "gif.jpg", "ico.bmp", "eps.png"):
        assert f"{name} (not an image of an allowed format (PNG, JPEG, BMP, WEBP))" in msg


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(_jpeg_bytes((8, 8)))
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize("make, name", [(_png_claiming, "bomb.png"), (_jpeg_claiming, "bomb.jpg")])
def test_decompression_bombs_are_refused_fast_and_small(tmp_path, make, name):
    _img(tmp_path / "ok.png")
    (tmp_path / name).write_bytes(make(60_000, 60_000))  # 3.6 gigapixels, ~11 GB decoded
    saved = Image.MAX_IMAGE_PIXELS
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(DataError) as e:
        _folder(tmp_path)
    assert time.perf_counter() - start < 2.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 100 * 1024  # KiB: under 100 MB more
    assert name in str(e.value) and "megapixels" in str(e.value)
    assert Image.MAX_IMAGE_PIXELS == saved


def test_skip_bad_files_skips_counts_and_keeps_labels_aligned(tmp_path, capsys):
    for cls, color in (("a", (10, 10, 10)), ("b", (200, 200, 200))):
        for i in range(5):
            _img(tmp_path / cls / f"{i}.png", color=color)
    (tmp_path / "a" / "9_bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="9_bad.png"):
        _folder(tmp_path)
    data = _folder(tmp_path, skip_bad_files=True, max_bad_fraction=0.1)
    assert len(data) == 10 and data.y.tolist() == [0] * 5 + [1] * 5
    assert data.x[data.y == 0].max() == 10 and data.x[data.y == 1].min() == 200  # labels follow their images
    note = capsys.readouterr().err
    assert "skipped 1 unreadable file(s) of 11: a/9_bad.png" in note and "skipped" in data.source
    (tmp_path / "b" / "9_bad.jpg").write_bytes(b"")
    with pytest.raises(DataError) as e:  # 2 of 12 = 17% > 10%
        _folder(tmp_path, skip_bad_files=True, max_bad_fraction=0.1)
    assert "2 of 12" in str(e.value) and "data.max_bad_fraction = 0.1" in str(e.value)
    assert len(_folder(tmp_path, skip_bad_files=True, max_bad_fraction=0.2)) == 10


def test_skip_bad_files_never_returns_an_empty_dataset(tmp_path):
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match="1 of 1"):
        _folder(tmp_path, skip_bad_files=True, max_bad_fraction=1.0)


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
def test_max_bad_fraction_is_validated(value):
    with pytest.raises(C.ConfigError, match="data.max_bad_fraction"):
        C.resolve(overrides=[{"data": {"max_bad_fraction": value}, "train": {"kimg": 1.0}}])
    defaults = C.DataConfig()
    assert defaults.skip_bad_files is False and defaults.max_bad_fraction == 0.1


def _folder_run(tmp_path, *overrides):
    images = tmp_path / "imgs"
    for i in range(24):
        _img(images / f"{i:02d}.png", color=(i * 10, 0, 0))
    (images / "zz_bad.png").write_text("not a png")
    return C.resolve(overrides=[{
        "out": str(tmp_path / "run"), "data": {"name": "folder", "path": str(images), "resolution": 8, "channels": 3},
        "model": {"arch": "dcgan", "width": 4, "z_dim": 4},
        "train": {"kimg": 0.032, "batch_size": 8, "threads": 1, "grid_size": 4}}, *overrides])


def test_a_bad_folder_stops_training_before_it_starts(tmp_path):
    from gankit.training.loop import train
    cfg = _folder_run(tmp_path)
    with pytest.raises(DataError, match="zz_bad.png"):
        train(cfg, progress=False)
    run = tmp_path / "run"
    assert not run.exists() or not any(run.rglob("*"))  # nothing that could count as a run
    # The same folder with data.skip_bad_files trains (the config field reaches the reader).
    cfg = _folder_run(tmp_path, "data.skip_bad_files=true", "data.max_bad_fraction=0.05", f"out={tmp_path / 'ok'}")
    assert (train(cfg, progress=False) / "generator" / "model.safetensors").is_file()


def test_a_retry_after_fixing_the_data_is_not_blocked(tmp_path):
    from gankit.training.loop import train
    cfg = _folder_run(tmp_path)
    with pytest.raises(DataError):
        train(cfg, progress=False)
    (Path(cfg.data.path) / "zz_bad.png").unlink()
    train(cfg, progress=False)


# ---------------------------------------------------------------------------
# IDX


def _idx(magic, dims, payload: bytes) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + payload


@pytest.mark.parametrize("data, message", [
    (_idx(0x0803, (2, 4, 4), bytes(32))[:10], "truncated IDX header"),
    (_idx(0x0801, (2, 4, 4), bytes(32)), "magic number 0x00000801, expected 0x00000803"),
    (_idx(0x1F8B0803, (2, 4, 4), bytes(32)), "not an IDX image file"),
    (_idx(0x0803, (2, 4, 4), bytes(31)), "truncated: header says 2x4x4 = 32 bytes of data, file has 31"),
    (_idx(0x0803, (2, 4, 4), bytes(33)), "overlong"),
    (_idx(0x0803, (0, 4, 4), b""), "empty dimension"),
    (b"", "truncated IDX header"),
])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_that_are_wrong_give_a_clear_error(tmp_path, data, message, gz):
    path = tmp_path / ("imgs.gz" if gz else "imgs")
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DataError) as e:
        idx.read_images(path)
    assert str(path) in str(e.value) and message in str(e.value)


def test_idx_damaged_gzip_and_count_mismatch(tmp_path):
    good = gzip.compress(_idx(0x0803, (2, 4, 4), bytes(32)))
    (tmp_path / "cut.gz").write_bytes(good[:-6])
    with pytest.raises(DataError, match="cut.gz: cannot read gzip data"):
        idx.read_images(tmp_path / "cut.gz")
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx(0x0803, (3, 28, 28), bytes(3 * 784)))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx(0x0801, (2,), bytes(2)))
    with pytest.raises(DataError, match="3 images but .* 2 labels"):
        load_dataset(DataConfig(name="mnist", path=str(tmp_path)))


# ---------------------------------------------------------------------------
# CIFAR-10

RECORDS = 6  # per batch file in these fixtures (the real files hold 10000)


@pytest.fixture(autouse=True)
def _small_cifar(monkeypatch):
    monkeypatch.setattr(cifar, "RECORDS", RECORDS)


def _batch(seed: int):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (RECORDS, 3072), dtype=np.uint8), rng.integers(0, 10, RECORDS).tolist()


def _bin_bytes(x, labels) -> bytes:
    return b"".join(bytes([y]) + row.tobytes() for row, y in zip(x, labels))


class _Py2Pickler(pickle._Pickler):
    """Pickles like the original CIFAR-10 python batches (Python 2, protocol 2): every string as a
    Python 2 str opcode, numpy's array constructor under its old module name."""

    def _binstring(self, data: bytes):
        n = len(data)
        self.write(pickle.SHORT_BINSTRING + bytes([n]) + data if n < 256
                   else pickle.BINSTRING + struct.pack("<i", n) + data)

    def save_bytes(self, obj):
        self._binstring(obj)
        self.memoize(obj)

    def save_str(self, obj):
        self._binstring(obj.encode("latin-1"))
        self.memoize(obj)

    def save_global(self, obj, name=None):
        if getattr(obj, "__module__", None) == "numpy._core.multiarray":
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n" + obj.__name__.encode() + b"\n")
            self.memoize(obj)
        else:
            super().save_global(obj, name)

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[bytes] = save_bytes
    dispatch[str] = save_str


def _py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def _py_bytes(x, labels, seed=0) -> bytes:
    return _py2_pickle({"batch_label": f"batch {seed}", "labels": labels, "data": x,
                        "filenames": [f"img_{i}.png" for i in range(len(labels))]})


def _write_cifar(folder: Path, layout: str, split="both"):
    folder.mkdir(parents=True, exist_ok=True)
    stems = {"train": cifar.BATCHES["train"], "test": cifar.BATCHES["test"]}
    expected = {}
    for s, names in stems.items():
        if split not in ("both", s):
            continue
        xs, ys = [], []
        for k, stem in enumerate(names):
            x, y = _batch(hash((s, k)) % 1000)
            xs.append(x)
            ys += y
            if layout == "bin":
                (folder / f"{stem}.bin").write_bytes(_bin_bytes(x, y))
            else:
                (folder / stem).write_bytes(_py_bytes(x, y, k))
        expected[s] = (np.concatenate(xs).reshape(-1, 3, 32, 32), np.array(ys))
    return expected


def _cifar(path, split="train"):
    return load_dataset(DataConfig(name="cifar10", path=str(path), split=split, channels=3, resolution=32))


@pytest.mark.parametrize("layout", ["bin", "py"])
def test_cifar_both_layouts_read_exactly(tmp_path, layout):
    expected = _write_cifar(tmp_path / cifar.SUBDIRS[layout], layout)
    for split in ("train", "test"):
        data = _cifar(tmp_path, split)
        x, y = expected[split]
        assert data.x.dtype == torch.uint8 and data.x.shape == (len(y), 3, 32, 32)
        assert torch.equal(data.x, torch.from_numpy(x)) and data.y.tolist() == y.tolist()
        assert data.classes == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                "truck"]
    assert "cifar10" in DATASETS
    kind = "binary" if layout == "bin" else "python"
    assert f"({kind} batches)" in check(DataConfig(name="cifar10", path=str(tmp_path)))


def test_cifar_search_order_and_binary_first(tmp_path, monkeypatch):
    home, env, given = tmp_path / "home", tmp_path / "env", tmp_path / "given"
    monkeypatch.setenv("HOME", str(home))
    _write_cifar(home / ".cache" / "gankit" / "cifar10" / cifar.SUBDIRS["py"], "py")
    assert cifar.find_cifar(None)[0] == home / ".cache" / "gankit" / "cifar10" / cifar.SUBDIRS["py"]
    _write_cifar(env / "cifar10", "bin")
    monkeypatch.setenv("GANKIT_DATA", str(env))
    assert cifar.find_cifar(None) == (env / "cifar10", "bin")
    both = given / cifar.SUBDIRS["bin"]
    _write_cifar(both, "py")
    _write_cifar(both, "bin")  # both layouts in one place: the binary one, which needs no unpickling
    assert cifar.find_cifar(given) == (both, "bin")
    with pytest.raises(DataError) as e:  # a given path is the only place looked
        cifar.find_cifar(tmp_path / "typo")
    assert "typo" in str(e.value) and "cifar-10-binary.tar.gz" in str(e.value)
    monkeypatch.delenv("GANKIT_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "nohome"))
    with pytest.raises(DataError, match=r"not found .*\$GANKIT_DATA \(not set\)"):
        cifar.find_cifar(None)


def test_cifar_through_the_cli(tmp_path, capsys):
    _write_cifar(tmp_path, "bin")
    assert main(["data", "grid", "cifar10", "--data-dir", str(tmp_path), "--num", "4",
                 "--out", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").is_file()
    (tmp_path / "data_batch_3.bin").write_bytes(b"\0" * 100)
    capsys.readouterr()
    assert main(["data", "check", "cifar10", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gankit: error: ") and "data_batch_3.bin: wrong length" in err


@pytest.mark.parametrize("cut, message", [
    (lambda b: b[:-1], "truncated"),
    (lambda b: b[:3073 * 2], "truncated"),
    (lambda b: b + b"\0", "overlong"),
    (lambda b: b"", "truncated"),
    (lambda b: bytes([10]) + b[1:], "label 10 out of range"),
])
def test_cifar_binary_batches_that_are_wrong(tmp_path, cut, message):
    x, y = _batch(0)
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(cut(_bin_bytes(x, y)))
    with pytest.raises(DataError) as e:
        cifar.read_batch(path)
    assert str(path) in str(e.value) and message in str(e.value)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Array(np.ndarray):
    pass


def _evil_cases(marker):
    x, y = _batch(0)
    return {
        "system": pickle.dumps({b"data": _Evil(marker), b"labels": y}, protocol=2),
        "system in labels": _py2_pickle({"data": x, "labels": [_Evil(marker)]}),
        "eval": b"cbuiltins\neval\n(S'__import__(\"os\").system(\"touch " + str(marker).encode() + b"\")'\ntR.",
        "numpy loader": pickle.dumps({b"data": np.load}, protocol=2),
        "array subclass": pickle.dumps({b"data": x.view(_Array), b"labels": y}, protocol=2),
        "persistent id": b"\x80\x02P0\n.",
    }


@pytest.mark.parametrize("case", ["system", "system in labels", "eval", "numpy loader", "array subclass",
                                  "persistent id"])
def test_cifar_python_batches_never_run_code(tmp_path, case):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    path.write_bytes(_evil_cases(marker)[case])
    with pytest.raises(DataError) as e:
        cifar.read_batch(path)
    assert str(path) in str(e.value) and ("refus" in str(e.value) or "not a CIFAR-10" in str(e.value))
    assert not marker.exists()


@pytest.mark.parametrize("batch, message", [
    ({"data": _batch(0)[0][:5], "labels": _batch(0)[1][:5]}, "wrong length"),
    ({"data": _batch(0)[0].astype(np.float32), "labels": _batch(0)[1]}, "must be a uint8 array"),
    ({"data": _batch(0)[0][:, :100], "labels": _batch(0)[1]}, "must be a uint8 array"),
    ({"data": _batch(0)[0], "labels": _batch(0)[1][:-1]}, "must be a list of 6 ints"),
    ({"data": _batch(0)[0], "labels": [11] * 6}, "label 11 out of range"),
    ({"data": _batch(0)[0], "labels": [-1] * 6}, "ints in 0..9"),
    ({"data": _batch(0)[0], "labels": ["a"] * 6}, "must hold ints"),
    ({"labels": _batch(0)[1]}, "'data' must be"),
    ([1, 2, 3], "expected a dict"),
])
def test_cifar_python_batches_that_are_wrong(tmp_path, batch, message):
    path = tmp_path / "test_batch"
    path.write_bytes(_py2_pickle(batch))
    with pytest.raises(DataError) as e:
        cifar.read_batch(path)
    assert str(path) in str(e.value) and message in str(e.value)


def test_cifar_truncated_python_batches(tmp_path):
    full = _py_bytes(*_batch(0))
    for n in (0, 1, 10, len(full) // 2, len(full) - 1):
        path = tmp_path / f"data_batch_{n}"
        path.write_bytes(full[:n])
        with pytest.raises(DataError, match=str(path)):
            cifar.read_batch(path)
