"""Tests for dlcv/convolution/variants.py: shapes and counts of the blocks after ResNet, stochastic
depth."""

import pytest
import torch
from torch import nn

from dlcv.convolution.architectures import BasicBlock, WideBlock
from dlcv.convolution.variants import (
    DenseBlock,
    FireModule,
    FractalBlock,
    MLPConv,
    StochasticDepthBlock,
    stochastic_depth,
)
from dlcv.networks.mlp import count_parameters


def conv_weights(module):
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))


def test_wide_dense_fire_mlpconv_fractal_shapes_and_counts():
    w = WideBlock(16, 64, stride=2, dropout=0.3)
    assert w(torch.randn(2, 16, 8, 8)).shape == (2, 64, 4, 4)
    d = DenseBlock(24, growth_rate=12, num_layers=4)
    assert d.out_channels == 24 + 48
    assert d(torch.randn(2, 24, 6, 6)).shape == (2, 72, 6, 6)
    assert conv_weights(d) == 9 * 12 * (24 + 36 + 48 + 60)
    dbc = DenseBlock(24, 12, 2, bottleneck=True)
    assert conv_weights(dbc) == 24 * 48 + 9 * 48 * 12 + 36 * 48 + 9 * 48 * 12
    f = FireModule(96, 16, 64, 64)  # SqueezeNet's fire2
    assert count_parameters(f) == 11_920
    assert f(torch.randn(1, 96, 7, 7)).shape == (1, 128, 7, 7)
    m = MLPConv(3, (192, 160, 96), kernel_size=5)
    assert m(torch.randn(1, 3, 12, 12)).shape == (1, 96, 12, 12)
    assert count_parameters(m) == 3 * 25 * 192 + 192 + 192 * 160 + 160 + 160 * 96 + 96
    fr = FractalBlock(8, 16, columns=3)
    assert sum(isinstance(x, nn.Conv2d) for x in fr.modules()) == 2 ** 3 - 1
    assert fr(torch.randn(2, 8, 5, 5)).shape == (2, 16, 5, 5)
    fr_drop = FractalBlock(8, 16, columns=3, drop_path=0.5).train()
    assert fr_drop(torch.randn(2, 8, 5, 5)).shape == (2, 16, 5, 5)


def test_stochastic_depth():
    x = torch.randn(1000, 3)
    assert stochastic_depth(x, 0.5, training=False) is x         # identity in eval
    assert stochastic_depth(x, 0.0, training=True) is x
    assert torch.all(stochastic_depth(x, 1.0, training=True) == 0)
    torch.manual_seed(0)
    ones = torch.ones(20000, 1)
    out = stochastic_depth(ones, 0.3, training=True)
    values = out.unique()
    assert len(values) == 2 and values[0] == 0 and values[1].item() == pytest.approx(1 / 0.7)
    assert out.mean().item() == pytest.approx(1.0, abs=0.03)          # unbiased
    assert (out == 0).float().mean().item() == pytest.approx(0.3, abs=0.02)
    batch = stochastic_depth(ones, 0.5, training=True, mode="batch")
    assert batch.unique().numel() == 1                                  # all or nothing
    with pytest.raises(ValueError, match="p"):
        stochastic_depth(x, 1.5, training=True)

    res = BasicBlock(4, 4, shortcut="none")
    blk = StochasticDepthBlock(res, p=1.0)
    z = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(blk.train()(z), torch.relu(z))        # branch dropped
    blk_eval = StochasticDepthBlock(res, p=0.7).eval()
    res.eval()
    torch.testing.assert_close(blk_eval(z), torch.relu(z + res(z)))   # full block in eval
    with pytest.raises(ValueError, match="residual branch"):
        StochasticDepthBlock(nn.Conv2d(4, 8, 1))(z)
