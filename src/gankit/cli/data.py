"""`gankit data`: find a dataset on disk and look at it, with train's data options.

The data config is resolved exactly as `gankit train` resolves it (the default preset, or
--preset/--config, then --data/--data-dir, then --set data.FIELD=VALUE), so what `check`
reports and `grid` draws is what a run with the same options reads, and every piece of advice
an error gives (e.g. "set data.channels = 3") can be followed with this verb's own options.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gankit import config as config_mod
from gankit.cli.common import add_data_args, data_overrides, positive_int
from gankit.cli.train import DEFAULT_PRESET, default_preset


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    presets = config_mod.preset_names()
    p = sub.add_parser(name, help="check where a dataset is found, or write a grid of its images",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Inspect a dataset as training reads it. `check` says where it would be read "
                                   "from and at what size (exit 1 with instructions when it is missing); `grid` "
                                   "writes a PNG of its first images. The data options are train's: a run's "
                                   "preset or config, --data, --data-dir and --set data.FIELD=VALUE.",
                       epilog="examples:\n  gankit data check fashion-mnist\n"
                              "  gankit data check ./photos --set data.channels=3 --set data.resolution=32\n"
                              "  gankit data check stacked-fashion-mnist --set data.channels=3\n"
                              "  gankit data check --config runs/x/config.toml     what run x reads\n"
                              "  gankit data grid fashion-mnist --num 64 --out real.png")
    p.add_argument("action", choices=["check", "grid"], help="what to do")
    p.add_argument("name", nargs="?", metavar="NAME_OR_PATH",
                   help="a dataset name (fashion-mnist, mnist, toy-ring, ...) or a folder of images, right "
                        "after check/grid; the same as --data (default: the preset's or config's dataset)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", choices=presets, metavar="NAME",
                     help=f"read the data of a preset: {', '.join(presets)} (default: {DEFAULT_PRESET})")
    src.add_argument("--config", metavar="FILE", help="read the data of a config TOML, e.g. runs/x/config.toml")
    add_data_args(p)
    p.add_argument("--set", action="append", default=[], metavar="data.FIELD=VALUE", dest="overrides",
                   help="override a data field as train does, e.g. --set data.channels=3 (repeatable)")
    p.add_argument("--num", type=positive_int, default=64, help="images in the grid (default: 64)")
    p.add_argument("--out", default="real.png", help="grid PNG path, ending in .png (default: real.png)")
    return p


def data_config(args) -> config_mod.DataConfig:
    """The data section a `gankit train` with the same options would resolve to."""
    if args.name and args.data and args.name != args.data:
        raise config_mod.ConfigError(f"NAME_OR_PATH {args.name!r} and --data {args.data!r}: give the dataset once")
    for text in args.overrides:
        if list(config_mod.parse_override(text)) != ["data"]:
            raise config_mod.ConfigError(f"--set {text!r}: `gankit data` takes only data.FIELD=VALUE "
                                         f"(e.g. --set data.channels=3)")
    chosen = argparse.Namespace(data=args.data or args.name, data_dir=args.data_dir)
    overrides = data_overrides(chosen, flag="--data" if args.data else "NAME_OR_PATH") + args.overrides
    preset = None if args.config else args.preset or default_preset(args.overrides)
    return config_mod.resolve(preset=preset, file=args.config, overrides=overrides).data


def _shape(cfg: config_mod.DataConfig) -> str:
    kind = "grey" if cfg.channels == 1 else "RGB"
    limit = f", the first {cfg.limit:,} only" if cfg.limit else ""
    return f"read as {kind} {cfg.channels}x{cfg.resolution}x{cfg.resolution}{limit}"


def run(args) -> int:
    from gankit.data import check, load_dataset, toy

    cfg = data_config(args)
    is_toy = cfg.name in toy.DIMS
    if args.action == "check":
        described = check(cfg)
        print(described if is_toy else f"{described}; {_shape(cfg)}")
        return 0
    from gankit.io.images import check_size, grid_shape, plot_points, prepare_dir, save_grid, save_png
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out {out}: `gankit data grid` writes a PNG; give a path ending in .png")
    if not is_toy:  # before reading the data, which can take a while
        height, width = grid_shape(args.num, cfg.resolution, cfg.resolution)
        check_size(out, width, height, hint="use a smaller --num")
    prepare_dir(out.parent)
    data = load_dataset(cfg)
    if data.is_image:
        x = data.x[:args.num]
        if cfg.task == "paired":  # (A, B) pairs held as 2C channels: show A beside B
            import torch
            c = x.shape[1] // 2
            x = torch.cat([x[:, :c], x[:, c:]], dim=3)
        save_grid(x, out)
    else:
        save_png(plot_points(data.x, data.x[:0]), out)
    shown = f"{min(args.num, len(data)):,} of " if data.is_image else ""
    what = "" if is_toy else f", {_shape(cfg)}"
    print(f"wrote {out} ({shown}{len(data):,} examples from {data.source}{what})")
    return 0
