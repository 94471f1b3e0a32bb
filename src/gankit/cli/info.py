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


def _counters(state) -> dict | None:
    counters = state.get("counters") if isinstance(state, dict) else None
    return counters if isinstance(counters, dict) else None


def describe(path: Path) -> dict:
    """A JSON-able summary of a run, checkpoint or generator folder.

    Damaged metrics.jsonl lines are skipped (read_metrics warns once); a damaged checkpoint is
    listed as such; an unreadable config.toml is an error naming it (nothing else says what ran)."""
    from gankit import config as config_mod
    from gankit.io.checkpoint import CheckpointError, complete_checkpoints, load_checkpoint, verify
    from gankit.io.generator import read_generator_meta, verify_generator
    from gankit.io.logs import read_metrics

    if not path.is_dir():
        raise CheckpointError(f"{path}: no such run, checkpoint or generator folder")
    out: dict = {"path": str(path)}
    # before the checkpoint test: a generator folder has a manifest.json too (io/generator.py)
    if (path / "config.json").is_file() and (path / "model.safetensors").is_file():
        meta = read_generator_meta(path)
        out.update({k: v for k, v in meta.items() if k not in ("format", "version", "path", "kind")},
                   kind="generator", **_generator_check(path, verify_generator))
        return out
    if (path / "manifest.json").is_file():
        _, state, _ = load_checkpoint(path)  # verifies every file against the manifest first
        out.update(kind="checkpoint", counters=_counters(state), config=config_mod.load_file(path / "config.toml"))
        return out
    if not (path / "config.toml").is_file():
        raise CheckpointError(f"{path}: not a gankit run, checkpoint or generator folder")
    out.update(kind="run", config=config_mod.load_file(path / "config.toml"))
    checkpoints, counters = [], None
    for ckpt in complete_checkpoints(path):
        try:
            verify(ckpt)
            checkpoints.append({"path": str(ckpt), "ok": True})
        except CheckpointError as e:
            checkpoints.append({"path": str(ckpt), "ok": False, "problem": str(e)})
    for ck in reversed([c for c in checkpoints if c["ok"]]):
        try:  # the newest checkpoint that also loads (hashes can match and a file still not parse)
            counters = _counters(load_checkpoint(ck["path"])[1])
            break
        except CheckpointError as e:
            ck.update(ok=False, problem=str(e))
    out["checkpoints"] = checkpoints
    if counters:
        out["counters"] = counters
    lines = read_metrics(path)
    records = [r for r in lines if "loss_d" in r]  # alarm and evaluation lines carry no losses
    if records:
        out["last_metrics"] = records[-1]
    raised = [r["alarm"] for r in lines if "alarm" in r]
    if raised:
        out["alarms"] = raised
    gen = path / "generator"
    out["generator"] = str(gen) if (gen / "model.safetensors").is_file() else None
    if out["generator"]:
        out["generator_check"] = _generator_check(gen, verify_generator)
    return out


def _generator_check(gen: Path, verify) -> dict:
    """{"ok": True} or {"ok": False, "problem": ...}: the checks loading would make, without loading."""
    from gankit.io.checkpoint import CheckpointError
    try:
        verify(gen)
    except CheckpointError as e:
        return {"ok": False, "problem": str(e)}
    return {"ok": True}


def _n(v, spec: str) -> str:
    """A number as `spec`; anything else (a missing value, a config field of another type) as is."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return format(v, spec)
    return "n/a" if v is None else str(v)


def _table(cfg: dict, key: str) -> dict:
    value = cfg.get(key)
    return value if isinstance(value, dict) else {}


def _text(info: dict) -> str:
    cfg = info.get("config")
    cfg = cfg if isinstance(cfg, dict) else {}  # a generator's config.json can hold anything; --json shows it
    lines = [f"{info['kind']}: {info['path']}"]
    if cfg:
        d, m, t = _table(cfg, "data"), _table(cfg, "model"), _table(cfg, "train")
        budget = ", ".join(f"{k} {_n(t[k], 'g')}" for k in ("minutes", "epochs", "kimg") if t.get(k))
        shape = "" if str(d.get("name", "")).startswith("toy") else \
            f" {d.get('channels')}x{d.get('resolution')}x{d.get('resolution')}"
        lines.append(f"  data      {d.get('name')}{shape}")
        task = d.get("task", "none")
        if task not in ("none", None):  # a translator: its input is an image, it has no z
            lines.append(f"  task      {task}" + (f" x{d.get('scale')}" if task == "superres" else ""))
        latent = f"z_dim {m.get('z_dim')}" if task in ("none", None) else f"upsample {m.get('upsample')}"
        lines.append(f"  model     {m.get('arch')} width {m.get('width')} {latent}, "
                     f"loss {_table(cfg, 'loss').get('name')}, batch {t.get('batch_size')}, "
                     f"d_steps {t.get('d_steps')}")
        lines.append(f"  budget    {budget}")
    c = info.get("counters")
    if c:
        seconds = c.get("seconds")
        minutes = seconds / 60 if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) else None
        lines.append(f"  progress  {_n(c.get('images'), ',')} images, epoch {_n(c.get('epoch'), '')}, "
                     f"{_n(c.get('step'), ',')} G steps, {_n(minutes, '.1f')} min")
    if "images_seen" in info:
        seconds = info.get("train_seconds", 0)
        minutes = seconds / 60 if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) else None
        lines.append(f"  trained   {_n(info['images_seen'], ',')} images ({_n(info.get('epochs', 0), '.2f')} "
                     f"epochs, {_n(minutes, '.1f')} min), output shape {info.get('shape')}")
    m = info.get("last_metrics")
    if m:  # read_metrics leaves numbers or None (a logged non-finite value) in these fields
        lines.append(f"  last log  loss_d {_n(m.get('loss_d'), '.3f')} loss_g {_n(m.get('loss_g'), '.3f')} "
                     f"D(x) {_n(m.get('d_real'), '.3f')} D(G(z)) {_n(m.get('d_fake'), '.3f')} "
                     f"at {_n(m.get('images'), ',')} images, {_n(m.get('img_per_s'), '.0f')} img/s")
    for alarm in info.get("alarms", []):
        lines.append(f"  alarm     [{alarm.get('kind', '?')}] at {_n(alarm.get('images'), ',')} images: "
                     f"{alarm.get('message', '')}")
    for ck in info.get("checkpoints", []):
        lines.append(f"  checkpoint {ck['path']}" + ("" if ck["ok"] else f"  DAMAGED: {ck['problem']}"))
    if info.get("kind") == "generator" and not info.get("ok", True):
        lines.append(f"  DAMAGED: {info.get('problem')}")
    if info.get("kind") == "run":
        check = info.get("generator_check") or {"ok": True}
        lines.append(f"  generator {info.get('generator') or '(not exported yet)'}"
                     + ("" if check["ok"] else f"  DAMAGED: {check['problem']}"))
    return "\n".join(lines)


def run(args) -> int:
    info = describe(Path(args.path))
    print(json.dumps(info, indent=2, default=str) if args.json else _text(info))
    return 0
