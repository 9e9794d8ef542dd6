"""Tests for dlcv/convolution/transfer.py: the small CNN, frozen features, linear heads, fine-tuning with a
smaller learning rate for the backbone (against torch's parameter groups)."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.convolution.transfer import (
    SmallCNN,
    extract_features,
    few_shot_indices,
    fine_tune,
    param_groups,
    train_linear_head,
)
from dlcv.networks.training import evaluate


def _data(n=60, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    X = rng.normal(0, 0.3, (n, 1, 8, 8)).astype(np.float32)
    for c in range(classes):  # each class lights up a different row band
        X[y == c, 0, 2 * c:2 * c + 2, :] += 1.5
    return X, y


def test_small_cnn_shapes_norms_and_errors():
    for norm in ("batch", "group", "layer", "none"):
        m = SmallCNN(4, norm=norm, widths=(8, 8, 16))
        assert m(torch.zeros(3, 1, 8, 8)).shape == (3, 4)
        assert m.backbone(torch.zeros(3, 1, 8, 8)).shape == (3, 16)
    assert isinstance(SmallCNN(4, norm="group", widths=(8, 8, 16)).backbone[1], nn.GroupNorm)
    a, b = SmallCNN(3, seed=1), SmallCNN(3, seed=1)
    torch.testing.assert_close(a.head.weight, b.head.weight)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        a(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="norm"):
        SmallCNN(3, norm="instance-ish")


def test_few_shot_indices():
    y = np.array([0, 1, 2] * 10)
    idx = few_shot_indices(y, 2, seed=0)
    assert len(idx) == 6 and sorted(np.bincount(y[idx]).tolist()) == [2, 2, 2]
    idx2 = few_shot_indices(y, 3, classes=[1, 2], seed=1, exclude=idx)
    assert set(y[idx2]) == {1, 2} and not set(idx2) & set(idx)
    with pytest.raises(ValueError, match="only"):
        few_shot_indices(y, 11)


def test_extract_features_is_eval_mode_and_frozen():
    X, _ = _data()
    m = SmallCNN(3, widths=(8, 8, 16))
    m.train()
    feats = extract_features(m.backbone, X, batch_size=7)
    assert feats.shape == (60, 16) and feats.dtype == np.float32
    m.eval()
    with torch.no_grad():
        ref = m.backbone(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(feats, ref, rtol=1e-5, atol=1e-6)
    assert m.training is False  # restored (was eval just above)
    with pytest.raises(ValueError, match="N, C, H, W"):
        extract_features(m.backbone, X[:, 0])


def test_linear_head_learns_separable_features():
    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    feats = rng.normal(size=(90, 5)).astype(np.float32)
    feats[np.arange(90), y] += 4.0
    head, hist = train_linear_head(feats, y, epochs=100, lr=0.05)
    assert isinstance(head, nn.Linear) and head.weight.shape == (3, 5)
    with torch.no_grad():
        acc = (head(torch.from_numpy(feats)).argmax(1).numpy() == y).mean()
    assert acc > 0.95 and hist.train_acc[-1] == pytest.approx(acc)


def test_fine_tune_equals_sgd_with_param_groups():
    X, y = _data(n=32)
    model = SmallCNN(3, widths=(8, 8, 16), norm="none", seed=3)
    ref = copy.deepcopy(model)
    fine_tune(model, model.backbone, X, y, lr=0.1, backbone_lr_factor=0.25, epochs=1,
              batch_size=32, optimizer="momentum", seed=0)
    opt = torch.optim.SGD(param_groups(ref, ref.backbone, 0.1, 0.25), momentum=0.9)
    ref.train()
    loss = F.cross_entropy(ref(torch.from_numpy(X)), torch.from_numpy(y))
    opt.zero_grad()
    loss.backward()
    opt.step()
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_fine_tune_works_with_adam_and_weight_decay():
    X, y = _data(n=32)
    model = SmallCNN(3, widths=(8, 8, 16), norm="none", seed=3)
    before = copy.deepcopy(model)
    hist = fine_tune(model, model.backbone, X, y, lr=1e-3, backbone_lr_factor=0.1, epochs=3,
                     batch_size=16, optimizer="adam", weight_decay=1e-4)
    assert hist.train_loss[-1] < hist.train_loss[0]
    moved = [float((p - q).detach().abs().max()) for p, q in
             zip(model.backbone.parameters(), before.backbone.parameters(), strict=True)]
    assert max(moved) > 0  # the backbone trains, more slowly than the head


def test_fine_tune_factor_zero_freezes_backbone_and_trains_head():
    X, y = _data(n=60)
    model = SmallCNN(3, widths=(8, 8, 16), norm="group")
    before = copy.deepcopy(model)
    hist = fine_tune(model, model.backbone, X, y, lr=0.05, backbone_lr_factor=0.0, epochs=15,
                     batch_size=10)
    for p, q in zip(model.backbone.parameters(), before.backbone.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    assert not torch.equal(model.head.weight, before.head.weight)
    assert hist.train_loss[-1] < hist.train_loss[0]
    assert evaluate(model, X, y)[1] > 0.6


def test_fine_tune_refuses_bad_arguments():
    X, y = _data(n=12)
    model = SmallCNN(3, widths=(8, 8, 16))
    with pytest.raises(ValueError, match="backbone_lr_factor"):
        fine_tune(model, model.backbone, X, y, backbone_lr_factor=-1.0)
    with pytest.raises(ValueError, match="part of model"):
        fine_tune(model, SmallCNN(3).backbone, X, y)
    groups = param_groups(model, model.backbone[:3], 0.1, 0.5)  # a slice is a part too
    assert groups[0]["lr"] == pytest.approx(0.05) and len(groups[0]["params"]) == 4
