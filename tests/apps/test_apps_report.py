"""`gankit report`: one self-contained HTML page from a real tiny run, with its alarms and one-line errors."""

import base64
import json
import re
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

from gankit.apps.report import sample_grids
from gankit.cli import main
from gankit.io.logs import read_metrics
from gankit.training.diagnostics import Monitor
from gankit.training.loop import train

from helpers import tiny_config


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_idx_dir):
    out = tmp_path_factory.mktemp("report") / "tiny"
    cfg = tiny_config(out, tiny_idx_dir, "train.log_every=1", "train.sample_every_kimg=0.032")
    return train(cfg, progress=False)  # 8 steps of 16 images: 8 records, grids every 2 steps


def err_line(capsys):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1
    return err


def data_uris(text):
    return re.findall(r'<img class="(\w+)" alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', text)


def test_report_of_a_tiny_run_with_an_alarm(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    alarm = {"kind": "d_wins", "message": "the discriminator wins <outright>", "suggestion": "lower optim.lr_d",
             "step": 6, "images": 96}
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"images": 96, "step": 6, "alarm": alarm}) + "\n")

    assert main(["report", str(run)]) == 0
    assert str(run / "report.html") in capsys.readouterr().out
    text = (run / "report.html").read_text()
    assert "http://" not in text and "https://" not in text
    assert not re.search(r'<(link|script)\b|\bsrc="(?!data:)', text)  # nothing fetched from anywhere
    imgs = data_uris(text)
    plots = [b for kind, b in imgs if kind == "plot"]
    grids = [b for kind, b in imgs if kind == "grid"]
    assert len(plots) >= 3  # losses, D outputs, img_per_s
    for b64 in plots + grids:
        assert base64.b64decode(b64).startswith(b"\x89PNG")
    on_disk = sorted(p.read_bytes() for p in (run / "samples").glob("*.png"))
    assert len(on_disk) >= 4 and sorted(base64.b64decode(b) for b in grids) == on_disk
    assert "the discriminator wins &lt;outright&gt;" in text and "lower optim.lr_d" in text
    assert "none raised" not in text
    assert "equilibrium" in text and "[train]" in text  # the config is shown


def test_report_of_a_healthy_tiny_run_says_none_raised(tiny_run, tmp_path, capsys):
    records = read_metrics(tiny_run)
    assert len(records) == 8
    m = Monitor()
    assert [a for r in records for a in m.observe(r)] == []
    out = tmp_path / "r.html"
    assert main(["report", str(tiny_run), "--out", str(out)]) == 0
    assert "none raised" in out.read_text()
    assert not (tiny_run / "report.html").exists()


def test_many_grids_are_thinned_to_evenly_spaced_ones_with_first_and_last(tmp_path):
    (tmp_path / "samples").mkdir()
    for i in range(40):
        tag = "init" if i == 0 else "final" if i == 39 else "grid"
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "samples" / f"{tag}_img{i * 1000:09d}_epoch000.png")
    picked = sample_grids(tmp_path, max_grids=12)
    assert len(picked) == 12
    assert picked[0][0].name.startswith("init_img000000000") and picked[-1][0].name.startswith("final_img")
    images = [int(p.name.split("_img")[1][:9]) for p, _ in picked]
    assert images == sorted(images) and "39,000 images" in picked[-1][1]
    assert len(sample_grids(tmp_path, max_grids=50)) == 40


def test_errors_are_one_line(tmp_path, capsys, monkeypatch):
    assert main(["report", str(tmp_path / "nope")]) == 1
    assert "no such run folder" in err_line(capsys)
    assert main(["report", str(tmp_path)]) == 1
    assert "no metrics.jsonl" in err_line(capsys)
    (tmp_path / "metrics.jsonl").write_text("")
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if matplotlib were not installed
    assert main(["report", str(tmp_path)]) == 1
    assert "pip install 'gankit[metrics]'" in err_line(capsys)


@pytest.mark.parametrize("bad", ['{"step": 9, "images": 144, "loss_d": "x", "loss_g": 0.7}', "[1, 2, 3]",
                                 '{"images": 150, "alarm": "boom"}', '{"images": "many", "alarm": {"kind": 3}}',
                                 '{"alarm": {"kind": "d_wins", "message": ["m"]}}'])
def test_damaged_metrics_lines_are_skipped_with_one_warning(tiny_run, tmp_path, capsys, bad):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    with open(run / "metrics.jsonl", "a") as f:  # line 9, then a good line with a null loss (a non-finite)
        f.write(bad + "\n" + json.dumps({"step": 9, "images": 144, "loss_d": None, "loss_g": 0.7}) + "\n")
    assert main(["report", str(run)]) == 0
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "unreadable line(s): 9 (" in err and "Traceback" not in out + err
    text = (run / "report.html").read_text()
    assert "9 metric lines, 0 alarm lines" in text and "last logged</th><td>loss_g 0.700<" in text


def test_out_that_is_a_folder_or_in_a_missing_one_fails_before_drawing(tiny_run, tmp_path, capsys):
    assert main(["report", str(tiny_run), "--out", str(tmp_path)]) == 1
    assert "is a folder" in err_line(capsys)
    assert main(["report", str(tiny_run), "--out", str(tmp_path / "no" / "r.html")]) == 1
    assert "does not exist" in err_line(capsys)
    assert list(tmp_path.iterdir()) == [] and not (tiny_run / "report.html").exists()
