"""Shapes, value ranges, gradients, save/load and registry checks for every model family."""

import dataclasses

import pytest
import torch
from safetensors.torch import load_file, save_file

from gankit.config import ModelConfig
from gankit.models import MODELS, Generator, ModelError, build, check
from gankit.models.dcgan import split_resolution


def tiny(arch, **kw):
    return ModelConfig(**{"arch": arch, "z_dim": 8, "width": 8, "depth": 2, **kw})


IMAGE_CASES = [(arch, (c, r, r)) for arch in ("mlp", "dcgan") for r in (28, 32, 64) for c in (1, 3)]
IMAGE_CASES += [("dcgan-tf", (c, 28, 28)) for c in (1, 3)]
IMAGE_CASES += [("resnet", (c, r, r)) for r in (28, 32) for c in (1, 3)]
TOY_CASES = [("mlp", (1,)), ("mlp", (2,))]


@pytest.mark.parametrize("arch,shape", IMAGE_CASES + TOY_CASES)
def test_models_output_shapes(arch, shape):
    G, D = build(tiny(arch), shape, seed=0)
    assert isinstance(G, Generator) and G.z_dim == 8 and G.out_shape == shape
    x = G(torch.randn(4, 8))
    assert x.shape == (4, *shape) and x.dtype == torch.float32
    logits = D(x)
    assert logits.shape == (4,)
    assert D(torch.randn(5, *shape)).shape == (5,)


@pytest.mark.parametrize("arch,shape", [("mlp", (1, 28, 28)), ("dcgan", (3, 32, 32)), ("dcgan-tf", (1, 28, 28)),
                                        ("resnet", (1, 28, 28)), ("resnet", (3, 32, 32))])
def test_models_image_outputs_in_range(arch, shape):
    G, _ = build(tiny(arch), shape, seed=0)
    with torch.no_grad():
        for p in G.parameters():
            p.mul_(20)  # drive pre-activations far outside [-1, 1]; only tanh keeps them in
        x = G(torch.randn(16, 8) * 5)
    assert x.abs().max() <= 1.0
    assert x.abs().max() > 0.99  # the scaling above did saturate, so the bound was tested


def test_models_toy_outputs_are_unbounded():
    G, _ = build(tiny("mlp"), (2,), seed=0)
    with torch.no_grad():
        for p in G.parameters():
            p.mul_(20)
        assert G(torch.randn(16, 8)).abs().max() > 1.5


@pytest.mark.parametrize("res", [8, 14, 16, 56, 128])
def test_models_dcgan_other_resolutions(res):
    G, D = build(tiny("dcgan", width=4), (1, res, res), seed=0)
    x = G(torch.randn(2, 8))
    assert x.shape == (2, 1, res, res) and D(x).shape == (2,)


def test_models_split_resolution():
    assert split_resolution(28) == (7, 2) and split_resolution(32) == (4, 3) and split_resolution(64) == (4, 4)
    for bad in (4, 7, 12, 24, 30, 48, 100):
        assert split_resolution(bad) is None, bad


@pytest.mark.parametrize("arch,shape,words", [
    ("dcgan", (1, 30, 30), ["model.arch", "30"]),
    ("dcgan", (1, 28, 32), ["model.arch", "square"]),
    ("dcgan-tf", (1, 32, 32), ["model.arch", "28x28", "32"]),
    ("dcgan", (2,), ["model.arch", "(2,)", "mlp"]),
    ("dcgan-tf", (2,), ["model.arch", "(2,)"]),
    ("resnet", (1, 64, 64), ["model.arch", "28x28", "32x32", "64"]),
    ("resnet", (3, 30, 30), ["model.arch", "28x28", "32x32", "30"]),
    ("resnet", (1, 28, 32), ["model.arch", "square"]),
    ("resnet", (2,), ["model.arch", "(2,)", "mlp"]),
    ("nope", (1, 28, 28), ["model.arch", "'nope'", "dcgan", "dcgan-tf", "mlp", "resnet"]),
])
def test_models_check_rejects(arch, shape, words):
    with pytest.raises(ModelError) as info:
        check(tiny(arch), shape)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("model.")
    for w in words:
        assert w in msg
    with pytest.raises(ModelError):
        build(tiny(arch), shape)  # build checks first, before constructing anything


def test_models_check_rejects_bad_values():
    with pytest.raises(ModelError, match=r"^model\.z_dim: "):
        check(tiny("mlp", z_dim=0), (2,))
    with pytest.raises(ModelError, match=r"^model\.d_dropout: "):
        check(tiny("dcgan", d_dropout=1.0), (1, 28, 28))
    assert issubclass(ModelError, ValueError)


def test_models_check_accepts_supported():
    for arch, shape in IMAGE_CASES + TOY_CASES + [("mlp", (3, 30, 30)), ("dcgan", (3, 56, 56))]:
        assert check(tiny(arch), shape) is None
        assert MODELS[arch].check(tiny(arch), shape) is None


def test_models_registry():
    assert set(MODELS) == {"mlp", "dcgan", "dcgan-tf", "resnet", "unet", "cyclegan", "munit"}
    for fam in MODELS.values():
        assert fam.description and "\n" not in fam.description
        with pytest.raises(dataclasses.FrozenInstanceError):
            fam.description = "x"


def _nparams(m):
    return sum(p.numel() for p in m.parameters())


def test_models_reference_parameter_counts():
    # dcgan-tf must be the TF tutorial's model: its Keras summary lists these trainable counts.
    G, D = build(ModelConfig(arch="dcgan-tf"), (1, 28, 28))
    assert (_nparams(G), _nparams(D)) == (2_305_472, 212_865)
    # dcgan at 64x64 RGB, width 64 is the PyTorch DCGAN example's G (plus the output bias).
    G, _ = build(ModelConfig(arch="dcgan"), (3, 64, 64))
    assert _nparams(G) == 3_576_704 + 3


def test_models_dcgan_discriminator_options():
    def layers(D, kind):
        return [m for m in D.modules() if isinstance(m, kind)]

    plain = build(tiny("dcgan"), (1, 32, 32), seed=0)[1]
    assert not layers(plain, torch.nn.BatchNorm2d) and not layers(plain, torch.nn.Dropout)
    D = build(tiny("dcgan", d_batchnorm=True, d_dropout=0.5), (1, 32, 32), seed=0)[1]
    assert len(layers(D, torch.nn.BatchNorm2d)) == 2  # 3 convs, never on the first
    assert D.net[0].bias is not None and D.net[3].bias is None  # no bias where BN follows
    x = torch.randn(4, 1, 32, 32)
    D.train()
    assert not torch.equal(D(x), D(x))  # dropout active in training
    D.eval()
    assert torch.equal(D(x), D(x))


def test_models_initialisation():
    G, D = build(ModelConfig(arch="dcgan", width=16), (1, 28, 28), seed=0)
    conv = G.net[4]
    assert isinstance(conv, torch.nn.ConvTranspose2d)
    assert abs(conv.weight.std().item() - 0.02) < 0.002
    bn = G.net[2]
    assert abs(bn.weight.mean().item() - 1.0) < 0.01 and torch.all(bn.bias == 0)
    assert torch.all(D.net[0].bias == 0)


def test_models_build_seed_is_reproducible_and_local():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    G1, D1 = build(tiny("dcgan"), (1, 28, 28), seed=7)
    assert torch.equal(torch.get_rng_state(), before)
    G2, D2 = build(tiny("dcgan"), (1, 28, 28), seed=7)
    G3, _ = build(tiny("dcgan"), (1, 28, 28), seed=8)
    for a, b in zip(G1.state_dict().values(), G2.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(D1.state_dict().values(), D2.state_dict().values()):
        assert torch.equal(a, b)
    assert not torch.equal(G1.net[0].weight, G3.net[0].weight)


CASES = [("mlp", (2,)), ("mlp", (1, 28, 28)), ("dcgan", (3, 32, 32)), ("dcgan-tf", (1, 28, 28)),
         ("resnet", (1, 28, 28)), ("resnet", (3, 32, 32))]
D_OPTIONS = {"resnet": {}}  # resnet refuses D batch norm and dropout (its D is spectrally normalised)


@pytest.mark.parametrize("arch,shape", CASES)
def test_models_gradients_reach_every_generator_parameter(arch, shape):
    G, D = build(tiny(arch, **D_OPTIONS.get(arch, {"d_batchnorm": True, "d_dropout": 0.1})), shape, seed=0)
    D(G(torch.randn(4, 8))).mean().backward()
    for name, p in G.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("arch,shape", CASES)
def test_models_discriminator_supports_double_backward(arch, shape):
    # gradient penalties (WGAN-GP, R1) differentiate through dD/dx
    _, D = build(tiny(arch), shape, seed=0)
    x = torch.randn(3, *shape, requires_grad=True)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    g.square().sum().backward()
    # the first layer's weight (under spectral norm, its unnormalised original): for a ReLU net
    # grad_x D is piecewise constant in the biases, so only weights get a second-order gradient
    first = next(p for name, p in D.named_parameters() if "weight" in name)
    assert first.grad.abs().sum() > 0


@pytest.mark.parametrize("arch,shape", CASES)
def test_models_safetensors_round_trip(arch, shape, tmp_path):
    G, D = build(tiny(arch), shape, seed=0)
    G.train()
    for _ in range(2):  # move batch-norm running statistics off their initial values
        G(torch.randn(8, 8))
    save_file(G.state_dict(), tmp_path / "g.safetensors")
    save_file(D.state_dict(), tmp_path / "d.safetensors")
    G2, D2 = build(tiny(arch), shape, seed=1)
    G2.load_state_dict(load_file(tmp_path / "g.safetensors"))
    D2.load_state_dict(load_file(tmp_path / "d.safetensors"))
    z = torch.randn(5, 8)
    G.eval(), G2.eval(), D.eval(), D2.eval()
    with torch.no_grad():
        assert torch.equal(G(z), G2(z))
        x = G(z)
        assert torch.equal(D(x), D2(x))
    assert torch.equal(G.sample(6, seed=3), G2.sample(6, seed=3))


# ---- class conditioning: every method on every family that builds it, the same contract

K = 3
METHODS = ("concat", "projection", "ac")
COND_SHAPES = [("mlp", (2,)), ("mlp", (1, 28, 28)), ("dcgan", (1, 28, 28)), ("dcgan", (3, 32, 32)),
               ("resnet", (1, 28, 28)), ("resnet", (3, 32, 32))]
COND_CASES = [(arch, shape, method) for method in METHODS for arch, shape in COND_SHAPES]


def _cond(arch, shape, method, seed=0):
    return build(tiny(arch, conditional=method), shape, seed=seed, num_classes=K)


def _perturb(module, seed=0):
    """Move every weight off its init: conditional affines start at zero, i.e. label-blind."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)


def test_models_conditional_registry_and_unconditional_builds_unchanged():
    assert {arch for arch, fam in MODELS.items() if fam.conditional == set(METHODS)} == {"mlp", "dcgan", "resnet"}
    assert not MODELS["dcgan-tf"].conditional
    for arch, shape in COND_SHAPES:
        G0, D0 = build(tiny(arch), shape, seed=0)
        G1, D1 = build(tiny(arch), shape, seed=0, num_classes=10)  # conditional "none": K is ignored
        for a, b in ((G0, G1), (D0, D1)):
            sa, sb = a.state_dict(), b.state_dict()
            assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
        assert G1.num_classes == 0


@pytest.mark.parametrize("num_classes", [0, -1, True, 2.0])
def test_models_conditional_needs_a_class_count(num_classes):
    with pytest.raises(ModelError, match=r"^model\.conditional: 'projection' needs the number of classes"):
        build(tiny("dcgan", conditional="projection"), (1, 28, 28), num_classes=num_classes)


@pytest.mark.parametrize("arch,shape,method", COND_CASES)
def test_models_conditional_shapes_labels_and_range(arch, shape, method):
    G, D = _cond(arch, shape, method)
    assert G.num_classes == K and G.z_dim == 8
    _perturb(G), _perturb(D)
    D.eval()  # spectral norm's power iteration would change D between the calls compared below
    z, y = torch.randn(6, 8), torch.arange(6) % K
    x = G(z, y)
    assert x.shape == (6, *shape) and x.dtype == torch.float32
    if len(shape) == 3:
        assert x.abs().max() <= 1.0
    assert not torch.equal(G(z, torch.zeros(6, dtype=torch.long)), G(z, torch.ones(6, dtype=torch.long)))
    assert torch.equal(G(z, torch.nn.functional.one_hot(y, K).float()), x)  # class weights: one-hot = index
    with pytest.raises(ValueError, match="labels"):
        G(z)
    logits = D(x, y)
    assert logits.shape == (6,)
    other = D(x, (y + 1) % K)
    if method == "ac":  # the adversarial logit is label-blind; the labels meet D in the class head's loss
        assert torch.equal(other, logits) and torch.equal(D(x), logits)
        adv, classes = D(x, y, return_classes=True)
        assert torch.equal(adv, logits) and classes.shape == (6, K)
    else:
        assert not torch.equal(other, logits)
        with pytest.raises(ValueError):
            D(x)
        with pytest.raises(ValueError, match="class head"):
            D(x, y, return_classes=True)


@pytest.mark.parametrize("arch,shape", [(arch, shape) for arch, shape in COND_SHAPES if len(shape) == 3])
def test_models_conditional_range_when_saturated(arch, shape):
    G, _ = _cond(arch, shape, "projection")
    _perturb(G)
    with torch.no_grad():
        for p in G.parameters():
            p.mul_(20)
        x = G(torch.randn(16, 8) * 5, torch.arange(16) % K)
    assert x.abs().max() <= 1.0 and x.abs().max() > 0.99


@pytest.mark.parametrize("arch,shape,method", COND_CASES)
def test_models_conditional_gradients_and_double_backward(arch, shape, method):
    G, D = _cond(arch, shape, method)
    z, y = torch.randn(4, 8), torch.arange(4) % K
    x = G(z, y)
    if method == "ac":
        adv, classes = D(x, y, return_classes=True)
        (adv.mean() + torch.nn.functional.cross_entropy(classes, y)).backward()
    else:
        D(x, y).mean().backward()
    for name, p in G.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    real = torch.randn(3, *shape, requires_grad=True)
    (g,) = torch.autograd.grad(D(real, torch.arange(3) % K).sum(), real, create_graph=True)
    g.square().sum().backward()  # R1 and WGAN-GP on a conditional D


@pytest.mark.parametrize("arch,shape,method", COND_CASES)
def test_models_conditional_safetensors_round_trip(arch, shape, method, tmp_path):
    G, D = _cond(arch, shape, method)
    _perturb(G), _perturb(D)
    G.train()
    for _ in range(2):
        G(torch.randn(8, 8), torch.arange(8) % K)
    save_file(G.state_dict(), tmp_path / "g.safetensors")
    save_file(D.state_dict(), tmp_path / "d.safetensors")
    G2, D2 = _cond(arch, shape, method, seed=1)
    G2.load_state_dict(load_file(tmp_path / "g.safetensors"))
    D2.load_state_dict(load_file(tmp_path / "d.safetensors"))
    z, y = torch.randn(5, 8), torch.arange(5) % K
    G.eval(), G2.eval(), D.eval(), D2.eval()
    with torch.no_grad():
        x = G(z, y)
        assert torch.equal(x, G2(z, y))
        assert torch.equal(D(x, y), D2(x, y))
