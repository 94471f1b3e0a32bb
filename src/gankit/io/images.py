"""Pictures people look at: sample grids, interpolation strips, GIFs, toy-data scatter plots.

Inputs are uint8 tensors (N, C, H, W) with C in {1, 3} — the edge format; the
library converts from its internal [-1, 1] floats with `gankit.data.to_uint8`.
Everything is written with Pillow through an atomic write, so a grid being
looked at while training runs is never half a file. A picture that Pillow would
not open again (over `Image.MAX_IMAGE_PIXELS`, ~89 megapixels by default; a
GIF side over 65535) is refused before anything is drawn: a 721-megapixel grid
costs gigabytes to write and is useless once written.
"""

from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gankit.io.files import FileError, write_bytes_atomic

GIF_MAX_SIDE = 65535  # the format stores each side in 16 bits

TOO_LARGE_HINT = "write a .npy/.npz numpy array or a folder of PNGs instead"


class ImageTooLarge(ValueError):
    """A picture larger than can usefully be written; the message names the path and what to do."""


def check_size(path: str | Path, width: int, height: int, fmt: str = "PNG", hint: str = TOO_LARGE_HINT) -> None:
    """Raise ImageTooLarge if a `width` x `height` image at `path` would not open again in Pillow.

    The limit is Pillow's own `Image.MAX_IMAGE_PIXELS` as set in this process (None: no limit).
    Callers that know the size before computing the pixels call this first.
    """
    limit = Image.MAX_IMAGE_PIXELS
    if limit and width * height > limit:
        raise ImageTooLarge(f"{path}: a {width:,}x{height:,} {fmt} ({width * height / 1e6:,.0f} megapixels) is more "
                            f"than Pillow opens by default ({limit / 1e6:,.0f} megapixels); {hint}")
    if fmt == "GIF" and max(width, height) > GIF_MAX_SIDE:
        raise ImageTooLarge(f"{path}: a {width:,}x{height:,} GIF is more than the format holds "
                            f"({GIF_MAX_SIDE} pixels a side); {hint}")


def grid_shape(n: int, height: int, width: int, nrow: int | None = None, pad: int = 2) -> tuple[int, int]:
    """(height, width) in pixels of the grid `make_grid` tiles n images of height x width into."""
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    return rows * (height + pad) + pad, nrow * (width + pad) + pad


def grid_scale(side: int) -> int:
    """How much sample grids enlarge images of `side` pixels: 2x up to 32 px (28 px tiles are hard
    to see), else 1x. Used by training's grids and `gankit sample` alike."""
    return 2 if side <= 32 else 1


def prepare_dir(path: str | Path) -> Path:
    """Create folder `path` (and its parents) and make sure files can be written in it, before
    anything is computed for it. Raises FileError naming the path (a read-only file system, no
    permission, a file in the way), never a bare OS error."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileError(f"{path}: is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):  # the only reliable test: root ignores permission bits
            pass
    except FileExistsError as e:
        raise FileError(f"could not create folder {path}: {e.filename or path} is a file") from None
    except OSError as e:
        raise FileError(f"cannot write in {path}: {e.strerror or e}") from None
    return path


def make_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Tile uint8 images (N, C, H, W) into one (H', W', C) array, `nrow` images per row.

    nrow defaults to the smallest square that holds N images.
    """
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"make_grid expects uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    n, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    grid = np.full((*grid_shape(n, h, w, nrow, pad), c), fill, dtype=np.uint8)
    arr = images.permute(0, 2, 3, 1).cpu().numpy()
    for i in range(n):
        r, col = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y:y + h, x:x + w] = arr[i]
    return grid


def to_pil(array: np.ndarray, scale: int = 1) -> Image.Image:
    """(H, W, C) uint8 with C in {1, 3} -> PIL image, optionally enlarged with nearest-neighbour."""
    img = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def _encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def save_png(array: np.ndarray, path: str | Path, scale: int = 1) -> None:
    """Write (H, W, C) uint8, enlarged `scale` times; ImageTooLarge if Pillow would not open it again."""
    check_size(path, array.shape[1] * scale, array.shape[0] * scale)
    write_bytes_atomic(path, _encode(to_pil(array, scale), "PNG"))


def save_image(image: torch.Tensor, path: str | Path) -> None:
    """Write one uint8 image (C, H, W) as a PNG at its native size."""
    save_png(image.permute(1, 2, 0).cpu().numpy(), path)


def save_image_unsynced(image: torch.Tensor, path: str | Path) -> None:
    """Write one uint8 image (C, H, W) as a PNG through a hidden temporary file and a rename, so a
    reader never sees half a file, but without save_image's two fsyncs: for the thousands of files
    of a synthetic dataset, whose own manifest (written durably, last) says whether it is complete."""
    write_bytes_atomic(path, _encode(to_pil(image.permute(1, 2, 0).cpu().numpy()), "PNG"), fsync=False)


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None, scale: int = 1) -> None:
    """Write uint8 images (N, C, H, W) as one PNG grid."""
    save_png(make_grid(images, nrow), path, scale)


def save_gif(frames: list[np.ndarray], path: str | Path, ms_per_frame: int = 120, scale: int = 1) -> None:
    """Write (H, W, C) uint8 frames as an endlessly looping animated GIF; ImageTooLarge if a frame is
    larger than Pillow would open again or than GIF holds."""
    check_size(path, frames[0].shape[1] * scale, frames[0].shape[0] * scale, "GIF")
    pil = [to_pil(f, scale) for f in frames]
    if pil[0].mode == "L":  # GIF is palette-based; keep grayscale exact
        pil = [p.convert("P") for p in pil]
    data = _encode(pil[0], "GIF", save_all=True, append_images=pil[1:], duration=ms_per_frame, loop=0)
    write_bytes_atomic(path, data)


# ---------------------------------------------------------------------------
# toy data: scatter plots (2-D) and histograms (1-D) rendered without matplotlib


def plot_points(real: torch.Tensor, fake: torch.Tensor, size: int = 256,
                limits: tuple[float, float] | None = None) -> np.ndarray:
    """Render toy samples as an (size, size, 3) uint8 picture: real in grey, generated in red.

    real, fake: (N, 2) points -> scatter plot; (N, 1) values -> overlaid histograms.
    `limits` fixes the axis range (both axes); by default it spans the real data with a margin.
    """
    real, fake = real.detach().float().cpu(), fake.detach().float().cpu()
    if limits is None:
        lo, hi = real.min().item(), real.max().item()
        margin = 0.15 * (hi - lo) + 1e-3
        limits = (lo - margin, hi + margin)
    lo, hi = limits
    canvas = np.full((size, size, 3), 255, dtype=np.uint8)
    if real.shape[1] == 1:
        bins = size // 2
        h_real = torch.histc(real[:, 0], bins, lo, hi)
        h_fake = torch.histc(fake[:, 0], bins, lo, hi)
        top = max(h_real.max().item(), h_fake.max().item(), 1.0)
        for hist, colour in ((h_real, (150, 150, 150)), (h_fake, (220, 40, 40))):
            heights = (hist / top * (size - 4)).round().long().tolist()
            for b, hgt in enumerate(heights):
                x0 = b * size // bins
                if colour[0] == 150:
                    canvas[size - hgt:, x0:x0 + size // bins] = colour
                else:  # generated as an outline so both stay visible
                    canvas[max(size - hgt - 2, 0):size - hgt, x0:x0 + size // bins] = colour
        return canvas
    for pts, colour in ((real, (150, 150, 150)), (fake, (220, 40, 40))):
        xy = ((pts[:, :2] - lo) / (hi - lo) * (size - 1)).round().long()
        keep = ((xy >= 0) & (xy < size)).all(dim=1)
        xy = xy[keep].numpy()
        canvas[size - 1 - xy[:, 1], xy[:, 0]] = colour
    return canvas
