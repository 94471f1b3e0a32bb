"""The benchmarks' FLOP counter agrees with hand counts, and its helpers return what the reports use.

benchmarks/ is not a package (its scripts are run as files), so its modules are loaded by path.
"""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"gankit_bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def flops():
    return _load("flops")


@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_hand_count(flops, bias):
    N, n_in, n_out = 5, 12, 7
    layer = nn.Linear(n_in, n_out, bias=bias)
    x = torch.randn(N, n_in, requires_grad=True)
    fwd, bwd = flops.forward_backward_flops(layer, x)
    assert fwd == 2 * N * n_in * n_out  # one multiply-add per (sample, input, output); the bias add is not a matmul
    assert bwd == 2 * fwd               # grad of the input and grad of the weight: one matmul each


def test_linear_backward_without_input_grad_is_weight_grad_only(flops):
    N, n_in, n_out = 3, 9, 4
    fwd, bwd = flops.forward_backward_flops(nn.Linear(n_in, n_out), torch.randn(N, n_in))
    assert (fwd, bwd) == (2 * N * n_in * n_out, 2 * N * n_in * n_out)


@pytest.mark.parametrize("k,stride,padding", [(3, 1, 1), (4, 2, 1), (5, 2, 2)])
def test_conv2d_matches_hand_count(flops, k, stride, padding):
    N, c_in, c_out, size = 2, 3, 8, 16
    conv = nn.Conv2d(c_in, c_out, k, stride, padding)
    x = torch.randn(N, c_in, size, size, requires_grad=True)
    h_out = (size + 2 * padding - k) // stride + 1
    fwd, bwd = flops.forward_backward_flops(conv, x)
    assert fwd == 2 * N * c_out * h_out * h_out * c_in * k * k
    assert bwd == 2 * fwd


def test_conv_transpose2d_matches_hand_count(flops):
    # A transposed conv does one multiply-add per (input pixel, input channel, output channel, tap).
    N, c_in, c_out, size, k = 2, 6, 4, 7, 4
    conv = nn.ConvTranspose2d(c_in, c_out, k, 2, 1, bias=False)
    x = torch.randn(N, c_in, size, size, requires_grad=True)
    fwd, bwd = flops.forward_backward_flops(conv, x)
    assert fwd == 2 * N * c_in * size * size * c_out * k * k
    assert bwd == 2 * fwd


def test_count_flops_sums_everything_that_runs(flops):
    a, b = torch.randn(8, 16), torch.randn(16, 4)
    total, by_op = flops.count_flops_by_op(lambda: (a @ b, a @ b))
    assert total == 2 * (2 * 8 * 16 * 4) == flops.count_flops(lambda: (a @ b, a @ b))
    assert sum(by_op.values()) == total


def test_peak_and_machine_description_have_the_reported_fields(flops):
    peak = flops.measure_peak_gflops(sizes=(32, 64), reps=1, warmup=0, threads=1)
    assert set(peak["by_size"]) == {32, 64} and peak["best_size"] in (32, 64)
    assert peak["peak_gflops"] == max(peak["by_size"].values()) > 0 and peak["threads"] == 1
    info = flops.machine_info()
    for key in ("cpu", "usable_cores", "torch", "torch_threads", "load_average_1_5_15"):
        assert key in info


@pytest.mark.slow
def test_matched_reference_does_the_same_matmuls_as_gankits_step(tiny_idx_dir, tmp_path, monkeypatch):
    """The throughput benchmark's 'matched' loop claims to do gankit's step; the FLOP counts agree,
    and the plain loop does more (it also computes D's weight gradients in the G step)."""
    from gankit.data import load_dataset

    monkeypatch.setattr(sys, "path", list(sys.path))  # the script puts benchmarks/ on it
    throughput = _load("throughput")
    preset_config = throughput.bench_config

    def small_batch(**kw):  # the preset's architecture at batch 16, to keep the test quick
        cfg = preset_config(**kw)
        cfg.train.batch_size, cfg.train.kimg = 16, (kw["steps"] - 0.5) * 16 / 1000
        return cfg

    monkeypatch.setattr(throughput, "bench_config", small_batch)
    args = {"name": "dcgan-28", "channels_last": False, "out": tmp_path / "run", "threads": 1,
            "limit": 128, "data_dir": str(tiny_idx_dir)}
    cfg = small_batch(**args, steps=1, log_every=1)
    counts = throughput.count_step_flops(args, cfg, load_dataset(cfg.data).x)
    assert counts["gankit"] == counts["matched"] > 0
    assert counts["reference"] > counts["matched"]
