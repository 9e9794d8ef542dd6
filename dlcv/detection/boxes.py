"""Lectures 09-10's detection arithmetic, in small readable *teaching* versions.

These functions feed the lecture's widgets (dlcv.detection.widgets). They are written with
plain loops over boxes so that every line reads like the formula: the lecture's version.
Assignment a4 asks for the vectorised ones (IoU of box sets, greedy NMS, anchor generation,
anchor matching, focal loss on logits); its tests block this module while grading.

Boxes are (x1, y1, x2, y2) in pixels with pixel EDGES, as in dlcv.shapes: pixel column c covers
[c, c+1), so a box's width is x2 - x1 and its area (x2 - x1) * (y2 - y1).

    iou_pair(a, b)                          the intersection over union of two boxes
    iou_matrix(boxes_a, boxes_b)            (K, L) from a double loop over iou_pair
    nms_steps(boxes, scores, labels, ...)   greedy NMS, one NMSStep per candidate, in order
    candidate_detections(boxes, labels, size, seed)   a fake detector's raw output on a scene
    anchor_boxes(feature_shape, stride, scales, ratios)
    anchor_labels(anchors, gt_boxes, pos_threshold, neg_threshold)   -> AnchorMatch
    focal_loss_curve(p_t, gamma, alpha), cross_entropy_curve(p_t), batch_loss_split(...)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dlcv.shapes import CLASSES

# ---------------------------------------------------------------------------------------------
# Checking boxes
# ---------------------------------------------------------------------------------------------


def _as_box(box, name: str) -> tuple[float, float, float, float]:
    """One box (4,) as a tuple of floats; raises ValueError naming `name` when it is not one."""
    b = np.asarray(box, dtype=np.float64)
    if b.shape != (4,):
        raise ValueError(f"{name} must be one box (x1, y1, x2, y2) of shape (4,), "
                         f"got shape {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError(f"{name} must be finite, got {b.tolist()}")
    x1, y1, x2, y2 = (float(v) for v in b)
    if x2 < x1 or y2 < y1:
        raise ValueError(f"{name} must have x2 >= x1 and y2 >= y1 (x1, y1, x2, y2), "
                         f"got {b.tolist()}")
    return x1, y1, x2, y2


def check_boxes(boxes, name: str = "boxes") -> np.ndarray:
    """boxes as a (K, 4) float64 array; ValueError naming `name` if it is not (K, 4) boxes.

    Accepts an empty list (K = 0). Every row must be finite with x2 >= x1 and y2 >= y1.
    """
    b = np.asarray(boxes, dtype=np.float64)
    if b.size == 0:
        return b.reshape(0, 4)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"{name} must have shape (K, 4) with rows (x1, y1, x2, y2), "
                         f"got shape {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError(f"{name} must be finite")
    bad = np.flatnonzero((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1]))
    if bad.size:
        raise ValueError(f"{name}[{bad[0]}] = {b[bad[0]].tolist()} has x2 < x1 or y2 < y1; "
                         f"boxes are (x1, y1, x2, y2)")
    return b


# ---------------------------------------------------------------------------------------------
# Area and IoU
# ---------------------------------------------------------------------------------------------


def box_area(box) -> float:
    """The area (x2 - x1) * (y2 - y1) of one box (4,), in square pixels.

    The lecture's version (one box at a time); assignment a4 asks for the vectorised one.
    """
    x1, y1, x2, y2 = _as_box(box, "box_area: box")
    return (x2 - x1) * (y2 - y1)


def intersection_box(a, b) -> tuple[float, float, float, float] | None:
    """The box where a and b overlap, or None when they do not overlap (touching edges: None)."""
    ax1, ay1, ax2, ay2 = _as_box(a, "intersection_box: a")
    bx1, by1, bx2, by2 = _as_box(b, "intersection_box: b")
    x1, y1 = max(ax1, bx1), max(ay1, by1)  # the later left edge, the lower top edge
    x2, y2 = min(ax2, bx2), min(ay2, by2)  # the earlier right edge, the higher bottom edge
    if x2 <= x1 or y2 <= y1:
        return None
    return x1, y1, x2, y2


def _iou(a: tuple, b: tuple) -> float:
    """IoU of two valid boxes given as 4-tuples of floats (no checks: the inner loop)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def iou_pair(a, b) -> float:
    """Intersection over union of two boxes a, b (4,): |a ∩ b| / |a ∪ b|, a float in [0, 1].

    Boxes that only touch (share an edge) or do not meet have IoU 0; so does a zero-area box
    (its intersection with anything is empty). The lecture's version (one pair at a time);
    assignment a4 asks for the vectorised IoU of two sets of boxes.
    """
    return _iou(_as_box(a, "iou_pair: a"), _as_box(b, "iou_pair: b"))


def iou_parts(a, b) -> tuple[float, float, float]:
    """(intersection area, union area, IoU) of two boxes; IoU is 0 when the union is empty."""
    inter_box = intersection_box(a, b)
    inter = 0.0 if inter_box is None else box_area(inter_box)
    union = box_area(a) + box_area(b) - inter
    return inter, union, (inter / union if union > 0 else 0.0)


def iou_matrix(boxes_a, boxes_b=None) -> np.ndarray:
    """(K, L) IoU of every box of boxes_a (K, 4) with every box of boxes_b (L, 4).

    boxes_b defaults to boxes_a. A double loop over iou_pair: fine for the few dozen boxes of a
    widget, the lecture's version; assignment a4 asks for the vectorised one.
    """
    a = check_boxes(boxes_a, "iou_matrix: boxes_a")
    b = a if boxes_b is None else check_boxes(boxes_b, "iou_matrix: boxes_b")
    out = np.zeros((len(a), len(b)))
    ta = [tuple(r) for r in a.tolist()]
    tb = [tuple(r) for r in b.tolist()]
    for i, box_a in enumerate(ta):
        for j, box_b in enumerate(tb):
            out[i, j] = _iou(box_a, box_b)
    return out


# ---------------------------------------------------------------------------------------------
# Greedy non-maximum suppression, one decision at a time
# ---------------------------------------------------------------------------------------------

KEEP, SUPPRESS, BELOW = "keep", "suppress", "below score threshold"


@dataclass(frozen=True)
class NMSStep:
    """One decision of greedy NMS.

    step: position in the decision order (0 = the highest score); index: the candidate's index
    in the input; action: KEEP, SUPPRESS or BELOW; score, label: the candidate's; by: the index
    of the kept box that suppressed it (SUPPRESS only, else None); iou: its IoU with that box
    (SUPPRESS only, else None); threshold: the IoU threshold used.
    """

    step: int
    index: int
    action: str
    score: float
    label: int
    by: int | None = None
    iou: float | None = None
    threshold: float = 0.5

    @property
    def kept(self) -> bool:
        return self.action == KEEP

    def describe(self, class_names: Sequence[str] | None = CLASSES) -> str:
        """The decision in words: 'keep #3 (circle 0.94)', 'drop #7: IoU 0.71 with #3 >= 0.50'."""
        name = (class_names[self.label] if class_names is not None and self.label >= 0
                else f"class {self.label}")
        if self.action == KEEP:
            return f"keep #{self.index} ({name} {self.score:.2f})"
        if self.action == SUPPRESS:
            return (f"drop #{self.index}: IoU {self.iou:.2f} with #{self.by} "
                    f">= {self.threshold:.2f}")
        return f"skip #{self.index} ({name} {self.score:.2f}): score below threshold"


def nms_steps(boxes, scores, labels=None, iou_threshold: float = 0.5,
              score_threshold: float = 0.0, per_class: bool = True) -> list[NMSStep]:
    """Greedy non-maximum suppression, returned as the list of its decisions, in order.

    boxes: (N, 4) (x1, y1, x2, y2); scores: (N,); labels: (N,) ints or None (one class).
    Candidates are visited by decreasing score (equal scores: lower index first). A candidate
    with score < score_threshold is skipped (BELOW). Otherwise it is suppressed if its IoU with
    an already kept box (of the same label when per_class) is >= iou_threshold: the suppressor
    is the highest-scoring such box, the one that removes it in the textbook formulation "keep
    the best box, remove every box that overlaps it, repeat". Otherwise it is kept.

    Returns N NMSStep, one per candidate, in visiting order; the kept indices are
    [s.index for s in steps if s.kept]. The lecture's version (a Python loop that records its
    reasons); assignment a4 asks for a vectorised one.
    """
    b = check_boxes(boxes, "nms_steps: boxes")
    n = len(b)
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (n,):
        raise ValueError(f"nms_steps: scores must have shape ({n},) like boxes, got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("nms_steps: scores must be finite")
    if labels is None:
        lab = np.zeros(n, dtype=np.int64)
    else:
        lab = np.asarray(labels)
        if lab.shape != (n,) or (n and not np.issubdtype(lab.dtype, np.integer)):
            raise ValueError(f"nms_steps: labels must be ({n},) integers like boxes, got "
                             f"shape {lab.shape} dtype {lab.dtype}")
        lab = lab.astype(np.int64)
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"nms_steps: iou_threshold must be in [0, 1], got {iou_threshold}")
    if not math.isfinite(score_threshold):
        raise ValueError(f"nms_steps: score_threshold must be finite, got {score_threshold}")

    order = sorted(range(n), key=lambda i: (-s[i], i))  # by score, ties by index
    tb = [tuple(r) for r in b.tolist()]
    kept: list[int] = []  # in the order they were kept (decreasing score)
    steps = []
    for step, i in enumerate(order):
        common = dict(step=step, index=i, score=float(s[i]), label=int(lab[i]),
                      threshold=float(iou_threshold))
        if s[i] < score_threshold:
            steps.append(NMSStep(action=BELOW, **common))
            continue
        suppressor = None
        for k in kept:  # the highest-scoring kept box that overlaps enough
            if per_class and lab[k] != lab[i]:
                continue
            o = _iou(tb[i], tb[k])
            if o >= iou_threshold:
                suppressor = (k, o)
                break
        if suppressor is None:
            kept.append(i)
            steps.append(NMSStep(action=KEEP, **common))
        else:
            steps.append(NMSStep(action=SUPPRESS, by=suppressor[0], iou=suppressor[1], **common))
    return steps


# ---------------------------------------------------------------------------------------------
# A fake detector's raw output on a shapes scene
# ---------------------------------------------------------------------------------------------


@dataclass
class Candidates:
    """Raw detections before NMS.

    boxes: (M, 4) float64; scores: (M,) in (0, 1); labels: (M,) int64;
    source: (M,) int64, the ground-truth object each candidate was made from (-1: a false
    positive on the background).
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)


def candidate_detections(gt_boxes, gt_labels, image_size: int = 64, seed: int = 0,
                         per_object: int = 4, false_positives: int = 2,
                         confusions: int = 1, jitter: float = 0.12,
                         num_classes: int = len(CLASSES)) -> Candidates:
    """What a detector outputs before NMS: several jittered boxes around each object, with scores.

    gt_boxes: (K, 4); gt_labels: (K,). For each object, `per_object` copies of its box with the
    corners moved by up to about `jitter` times its size (the first copy the tightest, with the
    highest score); `confusions` objects also get one extra box with a wrong class and a middling
    score (class-agnostic NMS removes it, per-class NMS keeps it); `false_positives` boxes on the
    background with low scores. Scores rise with the IoU of the copy with its object. Boxes are
    clipped to the image and rounded to 0.1 px. The candidates come in a shuffled order, as a
    detector's raw output would: NMS has to sort them. Deterministic from `seed`.
    """
    gt = check_boxes(gt_boxes, "candidate_detections: gt_boxes")
    gl = np.asarray(gt_labels, dtype=np.int64).reshape(-1)
    if gl.shape != (len(gt),):
        raise ValueError(f"candidate_detections: gt_labels must have shape ({len(gt)},), "
                         f"got {gl.shape}")
    for name, v in (("per_object", per_object), ("false_positives", false_positives),
                    ("confusions", confusions)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
            raise ValueError(f"candidate_detections: {name} must be an int >= 0, got {v!r}")
    if not 0 <= jitter <= 0.5:
        raise ValueError(f"candidate_detections: jitter must be in [0, 0.5], got {jitter}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer) \
            or num_classes < 1:
        raise ValueError(f"candidate_detections: num_classes must be an int >= 1, "
                         f"got {num_classes!r}")
    if not image_size > 0:
        raise ValueError(f"candidate_detections: image_size must be positive, got {image_size}")
    rng = np.random.default_rng(seed)
    boxes, scores, labels, source = [], [], [], []

    def clip(box):
        box = np.clip(np.round(box, 1), 0, image_size)
        if box[2] - box[0] < 2 or box[3] - box[1] < 2:  # keep at least a 2-pixel box
            return None
        return box

    for k, (g, lab) in enumerate(zip(gt, gl, strict=True)):
        w, h = g[2] - g[0], g[3] - g[1]
        base = rng.uniform(0.82, 0.97)  # how confident the detector is about this object
        for c in range(per_object):
            amount = jitter * (0.35 + 0.65 * c / max(per_object - 1, 1))  # later copies: looser
            move = rng.uniform(-1, 1, size=4) * amount * np.array([w, h, w, h])
            box = clip(g + move)
            if box is None:
                continue
            o = _iou(tuple(box), tuple(g))
            boxes.append(box)
            scores.append(float(np.clip(base * (0.45 + 0.55 * o) + rng.normal(0, 0.02),
                                        0.02, 0.99)))
            labels.append(int(lab))
            source.append(k)
    if len(gt) and num_classes > 1:
        for k in rng.permutation(len(gt))[:confusions]:
            g = gt[k]
            w, h = g[2] - g[0], g[3] - g[1]
            box = clip(g + rng.uniform(-1, 1, size=4) * 0.6 * jitter * np.array([w, h, w, h]))
            if box is None:
                continue
            wrong = (int(gl[k]) + int(rng.integers(1, num_classes))) % num_classes
            boxes.append(box)
            scores.append(float(rng.uniform(0.35, 0.6)))
            labels.append(wrong)
            source.append(int(k))
    for _ in range(false_positives):
        side = rng.uniform(0.12, 0.25) * image_size
        x1, y1 = rng.uniform(0, image_size - side, size=2)
        box = clip(np.array([x1, y1, x1 + side, y1 + side * rng.uniform(0.8, 1.25)]))
        if box is None:
            continue
        boxes.append(box)
        scores.append(float(rng.uniform(0.08, 0.45)))
        labels.append(int(rng.integers(num_classes)))
        source.append(-1)
    perm = rng.permutation(len(boxes))
    return Candidates(np.array(boxes, dtype=np.float64).reshape(-1, 4)[perm],
                      np.round(np.array(scores, dtype=np.float64), 3)[perm],
                      np.array(labels, dtype=np.int64)[perm],
                      np.array(source, dtype=np.int64)[perm])


# ---------------------------------------------------------------------------------------------
# Anchors
# ---------------------------------------------------------------------------------------------


def anchor_shapes(scales: Sequence[float], ratios: Sequence[float]) -> np.ndarray:
    """(len(scales) * len(ratios), 2) widths and heights of the anchors of one cell.

    scale s is the side of the square with the anchor's area (area = s**2); ratio r is the aspect
    height / width. So w = s / sqrt(r), h = s * sqrt(r). Order: scales outer, ratios inner.
    """
    sc = [float(v) for v in np.asarray(scales, dtype=np.float64).reshape(-1)]
    ra = [float(v) for v in np.asarray(ratios, dtype=np.float64).reshape(-1)]
    if any(not (math.isfinite(v) and v > 0) for v in sc):
        raise ValueError(f"anchor_shapes: scales must be positive, got {sc}")
    if any(not (math.isfinite(v) and v > 0) for v in ra):
        raise ValueError(f"anchor_shapes: ratios must be positive (height / width), got {ra}")
    out = [(s / math.sqrt(r), s * math.sqrt(r)) for s in sc for r in ra]
    return np.array(out, dtype=np.float64).reshape(-1, 2)


def feature_shape(image_size: int | tuple[int, int], stride: int) -> tuple[int, int]:
    """(H_f, W_f) = (H // stride, W // stride): the grid of cells of a feature map."""
    h, w = (image_size, image_size) if np.isscalar(image_size) else image_size
    if isinstance(stride, bool) or not isinstance(stride, int | np.integer) or stride < 1:
        raise ValueError(f"feature_shape: stride must be a positive int, got {stride!r}")
    if h < stride or w < stride:
        raise ValueError(f"feature_shape: image_size {(h, w)} is smaller than stride {stride}")
    return int(h) // int(stride), int(w) // int(stride)


def anchor_boxes(feature_hw: tuple[int, int], stride: int, scales: Sequence[float],
                 ratios: Sequence[float]) -> np.ndarray:
    """All anchors of a feature map: (H_f * W_f * A, 4) boxes (x1, y1, x2, y2), A = scales x ratios.

    The anchors of cell (i, j) are centred at ((j + 0.5) * stride, (i + 0.5) * stride) in image
    pixels; rows are ordered cell by cell (i, then j), then by anchor_shapes' order (scale, then
    ratio), so anchor a of cell (i, j) is row (i * W_f + j) * A + a. Anchors may stick out of the
    image. The lecture's version (loops over cells); assignment a4 asks for the vectorised one.
    """
    hf, wf = (int(v) for v in feature_hw)
    if hf < 1 or wf < 1:
        raise ValueError(f"anchor_boxes: feature_hw must be two positive ints, got {feature_hw}")
    if isinstance(stride, bool) or not isinstance(stride, int | np.integer) or stride < 1:
        raise ValueError(f"anchor_boxes: stride must be a positive int, got {stride!r}")
    shapes = anchor_shapes(scales, ratios)  # (A, 2)
    out = []
    for i in range(hf):
        for j in range(wf):
            cx, cy = (j + 0.5) * stride, (i + 0.5) * stride
            for w, h in shapes:
                out.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    return np.array(out, dtype=np.float64).reshape(-1, 4)


POSITIVE, NEGATIVE, IGNORED = 1, 0, -1


@dataclass
class AnchorMatch:
    """Which anchors are positives, negatives or ignored for one image.

    labels: (N,) int64: POSITIVE 1, NEGATIVE 0, IGNORED -1; matched: (N,) int64, the ground-truth
    box of each positive (-1 otherwise); max_iou: (N,) the best IoU of each anchor with any
    ground-truth box; best_anchor: (K,) int64 the anchor with the highest IoU for each ground-truth
    box (-1 if it overlaps no anchor); best_iou: (K,) that IoU; forced: (N,) bool, positives only
    because of the force-match rule; positives_per_gt: (K,) int64.
    """

    labels: np.ndarray
    matched: np.ndarray
    max_iou: np.ndarray
    best_anchor: np.ndarray
    best_iou: np.ndarray
    forced: np.ndarray
    positives_per_gt: np.ndarray

    @property
    def num_positive(self) -> int:
        return int(np.sum(self.labels == POSITIVE))

    @property
    def num_negative(self) -> int:
        return int(np.sum(self.labels == NEGATIVE))

    @property
    def num_ignored(self) -> int:
        return int(np.sum(self.labels == IGNORED))


def anchor_labels(anchors, gt_boxes, pos_threshold: float = 0.5, neg_threshold: float = 0.4,
                  force_match: bool = True) -> AnchorMatch:
    """Label anchors for training a detector from their IoU with the ground-truth boxes.

    anchors: (N, 4); gt_boxes: (K, 4). An anchor whose best IoU with any ground-truth box is
    >= pos_threshold is POSITIVE (matched to that box), < neg_threshold NEGATIVE (background),
    in between IGNORED (no loss). With force_match, the best anchor of every ground-truth box
    becomes POSITIVE for that box even below pos_threshold (Faster R-CNN's rule, so that no
    object is left without a positive anchor); ties go to the lower anchor index, and a box
    overlapping no anchor at all stays unmatched. The lecture's version (built on the loop
    iou_matrix); assignment a4 asks for the vectorised one.
    """
    a = check_boxes(anchors, "anchor_labels: anchors")
    g = check_boxes(gt_boxes, "anchor_labels: gt_boxes")
    if not 0.0 <= neg_threshold <= pos_threshold <= 1.0:
        raise ValueError(f"anchor_labels: need 0 <= neg_threshold <= pos_threshold <= 1, got "
                         f"neg_threshold={neg_threshold}, pos_threshold={pos_threshold}")
    n, k = len(a), len(g)
    labels = np.full(n, NEGATIVE, dtype=np.int64)
    matched = np.full(n, -1, dtype=np.int64)
    forced = np.zeros(n, dtype=bool)
    best_anchor = np.full(k, -1, dtype=np.int64)
    best_iou = np.zeros(k)
    if k == 0 or n == 0:
        return AnchorMatch(labels, matched, np.zeros(n), best_anchor, best_iou, forced,
                           np.zeros(k, dtype=np.int64))
    ious = iou_matrix(a, g)  # (N, K)
    max_iou = ious.max(axis=1)
    argmax = ious.argmax(axis=1)
    pos = max_iou >= pos_threshold
    labels[(max_iou >= neg_threshold) & ~pos] = IGNORED
    labels[pos] = POSITIVE
    matched[pos] = argmax[pos]
    for j in range(k):
        best = int(np.argmax(ious[:, j]))  # first index among ties
        if ious[best, j] <= 0:
            continue
        best_anchor[j], best_iou[j] = best, ious[best, j]
        if force_match and labels[best] != POSITIVE:
            labels[best], matched[best], forced[best] = POSITIVE, j, True
    positives_per_gt = np.array([int(np.sum(matched == j)) for j in range(k)], dtype=np.int64)
    return AnchorMatch(labels, matched, max_iou, best_anchor, best_iou, forced, positives_per_gt)


# ---------------------------------------------------------------------------------------------
# Focal loss
# ---------------------------------------------------------------------------------------------


def _check_p(p_t, who: str) -> np.ndarray:
    p = np.asarray(p_t, dtype=np.float64)
    if p.size and (not np.all(np.isfinite(p)) or p.min() <= 0 or p.max() > 1):
        raise ValueError(f"{who}: p_t must be probabilities in (0, 1], got values in "
                         f"[{p.min():.3g}, {p.max():.3g}]")
    return p


def cross_entropy_curve(p_t) -> np.ndarray:
    """-log(p_t), elementwise: the cross-entropy of an example whose true class has probability p_t."""
    return -np.log(_check_p(p_t, "cross_entropy_curve"))


def focal_loss_curve(p_t, gamma: float = 2.0, alpha: float = 1.0) -> np.ndarray:
    """-alpha (1 - p_t)**gamma log(p_t), elementwise (Lin et al., 2017).

    p_t: array of probabilities of the true class, in (0, 1]; gamma >= 0 (0 gives the
    cross-entropy); alpha: the class weight alpha_t in [0, 1] of these examples (RetinaNet uses
    alpha = 0.25 for the object class and 1 - alpha = 0.75 for the background). A curve for
    plots; assignment a4 asks for the focal loss on logits, for training.
    """
    p = _check_p(p_t, "focal_loss_curve")
    if not (math.isfinite(gamma) and gamma >= 0):
        raise ValueError(f"focal_loss_curve: gamma must be >= 0, got {gamma}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"focal_loss_curve: alpha must be in [0, 1], got {alpha}")
    return -alpha * (1.0 - p) ** gamma * np.log(p)


@dataclass(frozen=True)
class BatchLoss:
    """The total loss of a batch's two groups of examples: easy and hard (see batch_loss_split)."""

    easy: float
    hard: float

    @property
    def total(self) -> float:
        return self.easy + self.hard

    @property
    def easy_share(self) -> float:
        return self.easy / self.total if self.total > 0 else 0.0


def batch_loss_split(gamma: float = 2.0, alpha: float = 0.25, n_easy: int = 100_000,
                     p_easy: float = 0.99, n_hard: int = 100, p_hard: float = 0.3
                     ) -> dict[str, BatchLoss]:
    """RetinaNet's argument in numbers: where the loss of a one-stage detector's batch comes from.

    n_easy easy background anchors, each with p_t = p_easy, and n_hard hard object anchors, each
    with p_t = p_hard. Returns {"ce": BatchLoss, "fl": BatchLoss}: the summed cross-entropy
    (unweighted) and the summed focal loss with weight alpha on the objects and 1 - alpha on the
    background.
    """
    for name, v in (("n_easy", n_easy), ("n_hard", n_hard)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
            raise ValueError(f"batch_loss_split: {name} must be an int >= 0, got {v!r}")
    ce = BatchLoss(float(n_easy * cross_entropy_curve(p_easy)),
                   float(n_hard * cross_entropy_curve(p_hard)))
    fl = BatchLoss(float(n_easy * focal_loss_curve(p_easy, gamma, 1.0 - alpha)),
                   float(n_hard * focal_loss_curve(p_hard, gamma, alpha)))
    return {"ce": ce, "fl": fl}
