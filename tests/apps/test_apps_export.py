"""ONNX export (issue 14, item 2): every generator family round-trips through onnxruntime with a dynamic
batch, conditional ones take the label as an input, the file carries its metadata, a graph that does not
match PyTorch is refused loudly, and a missing extra is one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="the 'onnx' extra (onnx, onnxruntime) is not installed")

import onnx  # noqa: E402
import onnxruntime  # noqa: E402

import gankit  # noqa: E402
from gankit.apps import export  # noqa: E402
from gankit.apps.export import ExportCheckFailed, export_onnx, read_metadata  # noqa: E402
from gankit.cli import main  # noqa: E402
from gankit.config import ModelConfig  # noqa: E402
from gankit.models import build, latents  # noqa: E402
from helpers import tiny_config  # noqa: E402

FAMILIES = [  # (arch, sample shape, conditional, extra model options)
    ("mlp", (2,), "none", {}),
    ("mlp", (1, 28, 28), "none", {"g_spectral_norm": True}),
    ("dcgan", (1, 28, 28), "none", {}),
    ("dcgan", (3, 32, 32), "none", {"g_spectral_norm": True}),
    ("dcgan-tf", (1, 28, 28), "none", {}),
    ("resnet", (1, 28, 28), "none", {}),
    ("resnet", (3, 32, 32), "none", {"g_spectral_norm": True}),
    ("mlp", (1, 28, 28), "concat", {}),
    ("mlp", (2,), "projection", {}),
    ("dcgan", (1, 28, 28), "concat", {}),
    ("dcgan", (1, 28, 28), "projection", {"g_spectral_norm": True}),
    ("resnet", (1, 28, 28), "projection", {}),
    ("resnet", (3, 32, 32), "concat", {}),
    ("resnet", (1, 28, 28), "ac", {}),
]


def _generator(arch, shape, conditional, extra, seed=0):
    G, _ = build(ModelConfig(arch=arch, z_dim=8, width=8, conditional=conditional, **extra), shape, seed=seed,
                 num_classes=3)
    # Untrained generators sit near zero; moving the batch-norm statistics and biases away from their
    # initial values makes the check compare outputs that actually vary.
    with torch.no_grad():
        gen = torch.Generator().manual_seed(seed)
        for name, t in list(G.named_parameters()) + list(G.named_buffers()):
            if t.dtype.is_floating_point and ("bias" in name or "running_mean" in name or "gain" in name):
                t.add_(torch.randn(t.shape, generator=gen) * 0.3)
    return G.eval()


def _session(path):
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("arch, shape, conditional, extra", FAMILIES,
                         ids=[f"{a}-{'x'.join(map(str, s))}-{c}{'-sn' if e else ''}" for a, s, c, e in FAMILIES])
def test_every_family_round_trips_with_a_dynamic_batch(arch, shape, conditional, extra, tmp_path):
    G = _generator(arch, shape, conditional, extra)
    out = tmp_path / "g.onnx"
    result = export_onnx(G, out)
    assert result.max_abs_diff <= 1e-4 and out.is_file()
    session = _session(out)
    names = [i.name for i in session.get_inputs()]
    assert names == (["z", "label"] if conditional != "none" else ["z"])
    assert session.get_inputs()[0].shape[0] == "batch"  # symbolic: any batch size
    for n in (3, 11):
        z = latents(n, 8, seed=5)
        feeds = {"z": z.numpy()}
        with torch.inference_mode():
            if conditional != "none":
                y = torch.arange(n) % 3
                feeds["label"] = y.numpy()
                want = G(z, y).numpy()
            else:
                want = G(z).numpy()
        got = session.run(None, feeds)[0]
        assert got.shape == (n, *shape) and np.abs(got - want).max() < 1e-4
        assert float(np.abs(want).max()) > 1e-3  # the comparison is not between two near-zero outputs


def test_the_label_is_an_input_that_picks_the_class(tmp_path):
    G = _generator("dcgan", (1, 28, 28), "projection", {})
    export_onnx(G, tmp_path / "g.onnx")
    session = _session(tmp_path / "g.onnx")
    z = latents(4, 8, seed=1).numpy()
    outs = [session.run(None, {"z": z, "label": np.full(4, k, np.int64)})[0] for k in range(3)]
    for k in range(3):
        with torch.inference_mode():
            want = G(torch.from_numpy(z), torch.full((4,), k)).numpy()
        assert np.abs(outs[k] - want).max() < 1e-4
    assert np.abs(outs[0] - outs[1]).max() > 1e-3


def test_spectral_norm_is_exported_as_plain_weights(tmp_path):
    plain = _generator("dcgan", (1, 28, 28), "none", {})
    normed = _generator("dcgan", (1, 28, 28), "none", {"g_spectral_norm": True})
    export_onnx(plain, tmp_path / "a.onnx")
    export_onnx(normed, tmp_path / "b.onnx")
    a, b = (onnx.load(str(tmp_path / f)) for f in ("a.onnx", "b.onnx"))
    assert [n.op_type for n in a.graph.node] == [n.op_type for n in b.graph.node]  # no power iteration in the graph
    assert not any("parametrizations" in i.name for i in b.graph.initializer)
    z = latents(2, 8, seed=0)
    with torch.inference_mode():
        assert torch.equal(export.plain_copy(normed)(z), normed(z))  # the same weights, folded
    assert any("parametrizations" in k for k in normed.state_dict())  # and the original is left as it was


def test_metadata_props_carry_what_a_user_needs(tmp_path):
    G = _generator("dcgan", (1, 28, 28), "concat", {})
    G.classes = ["cat", "dog", "bird"]
    result = export_onnx(G, tmp_path / "g.onnx")
    meta = read_metadata(tmp_path / "g.onnx")
    assert meta == result.metadata
    assert meta["format"] == "gankit-onnx-generator" and meta["gankit_version"] == gankit.__version__
    assert meta["z_dim"] == "8" and json.loads(meta["classes"]) == ["cat", "dog", "bird"]
    assert json.loads(meta["value_range"]) == [-1, 1] and json.loads(meta["output_shape"]) == [1, 28, 28]
    assert meta["kind"] == "conditional" and meta["num_classes"] == "3"
    assert [i["name"] for i in json.loads(meta["inputs"])] == ["z", "label"]
    toy = export_onnx(_generator("mlp", (2,), "none", {}), tmp_path / "t.onnx").metadata
    assert toy["value_range"] == "unbounded" and json.loads(toy["output"])["name"] == "points"


def test_a_graph_that_differs_from_pytorch_fails_loudly_and_writes_nothing(tmp_path, monkeypatch):
    G = _generator("dcgan", (1, 28, 28), "none", {})
    copy = export.plain_copy

    def off_by_a_bit(module, device="cpu"):  # what a wrong export would trace: other weights
        m = copy(module, device)
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.05)
        return m
    monkeypatch.setattr(export, "plain_copy", off_by_a_bit)
    with pytest.raises(ExportCheckFailed, match=r"ONNX check failed: onnxruntime and PyTorch differ by up to "
                                                r"[0-9.e-]+ on batches 1 and 5, more than the tolerance 0.0001"):
        export_onnx(G, tmp_path / "g.onnx")
    assert list(tmp_path.iterdir()) == []
    result = export_onnx(G, tmp_path / "g.onnx", tolerance=10.0)  # a tolerance the user chose
    assert result.max_abs_diff > 1e-3


def test_non_finite_outputs_fail_the_check(tmp_path):
    G = _generator("mlp", (2,), "none", {})
    with torch.no_grad():
        next(G.parameters()).fill_(float("nan"))
    with pytest.raises(ExportCheckFailed, match="differ by up to inf"):
        export_onnx(G, tmp_path / "g.onnx")


def test_an_image_to_image_generator_exports_by_its_declared_inputs(tmp_path):
    class Translator(torch.nn.Module):
        kind = "translator"

        def __init__(self):
            super().__init__()
            self.in_shape, self.out_shape = (3, 16, 16), (1, 16, 16)
            self.conv = torch.nn.Conv2d(3, 1, 3, padding=1)

        def forward(self, x):
            return torch.tanh(self.conv(x))
    result = export_onnx(Translator(), tmp_path / "t.onnx")
    session = _session(tmp_path / "t.onnx")
    assert [i.name for i in session.get_inputs()] == ["image"] and result.metadata["kind"] == "translator"
    assert session.run(None, {"image": np.zeros((2, 3, 16, 16), np.float32)})[0].shape == (2, 1, 16, 16)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_idx_dir):
    """A tiny run with EMA: its generator/ holds the EMA weights."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    run = gankit.train(tiny_config(tmp_path_factory.mktemp("export") / "run", tiny_idx_dir,
                                   {"model": {"ema_half_life_kimg": 0.01, "g_spectral_norm": True}}), progress=False)
    torch.set_num_threads(before)
    return run


def test_cli_exports_a_trained_run_and_prints_the_difference(trained, tmp_path, capsys):
    out = tmp_path / "g.onnx"
    assert main(["export", str(trained), "--format", "onnx", "--out", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"wrote {out} (unconditional: z (N, 8) float32 -> images (N, 1, 28, 28) float32)")
    assert "onnxruntime vs PyTorch max abs difference" in line and "tolerance 0.0001" in line
    G = gankit.load_generator(trained)  # the EMA weights, as the run shows them
    z = latents(6, 8, seed=3)
    with torch.inference_mode():
        want = G(z).numpy()
    assert np.abs(_session(out).run(None, {"z": z.numpy()})[0] - want).max() < 1e-4
    meta = read_metadata(out)
    assert meta["arch"] == "dcgan" and meta["data"] == "fashion-mnist" and meta["loss"] == "nonsaturating"


def test_python_api(trained, tmp_path):
    result = gankit.export_onnx(trained, tmp_path / "g.onnx")
    assert result.path.is_file() and result.interface.kind == "unconditional"


@pytest.mark.parametrize("argv, needle", [
    (["--out", "g.txt"], "--out g.txt: an ONNX file name ends in .onnx"),
    (["--out", "missing-folder-file/x/g.onnx", "--model-is-missing"], None),
])
def test_cli_refusals_are_one_line(trained, tmp_path, capsys, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    if needle is None:
        assert main(["export", str(tmp_path / "nope"), "--out", "g.onnx"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("gankit: error: ") and "no such run" in err and len(err.strip().splitlines()) == 1
        return
    assert main(["export", str(trained), *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"gankit: error: {needle}"
    assert list(tmp_path.iterdir()) == []


def test_cli_tolerance_failure_exits_1(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(export, "_check", lambda *a: 0.25)
    assert main(["export", str(trained), "--out", str(tmp_path / "g.onnx")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("gankit: error: ONNX check failed: onnxruntime and PyTorch differ by up to 0.25")
    assert len(err.splitlines()) == 1 and not (tmp_path / "g.onnx").exists()
    with pytest.raises(SystemExit) as e:
        main(["export", str(trained), "--out", "g.onnx", "--tolerance", "-1"])
    assert e.value.code == 2


def test_a_missing_extra_is_one_line_naming_it(trained, tmp_path, capsys, monkeypatch):
    import gankit.extras
    real = gankit.extras.importlib.util.find_spec
    monkeypatch.setattr(gankit.extras.importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    assert main(["export", str(trained), "--out", str(tmp_path / "g.onnx")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("gankit: error: ONNX export needs the optional extra 'onnx' (onnxruntime not installed): "
                   "pip install 'gankit[onnx]'")
    with pytest.raises(gankit.extras.MissingExtra):
        export_onnx(trained, tmp_path / "g.onnx")


def test_cli_help_states_the_defaults_export_uses(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default: {export.TOLERANCE:g})" in text
    assert f"batches of {' and '.join(map(str, export.CHECK_BATCHES))}" in text
