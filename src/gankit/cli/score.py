"""`gankit score`: the discriminator's verdict on image files."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from gankit.cli.common import device_arg


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name, help="the discriminator's probability that each image is real",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Ask a run's discriminator (from its newest complete checkpoint) how real each image "
                    "looks: one line per image with the probability of being real. Images of another "
                    "size or channel count are resized/converted to fit, with a note; unreadable files "
                    "are reported by name and make the exit status 1.",
        epilog="examples:\n  gankit score runs/demo photo1.png photo2.jpg\n"
               "  gankit score runs/demo samples/*.png --json verdicts.json")
    p.add_argument("run", metavar="RUN", help="a run folder or one of its checkpoint folders")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, BMP, WebP)")
    p.add_argument("--json", metavar="FILE", help="also write the verdicts as JSON to FILE ('-' for stdout only)")
    device_arg(p)
    return p


def run(args) -> int:
    from gankit.apps.score import score_files
    from gankit.io.generator import load_discriminator
    D, cfg = load_discriminator(args.run, device=args.device)
    if cfg.data.name.startswith("toy"):
        raise ValueError(f"{args.run}: this run was trained on toy points ({cfg.data.name}), not images")
    if cfg.model.pack > 1:
        raise ValueError(f"{args.run}: its discriminator judges packs of {cfg.model.pack} images "
                         f"(model.pack), not single images")
    verdicts = score_files(D, cfg, args.images)
    if args.json == "-":
        print(json.dumps([asdict(v) for v in verdicts], indent=2))
    else:
        for v in verdicts:
            if v.error:
                print(f"{v.path}\tERROR\t{v.error}")
            else:
                print(f"{v.path}\t{v.probability:.4f}" + (f"\t({v.note})" if v.note else ""))
        if args.json:
            from gankit.io.files import write_text_atomic
            write_text_atomic(args.json, json.dumps([asdict(v) for v in verdicts], indent=2))
    return 1 if any(v.error for v in verdicts) else 0
