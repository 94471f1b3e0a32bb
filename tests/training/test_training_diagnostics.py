"""Training diagnostics: each alarm fires on a constructed failure, once per episode, and a healthy stream is silent."""

import math
import random

import pytest
import torch

from gankit import config as C
from gankit.config import DiagnosticsConfig
from gankit.training.diagnostics import Alarm, Monitor, batch_diversity


def record(i, d_real=0.6, d_fake=0.4, loss_d=1.3, loss_g=0.8):
    return {"step": i, "images": 64 * i, "epoch": 0.0, "loss_d": loss_d, "loss_g": loss_g,
            "d_real": d_real, "d_fake": d_fake, "img_per_s": 1000.0, "seconds": 0.1 * i}


def healthy(n, seed=0, start=0):
    rng = random.Random(seed)
    return [record(start + i, d_real=0.6 + rng.gauss(0, 0.05), d_fake=0.4 + rng.gauss(0, 0.05),
                   loss_d=1.3 + rng.gauss(0, 0.15), loss_g=0.9 + rng.gauss(0, 0.3)) for i in range(n)]


def winning(n, start=0):
    """D separates perfectly and the generator loss climbs."""
    return [record(start + i, d_real=0.99, d_fake=0.01, loss_d=0.02, loss_g=4.0 + 0.3 * i) for i in range(n)]


def feed(monitor, records):
    return [a for r in records for a in monitor.observe(r)]


def test_healthy_stream_raises_nothing():
    m = Monitor(DiagnosticsConfig())
    assert feed(m, healthy(2000)) == []
    assert all(m.observe_diversity(1.0 + 0.1 * math.sin(i), 1.2) == [] for i in range(200))
    assert m.history == []


def test_d_wins_fires_once_per_episode_and_rearms_after_recovery():
    m = Monitor(DiagnosticsConfig(window=5))
    first = feed(m, winning(4))
    assert first == []  # not yet a sustained window
    alarms = feed(m, winning(30, start=4))
    assert [a.kind for a in alarms] == ["d_wins"]
    a = alarms[0]
    assert a.step == 4 and a.images == 64 * 4  # the 5th record completes the window
    assert "D(x)" in a.message and "optim.lr_d" in a.suggestion
    assert feed(m, healthy(10, start=34)) == []  # recovery re-arms, silently
    again = feed(m, winning(10, start=44))
    assert [a.kind for a in again] == ["d_wins"]
    assert [a.kind for a in m.history] == ["d_wins", "d_wins"]


def test_d_wins_needs_a_climbing_generator_loss_and_is_skipped_for_critics():
    flat = [record(i, d_real=0.99, d_fake=0.01, loss_d=0.02, loss_g=4.0 - 0.01 * i) for i in range(20)]
    assert feed(Monitor(DiagnosticsConfig()), flat) == []
    assert feed(Monitor(DiagnosticsConfig(), loss="wgan-gp"), winning(20)) == []


def test_d_wins_is_not_rearmed_by_a_single_good_record():
    m = Monitor(DiagnosticsConfig(window=5))
    stream = winning(10) + healthy(1, start=10) + winning(10, start=11)
    assert [a.kind for a in feed(m, stream)] == ["d_wins"]


def test_collapse_fires_after_window_checks_below_ratio():
    m = Monitor(DiagnosticsConfig(window=3, collapse_ratio=0.3))
    m.observe(record(7))
    assert m.observe_diversity(0.5, 1.0) == []  # 50% of real: fine
    assert m.observe_diversity(0.2, 1.0) == []
    assert m.observe_diversity(0.2, 1.0) == []
    alarms = m.observe_diversity(0.2, 1.0)
    assert [a.kind for a in alarms] == ["collapse"]
    assert alarms[0].step == 7 and "20%" in alarms[0].message and "model.pack" in alarms[0].suggestion
    assert m.observe_diversity(0.1, 1.0) == []  # same episode
    for _ in range(3):
        assert m.observe_diversity(0.9, 1.0) == []
    assert m.observe_diversity(0.1, 1.0, step=99, images=999) == []
    assert m.observe_diversity(0.1, 1.0, step=99, images=999) == []
    again = m.observe_diversity(0.1, 1.0, step=99, images=999)
    assert [(a.kind, a.step, a.images) for a in again] == [("collapse", 99, 999)]


def test_collapse_waits_for_a_fresh_generator_but_not_forever():
    """A fresh G's samples are all alike: no alarm until they were diverse once or the warm-up is over."""
    m = Monitor(DiagnosticsConfig(window=2, collapse_warmup_kimg=1.0))
    low = [m.observe_diversity(0.01, 1.0, step=i, images=100 * i) for i in range(10)]  # up to 900 images
    assert all(a == [] for a in low)
    late = [a for i in range(10, 13) for a in m.observe_diversity(0.01, 1.0, step=i, images=100 * i)]
    assert [(a.kind, a.images) for a in late] == [("collapse", 1100)]  # a constant generator is caught


def test_oscillation_fires_on_a_growing_sine_not_on_stationary_noise():
    grow = [record(i, loss_d=1.3, loss_g=1.0 + 0.05 * 1.15 ** i * math.sin(1.3 * i)) for i in range(60)]
    alarms = feed(Monitor(DiagnosticsConfig()), grow)
    assert [a.kind for a in alarms] == ["oscillation"]
    assert "loss_g" in alarms[0].message and "optim.beta1" in alarms[0].suggestion

    rng = random.Random(1)
    noisy = [record(i, loss_d=1.3 + rng.gauss(0, 0.4), loss_g=1.0 + rng.gauss(0, 0.6)) for i in range(3000)]
    assert feed(Monitor(DiagnosticsConfig()), noisy) == []
    steady = [record(i, loss_g=1.0 + 3.0 * math.sin(1.3 * i)) for i in range(200)]  # wide but not growing
    assert feed(Monitor(DiagnosticsConfig()), steady) == []


def test_disabled_monitor_is_silent_but_nonfinite_still_builds_its_alarm():
    m = Monitor(DiagnosticsConfig(enabled=False))
    assert feed(m, winning(30)) == [] and m.observe_diversity(0.0, 1.0) == []
    a = m.nonfinite(12, 768, "loss_d")
    assert isinstance(a, Alarm) and a.kind == "nonfinite" and "loss_d" in a.message
    assert "learning rate" in a.suggestion or "optim.lr" in a.suggestion
    assert a.to_dict() == {"kind": "nonfinite", "message": a.message, "suggestion": a.suggestion,
                           "step": 12, "images": 768}
    assert a.record() == {"images": 768, "step": 12, "alarm": a.to_dict()}


def test_nonfinite_values_in_records_are_skipped():
    m = Monitor(DiagnosticsConfig())
    assert m.observe(record(1, loss_g=math.nan, d_real=math.inf)) == []
    assert m.observe({"step": 2, "images": 128, "loss_d": None}) == []


def test_batch_diversity():
    same = torch.ones(5, 1, 3, 3)
    assert batch_diversity(same) == 0.0
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 8.0]])  # distances 5, 8, 5
    assert batch_diversity(x) == pytest.approx(6.0)
    assert batch_diversity(x.reshape(3, 1, 1, 2)) == pytest.approx(6.0)
    assert batch_diversity(x, max_samples=2) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="at least 2"):
        batch_diversity(torch.zeros(1, 4))


@pytest.mark.parametrize("override, message", [
    ("diagnostics.window=0", "diagnostics.window: must be >= 1, got 0"),
    ("diagnostics.d_real_max=1.0", "diagnostics.d_real_max: must be in (0, 1)"),
    ("diagnostics.d_fake_min=0.96", "diagnostics.d_fake_min: must be in (0, diagnostics.d_real_max"),
    ("diagnostics.collapse_ratio=0", "diagnostics.collapse_ratio: must be in (0, 1)"),
    ("diagnostics.collapse_warmup_kimg=-1", "diagnostics.collapse_warmup_kimg: must be >= 0"),
    ("diagnostics.diversity_every=-1", "diagnostics.diversity_every: must be >= 0"),
    ("diagnostics.osc_window=3", "diagnostics.osc_window: must be >= 4"),
    ("diagnostics.osc_cv=0", "diagnostics.osc_cv: must be > 0"),
    ("diagnostics.osc_growth=0.5", "diagnostics.osc_growth: must be >= 1"),
    ("diagnostics.max_rollbacks=-1", "diagnostics.max_rollbacks: must be >= 0"),
    ("diagnostics.window=two", "diagnostics.window: expected int"),
])
def test_config_validation(override, message):
    with pytest.raises(C.ConfigError) as e:
        C.resolve(preset="fashion-dcgan", overrides=[override])
    assert str(e.value).startswith(message)


def test_config_section_round_trips():
    cfg = C.resolve(preset="fashion-dcgan", overrides=["diagnostics.window=7", "diagnostics.enabled=false"])
    again = C.from_dict(C.tomllib.loads(cfg.dumps()))
    assert again.diagnostics == cfg.diagnostics and again.diagnostics.window == 7
