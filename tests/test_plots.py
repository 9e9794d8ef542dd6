"""dlcv.plots: grids, decision regions, templates."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dlcv import plots


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


def test_show_templates_grey_signed_shared_scale_both_layouts():
    W = np.zeros((3, 4))
    W[0, 0], W[1, 3] = 2.0, -0.5
    for layout in (W, W.T):  # (C, D) rows, or CS231n's (D, C) columns
        fig = plots.show_templates(layout, (2, 2), ["a", "b", "c"], title="t")
        ims = [ax.images[0] for ax in fig.axes if ax.images]
        assert len(ims) == 3
        for im in ims:
            assert im.get_clim() == (-2.0, 2.0)  # white is exactly 0 in every template
        np.testing.assert_array_equal(ims[1].get_array(), W[1].reshape(2, 2))
        assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"\(3, 4\) or its transpose"):
        plots.show_templates(np.zeros((3, 5)), (2, 2), ["a", "b", "c"])


def test_show_templates_colour_rescales_each_template():
    W = np.random.default_rng(0).normal(size=(12, 2))  # (D, C) for 2x2x3 images
    fig = plots.show_templates(W, (2, 2, 3), ["a", "b"])
    ims = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(ims) == 2
    np.testing.assert_allclose(ims[1].get_array(), plots.to_displayable(W[:, 1].reshape(2, 2, 3)))


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


def test_show_images_without_rescaling_keeps_darker_photos_darker():
    bright = np.full((4, 4, 3), 200, dtype=np.uint8)
    fig = plots.show_images([bright, bright // 2], rescale=False)
    a, b = (ax.images[0].get_array() for ax in fig.axes[:2])
    np.testing.assert_allclose(a, 200 / 255)
    np.testing.assert_allclose(b, 100 / 255)
    fig = plots.show_images([bright, bright // 2])  # rescaled: both become the same flat image
    assert np.array_equal(fig.axes[0].images[0].get_array(), fig.axes[1].images[0].get_array())


def test_show_values_writes_every_number():
    fig, ax = plt.subplots()
    plots.show_values(ax, np.array([[0, 255], [10, 200]]), title="patch")
    assert [t.get_text() for t in ax.texts] == ["0", "255", "10", "200"]
    assert ax.texts[0].get_color() == "white" and ax.texts[1].get_color() == "black"
    with pytest.raises(ValueError, match="2-D"):
        plots.show_values(ax, np.zeros((2, 2, 3)))


def test_show_captioned_writes_the_lines_under_each_image():
    imgs = np.random.default_rng(0).random((3, 8, 8, 3))
    fig = plots.show_captioned(imgs, [["a red circle"], ["two squares", "greedy: x"], []], ncols=2)
    axes = [ax for ax in fig.axes if ax.images]
    assert len(axes) == 3
    assert [ax.texts[0].get_text() for ax in axes] == ["- a red circle", "- two squares\n- greedy: x", ""]
    long = "a large yellow triangle below a small green square on the left"
    fig = plots.show_captioned(imgs[:1], [[long]], wrap=20)
    lines = fig.axes[0].texts[0].get_text().split("\n")
    assert len(lines) >= 3 and lines[0].startswith("- ") and lines[1].startswith("  ")
    with pytest.raises(ValueError, match="caption lists"):
        plots.show_captioned(imgs, [["x"]])
    plt.close("all")
