"""`gankit toy`: the 2014 figure from a real run ends at the equilibrium D(x) ~ 0.5."""

import pytest
from PIL import Image

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
    assert "--moments: need at least 2" in capsys.readouterr().err
