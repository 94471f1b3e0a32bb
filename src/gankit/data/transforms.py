"""Pixel conversions: uint8 <-> [-1, 1] floats, channel count, resolution.

uint8 (N, C, H, W) is the edge format (files, datasets in memory); float32 in
[-1, 1] is what models see. The two maps below are exact inverses on the 256
uint8 values, so a dataset survives a round trip bit for bit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# ITU-R BT.601 luma weights: the same ones Pillow uses for convert("L"), so a
# colour folder read as grey and a colour tensor turned grey here agree.
LUMA = (0.299, 0.587, 0.114)

# Images resized per chunk so that 60000 images at 64x64 never need a ~1 GB
# float32 copy at once.
_RESIZE_CHUNK = 4096


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 in [-1, 1] (0 -> -1, 255 -> 1), any shape, same device."""
    return x.to(torch.float32) / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] -> uint8 [0, 255], any shape, same device.

    Values outside [-1, 1] are clamped (generators overshoot), NaN becomes 0,
    and the result is rounded to the nearest level rather than truncated so
    that ``to_uint8(to_float(u)) == u`` for every uint8 u.
    """
    x = torch.nan_to_num(x.to(torch.float32), nan=-1.0).clamp(-1.0, 1.0)
    return ((x + 1.0) * 127.5).round().to(torch.uint8)


def convert_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 (N, C, H, W) with C in {1, 3} -> uint8 (N, channels, H, W).

    Grey -> RGB repeats the channel; RGB -> grey is BT.601 luminance, rounded.
    """
    c = x.shape[1]
    if c == channels:
        return x
    if c == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    if c == 3 and channels == 1:
        w = torch.tensor(LUMA, dtype=torch.float32).view(1, 3, 1, 1)
        grey = (x.to(torch.float32) * w).sum(dim=1, keepdim=True)
        return grey.round().clamp(0, 255).to(torch.uint8)
    raise ValueError(f"cannot convert {c} channels to {channels}")


def resize(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, C, resolution, resolution).

    Bilinear with antialiasing (so downscaling does not alias), computed in
    float32 and rounded back to uint8. Non-square inputs are stretched: callers
    with non-square images (folders) crop to square themselves first.
    """
    if x.shape[-2:] == (resolution, resolution):
        return x
    out = torch.empty((x.shape[0], x.shape[1], resolution, resolution), dtype=torch.uint8, device=x.device)
    for i in range(0, x.shape[0], _RESIZE_CHUNK):
        chunk = x[i:i + _RESIZE_CHUNK].to(torch.float32)
        chunk = F.interpolate(chunk, size=(resolution, resolution), mode="bilinear",
                              align_corners=False, antialias=True)
        out[i:i + _RESIZE_CHUNK] = chunk.round().clamp(0, 255).to(torch.uint8)
    return out
