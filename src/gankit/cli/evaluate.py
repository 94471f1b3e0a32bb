"""`gankit evaluate`: score a trained generator, each metric beside its real-vs-real floor."""

from __future__ import annotations

import argparse
import json
import textwrap
from dataclasses import replace

from gankit.cli.common import check_sample_memory, device_arg, positive_int, seed, thread_count


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    from gankit.evaluation.catalog import DEFAULT_NUM, DEFAULT_TOY_NUM, IMAGE_METRICS, TOY_METRICS
    metric_help = "\n".join(f"  {n:<13} {read}" for n, read in {**IMAGE_METRICS, **TOY_METRICS}.items())
    p = sub.add_parser(
        name, help="FID, KID, precision/recall, density/coverage and class coverage, with real-vs-real floors",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Draw samples from a trained generator and compare them with its dataset in a feature space. "
            "Every metric is printed beside its floor: the same metric between real train and real test "
            "images with the same extractor and sample count, i.e. what a perfect generator would get. "
            "The default feature space is a small classifier trained on the dataset itself (fitted once, "
            "a few minutes on a CPU, then cached in $GANKIT_CACHE/features/, default "
            "~/.cache/gankit/features/); real-data features and floors are cached too, so later "
            "evaluations take seconds. Toy-data runs are scored by modes covered (PacGAN protocol).", 100),
        epilog=f"""metrics (--metrics takes a comma-separated subset; default: all that apply):
{metric_help}

Numbers depend on the extractor and on --num: compare runs only at equal settings.
precision, recall and density compare with one fixed set of 10,000 real train images
whatever --num is, so they agree across --num within sampling error; below --num 500
the k-NN metrics are flagged with a warning (precision's error is about ±0.5/sqrt(num)).
--inception-weights uses the FID Inception-v3 (the network of published FIDs);
gankit does not ship or download its weights: pass pytorch-fid's
pt_inception-2015-12-05-6726825d.pth (or a safetensors copy). Slow on a CPU.

conditional runs (model.conditional): intra_fid and consistency join the default metrics;
cas is only computed when named (it trains the reference classifier: about a minute per
10,000 samples on one core). intra_fid: FID of class c's samples (sample i has class i % K)
against class c's images in the real reference, mean over classes, floor: class c's test
images. consistency: the domain classifier's accuracy w.r.t. the class asked for, floor: its
accuracy on the real test split. cas (Ravuri & Vinyals 2019): a fixed CNN (the domain
classifier's network, 2 epochs, at least 500 Adam steps, seed 0) trained on the --num
labelled samples and tested on the real test split, floor: the same CNN trained on --num
real train images. Per-class values are printed under the table and saved in the JSON.

examples:
  gankit evaluate runs/demo
  gankit evaluate runs/demo --metrics fid,kid --num 5000 --json eval.json
  gankit evaluate runs/demo/generator --inception-weights ~/weights/pt_inception-2015-12-05-6726825d.pth
  gankit evaluate runs/ring                     toy run: modes, high_quality, reverse_kl
  gankit evaluate runs/stacked                  stacked-fashion-mnist run: modes (of 1000), reverse_kl
  gankit evaluate runs/x/generator-best         the best generator kept by train-time evaluation
  gankit evaluate runs/sr --metrics psnr,ssim,fid   an image-to-image run (data.task): its test split's
                                                translations vs the targets, beside the classical baseline
  gankit evaluate runs/faces-100 --metrics copying,kid   did G copy its 80 training faces?
  gankit evaluate runs/fashion-cgan --metrics fid,intra_fid,consistency,cas   a conditional run

copying (Meehan et al. 2020's data-copying test) runs by default when the training split has
fewer than 10,000 images: each sample's distance to its nearest training image is compared
(Mann-Whitney U, per k-means cell of the training set) with the held-out test images' distances.
C_T ~ 0: samples are as new as real held-out images; C_T < -3: flagged as copying; C_T > 0:
samples farther from the data than real images (an imperfect, not a copying, generator).
It also draws the closest sample/training pairs (--copying-picture).""")
    p.add_argument("model", metavar="RUN_OR_GENERATOR", help="a run folder, its generator/ folder or a checkpoint")
    p.add_argument("--metrics", metavar="LIST", help="comma-separated metric names (default: all)")
    p.add_argument("--num", type=positive_int,
                   help=f"samples to draw (default: {DEFAULT_NUM} images, {DEFAULT_TOY_NUM} toy points, "
                        f"26000 stacked images)")
    p.add_argument("--seed", type=seed, default=0, help="latent seed of the samples, in [0, 2**32) (default: 0)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE ('-': JSON on stdout only)")
    p.add_argument("--inception-weights", metavar="FILE",
                   help="use the FID Inception-v3 with these weights (safetensors or a torch state_dict)")
    p.add_argument("--features", choices=["auto", "classifier", "pixels"], default="auto",
                   help="feature space (default auto: the domain classifier, or pixels for datasets with one "
                        "class such as lfw-faces; --inception-weights overrides both)")
    p.add_argument("--copying-picture", metavar="FILE",
                   help="with the copying metric: where to draw the closest sample/training pairs (default: "
                        "copying.png in the run folder, else in the current folder)")
    p.add_argument("--data-dir", metavar="DIR", help="where the run's dataset is, if not where it was trained from")
    p.add_argument("--batch-size", type=positive_int, default=500,
                   help="images per batch through the feature extractor (default: 500)")
    p.add_argument("--threads", type=thread_count, default=1,
                   help="CPU threads (default 1; 0: torch's default); on 2 cores 1 thread measured "
                        "2.7x faster than 2 (14 s vs 38 s for 10k samples)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars or notes on stderr")
    device_arg(p)
    return p


def run(args) -> int:
    from gankit.evaluation.evaluator import evaluate, finite_or_none
    from gankit.evaluation.table import format_table
    from gankit.io.generator import load_generator
    if args.inception_weights:  # fail before any sampling
        from pathlib import Path

        from gankit.evaluation.inception import NOT_SHIPPED
        from gankit.io.files import FileError
        if not Path(args.inception_weights).expanduser().is_file():
            raise FileError(f"--inception-weights: no such file {args.inception_weights!r} ({NOT_SHIPPED})")
    if args.json and args.json != "-":  # fail before the evaluation, which can take minutes
        from pathlib import Path

        from gankit.io.files import FileError
        if Path(args.json).is_dir() or not Path(args.json).parent.is_dir():
            raise FileError(f"--json: cannot write {args.json!r}: " + (
                "it is a folder" if Path(args.json).is_dir() else f"no folder {str(Path(args.json).parent)!r}"))
    if args.copying_picture:  # fail before the evaluation
        from pathlib import Path

        from gankit.io.files import FileError
        if args.metrics and "copying" not in [m.strip().lower() for m in args.metrics.split(",")]:
            raise ValueError("--copying-picture: the picture comes with the copying metric; add it to --metrics")
        pic = Path(args.copying_picture)
        if pic.suffix.lower() != ".png":
            raise ValueError(f"--copying-picture {pic}: give a path ending in .png")
        if pic.is_dir() or not pic.parent.is_dir():
            raise FileError(f"--copying-picture: cannot write {str(pic)!r}: " + (
                "it is a folder" if pic.is_dir() else f"no folder {str(pic.parent)!r}"))
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    from gankit.io.generator import read_generator
    if read_generator(args.model)[0].data.task != "none":
        return _run_translator(args)
    G = load_generator(args.model, device=args.device)
    if args.num:
        check_sample_memory(args.num, G.out_shape, "evaluate")
    if len(G.out_shape) == 1:  # toy points are scored by modes: no feature space, no dataset files
        for given, option in ((args.inception_weights, "--inception-weights"), (args.data_dir, "--data-dir")):
            if given:
                raise ValueError(f"{option}: {args.model} is a toy-data generator, scored by modes "
                                 f"without features or dataset files")
    data_cfg = G.config.data if not args.data_dir else replace(G.config.data, path=args.data_dir)
    result = evaluate(G, metrics=args.metrics, num=args.num, seed=args.seed, data_cfg=data_cfg,
                      extractor="inception" if args.inception_weights else _features(args, data_cfg),
                      inception_weights=args.inception_weights, batch_size=args.batch_size, device=args.device,
                      progress=not args.no_progress)
    result["generator"] = args.model
    if "copying" in result.get("metrics", {}):
        from gankit.evaluation.copying import picture_path, write_picture
        where = write_picture(G, data_cfg, result["metrics"]["copying"], args.seed,
                              args.copying_picture or picture_path(args.model), device=args.device)
        result["metrics"]["copying"]["picture"] = str(where)
    text = json.dumps(finite_or_none(result), indent=2)
    if args.json == "-":
        print(text)
        return 0
    print(format_table(result))
    if "picture" in result.get("metrics", {}).get("copying", {}):
        print(f"wrote {result['metrics']['copying']['picture']} (closest sample/training pairs)")
    if args.json:
        from gankit.io.files import write_text_atomic
        write_text_atomic(args.json, text + "\n")
        print(f"wrote {args.json}")
    return 0


def _run_translator(args) -> int:
    """An image-to-image run: PSNR/SSIM (and FID/KID) of its test-split translations beside the classical
    baseline (the degraded input, or bicubic), not samples vs real data."""
    from gankit.apps.translate import load_translator
    from gankit.evaluation.evaluator import finite_or_none
    from gankit.evaluation.restoration import RESTORATION_METRICS, evaluate_translator
    from gankit.training.evaluate import TRANSLATE_NUM
    if args.inception_weights:
        raise ValueError("--inception-weights: an image-to-image run is scored in its dataset's domain features")
    translator = load_translator(args.model, device=args.device)
    data_cfg = translator.cfg.data if not args.data_dir else replace(translator.cfg.data, path=args.data_dir)
    names = [m.strip().lower() for m in (args.metrics or "psnr,ssim").split(",") if m.strip()]
    bad = [m for m in names if m not in RESTORATION_METRICS]
    if bad or not names:
        raise ValueError(f"--metrics: unknown metric {', '.join(map(repr, bad))} for an image-to-image run "
                         f"(known: {', '.join(RESTORATION_METRICS)})" if bad else "--metrics: none given")
    result = evaluate_translator(translator.G, data_cfg, names, num=args.num or TRANSLATE_NUM, device=args.device,
                                 progress=not args.no_progress)
    result["generator"] = args.model
    text = json.dumps(finite_or_none(result), indent=2)
    if args.json == "-":
        print(text)
        return 0
    print(f"{args.model}: data.task = {data_cfg.task}, {result['num']} test images "
          f"(degradations fixed by data.degrade_seed = {data_cfg.degrade_seed})")
    for name, m in result["metrics"].items():
        floor = "—" if m["floor"] is None else f"{m['floor']:.4g}"
        print(f"  {name:<5} {m['value']:>8.4g}   classical baseline {floor:>8}   {m['read']}")
    if args.json:
        from gankit.io.files import write_text_atomic
        write_text_atomic(args.json, text + "\n")
        print(f"wrote {args.json}")
    return 0


def _features(args, data_cfg) -> str:
    from gankit.evaluation.pixels import default_extractor
    if args.features == "classifier" and default_extractor(data_cfg) == "pixels":
        raise ValueError(f"--features classifier: {data_cfg.name} has one class, so there is no domain "
                         f"classifier to train; use --features pixels (the default for it)")
    return default_extractor(data_cfg) if args.features == "auto" else args.features
