"""Reusable layers and model transforms shared by the families.

- `MinibatchStd`: the ProGAN minibatch standard deviation feature for D.
- `apply_spectral_norm`: spectral normalisation of every conv/linear weight.
- `pack_samples` / `packed_shape`: PacGAN packing of m samples into one D input.
- `ConditionalBatchNorm2d`: batch norm whose scale and shift depend on a class label
  (the generator half of projection conditioning; SNGAN/BigGAN).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["MinibatchStd", "apply_spectral_norm", "pack_samples", "packed_shape", "SPECTRAL_NORM_TYPES",
           "ConditionalBatchNorm2d", "has_spectral_norm", "class_weights", "label_channels", "ConditionalAffine",
           "ClassHead", "reset_conditional"]

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
    skip = {id(layer) for m in module.modules() if isinstance(m, (ConditionalBatchNorm2d, ConditionalAffine))
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


def class_weights(y: Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Labels (N,) int64 in [0, num_classes) -> one-hot (N, num_classes); class weights (N, K) float
    (one-hot or a mixture) pass through. The form every conditional layer reads labels in."""
    if y.dim() == 1:
        if y.dtype.is_floating_point:
            raise ValueError("labels of shape (N,) must be integer class indices")
        return F.one_hot(y.long(), num_classes).to(dtype)
    if y.dim() != 2 or y.shape[1] != num_classes:
        raise ValueError(f"expected labels (N,) or class weights (N, {num_classes}), got {tuple(y.shape)}")
    return y.to(dtype)


def label_channels(x: Tensor, y: Tensor, num_classes: int) -> Tensor:
    """Concat conditioning of a D input: (N, C, H, W) -> (N, C + K, H, W) with the one-hot label
    as K constant planes, or (N, F) -> (N, F + K) (Mirza & Osindero 2014)."""
    w = class_weights(y, num_classes, x.dtype)
    if x.dim() == 4:
        w = w[:, :, None, None].expand(-1, -1, *x.shape[2:])
    return torch.cat([x, w], dim=1)


class ConditionalAffine(nn.Module):
    """Per-class scale and shift of features (N, F): ``x * (1 + gain(onehot)) + bias(onehot)``.

    `ConditionalBatchNorm2d`'s affine for layers without batch norm (the mlp family's G):
    both linears start at zero, so at init the layer is the identity for every class."""

    def __init__(self, num_features: int, num_classes: int):
        super().__init__()
        self.num_classes = int(num_classes)
        self.gain = nn.Linear(num_classes, num_features, bias=False)
        self.bias = nn.Linear(num_classes, num_features, bias=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        self.gain.weight.zero_()
        self.bias.weight.zero_()

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        w = class_weights(y, self.num_classes, x.dtype)
        return x * (1 + self.gain(w)) + self.bias(w)


class ClassHead(nn.Module):
    """The label-dependent part of a conditional D's output, read from its features h (N, F).

    projection: adds ``<embed(y), h>`` to the logit (Miyato & Koyama 2018);
    ac: a linear class head ``h -> (N, K)`` class logits (AC-GAN, Odena et al. 2017), returned
    beside the adversarial logit with ``return_classes=True`` (the logit itself ignores y);
    concat: nothing here (the label went into D's input).
    """

    def __init__(self, method: str, num_features: int, num_classes: int):
        super().__init__()
        self.method, self.num_classes = method, int(num_classes)
        self.embed = nn.Embedding(num_classes, num_features) if method == "projection" else None
        self.classes = nn.Linear(num_features, num_classes) if method == "ac" else None
        if self.embed is not None:  # the scale of a Linear(num_features, 1), like the logit it is added to
            bound = 1 / math.sqrt(num_features)
            nn.init.uniform_(self.embed.weight, -bound, bound)

    def forward(self, h: Tensor, logit: Tensor, y: Tensor | None, return_classes: bool):
        if self.embed is not None:
            if y is None:
                raise ValueError("a projection discriminator needs labels: D(x, y)")
            logit = logit + (self.embed(y) * h).sum(dim=1)
        if not return_classes:
            return logit
        if self.classes is None:
            raise ValueError(f"return_classes: a {self.method!r} discriminator has no class head (only 'ac')")
        return logit, self.classes(h)


def reset_conditional(module: nn.Module) -> nn.Module:
    """Re-zero every conditional affine after a family's weight init (which would have drawn them)."""
    for m in module.modules():
        if isinstance(m, (ConditionalBatchNorm2d, ConditionalAffine)):
            m.reset_parameters()
    return module
