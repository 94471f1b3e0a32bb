"""The classical baselines of the image-to-image benchmark (no learning).

superres   bicubic upsampling (`gankit.data.degrade.upsample`)
denoise / derain / dehaze   the degraded input itself
dehaze     also the dark channel prior (He, Sun & Tang 2009), without the soft-matting /
           guided-filter refinement of t: dark channel = min over channels and a patch, A = the
           mean colour of the brightest 0.1 % of the dark channel, t = 1 - omega * dark(I / A),
           J = (I - A) / max(t, t0) + A, omega = 0.95, t0 = 0.1; the patch is 15 px on the photos
           (the paper's size) and scaled down for small images (side / 16, at least 3)
inpaint    scikit-image's biharmonic inpainting (`skimage.restoration.inpaint_biharmonic`)

Images are float arrays in [0, 1], (H, W, C).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import minimum_filter


def dark_channel_prior(hazy: np.ndarray, patch: int | None = None, omega: float = 0.95, t0: float = 0.1) -> np.ndarray:
    h, w, c = hazy.shape
    patch = patch or max(3, min(15, min(h, w) // 16) | 1)
    dark = minimum_filter(hazy.min(axis=2), size=patch)
    n = max(1, int(round(h * w * 0.001)))
    idx = np.argsort(dark.ravel())[-n:]
    A = hazy.reshape(-1, c)[idx].mean(axis=0).clip(1e-3, 1)
    t = 1 - omega * minimum_filter((hazy / A).min(axis=2), size=patch)
    J = (hazy - A) / np.maximum(t, t0)[:, :, None] + A
    return J.clip(0, 1)


def biharmonic(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    from skimage.restoration import inpaint_biharmonic
    return inpaint_biharmonic(image, mask.astype(bool), channel_axis=-1).clip(0, 1)
