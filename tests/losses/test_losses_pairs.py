"""The uniform LossPair convention, the Wasserstein and relativistic losses, and one-sided label smoothing."""

import math

import pytest
import torch
import torch.nn.functional as F

from gankit.losses import LOSSES, LossPair, make_loss
from gankit.losses.adversarial import (d_loss_logistic, d_loss_relativistic, d_loss_wasserstein, g_loss_critic,
                                       g_loss_relativistic)

LOG2 = math.log(2)


def test_every_pair_takes_real_and_fake_and_returns_a_scalar():
    real, fake = torch.randn(6), torch.randn(6)
    for name, pair in LOSSES.items():
        assert isinstance(pair, LossPair) and pair.description, name
        assert pair.d_loss(real, fake).shape == (), name
        assert pair.g_loss(real, fake).shape == (), name
        if not pair.g_needs_real:
            # plain generator losses ignore `real`, so the loop may pass None
            assert pair.g_loss(None, fake).item() == pair.g_loss(real, fake).item(), name
    assert [n for n, p in LOSSES.items() if p.g_needs_real] == ["relativistic"]


def test_wasserstein_sign_and_values():
    assert LOSSES["wgan"].d_loss is d_loss_wasserstein and LOSSES["wgan-gp"].d_loss is d_loss_wasserstein
    assert LOSSES["wgan"].g_loss is g_loss_critic and LOSSES["wgan-gp"].g_loss is g_loss_critic
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    assert d_loss_wasserstein(real, fake).item() == pytest.approx(-1.0 - 2.0)  # E[f] - E[r]
    assert d_loss_wasserstein(real, real).item() == 0.0                        # indistinguishable: W1 estimate 0
    # the critic gains exactly c by scoring reals c higher: no optimum without a Lipschitz constraint
    assert d_loss_wasserstein(real + 5, fake).item() == pytest.approx(d_loss_wasserstein(real, fake).item() - 5)
    assert g_loss_critic(None, fake).item() == pytest.approx(1.0)
    f = torch.zeros(4, requires_grad=True)
    g_loss_critic(None, f).backward()
    assert torch.allclose(f.grad, torch.full((4,), -0.25))  # dL/df_i = -1/N: raise every fake score


def test_relativistic_values_at_equal_logits_and_shift_invariance():
    same = torch.full((8,), 1.7)
    # D(x) = sigmoid(l_r - mean l_f) = 0.5 everywhere: the same 2 log 2 as the 2014 loss at equilibrium
    assert d_loss_relativistic(same, same).item() == pytest.approx(2 * LOG2)
    assert g_loss_relativistic(same, same).item() == pytest.approx(2 * LOG2)
    real, fake = torch.randn(16), torch.randn(16)
    for fn in (d_loss_relativistic, g_loss_relativistic):
        assert fn(real + 3.0, fake + 3.0).item() == pytest.approx(fn(real, fake).item(), rel=1e-6)


def test_relativistic_matches_the_probability_form_of_the_paper():
    real, fake = torch.randn(32), torch.randn(32)
    dr = torch.sigmoid(real - fake.mean())   # "real is more realistic than the average fake"
    df = torch.sigmoid(fake - real.mean())
    expected_d = -(torch.log(dr).mean() + torch.log(1 - df).mean())
    expected_g = -(torch.log(df).mean() + torch.log(1 - dr).mean())
    assert d_loss_relativistic(real, fake).item() == pytest.approx(expected_d.item(), rel=1e-5)
    assert g_loss_relativistic(real, fake).item() == pytest.approx(expected_g.item(), rel=1e-5)


def test_relativistic_optima_and_gradient_directions():
    hi, lo = torch.full((8,), 20.0), torch.full((8,), -20.0)
    # D wins when reals score higher, G when fakes do
    assert d_loss_relativistic(hi, lo).item() < 1e-6 < d_loss_relativistic(lo, hi).item()
    assert g_loss_relativistic(lo, hi).item() < 1e-6 < g_loss_relativistic(hi, lo).item()
    # the generator loss depends on the real logits (that is the point of the relativistic loss)
    fake = torch.zeros(8, requires_grad=True)
    real = torch.zeros(8, requires_grad=True)
    g_loss_relativistic(real, fake).backward()
    assert (fake.grad < 0).all() and (real.grad > 0).all()
    assert g_loss_relativistic(torch.ones(8), torch.zeros(8)) != g_loss_relativistic(torch.zeros(8), torch.zeros(8))


def test_one_sided_label_smoothing_targets_one_minus_eps_on_reals_only():
    eps = 0.1
    real, fake = torch.randn(32), torch.randn(32)
    expected = (F.binary_cross_entropy_with_logits(real, torch.full_like(real, 1 - eps))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
    assert d_loss_logistic(real, fake, smooth=eps).item() == pytest.approx(expected.item(), rel=1e-5)
    assert d_loss_logistic(real, fake, smooth=0.0).item() == d_loss_logistic(real, fake).item()
    # one-sided: the fake term is untouched, so the smoothed-minus-plain difference ignores the fakes
    diff1 = d_loss_logistic(real, fake, smooth=eps) - d_loss_logistic(real, fake)
    diff2 = d_loss_logistic(real, fake * 3, smooth=eps) - d_loss_logistic(real, fake * 3)
    assert diff1.item() == pytest.approx(diff2.item(), abs=1e-6)
    # the optimal real logit is now finite: D(x) = 1 - eps, where the gradient vanishes
    opt = torch.full((4,), math.log((1 - eps) / eps), requires_grad=True)
    d_loss_logistic(opt, torch.zeros(4), smooth=eps).backward()
    assert opt.grad.abs().max().item() < 1e-6
    opt.grad = None
    d_loss_logistic(opt, torch.zeros(4)).backward()
    assert (opt.grad < -1e-3).all()  # without smoothing D still wants to push reals higher


def test_relativistic_supports_smoothing_too():
    real, fake = torch.randn(16), torch.randn(16)
    expected = (F.binary_cross_entropy_with_logits(real - fake.mean(), torch.full_like(real, 0.8))
                + F.binary_cross_entropy_with_logits(fake - real.mean(), torch.zeros_like(fake)))
    assert d_loss_relativistic(real, fake, smooth=0.2).item() == pytest.approx(expected.item(), rel=1e-5)


def test_make_loss_binds_smoothing_and_rejects_it_where_meaningless():
    assert make_loss("hinge") is LOSSES["hinge"]
    pair = make_loss("nonsaturating", label_smoothing=0.1)
    real, fake = torch.randn(8), torch.randn(8)
    assert pair.d_loss(real, fake).item() == pytest.approx(d_loss_logistic(real, fake, smooth=0.1).item())
    assert pair.g_loss is LOSSES["nonsaturating"].g_loss
    assert make_loss("relativistic", 0.1).g_needs_real
    for name in ("hinge", "lsgan", "wgan", "wgan-gp"):
        with pytest.raises(ValueError, match="label smoothing"):
            make_loss(name, 0.1)
    with pytest.raises(KeyError):
        make_loss("nope")
