"""Exponential moving average of the generator's weights (Karras et al. 2018, ProGAN;
Yazıcı et al. 2019, "The unusual effectiveness of averaging in GAN training").

The average G smooths out the oscillation of the adversarial game and usually
gives better samples than the raw G, at no training cost. As in StyleGAN, the
decay is given as a half-life in images, so it means the same thing at any
batch size: after `half_life_kimg * 1000` images, an old value's weight in the
average has halved.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

__all__ = ["EMA", "ema_beta"]


def ema_beta(batch_images: int, half_life_kimg: float) -> float:
    """Decay per update of `batch_images` images: 0.5 ** (batch_images / (half_life_kimg * 1000)), in (0, 1)."""
    return 0.5 ** (batch_images / (half_life_kimg * 1000.0))


class EMA:
    """A copy of G whose floating-point parameters track G's by an exponential moving average.

    ``EMA(G, half_life_kimg)`` deep-copies G (so same class, shapes, device and
    parametrizations such as spectral norm) into `module`, in eval mode with no
    gradients. Each `update` moves every parameter p_ema <- beta * p_ema +
    (1 - beta) * p and copies every buffer (batch-norm running statistics,
    spectral-norm u/v) as is: buffers are statistics of G's current weights,
    so averaging them would describe no real network.
    """

    def __init__(self, G: nn.Module, half_life_kimg: float):
        if half_life_kimg <= 0:
            raise ValueError(f"EMA: half_life_kimg must be > 0, got {half_life_kimg}")
        self.half_life_kimg = float(half_life_kimg)
        self.module = copy.deepcopy(G).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, G: nn.Module, batch_images: int) -> float:
        """Fold G's current weights in after a G step that used `batch_images` images
        (the images counted towards the budget since the last update). Returns beta."""
        beta = ema_beta(batch_images, self.half_life_kimg)
        ema_params, params = _floats(self.module.parameters()), _floats(G.parameters())
        if len(ema_params) != len(params):
            raise ValueError("EMA.update: G has a different set of parameters than the averaged copy")
        # lerp(a, b, w) = a + w (b - a) = beta * a + (1 - beta) * b with w = 1 - beta.
        torch._foreach_lerp_(ema_params, params, 1.0 - beta)
        for b_ema, b in zip(self.module.buffers(), G.buffers()):
            b_ema.copy_(b)
        return beta

    def state_dict(self) -> dict[str, Tensor]:
        """The averaged generator's state_dict (tensors only: save it like G's, e.g. as G_ema)."""
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restore the average from `state_dict()` (strict: keys and shapes must match)."""
        self.module.load_state_dict(state, strict=True)


def _floats(tensors) -> list[Tensor]:
    return [t for t in tensors if t.is_floating_point()]
