"""Tests for dlcv/classification/widgets.py: the k-NN decision-regions widget, without a browser."""


import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from dlcv.classification.widgets import KNNRegionsView
from dlcv.data import make_toy_2d
from dlcv.plots import grid_2d


@pytest.fixture(scope="module")
def view():
    return KNNRegionsView(dataset="moons", num_points=120, noise=0.25, k=1, metric="L2", seed=0)


def _regions(v):
    return np.array(v.im.get_array(), dtype=float).copy()


def test_initial_state_matches_sklearn(view):
    assert view.renders >= 1
    X, y = make_toy_2d("moons", n=120, noise=0.25, num_classes=3, seed=0)
    np.testing.assert_allclose(view.points.get_offsets(), X)
    np.testing.assert_array_equal(np.asarray(view.points.get_array()), y)
    xx, _, grid = grid_2d(X, steps=150, margin=0.35)
    ref = KNeighborsClassifier(1).fit(X, y).predict(grid).reshape(xx.shape)
    np.testing.assert_array_equal(_regions(view), ref)
    assert view.stats["train_accuracy"] == 1.0  # 1-NN remembers its training set
    assert "k = 1" in view.readout.value and "L2" in view.readout.value


def test_k_changes_regions_curve_marker_and_readout(view):
    before, renders = _regions(view), view.renders
    view.k.value = 9
    assert view.renders == renders + 1
    assert not np.array_equal(_regions(view), before)
    assert "k = 9" in view.readout.value
    assert list(view.k_line.get_xdata()) == [9, 9]
    X, y, Xv, yv = view.data()
    clf = KNeighborsClassifier(9).fit(X, y)
    assert view.stats["train_accuracy"] == pytest.approx(clf.score(X, y))
    assert view.stats["heldout_accuracy"] == pytest.approx(clf.score(Xv, yv))
    np.testing.assert_allclose(view.k_marks.get_ydata(),
                               [clf.score(X, y), clf.score(Xv, yv)])


def test_metric_changes_regions(view):
    view.k.value = 1
    before, renders = _regions(view), view.renders
    view.metric.value = "L1"
    assert view.renders == renders + 1
    assert not np.array_equal(_regions(view), before)
    assert "<b>L1</b>" in view.readout.value
    view.metric.value = "L2"


def test_dataset_and_num_points_change_points(view):
    renders = view.renders
    view.dataset.value = "spiral"
    view.num_points.value = 300
    assert view.renders == renders + 2
    X, y = make_toy_2d("spiral", n=300, noise=view.noise.value, num_classes=3,
                       seed=view.seed.value)
    assert view.points.get_offsets().shape == (300, 2)
    np.testing.assert_allclose(view.points.get_offsets(), X)
    assert set(np.unique(_regions(view))) <= {0.0, 1.0, 2.0}
    assert "300 training points" in view.readout.value


def test_noise_and_new_sample_button(view):
    before = np.array(view.points.get_offsets()).copy()
    view.noise.value = 0.4
    after_noise = np.array(view.points.get_offsets()).copy()
    assert not np.allclose(before, after_noise)
    seed, renders = view.seed.value, view.renders
    view.resample.click()
    assert view.seed.value == seed + 1 and view.renders == renders + 1
    assert not np.allclose(view.points.get_offsets(), after_noise)


def test_ties_are_shaded_for_even_k():
    v = KNNRegionsView(dataset="xor", num_points=60, noise=0.2, k=2)
    tie_layer = np.asarray(v.tie_im.get_array(), dtype=float)
    assert v.stats["tie_fraction"] > 0
    assert np.isfinite(tie_layer).mean() == pytest.approx(v.stats["tie_fraction"])
    v.k.value = 3  # two classes, odd k: no ties possible
    assert v.stats["tie_fraction"] == 0
    assert not np.isfinite(np.asarray(v.tie_im.get_array(), dtype=float)).any()


def test_largest_k_on_smallest_sample():
    v = KNNRegionsView(dataset="blobs", num_points=30, k=25)
    assert v.stats["k"] == 25 and v.stats["num_points"] == 30
    assert len(v.train_line.get_ydata()) == 25
    assert np.all((v.train_line.get_ydata() >= 0) & (v.train_line.get_ydata() <= 1))


def test_changing_k_redraws():
    v = KNNRegionsView(dataset="spiral", num_points=400, noise=0.3, k=1)
    renders = v.renders
    v.k.value = 25
    assert v.renders == renders + 1 and v.stats["k"] == 25


def test_static_png_and_layout(view):
    bundle = view._repr_mimebundle_()
    assert bundle["image/png"]
    assert len(view.control_rows()) == 2
    assert view.resample in view.control_rows()[1]


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        (dict(k=0), r"k must be an int in 1\.\.25"),
        (dict(k=26), r"k must be an int in 1\.\.25"),
        (dict(metric="L3"), "metric must be"),
        (dict(dataset="swiss"), "dataset must be one of"),
        (dict(num_points=10), r"num_points must be an int in 30\.\.400"),
        (dict(noise=-0.1), r"noise must be in \[0, 0.6\]"),
        (dict(steps=5), r"steps must be an int in 10\.\.400"),
    ],
)
def test_bad_arguments(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        KNNRegionsView(**kwargs)
