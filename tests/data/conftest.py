"""Fixtures for gankit.data tests: hand-written IDX files and an isolated search path."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from gankit.data import idx

REAL_SYSTEM_DIRS = dict(idx.SYSTEM_DIRS)


@pytest.fixture(autouse=True)
def isolated_search(tmp_path_factory, monkeypatch):
    """No test sees the machine's data: HOME, $GANKIT_DATA and the system dirs point nowhere."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GANKIT_DATA", raising=False)
    nowhere = tmp_path_factory.mktemp("system")
    monkeypatch.setattr(idx, "SYSTEM_DIRS", {k: nowhere / k for k in REAL_SYSTEM_DIRS})
    return home


def _idx_bytes(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + payload


def _fixture_images(n: int, h: int = 28, w: int = 28) -> np.ndarray:
    """Deterministic, distinct images: uint8 (n, h, w)."""
    rng = np.random.default_rng(1234)
    return rng.integers(0, 256, size=(n, h, w), dtype=np.uint8)


@pytest.fixture
def write_idx():
    """write_idx(directory, split="train", n=12, h=28, w=28, gz=True, labels=None) -> (images, labels).

    Writes a valid images + labels pair for `split` and returns the arrays written.
    """
    def write(directory: Path, split: str = "train", n: int = 12, h: int = 28, w: int = 28,
              gz: bool = True, labels: np.ndarray | None = None):
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        images = _fixture_images(n, h, w)
        labels = np.arange(n, dtype=np.uint8) % 10 if labels is None else labels.astype(np.uint8)
        img_name, lab_name = idx.FILES[split]
        for stem, data in ((img_name, _idx_bytes(idx.IMAGES_MAGIC, (n, h, w), images.tobytes())),
                           (lab_name, _idx_bytes(idx.LABELS_MAGIC, (len(labels),), labels.tobytes()))):
            if gz:
                (directory / f"{stem}.gz").write_bytes(gzip.compress(data))
            else:
                (directory / stem).write_bytes(data)
        return images, labels
    return write


@pytest.fixture
def idx_bytes():
    """idx_bytes(magic, dims, payload) -> the bytes of an IDX file (header + payload)."""
    return _idx_bytes


@pytest.fixture
def fixture_images():
    """fixture_images(n, h=28, w=28) -> deterministic random uint8 (n, h, w)."""
    return _fixture_images
