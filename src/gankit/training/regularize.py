"""The optional parts of the game, configured by `loss.*`, `augment.*` and `model.pack`.

The training loop asks this object four questions — what does D see, what
penalty joins the D loss, what happens after a D step, what penalty joins the
G loss — so the loop reads the same whether none or all of the toolbox is on.
Every random draw here comes from one dedicated generator whose state is
checkpointed with the rest (`state_dict`), so resumes stay exact.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.config import Config
from gankit.losses.regularizers import (annealed_std, clip_weights_, gradient_penalty, instance_noise,
                                        path_length_penalty, r1_penalty)
from gankit.models import pack_samples
from gankit.training.augment import AdaptiveP, augment, dataset_augment


class Regularizers:
    def __init__(self, cfg: Config, device: torch.device):
        self.loss, self.aug, self.pack = cfg.loss, cfg.augment, cfg.model.pack
        # Separate from the latent-noise generator, so turning an option on
        # does not change the latents a run draws.
        self.rng = torch.Generator(device).manual_seed(cfg.train.seed + 7919)
        self.ada = AdaptiveP(self.aug.ada_target, self.aug.p, speed_kimg=self.aug.ada_kimg) \
            if self.aug.adaptive else None
        self.pl_mean = torch.zeros((), device=device)

    @property
    def p(self) -> float:
        """Current augmentation probability (adaptive or fixed)."""
        return self.ada.p if self.ada is not None else self.aug.p

    def real_batch(self, x: Tensor) -> Tensor:
        """Dataset-side augmentation of real images only (leaks into samples; see README)."""
        return dataset_augment(x, self.aug.dataset_policy, self.rng) if self.aug.dataset_policy else x

    def view(self, x: Tensor, images: int) -> Tensor:
        """What D sees of a batch (real or fake alike): augmented, noised, packed.

        x: (N, C, H, W) or (N, D) -> (N / pack, pack * C, H, W) or (N / pack, pack * D).
        """
        if self.aug.policy:
            x = augment(x, self.aug.policy, self.p, self.rng)
        if self.loss.instance_noise:
            std = annealed_std(self.loss.instance_noise, images, self.loss.instance_noise_kimg)
            x = instance_noise(x, std, self.rng)
        return pack_samples(x, self.pack) if self.pack > 1 else x

    def d_penalty(self, D: nn.Module, real_view: Tensor, fake_view: Tensor, d_step: int) -> Tensor | float:
        """Gradient penalty (WGAN-GP) and lazy R1, already weighted; 0.0 when off."""
        total: Tensor | float = 0.0
        if self.loss.gp_weight:
            total = total + self.loss.gp_weight * gradient_penalty(D, real_view, fake_view, self.rng)
        if self.loss.r1_gamma and d_step % self.loss.r1_every == 0:
            # Lazy regularization: every r1_every steps, scaled up to keep its average strength.
            total = total + self.loss.r1_gamma * self.loss.r1_every * r1_penalty(D, real_view)
        return total

    def after_d_step(self, D: nn.Module, real_logits: Tensor, batch: int) -> None:
        if self.loss.clip:
            clip_weights_(D, self.loss.clip)
        if self.ada is not None:
            self.ada.update(real_logits, batch)

    def g_penalty(self, G: nn.Module, z: Tensor, g_step: int) -> Tensor | float:
        """Path-length regularization every pl_every steps, already weighted; 0.0 when off."""
        if not self.loss.pl_weight or g_step % self.loss.pl_every:
            return 0.0
        penalty, self.pl_mean = path_length_penalty(G, z, self.pl_mean, generator=self.rng)
        return self.loss.pl_weight * self.loss.pl_every * penalty

    def log_fields(self) -> dict:
        if self.ada is None:
            return {}
        return {"augment_p": self.ada.p, "ada_rt": self.ada.rt}

    def state_dict(self) -> dict:
        return {"rng": self.rng.get_state(), "pl_mean": self.pl_mean.detach().cpu(),
                "ada": self.ada.state_dict() if self.ada is not None else None}

    def load_state_dict(self, state: dict) -> None:
        self.rng.set_state(state["rng"])
        self.pl_mean = state["pl_mean"].to(self.pl_mean.device)
        if self.ada is not None:
            if state.get("ada") is None:
                raise ValueError("the checkpoint has no adaptive-augmentation state")
            self.ada.load_state_dict(state["ada"])
