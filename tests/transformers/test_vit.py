"""Tests for dlcv/transformers/vit.py: patches by hand, the ViT's parts, rollout, training."""

import numpy as np
import pytest
import torch

from dlcv.networks.mlp import count_parameters
from dlcv.transformers import vit as V


def test_load_digits_is_lecture_06s_input():
    d = V.load_digits()
    assert d.X_train.shape == (1257, 1, 8, 8) and d.X_test.shape == (360, 1, 8, 8)
    assert d.X_train.dtype == np.float32
    assert abs(float(d.X_train.mean())) < 1e-5 and float(d.X_train.std()) == pytest.approx(1, abs=1e-4)


def test_patchify_by_hand():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    p = V.patchify(x, 2)
    assert p.shape == (1, 4, 4)
    np.testing.assert_array_equal(p[0, 0], [0, 1, 4, 5])      # top-left square
    np.testing.assert_array_equal(p[0, 1], [2, 3, 6, 7])      # top-right
    np.testing.assert_array_equal(p[0, 3], [10, 11, 14, 15])  # bottom-right
    x3 = torch.randn(2, 3, 6, 6)
    ref = torch.nn.functional.unfold(x3, 3, stride=3).transpose(1, 2)
    np.testing.assert_array_equal(V.patchify(x3, 3), ref)


def test_patch_embedding_is_a_linear_map_of_the_patches():
    m = V.ViT(seed=0)
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        t = m.tokens(x)
        lin = V.patchify(x, 2) @ m.embed.weight.reshape(16, -1).T + m.embed.bias
        np.testing.assert_allclose(t[:, 1:], lin + m.pos[:, 1:], atol=1e-5)
        np.testing.assert_allclose(t[:, 0], (m.cls + m.pos[:, :1])[0].expand(3, -1), atol=1e-6)
    assert m(x).shape == (3, 10)


def test_without_positions_a_shuffle_of_the_patches_changes_nothing():
    m = V.ViT(positions="none", seed=1).eval()
    x = torch.randn(2, 1, 8, 8)
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    p = V.patchify(x, 2)[:, perm]                              # (N, 16, 4), shuffled
    x_shuffled = p.reshape(2, 4, 4, 1, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(2, 1, 8, 8)
    np.testing.assert_array_equal(V.patchify(x_shuffled, 2), p)
    with torch.no_grad():
        np.testing.assert_allclose(m(x_shuffled), m(x), atol=1e-5)
        learned = V.ViT(positions="learned", seed=1).eval()
        torch.nn.init.normal_(learned.pos, std=1.0)
        assert not torch.allclose(learned(x_shuffled), learned(x), atol=1e-3)
    assert not m.pos.requires_grad and float(m.pos.abs().max()) == 0


def test_attention_maps_and_rollout():
    m = V.ViT(depth=2, heads=2, seed=2)
    x = torch.randn(4, 1, 8, 8)
    W = V.attention_maps(m, x)
    assert W.shape == (4, 2, 2, 17, 17)
    np.testing.assert_allclose(W.sum(-1), 1, atol=1e-5)
    R = V.rollout(W)
    np.testing.assert_allclose(R.sum(-1), 1, atol=1e-5)
    A1 = (W[:, 0].mean(1) + torch.eye(17)) / 2
    A2 = (W[:, 1].mean(1) + torch.eye(17)) / 2
    np.testing.assert_allclose(R, A2 @ A1, atol=1e-6)
    np.testing.assert_allclose(V.rollout(W[:, :1]), A1, atol=1e-6)


def test_small_cnn_is_lecture_06s():
    assert count_parameters(V.small_cnn()) == 1898
    assert V.small_cnn(0)(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    a, b = V.small_cnn(3), V.small_cnn(3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_one_epoch_learns_and_is_cached(quick_vit):
    model, d = quick_vit
    assert V.vit(seed=0, epochs=3) is model
    assert V.accuracy(model, d.X_test, d.y_test) > 0.4          # chance: 0.1
    assert len(model.history.loss) == 3 * (1257 // 32) and model.seconds > 0
    assert not model.training


@pytest.mark.parametrize("call, match", [
    (lambda: V.patchify(torch.ones(1, 1, 5, 5), 2), "multiples of 2"),
    (lambda: V.ViT(image_size=8, patch=3), "multiple of patch"),
    (lambda: V.ViT(positions="sinusoid"), "positions must be"),
    (lambda: V.ViT()(torch.ones(1, 1, 16, 16)), r"\(N, 1, 8, 8\)"),
    (lambda: V.train(V.small_cnn(), V.load_digits(), "mlp"), "kind must be"),
    (lambda: V.rollout(torch.ones(2, 3, 3)), "rollout"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
