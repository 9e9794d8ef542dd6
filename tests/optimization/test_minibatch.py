"""dlcv.optimization.minibatch: softmax-regression runs with torch.optim, and the full-batch objective."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcv.gradcheck import eval_numerical_gradient, rel_error
from dlcv.optimization.minibatch import full_batch_objective, minibatch_run, softmax_regression_loss


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 5))  # (N, D)
    y = (X[:, 0] > 0).astype(np.int64) + 2 * (X[:, 1] > 0.5)  # 4 classes
    return X, y


def test_loss_matches_cross_entropy(data):
    X, y = data
    W = torch.randn(4, 5, dtype=torch.float64)
    b = torch.randn(4, dtype=torch.float64)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    expect = F.cross_entropy(Xt @ W.T + b, yt) + 0.1 * (W**2).sum()
    assert float(softmax_regression_loss(W, b, Xt, yt, 0.1)) == pytest.approx(float(expect))


def test_full_batch_gradient_descent_by_hand(data):
    # batch_size = N: every step is one full-batch gradient step; compare with a hand loop
    X, y = data
    W0 = np.zeros((4, 5))
    h = minibatch_run(X, y, batch_size=len(X), epochs=5, lr=0.5, reg=1e-2, W0=W0)
    W = torch.zeros(4, 5, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(5):
        loss = softmax_regression_loss(W, b, Xt, yt, 1e-2)
        gW, gb = torch.autograd.grad(loss, (W, b))
        with torch.no_grad():
            W -= 0.5 * gW
            b -= 0.5 * gb
    np.testing.assert_allclose(h.W, W.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(h.iteration, np.arange(6))
    np.testing.assert_allclose(h.epoch, np.arange(6))
    assert h.loss[0] == pytest.approx(np.log(4)) and np.all(np.diff(h.loss) < 0)
    assert np.all(np.diff(h.seconds) >= 0) and h.lr.tolist() == [0.5] * 5


def test_minibatches_count_and_schedule(data):
    X, y = data
    h = minibatch_run(X, y, batch_size=16, epochs=3, optimizer="Momentum", lr=0.1, momentum=0.9,
                      scheduler=lambda o: torch.optim.lr_scheduler.StepLR(o, 1, gamma=0.5))
    assert h.iteration[-1] == 3 * 4  # ceil(60 / 16) = 4 steps per epoch
    assert h.epoch[-1] == pytest.approx(3.0)
    np.testing.assert_allclose(h.lr, [0.1, 0.05, 0.025])
    assert h.loss[-1] < h.loss[0]
    half = minibatch_run(X, y, batch_size=16, epochs=0.5)
    assert half.iteration[-1] == 2


def test_objective_gradient_and_errors(data):
    X, y = data
    f = full_batch_objective(X, y, reg=1e-2)
    w = np.random.default_rng(1).standard_normal(4 * 5 + 4)
    loss, g = f(w)
    num = eval_numerical_gradient(lambda v: f(v)[0], w.copy())
    assert rel_error(g, num) < 1e-7 and f.calls > 1
    with pytest.raises(ValueError, match=r"w must have shape \(24,\)"):
        f(np.zeros(3))
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        minibatch_run(X, y, batch_size=0, epochs=1)
    with pytest.raises(ValueError, match=r"X must have shape \(N, D\)"):
        minibatch_run(X[0], y, batch_size=4, epochs=1)
    with pytest.raises(ValueError, match="lr must be positive"):
        minibatch_run(X, y, batch_size=4, epochs=1, lr=0)
