"""Adversarial losses and regularizers: pure functions returning tensors.

`LOSSES` maps ``loss.name`` to a `LossPair` whose d_loss and g_loss both take
``(real_logits, fake_logits)``; `make_loss` binds label smoothing. The
regularizers (gradient penalty, R1, path length, instance noise, weight
clipping) live in `gankit.losses.regularizers`.
"""

from gankit.losses.adversarial import LOSSES, LossPair, make_loss, probability
from gankit.losses.regularizers import (annealed_std, clip_weights_, gradient_penalty, instance_noise,
                                        path_length_penalty, r1_penalty)

__all__ = ["LOSSES", "LossPair", "make_loss", "probability", "annealed_std", "clip_weights_",
           "gradient_penalty", "instance_noise", "path_length_penalty", "r1_penalty"]
