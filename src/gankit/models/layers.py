"""Reusable layers and model transforms shared by the families.

- `MinibatchStd`: the ProGAN minibatch standard deviation feature for D.
- `apply_spectral_norm`: spectral normalisation of every conv/linear weight.
- `pack_samples` / `packed_shape`: PacGAN packing of m samples into one D input.
- `ConditionalBatchNorm2d`: batch norm whose scale and shift depend on a class label
  (the generator half of projection conditioning; SNGAN/BigGAN).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["MinibatchStd", "apply_spectral_norm", "pack_samples", "packed_shape", "SPECTRAL_NORM_TYPES",
           "ConditionalBatchNorm2d", "has_spectral_norm"]

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

    Idempotent: a weight that is already spectrally normalised (the resnet family's
    D is built that way) is left as it is, so applying it twice changes nothing (a
    second parametrization would only divide by ~1 again, at the cost of another
    power iteration and different state_dict keys). The per-class gain/bias layers of
    `ConditionalBatchNorm2d` are skipped: they start at zero, and a zero matrix has
    no top singular value to divide by (W / 0 is NaN).
    """
    skip = {id(layer) for m in module.modules() if isinstance(m, ConditionalBatchNorm2d)
            for layer in (m.gain, m.bias)}
    targets = [m for m in module.modules() if isinstance(m, SPECTRAL_NORM_TYPES)
               and id(m) not in skip and not has_spectral_norm(m)]
    for m in targets:
        # spectral_norm picks dim=1 for ConvTranspose (its weight is (in, out, k, k)).
        spectral_norm(m, n_power_iterations=n_power_iterations)
    return module


def has_spectral_norm(module: nn.Module) -> bool:
    """Whether `module.weight` is spectrally normalised (a torch spectral_norm parametrization)."""
    if not parametrize.is_parametrized(module, "weight"):
        return False
    # torch names its spectral-norm parametrization class _SpectralNorm (private, so matched by name)
    return any(type(p).__name__ == "_SpectralNorm" for p in module.parametrizations.weight)


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


class ConditionalBatchNorm2d(nn.Module):
    """Class-conditional batch norm (de Vries et al. 2017; SNGAN's and BigGAN's G): batch
    norm without its own affine, then a per-class scale and shift,
    ``y = BN(x) * (1 + gain(onehot)) + bias(onehot)``, gain and bias ``Linear(num_classes,
    num_features)`` without bias terms (over a one-hot input a bias would duplicate every
    class's column).

    ``forward(x, y)``: x (N, C, H, W) float, any range; y either labels (N,) int64 in
    [0, num_classes) or class weights (N, num_classes) float (one-hot, or a mixture: a
    convex combination interpolates between classes); returns (N, C, H, W).
    Both linears start at zero, so at init it is exactly plain `nn.BatchNorm2d` with
    scale 1 and shift 0 for every class: conditioning is learned from an unconditional
    start. Running statistics are shared by all classes (normalisation is class-blind,
    only the affine is per class), so eval mode behaves like BatchNorm2d's.
    """

    def __init__(self, num_features: int, num_classes: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        if num_features < 1 or num_classes < 1:
            raise ValueError(f"ConditionalBatchNorm2d: need num_features, num_classes >= 1, "
                             f"got {num_features}, {num_classes}")
        self.num_features, self.num_classes = int(num_features), int(num_classes)
        self.bn = nn.BatchNorm2d(num_features, eps=eps, momentum=momentum, affine=False)
        self.gain = nn.Linear(num_classes, num_features, bias=False)
        self.bias = nn.Linear(num_classes, num_features, bias=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        self.bn.reset_running_stats()
        self.gain.weight.zero_()
        self.bias.weight.zero_()

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        if y.dim() == 1:
            if y.dtype.is_floating_point:
                raise ValueError("ConditionalBatchNorm2d: labels of shape (N,) must be integers")
            y = F.one_hot(y.long(), self.num_classes)
        if y.shape != (x.shape[0], self.num_classes):
            raise ValueError(f"ConditionalBatchNorm2d: expected labels (N,) or class weights "
                             f"({x.shape[0]}, {self.num_classes}), got {tuple(y.shape)}")
        y = y.to(x.dtype)
        gain = 1 + self.gain(y)
        bias = self.bias(y)
        return self.bn(x) * gain[:, :, None, None] + bias[:, :, None, None]

    def extra_repr(self) -> str:
        return f"{self.num_features}, num_classes={self.num_classes}"
