#!/usr/bin/env python
"""Training throughput: gankit's own training loop against a plain PyTorch loop of the same models.

    python benchmarks/throughput.py [--quick] [--out benchmarks/results/throughput.md]

For each main config (MLP, DCGAN-28, dcgan-tf, DCGAN-32 RGB; the conv ones with
train.channels_last off and on) it measures images/s of

- gankit:    gankit.training.loop.train itself (the code path `gankit train` runs), timed
             step by step at its batch draws, first window skipped; the extra cost of its
             logging windows is measured and amortized over the preset's train.log_every;
- reference: a plain, idiomatic PyTorch loop of a few dozen lines (the PyTorch DCGAN
             example's step: D on real and on fake.detach(), then G through D on the
             same fake; BCE-with-logits; torch.optim.Adam with default options) on
             the same models (gankit.models.build), batch, Adam lr/betas and data;
- matched:   the reference with gankit's two step-level choices (D frozen during the
             G step, foreach Adam), so gankit/matched isolates the loop's own overhead.

Fair under noise (the machine may be shared): the loops run interleaved step by step
(one reference and one matched step are run, each timed on its own, at every batch draw
of gankit's train()), every step is timed on the wall clock and on the process CPU clock,
a round's figure is its median step, and the reported figures are medians over rounds
(ratios: medians of per-round ratios). The fp32 matmul peak is measured in the same run
(every round), and achieved GFLOP/s = counted FLOPs per image x img/s.
Writes Markdown to --out and JSON beside it (same name, .json).
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import flops  # noqa: E402  (benchmarks/flops.py)

from gankit import config as C  # noqa: E402
from gankit.data import load_dataset  # noqa: E402
from gankit.training.state import Batches  # noqa: E402
from gankit.models import build  # noqa: E402
from gankit.training.loop import train  # noqa: E402

# name -> (preset, overrides, what it is); the model sizes come from the preset as shipped
CONFIGS = {
    "mlp-28": ("fashion-dcgan", ["model.arch=mlp", "model.width=512", "model.depth=3", "model.z_dim=100",
                                 "model.ema_half_life_kimg=0"],
               "the 2014 GAN MLP on Fashion-MNIST 1x28x28 (fashion-dcgan's optimizer and batch)"),
    "dcgan-28": ("fashion-dcgan", [], "the default preset as shipped, Fashion-MNIST 1x28x28"),
    "dcgan-tf": ("dcgan-tf", [], "the dcgan-tf preset (TF tutorial DCGAN), Fashion-MNIST 1x28x28"),
    "dcgan-32-rgb": ("fashion-dcgan", ["data.resolution=32", "data.channels=3"],
                     "the default preset at 3x32x32 (Fashion-MNIST resized, grey->RGB: CIFAR-shaped)"),
    "probe": ("fashion-dcgan", ["model.arch=mlp", "model.width=8", "model.depth=1", "model.z_dim=8",
                                "model.ema_half_life_kimg=0"],
              "not a real config: a model so small that a step is almost all loop overhead"),
}
CONV = {"dcgan-28", "dcgan-tf", "dcgan-32-rgb"}
LOOPS = ("gankit", "reference", "matched")


def bench_config(name: str, channels_last: bool, out: Path, steps: int, log_every: int | None, threads: int,
                 limit: int, data_dir: str = "") -> C.Config:
    """The config gankit trains with: the preset as is, plus a budget of exactly `steps` G steps,
    no sample grids or checkpoints inside the loop, fixed threads, CPU; log_every None keeps the preset's."""
    preset, extra, _ = CONFIGS[name]
    bench = {"out": str(out), "data": {"limit": limit},
             "train": {"minutes": 0.0, "epochs": 0.0, "kimg": 1.0,
                       "sample_every_kimg": 1e9, "checkpoint_every_kimg": 0.0, "threads": threads,
                       "device": "cpu", "channels_last": channels_last}}
    if log_every is not None:
        bench["train"]["log_every"] = log_every
    if data_dir:
        bench["data"]["path"] = data_dir
    cfg = C.resolve(preset=preset, overrides=[*extra, bench])
    # Half a batch short of `steps` batches, so float rounding cannot add or drop a step.
    cfg.train.kimg = (steps - 0.5) * cfg.train.batch_size / 1000
    C.validate(cfg)
    return cfg


class ReferenceLoop:
    """A plain PyTorch GAN training loop, as a practitioner would write it (PyTorch DCGAN example).

    The whole (limited) dataset is one float tensor in [-1, 1]; batches are slices of a
    random permutation. `matched` adds gankit's step-level choices: foreach Adam, D's
    parameters frozen during the G step (so no D weight gradients are computed there), and,
    when the config asks for it (model.ema_half_life_kimg), an EMA copy of G updated per step.
    """

    def __init__(self, cfg: C.Config, x_uint8: torch.Tensor, matched: bool = False, compiled: bool = False):
        torch.manual_seed(cfg.train.seed)
        self.G, self.D = build(cfg.model, tuple(x_uint8.shape[1:]))
        fmt = torch.channels_last if cfg.train.channels_last and x_uint8.ndim == 4 else torch.contiguous_format
        self.G.to(memory_format=fmt)
        self.D.to(memory_format=fmt)
        # compiled: the forward passes through torch.compile (the optimizers, shared parameters, stay eager)
        self.G_fwd, self.D_fwd = (torch.compile(self.G), torch.compile(self.D)) if compiled else (self.G, self.D)
        self.x = (x_uint8.float() / 127.5 - 1).contiguous(memory_format=fmt)
        o, extra = cfg.optim, ({"foreach": True} if matched else {})
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=o.lr_g, betas=(o.beta1, o.beta2), **extra)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=o.lr_d, betas=(o.beta1, o.beta2), **extra)
        self.B, self.z_dim, self.matched = cfg.train.batch_size, cfg.model.z_dim, matched
        self.criterion = nn.BCEWithLogitsLoss()
        self.ones, self.zeros = torch.ones(self.B), torch.zeros(self.B)
        self.perm, self.pos = torch.randperm(len(self.x)), 0
        self.G_ema = None
        if matched and cfg.model.ema_half_life_kimg > 0:
            self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
            self.ema_beta = 0.5 ** (self.B / (cfg.model.ema_half_life_kimg * 1000))

    def step(self):
        B, G, D = self.B, self.G_fwd, self.D_fwd
        if self.pos + B > len(self.x):
            self.perm, self.pos = torch.randperm(len(self.x)), 0
        real = self.x[self.perm[self.pos:self.pos + B]]
        self.pos += B
        fake = G(torch.randn(B, self.z_dim))
        # (1) D: maximise log D(x) + log(1 - D(G(z)))
        loss_d = self.criterion(D(real), self.ones) + self.criterion(D(fake.detach()), self.zeros)
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        # (2) G: maximise log D(G(z)) (non-saturating), through the updated D, on the same fake
        if self.matched:
            self.D.requires_grad_(False)
        loss_g = self.criterion(D(fake), self.ones)
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        if self.matched:
            self.D.requires_grad_(True)
        if self.G_ema is not None:
            with torch.no_grad():
                torch._foreach_lerp_(list(self.G_ema.parameters()), list(self.G.parameters()), 1 - self.ema_beta)
                for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                    b_ema.copy_(b)
        return loss_d, loss_g


_CLOCKS = ("wall", "cpu")


def _now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


class _Interleaved:
    """Runs the other loops step by step inside gankit's own loop, so every loop is timed under
    the same moment's load: at each of gankit's batch draws (`Batches.next`, once per step with
    train.d_steps = 1) one step of each other loop runs first, timed on its own.

    gankit's step i is the time from the end of draw i's extra work to draw i + 1."""

    def __init__(self, others: dict):
        self.others = others          # name -> step function
        self.draws = []               # per draw: (time in, {name: (wall, cpu) seconds}, time out)
        self._next = Batches.next

    def __enter__(self):
        draws, draw, others = self.draws, self._next, self.others

        def interleaved(batches):
            t_in, spent = _now(), {}
            for name, step in others.items():
                a = _now()
                step()
                b = _now()
                spent[name] = (b[0] - a[0], b[1] - a[1])
            draws.append((t_in, spent, _now()))
            return draw(batches)

        Batches.next = interleaved
        return self

    def __exit__(self, *exc):
        Batches.next = self._next


def _median(xs):
    return flops.median(xs)


def _rates(steps: list, B: int, log_every: int | None = None, spw: int = 0) -> dict:
    """img/s on both clocks from per-step (wall, cpu) seconds: median step, so a moment of contention
    that lands on one step of one loop does not move the figure.

    With `log_every`, every spw-th step held a logging window's work (metrics line, checks,
    snapshots): the others are timed apart, and the logging cost is added back amortized over
    `log_every` steps (the config's own train.log_every), as a real run pays it."""
    out = {}
    for c, clock in enumerate(_CLOCKS):
        if log_every is None:
            out[clock] = B / _median([x[c] for x in steps])
            continue
        plain = _median([x[c] for i, x in enumerate(steps) if (i + 1) % spw])
        logs = _median([x[c] for i, x in enumerate(steps) if (i + 1) % spw == 0])
        extra = max(logs - plain, 0.0)
        out[clock] = B / (plain + extra / log_every)
        out[f"{clock}_steps_only"] = B / plain
        out[f"{clock}_log_window_ms"] = 1000 * extra
    return out


def interleaved_round(cfg_args: dict, cfg: C.Config, x: torch.Tensor, spw: int, windows: int,
                      compiled: "ReferenceLoop | None" = None) -> dict:
    """One round: gankit's train() for a warm-up window plus `windows` windows of `spw` steps
    (logging every `spw` steps), with a fresh reference and matched loop (and the persistent
    compiled one, if given) stepping in between its steps. Returns {loop: rates}."""
    log_every = bench_config(**cfg_args, steps=1, log_every=None).train.log_every
    run = bench_config(**cfg_args, steps=spw * (windows + 1) + 1, log_every=spw)
    others = {"reference": ReferenceLoop(cfg, x, matched=False), "matched": ReferenceLoop(cfg, x, matched=True)}
    if cfg_args["name"] in CONV:  # the matched loop in the other memory format: channels_last's effect, interleaved
        flipped = copy.deepcopy(cfg)
        flipped.train.channels_last = not cfg.train.channels_last
        others["matched_other_format"] = ReferenceLoop(flipped, x, matched=True)
    if compiled is not None:
        others["compiled"] = compiled
    with _Interleaved({name: loop.step for name, loop in others.items()}) as il:
        train(run, overwrite=True, progress=False)
    d = il.draws
    if len(d) != spw * (windows + 1) + 1:
        raise RuntimeError(f"expected {spw * (windows + 1) + 1} batch draws, saw {len(d)}")
    gankit = [tuple(d[i + 1][0][c] - d[i][2][c] for c in range(2)) for i in range(len(d) - 1)]
    out = {"gankit": _rates(gankit[spw:], run.train.batch_size, log_every, spw)}
    for name in others:  # the others' steps at draws 1.. pair with gankit's steps 0..
        out[name] = _rates([d[i][1][name] for i in range(spw + 1, len(d))], run.train.batch_size)
    return out


def count_step_flops(cfg_args: dict, cfg: C.Config, x: torch.Tensor) -> dict:
    """FLOPs of one training step: gankit's measured on train() itself (2 steps minus 1 step,
    so set-up, grids and export cancel), the references' on one step of their loop."""
    runs = []
    for steps in (1, 2):
        c = bench_config(**cfg_args, steps=steps, log_every=1)
        runs.append(flops.count_flops(lambda: train(c, overwrite=True, progress=False)))
    out = {"gankit": runs[1] - runs[0]}
    for loop, matched in (("reference", False), ("matched", True)):
        ref = ReferenceLoop(cfg, x, matched)
        ref.step()  # Adam state exists from here on; it has no matmuls anyway
        out[loop] = flops.count_flops(ref.step)
    return out


def describe(cfg: C.Config) -> str:
    m, d = cfg.model, cfg.data
    size = f"depth {m.depth}, width {m.width}" if m.arch == "mlp" else ("" if m.arch == "dcgan-tf" else f"width {m.width}")
    ema = f", EMA half-life {m.ema_half_life_kimg:g} kimg" if m.ema_half_life_kimg > 0 else ""
    return f"{m.arch} {size}, z {m.z_dim}{ema}; {d.channels}x{d.resolution}x{d.resolution}".replace(" ,", ",")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="3 rounds of shorter windows (about 8 minutes on 2 busy cores)")
    p.add_argument("--out", default="benchmarks/results/throughput.md", help="Markdown report (JSON beside it)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5, quick 3)")
    p.add_argument("--windows", type=int, default=3, help="timed windows per loop per round (after one warm-up)")
    p.add_argument("--window-seconds", type=float, default=None, help="target window length (default 1.0, quick 0.6)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's default)")
    p.add_argument("--limit", type=int, default=8192, help="data.limit: images held in memory")
    p.add_argument("--data-dir", default="", help="data.path for Fashion-MNIST (default: gankit's search)")
    p.add_argument("--configs", default=",".join(CONFIGS), help=f"comma list of {', '.join(CONFIGS)}")
    p.add_argument("--no-channels-last", action="store_true", help="skip the channels_last variants")
    p.add_argument("--compile", action="store_true",
                   help="also time the matched loop with torch.compile'd G and D forwards (compile time reported apart)")
    p.add_argument("--compile-configs", default="dcgan-28", help="configs the --compile loop runs on")
    p.add_argument("--render", metavar="JSON", help="only rewrite --out's Markdown from a saved JSON report")
    a = p.parse_args(argv)
    if a.render:
        Path(a.out).write_text(markdown(json.loads(Path(a.render).read_text())))
        return 0
    rounds = a.rounds or (3 if a.quick else 5)
    window_s = a.window_seconds or (0.6 if a.quick else 1.0)
    threads = a.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    names = [n.strip() for n in a.configs.split(",") if n.strip()]
    for n in names:
        if n not in CONFIGS:
            p.error(f"--configs: unknown {n!r} (known: {', '.join(CONFIGS)})")
    variants = [(n, False) for n in names] + ([] if a.no_channels_last else [(n, True) for n in names if n in CONV])

    started = time.time()
    machine = flops.machine_info()
    print(f"machine: {machine['cpu']}, {machine['usable_cores']} cores, torch {machine['torch']}, "
          f"{threads} threads, load {machine['load_average_1_5_15']}", flush=True)
    peak0 = flops.measure_peak_gflops(sizes=(512, 1024, 2048), reps=5)
    print(f"peak (start): {peak0['peak_gflops']:.1f} GFLOP/s at n={peak0['best_size']} (wall), "
          f"{peak0['cpu']['peak_gflops']:.1f} GFLOP per CPU-second", flush=True)
    peak_sizes = tuple(sorted({512, 1024, 2048}))

    compile_names = {n.strip() for n in a.compile_configs.split(",")} if a.compile else set()
    if compile_names:
        for knob in ("recompile_limit", "cache_size_limit"):  # one graph per config, memory format, D mode
            if hasattr(torch._dynamo.config, knob):
                setattr(torch._dynamo.config, knob, 64)
    tmp = Path(tempfile.mkdtemp(prefix="gankit-bench-"))
    state = {}
    for name, cl in variants:
        args = {"name": name, "channels_last": cl, "out": tmp / f"{name}-{int(cl)}", "threads": threads,
                "limit": a.limit, "data_dir": a.data_dir}
        cfg = bench_config(**args, steps=1, log_every=1)
        x = load_dataset(cfg.data, seed=cfg.train.seed).x
        ref = ReferenceLoop(cfg, x)
        ref.step()
        t = time.perf_counter()
        ref.step()
        est = cfg.train.batch_size / (time.perf_counter() - t)  # calibrates the window length
        spw = max(3, round(window_s * est / cfg.train.batch_size))
        fl = count_step_flops(args, cfg, x)
        loops = LOOPS + (("compiled",) if name in compile_names else ())
        fl["compiled"] = fl["matched"]  # the same operations, fused differently
        state[(name, cl)] = {"args": args, "cfg": cfg, "x": x, "spw": spw, "flops_per_step": fl,
                             "log_every": bench_config(**args, steps=1, log_every=None).train.log_every,
                             "runs": {loop: [] for loop in loops}}
        print(f"{name:13s} channels_last={cl!s:5s} batch {cfg.train.batch_size}, {spw} steps/window, "
              f"MFLOP/step gankit {fl['gankit'] / 1e6:.0f} reference {fl['reference'] / 1e6:.0f} "
              f"matched {fl['matched'] / 1e6:.0f}", flush=True)
        if "compiled" in loops:
            ref = ReferenceLoop(cfg, x, matched=True, compiled=True)
            times = []
            for _ in range(4):
                t = time.perf_counter()
                ref.step()
                times.append(time.perf_counter() - t)
            state[(name, cl)].update(compiled_loop=ref, compile_seconds=times[0] - flops.median(times[1:]))
            print(f"{name:13s} channels_last={cl!s:5s} torch.compile: first step took {times[0]:.1f} s "
                  f"(compile ~{state[(name, cl)]['compile_seconds']:.1f} s)", flush=True)

    peaks, loads = [], []
    for r in range(rounds):
        peaks.append(flops.measure_peak_gflops(sizes=peak_sizes, reps=3, warmup=1))
        loads.append(flops.load_average())
        order = variants[r % len(variants):] + variants[:r % len(variants)]
        for key in order:
            s = state[key]
            for loop, v in interleaved_round(s["args"], s["cfg"], s["x"], s["spw"], a.windows,
                                             s.get("compiled_loop")).items():
                s["runs"].setdefault(loop, []).append(v)
            print(f"round {r + 1}/{rounds} {key[0]:13s} cl={key[1]!s:5s} " +
                  " ".join(f"{loop} {v[-1]['wall']:6.0f} ({v[-1]['cpu']:6.0f}/cpu-s)" for loop, v in s["runs"].items())
                  + " img/s", flush=True)
    peaks.append(flops.measure_peak_gflops(sizes=peak_sizes, reps=3, warmup=1))
    loads.append(flops.load_average())
    shutil.rmtree(tmp, ignore_errors=True)  # the benchmark's throwaway runs
    peak = {"wall": flops.median([pk["peak_gflops"] for pk in peaks]),
            "cpu": flops.median([pk["cpu"]["peak_gflops"] for pk in peaks])}

    def paired(xs, ys, clock):
        return flops.median([x[clock] / y[clock] for x, y in zip(xs, ys)])

    def spread(xs, ys, clock):
        r = [x[clock] / y[clock] for x, y in zip(xs, ys)]
        return [min(r), max(r)]

    results = []
    for (name, cl), s in state.items():
        B, runs = s["cfg"].train.batch_size, s["runs"]
        row = {"config": name, "channels_last": cl, "description": CONFIGS[name][2],
               "model": describe(s["cfg"]), "batch_size": B, "steps_per_window": s["spw"],
               "rounds": runs, "flops_per_step": s["flops_per_step"]}
        for loop in runs:
            if loop == "matched_other_format":
                continue
            row[loop] = {}
            for clock in ("wall", "cpu"):
                ips = flops.median([v[clock] for v in runs[loop]])
                gflops = s["flops_per_step"][loop] / B * ips / 1e9
                row[loop][clock] = {"img_per_s": ips, "gflop_per_s": gflops, "share_of_peak": gflops / peak[clock]}
        for ref in ("reference", "matched"):
            row[f"ratio_vs_{ref}"] = {clock: paired(runs["gankit"], runs[ref], clock) for clock in ("wall", "cpu")}
            row[f"ratio_vs_{ref}_range_cpu"] = spread(runs["gankit"], runs[ref], "cpu")
        # gankit's own bookkeeping: CPU microseconds per ordinary step beyond the matched loop, and the
        # extra CPU milliseconds of each logging window (amortized over train.log_every in the img/s above)
        row["log_every"] = s["log_every"]
        row["extra_cpu_us_per_step"] = flops.median(
            [(1 / g["cpu_steps_only"] - 1 / m["cpu"]) * B * 1e6 for g, m in zip(runs["gankit"], runs["matched"])])
        row["log_window_cpu_ms"] = flops.median([g["cpu_log_window_ms"] for g in runs["gankit"]])
        if "compiled" in runs:
            row["compile_seconds"] = s["compile_seconds"]
            for ref in ("matched", "gankit"):
                row[f"compiled_vs_{ref}"] = {clock: paired(runs["compiled"], runs[ref], clock)
                                             for clock in ("wall", "cpu")}
        results.append(row)
    cl_effect = []
    for name in names:
        if name not in CONV:
            continue
        # The matched loop in both formats, stepping side by side in the same rounds (pooled over both variants).
        pairs = []
        for cl in (False, True):
            if (name, cl) in state:
                runs = state[(name, cl)]["runs"]
                on, off = ("matched", "matched_other_format") if cl else ("matched_other_format", "matched")
                pairs += list(zip(runs[on], runs[off]))
        effect = {"config": name, "matched_interleaved": {
            clock: flops.median([a[clock] / b[clock] for a, b in pairs]) for clock in _CLOCKS},
            "matched_interleaved_range_cpu": spread([a for a, _ in pairs], [b for _, b in pairs], "cpu")}
        if (name, True) in state and (name, False) in state:
            on, off = state[(name, True)]["runs"], state[(name, False)]["runs"]
            effect["gankit_rounds_apart"] = {clock: paired(on["gankit"], off["gankit"], clock) for clock in _CLOCKS}
        cl_effect.append(effect)

    report = {"benchmark": "training throughput", "command": "python benchmarks/throughput.py " +
              " ".join(argv if argv is not None else sys.argv[1:]),
              "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)),
              "wall_seconds": round(time.time() - started), "machine": machine, "threads": threads,
              "gankit_source": flops.source_state(), "rounds": rounds, "windows_per_round": a.windows,
              "data_limit": a.limit, "peak": {"start": peak0, "rounds": peaks, "median_gflops": peak},
              "load_average_per_round": loads, "results": results, "channels_last_speedup": cl_effect}
    flops.write_report(report, a.out, markdown)
    return 0


def markdown(rep: dict) -> str:
    m, pk = rep["machine"], rep["peak"]
    loads = [la[0] for la in rep["load_average_per_round"] if la]
    lines = [
        "# Training throughput: gankit's loop vs a plain PyTorch loop",
        "",
        f"`{rep['command']}` — {rep['date_utc']} UTC, {rep['wall_seconds']} s wall.",
        "",
        f"- Machine: {m['cpu']} ({', '.join(m['cpu_flags'])}); {m['usable_cores']} usable cores; "
        f"torch {m['torch']}, **{rep['threads']} intra-op thread(s)**; Python {m['python']}.",
        f"- Load average (1 min) at start {m['load_average_1_5_15'][0] if m['load_average_1_5_15'] else '?'}, "
        f"per round {', '.join(f'{v:.1f}' for v in loads)}: the machine is shared, so wall-clock figures are noisy. "
        "The loops run interleaved step by step, each round's figure is its median step, and ratios are paired "
        "per round; each figure is also given "
        "per second of process CPU time (a clock that stops while the process waits for a core), "
        "which is the steadier basis for ratios.",
        f"- fp32 matmul peak, measured every round (median; sizes {', '.join(str(n) for n in pk['start']['by_size'])}, "
        f"best size's median): **{pk['median_gflops']['wall']:.1f} GFLOP/s wall, "
        f"{pk['median_gflops']['cpu']:.1f} GFLOP per CPU-second**.",
        f"- gankit measured at {rep['gankit_source']}.",
        f"- {rep['rounds']} rounds x {rep['windows_per_round']} timed windows of a few steps (after a warm-up window); "
        f"medians over rounds. Data: Fashion-MNIST, first {rep['data_limit']} images, in memory.",
        "",
        "| config | channels_last | gankit img/s | reference img/s | gankit / reference (wall) | "
        "gankit / reference (CPU; range over rounds) | gankit / matched (CPU; range) | "
        "gankit logging window, CPU ms (log_every) | "
        "gankit GFLOP per CPU-s | share of peak (CPU clock) | MFLOP/img gankit, reference |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rep["results"]:
        B = r["batch_size"]
        g, ref = r["gankit"], r["reference"]
        lines.append(
            f"| {r['config']} | {'on' if r['channels_last'] else 'off'} | {g['wall']['img_per_s']:.0f} | "
            f"{ref['wall']['img_per_s']:.0f} | {r['ratio_vs_reference']['wall']:.2f} | "
            f"**{r['ratio_vs_reference']['cpu']:.2f}** ({r['ratio_vs_reference_range_cpu'][0]:.2f}–"
            f"{r['ratio_vs_reference_range_cpu'][1]:.2f}) | {r['ratio_vs_matched']['cpu']:.2f} "
            f"({r['ratio_vs_matched_range_cpu'][0]:.2f}–{r['ratio_vs_matched_range_cpu'][1]:.2f}) | "
            f"{r['log_window_cpu_ms']:.0f} ({r['log_every']}) | "
            f"{g['cpu']['gflop_per_s']:.1f} | "
            f"{100 * g['cpu']['share_of_peak']:.0f}% | "
            f"{r['flops_per_step']['gankit'] / B / 1e6:.1f}, {r['flops_per_step']['reference'] / B / 1e6:.1f} |")
    probe = [r for r in rep["results"] if r["config"] == "probe"]
    if probe:
        lines += ["", f"gankit's own per-step bookkeeping, measured on the probe (a step of almost pure overhead): "
                  f"**{probe[0]['extra_cpu_us_per_step']:+.0f} CPU µs per step** over the matched loop, plus "
                  f"{probe[0]['log_window_cpu_ms']:.0f} ms per logging window. On the real configs that is well "
                  "inside the round-to-round noise (their per-step difference is in the JSON as extra_cpu_us_per_step)."]
    lines += ["", "Configs:", ""]
    for r in rep["results"]:
        if not r["channels_last"]:
            lines.append(f"- {r['config']}: {r['model']}, batch {r['batch_size']} — {r['description']}.")
    if rep["channels_last_speedup"]:
        lines += ["", "channels_last speed-up, img/s with channels_last / without (median of per-round ratios). "
                  "The first columns time both formats side by side, step by step (the matched loop); gankit's two "
                  "formats are separate train() runs in different rounds, so its ratio carries the machine's drift "
                  "(the gankit / matched column above shows gankit keeps the matched loop's pace in either format):", "",
                  "| config | interleaved, CPU clock (range) | interleaved, wall clock | gankit, rounds apart, CPU clock |",
                  "|---|---|---|---|"]
        for c in rep["channels_last_speedup"]:
            lo, hi = c["matched_interleaved_range_cpu"]
            apart = c.get("gankit_rounds_apart")
            lines.append(f"| {c['config']} | **{c['matched_interleaved']['cpu']:.2f}x** ({lo:.2f}–{hi:.2f}) | "
                         f"{c['matched_interleaved']['wall']:.2f}x | "
                         + (f"{apart['cpu']:.2f}x |" if apart else "– |"))
    compiled = [r for r in rep["results"] if "compiled" in r]
    if compiled:
        lines += ["", "torch.compile of the G and D forwards (the matched loop; optimizers eager; compile time is "
                  "the first step's extra wall time, apart from the steady state):", "",
                  "| config | channels_last | compile s | compiled img/s | compiled / matched (CPU) | "
                  "compiled / gankit (CPU) |", "|---|---|---|---|---|---|"]
        for r in compiled:
            lines.append(f"| {r['config']} | {'on' if r['channels_last'] else 'off'} | {r['compile_seconds']:.0f} | "
                         f"{r['compiled']['wall']['img_per_s']:.0f} | {r['compiled_vs_matched']['cpu']:.2f} | "
                         f"{r['compiled_vs_gankit']['cpu']:.2f} |")
    lines += [
        "",
        "Loops: *gankit* is `gankit.training.loop.train` itself (tqdm off, TensorBoard logging on as installed), "
        "timed step by step between its batch draws, where the other loops' steps run; it logs every few steps here, and each logging window's extra "
        "cost (metrics line, checks, snapshots, diversity sample) is measured and amortized over the config's "
        "`train.log_every`, as a real run pays it. *reference* is a plain PyTorch loop "
        "(the PyTorch DCGAN example's step, BCE-with-logits, default `torch.optim.Adam`) on the same models, "
        "batch, learning rates and betas. *matched* is that loop with gankit's step-level choices "
        "(D frozen during the G step, so no D weight gradients there; foreach Adam; the EMA of G when the "
        "config has one), so gankit / matched and the extra µs/step are the cost of gankit's own bookkeeping. "
        "FLOPs count matmuls and convolutions (forward and backward) with `torch.utils.flop_counter`; gankit's "
        "are measured on `train()` itself (a 2-step run minus a 1-step run). Share of peak = achieved FLOP per "
        "CPU-second / the matmul peak's FLOP per CPU-second, both measured in this run.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
