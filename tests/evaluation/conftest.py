"""Fixtures for the evaluation front end: a private cache, a tiny trained run, a tiny classifier config.

The default domain classifier trains for at least 500 steps; tests swap in a
tiny config (`TINY_CLASSIFIER`) that fits the fixture data (the label is the
width of a bright bar) to high accuracy in about a second.
"""

from __future__ import annotations

import shutil

import pytest
import torch
from torch import nn

from gankit.config import DataConfig
from gankit.evaluation import classifier

from helpers import tiny_config

TINY_CLASSIFIER = classifier.ClassifierConfig(widths=(8, 16, 16), feature_dim=16, epochs=1.0, min_steps=60,
                                              batch_size=32)


@pytest.fixture(autouse=True)
def eval_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own empty $GANKIT_CACHE and the tiny classifier as the default."""
    cache = tmp_path_factory.mktemp("gankit-cache")
    monkeypatch.setenv("GANKIT_CACHE", str(cache))
    monkeypatch.setattr(classifier, "DEFAULT_CONFIG", TINY_CLASSIFIER)
    return cache


@pytest.fixture(scope="session")
def tiny_data_cfg(tiny_idx_dir) -> DataConfig:
    """The session's tiny IDX data (256 train, 128 test images of 10 bar widths)."""
    return DataConfig(name="fashion-mnist", path=str(tiny_idx_dir))


@pytest.fixture(scope="session")
def session_fit(tmp_path_factory, tiny_data_cfg):
    """The tiny classifier fitted once per session, in a cache of its own: (cache dir, meta)."""
    cache = tmp_path_factory.mktemp("fitted-cache")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANKIT_CACHE", str(cache))
        _, meta = classifier.fit_classifier(tiny_data_cfg, TINY_CLASSIFIER, progress=False)
    torch.set_num_threads(before)
    return cache, meta


@pytest.fixture
def fitted(session_fit, eval_cache):
    """This test's cache, holding a copy of the session's fitted tiny classifier; returns its meta."""
    shutil.copytree(session_fit[0] / "features", eval_cache / "features")
    return session_fit[1]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_idx_dir):
    from gankit.training.loop import train
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(tiny_config(tmp_path_factory.mktemp("runs") / "tiny", tiny_idx_dir), progress=False)
    finally:
        torch.set_num_threads(before)


class Replay(nn.Module):
    """A stand-in generator whose samples are given images (float in [-1, 1]) or points, in order."""

    def __init__(self, x: torch.Tensor, config=None):
        super().__init__()
        self.x = x
        self.out_shape = tuple(x.shape[1:])
        if config is not None:
            self.config = config

    def sample(self, n: int, seed: int = 0, start: int = 0, device=None) -> torch.Tensor:
        assert n <= len(self.x)
        return self.x[start:start + n].clone()


@pytest.fixture
def tiny_classifier() -> classifier.ClassifierConfig:
    return TINY_CLASSIFIER


@pytest.fixture
def replay():
    """The Replay class (conftest modules are not importable by name)."""
    return Replay
