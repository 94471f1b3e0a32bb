"""The pixel feature space: an image's grey levels (or RGB values) as its feature vector.

gankit's default feature space is a classifier trained on the dataset's own classes
(`classifier.py`); a dataset with one class has none to train it on, and the FID
Inception-v3 needs weights that cannot be downloaded here. For such data (lfw-faces:
100 faces, one class) evaluation falls back on raw pixels, which needs nothing:

- for the data-copying test it is the literal meaning of "copying": a sample at pixel
  distance 0 from a training face *is* that face; near-duplicates (a copy shifted by
  noise or brightness) stay near in L2;
- for FID/KID it is a weak space (it rewards blur, knows nothing of identity, and with
  784 dimensions and 100 real images FID's covariances are rank-deficient), so pixel
  numbers rank runs on the same data only and are not comparable to Inception FIDs.

    PixelFeatures()(x)   # x float (N, C, H, W) in [-1, 1] -> (N, C*H*W), the same values
"""

from __future__ import annotations

from torch import Tensor, nn

from gankit.config import DataConfig

__all__ = ["PixelFeatures", "PIXEL_DATASETS", "default_extractor"]

PIXEL_DATASETS = ("lfw-faces",)
"""Built-in datasets without classes, which `gankit evaluate` scores in pixel space by default."""


class PixelFeatures(nn.Module):
    """(N, C, H, W) float in [-1, 1] -> (N, C*H*W): the pixels themselves, nothing learned."""

    cache_key = "pixels-v1"

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1)


def default_extractor(data_cfg: DataConfig) -> str:
    """"pixels" for the built-in datasets that have no domain classifier (one class), else "classifier"."""
    return "pixels" if data_cfg.name in PIXEL_DATASETS else "classifier"
