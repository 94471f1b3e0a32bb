"""A tiny GAN really learns: the 1-D Gaussian's mean and std, and every mode of the 8-Gaussian ring."""

import pytest

from gankit import config as C
from gankit.data import toy_modes
from gankit.data.toy import GAUSSIAN_MEAN, GAUSSIAN_STD
from gankit.evaluation.toy import score_modes
from gankit.io.generator import load_generator
from gankit.training.loop import train


def _train(tmp_path, preset, *overrides):
    cfg = C.resolve(preset=preset, overrides=[f"out={tmp_path / preset}", *overrides])
    return cfg, load_generator(train(cfg, progress=False))


@pytest.mark.slow
def test_fits_a_1d_gaussian(tmp_path):
    _, G = _train(tmp_path, "toy-gaussian", "train.kimg=150")
    x = G.sample(5000, seed=1)[:, 0]
    # A GAN is not a maximum-likelihood fit; these bounds are 0.4 data-std for the
    # mean and 40% for the std, far tighter than an untrained G (mean ~0, std ~0.1).
    assert abs(x.mean().item() - GAUSSIAN_MEAN) < 0.4 * GAUSSIAN_STD
    assert abs(x.std().item() - GAUSSIAN_STD) < 0.4 * GAUSSIAN_STD


@pytest.mark.slow
def test_covers_the_8_gaussian_ring(tmp_path):
    # The preset's EMA (50 kimg half-life) pays off only over its full 1500 kimg, so it is off here.
    # Its lazy R1 stays: without it the plain MLP GAN is at the mercy of the seed and the CPU's
    # float rounding (on one AMD EPYC, seeds 0-3 covered 7, 8, 0 and 5 modes; with R1, 8 on each).
    cfg, G = _train(tmp_path, "toy-ring", "train.kimg=300", "model.ema_half_life_kimg=0")
    centers, std = toy_modes(cfg.data.name)
    score = score_modes(G.sample(2500, seed=1), centers, std)
    assert score.modes_covered == 8          # VEEGAN/PacGAN rule: a high-quality sample nearest each mode
    assert score.reverse_kl < 0.5            # and the modes are visited roughly evenly (one mode: log 8 = 2.08)
    assert score.high_quality > 0.2
