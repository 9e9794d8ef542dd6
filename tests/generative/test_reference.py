"""Tests for dlcv/generative/reference.py: the data scaling, the non-digits, the classifier's
quality on real digits and noise, and the score of a batch."""

import numpy as np
import pytest
import torch

from dlcv.generative import reference as REF


def test_digit_images_scales():
    X, y = REF.digit_images("unit")
    Xs, _ = REF.digit_images("symmetric")
    assert X.shape == (1797, 1, 8, 8) and y.shape == (1797,)
    assert X.min() == 0 and X.max() == 1 and Xs.min() == -1
    np.testing.assert_allclose(Xs, 2 * X - 1)
    with pytest.raises(ValueError, match="scale"):
        REF.digit_images("bytes")


def test_non_digits_keep_the_grey_levels():
    X = torch.as_tensor(REF.digit_images()[0][:10])
    nd = REF.non_digits(7, X, torch.Generator().manual_seed(0))
    assert nd.shape == (7, 1, 8, 8) and nd.min() >= 0 and nd.max() <= 1


@pytest.fixture(scope="module")
def clf():
    return REF.reference_classifier(seed=0, steps=150)


def test_reference_classifier_is_accurate_and_doubts_noise(clf):
    assert clf.test_accuracy > 0.9
    assert REF.reference_classifier(seed=0, steps=150) is clf
    noise = np.random.default_rng(0).random((200, 64))
    assert REF.score_samples(noise, clf).confident < 0.1


def test_score_samples_counts_confident_and_classes(clf):
    X, y = REF.digit_images()
    s = REF.score_samples(X[:100], clf)
    p = clf.probabilities(X[:100])
    assert s.confident == pytest.approx((p.max(1) >= 0.9).mean())
    np.testing.assert_array_equal(s.histogram, np.bincount(p.argmax(1), minlength=10))
    assert s.histogram.sum() == 100 and "confident" in str(s)
    ones = X[y == 1][:20]
    assert REF.score_samples(ones, clf).histogram[1] >= 18  # a "collapsed" batch: one tall bar
    assert REF.score_samples(X[:10], clf, threshold=0.0).confident == 1
    with pytest.raises(ValueError, match="score_samples: x"):
        REF.score_samples(np.zeros((3, 5)), clf)
