"""The image pool (history buffer) of past fakes that CycleGAN's discriminators train on.

Shrivastava et al. 2017 (SimGAN, §2.3) and CycleGAN (Zhu et al. 2017, §4) update D on a history
of generated images rather than only the latest ones, which damps the oscillation of G and D
chasing each other. The rule, per image of a fake batch, as in the reference code:

- while the pool holds fewer than `size` images, the new image is stored and returned as is;
- once full, with probability 1/2 a uniformly chosen stored image is returned and the new
  image takes its slot, otherwise the new image is returned and the pool is unchanged.

Draws come from a torch.Generator the caller hands in (no hidden global RNG), and the pool's
contents are plain data (`state_dict`: the stored images as one tensor, and a count), so a checkpoint
restores it exactly. Images are (N, C, H, W) float in [-1, 1]; stored detached, on the device.
"""

from __future__ import annotations

import torch
from torch import Tensor

POOL_SIZE = 50
"""The paper's pool of 50 past fakes per discriminator."""


class ImagePool:
    def __init__(self, size: int = POOL_SIZE):
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"pool size: must be an integer >= 0, got {size!r}")
        self.size = size
        self.images: Tensor | None = None  # (size, C, H, W) once the first batch arrives
        self.count = 0                     # slots filled

    def query(self, fakes: Tensor, rng: torch.Generator) -> Tensor:
        """The batch D should see for `fakes` (N, C, H, W): each image, or a stored one it replaces.

        Returns a new tensor of the same shape, detached (D's step never reaches G through it).
        Size 0 returns `fakes.detach()` and draws nothing."""
        fakes = fakes.detach()
        if self.size == 0:
            return fakes
        if self.images is None:
            self.images = torch.zeros((self.size, *fakes.shape[1:]), dtype=fakes.dtype, device=fakes.device)
        elif self.images.shape[1:] != fakes.shape[1:]:
            raise ValueError(f"image pool: holds images of shape {tuple(self.images.shape[1:])}, "
                             f"got {tuple(fakes.shape[1:])}")
        elif self.images.device != fakes.device:  # restored from a checkpoint read onto the CPU
            self.images = self.images.to(fakes.device)
        out = fakes.clone()
        for i in range(fakes.shape[0]):
            if self.count < self.size:
                self.images[self.count] = fakes[i]
                self.count += 1
                continue
            # One uniform and (when it swaps) one slot index per image, from the caller's generator.
            if float(torch.rand((), generator=rng, device=rng.device)) > 0.5:
                slot = int(torch.randint(self.size, (), generator=rng, device=rng.device))
                out[i] = self.images[slot]
                self.images[slot] = fakes[i]
        return out

    def state_dict(self) -> dict:
        """Plain data for a checkpoint (torch.load(weights_only=True) reads it)."""
        images = self.images[:self.count].clone() if self.images is not None else torch.zeros(0)
        return {"size": self.size, "count": self.count, "images": images}

    def load_state_dict(self, state: dict) -> None:
        size, count, images = int(state["size"]), int(state["count"]), state["images"]
        if size != self.size:
            raise ValueError(f"image pool: the checkpoint's pool holds {size} images, this run's {self.size}")
        if not 0 <= count <= size or (count and images.shape[0] != count):
            raise ValueError(f"image pool: malformed state (count {count}, {tuple(images.shape)} images)")
        if count == 0:
            self.images, self.count = None, 0
            return
        self.images = torch.zeros((size, *images.shape[1:]), dtype=images.dtype, device=images.device)
        self.images[:count] = images
        self.count = count
