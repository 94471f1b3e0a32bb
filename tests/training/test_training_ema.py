"""EMA of G's weights: the half-life in images, buffers, batch-size independence, checkpoints."""

import pytest
import torch
from torch import nn

from gankit.config import ModelConfig
from gankit.models import build
from gankit.training.ema import EMA, ema_beta


def scalar_net(value=0.0):
    net = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(value)
    return net


def set_(net, value):
    with torch.no_grad():
        net.weight.fill_(value)


def test_ema_beta_formula():
    assert ema_beta(1000, 1.0) == pytest.approx(0.5)
    assert ema_beta(64, 10.0) == pytest.approx(0.5 ** (64 / 10000))


def test_old_weights_count_half_after_one_half_life():
    # H = 256 images. G jumps from 0 to 1 and stays there: after 256 images the
    # average is 0.5 * 0 + (1 - 0.5) * 1, i.e. the old value's weight has halved.
    G = scalar_net(0.0)
    ema = EMA(G, half_life_kimg=0.256)
    set_(G, 1.0)
    for _ in range(8):
        ema.update(G, 32)
    assert ema.module.weight.item() == pytest.approx(0.5, abs=1e-6)
    for _ in range(8):  # another half-life halves the remaining gap
        ema.update(G, 32)
    assert ema.module.weight.item() == pytest.approx(0.75, abs=1e-6)


def test_the_weight_of_one_update_halves_after_one_half_life():
    G = scalar_net(0.0)
    ema = EMA(G, half_life_kimg=0.256)
    set_(G, 1.0)
    ema.update(G, 16)                     # a single update at 1 gets weight 1 - beta
    first = ema.module.weight.item()
    assert first == pytest.approx(1 - 0.5 ** (16 / 256), abs=1e-7)
    set_(G, 0.0)
    for _ in range(4):                    # 4 x 64 = 256 images later ...
        ema.update(G, 64)
    assert ema.module.weight.item() == pytest.approx(first / 2, abs=1e-6)  # ... its weight has halved


def test_the_average_does_not_depend_on_the_batch_size():
    results = []
    for batch in (8, 32, 128):
        G = scalar_net(0.0)
        ema = EMA(G, half_life_kimg=0.1)
        set_(G, 1.0)
        for _ in range(512 // batch):
            ema.update(G, batch)
        results.append(ema.module.weight.item())
    assert results[0] == pytest.approx(1 - 0.5 ** (512 / 100), abs=1e-6)
    assert max(results) - min(results) < 1e-6


def test_buffers_are_copied_and_the_copy_is_independent():
    G = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    ema = EMA(G, half_life_kimg=1.0)
    assert not ema.module.training and not any(p.requires_grad for p in ema.module.parameters())
    before = [p.detach().clone() for p in G.parameters()]
    G(torch.randn(16, 2) * 5 + 3)  # moves BN's running statistics
    with torch.no_grad():
        G[0].weight.add_(1.0)
    g_now = [p.detach().clone() for p in G.parameters()]
    ema.update(G, 64)
    assert all(torch.equal(p, q) for p, q in zip(G.parameters(), g_now))  # G itself is left alone
    assert torch.equal(ema.module[1].running_mean, G[1].running_mean)      # copied, not averaged
    assert ema.module[1].num_batches_tracked.item() == 1
    beta = ema_beta(64, 1.0)
    expected = beta * before[0] + (1 - beta) * G[0].weight.detach()
    assert torch.allclose(ema.module[0].weight, expected, atol=1e-7)
    assert ema.module[0].weight.data_ptr() != G[0].weight.data_ptr()


def test_state_dict_round_trip_and_strict_load():
    G = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    ema = EMA(G, 1.0)
    with torch.no_grad():
        G[0].weight.add_(2.0)
    ema.update(G, 100)
    fresh = EMA(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)), 1.0)
    fresh.load_state_dict(ema.state_dict())
    a, b = ema.state_dict(), fresh.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(RuntimeError):
        EMA(nn.Linear(2, 4), 1.0).load_state_dict(a)
    with pytest.raises(ValueError):
        EMA(G, 0.0)


def test_ema_of_a_spectral_norm_dcgan_generator_samples():
    cfg = ModelConfig(arch="dcgan", z_dim=8, width=4, g_spectral_norm=True)
    G, _ = build(cfg, (1, 16, 16), seed=0)
    ema = EMA(G, 0.5)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(0.01)
    ema.update(G, 16)
    x = ema.module.sample(4, seed=1)
    assert x.shape == (4, 1, 16, 16) and torch.isfinite(x).all()
    assert set(ema.state_dict()) == set(G.state_dict())
