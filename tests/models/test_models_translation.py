"""CycleGAN's ResNet-block generator and the MUNIT-like style translator: shape contracts at several
sizes and channel counts, value range, per-image independence, and the style path."""

import pytest
import torch

from gankit.models.cyclegan import CycleDiscriminators, CycleGenerators, ResnetGenerator
from gankit.models.munit import StyleTranslator


@pytest.mark.parametrize("channels,side,upsample", [(1, 28, "transpose"), (3, 32, "resize"), (1, 20, "resize"),
                                                    (3, 16, "transpose")])
def test_resnet_generator_keeps_shape_and_range(channels, side, upsample):
    torch.manual_seed(0)
    G = ResnetGenerator(channels, channels, width=4, blocks=2, upsample=upsample)
    x = torch.rand(3, channels, side, side) * 2 - 1
    y = G(x)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    # a non-square input of another size runs too (fully convolutional)
    assert G(torch.zeros(1, channels, 12, 24)).shape == (1, channels, 12, 24)


def test_instance_norm_makes_each_translation_independent_of_its_batch():
    torch.manual_seed(0)
    G = ResnetGenerator(1, 1, width=4, blocks=1)
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    G.train()
    assert torch.allclose(G(x)[:1], G(x[:1]), atol=1e-6)
    with pytest.raises(ValueError, match="model.upsample"):
        ResnetGenerator(1, 1, upsample="bilinear")


def test_composites_route_by_direction_and_domain():
    torch.manual_seed(0)
    a2b, b2a = ResnetGenerator(1, 1, 4, 1), ResnetGenerator(1, 1, 4, 1)
    G = CycleGenerators(a2b, b2a, (1, 16, 16))
    x = torch.rand(2, 1, 16, 16)
    assert torch.equal(G(x, "a2b"), a2b(x)) and torch.equal(G(x, "b2a"), b2a(x))
    with pytest.raises(ValueError, match="direction"):
        G(x, "a2c")
    Da, Db = torch.nn.Conv2d(1, 1, 3), torch.nn.Conv2d(1, 1, 3)
    D = CycleDiscriminators(Da, Db)
    assert torch.equal(D(x, "a"), Da(x)) and torch.equal(D(x, "b"), Db(x))
    # one module each: one optimizer sees all four networks' parameters
    assert len(list(G.parameters())) == 2 * len(list(a2b.parameters()))


@pytest.mark.parametrize("channels,side", [(1, 28), (3, 32), (1, 16)])
def test_style_translator_shapes(channels, side):
    torch.manual_seed(0)
    T = StyleTranslator(channels, width=4, blocks=1, shape=(channels, side, side))
    x = torch.rand(2, channels, side, side) * 2 - 1
    content, style = T.encode(x, "a")
    assert content.shape == (2, 16, side // 4, side // 4) and style.shape == (2, 8)
    y = T.translate(x, "a2b", torch.randn(2, 8))
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1


def test_the_style_code_changes_the_output_and_the_content_code_is_style_free():
    torch.manual_seed(0)
    T = StyleTranslator(1, width=4, blocks=1, shape=(1, 16, 16)).eval()
    x = torch.rand(1, 1, 16, 16) * 2 - 1
    s1, s2 = torch.randn(1, 8), torch.randn(1, 8)
    assert not torch.allclose(T.translate(x, "a2b", s1), T.translate(x, "a2b", s2))
    assert torch.equal(T.translate(x, "a2b", s1), T.translate(x, "a2b", s1))
    # random styles come from the generator handed in
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    assert torch.equal(T.translate(x, "b2a", generator=g1), T.translate(x, "b2a", generator=g2))
