"""CycleGAN's cycle and identity losses on tiny tensors, against hand computation."""

import pytest
import torch

from gankit.losses.cycle import (CYCLE_WEIGHT, IDENTITY_FRACTION, adversarial_scale, cycle_loss, identity_loss,
                                 l1)


def test_published_weights():
    assert CYCLE_WEIGHT == 10.0 and IDENTITY_FRACTION == 0.5


def test_l1_is_the_mean_absolute_difference():
    x = torch.tensor([[[[0.0, 1.0], [-1.0, 0.5]]]])
    y = torch.tensor([[[[0.5, 1.0], [0.0, 0.0]]]])
    # |0-0.5| + 0 + |-1-0| + |0.5-0| = 2.0 over 4 elements
    assert l1(x, y).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="shapes differ"):
        l1(x, y[..., :1])


def test_cycle_loss_by_hand():
    a = torch.zeros(1, 1, 2, 2)
    a_cycled = torch.tensor([[[[0.2, -0.2], [0.4, 0.0]]]])      # mean |.| = 0.8 / 4 = 0.2
    b = torch.ones(1, 1, 2, 2)
    b_cycled = torch.tensor([[[[1.0, 1.0], [0.0, 1.0]]]])       # mean |.| = 1 / 4 = 0.25
    assert cycle_loss(a, a_cycled, b, b_cycled).item() == pytest.approx(10 * (0.2 + 0.25))
    assert cycle_loss(a, a_cycled, b, b_cycled, weight=1.0).item() == pytest.approx(0.45)
    assert cycle_loss(a, a, b, b).item() == 0.0                 # a perfect round trip costs nothing


def test_identity_loss_is_half_the_cycle_weight_by_hand():
    a = torch.zeros(2, 1, 1, 2)
    a_same = torch.tensor([[[[0.1, 0.1]]], [[[0.3, -0.3]]]])    # mean |.| = 0.8 / 4 = 0.2
    b = torch.zeros(2, 1, 1, 2)
    b_same = torch.full((2, 1, 1, 2), -0.5)                     # 0.5
    # 0.5 * 10 * (0.2 + 0.5) = 3.5: the reference code's lambda_identity * lambda_A
    assert identity_loss(a, a_same, b, b_same).item() == pytest.approx(3.5)
    assert identity_loss(a, a_same, b, b_same, cycle_weight=2.0, fraction=1.0).item() == pytest.approx(1.4)
    assert identity_loss(a, a_same, b, b_same, fraction=0.0).item() == 0.0


def test_gradients_flow_to_the_reconstructions_only_through_the_losses():
    a, b = torch.zeros(1, 1, 1, 2), torch.zeros(1, 1, 1, 2)
    rec = torch.tensor([[[[0.5, -0.5]]]], requires_grad=True)
    cycle_loss(a, rec, b, b).backward()
    # d/drec of 10 * mean|rec| = 10 * sign(rec) / 2
    assert torch.equal(rec.grad, torch.tensor([[[[5.0, -5.0]]]]))


def test_adversarial_scale_restores_the_papers_lsgan_generator_objective():
    from gankit.losses import LOSSES
    fake = torch.tensor([0.0, 0.5])
    paper = ((fake - 1) ** 2).mean()  # CycleGAN's G minimises E[(D(G(x)) - 1)^2]
    assert (adversarial_scale("lsgan") * LOSSES["lsgan"].g_loss(None, fake)).item() == pytest.approx(paper.item())
    assert adversarial_scale("nonsaturating") == 1.0 and adversarial_scale("hinge") == 1.0
