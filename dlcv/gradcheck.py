"""Numeric gradients by centred differences, and the relative error used to compare them.

The centred difference  (f(x + h) - f(x - h)) / 2h  has error O(h^2), against O(h) for the
one-sided one. With float64 and h = 1e-5 an analytic gradient that is right agrees to a relative
error around 1e-7 or better; 1e-2 or worse means a bug (unless a kink such as max(0, x) is
crossed between x - h and x + h).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def rel_error(x, y, eps: float = 1e-8) -> float:
    """Largest elementwise relative error  |x - y| / max(eps, |x| + |y|)  between two arrays."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error: shapes differ, {x.shape} vs {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(eps, np.abs(x) + np.abs(y))))


def _check_float64(x: np.ndarray, who: str) -> None:
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        got = type(x).__name__ if not isinstance(x, np.ndarray) else x.dtype
        raise TypeError(
            f"{who}: x must be a float64 numpy array (it is perturbed in place), got {got}; "
            "use x.astype(np.float64)"
        )


def _central_differences(x: np.ndarray, h: float, value: Callable, slope: Callable,
                         verbose: bool = False) -> np.ndarray:
    """grad[ix] = slope(value(x + h e_ix), value(x - h e_ix)) for every index ix of x, perturbing
    x in place and restoring each entry after its two evaluations."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        up = value(x)
        x[ix] = old - h
        down = value(x)
        x[ix] = old
        grad[ix] = slope(up, down)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5, verbose: bool = False
) -> np.ndarray:
    """Numeric gradient of a scalar function f at x, one coordinate at a time.

    Args:
        f: function of one array argument that returns a scalar.
        x: (any shape) float64 array; it is perturbed in place and restored.
    Returns:
        grad: same shape as x.
    """
    _check_float64(x, "eval_numerical_gradient")
    return _central_differences(x, h, lambda z: float(f(z)),
                                lambda up, down: (up - down) / (2 * h), verbose)


def eval_numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, df: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Numeric gradient of sum(f(x) * df) with respect to x, for array-valued f.

    This is what a layer's backward pass computes: df is the upstream gradient dL/df,
    the result is dL/dx.
    """
    _check_float64(x, "eval_numerical_gradient_array")
    return _central_differences(x, h, lambda z: np.array(f(z), dtype=np.float64, copy=True),
                                lambda up, down: np.sum((up - down) * df) / (2 * h))


def grad_check_sparse(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    analytic_grad: np.ndarray,
    num_checks: int = 10,
    h: float = 1e-5,
    seed: int = 0,
    verbose: bool = True,
) -> list[float]:
    """Compare an analytic gradient with centred differences at a few random coordinates.

    Useful when x is large (a (3073, 10) weight matrix) and a full numeric gradient is slow.
    Returns the relative error at each checked coordinate (and prints them when verbose).
    """
    _check_float64(x, "grad_check_sparse")
    analytic_grad = np.asarray(analytic_grad)
    if analytic_grad.shape != x.shape:
        raise ValueError(
            f"grad_check_sparse: analytic_grad has shape {analytic_grad.shape}, x has {x.shape}"
        )
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(num_checks):
        ix = tuple(int(rng.integers(n)) for n in x.shape)
        old = x[ix]
        x[ix] = old + h
        fxph = float(f(x))
        x[ix] = old - h
        fxmh = float(f(x))
        x[ix] = old
        numeric = (fxph - fxmh) / (2 * h)
        analytic = float(analytic_grad[ix])
        err = abs(numeric - analytic) / max(1e-12, abs(numeric) + abs(analytic))
        errors.append(err)
        if verbose:
            print(f"numerical: {numeric: .6e} analytic: {analytic: .6e}, relative error: {err:.2e}")
    return errors
