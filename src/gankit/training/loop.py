"""The training loop: one readable function over explicit phases.

    set-up       validate, lock the run folder, find data, build models and optimizers,
                 resume if asked (or clear an old run's own files)
    loop         discriminator phase (k steps) -> generator phase -> bookkeeping
                 (metrics, sample grids, checkpoints), until the budget is spent
    finish       final checkpoint, the exported generator folder, final grid

What one D step and one G step compute is the game's (`train.game`, a key of
`gankit.training.games.GAMES`: which batch, which networks, which losses); the
loop owns the rest: backward and optimizer steps, EMA, logging, alarms, rollbacks,
checkpoints and exact resume.

Under torchrun (`gankit.training.distributed`) every rank runs this same loop on its shard of
the global batch; the loop averages gradients after each backward, agrees stops, budgets and
non-finite checks across ranks, and lets only rank 0 write (see that module's docstring).

Progress is counted in real images shown to D (as in StyleGAN), so budgets,
grids and checkpoints mean the same thing at any batch size.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gankit import config as config_mod
from gankit.config import Config, ConfigError
from gankit.data import DATASETS, check as check_data, has_labels, load_dataset, sample_shape, to_float, to_uint8
from gankit.io import rundir
from gankit.io.checkpoint import CheckpointError, complete_checkpoints, find_latest, load_checkpoint, save_checkpoint
from gankit.io.files import write_text_atomic
from gankit.io.generator import export_generator, load_state_strict
from gankit.io.images import ImageTooLarge, check_size, grid_scale, grid_shape, make_grid, plot_points, save_png
from gankit.io.logs import MetricsLog, drop_records_after
from gankit.losses import LOSSES, make_loss
from gankit.models import MODELS
from gankit.training.diagnostics import Monitor, batch_diversity
from gankit.training.changes import config_changes, describe
from gankit.training import distributed as dist
from gankit.training.ema import EMA
from gankit.training.evaluate import TrainEvaluator, plan as plan_evaluation
from gankit.training.games import GAMES, Game
from gankit.training.regularize import Regularizers
from gankit.training.stop import StopRequests, TrainingInterrupted
from gankit.training.state import Batches, Counters, capture, make_optimizers, restore, select_device


class TrainingDiverged(Exception):
    """Training produced non-finite values again after the allowed number of rollbacks."""


def preflight(cfg: Config) -> str:
    """Every check that needs no heavy work: values, registry names, model vs data shape,
    data on disk, device. Raises ConfigError / ModelError / DataError; returns the data source."""
    config_mod.validate(cfg)
    for field, name, registry in (("data.name", cfg.data.name, DATASETS), ("model.arch", cfg.model.arch, MODELS),
                                  ("loss.name", cfg.loss.name, LOSSES), ("train.game", config_mod.game_of(cfg), GAMES)):
        if name not in registry:
            raise ConfigError(f"{field}: unknown {name!r} (known: {', '.join(sorted(registry))})")
    shape = sample_shape(cfg.data)
    GAMES[config_mod.game_of(cfg)].check(cfg, shape)  # the game's networks: check_model unless it builds others
    if cfg.model.conditional != "none":
        _check_conditional(cfg)
    if len(shape) == 3:  # every fixed-seed grid must be a picture a viewer opens, known before training
        height, width = grid_shape(cfg.train.grid_size, shape[-2], shape[-1])
        scale = grid_scale(shape[-1])
        try:
            check_size(Path(cfg.out) / "samples", width * scale, height * scale, hint="lower it")
        except ImageTooLarge as e:
            raise ConfigError(f"train.grid_size: {cfg.train.grid_size} samples make grids too large: {e}") from None
    if cfg.eval.every_kimg or cfg.eval.every_minutes:
        plan_evaluation(cfg)
    try:
        select_device(cfg.train.device)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return check_data(cfg.data)


def _check_conditional(cfg: Config) -> None:
    """A conditional run needs labelled data (read no image data to tell)."""
    method = cfg.model.conditional
    if not has_labels(cfg.data):
        where = f"the folder {cfg.data.path!r} has no class sub-folders" if cfg.data.name == "folder" \
            else f"data.name = {cfg.data.name!r} has no labels"
        raise ConfigError(f"model.conditional: {method!r} needs class labels, and {where}; put the images in one "
                          f"sub-folder per class, or set model.conditional=none")


def _plan_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> list[Path]:
    """With the lock held: refuse to resume nothing or to clobber a run; returns the old run's
    own entries to delete once the new run is ready to start (nothing is deleted here)."""
    if not resume:
        return rundir.plan_start(run_dir, overwrite)
    if not complete_checkpoints(run_dir):
        again = (f"start it again with gankit train --config {run_dir / 'config.toml'} --out {run_dir}"
                 if (run_dir / "config.toml").is_file() else "start it again without --resume")
        raise CheckpointError(f"{run_dir}: nothing to resume (no complete checkpoint: training stopped "
                              f"before its first one); {again}")
    return []


def train(cfg: Config, *, resume: bool = False, overwrite: bool = False, progress: bool = True,
          allow_inexact: bool = False, allow_config_change: bool = False) -> Path:
    """Train a GAN as described by `cfg`; returns the run directory.

    resume:    continue from the newest complete checkpoint in `cfg.out`.
    allow_inexact: resume even from a checkpoint whose state lacks parts (e.g. an RNG),
               resetting them with a warning; otherwise such a checkpoint is refused.
    allow_config_change: resume even with a config that changes the game (data, model, loss,
               augmentation, optimizer, batch size, D steps, seed); otherwise that is refused.
               Every change is printed; a game change is also a metrics.jsonl record.
    overwrite: replace an existing run in `cfg.out` (otherwise that is an error). Only the run's
               own files are deleted; a non-empty folder that is not a gankit run is refused.
    The run folder is locked while training, so a second writer is refused.
    """
    # ---- set-up: everything that can fail on bad input fails here, before heavy work
    source = preflight(cfg)
    run_dir = Path(cfg.out)
    kwargs = dict(resume=resume, overwrite=overwrite, allow_inexact=allow_inexact,
                  allow_config_change=allow_config_change)
    try:
        dist.init(select_device(cfg.train.device))  # a world of size 1 unless torchrun started this
        try:
            dist.check_batch(cfg.train.batch_size, cfg.model.pack)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if not dist.is_main():  # rank 0 alone locks and prepares the folder; the others wait for it
            dist.barrier("the wait for rank 0 to prepare the run folder")
            with dist.quiet():
                return _train(cfg, run_dir, source, [], progress=False, **kwargs)
        rundir.check_usable(run_dir, resume, overwrite)  # before the lock creates anything in it
        with rundir.RunLock(run_dir):  # taken before anything of an old run is deleted
            old_entries = _plan_run_dir(run_dir, resume, overwrite)
            dist.barrier("the wait for rank 0 to prepare the run folder")
            return _train(cfg, run_dir, source, old_entries, progress=progress, **kwargs)
    except dist.DistributedError:
        dist.close()  # without it the process aborts on exit instead of failing with the one line
        raise


def _train(cfg: Config, run_dir: Path, source: str, old_entries: list[Path], *, resume: bool, overwrite: bool,
           progress: bool, allow_inexact: bool, allow_config_change: bool) -> Path:
    t = cfg.train
    device = select_device(t.device)
    data = load_dataset(cfg.data, seed=t.seed)
    if len(data) < t.batch_size:  # caught before anything is written, so a rerun is not blocked
        n, pack = len(data), cfg.model.pack
        fit = n - n % pack  # the largest batch the data holds that model.pack still divides
        raise ConfigError(f"train.batch_size: {t.batch_size} is larger than the dataset ({n} example"
                          f"{'s' * (n != 1)}, {source}); "
                          + (f"use --set train.batch_size={fit} or add data" if fit else "add data"))
    if t.threads or not data.is_image:
        torch.set_num_threads(t.threads or 1)
    torch.manual_seed(t.seed)  # weight init and dropout
    random.seed(t.seed), np.random.seed(t.seed)  # anything else that draws, e.g. user code
    game_type = GAMES[config_mod.game_of(cfg)]
    G, D = game_type.build(cfg, data)  # what networks a game plays with is the game's
    # (the same seed on every rank: identical initial weights)
    memory_format = torch.channels_last if t.channels_last and data.is_image else torch.contiguous_format
    G.to(device, memory_format=memory_format), D.to(device, memory_format=memory_format)
    opt_g, opt_d = make_optimizers(cfg, G, D)
    counters = Counters()
    stop = StopRequests(counters)
    noise = torch.Generator(device).manual_seed(t.seed)
    reg = Regularizers(cfg, device)
    ema = EMA(G, cfg.model.ema_half_life_kimg) if cfg.model.ema_half_life_kimg > 0 else None
    G_show = ema.module if ema is not None else G  # the averaged weights are the ones to look at and share
    losses = make_loss(cfg.loss.name, cfg.loss.label_smoothing)
    game = game_type(cfg, G, D, losses, reg, noise, counters, device)
    saved_ranks = None  # on resume: the per-rank random streams of a multi-process checkpoint
    if resume:
        ckpt, skipped = find_latest(run_dir)
        for path, why in skipped:
            tqdm.write(f"skipping {path.name}: {why}")
        weights, state, ckpt_config = load_checkpoint(ckpt)
        game_changes, free_changes = config_changes(ckpt_config, cfg)
        if game_changes and not allow_config_change:
            raise ConfigError(f"resume: the config changes the game the checkpoint was trained in "
                              f"({describe(game_changes)}); "
                              f"pass --allow-config-change to continue with it anyway, or start a new run with "
                              f"--config {run_dir / 'config.toml'} --out NEW_DIR and your --set changes")
        load_state_strict(G, weights["G"], ckpt / "G.safetensors")
        load_state_strict(D, weights["D"], ckpt / "D.safetensors")
        _restore_extras(weights, state, ckpt, reg, ema, game, allow_inexact)
        saved_ranks = state.get("ranks")
        try:  # a state lacking parts is refused unless inexact resumes are allowed: never dropped silently
            reset = restore(state, counters, opt_g, opt_d, noise, allow_inexact=allow_inexact)
        except ValueError as e:
            raise CheckpointError(f"{ckpt / 'state.pt'}: {e}") from None
        if reset:
            tqdm.write(f"warning: inexact resume: {ckpt.name} lacks {', '.join(reset)}; "
                       f"reset to a fresh run's values")
        tqdm.write(f"resuming from {ckpt} at {counters.images:,} images")
        stop.saved = (ckpt, counters.step, counters.images)
        if game_changes or free_changes:
            tqdm.write(f"config changed on resume: {describe({**game_changes, **free_changes})}")
        dropped = drop_records_after(run_dir, counters.step) if dist.is_main() else 0
        if dropped:
            tqdm.write(f"dropped {dropped} metrics.jsonl line(s) logged after step {counters.step:,}; "
                       f"training from the checkpoint logs them again")
    elif old_entries:  # only now, with data and models ready, is an old run replaced
        why = "--overwrite" if overwrite else f"replacing an unfinished run in {run_dir} (it saved no checkpoint)"
        tqdm.write(f"{why}: {rundir.remove_entries(run_dir, old_entries)}")
    _seed_rank_streams(t.seed, reg, saved_ranks, counters.step)
    if dist.is_main():
        (run_dir / "samples").mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / "config.toml", cfg.dumps())  # a kill mid-write must not tear it
    game.batches = Batches(data, t.batch_size, t.seed, device, counters, memory_format)  # from the restored epoch
    B, k = t.batch_size, t.d_steps
    # On resume, TensorBoard hides what the old process logged after the checkpoint (x-axis: images).
    log = MetricsLog(run_dir, purge_step=counters.images + 1 if resume else None) if dist.is_main() \
        else dist.NullLog()
    if resume and game_changes:  # the point where the experiment changed; budget changes are only printed
        log.write({"images": counters.images, "step": counters.step,
                   "config_change": {**game_changes, **free_changes}})
    epoch_images = (len(data) // B) * B  # images in one epoch (a short tail is skipped)
    real_preview = data.x[:4096] if not data.is_image else None

    def done() -> bool:
        if t.epochs:
            return counters.epoch + counters.epoch_pos / epoch_images >= t.epochs
        if t.kimg:
            return counters.images >= t.kimg * 1000
        return counters.seconds >= t.minutes * 60

    def write_samples(tag: str) -> None:
        if not dist.is_main():
            return
        name = f"{tag}_img{counters.images:09d}_epoch{counters.epoch:03d}.png"
        grid = game.picture(G_show)  # a game may draw its own (image-to-image: input | output | target)
        if grid is None and data.is_image:
            grid = _sample_grid(G_show, t.grid_size, t.seed, device)
        if grid is not None:
            save_png(grid, run_dir / "samples" / name, scale=grid_scale(data.x.shape[-1]))
        else:  # toy data: the classic picture of p_data and p_g
            grid = plot_points(real_preview, G_show.sample(2048, seed=t.seed, device=device))
            save_png(grid, run_dir / "samples" / name)
        log.image("samples", grid, counters.images)

    def write_checkpoint() -> Path:
        weights = {"G": G.state_dict(), "D": D.state_dict()}
        if ema is not None:
            weights["G_ema"] = ema.state_dict()
        state = capture(counters, opt_g, opt_d, noise)
        state["regularizers"] = reg.state_dict()
        if game_state := game.state_dict():  # only a game that keeps state adds to the format
            state["game"] = game_state
        if getattr(G, "num_classes", 0):  # a conditional G cannot be rebuilt from a checkpoint without them
            state["classes"] = [str(c) for c in data.classes]
        if dist.world_size() > 1:  # every rank's own streams, for an exact resume under the same N
            state["ranks"] = dist.all_gather_object(_rank_streams(reg))
        if not dist.is_main():  # rank 0 writes it
            stop.saved = (run_dir / "checkpoints" / f"step_{counters.step:09d}", counters.step, counters.images)
            return stop.saved[0]
        with stop.saving():  # a second Ctrl-C lets a save under way finish
            path = save_checkpoint(run_dir, counters.step, weights, state, cfg.dumps(), keep=t.keep_checkpoints)
        stop.saved = (path, counters.step, counters.images)
        return path

    def generator_info() -> dict:
        return {"images_seen": counters.images, "epochs": counters.epoch + counters.epoch_pos / epoch_images,
                "train_seconds": counters.seconds, "steps": counters.step, "source": source,
                "classes": data.classes, "dataset_size": len(data)}

    def next_mark(every_kimg: float) -> float:
        """The next multiple of `every_kimg` thousand images after now (never, when 0)."""
        return math.inf if every_kimg <= 0 else (counters.images // (every_kimg * 1000) + 1) * every_kimg * 1000

    def next_ckpt_time() -> float:
        """Training seconds of the next time-based checkpoint: a kill -9 loses at most about this much."""
        every = t.checkpoint_every_minutes * 60
        return counters.seconds + every if every > 0 else math.inf

    next_sample, next_ckpt, next_ckpt_s = next_mark(t.sample_every_kimg), next_mark(t.checkpoint_every_kimg), \
        next_ckpt_time()
    # Train-time evaluation runs on rank 0 alone; the others wait for it at their next collective.
    evaluator = TrainEvaluator(cfg if dist.is_main() else _without_eval(cfg), run_dir, device, progress,
                               images=counters.images, seconds=counters.seconds)
    if counters.images == 0:
        write_samples("init")
        if evaluator.enabled:  # the baseline; also fits the domain classifier now if it is not cached
            evaluator.run(G_show, counters, log, generator_info())
    monitor = Monitor(cfg.diagnostics, loss=cfg.loss.name)
    diag = cfg.diagnostics
    # A strided subset: the first examples of a sorted image folder would all be one class.
    real_sample = data.x[::max(1, len(data) // 128)][:128].to(device)
    div_reference = batch_diversity(to_float(real_sample) if data.is_image else real_sample) \
        if diag.enabled and diag.diversity_every and len(data) >= 2 and game.checks_collapse else None
    logged, rollbacks = 0, 0
    good = _snapshot(G, D, opt_g, opt_d, ema, reg, game, counters, noise)  # the last state known to be finite
    window = torch.zeros(4, device=device)  # running sums: loss_d, loss_g, D(x), D(G(z))
    window_steps, window_images, window_start = 0, 0, time.perf_counter()
    bar = tqdm(total=_bar_total(t, epoch_images), initial=_bar_value(t, counters), disable=not progress,
               unit="s" if t.minutes else "img", unit_scale=not t.minutes, dynamic_ncols=True, leave=True)

    # ---- the loop
    G.train(), D.train()
    stopping = None  # the stop signal as agreed by all ranks at the end of a step (stop.signum at N = 1)
    with stop, log:  # the log is closed however the loop ends
        while not done() and stopping is None:
            tick = time.perf_counter()
            images_before, epoch_before = counters.images, counters.epoch

            # Discriminator phase: k steps, each on fresh batches the game draws; the last keeps
            # its fake batch's graph for the generator phase.
            for i in range(k):
                loss_d, real_logits, fake_logits = game.d_step(i, last=i == k - 1)
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                dist.average_gradients(D)
                opt_d.step()
                # ADA adapts p to the global batch's logits, so every rank keeps the same p.
                reg.after_d_step(D, dist.all_gather_cat(real_logits) if reg.ada is not None else real_logits, B)

            # Generator phase: one step through the freshly updated discriminator.
            loss_g = game.g_step()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            dist.average_gradients(G)
            opt_g.step()
            if cfg.loss.pl_weight:  # its running mean is linear in the batch's mean length: average it
                reg.pl_mean = dist.mean(reg.pl_mean)
            if ema is not None:
                ema.update(G, counters.images - images_before)
            counters.step += 1
            epoch_ended = counters.epoch != epoch_before

            # Bookkeeping: sums stay on the device; one host sync per logged window.
            with torch.no_grad():
                window += torch.stack([loss_d, loss_g, torch.sigmoid(real_logits).mean(),
                                       torch.sigmoid(fake_logits).mean()]).detach()
            window_steps += 1
            window_images += counters.images - images_before
            counters.seconds += time.perf_counter() - tick
            # Every rank must leave the loop at the same step: the stop and the seconds are agreed.
            stopping, counters.seconds = dist.agree(stop.signum, counters.seconds)
            if counters.step % t.log_every == 0:
                now = time.perf_counter()
                window = dist.mean(window)  # the global batch's means
                # Non-finite values are looked for once per window (no per-step host sync);
                # a bad window is undone by rolling back to the last good snapshot.
                if not dist.all_true(bool(torch.isfinite(window).all()) and _finite_params(G, D)):
                    rollbacks += 1
                    alarm = monitor.nonfinite(counters.step, counters.images, "losses or weights")
                    log.write(alarm.record())
                    tqdm.write(alarm.line())
                    if rollbacks > diag.max_rollbacks:
                        raise TrainingDiverged(
                            f"training diverged: non-finite losses or weights after {diag.max_rollbacks} "
                            f"rollbacks (last at step {counters.step:,}); {alarm.suggestion}")
                    _restore_snapshot(good, G, D, opt_g, opt_d, ema, reg, game, counters, noise)
                    # Re-draw the latents from here on: replaying the same stream would replay the failure.
                    noise.manual_seed(t.seed + 1_000_003 * rollbacks + counters.step)
                    game.batches = Batches(data, t.batch_size, t.seed, device, counters, memory_format)
                    tqdm.write(f"rolled back to step {counters.step:,} ({rollbacks}/{diag.max_rollbacks})")
                    window.zero_()
                    window_steps, window_images, window_start = 0, 0, now
                    continue
                ld, lg, dx, dgz = (window / window_steps).tolist()
                record = {"step": counters.step, "images": counters.images,
                          "epoch": round(counters.epoch + counters.epoch_pos / epoch_images, 4),
                          "loss_d": ld, "loss_g": lg, "d_real": dx, "d_fake": dgz,
                          "img_per_s": window_images / max(now - window_start, 1e-9),
                          "seconds": round(counters.seconds, 3), **reg.log_fields(), **_global_fields(game.log_fields(), device)}
                log.write(record)
                alarms = monitor.observe(record)
                logged += 1
                if div_reference is not None and logged % diag.diversity_every == 0:
                    diversity = batch_diversity(G_show.sample(len(real_sample), seed=t.seed + 1, device=device))
                    alarms += monitor.observe_diversity(diversity, div_reference)
                for alarm in alarms:
                    log.write(alarm.record())
                    tqdm.write(alarm.line())
                bar.set_postfix_str(f"kimg {counters.images / 1000:.1f} loss_d {ld:.3f} loss_g {lg:.3f} "
                                    f"D(x) {dx:.2f} D(G(z)) {dgz:.2f}"
                                    + (f" ALARM {monitor.history[-1].kind}" if monitor.history else ""),
                                    refresh=False)
                good = _snapshot(G, D, opt_g, opt_d, ema, reg, game, counters, noise)
                window.zero_()
                window_steps, window_images, window_start = 0, 0, now
            bar.update(_bar_value(t, counters) - bar.n)
            if (epoch_ended and t.sample_every_kimg <= 0) or counters.images >= next_sample:
                write_samples("epoch" if epoch_ended else "grid")
                next_sample = next_mark(t.sample_every_kimg)
            if evaluator.due(counters.images, counters.seconds):
                started = time.perf_counter()
                evaluator.run(G_show, counters, log, generator_info())
                window_start += time.perf_counter() - started  # keep img_per_s a training figure
            # A state is checkpointed only once known finite (it is what a resume starts from);
            # otherwise the next logged window rolls back and the save is tried again after.
            if (counters.images >= next_ckpt or counters.seconds >= next_ckpt_s) and \
                    dist.all_true(bool(torch.isfinite(window).all()) and _finite_params(G, D)):
                write_checkpoint()
                next_ckpt, next_ckpt_s = next_mark(t.checkpoint_every_kimg), next_ckpt_time()
        bar.close()
        stop.signum = stop.signum or stopping

        # ---- finish: checkpoint and shareable generator (a second Ctrl-C lets them finish), final grid
        if not dist.all_true(bool(torch.isfinite(window).all()) and _finite_params(G, D)):
            # The steps since the last logged window went non-finite: what is saved and shared is the
            # last state known to be finite, never a NaN generator.
            _restore_snapshot(good, G, D, opt_g, opt_d, ema, reg, game, counters, noise)
            tqdm.write(f"non-finite values after the last logged step: saving step {counters.step:,} instead")
        with stop.saving():
            ckpt = write_checkpoint()
            if dist.is_main():
                export_generator(G_show, cfg, run_dir, generator_info())
        write_samples("final" if stop.signum is None else "stopped")
        if evaluator.enabled and evaluator.last_images != counters.images and stop.signum is None:
            evaluator.run(G_show, counters, log, generator_info())
        log.close()
        dist.barrier("the wait for rank 0's final files")  # every process ends once the run is complete
        if stop.signum is not None:
            raise TrainingInterrupted(stop.signum, ckpt, f"interrupted by signal {stop.signum}; state saved in {ckpt} "
                                      f"(step {counters.step:,}, {counters.images:,} images); continue with "
                                      f"gankit train --resume {run_dir}")
    return run_dir


def _without_eval(cfg: Config) -> Config:
    return dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, every_kimg=0.0, every_minutes=0.0))


def _rank_streams(reg: Regularizers) -> dict:
    """This rank's own random streams: torch's global RNG (dropout) and the regularizers' generator."""
    return {"torch": torch.get_rng_state(), "reg_rng": reg.rng.get_state()}


def _seed_rank_streams(seed: int, reg: Regularizers, saved: list | None, step: int) -> None:
    """Ranks other than 0 draw their own dropout masks and augmentations (identical streams would
    give every shard the same ones): restored from a checkpoint of the same rank, else derived from
    (seed, rank, step). Rank 0 keeps the streams a single process has, so N = 1 is unchanged."""
    r = dist.rank()
    if r == 0:
        return
    if saved is not None and r < len(saved):
        torch.set_rng_state(saved[r]["torch"])
        reg.rng.set_state(saved[r]["reg_rng"])
        return
    torch.manual_seed(dist.rank_seed(seed, salt=step))
    reg.rng.manual_seed(dist.rank_seed(seed + 7919, salt=step))


def _global_fields(fields: dict, device: torch.device) -> dict:
    """A game's logged numbers (each a mean over this process's rows) as means over every process."""
    if not fields or dist.world_size() == 1:
        return fields
    keys = sorted(fields)
    values = dist.mean(torch.tensor([float(fields[k]) for k in keys], dtype=torch.float64, device=device))
    return dict(zip(keys, values.tolist()))


def _sample_grid(G, n: int, seed: int, device: torch.device):
    """The fixed-seed training grid of n samples as uint8 (H, W, C); a conditional G gives one row per
    class (the first n classes), each row the same latents of the seed."""
    if not G.num_classes:
        return make_grid(to_uint8(G.sample(n, seed=seed, device=device)))
    shown = min(G.num_classes, n)
    cols = max(1, n // shown)
    images = to_uint8(torch.cat([G.sample(cols, seed=seed, device=device, labels=c) for c in range(shown)]))
    return make_grid(images, nrow=cols)


def _finite_params(*modules: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for m in modules for p in m.parameters())


def _snapshot(G, D, opt_g, opt_d, ema, reg, game: Game, counters: Counters, noise: torch.Generator) -> dict:
    """An in-memory copy of everything the next step depends on (for rollbacks)."""
    return copy.deepcopy({"G": G.state_dict(), "D": D.state_dict(), "opt_g": opt_g.state_dict(),
                          "opt_d": opt_d.state_dict(), "ema": ema.state_dict() if ema is not None else None,
                          "reg": reg.state_dict(), "game": game.state_dict(),
                          "counters": dataclasses.asdict(counters), "noise": noise.get_state()})


def _restore_snapshot(snap: dict, G, D, opt_g, opt_d, ema, reg, game: Game, counters: Counters,
                      noise: torch.Generator) -> None:
    G.load_state_dict(snap["G"]), D.load_state_dict(snap["D"])
    # Optimizers keep the tensors they are given: without copies the next steps would update the
    # snapshot's own Adam moments in place, and a second NaN would poison the state rolled back to.
    opt_g.load_state_dict(copy.deepcopy(snap["opt_g"])), opt_d.load_state_dict(copy.deepcopy(snap["opt_d"]))
    if ema is not None:
        ema.load_state_dict(snap["ema"])
    reg.load_state_dict(copy.deepcopy(snap["reg"]))
    game.load_state_dict(copy.deepcopy(snap["game"]))
    for key, value in snap["counters"].items():
        setattr(counters, key, value)
    noise.set_state(snap["noise"])


def _restore_extras(weights: dict, state: dict, ckpt: Path, reg: Regularizers, ema: EMA | None, game: Game,
                    allow_inexact: bool) -> None:
    """Restore EMA weights, regularizer and game state; a missing part is an error unless inexact
    resumes are allowed."""
    missing = []
    if ema is not None:
        if "G_ema" in weights:
            ema.load_state_dict(weights["G_ema"])
        else:
            missing.append("the EMA generator")
    try:
        reg.load_state_dict(state["regularizers"])
    except (KeyError, ValueError, RuntimeError):
        missing.append("the regularizer/augmentation state")
    try:  # {} when the checkpoint has none: what an unconditional game keeps
        game.load_state_dict(state.get("game", {}))
    except (KeyError, ValueError, RuntimeError):
        missing.append("the game state")
    if missing and not allow_inexact:
        raise CheckpointError(f"{ckpt}: lacks {' and '.join(missing)}; pass --allow-inexact-resume to "
                              f"continue with those reset")
    if missing:
        tqdm.write(f"warning: inexact resume: {ckpt.name} lacks {' and '.join(missing)}; reset")


def _bar_total(t, epoch_images: int) -> float | None:
    if t.minutes:
        return round(t.minutes * 60)
    return round(t.epochs * epoch_images) if t.epochs else round(t.kimg * 1000)


def _bar_value(t, c: Counters) -> float:
    return round(c.seconds) if t.minutes else c.images
