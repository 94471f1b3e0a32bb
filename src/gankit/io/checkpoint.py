"""Training checkpoints: written atomically, verified on load, never executing code.

Layout of one checkpoint (a folder under ``runs/<name>/checkpoints/``)::

    step_000001200/
      G.safetensors, D.safetensors   model weights and buffers (safetensors: no code on load)
      state.pt                       optimizers, counters, RNG states (loaded with weights_only=True)
      config.toml                    the resolved config of the run
      manifest.json                  size and SHA-256 of every file above
      COMPLETE                       written last: a folder without it is never loaded

A checkpoint is assembled in a hidden ``.tmp-step_N`` folder and renamed into
place only when complete, so a crash at any moment leaves either the previous
set of checkpoints or the previous set plus a complete new one. Old
checkpoints are pruned only after the new one is in place.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import safetensors.torch
import torch

from gankit.io.files import FileError, fsync_dir, write_bytes_atomic

FORMAT = "gankit-checkpoint"
VERSION = 1
MARKER = "COMPLETE"
_NAME = re.compile(r"^step_(\d+)$")


class CheckpointError(Exception):
    """A checkpoint is missing, incomplete, damaged or foreign (the message names the file)."""


def _checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def _write(path: Path, data: bytes) -> dict:
    write_bytes_atomic(path, data)
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def save_checkpoint(run_dir: str | Path, step: int, weights: dict[str, dict[str, torch.Tensor]],
                    state: dict, config_text: str, keep: int = 2) -> Path:
    """Write checkpoint `step` of a run and prune all but the newest `keep` complete ones.

    weights: name -> state_dict of tensors (e.g. {"G": ..., "D": ...}), saved as NAME.safetensors.
    state:   anything `torch.load(weights_only=True)` can read back (tensors, numbers, strings,
             lists, tuples, dicts), e.g. optimizer state_dicts, counters and RNG states.
    Returns the folder of the new checkpoint.
    """
    root = _checkpoint_dir(Path(run_dir))
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:09d}"
    tmp = root / f".tmp-{final.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        files = {}
        for name, sd in weights.items():
            tensors = {k: v.detach().cpu().contiguous() for k, v in sd.items()}
            files[f"{name}.safetensors"] = _write(tmp / f"{name}.safetensors", safetensors.torch.save(tensors))
        buf = io.BytesIO()
        torch.save(state, buf)
        files["state.pt"] = _write(tmp / "state.pt", buf.getvalue())
        files["config.toml"] = _write(tmp / "config.toml", config_text.encode())
        manifest = {"format": FORMAT, "version": VERSION, "step": step, "files": files}
        write_bytes_atomic(tmp / "manifest.json", json.dumps(manifest, indent=1).encode())
        write_bytes_atomic(tmp / MARKER, b"")
        if final.exists():  # re-saving the same step (e.g. after a rollback): swap, old one last
            old = root / f".old-{final.name}"
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
        fsync_dir(root)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        msg = str(e) if isinstance(e, FileError) else f"{tmp}: {e.strerror or e}"
        raise CheckpointError(f"could not write checkpoint {final}: {msg}") from e
    for old in complete_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _step(path: Path) -> int:
    m = _NAME.match(path.name)
    return int(m.group(1)) if m else -1


def complete_checkpoints(run_dir: str | Path) -> list[Path]:
    """Checkpoint folders of a run that carry the completion marker, oldest first."""
    root = _checkpoint_dir(Path(run_dir))
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if _step(p) >= 0 and (p / MARKER).is_file()]
    return sorted(found, key=_step)


def find_latest(run_dir: str | Path) -> tuple[Path, list[tuple[Path, str]]]:
    """The newest checkpoint that verifies, and the newer ones skipped with the reason why.

    Raises CheckpointError when the run has no usable checkpoint at all.
    """
    root = _checkpoint_dir(Path(run_dir))
    candidates = sorted((p for p in root.iterdir() if _step(p) >= 0), key=_step, reverse=True) \
        if root.is_dir() else []
    skipped = []
    for path in candidates:
        try:
            verify(path)
            return path, skipped
        except CheckpointError as e:
            skipped.append((path, str(e)))
    reasons = "; ".join(f"{p.name}: {r}" for p, r in skipped)
    raise CheckpointError(f"no complete checkpoint in {root}" + (f" (skipped {reasons})" if reasons else ""))


def _manifest(path: Path) -> dict:
    if not (path / MARKER).is_file():
        raise CheckpointError(f"{path} is incomplete (no {MARKER} marker; the save was interrupted)")
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path / 'manifest.json'} is unreadable: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gankit checkpoint (bad manifest)")
    if manifest.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {manifest.get('version')}, this gankit reads {VERSION}")
    return manifest


def _read_verified(path: Path, name: str, entry: dict) -> bytes:
    file = path / name
    try:
        data = file.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{file} is missing or unreadable ({e.strerror or e})") from None
    if len(data) != entry.get("size") or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise CheckpointError(f"{file} is damaged (size or SHA-256 does not match the manifest)")
    return data


def verify(path: str | Path) -> None:
    """Check marker, manifest and every file's size and SHA-256; raise CheckpointError naming the bad file."""
    path = Path(path)
    manifest = _manifest(path)
    for name, entry in manifest["files"].items():
        _read_verified(path, name, entry)


def load_checkpoint(path: str | Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict, str]:
    """Read a verified checkpoint: (weights by name, state dict, config text).

    Weights come from safetensors and the state through torch.load(weights_only=True),
    so a crafted file cannot run code; a file that needs more than plain data is refused.
    """
    path = Path(path)
    manifest = _manifest(path)
    weights, state, config_text = {}, None, None
    for name, entry in manifest["files"].items():
        data = _read_verified(path, name, entry)
        if name.endswith(".safetensors"):
            try:
                weights[name[: -len(".safetensors")]] = safetensors.torch.load(data)
            except Exception as e:  # safetensors raises its own error types
                raise CheckpointError(f"{path / name} is not a valid safetensors file ({e})") from None
        elif name == "state.pt":
            state = load_state_bytes(data, path / name)
        elif name == "config.toml":
            config_text = data.decode()
    if state is None or config_text is None:
        raise CheckpointError(f"{path} lacks state.pt or config.toml")
    return weights, state, config_text


def load_state_bytes(data: bytes, where: Path | str) -> dict:
    """torch.load with weights_only=True: plain containers and tensors only, never code."""
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{where} was refused: it holds more than plain data or is damaged "
                              f"({type(e).__name__})") from None
