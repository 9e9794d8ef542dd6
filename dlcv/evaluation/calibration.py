"""Calibration: can a classifier's confidences be read as probabilities? (lecture 08)

    reliability_bins(probs, labels, n_bins=15)     ReliabilityBins: mean confidence, accuracy
                                                   and count in equal-width confidence bins
    expected_calibration_error(probs, labels, n_bins=15)
                                                   ECE = sum_b (n_b / N) |acc_b - conf_b|
    softmax_with_temperature(logits, T)            softmax(logits / T), row by row
    negative_log_likelihood(logits, labels, T=1)   mean -log softmax(logits / T)[label]
    fit_temperature(logits, labels)                the one T > 0 that minimises that NLL
    draw_reliability(ax, bins, ...)                the reliability diagram of Guo et al.
    draw_confidence_histogram(ax, bins, ...)       how many predictions fall in each bin

Conventions (Guo, Pleiss, Sun, Weinberger, "On Calibration of Modern Neural Networks", ICML
2017): a prediction is the class of highest probability and its **confidence** is that
probability. A classifier is calibrated when, among the predictions made with confidence p,
a fraction p is right. The bins split [0, 1] into n_bins intervals of equal width,
((b - 1)/n_bins, b/n_bins], so a confidence on an edge belongs to the lower bin.

Temperature scaling divides the logits of every example by one scalar T > 0, fitted on held-out
validation data by minimising the negative log-likelihood (NLL). Dividing by a positive number
keeps the order of the logits, so the predicted class, and with it the accuracy, never changes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from dlcv.validate import finite_floats, integer, positive

# fit_temperature searches T in this range. A fit that ends on a bound has no minimum inside it:
# at the lower bound every example is right with a margin (the NLL keeps falling as T -> 0), at
# the upper one the logits are no better than a uniform guess (the NLL falls as T -> infinity).
T_RANGE = (1e-2, 1e2)


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------
def _labels(labels, n: int, c: int, who: str) -> np.ndarray:
    """labels: (n,) integers in 0..c-1 -> int64 array."""
    y = np.asarray(labels)
    if y.shape != (n,):
        raise ValueError(f"{who}: labels must have shape ({n},), one per row, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{who}: labels must be integer class indices, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= c:
        raise ValueError(f"{who}: labels must be class indices in 0..{c - 1}, "
                         f"got values from {y.min()} to {y.max()}")
    return y.astype(np.int64)


def _matrix(a, name: str, who: str) -> np.ndarray:
    """a: (N, C) finite reals with N >= 1 and C >= 2 -> float64 array."""
    x = np.asarray(a)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 2:
        raise ValueError(f"{who}: {name} must have shape (N, C) with N >= 1 examples and C >= 2 "
                         f"classes, got shape {x.shape}")
    return finite_floats(who, name, x)


def _probs(probs, who: str) -> np.ndarray:
    """probs: (N, C), each row a probability distribution (sums to 1 within 1e-4)."""
    p = _matrix(probs, "probs", who)
    if p.min() < 0 or p.max() > 1:
        raise ValueError(f"{who}: probs must lie in [0, 1], got values from {p.min():.3g} "
                         f"to {p.max():.3g} (pass probabilities, not logits)")
    sums = p.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1)))
    if abs(sums[worst] - 1) > 1e-4:
        raise ValueError(f"{who}: every row of probs must sum to 1, row {worst} sums to "
                         f"{sums[worst]:.6g} (apply a softmax first)")
    return p


def _temperature(T, who: str) -> float:
    t = positive(who, "T", T)
    if not np.isfinite(t):
        raise ValueError(f"{who}: T must be a finite positive number, got {T!r}")
    return t


# --------------------------------------------------------------------------------------------
# Measuring calibration
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReliabilityBins:
    """Equal-width bins of the top-class confidence, M = number of bins.

    edges: (M + 1,) 0, 1/M, ..., 1; bin b holds the confidences in (edges[b], edges[b + 1]].
    confidence: (M,) mean confidence of the predictions in each bin (NaN if the bin is empty).
    accuracy: (M,) fraction of those predictions that are right (NaN if the bin is empty).
    count: (M,) number of predictions in each bin; count.sum() = N.
    """

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray

    @property
    def gap(self) -> np.ndarray:
        """(M,) confidence - accuracy: positive where the classifier is overconfident."""
        return self.confidence - self.accuracy

    @property
    def ece(self) -> float:
        """The expected calibration error of these bins (see expected_calibration_error)."""
        full = self.count > 0
        weights = self.count[full] / self.count.sum()
        return float(np.sum(weights * np.abs(self.gap[full])))


def _bins(probs, labels, n_bins, who: str) -> ReliabilityBins:
    """reliability_bins, with errors that name the public function `who` that was called."""
    p = _probs(probs, who)
    y = _labels(labels, p.shape[0], p.shape[1], who)
    m = integer(who, "n_bins", n_bins, lo=1)
    conf = p.max(axis=1)                                      # (N,) top-class probability
    right = (p.argmax(axis=1) == y).astype(np.float64)        # (N,) 1 if the prediction is right
    edges = np.linspace(0.0, 1.0, m + 1)                      # (M + 1,)
    # Bin b holds (edges[b], edges[b + 1]]: searchsorted(side="left") puts an edge value in the
    # lower bin, as in Guo et al.; a confidence is at least 1/C > 0, so none falls below bin 0.
    b = np.searchsorted(edges[1:-1], conf, side="left")       # (N,) bin index in 0..M-1
    count = np.bincount(b, minlength=m)                       # (M,)
    with np.errstate(invalid="ignore", divide="ignore"):      # empty bins give NaN
        confidence = np.bincount(b, weights=conf, minlength=m) / count
        accuracy = np.bincount(b, weights=right, minlength=m) / count
    return ReliabilityBins(edges=edges, confidence=confidence, accuracy=accuracy, count=count)


def reliability_bins(probs, labels, n_bins: int = 15) -> ReliabilityBins:
    """Group predictions by confidence and compare each group's confidence with its accuracy.

    Args:
        probs: (N, C) class probabilities, each row summing to 1 (e.g. a softmax output).
        labels: (N,) true classes in 0..C-1.
        n_bins: M, the number of equal-width bins on [0, 1] (Guo et al. use 15).
    Returns:
        ReliabilityBins with (M,) arrays confidence, accuracy, count and the (M + 1,) edges.
    """
    return _bins(probs, labels, n_bins, "reliability_bins")


def expected_calibration_error(probs, labels, n_bins: int = 15) -> float:
    """The expected calibration error (ECE) of Guo et al. (2017).

        ECE = sum_b (n_b / N) * |acc_b - conf_b|

    over the M equal-width confidence bins of reliability_bins (n_b predictions in bin b, acc_b
    their accuracy, conf_b their mean confidence; empty bins count 0). 0 for a perfectly
    calibrated classifier, up to sampling noise (at most about sqrt(M / N)); at most 1.

    Args:
        probs: (N, C) class probabilities.  labels: (N,) true classes.  n_bins: M.
    Returns:
        ECE as a float in [0, 1].
    """
    return _bins(probs, labels, n_bins, "expected_calibration_error").ece


# --------------------------------------------------------------------------------------------
# Temperature scaling
# --------------------------------------------------------------------------------------------
def _log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log softmax of (N, C) logits, stable for large logits."""
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax_with_temperature(logits, T: float = 1.0) -> np.ndarray:
    """Softmax of logits / T.

    T > 1 flattens the distribution (less confident), T < 1 sharpens it; T = 1 is the plain
    softmax. The argmax never changes, since dividing by T > 0 keeps the order of the logits.

    Args:
        logits: (N, C) unnormalised scores.  T: temperature, a finite number > 0.
    Returns:
        (N, C) float64 probabilities, each row summing to 1.
    """
    who = "softmax_with_temperature"
    z = _matrix(logits, "logits", who)
    t = _temperature(T, who)
    return np.exp(_log_softmax(z / t))


def negative_log_likelihood(logits, labels, T: float = 1.0) -> float:
    """Mean NLL (the cross-entropy loss) of the labels under softmax(logits / T).

    Args:
        logits: (N, C) unnormalised scores.  labels: (N,) true classes.  T: temperature > 0.
    Returns:
        -(1/N) sum_i log softmax(logits_i / T)[labels_i], in nats (log C for uniform guesses).
    """
    who = "negative_log_likelihood"
    z = _matrix(logits, "logits", who)
    y = _labels(labels, z.shape[0], z.shape[1], who)
    t = _temperature(T, who)
    return float(-np.mean(_log_softmax(z / t)[np.arange(len(y)), y]))


def fit_temperature(logits, labels) -> float:
    """The temperature T > 0 that minimises the NLL of softmax(logits / T) (Guo et al. 2017).

    Fit it on held-out validation data, never on the training data (where the network is
    overconfident for a reason: it has memorised it) or on the test data you report. The NLL is
    a convex function of 1/T, so it has at most one minimum; it is found by a bounded 1-D search
    (scipy.optimize.minimize_scalar) over log T in log(T_RANGE).

    Args:
        logits: (N, C) unnormalised validation scores (before the softmax).
        labels: (N,) their true classes.
    Returns:
        T as a float in T_RANGE; T > 1 means the logits were overconfident. A warning says
        when the NLL has no minimum inside T_RANGE (a bound of the range is as good as T).
    """
    from scipy.optimize import minimize_scalar

    who = "fit_temperature"
    z = _matrix(logits, "logits", who)
    y = _labels(labels, z.shape[0], z.shape[1], who)
    rows = np.arange(len(y))

    def nll(log_t: float) -> float:
        return float(-np.mean(_log_softmax(z / np.exp(log_t))[rows, y]))

    lo, hi = np.log(T_RANGE[0]), np.log(T_RANGE[1])
    res = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
    T = float(np.exp(res.x))
    if min(nll(lo), nll(hi)) <= res.fun:  # a bound is as good: the NLL has no minimum inside
        warnings.warn(f"{who}: the NLL has no minimum for T in {T_RANGE} (the search ended at "
                      f"T = {T:.3g}): every example is right by a wide margin, so the NLL keeps "
                      "falling as T shrinks, or the logits are no better than a uniform guess",
                      stacklevel=2)
    return T


# --------------------------------------------------------------------------------------------
# Pictures
# --------------------------------------------------------------------------------------------
def draw_reliability(ax, bins: ReliabilityBins, color: str = "#0072B2",
                     gap_color: str = "#D55E00", counts: bool = True,
                     title: str | None = None) -> None:
    """The reliability diagram (Guo et al. 2017, figure 1, bottom row) on a matplotlib Axes.

    One bar per non-empty bin, as high as the bin's accuracy (`color`); a hatched bar from the
    accuracy to the bin's mean confidence shows the gap (`gap_color`: above the bar where the
    classifier is overconfident, inside it where it is underconfident); the dashed diagonal is
    perfect calibration. counts=True writes each bin's number of predictions above its bar (a
    bar of a few predictions is mostly noise). The ECE is written in the lower right corner.
    """
    full = bins.count > 0
    left, width = bins.edges[:-1][full], np.diff(bins.edges)[full]
    acc, conf = bins.accuracy[full], bins.confidence[full]
    ax.bar(left, acc, width=width, align="edge", color=color, edgecolor="k", lw=0.6,
           label="accuracy in the bin")
    ax.bar(left, conf - acc, bottom=acc, width=width, align="edge", facecolor="none",
           edgecolor=gap_color, hatch="///", lw=1.0, label="gap to the mean confidence")
    ax.plot([0, 1], [0, 1], "--", color="0.3", lw=1.2, label="perfect calibration")
    if counts:
        for x, w, top, n in zip(left, width, np.maximum(acc, conf), bins.count[full],
                                strict=True):
            ax.text(x + w / 2, top + 0.01, str(n), ha="center", va="bottom",
                    fontsize=7, color="0.25")
    ax.text(0.97, 0.04, f"ECE = {bins.ece:.3f}", transform=ax.transAxes, ha="right",
            va="bottom", fontsize=10, bbox=dict(fc="w", ec="0.7"))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.08)  # room for the counts above bars of height 1
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    if title:
        ax.set_title(title, fontsize=10)


def draw_confidence_histogram(ax, bins: ReliabilityBins, color: str = "#0072B2",
                              title: str | None = None) -> None:
    """The share of predictions in each confidence bin (Guo et al. 2017, figure 1, top row),
    with the accuracy and the mean confidence over all predictions as vertical lines."""
    n = bins.count.sum()
    ax.bar(bins.edges[:-1], bins.count / n, width=np.diff(bins.edges), align="edge",
           color=color, edgecolor="k", lw=0.6)
    full = bins.count > 0
    accuracy = np.sum(bins.accuracy[full] * bins.count[full]) / n
    confidence = np.sum(bins.confidence[full] * bins.count[full]) / n
    ax.axvline(accuracy, color="k", ls="--", lw=1.2, label=f"accuracy {accuracy:.3f}")
    ax.axvline(confidence, color="#D55E00", ls=":", lw=1.5,
               label=f"mean confidence {confidence:.3f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of predictions")
    ax.legend(fontsize=8, loc="upper left")
    if title:
        ax.set_title(title, fontsize=10)
