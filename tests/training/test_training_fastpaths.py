"""The fast paths compute what the default path computes.

- channels_last (train.channels_last) gives the same G and D outputs as the default
  memory format, and a short training run gives the same losses;
- torch.compile'd G and D forwards give the same outputs, losses and gradients as
  eager ones on a fixed batch (slow: compiling takes tens of seconds on a CPU, and
  skipped where torch.compile cannot run, e.g. without a C++ compiler).
No timings here: speed is measured by benchmarks/.
"""

import functools

import pytest
import torch
import torch.nn.functional as F

from gankit.config import ModelConfig
from gankit.io.logs import read_metrics
from gankit.models import build
from gankit.training.loop import train

from helpers import tiny_config

ARCHS = {"dcgan": ModelConfig(arch="dcgan", z_dim=8, width=8), "dcgan-tf": ModelConfig(arch="dcgan-tf", z_dim=8)}


def _pair(arch: str, channels_last: bool, shape=(1, 28, 28)):
    G, D = build(ARCHS[arch], shape, seed=0)
    if channels_last:
        G.to(memory_format=torch.channels_last)
        D.to(memory_format=torch.channels_last)
    return G, D


def _inputs(shape=(1, 28, 28), n=8):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 8, generator=g), torch.rand(n, *shape, generator=g) * 2 - 1


@pytest.mark.parametrize("arch,shape", [("dcgan", (1, 28, 28)), ("dcgan", (3, 32, 32)), ("dcgan-tf", (1, 28, 28))])
@pytest.mark.parametrize("train_mode", [True, False], ids=["train", "eval"])
def test_channels_last_gives_the_same_outputs(arch, shape, train_mode):
    z, x = _inputs(shape)
    outs = {}
    for cl in (False, True):
        G, D = _pair(arch, cl, shape)
        G.train(train_mode)
        D.eval()  # dropout (dcgan-tf) draws its mask in memory order, so compare D without it
        xin = x.contiguous(memory_format=torch.channels_last) if cl else x
        with torch.no_grad():
            fake = G(z)
            outs[cl] = (fake, D(xin), D(fake))
        if cl:  # the fast path is really taken: activations stay channels-last
            assert D.net[0](xin).is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(outs[False], outs[True]):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_channels_last_training_gives_the_same_losses(tmp_path, tiny_idx_dir):
    records = {}
    for cl in (False, True):
        cfg = tiny_config(tmp_path / f"cl{int(cl)}", tiny_idx_dir, f"train.channels_last={str(cl).lower()}")
        records[cl] = read_metrics(train(cfg, progress=False))
    assert len(records[True]) == len(records[False]) == 4
    for a, b in zip(records[False], records[True]):
        assert (a["step"], a["images"]) == (b["step"], b["images"])
        for key in ("loss_d", "loss_g", "d_real", "d_fake"):
            assert b[key] == pytest.approx(a[key], rel=1e-3, abs=1e-4), key


# ---------------------------------------------------------------------------- torch.compile


@functools.lru_cache(maxsize=1)
def _compile_unavailable() -> str:
    """Why torch.compile cannot run here, or '' when it can (one tiny compile, cached)."""
    try:
        f = torch.compile(lambda t: torch.nn.functional.relu(t) * 2)
        if not torch.equal(f(torch.tensor([-1.0, 3.0])), torch.tensor([0.0, 6.0])):
            return "torch.compile gave a wrong result"
    except Exception as e:  # no C++ compiler, unsupported platform or Python version, ...
        return f"torch.compile unavailable: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return ""


def _step_losses(G, D, z, real):
    """One D loss and one G loss (non-saturating, on logits) with their gradients, on a fixed batch."""
    fake = G(z)
    loss_d = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
    loss_g = F.softplus(-D(fake)).mean()
    grads_d = torch.autograd.grad(loss_d, list(D.parameters()))
    grads_g = torch.autograd.grad(loss_g, list(G.parameters()))
    return loss_d.detach(), loss_g.detach(), grads_d, grads_g


@pytest.mark.slow
def test_compiled_forwards_agree_with_eager():
    why = _compile_unavailable()
    if why:
        pytest.skip(why)
    torch._dynamo.reset()
    try:
        z, x = _inputs()
        G, D = _pair("dcgan", False)
        Gc, Dc = torch.compile(G), torch.compile(D)  # share the parameters of G and D
        # Training mode (batch-norm batch statistics): losses and gradients of a step.
        eager = _step_losses(G, D, z, x)
        compiled = _step_losses(Gc, Dc, z, x)
        torch.testing.assert_close(compiled[0], eager[0], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(compiled[1], eager[1], rtol=1e-4, atol=1e-5)
        for ge, gc in zip(eager[2] + eager[3], compiled[2] + compiled[3]):
            torch.testing.assert_close(gc, ge, rtol=1e-3, atol=1e-5)
        # Eval mode, as sampling runs G.
        G.eval(), D.eval()
        with torch.no_grad():
            torch.testing.assert_close(Gc(z), G(z), rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(Dc(x), D(x), rtol=1e-4, atol=1e-5)
    finally:
        torch._dynamo.reset()
