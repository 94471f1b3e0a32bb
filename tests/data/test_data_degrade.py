"""Degradations of the image-to-image tasks: shapes, ranges, determinism by seed, exactness."""

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from gankit import config as C
from gankit.config import DataConfig
from gankit.data.degrade import TASKS, degrade, degrade_fixed, depth_proxy, downsample, masks, _Draw, task_shape


def clean(n=6, c=1, side=28, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, c, side, side, generator=g) * 2 - 1
    return torch.round((x + 1) * 127.5) / 127.5 - 1  # on uint8 levels, as data is


DEGRADE = [t for t in TASKS if t != "paired"]


def test_tasks_agree_with_the_config():
    assert set(C.TASKS) == {"none", "unpaired", *TASKS}  # unpaired data is two domains, not a degradation


@pytest.mark.parametrize("task", DEGRADE)
@pytest.mark.parametrize("c", [1, 3])
def test_each_degradation_has_its_shape_range_and_levels(task, c):
    cfg = DataConfig(task=task, channels=c, scale=4)
    x = clean(c=c)
    d = degrade(x, cfg, torch.Generator().manual_seed(1))
    t = task_shape(cfg)
    assert d.shape == (6, t.in_channels, 28 // t.scale, 28 // t.scale)
    assert d.min() >= -1 and d.max() <= 1
    image = d[:, :c]
    levels = (image + 1) * 127.5
    if task == "inpaint":  # holes are 0, between two levels: only the known pixels come from the image
        levels = levels[(d[:, c:] == 0).expand_as(image)]
    assert (levels - torch.round(levels)).abs().max() < 1e-4  # 8-bit levels, like a saved file
    if task != "superres":
        assert not torch.equal(image, x)  # it does degrade


@pytest.mark.parametrize("task", DEGRADE)
def test_fixed_degradations_are_per_image_and_per_seed(task):
    cfg = DataConfig(task=task, mask="strokes")
    x = clean(8)
    a = degrade_fixed(x, cfg, seed=3)
    assert torch.equal(a, degrade_fixed(x, cfg, seed=3))
    assert torch.equal(a[5:], degrade_fixed(x[5:], cfg, seed=3, start=5))  # image i alike in any batch
    if task != "superres":  # deterministic by nature
        assert not torch.equal(a, degrade_fixed(x, cfg, seed=4))
        g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
        assert torch.equal(degrade(x, cfg, g1), degrade(x, cfg, g2))  # training draws: from the generator alone


@pytest.mark.parametrize("mask", ["box", "boxes", "strokes"])
def test_inpaint_keeps_known_pixels_exactly_and_marks_holes(mask):
    cfg = DataConfig(task="inpaint", mask=mask, channels=3, mask_count=4)
    x = clean(c=3)
    d = degrade_fixed(x, cfg)
    m = d[:, 3:]
    assert set(m.unique().tolist()) <= {0.0, 1.0} and m.sum() > 0
    known = (m == 0).expand_as(x)
    assert torch.equal(d[:, :3][known], x[known])
    assert (d[:, :3][~known] == 0).all()
    if mask == "box":
        assert m[0, 0].sum() == 14 * 14 and m[0, 0, 14, 14] == 1


def test_masks_respect_size_and_count():
    draw = _Draw(20, torch.Generator().manual_seed(0), "cpu")
    small = masks(DataConfig(mask="boxes", mask_size=0.2, mask_count=1), 20, 40, 40, draw)
    assert small.sum(dim=(1, 2, 3)).max() <= 8 * 8
    strokes = masks(DataConfig(mask="strokes", mask_count=3), 20, 40, 40, draw)
    assert (strokes.mean(dim=(1, 2, 3)) > 0).all() and (strokes.mean(dim=(1, 2, 3)) < 1).all()


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_superres_sizes_and_antialiasing(scale):
    cfg = DataConfig(task="superres", scale=scale, resolution=32)
    assert degrade(clean(side=32), cfg, None).shape[-1] == 32 // scale
    stripes = torch.ones(1, 1, 64, 64)
    stripes[..., ::2] = -1  # a pattern finer than any output pixel: antialiasing averages it to grey
    assert downsample(stripes, scale)[..., 2:-2].abs().max() < 0.05  # (the borders see a clamped edge)
    assert F.interpolate(stripes, scale_factor=1 / scale, mode="nearest").abs().min() == 1  # what aliasing is


def test_denoise_strength_follows_sigma_and_poisson_peak():
    x = torch.zeros(4, 1, 64, 64)
    for sigma in (10.0, 50.0):
        d = degrade_fixed(x, DataConfig(task="denoise", noise_sigma=sigma))
        assert abs(float((d - x).std()) * 127.5 - sigma) < 0.1 * sigma
    weak = degrade_fixed(x, DataConfig(task="denoise", noise="poisson", noise_peak=1000.0))
    strong = degrade_fixed(x, DataConfig(task="denoise", noise="poisson", noise_peak=5.0))
    assert (weak - x).abs().mean() < (strong - x).abs().mean()


def test_rain_only_brightens_and_grows_with_intensity():
    x = clean(c=3)
    light = degrade_fixed(x, DataConfig(task="derain", rain_intensity=0.2))
    heavy = degrade_fixed(x, DataConfig(task="derain", rain_intensity=1.0))
    assert (light >= x - 1e-6).all()
    assert (heavy - x).mean() > (light - x).mean() > 0


def test_haze_follows_the_scattering_model():
    cfg = DataConfig(task="dehaze", haze_beta=1.0, haze_airlight=1.0)
    x = -torch.ones(1, 1, 16, 16)  # black scene: I = A (1 - t)
    d = (degrade_fixed(x, cfg) + 1) / 2
    assert d[0, 0, -1].max() < 2 / 255 + 1e-6  # depth 0 at the bottom: no haze
    assert (d[0, 0, 0] > d[0, 0, 8]).all()  # more haze higher up (farther)
    assert depth_proxy(1, 5, 3)[0, 0, :, 0].tolist() == [1.0, 0.75, 0.5, 0.25, 0.0]


def test_config_refuses_bad_task_values():
    base = {"data": {"task": "superres"}, "train": {"kimg": 1}}
    for override, field in [("data.scale=3", "data.scale"), ("data.task=blur", "data.task"),
                            ("data.resolution=30", "data.resolution"), ("data.mask=circle", "data.mask"),
                            ("loss.l1_weight=-1", "loss.l1_weight"), ("model.upsample=pixelshuffle", "model.upsample"),
                            ("model.arch=dcgan", "model.arch"), ("loss.pl_weight=1", "loss.pl_weight")]:
        with pytest.raises(C.ConfigError, match=f"^{field}"):
            C.resolve(overrides=[base, override])
    assert C.resolve(overrides=[base]).model.arch == "unet"  # the image-to-image default
    assert C.game_of(C.resolve(overrides=[base])) == "paired"
    with pytest.raises(C.ConfigError, match="^model.arch"):
        C.resolve(overrides=[{"model": {"arch": "unet"}, "train": {"kimg": 1}}])
    assert replace(DataConfig(), task="denoise").task == "denoise"


def test_rain_streaks_keep_their_training_length_on_larger_images():
    cfg = DataConfig(task="derain", resolution=28, rain_density=0.01)
    small = degrade_fixed(-torch.ones(1, 1, 28, 28), cfg)
    large = degrade_fixed(-torch.ones(1, 1, 280, 280), cfg)
    wet = lambda d: float((d > -1).float().mean())
    assert abs(wet(large) - wet(small)) < 0.5 * wet(small) + 0.02  # about the same share of pixels under rain
