"""SIGTERM and Ctrl-C during training (issue 5): the current step finishes, a checkpoint is written,
the exit status is 143 / 130, and resuming from that checkpoint matches an uninterrupted run.

The signal lands at a step that varies from run to run, so the stop step is read from the
checkpoint and the uninterrupted run is trained for the same total number of steps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from gankit.cli import main
from gankit.io.checkpoint import complete_checkpoints, load_checkpoint
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
