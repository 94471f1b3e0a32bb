"""read_metrics on damaged metrics.jsonl (issue 10, item 8): bad lines are skipped with ONE warning
naming them; a null (a logged non-finite value) is a missing value, not a reason to drop the line."""

import json

import pytest

from gankit.io.logs import MetricsLog, read_metrics

GOOD = {"step": 2, "images": 32, "epoch": 0.1, "loss_d": 1.38, "loss_g": 0.69, "d_real": 0.5, "d_fake": 0.5,
        "img_per_s": 900.0, "seconds": 0.1}


def write(tmp_path, *lines, end="\n"):
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + end
    (tmp_path / "metrics.jsonl").write_text(text)


def test_a_null_loss_is_kept_as_missing_and_nan_reads_as_null(tmp_path, capsys):
    log = MetricsLog(tmp_path, tensorboard=False)
    log.write({**GOOD, "loss_d": float("nan")})
    log.close()
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 4, "images": 64, "loss_g": Infinity}\n')  # Python's json reads these literals
    records = read_metrics(tmp_path)
    assert [r["loss_d"] for r in records[:1]] == [None] and records[0]["loss_g"] == 0.69
    assert records[1] == {"step": 4, "images": 64, "loss_g": None}
    with open(tmp_path / "metrics.jsonl", "a") as f:  # an int no float holds: readers divide and plot it
        f.write('{"step": 5, "images": 1%s, "loss_d": -1%s}\n' % ("0" * 400, "0" * 400))
    assert read_metrics(tmp_path)[2] == {"step": 5, "images": None, "loss_d": None}
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("bad, why", [
    ("[1, 2, 3]", "not a JSON object"),
    ('"a string"', "not a JSON object"),
    ("null", "not a JSON object"),
    ('{"step": 3, "loss_d": "x"}', "loss_d is not a number"),
    ('{"step": 3, "images": [1]}', "images is not a number"),
    ('{"step": true}', "step is not a number"),
    ('{"images": 5, "alarm": "boom"}', "malformed alarm"),
    ('{"images": 5, "alarm": {"kind": 3, "message": "m"}}', "malformed alarm"),
    ('{"images": 5, "alarm": {"kind": "d_wins", "images": "many"}}', "malformed alarm"),
    ('{"images": 5, "alarm": {"kind": "d_wins", "images": 1%s}}' % ("0" * 400), "malformed alarm"),
    ("{not json", "not JSON"),
    ("[" * 100_000, "not JSON"),  # nested too deeply for the json module
])
def test_a_bad_line_is_skipped_with_one_warning_naming_it(tmp_path, capsys, bad, why):
    write(tmp_path, GOOD, bad, {**GOOD, "step": 4})
    assert [r["step"] for r in read_metrics(tmp_path)] == [2, 4]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning: ") and f"line(s): 2 ({why})" in err


def test_many_bad_lines_make_one_warning_that_names_the_first_and_counts_the_rest(tmp_path, capsys):
    write(tmp_path, *["[0]"] * 3, GOOD, *['{"loss_d": "x"}'] * 997)
    assert len(read_metrics(tmp_path)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "skipped 1000 unreadable line(s): 1, 2, 3, 5, 6 and 995 more (not a JSON object; loss_d is not a number)" in err
    assert read_metrics(tmp_path, warn=False) and capsys.readouterr().err == ""


def test_a_torn_last_line_is_silent_but_damage_elsewhere_is_not(tmp_path, capsys):
    write(tmp_path, GOOD, '{"step": 4, "ima', end="")  # a crash (or a live run) mid-write
    assert len(read_metrics(tmp_path)) == 1 and capsys.readouterr().err == ""
    write(tmp_path, GOOD, '{"step": 4, "ima')  # the same, but a whole line: damage
    assert len(read_metrics(tmp_path)) == 1 and ": 2 (not JSON)" in capsys.readouterr().err


def test_bytes_that_are_not_utf8_spoil_only_their_line(tmp_path, capsys):
    (tmp_path / "metrics.jsonl").write_bytes(json.dumps(GOOD).encode() + b"\n\xff\xfe{}\n\n")
    assert len(read_metrics(tmp_path)) == 1
    assert "1 unreadable line(s): 2 (not JSON)" in capsys.readouterr().err  # blank lines are not damage


def test_no_file_or_a_folder_in_its_place_is_no_records(tmp_path):
    assert read_metrics(tmp_path) == []
    (tmp_path / "metrics.jsonl").mkdir()
    assert read_metrics(tmp_path) == []
