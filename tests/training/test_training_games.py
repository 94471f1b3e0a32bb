"""The games seam: train.game picks a game from GAMES; the loop is the game's d_step/g_step plus
backward, optimizer steps and bookkeeping, bitwise; a game's own state rides in the checkpoint."""

import random

import numpy as np
import pytest
import torch

from gankit.cli import main
from gankit.config import ConfigError
from gankit.data import load_dataset
from gankit.io.checkpoint import complete_checkpoints, load_checkpoint
from gankit.losses import make_loss
from gankit.models import build
from gankit.training.changes import config_changes
from gankit.training.games import GAMES, Game, UnconditionalGame
from gankit.training.loop import preflight, train
from gankit.training.regularize import Regularizers
from gankit.training.state import Batches, Counters, make_optimizers

from helpers import tiny_config


def test_registry_is_a_plain_dict_of_games_and_the_default_is_in_it(tiny_cfg):
    assert type(GAMES) is dict and GAMES["unconditional"] is UnconditionalGame
    assert all(issubclass(g, Game) for g in GAMES.values())
    assert tiny_cfg.train.game == "unconditional"


def test_unknown_game_is_one_config_error_naming_the_field_and_the_known_games(tmp_path, tiny_idx_dir, capsys):
    cfg = tiny_config(tmp_path / "run", tiny_idx_dir, "train.game=cyclegan")
    with pytest.raises(ConfigError) as e:
        preflight(cfg)
    assert str(e.value) == f"train.game: unknown 'cyclegan' (known: {', '.join(sorted(GAMES))})"
    assert main(["train", "--out", str(tmp_path / "cli"), "--data-dir", str(tiny_idx_dir),
                 "--set", "train.game=cyclegan"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("gankit: error: train.game: unknown 'cyclegan' (known: conditional, paired, unconditional") and "\n" not in err
    assert not (tmp_path / "cli" / "config.toml").exists()


def _setup(cfg):
    """What the loop sets up before its first step, in the loop's order (same seeds, same draws)."""
    t = cfg.train
    device = torch.device("cpu")
    data = load_dataset(cfg.data, seed=t.seed)
    torch.manual_seed(t.seed)
    random.seed(t.seed), np.random.seed(t.seed)
    G, D = build(cfg.model, data.sample_shape)
    opt_g, opt_d = make_optimizers(cfg, G, D)
    counters = Counters()
    noise = torch.Generator(device).manual_seed(t.seed)
    reg = Regularizers(cfg, device)
    game = UnconditionalGame(cfg, G, D, make_loss(cfg.loss.name, cfg.loss.label_smoothing), reg, noise, counters,
                             device)
    game.batches = Batches(data, t.batch_size, t.seed, device, counters)
    return game, opt_g, opt_d


def test_d_step_and_g_step_keep_the_contract(tmp_path, tiny_idx_dir):
    cfg = tiny_config(tmp_path / "run", tiny_idx_dir, "train.d_steps=2")
    game, opt_g, opt_d = _setup(cfg)
    G, D, B = game.G, game.D, cfg.train.batch_size
    g_calls = []
    G.register_forward_hook(lambda module, args, out: g_calls.append(out.requires_grad))
    for i in range(2):
        loss_d, real_logits, fake_logits = game.d_step(i, last=i == 1)
        assert loss_d.ndim == 0 and torch.isfinite(loss_d) and loss_d.requires_grad
        assert real_logits.shape == fake_logits.shape and real_logits.shape[0] == B
        assert game.counters.images == (i + 1) * B  # each D step draws a fresh real batch
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
    assert g_calls == [False, True]  # only the last D step keeps G's graph
    opt_g.zero_grad(set_to_none=True)
    loss_g = game.g_step()
    assert loss_g.ndim == 0 and torch.isfinite(loss_g)
    assert len(g_calls) == 2  # the G step reused the last fake batch: no G forward of its own
    loss_g.backward()
    assert all(p.grad is not None for p in G.parameters())
    assert all(not p.requires_grad for p in D.parameters())  # D is frozen through the G step
    with pytest.raises(RuntimeError, match="needs a d_step"):
        game.g_step()  # a second G step has no fake batch to reuse
    game.d_step(0, last=False)
    with pytest.raises(RuntimeError, match="needs a d_step"):
        game.g_step()  # nor after a D step that dropped G's graph


@pytest.mark.parametrize("overrides", [
    (),
    ("train.d_steps=2", "augment.policy=translation", "loss.r1_gamma=1", "loss.r1_every=2"),
    ("loss.name=relativistic", "loss.pl_weight=1", "loss.pl_every=1", "loss.instance_noise=0.1", "model.pack=2"),
])
def test_the_loop_is_the_game_plus_backward_and_steps_bitwise(tmp_path, tiny_idx_dir, overrides):
    steps = 3
    cfg = tiny_config(tmp_path / "run", tiny_idx_dir, *overrides)
    k, B = cfg.train.d_steps, cfg.train.batch_size
    cfg = tiny_config(tmp_path / "run", tiny_idx_dir, *overrides, f"train.kimg={steps * k * B / 1000}")
    run = train(cfg, progress=False)
    weights, state, _ = load_checkpoint(complete_checkpoints(run)[-1])
    assert state["counters"]["step"] == steps

    game, opt_g, opt_d = _setup(cfg)
    game.G.train(), game.D.train()
    for _ in range(steps):
        for i in range(k):
            loss_d, real_logits, _ = game.d_step(i, last=i == k - 1)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            game.reg.after_d_step(game.D, real_logits, B)
        loss_g = game.g_step()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        game.counters.step += 1
    for name, net in (("G", game.G), ("D", game.D)):
        mine = net.state_dict()
        assert mine.keys() == weights[name].keys()
        assert all(torch.equal(mine[key], weights[name][key]) for key in mine), name


def test_an_unconditional_checkpoint_has_no_game_state(tiny_cfg):
    run = train(tiny_cfg, progress=False)
    _, state, config_text = load_checkpoint(complete_checkpoints(run)[-1])
    assert "game" not in state  # the checkpoint format is what it was before games existed
    assert 'game = "unconditional"' in config_text


def test_a_config_without_train_game_resumes_as_unconditional_without_a_change(tmp_path, tiny_idx_dir):
    cfg = tiny_config(tmp_path / "run", tiny_idx_dir)
    old_text = "\n".join(line for line in cfg.dumps().splitlines() if not line.startswith("game ="))
    assert "game" not in old_text  # as checkpoints wrote it before the field existed
    assert config_changes(old_text, cfg) == ({}, {})
    other = tiny_config(tmp_path / "run", tiny_idx_dir, "train.game=conditional", "model.conditional=projection")
    assert config_changes(old_text, other) == ({"train.game": ["unconditional", "conditional"],
                                                "model.conditional": ["none", "projection"]}, {})


class CountingGame(UnconditionalGame):
    """An unconditional game that also keeps state of its own (as an image pool would)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.d_steps_taken = 0

    def d_step(self, i, last):
        self.d_steps_taken += 1
        return super().d_step(i, last)

    def state_dict(self):
        return {"d_steps_taken": self.d_steps_taken}

    def load_state_dict(self, state):
        self.d_steps_taken = int(state["d_steps_taken"])


def test_a_games_own_state_rides_in_the_checkpoint_and_comes_back_on_resume(tmp_path, tiny_idx_dir, monkeypatch,
                                                                           capsys):
    monkeypatch.setitem(GAMES, "counting", CountingGame)
    out = tmp_path / "run"
    train(tiny_config(out, tiny_idx_dir, "train.game=counting", "train.kimg=0.064"), progress=False)
    _, state, _ = load_checkpoint(complete_checkpoints(out)[-1])
    assert state["game"] == {"d_steps_taken": 4}
    train(tiny_config(out, tiny_idx_dir, "train.game=counting", "train.kimg=0.128"), progress=False, resume=True)
    _, state, _ = load_checkpoint(complete_checkpoints(out)[-1])
    assert state["game"] == {"d_steps_taken": 8}  # restored at 4, then 4 more

    # A checkpoint lacking the game's state is refused, or resumed with it reset when inexact is allowed.
    unconditional = tmp_path / "plain"
    train(tiny_config(unconditional, tiny_idx_dir, "train.kimg=0.064"), progress=False)
    with pytest.raises(Exception, match="lacks the game state"):
        train(tiny_config(unconditional, tiny_idx_dir, "train.game=counting", "train.kimg=0.128"),
              progress=False, resume=True, allow_config_change=True)
    train(tiny_config(unconditional, tiny_idx_dir, "train.game=counting", "train.kimg=0.128"),
          progress=False, resume=True, allow_config_change=True, allow_inexact=True)
    captured = capsys.readouterr()
    assert "lacks the game state; reset" in captured.out + captured.err
