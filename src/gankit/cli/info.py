"""`gankit info`: what a run, checkpoint or generator folder holds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help="show what a run, checkpoint or generator folder holds",
                       description="Show the config, progress (images seen, epochs, time), the last logged "
                                   "losses and the checkpoints of a run; or the contents of one checkpoint "
                                   "or generator folder.",
                       epilog="example:\n  gankit info runs/demo\n  gankit info runs/demo --json",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", metavar="RUN_OR_CHECKPOINT", help="a run folder, checkpoint folder or generator folder")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    return p


def describe(path: Path) -> dict:
    """A JSON-able summary of a run, checkpoint or generator folder."""
    from gankit import config as config_mod
    from gankit.io.checkpoint import CheckpointError, complete_checkpoints, load_checkpoint, verify
    from gankit.io.generator import read_generator_meta
    from gankit.io.logs import read_metrics

    if not path.is_dir():
        raise CheckpointError(f"{path}: no such run, checkpoint or generator folder")
    out: dict = {"path": str(path)}
    if (path / "manifest.json").is_file():
        _, state, text = load_checkpoint(path)
        out.update(kind="checkpoint", counters=state["counters"], config=config_mod.tomllib.loads(text))
        return out
    if (path / "config.json").is_file() and (path / "model.safetensors").is_file():
        meta = read_generator_meta(path)
        out.update(kind="generator", **{k: v for k, v in meta.items() if k not in ("format", "version")})
        return out
    if not (path / "config.toml").is_file():
        raise CheckpointError(f"{path}: not a gankit run, checkpoint or generator folder")
    out.update(kind="run", config=config_mod.tomllib.loads((path / "config.toml").read_text()))
    checkpoints = []
    for ckpt in complete_checkpoints(path):
        try:
            verify(ckpt)
            checkpoints.append({"path": str(ckpt), "ok": True})
        except CheckpointError as e:
            checkpoints.append({"path": str(ckpt), "ok": False, "problem": str(e)})
    out["checkpoints"] = checkpoints
    good = [c["path"] for c in checkpoints if c["ok"]]
    if good:
        out["counters"] = load_checkpoint(good[-1])[1]["counters"]
    records = [r for r in read_metrics(path) if "loss_d" in r]  # alarm lines carry no losses
    if records:
        out["last_metrics"] = records[-1]
    raised = [r["alarm"] for r in read_metrics(path) if "alarm" in r]
    if raised:
        out["alarms"] = raised
    out["generator"] = str(path / "generator") if (path / "generator" / "model.safetensors").is_file() else None
    return out


def _text(info: dict) -> str:
    cfg = info.get("config", {})
    lines = [f"{info['kind']}: {info['path']}"]
    if cfg:
        d, m, t = cfg.get("data", {}), cfg.get("model", {}), cfg.get("train", {})
        budget = ", ".join(f"{k} {t[k]:g}" for k in ("minutes", "epochs", "kimg") if t.get(k))
        shape = "" if str(d.get("name", "")).startswith("toy") else \
            f" {d.get('channels')}x{d.get('resolution')}x{d.get('resolution')}"
        lines.append(f"  data      {d.get('name')}{shape}")
        lines.append(f"  model     {m.get('arch')} width {m.get('width')} z_dim {m.get('z_dim')}, "
                     f"loss {cfg.get('loss', {}).get('name')}, batch {t.get('batch_size')}, d_steps {t.get('d_steps')}")
        lines.append(f"  budget    {budget}")
    c = info.get("counters")
    if c:
        lines.append(f"  progress  {c['images']:,} images, epoch {c['epoch']}, {c['step']:,} G steps, "
                     f"{c['seconds'] / 60:.1f} min")
    if "images_seen" in info:
        lines.append(f"  trained   {info['images_seen']:,} images ({info.get('epochs', 0):.2f} epochs, "
                     f"{info.get('train_seconds', 0) / 60:.1f} min), output shape {info.get('shape')}")
    m = info.get("last_metrics")
    if m:
        lines.append(f"  last log  loss_d {m['loss_d']:.3f} loss_g {m['loss_g']:.3f} D(x) {m['d_real']:.3f} "
                     f"D(G(z)) {m['d_fake']:.3f} at {m['images']:,} images, {m['img_per_s']:.0f} img/s")
    for alarm in info.get("alarms", []):
        lines.append(f"  alarm     [{alarm['kind']}] at {alarm['images']:,} images: {alarm['message']}")
    for ck in info.get("checkpoints", []):
        lines.append(f"  checkpoint {ck['path']}" + ("" if ck["ok"] else f"  DAMAGED: {ck['problem']}"))
    if info.get("kind") == "run":
        lines.append(f"  generator {info.get('generator') or '(not exported yet)'}")
    return "\n".join(lines)


def run(args) -> int:
    info = describe(Path(args.path))
    print(json.dumps(info, indent=2, default=str) if args.json else _text(info))
    return 0
