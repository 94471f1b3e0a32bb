"""The toolbox inside the loop: each loss/regularizer/augmentation combination trains with finite
losses, and resume stays bitwise exact with all the stateful extras switched on."""

import math

import pytest
import torch

from gankit.io.checkpoint import complete_checkpoints, load_checkpoint
from gankit.io.logs import read_metrics
from gankit.training.loop import train

from helpers import tiny_config

COMBOS = {
    "minimax": ["loss.name=minimax"],
    "lsgan": ["loss.name=lsgan"],
    "hinge-sn": ["loss.name=hinge", "model.d_spectral_norm=true"],
    "wgan-clip": ["loss.name=wgan", "loss.clip=0.01", "train.d_steps=2"],
    "wgan-gp": ["loss.name=wgan-gp", "loss.gp_weight=10.0"],
    "relativistic": ["loss.name=relativistic"],
    "smooth-noise": ["loss.label_smoothing=0.1", "loss.instance_noise=0.1", "loss.instance_noise_kimg=0.1"],
    "r1-ema": ["loss.r1_gamma=1.0", "loss.r1_every=2", "model.ema_half_life_kimg=0.05"],
    "path-length": ["loss.pl_weight=1.0", "loss.pl_every=2"],
    "diffaugment-ada": ["augment.policy=\"translation,cutout,color\"", "augment.adaptive=true", "augment.p=0.2"],
    "dataset-aug": ["augment.dataset_policy=\"flip,crop\""],
    "pacgan-mbstd": ["model.pack=2", "model.minibatch_std=true"],
}


@pytest.mark.parametrize("name", COMBOS)
def test_combination_trains_with_finite_losses(tmp_path, tiny_idx_dir, name):
    cfg = tiny_config(tmp_path / name, tiny_idx_dir, "train.kimg=0.096", "train.log_every=1", *COMBOS[name])
    run = train(cfg, progress=False)
    records = read_metrics(run)
    assert len(records) >= 3
    assert all(math.isfinite(r["loss_d"]) and math.isfinite(r["loss_g"]) for r in records)
    assert (run / "generator" / "model.safetensors").is_file()
    if name == "diffaugment-ada":
        assert "augment_p" in records[-1]


def test_ema_generator_is_exported_and_checkpointed(tmp_path, tiny_idx_dir):
    from gankit.io.generator import load_generator
    cfg = tiny_config(tmp_path / "ema", tiny_idx_dir, "model.ema_half_life_kimg=0.05")
    run = train(cfg, progress=False)
    weights, _, _ = load_checkpoint(complete_checkpoints(run)[-1])
    assert set(weights) == {"G", "D", "G_ema"}
    exported = load_generator(run / "generator").state_dict()
    key = next(k for k in exported if k.endswith("weight"))
    assert torch.equal(exported[key], weights["G_ema"][key])
    assert not torch.equal(weights["G"][key], weights["G_ema"][key])


def test_resume_with_all_stateful_extras_is_bitwise_exact(tmp_path, tiny_idx_dir):
    extras = ("train.log_every=1", "model.ema_half_life_kimg=0.05", "augment.policy=\"translation,color\"",
              "augment.adaptive=true", "augment.p=0.3", "loss.r1_gamma=1.0", "loss.r1_every=2",
              "loss.pl_weight=0.5", "loss.pl_every=2", "loss.instance_noise=0.1", "loss.instance_noise_kimg=0.5")
    straight = train(tiny_config(tmp_path / "a", tiny_idx_dir, "train.kimg=0.224", *extras), progress=False)
    run = tmp_path / "b"
    train(tiny_config(run, tiny_idx_dir, "train.kimg=0.096", *extras), progress=False)
    train(tiny_config(run, tiny_idx_dir, "train.kimg=0.224", *extras), resume=True, progress=False)
    (wa, sa, _), (wb, sb, _) = (load_checkpoint(complete_checkpoints(r)[-1]) for r in (straight, run))
    for name in ("G", "D", "G_ema"):
        for key in wa[name]:
            assert torch.equal(wa[name][key], wb[name][key]), f"{name}.{key}"
    assert sa["regularizers"]["ada"] == sb["regularizers"]["ada"]
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("img_per_s", "seconds")} for r in rs]  # noqa
    assert strip(read_metrics(straight)) == strip(read_metrics(run))


def test_resume_refuses_a_checkpoint_without_the_ema_state(tmp_path, tiny_idx_dir):
    from gankit.io.checkpoint import CheckpointError
    run = tmp_path / "r"
    train(tiny_config(run, tiny_idx_dir), progress=False)  # trained without EMA
    cfg = tiny_config(run, tiny_idx_dir, "train.kimg=0.256", "model.ema_half_life_kimg=0.05")
    with pytest.raises(CheckpointError, match="lacks the EMA generator.*--allow-inexact-resume"):
        train(cfg, resume=True, progress=False)
    train(cfg, resume=True, progress=False, allow_inexact=True)
