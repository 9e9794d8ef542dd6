"""k-nearest-neighbour computations for lecture 01 and its widget, on top of scikit-learn.

Assignment a1 asks students to write the kNN distances and the majority vote themselves, so this
module never does either in numpy: every distance and every vote below comes from scikit-learn's
KNeighborsClassifier. What the module adds is argument checking, the course's names for the
distances ("L1", "L2") and the bookkeeping that pictures need.

    knn_classifier(X, y, k, metric)                 a fitted sklearn KNeighborsClassifier
    knn_grid_predict(X, y, k, metric, grid)         predicted labels on a grid of 2-D points
    knn_grid_votes(X, y, k, metric, grid)           labels, winning vote share and tie flags
    knn_accuracy_curve(X, y, X_val, y_val, ks, ...) train and held-out accuracy for many k
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The course's names for the two distances of lecture 01, and scikit-learn's names for them.
METRICS = {"L1": "manhattan", "L2": "euclidean"}
_ALIASES = {"l1": "L1", "manhattan": "L1", "cityblock": "L1", "l2": "L2", "euclidean": "L2"}


def metric_name(metric: str) -> str:
    """The course name ("L1" or "L2") of a distance given as "L1"/"L2"/"manhattan"/"euclidean"."""
    if not isinstance(metric, str) or metric.lower() not in _ALIASES:
        raise ValueError(
            f"metric must be 'L1' (manhattan) or 'L2' (euclidean), got {metric!r}"
        )
    return _ALIASES[metric.lower()]


def _check_data(X, y, who: str) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"{who}: X must have shape (N, D), got {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"{who}: y must have shape (N,) = ({X.shape[0]},), got {y.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{who}: X holds no training points")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{who}: y must hold integer class labels, got dtype {y.dtype}")
    return X, y


def _check_k(k, n: int, who: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{who}: k must be an int, got {k!r}")
    if not 1 <= k <= n:
        raise ValueError(f"{who}: k must be in 1..{n} (the number of training points), got {k}")
    return int(k)


def knn_classifier(X: np.ndarray, y: np.ndarray, k: int = 1, metric: str = "L2"):
    """A k-nearest-neighbour classifier (majority vote, uniform weights) fitted on X, y.

    Args:
        X: (N, D) training points; y: (N,) integer labels.
        k: number of neighbours that vote, 1 <= k <= N.
        metric: "L1" (sum of absolute differences) or "L2" (Euclidean distance).

    Returns:
        a fitted sklearn.neighbors.KNeighborsClassifier. Ties in the vote go to the smallest
        class label (scikit-learn's rule).
    """
    from sklearn.neighbors import KNeighborsClassifier

    X, y = _check_data(X, y, "knn_classifier")
    k = _check_k(k, X.shape[0], "knn_classifier")
    clf = KNeighborsClassifier(n_neighbors=k, metric=METRICS[metric_name(metric)])
    return clf.fit(X, y)


def _check_grid(grid, D: int, who: str) -> np.ndarray:
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim != 2 or grid.shape[1] != D:
        raise ValueError(f"{who}: grid must have shape (M, {D}) like X, got {grid.shape}")
    return grid


def knn_grid_votes(
    X: np.ndarray, y: np.ndarray, k: int, metric: str, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k-NN vote at every point of a grid.

    Args:
        X: (N, D) training points; y: (N,) integer labels; k, metric: as in knn_classifier.
        grid: (M, D) query points (for a picture: the M = steps * steps points of plots.grid_2d).

    Returns:
        labels: (M,) predicted class (exactly what KNeighborsClassifier.predict returns),
        share: (M,) fraction of the k votes that the winning class received, in (0, 1],
        tie: (M,) bool, True where two or more classes received the most votes.
    """
    clf = knn_classifier(X, y, k, metric)
    grid = _check_grid(grid, clf.n_features_in_, "knn_grid_votes")
    proba = clf.predict_proba(grid)  # (M, C) vote fractions
    best = proba.argmax(1)  # first maximum = smallest label, as sklearn's predict
    share = proba[np.arange(len(best)), best]  # (M,)
    tie = (proba == share[:, None]).sum(1) > 1  # (M,)
    return clf.classes_[best], share, tie


def knn_grid_predict(
    X: np.ndarray, y: np.ndarray, k: int, metric: str, grid: np.ndarray
) -> np.ndarray:
    """Predicted labels (M,) of a k-NN classifier fitted on X (N, D), y (N,) at grid (M, D)."""
    return knn_grid_votes(X, y, k, metric, grid)[0]


def knn_accuracy_curve(
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    ks: Sequence[int],
    metric: str = "L2",
) -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out accuracy of k-NN for every k in ks.

    The training accuracy classifies the training points themselves, each of which is its own
    nearest neighbour at distance 0: for k = 1 it is 1.0 unless two identical points disagree.

    Args:
        X: (N, D), y: (N,) training data; X_val: (M, D), y_val: (M,) held-out data.
        ks: the values of k to try, each in 1..N.
        metric: "L1" or "L2".

    Returns:
        train_acc: (len(ks),) and val_acc: (len(ks),), fractions in [0, 1].
    """
    X, y = _check_data(X, y, "knn_accuracy_curve")
    X_val, y_val = _check_data(X_val, y_val, "knn_accuracy_curve (X_val, y_val)")
    if X_val.shape[1] != X.shape[1]:
        raise ValueError(
            f"knn_accuracy_curve: X_val must have {X.shape[1]} columns like X, got {X_val.shape}"
        )
    ks = list(ks)
    if not ks:
        raise ValueError("knn_accuracy_curve: ks is empty")
    train_acc, val_acc = np.empty(len(ks)), np.empty(len(ks))
    for i, k in enumerate(ks):
        clf = knn_classifier(X, y, k, metric)
        train_acc[i] = clf.score(X, y)
        val_acc[i] = clf.score(X_val, y_val)
    return train_acc, val_acc
