"""`evaluate`: score a generator against its dataset, each number beside its real-vs-real floor.

    result = evaluate("runs/demo")                       # 10k samples, domain-classifier features
    result["metrics"]["fid"]   # {"value": 14.2, "floor": 0.4, "read": "lower is better; ..."}

Images: samples are drawn with `G.sample` (seed `seed`, samples 0..num-1),
brought to uint8 levels and passed through a feature extractor together with
a fixed random subset of `num` real *train* images (the reference). Each
metric compares samples with the reference; its *floor* is the same metric
between the reference and `num` real *test* images (fewer if the test split
is smaller): what a perfect generator would score with this extractor and
sample count. Reference features and floors are cached per dataset,
extractor and num (`features.py`), so a repeated evaluation only samples,
extracts and compares.

The k-NN metrics are the exception to "reference = num": precision, recall and
density compare with one fixed real set (`MANIFOLD_REF_NUM` train images, a
superset of every num-sized reference) so that they estimate the same thing at
every num, and precision/recall prune the largest balls (`PRUNE`); coverage
keeps Naeem et al.'s equal sizes (the first num of that set). Below
`KNN_MIN_NUM` samples the result carries a warning.

Toy 2-D/1-D data is scored as in PacGAN (modes covered, high-quality share,
reverse KL; `gankit.evaluation.toy`), the floor being real points of the mixture.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gankit.config import DataConfig
from gankit.data import DataError, has_labels, load_dataset, to_uint8, toy_modes
from gankit.data.stacked import BASES as STACKED
from gankit.data.toy import DIMS as TOY_DIMS
from gankit.evaluation import metrics as M
from gankit.evaluation.catalog import DEFAULT_NUM, DEFAULT_TOY_NUM, IMAGE_METRICS, OPT_IN_METRICS, TOY_METRICS
from gankit.evaluation.classifier import ClassifierConfig, describe, load_classifier
from gankit.evaluation.conditional import CONDITIONAL_METRICS, conditional_scores, require_conditional
from gankit.evaluation.features import (EvaluationError, dataset_identity, dataset_label, extract, features_dir,
                                        load_npz, real_splits, save_npz, short_hash, subset_indices)
from gankit.evaluation.toy import score_modes

__all__ = ["evaluate", "IMAGE_METRICS", "TOY_METRICS", "DEFAULT_NUM", "DEFAULT_TOY_NUM"]

MIN_NUM = 10  # k-NN radii need more than k=5 neighbours; covariances and KID subsets need a few rows
KNN_MIN_NUM = 500
"""Below this many samples the k-NN metrics are flagged: precision's sampling error passes ±0.02
and coverage (real set = num) is estimated on balls too coarse to compare with larger runs."""
MANIFOLD_REF_NUM = 10000
"""Real train images whose k-NN balls define the real manifold for precision, recall and density,
whatever --num is (fewer if the split is smaller). With the reference tied to --num, small N meant
big balls and a different manifold at every N: a constant blob scored precision 1 at 1000, 0 at 5000."""
PRUNE = 0.95
"""Precision and recall drop each manifold's balls above this quantile of its radii: the
largest balls belong to isolated real images and swallow off-data points (a grey square)."""
CACHE_VERSION = 2  # 2: k-NN floors against the fixed manifold reference
_MANIFOLD = ("precision", "recall", "density", "coverage")
_CLASS_METRICS = ("is", "classes")


def parse_metrics(metrics, known: dict) -> list[str]:
    """A list or comma-separated string of metric names -> validated list (order of `known`)."""
    if metrics is None:
        return list(known)
    names = [m.strip().lower() for m in (metrics.split(",") if isinstance(metrics, str) else metrics)]
    names = [m for m in names if m]
    bad = [m for m in names if m not in known]
    if bad or not names:
        other = TOY_METRICS if known is IMAGE_METRICS else IMAGE_METRICS
        hint = " (those are for the other kind of data)" if bad and all(m in other for m in bad) else ""
        raise EvaluationError(f"--metrics: unknown metric {', '.join(map(repr, bad)) or '(none given)'}{hint}; "
                              f"known: {', '.join(known)}")
    return [m for m in known if m in names]


def _generator(generator, device):
    if isinstance(generator, (str, Path)):
        from gankit.io.generator import load_generator
        return load_generator(generator, device=device), str(generator)
    if isinstance(generator, nn.Module) and hasattr(generator, "sample") and hasattr(generator, "out_shape"):
        return generator, type(generator).__name__
    raise EvaluationError("evaluate: expected a run/generator folder or a gankit Generator, "
                          f"got {type(generator).__name__}")


def _check_num(num: int, what: str) -> None:
    if int(num) != num or num < MIN_NUM:
        raise EvaluationError(f"--num: {what} needs at least {MIN_NUM} samples, got {num}")


# --------------------------------------------------------------------------- extractors


class _Extractor:
    """What evaluation needs from a feature space: a batch function and a cache identity."""

    def __init__(self, fn, key: str | None, description: str, logits: bool):
        self.fn, self.key, self.description, self.logits = fn, key, description, logits


def _extractor(extractor, data_cfg, inception_weights, classifier_cfg, progress, device):
    if isinstance(extractor, nn.Module):
        extractor.to(device)
        key = getattr(extractor, "cache_key", None)
        return _Extractor(extractor, f"custom:{key}" if key else None, f"custom extractor {type(extractor).__name__}",
                          False), None
    if extractor == "classifier":
        model, meta = load_classifier(data_cfg, classifier_cfg, progress=progress, device=device)
        model.to(device)
        return _Extractor(model.features_and_logits, f"classifier:{meta['weights_sha256']}", describe(meta),
                          True), (model, meta)
    if extractor == "inception":
        if inception_weights is None:
            from gankit.evaluation.inception import NOT_SHIPPED
            raise EvaluationError(f"the inception extractor needs its weights file: {NOT_SHIPPED}")
        from gankit.evaluation.inception import load_inception
        model = load_inception(inception_weights, device=device)
        return _Extractor(model, model.cache_key, f"FID Inception-v3, 2048-D ({Path(inception_weights).name})",
                          False), None
    if extractor == "pixels":
        from gankit.evaluation.pixels import PixelFeatures
        return _Extractor(PixelFeatures(), "pixels:v1", "pixel space (raw grey levels in [-1, 1], no learned "
                          "features: see gankit.evaluation.pixels)", False), None
    raise EvaluationError(f"extractor: expected 'classifier', 'pixels', 'inception' or an nn.Module, "
                          f"got {extractor!r}")


def _sample_uint8(G, num: int, seed: int, device, slice_size: int = 2048) -> torch.Tensor:
    """Samples 0..num-1 of `seed` as uint8 (N, C, H, W), drawn in slices: a quarter of the float memory."""
    out = None
    for start in range(0, num, slice_size):
        x = to_uint8(G.sample(min(slice_size, num - start), seed=seed, start=start, device=device))
        if out is None:
            out = torch.empty((num, *x.shape[1:]), dtype=torch.uint8)
        out[start:start + len(x)] = x
    return out


def _is_classifier(extractor) -> bool:
    return isinstance(extractor, str) and extractor == "classifier"


# --------------------------------------------------------------------------- real data (cached)


class _Real:
    """Real reference (train) and held-out (test) images, read only if a cache misses."""

    def __init__(self, cfg: DataConfig, num: int):
        self.cfg, self.num, self._sets = cfg, num, None

    def sets(self):
        if self._sets is None:
            train, test = real_splits(self.cfg)
            ref = train.x[subset_indices(len(train), min(self.num, len(train)), seed=0)]
            held = test.x[subset_indices(len(test), min(self.num, len(test)), seed=1)]
            for name, x in (("train", ref), ("test", held)):
                if len(x) < MIN_NUM:
                    raise DataError(f"{self.cfg.name}: the {name} split has only {len(x)} images; "
                                    f"evaluation needs at least {MIN_NUM}")
            self._sets = ref, held
        return self._sets

    def labels(self):
        """int64 labels of `sets()` (reference, held-out): the same seeded subsets; the whole test split."""
        train, test = real_splits(self.cfg)
        return (train.y[subset_indices(len(train), min(self.num, len(train)), seed=0)],
                test.y[subset_indices(len(test), min(self.num, len(test)), seed=1)], test)


class _Entry:
    """One cached .npz of real-data arrays plus a meta dict (floors are added as they are computed)."""

    def __init__(self, path: Path | None, arrays: dict, meta: dict):
        self.path, self.arrays, self.meta, self.dirty = path, arrays, meta, False

    def floor(self, name: str, compute):
        floors = self.meta.setdefault("floor", {})
        if name not in floors:
            floors.update(compute())
            self.dirty = True
        return floors[name]

    def save(self):
        if self.dirty and self.path is not None:
            save_npz(self.path, self.arrays, self.meta)
            self.dirty = False


def _entry(kind: str, data_cfg: DataConfig, key: str | None, num: int, compute) -> _Entry:
    if key is None:  # an extractor without a cache_key: recompute every time
        arrays, meta = compute()
        return _Entry(None, arrays, meta)
    ident = {"v": CACHE_VERSION, "kind": kind, "data": dataset_identity(data_cfg), "extractor": key, "num": num}
    path = features_dir() / "real" / f"{dataset_label(data_cfg)}-{kind}-n{num}-{short_hash(ident)}.npz"
    loaded = load_npz(path)
    if loaded is not None and loaded[1].get("ident") == ident:
        return _Entry(path, *loaded)
    arrays, meta = compute()
    meta["ident"] = ident
    entry = _Entry(path, arrays, meta)
    entry.dirty = True
    entry.save()
    return entry


def _feature_entry(ext: _Extractor, data_cfg, real: _Real, num, batch_size, device, progress) -> _Entry:
    def compute():
        ref, held = real.sets()
        bar = "real features" if progress else None
        fr = extract(ext.fn, ref, batch_size, device, bar)
        fh = extract(ext.fn, held, batch_size, device, bar)
        arrays = {"reference": (fr[0] if ext.logits else fr).numpy(),
                  "heldout": (fh[0] if ext.logits else fh).numpy()}
        if ext.logits:
            arrays["heldout_logits"] = fh[1].numpy()
        return arrays, {"reference_num": len(ref), "floor_num": len(held)}
    return _entry("features", data_cfg, ext.key, num, compute)


def _copying_entry(ext: _Extractor, data_cfg, batch_size, device, progress) -> _Entry:
    """Features of the whole train split and the whole test split (the data-copying test's T and P_n)."""
    def compute():
        train, test = real_splits(data_cfg)
        if len(test) < 1:
            raise DataError(f"{data_cfg.name}: the data-copying test needs held-out images and there is "
                            f"no test split")
        bar = "train/held-out features (copying)" if progress else None
        arrays = {}
        for name, x in (("train", train.x), ("heldout", test.x)):
            out = extract(ext.fn, x, batch_size, device, bar)
            arrays[name] = (out[0] if ext.logits else out).numpy()
        return arrays, {"train_num": len(train), "heldout_num": len(test)}
    return _entry("copying", data_cfg, ext.key, 0, compute)


def _softmax(logits) -> np.ndarray:
    return torch.softmax(torch.as_tensor(logits, dtype=torch.float64), dim=1).numpy()


def _class_scores(probs: np.ndarray, num_classes: int) -> dict:
    counts, covered = M.class_histogram(probs, num_classes)
    is_mean, is_std = M.inception_score(probs, splits=min(10, probs.shape[0]))
    return {"is": [is_mean, is_std], "classes": covered, "histogram": counts.tolist()}


# --------------------------------------------------------------------------- evaluate


def evaluate(generator, metrics=None, num: int | None = None, extractor="classifier",
             data_cfg: DataConfig | None = None, seed: int = 0, batch_size: int = 500, device="cpu",
             inception_weights=None, classifier: ClassifierConfig | None = None, progress: bool = False) -> dict:
    """Score a generator; every metric comes with its real-vs-real floor.

    generator: a run / generator / checkpoint folder, or a gankit Generator
        (one without a ``config`` attribute needs `data_cfg`).
    metrics: names (list or "fid,kid"); default all. Images: fid, kid,
        precision, recall, density, coverage, is, classes (the last two need
        class labels). Toy data: modes, high_quality, reverse_kl.
        copying (Meehan et al.'s data-copying test, `copying.py`) is among the
        defaults when the train split has fewer than 10,000 images.
    num: samples (default 10000 for images, 2500 for toy data).
    extractor: "classifier" (the domain classifier, fitted and cached on first
        use), "inception" (with `inception_weights`, a file path) or any
        nn.Module mapping float (N, C, H, W) in [-1, 1] to (N, F); give it a
        string attribute ``cache_key`` to have its real features cached.
        "pixels" uses raw pixels (`pixels.py`); one-class datasets (lfw-faces)
        have no domain classifier, so "classifier" means "pixels" for them.
    data_cfg: the real data to compare with; default: the generator's training data.
    seed: latent seed of the samples. classifier: a ClassifierConfig for the
        domain classifier (default `classifier.DEFAULT_CONFIG`).
    Returns a JSON-ready dict: "metrics" maps each name to {"value", "floor",
    "read"} (KID and IS add "std" and "floor_std"; classes adds "of"), plus
    the sample/reference/floor counts, the extractor, the class histograms and "seconds".
    """
    start = time.perf_counter()
    G, label = _generator(generator, device)
    if data_cfg is None:
        cfg = getattr(G, "config", None)
        if cfg is None:
            raise EvaluationError("evaluate: this generator carries no config; pass data_cfg=DataConfig(...)")
        data_cfg = cfg.data
    data_cfg = replace(data_cfg, limit=0)
    if len(G.out_shape) == 1 or data_cfg.name in TOY_DIMS:
        result = _evaluate_toy(G, data_cfg, metrics, num or DEFAULT_TOY_NUM, seed, device)
    elif data_cfg.name in STACKED:
        from gankit.evaluation.stacked import DEFAULT_STACKED_NUM, evaluate_stacked
        _check_num(num or DEFAULT_STACKED_NUM, "evaluation")
        result = evaluate_stacked(G, data_cfg, metrics, num or DEFAULT_STACKED_NUM, seed, device, progress)
    else:
        result = _evaluate_images(G, data_cfg, metrics, num or DEFAULT_NUM, extractor, seed, batch_size, device,
                                  inception_weights, classifier, progress)
    result.update(generator=label, seconds=round(time.perf_counter() - start, 2))
    return result


def _evaluate_images(G, data_cfg, metrics, num, extractor, seed, batch_size, device, inception_weights,
                     classifier_cfg, progress) -> dict:
    names = parse_metrics(metrics, IMAGE_METRICS)
    _check_num(num, "evaluation")
    shape = (data_cfg.channels, data_cfg.resolution, data_cfg.resolution)
    if tuple(G.out_shape) != shape:
        raise EvaluationError(f"the generator makes {tuple(G.out_shape)} samples but the data is {shape} "
                              f"({data_cfg.name}); pass a matching data config")
    from gankit.evaluation import copying
    from gankit.evaluation.pixels import default_extractor
    if _is_classifier(extractor) and default_extractor(data_cfg) == "pixels":
        extractor = "pixels"  # one class (lfw-faces): there is no domain classifier to train
    if metrics is None and not _is_classifier(extractor) and not has_labels(data_cfg):
        names = [n for n in names if n not in _CLASS_METRICS]  # no labels: no class scores by default
    if metrics is None:  # "all": without the slow ones, and conditional scores only for conditional G
        conditional = bool(getattr(G, "num_classes", 0))
        names = [n for n in names if n not in OPT_IN_METRICS and (conditional or n not in CONDITIONAL_METRICS)]
        if not copying.default_on(data_cfg):
            names = [n for n in names if n != "copying"]  # 10,000+ training images: asked for only
    cond = [n for n in names if n in CONDITIONAL_METRICS]
    if cond:  # before any sampling or fitting
        require_conditional(G, ", ".join(cond))
    ext, clf = _extractor(extractor, data_cfg, inception_weights, classifier_cfg, progress, device)
    wants_classes = any(n in _CLASS_METRICS or n == "consistency" for n in names)
    if wants_classes and clf is None:
        clf = load_classifier(data_cfg, classifier_cfg, progress=progress, device=device)
        clf[0].to(device)
    real = _Real(data_cfg, num)

    fakes = _sample_uint8(G, num, seed, device)
    out = extract(ext.fn, fakes, batch_size, device, "sample features" if progress else None)
    feats, fake_logits = (out[0], out[1]) if ext.logits else (out, None)
    if wants_classes and fake_logits is None:
        fake_logits = extract(clf[0].logits, fakes, batch_size, device)
    if "cas" not in names:
        del fakes

    copy_entry = None
    if "copying" in names:
        copy_entry = _copying_entry(ext, data_cfg, batch_size, device, progress)
    entry = _feature_entry(ext, data_cfg, real, num, batch_size, device, progress)
    ref, held = entry.arrays["reference"], entry.arrays["heldout"]
    res: dict = {}
    if "fid" in names:
        res["fid"] = {"value": M.fid(feats, ref), "floor": entry.floor("fid", lambda: {"fid": M.fid(held, ref)})}
    if "kid" in names:
        mean, std = M.kid(feats, ref)
        fl = entry.floor("kid", lambda: {"kid": list(M.kid(held, ref))})
        res["kid"] = {"value": mean, "std": std, "floor": fl[0], "floor_std": fl[1]}
    warnings = []
    if any(n in names for n in _MANIFOLD):
        # One fixed real manifold for precision/recall/density (N-independent); coverage keeps
        # Naeem et al.'s equal sizes (its expectation depends on M / N), on the first num of it.
        # (the num-sized reference already holds it when num reaches it or the split runs out)
        man = entry if num >= MANIFOLD_REF_NUM or entry.meta["reference_num"] < num else _feature_entry(
            ext, data_cfg, _Real(data_cfg, MANIFOLD_REF_NUM), MANIFOLD_REF_NUM, batch_size, device, progress)
        man_ref = man.arrays["reference"][:MANIFOLD_REF_NUM]

        def knn(x):
            # ref is a prefix of man_ref: at equal length they are the same set (one radius pass).
            return M.manifold_metrics(man_ref, x, prune=PRUNE,
                                      coverage_real=None if len(ref) == len(man_ref) else ref)
        values = knn(feats)
        for n in _MANIFOLD:
            if n in names:
                res[n] = {"value": values[n], "floor": entry.floor(n, lambda: knn(held))}
        man.save()
        if num < KNN_MIN_NUM:
            warnings.append(f"--num {num} is below {KNN_MIN_NUM}, the minimum for the k-NN metrics "
                            f"(precision, recall, density, coverage): their sampling error is large "
                            f"(precision ±{0.5 / math.sqrt(num):.2f} or more); use --num {KNN_MIN_NUM} or more")
    if copy_entry is not None:
        test = copying.copying_test(feats, copy_entry.arrays["heldout"], copy_entry.arrays["train"], seed=0)
        res["copying"] = {"value": test["c_t"], "floor": 0.0, **copying.summary(test)}
    extra: dict = {}
    if wants_classes:
        model, meta = clf
        if ext.logits:  # the classifier is the extractor: its held-out logits are cached with the features
            scores_entry = entry
        else:
            def compute():
                return {"heldout_logits": extract(model.logits, real.sets()[1], batch_size, device).numpy()}, {}
            scores_entry = _entry("class-scores", data_cfg, f"classifier:{meta['weights_sha256']}", num, compute)
        k = meta["num_classes"]
        fake = _class_scores(_softmax(fake_logits), k)
        held_logits = scores_entry.arrays["heldout_logits"]
        floor = {n: scores_entry.floor(n, lambda: _class_scores(_softmax(held_logits), k))
                 for n in ("is", "classes", "histogram")}
        if "is" in names:
            res["is"] = {"value": fake["is"][0], "std": fake["is"][1], "floor": floor["is"][0],
                         "floor_std": floor["is"][1]}
        if "classes" in names:
            res["classes"] = {"value": fake["classes"], "floor": floor["classes"], "of": k}
        extra = {"classes": meta["classes"], "class_histogram": fake["histogram"],
                 "floor_class_histogram": floor["histogram"]}
        scores_entry.save()
    if cond:
        res_c, extra_c = _conditional(cond, G, fakes if "cas" in names else None, feats, fake_logits, entry, real,
                                      clf, progress, device)
        res.update(res_c)
        extra.update(extra_c)
    entry.save()
    for n, r in res.items():
        r["read"] = IMAGE_METRICS[n]
    return {"kind": "images", "dataset": data_cfg.name, "extractor": ext.description,
            "feature_dim": int(feats.shape[1]), "num": num, "seed": seed,
            "reference_num": entry.meta["reference_num"], "floor_num": entry.meta["floor_num"],
            **({"manifold_reference_num": len(man_ref)} if any(n in names for n in _MANIFOLD) else {}),
            "metrics": {n: res[n] for n in names}, "warnings": warnings, **extra}


def _conditional(names, G, fakes, feats, fake_logits, entry: _Entry, real: _Real, clf, progress, device):
    """intra_fid / consistency / cas (`conditional.py`) with the reference's labels cached in `entry`."""
    if "reference_labels" not in entry.arrays or "cas" in names:
        ref_y, held_y, test = real.labels()
        if "reference_labels" not in entry.arrays:
            entry.arrays.update(reference_labels=ref_y.numpy(), heldout_labels=held_y.numpy())
            entry.dirty = True
    else:
        test = None
    return conditional_scores(names, G, fakes, feats, fake_logits, entry.arrays["reference"], entry.arrays["heldout"],
                              entry.arrays["reference_labels"], entry.arrays["heldout_labels"], test,
                              clf[1] if clf else None, entry.floor, ref_images=lambda: real.sets()[0],
                              progress=progress, device=device)


def _evaluate_toy(G, data_cfg, metrics, num, seed, device) -> dict:
    names = parse_metrics(metrics, TOY_METRICS)
    if data_cfg.name not in TOY_DIMS:
        raise EvaluationError(f"the generator makes points of shape {tuple(G.out_shape)} but the data is "
                              f"{data_cfg.name}, not toy data")
    _check_num(num, "toy evaluation")
    centers, std = toy_modes(data_cfg.name)
    if tuple(G.out_shape) != (centers.shape[1],):
        raise EvaluationError(f"the generator makes {tuple(G.out_shape)} points but {data_cfg.name} is "
                              f"{centers.shape[1]}-D")
    fake = score_modes(G.sample(num, seed=seed, device=device), centers, std)
    # The floor: the same number of points drawn from the true mixture (fixed seed, independent of training).
    real_points = load_dataset(replace(data_cfg, toy_samples=num), seed=1).x
    real = score_modes(real_points, centers, std)
    res = {
        "modes": {"value": fake.modes_covered, "floor": real.modes_covered, "of": fake.num_modes},
        "high_quality": {"value": fake.high_quality, "floor": real.high_quality},
        "reverse_kl": {"value": fake.reverse_kl, "floor": real.reverse_kl},
    }
    for n, r in res.items():
        r["read"] = TOY_METRICS[n]
    return {"kind": "toy", "dataset": data_cfg.name, "extractor": "PacGAN mode scoring (3-std balls)",
            "num": num, "seed": seed, "floor_num": num, "metrics": {n: res[n] for n in names}}


def finite_or_none(obj):
    """A copy of a result with NaN/inf floats replaced by None (strict JSON has no Infinity)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj
