"""A user's own image pairs for data.task = paired (data.name = folder, data.path = the folder).

Two layouts, as pix2pix and most of its users keep them:

    side by side   data.path/*.png|jpg...: each file is A | B, two equal halves side by side (the
                   pix2pix datasets' layout); the width must be even;
    two folders    data.path/A/ and data.path/B/ holding files of the same names (any of the image
                   extensions; a.png in A may pair with a.jpg in B); each pair must be the same size.

Either may sit in a data.split sub-folder (data.path/train/, data.path/test/, as the pix2pix
datasets do); without one, the same pairs serve both splits. Each half is brought to
data.channels and cropped/resized to data.resolution (centre crop, Lanczos, as image folders are).
The Dataset holds the pair as one uint8 tensor (N, 2C, R, R): channels [0, C) are A, [C, 2C) B.
Mismatched names, sizes or an odd width stop with one line naming the files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from gankit.data.dataset import DataError, Dataset
from gankit.data.folder import EXTENSIONS, FORMATS, _to_mode, bomb_guard

_NAMED = 5


def _images(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in EXTENSIONS
            and not p.name.startswith(".")}


def _named(items) -> str:
    items = sorted(items)
    more = f" and {len(items) - _NAMED} more" if len(items) > _NAMED else ""
    return ", ".join(items[:_NAMED]) + more


def root(path: str, split: str) -> Path:
    base = Path(path).expanduser()
    if not str(path):
        raise DataError("data.path: data.task = paired needs the folder of pairs (data.path)")
    if not base.is_dir():
        raise DataError(f"data.path: {base} is not a folder (data.task = paired reads pairs from it)")
    return base / split if (base / split).is_dir() else base


def scan(path: str, split: str = "train") -> tuple[str, list]:
    """("folders", [(a, b), ...]) or ("side-by-side", [file, ...]); raises DataError on a bad layout."""
    where = root(path, split)
    if (where / "A").is_dir() and (where / "B").is_dir():
        a, b = _images(where / "A"), _images(where / "B")
        only_a, only_b = set(a) - set(b), set(b) - set(a)
        if only_a or only_b:
            parts = ([f"in A/ only: {_named(a[k].name for k in only_a)}"] if only_a else []) + \
                    ([f"in B/ only: {_named(b[k].name for k in only_b)}"] if only_b else [])
            raise DataError(f"data.path: {where}: A/ and B/ must hold files of the same names; {'; '.join(parts)}")
        if not a:
            raise DataError(f"data.path: {where}: A/ and B/ hold no images")
        return "folders", [(a[k], b[k]) for k in sorted(a)]
    files = list(_images(where).values())
    if not files:
        raise DataError(f"data.path: {where} holds neither A/ and B/ folders nor A|B side-by-side images")
    return "side-by-side", files


def _read(path: Path, channels: int) -> Image.Image:
    try:
        with Image.open(path, formats=FORMATS) as img:
            img.load()
            return _to_mode(ImageOps.exif_transpose(img), channels)
    except (OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(f"data.path: cannot read {path} ({e})") from None


def _fit(img: Image.Image, resolution: int) -> np.ndarray:
    img = ImageOps.fit(img, (resolution, resolution), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    arr = np.array(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def load_pairs(path: str, split: str, channels: int, resolution: int, limit: int = 0) -> Dataset:
    """The pairs under `path` as uint8 (N, 2 * channels, resolution, resolution) (A then B)."""
    layout, items = scan(path, split)
    if limit:
        items = items[:limit]
    out = []
    with bomb_guard():
        for item in items:
            if layout == "folders":
                a, b = _read(item[0], channels), _read(item[1], channels)
                if a.size != b.size:
                    raise DataError(f"data.path: {item[0]} is {a.size[0]}x{a.size[1]} but {item[1]} is "
                                    f"{b.size[0]}x{b.size[1]}; a pair must be the same size")
            else:
                img = _read(item, channels)
                w, h = img.size
                if w % 2:
                    raise DataError(f"data.path: {item} is {w} px wide, an odd width: a side-by-side A|B "
                                    f"image is two equal halves")
                a, b = img.crop((0, 0, w // 2, h)), img.crop((w // 2, 0, w, h))
            out.append(np.concatenate([_fit(a, resolution), _fit(b, resolution)]))
    x = torch.from_numpy(np.stack(out))
    return Dataset(x=x.contiguous(), y=None, name="folder", classes=[],
                   source=f"{len(out)} {layout} pairs in {root(path, split)}")
