"""The class-conditional game (model.conditional = concat, projection or ac).

The real batch comes with its labels (`Batches.next_labelled`: the same shuffled order as an
unconditional run's); fake labels are drawn from the loop's noise generator, after z, uniform
over the K classes or at the data's class frequencies (train.fake_labels), so a resume that
restores that generator draws the same labels. G makes G(z, y_fake); D judges D(real, y_real)
and D(fake, y_fake).

ac (AC-GAN, Odena et al. 2017): D's adversarial logit is label-blind and its class head adds
loss.ac_weight * cross-entropy — on real images w.r.t. their labels only in the D step (a
class head also trained on fakes rewards G for easy-to-classify, less diverse samples), and on
fake images w.r.t. the labels they were drawn for in the G step.

Regularizers that call D or G themselves (R1, WGAN-GP, path length) see the networks with the
batch's labels bound (R1 and GP: the real labels; path length: the fake labels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.training.games.base import Game


class _WithLabels(nn.Module):
    """`net` with labels bound: forward(x) = net(x, y). Holds no parameters of its own."""

    def __init__(self, net: nn.Module, y: Tensor):
        super().__init__()
        self.net, self.y = net, y

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x, self.y)


class ConditionalGame(Game):
    _last: tuple | None = None  # (real, y_real, z, y_fake, fake) of the latest D step
    _freq: Tensor | None = None

    def fake_labels(self, n: int) -> Tensor:
        """n labels for a fake batch, int64 on the device, drawn from the noise generator."""
        k = self.G.num_classes
        if self.cfg.train.fake_labels == "data":
            if self._freq is None:
                self._freq = torch.bincount(self.batches.y, minlength=k).to(torch.float32)
            return torch.multinomial(self._freq, n, replacement=True, generator=self.noise)
        return torch.randint(k, (n,), generator=self.noise, device=self.device)

    def _ac(self) -> bool:
        return self.cfg.model.conditional == "ac"

    def d_step(self, i: int, last: bool) -> tuple[Tensor, Tensor, Tensor]:
        G, D, reg, t = self.G, self.D, self.reg, self.cfg.train
        D.requires_grad_(True)
        real, y_real, _ = self.batches.next_labelled()
        real = reg.real_batch(real)
        z = self.latents()  # this process's rows of the global batch's latents, then of its labels
        y_fake = self.shard(self.fake_labels(t.batch_size))
        with torch.set_grad_enabled(last):
            fake = G(z, y_fake)
        images = self.counters.images
        real_view, fake_view = reg.view(real, images), reg.view(fake.detach(), images)
        if self._ac():
            real_logits, classes = D(real_view, y_real, return_classes=True)
        else:
            real_logits, classes = D(real_view, y_real), None
        fake_logits = D(fake_view, y_fake)
        loss = self.losses.d_loss(real_logits, fake_logits)
        if classes is not None:
            loss = loss + self.cfg.loss.ac_weight * F.cross_entropy(classes, y_real)
        loss = loss + reg.d_penalty(_WithLabels(D, y_real), real_view, fake_view, self.counters.step * t.d_steps + i)
        self._last = (real, y_real, z, y_fake, fake)
        return loss, real_logits, fake_logits

    def g_step(self) -> Tensor:
        if self._last is None or not self._last[4].requires_grad:
            raise RuntimeError("g_step needs a d_step(i, last=True) before it (it reuses that fake batch)")
        (real, y_real, z, y_fake, fake), self._last = self._last, None
        D, reg, images = self.D, self.reg, self.counters.images
        D.requires_grad_(False)
        real_logits = D(reg.view(real, images), y_real).detach() if self.losses.g_needs_real else None
        fake_view = reg.view(fake, images)
        if self._ac():
            fake_logits, classes = D(fake_view, y_fake, return_classes=True)
        else:
            fake_logits, classes = D(fake_view, y_fake), None
        loss = self.losses.g_loss(real_logits, fake_logits)
        if classes is not None:
            loss = loss + self.cfg.loss.ac_weight * F.cross_entropy(classes, y_fake)
        return loss + reg.g_penalty(_WithLabels(self.G, y_fake), z, self.counters.step)
