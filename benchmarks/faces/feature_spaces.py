"""Which feature space for the data-copying test on lfw-faces? Synthetic "generators" in three spaces.

    python benchmarks/faces/feature_spaces.py                          # pixels and random CNNs (~1 min)
    python benchmarks/faces/feature_spaces.py --fashion-classifier     # + the Fashion-MNIST classifier
                                                                       #   (fitted once, ~10 min on 1 core)

Each "generator" is 1,000 images made from lfw-faces directly: copies of training faces, copies with
noise or shifted one pixel, blends (averages) of 2 or 8 training faces, the mean face with noise,
held-out faces with noise, and mirrored held-out faces. Each is scored with `copying_test` (80
training faces, 20 held-out) in pixel space, in two random-weight CNNs (3 stride-2 convolutions with
ReLU, 2x2-pooled to 512-D) and optionally in the Fashion-MNIST domain classifier's 128-D features (a
network trained on another 28x28 grey domain, as Inception is for faces). Writes feature_spaces.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cases(train, test):
    import numpy as np
    import torch
    rng = np.random.default_rng(0)
    g = torch.Generator().manual_seed(1)

    def pick(*shape):
        return torch.from_numpy(rng.integers(len(train), size=shape))
    return {
        "copies of training faces": train[pick(1000)],
        "copies + noise (std 0.1)": (train[pick(1000)] + 0.1 * torch.randn(1000, *train.shape[1:], generator=g)
                                     ).clamp(-1, 1),
        "copies shifted 1 pixel": torch.roll(train[pick(1000)], 1, dims=3),
        "blends of 2 training faces": train[pick(1000, 2)].mean(1),
        "blends of 8 training faces": train[pick(1000, 8)].mean(1),
        "the mean face + noise (std 0.05)": (train.mean(0, keepdim=True)
                                             + 0.05 * torch.randn(1000, *train.shape[1:], generator=g)).clamp(-1, 1),
        "held-out faces + noise (std 0.03)": (test[torch.arange(1000) % len(test)]
                                              + 0.03 * torch.randn(1000, *test.shape[1:], generator=g)).clamp(-1, 1),
        "mirrored held-out faces": test.flip(3),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fashion-classifier", action="store_true", help="also the Fashion-MNIST domain classifier")
    ap.add_argument("--out", default=str(HERE / "feature_spaces.md"))
    args = ap.parse_args(argv)
    import torch
    from torch import nn

    from gankit.config import DataConfig
    from gankit.data import load_dataset, to_float
    from gankit.evaluation.copying import copying_test
    torch.set_num_threads(1)
    train = to_float(load_dataset(DataConfig(name="lfw-faces")).x)
    test = to_float(load_dataset(DataConfig(name="lfw-faces", split="test")).x)
    spaces = {"pixels (784-D)": lambda x: x.flatten(1)}
    for seed in (0, 1):
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Conv2d(1, 32, 5, 2, 2), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
                            nn.Conv2d(64, 128, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        spaces[f"random CNN, seed {seed} (512-D)"] = net
    if args.fashion_classifier:
        from gankit.evaluation.classifier import load_classifier
        model, meta = load_classifier(DataConfig(name="fashion-mnist"))
        spaces[f"Fashion-MNIST classifier ({100 * meta['test_accuracy']:.1f}%, 128-D)"] = model.eval()
    made = cases(train, test)
    lines = ["# The data-copying test on lfw-faces in three feature spaces", "",
             f"Command: `python benchmarks/faces/feature_spaces.py {' '.join(sys.argv[1:] if argv is None else argv)}`",
             "", "Each cell: C_T / share of samples closer to a training face than 95 % of held-out faces / "
             "spread (the samples' median pairwise distance over the training faces'); **bold** = called "
             "copying (C_T < -3, share > 25 % and spread >= 0.75).", "",
             "| generator | " + " | ".join(spaces) + " |", "|---" * (len(spaces) + 1) + "|"]
    with torch.no_grad():
        feats = {name: (f(train).double().numpy(), f(test).double().numpy()) for name, f in spaces.items()}
        for case, x in made.items():
            cells = []
            for name, f in spaces.items():
                r = copying_test(f(x).double().numpy(), feats[name][1], feats[name][0])
                text = f"{r['c_t']:.2f} / {100 * r['share_closer']:.0f} % / {r['spread']:.2f}"
                cells.append(f"**{text}**" if r["copying"] else text)
            lines.append(f"| {case} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
