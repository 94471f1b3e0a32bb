"""PSNR / SSIM of image-to-image outputs: the scikit-image definitions, per image."""

import numpy as np
import torch
from skimage.metrics import structural_similarity

from gankit.evaluation.restoration import psnr, score, ssim


def test_psnr_matches_its_definition():
    t = torch.full((2, 1, 8, 8), 100, dtype=torch.uint8)
    o = t.clone()
    o[0] += 10  # MSE 100 -> 10 log10(255^2 / 100)
    values = psnr(o, t)
    assert np.isclose(values[0], 10 * np.log10(255 ** 2 / 100)) and np.isinf(values[1])
    assert score(o, t, ("psnr",))["psnr"] == (values[0] + 100) / 2  # an exact output counts as 100 dB


def test_ssim_uses_wang_et_al_settings_per_image_and_channel():
    rng = np.random.default_rng(0)
    t = torch.from_numpy(rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8))
    o = (t.int() + torch.from_numpy(rng.integers(-20, 20, (3, 3, 32, 32)))).clamp(0, 255).to(torch.uint8)
    values = ssim(o, t)
    ref = structural_similarity(t[1].permute(1, 2, 0).numpy().astype(float), o[1].permute(1, 2, 0).numpy().astype(float),
                                data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                channel_axis=-1)
    assert values.shape == (3,) and np.isclose(values[1], ref) and (values < 1).all()
    assert np.allclose(ssim(t, t), 1.0)
    assert ssim(t[:, :, :8, :8], t[:, :, :8, :8]).shape == (3,)  # smaller than the 11 px window
