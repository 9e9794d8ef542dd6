"""Tests for dlcv/selfsupervised/masked.py: masks by hand, the loss on hidden pixels only,
the mean fill, the network's shapes, a short run that beats the mean fill."""

import pytest
import torch

from dlcv.selfsupervised import masked as MK


def test_patch_mask_hides_whole_patches_in_the_right_number():
    m = MK.patch_mask(5, 16, 4, 0.5, torch.Generator().manual_seed(0))
    assert m.shape == (5, 1, 16, 16)
    blocks = m.view(5, 4, 4, 4, 4).permute(0, 1, 3, 2, 4).reshape(5, 16, 16)   # (N, patch, pixels)
    assert torch.all(blocks.min(2).values == blocks.max(2).values)             # constant patches
    assert blocks[:, :, 0].sum(1).tolist() == [8.0] * 5                        # half of 16
    assert MK.patch_mask(2, 8, 4, 0.0, torch.Generator()).sum() == 0
    with pytest.raises(ValueError, match="multiple"):
        MK.patch_mask(1, 10, 4, 0.5, torch.Generator())


def test_loss_and_mean_fill_by_hand():
    x = torch.tensor([[[[0.0, 1.0], [0.5, 0.5]]]])
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    pred = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    # hidden pixels: (0, 0) error 1, (1, 1) error 0.25 -> mean 0.625; visible ones not counted
    assert float(MK.masked_loss(pred, x, mask)) == pytest.approx(0.625)
    fill = MK.fill_with_mean(x, mask)                       # visible mean (1 + 0.5) / 2
    torch.testing.assert_close(fill, torch.tensor([[[[0.75, 1.0], [0.5, 0.75]]]]))
    with pytest.raises(ValueError, match="one shape"):
        MK.masked_loss(pred, x, mask[..., :1])


def test_network_shapes_and_a_short_run():
    g = torch.Generator().manual_seed(0)
    # vertical stripes: a hidden patch is predictable from its neighbours
    X = (torch.arange(8.0) % 2).expand(32, 1, 8, 8).contiguous()
    X = X * (0.5 + 0.5 * torch.rand(32, 1, 1, 1, generator=g))
    net = MK.MaskedConvNet(width=8, seed=0)
    m = MK.patch_mask(32, 8, 2, 0.5, g)
    with torch.no_grad():
        out = net(X * (1 - m), m)
    assert out.shape == X.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert net.features(X).shape == (32, 8)
    log = MK.fit_masked(net, X, steps=150, patch=2, batch_size=32)
    with torch.no_grad():
        err = float(MK.masked_loss(net(X * (1 - m), m), X, m))
    assert err < 0.5 * float(MK.masked_loss(MK.fill_with_mean(X, m), X, m))
    assert log.steps == 150
    with pytest.raises(ValueError, match="MaskedConvNet"):
        net(X, m[:, :, :4])


def test_masked_model_is_cached():
    a = MK.masked_model(seed=0, steps=2, width=2)
    assert a is MK.masked_model(seed=0, steps=2, width=2) and a.log.steps == 2
