"""Degradations for the image-to-image tasks (data.task): the input G gets, made from a clean image.

    x_in = degrade(clean, cfg, gen)      clean: (N, C, H, W) float in [-1, 1]
    x_in = degrade_fixed(clean, cfg, seed, start)     image i's degradation fixed by (seed, start + i)

Training draws each batch's degradations from the run's noise generator (a fresh one every
time an image is shown, saved in checkpoints, so resumes are exact); the test split and
`gankit translate --degrade` use `degrade_fixed`, where image i of seed s always gets the same
one, whatever the batch size. Every input is rounded to 8 bits, as a degraded image read from a
file would be, so what G trains on matches what it is later given.

The tasks and their parameters (all `data.*` fields, documented in `gankit.config.DataConfig`):

superres   x_in = bicubic downsampling by data.scale (2, 4, 8), antialiased (torch's
           antialias=True: the kernel widened by the scale, as in PIL/Matlab imresize), so no
           aliasing; (N, C, H/scale, W/scale). Deterministic.
inpaint    a hole mask m (1 = missing) per image: data.mask = box (a centre square of side
           mask_size * H), boxes (1..mask_count rectangles of sides in [0.1, mask_size] * H, uniform
           positions) or strokes (1..mask_count free-form brush strokes: random walks of 4-8 segments
           of length 0.1-0.4 H at random turns, brush radius max(1, mask_size * H / 8), DeepFill v2
           style). x_in = cat(clean * (1 - m), m): (N, C + 1, H, W), holes 0, the mask in {0, 1}.
denoise    gaussian: clean + N(0, (noise_sigma / 127.5)^2) per pixel (noise_sigma in 0..255 grey
           levels); poisson: shot noise, Poisson(p * noise_peak) / noise_peak for p in [0, 1].
           Clipped to the range.
derain     streaks: seeds where U < density (density ~ U[rain_density / 2, rain_density] per image)
           with brightness U[0.5, 1], motion-blurred along one line per image (angle ~
           U[-rain_angle, rain_angle] degrees from vertical, length rain_length * H), scaled to
           intensity ~ U[rain_intensity / 2, rain_intensity] at the core and added (white rain, all
           channels alike), clipped.
dehaze     the atmospheric scattering model I = J t + A (1 - t), t = exp(-beta d) (Koschmieder;
           the model of the dark-channel-prior paper), J and A in [0, 1], beta ~ U[haze_beta / 3,
           haze_beta], A ~ U[haze_airlight - 0.2, haze_airlight] per image. The depth proxy d
           (`depth_proxy`): 0 at the bottom row rising linearly to 1 at the top (a ground plane
           seen from eye level: the far scene is higher in the frame); no depth maps exist here.
paired     no degradation: the dataset holds (A, B) pairs (`gankit.data.paired`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.config import DataConfig

TASKS = ("superres", "inpaint", "denoise", "derain", "dehaze", "paired")


@dataclass(frozen=True)
class TaskShape:
    """What G and D of a task look like, for clean images of `channels` channels."""
    in_channels: int       # G's input channels
    out_channels: int      # G's output channels (the target's)
    scale: int             # G's output side / its input side
    mask_input: bool       # the last input channel is a hole mask (inpaint)

    @property
    def cond_channels(self) -> int:
        """Channels of the input D sees beside the image (at the image's size)."""
        return self.in_channels


def task_shape(cfg: DataConfig, channels: int | None = None) -> TaskShape:
    """The shape of data.task's translation for images of `channels` (default cfg.channels)."""
    c = cfg.channels if channels is None else channels
    if cfg.task == "superres":
        return TaskShape(c, c, cfg.scale, False)
    if cfg.task == "inpaint":
        return TaskShape(c + 1, c, 1, True)
    return TaskShape(c, c, 1, False)


def _image_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(index), 0x1D2]).generate_state(1, dtype=np.uint64)[0])


class _Draw:
    """Random draws for a batch: from one generator, or image i from its own generator."""

    def __init__(self, n: int, gen, device):
        self.n, self.gen, self.device = n, gen, device

    def _each(self, fn, shape):
        if isinstance(self.gen, list):
            return torch.stack([fn(shape, generator=g) for g in self.gen]).to(self.device)
        return fn((self.n, *shape), generator=self.gen, device=self.device)

    def rand(self, *shape) -> Tensor:
        return self._each(lambda s, generator, device="cpu": torch.rand(s, generator=generator, device=device), shape)

    def randn(self, *shape) -> Tensor:
        return self._each(lambda s, generator, device="cpu": torch.randn(s, generator=generator, device=device), shape)

    def poisson(self, rate: Tensor) -> Tensor:
        if isinstance(self.gen, list):
            return torch.stack([torch.poisson(r.cpu(), generator=g) for r, g in zip(rate, self.gen)]).to(rate.device)
        return torch.poisson(rate, generator=self.gen)


def quantize(x: Tensor) -> Tensor:
    """Round [-1, 1] floats to the 256 levels of uint8 (what a saved image holds)."""
    return torch.round((x.clamp(-1, 1) + 1) * 127.5) / 127.5 - 1


def downsample(x: Tensor, scale: int) -> Tensor:
    """Antialiased bicubic downsampling by `scale`: (N, C, H, W) -> (N, C, H // scale, W // scale)."""
    h, w = x.shape[-2] // scale, x.shape[-1] // scale
    return F.interpolate(x, size=(h, w), mode="bicubic", antialias=True, align_corners=False).clamp(-1, 1)


def upsample(x: Tensor, scale: int) -> Tensor:
    """Bicubic upsampling by `scale` (the classical super-resolution baseline), clipped."""
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False).clamp(-1, 1)


def depth_proxy(n: int, h: int, w: int, device="cpu") -> Tensor:
    """(n, 1, h, w) in [0, 1]: 0 at the bottom row, 1 at the top (see the module docstring)."""
    rows = torch.linspace(1.0, 0.0, h, device=device) if h > 1 else torch.zeros(1, device=device)
    return rows.view(1, 1, h, 1).expand(n, 1, h, w)


def _segments_mask(h: int, w: int, segs: list, radius: float, device) -> Tensor:
    """(h, w) {0,1}: pixels within `radius` of any segment ((y0, x0, y1, x1) in pixels)."""
    yy, xx = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32),
                            torch.arange(w, device=device, dtype=torch.float32), indexing="ij")
    m = torch.zeros(h, w, device=device)
    for y0, x0, y1, x1 in segs:
        dy, dx = y1 - y0, x1 - x0
        t = (((yy - y0) * dy + (xx - x0) * dx) / max(dy * dy + dx * dx, 1e-9)).clamp(0, 1)
        d2 = (yy - (y0 + t * dy)) ** 2 + (xx - (x0 + t * dx)) ** 2
        m = torch.maximum(m, (d2 <= radius * radius).float())
    return m


def masks(cfg: DataConfig, n: int, h: int, w: int, draw: _Draw) -> Tensor:
    """Hole masks (n, 1, h, w) in {0, 1} (1 = missing) of data.mask."""
    device = draw.device
    if cfg.mask == "box":
        s = max(1, round(cfg.mask_size * min(h, w)))
        m = torch.zeros(n, 1, h, w, device=device)
        top, left = (h - s) // 2, (w - s) // 2
        m[:, :, top:top + s, left:left + s] = 1
        return m
    k = cfg.mask_count
    lo = min(0.1, cfg.mask_size)  # the smallest rectangle side / stroke fraction
    if cfg.mask == "boxes":
        u = draw.rand(k + 1, 4)  # row 0: how many; row j + 1: rectangle j's height, width, top, left
        m = torch.zeros(n, 1, h, w, device=device)
        for i in range(n):
            for j in range(1 + int(float(u[i, 0, 0]) * k) if k > 1 else 1):
                bh = max(1, round(h * (lo + (cfg.mask_size - lo) * float(u[i, j + 1, 0]))))
                bw = max(1, round(w * (lo + (cfg.mask_size - lo) * float(u[i, j + 1, 1]))))
                top, left = int(float(u[i, j + 1, 2]) * (h - bh + 1)), int(float(u[i, j + 1, 3]) * (w - bw + 1))
                m[i, 0, top:top + bh, left:left + bw] = 1
        return m
    # strokes: row 0 how many; stroke j: [j + 1, 0] = (segments, start y, start x), [j + 1, v] = (turn, length)
    u = draw.rand(k + 1, 9, 3)
    radius = max(1.0, cfg.mask_size * min(h, w) / 8)
    out = []
    for i in range(n):
        segs = []
        for j in range(1 + int(float(u[i, 0, 0, 0]) * k) if k > 1 else 1):
            s = u[i, j + 1]
            y, x, angle = float(s[0, 1]) * (h - 1), float(s[0, 2]) * (w - 1), float(s[0, 0]) * 2 * math.pi
            for v in range(1, 5 + int(float(s[0, 0]) * 4.999)):  # 4..8 segments
                angle += (float(s[v, 0]) - 0.5) * math.pi  # turns of at most 90 degrees
                length = (0.1 + 0.3 * float(s[v, 1])) * min(h, w)
                y1 = min(max(y + length * math.sin(angle), 0.0), h - 1.0)
                x1 = min(max(x + length * math.cos(angle), 0.0), w - 1.0)
                segs.append((y, x, y1, x1))
                y, x = y1, x1
        out.append(_segments_mask(h, w, segs, radius, device))
    return torch.stack(out).unsqueeze(1)


def _line_kernel(angle_deg: float, length: int) -> Tensor:
    """A (L, L) motion-blur kernel: a line of `length` px through the centre, `angle_deg` from vertical."""
    size = length if length % 2 else length + 1
    c = (size - 1) / 2
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32) - c, torch.arange(size, dtype=torch.float32) - c,
                            indexing="ij")
    a = math.radians(angle_deg)
    dy, dx = math.cos(a), math.sin(a)  # direction of the streak
    along = yy * dy + xx * dx
    across = (yy * dx - xx * dy).abs()
    k = ((across <= 0.5) & (along.abs() <= length / 2)).float()
    return k / k.sum()


def rain(clean01: Tensor, cfg: DataConfig, draw: _Draw) -> Tensor:
    """Rain streaks added to (N, C, H, W) images in [0, 1]; see the module docstring."""
    n, c, h, w = clean01.shape
    p = draw.rand(4)  # density, angle, intensity, unused
    seeds_u = draw.rand(2, h, w)
    length = max(3, round(cfg.rain_length * min(h, w)))
    out = []
    for i in range(n):
        density = cfg.rain_density * (0.5 + 0.5 * float(p[i, 0]))
        seeds = (seeds_u[i, 0] < density).float() * (0.5 + 0.5 * seeds_u[i, 1])
        k = _line_kernel((2 * float(p[i, 1]) - 1) * cfg.rain_angle, length).to(clean01.device)
        streak = F.conv2d(seeds.view(1, 1, h, w), k.view(1, 1, *k.shape), padding=k.shape[-1] // 2)[0]
        streak = (streak * k.shape[-1]).clamp(0, 1) * cfg.rain_intensity * (0.5 + 0.5 * float(p[i, 2]))
        out.append((clean01[i] + streak).clamp(0, 1))
    return torch.stack(out)


def haze(clean01: Tensor, cfg: DataConfig, draw: _Draw) -> Tensor:
    """I = J t + A (1 - t), t = exp(-beta d) on (N, C, H, W) images J in [0, 1]."""
    n, _, h, w = clean01.shape
    p = draw.rand(2)
    beta = cfg.haze_beta * (1 / 3 + (2 / 3) * p[:, 0]).view(n, 1, 1, 1)
    airlight = (cfg.haze_airlight - 0.2 * p[:, 1]).view(n, 1, 1, 1)
    t = torch.exp(-beta * depth_proxy(n, h, w, clean01.device))
    return clean01 * t + airlight * (1 - t)


def degrade(clean: Tensor, cfg: DataConfig, gen) -> Tensor:
    """G's input for data.task made from clean images (N, C, H, W) in [-1, 1]; `gen` a torch.Generator
    (on clean's device) or a list of N generators (one per image). See the module docstring."""
    n, c, h, w = clean.shape
    draw = _Draw(n, gen, clean.device)
    task = cfg.task
    if task == "superres":
        return quantize(downsample(clean, cfg.scale))
    if task == "inpaint":
        m = masks(cfg, n, h, w, draw).to(clean.dtype)
        return torch.cat([clean * (1 - m), m], 1)
    if task == "denoise":
        if cfg.noise == "poisson":
            p = (clean + 1) / 2
            return quantize(draw.poisson(p * cfg.noise_peak) / cfg.noise_peak * 2 - 1)
        return quantize(clean + draw.randn(c, h, w) * (cfg.noise_sigma / 127.5))
    if task in ("derain", "dehaze"):
        fn = rain if task == "derain" else haze
        return quantize(fn((clean + 1) / 2, cfg, draw) * 2 - 1)
    raise ValueError(f"data.task: {task!r} has no degradation (known: {', '.join(TASKS[:-1])})")


def split_pair(batch: Tensor, direction: str = "AtoB") -> tuple[Tensor, Tensor]:
    """A data.task = paired batch (N, 2C, H, W) -> (input, target): (A, B) for AtoB, (B, A) for BtoA."""
    c = batch.shape[1] // 2
    a, b = batch[:, :c], batch[:, c:]
    return (a, b) if direction == "AtoB" else (b, a)


def generators(seed: int, start: int, n: int) -> list[torch.Generator]:
    """The per-image generators of images start .. start+n-1 of `seed` (CPU)."""
    return [torch.Generator().manual_seed(_image_seed(seed, start + i)) for i in range(n)]


def degrade_fixed(clean: Tensor, cfg: DataConfig, seed: int | None = None, start: int = 0) -> Tensor:
    """`degrade` with image i's randomness fixed by (seed, start + i); seed defaults to data.degrade_seed."""
    seed = cfg.degrade_seed if seed is None else seed
    return degrade(clean, cfg, generators(seed, start, len(clean)))
