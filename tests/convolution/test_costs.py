"""Tests for dlcv/convolution/costs.py: MACs against hand formulas, receptive fields, the costs
of one block for the widget."""

import pytest
import torch
from torch import nn

from dlcv.convolution.costs import BLOCKS, block_costs, count_flops, receptive_field
from dlcv.networks.mlp import count_parameters


def test_count_flops_of_a_conv_layer_is_the_formula():
    conv = nn.Conv2d(8, 16, 3, stride=2, padding=1)
    Hout = Wout = 10  # (20 + 2 - 3) // 2 + 1
    assert count_flops(conv, (1, 8, 20, 20)) == 16 * 8 * 3 * 3 * Hout * Wout
    grouped = nn.Conv2d(8, 16, 3, padding=1, groups=4)
    assert count_flops(grouped, (2, 8, 5, 5)) == 2 * 16 * 2 * 9 * 25
    assert count_flops(nn.Linear(7, 3), (4, 7)) == 4 * 21


def test_stacked_3x3_vs_one_7x7():
    C = 32
    stack = nn.Sequential(*[nn.Conv2d(C, C, 3, padding=1, bias=False) for _ in range(3)])
    big = nn.Conv2d(C, C, 7, padding=3, bias=False)
    assert receptive_field(stack) == receptive_field(big) == 7
    assert count_parameters(stack) == 3 * 9 * C * C and count_parameters(big) == 49 * C * C
    # the receptive field by autograd: which input pixels reach the centre output
    x = torch.zeros(1, C, 15, 15, requires_grad=True)
    with torch.no_grad():
        for m in stack:
            m.weight.fill_(1.0)
    stack(x)[0, 0, 7, 7].backward()
    rows = (x.grad[0].abs().sum(0).sum(1) > 0).sum().item()
    assert rows == 7
    assert receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2),
                                         nn.Conv2d(1, 1, 3))) == 8


def test_block_costs():
    t, info = block_costs("inception, naive", 256, 28)
    assert t.macs == 854_196_224 and info["out_shape"] == (1, 672, 28, 28)
    assert info["reference_macs"] == 9 * 256 * 256 * 28 * 28
    t, _ = block_costs("ResNeXt (grouped 3x3)", 256, 28, cardinality=32)
    assert t.params == 70_144 and any("/g32" in r.name for r in t)
    for b in BLOCKS:
        t, info = block_costs(b, 64, 14, 8)
        assert len(t) >= 2 and info["out_shape"][2:] == (14, 14)
    with pytest.raises(ValueError, match="multiple of 16"):
        block_costs("ResNet bottleneck", 40)
    with pytest.raises(ValueError, match="block"):
        block_costs("VGG", 64)


def test_transposed_convolution_macs_count_every_stamp():
    """A ConvTranspose2d call costs in_numbers x out_channels x k x k multiply-adds."""
    from torch import nn

    from dlcv.convolution.costs import layer_table

    net = nn.Sequential(nn.ConvTranspose2d(4, 6, kernel_size=3, stride=2))
    rows = layer_table(net, (4, 5, 5))
    assert rows[0].out_shape[-3:] == (6, 11, 11)
    assert rows[0].macs == 4 * 5 * 5 * 6 * 3 * 3
