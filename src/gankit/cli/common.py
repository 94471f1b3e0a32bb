"""Argument types shared by the verbs: each rejects bad values with a message argparse prints."""

from __future__ import annotations

import argparse


def _int_at_least(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _int_at_least(text, 1, "a positive integer")


def nonnegative_int(text: str) -> int:
    return _int_at_least(text, 0, "an integer >= 0")


def thread_count(text: str) -> int:
    """--threads: 0 (torch's default) to config.MAX_THREADS (100000 crashed torch: a segfault, no message)."""
    from gankit.config import MAX_THREADS
    value = _int_at_least(text, 0, f"a thread count in [0, {MAX_THREADS}]")
    if value > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"expected a thread count in [0, {MAX_THREADS}], got {text!r}")
    return value


MAX_SAMPLE_BYTES = 4 * 2**30
"""Samples a verb holds in memory at once (float32) at most: sample writes them, evaluate scores them."""


def check_sample_memory(num: int, shape: tuple[int, ...], verb: str) -> None:
    """Refuse --num samples of `shape` that would not fit in memory, before any is drawn."""
    import math
    each = math.prod(shape) * 4
    if num * each > MAX_SAMPLE_BYTES:
        raise ValueError(f"--num: {num:,} samples of shape {tuple(shape)} need {num * each / 2**30:,.1f} GiB "
                         f"in memory; {verb} at most {MAX_SAMPLE_BYTES // each:,} at a time")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def seed(text: str) -> int:
    """One seed rule for every verb and for train.seed: an integer in [0, 2**32)."""
    from gankit.config import SEED_LIMIT
    try:
        value = int(text.strip())
    except ValueError:
        value = -1
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"expected a seed: an integer in [0, 2**32), got {text!r}")
    return value


def seed_list(text: str) -> list[int]:
    parts = text.split(",")
    try:
        seeds = [seed(s) for s in parts]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated seeds (integers in [0, 2**32)) like 1,2,3, got {text!r}") from None
    if len(seeds) < 2:
        raise argparse.ArgumentTypeError(f"expected at least two seeds like 1,2, got {text!r}")
    return seeds


def device_name(text: str) -> str:
    """A torch device that exists here: cpu, cuda or cuda:N (checked at parse time)."""
    import torch
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a device like cpu, cuda or cuda:0, got {text!r}") from None
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise argparse.ArgumentTypeError(f"{text!r}: no such CUDA device on this machine")
    if device.type not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {text!r}")
    return text


def device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", type=device_name, default="cpu", help="torch device to run on (default: cpu)")


# ---------------------------------------------------------------------------
# data options: the same for `train` and `data`, so `gankit data check` reads what a run would


def add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="NAME_OR_PATH",
                        help="a dataset name (fashion-mnist, mnist, toy-ring, ...) or a folder of images")
    parser.add_argument("--data-dir", metavar="DIR", help="where the dataset files are (sets data.path)")


def data_overrides(args, flag: str = "--data") -> list[dict]:
    """args.data and args.data_dir as config overrides: a dataset name sets data.name, a folder
    sets data.name = "folder" and data.path; `flag` names the option in the error for anything else."""
    from pathlib import Path

    from gankit.config import ConfigError
    from gankit.data import DATASETS
    overrides: list[dict] = []
    if args.data:
        if args.data in DATASETS:
            overrides.append({"data": {"name": args.data}})
        elif Path(args.data).is_dir():
            overrides.append({"data": {"name": "folder", "path": args.data}})
        else:
            raise ConfigError(f"{flag}: {args.data!r} is neither a dataset ({', '.join(sorted(DATASETS))}) "
                              f"nor a folder")
    if args.data_dir:
        overrides.append({"data": {"path": args.data_dir}})
    return overrides
