"""Fixtures for tests/transformers: one thread per test, and a ViT trained for one epoch."""

import pytest


@pytest.fixture(autouse=True)
def one_thread():
    """One torch and BLAS/OpenMP thread per test (restored after): these networks are tiny."""
    from threadpoolctl import threadpool_limits

    from dlcv.timing import torch_threads

    with torch_threads(1), threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def quick_vit():
    """vit(epochs=3): the lecture's ViT after three epochs (far better than chance), and the data."""
    from dlcv.timing import torch_threads
    from dlcv.transformers.vit import load_digits, vit

    with torch_threads(1):
        return vit(seed=0, epochs=3), load_digits()
