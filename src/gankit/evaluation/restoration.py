"""Scores of image-to-image outputs against their targets: PSNR, SSIM, and FID/KID for realism.

    scores = evaluate_translator(G, data_cfg, num=1000)     # the test split, degraded by data.degrade_seed
    scores["psnr"]   # {"value": 27.1, "read": "higher is better; dB", ...}

PSNR and SSIM come from scikit-image (`skimage.metrics`), a maintained library whose SSIM is the
reference implementation's: Wang et al. 2004 settings, i.e. an 11x11 Gaussian window of sigma
1.5 (`gaussian_weights=True, sigma=1.5`), K1 = 0.01, K2 = 0.03, population covariances
(`use_sample_covariance=False`), on the 0..255 range; colour images average SSIM over channels.
scikit-image rather than torchmetrics: it is already the source of the photo dataset (its
wheel ships them), and it installs without a second torch. Both are per-image means computed on
uint8 levels, what a saved image holds.

FID and KID use gankit's domain feature space (the dataset's cached domain classifier, as
`gankit evaluate` does): outputs vs the clean targets; a number near 0 means the outputs are as
realistic, in that space, as the real test images. Pixel metrics reward blur (the mean of the
plausible answers); FID penalises it (Blau & Michaeli 2018, the perception-distortion trade-off).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch
from torch import Tensor, nn

from gankit.config import DataConfig
from gankit.data import DataError, has_labels, load_dataset, to_float, to_uint8

RESTORATION_METRICS = {
    "psnr": "higher is better; peak signal-to-noise ratio in dB vs the clean target (per-image mean)",
    "ssim": "higher is better, at most 1; structural similarity (Wang et al. 2004 settings)",
    "fid": "lower is better; Frechet distance of outputs vs targets in the domain classifier's features",
    "kid": "lower is better; kernel inception distance, same features",
}
HIGHER = ("psnr", "ssim")


def _skimage():
    try:
        from skimage import metrics
    except ImportError:  # pragma: no cover - a dev install has it
        raise DataError("psnr/ssim need scikit-image: pip install 'gankit[image2image]'") from None
    return metrics


def _hwc(x: Tensor) -> np.ndarray:
    """uint8 (N, C, H, W) tensor -> uint8 (N, H, W, C) array."""
    if x.dtype != torch.uint8:
        x = to_uint8(x)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def psnr(outputs: Tensor, targets: Tensor) -> np.ndarray:
    """Per-image PSNR in dB on uint8 levels (data range 255). outputs/targets (N, C, H, W), uint8 or
    float in [-1, 1]. An exact output scores inf (skimage's value); callers cap it for tables."""
    m = _skimage()
    out, tgt = _hwc(outputs), _hwc(targets)
    with np.errstate(divide="ignore"):
        return np.array([m.peak_signal_noise_ratio(t, o, data_range=255) for o, t in zip(out, tgt)])


def ssim(outputs: Tensor, targets: Tensor) -> np.ndarray:
    """Per-image SSIM, Wang et al. settings (see the module docstring). Images of at least 7 px."""
    m = _skimage()
    out, tgt = _hwc(outputs), _hwc(targets)
    side = min(out.shape[1], out.shape[2])
    kw = dict(data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=-1)
    if side < 11:  # the Gaussian window is 11 px; smaller images get the largest odd window that fits
        kw["win_size"] = side if side % 2 else side - 1
    return np.array([m.structural_similarity(t.astype(np.float64), o.astype(np.float64), **kw)
                     for o, t in zip(out, tgt)])


def realism(outputs: Tensor, targets: Tensor, data_cfg: DataConfig, metrics=("fid", "kid"), device="cpu",
            progress: bool = False) -> dict[str, float]:
    """FID / KID of outputs vs targets (uint8 (N, C, H, W)) in the domain classifier's features of
    `data_cfg`'s dataset (fitted once and cached if needed; needs labelled data)."""
    from gankit.evaluation import metrics as M
    from gankit.evaluation.classifier import load_classifier
    from gankit.evaluation.features import extract
    base = replace(data_cfg, task="none", split="train", limit=0)
    if not has_labels(base):
        raise DataError(f"fid/kid: {data_cfg.name} has no class labels, and the domain classifier that gives "
                        f"gankit's feature space is trained on them")
    model, _ = load_classifier(base, progress=progress, device=device)
    model.to(device)
    fo = extract(model.features_and_logits, outputs, device=device)[0].numpy()
    ft = extract(model.features_and_logits, targets, device=device)[0].numpy()
    out = {}
    if "fid" in metrics:
        out["fid"] = float(M.fid(fo, ft))
    if "kid" in metrics:
        size = min(1000, len(fo), len(ft))
        out["kid"] = float(M.kid(fo, ft, subset_size=size)[0])
    return out


@torch.no_grad()
def translate_batches(G: nn.Module, inputs: Tensor, batch_size: int = 256, device="cpu") -> Tensor:
    """G (in eval mode for the call) over float inputs in batches -> uint8 outputs on the CPU."""
    was = G.training
    G.eval()
    try:
        outs = [to_uint8(G(inputs[i:i + batch_size].to(device)).clamp(-1, 1)).cpu()
                for i in range(0, len(inputs), batch_size)]
    finally:
        G.train(was)
    return torch.cat(outs)


def test_pairs(data_cfg: DataConfig, num: int | None = None) -> tuple[Tensor, Tensor]:
    """(inputs float, targets uint8) of the test split: the first `num` images, degraded by
    data.degrade_seed (image i alike in every evaluation), or the pairs of data.task = paired."""
    from gankit.data.degrade import degrade_fixed, split_pair
    data = load_dataset(replace(data_cfg, split="test", limit=0))
    x = data.x[:num] if num else data.x
    clean = to_float(x)
    if data_cfg.task == "paired":
        inputs, targets = split_pair(clean, data_cfg.direction)
        return inputs, to_uint8(targets)
    return degrade_fixed(clean, data_cfg), x


def score(outputs: Tensor, targets: Tensor, metrics, data_cfg: DataConfig | None = None, device="cpu",
          progress: bool = False) -> dict[str, float]:
    """The named metrics of uint8 outputs vs uint8 targets; infinite PSNRs (exact outputs) capped at 100 dB."""
    out = {}
    if "psnr" in metrics:
        values = psnr(outputs, targets)
        out["psnr"] = float(np.mean(np.minimum(values, 100.0)))
    if "ssim" in metrics:
        out["ssim"] = float(np.mean(ssim(outputs, targets)))
    wanted = [m for m in ("fid", "kid") if m in metrics]
    if wanted:
        out.update(realism(outputs, targets, data_cfg, wanted, device=device, progress=progress))
    return {k: (v if math.isfinite(v) else float("nan")) for k, v in out.items()}


def evaluate_translator(G: nn.Module, data_cfg: DataConfig, metrics=("psnr", "ssim"), num: int | None = None,
                        device="cpu", progress: bool = False) -> dict:
    """Translate the test split's first `num` inputs and score them: {"metrics": {name: {"value",
    "floor", "read"}}, "num": n}. The floor is the degraded input's own score (the do-nothing
    baseline; for superres its bicubic upsampling) where that is defined, else None."""
    import time
    from gankit.data.degrade import task_shape, upsample
    started = time.perf_counter()
    inputs, targets = test_pairs(data_cfg, num)
    outputs = translate_batches(G, inputs, device=device)
    values = score(outputs, targets, metrics, data_cfg, device, progress)
    t = task_shape(data_cfg)
    baseline = None
    if data_cfg.task != "paired" and (inputs.shape[1] == t.out_channels or t.scale > 1):
        base = upsample(inputs, t.scale) if t.scale > 1 else inputs
        baseline = score(to_uint8(base), targets, metrics, data_cfg, device, progress)
    return {"metrics": {n: {"value": v, "floor": (baseline or {}).get(n), "read": RESTORATION_METRICS[n]}
                        for n, v in values.items()},
            "num": len(targets), "seconds": round(time.perf_counter() - started, 3)}
