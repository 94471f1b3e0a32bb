"""gankit translate on unpaired runs: --direction, --style and random styles, files named after their
inputs with input | output strips, one-line errors; the Python translator."""

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.apps.translate import load_translator
from gankit.cli import main
from gankit.training.loop import train

from helpers import shapes_config, train_unpaired_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    torch.set_num_threads(1)
    return train_unpaired_runs(tmp_path_factory.mktemp("unpaired-runs"))


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from gankit.data.shapes import load_shapes
    folder = tmp_path_factory.mktemp("inputs")
    d = load_shapes("test", 16, n=4)
    paths = []
    for i in range(4):
        paths.append(folder / f"{['square', 'circle'][i % 2]}{i}.png")
        Image.fromarray(d.x[i, 0].numpy()).save(paths[-1])
    odd = folder / "odd.png"
    Image.fromarray(d.x[0, 0, :15, :13].numpy()).save(odd)
    rgb = folder / "rgb.png"
    Image.new("RGB", (16, 16), (200, 10, 10)).save(rgb)
    return {"paths": paths, "odd": odd, "rgb": rgb}


def test_cyclegan_translate_both_directions_named_after_inputs(runs, images, tmp_path):
    square, circle = images["paths"][0], images["paths"][1]
    for direction, src in (("a2b", square), ("b2a", circle)):
        out = tmp_path / direction
        assert main(["translate", str(runs["cyclegan"]), str(src), str(images["odd"]), "--direction", direction,
                     "--out", str(out)]) == 0
        assert sorted(p.name for p in out.iterdir()) == sorted(
            [f"{src.stem}.png", f"{src.stem}_strip.png", "odd.png", "odd_strip.png"])
        T = load_translator(runs["cyclegan"], direction=direction)
        expected = T(np.array(Image.open(src)))
        assert np.array_equal(np.array(Image.open(out / f"{src.stem}.png")), expected)
        assert np.array(Image.open(out / "odd.png")).shape == (15, 13)  # any size: padded and cropped back
        strip = np.array(Image.open(out / f"{src.stem}_strip.png"))
        assert strip.shape[0] == 16 and strip.shape[1] == 2 * 16 + 4  # input | output
    a2b, b2a = load_translator(runs["cyclegan"]), load_translator(runs["cyclegan"], direction="b2a")
    x = np.array(Image.open(square))
    assert not np.array_equal(a2b(x), b2a(x))  # two generators
    assert (a2b.source, a2b.target) == ("square", "circle")


def test_style_image_changes_the_output_and_random_styles_make_several(runs, images, tmp_path):
    square, circle, circle2 = images["paths"][0], images["paths"][1], images["paths"][3]
    T = load_translator(runs["munit"])
    x = np.array(Image.open(square))
    with_1, with_2 = T(x, style=np.array(Image.open(circle))), T(x, style=np.array(Image.open(circle2)))
    assert not np.array_equal(with_1, with_2)                                   # the example's style matters
    assert np.array_equal(with_1, T(x, style=np.array(Image.open(circle))))     # and nothing else does
    out = tmp_path / "styled"
    assert main(["translate", str(runs["munit"]), str(square), "--style", str(circle), "--out", str(out)]) == 0
    assert np.array_equal(np.array(Image.open(out / f"{square.stem}.png")), with_1)
    assert np.array(Image.open(out / f"{square.stem}_strip.png")).shape[1] == 3 * 16 + 2 * 4  # in | style | out
    rand = tmp_path / "random"
    assert main(["translate", str(runs["munit"]), str(square), "--styles", "4", "--seed", "3", "--out",
                 str(rand)]) == 0
    outs = [np.array(Image.open(rand / f"{square.stem}_style{i}.png")) for i in range(4)]
    assert len({o.tobytes() for o in outs}) == 4                                # four different styles
    assert [o.tobytes() for o in T.random_styles(x, 4, seed=3)] == [o.tobytes() for o in outs]
    # a style is a code through the decoder: the content code is the input's, whatever the style
    G = T.G
    from gankit.data import to_float
    xt = to_float(torch.from_numpy(x)[None, None])
    s = T.styles(2, seed=0)
    with torch.no_grad():
        c = G.domain("a").content(xt)
        for k in range(2):
            assert torch.equal(G.translate(xt, "a2b", s[k:k + 1]), G.decode(c, s[k:k + 1], "b"))


@pytest.mark.parametrize("run,args,message", [
    ("cyclegan", ["--style", "{circle}"], "--style: this run is a CycleGAN"),
    ("cyclegan", ["--styles", "3"], "--styles: this run is a CycleGAN"),
    ("cyclegan", ["--degrade"], "--degrade: an unpaired run translates between two domains"),
    ("munit", ["--style", "{circle}", "--styles", "2"], "--styles: give --style FILE"),
    ("munit", ["--style", "{rgb}"], "style image: has 3 channel(s)"),
    ("cyclegan", ["--direction", "c2d"], None),
])
def test_bad_translate_requests_are_one_line_and_write_nothing(runs, images, tmp_path, capsys, run, args, message):
    args = [a.format(circle=images["paths"][1], rgb=images["rgb"]) for a in args]
    out = tmp_path / "out"
    argv = ["translate", str(runs[run]), str(images["paths"][0]), "--out", str(out), *args]
    if message is None:  # argparse's own refusal
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err
    else:
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 1 and err.startswith(f"gankit: error: {message}") and err.count("\n") == 1, err
    assert not out.exists()


def test_direction_on_a_paired_run_is_refused(tmp_path, capsys):
    from gankit import config as C
    from helpers import write_idx
    data = tmp_path / "fm"
    data.mkdir()
    write_idx(data, "train", 32)
    cfg = C.resolve(overrides=[{"out": str(tmp_path / "den"), "data": {"name": "fashion-mnist", "path": str(data),
                                                                      "task": "denoise"},
                                "model": {"width": 4}, "train": {"batch_size": 8, "kimg": 0.016, "threads": 1}}])
    run = train(cfg, progress=False)
    img = tmp_path / "x.png"
    Image.new("L", (28, 28)).save(img)
    assert main(["translate", str(run), str(img), "--direction", "a2b", "--out", str(tmp_path / "o")]) == 1
    assert "--direction: only unpaired runs" in capsys.readouterr().err


@pytest.mark.slow
def test_a_trained_style_model_keeps_content_across_styles(tmp_path):
    """On squares <-> circles the content is where the shape is: every style must draw it there."""
    run = train(shapes_config(tmp_path / "munit", "data.limit=0", "model.arch=munit", "model.width=8",
                              "model.depth=1", "train.batch_size=8", "train.kimg=6", "train.log_every=50",
                              "optim.lr_g=5e-4", "optim.lr_d=5e-4"), progress=False)
    from gankit.data import to_float
    from gankit.data.shapes import load_shapes
    test = load_shapes("test", 16, n=200)
    x = to_float(test.x[test.y == 0])
    T = load_translator(run)

    def centroid(img):
        w = (img + 1).clamp_min(0)[:, 0]
        grid = torch.arange(16.0)
        total = w.sum((1, 2))
        return torch.stack([(w.sum(2) * grid).sum(1) / total, (w.sum(1) * grid).sum(1) / total], 1)

    with torch.no_grad():
        outs = [T.run(x, T.styles(1, seed=s).expand(len(x), -1)) for s in range(3)]
    where = centroid(x)
    for out in outs:
        own = (centroid(out) - where).norm(dim=1).median()               # to its own input's shape
        other = (centroid(out) - where.roll(1, 0)).norm(dim=1).median()  # to another input's
        assert own < 1.5 and own < 0.5 * other, (own, other)             # the shape stays where it was
    assert not torch.equal(outs[0], outs[1])                             # while the style changes the image
