"""The original GAN MLPs (Goodfellow et al. 2014), for toy data and small images.

G: z (N, z_dim) -> `depth` hidden layers of `width` units with ReLU -> prod(shape),
   reshaped to (N, *shape); tanh for images (values in [-1, 1]), a linear output
   for toy data of shape (D,) (unbounded).
D: flatten -> `depth` hidden layers of `width` units with LeakyReLU(0.2) and
   optional dropout (model.d_dropout) -> optionally a minibatch-std feature
   (model.minibatch_std, ProGAN) -> one raw logit per sample, (N,).
Works for any sample shape. Weights keep PyTorch's default fan-in init (see below).

Class conditioning (``num_classes=K`` with ``conditional``; K = 0 builds the modules above):
- concat: the one-hot label joins z at G's input and the flattened image at D's input (Mirza &
  Osindero 2014; the first linear's columns over the one-hot are the learned label embedding);
- projection: D adds ``<embed(y), h>`` to its logit, h its last hidden features; G has no batch
  norm to make conditional, so every hidden layer gets a per-class scale and shift
  (`ConditionalAffine`: conditional batch norm's affine without the batch statistics, zero-initialised);
- ac: G as for projection; D gets an auxiliary class head on h (``D(x, return_classes=True)``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gankit.config import ModelConfig
from gankit.models.base import Generator
from gankit.models.layers import ClassHead, ConditionalAffine, MinibatchStd, class_weights, label_channels


def _hidden(n_in: int, width: int, depth: int, act, dropout: float = 0.0) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(n_in if i == 0 else width, width), act()]
        if dropout > 0:
            # not inplace: LeakyReLU's backward reads its own (inplace) output
            layers.append(nn.Dropout(dropout))
    return layers


class MLPGenerator(Generator):
    """z (N, z_dim) -> (N, *shape); tanh for image shapes (len >= 2), linear for (D,)."""

    def __init__(self, z_dim: int, shape: tuple, width: int = 256, depth: int = 3, num_classes: int = 0,
                 conditional: str = "none"):
        super().__init__(z_dim, shape)
        self.num_classes = int(num_classes) if conditional != "none" else 0
        self.conditional = conditional if self.num_classes else "none"
        extra = self.num_classes if self.conditional == "concat" else 0
        layers = _hidden(z_dim + extra, width, depth, lambda: nn.ReLU(inplace=True))
        layers += [nn.Linear(width, math.prod(self.out_shape)), nn.Unflatten(1, self.out_shape)]
        if len(self.out_shape) > 1:
            layers.append(nn.Tanh())
        # PyTorch's default (fan-in scaled) init, not DCGAN's N(0, 0.02): with fully
        # connected layers of a few hundred units the latter shrinks the signal ~4x
        # per layer, leaving G's first outputs and D's first logits near zero.
        self.net = nn.Sequential(*layers)
        if self.conditional in ("projection", "ac"):
            self.affine = nn.ModuleList(ConditionalAffine(width, self.num_classes) for _ in range(depth))

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        self._check_labels(y)
        if not self.num_classes:
            return self.net(z)
        if self.conditional == "concat":
            return self.net(torch.cat([z, class_weights(y, self.num_classes, z.dtype)], dim=1))
        h, j = z, 0
        for layer in self.net:
            h = layer(h)
            if isinstance(layer, nn.Linear) and j < len(self.affine):  # every hidden linear, not the output
                h = self.affine[j](h, y)
                j += 1
        return h


class MLPDiscriminator(nn.Module):
    """(N, *shape) [, labels (N,)] -> raw logits (N,); ac: ``return_classes=True`` adds (N, K) class logits."""

    def __init__(self, shape: tuple, width: int = 256, depth: int = 3, dropout: float = 0.0,
                 minibatch_std: bool = False, num_classes: int = 0, conditional: str = "none"):
        super().__init__()
        self.in_shape = tuple(shape)
        self.num_classes = int(num_classes) if conditional != "none" else 0
        self.conditional = conditional if self.num_classes else "none"
        extra = self.num_classes if self.conditional == "concat" else 0
        # The minibatch-std feature goes before the output layer, which then sees width + 1 inputs.
        mbstd = [MinibatchStd()] if minibatch_std else []
        self.net = nn.Sequential(
            nn.Flatten(),
            *_hidden(math.prod(self.in_shape) + extra, width, depth, lambda: nn.LeakyReLU(0.2, inplace=True), dropout),
            *mbstd,
            nn.Linear(width + len(mbstd), 1),
        )

        if self.num_classes:
            self.head = ClassHead(self.conditional, width + len(mbstd), self.num_classes)

    def forward(self, x: Tensor, y: Tensor | None = None, return_classes: bool = False):
        if not self.num_classes:
            if y is not None or return_classes:
                raise ValueError("MLPDiscriminator: built unconditional (num_classes=0): no labels, no class head")
            return self.net(x).squeeze(1)
        h = self.net[0](x)
        if self.conditional == "concat":
            if y is None:
                raise ValueError("MLPDiscriminator: a concat discriminator needs labels: D(x, y)")
            h = label_channels(h, y, self.num_classes)
        h = self.net[1:-1](h)
        return self.head(h, self.net[-1](h).squeeze(1), y, return_classes)


def check(cfg: ModelConfig, shape: tuple) -> str | None:
    if len(shape) == 0 or any(s < 1 for s in shape):
        return f"mlp needs a non-empty sample shape of positive sizes, got {tuple(shape)}"
    return None


def generator(cfg: ModelConfig, shape: tuple, num_classes: int = 0) -> MLPGenerator:
    return MLPGenerator(cfg.z_dim, shape, cfg.width, cfg.depth, num_classes, cfg.conditional)


def discriminator(cfg: ModelConfig, shape: tuple, num_classes: int = 0) -> MLPDiscriminator:
    return MLPDiscriminator(shape, cfg.width, cfg.depth, cfg.d_dropout, cfg.minibatch_std, num_classes,
                            cfg.conditional)
