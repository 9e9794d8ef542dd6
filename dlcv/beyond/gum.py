"""Robust regression with a Gaussian-uniform mixture fitted by EM (lecture 18, after DeepGUM,
Lathuilière et al. 2018).

Model: an inlier's target is Gaussian around the prediction, an outlier's is uniform over the
range of targets (of length gamma):

    p(y_i | x_i) = rho N(y_i; f(x_i), sigma^2) + (1 - rho) / gamma.

    line_with_outliers(n, outlier_fraction, ...)  points on a line, a fraction replaced by junk
    least_squares(x, y, weights)                  (weighted) least-squares line: (slope, intercept)
    responsibilities(residuals, sigma, rho, gamma) E-step: P(inlier | residual)
    gum_em(x, y, iterations, ...)                 EM for a line -> GUMFit (every iteration kept)
    gum_network(x, y, ...)                        the same with a small torch network for f
                                                  (E-step, then a few Adam steps on the weighted
                                                  squared error: DeepGUM's alternation)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dlcv.loop import train

OUTLIER_KINDS = ("uniform", "clustered")


@dataclass
class LineData:
    """x, y: (n,) points; inlier: (n,) bool; slope, intercept: the true line; y_range:
    (low, high), the interval the uniform outliers are drawn from."""

    x: np.ndarray
    y: np.ndarray
    inlier: np.ndarray
    slope: float
    intercept: float
    y_range: tuple[float, float]


def line_with_outliers(n: int = 100, outlier_fraction: float = 0.3, seed: int = 0,
                       slope: float = 0.8, intercept: float = 0.5, noise: float = 0.15,
                       kind: str = "uniform") -> LineData:
    """Points x ~ U(-2, 2), y = slope x + intercept + N(0, noise^2), of which a fraction is
    replaced by outliers:

        "uniform":   y drawn uniformly over [-3, 3] (the model's assumption)
        "clustered": a tight clump of points far below the line at the right end (a structured
                     error, e.g. one annotator's systematic mistake, which the model does not
                     assume)

    The same seed gives the same x and noise for every outlier_fraction, and the outliers of a
    larger fraction include those of a smaller one.
    """
    if not (isinstance(n, int) and n >= 3):
        raise ValueError(f"line_with_outliers: n must be an int >= 3, got {n!r}")
    if not 0 <= outlier_fraction < 1:
        raise ValueError(f"line_with_outliers: outlier_fraction must be in [0, 1), got "
                         f"{outlier_fraction}")
    if kind not in OUTLIER_KINDS:
        raise ValueError(f"line_with_outliers: kind must be one of {OUTLIER_KINDS}, got {kind!r}")
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, n)
    y = slope * x + intercept + rng.normal(0, noise, n)
    order = rng.permutation(n)               # who becomes an outlier first
    u = rng.uniform(-3, 3, n)                # uniform junk
    clump_x = rng.normal(1.6, 0.15, n)       # the clump: bottom right
    clump_y = rng.normal(-2.2, 0.15, n)
    k = int(round(outlier_fraction * n))
    out = order[:k]
    inlier = np.ones(n, bool)
    inlier[out] = False
    if kind == "uniform":
        y[out] = u[out]
    else:
        x[out], y[out] = clump_x[out], clump_y[out]
    return LineData(x, y, inlier, slope, intercept, (-3.0, 3.0))


def least_squares(x, y, weights=None) -> tuple[float, float]:
    """The (weighted) least-squares line: argmin over (a, b) of sum w_i (y_i - a x_i - b)^2.
    x, y, weights: (n,). Returns (slope, intercept)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, np.float64)
    if x.shape != y.shape or w.shape != x.shape or x.ndim != 1:
        raise ValueError(f"least_squares: x, y and weights must be (n,) arrays of one length, "
                         f"got {x.shape}, {y.shape}, {w.shape}")
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError("least_squares: weights must be >= 0 and not all 0")
    A = np.stack([x, np.ones_like(x)], 1)                   # (n, 2)
    sw = np.sqrt(w)
    (a, b), *_ = np.linalg.lstsq(A * sw[:, None], y * sw, rcond=None)
    return float(a), float(b)


def _gauss(r, sigma):
    return np.exp(-0.5 * (r / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)


def responsibilities(residuals, sigma: float, rho: float, gamma: float) -> np.ndarray:
    """E-step: the posterior probability that each point is an inlier,

        r_i = rho N(e_i; 0, sigma^2) / (rho N(e_i; 0, sigma^2) + (1 - rho) / gamma),

    for residuals e_i = y_i - f(x_i). Returns (n,) values in [0, 1]."""
    e = np.asarray(residuals, np.float64)
    if sigma <= 0 or gamma <= 0 or not 0 <= rho <= 1:
        raise ValueError(f"responsibilities: need sigma > 0, gamma > 0 and rho in [0, 1], got "
                         f"sigma={sigma}, gamma={gamma}, rho={rho}")
    g = rho * _gauss(e, sigma)
    return g / (g + (1 - rho) / gamma)


def log_likelihood(residuals, sigma: float, rho: float, gamma: float) -> float:
    """sum_i log(rho N(e_i; 0, sigma^2) + (1 - rho) / gamma): what EM increases."""
    e = np.asarray(residuals, np.float64)
    return float(np.sum(np.log(rho * _gauss(e, sigma) + (1 - rho) / gamma)))


@dataclass
class GUMFit:
    """gum_em's result; index k of every array is the state after k iterations (0: the start).

    slope, intercept, sigma, rho, loglik: (K + 1,)
    resp: (K + 1, n) responsibilities computed from the parameters of that row (the E-step that
        the next iteration uses)
    gamma: the length of the uniform's support (fixed)
    """

    slope: np.ndarray
    intercept: np.ndarray
    sigma: np.ndarray
    rho: np.ndarray
    loglik: np.ndarray
    resp: np.ndarray
    gamma: float

    @property
    def iterations(self) -> int:
        return len(self.slope) - 1


def gum_em(x, y, iterations: int = 20, gamma: float | None = None, rho0: float = 0.5,
           init: str = "least-squares", min_sigma: float = 1e-3) -> GUMFit:
    """Fit a line with the Gaussian-uniform mixture by expectation-maximisation.

    Start: the least-squares line (init="least-squares") or a flat line through the median
    (init="flat"), sigma = the standard deviation of its residuals, rho = rho0. Then repeat:
        E-step: r_i = responsibilities(y - (a x + b), sigma, rho, gamma)
        M-step: (a, b) = weighted least squares with weights r_i;
                sigma^2 = sum r_i e_i^2 / sum r_i;  rho = mean(r_i)
    gamma defaults to the range of y (max - min): the uniform covers every observed target.
    Each iteration cannot lower the log-likelihood (the EM guarantee).
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 3:
        raise ValueError(f"gum_em: x and y must be (n,) with n >= 3, got {x.shape} and {y.shape}")
    if not (isinstance(iterations, int) and iterations >= 0):
        raise ValueError(f"gum_em: iterations must be an int >= 0, got {iterations!r}")
    if not 0 < rho0 < 1:
        raise ValueError(f"gum_em: rho0 must be in (0, 1), got {rho0}")
    if init not in ("least-squares", "flat"):
        raise ValueError(f"gum_em: init must be 'least-squares' or 'flat', got {init!r}")
    gamma = float(np.ptp(y)) if gamma is None else float(gamma)
    if gamma <= 0:
        raise ValueError(f"gum_em: gamma must be > 0, got {gamma}")
    if init == "least-squares":
        a, b = least_squares(x, y)
    else:
        a, b = 0.0, float(np.median(y))
    sigma = max(float(np.std(y - a * x - b)), min_sigma)
    rho = rho0
    rows, resps = [], []
    for k in range(iterations + 1):
        e = y - a * x - b
        r = responsibilities(e, sigma, rho, gamma)
        rows.append((a, b, sigma, rho, log_likelihood(e, sigma, rho, gamma)))
        resps.append(r)
        if k == iterations:
            break
        if r.sum() < 1e-9:   # every point called an outlier: nothing to fit
            r = np.full_like(r, 1e-9)
        a, b = least_squares(x, y, r)
        e = y - a * x - b
        sigma = max(float(np.sqrt(np.sum(r * e ** 2) / r.sum())), min_sigma)
        rho = float(np.clip(r.mean(), 1e-6, 1 - 1e-6))
    rows = np.array(rows)
    return GUMFit(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4], np.array(resps),
                  gamma)


@dataclass
class GUMNetworkFit:
    """gum_network's result: the trained model, the final responsibilities (n,), sigma, rho,
    and the squared error of the plain least-squares network trained alongside (baseline)."""

    model: nn.Module
    baseline: nn.Module
    resp: np.ndarray
    sigma: float
    rho: float


def _mlp(seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(),
                             nn.Linear(32, 1))


def gum_network(x, y, rounds: int = 10, steps_per_round: int = 30, lr: float = 1e-2,
                gamma: float | None = None, warmup: int = 60, seed: int = 0) -> GUMNetworkFit:
    """DeepGUM's alternation with a small network f (1 -> 32 -> 32 -> 1, tanh) for a 1-D
    regression x (n,) -> y (n,):

        warm-up: `warmup` Adam steps on the plain squared error;
        each round: E-step (responsibilities of the current residuals), update sigma and rho,
                    then steps_per_round Adam steps on sum_i r_i (y_i - f(x_i))^2 / sum_i r_i.

    A baseline network with the same start is trained on the plain squared error for the same
    number of steps. Returns GUMNetworkFit.
    """
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.float32)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"gum_network: x and y must be (n,), got {x.shape} and {y.shape}")
    gamma = float(np.ptp(y)) if gamma is None else float(gamma)
    X = torch.from_numpy(x)[:, None]                       # (n, 1)
    Y = torch.from_numpy(y)                                # (n,)
    model, baseline = _mlp(seed), _mlp(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    opt_b = torch.optim.Adam(baseline.parameters(), lr=lr)

    def weighted_mse(m, w):
        return lambda _: (w * (Y - m(X)[:, 0]) ** 2).sum() / w.sum()

    ones = torch.ones_like(Y)
    train(weighted_mse(baseline, ones), opt_b, range(warmup + rounds * steps_per_round))
    train(weighted_mse(model, ones), opt, range(warmup))
    with torch.no_grad():
        e = (Y - model(X)[:, 0]).double().numpy()
    sigma, rho = float(np.std(e)), 0.5
    r = np.ones_like(e)
    for _ in range(rounds):
        r = responsibilities(e, sigma, rho, gamma)          # E-step
        sigma = max(float(np.sqrt(np.sum(r * e ** 2) / max(r.sum(), 1e-9))), 1e-3)
        rho = float(np.clip(r.mean(), 1e-6, 1 - 1e-6))
        w = torch.from_numpy(r.astype(np.float32))
        train(weighted_mse(model, w), opt, range(steps_per_round))  # M-step for the network
        with torch.no_grad():
            e = (Y - model(X)[:, 0]).double().numpy()
    model.eval()
    baseline.eval()
    return GUMNetworkFit(model, baseline, responsibilities(e, sigma, rho, gamma), sigma, rho)
