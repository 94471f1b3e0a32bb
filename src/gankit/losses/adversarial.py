"""Adversarial losses as pure functions of discriminator logits.

Every function takes raw logits (N,) — never probabilities — and returns a
scalar tensor. Nothing here calls backward(); the training loop owns that.

Written on logits with softplus, which is the numerically stable form of the
log-sigmoid terms of the 2014 value function:

    log D(x)        = log sigmoid(l)      = -softplus(-l)
    log(1 - D(x))   = log sigmoid(-l)     = -softplus(l)

so with D(x) = sigmoid(l):
    L_D             = E[softplus(-l_real)] + E[softplus(l_fake)]
    L_G (minimax)   = -E[softplus(l_fake)]        (= E[log(1 - D(G(z)))], saturates when D wins)
    L_G (non-sat.)  = E[softplus(-l_fake)]        (= -E[log D(G(z))], the 2014 paper's practical fix)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def d_loss_logistic(real: Tensor, fake: Tensor) -> Tensor:
    """Discriminator loss of the original GAN: -E[log D(x)] - E[log(1 - D(G(z)))].

    Its minimum over D for fixed G is 2 log 2 - 2 JSD(p_data || p_g); at the
    equilibrium (both logits 0, D = 0.5) it equals 2 log 2.
    """
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def g_loss_minimax(fake: Tensor) -> Tensor:
    """Saturating generator loss E[log(1 - D(G(z)))]: the literal minimax objective.

    Its gradient vanishes when D confidently rejects fakes, which is why the
    non-saturating form is the default.
    """
    return -F.softplus(fake).mean()


def g_loss_nonsaturating(fake: Tensor) -> Tensor:
    """Non-saturating generator loss -E[log D(G(z))]."""
    return F.softplus(-fake).mean()


def d_loss_least_squares(real: Tensor, fake: Tensor) -> Tensor:
    """LSGAN discriminator loss (Mao et al. 2017, a=0, b=c=1), on raw outputs: 0.5 E[(l_r - 1)^2] + 0.5 E[l_f^2]."""
    return 0.5 * ((real - 1).square().mean() + fake.square().mean())


def g_loss_least_squares(fake: Tensor) -> Tensor:
    """LSGAN generator loss: 0.5 E[(l_f - 1)^2]."""
    return 0.5 * (fake - 1).square().mean()


def d_loss_hinge(real: Tensor, fake: Tensor) -> Tensor:
    """Hinge discriminator loss (Lim & Ye 2017; SNGAN, BigGAN): E[relu(1 - l_r)] + E[relu(1 + l_f)]."""
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def g_loss_critic(fake: Tensor) -> Tensor:
    """Generator loss of hinge and Wasserstein GANs: -E[l_f]."""
    return -fake.mean()


def d_loss_wasserstein(real: Tensor, fake: Tensor) -> Tensor:
    """Wasserstein critic loss E[l_f] - E[l_r] (needs a Lipschitz constraint on D)."""
    return fake.mean() - real.mean()


# name -> (discriminator loss, generator loss). CLI choices are read from this dict.
LOSSES: dict[str, tuple] = {
    "nonsaturating": (d_loss_logistic, g_loss_nonsaturating),
    "minimax": (d_loss_logistic, g_loss_minimax),
    "lsgan": (d_loss_least_squares, g_loss_least_squares),
    "hinge": (d_loss_hinge, g_loss_critic),
}


def probability(logits: Tensor) -> Tensor:
    """D's probability that the input is real, sigmoid(logit), in [0, 1]."""
    return torch.sigmoid(logits)
