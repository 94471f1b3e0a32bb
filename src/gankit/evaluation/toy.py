"""Mode-collapse scores for samples of the toy Gaussian mixtures (ring, grid, 1-D).

The protocol of VEEGAN (Srivastava et al. 2017, NeurIPS, section 5.1) as
reported by PacGAN (Lin, Khetan, Fanti & Oh 2018, NeurIPS, Table 1), on the
8-Gaussian ring and 25-Gaussian grid of Metz et al. 2017 (unrolled GANs):

- every sample is assigned to its nearest mode centre;
- a sample is *high quality* if it lies within 3 standard deviations of that
  centre (Euclidean distance <= 3 * std, the mixture components being isotropic);
- a mode is *covered* ("captured") if at least `min_count` high-quality samples
  are assigned to it;
- *reverse KL* is KL(p_samples || uniform) between the histogram of
  high-quality samples over the modes and the uniform distribution over the
  K modes (the real mixtures have equal weights): 0 for a perfectly balanced
  generator, log K when every high-quality sample sits in one mode.

Threshold convention: VEEGAN counts a mode as captured when it is "nearest to
at least one high quality sample", and PacGAN's reference code
(github.com/fjxmlzn/PacGAN, synthetic_data_experiments/PacGAN/pacgan/extensions.py,
MetricLogger) counts the modes with a non-zero high-quality count, so the
default here is ``min_count=1``, which reproduces the published numbers'
definition. With the usual 2500 samples a single stray sample then covers a
mode; pass a larger `min_count` (e.g. 20 = 1/5 of the 100 samples a 25-mode
grid expects per mode) for a stricter reading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

# VEEGAN / PacGAN: high quality means within three standard deviations of the nearest mode.
QUALITY_STDS = 3.0


@dataclass(frozen=True)
class ToyScore:
    """Mode-collapse summary of one batch of toy samples.

    modes_covered: modes with at least `min_count` high-quality samples.
    num_modes:     K, the number of mixture components.
    high_quality:  fraction of samples within 3 std of their nearest centre, in [0, 1].
    reverse_kl:    KL(p_samples || uniform over the K modes) of the high-quality
                   samples' mode histogram, in nats; in [0, log K]; inf when no
                   sample is high quality.
    """

    modes_covered: int
    num_modes: int
    high_quality: float
    reverse_kl: float


def _as_points(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:  # 1-D data given as a flat vector of scalars
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must have shape (N,) or (N, D), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def mode_histogram(samples, centers, std: float) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-mode assignment of samples (N, D) (or (N,) in 1-D) to centres (K, D) (or (K,)).

    Returns (counts (K,) int64 of high-quality samples per mode,
    high_quality (N,) bool mask of samples within 3 std of their nearest centre).
    """
    x = _as_points(samples, "samples")
    c = _as_points(centers, "centers")
    if x.shape[1] != c.shape[1]:
        raise ValueError(f"samples are {x.shape[1]}-D but centers are {c.shape[1]}-D")
    if not (std > 0 and math.isfinite(std)):
        raise ValueError(f"std must be a positive number, got {std}")
    # (N, K) squared distances; K is tiny (<= a few dozen), so this is cheap.
    d2 = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)
    nearest = d2.argmin(axis=1)
    hq = d2[np.arange(x.shape[0]), nearest] <= (QUALITY_STDS * std) ** 2
    counts = np.bincount(nearest[hq], minlength=c.shape[0]).astype(np.int64)
    return counts, hq


def score_modes(samples, centers, std: float, min_count: int = 1) -> ToyScore:
    """Score toy samples against known mode centres (see the module docstring for the protocol).

    samples: (N, D) or (N,) generated points; centers: (K, D) or (K,) mode
    means; std: the per-coordinate standard deviation of every mode;
    min_count: high-quality samples a mode needs to count as covered
    (default 1, the VEEGAN / PacGAN convention).
    """
    if int(min_count) != min_count or min_count < 1:
        raise ValueError(f"min_count must be a positive integer, got {min_count}")
    counts, hq = mode_histogram(samples, centers, std)
    k = counts.shape[0]
    n_hq = int(counts.sum())
    if n_hq == 0:
        reverse_kl = math.inf
    else:
        p = counts[counts > 0] / n_hq  # empty modes contribute 0 log 0 = 0
        reverse_kl = float(max((p * np.log(p * k)).sum(), 0.0))
    return ToyScore(
        modes_covered=int((counts >= min_count).sum()),
        num_modes=k,
        high_quality=float(hq.mean()) if hq.size else 0.0,
        reverse_kl=reverse_kl,
    )
