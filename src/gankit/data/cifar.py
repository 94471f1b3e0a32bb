"""CIFAR-10: finding the batches and reading them, never unpickling arbitrary objects.

Two layouts are read, as distributed at https://www.cs.toronto.edu/~kriz/cifar.html:

- binary (``cifar-10-batches-bin/``): ``data_batch_1.bin`` .. ``data_batch_5.bin`` and
  ``test_batch.bin``, each 10000 records of 1 label byte + 3072 pixel bytes
  (1024 red, 1024 green, 1024 blue, rows of 32 in C order);
- python (``cifar-10-batches-py/``): ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``,
  each a pickle of a dict with ``data`` (uint8 array (10000, 3072), same pixel order)
  and ``labels`` (a list of 10000 ints).

The binary layout is preferred when both are present: it needs no unpickling at
all. A python batch is read with a restricted unpickler that resolves only the
three globals a pickled numpy array needs (``numpy.core.multiarray._reconstruct``,
``numpy.ndarray``, ``numpy.dtype``) and refuses every other one, so a crafted
file cannot run code. Even those three resolve to gankit's own stand-ins, which
check the array's shape, type and bytes and build it with ``np.frombuffer``:
numpy's unpickling code never sees untrusted state. What comes out is then
checked field by field. Every way a
file can be wrong (missing, truncated, wrong length, wrong content) is a
`DataError` naming the file.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from gankit.data.dataset import DataError, Dataset

NAME = "cifar10"
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PIXELS = 3 * 32 * 32
RECORD = 1 + PIXELS  # binary layout: label byte + pixels
RECORDS = 10000
"""Records in every batch file of the real dataset; a file with any other count is refused
(module-level so tests can use small fixture files)."""

SUBDIRS = {"bin": "cifar-10-batches-bin", "py": "cifar-10-batches-py"}
BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}

_GET = ("download https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz (or the python version, "
        "cifar-10-python.tar.gz) and extract it into ~/.cache/gankit/cifar10/, or pass --data-dir DIR "
        "(data.path) pointing at the extracted folder")


# ---------------------------------------------------------------------------
# finding the files


def _files(directory: Path, layout: str, split: str) -> list[Path]:
    suffix = ".bin" if layout == "bin" else ""
    return [directory / f"{stem}{suffix}" for stem in BATCHES[split]]


def _layout(directory: Path, split: str) -> str | None:
    """'bin' or 'py' when `directory` holds every batch file of `split` in that layout, else None."""
    if not directory.is_dir():
        return None
    for layout in ("bin", "py"):
        if all(f.is_file() for f in _files(directory, layout, split)):
            return layout
    return None


def _candidates(root: Path) -> list[Path]:
    dirs = [root, root / NAME]
    return [sub for d in dirs for sub in (d, d / SUBDIRS["bin"], d / SUBDIRS["py"])]


def find_cifar(path: str | Path | None = None, split: str = "train") -> tuple[Path, str]:
    """(directory, layout) of the CIFAR-10 batches of `split`.

    Looked for in this order, first hit wins, binary layout before python layout
    in each place: `path` (data.path / --data-dir; when given, the only place
    looked), ``$GANKIT_DATA``, ``~/.cache/gankit/cifar10``. In each place the
    folder itself, its ``cifar10/`` sub-folder, and their ``cifar-10-batches-bin/``
    and ``cifar-10-batches-py/`` sub-folders are tried. Raises DataError listing
    every place looked and how to get the data.
    """
    if split not in BATCHES:
        raise DataError(f"data.split: must be 'train' or 'test', got {split!r}")
    need = f"{' '.join(BATCHES[split])} (with .bin in the binary layout)"
    if path:
        root = Path(path).expanduser()
        for d in _candidates(root):
            layout = _layout(d, split)
            if layout:
                return d, layout
        raise DataError(f"{NAME}: data.path/--data-dir {str(root)!r} does not hold the CIFAR-10 {split} "
                        f"batches (looked in it, {NAME}/ and their {SUBDIRS['bin']}/ and {SUBDIRS['py']}/ "
                        f"for {need}); to get them: {_GET}")
    looked: list[str] = []
    roots = []
    env = os.environ.get("GANKIT_DATA", "")
    if env:
        roots.append(Path(env).expanduser())
    else:
        looked.append("$GANKIT_DATA (not set)")
    cache = Path.home() / ".cache" / "gankit" / NAME
    candidates = [d for r in roots for d in _candidates(r)] + [cache, cache / SUBDIRS["bin"], cache / SUBDIRS["py"]]
    for d in candidates:
        layout = _layout(d, split)
        if layout:
            return d, layout
        looked.append(str(d))
    raise DataError(f"{NAME}: CIFAR-10 batches not found (need {need}); looked in: {', '.join(looked)}; "
                    f"to get them: {_GET}")


# ---------------------------------------------------------------------------
# reading the files


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read file ({e.strerror or e})") from None


def _check_labels(path: Path, labels: np.ndarray) -> None:
    if labels.size and int(labels.max()) >= len(CLASSES):
        raise DataError(f"{path}: label {int(labels.max())} out of range for CIFAR-10 ({len(CLASSES)} classes)")


def parse_binary(data: bytes, path: str | Path = "<bytes>") -> tuple[np.ndarray, np.ndarray]:
    """One binary batch -> (uint8 (N, 3, 32, 32), int64 (N,)); N must be RECORDS."""
    path = Path(path)
    if len(data) != RECORDS * RECORD:
        state = "truncated" if len(data) < RECORDS * RECORD else "overlong"
        raise DataError(f"{path}: {state}: a CIFAR-10 binary batch is {RECORDS} records of {RECORD} bytes "
                        f"= {RECORDS * RECORD} bytes, the file has {len(data)}")
    records = np.frombuffer(data, dtype=np.uint8).reshape(RECORDS, RECORD)
    labels = records[:, 0].astype(np.int64)
    _check_labels(path, labels)
    return records[:, 1:].reshape(RECORDS, 3, 32, 32).copy(), labels


# What a pickled numpy array is: `_reconstruct(ndarray, (0,), b"b")` makes an empty array, whose
# __setstate__ then receives (version, shape, dtype, is_fortran, raw bytes); the dtype is
# `dtype("u1", False, True)` whose __setstate__ receives (3, byte order, ...). Letting numpy run
# those __setstate__ calls on untrusted state is not safe (a dtype's flags can claim the bytes are
# object pointers), so the three allowed names resolve to the stand-ins below: they check every
# field and build the array themselves with np.frombuffer from a short list of plain number types.

_DTYPES = frozenset({"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8", "b1"})
_MAX_DIMS = 8


def _text(value) -> str:
    if isinstance(value, bytes):  # Python 2 pickles read with encoding="bytes"
        value = value.decode("latin-1")
    if not isinstance(value, str):
        raise pickle.UnpicklingError(f"expected a string, found {type(value).__name__}")
    return value


class _NDArrayName:
    """Stands in for numpy.ndarray: only ever the first argument of `_reconstruct`."""


class _DType:
    """Stands in for numpy.dtype("u1", False, True) and its __setstate__."""

    def __init__(self, spec=None, align=False, copy=True):
        self.spec, self.order = _text(spec), "|"
        if self.spec not in _DTYPES:
            raise pickle.UnpicklingError(f"refusing array type {self.spec!r}")

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) < 8 or any(v is not None for v in state[2:5]):
            raise pickle.UnpicklingError("refusing a structured or sub-array dtype")
        self.order = _text(state[1])
        if self.order not in ("<", ">", "|", "="):
            raise pickle.UnpicklingError(f"refusing byte order {self.order!r}")

    def numpy(self) -> np.dtype:
        dtype = np.dtype(self.spec)
        return dtype.newbyteorder(self.order) if self.order in "<>" and dtype.itemsize > 1 else dtype


class _Array:
    """Stands in for an unpickled ndarray; `.value` is the real array once its state has been read."""

    value: np.ndarray | None = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) != 5:
            raise pickle.UnpicklingError("refusing an array state of unexpected form")
        _, shape, dtype, fortran, raw = state
        if not (isinstance(shape, tuple) and len(shape) <= _MAX_DIMS
                and all(type(n) is int and n >= 0 for n in shape)):
            raise pickle.UnpicklingError("refusing an array shape of unexpected form")
        if not isinstance(dtype, _DType) or not isinstance(raw, (bytes, bytearray)):
            raise pickle.UnpicklingError("refusing an array that is not plain numbers")
        dt = dtype.numpy()
        if int(np.prod(shape, dtype=np.float64)) * dt.itemsize != len(raw):
            raise pickle.UnpicklingError(f"array data of {len(raw)} bytes does not fill shape {shape}")
        self.value = np.frombuffer(raw, dtype=dt).reshape(shape, order="F" if fortran else "C").copy()


def _reconstruct(cls, shape, dtype):
    if cls is not _NDArrayName:
        raise pickle.UnpicklingError(f"refusing to build {cls!r}")
    return _Array()


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # the same, as numpy >= 2 names it
    ("numpy", "ndarray"): _NDArrayName,
    ("numpy", "dtype"): _DType,
}


class _BatchUnpickler(pickle.Unpickler):
    """Resolves only what a pickled numpy array needs (to safe stand-ins); everything else is refused."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing a persistent id")


def _field(batch: dict, key: str):
    for k in (key.encode(), key):
        if k in batch:
            value = batch[k]
            return value.value if isinstance(value, _Array) else value
    return None


def parse_python(data: bytes, path: str | Path = "<bytes>") -> tuple[np.ndarray, np.ndarray]:
    """One python-layout batch (a pickle) -> (uint8 (N, 3, 32, 32), int64 (N,)); N must be RECORDS.

    Unpickled with `_BatchUnpickler`: dicts, lists, strings, bytes, numbers and numpy
    arrays of plain numbers only, the arrays rebuilt from their bytes by gankit, never by
    numpy's own unpickling code. Anything else in the file, or a malformed file, is a DataError.
    """
    path = Path(path)
    try:
        batch = _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise DataError(f"{path}: refused: not a CIFAR-10 python batch ({e})") from None
    except Exception as e:  # noqa: BLE001 - hostile bytes make the unpickler raise almost anything
        raise DataError(f"{path}: not a CIFAR-10 python batch (unreadable pickle: {type(e).__name__})") from None
    if not isinstance(batch, dict):
        raise DataError(f"{path}: not a CIFAR-10 python batch (expected a dict, found {type(batch).__name__})")
    x, y = _field(batch, "data"), _field(batch, "labels")
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != PIXELS:
        found = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise DataError(f"{path}: 'data' must be a uint8 array (N, {PIXELS}), found {found}")
    if x.shape[0] != RECORDS:
        raise DataError(f"{path}: wrong length: a CIFAR-10 batch holds {RECORDS} images, this one {x.shape[0]}")
    if not isinstance(y, (list, np.ndarray)) or len(y) != x.shape[0]:
        found = f"{len(y)} labels" if isinstance(y, (list, np.ndarray)) else f"labels of type {type(y).__name__}"
        raise DataError(f"{path}: 'labels' must be a list of {x.shape[0]} ints, found {found}")
    if isinstance(y, list) and not all(type(v) is int for v in y):
        raise DataError(f"{path}: 'labels' must hold ints")
    try:
        labels = np.asarray(y, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{path}: 'labels' must hold ints") from None
    if labels.ndim != 1 or (labels.size and int(labels.min()) < 0):
        raise DataError(f"{path}: 'labels' must be ints in 0..{len(CLASSES) - 1}")
    _check_labels(path, labels)
    return np.ascontiguousarray(x).reshape(-1, 3, 32, 32).copy(), labels


def read_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch file of either layout (``.bin`` is binary, anything else a python batch)."""
    path = Path(path)
    data = _read(path)
    return parse_binary(data, path) if path.suffix == ".bin" else parse_python(data, path)


def check(path: str | Path | None, split: str) -> str:
    """Cheap pre-flight: where the data would come from (sizes checked, nothing unpickled)."""
    directory, layout = find_cifar(path, split)
    if layout == "bin":
        for f in _files(directory, layout, split):
            size = f.stat().st_size
            if size != RECORDS * RECORD:
                raise DataError(f"{f}: wrong length: {size} bytes, a CIFAR-10 binary batch is {RECORDS * RECORD}")
    return f"{NAME} {split} split ({'binary' if layout == 'bin' else 'python'} batches) from {directory}"


def load_cifar(path: str | Path | None, split: str = "train") -> Dataset:
    """Load one split of CIFAR-10: x uint8 (N, 3, 32, 32), y int64 (N,), the 10 class names."""
    directory, layout = find_cifar(path, split)
    xs, ys = [], []
    for f in _files(directory, layout, split):
        x, y = read_batch(f)
        xs.append(x)
        ys.append(y)
    x = torch.from_numpy(np.concatenate(xs))
    y = torch.from_numpy(np.concatenate(ys))
    return Dataset(x=x, y=y, name=NAME, classes=list(CLASSES), source=str(directory))
