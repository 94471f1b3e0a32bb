"""`gankit toy`: the 2014 figure from a real run ends at the equilibrium D(x) ~ 0.5."""

import pytest
from PIL import Image

from gankit.apps.toy_picture import FRAME_WIDTH, MAX_MOMENTS
from gankit.cli import main


@pytest.mark.slow
def test_toy_picture_reaches_equilibrium(tmp_path, capsys):
    out = tmp_path / "toy"
    assert main(["toy", "--out", str(out), "--kimg", "150", "--moments", "3", "--no-progress"]) == 0
    strip = Image.open(out / "gan_1d.png")
    gif = Image.open(out / "gan_1d.gif")
    assert gif.n_frames == 3 and strip.width == 3 * gif.width
    d_mean = float(capsys.readouterr().out.rsplit(":", 1)[1])
    assert abs(d_mean - 0.5) < 0.05  # D can no longer tell data from samples


def test_toy_picture_rejects_one_moment(tmp_path, capsys):
    assert main(["toy", "--out", str(tmp_path), "--moments", "1"]) == 1
    assert f"--moments: need 2 to {MAX_MOMENTS}" in capsys.readouterr().err


def test_a_short_picture_prints_no_line_per_moment(tmp_path, capsys):
    out = tmp_path / "toy"
    assert main(["toy", "--out", str(out), "--kimg", "1.5", "--moments", "3", "--no-progress"]) == 0
    stdout, err = capsys.readouterr()
    assert stdout.count("\n") == 1 and stdout.startswith(f"wrote {out / 'gan_1d.png'}") and err == ""
    assert Image.open(out / "gan_1d.png").size == (3 * FRAME_WIDTH, 240)
    assert sorted(p.name for p in out.iterdir()) == ["gan_1d.gif", "gan_1d.png", "run"]


@pytest.mark.parametrize("argv, message", [
    (["--moments", str(MAX_MOMENTS + 1)], f"--moments: need 2 to {MAX_MOMENTS}"),
    (["--moments", "1000", "--kimg", "5"], f"--moments: need 2 to {MAX_MOMENTS}"),
    (["--kimg", "0.5", "--moments", "3"], "--kimg: 0.5 kimg in 3 moments is under one batch (256 images)"),
    (["--kimg", "1e308"], "--kimg: need more than 0 and at most 100,000, got 1e+308"),
    (["--set", "train.minutes=1"], "--set train.minutes: gankit toy sets it itself; use --kimg instead"),
    (["--set", "train.epochs=2"], "--set train.epochs: gankit toy sets it itself; use --kimg instead"),
    (["--set", "train.kimg=9"], "--set train.kimg: gankit toy sets it itself; use --kimg instead"),
    (["--set", "train.seed=3"], "--set train.seed: gankit toy sets it itself; use --seed instead"),
    (["--set", "train={seed = 3}"], "--set train.seed: gankit toy sets it itself; use --seed instead"),
    (["--set", "out=/elsewhere"], "--set out: gankit toy sets it itself; use --out instead"),
    (["--set", "data.name=toy-ring"], "--set data.name: gankit toy always draws the 1-D Gaussian"),
])
def test_what_the_picture_would_ignore_or_cannot_draw_is_refused_before_writing(tmp_path, capsys, argv, message):
    assert main(["toy", "--out", str(tmp_path / "toy"), *argv]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gankit: error: ") and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_the_cli_states_the_apps_limits():
    from gankit.apps import toy_picture
    from gankit.cli import toy
    assert (toy.MAX_MOMENTS, toy.FRAME_WIDTH, toy.MAX_KIMG) == \
        (toy_picture.MAX_MOMENTS, toy_picture.FRAME_WIDTH, toy_picture.MAX_KIMG)
