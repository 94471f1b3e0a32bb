"""The evaluation table: metric | value | real-vs-real floor | how to read it, as plain text."""

from __future__ import annotations

import math

__all__ = ["format_table"]


def _num(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, int):
        return str(x)
    a = abs(x)
    if a == math.inf:
        return "inf"
    if a == 0:
        return "0"
    if a >= 100:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    if a >= 0.001:
        return f"{x:.4f}"
    return f"{x:.1e}"


def _cells(name: str, m: dict) -> tuple[str, str]:
    if "of" in m:
        return f"{m['value']} / {m['of']}", f"{m['floor']} / {m['of']}"
    if "std" in m:
        return f"{_num(m['value'])} ± {_num(m['std'])}", f"{_num(m['floor'])} ± {_num(m['floor_std'])}"
    return _num(m["value"]), _num(m["floor"])


def _conditional_lines(result: dict) -> list[str]:
    """Per-class intra-FID and consistency, and what CAS's classifier was (conditional runs)."""
    out, classes = [], result.get("classes") or []

    def per_class(values):
        names = classes if len(classes) == len(values) else [str(i) for i in range(len(values))]
        return ", ".join(f"{c} {_num(v)}" for c, v in zip(names, values))
    if result.get("intra_fid_per_class") is not None:
        out += ["", f"intra-FID per class: {per_class(result['intra_fid_per_class'])}",
                f"  floor per class:   {per_class(result['floor_intra_fid_per_class'])}"]
    if result.get("consistency_per_class") is not None:
        out.append(f"consistency per class: {per_class(result['consistency_per_class'])}")
    if result.get("cas_classifier"):
        cas = result["metrics"]["cas"]
        out.append(f"CAS: {100 * cas['value']:.1f}% trained on samples vs {100 * cas['floor']:.1f}% trained on "
                   f"as many real train images ({100 * result['cas_ratio']:.1f}% of real); "
                   f"{result['cas_classifier']}")
    return out


def format_table(result: dict) -> str:
    """The lines `gankit evaluate` prints for a result of `gankit.evaluation.evaluate`."""
    head = (f"{result.get('generator', 'generator')}: {result['num']:,} samples (seed {result['seed']}) vs "
            f"{result['dataset']}; {result['extractor']}")
    if result["kind"] == "images":
        head += (f"\nreference: {result['reference_num']:,} real train images; "
                 f"floor: {result['floor_num']:,} real test images vs the same reference")
    rows = [("metric", "value", "real-vs-real floor", "how to read it")]
    for name, m in result["metrics"].items():
        rows.append((name, *_cells(name, m), m["read"]))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [head, ""]
    for i, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3])
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * len(r[3]))
    if result.get("class_histogram") is not None:
        pairs = ", ".join(f"{c} {n}" for c, n in zip(result["classes"], result["class_histogram"]))
        lines += ["", f"class histogram of the samples: {pairs}"]
    lines += _conditional_lines(result)
    if result["kind"] == "images" and result["floor_num"] < result["num"]:
        lines.append(f"note: the floor uses {result['floor_num']:,} test images (all there are), fewer than "
                     f"--num; FID and KID grow as samples shrink, so the floor is a little pessimistic")
    if "copying" in result["metrics"]:
        c = result["metrics"]["copying"]
        lines.append(f"copying: {c['verdict']} (C_T {_num(c['value'])} over {c['cells_used']} of {c['cells']} "
                     f"k-means cells, copying needs < -3; Z_U over the whole train split {_num(c['z_u'])}); "
                     f"{100 * c['share_closer']:.1f}% of samples are closer to a training image than 95% of the "
                     f"{c['heldout_num']:,} held-out images are (~5% when not copying); spread {_num(c['spread'])} "
                     f"(sample diversity / training images'; ~1 for copies)")
    if result.get("manifold_reference_num"):
        lines.append(f"precision, recall, density: against one fixed set of {result['manifold_reference_num']:,} "
                     f"real train images whatever --num is (comparable across --num); coverage: the reference")
    lines += [f"warning: {w}" for w in result.get("warnings", [])]
    if "seconds" in result:
        lines.append(f"({result['seconds']:.1f} s)")
    return "\n".join(lines)
