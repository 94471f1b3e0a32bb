"""The style benchmark harness (benchmarks/style/run.py): its model variants become the training
commands it runs, and an unknown variant is refused before anything trains."""

import pytest

from helpers import BENCH, load_benchmark


def test_variants_train_their_preset_with_their_overrides(tmp_path, monkeypatch):
    style = load_benchmark(BENCH / "style" / "run.py", "gankit_bench_style")
    started = []

    class Proc:
        pid = 0

    def popen(cmd, **kwargs):
        started.append(cmd)
        return Proc()
    monkeypatch.setattr(style.subprocess, "Popen", popen)
    monkeypatch.setattr(style, "_wait", lambda name, *a: {"name": name})
    info = style.train(["cyclegan", "cyclegan-no-identity", "munit"], 10, 0, tmp_path, parallel=True)
    assert set(info) == {"cyclegan", "cyclegan-no-identity", "munit"}
    published, no_identity, munit = started
    assert published[published.index("--preset") + 1] == "cyclegan" and "loss.identity_weight=0" not in published
    assert no_identity[no_identity.index("--preset") + 1] == "cyclegan"
    assert no_identity[-2:] == ["--set", "loss.identity_weight=0"]
    assert no_identity[no_identity.index("--out") + 1] == str(tmp_path / "cyclegan-no-identity")
    assert munit[munit.index("--preset") + 1] == "munit" and munit[munit.index("--minutes") + 1] == "10"


def test_an_unknown_variant_is_refused_in_one_line(tmp_path, capsys):
    style = load_benchmark(BENCH / "style" / "run.py", "gankit_bench_style2")
    with pytest.raises(SystemExit) as e:
        style.main(["--models", "cyclegan,pix2pix", "--out", str(tmp_path)])
    assert e.value.code == 2
    assert "--models: unknown pix2pix; choose from cyclegan, cyclegan-no-identity, munit" in capsys.readouterr().err
