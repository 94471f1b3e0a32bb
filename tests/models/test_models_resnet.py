"""The resnet family (SNGAN-style residual G and D): what the shared family contract in
test_models_families.py / test_models_sampling.py does not already cover."""

import json

import pytest
import torch
from torch import nn

from gankit.cli import main
from gankit.config import ModelConfig
from gankit.io.generator import export_generator, load_generator
from gankit.models import ModelError, build, check
from gankit.models.layers import ConditionalBatchNorm2d, has_spectral_norm
from gankit.models.resnet import DownBlock, ResNetDiscriminator, ResNetGenerator, UpBlock

from helpers import tiny_config


def tiny(**kw):
    return ModelConfig(**{"arch": "resnet", "z_dim": 8, "width": 8, **kw})


def top_singular_value(module):
    return torch.linalg.matrix_norm(module.weight.flatten(1), ord=2).item()


@pytest.mark.parametrize("res,sizes", [(28, [7, 14, 28]), (32, [4, 8, 16, 32])])
def test_resnet_generator_upsamples_by_nearest_neighbour_blocks(res, sizes):
    G, _ = build(tiny(), (1, res, res), seed=0)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in G.modules())  # no checkerboards
    seen = []
    for block in G.blocks:
        block.register_forward_hook(lambda m, args, out: seen.append((args[0].shape[-1], out.shape[-1])))
    G(torch.randn(2, 8))
    assert seen == list(zip(sizes[:-1], sizes[1:]))
    assert all(isinstance(b, UpBlock) for b in G.blocks)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in G.modules()) == 2 * len(G.blocks) + 1


@pytest.mark.parametrize("res,sizes", [(28, [28, 14, 7, 7, 7]), (32, [32, 16, 8, 8, 8])])
def test_resnet_discriminator_downsamples_then_sum_pools(res, sizes):
    _, D = build(tiny(), (3, res, res), seed=0)
    D.eval()  # no power iteration, so the calls below see the same normalised weights
    seen = []
    for block in D.blocks:
        block.register_forward_hook(lambda m, args, out: seen.append(out.shape[-1]))
    x = torch.randn(2, 3, res, res)
    assert D(x).shape == (2,)
    assert [res] + seen == sizes
    assert D.blocks[0].first and not any(b.first for b in D.blocks[1:])  # Miyato et al.'s optimized block
    assert all(isinstance(b, DownBlock) for b in D.blocks)
    # global sum pooling: the logit is the linear head of the per-pixel sum of the last features
    feats = torch.relu(D.blocks(x))
    assert torch.allclose(D.features(x), feats.sum(dim=(2, 3)))
    assert torch.allclose(D(x), D.linear(feats.sum(dim=(2, 3))).squeeze(1))


def test_resnet_discriminator_is_spectrally_normalised_by_construction():
    G, D = build(tiny(), (1, 28, 28), seed=0)
    layers = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 11 and all(has_spectral_norm(m) for m in layers)  # 2 x 3 + 2 x 2 convs + the head
    assert not any(has_spectral_norm(m) for m in G.modules())
    for _ in range(20):  # power iterations run in train mode forward passes
        D(torch.randn(4, 1, 28, 28))
    for m in layers:
        assert top_singular_value(m) == pytest.approx(1.0, abs=0.05)


def test_resnet_d_spectral_norm_flag_changes_nothing():
    # on by construction: d_spectral_norm=true neither doubles it nor changes a single weight
    _, plain = build(tiny(), (1, 28, 28), seed=4)
    _, flagged = build(tiny(d_spectral_norm=True), (1, 28, 28), seed=4)
    a, b = plain.state_dict(), flagged.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for m in flagged.modules():
        if has_spectral_norm(m):
            assert len(m.parametrizations.weight) == 1


def test_resnet_g_spectral_norm_applies_to_g():
    G, D = build(tiny(g_spectral_norm=True), (3, 32, 32), seed=0)
    convs = [m for m in G.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert convs and all(has_spectral_norm(m) for m in convs)
    assert D(G(torch.randn(2, 8))).shape == (2,)


@pytest.mark.parametrize("field,value", [("d_batchnorm", True), ("d_dropout", 0.2), ("minibatch_std", True)])
def test_resnet_refuses_d_options_it_does_not_have(field, value):
    with pytest.raises(ModelError) as info:
        check(tiny(**{field: value}), (1, 28, 28))
    msg = str(info.value)
    assert "\n" not in msg and f"model.{field}" in msg and "resnet" in msg


def test_resnet_width_sets_every_block():
    G, D = build(tiny(width=12), (1, 32, 32), seed=0)
    assert {b.conv2.out_channels for b in G.blocks} == {12}
    assert {b.conv2.out_channels for b in D.blocks} == {12}
    G2, _ = build(tiny(width=24), (1, 32, 32), seed=0)
    assert sum(p.numel() for p in G2.parameters()) > 3 * sum(p.numel() for p in G.parameters())


def test_resnet_sample_is_deterministic():
    G, _ = build(tiny(), (3, 32, 32), seed=0)
    G.train()
    with torch.no_grad():
        G(torch.randn(16, 8))  # move the running statistics off their initial values
    a = G.sample(70, seed=5)
    assert a.shape == (70, 3, 32, 32) and a.abs().max() <= 1
    assert torch.equal(G.sample(70, seed=5), a)
    assert torch.equal(G.sample(6, seed=5, start=62), a[62:68])
    assert not torch.equal(G.sample(6, seed=6), a[:6])
    assert G.training


def test_resnet_generator_export_round_trip(tmp_path, tiny_idx_dir):
    cfg = tiny_config(tmp_path / "run", tiny_idx_dir, "model.arch=resnet", "model.width=8")
    G, _ = build(cfg.model, (1, 28, 28), seed=0)
    G.train()
    with torch.no_grad():
        G(torch.randn(16, 8))
    out = export_generator(G, cfg, cfg.out, {"images_seen": 0})
    assert json.loads((out / "config.json").read_text())["config"]["model"]["arch"] == "resnet"
    loaded = load_generator(out)
    assert isinstance(loaded, ResNetGenerator) and not loaded.training
    assert torch.equal(loaded.sample(10, seed=3), G.sample(10, seed=3))


def test_resnet_cli_refuses_an_unsupported_resolution(tmp_path, tiny_idx_dir, capsys):
    code = main(["train", "--data-dir", str(tiny_idx_dir), "--out", str(tmp_path / "r"), "--no-progress",
                 "--set", "model.arch=resnet", "--set", "data.resolution=64", "--kimg", "0.016"])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err and err.count("\n") == 1
    assert "model.arch" in err and "28x28 and 32x32" in err and "64" in err


def test_resnet_trains_a_few_steps_from_the_cli(tmp_path, tiny_idx_dir):
    out = tmp_path / "run"
    code = main(["train", "--data-dir", str(tiny_idx_dir), "--out", str(out), "--no-progress", "--kimg", "0.064",
                 "--set", "model.arch=resnet", "--set", "model.width=8", "--set", "model.z_dim=8",
                 "--set", "train.batch_size=16", "--set", "train.log_every=2", "--set", "train.grid_size=16",
                 "--set", "train.threads=1", "--set", "model.ema_half_life_kimg=0"])
    assert code == 0
    assert (out / "generator" / "model.safetensors").is_file()
    G = load_generator(out / "generator")
    assert isinstance(G, ResNetGenerator) and G.out_shape == (1, 28, 28)
    x = G.sample(4, seed=0)
    assert torch.isfinite(x).all() and x.abs().max() <= 1


# ---- ready for projection conditioning (the conditional game will pass labels)

def test_resnet_conditional_generator_uses_conditional_batch_norm():
    torch.manual_seed(0)
    G = ResNetGenerator(8, 28, 1, width=8, num_classes=3)
    norms = [m for m in G.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert len(norms) == 2 * len(G.blocks) + 1
    assert not any(isinstance(m, nn.BatchNorm2d) and m.affine for m in G.modules())
    z = torch.randn(4, 8).repeat(3, 1)
    y = torch.arange(3).repeat_interleave(4)
    G.eval()
    with torch.no_grad():
        x = G(z, y)
        assert x.shape == (12, 1, 28, 28)
        assert torch.equal(x[:4], x[4:8])  # class-blind at init: the per-class affines start at zero
        for m in norms:
            m.gain.weight.normal_(0, 0.5)
        x = G(z, y)
    assert not torch.allclose(x[:4], x[4:8])
    with pytest.raises(ValueError, match="labels"):
        G(z)
    with pytest.raises(ValueError, match="labels"):
        ResNetGenerator(8, 28, 1, width=8)(z, y)


def test_resnet_projection_discriminator_adds_the_class_inner_product():
    torch.manual_seed(0)
    D = ResNetDiscriminator(28, 1, width=8, num_classes=3)
    assert has_spectral_norm(D.embed)
    D.eval()
    x = torch.randn(2, 1, 28, 28).repeat(3, 1, 1, 1)
    y = torch.arange(3).repeat_interleave(2)
    with torch.no_grad():
        logits = D(x, y)
        h = D.features(x)
        expected = D.linear(h).squeeze(1) + (D.embed(y) * h).sum(1)
    assert logits.shape == (6,) and torch.allclose(logits, expected)
    assert not torch.allclose(logits[:2], logits[2:4])  # the class changes the verdict
    with pytest.raises(ValueError, match="labels"):
        D(x)
