"""The data-copying test (Meehan et al. 2020): the statistic on synthetic cases, evaluate and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.cli import main
from gankit.config import DataConfig
from gankit.data import DataError, to_float
from gankit.evaluation import copying, evaluate
from gankit.evaluation.copying import copying_test, kmeans, mann_whitney_z, nearest
from gankit.evaluation.features import EvaluationError

from helpers import needs_skimage, tiny_config


def gauss(n: int, seed: int, d: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))


TRAIN, HELD = gauss(600, 1), gauss(150, 2)


# --------------------------------------------------------------------------- the statistic


def test_mann_whitney_z_by_hand():
    # gen {1, 3}, held {2}: pairs (1 > 2) no, (3 > 2) yes -> U = 1 = mn/2 -> Z = 0
    assert mann_whitney_z([1.0, 3.0], [2.0]) == 0.0
    # gen {1, 2}, held {3, 4}: U = 0; mean 2, sd sqrt(4 * 5 / 12)
    assert mann_whitney_z([1.0, 2.0], [3.0, 4.0]) == pytest.approx(-2 / np.sqrt(20 / 12))
    # a tie counts one half: gen {2}, held {2, 5}: U = 0.5, mean 1, sd sqrt(2 * 4 / 12)
    assert mann_whitney_z([2.0], [2.0, 5.0]) == pytest.approx(-0.5 / np.sqrt(8 / 12))
    scipy_stats = pytest.importorskip("scipy.stats")
    a, b = gauss(40, 3, 1).ravel(), gauss(25, 4, 1).ravel() + 0.4
    u = scipy_stats.mannwhitneyu(a, b).statistic
    assert mann_whitney_z(a, b) == pytest.approx((u - 500) / np.sqrt(40 * 25 * 66 / 12))


def test_nearest_finds_exact_copies_at_distance_zero():
    d, i = nearest(TRAIN[[5, 7, 5]], TRAIN)
    assert i.tolist() == [5, 7, 5] and d.tolist() == [0.0, 0.0, 0.0]
    brute = np.sqrt(((HELD[:, None] - TRAIN[None]) ** 2).sum(-1))
    d, i = nearest(HELD, TRAIN)
    assert np.allclose(d, brute.min(1)) and np.array_equal(i, brute.argmin(1))


def test_kmeans_is_deterministic_and_finds_separated_clusters():
    blobs = np.concatenate([gauss(50, 5, 2) * 0.1 + c for c in ([0, 0], [10, 0], [0, 10])])
    c1, c2 = kmeans(blobs, 3, seed=0), kmeans(blobs, 3, seed=0)
    assert np.array_equal(c1, c2)
    found = sorted(map(tuple, np.round(c1).astype(int).tolist()))
    assert found == [(0, 0), (0, 10), (10, 0)]


def test_a_generator_that_returns_training_points_is_flagged():
    picks = np.random.default_rng(3).integers(len(TRAIN), size=2000)
    gen = TRAIN[picks] + 1e-3 * gauss(2000, 4)  # copies, barely perturbed
    r = copying_test(gen, HELD, TRAIN)
    assert r["copying"] and r["c_t"] < -4 and r["z_u"] < -15
    assert r["share_closer"] > 0.99
    assert r["cells"] == 15 and r["cells_used"] == 15  # 150 held-out / 10 per cell


def test_a_generator_that_draws_like_the_held_out_data_passes():
    for seed in (5, 6, 7):
        r = copying_test(gauss(2000, seed), HELD, TRAIN)
        assert not r["copying"] and abs(r["c_t"]) < 2.5 and abs(r["z_u"]) < 2.5, r
        assert 0.0 < r["share_closer"] < 0.15  # ~5 % by construction


def test_an_underfit_generator_gives_a_positive_statistic():
    r = copying_test(gauss(2000, 8) * 1.4, HELD, TRAIN)  # samples spread farther than the data
    assert r["c_t"] > 2.5 and r["z_u"] > 8 and not r["copying"]
    assert r["share_closer"] < 0.05


def test_blends_of_training_points_are_close_but_not_called_copies():
    picks = np.random.default_rng(12).integers(len(TRAIN), size=(2000, 8))
    r = copying_test(TRAIN[picks].mean(1), HELD, TRAIN)  # averages of 8 training points
    assert r["c_t"] < -3 and r["spread"] < 0.5 and not r["copying"]
    assert "not copies" in r["verdict"] or "not near-copies" in r["verdict"]
    copies = copying_test(TRAIN[picks[:, 0]], HELD, TRAIN)
    assert copies["copying"] and copies["spread"] == pytest.approx(1.0, abs=0.1)


def test_cells_adapt_to_a_small_held_out_set_and_bad_inputs_are_one_line():
    train, held = gauss(80, 9), gauss(20, 10)  # lfw-faces' 80 / 20
    r = copying_test(train[np.arange(500) % 80], held, train)
    assert r["cells"] == 2 and r["copying"] and r["share_closer"] == 1.0
    assert copying_test(gauss(100, 11), held, train, cells=200)["cells"] <= 20
    with pytest.raises(EvaluationError, match="feature widths differ"):
        copying_test(gauss(10, 1, 3), held, train)
    with pytest.raises(EvaluationError, match="held-out images must have shape"):
        copying_test(gauss(10, 1), held[:0], train)
    with pytest.raises(EvaluationError, match="NaN"):
        copying_test(np.full((4, 8), np.nan), held, train)


# --------------------------------------------------------------------------- evaluate on lfw-faces



FACES = DataConfig(name="lfw-faces")


def _faces(split: str) -> torch.Tensor:
    from gankit.data import load_dataset
    return to_float(load_dataset(DataConfig(name="lfw-faces", split=split)).x)


@needs_skimage
def test_evaluate_flags_a_generator_that_returns_its_training_faces(replay):
    train = _faces("train")
    G = replay(train[torch.arange(400) % 80])
    res = evaluate(G, metrics="copying", num=400, data_cfg=FACES)
    assert res["extractor"].startswith("pixel space") and list(res["metrics"]) == ["copying"]
    c = res["metrics"]["copying"]
    assert c["copying"] and c["value"] < -4 and c["share_closer"] == 1.0 and c["floor"] == 0.0
    assert c["train_num"] == 80 and c["heldout_num"] == 20 and c["closest"][0]["distance"] == 0.0
    assert c["verdict"].startswith("DATA COPYING") and c["spread"] > 0.9
    assert train[c["closest"][0]["train"]].equal(G.x[c["closest"][0]["sample"]])


@needs_skimage
def test_evaluate_passes_noisy_new_faces_and_runs_copying_by_default(replay):
    # Held-out faces with mild noise: as far from the 80 training faces as real new faces are.
    held = _faces("test")
    g = torch.Generator().manual_seed(0)
    x = (held[torch.arange(400) % 20] + 0.03 * torch.randn(400, 1, 28, 28, generator=g)).clamp(-1, 1)
    res = evaluate(replay(x), num=400, data_cfg=FACES)  # no metrics named: the defaults
    assert "copying" in res["metrics"] and "fid" in res["metrics"] and "classes" not in res["metrics"]
    c = res["metrics"]["copying"]
    assert not c["copying"] and c["value"] > -3 and c["share_closer"] < 0.5


@needs_skimage
def test_an_average_face_is_close_to_the_training_faces_but_not_a_copy(replay):
    train = _faces("train")
    g = torch.Generator().manual_seed(1)
    blobs = (train.mean(0, keepdim=True) + 0.05 * torch.randn(300, 1, 28, 28, generator=g)).clamp(-1, 1)
    c = evaluate(replay(blobs), metrics="copying", num=300, data_cfg=FACES)["metrics"]["copying"]
    assert c["value"] < -3 and c["share_closer"] > 0.9  # closer than new faces: the mean minimises L2
    assert c["spread"] < 0.3 and not c["copying"] and "average face, not copies" in c["verdict"]


def test_copying_is_a_default_below_10000_training_images(tiny_data_cfg, tmp_path):
    import gzip
    import struct
    assert copying.default_on(FACES) and copying.default_on(tiny_data_cfg)  # 256 train images
    for count, expected in ((9999, True), (10000, False)):  # only the headers are read
        folder = tmp_path / str(count)
        folder.mkdir()
        with gzip.open(folder / "train-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 0x803, count, 28, 28))
        with gzip.open(folder / "train-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 0x801, count))
        assert copying.default_on(DataConfig(name="fashion-mnist", path=str(folder))) is expected
    assert not copying.default_on(DataConfig(name="cifar10"))


@needs_skimage
def test_no_held_out_images_is_one_line(replay, monkeypatch):
    from gankit.evaluation import evaluator
    from gankit.data import Dataset
    real = evaluator.real_splits

    def no_test(cfg):
        train, test = real(cfg)
        return train, Dataset(x=test.x[:0], y=None, name=test.name, classes=[], source="none")
    monkeypatch.setattr(evaluator, "real_splits", no_test)
    with pytest.raises(DataError, match="needs held-out images and there is no test split"):
        evaluate(replay(_faces("train")), metrics="copying", num=40, data_cfg=FACES)


# --------------------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def faces_run(tmp_path_factory):
    from gankit.training.loop import train
    cfg = tiny_config(tmp_path_factory.mktemp("runs") / "faces", "",
                      {"data": {"name": "lfw-faces", "path": ""}})
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(cfg, progress=False)
    finally:
        torch.set_num_threads(before)


@needs_skimage
def test_cli_copying_fields_table_and_picture(faces_run, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(faces_run), "--metrics", "copying,kid", "--num", "200", "--json", str(out),
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert any(line.startswith("copying ") for line in text.splitlines())
    assert "k-means cells" in text and "held-out images" in text and "pixel space" in text
    c = json.loads(out.read_text())["metrics"]["copying"]
    for key in ("value", "floor", "read", "z_u", "share_closer", "threshold", "copying", "cells", "cells_used",
                "closest", "closest_heldout", "picture"):
        assert key in c, key
    assert len(c["closest"]) == copying.PICTURE_PAIRS and c["heldout_num"] == 20
    picture = faces_run / "copying.png"
    assert c["picture"] == str(picture) and f"wrote {picture}" in text
    with Image.open(picture) as im:
        assert im.format == "PNG" and im.width >= copying.PICTURE_PAIRS * 28 * 3 and im.height > 4 * 28 * 3


@needs_skimage
def test_cli_picture_path_and_its_errors(faces_run, tmp_path, capsys):
    pic = tmp_path / "pairs.png"
    assert main(["evaluate", str(faces_run / "generator"), "--metrics", "copying", "--num", "50",
                 "--copying-picture", str(pic), "--no-progress"]) == 0
    assert pic.is_file()
    capsys.readouterr()
    for args, msg in ((["--copying-picture", str(tmp_path / "x.jpg")], "ending in .png"),
                      (["--copying-picture", str(tmp_path / "no" / "x.png")], "no folder"),
                      (["--metrics", "fid", "--copying-picture", str(pic)], "add it to --metrics"),
                      (["--features", "classifier"], "no domain classifier to train; use --features pixels")):
        assert main(["evaluate", str(faces_run), "--num", "50", "--no-progress", *args]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("gankit: error:") and msg in err and "\n" not in err


def test_cli_pixel_features_on_labelled_data(tiny_run, tmp_path, capsys):
    pic = tmp_path / "pairs.png"
    assert main(["evaluate", str(tiny_run), "--features", "pixels", "--metrics", "fid,copying", "--num", "64",
                 "--copying-picture", str(pic), "--json", "-", "--no-progress"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["extractor"].startswith("pixel space") and r["feature_dim"] == 28 * 28
    assert list(r["metrics"]) == ["fid", "copying"] and r["metrics"]["copying"]["picture"] == str(pic)
    assert pic.is_file()
