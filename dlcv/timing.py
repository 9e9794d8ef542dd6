"""Speed: timing a function the way the course reports it (the fastest of a few calls), and
how many threads numpy's BLAS and torch use.

Every notebook calls `cap_threads()` in its first code cell: the one place that decides the
thread count of the course's code (the grading sandbox and `make test` set the same through the
environment). The course's arrays and networks are small; a second thread saves little on an idle
2-core laptop, and when other programs keep the cores busy, threads that wait for each other make
a cell many times slower (`make bench` measures each notebook with and without two busy
background processes).
"""

from __future__ import annotations

import contextlib
import os
import sys
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


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def thread_count(n: int | None = None) -> int:
    """n, checked; n = None: the environment variable DLCV_THREADS (default 1)."""
    if n is None:
        raw = os.environ.get("DLCV_THREADS", "1")
        try:
            n = int(raw)
        except ValueError:
            raise ValueError(f"DLCV_THREADS must be a positive integer, got {raw!r}") from None
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the thread count must be a positive int, got {n!r}")
    return n


def thread_env(n: int | None = None) -> dict[str, str]:
    """The environment variables that give a new process (a kernel) n BLAS/OpenMP threads."""
    return dict.fromkeys(THREAD_VARIABLES, str(thread_count(n)))


def cap_threads(n: int | None = None) -> int:
    """Make numpy's BLAS and torch use n threads in this process (and its children); return n.

    n = None reads the environment variable DLCV_THREADS (default 1): set DLCV_THREADS=2 before
    starting JupyterLab to give a notebook both cores of an otherwise idle machine. torch is set
    when it is imported already, and through OMP_NUM_THREADS when it is imported later.
    """
    n = thread_count(n)
    os.environ.update(thread_env(n))
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)  # the BLAS and OpenMP libraries loaded so far (numpy's OpenBLAS)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    return n


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
