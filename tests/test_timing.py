"""dlcv.timing."""

import os
import subprocess
import sys

import pytest

from dlcv import timing
from dlcv.timing import time_call


def test_time_call_returns_fastest_time_and_result(monkeypatch):
    """A fake clock: each call of f takes the next of these durations (no dependence on how busy
    the machine is)."""
    durations = iter([0.03, 0.001, 0.02])
    now = [0.0]
    monkeypatch.setattr(timing.time, "perf_counter", lambda: now[0])

    def f(x, scale=1):
        now[0] += next(durations)
        return x * scale

    seconds, out = time_call(f, 3, repeats=3, scale=2)
    assert out == 6
    assert seconds == pytest.approx(0.001)  # the fastest of the three calls


def test_time_call_rejects_bad_repeats():
    with pytest.raises(ValueError, match="repeats"):
        time_call(print, repeats=0)


def test_torch_threads_sets_and_restores_the_thread_count():
    import torch

    from dlcv.timing import torch_threads

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="positive int"):
        with torch_threads(0):
            pass


def _threads_in_fresh_python(code: str, **env) -> str:
    base = {k: v for k, v in os.environ.items() if k not in timing.THREAD_VARIABLES + ("DLCV_THREADS",)}
    return subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True,
                          text=True, check=True).stdout.split()


CHECK = ("import numpy, torch\nfrom threadpoolctl import threadpool_info\n"
         "from dlcv.timing import cap_threads\n{before}print(cap_threads(), torch.get_num_threads(), "
         "*sorted({{i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'}}))")


def test_cap_threads_sets_blas_and_torch_in_this_process_and_its_children():
    # torch imported before the call, and after it (through OMP_NUM_THREADS)
    assert _threads_in_fresh_python(CHECK.format(before="")) == ["1", "1", "1"]
    late = ("import numpy\nfrom dlcv.timing import cap_threads\ncap_threads()\nimport os, torch\n"
            "print(torch.get_num_threads(), os.environ['OPENBLAS_NUM_THREADS'])")
    assert _threads_in_fresh_python(late) == ["1", "1"]
    # DLCV_THREADS chooses the count
    assert _threads_in_fresh_python(CHECK.format(before=""), DLCV_THREADS="2") == ["2", "2", "2"]


def test_cap_threads_rejects_a_bad_count(monkeypatch):
    with pytest.raises(ValueError, match="positive int"):
        timing.cap_threads(0)
    monkeypatch.setenv("DLCV_THREADS", "many")
    with pytest.raises(ValueError, match="DLCV_THREADS must be a positive integer, got 'many'"):
        timing.thread_env()


def test_thread_env_is_what_a_kernel_needs():
    assert timing.thread_env(1) == {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                                    "MKL_NUM_THREADS": "1"}
