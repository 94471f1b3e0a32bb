"""Sample-quality metrics as pure functions of feature arrays.

Every function takes features as a torch tensor or a numpy array of shape
(N, F) (N samples, F feature dimensions, e.g. Inception pool features or a
domain classifier's penultimate layer) and computes in float64. Nothing here
extracts features, loads models or touches the disk: the extractor and the
`evaluate` front end live elsewhere and hand their arrays to these functions.

    fid                 Heusel et al. 2017 (Frechet distance of Gaussian fits)
    kid                 Binkowski et al. 2018 (unbiased MMD^2, cubic kernel)
    precision_recall    Kynkaanniemi et al. 2019 (k-NN manifold estimate)
    density_coverage    Naeem et al. 2020 (k-NN balls around real samples)
    manifold_metrics    all four of the above from shared distance passes
    inception_score     Salimans et al. 2016 (on any classifier's softmax)
    class_histogram     mode counting for labelled data (stacked MNIST style)

FID and KID depend on the sample size (FID is biased upward for small N), so
only compare numbers computed with the same N and the same feature extractor.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

# Distance blocks are (rows x N) float64; 2**18 entries = 2 MiB stays in cache
# for the comparisons that follow each matmul (2-3x faster than 64 MiB blocks).
_CHUNK_ENTRIES = 2**18
# KID's batched kernel matrices: 2**23 entries = 64 MiB per group of subsets.
_KID_GROUP_ENTRIES = 2**23


def _as_numpy(x, name: str, ndim: int | None = 2) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    a = np.asarray(x, dtype=np.float64)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _as_tensor(x, name: str, device=None) -> Tensor:
    if isinstance(x, Tensor):
        t = x.detach().to(torch.float64)
    else:
        t = torch.as_tensor(np.asarray(x, dtype=np.float64))
    if device is not None:
        t = t.to(device)
    if t.ndim != 2:
        raise ValueError(f"{name} must have shape (N, F), got {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return t.contiguous()


# --------------------------------------------------------------------------- FID


def feature_stats(feats) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of features: (N, F) -> (mu (F,), sigma (F, F)), float64.

    The covariance is the unbiased sample covariance (divides by N - 1), as in
    the reference TTUR / pytorch-fid code, so results are comparable with theirs.
    """
    a = _as_numpy(feats, "feats")
    if a.shape[0] < 2:
        raise ValueError(f"need at least 2 samples for a covariance, got {a.shape[0]}")
    return a.mean(axis=0), np.cov(a, rowvar=False).reshape(a.shape[1], a.shape[1])


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    w, v = np.linalg.eigh(sigma)
    # Sample covariances with N <= F are singular; rounding makes their zero
    # eigenvalues slightly negative, and they are zero in exact arithmetic.
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2).

        d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

    (Dowson & Landau 1982; the FID of Heusel et al. 2017, "GANs trained by a
    two time-scale update rule converge to a local Nash equilibrium".)

    mu: (F,) means; sigma: (F, F) symmetric PSD covariances. Returns the squared
    distance d^2 as a float (the quantity reported as "FID").

    tr((S1 S2)^(1/2)) is computed as the sum of square roots of the eigenvalues
    of the symmetric PSD matrix S1^(1/2) S2 S1^(1/2), which has the same
    spectrum as S1 S2. Unlike scipy.linalg.sqrtm of the non-symmetric product,
    this never produces complex parts and needs no eps-offset retry when the
    covariances are singular (fewer samples than dimensions).
    """
    mu1 = _as_numpy(mu1, "mu1", 1)
    mu2 = _as_numpy(mu2, "mu2", 1)
    s1 = _as_numpy(sigma1, "sigma1", 2)
    s2 = _as_numpy(sigma2, "sigma2", 2)
    f = mu1.shape[0]
    if mu2.shape != (f,) or s1.shape != (f, f) or s2.shape != (f, f):
        raise ValueError(
            f"shape mismatch: mu1 {mu1.shape}, sigma1 {s1.shape}, mu2 {mu2.shape}, sigma2 {s2.shape}"
        )
    s1 = 0.5 * (s1 + s1.T)
    s2 = 0.5 * (s2 + s2.T)
    root1 = _psd_sqrt(s1)
    m = root1 @ s2 @ root1
    eig = np.linalg.eigvalsh(0.5 * (m + m.T))
    tr_covmean = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = mu1 - mu2
    d2 = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)
    # Exact value is >= 0; rounding can leave a tiny negative for identical inputs.
    return max(d2, 0.0)


def fid(feats_a, feats_b) -> float:
    """Frechet Inception Distance between two feature sets (N_a, F) and (N_b, F).

    Heusel et al. 2017. Fits a Gaussian to each set (`feature_stats`) and
    returns `frechet_distance` of the fits. Biased upward for small N:
    compare only values computed with equal sample counts.
    """
    mu1, s1 = feature_stats(feats_a)
    mu2, s2 = feature_stats(feats_b)
    return frechet_distance(mu1, s1, mu2, s2)


# --------------------------------------------------------------------------- KID


def kid(feats_a, feats_b, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: (mean, std) of unbiased MMD^2 over random subsets.

    Binkowski, Sutherland, Arbel & Gretton 2018, "Demystifying MMD GANs".
    Kernel k(x, y) = (x.y / d + 1)^3 with d = F. For each of `num_subsets`
    subsets of m = min(subset_size, N_a, N_b) samples drawn without replacement
    from each set, the unbiased estimator

        MMD^2 = sum_{i!=j} k(a_i, a_j) / (m(m-1)) + sum_{i!=j} k(b_i, b_j) / (m(m-1))
                - 2 sum_{i,j} k(a_i, b_j) / m^2

    is computed; the mean and (population) standard deviation over subsets
    are returned. Unbiased, so it can be slightly negative when the sets match.
    Subsets come from a torch.Generator seeded with `seed`.
    """
    a = _as_tensor(feats_a, "feats_a")
    b = _as_tensor(feats_b, "feats_b", device=a.device)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    if num_subsets < 1:
        raise ValueError(f"num_subsets must be >= 1, got {num_subsets}")
    m = min(int(subset_size), a.shape[0], b.shape[0])
    if m < 2:
        raise ValueError(f"KID needs subsets of at least 2 samples, got {m}")
    d = a.shape[1]
    gen = torch.Generator().manual_seed(int(seed))
    idx_a = torch.stack([torch.randperm(a.shape[0], generator=gen)[:m] for _ in range(num_subsets)])
    idx_b = torch.stack([torch.randperm(b.shape[0], generator=gen)[:m] for _ in range(num_subsets)])
    # Subsets are batched (bmm) in groups of about 2**23 kernel entries: many
    # tiny per-subset ops are slow on a busy multi-threaded CPU.
    group = max(1, _KID_GROUP_ENTRIES // (m * m))
    one = torch.ones(1, 1, 1, dtype=a.dtype, device=a.device)
    estimates = []
    for lo in range(0, num_subsets, group):
        x = a[idx_a[lo:lo + group].to(a.device)]  # (S, m, F)
        y = b[idx_b[lo:lo + group].to(a.device)]
        kxx = torch.baddbmm(one, x, x.transpose(1, 2), alpha=1.0 / d).pow_(3)
        kyy = torch.baddbmm(one, y, y.transpose(1, 2), alpha=1.0 / d).pow_(3)
        kxy = torch.baddbmm(one, x, y.transpose(1, 2), alpha=1.0 / d).pow_(3)
        within = (kxx.sum((1, 2)) - kxx.diagonal(dim1=1, dim2=2).sum(1)
                  + kyy.sum((1, 2)) - kyy.diagonal(dim1=1, dim2=2).sum(1)) / (m * (m - 1))
        estimates.append(within - 2 * kxy.sum((1, 2)) / (m * m))
    est = torch.cat(estimates).cpu().numpy()
    return float(est.mean()), float(est.std())


# ------------------------------------------------------ k-NN manifold metrics


def _sq_dists(x: Tensor, y: Tensor, y_sq: Tensor) -> Tensor:
    """Squared Euclidean distances (len(x), len(y)) via the Gram matrix, float64.

    Not clamped at 0: rounding can leave ~1e-13 negatives for (near-)duplicate
    points, which only ever compare as "inside" a ball of radius >= 0.
    """
    return torch.addmm(y_sq[None, :], x, y.T, alpha=-2.0).add_((x * x).sum(1, keepdim=True))


def _chunks(n_rows: int, n_cols: int, batch_rows: int | None):
    step = batch_rows or max(1, _CHUNK_ENTRIES // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield start, min(n_rows, start + step)


def _knn_sq_radii(x: Tensor, ks: tuple[int, ...], batch_rows: int | None = None) -> dict[int, Tensor]:
    """Squared distance from each row of x to its k-th nearest *other* row, for each k in ks."""
    n = x.shape[0]
    kmax = max(ks)
    if n <= kmax:
        raise ValueError(f"k-NN radii with k={kmax} need more than {kmax} samples, got {n}")
    x_sq = (x * x).sum(1)
    out = {k: torch.empty(n, dtype=x.dtype, device=x.device) for k in ks}
    for lo, hi in _chunks(n, n, batch_rows):
        d = _sq_dists(x[lo:hi], x, x_sq)
        # Exclude the point itself explicitly (its computed distance is a
        # rounding-level number, not necessarily the smallest); exact
        # duplicates of it still count as neighbours at distance 0.
        idx = torch.arange(lo, hi, device=x.device)
        d[idx - lo, idx] = math.inf
        nearest = torch.topk(d, kmax, dim=1, largest=False, sorted=True).values
        for k in ks:
            out[k][lo:hi] = nearest[:, k - 1].clamp_min(0.0)
    return out


def _ball_stats(real: Tensor, fake: Tensor, real_radii: list[Tensor], r_fake: Tensor | None,
                batch_rows: int | None = None):
    """One pass over the (fake x real) distance matrix, never held whole in memory.

    Balls B(x, r) use squared radii r. For each (N,) radius set in real_radii returns
      fake_in_real: (M,) how many real balls contain each fake sample
      real_covered: (N,) whether each real ball contains at least one fake sample
    and real_in_fake: (N,) whether each real sample lies in some fake ball of
    squared radius r_fake (M,), or None when r_fake is None.
    """
    n, m = real.shape[0], fake.shape[0]
    real_sq = (real * real).sum(1)
    counts = [torch.empty(m, dtype=torch.int64, device=real.device) for _ in real_radii]
    # A real ball holds some fake sample iff its nearest fake sample is inside,
    # so one running column minimum serves every radius set.
    nearest_fake = torch.full((n,), math.inf, dtype=real.dtype, device=real.device)
    real_in_fake = None if r_fake is None else torch.zeros(n, dtype=torch.bool, device=real.device)
    for lo, hi in _chunks(m, n, batch_rows):
        d = _sq_dists(fake[lo:hi], real, real_sq)  # (chunk, N)
        torch.minimum(nearest_fake, d.amin(0), out=nearest_fake)
        for radius, fake_in_real in zip(real_radii, counts):
            fake_in_real[lo:hi] = (d <= radius[None, :]).sum(1)
        if r_fake is not None:
            real_in_fake |= (d <= r_fake[lo:hi, None]).any(0)
    return [(c, nearest_fake <= r) for c, r in zip(counts, real_radii)], real_in_fake


def _pair(real, fake) -> tuple[Tensor, Tensor]:
    r = _as_tensor(real, "real")
    f = _as_tensor(fake, "fake", device=r.device)
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"feature sizes differ: real {r.shape[1]} vs fake {f.shape[1]}")
    if r.shape[0] == 0 or f.shape[0] == 0:
        raise ValueError(f"need samples in both sets, got {r.shape[0]} real and {f.shape[0]} fake")
    return r, f


def _check_k(k: int, name: str = "k") -> int:
    if int(k) != k or k < 1:
        raise ValueError(f"{name} must be a positive integer, got {k}")
    return int(k)


def _prune(sq_radii: Tensor, prune: float | None) -> Tensor:
    """Radii with the balls above the `prune` quantile removed (set to -1: they hold nothing).

    The largest k-NN balls sit on isolated samples (outliers), and off-data
    points (a grey square, a blob) fall into them: Kynkaanniemi et al.'s
    reference code offers the same pruning (`clamp_to_percentile`).
    """
    if prune is None:
        return sq_radii
    if not 0.0 < prune <= 1.0:
        raise ValueError(f"prune must be in (0, 1], got {prune}")
    cut = torch.quantile(sq_radii, prune)
    return torch.where(sq_radii <= cut, sq_radii, torch.full_like(sq_radii, -1.0))


def precision_recall(real, fake, k: int = 3, batch_rows: int | None = None,
                     prune: float | None = None) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi, Karras, Laine, Lehtinen & Aila 2019, NeurIPS).

    real: (N, F) and fake: (M, F) features. Each set's manifold is the union of
    balls centred on its samples, each with radius the distance to its k-th
    nearest other sample of the same set (closed balls).
      precision = fraction of fake samples inside the real manifold (fidelity)
      recall    = fraction of real samples inside the fake manifold (diversity)
    prune: if given (e.g. 0.95), each manifold drops its balls with radius
    above that quantile of its radii (outlier balls; see `_prune`).
    The real manifold's balls shrink as N grows, so precision is only
    comparable at the same N (real); fix N and vary M freely.
    Distances are computed in float64 in row chunks of about 2 MiB
    (`batch_rows` overrides the chunk height), so 10k x 10k runs in seconds on
    a CPU. Torch inputs stay on their device.
    """
    out = manifold_metrics(real, fake, k_pr=k, k_dc=k, batch_rows=batch_rows, prune=prune)
    return out["precision"], out["recall"]


def density_coverage(real, fake, k: int = 5, batch_rows: int | None = None) -> tuple[float, float]:
    """Density and coverage (Naeem, Oh, Uh, Choi & Yoo 2020, ICML).

    real: (N, F) and fake: (M, F) features; closed balls B(x_i, r_i) around
    real samples with r_i the distance to the k-th nearest other real sample.
      density  = (1 / (k M)) sum_j #{i : fake_j in B(x_i, r_i)}
                 (fidelity; about 1 when p_g = p_data, unbounded above)
      coverage = (1 / N) #{i : B(x_i, r_i) contains some fake_j}
                 (diversity; about 1 - 2^-k, 0.97 for k=5, when p_g = p_data
                 and M = N: coverage grows with M / N, so use M = N)
    Only the real manifold is estimated, which makes both robust to fake
    outliers. Same chunking as `precision_recall`.
    """
    k = _check_k(k)
    r, f = _pair(real, fake)
    r_real = _knn_sq_radii(r, (k,), batch_rows)[k]
    [(fake_in_real, real_covered)], _ = _ball_stats(r, f, [r_real], None, batch_rows)
    return float(fake_in_real.double().sum()) / (k * f.shape[0]), float(real_covered.double().mean())


def manifold_metrics(real, fake, k_pr: int = 3, k_dc: int = 5, batch_rows: int | None = None,
                     prune: float | None = None, coverage_real=None) -> dict[str, float]:
    """precision, recall (k=k_pr), density and coverage (k=k_dc) sharing the distance passes.

    real: (N, F), fake: (M, F). Same values as `precision_recall(real, fake,
    k_pr, prune=prune)` and `density_coverage(real, fake, k_dc)`: the real k-NN
    radii and the real-fake distances are computed once instead of twice.
    coverage_real: (N2, F), if given, the real set for coverage only (coverage
    needs N2 = M, while precision, recall and density are best estimated
    against one fixed, larger real set whatever M is).
    """
    k_pr, k_dc = _check_k(k_pr, "k_pr"), _check_k(k_dc, "k_dc")
    r, f = _pair(real, fake)
    radii = _knn_sq_radii(r, tuple(sorted({k_pr, k_dc})), batch_rows)
    r_pr = _prune(radii[k_pr], prune)
    # A set of identical fakes has radius 0 everywhere: recall then counts exact hits only.
    r_fake = _prune(_knn_sq_radii(f, (k_pr,), batch_rows)[k_pr], prune)
    [(in_pr, _), (in_dc, covered)], real_in_fake = _ball_stats(r, f, [r_pr, radii[k_dc]], r_fake, batch_rows)
    if coverage_real is not None:
        c, _ = _pair(coverage_real, fake)
        rc = _knn_sq_radii(c, (k_dc,), batch_rows)[k_dc]
        [(_, covered)], _ = _ball_stats(c, f, [rc], None, batch_rows)
    return {
        "precision": float((in_pr > 0).double().mean()),
        "recall": float(real_in_fake.double().mean()),
        "density": float(in_dc.double().sum()) / (k_dc * f.shape[0]),
        "coverage": float(covered.double().mean()),
    }


# ------------------------------------------------------------ classifier scores


def class_histogram(labels_or_probs, num_classes: int) -> tuple[np.ndarray, int]:
    """Histogram of predicted classes and the number of classes that occur.

    labels_or_probs: integer labels (N,) in [0, num_classes), or class scores
    (N, num_classes) (probabilities or logits; the argmax is taken).
    Returns (counts (num_classes,) int64, classes_covered = #classes with count >= 1),
    the mode count of the stacked-MNIST protocol (Metz et al. 2017; Srivastava
    et al. 2017) when the classes are the modes.
    """
    if isinstance(labels_or_probs, Tensor):
        labels_or_probs = labels_or_probs.detach().cpu().numpy()
    a = np.asarray(labels_or_probs)
    if a.ndim == 2:
        if a.shape[1] != num_classes:
            raise ValueError(f"scores have {a.shape[1]} columns, expected num_classes={num_classes}")
        labels = a.argmax(axis=1)
    elif a.ndim == 1:
        if a.size and not np.issubdtype(a.dtype, np.integer):
            if not np.all(a == np.round(a)):
                raise ValueError("1-D input must hold integer class labels")
        labels = a.astype(np.int64)
    else:
        raise ValueError(f"expected labels (N,) or scores (N, C), got shape {a.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got range [{labels.min()}, {labels.max()}]")
    counts = np.bincount(labels, minlength=num_classes).astype(np.int64)
    return counts, int((counts > 0).sum())


def inception_score(probs, splits: int = 10) -> tuple[float, float]:
    """Inception score exp(E_x KL(p(y|x) || p(y))) (Salimans et al. 2016, "Improved techniques for training GANs").

    probs: (N, C) softmax outputs of a classifier (any domain classifier, not
    only Inception; rows must sum to 1). The samples are cut into `splits`
    contiguous parts; in each part p(y) is the mean prediction and the score
    is exp of the mean KL; returns (mean, std) over parts. Ranges from 1
    (every sample gets the same prediction) to C (confident predictions spread
    evenly over all C classes).
    """
    p = _as_numpy(probs, "probs")
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("probs must be non-negative rows summing to 1 (apply softmax to logits first)")
    if not 1 <= splits <= p.shape[0]:
        raise ValueError(f"splits must be in [1, N={p.shape[0]}], got {splits}")
    scores = []
    for part in np.array_split(p, splits):
        py = part.mean(axis=0, keepdims=True)
        # xlogy-style: 0 log 0 = 0, and py > 0 wherever part > 0.
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(part > 0, part * (np.log(part) - np.log(py)), 0.0).sum(axis=1)
        scores.append(math.exp(kl.mean()))
    s = np.asarray(scores)
    return float(s.mean()), float(s.std())
