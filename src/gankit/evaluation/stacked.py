"""Mode scores on stacked MNIST / Fashion-MNIST: the 1000-mode test (PacGAN, VEEGAN).

Each generated colour image is split into its three channels; the base dataset's domain
classifier reads each channel's class, and the triple is the sample's mode. Reported as in
PacGAN: `modes`, how many of the 1000 triples occur at least once, and `reverse_kl`,
KL(sample mode histogram || uniform) in nats. The floor is the same score on real stacks of
the test split (the classifier's own errors keep it a little above 0), with the same count.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.data.stacked import BASES
from gankit.evaluation.catalog import TOY_METRICS
from gankit.evaluation.features import EvaluationError, extract

NUM_MODES = 1000
METRICS = ("modes", "reverse_kl")
READ = {"modes": "class triples seen at least once; below the floor = mode collapse",
        "reverse_kl": TOY_METRICS["reverse_kl"]}
DEFAULT_STACKED_NUM = 26000  # PacGAN's sample count for stacked MNIST


def mode_ids(images: Tensor, classifier, batch_size: int = 1000, device="cpu") -> np.ndarray:
    """images: uint8 or float (N, 3, H, W) -> int64 (N,) triples 100*a + 10*b + c (a = R's class)."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise EvaluationError(f"stacked images must be (N, 3, H, W), got {tuple(images.shape)}")
    digits = [extract(classifier.logits, images[:, c:c + 1], batch_size, device).argmax(dim=1) for c in range(3)]
    return (100 * digits[0] + 10 * digits[1] + digits[2]).numpy()


def score_ids(ids: np.ndarray) -> dict:
    """Modes covered and reverse KL(samples || uniform over 1000) of mode ids."""
    counts = np.bincount(ids, minlength=NUM_MODES).astype(np.float64)
    p = counts / counts.sum()
    nz = p > 0
    return {"modes": int(nz.sum()), "reverse_kl": float((p[nz] * np.log(p[nz] * NUM_MODES)).sum()),
            "histogram": counts.astype(np.int64)}


def evaluate_stacked(G, data_cfg: DataConfig, metrics, num: int, seed: int, device, progress=False) -> dict:
    from gankit.evaluation.classifier import load_classifier
    from gankit.evaluation.evaluator import _entry, _sample_uint8, parse_metrics
    names = parse_metrics(metrics, READ)
    base_cfg = DataConfig(name=BASES[data_cfg.name], path=data_cfg.path)
    model, meta = load_classifier(base_cfg, progress=progress, device=device)
    model.to(device)
    fake = score_ids(mode_ids(_sample_uint8(G, num, seed, device), model, device=device))

    def real_ids():  # the test stacks' modes, cached like the image floors (they do not depend on num: 0)
        test = load_dataset(DataConfig(name=data_cfg.name, path=data_cfg.path, split="test", channels=3))
        return {"heldout_ids": mode_ids(test.x, model, device=device)}, {}
    ids = _entry("stacked-modes", data_cfg, f"classifier:{meta['weights_sha256']}", 0, real_ids).arrays["heldout_ids"]
    reps = -(-num // len(ids))  # the test split has 10k stacks: reuse them for a larger num
    real = score_ids(np.tile(ids, reps)[:num])
    res = {n: {"value": fake[n], "floor": real[n], "read": READ[n]} for n in names}
    if "modes" in res:
        res["modes"]["of"] = NUM_MODES
    return {"kind": "stacked", "dataset": data_cfg.name, "num": num, "seed": seed, "floor_num": num,
            "extractor": f"{base_cfg.name} domain classifier per channel", "metrics": res}
