"""The original GAN MLPs (Goodfellow et al. 2014), for toy data and small images.

G: z (N, z_dim) -> `depth` hidden layers of `width` units with ReLU -> prod(shape),
   reshaped to (N, *shape); tanh for images (values in [-1, 1]), a linear output
   for toy data of shape (D,) (unbounded).
D: flatten -> `depth` hidden layers of `width` units with LeakyReLU(0.2) and
   optional dropout (model.d_dropout) -> optionally a minibatch-std feature
   (model.minibatch_std, ProGAN) -> one raw logit per sample, (N,).
Works for any sample shape. Weights keep PyTorch's default fan-in init (see below).
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from gankit.config import ModelConfig
from gankit.models.base import Generator
from gankit.models.layers import MinibatchStd


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

    def __init__(self, z_dim: int, shape: tuple, width: int = 256, depth: int = 3):
        super().__init__(z_dim, shape)
        layers = _hidden(z_dim, width, depth, lambda: nn.ReLU(inplace=True))
        layers += [nn.Linear(width, math.prod(self.out_shape)), nn.Unflatten(1, self.out_shape)]
        if len(self.out_shape) > 1:
            layers.append(nn.Tanh())
        # PyTorch's default (fan-in scaled) init, not DCGAN's N(0, 0.02): with fully
        # connected layers of a few hundred units the latter shrinks the signal ~4x
        # per layer, leaving G's first outputs and D's first logits near zero.
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """(N, *shape) -> raw logits (N,)."""

    def __init__(self, shape: tuple, width: int = 256, depth: int = 3, dropout: float = 0.0,
                 minibatch_std: bool = False):
        super().__init__()
        self.in_shape = tuple(shape)
        # The minibatch-std feature goes before the output layer, which then sees width + 1 inputs.
        mbstd = [MinibatchStd()] if minibatch_std else []
        self.net = nn.Sequential(
            nn.Flatten(),
            *_hidden(math.prod(self.in_shape), width, depth, lambda: nn.LeakyReLU(0.2, inplace=True), dropout),
            *mbstd,
            nn.Linear(width + len(mbstd), 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)


def check(cfg: ModelConfig, shape: tuple) -> str | None:
    if len(shape) == 0 or any(s < 1 for s in shape):
        return f"mlp needs a non-empty sample shape of positive sizes, got {tuple(shape)}"
    return None


def generator(cfg: ModelConfig, shape: tuple) -> MLPGenerator:
    return MLPGenerator(cfg.z_dim, shape, cfg.width, cfg.depth)


def discriminator(cfg: ModelConfig, shape: tuple) -> MLPDiscriminator:
    return MLPDiscriminator(shape, cfg.width, cfg.depth, cfg.d_dropout, cfg.minibatch_std)
