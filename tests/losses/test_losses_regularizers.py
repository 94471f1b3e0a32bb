"""Regularizers: gradient penalty, R1, path length, instance noise and weight clipping, against hand-derived values."""

import pytest
import torch
from torch import nn

from gankit.losses.regularizers import (annealed_std, clip_weights_, gradient_penalty, instance_noise,
                                        path_length_penalty, r1_penalty)
from gankit.models.layers import pack_samples


def linear_critic(w: torch.Tensor, b: float = 0.3):
    """D(x) = <w, flatten(x)> + b: its input gradient is w everywhere."""
    w = w.clone().requires_grad_(True)
    return (lambda x: x.flatten(1) @ w + b), w


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_gradient_penalty_is_zero_for_a_unit_norm_linear_critic():
    real, fake = torch.randn(16, 1, 4, 4), torch.randn(16, 1, 4, 4)
    w = torch.randn(16)
    D, _ = linear_critic(w / w.norm())
    assert gradient_penalty(D, real, fake, gen()).item() < 1e-10


@pytest.mark.parametrize("norm", [0.5, 2.0, 3.0])
def test_gradient_penalty_of_a_linear_critic_is_norm_minus_one_squared(norm):
    real, fake = torch.randn(8, 5), torch.randn(8, 5)
    w = torch.randn(5)
    D, w = linear_critic(w * norm / w.norm())
    gp = gradient_penalty(D, real, fake, gen())
    assert gp.item() == pytest.approx((norm - 1) ** 2, rel=1e-5)
    # create_graph: the penalty differentiates w.r.t. D's weights, d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    gp.backward()
    assert torch.allclose(w.grad, 2 * (norm - 1) * w.detach() / norm, atol=1e-5)


def test_gradient_penalty_is_positive_for_a_nonlinear_critic_and_detaches_fake():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
    real = torch.randn(32, 3)
    fake = torch.randn(32, 3, requires_grad=True)
    gp = gradient_penalty(lambda x: D(x).squeeze(1), real, fake, gen())
    assert gp.item() > 1e-3
    gp.backward()
    # every weight shapes the input gradient (the last bias does not, so it gets none)
    assert fake.grad is None and D[0].weight.grad.abs().sum() > 0 and D[2].weight.grad.abs().sum() > 0


def test_gradient_penalty_draws_its_mixing_weights_from_the_generator():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    f = lambda x: D(x).squeeze(1)  # noqa: E731
    real, fake = torch.randn(16, 3), torch.randn(16, 3)
    a, b, c = (gradient_penalty(f, real, fake, gen(s)).item() for s in (1, 1, 2))
    assert a == b and a != c
    with pytest.raises(ValueError, match="shape"):
        gradient_penalty(f, real, fake[:8], gen())


def test_gradient_penalty_takes_the_norm_over_what_one_logit_saw_when_packing():
    # A packed linear critic over 2 samples with a unit weight is 1-Lipschitz in its packed
    # input, although each half of its weight has norm 1/sqrt(2) < 1.
    w = torch.ones(6) / 6 ** 0.5
    D = lambda x: pack_samples(x, 2).flatten(1) @ w  # noqa: E731
    real, fake = torch.randn(8, 3), torch.randn(8, 3)
    assert gradient_penalty(D, real, fake, gen()).item() < 1e-10
    assert r1_penalty(D, real).item() == pytest.approx(0.5, rel=1e-5)  # ||w||^2 / 2 per packed input


def test_r1_of_a_linear_critic_is_half_the_squared_weight_norm():
    w = torch.tensor([3.0, -4.0, 0.0, 1.0])
    D, w = linear_critic(w)
    r1 = r1_penalty(D, torch.randn(10, 4))
    assert r1.item() == pytest.approx(0.5 * 26.0, rel=1e-6)
    r1.backward()  # d/dw ||w||^2 / 2 = w
    assert torch.allclose(w.grad, w.detach())


def test_r1_matches_the_gradient_written_by_hand_on_a_tiny_network():
    torch.manual_seed(0)
    W, v = torch.randn(5, 3), torch.randn(5)
    D = lambda x: torch.tanh(x @ W.T) @ v  # noqa: E731
    x = torch.randn(7, 3)
    # grad_x v . tanh(W x) = W^T (v * (1 - tanh(W x)^2))
    grad = (v * (1 - torch.tanh(x @ W.T) ** 2)) @ W
    expected = 0.5 * grad.square().sum(1).mean()
    assert r1_penalty(D, x).item() == pytest.approx(expected.item(), rel=1e-5)


def test_r1_detaches_real_inputs_and_keeps_a_graph_to_d():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    real = torch.randn(6, 1, 2, 2, requires_grad=True)
    r1 = r1_penalty(lambda x: D(x).squeeze(1), real)
    r1.backward()
    assert real.grad is None and D[1].weight.grad.abs().sum() > 0


class ScaledIdentity(nn.Module):
    """G(z) = c * z reshaped to (N, 1, 2, 2) images: its Jacobian is c * I."""

    def __init__(self, c):
        super().__init__()
        self.c = nn.Parameter(torch.tensor(float(c)))

    def forward(self, z):
        return (self.c * z).reshape(-1, 1, 2, 2)


def test_path_length_matches_the_closed_form_for_a_scaled_identity_generator():
    G, z = ScaledIdentity(3.0), torch.randn(64, 4)
    penalty, new_mean = path_length_penalty(G, z, pl_mean=0.0, decay=0.01, generator=gen(5))
    # J^T y = 3 y with y ~ N(0, I) / sqrt(H*W) drawn from the same stream
    y = torch.randn(64, 1, 2, 2, generator=gen(5)) / 2.0
    lengths = 3 * y.flatten(1).norm(dim=1)
    assert new_mean.item() == pytest.approx(0.01 * lengths.mean().item(), rel=1e-5)
    assert penalty.item() == pytest.approx((lengths - new_mean).square().mean().item(), rel=1e-5)
    assert torch.isfinite(penalty) and not new_mean.requires_grad
    penalty.backward()
    assert G.c.grad is not None and torch.isfinite(G.c.grad)


def test_path_length_mean_moves_towards_the_observed_length():
    G, z = ScaledIdentity(1.0), torch.randn(256, 4)
    observed = path_length_penalty(G, z, 0.0, decay=1.0, generator=gen(1))[1].item()
    assert 0.7 < observed < 1.3  # E||y|| / 2 for y ~ N(0, I_4) is about 0.94
    up = path_length_penalty(G, z, 0.0, generator=gen(1))[1].item()
    down = path_length_penalty(G, z, torch.tensor(10.0), generator=gen(1))[1].item()
    assert 0.0 < up < observed and observed < down < 10.0
    mean = torch.tensor(0.0)
    for _ in range(300):  # the running mean converges to the observed length
        mean = path_length_penalty(G, z, mean, decay=0.05, generator=gen(1))[1]
    assert mean.item() == pytest.approx(observed, rel=1e-4)


def test_path_length_works_on_toy_generators():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    penalty, mean = path_length_penalty(G, torch.randn(16, 2), 0.0, generator=gen())
    assert torch.isfinite(penalty) and penalty.item() >= 0 and mean.item() > 0


def test_instance_noise():
    x = torch.zeros(4000, requires_grad=True)
    assert instance_noise(x, 0.0, gen()) is x
    a, b = instance_noise(x, 0.5, gen(3)), instance_noise(x, 0.5, gen(3))
    assert torch.equal(a, b) and a.std().item() == pytest.approx(0.5, rel=0.05)
    a.sum().backward()
    assert torch.equal(x.grad, torch.ones(4000))
    with pytest.raises(ValueError):
        instance_noise(x, -1.0, gen())


def test_annealed_std_is_linear_to_zero():
    assert annealed_std(0.2, 0, 10.0) == 0.2
    assert annealed_std(0.2, 5000, 10.0) == pytest.approx(0.1)
    assert annealed_std(0.2, 10000, 10.0) == 0.0 and annealed_std(0.2, 99999, 10.0) == 0.0
    assert annealed_std(0.2, 99999, 0.0) == 0.2  # 0 kimg: no annealing


def test_clip_weights_clamps_every_parameter():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
    before = [p.detach().clone() for p in D.parameters()]
    clip_weights_(D, 0.01)
    for p, old in zip(D.parameters(), before):
        assert p.abs().max().item() <= 0.01
        inside = old.abs() <= 0.01
        assert torch.equal(p[inside], old[inside])  # values already inside are untouched
    assert any((old.abs() > 0.01).any() for old in before)  # the test did clip something
    with pytest.raises(ValueError):
        clip_weights_(D, 0.0)
