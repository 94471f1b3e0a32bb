"""The image-to-image discriminator: PatchGAN (Isola et al. 2017), judging the (input, output) pair.

D sees the conditioning input and an image together, concatenated along channels, so it judges
whether the image is a plausible translation *of that input* (not merely a plausible image):

    D(pair): (N, cond_channels + out_channels, H, W) float  ->  patch logits (N, P)

P = h' * w' overlapping patches, each logit looking at a `receptive_field(layers)` square of the
input: layers stride-2 4x4 convs, then two stride-1 4x4 convs (pix2pix's n_layers). Losses take
the mean over all logits, so each patch is one real/fake verdict (a Markov-field texture
loss); L1 in the paired game keeps the low frequencies right.

`model.patch_layers` (0 = pix2pix's 70x70 patches, fewer layers when the image is smaller than
that: 16 px patches for 28-32 px images, 34 for 34-69 px); fully convolutional, any size with
at least `min_side(layers)` pixels. Batch norm after every conv but the first and last when
model.d_batchnorm (pix2pix's choice; off by default in gankit because gradient penalties are
per sample), dropout model.d_dropout; spectral norm is applied by `gankit.models.build*`.
"""

from __future__ import annotations

from torch import Tensor, nn

from gankit.models.base import init_weights

PIX2PIX_LAYERS = 3  # the 70x70 PatchGAN


def receptive_field(layers: int) -> int:
    """Pixels per side that one patch logit sees: 16, 34, 70, 142, ... for 1, 2, 3, 4 layers."""
    r = 1
    for k, s in [(4, 1), (4, 1)] + [(4, 2)] * layers:  # walked back from the logit to the input
        r = (r - 1) * s + k
    return r


def auto_layers(side: int) -> int:
    """pix2pix's 3 layers (70 px patches) unless the image is smaller than that: the most that fit."""
    layers = PIX2PIX_LAYERS
    while layers > 1 and receptive_field(layers) > side:
        layers -= 1
    return layers


def min_side(layers: int) -> int:
    """The smallest image side that still yields at least one patch logit."""
    return 2 ** layers * 3


class PatchGAN(nn.Module):
    def __init__(self, in_channels: int, width: int = 64, layers: int = PIX2PIX_LAYERS, batchnorm: bool = False,
                 dropout: float = 0.0):
        super().__init__()
        self.in_channels, self.layers = in_channels, layers
        self.receptive_field = receptive_field(layers)

        def block(c_in, c_out, stride, norm):
            parts = [nn.Conv2d(c_in, c_out, 4, stride, 1, bias=not norm)]
            if norm:
                parts.append(nn.BatchNorm2d(c_out))
            parts.append(nn.LeakyReLU(0.2))
            if dropout:
                parts.append(nn.Dropout(dropout))
            return parts

        body, c = block(in_channels, width, 2, False), width
        for i in range(1, layers):
            c_next = width * min(2 ** i, 8)
            body += block(c, c_next, 2, batchnorm)
            c = c_next
        c_next = width * min(2 ** layers, 8)
        body += block(c, c_next, 1, batchnorm)
        body.append(nn.Conv2d(c_next, 1, 4, 1, 1))
        self.net = nn.Sequential(*body)
        init_weights(self)

    def forward(self, pair: Tensor) -> Tensor:
        """pair (N, in_channels, H, W) -> patch logits (N, P), P = number of patches."""
        return self.net(pair).flatten(1)


def layers_for(cfg, side: int) -> int:
    return cfg.patch_layers or auto_layers(side)


def discriminator(cfg, shape: tuple) -> PatchGAN:
    """The registry's builder: a PatchGAN judging (shape[0])-channel inputs (the pair, already
    concatenated and packed) of side shape[-1] (model.width, model.patch_layers, d_batchnorm, d_dropout)."""
    return PatchGAN(shape[0], width=cfg.width, layers=layers_for(cfg, shape[-1]), batchnorm=cfg.d_batchnorm,
                    dropout=cfg.d_dropout)


def check(cfg, side: int) -> "str | None":
    layers = layers_for(cfg, side)
    if side < min_side(layers):
        return (f"a {layers}-layer PatchGAN needs images of at least {min_side(layers)} px, got {side}; "
                f"lower model.patch_layers")
    return None
