"""`gankit` command line: one small module per verb, one error boundary here.

Every expected failure (bad config, missing data, damaged checkpoint, bad
arguments) is printed as one line `gankit: error: ...` with exit status 1;
`--debug` shows the traceback instead. Argument errors from argparse exit 2.
"""

from __future__ import annotations

import argparse
import sys

from gankit import __version__
from gankit.cli import data, evaluate, features, info, interpolate, report, sample, score, toy, train, translate

VERBS = {"train": train, "sample": sample, "interpolate": interpolate, "score": score, "evaluate": evaluate,
         "features": features, "info": info, "data": data, "toy": toy, "report": report, "translate": translate}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gankit", description="Train generative adversarial networks on a laptop CPU and put them to work.",
        epilog="Run `gankit VERB --help` for the options of each verb.")
    parser.add_argument("--version", action="version", version=f"gankit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name, module in VERBS.items():
        p = module.add_parser(sub, name)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show full tracebacks instead of one-line errors")
        p.set_defaults(handler=module.run)
    return parser


def _expected_errors() -> tuple[type[BaseException], ...]:
    from gankit.config import ConfigError
    from gankit.data import DataError
    from gankit.io.checkpoint import CheckpointError
    from gankit.io.files import FileError
    from gankit.models import ModelError
    from gankit.training.loop import TrainingDiverged
    return ConfigError, DataError, ModelError, CheckpointError, FileError, TrainingDiverged, ValueError, OSError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from gankit.training.stop import TrainingInterrupted
    try:
        return args.handler(args) or 0
    except TrainingInterrupted as e:
        print(f"gankit: {e}", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print("gankit: interrupted", file=sys.stderr)
        return 130
    except _expected_errors() as e:
        if args.debug:
            raise
        print(f"gankit: error: {e}", file=sys.stderr)
        return 1
