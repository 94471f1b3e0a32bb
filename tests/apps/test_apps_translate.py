"""gankit translate / load_translator: any size, tiles, --degrade, strips, and every error path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.apps.translate import Translator, _starts, load_translator
from gankit.cli import main
from gankit.config import resolve
from gankit.models import build_translator
from gankit.training.loop import train

from helpers import tiny_config


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_idx_dir):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("translate-runs")
    out = {}
    for task in ("superres", "inpaint", "denoise"):
        cfg = tiny_config(root / task, tiny_idx_dir, "model.arch=unet", f"data.task={task}", "data.scale=2",
                          "train.kimg=0.032")
        out[task] = train(cfg, progress=False)
    out["gan"] = train(tiny_config(root / "gan", tiny_idx_dir, "train.kimg=0.032"), progress=False)
    return out


def _png(path, h, w, c=1, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (h, w) if c == 1 else (h, w, c), dtype=np.uint8)
    Image.fromarray(a).save(path)
    return a


def _cli(capsys, *args):
    code = main(["translate", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def test_translate_round_trip_any_size_with_strips(runs, tmp_path, capsys):
    a = _png(tmp_path / "odd.png", 13, 29)
    _png(tmp_path / "big.png", 301, 517, seed=1)
    code, out, err = _cli(capsys, runs["superres"], tmp_path / "odd.png", tmp_path / "big.png", "--out",
                          tmp_path / "o")
    assert code == 0, err
    assert Image.open(tmp_path / "o" / "odd.png").size == (58, 26)  # scale x larger, odd sizes fine
    assert Image.open(tmp_path / "o" / "big.png").size == (1034, 602)  # tiled (larger than the 256 px tile)
    assert Image.open(tmp_path / "o" / "odd_strip.png").size == (58 * 2 + 4, 26)  # input | output
    t = load_translator(runs["superres"])
    assert np.array_equal(np.array(Image.open(tmp_path / "o" / "odd.png")), t(a))
    code, _, err = _cli(capsys, runs["denoise"], tmp_path / "odd.png", "--degrade", "--out", tmp_path / "d")
    assert code == 0, err
    assert Image.open(tmp_path / "d" / "odd_strip.png").size == (3 * 29 + 8, 13)  # degraded | output | target


def test_tiles_blend_to_the_whole_image_translation():
    torch.manual_seed(0)
    cfg = resolve(overrides=["data.task=denoise", "model.width=4", "train.kimg=1"])
    G, _ = build_translator(cfg.model, (1, 28, 28), 1)
    torch.nn.init.normal_(G.head.weight, std=0.05)  # a G whose output depends on its context
    img = np.random.default_rng(0).integers(0, 256, (70, 90), dtype=np.uint8)
    whole = Translator(G, cfg, tile=256)(img).astype(int)
    tiled = Translator(G, cfg, tile=32, overlap=16)(img).astype(int)
    assert tiled.shape == whole.shape
    assert np.abs(tiled - whole).mean() < 1.0  # grey levels: blending hides the seams
    assert _starts(90, 32, 16) == [0, 16, 32, 48, 58] and _starts(20, 32, 16) == [0]


def test_inpaint_translation_keeps_known_pixels(runs, tmp_path, capsys):
    t = load_translator(runs["inpaint"])
    img = np.random.default_rng(0).integers(0, 256, (20, 24), dtype=np.uint8)
    mask = np.zeros((20, 24), np.uint8)
    mask[5:12, 6:15] = 255
    out = t(img, mask)
    assert np.array_equal(out[mask == 0], img[mask == 0])
    _png(tmp_path / "p.png", 20, 24)
    (tmp_path / "masks").mkdir()
    Image.fromarray(mask).save(tmp_path / "masks" / "p.png")
    code, _, err = _cli(capsys, runs["inpaint"], tmp_path / "p.png", "--masks", tmp_path / "masks", "--out",
                        tmp_path / "o")
    assert code == 0, err
    code, _, err = _cli(capsys, runs["inpaint"], tmp_path / "p.png", "--out", tmp_path / "o2")
    assert code == 1 and "needs the hole masks" in err and "\n" not in err


def test_translate_errors_are_one_line(runs, tmp_path, capsys):
    _png(tmp_path / "rgb.png", 16, 16, c=3)
    _png(tmp_path / "odd.png", 15, 16)
    (tmp_path / "junk.png").write_bytes(b"not an image")
    cases = [
        ((runs["superres"], tmp_path / "junk.png"), "junk.png: unreadable image"),
        ((runs["superres"], tmp_path / "missing.png"), "missing.png: no such file"),
        ((runs["superres"], tmp_path / "rgb.png"), "has 3 channel(s), the run translates 1-channel"),
        ((runs["superres"], tmp_path / "odd.png", "--degrade"), "size not divisible"),
        ((runs["superres"], tmp_path / "odd.png", "--scale", "4"), "--scale 4: this run super-resolves by"),
        ((runs["denoise"], tmp_path / "odd.png", "--scale", "2"), "--scale 2: this run is a denoise run"),
        ((runs["gan"], tmp_path / "odd.png"), "not an image-to-image run"),
        ((tmp_path, tmp_path / "odd.png"), "not a gankit run"),
        ((runs["superres"], tmp_path / "odd.png", tmp_path / "odd.png"), "share the name 'odd'"),
    ]
    for args, message in cases:
        code, _, err = _cli(capsys, *args, "--out", tmp_path / "never")
        assert code == 1 and message in err and "\n" not in err and err.startswith("gankit: error: "), (args, err)
    assert not (tmp_path / "never").exists()  # nothing written by a refused call
    code, _, err = _cli(capsys, runs["superres"], tmp_path / "rgb.png", "--convert", "--out", tmp_path / "c")
    assert code == 0, err
    assert main(["sample", str(runs["denoise"]), "--out", str(tmp_path / "s.png")]) == 1
    assert "use gankit translate" in capsys.readouterr().err
    assert main(["score", str(runs["superres"]), str(tmp_path / "odd.png")]) == 1
    assert "judges (input, output) pairs" in capsys.readouterr().err


def test_python_api_checks_arrays(runs):
    import gankit
    t = gankit.load_translator(runs["denoise"])
    outs = t([np.zeros((8, 8), np.uint8), np.full((9, 11), 255, np.uint8)])
    assert [o.shape for o in outs] == [(8, 8), (9, 11)] and outs[0].dtype == np.uint8
    with pytest.raises(ValueError, match="has 3 channel"):
        t(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        t(np.zeros((8, 8), np.float32))
