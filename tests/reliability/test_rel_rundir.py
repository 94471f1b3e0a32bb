"""Run folders (issue 10): --overwrite deletes only a run's own files, one writer at a time, a failed
start never blocks its rerun, and a resume does not silently change the game. Every piece of
advice a refusal gives is followed here, to check that it works."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from gankit.cli import main
from gankit.io.checkpoint import complete_checkpoints, find_latest
from gankit.io.logs import read_metrics
from gankit.io.rundir import LOCK_NAME
from gankit.losses import adversarial
from gankit.training import loop
from gankit.training.loop import TrainingDiverged, train


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


def _train_cli(cfg, tmp_path, *args) -> int:
    """`gankit train --config CFG ARGS` in this process (the config file of `cfg` is written first)."""
    path = tmp_path / f"{os.path.basename(cfg.out)}.toml"
    cfg.save(path)
    return main(["train", "--config", str(path), "--no-progress", *map(str, args)])


# ---- item 2: --overwrite deletes nothing but a run's own files

def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path, cfg_for, capsys):
    proj = tmp_path / "proj"
    (proj / "src").mkdir(parents=True)
    (proj / "src" / "main.py").write_text("code\n")
    cfg = cfg_for(proj, 2)
    for flags in ((), ("--overwrite",)):
        assert _train_cli(cfg, tmp_path, *flags) == 1
        err = _err(capsys)
        assert "not a gankit run" in err and "--overwrite" not in err and "already holds a run" not in err
        assert "choose another --out" in err
    assert (proj / "src" / "main.py").read_text() == "code\n"
    assert sorted(p.name for p in proj.iterdir()) == ["src"]  # not even a lock file was left
    (proj / "config.toml").write_text(cfg.dumps())  # the user's own config beside their code
    assert main(["train", "--resume", str(proj), "--no-progress"]) == 1
    assert "nothing to resume (it holds no gankit run)" in _err(capsys)
    assert sorted(p.name for p in proj.iterdir()) == ["config.toml", "src"]
    # the advice: another --out
    assert _train_cli(cfg, tmp_path, "--out", tmp_path / "elsewhere") == 0
    capsys.readouterr()


def test_overwrite_of_a_run_keeps_the_users_files(tmp_path, cfg_for, capsys):
    run = tmp_path / "run"
    assert _train_cli(cfg_for(run, 4), tmp_path) == 0
    (run / "notes.txt").write_text("mine\n")
    (run / "src").mkdir()
    (run / "src" / "a.py").write_text("x = 1\n")
    assert _train_cli(cfg_for(run, 4), tmp_path) == 1  # a plain rerun: refused, with advice ...
    assert "already holds a run; use --resume" in _err(capsys)
    assert _train_cli(cfg_for(run, 2), tmp_path, "--overwrite") == 0  # ... that works
    out = capsys.readouterr().out
    assert "--overwrite: removed" in out and "kept notes.txt, src/" in out
    assert (run / "notes.txt").read_text() == "mine\n" and (run / "src" / "a.py").read_text() == "x = 1\n"
    assert [p.name for p in complete_checkpoints(run)] == ["step_000000002"]  # the old run's step 4 is gone
    assert max(r["step"] for r in read_metrics(run)) == 2


# ---- item 3: one writer per run folder

HOLD_LOCK = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    from gankit.io.rundir import RunLock
    with RunLock(Path(sys.argv[1])):
        print("locked", flush=True)
        time.sleep(120)
''')


def test_second_writer_is_refused_naming_the_holder(tmp_path, cfg_for, capsys):
    run = tmp_path / "run"
    assert _train_cli(cfg_for(run, 2), tmp_path) == 0
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert _train_cli(cfg_for(run, 4), tmp_path, "--overwrite") == 1
        err = _err(capsys)
        assert f"in use by another gankit training (PID {holder.pid})" in err
        assert main(["train", "--resume", str(run), "--kimg", "0.064", "--no-progress"]) == 1
        assert f"PID {holder.pid}" in _err(capsys)
        assert [p.name for p in complete_checkpoints(run)] == ["step_000000002"]  # nothing was deleted
    finally:
        holder.kill()
        holder.wait()
    # the advice: once the holder is gone, run it again
    assert _train_cli(cfg_for(run, 4), tmp_path, "--overwrite") == 0
    capsys.readouterr()


def test_overwrite_while_training_is_refused_and_the_run_stays_whole(tmp_path, cfg_for, capsys):
    """The issue's case: start a training, then a second one with --overwrite on the same folder."""
    run = tmp_path / "run"
    cfg = cfg_for(run, 1, "train.kimg=0", "train.minutes=10")
    cfg.save(tmp_path / "first.toml")
    first = subprocess.Popen([sys.executable, "-m", "gankit", "train", "--config", str(tmp_path / "first.toml"),
                              "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 90
        while len(read_metrics(run)) < 2:
            assert time.time() < deadline and first.poll() is None, "training did not start"
            time.sleep(0.05)
        assert _train_cli(cfg_for(run, 2), tmp_path, "--overwrite") == 1
        assert f"(PID {first.pid})" in _err(capsys)
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=90)
    finally:
        first.kill()
    assert first.returncode == 143, err
    ckpt, skipped = find_latest(run)
    assert not skipped and all(r["step"] <= int(ckpt.name[5:]) for r in read_metrics(run))
    assert read_metrics(run)[0]["step"] == 1  # one run's log, from its start


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, cfg_for, capsys):
    run = tmp_path / "run"
    assert _train_cli(cfg_for(run, 2), tmp_path) == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run / LOCK_NAME).write_text(f"{dead.pid}\n")  # as a killed training leaves it
    assert main(["train", "--resume", str(run), "--kimg", "0.064", "--no-progress"]) == 0
    assert (run / LOCK_NAME).read_text() == f"{os.getpid()}\n"
    assert complete_checkpoints(run)[-1].name == "step_000000004"
    capsys.readouterr()


# ---- item 4: a start that fails leaves nothing that blocks a rerun

def test_too_small_dataset_fails_before_writing_and_the_advice_works(tmp_path, capsys):
    from PIL import Image
    one = tmp_path / "one"
    one.mkdir()
    Image.new("L", (28, 28), 128).save(one / "a.png")
    out = tmp_path / "runs" / "one"
    argv = ["train", "--data", str(one), "--out", str(out), "--kimg", "0.004", "--no-progress",
            "--set", "model.width=8", "--set", "model.z_dim=8", "--set", "train.threads=1"]
    assert main(argv) == 1
    err = _err(capsys)
    assert "train.batch_size: 64 is larger than the dataset (1 example" in err and "--set train.batch_size=1" in err
    assert not out.exists() and not out.parent.exists()  # nor the runs/ folder the start created
    assert main(argv + ["--set", "train.batch_size=1"]) == 0
    assert (out / "generator" / "model.safetensors").is_file()
    capsys.readouterr()


def test_kill_before_the_first_checkpoint_does_not_block_a_rerun(tmp_path, cfg_for, capsys):
    run = tmp_path / "run"
    cfg = cfg_for(run, 1, "train.kimg=0", "train.minutes=10", "train.checkpoint_every_minutes=0")
    cfg.save(tmp_path / "cfg.toml")
    proc = subprocess.Popen([sys.executable, "-m", "gankit", "train", "--config", str(tmp_path / "cfg.toml"),
                             "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 90
        while len(read_metrics(run)) < 2:
            assert time.time() < deadline and proc.poll() is None, "training did not start"
            time.sleep(0.05)
    finally:
        proc.kill()  # kill -9: no checkpoint was ever written
        proc.wait()
    assert complete_checkpoints(run) == []
    assert main(["train", "--resume", str(run), "--no-progress"]) == 1
    err = _err(capsys)
    again = f"gankit train --config {run / 'config.toml'} --out {run}"
    assert "nothing to resume" in err and again in err
    # the advice (with a short budget of our own)
    assert main([*again.split()[1:], "--kimg", "0.032", "--no-progress"]) == 0
    assert "replacing an unfinished run" in capsys.readouterr().out
    assert [p.name for p in complete_checkpoints(run)] == ["step_000000002"]
    assert [r["step"] for r in read_metrics(run)] == [1, 2]  # none of the killed run's lines


def test_diverged_run_without_a_checkpoint_does_not_block_a_rerun(tmp_path, cfg_for, monkeypatch, capsys):
    pair = adversarial.LOSSES["nonsaturating"]
    monkeypatch.setattr(loop, "make_loss", lambda name, smoothing=0.0: pair._replace(
        d_loss=lambda real, fake: pair.d_loss(real, fake) * float("nan")))
    cfg = cfg_for(tmp_path / "run", 8, "diagnostics.max_rollbacks=1")
    with pytest.raises(TrainingDiverged):
        train(cfg, progress=False)
    monkeypatch.undo()
    assert str(train(cfg, progress=False)) == cfg.out  # the same command again
    assert "replacing an unfinished run" in capsys.readouterr().out
    assert not [r for r in read_metrics(cfg.out) if "alarm" in r]


# ---- item 13: a resume does not silently change the game

def test_resume_refuses_a_game_change_unless_allowed(tmp_path, cfg_for, capsys):
    run = tmp_path / "run"
    assert _train_cli(cfg_for(run, 2), tmp_path) == 0
    config_before = (run / "config.toml").read_text()
    generator_before = (run / "generator" / "config.json").read_text()
    assert main(["train", "--resume", str(run), "--kimg", "0.064", "--set", "loss.name=lsgan",
                 "--no-progress"]) == 1
    err = _err(capsys)
    assert "changes the game" in err and "loss.name 'nonsaturating' -> 'lsgan'" in err
    assert "--allow-config-change" in err
    assert (run / "config.toml").read_text() == config_before
    assert (run / "generator" / "config.json").read_text() == generator_before
    # the advice's other way: a new run from the stored config with the change
    assert main(["train", "--config", str(run / "config.toml"), "--out", str(tmp_path / "new"), "--kimg", "0.032",
                 "--set", "loss.name=lsgan", "--no-progress"]) == 0
    # a longer budget is no change of the game
    assert main(["train", "--resume", str(run), "--kimg", "0.064", "--no-progress"]) == 0
    assert "config changed on resume: train.kimg 0.024 -> 0.064" in capsys.readouterr().out
    # the advice
    assert main(["train", "--resume", str(run), "--kimg", "0.096", "--set", "loss.name=lsgan",
                 "--allow-config-change", "--no-progress"]) == 0
    assert "loss.name 'nonsaturating' -> 'lsgan'" in capsys.readouterr().out
    (change,) = [r for r in read_metrics(run) if "config_change" in r]
    assert change["step"] == 4 and change["config_change"]["loss.name"] == ["nonsaturating", "lsgan"]
    assert json.loads((run / "generator" / "config.json").read_text())["config"]["loss"]["name"] == "lsgan"


def test_tensorboard_holds_one_value_per_step_after_a_resume(tmp_path, cfg_for, rel):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    run = tmp_path / "run"
    train(cfg_for(run, 6, f"train.checkpoint_every_kimg={3 * 16 / 1000}"), progress=False)
    for path in complete_checkpoints(run):  # as if killed after logging step 6, before saving it
        if path.name == "step_000000006":
            import shutil
            shutil.rmtree(path)
    train(cfg_for(run, 8), resume=True, progress=False)
    acc = EventAccumulator(str(run))
    acc.Reload()
    steps = [e.step for e in acc.Scalars("loss_d")]
    assert steps == [r["images"] for r in read_metrics(run) if "loss_d" in r] == [16 * i for i in range(1, 9)]
