"""The image-to-image benchmark harness (benchmarks/image2image/run.py): its report and its options."""

import sys

import pytest

from helpers import BENCH, load_benchmark, needs_skimage


@needs_skimage
def test_report_has_a_table_per_task_and_says_how_it_ran():
    i2i = load_benchmark(BENCH / "image2image" / "run.py", "gankit_bench_i2i")
    report = {"command": "python benchmarks/image2image/run.py --minutes 6 --jobs 2", "minutes": 6.0, "width": 16,
              "num": 2000, "jobs": 2, "source": "abc1234", "machine": {"cpu": "a CPU", "usable_cores": 2},
              "tasks": {"fashion:denoise": [
                  {"method": "degraded input", "psnr": 21.77, "ssim": 0.7241, "fid": 6.1, "train_minutes": None},
                  {"method": "U-Net GAN (pix2pix)", "psnr": 25.1, "ssim": 0.834, "fid": 1.2, "train_minutes": 6.0,
                   "load_average_before": [2.0, 2.0, 2.0]}]}}
    text = i2i.markdown(report)
    assert "6.0 training minutes per U-Net, width 16, one thread each, 2 at a time" in text
    assert "| degraded input | 21.77 | 0.724 | 6.1 | — | — |" in text
    assert "| U-Net GAN (pix2pix) | 25.10 | 0.834 | 1.2 | 6.00 | 2.0 |" in text
    assert "![fashion:denoise](strip_fashion_denoise.png)" in text


@needs_skimage
def test_jobs_below_one_is_refused(monkeypatch, capsys):
    i2i = load_benchmark(BENCH / "image2image" / "run.py", "gankit_bench_i2i2")
    monkeypatch.setattr(sys, "argv", ["run.py", "--jobs", "0"])
    with pytest.raises(SystemExit) as e:
        i2i.main()
    assert e.value.code == 2 and "--jobs must be >= 1, got 0" in capsys.readouterr().err
