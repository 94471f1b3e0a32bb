"""The data-copying test of Meehan, Chaudhuri & Dasgupta 2020 ("A Non-Parametric Test to Detect
Data-Copying in Generative Models", AISTATS): did the generator just reproduce its training set?

A generator that copies puts its samples *closer* to the training images than new real
images are. So, in a feature space:

- L(x) = the distance from x to its nearest training image, for every sample x (Q_m,
  m samples) and every held-out real image (P_n, the dataset's test split, n images);
- Z_U = the Mann-Whitney U statistic of L(Q_m) against L(P_n), z-scored under the null
  hypothesis that both come from one distribution: U counts the (sample, held-out) pairs in
  which the sample is farther from the training set (ties count 1/2),
  Z_U = (U - mn/2) / sqrt(mn(m + n + 1)/12). ~N(0, 1) for a generator that draws new
  images like the held-out ones; << 0 when samples sit closer to training images than
  real new images do (copying); >> 0 when they sit farther (underfitting: blurry or
  off-data samples);
- C_T, the paper's statistic: the training set is cut into k cells by k-means, every point
  goes to its nearest cell centre, Z_U is computed inside each cell (distances to that
  cell's training images), and C_T is the average of the cell Z_U weighted by the cell's
  share of held-out images, over the cells holding at least tau*m samples (cells the
  generator hardly visits are left out, as in the paper: C_T measures copying, not coverage).
  Local copying of a few cells then shows even when the rest of the model underfits.

This module adds one reading that needs no statistics: the share of samples closer to a
training image than 95 % of held-out images are (the 5th percentile of L(P_n)); about 5 % for
a generator that does not copy, near 100 % for one that returns training images.

Choices of this implementation (not fixed by the paper): k = n // 10 cells (at least 10
held-out images per cell on average; at most 50, the paper's MNIST setting), lowered until
k-means leaves every cell with training and held-out images; tau*m = min(20, m // k)
samples; no continuity correction; a generator is flagged as copying when C_T < -3
(one-sided p ~ 0.001 under the null, where C_T has a standard deviation of at most 1) *and* more than
NEAR_COPY_SHARE of the samples are nearer to a training image than 95 % of held-out images are
*and* the samples are about as varied as the training images (spread >= SPREAD_MIN); a C_T below -3
without them is reported as closeness, not copying (average-looking samples and blends of training
images are close to the training set in pixel space; see NEAR_COPY_SHARE and SPREAD_MIN).

    result = copying_test(gen_feats, heldout_feats, train_feats)
    result["c_t"], result["z_u"], result["share_closer"], result["copying"]
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from gankit.config import DataConfig
from gankit.evaluation.features import EvaluationError

__all__ = ["copying_test", "mann_whitney_z", "nearest", "kmeans", "default_on", "DEFAULT_MAX_TRAIN",
           "FLAG_AT", "picture_path", "write_picture"]

DEFAULT_MAX_TRAIN = 10000
"""`gankit evaluate` runs the test by default when the training split is smaller than this."""
FLAG_AT = -3.0
"""C_T below this: samples sit significantly closer to the training set than new real images do."""
SHARE_QUANTILE = 0.05
NEAR_COPY_SHARE = 0.25
"""...and copying is only called when more than this share of samples (5x the 5 % of a generator that
does not copy) is also closer to a training image than 95 % of held-out images: in pixel space a blurry,
average-looking sample is closer to many training images than a real new image is (the mean minimises
squared distance), which drives C_T below -3 without a single near-duplicate."""
SPREAD_MIN = 0.75
"""...and when the samples are about as varied as the training images: `spread` (median distance
between two samples over the same for two training images) is ~1 for copies (0.98 measured on
lfw-faces), 0.69 for blends of 2 training faces, 0.35 for blends of 8, 0.06 for an untrained
generator's average-face blobs, all of which also sit closer to the training set than new faces."""
SPREAD_NUM = 500
HELDOUT_PER_CELL = 10
MAX_CELLS = 50
MIN_CELL_SAMPLES = 20
_CHUNK_ENTRIES = 2**22  # distance blocks of 32 MiB in float64


def _array(x, name: str) -> np.ndarray:
    a = x.detach().to("cpu", torch.float64).numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float64)
    if a.ndim != 2 or a.shape[0] < 1:
        raise EvaluationError(f"data-copying test: {name} must have shape (N, F) with N >= 1, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise EvaluationError(f"data-copying test: {name} contains NaN or infinite values")
    return a


def nearest(x: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distance from each row of x (N, F) to its nearest row of ref (M, F), and that row's index.

    Returns (distances float64 (N,), indices int64 (N,)); an exact copy has distance 0 (the
    expanded ||a||^2 + ||b||^2 - 2ab form is only used to find the neighbour, and the distance
    is then recomputed directly).
    """
    x, ref = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    ref_sq = (ref * ref).sum(1)
    rows = max(1, _CHUNK_ENTRIES // max(1, len(ref)))
    idx = np.empty(len(x), dtype=np.int64)
    for i in range(0, len(x), rows):
        block = x[i:i + rows]
        d2 = ref_sq[None, :] - 2.0 * block @ ref.T  # + ||block||^2, the same along each row
        idx[i:i + rows] = d2.argmin(1)
    dist = np.sqrt(((x - ref[idx]) ** 2).sum(1))
    return dist, idx


def mann_whitney_z(d_gen: np.ndarray, d_held: np.ndarray) -> float:
    """Z-scored Mann-Whitney U of d_gen (m,) against d_held (n,): (U - mn/2) / sqrt(mn(m+n+1)/12),
    U = #{(i, j): d_gen[i] > d_held[j]} + #{ties}/2. Negative: d_gen tends to be smaller."""
    d_gen, d_held = np.asarray(d_gen, np.float64).ravel(), np.asarray(d_held, np.float64).ravel()
    m, n = len(d_gen), len(d_held)
    if m == 0 or n == 0:
        raise EvaluationError("data-copying test: Z_U needs at least one sample and one held-out image")
    held = np.sort(d_held)
    below = np.searchsorted(held, d_gen, side="left")    # held-out values < each sample value
    not_above = np.searchsorted(held, d_gen, side="right")
    u = float(below.sum() + 0.5 * (not_above - below).sum())
    return (u - m * n / 2.0) / math.sqrt(m * n * (m + n + 1) / 12.0)


def kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 50) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding from a seeded generator: (k, F) centres.

    Deterministic for a given seed. An emptied cluster is re-seeded at the point farthest
    from its centre, so every centre keeps at least one point of x.
    """
    rng = np.random.default_rng(seed)
    n = len(x)
    k = max(1, min(k, n))
    centers = [x[rng.integers(n)]]
    d2 = ((x - centers[0]) ** 2).sum(1)
    for _ in range(1, k):
        total = d2.sum()
        i = rng.choice(n, p=d2 / total) if total > 0 else rng.integers(n)
        centers.append(x[i])
        d2 = np.minimum(d2, ((x - x[i]) ** 2).sum(1))
    centers = np.stack(centers)
    labels = None
    for _ in range(iters):
        dist, new = nearest(x, centers)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        for c in range(k):
            members = x[labels == c]
            if len(members):
                centers[c] = members.mean(0)
            else:
                far = int(dist.argmax())
                centers[c], dist[far] = x[far], 0.0
    return centers


def _cells(train: np.ndarray, held: np.ndarray, k: int, seed: int):
    """k-means cells of the training set with training and held-out images in every cell
    (k lowered one by one until that holds): (k, centres, train labels, held-out labels)."""
    for cells in range(k, 0, -1):
        centers = kmeans(train, cells, seed)
        t_lab, h_lab = nearest(train, centers)[1], nearest(held, centers)[1]
        counts_t = np.bincount(t_lab, minlength=len(centers))
        counts_h = np.bincount(h_lab, minlength=len(centers))
        if (counts_t > 0).all() and (counts_h > 0).all():
            return len(centers), centers, t_lab, h_lab
    raise AssertionError("unreachable: one cell always holds every point")


def copying_test(gen, heldout, train, cells: int | None = None, seed: int = 0) -> dict:
    """Meehan et al.'s test on feature arrays: gen (m, F) samples, heldout (n, F) real images the
    generator never saw, train (l, F) its training images.

    Returns a JSON-ready dict: c_t (the paper's cell-weighted statistic), z_u (the same test over
    the whole training set), share_closer (share of samples nearer to a training image than 95 %
    of held-out images are) with threshold (that distance), copying (c_t < FLAG_AT), cells (k),
    cells_used (those with enough samples), cell_z_u and cell_heldout_share per cell (None where
    left out), and for the picture: sample_nearest / sample_distance (each sample's nearest
    training index and distance) and heldout_nearest / heldout_distance.
    """
    gen, held, train = _array(gen, "samples"), _array(heldout, "held-out images"), _array(train, "training images")
    if not gen.shape[1] == held.shape[1] == train.shape[1]:
        raise EvaluationError(f"data-copying test: feature widths differ (samples {gen.shape[1]}, "
                              f"held-out {held.shape[1]}, training {train.shape[1]})")
    m, n = len(gen), len(held)
    d_gen, i_gen = nearest(gen, train)
    d_held, i_held = nearest(held, train)
    threshold = float(np.quantile(d_held, SHARE_QUANTILE))
    share = float((d_gen < threshold).mean())
    z_global = mann_whitney_z(d_gen, d_held)

    want = cells if cells is not None else min(MAX_CELLS, max(1, n // HELDOUT_PER_CELL))
    k, centers, t_lab, h_lab = _cells(train, held, max(1, int(want)), seed)
    g_lab = nearest(gen, centers)[1]
    min_samples = max(1, min(MIN_CELL_SAMPLES, m // k))
    cell_z: list[float | None] = []
    weights = np.bincount(h_lab, minlength=k) / n
    for c in range(k):
        g_in = gen[g_lab == c]
        if len(g_in) < min_samples:
            cell_z.append(None)
            continue
        t_in, h_in = train[t_lab == c], held[h_lab == c]
        cell_z.append(mann_whitney_z(nearest(g_in, t_in)[0], nearest(h_in, t_in)[0]))
    used = [c for c in range(k) if cell_z[c] is not None]
    if used:
        w = weights[used]
        c_t = float(np.dot(w, [cell_z[c] for c in used]) / w.sum())
    else:  # every sample in cells below tau*m: nothing to weigh (a collapsed generator)
        c_t = float("nan")
    spread = _median_pair_distance(gen) / max(_median_pair_distance(train), 1e-12)
    copies = bool(c_t < FLAG_AT and share > NEAR_COPY_SHARE and spread >= SPREAD_MIN)
    return {"c_t": c_t, "z_u": z_global, "share_closer": share, "share_expected": SHARE_QUANTILE,
            "threshold": threshold, "spread": spread, "copying": copies, "verdict": verdict(c_t, share, spread),
            "cells": k, "cells_used": len(used),
            "min_cell_samples": min_samples, "cell_z_u": cell_z, "cell_heldout_share": weights.tolist(),
            "num": m, "heldout_num": n, "train_num": len(train),
            "sample_nearest": i_gen.tolist(), "sample_distance": d_gen.tolist(),
            "heldout_nearest": i_held.tolist(), "heldout_distance": d_held.tolist()}


def _median_pair_distance(x: np.ndarray) -> float:
    """Median Euclidean distance between two different rows among the first SPREAD_NUM of x (0 for one row)."""
    x = x[:SPREAD_NUM]
    if len(x) < 2:
        return 0.0
    sq = (x * x).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0)
    return float(np.median(np.sqrt(d2[np.triu_indices(len(x), 1)])))


def verdict(c_t: float, share: float, spread: float = 1.0) -> str:
    """One phrase for the table and the picture."""
    if c_t < FLAG_AT:
        if share > NEAR_COPY_SHARE and spread >= SPREAD_MIN:
            return "DATA COPYING: samples are near-copies of training images"
        if share > NEAR_COPY_SHARE:
            return (f"closer to the training images than new real images are, but far less varied than them "
                    f"(spread {spread:.2f}): blends or an average face, not copies")
        return ("closer to the training images than held-out images are, but not near-copies "
                "(average-looking samples do this in pixel space)")
    if c_t > -FLAG_AT:
        return "no data copying; samples are farther from the data than real images (underfit)"
    if math.isnan(c_t):
        return "no cell holds enough samples to test"
    return "no data copying detected"


def summary(test: dict) -> dict:
    """The test without its per-point arrays, plus the few closest pairs (what evaluate returns)."""
    out = {k: v for k, v in test.items() if k not in ("sample_nearest", "sample_distance",
                                                        "heldout_nearest", "heldout_distance")}
    order = np.argsort(test["sample_distance"], kind="stable")[:PICTURE_PAIRS]
    out["closest"] = [{"sample": int(i), "train": int(test["sample_nearest"][i]),
                       "distance": float(test["sample_distance"][i])} for i in order]
    order = np.argsort(test["heldout_distance"], kind="stable")[:PICTURE_PAIRS]
    out["closest_heldout"] = [{"heldout": int(i), "train": int(test["heldout_nearest"][i]),
                               "distance": float(test["heldout_distance"][i])} for i in order]
    return out


def default_on(data_cfg: DataConfig) -> bool:
    """Whether `evaluate` runs the test when no metrics are named: training split < DEFAULT_MAX_TRAIN.

    Reads no images: an image folder's files are counted, an IDX file's header says its count.
    """
    from gankit.data import folder, idx, lfw
    if data_cfg.name == lfw.NAME:
        return True
    if data_cfg.name == "folder":
        from gankit.evaluation.features import FOLDER_TEST_SHARE
        files = folder.scan(data_cfg.path)[0]
        return round(len(files) * (1 - FOLDER_TEST_SHARE)) < DEFAULT_MAX_TRAIN
    if data_cfg.name in idx.CLASSES:  # fashion-mnist, mnist
        return _idx_count(data_cfg) < DEFAULT_MAX_TRAIN
    return False  # cifar10: 50,000 train images in 5 fixed batches; toy and stacked data: other tests


def _idx_count(data_cfg: DataConfig) -> int:
    import gzip

    from gankit.data import idx
    images = idx.idx_files(idx.find_idx_dir(data_cfg.name, data_cfg.path, "train"), "train")[0]
    with (gzip.open if images.suffix == ".gz" else open)(images, "rb") as f:
        head = f.read(16)
    return idx._parse(images, head, idx.IMAGES_MAGIC, 3, "image")[0]


# --------------------------------------------------------------------------- the picture

PICTURE_PAIRS = 8
_SCALE = 3


def picture_path(model: str | Path) -> Path:
    """Where `gankit evaluate` writes the picture by default: copying.png in the run folder
    (the folder given, or the run above a generator/ or checkpoint folder), else in the current folder."""
    from gankit.io.rundir import is_run
    p = Path(model)
    for folder in (p, p.parent, p.parent.parent):
        if is_run(folder):
            return folder / "copying.png"
    return Path("copying.png")


def write_picture(G, data_cfg: DataConfig, copying: dict, seed: int, path: str | Path, device="cpu") -> Path:
    """Draw the closest sample/training pairs of a `summary` (evaluate's result["metrics"]["copying"]).

    Four rows of PICTURE_PAIRS images: the samples nearest to a training image, their nearest
    training images, then the held-out images nearest to a training image and theirs, i.e. how
    close real new images come without copying. Each pair is annotated with its distance.
    Samples are redrawn by index (sample i of `seed`), so nothing had to be kept in memory.
    """
    from PIL import Image, ImageDraw

    from gankit.data import to_uint8
    from gankit.evaluation.features import real_splits
    from gankit.io.images import check_size, make_grid, prepare_dir, to_pil
    from gankit.io.files import write_bytes_atomic
    import io

    train, test = real_splits(data_cfg)
    with torch.no_grad():
        samples = torch.cat([to_uint8(G.sample(1, seed=seed, start=p["sample"], device=device)).cpu()
                             for p in copying["closest"]])
    rows = [
        ("samples closest to a training image (distance below)", samples,
         [p["distance"] for p in copying["closest"]]),
        ("their nearest training images", train.x[[p["train"] for p in copying["closest"]]], None),
        ("held-out real images closest to a training image (never trained on)",
         test.x[[p["heldout"] for p in copying["closest_heldout"]]],
         [p["distance"] for p in copying["closest_heldout"]]),
        ("their nearest training images", train.x[[p["train"] for p in copying["closest_heldout"]]], None),
    ]
    header, label_h = 28, 14
    tiles = [to_pil(make_grid(x, nrow=PICTURE_PAIRS, pad=2), _SCALE) for _, x, _ in rows]
    width = max(t.width for t in tiles)
    height = header + sum(label_h + t.height + (label_h if d else 0) for t, (_, _, d) in zip(tiles, rows))
    path = Path(path)
    check_size(path, width, height)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 2), f"C_T {copying['c_t']:.2f}, Z_U {copying['z_u']:.2f}: {copying['verdict']}", fill="black")
    draw.text((4, 14), f"{100 * copying['share_closer']:.1f}% of samples closer than 95% of held-out images "
                       f"(~5% expected)", fill="black")
    y = header
    tile_w = (width - 2 * _SCALE) // PICTURE_PAIRS
    for tile, (label, _, dists) in zip(tiles, rows):
        draw.text((4, y + 1), label, fill="black")
        y += label_h
        canvas.paste(tile.convert("RGB"), (0, y))
        y += tile.height
        if dists:
            for j, d in enumerate(dists):
                draw.text((4 + j * tile_w, y + 1), f"{d:.2f}", fill="black")
            y += label_h
    prepare_dir(path.parent if str(path.parent) else Path("."))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    write_bytes_atomic(path, buf.getvalue())
    return path
