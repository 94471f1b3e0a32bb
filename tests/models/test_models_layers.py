"""Reusable layers: minibatch std, spectral norm, PacGAN packing, conditional batch norm, and how
`build` applies them."""

import dataclasses

import pytest
import torch
from torch import nn

from gankit.config import ModelConfig
from gankit.models import ModelError, build, check
from gankit.models.layers import (ConditionalBatchNorm2d, MinibatchStd, apply_spectral_norm, has_spectral_norm,
                                  pack_samples, packed_shape)


def tiny(arch, **kw):
    return ModelConfig(**{"arch": arch, "z_dim": 8, "width": 8, "depth": 2, **kw})


# ---- minibatch standard deviation

def test_minibatch_std_of_a_constant_batch_is_zero():
    x = torch.full((8, 3, 4, 4), 0.7)
    y = MinibatchStd()(x)
    assert y.shape == (8, 4, 4, 4) and torch.equal(y[:, :3], x)
    assert y[:, 3].abs().max().item() < 2e-4  # sqrt(eps) = 1e-4


def test_minibatch_std_of_a_known_batch():
    # groups of 2 over N = 4 pair sample i with i + 2: {0, 2} and {1, 3}
    values = torch.tensor([0.0, 10.0, 2.0, 14.0])
    x = values[:, None, None, None].expand(4, 2, 3, 3).clone()
    y = MinibatchStd(group_size=2)(x)
    expected = torch.tensor([1.0, 2.0, 1.0, 2.0])  # population std of {0, 2} and {10, 14}
    assert torch.allclose(y[:, 2], expected[:, None, None].expand(4, 3, 3), atol=1e-5)
    # the std is averaged over features: half the features at spread 2 and half at 0 average to 1
    x = torch.zeros(2, 4)
    x[1, :2] = 4.0
    y = MinibatchStd()(x)
    assert y.shape == (2, 5) and torch.allclose(y[:, 4], torch.ones(2), atol=1e-4)


def test_minibatch_std_groups_fall_back_to_a_divisor_of_the_batch():
    x = torch.randn(6, 5)
    ref = (x.var(0, unbiased=False) + 1e-8).sqrt().mean()
    assert torch.allclose(MinibatchStd(group_size=6)(x)[:, 5], ref.expand(6))
    assert MinibatchStd(group_size=4)(x).shape == (6, 6)       # 6 is split in groups of 3
    one = MinibatchStd()(torch.randn(1, 3))
    assert one[0, 3].item() == pytest.approx(1e-4)             # a lone sample has no spread


def test_minibatch_std_passes_gradients():
    x = torch.randn(4, 2, 3, 3, requires_grad=True)
    MinibatchStd()(x)[:, 2].sum().backward()
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("arch,shape", [("dcgan", (1, 28, 28)), ("mlp", (1, 28, 28)), ("mlp", (2,))])
def test_models_build_minibatch_std_before_the_last_layer(arch, shape):
    G, D = build(tiny(arch, minibatch_std=True), shape, seed=0)
    kinds = [type(m) for m in D.modules() if not isinstance(m, nn.Sequential) and m is not D]
    kinds = [k for k in kinds if k is not nn.Flatten]
    assert kinds[-2:] == [MinibatchStd, nn.Linear] and kinds.count(MinibatchStd) == 1
    assert D(G(torch.randn(4, 8))).shape == (4,)


def test_models_minibatch_std_rejected_where_the_family_lacks_it():
    with pytest.raises(ModelError, match=r"^model\.minibatch_std: .*dcgan-tf.*dcgan, mlp"):
        check(tiny("dcgan-tf", minibatch_std=True), (1, 28, 28))


# ---- spectral norm

def top_singular_value(module):
    w = module.weight
    if isinstance(module, nn.ConvTranspose2d):  # normalised along dim 1 (its output channels)
        w = w.transpose(0, 1)
    return torch.linalg.matrix_norm(w.flatten(1), ord=2).item()


def test_spectral_norm_keeps_the_top_singular_value_near_one():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 3))
    with torch.no_grad():
        net[0].weight.mul_(10)  # sigma far from 1 before normalisation
    assert top_singular_value(net[0]) > 5
    apply_spectral_norm(net)
    for _ in range(3):  # large steps change the raw weights; a few power iterations re-converge
        net(torch.randn(4, 6)).square().sum().backward()
        with torch.no_grad():  # plain SGD by hand (torch.optim's first use imports for seconds)
            for p in net.parameters():
                p -= 0.5 * p.grad
                p.grad = None
        for _ in range(10):
            net(torch.randn(4, 6))
        for layer in (net[0], net[2]):
            assert top_singular_value(layer) == pytest.approx(1.0, abs=1e-2)


@pytest.mark.parametrize("arch,shape", [("dcgan", (1, 16, 16)), ("mlp", (2,))])
def test_build_applies_spectral_norm_after_init(arch, shape):
    plain_G, plain_D = build(tiny(arch), shape, seed=3)
    G, D = build(tiny(arch, d_spectral_norm=True, g_spectral_norm=True), shape, seed=3)
    layers = [m for m in D.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    layers += [m for m in G.modules() if isinstance(m, (nn.Linear, nn.ConvTranspose2d))]
    assert layers and all(hasattr(m, "parametrizations") for m in layers)
    # the unconstrained weights are the family's own init (same seed), so SN came after init
    for plain, sn in ((plain_D, D), (plain_G, G)):
        originals = [m.parametrizations.weight.original for m in sn.modules() if hasattr(m, "parametrizations")]
        weights = [m.weight for m in plain.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]
        assert all(torch.equal(a, b) for a, b in zip(originals, weights))
    # same config and seed -> same state_dict, including the power-iteration vectors
    G2, D2 = build(tiny(arch, d_spectral_norm=True, g_spectral_norm=True), shape, seed=3)
    for a, b in ((D, D2), (G, G2)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    # (reading .weight in train mode runs a power iteration, so this comes after the comparison)
    for m in layers:
        assert top_singular_value(m) == pytest.approx(1.0, abs=2e-2)
    x = G(torch.randn(4, 8))
    assert D(x).shape == (4,)


def test_spectral_norm_only_on_d_leaves_g_alone():
    G, D = build(tiny("dcgan", d_spectral_norm=True), (1, 16, 16), seed=0)
    assert not any(hasattr(m, "parametrizations") for m in G.modules())
    assert any(hasattr(m, "parametrizations") for m in D.modules())


def test_spectral_norm_is_idempotent():
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.Flatten(), nn.Linear(4, 1))
    assert not has_spectral_norm(net[0])
    apply_spectral_norm(net)
    keys = set(net.state_dict())
    apply_spectral_norm(net)  # a second pass would divide by ~1 again and rename every key
    assert set(net.state_dict()) == keys
    assert all(has_spectral_norm(m) and len(m.parametrizations.weight) == 1 for m in (net[0], net[2]))


# ---- PacGAN packing

def test_pack_samples_images_and_vectors():
    x = torch.arange(6 * 2 * 3 * 3, dtype=torch.float32).reshape(6, 2, 3, 3)
    y = pack_samples(x, 3)
    assert y.shape == (2, 6, 3, 3)
    for j in range(2):
        for i in range(3):  # pack j holds samples j*m .. j*m+m-1, in order, along channels
            assert torch.equal(y[j, 2 * i:2 * i + 2], x[3 * j + i])
    v = torch.arange(8.0).reshape(4, 2)
    assert torch.equal(pack_samples(v, 2), torch.tensor([[0.0, 1, 2, 3], [4, 5, 6, 7]]))
    assert pack_samples(x, 1) is x
    with pytest.raises(ValueError, match="model.pack"):
        pack_samples(x, 4)
    assert packed_shape((3, 28, 28), 2) == (6, 28, 28) and packed_shape((2,), 4) == (8,)


@pytest.mark.parametrize("arch,shape", [("dcgan", (1, 28, 28)), ("dcgan-tf", (3, 28, 28)),
                                        ("mlp", (1, 28, 28)), ("mlp", (2,))])
def test_build_makes_d_judge_packs(arch, shape):
    G, D = build(tiny(arch, pack=2), shape, seed=0)
    fake = G(torch.randn(6, 8))
    logits = D(pack_samples(fake, 2))
    assert logits.shape == (3,)
    logits.sum().backward()  # gradients reach G through the packing
    assert all(p.grad is not None for p in G.parameters() if p.requires_grad)
    with pytest.raises(ModelError, match="model.pack"):
        check(dataclasses.replace(tiny(arch), pack=0), shape)


# ---- conditional batch norm

def test_conditional_batch_norm_starts_as_plain_batch_norm():
    torch.manual_seed(0)
    cbn, bn = ConditionalBatchNorm2d(5, num_classes=3), nn.BatchNorm2d(5)  # BN's affine starts at 1 / 0
    x = torch.randn(6, 5, 4, 4) * 3 + 1
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    assert torch.allclose(cbn(x, y), bn(x), atol=1e-6)  # train mode: batch statistics
    assert torch.allclose(cbn.bn.running_mean, bn.running_mean) and torch.allclose(cbn.bn.running_var, bn.running_var)
    cbn.eval(), bn.eval()
    assert torch.allclose(cbn(x, y), bn(x), atol=1e-6)  # eval mode: the shared running statistics
    assert [p.shape for p in cbn.parameters()] == [(5, 3), (5, 3)]  # no class-blind affine of its own


def test_conditional_batch_norm_affine_differs_by_class():
    cbn = ConditionalBatchNorm2d(4, num_classes=3).eval()
    with torch.no_grad():
        cbn.gain.weight.copy_(torch.tensor([[0.0, 1.0, -0.5]]).expand(4, 3))  # class gains 1, 2, 0.5
        cbn.bias.weight.copy_(torch.tensor([[0.0, 0.0, 3.0]]).expand(4, 3))   # class shifts 0, 0, 3
    x = torch.randn(2, 4, 3, 3)
    plain = cbn.bn(x)
    out = [cbn(x, torch.full((2,), c)) for c in range(3)]
    assert torch.allclose(out[0], plain, atol=1e-6)
    assert torch.allclose(out[1], 2 * plain, atol=1e-6)
    assert torch.allclose(out[2], 0.5 * plain + 3, atol=1e-6)
    # one-hot weights give the same as labels; a mixture interpolates the affine
    assert torch.allclose(cbn(x, torch.eye(3)[[1, 1]]), out[1])
    half = torch.tensor([[0.5, 0.5, 0.0]]).expand(2, 3)
    assert torch.allclose(cbn(x, half), 1.5 * plain, atol=1e-6)
    # gradients reach the per-class affine of the classes in the batch only
    cbn.train()
    cbn(x, torch.tensor([0, 2])).square().sum().backward()
    assert cbn.gain.weight.grad[:, 1].abs().sum() == 0 and cbn.gain.weight.grad[:, 2].abs().sum() > 0


def test_conditional_batch_norm_rejects_bad_labels():
    cbn = ConditionalBatchNorm2d(4, num_classes=3)
    x = torch.randn(2, 4, 3, 3)
    with pytest.raises(ValueError, match="integers"):
        cbn(x, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        cbn(x, torch.zeros(2, 5))
    with pytest.raises(ValueError):
        ConditionalBatchNorm2d(4, num_classes=0)


def test_spectral_norm_leaves_conditional_batch_norm_alone():
    # its zero-initialised per-class affine has no top singular value: W / 0 would be NaN
    net = nn.ModuleDict({"conv": nn.Conv2d(4, 4, 1), "cbn": ConditionalBatchNorm2d(4, num_classes=3)})
    apply_spectral_norm(net)
    assert has_spectral_norm(net["conv"]) and not has_spectral_norm(net["cbn"].gain)
    assert torch.isfinite(net["cbn"](net["conv"](torch.randn(2, 4, 3, 3)), torch.tensor([0, 1]))).all()
