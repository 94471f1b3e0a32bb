"""Adversarial losses as pure functions of discriminator logits.

Every function takes raw logits — never probabilities — and returns a scalar
tensor. Nothing here calls backward(); the training loop owns that.

Call convention (uniform for every entry of `LOSSES`)::

    pair = LOSSES[name]                       # a LossPair
    loss_d = pair.d_loss(real_logits, fake_logits)
    loss_g = pair.g_loss(real_logits, fake_logits)   # real_logits may be None
                                                     # unless pair.g_needs_real

real_logits are D's outputs on real data (N_r,), fake_logits on generated data
(N_f,); with PacGAN packing these are one logit per pack. Only the relativistic
loss reads `real` in the generator loss; the others ignore it, so the loop
computes D(real) in the generator phase only when ``pair.g_needs_real``.

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

import functools
from typing import Callable, NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["LossPair", "LOSSES", "make_loss", "probability",
           "d_loss_logistic", "g_loss_minimax", "g_loss_nonsaturating",
           "d_loss_least_squares", "g_loss_least_squares", "d_loss_hinge", "g_loss_critic",
           "d_loss_wasserstein", "d_loss_relativistic", "g_loss_relativistic"]


def _smoothed_real_term(real: Tensor, smooth: float) -> Tensor:
    # BCE(l, 1 - eps) = (1 - eps) softplus(-l) + eps softplus(l). With eps = 0 the second
    # term is skipped, so the unsmoothed loss is bit-for-bit the plain form.
    if smooth == 0.0:
        return F.softplus(-real).mean()
    return (1.0 - smooth) * F.softplus(-real).mean() + smooth * F.softplus(real).mean()


def d_loss_logistic(real: Tensor, fake: Tensor, smooth: float = 0.0) -> Tensor:
    """Discriminator loss of the original GAN: -E[log D(x)] - E[log(1 - D(G(z)))].

    real, fake: logits (N_r,), (N_f,); any real values. Returns a scalar >= 0.
    Its minimum over D for fixed G is 2 log 2 - 2 JSD(p_data || p_g); at the
    equilibrium (both logits 0, D = 0.5) it equals 2 log 2.

    smooth: one-sided label smoothing eps in [0, 0.5) (Salimans et al. 2016,
    "Improved techniques for training GANs", §3.4): real targets become 1 - eps,
    fake targets stay 0. Only the real side is smoothed because smoothing the fake
    side moves the optimal D towards the fakes and rewards G for staying there.
    """
    return _smoothed_real_term(real, smooth) + F.softplus(fake).mean()


def g_loss_minimax(real: Optional[Tensor], fake: Tensor) -> Tensor:
    """Saturating generator loss E[log(1 - D(G(z)))]: the literal minimax objective.

    `real` is ignored. Its gradient vanishes when D confidently rejects fakes,
    which is why the non-saturating form is the default.
    """
    return -F.softplus(fake).mean()


def g_loss_nonsaturating(real: Optional[Tensor], fake: Tensor) -> Tensor:
    """Non-saturating generator loss -E[log D(G(z))] (Goodfellow et al. 2014, §3). `real` is ignored."""
    return F.softplus(-fake).mean()


def d_loss_least_squares(real: Tensor, fake: Tensor) -> Tensor:
    """LSGAN discriminator loss (Mao et al. 2017, a=0, b=c=1), on raw outputs: 0.5 E[(l_r - 1)^2] + 0.5 E[l_f^2]."""
    return 0.5 * ((real - 1).square().mean() + fake.square().mean())


def g_loss_least_squares(real: Optional[Tensor], fake: Tensor) -> Tensor:
    """LSGAN generator loss: 0.5 E[(l_f - 1)^2]. `real` is ignored."""
    return 0.5 * (fake - 1).square().mean()


def d_loss_hinge(real: Tensor, fake: Tensor) -> Tensor:
    """Hinge discriminator loss (Lim & Ye 2017; SNGAN, BigGAN): E[relu(1 - l_r)] + E[relu(1 + l_f)]."""
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def g_loss_critic(real: Optional[Tensor], fake: Tensor) -> Tensor:
    """Generator loss of hinge and Wasserstein GANs: -E[l_f]. `real` is ignored."""
    return -fake.mean()


def d_loss_wasserstein(real: Tensor, fake: Tensor) -> Tensor:
    """Wasserstein critic loss E[l_f] - E[l_r] (Arjovsky et al. 2017).

    Unbounded below: it is the negated estimate of the Wasserstein-1 distance only
    while D is kept (approximately) 1-Lipschitz, by weight clipping
    (`gankit.losses.regularizers.clip_weights_`, loss "wgan"), by the gradient
    penalty (`gradient_penalty`, loss "wgan-gp", Gulrajani et al. 2017) or by
    spectral normalisation.
    """
    return fake.mean() - real.mean()


def d_loss_relativistic(real: Tensor, fake: Tensor, smooth: float = 0.0) -> Tensor:
    """Relativistic average standard GAN (RaSGAN; Jolicoeur-Martineau 2018, eq. 13), D side.

    D judges whether a real sample is more realistic than the average fake, and a
    fake less realistic than the average real:
        -E_r[log sigmoid(l_r - E[l_f])] - E_f[log(1 - sigmoid(l_f - E[l_r]))]
    real, fake: logits (N_r,), (N_f,). Returns a scalar >= 0; 2 log 2 when
    real and fake logits are all equal, and invariant to adding one constant
    to every logit. `smooth` is one-sided label smoothing on the real term, as in
    `d_loss_logistic`.
    """
    return _smoothed_real_term(real - fake.mean(), smooth) + F.softplus(fake - real.mean()).mean()


def g_loss_relativistic(real: Tensor, fake: Tensor) -> Tensor:
    """RaSGAN generator loss: the D loss with the roles of real and fake swapped.

        -E_f[log sigmoid(l_f - E[l_r])] - E_r[log(1 - sigmoid(l_r - E[l_f]))]

    Unlike every other G loss it needs D's logits on real data (N_r,), because G
    is rewarded for making reals look *less* real relative to its fakes too; that
    is where its extra gradient signal comes from. `real` carries no gradient
    that the generator needs, so the loop may compute it under no_grad.
    """
    return F.softplus(-(fake - real.mean())).mean() + F.softplus(real - fake.mean()).mean()


class LossPair(NamedTuple):
    """A discriminator loss and a generator loss with one signature: ``(real_logits, fake_logits) -> scalar``.

    A named tuple, so ``d_loss_fn, g_loss_fn, *_ = LOSSES[name]`` unpacks it too.
    """

    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Optional[Tensor], Tensor], Tensor]
    g_needs_real: bool = False
    """True when g_loss reads real_logits (compute D(real) in the generator phase)."""
    smoothing: bool = False
    """True when d_loss accepts ``smooth=`` (one-sided label smoothing): the logistic losses."""
    description: str = ""
    """One line for --help."""


# name -> LossPair. CLI choices are read from this dict. "wgan" and "wgan-gp" share
# the loss pair; they differ in the Lipschitz constraint the loop applies
# (clip_weights_ after each D step vs. the gradient penalty added to the D loss).
LOSSES: dict[str, LossPair] = {
    "nonsaturating": LossPair(d_loss_logistic, g_loss_nonsaturating, smoothing=True,
                              description="the 2014 GAN with the non-saturating G loss -log D(G(z))"),
    "minimax": LossPair(d_loss_logistic, g_loss_minimax, smoothing=True,
                        description="the literal 2014 minimax objective (G saturates early in training)"),
    "lsgan": LossPair(d_loss_least_squares, g_loss_least_squares,
                      description="least squares GAN (Mao et al. 2017)"),
    "hinge": LossPair(d_loss_hinge, g_loss_critic, description="hinge loss (SNGAN, BigGAN)"),
    "wgan": LossPair(d_loss_wasserstein, g_loss_critic,
                     description="Wasserstein GAN with weight clipping (loss.clip) or spectral norm"),
    "wgan-gp": LossPair(d_loss_wasserstein, g_loss_critic,
                        description="Wasserstein GAN with gradient penalty (loss.gp_weight, usually 10)"),
    "relativistic": LossPair(d_loss_relativistic, g_loss_relativistic, g_needs_real=True, smoothing=True,
                             description="relativistic average GAN, RaSGAN (Jolicoeur-Martineau 2018)"),
}


def make_loss(name: str, label_smoothing: float = 0.0) -> LossPair:
    """`LOSSES[name]` with one-sided label smoothing bound into its d_loss.

    Raises KeyError for an unknown name and ValueError when smoothing is asked of
    a loss that has no labels to smooth (config validation catches both first).
    """
    pair = LOSSES[name]
    if label_smoothing == 0.0:
        return pair
    if not pair.smoothing:
        raise ValueError(f"label smoothing applies to logistic losses, not {name!r}")
    return pair._replace(d_loss=functools.partial(pair.d_loss, smooth=float(label_smoothing)))


def probability(logits: Tensor) -> Tensor:
    """D's probability that the input is real, sigmoid(logit), in [0, 1]."""
    return torch.sigmoid(logits)
