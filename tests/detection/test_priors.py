"""dlcv.detection.priors: YOLOv2's k-means with 1 - IoU."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dlcv.detection import priors


def test_wh_iou_by_hand():
    out = priors.wh_iou([[10, 10], [20, 20]], [[5, 20], [10, 10]])
    assert out[0, 0] == pytest.approx(50 / 150) and out[0, 1] == pytest.approx(1.0)
    assert out[1, 1] == pytest.approx(100 / 400)
    with pytest.raises(ValueError, match="positive"):
        priors.wh_iou([[0, 1]], [[1, 1]])


def test_kmeans_iou_two_clusters():
    rng = np.random.default_rng(0)
    wh = np.concatenate([rng.uniform(9, 11, size=(50, 2)), rng.uniform(95, 105, size=(50, 2))])
    res = priors.kmeans_iou(wh, 2, seed=1)
    np.testing.assert_allclose(res.centroids, [wh[:50].mean(0), wh[50:].mean(0)], rtol=1e-9)
    assert res.assign.tolist() == [0] * 50 + [1] * 50
    assert res.mean_iou == pytest.approx(priors.wh_iou(wh, res.centroids).max(axis=1).mean())
    assert res.mean_iou > 0.9 and res.iterations >= 1
    assert math.isclose(priors.kmeans_iou(wh, 1).mean_iou,
                        priors.wh_iou(wh, wh.mean(0, keepdims=True)).max(1).mean())
    with pytest.raises(ValueError, match="k must"):
        priors.kmeans_iou(wh, 0)
