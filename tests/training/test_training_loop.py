"""The training loop: run folder contents, budgets, k D-steps, exact resume, refusal to clobber."""

import json

import pytest
import torch

from gankit import config as C
from gankit.config import ConfigError
from gankit.io.checkpoint import complete_checkpoints, load_checkpoint
from gankit.io.logs import read_metrics
from gankit.training.loop import train

from helpers import tiny_config


def test_run_folder_has_everything(tiny_cfg):
    run = train(tiny_cfg, progress=False)
    assert (run / "config.toml").is_file()
    assert C.resolve(file=run / "config.toml") == tiny_cfg  # re-runnable as is
    records = read_metrics(run)
    assert len(records) == 4  # 8 steps, logged every 2
    for key in ("step", "images", "epoch", "loss_d", "loss_g", "d_real", "d_fake", "img_per_s", "seconds"):
        assert key in records[-1]
    assert records[-1]["images"] == 128 and records[-1]["step"] == 8
    assert 0 <= records[-1]["d_real"] <= 1 and 0 <= records[-1]["d_fake"] <= 1
    samples = sorted(p.name for p in (run / "samples").iterdir())
    assert samples[0].startswith("final_img000000128") and samples[-1].startswith("init_img000000000")
    assert len(complete_checkpoints(run)) == 1
    gen = run / "generator"
    assert {p.name for p in gen.iterdir()} == {"config.json", "model.safetensors", "README.md", "manifest.json"}
    meta = json.loads((gen / "config.json").read_text())
    assert meta["images_seen"] == 128 and meta["shape"] == [1, 28, 28]
    assert "gankit sample" in (gen / "README.md").read_text()


def test_epoch_budget_writes_a_grid_per_epoch(tmp_path, tiny_idx_dir):
    cfg = tiny_config(tmp_path / "run", tiny_idx_dir, "train.kimg=0", "train.epochs=2")
    run = train(cfg, progress=False)
    names = sorted(p.name for p in (run / "samples").iterdir())
    assert [n for n in names if n.startswith("epoch")] == [
        "epoch_img000000256_epoch001.png", "epoch_img000000512_epoch002.png"]
    _, state, _ = load_checkpoint(complete_checkpoints(run)[-1])
    assert state["counters"]["epoch"] == 2 and state["counters"]["images"] == 512


def test_d_steps_consume_k_batches_per_generator_step(tmp_path, tiny_idx_dir):
    cfg = tiny_config(tmp_path / "run", tiny_idx_dir, "train.d_steps=3", "train.kimg=0.144")
    run = train(cfg, progress=False)
    _, state, _ = load_checkpoint(complete_checkpoints(run)[-1])
    assert state["counters"]["step"] == 3 and state["counters"]["images"] == 144


def test_existing_run_is_not_clobbered(tiny_cfg):
    train(tiny_cfg, progress=False)
    with pytest.raises(ConfigError, match="already holds a run.*--resume"):
        train(tiny_cfg, progress=False)
    assert len(complete_checkpoints(tiny_cfg.out)) == 1


def _final_state(run):
    weights, state, _ = load_checkpoint(complete_checkpoints(run)[-1])
    return weights, state


@pytest.mark.parametrize("stops", [(6,), (16,), (6, 16)], ids=["mid-epoch", "epoch-end", "resume-of-resume"])
def test_resume_is_bitwise_exact(tmp_path, tiny_idx_dir, stops):
    """Training 24 steps straight equals stopping at each of `stops` and resuming (weights,
    optimizer state, counters and every per-step loss)."""
    common = ("train.log_every=1", "model.d_dropout=0.2")  # dropout: the global RNG must be restored too
    straight = train(tiny_config(tmp_path / "a", tiny_idx_dir, "train.kimg=0.384", *common), progress=False)
    run = tmp_path / "b"
    train(tiny_config(run, tiny_idx_dir, f"train.kimg={stops[0] * 16 / 1000}", *common), progress=False)
    for stop in stops[1:] + (24,):
        cfg = tiny_config(run, tiny_idx_dir, f"train.kimg={stop * 16 / 1000}", *common)
        train(cfg, resume=True, progress=False)
    (wa, sa), (wb, sb) = _final_state(straight), _final_state(run)
    for name in ("G", "D"):
        assert wa[name].keys() == wb[name].keys()
        for key in wa[name]:
            assert torch.equal(wa[name][key], wb[name][key]), f"{name}.{key}"
    assert sa["counters"]["step"] == sb["counters"]["step"] == 24
    assert sa["counters"]["images"] == sb["counters"]["images"]
    for opt in ("opt_g", "opt_d"):
        for pid, st in sa[opt]["state"].items():
            for key, value in st.items():
                assert torch.equal(value, sb[opt]["state"][pid][key]), f"{opt}[{pid}].{key}"
    losses = lambda run: [(r["step"], r["loss_d"], r["loss_g"]) for r in read_metrics(run)]  # noqa: E731
    assert losses(straight) == losses(run)


def test_resume_needs_a_checkpoint(tiny_cfg):
    from gankit.io.checkpoint import CheckpointError
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(tiny_cfg, resume=True, progress=False)


def test_a_grid_no_viewer_opens_is_refused_before_anything_is_written(tmp_path):
    # 1024 samples of 512 px make a 271-megapixel PNG; Pillow refuses to open over ~89
    cfg = C.resolve(overrides=["data.resolution=512", "train.grid_size=1024", "train.kimg=1",
                               f"out={tmp_path / 'run'}"])
    with pytest.raises(ConfigError, match=r"train.grid_size: 1024 samples make grids too large: .*271 megapixels"):
        train(cfg, progress=False)
    assert not (tmp_path / "run").exists()
