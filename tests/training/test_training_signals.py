"""SIGTERM / Ctrl-C: the current step finishes, a checkpoint is written, the exit code is conventional."""

import signal
import subprocess
import sys
import time

import pytest

from gankit.io.checkpoint import complete_checkpoints
from gankit.io.logs import read_metrics
from gankit.training.loop import train

from helpers import tiny_config


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_saves_a_checkpoint_and_exits_conventionally(tmp_path, tiny_idx_dir, sig, code):
    cfg = tiny_config(tmp_path / "run", tiny_idx_dir, "train.kimg=0", "train.minutes=5", "train.log_every=1")
    cfg.save(tmp_path / "cfg.toml")
    proc = subprocess.Popen([sys.executable, "-m", "gankit", "train", "--config", str(tmp_path / "cfg.toml"),
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not read_metrics(cfg.out) and time.time() < deadline:  # wait until training really runs
        time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "state saved in" in err and "Traceback" not in err
    ckpts = complete_checkpoints(cfg.out)
    assert len(ckpts) == 1
    assert (tmp_path / "run" / "generator" / "model.safetensors").is_file()
    steps = read_metrics(cfg.out)[-1]["step"]
    assert int(ckpts[0].name.split("_")[1]) == steps  # the checkpoint holds the last finished step


def test_the_log_is_closed_when_training_ends_in_an_exception(tmp_path, tiny_idx_dir, monkeypatch):
    """A second Ctrl-C (KeyboardInterrupt mid-step) still closes metrics.jsonl and the TensorBoard
    writer, which flushes its last events only on close."""
    from gankit.io.logs import MetricsLog
    from gankit.training.games import UnconditionalGame
    closed, calls = [], []
    real_close, real_g_step = MetricsLog.close, UnconditionalGame.g_step
    monkeypatch.setattr(MetricsLog, "close", lambda self: (closed.append(True), real_close(self))[1])

    def g_step(self):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_g_step(self)

    monkeypatch.setattr(UnconditionalGame, "g_step", g_step)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(tmp_path / "run", tiny_idx_dir), progress=False)
    assert closed
