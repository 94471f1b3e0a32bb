"""Using an image-to-image run: translate a user's images of any size.

    translate = gankit.load_translator("runs/superres")
    out = translate(image)            # uint8 (H, W) or (H, W, C) array in -> uint8 array out
    outs = translate([a, b])          # a list in -> a list out
    x_in, mask = translate.degrade(clean, index=0)   # the run's degradation of a clean image

Any size: G is fully convolutional and pads to its stride inside (`gankit.models.unet`); images
larger than `tile` x `tile` input pixels are cut into overlapping tiles (`overlap` pixels shared
by neighbours), each translated alone and blended with linear ramps across the overlaps, so
memory stays bounded and no seam shows. Super-resolution output is data.scale times the input.
Inpainting needs the hole mask beside each image (nonzero = missing): `translate(image, mask)`.
G runs in eval mode (dropout off, batch-norm running statistics): one input, one output.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from gankit.data import DataError, to_float, to_uint8
from gankit.data.degrade import degrade_fixed, task_shape
from gankit.io.checkpoint import CheckpointError
from gankit.io.generator import load_state_strict, read_generator
from gankit.models import build_translator

__all__ = ["Translator", "load_translator", "read_input", "translate_files"]

STRIP_PAD = 4


def image_tensor(image: np.ndarray, channels: int, what: str = "image") -> torch.Tensor:
    """A uint8 (H, W) or (H, W, C) image as G's input (1, C, H, W) in [-1, 1], on the CPU; one-line
    ValueErrors for another dtype, shape or channel count (`channels`: the run's data.channels)."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise ValueError(f"{what}: expected a uint8 array, got {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"{what}: expected (H, W) or (H, W, C) with C 1 or 3, got shape {a.shape}")
    if a.shape[2] != channels:
        raise ValueError(f"{what}: has {a.shape[2]} channel(s), the run translates {channels}-channel "
                         f"images (data.channels); convert it first (gankit translate --convert)")
    return to_float(torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None])


def image_array(x: torch.Tensor) -> np.ndarray:
    """G's output (1, C, H, W) in [-1, 1] as uint8 (H, W) (grey) or (H, W, 3)."""
    a = to_uint8(x.clamp(-1, 1))[0].permute(1, 2, 0).cpu().numpy()
    return a[:, :, 0] if a.shape[2] == 1 else a


class Translator:
    """A trained image-to-image G with its run's config; see the module docstring."""

    def __init__(self, G: torch.nn.Module, cfg, device="cpu", tile: int = 0, overlap: int = 0):
        self.G, self.cfg, self.device = G.to(device).eval(), cfg, torch.device(device)
        self.task = cfg.data.task
        self.shape = task_shape(cfg.data)
        self.channels, self.scale = cfg.data.channels, self.shape.scale
        stride_in = max(1, G.stride // self.scale)
        # Tiles of a few training sizes keep memory small; rounded to the stride so tiles need no padding.
        self.tile = tile or max(256, 8 * cfg.data.resolution // self.scale)
        self.tile = max(stride_in, self.tile // stride_in * stride_in)
        self.overlap = overlap if overlap else max(stride_in, self.tile // 8)
        if self.overlap >= self.tile:
            raise ValueError(f"overlap: {self.overlap} must be smaller than the tile ({self.tile})")

    # ---- arrays at the edges
    def _to_tensor(self, image: np.ndarray, what: str = "image") -> torch.Tensor:
        return image_tensor(image, self.channels, what)

    @staticmethod
    def _to_array(x: torch.Tensor) -> np.ndarray:
        return image_array(x)

    def _input(self, image, mask) -> torch.Tensor:
        x = self._to_tensor(image)
        if self.shape.mask_input:
            if mask is None:
                raise ValueError("inpaint: this run fills holes and needs each image's hole mask "
                                 "(nonzero = missing; gankit translate --masks DIR, or --degrade)")
            m = np.asarray(mask)
            if m.ndim == 3:
                m = m.max(axis=2)
            if m.shape != x.shape[-2:]:
                raise ValueError(f"mask: shape {m.shape} does not match the image's {tuple(x.shape[-2:])}")
            m = torch.from_numpy((m > 0).astype(np.float32))[None, None]
            x = torch.cat([x * (1 - m), m], 1)
        return x

    def __call__(self, images, masks=None):
        """uint8 (H, W[, C]) array(s) -> uint8 output array(s), (H*scale, W*scale[, C])."""
        single = isinstance(images, np.ndarray) or not isinstance(images, (list, tuple))
        items = [images] if single else list(images)
        mask_items = [masks] if single else (list(masks) if masks is not None else [None] * len(items))
        outs = [self._to_array(self.run(self._input(img, m))) for img, m in zip(items, mask_items)]
        return outs[0] if single else outs

    def degrade(self, clean: np.ndarray, index: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
        """The run's degradation of a clean uint8 image, fixed by (data.degrade_seed, index):
        (G's input as uint8, the hole mask for inpainting or None)."""
        if self.task == "paired":
            raise ValueError("--degrade: a paired run has no degradation (its inputs are the user's A images)")
        x = self._to_tensor(clean, "clean image")
        h, w = x.shape[-2:]
        if self.scale > 1 and (h % self.scale or w % self.scale):
            raise ValueError(f"size not divisible: a {w}x{h} image cannot be downsampled by data.scale = "
                             f"{self.scale}; crop it to a multiple of {self.scale}")
        d = degrade_fixed(x, self.cfg.data, start=index)
        if self.shape.mask_input:
            return self._to_array(d[:, :self.channels]), (d[0, -1].numpy() > 0).astype(np.uint8) * 255
        return self._to_array(d), None

    # ---- the network, whole or tiled
    @torch.no_grad()
    def run(self, x: torch.Tensor) -> torch.Tensor:
        """G on one float input (1, C_in, h, w) in [-1, 1] -> (1, C, h*scale, w*scale), tiled when large."""
        h, w = x.shape[-2:]
        if h <= self.tile and w <= self.tile:
            return self.G(x.to(self.device)).cpu()
        s, t, o = self.scale, self.tile, self.overlap
        out = torch.zeros(1, self.shape.out_channels, h * s, w * s)
        weight = torch.zeros(1, 1, h * s, w * s)
        ramp = _ramp(t * s, o * s)
        for top in _starts(h, t, o):
            for left in _starts(w, t, o):
                tile = x[..., top:top + t, left:left + t]
                y = self.G(tile.to(self.device)).cpu()
                th, tw = y.shape[-2:]
                win = ramp[:th, :tw] if (th, tw) == (t * s, t * s) else _ramp2(th, tw, o * s)
                out[..., top * s:top * s + th, left * s:left * s + tw] += y * win
                weight[..., top * s:top * s + th, left * s:left * s + tw] += win
        return out / weight


def _starts(n: int, tile: int, overlap: int) -> list[int]:
    """Tile origins covering 0..n with tiles of `tile` sharing at least `overlap` (the last one flush)."""
    if n <= tile:
        return [0]
    step = tile - overlap
    count = math.ceil((n - tile) / step) + 1
    return sorted({min(i * step, n - tile) for i in range(count)})


def _ramp2(h: int, w: int, width: int) -> torch.Tensor:
    def edge(n):
        d = torch.minimum(torch.arange(n), torch.arange(n).flip(0)).float()
        return ((d + 1) / (width + 1)).clamp(max=1.0)
    return edge(h)[:, None] * edge(w)[None, :]


def _ramp(side: int, width: int) -> torch.Tensor:
    return _ramp2(side, side, width)


def load_translator(path, device="cpu", tile: int = 0, overlap: int = 0, direction: str | None = None):
    """The image-to-image generator of a run, generator or checkpoint folder, as a `Translator`; an
    unpaired run's (data.task = unpaired) as a `gankit.apps.unpaired.UnpairedTranslator` in `direction`
    (a2b, the default, or b2a)."""
    cfg, tensors, source, note, _ = read_generator(path)
    if cfg.data.task == "unpaired":
        from gankit.apps.unpaired import load_unpaired
        if note:
            import sys
            print(f"note: {note}", file=sys.stderr)
        return load_unpaired(cfg, tensors, source, direction or "a2b", device)
    if direction is not None:
        raise ValueError(f"--direction: only unpaired runs (data.task = unpaired) have two directions; this run "
                         f"is a {cfg.data.task} run")
    if cfg.data.task == "none":
        raise CheckpointError(f"{path}: not an image-to-image run (data.task = none): it samples images from "
                              f"noise; use gankit sample")
    t = task_shape(cfg.data)
    G, _ = build_translator(cfg.model, (cfg.data.channels, cfg.data.resolution, cfg.data.resolution),
                            t.in_channels, t.scale, t.mask_input)
    load_state_strict(G, tensors, source)
    if note:
        import sys
        print(f"note: {note}", file=sys.stderr)
    return Translator(G, cfg, device=device, tile=tile, overlap=overlap)


# ---- files

def read_input(path: Path, channels: int | None = None) -> np.ndarray:
    """An image file -> uint8 (H, W) or (H, W, 3); `channels` converts (1 grey, 3 RGB), None keeps its own."""
    from gankit.data.folder import FORMATS, _to_mode, bomb_guard
    try:
        with bomb_guard(), Image.open(path, formats=FORMATS) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            own = 1 if img.mode in ("1", "L", "LA", "I", "I;16", "F") else 3
            img = _to_mode(img, channels or own)
            return np.array(img, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not an image file") from None
    except (OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(f"{path}: unreadable image ({e})") from None


def _strip(parts: list[np.ndarray], height: int) -> np.ndarray:
    """Images side by side at one height (nearest-neighbour enlargement, so pixels stay visible)."""
    shown = []
    for p in parts:
        img = Image.fromarray(p)
        if img.height != height:
            img = img.resize((round(img.width * height / img.height), height), Image.Resampling.NEAREST)
        a = np.array(img)
        shown.append(a if a.ndim == 3 else a[:, :, None])
    c = max(a.shape[2] for a in shown)
    shown = [np.repeat(a, c, 2) if a.shape[2] != c else a for a in shown]
    gap = np.full((height, STRIP_PAD, c), 255, np.uint8)
    row = []
    for a in shown:
        row += [a, gap]
    out = np.concatenate(row[:-1], 1)
    return out[:, :, 0] if c == 1 else out


def translate_files(translator: Translator, inputs: list[str], out_dir: str, degrade: bool = False,
                    masks_dir: str | None = None, convert: bool = False, progress: bool = True) -> list[Path]:
    """Translate image files into `out_dir`: <stem>.png (the output) and <stem>_strip.png
    (input | output, | target with --degrade, where the input file is the clean target).
    Everything is checked (files readable, channels, sizes, masks) before anything is written."""
    from tqdm import tqdm
    stems = [Path(p).stem for p in inputs]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise ValueError(f"inputs: two inputs share the name {dupes[0]!r}; their outputs would overwrite each other")
    jobs = []
    for i, path in enumerate(inputs):
        image = read_input(Path(path), translator.channels if convert else None)
        got = 1 if image.ndim == 2 else image.shape[2]
        if got != translator.channels:
            raise ValueError(f"{path}: has {got} channel(s), the run translates {translator.channels}-channel "
                             f"images; pass --convert to convert it")
        mask, target = None, None
        if degrade:
            target = image
            try:
                image, mask = translator.degrade(image, index=i)
            except ValueError as e:
                raise ValueError(f"{path}: {e}") from None
        elif translator.shape.mask_input:
            if masks_dir is None:
                raise ValueError(f"{path}: an inpainting run needs the hole masks: --masks DIR (DIR/{Path(path).stem}"
                                 f".png, white = hole), or --degrade to make holes in clean images")
            mask_path = next((p for p in sorted(Path(masks_dir).glob(f"{Path(path).stem}.*"))), None)
            if mask_path is None:
                raise DataError(f"{path}: no mask named {Path(path).stem}.* in {masks_dir}")
            mask = read_input(mask_path, 1)
            if mask.shape != image.shape[:2]:
                raise ValueError(f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]}, the image "
                                 f"{image.shape[1]}x{image.shape[0]}")
        jobs.append((Path(path), image, mask, target))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path, image, mask, target in tqdm(jobs, desc="translate", unit="img", disable=not progress or len(jobs) < 2):
        result = translator(image, mask)
        shown_in = image.copy()
        if mask is not None:  # show the holes white
            shown_in[mask > 0] = 255
        parts = [shown_in, result] + ([target] if target is not None else [])
        Image.fromarray(result).save(out / f"{path.stem}.png")
        Image.fromarray(_strip(parts, result.shape[0])).save(out / f"{path.stem}_strip.png")
        written.append(out / f"{path.stem}.png")
    return written
