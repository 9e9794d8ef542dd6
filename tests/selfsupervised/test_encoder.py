"""Tests for dlcv/selfsupervised/encoder.py: shapes, eval-mode features, supervised training
on an easy task, the cache."""

import pytest
import torch

from dlcv.selfsupervised import encoder as EN


def test_encoder_shapes_and_errors():
    enc = EN.Encoder(3, width=4, seed=0)
    assert enc(torch.rand(2, 3, 16, 16)).shape == (2, 16) and enc.dim == 16
    assert enc(torch.rand(2, 3, 12, 12)).shape == (2, 16)          # any size: global pooling
    with pytest.raises(ValueError, match=r"Encoder: x must be \(N, 3, H, W\)"):
        enc(torch.rand(2, 1, 16, 16))
    a, b = EN.Encoder(1, 4, seed=5), EN.Encoder(1, 4, seed=5)
    torch.testing.assert_close(a.block1[0].weight, b.block1[0].weight)


def test_features_are_eval_mode_and_restore_the_mode():
    enc = EN.Encoder(1, 4, seed=0).train()
    x = torch.rand(5, 1, 8, 8)
    f = EN.features(enc, x, batch_size=2)
    assert enc.training and not f.requires_grad
    enc.eval()
    with torch.no_grad():
        torch.testing.assert_close(f, enc(x))


def test_accuracy():
    s = torch.tensor([[0.1, 0.9], [2.0, 1.0], [0.0, 3.0]])
    assert EN.accuracy(s, torch.tensor([1, 0, 0])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="accuracy"):
        EN.accuracy(s, torch.tensor([1, 0]))


def test_fit_supervised_learns_bright_against_dark():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(64) % 2
    X = 0.2 * torch.rand(64, 1, 8, 8, generator=g) + 0.6 * y.view(-1, 1, 1, 1)
    enc = EN.Encoder(1, 4, seed=0)
    head, log = EN.fit_supervised(enc, X, y, steps=40, batch_size=16)
    assert log.steps == 40 and not enc.training
    assert EN.accuracy(head(EN.features(enc, X)), y) == 1.0
    with pytest.raises(ValueError, match="fit_supervised"):
        EN.fit_supervised(enc, X[:, 0], y)


def test_supervised_encoder_is_cached():
    a = EN.supervised_encoder(seed=0, steps=2, width=2, per_class=3)
    assert a is EN.supervised_encoder(seed=0, steps=2, width=2, per_class=3)
    assert a[0].log.steps == 2 and a[1].out_features == 10
