"""`gankit info` on damaged runs (issue 10, item 8): bad metrics.jsonl lines are skipped with one
warning, a null loss shows as n/a, a damaged config or checkpoint is named, never a traceback."""

import json
import shutil

import pytest

from gankit.cli import main
from gankit.training.loop import train

from helpers import tiny_config

LAST = {"step": 9, "images": 144, "epoch": 0.6, "loss_d": None, "loss_g": 0.7, "d_real": 0.5, "d_fake": 0.5,
        "img_per_s": 100.0, "seconds": 1.0}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_idx_dir):
    return train(tiny_config(tmp_path_factory.mktemp("info") / "tiny", tiny_idx_dir), progress=False)


@pytest.fixture
def run(tiny, tmp_path):
    shutil.copytree(tiny, tmp_path / "run")
    return tmp_path / "run"


def append(run, *lines):
    with open(run / "metrics.jsonl", "a") as f:
        for line in lines:
            f.write((line if isinstance(line, str) else json.dumps(line)) + "\n")


def info(run, capsys, *flags):
    code = main(["info", str(run), *flags])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_a_null_loss_is_shown_as_missing(run, capsys):
    append(run, LAST)
    code, out, err = info(run, capsys)
    assert code == 0 and err == ""
    assert "last log  loss_d n/a loss_g 0.700 D(x) 0.500 D(G(z)) 0.500 at 144 images, 100 img/s" in out
    code, out, _ = info(run, capsys, "--json")
    assert json.loads(out)["last_metrics"]["loss_d"] is None


@pytest.mark.parametrize("bad", ['{"step": 9, "images": 144, "loss_d": "x", "loss_g": 0.7}', "[1, 2, 3]",
                                 '{"images": 144, "alarm": "boom"}', '{"images": "many", "alarm": {"kind": 3}}'])
def test_a_bad_line_is_skipped_with_one_warning(run, capsys, bad):
    good = sum(1 for _ in open(run / "metrics.jsonl"))
    append(run, bad, '{"images": 150, "loss_d": 1.5}')
    code, out, err = info(run, capsys)
    assert code == 0 and err.count("\n") == 1 and f"unreadable line(s): {good + 1} (" in err
    assert "loss_d 1.500 loss_g n/a" in out  # the good line after it is still read


def test_a_damaged_config_is_one_error_naming_it(run, capsys):
    (run / "config.toml").write_text("[train\nbatch = ")
    code, _, err = info(run, capsys)
    assert code == 1 and err.startswith("gankit: error: ") and f"{run / 'config.toml'}: not valid TOML" in err
    (run / "config.toml").write_bytes(b"\xff\xfe")
    code, _, err = info(run, capsys)
    assert code == 1 and "not a TOML text file" in err


def test_config_fields_of_odd_types_are_shown_as_they_are(run, capsys):
    (run / "config.toml").write_text('data = 3\nloss = "x"\n[train]\nminutes = "soon"\nkimg = [1]\n')
    code, out, _ = info(run, capsys)
    assert code == 0 and "budget    minutes soon, kimg [1]" in out


def test_a_damaged_checkpoint_is_listed_and_progress_comes_from_none(run, capsys):
    ckpt = next((run / "checkpoints").iterdir())
    (ckpt / "G.safetensors").write_bytes(b"\x00" * 10)
    code, out, _ = info(run, capsys)
    assert code == 0 and "DAMAGED" in out and "G.safetensors" in out and "progress" not in out


def test_a_damaged_generator_folder_is_named_by_info(run, capsys):
    """info checks the exported generator's checksums as loading would, without building it."""
    code, out, _ = info(run, capsys, "--json")
    assert code == 0 and json.loads(out)["generator_check"] == {"ok": True}
    weights = run / "generator" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, one flipped bit: only the SHA-256 can tell
    weights.write_bytes(bytes(data))
    code, out, _ = info(run, capsys)
    assert code == 0 and "generator " in out and "DAMAGED" in out and "model.safetensors" in out
    code, out, _ = info(run / "generator", capsys, "--json")
    got = json.loads(out)
    assert code == 0 and got["kind"] == "generator" and got["ok"] is False and "model.safetensors" in got["problem"]


def test_an_image_to_image_run_shows_its_task_not_a_latent_size(tmp_path, tiny_idx_dir, capsys):
    run = train(tiny_config(tmp_path / "sr", tiny_idx_dir, "model.arch=unet", "data.task=superres",
                            "data.scale=2", "train.kimg=0.032"), progress=False)
    code, out, _ = info(run, capsys)
    assert code == 0 and "task      superres x2" in out and "z_dim" not in out and "model     unet" in out
