"""SIGTERM and Ctrl-C during training (issue 5): the current step finishes, a checkpoint is written,
the exit status is 143 / 130, and resuming from that checkpoint matches an uninterrupted run.

The signal lands at a step that varies from run to run, so the stop step is read from the
checkpoint and the uninterrupted run is trained for the same total number of steps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from gankit.cli import main
from gankit.io.checkpoint import complete_checkpoints, find_latest, load_checkpoint
from gankit.io.logs import read_metrics
from gankit.training.loop import train


def _wait_for_steps(run, n: int, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while len(read_metrics(run)) < n:  # lines are only written inside the training loop
        assert time.time() < deadline, "training did not start"
        time.sleep(0.02)


def _stopped_run(tmp_path, cfg_for):
    cfg = cfg_for(tmp_path / "run", 1, "train.kimg=0", "train.minutes=10")  # far more than the test waits
    cfg.save(tmp_path / "cfg.toml")
    return cfg


def _resume_and_compare(tmp_path, run, cfg_for, rel, extra: int = 3) -> None:
    (ckpt,) = complete_checkpoints(run)
    stop = load_checkpoint(ckpt)[1]["counters"]["step"]
    assert stop >= 2 and ckpt.name == f"step_{stop:09d}"
    assert read_metrics(run)[-1]["step"] == stop  # the checkpoint holds the last finished step
    assert main(["train", "--resume", str(run), "--kimg", str(rel.kimg_for(stop + extra)), "--no-progress"]) == 0
    straight = train(cfg_for(tmp_path / "straight", stop + extra), progress=False)
    assert rel.losses(straight) == rel.losses(run)
    rel.assert_same_state(complete_checkpoints(straight)[-1], complete_checkpoints(run)[-1])


def test_sigterm_checkpoints_exits_143_and_resumes_exactly(tmp_path, cfg_for, rel, capsys):
    cfg = _stopped_run(tmp_path, cfg_for)
    proc = subprocess.Popen([sys.executable, "-m", "gankit", "train", "--config", str(tmp_path / "cfg.toml"),
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_steps(cfg.out, 2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert "state saved in" in err and "Traceback" not in err and err.count("\n") == 1
    assert (tmp_path / "run" / "generator" / "model.safetensors").is_file()
    _resume_and_compare(tmp_path, tmp_path / "run", cfg_for, rel)


def test_ctrl_c_checkpoints_exits_130_and_resumes_exactly(tmp_path, cfg_for, rel, capsys):
    cfg = _stopped_run(tmp_path, cfg_for)

    def press_ctrl_c():
        _wait_for_steps(cfg.out, 2)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c, daemon=True)
    presser.start()
    assert main(["train", "--config", str(tmp_path / "cfg.toml"), "--no-progress"]) == 130
    presser.join()
    err = capsys.readouterr().err
    assert "interrupted by signal 2; state saved in" in err and "Traceback" not in err
    _resume_and_compare(tmp_path, tmp_path / "run", cfg_for, rel)


# ---- issue 10, item 1: a kill -9 loses at most about one checkpoint period; a second Ctrl-C

def test_default_checkpoint_cadence_is_half_a_training_minute():
    from gankit import config as C
    assert C.TrainConfig().checkpoint_every_minutes == 0.5 and C.TrainConfig().checkpoint_every_kimg == 0
    default = C.resolve(preset="fashion-dcgan")
    assert default.train.checkpoint_every_minutes == 0.5 and default.train.checkpoint_every_kimg == 0


def _start(tmp_path, cfg) -> subprocess.Popen:
    cfg.save(tmp_path / "cfg.toml")
    return subprocess.Popen([sys.executable, "-m", "gankit", "train", "--config", str(tmp_path / "cfg.toml"),
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _seconds(ckpt) -> float:
    return load_checkpoint(ckpt)[1]["counters"]["seconds"]


def test_kill_9_loses_at_most_one_checkpoint_period(tmp_path, cfg_for, rel):
    """The default cadence is by training time; 0.02 minutes here (the default is 1) keeps it short."""
    period = 0.02 * 60
    cfg = cfg_for(tmp_path / "run", 1, "train.kimg=0", "train.minutes=10", "train.checkpoint_every_minutes=0.02")
    proc = _start(tmp_path, cfg)
    try:
        deadline = time.time() + 120
        while len(complete_checkpoints(cfg.out)) < 2:
            assert time.time() < deadline and proc.poll() is None, "no periodic checkpoints"
            time.sleep(0.05)
        time.sleep(period * 0.7)
    finally:
        proc.kill()  # kill -9
        proc.communicate()
    ckpts = complete_checkpoints(cfg.out)[-2:]  # a kill between a save's rename and its prune leaves 3
    # between two checkpoints, and from the newest to the kill: about one period of training time
    assert period <= _seconds(ckpts[1]) - _seconds(ckpts[0]) <= period + 1.0
    assert read_metrics(cfg.out)[-1]["seconds"] - _seconds(ckpts[1]) <= period + 1.0
    assert main(["train", "--resume", str(cfg.out), "--kimg", str(rel.kimg_for(
        load_checkpoint(ckpts[1])[1]["counters"]["step"] + 2)), "--no-progress"]) == 0


def test_two_ctrl_c_50ms_apart_keep_the_newest_checkpoint_and_say_so(tmp_path, cfg_for, rel):
    cfg = cfg_for(tmp_path / "run", 1, "train.kimg=0", "train.minutes=10", "train.checkpoint_every_minutes=0.01")
    proc = _start(tmp_path, cfg)
    try:
        deadline = time.time() + 120
        while not complete_checkpoints(cfg.out):
            assert time.time() < deadline and proc.poll() is None, "no periodic checkpoint"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    # Which message depends on where the second signal lands; a tiny model's stop save is quick,
    # so it may land after the save, with all said already.
    assert err.startswith(("gankit: second interrupt: stopped ", "gankit: interrupted by signal 2; state saved")), err
    ckpt, skipped = find_latest(cfg.out)
    assert not skipped and str(ckpt) in err  # the checkpoint named is the newest, and it verifies
    step = load_checkpoint(ckpt)[1]["counters"]["step"]
    assert f"step {step:,}" in err
    assert f"gankit train --resume {cfg.out}" in err
    assert main(["train", "--resume", str(cfg.out), "--kimg", str(rel.kimg_for(step + 2)), "--no-progress"]) == 0


def test_second_interrupt_during_the_stop_save_lets_it_finish(tmp_path, cfg_for, monkeypatch, capsys):
    """Deterministic: the second SIGINT lands inside the stop save, which completes; the export is
    finished too (one protected block) and the message names the saved step."""
    from gankit.training import loop
    real_save = loop.save_checkpoint

    def save(run_dir, step, *args, **kwargs):
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C, once the stop save has begun
        return real_save(run_dir, step, *args, **kwargs)

    calls = {"n": 0}
    real_next = loop.Batches.next

    def next_batch(self):
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl-C, during step 2
        return real_next(self)

    monkeypatch.setattr(loop, "save_checkpoint", save)
    monkeypatch.setattr(loop.Batches, "next", next_batch)
    cfg = cfg_for(tmp_path / "run", 50, "train.checkpoint_every_minutes=0")
    cfg.save(tmp_path / "cfg.toml")
    assert main(["train", "--config", str(tmp_path / "cfg.toml"), "--no-progress"]) == 130
    err = capsys.readouterr().err
    ckpt, skipped = find_latest(cfg.out)
    assert not skipped and ckpt.name == "step_000000002"
    assert f"second interrupt: stopped after saving step 2 in {ckpt} (32 images)" in err
    assert json.loads((Path(cfg.out) / "generator" / "config.json").read_text())["steps"] == 2


def test_second_interrupt_mid_step_stops_without_saving_it(tmp_path, cfg_for, monkeypatch, capsys):
    """Both Ctrl-C inside step 4 (checkpoints every 2 steps): step 3 is not saved, and the message
    names step 2's checkpoint as the newest."""
    from gankit.training import loop
    calls = {"n": 0}
    real_next = loop.Batches.next

    def next_batch(self):
        calls["n"] += 1
        if calls["n"] == 4:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return real_next(self)

    monkeypatch.setattr(loop.Batches, "next", next_batch)
    cfg = cfg_for(tmp_path / "run", 50, "train.checkpoint_every_minutes=0", "train.checkpoint_every_kimg=0.032")
    cfg.save(tmp_path / "cfg.toml")
    assert main(["train", "--config", str(tmp_path / "cfg.toml"), "--no-progress"]) == 130
    err = capsys.readouterr().err
    ckpt, skipped = find_latest(cfg.out)
    assert not skipped and ckpt.name == "step_000000002"
    assert (f"gankit: second interrupt: stopped without saving step 3; newest complete checkpoint: {ckpt} "
            f"(step 2, 32 images); continue with gankit train --resume {cfg.out}\n") == err
    assert not (Path(cfg.out) / "generator").exists()
