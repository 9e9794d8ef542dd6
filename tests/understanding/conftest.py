"""Fixtures for tests/understanding: a linear classifier whose gradients are known by hand,
and the lecture's classifier trained for one epoch (fast, but far better than chance)."""

import pytest
import torch
from torch import nn


class Linear(nn.Module):
    """f(x) = W flatten(x) + b for x: (N, 1, 4, 4), with a named first stage for hooks."""

    def __init__(self, K=3, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(16, K)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(K, 16, generator=g))
            self.fc.bias.copy_(torch.randn(K, generator=g))

    def forward(self, x):
        return self.fc(self.flat(x))


@pytest.fixture
def linear():
    return Linear().eval()


@pytest.fixture(scope="session")
def trained():
    from dlcv.timing import torch_threads
    from dlcv.understanding.model import classifier, load_images

    with torch_threads(1):
        return classifier(seed=0, epochs=2), load_images()


@pytest.fixture(autouse=True)
def one_thread():
    """One torch and BLAS/OpenMP thread per test (restored after): these networks are tiny, and
    on a busy machine extra threads only wait for each other."""
    from threadpoolctl import threadpool_limits

    from dlcv.timing import torch_threads

    with torch_threads(1), threadpool_limits(limits=1):
        yield
