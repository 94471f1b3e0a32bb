"""gankit: train generative adversarial networks on a laptop CPU and put them to work.

The Python API mirrors the command line::

    import gankit
    cfg = gankit.config.resolve(preset="fashion-dcgan", overrides=["train.minutes=5"])
    run_dir = gankit.train(cfg)
    G = gankit.load_generator(run_dir)
    images = G.sample(16, seed=0)          # (16, 1, 28, 28) float in [-1, 1]
    result = gankit.evaluate(run_dir)      # FID, KID, precision/recall, ... with real-vs-real floors
    gankit.export_onnx(run_dir, "g.onnx")  # an ONNX file checked against PyTorch in onnxruntime
"""

__version__ = "0.1.0"


def train(config, **kwargs):
    """Train a GAN from a `gankit.config.Config`; returns the run directory (Path)."""
    from gankit.training.loop import train as _train
    return _train(config, **kwargs)


def load_generator(path, device="cpu"):
    """Load a generator from a run folder, its `generator/` folder or a checkpoint folder."""
    from gankit.io.generator import load_generator as _load
    return _load(path, device=device)


def load_translator(path, device="cpu", **kwargs):
    """Load an image-to-image run (data.task) as a callable: translator(uint8 image) -> uint8 image."""
    from gankit.apps.translate import load_translator as _load
    return _load(path, device=device, **kwargs)


def evaluate(generator, metrics=None, num=None, **kwargs):
    """Score a generator (run folder, generator folder or module) against its dataset.

    Returns a dict whose "metrics" map each name to its value and real-vs-real
    floor; see `gankit.evaluation.evaluator.evaluate` for every option.
    """
    from gankit.evaluation.evaluator import evaluate as _evaluate
    return _evaluate(generator, metrics=metrics, num=num, **kwargs)


def export_onnx(generator, out, **kwargs):
    """Export a generator (run folder, generator folder, checkpoint or module) to an ONNX file `out`,
    checked in onnxruntime against PyTorch; see `gankit.apps.export.export_onnx` for the options."""
    from gankit.apps.export import export_onnx as _export
    return _export(generator, out, **kwargs)


def synthesize(generator, out, per_class=None, num=None, seed=0, truncation=1.0, **kwargs):
    """Write a synthetic dataset of a generator (run folder, generator folder or module) to `out`:
    a folder (class sub-folders of PNGs for a conditional run) or an .npz file. `per_class` images
    of each class for a conditional generator, `num` for an unconditional one; returns a dict
    describing what was written. See `gankit.apps.synthesize.synthesize` for every option."""
    from gankit.apps.synthesize import synthesize as _synthesize
    if not hasattr(generator, "sample"):
        source = str(generator)
        generator = load_generator(generator, device=kwargs.pop("device", "cpu"))
        kwargs.setdefault("source", source)
    return _synthesize(generator, out, per_class=per_class, num=num, seed=seed, truncation=truncation, **kwargs)
