"""Tests for dlcv/selfsupervised/probe.py: the probe finds scikit-learn's logistic regression."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from dlcv.selfsupervised import probe as PR


def _data(n=120, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 2, (k, d))
    y = rng.integers(0, k, n)
    return centres[y] + rng.normal(0, 1.5, (n, d)), y


@pytest.mark.parametrize("C", [0.1, 1.0])
def test_probe_matches_sklearn(C):
    X, y = _data()
    ours = PR.fit_probe(X, y, C=C)
    sk = LogisticRegression(C=C, tol=1e-10, max_iter=5000).fit(X, y)
    np.testing.assert_allclose(ours.proba(X).numpy(), sk.predict_proba(X), atol=2e-4)
    np.testing.assert_array_equal(ours.predict(X).numpy(), sk.predict(X))
    # the same classifier up to the softmax's free shift of the scores
    W = ours.W.numpy().T
    np.testing.assert_allclose(W - W.mean(0), sk.coef_ - sk.coef_.mean(0), atol=2e-3)


def test_standardize_uses_the_training_statistics():
    a = torch.tensor([[1.0, 5.0], [3.0, 5.0]])
    b = torch.tensor([[2.0, 6.0]])
    sa, sb = PR.standardize(a, b)
    np.testing.assert_allclose(sa.numpy(), [[-1, 0], [1, 0]])
    np.testing.assert_allclose(sb.numpy(), [[0, 1]])            # constant feature: std 1
    with pytest.raises(ValueError, match="same D"):
        PR.standardize(a, torch.zeros(1, 3))


def test_linear_probe_accuracy_and_errors():
    X, y = _data(n=200, d=4, k=2, seed=1)
    X[:, 0] += 20 * y                                           # separable by feature 0
    assert PR.linear_probe(X[:150], y[:150], X[150:], y[150:]) == 1.0
    with pytest.raises(ValueError, match="fit_probe: y"):
        PR.fit_probe(X, y[:5])
    with pytest.raises(ValueError, match="C must be"):
        PR.fit_probe(X, y, C=0)
    with pytest.raises(ValueError, match="finite"):
        PR.fit_probe(np.full((3, 2), np.nan), np.zeros(3, int))


def test_nearest_and_label_agreement_by_hand():
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    # gallery mean 0 and std 1/sqrt(2) per feature: standardizing only scales, cosines stay
    q = torch.tensor([[2.0, 0.1], [-0.1, -3.0]])
    idx = PR.nearest(q, gallery, 2)
    assert idx[:, 0].tolist() == [0, 3]
    assert set(idx[0].tolist()) == {0, 1}
    assert idx[1].tolist() == [3, 2]
    agree = PR.label_agreement(idx, torch.tensor([0, 1]), torch.tensor([0, 1, 1, 1]))
    np.testing.assert_allclose(agree.numpy(), [0.5, 1.0])
    with pytest.raises(ValueError, match="k must be"):
        PR.nearest(q, gallery, 5)
    with pytest.raises(ValueError, match="label_agreement"):
        PR.label_agreement(idx, torch.tensor([0]), torch.tensor([0, 0, 1, 1]))
