"""Tests for dlcv/detection/boxes.py: the lecture's teaching versions of IoU, NMS, anchors, focal loss."""

import math
import re

import numpy as np
import pytest
import torch

from dlcv.detection import boxes as D
from dlcv.shapes import make_scenes

# ---------------------------------------------------------------------------------------------
# area and IoU: hand-worked cases
# ---------------------------------------------------------------------------------------------


def test_box_area_hand_cases():
    assert D.box_area([0, 0, 10, 5]) == 50.0
    assert D.box_area([2.5, 1, 3.5, 3]) == 2.0
    assert D.box_area([4, 4, 4, 9]) == 0.0  # a zero-width box


@pytest.mark.parametrize("a, b, expected", [
    ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),            # identical
    ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),          # disjoint
    ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),       # half of each overlaps: 50 / (100+100-50)
    ([0, 0, 10, 10], [0, 0, 10, 5], 0.5),             # one inside the other: 50 / 100
    ([0, 0, 10, 10], [10, 0, 20, 10], 0.0),           # touching edges: no area in common
    ([0, 0, 10, 10], [10, 10, 20, 20], 0.0),          # touching corners
    ([0, 0, 10, 10], [5, 5, 5, 5], 0.0),              # a zero-area box inside
    ([3, 3, 3, 3], [3, 3, 3, 3], 0.0),                # two identical zero-area boxes
    ([0, 0, 2, 2], [1, 1, 3, 3], 1 / 7),              # diagonal overlap: 1 / (4 + 4 - 1)
])
def test_iou_pair_hand_cases(a, b, expected):
    assert D.iou_pair(a, b) == pytest.approx(expected)
    assert D.iou_pair(b, a) == pytest.approx(expected)  # symmetric


def test_iou_parts_and_intersection_box():
    inter, union, iou = D.iou_parts([0, 0, 10, 10], [5, 0, 15, 10])
    assert (inter, union, iou) == pytest.approx((50.0, 150.0, 1 / 3))
    assert D.intersection_box([0, 0, 10, 10], [5, 2, 15, 8]) == (5, 2, 10, 8)
    assert D.intersection_box([0, 0, 10, 10], [10, 0, 20, 10]) is None
    assert D.iou_parts([1, 1, 1, 1], [1, 1, 1, 1]) == (0.0, 0.0, 0.0)


def _iou_reference(a, b):
    """IoU of box sets with torch, written independently of dlcv (for the matrix test)."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(dim=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(dim=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return (inter / union).numpy()


def _random_boxes(rng, n, size=50.0):
    xy = rng.uniform(0, size, size=(n, 2))
    wh = rng.uniform(2, 20, size=(n, 2))
    return np.c_[xy, xy + wh]


def test_iou_matrix_matches_torch():
    rng = np.random.default_rng(0)
    a, b = _random_boxes(rng, 7), _random_boxes(rng, 5)
    m = D.iou_matrix(a, b)
    assert m.shape == (7, 5)
    np.testing.assert_allclose(m, _iou_reference(a, b), atol=1e-12)
    sq = D.iou_matrix(a)
    np.testing.assert_allclose(np.diag(sq), 1.0)
    np.testing.assert_allclose(sq, sq.T)
    assert D.iou_matrix(np.zeros((0, 4)), b).shape == (0, 5)


@pytest.mark.parametrize("call, message", [
    (lambda: D.iou_pair([0, 0, 1], [0, 0, 1, 1]), "iou_pair: a must be one box"),
    (lambda: D.iou_pair([0, 0, 1, 1], [5, 0, 1, 1]), "iou_pair: b must have x2 >= x1"),
    (lambda: D.iou_pair([0, 0, np.nan, 1], [0, 0, 1, 1]), "iou_pair: a must be finite"),
    (lambda: D.box_area([[0, 0, 1, 1]]), "box_area: box must be one box"),
    (lambda: D.iou_matrix(np.zeros((3, 5))), "iou_matrix: boxes_a must have shape (K, 4)"),
    (lambda: D.iou_matrix([[0, 0, 1, 1]], [[0, 3, 1, 1]]), "iou_matrix: boxes_b[0]"),
])
def test_bad_boxes_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


# ---------------------------------------------------------------------------------------------
# greedy NMS
# ---------------------------------------------------------------------------------------------


def _nms_brute_force(boxes, scores, labels, iou_threshold, score_threshold, per_class):
    """The textbook loop: take the best remaining box, remove all it overlaps, repeat."""
    boxes = np.asarray(boxes, dtype=np.float64)
    remaining = [i for i in range(len(boxes)) if scores[i] >= score_threshold]
    keep = []
    while remaining:
        best = min(remaining, key=lambda i: (-scores[i], i))
        keep.append(best)
        remaining.remove(best)
        ious = _iou_reference(boxes[[best]], boxes)[0]
        remaining = [i for i in remaining
                     if ious[i] < iou_threshold or (per_class and labels[i] != labels[best])]
    return keep


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("per_class", [True, False])
def test_nms_matches_brute_force(seed, per_class):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 25))
    boxes = _random_boxes(rng, n, size=30)
    scores = rng.uniform(0, 1, size=n)
    labels = rng.integers(0, 3, size=n)
    thr, sthr = float(rng.uniform(0.2, 0.8)), float(rng.uniform(0, 0.4))
    steps = D.nms_steps(boxes, scores, labels, thr, sthr, per_class)
    kept = [s.index for s in steps if s.kept]
    assert kept == _nms_brute_force(boxes, scores, labels, thr, sthr, per_class)
    # one decision per candidate, in decreasing score order
    assert sorted(s.index for s in steps) == list(range(n))
    assert [s.step for s in steps] == list(range(n))
    assert all(steps[k].score >= steps[k + 1].score for k in range(n - 1))
    for s in steps:
        assert s.kept == (s.action == D.KEEP)
        if s.action == D.SUPPRESS:  # the reason is true and names an earlier kept box
            assert s.by in kept and s.iou >= thr
            assert s.iou == pytest.approx(D.iou_pair(boxes[s.index], boxes[s.by]))
            by_step = next(t for t in steps if t.index == s.by)
            assert by_step.step < s.step
            if per_class:
                assert labels[s.by] == labels[s.index]
        elif s.action == D.BELOW:
            assert s.score < sthr and s.by is None and s.iou is None
        else:
            assert s.score >= sthr


def test_nms_suppressor_is_the_best_scoring_kept_box():
    # A (0.9) and B (0.8) do not overlap each other enough; C overlaps both, A less than B.
    boxes = [[0, 0, 10, 10], [6, 0, 16, 10], [3, 0, 13, 10]]
    steps = D.nms_steps(boxes, [0.9, 0.8, 0.7], iou_threshold=0.3)
    assert [(s.index, s.action) for s in steps] == [(0, "keep"), (1, "keep"), (2, "suppress")]
    assert steps[2].by == 0 and steps[2].iou == pytest.approx(70 / 130)
    assert steps[2].describe() == "drop #2: IoU 0.54 with #0 >= 0.30"
    assert steps[0].describe() == "keep #0 (circle 0.90)"


def test_nms_empty_input():
    assert D.nms_steps(np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64)) == []
    assert D.nms_steps([], [], None) == []


def test_nms_all_below_score_threshold():
    boxes = [[0, 0, 10, 10], [1, 1, 11, 11]]
    steps = D.nms_steps(boxes, [0.2, 0.1], [0, 0], 0.5, score_threshold=0.5)
    assert [s.action for s in steps] == [D.BELOW, D.BELOW]
    assert [s.index for s in steps] == [0, 1]
    assert "score below threshold" in steps[0].describe()


def test_nms_ties_are_broken_by_index():
    boxes = [[0, 0, 10, 10]] * 3
    steps = D.nms_steps(boxes, [0.5, 0.5, 0.5], [1, 1, 1], iou_threshold=0.5)
    assert [(s.index, s.action) for s in steps] == [(0, "keep"), (1, "suppress"),
                                                    (2, "suppress")]
    assert steps[1].by == 0 and steps[1].iou == 1.0


def test_nms_per_class_keeps_overlapping_boxes_of_different_classes():
    boxes = [[0, 0, 10, 10], [1, 0, 11, 10], [0, 1, 10, 11]]
    labels = [0, 1, 0]
    per = D.nms_steps(boxes, [0.9, 0.8, 0.7], labels, 0.5, per_class=True)
    assert [s.index for s in per if s.kept] == [0, 1]
    assert per[2].by == 0
    agnostic = D.nms_steps(boxes, [0.9, 0.8, 0.7], labels, 0.5, per_class=False)
    assert [s.index for s in agnostic if s.kept] == [0]


def test_nms_iou_equal_to_threshold_suppresses():
    boxes = [[0, 0, 10, 10], [0, 0, 10, 5]]  # IoU exactly 0.5
    steps = D.nms_steps(boxes, [0.9, 0.8], iou_threshold=0.5)
    assert steps[1].action == D.SUPPRESS and steps[1].iou == 0.5


@pytest.mark.parametrize("kwargs, message", [
    (dict(scores=[0.5]), r"scores must have shape \(2,\)"),
    (dict(labels=[0.5, 1.0]), "labels must be"),
    (dict(iou_threshold=1.5), r"iou_threshold must be in \[0, 1\]"),
    (dict(score_threshold=float("nan")), "score_threshold must be finite"),
])
def test_nms_bad_input(kwargs, message):
    args = dict(boxes=[[0, 0, 1, 1], [0, 0, 2, 2]], scores=[0.5, 0.6], labels=None)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        D.nms_steps(**args)


# ---------------------------------------------------------------------------------------------
# the fake detector
# ---------------------------------------------------------------------------------------------


def test_candidate_detections_are_deterministic_and_sensible():
    sc = make_scenes(6, seed=3, min_objects=2, max_objects=4)
    for i in range(len(sc)):
        gt, gl = sc.boxes[i], sc.labels[i]
        c = D.candidate_detections(gt, gl, 64, seed=i, per_object=4, false_positives=2,
                                   confusions=1)
        c2 = D.candidate_detections(gt, gl, 64, seed=i, per_object=4, false_positives=2,
                                    confusions=1)
        np.testing.assert_array_equal(c.boxes, c2.boxes)
        np.testing.assert_array_equal(c.scores, c2.scores)
        assert len(c) == len(c.scores) == len(c.labels) == len(c.source)
        assert len(c) <= 4 * len(gt) + 1 + 2
        assert np.all((c.boxes >= 0) & (c.boxes <= 64))
        assert np.all(c.boxes[:, 2:] - c.boxes[:, :2] >= 2)
        assert np.all((c.scores > 0) & (c.scores < 1))
        assert set(c.source.tolist()) >= set(range(len(gt)))  # every object has candidates
        for k in range(len(gt)):  # its best-scoring same-class copy overlaps it well
            mine = (c.source == k) & (c.labels == gl[k])
            best = np.argmax(np.where(mine, c.scores, -1))
            assert D.iou_pair(c.boxes[best], gt[k]) > 0.5
        # the background false positives score below every object's best copy
        fp = c.source == -1
        if fp.any():
            assert c.scores[fp].max() < min(c.scores[(c.source == k) & (c.labels == gl[k])].max()
                                            for k in range(len(gt)))
    other = D.candidate_detections(sc.boxes[0], sc.labels[0], 64, seed=99)
    first = D.candidate_detections(sc.boxes[0], sc.labels[0], 64, seed=0)
    assert not np.array_equal(other.boxes, first.boxes)


def test_candidate_detections_confusion_has_wrong_class():
    gt = np.array([[10, 10, 30, 30]], dtype=np.float32)
    c = D.candidate_detections(gt, [1], 64, seed=0, per_object=3, false_positives=0,
                               confusions=1)
    assert len(c) == 4
    assert sorted(c.labels.tolist()).count(1) == 3  # three copies, one box of another class
    with pytest.raises(ValueError, match="gt_labels must have shape"):
        D.candidate_detections(gt, [1, 2], 64)
    with pytest.raises(ValueError, match="per_object must be an int >= 0"):
        D.candidate_detections(gt, [1], 64, per_object=-1)


# ---------------------------------------------------------------------------------------------
# anchors
# ---------------------------------------------------------------------------------------------


def test_anchor_shapes_areas_and_ratios():
    shapes = D.anchor_shapes([8, 16, 32], [0.5, 1, 2])
    assert shapes.shape == (9, 2)
    w, h = shapes[:, 0], shapes[:, 1]
    np.testing.assert_allclose(w * h, np.repeat([64.0, 256.0, 1024.0], 3))  # area = scale**2
    np.testing.assert_allclose(h / w, np.tile([0.5, 1.0, 2.0], 3))           # ratio = h / w
    np.testing.assert_allclose(shapes[4], [16, 16])
    with pytest.raises(ValueError, match="scales must be positive"):
        D.anchor_shapes([0, 8], [1])
    with pytest.raises(ValueError, match="ratios must be positive"):
        D.anchor_shapes([8], [-1])


@pytest.mark.parametrize("stride", [4, 8, 16])
def test_anchor_boxes_count_centres_areas(stride):
    hf, wf = D.feature_shape(64, stride)
    assert (hf, wf) == (64 // stride, 64 // stride)
    scales, ratios = (8, 24), (0.5, 1, 2)
    anchors = D.anchor_boxes((hf, wf), stride, scales, ratios)
    a = len(scales) * len(ratios)
    assert anchors.shape == (hf * wf * a, 4)
    cx = (anchors[:, 0] + anchors[:, 2]) / 2
    cy = (anchors[:, 1] + anchors[:, 3]) / 2
    cells = np.arange(hf * wf).repeat(a)
    np.testing.assert_allclose(cx, (cells % wf + 0.5) * stride)
    np.testing.assert_allclose(cy, (cells // wf + 0.5) * stride)
    w, h = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    np.testing.assert_allclose(w * h, np.tile(np.repeat([64.0, 576.0], 3), hf * wf))
    np.testing.assert_allclose(h / w, np.tile([0.5, 1, 2], 2 * hf * wf))
    # anchor a of cell (i, j) is row (i * W_f + j) * A + a
    i, j = hf - 1, 1
    row = (i * wf + j) * a + 4
    np.testing.assert_allclose(anchors[row], [(j + 0.5) * stride - 12, (i + 0.5) * stride - 12,
                                              (j + 0.5) * stride + 12, (i + 0.5) * stride + 12])


def test_anchor_boxes_bad_input():
    with pytest.raises(ValueError, match="stride must be a positive int"):
        D.anchor_boxes((4, 4), 0, [8], [1])
    with pytest.raises(ValueError, match="feature_hw must be two positive ints"):
        D.anchor_boxes((0, 4), 8, [8], [1])
    with pytest.raises(ValueError, match="stride must be a positive int"):
        D.feature_shape(64, 2.5)
    assert D.feature_shape((48, 64), 16) == (3, 4)


def test_anchor_labels_hand_case():
    gt = np.array([[0, 0, 10, 10], [40, 40, 44, 44]], dtype=float)
    anchors = np.array([
        [0, 0, 10, 10],     # IoU 1 with gt 0: positive
        [0, 0, 10, 12],     # IoU 100/120 = 0.83: positive
        [0, 0, 10, 22],     # IoU 100/220 = 0.45: ignored (between 0.4 and 0.5)
        [20, 20, 30, 30],   # IoU 0: negative
        [40, 40, 50, 50],   # IoU 16/100 = 0.16 with gt 1: negative, but gt 1's best anchor
        [41, 41, 51, 51],   # IoU 9/107 with gt 1
    ])
    m = D.anchor_labels(anchors, gt, 0.5, 0.4, force_match=False)
    assert m.labels.tolist() == [1, 1, -1, 0, 0, 0]
    assert m.matched.tolist() == [0, 0, -1, -1, -1, -1]
    np.testing.assert_allclose(m.max_iou, [1, 100 / 120, 100 / 220, 0, 0.16, 9 / 107])
    assert m.best_anchor.tolist() == [0, 4]
    np.testing.assert_allclose(m.best_iou, [1.0, 0.16])
    assert m.positives_per_gt.tolist() == [2, 0]
    assert (m.num_positive, m.num_ignored, m.num_negative) == (2, 1, 3)
    assert not m.forced.any()

    f = D.anchor_labels(anchors, gt, 0.5, 0.4, force_match=True)
    assert f.labels.tolist() == [1, 1, -1, 0, 1, 0]
    assert f.matched[4] == 1 and f.forced.tolist() == [False] * 4 + [True, False]
    assert f.positives_per_gt.tolist() == [2, 1]


def test_anchor_labels_against_torch_thresholds():
    rng = np.random.default_rng(4)
    anchors = D.anchor_boxes((8, 8), 8, (12, 24), (0.5, 1, 2))
    gt = _random_boxes(rng, 3, size=45)
    m = D.anchor_labels(anchors, gt, 0.6, 0.3, force_match=False)
    ious = _iou_reference(anchors, gt)
    best = ious.max(axis=1)
    expected = np.where(best >= 0.6, 1, np.where(best < 0.3, 0, -1))
    np.testing.assert_array_equal(m.labels, expected)
    pos = best >= 0.6
    np.testing.assert_array_equal(m.matched[pos], ious.argmax(axis=1)[pos])
    np.testing.assert_array_equal(m.best_anchor, ious.argmax(axis=0))


def test_anchor_labels_edge_cases():
    anchors = D.anchor_boxes((2, 2), 8, (8,), (1,))
    m = D.anchor_labels(anchors, np.zeros((0, 4)))
    assert m.labels.tolist() == [0, 0, 0, 0] and m.positives_per_gt.shape == (0,)
    far = D.anchor_labels(anchors, [[100, 100, 110, 110]])  # overlaps no anchor: stays unmatched
    assert far.best_anchor.tolist() == [-1] and far.num_positive == 0
    with pytest.raises(ValueError, match="neg_threshold <= pos_threshold"):
        D.anchor_labels(anchors, [[0, 0, 4, 4]], pos_threshold=0.3, neg_threshold=0.5)


# ---------------------------------------------------------------------------------------------
# focal loss
# ---------------------------------------------------------------------------------------------


def test_focal_loss_gamma_zero_is_cross_entropy():
    p = np.linspace(0.01, 1, 50)
    np.testing.assert_allclose(D.focal_loss_curve(p, gamma=0.0), -np.log(p))
    np.testing.assert_allclose(D.cross_entropy_curve(p), -np.log(p))
    np.testing.assert_allclose(D.focal_loss_curve(p, 0.0, alpha=0.25), -0.25 * np.log(p))


def test_focal_loss_matches_torch_on_logits():
    """For a positive with logit x, p_t = sigmoid(x): FL = alpha (1 - p_t)^gamma BCE(x, 1)."""
    x = torch.linspace(-4, 4, 33, dtype=torch.float64)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(x, torch.ones_like(x),
                                                               reduction="none")
    p_t = torch.sigmoid(x)
    for gamma, alpha in ((2.0, 0.25), (0.5, 1.0), (5.0, 0.75)):
        expected = (alpha * (1 - p_t) ** gamma * bce).numpy()
        np.testing.assert_allclose(D.focal_loss_curve(p_t.numpy(), gamma, alpha), expected,
                                   rtol=1e-10)


def test_focal_loss_values_and_errors():
    # RetinaNet's numbers: an easy example (p_t = 0.9) with gamma = 2 is down-weighted 100x
    assert D.focal_loss_curve(0.9, 2.0) == pytest.approx(0.01 * -math.log(0.9))
    assert D.focal_loss_curve(1.0, 2.0) == 0.0
    with pytest.raises(ValueError, match=r"p_t must be probabilities in \(0, 1\]"):
        D.focal_loss_curve([0.0, 0.5])
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        D.focal_loss_curve(0.5, -1)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        D.focal_loss_curve(0.5, 2, 1.5)


def test_batch_loss_split():
    out = D.batch_loss_split(gamma=2.0, alpha=0.25)
    ce, fl = out["ce"], out["fl"]
    assert ce.easy == pytest.approx(100_000 * -math.log(0.99))
    assert ce.hard == pytest.approx(100 * -math.log(0.3))
    assert ce.easy_share == pytest.approx(1005.03 / (1005.03 + 120.40), rel=1e-4)
    assert fl.easy == pytest.approx(100_000 * 0.75 * 1e-4 * -math.log(0.99))
    assert fl.hard == pytest.approx(100 * 0.25 * 0.49 * -math.log(0.3))
    assert fl.easy_share < 0.01 < 0.85 < ce.easy_share
    zero = D.batch_loss_split(gamma=0.0, alpha=0.5)["fl"]
    assert zero.total == pytest.approx(0.5 * ce.total)
    assert D.BatchLoss(0.0, 0.0).easy_share == 0.0
    with pytest.raises(ValueError, match="n_easy must be an int >= 0"):
        D.batch_loss_split(n_easy=-5)
