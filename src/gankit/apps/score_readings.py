"""What a discriminator's raw score means under each adversarial loss: plain data, no torch
(`gankit score --help` prints it).

Only the logistic losses (nonsaturating, minimax) train D as a classifier with binary
cross-entropy, so only there is sigmoid(score) D's probability that an image is real.
The targets quoted are gankit's (`gankit.losses.adversarial`): LSGAN a=0, b=c=1; hinge
margins at +-1; the Wasserstein critic's loss E[l_f] - E[l_r].
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Reading", "READINGS", "reading"]


class Reading(NamedTuple):
    kind: str          # what the raw score is: "logit", "critic", "margin", "least-squares", "relative"
    probability: bool  # whether sigmoid(score) is D's probability that the image is real
    text: str          # how to read the score, one line


_LOGIT = Reading("logit", True, "logit of D's probability that the image is real; "
                                "probability = sigmoid(logit), 0.5 = undecided")
_CRITIC = Reading("critic", False, "Wasserstein critic value: unbounded, higher = more real; only "
                                   "differences between images mean anything; not a probability")

# loss name (a key of gankit.losses.LOSSES) -> how its discriminator's raw output reads.
READINGS: dict[str, Reading] = {
    "nonsaturating": _LOGIT,
    "minimax": _LOGIT,
    "lsgan": Reading("least-squares", False, "least-squares output, trained towards 1 for real and 0 for "
                                             "fake (0.5 = undecided); not a probability, can leave [0, 1]"),
    "hinge": Reading("margin", False, "hinge margin: >= 1 confidently real, <= -1 confidently fake, "
                                      "between = inside the margin; not a probability"),
    "wgan": _CRITIC,
    "wgan-gp": _CRITIC,
    # RaSGAN's probability is sigmoid(C(x) - mean C(other kind)): a comparison, never one image alone.
    "relativistic": Reading("relative", False, "relativistic logit: higher = more real, only differences "
                                               "between images mean anything; sigmoid(a - b) is D's belief "
                                               "that image a is more real than b, not a probability alone"),
}


def reading(loss_name: str) -> Reading:
    """How to read D's raw scores for a run trained with `loss_name` (a key of LOSSES)."""
    if loss_name not in READINGS:
        raise ValueError(f"loss.name: no reading of the discriminator's score for {loss_name!r}")
    return READINGS[loss_name]
