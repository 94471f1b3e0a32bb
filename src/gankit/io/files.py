"""Crash-safe file writing and content hashing.

A reader must never see half a file: every write goes to a temporary file in
the same folder (so the final rename stays on one filesystem and is atomic),
is flushed and fsynced, then renamed over the target, and the folder itself is
fsynced so the rename survives a power cut.
"""

from __future__ import annotations

import hashlib
import os
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


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
