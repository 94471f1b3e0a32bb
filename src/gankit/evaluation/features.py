"""Feature extraction and the real-data side of evaluation: splits, cache, stored features.

An *extractor* is any `torch.nn.Module` that maps images (N, C, H, W), float in
[-1, 1] (uint8 pixels converted with `gankit.data.to_float`), to features
(N, F). gankit ships two (the domain classifier in `classifier.py` and the FID
Inception-v3 in `inception.py`); a user may pass any other. Generated images
go through uint8 first (`to_uint8` then `to_float`), exactly like real ones, so
the extractor never sees a difference that quantization to a saved image
would erase.

Cache layout, under ``$GANKIT_CACHE`` (default ``~/.cache/gankit``)::

    features/<dataset>-<hash>/          a fitted domain classifier (classifier.py)
    features/real/<name>-<hash>.npz     real-data features and floor values

Cached arrays are written atomically and read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from gankit.config import DataConfig
from gankit.data import DATASETS, DataError, Dataset, check, load_dataset, to_float, to_uint8
from gankit.io.files import FileError, write_bytes_atomic

__all__ = ["EvaluationError", "cache_root", "features_dir", "short_hash", "extract", "real_splits",
           "dataset_identity", "load_npz", "save_npz", "FOLDER_TEST_SHARE"]

FOLDER_TEST_SHARE = 0.2
"""Image folders have no test split: this share of them (a fixed, seeded choice) plays it."""


class EvaluationError(ValueError):
    """An evaluation request that cannot be met (unknown metric, too few samples,
    an extractor that returns the wrong shape); one user-facing line."""


def cache_root() -> Path:
    """``$GANKIT_CACHE`` if set, else ``~/.cache/gankit``."""
    env = os.environ.get("GANKIT_CACHE", "")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gankit"


def features_dir() -> Path:
    return cache_root() / "features"


def short_hash(obj) -> str:
    """12 hex digits of sha256 over the canonical JSON of `obj` (a cache key)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def slug(text: str) -> str:
    """A file-name-safe version of a dataset name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "data"


def dataset_label(cfg: DataConfig) -> str:
    """Readable cache-folder prefix: the dataset name, or folder-<basename> for image folders."""
    if cfg.name == "folder":
        return slug(f"folder-{Path(cfg.path).expanduser().resolve().name}")
    return slug(cfg.name)


def dataset_identity(cfg: DataConfig) -> dict:
    """What makes real data the same data: name, where it was found, shape. Reads no images."""
    source = check(replace(cfg, split="train", limit=0))
    return {"name": cfg.name, "source": source, "channels": cfg.channels, "resolution": cfg.resolution}


# --------------------------------------------------------------------------- real splits


def _require_known(cfg: DataConfig) -> None:
    if cfg.name not in DATASETS:
        raise DataError(f"data.name: unknown dataset {cfg.name!r} (known: {', '.join(DATASETS)})")


def real_splits(cfg: DataConfig) -> tuple[Dataset, Dataset]:
    """(train, test) splits of an image dataset at cfg's resolution and channels, all examples.

    IDX datasets use their own train/test files. Image folders have none, so a
    fixed seeded permutation puts `FOLDER_TEST_SHARE` of the images in "test";
    the domain classifier and the real-vs-real floors use the same split.
    """
    _require_known(cfg)
    if cfg.name.startswith("toy-"):
        raise DataError(f"data.name: {cfg.name} is toy data; it has no image splits")
    base = replace(cfg, limit=0)
    if cfg.name != "folder":
        return load_dataset(replace(base, split="train")), load_dataset(replace(base, split="test"))
    data = load_dataset(base)
    n = len(data)
    n_test = max(1, int(round(n * FOLDER_TEST_SHARE)))
    if n - n_test < 1:
        raise DataError(f"data.path: {cfg.path} has {n} image(s); evaluation needs at least 2")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))

    def part(idx: Tensor, split: str) -> Dataset:
        y = data.y[idx] if data.y is not None else None
        return Dataset(x=data.x[idx].contiguous(), y=y, name=data.name, classes=data.classes,
                       source=f"{data.source} ({split}: {len(idx)} of {n} images, fixed seeded split)")
    return part(perm[n_test:], "train"), part(perm[:n_test], "test")


def subset_indices(n: int, k: int, seed: int = 0) -> Tensor:
    """The first k of a seeded permutation of range(n): a fixed random subset (k <= n)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k]


# --------------------------------------------------------------------------- extraction


def _as_pixels(images: Tensor) -> Tensor:
    """uint8 stays; float in [-1, 1] is quantized to uint8 levels like a saved image."""
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise EvaluationError(f"images must be uint8 or float in [-1, 1], got {images.dtype}")
    return to_uint8(images)


@torch.inference_mode()
def extract(fn: Callable | nn.Module, images: Tensor, batch_size: int = 500, device="cpu",
            progress: str | None = None):
    """Run an extractor over images in batches.

    images: uint8 (N, C, H, W) or float (N, C, H, W) in [-1, 1]; each batch is
    brought to uint8 levels, converted with `to_float` and moved to `device`.
    fn: an nn.Module or a method of one (the module is put in eval mode for the
    call and its mode restored after), or any callable; it returns a tensor
    (N, F) or a tuple of such tensors.
    Returns float32 CPU tensor(s) with the same structure. `progress`, if
    given, is the label of a tqdm bar (on stderr).
    """
    if images.ndim != 4:
        raise EvaluationError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
    owner = fn if isinstance(fn, nn.Module) else getattr(fn, "__self__", None)  # a module or a bound method
    module = owner if isinstance(owner, nn.Module) else None
    was_training = module.training if module is not None else False
    if module is not None:
        module.eval()
    starts = range(0, images.shape[0], batch_size)
    if progress:
        from tqdm import tqdm
        starts = tqdm(starts, desc=progress, unit="batch", leave=False)
    parts: list = []
    single = True
    try:
        for i in starts:
            x = to_float(_as_pixels(images[i:i + batch_size])).to(device)
            out = fn(x)
            single = isinstance(out, Tensor)
            outs = (out,) if single else tuple(out)
            for t in outs:
                if not isinstance(t, Tensor) or t.ndim != 2 or t.shape[0] != x.shape[0]:
                    shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
                    raise EvaluationError(f"the feature extractor returned {shape} for a batch of "
                                          f"{x.shape[0]} images; expected (N, F)")
            parts.append([t.detach().to("cpu", torch.float32) for t in outs])
    finally:
        if module is not None:
            module.train(was_training)
    if not parts:
        raise EvaluationError("no images to extract features from")
    cat = tuple(torch.cat([p[j] for p in parts]) for j in range(len(parts[0])))
    return cat[0] if single else cat


# --------------------------------------------------------------------------- npz cache files


def save_npz(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write arrays plus a JSON `meta` dict (as a unicode array: no pickles) atomically."""
    buf = io.BytesIO()
    np.savez(buf, __meta__=np.array(json.dumps(meta)), **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, buf.getvalue())


def load_npz(path: Path) -> tuple[dict[str, np.ndarray], dict] | None:
    """(arrays, meta) from `save_npz`, or None when the file is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        meta = json.loads(str(arrays.pop("__meta__")))
    except (OSError, ValueError, KeyError, EOFError):
        return None  # damaged or foreign: recompute and overwrite
    if not isinstance(meta, dict):
        return None
    return arrays, meta


def check_writable(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FileError(f"cannot create the gankit cache folder {path} ({e.strerror or e}); "
                        f"set GANKIT_CACHE to a writable folder") from None
