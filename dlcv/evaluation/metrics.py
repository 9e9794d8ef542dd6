"""Evaluating binary and multiclass classifiers from their scores (lecture 08).

    confusion_counts(y_true, scores, threshold)   Counts(tp, fp, fn, tn) for "positive if
                                                  score >= threshold"
    binary_metrics(counts, beta=1)                precision, recall, specificity, F-beta, ...
    pr_points(y_true, scores)                     PRCurve: precision and recall at every
                                                  distinct score used as the threshold
    interpolated_precision(precision, recall, at) p_interp(r) = max_{r' >= r} p(r')
    average_precision(y_true, scores, method)     "all-point" (VOC 2010+), "11-point" (VOC 2007)
                                                  or "non-interpolated" (scikit-learn)
    mean_average_precision(y, scores, method)     per-class one-vs-rest AP and their mean
    operating_point(curve, threshold)             the PR-curve point a threshold selects
Scored examples:
    synthetic_scores(num_pos, num_neg, separation, seed)   two Gaussians of scores
    digit_classifier_scores(features)                      a real classifier on the digits
    one_vs_rest(y, proba, positive)                        binary labels and log-odds scores
    SCORE_SOURCES                                          the named score sets of the widget

Conventions: labels are 1 (positive) and 0 (negative); a higher score means "more positive";
an example is predicted positive when its score is >= the threshold. Counting at every threshold
comes from scikit-learn (sklearn.metrics.confusion_matrix_at_thresholds and confusion_matrix).

Scope: this is AP for *scored examples* (classification, retrieval). The AP of an object
detector also has to decide which detections are true positives by matching boxes (IoU) and
counts missed objects in the recall; writing that is assignment a4's job, so it is not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

import numpy as np

from dlcv.validate import finite_floats

AP_METHODS = ("all-point", "11-point", "non-interpolated")
# The recall levels of the 11-point AP. k / 10 (not linspace) so that a recall of exactly 3/10
# computed as tp / num_pos compares equal to the level 0.3 (both correctly rounded).
ELEVEN_RECALLS = np.arange(11) / 10


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------
def _check_binary(y_true, scores, who: str) -> tuple[np.ndarray, np.ndarray]:
    """y_true: (N,) of 0/1 (or bool); scores: (N,) finite reals -> (int64 array, float64 array)."""
    y = np.asarray(y_true)
    s = np.asarray(scores)
    if y.ndim != 1:
        raise ValueError(f"{who}: y_true must be a 1-D array of 0/1 labels, got shape {y.shape}")
    if s.ndim != 1 or s.shape[0] != y.shape[0]:
        raise ValueError(f"{who}: scores must be a 1-D array with one score per label "
                         f"(shape ({y.shape[0]},)), got shape {s.shape}")
    if y.shape[0] == 0:
        raise ValueError(f"{who}: y_true and scores are empty")
    if y.dtype == bool:
        y = y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.number) or not np.all((y == 0) | (y == 1)):
        numeric = np.issubdtype(y.dtype, np.number)
        bad = np.unique(y[~((y == 0) | (y == 1))])[:5] if numeric else y[:5]
        raise ValueError(f"{who}: y_true must hold only 0 (negative) and 1 (positive), "
                         f"found {bad}")
    return y.astype(np.int64), finite_floats(who, "scores", s)


# --------------------------------------------------------------------------------------------
# One threshold
# --------------------------------------------------------------------------------------------
class Counts(NamedTuple):
    """The four cells of a binary confusion matrix."""

    tp: int  # positives predicted positive
    fp: int  # negatives predicted positive
    fn: int  # positives predicted negative
    tn: int  # negatives predicted negative


def confusion_counts(y_true, scores, threshold: float) -> Counts:
    """TP, FP, FN, TN of the decision "positive if score >= threshold".

    Args:
        y_true: (N,) labels, 1 = positive, 0 = negative.
        scores: (N,) real scores, higher = more positive.
        threshold: a real number (+inf predicts nothing positive, -inf everything).
    Returns:
        Counts(tp, fp, fn, tn) as ints (tp + fp + fn + tn = N).
    """
    from sklearn.metrics import confusion_matrix

    y, s = _check_binary(y_true, scores, "confusion_counts")
    t = float(threshold)
    if np.isnan(t):
        raise ValueError("confusion_counts: threshold must be a number, got NaN")
    pred = (s >= t).astype(np.int64)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return Counts(int(tp), int(fp), int(fn), int(tn))


def binary_metrics(counts, beta: float = 1.0) -> dict[str, float]:
    """Rates of a binary confusion matrix.

    Args:
        counts: Counts(tp, fp, fn, tn) or any 4-sequence in that order.
        beta: weight of recall in F-beta (beta > 0; 1 gives F1).
    Returns:
        dict with precision = TP/(TP+FP), recall = TP/(TP+FN) (= sensitivity = TPR),
        specificity = TN/(TN+FP), fpr = FP/(FP+TN), accuracy, f (F-beta) and the counts.
        A rate whose denominator is 0 is NaN (for instance the precision when nothing is
        predicted positive); F-beta is NaN when precision or recall is.
    """
    if len(counts) != 4:
        raise ValueError(f"binary_metrics: counts must be (tp, fp, fn, tn), got {counts!r}")
    tp, fp, fn, tn = (int(c) for c in counts)
    if min(tp, fp, fn, tn) < 0:
        raise ValueError(f"binary_metrics: counts must be >= 0, got {tuple(counts)}")
    if not beta > 0:
        raise ValueError(f"binary_metrics: beta must be > 0, got {beta}")

    def ratio(a, b):
        return a / b if b > 0 else float("nan")

    p, r = ratio(tp, tp + fp), ratio(tp, tp + fn)
    b2 = beta * beta
    if np.isnan(p) or np.isnan(r):
        f = float("nan")
    else:
        f = (1 + b2) * p * r / (b2 * p + r) if (b2 * p + r) > 0 else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": p, "recall": r, "specificity": ratio(tn, tn + fp),
            "fpr": ratio(fp, fp + tn), "accuracy": ratio(tp + tn, tp + fp + fn + tn), "f": f}


# --------------------------------------------------------------------------------------------
# Every threshold: the precision-recall curve
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PRCurve:
    """Precision and recall with each distinct score as the threshold, highest first.

    All arrays are (K,), K = number of distinct scores. Point k predicts positive every example
    with score >= thresholds[k]; recall is non-decreasing along the arrays. Tied scores form one
    point (they cannot be separated by any threshold). The "nothing predicted" start
    (recall 0, precision undefined) is not included.
    """

    thresholds: np.ndarray  # (K,) decreasing
    tp: np.ndarray          # (K,) cumulative true positives
    fp: np.ndarray          # (K,) cumulative false positives
    precision: np.ndarray   # (K,) tp / (tp + fp)
    recall: np.ndarray      # (K,) tp / num_pos
    num_pos: int
    num_neg: int

    @property
    def fpr(self) -> np.ndarray:
        """(K,) false-positive rate fp / num_neg (the x axis of the ROC curve)."""
        return self.fp / self.num_neg if self.num_neg else np.full(self.fp.shape, np.nan)


def pr_points(y_true, scores) -> PRCurve:
    """The precision-recall curve: precision and recall at every distinct score.

    Equivalent to sorting the examples by decreasing score and taking cumulative sums of the
    labels (TP) and of 1 - labels (FP), keeping the last position of each run of tied scores.

    Args:
        y_true: (N,) labels 0/1 with at least one positive.  scores: (N,) real scores.
    Returns:
        PRCurve (thresholds decreasing, recall non-decreasing). Agrees with
        sklearn.metrics.precision_recall_curve without the (recall 0, precision 1) point it
        appends, in reversed order.
    """
    from sklearn.metrics import confusion_matrix_at_thresholds

    y, s = _check_binary(y_true, scores, "pr_points")
    num_pos = int(y.sum())
    if num_pos == 0:
        raise ValueError("pr_points: y_true has no positive example, so recall is undefined")
    _tns, fps, _fns, tps, thr = confusion_matrix_at_thresholds(y, s)  # thresholds decreasing
    tps, fps = np.asarray(tps, dtype=np.int64), np.asarray(fps, dtype=np.int64)
    return PRCurve(thresholds=np.asarray(thr, dtype=np.float64), tp=tps, fp=fps,
                   precision=tps / (tps + fps), recall=tps / num_pos,
                   num_pos=num_pos, num_neg=len(y) - num_pos)


def interpolated_precision(precision, recall, at=None) -> np.ndarray:
    """The interpolated precision p_interp(r) = max { p(r') : r' >= r }.

    It is the smallest non-increasing function of recall that lies on or above every
    (recall, precision) point: the "envelope" of the PR curve (PASCAL VOC).

    Args:
        precision, recall: (K,) the points of a PR curve, in any order.
        at: recall levels to evaluate at, (M,); default: at the points' own recalls.
    Returns:
        (K,) or (M,) interpolated precision; 0 where no point has recall >= r.
    """
    p = np.asarray(precision, dtype=np.float64)
    r = np.asarray(recall, dtype=np.float64)
    if p.ndim != 1 or r.shape != p.shape:
        raise ValueError(f"interpolated_precision: precision and recall must be 1-D of the same "
                         f"shape, got {p.shape} and {r.shape}")
    if p.size == 0:
        raise ValueError("interpolated_precision: precision and recall are empty")
    if np.any(np.isnan(p)) or np.any(np.isnan(r)):
        raise ValueError("interpolated_precision: precision and recall must not contain NaN")
    q = r if at is None else np.atleast_1d(np.asarray(at, dtype=np.float64))
    order = np.argsort(r, kind="stable")
    r_sorted, p_sorted = r[order], p[order]
    suffix_max = np.maximum.accumulate(p_sorted[::-1])[::-1]  # (K,) max over sorted[i:]
    suffix_max = np.append(suffix_max, 0.0)                   # beyond the last point: 0
    first = np.searchsorted(r_sorted, q, side="left")         # first point with recall >= q
    return suffix_max[first]


def average_precision(y_true, scores, method: str = "all-point") -> float:
    """Average precision of a ranking: how high precision stays as recall goes from 0 to 1.

    With the curve's points (R_k, P_k), R_0 = 0, and p_interp from interpolated_precision:

        "all-point"        sum_k (R_k - R_{k-1}) * p_interp(R_k): the area under the
                           interpolated (envelope) curve. PASCAL VOC 2010 onwards.
        "11-point"         (1/11) * sum_{r in 0, 0.1, ..., 1} p_interp(r). PASCAL VOC 2007.
        "non-interpolated" sum_k (R_k - R_{k-1}) * P_k, exactly
                           sklearn.metrics.average_precision_score (no envelope).

    Relation to scikit-learn: since p_interp >= p at every point, "all-point" >=
    "non-interpolated" = average_precision_score, with equality when the precision at every
    point where recall rises is already the maximum precision to its right (for instance for a
    perfect ranking, AP = 1 for all three). Tied scores count as one point, as in scikit-learn.

    Args:
        y_true: (N,) labels 0/1 with at least one positive.  scores: (N,) real scores.
        method: one of AP_METHODS.
    Returns:
        AP in [0, 1].
    """
    if method not in AP_METHODS:
        raise ValueError(f"average_precision: method must be one of {AP_METHODS}, got {method!r}")
    c = pr_points(y_true, scores)
    if method == "11-point":
        return float(np.mean(interpolated_precision(c.precision, c.recall, at=ELEVEN_RECALLS)))
    widths = np.diff(c.recall, prepend=0.0)  # (K,) R_k - R_{k-1}
    heights = c.precision if method == "non-interpolated" else interpolated_precision(
        c.precision, c.recall)
    return float(np.sum(widths * heights))


def mean_average_precision(y, scores, method: str = "all-point") -> tuple[float, np.ndarray]:
    """Mean over classes of the one-vs-rest AP of a multiclass scorer.

    Args:
        y: (N,) integer class labels in 0..C-1.  scores: (N, C), column c scores class c.
        method: one of AP_METHODS.
    Returns:
        (mAP, per_class_ap (C,)); classes without a positive example get NaN and are left out
        of the mean.
    """
    y = np.asarray(y)
    S = np.asarray(scores, dtype=np.float64)
    if S.ndim != 2 or y.shape != (S.shape[0],):
        raise ValueError(f"mean_average_precision: need y (N,) and scores (N, C), "
                         f"got {y.shape} and {S.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= S.shape[1]:
        raise ValueError(f"mean_average_precision: y must hold integer labels in "
                         f"0..{S.shape[1] - 1}")
    aps = np.array([average_precision(y == c, S[:, c], method) if np.any(y == c) else np.nan
                    for c in range(S.shape[1])])
    return float(np.nanmean(aps)), aps


def operating_point(curve: PRCurve, threshold: float) -> int | None:
    """Index of the curve point that the decision "score >= threshold" produces.

    It is the point of the smallest distinct score that is still >= threshold; None when no score
    reaches the threshold (nothing is predicted positive).
    """
    k = int(np.searchsorted(-curve.thresholds, -float(threshold), side="right")) - 1
    return k if k >= 0 else None


# --------------------------------------------------------------------------------------------
# Scored examples
# --------------------------------------------------------------------------------------------
def synthetic_scores(num_pos: int = 100, num_neg: int = 900, separation: float = 2.0,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A toy scorer: positive scores ~ N(+separation/2, 1), negative ~ N(-separation/2, 1).

    separation is the distance between the means in standard deviations (d'): 0 is a coin toss,
    around 4 the two classes barely overlap. Returns y: (N,) 0/1 and scores: (N,), shuffled.
    """
    for name, v in (("num_pos", num_pos), ("num_neg", num_neg)):
        if not (isinstance(v, int | np.integer) and v >= 1):
            raise ValueError(f"synthetic_scores: {name} must be an int >= 1, got {v!r}")
    if not (np.isfinite(separation) and separation >= 0):
        raise ValueError(f"synthetic_scores: separation must be >= 0, got {separation!r}")
    rng = np.random.default_rng(seed)
    s = np.concatenate([rng.normal(separation / 2, 1.0, num_pos),
                        rng.normal(-separation / 2, 1.0, num_neg)])
    y = np.concatenate([np.ones(num_pos, np.int64), np.zeros(num_neg, np.int64)])
    order = rng.permutation(len(y))
    return y[order], s[order]


DIGIT_FEATURES = ("pixels", "pca8", "pca2")


@dataclass(frozen=True)
class DigitScores:
    """A softmax (multinomial logistic regression) classifier's output on held-out digits.

    images: (N, 8, 8) in [0, 16]; y: (N,) true digits; proba: (N, 10) class probabilities;
    features: which inputs the classifier saw. N = 540 (the validation and test splits of
    dlcv.data.load_classification("digits")); it was trained on the 1257 training digits.
    """

    images: np.ndarray
    y: np.ndarray
    proba: np.ndarray
    features: str

    @property
    def pred(self) -> np.ndarray:
        """(N,) predicted digit (highest probability)."""
        return self.proba.argmax(axis=1)


@cache
def digit_classifier_scores(features: str = "pixels") -> DigitScores:
    """Scores of a real classifier on the embedded digits, at three levels of quality.

    features: "pixels" (all 64 grey levels: about 96% accuracy), "pca8" (the first 8 principal
    components: about 90%) or "pca2" (2 components: about 60%). The classifier is
    scikit-learn's LogisticRegression (softmax over 10 classes), fitted once and cached.
    """
    if features not in DIGIT_FEATURES:
        raise ValueError(f"digit_classifier_scores: features must be one of {DIGIT_FEATURES}, "
                         f"got {features!r}")
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    from dlcv.data import load_classification

    d = load_classification("digits")
    X_train = d.X_train.reshape(len(d.X_train), -1) / 16.0             # (1257, 64)
    images = np.concatenate([d.X_val, d.X_test])                        # (540, 8, 8)
    X_eval = images.reshape(len(images), -1) / 16.0                     # (540, 64)
    y_eval = np.concatenate([d.y_val, d.y_test])
    if features != "pixels":
        pca = PCA(n_components=int(features[3:]), random_state=0).fit(X_train)
        X_train, X_eval = pca.transform(X_train), pca.transform(X_eval)
    clf = LogisticRegression(max_iter=2000).fit(X_train, d.y_train)
    proba = clf.predict_proba(X_eval)                                   # (540, 10)
    for a in (images, y_eval, proba):
        a.setflags(write=False)  # cached: shared by every caller
    return DigitScores(images=images, y=y_eval, proba=proba, features=features)


def one_vs_rest(y, proba, positive: int, clip: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    """One class against the rest: binary labels and the log-odds of that class as the score.

    Args:
        y: (N,) class labels.  proba: (N, C) probabilities.  positive: the class called positive.
        clip: log-odds are clipped to [-clip, clip] (probabilities of exactly 0 or 1). For
            the digit classifiers only negatives score below -12, so the default merges some
            negatives into one tie and changes no precision or recall of the positives.
    Returns:
        y_bin: (N,) 1 where y == positive; scores: (N,) log(p / (1 - p)) of that class, so that
        threshold 0 is probability 0.5.
    """
    y = np.asarray(y)
    P = np.asarray(proba, dtype=np.float64)
    if P.ndim != 2 or y.shape != (P.shape[0],):
        raise ValueError(f"one_vs_rest: need y (N,) and proba (N, C), got {y.shape} and {P.shape}")
    if not (isinstance(positive, int | np.integer) and 0 <= positive < P.shape[1]):
        raise ValueError(f"one_vs_rest: positive must be a class in 0..{P.shape[1] - 1}, "
                         f"got {positive!r}")
    p = np.clip(P[:, positive], 1e-12, 1 - 1e-12)
    logit = np.log(p) - np.log1p(-p)
    return (y == positive).astype(np.int64), np.clip(logit, -clip, clip)


# The score sets of the PR-threshold widget: label -> (kind, argument).
SCORE_SOURCES = {
    "digits: softmax on 64 pixels": ("digits", "pixels"),
    "digits: softmax on 8 PCA features": ("digits", "pca8"),
    "digits: softmax on 2 PCA features": ("digits", "pca2"),
    "synthetic: 10% positives, d'=2": ("synthetic", (100, 900, 2.0)),
    "synthetic: 1% positives, d'=2": ("synthetic", (20, 1980, 2.0)),
    "synthetic: 10% positives, d'=4": ("synthetic", (100, 900, 4.0)),
}


def scored_set(source: str, positive: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Binary labels and scores of one of SCORE_SOURCES (positive: the digit, for digit sets).

    Returns y: (N,) 0/1 and scores: (N,) (log-odds for the digits).
    """
    if source not in SCORE_SOURCES:
        raise ValueError(f"scored_set: source must be one of {list(SCORE_SOURCES)}, "
                         f"got {source!r}")
    kind, arg = SCORE_SOURCES[source]
    if kind == "digits":
        d = digit_classifier_scores(arg)
        return one_vs_rest(d.y, d.proba, positive)
    num_pos, num_neg, sep = arg
    return synthetic_scores(num_pos, num_neg, sep, seed=0)
