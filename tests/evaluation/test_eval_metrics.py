"""Metric math of gankit.evaluation.metrics against closed forms and independent references.

scipy.linalg.sqrtm stands in for pytorch-fid (which needs torchvision) as the
independent FID reference; brute-force numpy loops stand in for the k-NN and
kernel metrics.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from gankit.evaluation.metrics import (
    class_histogram,
    density_coverage,
    feature_stats,
    fid,
    frechet_distance,
    inception_score,
    kid,
    manifold_metrics,
    precision_recall,
)


def correlated_feats(n: int, f: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(f, f)) / math.sqrt(f)
    return rng.normal(size=(n, f)) @ mix + rng.normal(size=f)


def fid_scipy(feats_a, feats_b, eps: float = 1e-6) -> float:
    """The pytorch-fid / TTUR recipe: sqrtm of the non-symmetric product, eps retry, real part."""
    mu1, mu2 = feats_a.mean(0), feats_b.mean(0)
    s1, s2 = np.cov(feats_a, rowvar=False), np.cov(feats_b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        assert np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3)
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


# ----------------------------------------------------------------------------- FID


def test_feature_stats_match_numpy():
    a = correlated_feats(300, 7, 0)
    mu, sigma = feature_stats(torch.from_numpy(a).float())
    assert mu.dtype == np.float64 and mu.shape == (7,) and sigma.shape == (7, 7)
    np.testing.assert_allclose(mu, a.astype(np.float32).mean(0), rtol=1e-5)
    np.testing.assert_allclose(sigma, np.cov(a.astype(np.float32).astype(np.float64), rowvar=False), rtol=1e-10)


def test_fid_of_a_set_with_itself_is_zero():
    a = correlated_feats(1000, 32, 1)
    scale = np.trace(np.cov(a, rowvar=False))
    assert fid(a, a) < 1e-6 * scale
    assert fid(torch.from_numpy(a), a.copy()) < 1e-6 * scale


def test_fid_with_fewer_samples_than_dims_is_finite_and_zero_on_itself():
    a = correlated_feats(20, 64, 2)  # singular covariance: rank 19 of 64
    b = correlated_feats(20, 64, 3)
    scale = np.trace(np.cov(a, rowvar=False))
    assert fid(a, a) < 1e-6 * scale
    value = fid(a, b)
    assert math.isfinite(value) and value > 0


def test_fid_grows_monotonically_with_noise():
    a = correlated_feats(2000, 16, 4)
    noise = np.random.default_rng(5).normal(size=a.shape)
    values = [fid(a, a + s * noise) for s in (0.0, 0.1, 0.3, 1.0, 3.0)]
    assert values[0] < 1e-9
    assert all(lo < hi for lo, hi in zip(values, values[1:])), values


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fid_matches_scipy_sqrtm_reference(seed):
    a = correlated_feats(2000, 32, 10 + seed)
    b = correlated_feats(1500, 32, 20 + seed) * 1.3
    ours, ref = fid(a, b), fid_scipy(a, b)
    assert ours == pytest.approx(ref, rel=1e-6)


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(6)
    mu1, mu2 = rng.normal(size=10), rng.normal(size=10)
    v1, v2 = rng.uniform(0.1, 4, size=10), rng.uniform(0.1, 4, size=10)
    expected = ((mu1 - mu2) ** 2).sum() + (v1 + v2 - 2 * np.sqrt(v1 * v2)).sum()
    got = frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2))
    assert got == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_closed_form_under_rotation():
    # A rotation R maps N(mu, S) to N(R mu, R S R^T) and leaves the distance unchanged;
    # the rotated covariances are full, so this exercises the non-diagonal path.
    rng = np.random.default_rng(7)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    v1, v2 = rng.uniform(0.1, 4, size=6), rng.uniform(0.1, 4, size=6)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    got = frechet_distance(q @ mu1, q @ np.diag(v1) @ q.T, q @ mu2, q @ np.diag(v2) @ q.T)
    assert got == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# ----------------------------------------------------------------------------- KID


def kid_naive(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written as plain loops."""
    m, d = len(x), x.shape[1]

    def k(a, b):
        return (float(np.dot(a, b)) / d + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2 * xy / (m * m)


def test_kid_matches_naive_loop_on_a_tiny_set():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(9, 5)), rng.normal(0.3, 1.2, size=(9, 5))
    # subset_size >= N: every subset is the whole set, so every estimate is the full MMD^2.
    mean, std = kid(x, y, num_subsets=3, subset_size=50)
    assert mean == pytest.approx(kid_naive(x, y), rel=1e-10)
    assert std < 1e-12


def test_kid_clips_subset_size_to_smaller_set():
    rng = np.random.default_rng(9)
    mean, std = kid(rng.normal(size=(40, 4)), rng.normal(size=(6, 4)), num_subsets=5, subset_size=1000)
    assert math.isfinite(mean) and math.isfinite(std)


def test_kid_near_zero_for_two_halves_and_positive_for_shift():
    feats = correlated_feats(2000, 32, 11)
    a, b = feats[:1000], feats[1000:]
    mean, std = kid(a, b, num_subsets=50, subset_size=200, seed=0)
    assert std > 0
    assert abs(mean) < 3 * std
    mean_s, std_s = kid(a, b + 0.5, num_subsets=50, subset_size=200, seed=0)
    assert mean_s > 10 * std_s and mean_s > 10 * abs(mean)


def test_kid_is_deterministic_given_seed():
    feats = correlated_feats(600, 8, 12)
    assert kid(feats[:300], feats[300:], 10, 100, seed=3) == kid(feats[:300], feats[300:], 10, 100, seed=3)
    assert kid(feats[:300], feats[300:], 10, 100, seed=3) != kid(feats[:300], feats[300:], 10, 100, seed=4)


# ----------------------------------------------------- precision/recall/density/coverage


def prdc_naive(real: np.ndarray, fake: np.ndarray, k_pr: int, k_dc: int) -> dict[str, float]:
    """Full distance matrices and sorting: the definitions, without chunking."""
    d_rr = np.sqrt(((real[:, None] - real[None]) ** 2).sum(-1))
    d_ff = np.sqrt(((fake[:, None] - fake[None]) ** 2).sum(-1))
    d_fr = np.sqrt(((fake[:, None] - real[None]) ** 2).sum(-1))  # (M, N)
    # column 0 of each sorted row is the point itself (distance 0)
    rad_r_pr, rad_r_dc = np.sort(d_rr, 1)[:, k_pr], np.sort(d_rr, 1)[:, k_dc]
    rad_f = np.sort(d_ff, 1)[:, k_pr]
    return {
        "precision": np.mean([(d_fr[j] <= rad_r_pr).any() for j in range(len(fake))]),
        "recall": np.mean([(d_fr[:, i] <= rad_f).any() for i in range(len(real))]),
        "density": sum((d_fr[j] <= rad_r_dc).sum() for j in range(len(fake))) / (k_dc * len(fake)),
        "coverage": np.mean([(d_fr[:, i] <= rad_r_dc[i]).any() for i in range(len(real))]),
    }


@pytest.mark.parametrize("batch_rows", [None, 7])
def test_manifold_metrics_match_brute_force(batch_rows):
    rng = np.random.default_rng(13)
    real = rng.normal(size=(150, 6))
    fake = rng.normal(0.4, 1.1, size=(110, 6))
    ref = prdc_naive(real, fake, 3, 5)
    got = manifold_metrics(real, fake, k_pr=3, k_dc=5, batch_rows=batch_rows)
    for key in ref:
        assert got[key] == pytest.approx(ref[key], abs=1e-12), key
    p, r = precision_recall(real, fake, k=3, batch_rows=batch_rows)
    d, c = density_coverage(real, fake, k=5, batch_rows=batch_rows)
    assert (p, r, d, c) == pytest.approx((ref["precision"], ref["recall"], ref["density"], ref["coverage"]), abs=1e-12)


@pytest.fixture(scope="module")
def gaussian_64d():
    g = torch.Generator().manual_seed(14)
    real = torch.randn(3000, 64, generator=g)
    fake = torch.randn(3000, 64, generator=g)
    return real, fake, manifold_metrics(real, fake)


def test_identical_gaussians_give_published_sanity_values(gaussian_64d):
    _, _, m = gaussian_64d
    # Naeem et al. 2020: density ~ 1 and coverage ~ 1 - 2^-k (0.969 for k = 5) when p_g = p_data.
    assert m["density"] == pytest.approx(1.0, abs=0.1)
    assert m["coverage"] == pytest.approx(0.97, abs=0.03)
    # k = 3 precision/recall sit well below 1 in 64-D even for identical distributions
    # (the underestimation Naeem et al. point out); they are equal up to sampling noise.
    assert m["precision"] > 0.5 and m["recall"] > 0.5
    assert abs(m["precision"] - m["recall"]) < 0.05


def test_shifted_fake_drops_all_four(gaussian_64d):
    real, fake, base = gaussian_64d
    shifted = manifold_metrics(real, fake + 0.5)
    for key in base:
        assert shifted[key] < 0.5 * base[key], (key, shifted[key], base[key])


def test_fake_covering_half_the_support_keeps_precision_and_loses_recall():
    g = torch.Generator().manual_seed(15)
    n, d = 2000, 64
    offset = torch.zeros(d)
    offset[0] = 20.0  # two well-separated clusters at +-offset
    sign = (torch.arange(n) % 2 * 2 - 1)[:, None].float()
    real = torch.randn(n, d, generator=g) + sign * offset
    fake = torch.randn(n, d, generator=g) + offset  # only the + cluster
    base = manifold_metrics(real[sign[:, 0] > 0], fake)  # the same fake against the cluster it covers
    m = manifold_metrics(real, fake)
    assert m["precision"] > base["precision"] - 0.1
    assert m["recall"] < 0.6 * base["recall"]
    assert m["coverage"] == pytest.approx(0.5 * base["coverage"], abs=0.05)
    assert m["density"] > 0.8


def test_manifold_metrics_validate_inputs():
    with pytest.raises(ValueError):
        precision_recall(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(ValueError):
        density_coverage(np.zeros((4, 3)), np.zeros((10, 3)), k=5)  # fewer real samples than k + 1
    with pytest.raises(ValueError):
        precision_recall(np.full((10, 3), np.nan), np.zeros((10, 3)))
    with pytest.raises(ValueError):
        density_coverage(np.zeros((10, 3)), np.zeros((0, 3)))


# ------------------------------------------------------------- classifier scores


def test_class_histogram_from_labels_and_probs():
    labels = np.array([0, 0, 1, 3, 3, 3])
    counts, covered = class_histogram(labels, 5)
    np.testing.assert_array_equal(counts, [2, 1, 0, 3, 0])
    assert covered == 3
    probs = np.eye(5)[labels] * 0.8 + 0.04
    counts_p, covered_p = class_histogram(torch.from_numpy(probs), 5)
    np.testing.assert_array_equal(counts_p, counts)
    assert covered_p == 3
    counts_all, covered_all = class_histogram(np.arange(1000) % 10, 10)
    assert covered_all == 10 and (counts_all == 100).all()


def test_class_histogram_rejects_bad_labels():
    with pytest.raises(ValueError):
        class_histogram(np.array([0, 5]), 5)
    with pytest.raises(ValueError):
        class_histogram(np.ones((3, 4)) / 4, 5)


def test_inception_score_extremes():
    one_hot = np.eye(10)[np.arange(1000) % 10]
    mean, std = inception_score(one_hot, splits=10)
    assert mean == pytest.approx(10.0, rel=1e-12) and std < 1e-12
    constant = np.tile(np.random.default_rng(16).dirichlet(np.ones(10)), (1000, 1))
    mean, std = inception_score(constant, splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12) and std < 1e-12


def test_inception_score_matches_formula_on_random_predictions():
    p = np.random.default_rng(17).dirichlet(np.full(7, 0.3), size=400)
    py = p.mean(0)
    expected = math.exp(np.mean(np.sum(p * (np.log(p) - np.log(py)), axis=1)))
    mean, _ = inception_score(p, splits=1)
    assert mean == pytest.approx(expected, rel=1e-12)
    assert 1.0 < mean < 7.0


def test_inception_score_rejects_logits():
    with pytest.raises(ValueError):
        inception_score(np.random.default_rng(18).normal(size=(100, 10)))
