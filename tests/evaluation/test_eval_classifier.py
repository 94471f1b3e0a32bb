"""The domain classifier: it learns the fixture data, caches itself, and refuses unlabeled data."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import DataConfig
from gankit.data import DataError
from gankit.evaluation import classifier
from gankit.evaluation.classifier import classifier_dir, fit_classifier, load_classifier
from gankit.io.files import FileError


def test_fits_the_fixture_to_high_accuracy_and_caches_its_files(tiny_data_cfg, eval_cache, tiny_classifier, fitted):
    model, meta = load_classifier(tiny_data_cfg, fit=False)
    where = classifier_dir(tiny_data_cfg)
    assert where.parent == eval_cache / "features" and where.name.startswith("fashion-mnist-")
    assert {p.name for p in where.iterdir()} == {"model.safetensors", "meta.json"}
    stored = json.loads((where / "meta.json").read_text())
    assert stored["test_accuracy"] >= 0.9  # the bar width encodes the label: learnable
    assert stored["test_examples"] == 128 and stored["train_examples"] == 256
    assert stored["config"]["widths"] == list(tiny_classifier.widths) and stored["train_seconds"] > 0
    assert str(tiny_data_cfg.path) in stored["source"]
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    assert model(x).shape == (4, tiny_classifier.feature_dim)
    assert model.logits(x).shape == (4, 10)
    assert not model.training


def test_second_call_reuses_the_cache_and_force_refits(tiny_data_cfg, monkeypatch, fitted):
    model, meta = fit_classifier(tiny_data_cfg, progress=False)  # finds the session's fit
    weights = classifier_dir(tiny_data_cfg) / "model.safetensors"
    stamp = weights.stat().st_mtime_ns

    def refit(*args, **kwargs):
        raise AssertionError("the cached classifier was fitted again")
    monkeypatch.setattr(classifier, "train_steps", refit)
    again, meta2 = load_classifier(tiny_data_cfg, progress=False)
    assert meta2["weights_sha256"] == meta["weights_sha256"] and weights.stat().st_mtime_ns == stamp
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    assert torch.equal(again(x), model(x))
    with pytest.raises(AssertionError, match="fitted again"):
        fit_classifier(tiny_data_cfg, force=True, progress=False)


def test_another_config_or_resolution_is_another_cache_entry(tiny_data_cfg, tiny_classifier):
    a = classifier_dir(tiny_data_cfg)
    assert classifier_dir(tiny_data_cfg, replace(tiny_classifier, epochs=2.0)) != a
    assert classifier_dir(replace(tiny_data_cfg, resolution=32)) != a
    assert classifier_dir(replace(tiny_data_cfg, split="test", limit=7)) == a  # always the full train split


def test_load_without_fit_says_how_to_fit(tiny_data_cfg):
    with pytest.raises(ValueError, match="gankit features fit --data fashion-mnist"):
        load_classifier(tiny_data_cfg, fit=False)


def test_damaged_cache_is_a_one_line_error(tiny_data_cfg, fitted):
    (classifier_dir(tiny_data_cfg) / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(FileError, match="not a valid safetensors file.*--force") as e:
        load_classifier(tiny_data_cfg)
    assert "\n" not in str(e.value)


def write_pngs(folder, n=12, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(folder / f"img{i}.png")


def test_unlabeled_folder_cannot_train_a_classifier(tmp_path):
    write_pngs(tmp_path / "flat")
    cfg = DataConfig(name="folder", path=str(tmp_path / "flat"))
    with pytest.raises(DataError, match="no class labels.*sub-folder per class.*extractor"):
        fit_classifier(cfg, progress=False)


def test_labeled_folder_uses_a_fixed_split(tmp_path, tiny_classifier):
    for k in range(2):
        write_pngs(tmp_path / "labeled" / f"class{k}", n=10, seed=k)
    cfg = DataConfig(name="folder", path=str(tmp_path / "labeled"))
    _, meta = fit_classifier(cfg, replace(tiny_classifier, min_steps=5), progress=False)
    assert meta["train_examples"] == 16 and meta["test_examples"] == 4 and meta["num_classes"] == 2
    assert classifier_dir(cfg).name.startswith("folder-labeled-")
