"""`gankit features`: fit and list the cached domain classifiers that evaluation uses as feature space."""

from __future__ import annotations

import argparse
import textwrap

from gankit.cli.common import positive_int, thread_count


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name, help="fit (once) or list the domain classifiers used as evaluation feature space",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "`fit` trains the small CNN classifier that `gankit evaluate` uses as its feature space on a "
            "dataset's train split, measures its accuracy on the test split and caches it in "
            "$GANKIT_CACHE/features/ (default ~/.cache/gankit/features/). `gankit evaluate` fits it by itself "
            "the first time; run this to do it ahead of time. `list` shows what is cached. The classifier "
            "needs class labels: an image folder must hold one sub-folder per class.", 100),
        epilog="""examples:
  gankit features fit --data fashion-mnist
  gankit features fit --data mnist --data-dir ~/datasets/mnist
  gankit features fit --data ./my_images --resolution 64 --channels 3
  gankit features list""")
    p.add_argument("action", choices=["fit", "list"], help="what to do")
    p.add_argument("--data", metavar="NAME_OR_PATH", default="fashion-mnist",
                   help="dataset name (fashion-mnist, mnist) or a folder with class sub-folders "
                        "(default: fashion-mnist)")
    p.add_argument("--data-dir", metavar="DIR", default="", help="where the dataset files are")
    p.add_argument("--resolution", type=positive_int, default=28,
                   help="image size the classifier works at: the resolution of the runs to evaluate, >= 4 as "
                        "data.resolution (default: 28)")
    p.add_argument("--channels", type=int, choices=[1, 3], default=1, help="1 (grey) or 3 (RGB) (default: 1)")
    p.add_argument("--force", action="store_true", help="fit again even if a classifier is cached")
    p.add_argument("--threads", type=thread_count, default=1,
                   help="CPU threads for the fit; 0 = torch's default (default: 1, the fastest on a 2-core "
                        "CPU: the network's small ops lose to threading overhead)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


FIT_ONLY = {"data": "fashion-mnist", "data_dir": "", "resolution": 28, "channels": 1, "force": False}
"""Options of `fit` with their defaults: `list` shows every cached classifier and would ignore them."""


def _data_cfg(args):
    from pathlib import Path

    from gankit.config import MAX_RESOLUTION, DataConfig
    from gankit.data import DATASETS, DataError
    from gankit.data.toy import DIMS
    if not 4 <= args.resolution <= MAX_RESOLUTION:  # data.resolution's rule: no run to evaluate is outside it
        raise DataError(f"--resolution: must be in [4, {MAX_RESOLUTION}], got {args.resolution}")
    if args.data in DIMS:
        raise DataError(f"--data: {args.data} is toy data; it is scored by modes, with no feature extractor")
    if args.data in DATASETS:
        return DataConfig(name=args.data, path=args.data_dir, resolution=args.resolution, channels=args.channels)
    if Path(args.data).expanduser().is_dir():
        return DataConfig(name="folder", path=args.data, resolution=args.resolution, channels=args.channels)
    raise DataError(f"--data: {args.data!r} is neither a dataset ({', '.join(sorted(DATASETS))}) nor a folder")


def run(args) -> int:
    from gankit.evaluation.classifier import cached_classifiers, classifier_dir, fit_classifier
    if args.action == "list":
        given = [k for k, default in FIT_ONLY.items() if getattr(args, k) != default]
        if given:
            raise ValueError(f"--{given[0].replace('_', '-')}: `features list` shows every cached classifier; "
                             f"it takes no {', '.join('--' + k.replace('_', '-') for k in given)}")
        found = cached_classifiers()
        if not found:
            print("no domain classifiers cached yet (run `gankit features fit --data NAME`)")
        for m in found:
            print(f"{m['dataset']} {m['channels']}x{m['resolution']}x{m['resolution']}: "
                  f"{100 * m['test_accuracy']:.1f}% test accuracy, fitted in {m['train_seconds']:.0f} s; {m['dir']}")
        return 0
    cfg = _data_cfg(args)
    cached = (classifier_dir(cfg) / "meta.json").is_file() and not args.force
    _, meta = fit_classifier(cfg, force=args.force, progress=not args.no_progress, threads=args.threads)
    what = "already cached" if cached else f"fitted in {meta['train_seconds']:.0f} s"
    print(f"{meta['dataset']} domain classifier: {100 * meta['test_accuracy']:.2f}% test accuracy on "
          f"{meta['test_examples']:,} test images ({what}, {meta['steps']} steps on {meta['train_examples']:,} "
          f"train images); {classifier_dir(cfg)}")
    return 0
