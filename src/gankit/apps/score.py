"""The discriminator's verdict on images: its raw score, what that score means for the run's loss,
and a probability of being real only where the loss makes D a logistic classifier.

    verdicts = score_files(D, cfg, ["a.png"])   # [Verdict(path, score, probability, kind, ...)]
    READINGS[cfg.loss.name]                    # how to read the scores of that loss

sigmoid(score) is a probability only for the logistic losses (nonsaturating, minimax): D was
trained with binary cross-entropy on it. A WGAN critic, a hinge margin or an LSGAN regression
output pushed through a sigmoid gives a number in [0, 1] that means nothing (0.6045 on a WGAN
critic says nothing about how real the image is). RaSGAN (relativistic) is logistic too, but on
differences of logits: its probabilities compare two images, so one image gets its raw score only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torch import nn

from gankit.apps.score_readings import READINGS, Reading, reading
from gankit.config import Config
from gankit.data import to_float
from gankit.data.folder import EXTENSIONS, bomb_guard, read_image

__all__ = ["Verdict", "score_files", "READINGS", "Reading", "reading"]


@dataclass
class Verdict:
    path: str
    score: float | None = None        # D's raw output for the image; None when it could not be read
    probability: float | None = None  # sigmoid(score) for logistic losses only, else None
    kind: str | None = None           # Reading.kind of the run's loss
    note: str | None = None           # what was converted to fit the model
    error: str | None = None          # why the file could not be scored


def _inspect(path: Path, channels: int, resolution: int) -> str | None:
    """A note on what must change for the image to fit the model, read from the header only."""
    with Image.open(path) as img:
        w, h = img.size
        mode = img.mode
    notes = []
    if (w, h) != (resolution, resolution):
        notes.append(f"resized from {w}x{h} to {resolution}x{resolution}")
    if mode != ("L" if channels == 1 else "RGB"):
        notes.append(f"converted from {mode} to {'grayscale' if channels == 1 else 'RGB'}")
    return ", ".join(notes) or None


@torch.inference_mode()
def score_files(D: nn.Module, cfg: Config, paths: list[str | Path], batch_size: int = 64) -> list[Verdict]:
    """One Verdict per path, in order. Unreadable files get `error` set and are not scored.

    D maps float (N, C, H, W) in [-1, 1] to (N,) raw scores; cfg is the run's config (its
    data shape, and its loss, which decides what the score means: `READINGS`).
    """
    how = reading(cfg.loss.name)
    c, r = cfg.data.channels, cfg.data.resolution
    verdicts, images, slots = [], [], []
    with bomb_guard():
        for p in map(Path, paths):
            v = Verdict(str(p))
            verdicts.append(v)
            if not p.is_file():
                v.error = "no such file"
            elif p.suffix.lower() not in EXTENSIONS:
                v.error = f"not an image file type gankit reads ({', '.join(sorted(EXTENSIONS))})"
            else:
                try:
                    v.note = _inspect(p, c, r)
                    images.append(torch.from_numpy(read_image(p, c, r)))
                    slots.append(v)
                except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError,
                        Image.DecompressionBombWarning) as e:
                    v.error = f"unreadable image ({type(e).__name__}: {e})"
    device = next(D.parameters()).device
    for i in range(0, len(images), batch_size):
        x = to_float(torch.stack(images[i:i + batch_size]).to(device))
        logits = D(x).float().cpu()  # (N,) raw scores
        for v, score in zip(slots[i:i + batch_size], logits.reshape(len(x)).tolist()):
            v.score, v.kind = score, how.kind
            if how.probability:
                v.probability = float(torch.sigmoid(torch.tensor(score)))
    return verdicts
