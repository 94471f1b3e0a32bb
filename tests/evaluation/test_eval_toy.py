"""PacGAN / VEEGAN mode scoring of toy samples on constructed inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gankit.evaluation.toy import ToyScore, mode_histogram, score_modes

STD = 0.02


def ring(k: int = 8, radius: float = 2.0) -> np.ndarray:
    theta = 2 * np.pi * np.arange(k) / k
    return radius * np.stack([np.cos(theta), np.sin(theta)], axis=1)


def at_modes(centers: np.ndarray, modes, per_mode: int) -> np.ndarray:
    """per_mode copies of each listed centre, nudged by 1 std (well inside the 3-std ball)."""
    pts = np.repeat(centers[list(modes)], per_mode, axis=0)
    return pts + STD * np.array([0.6, -0.8])


def test_all_eight_ring_modes_from_the_true_mixture():
    centers = ring()
    rng = np.random.default_rng(0)
    labels = np.arange(2500) % 8
    samples = centers[labels] + STD * rng.normal(size=(2500, 2))
    score = score_modes(torch.from_numpy(samples).float(), centers, STD)
    assert isinstance(score, ToyScore)
    assert score.modes_covered == 8 and score.num_modes == 8
    # P(|N(0, I_2)| <= 3) = 1 - exp(-9/2) = 0.9889
    assert score.high_quality == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert 0.0 <= score.reverse_kl < 0.01


def test_uniform_histogram_has_zero_reverse_kl():
    score = score_modes(at_modes(ring(), range(8), 50), ring(), STD)
    assert score == ToyScore(modes_covered=8, num_modes=8, high_quality=1.0, reverse_kl=0.0)


def test_half_the_modes():
    score = score_modes(at_modes(ring(), [0, 2, 4, 6], 100), ring(), STD)
    assert score.modes_covered == 4
    assert score.reverse_kl == pytest.approx(math.log(2), rel=1e-12)


def test_one_mode_gives_log_k():
    score = score_modes(at_modes(ring(), [3], 500), ring(), STD)
    assert score.modes_covered == 1
    assert score.high_quality == 1.0
    assert score.reverse_kl == pytest.approx(math.log(8), rel=1e-12)


def test_far_samples_are_low_quality_and_cover_nothing():
    centers = ring()
    good = at_modes(centers, [0, 1], 100)
    # the ring's centre and points between neighbouring modes are far from every mode
    far = np.concatenate([np.zeros((100, 2)), 0.5 * (centers + np.roll(centers, 1, axis=0))])
    score = score_modes(np.concatenate([good, far]), centers, STD)
    assert score.high_quality == pytest.approx(200 / 308)
    assert score.modes_covered == 2
    assert score.reverse_kl == pytest.approx(math.log(4), rel=1e-12)
    only_far = score_modes(far, centers, STD)
    assert only_far.modes_covered == 0 and only_far.high_quality == 0.0
    assert only_far.reverse_kl == math.inf


def test_three_std_boundary():
    centers = np.array([[0.0, 0.0], [10.0, 0.0]])
    inside = np.array([[2.9 * STD, 0.0]])
    outside = np.array([[0.0, 3.1 * STD]])
    counts, hq = mode_histogram(np.concatenate([inside, outside]), centers, STD)
    np.testing.assert_array_equal(hq, [True, False])
    np.testing.assert_array_equal(counts, [1, 0])


def test_min_count_threshold():
    centers = ring()
    samples = np.concatenate([at_modes(centers, [0, 1, 2], 100), at_modes(centers, [5], 5)])
    assert score_modes(samples, centers, STD).modes_covered == 4  # default: at least one sample
    assert score_modes(samples, centers, STD, min_count=20).modes_covered == 3
    with pytest.raises(ValueError):
        score_modes(samples, centers, STD, min_count=0)


def test_one_dimensional_modes():
    centers = np.array([-2.0, 0.0, 2.0])
    samples = np.array([-2.0] * 30 + [0.01] * 30)  # (N,) scalars; no samples at +2
    score = score_modes(samples, centers, 0.1)
    assert score.modes_covered == 2 and score.num_modes == 3 and score.high_quality == 1.0
    assert score.reverse_kl == pytest.approx(math.log(3 / 2), rel=1e-12)
    assert score_modes(samples[:, None], centers[:, None], 0.1) == score


def test_rejects_dimension_mismatch_and_bad_std():
    with pytest.raises(ValueError):
        score_modes(np.zeros((5, 2)), np.zeros((3, 3)), 0.1)
    with pytest.raises(ValueError):
        score_modes(np.zeros((5, 2)), ring(), 0.0)
