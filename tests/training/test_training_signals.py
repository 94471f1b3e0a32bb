"""SIGTERM / Ctrl-C: the current step finishes, a checkpoint is written, the exit code is conventional."""

import signal
import subprocess
import sys
import time

import pytest

from gankit.io.checkpoint import complete_checkpoints
from gankit.io.logs import read_metrics

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
