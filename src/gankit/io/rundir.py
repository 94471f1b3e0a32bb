"""Run folders: what counts as a gankit run, one writer at a time, and replacing a run safely.

A run folder may share its parent, or even itself, with a user's own files, so gankit
deletes only the entries it writes (`RUN_ENTRIES`, TensorBoard event files, its
atomic-write leftovers) and refuses a non-empty folder that is not a run at all.

One writer at a time: a training or resume holds an exclusive `fcntl.flock` on
`LOCK_NAME` inside the folder, the file holding the holder's PID. The kernel drops
the lock when the holder exits or is killed, so a lock file left by a dead process
is taken over without any PID check (which could be fooled by PID reuse).
The lock file also marks the folder as a gankit run.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

from gankit.config import ConfigError
from gankit.io.checkpoint import CheckpointError, complete_checkpoints

LOCK_NAME = ".gankit.lock"
RUN_ENTRIES = ("config.toml", "metrics.jsonl", "samples", "checkpoints", "generator", "generator-best",
               "report.html", LOCK_NAME, "copying.png")
"""Every file or folder training (and `gankit report`, and `gankit evaluate`'s copying picture) writes
at the top of a run folder."""
_EVENTS = "events.out.tfevents."  # TensorBoard's file name prefix


class RunDirError(ConfigError):
    """`out` cannot be used as asked (foreign files, a run in the way, another writer)."""


def _is_run_entry(name: str) -> bool:
    if name in RUN_ENTRIES or name.startswith(_EVENTS):
        return True
    # write_bytes_atomic's temporary ".<name>.tmp-<pid>" of a killed write
    return name.startswith(".") and ".tmp-" in name and name[1:].split(".tmp-")[0] in RUN_ENTRIES


def run_entries(run_dir: Path) -> tuple[list[Path], list[Path]]:
    """(gankit's own entries, everything else) at the top of `run_dir`."""
    entries = sorted(run_dir.iterdir()) if run_dir.is_dir() else []
    return [p for p in entries if _is_run_entry(p.name)], [p for p in entries if not _is_run_entry(p.name)]


def is_run(run_dir: Path) -> bool:
    """Whether gankit wrote this folder: its lock file, or (runs from before the lock) a checkpoint
    or an exported generator. A config.toml alone proves nothing: it may be the user's own."""
    return (run_dir / LOCK_NAME).is_file() or bool(complete_checkpoints(run_dir)) or has_generator(run_dir)


def has_generator(run_dir: Path) -> bool:
    return any((run_dir / f / "model.safetensors").is_file() for f in ("generator", "generator-best"))


def worth_keeping(run_dir: Path) -> bool:
    """A run that saved a checkpoint or a generator: replacing it needs --overwrite. A run that
    never got that far (a failed start, a kill or divergence before the first checkpoint) holds
    nothing a rerun would not recreate."""
    return bool(complete_checkpoints(run_dir)) or has_generator(run_dir)


def _describe(paths: list[Path]) -> str:
    names = [p.name + ("/" if p.is_dir() else "") for p in paths]
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


class RunLock:
    """An exclusive lock on a run folder for the lifetime of one training or resume.

    `acquire` creates the folder if needed and raises RunDirError naming the holder's PID when
    another process holds it. `release` unlocks; when nothing but the lock file was written
    (a start that failed early), it also removes the lock file and a folder it created, so a
    failed start leaves no trace."""

    def __init__(self, run_dir: Path):
        self.run_dir, self.path, self._fd = Path(run_dir), Path(run_dir) / LOCK_NAME, None
        self._created: list[Path] = []

    def acquire(self) -> "RunLock":
        # The folders this start creates, deepest first (runs/new/ and a new runs/ above it), so a
        # failed start removes them all again.
        self._created = []
        folder = self.run_dir.absolute()
        while not folder.exists():
            self._created.append(folder)
            folder = folder.parent
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunDirError(f"out: cannot create {self.run_dir} ({e.strerror or e})") from None
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise RunDirError(f"out: cannot create the lock file {self.path} ({e.strerror or e})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise RunDirError(f"out: {self.run_dir} is in use by another gankit training (PID {holder}); "
                                  f"wait for it to end or stop it (kill {holder}), then run this again") from None
            # A releasing holder may have unlinked the file after we opened it: lock the file on disk.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            if [p.name for p in self.run_dir.iterdir()] == [LOCK_NAME]:  # unlink while still holding it
                self.path.unlink()
                for folder in self._created:  # each only if still empty (rmdir refuses otherwise)
                    folder.rmdir()
        except OSError:
            pass
        os.close(self._fd)  # closing the descriptor drops the flock
        self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def check_usable(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse, before anything is created or locked, a folder training must not write to:
    one holding files that are not a gankit run (whatever the flags: gankit deletes only its own),
    or, to resume, one that is not a run at all."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"out: {run_dir} is a file, not a folder; choose another --out")
    if not run_dir.is_dir() or is_run(run_dir):
        return
    if resume:  # refused here, before the lock would leave its file among the user's
        raise CheckpointError(f"{run_dir}: nothing to resume (it holds no gankit run)")
    _, others = run_entries(run_dir)
    if others:
        raise RunDirError(f"out: {run_dir} is not empty and is not a gankit run (it holds {_describe(others)}); "
                          f"gankit never deletes files it did not write: choose another --out, or move "
                          f"those files away")


def plan_start(run_dir: Path, overwrite: bool) -> list[Path]:
    """For a new run (called with the lock held): the old run entries to delete before writing,
    or RunDirError when they hold a run worth keeping and `overwrite` is off."""
    check_usable(run_dir, resume=False, overwrite=overwrite)
    ours, _ = run_entries(run_dir)
    ours = [p for p in ours if p.name != LOCK_NAME]
    if ours and worth_keeping(run_dir) and not overwrite:
        resumable = bool(complete_checkpoints(run_dir))
        raise RunDirError(f"out: {run_dir} already holds a run; "
                          + (f"use --resume {run_dir} to continue it or --overwrite to replace it" if resumable
                             else "it has no checkpoint to resume from; use --overwrite to replace it "
                                  "(its generator/ would be deleted) or choose another --out"))
    return ours


def remove_entries(run_dir: Path, entries: list[Path]) -> str:
    """Delete gankit's own entries of an old run (never the lock, never anything else);
    returns a one-line account of what went and what stayed."""
    removed = _describe(entries)
    for path in entries:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    _, others = run_entries(run_dir)
    return f"removed {removed}" + (f"; kept {_describe(others)} (not gankit's)" if others else "")
