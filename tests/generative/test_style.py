"""Tests for dlcv/generative/style.py: the Gram matrix against a hand case, the losses, and a
short transfer that lowers its loss."""

import numpy as np
import pytest
import torch

from dlcv.generative import style as ST


def test_gram_matrix_hand_case_and_position_invariance():
    F = torch.tensor([[[[1.0, 0.0]], [[2.0, 1.0]]]])  # (1, 2, 1, 2)
    torch.testing.assert_close(ST.gram_matrix(F)[0], torch.tensor([[0.5, 1.0], [1.0, 2.5]]))
    torch.testing.assert_close(ST.gram_matrix(F.flip(-1)), ST.gram_matrix(F))
    with pytest.raises(ValueError, match="N, C, H, W"):
        ST.gram_matrix(torch.zeros(2, 3))


def test_random_features_shapes_and_frozen():
    net = ST.RandomFeatures(widths=(4, 6), seed=0)
    fs = net(torch.rand(2, 3, 16, 12))
    assert [tuple(f.shape) for f in fs] == [(2, 4, 16, 12), (2, 6, 8, 6)]
    assert not any(p.requires_grad for p in net.parameters())
    torch.testing.assert_close(ST.RandomFeatures((4, 6), seed=0)(torch.ones(1, 3, 4, 4))[1],
                               net(torch.ones(1, 3, 4, 4))[1])


def test_style_and_content_losses_vanish_on_the_targets():
    net = ST.RandomFeatures(widths=(4, 6), seed=0)
    x = torch.rand(1, 3, 8, 8)
    fs = net(x)
    assert ST.style_loss(fs, [ST.gram_matrix(f) for f in fs]).item() == 0
    assert ST.content_loss(fs, fs[1], 1).item() == 0
    with pytest.raises(ValueError, match="Grams"):
        ST.style_loss(fs, [])


def test_style_transfer_lowers_the_loss_and_keeps_pixels_in_range():
    rng = np.random.default_rng(0)
    content, style = rng.random((3, 12, 12)), rng.random((3, 10, 10)) ** 3
    net = ST.RandomFeatures(widths=(8, 8), seed=0)
    r = ST.style_transfer(content, style, net, steps=40, style_weight=100.0, content_layer=0)
    assert r.log.loss[-1] < r.log.loss[0]
    assert r.image.shape == (3, 12, 12) and r.image.min() >= 0 and r.image.max() <= 1
    tex = ST.style_transfer(None, style, net, steps=5, init="noise")
    assert tex.image.shape == (3, 10, 10) and tex.content == 0


def test_to_chw_and_back():
    img = np.random.default_rng(0).integers(0, 256, (5, 7, 3)).astype(np.uint8)
    np.testing.assert_allclose(ST.to_hwc(ST.to_chw(img)), img / 255, rtol=1e-6)
    with pytest.raises(ValueError, match="H, W, 3"):
        ST.to_chw(np.zeros((5, 7)))
