"""Reusable layers and model transforms shared by the families.

- `MinibatchStd`: the ProGAN minibatch standard deviation feature for D.
- `apply_spectral_norm`: spectral normalisation of every conv/linear weight.
- `pack_samples` / `packed_shape`: PacGAN packing of m samples into one D input.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["MinibatchStd", "apply_spectral_norm", "pack_samples", "packed_shape", "SPECTRAL_NORM_TYPES"]

SPECTRAL_NORM_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d,
                       nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
"""Module types whose `weight` `apply_spectral_norm` normalises."""


class MinibatchStd(nn.Module):
    """Minibatch standard deviation (Karras et al. 2018, ProGAN, §3): one extra feature
    telling D how varied its batch is, so a collapsed G is easy to spot.

    Input (N, C, H, W) -> (N, C + 1, H, W), or (N, F) -> (N, F + 1). The batch is
    split into groups of `group_size` samples (sample i belongs with i + N/G,
    i + 2N/G, ... as in ProGAN/StyleGAN); per group, the std of each feature and
    pixel over the group's samples (population std, sqrt(var + eps)) is averaged
    to one number, appended to every sample of the group as a constant channel
    (or feature). Values >= sqrt(eps) = 1e-4, which is the value for a batch of
    identical samples. If N is not divisible by `group_size`, the largest
    divisor of N not above it is used (N = 1 gives the constant 1e-4).
    """

    def __init__(self, group_size: int = 4, eps: float = 1e-8):
        super().__init__()
        if group_size < 1:
            raise ValueError(f"MinibatchStd: group_size must be >= 1, got {group_size}")
        self.group_size, self.eps = int(group_size), float(eps)

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        g = min(self.group_size, n)
        while n % g:
            g -= 1
        y = x.reshape(g, n // g, *x.shape[1:])
        # The eps keeps sqrt differentiable for identical samples (std 0).
        std = (y.var(dim=0, unbiased=False) + self.eps).sqrt()       # (N/G, C, H, W) or (N/G, F)
        std = std.flatten(1).mean(dim=1)                             # (N/G,)
        std = std.repeat(g)                                          # sample i gets group i % (N/G)
        extra = std.reshape(n, 1, *([1] * (x.dim() - 2))).expand(n, 1, *x.shape[2:])
        return torch.cat([x, extra.to(x.dtype)], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


def apply_spectral_norm(module: nn.Module, n_power_iterations: int = 1) -> nn.Module:
    """Spectrally normalise every Linear/Conv/ConvTranspose weight of `module` in place
    (Miyato et al. 2018, SNGAN); returns `module`.

    Each weight W is reparametrised as W / sigma(W), with sigma the top singular
    value of W reshaped to a matrix (out, in * k * k), estimated by power
    iteration: `n_power_iterations` per forward pass in train mode (the paper uses
    1; the estimate improves across steps), none in eval mode. It bounds each
    layer's Lipschitz constant by about 1, which keeps D smooth without a penalty.

    Apply it after weight init: the parametrization keeps the original weight as
    ``parametrizations.weight.original`` (plus buffers ``_u``, ``_v``), which
    changes the state_dict keys, so a model must be rebuilt with the same config
    before loading. Its u/v start from torch's global RNG (seed it for
    reproducible builds).
    """
    targets = [m for m in module.modules() if isinstance(m, SPECTRAL_NORM_TYPES)]
    for m in targets:
        # spectral_norm picks dim=1 for ConvTranspose (its weight is (in, out, k, k)).
        spectral_norm(m, n_power_iterations=n_power_iterations)
    return module


def pack_samples(x: Tensor, m: int) -> Tensor:
    """PacGAN packing (Lin et al. 2018): m consecutive samples become one D input.

    (N, C, H, W) -> (N/m, m*C, H, W) (samples concatenated along channels);
    (N, D) -> (N/m, m*D) (along features). Row j of the result holds samples
    j*m .. j*m+m-1 in order. N must be divisible by m; m = 1 returns x itself.
    A pure reshape, so gradients flow to every sample.
    """
    if m < 1:
        raise ValueError(f"pack_samples: m must be >= 1, got {m}")
    if m == 1:
        return x
    n = x.shape[0]
    if x.dim() < 2 or n % m:
        raise ValueError(f"pack_samples: batch of {n} samples of shape {tuple(x.shape[1:])} "
                         f"cannot be packed in groups of {m} (the batch size must be divisible by model.pack)")
    return x.reshape(n // m, m * x.shape[1], *x.shape[2:])


def packed_shape(shape: tuple, m: int) -> tuple:
    """The sample shape D sees with packing: (C, H, W) -> (m*C, H, W), (D,) -> (m*D,)."""
    shape = tuple(shape)
    return (m * shape[0],) + shape[1:]
