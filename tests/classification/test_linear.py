"""dlcv.classification.linear: torch losses against hand-computed cases, geometry helpers, the
autograd fit."""

import math

import numpy as np
import pytest
import torch

from dlcv.classification import linear


# --------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------
def test_svm_loss_cs231n_cat_example():
    # CS231n: scores cat 3.2, car 5.1, frog -1.7 for a cat image:
    # max(0, 5.1 - 3.2 + 1) + max(0, -1.7 - 3.2 + 1) = 2.9 + 0 = 2.9
    s = torch.tensor([[3.2, 5.1, -1.7]], dtype=torch.float64)
    assert float(linear.svm_loss_torch(s, torch.tensor([0]))) == pytest.approx(2.9, abs=1e-12)


def test_svm_loss_three_images_mean():
    # the notes' three images: cat 2.9, car 0, frog 12.9 -> mean 5.27 (to 2 decimals)
    s = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    y = np.array([0, 1, 2])
    assert float(linear.svm_loss_torch(s, y)) == pytest.approx((2.9 + 0 + 12.9) / 3, abs=1e-12)


def test_svm_loss_matches_hand_loop_and_margin():
    rng = np.random.default_rng(0)
    s, y = rng.normal(size=(7, 5)), rng.integers(0, 5, 7)
    for delta in (1.0, 0.5):
        per = [sum(max(0.0, s[i, j] - s[i, y[i]] + delta) for j in range(5) if j != y[i])
               for i in range(7)]
        got = float(linear.svm_loss_torch(s, y, delta=delta))
        assert got == pytest.approx(np.mean(per), rel=1e-12)


def test_softmax_loss_against_hand_log_softmax():
    s = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0]])
    y = np.array([0, 1])
    p = np.exp(s) / np.exp(s).sum(1, keepdims=True)
    expected = -np.mean(np.log(p[np.arange(2), y]))
    assert float(linear.softmax_loss_torch(s, y)) == pytest.approx(expected, rel=1e-12)
    # the cat image alone: -log(e^3.2 / (e^3.2 + e^5.1 + e^-1.7)) = 2.04
    assert float(linear.softmax_loss_torch(s[:1], y[:1])) == pytest.approx(2.04, abs=5e-3)


def test_losses_at_equal_scores_are_the_sanity_values():
    C = 10
    s, y = np.zeros((4, C)), np.arange(4)
    assert float(linear.svm_loss_torch(s, y)) == pytest.approx(C - 1)
    assert float(linear.softmax_loss_torch(s, y)) == pytest.approx(math.log(C))


def test_losses_are_differentiable():
    s = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    linear.softmax_loss_torch(s, torch.tensor([0, 2])).backward()
    assert torch.allclose(s.grad.sum(1), torch.zeros(2, dtype=torch.float64), atol=1e-12)


def test_loss_argument_errors():
    with pytest.raises(ValueError, match="scores must have shape"):
        linear.svm_loss_torch(np.zeros(3), np.array([0]))
    with pytest.raises(ValueError, match="labels y must lie in 0..2"):
        linear.softmax_loss_torch(np.zeros((1, 3)), np.array([3]))
    with pytest.raises(ValueError, match="integer labels"):
        linear.softmax_loss_torch(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="loss must be one of"):
        linear.data_loss_torch(np.zeros((1, 3)), np.array([0]), "hinge")


# --------------------------------------------------------------------------------------------
# Scores, evaluate, regions
# --------------------------------------------------------------------------------------------
def test_scores_cs231n_four_pixel_example():
    W = np.array([[0.2, -0.5, 0.1, 2.0], [1.5, 1.3, 2.1, 0.0], [0.0, 0.25, 0.2, -0.3]])
    b = np.array([1.1, 3.2, -1.2])
    x = np.array([[56.0, 231.0, 24.0, 2.0]])
    np.testing.assert_allclose(linear.scores(W, b, x), [[-96.8, 437.9, 60.75]], atol=1e-9)


def test_scores_shape_errors():
    with pytest.raises(ValueError, match=r"b must have shape \(3,\)"):
        linear.scores(np.zeros((3, 2)), np.zeros(2), np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"X must have shape \(N, 2\)"):
        linear.scores(np.zeros((3, 2)), np.zeros(3), np.zeros((1, 4)))


def test_evaluate_values():
    W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    b = np.zeros(3)
    X = np.array([[2.0, 0.0], [0.0, 2.0], [-1.0, -1.0], [2.0, 0.1]])
    y = np.array([0, 1, 2, 1])  # the last one is wrong
    ev = linear.evaluate(W, b, X, y, reg=0.1)
    s = X @ W.T
    assert ev["accuracy"] == pytest.approx(0.75)
    assert ev["reg"] == pytest.approx(0.1 * 4.0)
    assert ev["svm"] == pytest.approx(float(linear.svm_loss_torch(s, y)))
    assert ev["softmax"] == pytest.approx(float(linear.softmax_loss_torch(s, y)))
    with pytest.raises(ValueError, match="reg must be >= 0"):
        linear.evaluate(W, b, X, y, reg=-1)
    with pytest.raises(ValueError, match="labels y must lie"):
        linear.evaluate(W, b, X, np.array([0, 1, 2, 5]), reg=0)


def test_regions_is_argmax():
    W = np.array([[1.0, 0.0], [-1.0, 0.0]])
    b = np.array([0.0, 0.5])
    grid = np.array([[1.0, 0.0], [-1.0, 0.0], [0.1, 3.0], [0.5, -2.0]])
    # s0 - s1 = 2 x - 0.5: class 0 where x > 0.25
    np.testing.assert_array_equal(linear.regions(W, b, grid), [0, 1, 1, 0])


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------
def test_line_in_box_diagonal_and_axis_parallel():
    seg = linear.line_in_box([1.0, -1.0], 0.0, (-1, 1, -1, 1))  # y = x
    np.testing.assert_allclose(sorted(map(tuple, seg)), [(-1, -1), (1, 1)], atol=1e-12)
    seg = linear.line_in_box([1.0, 0.0], -0.5, (-1, 1, -2, 2))  # x = 0.5
    np.testing.assert_allclose(sorted(map(tuple, seg)), [(0.5, -2), (0.5, 2)], atol=1e-12)
    for p in linear.line_in_box([0.3, 0.7], 0.2, (-1, 1, -1, 1)):  # end points on the line
        assert 0.3 * p[0] + 0.7 * p[1] + 0.2 == pytest.approx(0, abs=1e-12)


def test_line_in_box_misses():
    assert np.isnan(linear.line_in_box([1.0, 0.0], -5.0, (-1, 1, -1, 1))).all()
    assert np.isnan(linear.line_in_box([0.0, 0.0], 1.0, (-1, 1, -1, 1))).all()
    with pytest.raises(ValueError, match="w must have shape"):
        linear.line_in_box([1.0, 0.0, 0.0], 0.0, (-1, 1, -1, 1))


def test_foot_of_normal():
    p = linear.foot_of_normal([0.0, 2.0], -2.0, point=(3.0, -4.0))  # line y = 1
    np.testing.assert_allclose(p, [3.0, 1.0])
    assert np.isnan(linear.foot_of_normal([0.0, 0.0], 1.0)).all()


# --------------------------------------------------------------------------------------------
# Fit and data
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss", linear.LOSSES)
def test_fit_reduces_the_loss(loss):
    X, y = linear.toy_data("blobs")
    W0, b0 = np.random.default_rng(0).normal(0, 0.01, (3, 2)), np.zeros(3)
    W, b, hist = linear.fit(W0, b0, X, y, loss=loss, reg=1e-3, steps=100, lr=0.5)
    assert len(hist) == 100
    assert hist[-1] < 0.3 * hist[0]
    ev = linear.evaluate(W, b, X, y, reg=1e-3)
    assert ev[loss] + ev["reg"] < hist[0]
    assert ev["accuracy"] >= 0.95
    assert np.array_equal(W0, np.random.default_rng(0).normal(0, 0.01, (3, 2)))  # not modified


def test_fit_starting_values():
    X, y = linear.toy_data("blobs", n=30)
    _, _, hist = linear.fit(np.zeros((3, 2)), np.zeros(3), X, y, loss="softmax", steps=1)
    assert hist[0] == pytest.approx(math.log(3))
    _, _, hist = linear.fit(np.zeros((3, 2)), np.zeros(3), X, y, loss="svm", steps=1)
    assert hist[0] == pytest.approx(2.0)


def test_fit_reg_shrinks_weights():
    X, y = linear.toy_data("blobs")
    W0, b0 = np.zeros((3, 2)), np.zeros(3)
    W_small, _, _ = linear.fit(W0, b0, X, y, reg=1e-4, steps=200)
    W_big, _, _ = linear.fit(W0, b0, X, y, reg=0.3, steps=200)
    assert np.sum(W_big**2) < 0.3 * np.sum(W_small**2)


def test_fit_argument_errors():
    X, y = linear.toy_data("blobs", n=12)
    with pytest.raises(ValueError, match="loss must be one of"):
        linear.fit(np.zeros((3, 2)), np.zeros(3), X, y, loss="l2")
    with pytest.raises(ValueError, match="lr must be positive"):
        linear.fit(np.zeros((3, 2)), np.zeros(3), X, y, lr=0)
    with pytest.raises(ValueError, match=r"X must have shape \(N, 3\)"):
        linear.fit(np.zeros((3, 3)), np.zeros(3), X, y)


@pytest.mark.parametrize("name", linear.TOY_SETS)
def test_toy_data(name):
    X, y = linear.toy_data(name)
    assert X.shape == (150, 2) and y.shape == (150,)
    assert set(np.unique(y)) == {0, 1, 2}
    X2, y2 = linear.toy_data(name)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)


def test_toy_data_hard_sets_are_not_linearly_separable():
    for name, most in (("one class in two places", 0.85), ("spiral", 0.9)):
        X, y = linear.toy_data(name)
        W, b, _ = linear.fit(np.zeros((3, 2)), np.zeros(3), X, y, steps=400, lr=0.5)
        assert linear.evaluate(W, b, X, y)["accuracy"] < most
    with pytest.raises(ValueError, match="unknown data set"):
        linear.toy_data("moons")


def test_plot_linear_2d_draws_regions_lines_and_arrows():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y = linear.toy_data("blobs", n=30)
    W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    b = np.array([0.0, 0.5, 0.0])
    fig, ax = plt.subplots()
    out = linear.plot_linear_2d(ax, W, b, X, y, box=(-2, 2, -2, 2), steps=50, title="t")
    Z = out["regions"].get_array()
    assert Z.shape == (50, 50)
    np.testing.assert_array_equal(np.asarray(Z).ravel()[[0, -1]],
                                  linear.regions(W, b, np.array([[-2.0, -2.0], [2.0, 2.0]])))
    assert len(out["lines"]) == 3
    np.testing.assert_allclose(out["arrows"].U, W[:, 0])
    assert ax.get_title() == "t"
    with pytest.raises(ValueError, match=r"W must have shape \(C, 2\)"):
        linear.plot_linear_2d(ax, np.zeros((3, 3)), np.zeros(3), np.zeros((2, 3)), [0, 1])
    plt.close(fig)
