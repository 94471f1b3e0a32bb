"""DCGAN (Radford et al. 2015) for square images of resolution s * 2**k, s in {4, 7}, k >= 1.

That covers 8, 14, 16, 28, 32, 56, 64, 112, 128, ... Any channel count works
(1 and 3 in practice).

G: z (N, z_dim) -> linear to (C0, s, s) + BN + ReLU -> k transposed 4x4 stride-2
   convs, each doubling the size and halving the channels (BN + ReLU between),
   the last one to `channels` with tanh: (N, C, H, W) in [-1, 1].
   The last hidden layer has `width` channels, so C0 = width * 2**(k-1).
D: the mirror: k strided 4x4 convs (C -> width -> ... -> C0) with LeakyReLU(0.2),
   optional BN (model.d_batchnorm, never on the first layer, as in the paper),
   optional dropout (model.d_dropout), optionally a minibatch-std channel
   (model.minibatch_std, ProGAN), then a linear to one raw logit: (N,).

Class conditioning (``num_classes=K`` with ``conditional``; K = 0 builds the modules above):
- concat: the one-hot label joins z at G's input, and enters D as K constant input planes
  (Mirza & Osindero 2014);
- projection: every batch norm of G becomes `ConditionalBatchNorm2d`; D adds ``<embed(y), h>``
  to its logit, h the flattened last feature map its linear reads (Miyato & Koyama 2018);
- ac: G as for projection; D gets an auxiliary class head on h (``D(x, return_classes=True)``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.config import ModelConfig
from gankit.models.base import Generator, init_weights, square_image_problem
from gankit.models.layers import (ClassHead, ConditionalBatchNorm2d, MinibatchStd, class_weights, label_channels,
                                  reset_conditional)


def split_resolution(resolution: int) -> tuple[int, int] | None:
    """(s, k) with resolution == s * 2**k, s in {4, 7}, k >= 1; None if there is none."""
    for s in (4, 7):
        q, r = divmod(resolution, s)
        if r == 0 and q >= 2 and q & (q - 1) == 0:
            return s, q.bit_length() - 1
    return None


class DCGANGenerator(Generator):
    """z (N, z_dim) -> images (N, channels, resolution, resolution) in [-1, 1]."""

    def __init__(self, z_dim: int, resolution: int, channels: int, width: int = 64, num_classes: int = 0,
                 conditional: str = "none"):
        super().__init__(z_dim, (channels, resolution, resolution))
        self.num_classes = int(num_classes) if conditional != "none" else 0
        self.conditional = conditional if self.num_classes else "none"
        extra = self.num_classes if self.conditional == "concat" else 0
        if self.conditional in ("projection", "ac"):
            def norm(c): return ConditionalBatchNorm2d(c, self.num_classes)
        else:
            norm = nn.BatchNorm2d
        s, k = split_resolution(resolution)
        c = width * 2 ** (k - 1)
        # No biases before batch norm: BN's shift makes them redundant work.
        layers: list[nn.Module] = [
            nn.Linear(z_dim + extra, c * s * s, bias=False),
            nn.Unflatten(1, (c, s, s)),
            norm(c),
            nn.ReLU(inplace=True),  # BN's backward needs its input, not its output
        ]
        for _ in range(k - 1):
            layers += [
                nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False),
                norm(c // 2),
                nn.ReLU(inplace=True),
            ]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights(self)
        reset_conditional(self)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        self._check_labels(y)
        if self.conditional == "concat":
            z = torch.cat([z, class_weights(y, self.num_classes, z.dtype)], dim=1)
        if self.conditional in ("none", "concat"):
            return self.net(z)
        h = z
        for layer in self.net:
            h = layer(h, y) if isinstance(layer, ConditionalBatchNorm2d) else layer(h)
        return h


class DCGANDiscriminator(nn.Module):
    """Images (N, channels, resolution, resolution) [, labels (N,)] -> raw logits (N,); ac:
    ``return_classes=True`` adds (N, K) class logits."""

    def __init__(self, resolution: int, channels: int, width: int = 64,
                 batchnorm: bool = False, dropout: float = 0.0, minibatch_std: bool = False,
                 num_classes: int = 0, conditional: str = "none"):
        super().__init__()
        self.in_shape = (channels, resolution, resolution)
        self.num_classes = int(num_classes) if conditional != "none" else 0
        self.conditional = conditional if self.num_classes else "none"
        s, k = split_resolution(resolution)
        layers: list[nn.Module] = []
        c_in, c_out = channels + (self.num_classes if self.conditional == "concat" else 0), width
        for i in range(k):
            bn = batchnorm and i > 0
            layers.append(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not bn))
            if bn:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            if dropout > 0:
                # not inplace: LeakyReLU's backward reads its own (inplace) output
                layers.append(nn.Dropout(dropout))
            c_in, c_out = c_out, c_out * 2
        if minibatch_std:
            # Right before the final linear, where features are most abstract (ProGAN puts
            # it before the last conv block; here the final linear plays that role).
            layers.append(MinibatchStd())
            c_in += 1
        layers += [nn.Flatten(), nn.Linear(c_in * s * s, 1)]
        self.net = nn.Sequential(*layers)
        if self.num_classes:
            self.head = ClassHead(self.conditional, c_in * s * s, self.num_classes)
        init_weights(self)

    def forward(self, x: Tensor, y: Tensor | None = None, return_classes: bool = False):
        if not self.num_classes:
            if y is not None or return_classes:
                raise ValueError("DCGANDiscriminator: built unconditional (num_classes=0): no labels, no class head")
            return self.net(x).squeeze(1)
        if self.conditional == "concat":
            if y is None:
                raise ValueError("DCGANDiscriminator: a concat discriminator needs labels: D(x, y)")
            x = label_channels(x, y, self.num_classes)
        h = self.net[:-1](x)
        return self.head(h, self.net[-1](h).squeeze(1), y, return_classes)


def check(cfg: ModelConfig, shape: tuple) -> str | None:
    if problem := square_image_problem("dcgan", shape):
        return problem
    h = shape[1]
    if split_resolution(h) is None:
        return (f"dcgan builds resolutions 4*2^k or 7*2^k with k >= 1 "
                f"(8, 14, 16, 28, 32, 56, 64, 112, 128, ...), got resolution {h}")
    return None


def generator(cfg: ModelConfig, shape: tuple, num_classes: int = 0) -> DCGANGenerator:
    return DCGANGenerator(cfg.z_dim, shape[1], shape[0], cfg.width, num_classes, cfg.conditional)


def discriminator(cfg: ModelConfig, shape: tuple, num_classes: int = 0) -> DCGANDiscriminator:
    return DCGANDiscriminator(shape[1], shape[0], cfg.width, cfg.d_batchnorm, cfg.d_dropout, cfg.minibatch_std,
                              num_classes, cfg.conditional)
