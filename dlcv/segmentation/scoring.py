"""Scoring label maps for lecture 11: the pixel confusion matrix and what it tells.

    confusion_matrix(y_true, y_pred, ...)  two integer label maps of one shape (e.g. (N, H, W)) ->
                                           (C, C) int64 pixel counts, rows true, columns predicted
    per_class_iou(confusion)               (C, C) -> (C,) float64 IoU of every class (NaN where a
                                           class is neither present nor predicted)
    pixel_accuracy(confusion)              (C, C) -> float: the fraction of pixels whose class is right

train_segmenter (dlcv.segmentation.models) scores its held-out set with these.
"""

from __future__ import annotations

import numpy as np

from dlcv.validate import integer


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Pixel confusion matrix: entry [t, p] counts the pixels of true class t predicted as p.

    Args:
        y_true, y_pred: integer label maps of one shape (any shape, e.g. (N, H, W)), values in
            0..num_classes-1.

    Returns:
        (num_classes, num_classes) int64; rows are true classes, columns predictions (as in
        sklearn.metrics.confusion_matrix).
    """
    who = "confusion_matrix"
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"{who}: y_true and y_pred must have one shape, got {t.shape} and "
                         f"{p.shape}")
    num_classes = integer(who, "num_classes", num_classes, 1)
    for name, a in (("y_true", t), ("y_pred", p)):
        if not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{who}: {name} must hold integer labels, got dtype {a.dtype}")
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"{who}: {name} must lie in 0..{num_classes - 1}, got values "
                             f"{a.min()}..{a.max()}")
    flat = t.ravel().astype(np.int64) * num_classes + p.ravel().astype(np.int64)
    return np.bincount(flat, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def _check_confusion(confusion, who: str) -> np.ndarray:
    c = np.asarray(confusion)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or (c.size and c.min() < 0):
        raise ValueError(f"{who}: confusion must be a square (C, C) matrix of counts, got "
                         f"shape {c.shape}")
    return c.astype(np.float64)


def per_class_iou(confusion) -> np.ndarray:
    """Intersection over union of every class from a pixel confusion matrix:

        IoU_c = TP_c / (TP_c + FP_c + FN_c) = C[c, c] / (row sum + column sum - C[c, c])

    Returns:
        (C,) float64; NaN for a class that is neither present nor predicted (0 / 0).
    """
    c = _check_confusion(confusion, "per_class_iou")
    tp = np.diag(c)
    union = c.sum(0) + c.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)


def pixel_accuracy(confusion) -> float:
    """The fraction of pixels whose class is right: trace / total."""
    c = _check_confusion(confusion, "pixel_accuracy")
    total = c.sum()
    if total == 0:
        raise ValueError("pixel_accuracy: the confusion matrix is empty")
    return float(np.trace(c) / total)
