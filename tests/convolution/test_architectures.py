"""Tests for dlcv/convolution/architectures.py: counts against hand formulas and published numbers,
shapes through the blocks of the ImageNet winners, the digits' plain and residual nets."""

import pytest
import torch
from torch import nn

from dlcv.convolution import architectures as A
from dlcv.convolution.costs import build_on_meta, count_flops, layer_table
from dlcv.convolution.variants import make_squeezenet
from dlcv.networks.mlp import count_parameters


def conv_weights(module):
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))


# ------------------------------------------------------------------ whole networks
def test_lenet5_parameters_and_table():
    net = A.make_lenet5()
    # C1 6*(25+1), C3 16*(6*25+1), C5 120*(16*25+1), F6 84*(120+1), out 10*(84+1)
    assert count_parameters(net) == 156 + 2416 + 48120 + 10164 + 850 == 61706
    t = layer_table(net, (1, 1, 32, 32))
    assert [r.name for r in t] == ["c1", "s2", "c3", "s4", "c5", "flatten", "f6", "out"]
    assert t[0].out_shape == (1, 6, 28, 28) and t[4].out_shape == (1, 120, 1, 1)
    assert t.params == 61706
    assert t.macs == 6 * 25 * 28 * 28 + 16 * 150 * 100 + 120 * 400 + 120 * 84 + 84 * 10
    assert "total" in str(t)
    assert len(layer_table(net, (1, 1, 32, 32), all_layers=True)) == 12  # + four tanh


@pytest.mark.parametrize("fn, shape, params", [
    (A.make_alexnet, (1, 3, 227, 227), 60_965_224),   # the paper's two-GPU version, ~61M
    (lambda: A.make_alexnet(two_gpus=False), (1, 3, 227, 227), 62_378_344),
    (A.make_vgg, (1, 3, 224, 224), 138_357_544),        # VGG-16, the published 138M
    (lambda: A.make_vgg(19), (1, 3, 224, 224), 143_667_240),
    (lambda: A.make_resnet(18), (1, 3, 224, 224), 11_689_512),
    (lambda: A.make_resnet(50), (1, 3, 224, 224), 25_557_032),
    (lambda: A.make_resnet(152), (1, 3, 224, 224), 60_192_808),
    (lambda: A.make_resnet(50, cardinality=32, group_width=4), (1, 3, 224, 224), 25_028_904),
    (make_squeezenet, (1, 3, 224, 224), 1_248_424),   # Iandola et al. (2016), Table 1
])
def test_published_parameter_counts(fn, shape, params):
    net = build_on_meta(fn)
    assert next(net.parameters()).device.type == "meta"
    assert count_parameters(net) == params
    out = layer_table(net, shape)[-1].out_shape
    assert out[-1] == 1000


def test_published_operation_counts():
    def gmacs(fn, shape):
        return count_flops(build_on_meta(fn), shape) / 1e9
    assert gmacs(A.make_alexnet, (1, 3, 227, 227)) == pytest.approx(0.724, abs=0.002)
    assert gmacs(A.make_vgg, (1, 3, 224, 224)) == pytest.approx(15.47, abs=0.01)
    assert gmacs(lambda: A.make_resnet(34), (1, 3, 224, 224)) == pytest.approx(3.6, abs=0.1)
    assert gmacs(A.make_googlenet, (1, 3, 224, 224)) == pytest.approx(1.5, abs=0.1)


def test_alexnet_parameters_in_fc_operations_in_convs():
    t = layer_table(build_on_meta(A.make_alexnet), (1, 3, 227, 227))
    conv, fc = t.where("Conv2d"), t.where("Linear")
    assert fc.params / t.params > 0.9 and conv.macs / t.macs > 0.9
    assert t[0].out_shape == (1, 96, 55, 55)


def test_googlenet_parameters():
    net = build_on_meta(A.make_googlenet)
    # about 7M (torchvision's variant, with 3x3 instead of 5x5 convs and BN, has 6.6M)
    assert count_parameters(net) == pytest.approx(7.0e6, rel=0.01)
    assert count_parameters(net.fc) == 1_025_000
    assert count_parameters(net) < count_parameters(build_on_meta(A.make_alexnet)) / 8


def test_bad_input_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match=r"LeNet-5.*\(N, 1, 32, 32\)"):
        A.make_lenet5()(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match="input_shape"):
        layer_table(A.make_lenet5(), (1, 32, 32, 0))
    with pytest.raises(ValueError, match="does not fit"):
        layer_table(nn.Sequential(nn.Flatten(), nn.Linear(10, 2)), (1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"BasicBlock.*\(N, 8, H, W\)"):
        A.BasicBlock(8, 8)(torch.zeros(1, 4, 5, 5))
    with pytest.raises(ValueError, match="groups"):
        A.Bottleneck(64, 30, groups=4)
    with pytest.raises(ValueError, match="depth"):
        A.make_vgg(17)
    with pytest.raises(ValueError, match="module"):
        count_parameters("vgg")


# ------------------------------------------------------------------ blocks
def test_inception_naive_vs_bottleneck_operations():
    naive = A.InceptionModule(256, 128, 192, 96)
    bottl = A.InceptionModule(256, 128, 192, 96, reduce3=64, reduce5=64, pool_proj=64)
    HW = 28 * 28
    naive_macs = HW * 256 * (128 * 1 + 192 * 9 + 96 * 25)
    bottl_macs = HW * (256 * 64 * 3 + 256 * 128 + 64 * 192 * 9 + 64 * 96 * 25)
    assert count_flops(naive, (1, 256, 28, 28)) == naive_macs == 854_196_224
    assert count_flops(bottl, (1, 256, 28, 28)) == bottl_macs == 271_351_808
    assert naive(torch.zeros(1, 256, 6, 6)).shape == (1, 128 + 192 + 96 + 256, 6, 6)
    assert bottl(torch.zeros(1, 256, 6, 6)).shape == (1, 480, 6, 6)


def test_resnet_blocks_shapes_and_counts():
    b = A.BasicBlock(64, 64)
    assert isinstance(b.shortcut, nn.Identity)
    assert conv_weights(b) == 2 * 9 * 64 * 64
    down = A.BasicBlock(64, 128, stride=2)
    assert down(torch.randn(2, 64, 8, 8)).shape == (2, 128, 4, 4)
    assert conv_weights(down) == 9 * 64 * 128 + 9 * 128 * 128 + 64 * 128  # + projection
    assert A.BasicBlock(8, 8, shortcut="none").shortcut is None
    # He et al. (2016), Fig. 5: 256-d bottleneck 1x1 64, 3x3 64, 1x1 256
    bt = A.Bottleneck(256, 64)
    assert bt.out_channels == 256
    assert conv_weights(bt) == 256 * 64 + 9 * 64 * 64 + 64 * 256 == 69_632
    assert bt(torch.randn(2, 256, 5, 5)).shape == (2, 256, 5, 5)
    bt2 = A.Bottleneck(256, 128, 512, stride=2)
    assert bt2(torch.randn(1, 256, 6, 6)).shape == (1, 512, 3, 3)


def test_identity_shortcut_adds_the_input():
    b = A.BasicBlock(4, 4).eval()
    with torch.no_grad():
        b.bn2.weight.zero_()  # residual branch outputs its BN shift (0): the block is ReLU(x)
        x = torch.randn(2, 4, 5, 5)
        torch.testing.assert_close(b(x), torch.relu(x))


def test_resnext_block_has_the_cost_of_a_bottleneck():
    rx = A.resnext_block(256, cardinality=32, group_width=4)
    assert rx.conv2.groups == 32
    # 32 paths of 256 -> 4 (1x1), 4 -> 4 (3x3), 4 -> 256 (1x1): Xie et al. (2017), Fig. 1
    assert conv_weights(rx) == 32 * (256 * 4 + 4 * 4 * 9 + 4 * 256) == 70_144
    assert rx(torch.randn(1, 256, 4, 4)).shape == (1, 256, 4, 4)
    # grouped conv = independent convolutions on channel groups
    conv = rx.conv2
    x = torch.randn(1, 128, 5, 5)
    y = conv(x)
    y0 = nn.functional.conv2d(x[:, :4], conv.weight[:4], padding=1)
    torch.testing.assert_close(y[:, :4], y0)


def test_digits_net_and_gradient_norms():
    plain = A.make_digits_net(3, width=8, residual=False)
    res = A.make_digits_net(3, width=8, residual=True)
    assert count_parameters(plain) == count_parameters(res)
    assert sum(isinstance(m, nn.Conv2d | nn.Linear) for m in res.modules()) == 2 * 3 + 2
    X = torch.randn(16, 1, 8, 8).numpy()
    y = torch.arange(16).remainder(10).numpy()
    before = {k: v.clone() for k, v in res.state_dict().items()}
    g = A.layer_gradient_norms(res, X, y)
    assert g.shape == (8,) and (g > 0).all()
    for k, v in res.state_dict().items():  # running statistics restored
        torch.testing.assert_close(v, before[k])
    assert all(p.grad is None for p in res.parameters())
