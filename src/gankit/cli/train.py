"""`gankit train`: train a GAN from a preset or a config file, or resume a run."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

from gankit import config as config_mod
from gankit.cli.common import add_data_args, data_overrides, positive_float, seed

DEFAULT_PRESET = "fashion-dcgan"


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    presets = config_mod.preset_names()
    p = sub.add_parser(
        name, help="train a GAN (default: DCGAN on Fashion-MNIST)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a GAN. With no arguments, trains the default preset "
                    f"({DEFAULT_PRESET}) on Fashion-MNIST into runs/{DEFAULT_PRESET}/.",
        epilog="""examples:
  gankit train --minutes 5                         default preset, 5 minutes of training
  gankit train --preset toy-ring --kimg 200        8-Gaussian ring, 200k samples
  gankit train --data ./my_images --set data.resolution=32 --set data.channels=3
  gankit train --set model.width=32 --set optim.lr_d=1e-4 --print-config
  gankit train --config runs/x/config.toml --out runs/x-again
  gankit train --resume runs/x --minutes 10        continue runs/x until 10 minutes in total
  gankit train --minutes 10 --eval-every 50        FID etc. every 50k images into metrics.jsonl,
                                                   the best generator kept in RUN_DIR/generator-best/
  gankit train --set data.task=superres --set data.scale=4   image-to-image (pix2pix U-Net + PatchGAN;
                                                   the pix2pix preset is the default then); tasks:
                                                   superres, inpaint, denoise, derain, dehaze, paired
  gankit train --preset cyclegan --minutes 10      unpaired translation, Sneaker <-> Ankle boot (CycleGAN;
                                                   --preset munit: example-guided style); your domains:
                                                   --set data.domain_a=./horses --set data.domain_b=./zebras

Every config field can be set with --set SECTION.FIELD=VALUE; --print-config
shows them all with their resolved values.

A checkpoint is written every half minute of training (train.checkpoint_every_minutes)
and at the end, so a crash or kill -9 loses at most about that much: continue with
--resume RUN_DIR. Ctrl-C saves and stops; RUN_DIR is locked while training.

Many processes (CPU cores with gloo, or one GPU each with nccl):
  torchrun --nproc-per-node 2 -m gankit train --preset toy-ring --kimg 200
runs the same config as one process would: train.batch_size is the global batch (it must
divide by the number of processes), only rank 0 writes, and a checkpoint resumes under any
number of processes. GANKIT_DIST_TIMEOUT (seconds, default 1800) bounds how long the
processes wait for one another before stopping with an error.""")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", choices=presets, metavar="NAME",
                     help=f"a named experiment: {', '.join(presets)} (default: {DEFAULT_PRESET})")
    src.add_argument("--config", metavar="FILE", help="a config TOML, e.g. runs/x/config.toml of an earlier run")
    src.add_argument("--resume", metavar="RUN_DIR",
                     help="continue RUN_DIR from its newest complete checkpoint, with its stored config")
    add_data_args(p)
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=positive_float, metavar="M", help="train for M wall-clock minutes")
    budget.add_argument("--epochs", type=positive_float, metavar="E", help="train for E passes over the data")
    budget.add_argument("--kimg", type=positive_float, metavar="K", help="train on K thousand real images")
    p.add_argument("--eval-every", type=positive_float, metavar="K",
                   help="evaluate every K thousand images (sets eval.every_kimg; metrics: eval.metrics, "
                        "samples: eval.num); the best generator by eval.best goes to RUN_DIR/generator-best/")
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (default: runs/<preset>)")
    p.add_argument("--seed", type=seed, help="random seed, in [0, 2**32) (sets train.seed)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override any config field, e.g. --set model.width=32 (repeatable)")
    p.add_argument("--allow-inexact-resume", action="store_true",
                   help="with --resume: accept a checkpoint whose training state lacks parts (e.g. an RNG "
                        "state), resetting them with a warning; without it such a checkpoint is refused")
    p.add_argument("--allow-config-change", action="store_true",
                   help="with --resume: accept --set/flag changes to the game (data, model, loss, augment, optim, "
                        "batch size, D steps, seed); budget, cadence, eval, diagnostics and device changes need "
                        "no flag. Every change is printed; a game change is also a metrics.jsonl record")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing run in RUN_DIR (only gankit's own files in it are deleted; "
                        "a non-empty folder that is not a gankit run is refused)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config as TOML and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs still go to metrics.jsonl)")
    return p

IMAGE_TO_IMAGE_PRESET = "pix2pix"
"""The default preset when --set data.task=... (anything but none) is given without a preset or config."""


UNPAIRED_PRESET = "cyclegan"
"""The default preset when --set data.task=unpaired is given without a preset or config."""


def default_preset(overrides) -> str:
    """The preset a run given neither --preset nor --config starts from, by the data.task its
    overrides set (the last one wins): cyclegan for unpaired, pix2pix for another task, else the default."""
    task = None
    for item in overrides:
        value = config_mod.parse_override(item) if isinstance(item, str) else item
        task = value.get("data", {}).get("task", task) if isinstance(value.get("data"), dict) else task
    if task == "unpaired":
        return UNPAIRED_PRESET
    return IMAGE_TO_IMAGE_PRESET if task not in (None, "none") else DEFAULT_PRESET


def config_from_args(args) -> config_mod.Config:
    """Defaults <- preset/config/resumed run <- flags <- --set overrides."""
    overrides: list = []
    preset, file = None, None
    if args.resume:
        file = Path(args.resume) / "config.toml"
        if not file.is_file():
            raise config_mod.ConfigError(f"--resume: {args.resume} has no config.toml (is it a gankit run?)")
        overrides.append({"out": str(args.resume)})
    elif args.config:
        file = args.config
    else:
        preset = args.preset or default_preset(args.overrides)
        overrides.append({"out": f"runs/{preset}"})
    overrides += data_overrides(args)
    for name in ("minutes", "epochs", "kimg"):
        value = getattr(args, name)
        if value is not None:  # one budget replaces the preset's
            overrides.append({"train": {"minutes": 0.0, "epochs": 0.0, "kimg": 0.0, name: value}})
    if args.seed is not None:
        overrides.append({"train": {"seed": args.seed}})
    if args.eval_every is not None:
        overrides.append({"eval": {"every_kimg": args.eval_every, "every_minutes": 0.0}})
    if args.out:
        overrides.append({"out": args.out})
    overrides += args.overrides
    return config_mod.resolve(preset=preset, file=file, overrides=overrides)


def run(args) -> int:
    cfg = config_from_args(args)
    if args.print_config:
        print(cfg.dumps(), end="")
        return 0
    from gankit.training.loop import train
    from gankit.training.stop import TrainingInterrupted
    for flag, given in (("--allow-inexact-resume", args.allow_inexact_resume),
                        ("--allow-config-change", args.allow_config_change)):
        if given and not args.resume:
            raise config_mod.ConfigError(f"{flag}: only means something with --resume RUN_DIR")
    if args.overwrite and args.resume:
        raise config_mod.ConfigError("--overwrite: cannot be combined with --resume (which continues the run)")
    from gankit.training import distributed
    try:
        run_dir = train(cfg, resume=bool(args.resume), overwrite=args.overwrite, progress=not args.no_progress,
                        allow_inexact=args.allow_inexact_resume, allow_config_change=args.allow_config_change)
        main = distributed.is_main()  # (known only once train has joined the process group)
    except TrainingInterrupted:
        # The stop is honoured and what it saves is saved: one more Ctrl-C while the process
        # exits (torch's finalizers take a while) must not end it in a traceback.
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_IGN)
        raise
    finally:
        distributed.close()  # under torchrun: leave the process group before exiting
    if main:
        print(f"done: {run_dir}  (samples in {run_dir / 'samples'}, generator in {run_dir / 'generator'})")
    return 0
