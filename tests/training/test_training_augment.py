"""Differentiable augmentation, adaptive p (ADA) and dataset-side augmentation."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gankit.training.augment import OPS, AdaptiveP, _shift, augment, dataset_augment

ALL = ",".join(OPS)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def images(n=16, c=3, s=16, seed=0):
    return torch.rand(n, c, s, s, generator=gen(seed)) * 2 - 1


@pytest.mark.parametrize("policy", list(OPS) + [ALL])
def test_augment_keeps_shape_range_and_is_seeded(policy):
    x = images()
    a = augment(x, policy, 1.0, gen(1))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert a.min().item() >= -1 - 1e-6 and a.max().item() <= 1 + 1e-6
    assert not torch.equal(a, x)  # p = 1 did change something
    # all randomness comes from the generator (p = 0.5 so that flip has something to draw too)
    b = augment(x, policy, 0.5, gen(1))
    assert torch.equal(b, augment(x, policy, 0.5, gen(1)))
    assert not torch.equal(b, augment(x, policy, 0.5, gen(2)))


@pytest.mark.parametrize("policy", list(OPS) + [ALL])
def test_augment_with_p_zero_or_no_policy_is_the_identity(policy):
    x, g = images(), gen(0)
    state = g.get_state()
    assert augment(x, policy, 0.0, g) is x and augment(x, "", 1.0, g) is x
    assert torch.equal(g.get_state(), state)  # and draws nothing


@pytest.mark.parametrize("policy", list(OPS) + [ALL])
def test_gradients_flow_through_augmentation_to_the_generator(policy):
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(4, 3 * 8 * 8), nn.Tanh(), nn.Unflatten(1, (3, 8, 8)))
    x = G(torch.randn(8, 4))
    out = augment(x, policy, 1.0, gen(3))
    (out * torch.randn_like(out)).sum().backward()
    grad = G[0].weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_each_sample_is_augmented_with_probability_p():
    x = images(n=400, c=1, s=8)
    out = augment(x, "flip", 0.3, gen(0))
    flipped = (out == x.flip(3)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert (flipped | kept).all() and 0.22 < flipped.float().mean().item() < 0.38
    assert torch.equal(augment(x, "flip", 1.0, gen(0)), x.flip(3))


def test_shift_fills_with_zeros_or_mirrors():
    x = torch.arange(1.0, 26.0).reshape(1, 1, 5, 5)
    dy, dx = torch.tensor([1]), torch.tensor([-2])
    zero = _shift(x, dy, dx, reflect=False)
    expected = torch.zeros(1, 1, 5, 5)
    expected[..., :4, 2:] = x[..., 1:, :3]        # out[i, j] = x[i + 1, j - 2]
    assert torch.equal(zero, expected)
    padded = F.pad(x, (2, 2, 2, 2), mode="reflect")
    assert torch.equal(_shift(x, dy, dx, reflect=True), padded[..., 3:8, 0:5])
    assert torch.equal(_shift(x, torch.tensor([0]), torch.tensor([0]), reflect=False), x)


def test_translation_moves_by_at_most_an_eighth():
    x = images(n=32, c=1, s=16)
    out = augment(x, "translation", 1.0, gen(4))
    for i in range(32):  # every output is the input shifted by some (dy, dx) in [-2, 2]^2 with zero fill
        assert any(torch.equal(out[i:i + 1], _shift(x[i:i + 1], torch.tensor([dy]), torch.tensor([dx]), False))
                   for dy in range(-2, 3) for dx in range(-2, 3)), i


def test_crop_is_a_reflection_padded_crop():
    x = images(n=16, c=2, s=16)
    out = augment(x, "crop", 1.0, gen(5))
    padded = F.pad(x, (2, 2, 2, 2), mode="reflect")
    for i in range(16):
        assert any(torch.equal(out[i], padded[i, :, 2 + dy:18 + dy, 2 + dx:18 + dx])
                   for dy in range(-2, 3) for dx in range(-2, 3)), i


def test_cutout_zeroes_at_most_a_half_size_square():
    x = torch.ones(64, 1, 16, 16)
    out = augment(x, "cutout", 1.0, gen(6))
    zeros = (out == 0).flatten(1).sum(1)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert (zeros > 0).all() and (zeros <= 64).all() and (zeros == 64).any()  # 8x8 when fully inside


def test_color_changes_brightness_and_contrast_and_stays_in_range():
    x = images(n=64, c=3, s=8) * 0.5
    out = augment(x, "color", 1.0, gen(7))
    shift = (out - x).mean(dim=(1, 2, 3))
    assert shift.std() > 0.1  # per-sample brightness offsets
    assert out.abs().max() <= 1.0
    grey = images(n=8, c=1, s=8)
    assert augment(grey, "color", 1.0, gen(8)).shape == grey.shape


def test_augment_rejects_unknown_ops_and_non_images():
    with pytest.raises(ValueError, match="unknown augmentation op 'rotate'"):
        augment(images(), "flip,rotate", 1.0, gen())
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        augment(torch.randn(8, 2), "flip", 1.0, gen())


# ---- adaptive p

def test_adaptive_p_rises_when_d_is_sure_of_reals_and_falls_otherwise():
    ada = AdaptiveP(target=0.6, p=0.0, interval=4, speed_kimg=1.0)
    confident = torch.full((64,), 3.0)  # sign +1 everywhere: r_t = 1 > 0.6
    for _ in range(3):
        assert ada.update(confident, 64) == 0.0  # nothing happens inside the window
    assert ada.update(confident, 64) == pytest.approx(256 / 1000)  # p moves by window images / speed
    assert ada.rt == 1.0
    for _ in range(4 * 10):
        ada.update(confident, 64)
    assert ada.p == 1.0  # clamped
    unsure = torch.tensor([1.0, -1.0] * 32)  # r_t = 0 < 0.6
    for _ in range(4):
        ada.update(unsure, 64)
    assert ada.p == pytest.approx(1 - 0.256) and ada.rt == 0.0


def test_adaptive_p_default_speed_is_zero_to_one_in_500k_images():
    ada = AdaptiveP()
    for _ in range(500_000 // 1000):
        ada.update(torch.ones(1000), 1000)
    assert ada.p == pytest.approx(1.0)
    ada = AdaptiveP()
    for _ in range(400):
        ada.update(torch.ones(1000), 1000)
    assert ada.p == pytest.approx(0.8)


def test_adaptive_p_state_dict_resumes_mid_window():
    logits = [torch.randn(32, generator=gen(i)) + 0.5 for i in range(12)]
    a = AdaptiveP(speed_kimg=0.5, interval=3)
    for t in logits[:5]:
        a.update(t, 32)
    b = AdaptiveP(speed_kimg=0.5, interval=3)
    b.load_state_dict(a.state_dict())
    for t in logits[5:]:
        assert a.update(t, 32) == b.update(t, 32)
    assert a.state_dict() == b.state_dict()


# ---- dataset augmentation

def test_dataset_augment_flips_and_crops_uint8_images():
    x = torch.randint(0, 256, (32, 1, 8, 8), dtype=torch.uint8, generator=gen(0))
    out = dataset_augment(x, "flip", gen(1))
    assert out.dtype == torch.uint8 and out.shape == x.shape
    flipped = (out == x.flip(3)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert (flipped | kept).all() and flipped.any() and kept.any()
    out = dataset_augment(x, "crop,flip", gen(2))
    assert out.dtype == torch.uint8 and torch.equal(out, dataset_augment(x, "crop,flip", gen(2)))
    assert set(out.unique().tolist()) <= set(x.unique().tolist())  # no new values, no blank borders
    assert dataset_augment(x, "", gen()) is x
    with pytest.raises(ValueError, match="'color'"):
        dataset_augment(x, "color", gen())
