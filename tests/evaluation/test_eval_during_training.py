"""Evaluation while training: the schedule, the metrics.jsonl lines, generator-best/, and that it
changes nothing about the training itself."""

from __future__ import annotations

import json
import re
import math

import pytest
import safetensors.torch

from gankit.config import ConfigError
from gankit.evaluation import evaluate
from gankit.io.logs import read_metrics
from gankit.training.evaluate import BEST_FOLDER, TrainEvaluator
from gankit.training.loop import train

from helpers import tiny_config

NUM = 128
KIMG = ("train.kimg=0.384", "eval.num=128")  # 24 steps of 16 images


def _eval_lines(run):
    return [r for r in read_metrics(run) if "eval" in r]


def _weights(folder):
    return safetensors.torch.load((folder / "model.safetensors").read_bytes())


def test_evaluates_at_start_on_schedule_and_at_end_and_keeps_the_best(tmp_path, tiny_idx_dir, fitted):
    cfg = tiny_config(tmp_path / "run", tiny_idx_dir, *KIMG, "eval.every_kimg=0.16")
    run = train(cfg, progress=False)
    lines = _eval_lines(run)
    # before training, at the marks 160 and 320 images (the first step at or past each), and at the end (384)
    assert [r["images"] for r in lines] == [0, 160, 320, 384]
    for r in lines:
        assert set(r) >= {"fid", "precision", "recall", "classes", "step", "seconds"}
        assert all(math.isfinite(r[m]) for m in ("fid", "precision", "recall", "classes"))
        assert r["eval"]["num"] == NUM and r["eval"]["floor"]["fid"] >= 0
    best = min(lines, key=lambda r: r["fid"])
    assert [r["eval"]["best"] for r in lines].count(True) >= 1 and best["eval"]["best"]
    meta = json.loads((run / BEST_FOLDER / "config.json").read_text())
    assert meta["eval"]["best"] == "fid" and meta["eval"]["metrics"]["fid"] == pytest.approx(best["fid"])
    assert meta["images_seen"] == best["images"]
    # The logged value is what `gankit evaluate` says about the exported generator.
    again = evaluate(run / BEST_FOLDER, metrics=["fid"], num=NUM)
    assert again["metrics"]["fid"]["value"] == pytest.approx(best["fid"], rel=1e-6)
    final = evaluate(run / "generator", metrics=["fid"], num=NUM)
    assert final["metrics"]["fid"]["value"] == pytest.approx(lines[-1]["fid"], rel=1e-6)


def test_evaluation_does_not_change_training(tmp_path, tiny_idx_dir, eval_cache):
    """No cached classifier: the first evaluation fits one (drawing from torch's RNG) mid-run;
    the trained weights must still be bitwise those of a run without evaluation."""
    plain = train(tiny_config(tmp_path / "plain", tiny_idx_dir, *KIMG, "model.d_dropout=0.2"), progress=False)
    evald = train(tiny_config(tmp_path / "eval", tiny_idx_dir, *KIMG, "model.d_dropout=0.2",
                              "eval.every_kimg=0.2"), progress=False)
    assert len(_eval_lines(evald)) == 3
    a, b = _weights(plain / "generator"), _weights(evald / "generator")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    losses = [(r["loss_d"], r["loss_g"]) for r in read_metrics(plain) if "loss_d" in r]
    assert losses == [(r["loss_d"], r["loss_g"]) for r in read_metrics(evald) if "loss_d" in r]


def test_toy_run_scores_modes_and_keeps_the_best_by_the_chosen_metric(tmp_path):
    from gankit import config as C
    cfg = C.resolve("toy-ring", overrides=[f"out={tmp_path / 'ring'}", "train.kimg=20", "eval.every_kimg=5",
                                           "eval.best=high_quality", "eval.num=500", "diagnostics.enabled=false"])
    run = train(cfg, progress=False)
    lines = _eval_lines(run)
    assert [r["images"] // 1000 for r in lines] == [0, 5, 10, 15, 20]
    assert all({"modes", "high_quality", "reverse_kl"} <= set(r) for r in lines)
    assert lines[0]["eval"]["floor"]["modes"] == 8
    meta = json.loads((run / BEST_FOLDER / "config.json").read_text())
    assert meta["eval"]["metrics"]["high_quality"] == max(r["high_quality"] for r in lines)


def test_resume_keeps_a_better_best_on_disk(tmp_path, tiny_idx_dir, fitted):
    cfg = tiny_config(tmp_path / "run", tiny_idx_dir, "train.kimg=0.192", "eval.num=128", "eval.every_kimg=0.096")
    run = train(cfg, progress=False)
    path = run / BEST_FOLDER / "config.json"
    meta = json.loads(path.read_text())
    meta["eval"]["metrics"]["fid"] = -1.0  # unbeatable: a resumed run must not replace it
    path.write_text(json.dumps(meta))
    more = tiny_config(tmp_path / "run", tiny_idx_dir, "train.kimg=0.384", "eval.num=128", "eval.every_kimg=0.096")
    train(more, resume=True, progress=False)
    lines = _eval_lines(run)
    assert [r["images"] for r in lines] == [0, 96, 192, 288, 384]  # no second baseline on resume
    assert not any(r["eval"]["best"] for r in lines[3:])
    assert json.loads(path.read_text())["eval"]["metrics"]["fid"] == -1.0


def test_minutes_schedule_counts_training_seconds(tmp_path, tiny_idx_dir):
    cfg = tiny_config(tmp_path / "run", tiny_idx_dir, "eval.every_minutes=0.5")
    ev = TrainEvaluator(cfg, tmp_path / "run", "cpu", progress=False)
    assert not ev.due(10_000, 29.9) and ev.due(16, 30.0)
    ev.schedule(16, 31.0)
    assert not ev.due(10_000, 59.0) and ev.due(10_000, 60.0)
    off = TrainEvaluator(tiny_config(tmp_path / "r2", tiny_idx_dir), tmp_path / "r2", "cpu", progress=False)
    assert not off.enabled and not off.due(10**9, 1e9)


@pytest.mark.parametrize("overrides, message", [
    (("eval.every_kimg=1", "eval.metrics=fid,bogus"), "eval.metrics: unknown metric 'bogus' for images"),
    (("eval.every_kimg=1", "eval.metrics=modes"), "eval.metrics: unknown metric 'modes' for images"),
    (("eval.every_kimg=1", "eval.best=kid"), "eval.best: 'kid' is not among the evaluated metrics"),
    (("eval.every_kimg=1", "eval.metrics=fid,density", "eval.best=density"), "eval.best: 'density' has no better"),
    (("eval.every_kimg=1", "eval.every_minutes=1"), "eval.every_minutes: give eval.every_kimg or"),
    (("eval.every_kimg=1", "eval.num=5"), "eval.num: must be 0 (the default) or >= 10"),
    (("eval.every_kimg=-1",), "eval.every_kimg: must be >= 0"),
])
def test_bad_evaluation_settings_fail_before_training(tmp_path, tiny_idx_dir, overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        train(tiny_config(tmp_path / "run", tiny_idx_dir, *overrides), progress=False)
    assert not (tmp_path / "run").exists()


def test_unlabelled_folder_cannot_be_evaluated_while_training(tmp_path):
    import numpy as np
    from PIL import Image
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(8):
        Image.fromarray(np.full((8, 8), i * 30, np.uint8)).save(folder / f"{i}.png")
    cfg = tiny_config(tmp_path / "run", folder, "data.name=folder", "data.resolution=8", "model.arch=mlp",
                      "eval.every_kimg=1")
    with pytest.raises(ConfigError, match="has no class labels"):
        train(cfg, progress=False)


def test_resume_from_an_older_checkpoint_logs_each_step_once_and_drops_a_future_best(tmp_path, tiny_idx_dir,
                                                                                     fitted):
    import shutil
    from gankit.io.checkpoint import complete_checkpoints
    args = ("train.kimg=0.384", "eval.num=128", "eval.every_kimg=0.096", "train.checkpoint_every_kimg=0.128",
            "train.keep_checkpoints=4")
    run = train(tiny_config(tmp_path / "run", tiny_idx_dir, *args), progress=False)
    first = read_metrics(run)
    ckpts = complete_checkpoints(run)
    for newer in ckpts[1:]:  # only the oldest (step 8, 128 images) is left to resume from
        shutil.rmtree(newer)
    best = run / BEST_FOLDER / "config.json"
    meta = json.loads(best.read_text())
    meta["images_seen"], meta["eval"]["metrics"]["fid"] = 384, -1.0  # a best from the abandoned future
    best.write_text(json.dumps(meta))
    train(tiny_config(tmp_path / "run", tiny_idx_dir, *args), resume=True, progress=False)
    again = read_metrics(run)
    steps = [r["step"] for r in again if "loss_d" in r]
    assert steps == sorted(set(steps)) == [r["step"] for r in first if "loss_d" in r]
    assert [r["images"] for r in _eval_lines(run)] == [0, 96, 192, 288, 384]
    assert json.loads(best.read_text())["eval"]["metrics"]["fid"] != -1.0  # replaced by a real score


def test_lfw_faces_is_evaluated_in_pixel_space_while_training(tmp_path):
    """lfw-faces has one class, so no domain classifier: train-time evaluation scores FID/KID on pixels
    (as `gankit evaluate` does) instead of refusing the run."""
    pytest.importorskip("skimage")
    from gankit import config as C
    from gankit.training.evaluate import plan
    cfg = C.resolve(preset="faces-100", overrides=[f"out={tmp_path / 'f'}", "model.width=8", "model.z_dim=8",
                                                   "train.kimg=0.064", "train.batch_size=16", "train.minutes=0",
                                                   "eval.every_kimg=0.032", "eval.num=64"])
    assert plan(cfg) == (["fid", "kid"], "fid")
    run = train(cfg, progress=False)
    lines = _eval_lines(run)
    assert [r["images"] for r in lines] == [0, 32, 64]
    assert all(r["fid"] > 0 and math.isfinite(r["kid"]) for r in lines)
