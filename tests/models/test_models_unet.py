"""U-Net generator and PatchGAN discriminator: shapes, receptive field, any-size inference."""

import pytest
import torch

from gankit.config import ModelConfig
from gankit.models import MODELS, ModelError, build, build_translator, check
from gankit.models.patchgan import PatchGAN, auto_layers, min_side, receptive_field
from gankit.models.unet import UNet, unet_depth


def cfg(**kw):
    return ModelConfig(arch="unet", width=kw.pop("width", 4), **kw)


@pytest.mark.parametrize("upsample", ["resize", "transpose"])
@pytest.mark.parametrize("shape,in_ch,scale,mask", [((1, 28, 28), 1, 1, False), ((3, 32, 32), 3, 1, False),
                                                    ((1, 32, 32), 1, 4, False), ((3, 16, 16), 3, 2, False),
                                                    ((3, 24, 24), 4, 1, True)])
def test_unet_patchgan_shapes(upsample, shape, in_ch, scale, mask):
    G, D = build_translator(cfg(upsample=upsample), shape, in_ch, scale, mask, seed=0)
    c, h, w = shape
    x = torch.rand(3, in_ch, h // scale, w // scale) * 2 - 1
    y = G(x)
    assert y.shape == (3, c, h, w)
    logits = D(torch.cat([torch.nn.functional.interpolate(x, scale_factor=scale) if scale > 1 else x, y], 1))
    assert logits.ndim == 2 and logits.shape[0] == 3 and logits.shape[1] >= 1


def test_unet_depth_from_resolution():
    assert [unet_depth(s) for s in (28, 32, 64, 7, 256, 1024)] == [2, 4, 5, 0, 7, 7]
    assert UNet(1, 1, 28, width=4).stride == 4


def test_unet_residual_starts_at_the_baseline_and_any_size_runs():
    torch.manual_seed(0)
    G = UNet(3, 3, 32, width=4, scale=2).eval()
    x = torch.rand(2, 3, 13, 21) * 2 - 1  # odd sizes, not multiples of the stride
    y = G(x)
    assert y.shape == (2, 3, 26, 42)
    assert torch.allclose(y, torch.nn.functional.interpolate(x, scale_factor=2, mode="bicubic"), atol=1e-6)
    plain = UNet(3, 3, 32, width=4, residual=False).eval()
    assert plain(x).abs().max() <= 1


def test_unet_inpainting_keeps_known_pixels_exactly():
    torch.manual_seed(0)
    G = UNet(4, 3, 16, width=4, mask_input=True, residual=False)
    img = torch.rand(2, 3, 16, 16) * 2 - 1
    m = torch.zeros(2, 1, 16, 16)
    m[:, :, 4:10, 3:12] = 1
    out = G(torch.cat([img * (1 - m), m], 1))
    known = (m == 0).expand_as(img)
    assert torch.equal(out[known], img[known])
    assert not torch.equal(out[~known], (img * (1 - m))[~known])


def test_unet_dropout_only_while_training():
    torch.manual_seed(0)
    G = UNet(1, 1, 16, width=4, dropout=0.5, residual=False)
    x = torch.rand(4, 1, 16, 16)
    torch.manual_seed(1)
    a = G(x)
    torch.manual_seed(2)
    assert not torch.equal(a, G(x))  # dropout is the noise source while training
    G.eval()
    assert torch.equal(G(x), G(x))


def test_patchgan_receptive_field_matches_gradients():
    assert [receptive_field(n) for n in (1, 2, 3, 4)] == [16, 34, 70, 142]
    assert auto_layers(28) == 1 and auto_layers(64) == 2 and auto_layers(256) == 3
    for layers in (1, 2):
        D = PatchGAN(1, width=4, layers=layers).eval()
        for m in D.modules():  # positive weights: every input in the field moves the logit
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.constant_(m.weight, 0.01)
        side = 96
        x = torch.zeros(1, 1, side, side, requires_grad=True)
        out = D.net(x)
        out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
        rows = (x.grad[0, 0].abs().sum(1) > 0).nonzero()
        assert int(rows.max() - rows.min() + 1) <= receptive_field(layers)
        assert int(rows.max() - rows.min() + 1) >= receptive_field(layers) - 2  # padding trims the border taps


def test_unet_family_in_registry_and_checks():
    assert "unet" in MODELS
    G, D = build(cfg(), (1, 28, 28), seed=0)
    assert G(torch.zeros(2, 1, 28, 28)).shape == (2, 1, 28, 28)
    assert D(torch.zeros(2, 2, 28, 28)).shape[0] == 2
    with pytest.raises(ModelError, match="model.arch: unet translates images"):
        check(cfg(), (2,))
    with pytest.raises(ModelError, match="PatchGAN needs images of at least"):
        check(cfg(patch_layers=4), (1, 28, 28))
    assert min_side(1) <= 28


def test_build_translator_is_seeded():
    a, _ = build_translator(cfg(), (1, 28, 28), 2, mask_input=True, seed=3)
    b, _ = build_translator(cfg(), (1, 28, 28), 2, mask_input=True, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
