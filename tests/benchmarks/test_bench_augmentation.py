"""The augmentation harness (benchmarks/augmentation/run.py) and the conditional time-to-quality
verdict: stratified subsets, the report from stored pieces, and the goal lines."""

import json

import torch

from helpers import BENCH, load_benchmark as _load


def test_stratified_subsets_are_balanced_seeded_and_differ_by_seed():
    aug = _load(BENCH / "augmentation" / "run.py", "gankit_bench_aug")
    from gankit.data import Dataset
    y = torch.arange(1000) % 10
    train = Dataset(x=torch.arange(1000).view(1000, 1, 1, 1).to(torch.uint8), y=y, name="t",
                    classes=[str(i) for i in range(10)], source="test")
    x0, y0 = aug.stratified(train, 60, seed=0)
    assert torch.bincount(y0, minlength=10).tolist() == [6] * 10
    x1, _ = aug.stratified(train, 60, seed=0)
    x2, _ = aug.stratified(train, 60, seed=1)
    assert torch.equal(x0, x1) and not torch.equal(x0, x2)


def test_report_from_pieces_has_tables_goals_and_plot(tmp_path):
    aug = _load(BENCH / "augmentation" / "run.py", "gankit_bench_aug2")
    res = tmp_path / "res"
    res.mkdir()
    pieces = [{"key": "cas/real/n60000", "n": 60000, "accuracy": 0.90},
              {"key": "cas/gan/k243", "kimg": 243, "train_seconds": 300.0, "loadavg_before": [1, 1, 1]},
              {"key": "cas/score/k243/n60000", "kimg": 243, "n": 60000, "accuracy": 0.88}]
    for seed, (r, c, g, b) in enumerate([(0.70, 0.72, 0.74, 0.75), (0.71, 0.73, 0.75, 0.76)]):
        for cond, acc in zip(aug.CONDITIONS, (r, c, g, b)):
            pieces.append({"key": f"small/n600/s{seed}/{cond}", "n": 600, "seed": seed, "condition": cond,
                           "accuracy": acc})
    for p in pieces:
        if p.get("condition") in ("real+gan", "real+both"):
            p["synthetic"] = 6000
    pieces.append({"key": "small/n600/s0/real+gan/k100/syn600", "n": 600, "seed": 0, "condition": "real+gan",
                   "synthetic": 600, "accuracy": 0.80})
    (res / "pieces.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pieces))
    aug.main(["report", "--results", str(res)])
    text = (res / "augmentation.md").read_text()
    assert "| 243 kimg | 5.0 | 60,000 | 88.00 % | 90.00 % | 97.78 % |" in text
    assert "| 600 | 70.50 ± 0.71 % (seeds 0,1) |" in text
    assert "CAS goal (≥ 97 % of real): met" in text and "Small-data goal" in text and ": met (" in text
    assert "| 600 | 600 | 80.00 % (seeds 0) | - |" in text  # other sample counts: a table of their own
    assert (res / "augmentation.png").stat().st_size > 1000
    report = json.loads((res / "augmentation.json").read_text())
    assert report["small"]["600"]["real+gan"]["mean"] == 0.745


def test_time_to_quality_judges_fashion_cgan_against_fashion_dcgan_at_10_minutes():
    ttq = _load(BENCH / "time_to_quality.py", "gankit_bench_ttq_cgan")

    def curve(points):
        return [{"minutes": m, "images": i, "fid": f, "floor": 0.09} for m, i, f in points]
    report = {"curves": {"fashion-cgan": curve([(0, 0, 140), (5.0, 243000, 4.5)]),
                         "fashion-dcgan": curve([(0, 0, 140), (10.0, 494000, 7.34)])}, "kimg": 0}
    line = ttq.verdict(report)
    assert "meets it: FID 4.50 at 5 min (243 kimg) vs 7.34 for fashion-dcgan at 10 min (494 kimg)" in line
    report["kimg"] = 243
    assert "after 243 kimg (5.0 loaded minutes)" in ttq.verdict(report)
    report["curves"]["fashion-cgan"][-1]["fid"] = 9.0
    assert "misses it" in ttq.verdict(report)


def test_mix_repeats_real_images_to_the_requested_share():
    aug = _load(BENCH / "augmentation" / "run.py", "gankit_bench_aug3")
    x, y = torch.zeros(600, 1, 2, 2, dtype=torch.uint8), torch.arange(600) % 10
    sx, sy = torch.full((6000, 1, 2, 2), 255, dtype=torch.uint8), torch.arange(6000) % 10
    mx, my = aug.mix(x, y, sx, sy, 0.5)
    assert len(mx) == 12000 and int((mx == 0).all(3).all(2).all(1).sum()) == 6000
    assert torch.bincount(my[:6000], minlength=10).tolist() == [600] * 10  # whole copies keep the classes balanced
    mx, _ = aug.mix(x, y, sx, sy, 0.0)
    assert len(mx) == 6600  # plain concatenation
    mx, _ = aug.mix(x, y, sx[:100], sy[:100], 0.5)
    assert len(mx) == 700  # never fewer real images than there are


def test_report_keeps_classifier_protocols_apart(tmp_path):
    aug = _load(BENCH / "augmentation" / "run.py", "gankit_bench_aug4")
    res = tmp_path / "res"
    res.mkdir()
    pieces = []
    for cond, old, new in zip(aug.CONDITIONS, (0.80, 0.82, 0.77, 0.73), (0.81, 0.83, 0.84, 0.85)):
        mixed = cond in ("real+gan", "real+both")
        pieces.append({"key": f"small/n600/s0/{cond}" + ("/k100/syn6000" if mixed else ""), "n": 600, "seed": 0,
                       "condition": cond, "accuracy": old, **({"synthetic": 6000} if mixed else {})})
        pieces.append({"key": f"small/n600/s0/{cond}" + ("/k100/syn6000" if mixed else "") + "/steps2000"
                       + ("/share0.5" if mixed else ""), "n": 600, "seed": 0, "condition": cond, "accuracy": new,
                       "steps": 2000, **({"synthetic": 6000, "real_share": 0.5} if mixed else {})})
    (res / "pieces.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pieces))
    aug.main(["report", "--results", str(res), "--steps", "2000", "--real-share", "0.5"])
    report = json.loads((res / "augmentation.json").read_text())
    assert [report["small"]["600"][c]["mean"] for c in aug.CONDITIONS] == [0.81, 0.83, 0.84, 0.85]
    (old,) = report["small_protocols"].values()
    assert [old["600"][c]["mean"] for c in aug.CONDITIONS] == [0.80, 0.82, 0.77, 0.73]
    text = (res / "augmentation.md").read_text()
    assert "2000 steps for every classifier; real images repeated to 50 % of the mixed sets; GANs of 100 kimg" in text
    assert "the CAS schedule (2 epochs, at least 500 steps); real and synthetic images simply concatenated" in text
    assert "Small-data goal (at 600 images GAN augmentation beats real-only and classic): met" in text


def test_the_sweeps_validation_set_is_balanced_and_outside_the_subset():
    aug = _load(BENCH / "augmentation" / "run.py", "gankit_bench_aug5")
    from gankit.data import Dataset
    n = 20000
    train = Dataset(x=torch.zeros(n, 1, 1, 1, dtype=torch.uint8), y=torch.arange(n) % 10, name="t",
                    classes=[str(i) for i in range(10)], source="test")
    subset = set(aug.stratified_index(train, 600, seed=3).tolist())
    val_idx = aug.stratified_index(train, aug.VALIDATION, 3 + 1000, exclude=torch.tensor(sorted(subset)))
    assert not subset & set(val_idx.tolist()) and len(set(val_idx.tolist())) == aug.VALIDATION
    val = aug.validation(train, 600, 3)
    assert torch.bincount(val.y, minlength=10).tolist() == [aug.VALIDATION // 10] * 10


def test_sweep_table_averages_over_seeds():
    aug = _load(BENCH / "augmentation" / "run.py", "gankit_bench_aug6")
    pieces = {f"sweep/n600/s{s}/steps2000/real+gan/k300/syn6000/share0.8":
              {"n": 600, "seed": s, "steps": 2000, "condition": "real+gan", "gan_kimg": 300, "real_share": 0.8,
               "accuracy": acc} for s, acc in ((0, 0.80), (1, 0.82))}
    pieces["sweep/n600/s0/steps2000/real"] = {"n": 600, "seed": 0, "steps": 2000, "condition": "real", "accuracy": 0.7}
    lines = aug.sweep_table(pieces)
    assert "| 600 | 2000 | 300 | 0.8 |  |  | 81.00 % (2) |  |" in lines
    assert "| 600 | 2000 |  |  | 70.00 % (1) |  |  |  |" in lines
