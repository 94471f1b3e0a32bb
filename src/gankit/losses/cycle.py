"""CycleGAN's reconstruction losses (Zhu et al. 2017), as pure functions.

Images are (N, C, H, W) float in [-1, 1]; every function returns a scalar tensor
and never calls backward (the training loop owns that).

The reference weights, as in the paper and its code (junyanz/pytorch-CycleGAN-and-pix2pix,
`--lambda_A 10 --lambda_B 10 --lambda_identity 0.5`):

    cycle     = 10 * (|G_ba(G_ab(a)) - a|_1 + |G_ab(G_ba(b)) - b|_1)
    identity  = 0.5 * 10 * (|G_ab(b) - b|_1 + |G_ba(a) - a|_1)

The identity weight is a *fraction of the cycle weight* (0.5 of 10 = 5 per direction): the
reference code multiplies `lambda_identity` by `lambda_A` / `lambda_B`. Each L1 is a mean over
every element (torch's L1Loss default), so the terms do not grow with image size.

The adversarial part of the generator objective is the run's loss pair (LSGAN by default).
gankit's LSGAN generator loss carries Mao et al.'s 1/2 (`0.5 E[(D(G(x)) - 1)^2]`); CycleGAN's
generator minimises `E[(D(G(x)) - 1)^2]` and halves only the discriminator's objective, so
`adversarial_scale("lsgan") = 2` restores the paper's adversarial : cycle ratio of 1 : 10.
"""

from __future__ import annotations

from torch import Tensor

CYCLE_WEIGHT = 10.0
"""lambda of the paper's cycle-consistency term (lambda_A = lambda_B = 10)."""
IDENTITY_FRACTION = 0.5
"""The identity term's weight as a fraction of the cycle weight (the reference code's lambda_identity)."""

__all__ = ["CYCLE_WEIGHT", "IDENTITY_FRACTION", "l1", "cycle_loss", "identity_loss", "adversarial_scale"]


def l1(x: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error over every element; x and target of one shape. A scalar >= 0."""
    if x.shape != target.shape:
        raise ValueError(f"l1: shapes differ, {tuple(x.shape)} vs {tuple(target.shape)}")
    return (x - target).abs().mean()


def cycle_loss(a: Tensor, a_cycled: Tensor, b: Tensor, b_cycled: Tensor, weight: float = CYCLE_WEIGHT) -> Tensor:
    """weight * (L1(G_ba(G_ab(a)), a) + L1(G_ab(G_ba(b)), b)): both directions' forward cycles.

    a, a_cycled: (N, C, H, W) domain-A images and their round trips A -> B -> A; b, b_cycled likewise."""
    return weight * (l1(a_cycled, a) + l1(b_cycled, b))


def identity_loss(a: Tensor, a_same: Tensor, b: Tensor, b_same: Tensor, cycle_weight: float = CYCLE_WEIGHT,
                  fraction: float = IDENTITY_FRACTION) -> Tensor:
    """fraction * cycle_weight * (L1(G_ba(a), a) + L1(G_ab(b), b)).

    a_same = G_ba(a): the B -> A generator fed an image already in A should leave it alone (the
    paper's identity mapping loss, which keeps colour composition); b_same = G_ab(b) likewise.
    With fraction 0 the term is exactly 0 and its generator calls can be skipped."""
    return (fraction * cycle_weight) * (l1(a_same, a) + l1(b_same, b))


def adversarial_scale(loss_name: str) -> float:
    """Factor on gankit's generator loss that gives CycleGAN's generator objective: 2 for "lsgan"
    (whose gankit form halves it), 1 for every other loss."""
    return 2.0 if loss_name == "lsgan" else 1.0
