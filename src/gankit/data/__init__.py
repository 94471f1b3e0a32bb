"""Datasets: read once into memory, handed to the trainer as one tensor.

    from gankit.data import load_dataset
    data = load_dataset(cfg.data, seed=cfg.train.seed)
    data.x   # uint8 (N, C, H, W) 0..255 for images; float32 (N, D) for toy data
    data.y   # int64 (N,) labels, or None

`DATASETS` maps each name (the choices of data.name) to a loader
``loader(cfg: DataConfig, seed: int) -> Dataset``; `load_dataset` dispatches
through it and then brings image data to cfg.channels and cfg.resolution, so
loaders may return images at their native size. Every failure a user can cause
(unknown name, missing or broken files) is a `DataError` with one clear line.

Images are uint8 at the edges and float32 in [-1, 1] inside the library;
`to_float` / `to_uint8` convert, exactly, between the two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from gankit.config import DataConfig
from gankit.data import cifar, folder, idx, lfw, paired, photos, shapes, stacked, toy, unpaired
from gankit.data.dataset import DataError, Dataset
from gankit.data.toy import toy_modes
from gankit.data.transforms import convert_channels, resize, to_float, to_uint8

__all__ = ["DATASETS", "DataError", "Dataset", "check", "has_labels", "load_dataset", "sample_shape",
           "to_float", "to_uint8", "toy_modes"]


def _idx_loader(name: str) -> Callable[[DataConfig, int], Dataset]:
    def load(cfg: DataConfig, seed: int) -> Dataset:
        # seed unused: the files fix the data; the trainer owns the shuffling.
        return idx.load_idx(name, cfg.path, cfg.split)
    load.__doc__ = f"{name}: IDX files, uint8 (N, 1, 28, 28) and 10 classes."
    return load


def _load_folder(cfg: DataConfig, seed: int) -> Dataset:
    """Image folder at cfg.path, already at cfg.channels x cfg.resolution^2."""
    return folder.load_folder(cfg.path, cfg.channels, cfg.resolution, limit=cfg.limit,
                              skip_bad=cfg.skip_bad_files, max_bad_fraction=cfg.max_bad_fraction)


def _load_cifar(cfg: DataConfig, seed: int) -> Dataset:
    """cifar10: binary or python batches, uint8 (N, 3, 32, 32) and 10 classes."""
    return cifar.load_cifar(cfg.path, cfg.split)


def _load_photos(cfg: DataConfig, seed: int) -> Dataset:
    """photos: RGB patches of scikit-image's/scikit-learn's photographs (test: the held-out ones, tiled)."""
    return photos.load_photos(cfg.split, cfg.resolution, cfg.limit)


def _stacked_loader(name: str) -> Callable[[DataConfig, int], Dataset]:
    def load(cfg: DataConfig, seed: int) -> Dataset:
        return stacked.load_stacked(name, cfg.path, cfg.split, cfg.channels)
    load.__doc__ = f"{name}: three {stacked.BASES[name]} images as RGB, uint8 (N, 3, 28, 28), 1000 classes."
    return load


def _load_lfw(cfg: DataConfig, seed: int) -> Dataset:
    """lfw-faces: scikit-image's 100 LFW faces, 80 train / 20 test, uint8 (N, 1, 25, 25), unlabelled."""
    return lfw.load_lfw(cfg.split)


def _toy_loader(name: str) -> Callable[[DataConfig, int], Dataset]:
    def load(cfg: DataConfig, seed: int) -> Dataset:
        return toy.load_toy(name, cfg.toy_samples, seed)
    load.__doc__ = f"{name}: {toy.describe(name)}; float32 (toy_samples, {toy.DIMS[name]})."
    return load


def _load_shapes(cfg: DataConfig, seed: int) -> Dataset:
    """shapes: white squares and circles on black (the toy domains of unpaired translation), 2 classes."""
    return shapes.load_shapes(cfg.split, cfg.resolution)


DATASETS: dict[str, Callable[[DataConfig, int], Dataset]] = {
    "fashion-mnist": _idx_loader("fashion-mnist"),
    "mnist": _idx_loader("mnist"),
    "cifar10": _load_cifar,
    "stacked-fashion-mnist": _stacked_loader("stacked-fashion-mnist"),
    "stacked-mnist": _stacked_loader("stacked-mnist"),
    "folder": _load_folder,
    "photos": _load_photos,
    "lfw-faces": _load_lfw,
    "toy-gaussian": _toy_loader("toy-gaussian"),
    "toy-ring": _toy_loader("toy-ring"),
    "toy-grid": _toy_loader("toy-grid"),
    "shapes": _load_shapes,
}


def _known(name: str) -> None:
    if name not in DATASETS:
        raise DataError(f"data.name: unknown dataset {name!r} (known: {', '.join(DATASETS)})")


def _check_image_cfg(cfg: DataConfig) -> None:
    # Normally caught by config.validate; repeated because this is also a library entry point.
    if cfg.channels not in (1, 3):
        raise DataError(f"data.channels: must be 1 or 3, got {cfg.channels!r}")
    if cfg.resolution < 1:
        raise DataError(f"data.resolution: must be >= 1, got {cfg.resolution!r}")


def load_dataset(cfg: DataConfig, seed: int = 0) -> Dataset:
    """Read dataset `cfg.name` into memory.

    Returns a Dataset whose x is uint8 (N, cfg.channels, cfg.resolution,
    cfg.resolution), contiguous, for image data (grey -> RGB by repeating the
    channel, RGB -> grey by BT.601 luminance; resized with antialiased bilinear
    interpolation, rounded back to uint8), or float32 (N, D) for toy data.
    cfg.limit > 0 keeps the first `limit` examples. `seed` only matters for toy data.
    Raises DataError for an unknown name, missing data or unreadable files.
    """
    _known(cfg.name)
    if cfg.limit < 0:
        raise DataError(f"data.limit: must be >= 0, got {cfg.limit!r}")
    if cfg.task == "unpaired":  # both domains in one labelled dataset: y 0 = domain A, 1 = domain B
        return unpaired.load_union(cfg, seed)
    if cfg.name not in toy.DIMS:
        _check_image_cfg(cfg)
    if cfg.task == "paired":  # a user's (A, B) pairs, held as one (N, 2C, R, R) tensor (gankit.data.paired)
        if cfg.name != "folder":
            raise DataError(f"data.task: paired reads a user's pairs: set data.name = folder and data.path, "
                            f"not data.name = {cfg.name!r}")
        return paired.load_pairs(cfg.path, cfg.split, cfg.channels, cfg.resolution, cfg.limit)
    data = DATASETS[cfg.name](cfg, seed)
    x, y = data.x, data.y
    if 0 < cfg.limit < len(x):
        # clone(): do not keep the full-size tensor alive behind a small view.
        x = x[:cfg.limit].clone()
        y = y[:cfg.limit].clone() if y is not None else None
    if data.is_image:
        # Resize with as few channels as possible: grey -> RGB after, RGB -> grey before.
        if x.shape[1] < cfg.channels:
            x = convert_channels(resize(x, cfg.resolution), cfg.channels)
        else:
            x = resize(convert_channels(x, cfg.channels), cfg.resolution)
    return Dataset(x=x.contiguous(), y=y, name=data.name, classes=data.classes, source=data.source)


def check(cfg: DataConfig) -> str:
    """Cheap pre-flight, reading no image data: where the data would come from.

    Returns a short description, e.g. "fashion-mnist train split from
    /usr/share/datasets/fashion-mnist", or raises the DataError that
    `load_dataset` would raise for missing data (and for IDX files whose
    header is wrong). Toy data always passes.
    """
    _known(cfg.name)
    if cfg.task == "unpaired":
        return unpaired.check_domains(cfg, lambda plain: check(plain))
    if cfg.name in toy.DIMS:
        return f"{cfg.name}: {toy.describe(cfg.name)}, {cfg.toy_samples} points drawn from the seed"
    if cfg.name == "shapes":
        return f"shapes: squares and circles drawn at {cfg.resolution}x{cfg.resolution} ({cfg.split} split)"
    _check_image_cfg(cfg)
    if cfg.task == "paired":
        if cfg.name != "folder":
            raise DataError(f"data.task: paired reads a user's pairs: set data.name = folder and data.path, "
                            f"not data.name = {cfg.name!r}")
        layout, items = paired.scan(cfg.path, cfg.split)
        return f"{len(items)} {layout} pairs in {paired.root(cfg.path, cfg.split)}"
    if cfg.name == "photos":
        return photos.check()
    if cfg.name == "folder":
        files, labels, classes, left_out = folder.scan(cfg.path)
        kind = f"{len(classes)} classes" if labels is not None else "unlabeled"
        note = f"; {folder.left_out_note(left_out)}" if left_out else ""
        return f"folder: {len(files)} images ({kind}) in {Path(cfg.path).expanduser()}{note}"
    if cfg.name == "cifar10":
        return cifar.check(cfg.path, cfg.split)
    if cfg.name == lfw.NAME:
        return lfw.check(cfg.split)
    if cfg.name in stacked.BASES:
        stacked.check_channels(cfg.name, cfg.channels)
    directory = idx.find_idx_dir(stacked.BASES.get(cfg.name, cfg.name), cfg.path, cfg.split)
    images, labels = idx.idx_files(directory, cfg.split)
    idx.check_header(images, idx.IMAGES_MAGIC)
    idx.check_header(labels, idx.LABELS_MAGIC)
    return f"{cfg.name} {cfg.split} split from {directory}"


def has_labels(cfg: DataConfig) -> bool:
    """Whether the dataset has class labels, reading no image data: every built-in one but lfw-faces does; an
    image folder does when its images sit in one sub-folder per class."""
    if cfg.task == "paired" or cfg.name == "photos":  # pairs' A/ and B/ are not classes; photos have none
        return False
    if cfg.name == lfw.NAME:
        return False  # faces only, one class
    if cfg.name != "folder":
        return True
    return folder.scan(cfg.path)[1] is not None


def sample_shape(cfg: DataConfig) -> tuple:
    """The shape of one sample a model must produce, without reading data.

    (channels, resolution, resolution) for image datasets; (D,) for toy ones
    (1 for toy-gaussian, 2 for toy-ring and toy-grid).
    """
    _known(cfg.name)
    if cfg.name in toy.DIMS:
        return (toy.DIMS[cfg.name],)
    return (cfg.channels, cfg.resolution, cfg.resolution)
