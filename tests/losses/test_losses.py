"""Adversarial losses: values at known points, optima and gradient directions on hand-built logits."""

import math

import pytest
import torch

from gankit.losses import LOSSES
from gankit.losses.adversarial import (d_loss_hinge, d_loss_least_squares, d_loss_logistic, g_loss_minimax,
                                       g_loss_nonsaturating)


def test_logistic_loss_at_equilibrium_is_two_log_two():
    zero = torch.zeros(16)
    # D = 0.5 everywhere: -log 0.5 - log 0.5
    assert d_loss_logistic(zero, zero).item() == pytest.approx(2 * math.log(2))
    # the minimax value E[log D(x)] + E[log(1 - D(G(z)))] at D = 0.5 is -2 log 2
    assert (-d_loss_logistic(zero, zero)).item() == pytest.approx(-2 * math.log(2))
    assert g_loss_minimax(None, zero).item() == pytest.approx(-math.log(2))
    assert g_loss_nonsaturating(None, zero).item() == pytest.approx(math.log(2))


def test_logistic_matches_the_probability_form():
    real, fake = torch.randn(64), torch.randn(64)
    dr, df = torch.sigmoid(real), torch.sigmoid(fake)
    expected = -(torch.log(dr).mean() + torch.log(1 - df).mean())
    assert d_loss_logistic(real, fake).item() == pytest.approx(expected.item(), rel=1e-5)
    assert g_loss_minimax(real, fake).item() == pytest.approx(torch.log(1 - df).mean().item(), rel=1e-5)
    assert g_loss_nonsaturating(real, fake).item() == pytest.approx(-torch.log(df).mean().item(), rel=1e-5)


def test_losses_are_finite_for_extreme_logits():
    big = torch.tensor([1e4, -1e4, 80.0, -80.0])
    for pair in LOSSES.values():
        assert torch.isfinite(pair.d_loss(big, -big)) and torch.isfinite(pair.g_loss(-big, big))


def test_discriminator_losses_fall_as_d_separates_better():
    for name, pair in LOSSES.items():
        d_fn = pair.d_loss
        worse = d_fn(torch.full((8,), 0.1), torch.full((8,), 0.9))  # real scored below fake
        better = d_fn(torch.full((8,), 0.9), torch.full((8,), 0.1))
        assert better < worse, name


def test_generator_gradients_push_fake_logits_up():
    for name, pair in LOSSES.items():
        fake = torch.zeros(8, requires_grad=True)
        real = torch.zeros(8) if pair.g_needs_real else None
        pair.g_loss(real, fake).backward()
        assert (fake.grad < 0).all(), name  # descending the loss raises D's verdict on fakes


def test_minimax_saturates_where_nonsaturating_does_not():
    rejected = torch.full((8,), -10.0, requires_grad=True)  # D is sure these are fake
    g_loss_minimax(None, rejected).backward()
    sat = rejected.grad.abs().sum().item()
    rejected.grad = None
    g_loss_nonsaturating(None, rejected).backward()
    assert sat < 1e-3 < rejected.grad.abs().sum().item()


def test_least_squares_and_hinge_optima():
    assert d_loss_least_squares(torch.ones(4), torch.zeros(4)).item() == 0.0
    assert d_loss_hinge(torch.ones(4), -torch.ones(4)).item() == 0.0
    assert d_loss_hinge(torch.full((4,), 3.0), torch.full((4,), -3.0)).item() == 0.0  # margins saturate
