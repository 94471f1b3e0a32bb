"""A run report: one self-contained HTML page that explains a training run.

The page holds a summary, the alarms raised by the training diagnostics with
their suggestions, the loss curves, D(x) and D(G(z)) against the 0.5
equilibrium, every other numeric curve in metrics.jsonl (FID, KID, augment p,
throughput, ...), the fixed-seed sample grids over training and the resolved
config. Pictures are PNGs embedded as base64 data URIs, so the file can be
mailed or archived on its own and opens without a network.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from pathlib import Path

import numpy as np

from gankit.io.files import FileError, write_text_atomic
from gankit.io.logs import read_metrics

AXES = ("step", "images", "epoch", "seconds")
"""Keys of a metrics record that are positions in time, not curves."""

CORE = ("loss_d", "loss_g", "d_real", "d_fake")

LABELS = {"img_per_s": "throughput (images/s)", "augment_p": "augmentation probability p",
          "instance_noise": "instance noise std", "fid": "FID (lower is better)", "kid": "KID (lower is better)",
          "l1": "L1 part of loss_g (image-to-image, unweighted)",
          "adversarial": "adversarial part of loss_g (image-to-image, unweighted)",
          "psnr": "PSNR, dB (higher is better)", "ssim": "SSIM (higher is better)"}

ALARM_HELP = {
    "d_wins": "the discriminator separates real from generated almost perfectly, so the generator's "
              "gradient vanishes and its loss climbs",
    "collapse": "the generator's fixed-seed samples are much less diverse than real data: it covers few modes",
    "oscillation": "the losses swing with a growing amplitude instead of settling: the game is unstable",
    "nonfinite": "a loss or gradient became NaN/inf; the step was not applied and training rolled back",
}

_GRID_NAME = re.compile(r"^(?P<tag>[A-Za-z]+)_img(?P<images>\d+)_epoch(?P<epoch>\d+)\.png$")


def _figure_module():
    try:
        from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
    except ImportError:
        raise ValueError("gankit report draws its plots with matplotlib: pip install 'gankit[metrics]'") from None
    return Figure


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(b64: str, alt: str, cls: str = "plot") -> str:
    return f'<img class="{cls}" alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _series(records: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(kimg, values) of `key` over the records that have it; None (a logged non-finite) becomes NaN."""
    xs, ys = [], []
    for r in records:
        if key in r and isinstance(r.get("images"), (int, float)):
            v = r[key]
            if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)):
                xs.append(r["images"] / 1000)
                ys.append(math.nan if v is None else float(v))
    return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)


def _smooth(y: np.ndarray, k: int) -> np.ndarray:
    """Centred running mean over k points that skips NaNs."""
    ok = np.isfinite(y)
    kern = np.ones(k)
    num = np.convolve(np.where(ok, y, 0.0), kern, "same")
    den = np.convolve(ok.astype(float), kern, "same")
    out = num / np.maximum(den, 1)
    out[den == 0] = np.nan
    return out


def _draw(ax, x: np.ndarray, y: np.ndarray, label: str, color: str) -> None:
    if len(x) > 200:  # noisy per-window values: faint raw curve plus a running mean to read the trend
        ax.plot(x, y, color=color, lw=0.6, alpha=0.3)
        ax.plot(x, _smooth(y, max(3, len(x) // 100)), color=color, lw=1.5, label=f"{label} (running mean)")
    else:
        ax.plot(x, y, color=color, lw=1.2, marker="." if len(x) < 30 else None, label=label)


def _mark_alarms(ax, alarms: list[dict]) -> None:
    for i, a in enumerate(alarms):
        ax.axvline(a["images"] / 1000, color="tab:red", lw=0.8, ls=":",
                   label="alarm raised" if i == 0 else None)


def _plot(Figure, curves: list[tuple[str, str, str]], records: list[dict], alarms: list[dict], title: str,
          ylabel: str, equilibrium: bool = False, size=(7.5, 3.2)) -> str | None:
    fig = Figure(figsize=size, dpi=96)
    ax = fig.add_subplot()
    drawn = False
    for key, label, color in curves:
        x, y = _series(records, key)
        if len(x):
            _draw(ax, x, y, label, color)
            drawn = True
    if not drawn:
        return None
    if equilibrium:
        ax.axhline(0.5, color="0.4", lw=1, ls="--", label="equilibrium 0.5")
        ax.set_ylim(-0.02, 1.02)
    _mark_alarms(ax, alarms)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("thousands of real images shown to D (kimg)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return _png(fig)


def _other_keys(records: list[dict]) -> list[str]:
    keys: dict[str, None] = {}
    for r in records:
        for k, v in r.items():
            if k not in AXES and k not in CORE and isinstance(v, (int, float)) and not isinstance(v, bool):
                keys[k] = None
    return list(keys)


def sample_grids(run_dir: Path, max_grids: int = 12) -> list[tuple[Path, str]]:
    """The sample grids of a run in training order as (path, caption); all of them when there are at most
    `max_grids`, else `max_grids` evenly spaced ones including the first and the last."""
    found = []
    for p in (run_dir / "samples").glob("*.png") if (run_dir / "samples").is_dir() else ():
        if not p.is_file():  # a folder named like a grid is not one
            continue
        m = _GRID_NAME.match(p.name)
        if m:
            images = int(m["images"])
            found.append(((images, p.name), p, f"{m['tag']}: {images:,} images, epoch {int(m['epoch'])}"))
        else:
            found.append(((math.inf, p.name), p, p.name))
    found.sort(key=lambda t: t[0])
    if len(found) > max_grids:
        picks = sorted(set(np.linspace(0, len(found) - 1, max_grids).round().astype(int).tolist()))
        found = [found[i] for i in picks]
    return [(p, caption) for _, p, caption in found]


def _table(rows: list[tuple[str, str]]) -> str:
    return "<table class=\"kv\">" + "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows) + "</table>"


def _num(v) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0.0


def _loss_name(cfg_text: str) -> str:
    from gankit.config import tomllib
    try:
        return str(tomllib.loads(cfg_text).get("loss", {}).get("name", ""))
    except (tomllib.TOMLDecodeError, AttributeError, RecursionError):
        return ""


def _summary(run_dir: Path, records: list[dict], alarms: list[dict], cfg_text: str) -> str:
    rows = [("run", str(run_dir))]
    # evaluation lines may carry only a metric; the last training line has the losses
    last = next((r for r in reversed(records) if "loss_d" in r), records[-1] if records else {})
    if last:
        rows.append(("progress", f"{_num(last.get('images')):,.0f} images, epoch {_num(last.get('epoch')):g}, "
                                 f"{_num(last.get('step')):,.0f} G steps, {_num(last.get('seconds')) / 60:.1f} min"))
        vals = [f"{name} {last[k]:.3f}" for k, name in (("loss_d", "loss_d"), ("loss_g", "loss_g"),
                                                          ("d_real", "D(x)"), ("d_fake", "D(G(z))"),
                                                          ("l1", "L1"), ("adversarial", "adversarial"))
                if isinstance(last.get(k), (int, float)) and not isinstance(last.get(k), bool)]
        rows.append(("last logged", ", ".join(vals) or "(no values)"))
        if isinstance(last.get("img_per_s"), (int, float)):
            rows.append(("throughput", f"{last['img_per_s']:,.0f} images/s"))
    rows.append(("records", f"{len(records):,} metric lines, {len(alarms)} alarm lines"))
    kinds = sorted({a["kind"] for a in alarms})
    rows.append(("alarms", ", ".join(f"{k} x{sum(a['kind'] == k for a in alarms)}" for k in kinds) or "none raised"))
    generator = run_dir / "generator" / "model.safetensors"
    rows.append(("generator", str(generator.parent) if generator.is_file() else "(not exported yet)"))
    if _loss_name(cfg_text) in ("wgan", "wgan-gp"):
        rows.append(("note", "this run uses a Wasserstein critic: D(x) and D(G(z)) are sigmoids of unbounded "
                             "scores, not probabilities, and the 0.5 line means little"))
    return _table(rows)


def _alarm_section(alarms: list[dict]) -> str:
    if not alarms:
        return "<p class=\"ok\">none raised</p>"
    head = "<tr><th>images</th><th>step</th><th>kind</th><th>what happened</th><th>what to try</th></tr>"
    body = "".join(
        f"<tr><td>{a['images']:,}</td><td>{a['step']:,}</td><td class=\"kind\">{html.escape(a['kind'])}</td>"
        f"<td>{html.escape(a['message'])}</td><td>{html.escape(a['suggestion'])}</td></tr>" for a in alarms)
    kinds = sorted({a["kind"] for a in alarms} & set(ALARM_HELP))
    legend = "".join(f"<li><b>{k}</b>: {html.escape(ALARM_HELP[k])}</li>" for k in kinds)
    return f"<table class=\"alarms\">{head}{body}</table><ul class=\"note\">{legend}</ul>"


def _alarms(lines: list[dict]) -> list[dict]:
    """The alarm lines of metrics.jsonl ({"images", "step", "alarm": {...}}) as flat dicts, in order."""
    out = []
    for r in lines:
        a = r.get("alarm")
        if not isinstance(a, dict):
            continue
        images, step = a.get("images", r.get("images", 0)), a.get("step", r.get("step", 0))
        out.append({"kind": str(a.get("kind", "?")), "message": str(a.get("message", "")),
                    "suggestion": str(a.get("suggestion", "")),
                    "images": int(images) if isinstance(images, (int, float)) else 0,
                    "step": int(step) if isinstance(step, (int, float)) else 0})
    return out


_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .3em .6em; text-align: left; vertical-align: top; }
table.kv th { background: #f5f5f5; white-space: nowrap; }
table.alarms th { background: #fbe9e7; } td.kind { font-weight: bold; color: #b71c1c; white-space: nowrap; }
p.ok { color: #1b5e20; font-weight: bold; }
.note { color: #555; font-size: .9em; }
img.plot { max-width: 100%; display: block; margin: .4em 0; }
.metrics { display: flex; flex-wrap: wrap; gap: .5em; } .metrics img.plot { max-width: 49%; }
.grids { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; } figcaption { font-size: .85em; color: #555; text-align: center; }
img.grid { image-rendering: pixelated; max-width: 340px; border: 1px solid #ddd; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: .8em; font-size: .85em; overflow-x: auto; }
"""


def render_report(run_dir: str | Path, max_grids: int = 12) -> str:
    """The HTML report of a run folder, as one string (see the module docstring for its sections)."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise FileError(f"{run_dir}: expected a run folder, got a file")
    if not run_dir.is_dir():
        raise FileError(f"{run_dir}: no such run folder")
    if not (run_dir / "metrics.jsonl").is_file():
        raise FileError(f"{run_dir}: no metrics.jsonl (not a gankit run folder, or training has not logged yet)")
    Figure = _figure_module()
    lines = read_metrics(run_dir)
    alarms = _alarms(lines)
    records = [r for r in lines if "alarm" not in r]
    cfg_path = run_dir / "config.toml"
    cfg_text = cfg_path.read_text(encoding="utf-8", errors="replace") if cfg_path.is_file() else ""

    parts = [f"<h1>gankit run report: {html.escape(run_dir.resolve().name)}</h1>",
             _summary(run_dir, records, alarms, cfg_text),
             "<h2>Diagnostics</h2>", _alarm_section(alarms)]

    parts.append("<h2>Losses</h2>")
    losses = _plot(Figure, [("loss_d", "loss_d", "tab:blue"), ("loss_g", "loss_g", "tab:orange")],
                   records, alarms, "discriminator and generator loss", "loss")
    parts.append(_img(losses, "loss curves") if losses else "<p>no losses logged</p>")
    parts.append("<p class=\"note\">Neither loss falling to a floor means success: in a healthy run both hover "
                 "in a band (for the logistic loss loss_d near 2 ln 2 = 1.39 and loss_g near ln 2 = 0.69 at "
                 "equilibrium). A loss_g that climbs while loss_d falls towards 0 means D is winning; swings "
                 "that grow mean the game is unstable.</p>")

    parts.append("<h2>D(x) and D(G(z))</h2>")
    d_plot = _plot(Figure, [("d_real", "D(x), real", "tab:green"), ("d_fake", "D(G(z)), generated", "tab:red")],
                   records, alarms, "discriminator outputs (mean probability of 'real')", "D output",
                   equilibrium=True)
    parts.append(_img(d_plot, "D(x) and D(G(z))") if d_plot else "<p>no discriminator outputs logged</p>")
    parts.append("<p class=\"note\">At the equilibrium of the game both approach 0.5: D cannot tell real from "
                 "generated. A gap that stays wide, D(x) near 1 with D(G(z)) near 0, means D wins outright.</p>")

    if any("l1" in r for r in records):  # image-to-image: loss_g = adversarial_weight * adversarial + l1_weight * L1
        parts.append("<h2>Parts of the generator loss</h2><div class=\"metrics\">")
        for key in ("l1", "adversarial"):
            png = _plot(Figure, [(key, key, "tab:brown")], records, alarms, LABELS[key], key, size=(5.2, 2.8))
            if png:
                parts.append(_img(png, key))
        parts.append("</div><p class=\"note\">loss_g = loss.adversarial_weight x adversarial + loss.l1_weight x "
                     "L1 (the config holds both weights). L1 falling while the adversarial part stays in its band "
                     "is a healthy image-to-image run; an adversarial part of 0 is the L1-only baseline.</p>")
    others = [k for k in _other_keys(records) if k not in ("l1", "adversarial")]
    if others:
        parts.append("<h2>Other metrics</h2><div class=\"metrics\">")
        for key in others:
            png = _plot(Figure, [(key, key, "tab:purple")], records, alarms, LABELS.get(key, key), key,
                        size=(5.2, 2.8))
            if png:
                parts.append(_img(png, key))
        parts.append("</div>")

    grids = sample_grids(run_dir, max_grids)
    parts.append("<h2>Samples over training</h2>")
    if grids:
        parts.append("<p class=\"note\">The same fixed-seed noise at every grid (from the EMA generator when it "
                     "is on), so changes between grids are changes of the generator. "
                     f"{len(grids)} grid(s) shown.</p><div class=\"grids\">")
        for path, caption in grids:
            b64 = base64.b64encode(path.read_bytes()).decode("ascii")
            parts.append(f"<figure>{_img(b64, caption, 'grid')}<figcaption>{html.escape(caption)}"
                         f"</figcaption></figure>")
        parts.append("</div>")
    else:
        parts.append("<p>no sample grids in samples/</p>")

    parts.append("<h2>Config</h2>")
    parts.append(f"<pre>{html.escape(cfg_text)}</pre>" if cfg_text else "<p>no config.toml</p>")
    title = html.escape(f"gankit report: {run_dir.resolve().name}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


def write_report(run_dir: str | Path, out: str | Path | None = None, max_grids: int = 12) -> Path:
    """Write the HTML report of `run_dir` to `out` (default RUN/report.html); returns the path written."""
    out = Path(out) if out is not None else Path(run_dir) / "report.html"
    if out.is_dir():  # checked before the page is drawn, which takes seconds
        raise FileError(f"{out}: is a folder; give the report's file name (e.g. {out / 'report.html'})")
    if Path(run_dir).is_dir() and not out.parent.is_dir():
        raise FileError(f"{out}: folder {out.parent} does not exist")
    text = render_report(run_dir, max_grids)
    write_text_atomic(out, text)
    return out
