"""The verbs on a class-conditional run, end to end: interpolate --classes / --class, sample and synthesize
--truncation, synthesize --per-class, and their one-line refusals."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import gankit
from gankit.cli import main
from gankit.data import to_uint8
from gankit.io.generator import load_generator
from gankit.training.loop import train

from helpers import tiny_config

CLASSES = "0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot"


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_idx_dir):
    root = tmp_path_factory.mktemp("cond-use")
    cond = train(tiny_config(root / "cond", tiny_idx_dir, "model.conditional=projection", "train.kimg=0.032"),
                 progress=False)
    plain = train(tiny_config(root / "plain", tiny_idx_dir, "train.kimg=0.032"), progress=False)
    return cond, plain


def call(argv, capsys):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse
        code = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def one_error(err):
    lines = err.strip().splitlines()
    assert lines[-1].startswith(("gankit: error: ", "gankit interpolate: error: ", "gankit sample: error: ",
                                 "gankit synthesize: error: ")), err
    assert all(not line.startswith("gankit") for line in lines[:-1]), err
    return lines[-1]


def test_interpolate_between_classes_by_name_or_index(runs, tmp_path, capsys):
    cond, _ = runs
    code, out, err = call(["interpolate", cond, "--classes", "Shirt,sneaker,T-shirt/top", "--seed", 3, "--steps", 4,
                           "--out", tmp_path / "a"], capsys)
    assert code == 0 and err == ""
    names = ["strip_Shirt_Sneaker.png", "strip_Sneaker_T-shirt_top.png", "interpolation.gif"]
    assert [p.rsplit("/", 1)[-1] for p in out.split()] == names
    code, _, _ = call(["interpolate", cond, "--classes", "6,7,0", "--seed", 3, "--steps", 4, "--out", tmp_path / "b"],
                      capsys)
    assert code == 0
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert Image.open(tmp_path / "a" / "interpolation.gif").n_frames == 2 * 3 + 1 + 5
    # the default folder is <run>/interpolation, the default seed 0
    code, out, _ = call(["interpolate", cond, "--classes", "Bag,Coat", "--steps", 2], capsys)
    assert code == 0 and (cond / "interpolation" / "strip_Bag_Coat.png").is_file()


def test_a_seed_walk_on_a_conditional_run_fixes_one_class_and_says_which(runs, tmp_path, capsys):
    cond, _ = runs
    code, _, err = call(["interpolate", cond, "--seeds", "1,2", "--steps", 3, "--out", tmp_path / "z0"], capsys)
    assert code == 0
    assert err.strip() == ("note: a class-conditional run: walking z with class 0 (T-shirt/top); choose another "
                           "with --class, or interpolate between classes with --classes")
    code, _, err = call(["interpolate", cond, "--seeds", "1,2", "--steps", 3, "--class", "T-shirt/top",
                         "--out", tmp_path / "z1"], capsys)
    assert code == 0 and err == ""
    assert (tmp_path / "z0" / "strip_1_2.png").read_bytes() == (tmp_path / "z1" / "strip_1_2.png").read_bytes()


@pytest.mark.parametrize("which, argv, code, needle", [
    ("cond", ["--classes", "Shirt,Spaceship"], 1, f"--classes: unknown class 'Spaceship' (classes: {CLASSES})"),
    ("cond", ["--classes", "Shirt"], 1, "--classes: expected at least two comma-separated classes"),
    ("cond", ["--classes", "Shirt,"], 1, "--classes: expected at least two comma-separated classes"),
    ("cond", ["--classes", "Shirt,Bag", "--seeds", "1,2"], 1, "--seeds and --classes: choose one"),
    ("cond", ["--classes", "Shirt,Bag", "--class", "Bag"], 1, "--class and --classes: choose one"),
    ("cond", ["--classes", "Shirt,Bag", "--slerp"], 1, "--slerp: interpolates z, which --classes holds fixed"),
    ("cond", ["--seed", "3"], 1, "--seed: only with --classes"),
    ("cond", ["--class", "Spaceship"], 1, f"--class: unknown class 'Spaceship' (classes: {CLASSES})"),
    ("cond", ["--classes", "Shirt,Bag", "--seed", "-1"], 2, "argument --seed"),
    ("plain", ["--classes", "0,1"], 1, "--classes: this generator is unconditional (model.conditional = none)"),
    ("plain", ["--class", "0"], 1, "--class: this generator is unconditional"),
])
def test_interpolate_refusals_are_one_line_and_write_nothing(runs, tmp_path, capsys, which, argv, code, needle):
    run = runs[0] if which == "cond" else runs[1]
    got, _, err = call(["interpolate", run, *argv, "--out", tmp_path / "i"], capsys)
    assert got == code and needle in one_error(err)
    assert not (tmp_path / "i").exists()


def test_sample_truncation(runs, tmp_path, capsys):
    cond, plain = runs
    code, out, _ = call(["sample", cond, "--num", 10, "--truncation", "0.5", "--class", "Bag", "--out",
                         tmp_path / "t.npy"], capsys)
    assert code == 0 and "(seed 0, class 8 Bag, truncation 0.5)" in out
    G = load_generator(cond)
    assert np.array_equal(np.load(tmp_path / "t.npy"), to_uint8(G.sample(10, labels=8, truncation=0.5)).numpy())
    call(["sample", plain, "--num", 10, "--out", tmp_path / "a.npy"], capsys)
    code, out, _ = call(["sample", plain, "--num", 10, "--truncation", "1", "--out", tmp_path / "b.npy"], capsys)
    assert code == 0 and "(seed 0) to" in out
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))  # psi = 1 is no truncation
    for bad in ("1.5", "-0.1", "nan", "x"):
        code, _, err = call(["sample", plain, "--truncation", bad, "--out", tmp_path / "c.png"], capsys)
        assert code == 2 and "argument --truncation: expected a number in [0, 1]" in one_error(err)
    assert not (tmp_path / "c.png").exists()


def test_synthesize_per_class_to_a_folder_and_an_npz(runs, tmp_path, capsys):
    cond, _ = runs
    code, out, _ = call(["synthesize", cond, "--per-class", 3, "--seed", 2, "--truncation", "0.8",
                         "--out", tmp_path / "syn"], capsys)
    assert code == 0
    assert out.strip().startswith(f"wrote 3 images of each of 10 classes (seed 2, truncation 0.8) to {tmp_path / 'syn'}/")
    assert sorted(p.name for p in (tmp_path / "syn").iterdir())[:3] == ["Ankle boot", "Bag", "Coat"]
    assert len(list((tmp_path / "syn").rglob("*.png"))) == 30
    code, out, _ = call(["synthesize", cond, "--per-class", 3, "--seed", 2, "--truncation", "0.8", "--batch-size", 7,
                         "--out", tmp_path / "s.npz"], capsys)
    assert code == 0
    with np.load(tmp_path / "s.npz", allow_pickle=False) as z:
        x = z["x"]
        assert z["y"].tolist() == list(range(10)) * 3
    assert np.array_equal(np.asarray(Image.open(tmp_path / "syn" / "Sneaker" / "00002.png")), x[2 * 10 + 7, 0])
    # the Python API: the same images from a run folder
    r = gankit.synthesize(cond, tmp_path / "api.npz", per_class=3, seed=2, truncation=0.8, progress=False)
    assert r["format"] == "npz" and r["classes"][7] == "Sneaker"
    with np.load(tmp_path / "api.npz", allow_pickle=False) as z:
        assert np.array_equal(z["x"], x)


@pytest.mark.parametrize("which, argv, code, needle", [
    ("cond", ["--num", "5"], 1, "--num: this generator is class-conditional (10 classes); ask for --per-class"),
    ("cond", [], 1, "--per-class: a class-conditional generator needs the number of images per class"),
    ("cond", ["--per-class", "0"], 2, "argument --per-class"),
    ("cond", ["--per-class", "3", "--truncation", "2"], 2, "argument --truncation"),
    ("plain", ["--per-class", "3"], 1, "--per-class: this generator is unconditional"),
])
def test_synthesize_refusals_are_one_line(runs, tmp_path, capsys, which, argv, code, needle):
    run = runs[0] if which == "cond" else runs[1]
    got, _, err = call(["synthesize", run, *argv, "--out", tmp_path / "s"], capsys)
    assert got == code and needle in one_error(err)
    assert not (tmp_path / "s").exists()


def test_synthesize_overwrite_from_the_command_line(runs, tmp_path, capsys):
    _, plain = runs
    assert call(["synthesize", plain, "--num", 4, "--out", tmp_path / "u"], capsys)[0] == 0
    code, _, err = call(["synthesize", plain, "--num", 2, "--out", tmp_path / "u"], capsys)
    assert code == 1 and "is not empty (holds a previous gankit synthesize output); pass --overwrite" in one_error(err)
    assert call(["synthesize", plain, "--num", 2, "--out", tmp_path / "u", "--overwrite"], capsys)[0] == 0
    assert sorted(p.name for p in (tmp_path / "u").glob("*.png")) == ["00000.png", "00001.png"]
