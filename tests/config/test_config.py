"""Config: TOML round trip, overrides, and one clear error per bad value."""

import pytest

from gankit import config as C
from gankit.config import Config, ConfigError


def test_defaults_validate_and_round_trip(tmp_path):
    cfg = C.resolve(preset="fashion-dcgan")
    path = tmp_path / "config.toml"
    cfg.save(path)
    again = C.resolve(file=path)
    assert again == cfg
    assert again.to_dict() == cfg.to_dict()


@pytest.mark.parametrize("name", C.preset_names())
def test_every_preset_resolves(name):
    cfg = C.resolve(preset=name)
    assert isinstance(cfg, Config)


def test_presets_include_default_and_toys():
    assert {"fashion-dcgan", "dcgan-tf", "toy-ring", "toy-grid", "toy-gaussian"} <= set(C.preset_names())


@pytest.mark.parametrize("text, expected", [
    ("model.width=32", {"model": {"width": 32}}),
    ("optim.lr_g=1e-3", {"optim": {"lr_g": 1e-3}}),
    ("model.d_batchnorm=true", {"model": {"d_batchnorm": True}}),
    ("data.name=mnist", {"data": {"name": "mnist"}}),
    ('data.path="/x y/z"', {"data": {"path": "/x y/z"}}),
    ("out=runs/a", {"out": "runs/a"}),
])
def test_parse_override(text, expected):
    assert C.parse_override(text) == expected


def test_overrides_apply_in_order_and_int_widens_to_float():
    cfg = C.resolve(preset="fashion-dcgan", overrides=["optim.lr_g=1", "optim.lr_g=0.5", "model.width=16"])
    assert cfg.optim.lr_g == 0.5 and cfg.model.width == 16
    cfg = C.resolve(preset="fashion-dcgan", overrides=["optim.lr_d=1"])
    assert isinstance(cfg.optim.lr_d, float)


def test_every_field_is_reachable_by_override():
    defaults = Config().to_dict()
    for section, fields in defaults.items():
        if not isinstance(fields, dict):
            continue
        for name in fields:
            # setting a field to its own default through --set must be accepted
            value = fields[name]
            literal = repr(value).lower() if isinstance(value, bool) else (
                f'"{value}"' if isinstance(value, str) else repr(value))
            C.parse_override(f"{section}.{name}={literal}")
            cfg = C.from_dict(C._merge(defaults, C.parse_override(f"{section}.{name}={literal}")))
            assert getattr(getattr(cfg, section), name) == value


@pytest.mark.parametrize("override, field", [
    ("model.widht=3", "model.widht: unknown key"),
    ("bogus.x=1", "bogus: unknown key"),
    ("model.width=wide", "model.width: expected int"),
    ("model.width=3.5", "model.width: expected int"),
    ("model.d_batchnorm=1", "model.d_batchnorm: expected bool"),
    ("optim.lr_g=-0.001", "optim.lr_g: must be in (0, 1]"),
    ("optim.lr_d=0", "optim.lr_d: must be in (0, 1]"),
    ("optim.lr_d=1e308", "optim.lr_d: must be in (0, 1]"),
    ("train.seed=-5", "train.seed: must be an integer in [0, 2**32)"),
    ("train.seed=4294967296", "train.seed: must be an integer in [0, 2**32)"),
    ("train.grid_size=100000", "train.grid_size: must be in [1, 1024]"),
    ("train.checkpoint_every_minutes=-1", "train.checkpoint_every_minutes: must be >= 0"),
    ("data.resolution=100000", "data.resolution: must be in [4, 1024]"),
    ("train.threads=100000", "train.threads: must be in [0, 1024]"),
    ("train.minutes=1e308", "train.minutes: must be <= 1e+07"),
    ("optim.beta1=1.0", "optim.beta1: must be in [0, 1)"),
    ("data.channels=2", "data.channels: must be 1 or 3"),
    ("data.resolution=2", "data.resolution: must be in [4, 1024]"),
    ("data.split=valid", "data.split: must be 'train' or 'test'"),
    ("train.batch_size=0", "train.batch_size: must be > 0"),
    ("train.d_steps=-1", "train.d_steps: must be > 0"),
    ("train.kimg=10", "train.epochs/kimg/minutes: exactly one budget"),
    ("train.minutes=0", "train.epochs/kimg/minutes: exactly one budget"),
    ("train.device=tpu", "train.device: must be auto, cpu, cuda"),
    ("model.d_dropout=1.5", "model.d_dropout: must be in [0, 1)"),
    ("model", "expected KEY=VALUE"),
])
def test_bad_values_name_the_field(override, field):
    with pytest.raises(ConfigError) as e:
        C.resolve(preset="fashion-dcgan", overrides=[override])
    assert field in str(e.value)
    assert "\n" not in str(e.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        C.resolve(file=tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\nwidth = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        C.resolve(file=bad)
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        C.resolve(preset="nope")
    table = tmp_path / "table.toml"
    table.write_text("model = 3\n")
    with pytest.raises(ConfigError, match="model: expected a table"):
        C.resolve(file=table)
