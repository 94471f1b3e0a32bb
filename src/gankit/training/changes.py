"""What a resume with a changed config changes: the game, or only how long and how it is watched.

A checkpoint continues the game it was trained in. Changing the data, model, loss,
augmentation, optimizer, batch size, D steps or seed on resume makes the result a
different experiment than its config.toml says, so that needs an explicit yes; the
budget, cadences, evaluation, diagnostics and device/threads may change freely
(a resume to a longer budget is the normal use)."""

from __future__ import annotations

import sys

from gankit import config as config_mod
from gankit.config import Config, ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FREE = {"out", "train.epochs", "train.kimg", "train.minutes", "train.log_every", "train.sample_every_kimg",
        "train.checkpoint_every_kimg", "train.checkpoint_every_minutes", "train.keep_checkpoints",
        "train.grid_size", "train.device", "train.threads", "train.channels_last",
        "model.ema_half_life_kimg"}  # the EMA only reads G's weights: adding one changes no step of the game
FREE_SECTIONS = ("eval.", "diagnostics.")


def _flat(values: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_changes(old_text: str, new: Config) -> tuple[dict, dict]:
    """({key: [old, new]} of changes to the game, {key: [old, new]} of free changes) between the
    config a checkpoint was trained with (its config.toml text) and `new`. Fields missing from an
    older config take their defaults, so a field added since then is no change."""
    try:
        old = config_mod.from_dict(tomllib.loads(old_text))
    except (tomllib.TOMLDecodeError, ConfigError) as e:
        raise ConfigError(f"resume: cannot read the checkpoint's config.toml to compare it ({e})") from None
    a, b = _flat(old.to_dict()), _flat(new.to_dict())
    game, free = {}, {}
    for key in sorted(a.keys() | b.keys()):
        if a.get(key) != b.get(key):
            is_free = key in FREE or key.startswith(FREE_SECTIONS) or (key == "data.path" and new.data.name != "folder")
            (free if is_free else game)[key] = [a.get(key), b.get(key)]
    return game, free


def describe(changes: dict) -> str:
    return ", ".join(f"{key} {old!r} -> {new!r}" for key, (old, new) in changes.items())
