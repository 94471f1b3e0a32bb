"""Evaluation while training: when to evaluate, what to log, which generator to keep.

With ``eval.every_kimg`` or ``eval.every_minutes`` set, the trainer scores the
generator it shows (EMA when on) with `gankit.evaluation.evaluate` before the
first step, on the schedule, and at the end. Each result is one metrics.jsonl
line::

    {"step": 1200, "images": 76800, "seconds": 81.2, "fid": 23.4, "precision": 0.41, ...,
     "eval": {"num": 10000, "seconds": 13.9, "floor": {"fid": 0.09, ...}, "best": true}}

and the best generator so far by ``eval.best`` is exported to
``generator-best/`` (same format as ``generator/``, its config.json holding
the scores). Evaluation time is not training time: it is left out of
``seconds``, of the minutes budget and of the logged throughput. It draws its
samples from a fixed latent seed (0, as `gankit evaluate` does) and runs with
every global RNG saved and restored, so a run with evaluation trains exactly
as one without.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gankit.config import Config, ConfigError
from gankit.data import has_labels
from gankit.evaluation.catalog import (HIGHER_IS_BETTER, IMAGE_METRICS, LOWER_IS_BETTER, TOY_METRICS,
                                       TRAIN_IMAGE_METRICS, TRAIN_TOY_METRICS)
from gankit.io.generator import export_generator

BEST_FOLDER = "generator-best"
EVAL_SEED = 0
TRANSLATE_NUM = 1000
"""Image-to-image runs: test images translated per evaluation when eval.num is 0."""


def plan(cfg: Config) -> tuple[list[str], str | None]:
    """The metrics to compute and the one that picks the best generator (None: keep none).

    Raises ConfigError naming the field for unknown metrics, metrics of the other kind of
    data, a `best` outside `metrics` or without a direction, and images without class labels."""
    from gankit.data.stacked import BASES as STACKED
    from gankit.evaluation.stacked import READ as STACKED_METRICS
    e = cfg.eval
    # Per kind of data: (known metrics, the default ones, the default `best`, its name in errors).
    if cfg.data.task != "none":  # image-to-image: outputs vs targets of the test split
        from gankit.evaluation.restoration import RESTORATION_METRICS
        realism = has_labels(replace(cfg.data, task="none")) and cfg.data.task != "paired"
        known, default, default_best, kind = (tuple(RESTORATION_METRICS) if realism else ("psnr", "ssim"),
                                              ("psnr", "ssim", "fid") if realism else ("psnr", "ssim"), "psnr",
                                              f"data.task = {cfg.data.task}")
    elif cfg.data.name.startswith("toy-"):
        known, default, default_best, kind = TOY_METRICS, TRAIN_TOY_METRICS, "reverse_kl", "toy data"
    elif cfg.data.name in STACKED:  # mode-counted like toy data
        known, default, default_best, kind = STACKED_METRICS, tuple(STACKED_METRICS), "reverse_kl", cfg.data.name
    else:
        if not has_labels(cfg.data):
            raise ConfigError(f"eval: {cfg.data.name} at {cfg.data.path or '(default path)'} has no class labels, "
                              f"and the domain classifier that evaluation uses as its feature space is trained on "
                              f"them; put the images in one sub-folder per class, or turn evaluation off")
        known, default, default_best, kind = IMAGE_METRICS, TRAIN_IMAGE_METRICS, "fid", "images"
    names = [m.strip().lower() for m in e.metrics.split(",") if m.strip()] or list(default)
    bad = [m for m in names if m not in known]
    if bad:
        raise ConfigError(f"eval.metrics: unknown metric {', '.join(map(repr, bad))} for {kind} "
                          f"(known: {', '.join(known)})")
    best = e.best.strip().lower() or default_best
    if best == "none":
        return names, None
    if best not in names:
        raise ConfigError(f"eval.best: {best!r} is not among the evaluated metrics ({', '.join(names)})")
    if best not in LOWER_IS_BETTER + HIGHER_IS_BETTER + ("psnr", "ssim"):
        raise ConfigError(f"eval.best: {best!r} has no better direction (density is best near 1); "
                          f"pick one of {', '.join(m for m in names if m in LOWER_IS_BETTER + HIGHER_IS_BETTER)}")
    return names, best


def _better(name: str, new: float, old: float | None) -> bool:
    if not math.isfinite(new):
        return False
    if old is None:
        return True
    return new < old if name in LOWER_IS_BETTER else new > old


class TrainEvaluator:
    """Decides when an evaluation is due, runs it, logs it and keeps the best generator."""

    def __init__(self, cfg: Config, run_dir: Path, device, progress: bool, images: int = 0, seconds: float = 0.0):
        """images, seconds: where training stands (non-zero on resume): the schedule continues from there."""
        e = cfg.eval
        self.cfg, self.run_dir, self.device, self.progress = cfg, Path(run_dir), device, progress
        self.every_images = e.every_kimg * 1000
        self.every_seconds = e.every_minutes * 60
        self.enabled = self.every_images > 0 or self.every_seconds > 0
        self.metrics, self.best = plan(cfg) if self.enabled else ([], None)
        self.best_value = self._stored_best(images)
        self.last_images = -1
        self.schedule(images, seconds)

    def _stored_best(self, images: int) -> float | None:
        """On resume: the score of the generator-best/ already on disk (None if there is none).

        One saved after `images` (the resumed checkpoint's count) comes from training that the
        resume abandons, so it is removed rather than allowed to outrank the new run."""
        path = self.run_dir / BEST_FOLDER / "config.json"
        if self.best is None or not path.is_file():
            return None
        try:
            meta = json.loads(path.read_text())
            if int(meta.get("images_seen", 0)) > images:
                shutil.rmtree(path.parent)
                tqdm.write(f"removed {path.parent}: saved at {int(meta['images_seen']):,} images, after the "
                           f"checkpoint this run resumes from ({images:,})")
                return None
            value = meta["eval"]["metrics"][self.best]
            return float(value)
        except (OSError, ValueError, KeyError, TypeError):
            tqdm.write(f"warning: {path} holds no readable {self.best} score; the next evaluation replaces it")
            return None

    def schedule(self, images: int, seconds: float) -> None:
        """Set the next mark after `images` / `seconds` (called after each evaluation and on resume)."""
        self.next_images = (images // self.every_images + 1) * self.every_images if self.every_images else math.inf
        self.next_seconds = (seconds // self.every_seconds + 1) * self.every_seconds if self.every_seconds \
            else math.inf

    def due(self, images: int, seconds: float) -> bool:
        return self.enabled and (images >= self.next_images or seconds >= self.next_seconds)

    def run(self, G, counters, log, info: dict) -> dict:
        """Evaluate `G` now; write the metrics.jsonl line; export it if it is the best so far."""
        from gankit.evaluation.evaluator import evaluate  # evaluation pulls in scipy: only when used

        with _rng_untouched():
            if self.cfg.data.task != "none":  # the test split's inputs, translated (degradations fixed by seed)
                from gankit.evaluation.restoration import evaluate_translator
                result = evaluate_translator(G, self.cfg.data, self.metrics, num=self.cfg.eval.num or TRANSLATE_NUM,
                                             device=self.device, progress=self.progress)
            else:
                result = evaluate(G, metrics=self.metrics, num=self.cfg.eval.num or None, data_cfg=self.cfg.data,
                                  seed=EVAL_SEED, device=self.device, progress=self.progress)
        values = {n: float(m["value"]) for n, m in result["metrics"].items()}
        # An image-to-image floor is the classical baseline's score (None where there is none).
        floors = {n: None if m["floor"] is None else float(m["floor"]) for n, m in result["metrics"].items()}
        is_best = self.best is not None and _better(self.best, values[self.best], self.best_value)
        record = {"step": counters.step, "images": counters.images, "seconds": round(counters.seconds, 3),
                  **values, "eval": {"num": result["num"], "seconds": result["seconds"], "floor": floors,
                                     "best": is_best}}
        log.write(record)
        if is_best:
            self.best_value = values[self.best]
            export_generator(G, self.cfg, self.run_dir, {
                **info, "eval": {"metrics": values, "floor": floors, "num": result["num"], "best": self.best}},
                folder=BEST_FOLDER)
        self.last_images = counters.images
        self.schedule(counters.images, counters.seconds)
        shown = ", ".join(f"{n} {v:.4g}" for n, v in values.items())
        tqdm.write(f"eval at {counters.images / 1000:,.1f} kimg: {shown}"
                   + (f" (best {self.best}: kept in {BEST_FOLDER}/)" if is_best else ""))
        return record


@contextmanager
def _rng_untouched():
    """Save and restore every global RNG (torch CPU/CUDA, NumPy, random): evaluation may fit a
    classifier or draw subsets, and must not change what training draws next."""
    cuda = range(torch.cuda.device_count()) if torch.cuda.is_available() else []
    state_np, state_py = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=cuda):
        try:
            yield
        finally:
            np.random.set_state(state_np)
            random.setstate(state_py)
