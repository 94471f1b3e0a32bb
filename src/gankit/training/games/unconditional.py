"""The 2014 GAN game: D tells real images from G(z), z ~ N(0, I); G learns to fool D.

Images are (N, C, H, W) float in [-1, 1] (toy data: (N, dims) raw floats); what D
sees of either is `reg.view` of it (augmented, noised, packed alike).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gankit.training.games.base import Game


class UnconditionalGame(Game):
    _last: tuple[Tensor, Tensor, Tensor] | None = None  # (real, z, fake) of the latest D step

    def d_step(self, i: int, last: bool) -> tuple[Tensor, Tensor, Tensor]:
        """One D step on a fresh real batch and a fresh fake batch.

        Only the last D step before a G step builds G's graph: the G step reuses
        that fake batch, which saves one generator forward pass per step."""
        G, D, reg, t = self.G, self.D, self.reg, self.cfg.train
        D.requires_grad_(True)
        real, _ = self.batches.next()
        real = reg.real_batch(real)
        z = self.latents()  # this process's rows of the global batch's latents
        with torch.set_grad_enabled(last):
            fake = G(z)
        images = self.counters.images
        real_view, fake_view = reg.view(real, images), reg.view(fake.detach(), images)
        real_logits, fake_logits = D(real_view), D(fake_view)
        loss = self.losses.d_loss(real_logits, fake_logits)
        loss = loss + reg.d_penalty(D, real_view, fake_view, self.counters.step * t.d_steps + i)
        self._last = (real, z, fake)
        return loss, real_logits, fake_logits

    def g_step(self) -> Tensor:
        """One G step through the freshly updated D, on the last D step's fake batch (and real
        batch, for losses that compare the two)."""
        if self._last is None or not self._last[2].requires_grad:
            raise RuntimeError("g_step needs a d_step(i, last=True) before it (it reuses that fake batch)")
        (real, z, fake), self._last = self._last, None
        D, reg, images = self.D, self.reg, self.counters.images
        D.requires_grad_(False)
        real_logits = D(reg.view(real, images)).detach() if self.losses.g_needs_real else None
        loss = self.losses.g_loss(real_logits, D(reg.view(fake, images)))
        return loss + reg.g_penalty(self.G, z, self.counters.step)
