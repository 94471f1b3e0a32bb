"""The domain classifier: a small CNN trained on a dataset's train split, used as a feature space.

Inception-v3 features need weights that must be downloaded; a classifier
trained on the dataset itself needs nothing but the data, runs in seconds on a
CPU, and its 128-D penultimate layer separates exactly the differences that
matter in that domain (a trouser from a dress), which is what FID, KID and the
k-NN metrics need. Its softmax also gives the Inception-Score analogue and the
class histogram of generated samples.

    model, meta = fit_classifier(DataConfig(name="fashion-mnist"))   # fits once, then cached
    model(x)          # (N, 128) features for x float (N, C, H, W) in [-1, 1]
    model.logits(x)   # (N, num_classes)

Cache: ``$GANKIT_CACHE/features/<dataset>-<hash>/`` (``~/.cache/gankit`` by
default) with ``model.safetensors`` and ``meta.json`` (test accuracy, fit time,
config, data source). The hash covers the classifier config, the data shape
and where the data came from, so a change to any of them fits a new one.
meta.json is written last: a folder without it is an unfinished fit.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import safetensors.torch
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.config import DataConfig
from gankit.data import DataError, Dataset, to_float
from gankit.evaluation.features import (EvaluationError, check_writable, dataset_identity, dataset_label,
                                        extract, features_dir, real_splits, short_hash)
from gankit.io.files import FileError, write_bytes_atomic, write_text_atomic

__all__ = ["ClassifierConfig", "DomainClassifier", "fit_classifier", "load_classifier", "classifier_dir",
           "cached_classifiers"]

FORMAT = "gankit-domain-classifier"
VERSION = 1


@dataclass(frozen=True)
class ClassifierConfig:
    """How the domain classifier is built and trained; every field is part of its cache key."""

    widths: tuple[int, int, int] = (32, 64, 128)
    """Channels of the three stride-2 conv layers (each conv + batch norm + ReLU)."""
    feature_dim: int = 128
    """Width of the penultimate layer: the feature space of the metrics."""
    epochs: float = 2.0
    """Passes over the train split (at least `min_steps` optimizer steps are taken)."""
    min_steps: int = 500
    """Lower bound on optimizer steps, so that small datasets still get trained."""
    batch_size: int = 64
    lr: float = 2e-3
    """Peak Adam learning rate of the one-cycle schedule."""
    dropout: float = 0.3
    flip: bool = False
    """Random horizontal flips as augmentation (not needed for Fashion-MNIST's 90%)."""
    seed: int = 0


DEFAULT_CONFIG = ClassifierConfig()
"""The config used when none is given (`gankit features fit`, `gankit evaluate`)."""


class DomainClassifier(nn.Module):
    """conv(5x5, s2) -> conv(3x3, s2) -> conv(3x3, s2) -> 4x4 pool -> linear feature layer -> head.

    Input: float (N, C, H, W) in [-1, 1], any H, W >= 8. ``forward`` returns the
    (N, feature_dim) features (after batch norm and ReLU), ``logits`` the class
    scores (N, num_classes). Stride-2 convolutions keep it cheap: about 2.5M
    multiply-adds per 28x28 image, so 10k images take a couple of seconds on a CPU.
    """

    def __init__(self, channels: int, num_classes: int, cfg: ClassifierConfig | None = None):
        super().__init__()
        cfg = cfg or DEFAULT_CONFIG
        layers: list[nn.Module] = []
        c_in = channels
        for i, c_out in enumerate(cfg.widths):
            k = 5 if i == 0 else 3
            layers += [nn.Conv2d(c_in, c_out, k, stride=2, padding=k // 2, bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            c_in = c_out
        # 28 -> 14 -> 7 -> 4; the adaptive pool makes other resolutions end at 4x4 too.
        layers += [nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                   nn.Linear(c_in * 16, cfg.feature_dim, bias=False), nn.BatchNorm1d(cfg.feature_dim),
                   nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.feature_dim, num_classes))
        self.num_classes = num_classes
        self.feature_dim = cfg.feature_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)

    def logits(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))

    def features_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        f = self.body(x)
        return f, self.head(f)


# --------------------------------------------------------------------------- cache


def _key(data_cfg: DataConfig, cfg: ClassifierConfig) -> dict:
    return {"format": FORMAT, "version": VERSION, "classifier": asdict(cfg), "data": dataset_identity(data_cfg)}


def classifier_dir(data_cfg: DataConfig, cfg: ClassifierConfig | None = None) -> Path:
    """Where the classifier for this data and config is (or would be) cached. Reads no images."""
    cfg = cfg or DEFAULT_CONFIG
    return features_dir() / f"{dataset_label(data_cfg)}-{short_hash(_key(data_cfg, cfg))}"


def cached_classifiers() -> list[dict]:
    """meta.json of every cached classifier (plus its folder under "dir"), oldest first."""
    out = []
    root = features_dir()
    for meta_path in sorted(root.glob("*/meta.json"), key=lambda p: p.stat().st_mtime) if root.is_dir() else []:
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("format") == FORMAT:
            out.append({**meta, "dir": str(meta_path.parent)})
    return out


def _build(meta: dict) -> DomainClassifier:
    cfg = ClassifierConfig(**{**meta["config"], "widths": tuple(meta["config"]["widths"])})
    return DomainClassifier(meta["channels"], meta["num_classes"], cfg)


def _load(where: Path) -> tuple[DomainClassifier, dict]:
    """Rebuild a cached classifier; FileError naming the file for anything inconsistent."""
    meta_path, weights = where / "meta.json", where / "model.safetensors"
    fix = f"delete {where} or run `gankit features fit --force`"
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ValueError("not a gankit domain classifier of this version")
        model = _build(meta)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise FileError(f"{meta_path} is unreadable ({e}); {fix}") from None
    try:
        data = weights.read_bytes()
        tensors = safetensors.torch.load(data)
    except Exception as e:
        raise FileError(f"{weights} is not a valid safetensors file ({e}); {fix}") from None
    own = model.state_dict()
    if tensors.keys() != own.keys() or any(tensors[k].shape != own[k].shape for k in own):
        raise FileError(f"{weights} does not match the classifier described in meta.json; {fix}")
    model.load_state_dict(tensors)
    meta["weights_sha256"] = hashlib.sha256(data).hexdigest()  # the real-feature cache keys on it
    return model.eval(), meta


# --------------------------------------------------------------------------- fitting


def train_steps(model: DomainClassifier, x: Tensor, y: Tensor, cfg: ClassifierConfig, view, desc: str | None,
                device) -> int:
    """Adam with a one-cycle schedule on in-memory images; returns the steps taken.

    x: uint8 (N, C, H, W), y: int64 (N,); max(cfg.min_steps, ceil(cfg.epochs * N / batch)) steps on
    whole batches of a shuffle seeded with cfg.seed. view(x_batch uint8, gen) -> the float batch in
    [-1, 1] the model trains on (augmentation draws from `gen`, after the epoch's shuffle). desc: the
    progress bar's label (None: no bar). Dropout draws from torch's global RNG: the caller seeds it."""
    n = len(x)
    bs = min(cfg.batch_size, n)
    per_epoch = n // bs
    steps = max(cfg.min_steps, math.ceil(cfg.epochs * per_epoch))
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.15)
    bar = None
    if desc:
        from tqdm import tqdm
        bar = tqdm(total=steps, desc=desc, unit="step", leave=False)
    model.train()
    step = 0
    while step < steps:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, per_epoch * bs, bs):
            idx = perm[i:i + bs]
            loss = F.cross_entropy(model.logits(view(x[idx], gen).to(device)), y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if bar is not None:
                bar.update()
                if step % 20 == 0:
                    bar.set_postfix(loss=f"{loss.item():.3f}")
            if step >= steps:
                break
    if bar is not None:
        bar.close()
    return steps


def _flip_view(cfg: ClassifierConfig):
    """The domain classifier's batches: [-1, 1], each image mirrored with probability 1/2 when cfg.flip."""
    def view(x: Tensor, gen: torch.Generator) -> Tensor:
        x = to_float(x)
        if cfg.flip:
            flip = torch.rand(len(x), generator=gen) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        return x
    return view


def accuracy(model: DomainClassifier, x: Tensor, y: Tensor, batch_size: int = 1000, device="cpu") -> float:
    """Share of images (uint8 or float (N, C, H, W)) whose argmax class is y (N,)."""
    logits = extract(model.logits, x, batch_size=batch_size, device=device)
    return float((logits.argmax(1) == torch.as_tensor(y, dtype=torch.int64)).double().mean())


def _labeled(data: Dataset, cfg: DataConfig) -> None:
    if data.y is None or len(data.classes) < 2:
        where = f" in {cfg.path}" if cfg.path else ""
        raise DataError(f"{cfg.name}{where} has no class labels, so gankit cannot train its domain classifier "
                        f"on it: sort the images into one sub-folder per class, or evaluate with another "
                        f"feature extractor (--inception-weights FILE, or evaluate(..., extractor=module))")


def fit_classifier(data_cfg: DataConfig, cfg: ClassifierConfig | None = None, force: bool = False,
                   progress: bool = True, device="cpu", threads: int = 1) -> tuple[DomainClassifier, dict]:
    """Train the domain classifier on `data_cfg`'s train split and cache it; return (model, meta).

    If a classifier for this data and config is cached (and `force` is False),
    it is loaded instead. The model works at data_cfg.channels x
    data_cfg.resolution^2 and returns features from ``model(x)``. meta holds
    test_accuracy (on the test split), train_seconds, config, source, classes.
    threads > 0 sets torch's CPU threads for the fit (restored after), 0 keeps
    torch's setting. The default is 1: this network's small ops lose to
    threading overhead (Fashion-MNIST on 2 shared cores: 120 s with 1 thread,
    598 s with 2).
    Raises DataError when the dataset is missing or has no labels.
    """
    cfg = cfg or DEFAULT_CONFIG
    where = classifier_dir(data_cfg, cfg)
    if not force and (where / "meta.json").is_file():
        return _load(where)
    check_writable(where)
    train, test = real_splits(data_cfg)
    _labeled(train, data_cfg)
    if len(test) < 1:
        raise DataError(f"{data_cfg.name}: no test images to measure the classifier on")
    before = torch.get_num_threads()
    try:
        if threads > 0:
            torch.set_num_threads(threads)
        used_threads = torch.get_num_threads()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model = DomainClassifier(train.x.shape[1], len(train.classes), cfg).to(device)
            start = time.perf_counter()
            steps = train_steps(model, train.x, train.y, cfg, _flip_view(cfg),
                                "fitting domain classifier" if progress else None, device)
            seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(before)
    model = model.cpu().eval()
    test_accuracy = accuracy(model, test.x, test.y)
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    write_bytes_atomic(where / "model.safetensors", safetensors.torch.save(tensors))
    meta = {"format": FORMAT, "version": VERSION, "dataset": data_cfg.name, "source": train.source,
            "test_source": test.source, "channels": train.x.shape[1], "resolution": data_cfg.resolution,
            "num_classes": len(train.classes), "classes": list(train.classes), "feature_dim": cfg.feature_dim,
            "test_accuracy": test_accuracy, "train_seconds": round(seconds, 2), "steps": steps,
            "train_examples": len(train), "test_examples": len(test), "config": asdict(cfg),
            "key": _key(data_cfg, cfg), "torch": torch.__version__, "threads": used_threads}
    write_text_atomic(where / "meta.json", json.dumps(meta, indent=2))  # last: marks the fit complete
    return _load(where)


def load_classifier(data_cfg: DataConfig, cfg: ClassifierConfig | None = None, fit: bool = True,
                    progress: bool = True, device="cpu") -> tuple[DomainClassifier, dict]:
    """The cached classifier for `data_cfg`, fitted first (with a one-line note on stderr) when there is none.

    With fit=False a missing classifier is an EvaluationError telling how to fit it.
    """
    cfg = cfg or DEFAULT_CONFIG
    where = classifier_dir(data_cfg, cfg)
    if (where / "meta.json").is_file():
        return _load(where)
    if not fit:
        raise EvaluationError(f"no domain classifier cached for {data_cfg.name} at {where}; "
                              f"run `gankit features fit --data {data_cfg.name}`")
    # Always said (not only with progress bars): a silent multi-minute pause looks like a hang.
    print(f"gankit: fitting the {data_cfg.name} domain classifier once (a few minutes on a laptop CPU; "
          f"cached in {where})", file=sys.stderr)
    return fit_classifier(data_cfg, cfg, progress=progress, device=device)


def describe(meta: dict) -> str:
    """One line: 'domain classifier, 128-D, 91.2% test accuracy (fashion-mnist)'."""
    return (f"domain classifier, {meta['feature_dim']}-D features, {100 * meta['test_accuracy']:.1f}% "
            f"test accuracy ({meta['dataset']})")
