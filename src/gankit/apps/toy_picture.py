"""The figure of the 2014 GAN paper, made from a real run.

A GAN is trained on the 1-D Gaussian in segments (exact resume between them);
after each segment the data density p_data, the generator's density p_g and
the discriminator's D(x) are drawn on one axis. The frames become a PNG strip
and a GIF. Early on D separates the two densities; at the end p_g lies on
p_data and D(x) is flat near 0.5, the equilibrium of the minimax game.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gankit import config as config_mod
from gankit.data.toy import GAUSSIAN_MEAN, GAUSSIAN_STD
from gankit.io.checkpoint import find_latest, load_checkpoint
from gankit.io.files import write_bytes_atomic
from gankit.io.generator import load_state_strict
from gankit.io.images import save_gif
from gankit.models import build
from gankit.training.loop import preflight, train


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ValueError("gankit toy draws with matplotlib: pip install 'gankit[metrics]'") from None
    return plt


@torch.inference_mode()
def _curves(run_dir: Path, cfg: config_mod.Config, xs: torch.Tensor) -> tuple[np.ndarray, np.ndarray, int]:
    """(p_g on xs, D(x) on xs, images seen) from the newest checkpoint of a 1-D run."""
    ckpt, _ = find_latest(run_dir)
    weights, state, _ = load_checkpoint(ckpt)
    G, D = build(cfg.model, (1,))
    load_state_strict(G, weights.get("G_ema", weights["G"]), ckpt)
    load_state_strict(D, weights["D"], ckpt)
    D.eval()
    samples = G.sample(20000, seed=12345)[:, 0]
    width = (xs[1] - xs[0]).item()
    hist = torch.histc(samples, bins=len(xs), min=xs[0].item() - width / 2, max=xs[-1].item() + width / 2)
    p_g = (hist / (hist.sum() * width)).numpy()
    # A packed D (model.pack = m) judges m samples at once: show its verdict on m copies of x.
    d = torch.sigmoid(D(xs[:, None].repeat(1, cfg.model.pack))).numpy()
    return p_g, d, int(state["counters"]["images"])


def _frame(plt, xs, p_data, p_g, d, images: int) -> np.ndarray:
    fig, ax = plt.subplots(figsize=(4, 3), dpi=80)
    ax.plot(xs, p_data, "k--", lw=1.5, label="p_data")
    ax.plot(xs, p_g, color="tab:green", lw=1.5, label="p_g")
    ax.plot(xs, d, color="tab:blue", ls=":", lw=2, label="D(x)")
    ax.axhline(0.5, color="0.7", lw=0.8)
    ax.set_ylim(0, max(1.05, float(p_data.max()) * 1.1))
    ax.set_title(f"{images / 1000:.0f}k images", fontsize=10)
    ax.legend(loc="upper right", fontsize=7, frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    from PIL import Image
    return np.array(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


MAX_MOMENTS = 12
"""Frames at most: each is 320 px wide, so 12 make a 3840 px strip (a 4K screen's width). More make an
image no viewer shows whole, and each moment is a training restart (seconds of set-up each)."""

FRAME_WIDTH = 320  # px: a 4 x 3 inch figure at 80 dpi (see _frame)

MAX_KIMG = 100_000.0
"""Training length at most (10**8 images, hours on a CPU; the picture settles by 150 kimg). Without a bound,
a finite but huge --kimg like 1e308 overflowed to infinity inside training and ended in a traceback."""

CONTROLLED = {"out": "--out", "train.seed": "--seed", "train.kimg": "--kimg", "train.minutes": "--kimg",
              "train.epochs": "--kimg"}
"""Config fields the picture sets itself (to each moment's budget, --seed and --out/run), with the
option to use instead: a --set of one of them would be silently overwritten."""


def _flat_keys(values: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in values.items():
        keys += _flat_keys(value, f"{prefix}{key}.") if isinstance(value, dict) else [f"{prefix}{key}"]
    return keys


def check_overrides(overrides) -> None:
    """Refuse --set of a field the picture controls (CONTROLLED) or of the data (it is always the 1-D Gaussian)."""
    for text in overrides:
        for key in _flat_keys(config_mod.parse_override(text)):
            if key in CONTROLLED:
                raise ValueError(f"--set {key}: gankit toy sets it itself; use {CONTROLLED[key]} instead")
            if key.split(".")[0] == "data":
                raise ValueError(f"--set {key}: gankit toy always draws the 1-D Gaussian (toy-gaussian); "
                                 f"train other data with `gankit train`")


_PER_MOMENT = re.compile(r"^(resuming from .*|config changed on resume: train\.kimg [\d.e+-]+ -> [\d.e+-]+)$")
"""What train() prints on each resume of the picture's own making: the resume and its longer budget."""


def _train_quietly(cfg, resume: bool, overwrite: bool) -> None:
    """train() one segment, passing on what it prints but the _PER_MOMENT lines: every moment after the
    first is a resume, and N such pairs of lines would bury anything worth reading (an alarm)."""
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            train(cfg, resume=resume, overwrite=overwrite, progress=False)
    finally:
        for line in buf.getvalue().splitlines():
            if not _PER_MOMENT.match(line):
                tqdm.write(line)


def toy_picture(out_dir: str | Path, kimg: float = 150.0, moments: int = 6, seed: int = 0,
                overrides: list[str] = (), progress: bool = True, overwrite: bool = False) -> dict:
    """Train the toy-gaussian preset for `kimg` in `moments` equal segments and draw each moment.

    Writes out_dir/run/ (the training run), out_dir/gan_1d.png (the strip) and
    out_dir/gan_1d.gif; returns {"strip", "gif", "run", "final_d_mean"} where
    final_d_mean is the mean of D(x) over the data's +-3 std range at the end.
    `progress` shows one bar over the moments.
    """
    if not 0 < kimg <= MAX_KIMG:
        raise ValueError(f"--kimg: need more than 0 and at most {MAX_KIMG:,.0f}, got {kimg}")
    if not 2 <= moments <= MAX_MOMENTS:
        raise ValueError(f"--moments: need 2 to {MAX_MOMENTS} (each frame is {FRAME_WIDTH} px wide), got {moments}")
    check_overrides(overrides)
    out_dir = Path(out_dir)
    run_dir = out_dir / "run"

    def config(i: int) -> config_mod.Config:
        return config_mod.resolve(preset="toy-gaussian", overrides=[
            *overrides, f"out={run_dir}", f"train.seed={seed}", "train.minutes=0", "train.epochs=0",
            f"train.kimg={kimg * i / moments}"])

    cfg = config(1)  # bad overrides or a bad budget fail here, before anything is written
    if kimg * 1000 / moments < cfg.train.batch_size:  # a moment without one step would repeat the last frame
        raise ValueError(f"--kimg: {kimg:g} kimg in {moments} moments is under one batch "
                         f"({cfg.train.batch_size} images) per moment; give at least "
                         f"{moments * cfg.train.batch_size / 1000:g}")
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out: {out_dir} is a file, not a folder")
    if run_dir.is_dir() and any(run_dir.iterdir()) and not overwrite:
        raise ValueError(f"--out: {out_dir} already holds a toy run; pass --overwrite to replace it")
    plt = _pyplot()
    preflight(cfg)  # model vs data and the like, before the progress bar starts
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--out: cannot create {out_dir} ({e.strerror or e})") from None
    xs = torch.linspace(GAUSSIAN_MEAN - 5 * GAUSSIAN_STD, GAUSSIAN_MEAN + 5 * GAUSSIAN_STD, 200)
    p_data = np.exp(-0.5 * ((xs.numpy() - GAUSSIAN_MEAN) / GAUSSIAN_STD) ** 2) / (GAUSSIAN_STD * math.sqrt(2 * math.pi))
    frames = []
    for i in tqdm(range(1, moments + 1), desc="moments", unit="moment", disable=not progress):
        cfg = config(i) if i > 1 else cfg
        _train_quietly(cfg, resume=i > 1, overwrite=i == 1)
        p_g, d, images = _curves(run_dir, cfg, xs)
        frames.append(_frame(plt, xs.numpy(), p_data, p_g, d, images))
    strip = np.concatenate(frames, axis=1)
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(strip).save(buf, format="PNG")
    write_bytes_atomic(out_dir / "gan_1d.png", buf.getvalue())
    save_gif(frames, out_dir / "gan_1d.gif", ms_per_frame=600)
    near = (xs - GAUSSIAN_MEAN).abs() <= 3 * GAUSSIAN_STD
    return {"strip": out_dir / "gan_1d.png", "gif": out_dir / "gan_1d.gif", "run": run_dir,
            "final_d_mean": float(d[near.numpy()].mean())}
