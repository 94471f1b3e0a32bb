"""What the service serves: a run's generator (and its discriminator, for /api/score), and the
work each endpoint does with them, as plain functions of tensors and bytes (no web framework).

Every function here runs in a worker thread of the bounded queue (`gankit.serve.work`); the
modules are in eval mode and only read, so threads can share them.
"""

from __future__ import annotations

import base64
import inspect
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gankit.apps.export import kind_of, plain_copy
from gankit.apps.interpolate import gif_scale, interpolation_path
from gankit.data import to_float, to_uint8
from gankit.io.images import grid_scale, make_grid, plot_points, to_pil
from gankit.models.cyclegan import DIRECTIONS


def png(array: np.ndarray, scale: int = 1) -> bytes:
    """(H, W, C) uint8 -> PNG bytes, enlarged `scale` times (nearest neighbour)."""
    buf = io.BytesIO()
    to_pil(array, scale).save(buf, format="PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _hwc(image: torch.Tensor) -> np.ndarray:
    """uint8 (C, H, W) -> (H, W, C)."""
    return np.ascontiguousarray(image.permute(1, 2, 0).numpy())


@dataclass
class Served:
    """A generator as the service uses it, with what its model card says."""
    G: nn.Module
    D: nn.Module | None = None
    cfg: object | None = None
    score_problem: str | None = None
    """Why /api/score is not offered (None: it is)."""
    readme: str = ""
    info: dict = field(default_factory=dict)
    translator: object | None = None
    """An image-to-image run's `gankit.apps.translate.Translator` (G is its U-Net), or an unpaired run's
    `gankit.apps.unpaired.UnpairedTranslator` (G holds both directions); None for a GAN.
    ``Served(load_translator(run))`` puts a translator passed as G here."""

    def __post_init__(self):
        from gankit.apps.translate import Translator
        from gankit.apps.unpaired import UnpairedTranslator
        if isinstance(self.G, (Translator, UnpairedTranslator)):
            self.translator, self.G = self.G, self.G.G
            self.cfg = self.cfg or self.translator.cfg
        self.kind = kind_of(self.translator if self.translator is not None else self.G)
        if self.kind == "translator" and self.translator is None:
            raise ValueError("serve: an image-to-image generator is served as a Translator "
                             "(gankit.load_translator(run)), which knows its task, scale and mask")
        self.G = plain_copy(self.G, device=None)  # spectral norm folded in: the same outputs, less work per call
        self.directions: dict = {}
        """Unpaired runs: a translator per direction (a2b, b2a), both on the one G, so a request picks either."""
        if isinstance(self.translator, UnpairedTranslator):
            t = self.translator
            self.directions = {d: UnpairedTranslator(self.G, t.cfg, d, t.device) for d in DIRECTIONS}
            self.translator = self.directions[t.direction]
        elif self.translator is not None:
            self.translator.G = self.G
        self.classes = list(getattr(self.G, "classes", None) or [str(i) for i in range(self.num_classes)])
        if self.D is not None:
            self.D = plain_copy(self.D, device=None)

    @property
    def num_classes(self) -> int:
        return int(getattr(self.G, "num_classes", 0) or 0)

    @property
    def is_image(self) -> bool:
        return len(self.G.out_shape) == 3

    @property
    def truncation(self) -> bool:
        """Whether G.sample takes a truncation psi (the truncation trick)."""
        sample = getattr(self.G, "sample", None)
        return sample is not None and "truncation" in inspect.signature(sample).parameters

    def card(self, limits) -> dict:
        cfg = self.cfg
        from gankit import __version__
        return {
            "kind": self.kind,
            "z_dim": int(getattr(self.G, "z_dim", 0)),
            "shape": list(self.G.out_shape),
            "value_range": [-1, 1] if self.is_image else None,
            "classes": self.classes if self.num_classes else [],
            "arch": cfg.model.arch if cfg is not None else None,
            "conditional": cfg.model.conditional if cfg is not None else None,
            "loss": cfg.loss.name if cfg is not None else None,
            "data": cfg.data.name if cfg is not None else None,
            "images_seen": self.info.get("images_seen"),
            "gankit_version": __version__,
            "truncation": self.truncation,
            "score": {"available": self.score_problem is None, "reason": self.score_problem},
            "translate": self._translate_card(),
            "interpolate": {"available": self.is_image and self.kind != "translator",
                            "reason": None if self.is_image else "this run makes toy points, not images"},
            "limits": limits.as_dict(),
            "readme": self.readme,
        }

    @property
    def unpaired(self) -> bool:
        return bool(self.directions)

    @property
    def guided(self) -> bool:
        """Whether translate takes a style (an example image, or a random one of a seed): munit runs."""
        return self.unpaired and self.translator.guided

    def _translate_card(self) -> dict:
        t = self.translator
        if t is None:
            return {"available": False, "reason": not_translator(self.kind)}
        unpaired = self.unpaired
        return {"available": True, "reason": None, "task": t.task, "scale": t.scale, "channels": t.channels,
                "mask": not unpaired and bool(t.shape.mask_input), "degrade": t.task not in ("paired", "unpaired"),
                "direction": t.direction if unpaired else None,
                "directions": {d: [u.source, u.target] for d, u in self.directions.items()},
                "domains": [t.cfg.data.domain_a, t.cfg.data.domain_b] if unpaired else None,
                "style": self.guided}

    # -- the work of each endpoint (runs in a worker thread) --------------------------------------

    def sample(self, n: int, seed: int, label: int | None, truncation: float) -> torch.Tensor:
        """Samples 0..n-1 of `seed` (class `label` for a conditional G): (n, *shape) float."""
        kwargs = {"truncation": truncation} if truncation != 1.0 else {}
        return self.G.sample(n, seed=seed, labels=label, **kwargs)

    def sample_png(self, n: int, seed: int, label: int | None, truncation: float) -> bytes:
        x = self.sample(n, seed, label, truncation)
        if not self.is_image:
            return png(plot_points(x, x))
        return png(make_grid(to_uint8(x)), grid_scale(x.shape[-1]))

    def sample_json(self, n: int, seed: int, label: int | None, truncation: float) -> dict:
        x = self.sample(n, seed, label, truncation)
        out = {"seed": seed, "n": n, "class": label, "truncation": truncation, "shape": list(self.G.out_shape)}
        if not self.is_image:
            return {**out, "points": x.tolist()}
        return {**out, "images": [b64(png(_hwc(img))) for img in to_uint8(x)]}

    @torch.inference_mode()
    def frames(self, seeds: list[int], steps: int, spherical: bool, label: int | None) -> torch.Tensor:
        """uint8 frames (pairs, steps, C, H, W) walking seed to seed (class `label` held fixed)."""
        path = interpolation_path(self.G.z_dim, seeds, steps, spherical)
        device = _device(self.G)
        out = []
        for z in path:
            if self.num_classes:
                y = torch.full((len(z),), label or 0, dtype=torch.long)
                out.append(to_uint8(self.G(z.to(device), y.to(device))).cpu())
            else:
                out.append(to_uint8(self.G(z.to(device))).cpu())
        return torch.stack(out)

    def interpolate(self, seeds: list[int], steps: int, spherical: bool, label: int | None, fmt: str):
        frames = self.frames(seeds, steps, spherical, label)
        pairs, _, c, h, w = frames.shape
        if fmt == "png":  # one strip per pair of seeds, one under the other
            return png(make_grid(frames.reshape(-1, c, h, w), nrow=steps), grid_scale(w))
        # The walk drops each pair's last frame (it is the next pair's first).
        seq = torch.cat([frames[i, :-1] for i in range(pairs)] + [frames[-1, -1:]])
        if fmt == "json":
            return {"seeds": seeds, "steps": steps, "class": label, "frames": [b64(png(_hwc(f))) for f in seq]}
        pil = [to_pil(_hwc(f), gif_scale(w)) for f in seq]
        pil += pil[-2:0:-1]  # and back again, so the loop has no jump
        if pil[0].mode == "L":
            pil = [p.convert("P") for p in pil]
        buf = io.BytesIO()
        pil[0].save(buf, format="GIF", save_all=True, append_images=pil[1:], duration=120, loop=0)
        return buf.getvalue()

    @torch.inference_mode()
    def score(self, images: list[np.ndarray]) -> list[dict]:
        """uint8 images (C, H, W) at the run's shape -> D's raw score (and probability for logistic losses)."""
        from gankit.apps.score import reading
        how = reading(self.cfg.loss.name)
        x = to_float(torch.from_numpy(np.stack(images))).to(_device(self.D))
        scores = self.D(x).float().reshape(len(images)).tolist()
        return [{"score": s, "probability": float(torch.sigmoid(torch.tensor(s))) if how.probability else None,
                 "kind": how.kind} for s in scores]

    @torch.inference_mode()
    def translate(self, images: list[np.ndarray], masks: list[np.ndarray] | None, fmt: str,
                  shown: list[np.ndarray] | None = None, direction: str | None = None,
                  style: np.ndarray | None = None, seed: int = 0):
        """uint8 (H, W[, 3]) images at their own sizes (and hole masks for inpainting) -> the outputs,
        (H*scale, W*scale[, 3]): one PNG (a grid of several of one size) or, for json, base64 PNGs
        (with `shown`, the inputs as G saw them, holes white, under "inputs"). Unpaired runs translate
        in `direction` (default: the served translator's, a2b from `load`); munit ones every image in the style of `style` (an example of
        the target domain) or, without one, in random style 0 of `seed` (as gankit translate --styles)."""
        extra = {}
        if self.unpaired:
            t = self.directions[direction or self.translator.direction]
            if t.guided:
                extra = {"style": "example" if style is not None else "random",
                         "seed": None if style is not None else seed}
            outs = t(list(images), style=style, seed=seed)
            extra = {"direction": t.direction, "source": t.source, "target": t.target, **extra}
        else:
            outs = self.translator(list(images), masks)
        if fmt == "json":
            out = {"task": self.translator.task, "scale": self.translator.scale, **extra,
                   "images": [b64(png(_hw3(o))) for o in outs], "sizes": [[o.shape[1], o.shape[0]] for o in outs]}
            if shown is not None:
                out["inputs"] = [b64(png(_hw3(a))) for a in shown]
            return out
        if len(outs) == 1:
            return png(_hw3(outs[0]))
        return png(make_grid(torch.stack([torch.from_numpy(_hw3(o)).permute(2, 0, 1) for o in outs])))


def _hw3(a: np.ndarray) -> np.ndarray:
    """uint8 (H, W) or (H, W, C) -> (H, W, C)."""
    return np.ascontiguousarray(a[:, :, None] if a.ndim == 2 else a)


def _device(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def not_translator(kind: str) -> str:
    return (f"this run is not image-to-image (its generator is {kind}: it draws from noise); "
            f"translate needs an image-to-image (pix2pix, CycleGAN or munit) run")


def _score_problem(cfg) -> str | None:
    """Why a run's discriminator cannot judge single uploaded images (the limits `gankit score` has)."""
    if getattr(cfg.data, "task", "none") == "unpaired":
        return (f"this is an unpaired run ({cfg.model.arch}): it has a discriminator per domain, which the "
                f"service does not ask; use /api/translate")
    if getattr(cfg.data, "task", "none") != "none":
        return (f"this is an image-to-image run ({cfg.data.task}): its discriminator (PatchGAN, as in pix2pix) judges "
                f"(input, output) pairs, not single images; use /api/translate")
    if cfg.data.name.startswith("toy"):
        return f"this run was trained on toy points ({cfg.data.name}), not images"
    if cfg.model.conditional in ("concat", "projection"):
        return (f"its discriminator is class-conditional ({cfg.model.conditional}) and judges an image together "
                f"with a class; scoring conditional runs is not built yet")
    if cfg.model.pack > 1:
        return f"its discriminator judges packs of {cfg.model.pack} images (model.pack), not single images"
    return None


def _readme_and_info(path: Path) -> tuple[str, dict]:
    """The generator folder's README.md and config.json beside a run, generator or checkpoint path
    (the operator's path, read once at start)."""
    from gankit.io.generator import read_generator_meta
    for folder in (path, path / "generator"):
        if (folder / "config.json").is_file() and not (folder / "config.toml").exists():
            try:
                info = read_generator_meta(folder)
            except Exception:
                info = {}
            readme = (folder / "README.md").read_text(errors="replace") if (folder / "README.md").is_file() else ""
            return readme, {k: v for k, v in info.items() if k in ("images_seen", "epochs", "source")}
    return "", {}


def load(run: str | Path, device: str = "cpu") -> Served:
    """The generator of a run (or generator / checkpoint folder), and its discriminator when the path has
    checkpoints (a generator folder alone has none: /api/score then says so). An image-to-image run
    gives its `Translator` and no discriminator (its PatchGAN judges pairs, not single images)."""
    from gankit.apps.export import load_model
    from gankit.io.checkpoint import CheckpointError
    from gankit.io.generator import load_discriminator
    run = Path(run)
    G = load_model(run, device=device)
    if kind_of(G) == "translator":  # a Translator, or an unpaired run's UnpairedTranslator (a2b; b2a per request)
        readme, info = _readme_and_info(run)
        return Served(G, None, G.cfg, _score_problem(G.cfg), readme, info)
    cfg = getattr(G, "config", None)
    D, problem = None, None
    try:
        D, cfg_d = load_discriminator(run, device=device)
        problem = _score_problem(cfg_d)
        cfg = cfg_d
    except CheckpointError as e:
        problem = f"no discriminator to ask: {e}"
    if problem is not None:
        D = None
    readme, info = _readme_and_info(run)
    return Served(G, D, cfg, problem, readme, info)


def as_json(obj) -> bytes:
    return json.dumps(obj).encode()
