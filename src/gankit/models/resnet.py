"""SNGAN/BigGAN-style residual G and D (Miyato et al. 2018, appendix B; Brock et al. 2019)
for square images of 28x28 or 32x32 pixels and any channel count (1 and 3 in practice).

G: z (N, z_dim) -> linear to (width, s, s), s = 7 (28x28) or 4 (32x32) -> up blocks to
   the resolution (7 -> 14 -> 28, or 4 -> 8 -> 16 -> 32) -> BN, ReLU, 3x3 conv to
   `channels`, tanh: (N, C, H, W) in [-1, 1].
   Up block: BN, ReLU, nearest-neighbour 2x upsample, 3x3 conv, BN, ReLU, 3x3 conv, plus a
   shortcut upsample + 1x1 conv. Nearest upsampling followed by a 3x3 conv covers every
   output pixel with the same number of taps, so there are none of the checkerboard
   artefacts of strided transposed convs (Odena et al. 2016).
D: optimized first block (3x3 conv, ReLU, 3x3 conv, 2x2 average pool; shortcut: pool, 1x1
   conv) -> one down block (ReLU, 3x3 conv, ReLU, 3x3 conv, pool; shortcut: pool, 1x1
   conv) -> two plain blocks (identity shortcut) at 7x7 or 8x8 -> ReLU, global *sum*
   pooling (N, width) -> linear to one raw logit: (N,). SNGAN's CIFAR-10 D, also at 28.
   Spectral norm on every conv and linear of D is part of the architecture, applied at
   construction (SNGAN designed and tuned this D with it; it has no other normalisation
   to keep its Lipschitz constant in check). So ``model.d_spectral_norm``
   is irrelevant here: false builds the same D, and true leaves it as it is
   (`apply_spectral_norm` skips weights that are already normalised).
   ``model.d_batchnorm`` and ``model.d_dropout`` are refused (`check`): neither is part of
   SNGAN's D, and batch norm would undo the Lipschitz bound spectral norm gives.

``model.width`` is the channel count of every block, in G and in D (SNGAN's CIFAR-10
models: G 256, D 128; the default 64 keeps a CPU run affordable).

Class conditioning (``num_classes=K`` with ``conditional``, default "projection"; K = 0 builds
the modules above), G(z, y) and D(x, y):
- projection: every batch norm of G becomes `ConditionalBatchNorm2d`; D adds the projection
  term ``<embed(y), features(x)>`` (Miyato & Koyama 2018) to its logit;
- concat: the one-hot label joins z at G's input (plain batch norms), and enters D as K
  constant input planes (Mirza & Osindero 2014);
- ac: G as for projection; D gets an auxiliary class head on its pooled features
  (``D(x, return_classes=True)`` -> (logit, class logits (N, K))), spectrally normalised like D.
Labels y are (N,) int64 in [0, K), or (N, K) float class weights in G.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from gankit.config import ModelConfig
from gankit.models.base import Generator, square_image_problem
from gankit.models.layers import ClassHead, ConditionalBatchNorm2d, apply_spectral_norm, class_weights, label_channels

BASE = {28: 7, 32: 4}
"""Resolution -> G's starting size s; G doubles it until it reaches the resolution."""

Norm = Callable[[int], nn.Module]
"""A factory ``channels -> norm layer``: plain BN, or conditional BN (which takes labels)."""


def _norm(layer: nn.Module, x: Tensor, y: Tensor | None) -> Tensor:
    return layer(x) if y is None else layer(x, y)


class UpBlock(nn.Module):
    """(N, c_in, h, w) -> (N, c_out, 2h, 2w); ``forward(x, y=None)``, y only with a conditional norm."""

    def __init__(self, c_in: int, c_out: int, norm: Norm):
        super().__init__()
        self.bn1, self.bn2 = norm(c_in), norm(c_out)
        # No conv biases: every block's output goes into a batch norm (the next block's or
        # the final one), whose shift makes them redundant.
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = F.interpolate(F.relu(_norm(self.bn1, x, y)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(_norm(self.bn2, self.conv1(h), y)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DownBlock(nn.Module):
    """(N, c_in, h, w) -> (N, c_out, h/2, w/2), or the same size with ``down=False``.

    ``first=True`` is SNGAN's optimized first block: no ReLU before the first conv (the
    input is an image, not a feature map, and half of it would be cut off).
    """

    def __init__(self, c_in: int, c_out: int, down: bool = True, first: bool = False):
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        # A learned shortcut only where the shape changes; 1x1 conv and average pooling
        # commute, so pooling first does the same in a quarter of the work.
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if down or c_in != c_out else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(x if self.first else F.relu(x))  # not inplace: x is also the shortcut's input
        h = self.conv2(F.relu(h))
        s = x
        if self.down:
            h, s = F.avg_pool2d(h, 2), F.avg_pool2d(s, 2)
        if self.shortcut is not None:
            s = self.shortcut(s)
        return h + s


@torch.no_grad()
def _init(module: nn.Module) -> None:
    """SNGAN's reference init: Xavier-uniform, gain sqrt(2) on the convs inside residual
    branches (they feed ReLUs), 1 on shortcuts, linears and G's output conv; biases 0.
    DCGAN's N(0, 0.02) would start these deep stacks with vanishing residual branches.
    Draws from torch's global RNG (`build(seed=...)` forks it)."""
    # Conditional batch norms keep their own init: per-class affines that start at zero.
    own = {id(layer) for m in module.modules() if isinstance(m, ConditionalBatchNorm2d)
           for layer in m.modules()}
    for name, m in module.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and id(m) not in own:
            branch = isinstance(m, nn.Conv2d) and name.rsplit(".", 1)[-1] in ("conv1", "conv2")
            nn.init.xavier_uniform_(m.weight, gain=math.sqrt(2) if branch else 1.0)
            if m.bias is not None:
                m.bias.zero_()


class ResNetGenerator(Generator):
    """z (N, z_dim) [, y] -> images (N, channels, resolution, resolution) in [-1, 1].

    `num_classes` > 0 makes it conditional (``forward(z, y)`` needs labels): "projection" and
    "ac" swap every batch norm for `ConditionalBatchNorm2d` (or pass any ``norm`` factory),
    "concat" joins the one-hot label to z.
    """

    def __init__(self, z_dim: int, resolution: int, channels: int, width: int = 64,
                 num_classes: int = 0, norm: Norm | None = None, conditional: str = "projection"):
        super().__init__(z_dim, (channels, resolution, resolution))
        s = BASE[resolution]
        self.num_classes = int(num_classes) if conditional != "none" else 0
        self.conditional = conditional if self.num_classes else "none"
        concat = self.conditional == "concat"
        if norm is None:
            norm = (lambda c: ConditionalBatchNorm2d(c, num_classes)) if self.num_classes and not concat \
                else nn.BatchNorm2d
        self.start = s
        # feeds a batch norm: no bias
        self.linear = nn.Linear(z_dim + (self.num_classes if concat else 0), width * s * s, bias=False)
        self.blocks = nn.ModuleList(UpBlock(width, width, norm)
                                    for _ in range(int(math.log2(resolution // s))))
        self.bn = norm(width)
        self.out = nn.Conv2d(width, channels, 3, 1, 1)
        _init(self)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if (y is None) != (self.num_classes == 0):
            raise ValueError("ResNetGenerator: labels y are needed exactly when built with num_classes > 0 "
                             f"(num_classes={self.num_classes}, y {'missing' if y is None else 'given'})")
        if self.conditional == "concat":  # the label is in h from here on; the norms are plain
            z, y = torch.cat([z, class_weights(y, self.num_classes, z.dtype)], dim=1), None
        h = self.linear(z).unflatten(1, (-1, self.start, self.start))
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.out(F.relu(_norm(self.bn, h, y))))


class ResNetDiscriminator(nn.Module):
    """Images (N, channels, resolution, resolution) [, labels (N,) int64] -> raw logits (N,);
    ac: ``return_classes=True`` adds (N, K) class logits.

    Every conv and linear (and the class embedding) is spectrally normalised at construction.
    """

    def __init__(self, resolution: int, channels: int, width: int = 64, num_classes: int = 0,
                 conditional: str = "projection"):
        super().__init__()
        self.in_shape = (channels, resolution, resolution)
        self.num_classes = int(num_classes) if conditional != "none" else 0
        self.conditional = conditional if self.num_classes else "none"
        extra = self.num_classes if self.conditional == "concat" else 0
        self.blocks = nn.Sequential(
            DownBlock(channels + extra, width, first=True),
            DownBlock(width, width),
            DownBlock(width, width, down=False),
            DownBlock(width, width, down=False),
        )
        self.linear = nn.Linear(width, 1)
        self.embed = nn.Embedding(num_classes, width) if self.conditional == "projection" else None
        self.head = ClassHead("ac", width, self.num_classes) if self.conditional == "ac" else None
        _init(self)
        if self.embed is not None:
            nn.init.xavier_uniform_(self.embed.weight)
            spectral_norm(self.embed)  # as in Miyato & Koyama's projection D
        apply_spectral_norm(self)

    def features(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> pooled features (N, width), >= 0 (ReLU, then a sum over pixels)."""
        # Sum, not mean, pooling (SNGAN): with spectral norm bounding every layer, a mean
        # would shrink the logit's scale by the number of pixels.
        return F.relu(self.blocks(x)).sum(dim=(2, 3))

    def forward(self, x: Tensor, y: Tensor | None = None, return_classes: bool = False):
        if (y is None) != (self.num_classes == 0) and not (self.conditional == "ac" and y is None):
            raise ValueError("ResNetDiscriminator: labels y are needed exactly when built with num_classes > 0 "
                             f"(num_classes={self.num_classes}, y {'missing' if y is None else 'given'})")
        if return_classes and self.head is None:
            raise ValueError(f"return_classes: a {self.conditional!r} discriminator has no class head (only 'ac')")
        if self.conditional == "concat":
            x = label_channels(x, y, self.num_classes)
        h = self.features(x)
        logit = self.linear(h).squeeze(1)
        if self.embed is not None:
            logit = logit + (self.embed(y) * h).sum(dim=1)  # the projection term
        if self.head is not None:
            return self.head(h, logit, y, return_classes)
        return logit


def check(cfg: ModelConfig, shape: tuple) -> str | None:
    if problem := square_image_problem("resnet", shape):
        return problem
    h = shape[1]
    if h not in BASE:
        return f"resnet builds 28x28 and 32x32 images only, got resolution {h} (dcgan builds 64, 128, ...)"
    if cfg.d_batchnorm:
        return "resnet's D is spectrally normalised and has no batch norm: set model.d_batchnorm=false"
    if cfg.d_dropout:
        return "resnet's D has no dropout: set model.d_dropout=0"
    return None


def generator(cfg: ModelConfig, shape: tuple, num_classes: int = 0) -> ResNetGenerator:
    return ResNetGenerator(cfg.z_dim, shape[1], shape[0], cfg.width, num_classes, conditional=cfg.conditional)


def discriminator(cfg: ModelConfig, shape: tuple, num_classes: int = 0) -> ResNetDiscriminator:
    return ResNetDiscriminator(shape[1], shape[0], cfg.width, num_classes, cfg.conditional)
