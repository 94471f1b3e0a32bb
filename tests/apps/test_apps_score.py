"""`gankit score`, score_files: a probability only for logistic losses, else the raw score (issue 10, item 7)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gankit.apps.score import READINGS, reading, score_files
from gankit.cli import main
from gankit.config import Config
from gankit.losses import LOSSES

LOGISTIC = {"nonsaturating", "minimax"}


class Fixed(nn.Module):
    """A stand-in discriminator: the same raw score for every image, as (N,)."""

    def __init__(self, value: float):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(float(value)))

    def forward(self, x):
        return self.w.expand(x.shape[0])


def _cfg(loss: str) -> Config:
    cfg = Config()
    cfg.loss.name = loss
    return cfg


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(np.full((28, 28), 90, np.uint8)).save(path)
    return path


def test_every_loss_has_a_reading():
    assert set(READINGS) == set(LOSSES)
    assert {n for n, r in READINGS.items() if r.probability} == LOGISTIC
    assert reading("wgan").kind == reading("wgan-gp").kind == "critic"
    assert reading("hinge").kind == "margin" and reading("lsgan").kind == "least-squares"
    assert reading("relativistic").kind == "relative"  # pairwise: no probability of one image
    with pytest.raises(ValueError, match="no reading"):
        reading("nope")


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_score_files_gives_the_raw_score_and_a_probability_only_for_logistic(loss, png):
    [v] = score_files(Fixed(0.425), _cfg(loss), [png])
    assert v.score == pytest.approx(0.425) and v.kind == READINGS[loss].kind and v.error is None
    if loss in LOGISTIC:
        assert v.probability == pytest.approx(1 / (1 + np.exp(-0.425)))
    else:
        assert v.probability is None  # sigmoid(0.425) = 0.6047 would mean nothing here


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_cli_prints_what_the_number_is(loss, png, tmp_path, monkeypatch, capsys):
    from gankit.io import generator
    monkeypatch.setattr(generator, "load_discriminator", lambda run, device=None: (Fixed(-1.5), _cfg(loss)))
    assert main(["score", "some-run", str(png), "--json", str(tmp_path / "v.json")]) == 0
    out, err = capsys.readouterr()
    path, value = out.strip().split("\t")
    assert path == str(png)
    verdict = json.loads((tmp_path / "v.json").read_text())[0]
    assert verdict["score"] == pytest.approx(-1.5) and verdict["kind"] == READINGS[loss].kind
    assert err.startswith(f"gankit: loss {loss}: ") and len(err.strip().splitlines()) == 1
    if loss in LOGISTIC:
        assert float(value) == pytest.approx(0.1824, abs=1e-4) and "probability" in err
        assert verdict["probability"] == pytest.approx(0.18243, abs=1e-4)
    else:
        assert value == "-1.5000" and verdict["probability"] is None
        assert "not a probability" in err and READINGS[loss].text in err


def test_cli_help_lists_each_reading(capsys):
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    text = capsys.readouterr().out
    assert "not a probability" in text and all(name in text for name in LOSSES)


@pytest.mark.parametrize("loss, extra", [("wgan", ["loss.clip=0.01"]), ("nonsaturating", [])])
def test_end_to_end_on_a_trained_run(loss, extra, tmp_path, tiny_idx_dir, png, capsys):
    """A real tiny run: the WGAN critic's raw value is printed as is, the logistic D's as sigmoid."""
    from helpers import tiny_config
    from gankit.data import to_float
    from gankit.io.generator import load_discriminator
    from gankit.training.loop import train
    run = train(tiny_config(tmp_path / loss, tiny_idx_dir, f"loss.name={loss}", *extra), progress=False)
    assert main(["score", str(run), str(png), "--json", "-"]) == 0
    [verdict] = json.loads(capsys.readouterr().out)
    D, _ = load_discriminator(run)
    img = torch.from_numpy(np.array(Image.open(png)))[None, None]
    with torch.no_grad():
        raw = D(to_float(img)).item()
    assert verdict["score"] == pytest.approx(raw, abs=1e-5)
    if loss == "wgan":
        assert verdict["probability"] is None and verdict["kind"] == "critic"
    else:
        assert verdict["probability"] == pytest.approx(torch.sigmoid(torch.tensor(raw)).item(), abs=1e-5)
