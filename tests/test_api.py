"""The Python API mirrors the CLI: gankit.train(config), gankit.load_generator(path), G.sample(n, seed)."""

import torch

import gankit

from helpers import tiny_config


def test_train_load_sample(tmp_path, tiny_idx_dir):
    run = gankit.train(tiny_config(tmp_path / "api", tiny_idx_dir), progress=False)
    for path in (run, run / "generator", sorted((run / "checkpoints").iterdir())[-1]):
        G = gankit.load_generator(path)
        x = G.sample(6, seed=4)
        assert x.shape == (6, 1, 28, 28) and x.dtype == torch.float32
        assert x.min() >= -1 and x.max() <= 1
        assert torch.equal(x[2:], G.sample(4, seed=4, start=2))
    assert not G.training  # loaded generators are ready for inference
    assert not torch.equal(G.sample(2, seed=4), G.sample(2, seed=5))
