"""Tests for dlcv/evaluation/metrics.py: counts, PR curves, interpolated precision and AP."""

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    fbeta_score,
    precision_recall_curve,
    precision_score,
    recall_score,
)
from sklearn.preprocessing import label_binarize

from dlcv.evaluation import metrics as E

# The lecture's worked example: ten ranked items, four positives (ranks 1, 3, 4 and 7).
Y10 = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0])
S10 = np.array([0.95, 0.90, 0.85, 0.80, 0.70, 0.65, 0.60, 0.40, 0.30, 0.20])


def _random_case(seed, n=200, ties=False):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    y[0] = 1
    s = rng.normal(size=n) + 1.2 * y
    if ties:
        s = np.round(s, 1)  # many tied scores
    return y, s


def _voc_all_point(rec, prec):
    """The PASCAL VOC devkit's (2010+) computation, written as a reference loop."""
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def _voc_11_point(rec, prec):
    """The PASCAL VOC 2007 devkit's 11-point computation, as a reference loop."""
    ap = 0.0
    for t in np.arange(0.0, 1.1, 0.1):
        ap += (prec[rec >= t - 1e-12].max() if np.any(rec >= t - 1e-12) else 0.0) / 11
    return ap


# --------------------------------------------------------------------------------------------
# Hand-computed cases
# --------------------------------------------------------------------------------------------
def test_worked_example_pr_points_by_hand():
    c = E.pr_points(Y10, S10)
    np.testing.assert_array_equal(c.tp, [1, 1, 2, 3, 3, 3, 4, 4, 4, 4])
    np.testing.assert_array_equal(c.fp, [0, 1, 1, 1, 2, 3, 3, 4, 5, 6])
    np.testing.assert_allclose(c.precision, [1, 1 / 2, 2 / 3, 3 / 4, 3 / 5, 1 / 2, 4 / 7,
                                             1 / 2, 4 / 9, 4 / 10])
    np.testing.assert_allclose(c.recall, [.25, .25, .5, .75, .75, .75, 1, 1, 1, 1])
    np.testing.assert_allclose(c.thresholds, S10)
    assert (c.num_pos, c.num_neg) == (4, 6)
    np.testing.assert_allclose(c.fpr, c.fp / 6)


def test_worked_example_ap_by_hand():
    # envelope: 1 on (0, .25], 3/4 on (.25, .75], 4/7 on (.75, 1]
    assert E.average_precision(Y10, S10, "all-point") == pytest.approx(43 / 56)
    # 11 levels: 1 at r = 0, .1, .2; 3/4 at .3 .. .7; 4/7 at .8, .9, 1
    assert E.average_precision(Y10, S10, "11-point") == pytest.approx(237 / 308)
    # no envelope: (1 + 2/3 + 3/4 + 4/7) / 4
    assert E.average_precision(Y10, S10, "non-interpolated") == pytest.approx(251 / 336)
    assert E.average_precision(Y10, S10, "non-interpolated") == pytest.approx(
        average_precision_score(Y10, S10))


def test_worked_example_interpolated_precision():
    c = E.pr_points(Y10, S10)
    env = E.interpolated_precision(c.precision, c.recall)
    np.testing.assert_allclose(env, [1, 1, .75, .75, .75, .75, 4 / 7, 4 / 7, 4 / 7, 4 / 7])
    at = E.interpolated_precision(c.precision, c.recall, at=[0, 0.25, 0.26, 0.8, 1.0])
    np.testing.assert_allclose(at, [1, 1, .75, 4 / 7, 4 / 7])


@pytest.mark.parametrize("method", E.AP_METHODS)
def test_perfect_ranking_gives_ap_one(method):
    y = np.array([0, 1, 0, 1, 1, 0, 0])
    s = np.where(y == 1, 5.0, 0.0) + np.arange(7) * 0.01
    assert E.average_precision(y, s, method) == pytest.approx(1.0)


def test_worst_ranking_by_hand():
    y, s = np.array([0, 0, 1]), np.array([3.0, 2.0, 1.0])
    # one point with recall > 0: precision 1/3 at recall 1
    for method in E.AP_METHODS:
        assert E.average_precision(y, s, method) == pytest.approx(1 / 3)


def test_all_tied_scores_is_one_point():
    y, s = np.array([1, 0, 0, 1]), np.zeros(4)
    c = E.pr_points(y, s)
    assert len(c.thresholds) == 1 and c.precision[0] == 0.5 and c.recall[0] == 1
    assert E.average_precision(y, s) == pytest.approx(0.5)
    assert E.average_precision(y, s, "11-point") == pytest.approx(0.5)


# --------------------------------------------------------------------------------------------
# Confusion counts and rates
# --------------------------------------------------------------------------------------------
def test_confusion_counts_by_hand():
    assert E.confusion_counts(Y10, S10, 0.8) == (3, 1, 1, 5)   # ranks 1-4 predicted positive
    assert E.confusion_counts(Y10, S10, 0.81) == (2, 1, 2, 5)
    assert E.confusion_counts(Y10, S10, np.inf) == (0, 0, 4, 6)
    assert E.confusion_counts(Y10, S10, -np.inf) == (4, 6, 0, 0)
    assert E.confusion_counts(Y10.astype(bool), S10, 0.6) == E.Counts(tp=4, fp=3, fn=0, tn=3)


def test_confusion_counts_match_the_curve():
    y, s = _random_case(1, ties=True)
    c = E.pr_points(y, s)
    for k in range(0, len(c.thresholds), 7):
        cnt = E.confusion_counts(y, s, c.thresholds[k])
        assert (cnt.tp, cnt.fp) == (c.tp[k], c.fp[k])
        assert E.operating_point(c, c.thresholds[k]) == k
        assert E.operating_point(c, c.thresholds[k] + 1e-9) == (k - 1 if k else None)
    assert E.operating_point(c, s.min() - 1) == len(c.thresholds) - 1


def test_binary_metrics_match_sklearn():
    y, s = _random_case(2)
    for t in (-0.5, 0.3, 1.0):
        pred = (s >= t).astype(int)
        m = E.binary_metrics(E.confusion_counts(y, s, t))
        assert m["precision"] == pytest.approx(precision_score(y, pred))
        assert m["recall"] == pytest.approx(recall_score(y, pred))
        assert m["f"] == pytest.approx(f1_score(y, pred))
        assert m["accuracy"] == pytest.approx(np.mean(pred == y))
        assert m["specificity"] == pytest.approx(recall_score(1 - y, 1 - pred))
        assert m["fpr"] == pytest.approx(1 - m["specificity"])
        for beta in (0.5, 2.0):
            assert E.binary_metrics(E.confusion_counts(y, s, t), beta)["f"] == pytest.approx(
                fbeta_score(y, pred, beta=beta))


def test_binary_metrics_by_hand_and_undefined():
    m = E.binary_metrics((3, 1, 1, 5))
    assert (m["precision"], m["recall"], m["f"], m["accuracy"]) == (0.75, 0.75, 0.75, 0.8)
    assert E.binary_metrics((1, 0, 3, 0))["f"] == pytest.approx(2 * 1 * 0.25 / 1.25)
    none = E.binary_metrics((0, 0, 4, 6))  # nothing predicted positive
    assert np.isnan(none["precision"]) and np.isnan(none["f"]) and none["recall"] == 0
    assert E.binary_metrics((0, 2, 4, 6))["f"] == 0.0


# --------------------------------------------------------------------------------------------
# Curves and AP against references
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ties", [False, True])
def test_pr_points_agree_with_sklearn_and_with_sorting(ties):
    y, s = _random_case(3, ties=ties)
    c = E.pr_points(y, s)
    p, r, t = precision_recall_curve(y, s)
    np.testing.assert_allclose(c.precision, p[:-1][::-1])
    np.testing.assert_allclose(c.recall, r[:-1][::-1])
    np.testing.assert_allclose(c.thresholds, t[::-1])
    # the lecture's recipe: sort by score, cumulative sums, last position of each tie run
    order = np.argsort(-s, kind="stable")
    tp, fp = np.cumsum(y[order]), np.cumsum(1 - y[order])
    last = np.r_[np.flatnonzero(np.diff(s[order]) != 0), len(s) - 1]
    np.testing.assert_array_equal(c.tp, tp[last])
    np.testing.assert_array_equal(c.fp, fp[last])
    assert np.all(np.diff(c.recall) >= 0) and np.all(np.diff(c.thresholds) < 0)


@pytest.mark.parametrize("seed", range(5))
def test_ap_against_voc_devkit_and_sklearn(seed):
    y, s = _random_case(seed, ties=seed % 2 == 1)
    c = E.pr_points(y, s)
    all_point = E.average_precision(y, s, "all-point")
    assert all_point == pytest.approx(_voc_all_point(c.recall, c.precision))
    assert E.average_precision(y, s, "11-point") == pytest.approx(
        _voc_11_point(c.recall, c.precision))
    sk = average_precision_score(y, s)
    assert E.average_precision(y, s, "non-interpolated") == pytest.approx(sk)
    assert all_point >= sk - 1e-12  # the envelope is never below the points


def test_all_point_equals_sklearn_when_precision_only_falls():
    # precision where recall rises: 1, 1, 3/4, 4/6: already non-increasing, so no interpolation
    y = np.array([1, 1, 0, 1, 0, 1])
    s = np.arange(6, 0, -1.0)
    assert E.average_precision(y, s) == pytest.approx(average_precision_score(y, s))
    assert E.average_precision(y, s) == pytest.approx((1 + 1 + 3 / 4 + 4 / 6) / 4)


def test_interpolated_precision_is_monotone_envelope():
    y, s = _random_case(4)
    c = E.pr_points(y, s)
    env = E.interpolated_precision(c.precision, c.recall)
    assert np.all(env >= c.precision - 1e-15)
    assert np.all(np.diff(env) <= 1e-15)  # non-increasing along increasing recall
    shuffled = np.random.default_rng(0).permutation(len(env))  # order does not matter
    np.testing.assert_allclose(
        E.interpolated_precision(c.precision[shuffled], c.recall[shuffled]), env[shuffled])
    # equal recalls: every point of a run gets the best precision at that recall or beyond
    np.testing.assert_allclose(E.interpolated_precision([0.5, 0.9, 0.2], [0.5, 0.5, 1.0]),
                               [0.9, 0.9, 0.2])
    np.testing.assert_allclose(E.interpolated_precision([0.5], [0.4], at=[0.0, 0.4, 0.5]),
                               [0.5, 0.5, 0.0])


def test_mean_average_precision_matches_sklearn_macro():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 4, 120)
    S = rng.normal(size=(120, 4)) + 1.5 * np.eye(4)[y]
    m, per_class = E.mean_average_precision(y, S, "non-interpolated")
    ref = average_precision_score(label_binarize(y, classes=range(4)), S, average=None)
    np.testing.assert_allclose(per_class, ref)
    assert m == pytest.approx(ref.mean())
    m_all, per_all = E.mean_average_precision(y, S)
    assert np.all(per_all >= per_class - 1e-12) and m_all == pytest.approx(per_all.mean())
    # a class without examples is left out of the mean
    m3, per3 = E.mean_average_precision(np.where(y == 3, 0, y), S)
    assert np.isnan(per3[3]) and m3 == pytest.approx(np.nanmean(per3))


# --------------------------------------------------------------------------------------------
# Scored examples
# --------------------------------------------------------------------------------------------
def test_synthetic_scores():
    y, s = E.synthetic_scores(30, 270, separation=3.0, seed=1)
    assert y.shape == s.shape == (300,) and y.sum() == 30
    assert s[y == 1].mean() - s[y == 0].mean() == pytest.approx(3.0, abs=0.5)
    y2, s2 = E.synthetic_scores(30, 270, separation=3.0, seed=1)
    np.testing.assert_array_equal(s, s2)
    aps = [E.average_precision(*E.synthetic_scores(100, 900, d, seed=0)) for d in (0, 1, 2, 4)]
    assert aps[0] < 0.2 and np.all(np.diff(aps) > 0) and aps[-1] > 0.9


def test_digit_classifier_scores_quality_levels():
    accs = {}
    for f in E.DIGIT_FEATURES:
        d = E.digit_classifier_scores(f)
        assert d.images.shape == (540, 8, 8) and d.y.shape == (540,)
        assert d.proba.shape == (540, 10)
        np.testing.assert_allclose(d.proba.sum(1), 1.0)
        accs[f] = float(np.mean(d.pred == d.y))
        assert E.digit_classifier_scores(f) is d  # cached
    assert accs["pixels"] > 0.93 and 0.8 < accs["pca8"] < accs["pixels"]
    assert 0.4 < accs["pca2"] < accs["pca8"]


def test_one_vs_rest_log_odds_and_scored_set():
    d = E.digit_classifier_scores("pca8")
    yb, s = E.one_vs_rest(d.y, d.proba, 3)
    np.testing.assert_array_equal(yb, d.y == 3)
    p = d.proba[:, 3]
    ok = (p > 1e-5) & (p < 1 - 1e-5)
    np.testing.assert_allclose(1 / (1 + np.exp(-s[ok])), p[ok], rtol=1e-9)
    assert np.abs(s).max() <= 12.0
    y2, s2 = E.scored_set("digits: softmax on 8 PCA features", positive=3)
    np.testing.assert_array_equal(y2, yb)
    np.testing.assert_allclose(s2, s)
    y3, _ = E.scored_set("synthetic: 1% positives, d'=2")
    assert y3.sum() == 20 and len(y3) == 2000


def test_clipping_the_digit_log_odds_does_not_change_the_ap():
    # only negatives score below -12, so merging them into one tie leaves every PR point alone
    for f in E.DIGIT_FEATURES:
        d = E.digit_classifier_scores(f)
        for c in range(10):
            y, s = E.one_vs_rest(d.y, d.proba, c)
            _, s_wide = E.one_vs_rest(d.y, d.proba, c, clip=30.0)
            assert s[y == 1].min() > -12
            assert E.average_precision(y, s) == pytest.approx(E.average_precision(y, s_wide))
            assert E.average_precision(y, s, "non-interpolated") == pytest.approx(
                average_precision_score(y, d.proba[:, c]))


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, msg",
    [
        (lambda: E.pr_points([1, 2, 0], [0.1, 0.2, 0.3]), "only 0 .negative. and 1"),
        (lambda: E.pr_points([[1, 0]], [0.1, 0.2]), "y_true must be a 1-D array"),
        (lambda: E.pr_points([1, 0], [0.1, 0.2, 0.3]), r"one score per label \(shape \(2,\)\)"),
        (lambda: E.pr_points([1, 0], [0.1, np.nan]), "scores must be finite"),
        (lambda: E.pr_points([0, 0], [0.1, 0.2]), "no positive example"),
        (lambda: E.pr_points([], []), "empty"),
        (lambda: E.average_precision(Y10, S10, "101-point"), "method must be one of"),
        (lambda: E.confusion_counts(Y10, S10, np.nan), "threshold must be a number"),
        (lambda: E.binary_metrics((1, 2, 3)), r"counts must be \(tp, fp, fn, tn\)"),
        (lambda: E.binary_metrics((1, -2, 3, 4)), "counts must be >= 0"),
        (lambda: E.binary_metrics((1, 2, 3, 4), beta=0), "beta must be > 0"),
        (lambda: E.interpolated_precision([0.5, 0.2], [0.1]), "same shape"),
        (lambda: E.interpolated_precision([np.nan], [0.1]), "NaN"),
        (lambda: E.mean_average_precision([0, 1], np.zeros(2)), r"scores \(N, C\)"),
        (lambda: E.mean_average_precision([0, 5], np.zeros((2, 3))), r"labels in 0\.\.2"),
        (lambda: E.synthetic_scores(0, 10), "num_pos must be an int >= 1"),
        (lambda: E.synthetic_scores(10, 10, separation=-1), "separation must be >= 0"),
        (lambda: E.digit_classifier_scores("hog"), "features must be one of"),
        (lambda: E.one_vs_rest([0, 1], np.ones((2, 3)) / 3, 3),
         r"positive must be a class in 0\.\.2"),
        (lambda: E.scored_set("cifar"), "source must be one of"),
    ],
)
def test_bad_input(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()
