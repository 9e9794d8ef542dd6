"""Tests for dlcv/selfsupervised/contrastive.py: the head, a SimCLR run through dlcv.loop.train
(loss near chance at the start, lower after training on a tiny set), the cache, similarities."""

import math

import pytest
import torch

from dlcv.selfsupervised import contrastive as CO
from dlcv.selfsupervised.encoder import Encoder


def test_projection_head_shape_and_seed():
    h = CO.ProjectionHead(16, hidden=8, out=4, seed=1)
    assert h(torch.rand(3, 16)).shape == (3, 4)
    torch.testing.assert_close(h.net[0].weight, CO.ProjectionHead(16, 8, 4, seed=1).net[0].weight)


def test_fit_simclr_starts_near_chance_and_learns():
    g = torch.Generator().manual_seed(0)
    # 32 images, each a bright square at its own place: the views can be told apart
    X = torch.zeros(32, 1, 16, 16)
    for i in range(32):
        r, c = divmod(i, 8)
        X[i, 0, 2 * r:2 * r + 8, 2 * c:2 * c + 4] = 1
    X = (X + 0.05 * torch.rand(X.shape, generator=g)).clamp(0, 1)
    enc, head = Encoder(1, 4, seed=0), CO.ProjectionHead(16, 16, 8)
    log = CO.fit_simclr(enc, head, X, steps=60, batch_size=16, tau=0.5,
                        view_kw={"scale": (0.6, 1.0), "flip": False})
    assert log.steps == 60 and not enc.training and not head.training
    chance = math.log(2 * 16 - 1)
    assert abs(sum(log.loss[:3]) / 3 - chance) < 0.5
    assert sum(log.loss[-10:]) / 10 < chance - 0.5
    with pytest.raises(ValueError, match="fit_simclr: X"):
        CO.fit_simclr(enc, head, X[0], steps=1)
    with pytest.raises(ValueError, match="tau"):
        CO.fit_simclr(enc, head, X, steps=1, tau=0)


def test_simclr_encoder_is_cached():
    a = CO.simclr_encoder(seed=0, steps=2, batch_size=8, width=2)
    assert a is CO.simclr_encoder(seed=0, steps=2, batch_size=8, width=2)
    assert a[0].log.steps == 2 and a[0].dim == 8


def test_view_similarity_of_identical_views():
    # no augmentation that changes anything: crops of the whole image, no colour, no blur
    X = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    enc = Encoder(1, 2, seed=0).eval()
    pos, neg = CO.view_similarity(enc, torch.nn.Identity(), X, torch.Generator().manual_seed(0),
                                  scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=False,
                                  strength=0.0, blur_p=0.0)
    assert pos == pytest.approx(1.0, abs=1e-5) and -1 <= neg < 1
