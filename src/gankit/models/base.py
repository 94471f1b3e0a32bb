"""What every model family shares: the `Generator` base, seeded latents, weight init.

Shapes: a sample shape is ``(C, H, W)`` for images (values in [-1, 1]) or
``(D,)`` for toy data (unbounded). Generators map ``z: (N, z_dim)`` to
``(N, *shape)``; discriminators map ``(N, *shape)`` to raw logits ``(N,)``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["ModelError", "Generator", "latents", "init_weights", "LATENT_CHUNK", "truncate", "check_truncation"]

LATENT_CHUNK = 256
# Generators run on fixed, index-aligned chunks of this many latents when sampling
# (see Generator.sample); changing it changes the last bits of stored samples.
SAMPLE_CHUNK = 64
"""Latents are drawn in chunks of this many rows, each from its own seeded stream.

Changing it changes every latent of every seed: it is part of the on-disk
meaning of "sample i of seed s" and must stay fixed.
"""


class ModelError(ValueError):
    """A model cannot be built for this config and sample shape.

    The message is one user-facing line that starts with the config field,
    e.g. ``model.arch: dcgan-tf builds only 28x28 images, got resolution 32``.
    """


def _chunk_seed(seed: int, chunk: int) -> int:
    # SeedSequence hashes (seed, chunk) so that neighbouring seeds and chunks give
    # unrelated torch streams.
    state = np.random.SeedSequence([seed, chunk]).generate_state(1, dtype=np.uint64)
    return int(state[0])


def latents(n: int, z_dim: int, seed: int, start: int = 0) -> Tensor:
    """Latent vectors ``start .. start+n-1`` of `seed`: ``(n, z_dim)`` float32 on CPU, z ~ N(0, I).

    Row i depends only on ``(seed, start + i, z_dim)``, never on n, the batch size
    or the device the caller later moves it to, so that sample i of seed s is the
    same image however it is produced. Seeds are integers in [0, 2**64): never folded, so no two
    seeds name the same samples (the CLI takes [0, 2**32), leaving room for derived seeds).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
        raise ValueError(f"seed: expected an integer in [0, 2**64), got {seed!r}")
    seed = int(seed)
    if n < 0 or start < 0 or z_dim <= 0:
        raise ValueError(f"latents: need n >= 0, start >= 0, z_dim > 0, got n={n}, start={start}, z_dim={z_dim}")
    if n == 0:
        return torch.empty(0, z_dim)
    first, last = start // LATENT_CHUNK, (start + n - 1) // LATENT_CHUNK
    parts = []
    for chunk in range(first, last + 1):
        gen = torch.Generator().manual_seed(_chunk_seed(seed, chunk))
        # Always draw the whole chunk: the values of a row must not depend on how
        # many rows were asked for (torch's CPU normal sampler changes algorithm by size).
        parts.append(torch.randn(LATENT_CHUNK, z_dim, generator=gen, dtype=torch.float32))
    offset = start - first * LATENT_CHUNK
    z = parts[0] if len(parts) == 1 else torch.cat(parts)
    return z[offset:offset + n].contiguous()


def check_truncation(psi) -> float:
    """`psi` as a float if it is a truncation in [0, 1]; ValueError (one line) otherwise."""
    ok = isinstance(psi, (int, float, np.integer, np.floating)) and not isinstance(psi, bool)
    if not ok or not 0.0 <= float(psi) <= 1.0:
        raise ValueError(f"truncation: expected a number in [0, 1] (1 = no truncation, smaller = "
                         f"more typical, less varied samples), got {psi!r}")
    return float(psi)


def truncate(z: Tensor, psi: float) -> Tensor:
    """The truncation trick in z-space: latents ``z`` ~ N(0, 1) elementwise -> the same-shaped latents
    of a normal truncated to [-t, t], where t keeps the central fraction `psi` of its mass:
    ``t = Phi^-1((1 + psi) / 2)`` (psi 0.5: t = 0.67; 0.8: t = 1.28; 0.95: t = 1.96).

    BigGAN (Brock et al. 2019) draws z from this truncated normal by resampling every |z_i| > t.
    These generators have no mapping network (StyleGAN's psi lerps w towards its mean), so z is
    truncated, but by a monotone map of each value instead of resampling: the quantile of z_i
    under N(0, 1) becomes the same quantile under the truncated normal,
    ``z'_i = Phi^-1((1 - psi) / 2 + psi * Phi(z_i))``. The result has exactly the truncated
    normal's distribution, yet sample i of seed s stays "the same sample, tamed" across psi, and
    stays independent of n, batch size and device (elementwise, float64 on the CPU latents).
    psi = 1 returns `z` itself (bitwise today's samples); psi = 0 gives z = 0, the mean, for all.
    """
    psi = check_truncation(psi)
    if psi == 1.0:
        return z
    # Computed on the negative half (odd symmetry) so that no quantile is rounded near 1.
    a = -z.double().abs()
    t = torch.special.ndtri((1.0 - psi) / 2 + psi * torch.special.ndtr(a))
    return (-torch.sign(z.double()) * t).to(z.dtype) if psi > 0 else torch.zeros_like(z)


@torch.no_grad()
def init_weights(module: nn.Module) -> nn.Module:
    """DCGAN init (Radford et al. 2015): conv/linear weights N(0, 0.02), batch-norm
    scale N(1, 0.02), all biases 0. Draws from torch's global RNG; returns `module`."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            m.weight.normal_(0.0, 0.02)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:  # a conditional BN's own BN has none
            m.weight.normal_(1.0, 0.02)
            m.bias.zero_()
    return module


def square_image_problem(arch: str, shape: tuple) -> str | None:
    """Why `arch`, a conv family, cannot build samples of `shape`, as far as the shape alone says:
    not (C, H, W), not square, or no channels. None when it is a square image shape."""
    if len(shape) != 3:
        return f"{arch} builds images of shape (C, H, W), got sample shape {tuple(shape)}; use arch 'mlp' for toy data"
    c, h, w = shape
    if h != w:
        return f"{arch} builds square images, got {h}x{w}"
    if c < 1:
        return f"{arch} needs at least one channel, got {c}"
    return None


def _as_labels(labels, n: int, num_classes: int) -> Tensor:
    if isinstance(labels, bool):
        raise ValueError(f"sample: labels must be class indices, got {labels!r}")
    y = torch.full((n,), int(labels), dtype=torch.long) if isinstance(labels, (int, np.integer)) \
        else torch.as_tensor(labels)
    if y.dtype.is_floating_point or y.dtype == torch.bool or y.shape != (n,):
        raise ValueError(f"sample: labels must be {n} integer class indices, got {tuple(y.shape)} {y.dtype}")
    y = y.long().cpu()
    if n and not (0 <= int(y.min()) and int(y.max()) < num_classes):
        raise ValueError(f"sample: labels must be in [0, {num_classes}), got {int(y.min())}..{int(y.max())}")
    return y


def _module_device(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


class Generator(nn.Module):
    """Base of every family's generator.

    Subclasses set `z_dim` and `out_shape` (via ``super().__init__``) and define
    ``forward(z: (N, z_dim)) -> (N, *out_shape)``: images in [-1, 1] (tanh), toy
    data unbounded (linear output).
    """

    num_classes: int = 0
    """Classes a conditional generator is built for (``forward(z, y)``); 0 = unconditional."""

    def __init__(self, z_dim: int, out_shape: tuple):
        super().__init__()
        self.z_dim = int(z_dim)
        self.out_shape = tuple(int(s) for s in out_shape)

    def _sample_labels(self, n: int, start: int, labels) -> Tensor | None:
        """The class of each sample asked for, (n,) int64 on CPU; None for an unconditional G."""
        if not self.num_classes:
            if labels is not None:
                raise ValueError("sample: labels given to an unconditional generator")
            return None
        if labels is None:
            return torch.arange(start, start + n) % self.num_classes
        return _as_labels(labels, n, self.num_classes)

    def _check_labels(self, y) -> None:
        if (y is None) != (self.num_classes == 0):
            raise ValueError(f"{type(self).__name__}: labels y are needed exactly when built with num_classes > 0 "
                             f"(num_classes={self.num_classes}, y {'missing' if y is None else 'given'})")

    def forward(self, z: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.inference_mode()
    def sample(self, n: int, seed: int = 0, start: int = 0, device=None, labels=None,
               truncation: float = 1.0) -> Tensor:
        """Samples ``start .. start+n-1`` of `seed`: ``(n, *out_shape)`` float32 on CPU.

        Sample i is bitwise the same whatever n and start: the network always runs
        on whole, index-aligned chunks of SAMPLE_CHUNK latents (conv backends pick
        different algorithms for different batch shapes, which changes the last
        bits), in eval mode (batch norm uses running statistics), and the rows
        asked for are cut out. The previous train/eval mode is restored.
        `device` is where the network runs; it defaults to the module's device.
        The result is an ordinary tensor (not an inference tensor), so it can be
        fed to modules that record gradients.
        A conditional generator (num_classes K > 0) draws sample i of class ``labels[i]``
        (labels: int64 (n,), or one int for all); None gives balanced classes, sample i of
        class (start + i) % K, whatever n and the chunking. An unconditional one refuses labels.
        `truncation` psi in [0, 1]: the truncation trick (see `truncate`); 1 (the default) draws the
        untruncated samples, smaller values more typical, less varied ones; 0 the mean latent.
        """
        if n < 0 or start < 0:
            raise ValueError(f"sample: need n >= 0 and start >= 0, got n={n}, start={start}")
        psi = check_truncation(truncation)
        classes = self._sample_labels(n, start, labels)
        device = _module_device(self) if device is None else torch.device(device)
        with torch.inference_mode(False):
            out = torch.empty((n, *self.out_shape), dtype=torch.float32)
        was_training = self.training
        self.eval()
        try:
            for chunk in range(start // SAMPLE_CHUNK, (start + n + SAMPLE_CHUNK - 1) // SAMPLE_CHUNK):
                lo = chunk * SAMPLE_CHUNK
                a, b = max(start, lo), min(start + n, lo + SAMPLE_CHUNK)
                z = truncate(latents(SAMPLE_CHUNK, self.z_dim, seed, lo), psi).to(device)
                if classes is None:
                    x = self(z)
                else:  # rows outside [a, b) are cut out below; in eval mode rows do not mix
                    y = torch.zeros(SAMPLE_CHUNK, dtype=torch.long)
                    y[a - lo:b - lo] = classes[a - start:b - start]
                    x = self(z, y.to(device))
                out[a - start:b - start] = x[a - lo:b - lo]  # copies to CPU and casts to float32
        finally:
            self.train(was_training)
        return out
