"""Scores for class-conditional generators: intra-FID, class consistency and CAS, each beside its floor.

A conditional generator draws sample i of class ``i % K`` (`G.sample` without labels), so every
class gets ``num // K`` samples (one more for the first ``num % K``). Three questions, three numbers:

- **intra_fid** — is class c's output like class c's data? FID between the samples of class c and
  the real *train* images of class c in the evaluation's reference set (the same fixed random subset
  of `num` train images as FID), per class, and the mean over classes. Floor: the same between the
  real *test* images of class c and that reference.
- **consistency** — does G draw the class it was asked for? The domain classifier's accuracy on the
  samples w.r.t. the requested class. Floor: that classifier's accuracy on the whole real test split
  (a generator that is perfect in class terms scores what real images score).
- **cas** — Classification Accuracy Score (Ravuri & Vinyals 2019): the reference classifier below,
  trained only on the `num` labelled samples, then tested on the whole real test split. Floor: the
  same classifier trained on `num` labelled real *train* images (the reference set) — so for CAS the
  "floor" is the real-data accuracy to reach; `cas_ratio` in the result is their quotient.

No test image trains anything here: the reference classifier is trained on samples (or on train
images for the floor) and only tested on the test split.

The reference classifier (`CAS_CONFIG`) is fixed and documented so CAS numbers compare across runs:
the domain classifier's architecture (`classifier.DomainClassifier`: conv 5x5/s2 32 -> conv 3x3/s2
64 -> conv 3x3/s2 128, each with batch norm and ReLU, 4x4 average pool, linear 128 + batch norm +
ReLU, dropout 0.3, linear head), Adam with a one-cycle schedule (peak lr 2e-3, 15 % warm-up), batch
64, 2 epochs over its training set and at least 500 steps (the schedule the domain classifier
itself is fitted with), weights, dropout and batch order seeded with 0, no augmentation. 500 steps
(any set up to 16,000 images) take about half a minute on one quiet CPU core; 60,000 images (1,875
steps) about two minutes.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.data import Dataset, to_float
from gankit.evaluation import metrics as M
from gankit.evaluation.classifier import ClassifierConfig, DomainClassifier, accuracy, train_steps
from gankit.evaluation.features import EvaluationError, short_hash

__all__ = ["CONDITIONAL_METRICS", "CAS_CONFIG", "AUGMENTS", "sample_labels", "intra_fid", "class_consistency",
           "fit_reference", "accuracy", "cas", "require_conditional"]

CONDITIONAL_METRICS = ("intra_fid", "consistency", "cas")
"""The metric names of conditional runs (their how-to-read lines are in `catalog.IMAGE_METRICS`)."""

CAS_CONFIG = ClassifierConfig(epochs=2.0, min_steps=500, batch_size=64, lr=2e-3, dropout=0.3, flip=False, seed=0)
"""The CAS reference classifier: the domain classifier's network and schedule (2 epochs, >= 500 steps), seed 0."""

AUGMENTS = ("", "flip", "crop", "flip,crop")
"""Classic augmentation for `fit_reference`: horizontal flip (p = 0.5) and/or a random crop of the
image padded by 2 pixels with black (a shift of up to 2 pixels each way)."""

MIN_PER_CLASS = 2  # a covariance needs two rows


def require_conditional(G, what: str) -> int:
    """K, the generator's number of classes; an EvaluationError (one line) for an unconditional G."""
    k = int(getattr(G, "num_classes", 0) or 0)
    if k < 1:
        raise EvaluationError(f"--metrics: {what} score a class-conditional generator (model.conditional); "
                              f"this one is unconditional")
    return k


def sample_labels(num: int, num_classes: int, start: int = 0) -> Tensor:
    """The class of each of samples start..start+num-1 as `G.sample` draws them: i % K, int64 (num,)."""
    return torch.arange(start, start + num, dtype=torch.int64) % num_classes


# --------------------------------------------------------------------------- intra-FID


def intra_fid(fake_feats, fake_labels, real_feats, real_labels, num_classes: int) -> tuple[float, list[float]]:
    """(mean, per-class list) of FID between each class's fake and real features.

    fake_feats (N, F) with int labels (N,), real_feats (M, F) with labels (M,). A class with fewer
    than two rows on either side scores NaN and is left out of the mean (NaN if all are).
    """
    fx, fy = np.asarray(fake_feats, dtype=np.float64), np.asarray(fake_labels)
    rx, ry = np.asarray(real_feats, dtype=np.float64), np.asarray(real_labels)
    if len(fx) != len(fy) or len(rx) != len(ry):
        raise EvaluationError(f"intra_fid: {len(fx)} fake features with {len(fy)} labels, "
                              f"{len(rx)} real features with {len(ry)} labels")
    per = []
    for c in range(num_classes):
        a, b = fx[fy == c], rx[ry == c]
        per.append(M.fid(a, b) if min(len(a), len(b)) >= MIN_PER_CLASS else math.nan)
    finite = [v for v in per if math.isfinite(v)]
    return (float(np.mean(finite)) if finite else math.nan), per


# --------------------------------------------------------------------------- consistency


def class_consistency(logits, labels) -> tuple[float, list[float]]:
    """(accuracy, per-class accuracy) of argmax(logits) (N, K) against the requested labels (N,)."""
    pred = torch.as_tensor(np.asarray(logits)).argmax(1)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    if len(pred) != len(y) or len(y) == 0:
        raise EvaluationError(f"consistency: {len(pred)} predictions for {len(y)} labels")
    hit = (pred == y).double()
    k = int(np.asarray(logits).shape[1])
    per = [float(hit[y == c].mean()) if bool((y == c).any()) else math.nan for c in range(k)]
    return float(hit.mean()), per


# --------------------------------------------------------------------------- the reference classifier


def _augment(x: Tensor, augment: str, gen: torch.Generator) -> Tensor:
    """x float (B, C, H, W) in [-1, 1] -> the same shape, flipped and/or shifted per image (seeded)."""
    parts = {p for p in augment.split(",") if p}
    if "flip" in parts:
        flip = torch.rand(len(x), generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if "crop" in parts:
        pad, (h, w) = 2, x.shape[2:]
        padded = F.pad(x, (pad, pad, pad, pad), value=-1.0)  # black, the background of these datasets
        dy = torch.randint(0, 2 * pad + 1, (len(x),), generator=gen)
        dx = torch.randint(0, 2 * pad + 1, (len(x),), generator=gen)
        rows = (dy[:, None] + torch.arange(h)[None])[:, None, :, None].expand(-1, x.shape[1], -1, w + 2 * pad)
        x = padded.gather(2, rows)
        cols = (dx[:, None] + torch.arange(w)[None])[:, None, None, :].expand(-1, x.shape[1], h, -1)
        x = x.gather(3, cols)
    return x


def fit_reference(x: Tensor, y: Tensor, num_classes: int, cfg: ClassifierConfig | None = None,
                  augment: str = "", progress: str | None = None, device="cpu") -> DomainClassifier:
    """Train the reference classifier on labelled images; returns it in eval mode (on CPU).

    x: uint8 (N, C, H, W) (or float in [-1, 1]); y: int64 (N,) in [0, num_classes).
    cfg: the network and schedule (default `CAS_CONFIG`): max(min_steps, ceil(epochs * N / batch))
    Adam steps on whole batches of a seeded shuffle. augment: one of `AUGMENTS`. The global torch
    RNG is left as it was (weights are initialised under a fork of it, seeded with cfg.seed).
    """
    cfg = cfg or CAS_CONFIG
    if augment not in AUGMENTS:
        raise EvaluationError(f"augment: expected one of {', '.join(map(repr, AUGMENTS))}, got {augment!r}")
    y = torch.as_tensor(y, dtype=torch.int64)
    if x.ndim != 4 or len(x) != len(y) or len(x) < 2:
        raise EvaluationError(f"the reference classifier needs images (N, C, H, W) with N >= 2 labels, got "
                              f"{tuple(x.shape)} images and {len(y)} labels")
    if int(y.min()) < 0 or int(y.max()) >= num_classes:
        raise EvaluationError(f"labels must lie in [0, {num_classes}), got {int(y.min())}..{int(y.max())}")
    pixels = x if x.dtype == torch.uint8 else ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = DomainClassifier(pixels.shape[1], num_classes, cfg).to(device)
    with torch.random.fork_rng(devices=[]):  # dropout draws from the global RNG: keep it seeded and local
        torch.manual_seed(cfg.seed)
        train_steps(model, pixels, y, cfg, lambda xb, gen: _augment(to_float(xb), augment, gen), progress, device)
    return model.cpu().eval()


def cas(x_train: Tensor, y_train: Tensor, test: Dataset, num_classes: int, cfg: ClassifierConfig | None = None,
        augment: str = "", progress: str | None = None, device="cpu") -> float:
    """Test accuracy of the reference classifier trained on (x_train, y_train): CAS when those are
    samples, the real baseline when they are real train images. `test` is never trained on."""
    model = fit_reference(x_train, y_train, num_classes, cfg, augment, progress, device)
    return accuracy(model, test.x, test.y)


def cas_key(cfg: ClassifierConfig | None = None) -> str:
    """The name under which a cached floor of CAS is kept: changes with the reference classifier."""
    return "cas:" + short_hash(asdict(cfg or CAS_CONFIG))


# --------------------------------------------------------------------------- evaluate()'s part


def conditional_scores(names, G, fakes: Tensor | None, fake_feats, fake_logits, ref_feats, held_feats,
                       ref_labels, held_labels, test: Dataset | None, clf_meta: dict | None, floor,
                       cas_cfg: ClassifierConfig | None = None, ref_images=None,
                       progress: bool = False, device="cpu") -> tuple[dict, dict]:
    """The conditional metrics of `names` for evaluate(): ({name: {"value", "floor", ...}}, extra).

    fakes uint8 (num, C, H, W) samples 0..num-1 (needed for cas), fake_feats (num, F) their
    features, fake_logits (num, K) their domain-classifier logits (needed for consistency);
    ref_feats/held_feats and ref_labels/held_labels: the reference (train) and held-out (test)
    features and labels; test: the whole real test split (cas); ref_images: a callable returning
    the reference images uint8 (M, C, H, W) (cas's floor, called only when it is not cached);
    floor(name, compute): evaluate's cached-floor lookup (compute() -> {name: value, ...}).
    """
    k = require_conditional(G, ", ".join(n for n in names if n in CONDITIONAL_METRICS))
    num = len(fake_feats)
    y_fake = sample_labels(num, k)
    res, extra = {}, {}
    if "intra_fid" in names:
        mean, per = intra_fid(fake_feats, y_fake, ref_feats, ref_labels, k)

        def compute():
            m, p = intra_fid(held_feats, held_labels, ref_feats, ref_labels, k)
            return {"intra_fid": m, "intra_fid_per_class": p}
        res["intra_fid"] = {"value": mean, "floor": floor("intra_fid", compute)}
        extra["intra_fid_per_class"] = per
        extra["floor_intra_fid_per_class"] = floor("intra_fid_per_class", compute)
    if "consistency" in names:
        if fake_logits is None or clf_meta is None:
            raise EvaluationError("consistency needs the domain classifier's logits")
        value, per = class_consistency(fake_logits, y_fake)
        res["consistency"] = {"value": value, "floor": float(clf_meta["test_accuracy"])}
        extra["consistency_per_class"] = per
    if "cas" in names:
        if fakes is None or test is None or ref_images is None:
            raise EvaluationError("cas needs the samples, the reference images and the test split")
        cfg = cas_cfg or CAS_CONFIG
        bar = "CAS: classifier on samples" if progress else None
        value = cas(fakes, y_fake, test, k, cfg, progress=bar, device=device)

        def compute_real():
            b = "CAS: classifier on real images" if progress else None
            return {cas_key(cfg): cas(ref_images(), torch.as_tensor(ref_labels), test, k, cfg, progress=b,
                                      device=device)}
        base = floor(cas_key(cfg), compute_real)
        res["cas"] = {"value": value, "floor": base}
        extra["cas_ratio"] = value / base if base else math.nan
        extra["cas_classifier"] = describe_reference(cfg, num, len(test))
    return res, extra


def describe_reference(cfg: ClassifierConfig | None, n_train: int, n_test: int) -> str:
    cfg = cfg or CAS_CONFIG
    steps = max(cfg.min_steps, math.ceil(cfg.epochs * (n_train // min(cfg.batch_size, n_train))))
    return (f"reference CNN {'-'.join(map(str, cfg.widths))}/{cfg.feature_dim}, {steps} Adam steps of "
            f"{cfg.batch_size} ({cfg.epochs:g} epochs of {n_train:,}), seed {cfg.seed}; tested on "
            f"{n_test:,} real test images")

