"""Tests for dlcv/selfsupervised/infonce.py: InfoNCE and CLIP's loss against hand-computed
cases, against a row-by-row cross-entropy written out, and against numeric gradients."""

import math

import pytest
import torch
import torch.nn.functional as F

from dlcv.selfsupervised.infonce import clip_loss, info_nce


def test_info_nce_hand_case():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    for tau in (1.0, 0.5, 0.1):
        # every view: partner cosine 1, two negatives of cosine 0
        assert float(info_nce(z, z.clone(), tau)) == pytest.approx(math.log(1 + 2 * math.exp(-1 / tau)),
                                                                   rel=1e-5, abs=1e-7)


def test_info_nce_three_pairs_by_hand():
    # N = 3 on a line in the plane: cosines are products of +-1 and 0
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    z2 = torch.tensor([[2.0, 0.0], [0.0, 3.0], [0.0, -1.0]])   # lengths do not matter
    # view 0 (1,0): others (0,1) (-1,0) (1,0)* (0,1) (0,-1): cos 0, -1, 1*, 0, 0, so
    # l_0 = -log(e / (3 + 1/e + e)); the same for all 6 views, written out:
    u = [(1, 0), (0, 1), (-1, 0), (1, 0), (0, 1), (0, -1)]
    partner = [3, 4, 5, 0, 1, 2]
    total = 0.0
    for i in range(6):
        cos = [u[i][0] * u[k][0] + u[i][1] * u[k][1] for k in range(6)]
        den = sum(math.exp(cos[k]) for k in range(6) if k != i)
        total += -math.log(math.exp(cos[partner[i]]) / den)
    assert float(info_nce(z1, z2, 1.0)) == pytest.approx(total / 6, rel=1e-6)


def _rowwise(z1, z2, tau):
    u = F.normalize(torch.cat([z1, z2]), dim=1)
    n2 = len(u)
    losses = []
    for i in range(n2):
        others = [k for k in range(n2) if k != i]
        logits = torch.stack([u[i] @ u[k] / tau for k in others])
        target = others.index((i + n2 // 2) % n2)
        losses.append(F.cross_entropy(logits[None], torch.tensor([target])))
    return torch.stack(losses).mean()


def test_info_nce_matches_cross_entropy_row_by_row():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    for tau in (0.2, 1.0):
        assert float(info_nce(z1, z2, tau)) == pytest.approx(float(_rowwise(z1, z2, tau)), rel=1e-5)


def test_info_nce_gradient_and_chance_level():
    g = torch.Generator().manual_seed(1)
    z1 = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: info_nce(a, b, 0.5), (z1, z2))
    # embeddings that tell nothing apart (all equal): log(2N - 1)
    same = torch.ones(8, 4)
    assert float(info_nce(same, same, 0.3)) == pytest.approx(math.log(15), rel=1e-6)


def test_clip_loss_by_hand_and_against_rows_and_columns():
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    txt = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    s = 2.0
    c = 1 / math.sqrt(2)
    # logits: row 0 [2, 2c], row 1 [0, 2c]; columns: col 0 [2, 0], col 1 [2c, 2c]
    rows = (-math.log(math.exp(2) / (math.exp(2) + math.exp(2 * c)))
            - math.log(math.exp(2 * c) / (1 + math.exp(2 * c)))) / 2
    cols = (-math.log(math.exp(2) / (math.exp(2) + 1)) - math.log(0.5)) / 2
    assert float(clip_loss(img, txt, s)) == pytest.approx((rows + cols) / 2, rel=1e-6)
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    logits = 3.0 * F.normalize(a, dim=1) @ F.normalize(b, dim=1).T
    want = (F.cross_entropy(logits, torch.arange(6)) + F.cross_entropy(logits.T, torch.arange(6))) / 2
    assert float(clip_loss(a, b, 3.0)) == pytest.approx(float(want), rel=1e-6)
    assert float(clip_loss(b, a, 3.0)) == pytest.approx(float(want), rel=1e-6)   # symmetric


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="info_nce: z1 and z2"):
        info_nce(torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="tau"):
        info_nce(torch.ones(3, 2), torch.ones(3, 2), 0)
    with pytest.raises(ValueError, match="clip_loss: img and txt"):
        clip_loss(torch.zeros(3), torch.zeros(3))
