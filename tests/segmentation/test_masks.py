"""Tests for dlcv/segmentation/masks.py: Mask R-CNN's mask and keypoint geometry."""

import numpy as np
import pytest

from dlcv.segmentation import masks as seg
from dlcv.shapes import make_scenes


# -- Mask R-CNN geometry ---------------------------------------------------------------------
def test_mask_target_and_paste_round_trip():
    sc = make_scenes(20, seed=5, size=64)
    ious = []
    for i in range(len(sc)):
        for m, b in zip(sc.masks[i], sc.boxes[i], strict=True):
            t = seg.mask_target(m, b, 28)
            assert t.shape == (28, 28) and 0 <= t.min() and t.max() <= 1
            back = seg.paste_mask(t, b, (64, 64))
            assert not back[~_box_region(b, 64)].any()  # nothing outside the box
            ious.append((back & m).sum() / (back | m).sum())
    assert np.mean(ious) > 0.9 and min(ious) > 0.7


def _box_region(b, size):
    r = np.zeros((size, size), bool)
    x1, y1, x2, y2 = (int(round(v)) for v in b)
    r[y1:y2, x1:x2] = True
    return r


def test_paste_mask_fills_the_box_and_clips():
    full = seg.paste_mask(np.ones((28, 28)), (10, 5, 20, 9), (16, 32))
    assert full.sum() == 10 * 4 and full[5:9, 10:20].all()
    clipped = seg.paste_mask(np.ones((28, 28)), (-4.2, 10, 6, 20), (16, 32))  # rounded: x -4..6
    assert clipped.sum() == 6 * 6 and clipped[10:16, 0:6].all()
    half = np.zeros((28, 28))
    half[:, :14] = 1
    left = seg.paste_mask(half, (0, 0, 8, 8), (8, 8))
    assert left[:, :4].all() and not left[:, 4:].any()
    square = np.zeros((16, 16), bool)
    square[4:12, 2:10] = True
    np.testing.assert_allclose(seg.mask_target(square, (2, 4, 10, 12), 28), 1.0)
    with pytest.raises(ValueError, match="x2 > x1"):
        seg.paste_mask(half, (5, 0, 5, 8), (8, 8))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        seg.mask_target(np.zeros(5), (0, 0, 2, 2))


def test_keypoint_target_and_decoding():
    box = (10.0, 20.0, 38.0, 48.0)  # 28 x 28 pixels: half a pixel per cell of a 56 grid
    for x, y in [(10.0, 20.0), (23.7, 30.2), (37.9, 47.9)]:
        r, c = seg.keypoint_target((x, y), box, 56)
        assert 0 <= r < 56 and 0 <= c < 56
        heat = np.zeros((56, 56))
        heat[r, c] = 1.0
        xd, yd = seg.keypoint_from_heatmap(heat, box)
        assert abs(xd - x) <= 0.25 + 1e-9 and abs(yd - y) <= 0.25 + 1e-9
    assert seg.keypoint_target((0.0, 100.0), box, 56) == (55, 0)  # clipped to the border
    with pytest.raises(ValueError, match="square"):
        seg.keypoint_from_heatmap(np.zeros((4, 5)), box)
