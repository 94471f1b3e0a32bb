"""Exact resume of an image-to-image run: the paired game's degradations come from the loop's noise
generator and G's dropout from torch's global RNG, both checkpointed, so a resumed run is bitwise
the run trained straight through (weights, EMA, optimizer states, RNGs, every logged loss part)."""

from __future__ import annotations

import pytest

from gankit.io.logs import read_metrics
from gankit.training.loop import train

from helpers import tiny_config


def _cfg(out, data_dir, steps, task, *extra):
    return tiny_config(out, data_dir, "model.arch=unet", f"data.task={task}", "data.scale=2", "train.kimg=0",
                       f"train.kimg={steps * 16 / 1000}", "train.log_every=1", "model.ema_half_life_kimg=0.1",
                       "train.checkpoint_every_kimg=0.128", *extra)


@pytest.mark.parametrize("task,extra", [("inpaint", ("data.mask=strokes",)),
                                        ("superres", ("loss.r1_gamma=1", "loss.r1_every=2",
                                                      "augment.policy=translation"))])
def test_paired_resume_is_bitwise_exact(tmp_path, tiny_idx_dir, rel, task, extra):
    straight = train(_cfg(tmp_path / "straight", tiny_idx_dir, 16, task, *extra), progress=False)
    run = train(_cfg(tmp_path / "resumed", tiny_idx_dir, 5, task, *extra), progress=False)
    train(_cfg(tmp_path / "resumed", tiny_idx_dir, 16, task, *extra), resume=True, progress=False)
    for step in (8, 16):
        rel.assert_same_state(rel.checkpoint_at(straight, step), rel.checkpoint_at(run, step))
    parts = lambda r: [(m["step"], m["l1"], m["adversarial"], m["loss_d"]) for m in read_metrics(r) if "l1" in m]
    assert parts(straight) == parts(run) and len(parts(run)) == 16
