"""evaluate(): every metric with its floor, floors that mean something, caching, custom extractors, toy data."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gankit.config import DataConfig, ModelConfig
from gankit.data import DataError, load_dataset, to_float
from gankit.evaluation import IMAGE_METRICS, TOY_METRICS, evaluate, features, format_table
from gankit.evaluation.features import EvaluationError
from gankit.models import build

NUM = 128  # = the fixture's test split, so the floor uses the same count as the samples


def test_tiny_run_gets_every_metric_with_its_floor(tiny_run, fitted):
    r = evaluate(tiny_run, num=NUM)
    from gankit.evaluation.conditional import CONDITIONAL_METRICS  # those score conditional runs only
    assert list(r["metrics"]) == [n for n in IMAGE_METRICS if n not in CONDITIONAL_METRICS]
    for name, m in r["metrics"].items():
        assert math.isfinite(m["value"]) and math.isfinite(m["floor"]) and m["read"] == IMAGE_METRICS[name]
    assert {"std", "floor_std"} <= r["metrics"]["kid"].keys() and r["metrics"]["classes"]["of"] == 10
    assert r["num"] == r["reference_num"] == r["floor_num"] == NUM
    assert sum(r["class_histogram"]) == NUM and sum(r["floor_class_histogram"]) == NUM
    assert r["metrics"]["classes"]["floor"] == 10  # the real test images cover every class
    assert "fid" in format_table(r) and "real-vs-real floor" in format_table(r)


def test_floor_is_far_below_a_random_generator(tiny_data_cfg, fitted):
    G, _ = build(ModelConfig(arch="dcgan", z_dim=8, width=8), (1, 28, 28), seed=0)
    r = evaluate(G, num=NUM, data_cfg=tiny_data_cfg, metrics="fid,precision,coverage")
    assert list(r["metrics"]) == ["fid", "precision", "coverage"]
    fid = r["metrics"]["fid"]
    assert fid["value"] > 10 * fid["floor"]
    assert r["metrics"]["coverage"]["value"] < r["metrics"]["coverage"]["floor"]


def test_replaying_the_test_images_scores_exactly_the_floor(tiny_data_cfg, fitted, replay):
    test = load_dataset(replace(tiny_data_cfg, split="test"))
    perm = features.subset_indices(len(test), NUM, seed=1)  # the held-out order the floor uses
    G = replay(to_float(test.x[perm]), config=None)
    r = evaluate(G, num=NUM, data_cfg=tiny_data_cfg)
    for name in ("fid", "kid", "precision", "recall", "density", "coverage", "is", "classes"):
        m = r["metrics"][name]
        assert m["value"] == pytest.approx(m["floor"], rel=1e-9, abs=1e-12), name
    assert r["class_histogram"] == r["floor_class_histogram"]


def test_real_features_and_floors_are_cached(tiny_run, fitted, monkeypatch, eval_cache):
    first = evaluate(tiny_run, num=NUM)
    # The num-sized reference and floors, the fixed k-NN manifold reference (evaluator.MANIFOLD_REF_NUM),
    # and the whole train and test splits of the data-copying test (on by default below 10,000 images).
    assert len(list((eval_cache / "features" / "real").glob("*.npz"))) == 3

    def no_data(*args, **kwargs):
        raise AssertionError("real data was read again")
    monkeypatch.setattr(features, "real_splits", no_data)
    from gankit.evaluation import evaluator
    monkeypatch.setattr(evaluator, "real_splits", no_data)
    second = evaluate(tiny_run, num=NUM)
    assert second["metrics"] == first["metrics"]
    with pytest.raises(AssertionError, match="read again"):  # another num is another cache entry
        evaluate(tiny_run, num=NUM // 2)


class Projection(nn.Module):
    """A user's extractor: flatten, then a fixed random projection to 24 dimensions."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(28 * 28, 24, bias=False)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(24, 28 * 28, generator=torch.Generator().manual_seed(0)) / 28)

    def forward(self, x):
        return self.proj(x.flatten(1))


def test_custom_extractor_is_accepted(tiny_run, eval_cache):
    r = evaluate(tiny_run, num=NUM, extractor=Projection(), metrics="fid,kid,recall")
    assert r["feature_dim"] == 24 and "Projection" in r["extractor"]
    assert set(r["metrics"]) == {"fid", "kid", "recall"}
    assert not (eval_cache / "features").exists()  # no cache_key: nothing cached, no classifier fitted
    ext = Projection()
    ext.cache_key = "projection-v1"
    evaluate(tiny_run, num=NUM, extractor=ext, metrics="fid")
    assert len(list((eval_cache / "features" / "real").glob("*.npz"))) == 1


def test_extractor_with_the_wrong_output_shape_is_refused(tiny_run):
    with pytest.raises(EvaluationError, match=r"returned \(\d+, 1, 28, 28\) .*expected \(N, F\)"):
        evaluate(tiny_run, num=NUM, extractor=nn.Identity(), metrics="fid")


@pytest.mark.parametrize("metrics, message", [
    ("fid,bogus", "unknown metric 'bogus'"),
    ("modes", "for the other kind of data"),
    ("", "(none given)"),
])
def test_bad_metric_names(tiny_run, metrics, message):
    with pytest.raises(EvaluationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        evaluate(tiny_run, metrics=metrics, num=NUM)


def test_too_few_samples_and_shape_mismatch(tiny_run, tiny_data_cfg):
    with pytest.raises(EvaluationError, match="at least 10"):
        evaluate(tiny_run, num=5)
    with pytest.raises(EvaluationError, match="pass a matching data config"):
        evaluate(tiny_run, num=NUM, data_cfg=replace(tiny_data_cfg, resolution=32))


def test_toy_generators_get_the_mode_scores(replay):
    ring = DataConfig(name="toy-ring")
    real = load_dataset(replace(ring, toy_samples=2500), seed=7).x
    good = evaluate(replay(real), data_cfg=ring)
    assert list(good["metrics"]) == list(TOY_METRICS) and good["num"] == 2500
    assert good["metrics"]["modes"] == {"value": 8, "floor": 8, "of": 8, "read": TOY_METRICS["modes"]}
    hq = good["metrics"]["high_quality"]  # 2-D Gaussian: P(r < 3 std) = 1 - exp(-4.5) = 0.989
    assert hq["value"] == pytest.approx(0.989, abs=0.01) and hq["floor"] == pytest.approx(0.989, abs=0.01)
    assert good["metrics"]["reverse_kl"]["value"] < 0.01
    collapsed = evaluate(replay(torch.full((2500, 2), 0.0) + torch.tensor([2.0, 0.0])), data_cfg=ring)
    assert collapsed["metrics"]["modes"]["value"] == 1
    assert collapsed["metrics"]["reverse_kl"]["value"] == pytest.approx(math.log(8))
    assert "modes" in format_table(collapsed)
    with pytest.raises(EvaluationError, match="unknown metric 'fid'"):
        evaluate(replay(real), data_cfg=ring, metrics="fid")


def test_inception_extractor_is_wired_through_its_weights_file(tiny_run, tmp_path, monkeypatch):
    with pytest.raises(EvaluationError, match="needs its weights file.*does not ship"):
        evaluate(tiny_run, num=NUM, extractor="inception", metrics="fid")
    from gankit.evaluation import inception
    seen = []

    def fake_load(path, device="cpu"):  # the real network is exercised in test_eval_inception.py
        seen.append(path)
        ext = Projection()
        ext.cache_key = "inception:test"
        return ext
    monkeypatch.setattr(inception, "load_inception", fake_load)
    weights = tmp_path / "pt_inception.pth"
    r = evaluate(tiny_run, num=NUM, extractor="inception", inception_weights=weights, metrics="fid,kid")
    assert seen == [weights] and "Inception-v3" in r["extractor"] and "pt_inception.pth" in r["extractor"]
    assert r["feature_dim"] == 24 and set(r["metrics"]) == {"fid", "kid"}


def test_custom_extractor_with_class_scores_from_the_domain_classifier(tiny_run, fitted):
    r = evaluate(tiny_run, num=NUM, extractor=Projection(), metrics="fid,is,classes")
    assert r["feature_dim"] == 24 and r["metrics"]["classes"]["floor"] == 10
    assert r["metrics"]["is"]["floor"] > r["metrics"]["is"]["value"] >= 1.0  # the tiny run has barely trained


def test_unlabeled_folder_with_a_custom_extractor_skips_class_scores(tmp_path, replay):
    rng = np.random.default_rng(0)
    for i in range(60):  # 20% (12) become the held-out part: enough for the floor
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    cfg = DataConfig(name="folder", path=str(tmp_path))
    G = replay(torch.rand(20, 1, 28, 28) * 2 - 1)
    r = evaluate(G, num=20, data_cfg=cfg, extractor=Projection())
    assert list(r["metrics"]) == ["fid", "kid", "precision", "recall", "density", "coverage", "copying"]
    assert r["reference_num"] == 20 and r["floor_num"] == 12
    with pytest.raises(DataError, match="no class labels"):
        evaluate(G, num=20, data_cfg=cfg, extractor=Projection(), metrics="classes")
