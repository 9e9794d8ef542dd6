"""Tests for dlcv/beyond/distillation.py: temperature, the loss against its formula and its
gradient, training for epochs or for a fixed number of steps."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcv.beyond import distillation as KD
from dlcv.networks.training import make_net


def test_soft_targets():
    z = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 5.0]])
    np.testing.assert_allclose(KD.soft_targets(z, 1.0), torch.softmax(torch.tensor(z), 1))
    p4 = KD.soft_targets(z, 4.0)
    np.testing.assert_allclose(p4.sum(1), 1)
    np.testing.assert_allclose(p4, torch.softmax(torch.tensor(z) / 4, 1))
    assert np.all(p4.max(1) < KD.soft_targets(z, 1.0).max(1))       # softer
    np.testing.assert_allclose(KD.soft_targets(z, 1e4), 1 / 3, atol=1e-3)
    with pytest.raises(ValueError, match="temperature"):
        KD.soft_targets(z, 0)
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        KD.soft_targets(np.zeros(3))


def _logits():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(5, 4, generator=g, dtype=torch.float64)
    t = 3 * torch.randn(5, 4, generator=g, dtype=torch.float64)
    return s, t, torch.tensor([0, 1, 2, 3, 0])


def test_loss_matches_the_formula():
    s, t, y = _logits()
    assert KD.distillation_loss(s, t, y, T=3, alpha=0).item() == pytest.approx(
        F.cross_entropy(s, y).item())
    pt, ps = torch.softmax(t / 3, 1), torch.softmax(s / 3, 1)
    kl = (pt * (pt.log() - ps.log())).sum(1).mean()
    assert KD.distillation_loss(s, t, None, T=3, alpha=1).item() == pytest.approx(
        9 * kl.item())
    mixed = KD.distillation_loss(s, t, y, T=3, alpha=0.25).item()
    assert mixed == pytest.approx(0.25 * 9 * kl.item() + 0.75 * F.cross_entropy(s, y).item())
    with pytest.raises(ValueError, match="y is needed"):
        KD.distillation_loss(s, t, None, alpha=0.5)
    with pytest.raises(ValueError, match="alpha"):
        KD.distillation_loss(s, t, y, alpha=2)


def test_gradient_is_difference_of_soft_probabilities_over_t():
    s, t, _ = _logits()
    s = s.clone().requires_grad_(True)
    T = 5.0
    KD.distillation_loss(s, t, None, T=T, alpha=1.0).backward()
    expected = T * (torch.softmax(s.detach() / T, 1) - torch.softmax(t / T, 1)) / len(s)
    torch.testing.assert_close(s.grad, expected)
    assert t.grad is None


def test_fit_distilled_runs_and_learns():
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (200, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    teacher_logits = np.stack([-(X[:, 0] + X[:, 1]), X[:, 0] + X[:, 1]], 1) * 3
    for alpha in (0.0, 0.9):
        st = make_net(6, 2, hidden=8, layers=1, seed=0)
        h = KD.fit_distilled(st, X, y, teacher_logits, X, y, T=2, alpha=alpha, epochs=15,
                             batch_size=16)
        assert h.val_acc.shape == (16,) and h.val_acc[-1] > 0.9
        assert np.all(np.isfinite(h.loss))
    with pytest.raises(ValueError, match="teacher_logits"):
        KD.fit_distilled(make_net(6, 2, seed=0), X, y, None, alpha=0.5)


def test_fit_distilled_for_a_fixed_number_of_steps():
    rng = np.random.default_rng(1)
    X = rng.normal(0, 1, (30, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    teacher_logits = np.stack([-X[:, 0], X[:, 0]], 1) * 3
    runs = []
    for _ in range(2):
        st = make_net(6, 2, hidden=8, layers=1, seed=0)
        h = KD.fit_distilled(st, X, y, teacher_logits, X, y, T=2, alpha=1.0, steps=150,
                             batch_size=64, lr=1e-2, seed=3)   # batches of all 30 examples
        assert h.loss.shape == (150,) and h.val_acc.shape == (2,)
        assert h.val_acc[-1] > 0.9 and h.loss[-10:].mean() < h.loss[:10].mean()
        runs.append(h.loss)
    np.testing.assert_array_equal(runs[0], runs[1])          # the seed fixes the whole run
    with pytest.raises(ValueError, match="steps"):
        KD.fit_distilled(make_net(6, 2, seed=0), X, y, teacher_logits, steps=0)
