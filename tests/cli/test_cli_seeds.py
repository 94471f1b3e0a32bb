"""One seed rule for every verb and train.seed (issue 10, item 9): integers in [0, 2**32), checked when
the command line is read; a refused seed names its option, and 2**32 - 1 works end to end."""

import argparse

import pytest

from gankit.cli import VERBS, build_parser
from gankit.cli.common import seed, seed_list
from gankit.config import SEED_LIMIT
from gankit.training.loop import train

from helpers import cli as call, tiny_config

TOP = SEED_LIMIT - 1  # 4294967295


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_idx_dir):
    return train(tiny_config(tmp_path_factory.mktemp("seeds") / "tiny", tiny_idx_dir), progress=False)


@pytest.mark.parametrize("argv, option", [
    (["train", "--seed", "-5"], "--seed"),
    (["train", "--seed", "-5", "--print-config"], "--seed"),
    (["train", "--seed", str(SEED_LIMIT)], "--seed"),
    (["train", "--seed", str(SEED_LIMIT), "--print-config"], "--seed"),
    (["train", "--seed", "1.5"], "--seed"),
    (["sample", "RUN", "--seed", str(2**64)], "--seed"),
    (["sample", "RUN", "--seed", "-1"], "--seed"),
    (["interpolate", "RUN", "--seeds=-1,2"], "--seeds"),
    (["interpolate", "RUN", "--seeds", "1,,2"], "--seeds"),
    (["interpolate", "RUN", "--seeds", f"1,{SEED_LIMIT}"], "--seeds"),
    (["evaluate", "RUN", "--seed", str(SEED_LIMIT)], "--seed"),
    (["toy", "--seed", "-1"], "--seed"),
])
def test_a_seed_out_of_range_is_refused_naming_its_option(argv, option, run, capsys):
    code, _, err = call([run if a == "RUN" else a for a in argv], capsys)
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith(f"gankit {argv[0]}: error: argument {option}") and "[0, 2**32)" in last


@pytest.mark.parametrize("value", ["-5", str(SEED_LIMIT)])
@pytest.mark.parametrize("print_config", [True, False])
def test_train_seed_out_of_range_is_refused_by_the_config(value, print_config, tmp_path, capsys):
    code, _, err = call(["train", "--out", tmp_path / "r", "--set", f"train.seed={value}",
                         *(["--print-config"] if print_config else [])], capsys)
    assert code == 1 and err == f"gankit: error: train.seed: must be an integer in [0, 2**32), got {value}\n"
    assert not (tmp_path / "r").exists()


def test_the_largest_seed_works_everywhere(run, tmp_path, capsys):
    for argv in (["train", "--seed", TOP, "--print-config"], ["train", "--set", f"train.seed={TOP}", "--print-config"]):
        code, out, _ = call(argv, capsys)
        assert code == 0 and f"seed = {TOP}" in out
    code, out, _ = call(["sample", run, "--seed", TOP, "--num", 4, "--out", tmp_path / "s.png"], capsys)
    assert code == 0 and (tmp_path / "s.png").is_file()
    code, out, _ = call(["interpolate", run, "--seeds", f"0,{TOP}", "--steps", 3, "--out", tmp_path / "i"], capsys)
    assert code == 0 and (tmp_path / "i").is_dir()
    parser = build_parser()
    assert parser.parse_args(["evaluate", "x", "--seed", str(TOP)]).seed == TOP
    assert parser.parse_args(["toy", "--seed", str(TOP)]).seed == TOP


def test_every_seed_option_of_every_verb_uses_the_one_rule():
    """A verb that later takes a seed must use cli.common.seed / seed_list, not a bare int."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found = []
    for verb in VERBS:
        for action in sub.choices[verb]._actions:
            if "seed" in action.dest:
                found.append(verb)
                assert action.type in (seed, seed_list), (verb, action.dest, action.type)
    assert {"train", "sample", "interpolate", "evaluate", "toy"} <= set(found)
