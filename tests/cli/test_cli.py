"""Every verb end to end on a tiny run, with its error paths: one line, non-zero exit, no traceback."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from gankit.cli import VERBS, main
from gankit.training.loop import train

from helpers import tiny_config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from helpers import write_idx
    data = tmp_path_factory.mktemp("data")
    write_idx(data, "train", 256)
    torch_threads()
    return train(tiny_config(tmp_path_factory.mktemp("runs") / "tiny", data), progress=False)


def torch_threads():
    import torch
    torch.set_num_threads(1)


def err_line(capsys):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("verb", list(VERBS))
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as e:
        main([verb, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "usage: gankit" in out and ("example" in out or verb == "data")


# ---- train


def test_print_config_resolves_flags_and_overrides(capsys):
    assert main(["train", "--minutes", "2", "--set", "model.width=16", "--data", "mnist", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert 'name = "mnist"' in out and "width = 16" in out and "minutes = 2.0" in out and "kimg = 0.0" in out


def test_eval_every_sets_the_evaluation_schedule(capsys):
    assert main(["train", "--eval-every", "50", "--set", "eval.every_minutes=3", "--print-config"]) == 1
    assert "give eval.every_kimg or eval.every_minutes, not both" in err_line(capsys)
    assert main(["train", "--eval-every", "50", "--print-config"]) == 0
    assert "[eval]\nevery_kimg = 50.0\nevery_minutes = 0.0" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--set", "optim.lr_g=-1"], "optim.lr_g: must be in (0, 1]"),
    (["--set", "model.bogus=1"], "model.bogus: unknown key"),
    (["--set", "data.resolution=30"], "resolution 30"),
    (["--data", "/no/such/folder"], "--data: '/no/such/folder' is neither a dataset"),
    (["--data-dir", "/no/such/dir"], "/no/such/dir"),
    (["--resume", "/no/such/run"], "has no config.toml"),
    (["--config", "/no/such.toml"], "no such file"),
    (["--eval-every", "5", "--set", "eval.metrics=fid,modes"], "eval.metrics: unknown metric 'modes' for images"),
])
def test_train_bad_input_is_one_line(argv, message, capsys, tmp_path):
    assert main(["train", "--out", str(tmp_path / "r"), *argv]) == 1
    err = err_line(capsys)
    assert err.startswith("gankit: error: ") and message in err and "\n" not in err


def test_train_argument_errors_exit_2(capsys):
    for argv in (["--preset", "nope"], ["--minutes", "-3"], ["--minutes", "1", "--kimg", "2"]):
        with pytest.raises(SystemExit) as e:
            main(["train", *argv])
        assert e.value.code == 2
    capsys.readouterr()


def test_train_cli_writes_a_run_and_resumes_it(tmp_path, tiny_idx_dir, capsys):
    out = tmp_path / "cli-run"
    base = ["--data-dir", str(tiny_idx_dir), "--set", "model.width=8", "--set", "model.z_dim=8",
            "--set", "train.batch_size=16", "--no-progress"]
    assert main(["train", "--kimg", "0.064", "--out", str(out), *base]) == 0
    assert (out / "generator" / "model.safetensors").is_file()
    assert main(["train", "--kimg", "0.064", "--out", str(out), *base]) == 1
    assert "already holds a run" in err_line(capsys)
    assert main(["train", "--resume", str(out), "--kimg", "0.128", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counters"]["images"] == 128
    assert main(["train", "--config", str(out / "config.toml"), "--out", str(tmp_path / "again"),
                 "--kimg", "0.032", "--no-progress"]) == 0


# ---- sample


def test_sample_png_npy_npz_and_folder(run, tmp_path, capsys):
    assert main(["sample", str(run), "--num", "8", "--seed", "3", "--out", str(tmp_path / "g.png")]) == 0
    assert Image.open(tmp_path / "g.png").size[0] > 28
    assert main(["sample", str(run), "--num", "8", "--seed", "3", "--out", str(tmp_path / "a.npy")]) == 0
    a = np.load(tmp_path / "a.npy")
    assert a.shape == (8, 1, 28, 28) and a.dtype == np.uint8
    assert main(["sample", str(run / "generator"), "--num", "5", "--seed", "3",
                 "--out", str(tmp_path / "b.npz")]) == 0
    b = np.load(tmp_path / "b.npz")["samples"]
    assert np.array_equal(a[:5], b)  # sample i of seed s is the same for any num
    assert main(["sample", str(run), "--num", "3", "--out", str(tmp_path / "dir")]) == 0
    files = sorted(p.name for p in (tmp_path / "dir").iterdir())
    assert files == ["sample_0_00000.png", "sample_0_00001.png", "sample_0_00002.png"]
    assert np.array(Image.open(tmp_path / "dir" / files[0])).shape == (28, 28)


def test_sample_errors(run, tmp_path, capsys):
    assert main(["sample", str(tmp_path / "missing"), "--out", str(tmp_path / "x.png")]) == 1
    assert "no such run" in err_line(capsys)
    (tmp_path / "file.txt").write_text("x")
    assert main(["sample", str(tmp_path / "file.txt"), "--out", str(tmp_path / "x.png")]) == 1
    assert "got a file" in err_line(capsys)
    with pytest.raises(SystemExit) as e:
        main(["sample", str(run), "--num", "0", "--out", "x.png"])
    assert e.value.code == 2


def test_sample_refuses_a_checkpoint_of_another_model(run, tmp_path, capsys):
    import shutil
    gen = tmp_path / "gen"
    shutil.copytree(run / "generator", gen)
    meta = json.loads((gen / "config.json").read_text())
    meta["config"]["model"]["width"] = 16
    meta["version"] = 1  # as exported before checksums: an edited config.json would be refused as damaged
    (gen / "config.json").write_text(json.dumps(meta))
    (gen / "manifest.json").unlink()
    assert main(["sample", str(gen), "--out", str(tmp_path / "x.png")]) == 1
    err = err_line(capsys)
    assert "does not match the configured model" in err and "weight" in err



def test_sample_refuses_an_unknown_ending_in_one_line(run, tmp_path, capsys):
    for name in ("x.jpg", "x.txt"):
        assert main(["sample", str(run), "--num", "4", "--out", str(tmp_path / name)]) == 1
        err = err_line(capsys)
        assert err.count("\n") == 0 and str(tmp_path / name) in err
        assert all(s in err for s in (".png", ".npy", ".npz", "folder"))
    assert list(tmp_path.iterdir()) == []  # no folder named x.jpg


def test_sample_refuses_a_grid_pillow_cannot_open_before_sampling(run, tmp_path, capsys, monkeypatch):
    from gankit.models import Generator

    def refuse(*a, **k):
        raise AssertionError("sampled before refusing")
    monkeypatch.setattr(Generator, "sample", refuse)
    assert main(["sample", str(run), "--num", "200000", "--out", str(tmp_path / "big.png")]) == 1
    err = err_line(capsys)
    assert str(tmp_path / "big.png") in err and ".npy/.npz" in err and "megapixels" in err
    assert not (tmp_path / "big.png").exists()


def test_sample_says_numpy_array(run, tmp_path, capsys):
    assert main(["sample", str(run), "--num", "8", "--out", str(tmp_path / "a.npy")]) == 0
    expected = f"wrote a numpy array uint8 (8, 1, 28, 28) (seed 0) to {tmp_path / 'a.npy'}"
    assert capsys.readouterr().out.strip() == expected


def test_sample_into_a_read_only_place_is_one_line_naming_it(run, tmp_path, capsys, monkeypatch):
    import errno
    import os
    from pathlib import Path
    real_open = os.open

    def open_(path, flags, *a, **k):  # as on a read-only file system: root ignores permission bits
        p = Path(os.fsdecode(path))
        if tmp_path in (p, p.parent) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))
        return real_open(path, flags, *a, **k)
    monkeypatch.setattr(os, "open", open_)
    assert main(["sample", str(run), "--num", "4", "--out", str(tmp_path / "x.png")]) == 1
    assert err_line(capsys) == f"gankit: error: cannot write in {tmp_path}: Read-only file system"


# ---- interpolate


def test_interpolate_writes_strips_and_gif(run, tmp_path, capsys):
    out = tmp_path / "interp"
    assert main(["interpolate", str(run), "--seeds", "1,2,3", "--steps", "5", "--slerp", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["interpolation.gif", "strip_1_2.png", "strip_2_3.png"]
    gif = Image.open(out / "interpolation.gif")
    assert gif.n_frames == 2 * 4 + 1 + 7  # forward path, then back again
    with pytest.raises(SystemExit) as e:
        main(["interpolate", str(run), "--seeds", "1"])
    assert e.value.code == 2
    capsys.readouterr()



def test_interpolate_refuses_what_it_cannot_write(run, tmp_path, capsys):
    assert main(["interpolate", str(run), "--steps", "4", "--out", str(tmp_path / "i.gif")]) == 1
    assert "interpolation writes a folder" in err_line(capsys)
    assert main(["interpolate", str(run), "--steps", "50000", "--out", str(tmp_path / "i")]) == 1
    err = err_line(capsys)
    assert str(tmp_path / "i" / "strip_1_2.png") in err and "fewer steps" in err
    assert list(tmp_path.iterdir()) == []


# ---- score


def test_score_reports_each_image(run, tmp_path, capsys):
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "black.png")
    Image.fromarray(np.full((40, 50, 3), 200, np.uint8)).save(tmp_path / "big.jpg")
    (tmp_path / "broken.png").write_text("not a png")
    assert main(["score", str(run), str(tmp_path / "black.png"), str(tmp_path / "big.jpg"),
                 str(tmp_path / "broken.png"), "--json", str(tmp_path / "v.json")]) == 1
    lines = capsys.readouterr().out.strip().split("\n")
    assert len(lines) == 3
    p = float(lines[0].split("\t")[1])
    assert 0.0 <= p <= 1.0
    assert "resized from 50x40 to 28x28" in lines[1] and "converted from RGB to grayscale" in lines[1]
    assert "broken.png\tERROR" in lines[2]
    verdicts = json.loads((tmp_path / "v.json").read_text())
    assert verdicts[0]["probability"] == pytest.approx(p, abs=1e-4) and verdicts[2]["error"]


def test_score_good_images_exit_0_and_match_the_discriminator(run, tmp_path, capsys):
    import torch
    from gankit.data import to_float
    from gankit.io.generator import load_discriminator
    img = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "noise.png")
    assert main(["score", str(run), str(tmp_path / "noise.png")]) == 0
    p = float(capsys.readouterr().out.split("\t")[1])
    D, _ = load_discriminator(run)
    with torch.no_grad():
        expected = torch.sigmoid(D(to_float(torch.from_numpy(img)[None, None]))).item()
    assert p == pytest.approx(expected, abs=1e-4)


# ---- info and data


def test_info_text_and_json(run, capsys):
    assert main(["info", str(run)]) == 0
    text = capsys.readouterr().out
    assert "progress  128 images" in text and "loss_d" in text and "checkpoint" in text
    assert main(["info", str(run / "generator"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "generator" and info["images_seen"] == 128
    assert main(["info", str(run.parent / "missing")]) == 1
    assert "no such run" in err_line(capsys)


def test_data_check_and_grid(tiny_idx_dir, tmp_path, capsys):
    assert main(["data", "check", "fashion-mnist", "--data-dir", str(tiny_idx_dir)]) == 0
    assert str(tiny_idx_dir) in capsys.readouterr().out
    assert main(["data", "grid", "fashion-mnist", "--data-dir", str(tiny_idx_dir), "--num", "9",
                 "--out", str(tmp_path / "real.png")]) == 0
    assert (tmp_path / "real.png").is_file()
    capsys.readouterr()
    assert main(["data", "check", "fashion-mnist", "--data-dir", str(tmp_path / "nothing")]) == 1
    assert str(tmp_path / "nothing") in err_line(capsys)



def _photos(folder, n=5, size=(40, 30)):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", size, (40 * i, 100, 200)).save(folder / f"{i}.png")
    return folder


def test_data_takes_a_folder_like_train(tmp_path, capsys):
    photos = _photos(tmp_path / "photos")
    for argv in (["check", str(photos)], ["check", "--data", str(photos)],
                 ["check", "folder", "--data-dir", str(photos)]):
        assert main(["data", *argv]) == 0
        out = capsys.readouterr().out
        assert "5 images (unlabeled)" in out and "grey 1x28x28" in out
    assert main(["data", "check", str(tmp_path / "nope")]) == 1
    assert "is neither a dataset" in err_line(capsys)


def test_data_grid_draws_what_a_run_reads(tmp_path, capsys):
    photos = _photos(tmp_path / "photos", n=4)
    out = tmp_path / "real.png"
    assert main(["data", "grid", "folder", "--data-dir", str(photos), "--set", "data.channels=3",
                 "--set", "data.resolution=32", "--out", str(out)]) == 0
    assert "RGB 3x32x32" in capsys.readouterr().out
    with Image.open(out) as img:
        assert img.mode == "RGB" and img.size == (2 * 34 + 2, 2 * 34 + 2)  # 2x2 tiles of 32 px
    config = tmp_path / "run.toml"
    config.write_text(f'[data]\nname = "folder"\npath = "{photos}"\nchannels = 3\nresolution = 16\n'
                      f'[train]\nkimg = 1.0\n')
    assert main(["data", "grid", "--config", str(config), "--out", str(out)]) == 0
    assert "RGB 3x16x16" in capsys.readouterr().out
    with Image.open(out) as img:
        assert img.size == (2 * 18 + 2, 2 * 18 + 2)
    assert main(["data", "check", "--preset", "toy-ring"]) == 0
    assert "toy-ring" in capsys.readouterr().out


def test_data_grid_refuses_what_it_cannot_write(tiny_idx_dir, tmp_path, capsys):
    assert main(["data", "grid", "fashion-mnist", "--data-dir", str(tiny_idx_dir),
                 "--out", str(tmp_path / "r.jpg")]) == 1
    assert "writes a PNG" in err_line(capsys)
    assert main(["data", "grid", "fashion-mnist", "--data-dir", str(tiny_idx_dir), "--num", "200000",
                 "--out", str(tmp_path / "big.png")]) == 1
    assert str(tmp_path / "big.png") in err_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_data_set_takes_only_data_fields(capsys):
    assert main(["data", "check", "toy-ring", "--set", "model.width=32"]) == 1
    assert "only data.FIELD=VALUE" in err_line(capsys)
    assert main(["data", "check", "toy-ring", "--data", "mnist"]) == 1
    assert "give the dataset once" in err_line(capsys)


def test_every_advice_of_data_check_can_be_followed_with_its_options(tiny_idx_dir, tmp_path, capsys):
    """Each error names a fix; the fix, given to the same verb, works."""
    photos = _photos(tmp_path / "photos", n=10)
    (photos / "broken.png").write_bytes(b"not a png")  # 1 of 11: under data.max_bad_fraction
    cases = [
        # (failing argv, the advice it must print, argv after following it)
        (["check", "stacked-fashion-mnist", "--data-dir", str(tiny_idx_dir)], "set data.channels = 3",
         ["--set", "data.channels=3"]),
        (["check", "folder"], "pass --data-dir", ["--data-dir", str(photos)]),
        (["check", "fashion-mnist", "--data-dir", str(tmp_path / "empty")], "--data-dir DIR",
         ["--data-dir", str(tiny_idx_dir)]),
        (["grid", str(photos), "--out", str(tmp_path / "g.png")], "set data.skip_bad_files = true",
         ["--set", "data.skip_bad_files=true"]),
    ]
    (tmp_path / "empty").mkdir()
    for argv, advice, fix in cases:
        assert main(["data", *argv]) == 1, argv
        err = err_line(capsys)
        assert advice in err, (argv, err)
        assert main(["data", *argv, *fix]) == 0, (argv, fix, err_line(capsys))
        capsys.readouterr()


def test_no_traceback_from_a_real_process(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "gankit", "sample", str(tmp_path / "nope"), "--out", "x.png"],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "gankit: error:" in proc.stderr
