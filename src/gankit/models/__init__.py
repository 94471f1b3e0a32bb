"""Generator/discriminator families and their registry.

`MODELS` maps an architecture name (``model.arch``) to a `ModelFamily`; the CLI
reads its choices from it. `check` validates a config against a sample shape
before any heavy work; `build` returns an initialised ``(G, D)`` pair.

Sample shapes are ``(C, H, W)`` for images (float in [-1, 1]) and ``(D,)`` for
toy data. Every generator subclasses `Generator`: ``G(z)`` maps ``(N, z_dim)``
to ``(N, *shape)`` and ``G.sample(n, seed=...)`` draws reproducible samples.
Discriminators map ``(N, *shape)`` to raw logits ``(N,)`` (no sigmoid).

Options applied here for every family (`gankit.models.layers`):
``model.pack = m`` builds D for the packed shape ``(m*C, H, W)`` / ``(m*D,)``
(PacGAN: the loop feeds ``pack_samples(x, m)``, so D returns N/m logits);
``model.d_spectral_norm`` / ``model.g_spectral_norm`` wrap every conv/linear
weight in spectral normalisation after init (a family may build it in: resnet's D
always has it, and applying it again changes nothing). ``model.minibatch_std`` is built
into the families that list it in `ModelFamily.options`.

Class conditioning: ``build(cfg, shape, num_classes=K)`` with ``model.conditional`` one of
concat, projection, ac (those in `ModelFamily.conditional`) builds ``G(z, y)`` and
``D(x, y)`` (ac: also ``D(x, return_classes=True)`` -> (logits (N,), class logits (N, K)));
labels y are int64 (N,) class indices (G also takes (N, K) class weights). K = 0 or
``model.conditional = "none"`` builds exactly the unconditional modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from gankit.config import ModelConfig
from gankit.models import cyclegan, dcgan, dcgan_tf, mlp, munit, patchgan, resnet, unet
from gankit.models.base import LATENT_CHUNK, Generator, ModelError, init_weights, latents
from gankit.models.layers import apply_spectral_norm, pack_samples, packed_shape

__all__ = ["MODELS", "ModelFamily", "ModelError", "Generator", "build", "build_translator", "check", "latents",
           "init_weights", "LATENT_CHUNK", "apply_spectral_norm", "pack_samples", "packed_shape"]


@dataclass(frozen=True)
class ModelFamily:
    generator: Callable[[ModelConfig, tuple], Generator]
    """(cfg, sample_shape) -> an initialised generator."""
    discriminator: Callable[[ModelConfig, tuple], nn.Module]
    """(cfg, sample_shape) -> an initialised discriminator returning logits (N,)."""
    check: Callable[[ModelConfig, tuple], "str | None"]
    """None if the family can build this shape, else the reason (one line, no field prefix)."""
    description: str
    """One line for --help."""
    options: frozenset = frozenset()
    """Optional model features the family builds itself: "minibatch_std"."""
    conditional: frozenset = frozenset()
    """The model.conditional methods it builds (besides "none"); the builders then take num_classes=K."""


CONDITIONAL = frozenset({"concat", "projection", "ac"})


def _check_unet(cfg: ModelConfig, shape: tuple) -> "str | None":
    return unet.check(cfg, shape) or patchgan.check(cfg, shape[-1])


MODELS: dict[str, ModelFamily] = {
    "mlp": ModelFamily(
        mlp.generator, mlp.discriminator, mlp.check,
        "the 2014 GAN MLP: depth x width hidden units; any data shape (toy data, small images)",
        frozenset({"minibatch_std"}), CONDITIONAL),
    "dcgan": ModelFamily(
        dcgan.generator, dcgan.discriminator, dcgan.check,
        "DCGAN conv G/D for square images of 4*2^k or 7*2^k pixels (28, 32, 64, ...); width = last G layer's channels",
        frozenset({"minibatch_std"}), CONDITIONAL),
    "dcgan-tf": ModelFamily(
        dcgan_tf.generator, dcgan_tf.discriminator, dcgan_tf.check,
        "the TensorFlow tutorial DCGAN, 28x28 only; ignores model.width/d_dropout/d_batchnorm; no minibatch_std"),
    "resnet": ModelFamily(
        resnet.generator, resnet.discriminator, resnet.check,
        "SNGAN residual G/D for 28x28 and 32x32; spectral norm always on in D; width = channels of every block",
        conditional=CONDITIONAL),
    "unet": ModelFamily(
        unet.generator, lambda cfg, shape: patchgan.discriminator(cfg, (2 * shape[0], *shape[1:])), _check_unet,
        "image-to-image (data.task): pix2pix U-Net G (depth from the resolution, skips, dropout) and a "
        "PatchGAN D on the (input, output) pair"),
    "cyclegan": ModelFamily(
        cyclegan.generator, cyclegan.patch_discriminators, cyclegan.check,
        "unpaired translation (data.task=unpaired): CycleGAN's two ResNet-block generators (depth = residual "
        "blocks) and two PatchGAN Ds"),
    "munit": ModelFamily(
        munit.generator, cyclegan.patch_discriminators, munit.check,
        "example-guided unpaired translation (data.task=unpaired): MUNIT-like content/style encoders and AdaIN "
        "decoders per domain, two PatchGAN Ds"),
}


def _shape(shape) -> tuple:
    try:
        return tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ModelError(f"model: sample shape must be a tuple of ints, got {shape!r}") from None


def check(cfg: ModelConfig, shape: tuple) -> None:
    """Raise `ModelError` (one line naming the field) unless `cfg` can build `shape`."""
    family = MODELS.get(cfg.arch)
    if family is None:
        raise ModelError(f"model.arch: unknown architecture {cfg.arch!r} (known: {', '.join(sorted(MODELS))})")
    for name in ("z_dim", "width", "depth"):
        if getattr(cfg, name) < 1:
            raise ModelError(f"model.{name}: must be > 0, got {getattr(cfg, name)!r}")
    if not 0.0 <= cfg.d_dropout < 1.0:
        raise ModelError(f"model.d_dropout: must be in [0, 1), got {cfg.d_dropout!r}")
    if cfg.pack < 1:
        raise ModelError(f"model.pack: must be >= 1, got {cfg.pack!r}")
    if cfg.minibatch_std and "minibatch_std" not in family.options:
        supported = ", ".join(sorted(n for n, f in MODELS.items() if "minibatch_std" in f.options))
        raise ModelError(f"model.minibatch_std: arch {cfg.arch!r} has no minibatch-std layer "
                         f"(available in: {supported})")
    if cfg.conditional != "none" and cfg.conditional not in family.conditional:
        supported = ", ".join(sorted(n for n, f in MODELS.items() if cfg.conditional in f.conditional))
        raise ModelError(f"model.conditional: arch {cfg.arch!r} has no {cfg.conditional!r} conditioning "
                         f"(available in: {supported})")
    reason = family.check(cfg, _shape(shape))
    if reason is not None:
        raise ModelError(f"model.arch: {reason}")


def build(cfg: ModelConfig, shape: tuple, seed: int | None = None,
          num_classes: int = 0) -> tuple[Generator, nn.Module]:
    """Check, then construct an initialised ``(G, D)`` for sample shape `shape`.

    `num_classes` K: the classes of a conditional model (``model.conditional`` not "none"
    needs K >= 1); ignored when ``model.conditional`` is "none".
    With `seed`, the initial weights depend only on it (torch's global RNG is
    left untouched); without, they are drawn from the global RNG.
    D is built for ``packed_shape(shape, cfg.pack)``; spectral norm is applied
    after each family's own init, so it normalises the initialised weights.
    """
    check(cfg, shape)
    shape = _shape(shape)
    k = _num_classes(cfg, num_classes)
    if seed is None:
        return _construct(cfg, shape, k)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _construct(cfg, shape, k)


def _num_classes(cfg: ModelConfig, num_classes) -> int:
    if cfg.conditional == "none":
        return 0
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ModelError(f"model.conditional: {cfg.conditional!r} needs the number of classes "
                         f"(num_classes >= 1), got {num_classes!r}")
    return num_classes


def _construct(cfg: ModelConfig, shape: tuple, k: int = 0) -> tuple[Generator, nn.Module]:
    family = MODELS[cfg.arch]
    if k:
        G = family.generator(cfg, shape, num_classes=k)
        D = family.discriminator(cfg, packed_shape(shape, cfg.pack), num_classes=k)
    else:  # the unconditional builders, called as they always were
        G = family.generator(cfg, shape)
        D = family.discriminator(cfg, packed_shape(shape, cfg.pack))
    if cfg.g_spectral_norm:
        apply_spectral_norm(G)
    if cfg.d_spectral_norm:
        apply_spectral_norm(D)
    return G, D


def build_translator(cfg: ModelConfig, shape: tuple, in_channels: int, scale: int = 1, mask_input: bool = False,
                     seed: int | None = None) -> tuple[nn.Module, nn.Module]:
    """Check, then construct an image-to-image ``(G, D)``: G maps (N, in_channels, H/scale, W/scale) to
    images of `shape` (C, H, W); D (`patchgan`) judges the pair cat(cond, image) of in_channels + C
    channels at (H, W), packed by model.pack; cond is G's input brought to (H, W) (bicubic when
    scale > 1). `seed` as in `build`; spectral norm likewise."""
    check(cfg, shape)
    shape = _shape(shape)

    def construct():
        G = unet.generator(cfg, shape, in_channels=in_channels, scale=scale, mask_input=mask_input)
        D = patchgan.discriminator(cfg, packed_shape((in_channels + shape[0], *shape[1:]), cfg.pack))
        if cfg.g_spectral_norm:
            apply_spectral_norm(G)
        if cfg.d_spectral_norm:
            apply_spectral_norm(D)
        return G, D
    if seed is None:
        return construct()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return construct()
