"""CycleGAN's ResNet-block generator (Zhu et al. 2017, appendix 7.2; Johnson et al. 2016), and the
composite modules that hold a translation game's two generators and two discriminators.

Generator, for (N, C, H, W) images in [-1, 1] with H and W divisible by 4 (fully convolutional,
so a trained model runs on any such size):

    c7s1-w        reflection pad 3, 7x7 conv, instance norm, ReLU
    d2w, d4w      3x3 stride-2 convs, instance norm, ReLU          (H/4 x W/4, 4w channels)
    R4w x blocks  residual blocks: [reflect pad, 3x3 conv, IN, ReLU, reflect pad, 3x3 conv, IN] + x
    u2w, uw       up-sampling: 3x3 stride-1/2 transposed convs (the paper), or nearest 2x resize
                  + 3x3 conv ("resize": no checkerboard, Odena et al. 2016), IN, ReLU
    c7s1-C        reflection pad 3, 7x7 conv, tanh                 -> (N, C_out, H, W) in [-1, 1]

The paper uses w = 64 and 6 blocks at 128x128 (9 at 256); gankit's `model.width` is w and
`model.depth` the number of residual blocks. Instance norm without affine parameters and without
running statistics, as in the reference code: it normalises each image by itself, in training
and at inference alike, so a translation never depends on the rest of its batch.

`CycleGenerators` holds G_ab and G_ba as one module (so the loop keeps one G and one optimizer
over both, the published arrangement: Adam over itertools.chain of both generators' parameters);
`CycleDiscriminators` holds D_a (judges domain A) and D_b likewise.
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor, nn

__all__ = ["ResnetGenerator", "CycleGenerators", "CycleDiscriminators", "DIRECTIONS", "STRIDE", "init_normal"]

DIRECTIONS = ("a2b", "b2a")
STRIDE = 4
"""Height and width of an input must be divisible by this (two stride-2 downsamplings)."""


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _up(c_in: int, c_out: int, upsample: str) -> list[nn.Module]:
    if upsample == "resize":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, padding=1)]
    return [nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1)]


class ResnetGenerator(nn.Module):
    """x (N, in_channels, H, W) in [-1, 1], H, W divisible by 4 -> (N, out_channels, H, W) in [-1, 1]."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 64, blocks: int = 6,
                 upsample: str = "transpose"):
        super().__init__()
        if upsample not in ("transpose", "resize"):
            raise ValueError(f"model.upsample: must be transpose or resize, got {upsample!r}")
        w = width
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, w, 7), _norm(w), nn.ReLU(True)]
        for c in (w, 2 * w):
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), _norm(2 * c), nn.ReLU(True)]
        layers += [ResidualBlock(4 * w) for _ in range(blocks)]
        for c in (4 * w, 2 * w):
            layers += _up(c, c // 2, upsample) + [_norm(c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def init_normal(module: nn.Module, std: float = 0.02) -> nn.Module:
    """The reference code's init ("normal", gain 0.02): conv weights N(0, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


class CycleGenerators(nn.Module):
    """G_ab and G_ba of a translation game, one module (one optimizer over both).

    forward(x, direction="a2b"): (N, C, H, W) in [-1, 1] -> the translation, same shape.
    `shape` is the (C, H, W) images were trained at; inference takes any H, W divisible by `stride`.
    """

    z_dim = 0        # what the rest of gankit reads of a generator: no latent,
    num_classes = 0  # no labels

    def __init__(self, a2b: nn.Module, b2a: nn.Module, shape: tuple, stride: int = STRIDE):
        super().__init__()
        self.a2b, self.b2a = a2b, b2a
        self.shape, self.stride = tuple(int(s) for s in shape), int(stride)
        self.out_shape = self.shape

    def sample(self, *args, **kwargs):
        raise TypeError("a CycleGAN translates images: call G(x, 'a2b') on an input batch (or gankit translate)")

    def net(self, direction: str) -> nn.Module:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction: must be a2b or b2a, got {direction!r}")
        return self.a2b if direction == "a2b" else self.b2a

    def forward(self, x: Tensor, direction: str = "a2b") -> Tensor:
        return self.net(direction)(x)


class CycleDiscriminators(nn.Module):
    """D_a (real images of domain A vs translations into A) and D_b, one module (one optimizer).

    forward(x, domain) -> D_domain's raw logits, whatever shape the discriminator gives
    (a PatchGAN: (N, 1, h, w), one logit per patch)."""

    def __init__(self, a: nn.Module, b: nn.Module):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x: Tensor, domain: str) -> Tensor:
        if domain not in ("a", "b"):
            raise ValueError(f"domain: must be a or b, got {domain!r}")
        return (self.a if domain == "a" else self.b)(x)


def build_pair(make: Callable[[], nn.Module]) -> tuple[nn.Module, nn.Module]:
    """Two independently initialised copies of `make()` (drawn from torch's global RNG in order)."""
    return make(), make()


# ---------------------------------------------------------------------------
# the registry's builders (model.arch = "cyclegan"; data.task = "unpaired")


def patch_discriminators(cfg, shape: tuple) -> CycleDiscriminators:
    """D_a and D_b: two PatchGANs (`gankit.models.patchgan`, model.width, model.patch_layers) judging
    single images of `shape` (C, H, W) — already packed by model.pack — one logit per patch."""
    from gankit.models import patchgan
    return CycleDiscriminators(patchgan.discriminator(cfg, shape), patchgan.discriminator(cfg, shape))


def generator(cfg, shape: tuple) -> CycleGenerators:
    """G_ab and G_ba for images of `shape` (C, H, W): ResNet-block generators of model.width, model.depth
    residual blocks and model.upsample, initialised N(0, 0.02) as the reference code does."""
    c = shape[0]
    make = lambda: init_normal(ResnetGenerator(c, c, cfg.width, cfg.depth, cfg.upsample))  # noqa: E731
    return CycleGenerators(make(), make(), shape)


def check(cfg, shape: tuple) -> "str | None":
    from gankit.models import patchgan
    from gankit.models.base import square_image_problem
    reason = square_image_problem("cyclegan", shape)
    if reason:
        return reason
    if shape[-1] % STRIDE:
        return f"cyclegan's generator downsamples twice: the image side must be a multiple of {STRIDE}, got {shape[-1]}"
    return patchgan.check(cfg, shape[-1])


def build_unpaired_generator(cfg, shape: tuple) -> nn.Module:
    """The composite generator of an unpaired run by model.arch: cyclegan (`generator`), munit
    (`gankit.models.munit.generator`) or unet (two U-Nets of `gankit.models.unet`, any size)."""
    if cfg.arch == "unet":
        from gankit.models import unet
        return CycleGenerators(unet.generator(cfg, shape), unet.generator(cfg, shape), shape, stride=1)
    if cfg.arch == "munit":
        from gankit.models import munit
        return munit.generator(cfg, shape)
    return generator(cfg, shape)
