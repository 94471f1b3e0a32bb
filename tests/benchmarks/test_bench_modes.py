"""The mode-collapse and time-to-quality harnesses: a smoke run end to end, and their summaries."""

import json

from helpers import BENCH, load_benchmark as _load


def test_modes_smoke_run_writes_table_json_and_pictures(tmp_path):
    modes = _load(BENCH / "modes" / "run.py", "gankit_bench_modes")
    out = tmp_path / "res" / "modes.md"
    modes.main(["--seeds", "2", "--recipes", "gan-mlp", "--datasets", "toy-ring", "--kimg", "2",
                "--best-kimg", "2", "--workers", "1", "--runs", str(tmp_path / "runs"), "--out", str(out)])
    report = json.loads(out.with_suffix(".json").read_text())
    assert len(report["rows"]) == 4  # 2 recipes (gan-mlp, the toy-ring preset) x 2 seeds
    table = report["table"]["toy-ring"]
    assert set(table) == {"gan-mlp", "toy-ring"} and table["gan-mlp"]["seeds"] == 2
    assert all(0 <= r["modes"] <= 8 and 0 <= r["high_quality"] <= 1 for r in report["rows"])
    text = out.read_text()
    assert "| gan-mlp | 2 |" in text and "**toy-ring** (best, shipped preset)" in text and "PacGAN" in text
    assert (out.parent / "toy-ring.png").stat().st_size > 1000


def test_summary_counts_all_mode_seeds_and_skips_infinite_kl():
    modes = _load(BENCH / "modes" / "run.py", "gankit_bench_modes")
    rows = [{"recipe": "x", "dataset": "toy-ring", "seed": s, "kimg": 1, "seconds": 1.0, "of": 8, "modes": m,
             "high_quality": hq, "reverse_kl": kl}
            for s, (m, hq, kl) in enumerate([(8, 0.9, 0.1), (8, 0.95, 0.3), (0, 0.0, float("inf"))])]
    s = modes.summarise(rows)["toy-ring"]["x"]
    assert s["all_modes_seeds"] == 2 and s["hq_min"] == 0.0 and s["kl_finite_seeds"] == 2
    assert abs(s["kl_mean"] - 0.2) < 1e-12 and abs(s["modes_mean"] - 16 / 3) < 1e-12


def test_time_to_quality_picks_the_evaluation_at_each_mark():
    ttq = _load(BENCH / "time_to_quality.py", "gankit_bench_ttq")
    curve = [{"minutes": m, "fid": f} for m, f in [(0, 100), (1.01, 50), (2.02, 40), (3.0, 30)]]
    assert ttq.at_mark(curve, 1)["fid"] == 50 and ttq.at_mark(curve, 2)["fid"] == 40
    assert ttq.at_mark(curve, 5) is None  # never reached: no made-up value
    report = {"curves": {"fashion-dcgan": [{"minutes": 5.0, "fid": 10.0}, {"minutes": 8, "fid": 5.0}],
                         "dcgan-tf": [{"minutes": 20.0, "fid": 6.0}]}}
    assert "meets it: 10.00 at 5 min vs 6.00" not in ttq.verdict(report)
    assert "misses it" in ttq.verdict(report) and "first at 8.0 min" in ttq.verdict(report)
