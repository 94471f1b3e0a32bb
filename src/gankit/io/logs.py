"""Training logs: metrics.jsonl (always) and TensorBoard events (when tensorboard is installed)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np


class MetricsLog:
    """Append one JSON object per logged step to `run_dir/metrics.jsonl`.

    Each line is flushed as written, so `tail -f` and a crash both see every
    completed line. Scalars also go to TensorBoard when it can be imported.
    """

    def __init__(self, run_dir: str | Path, tensorboard: bool = True, purge_step: int | None = None):
        """purge_step: on resume, the first x-axis value (images) the resumed run logs; TensorBoard
        then hides the old events at or after it, which the killed process logged after its
        checkpoint and the resumed run logs again (metrics.jsonl drops those lines the same way)."""
        self.path = Path(run_dir) / "metrics.jsonl"
        self._file = open(self.path, "a")
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self._tb = SummaryWriter(str(Path(run_dir)), flush_secs=30, purge_step=purge_step)
            except Exception:  # tensorboard is an optional extra
                self._tb = None

    def write(self, record: dict) -> None:
        """record: flat dict of numbers and strings; must hold `images` (the x-axis)."""
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        self._file.write(json.dumps(clean) + "\n")
        self._file.flush()
        if self._tb is not None:
            step = int(record["images"])
            for key, value in record.items():
                if key != "images" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._tb.add_scalar(key, value, step)

    def image(self, tag: str, array: np.ndarray, images: int) -> None:
        """An (H, W, C) uint8 picture for TensorBoard's image tab (no-op without tensorboard)."""
        if self._tb is not None:
            self._tb.add_image(tag, array, images, dataformats="HWC")

    def close(self) -> None:
        """Close the file and the TensorBoard writer (which flushes its last events); idempotent."""
        self._file.close()
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def __enter__(self) -> "MetricsLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()  # also when training ends in an exception (a second Ctrl-C, a divergence)


NUMERIC_KEYS = ("step", "images", "epoch", "seconds", "loss_d", "loss_g", "d_real", "d_fake", "img_per_s")
"""Keys of a training line that hold a number (or null: MetricsLog writes a non-finite value as null)."""

_SHOWN_LINES = 5  # line numbers named in the warning about damaged lines; the rest are counted


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v) -> bool:
    """A number readers can do float arithmetic on (json reads 1 followed by 400 zeros as an int)."""
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _checked(record) -> tuple[dict | None, str]:
    """(record with non-finite numbers as None, "") for a line readers can use, else (None, why not).

    Readers format these values as numbers, so a string or a list where a number belongs would end
    in a traceback there; a null (a logged non-finite value) is kept: it is a missing value, and the
    rest of the line is still good."""
    if not isinstance(record, dict):
        return None, "not a JSON object"
    out = {}
    for key, v in record.items():
        if _is_number(v) and not _finite(v):
            v = None  # NaN/Infinity (Python's json reads them), or an integer past float: as the writer's null
        if key in NUMERIC_KEYS and v is not None and not _is_number(v):
            return None, f"{key} is not a number"
        out[key] = v
    alarm = out.get("alarm")
    if "alarm" in out and not (isinstance(alarm, dict) and all(isinstance(alarm.get(k, ""), str) for k in
                                                               ("kind", "message", "suggestion"))
                               and all(_is_number(alarm.get(k, 0)) and _finite(alarm.get(k, 0))
                                       for k in ("images", "step"))):
        return None, "malformed alarm"
    return out, ""


def read_metrics(run_dir: str | Path, warn: bool = True) -> list[dict]:
    """The usable records of a run's metrics.jsonl, in order.

    A line is skipped when it is not a JSON object, or holds a non-number where a number belongs
    (see NUMERIC_KEYS, and an alarm's fields); numbers that are not finite are returned as None.
    With `warn`, skipped lines are named in ONE warning line on stderr. A torn last line (no
    newline: a crash mid-write, or a run still writing it) is skipped silently."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    torn = not data.endswith(b"\n")
    out, skipped = [], []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record, why = _checked(json.loads(raw.decode("utf-8")))
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested thousands deep
            if torn and number == len(lines):
                continue
            record, why = None, "not JSON"
        if record is None:
            skipped.append((number, why))
        else:
            out.append(record)
    if skipped and warn:
        shown = ", ".join(str(n) for n, _ in skipped[:_SHOWN_LINES])
        more = f" and {len(skipped) - _SHOWN_LINES} more" if len(skipped) > _SHOWN_LINES else ""
        whys = "; ".join(dict.fromkeys(why for _, why in skipped))
        print(f"warning: {path}: skipped {len(skipped)} unreadable line(s): {shown}{more} ({whys})",
              file=sys.stderr)
    return out


def drop_records_after(run_dir: str | Path, step: int) -> int:
    """Remove the metrics.jsonl lines logged after generator step `step` (atomically); returns how many.

    A resume restarts from its checkpoint's step: lines written after it belong to a run that
    will be replayed (or, from an older checkpoint, abandoned), and would otherwise appear twice."""
    from gankit.io.files import write_text_atomic
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return 0
    keep, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:  # a torn line from a crash
            dropped += 1
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] > step:
            dropped += 1
            continue
        keep.append(line)
    if dropped:
        write_text_atomic(path, "".join(f"{line}\n" for line in keep))
    return dropped
