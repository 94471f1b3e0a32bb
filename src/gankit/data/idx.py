"""IDX files (the format of MNIST and Fashion-MNIST): finding them and reading them.

An IDX file is a 4-byte big-endian magic number -- two zero bytes, a type code
(0x08 = unsigned byte) and the number of dimensions -- then one big-endian
uint32 per dimension, then the payload in C order. Images are 0x00000803
(N, rows, cols); labels are 0x00000801 (N,). Files may be gzipped (``.gz``) or raw.

Every way a file can be wrong (not gzip, wrong magic, a header that claims more
or less data than there is) is a `DataError` naming the file and what was expected,
because a silently misread dataset trains a GAN on noise.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from gankit.data.dataset import DataError, Dataset

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

# split -> (images file, labels file); each may also carry a .gz suffix.
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

CLASSES = {
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    "mnist": [str(d) for d in range(10)],
}

# Where distribution packages put the data (Debian: `dataset-fashion-mnist`).
# A module-level dict so tests can point it elsewhere.
SYSTEM_DIRS = {
    "fashion-mnist": Path("/usr/share/datasets/fashion-mnist"),
    "mnist": Path("/usr/share/datasets/mnist"),
}

_GET = {
    "fashion-mnist": ("`apt-get install dataset-fashion-mnist` on Debian/Ubuntu, or download "
                      "the four .gz files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                      "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) from "
                      "https://github.com/zalandoresearch/fashion-mnist (folder data/fashion) "
                      "into ~/.cache/gankit/fashion-mnist/, or pass --data-dir DIR (data.path)"),
    "mnist": ("download the four .gz files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
              "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) from "
              "https://yann.lecun.com/exdb/mnist/ or a mirror such as "
              "https://ossci-datasets.s3.amazonaws.com/mnist/ into ~/.cache/gankit/mnist/, "
              "or pass --data-dir DIR (data.path)"),
}


# ---------------------------------------------------------------------------
# finding the files


def _file(directory: Path, stem: str) -> Path | None:
    """The raw or gzipped file for `stem` in `directory`; raw first (no decompression)."""
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _holds(directory: Path, split: str | None) -> bool:
    splits = [split] if split else list(FILES)
    return directory.is_dir() and any(
        all(_file(directory, stem) for stem in FILES[s]) for s in splits)


def _need(split: str | None) -> str:
    splits = [split] if split else list(FILES)
    return " or ".join(" + ".join(f"{stem}[.gz]" for stem in FILES[s]) for s in splits)


def find_idx_dir(name: str, path: str | Path | None = None, split: str | None = None) -> Path:
    """The directory holding the IDX files of dataset `name` ("fashion-mnist" or "mnist").

    Looked for in this order, first hit wins:
    1. `path` (data.path / --data-dir), the directory itself or ``path/<name>``;
       when given it is the only place looked, so a typo is an error rather than
       a silent fall-back to another copy;
    2. ``$GANKIT_DATA``, the directory itself or ``$GANKIT_DATA/<name>``;
    3. ``~/.cache/gankit/<name>``;
    4. the system copy, ``/usr/share/datasets/<name>`` (Debian's dataset-fashion-mnist).

    A directory counts when it holds both files (raw or .gz) of `split`, or of
    either split when `split` is None. Raises DataError listing every place looked.
    """
    if name not in CLASSES:
        raise DataError(f"data.name: {name!r} is not an IDX dataset (known: {', '.join(CLASSES)})")
    if split is not None and split not in FILES:
        raise DataError(f"data.split: must be 'train' or 'test', got {split!r}")
    looked: list[str] = []

    if path:
        root = Path(path).expanduser()
        for d in (root, root / name):
            if _holds(d, split):
                return d
        raise DataError(
            f"{name}: data.path/--data-dir {str(root)!r} does not hold the {name} IDX files "
            f"(looked in {root} and {root / name} for {_need(split)}); to get them: {_GET[name]}")

    env = os.environ.get("GANKIT_DATA", "")
    if env:
        root = Path(env).expanduser()
        candidates = [root, root / name]
    else:
        candidates = []
        looked.append("$GANKIT_DATA (not set)")
    candidates.append(Path.home() / ".cache" / "gankit" / name)
    if name in SYSTEM_DIRS:
        candidates.append(SYSTEM_DIRS[name])

    for d in candidates:
        if _holds(d, split):
            return d
        looked.append(str(d))
    raise DataError(
        f"{name}: IDX files not found (need {_need(split)}); looked in: {', '.join(looked)}; "
        f"to get them: {_GET[name]}")


# ---------------------------------------------------------------------------
# reading the files


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        # gzip.BadGzipFile is an OSError; a cut-off .gz raises EOFError.
        kind = "gzip data" if path.suffix == ".gz" else "file"
        raise DataError(f"{path}: cannot read {kind} ({e})") from None


def _parse(path: Path, data: bytes, magic: int, ndim: int, what: str) -> tuple[int, ...]:
    """Check the header of an IDX buffer; return its dims."""
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header ({len(data)} bytes, expected at least {header})")
    (found,) = struct.unpack(">I", data[:4])
    if found != magic:
        raise DataError(f"{path}: not an IDX {what} file (magic number 0x{found:08x}, "
                        f"expected 0x{magic:08x})")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if any(d == 0 for d in dims):
        raise DataError(f"{path}: IDX header has an empty dimension {dims}")
    return dims


def _payload(path: Path, data: bytes, dims: tuple[int, ...]) -> np.ndarray:
    header = 4 + 4 * len(dims)
    expected = int(np.prod(dims))
    actual = len(data) - header
    if actual != expected:
        state = "truncated" if actual < expected else "overlong"
        shape = "x".join(map(str, dims))
        raise DataError(f"{path}: {state}: header says {shape} = {expected} bytes of data, "
                        f"file has {actual}")
    # copy(): own the memory (frombuffer over bytes is read-only, which torch warns about).
    return np.frombuffer(data, dtype=np.uint8, count=expected, offset=header).reshape(dims).copy()


def read_images(path: str | Path) -> torch.Tensor:
    """Read an IDX image file (raw or .gz) -> uint8 (N, 1, rows, cols), values 0..255."""
    path = Path(path)
    data = _read_bytes(path)
    dims = _parse(path, data, IMAGES_MAGIC, 3, "image")
    n, h, w = dims
    return torch.from_numpy(_payload(path, data, dims)).view(n, 1, h, w)


def read_labels(path: str | Path) -> torch.Tensor:
    """Read an IDX label file (raw or .gz) -> int64 (N,)."""
    path = Path(path)
    data = _read_bytes(path)
    dims = _parse(path, data, LABELS_MAGIC, 1, "label")
    return torch.from_numpy(_payload(path, data, dims)).to(torch.int64)


def check_header(path: str | Path, magic: int) -> None:
    """Cheap check that `path` starts like an IDX file with `magic` (reads a few bytes only)."""
    path = Path(path)
    ndim = magic & 0xFF
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            head = f.read(4 + 4 * ndim)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read {'gzip data' if path.suffix == '.gz' else 'file'} ({e})") from None
    _parse(path, head, magic, ndim, "image" if magic == IMAGES_MAGIC else "label")


def idx_files(directory: Path, split: str) -> tuple[Path, Path]:
    """(images, labels) paths of `split` in a directory found by `find_idx_dir`."""
    images, labels = (_file(directory, stem) for stem in FILES[split])
    if images is None or labels is None:
        raise DataError(f"{directory}: missing {_need(split)}")
    return images, labels


def load_idx(name: str, path: str | Path | None, split: str) -> Dataset:
    """Load one split of MNIST or Fashion-MNIST: x uint8 (N, 1, 28, 28), y int64 (N,)."""
    directory = find_idx_dir(name, path, split)
    images_path, labels_path = idx_files(directory, split)
    x = read_images(images_path)
    y = read_labels(labels_path)
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{directory}: {images_path.name} has {x.shape[0]} images but "
                        f"{labels_path.name} has {y.shape[0]} labels")
    classes = CLASSES[name]
    if int(y.max()) >= len(classes):
        raise DataError(f"{labels_path}: label {int(y.max())} out of range for {name} "
                        f"({len(classes)} classes)")
    return Dataset(x=x, y=y, name=name, classes=list(classes), source=str(images_path))
