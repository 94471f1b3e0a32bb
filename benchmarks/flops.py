"""FLOP counting, the machine's fp32 matrix-multiply peak, and the machine description.

Shared by the benchmark scripts (benchmarks/ is not a package: the scripts put
this folder on sys.path; tests load this file by path).

FLOPs are counted with torch.utils.flop_counter.FlopCounterMode, which counts
the matmuls and convolutions (transposed ones included) of whatever runs under
it, forward and backward alike, at 2 FLOPs per multiply-add; elementwise work
(activations, batch norm, the optimizer) is not counted, as is usual for
"achieved FLOP/s" figures.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_flops", "count_flops_by_op", "forward_backward_flops", "measure_peak_gflops",
           "machine_info", "load_average", "median"]


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs (matmul + conv, forward and backward) of everything `fn()` runs."""
    return count_flops_by_op(fn)[0]


def count_flops_by_op(fn: Callable[[], object]) -> tuple[int, dict[str, int]]:
    """(total FLOPs, {aten op name: FLOPs}) of everything `fn()` runs."""
    with FlopCounterMode(display=False) as counter:
        fn()
    by_op = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    return int(counter.get_total_flops()), by_op


def forward_backward_flops(module: torch.nn.Module, *inputs: torch.Tensor) -> tuple[int, int]:
    """(forward FLOPs, backward FLOPs) of ``module(*inputs).sum().backward()``.

    Backward covers the gradients of every tensor that requires one: the
    parameters, and the inputs created with requires_grad=True.
    """
    with FlopCounterMode(display=False) as fwd:
        out = module(*inputs)
    with FlopCounterMode(display=False) as bwd:
        out.sum().backward()
    return int(fwd.get_total_flops()), int(bwd.get_total_flops())


def median(values) -> float:
    return float(statistics.median(values))


def _time_mm(n: int, reps: int, warmup: int) -> tuple[float, float]:
    """Median (wall, process CPU) seconds of one fp32 (n x n) @ (n x n) product, output buffer reused."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    c = torch.empty(n, n)
    for _ in range(warmup):
        torch.mm(a, b, out=c)
    wall, cpu = [], []
    for _ in range(reps):
        t, u = time.perf_counter(), time.process_time()
        torch.mm(a, b, out=c)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - u)
    return median(wall), median(cpu)


def measure_peak_gflops(sizes=(512, 1024, 2048), reps: int = 5, warmup: int = 2,
                        threads: int | None = None) -> dict:
    """The fp32 matrix-multiply peak in GFLOP/s with the threads in use (or `threads`).

    Each size is timed `reps` times (after `warmup` runs); a size's figure is its
    median, and the peak is the best size's. Medians, not maxima, so one lucky
    run on a shared machine does not set the bar.
    Returns {"peak_gflops", "best_size", "by_size": {n: GFLOP/s}, "threads", "cpu": {...}}, where
    "cpu" holds the same per second of process CPU time ("peak_gflops", "by_size"): on a shared
    machine that clock does not run while the process waits for a core, so it is the steadier one.
    """
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        times = {int(n): _time_mm(n, reps, warmup) for n in sizes}
        used = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    by_size = {n: 2 * n ** 3 / wall / 1e9 for n, (wall, _) in times.items()}
    by_size_cpu = {n: 2 * n ** 3 / max(cpu, 1e-9) / 1e9 for n, (_, cpu) in times.items()}
    best = max(by_size, key=by_size.get)
    return {"peak_gflops": by_size[best], "best_size": best, "by_size": by_size, "threads": used,
            "cpu": {"peak_gflops": max(by_size_cpu.values()), "by_size": by_size_cpu}}


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux/macOS
        return None


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return sorted(f for f in flags if f.startswith(("avx512f", "avx512_bf16", "amx", "avx2", "fma")))
    except OSError:
        pass
    return []


def machine_info() -> dict:
    """What the figures were measured on: CPU, cores, torch build, threads, load."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        usable = os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1_5_15": load_average(),
    }


def write_report(report: dict, out: str, markdown: Callable[[dict], str]) -> None:
    """Write a benchmark's JSON (beside `out`) and its Markdown rendering (`out`), and print the latter."""
    import json
    from pathlib import Path
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    text = markdown(report)
    path.write_text(text)
    print(text)


def source_state() -> str:
    """The gankit commit measured, and whether the training code had uncommitted changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src/gankit/training", "src/gankit/models",
                                "src/gankit/data", "src/gankit/presets"], cwd=root, capture_output=True,
                               text=True, check=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    changed = [line[3:] for line in dirty if line.strip()]
    return head + (f" + uncommitted changes in {', '.join(changed)}" if changed else "")


def run_commands(jobs: list[tuple[str, list[str], Path]], parallel: bool = True) -> None:
    """Run commands given as (name, argv, log file): all at once, each pinned with `taskset` to a core
    of its own (when there are several cores and taskset exists), or one after another. A failed
    one ends the benchmark with a line naming its log."""
    import shutil
    cores = sorted(os.sched_getaffinity(0))
    pin = parallel and len(cores) > 1 and shutil.which("taskset") is not None
    running = []
    for i, (name, cmd, log) in enumerate(jobs):
        if pin:
            cmd = ["taskset", "-c", str(cores[i % len(cores)]), *cmd]
        print("$", " ".join(cmd), flush=True)
        with open(log, "w") as out:
            running.append((name, log, subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)))
        if not parallel:
            _wait(*running.pop())
    for job in running:
        _wait(*job)


def _wait(name: str, log: Path, process: subprocess.Popen) -> None:
    if process.wait() != 0:
        raise SystemExit(f"{name} failed: see {log}")
