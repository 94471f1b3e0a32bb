"""The two types every reader returns or raises: `Dataset` and `DataError`.

They live in their own module so that the readers (idx, folder, toy) and the
package front door (`gankit.data`) can all import them without a cycle;
`gankit.data` re-exports both, and that is the name to use.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


class DataError(Exception):
    """Data is missing, unreadable or not what was asked for.

    The message is one user-facing line (the CLI prints ``str(e)`` and exits 1),
    naming the file or folder concerned and, where it helps, what to do about it.
    """


@dataclass
class Dataset:
    """A whole dataset held in memory.

    x: images as uint8 (N, C, H, W), contiguous, values 0..255 (C in {1, 3});
       toy data as float32 (N, D).
    y: int64 (N,) class labels (toy data: the index of the mixture component a
       point was drawn from), or None when unlabeled.
    name: the registry name, e.g. "fashion-mnist".
    classes: class names, index = label; empty when unlabeled.
    source: the file or folder read, or a description of how toy data was drawn.
    """

    x: torch.Tensor
    y: torch.Tensor | None
    name: str
    classes: list[str]
    source: str

    def __post_init__(self):
        # Catch a reader bug here rather than as an index error deep in training.
        if self.y is not None and self.y.shape != (self.x.shape[0],):
            raise ValueError(f"Dataset {self.name}: labels {tuple(self.y.shape)} do not match "
                             f"{self.x.shape[0]} examples")

    @property
    def is_image(self) -> bool:
        return self.x.ndim == 4

    @property
    def sample_shape(self) -> tuple:
        """(C, H, W) for images, (D,) for toy points."""
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return self.x.shape[0]

    def __repr__(self) -> str:  # the default would print the whole tensor
        labels = f"{len(self.classes)} classes" if self.y is not None else "unlabeled"
        return (f"Dataset(name={self.name!r}, n={len(self)}, shape={self.sample_shape}, "
                f"dtype={self.x.dtype}, {labels}, source={self.source!r})")
