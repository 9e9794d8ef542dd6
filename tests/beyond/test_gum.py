"""Tests for dlcv/beyond/gum.py: least squares, the E-step, EM's guarantees and what it recovers."""

import numpy as np
import pytest
import torch

from dlcv.beyond import gum


def test_line_with_outliers():
    d = gum.line_with_outliers(100, 0.3, seed=0)
    assert d.x.shape == d.y.shape == d.inlier.shape == (100,)
    assert (~d.inlier).sum() == 30
    assert np.all(np.abs(d.y[~d.inlier]) <= 3)
    resid = d.y[d.inlier] - (d.slope * d.x[d.inlier] + d.intercept)
    assert np.std(resid) == pytest.approx(0.15, abs=0.04)
    more = gum.line_with_outliers(100, 0.5, seed=0)
    assert np.all(~more.inlier[~d.inlier])            # outliers of 0.3 are outliers of 0.5
    np.testing.assert_array_equal(more.x[d.inlier & more.inlier], d.x[d.inlier & more.inlier])
    clump = gum.line_with_outliers(100, 0.2, seed=0, kind="clustered")
    assert np.all(clump.y[~clump.inlier] < -1.5)
    with pytest.raises(ValueError, match="outlier_fraction"):
        gum.line_with_outliers(100, 1.0)
    with pytest.raises(ValueError, match="kind"):
        gum.line_with_outliers(100, 0.1, kind="gaussian")


def test_least_squares_matches_polyfit():
    rng = np.random.default_rng(0)
    x, y, w = rng.normal(size=30), rng.normal(size=30), rng.random(30)
    np.testing.assert_allclose(gum.least_squares(x, y), np.polyfit(x, y, 1))
    np.testing.assert_allclose(gum.least_squares(x, y, w), np.polyfit(x, y, 1, w=np.sqrt(w)))
    with pytest.raises(ValueError, match="weights"):
        gum.least_squares(x, y, -w)


def test_responsibilities_by_hand():
    r = gum.responsibilities([0.0, 10.0], sigma=0.15, rho=0.7, gamma=6.0)
    top = 0.7 / (np.sqrt(2 * np.pi) * 0.15)
    assert r[0] == pytest.approx(top / (top + 0.3 / 6))
    assert r[0] == pytest.approx(0.974, abs=1e-3) and r[1] < 1e-12
    with pytest.raises(ValueError, match="sigma"):
        gum.responsibilities([0.0], sigma=0, rho=0.5, gamma=1)


def test_em_never_lowers_the_likelihood_and_finds_the_line():
    d = gum.line_with_outliers(120, 0.4, seed=3)
    fit = gum.gum_em(d.x, d.y, iterations=25)
    assert fit.iterations == 25 and fit.resp.shape == (26, 120)
    assert np.all(np.diff(fit.loglik) >= -1e-9)
    assert fit.slope[-1] == pytest.approx(0.8, abs=0.06)
    assert fit.intercept[-1] == pytest.approx(0.5, abs=0.06)
    assert fit.rho[-1] == pytest.approx(0.6, abs=0.08)
    assert np.mean((fit.resp[-1] > 0.5) == d.inlier) >= 0.85  # junk near the line looks fine
    a_ls, _ = gum.least_squares(d.x, d.y)
    # iteration 0 is the least-squares start with rho0
    assert (fit.slope[0], fit.rho[0]) == (pytest.approx(a_ls), 0.5)
    # the loglik row is the likelihood of that row's parameters
    e = d.y - fit.slope[-1] * d.x - fit.intercept[-1]
    assert fit.loglik[-1] == pytest.approx(gum.log_likelihood(e, fit.sigma[-1], fit.rho[-1],
                                                              fit.gamma))
    flat = gum.gum_em(d.x, d.y, iterations=0, init="flat")
    assert flat.slope[0] == 0 and flat.intercept[0] == pytest.approx(np.median(d.y))
    with pytest.raises(ValueError, match="init"):
        gum.gum_em(d.x, d.y, init="ransac")


def test_least_squares_is_dragged_away_and_em_is_not():
    d = gum.line_with_outliers(120, 0.3, seed=0)
    a_ls, b_ls = gum.least_squares(d.x, d.y)
    fit = gum.gum_em(d.x, d.y, iterations=20)
    grid = np.linspace(-2, 2, 50)
    err = lambda a, b: np.abs(a * grid + b - (0.8 * grid + 0.5)).mean()
    assert err(a_ls, b_ls) > 5 * err(fit.slope[-1], fit.intercept[-1])


def test_em_is_fooled_by_a_large_clump():
    d = gum.line_with_outliers(120, 0.4, seed=0, kind="clustered")
    fit = gum.gum_em(d.x, d.y, iterations=20)
    assert abs(fit.slope[-1] - 0.8) > 0.5     # the model assumed spread-out outliers


def test_gum_network_beats_plain_squared_error():
    torch.set_num_threads(1)
    d = gum.line_with_outliers(150, 0.3, seed=1)
    y = np.sin(1.5 * d.x) + np.random.default_rng(1).normal(0, 0.1, 150)
    y[~d.inlier] = d.y[~d.inlier]
    out = gum.gum_network(d.x, y, seed=0)
    grid = torch.linspace(-2, 2, 50)[:, None]
    with torch.no_grad():
        err_gum = (out.model(grid)[:, 0] - torch.sin(1.5 * grid[:, 0])).abs().mean().item()
        err_l2 = (out.baseline(grid)[:, 0] - torch.sin(1.5 * grid[:, 0])).abs().mean().item()
    assert err_gum < 0.5 * err_l2
    assert out.rho == pytest.approx(0.7, abs=0.1)
    assert out.resp.shape == (150,)
