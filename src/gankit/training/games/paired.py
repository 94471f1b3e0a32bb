"""The paired image-to-image game (pix2pix, Isola et al. 2017): data.task != "none".

Each real batch is a batch of clean images (or, for data.task = "paired", of (A, B) pairs held as
one 2C-channel tensor); the input x is made from it on the fly (`gankit.data.degrade.degrade`,
drawing from the loop's noise generator, so resumes redraw the same degradations) and the clean
image is the target y. G maps x to G(x); D judges pairs, cat(c, image) with c the condition (x,
brought to y's size by bicubic upsampling for superres):

    L_D = adversarial D loss of D(c, y) (real) vs D(c, G(x)) (fake)  + the regularizers' penalties
    L_G = loss.adversarial_weight * adversarial G loss of D(c, G(x))  +  loss.l1_weight * |G(x) - y|_1

so every adversarial loss and D regularizer of gankit applies (R1 and the gradient penalty on the
pair, of D's mean patch logit; augmentation of the pair alike; packing of pairs; weight clipping;
ADA). Path-length regularization is defined on a latent z, which a U-Net has none of (refused). loss.adversarial_weight = 0 is the L1
regression baseline: G never looks at D, so D is not trained either (its loss is a constant zero
tied to its weights, and d_real/d_fake read 0.5), which keeps the baseline's training time its own.
metrics.jsonl gets the two parts of L_G as "l1" and "adversarial" (unweighted means over the
logged window).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.config import Config
from gankit.data import Dataset, to_uint8
from gankit.data.degrade import degrade, degrade_fixed, split_pair, task_shape
from gankit.io.images import make_grid
from gankit.models import build_translator, check as check_model
from gankit.training.games.base import Game

GRID_PAIRS = 24
"""Triplets (input | output | target) in a training grid at most."""


def condition(x: Tensor, scale: int) -> Tensor:
    """What D sees of the input beside the image: x, upsampled (bicubic) to the image's size for superres."""
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False) if scale > 1 else x


class _PatchMean(nn.Module):
    """D's patch logits averaged per input, (N, P) -> (N,): what the per-sample penalties (R1,
    WGAN-GP) differentiate, as they expect one logit per input. Holds no parameters of its own."""

    def __init__(self, D: nn.Module):
        super().__init__()
        self.D = D

    def forward(self, x: Tensor) -> Tensor:
        return self.D(x).mean(1)


class PairedGame(Game):
    checks_collapse = False  # G's output is tied to its input: there is no z for it to collapse over
    _last: tuple | None = None  # (cond, target, fake) of the latest D step

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.task = task_shape(self.cfg.data)
        self._window = torch.zeros(3, device=self.device)  # sums of l1, adversarial, G steps
        self._fixed: tuple[Tensor, Tensor] | None = None

    @classmethod
    def check(cls, cfg: Config, shape: tuple) -> None:
        check_model(cfg.model, shape)  # the family's own checks on the target shape

    @classmethod
    def build(cls, cfg: Config, data: Dataset) -> tuple[nn.Module, nn.Module]:
        t = task_shape(cfg.data)
        shape = (cfg.data.channels, cfg.data.resolution, cfg.data.resolution)
        return build_translator(cfg.model, shape, t.in_channels, t.scale, t.mask_input)

    def make_input(self, batch: Tensor, fixed: bool = False) -> tuple[Tensor, Tensor]:
        """(input, target) from a real batch: the task's degradation of the clean images, drawn from
        the noise generator (fixed: from data.degrade_seed, image i always alike), or a pair's halves."""
        if self.cfg.data.task == "paired":
            return split_pair(batch, self.cfg.data.direction)
        if fixed:
            return degrade_fixed(batch, self.cfg.data), batch
        return degrade(batch, self.cfg.data, self.noise), batch

    def d_step(self, i: int, last: bool) -> tuple[Tensor, Tensor, Tensor]:
        G, D, reg, t = self.G, self.D, self.reg, self.cfg.train
        batch, _ = self.batches.next()
        x, target = self.make_input(reg.real_batch(batch))
        with torch.set_grad_enabled(last):
            fake = G(x)
        cond = condition(x, self.task.scale)
        self._last = (cond, target, fake)
        if self.cfg.loss.adversarial_weight == 0:  # the L1 baseline: D sits out (see the module docstring)
            zero = sum(p.sum() for p in D.parameters()) * 0.0
            logits = torch.zeros(len(batch) // self.cfg.model.pack, 1, device=self.device)
            return zero, logits, logits
        D.requires_grad_(True)
        images = self.counters.images
        real_view = reg.view(torch.cat([cond, target], 1), images)
        fake_view = reg.view(torch.cat([cond, fake.detach()], 1), images)
        real_logits, fake_logits = D(real_view), D(fake_view)
        loss = self.losses.d_loss(real_logits, fake_logits)
        loss = loss + reg.d_penalty(_PatchMean(D), real_view, fake_view, self.counters.step * t.d_steps + i)
        return loss, real_logits, fake_logits

    def g_step(self) -> Tensor:
        if self._last is None or not self._last[2].requires_grad:
            raise RuntimeError("g_step needs a d_step(i, last=True) before it (it reuses that fake batch)")
        (cond, target, fake), self._last = self._last, None
        lo = self.cfg.loss
        l1 = (fake - target).abs().mean()
        loss = lo.l1_weight * l1
        if lo.adversarial_weight > 0:
            D, reg, images = self.D, self.reg, self.counters.images
            D.requires_grad_(False)
            real_logits = D(reg.view(torch.cat([cond, target], 1), images)).detach() \
                if self.losses.g_needs_real else None
            adversarial = self.losses.g_loss(real_logits, D(reg.view(torch.cat([cond, fake], 1), images)))
            loss = loss + lo.adversarial_weight * adversarial
        else:
            adversarial = torch.zeros((), device=self.device)
        with torch.no_grad():
            self._window += torch.stack([l1.detach(), adversarial.detach(), torch.ones((), device=self.device)])
        return loss

    def log_fields(self) -> dict:
        """The window's mean L1 and adversarial parts of L_G (unweighted); resets the window."""
        l1, adv, n = self._window.tolist()
        self._window.zero_()
        return {"l1": l1 / n, "adversarial": adv / n} if n else {}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self._window.zero_()  # a rollback or resume starts a fresh logging window

    def fixed_batch(self) -> tuple[Tensor, Tensor]:
        """The grid's (inputs, targets): the first images of the data, degraded by data.degrade_seed."""
        if self._fixed is None:
            n = min(self.cfg.train.grid_size, GRID_PAIRS, len(self.batches.x))
            from gankit.data import to_float
            self._fixed = self.make_input(to_float(self.batches.x[:n]), fixed=True)
        return self._fixed

    @torch.no_grad()
    def picture(self, G: nn.Module):
        """input | output | target triplets, several to a row (superres inputs enlarged, nearest)."""
        x, target = self.fixed_batch()
        was_training = G.training
        G.eval()  # batch statistics and dropout off: the picture is what translation gives
        try:
            out = G(x).clamp(-1, 1)
        finally:
            G.train(was_training)
        shown = x[:, :self.task.out_channels]
        if self.task.scale > 1:
            shown = F.interpolate(shown, scale_factor=self.task.scale, mode="nearest")
        triplets = torch.stack([shown, out, target], 1).flatten(0, 1)
        per_row = max(1, int(math.sqrt(len(x) / 3) + 0.5))
        return make_grid(to_uint8(triplets), nrow=3 * per_row)
