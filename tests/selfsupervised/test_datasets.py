"""Tests for dlcv/selfsupervised/datasets.py: the digits at 16x16, the one-object scenes and
their captions, few-label subsets."""

import numpy as np
import pytest
import torch

from dlcv.data import load_classification
from dlcv.selfsupervised import datasets as DS


def test_digits16_are_the_digits_upsampled():
    d = DS.load_digits16()
    raw = load_classification("digits")
    assert d.X_train.shape == (len(raw.y_train), 1, 16, 16) and d.X_test.shape[1:] == (1, 16, 16)
    assert float(d.X_train.min()) >= 0 and float(d.X_train.max()) <= 1
    np.testing.assert_array_equal(d.y_test.numpy(), raw.y_test)
    # bilinear 2x upsampling by hand: output 2i is 1/4 x[i-1] + 3/4 x[i], output 2i+1 is
    # 3/4 x[i] + 1/4 x[i+1] (edges repeated), along each axis
    x = raw.X_test[0].reshape(8, 8) / 16
    U = np.zeros((16, 8))
    for i in range(8):
        U[2 * i, i] += 0.75
        U[2 * i, max(i - 1, 0)] += 0.25
        U[2 * i + 1, i] += 0.75
        U[2 * i + 1, min(i + 1, 7)] += 0.25
    np.testing.assert_allclose(d.X_test[0, 0].numpy(), U @ x @ U.T, atol=1e-6)
    with pytest.raises(ValueError, match="size"):
        DS.load_digits16(4)


def test_scenes_labels_agree_with_their_captions():
    sc = DS.load_scenes(40, seed=3)
    assert sc.images.shape == (40, 3, 32, 32) and len(sc) == 40
    names = DS.class_names()
    assert len(names) == 12 and names[sc.label[0]] == f"{DS.COLORS[sc.color[0]]} {DS.SHAPES[sc.shape[0]]}"
    for i in range(40):
        words = " ".join(sc.captions[i]).split()
        assert DS.SHAPES[sc.shape[i]] in words              # every scene's captions name its shape
        assert {"red", "green", "blue", "yellow"} & set(words) <= {DS.COLORS[sc.color[i]]}
        assert {"small", "large"} & set(words) <= {DS.SIZES[sc.size[i]]}
    assert DS.load_scenes(40, seed=3) is sc                  # cached
    assert not torch.equal(DS.load_scenes(40, seed=4).images, sc.images)


def test_labelled_subset():
    y = torch.tensor([0, 1, 1, 2, 0, 2, 1, 0, 2, 2])
    idx = DS.labelled_subset(y, 2, seed=0)
    assert len(idx) == 6 and torch.equal(idx, idx.sort().values)
    assert torch.bincount(y[idx]).tolist() == [2, 2, 2]
    assert torch.equal(idx, DS.labelled_subset(y, 2, seed=0))
    with pytest.raises(ValueError, match="fewer than per_class"):
        DS.labelled_subset(y, 4)
