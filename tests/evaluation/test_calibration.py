"""Tests for dlcv/evaluation/calibration.py: reliability bins, ECE, temperature scaling."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.calibration import calibration_curve

from dlcv.evaluation import calibration as cal

# A tiny case by hand, two classes, six predictions (confidence = the larger probability):
#   confidences 0.9 0.8 0.85 | 0.6 0.6 0.7     right? yes yes no | yes no yes
# With 4 bins, the first three fall in (0.75, 1]: mean confidence 0.85, accuracy 2/3; the last
# three in (0.5, 0.75]: mean confidence 19/30, accuracy 2/3.
# ECE = 3/6 * (0.85 - 2/3) + 3/6 * (2/3 - 19/30) = 1/2 * 11/60 + 1/2 * 1/30 = 13/120.
P6 = np.array([[0.9, 0.1], [0.2, 0.8], [0.85, 0.15], [0.6, 0.4], [0.4, 0.6], [0.7, 0.3]])
Y6 = np.array([0, 1, 1, 0, 0, 0])


def _draw_labels(probs, rng):
    """One label per row, drawn from that row's distribution: (N, C) -> (N,)."""
    return (rng.random((len(probs), 1)) > np.cumsum(probs, axis=1)).sum(axis=1)


def _calibrated_set(n, seed, num_classes=10, scale=2.0):
    """Random logits and labels drawn from their own softmax, so the logits are calibrated."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, scale, (n, num_classes))
    return logits, _draw_labels(cal.softmax_with_temperature(logits), rng)


# --------------------------------------------------------------------------------------------
# Reliability bins and ECE
# --------------------------------------------------------------------------------------------
def test_reliability_bins_by_hand():
    b = cal.reliability_bins(P6, Y6, n_bins=4)
    np.testing.assert_allclose(b.edges, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_array_equal(b.count, [0, 0, 3, 3])
    np.testing.assert_allclose(b.confidence[2:], [19 / 30, 0.85])
    np.testing.assert_allclose(b.accuracy[2:], [2 / 3, 2 / 3])
    assert np.all(np.isnan(b.confidence[:2])) and np.all(np.isnan(b.accuracy[:2]))
    np.testing.assert_allclose(b.gap[2:], [19 / 30 - 2 / 3, 0.85 - 2 / 3])


def test_ece_by_hand():
    assert cal.expected_calibration_error(P6, Y6, n_bins=4) == pytest.approx(13 / 120)
    # One bin: |mean confidence - accuracy| over everything = |4.45/6 - 4/6| = 0.45/6.
    assert cal.expected_calibration_error(P6, Y6, n_bins=1) == pytest.approx(0.45 / 6)


def test_a_confidence_on_an_edge_goes_to_the_lower_bin():
    probs = np.array([[0.75, 0.25], [1.0, 0.0], [0.5, 0.5]])
    b = cal.reliability_bins(probs, np.array([0, 0, 1]), n_bins=4)
    np.testing.assert_array_equal(b.count, [0, 1, 1, 1])  # 0.5 -> (0.25, 0.5], 0.75 -> (0.5, 0.75]


def test_bins_agree_with_sklearn_calibration_curve():
    logits, y = _calibrated_set(2000, seed=3, num_classes=5)
    p = cal.softmax_with_temperature(logits, 0.7)
    b = cal.reliability_bins(p, y, n_bins=10)
    right, conf = (p.argmax(1) == y).astype(int), p.max(1)
    acc_sk, conf_sk = calibration_curve(right, conf, n_bins=10, strategy="uniform")
    full = b.count > 0
    np.testing.assert_allclose(b.accuracy[full], acc_sk)
    np.testing.assert_allclose(b.confidence[full], conf_sk)


def test_ece_of_a_calibrated_set_is_near_zero_and_of_an_overconfident_one_is_not():
    # In bin b, acc_b - conf_b is a mean of n_b independent terms (right_i - p_i) of mean 0 and
    # variance p_i (1 - p_i) <= 1/4, so its standard deviation is at most 0.5 / sqrt(n_b). The
    # count-weighted sum of one standard deviation per bin is at most
    # sum_b 0.5 sqrt(n_b) / N <= 0.5 sqrt(M / N) (Cauchy-Schwarz); the tolerance sqrt(M / N)
    # allows two standard deviations in every bin at once.
    n, m = 20_000, 15
    logits, y = _calibrated_set(n, seed=0)
    tol = np.sqrt(m / n)  # 0.027
    assert cal.expected_calibration_error(cal.softmax_with_temperature(logits), y, m) < tol
    # The same labels with the logits tripled (softmax at T = 1/3): far outside the noise.
    sharp = cal.softmax_with_temperature(logits, 1 / 3)
    assert cal.expected_calibration_error(sharp, y, m) > 5 * tol


def test_ece_is_the_count_weighted_mean_gap_of_the_bins():
    logits, y = _calibrated_set(500, seed=1)
    p = cal.softmax_with_temperature(logits, 0.5)
    b = cal.reliability_bins(p, y, n_bins=15)
    full = b.count > 0
    by_hand = np.sum(b.count[full] * np.abs(b.accuracy[full] - b.confidence[full])) / 500
    assert cal.expected_calibration_error(p, y) == pytest.approx(by_hand)
    assert b.count.sum() == 500


# --------------------------------------------------------------------------------------------
# Temperature scaling
# --------------------------------------------------------------------------------------------
def test_temperature_one_is_the_plain_softmax():
    z = np.random.default_rng(0).normal(0, 3, (7, 4))
    expected = torch.softmax(torch.from_numpy(z), dim=1).numpy()
    np.testing.assert_allclose(cal.softmax_with_temperature(z, 1.0), expected, rtol=1e-12)
    np.testing.assert_allclose(cal.softmax_with_temperature(z), expected, rtol=1e-12)


def test_softmax_with_temperature_divides_the_logits_and_keeps_the_argmax():
    z = np.random.default_rng(1).normal(0, 3, (50, 6))
    for T in (0.1, 0.5, 2.0, 10.0):
        p = cal.softmax_with_temperature(z, T)
        np.testing.assert_allclose(p, torch.softmax(torch.from_numpy(z / T), 1).numpy(),
                                   rtol=1e-10)
        np.testing.assert_allclose(p.sum(1), 1.0)
        np.testing.assert_array_equal(p.argmax(1), z.argmax(1))
    # Larger T, lower confidence; huge logits stay finite.
    assert np.all(cal.softmax_with_temperature(z, 4.0).max(1) < cal.softmax_with_temperature(z).max(1))
    big = cal.softmax_with_temperature(np.array([[1000.0, 0.0, -1000.0]]), 0.5)
    np.testing.assert_allclose(big, [[1.0, 0.0, 0.0]])


def test_negative_log_likelihood_is_torch_cross_entropy():
    z = np.random.default_rng(2).normal(0, 2, (40, 5))
    y = np.random.default_rng(3).integers(0, 5, 40)
    for T in (1.0, 2.5):
        ref = F.cross_entropy(torch.from_numpy(z / T), torch.from_numpy(y)).item()
        assert cal.negative_log_likelihood(z, y, T) == pytest.approx(ref, rel=1e-12)
    assert cal.negative_log_likelihood(np.zeros((3, 4)), np.array([0, 1, 2])) == pytest.approx(
        np.log(4))


@pytest.mark.parametrize("k", [2.5, 0.5])
def test_fit_temperature_recovers_a_known_temperature(k):
    # Labels drawn from softmax(true_logits): the true logits are calibrated, and the logits we
    # hand over are true_logits * k, so the best temperature is k. Over 30 seeds with N = 4000
    # the fitted T / k had a standard deviation of 0.011 and never missed 1 by more than 0.025:
    # a 5% tolerance is about 4.5 standard deviations.
    true_logits, y = _calibrated_set(4000, seed=0)
    T = cal.fit_temperature(true_logits * k, y)
    assert T == pytest.approx(k, rel=0.05)
    assert (T > 1) == (k > 1)  # over- (k > 1) or underconfident logits are told apart


def test_fit_temperature_minimises_the_nll():
    true_logits, y = _calibrated_set(1000, seed=4)
    z = true_logits * 1.7
    T = cal.fit_temperature(z, y)
    best = cal.negative_log_likelihood(z, y, T)
    for factor in (0.98, 1.02, 0.5, 2.0):
        assert best <= cal.negative_log_likelihood(z, y, T * factor)
    assert best < cal.negative_log_likelihood(z, y, 1.0)


def test_temperature_scaling_lowers_the_ece_of_overconfident_logits():
    true_logits, y = _calibrated_set(4000, seed=5)
    z_val, y_val, z_test, y_test = true_logits[:2000] * 3, y[:2000], true_logits[2000:] * 3, y[2000:]
    T = cal.fit_temperature(z_val, y_val)
    before = cal.expected_calibration_error(cal.softmax_with_temperature(z_test), y_test)
    after = cal.expected_calibration_error(cal.softmax_with_temperature(z_test, T), y_test)
    assert after < before / 3


def test_fit_temperature_warns_when_no_temperature_inside_the_range_is_best():
    # Every example right by a margin: the NLL keeps falling as T -> 0.
    z = np.array([[5.0, 0.0], [0.0, 5.0], [4.0, 1.0]])
    with pytest.warns(UserWarning, match=r"fit_temperature: the NLL has no minimum for T in \(0.01, 100"):
        T = cal.fit_temperature(z, np.array([0, 1, 0]))
    assert T < 0.1  # as sharp as the search went before the NLL reached 0
    # Logits that point the wrong way: no positive temperature beats the uniform guess.
    with pytest.warns(UserWarning, match="no better than a uniform guess"):
        T = cal.fit_temperature(-z, np.array([0, 1, 0]))
    assert T == pytest.approx(cal.T_RANGE[1], rel=1e-2)


def test_fit_temperature_is_silent_for_an_ordinary_fit(recwarn):
    true_logits, y = _calibrated_set(500, seed=6)
    cal.fit_temperature(true_logits * 2, y)
    assert not [w for w in recwarn if "fit_temperature" in str(w.message)]


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("probs, labels, n_bins, match", [
    (np.array([0.9, 0.1]), np.array([0]), 15, r"reliability_bins: probs must have shape \(N, C\)"),
    (np.ones((3, 1)), np.array([0, 0, 0]), 15, r"probs must have shape \(N, C\).*C >= 2"),
    (np.array([[2.0, -1.0]]), np.array([0]), 15, r"probs must lie in \[0, 1\].*not logits"),
    (np.array([[0.5, 0.4]]), np.array([0]), 15, r"row 0 sums to 0.9"),
    (np.array([[np.nan, 0.5]]), np.array([0]), 15, "probs must be finite"),
    (P6, Y6[:5], 15, r"labels must have shape \(6,\)"),
    (P6, Y6.astype(float), 15, "labels must be integer class indices"),
    (P6, Y6 + 1, 15, r"labels must be class indices in 0..1, got values from 1 to 2"),
    (P6, Y6, 0, "reliability_bins: n_bins must be an int >= 1, got 0"),
    (P6, Y6, 2.5, "n_bins must be an int >= 1, got 2.5"),
    (P6, Y6, True, "n_bins must be an int >= 1, got True"),
])
def test_bad_input_to_the_bins_says_what_is_wrong(probs, labels, n_bins, match):
    with pytest.raises(ValueError, match=match):
        cal.reliability_bins(probs, labels, n_bins)
    with pytest.raises(ValueError, match=match.replace("reliability_bins", "expected_calibration_error")):
        cal.expected_calibration_error(probs, labels, n_bins)


@pytest.mark.parametrize("T, match", [
    (0, "T must be a positive number, got 0"),
    (-1.0, "T must be a positive number, got -1.0"),
    ("2", "T must be a positive number, got '2'"),
    (float("inf"), "T must be a finite positive number"),
    (float("nan"), "T must be a positive number, got nan"),
])
def test_bad_temperature(T, match):
    z = np.zeros((2, 3))
    with pytest.raises(ValueError, match=f"softmax_with_temperature: {match}"):
        cal.softmax_with_temperature(z, T)
    with pytest.raises(ValueError, match=f"negative_log_likelihood: {match}"):
        cal.negative_log_likelihood(z, np.array([0, 1]), T)


def test_bad_logits_and_labels_for_fitting():
    with pytest.raises(ValueError, match=r"fit_temperature: logits must have shape \(N, C\)"):
        cal.fit_temperature(np.zeros(5), np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="fit_temperature: logits must be finite"):
        cal.fit_temperature(np.array([[np.inf, 0.0]]), np.array([0]))
    with pytest.raises(ValueError, match="fit_temperature: logits must be numbers"):
        cal.fit_temperature(np.array([["a", "b"]]), np.array([0]))
    with pytest.raises(ValueError, match=r"fit_temperature: labels must be class indices in 0..2"):
        cal.fit_temperature(np.zeros((2, 3)), np.array([0, 3]))


# --------------------------------------------------------------------------------------------
# Pictures
# --------------------------------------------------------------------------------------------
def test_draw_reliability_draws_one_bar_and_one_gap_per_nonempty_bin():
    b = cal.reliability_bins(P6, Y6, n_bins=4)
    fig, (ax, ax2) = plt.subplots(1, 2)
    cal.draw_reliability(ax, b, title="six predictions")
    bars = [p for p in ax.patches if p.get_height() != 0]
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert len(ax.patches) == 4 and len(bars) == 4
    np.testing.assert_allclose(heights, sorted([2 / 3, 2 / 3, 0.85 - 2 / 3, 19 / 30 - 2 / 3]),
                               atol=1e-6)
    texts = [t.get_text() for t in ax.texts]
    assert "ECE = 0.108" in texts and texts.count("3") == 2  # the ECE and the two counts
    cal.draw_confidence_histogram(ax2, b)
    np.testing.assert_allclose([p.get_height() for p in ax2.patches], [0, 0, 0.5, 0.5])
    plt.close(fig)

