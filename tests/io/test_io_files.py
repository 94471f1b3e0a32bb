"""swap_in: a folder replaced by two renames, so that a kill at any file operation leaves the
previous folder or the new one loadable, and a failure puts the previous one back."""

import shutil
from pathlib import Path

import pytest

from gankit.io.files import fsync_dir, swap_in, write_bytes_atomic
from reliability.kill_points import kill_each_write


def _names(parent: Path) -> tuple[Path, Path, Path]:
    return parent / "f", parent / ".f.tmp-new", parent / ".f.tmp-old"


def _replace(parent: Path, v: bytes, fail_after_one_file: bool = False) -> None:
    """The documented way to use swap_in: resolve a killed swap's leftovers, assemble, sync, clean."""
    final, tmp, old = _names(parent)
    shutil.rmtree(tmp, ignore_errors=True)
    if old.is_dir():  # a killed swap parked it: garbage if final is back, else the last good copy
        shutil.rmtree(old) if final.exists() else old.rename(final)
    with swap_in(final, tmp, old):
        tmp.mkdir()
        write_bytes_atomic(tmp / "a", v)
        if fail_after_one_file:
            raise OSError(28, "No space left on device")
        write_bytes_atomic(tmp / "b", v)
    fsync_dir(parent)
    shutil.rmtree(old, ignore_errors=True)


def _read(parent: Path) -> bytes:
    """What a reader loads: final, else the copy parked between the renames; never a mix."""
    final, _, old = _names(parent)
    where = final if final.exists() else old
    a, b = (where / "a").read_bytes(), (where / "b").read_bytes()
    assert a == b, (where, a, b)
    return a


def _hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_a_kill_at_any_file_operation_leaves_the_old_or_the_new_folder(tmp_path):
    pristine = tmp_path / "pristine"
    pristine.mkdir()
    _replace(pristine, b"1")
    codes = kill_each_write(pristine, tmp_path, lambda run: _replace(run, b"2"), limit=100)
    assert codes[-1] == 0 and set(codes[:-1]) == {9} and len(codes) > 8, codes
    outcomes, parked = set(), 0
    for i in range(len(codes)):
        run = tmp_path / f"kill{i:03d}"
        outcomes.add(_read(run))
        parked += not (run / "f").exists()  # killed between the renames: the previous copy parked
        _replace(run, b"3")  # the next swap resolves whatever the kill left
        assert _read(run) == b"3" and _hidden(run) == [], (i, _hidden(run))
    assert outcomes == {b"1", b"2"} and parked == 1


def test_a_failure_in_the_block_keeps_the_previous_folder_and_leaves_no_temporary(tmp_path):
    _replace(tmp_path, b"1")
    with pytest.raises(OSError, match="No space left") as caught:
        _replace(tmp_path, b"2", fail_after_one_file=True)
    assert type(caught.value) is OSError  # propagated unchanged: the caller names it
    assert _read(tmp_path) == b"1" and _hidden(tmp_path) == []


def test_a_failed_second_rename_puts_the_previous_folder_back(tmp_path, monkeypatch):
    _replace(tmp_path, b"1")
    real_rename = Path.rename

    def second_rename_fails(self, target):
        if self.name == ".f.tmp-new":
            raise KeyboardInterrupt  # e.g. Ctrl-C after the previous copy was parked
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", second_rename_fails)
    with pytest.raises(KeyboardInterrupt):
        _replace(tmp_path, b"2")
    monkeypatch.undo()
    assert (tmp_path / "f").is_dir() and _read(tmp_path) == b"1" and _hidden(tmp_path) == []


def test_a_copy_parked_by_an_earlier_killed_swap_goes_back_when_the_next_one_fails(tmp_path):
    _replace(tmp_path, b"1")
    final, tmp, old = _names(tmp_path)
    final.rename(old)  # killed between the renames
    tmp.mkdir()        # and its half-built folder left
    with pytest.raises(RuntimeError, match="boom"):
        with swap_in(final, tmp, old):  # no leftover handling first: swap_in's own rollback
            raise RuntimeError("boom")
    assert final.is_dir() and _read(tmp_path) == b"1" and _hidden(tmp_path) == []
