"""Regularizers of the adversarial game: pure functions returning scalar tensors.

Nothing here calls backward(). Penalties that are functions of input gradients
build those gradients with ``create_graph=True`` so that the caller's
``loss.backward()`` differentiates through them (double backprop). Weights
(lambda, gamma, lazy intervals) are applied by the caller, so every function
returns the bare, unweighted term.

`D` below is any callable from a batch of D inputs to raw logits; when D's
outputs are fewer than its inputs (PacGAN packing inside the callable, with
consecutive samples packed together as `gankit.models.layers.pack_samples`
does), each gradient norm is taken over the group of inputs that produced one
logit, i.e. over what D actually saw.

Randomness (interpolation weights, projection noise, instance noise) comes only
from the `torch.Generator` passed in, so a resumed run that restores that
generator's state draws the same numbers.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor, nn

__all__ = ["clip_weights_", "gradient_penalty", "r1_penalty", "path_length_penalty",
           "instance_noise", "annealed_std"]


def _uniform(shape, generator: Optional[torch.Generator], like: Tensor) -> Tensor:
    device = generator.device if generator is not None else like.device
    return torch.rand(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def _normal(shape, generator: Optional[torch.Generator], like: Tensor) -> Tensor:
    device = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def _input_gradients(D: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """d(sum of D's logits)/dx reshaped to (number of logits, -1), kept in the graph."""
    logits = D(x)
    # Summing is exact: each logit depends only on its own input (group), so the
    # gradient of the sum w.r.t. an input is the gradient of that input's logit.
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return grad.reshape(logits.numel(), -1)


@torch.no_grad()
def clip_weights_(module: nn.Module, c: float) -> None:
    """Clamp every parameter of `module` to [-c, c] in place (WGAN, Arjovsky et al. 2017, Alg. 1).

    The crude Lipschitz constraint of the original WGAN: call it right after each
    discriminator optimizer step (loss "wgan", loss.clip = c, the paper uses 0.01).
    All parameters are clipped, biases and norm scales included, as in the paper.
    """
    if c <= 0:
        raise ValueError(f"clip_weights_: c must be > 0, got {c}")
    for p in module.parameters():
        p.clamp_(-c, c)


def gradient_penalty(D: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                     generator: Optional[torch.Generator] = None) -> Tensor:
    """WGAN-GP two-sided penalty E[(||grad_x D(x_hat)||_2 - 1)^2] (Gulrajani et al. 2017, eq. 3).

    real, fake: D inputs of the same shape (N, ...) (images (N, C, H, W) in [-1, 1],
    or packed/toy tensors); fake is detached here, so G receives no gradient.
    x_hat = a * real + (1 - a) * fake with a ~ U[0, 1] per sample, drawn from
    `generator` (on its own device) so that resumed runs draw the same a.
    Returns a scalar >= 0, unweighted: the caller adds ``gp_weight * penalty``
    (lambda = 10 in the paper) to the D loss. Batch norm in D breaks the
    per-sample penalty (paper §4); config validation rejects that combination.
    """
    if real.shape != fake.shape:
        raise ValueError(f"gradient_penalty: real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape")
    a = _uniform((real.shape[0],) + (1,) * (real.dim() - 1), generator, real)
    x_hat = torch.lerp(fake.detach(), real.detach(), a).requires_grad_(True)
    grad = _input_gradients(D, x_hat)
    # A tiny epsilon keeps the norm's gradient finite where grad is exactly 0
    # (e.g. a dead ReLU critic); it shifts the norm by < 1e-6.
    norm = (grad.square().sum(dim=1) + 1e-12).sqrt()
    return (norm - 1.0).square().mean()


def r1_penalty(D: Callable[[Tensor], Tensor], real: Tensor) -> Tensor:
    """R1 penalty 0.5 * E_x[||grad_x D(x)||^2] on real data (Mescheder et al. 2018, eq. 9).

    Convention: returns E||∇D||² / 2, so the caller adds ``gamma * r1`` to the D
    loss, which is the paper's gamma/2 * E||∇D(x)||². Designed for lazy
    regularization (StyleGAN2, Karras et al. 2020, §3.1): evaluate it only every
    `r1_every` D steps and add ``gamma * r1_every * r1`` so the average strength
    is unchanged. real: D inputs (N, ...) (images in [-1, 1]); detached here.
    Returns a scalar >= 0 with a graph through D's parameters.
    """
    x = real.detach().requires_grad_(True)
    return 0.5 * _input_gradients(D, x).square().sum(dim=1).mean()


def path_length_penalty(G: Callable[[Tensor], Tensor], z: Tensor, pl_mean: Tensor | float,
                        decay: float = 0.01, generator: Optional[torch.Generator] = None
                        ) -> tuple[Tensor, Tensor]:
    """StyleGAN2 path length regularization (Karras et al. 2020, §3.2, eq. 4), taken on z.

    For non-style generators the Jacobian is that of G w.r.t. z (StyleGAN2 takes
    it w.r.t. the dlatents w). With y ~ N(0, I) / sqrt(H*W) drawn from
    `generator`, the per-sample length is ||J_z^T y||_2, estimated by one
    vector-Jacobian product; the penalty is E[(length - a)^2] where a is the
    running mean `pl_mean` updated as a <- a + decay * (mean length - a).

    z: latents (N, z_dim); G(z): (N, C, H, W) images (or (N, D) toy data, where
    the 1/sqrt(H*W) scaling is 1). pl_mean: scalar tensor or float, start at 0.
    Returns ``(penalty, new_pl_mean)``: penalty a scalar >= 0 with a graph
    through G's parameters, new_pl_mean a detached scalar tensor the caller
    keeps (and checkpoints) for the next call. The caller adds
    ``pl_weight * pl_every * penalty`` to the G loss (StyleGAN2: pl_weight = 2,
    every 4 G steps on half the batch).
    """
    z = z.detach().requires_grad_(True)
    fake = G(z)
    pixels = fake[0, 0].numel() if fake.dim() >= 3 else 1
    y = _normal(fake.shape, generator, fake) / pixels ** 0.5
    (grad,) = torch.autograd.grad((fake * y).sum(), z, create_graph=True)
    lengths = grad.flatten(1).square().sum(dim=1).sqrt()
    pl_mean = torch.as_tensor(pl_mean, dtype=lengths.dtype, device=lengths.device)
    new_mean = torch.lerp(pl_mean, lengths.mean().detach(), decay)
    return (lengths - new_mean).square().mean(), new_mean


def instance_noise(x: Tensor, std: float, generator: Optional[torch.Generator] = None) -> Tensor:
    """x + N(0, std^2) noise for D's inputs (Sønderby et al. 2017; Arjovsky & Bottou 2017).

    Add it to real and fake alike before D: it makes the two distributions overlap
    so D's gradients stay informative early on. x: any shape (images in [-1, 1] leave
    that range; D sees them only). std >= 0; std == 0 returns x itself and draws
    nothing. Differentiable w.r.t. x.
    """
    if std < 0:
        raise ValueError(f"instance_noise: std must be >= 0, got {std}")
    if std == 0:
        return x
    return x + std * _normal(x.shape, generator, x)


def annealed_std(std0: float, images: int, anneal_kimg: float) -> float:
    """Instance-noise std after `images` real images: linear from std0 to 0 at anneal_kimg * 1000.

    anneal_kimg <= 0 means no annealing (constant std0). Returns a float in [0, std0].
    """
    if anneal_kimg <= 0:
        return float(std0)
    return float(std0) * max(0.0, 1.0 - images / (anneal_kimg * 1000.0))
