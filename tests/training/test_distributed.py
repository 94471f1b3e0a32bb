"""Distributed training on CPU with gloo: N processes with global batch B train like one with batch B.

The multi-process runs start `python -m gankit train` once per rank with the environment torchrun
would set (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), which is lighter than torchrun's agent and
lets a test kill or freeze one rank itself; one test goes through `python -m torch.distributed.run`,
the command users type.

Tolerance of "the same losses and weights" (TOL): the two runs do the same arithmetic on the same
examples and latents except for the order of float32 sums — the mean over B rows becomes the mean
of N means over B/N rows, and gloo sums the ranks' gradients — which changes gradients by about
1e-7 relative. Adam divides each step by sqrt(v), so for near-zero gradients that relative error
reaches the step itself (lr = 5e-4 here); over the few steps compared the largest difference seen
was 2e-6 on weights of magnitude ~1 and 1.2e-7 on logged losses. TOL = 2e-5 is ten times that
and far below what one different example or latent in the batch changes (> 1e-3 after one step).
The models have no batch norm (per-rank statistics; see gankit.training.distributed).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gankit import config as config_mod
from gankit.io.checkpoint import complete_checkpoints
from gankit.training import distributed
from gankit.training.loop import train

TOL = 2e-5
BATCH = 64
# A small MLP GAN on the 8-Gaussian ring: R1 (lazy, every 2 D steps) and EMA on, so the penalty's
# mean and the averaged weights are covered; no batch norm, no dropout, no augmentation.
SETS = ["model.width=32", "model.depth=2", f"train.batch_size={BATCH}", "train.log_every=1",
        "train.checkpoint_every_minutes=0", "train.sample_every_kimg=1000", "loss.r1_every=2",
        "train.keep_checkpoints=5", f"train.checkpoint_every_kimg={BATCH * 4 / 1000}"]  # every 4 steps


def _kimg(steps: int) -> str:
    return str(BATCH * steps / 1000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(args: list[str], n: int = 2, env: dict | None = None,
            program: tuple[str, ...] = ("-m", "gankit")) -> list[subprocess.Popen]:
    """`gankit train ARGS` as n ranks of one gloo world, as torchrun would start them."""
    port = _free_port()
    procs = []
    for r in range(n):
        e = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(r),
             "LOCAL_RANK": str(r), "WORLD_SIZE": str(n), "LOCAL_WORLD_SIZE": str(n), "OMP_NUM_THREADS": "1",
             **(env or {})}
        procs.append(subprocess.Popen([sys.executable, *program, "train", "--no-progress", *args], env=e,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def _finish(procs: list[subprocess.Popen], timeout: float = 180) -> list[tuple[int, str, str]]:
    out = []
    for p in procs:
        try:
            stdout, stderr = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:  # a hang is a failure, never a stuck test run
            for q in procs:
                q.kill()
            raise AssertionError("a rank did not exit in time (deadlock?)") from None
        out.append((p.returncode, stdout, stderr))
    return out


def _run_world(args: list[str], n: int = 2, env: dict | None = None) -> list[tuple[int, str, str]]:
    results = _finish(_launch(args, n, env))
    for rc, _, err in results:
        assert rc == 0, err
    return results


def _cfg(out: Path, steps: int, *extra: str) -> config_mod.Config:
    return config_mod.resolve(preset="toy-ring", overrides=[*SETS, f"train.kimg={_kimg(steps)}", f"out={out}",
                                                            *extra])


def _train_one(out: Path, steps: int, *extra: str, resume: bool = False) -> None:
    train(_cfg(out, steps, *extra), resume=resume, progress=False)


def _world_args(out: Path, steps: int, *extra: str) -> list[str]:
    return ["--preset", "toy-ring", "--out", str(out), "--kimg", _kimg(steps),
            *[a for s in [*SETS, *extra] for a in ("--set", s)]]


def _records(run: Path) -> list[dict]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in lines if "loss_d" in r]


def _latest_weights(run: Path) -> dict[str, dict[str, torch.Tensor]]:
    ckpt = complete_checkpoints(run)[-1]
    return {n: load_file(ckpt / f"{n}.safetensors") for n in ("G", "D", "G_ema")}


def _assert_same(a: Path, b: Path, steps: int) -> None:
    ra, rb = _records(a), _records(b)
    assert [r["step"] for r in ra] == [r["step"] for r in rb] == list(range(1, steps + 1))
    for x, y in zip(ra, rb):
        assert x["images"] == y["images"]
        for key in ("loss_d", "loss_g", "d_real", "d_fake"):
            assert abs(x[key] - y[key]) <= TOL, (x["step"], key, x[key], y[key])
    wa, wb = _latest_weights(a), _latest_weights(b)
    for net in wa:
        assert wa[net].keys() == wb[net].keys()
        for k in wa[net]:
            diff = (wa[net][k].float() - wb[net][k].float()).abs().max().item()
            assert diff <= TOL, (net, k, diff)


# ---- a single process is a world of size 1


def test_single_process_is_a_world_of_one():
    assert not distributed.launched() and distributed.world_size() == 1 and distributed.is_main()
    x = torch.randn(6, 3)
    assert distributed.shard(x) is x and distributed.mean(x) is x and distributed.all_gather_cat(x) is x
    assert distributed.agree(None, 1.5) == (None, 1.5) and distributed.all_true(True)
    assert not distributed.all_true(False)
    distributed.check_batch(63, pack=1)  # any batch is fine for one process
    m = torch.nn.Linear(2, 2)
    m(torch.ones(1, 2)).sum().backward()
    before = m.weight.grad.clone()
    distributed.average_gradients(m)
    assert torch.equal(m.weight.grad, before)


@pytest.mark.parametrize("value", ["0", "-3", "soon"])
def test_a_bad_timeout_is_one_line(monkeypatch, value):
    monkeypatch.setenv(distributed.TIMEOUT_ENV, value)
    with pytest.raises(ValueError, match=f"^{distributed.TIMEOUT_ENV}: must be a number of seconds > 0"):
        distributed.timeout_seconds()


# ---- two processes


def _back_to_step_4(run: Path) -> None:
    """Leave the run as if it had been stopped after its step-4 checkpoint."""
    for ckpt in complete_checkpoints(run):
        if ckpt.name != f"step_{4:09d}":
            shutil.rmtree(ckpt)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One process, batch 64, 8 steps (checkpoints at 4 and 8): what the two-process runs below
    are compared with."""
    out = tmp_path_factory.mktemp("ref") / "run"
    _train_one(out, 8)
    return out


@pytest.mark.slow
def test_two_processes_train_like_one_and_resume_under_one(tmp_path, reference):
    out = tmp_path / "run"
    results = _run_world(_world_args(out, 8))
    _assert_same(reference, out, 8)
    # Rank 0 alone writes and speaks: one metrics line per step, one TensorBoard file at most,
    # one "done" line; rank 1 prints nothing to stdout.
    assert "done:" in results[0][1] and results[1][1] == ""
    assert len(list(out.glob("events.out.tfevents.*"))) <= 1
    assert (out / "generator" / "model.safetensors").is_file()
    state = torch.load(complete_checkpoints(out)[-1] / "state.pt", weights_only=True)
    assert len(state["ranks"]) == 2  # every rank's own random streams, for a resume under 2
    for stream in ("torch", "reg_rng"):  # rank 1's are its own, not copies of rank 0's
        assert not torch.equal(state["ranks"][0][stream], state["ranks"][1][stream])
    assert torch.equal(state["ranks"][0]["torch"], state["rng"]["torch"])  # rank 0's are a single process's
    # The step-4 checkpoint of the two processes, resumed by one, ends where one process does.
    _back_to_step_4(out)
    _train_one(out, 8, resume=True)
    _assert_same(reference, out, 8)


@pytest.mark.slow
def test_two_processes_train_like_one_conditional(tmp_path):
    """Labels too: the real batch's labels and the fake labels are sharded like the images and z."""
    extra = ("model.conditional=ac", "train.fake_labels=data")
    one = tmp_path / "one"
    _train_one(one, 6, *extra)
    two = tmp_path / "two"
    _run_world(_world_args(two, 6, *extra))
    _assert_same(one, two, 6)


@pytest.mark.slow
def test_two_processes_resume_exactly_with_their_own_dropout_and_noise(tmp_path):
    """Dropout and instance noise draw from each rank's own stream; the checkpoint keeps every
    rank's, so stopping at step 4 and resuming under 2 is bitwise the uninterrupted run."""
    extra = ("model.d_dropout=0.3", "loss.instance_noise=0.1")
    out = tmp_path / "run"
    _run_world(_world_args(out, 8, *extra))
    straight, records = _latest_weights(out), _records(out)
    _back_to_step_4(out)
    _run_world(["--resume", str(out), "--kimg", _kimg(8)])
    keys = ("step", "images", "loss_d", "loss_g", "d_real", "d_fake")
    assert [[r[k] for k in keys] for r in _records(out)] == [[r[k] for k in keys] for r in records]
    resumed = _latest_weights(out)
    for net in straight:
        for k in straight[net]:
            assert torch.equal(straight[net][k], resumed[net][k]), (net, k)


@pytest.mark.slow
def test_resume_from_one_process_under_two(tmp_path, reference):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    _back_to_step_4(out)
    # Train-time evaluation (every 2 steps) runs on rank 0 while rank 1 waits; it draws from
    # its own seeds, so training is unchanged by it.
    _run_world(["--resume", str(out), "--kimg", _kimg(8), "--eval-every", _kimg(2)])
    _assert_same(reference, out, 8)
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if '"eval"' in line]
    assert [r["step"] for r in evals] == [6, 8]  # once each: rank 0 alone evaluates


@pytest.mark.slow
def test_a_batch_that_does_not_split_is_one_line(tmp_path):
    results = _finish(_launch(_world_args(tmp_path / "run", 2, "train.batch_size=63")))
    for rc, _, err in results:
        assert rc == 1
        assert err.strip().splitlines()[-1] == (
            "gankit: error: train.batch_size: 63 does not split over 2 processes (it is the global batch; "
            "each process trains on batch_size / 2); use a multiple of 2, e.g. --set train.batch_size=64")
    assert not (tmp_path / "run").exists()


def _wait_for_training(out: Path, procs: list[subprocess.Popen]) -> None:
    deadline = time.time() + 120
    while time.time() < deadline:
        if (out / "metrics.jsonl").is_file() and _records(out):
            return
        if any(p.poll() is not None for p in procs):
            raise AssertionError(f"a rank exited early: {[p.communicate() for p in procs]}")
        time.sleep(0.2)
    raise AssertionError("training did not start")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["kill", "freeze"])
def test_a_lost_rank_stops_the_others_with_a_clear_error(tmp_path, how):
    """kill -9 of rank 1: gloo sees the closed socket at once; SIGSTOP (a hung rank): the
    process-group timeout (GANKIT_DIST_TIMEOUT, 3 s here) ends rank 0's wait."""
    out = tmp_path / "run"
    procs = _launch(_world_args(out, 100_000), env={distributed.TIMEOUT_ENV: "3"})
    try:
        _wait_for_training(out, procs)
        procs[1].send_signal(signal.SIGKILL if how == "kill" else signal.SIGSTOP)
        try:
            _, err = procs[0].communicate(timeout=120)  # bounded: a hang fails the test, it never blocks it
        except subprocess.TimeoutExpired:
            raise AssertionError("rank 0 hung after losing rank 1") from None
    finally:
        for p in procs:
            p.kill()
            p.communicate()
    assert procs[0].returncode == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("gankit: error: rank 0 of 2: lost the other processes during "), err
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_signal_to_one_rank_stops_both_at_the_same_step(tmp_path):
    """SIGTERM to rank 1 only: the ranks agree to stop, rank 0 saves the step both finished, and
    the run resumes."""
    out = tmp_path / "run"
    procs = _launch(_world_args(out, 100_000))
    _wait_for_training(out, procs)
    procs[1].send_signal(signal.SIGTERM)
    results = _finish(procs)
    assert [rc for rc, _, _ in results] == [143, 143], results
    assert "state saved in" in results[0][2]
    step = _records(out)[-1]["step"]
    assert complete_checkpoints(out)[-1].name == f"step_{step:09d}"
    _train_one(out, step + 2, resume=True)
    assert _records(out)[-1]["step"] == step + 2


# gankit's CLI with rank 1's D loss made NaN at its 6th D step only (as test_training_alarms does
# in one process): one rank's failure, which both must see and undo at the same step.
_NAN_ON_RANK_1 = """
import sys
from gankit.losses import adversarial
from gankit.training import distributed, loop
pair, calls = adversarial.LOSSES["nonsaturating"], {"n": 0}
def poisoned(real, fake):
    calls["n"] += 1
    loss = pair.d_loss(real, fake)
    return loss * float("nan") if calls["n"] == 6 and distributed.rank() == 1 else loss
loop.make_loss = lambda name, smoothing=0.0: pair._replace(d_loss=poisoned)
from gankit.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_nan_on_one_rank_is_rolled_back_on_both(tmp_path):
    out = tmp_path / "run"
    results = _finish(_launch(_world_args(out, 8), program=("-c", _NAN_ON_RANK_1)))
    for rc, _, err in results:
        assert rc == 0, err
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(r["alarm"]["kind"], r["step"]) for r in lines if "alarm" in r] == [("nonfinite", 6)]
    assert [r["step"] for r in _records(out)] == list(range(1, 9))  # step 6 trained again after the rollback
    weights = _latest_weights(out)
    assert all(torch.isfinite(t).all() for sd in weights.values() for t in sd.values())


@pytest.mark.slow
def test_torchrun_runs_the_same_command(tmp_path, reference):
    """The command a user types: python -m torch.distributed.run --nproc-per-node 2 -m gankit train."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
           str(_free_port()), "-m", "gankit", "train", "--no-progress", *_world_args(out, 8)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    _assert_same(reference, out, 8)


UNPAIRED = ["data.name=shapes", "data.task=unpaired", "data.domain_a=square", "data.domain_b=circle",
            "data.resolution=16", "data.limit=64", "model.width=4", "model.depth=1", "train.batch_size=8",
            "train.pool_size=6", "train.log_every=1", "train.checkpoint_every_minutes=0", "train.threads=1"]


@pytest.mark.slow
def test_two_processes_train_a_cyclegan_like_one(tmp_path):
    """The unpaired game: both domain streams sharded, one image pool of the global batch's fakes
    (all-gathered, the same in every process), instance norm only: 2 processes = 1 within TOL on
    every logged number and weight matrix. 8 steps fill the pool of 6 and swap from it."""
    one = tmp_path / "one"
    # (gankit train with data.task=unpaired and no preset starts from the cyclegan preset)
    train(config_mod.resolve(preset="cyclegan", overrides=[*UNPAIRED, "train.kimg=0.128", "train.minutes=0",
                                                                    f"out={one}"]),
          progress=False)
    two = tmp_path / "two"
    _run_world(["--out", str(two), "--kimg", "0.128", *[a for s in UNPAIRED for a in ("--set", s)]])
    ra, rb = _records(one), _records(two)
    assert [r["step"] for r in ra] == [r["step"] for r in rb] == list(range(1, 9))
    for x, y in zip(ra, rb):
        for key in ("loss_d", "loss_g", "d_real", "d_fake", "adversarial", "cycle", "identity"):
            assert abs(x[key] - y[key]) <= TOL, (x["step"], key, x[key], y[key])
    wa, wb = (load_file(complete_checkpoints(r)[-1] / "G.safetensors") for r in (one, two))
    off = {k: (wa[k] - wb[k]).abs().max().item() for k in wa if (wa[k] - wb[k]).abs().max().item() > TOL}
    # Only conv biases that instance norm then subtracts again differ: their true gradient is 0, so
    # Adam turns float noise into steps of up to lr (2e-4) each, by design the same in distribution.
    assert all(k.endswith(".bias") for k in off) and max(off.values(), default=0) <= 8 * 2e-4, off
    assert len(off) < len(wa) // 2  # every weight matrix agrees within TOL
