"""The shareable generator folder, and loading trained models from any run artefact.

``runs/<name>/generator/`` (and ``generator-best/``) holds::

    config.json         the run's resolved config, the output shape, class names, images seen
    model.safetensors   generator weights and buffers (the EMA weights on a run with EMA)
    README.md           what it was trained on, for how long, and how to sample it
    manifest.json       size and SHA-256 of the three files above, written last

The folder is assembled in a hidden ``.generator.tmp-new`` beside it and swapped in by
two renames (io/files.swap_in), the previous export parked as ``.generator.tmp-old`` in
between (a folder cannot be renamed over a non-empty one). A kill at any moment leaves the
previous export, the new one, or the previous one parked, which loading uses as the run's
generator (and the next export puts back first). The hidden names follow write_bytes_atomic's
``.<entry>.tmp-*`` pattern, so io/rundir.py counts them as the run's own entries.

`load_generator` and `load_discriminator` accept a run folder, a generator folder or a
checkpoint folder, rebuild the architecture from the stored config and load weights
strictly: any missing, unexpected or differently shaped tensor is reported, and nothing
is loaded partially. A generator is always the one the run shows: from a checkpoint,
its EMA weights (``G_ema``) when the run keeps an average, else the raw G. A run's
damaged or incomplete generator/ is refused by name, never replaced by a checkpoint;
only a run that has no generator/ yet (stopped before its end) falls back to its newest
checkpoint, and says so on stderr.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from gankit import config as config_mod
from gankit.data import sample_shape
from gankit.io.checkpoint import (CheckpointError, check_entry, find_latest, load_checkpoint, read_file,
                                  read_manifest, write_entry)
from gankit.io.files import FileError, fsync_dir, swap_in, write_bytes_atomic
from gankit.models import build

FORMAT = "gankit-generator"
VERSION = 2  # 2: manifest.json with checksums; 1 (no manifest) is still read, with a warning
CHECKED = ("config.json", "model.safetensors")
"""What loading reads, so what it verifies: README.md is listed in the manifest too, but it is
documentation a user may well edit, and refusing a model over it would help no one."""


def _hidden(out: Path, tag: str) -> Path:
    return out.with_name(f".{out.name}.tmp-{tag}")


def _put_back(out: Path) -> None:
    """Undo what an export killed between its two renames left: the parked previous copy goes back
    in place if nothing replaced it, and is garbage if the new copy did."""
    old = _hidden(out, "old")
    if old.is_dir():
        if out.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.rename(out)


def export_generator(G: nn.Module, cfg: config_mod.Config, run_dir: str | Path, info: dict,
                     folder: str = "generator") -> Path:
    """Write `run_dir/<folder>/` from a generator module; `info` is merged into config.json
    (e.g. images_seen, classes, dataset source). Training also writes `generator-best/`.

    Crash-safe: the folder is assembled beside it and swapped in (see the module docstring), so
    a failure or a kill never leaves a mix of two exports nor loses the previous one. An OS error
    becomes FileError naming the path, the previous export in place and no temporary left."""
    out = Path(run_dir) / folder
    tmp, old = _hidden(out, "new"), _hidden(out, "old")
    tensors = {k: v.detach().cpu().contiguous() for k, v in G.state_dict().items()}
    meta = {"format": FORMAT, "version": VERSION, "shape": list(G.out_shape), "z_dim": G.z_dim,
            "config": cfg.to_dict(), **info}
    try:
        with swap_in(out, tmp, old):  # on any failure: the previous export back, no tmp left
            out.parent.mkdir(parents=True, exist_ok=True)
            _put_back(out)
            shutil.rmtree(tmp, ignore_errors=True)  # a killed export's half-built folder: never loaded
            tmp.mkdir()
            files = {"model.safetensors": write_entry(tmp / "model.safetensors", safetensors.torch.save(tensors)),
                     "config.json": write_entry(tmp / "config.json", json.dumps(meta, indent=2).encode()),
                     "README.md": write_entry(tmp / "README.md", _readme(cfg, G, info).encode())}
            manifest = {"format": FORMAT, "version": VERSION, "files": files}
            write_bytes_atomic(tmp / "manifest.json", json.dumps(manifest, indent=1).encode())
        fsync_dir(out.parent)
    except OSError as e:
        if isinstance(e, FileError):
            raise
        raise FileError(f"could not write {out}: {getattr(e, 'filename', None) or tmp}: "
                        f"{e.strerror or e}") from e
    shutil.rmtree(old, ignore_errors=True)  # only once the new export is in place
    return out


def _conditional_card(cfg: config_mod.Config, G: nn.Module, info: dict) -> str:
    """The model card's lines about classes ("" for an unconditional generator: its card is unchanged)."""
    if not getattr(G, "num_classes", 0):
        return ""
    classes = list(info.get("classes") or [])
    names = ", ".join(f"{i} {c}" for i, c in enumerate(classes))
    first = classes[0] if classes else "0"
    return (f"- class-conditional (`{cfg.model.conditional}`) over {G.num_classes} classes: {names}; "
            f"`gankit sample ... --class \"{first}\"` draws one,\n"
            f"  `G.sample(n, seed=0, labels=...)` any (by default sample i is of class i mod {G.num_classes})\n")


def _unpaired_readme(cfg: config_mod.Config, G: nn.Module, info: dict) -> str:
    """The model card of an unpaired translator (data.task = "unpaired": CycleGAN or example-guided)."""
    params = sum(p.numel() for p in G.parameters())
    where = Path(cfg.out) / "generator"
    d, lo = cfg.data, cfg.loss
    guided = cfg.model.arch == "munit"
    kind = ("example-guided (MUNIT-like: content and style encoders, AdaIN decoders)" if guided
            else f"CycleGAN ({cfg.model.arch} generators)")
    losses = (f"{lo.cycle_weight:g} x (image recon + cycle) + style + content recon" if guided else
              f"cycle {lo.cycle_weight:g}, identity {lo.identity_weight:g} x cycle, pool {cfg.train.pool_size}")
    style = (f"gankit translate {where} a.png --style b_example.png --out styled/   # an example's style\n"
             f"gankit translate {where} a.png --styles 5 --seed 0 --out random/     # random styles\n") if guided else ""
    return f"""# gankit unpaired translator

- domains: A = `{d.domain_a}`, B = `{d.domain_b}` ({info.get('source', '')}), trained at
  {d.resolution}x{d.resolution}, {d.channels} channel(s); both directions, any size (padded to a multiple of 4)
- model: {kind}, width {cfg.model.width}, depth {cfg.model.depth}, {params:,} parameters
- loss: `{lo.name}` + {losses}; trained on {info.get('images_seen', 0):,} images
  ({info.get('train_seconds', 0) / 60:.1f} minutes)

Files: `model.safetensors`, `config.json` (the run's config) and `manifest.json` (checksums).

## Use it

```
gankit translate {where} a.png --direction a2b --out to_b/
gankit translate {where} b.png --direction b2a --out to_a/
{style}```

```python
import gankit
translate = gankit.load_translator("{where}", direction="a2b")
outputs = translate(images)   # uint8 (H, W[, C]) arrays in, uint8 arrays out
```
"""


def _translator_readme(cfg: config_mod.Config, G: nn.Module, info: dict) -> str:
    """The model card of an image-to-image generator (data.task != "none")."""
    if cfg.data.task == "unpaired":
        return _unpaired_readme(cfg, G, info)
    params = sum(p.numel() for p in G.parameters())
    where = Path(cfg.out) / "generator"
    scale = f" (scale {cfg.data.scale})" if cfg.data.task == "superres" else ""
    return f"""# gankit image-to-image generator

- task: `{cfg.data.task}`{scale} on `{cfg.data.name}` ({info.get('source', '')}), trained at
  {cfg.data.resolution}x{cfg.data.resolution}, {cfg.data.channels} channel(s); runs on any size
- architecture: `{cfg.model.arch}` (upsample {cfg.model.upsample}), width {cfg.model.width}, {params:,} parameters
- loss: {cfg.loss.adversarial_weight:g} x `{cfg.loss.name}` + {cfg.loss.l1_weight:g} x L1; trained on
  {info.get('images_seen', 0):,} images ({info.get('train_seconds', 0) / 60:.1f} minutes)

Files: `model.safetensors`, `config.json` (the run's config) and `manifest.json` (checksums).

## Use it

```
gankit translate {where} photo.png --out translated/
gankit translate {where} clean.png --degrade --out demo/   # degrade clean images first
```

```python
import gankit
translate = gankit.load_translator("{where}")
outputs = translate(images)   # uint8 (H, W, C) arrays in, uint8 arrays out
```
"""


def _readme(cfg: config_mod.Config, G: nn.Module, info: dict) -> str:
    if cfg.data.task != "none":
        return _translator_readme(cfg, G, info)
    shape = "x".join(str(s) for s in G.out_shape)
    params = sum(p.numel() for p in G.parameters())
    return f"""# gankit generator

- data: `{cfg.data.name}` ({info.get('source', '')}), samples of shape {shape}
- architecture: `{cfg.model.arch}`, z_dim {G.z_dim}, width {cfg.model.width}, {params:,} parameters
- loss: `{cfg.loss.name}`; trained on {info.get('images_seen', 0):,} real images
  ({info.get('epochs', 0):.2f} epochs, {info.get('train_seconds', 0) / 60:.1f} minutes)
{_conditional_card(cfg, G, info)}
Files: `model.safetensors` (weights, safetensors format), `config.json` (the run's config) and
`manifest.json` (size and SHA-256 of each file: gankit checks it on load).

## Sample it

```
gankit sample {Path(cfg.out) / 'generator'} --num 64 --seed 0 --out grid.png
```

```python
import gankit
G = gankit.load_generator("{Path(cfg.out) / 'generator'}")
x = G.sample(16, seed=0)   # (16, {', '.join(str(s) for s in G.out_shape)}) float32 in [-1, 1]
```
"""


def load_state_strict(module: nn.Module, tensors: dict[str, torch.Tensor], where: str | Path) -> None:
    """Load `tensors` into `module` only if every name and shape matches; else raise
    CheckpointError listing the mismatches (no partial load)."""
    own = module.state_dict()
    problems = []
    for k in sorted(own.keys() - tensors.keys()):
        problems.append(f"missing {k}")
    for k in sorted(tensors.keys() - own.keys()):
        problems.append(f"unexpected {k}")
    for k in sorted(own.keys() & tensors.keys()):
        if own[k].shape != tensors[k].shape:
            problems.append(f"{k}: file {tuple(tensors[k].shape)} vs model {tuple(own[k].shape)}")
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise CheckpointError(f"{where} does not match the configured model: {shown}")
    module.load_state_dict(tensors)


def _config_from_text(text: str, where: Path) -> config_mod.Config:
    try:
        return config_mod.from_dict(config_mod.tomllib.loads(text))
    except (config_mod.ConfigError, config_mod.tomllib.TOMLDecodeError) as e:
        raise CheckpointError(f"{where}: stored config is invalid ({e})") from None


def _resolve(path: str | Path) -> tuple[str, Path, str | None]:
    """Classify a path as ('generator', dir, note) or ('checkpoint', dir, note). A run resolves to
    its generator/ whenever that folder exists, whole or not (loading then names what is wrong),
    and to its newest verified checkpoint only when it has none; the note (for stderr, once the
    load succeeded) says what stands in for the missing generator/."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such run, generator or checkpoint folder")
    if path.is_file():
        raise CheckpointError(f"{path}: expected a run, generator or checkpoint folder, got a file")
    if _is_generator(path):
        return "generator", path, None
    if (path / "manifest.json").is_file():
        return "checkpoint", path, None
    gen, parked = path / "generator", _hidden(path / "generator", "old")
    if gen.exists() or gen.is_symlink():
        if not gen.is_dir():
            raise CheckpointError(f"{gen}: expected a generator folder, got a file")
        return "generator", gen, None
    if parked.is_dir():
        return "generator", parked, (f"{path} has no generator/ (an export was cut off); "
                                     f"using {parked}, its previous one")
    if (path / "checkpoints").is_dir():
        ckpt = find_latest(path)[0]
        return "checkpoint", ckpt, (f"{path} has no generator/ (training has not finished); "
                                    f"using the {{weights}} of {ckpt}")
    raise CheckpointError(f"{path}: not a gankit run, generator or checkpoint folder")


def _is_generator(path: Path) -> bool:
    """A generator folder, even an incomplete one. Runs and checkpoints hold a config.toml, and a run
    folder may hold a user's own files (io/rundir.py), so its name alone says nothing."""
    return any((path / name).is_file() for name in CHECKED) and not (path / "config.toml").exists()


def read_generator_meta(gen_dir: Path, data: bytes | None = None) -> dict:
    """config.json of a generator folder (`data`: its bytes, already read), format checked."""
    where = gen_dir / "config.json"
    try:
        meta = json.loads(where.read_bytes() if data is None else data)
    except (OSError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{where} is unreadable ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{where} is not a gankit generator config")
    return meta


def _read_generator(where: Path) -> tuple[config_mod.Config, dict[str, torch.Tensor]]:
    """Config and tensors of a generator folder, verified against its manifest before anything is
    built from them. Parsing comes first only so that a file that is not JSON or not safetensors
    at all is named as such (neither parser runs code)."""
    raw = {name: read_file(where / name) for name in CHECKED}
    meta = read_generator_meta(where, raw["config.json"])
    try:
        tensors = safetensors.torch.load(raw["model.safetensors"])
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"{where / 'model.safetensors'} is not a valid safetensors file ({e})") from None
    version = meta.get("version")
    if (where / "manifest.json").exists():
        files = read_manifest(where, CHECKED, FORMAT, VERSION, "generator")["files"]
        for name in CHECKED:
            check_entry(where / name, raw[name], files[name])
    elif version == 1:  # exported by gankit before generator folders had a manifest: nothing to check
        print(f"warning: {where} carries no checksums (exported by an older gankit); loading it unverified; "
              f"re-export it to add them", file=sys.stderr)
    else:
        raise CheckpointError(f"{where / 'manifest.json'} is missing (the folder is incomplete: a generator of "
                              f"version {version!r} is exported with one)")
    if version not in (1, VERSION):
        raise CheckpointError(f"{where} has generator version {version!r}, this gankit reads 1 to {VERSION}")
    if not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{where / 'config.json'} holds no run config (its 'config' table is missing)")
    try:
        cfg = config_mod.from_dict(meta["config"])
    except config_mod.ConfigError as e:
        raise CheckpointError(f"{where / 'config.json'}: stored config is invalid ({e})") from None
    return cfg, tensors


def verify_generator(gen_dir: str | Path) -> None:
    """Check a generator folder as loading would (manifest, sizes, SHA-256, both files parse);
    raises CheckpointError naming the first problem. Builds no model."""
    _read_generator(Path(gen_dir))


def _classes(folder: Path) -> list[str]:
    """The class names in a generator folder's config.json ([] when it has none or is not there)."""
    try:
        classes = json.loads((folder / "config.json").read_text()).get("classes") or []
    except (OSError, ValueError, AttributeError):
        return []
    return [str(c) for c in classes] if isinstance(classes, list) else []


def _checkpoint_classes(state: dict, ckpt: Path) -> list[str]:
    """The class names of a conditional run's checkpoint: kept in its state.pt, or (checkpoints
    written before that) in the run's generator/config.json."""
    classes = state.get("classes")
    if isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes):
        return list(classes)
    return _classes(ckpt.parent.parent / "generator")


def read_generator(path: str | Path) -> tuple[config_mod.Config, dict[str, torch.Tensor], Path, str | None, list]:
    """(config, G's tensors, where they came from, a note for stderr or None, class names) of a run,
    generator or checkpoint folder, verified but not built (`load_generator` builds it)."""
    kind, where, note = _resolve(path)
    classes: list = []
    if kind == "generator":
        cfg, tensors = _read_generator(where)
        source = where / "model.safetensors"
        classes = _classes(where)
    else:
        weights, state, text = load_checkpoint(where)
        cfg = _config_from_text(text, where)
        classes = _checkpoint_classes(state, where) if cfg.model.conditional != "none" else []
        name = "G_ema" if "G_ema" in weights else "G"
        tensors, source = weights[name], where / f"{name}.safetensors"
        note = note and note.replace("{weights}", "EMA weights (G_ema)" if name == "G_ema"
                                     else "weights (G; the run keeps no EMA)")
    if cfg.model.conditional != "none" and not classes:
        raise CheckpointError(f"{where}: a conditional generator ({cfg.model.conditional}) needs its class "
                              f"names, which neither it nor the run's generator/config.json holds")
    return cfg, tensors, source, note, classes


def load_generator(path: str | Path, device: str | torch.device = "cpu"):
    """A trained `gankit.models.Generator` in eval mode, from a run, generator or checkpoint folder.

    Always the weights the run shows: a checkpoint gives its EMA generator when it has one."""
    cfg, tensors, source, note, classes = read_generator(path)
    if cfg.data.task != "none":
        raise CheckpointError(f"{path}: an image-to-image run (data.task = {cfg.data.task}) translates images "
                              f"rather than sampling them: use gankit translate, or gankit.load_translator")
    G, _ = build(cfg.model, sample_shape(cfg.data), num_classes=len(classes))
    load_state_strict(G, tensors, source)
    G.config = cfg
    G.classes = list(classes) if cfg.model.conditional != "none" else []
    if note:
        print(f"note: {note}", file=sys.stderr)
    return G.to(device).eval()


def load_discriminator(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, config_mod.Config]:
    """The discriminator of the newest complete checkpoint of a run (or of a checkpoint folder), in eval mode."""
    path = Path(path)
    where = path if (path / "manifest.json").is_file() and not _is_generator(path) else None
    if where is None:
        if not (path / "checkpoints").is_dir():
            raise CheckpointError(f"{path}: not a run or checkpoint folder (the discriminator lives in checkpoints/)")
        where = find_latest(path)[0]
    weights, state, text = load_checkpoint(where)
    cfg = _config_from_text(text, where)
    if cfg.data.task != "none":
        raise CheckpointError(f"{path}: an image-to-image run (data.task = {cfg.data.task}): its PatchGAN judges "
                              f"(input, output) pairs, not single images")
    classes = _checkpoint_classes(state, where) if cfg.model.conditional != "none" else []
    if cfg.model.conditional != "none" and not classes:
        raise CheckpointError(f"{where}: a conditional discriminator ({cfg.model.conditional}) needs its class "
                              f"names, which neither its checkpoint nor the run's generator/config.json holds")
    _, D = build(cfg.model, sample_shape(cfg.data), num_classes=len(classes))
    load_state_strict(D, weights["D"], where / "D.safetensors")
    return D.to(device).eval(), cfg
