"""A folder of images (PNG, JPEG, BMP, WebP) read with Pillow into one uint8 tensor.

Layouts:
- ``root/*.png``: unlabeled;
- ``root/<class>/**/*.png``: labeled, class names are the sub-folder names sorted,
  labels their index.

Every image becomes (C, R, R) uint8 with C = data.channels and R =
data.resolution: converted to L or RGB (transparency composited on white, 16-bit
scaled to 8, CMYK and palettes converted), the shorter side resized to R with
Lanczos and the centre cropped to a square.

Files come from users and the internet, so nothing is trusted: only an
allow-list of extensions is opened, and only with the matching Pillow decoders
(a file named .png that is really EPS or TIFF is refused, never handed to
another plugin); Pillow's decompression-bomb guard is set to an explicit limit
and its warning made an error (a 40-byte PNG can claim ten gigapixels);
truncated files are errors, whatever Pillow's global setting; and every
unreadable file is reported by name. With `skip_bad=True` unreadable files are
skipped and counted instead, up to `max_bad_fraction` of the folder. Images that
are converted (other modes: RGBA, CMYK, 16-bit, palette, ...) or resized (other
sizes) are counted in a one-line note on stderr. Nor is the folder left:
symbolic links are followed only to real paths inside it, each file read once,
and the links not followed (and sub-folders that cannot be read) are named in
the note.
"""

from __future__ import annotations

import contextlib
import heapq
import sys
import warnings
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps
from tqdm import tqdm

from gankit.data.dataset import DataError, Dataset

EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})

# The Pillow decoders allowed to open a file, whatever its content claims to be.
FORMATS = ("PNG", "JPEG", "BMP", "WEBP")

# Largest image opened, in pixels (64 megapixels, e.g. 8000 x 8000). Pillow's
# own default (~89 MP, and only a warning below twice that) is global state we
# neither rely on nor change for the rest of the process.
MAX_IMAGE_PIXELS = 64 * 1024 * 1024

# Above this many files a progress bar is worth its line on the terminal.
PROGRESS_MIN_FILES = 2000

# How many bad files an error message names before it only counts the rest.
_NAMED = 5


def _is_image_file(p: Path) -> bool:
    # Hidden files are skipped: macOS leaves "._name.png" resource forks beside real images.
    return p.suffix.lower() in EXTENSIONS and not p.name.startswith(".") and p.is_file()


class Scan(NamedTuple):
    """What `scan` found: files sorted (by class, then path), labels per file or None for an
    unlabeled folder, the sorted class names, and what it left out (symbolic links not
    followed, folders it cannot read), each as "name (why)"."""
    files: list[Path]
    labels: list[int] | None
    classes: list[str]
    left_out: list[str]


def _walk(root: Path) -> tuple[list[Path], list[str]]:
    """Every image file under `root`, each real file once, never leaving `root`.

    A folder named as a dataset is a promise about what is in it: `ln -s .. photos/loop`
    must not pull in the parent tree, nor a loop read the same files again and again. So
    the plain tree (no symbolic links) is walked first, then the links met on the way, each
    followed only if its real path is inside `root`'s and was not read already; a file's
    plain path thus wins over any link to it. A sub-folder that cannot be listed is left
    out, not fatal. Returns (paths as found, what was left out).
    """
    real_root = root.resolve()
    found: dict[Path, Path] = {}  # real path -> path as found
    seen_dirs: set[Path] = set()
    links: list[Path] = []  # a heap: links are followed in path order, so the result is stable
    left_out: list[str] = []

    def walk(top: Path, real_top: Path) -> None:
        seen_dirs.add(real_top)
        stack = [(top, real_top)]
        while stack:
            d, real_d = stack.pop()
            try:
                entries = list(d.iterdir())
            except OSError as e:
                if d == root:
                    raise DataError(f"data.path: cannot read the image folder {str(root)!r} "
                                    f"({e.strerror or e})") from None
                left_out.append(f"{d.relative_to(root)}/ (a folder that cannot be read: {e.strerror or e})")
                continue
            for p in entries:
                # Hidden entries are skipped at the top level (".git", ".Trash") and hidden
                # files everywhere (see _is_image_file).
                if d == root and p.name.startswith("."):
                    continue
                if p.is_symlink():
                    heapq.heappush(links, p)
                elif p.is_dir():
                    if real_d / p.name not in seen_dirs:  # a bind mount can loop too
                        seen_dirs.add(real_d / p.name)
                        stack.append((p, real_d / p.name))
                elif _is_image_file(p):
                    found.setdefault(real_d / p.name, p)

    walk(root, real_root)
    while links:
        link = heapq.heappop(links)
        name = str(link.relative_to(root))
        try:
            real = link.resolve(strict=True)
        except (OSError, RuntimeError):  # missing target, or a loop of links (RuntimeError before 3.13)
            if link.suffix.lower() in EXTENSIONS:
                left_out.append(f"{name} (a broken link)")
            continue
        is_dir = real.is_dir()
        if not is_dir and (link.suffix.lower() not in EXTENSIONS or link.name.startswith(".")):
            continue  # not an image by its name: ignored like any such file
        if not real.is_relative_to(real_root):
            left_out.append(f"{name} (a link leading outside the folder, to {real})")
        elif is_dir and real in seen_dirs:
            left_out.append(f"{name} (a link to a folder read already: {real.relative_to(real_root)})")
        elif is_dir:
            walk(link, real)
        elif real in found:
            left_out.append(f"{name} (a link to {found[real].relative_to(root)}, read already)")
        elif real.is_file():
            found[real] = link
    return list(found.values()), left_out


def scan(root: str | Path) -> Scan:
    """List the images under `root` without opening them; symbolic links that lead out of
    `root`, into a folder read already or to a file counted already are not followed (see
    `_walk`) and are listed in `left_out`.

    Raises DataError for a missing folder, a folder with no images, or a folder
    that mixes top-level images with class sub-folders (ambiguous labels).
    """
    if not str(root):
        raise DataError("data.path: the folder dataset needs a directory of images "
                        "(set data.path or pass --data-dir)")
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"data.path: image folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise DataError(f"data.path: {str(root)!r} is not a directory")

    paths, left_out = _walk(root)
    top = sorted(p for p in paths if p.parent == root)
    class_files: dict[str, list[Path]] = {}
    for p in sorted(p for p in paths if p.parent != root):
        class_files.setdefault(p.relative_to(root).parts[0], []).append(p)

    if top and class_files:
        raise DataError(f"data.path: {root} has {len(top)} image(s) at the top level and class "
                        f"sub-folders ({', '.join(sorted(class_files)[:_NAMED])}); put every image "
                        f"in a class sub-folder, or all of them at the top level for unlabeled data")
    if top:
        return Scan(top, None, [], left_out)
    if not class_files:
        raise DataError(f"data.path: no images ({', '.join(sorted(EXTENSIONS))}) in {root} "
                        f"or its sub-folders" + (f" (not followed: {_named(left_out)})" if left_out else ""))
    classes = sorted(class_files)
    files, labels = [], []
    for label, name in enumerate(classes):
        files += class_files[name]
        labels += [label] * len(class_files[name])
    return Scan(files, labels, classes, left_out)


def _named(items: list[str]) -> str:
    """Up to _NAMED items by name, then only their count."""
    more = f" and {len(items) - _NAMED} more" if len(items) > _NAMED else ""
    return f"{'; '.join(items[:_NAMED])}{more}"


def left_out_note(left_out: list[str]) -> str:
    """The one-line note on what `scan` left out ("" when nothing)."""
    return f"left out {len(left_out)} path(s): {_named(left_out)}" if left_out else ""


@contextlib.contextmanager
def bomb_guard():
    """Within: images over MAX_IMAGE_PIXELS raise instead of warning, and truncated
    images raise instead of loading grey (both Pillow settings restored afterwards)."""
    saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _to_mode(img: Image.Image, channels: int) -> Image.Image:
    """Any Pillow mode -> "L" (channels 1) or "RGB" (channels 3), 8 bits per channel."""
    target = "L" if channels == 1 else "RGB"
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # Pillow's convert("L") clips 16-bit values at 255 instead of scaling
        # them; scale by hand (65535 -> 255). "I"/"F" holding 8-bit data stay as is.
        arr = np.asarray(img, dtype=np.float64)
        if img.mode.startswith("I;16") or arr.max(initial=0) > 255:
            arr = arr / 257.0
        img = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        # A palette may carry transparency; go through RGBA so it is composited below.
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "La", "RGBa", "PA") or "transparency" in img.info:
        # Transparent pixels hold arbitrary colour; composite on white, as a viewer shows them.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")  # CMYK, YCbCr, LAB, HSV, 1-bit, ...
    return img.convert(target) if img.mode != target else img


def read_image(path: Path, channels: int, resolution: int) -> np.ndarray:
    """One file -> uint8 (channels, resolution, resolution).

    Raises the Pillow/OS error as is; `load_folder` collects them per file.
    Call inside `bomb_guard()`.
    """
    return _read_image(path, channels, resolution)[0]


def _read_image(path: Path, channels: int, resolution: int) -> tuple[np.ndarray, str, tuple[int, int]]:
    """read_image, plus the file's own mode and size (for the conversion note)."""
    with Image.open(path, formats=FORMATS) as img:
        mode, size = img.mode, img.size
        if img.format == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the target is small:
            # much faster on photos, and still at least `resolution` on the short side.
            w, h = img.size
            short = min(w, h)
            img.draft(img.mode, (max(1, w * resolution // short), max(1, h * resolution // short)))
        img.load()  # decode now, so a truncated file fails here, inside the handler
        img = ImageOps.exif_transpose(img)  # phone photos store rotation in EXIF
        img = _to_mode(img, channels)
        img = ImageOps.fit(img, (resolution, resolution), method=Image.Resampling.LANCZOS,
                           centering=(0.5, 0.5))
        arr = np.array(img, dtype=np.uint8)  # a writable copy: torch warns on read-only buffers
    return (arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)), mode, size


def load_folder(path: str | Path, channels: int, resolution: int, limit: int = 0,
                name: str = "folder", skip_bad: bool = False, max_bad_fraction: float = 0.1) -> Dataset:
    """Read every image under `path` -> Dataset with x uint8 (N, channels, R, R).

    `limit` > 0 reads only the first `limit` files in scan order (by class, then
    path). Unreadable files (empty, truncated, not an image, a decompression
    bomb, a format not allowed) raise DataError naming up to five of them and
    their count; with `skip_bad` they are left out instead and named in a note,
    and DataError is raised only when more than `max_bad_fraction` of the files
    (or all of them) are bad. Converted and resized images are counted in a note.
    """
    files, labels, classes, left_out = scan(path)
    root = Path(path).expanduser()
    if limit > 0:
        files = files[:limit]
        labels = labels[:limit] if labels is not None else None
    x = torch.empty((len(files), channels, resolution, resolution), dtype=torch.uint8)
    bad: list[str] = []
    good: list[int] = []
    modes: Counter = Counter()
    resized = 0
    target = "L" if channels == 1 else "RGB"
    with bomb_guard():
        progress = tqdm(files, desc=f"reading {root.name or root}", unit="img",
                        disable=len(files) <= PROGRESS_MIN_FILES, leave=False)
        for i, f in enumerate(progress):
            try:
                arr, mode, size = _read_image(f, channels, resolution)
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                bad.append(f"{f.relative_to(root)} (over {MAX_IMAGE_PIXELS // 2**20} megapixels)")
                continue
            except Image.UnidentifiedImageError:
                reason = ("empty file" if f.stat().st_size == 0
                          else f"not an image of an allowed format ({', '.join(FORMATS)})")
                bad.append(f"{f.relative_to(root)} ({reason})")
                continue
            except (OSError, ValueError, SyntaxError, EOFError) as e:
                # Pillow reports bad data with all of these (SyntaxError from some plugins).
                reason = (str(e).splitlines() or ["unreadable"])[0]
                bad.append(f"{f.relative_to(root)} ({reason})")
                continue
            except Exception as e:  # noqa: BLE001 - a decoder on hostile bytes may raise anything else too
                bad.append(f"{f.relative_to(root)} (unreadable: {type(e).__name__})")
                continue
            x[len(good)] = torch.from_numpy(arr)
            good.append(i)
            if mode != target:
                modes[mode] += 1
            if size != (resolution, resolution):
                resized += 1
    notes = []
    if modes:
        kinds = ", ".join(f"{n} {m}" for m, n in sorted(modes.items()))
        notes.append(f"converted {sum(modes.values())} image(s) to {target} ({kinds})")
    if resized:
        notes.append(f"resized/cropped {resized} image(s) to {resolution}x{resolution}")
    if left_out:
        notes.append(left_out_note(left_out))
    if bad:
        named = _named(bad)
        fraction = len(bad) / len(files)
        if not skip_bad:
            raise DataError(f"{root}: {len(bad)} unreadable image file(s): {named} "
                            f"(set data.skip_bad_files = true to skip them)")
        if not good:
            raise DataError(f"{root}: {len(bad)} of {len(files)} image files are unreadable, none is left "
                            f"to train on: {named}")
        if fraction > max_bad_fraction:
            raise DataError(f"{root}: {len(bad)} of {len(files)} image files are unreadable ({fraction:.0%}, "
                            f"more than data.max_bad_fraction = {max_bad_fraction:g}): {named}")
        notes.append(f"skipped {len(bad)} unreadable file(s) of {len(files)}: {named}")
    if notes:
        tqdm.write(f"note: {root}: {'; '.join(notes)}", file=sys.stderr)
    if len(good) < len(files):
        x = x[:len(good)].clone()  # clone(): do not keep the larger buffer alive behind a view
    y = torch.tensor([labels[i] for i in good], dtype=torch.int64) if labels is not None else None
    source = str(root) + (f" ({len(bad)} unreadable file(s) skipped)" if bad else "")
    return Dataset(x=x, y=y, name=name, classes=classes, source=source)
