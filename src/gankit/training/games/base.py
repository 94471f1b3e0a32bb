"""The contract every game keeps with the training loop (see the package docstring)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.config import Config
from gankit.data import Dataset
from gankit.losses import LossPair
from gankit.models import build, check as check_model
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
    checks_collapse = True
    """Whether the loop's mode-collapse alarm applies (it compares `G.sample` batches with the data)."""

    @classmethod
    def check(cls, cfg: Config, shape: tuple) -> None:
        """Preflight: raise ModelError unless this game's networks can be built for data samples of
        `shape` (read from the config, no data read)."""
        check_model(cfg.model, shape)

    @classmethod
    def build(cls, cfg: Config, data: Dataset) -> tuple[nn.Module, nn.Module]:
        """The run's (G, D), initialised from torch's global RNG (the loop seeds it). A game with more
        networks returns composite modules (e.g. one nn.Module holding two generators): the loop keeps
        one G and one D, one optimizer each, and saves, averages (EMA) and restores them whole."""
        return build(cfg.model, data.sample_shape, num_classes=len(data.classes))  # K ignored unless conditional

    def picture(self, G: nn.Module):
        """The training grid of `G` (the shown generator: EMA when on) as a uint8 (H, W, C) array, or None
        for the loop's own fixed-seed sample grid of `G.sample`."""
        return None

    def __init__(self, cfg: Config, G: nn.Module, D: nn.Module, losses: LossPair, reg: Regularizers,
                 noise: torch.Generator, counters: Counters, device: torch.device):
        self.cfg, self.G, self.D, self.losses, self.reg = cfg, G, D, losses, reg
        self.noise, self.counters, self.device = noise, counters, device

    def d_step(self, i: int, last: bool) -> tuple[Tensor, Tensor, Tensor]:
        """D step i of k (`last`: i == k - 1): (scalar D loss, D's real logits, D's fake logits)."""
        raise NotImplementedError

    def g_step(self) -> Tensor:
        """The G step after the k D steps: the scalar G loss (penalties included)."""
        raise NotImplementedError

    def log_fields(self) -> dict:
        """Extra numbers for this logging window's metrics.jsonl record (e.g. the parts of a loss);
        called once per logged window, so a game sums on the device and syncs only here."""
        return {}

    def state_dict(self) -> dict:
        """Plain-data state beyond the networks, optimizers and RNGs; {} when none (not saved then)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        if state:
            raise ValueError(f"the {type(self).__name__} keeps no state, the checkpoint has {sorted(state)}")
