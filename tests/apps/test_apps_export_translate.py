"""ONNX export of image-to-image runs (issue 14 item 2 with issue 12): a trained U-Net's graph takes any
height and width (its padding to the stride is in the graph), the inpainting mask as its own input,
matches PyTorch and `gankit translate` on sizes it was not traced at, and says in its metadata what it
is (task, scale, mask, stride)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="the 'onnx' extra (onnx, onnxruntime) is not installed")

import onnxruntime  # noqa: E402

import gankit  # noqa: E402
from gankit.apps import export  # noqa: E402
from gankit.apps.export import ExportCheckFailed, export_onnx, read_metadata  # noqa: E402
from helpers import cli, tiny_config  # noqa: E402

TASKS = ("superres", "denoise", "inpaint")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_idx_dir):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("export-i2i")
    out = {task: gankit.train(tiny_config(root / task, tiny_idx_dir, "model.arch=unet", f"data.task={task}",
                                          "data.scale=2", "train.kimg=0.032"), progress=False)
           for task in TASKS}
    torch.set_num_threads(before)
    return out


def _session(path):
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round((x + 1) * 127.5), 0, 255).astype(np.uint8)


def _feeds(a: np.ndarray, mask: np.ndarray | None) -> dict:
    feeds = {"image": (a[None, None].astype(np.float32) / 127.5 - 1)}
    if mask is not None:
        feeds["mask"] = (mask[None, None] > 0).astype(np.float32)
    return feeds


@pytest.mark.parametrize("task", TASKS)
def test_cli_exports_a_trained_unet_that_runs_on_any_size_as_translate_does(runs, task, tmp_path, capsys):
    out = tmp_path / f"{task}.onnx"
    code, stdout, err = cli(["export", runs[task], "--out", out], capsys)
    assert code == 0, err
    s = 2 if task == "superres" else 1
    ins = "image (N, 1, H, W) float32" + (", mask (N, 1, H, W) float32" if task == "inpaint" else "")
    outs = "images (N, 1, H*2, W*2) float32" if s == 2 else "images (N, 1, H, W) float32"
    assert stdout.startswith(f"wrote {out} (translator: {ins} -> {outs}); onnxruntime vs PyTorch max abs difference ")
    side = 14 if s == 2 else 28
    assert f"on batches 1 and 5 at sizes {side}x{side} and {side + 5}x{side + 2} (tolerance 0.0001)" in stdout

    session = _session(out)
    names = [i.name for i in session.get_inputs()]
    assert names == (["image", "mask"] if task == "inpaint" else ["image"])
    assert session.get_inputs()[0].shape == ["batch", 1, "height", "width"]  # all symbolic but the channels
    translator = gankit.load_translator(runs[task])
    rng = np.random.default_rng(0)
    for h, w in ((13, 29), (32, 8), (7, 7)):  # none of them traced; 13, 29 and 7 not multiples of the stride
        a = rng.integers(0, 256, (h, w), dtype=np.uint8)
        mask = (rng.random((h, w)) < 0.3).astype(np.uint8) * 255 if task == "inpaint" else None
        got = session.run(None, _feeds(a, mask))[0]
        assert got.shape == (1, 1, h * s, w * s)
        want = translator(a, mask)
        assert np.abs(_to_uint8(got[0, 0]).astype(int) - want).max() <= 1  # float rounding at most
        if mask is not None:
            assert np.array_equal(_to_uint8(got[0, 0])[mask == 0], a[mask == 0])  # known pixels kept

    meta = read_metadata(out)
    assert meta["kind"] == "translator" and meta["task"] == task and meta["scale"] == str(s)
    assert meta["arch"] == "unet" and meta["z_dim"] == "0" and "latents" not in meta
    assert meta["stride"] == str(translator.G.stride) and meta["value_range"] == "[-1.0, 1.0]"
    assert json.loads(meta["output_shape"]) == ([1, "height*2", "width*2"] if s == 2 else [1, "height", "width"])
    assert json.loads(meta["trained_input_shape"]) == [1, side, side]
    assert (meta["mask"] == "none") == (task != "inpaint")
    assert [p["name"] for p in json.loads(meta["inputs"])] == names


def _nontrivial(translator):
    """Move the U-Net's last layer off its zero start (a residual U-Net begins as exactly the
    classical baseline), so the check compares outputs that come through the whole network."""
    with torch.no_grad():
        gen = torch.Generator().manual_seed(0)
        head = translator.G.head
        head.weight.copy_(torch.randn(head.weight.shape, generator=gen) * 0.05)
        head.bias.copy_(torch.randn(head.bias.shape, generator=gen) * 0.1)
    return translator


@pytest.mark.parametrize("task", ["superres", "inpaint"])
def test_the_check_compares_the_whole_network_at_two_sizes(runs, task, tmp_path):
    translator = _nontrivial(gankit.load_translator(runs[task]))
    result = gankit.export_onnx(translator, tmp_path / "t.onnx")
    assert result.max_abs_diff <= 1e-4 and result.interface.kind == "translator"
    face = result.interface
    x = face.example(2, 0, face.sizes[1])
    with torch.inference_mode():
        base = translator.G.base(x[0] if len(x) == 1 else torch.cat([x[0] * (1 - x[1]), x[1]], 1))
    got = _session(tmp_path / "t.onnx").run(None, {p.name: t.numpy() for p, t in zip(face.inputs, x)})[0]
    assert np.abs(got - base.numpy()).max() > 1e-2  # the network's correction is part of what was compared


def test_a_graph_traced_where_no_padding_is_needed_fails_the_check_loudly(runs):
    """Why the trace is taken at a size the U-Net pads: traced at a multiple of the stride, the padding
    is not in the graph and other sizes break; the check at a size that is not a multiple catches it."""
    translator = gankit.load_translator(runs["superres"])
    face = export.interface(translator)
    example = face.example
    face.example = lambda n, seed, size=None: example(n, seed, size or face.sizes[0])  # a multiple of the stride
    data = export._trace(face, export.OPSET)
    face.example = example
    with pytest.raises(ExportCheckFailed, match=r"ONNX check failed: the graph does not run on inputs of shape "
                                                r"1x1x19x16"):
        export._check(data, translator, face, (1,), 0)


def test_a_bare_unet_exports_too(runs, tmp_path):
    G = gankit.load_translator(runs["denoise"]).G
    result = export_onnx(G, tmp_path / "g.onnx")
    assert result.metadata["task"] == "unknown" and result.metadata["kind"] == "translator"
    assert _session(tmp_path / "g.onnx").run(None, {"image": np.zeros((3, 1, 9, 11), np.float32)})[0].shape == \
        (3, 1, 9, 11)


def test_an_unpaired_run_exports_one_direction_per_file(tmp_path, capsys):
    """CycleGAN: --direction picks the generator; the graph pads any size to the stride inside, and
    onnxruntime gives what gankit's own translator gives, direction by direction."""
    from gankit import config as C
    from gankit.apps.translate import load_translator
    from gankit.training.loop import train
    cfg = C.resolve(overrides=[f"out={tmp_path / 'cg'}", "data.name=shapes", "data.task=unpaired",
                               "data.domain_a=square", "data.domain_b=circle", "data.resolution=16",
                               "data.limit=64", "model.width=4", "model.depth=1", "train.batch_size=8",
                               "train.kimg=0.032", "train.threads=1"])
    run = train(cfg, progress=False)
    x = (torch.rand(2, 1, 18, 21, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    outs = {}
    for direction in ("a2b", "b2a"):
        out = tmp_path / f"{direction}.onnx"
        code, text, err = cli(["export", run, "--direction", direction, "--out", out], capsys)
        assert code == 0 and "max abs difference" in text, err
        assert read_metadata(out)["direction"] == direction
        got = _session(out).run(None, {"image": x.numpy()})[0]
        want = torch.cat([load_translator(run, direction=direction).run(x[i:i + 1]) for i in range(2)])
        assert got.shape == (2, 1, 18, 21) and np.abs(got - want.clamp(-1, 1).numpy()).max() < 1e-4
        outs[direction] = got
    assert np.abs(outs["a2b"] - outs["b2a"]).max() > 1e-3  # two generators, not one twice
    code, _, err = cli(["export", run, "--direction", "sideways", "--out", tmp_path / "x.onnx"], capsys)
    assert code == 2 and "--direction" in err
    pytest.importorskip("fastapi")
    from gankit.serve.model import load
    served = load(run)  # the service serves it too (both directions: tests/serve/test_serve_unpaired.py)
    assert served.unpaired and sorted(served.directions) == ["a2b", "b2a"]


def test_an_example_guided_run_exports_with_a_style_input(tmp_path, capsys):
    """munit: the graph takes the image and a style code (random N(0, I), or an example's code from
    UnpairedTranslator.style_of) and gives what gankit's own translator gives for them."""
    from gankit import config as C
    from gankit.apps.translate import load_translator
    from gankit.training.loop import train
    cfg = C.resolve(overrides=[f"out={tmp_path / 'mu'}", "data.name=shapes", "data.task=unpaired",
                               "data.domain_a=square", "data.domain_b=circle", "data.resolution=16",
                               "data.limit=64", "model.arch=munit", "model.width=4", "model.depth=1",
                               "train.batch_size=8", "train.kimg=0.032", "train.threads=1"])
    run = train(cfg, progress=False)
    out = tmp_path / "mu.onnx"
    code, text, err = cli(["export", run, "--direction", "b2a", "--out", out], capsys)
    assert code == 0 and "style (N, 8)" in text, err
    meta = read_metadata(out)
    assert meta["direction"] == "b2a" and meta["style_dim"] == "8"
    T = load_translator(run, direction="b2a")
    x = torch.rand(1, 1, 18, 21, generator=torch.Generator().manual_seed(0)) * 2 - 1
    example = np.full((16, 16), 255, np.uint8)
    for style in (T.styles(1, seed=3), T.style_of(example)):
        got = _session(out).run(None, {"image": x.numpy(), "style": style.numpy()})[0]
        want = T.run(x, style).clamp(-1, 1).numpy()
        assert np.abs(got - want).max() < 1e-4
