"""An example-guided translator in the manner of MUNIT (Huang et al. 2018): per domain, a content
encoder, a style encoder and a decoder whose residual blocks take their scale and shift from the
style code through adaptive instance norm (AdaIN).

Images are (N, C, H, W) float in [-1, 1], H and W divisible by 4 (fully convolutional).

    content encoder  c7s1-w, two 4x4 stride-2 convs (2w, 4w), `blocks` residual blocks; instance
                     norm throughout: the content code (N, 4w, H/4, W/4) is style-normalised
    style encoder    c7s1-w, two 4x4 stride-2 convs, global average pool, 1x1 conv -> (N, style_dim);
                     no normalisation (it would remove the very statistics a style is made of)
    decoder          `blocks` residual blocks with AdaIN (gain and bias per channel from an MLP of the
                     style code), two nearest 2x upsamplings + 5x5 conv + layer norm + ReLU, c7s1-C, tanh

MUNIT's defaults: w = 64, style_dim = 8, 4 residual blocks, a 3-layer MLP of 256 units; gankit's
`model.width` is w and `model.depth` the residual blocks. Styles are N(0, I) codes: a random style
is `torch.randn(n, style_dim)`; an example's style is `encode_style(example, domain)`.

`StyleTranslator` holds domain A's and domain B's autoencoders as one module (one optimizer for
all encoders and decoders, one for both discriminators, as in MUNIT's trainer).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["StyleTranslator", "DomainAutoencoder", "STYLE_DIM", "STRIDE"]

STYLE_DIM = 8
STRIDE = 4


def _pad_conv(c_in: int, c_out: int, k: int, stride: int = 1) -> list[nn.Module]:
    return [nn.ReflectionPad2d((k - 1) // 2 if stride == 1 else 1), nn.Conv2d(c_in, c_out, k, stride)]


class AdaIN(nn.Module):
    """Instance norm whose per-channel gain and bias are set from outside (by the style MLP).

    forward(x (N, C, H, W), gain (N, C), bias (N, C)) = (1 + gain) * IN(x) + bias: gain 0 and bias 0
    is plain instance norm (the MLP's output is centred on it)."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x: Tensor, gain: Tensor, bias: Tensor) -> Tensor:
        x = F.instance_norm(x, eps=1e-5)
        return x * (1 + gain[:, :, None, None]) + bias[:, :, None, None]


class _ResBlock(nn.Module):
    """Residual block; with `adain`, both norms take (gain, bias) pairs from the style."""

    def __init__(self, channels: int, adain: bool):
        super().__init__()
        self.adain = adain
        self.pad1, self.conv1 = nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3)
        self.pad2, self.conv2 = nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3)
        if adain:
            self.norm1, self.norm2 = AdaIN(channels), AdaIN(channels)
        else:
            self.norm1 = nn.InstanceNorm2d(channels)
            self.norm2 = nn.InstanceNorm2d(channels)

    def forward(self, x: Tensor, params: list[Tensor] | None = None) -> Tensor:
        h = self.conv1(self.pad1(x))
        h = self.norm1(h, params[0], params[1]) if self.adain else self.norm1(h)
        h = self.conv2(self.pad2(F.relu(h)))
        h = self.norm2(h, params[2], params[3]) if self.adain else self.norm2(h)
        return x + h


class ContentEncoder(nn.Module):
    def __init__(self, channels: int, width: int, blocks: int):
        super().__init__()
        w = width
        layers: list[nn.Module] = _pad_conv(channels, w, 7) + [nn.InstanceNorm2d(w), nn.ReLU(True)]
        for c in (w, 2 * w):
            layers += _pad_conv(c, 2 * c, 4, 2) + [nn.InstanceNorm2d(2 * c), nn.ReLU(True)]
        self.down = nn.Sequential(*layers)
        self.blocks = nn.ModuleList(_ResBlock(4 * w, adain=False) for _ in range(blocks))

    def forward(self, x: Tensor) -> Tensor:
        h = self.down(x)
        for block in self.blocks:
            h = block(h)
        return h


class StyleEncoder(nn.Module):
    def __init__(self, channels: int, width: int, style_dim: int):
        super().__init__()
        w = width
        layers: list[nn.Module] = _pad_conv(channels, w, 7) + [nn.ReLU(True)]
        for c in (w, 2 * w):
            layers += _pad_conv(c, 2 * c, 4, 2) + [nn.ReLU(True)]
        self.net = nn.Sequential(*layers)
        self.out = nn.Conv2d(4 * w, style_dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.net(x).mean(dim=(2, 3), keepdim=True)
        return self.out(h).flatten(1)


class Decoder(nn.Module):
    def __init__(self, channels: int, width: int, blocks: int, style_dim: int, mlp_dim: int = 256):
        super().__init__()
        c = 4 * width
        self.blocks = nn.ModuleList(_ResBlock(c, adain=True) for _ in range(blocks))
        self.n_params = 4 * blocks * c  # two (gain, bias) pairs per block
        self.mlp = nn.Sequential(nn.Linear(style_dim, mlp_dim), nn.ReLU(True), nn.Linear(mlp_dim, mlp_dim),
                                 nn.ReLU(True), nn.Linear(mlp_dim, self.n_params))
        up: list[nn.Module] = []
        for ch in (c, c // 2):
            up += [nn.Upsample(scale_factor=2, mode="nearest"), *_pad_conv(ch, ch // 2, 5),
                   nn.GroupNorm(1, ch // 2), nn.ReLU(True)]  # GroupNorm(1): MUNIT's layer norm
        up += _pad_conv(width, channels, 7) + [nn.Tanh()]
        self.up = nn.Sequential(*up)
        self.channels = c

    def forward(self, content: Tensor, style: Tensor) -> Tensor:
        params = self.mlp(style).split(self.channels, dim=1)
        h = content
        for i, block in enumerate(self.blocks):
            h = block(h, list(params[4 * i:4 * i + 4]))
        return self.up(h)


class DomainAutoencoder(nn.Module):
    """One domain's content encoder, style encoder and decoder."""

    def __init__(self, channels: int, width: int, blocks: int, style_dim: int = STYLE_DIM):
        super().__init__()
        self.content = ContentEncoder(channels, width, blocks)
        self.style = StyleEncoder(channels, width, style_dim)
        self.decoder = Decoder(channels, width, blocks, style_dim)


class StyleTranslator(nn.Module):
    """Both domains' autoencoders; translate(x, "a2b", style) renders A's content in a B style.

    x: (N, C, H, W) in [-1, 1]; style: (N, style_dim) codes (random styles: N(0, I)) or None for
    codes drawn from `generator`. Shapes as `CycleGenerators`: `shape` the (C, H, W) trained at.
    """

    def __init__(self, channels: int, width: int, blocks: int, shape: tuple, style_dim: int = STYLE_DIM):
        super().__init__()
        self.a = DomainAutoencoder(channels, width, blocks, style_dim)
        self.b = DomainAutoencoder(channels, width, blocks, style_dim)
        self.style_dim, self.shape, self.stride = int(style_dim), tuple(int(s) for s in shape), STRIDE
        self.out_shape = self.shape

    z_dim = 0        # what the rest of gankit reads of a generator: no latent,
    num_classes = 0  # no labels

    def sample(self, *args, **kwargs):
        raise TypeError("a style translator translates images: call translate(x, 'a2b', style) (or gankit translate)")

    def domain(self, name: str) -> DomainAutoencoder:
        if name not in ("a", "b"):
            raise ValueError(f"domain: must be a or b, got {name!r}")
        return self.a if name == "a" else self.b

    def encode(self, x: Tensor, domain: str) -> tuple[Tensor, Tensor]:
        """(content (N, 4w, H/4, W/4), style (N, style_dim)) of images x of `domain`."""
        ae = self.domain(domain)
        return ae.content(x), ae.style(x)

    def encode_style(self, x: Tensor, domain: str) -> Tensor:
        return self.domain(domain).style(x)

    def decode(self, content: Tensor, style: Tensor, domain: str) -> Tensor:
        return self.domain(domain).decoder(content, style)

    def random_styles(self, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        return torch.randn(n, self.style_dim, generator=generator, device=device)

    def translate(self, x: Tensor, direction: str, style: Tensor | None = None,
                  generator: torch.Generator | None = None) -> Tensor:
        if direction not in ("a2b", "b2a"):
            raise ValueError(f"direction: must be a2b or b2a, got {direction!r}")
        source, target = direction[0], direction[-1]
        content = self.domain(source).content(x)
        if style is None:
            style = self.random_styles(x.shape[0], generator, x.device)
        return self.decode(content, style, target)

    def forward(self, x: Tensor, direction: str = "a2b", style: Tensor | None = None) -> Tensor:
        return self.translate(x, direction, style)


# ---------------------------------------------------------------------------
# the registry's builders (model.arch = "munit"; data.task = "unpaired")


def generator(cfg, shape: tuple) -> StyleTranslator:
    """Both domains' encoders and decoders for images of `shape` (C, H, W): model.width, model.depth
    residual blocks, an 8-D style code; conv and linear weights Kaiming-normal, biases 0 (MUNIT's
    generator init: the style encoder's codes then start at the N(0, I) scale of random styles)."""
    model = StyleTranslator(shape[0], cfg.width, cfg.depth, shape)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, a=0.0, mode="fan_in")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def check(cfg, shape: tuple) -> "str | None":
    from gankit.models import cyclegan
    return cyclegan.check(cfg, shape)  # the same two stride-2 levels and PatchGAN discriminators
