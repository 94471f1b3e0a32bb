"""Latent interpolation: walk between the latents of several seeds and watch the samples morph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gankit.data import to_uint8
from gankit.io.images import check_size, grid_shape, make_grid, prepare_dir, save_gif, save_png
from gankit.models import Generator, latents


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents a, b (z_dim,) at fractions t (T,) -> (T, z_dim).

    Gaussian latents concentrate near a sphere; slerp keeps the path's norm
    there, where linear interpolation dips towards the origin mid-way.
    """
    cos = torch.dot(a / a.norm(), b / b.norm()).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-6:  # nearly parallel: slerp degenerates to lerp
        return lerp(a, b, t)
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so)[:, None] * a + (torch.sin(t * omega) / so)[:, None] * b


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation (T, z_dim)."""
    return (1 - t)[:, None] * a + t[:, None] * b


def interpolation_path(z_dim: int, seeds: list[int], steps: int, spherical: bool = False) -> torch.Tensor:
    """Latents walking seed[0] -> seed[1] -> ...: (len(seeds) - 1, steps, z_dim).

    The latent of a seed is sample 0 of that seed, the same one `gankit sample --seed S` draws first.
    """
    if len(seeds) < 2 or steps < 2:
        raise ValueError("interpolation needs at least 2 seeds and 2 steps")
    ends = torch.cat([latents(1, z_dim, s) for s in seeds])
    t = torch.linspace(0, 1, steps)
    fn = slerp if spherical else lerp
    return torch.stack([fn(ends[i], ends[i + 1], t) for i in range(len(seeds) - 1)])


def gif_scale(resolution: int) -> int:
    """GIF frames are enlarged to about 128 px (4x for 28 px), never shrunk."""
    return max(1, min(4, 128 // resolution))


def check_outputs(G: Generator, seeds: list, steps: int, out_dir: str | Path, scale: int = 2) -> Path:
    """Everything about writing an interpolation to `out_dir` that can fail, checked before a frame
    is drawn: a folder path (no extension, or an existing folder) that can be written, strips
    and GIF frames that Pillow would open again. `seeds` are the strips' end points (seeds, or
    class file names). Returns the folder."""
    if len(G.out_shape) != 3:
        raise ValueError("interpolation pictures need an image generator (this one makes toy points)")
    out_dir = Path(out_dir)
    if out_dir.suffix and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir}: interpolation writes a folder (PNG strips and a GIF); "
                         f"give a path with no extension, or an existing folder")
    _, h, w = G.out_shape
    height, width = grid_shape(steps, h, w, nrow=steps)
    check_size(out_dir / f"strip_{seeds[0]}_{seeds[1]}.png", width * scale, height * scale,
               hint="use fewer steps")
    check_size(out_dir / "interpolation.gif", w * gif_scale(w), h * gif_scale(w), "GIF",
               hint="the generator's images are too large for a GIF")
    return prepare_dir(out_dir)


def class_path(num_classes: int, classes: list[int], steps: int) -> torch.Tensor:
    """Soft class weights walking classes[0] -> classes[1] -> ...: (len(classes) - 1, steps, K) float32,
    each row a convex combination ``(1 - t) onehot(a) + t onehot(b)`` with t from 0 to 1 (ends included).

    A conditional generator reads (N, K) class weights through the same embedding as labels
    (concat: the joined one-hot; projection: conditional batch norm's gain and bias, both linear
    in it), so the walk interpolates the class embedding itself."""
    if len(classes) < 2 or steps < 2:
        raise ValueError("interpolation needs at least 2 classes and 2 steps")
    eye = torch.eye(num_classes)
    t = torch.linspace(0, 1, steps)[:, None]
    return torch.stack([(1 - t) * eye[a] + t * eye[b] for a, b in zip(classes, classes[1:])])


def _default_label(G: Generator, label: int | None) -> int | None:
    if not G.num_classes:
        if label is not None:
            raise ValueError("--class: this generator is unconditional (model.conditional = none), it has no "
                             "classes to ask for; drop --class")
        return None
    if label is None:
        return 0
    if not 0 <= int(label) < G.num_classes:
        raise ValueError(f"--class: expected a class index in [0, {G.num_classes}), got {label!r}")
    return int(label)


def _write(G: Generator, path_z: torch.Tensor, path_y: torch.Tensor | None, names: list, steps: int,
           out_dir: Path, scale: int) -> list[Path]:
    """Draw (P, steps) frames from latents path_z (P, steps, z_dim) and labels path_y (P, steps) or
    class weights (P, steps, K) (None: unconditional), write a strip per pair and the GIF."""
    was_training = G.training
    G.eval()
    device = next(G.parameters()).device
    try:
        frames = [to_uint8((G(z.to(device)) if path_y is None else G(z.to(device), y.to(device))).cpu())
                  for z, y in zip(path_z, path_y if path_y is not None else [None] * len(path_z))]
    finally:
        G.train(was_training)
    written = []
    for (a, b), strip in zip(zip(names, names[1:]), frames):
        written.append(out_dir / f"strip_{a}_{b}.png")
        save_png(make_grid(strip, nrow=steps), written[-1], scale=scale)
    # The GIF drops each pair's last frame (it is the next pair's first) and loops back.
    seq = torch.cat([f[:-1] for f in frames] + [frames[-1][-1:]])
    gif_frames = [np.ascontiguousarray(img.permute(1, 2, 0).numpy()) for img in seq]
    gif_frames += gif_frames[-2:0:-1]
    written.append(out_dir / "interpolation.gif")
    save_gif(gif_frames, written[-1], scale=gif_scale(seq.shape[-1]))
    return written


@torch.inference_mode()
def write_interpolation(G: Generator, seeds: list[int], steps: int, out_dir: str | Path,
                        spherical: bool = False, scale: int = 2, label: int | None = None) -> list[Path]:
    """A PNG strip per consecutive pair of seeds and one looping GIF through all of them.

    Returns the written paths (strips first, GIF last). Images only: toy generators are refused,
    and so (before any frame is drawn) is anything `check_outputs` finds. A conditional G walks z
    with one fixed class, `label` (default 0); an unconditional one refuses a label.
    """
    label = _default_label(G, label)
    path = interpolation_path(G.z_dim, seeds, steps, spherical)
    out_dir = check_outputs(G, seeds, steps, out_dir, scale)
    ys = None if label is None else torch.full(path.shape[:2], label, dtype=torch.long)
    return _write(G, path, ys, seeds, steps, out_dir, scale)


@torch.inference_mode()
def write_class_interpolation(G: Generator, classes: list[int], steps: int, out_dir: str | Path,
                              seed: int = 0, scale: int = 2) -> list[Path]:
    """Interpolate a conditional G's class embedding with z fixed (latent 0 of `seed`, the first sample
    `gankit sample --seed S` draws): soft class weights move from classes[0] to classes[1] to ...
    (see `class_path`). Writes ``strip_<A>_<B>.png`` per consecutive pair (class names made safe
    as file names, see `class_file_name`) and one looping ``interpolation.gif``; returns the paths
    (strips first, GIF last). Everything that can fail is checked before a frame is drawn."""
    from gankit.apps.sample import class_file_name
    if not G.num_classes:
        raise ValueError("--classes: this generator is unconditional (model.conditional = none), it has no "
                         "classes to interpolate; walk its latents with --seeds instead")
    if len(classes) < 2:
        raise ValueError(f"--classes: need at least 2 classes, got {len(classes)}")
    bad = [c for c in classes if isinstance(c, bool) or not 0 <= int(c) < G.num_classes]
    if bad:
        raise ValueError(f"--classes: expected class indices in [0, {G.num_classes}), got {bad[0]!r}")
    names = list(getattr(G, "classes", None) or [str(i) for i in range(G.num_classes)])
    files = [class_file_name(names[c]) for c in classes]
    out_dir = check_outputs(G, files, steps, out_dir, scale)
    weights = class_path(G.num_classes, [int(c) for c in classes], steps)
    z = latents(1, G.z_dim, seed).expand(*weights.shape[:2], G.z_dim)
    return _write(G, z, weights, files, steps, out_dir, scale)
