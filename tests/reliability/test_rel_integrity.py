"""Checkpoint integrity (issue 5): atomic saves that survive a kill at every file operation,
truncation and flipped bytes caught by the manifest, keep-last-N pruning only after the new
checkpoint is complete, and a full disk that leaves the previous checkpoint intact."""

from __future__ import annotations

import builtins
import errno
import json
import os
import random
import shutil
from pathlib import Path

import pytest
import torch

from gankit import config as C
from gankit.io import checkpoint as ck
from gankit.io import files as files_mod
from gankit.io.checkpoint import CheckpointError


def _weights(v: float) -> dict:
    return {"G": {"w": torch.full((8, 4), v), "b": torch.arange(5.0) + v},
            "D": {"w": torch.full((3,), -v), "n": torch.tensor(int(v))}}


def _state(v: float) -> dict:
    return {"counters": {"step": int(v), "images": int(v) * 16},
            "rng": {"torch": torch.arange(7, dtype=torch.uint8) + int(v)},
            "note": f"state {v}"}


def _save(run, step, v, keep=2):
    return ck.save_checkpoint(run, step, _weights(v), _state(v), f"v = {v}\n", keep=keep)


def _content(path: Path) -> float:
    """Which of the _weights/_state/config versions a checkpoint holds, checking it is exactly that one."""
    weights, state, text = ck.load_checkpoint(path)
    v = float(text.split("=")[1])
    assert all(torch.equal(weights[n][k], _weights(v)[n][k]) for n in ("G", "D") for k in weights[n])
    assert weights.keys() == {"G", "D"} and state["note"] == f"state {v}"
    assert torch.equal(state["rng"]["torch"], _state(v)["rng"]["torch"])
    return v


def _hidden(run) -> list[str]:
    return sorted(p.name for p in (Path(run) / "checkpoints").iterdir() if p.name.startswith("."))


# ---------------------------------------------------------------------------
# kill at every file operation of a save

@pytest.fixture(scope="module")
def killed_saves(background):
    """The kill-every-operation process (conftest.KILL_SAVES, started in the background when the
    session began); returns {scenario: (folder, exit codes)}."""
    code, out, err, base = background("kill-saves")
    assert code == 0, err
    return {scenario: (base / scenario, codes) for scenario, codes in json.loads(out).items()}


@pytest.mark.parametrize("scenario", ["new", "resave"])
def test_a_kill_at_any_file_operation_leaves_a_loadable_run(killed_saves, scenario):
    tmp_path, codes = killed_saves[scenario]
    assert codes[-1] == 0 and set(codes[:-1]) == {9}, codes  # every kill point, then one clean save
    assert len(codes) > 15  # mkdirs, temp files, renames, marker, swap, prune: many operations
    new_step = 3 if scenario == "new" else 2
    outcomes = set()
    for i in range(len(codes)):
        run = tmp_path / f"kill{i:03d}"
        path, _ = ck.find_latest(run)  # never a crash, never a half-written checkpoint
        v = _content(path)              # bitwise the old checkpoint or the new one
        allowed = {2.0: {"step_000000002", ".old-step_000000002"}, 3.0: {f"step_00000000{new_step}"}}
        assert path.name in allowed[v], (i, path)
        outcomes.add(v)
        if scenario == "new":  # step 1 is pruned after step 3 is complete: either all there or gone
            assert v == 3.0 or (run / "checkpoints" / "step_000000001").is_dir()
            if (run / "checkpoints" / "step_000000001").is_dir():
                ck.verify(run / "checkpoints" / "step_000000001")
        # The next save cleans whatever the killed one left behind, and resume uses it.
        _save(run, 4, 4.0)
        assert _hidden(run) == [], (i, _hidden(run))
        assert _content(ck.find_latest(run)[0]) == 4.0
        assert len(ck.complete_checkpoints(run)) == 2
    assert outcomes == {2.0, 3.0}
    assert _content(ck.find_latest(tmp_path / f"kill{len(codes) - 1:03d}")[0]) == 4.0


def test_stale_temporary_folders_never_load_and_are_cleaned(tmp_path):
    _save(tmp_path, 1, 1.0)
    good = _save(tmp_path, 2, 2.0)
    root = tmp_path / "checkpoints"
    shutil.copytree(good, root / ".tmp-step_000000009")       # complete-looking, but never renamed in
    (root / ".del-step_000000000").mkdir()
    path, skipped = ck.find_latest(tmp_path)
    assert path == good and skipped == []
    _save(tmp_path, 3, 3.0)
    assert _hidden(tmp_path) == []


def test_a_resave_cut_between_its_renames_falls_back_to_the_old_copy(tmp_path):
    _save(tmp_path, 1, 1.0, keep=2)
    second = _save(tmp_path, 2, 2.0, keep=2)
    second.rename(second.with_name(".old-step_000000002"))      # the state between the two renames
    path, _ = ck.find_latest(tmp_path)
    assert path.name == ".old-step_000000002" and _content(path) == 2.0
    _save(tmp_path, 2, 2.5)
    assert _hidden(tmp_path) == [] and _content(ck.find_latest(tmp_path)[0]) == 2.5


# ---------------------------------------------------------------------------
# truncation and flipped bytes


def test_truncation_at_random_offsets_falls_back_or_errors_cleanly(tmp_path):
    rng = random.Random(5)
    base = tmp_path / "base"
    _save(base, 1, 1.0)
    _save(base, 2, 2.0)
    names = sorted(p.name for p in (base / "checkpoints" / "step_000000002").iterdir())
    assert names == ["COMPLETE", "D.safetensors", "G.safetensors", "config.toml", "manifest.json", "state.pt"]
    case = 0
    for name in names:
        size = (base / "checkpoints" / "step_000000002" / name).stat().st_size
        for offset in sorted({0, size // 2, max(size - 1, 0), *(rng.randrange(size + 1) for _ in range(3))}):
            run = tmp_path / f"t{case}"
            case += 1
            shutil.copytree(base, run)
            for step in ("step_000000002",) + (("step_000000001",) if case % 2 else ()):
                with open(run / "checkpoints" / step / name, "r+b") as f:
                    f.truncate(offset)
            try:
                path, skipped = ck.find_latest(run)
            except CheckpointError as e:  # both checkpoints damaged: a clean error naming what was skipped
                assert case % 2 and "step_000000002" in str(e) and "step_000000001" in str(e)
                continue
            if offset == size:  # not actually shorter (e.g. the empty marker)
                assert path.name == "step_000000002"
                continue
            assert path.name == "step_000000001" and _content(path) == 1.0
            assert skipped[0][0].name == "step_000000002" and name in skipped[0][1]
            with pytest.raises(CheckpointError, match="step_000000002"):
                ck.load_checkpoint(run / "checkpoints" / "step_000000002")
    assert case > 20


@pytest.mark.parametrize("name", ["G.safetensors", "D.safetensors", "state.pt", "config.toml"])
def test_a_flipped_byte_is_a_clear_error_naming_the_file(tmp_path, name):
    path = _save(tmp_path, 1, 1.0)
    target = path / name
    data = bytearray(target.read_bytes())
    data[random.Random(name).randrange(len(data))] ^= 0x20
    target.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as e:
        ck.load_checkpoint(path)
    assert f"{target} is damaged" in str(e.value) and "SHA-256" in str(e.value)
    with pytest.raises(CheckpointError, match=name):
        ck.verify(path)


def test_random_byte_flips_anywhere_never_crash(tmp_path):
    rng = random.Random(11)
    good = _save(tmp_path / "base", 1, 1.0)
    files = sorted(p.name for p in good.iterdir() if p.stat().st_size)
    for i in range(30):
        path = tmp_path / f"f{i}"
        shutil.copytree(good, path)
        name = rng.choice(files)
        data = bytearray((path / name).read_bytes())
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        (path / name).write_bytes(bytes(data))
        with pytest.raises(CheckpointError) as e:
            ck.load_checkpoint(path)
        assert str(path) in str(e.value)


@pytest.mark.parametrize("manifest", [
    '{"format": "gankit-checkpoint", "version": 1, "files": 5}',
    '{"format": "gankit-checkpoint", "version": 1, "files": {"../../etc/passwd": {"size": 1, "sha256": "x"}}}',
    '{"format": "gankit-checkpoint", "version": 1, "files": {"G.safetensors": []}}',
    '{"format": "gankit-checkpoint", "version": 1, "files": {}}',
    '{"format": "gankit-checkpoint", "version": 7, "files": {}}',
    '[1, 2, 3]',
    '\xff\xfe not json',
])
def test_malformed_manifests_are_checkpoint_errors(tmp_path, manifest):
    path = _save(tmp_path, 1, 1.0)
    (path / "manifest.json").write_bytes(manifest.encode("latin-1"))
    with pytest.raises(CheckpointError) as e:
        ck.load_checkpoint(path)
    assert str(path) in str(e.value)


# ---------------------------------------------------------------------------
# keep-last-N


def test_keeps_the_last_n_and_never_counts_a_damaged_one(tmp_path):
    for step in range(1, 6):
        _save(tmp_path, step, float(step), keep=3)
    assert [p.name for p in ck.complete_checkpoints(tmp_path)] == [f"step_00000000{s}" for s in (3, 4, 5)]
    # A damaged checkpoint is not a fallback: it does not count towards keep.
    (tmp_path / "checkpoints" / "step_000000005" / "state.pt").write_bytes(b"rot")
    _save(tmp_path, 6, 6.0, keep=2)
    assert [p.name for p in ck.complete_checkpoints(tmp_path)] == [
        "step_000000004", "step_000000005", "step_000000006"]
    # Checkpoints of later steps (damaged, skipped by a resume from an earlier one) are never
    # pruned in place of the new one.
    _save(tmp_path, 2, 2.0, keep=2)
    assert ck._step(ck.find_latest(tmp_path)[0]) == 6
    assert (tmp_path / "checkpoints" / "step_000000002").is_dir()


def test_config_keeps_at_least_two(tmp_path):
    with pytest.raises(C.ConfigError, match="train.keep_checkpoints: must be >= 2"):
        C.resolve(overrides=[{"train": {"kimg": 1.0, "keep_checkpoints": 1}}])


# ---------------------------------------------------------------------------
# a full disk


class _Disk:
    """A disk with `free` bytes left: writes through `open` past that raise ENOSPC."""

    def __init__(self, free: int):
        self.free = free

    def open(self, path, mode="r", *args, **kwargs):
        f = builtins.open(path, mode, *args, **kwargs)
        return _FileOnDisk(f, self, path) if any(c in mode for c in "wax+") else f


class _FileOnDisk:
    def __init__(self, f, disk: _Disk, path):
        self._f, self._disk, self._path = f, disk, path

    def write(self, data):
        if len(data) > self._disk.free:
            self._f.write(data[:self._disk.free])
            self._disk.free = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self._path))
        self._disk.free -= len(data)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def test_a_full_disk_at_any_point_leaves_the_previous_checkpoint_and_no_temp_files(tmp_path, monkeypatch):
    probe = _save(tmp_path / "probe", 1, 3.0)
    sizes = [(probe / n).stat().st_size for n in ("G.safetensors", "D.safetensors", "state.pt", "config.toml",
                                                  "manifest.json")]
    edges = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
    budgets = sorted({0, 1, *edges, *(e - 1 for e in edges if e), *(e + 7 for e in edges)})
    for budget in budgets:
        run = tmp_path / f"disk{budget}"
        first = _save(run, 1, 1.0)
        monkeypatch.setattr(files_mod, "open", _Disk(budget).open, raising=False)
        try:
            second = _save(run, 2, 3.0)
        except CheckpointError as e:
            msg = str(e)
            assert "step_000000002" in msg and "No space left on device" in msg and "\n" not in msg
            assert str(run) in msg
            assert ck.complete_checkpoints(run) == [first]
        else:
            assert budget >= edges[-1] and _content(second) == 3.0
        finally:
            monkeypatch.delattr(files_mod, "open", raising=False)
        assert _content(ck.find_latest(run)[0]) in (1.0, 3.0)
        ck.verify(first)
        leftovers = [p for p in run.rglob("*") if ".tmp" in p.name or p.name.startswith(".")]
        assert leftovers == [], leftovers


def test_a_failing_fsync_names_the_path(tmp_path, monkeypatch):
    first = _save(tmp_path, 1, 1.0)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(CheckpointError, match=r"step_000000002.*G\.safetensors: No space left"):
        _save(tmp_path, 2, 2.0)
    monkeypatch.undo()
    assert ck.complete_checkpoints(tmp_path) == [first] and _hidden(tmp_path) == []


def test_an_interrupt_during_a_save_leaves_nothing_behind(tmp_path, monkeypatch):
    first = _save(tmp_path, 1, 1.0)
    calls = []

    def interrupted(*args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(files_mod, "fsync_dir", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _save(tmp_path, 2, 2.0)
    monkeypatch.undo()
    assert ck.complete_checkpoints(tmp_path) == [first] and _hidden(tmp_path) == []
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]
