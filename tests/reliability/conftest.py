"""Fixtures of the reliability suite (issue 5): hermetic data search, a tiny trained run, and
helpers to compare two runs bitwise. Everything here is small enough for 2 CPU cores."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from gankit.data import idx
from gankit.io.checkpoint import complete_checkpoints, load_checkpoint
from gankit.io.logs import read_metrics

from helpers import tiny_config

BATCH = 16  # tiny_config's batch size; the tiny IDX set (256 images) is 16 steps per epoch


@pytest.fixture(autouse=True)
def _no_machine_data(tmp_path_factory, monkeypatch):
    """No test sees the machine's datasets: HOME, $GANKIT_DATA and the system dirs point nowhere."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("GANKIT_DATA", raising=False)
    nowhere = tmp_path_factory.mktemp("system")
    monkeypatch.setattr(idx, "SYSTEM_DIRS", {k: nowhere / k for k in idx.SYSTEM_DIRS})


def kimg_for(steps: int) -> float:
    """A kimg budget that stops after exactly `steps` generator steps (half a batch of slack
    keeps float rounding of kimg * 1000 from adding or dropping a step)."""
    return (steps * BATCH - BATCH // 2) / 1000


@pytest.fixture
def cfg_for(tiny_idx_dir):
    """cfg_for(run_dir, steps, *overrides): tiny DCGAN config with per-step logging and dropout in D
    (dropout draws from torch's global RNG, so that RNG must survive a resume too)."""
    def make(run_dir, steps, *overrides):
        return tiny_config(run_dir, tiny_idx_dir, "train.kimg=0", f"train.kimg={kimg_for(steps)}",
                           "train.log_every=1", "model.d_dropout=0.2", *overrides)
    return make


def run_cli(*args, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    """`python -m gankit ARGS` in a new process."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    return subprocess.run([sys.executable, "-m", "gankit", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)




def losses(run) -> list[tuple]:
    """Every logged step's (step, images, loss_d, loss_g, D(x), D(G(z)))."""
    return [(r["step"], r["images"], r["loss_d"], r["loss_g"], r["d_real"], r["d_fake"]) for r in read_metrics(run)]


def checkpoint_at(run, step: int) -> Path:
    for path in complete_checkpoints(run):
        if int(path.name.split("_")[1]) == step:
            return path
    raise AssertionError(f"{run} has no checkpoint of step {step}: {[p.name for p in complete_checkpoints(run)]}")


def assert_same_state(a: Path, b: Path) -> None:
    """Two checkpoints hold bitwise-identical weights, optimizer states, counters (but the
    wall-clock seconds) and training RNGs (the noise generator and torch's global RNG)."""
    (wa, sa, _), (wb, sb, _) = load_checkpoint(a), load_checkpoint(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        assert wa[name].keys() == wb[name].keys()
        for key in wa[name]:
            assert torch.equal(wa[name][key], wb[name][key]), f"{name}.{key} differs ({a} vs {b})"
    ca, cb = dict(sa["counters"]), dict(sb["counters"])
    ca.pop("seconds"), cb.pop("seconds")
    assert ca == cb
    for opt in ("opt_g", "opt_d"):
        assert sa[opt]["param_groups"] == sb[opt]["param_groups"]
        assert sa[opt]["state"].keys() == sb[opt]["state"].keys()
        for pid, st in sa[opt]["state"].items():
            for key, value in st.items():
                assert torch.equal(value, sb[opt]["state"][pid][key]), f"{opt}[{pid}].{key} differs"
    for rng in ("torch", "noise"):
        assert torch.equal(sa["rng"][rng], sb["rng"][rng]), f"rng.{rng} differs"


def rehash(ckpt: Path) -> None:
    """Rewrite a checkpoint's manifest to match its files, as a forger (or a bug) would."""
    manifest = json.loads((ckpt / "manifest.json").read_text())
    manifest["files"] = {name: {"size": (ckpt / name).stat().st_size,
                                "sha256": hashlib.sha256((ckpt / name).read_bytes()).hexdigest()}
                         for name in manifest["files"] if (ckpt / name).exists()}
    (ckpt / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_idx_dir):
    """A finished 8-step run (shared, read-only: copy it before changing anything)."""
    from gankit.training.loop import train
    torch.set_num_threads(1)
    return train(tiny_config(tmp_path_factory.mktemp("rel-runs") / "tiny", tiny_idx_dir), progress=False)


@pytest.fixture(scope="session")
def rel():
    """The helpers above, for test modules (conftest itself is not importable under importlib mode)."""
    return SimpleNamespace(kimg_for=kimg_for, run_cli=run_cli, losses=losses, checkpoint_at=checkpoint_at,
                           assert_same_state=assert_same_state, rehash=rehash)


# ---------------------------------------------------------------------------
# Processes started in the background as soon as the tests that need them are collected: most of
# a fresh process's time is importing torch, and on a shared 2-core machine that runs beside the
# in-process tests instead of before them.

# Kill a forked save_checkpoint just before its i-th file operation, for every i until a save
# completes, for a new step and for a re-saved one; prints {scenario: [exit code of each try]}.
KILL_SAVES = textwrap.dedent('''
    import json, sys
    from pathlib import Path
    import torch
    torch.set_num_threads(1)
    sys.path.insert(0, sys.argv[3])
    from kill_points import kill_each_write
    from test_rel_integrity import _save

    def kill_each_operation(base, scenario):
        pristine = base / "pristine"
        _save(pristine, 1, 1.0)     # also imports everything a save needs, before any fork
        _save(pristine, 2, 2.0)
        step = 3 if scenario == "new" else 2   # "resave": the same step again (the two-rename swap)
        return kill_each_write(pristine, base, lambda run: _save(run, step, 3.0), limit=500)

    print(json.dumps({scenario: kill_each_operation(Path(sys.argv[1]) / scenario, scenario)
                      for scenario in ("new", "resave")}))
''')



_JOBS = {
    # name: (test file that needs it, argv after the interpreter; {base} is the job's folder)
    "kill-saves": ("test_rel_integrity.py", ["-c", KILL_SAVES, "{base}", "", str(Path(__file__).parent)]),
    "cli-bad-input": ("test_rel_cli.py", ["-m", "gankit", "sample", "{base}/no-such-run", "--out", "{base}/x.png"]),
}
_RUNNING: dict[str, tuple[subprocess.Popen, Path]] = {}
_ROOT: list[Path] = []


def pytest_collection_modifyitems(session, config, items):
    wanted = {item.path.name for item in items}
    for name, (test_file, argv) in _JOBS.items():
        if test_file in wanted and name not in _RUNNING:
            if not _ROOT:
                _ROOT.append(Path(tempfile.mkdtemp(prefix="gankit-rel-")))
            base = _ROOT[0] / name
            base.mkdir()
            args = [a.replace("{base}", str(base)) for a in argv]
            env = dict(os.environ, PYTHONHASHSEED="0", HOME=str(base))
            _RUNNING[name] = (subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE,
                                               stderr=subprocess.PIPE, text=True, env=env), base)


def pytest_sessionfinish(session, exitstatus):
    for proc, _ in _RUNNING.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    for root in _ROOT:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def background():
    """background(name) -> (exit code, stdout, stderr, folder) of a job in _JOBS, waiting for it."""
    def result(name):
        proc, base = _RUNNING[name]
        out, err = proc.communicate(timeout=240)
        return proc.returncode, out, err, base
    return result
