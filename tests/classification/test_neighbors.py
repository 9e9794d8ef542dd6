"""Tests for dlcv/classification/neighbors.py: k-NN pictures on top of scikit-learn."""

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from dlcv.classification.neighbors import (
    knn_accuracy_curve,
    knn_classifier,
    knn_grid_predict,
    knn_grid_votes,
    metric_name,
)
from dlcv.data import make_toy_2d
from dlcv.plots import grid_2d


def test_metric_names():
    assert metric_name("L1") == metric_name("manhattan") == metric_name("l1") == "L1"
    assert metric_name("L2") == metric_name("euclidean") == "L2"
    with pytest.raises(ValueError, match="metric must be 'L1'"):
        metric_name("cosine")


def test_k1_reproduces_training_labels():
    X, y = make_toy_2d("spiral", n=90, noise=0.1, seed=3)
    for metric in ("L1", "L2"):
        np.testing.assert_array_equal(knn_grid_predict(X, y, 1, metric, X), y)
        train_acc, _ = knn_accuracy_curve(X, y, X, y, [1], metric)
        assert train_acc[0] == 1.0


def test_grid_predict_matches_sklearn():
    X, y = make_toy_2d("blobs", n=60, noise=0.4, seed=1)
    _, _, grid = grid_2d(X, steps=30)
    for metric, sk in (("L1", "manhattan"), ("L2", "euclidean")):
        for k in (1, 4, 9):
            ref = KNeighborsClassifier(n_neighbors=k, metric=sk).fit(X, y).predict(grid)
            np.testing.assert_array_equal(knn_grid_predict(X, y, k, metric, grid), ref)
            labels, share, tie = knn_grid_votes(X, y, k, metric, grid)
            np.testing.assert_array_equal(labels, ref)
            assert share.shape == tie.shape == (grid.shape[0],)
            assert np.all((share > 0) & (share <= 1))


def test_hand_computed_vote_and_tie():
    # Four points on a line: labels 0, 0, 1, 1 at x = 0, 1, 3, 4.
    X = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [4.0, 0.0]])
    y = np.array([0, 0, 1, 1])
    q = np.array([[1.8, 0.0], [2.2, 0.0], [10.0, 0.0]])
    # k=1: nearest points are x=1 (label 0), x=3 (label 1), x=4 (label 1).
    np.testing.assert_array_equal(knn_grid_predict(X, y, 1, "L2", q), [0, 1, 1])
    # k=3 at x=1.8: neighbours x=1 (0), x=3 (1), x=0 (0): 2 votes of 3 for class 0.
    labels, share, tie = knn_grid_votes(X, y, 3, "L2", q[:1])
    assert labels[0] == 0 and share[0] == pytest.approx(2 / 3) and not tie[0]
    # k=4: every point votes, 2 against 2: a tie, given to the smaller label.
    labels, share, tie = knn_grid_votes(X, y, 4, "L1", q)
    np.testing.assert_array_equal(labels, [0, 0, 0])
    np.testing.assert_allclose(share, 0.5)
    assert tie.all()


def test_l1_and_l2_disagree_on_a_crafted_case():
    # The query (0, 0) is at L2 distance 2.0 from A = (2, 0) and 1.84 from B = (1.3, 1.3);
    # in L1 it is 2.0 from A and 2.6 from B. So 1-NN says B under L2 and A under L1.
    X = np.array([[2.0, 0.0], [1.3, 1.3]])
    y = np.array([0, 1])
    q = np.array([[0.0, 0.0]])
    assert knn_grid_predict(X, y, 1, "L2", q)[0] == 1
    assert knn_grid_predict(X, y, 1, "L1", q)[0] == 0


def test_l1_and_l2_regions_differ_on_toy_data():
    X, y = make_toy_2d("blobs", n=40, noise=0.5, seed=0)
    _, _, grid = grid_2d(X, steps=60)
    a = knn_grid_predict(X, y, 1, "L1", grid)
    b = knn_grid_predict(X, y, 1, "L2", grid)
    assert 0 < np.mean(a != b) < 0.2  # different, but mostly the same picture


def test_accuracy_curve_against_sklearn():
    X, y = make_toy_2d("moons", n=80, noise=0.3, seed=0)
    Xv, yv = make_toy_2d("moons", n=100, noise=0.3, seed=1)
    ks = [1, 3, 7, 15]
    tr, va = knn_accuracy_curve(X, y, Xv, yv, ks, "L1")
    for i, k in enumerate(ks):
        clf = KNeighborsClassifier(n_neighbors=k, metric="manhattan").fit(X, y)
        assert tr[i] == clf.score(X, y)
        assert va[i] == clf.score(Xv, yv)
    assert tr[0] == 1.0


def test_classifier_is_sklearn_with_the_right_settings():
    X, y = make_toy_2d("xor", n=30, seed=0)
    clf = knn_classifier(X, y, 5, "L1")
    assert isinstance(clf, KNeighborsClassifier)
    assert clf.n_neighbors == 5 and clf.metric == "manhattan" and clf.weights == "uniform"


@pytest.mark.parametrize(
    "kwargs, err, msg",
    [
        (dict(k=0), ValueError, r"k must be in 1\.\.10"),
        (dict(k=11), ValueError, r"k must be in 1\.\.10"),
        (dict(k=2.0), TypeError, "k must be an int"),
        (dict(metric="L3"), ValueError, "metric must be"),
        (dict(X=np.zeros(10)), ValueError, r"X must have shape \(N, D\)"),
        (dict(y=np.zeros(9, dtype=int)), ValueError, r"y must have shape \(N,\)"),
        (dict(y=np.zeros(10)), TypeError, "integer class labels"),
        (dict(grid=np.zeros((5, 3))), ValueError, r"grid must have shape \(M, 2\)"),
    ],
)
def test_bad_arguments(kwargs, err, msg):
    args = dict(X=np.random.default_rng(0).normal(size=(10, 2)), y=np.arange(10) % 2, k=3,
                metric="L2", grid=np.zeros((5, 2)))
    args.update(kwargs)
    with pytest.raises(err, match=msg):
        knn_grid_votes(**args)


def test_accuracy_curve_bad_arguments():
    X, y = make_toy_2d("moons", n=20, seed=0)
    with pytest.raises(ValueError, match="X_val must have 2 columns"):
        knn_accuracy_curve(X, y, np.zeros((4, 3)), np.zeros(4, dtype=int), [1])
    with pytest.raises(ValueError, match="ks is empty"):
        knn_accuracy_curve(X, y, X, y, [])
