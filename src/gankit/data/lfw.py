"""lfw-faces: the 100 aligned LFW face crops shipped inside scikit-image's wheel.

``skimage.data.lfw_subset()`` holds 200 grey 25x25 images from Labeled Faces in the
Wild (Huang et al.): the first 100 are faces, the other 100 background crops of the
same photos (checked by eye; the function's docstring says so too). Only the faces
are used. They are the only face photographs that can be had on a machine without
internet, and 100 images is the "100-shot" setting of DiffAugment (Zhao et al. 2020)
and ADA (Karras et al. 2020), where the first question is whether the generator
simply memorised its training set.

So the 100 faces are split once, by a fixed seeded permutation, into 80 "train"
faces (what a GAN sees) and 20 "test" faces it never sees: the held-out set that
`gankit evaluate --metrics copying` compares samples with. ``data.split`` picks one.

x: uint8 (N, 1, 25, 25) (0..255, the float data times 255, rounded), y: None (one
class). `load_dataset` then resizes to data.resolution (antialiased bilinear) and
channels. scikit-image is an optional dependency: without it the reader raises a
DataError naming the extra to install.
"""

from __future__ import annotations

import numpy as np
import torch

from gankit.data.dataset import DataError, Dataset

NAME = "lfw-faces"
FACES = 100
"""lfw_subset()'s first FACES images are faces; the rest are not."""
TEST_FACES = 20
"""Held out (the "test" split): 20 % of the faces."""
SPLIT_SEED = 0
NATIVE = 25
INSTALL = "pip install 'gankit[faces]' (or: pip install scikit-image)"


def _skimage_data():
    try:
        from skimage import data
    except ImportError:
        raise DataError(f"{NAME} is read from scikit-image's bundled data, and scikit-image is not "
                        f"installed: {INSTALL}") from None
    return data


def _faces() -> np.ndarray:
    """All 100 faces as uint8 (100, 25, 25)."""
    data = _skimage_data()
    try:
        images = np.asarray(data.lfw_subset())
    except Exception as e:  # a damaged or stripped scikit-image install
        raise DataError(f"{NAME}: scikit-image could not read its lfw_subset data ({e}); "
                        f"reinstall it: {INSTALL}") from None
    if images.ndim != 3 or images.shape[0] < FACES or images.shape[1:] != (NATIVE, NATIVE):
        raise DataError(f"{NAME}: scikit-image's lfw_subset() returned shape {images.shape}, expected "
                        f"(200, {NATIVE}, {NATIVE}); this scikit-image version is not supported")
    faces = images[:FACES]
    if faces.dtype != np.uint8:  # float in [0, 1] (scikit-image >= 0.19); older versions gave uint8
        faces = np.clip(np.round(faces.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    return faces


def split_indices() -> dict[str, torch.Tensor]:
    """{"train": 80 indices, "test": 20 indices} into the 100 faces, sorted; fixed forever
    (a seeded permutation), so every run and every evaluation holds out the same faces."""
    perm = torch.randperm(FACES, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return {"train": perm[TEST_FACES:].sort().values, "test": perm[:TEST_FACES].sort().values}


def load_lfw(split: str) -> Dataset:
    """The `split` ("train": 80 faces, "test": the 20 held out) as uint8 (N, 1, 25, 25), unlabelled."""
    if split not in ("train", "test"):
        raise DataError(f"data.split: must be 'train' or 'test', got {split!r}")
    idx = split_indices()[split]
    x = torch.from_numpy(_faces())[idx][:, None].contiguous()
    return Dataset(x=x, y=None, name=NAME, classes=[],
                   source=f"scikit-image {_version()} data.lfw_subset() faces ({split}: {len(idx)} of {FACES}, "
                          f"fixed seeded split)")


def check(split: str) -> str:
    """What `gankit data check lfw-faces` prints; raises the DataError load_lfw would."""
    data = load_lfw(split)  # 100 tiny images: reading them is the cheapest honest check
    return f"{NAME} {split} split: {len(data)} grey {NATIVE}x{NATIVE} faces from {data.source.split(' (')[0]}"


def _version() -> str:
    import skimage
    return getattr(skimage, "__version__", "?")
