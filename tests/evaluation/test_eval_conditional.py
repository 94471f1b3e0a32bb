"""Conditional evaluation: intra-FID, class consistency and CAS (metric functions on hand-made values,
evaluate() and `gankit evaluate` end to end on tiny data, train-time evaluation of a conditional run,
and the one-line errors)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from gankit.cli import main
from gankit.config import DataConfig
from gankit.data import Dataset, load_dataset, to_float
from gankit.evaluation import conditional as C
from gankit.evaluation import evaluate
from gankit.evaluation.classifier import ClassifierConfig, load_classifier
from gankit.evaluation.features import EvaluationError, real_splits
from gankit.io.logs import read_metrics
from gankit.training.loop import train

from helpers import tiny_config

TINY_CAS = ClassifierConfig(widths=(8, 16, 16), feature_dim=16, epochs=1.0, min_steps=40, batch_size=32, seed=0)


@pytest.fixture(autouse=True)
def tiny_cas(monkeypatch):
    monkeypatch.setattr(C, "CAS_CONFIG", TINY_CAS)


def err_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and "\n" not in err, err
    return err


class CondReplay(nn.Module):
    """A stand-in conditional generator: sample i is the given image i (whose class must be i % K)."""

    def __init__(self, x: torch.Tensor, num_classes: int, config=None):
        super().__init__()
        self.x, self.num_classes, self.out_shape = x, num_classes, tuple(x.shape[1:])
        if config is not None:
            self.config = config

    def sample(self, n, seed=0, start=0, device=None, labels=None):
        assert n <= len(self.x) - start
        return self.x[start:start + n].clone()


def _in_label_order(data: Dataset, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images of `data` reordered so that image i has class i % k (as many whole rounds as fit)."""
    by_class = [torch.nonzero(data.y == c).flatten() for c in range(k)]
    rounds = min(len(b) for b in by_class)
    order = torch.stack([b[:rounds] for b in by_class], dim=1).flatten()  # c0 c1 ... c9 c0 c1 ...
    return data.x[order], data.y[order]


# --------------------------------------------------------------------------- metric functions


def test_intra_fid_is_zero_for_identical_sets_and_the_mean_shift_for_a_shifted_class():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(400, 4, generator=g, dtype=torch.float64)
    y = torch.arange(400) % 2
    mean, per = C.intra_fid(feats, y, feats, y, 2)
    assert mean == pytest.approx(0, abs=1e-6) and per == pytest.approx([0, 0], abs=1e-6)
    shifted = feats.clone()
    shifted[y == 0] += torch.tensor([3.0, 0, 0, 4.0], dtype=torch.float64)  # same covariance, |d|^2 = 25
    mean, per = C.intra_fid(shifted, y, feats, y, 2)
    assert per == pytest.approx([25.0, 0.0], abs=1e-6) and mean == pytest.approx(12.5, abs=1e-6)


def test_intra_fid_skips_a_class_without_samples():
    feats = torch.randn(60, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.arange(60) % 3
    mean, per = C.intra_fid(feats[y < 2], y[y < 2], feats, y, 3)
    assert math.isnan(per[2]) and mean == pytest.approx(np.mean(per[:2]))


def test_class_consistency_by_hand():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [1.0, 0.0]])
    acc, per = C.class_consistency(logits, torch.tensor([0, 1, 1, 0]))
    assert acc == 0.75 and per == [1.0, 0.5]


def test_sample_labels_follow_g_sample():
    assert C.sample_labels(5, 3).tolist() == [0, 1, 2, 0, 1]
    assert C.sample_labels(3, 3, start=4).tolist() == [1, 2, 0]


def test_augment_flips_and_shifts_by_at_most_two_pixels():
    x = torch.full((64, 1, 8, 8), -1.0)
    x[:, 0, 3, 3] = 1.0
    g = torch.Generator().manual_seed(0)
    out = C._augment(x, "flip,crop", g)
    assert out.shape == x.shape and (out == 1.0).sum() == 64  # the bright pixel moved, never lost
    ys, xs = torch.nonzero(out[:, 0] == 1.0)[:, 1], torch.nonzero(out[:, 0] == 1.0)[:, 2]
    assert ys.min() >= 1 and ys.max() <= 5 and set(xs.tolist()) - set(range(1, 7)) == set()
    assert len(set(zip(ys.tolist(), xs.tolist()))) > 5  # different per image
    assert torch.equal(C._augment(x, "", g), x)


def test_fit_reference_is_deterministic_learns_and_leaves_the_global_rng(tiny_idx_dir):
    train_data, test = real_splits(DataConfig(name="fashion-mnist", path=str(tiny_idx_dir)))
    state = torch.random.get_rng_state()
    short = ClassifierConfig(widths=(8, 16, 16), feature_dim=16, epochs=1.0, min_steps=5, batch_size=32)
    a = C.fit_reference(train_data.x, train_data.y, 10, short, augment="flip,crop")
    assert torch.equal(torch.random.get_rng_state(), state)
    b = C.fit_reference(train_data.x, train_data.y, 10, short, augment="flip,crop")
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    learned = C.fit_reference(train_data.x, train_data.y, 10, TINY_CAS)
    assert C.accuracy(learned, test.x, test.y) > 0.5  # 10 bar widths: far above the 0.1 of chance
    with pytest.raises(EvaluationError, match="augment"):
        C.fit_reference(train_data.x, train_data.y, 10, TINY_CAS, augment="rotate")
    with pytest.raises(EvaluationError, match=r"labels must lie in \[0, 10\)"):
        C.fit_reference(train_data.x, train_data.y + 5, 10, TINY_CAS)


# --------------------------------------------------------------------------- evaluate() end to end


def test_real_images_score_like_real(tiny_data_cfg, fitted):
    """Real train images played back as a conditional G: consistency is the classifier's accuracy on
    them, CAS matches the real-trained baseline, intra-FID is near its floor."""
    train_data, _ = real_splits(tiny_data_cfg)
    x, y = _in_label_order(train_data, 10)
    G = CondReplay(to_float(x), 10)
    num = len(x)
    res = evaluate(G, metrics="intra_fid,consistency,cas", num=num, data_cfg=tiny_data_cfg)
    m = res["metrics"]
    assert list(m) == ["intra_fid", "consistency", "cas"]
    model, meta = load_classifier(tiny_data_cfg, progress=False)
    expect = float((model.logits(to_float(x)).argmax(1) == y).double().mean())
    assert m["consistency"]["value"] == pytest.approx(expect, abs=1e-9)
    assert m["consistency"]["floor"] == meta["test_accuracy"]
    assert m["cas"]["value"] == pytest.approx(m["cas"]["floor"], abs=0.1) and m["cas"]["floor"] > 0.5
    assert res["cas_ratio"] == pytest.approx(m["cas"]["value"] / m["cas"]["floor"])
    assert math.isfinite(m["intra_fid"]["value"]) and m["intra_fid"]["floor"] >= 0
    assert len(res["intra_fid_per_class"]) == 10 and len(res["consistency_per_class"]) == 10
    # evaluate's CAS is the reference classifier trained on the samples with labels i % K
    test = load_dataset(DataConfig(name="fashion-mnist", path=tiny_data_cfg.path, split="test"))
    assert C.cas(x, y, test, 10, TINY_CAS) == pytest.approx(m["cas"]["value"])


def test_a_generator_ignoring_the_label_scores_chance_consistency(tiny_data_cfg, fitted):
    train_data, _ = real_splits(tiny_data_cfg)
    x, _ = _in_label_order(train_data, 10)
    one_class = train_data.x[train_data.y == 3][:1].expand(len(x), -1, -1, -1)  # always class 3
    res = evaluate(CondReplay(to_float(one_class), 10), metrics="consistency,intra_fid", num=len(x),
                   data_cfg=tiny_data_cfg)
    assert res["metrics"]["consistency"]["value"] == pytest.approx(0.1, abs=0.02)
    assert res["consistency_per_class"][3] == 1.0


def test_default_metrics_include_conditional_ones_only_for_conditional_generators(tiny_data_cfg, fitted, replay):
    train_data, _ = real_splits(tiny_data_cfg)
    x, _ = _in_label_order(train_data, 10)
    cond = evaluate(CondReplay(to_float(x), 10), num=len(x), data_cfg=tiny_data_cfg)
    assert {"fid", "intra_fid", "consistency"} <= set(cond["metrics"]) and "cas" not in cond["metrics"]
    plain = evaluate(replay(to_float(x)), num=len(x), data_cfg=tiny_data_cfg)
    assert not set(plain["metrics"]) & set(C.CONDITIONAL_METRICS)
    with pytest.raises(EvaluationError, match="class-conditional generator .* this one is unconditional"):
        evaluate(replay(to_float(x)), metrics="fid,cas", num=len(x), data_cfg=tiny_data_cfg)


# --------------------------------------------------------------------------- CLI and training


@pytest.fixture(scope="session")
def cond_run(tmp_path_factory, tiny_idx_dir):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(tiny_config(tmp_path_factory.mktemp("runs") / "cond", tiny_idx_dir,
                                 "model.conditional=projection"), progress=False)
    finally:
        torch.set_num_threads(before)


def test_cli_prints_conditional_metrics_beside_floors_and_json(cond_run, fitted, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(cond_run), "--num", "100", "--metrics", "fid,intra_fid,consistency,cas",
                 "--json", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    rows = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    for name in ("intra_fid", "consistency", "cas"):
        assert name in rows and len(rows[name].split()) >= 3, text
    assert "intra-FID per class:" in text and "consistency per class:" in text
    assert "CAS: " in text and "trained on samples vs" in text and "tested on 128 real test images" in text
    result = json.loads(out.read_text())
    assert list(result["metrics"]) == ["fid", "intra_fid", "consistency", "cas"]
    for name in ("intra_fid", "consistency", "cas"):
        assert set(result["metrics"][name]) >= {"value", "floor", "read"}
    assert 0 <= result["metrics"]["cas"]["value"] <= 1 and result["metrics"]["cas"]["floor"] > 0.5
    assert len(result["intra_fid_per_class"]) == 10 and "cas_ratio" in result and "cas_classifier" in result


def test_cli_conditional_metrics_on_an_unconditional_run_is_one_line(tiny_run, fitted, capsys):
    assert main(["evaluate", str(tiny_run), "--metrics", "intra_fid", "--no-progress"]) == 1
    err = err_line(capsys)
    assert err.startswith("gankit: error: --metrics: intra_fid score a class-conditional generator")


def test_train_time_evaluation_of_a_conditional_run(tmp_path, tiny_idx_dir, fitted):
    cfg = tiny_config(tmp_path / "run", tiny_idx_dir, "model.conditional=projection", "train.kimg=0.384",
                      "eval.num=100", "eval.every_kimg=0.16", "eval.metrics=fid,intra_fid,consistency",
                      "eval.best=intra_fid")
    run = train(cfg, progress=False)
    lines = [r for r in read_metrics(run) if "eval" in r]
    assert [r["images"] for r in lines] == [0, 160, 320, 384]
    for r in lines:
        assert math.isfinite(r["intra_fid"]) and 0 <= r["consistency"] <= 1
        assert r["eval"]["floor"]["consistency"] > 0.5 and r["eval"]["best"] in (True, False)
    best = min(lines, key=lambda r: r["intra_fid"])
    again = evaluate(run / "generator-best", metrics=["intra_fid"], num=100)
    assert again["metrics"]["intra_fid"]["value"] == pytest.approx(best["intra_fid"], rel=1e-6)


def test_train_time_conditional_metrics_on_an_unconditional_run_is_one_line(tmp_path, tiny_idx_dir, fitted,
                                                                            capsys):
    assert main(["train", "--data", "fashion-mnist", "--data-dir", str(tiny_idx_dir), "--kimg", "0.032",
                 "--out", str(tmp_path / "run"), "--no-progress", "--set", "model.width=8", "--set", "model.z_dim=8",
                 "--set", "train.batch_size=16", "--set", "eval.every_kimg=0.016", "--set", "eval.num=64",
                 "--set", "eval.metrics=fid,consistency"]) == 1
    err = err_line(capsys)
    assert "eval.metrics: consistency score class-conditional runs" in err and "model.conditional = none" in err
    assert not (tmp_path / "run").exists()  # refused at preflight, before anything is written


def test_evaluate_help_describes_the_conditional_metrics(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = capsys.readouterr().out
    for needle in ("intra_fid", "consistency", "cas", "Ravuri & Vinyals", "trained on --num"):
        assert needle in text, needle
