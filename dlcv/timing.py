"""Speed: timing a function the way the course reports it (the fastest of a few calls), and
running torch on a chosen number of threads."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any


def time_call(f: Callable, *args, repeats: int = 1, **kwargs) -> tuple[float, Any]:
    """Call f(*args, **kwargs) `repeats` times.

    Returns:
        (seconds, result): the fastest call's wall-clock time (time.perf_counter) and the last
        call's result. The minimum is the least noisy estimate: other programs only add time.
    """
    if not (isinstance(repeats, int) and repeats >= 1):
        raise ValueError(f"time_call: repeats must be an int >= 1, got {repeats!r}")
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = f(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, out


@contextlib.contextmanager
def torch_threads(n: int | None = 1):
    """Run the block with n torch threads, then restore the previous count (n = None: leave it).

    The course's networks are small (a minibatch of 64 images of 64 x 64, an LSTM of 8 units):
    a second thread saves little on an idle machine, and when other processes keep the cores
    busy the threads wait for each other. On a loaded 2-core machine one training step of the
    shapes encoder took 0.5 s with two threads against 0.04 s with one.
    """
    import torch

    if n is not None and not (isinstance(n, int) and n >= 1):
        raise ValueError(f"torch_threads: n must be a positive int or None, got {n!r}")
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
