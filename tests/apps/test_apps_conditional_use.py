"""Using a class-conditional generator: class interpolation (soft class weights, z fixed), synthetic
datasets (class folders and .npz that gankit's own readers read back) and the report's per-class grid."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from gankit import config as C
from gankit.apps.interpolate import class_path, write_class_interpolation, write_interpolation
from gankit.apps.report import class_rows, render_report
from gankit.apps.sample import class_file_name
from gankit.apps.synthesize import MANIFEST, folder_names, read_npz, synthesize
from gankit.config import ModelConfig
from gankit.data import load_dataset, to_uint8
from gankit.io.files import FileError
from gankit.models import build, latents
from gankit.training.loop import train

from helpers import tiny_config

NAMES = ["T-shirt/top", "Trouser", "Ankle boot"]


def conditional_G(method="projection", arch="dcgan", shape=(1, 28, 28), k=3):
    G, _ = build(ModelConfig(arch=arch, z_dim=8, width=8, conditional=method), shape, seed=0, num_classes=k)
    G.classes = NAMES[:k] if k <= len(NAMES) else [f"c{i}" for i in range(k)]
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # an untrained G draws grey, and its classes alike (CBN starts at zero): shake it
        for p in G.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.3, generator=gen)
    return G.eval()


@pytest.fixture(scope="module")
def G():
    return conditional_G()


# ---- class interpolation


def test_class_path_moves_soft_weights_from_class_to_class():
    w = class_path(4, [0, 3, 1], 5)
    assert w.shape == (2, 5, 4) and w.dtype == torch.float32
    assert torch.allclose(w.sum(-1), torch.ones(2, 5))
    assert torch.equal(w[0, 0], torch.tensor([1.0, 0, 0, 0])) and torch.equal(w[0, -1], torch.tensor([0, 0, 0, 1.0]))
    assert torch.allclose(w[0, 2], torch.tensor([0.5, 0, 0, 0.5])) and torch.equal(w[1, -1], torch.eye(4)[1])


@pytest.mark.parametrize("method", ["concat", "projection", "ac"])
@pytest.mark.parametrize("arch,shape", [("dcgan", (1, 28, 28)), ("resnet", (3, 32, 32)), ("mlp", (1, 28, 28))])
def test_every_conditional_generator_reads_soft_class_weights(method, arch, shape):
    G = conditional_G(method, arch, shape)
    z = latents(4, 8, 0)
    with torch.no_grad():
        hard = G(z, torch.tensor([0, 1, 2, 0]))
        assert torch.allclose(G(z, torch.eye(3)[[0, 1, 2, 0]]), hard, atol=1e-6)  # one-hot = labels
        mix = G(z, torch.tensor([[0.5, 0.5, 0.0]] * 4))
    assert mix.shape == (4, *shape) and torch.isfinite(mix).all()


def test_class_interpolation_holds_z_and_ends_on_each_class(G, tmp_path):
    paths = write_class_interpolation(G, [0, 2, 1], 5, tmp_path / "ci", seed=4)
    assert [p.name for p in paths] == ["strip_T-shirt_top_Ankle boot.png", "strip_Ankle boot_Trouser.png",
                                       "interpolation.gif"]
    strip = np.asarray(Image.open(paths[0]))
    assert strip.shape == ((28 + 2) * 2 + 2 * 2, (5 * 30 + 2) * 2)  # one row of 5, enlarged 2x
    tiles = [strip[4:60:2, 4 + 60 * i:60 + 60 * i:2] for i in range(5)]  # the 28x28 frames, at 1x
    ends = to_uint8(G.sample(1, seed=4, labels=0))[0, 0].numpy(), to_uint8(G.sample(1, seed=4, labels=2))[0, 0].numpy()
    # the ends are latent 0 of the seed in each class (up to a level of conv rounding across batch shapes)
    assert np.abs(tiles[0].astype(int) - ends[0]).max() <= 1 and np.abs(tiles[-1].astype(int) - ends[1]).max() <= 1
    assert np.abs(ends[0].astype(int) - ends[1]).max() > 10  # the classes do look different
    gif = Image.open(paths[-1])
    assert gif.n_frames == 2 * 4 + 1 + 7


def test_class_interpolation_refusals(G, tmp_path):
    with pytest.raises(ValueError, match=r"--classes: need at least 2 classes"):
        write_class_interpolation(G, [1], 4, tmp_path / "a")
    with pytest.raises(ValueError, match=r"--classes: expected class indices in \[0, 3\), got 3"):
        write_class_interpolation(G, [0, 3], 4, tmp_path / "a")
    plain, _ = build(ModelConfig(arch="dcgan", z_dim=8, width=8), (1, 28, 28), seed=0)
    with pytest.raises(ValueError, match=r"^--classes: this generator is unconditional"):
        write_class_interpolation(plain, [0, 1], 4, tmp_path / "a")
    with pytest.raises(ValueError, match=r"^--class: this generator is unconditional"):
        write_interpolation(plain, [1, 2], 4, tmp_path / "a", label=1)
    assert not (tmp_path / "a").exists()


def test_a_z_walk_on_a_conditional_G_keeps_one_class(G, tmp_path):
    a = write_interpolation(G, [1, 2], 4, tmp_path / "c0")[0]
    b = write_interpolation(G, [1, 2], 4, tmp_path / "c2", label=2)[0]
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(write_interpolation(
        G, [1, 2], 4, tmp_path / "again", label=0)[0])))  # class 0 is the default
    assert not np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


# ---- synthesize


def _folder_dataset(path):
    cfg = C.resolve(overrides=["data.name=folder", f"data.path={path}", f"out={path}-run", "train.kimg=1"])
    return load_dataset(cfg.data)


def test_synthesized_class_folders_round_trip_through_the_folder_reader(G, tmp_path):
    r = synthesize(G, tmp_path / "syn", per_class=5, seed=3, batch_size=4, progress=False)
    assert r["format"] == "folder" and r["num"] == 15 and r["per_class"] == 5 and r["classes"] == NAMES
    expect = to_uint8(G.sample(15, seed=3))  # sample i of class i mod 3
    data = _folder_dataset(tmp_path / "syn")
    assert data.classes == sorted(folder_names(NAMES)) == ["Ankle boot", "T-shirt_top", "Trouser"]
    assert len(data) == 15 and data.x.dtype == torch.uint8
    for c, name in enumerate(folder_names(NAMES)):
        mine = data.x[data.y == data.classes.index(name)]
        assert torch.equal(mine, expect[c::3]), name  # image j of class c is sample j*3 + c
    meta = json.loads((tmp_path / "syn" / MANIFEST).read_text())
    assert meta["complete"] and meta["seed"] == 3 and meta["classes"] == NAMES and len(meta["files"]) == 15
    assert (tmp_path / "syn" / "T-shirt_top" / "00004.png").is_file()
    assert not list((tmp_path / "syn").rglob(".*"))  # no temporary left behind


def test_synthesize_is_deterministic_by_seed_whatever_the_batch_size(G, tmp_path):
    a = synthesize(G, tmp_path / "a.npz", per_class=30, seed=1, batch_size=7, progress=False)
    b = synthesize(G, tmp_path / "b.npz", per_class=30, seed=1, batch_size=256, progress=False)
    x, y = read_npz(a["path"]), read_npz(b["path"])
    assert torch.equal(x["x"], y["x"]) and torch.equal(x["y"], y["y"])
    c = read_npz(synthesize(G, tmp_path / "c.npz", per_class=30, seed=2, progress=False)["path"])
    assert not torch.equal(c["x"], x["x"])
    small = read_npz(synthesize(G, tmp_path / "d.npz", per_class=4, seed=1, progress=False)["path"])
    assert torch.equal(small["x"], x["x"][:12])  # --per-class 4 is a prefix of --per-class 30


def test_synthesized_npz_holds_x_y_classes_without_pickles(G, tmp_path):
    synthesize(G, tmp_path / "s.npz", per_class=4, seed=0, truncation=0.5, progress=False)
    with np.load(tmp_path / "s.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["classes", "x", "y"]
        assert z["x"].dtype == np.uint8 and z["x"].shape == (12, 1, 28, 28)
        assert z["y"].dtype == np.int64 and z["y"].tolist() == [0, 1, 2] * 4
        assert z["classes"].tolist() == NAMES
        assert np.array_equal(z["x"], to_uint8(G.sample(12, seed=0, truncation=0.5)).numpy())
    back = read_npz(tmp_path / "s.npz")
    assert back["classes"] == NAMES and back["y"].dtype == torch.int64 and back["x"].shape == (12, 1, 28, 28)


def test_unconditional_synthesize_writes_numbered_pngs_or_x_alone(tmp_path):
    plain, _ = build(ModelConfig(arch="dcgan", z_dim=8, width=8), (1, 28, 28), seed=0)
    r = synthesize(plain, tmp_path / "u", num=6, seed=2, progress=False)
    assert r["classes"] == [] and r["per_class"] is None
    assert sorted(p.name for p in (tmp_path / "u").iterdir()) == [f"{i:05d}.png" for i in range(6)] + [MANIFEST]
    data = _folder_dataset(tmp_path / "u")
    assert data.y is None and torch.equal(data.x, to_uint8(plain.sample(6, seed=2)))
    synthesize(plain, tmp_path / "u.npz", num=6, seed=2, progress=False)
    with np.load(tmp_path / "u.npz", allow_pickle=False) as z:
        assert z.files == ["x"]
    assert read_npz(tmp_path / "u.npz")["y"] is None
    with pytest.raises(ValueError, match=r"^--per-class: this generator is unconditional"):
        synthesize(plain, tmp_path / "v", per_class=3)
    with pytest.raises(ValueError, match=r"^--num: an unconditional generator needs"):
        synthesize(plain, tmp_path / "v")
    toy, _ = build(ModelConfig(arch="mlp", z_dim=4, width=8), (2,), seed=0)
    synthesize(toy, tmp_path / "toy.npz", num=5, progress=False)
    assert read_npz(tmp_path / "toy.npz")["x"].dtype == torch.float32
    with pytest.raises(ValueError, match="toy samples are points"):
        synthesize(toy, tmp_path / "toyfolder", num=5)
    assert not (tmp_path / "v").exists() and not (tmp_path / "toyfolder").exists()


def test_synthesize_refuses_to_overwrite_and_never_deletes_foreign_files(G, tmp_path):
    out = tmp_path / "syn"
    synthesize(G, out, per_class=4, progress=False)
    with pytest.raises(FileError, match=r"is not empty \(holds a previous gankit synthesize output\); pass "
                                         r"--overwrite"):
        synthesize(G, out, per_class=2)
    (out / "notes.txt").write_text("mine")
    (out / "Trouser" / "keep.png").write_bytes(b"user")
    synthesize(G, out, per_class=2, seed=5, overwrite=True, progress=False)
    assert (out / "notes.txt").read_text() == "mine" and (out / "Trouser" / "keep.png").read_bytes() == b"user"
    assert sorted(p.name for p in (out / "Ankle boot").iterdir()) == ["00000.png", "00001.png"]  # the old 4 gone
    assert json.loads((out / MANIFEST).read_text())["seed"] == 5

    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.png").write_bytes(b"x")
    for overwrite in (False, True):
        with pytest.raises(FileError) as e:
            synthesize(G, foreign, per_class=2, overwrite=overwrite)
        assert "\n" not in str(e.value)
    assert "gankit did not write it" in str(e.value)
    assert sorted(p.name for p in foreign.iterdir()) == ["holiday.png"]

    synthesize(G, tmp_path / "s.npz", per_class=1, progress=False)
    with pytest.raises(FileError, match=r"s.npz: exists; pass --overwrite"):
        synthesize(G, tmp_path / "s.npz", per_class=1)
    synthesize(G, tmp_path / "s.npz", per_class=2, overwrite=True, progress=False)
    assert len(read_npz(tmp_path / "s.npz")["x"]) == 6


def test_synthesize_bounds_are_one_line_before_any_sample(G, tmp_path, monkeypatch):
    import gankit.apps.synthesize as syn

    def refuse(*a, **k):
        raise AssertionError("sampled before the bounds were checked")
    monkeypatch.setattr(G, "sample", refuse)
    with pytest.raises(ValueError, match=r"^--per-class: 3,000,000,000 images make an .npz of 2,190.5 GiB, built in memory; write a folder instead, or at most 1,826,091 per class$"):
        synthesize(G, tmp_path / "big.npz", per_class=1_000_000_000)

    class Usage:
        free = 10_000
    monkeypatch.setattr(syn.shutil, "disk_usage", lambda path: Usage)
    with pytest.raises(FileError, match=r"the images need about .* GiB, only 0.00 GiB free"):
        synthesize(G, tmp_path / "disk", per_class=100)
    with pytest.raises(ValueError, match=r"^truncation: expected a number in \[0, 1\]"):
        synthesize(G, tmp_path / "t", per_class=1, truncation=2)
    with pytest.raises(ValueError, match=r"^--num: this generator is class-conditional \(3 classes\)"):
        synthesize(G, tmp_path / "t", num=5)
    with pytest.raises(ValueError, match=r"unknown ending '.jpg'"):
        synthesize(G, tmp_path / "t.jpg", per_class=1)
    assert list(tmp_path.iterdir()) == []  # not even the folder: every refusal comes before it is made


def test_read_npz_refuses_what_synthesize_does_not_write(tmp_path):
    np.savez(tmp_path / "a.npz", samples=np.zeros((2, 1, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="expected an array x"):
        read_npz(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", x=np.zeros((2, 1, 4, 4), np.uint8), y=np.array([0, 5]), classes=np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"labels y must be in \[0, 2\)"):
        read_npz(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", x=np.zeros((2, 1, 4, 4), np.uint8), y=np.array([0, 1], dtype=object),
             classes=np.array(["a", "b"]))
    with pytest.raises(ValueError, match="not a readable .npz"):
        read_npz(tmp_path / "c.npz")  # an object array would need unpickling
    with pytest.raises(FileError, match="no such file"):
        read_npz(tmp_path / "missing.npz")


def test_class_file_names_are_safe_and_unique():
    assert class_file_name("T-shirt/top") == "T-shirt_top" and class_file_name("Ankle boot") == "Ankle boot"
    assert class_file_name("..") == "_" and class_file_name(".git") == "git" and class_file_name("a\\b:c") == "a_b_c"
    assert folder_names(["a/b", "a:b", "A_B", "x"]) == ["a_b", "a_b_1", "A_B_2", "x"]


# ---- the report's per-class grid


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory, tiny_idx_dir):
    out = tmp_path_factory.mktemp("cond") / "run"
    return train(tiny_config(out, tiny_idx_dir, "model.conditional=concat", "train.kimg=0.032",
                             "train.grid_size=20"), progress=False)


def test_the_report_names_the_rows_of_a_conditional_run_s_grid(conditional_run, tmp_path):
    text = render_report(conditional_run)
    assert "<h2>Samples by class</h2>" in text
    labels = re.findall(r'<span class="rowlabel" style="top:([\d.]+)%">([^<]+)</span>', text)
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
             "Ankle boot"]
    assert [n for _, n in labels] == names
    tops = [float(t) for t, _ in labels]
    grid = sorted((conditional_run / "samples").glob("final_*.png"))[0]
    height = Image.open(grid).height
    assert height == 2 * (10 * 30 + 2)  # 10 rows (one per class) of 28 px tiles, 2 px gaps, 2x
    assert tops == pytest.approx([100 * (4 + r * 60 + 28) / height for r in range(10)], abs=1e-3)
    assert re.search(r'<img class="classgrid" alt="per-class grid: final', text)
    # without its generator/ the names come from the checkpoint; a grid of another layout is not labelled
    run = tmp_path / "run"
    shutil.copytree(conditional_run, run)
    shutil.rmtree(run / "generator")
    assert [n for n, _ in class_rows(run, (run / "config.toml").read_text(), grid)] == names
    Image.new("L", (10, 37)).save(run / "samples" / "final_img000000099_epoch000.png")
    assert "Samples by class" not in render_report(run)


def test_an_unconditional_report_has_no_per_class_section(tiny_cfg):
    assert "Samples by class" not in render_report(train(tiny_cfg, progress=False))


def test_an_interrupted_synthesize_says_so_and_overwrite_cleans_it_up(G, tmp_path, monkeypatch):
    import gankit.apps.synthesize as syn
    real, written = syn.save_image_unsynced, []

    def dies_after_three(image, path):
        if len(written) == 3:
            (path.parent / f".{path.name}.tmp-1").write_bytes(b"half")  # what a kill mid-write leaves
            raise KeyboardInterrupt
        written.append(path)
        real(image, path)
    monkeypatch.setattr(syn, "save_image_unsynced", dies_after_three)
    with pytest.raises(KeyboardInterrupt):
        synthesize(G, tmp_path / "syn", per_class=4, progress=False)
    assert json.loads((tmp_path / "syn" / MANIFEST).read_text())["complete"] is False
    monkeypatch.setattr(syn, "save_image_unsynced", real)
    with pytest.raises(FileError, match="holds a previous gankit synthesize output"):
        synthesize(G, tmp_path / "syn", per_class=4)
    synthesize(G, tmp_path / "syn", per_class=4, overwrite=True, progress=False)
    files = sorted(str(p.relative_to(tmp_path / "syn")) for p in (tmp_path / "syn").rglob("*") if p.is_file())
    assert files == sorted([MANIFEST] + [f"{c}/{j:05d}.png" for c in folder_names(NAMES) for j in range(4)])
    assert json.loads((tmp_path / "syn" / MANIFEST).read_text())["complete"] is True


def test_synthesize_checks_the_seed_before_making_anything(G, tmp_path):
    with pytest.raises(ValueError, match=r"^seed: expected an integer"):
        synthesize(G, tmp_path / "s", per_class=1, seed=-1)
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_a_synthesized_dataset_s_labels_are_what_a_trained_G_drew(tmp_path):
    """On the 8-Gaussian ring with one class per mode: synthesize's y names the mode each point lies
    on (>= 90 %), and truncation pulls class c's points towards mode c (smaller spread)."""
    from gankit.data import toy_modes
    from gankit.io.generator import load_generator
    cfg = C.resolve(preset="toy-ring", overrides=[f"out={tmp_path / 'run'}", "model.conditional=concat",
                                                  "train.kimg=100", "train.batch_size=256", "train.log_every=100",
                                                  "model.ema_half_life_kimg=0", "diagnostics.enabled=false"])
    G = load_generator(train(cfg, progress=False))
    centers, _ = toy_modes("toy-ring")
    synthesize(G, tmp_path / "ring.npz", per_class=100, seed=3, progress=False)
    data = read_npz(tmp_path / "ring.npz")
    assert data["x"].shape == (800, 2) and data["x"].dtype == torch.float32 and data["classes"] == G.classes
    hit = (torch.cdist(data["x"], centers).argmin(1) == data["y"]).float().mean().item()
    assert hit >= 0.9, hit
    synthesize(G, tmp_path / "tight.npz", per_class=100, seed=3, truncation=0.3, progress=False)
    tight = read_npz(tmp_path / "tight.npz")
    assert torch.equal(tight["y"], data["y"])
    spread = [(d["x"] - centers[d["y"]]).norm(dim=1).mean().item() for d in (data, tight)]
    assert spread[1] < 0.8 * spread[0], spread
