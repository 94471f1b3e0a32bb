"""Checkpoints: round trip, completion marker, manifest checks, pruning, safe loading."""

import errno
import hashlib
import json
import os
import pickle

import pytest
import torch
from torch import nn

from gankit.io import checkpoint as ck
from gankit.io.checkpoint import CheckpointError
from gankit.io.generator import load_state_strict


def _save(run, step, keep=2, value=1.0):
    weights = {"G": {"w": torch.full((3, 2), value), "n": torch.tensor(7)}, "D": {"b": torch.arange(4.0)}}
    state = {"counters": {"step": step, "images": step * 10}, "rng": torch.arange(6, dtype=torch.uint8), "lst": [1, 2.5, "x"]}
    return ck.save_checkpoint(run, step, weights, state, "out = 'x'\n", keep=keep)


def test_round_trip(tmp_path):
    path = _save(tmp_path, 5)
    assert path.name == "step_000000005" and (path / "COMPLETE").is_file()
    weights, state, text = ck.load_checkpoint(path)
    assert torch.equal(weights["G"]["w"], torch.ones(3, 2)) and weights["G"]["n"].item() == 7
    assert torch.equal(weights["D"]["b"], torch.arange(4.0))
    assert state["counters"] == {"step": 5, "images": 50} and state["lst"] == [1, 2.5, "x"]
    assert torch.equal(state["rng"], torch.arange(6, dtype=torch.uint8))
    assert text == "out = 'x'\n"
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")]


def test_keeps_the_newest_n(tmp_path):
    for step in (1, 2, 3, 4):
        _save(tmp_path, step, keep=2)
    assert [p.name for p in ck.complete_checkpoints(tmp_path)] == ["step_000000003", "step_000000004"]


def test_incomplete_checkpoint_is_skipped_with_reason(tmp_path):
    _save(tmp_path, 1)
    newest = _save(tmp_path, 2)
    (newest / "COMPLETE").unlink()
    path, skipped = ck.find_latest(tmp_path)
    assert path.name == "step_000000001"
    assert skipped[0][0] == newest and "incomplete" in skipped[0][1]


def test_flipped_byte_names_the_file(tmp_path):
    path = _save(tmp_path, 1)
    target = path / "G.safetensors"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="G.safetensors is damaged"):
        ck.load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        ck.find_latest(tmp_path)


def test_foreign_manifest_is_refused(tmp_path):
    path = _save(tmp_path, 1)
    (path / "manifest.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(CheckpointError, match="not a gankit checkpoint"):
        ck.load_checkpoint(path)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_crafted_pickle_is_refused_without_running(tmp_path):
    path = _save(tmp_path, 1)
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"counters": _Evil(str(marker))})
    (path / "state.pt").write_bytes(payload)  # a forger would also fix the manifest:
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["state.pt"] = {"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="refused"):
        ck.load_checkpoint(path)
    assert not marker.exists()


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    first = _save(tmp_path, 1)
    real_fsync = os.fsync

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(CheckpointError, match="step_000000002.*No space left"):
        _save(tmp_path, 2)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert ck.complete_checkpoints(tmp_path) == [first]
    ck.verify(first)
    leftovers = [p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_strict_load_lists_mismatches_and_loads_nothing():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    other = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2)).state_dict()
    other["extra"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as e:
        load_state_strict(model, other, "G.safetensors")
    msg = str(e.value)
    assert "0.weight: file (5, 3) vs model (4, 3)" in msg and "unexpected extra" in msg
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_drop_records_after_keeps_earlier_and_stepless_lines(tmp_path):
    from gankit.io.logs import drop_records_after, read_metrics
    lines = ['{"step": 1, "images": 16}', '{"images": 0, "note": "no step"}', '{"step": 2, "images": 32}',
             '{"step": 3, "images": 48, "alarm": {}}', '{"step": 4, "ima']  # the last one torn by a crash
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    assert drop_records_after(tmp_path, 2) == 2
    assert read_metrics(tmp_path) == [{"step": 1, "images": 16}, {"images": 0, "note": "no step"},
                                      {"step": 2, "images": 32}]
    assert drop_records_after(tmp_path, 2) == 0 and drop_records_after(tmp_path / "none", 0) == 0
