"""Fixtures for tests/selfsupervised: one thread per test (these networks are tiny, and on a
busy machine extra threads only wait for each other)."""

import pytest


@pytest.fixture(autouse=True)
def one_thread():
    from threadpoolctl import threadpool_limits

    from dlcv.timing import torch_threads

    with torch_threads(1), threadpool_limits(limits=1):
        yield
