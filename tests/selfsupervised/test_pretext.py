"""Tests for dlcv/selfsupervised/pretext.py: rotations against numpy, the labels, training,
per-rotation accuracy of a network that always answers 0."""

import numpy as np
import pytest
import torch
from torch import nn

from dlcv.selfsupervised import pretext as PT
from dlcv.selfsupervised.encoder import Encoder


def test_rotate4_matches_numpy():
    x = torch.arange(2 * 9, dtype=torch.float32).view(2, 1, 3, 3)
    out, k = PT.rotate4(x)
    assert out.shape == (8, 1, 3, 3) and k.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    for j in range(8):
        np.testing.assert_array_equal(out[j, 0].numpy(), np.rot90(x[j % 2, 0].numpy(), int(k[j])))
    np.testing.assert_array_equal(out[2, 0].numpy(), [[2, 5, 8], [1, 4, 7], [0, 3, 6]])  # 90 deg ccw
    with pytest.raises(ValueError, match="square"):
        PT.rotate4(torch.zeros(1, 1, 3, 4))


class _Always0(nn.Module):
    def forward(self, h):
        return torch.tensor([1.0, 0, 0, 0]).expand(len(h), 4)


def test_rotation_accuracy_and_training():
    X = torch.zeros(6, 1, 8, 8)
    X[:, :, :2, :] = 1                                      # a bar at the top: "up" is visible
    enc = Encoder(1, 2, seed=0)
    acc = PT.rotation_accuracy(enc, _Always0(), X)
    np.testing.assert_allclose(acc.numpy(), [1, 0, 0, 0])
    head, log = PT.fit_rotation(enc, X, steps=40, batch_size=6)
    assert log.steps == 40 and head.out_features == 4
    np.testing.assert_allclose(PT.rotation_accuracy(enc, head, X).numpy(), 1.0)


def test_rotation_encoder_is_cached():
    a = PT.rotation_encoder(seed=0, steps=2, width=2)
    assert a is PT.rotation_encoder(seed=0, steps=2, width=2) and a[0].log.steps == 2
