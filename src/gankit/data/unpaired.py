"""Two image domains for unpaired translation (`data.task = "unpaired"`, CycleGAN / MUNIT).

`data.domain_a` and `data.domain_b` each name either

- a **class** of the labelled dataset `data.name` (exact, else ignoring case), e.g. Fashion-MNIST's
  ``Sneaker`` and ``Ankle boot``, or the toy dataset ``shapes``' ``square`` and ``circle``; or
- an **image folder**: a value containing ``/`` or starting with ``~`` or ``.`` is a path
  (``./horses``, ``data/zebras``), read like `data.name = folder` (sub-folders ignored as labels).

Both domains are read at data.channels x data.resolution^2 from data.split; data.limit caps each.
Training draws two independent shuffled streams, one per domain (the game's), so nothing pairs an
A image with a B image. Images are uint8 (N, C, H, W) here, [-1, 1] floats inside the game.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from gankit.config import DataConfig
from gankit.data.dataset import DataError, Dataset

__all__ = ["Domains", "load_domains", "load_union", "is_path", "check_domains"]


@dataclass
class Domains:
    a: Dataset
    b: Dataset

    @property
    def sample_shape(self) -> tuple:
        return self.a.sample_shape


def is_path(spec: str) -> bool:
    """Whether a domain value names a folder (rather than a class of data.name)."""
    return "/" in spec or spec.startswith(("~", "."))


def _field(which: str) -> str:
    return f"data.domain_{which}"


def _class_index(spec: str, classes: list[str], which: str, name: str) -> int:
    if spec in classes:
        return classes.index(spec)
    folded = [c.lower() for c in classes]
    if spec.lower() in folded:
        return folded.index(spec.lower())
    hint = f"; to read the folder ./{spec}, write it as ./{spec}" if Path(spec).is_dir() else ""
    raise DataError(f"{_field(which)}: {spec!r} is not a class of {name} (classes: {', '.join(classes)}){hint}")


def _folder(cfg: DataConfig, spec: str, which: str) -> Dataset:
    from gankit.data import folder
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise DataError(f"{_field(which)}: no such folder {spec!r}")
    data = folder.load_folder(path, cfg.channels, cfg.resolution, limit=cfg.limit, name="folder",
                              skip_bad=cfg.skip_bad_files, max_bad_fraction=cfg.max_bad_fraction)
    return Dataset(x=data.x, y=None, name=f"folder {spec}", classes=[], source=data.source)


def _specs(cfg: DataConfig) -> tuple[str, str]:
    a, b = cfg.domain_a.strip(), cfg.domain_b.strip()
    if not a or not b:
        missing = " and ".join(_field(w) for w, s in (("a", a), ("b", b)) if not s)
        raise DataError(f"{missing}: data.task = 'unpaired' needs both domains, each a class of data.name "
                        f"(e.g. data.domain_a='Sneaker' data.domain_b='Ankle boot') or a folder ('./horses')")
    if a == b:
        raise DataError(f"data.domain_b: the same as data.domain_a ({a!r}); translation needs two domains")
    return a, b


def load_domains(cfg: DataConfig, seed: int = 0) -> Domains:
    """Read both domains: each uint8 (N, cfg.channels, R, R), unlabelled (y None)."""
    from gankit.data import load_dataset
    specs = _specs(cfg)
    labelled = None
    out = []
    for which, spec in zip("ab", specs):
        if is_path(spec):
            out.append(_folder(cfg, spec, which))
            continue
        if labelled is None:  # read once, unlimited: data.limit caps each domain, not the source
            labelled = load_dataset(replace(cfg, task="none", limit=0), seed)
            if labelled.y is None or not labelled.is_image:
                raise DataError(f"{_field(which)}: {spec!r} names a class, and data.name = {cfg.name!r} "
                                f"has no class labels; give a folder path instead")
        k = _class_index(spec, labelled.classes, which, cfg.name)
        x = labelled.x[labelled.y == k]
        if cfg.limit:
            x = x[:cfg.limit]
        if len(x) == 0:
            raise DataError(f"{_field(which)}: class {spec!r} has no images in the {cfg.split} split of {cfg.name}")
        out.append(Dataset(x=x.contiguous(), y=None, name=f"{cfg.name}:{labelled.classes[k]}", classes=[],
                           source=f"{labelled.source} class {labelled.classes[k]!r}"))
    return Domains(*out)


def load_union(cfg: DataConfig, seed: int = 0) -> Dataset:
    """Both domains as one labelled dataset, what the training loop holds: x = cat(A, B), y 0 for A's
    images and 1 for B's, classes = [domain_a, domain_b]. The unpaired games split it back into two
    independent streams."""
    d = load_domains(cfg, seed)
    y = torch.cat([torch.zeros(len(d.a), dtype=torch.int64), torch.ones(len(d.b), dtype=torch.int64)])
    return Dataset(x=torch.cat([d.a.x, d.b.x]).contiguous(), y=y, name=f"unpaired {d.a.name} | {d.b.name}",
                   classes=[cfg.domain_a.strip(), cfg.domain_b.strip()],
                   source=f"A: {d.a.source} ({len(d.a)} images); B: {d.b.source} ({len(d.b)} images)")


def check_domains(cfg: DataConfig, check_plain) -> str:
    """Cheap pre-flight (no image read): both domain values given, folders present, and for class
    domains `check_plain(cfg without the task)` (the dataset's own check); a description."""
    parts, plain = [], None
    for which, spec in zip("ab", _specs(cfg)):
        if is_path(spec):
            if not Path(spec).expanduser().is_dir():
                raise DataError(f"{_field(which)}: no such folder {spec!r}")
            parts.append(f"{which}: folder {spec}")
            continue
        if plain is None:
            plain = check_plain(replace(cfg, task="none"))
        known = _known_classes(cfg.name)
        if known is not None:
            _class_index(spec, known, which, cfg.name)
        parts.append(f"{which}: class {spec!r}")
    return "unpaired, " + "; ".join(parts) + (f" of {plain}" if plain else "")


def _known_classes(name: str) -> list[str] | None:
    """Class names a dataset has without reading it (None: only reading tells, e.g. a folder)."""
    from gankit.data import idx, shapes
    if name in idx.CLASSES:
        return list(idx.CLASSES[name])
    if name == "shapes":
        return list(shapes.CLASSES)
    return None
