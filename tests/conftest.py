"""Shared fixtures: hermetic tiny datasets and configs, so tests never depend on downloads."""

import pytest
import torch

from helpers import tiny_config, write_idx


@pytest.fixture(scope="session")
def tiny_idx_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-fashion")
    write_idx(folder, "train", 256, seed=0)
    write_idx(folder, "test", 128, seed=1)
    return folder


@pytest.fixture
def tiny_cfg(tmp_path, tiny_idx_dir):
    return tiny_config(tmp_path / "run", tiny_idx_dir)


@pytest.fixture(autouse=True)
def _one_thread():
    # Tests run small models: one thread avoids oversubscription and keeps results bitwise stable.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
