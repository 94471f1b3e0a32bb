"""Adversarial losses and regularizers: pure functions returning tensors."""

from gankit.losses.adversarial import LOSSES, probability

__all__ = ["LOSSES", "probability"]
