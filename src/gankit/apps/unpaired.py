"""Using an unpaired run (data.task = "unpaired"): translate images from one domain to the other.

    translate = gankit.load_translator("runs/cyclegan", direction="a2b")
    out = translate(image)                      # uint8 (H, W[, C]) in -> uint8 out, same size
    outs = translate([a, b])                    # a list in -> a list out
    styled = translate(image, style=example)    # example-guided run (munit): the example's style
    several = translate.random_styles(image, n=3, seed=0)   # munit: n outputs in random styles

Direction a2b maps data.domain_a to data.domain_b, b2a the reverse. An example style image is an
image of the *target* domain; its style code is read by that domain's style encoder. Random styles
are N(0, I) codes drawn from `seed`: style i of seed s is the same on every call.

Any size whose sides are a multiple of the network's stride (4 for cyclegan and munit) runs as is;
other sizes are reflect-padded to it and cropped back. There is no tiling: instance norm and the
style code are statistics of the whole image, so tiles would each be normalised on their own.
G runs in eval mode; a CycleGAN is a deterministic function of its input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gankit.apps.translate import image_array, image_tensor
from gankit.io.generator import load_state_strict
from gankit.models.cyclegan import DIRECTIONS, build_unpaired_generator

__all__ = ["UnpairedTranslator", "load_unpaired", "translate_unpaired_files"]

DEFAULT_STYLES = 3
"""Outputs per input of an example-guided run without --style."""


class UnpairedTranslator:
    """A trained unpaired generator (CycleGAN or the style translator) with its direction; see the module docstring."""

    task = "unpaired"
    scale = 1

    def __init__(self, G: torch.nn.Module, cfg, direction: str = "a2b", device="cpu"):
        if direction not in DIRECTIONS:
            raise ValueError(f"--direction: must be a2b or b2a, got {direction!r}")
        self.G, self.cfg, self.device = G.to(device).eval(), cfg, torch.device(device)
        self.direction, self.channels = direction, cfg.data.channels
        self.guided = cfg.model.arch == "munit"
        self.stride = int(getattr(G, "stride", 1))
        source, target = (cfg.data.domain_a, cfg.data.domain_b)[::1 if direction == "a2b" else -1]
        self.source, self.target = source, target

    # ---- arrays at the edges
    def to_tensor(self, image: np.ndarray, what: str = "image") -> torch.Tensor:
        """uint8 (H, W[, C]) -> float (1, C, H, W) in [-1, 1] on the translator's device; a ValueError
        (one line naming `what`) for another channel count or a side under 2 pixels."""
        x = image_tensor(image, self.channels, what)
        if min(x.shape[-2:]) < 2:
            raise ValueError(f"{what}: {x.shape[-1]}x{x.shape[-2]} is too small to translate")
        return x.to(self.device)

    @staticmethod
    def to_array(x: torch.Tensor) -> np.ndarray:
        """float (1, C, H, W) in [-1, 1] -> uint8 (H, W[, C]), the form translations are returned in."""
        return image_array(x)

    def _padded(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        h, w = x.shape[-2:]
        ph, pw = -h % self.stride, -w % self.stride
        if ph or pw:  # reflect needs the pad smaller than the side; replicate covers tiny images
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")
        return x, (h, w)

    # ---- the network
    @torch.no_grad()
    def style_of(self, example: np.ndarray) -> torch.Tensor:
        """The target domain's style code (1, style_dim) of an example image of that domain."""
        if not self.guided:
            raise ValueError(f"--style: this run is a CycleGAN (model.arch = {self.cfg.model.arch!r}), which has "
                             f"no style input; example-guided style needs a model.arch = munit run")
        x, _ = self._padded(self.to_tensor(example, "style image"))
        return self.G.encode_style(x, self.direction[-1])

    @torch.no_grad()
    def run(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        """One float input (1, C, h, w) in [-1, 1] -> its translation (1, C, h, w); `style` (1, style_dim)
        for an example-guided run (required there)."""
        x, (h, w) = self._padded(x)
        if self.guided:
            y = self.G.translate(x, self.direction, style.to(self.device))
        else:
            y = self.G(x, self.direction)
        return y[..., :h, :w]

    def styles(self, n: int, seed: int = 0) -> torch.Tensor:
        """n random style codes (n, style_dim) of `seed` (style i of seed s is always the same)."""
        if not self.guided:
            raise ValueError("--styles: this run is a CycleGAN: one output per input (no style input)")
        g = torch.Generator().manual_seed(int(seed))
        return torch.randn(max(n, 1), self.G.style_dim, generator=g)[:n]

    def __call__(self, images, style: np.ndarray | None = None, seed: int = 0):
        """uint8 (H, W[, C]) array(s) -> translated uint8 array(s) of the same size. An example-guided run
        takes `style` (an example image of the target domain) or uses random style 0 of `seed`."""
        single = isinstance(images, np.ndarray) or not isinstance(images, (list, tuple))
        items = [images] if single else list(images)
        code = None
        if self.guided:
            code = self.style_of(style) if style is not None else self.styles(1, seed)
        elif style is not None:
            self.style_of(style)  # raises the one-line error
        outs = [self.translate_array(img, code) for img in items]
        return outs[0] if single else outs

    def translate_array(self, image: np.ndarray, style: torch.Tensor | None = None) -> np.ndarray:
        """One uint8 (H, W[, C]) image -> its uint8 translation of the same size; `style` (1, style_dim)
        is the code an example-guided run needs (None for a CycleGAN)."""
        return self.to_array(self.run(self.to_tensor(image), style))

    def random_styles(self, image: np.ndarray, n: int = DEFAULT_STYLES, seed: int = 0) -> list[np.ndarray]:
        """n translations of one image in random styles 0..n-1 of `seed` (example-guided runs)."""
        x = self.to_tensor(image)
        return [self.to_array(self.run(x, s[None])) for s in self.styles(n, seed)]


def load_unpaired(cfg, tensors: dict, source, direction: str = "a2b", device="cpu") -> UnpairedTranslator:
    """Rebuild an unpaired run's generator from its config and load its tensors strictly."""
    shape = (cfg.data.channels, cfg.data.resolution, cfg.data.resolution)
    G = build_unpaired_generator(cfg.model, shape)
    load_state_strict(G, tensors, source)
    return UnpairedTranslator(G, cfg, direction, device)


def translate_unpaired_files(translator: UnpairedTranslator, inputs: list[str], out_dir: str,
                             style: str | None = None, styles: int | None = None, seed: int = 0,
                             convert: bool = False, progress: bool = True) -> list[Path]:
    """Translate image files into `out_dir`: <stem>.png (the output) and <stem>_strip.png (input | output).
    Example-guided runs: with `style` (a file of the target domain) one output in its style, strip
    input | style | output; without, `styles` (default 3) outputs <stem>_style<i>.png in random styles of
    `seed`, strip input | output 0 | output 1 | ... Everything is read and checked before anything is written."""
    from tqdm import tqdm
    from gankit.apps.translate import _strip, read_input
    stems = [Path(p).stem for p in inputs]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise ValueError(f"inputs: two inputs share the name {dupes[0]!r}; their outputs would overwrite each other")
    if not translator.guided and styles is not None:
        translator.styles(styles)  # the one-line error
    want = 1 if translator.channels == 1 else 3
    example = None
    if style is not None:
        example = read_input(Path(style), want if convert else None)
        translator.style_of(example)  # checks the run is example-guided and the channels, before writing
    images = []
    for path in inputs:
        image = read_input(Path(path), want if convert else None)
        translator.to_tensor(image, str(path))  # channels and size, checked up front
        images.append((Path(path), image))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    code = translator.style_of(example) if example is not None else None
    n = styles if styles is not None else DEFAULT_STYLES
    for path, image in tqdm(images, desc="translate", unit="img", disable=not progress or len(images) < 2):
        if not translator.guided:
            result = translator(image)
            parts, outputs = [image, result], {f"{path.stem}.png": result}
        elif code is not None:
            result = translator.translate_array(image, code)
            parts, outputs = [image, example, result], {f"{path.stem}.png": result}
        else:
            results = translator.random_styles(image, n, seed)
            parts = [image, *results]
            outputs = {f"{path.stem}_style{i}.png": r for i, r in enumerate(results)}
        for name, array in outputs.items():
            Image.fromarray(array).save(out / name)
            written.append(out / name)
        Image.fromarray(_strip(parts, image.shape[0])).save(out / f"{path.stem}_strip.png")
    return written
