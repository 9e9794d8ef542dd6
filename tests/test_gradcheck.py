"""dlcv.gradcheck against derivatives known in closed form, and against torch autograd."""

import numpy as np
import pytest
import torch

from dlcv.gradcheck import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
)


def test_rel_error():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0]), np.array([1.1])) == pytest.approx(0.1 / 2.1)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        rel_error(np.zeros(2), np.zeros(3))


def test_numeric_gradient_of_known_functions():
    x = np.array([[0.5, -1.2], [2.0, 0.1]])
    # f = sum(sin(x) * x^2) -> df/dx = cos(x) x^2 + 2 x sin(x)
    num = eval_numerical_gradient(lambda v: np.sum(np.sin(v) * v**2), x)
    exact = np.cos(x) * x**2 + 2 * x * np.sin(x)
    assert rel_error(num, exact) < 1e-8
    assert np.array_equal(x, [[0.5, -1.2], [2.0, 0.1]])  # restored after perturbation


def test_numeric_gradient_matches_torch_for_softmax_cross_entropy():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(5, 3))
    X = rng.normal(size=(4, 5))
    y = np.array([0, 2, 1, 2])

    def loss(Wv):
        s = X @ Wv
        s = s - s.max(1, keepdims=True)
        return np.mean(np.log(np.exp(s).sum(1)) - s[np.arange(4), y])

    Wt = torch.tensor(W, requires_grad=True)
    torch.nn.functional.cross_entropy(torch.tensor(X) @ Wt, torch.tensor(y)).backward()
    assert rel_error(eval_numerical_gradient(loss, W), Wt.grad.numpy()) < 1e-7


def test_numeric_gradient_array_is_a_backward_pass():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4))
    df = rng.normal(size=(3, 4))
    num = eval_numerical_gradient_array(np.tanh, x, df)
    assert rel_error(num, df * (1 - np.tanh(x) ** 2)) < 1e-8


def test_sparse_check_reports_small_errors_for_right_gradient_and_large_for_wrong():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20, 10))
    f = lambda v: np.sum(v**3)
    good = grad_check_sparse(f, x, 3 * x**2, num_checks=8, verbose=False)
    bad = grad_check_sparse(f, x, 2 * x**2, num_checks=8, verbose=False)
    assert len(good) == 8 and max(good) < 1e-7
    assert min(bad) > 0.1


def test_gradcheck_rejects_non_float64():
    with pytest.raises(TypeError, match="float64"):
        eval_numerical_gradient(np.sum, np.arange(3))
    with pytest.raises(ValueError, match="shape"):
        grad_check_sparse(np.sum, np.zeros((2, 2)), np.zeros(3))
