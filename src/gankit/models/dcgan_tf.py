""""dcgan-tf": the DCGAN of the TensorFlow tutorial (tensorflow.org/tutorials/generative/dcgan).

Fixed at 28x28 images with any channel count (1 or 3 in practice); `model.width`,
`model.d_dropout` and `model.d_batchnorm` are ignored so that it stays exactly
the tutorial's model. Keras defaults are kept where the tutorial relies on
them: LeakyReLU slope 0.3, no biases in G, 'same' padding. Weights use the
library's DCGAN init (N(0, 0.02)) rather than Keras' Glorot-uniform.

G: z (N, z_dim) -> Linear(7*7*256, no bias) + BN + LeakyReLU -> (256, 7, 7)
   -> ConvT 5x5 stride 1 -> 128 + BN + LeakyReLU           (128, 7, 7)
   -> ConvT 5x5 stride 2 -> 64 + BN + LeakyReLU            (64, 14, 14)
   -> ConvT 5x5 stride 2 -> channels, tanh                 (C, 28, 28) in [-1, 1]
D: (N, C, 28, 28) -> Conv 5x5 stride 2 -> 64, LeakyReLU, Dropout(0.3)
   -> Conv 5x5 stride 2 -> 128, LeakyReLU, Dropout(0.3) -> flatten -> Linear -> logits (N,)
"""

from __future__ import annotations

from torch import Tensor, nn

from gankit.config import ModelConfig
from gankit.models.base import Generator, init_weights

SLOPE = 0.3      # keras.layers.LeakyReLU's default, which the tutorial uses
DROPOUT = 0.3    # the tutorial's fixed discriminator dropout


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(SLOPE, inplace=True)


class TFDCGANGenerator(Generator):
    """z (N, z_dim) -> images (N, channels, 28, 28) in [-1, 1]."""

    def __init__(self, z_dim: int, channels: int = 1):
        super().__init__(z_dim, (channels, 28, 28))
        # padding=2 is Keras 'same' for 5x5; output_padding=1 makes stride 2 exactly double (7->14->28).
        self.net = nn.Sequential(
            nn.Linear(z_dim, 7 * 7 * 256, bias=False),
            nn.BatchNorm1d(7 * 7 * 256),  # Keras normalises the dense output per unit, before the reshape
            _lrelu(),
            nn.Unflatten(1, (256, 7, 7)),
            nn.ConvTranspose2d(256, 128, 5, 1, 2, bias=False),
            nn.BatchNorm2d(128),
            _lrelu(),
            nn.ConvTranspose2d(128, 64, 5, 2, 2, output_padding=1, bias=False),
            nn.BatchNorm2d(64),
            _lrelu(),
            nn.ConvTranspose2d(64, channels, 5, 2, 2, output_padding=1, bias=False),
            nn.Tanh(),
        )
        init_weights(self)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class TFDCGANDiscriminator(nn.Module):
    """Images (N, channels, 28, 28) -> raw logits (N,)."""

    def __init__(self, channels: int = 1):
        super().__init__()
        self.in_shape = (channels, 28, 28)
        self.net = nn.Sequential(
            nn.Conv2d(channels, 64, 5, 2, 2),   # -> (64, 14, 14)
            _lrelu(),
            nn.Dropout(DROPOUT),
            nn.Conv2d(64, 128, 5, 2, 2),        # -> (128, 7, 7)
            _lrelu(),
            nn.Dropout(DROPOUT),
            nn.Flatten(),
            nn.Linear(128 * 7 * 7, 1),
        )
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)


def check(cfg: ModelConfig, shape: tuple) -> str | None:
    if len(shape) != 3:
        return f"dcgan-tf builds 28x28 images, got sample shape {tuple(shape)}; use arch 'mlp' for toy data"
    c, h, w = shape
    if (h, w) != (28, 28):
        return f"dcgan-tf builds only 28x28 images, got resolution {h if h == w else f'{h}x{w}'}"
    if c < 1:
        return f"dcgan-tf needs at least one channel, got {c}"
    return None


def generator(cfg: ModelConfig, shape: tuple) -> TFDCGANGenerator:
    return TFDCGANGenerator(cfg.z_dim, shape[0])


def discriminator(cfg: ModelConfig, shape: tuple) -> TFDCGANDiscriminator:
    return TFDCGANDiscriminator(shape[0])
