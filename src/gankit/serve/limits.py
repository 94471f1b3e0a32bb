"""What one request may ask of the service, and how much work it takes on at once.

Every limit is checked before any work is done for a request: a quantity over its maximum is
refused with 413 (n, steps, seeds, upload bytes, images per upload, pixels per image), a value
that makes no sense with 422, and a request that finds every worker busy and the queue full with
503 and Retry-After. Pure data, no web framework: `gankit serve --help` prints the defaults.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Limits:
    max_n: int = 64
    """Samples per /api/sample request."""
    max_steps: int = 32
    """Frames per pair of seeds in /api/interpolate."""
    max_seeds: int = 8
    """Seeds in one /api/interpolate walk."""
    max_upload_bytes: int = 8 * 2**20
    """Bytes of one upload (the whole request body of /api/score or /api/translate)."""
    max_images: int = 16
    """Images in one upload."""
    max_pixels: int = 4096 * 4096
    """Pixels (width x height) of one uploaded image, read from its header before it is decoded."""
    workers: int = 2
    """Threads running model work (sampling, decoding, encoding) at once."""
    queue: int = 8
    """Requests that may wait for a worker; one more is refused with 503 and Retry-After."""
    timeout_s: float = 30.0
    """Seconds a request may take: its upload arriving (else 408) and its work (else 504)."""

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            low = 0 if f.name == "queue" else 1
            if f.name == "timeout_s":
                if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                    raise ValueError(f"timeout_s: expected a number of seconds > 0, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{f.name}: expected an integer >= {low}, got {value!r}")

    def as_dict(self) -> dict:
        return asdict(self)
