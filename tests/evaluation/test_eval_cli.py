"""`gankit evaluate` and `gankit features` end to end: the table, JSON, and one-line errors with exit 1."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from gankit.cli import main


def err_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and "\n" not in err, err
    return err


def test_evaluate_prints_the_table_and_writes_json(tiny_run, fitted, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(tiny_run), "--num", "128", "--json", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    header = next(line for line in text.splitlines() if line.startswith("metric"))
    assert "value" in header and "real-vs-real floor" in header and "how to read it" in header
    for name in ("fid", "kid", "precision", "recall", "density", "coverage", "is", "classes"):
        assert any(line.startswith(name + " ") for line in text.splitlines()), name
    result = json.loads(out.read_text())
    assert result["generator"] == str(tiny_run) and result["num"] == 128
    assert set(result["metrics"]["fid"]) >= {"value", "floor", "read"}


def test_evaluate_json_to_stdout_with_a_metric_subset(tiny_run, fitted, capsys):
    assert main(["evaluate", str(tiny_run), "--num", "64", "--metrics", "fid,coverage", "--json", "-",
                 "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["metrics"]) == ["fid", "coverage"] and result["floor_num"] == 64


def test_features_fit_prints_the_accuracy(tiny_idx_dir, capsys):
    assert main(["features", "fit", "--data", "fashion-mnist", "--data-dir", str(tiny_idx_dir), "--no-progress"]) == 0
    line = capsys.readouterr().out
    assert "% test accuracy on 128 test images" in line and "fitted in" in line
    assert main(["features", "fit", "--data-dir", str(tiny_idx_dir), "--no-progress"]) == 0
    assert "already cached" in capsys.readouterr().out
    assert main(["features", "list"]) == 0
    assert "fashion-mnist 1x28x28" in capsys.readouterr().out


def test_missing_run_is_one_line(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope")]) == 1
    assert "no such run" in err_line(capsys)


def test_bad_metric_name_is_one_line(tiny_run, capsys):
    assert main(["evaluate", str(tiny_run), "--metrics", "fid,sharpness", "--no-progress"]) == 1
    err = err_line(capsys)
    assert err.startswith("gankit: error: --metrics: unknown metric 'sharpness'") and "known: fid, kid" in err


def test_missing_inception_weights_file_is_one_line(tiny_run, tmp_path, capsys):
    assert main(["evaluate", str(tiny_run), "--inception-weights", str(tmp_path / "pt_inception.pth")]) == 1
    err = err_line(capsys)
    assert "--inception-weights: no such file" in err and "does not ship or download" in err


def test_unlabeled_folder_with_the_classifier_is_one_line(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    assert main(["features", "fit", "--data", str(tmp_path), "--no-progress"]) == 1
    err = err_line(capsys)
    assert "no class labels" in err and "sub-folder per class" in err and "--inception-weights" in err


@pytest.mark.parametrize("argv, message", [
    (["features", "fit", "--data", "toy-ring"], "toy data"),
    (["features", "fit", "--data", "/no/such/place"], "neither a dataset"),
])
def test_features_bad_data_is_one_line(argv, message, capsys):
    assert main(argv) == 1
    assert message in err_line(capsys)
