"""Everything the next training step depends on, and how it is saved and restored.

Exact resume rests on three rules:
- the data order of epoch e is a permutation drawn from (seed, e) alone, so the
  position inside the epoch is all that must be stored about the data stream;
- noise for training comes from one dedicated torch.Generator whose state is
  stored; other randomness (dropout) uses torch's global RNG, stored too, as are
  Python's and NumPy's global RNGs (and CUDA's when training on CUDA), so code
  added later that draws from them stays exact on resume;
- counters (generator steps, images, epoch, position, training seconds) are stored
  with the optimizers, so every schedule keyed on them continues seamlessly.

Under torchrun the data order and the counters are global (every rank walks the same
permutation and keeps its rows of each global batch), so a checkpoint means the same at any
number of processes (`gankit.training.distributed`).
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gankit.config import Config
from gankit.data import Dataset, to_float
from gankit.training import distributed


def select_device(name: str) -> torch.device:
    """`auto` picks CUDA when available; anything else is passed to torch.device. Under torchrun,
    a bare `cuda` (or `auto` on a GPU machine) is this process's GPU, cuda:LOCAL_RANK."""
    if name == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device: {name} was asked for but CUDA is not available here")
    if device.type == "cuda" and device.index is None and distributed.launched():
        device = torch.device("cuda", distributed.local_rank())
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

    `batch_size` is the global batch: under torchrun every rank walks the same permutation
    and returns its rows of each global batch (`distributed.shard`: B / N of them), while the
    counters advance by the global batch, as in a single process.
    """

    def __init__(self, data: Dataset, batch_size: int, seed: int, device: torch.device, counters: Counters,
                 memory_format: torch.memory_format = torch.contiguous_format):
        if len(data) < batch_size:
            raise ValueError(f"train.batch_size: {batch_size} is larger than the dataset ({len(data)} examples)")
        self.x = data.x.to(device)
        if self.x.ndim == 4:
            self.x = self.x.contiguous(memory_format=memory_format)
        self.is_image = data.is_image
        # Labels ride along only for the games that read them (next_labelled): the same indices,
        # so the same shuffled order and the same permutation stream as unconditional runs.
        self.y = data.y.to(device) if data.y is not None else None
        self.batch_size, self.seed, self.counters = batch_size, seed, counters
        self._order = self._permutation(counters.epoch)

    def _permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.x), generator=g).to(self.x.device)

    def next(self, shard: bool = True) -> tuple[torch.Tensor, bool]:
        """This process's rows of the next batch, (B / N, *shape) float in [-1, 1] (or raw floats
        for toy data), and whether this batch finished an epoch. shard=False: the whole global
        batch (B, *shape), for a game that draws randomness per image before it shards (paired)."""
        c, b = self.counters, self.batch_size
        idx = self._order[c.epoch_pos:c.epoch_pos + b]
        c.epoch_pos += b
        c.images += b
        ended = c.epoch_pos + b > len(self.x)
        if ended:
            c.epoch += 1
            c.epoch_pos = 0
            self._order = self._permutation(c.epoch)
        if shard:
            idx = distributed.shard(idx)  # this rank's rows (all of them in a single process)
        self._idx = idx
        batch = self.x[idx]
        return (to_float(batch) if self.is_image else batch), ended

    def next_labelled(self) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """`next()` plus the batch's labels, int64 (B,), in the same order (labelled data only)."""
        if self.y is None:
            raise ValueError("the dataset has no labels")
        batch, ended = self.next()
        return batch, self.y[self._idx], ended


def make_optimizers(cfg: Config, G: nn.Module, D: nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    o = cfg.optim
    # foreach keeps the optimizer's per-parameter Python loop out of the hot path on CPU.
    if o.name == "rmsprop":
        return (torch.optim.RMSprop(G.parameters(), lr=o.lr_g, foreach=True),
                torch.optim.RMSprop(D.parameters(), lr=o.lr_d, foreach=True))
    opt_g = torch.optim.Adam(G.parameters(), lr=o.lr_g, betas=(o.beta1, o.beta2), foreach=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=o.lr_d, betas=(o.beta1, o.beta2), foreach=True)
    return opt_g, opt_d


class IncompleteState(ValueError):
    """A checkpoint's training state lacks parts the next step depends on (`missing` names them)."""

    def __init__(self, missing: list[str]):
        if "counters" in missing:
            text = (f"the training state lacks {', '.join(missing)}; without the counters there is "
                    f"nothing to resume from")
        else:
            text = (f"the training state lacks {', '.join(missing)}, so resuming would not be exact; "
                    f"pass --allow-inexact-resume (train(..., allow_inexact=True)) to resume anyway "
                    f"with those parts reset to a fresh run's values")
        super().__init__(text)
        self.missing = missing


def _numpy_state() -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    # int64 tensor + plain numbers: torch.load(weights_only=True) reads it back without any class lookup.
    return {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def _set_numpy_state(s: dict) -> None:
    keys = s["keys"].numpy().astype(np.uint32)
    np.random.set_state((str(s["kind"]), keys, int(s["pos"]), int(s["has_gauss"]), float(s["cached_gaussian"])))


def capture(counters: Counters, opt_g, opt_d, noise: torch.Generator) -> dict:
    """Plain-data training state for `state.pt` (loadable with weights_only=True).

    Holds the counters (steps, images, epoch and position in it, seconds), both
    optimizers, and every RNG the next step may draw from: the training-noise
    generator, torch's global RNG (dropout), Python's `random`, NumPy's global
    RNG, and the CUDA RNGs when training runs on CUDA.
    """
    _, py_state, py_gauss = random.getstate()
    rng = {"torch": torch.get_rng_state(), "noise": noise.get_state(), "python": list(py_state),
           "python_gauss": py_gauss, "numpy": _numpy_state()}
    if noise.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {"counters": dataclasses.asdict(counters), "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(), "rng": rng}


def missing_parts(state, noise: torch.Generator | None = None) -> list[str]:
    """Names of the parts `capture` writes that `state` lacks or holds in the wrong form,
    e.g. ["rng.numpy", "opt_d"]; empty for a complete state."""
    if not isinstance(state, dict):
        return ["counters", "opt_g", "opt_d", "rng"]
    missing = []
    counters = state.get("counters")
    known = {f.name for f in dataclasses.fields(Counters)}
    if not isinstance(counters, dict) or not known <= counters.keys():
        missing.append("counters")
    for name in ("opt_g", "opt_d"):
        opt = state.get(name)
        if not (isinstance(opt, dict) and isinstance(opt.get("state"), dict)
                and isinstance(opt.get("param_groups"), list)):
            missing.append(name)
    rng = state.get("rng")
    if not isinstance(rng, dict):
        return missing + ["rng"]
    usable = {
        "torch": lambda v: _is_bytes_tensor(v),
        "noise": lambda v: _is_bytes_tensor(v),
        "python": lambda v: isinstance(v, list) and len(v) == 625 and all(type(i) is int for i in v),
        "numpy": lambda v: (isinstance(v, dict) and isinstance(v.get("keys"), torch.Tensor)
                            and v["keys"].shape == (624,) and v.get("kind") == "MT19937"
                            and all(isinstance(v.get(k), (int, float))
                                    for k in ("pos", "has_gauss", "cached_gaussian"))),
    }
    if noise is not None and noise.device.type == "cuda":
        usable["cuda"] = lambda v: isinstance(v, list) and all(_is_bytes_tensor(t) for t in v)
    for part, ok in usable.items():
        if not ok(rng.get(part)):
            missing.append(f"rng.{part}")
    return missing


def _is_bytes_tensor(value) -> bool:
    return isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and value.ndim == 1


def _check_optimizer(name: str, opt, saved: dict) -> None:
    """Refuse optimizer state whose moments do not fit the parameters (would fail later, mid-step)."""
    params = [p for group in opt.param_groups for p in group["params"]]
    saved_ids = [i for group in saved["param_groups"] for i in group.get("params", [])]
    if len(saved_ids) != len(params):
        raise ValueError(f"{name}: saved state is for {len(saved_ids)} parameters, the model has {len(params)}")
    for pid, p in zip(saved_ids, params):
        for key, value in saved["state"].get(pid, {}).items():
            if isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape != p.shape:
                raise ValueError(f"{name}: state {key} of parameter {pid} has shape {tuple(value.shape)}, "
                                 f"the parameter {tuple(p.shape)}")


def restore(state: dict, counters: Counters, opt_g, opt_d, noise: torch.Generator,
            allow_inexact: bool = False) -> list[str]:
    """Inverse of `capture`; returns the parts that were missing and left at their fresh-run values.

    A state missing any part raises IncompleteState (nothing is changed) unless
    `allow_inexact`, which resumes with those parts as a new run would have them
    (counters cannot be missing: without them there is nothing to resume).
    A part present but unfit for these optimizers raises ValueError, before anything is changed.
    """
    missing = missing_parts(state, noise)
    if missing and (not allow_inexact or "counters" in missing):
        raise IncompleteState(missing)
    for name, opt in (("opt_g", opt_g), ("opt_d", opt_d)):
        if name not in missing:
            try:
                _check_optimizer(name, opt, state[name])
            except (AttributeError, KeyError, TypeError) as e:
                raise ValueError(f"{name}: the saved optimizer state is malformed ({type(e).__name__}: {e})") from None
    # Everything is checked: from here on nothing fails half way (barring a forged state,
    # which surfaces as ValueError rather than as a crash deep inside torch).
    try:
        _apply(state, missing, counters, opt_g, opt_d, noise)
    except (RuntimeError, TypeError, ValueError, KeyError, OverflowError) as e:
        raise ValueError(f"the training state is malformed ({type(e).__name__}: {e})") from None
    return missing


def _apply(state: dict, missing: list[str], counters: Counters, opt_g, opt_d, noise: torch.Generator) -> None:
    for key, value in state["counters"].items():
        if hasattr(counters, key):
            setattr(counters, key, type(getattr(counters, key))(value))
    if "opt_g" not in missing:
        opt_g.load_state_dict(state["opt_g"])
    if "opt_d" not in missing:
        opt_d.load_state_dict(state["opt_d"])
    if "rng" in missing:
        return
    rng = state["rng"]
    if "rng.torch" not in missing:
        torch.set_rng_state(rng["torch"])
    if "rng.noise" not in missing:
        noise.set_state(rng["noise"])
    if "rng.python" not in missing:
        version = random.getstate()[0]
        gauss = rng.get("python_gauss")
        random.setstate((version, tuple(rng["python"]), gauss if isinstance(gauss, float) else None))
    if "rng.numpy" not in missing:
        _set_numpy_state(rng["numpy"])
    if "cuda" in rng and noise.device.type == "cuda":
        torch.cuda.set_rng_state_all(rng["cuda"])
