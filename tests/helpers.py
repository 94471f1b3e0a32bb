"""Helpers shared by tests (importable as `helpers`; pytest puts tests/ on sys.path)."""

import gzip
import struct

import numpy as np

from gankit import config as C


def write_idx(folder, split="train", n=256, seed=0):
    """Write a tiny Fashion-MNIST-like IDX pair: bright rectangles whose width encodes the label."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = np.zeros((n, 28, 28), np.uint8)
    for i, y in enumerate(labels):
        w = 3 + 2 * int(y)
        images[i, 4:24, 14 - w // 2:14 + (w + 1) // 2] = 200 + rng.integers(0, 55)
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes())
    with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels.tobytes())
    return images, labels


def tiny_config(out, data_dir, *overrides):
    """A DCGAN small enough to train a few steps in well under a second; overrides are KEY=VALUE."""
    values = {
        "out": str(out),
        "data": {"name": "fashion-mnist", "path": str(data_dir)},
        "model": {"arch": "dcgan", "z_dim": 8, "width": 8},
        "train": {"batch_size": 16, "kimg": 0.128, "log_every": 2, "grid_size": 16, "threads": 1},
    }
    return C.resolve(overrides=[values, *overrides])


def shapes_config(out, *overrides):
    """A CycleGAN small enough for a step in a few milliseconds: squares <-> circles at 16 px."""
    values = {
        "out": str(out),
        "data": {"name": "shapes", "task": "unpaired", "domain_a": "square", "domain_b": "circle",
                 "resolution": 16, "limit": 64},
        "model": {"width": 4, "depth": 1},
        "train": {"batch_size": 4, "kimg": 0.096, "log_every": 4, "grid_size": 8, "threads": 1,
                  "pool_size": 6},
    }
    return C.resolve(overrides=[values, *overrides])


def train_unpaired_runs(root):
    """{"cyclegan": run, "munit": run}: two tiny unpaired runs (squares <-> circles, a few steps each)
    under root, trained on one thread (the caller's thread count is restored)."""
    import torch

    from gankit.training.loop import train
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {arch: train(shapes_config(root / arch, f"model.arch={arch}", "train.kimg=0.032"), progress=False)
                for arch in ("cyclegan", "munit")}
    finally:
        torch.set_num_threads(before)


def cli(argv, capsys):
    """Run `gankit ARGV` in-process: (exit code, stdout, stderr); argparse's exits count as codes.
    No verb may ever answer with a traceback (`--debug` aside), so that is asserted here."""
    from gankit.cli import main
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err or "--debug" in map(str, argv), err
    return code, out, err


BENCH = __import__("pathlib").Path(__file__).resolve().parents[1] / "benchmarks"
"""The benchmarks/ folder of the repository."""


def load_benchmark(path, name: str):
    """A benchmark script (a path under BENCH) imported as module `name`."""
    import importlib.util
    import sys
    sys.path.insert(0, str(BENCH))  # the scripts import flops.py beside them
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _have(module: str) -> bool:
    import importlib
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def needs_skimage(test):
    """Skip a test where scikit-image (the faces / image2image extras) is not installed."""
    import pytest
    return pytest.mark.skipif(not _have("skimage"), reason="scikit-image (the faces extra) is not installed")(test)
