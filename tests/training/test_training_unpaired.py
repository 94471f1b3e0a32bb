"""The unpaired games (data.task = "unpaired"): config, the two domain streams, bitwise resume with
the image pool, the logged parts, and a tiny CycleGAN that learns squares <-> circles."""

import pytest
import torch

from gankit import config as C
from gankit.config import ConfigError
from gankit.data import DataError, load_dataset
from gankit.data.shapes import classify
from gankit.io.checkpoint import complete_checkpoints, load_checkpoint
from gankit.training.games import GAMES, CycleGame, StyleGame
from gankit.training.loop import train

from helpers import shapes_config


def test_defaults_and_games(tmp_path):
    cfg = shapes_config(tmp_path)
    assert (cfg.model.arch, cfg.loss.name, C.game_of(cfg)) == ("cyclegan", "lsgan", "unpaired")
    assert (cfg.loss.cycle_weight, cfg.loss.identity_weight) == (10.0, 0.5)
    assert shapes_config(tmp_path, "model.arch=munit").model.arch == "munit"
    assert C.game_of(shapes_config(tmp_path, "model.arch=munit")) == "unpaired-style"
    assert GAMES["unpaired"] is CycleGame and GAMES["unpaired-style"] is StyleGame
    assert shapes_config(tmp_path, "loss.name=hinge").loss.name == "hinge"  # a chosen loss is kept
    preset = C.resolve(preset="cyclegan")
    assert (preset.data.domain_a, preset.data.domain_b, preset.train.pool_size) == ("Sneaker", "Ankle boot", 50)


@pytest.mark.parametrize("override,message", [
    ("data.domain_b=", "data.domain_b: data.task = 'unpaired' needs it"),
    ("data.domain_b=square", "data.domain_b: must differ from data.domain_a"),
    ("model.arch=dcgan", "model.arch: data.task = 'unpaired' trains one of cyclegan, munit, unet"),
    ("train.pool_size=-1", "train.pool_size: must be >= 0"),
    ("loss.identity_weight=-0.5", "loss.identity_weight: must be >= 0"),
    ("train.game=paired", "train.game: data.task = 'unpaired' trains the 'unpaired' game"),
    ("eval.every_kimg=1", "eval.every_kimg: train-time evaluation samples G(z)"),
])
def test_bad_unpaired_configs_are_one_line(tmp_path, override, message):
    with pytest.raises(ConfigError) as e:
        shapes_config(tmp_path, override)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_cyclegan_arch_without_the_task_is_refused():
    with pytest.raises(ConfigError, match="model.arch: translates between two domains"):
        C.resolve(overrides=["model.arch=cyclegan", "train.kimg=1"])


def test_domains_by_class_name_case_and_folder(tmp_path):
    cfg = shapes_config(tmp_path, "data.domain_a=SQUARE", "data.limit=0")
    d = load_dataset(cfg.data)
    assert d.classes == ["SQUARE", "circle"] and d.y.tolist().count(0) == d.y.tolist().count(1) == 2048
    assert load_dataset(shapes_config(tmp_path).data).y.tolist() == [0] * 64 + [1] * 64  # data.limit: each
    assert (classify(d.x[d.y == 0]) == 0).float().mean() > 0.99 and (classify(d.x[d.y == 1]) == 1).float().mean() > 0.99
    with pytest.raises(DataError, match=r"data.domain_a: 'triangle' is not a class of shapes \(classes: square, "
                                        r"circle\)"):
        load_dataset(shapes_config(tmp_path, "data.domain_a=triangle").data)
    with pytest.raises(DataError, match="data.domain_b: no such folder './nowhere'"):
        load_dataset(shapes_config(tmp_path, "data.domain_b=./nowhere").data)
    # a folder of images is a domain too
    from PIL import Image
    folder = tmp_path / "discs"
    folder.mkdir()
    for i, img in enumerate(d.x[d.y == 1][:6]):
        Image.fromarray(img[0].numpy()).save(folder / f"{i}.png")
    mixed = load_dataset(shapes_config(tmp_path, f"data.domain_b={folder}").data)
    assert mixed.y.tolist().count(1) == 6 and torch.equal(mixed.x[mixed.y == 1], d.x[d.y == 1][:6])


def test_a_domain_smaller_than_a_batch_is_refused_before_anything_is_written(tmp_path):
    from PIL import Image
    folder = tmp_path / "two"
    folder.mkdir()
    for i in range(2):
        Image.new("L", (16, 16), 255 * i).save(folder / f"{i}.png")
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=r"train.batch_size: 4 is larger than domain B \('.*two': 2 images\)"):
        train(shapes_config(out, f"data.domain_b={folder}"), progress=False)
    assert not (out / "config.toml").exists()


def test_each_stream_draws_only_its_domain_and_logs_the_parts(tmp_path):
    run = train(shapes_config(tmp_path / "run"), progress=False)
    import json
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss_d" in r]
    assert steps and all({"adversarial", "cycle", "identity"} <= r.keys() for r in steps)
    assert steps[-1]["images"] == 8 * steps[-1]["step"]  # a batch of each domain per step
    grids = sorted((run / "samples").glob("final_*.png"))
    assert grids
    _, state, _ = load_checkpoint(complete_checkpoints(run)[-1])
    game = state["game"]
    assert game["pool_a"]["count"] == 6 and game["pool_a"]["images"].shape == (6, 1, 16, 16)
    # 12 steps of 4 squares of the 64 kept: epoch 0 ended after 15 batches (a 16th would not fit)
    assert game["streams"].tolist() == [[0, 48], [0, 48]]


@pytest.mark.parametrize("overrides", [(), ("model.arch=munit",), ("model.arch=unet", "train.d_steps=2")],
                         ids=["cyclegan", "munit", "unet-k2"])
def test_resume_of_an_unpaired_run_is_bitwise_exact(tmp_path, overrides):
    straight = train(shapes_config(tmp_path / "straight", *overrides, "train.kimg=0.192"), progress=False)
    split = tmp_path / "split"
    train(shapes_config(split, *overrides, "train.kimg=0.096"), progress=False)
    train(shapes_config(split, *overrides, "train.kimg=0.192"), progress=False, resume=True)
    a, state_a, _ = load_checkpoint(complete_checkpoints(straight)[-1])
    b, state_b, _ = load_checkpoint(complete_checkpoints(split)[-1])
    assert state_a["counters"]["images"] == state_b["counters"]["images"] >= 192
    for name in a:
        assert all(torch.equal(a[name][k], b[name][k]) for k in a[name]), name
    ga, gb = state_a["game"], state_b["game"]
    assert torch.equal(ga["streams"], gb["streams"])
    if "pool_a" in ga:
        assert ga["pool_a"]["count"] == 6  # full, so the resumed half swapped images too
        assert torch.equal(ga["pool_a"]["images"], gb["pool_a"]["images"])
        assert torch.equal(ga["pool_b"]["images"], gb["pool_b"]["images"])


def fit_shape_classifier(resolution=16, steps=300, seed=0):
    """The toy domain classifier: a two-layer CNN fitted on the shapes train split (~99.5 % on test)."""
    import torch.nn.functional as F
    from torch import nn
    from gankit.data import to_float
    from gankit.data.shapes import load_shapes
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Conv2d(1, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU(),
                            nn.Flatten(), nn.Linear(16 * (resolution // 4) ** 2, 2))
    d = load_shapes("train", resolution)
    x = to_float(d.x)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    for _ in range(steps):
        i = torch.randint(len(x), (64,), generator=g)
        loss = F.cross_entropy(net(x[i]), d.y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@pytest.mark.slow
def test_a_tiny_cyclegan_learns_squares_to_circles_and_back(tmp_path):
    """The issue's learning test: 500 steps of a width-8 CycleGAN at 16 px (about 40 s on a free core)
    translate >= 90 % of held-out squares into what a domain classifier calls circles, and back."""
    from gankit.apps.translate import load_translator
    from gankit.data import to_float
    from gankit.data.shapes import load_shapes
    cfg = shapes_config(tmp_path / "learn", "data.limit=0", "model.width=8", "model.depth=2",
                        "train.batch_size=8", "train.kimg=8", "train.log_every=50", "train.pool_size=50",
                        "optim.lr_g=5e-4", "optim.lr_d=5e-4", "model.ema_half_life_kimg=0.5",
                        "model.upsample=transpose")
    run = train(cfg, progress=False)
    clf = fit_shape_classifier()
    test = load_shapes("test", 16, n=400)
    x = to_float(test.x)
    with torch.no_grad():
        assert (clf(x).argmax(1) == test.y).float().mean() >= 0.98  # the classifier itself
        success = {}
        for direction, src, dst in (("a2b", 0, 1), ("b2a", 1, 0)):
            y = load_translator(run, direction=direction).run(x[test.y == src])
            success[direction] = (clf(y).argmax(1) == dst).float().mean().item()
            untranslated = (clf(x[test.y == src]).argmax(1) == dst).float().mean().item()
            assert untranslated < 0.05  # the input itself is not already the target
    assert success["a2b"] >= 0.9 and success["b2a"] >= 0.9, success
