"""The shareable generator folder, and loading trained models from any run artefact.

``runs/<name>/generator/`` holds::

    config.json         the run's resolved config, the output shape, class names, images seen
    model.safetensors   generator weights and buffers
    README.md           what it was trained on, for how long, and how to sample it

`load_generator` and `load_discriminator` accept a run folder, a generator
folder or a checkpoint folder, rebuild the architecture from the stored config
and load weights strictly: any missing, unexpected or differently shaped
tensor is reported, and nothing is loaded partially.
"""

from __future__ import annotations

import json
from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from gankit import config as config_mod
from gankit.data import sample_shape
from gankit.io.checkpoint import CheckpointError, find_latest, load_checkpoint
from gankit.io.files import write_bytes_atomic, write_text_atomic
from gankit.models import build

FORMAT = "gankit-generator"
VERSION = 1


def export_generator(G: nn.Module, cfg: config_mod.Config, run_dir: str | Path, info: dict,
                     folder: str = "generator") -> Path:
    """Write `run_dir/<folder>/` from a generator module; `info` is merged into config.json
    (e.g. images_seen, classes, dataset source). Training also writes `generator-best/`."""
    out = Path(run_dir) / folder
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in G.state_dict().items()}
    write_bytes_atomic(out / "model.safetensors", safetensors.torch.save(tensors))
    meta = {"format": FORMAT, "version": VERSION, "shape": list(G.out_shape), "z_dim": G.z_dim,
            "config": cfg.to_dict(), **info}
    write_text_atomic(out / "config.json", json.dumps(meta, indent=2))
    write_text_atomic(out / "README.md", _readme(cfg, G, info))
    return out


def _readme(cfg: config_mod.Config, G: nn.Module, info: dict) -> str:
    shape = "x".join(str(s) for s in G.out_shape)
    params = sum(p.numel() for p in G.parameters())
    return f"""# gankit generator

- data: `{cfg.data.name}` ({info.get('source', '')}), samples of shape {shape}
- architecture: `{cfg.model.arch}`, z_dim {G.z_dim}, width {cfg.model.width}, {params:,} parameters
- loss: `{cfg.loss.name}`; trained on {info.get('images_seen', 0):,} real images
  ({info.get('epochs', 0):.2f} epochs, {info.get('train_seconds', 0) / 60:.1f} minutes)

Files: `model.safetensors` (weights, safetensors format) and `config.json` (the run's config).

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


def _resolve(path: str | Path) -> tuple[str, Path]:
    """Classify a path as ('generator', dir) or ('checkpoint', dir)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such run, generator or checkpoint folder")
    if path.is_file():
        raise CheckpointError(f"{path}: expected a run, generator or checkpoint folder, got a file")
    if (path / "model.safetensors").is_file() and (path / "config.json").is_file():
        return "generator", path
    if (path / "manifest.json").is_file():
        return "checkpoint", path
    if (path / "generator" / "model.safetensors").is_file():
        return "generator", path / "generator"
    if (path / "checkpoints").is_dir():
        return "checkpoint", find_latest(path)[0]
    raise CheckpointError(f"{path}: not a gankit run, generator or checkpoint folder")


def read_generator_meta(gen_dir: Path) -> dict:
    try:
        meta = json.loads((gen_dir / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{gen_dir / 'config.json'} is unreadable ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{gen_dir / 'config.json'} is not a gankit generator config")
    return meta


def load_generator(path: str | Path, device: str | torch.device = "cpu"):
    """A trained `gankit.models.Generator` in eval mode, from a run, generator or checkpoint folder."""
    kind, where = _resolve(path)
    if kind == "generator":
        meta = read_generator_meta(where)
        cfg = config_mod.from_dict(meta["config"])
        try:
            tensors = safetensors.torch.load((where / "model.safetensors").read_bytes())
        except Exception as e:
            raise CheckpointError(f"{where / 'model.safetensors'} is not a valid safetensors file ({e})") from None
        source = where / "model.safetensors"
    else:
        weights, _, text = load_checkpoint(where)
        cfg = _config_from_text(text, where)
        tensors, source = weights["G"], where / "G.safetensors"
    G, _ = build(cfg.model, sample_shape(cfg.data))
    load_state_strict(G, tensors, source)
    G.config = cfg
    return G.to(device).eval()


def load_discriminator(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, config_mod.Config]:
    """The discriminator of the newest complete checkpoint of a run (or of a checkpoint folder), in eval mode."""
    path = Path(path)
    where = path if (path / "manifest.json").is_file() else None
    if where is None:
        if not (path / "checkpoints").is_dir():
            raise CheckpointError(f"{path}: not a run or checkpoint folder (the discriminator lives in checkpoints/)")
        where = find_latest(path)[0]
    weights, _, text = load_checkpoint(where)
    cfg = _config_from_text(text, where)
    _, D = build(cfg.model, sample_shape(cfg.data))
    load_state_strict(D, weights["D"], where / "D.safetensors")
    return D.to(device).eval(), cfg
