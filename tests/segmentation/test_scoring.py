"""Tests for dlcv/segmentation/scoring.py: the pixel confusion matrix, per-class IoU and pixel
accuracy."""

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from dlcv.segmentation import scoring as seg


# -- scoring ---------------------------------------------------------------------------------
def test_confusion_matrix_and_iou():
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 4, size=(3, 8, 8)), rng.integers(0, 4, size=(3, 8, 8))
    cm = seg.confusion_matrix(t, p, 4)
    np.testing.assert_array_equal(cm, sk_confusion_matrix(t.ravel(), p.ravel(), labels=range(4)))
    # by hand: true [0, 0, 1, 1, 2], predicted [0, 1, 1, 1, 0]; class 3 absent
    cm = seg.confusion_matrix(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), 4)
    iou = seg.per_class_iou(cm)
    np.testing.assert_allclose(iou[:3], [1 / 3, 2 / 3, 0.0])
    assert np.isnan(iou[3])
    assert seg.pixel_accuracy(cm) == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="one shape"):
        seg.confusion_matrix(t, p[0], 4)
    with pytest.raises(ValueError, match="must lie in 0..2"):
        seg.confusion_matrix(t, p, 3)
    with pytest.raises(ValueError, match="square"):
        seg.per_class_iou(np.ones((2, 3)))
