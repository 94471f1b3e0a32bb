"""The contract every game keeps with the training loop (see the package docstring)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.config import Config
from gankit.losses import LossPair
from gankit.training import distributed
from gankit.training.regularize import Regularizers
from gankit.training.state import Batches, Counters


class Game:
    """One kind of GAN training: what a D step and a G step compute.

    Built once per run by the loop with the run's networks and helpers; `batches`
    is set by the loop before the first step (it depends on the restored counters).
    Subclasses implement `d_step` and `g_step`, and `state_dict`/`load_state_dict`
    when they keep state of their own.
    """

    batches: Batches

    def __init__(self, cfg: Config, G: nn.Module, D: nn.Module, losses: LossPair, reg: Regularizers,
                 noise: torch.Generator, counters: Counters, device: torch.device):
        self.cfg, self.G, self.D, self.losses, self.reg = cfg, G, D, losses, reg
        self.noise, self.counters, self.device = noise, counters, device

    def latents(self) -> Tensor:
        """This process's z for one step: (B / N, z_dim) rows of a global (B, z_dim) N(0, I) draw
        from the loop's noise generator (B = train.batch_size; all of it in a single process)."""
        t = self.cfg
        return self.shard(torch.randn(t.train.batch_size, t.model.z_dim, generator=self.noise, device=self.device))

    @staticmethod
    def shard(x: Tensor) -> Tensor:
        """This process's rows of a tensor drawn for the global batch (x itself in a single process)."""
        return distributed.shard(x)

    def d_step(self, i: int, last: bool) -> tuple[Tensor, Tensor, Tensor]:
        """D step i of k (`last`: i == k - 1): (scalar D loss, D's real logits, D's fake logits)."""
        raise NotImplementedError

    def g_step(self) -> Tensor:
        """The G step after the k D steps: the scalar G loss (penalties included)."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Plain-data state beyond the networks, optimizers and RNGs; {} when none (not saved then)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        if state:
            raise ValueError(f"the {type(self).__name__} keeps no state, the checkpoint has {sorted(state)}")
