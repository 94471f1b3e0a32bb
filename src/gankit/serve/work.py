"""A bounded work queue: a fixed pool of worker threads, a fixed number of waiting places.

Model work (sampling, decoding uploads, encoding PNGs and GIFs) runs in the pool, so the event
loop only moves bytes. A request takes a slot before its work is queued and gives it back when
the work has finished, not when the request gave up waiting: a timed-out job still runs to its
end in its thread (Python cannot stop one), so the slots bound the work really in flight.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable


class QueueFull(Exception):
    """Every worker is busy and every waiting place taken; `retry_after` in whole seconds."""

    def __init__(self, retry_after: int, what: str = "every worker and queue place taken"):
        super().__init__(f"the service is busy ({what}); retry in {retry_after} s")
        self.retry_after = retry_after


class TimedOut(Exception):
    def __init__(self, seconds: float):
        super().__init__(f"the request took longer than the service's limit of {seconds:g} s")


class WorkQueue:
    def __init__(self, workers: int, queue: int, timeout_s: float):
        self.workers, self.capacity, self.timeout_s = workers, workers + queue, timeout_s
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="gankit-serve")
        self._slots = threading.BoundedSemaphore(self.capacity)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._seconds = 0.1  # running mean of one job's duration, for Retry-After

    @property
    def in_flight(self) -> int:
        """Jobs queued or running now."""
        return self._in_flight

    def retry_after(self) -> int:
        """Whole seconds until a place is likely free: the queue's worth of jobs over the workers."""
        return max(1, math.ceil(self._seconds * self.capacity / self.workers))

    def _timed(self, fn: Callable, args: tuple) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            with self._lock:
                self._seconds = 0.8 * self._seconds + 0.2 * (time.perf_counter() - start)

    def _done(self, _future) -> None:
        with self._lock:
            self._in_flight -= 1
        self._slots.release()

    async def run(self, fn: Callable, *args) -> Any:
        """fn(*args) in a worker; QueueFull at once when there is no place, TimedOut after timeout_s."""
        if not self._slots.acquire(blocking=False):
            raise QueueFull(self.retry_after())
        with self._lock:
            self._in_flight += 1
        try:
            future = self._pool.submit(self._timed, fn, args)
        except BaseException:
            self._done(None)
            raise
        future.add_done_callback(self._done)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except asyncio.TimeoutError:
            future.cancel()  # a job still waiting never runs; a running one finishes, holding its slot
            raise TimedOut(self.timeout_s) from None

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
