"""Training logs: metrics.jsonl (always) and TensorBoard events (when tensorboard is installed)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


class MetricsLog:
    """Append one JSON object per logged step to `run_dir/metrics.jsonl`.

    Each line is flushed as written, so `tail -f` and a crash both see every
    completed line. Scalars also go to TensorBoard when it can be imported.
    """

    def __init__(self, run_dir: str | Path, tensorboard: bool = True):
        self.path = Path(run_dir) / "metrics.jsonl"
        self._file = open(self.path, "a")
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self._tb = SummaryWriter(str(Path(run_dir)), flush_secs=30)
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
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(run_dir: str | Path) -> list[dict]:
    """All records of a run's metrics.jsonl (a torn last line from a crash is ignored)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
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
