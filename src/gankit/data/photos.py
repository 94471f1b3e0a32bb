"""A small colour-photo set from the photographs that ship inside scikit-image's and scikit-learn's wheels.

No photo dataset can be downloaded on the machines gankit targets, but the two libraries carry
real photographs for their examples. `photos` (data.name) uses them:

    train   random square patches (data.resolution px, PATCHES of them, or data.limit) from the
            TRAIN photos, at positions and horizontal flips fixed by a constant seed (the data is
            the same in every run; the trainer shuffles it);
    test    the HELD_OUT photos, whole: `held_out()` gives each at its own size (what
            `benchmarks/image2image` and `gankit translate` use), and the test split (a tensor,
            as every split is) tiles them into non-overlapping data.resolution squares.

The photos are read straight from the installed packages' data folders (no network, no pooch
cache), as RGB uint8; data.channels = 1 converts them to grey like any dataset. They need the
`image2image` extra (scikit-image, scikit-learn).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gankit.data.dataset import DataError, Dataset

TRAIN = ("skimage:astronaut.png", "skimage:coffee.png", "skimage:motorcycle_left.png",
         "skimage:hubble_deep_field.jpg", "skimage:retina.jpg", "skimage:ihc.png", "sklearn:china.jpg")
"""Photographs patches are cut from: a portrait, a still life, a street scene, a telescope field, a
retina, a microscope slide, a landscape."""
HELD_OUT = ("skimage:chelsea.png", "skimage:rocket.jpg", "sklearn:flower.jpg")
"""Never trained on: a cat, a rocket launch, a flower."""
PATCHES = 4096
PATCH_SEED = 20240613


def _folder(package: str) -> Path:
    try:
        if package == "skimage":
            import skimage.data as mod
            return Path(mod.__file__).parent
        import sklearn.datasets as mod
        return Path(mod.__file__).parent / "images"
    except ImportError:
        raise DataError(f"data.name: photos are read from the {package} package, which is not installed; "
                        f"pip install 'gankit[image2image]'") from None


@functools.lru_cache(maxsize=None)  # decoded once per process (the JPEGs take a second); read-only
def read_photo(entry: str) -> np.ndarray:
    """One photo "package:file" -> uint8 (3, H, W), read-only (copy before changing it)."""
    package, name = entry.split(":", 1)
    path = _folder(package) / name
    try:
        with Image.open(path) as img:
            arr = np.array(img.convert("RGB"), dtype=np.uint8)
    except OSError as e:
        raise DataError(f"data.name: photos: cannot read {path} ({e})") from None
    arr = arr.transpose(2, 0, 1).copy()
    arr.flags.writeable = False
    return arr


def held_out() -> list[tuple[str, np.ndarray]]:
    """[(name, uint8 (3, H, W))] of the HELD_OUT photos, whole."""
    return [(e.split(":", 1)[1].rsplit(".", 1)[0], read_photo(e)) for e in HELD_OUT]


def describe() -> str:
    return (f"photos: {len(TRAIN)} photographs from scikit-image/scikit-learn for training patches, "
            f"{len(HELD_OUT)} held out ({', '.join(n.split(':')[1] for n in HELD_OUT)})")


def check() -> str:
    for entry in TRAIN + HELD_OUT:
        package, name = entry.split(":", 1)
        if not (_folder(package) / name).is_file():
            raise DataError(f"data.name: photos: {_folder(package) / name} is missing from the {package} install")
    return describe()


def load_photos(split: str, resolution: int, limit: int = 0) -> Dataset:
    """uint8 RGB patches (train) or tiles of the held-out photos (test), side `resolution`."""
    if split == "test":
        tiles = []
        for _, img in held_out():
            _, h, w = img.shape
            for top in range(0, h - resolution + 1, resolution):
                for left in range(0, w - resolution + 1, resolution):
                    tiles.append(img[:, top:top + resolution, left:left + resolution])
        x = torch.from_numpy(np.stack(tiles))
        source = f"photos test split: {len(tiles)} tiles of {len(HELD_OUT)} held-out photos"
    else:
        photos = [read_photo(e) for e in TRAIN]
        n = limit or PATCHES
        rng = np.random.default_rng(PATCH_SEED + resolution)
        out = np.empty((n, 3, resolution, resolution), np.uint8)
        for i in range(n):
            img = photos[i % len(photos)]  # every photo equally often
            _, h, w = img.shape
            if min(h, w) < resolution:
                raise DataError(f"data.resolution: {resolution} is larger than a training photo ({w}x{h})")
            top, left = rng.integers(0, h - resolution + 1), rng.integers(0, w - resolution + 1)
            patch = img[:, top:top + resolution, left:left + resolution]
            out[i] = patch[:, :, ::-1] if rng.random() < 0.5 else patch
        x = torch.from_numpy(out)
        source = f"photos train split: {n} patches of {len(TRAIN)} photos"
    return Dataset(x=x.contiguous(), y=None, name="photos", classes=[], source=source)
