"""Export a trained generator to ONNX, checked against PyTorch in onnxruntime before it is written.

    result = export_onnx("runs/demo", "g.onnx")   # or a loaded generator module
    result.max_abs_diff                            # onnxruntime vs PyTorch on fixed inputs
    result.metadata                                # what the file's metadata_props carry

The exported graph takes the generator's declared inputs (`interface`), each with a dynamic
batch axis:

    unconditional   z (N, z_dim) float32                      -> images (N, C, H, W) float32 in [-1, 1]
    conditional     z (N, z_dim) float32, label (N,) int64    -> images (N, C, H, W) float32 in [-1, 1]
    translator      image (N, C, H, W) float32 in [-1, 1]     -> images (N, C, H*s, W*s) float32 in [-1, 1]
    inpainting      image (N, C, H, W), mask (N, 1, H, W)     -> images (N, C, H, W) float32 in [-1, 1]

(toy generators give points (N, D), unbounded). z ~ N(0, I); `gankit.models.latents(n, z_dim, seed)`
gives the latents of a seed, so ``session.run(None, {"z": latents(n, z_dim, s).numpy()})`` draws the
samples `gankit sample --seed s` draws (up to float rounding). Labels must lie in [0, K): ONNX's
OneHot turns any other value into an all-zero class vector instead of failing.

Image-to-image generators (U-Nets, `gankit.load_translator`) have dynamic height and width too:
the U-Net pads any size to its stride inside and crops back, and that padding is traced into the
graph (the trace is taken at a size that needs it), so one file runs on every size; the check runs
it at two sizes, one of them not a multiple of the stride. s is the super-resolution scale
(data.scale; 1 otherwise). An inpainting graph takes the hole mask as its own input (> 0 = hole)
and keeps every known pixel exactly, as `gankit translate` does; outputs are clamped to [-1, 1].

Weights go in as plain tensors: a copy of G has its parametrizations (spectral norm) folded into
its weights first, so the graph holds W / sigma(W) as a constant instead of the power-iteration
arithmetic. A run with EMA exports its EMA weights (the generator the run shows).

The exporter is torch's TorchScript-based one (``dynamo=False``): torch >= 2.9 defaults to the
torch.export-based exporter, which needs the `onnxscript` package on top of onnx; gankit's
generators are plain feed-forward modules, which the TorchScript exporter handles exactly, with
`onnx` and `onnxruntime` alone (the `onnx` extra).
"""

from __future__ import annotations

import copy
import io
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from gankit.models import Generator, ModelError, latents

FORMAT = "gankit-onnx-generator"
OPSET = 17
TOLERANCE = 1e-4
"""Largest |onnxruntime - PyTorch| accepted on [-1, 1] outputs: float32 kernels that sum in another
order differ by ~1e-6; a wrong graph (a dropped layer, batch statistics in place of running ones)
by 1e-2 and more."""
CHECK_BATCHES = (1, 5)
"""Batch sizes the check runs: neither is the traced batch (2), so the dynamic batch axis is tested too."""
TRACE_BATCH = 2


class ExportCheckFailed(ValueError):
    """The exported graph does not compute what the PyTorch generator computes (nothing was written)."""


@dataclass(frozen=True)
class Port:
    """One input or output of an exported generator; shape entries "batch" are the dynamic axis."""
    name: str
    dtype: str
    shape: tuple
    meaning: str

    def describe(self) -> str:
        dims = ['N' if s == 'batch' else str(s).replace("height", "H").replace("width", "W") for s in self.shape]
        return f"{self.name} ({', '.join(dims)}{',' if len(dims) == 1 else ''}) {self.dtype}"

    def as_dict(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape), "meaning": self.meaning}


@dataclass
class Interface:
    """What a generator takes and gives, as an exported graph (or a service) sees it."""
    kind: str
    inputs: tuple[Port, ...]
    output: Port
    value_range: tuple[float, float] | None   # None: unbounded (toy points)
    module: nn.Module                         # forward(*inputs) -> output, plain weights, eval mode, CPU
    example: Callable[..., tuple[Tensor, ...]] = field(repr=False)
    """(n, seed[, size]) -> fixed inputs for a batch of n (of `size` (h, w) when `sizes` says so),
    the same for the same arguments; without a size, the inputs the graph is traced on."""
    sizes: tuple = (None,)
    """(h, w) sizes the check runs at, for graphs with dynamic height and width; (None,): fixed size."""
    reference: Callable[..., Tensor] | None = field(default=None, repr=False)
    """What PyTorch computes from the inputs (None: the exported generator itself, G(*inputs))."""
    meta: dict = field(default_factory=dict)
    """Metadata this kind adds (strings)."""


def plain_copy(G: nn.Module, device: str | torch.device | None = "cpu") -> nn.Module:
    """A copy of G in eval mode (on `device`; None: G's own) whose parametrized weights (spectral
    norm) are plain tensors of their current value: in eval mode spectral norm runs no power
    iteration, so the copy computes exactly what G computes. G itself is left as it is."""
    G = copy.deepcopy(G).eval()
    for m in list(G.modules()):
        if parametrize.is_parametrized(m):
            # Not parametrize.remove_parametrizations: it deletes the property from the module's
            # parametrized class, which a deep copy shares with the original, breaking the original.
            with torch.no_grad():
                values = {name: getattr(m, name).detach().clone() for name in m.parametrizations.keys()}
            m.__class__ = m.__class__.__bases__[0]
            del m._modules["parametrizations"]
            for name, value in values.items():
                m.register_parameter(name, nn.Parameter(value, requires_grad=False))
    if device is not None:
        G = G.to(device)
    return G


class _Call(nn.Module):
    """forward(*inputs) -> G(*inputs): the graph's named inputs in the order the interface lists them."""

    def __init__(self, G: nn.Module):
        super().__init__()
        self.G = G
        self.eval()  # torch.onnx.export puts a module back in the mode it found it in

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.G(*inputs)


def _value_range(G: nn.Module) -> tuple[float, float] | None:
    return (-1.0, 1.0) if len(G.out_shape) == 3 else None


def _output(G: nn.Module) -> Port:
    what = "images in [-1, 1]" if len(G.out_shape) == 3 else "points (unbounded)"
    return Port("images" if len(G.out_shape) == 3 else "points", "float32", ("batch", *G.out_shape), what)


def _z(G) -> Port:
    return Port("z", "float32", ("batch", G.z_dim), "latents, z ~ N(0, I); gankit.models.latents(n, z_dim, seed)")


def _unconditional(G: nn.Module) -> Interface:
    return Interface("unconditional", (_z(G),), _output(G), _value_range(G), _Call(plain_copy(G)),
                     lambda n, seed: (latents(n, G.z_dim, seed),))


def _conditional(G: nn.Module) -> Interface:
    k = G.num_classes
    label = Port("label", "int64", ("batch",), f"class index in [0, {k})")
    return Interface("conditional", (_z(G), label), _output(G), _value_range(G), _Call(plain_copy(G)),
                     lambda n, seed: (latents(n, G.z_dim, seed), torch.arange(n) % k))


class _Translate(nn.Module):
    """forward(image[, mask]) -> G's output clamped to [-1, 1] (what `gankit translate` writes). With a
    mask (N, 1, H, W), > 0 = hole, G gets the image with its holes zeroed plus the mask, as
    `Translator` feeds it."""

    def __init__(self, G: nn.Module, mask: bool):
        super().__init__()
        self.G, self.mask = G, mask
        self.eval()

    def forward(self, image: Tensor, mask: Tensor | None = None) -> Tensor:
        if self.mask:
            m = (mask > 0).to(image.dtype)
            image = torch.cat([image * (1 - m), m], 1)
        return self.G(image).clamp(-1, 1)


class _OneWay(nn.Module):
    """An unpaired (CycleGAN) generator in one direction: pads any size to its stride inside (reflect,
    as `gankit translate` does for sizes larger than the padding) and crops the result back."""

    def __init__(self, G: nn.Module, direction: str, stride: int):
        super().__init__()
        self.G, self.direction, self.stride = G, direction, stride

    def forward(self, x: Tensor, style: Tensor | None = None) -> Tensor:
        h, w = x.shape[-2], x.shape[-1]
        ph, pw = -h % self.stride, -w % self.stride
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect")
        y = self.G(x, self.direction) if style is None else self.G(x, self.direction, style)
        return y[..., :h, :w].clamp(-1, 1)


def _style_translator(model) -> Interface:
    """An example-guided (munit) run in one direction: image (N, C, H, W) and style (N, style_dim) ->
    (N, C, H, W), batch, height and width dynamic. A style is N(0, I) (random) or the target domain's
    style code of an example image (`UnpairedTranslator.style_of`, not in the graph)."""
    c, cfg, d = model.channels, model.cfg, model.G.style_dim
    inputs = (Port("image", "float32", ("batch", c, "height", "width"), "input images in [-1, 1]"),
              Port("style", "float32", ("batch", d), "style codes: N(0, I) for random styles"))
    output = Port("images", "float32", ("batch", c, "height", "width"), "translated images in [-1, 1]")
    side = cfg.data.resolution
    trace, sizes = (side + 1, side + 3), ((side, side), (side + 5, side + 2))

    def example(n: int, seed: int, size: tuple | None = None) -> tuple[Tensor, ...]:
        h, w = size or trace
        gen = torch.Generator().manual_seed(seed)
        return torch.rand(n, c, h, w, generator=gen) * 2 - 1, torch.randn(n, d, generator=gen)

    way = _OneWay(model.G, model.direction, model.stride).eval()
    meta = {"task": "unpaired", "scale": "1", "mask": "none", "stride": str(model.stride),
            "direction": model.direction, "style_dim": str(d),
            "sizes": f"any height and width: padded inside the graph to a multiple of {model.stride}"}
    return Interface("translator", inputs, output, (-1.0, 1.0),
                     _OneWay(plain_copy(model.G), model.direction, model.stride).eval(), example, sizes,
                     lambda *xs: way(*xs), meta)


@dataclass
class _Spec:
    """What an image-to-image generator is, however it was handed over."""
    G: nn.Module
    channels: int          # image channels in (without the mask)
    out_channels: int
    scale: int
    mask: bool
    stride: int            # in output pixels: the U-Net pads every size to a multiple of it
    side: int              # the input side it was trained at
    cfg: object = None
    direction: str | None = None


def _spec(model) -> _Spec:
    """A `Translator` (gankit.load_translator), a bare U-Net, or a module declaring ``kind = "translator"``
    and ``in_shape``/``out_shape`` (C, H, W), fully convolutional."""
    from gankit.apps.translate import Translator
    from gankit.apps.unpaired import UnpairedTranslator
    from gankit.models.unet import UNet
    if isinstance(model, UnpairedTranslator):
        c, cfg = model.channels, model.cfg
        return _Spec(_OneWay(model.G, model.direction, model.stride), c, c, 1, False, model.stride,
                     cfg.data.resolution, cfg, model.direction)
    if isinstance(model, Translator):
        G, t, cfg = model.G, model.shape, model.cfg
        side = max(1, cfg.data.resolution // t.scale)
        return _Spec(G, t.in_channels - int(t.mask_input), t.out_channels, t.scale, t.mask_input,
                     int(getattr(G, "stride", 1)), side, cfg, getattr(model, "direction", None))
    if isinstance(model, UNet):
        c = model.in_channels - int(model.mask_input)
        return _Spec(model, c, model.out_channels, model.scale, model.mask_input, model.stride,
                     max(1, model.out_shape[-1] // model.scale), getattr(model, "config", None))
    c, h, _ = model.in_shape
    scale = max(1, model.out_shape[-1] // h)
    return _Spec(model, c, model.out_shape[0], scale, False, int(getattr(model, "stride", 1)), h,
                 getattr(model, "config", None))


def _translator(model) -> Interface:
    """An image-to-image generator: image (N, C, H, W) [+ mask (N, 1, H, W)] -> (N, C, H*s, W*s),
    batch, height and width dynamic. Traced at a size the U-Net must pad (so the padding is in the
    graph), checked at the trained size and at one that is not a multiple of the stride."""
    from gankit.apps.unpaired import UnpairedTranslator
    if isinstance(model, UnpairedTranslator) and model.guided:
        return _style_translator(model)
    sp = _spec(model)
    up = lambda dim: dim if sp.scale == 1 else f"{dim}*{sp.scale}"  # noqa: E731
    inputs = [Port("image", "float32", ("batch", sp.channels, "height", "width"),
                   "input images in [-1, 1]" + ("; holes may hold anything" if sp.mask else ""))]
    if sp.mask:
        inputs.append(Port("mask", "float32", ("batch", 1, "height", "width"),
                           "hole mask: > 0 = missing pixel (1), 0 = known (kept exactly)"))
    output = Port("images", "float32", ("batch", sp.out_channels, up("height"), up("width")),
                  "translated images in [-1, 1]")
    side = sp.side
    # side * scale is a multiple of the stride (the trained size); side + 1 and side + 5 are not
    # whenever the U-Net pads at all (scale < stride, both powers of two).
    trace, sizes = (side + 1, side + 3), ((side, side), (side + 5, side + 2))

    def example(n: int, seed: int, size: tuple | None = None) -> tuple[Tensor, ...]:
        h, w = size or trace
        gen = torch.Generator().manual_seed(seed)
        image = torch.rand(n, sp.channels, h, w, generator=gen) * 2 - 1
        if not sp.mask:
            return (image,)
        return image, (torch.rand(n, 1, h, w, generator=gen) < 0.3).float()

    def reference(*inputs: Tensor) -> Tensor:
        return _Translate(sp.G, sp.mask)(*inputs)

    meta = {"task": sp.cfg.data.task if sp.cfg is not None else "unknown",
            "scale": str(sp.scale),
            "mask": inputs[1].meaning if sp.mask else "none",
            "stride": str(sp.stride),
            "sizes": f"any height and width: padded inside the graph to a multiple of {sp.stride} "
                     f"(output pixels) and cropped back; trained on {side}x{side} inputs",
            "trained_input_shape": json.dumps([sp.channels, side, side])}
    if sp.direction is not None:
        meta["direction"] = sp.direction
    module = _Translate(plain_copy(sp.G), sp.mask)
    return Interface("translator", tuple(inputs), output, (-1.0, 1.0), module, example, sizes, reference, meta)


KINDS: dict[str, Callable[[nn.Module], Interface]] = {
    "unconditional": _unconditional,
    "conditional": _conditional,
    "translator": _translator,
}
"""Generator kind -> its interface. A new kind of generator (with other inputs) is a new entry."""


def kind_of(G: nn.Module) -> str:
    """The kind of a generator: what it declares (``G.kind``), translator for a U-Net or a `Translator`,
    else conditional when it has classes."""
    from gankit.apps.translate import Translator
    from gankit.models.unet import UNet
    from gankit.apps.unpaired import UnpairedTranslator
    if isinstance(G, (Translator, UNet, UnpairedTranslator)):
        return "translator"
    declared = getattr(G, "kind", None)
    if isinstance(declared, str):
        if declared not in KINDS:
            raise ModelError(f"export: unknown generator kind {declared!r} (known: {', '.join(KINDS)})")
        return declared
    if not isinstance(G, Generator):
        raise ModelError(f"export: expected a gankit generator, got {type(G).__name__}")
    return "conditional" if getattr(G, "num_classes", 0) else "unconditional"


def interface(G: nn.Module) -> Interface:
    return KINDS[kind_of(G)](G)


def _is_image_to_image(path: str | Path) -> bool:
    """Whether a run, generator or checkpoint folder holds an image-to-image generator (data.task is
    not "none"), peeked from its stored config without reading weights. False when the config cannot
    be read that way: the loader that follows then names what is wrong."""
    import tomllib

    from gankit.io.generator import _resolve
    try:
        kind, where, _ = _resolve(path)
        if kind == "generator":
            data = json.loads((where / "config.json").read_bytes())["config"]["data"]
        else:
            data = tomllib.loads((where / "config.toml").read_text())["data"]
        return data.get("task", "none") != "none"
    except Exception:  # unreadable, damaged, older layout: let the real loader report it
        return False


def load_model(path: str | Path, device: str | torch.device = "cpu", direction: str | None = None):
    """What export and serve use from a run, generator or checkpoint folder: its generator
    (`gankit.load_generator`), or for an image-to-image run its `Translator` (`gankit.load_translator`;
    an unpaired run's in `direction`, a2b by default)."""
    if _is_image_to_image(path):
        from gankit.apps.translate import load_translator
        return load_translator(path, device=device, direction=direction)
    if direction is not None:
        raise ValueError("--direction: only unpaired runs (data.task = unpaired) have two directions")
    from gankit.io.generator import load_generator
    return load_generator(path, device=device)


@dataclass
class ExportResult:
    path: Path
    max_abs_diff: float
    tolerance: float
    batches: tuple[int, ...]
    interface: Interface = field(repr=False)
    metadata: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        ins = ", ".join(p.describe() for p in self.interface.inputs)
        return (f"wrote {self.path} ({self.interface.kind}: {ins} -> {self.interface.output.describe()}); "
                f"onnxruntime vs PyTorch max abs difference {self.max_abs_diff:.3g} on batches "
                f"{' and '.join(map(str, self.batches))}{_at(self.interface)} (tolerance {self.tolerance:g})")


def _at(face: Interface) -> str:
    """' at sizes 28x28 and 33x30' for graphs checked at several sizes, else ''."""
    sizes = [f"{h}x{w}" for h, w in (s for s in face.sizes if s is not None)]
    return f" at sizes {' and '.join(sizes)}" if sizes else ""


def metadata(G: nn.Module, face: Interface) -> dict[str, str]:
    """metadata_props of the exported file: every value a string (ONNX's rule), JSON where structured."""
    from gankit import __version__
    cfg = getattr(G, "config", None) or getattr(G, "cfg", None)
    meta = {
        "format": FORMAT,
        "gankit_version": __version__,
        "kind": face.kind,
        "z_dim": str(getattr(G, "z_dim", 0)),
        "output_shape": json.dumps(list(face.output.shape[1:])),
        "value_range": json.dumps(list(face.value_range)) if face.value_range else "unbounded",
        "num_classes": str(getattr(G, "num_classes", 0)),
        "classes": json.dumps(list(getattr(G, "classes", None) or [])),
        "inputs": json.dumps([p.as_dict() for p in face.inputs]),
        "output": json.dumps(face.output.as_dict()),
        "latents": "z ~ N(0, I); gankit.models.latents(n, z_dim, seed) gives the latents gankit sample draws",
        **face.meta,
    }
    if face.kind == "translator":
        del meta["latents"]
    if cfg is not None:
        meta.update({"arch": cfg.model.arch, "conditional": cfg.model.conditional, "loss": cfg.loss.name,
                     "data": cfg.data.name})
    return meta


def _trace(face: Interface, opset: int) -> bytes:
    face.module.eval()
    names = [p.name for p in face.inputs]
    # Every named dimension is dynamic (batch; height and width of image-to-image graphs).
    axes = {p.name: {i: d for i, d in enumerate(p.shape) if isinstance(d, str)} for p in (*face.inputs, face.output)}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter's deprecation notice and tracer warnings about Python-level
        # argument checks (which hold for every batch) would only bury the check's result.
        warnings.simplefilter("ignore")
        torch.onnx.export(face.module, face.example(TRACE_BATCH, 1), buf, dynamo=False, input_names=names,
                          output_names=[face.output.name], dynamic_axes=axes, opset_version=opset,
                          do_constant_folding=True)
    return buf.getvalue()


def _reference(G: nn.Module, inputs: tuple[Tensor, ...], face: Interface | None = None) -> np.ndarray:
    """What the PyTorch generator itself (not its plain-weights copy) gives, in eval mode."""
    from gankit.apps.translate import Translator
    from gankit.apps.unpaired import UnpairedTranslator
    if isinstance(G, (Translator, UnpairedTranslator)):
        G = G.G
    device = next(G.parameters()).device
    was_training = G.training
    G.eval()
    call = face.reference if face is not None and face.reference is not None else G
    try:
        with torch.inference_mode():
            return call(*(x.to(device) for x in inputs)).float().cpu().numpy()
    finally:
        G.train(was_training)


def _check(data: bytes, G: nn.Module, face: Interface, batches: tuple[int, ...], seed: int) -> float:
    """max |onnxruntime - PyTorch G| over fixed inputs of each batch size; inf when either is not finite."""
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # a small fixed graph: threads only add noise on a shared machine
    session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    worst = 0.0
    for n in batches:
        for size in face.sizes:
            inputs = face.example(n, seed) if size is None else face.example(n, seed, size)
            want = _reference(G, inputs, face)
            try:
                got = session.run(None, {p.name: x.numpy() for p, x in zip(face.inputs, inputs)})[0]
            except Exception as e:  # onnxruntime's own error types: a graph that cannot run this size
                shape = "x".join(map(str, inputs[0].shape))
                raise ExportCheckFailed(f"ONNX check failed: the graph does not run on inputs of shape {shape} "
                                        f"({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
            if got.shape != want.shape:
                raise ExportCheckFailed(f"the ONNX graph gives shape {got.shape} for a batch of {n}, "
                                        f"PyTorch {want.shape}")
            if not (np.isfinite(want).all() and np.isfinite(got).all()):
                return math.inf
            worst = max(worst, float(np.abs(got.astype(np.float64) - want).max()))
    return worst


def export_onnx(model, out: str | Path, *, tolerance: float = TOLERANCE, opset: int = OPSET,
                batches: tuple[int, ...] = CHECK_BATCHES, seed: int = 0) -> ExportResult:
    """Export a generator (a module, a `Translator`, or a run / generator / checkpoint folder, image-to-image
    runs included) to the ONNX file `out`.

    The graph is run in onnxruntime against PyTorch on fixed inputs of each size in `batches`
    (latents of `seed`, labels 0, 1, ..., K-1, 0, ...; for translators random images, and masks, of
    seed at two heights and widths); if the largest absolute difference is
    above `tolerance` (or not finite) ExportCheckFailed is raised and nothing is written.
    `out` must end in .onnx; its folder is checked writable before anything is traced.
    MissingExtra (one line) when onnx or onnxruntime is not installed.
    """
    from gankit.extras import require
    from gankit.io.files import write_bytes_atomic
    from gankit.io.images import prepare_dir
    require("onnx")
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ValueError(f"--out {out}: an ONNX file name ends in .onnx")
    if not (isinstance(tolerance, (int, float)) and tolerance >= 0 and math.isfinite(tolerance)):
        raise ValueError(f"--tolerance: expected a number >= 0, got {tolerance!r}")
    prepare_dir(out.parent)
    if isinstance(model, (str, Path)):
        model = load_model(model)
    import onnx
    face = interface(model)
    graph = onnx.load_from_string(_trace(face, opset))
    meta = metadata(model, face)
    for key, value in meta.items():
        graph.metadata_props.add(key=key, value=value)
    graph.doc_string = (f"gankit {face.kind} generator: "
                        f"{', '.join(p.describe() for p in face.inputs)} -> {face.output.describe()}")
    onnx.checker.check_model(graph)
    data = graph.SerializeToString()
    diff = _check(data, model, face, tuple(batches), seed)
    if not diff <= tolerance:
        raise ExportCheckFailed(f"ONNX check failed: onnxruntime and PyTorch differ by up to {diff:.3g} on batches "
                                f"{' and '.join(map(str, batches))}{_at(face)}, more than the tolerance {tolerance:g}; "
                                f"{out} was not written")
    write_bytes_atomic(out, data)
    return ExportResult(out, diff, tolerance, tuple(batches), face, meta)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata_props of an ONNX file as a dict (strings), read with onnxruntime."""
    import onnxruntime
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)
