"""gankit: train generative adversarial networks on a laptop CPU and put them to work.

The Python API mirrors the command line::

    import gankit
    cfg = gankit.config.resolve(preset="fashion-dcgan", overrides=["train.minutes=5"])
    run_dir = gankit.train(cfg)
    G = gankit.load_generator(run_dir)
    images = G.sample(16, seed=0)          # (16, 1, 28, 28) float in [-1, 1]
    result = gankit.evaluate(run_dir)      # FID, KID, precision/recall, ... with real-vs-real floors
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
