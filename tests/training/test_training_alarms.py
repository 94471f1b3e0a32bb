"""Diagnostics inside the loop: each alarm fires on a constructed failure, a NaN ends in rollbacks
and a clean stop, and a healthy tiny run raises nothing."""

import pytest
import torch

from gankit.io.checkpoint import complete_checkpoints
from gankit.io.logs import read_metrics
from gankit.losses import adversarial
from gankit.training import loop
from gankit.training.games import base as games_base
from gankit.training.loop import TrainingDiverged, train

from helpers import tiny_config


def alarms(run):
    return [r["alarm"] for r in read_metrics(run) if "alarm" in r]


def test_healthy_tiny_run_raises_nothing(tmp_path, tiny_idx_dir):
    cfg = tiny_config(tmp_path / "ok", tiny_idx_dir, "train.kimg=0.512", "train.log_every=2",
                      "diagnostics.diversity_every=2")  # default thresholds and warm-up
    assert alarms(train(cfg, progress=False)) == []


def test_injected_nan_rolls_back_then_stops_cleanly(tmp_path, tiny_idx_dir, monkeypatch):
    calls = {"n": 0}
    pair = adversarial.LOSSES["nonsaturating"]

    def poisoned(real, fake):  # finite for 5 D steps, NaN from then on
        calls["n"] += 1
        loss = pair.d_loss(real, fake)
        return loss * float("nan") if calls["n"] > 5 else loss

    monkeypatch.setattr(loop, "make_loss", lambda name, smoothing=0.0: pair._replace(d_loss=poisoned))
    cfg = tiny_config(tmp_path / "nan", tiny_idx_dir, "train.kimg=1", "train.log_every=2",
                      "diagnostics.max_rollbacks=2")
    with pytest.raises(TrainingDiverged, match="after 2 rollbacks"):
        train(cfg, progress=False)
    raised = alarms(cfg.out)
    assert [a["kind"] for a in raised] == ["nonfinite"] * 3 and raised[0]["suggestion"]
    records = [r for r in read_metrics(cfg.out) if "loss_d" in r]
    assert all(r["loss_d"] == r["loss_d"] for r in records)  # no NaN was ever logged as a result
    assert complete_checkpoints(cfg.out) == []  # nothing half-broken was saved


def test_constant_generator_raises_collapse(tmp_path, tiny_idx_dir, monkeypatch):
    real_build = games_base.build

    def constant_g(model_cfg, shape, **kwargs):
        G, D = real_build(model_cfg, shape, **kwargs)
        last = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)][-1]
        torch.nn.init.zeros_(last.weight)  # tanh(0 + bias) everywhere: one image, whatever z
        last.weight.requires_grad_(False)
        return G, D

    monkeypatch.setattr(games_base, "build", constant_g)  # the default Game.build calls it
    cfg = tiny_config(tmp_path / "collapse", tiny_idx_dir, "train.kimg=0.32", "train.log_every=1",
                      "diagnostics.diversity_every=1", "diagnostics.collapse_warmup_kimg=0.05",
                      "diagnostics.window=3")
    kinds = [a["kind"] for a in alarms(train(cfg, progress=False))]
    assert kinds.count("collapse") == 1


def test_overpowered_discriminator_raises_d_wins(tmp_path, tiny_idx_dir):
    cfg = tiny_config(tmp_path / "dwins", tiny_idx_dir, "train.kimg=0.64", "train.log_every=1",
                      "optim.lr_d=0.01", "optim.lr_g=1e-7", "train.d_steps=2", "diagnostics.window=3")
    raised = alarms(train(cfg, progress=False))
    assert "d_wins" in [a["kind"] for a in raised]
    assert "lr_d" in next(a for a in raised if a["kind"] == "d_wins")["suggestion"]


def test_nan_after_the_last_logged_window_is_never_saved_or_shared(tmp_path, tiny_idx_dir, monkeypatch, capsys):
    calls = {"n": 0}
    pair = adversarial.LOSSES["nonsaturating"]

    def poisoned(real, fake):  # 7 steps of 16 images; windows of 4 steps: the NaN at steps 6-7 is never logged
        calls["n"] += 1
        loss = pair.d_loss(real, fake)
        return loss * float("nan") if calls["n"] > 5 else loss

    monkeypatch.setattr(loop, "make_loss", lambda name, smoothing=0.0: pair._replace(d_loss=poisoned))
    cfg = tiny_config(tmp_path / "late-nan", tiny_idx_dir, "train.kimg=0.112", "train.log_every=4")
    run = train(cfg, progress=False)
    assert "non-finite values after the last logged step: saving step 4 instead" in capsys.readouterr().out
    from gankit.io.checkpoint import load_checkpoint
    from gankit.io.generator import load_generator
    weights, state, _ = load_checkpoint(complete_checkpoints(run)[-1])
    assert state["counters"]["step"] == 4
    assert all(torch.isfinite(t).all() for sd in weights.values() for t in sd.values() if t.is_floating_point())
    assert torch.isfinite(load_generator(run).sample(4, seed=0)).all()


def test_two_transient_nans_in_a_row_are_each_rolled_back_and_training_recovers(tmp_path, tiny_idx_dir, monkeypatch):
    calls = {"n": 0}
    pair = adversarial.LOSSES["nonsaturating"]

    def poisoned(real, fake):  # NaN at D steps 6 and 7 only: two consecutive windows of 2 steps
        calls["n"] += 1
        loss = pair.d_loss(real, fake)
        return loss * float("nan") if calls["n"] in (6, 7) else loss

    monkeypatch.setattr(loop, "make_loss", lambda name, smoothing=0.0: pair._replace(d_loss=poisoned))
    cfg = tiny_config(tmp_path / "nan2", tiny_idx_dir, "train.kimg=0.32", "train.log_every=2",
                      "diagnostics.max_rollbacks=3")
    run = train(cfg, progress=False)  # before: the restored Adam moments were the snapshot's own
    # tensors, so the second NaN step wrote NaN into the "good" snapshot and training diverged
    assert [a["kind"] for a in alarms(run)] == ["nonfinite"] * 2
    from gankit.io.generator import load_generator
    assert torch.isfinite(load_generator(run).sample(4, seed=0)).all()
