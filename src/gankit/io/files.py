"""Crash-safe file writing, folder swapping and content hashing.

A reader must never see half a file: every write goes to a temporary file in
the same folder (so the final rename stays on one filesystem and is atomic),
is flushed and fsynced, then renamed over the target, and the folder itself is
fsynced so the rename survives a power cut. A folder of such files (a checkpoint,
an exported generator) is assembled beside its target and swapped in by
`swap_in`, so a reader never sees a mix of two versions either.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from contextlib import contextmanager
from pathlib import Path


class FileError(OSError):
    """An I/O problem worth one clear line to the user (it names the path)."""


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(path: str | Path, data: bytes, fsync: bool = True) -> None:
    """Write `data` to `path` so that `path` holds either the old or the new content, never a mix.
    fsync=False skips the two fsyncs (file and folder): still never half a file for a reader, but
    not durable across a power cut; for many files whose own manifest is written durably last.

    On any failure (a full disk, a permission problem, an interrupt) the temporary
    file is removed and `path` is left as it was; OS errors become FileError naming `path`.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if fsync:
            fsync_dir(path.parent)
    except BaseException as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        if isinstance(e, OSError) and not isinstance(e, FileError):
            raise FileError(f"could not write {path}: {e.strerror or e}") from e
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode())


@contextmanager
def swap_in(final: Path, tmp: Path, old: Path):
    """Replace the folder `final` by `tmp`, which the with-block assembles, so that a kill at any
    moment leaves the previous folder, the new one, or the previous one parked as `old`::

        with swap_in(final, tmp, old):
            tmp.mkdir()
            ...                        # every file written into tmp atomically (write_bytes_atomic)
        fsync_dir(final.parent)        # the swap is durable: only now may old go
        shutil.rmtree(old, ignore_errors=True)

    All three are paths in one folder (renames are atomic only within a filesystem); `tmp` and
    `old` are hidden names the caller never loads, except that a reader falls back on `old` when
    `final` is missing: that is the state between the two renames. When the block finishes, an
    existing `final` is renamed to `old` (a folder cannot be renamed over a non-empty one, hence
    two renames), then `tmp` to `final`; `old` must not exist then (the caller resolves what an
    earlier killed swap left first, by its own rule). The caller syncs the parent and removes
    `old` itself, after the block: what else is garbage once the new folder is durable differs
    (one parked copy for an export; every stale copy and pruned checkpoint for a save).

    On any exception in the block or in the renames (an OS error, a KeyboardInterrupt), a parked
    `old` goes back in place if `final` is missing (also one an earlier killed swap left), `tmp`
    is removed, and the exception propagates unchanged for the caller to name.
    """
    try:
        yield
        if final.exists():
            final.rename(old)
        tmp.rename(final)
    except BaseException:
        if old.is_dir() and not final.exists():
            try:
                old.rename(final)
            except OSError:
                pass  # the original error is the one to report; a reader still falls back on old
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
