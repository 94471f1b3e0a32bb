"""Time to quality: FID in the domain feature space against minutes of CPU training.

Trains each preset for `--minutes` with train-time evaluation every `--every`
minutes of training time (`eval.every_minutes`; evaluation time is not counted),
then reads the FID curve from each run's metrics.jsonl and writes a table at
the marks 1, 2, 5, 10, 20 minutes plus one plot of all curves.

    python benchmarks/time_to_quality.py                  # fashion-dcgan vs dcgan-tf, 20 min, ~28 min wall
    python benchmarks/time_to_quality.py --report-only    # redraw from runs/ttq/*
    python benchmarks/time_to_quality.py --presets fashion-cgan --minutes 5 \
        --out benchmarks/results/time_to_quality-cgan.md  # the conditional preset (issue 11)
    python benchmarks/time_to_quality.py --presets fashion-cgan --kimg 243 --every 81 --runs runs/ttq-kimg \
        --out benchmarks/results/time_to_quality-cgan-kimg.md  # by images: what 5 unloaded minutes train

Presets not trained by a call but present in `--reference` (default: the committed
benchmarks/results/time_to_quality.json) are read from there, so fashion-cgan's 5 minutes are
judged against fashion-dcgan's 10 (the issue-11 goal) without retraining fashion-dcgan. On a
loaded machine a minute trains fewer images; `--kimg K` budgets each preset by images instead
(fashion-dcgan trains 243 kimg in its committed 5 minutes) and evaluates every `--every` kimg.

By default (when there is a core per preset) the presets train at the same time,
each pinned with `taskset` to a core of its own with one torch thread, so both
get the same, uncontended share of the machine. Sequential runs with all
threads are `--sequential`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flops import machine_info, run_commands, source_state, write_report  # noqa: E402

MARKS = (1, 2, 5, 10, 20)


def run_dir(runs: Path, preset: str) -> Path:
    return runs / preset


def train_command(preset: str, out: Path, minutes: float, every: float, num: int, threads: int,
                  kimg: float = 0.0) -> list[str]:
    budget = ["--kimg", str(kimg)] if kimg else ["--minutes", str(minutes)]
    cadence = f"eval.every_kimg={every}" if kimg else f"eval.every_minutes={every}"
    return [sys.executable, "-m", "gankit", "train", "--preset", preset, *budget,
            "--out", str(out), "--overwrite", "--no-progress",
            "--set", cadence, "--set", "eval.metrics=fid,precision,recall,classes",
            "--set", f"eval.num={num}", "--set", f"train.threads={threads}"]


def train_all(presets, runs: Path, minutes, every, num, parallel: bool, kimg: float = 0.0) -> None:
    run_commands([(preset, train_command(preset, run_dir(runs, preset), minutes, every, num, 1 if parallel else 0,
                                         kimg), runs / f"{preset}.log") for preset in presets], parallel)


def read_curve(run: Path) -> list[dict]:
    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines() if s.strip()]
    return [{"minutes": r["seconds"] / 60, "images": r["images"], "fid": r["fid"],
             "precision": r.get("precision"), "recall": r.get("recall"), "classes": r.get("classes"),
             "floor": r["eval"]["floor"]["fid"], **({"loadavg": r["loadavg"]} if "loadavg" in r else {})}
            for r in lines if "eval" in r and r.get("fid") is not None]


def reference_curves(path: Path, skip) -> dict:
    """Curves of presets not trained now, from a committed report (empty when it is missing)."""
    if not path.is_file():
        return {}
    return {p: c for p, c in json.loads(path.read_text()).get("curves", {}).items() if p not in skip}


def at_mark(curve: list[dict], minutes: float) -> dict | None:
    """The evaluation taken at the mark (the first one at or after it, within half a minute)."""
    after = [p for p in curve if p["minutes"] >= minutes - 1e-6]
    return after[0] if after and after[0]["minutes"] - minutes < 0.5 else None


def plot(report: dict, out: Path) -> None:
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7, 4.2), dpi=110)
    ax = fig.subplots()
    for preset, curve in report["curves"].items():
        ax.plot([p["minutes"] for p in curve], [p["fid"] for p in curve], marker=".", label=preset)
    floor = next(iter(report["curves"].values()))[0]["floor"]
    ax.axhline(floor, color="grey", lw=0.8, ls="--", label=f"real vs real floor ({floor:.2f})")
    ax.set_yscale("log")
    ax.set_xlabel("training minutes (evaluation not counted)")
    ax.set_ylabel(f"FID, domain classifier features, {report['num']:,} samples")
    ax.set_xticks([0, *MARKS])
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title("Time to quality on this CPU")
    fig.tight_layout()
    fig.savefig(out, metadata={"Software": None})


def markdown(report: dict) -> str:
    m = report["machine"]
    presets = list(report["curves"])
    lines = [
        "# Time to quality: FID vs minutes of CPU training", "",
        f"Command: `{report['command']}`  ", f"gankit {report['gankit_source']}; {m.get('cpu', '?')}, "
        f"torch {m.get('torch', '?')}; {report['mode']}.", *([report["note"]] if report.get("note") else []), "",
        f"FID in the Fashion-MNIST domain-classifier feature space, {report['num']:,} samples (seed 0) vs "
        f"{report['num']:,} real train images; floor (real test vs real train) "
        f"{next(iter(report['curves'].values()))[0]['floor']:.3f}. Minutes are training time: evaluation is "
        "not counted. Each cell: FID (kimg seen).", "",
        "![FID against training minutes](time_to_quality.png)", "",
        "| minutes | " + " | ".join(presets) + " |",
        "|---|" + "---|" * len(presets),
    ]
    for mark in MARKS:
        cells = []
        for p in presets:
            pt = at_mark(report["curves"][p], mark)
            cells.append(f"{pt['fid']:.2f} ({pt['images'] / 1000:,.0f})" if pt else "-")
        lines.append(f"| {mark} | " + " | ".join(cells) + " |")
    lines += ["", "Final evaluation of each run:", "",
              "| preset | minutes | kimg | FID | precision | recall | classes |", "|---|---|---|---|---|---|---|"]
    for p in presets:
        last = report["curves"][p][-1]
        lines.append(f"| {p} | {last['minutes']:.1f} | {last['images'] / 1000:,.0f} | {last['fid']:.2f} | "
                     f"{last['precision']:.3f} | {last['recall']:.3f} | {last['classes']:g} |")
    if report.get("verdict"):
        lines += ["", report["verdict"]]
    return "\n".join(lines) + "\n"


def verdict_cgan(report: dict) -> str:
    """Issue 11's goal: fashion-cgan after 5 minutes at least as good as fashion-dcgan after 10."""
    curves = report["curves"]
    if "fashion-cgan" not in curves or "fashion-dcgan" not in curves:
        return ""
    ref = at_mark(curves["fashion-dcgan"], 10)
    if report.get("kimg"):
        five = curves["fashion-cgan"][-1] if curves["fashion-cgan"] else None
        when = f"after {five['images'] / 1000:,.0f} kimg ({five['minutes']:.1f} loaded minutes)" if five else ""
    else:
        five = at_mark(curves["fashion-cgan"], 5)
        when = f"at 5 min ({five['images'] / 1000:,.0f} kimg)" if five else ""
    if not five or not ref:
        return ""
    ok = "meets" if five["fid"] <= ref["fid"] else "misses"
    return (f"Target (fashion-cgan after 5 minutes at least as good as fashion-dcgan after 10): {ok} it: "
            f"FID {five['fid']:.2f} {when} vs {ref['fid']:.2f} for fashion-dcgan at 10 min "
            f"({ref['images'] / 1000:,.0f} kimg).")


def verdict(report: dict) -> str:
    curves = report["curves"]
    if "fashion-dcgan" not in curves or "dcgan-tf" not in curves:
        return verdict_cgan(report)
    five, ref = at_mark(curves["fashion-dcgan"], 5), at_mark(curves["dcgan-tf"], 20)
    if not five or not ref:
        return ""
    better = [p for p in curves["fashion-dcgan"] if p["fid"] <= ref["fid"]]
    when = f"first at {better[0]['minutes']:.1f} min" if better else "not within the run"
    ok = "meets" if five["fid"] <= ref["fid"] else "misses"
    cgan = verdict_cgan(report)
    return (f"Target (default at 5 min at least as good as the reference at 20 min): {ok} it: "
            f"{five['fid']:.2f} at 5 min vs {ref['fid']:.2f} at 20 min; the default reaches the reference's "
            f"20-minute FID {when}." + (f"\n\n{cgan}" if cgan else ""))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="fashion-dcgan,dcgan-tf")
    ap.add_argument("--minutes", type=float, default=20.0, help="training minutes per preset")
    ap.add_argument("--kimg", type=float, default=0.0,
                    help="budget each preset by thousand images instead of minutes (--every is then in kimg)")
    ap.add_argument("--every", type=float, default=1.0, help="evaluate every N training minutes (or kimg)")
    ap.add_argument("--reference", default="benchmarks/results/time_to_quality.json",
                    help="a committed report whose curves stand in for presets not trained now ('' for none)")
    ap.add_argument("--num", type=int, default=10000, help="samples per evaluation")
    ap.add_argument("--runs", default="runs/ttq", help="where the runs go")
    ap.add_argument("--out", default="benchmarks/results/time_to_quality.md")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--sequential", action="store_true", help="one preset after the other, all threads")
    mode.add_argument("--report-only", action="store_true", help="only redraw from existing runs")
    ap.add_argument("--note", default="", help="a line for the report, e.g. how the runs were made")
    args = ap.parse_args(argv)
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    parallel = not args.sequential and len(os.sched_getaffinity(0)) >= len(presets)
    mode_text = ("presets trained at the same time, each pinned to its own core with 1 torch thread"
                 if parallel else "presets trained one after the other with torch's default threads")
    if not args.report_only:
        load = os.getloadavg()
        train_all(presets, runs, args.minutes, args.every, args.num, parallel, args.kimg)
        load_text = (f"load average before training {load[0]:.1f} (1 min) / {load[1]:.1f} (5 min), after "
                     f"{os.getloadavg()[0]:.1f} / {os.getloadavg()[1]:.1f} on {os.cpu_count()} logical cores")
        mode_text += "; " + load_text
    else:
        saved = Path(args.out).with_suffix(".json")
        if saved.is_file():
            mode_text = json.loads(saved.read_text()).get("mode", mode_text)
    shown = list(argv if argv is not None else sys.argv[1:])
    if "--note" in shown:  # the note is printed on its own line
        del shown[shown.index("--note"):shown.index("--note") + 2]
    report = {"command": "python benchmarks/time_to_quality.py " + " ".join(shown),
              "machine": machine_info(), "gankit_source": source_state(), "mode": mode_text, "num": args.num,
              "curves": {p: read_curve(run_dir(runs, p)) for p in presets}, "note": args.note,
              "kimg": args.kimg}
    extra = reference_curves(Path(args.reference), presets) if args.reference else {}
    if extra and "not retrained" not in report["note"]:
        report["note"] = (report["note"] + " " if report["note"] else "") + (
            f"Curves of {', '.join(extra)} are read from {args.reference}, not retrained.")
    report["curves"].update(extra)
    report["verdict"] = verdict(report)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot(report, out.with_suffix(".png"))
    write_report(report, str(out), markdown)


if __name__ == "__main__":
    main()
