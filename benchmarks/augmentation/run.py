"""GAN-made training data on Fashion-MNIST: CAS over training time, and small-data augmentation.

    python benchmarks/augmentation/run.py                  # everything below (hours on 2 CPU cores)
    python benchmarks/augmentation/run.py cas              # a) only
    python benchmarks/augmentation/run.py small --sizes 600 --seeds 0   # one cell of b)
    python benchmarks/augmentation/run.py report           # redraw results/ from the pieces done

Every piece (a GAN trained, a classifier fitted and tested) is stored in results/pieces.jsonl as
soon as it is done, with the load average and wall time around it, and skipped when the harness
runs again, so it can be stopped and continued; `report` writes results/augmentation.md, .json
and .png from whatever pieces exist.

The classifier is always the CAS reference classifier (`gankit.evaluation.conditional.CAS_CONFIG`:
the domain classifier's CNN, Adam one-cycle peak 2e-3, batch 64, 2 epochs and at least 500 steps,
seed = the piece's seed) and it is always tested on the whole real test split (10,000 images),
which trains nothing and picks nothing: every GAN is used as it is at the end of its budget.

a) CAS: `fashion-cgan` trained to 243, 494 and 971 kimg (what fashion-dcgan trains in 5, 10 and
   20 minutes in benchmarks/results/time_to_quality.md, on one core of this machine) by resuming
   one run; at each, 60,000 samples (6,000 per class, latent seed 0) train the classifier, beside
   the same classifier trained on the 60,000 real train images.
b) small data: for N in --sizes real train images (stratified: N/10 per class, drawn with the
   seed), the classifier trained on
     real           the N images;
     real+classic   the N images with random flips and 2-pixel shifts (crop of a padded image);
     real+gan       the N images plus --synthetic samples (equal per class) of a conditional GAN
                    (fashion-cgan with DiffAugment translation,cutout) trained only on those N
                    images for --gan-kimg thousand images;
     real+both      the N + synthetic images, with the classic augmentation.
   mean +- std over --seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
from flops import machine_info, source_state, write_report  # noqa: E402

RESULTS = HERE / "results"
PIECES = RESULTS / "pieces.jsonl"
CAS_KIMG = (243, 494, 971)
"""fashion-dcgan's kimg after 5, 10 and 20 training minutes (benchmarks/results/time_to_quality.md)."""
TTQ = ROOT / "benchmarks" / "results" / "time_to_quality.json"


def minutes_of(kimg: float) -> float | None:
    """fashion-dcgan's training minutes to reach `kimg` in the committed time-to-quality run (interpolated)."""
    try:
        curve = json.loads(TTQ.read_text())["curves"]["fashion-dcgan"]
    except (OSError, ValueError, KeyError):
        return None
    pts = [(p["images"] / 1000, p["minutes"]) for p in curve]
    for (k0, m0), (k1, m1) in zip(pts, pts[1:]):
        if k0 <= kimg <= k1 and k1 > k0:
            return m0 + (m1 - m0) * (kimg - k0) / (k1 - k0)
    if pts and abs(kimg - pts[-1][0]) <= 0.01 * pts[-1][0]:  # the curve's last point (971 kimg vs 970.6)
        return pts[-1][1]
    return None
CONDITIONS = ("real", "real+classic", "real+gan", "real+both")
GAN_POLICY = "translation,cutout"
MEAN = "mean"


# --------------------------------------------------------------------------- pieces


def load_pieces() -> dict[str, dict]:
    if not PIECES.is_file():
        return {}
    out = {}
    for line in PIECES.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            out[rec["key"]] = rec
    return out


def save_piece(rec: dict) -> None:
    PIECES.parent.mkdir(parents=True, exist_ok=True)
    with open(PIECES, "a") as f:
        f.write(json.dumps(rec) + "\n")


def piece(key: str, fn, redo: bool = False) -> dict:
    """Run fn() -> dict unless a piece `key` is stored; store it with its timing and load."""
    done = load_pieces()
    if key in done and not redo:
        return done[key]
    load_before, start = os.getloadavg(), time.time()
    print(f"[{time.strftime('%H:%M:%S')}] {key} ...", flush=True)
    rec = fn()
    rec.update(key=key, wall_s=round(time.time() - start, 1), loadavg_before=[round(v, 2) for v in load_before],
               loadavg_after=[round(v, 2) for v in os.getloadavg()], finished=time.strftime("%Y-%m-%d %H:%M:%S"))
    save_piece(rec)
    print(f"[{time.strftime('%H:%M:%S')}] {key}: {json.dumps({k: v for k, v in rec.items() if k != 'key'})}",
          flush=True)
    return rec


def gankit(*args: str, log: Path) -> None:
    """`python -m gankit ARGS` with this checkout's src on the path; a failure ends the benchmark."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "gankit", *args]
    print("$", " ".join(cmd), flush=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
    if rc:
        sys.exit(f"benchmark: `{' '.join(cmd)}` failed (exit {rc}); see {log}")


def last_metrics(run: Path) -> dict:
    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines() if s.strip()]
    return lines[-1] if lines else {}


# --------------------------------------------------------------------------- classifier work


def _torch():
    import torch
    torch.set_num_threads(1)
    return torch


def real_data():
    from gankit.config import DataConfig
    from gankit.evaluation.features import real_splits
    return real_splits(DataConfig(name="fashion-mnist"))


def synthesize(generator: Path, per_class: int, seed: int = 0):
    """per_class samples of each class from a generator folder: uint8 (K * per_class, C, H, W), labels."""
    torch = _torch()
    from gankit.data import to_uint8
    from gankit.io.generator import load_generator
    G = load_generator(generator)
    k = G.num_classes
    n = k * per_class
    xs = [to_uint8(G.sample(min(2048, n - s), seed=seed, start=s)) for s in range(0, n, 2048)]
    return torch.cat(xs), torch.arange(n) % k  # G.sample without labels draws class i % K


def test_accuracy(x, y, seed: int, augment: str = "", steps: int = 0, on=None) -> float:
    """Real test accuracy of the CAS reference classifier trained on (x, y) with `seed` (on the
    Dataset `on` instead of the test split when given); steps > 0 replaces its schedule (2 epochs,
    >= 500 steps) by exactly that many steps."""
    from dataclasses import replace

    from gankit.evaluation.conditional import CAS_CONFIG, accuracy, fit_reference
    _torch()
    _, test = real_data()
    cfg = replace(CAS_CONFIG, seed=seed)
    if steps:
        cfg = replace(cfg, epochs=0.0, min_steps=steps)
    model = fit_reference(x, y, 10, cfg, augment=augment)
    on = test if on is None else on
    return accuracy(model, on.x, on.y)


def mix(x, y, sx, sy, real_share: float):
    """The real images (x, y) with the samples (sx, sy) added. real_share > 0: the real images are
    repeated (whole copies, the last one partial, rounded to whole images) so that they make up that
    share of the set, hence of every shuffled batch on average, whatever the number of samples
    (plain concatenation gives 600 real images 9 % of the batches beside 6,000 samples); 0: plain
    concatenation."""
    torch = _torch()
    if real_share > 0:
        want = round(real_share * len(sx) / (1 - real_share))
        reps = torch.arange(max(want, len(x))) % len(x)
        x, y = x[reps], y[reps]
    return torch.cat([x, sx]), torch.cat([y, sy])


# --------------------------------------------------------------------------- a) CAS over training


def run_cas(args) -> None:
    run = Path(args.runs) / "cas-cgan"
    snaps = Path(args.runs) / "cas-snapshots"

    def baseline():
        train, _ = real_data()
        return {"n": len(train.x[:args.num]), "accuracy": test_accuracy(train.x[:args.num], train.y[:args.num], 0)}
    piece(f"cas/real/n{args.num}", baseline, args.redo)
    for kimg in args.kimg:
        snap = snaps / f"k{kimg}"

        def train_to(kimg=kimg, snap=snap):
            if not (run / "checkpoints").is_dir():
                gankit("train", "--preset", "fashion-cgan", "--kimg", str(kimg), "--out", str(run), "--overwrite",
                       "--no-progress", "--set", "train.threads=1", log=run.with_suffix(".log"))
            else:
                gankit("train", "--resume", str(run), "--kimg", str(kimg), "--no-progress", log=run.with_suffix(".log"))
            if snap.exists():
                shutil.rmtree(snap)
            shutil.copytree(run / "generator", snap)
            m = last_metrics(run)
            return {"kimg": kimg, "images": m.get("images"), "train_seconds": m.get("seconds")}
        gan = piece(f"cas/gan/k{kimg}", train_to, args.redo)
        snap_ok = snap.is_dir()
        if not snap_ok:
            sys.exit(f"benchmark: {snap} is missing; rerun with --redo")

        def score(kimg=kimg, snap=snap):
            x, y = synthesize(snap, args.num // 10)
            return {"kimg": kimg, "n": len(x), "accuracy": test_accuracy(x, y, seed=0)}
        piece(f"cas/score/k{kimg}/n{args.num}", score, args.redo)
        del gan


# --------------------------------------------------------------------------- b) small data


def stratified(train, n: int, seed: int):
    """n // 10 images of each class, a seeded choice: (x uint8, y)."""
    idx = stratified_index(train, n, seed)
    return train.x[idx], train.y[idx]


def stratified_index(train, n: int, seed: int, exclude=None):
    """Indices of n // 10 train images of each class, a seeded choice among those not in `exclude`."""
    torch = _torch()
    g = torch.Generator().manual_seed(seed)
    taken = torch.zeros(len(train.y), dtype=torch.bool)
    if exclude is not None:
        taken[exclude] = True
    idx = []
    for c in range(10):
        members = torch.nonzero((train.y == c) & ~taken).flatten()
        idx.append(members[torch.randperm(len(members), generator=g)[:n // 10]])
    return torch.cat(idx)


VALIDATION = 5000
"""Images of the sweep's validation set: train images (500 per class) outside the N a GAN sees."""


def validation(train, n: int, seed: int):
    """The sweep's validation set for subset (n, seed): VALIDATION other train images, as a Dataset."""
    from gankit.data import Dataset
    subset = stratified_index(train, n, seed)
    idx = stratified_index(train, VALIDATION, seed + 1000, exclude=subset)
    return Dataset(x=train.x[idx], y=train.y[idx], name=train.name, classes=train.classes,
                   source=f"{VALIDATION} train images outside the {n}-image subset of seed {seed}")


def write_folder(x, y, classes, folder: Path) -> None:
    """The images as folder/<NN-class>/<i>.png (sorted names keep the label order)."""
    from PIL import Image
    if folder.exists():
        shutil.rmtree(folder)
    for i, (img, label) in enumerate(zip(x, y)):
        d = folder / f"{int(label):02d}-{classes[int(label)].replace('/', '-')}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[0].numpy(), mode="L").save(d / f"{i}.png")


def run_small(args) -> None:
    _torch()
    train, _ = real_data()
    for seed in args.seeds:  # seed-major: a partial run has every size at the first seeds
        for n in args.sizes:
            x, y = stratified(train, n, seed)
            tag = f"n{n}/s{seed}"
            proto = protocol_tag(args)
            for cond in ("real", "real+classic"):
                piece(f"small/{tag}/{cond}{proto['steps_tag']}",
                      lambda cond=cond: fit_condition(cond, x, y, n, seed, args), args.redo)
            run = small_gan(args, train, x, y, n, seed, args.gan_kimg)
            for cond in ("real+gan", "real+both"):
                piece(f"small/{tag}/{cond}/k{args.gan_kimg}/syn{args.synthetic}{proto['steps_tag']}"
                      f"{proto['share_tag']}", lambda cond=cond, run=run: fit_condition(
                          cond, x, y, n, seed, args, run, args.gan_kimg, args.real_share), args.redo)


def fit_condition(cond: str, x, y, n: int, seed: int, args, run: Path | None = None, kimg: int | None = None,
                  share: float = 0.0, on=None) -> dict:
    """The piece of one classifier of b): trained on the N real images (x, y) of subset (n, seed), with
    the GAN `run`'s samples mixed in at real share `share` for the real+gan / real+both conditions,
    classic augmentation for real+classic / real+both, args.steps steps; scored on the test split, or
    on the Dataset `on` (the sweep's validation set)."""
    rec = {"n": n, "seed": seed, "condition": cond, "steps": args.steps}
    if cond in CONDITIONS[2:]:
        sx, sy = synthesize(run / "generator", args.synthetic // 10, seed=seed)
        x, y = mix(x, y, sx, sy, share)
        rec.update(synthetic=len(sx), gan_kimg=kimg, real_share=share)
    if on is not None:
        rec["scored_on"] = "validation"
    augment = "flip,crop" if cond in ("real+classic", "real+both") else ""
    rec["accuracy"] = test_accuracy(x, y, seed, augment, args.steps, on=on)
    return rec


def small_gan(args, train, x, y, n: int, seed: int, kimg: int) -> Path:
    """The conditional GAN of subset (n, seed) trained for kimg (a stored piece whose run folder is
    gone, as in a fresh clone where runs/ is not committed, is trained again); its run folder."""
    run = Path(args.runs) / (f"small-n{n}-s{seed}" + ("" if kimg == 100 else f"-k{kimg}"))

    def gan():
        data = Path(args.runs) / f"small-n{n}-s{seed}-data"
        write_folder(x, y, train.classes, data)
        gankit("train", "--preset", "fashion-cgan", "--data", str(data), "--kimg", str(kimg),
               "--seed", str(seed), "--out", str(run), "--overwrite", "--no-progress",
               "--set", "train.threads=1", "--set", f"augment.policy={GAN_POLICY}", log=run.with_suffix(".log"))
        m = last_metrics(run)
        return {"n": n, "seed": seed, "kimg": kimg, "images": m.get("images"),
                "train_seconds": m.get("seconds"), "policy": GAN_POLICY}
    piece(f"small/n{n}/s{seed}/gan/k{kimg}", gan, args.redo or not (run / "generator").is_dir())
    return run


def run_sweep(args) -> None:
    """The mixing choices (GAN budget x real share) scored on a validation set of other train images
    (`validation`), never the test split, so that b) can use the best of them honestly."""
    _torch()
    train, _ = real_data()
    for seed in args.seeds:
        for n in args.sizes:
            x, y = stratified(train, n, seed)
            val = validation(train, n, seed)
            tag = f"sweep/n{n}/s{seed}/steps{args.steps}"
            for cond in ("real", "real+classic"):
                piece(f"{tag}/{cond}", lambda cond=cond: fit_condition(cond, x, y, n, seed, args, on=val), args.redo)
            for kimg in args.sweep_kimg:
                run = small_gan(args, train, x, y, n, seed, kimg)
                for share in args.sweep_shares:
                    for cond in ("real+gan", "real+both"):
                        piece(f"{tag}/{cond}/k{kimg}/syn{args.synthetic}/share{share:g}",
                              lambda cond=cond, run=run, kimg=kimg, share=share: fit_condition(
                                  cond, x, y, n, seed, args, run, kimg, share, on=val), args.redo)


def sweep_rows(pieces: dict) -> list[dict]:
    """The validation sweep's pieces per setting (N, steps, GAN kimg, real share): {condition: [accuracy
    per seed]}, sorted by setting (the real-only classifiers, which have no GAN budget, first)."""
    rows: dict = {}
    for key, rec in pieces.items():
        if key.startswith("sweep/"):
            setting = (rec["n"], rec["steps"], rec.get("gan_kimg"), rec.get("real_share"))
            rows.setdefault(setting, {}).setdefault(rec["condition"], []).append(rec["accuracy"])
    order = sorted(rows, key=lambda k: tuple(-1 if v is None else v for v in k))
    return [{"n": k[0], "steps": k[1], "gan_kimg": k[2], "real_share": k[3], "accuracy": rows[k]} for k in order]


def sweep_lines(rows: list[dict]) -> list[str]:
    """Markdown lines of `sweep_rows` (mean over seeds, their count in brackets), or none."""
    if not rows:
        return []
    lines = ["", "### Choosing the mix on validation data", "",
             f"Accuracy on {VALIDATION:,} train images outside each subset (never the test split), mean over "
             "seeds; the rows without a GAN budget are the real-only classifiers.", "",
             "| N | classifier steps | GAN kimg | real share | real | real+classic | real+gan | real+both |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        acc = r["accuracy"]
        cells = [f"{100 * statistics.mean(acc[c]):.2f} % ({len(acc[c])})" if c in acc else "" for c in CONDITIONS]
        kimg, share = r["gan_kimg"], r["real_share"]
        lines.append(f"| {r['n']:,} | {r['steps']} | {'' if kimg is None else kimg} | "
                     f"{'' if share is None else f'{share:g}'} | " + " | ".join(cells) + " |")
    return lines


def sweep_table(pieces: dict) -> list[str]:
    """Markdown lines of the validation sweep's pieces (mean over seeds), or none."""
    return sweep_lines(sweep_rows(pieces))


def protocol_tag(args) -> dict:
    """b)'s classifier protocol as piece-key suffixes: empty for the original one (the CAS schedule,
    plain concatenation), so its stored pieces keep their keys."""
    return {"steps_tag": f"/steps{args.steps}" if args.steps else "",
            "share_tag": f"/share{args.real_share:g}" if args.real_share else ""}


def protocol_name(steps: int, real_share: float, gan_kimg: int = 100) -> str:
    sched = f"{steps} steps for every classifier" if steps else "the CAS schedule (2 epochs, at least 500 steps)"
    share = (f"real images repeated to {100 * real_share:g} % of the mixed sets" if real_share
             else "real and synthetic images simply concatenated")
    return f"{sched}; {share}; GANs of {gan_kimg} kimg"


# --------------------------------------------------------------------------- report


def collect(pieces: dict, synthetic: int, steps: int = 0, real_share: float = 0.0, gan_kimg: int = 100) -> dict:
    """The report's tables from the pieces. b)'s main table ("small") is the protocol (steps,
    real_share) with `synthetic` samples; the same protocol's pieces with other sample counts go to
    "small_other" ({N: {synthetic: {condition: stats}}}), other protocols' pieces with `synthetic`
    samples to "small_protocols" ({protocol name: {N: {condition: stats}}}); the validation sweep to
    "sweep" (`sweep_rows`)."""
    cas = {"real": None, "synthetic": []}
    by_protocol: dict = {}
    other: dict = {}
    mixes_of: dict = {}  # schedule (steps) -> the (real share, GAN kimg) of its mixed pieces
    for key, rec in pieces.items():
        if key.startswith("small/") and rec.get("condition") in CONDITIONS[2:]:
            mixes_of.setdefault(rec.get("steps", 0), set()).add((rec.get("real_share", 0.0), rec.get("gan_kimg", 100)))
    for key, rec in pieces.items():
        if key.startswith("cas/real/"):
            cas["real"] = rec
        elif key.startswith("cas/score/"):
            gan = pieces.get(f"cas/gan/k{rec['kimg']}", {})
            cas["synthetic"].append({**rec, "gan_train_seconds": gan.get("train_seconds"),
                                     "gan_loadavg": gan.get("loadavg_before")})
        elif key.startswith("small/") and "condition" in rec:
            rec_steps = rec.get("steps", 0)
            mixed = rec["condition"] in CONDITIONS[2:]
            mixes = [(rec.get("real_share", 0.0), rec.get("gan_kimg", 100))] if mixed else \
                sorted(mixes_of.get(rec_steps, set()) | {(real_share, gan_kimg)})
            for share, kimg in mixes:  # real-only rows belong to every mix of their schedule
                if mixed and rec.get("synthetic", synthetic) != synthetic:
                    if (rec_steps, share, kimg) == (steps, real_share, gan_kimg):
                        other.setdefault(str(rec["n"]), {}).setdefault(str(rec["synthetic"]), {}).setdefault(
                            rec["condition"], []).append(rec)
                    continue
                by_protocol.setdefault((rec_steps, share, kimg), {}).setdefault(str(rec["n"]), {}).setdefault(
                    rec["condition"], []).append(rec)
    cas["synthetic"].sort(key=lambda r: r["kimg"])

    def stats(recs):
        accs = [r["accuracy"] for r in recs]
        return {"mean": statistics.mean(accs) if accs else None, "std": statistics.stdev(accs) if len(accs) > 1 else None,
                "seeds": sorted(r["seed"] for r in recs), "values": accs}

    def table(small):
        return {n: {cond: stats(conds.get(cond, [])) for cond in CONDITIONS} for n, conds in small.items()}
    others = {n: {syn: {cond: stats(c.get(cond, [])) for cond in CONDITIONS[2:]} for syn, c in by.items()}
              for n, by in other.items()}
    protocols = {protocol_name(*proto): table(small) for proto, small in sorted(by_protocol.items())
                 if proto != (steps, real_share, gan_kimg)
                 and any(cond in conds for conds in small.values() for cond in CONDITIONS[2:])}
    return {"cas": cas, "small": table(by_protocol.get((steps, real_share, gan_kimg), {})), "small_other": others,
            "small_protocols": protocols, "protocol": protocol_name(steps, real_share, gan_kimg),
            "sweep": sweep_rows(pieces)}


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f} %"


def markdown(report: dict) -> str:
    m, cas, small = report["machine"], report["cas"], report["small"]
    lines = ["# GAN-made training data on Fashion-MNIST", "",
             f"Commands: `{report['command']}` (the pieces of results/pieces.jsonl; see the README beside this "
             f"folder)  ", f"gankit {report['gankit_source']}; {m.get('cpu', '?')}, torch {m.get('torch', '?')}. "
             "The machine was shared with other jobs while these ran (load averages per piece in "
             "pieces.jsonl), which changes wall times but not the numbers: every budget is counted in images.",
             *([report["note"]] if report.get("note") else []), "", "Classifier: the CAS reference classifier (`gankit.evaluation.conditional.CAS_CONFIG`), tested "
             "on the 10,000 real test images.", "", "## a) CAS of fashion-cgan over training", ""]
    real = cas["real"]
    lines += ["| fashion-cgan trained | ≈ fashion-dcgan minutes | train images | CAS (60k synthetic) | "
              "real (60k real) | CAS / real |", "|---|---|---|---|---|---|"]
    for r in cas["synthetic"]:
        ratio = r["accuracy"] / real["accuracy"] if real else None
        m = minutes_of(r["kimg"])
        lines.append(f"| {r['kimg']} kimg | {'?' if m is None else f'{m:.1f}'} | {r['n']:,} | {_pct(r['accuracy'])} | "
                     f"{_pct(real['accuracy']) if real else '-'} | {_pct(ratio)} |")
    lines += ["", "Minutes are kimg equivalents: fashion-dcgan trains 243, 494 and 971 kimg in 5, 10 and 20 "
              "minutes on one core of this machine (benchmarks/results/time_to_quality.md). Anchor: Lesort et "
              "al. 2018, a conditional GAN's samples reach ≈ 89 % of real-data accuracy on Fashion-MNIST (their "
              "best, one GAN per class, ≈ 96 %). Goal: ≥ 97 %.", ""]
    lines += ["## b) Small-data augmentation", "",
              f"Test accuracy (mean ± std over the seeds listed) of the classifier trained on N real train "
              f"images (N/10 per class), plus {report['synthetic']:,} samples (equal per class) of a conditional "
              f"GAN (fashion-cgan + DiffAugment {GAN_POLICY}) trained on those N images only for "
              f"{report['gan_kimg']} kimg; classic = random flip + 2-pixel shift. Classifier protocol: "
              f"{report['protocol']}.", "",
              "| N | " + " | ".join(CONDITIONS) + " |", "|---|" + "---|" * len(CONDITIONS)]
    def cell(c):
        if c["mean"] is None:
            return "-"
        std = f" ± {100 * c['std']:.2f}" if c["std"] is not None else ""
        return f"{100 * c['mean']:.2f}{std} % (seeds {','.join(map(str, c['seeds']))})"
    for n in sorted(small, key=int):
        lines.append(f"| {int(n):,} | " + " | ".join(cell(small[n][cond]) for cond in CONDITIONS) + " |")
    other = report.get("small_other") or {}
    if other:
        lines += ["", "The same GANs with other numbers of samples added:", "",
                  "| N | samples added | real+gan | real+both |", "|---|---|---|---|"]
        for n in sorted(other, key=int):
            for syn in sorted(other[n], key=int):
                c = other[n][syn]
                lines.append(f"| {int(n):,} | {int(syn):,} | {cell(c['real+gan'])} | {cell(c['real+both'])} |")
    for name, table in (report.get("small_protocols") or {}).items():
        lines += ["", f"An earlier protocol, {report['synthetic']:,} samples: {name}:", "",
                  "| N | " + " | ".join(CONDITIONS) + " |", "|---|" + "---|" * len(CONDITIONS)]
        for n in sorted(table, key=int):
            lines.append(f"| {int(n):,} | " + " | ".join(cell(table[n][cond]) for cond in CONDITIONS) + " |")
    lines += sweep_lines(report.get("sweep") or [])
    lines += ["", "![CAS and small-data accuracy](augmentation.png)"]
    if report.get("verdict"):
        lines += ["", *report["verdict"]]
    return "\n".join(lines) + "\n"


def verdict(report: dict) -> list[str]:
    out = []
    cas, real = report["cas"]["synthetic"], report["cas"]["real"]
    if cas and real:
        best = max(cas, key=lambda r: r["accuracy"])
        ratio = best["accuracy"] / real["accuracy"]
        out.append(f"CAS goal (≥ 97 % of real): {'met' if ratio >= 0.97 else 'missed'}: best {100 * ratio:.1f} % of "
                   f"real at {best['kimg']} kimg.")
    s = report["small"].get("600")
    if s and s["real+gan"]["mean"] is not None:
        ok = all(s["real+gan"]["mean"] > s[c]["mean"] for c in ("real", "real+classic") if s[c]["mean"] is not None)
        out.append(f"Small-data goal (at 600 images GAN augmentation beats real-only and classic): "
                   f"{'met' if ok else 'missed'} ({', '.join(f'{c} {_pct(s[c][MEAN])}' for c in CONDITIONS)}).")
        if s["real+both"]["mean"] is not None and s["real+classic"]["mean"] is not None:
            gain = s["real+both"]["mean"] - s["real+classic"]["mean"]
            out.append(f"On top of classic augmentation, GAN samples {'add' if gain > 0 else 'cost'} "
                       f"{100 * abs(gain):.2f} points at 600 images (real+both vs real+classic).")
    return out


def plot(report: dict, out: Path) -> None:
    from matplotlib.figure import Figure
    fig = Figure(figsize=(10, 4), dpi=110)
    a, b = fig.subplots(1, 2)
    cas, real = report["cas"]["synthetic"], report["cas"]["real"]
    if cas:
        a.plot([r["kimg"] for r in cas], [100 * r["accuracy"] for r in cas], marker="o", label="trained on 60k samples")
    if real:
        a.axhline(100 * real["accuracy"], color="grey", ls="--", label="trained on 60k real")
        a.axhline(97 * real["accuracy"], color="green", ls=":", label="goal: 97 % of real")
        a.axhline(89 * real["accuracy"], color="orange", ls=":", label="Lesort et al. 2018: ≈ 89 % of real")
    a.set_xlabel("fashion-cgan training kimg (243/494/971 ≈ 5/10/20 min)")
    a.set_ylabel("real test accuracy, %")
    a.set_title("a) CAS over training")
    a.grid(alpha=0.3)
    a.legend(fontsize=7)
    sizes = sorted(report["small"], key=int)
    width = 0.8 / len(CONDITIONS)
    for j, cond in enumerate(CONDITIONS):
        xs, ys, es = [], [], []
        for i, n in enumerate(sizes):
            c = report["small"][n][cond]
            if c["mean"] is not None:
                xs.append(i + (j - 1.5) * width)
                ys.append(100 * c["mean"])
                es.append(100 * (c["std"] or 0))
        b.bar(xs, ys, width, yerr=es, label=cond, capsize=2)
    b.set_xticks(range(len(sizes)), [f"{int(n):,} real" for n in sizes])
    b.set_ylabel("real test accuracy, %")
    vals = [100 * report["small"][n][c]["mean"] for n in sizes for c in CONDITIONS
            if report["small"][n][c]["mean"] is not None]
    if vals:
        b.set_ylim(min(vals) - 3, min(100, max(vals) + 2))
    b.set_title("b) small-data augmentation")
    b.grid(alpha=0.3, axis="y")
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, metadata={"Software": None})


def report(args) -> None:
    shown = [a for a in sys.argv[1:]]
    if "--note" in shown:  # printed on its own line
        del shown[shown.index("--note"):shown.index("--note") + 2]
    rep = {"command": "python benchmarks/augmentation/run.py " + " ".join(shown),
           "machine": machine_info(), "gankit_source": source_state(), "synthetic": args.synthetic,
           "gan_kimg": args.gan_kimg, "note": args.note, **collect(load_pieces(), args.synthetic, args.steps, args.real_share, args.gan_kimg)}
    rep["verdict"] = verdict(rep)
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(rep, RESULTS / "augmentation.png")
    write_report(rep, str(RESULTS / "augmentation.md"), markdown)


def main(argv=None) -> None:
    global RESULTS, PIECES
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="?", default="all", choices=("all", "cas", "small", "sweep", "report"))
    ap.add_argument("--kimg", type=lambda s: [int(v) for v in s.split(",")], default=list(CAS_KIMG),
                    help="a) fashion-cgan budgets, thousand images (default 243,494,971)")
    ap.add_argument("--num", type=int, default=60000, help="a) samples (and real images) per CAS classifier")
    ap.add_argument("--sizes", type=lambda s: [int(v) for v in s.split(",")], default=[600, 6000],
                    help="b) real training images (multiples of 10)")
    ap.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    ap.add_argument("--gan-kimg", type=int, default=100, help="b) the small-data GAN's budget, thousand images")
    ap.add_argument("--synthetic", type=int, default=6000, help="b) GAN samples added to the real images")
    ap.add_argument("--steps", type=int, default=0,
                    help="b) train every classifier for exactly this many steps, whatever its set's size (same "
                         "compute per row); 0 = the CAS schedule, 2 epochs and at least 500 steps")
    ap.add_argument("--real-share", type=float, default=0.0,
                    help="b) repeat the real images to this share of each mixed set (0.5: half of every batch "
                         "on average); 0 = plain concatenation")
    ap.add_argument("--sweep-kimg", type=lambda s: [int(v) for v in s.split(",")], default=[100, 300],
                    help="sweep: GAN budgets tried, thousand images")
    ap.add_argument("--sweep-shares", type=lambda s: [float(v) for v in s.split(",")], default=[0.5, 0.8],
                    help="sweep: real shares tried")
    ap.add_argument("--runs", default="runs/augmentation", help="where the GAN runs go")
    ap.add_argument("--redo", action="store_true", help="recompute pieces that are already stored")
    ap.add_argument("--results", default=str(RESULTS), help="where pieces.jsonl and the report go")
    ap.add_argument("--note", default="", help="a line for the report (e.g. which parts are not run yet)")
    args = ap.parse_args(argv)
    if not 0 <= args.real_share < 1:
        ap.error(f"--real-share must be in [0, 1), got {args.real_share}")
    if args.steps < 0:
        ap.error(f"--steps must be >= 0, got {args.steps}")
    RESULTS = Path(args.results)
    PIECES = RESULTS / "pieces.jsonl"
    if args.what in ("all", "cas"):
        run_cas(args)
    if args.what in ("all", "small"):
        run_small(args)
    if args.what == "sweep":
        run_sweep(args)
    report(args)


if __name__ == "__main__":
    main()
