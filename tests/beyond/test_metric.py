"""Tests for dlcv/beyond/metric.py: losses against hand values and brute force, mining, retrieval."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcv.beyond import metric as ML


def test_contrastive_loss_hand_values():
    d = np.array([0.0, 0.5, 0.5, 1.5, 2.0])
    y = np.array([1, 1, 0, 0, 1])
    out = ML.contrastive_loss(d, y, margin=1.0)
    np.testing.assert_allclose(out, [0.0, 0.125, 0.125, 0.0, 2.0])
    t = ML.contrastive_loss(torch.tensor(d), torch.tensor(y), 1.0)
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), out)
    with pytest.raises(ValueError, match="margin"):
        ML.contrastive_loss(d, y, margin=0)
    with pytest.raises(ValueError, match="same"):
        ML.contrastive_loss(d, y[:2])


def test_triplet_loss_matches_torch():
    g = torch.Generator().manual_seed(0)
    a, p, n = (torch.randn(20, 5, generator=g, dtype=torch.float64) for _ in range(3))
    ours = ML.triplet_loss((a - p).norm(dim=1), (a - n).norm(dim=1), margin=0.3)
    ref = F.triplet_margin_loss(a, p, n, margin=0.3, eps=0.0, reduction="none")
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), atol=1e-12)
    np.testing.assert_allclose(ML.triplet_loss([0.3], [0.4], 0.2), [0.1])
    with pytest.raises(ValueError, match="margin"):
        ML.triplet_loss([0.1], [0.2], -1)


def test_triplet_kinds():
    kinds = ML.triplet_kinds([0.5, 0.5, 0.5, 0.5], [0.3, 0.5, 0.6, 0.8], margin=0.2)
    assert list(kinds) == ["hard", "hard", "semi-hard", "easy"]


def test_pairwise_distances_match_cdist_and_have_finite_gradients():
    E = torch.randn(7, 4, dtype=torch.float64)
    E = torch.cat([E, E[:1]]).requires_grad_(True)   # a duplicate: distance 0 off the diagonal
    D = ML.pairwise_distances(E)
    np.testing.assert_allclose(D.detach().numpy(), torch.cdist(E, E).detach().numpy(), atol=1e-5)
    assert torch.all(torch.diagonal(D) == 0)
    D.sum().backward()
    assert torch.isfinite(E.grad).all()
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        ML.pairwise_distances(torch.zeros(3))


def _batch():
    g = torch.Generator().manual_seed(1)
    E = F.normalize(torch.randn(9, 3, generator=g, dtype=torch.float64), dim=1)
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2])
    return E, labels


def test_batch_loss_all_and_contrastive_match_brute_force():
    E, lab = _batch()
    D = torch.cdist(E, E)
    m = 0.5
    trip = [max(0.0, float(D[a, p] - D[a, n] + m))
            for a, p, n in itertools.permutations(range(9), 3)
            if lab[a] == lab[p] and lab[a] != lab[n]]
    out = ML.batch_loss(E, lab, "triplet", "all", m)
    active = [v for v in trip if v > 0]
    assert out.count == len(trip) == 9 * 2 * 6
    assert out.loss.item() == pytest.approx(np.mean(active), rel=1e-6)
    assert out.active == pytest.approx(len(active) / len(trip))
    pairs = [(0.5 * D[i, j] ** 2 if lab[i] == lab[j] else 0.5 * max(0.0, m - D[i, j]) ** 2)
             for i, j in itertools.combinations(range(9), 2)]
    out_c = ML.batch_loss(E, lab, "contrastive", margin=m)
    assert out_c.count == 36
    assert out_c.loss.item() == pytest.approx(float(np.mean(pairs)), rel=1e-6)


def test_batch_hard_and_semi_hard_mining_by_hand():
    E, lab = _batch()
    D = torch.cdist(E, E).numpy()
    same = (lab[:, None] == lab[None]).numpy()
    m = 0.2
    hard = [max(0.0, D[a][same[a] & (np.arange(9) != a)].max() - D[a][~same[a]].min() + m)
            for a in range(9)]
    assert ML.batch_loss(E, lab, "triplet", "hard", m).loss.item() == pytest.approx(
        np.mean(hard), rel=1e-6)
    semi = []
    for a in range(9):
        for p in range(9):
            if p == a or not same[a, p]:
                continue
            negs = D[a][~same[a]]
            farther = negs[negs > D[a, p]]
            dn = farther.min() if len(farther) else negs.min()
            semi.append(max(0.0, D[a, p] - dn + m))
    out = ML.batch_loss(E, lab, "triplet", "semi-hard", m)
    assert out.count == 18
    assert out.loss.item() == pytest.approx(np.mean(semi), rel=1e-6)


def test_batch_loss_rejects_bad_batches():
    E = torch.randn(4, 2)
    with pytest.raises(ValueError, match="same class"):
        ML.batch_loss(E, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="same class"):
        ML.batch_loss(E, torch.tensor([0, 0, 0, 0]))
    with pytest.raises(ValueError, match="mining"):
        ML.batch_loss(E, torch.tensor([0, 0, 1, 1]), mining="hardest")
    with pytest.raises(ValueError, match="loss"):
        ML.batch_loss(E, torch.tensor([0, 0, 1, 1]), loss="arcface")


def test_nuisance_digits():
    X = np.zeros((5, 8, 8))
    X[:, 2:6, 3:5] = 1.0
    out = ML.nuisance_digits(X, pad=3, seed=0, contrast=(0.5, 0.5), noise=0.0)
    assert out.shape == (5, 14, 14) and out.dtype == np.float32
    assert np.allclose(out.sum(axis=(1, 2)), 0.5 * 8)   # every digit fully on the canvas
    assert np.array_equal(out, ML.nuisance_digits(X, pad=3, seed=0, contrast=(0.5, 0.5),
                                                  noise=0.0))
    assert not np.array_equal(out, ML.nuisance_digits(X, pad=3, seed=1, contrast=(0.5, 0.5),
                                                      noise=0.0))
    with pytest.raises(ValueError, match="X must"):
        ML.nuisance_digits(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="contrast"):
        ML.nuisance_digits(X, contrast=(1.0, 0.5))


def test_recall_at_k_by_hand():
    E = np.array([[0.0], [0.1], [1.0], [1.15], [3.0]])
    y = np.array([0, 1, 1, 0, 0])
    # nearest other points: 0->1 (wrong), 1->0 (wrong), 2->3 (wrong), 3->2 (wrong), 4->3 (right)
    r = ML.recall_at_k(E, y, ks=(1, 2))
    assert r[1] == pytest.approx(1 / 5)
    # second neighbours: 0->2 (wrong), 1->2 (right), 2->1 (right), 3->2,1 .. (3: 2 then 1: wrong)
    assert r[2] == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="k must"):
        ML.recall_at_k(E, y, ks=(5,))
    idx = ML.nearest(E[:1], E, k=3)
    assert idx.tolist() == [[0, 1, 2]]


def test_embedding_net_and_a_short_training():
    net = ML.EmbeddingNet(dim=8, width=16, seed=0)
    out = net(torch.zeros(3, 1, 16, 16))
    assert out.shape == (3, 8)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        net(torch.zeros(3, 16, 16))
    rng = np.random.default_rng(0)
    protos = rng.random((3, 8, 8))
    X = np.stack([np.clip(protos[c] + rng.normal(0, 0.3, (8, 8)), 0, 1)
                  for c in range(3) for _ in range(20)])                # (60, 8, 8)
    y = np.repeat(np.arange(3), 20)
    before = ML.recall_at_k(ML.embed(net, X), y, (1,))[1]
    hist = ML.train_embedding(net, X, y, "triplet", "semi-hard", 0.2, steps=40,
                              classes_per_batch=3, per_class=6, lr=3e-3, seed=0)
    assert hist.loss.shape == (40,) and np.all(np.isfinite(hist.loss))
    E = ML.embed(net, X)
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-6)
    assert ML.recall_at_k(E, y, (1,))[1] >= max(before, 0.9)
    assert ML.embed(net, X, features=True).shape == (60, 16)
    with pytest.raises(ValueError, match="classes_per_batch"):
        ML.train_embedding(net, X, y, classes_per_batch=5, steps=1)
