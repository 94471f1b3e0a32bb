"""Everything the next training step depends on, and how it is saved and restored.

Exact resume rests on three rules:
- the data order of epoch e is a permutation drawn from (seed, e) alone, so the
  position inside the epoch is all that must be stored about the data stream;
- noise for training comes from one dedicated torch.Generator whose state is
  stored; other randomness (dropout) uses torch's global RNG, stored too;
- counters (generator steps, images, epoch, position, training seconds) are stored
  with the optimizers, so every schedule keyed on them continues seamlessly.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

import torch
from torch import nn

from gankit.config import Config
from gankit.data import Dataset, to_float


def select_device(name: str) -> torch.device:
    """`auto` picks CUDA when available; anything else is passed to torch.device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device: {name} was asked for but CUDA is not available here")
    return device


@dataclass
class Counters:
    step: int = 0          # generator steps taken
    images: int = 0        # real images shown to the discriminator
    epoch: int = 0         # completed passes over the data
    epoch_pos: int = 0     # index of the next example within the current epoch's order
    seconds: float = 0.0   # training wall-clock time, summed over resumes


class Batches:
    """Batches drawn without replacement from an in-memory dataset held on the device.

    The whole dataset is one tensor; a batch is one index operation plus a
    uint8 -> [-1, 1] conversion, with no DataLoader workers or per-sample Python.
    A tail shorter than a batch is skipped (a fresh permutation starts instead),
    so every batch has the configured size.
    """

    def __init__(self, data: Dataset, batch_size: int, seed: int, device: torch.device, counters: Counters,
                 memory_format: torch.memory_format = torch.contiguous_format):
        if len(data) < batch_size:
            raise ValueError(f"train.batch_size: {batch_size} is larger than the dataset ({len(data)} examples)")
        self.x = data.x.to(device)
        if self.x.ndim == 4:
            self.x = self.x.contiguous(memory_format=memory_format)
        self.is_image = data.is_image
        self.batch_size, self.seed, self.counters = batch_size, seed, counters
        self._order = self._permutation(counters.epoch)

    def _permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.x), generator=g).to(self.x.device)

    def next(self) -> tuple[torch.Tensor, bool]:
        """The next batch (B, *shape) float in [-1, 1] (or raw floats for toy data), and
        whether this batch finished an epoch."""
        c, b = self.counters, self.batch_size
        idx = self._order[c.epoch_pos:c.epoch_pos + b]
        c.epoch_pos += b
        c.images += b
        ended = c.epoch_pos + b > len(self.x)
        if ended:
            c.epoch += 1
            c.epoch_pos = 0
            self._order = self._permutation(c.epoch)
        batch = self.x[idx]
        return (to_float(batch) if self.is_image else batch), ended


def make_optimizers(cfg: Config, G: nn.Module, D: nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    o = cfg.optim
    # foreach keeps Adam's per-parameter Python loop out of the hot path on CPU.
    opt_g = torch.optim.Adam(G.parameters(), lr=o.lr_g, betas=(o.beta1, o.beta2), foreach=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=o.lr_d, betas=(o.beta1, o.beta2), foreach=True)
    return opt_g, opt_d


def capture(counters: Counters, opt_g, opt_d, noise: torch.Generator) -> dict:
    """Plain-data training state for `state.pt` (loadable with weights_only=True)."""
    rng = {"torch": torch.get_rng_state(), "noise": noise.get_state(), "python": list(random.getstate()[1])}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {"counters": dataclasses.asdict(counters), "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(), "rng": rng}


def restore(state: dict, counters: Counters, opt_g, opt_d, noise: torch.Generator) -> None:
    """Inverse of `capture`. Raises KeyError/ValueError on a state that lacks a part."""
    for key, value in state["counters"].items():
        setattr(counters, key, type(getattr(counters, key))(value))
    opt_g.load_state_dict(state["opt_g"])
    opt_d.load_state_dict(state["opt_d"])
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    noise.set_state(rng["noise"])
    py = random.getstate()
    random.setstate((py[0], tuple(rng["python"]), None))
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
