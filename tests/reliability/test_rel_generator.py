"""The generator a run shows (issue 10, item 5): a checkpoint loads as its EMA generator, so sampling
a checkpoint and the exported generator/ agree bitwise; generator/ carries a checksum manifest and a
damaged or incomplete one is refused by name, never replaced by a checkpoint; a run without
generator/ falls back to its newest checkpoint with a note; an export cut off at any point leaves
the previous export loadable."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from gankit.cli import main
from gankit.io import files as files_mod
from gankit.io import rundir
from gankit.io.checkpoint import CheckpointError, complete_checkpoints, load_checkpoint
from gankit.io.files import FileError
from gankit.io.generator import export_generator, load_generator
from gankit.training.loop import train

from helpers import tiny_config


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory, tiny_idx_dir):
    """A finished 8-step run with a short EMA half-life, so the average is far from the raw G."""
    torch.set_num_threads(1)
    cfg = tiny_config(tmp_path_factory.mktemp("gen-runs") / "ema", tiny_idx_dir, "model.ema_half_life_kimg=0.05")
    return train(cfg, progress=False)


def _copy(run: Path, tmp_path: Path) -> Path:
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


def _samples(path) -> torch.Tensor:
    return load_generator(path).sample(16, seed=3)


def _flip(file: Path, n: int = 64) -> None:
    """Invert n bytes at the end of a file: inside the tensor data, so it still parses."""
    data = bytearray(file.read_bytes())
    for i in range(len(data) - n, len(data)):
        data[i] ^= 0xFF
    file.write_bytes(bytes(data))


def _cli(argv, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return code, err


# ---------------------------------------------------------------------------
# the weights the run shows


def test_a_checkpoint_samples_the_ema_generator_bitwise(ema_run):
    ckpt = complete_checkpoints(ema_run)[-1]
    exported = _samples(ema_run / "generator")
    assert torch.equal(_samples(ckpt), exported)
    assert torch.equal(_samples(ema_run), exported)
    weights, _, _ = load_checkpoint(ckpt)
    raw = load_generator(ema_run / "generator")
    raw.load_state_dict(weights["G"])
    assert not torch.equal(raw.sample(16, seed=3), exported)  # so the test would catch the raw G


def test_sample_of_a_checkpoint_and_of_the_run_write_the_same_file(ema_run, tmp_path, capsys):
    ckpt = complete_checkpoints(ema_run)[-1]
    assert _cli(["sample", ckpt, "--num", "8", "--seed", "1", "--out", tmp_path / "c.npy"], capsys)[0] == 0
    assert _cli(["sample", ema_run, "--num", "8", "--seed", "1", "--out", tmp_path / "r.npy"], capsys)[0] == 0
    assert (tmp_path / "c.npy").read_bytes() == (tmp_path / "r.npy").read_bytes()


def test_a_run_without_ema_still_loads_g_from_a_checkpoint(tiny_run):
    ckpt = complete_checkpoints(tiny_run)[-1]
    assert "G_ema" not in load_checkpoint(ckpt)[0]
    assert torch.equal(_samples(ckpt), _samples(tiny_run / "generator"))


# ---------------------------------------------------------------------------
# the manifest


def test_an_export_has_a_manifest_of_every_file(ema_run):
    gen = ema_run / "generator"
    manifest = json.loads((gen / "manifest.json").read_text())
    assert manifest["format"] == "gankit-generator" and manifest["version"] == 2
    assert sorted(manifest["files"]) == ["README.md", "config.json", "model.safetensors"]
    for name, entry in manifest["files"].items():
        assert entry["size"] == (gen / name).stat().st_size
        assert entry["sha256"] == files_mod.sha256_file(gen / name)
    assert sorted(p.name for p in ema_run.iterdir() if ".tmp-" in p.name) == []


@pytest.mark.parametrize("target", ["run", "generator"])
def test_flipped_bytes_in_the_weights_are_refused_by_name(ema_run, tmp_path, capsys, target):
    run = _copy(ema_run, tmp_path)
    _flip(run / "generator" / "model.safetensors")
    path = run if target == "run" else run / "generator"
    with pytest.raises(CheckpointError, match=r"generator/model\.safetensors is damaged"):
        load_generator(path)
    code, err = _cli(["sample", path, "--out", tmp_path / "x.png"], capsys)
    assert code == 1 and err.count("\n") == 0 and "model.safetensors is damaged" in err
    assert not (tmp_path / "x.png").exists()


def test_an_edited_config_is_refused_by_name(ema_run, tmp_path):
    run = _copy(ema_run, tmp_path)
    meta = json.loads((run / "generator" / "config.json").read_text())
    meta["images_seen"] += 1
    (run / "generator" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"generator/config\.json is damaged"):
        load_generator(run)


def test_an_edited_readme_still_loads(ema_run, tmp_path):
    run = _copy(ema_run, tmp_path)
    with open(run / "generator" / "README.md", "a") as f:
        f.write("\nMy notes.\n")
    assert torch.equal(_samples(run), _samples(ema_run))


@pytest.mark.parametrize("name", ["model.safetensors", "config.json", "manifest.json"])
def test_a_generator_missing_a_file_is_refused_not_replaced_by_a_checkpoint(ema_run, tmp_path, capsys, name):
    run = _copy(ema_run, tmp_path)
    (run / "generator" / name).unlink()
    with pytest.raises(CheckpointError, match=rf"generator/{name}.* missing"):
        load_generator(run)
    code, err = _cli(["sample", run, "--out", tmp_path / "x.png"], capsys)
    assert code == 1 and err.count("\n") == 0 and name in err and "note:" not in err


def test_an_empty_generator_folder_is_refused(ema_run, tmp_path):
    run = _copy(ema_run, tmp_path)
    shutil.rmtree(run / "generator")
    (run / "generator").mkdir()
    with pytest.raises(CheckpointError, match=r"generator/config\.json is missing"):
        load_generator(run)


def test_an_older_export_without_a_manifest_loads_with_a_warning(ema_run, tmp_path, capsys):
    run = _copy(ema_run, tmp_path)
    gen = run / "generator"
    (gen / "manifest.json").unlink()
    meta = json.loads((gen / "config.json").read_text())
    (gen / "config.json").write_text(json.dumps({**meta, "version": 1}))  # as gankit wrote it before
    capsys.readouterr()
    assert torch.equal(_samples(run), _samples(ema_run))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "carries no checksums" in err[0] and str(gen) in err[0]


def test_a_future_generator_version_is_refused(ema_run, tmp_path):
    from gankit.io.generator import FORMAT
    gen = _copy(ema_run, tmp_path) / "generator"
    meta = json.loads((gen / "config.json").read_text())
    (gen / "config.json").write_text(json.dumps({**meta, "version": 3}))
    (gen / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="manifest.json is missing"):
        load_generator(gen)
    manifest = {"format": FORMAT, "version": 3, "files": {}}
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="version 3"):
        load_generator(gen)


# ---------------------------------------------------------------------------
# a run without generator/


def test_a_run_without_generator_loads_the_newest_checkpoints_ema_with_a_note(ema_run, tmp_path, capsys):
    run = _copy(ema_run, tmp_path)
    shutil.rmtree(run / "generator")
    capsys.readouterr()
    assert torch.equal(_samples(run), _samples(ema_run / "generator"))
    err = capsys.readouterr().err.strip().splitlines()
    ckpt = complete_checkpoints(run)[-1]
    assert len(err) == 1 and err[0].startswith("note:") and str(ckpt) in err[0] and "EMA" in err[0]
    code, err = _cli(["sample", run, "--out", tmp_path / "x.png"], capsys)
    assert code == 0 and (tmp_path / "x.png").is_file()


def test_a_checkpoint_given_by_name_loads_without_a_note(ema_run, capsys):
    capsys.readouterr()
    load_generator(complete_checkpoints(ema_run)[-1])
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------------
# crash-safe export


def _probe(run: Path) -> float:
    """Which export a run's generator holds: every export in these tests fills G's first tensor with v."""
    return float(next(iter(load_generator(run).state_dict().values())).flatten()[0])


def _export(run: Path, v: float, folder: str = "generator") -> Path:
    G = load_generator(run)
    with torch.no_grad():
        next(iter(G.state_dict().values())).fill_(v)
    return export_generator(G, G.config, run, {"images_seen": int(v)}, folder=folder)


def test_a_failed_write_leaves_the_previous_export_and_no_temporaries(ema_run, tmp_path, monkeypatch):
    run = _copy(ema_run, tmp_path)
    _export(run, 1.0)
    writes = []
    real_open = open

    def failing_open(path, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+"):
            writes.append(path)
            if len(writes) == budget:
                raise OSError(28, "No space left on device", str(path))
        return real_open(path, mode, *args, **kwargs)

    for budget in (1, 2, 3, 4):  # model.safetensors, config.json, README.md, manifest.json
        writes.clear()
        monkeypatch.setattr(files_mod, "open", failing_open, raising=False)
        with pytest.raises(FileError, match="No space left on device"):
            _export(run, 2.0)
        monkeypatch.delattr(files_mod, "open", raising=False)
        assert _probe(run) == 1.0
        assert [p.name for p in run.iterdir() if ".tmp-" in p.name] == []
        assert sorted(p.name for p in (run / "generator").iterdir()) == \
            ["README.md", "config.json", "manifest.json", "model.safetensors"]
    assert _export(run, 2.0) and _probe(run) == 2.0


def test_an_interrupt_at_the_swap_puts_the_previous_export_back(ema_run, tmp_path, monkeypatch):
    from gankit.io import generator as gen_mod
    run = _copy(ema_run, tmp_path)
    _export(run, 1.0)

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(gen_mod, "fsync_dir", interrupted)  # after both renames: the new one is in place
    with pytest.raises(KeyboardInterrupt):
        _export(run, 2.0)
    monkeypatch.undo()
    assert _probe(run) in (1.0, 2.0)
    real_rename = Path.rename

    def second_rename_fails(self, target):
        if self.name == ".generator.tmp-new":
            raise OSError(5, "Input/output error", str(self))
        return real_rename(self, target)

    before = _probe(run)
    monkeypatch.setattr(Path, "rename", second_rename_fails)
    with pytest.raises(FileError, match="Input/output error"):
        _export(run, 3.0)
    monkeypatch.undo()
    assert _probe(run) == before and [p.name for p in run.iterdir() if ".tmp-" in p.name] == []


def test_an_export_cut_between_its_renames_loads_the_parked_copy(ema_run, tmp_path, capsys):
    run = _copy(ema_run, tmp_path)
    _export(run, 1.0)
    (run / "generator").rename(run / ".generator.tmp-old")  # the state between the two renames
    capsys.readouterr()
    assert _probe(run) == 1.0
    assert ".generator.tmp-old" in capsys.readouterr().err
    assert rundir.run_entries(run)[1] == []  # counted as the run's own entry (--overwrite removes it)
    _export(run, 2.0)
    assert _probe(run) == 2.0 and [p.name for p in run.iterdir() if ".tmp-" in p.name] == []


KILL_EXPORTS = textwrap.dedent('''
    import json, sys
    from pathlib import Path
    import torch
    torch.set_num_threads(1)
    sys.path.insert(0, sys.argv[3])
    from kill_points import kill_each_write
    from gankit.io.generator import export_generator, load_generator

    pristine, base = Path(sys.argv[1]), Path(sys.argv[2])
    G = load_generator(pristine)
    with torch.no_grad():
        next(iter(G.state_dict().values())).fill_(2.0)
    work = lambda run: export_generator(G, G.config, run, {"images_seen": 2})
    print(json.dumps(kill_each_write(pristine, base, work, limit=200)))
''')


def test_a_kill_at_any_file_operation_of_an_export_leaves_a_loadable_generator(ema_run, tmp_path):
    pristine = _copy(ema_run, tmp_path)
    _export(pristine, 1.0)
    shutil.rmtree(pristine / "checkpoints")  # so no load can quietly fall back to one
    (tmp_path / "kills").mkdir()
    done = subprocess.run([sys.executable, "-c", KILL_EXPORTS, str(pristine), str(tmp_path / "kills"),
                           str(Path(__file__).parent)],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONHASHSEED="0"))
    assert done.returncode == 0, done.stderr
    codes = json.loads(done.stdout)
    assert codes[-1] == 0 and set(codes[:-1]) == {9} and len(codes) > 8, codes
    outcomes = set()
    for i in range(len(codes)):
        run = tmp_path / "kills" / f"kill{i:03d}"
        outcomes.add(_probe(run))  # never a mix, never an error: the old export or the new one
        _export(run, 3.0)          # and the next export cleans up whatever the kill left
        assert _probe(run) == 3.0 and [p.name for p in run.iterdir() if ".tmp-" in p.name] == [], i
    assert outcomes == {1.0, 2.0}


def test_a_users_own_files_in_a_run_folder_do_not_make_it_a_generator(ema_run, tmp_path):
    run = _copy(ema_run, tmp_path)
    (run / "README.md").write_text("my notes")
    (run / "config.json").write_text("{}")  # run folders may share a folder with the user's files
    assert torch.equal(_samples(run), _samples(ema_run))
    from gankit.io.generator import load_discriminator
    with pytest.raises(CheckpointError, match="the discriminator lives in checkpoints"):
        load_discriminator(run / "generator")


@pytest.mark.parametrize("manifest, needle", [
    ("{", "manifest.json is unreadable"),
    ('{"format": "gankit-checkpoint", "version": 2, "files": {}}', "not a gankit generator"),
    ('{"format": "gankit-generator", "version": 2, "files": {"../x": {"size": 1, "sha256": "0"}}}', "malformed"),
    ('{"format": "gankit-generator", "version": 2, "files": {}}', "lacks config.json, model.safetensors"),
], ids=["not json", "a checkpoint's", "a path outside", "empty"])
def test_a_malformed_generator_manifest_is_refused_by_name(ema_run, tmp_path, manifest, needle):
    gen = _copy(ema_run, tmp_path) / "generator"
    (gen / "manifest.json").write_text(manifest)
    with pytest.raises(CheckpointError, match=needle):
        load_generator(gen)


def test_the_exported_readme_names_the_manifest(ema_run):
    assert "manifest.json" in (ema_run / "generator" / "README.md").read_text()
