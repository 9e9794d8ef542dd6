"""YOLOv2's dimension priors: anchor shapes chosen by k-means on the training boxes' sizes.

    wh_iou(wh, centroids)       (N, K) IoU of box sizes (N, 2) with centroid sizes (K, 2), both
                                centred at the same point
    kmeans_iou(wh, k, seed)     k-means with the distance 1 - IoU -> KMeansResult (centroids
                                sorted by area, assignment, mean IoU, iterations)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def wh_iou(wh: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(N, K) IoU of boxes of sizes wh (N, 2) with boxes of sizes centroids (K, 2), all centred
    at the same point: the overlap of two shapes, position left out."""
    wh = np.asarray(wh, dtype=np.float64).reshape(-1, 2)
    c = np.asarray(centroids, dtype=np.float64).reshape(-1, 2)
    if (wh <= 0).any() or (c <= 0).any():
        raise ValueError("wh_iou: widths and heights must be positive")
    inter = np.minimum(wh[:, None, 0], c[None, :, 0]) * np.minimum(wh[:, None, 1], c[None, :, 1])
    return inter / (wh[:, None, 0] * wh[:, None, 1] + c[None, :, 0] * c[None, :, 1] - inter)


@dataclass
class KMeansResult:
    """centroids (k, 2) widths and heights, sorted by area; assign (N,); mean_iou: the mean over
    boxes of the IoU with their closest centroid; iterations run."""

    centroids: np.ndarray
    assign: np.ndarray
    mean_iou: float
    iterations: int


def kmeans_iou(wh, k: int, seed: int = 0, iters: int = 100) -> KMeansResult:
    """k-means on box sizes wh (N, 2) with YOLOv2's distance d(box, centroid) = 1 - IoU.

    Starts from k distinct boxes drawn at random; each step assigns every box to the centroid of
    highest IoU and moves each centroid to the mean width and height of its boxes; stops when the
    assignment no longer changes. Unlike the Euclidean distance, 1 - IoU does not let large
    boxes dominate: an error of 5 pixels matters more for a 10-pixel box than for a 100-pixel one.
    """
    wh = np.asarray(wh, dtype=np.float64).reshape(-1, 2)
    if not (isinstance(k, int) and 1 <= k <= len(np.unique(wh, axis=0))):
        raise ValueError(f"kmeans_iou: k must be an int between 1 and the number of distinct "
                         f"sizes ({len(np.unique(wh, axis=0))}), got {k!r}")
    rng = np.random.default_rng(seed)
    uniq = np.unique(wh, axis=0)
    centroids = uniq[rng.choice(len(uniq), size=k, replace=False)]
    assign = np.full(len(wh), -1)
    it = 0
    for it in range(1, iters + 1):  # noqa: B007 - `it` is read after the loop: the iterations used
        new = wh_iou(wh, centroids).argmax(axis=1)
        if np.array_equal(new, assign):
            break
        assign = new
        for j in range(k):
            if np.any(assign == j):
                centroids[j] = wh[assign == j].mean(axis=0)
    order = np.argsort(centroids.prod(axis=1))
    centroids = centroids[order]
    assign = np.argsort(order)[assign]
    best = wh_iou(wh, centroids).max(axis=1)
    return KMeansResult(centroids, assign, float(best.mean()), it)
