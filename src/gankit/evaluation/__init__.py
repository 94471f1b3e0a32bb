"""Evaluation: feature extractors, sample-quality metrics with their real-vs-real floors.

    from gankit.evaluation import evaluate, format_table
    result = evaluate("runs/demo")            # dict: metrics with values and floors
    print(format_table(result))

Modules: `metrics` (pure metric math), `toy` (PacGAN mode scoring),
`features` (extractor interface, real-data splits, cache), `classifier` (the
domain classifier), `inception` (FID Inception-v3, user-supplied weights),
`evaluator` (`evaluate`, the front end), `table` (the printed report) and `catalog`
(metric names and how to read them). Names below are imported on first use,
so importing one submodule (say `metrics`) does not import the others.
"""

from importlib import import_module

_EXPORTS = {
    "evaluate": "evaluator", "IMAGE_METRICS": "catalog", "TOY_METRICS": "catalog", "format_table": "table",
    "EvaluationError": "features", "extract": "features", "cache_root": "features",
    "ClassifierConfig": "classifier", "DomainClassifier": "classifier", "fit_classifier": "classifier",
    "load_classifier": "classifier", "FIDInceptionV3": "inception", "load_inception": "inception",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"gankit.evaluation.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'gankit.evaluation' has no attribute {name!r}")
