#!/usr/bin/env python
"""Sampling throughput: generated images/s of each preset's generator at batch 1, 64 and 1024,
and the time to sample a 10k-image evaluation set with the default preset.

    python benchmarks/sampling.py [--quick] [--out benchmarks/results/sampling.md]

Two paths are timed per batch size n, interleaved round by round:
- `G.sample(n, seed=s)`: the library's API. It runs the network on fixed, index-aligned
  chunks of 64 latents (so sample i of a seed is bitwise the same for any n), drawing
  each chunk's latents from its seeded stream; n = 1 therefore costs a whole chunk.
- raw forward: `G(z)` on one (n, z_dim) batch under torch.inference_mode in eval mode,
  which is what the hardware can do at that batch size (conv presets also in channels_last).
Generators are freshly initialised (weights do not change the cost). Presets that build the
same network (e.g. fashion-dcgan and mnist-dcgan) are measured once.
Writes Markdown to --out and JSON beside it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import flops  # noqa: E402  (benchmarks/flops.py)

from gankit import config as C  # noqa: E402
from gankit.data import sample_shape  # noqa: E402
from gankit.models import build, latents  # noqa: E402

DEFAULT_PRESET = "fashion-dcgan"
BATCHES = (1, 64, 1024)
EVAL_N = 10_000


def _timed(fn, min_seconds: float) -> tuple[float, float]:
    """(wall, process CPU) seconds per call of fn(), repeating it until min_seconds have passed (>= 1 call)."""
    calls, start, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls, (time.process_time() - cpu) / calls


def generators(names: list[str]) -> dict:
    """preset -> (G, cfg, the presets sharing that network), one per distinct network."""
    seen, out = {}, {}
    for name in names:
        cfg = C.resolve(preset=name)
        shape = sample_shape(cfg.data)
        m = cfg.model
        key = (m.arch, m.z_dim, m.width, m.depth, m.g_spectral_norm, shape)
        if key in seen:
            out[seen[key]][2].append(name)
            continue
        G, _ = build(cfg.model, shape, seed=0)
        seen[key] = name
        out[name] = (G.eval(), cfg, [name])
    return out


def sample_10k_breakdown(G) -> dict:
    """Seconds of the parts of G.sample(10k): drawing the latents chunk by chunk, and the network."""
    chunks = range(0, EVAL_N, 64)
    t = time.perf_counter()
    zs = [latents(64, G.z_dim, 0, lo) for lo in chunks]
    t_lat = time.perf_counter() - t
    with torch.inference_mode():
        t = time.perf_counter()
        for z in zs:
            G(z)
        t_net = time.perf_counter() - t
        z = torch.cat(zs)
        t = time.perf_counter()
        for i in range(0, EVAL_N, 1024):
            G(z[i:i + 1024])
        t_1024 = time.perf_counter() - t
    return {"latents_s": t_lat, "network_chunks64_s": t_net, "network_batch1024_s": t_1024}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="2 rounds, shorter timings")
    p.add_argument("--out", default="benchmarks/results/sampling.md", help="Markdown report (JSON beside it)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3, quick 2)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's default)")
    p.add_argument("--presets", default="", help="comma list (default: all)")
    a = p.parse_args(argv)
    rounds = a.rounds or (2 if a.quick else 3)
    min_s = 0.2 if a.quick else 0.4
    threads = a.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    names = [n.strip() for n in a.presets.split(",") if n.strip()] or C.preset_names()
    if DEFAULT_PRESET not in names:
        names.append(DEFAULT_PRESET)

    started = time.time()
    machine = flops.machine_info()
    print(f"machine: {machine['cpu']}, {machine['usable_cores']} cores, torch {machine['torch']}, "
          f"{threads} threads, load {machine['load_average_1_5_15']}", flush=True)
    gens = generators(names)
    paths = ("sample", "forward", "forward_cl")
    runs = {name: {path: {n: [] for n in BATCHES} for path in paths} for name in gens}
    ten_k, breakdowns, loads = [], [], []
    z_fixed = {name: {n: torch.randn(n, G.z_dim) for n in BATCHES} for name, (G, _, _) in gens.items()}

    for r in range(rounds):
        loads.append(flops.load_average())
        for name, (G, cfg, _) in gens.items():
            conv = len(G.out_shape) == 3 and cfg.model.arch != "mlp"
            for n in BATCHES:
                order = list(paths) if r % 2 == 0 else list(reversed(paths))
                for path in order:
                    if path == "sample":
                        sec, _ = _timed(lambda: G.sample(n, seed=r), min_s)
                    elif path == "forward_cl" and not conv:
                        continue
                    else:
                        fmt = torch.channels_last if path == "forward_cl" else torch.contiguous_format
                        G.to(memory_format=fmt)
                        z = z_fixed[name][n]
                        with torch.inference_mode():
                            sec, _ = _timed(lambda: G(z), min_s)
                        G.to(memory_format=torch.contiguous_format)
                    runs[name][path][n].append(n / sec)
            print(f"round {r + 1}/{rounds} {name:14s} " + "  ".join(
                f"n={n}: sample {runs[name]['sample'][n][-1]:.0f} fwd {runs[name]['forward'][n][-1]:.0f}"
                for n in BATCHES) + " img/s", flush=True)
        G = gens[DEFAULT_PRESET][0]
        ten_k.append(_timed(lambda: G.sample(EVAL_N, seed=r), 0.0))
        breakdowns.append(sample_10k_breakdown(G))
        print(f"round {r + 1}/{rounds} {DEFAULT_PRESET} G.sample({EVAL_N}): {ten_k[-1][0]:.2f} s "
              f"({ten_k[-1][1]:.2f} s CPU)", flush=True)
    loads.append(flops.load_average())

    results = []
    for name, (G, cfg, shared) in gens.items():
        row = {"preset": name, "same_network_as": shared, "arch": cfg.model.arch, "z_dim": cfg.model.z_dim,
               "out_shape": list(G.out_shape), "params": sum(p.numel() for p in G.parameters())}
        for path in paths:
            if runs[name][path][BATCHES[0]]:
                row[path] = {str(n): flops.median(runs[name][path][n]) for n in BATCHES}
        results.append(row)
    bd = {k: flops.median([b[k] for b in breakdowns]) for k in breakdowns[0]}
    report = {"benchmark": "sampling throughput", "command": "python benchmarks/sampling.py " +
              " ".join(argv if argv is not None else sys.argv[1:]), "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)),
              "wall_seconds": round(time.time() - started), "machine": machine, "threads": threads,
              "rounds": rounds, "load_average_per_round": loads, "results": results,
              "eval_set": {"preset": DEFAULT_PRESET, "n": EVAL_N,
                           "seconds_median": flops.median([w for w, _ in ten_k]),
                           "cpu_seconds_median": flops.median([c for _, c in ten_k]),
                           "seconds_rounds": [w for w, _ in ten_k], "cpu_seconds_rounds": [c for _, c in ten_k], "breakdown_median": bd, "target_seconds": 5.0}}
    flops.write_report(report, a.out, markdown)
    return 0


def markdown(rep: dict) -> str:
    m, e = rep["machine"], rep["eval_set"]
    loads = [la[0] for la in rep["load_average_per_round"] if la]
    lines = [
        "# Sampling throughput",
        "",
        f"`{rep['command']}` — {rep['date_utc']} UTC, {rep['wall_seconds']} s wall.",
        "",
        f"- Machine: {m['cpu']}; {m['usable_cores']} usable cores; torch {m['torch']}, {rep['threads']} "
        f"intra-op threads. Load average (1 min) per round: {', '.join(f'{v:.1f}' for v in loads)} "
        "(shared machine: absolute figures are noisy).",
        f"- Medians over {rep['rounds']} interleaved rounds. Images (or toy points) per second.",
        "",
        f"**10k evaluation set, {e['preset']}: `G.sample({e['n']})` takes {e['seconds_median']:.2f} s** "
        f"wall clock, {e['cpu_seconds_median']:.2f} s of process CPU time "
        f"(target < {e['target_seconds']:.0f} s; wall per round: {', '.join(f'{s:.2f}' for s in e['seconds_rounds'])}). "
        f"Of which: latents {e['breakdown_median']['latents_s']:.2f} s, network on chunks of 64 "
        f"{e['breakdown_median']['network_chunks64_s']:.2f} s (the same network on batches of 1024: "
        f"{e['breakdown_median']['network_batch1024_s']:.2f} s).",
        "",
        "| preset (same network) | G.sample n=1 | G.sample n=64 | G.sample n=1024 | forward b=1 | forward b=64 | "
        "forward b=1024 | fwd channels_last b=64 | fwd channels_last b=1024 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rep["results"]:
        s, f, cl = r["sample"], r["forward"], r.get("forward_cl")
        same = f" ({', '.join(x for x in r['same_network_as'][1:])})" if len(r["same_network_as"]) > 1 else ""
        lines.append(f"| {r['preset']}{same} | {s['1']:.0f} | {s['64']:.0f} | {s['1024']:.0f} | {f['1']:.0f} | "
                     f"{f['64']:.0f} | {f['1024']:.0f} | {cl['64']:.0f} | {cl['1024']:.0f} |" if cl else
                     f"| {r['preset']}{same} | {s['1']:.0f} | {s['64']:.0f} | {s['1024']:.0f} | {f['1']:.0f} | "
                     f"{f['64']:.0f} | {f['1024']:.0f} | – | – |")
    lines += ["", "G.sample always runs whole chunks of 64 (bitwise reproducibility across batch sizes), "
              "so its n=1 figure is one 64-chunk's cost for one image; forward is a single raw `G(z)` call "
              "at that batch size under `torch.inference_mode()`.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
