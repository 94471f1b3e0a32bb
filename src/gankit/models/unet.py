"""The image-to-image generator: a U-Net (Ronneberger et al. 2015) as in pix2pix (Isola et al. 2017).

An encoder halves the resolution `depth` times (4x4 stride-2 convs, batch norm, leaky ReLU), a
decoder doubles it back, and every decoder level is concatenated with the encoder features of
its resolution (the skips), so fine detail need not squeeze through the bottleneck.

    G(x): (N, in_channels, h, w) float in [-1, 1]  ->  (N, out_channels, h * scale, w * scale)

Choices, and why:
- depth from the resolution (`unet_depth`): halve while the side stays even and >= 2, at most 7
  times (pix2pix's 256 px U-Net reaches 1x1 with 8); 28 -> depth 2 (7x7 bottleneck), 32 -> 4,
  64 -> 5. The stride, 2**depth, is what a size must be a multiple of inside the net; `forward`
  pads any other size (replicate) and crops the result back, so G runs on any size.
- `model.upsample`: "resize" (nearest x2 then a 3x3 conv; Odena et al. 2016, no checkerboard
  artefacts, the default) or "transpose" (pix2pix's 4x4 stride-2 transposed conv).
- dropout as the noise source (pix2pix gives G no z): `model.g_dropout` in the three innermost
  decoder levels while training. In eval mode (translation, grids) dropout is off and G is a
  deterministic function of its input; pix2pix keeps dropout on at test time, which we do not, so
  one input gives one output.
- super-resolution (`scale` > 1): the input is first upsampled by `scale` with bicubic
  interpolation and the U-Net works at the output size (the SRCNN/VDSR layout: simple, any
  scale, and the bicubic image is the natural starting point).
- `residual` (model.residual, default true): G predicts a correction added to its (upsampled)
  input, and the correction's last conv starts at zero, so an untrained G is exactly the
  classical baseline (the degraded input, or bicubic) and training only improves on it. false
  gives pix2pix's direct tanh output. Needs in_channels == out_channels (or a mask input).
- `mask_input` (inpainting): the last input channel is the hole mask (1 = missing pixel), the
  others the image with holes set to 0; the output keeps every known pixel exactly,
  out = x * (1 - m) + G'(x) * m.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.models.base import init_weights

UPSAMPLE = ("resize", "transpose")
MAX_DEPTH = 7


def unet_depth(side: int) -> int:
    """Encoder levels for an image side (the U-Net's own working size): halvings while even and >= 2."""
    depth = 0
    while side % 2 == 0 and side // 2 >= 2 and depth < MAX_DEPTH:
        side //= 2
        depth += 1
    return depth


def _up(c_in: int, c_out: int, mode: str) -> nn.Module:
    if mode == "transpose":
        return nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False))


class UNet(nn.Module):
    """U-Net generator; see the module docstring. Attributes the rest of gankit reads:
    in_channels, out_channels, scale, stride (in output pixels), mask_input, out_shape
    (the training target shape), z_dim = 0 and num_classes = 0 (it takes no latent or label)."""

    z_dim = 0
    num_classes = 0

    def __init__(self, in_channels: int, out_channels: int, side: int, width: int = 64, upsample: str = "resize",
                 dropout: float = 0.5, scale: int = 1, residual: bool = True, mask_input: bool = False):
        super().__init__()
        if upsample not in UPSAMPLE:
            raise ValueError(f"upsample must be one of {UPSAMPLE}, got {upsample!r}")
        self.in_channels, self.out_channels, self.scale = in_channels, out_channels, scale
        self.residual, self.mask_input = residual, mask_input
        self.depth = unet_depth(side)
        self.stride = 2 ** self.depth
        self.out_shape = (out_channels, side, side)
        ch = [min(width * 2 ** i, width * 8) for i in range(self.depth + 1)]
        self.stem = nn.Sequential(nn.Conv2d(in_channels, ch[0], 3, 1, 1), nn.LeakyReLU(0.2))
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(ch[i], ch[i + 1], 4, 2, 1, bias=False), nn.BatchNorm2d(ch[i + 1]),
                          nn.LeakyReLU(0.2))
            for i in range(self.depth))
        self.up = nn.ModuleList()
        for i in range(self.depth):  # up[i] brings level i+1 to level i
            c_in = ch[i + 1] if i == self.depth - 1 else 2 * ch[i + 1]
            layers = [_up(c_in, ch[i], upsample), nn.BatchNorm2d(ch[i]), nn.ReLU()]
            if dropout > 0 and i >= self.depth - 3:
                layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        head_in = 2 * ch[0] if self.depth else ch[0]
        self.head = nn.Conv2d(head_in, out_channels, 3, 1, 1)
        init_weights(self)
        if residual:  # start at the baseline: the correction is exactly 0 before training
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def base(self, x: Tensor) -> Tensor:
        """The image the correction is added to: the input's image channels, upsampled by `scale`
        (bicubic; holes stay 0 for inpainting). (N, out_channels, h*scale, w*scale)."""
        image = x[:, :self.out_channels]
        if self.scale > 1:
            image = F.interpolate(image, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return image

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"UNet: expected (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        h = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False) if self.scale > 1 else x
        H, W = h.shape[-2:]
        ph, pw = -H % self.stride, -W % self.stride
        if ph or pw:  # any size: pad to the stride, crop back after
            h = F.pad(h, (0, pw, 0, ph), mode="replicate")
        skips = [self.stem(h)]
        for block in self.down:
            skips.append(block(skips[-1]))
        h = skips.pop()
        for i in reversed(range(self.depth)):
            h = torch.cat([self.up[i](h), skips.pop()], 1)
        out = self.head(h)[..., :H, :W]
        out = self.base(x) + out if self.residual else torch.tanh(out)
        if self.mask_input:
            m = x[:, -1:]
            if self.scale > 1:
                m = F.interpolate(m, scale_factor=self.scale, mode="nearest")
            out = x[:, :self.out_channels] * (1 - m) + out * m
        return out

    def sample(self, *args, **kwargs):
        raise TypeError("a U-Net translates images: call G(x) on an input batch (or gankit.load_translator)")


def generator(cfg, shape: tuple, in_channels: int | None = None, scale: int = 1, mask_input: bool = False) -> UNet:
    """The registry's builder: a U-Net making images of `shape` (C, H, W) from `in_channels` (default C)
    input channels at 1/scale of the size (model.width, model.upsample, model.g_dropout, model.residual)."""
    c, side = shape[0], shape[-1]
    return UNet(c if in_channels is None else in_channels, c, side, width=cfg.width, upsample=cfg.upsample,
                dropout=cfg.g_dropout, scale=scale, residual=cfg.residual, mask_input=mask_input)


def check(cfg, shape: tuple) -> "str | None":
    if len(shape) != 3:
        return f"unet translates images (C, H, W), got sample shape {shape}"
    if shape[0] not in (1, 3):
        return f"unet builds 1 or 3 channels, got {shape[0]}"
    if shape[1] != shape[2]:
        return f"unet trains on square images, got {shape[1]}x{shape[2]}"
    if cfg.upsample not in UPSAMPLE:
        return f"model.upsample must be one of {', '.join(UPSAMPLE)}, got {cfg.upsample!r}"
    return None
