"""Synthetic datasets from a trained generator: a folder of PNGs (class sub-folders as labels) or one .npz.

Which images: sample i of `seed` (`Generator.sample`), i = 0 .. N-1, so a synthesized dataset is
exactly what `gankit sample --seed S --num N` draws and does not depend on the batch size or the
device. A conditional generator with K classes draws its balanced default, sample i of class
i mod K: ``--per-class M`` takes N = M * K samples, and image j of class c is sample j * K + c
(so ``--per-class 100`` is a prefix of ``--per-class 1000``, class by class).

Layouts:

    DIR/<class>/<j>.png   conditional: image j (zero-padded, 00000.png ...) of each class, <class> the
                          class name made safe as a folder name (see apps.sample.class_file_name);
                          gankit's folder reader (data.name = "folder") reads it back with the
                          sub-folders as labels
    DIR/<i>.png           unconditional: sample i
    DIR/synthesize.json   what was written, by what and how; written first ("complete": false)
                          and rewritten last ("complete": true). It is also what makes DIR
                          gankit's: --overwrite deletes only the files it lists
    FILE.npz              x uint8 (N, C, H, W) (float32 (N, D) for toy data); conditional runs also
                          y int64 (N,) (y[i] = i mod K) and classes (K,) str; read back with
                          `read_npz` or np.load(..., allow_pickle=False)
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from gankit.apps.sample import class_file_name
from gankit.data import to_uint8
from gankit.io.files import FileError, fsync_dir, write_bytes_atomic
from gankit.io.images import prepare_dir, save_image_unsynced
from gankit.models import Generator, latents
from gankit.models.base import check_truncation

MANIFEST = "synthesize.json"
FORMAT = "gankit-synthesize"
MAX_BATCH_BYTES = 4 * 2**30
"""The float32 samples of one batch held at once at most (as cli.common.MAX_SAMPLE_BYTES)."""
MAX_NPZ_BYTES = 4 * 2**30
"""An .npz is built in memory: its uint8 (or float32) array may take at most this much."""
PNG_BYTES_ESTIMATE = 1.1
"""PNG files of generated images, relative to their raw uint8 size, at most (zlib barely expands
even noise), plus PNG_OVERHEAD bytes of headers; each file then takes whole file-system blocks."""
PNG_OVERHEAD = 200


def folder_names(classes: list[str]) -> list[str]:
    """One sub-folder name per class: the class name made safe (class_file_name), made unique (also
    ignoring case, for case-insensitive file systems) by appending _<index> to repeats."""
    names, seen = [], set()
    for i, c in enumerate(classes):
        name = class_file_name(c)
        if name.casefold() in seen:
            name = f"{name}_{i}"
        seen.add(name.casefold())
        names.append(name)
    return names


def output_kind(out: str | Path) -> str:
    """"npz" or "folder" by the ending of `out` (an existing folder is a folder); ValueError otherwise."""
    out = Path(out)
    if out.is_dir():
        return "folder"
    if out.suffix.lower() == ".npz":
        return "npz"
    if out.suffix:
        raise ValueError(f"--out {out}: unknown ending {out.suffix!r}; synthesize writes a folder (a path with "
                         f"no extension, or an existing folder) or an .npz file")
    return "folder"


def _count(G: Generator, per_class: int | None, num: int | None) -> int:
    if G.num_classes:
        if num is not None:
            raise ValueError(f"--num: this generator is class-conditional ({G.num_classes} classes); ask for "
                             f"--per-class N images of each class instead")
        if per_class is None:
            raise ValueError("--per-class: a class-conditional generator needs the number of images per class")
        value, flag = per_class, "--per-class"
    else:
        if per_class is not None:
            raise ValueError("--per-class: this generator is unconditional (model.conditional = none), it has "
                             "no classes; ask for --num N images instead")
        if num is None:
            raise ValueError("--num: an unconditional generator needs the number of images")
        value, flag = num, "--num"
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{flag}: expected a positive integer, got {value!r}")
    return value * max(1, G.num_classes)


def _read_manifest(folder: Path) -> dict | None:
    try:
        meta = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == FORMAT else None


def _file_names(G: Generator, total: int) -> list[str]:
    """The relative path of sample i, for i in 0 .. total-1."""
    k = G.num_classes
    width = max(5, len(str(max(0, total // max(1, k) - 1))))
    if not k:
        return [f"{i:0{width}d}.png" for i in range(total)]
    folders = folder_names(list(G.classes) if getattr(G, "classes", None) else [str(c) for c in range(k)])
    return [f"{folders[i % k]}/{i // k:0{width}d}.png" for i in range(total)]


def _remove_previous(folder: Path, meta: dict) -> int:
    """Delete the files a previous synthesize listed in `meta` (and the class folders it made, if
    nothing else is left in them); returns how many other entries stay. Nothing else is touched."""
    root = folder.resolve()
    for rel in meta.get("files", []):
        p = (folder / str(rel))
        if p.resolve().parent.is_relative_to(root) and p.is_file() and not p.is_symlink():
            p.unlink()
    for tmp in folder.glob(".*.png.tmp-*"):  # a killed run's half-written PNGs (hidden, ours by name)
        tmp.unlink(missing_ok=True)
    for sub in meta.get("folders", []):
        d = folder / str(sub)
        if d.is_dir() and not d.is_symlink() and d.resolve().parent == root:
            for tmp in d.glob(".*.png.tmp-*"):
                tmp.unlink(missing_ok=True)
            try:
                d.rmdir()
            except OSError:  # the user keeps something there
                pass
    (folder / MANIFEST).unlink(missing_ok=True)
    return sum(1 for _ in folder.iterdir())


def _previous(folder: Path, overwrite: bool) -> dict | None:
    """The manifest of the previous synthesize output `--overwrite` will replace in `folder` (None when
    the folder is missing or empty); FileError when the folder is not empty and may not be replaced."""
    if not (folder.is_dir() and any(folder.iterdir())):
        return None
    meta = _read_manifest(folder)
    if not overwrite:
        what = "a previous gankit synthesize output" if meta else "files"
        raise FileError(f"{folder}: is not empty (holds {what}); pass --overwrite to replace a previous "
                        f"synthesize output, or choose a new folder")
    if meta is None:
        raise FileError(f"{folder}: is not empty and holds no {MANIFEST}, so gankit did not write it; "
                        f"--overwrite replaces only gankit's own output: choose an empty or new folder")
    return meta


def _check_space(folder: Path, total: int, each: int, freed: int = 0) -> None:
    """Refuse PNGs that would not fit on the disk of `folder` (or of its nearest existing parent),
    counting `freed` bytes an overwrite deletes first. An estimate from above: a 28x28 PNG is
    0.3-0.8 kB, but takes a whole 4 kB block on most file systems."""
    where = folder
    while not where.exists() and where != where.parent:
        where = where.parent
    if not where.is_dir():
        return  # a file in the way: prepare_dir says so
    try:
        block = os.statvfs(where).f_frsize or 4096
    except (AttributeError, OSError):  # no statvfs (Windows)
        block = 4096
    need = total * math.ceil((each * PNG_BYTES_ESTIMATE + PNG_OVERHEAD) / block) * block
    free = shutil.disk_usage(where).free + freed
    if need > free:
        raise FileError(f"{folder}: the images need about {need / 2**30:,.2f} GiB, only {free / 2**30:,.2f} GiB "
                        f"free there; ask for fewer images or write elsewhere")


def _listed_bytes(folder: Path, meta: dict | None) -> int:
    if not meta:
        return 0
    size = 0
    for rel in meta.get("files", []):
        try:
            size += (folder / str(rel)).stat().st_size
        except OSError:
            pass
    return size


def synthesize(G: Generator, out: str | Path, per_class: int | None = None, num: int | None = None,
               seed: int = 0, truncation: float = 1.0, batch_size: int = 256, overwrite: bool = False,
               progress: bool = True, source: str = "") -> dict:
    """Write a synthetic dataset of G to `out` (a folder, or a file ending .npz); see the module docstring.

    A conditional G takes `per_class` (images of each class), an unconditional one `num`.
    `truncation` is psi of the truncation trick in [0, 1] (1: none). Everything that can be refused
    is refused before the first sample is drawn (one-line ValueError / FileError): the counts, the
    output's kind, a non-empty folder or an existing file without `overwrite`, a folder gankit did
    not write even with it, the memory an .npz or a batch needs, the disk space PNGs need.
    Returns {"path", "format", "num", "per_class", "classes", "seed", "truncation", "seconds"}.
    """
    out = Path(out)
    psi = check_truncation(truncation)
    latents(0, G.z_dim, seed)  # checks the seed
    total = _count(G, per_class, num)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"--batch-size: expected a positive integer, got {batch_size!r}")
    kind = output_kind(out)
    each = math.prod(G.out_shape)
    is_image = len(G.out_shape) == 3
    if min(batch_size, total) * each * 4 > MAX_BATCH_BYTES:
        raise ValueError(f"--batch-size: {batch_size:,} samples of shape {G.out_shape} need "
                         f"{batch_size * each * 4 / 2**30:,.1f} GiB at once; use at most {MAX_BATCH_BYTES // (each * 4):,}")
    classes = list(getattr(G, "classes", None) or [str(c) for c in range(G.num_classes)]) if G.num_classes else []
    if kind == "npz":
        need = total * each * (1 if is_image else 4)
        if need > MAX_NPZ_BYTES:
            per = MAX_NPZ_BYTES // (each * (1 if is_image else 4)) // max(1, G.num_classes)
            raise ValueError(f"{'--per-class' if G.num_classes else '--num'}: {total:,} images make an .npz of "
                             f"{need / 2**30:,.1f} GiB, built in memory; write a folder instead, or at most "
                             f"{per:,}{' per class' if G.num_classes else ''}")
        if out.exists() and not overwrite:
            raise FileError(f"{out}: exists; pass --overwrite to replace it")
        if out.is_dir():
            raise FileError(f"{out}: is a folder")
        prepare_dir(out.parent)
    else:
        if not is_image:
            raise ValueError(f"--out {out}: toy samples are points, not images; write them to an .npz file")
        previous = _previous(out, overwrite)
        _check_space(out, total, each, freed=_listed_bytes(out, previous))
        prepare_dir(out)
        if previous is not None:
            left = _remove_previous(out, previous)
            if left:
                print(f"note: {out} keeps {left} entr{'y' if left == 1 else 'ies'} the previous synthesize did "
                      f"not write; they are left as they are")
    meta = {"format": FORMAT, "version": 1, "complete": False, "generator": source, "seed": int(seed),
            "truncation": psi, "num": total, "per_class": total // G.num_classes if G.num_classes else None,
            "shape": list(G.out_shape), "classes": classes,
            "order": "sample i of the seed; conditional: class i mod K, image i // K of its class"}
    names: list[str] = []
    if kind == "folder":
        names = _file_names(G, total)
        meta["folders"] = folder_names(classes) if classes else []
        meta["files"] = names
        for sub in meta["folders"]:
            try:
                (out / sub).mkdir(exist_ok=True)
            except OSError as e:
                raise FileError(f"could not create folder {out / sub}: {e.strerror or e}") from None
        write_bytes_atomic(out / MANIFEST, json.dumps(meta, indent=1).encode())

    from tqdm import tqdm
    started = time.perf_counter()
    # an .npz is filled in place: one copy of the images in memory, not a list of batches and their join
    xs = np.empty((total, *G.out_shape), np.uint8 if is_image else np.float32) if kind == "npz" else None
    with tqdm(total=total, desc="synthesizing", unit="img", disable=not progress, leave=False) as bar:
        for start in range(0, total, batch_size):
            n = min(batch_size, total - start)
            x = G.sample(n, seed=seed, start=start, truncation=psi)
            x = to_uint8(x) if is_image else x.float()
            if xs is not None:
                xs[start:start + n] = x.numpy()
            else:
                for i in range(n):
                    save_image_unsynced(x[i], out / names[start + i])
            bar.update(n)
    if kind == "folder":
        for sub in meta["folders"]:  # the renames of the PNGs, made durable before the manifest says so
            fsync_dir(out / sub)
        fsync_dir(out)
        meta["complete"] = True
        write_bytes_atomic(out / MANIFEST, json.dumps(meta, indent=1).encode())
    else:
        arrays = {"x": xs}
        if G.num_classes:
            arrays["y"] = (np.arange(total) % G.num_classes).astype(np.int64)
            arrays["classes"] = np.asarray(classes, dtype=str)
        _write_npz(out, arrays)
    return {"path": out, "format": kind, "num": total, "per_class": meta["per_class"], "classes": classes,
            "seed": int(seed), "truncation": psi, "seconds": time.perf_counter() - started}


def _write_npz(path: Path, arrays: dict) -> None:
    """np.savez_compressed streamed into a hidden temporary file beside `path`, fsynced, renamed over it."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, FileError):
            raise FileError(f"could not write {path}: {e.strerror or e}") from e
        raise


def read_npz(path: str | Path) -> dict:
    """A synthesized .npz back: {"x": uint8 tensor (N, C, H, W) (float32 (N, D) for toy data),
    "y": int64 tensor (N,) or None, "classes": list of str ([] when unlabelled)}.

    Never unpickles (allow_pickle=False); a file that is not such an .npz is one-line ValueError."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise FileError(f"{path}: no such file") from None
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable .npz ({e})") from None
    x = data.get("x")
    if x is None or x.ndim not in (2, 4):
        raise ValueError(f"{path}: expected an array x of shape (N, C, H, W) or (N, D), keys {sorted(data)}")
    if x.ndim == 4 and x.dtype != np.uint8:
        raise ValueError(f"{path}: x must be uint8 images, got {x.dtype}")
    y, classes = data.get("y"), data.get("classes")
    if (y is None) != (classes is None):
        raise ValueError(f"{path}: y and classes come together, found only {'y' if classes is None else 'classes'}")
    if y is not None:
        if y.shape != (len(x),) or y.dtype.kind not in "iu" or classes.ndim != 1 or classes.dtype.kind != "U":
            raise ValueError(f"{path}: expected y int (N,) and classes str (K,), got y {y.dtype} {y.shape}, "
                             f"classes {classes.dtype} {classes.shape}")
        if len(y) and not (0 <= y.min() and y.max() < len(classes)):
            raise ValueError(f"{path}: labels y must be in [0, {len(classes)})")
    return {"x": torch.from_numpy(x), "y": None if y is None else torch.from_numpy(y.astype(np.int64)),
            "classes": [] if classes is None else [str(c) for c in classes]}
