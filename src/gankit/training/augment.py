"""Augmentation of D's inputs: differentiable (DiffAugment/ADA) and dataset-side.

Differentiable augmentation (Zhao et al. 2020, "Differentiable Augmentation for
Data-Efficient GAN Training"; Karras et al. 2020, ADA, "Training Generative
Adversarial Networks with Limited Data") transforms real AND fake images
before D, in both the D and the G phase, and is differentiable w.r.t. the
images, so G gets gradients through it. Because D only ever sees augmented
images of both kinds, it cannot tell them apart by the augmentation, and G is
not pushed to reproduce it: the augmentation does not leak into samples (for
p < ~0.8, ADA §2.2). It fights D overfitting on small datasets.

Dataset augmentation (`dataset_augment`) transforms real images only and is
not differentiable: it enlarges the data distribution itself, so G learns to
produce the augmented images too (it leaks). Use it only for transforms whose
results are valid samples of the data (a horizontal flip of a shirt is still a
shirt; a crop that shifts the object off-centre is only fine if off-centre
objects are acceptable samples).

All randomness comes from the `torch.Generator` passed in (numbers are drawn
on that generator's device), so a resumed run that restores it is exact.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

__all__ = ["augment", "dataset_augment", "parse_policy", "AdaptiveP", "OPS", "DATASET_OPS"]


# ---------------------------------------------------------------------------
# random draws and a shared per-sample shift


def _rand(n: int, generator: torch.Generator, x: Tensor) -> Tensor:
    return torch.rand(n, generator=generator, device=generator.device).to(x.device)


def _randint(low: int, high: int, n: int, generator: torch.Generator, x: Tensor) -> Tensor:
    return torch.randint(low, high, (n,), generator=generator, device=generator.device).to(x.device)


def _applied(n: int, p: float, generator: torch.Generator, x: Tensor) -> Tensor:
    """(N,) bool: which samples this op transforms. Drawn for every sample whatever p is,
    so the random stream advances by the same amount at any p."""
    return _rand(n, generator, x) < p


def _shift(x: Tensor, dy: Tensor, dx: Tensor, reflect: bool) -> Tensor:
    """out[n, :, i, j] = x[n, :, i + dy[n], j + dx[n]], outside pixels 0 or mirrored.

    x: (N, C, H, W) of any dtype; dy, dx: (N,) integer shifts (|shift| < size for
    reflect). A gather, so differentiable w.r.t. x; a zero shift copies exactly.
    """
    n, _, h, w = x.shape
    rows = torch.arange(h, device=x.device) + dy[:, None]            # (N, H)
    cols = torch.arange(w, device=x.device) + dx[:, None]            # (N, W)
    if reflect:
        # Mirror without repeating the edge pixel, like F.pad(mode="reflect").
        rows = (h - 1) - ((h - 1) - rows.abs()).abs()
        cols = (w - 1) - ((w - 1) - cols.abs()).abs()
        inside = None
    else:
        inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
        rows, cols = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
    batch = torch.arange(n, device=x.device)[:, None, None]
    out = x[batch, :, rows[:, :, None], cols[:, None, :]]             # (N, H, W, C)
    out = out.permute(0, 3, 1, 2)
    if inside is not None:
        out = out * inside[:, None].to(out.dtype)
    return out


# ---------------------------------------------------------------------------
# differentiable ops: (x (N, C, H, W) float in [-1, 1], p, generator) -> same shape, in [-1, 1]


def _translation(x: Tensor, p: float, generator: torch.Generator) -> Tensor:
    """Shift each image by up to 1/8 of its size per axis, zero (mid-grey) fill (DiffAugment)."""
    n, _, h, w = x.shape
    sy, sx = int(h / 8 + 0.5), int(w / 8 + 0.5)
    on = _applied(n, p, generator, x)
    dy = _randint(-sy, sy + 1, n, generator, x) * on
    dx = _randint(-sx, sx + 1, n, generator, x) * on
    return _shift(x, dy, dx, reflect=False)


def _crop(x: Tensor, p: float, generator: torch.Generator) -> Tensor:
    """Random crop of the original size from the image padded by 1/8 of its size with
    reflection (the classic CIFAR crop); unlike translation, no blank borders appear."""
    n, _, h, w = x.shape
    py, px = min(int(h / 8 + 0.5), h - 1), min(int(w / 8 + 0.5), w - 1)
    on = _applied(n, p, generator, x)
    dy = _randint(-py, py + 1, n, generator, x) * on
    dx = _randint(-px, px + 1, n, generator, x) * on
    return _shift(x, dy, dx, reflect=True)


def _cutout(x: Tensor, p: float, generator: torch.Generator) -> Tensor:
    """Zero (mid-grey) a random square of half the image size (DeVries & Taylor 2017; DiffAugment).

    The square's centre is uniform over the image, so it may be partly outside."""
    n, _, h, w = x.shape
    ch, cw = int(h / 2 + 0.5), int(w / 2 + 0.5)
    on = _applied(n, p, generator, x)
    oy = _randint(0, h + (1 - ch % 2), n, generator, x) - ch // 2   # top edge of the square
    ox = _randint(0, w + (1 - cw % 2), n, generator, x) - cw // 2
    r = torch.arange(h, device=x.device)[None, :]
    c = torch.arange(w, device=x.device)[None, :]
    in_r = (r >= oy[:, None]) & (r < oy[:, None] + ch)                 # (N, H)
    in_c = (c >= ox[:, None]) & (c < ox[:, None] + cw)                 # (N, W)
    cut = in_r[:, :, None] & in_c[:, None, :] & on[:, None, None]      # (N, H, W)
    return x * (~cut)[:, None].to(x.dtype)


def _color(x: Tensor, p: float, generator: torch.Generator) -> Tensor:
    """DiffAugment colour: brightness +U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5).

    Clamped back to [-1, 1] so D never sees values real data cannot have; the
    clamp passes no gradient for the (few) pixels it cuts, and none elsewhere is lost.
    Saturation is the identity for one-channel images.
    """
    n = x.shape[0]
    on = _applied(n, p, generator, x)[:, None, None, None]
    shape = (n, 1, 1, 1)
    bright = (_rand(n, generator, x) - 0.5).reshape(shape).to(x.dtype)
    sat = (_rand(n, generator, x) * 2).reshape(shape).to(x.dtype)
    con = (_rand(n, generator, x) + 0.5).reshape(shape).to(x.dtype)
    y = x + bright
    mean = y.mean(dim=1, keepdim=True)
    y = (y - mean) * sat + mean
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    y = (y - mean) * con + mean
    # Samples not drawn for the op keep x exactly (no round-off from identity factors).
    return torch.where(on, y.clamp(-1.0, 1.0), x)


def _flip(x: Tensor, p: float, generator: torch.Generator) -> Tensor:
    """Mirror left-right."""
    on = _applied(x.shape[0], p, generator, x)[:, None, None, None]
    return torch.where(on, x.flip(3), x)


OPS: dict[str, Callable[[Tensor, float, torch.Generator], Tensor]] = {
    "translation": _translation,
    "cutout": _cutout,
    "color": _color,
    "flip": _flip,
    "crop": _crop,
}
"""Differentiable ops by name (the names of `augment.policy`)."""


def parse_policy(policy: str, known=OPS) -> list[str]:
    """'color, translation' -> ['color', 'translation']; ValueError naming an unknown op."""
    ops = [op.strip() for op in policy.split(",") if op.strip()]
    for op in ops:
        if op not in known:
            raise ValueError(f"unknown augmentation op {op!r} (known: {', '.join(known)})")
    return ops


def augment(x: Tensor, policy: str, p: float, generator: torch.Generator) -> Tensor:
    """Apply the ops of `policy` (comma list, applied in the order given) to D's inputs.

    x: images (N, C, H, W) float in [-1, 1], real or fake (the same call for both).
    Each op is applied to each sample independently with probability p in [0, 1].
    Returns a tensor of the same shape, dtype and device, values in [-1, 1]
    (translation/cutout fill with 0, mid-grey), differentiable w.r.t. x.
    An empty policy or p == 0 returns x itself and draws nothing.
    """
    ops = parse_policy(policy)
    if not ops or p <= 0:
        return x
    if x.dim() != 4:
        raise ValueError(f"augment: expects images (N, C, H, W), got shape {tuple(x.shape)}")
    for op in ops:
        x = OPS[op](x, p, generator)
    return x


# ---------------------------------------------------------------------------
# adaptive p (ADA)


class AdaptiveP:
    """ADA's adaptive augmentation probability (Karras et al. 2020, §3).

    The overfitting heuristic r_t = E[sign(D(x_real))] is 0 when D cannot tell
    reals from fakes and 1 when it is sure of every real (it has memorised the
    training set). Every `interval` D steps, r_t over those steps is compared
    with `target` (0.6 in ADA) and p moves by ±(images in the window) /
    (speed_kimg * 1000), so p can go from 0 to 1 in `speed_kimg` thousand images
    (500 in ADA); p stays in [0, 1].

    Usage: ``p = ada.update(real_logits, batch_images)`` after each D step, and
    pass ``ada.p`` to `augment`. Logits stay on their device; the host reads them
    once per interval.
    """

    def __init__(self, target: float = 0.6, p: float = 0.0, interval: int = 4, speed_kimg: float = 500.0):
        if not 0.0 < target < 1.0 or not 0.0 <= p <= 1.0 or interval < 1 or speed_kimg <= 0:
            raise ValueError(f"AdaptiveP: need 0 < target < 1, 0 <= p <= 1, interval >= 1, speed_kimg > 0; "
                             f"got {target}, {p}, {interval}, {speed_kimg}")
        self.target, self.p, self.interval, self.speed_kimg = float(target), float(p), int(interval), float(speed_kimg)
        self.rt = 0.0   # the last r_t measured, for logging
        self._reset()

    def _reset(self) -> None:
        self._sum: Tensor | float = 0.0
        self._count, self._images, self._batches = 0, 0, 0

    def update(self, real_logits: Tensor, batch_images: int) -> float:
        """Record D's logits on a real batch (N,) seen after `batch_images` more images; returns p."""
        self._sum = self._sum + real_logits.detach().sign().sum()
        self._count += real_logits.numel()
        self._images += int(batch_images)
        self._batches += 1
        if self._batches >= self.interval:
            self.rt = float(self._sum) / max(self._count, 1)
            direction = (self.rt > self.target) - (self.rt < self.target)
            self.p = min(1.0, max(0.0, self.p + direction * self._images / (self.speed_kimg * 1000.0)))
            self._reset()
        return self.p

    def state_dict(self) -> dict:
        """Plain Python numbers (p, last r_t and the partial window), for a checkpoint."""
        return {"p": self.p, "rt": self.rt, "sum": float(self._sum), "count": self._count,
                "images": self._images, "batches": self._batches}

    def load_state_dict(self, state: dict) -> None:
        self.p, self.rt = float(state["p"]), float(state["rt"])
        self._sum, self._count = float(state["sum"]), int(state["count"])
        self._images, self._batches = int(state["images"]), int(state["batches"])


# ---------------------------------------------------------------------------
# dataset-side augmentation (real images only, not differentiable)


def _dataset_flip(x: Tensor, generator: torch.Generator) -> Tensor:
    return _flip(x, 0.5, generator)


def _dataset_crop(x: Tensor, generator: torch.Generator) -> Tensor:
    return _crop(x, 1.0, generator)  # offsets are uniform in [-pad, pad], 0 included


DATASET_OPS: dict[str, Callable[[Tensor, torch.Generator], Tensor]] = {
    "flip": _dataset_flip,
    "crop": _dataset_crop,
}
"""Dataset-side ops by name (the names of `augment.dataset_policy`)."""


@torch.no_grad()
def dataset_augment(x: Tensor, policy: str, generator: torch.Generator) -> Tensor:
    """Augment a batch of real images: "flip" mirrors each with probability 1/2, "crop"
    takes a random crop of the original size from the image reflection-padded by 1/8.

    x: (N, C, H, W) of any dtype, typically uint8 0..255 at the data edge; the
    result has the same shape and dtype and takes only values present in x.
    Not differentiable; applied to real data only, so it leaks into samples.
    An empty policy returns x itself and draws nothing.
    """
    ops = parse_policy(policy, DATASET_OPS)
    if ops and x.dim() != 4:
        raise ValueError(f"dataset_augment: expects images (N, C, H, W), got shape {tuple(x.shape)}")
    for op in ops:
        x = DATASET_OPS[op](x, generator)
    return x
