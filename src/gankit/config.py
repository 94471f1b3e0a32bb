"""Typed experiment configuration: dataclasses, TOML load/dump, overrides, validation.

A `Config` is the whole, fully resolved description of a training run. It is
read from a preset or a `config.toml`, adjusted with `key.path=value`
overrides, validated up front (before any data is read or model built), and
written back as `runs/<name>/config.toml` so that a run can be repeated as is.

Validation here covers what can be judged from the values alone (types,
ranges, names in registries). Checks that need a registry of another module
(can this architecture build this resolution? is the dataset on disk?) live
beside those registries and are called by `gankit.training` before heavy work.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import tomli_w


class ConfigError(ValueError):
    """A config value is unknown, of the wrong type or out of range.

    The message always starts with the dotted field name, e.g.
    ``optim.lr_g: must be > 0, got -0.001``.
    """


@dataclass
class DataConfig:
    name: str = "fashion-mnist"
    """Dataset: a key of `gankit.data.DATASETS` (fashion-mnist, mnist, cifar10, folder, toy-*)."""
    path: str = ""
    """Directory holding the data; empty searches the default places (see README)."""
    split: str = "train"
    """`train` or `test` for datasets that have splits."""
    resolution: int = 28
    """Image height and width in pixels after resize/crop (ignored by toy data)."""
    channels: int = 1
    """1 for grayscale, 3 for RGB (ignored by toy data)."""
    limit: int = 0
    """Use at most this many training examples; 0 uses all of them."""
    toy_samples: int = 65536
    """Number of points drawn for a toy distribution (fixed per seed)."""
    skip_bad_files: bool = False
    """Image folders: skip unreadable files (counted and named in a note) instead of stopping."""
    max_bad_fraction: float = 0.1
    """With skip_bad_files: stop anyway when more than this fraction of the files is unreadable."""
    task: str = "none"
    """Image-to-image task (`gankit.data.degrade.TASKS`): none (plain GAN training), superres, inpaint,
    denoise, derain, dehaze (the input made on the fly from each clean image), or paired (a user's own
    pairs in data.path). Anything but none trains the "paired" game with model.arch = unet by default;
    unpaired translates between data.domain_a and data.domain_b without pairs (the "unpaired" game,
    CycleGAN: model.arch = cyclegan by default and loss.name = lsgan; munit: example-guided style)."""
    scale: int = 4
    """superres: the scale factor, 2, 4 or 8: G's input is the image downsampled by it (antialiased
    bicubic) and its output is scale x larger. data.resolution must be a multiple of it."""
    noise: str = "gaussian"
    """denoise: "gaussian" (additive, std noise_sigma) or "poisson" (shot noise at noise_peak photons
    for a white pixel)."""
    noise_sigma: float = 25.0
    """denoise, gaussian: the noise std in 0..255 grey levels (25 is the usual benchmark setting)."""
    noise_peak: float = 30.0
    """denoise, poisson: photon count of a white pixel (lower = noisier)."""
    mask: str = "box"
    """inpaint: "box" (a centre square), "boxes" (1..mask_count random rectangles) or "strokes"
    (mask_count free-form brush strokes, DeepFill v2 style)."""
    mask_size: float = 0.5
    """inpaint: box: side of the centre square / image side; boxes: largest rectangle side / image
    side; strokes: brush width / image side * 0.25. In (0, 1]."""
    mask_count: int = 3
    """inpaint: at most this many rectangles (boxes) or strokes."""
    rain_density: float = 0.02
    """derain: fraction of pixels that seed a streak, drawn per image in [density/2, density]."""
    rain_angle: float = 20.0
    """derain: streak angle from vertical, drawn per image in [-rain_angle, rain_angle] degrees."""
    rain_length: float = 0.3
    """derain: streak length / data.resolution (in training pixels, so larger images get the same streaks)."""
    rain_intensity: float = 0.8
    """derain: brightness a streak adds at its core (0..1 of the range), drawn in [intensity/2, intensity]."""
    haze_beta: float = 1.5
    """dehaze: scattering coefficient beta, drawn per image in [haze_beta/3, haze_beta]; t = exp(-beta d)
    with the depth proxy d of `gankit.data.degrade.depth_proxy` (0 at the bottom row, 1 at the top)."""
    haze_airlight: float = 0.9
    """dehaze: atmospheric light A (0..1 of the range), drawn per image in [haze_airlight - 0.2, haze_airlight]."""
    degrade_seed: int = 0
    """The seed that fixes each image's degradation on the test split and in `gankit translate --degrade`
    (image i of seed s is always degraded the same way); training draws fresh ones from the run's seed."""
    direction: str = "AtoB"
    """paired: AtoB (G maps A to B) or BtoA."""
    domain_a: str = ""
    """unpaired: domain A, a class of data.name (e.g. "Sneaker"; exact, else ignoring case) or an image
    folder (a value with "/" or starting with "." or "~", e.g. "./horses"); see `gankit.data.unpaired`."""
    domain_b: str = ""
    """unpaired: domain B, as data.domain_a (e.g. "Ankle boot")."""


@dataclass
class ModelConfig:
    arch: str = "dcgan"
    """Architecture: a key of `gankit.models.MODELS`."""
    z_dim: int = 100
    """Dimension of the latent noise z ~ N(0, I)."""
    width: int = 64
    """Base width: channels of the widest conv layer / 4, or hidden units of an MLP."""
    depth: int = 3
    """Hidden layers of MLP models (conv models derive depth from the resolution)."""
    d_dropout: float = 0.0
    """Dropout probability in the discriminator."""
    d_batchnorm: bool = False
    """Batch norm in the discriminator (real and fake are then normalised separately)."""
    d_spectral_norm: bool = False
    """Spectral normalisation of every conv/linear weight of D (Miyato et al. 2018, SNGAN)."""
    g_spectral_norm: bool = False
    """Spectral normalisation of every conv/linear weight of G (SAGAN, BigGAN)."""
    minibatch_std: bool = False
    """Append the minibatch standard deviation feature before D's last layer (ProGAN); mlp and dcgan."""
    pack: int = 1
    """PacGAN packing: D judges `pack` samples at once, concatenated along channels/features
    (Lin et al. 2018); 1 = off. Must divide train.batch_size."""
    ema_half_life_kimg: float = 0.0
    """Keep an exponential moving average of G's weights whose half-life is this many thousand
    images (StyleGAN uses 10); 0 = off. When on, samples and the exported generator use the average."""
    conditional: str = "none"
    """Class conditioning (needs labelled data): none, concat (Mirza & Osindero 2014: the label joins
    z in G and D's input), projection (Miyato & Koyama 2018: a projection D and conditional batch
    norm in G) or ac (AC-GAN, Odena et al. 2017: an auxiliary class head on D, weight loss.ac_weight).
    Anything but none trains the "conditional" game (see train.game)."""
    upsample: str = "resize"
    """unet: how the decoder doubles the resolution: resize (nearest x2 + 3x3 conv, no checkerboard
    artefacts) or transpose (pix2pix's 4x4 stride-2 transposed conv)."""
    g_dropout: float = 0.5
    """unet: dropout in the three innermost decoder levels while training (pix2pix's noise source;
    off at inference, so a translation is deterministic); in [0, 1)."""
    residual: bool = True
    """unet: G adds a correction to its (bicubic-upsampled) input, starting at zero, so an untrained G
    is the classical baseline; false = pix2pix's direct tanh output."""
    patch_layers: int = 0
    """patchgan: stride-2 layers of D, setting its receptive field (1: 16 px, 2: 34, 3: 70 as in
    pix2pix, 4: 142); 0 = 3, or fewer when the image is smaller than 70 px."""


LOGISTIC_LOSSES = ("nonsaturating", "minimax", "relativistic")
"""Losses with real/fake labels, the only ones label smoothing applies to (kept equal to the
`LossPair.smoothing` flags of `gankit.losses.LOSSES`; a test checks it)."""

AUGMENT_OPS = ("translation", "cutout", "color", "flip", "crop")
"""Differentiable augmentation ops (keys of `gankit.training.augment.OPS`; a test checks it)."""

CONDITIONING = ("none", "concat", "projection", "ac")
"""Values of model.conditional (each family lists those it builds: `gankit.models.ModelFamily.conditional`)."""

FAKE_LABELS = ("uniform", "data")
"""Values of train.fake_labels."""

CONDITIONAL_GAME = "conditional"
"""The game every run with model.conditional != "none" trains."""

TASKS = ("none", "superres", "inpaint", "denoise", "derain", "dehaze", "paired", "unpaired")
"""Values of data.task (the degradations are `gankit.data.degrade.TASKS`; a test checks they agree)."""

PAIRED_GAME = "paired"
"""The game every run with data.task != "none" trains unless train.game names another image-to-image game."""

IMAGE_TO_IMAGE_ARCHS = ("unet",)
"""Architectures that translate images (data.task != "none" needs one; it defaults to unet)."""

UNPAIRED_GAME = "unpaired"
"""The game of data.task = "unpaired" (CycleGAN) with model.arch cyclegan or unet."""

STYLE_GAME = "unpaired-style"
"""The game of data.task = "unpaired" with model.arch = munit (example-guided style, MUNIT-like)."""

UNPAIRED_ARCHS = ("cyclegan", "munit", "unet")
"""Architectures data.task = "unpaired" trains (the first is its default)."""

OPTIMIZERS = ("adam", "rmsprop")
"""Optimizer names (built by `gankit.training.state.make_optimizers`)."""

DATASET_AUGMENT_OPS = ("flip", "crop")
"""Dataset-side augmentation ops (keys of `gankit.training.augment.DATASET_OPS`)."""


@dataclass
class LossConfig:
    name: str = "nonsaturating"
    """Adversarial loss: a key of `gankit.losses.LOSSES`."""
    label_smoothing: float = 0.0
    """One-sided label smoothing: real targets become 1 - label_smoothing (Salimans et al. 2016);
    logistic losses only (nonsaturating, minimax, relativistic); in [0, 0.5)."""
    clip: float = 0.0
    """Weight clipping: clamp every D parameter to [-clip, clip] after each D step (WGAN uses 0.01);
    only with loss "wgan"; 0 = off."""
    gp_weight: float = 0.0
    """Weight of the WGAN-GP gradient penalty on real/fake interpolates (Gulrajani et al. use 10);
    required (> 0) by loss "wgan-gp"; 0 = off."""
    r1_gamma: float = 0.0
    """R1 penalty weight gamma on real data: adds gamma/2 * E||grad D(x)||^2 (Mescheder et al. 2018); 0 = off."""
    r1_every: int = 16
    """Apply R1 lazily every N discriminator steps, scaled by N (StyleGAN2 uses 16)."""
    pl_weight: float = 0.0
    """Path length regularization weight for G, on z (StyleGAN2 uses 2); 0 = off."""
    pl_every: int = 4
    """Apply path length regularization lazily every N generator steps, scaled by N (StyleGAN2 uses 4)."""
    instance_noise: float = 0.0
    """Std of Gaussian noise added to real and fake images before D (Sønderby et al. 2017); 0 = off."""
    instance_noise_kimg: float = 0.0
    """Anneal the instance noise std linearly to 0 over this many thousand images; 0 = keep it constant."""
    ac_weight: float = 1.0
    """model.conditional = "ac": weight of the auxiliary classifier's cross-entropy (D: on real images
    w.r.t. their labels; G: on fake images w.r.t. the labels they were drawn for); >= 0."""
    l1_weight: float = 100.0
    """Paired image-to-image game: weight lambda of the L1 distance to the target in G's loss
    (pix2pix: 100); >= 0."""
    adversarial_weight: float = 1.0
    """Paired game: weight of the adversarial term in G's loss; 0 trains the same U-Net on L1 alone
    (the regression baseline; D is still trained and logged but G ignores it); >= 0."""
    cycle_weight: float = 10.0
    """Unpaired games: weight lambda of the cycle-consistency L1, |G_ba(G_ab(a)) - a| + |G_ab(G_ba(b)) - b|
    (CycleGAN: 10); the style game also weighs its within-domain reconstruction by it (MUNIT: 10); >= 0."""
    identity_weight: float = 0.5
    """Unpaired game: the identity L1 |G_ba(a) - a| + |G_ab(b) - b| weighted by this fraction of
    loss.cycle_weight (the reference code's lambda_identity 0.5, so 5 by default); 0 = off."""


@dataclass
class AugmentConfig:
    policy: str = ""
    """Differentiable augmentation applied to real and fake images before D (DiffAugment/ADA):
    a comma list of translation, cutout, color, flip, crop; empty = off. Images only."""
    p: float = 1.0
    """Probability of applying each op to each sample (the starting p when adaptive)."""
    adaptive: bool = False
    """Adapt p during training as in ADA (Karras et al. 2020): raise it while E[sign D(real)] > ada_target."""
    ada_target: float = 0.6
    """Target value of E[sign(D(real))] for the adaptive p, in (0, 1)."""
    ada_kimg: float = 500.0
    """Adaptive p speed: p can move from 0 to 1 in this many thousand images (ADA uses 500)."""
    dataset_policy: str = ""
    """Plain dataset augmentation of real images only, not differentiable: a comma list of flip, crop.
    It leaks into samples: G learns to produce flipped/cropped images too."""


@dataclass
class OptimConfig:
    name: str = "adam"
    """Optimizer of both players: adam, or rmsprop (the WGAN paper's choice with weight clipping,
    where momentum destabilised the critic; beta1/beta2 then do not apply)."""
    lr_g: float = 2e-4
    """Generator learning rate; a larger lr_d than lr_g is the two-time-scale rule (TTUR)."""
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999


@dataclass
class TrainConfig:
    game: str = "unconditional"
    """What one D step and one G step compute: a key of `gankit.training.games.GAMES`
    (unconditional: D tells data from G(z)). With model.conditional other than none the run trains
    the "conditional" game: leave this at its default (or set "conditional"); any other game is
    refused then, and "conditional" without model.conditional is refused too (`game_of`)."""
    fake_labels: str = "uniform"
    """Conditional runs: how the labels of fake batches are drawn, "uniform" over the classes or
    "data" (the training data's class frequencies)."""
    batch_size: int = 64
    d_steps: int = 1
    """Discriminator steps per generator step (k in the 2014 paper)."""
    epochs: float = 0.0
    """Budget in passes over the data. Exactly one of epochs/kimg/minutes is > 0."""
    kimg: float = 0.0
    """Budget in thousands of real images shown to the discriminator."""
    minutes: float = 0.0
    """Budget in wall-clock minutes of training (set-up and exports not counted)."""
    seed: int = 0
    """Random seed of the run, in [0, 2**32): weights, data order, latents (see `SEED_LIMIT`)."""
    log_every: int = 50
    """Write a metrics.jsonl line (and refresh the progress bar) every N generator steps."""
    sample_every_kimg: float = 0.0
    """Write a sample grid every N thousand images; 0 writes one per epoch."""
    checkpoint_every_kimg: float = 0.0
    """Write a full checkpoint every N thousand images; 0 = by time only (checkpoint_every_minutes)."""
    checkpoint_every_minutes: float = 0.5
    """Also write a full checkpoint every N minutes of training, so that a crash or kill -9 loses at
    most about that much work (half a minute: a run killed in its first minute still resumes, for
    about 0.2 % of training time); 0 = off (then only checkpoint_every_kimg and the end save)."""
    keep_checkpoints: int = 2
    """How many complete checkpoints to keep (older ones are deleted after a new one is complete)."""
    grid_size: int = 64
    """Samples in each fixed-seed grid."""
    device: str = "auto"
    """`auto` (CUDA when available), `cpu`, `cuda` or `cuda:N`."""
    threads: int = 0
    """CPU threads for torch; 0 = automatic (1 for toy data, whose tiny ops lose to threading
    overhead, else torch's default)."""
    channels_last: bool = False
    """Run conv models in channels-last memory format (faster for DCGAN on CPU; measure yours)."""
    pool_size: int = 50
    """Unpaired game: past translations each discriminator trains on (CycleGAN's image pool of 50;
    Shrivastava et al. 2017); 0 = only the latest batch."""


@dataclass
class DiagnosticsConfig:
    """Thresholds of the training alarms (gankit.training.diagnostics); a healthy run raises none."""
    enabled: bool = True
    """Watch training for a runaway discriminator, mode collapse and oscillating losses, and report
    each in the log and metrics.jsonl with a suggestion. Non-finite losses are always handled."""
    window: int = 5
    """Consecutive logged records (or diversity checks) a condition must hold before its alarm fires,
    and must be clear before that alarm can fire again."""
    d_real_max: float = 0.95
    """Alarm d_wins when the mean D(x) is above this ..."""
    d_fake_min: float = 0.05
    """... and the mean D(G(z)) below this for `window` records while loss_g climbs."""
    collapse_ratio: float = 0.3
    """Alarm collapse when the fixed-seed batch diversity (mean pairwise distance) falls below this
    fraction of the real data's."""
    collapse_warmup_kimg: float = 20.0
    """A fresh generator's samples are all alike: collapse checks start once the samples have been
    diverse enough once, or after this many thousand images, whichever comes first."""
    diversity_every: int = 10
    """Measure the fixed-seed batch diversity every N logged records; 0 = never (no collapse check)."""
    osc_window: int = 20
    """Alarm oscillation over this many logged records when ..."""
    osc_cv: float = 1.0
    """... the relative spread std / max(|mean|, 1) of loss_d or loss_g exceeds this ..."""
    osc_growth: float = 1.5
    """... and the std of the window's second half exceeds this many times that of its first half."""
    max_rollbacks: int = 3
    """Non-finite losses or gradients: roll back to the last good state at most this many times,
    then stop with an error."""


@dataclass
class EvalConfig:
    """Evaluation while training (the metrics of `gankit evaluate`): each result is a line of
    metrics.jsonl, and the best generator by `best` is kept in generator-best/ beside generator/."""
    every_kimg: float = 0.0
    """Evaluate every N thousand images (plus once before training and once at the end); 0 = off."""
    every_minutes: float = 0.0
    """... or every N minutes of training time (evaluation time is not counted); 0 = off."""
    metrics: str = ""
    """Comma list of metric names; empty = fid,precision,recall,classes for images (classes only with
    labels) and modes,high_quality,reverse_kl for toy data. See `gankit evaluate --help`."""
    num: int = 0
    """Samples per evaluation; 0 = gankit evaluate's default (10000 images, 2500 toy points)."""
    best: str = ""
    """Metric that picks generator-best/ (one of `metrics`); empty = fid for images, reverse_kl for
    toy data; "none" keeps no best generator."""


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    out: str = "runs/default"
    """Run directory: samples, checkpoints, metrics and the exported generator go here."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def dumps(self) -> str:
        return tomli_w.dumps(self.to_dict())

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.dumps())


# ---------------------------------------------------------------------------
# building a Config from dicts, files and overrides


_INT64 = 2**63

SEED_LIMIT = 2**32
"""Seeds are integers in [0, SEED_LIMIT): what numpy's and torch's generators take without
folding two seeds into one. Every verb and `train.seed` use this one rule."""

MAX_LR = 1.0
"""Learning rates above this overflow or diverge at once with Adam and RMSprop (a typo, not a choice)."""

MAX_GRID = 1024
"""Samples in one training grid at most: a bigger grid is an image no viewer opens."""

MAX_RESOLUTION = 1024
"""Image side at most: a bigger one does not fit a batch in memory on any machine gankit targets."""

MAX_THREADS = 1024
"""torch crashes (segfaults) on absurd thread counts such as 100000."""

MAX_BUDGET = {"epochs": 1e7, "kimg": 1e9, "minutes": 1e7}
"""Budgets at most (a trillion images, 19 years): beyond them the image counts overflow."""


def _check_type(name: str, value, hint):
    """Return `value` coerced to `hint` (only int -> float is coerced), else raise.

    Numbers must be what TOML can hold: integers within 64 bits (tomllib accepts
    any size) and finite floats (nan/inf would slip through every range check)."""
    if isinstance(value, int) and not isinstance(value, bool) and not -_INT64 <= value < _INT64:
        raise ConfigError(f"{name}: integer out of range (TOML integers are 64-bit), got {value}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name}: expected a finite number, got {value!r}")
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise ConfigError(f"{name}: expected {hint.__name__}, got {type(value).__name__} {value!r}")
    return value


def _build(cls, values: dict, prefix: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.')}: expected a table, got {values!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            raise ConfigError(f"{prefix}{key}: unknown key (known: {', '.join(sorted(known))})")
    kwargs = {}
    for key, value in values.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value, f"{prefix}{key}.")
        else:
            kwargs[key] = _check_type(f"{prefix}{key}", value, hint)
    return cls(**kwargs)


def from_dict(values: dict) -> Config:
    """Build a Config from nested dicts; missing keys take their defaults."""
    return _build(Config, values, "")


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _parse_toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML ({e})") from None
    except RecursionError:  # tomllib recurses on nested arrays/tables: "a = [[[[...", thousands deep
        raise ConfigError(f"{source}: not valid TOML (nested too deeply)") from None


def preset_names() -> list[str]:
    """Names of the presets shipped in `gankit/presets/*.toml`."""
    files = resources.files("gankit.presets").iterdir()
    return sorted(p.name[:-5] for p in files if p.name.endswith(".toml"))


def preset_dict(name: str) -> dict:
    path = resources.files("gankit.presets") / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"preset: unknown preset {name!r} (known: {', '.join(preset_names())})")
    return _parse_toml(path.read_text(), f"preset {name}")


TOY_ARCHITECTURE = {"arch": "mlp", "z_dim": 2, "width": 128, "depth": 3, "d_batchnorm": False}
"""The model fields `on_toy_data` puts in place of an image architecture."""


def on_toy_data(cfg: Config, data_name: str = "toy-ring") -> Config:
    """The recipe of `cfg` on a toy mixture: its loss, regularizers, optimizer, D steps, EMA,
    PacGAN packing, spectral norm and dropout, with the image architecture swapped for the toy
    MLP (`TOY_ARCHITECTURE`). How `benchmarks/modes` runs the image presets on 2-D data."""
    if not data_name.startswith("toy-"):
        raise ConfigError(f"data.name: on_toy_data needs a toy dataset, got {data_name!r}")
    values = cfg.to_dict()
    values["data"] = {"name": data_name}
    values["model"].update(TOY_ARCHITECTURE)
    values["augment"] = {}  # image augmentations have no meaning for points
    values["eval"].update(metrics="", best="")  # image metrics neither
    out = from_dict(values)
    validate(out)
    return out


def load_file(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config: no such file {str(path)!r}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config: {str(path)!r} is not a TOML text file (not UTF-8)") from None
    except OSError as e:
        raise ConfigError(f"config: cannot read {str(path)!r} ({e.strerror or e})") from None
    return _parse_toml(text, str(path))


def parse_override(text: str) -> dict:
    """Turn ``model.width=64`` into ``{"model": {"width": 64}}``.

    The value is read as a TOML value (numbers, booleans, quoted strings);
    anything that is not valid TOML is taken as a bare string, so
    ``data.name=mnist`` works without quotes.
    """
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. model.width=64")
    key, raw = (s.strip() for s in text.split("=", 1))
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. model.width=64")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        value = raw
    out: dict = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


def resolve(preset: str | None = None, file: str | Path | None = None,
            overrides: typing.Iterable[dict | str] = ()) -> Config:
    """Defaults <- preset or file <- overrides (later wins), then validated."""
    values: dict = {}
    if preset is not None and file is not None:
        raise ConfigError("config: give a preset or a config file, not both")
    if preset is not None:
        values = preset_dict(preset)
    elif file is not None:
        values = load_file(file)
    for item in overrides:
        values = _merge(values, parse_override(item) if isinstance(item, str) else item)
    data, model = values.get("data"), values.get("model")  # not tables when mistyped: from_dict says so
    if isinstance(data, dict) and data.get("task", "none") == "unpaired":  # CycleGAN's defaults: ResNet G, LSGAN
        values = _merge({"model": {"arch": UNPAIRED_ARCHS[0]}, "loss": {"name": "lsgan"}}, values)
        model = values.get("model")
    if isinstance(data, dict) and data.get("task", "none") != "none" and \
            (model is None or isinstance(model, dict) and "arch" not in model):
        values = _merge(values, {"model": {"arch": IMAGE_TO_IMAGE_ARCHS[0]}})  # the image-to-image default
    cfg = from_dict(values)
    validate(cfg)
    return cfg


# ---------------------------------------------------------------------------
# validation of values (registry-dependent checks live beside the registries)


def game_of(cfg: Config) -> str:
    """The game a run trains: "conditional" whenever model.conditional is not "none" (train.game left
    at its default "unconditional" or set to "conditional"), else train.game. `validate` refuses
    the combinations this would have to guess about."""
    if cfg.model.conditional != "none":
        return CONDITIONAL_GAME
    if cfg.data.task == "unpaired" and cfg.train.game == "unconditional":
        return STYLE_GAME if cfg.model.arch == "munit" else UNPAIRED_GAME
    if cfg.data.task != "none" and cfg.train.game == "unconditional":
        return PAIRED_GAME
    return cfg.train.game


def _require(ok: bool, name: str, rule: str, value) -> None:
    if not ok:
        raise ConfigError(f"{name}: {rule}, got {value!r}")


def validate(cfg: Config) -> None:
    """Raise ConfigError for the first value that is out of range."""
    d, m, o, t = cfg.data, cfg.model, cfg.optim, cfg.train
    _require(d.split in ("train", "test"), "data.split", "must be 'train' or 'test'", d.split)
    _require(4 <= d.resolution <= MAX_RESOLUTION, "data.resolution", f"must be in [4, {MAX_RESOLUTION}]",
             d.resolution)
    _require(d.channels in (1, 3), "data.channels", "must be 1 or 3", d.channels)
    _require(d.limit >= 0, "data.limit", "must be >= 0", d.limit)
    _require(d.toy_samples > 0, "data.toy_samples", "must be > 0", d.toy_samples)
    _require(0.0 <= d.max_bad_fraction <= 1.0, "data.max_bad_fraction", "must be in [0, 1]", d.max_bad_fraction)
    _require(m.z_dim > 0, "model.z_dim", "must be > 0", m.z_dim)
    _require(m.width > 0, "model.width", "must be > 0", m.width)
    _require(m.depth > 0, "model.depth", "must be > 0", m.depth)
    _require(0.0 <= m.d_dropout < 1.0, "model.d_dropout", "must be in [0, 1)", m.d_dropout)
    _require(o.name in OPTIMIZERS, "optim.name", f"must be one of {', '.join(OPTIMIZERS)}", o.name)
    _require(0 < o.lr_g <= MAX_LR, "optim.lr_g", f"must be in (0, {MAX_LR:g}]", o.lr_g)
    _require(0 < o.lr_d <= MAX_LR, "optim.lr_d", f"must be in (0, {MAX_LR:g}]", o.lr_d)
    _require(0.0 <= o.beta1 < 1.0, "optim.beta1", "must be in [0, 1)", o.beta1)
    _require(0.0 <= o.beta2 < 1.0, "optim.beta2", "must be in [0, 1)", o.beta2)
    _require(t.batch_size > 0, "train.batch_size", "must be > 0", t.batch_size)
    _require(t.d_steps > 0, "train.d_steps", "must be > 0", t.d_steps)
    _require(0 <= t.seed < SEED_LIMIT, "train.seed", "must be an integer in [0, 2**32)", t.seed)
    for name in ("epochs", "kimg", "minutes", "sample_every_kimg", "checkpoint_every_kimg",
                 "checkpoint_every_minutes"):
        _require(getattr(t, name) >= 0, f"train.{name}", "must be >= 0", getattr(t, name))
    for name, most in MAX_BUDGET.items():
        _require(getattr(t, name) <= most, f"train.{name}", f"must be <= {most:g}", getattr(t, name))
    budgets = [n for n in ("epochs", "kimg", "minutes") if getattr(t, n) > 0]
    _require(len(budgets) == 1, "train.epochs/kimg/minutes",
             "exactly one budget must be > 0", {n: getattr(t, n) for n in ("epochs", "kimg", "minutes")})
    _require(t.log_every > 0, "train.log_every", "must be > 0", t.log_every)
    _require(t.keep_checkpoints >= 2, "train.keep_checkpoints",
             "must be >= 2 (an older checkpoint to fall back on if the newest is damaged)", t.keep_checkpoints)
    _require(0 < t.grid_size <= MAX_GRID, "train.grid_size", f"must be in [1, {MAX_GRID}]", t.grid_size)
    _require(0 <= t.threads <= MAX_THREADS, "train.threads", f"must be in [0, {MAX_THREADS}] (0 = automatic)",
             t.threads)
    _require(t.device == "auto" or t.device == "cpu" or t.device.startswith("cuda"),
             "train.device", "must be auto, cpu, cuda or cuda:N", t.device)
    _require(bool(cfg.out), "out", "must be a directory path", cfg.out)
    _validate_conditioning(cfg)
    _validate_task(cfg)
    _validate_regularizers(cfg)
    _validate_diagnostics(cfg.diagnostics)
    _validate_eval(cfg.eval)


def _validate_conditioning(cfg: Config) -> None:
    m, t = cfg.model, cfg.train
    _require(m.conditional in CONDITIONING, "model.conditional", f"must be one of {', '.join(CONDITIONING)}",
             m.conditional)
    _require(t.fake_labels in FAKE_LABELS, "train.fake_labels", f"must be one of {', '.join(FAKE_LABELS)}",
             t.fake_labels)
    _require(cfg.loss.ac_weight >= 0, "loss.ac_weight", "must be >= 0", cfg.loss.ac_weight)
    if m.conditional == "none":
        _require(t.game != CONDITIONAL_GAME, "train.game",
                 "'conditional' needs labels: set model.conditional to concat, projection or ac", t.game)
    else:
        _require(t.game in ("unconditional", CONDITIONAL_GAME), "train.game",
                 f"model.conditional = {m.conditional!r} trains the 'conditional' game; leave train.game at "
                 f"its default", t.game)
        _require(m.pack == 1, "model.pack", "PacGAN packing mixes samples of different labels in one D input; "
                 "set model.pack = 1 with model.conditional", m.pack)


def _validate_task(cfg: Config) -> None:
    """data.task and the fields of its degradation, the paired loss weights and the U-Net options."""
    d, m, lo = cfg.data, cfg.model, cfg.loss
    _require(d.task in TASKS, "data.task", f"must be one of {', '.join(TASKS)}", d.task)
    _require(d.scale in (2, 4, 8), "data.scale", "must be 2, 4 or 8", d.scale)
    _require(d.noise in ("gaussian", "poisson"), "data.noise", "must be gaussian or poisson", d.noise)
    _require(0 < d.noise_sigma <= 255, "data.noise_sigma", "must be in (0, 255] grey levels", d.noise_sigma)
    _require(d.noise_peak > 0, "data.noise_peak", "must be > 0", d.noise_peak)
    _require(d.mask in ("box", "boxes", "strokes"), "data.mask", "must be box, boxes or strokes", d.mask)
    _require(0 < d.mask_size <= 1, "data.mask_size", "must be in (0, 1]", d.mask_size)
    _require(d.mask_count >= 1, "data.mask_count", "must be >= 1", d.mask_count)
    _require(0 < d.rain_density <= 1, "data.rain_density", "must be in (0, 1]", d.rain_density)
    _require(0 <= d.rain_angle <= 90, "data.rain_angle", "must be in [0, 90] degrees", d.rain_angle)
    _require(0 < d.rain_length <= 1, "data.rain_length", "must be in (0, 1]", d.rain_length)
    _require(0 < d.rain_intensity <= 1, "data.rain_intensity", "must be in (0, 1]", d.rain_intensity)
    _require(d.haze_beta > 0, "data.haze_beta", "must be > 0", d.haze_beta)
    _require(0.2 < d.haze_airlight <= 1, "data.haze_airlight", "must be in (0.2, 1]", d.haze_airlight)
    _require(0 <= d.degrade_seed < SEED_LIMIT, "data.degrade_seed", "must be an integer in [0, 2**32)",
             d.degrade_seed)
    _require(d.direction in ("AtoB", "BtoA"), "data.direction", "must be AtoB or BtoA", d.direction)
    _require(m.upsample in ("resize", "transpose"), "model.upsample", "must be resize or transpose", m.upsample)
    _require(0 <= m.g_dropout < 1, "model.g_dropout", "must be in [0, 1)", m.g_dropout)
    _require(0 <= m.patch_layers <= 6, "model.patch_layers", "must be in [0, 6] (0 = automatic)", m.patch_layers)
    _require(lo.l1_weight >= 0, "loss.l1_weight", "must be >= 0", lo.l1_weight)
    _require(lo.adversarial_weight >= 0, "loss.adversarial_weight", "must be >= 0", lo.adversarial_weight)
    _validate_unpaired(cfg)
    if d.task == "unpaired":
        return
    if d.task == "none":
        _require(m.arch not in IMAGE_TO_IMAGE_ARCHS + UNPAIRED_ARCHS, "model.arch",
                 "translates images: set data.task (superres, inpaint, denoise, derain, dehaze or paired)", m.arch)
        _require(cfg.train.game != PAIRED_GAME, "train.game", "'paired' needs data.task", cfg.train.game)
        return
    _require(not d.name.startswith("toy-"), "data.task", f"translates images; data.name = {d.name!r} is toy data",
             d.task)
    _require(m.arch in IMAGE_TO_IMAGE_ARCHS, "model.arch",
             f"data.task = {d.task!r} needs an image-to-image generator ({', '.join(IMAGE_TO_IMAGE_ARCHS)})", m.arch)
    _require(m.conditional == "none", "model.conditional", "class conditioning is not built for image-to-image "
             "tasks; set model.conditional = none", m.conditional)
    _require(lo.l1_weight > 0 or lo.adversarial_weight > 0, "loss.l1_weight",
             "and loss.adversarial_weight are both 0: G would learn nothing", lo.l1_weight)
    _require(d.task != "superres" or d.resolution % d.scale == 0, "data.resolution",
             f"must be a multiple of data.scale = {d.scale} for superres", d.resolution)
    _require(lo.pl_weight == 0, "loss.pl_weight", "path-length regularization is defined on G's latent z, "
             "which a U-Net has none of; set loss.pl_weight = 0", lo.pl_weight)


def _validate_unpaired(cfg: Config) -> None:
    """The unpaired games' fields; with data.task = "unpaired", what it needs and refuses."""
    d, m, lo, t = cfg.data, cfg.model, cfg.loss, cfg.train
    _require(lo.cycle_weight >= 0, "loss.cycle_weight", "must be >= 0", lo.cycle_weight)
    _require(lo.identity_weight >= 0, "loss.identity_weight", "must be >= 0 (a fraction of loss.cycle_weight)",
             lo.identity_weight)
    _require(t.pool_size >= 0, "train.pool_size", "must be >= 0 (0 = no pool)", t.pool_size)
    unpaired_games = (UNPAIRED_GAME, STYLE_GAME)
    if d.task != "unpaired":
        _require(m.arch not in ("cyclegan", "munit"), "model.arch",
                 "translates between two domains: set data.task = unpaired with data.domain_a and data.domain_b",
                 m.arch)
        _require(t.game not in unpaired_games, "train.game", f"{t.game!r} needs data.task = unpaired", t.game)
        return
    _require(not d.name.startswith("toy-"), "data.task", f"translates images; data.name = {d.name!r} is toy data",
             d.task)
    _require(m.arch in UNPAIRED_ARCHS, "model.arch",
             f"data.task = 'unpaired' trains one of {', '.join(UNPAIRED_ARCHS)}", m.arch)
    _require(t.game in ("unconditional",) + unpaired_games, "train.game",
             "data.task = 'unpaired' trains the 'unpaired' game (model.arch = munit: 'unpaired-style'); leave "
             "train.game at its default", t.game)
    _require(t.game == "unconditional" or t.game == game_of(cfg), "train.game",
             f"model.arch = {m.arch!r} trains {game_of(cfg)!r}", t.game)
    _require(bool(d.domain_a.strip()), "data.domain_a", "data.task = 'unpaired' needs it: a class of data.name "
             "(e.g. Sneaker) or a folder ('./horses')", d.domain_a)
    _require(bool(d.domain_b.strip()), "data.domain_b", "data.task = 'unpaired' needs it: a class of data.name "
             "(e.g. 'Ankle boot') or a folder ('./zebras')", d.domain_b)
    _require(d.domain_a.strip() != d.domain_b.strip(), "data.domain_b",
             "must differ from data.domain_a: translation needs two domains", d.domain_b)
    _require(m.conditional == "none", "model.conditional", "class conditioning is not built for unpaired "
             "translation; set model.conditional = none", m.conditional)
    _require(lo.pl_weight == 0, "loss.pl_weight", "path-length regularization is defined on G's latent z, "
             "which a translator has none of; set loss.pl_weight = 0", lo.pl_weight)
    e = cfg.eval
    _require(e.every_kimg == 0 and e.every_minutes == 0, "eval.every_kimg",
             "train-time evaluation samples G(z), which a translator has no z for; measure translations with "
             "benchmarks/style (or set eval.every_kimg = eval.every_minutes = 0)", e.every_kimg or e.every_minutes)


def _validate_eval(e: EvalConfig) -> None:
    """Ranges only: which metric names exist depends on the data (checked by the trainer's preflight)."""
    _require(e.every_kimg >= 0, "eval.every_kimg", "must be >= 0 (0 = off)", e.every_kimg)
    _require(e.every_minutes >= 0, "eval.every_minutes", "must be >= 0 (0 = off)", e.every_minutes)
    _require(e.every_kimg == 0 or e.every_minutes == 0, "eval.every_minutes",
             f"give eval.every_kimg or eval.every_minutes, not both (every_kimg = {e.every_kimg:g})",
             e.every_minutes)
    _require(e.num == 0 or e.num >= 10, "eval.num", "must be 0 (the default) or >= 10", e.num)


def _validate_diagnostics(g: DiagnosticsConfig) -> None:
    _require(g.window >= 1, "diagnostics.window", "must be >= 1", g.window)
    _require(0.0 < g.d_real_max < 1.0, "diagnostics.d_real_max", "must be in (0, 1)", g.d_real_max)
    _require(0.0 < g.d_fake_min < g.d_real_max, "diagnostics.d_fake_min",
             f"must be in (0, diagnostics.d_real_max = {g.d_real_max:g})", g.d_fake_min)
    _require(0.0 < g.collapse_ratio < 1.0, "diagnostics.collapse_ratio", "must be in (0, 1)", g.collapse_ratio)
    _require(g.collapse_warmup_kimg >= 0, "diagnostics.collapse_warmup_kimg", "must be >= 0",
             g.collapse_warmup_kimg)
    _require(g.diversity_every >= 0, "diagnostics.diversity_every", "must be >= 0 (0 = off)", g.diversity_every)
    _require(g.osc_window >= 4, "diagnostics.osc_window", "must be >= 4 (two halves are compared)", g.osc_window)
    _require(g.osc_cv > 0, "diagnostics.osc_cv", "must be > 0", g.osc_cv)
    _require(g.osc_growth >= 1.0, "diagnostics.osc_growth", "must be >= 1", g.osc_growth)
    _require(g.max_rollbacks >= 0, "diagnostics.max_rollbacks", "must be >= 0", g.max_rollbacks)


def _ops(policy: str) -> list[str]:
    return [op.strip() for op in policy.split(",") if op.strip()]


def _validate_regularizers(cfg: Config) -> None:
    """Ranges and combinations of the loss, regularizer, model-option and augmentation fields."""
    m, lo, a, t = cfg.model, cfg.loss, cfg.augment, cfg.train
    _require(m.pack >= 1, "model.pack", "must be >= 1", m.pack)
    _require(t.batch_size % m.pack == 0, "model.pack",
             f"must divide train.batch_size = {t.batch_size} (D sees batch_size / pack packs)", m.pack)
    _require(m.ema_half_life_kimg >= 0, "model.ema_half_life_kimg", "must be >= 0", m.ema_half_life_kimg)

    _require(0.0 <= lo.label_smoothing < 0.5, "loss.label_smoothing", "must be in [0, 0.5)", lo.label_smoothing)
    _require(lo.label_smoothing == 0 or lo.name in LOGISTIC_LOSSES, "loss.label_smoothing",
             f"applies only to the logistic losses ({', '.join(LOGISTIC_LOSSES)}), not loss.name = {lo.name!r}",
             lo.label_smoothing)
    for name in ("clip", "gp_weight", "r1_gamma", "pl_weight", "instance_noise", "instance_noise_kimg"):
        _require(getattr(lo, name) >= 0, f"loss.{name}", "must be >= 0", getattr(lo, name))
    _require(lo.r1_every >= 1, "loss.r1_every", "must be >= 1", lo.r1_every)
    _require(lo.pl_every >= 1, "loss.pl_every", "must be >= 1", lo.pl_every)
    _require(lo.clip == 0 or lo.name == "wgan", "loss.clip",
             f"weight clipping is only valid with loss.name = 'wgan', not {lo.name!r}", lo.clip)
    _require(lo.name != "wgan" or lo.clip > 0 or m.d_spectral_norm, "loss.clip",
             "loss 'wgan' needs a Lipschitz constraint on D: set loss.clip > 0 (e.g. 0.01) "
             "or model.d_spectral_norm = true, or use loss.name = 'wgan-gp'", lo.clip)
    _require(lo.name != "wgan-gp" or lo.gp_weight > 0, "loss.gp_weight",
             "loss 'wgan-gp' needs the gradient penalty: set loss.gp_weight > 0 (e.g. 10)", lo.gp_weight)
    _require(lo.gp_weight == 0 or lo.name != "wgan", "loss.gp_weight",
             "the gradient penalty replaces weight clipping; use loss.name = 'wgan-gp' instead of 'wgan'",
             lo.gp_weight)
    _require(lo.gp_weight == 0 or not m.d_batchnorm, "loss.gp_weight",
             "the gradient penalty is per sample and batch norm in D mixes samples (Gulrajani et al. 2017); "
             "set model.d_batchnorm = false", lo.gp_weight)
    _require(lo.instance_noise_kimg == 0 or lo.instance_noise > 0, "loss.instance_noise_kimg",
             "anneals loss.instance_noise, which is 0", lo.instance_noise_kimg)

    toy = cfg.data.name.startswith("toy-")
    for name, policy, known in (("augment.policy", a.policy, AUGMENT_OPS),
                                ("augment.dataset_policy", a.dataset_policy, DATASET_AUGMENT_OPS)):
        ops = _ops(policy)
        for op in ops:
            _require(op in known, name, f"unknown op {op!r} (known: {', '.join(known)})", policy)
        _require(len(set(ops)) == len(ops), name, "lists an op twice", policy)
        _require(not ops or not toy, name, f"augments images; data.name = {cfg.data.name!r} is toy data", policy)
    _require(0.0 <= a.p <= 1.0, "augment.p", "must be in [0, 1]", a.p)
    _require(not a.adaptive or bool(_ops(a.policy)), "augment.adaptive",
             "adapts the probability of augment.policy, which is empty", a.adaptive)
    _require(0.0 < a.ada_target < 1.0, "augment.ada_target", "must be in (0, 1)", a.ada_target)
    _require(a.ada_kimg > 0, "augment.ada_kimg", "must be > 0", a.ada_kimg)

