"""Training diagnostics: watch the logged records for the classic GAN failures and say what to try.

Pure logic on numbers the loop already has: no I/O, no training, no models. The
loop feeds a `Monitor` every record it logs (and, now and then, the diversity of
a fixed-seed batch); the monitor answers with the alarms raised by that record.

    d_wins       D(x) near 1 and D(G(z)) near 0 for `window` records while loss_g climbs
    collapse     the fixed-seed batch diversity below `collapse_ratio` x the real data's
                 for `window` consecutive checks (once past the generator's warm-up)
    oscillation  loss_d or loss_g swinging widely (coefficient of variation over
                 `osc_window` records above `osc_cv`) with a growing amplitude
    nonfinite    a NaN/inf loss or gradient, raised by the loop through `Monitor.nonfinite`

Each kind is raised once per episode: after it fires it stays quiet until its
condition has been clear for `window` consecutive records (or checks), then it is
armed again. The cool-down keeps a value hovering at a threshold from raising an
alarm every few records.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass

import torch

from gankit.config import DiagnosticsConfig

SUGGESTIONS = {
    "d_wins": "lower optim.lr_d (e.g. half of optim.lr_g); give D a harder task with loss.label_smoothing=0.1 "
              "(logistic losses), augment.policy=\"translation,color,cutout\" or loss.instance_noise=0.1; "
              "use fewer train.d_steps if it is above 1",
    "collapse": "let D see sample diversity with model.pack=2 (PacGAN) or model.minibatch_std=true; lower "
                "optim.lr_g and optim.lr_d; or switch to loss.name=wgan-gp with loss.gp_weight=10",
    "oscillation": "lower optim.lr_g and optim.lr_d (e.g. halve both); keep optim.beta1=0.5 (or 0); "
                   "stabilise D with model.d_spectral_norm=true (or loss.r1_gamma)",
    "nonfinite": "lower optim.lr_g and optim.lr_d; check the data range (images must be in [-1, 1]); "
                 "add a gradient penalty (loss.r1_gamma=10, or loss.name=wgan-gp with loss.gp_weight=10) "
                 "or model.d_spectral_norm=true",
}

CRITIC_LOSSES = ("wgan", "wgan-gp")
"""Losses whose D outputs are unbounded critic scores: sigmoid(score) is no probability, so the
"D wins" check (which reads D(x) and D(G(z)) as probabilities) is skipped for them."""

_LOSS_SCALE_FLOOR = 1.0
"""The coefficient of variation divides by max(|mean|, this): losses that hover around 0 (a WGAN
critic's, a hinge generator's) would otherwise make the ratio explode on plain noise."""


@dataclass
class Alarm:
    """One diagnostic raised during training, at `step` (G steps) and `images` (real images shown to D)."""

    kind: str
    message: str
    suggestion: str
    step: int
    images: int

    def to_dict(self) -> dict:
        return asdict(self)

    def record(self) -> dict:
        """The metrics.jsonl line for this alarm: {"images", "step", "alarm": to_dict()}."""
        return {"images": self.images, "step": self.step, "alarm": self.to_dict()}

    def line(self) -> str:
        """One human line for the progress bar's log: what happened and what to try."""
        return f"alarm [{self.kind}] at {self.images:,} images: {self.message}. Try: {self.suggestion}"


class _Episode:
    """Raise once when a condition has held `fire_after` times in a row; re-arm after `clear_after` misses."""

    def __init__(self, fire_after: int, clear_after: int):
        self.fire_after, self.clear_after = fire_after, clear_after
        self.held = self.missed = 0
        self.raised = False

    def update(self, holds: bool, may_fire: bool = True) -> bool:
        if holds:
            self.held, self.missed = self.held + 1, 0
        else:
            self.held, self.missed = 0, self.missed + 1
            if self.raised and self.missed >= self.clear_after:
                self.raised = False
        if holds and may_fire and not self.raised and self.held >= self.fire_after:
            self.raised = True
            return True
        return False


def _finite(record: dict, *keys: str) -> bool:
    return all(isinstance(record.get(k), (int, float)) and not isinstance(record.get(k), bool)
               and math.isfinite(record[k]) for k in keys)


def _slope(ys: list[float]) -> float:
    """Least-squares slope of ys against 0, 1, 2, ..."""
    n = len(ys)
    mx, my = (n - 1) / 2, sum(ys) / n
    return sum((i - mx) * (y - my) for i, y in enumerate(ys)) / sum((i - mx) ** 2 for i in range(n))


def _std(ys: list[float]) -> float:
    m = sum(ys) / len(ys)
    return math.sqrt(sum((y - m) ** 2 for y in ys) / len(ys))


class Monitor:
    """Watch logged training records for a runaway discriminator, mode collapse and oscillation.

    cfg:  the `diagnostics` section of the config (thresholds; `enabled=False` silences
          observe/observe_diversity, while `nonfinite` still builds its alarm).
    loss: the config's loss.name; critic losses (wgan, wgan-gp) skip the "D wins" check.

    Every alarm raised is also kept, in order, in `history`.
    """

    def __init__(self, cfg: DiagnosticsConfig | None = None, *, loss: str = "nonsaturating"):
        self.cfg = cfg = cfg if cfg is not None else DiagnosticsConfig()
        self.check_d_wins = loss not in CRITIC_LOSSES
        self.history: list[Alarm] = []
        self._d = deque(maxlen=max(cfg.window, 2))  # (d_real, d_fake, loss_g) of recent records
        self._losses = {k: deque(maxlen=cfg.osc_window) for k in ("loss_d", "loss_g")}
        self._episodes = {"d_wins": _Episode(cfg.window, cfg.window), "collapse": _Episode(cfg.window, cfg.window),
                          "oscillation": _Episode(1, cfg.window)}
        self._last = (0, 0)  # (step, images) of the newest record, for diversity alarms
        self._diverse_once = False  # collapse is a fall from diversity; a fresh G has none to lose

    def _raise(self, kind: str, message: str, step: int, images: int) -> Alarm:
        alarm = Alarm(kind, message, SUGGESTIONS[kind], int(step), int(images))
        self.history.append(alarm)
        return alarm

    def observe(self, record: dict) -> list[Alarm]:
        """Feed one logged record (keys step, images, loss_d, loss_g, d_real, d_fake); returns new alarms.

        Call it on every record the loop logs, in order. Records with missing or non-finite
        values are skipped (non-finite losses are the loop's to report, via `nonfinite`).
        """
        if not self.cfg.enabled or not _finite(record, "step", "images"):
            return []
        step, images = int(record["step"]), int(record["images"])
        self._last = (step, images)
        out = []
        if self.check_d_wins and _finite(record, "d_real", "d_fake", "loss_g"):
            out += self._check_d_wins(record, step, images)
        if _finite(record, "loss_d", "loss_g"):
            out += self._check_oscillation(record, step, images)
        return out

    def _check_d_wins(self, record: dict, step: int, images: int) -> list[Alarm]:
        c = self.cfg
        self._d.append((record["d_real"], record["d_fake"], record["loss_g"]))
        wins = record["d_real"] > c.d_real_max and record["d_fake"] < c.d_fake_min
        loss_g = [r[2] for r in self._d]  # the last `window` records (at least 2, for a slope)
        climbing = len(loss_g) >= 2 and _slope(loss_g) > 0
        if not self._episodes["d_wins"].update(wins, climbing):
            return []
        return [self._raise("d_wins", f"the discriminator wins outright: D(x) {record['d_real']:.3f} > "
                            f"{c.d_real_max:g} and D(G(z)) {record['d_fake']:.3f} < {c.d_fake_min:g} for "
                            f"{c.window} records while loss_g climbs ({loss_g[0]:.3f} -> {loss_g[-1]:.3f}); "
                            f"G gets almost no gradient", step, images)]

    def _check_oscillation(self, record: dict, step: int, images: int) -> list[Alarm]:
        c = self.cfg
        found = []
        for key, values in self._losses.items():
            values.append(float(record[key]))
            if len(values) < c.osc_window:
                continue
            ys = list(values)
            cv = _std(ys) / max(abs(sum(ys) / len(ys)), _LOSS_SCALE_FLOOR)
            half = len(ys) // 2
            first, last = _std(ys[:half]), _std(ys[-half:])
            if cv > c.osc_cv and last > c.osc_growth * first:
                found.append(f"{key} swings widely (relative spread {cv:.2f} > {c.osc_cv:g} over "
                             f"{c.osc_window} records) with a growing amplitude (std {first:.3g} -> {last:.3g})")
        if not self._episodes["oscillation"].update(bool(found)):
            return []
        return [self._raise("oscillation", "the losses oscillate: " + "; ".join(found), step, images)]

    def observe_diversity(self, value: float, reference: float, *, step: int | None = None,
                          images: int | None = None) -> list[Alarm]:
        """Feed one diversity check; returns new alarms (a "collapse" one, or none).

        value:     `batch_diversity` of the fixed-seed generated batch (the same seed every check).
        reference: `batch_diversity` of a fixed real batch of the same size, in the same space
                   (pixels or features), computed once.
        step/images default to those of the last record given to `observe`.

        A fresh generator's samples are all alike, so checks count only once the samples have
        been diverse (>= collapse_ratio x reference) once, or after `collapse_warmup_kimg`.
        """
        if not self.cfg.enabled or not (math.isfinite(value) and math.isfinite(reference)) or reference <= 0:
            return []
        if step is None or images is None:
            step, images = (self._last[0] if step is None else step), (self._last[1] if images is None else images)
        c = self.cfg
        low = value < c.collapse_ratio * reference
        self._diverse_once |= not low
        if not (self._diverse_once or images >= c.collapse_warmup_kimg * 1000):
            return []
        if not self._episodes["collapse"].update(low):
            return []
        return [self._raise("collapse", f"mode collapse: the fixed-seed batch's diversity {value:.4g} is "
                            f"{value / reference:.0%} of the real data's {reference:.4g} (below "
                            f"{c.collapse_ratio:.0%}) for {c.window} checks; G produces near-identical "
                            f"samples", step, images)]

    def nonfinite(self, step: int, images: int, what: str) -> Alarm:
        """The alarm for a non-finite value the loop found; `what` names it, e.g. "loss_d" or "gradients of G"."""
        return self._raise("nonfinite", f"non-finite {what} at step {int(step):,}", step, images)


@torch.no_grad()
def batch_diversity(x: torch.Tensor, max_samples: int = 256) -> float:
    """Mean pairwise L2 distance between the flattened samples of `x` (N, ...), N >= 2.

    Uses the first `max_samples` samples (the number of pairs grows as N^2). Images are
    compared as given (the library's [-1, 1] floats) or as feature vectors; compare a
    generated batch only with a real batch of the same size in the same space.
    """
    if x.ndim < 1 or x.shape[0] < 2:
        raise ValueError(f"batch_diversity needs at least 2 samples, got shape {tuple(x.shape)}")
    flat = x[:max_samples].reshape(min(x.shape[0], max_samples), -1).double()
    return torch.pdist(flat).mean().item()
