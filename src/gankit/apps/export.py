"""Export a trained generator to ONNX, checked against PyTorch in onnxruntime before it is written.

    result = export_onnx("runs/demo", "g.onnx")   # or a loaded generator module
    result.max_abs_diff                            # onnxruntime vs PyTorch on fixed inputs
    result.metadata                                # what the file's metadata_props carry

The exported graph takes the generator's declared inputs (`interface`), each with a dynamic
batch axis:

    unconditional   z (N, z_dim) float32                      -> images (N, C, H, W) float32 in [-1, 1]
    conditional     z (N, z_dim) float32, label (N,) int64    -> images (N, C, H, W) float32 in [-1, 1]
    translator      image (N, C, H, W) float32 in [-1, 1]     -> images (N, C', H, W) float32 in [-1, 1]

(toy generators give points (N, D), unbounded). z ~ N(0, I); `gankit.models.latents(n, z_dim, seed)`
gives the latents of a seed, so ``session.run(None, {"z": latents(n, z_dim, s).numpy()})`` draws the
samples `gankit sample --seed s` draws (up to float rounding). Labels must lie in [0, K): ONNX's
OneHot turns any other value into an all-zero class vector instead of failing.

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
        dims = ['N' if s == 'batch' else str(s) for s in self.shape]
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
    example: Callable[[int, int], tuple[Tensor, ...]] = field(repr=False)
    """(n, seed) -> fixed inputs for a batch of n, the same for the same arguments."""


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


def _translator(G: nn.Module) -> Interface:
    """An image-to-image generator declares ``kind = "translator"`` and ``in_shape`` (C, H, W) and maps
    ``forward(x: (N, *in_shape) in [-1, 1]) -> (N, *out_shape) in [-1, 1]``."""
    image = Port("image", "float32", ("batch", *G.in_shape), "input images in [-1, 1]")

    def example(n: int, seed: int) -> tuple[Tensor]:
        gen = torch.Generator().manual_seed(seed)
        return (torch.rand(n, *G.in_shape, generator=gen) * 2 - 1,)
    return Interface("translator", (image,), _output(G), (-1.0, 1.0), _Call(plain_copy(G)), example)


KINDS: dict[str, Callable[[nn.Module], Interface]] = {
    "unconditional": _unconditional,
    "conditional": _conditional,
    "translator": _translator,
}
"""Generator kind -> its interface. A new kind of generator (with other inputs) is a new entry."""


def kind_of(G: nn.Module) -> str:
    """The kind of a generator: what it declares (``G.kind``), else conditional when it has classes."""
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
                f"{' and '.join(map(str, self.batches))} (tolerance {self.tolerance:g})")


def metadata(G: nn.Module, face: Interface) -> dict[str, str]:
    """metadata_props of the exported file: every value a string (ONNX's rule), JSON where structured."""
    from gankit import __version__
    cfg = getattr(G, "config", None)
    meta = {
        "format": FORMAT,
        "gankit_version": __version__,
        "kind": face.kind,
        "z_dim": str(getattr(G, "z_dim", 0)),
        "output_shape": json.dumps(list(G.out_shape)),
        "value_range": json.dumps(list(face.value_range)) if face.value_range else "unbounded",
        "num_classes": str(getattr(G, "num_classes", 0)),
        "classes": json.dumps(list(getattr(G, "classes", None) or [])),
        "inputs": json.dumps([p.as_dict() for p in face.inputs]),
        "output": json.dumps(face.output.as_dict()),
        "latents": "z ~ N(0, I); gankit.models.latents(n, z_dim, seed) gives the latents gankit sample draws",
    }
    if cfg is not None:
        meta.update({"arch": cfg.model.arch, "conditional": cfg.model.conditional, "loss": cfg.loss.name,
                     "data": cfg.data.name})
    return meta


def _trace(face: Interface, opset: int) -> bytes:
    face.module.eval()
    names = [p.name for p in face.inputs]
    axes = {p.name: {0: "batch"} for p in (*face.inputs, face.output)}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter's deprecation notice and tracer warnings about Python-level
        # argument checks (which hold for every batch) would only bury the check's result.
        warnings.simplefilter("ignore")
        torch.onnx.export(face.module, face.example(TRACE_BATCH, 1), buf, dynamo=False, input_names=names,
                          output_names=[face.output.name], dynamic_axes=axes, opset_version=opset,
                          do_constant_folding=True)
    return buf.getvalue()


def _reference(G: nn.Module, inputs: tuple[Tensor, ...]) -> np.ndarray:
    """What the PyTorch generator itself (not its plain-weights copy) gives, in eval mode."""
    device = next(G.parameters()).device
    was_training = G.training
    G.eval()
    try:
        with torch.inference_mode():
            return G(*(x.to(device) for x in inputs)).float().cpu().numpy()
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
        inputs = face.example(n, seed)
        want = _reference(G, inputs)
        got = session.run(None, {p.name: x.numpy() for p, x in zip(face.inputs, inputs)})[0]
        if got.shape != want.shape:
            raise ExportCheckFailed(f"the ONNX graph gives shape {got.shape} for a batch of {n}, PyTorch {want.shape}")
        if not (np.isfinite(want).all() and np.isfinite(got).all()):
            return math.inf
        worst = max(worst, float(np.abs(got.astype(np.float64) - want).max()))
    return worst


def export_onnx(model, out: str | Path, *, tolerance: float = TOLERANCE, opset: int = OPSET,
                batches: tuple[int, ...] = CHECK_BATCHES, seed: int = 0) -> ExportResult:
    """Export a generator (a module, or a run / generator / checkpoint folder) to the ONNX file `out`.

    The graph is run in onnxruntime against PyTorch on fixed inputs of each size in `batches`
    (latents of `seed`, labels 0, 1, ..., K-1, 0, ...); if the largest absolute difference is
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
        from gankit.io.generator import load_generator
        model = load_generator(model)
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
                                f"{' and '.join(map(str, batches))}, more than the tolerance {tolerance:g}; "
                                f"{out} was not written")
    write_bytes_atomic(out, data)
    return ExportResult(out, diff, tolerance, tuple(batches), face, meta)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata_props of an ONNX file as a dict (strings), read with onnxruntime."""
    import onnxruntime
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)
