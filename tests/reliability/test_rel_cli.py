"""The CLI under bad input (issue 5): every verb, given a missing path, a wrong file type, an
out-of-range number or a checkpoint from a different model, exits non-zero with one line that
names the problem and no traceback.

In-process through gankit.cli.main for speed, plus one real `python -m gankit` process (started in
the background by conftest). Argument errors are argparse's: exit 2, its usage line, then one
`error:` line naming the argument."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from gankit.cli import VERBS
from gankit.io.checkpoint import complete_checkpoints

from helpers import cli


@pytest.fixture(scope="module")
def f(tmp_path_factory, tiny_run, rel):
    """The bad inputs: missing paths, files of the wrong type, generators and checkpoints of another model."""
    base = tmp_path_factory.mktemp("bad-input")
    (base / "notes.txt").write_text("not a model, not an image, not TOML = [")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(base / "pic.png")
    garbage = base / "garbage-gen"
    shutil.copytree(tiny_run / "generator", garbage)
    (garbage / "model.safetensors").write_bytes(b"\x00" * 64)
    foreign_gen = base / "foreign-gen"
    shutil.copytree(tiny_run / "generator", foreign_gen)
    meta = json.loads((foreign_gen / "config.json").read_text())
    meta["config"]["model"]["width"] = 16
    (foreign_gen / "config.json").write_text(json.dumps(meta))
    rel.rehash(foreign_gen)  # a forger fixes the manifest too (else it is refused as damaged)
    foreign_run = base / "foreign-run"  # its checkpoint claims another width than its weights have
    shutil.copytree(tiny_run, foreign_run)
    shutil.rmtree(foreign_run / "generator")
    config = foreign_run / "config.toml"
    config.write_text(config.read_text().replace("width = 8", "width = 16"))
    for ckpt in complete_checkpoints(foreign_run):
        (ckpt / "config.toml").write_text((ckpt / "config.toml").read_text().replace("width = 8", "width = 16"))
        rel.rehash(ckpt)
    not_a_run = base / "empty-dir"
    not_a_run.mkdir()
    return {"run": tiny_run, "missing": base / "missing", "txt": base / "notes.txt", "png": base / "pic.png",
            "garbage": garbage, "foreign_gen": foreign_gen, "foreign_run": foreign_run, "empty": not_a_run,
            "out": base / "out"}


# (verb, kind of bad input, argv from the fixture dict, exit status, what the error line must name)
CASES = [
    ("train", "missing", lambda f: ["--config", f["missing"]], 1, "no such file"),
    ("train", "missing", lambda f: ["--resume", f["missing"]], 1, "has no config.toml"),
    ("train", "missing", lambda f: ["--data", f["missing"]], 1, "is neither a dataset"),
    ("train", "wrong type", lambda f: ["--config", f["png"]], 1, "pic.png' is not a TOML text file"),
    ("train", "wrong type", lambda f: ["--config", f["txt"]], 1, "notes.txt: not valid TOML"),
    ("train", "wrong type", lambda f: ["--resume", f["txt"]], 1, "has no config.toml"),
    ("train", "range", lambda f: ["--out", f["out"], "--set", "train.batch_size=0"], 1,
     "train.batch_size: must be > 0"),
    ("train", "range", lambda f: ["--out", f["out"], "--set", "train.kimg=" + "9" * 30], 1,
     "train.kimg: integer out of range"),
    ("train", "range", lambda f: ["--out", f["out"], "--set", "data.max_bad_fraction=2"], 1, "data.max_bad_fraction"),
    ("train", "range", lambda f: ["--minutes", "-1"], 2, "--minutes"),
    ("train", "range", lambda f: ["--seed", "x"], 2, "--seed"),
    ("train", "other model", lambda f: ["--resume", f["foreign_run"], "--kimg", "0.2"], 1,
     "G.safetensors does not match the configured model"),
    ("sample", "missing", lambda f: [f["missing"], "--out", f["out"] / "s.png"], 1, "no such run"),
    ("sample", "wrong type", lambda f: [f["txt"], "--out", f["out"] / "s.png"], 1, "got a file"),
    ("sample", "wrong type", lambda f: [f["empty"], "--out", f["out"] / "s.png"], 1, "not a gankit run"),
    ("sample", "wrong type", lambda f: [f["garbage"], "--out", f["out"] / "s.png"], 1, "not a valid safetensors file"),
    ("sample", "range", lambda f: [f["run"], "--num", "0", "--out", "x.png"], 2, "--num"),
    ("sample", "range", lambda f: [f["run"], "--seed", "-1", "--out", "x.png"], 2, "--seed"),
    ("sample", "other model", lambda f: [f["foreign_gen"], "--out", f["out"] / "s.png"], 1,
     "model.safetensors does not match the configured model"),
    ("sample", "other model", lambda f: [f["foreign_run"], "--out", f["out"] / "s.png"], 1,
     "G.safetensors does not match the configured model"),
    ("interpolate", "missing", lambda f: [f["missing"]], 1, "no such run"),
    ("interpolate", "wrong type", lambda f: [f["png"]], 1, "got a file"),
    ("interpolate", "range", lambda f: [f["run"], "--steps", "1"], 1, "--steps: need at least 2"),
    ("interpolate", "range", lambda f: [f["run"], "--seeds", "1"], 2, "--seeds"),
    ("interpolate", "other model", lambda f: [f["foreign_gen"], "--out", f["out"] / "i"], 1, "does not match"),
    ("score", "missing", lambda f: [f["missing"], f["png"]], 1, "not a run or checkpoint folder"),
    ("score", "wrong type", lambda f: [f["txt"], f["png"]], 1, "not a run or checkpoint folder"),
    ("score", "other model", lambda f: [f["foreign_run"], f["png"]], 1, "D.safetensors does not match"),
    ("info", "missing", lambda f: [f["missing"]], 1, "no such run"),
    ("info", "wrong type", lambda f: [f["txt"]], 1, "no such run, checkpoint or generator folder"),
    ("info", "wrong type", lambda f: [f["empty"]], 1, "not a gankit run"),
    ("data", "missing", lambda f: ["check", "fashion-mnist", "--data-dir", f["missing"]], 1, "does not hold"),
    ("data", "missing", lambda f: ["check", "cifar10", "--data-dir", f["missing"]], 1, "does not hold"),
    ("data", "missing", lambda f: ["check", "folder", "--data-dir", f["missing"]], 1, "does not exist"),
    ("data", "wrong type", lambda f: ["check", "folder", "--data-dir", f["txt"]], 1, "is not a directory"),
    ("data", "wrong type", lambda f: ["grid", "nope", "--out", f["out"] / "g.png"], 1, "'nope' is neither a dataset"),
    ("data", "range", lambda f: ["grid", "toy-ring", "--num", "0"], 2, "--num"),
    ("toy", "range", lambda f: ["--kimg", "0"], 2, "--kimg"),
    ("evaluate", "missing", lambda f: [f["missing"]], 1, "no such run"),
    ("evaluate", "missing", lambda f: [f["run"], "--inception-weights", f["missing"]], 1, "--inception-weights"),
    ("evaluate", "wrong type", lambda f: [f["txt"]], 1, "got a file"),
    ("evaluate", "range", lambda f: [f["run"], "--num", "0"], 2, "--num"),
    ("evaluate", "other model", lambda f: [f["foreign_gen"]], 1, "does not match the configured model"),
    ("features", "missing", lambda f: ["fit", "--data", f["missing"]], 1, "is neither a dataset"),
    ("features", "wrong type", lambda f: ["fit", "--data", f["txt"]], 1, "is neither a dataset"),
    ("features", "wrong type", lambda f: ["fit", "--data", "toy-ring"], 1, "toy data"),
    ("features", "range", lambda f: ["fit", "--resolution", "0"], 2, "--resolution"),
    ("report", "missing", lambda f: [f["missing"]], 1, "missing"),
    ("report", "wrong type", lambda f: [f["txt"]], 1, "notes.txt"),
    ("report", "range", lambda f: [f["run"], "--grids", "1"], 1, "--grids"),
    ("sample", "range", lambda f: [f["run"], "--device", "bogus", "--out", f["out"] / "d.png"], 2, "--device"),
    ("score", "range", lambda f: [f["run"], f["png"], "--device", "cuda:7"], 2, "--device"),
    ("interpolate", "range", lambda f: [f["run"], "--device", "bogus"], 2, "--device"),
    ("sample", "range", lambda f: [f["run"], "--num", "100000000000", "--out", f["out"] / "n.npy"], 1, "--num"),
    ("interpolate", "range",
     lambda f: [f["run"], "--seeds", "1,2", "--steps", "1000000000000", "--out", f["out"] / "i"],
     1, "--steps"),
]

def _check(verb, make, code, needle, f, capsys):
    got, out, err = cli([verb, *make(f)], capsys)
    assert got == code, (verb, got, out, err)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    if code == 2:  # argparse: its usage line(s), then one error line naming the argument
        assert lines[-1].startswith("gankit") and "error:" in lines[-1] and needle in lines[-1], err
    else:
        assert len(lines) == 1 and lines[0].startswith("gankit: error: ") and needle in lines[0], err


@pytest.mark.parametrize("verb, kind, make, code, needle", CASES,
                         ids=[f"{c[0]}-{c[1].replace(' ', '_')}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_gives_one_line_and_a_nonzero_exit(verb, kind, make, code, needle, f, capsys):
    _check(verb, make, code, needle, f, capsys)


def test_score_names_a_wrong_file_type_and_fails(f, capsys):
    code, out, err = cli(["score", f["run"], f["txt"], f["png"]], capsys)
    assert code == 1 and "Traceback" not in out + err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{f['txt']}\tERROR\tnot an image file type")


def test_every_verb_has_its_bad_input_covered(f, capsys):
    """Each verb gets every kind of bad input that applies to it; a verb added later without cases
    still gets the generic probes (a missing path, an unknown option) rather than none."""
    kinds = {}
    for verb, kind, *_ in CASES:
        kinds.setdefault(verb, set()).add(kind)
    every = {"missing", "wrong type", "range", "other model"}
    applies = {"train": every, "sample": every, "interpolate": every, "score": every,
               "info": {"missing", "wrong type"},           # takes no number and loads no model
               "data": {"missing", "wrong type", "range"},  # reads datasets, not models
               "toy": {"range"},                            # trains its own fresh run from a preset
               "evaluate": every,
               "features": {"missing", "wrong type", "range"},  # fits on a dataset, loads no model
               "report": {"missing", "wrong type", "range"}}    # reads a run's logs and grids, loads no model
    for verb, needed in applies.items():
        assert verb not in VERBS or kinds.get(verb, set()) >= needed, (verb, kinds.get(verb))
    for verb in VERBS:
        for argv in ([verb, f["missing"]], [verb, "--no-such-option"]):
            code, out, err = cli(argv, capsys)
            assert code not in (0, None) and "Traceback" not in out + err, (argv, out, err)
            assert err.strip().splitlines()[-1].startswith("gankit"), err


def test_a_real_process_prints_one_line_and_exits_1(background):
    code, out, err, base = background("cli-bad-input")  # python -m gankit sample <missing> --out ...
    assert code == 1 and "Traceback" not in out + err
    assert err.count("\n") == 1 and err.startswith("gankit: error: ") and str(base / "no-such-run") in err
