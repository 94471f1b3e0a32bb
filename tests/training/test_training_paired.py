"""The paired image-to-image game: its contract with the loop, its logs and pictures, and that a
tiny U-Net actually learns (denoising and x2 super-resolution beat their classical baselines)."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from gankit.apps.translate import load_translator
from gankit.evaluation.restoration import evaluate_translator
from gankit.io.checkpoint import complete_checkpoints, load_checkpoint
from gankit.io.logs import read_metrics
from gankit.training.loop import train

from helpers import tiny_config


def paired_cfg(out, data_dir, task="denoise", *extra):
    return tiny_config(out, data_dir, "model.arch=unet", f"data.task={task}", "data.scale=2", *extra)


def test_paired_run_logs_both_loss_parts_and_draws_triplets(tmp_path, tiny_idx_dir):
    run = train(paired_cfg(tmp_path / "run", tiny_idx_dir, "superres", "train.grid_size=6"), progress=False)
    records = [r for r in read_metrics(run) if "loss_g" in r]
    assert records and all({"l1", "adversarial"} <= r.keys() for r in records)
    r = records[-1]
    assert r["loss_g"] == pytest.approx(r["adversarial"] + 100 * r["l1"], rel=1e-4)
    grid = Image.open(sorted((run / "samples").glob("final_*.png"))[0])
    # 6 triplets, 1 to a row: input | output | target, each 28 px (+2 px gaps), shown at 2x
    assert grid.size[0] == 2 * (3 * 28 + 4 * 2) and grid.size[1] == 2 * (6 * 28 + 7 * 2)
    meta = json.loads((run / "generator" / "config.json").read_text())
    assert meta["shape"] == [1, 28, 28] and meta["config"]["data"]["task"] == "superres"
    assert "gankit translate" in (run / "generator" / "README.md").read_text()
    t = load_translator(run)
    assert t((torch.rand(10, 14) * 255).to(torch.uint8).numpy()).shape == (20, 28)


def test_l1_only_baseline_leaves_d_untouched(tmp_path, tiny_idx_dir):
    run = train(paired_cfg(tmp_path / "l1", tiny_idx_dir, "denoise", "loss.adversarial_weight=0"), progress=False)
    records = [r for r in read_metrics(run) if "loss_g" in r]
    assert all(r["adversarial"] == 0 and r["d_real"] == 0.5 and r["loss_g"] == pytest.approx(100 * r["l1"])
               for r in records)
    first, last = complete_checkpoints(run)[0], complete_checkpoints(run)[-1]
    init = train(paired_cfg(tmp_path / "l1-0", tiny_idx_dir, "denoise", "loss.adversarial_weight=0",
                            "train.kimg=0.016"), progress=False)
    d0 = load_checkpoint(complete_checkpoints(init)[-1])[0]["D"]
    for w in (load_checkpoint(first)[0]["D"], load_checkpoint(last)[0]["D"]):
        assert all(torch.equal(w[k], d0[k]) for k in d0)  # D never moves: G ignores it


@pytest.mark.parametrize("loss,extra", [("hinge", ()), ("wgan-gp", ("loss.gp_weight=10",)),
                                        ("lsgan", ("model.pack=2", "model.d_spectral_norm=true")),
                                        ("relativistic", ("augment.policy=translation,cutout",))])
def test_every_adversarial_loss_and_regularizer_plays(tmp_path, tiny_idx_dir, loss, extra):
    run = train(paired_cfg(tmp_path / loss, tiny_idx_dir, "inpaint", f"loss.name={loss}", "train.kimg=0.064",
                           *extra), progress=False)
    records = [r for r in read_metrics(run) if "loss_g" in r]
    assert records and all(v == v for r in records for v in (r["loss_d"], r["l1"], r["adversarial"]))


def test_image_to_image_preflight_errors(tmp_path, tiny_idx_dir):
    from gankit.config import ConfigError
    with pytest.raises(ConfigError, match="^data.resolution: must be a multiple of data.scale = 8"):
        paired_cfg(tmp_path / "x", tiny_idx_dir, "superres", "data.scale=8")
    with pytest.raises(ConfigError, match="^model.conditional"):
        paired_cfg(tmp_path / "x", tiny_idx_dir, "denoise", "model.conditional=concat")


@pytest.mark.slow
@pytest.mark.parametrize("task,kimg,margin,extra", [("denoise", 0.8, 1.0, ("data.noise_sigma=50",)),
                                                   ("superres", 1.6, 0.5, ())])
def test_a_tiny_unet_beats_the_classical_baseline(tmp_path, tiny_idx_dir, task, kimg, margin, extra):
    """Denoising (sigma 50) and x2 super-resolution of the tiny rectangles: after 800 / 1600 images
    the test-split PSNR is above the degraded input's / bicubic's (the floor evaluate_translator
    reports) by 1 / 0.5 dB (measured on a loaded machine: +1.6 dB and +9.2 dB)."""
    cfg = paired_cfg(tmp_path / task, tiny_idx_dir, task, f"train.kimg={kimg}", "optim.lr_g=1e-3",
                     "loss.adversarial_weight=0.1", *extra)
    run = train(cfg, progress=False)
    result = evaluate_translator(load_translator(run).G, cfg.data, metrics=("psnr", "ssim"), num=64)
    psnr = result["metrics"]["psnr"]
    assert psnr["value"] > psnr["floor"] + margin, psnr


def test_train_time_evaluation_scores_translations_and_report_shows_loss_parts(tmp_path, tiny_idx_dir):
    from gankit.apps.report import write_report
    run = train(paired_cfg(tmp_path / "ev", tiny_idx_dir, "denoise", "eval.every_kimg=0.064", "eval.num=32",
                           "eval.metrics=psnr,ssim"), progress=False)
    evals = [r for r in read_metrics(run) if "psnr" in r]
    assert [r["images"] for r in evals] == [0, 64, 128]
    assert evals[0]["psnr"] == evals[0]["eval"]["floor"]["psnr"]  # an untrained residual G is the degraded input
    assert (run / "generator-best" / "config.json").is_file()
    page = write_report(run, tmp_path / "report.html").read_text()
    assert "Parts of the generator loss" in page and "L1 " in page


def test_setting_a_task_starts_from_the_pix2pix_preset(capsys):
    from gankit.cli import main
    assert main(["train", "--set", "data.task=superres", "--print-config"]) == 0
    text = capsys.readouterr().out
    assert 'arch = "unet"' in text and 'task = "superres"' in text and 'out = "runs/pix2pix"' in text
    assert main(["train", "--print-config"]) == 0
    assert 'arch = "dcgan"' in capsys.readouterr().out  # the unconditional default is unchanged
