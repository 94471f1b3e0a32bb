"""Stopping training on a signal: SIGINT/SIGTERM finish the step and save; a second one stops now.

The loop asks `StopRequests.signum` once per step; saves run inside `saving()`, so a second
signal never cuts a checkpoint or an export in half. Whatever happens, the message says
which complete checkpoint there is to resume from.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from pathlib import Path

from gankit.training.state import Counters


class TrainingInterrupted(Exception):
    """Training stopped on SIGINT/SIGTERM; `signum` tells which, `checkpoint` is the newest complete
    checkpoint (None if there is none) and the message says what was and was not saved."""

    def __init__(self, signum: int, checkpoint: Path | None, message: str | None = None):
        super().__init__(message or f"interrupted by signal {signum}; state saved in {checkpoint}")
        self.signum, self.checkpoint = signum, checkpoint


class StopNow(KeyboardInterrupt):
    """A second SIGINT/SIGTERM: stop without finishing the step or saving it."""


class StopRequests:
    """SIGINT/SIGTERM become a flag, so the current step finishes and a checkpoint is written.

    A second signal means "stop now": it stops at once, except that a save under way is
    finished first (`saving()`): cutting it would leave the state the user just asked to keep
    half written. Either way the message says what the newest complete checkpoint is."""

    def __init__(self, counters: Counters):
        self.counters, self.signum, self.again, self._saving = counters, None, False, 0
        self.saved: tuple[Path, int, int] | None = None  # newest complete checkpoint: (path, step, images)
        self._previous = {}

    def _handler(self, signum, frame):
        if self.signum is None:
            self.signum = signum
            return
        self.again = True
        if not self._saving:
            raise StopNow

    @contextmanager
    def saving(self):
        self._saving += 1  # a count: the final save nests a checkpoint inside checkpoint + export
        try:
            yield
        finally:
            self._saving -= 1
        if self.again and not self._saving:
            raise StopNow

    def __enter__(self) -> "StopRequests":
        try:
            self._previous = {s: signal.signal(s, self._handler) for s in (signal.SIGINT, signal.SIGTERM)}
        except ValueError:  # not the main thread: no signal handling
            self._previous = {}
        return self

    def __exit__(self, kind, exc, tb) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)
        if kind is not None and issubclass(kind, StopNow):
            step = self.counters.step
            if self.saved is None:
                what = (f"stopped without saving step {step:,}; no checkpoint was saved, so there is nothing "
                        f"to resume: rerun the same command to start over")
            else:
                path, saved_step, images = self.saved
                what = (f"stopped after saving step {step:,} in {path} ({images:,} images)" if saved_step == step
                        else f"stopped without saving step {step:,}; newest complete checkpoint: {path} "
                             f"(step {saved_step:,}, {images:,} images)")
                what += f"; continue with gankit train --resume {path.parent.parent}"
            raise TrainingInterrupted(self.signum or signal.SIGINT, self.saved and self.saved[0],
                                      f"second interrupt: {what}") from None
