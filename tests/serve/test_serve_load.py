"""A short, bounded load test on loopback (the long one is benchmarks/serve/load.py): many clients at once
against a service with few places get answers 200 or 503 + Retry-After, never another 5xx."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the 'serve' extra (fastapi, uvicorn, python-multipart) is not installed")
pytest.importorskip("httpx", reason="httpx is not installed (it is in gankit's dev extra)")

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "serve" / "load.py"


@pytest.fixture(scope="module")
def load():
    spec = importlib.util.spec_from_file_location("gankit_bench_serve_load", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_many_clients_get_200_or_a_queue_full_503_and_nothing_else(load, served, live_server):
    from gankit.serve import Limits, create_app
    app = create_app(served["plain"], Limits(workers=1, queue=2))
    with live_server(app) as base:
        result = asyncio.run(load.hammer(base, clients=12, seconds=2.0, max_wait=0.2))
    assert load.bad(result) == [], result["failures"]
    assert set(result["status"]) <= {"200", "503"} and result["status"]["200"] > 0
    assert {"sample", "interpolate", "score", "health", "model"} <= set(result["latency_ms"])
    summary = load.summarize(result, 2.0)
    assert summary["rows"]["all answered 200"]["ok"] == result["status"]["200"]


def test_percentile_is_nearest_rank(load):
    assert load.percentile([], 50) is None
    assert load.percentile([3, 1, 2], 50) == 2 and load.percentile(list(range(1, 101)), 99) == 99
    assert load.percentile([5], 99) == 5
