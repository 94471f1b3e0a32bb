"""Many processes as one run: a tiny helper over torch.distributed (after edm's torch_utils/distributed.py).

`torchrun --nproc-per-node N -m gankit train ...` starts N copies of the same command; torchrun
sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT, and `init` joins them into one
process group: gloo on CPU, nccl on CUDA (one GPU per process, cuda:LOCAL_RANK). Not launched
that way (no WORLD_SIZE, or WORLD_SIZE=1), a process is a world of size 1 and every helper here
is a no-op that returns its input unchanged, so single-process runs are bitwise what they were.

How a run is split (the rules the loop and the games keep):
- Config sizes are global: train.batch_size B is the batch of the whole world; each rank trains
  on B / N rows of it, and B must divide by N. Images seen, budgets and every schedule count
  the global batch, so counters mean the same at any N and checkpoints resume across N.
- Every rank draws the *global* batch's data indices and latents from the same seeded streams
  (the data order of the epoch, the loop's noise generator) and keeps its own rows (`shard`):
  rank r holds rows [r * B/N, (r + 1) * B/N). A 2-process run with batch B therefore sees
  exactly the examples and latents of a 1-process run with batch B.
- Gradients: after each backward the loop averages them over ranks with one all-reduce of the
  flattened gradients (`average_gradients`), as stylegan2-ada/stylegan3's training loop does,
  not with DistributedDataParallel. Why: a GAN step is not DDP's one forward + one backward of
  one module. D runs on real and on fake before one backward; lazy R1 and WGAN-GP differentiate
  through D with autograd.grad(create_graph=True), which DDP's reducer does not support; path
  length does the same through G; G's graph is kept across the D step and reused by the G step,
  with D frozen (requires_grad off) in between; and the regularizers call D through wrappers
  (labels bound). Under DDP each of these needs find_unused_parameters, no_sync() or a second
  wrapper, and a wrong guess hangs silently. One explicit all-reduce after backward, owned by the
  loop (DESIGN: the loop owns gradient sync), is correct for all of them and costs the same
  bytes as DDP's buckets, minus DDP's overlap of communication with backward (see
  benchmarks/distributed/README.md for what that costs). The loss on each rank is a mean over its
  B/N rows, so the average of the ranks' gradients is the gradient of the global-batch mean.
- Decisions are identical on every rank or the ranks deadlock: a stop signal on any rank, the
  training seconds (rank 0's), non-finite checks and rollbacks are agreed with small
  all-reduces (`agree`, `all_true`); weights stay identical because every rank applies the same
  averaged gradients to the same weights.
- Only rank 0 writes (samples, metrics.jsonl, TensorBoard, checkpoints, generator/, evaluation)
  and holds the run lock; the others print nothing to stdout (`quiet`) and meet it at the next
  collective. A rank that dies or hangs makes the others stop with `DistributedError` (one line,
  exit 1) once the process-group timeout passes (GANKIT_DIST_TIMEOUT seconds, default 1800;
  gloo usually notices a dead peer's closed socket at once). torchrun itself also stops the
  other workers when one exits with an error.

Batch norm keeps per-rank statistics (over B/N rows), as DDP does unless a model is converted
to SyncBatchNorm: torch's SyncBatchNorm runs only on CUDA/XPU inputs (it raises on CPU, so gloo
runs could not use it), and its backward is not twice differentiable (R1 needs that). The
equivalence "2 processes == 1 process" therefore holds for models without batch norm.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys

import torch
import torch.distributed as td

TIMEOUT_ENV = "GANKIT_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 1800.0  # rank 0 may checkpoint or evaluate while the others wait at a collective
_control = None  # under nccl: a gloo group for the per-step agreement, so it never waits on the GPU


class DistributedError(ConnectionError):
    """Another process of the run died, hung or stopped (a ConnectionError, so the CLI prints one line)."""


def launched() -> bool:
    """Whether this process was started as one of several (torchrun sets WORLD_SIZE > 1)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def _active() -> bool:
    return td.is_available() and td.is_initialized()


def rank() -> int:
    return td.get_rank() if _active() else 0


def world_size() -> int:
    return td.get_world_size() if _active() else 1


def local_rank() -> int:
    """This process's index on its machine (which GPU it drives)."""
    return int(os.environ.get("LOCAL_RANK", "0")) if launched() else 0


def is_main() -> bool:
    """Rank 0: the one process that writes."""
    return rank() == 0


def timeout_seconds() -> float:
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{TIMEOUT_ENV}: must be a number of seconds > 0, got {raw!r}")
    return value


def init(device: torch.device) -> None:
    """Join the process group torchrun described (gloo on CPU, nccl on CUDA), once per process;
    nothing when not launched distributed."""
    if not launched() or _active():
        return
    timeout = datetime.timedelta(seconds=timeout_seconds())
    kwargs = {}
    if device.type == "cuda":
        torch.cuda.set_device(device)
        kwargs["device_id"] = device
    global _control
    try:
        td.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timeout, **kwargs)
        if device.type == "cuda":
            _control = td.new_group(backend="gloo", timeout=timeout)
    except (RuntimeError, ValueError) as e:  # a missing MASTER_ADDR, a rendezvous that timed out
        raise DistributedError(f"could not join the other {os.environ.get('WORLD_SIZE')} processes "
                               f"(torch.distributed: {_first_line(e)})") from None


def close() -> None:
    global _control
    _control = None
    if _active():
        with contextlib.suppress(Exception):  # after a peer died, tearing down may itself complain
            td.destroy_process_group()


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


@contextlib.contextmanager
def _collective(what: str):
    """Turn torch.distributed's failures (a peer gone, a timeout) into one clear line."""
    try:
        yield
    except (RuntimeError, ValueError) as e:  # DistBackendError, DistNetworkError, gloo's own
        raise DistributedError(
            f"rank {rank()} of {world_size()}: lost the other processes during {what} (one of them died, "
            f"stopped with an error, or hung past {TIMEOUT_ENV}={timeout_seconds():g} s; see its output): "
            f"{_first_line(e)}") from None


def barrier(what: str = "a barrier") -> None:
    if world_size() > 1:
        with _collective(what):
            td.barrier()


def shard(x: torch.Tensor) -> torch.Tensor:
    """This rank's rows of a global batch x (B, ...): rows [r * B/N, (r + 1) * B/N); x itself at N = 1."""
    n = world_size()
    if n == 1:
        return x
    if x.shape[0] % n:
        raise ValueError(f"a global batch of {x.shape[0]} rows does not split over {n} processes")
    b = x.shape[0] // n
    return x[rank() * b:(rank() + 1) * b]


def average_gradients(module: torch.nn.Module) -> None:
    """After backward: replace every gradient of `module` by its mean over all ranks (one all-reduce).

    Parameters without a gradient are left alone; every rank runs the same code path, so the same
    parameters have gradients everywhere."""
    n = world_size()
    if n == 1:
        return
    params = [p for p in module.parameters() if p.grad is not None]
    if not params:
        return
    flat = torch.cat([p.grad.flatten() for p in params])
    with _collective("the gradient all-reduce"):
        td.all_reduce(flat)
    flat /= n
    for p, g in zip(params, flat.split([p.numel() for p in params])):
        p.grad.copy_(g.view_as(p.grad))


def mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of `x` over ranks (a new tensor; x itself at N = 1)."""
    if world_size() == 1:
        return x
    out = x.detach().clone()
    with _collective("an all-reduce"):
        td.all_reduce(out)
    return out / world_size()


def all_true(flag: bool) -> bool:
    """Whether `flag` holds on every rank (the same answer everywhere)."""
    if world_size() == 1:
        return bool(flag)
    t = torch.tensor([0.0 if flag else 1.0], dtype=torch.float64)
    with _collective("agreeing on a check"):
        td.all_reduce(t, op=td.ReduceOp.MAX, group=_control)
    return t.item() == 0.0


def agree(signum: int | None, seconds: float) -> tuple[int | None, float]:
    """Once per step: (the stop signal any rank got, rank 0's training seconds), the same on every
    rank, so budgets, time-based checkpoints and stops are decided alike. Rank 0's clock, because
    it includes waiting for slower ranks but not the time the others spend waiting while rank 0
    evaluates or writes (which is not training time). Host numbers on a CPU (gloo) group even
    under nccl: this once-per-step exchange never forces a GPU sync."""
    if world_size() == 1:
        return signum, seconds
    t = torch.tensor([float(signum or 0), seconds if is_main() else 0.0], dtype=torch.float64)
    with _collective("the per-step agreement"):
        td.all_reduce(t, op=td.ReduceOp.MAX, group=_control)
    got, secs = t.tolist()
    return (int(got) if got else None), secs


def all_gather_cat(x: torch.Tensor) -> torch.Tensor:
    """Every rank's `x` (b, ...) concatenated in rank order: the global batch's (N * b, ...), detached."""
    if world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    with _collective("an all-gather"):
        td.all_gather(parts, x.detach().contiguous())
    return torch.cat(parts)


def all_gather_object(obj) -> list:
    """Every rank's picklable `obj`, in rank order ([obj] at N = 1)."""
    if world_size() == 1:
        return [obj]
    out = [None] * world_size()
    with _collective("gathering state for a checkpoint"):
        td.all_gather_object(out, obj, group=_control)
    return out


def rank_seed(seed: int, salt: int = 0) -> int:
    """A seed for this rank's own stream (dropout, augmentation), derived from the run seed."""
    return (seed + 1_000_033 * rank() + 7_919 * salt) % 2**63


def check_batch(batch_size: int, pack: int = 1) -> None:
    """Raise ValueError (one line) when the global batch does not split evenly over the ranks."""
    n = world_size()
    if n == 1:
        return
    if batch_size % n:
        up = (batch_size // n + 1) * n
        raise ValueError(f"train.batch_size: {batch_size} does not split over {n} processes "
                         f"(it is the global batch; each process trains on batch_size / {n}); "
                         f"use a multiple of {n}, e.g. --set train.batch_size={up}")
    if (batch_size // n) % pack:
        raise ValueError(f"model.pack: {pack} must divide the per-process batch {batch_size // n} "
                         f"(train.batch_size {batch_size} / {n} processes)")


@contextlib.contextmanager
def quiet():
    """On ranks other than 0, send stdout (tqdm.write lines, prints) nowhere: rank 0 speaks for the
    run. Errors still reach stderr."""
    if is_main():
        yield
        return
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield
    sys.stdout.flush()


class NullLog:
    """What a rank other than 0 logs: nothing (it has MetricsLog's methods)."""

    def write(self, record: dict) -> None:
        pass

    def image(self, tag, array, images) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "NullLog":
        return self

    def __exit__(self, *exc) -> None:
        pass
