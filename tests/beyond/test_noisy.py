"""Tests for dlcv/beyond/noisy.py: noise models, robust losses against their formulas, early stopping."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcv.beyond import noisy as NL
from dlcv.networks.training import make_net


def test_transition_matrices():
    T = NL.transition_matrix("symmetric", 0.3, 4)
    np.testing.assert_allclose(T.sum(1), 1)
    np.testing.assert_allclose(np.diag(T), 0.7)
    assert T[0, 1] == pytest.approx(0.1)
    A = NL.transition_matrix("asymmetric", 0.4, 10)
    np.testing.assert_allclose(A.sum(1), 1)
    assert A[2, 7] == A[3, 8] == A[5, 6] == A[6, 5] == A[7, 1] == pytest.approx(0.4)
    assert A[0, 0] == A[9, 9] == 1
    with pytest.raises(ValueError, match="kind"):
        NL.transition_matrix("pairflip", 0.1)
    with pytest.raises(ValueError, match="rate"):
        NL.transition_matrix("symmetric", 1.5)
    with pytest.raises(ValueError, match="flip"):
        NL.transition_matrix("asymmetric", 0.2, 3, flips={1: 1})


def test_corrupt_labels_follows_the_matrix():
    y = np.repeat(np.arange(10), 3000)
    yn, flipped = NL.corrupt_labels(y, "symmetric", 0.4, seed=0)
    assert flipped.mean() == pytest.approx(0.4, abs=0.01)
    np.testing.assert_array_equal(flipped, yn != y)
    counts = np.bincount(yn[(y == 0) & flipped], minlength=10)
    assert counts[0] == 0 and counts[1:].min() > 0.8 * counts[1:].mean()  # uniform over others
    ya, fa = NL.corrupt_labels(y, "asymmetric", 0.4, seed=0)
    assert set(zip(y[fa], ya[fa], strict=True)) == set(NL.ASYMMETRIC_DIGITS.items())
    assert fa[y == 2].mean() == pytest.approx(0.4, abs=0.03)
    again, _ = NL.corrupt_labels(y, "symmetric", 0.4, seed=0)
    np.testing.assert_array_equal(again, yn)
    with pytest.raises(ValueError, match="integer"):
        NL.corrupt_labels(np.array([0.5, 1.0]))


def _scores():
    g = torch.Generator().manual_seed(0)
    return torch.randn(6, 4, generator=g, dtype=torch.float64), torch.tensor([0, 1, 2, 3, 0, 1])


def test_robust_losses_match_their_formulas():
    s, y = _scores()
    p = torch.softmax(s, 1)
    py = p[torch.arange(6), y]
    assert NL.robust_loss(s, y, "ce").item() == pytest.approx(F.cross_entropy(s, y).item())
    assert NL.robust_loss(s, y, "mae").item() == pytest.approx(
        (p - F.one_hot(y, 4)).abs().sum(1).mean().item())
    assert NL.robust_loss(s, y, "gce", q=0.7).item() == pytest.approx(
        ((1 - py ** 0.7) / 0.7).mean().item())
    # q -> 0 gives cross-entropy
    assert NL.robust_loss(s, y, "gce", q=1e-6).item() == pytest.approx(
        F.cross_entropy(s, y).item(), rel=1e-4)
    assert NL.robust_loss(s, y, "bootstrap-soft", beta=1.0).item() == pytest.approx(
        F.cross_entropy(s, y).item())
    hard_target = 0.8 * F.one_hot(y, 4) + 0.2 * F.one_hot(p.argmax(1), 4)
    assert NL.robust_loss(s, y, "bootstrap-hard", beta=0.8).item() == pytest.approx(
        -(hard_target * torch.log_softmax(s, 1)).sum(1).mean().item())
    with pytest.raises(ValueError, match="kind"):
        NL.robust_loss(s, y, "focal")
    with pytest.raises(ValueError, match="q"):
        NL.robust_loss(s, y, "gce", q=0)


def test_gce_gradient_is_ce_gradient_weighted_by_p_to_the_q():
    s, y = _scores()
    for i in range(6):
        si = s[i:i + 1].clone().requires_grad_(True)
        NL.robust_loss(si, y[i:i + 1], "gce", q=0.5).backward()
        g_gce = si.grad.clone()
        si.grad = None
        NL.robust_loss(si, y[i:i + 1], "ce").backward()
        py = torch.softmax(s[i], 0)[y[i]].item()
        torch.testing.assert_close(g_gce, si.grad * py ** 0.5)
        assert NL.sample_weight(py, "gce", 0.5) == pytest.approx(py ** 0.5)
    np.testing.assert_allclose(NL.sample_weight([0.1, 0.5], "mae"), [0.2, 1.0])
    np.testing.assert_allclose(NL.sample_weight([0.1, 0.5], "ce"), [1, 1])
    with pytest.raises(ValueError, match="p_y"):
        NL.sample_weight([1.5])


def test_fit_with_loss_records_and_keeps_the_best():
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (120, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    yn, fl = NL.corrupt_labels(y, "symmetric", 0.3, 2, seed=0)
    model = make_net(5, 2, hidden=16, layers=1, seed=0)
    h = NL.fit_with_loss(model, X, yn, X, y, "gce", epochs=10, batch_size=16, flipped=fl,
                         lr=1e-2)
    assert h.val_acc.shape == h.train_acc_given.shape == h.memorised.shape == (11,)
    assert h.val_acc[h.best_epoch] == h.val_acc.max() > h.val_acc[0] + 0.3
    model.load_state_dict(h.best_state)
    with torch.no_grad():
        acc = (model(torch.from_numpy(X)).argmax(1).numpy() == y).mean()
    assert acc == pytest.approx(h.val_acc.max())
    with pytest.raises(ValueError, match="epochs"):
        NL.fit_with_loss(model, X, yn, X, y, epochs=0)


def test_early_stopping_replay():
    curve = [0.5, 0.6, 0.7, 0.65, 0.66, 0.69, 0.72, 0.6, 0.6, 0.6]
    assert NL.early_stopping(curve, patience=2) == (4, 2)
    assert NL.early_stopping(curve, patience=3) == (5, 2)   # 0.69 < 0.70: no improvement
    assert NL.early_stopping(curve, patience=4) == (9, 6)   # epoch 6 improves in time
    assert NL.early_stopping(curve, patience=20) == (9, 6)
    assert NL.early_stopping([0.5, 0.51, 0.52], patience=1, min_delta=0.05) == (1, 0)
    with pytest.raises(ValueError, match="patience"):
        NL.early_stopping(curve, patience=0)
