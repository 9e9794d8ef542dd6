"""dlcv.plots: grids, decision regions, templates."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dlcv import plots  # noqa: E402


def teardown_function():
    plt.close("all")


def test_grid_2d_covers_points_with_margin():
    X = np.array([[0.0, 0.0], [1.0, 2.0]])
    xx, yy, pts = plots.grid_2d(X, steps=11, margin=0.5)
    assert xx.shape == yy.shape == (11, 11) and pts.shape == (121, 2)
    assert (xx.min(), xx.max(), yy.min(), yy.max()) == (-0.5, 1.5, -0.5, 2.5)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plots.grid_2d(np.zeros((3, 3)))


def test_decision_regions_colour_the_plane_by_the_prediction():
    X = np.array([[-1.0, 0.0], [1.0, 0.0]])
    y = np.array([0, 1])
    fig, ax = plt.subplots()
    Z = plots.plot_decision_regions(ax, lambda p: (p[:, 0] > 0).astype(int), X, y, steps=20)
    assert Z.shape == (20, 20)
    assert (Z[:, :10] == 0).all() and (Z[:, 10:] == 1).all()
    assert len(ax.images) == 1 and len(ax.collections) == 1


def test_show_templates_accepts_both_layouts_and_rejects_others():
    W = np.random.default_rng(0).normal(size=(64, 10))
    fig = plots.show_templates(W, (8, 8), [str(i) for i in range(10)])
    assert sum(len(a.images) for a in fig.axes) == 10
    np.testing.assert_allclose(fig.axes[3].images[0].get_array(),
                               plots.to_displayable(W[:, 3].reshape(8, 8)))
    plots.show_templates(W.T, (8, 8), [str(i) for i in range(10)])
    with pytest.raises(ValueError, match=r"\(10, 64\)"):
        plots.show_templates(np.zeros((63, 10)), (8, 8), [str(i) for i in range(10)])


def test_show_images_and_class_examples():
    imgs = np.random.default_rng(0).random((5, 8, 8))
    fig = plots.show_images(imgs, titles=list("abcde"), ncols=3)
    assert sum(len(a.images) for a in fig.axes) == 5
    with pytest.raises(ValueError, match="no images"):
        plots.show_images([])
    y = np.array([0, 0, 1, 1, 2])
    fig = plots.show_class_examples(imgs, y, ["a", "b", "c"], per_class=2)
    assert [a.get_title() for a in fig.axes[:3]] == ["a", "b", "c"]
    assert sum(len(a.images) for a in fig.axes) == 5  # class c has one example


def test_cv_accuracy_plot_returns_means():
    fig, ax = plt.subplots()
    means = plots.plot_cv_accuracy(ax, [1, 3], {1: [0.5, 0.7], 3: [0.8, 0.8]})
    np.testing.assert_allclose(means, [0.6, 0.8])


def test_to_displayable_range():
    out = plots.to_displayable(np.array([[2.0, 4.0], [6.0, 10.0]]))
    assert out.min() == 0 and out.max() == 1
    assert (plots.to_displayable(np.ones((2, 2))) == 0).all()
