"""Metric names, defaults and how to read each one: plain data, no torch (the CLI's --help reads it)."""

DEFAULT_NUM = 10000
DEFAULT_TOY_NUM = 2500

# name -> how to read it (one short phrase, printed in the table)
IMAGE_METRICS = {
    "fid": "lower is better; floor = the best achievable with this extractor",
    "kid": "lower is better; ~0 (within ±) when the sets match",
    "precision": "higher is better: share of samples that look real (fidelity)",
    "recall": "higher is better: share of real data the samples reach (diversity)",
    "density": "~1 when matched; lower = samples off the real data (fidelity)",
    "coverage": "higher is better: real neighbourhoods hit (diversity)",
    "is": "higher is better (classifier Inception Score); max = classes",
    "classes": "classes among the samples; below the floor = mode collapse",
    "copying": "data-copying C_T (Meehan et al. 2020); ~0 fine, < -3 copies training images",
    # conditional runs only (gankit.evaluation.conditional):
    "intra_fid": "mean over classes of FID(class-c samples, class-c real); lower is better",
    "consistency": "domain classifier agrees with the requested class; floor = its test accuracy",
    "cas": "accuracy on real test of a classifier trained on samples; floor = trained on real",
}
TOY_METRICS = {
    "modes": "modes with a high-quality sample; below the floor = mode collapse",
    "high_quality": "share of samples within 3 std of a mode; higher is better",
    "reverse_kl": "KL(sample modes || uniform), nats; lower is better",
}

# Which way is better, for the metrics that can pick a "best" generator (density has no direction:
# ~1 is right, and above 1 is not better).
LOWER_IS_BETTER = ("fid", "kid", "reverse_kl", "intra_fid")
HIGHER_IS_BETTER = ("precision", "recall", "coverage", "is", "classes", "modes", "high_quality", "consistency",
                    "cas")

# What `gankit train` evaluates when eval.metrics is empty: the cheap, telling ones.
TRAIN_IMAGE_METRICS = ("fid", "precision", "recall", "classes")
TRAIN_TOY_METRICS = tuple(TOY_METRICS)

# Left out of "all metrics" (evaluate without --metrics): CAS trains a classifier, about a minute per
# 10,000 samples on one CPU core. Conditional metrics are left out for unconditional generators.
OPT_IN_METRICS = ("cas",)
