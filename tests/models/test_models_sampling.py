"""latents() and Generator.sample(): sample i of seed s is the same however it is produced."""

import numpy as np
import pytest
import torch

from gankit.config import ModelConfig
from gankit.models import LATENT_CHUNK, build, latents


def test_models_latents_rows_are_independent_of_n_and_start():
    full = latents(600, 8, 5)
    assert full.shape == (600, 8) and full.dtype == torch.float32 and full.device.type == "cpu"
    assert torch.equal(full[260], latents(1, 8, 5, start=260)[0])
    assert torch.equal(full[:300], latents(300, 8, 5))
    # arbitrary pieces straddling chunk boundaries reassemble the same rows
    pieces = [latents(b - a, 8, 5, start=a) for a, b in [(0, 1), (1, 255), (255, 257), (257, 513), (513, 600)]]
    assert torch.equal(torch.cat(pieces), full)
    assert latents(0, 8, 5, start=10).shape == (0, 8)


def test_models_latents_seeds_and_chunks_differ():
    a, b = latents(2 * LATENT_CHUNK, 8, 0), latents(2 * LATENT_CHUNK, 8, 1)
    assert not torch.isclose(a, b).any()
    # chunk 1 of seed 0 must not be chunk 0 of seed 1 (as naive seed + chunk seeding would give)
    assert not torch.isclose(a[LATENT_CHUNK:], b[:LATENT_CHUNK]).any()
    assert not torch.isclose(a[:LATENT_CHUNK], a[LATENT_CHUNK:]).any()



@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, True, "3"])
def test_models_latents_refuse_seeds_they_would_fold(seed):
    # seed % 2**64 made -1 and 2**64 - 1 (and 2**64 and 0) the same samples
    with pytest.raises(ValueError, match="seed: expected an integer in"):
        latents(3, 8, seed)


def test_models_latents_take_the_whole_64_bit_range():
    assert not torch.equal(latents(3, 8, 2**64 - 1), latents(3, 8, 0))
    assert torch.equal(latents(3, 8, np.uint64(7)), latents(3, 8, 7))


def test_models_latents_are_standard_normal():
    z = latents(8192, 16, 0)
    assert abs(z.mean().item()) < 0.02
    assert abs(z.std().item() - 1.0) < 0.02
    corr = torch.corrcoef(z.T)
    assert (corr - torch.eye(16)).abs().max() < 0.06  # coordinates uncorrelated
    # chunk streams are not correlated with each other either
    c = torch.corrcoef(torch.stack([z[:LATENT_CHUNK].flatten(), z[LATENT_CHUNK:2 * LATENT_CHUNK].flatten()]))
    assert abs(c[0, 1].item()) < 0.05


def test_models_latents_reject_bad_arguments():
    with pytest.raises(ValueError):
        latents(-1, 8, 0)
    with pytest.raises(ValueError):
        latents(1, 8, 0, start=-1)


def _trained_bn_generator(arch="dcgan", shape=(1, 28, 28)):
    G, _ = build(ModelConfig(arch=arch, z_dim=8, width=8), shape, seed=0)
    G.train()
    with torch.no_grad():
        for _ in range(3):  # running stats now differ from the batch stats of any sample batch
            G(torch.randn(16, 8) * 2 + 1)
    return G


@pytest.mark.parametrize("arch,shape", [("dcgan", (1, 28, 28)), ("dcgan-tf", (1, 28, 28)), ("mlp", (2,)),
                                        ("resnet", (3, 32, 32))])
def test_models_sample_is_bitwise_independent_of_n_and_start(arch, shape):
    G = _trained_bn_generator(arch, shape)
    n = 150  # spans three sampling chunks
    ref = G.sample(n, seed=3)
    assert ref.shape == (n, *shape) and ref.dtype == torch.float32 and ref.device.type == "cpu"
    for start, count in ((0, 1), (63, 2), (64, 64), (100, 50), (7, 130)):
        assert torch.equal(G.sample(count, seed=3, start=start), ref[start:start + count]), (start, count)
    assert G.training  # mode restored
    G.eval()
    with torch.no_grad():  # the same network as a plain forward pass, up to float rounding
        assert torch.allclose(G(latents(n, 8, 3)), ref, atol=1e-5, rtol=0)


def test_models_sample_seed_and_empty():
    G = _trained_bn_generator()
    ref = G.sample(12, seed=4)
    assert not torch.allclose(G.sample(12, seed=5), ref)
    assert G.sample(0).shape == (0, 1, 28, 28)


def test_models_sample_restores_eval_mode_and_gives_ordinary_tensors():
    G = _trained_bn_generator()
    G.eval()
    x = G.sample(4, seed=0, device="cpu")
    assert not G.training
    assert not x.is_inference()  # usable as input to modules that record gradients
    _, D = build(ModelConfig(arch="dcgan", z_dim=8, width=8), (1, 28, 28), seed=0)
    D(x).sum().backward()


# --- the truncation trick (Generator.sample(..., truncation=psi), models.base.truncate)


def test_models_truncate_is_the_truncated_normal_and_keeps_each_value_s_rank():
    from scipy import stats

    from gankit.models.base import truncate
    z = latents(4096, 8, 0)
    for psi in (0.3, 0.7, 0.95):
        t = stats.norm.ppf((1 + psi) / 2)
        zt = truncate(z, psi)
        assert zt.shape == z.shape and zt.dtype == torch.float32
        assert zt.abs().max() <= t + 1e-6 and zt.abs().max() > 0.99 * t
        assert abs(zt.std().item() - stats.truncnorm.std(-t, t)) < 0.01
        assert stats.kstest(zt.flatten().numpy(), stats.truncnorm(-t, t).cdf).pvalue > 0.01
        # a monotone map of each coordinate: order (and sign) kept, so it is the same sample, tamed
        assert torch.equal(torch.argsort(zt[:, 0]), torch.argsort(z[:, 0]))
        assert torch.equal(torch.sign(zt), torch.sign(z))
    assert truncate(z, 1.0) is z
    assert torch.equal(truncate(z, 0.0), torch.zeros_like(z))
    far = truncate(torch.tensor([-50.0, -9.0, 9.0, 50.0]), 0.5)  # tails clamp to t, never NaN/inf
    assert torch.allclose(far, torch.tensor([-1.0, -1.0, 1.0, 1.0]) * stats.norm.ppf(0.75), atol=1e-4)


@pytest.mark.parametrize("arch,shape", [("dcgan", (1, 28, 28)), ("mlp", (2,))])
def test_models_sample_truncation_psi_1_is_today_and_stays_index_stable(arch, shape):
    G = _trained_bn_generator(arch, shape)
    ref = G.sample(100, seed=3)
    assert torch.equal(G.sample(100, seed=3, truncation=1.0), ref)
    assert torch.equal(G.sample(100, seed=3, truncation=1), ref)
    low = G.sample(100, seed=3, truncation=0.5)
    assert not torch.allclose(low, ref)
    for start, count in ((0, 1), (63, 2), (70, 30)):
        assert torch.equal(G.sample(count, seed=3, start=start, truncation=0.5), low[start:start + count])
    # psi = 0: every latent is the mean, so every sample is the same one
    zero = G.sample(5, seed=3, truncation=0.0)
    assert torch.allclose(zero, zero[:1].expand_as(zero), atol=1e-6)
    # lower psi, less varied samples
    assert low.std(dim=0).mean() < ref.std(dim=0).mean()


@pytest.mark.parametrize("psi", [-0.1, 1.5, float("nan"), float("inf"), "0.5", True, None])
def test_models_sample_refuses_a_truncation_outside_0_1(psi):
    G = _trained_bn_generator("mlp", (2,))
    with pytest.raises(ValueError, match=r"truncation: expected a number in \[0, 1\]"):
        G.sample(2, truncation=psi)


def test_models_sample_truncation_with_labels():
    G, _ = build(ModelConfig(arch="mlp", z_dim=8, width=8, conditional="concat"), (2,), seed=0, num_classes=3)
    a = G.sample(6, seed=1, labels=2, truncation=0.6)
    assert torch.equal(G.sample(2, seed=1, start=4, labels=[2, 2], truncation=0.6), a[4:])
    assert not torch.allclose(a, G.sample(6, seed=1, labels=2))
