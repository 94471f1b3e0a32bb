"""`gankit score`: the discriminator's verdict on image files."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from gankit.apps.score_readings import READINGS
from gankit.cli.common import device_arg


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name, help="the discriminator's verdict on each image (a probability for logistic losses)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Ask a run's discriminator (from its newest complete checkpoint) how real each image "
                    "looks: one line per image. For the logistic losses (nonsaturating, minimax) the number "
                    "is D's probability that the image is real; for the others it is D's raw score, read "
                    "as the first line on stderr says. Images of another size or channel count are "
                    "resized/converted to fit, with a note; unreadable files are reported by name and make "
                    "the exit status 1.",
        epilog="what the number is, by the run's loss.name:\n"
               + "".join(f"  {name:<14} {r.text}\n" for name, r in READINGS.items())
               + "\nexamples:\n  gankit score runs/demo photo1.png photo2.jpg\n"
               "  gankit score runs/demo samples/*.png --json verdicts.json")
    p.add_argument("run", metavar="RUN", help="a run folder or one of its checkpoint folders")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, BMP, WebP)")
    p.add_argument("--json", metavar="FILE", help="also write the verdicts as JSON to FILE ('-' for stdout only)")
    device_arg(p)
    return p


def run(args) -> int:
    from gankit.apps.score import reading, score_files
    from gankit.io.generator import load_discriminator
    D, cfg = load_discriminator(args.run, device=args.device)
    if cfg.data.name.startswith("toy"):
        raise ValueError(f"{args.run}: this run was trained on toy points ({cfg.data.name}), not images")
    if cfg.model.conditional in ("concat", "projection"):
        raise ValueError(f"{args.run}: its discriminator is class-conditional ({cfg.model.conditional}) and judges "
                         f"an image together with a class; scoring conditional runs is not built yet")
    if cfg.model.pack > 1:
        raise ValueError(f"{args.run}: its discriminator judges packs of {cfg.model.pack} images "
                         f"(model.pack), not single images")
    verdicts = score_files(D, cfg, args.images)
    how = reading(cfg.loss.name)
    # stdout keeps one line per image (scriptable); what the number means goes to stderr.
    what = ("D's probability that the image is real, sigmoid(logit); 0.5 = undecided" if how.probability
            else f"raw score, a {how.text}")
    print(f"gankit: loss {cfg.loss.name}: {what}", file=sys.stderr)
    if args.json == "-":
        print(json.dumps([asdict(v) for v in verdicts], indent=2))
    else:
        for v in verdicts:
            if v.error:
                print(f"{v.path}\tERROR\t{v.error}")
            else:
                value = f"{v.probability:.4f}" if how.probability else f"{v.score:+.4f}"
                print(f"{v.path}\t{value}" + (f"\t({v.note})" if v.note else ""))
        if args.json:
            from gankit.io.files import write_text_atomic
            write_text_atomic(args.json, json.dumps([asdict(v) for v in verdicts], indent=2))
    return 1 if any(v.error for v in verdicts) else 0
