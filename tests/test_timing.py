"""dlcv.timing."""

import time

import pytest

from dlcv.timing import time_call


def test_time_call_returns_fastest_time_and_result():
    delays = iter([0.03, 0.001, 0.02])

    def f(x, scale=1):
        time.sleep(next(delays))
        return x * scale

    seconds, out = time_call(f, 3, repeats=3, scale=2)
    assert out == 6
    assert 0.001 <= seconds < 0.015  # the fastest of the three calls


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
