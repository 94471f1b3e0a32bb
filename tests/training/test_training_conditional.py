"""Class-conditional training, so far its config and preflight: model.conditional picks the
"conditional" game, needs labelled data, and every bad combination is one line naming a field."""

import numpy as np
import pytest
from PIL import Image

from gankit import config as C
from gankit.cli import main
from gankit.config import ConfigError
from gankit.models import ModelError
from gankit.training.games import GAMES
from gankit.training.loop import preflight

from helpers import tiny_config


def test_defaults_are_unconditional(tiny_cfg):
    assert tiny_cfg.model.conditional == "none" and tiny_cfg.loss.ac_weight == 1.0
    assert tiny_cfg.train.fake_labels == "uniform" and tiny_cfg.train.game == "unconditional"
    assert C.game_of(tiny_cfg) == "unconditional"


@pytest.mark.parametrize("method", ["concat", "projection", "ac"])
def test_model_conditional_trains_the_conditional_game(tmp_path, tiny_idx_dir, method):
    for game in ("unconditional", "conditional"):  # the default, or said explicitly
        cfg = tiny_config(tmp_path, tiny_idx_dir, f"model.conditional={method}", f"train.game={game}")
        assert C.game_of(cfg) == "conditional"


@pytest.mark.parametrize("overrides,start", [
    (("model.conditional=cgan",), "model.conditional: must be one of none, concat, projection, ac, got 'cgan'"),
    (("train.fake_labels=balanced",), "train.fake_labels: must be one of uniform, data, got 'balanced'"),
    (("loss.ac_weight=-1",), "loss.ac_weight: must be >= 0"),
    (("train.game=conditional",), "train.game: 'conditional' needs labels: set model.conditional"),
    (("model.conditional=ac", "train.game=cyclegan"), "train.game: model.conditional = 'ac' trains the "
                                                      "'conditional' game"),
    (("model.conditional=projection", "model.pack=2"), "model.pack: PacGAN packing mixes samples"),
])
def test_inconsistent_conditional_configs_are_one_line(tmp_path, tiny_idx_dir, overrides, start):
    with pytest.raises(ConfigError) as e:
        tiny_config(tmp_path, tiny_idx_dir, *overrides)
    assert str(e.value).startswith(start) and "\n" not in str(e.value)


def test_an_arch_without_conditioning_is_refused_before_training(tmp_path, tiny_idx_dir):
    cfg = tiny_config(tmp_path, tiny_idx_dir, "model.arch=dcgan-tf", "model.conditional=projection")
    with pytest.raises(ModelError) as e:
        preflight(cfg)
    assert str(e.value) == ("model.conditional: arch 'dcgan-tf' has no 'projection' conditioning "
                            "(available in: dcgan, mlp, resnet)")


def _image_folder(root, classes):
    rng = np.random.default_rng(0)
    for i in range(8):
        sub = root / classes[i % len(classes)] if classes else root
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(sub / f"{i}.png")
    return root


def test_unlabelled_data_stops_at_preflight_naming_model_conditional(tmp_path, capsys):
    flat = _image_folder(tmp_path / "flat", [])
    overrides = ["--set", "data.name=folder", "--set", f"data.path={flat}", "--set", "model.conditional=projection",
                 "--set", "train.batch_size=4"]
    cfg = C.resolve(overrides=[o for o in overrides if o != "--set"] + [f"out={tmp_path / 'run'}", "train.kimg=1"])
    with pytest.raises(ConfigError) as e:
        preflight(cfg)
    assert str(e.value).startswith("model.conditional: 'projection' needs class labels, and the folder ")
    assert "no class sub-folders" in str(e.value)
    assert main(["train", "--out", str(tmp_path / "cli"), *overrides]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("gankit: error: model.conditional: 'projection' needs class labels") and "\n" not in err
    assert not (tmp_path / "cli" / "config.toml").exists()


@pytest.mark.skipif("conditional" in GAMES, reason="the conditional game exists")
def test_labelled_data_is_refused_while_the_game_is_not_built(tmp_path, tiny_idx_dir):
    labelled = _image_folder(tmp_path / "classes", ["a", "b"])
    for cfg in (tiny_config(tmp_path, tiny_idx_dir, "model.conditional=concat"),
                tiny_config(tmp_path, tiny_idx_dir, "model.conditional=ac", "data.name=folder",
                            f"data.path={labelled}", "train.batch_size=4")):
        with pytest.raises(ConfigError, match=r"^model\.conditional: '\w+' needs the conditional game, which is "
                                              r"not built yet"):
            preflight(cfg)
