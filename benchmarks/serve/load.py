#!/usr/bin/env python
"""Load test of `gankit serve` on loopback: C concurrent clients for S seconds, latency per endpoint.

    python benchmarks/serve/load.py [--run RUN] [--clients 50] [--seconds 20] [--out benchmarks/serve/results/load.md]

Without --run it first trains the default preset (fashion-dcgan, its real architecture) for
--train-kimg thousand images into a temporary folder, so the service serves a real run with
checkpoints (score needs its discriminator). The service is the real CLI, `python -m gankit
serve RUN --port 0 ...`, in its own process; the clients are asyncio tasks on one httpx client
in this process, each sending its next request as soon as its last one was answered, in a fixed
mix: sample (n=16, PNG grid) 4 in 10, interpolate (2 seeds, 8 steps, JSON frames) 2 in 10,
score (one 28x28 PNG upload) 2 in 10, health and the model card 1 in 10 each.
A 503 (the work queue is full) is the service's answer to more clients than it has places for:
counted apart, and the client waits the Retry-After it was given (at most --max-wait seconds)
before its next request, as the web page does. Anything else 5xx, or a transport error, is a
failure (the exit status is 1).

Writes Markdown to --out and JSON beside it, with the load average before and after, since a
shared machine's latency says as much about the other processes as about the service.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

MIX = ("sample", "interpolate", "sample", "score", "health", "sample", "interpolate", "score", "model", "sample")


def _png() -> bytes:
    import numpy as np
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray((np.arange(28 * 28).reshape(28, 28) % 256).astype("uint8")).save(buf, "PNG")
    return buf.getvalue()


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (nearest rank) of values; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


async def hammer(base: str, clients: int, seconds: float, max_wait: float = 1.0, score: bool = True) -> dict:
    """C clients against the service at `base` for `seconds`; statuses, latencies and failures.

    Returns {"requests", "status": {code: count}, "latency_ms": {endpoint: [ms of each 200]},
    "busy_ms": [ms of each 503], "busy_without_retry_after", "failures": [first few failures]}."""
    import httpx
    image = _png()
    status: Counter = Counter()
    latency: dict[str, list[float]] = defaultdict(list)
    busy_ms: list[float] = []
    failures: list[str] = []
    no_retry_after = 0
    mix = [m for m in MIX if score or m != "score"]
    deadline = time.perf_counter() + seconds

    async def client(i: int, http) -> None:
        nonlocal no_retry_after
        j = 0
        while time.perf_counter() < deadline:
            kind = mix[(i + j) % len(mix)]
            seed = i * 1000 + j
            j += 1
            start = time.perf_counter()
            try:
                if kind == "sample":
                    r = await http.get(f"{base}/api/sample", params={"seed": seed, "n": 16})
                elif kind == "interpolate":
                    r = await http.get(f"{base}/api/interpolate",
                                       params={"seeds": f"{seed},{seed + 1}", "steps": 8, "format": "json"})
                elif kind == "score":
                    r = await http.post(f"{base}/api/score", files=[("images", ("x.png", image, "image/png"))])
                else:
                    r = await http.get(f"{base}/api/{kind}")
            except httpx.HTTPError as e:
                status["error"] += 1
                failures.append(f"{kind}: {type(e).__name__}: {e}")
                continue
            ms = (time.perf_counter() - start) * 1000
            status[r.status_code] += 1
            if r.status_code == 200:
                latency[kind].append(ms)
            elif r.status_code == 503:
                busy_ms.append(ms)
                wait = r.headers.get("retry-after")
                if wait is None or not wait.isdigit():
                    no_retry_after += 1
                    failures.append(f"{kind}: 503 without a Retry-After")
                await asyncio.sleep(min(max_wait, float(wait or 1)))
            else:
                failures.append(f"{kind}: {r.status_code} {r.text[:200]}")

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        await asyncio.gather(*(client(i, http) for i in range(clients)))
    return {"requests": sum(status.values()), "status": {str(k): v for k, v in sorted(status.items(), key=str)},
            "latency_ms": dict(latency), "busy_ms": busy_ms, "busy_without_retry_after": no_retry_after,
            "failures": failures[:20]}


def bad(result: dict) -> list[str]:
    """What in a hammer() result is a failure: any status but 200 and 503, a 503 without Retry-After."""
    wrong = [f"{n} answers {code}" for code, n in result["status"].items() if code not in ("200", "503")]
    if result["busy_without_retry_after"]:
        wrong.append(f"{result['busy_without_retry_after']} answers 503 without Retry-After")
    return wrong


def summarize(result: dict, seconds: float) -> dict:
    rows = {}
    every = []
    for kind, values in sorted(result["latency_ms"].items()):
        every += values
        rows[kind] = {"ok": len(values), "p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99)}
    rows["all answered 200"] = {"ok": len(every), "p50_ms": percentile(every, 50), "p99_ms": percentile(every, 99)}
    busy = result["busy_ms"]
    rows["503 (queue full)"] = {"ok": len(busy), "p50_ms": percentile(busy, 50), "p99_ms": percentile(busy, 99)}
    return {"rows": rows, "ok_per_s": len(every) / seconds}


def _train(folder: Path, kimg: float) -> Path:
    run = folder / "run"
    subprocess.run([sys.executable, "-m", "gankit", "train", "--preset", "fashion-dcgan", "--kimg", str(kimg),
                    "--out", str(run)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return run


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _serve(run: Path, args) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "gankit", "serve", str(run), "--port", "0", "--workers", str(args.workers),
           "--queue", str(args.queue), "--threads", str(args.threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.search(r"http://[^/ ]+", line)
    if not match:
        proc.kill()
        raise SystemExit(f"gankit serve did not start: {line!r}")
    return proc, match.group(0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, help="a gankit run to serve (default: train the default preset briefly)")
    ap.add_argument("--train-kimg", type=float, default=2.0, help="kimg of the run trained without --run")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=2, help="gankit serve --workers")
    ap.add_argument("--queue", type=int, default=8, help="gankit serve --queue")
    ap.add_argument("--threads", type=int, default=1, help="gankit serve --threads")
    ap.add_argument("--max-wait", type=float, default=1.0, help="most seconds a client waits after a 503")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "load.md")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or _train(Path(tmp), args.train_kimg)
        proc, base = _serve(run, args)
        try:
            load_before = os.getloadavg()
            server_cpu, client_cpu = _cpu_seconds(proc.pid), time.process_time()
            started = time.perf_counter()
            result = asyncio.run(hammer(base, args.clients, args.seconds, args.max_wait))
            wall = time.perf_counter() - started
            load_after = os.getloadavg()
            after = _cpu_seconds(proc.pid)
            server_cpu = None if server_cpu is None or after is None else after - server_cpu
            client_cpu = time.process_time() - client_cpu
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    summary = summarize(result, wall)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    record = {"command": " ".join(["python benchmarks/serve/load.py", *(argv if argv is not None else sys.argv[1:])]),
              "commit": commit, "run": str(args.run) if args.run else f"fashion-dcgan, {args.train_kimg} kimg",
              "clients": args.clients, "seconds": round(wall, 1), "workers": args.workers, "queue": args.queue,
              "threads": args.threads, "cpus": os.cpu_count(), "load_before": load_before,
              "load_after": load_after, "server_cpu_s": server_cpu, "client_cpu_s": round(client_cpu, 1),
              "status": result["status"], "requests": result["requests"],
              "failures": result["failures"], **summary}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    args.out.write_text(markdown(record))
    print(markdown(record))
    problems = bad(result)
    if problems:
        print("FAILED: " + "; ".join(problems), file=sys.stderr)
        return 1
    return 0


def _cpu(seconds, wall) -> str:
    return "unknown" if seconds is None else f"{seconds:.1f} s ({seconds / wall:.2f} of one core)"


def _ms(v) -> str:
    return "—" if v is None else f"{v:,.0f}"


def markdown(r: dict) -> str:
    lines = [
        "# gankit serve under load",
        "",
        f"`{r['command']}` at commit `{r['commit']}`: {r['clients']} concurrent clients on loopback for "
        f"{r['seconds']} s against `gankit serve` ({r['run']}; --workers {r['workers']} --queue {r['queue']} "
        f"--threads {r['threads']}), {r['cpus']} CPUs shared by the clients, the service and whatever else runs.",
        "",
        f"Load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in r['load_before'])}; after: "
        f"{', '.join(f'{x:.2f}' for x in r['load_after'])}. On a loaded machine these latencies include waiting "
        f"for the CPU: rerun the command on a quiet one to compare. CPU time used during the test: the service "
        f"{_cpu(r.get('server_cpu_s'), r['seconds'])}, the clients {_cpu(r.get('client_cpu_s'), r['seconds'])}.",
        "",
        f"Answers: {', '.join(f'{n:,} × {code}' for code, n in r['status'].items())} "
        f"({r['requests']:,} requests; {r['ok_per_s']:.1f} answered 200 per second).",
        "",
        "| endpoint | answered | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for name, row in r["rows"].items():
        lines.append(f"| {name} | {row['ok']:,} | {_ms(row['p50_ms'])} | {_ms(row['p99_ms'])} |")
    lines += ["", "A 503 is the bounded queue refusing work it has no place for, with Retry-After; the client "
              "then waits that long (at most 1 s here) before its next request, as the web page does. The "
              "503's own latency is the time to be answered at all on the shared CPUs."]
    if r["failures"]:
        lines += ["", "Failures (first 20):", ""] + [f"- {f}" for f in r["failures"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
