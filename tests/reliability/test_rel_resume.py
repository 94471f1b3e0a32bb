"""Exact resume (issue 5): the checkpoint holds everything the next step depends on; a resume in a
new process is bitwise identical to training straight through; a state lacking parts is refused
unless an inexact resume is asked for; --resume says which checkpoints it skipped and why."""

from __future__ import annotations

import io
import random
import shutil

import numpy as np
import pytest
import torch

from gankit.cli import main
from gankit.io.checkpoint import CheckpointError, complete_checkpoints, find_latest, load_checkpoint
from gankit.training.loop import train
from gankit.training.state import Counters, IncompleteState, capture, missing_parts, restore


def _optimizers():
    lin = torch.nn.Linear(3, 2)
    opt_g, opt_d = torch.optim.Adam(lin.parameters()), torch.optim.Adam(torch.nn.Linear(2, 1).parameters())
    lin(torch.randn(4, 3)).sum().backward()
    opt_g.step()
    return opt_g, opt_d


def _draws(noise):
    return (random.random(), random.gauss(0, 1), np.random.rand(3).tolist(), np.random.randn(),
            torch.rand(3).tolist(), torch.randn(2, generator=noise).tolist())


def test_state_holds_every_rng_as_plain_data_and_restores_it():
    noise = torch.Generator().manual_seed(3)
    opt_g, opt_d = _optimizers()
    random.gauss(0, 1)        # leaves a cached second Gaussian in Python's RNG ...
    np.random.randn()         # ... and in NumPy's: both must be part of the state
    counters = Counters(step=7, images=112, epoch=1, epoch_pos=32, seconds=1.5)
    state = capture(counters, opt_g, opt_d, noise)
    buf = io.BytesIO()
    torch.save(state, buf)
    loaded = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)  # plain data only
    assert set(loaded["rng"]) >= {"torch", "noise", "python", "numpy"} and missing_parts(loaded) == []
    expected = _draws(noise)
    _draws(noise), _draws(noise)  # move every RNG on
    fresh = Counters()
    assert restore(loaded, fresh, opt_g, opt_d, noise) == []
    assert fresh == counters
    assert _draws(noise) == expected


@pytest.mark.parametrize("drop", ["rng", "rng.numpy", "rng.python", "opt_d", "counters"])
def test_missing_parts_are_named_and_refused(drop):
    noise = torch.Generator().manual_seed(0)
    opt_g, opt_d = _optimizers()
    state = capture(Counters(step=3), opt_g, opt_d, noise)
    section, _, part = drop.partition(".")
    del (state[section] if part else state)[part or section]
    with pytest.raises(IncompleteState) as e:
        restore(state, Counters(), opt_g, opt_d, noise)
    assert e.value.missing == [drop]
    if drop == "counters":  # nothing to resume from: refused even when inexact resumes are allowed
        with pytest.raises(IncompleteState, match="nothing to resume"):
            restore(state, Counters(), opt_g, opt_d, noise, allow_inexact=True)
    else:
        assert "--allow-inexact-resume" in str(e.value)
        counters = Counters()
        assert restore(state, counters, opt_g, opt_d, noise, allow_inexact=True) == [drop]
        assert counters.step == 3


def test_resume_in_a_new_process_is_bitwise_exact(tmp_path, cfg_for, rel, capsys):
    """24 steps straight == 6 steps (mid-epoch), resumed in a new process to 16 (the epoch end),
    resumed again (a resume of a resumed run) to 24: weights, optimizer state, counters, RNGs
    at steps 16 and 24, and every per-step loss."""
    every = "train.checkpoint_every_kimg=0.256"  # a checkpoint at step 16 in both runs
    straight = train(cfg_for(tmp_path / "straight", 24, every), progress=False)
    run = train(cfg_for(tmp_path / "resumed", 6, every), progress=False)
    assert load_checkpoint(complete_checkpoints(run)[-1])[1]["counters"]["epoch_pos"] == 6 * 16  # mid-epoch

    proc = rel.run_cli("train", "--resume", run, "--kimg", rel.kimg_for(16), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "resuming from" in proc.stdout and "step_000000006" in proc.stdout
    state16 = load_checkpoint(rel.checkpoint_at(run, 16))[1]
    assert state16["counters"]["epoch"] == 1 and state16["counters"]["epoch_pos"] == 0  # an epoch end

    assert main(["train", "--resume", str(run), "--kimg", str(rel.kimg_for(24)), "--no-progress"]) == 0
    assert "step_000000016" in capsys.readouterr().out

    assert rel.losses(straight) == rel.losses(run)
    assert [r[0] for r in rel.losses(run)] == list(range(1, 25))
    for step in (16, 24):
        rel.assert_same_state(rel.checkpoint_at(straight, step), rel.checkpoint_at(run, step))


def _forge_state(ckpt, rel, edit):
    """Change a checkpoint's state.pt with `edit(state)` and fix its manifest to match."""
    _, state, _ = load_checkpoint(ckpt)
    edit(state)
    buf = io.BytesIO()
    torch.save(state, buf)
    (ckpt / "state.pt").write_bytes(buf.getvalue())
    rel.rehash(ckpt)


@pytest.mark.parametrize("part", ["rng", "opt_d"])
def test_a_state_missing_a_part_refuses_to_resume_unless_allowed(tmp_path, cfg_for, rel, part, capsys):
    run = train(cfg_for(tmp_path / "run", 4), progress=False)
    ckpt = complete_checkpoints(run)[-1]
    _forge_state(ckpt, rel, lambda state: state.pop(part))
    config_before = (run / "config.toml").read_text()

    with pytest.raises(CheckpointError) as e:
        train(cfg_for(run, 6), resume=True, progress=False)
    msg = str(e.value)
    assert str(ckpt / "state.pt") in msg and part in msg and "--allow-inexact-resume" in msg
    assert complete_checkpoints(run) == [ckpt] and (run / "config.toml").read_text() == config_before

    capsys.readouterr()
    train(cfg_for(run, 6), resume=True, allow_inexact=True, progress=False)
    out = capsys.readouterr().out
    assert "warning: inexact resume" in out and part in out
    assert load_checkpoint(find_latest(run)[0])[1]["counters"]["step"] == 6


def test_inexact_resume_through_the_cli(tmp_path, cfg_for, rel, capsys):
    run = train(cfg_for(tmp_path / "run", 4), progress=False)
    _forge_state(complete_checkpoints(run)[-1], rel, lambda state: state["rng"].pop("numpy"))
    argv = ["train", "--resume", str(run), "--kimg", str(rel.kimg_for(6)), "--no-progress"]
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gankit: error: ") and "Traceback" not in err
    assert "rng.numpy" in err and "--allow-inexact-resume" in err
    assert main([*argv, "--allow-inexact-resume"]) == 0
    assert "warning: inexact resume" in capsys.readouterr().out
    assert main(["train", "--allow-inexact-resume", "--kimg", "1", "--out", str(tmp_path / "new")]) == 1
    assert "only means something with --resume" in capsys.readouterr().err


def test_resume_picks_the_newest_complete_checkpoint_and_says_what_it_skipped(tmp_path, cfg_for, rel, capsys):
    every = ("train.checkpoint_every_kimg=0.064", "train.keep_checkpoints=3")  # checkpoints at steps 4 and 8
    run = train(cfg_for(tmp_path / "run", 8, *every), progress=False)
    ck = run / "checkpoints"
    assert [p.name for p in complete_checkpoints(run)] == ["step_000000004", "step_000000008"]
    damaged = ck / "step_000000008" / "D.safetensors"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))
    shutil.copytree(ck / "step_000000004", ck / "step_000000012")          # incomplete: no marker
    (ck / "step_000000012" / "COMPLETE").unlink()
    shutil.copytree(ck / "step_000000004", ck / "step_000000010")          # truncated state
    state = ck / "step_000000010" / "state.pt"
    state.write_bytes(state.read_bytes()[:100])
    shutil.copytree(ck / "step_000000004", ck / ".tmp-step_000000016")     # a killed save's leftovers
    capsys.readouterr()

    assert main(["train", "--resume", str(run), "--kimg", str(rel.kimg_for(6)), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "skipping step_000000012" in out and "incomplete" in out
    assert "skipping step_000000010" in out and "state.pt is damaged" in out
    assert "skipping step_000000008" in out and "D.safetensors is damaged" in out
    assert "resuming from" in out and "step_000000004" in out and ".tmp-" not in out

    names = sorted(p.name for p in ck.iterdir())
    assert ".tmp-step_000000016" not in names  # cleaned by the next save
    assert "step_000000006" in names and "step_000000004" in names  # the new one and the older good one
    # The damaged later checkpoints are left for inspection and skipped again; the new one is picked.
    assert find_latest(run)[0].name == "step_000000006"
    straight = train(cfg_for(tmp_path / "straight", 6, *every), progress=False)
    # The lines of steps 5..8 from before the resume are dropped (the resume starts at step 4):
    # each step is logged once, with the values of a run that never stopped.
    assert "dropped 4 metrics.jsonl line(s) logged after step 4" in out
    logged = rel.losses(run)
    assert [r[0] for r in logged] == [1, 2, 3, 4, 5, 6]
    assert rel.losses(straight) == logged
    rel.assert_same_state(rel.checkpoint_at(straight, 6), rel.checkpoint_at(run, 6))
