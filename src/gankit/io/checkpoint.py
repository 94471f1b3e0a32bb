"""Training checkpoints: written atomically, verified on load, never executing code.

Layout of one checkpoint (a folder under ``runs/<name>/checkpoints/``)::

    step_000001200/
      G.safetensors, D.safetensors   model weights and buffers (safetensors: no code on load)
      state.pt                       optimizers, counters, RNG states (loaded with weights_only=True)
      config.toml                    the resolved config of the run
      manifest.json                  size and SHA-256 of every file above
      COMPLETE                       written last: a folder without it is never loaded

A checkpoint is assembled in a hidden ``.tmp-step_N`` folder and renamed into
place only when complete (io/files.swap_in), so a crash at any moment leaves
either the previous set of checkpoints or the previous set plus a complete new one. Re-saving a step
swaps folders in two renames, the old copy parked as ``.old-step_N`` (which
`find_latest` falls back on if a crash lands in between). Old checkpoints are
pruned only after the new one is in place, renamed to ``.del-step_N`` before
they are removed so that none is ever seen half deleted; a damaged checkpoint
never counts towards the number kept. Hidden leftovers of a killed save are
never loaded and are removed by the next save. A test kills a save at every
file operation (tests/reliability/test_rel_integrity.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import warnings
from pathlib import Path

import safetensors.torch
import torch

from gankit.io.files import FileError, fsync_dir, swap_in, write_bytes_atomic

FORMAT = "gankit-checkpoint"
VERSION = 1
MARKER = "COMPLETE"
_NAME = re.compile(r"^step_(\d+)$")
_FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # a plain file name inside the folder, nothing else
REQUIRED = ("G.safetensors", "D.safetensors", "state.pt", "config.toml")


class CheckpointError(Exception):
    """A checkpoint is missing, incomplete, damaged or foreign (the message names the file)."""


def _checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def write_entry(path: Path, data: bytes) -> dict:
    """Write `data` atomically and return its manifest entry (size and SHA-256). Shared with
    io/generator.py, whose folders carry the same kind of manifest."""
    write_bytes_atomic(path, data)
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


# Hidden folders a save leaves behind only when it is killed: a checkpoint being
# assembled (.tmp-), the previous copy of a step being re-saved (.old-) and an
# old checkpoint being pruned (.del-). None of them is ever loaded, except that a
# .old- copy stands in for its step when the swap was cut between its two renames.
_TMP, _OLD, _DEL = ".tmp-", ".old-", ".del-"


def _remove(path: Path) -> None:
    """Delete a checkpoint folder so that no reader ever sees it half deleted:
    first renamed out of sight (atomic), then removed."""
    trash = path.with_name(f"{_DEL}{path.name}")
    shutil.rmtree(trash, ignore_errors=True)
    try:
        path.rename(trash)
    except OSError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def save_checkpoint(run_dir: str | Path, step: int, weights: dict[str, dict[str, torch.Tensor]],
                    state: dict, config_text: str, keep: int = 2) -> Path:
    """Write checkpoint `step` of a run, then keep it and the newest `keep` - 1 intact older ones.

    weights: name -> state_dict of tensors (e.g. {"G": ..., "D": ...}), saved as NAME.safetensors.
    state:   anything `torch.load(weights_only=True)` can read back (tensors, numbers, strings,
             lists, tuples, dicts), e.g. optimizer state_dicts, counters and RNG states.
    Returns the folder of the new checkpoint.

    Crash safety: the checkpoint is assembled in a hidden folder (every file
    written to a temporary name, fsynced and renamed; the COMPLETE marker last)
    and renamed into place in one step. Leftovers of an earlier killed save are
    removed here: stale assembly folders before writing, stale copies after the
    new checkpoint is in place. Older checkpoints are pruned only after that.
    On failure (e.g. a full disk) nothing new is left behind, the previous
    checkpoints are untouched, and CheckpointError names the path.
    """
    if keep < 1:
        raise ValueError(f"keep: must be >= 1, got {keep}")
    root = _checkpoint_dir(Path(run_dir))
    final = root / f"step_{step:09d}"
    tmp = root / f"{_TMP}{final.name}"
    old = root / f"{_OLD}{final.name}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(f"{_TMP}*"):  # a killed save's half-built folder: never loadable, garbage
            shutil.rmtree(stale, ignore_errors=True)
    except OSError as e:
        raise CheckpointError(f"could not write checkpoint {final}: {root}: {e.strerror or e}") from e
    try:
        # Re-saving a step (e.g. the final save right after a periodic one) parks the previous
        # copy as .old- between swap_in's two renames; find_latest falls back on it meanwhile.
        with swap_in(final, tmp, old):  # on any failure: the previous copy back, no tmp left
            tmp.mkdir()
            files = {}
            for name, sd in weights.items():
                tensors = {k: v.detach().cpu().contiguous() for k, v in sd.items()}
                files[f"{name}.safetensors"] = write_entry(tmp / f"{name}.safetensors",
                                                           safetensors.torch.save(tensors))
            buf = io.BytesIO()
            torch.save(state, buf)
            files["state.pt"] = write_entry(tmp / "state.pt", buf.getvalue())
            files["config.toml"] = write_entry(tmp / "config.toml", config_text.encode())
            manifest = {"format": FORMAT, "version": VERSION, "step": step, "files": files}
            write_bytes_atomic(tmp / "manifest.json", json.dumps(manifest, indent=1).encode())
            write_bytes_atomic(tmp / MARKER, b"")
            if final.exists() and old.exists():
                # An earlier killed save left both: a complete final supersedes the stale .old-
                # copy (and is parked in its place); an incomplete final is a leftover, and the
                # .old- copy stays parked as the last good one.
                shutil.rmtree(old if (final / MARKER).is_file() else final)
        fsync_dir(root)
    except OSError as e:
        msg = str(e) if isinstance(e, FileError) else f"{getattr(e, 'filename', None) or tmp}: {e.strerror or e}"
        raise CheckpointError(f"could not write checkpoint {final}: {msg}") from e
    # The new checkpoint is complete and durable: only now may anything old go.
    for stale in [*root.glob(f"{_OLD}*"), *root.glob(f"{_DEL}*")]:
        shutil.rmtree(stale, ignore_errors=True)
    _prune(run_dir, step, keep)
    return final


def _looks_intact(path: Path) -> bool:
    """Marker, manifest and file sizes (no hashing): cheap enough to run at every save."""
    try:
        files = _manifest(path)["files"]
        return all((path / name).stat().st_size == e["size"] for name, e in files.items())
    except (CheckpointError, OSError):
        return False


def _prune(run_dir: Path, step: int, keep: int) -> None:
    """Keep the checkpoint of `step` and the newest keep-1 older ones that look intact; delete
    older ones. A damaged checkpoint never counts towards `keep` (it cannot be resumed from),
    and checkpoints of later steps (skipped as damaged when the run was resumed from an earlier
    one) are left alone: pruning by step number alone would delete the new checkpoint itself."""
    older = [p for p in complete_checkpoints(run_dir) if _step(p) < step]
    kept = 0
    for path in reversed(older):
        if kept < keep - 1:
            kept += _looks_intact(path)
        else:
            _remove(path)


def _step(path: Path) -> int:
    m = _NAME.match(path.name)
    return int(m.group(1)) if m else -1


def _old_step(path: Path) -> int:
    """The step of a `.old-step_N` copy left by a re-save cut between its renames, else -1."""
    return _step(path.with_name(path.name[len(_OLD):])) if path.name.startswith(_OLD) else -1


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
    entries = list(root.iterdir()) if root.is_dir() else []
    # Newest step first; for one step, the checkpoint itself before a .old- copy of it.
    ranked = [(_step(p), 1, p) for p in entries if _step(p) >= 0] + \
             [(_old_step(p), 0, p) for p in entries if _old_step(p) >= 0]
    candidates = [p for _, _, p in sorted(ranked, key=lambda r: (r[0], r[1]), reverse=True)]
    skipped = []
    for path in candidates:
        try:
            verify(path)
            return path, skipped
        except CheckpointError as e:
            skipped.append((path, str(e)))
    reasons = "; ".join(f"{p.name}: {r}" for p, r in skipped)
    raise CheckpointError(f"no complete checkpoint in {root}" + (f" (skipped {reasons})" if reasons else ""))


def _manifest(path: Path, required: tuple[str, ...] = REQUIRED) -> dict:
    """The parsed manifest of a complete checkpoint, its structure checked (a damaged or
    forged manifest is a CheckpointError, never a KeyError later)."""
    if not (path / MARKER).is_file():
        raise CheckpointError(f"{path} is incomplete (no {MARKER} marker; the save was interrupted)")
    return read_manifest(path, required, FORMAT, VERSION, "checkpoint")


def read_manifest(path: Path, required: tuple[str, ...], fmt: str, version: int, kind: str) -> dict:
    """The parsed `path/manifest.json` of a folder in format `fmt` (a checkpoint, or an exported
    generator: see io/generator.py), its structure checked and listing every `required` file."""
    where = path / "manifest.json"
    try:
        manifest = json.loads(where.read_bytes())
    except (OSError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{where} is unreadable: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != fmt:
        raise CheckpointError(f"{path} is not a gankit {kind} (bad manifest {where})")
    if manifest.get("version") != version:
        raise CheckpointError(f"{path} has {kind} version {manifest.get('version')!r}, this gankit reads {version}")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
            isinstance(name, str) and _FILE.match(name) and name not in (MARKER, "manifest.json")
            and isinstance(e, dict) and type(e.get("size")) is int and isinstance(e.get("sha256"), str)
            for name, e in files.items()):
        raise CheckpointError(f"{where} is malformed (its file list is not name -> size and SHA-256)")
    lacking = [name for name in required if name not in files]
    if lacking:
        raise CheckpointError(f"{path} lacks {', '.join(lacking)} (not in its manifest)")
    return manifest


def read_file(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{file} is missing or unreadable ({e.strerror or e})") from None


def check_entry(file: Path, data: bytes, entry: dict) -> None:
    """Refuse `data` read from `file` unless it has the size and SHA-256 its manifest entry records."""
    if len(data) != entry.get("size") or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise CheckpointError(f"{file} is damaged (size or SHA-256 does not match the manifest)")


def _read_verified(path: Path, name: str, entry: dict) -> bytes:
    data = read_file(path / name)
    check_entry(path / name, data, entry)
    return data


def verify(path: str | Path, required: tuple[str, ...] = REQUIRED) -> None:
    """Check marker, manifest (listing every `required` file) and every file's size and SHA-256;
    raise CheckpointError naming the bad file."""
    path = Path(path)
    manifest = _manifest(path, required)
    for name, entry in manifest["files"].items():
        _read_verified(path, name, entry)


def load_checkpoint(path: str | Path, required: tuple[str, ...] = REQUIRED
                    ) -> tuple[dict[str, dict[str, torch.Tensor]], dict, str]:
    """Read a verified checkpoint: (weights by name, state dict, config text).

    Weights come from safetensors and the state through torch.load(weights_only=True),
    so a crafted file cannot run code; a file that needs more than plain data is refused.
    Every file is checked against the manifest's size and SHA-256 as it is read.
    """
    path = Path(path)
    manifest = _manifest(path, tuple(required) + ("state.pt", "config.toml"))
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
            try:
                config_text = data.decode()
            except UnicodeDecodeError:
                raise CheckpointError(f"{path / name} is not UTF-8 text") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path / 'state.pt'} does not hold a training state (a dict)")
    return weights, state, config_text


def load_state_bytes(data: bytes, where: Path | str) -> dict:
    """torch.load with weights_only=True: plain containers and tensors only, never code."""
    try:
        with warnings.catch_warnings():  # torch warns about a refused file's pickle protocol: noise here
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{where} was refused: it holds more than plain data or is damaged "
                              f"({type(e).__name__})") from None


def load_torch_file(path: str | Path):
    """Read any torch-saved file (e.g. third-party weights) with weights_only=True: the way for
    modules outside gankit.io to load one. Raises CheckpointError naming the file when it is
    missing, damaged or holds more than plain data (tensors, numbers, strings, containers)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{path} is missing or unreadable ({e.strerror or e})") from None
    return load_state_bytes(data, path)
