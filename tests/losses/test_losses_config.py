"""Config fields of the adversarial toolbox: ranges, incompatible combinations, and the
name lists config.py keeps in step with the registries it may not import."""

import pytest

from gankit import config as C
from gankit.config import ConfigError
from gankit.losses import LOSSES
from gankit.training.augment import DATASET_OPS, OPS


def resolve(*overrides, preset="fashion-dcgan"):
    return C.resolve(preset=preset, overrides=list(overrides))


@pytest.mark.parametrize("overrides, words", [
    # weight clipping belongs to the Wasserstein loss, which in turn needs a Lipschitz constraint
    (["loss.clip=0.01"], ["loss.clip:", "only valid with loss.name = 'wgan'", "'nonsaturating'"]),
    (["loss.name=hinge", "loss.clip=0.01"], ["loss.clip:", "'hinge'"]),
    (["loss.name=wgan-gp", "loss.gp_weight=10", "loss.clip=0.01"], ["loss.clip:", "'wgan-gp'"]),
    (["loss.name=wgan"], ["loss.clip:", "Lipschitz", "model.d_spectral_norm", "wgan-gp"]),
    (["loss.clip=-0.1"], ["loss.clip: must be >= 0"]),
    # the gradient penalty
    (["loss.name=wgan-gp"], ["loss.gp_weight:", "needs the gradient penalty", "10"]),
    (["loss.name=wgan", "loss.clip=0.01", "loss.gp_weight=10"], ["loss.gp_weight:", "use loss.name = 'wgan-gp'"]),
    (["loss.gp_weight=10", "model.d_batchnorm=true"], ["loss.gp_weight:", "model.d_batchnorm = false"]),
    (["loss.gp_weight=-1"], ["loss.gp_weight: must be >= 0"]),
    # label smoothing
    (["loss.name=lsgan", "loss.label_smoothing=0.1"], ["loss.label_smoothing:", "logistic", "'lsgan'"]),
    (["loss.name=hinge", "loss.label_smoothing=0.1"], ["loss.label_smoothing:", "'hinge'"]),
    (["loss.label_smoothing=0.5"], ["loss.label_smoothing: must be in [0, 0.5)"]),
    (["loss.label_smoothing=-0.1"], ["loss.label_smoothing: must be in [0, 0.5)"]),
    # R1, path length, instance noise
    (["loss.r1_gamma=-1"], ["loss.r1_gamma: must be >= 0"]),
    (["loss.r1_every=0"], ["loss.r1_every: must be >= 1"]),
    (["loss.pl_weight=-2"], ["loss.pl_weight: must be >= 0"]),
    (["loss.pl_every=0"], ["loss.pl_every: must be >= 1"]),
    (["loss.instance_noise=-0.1"], ["loss.instance_noise: must be >= 0"]),
    (["loss.instance_noise_kimg=10"], ["loss.instance_noise_kimg:", "loss.instance_noise"]),
    # model options
    (["model.pack=0"], ["model.pack: must be >= 1"]),
    (["model.pack=3"], ["model.pack:", "train.batch_size = 64", "got 3"]),
    (["model.ema_half_life_kimg=-1"], ["model.ema_half_life_kimg: must be >= 0"]),
    # augmentation
    (["augment.policy=rotate"], ["augment.policy:", "unknown op 'rotate'", "translation, cutout, color, flip, crop"]),
    (['augment.policy="flip, zoom"'], ["augment.policy:", "'zoom'"]),
    (['augment.policy="flip,flip"'], ["augment.policy:", "twice"]),
    (["augment.dataset_policy=color"], ["augment.dataset_policy:", "unknown op 'color'", "flip, crop"]),
    (["augment.p=1.5"], ["augment.p: must be in [0, 1]"]),
    (["augment.adaptive=true"], ["augment.adaptive:", "augment.policy", "empty"]),
    (["augment.policy=color", "augment.ada_target=1.0"], ["augment.ada_target: must be in (0, 1)"]),
    (["augment.ada_kimg=0"], ["augment.ada_kimg: must be > 0"]),
])
def test_incompatible_or_out_of_range_values_are_rejected(overrides, words):
    with pytest.raises(ConfigError) as info:
        resolve(*overrides)
    msg = str(info.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


@pytest.mark.parametrize("field", ["augment.policy=flip", "augment.dataset_policy=flip"])
def test_image_augmentation_is_rejected_on_toy_data(field):
    with pytest.raises(ConfigError, match=r"^augment\.\w*policy: .*toy data"):
        resolve(field, preset="toy-ring")


@pytest.mark.parametrize("overrides", [
    ["loss.name=wgan", "loss.clip=0.01"],
    ["loss.name=wgan", "model.d_spectral_norm=true"],
    ["loss.name=wgan-gp", "loss.gp_weight=10"],
    ["loss.name=hinge", "model.d_spectral_norm=true", "model.g_spectral_norm=true"],
    ["loss.name=relativistic", "loss.label_smoothing=0.1"],
    ["loss.gp_weight=1"],  # the gradient penalty with the logistic loss is allowed (Kurach et al. 2019)
    ["loss.r1_gamma=0.1", "loss.r1_every=4", "loss.pl_weight=2", "loss.instance_noise=0.1",
     "loss.instance_noise_kimg=50", "model.pack=4", "model.minibatch_std=true", "model.ema_half_life_kimg=10",
     'augment.policy="color, translation,cutout"', "augment.adaptive=true", "augment.p=0",
     'augment.dataset_policy="flip,crop"'],
])
def test_valid_combinations_resolve_and_round_trip(overrides, tmp_path):
    cfg = resolve(*overrides)
    cfg.save(tmp_path / "c.toml")
    assert C.resolve(file=tmp_path / "c.toml") == cfg


def test_toy_presets_accept_the_non_image_options():
    cfg = resolve("model.pack=4", "model.minibatch_std=true", "loss.instance_noise=0.05", preset="toy-ring")
    assert cfg.model.pack == 4


def test_name_lists_in_config_match_the_registries():
    # config.py sits above losses/ and training/ and cannot import them; these lists must not drift
    assert set(C.LOGISTIC_LOSSES) == {n for n, p in LOSSES.items() if p.smoothing}
    assert tuple(OPS) == C.AUGMENT_OPS
    assert tuple(DATASET_OPS) == C.DATASET_AUGMENT_OPS
    assert {"wgan", "wgan-gp"} <= set(LOSSES)  # named by the combination rules
