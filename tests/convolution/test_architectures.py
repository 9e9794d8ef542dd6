"""Tests for dlcv/convolution/architectures.py: counts against hand formulas and published numbers, shapes
through every block, receptive fields, stochastic depth."""

import pytest
import torch
from torch import nn

from dlcv.convolution import architectures as A
from dlcv.networks.mlp import count_parameters


def conv_weights(module):
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))


# ------------------------------------------------------------------ whole networks
def test_lenet5_parameters_and_table():
    net = A.make_lenet5()
    # C1 6*(25+1), C3 16*(6*25+1), C5 120*(16*25+1), F6 84*(120+1), out 10*(84+1)
    assert count_parameters(net) == 156 + 2416 + 48120 + 10164 + 850 == 61706
    t = A.layer_table(net, (1, 1, 32, 32))
    assert [r.name for r in t] == ["c1", "s2", "c3", "s4", "c5", "flatten", "f6", "out"]
    assert t[0].out_shape == (1, 6, 28, 28) and t[4].out_shape == (1, 120, 1, 1)
    assert t.params == 61706
    assert t.macs == 6 * 25 * 28 * 28 + 16 * 150 * 100 + 120 * 400 + 120 * 84 + 84 * 10
    assert "total" in str(t)
    assert len(A.layer_table(net, (1, 1, 32, 32), all_layers=True)) == 12  # + four tanh


@pytest.mark.parametrize("fn, shape, params", [
    (A.make_alexnet, (1, 3, 227, 227), 60_965_224),   # the paper's two-GPU version, ~61M
    (lambda: A.make_alexnet(two_gpus=False), (1, 3, 227, 227), 62_378_344),
    (A.make_vgg, (1, 3, 224, 224), 138_357_544),        # VGG-16, the published 138M
    (lambda: A.make_vgg(19), (1, 3, 224, 224), 143_667_240),
    (lambda: A.make_resnet(18), (1, 3, 224, 224), 11_689_512),
    (lambda: A.make_resnet(50), (1, 3, 224, 224), 25_557_032),
    (lambda: A.make_resnet(152), (1, 3, 224, 224), 60_192_808),
    (lambda: A.make_resnet(50, cardinality=32, group_width=4), (1, 3, 224, 224), 25_028_904),
    (A.make_squeezenet, (1, 3, 224, 224), 1_248_424),   # Iandola et al. (2016), Table 1
])
def test_published_parameter_counts(fn, shape, params):
    net = A.build_on_meta(fn)
    assert next(net.parameters()).device.type == "meta"
    assert count_parameters(net) == params
    out = A.layer_table(net, shape)[-1].out_shape
    assert out[-1] == 1000


def test_published_operation_counts():
    def gmacs(fn, shape):
        return A.count_flops(A.build_on_meta(fn), shape) / 1e9
    assert gmacs(A.make_alexnet, (1, 3, 227, 227)) == pytest.approx(0.724, abs=0.002)
    assert gmacs(A.make_vgg, (1, 3, 224, 224)) == pytest.approx(15.47, abs=0.01)
    assert gmacs(lambda: A.make_resnet(34), (1, 3, 224, 224)) == pytest.approx(3.6, abs=0.1)
    assert gmacs(A.make_googlenet, (1, 3, 224, 224)) == pytest.approx(1.5, abs=0.1)


def test_alexnet_parameters_in_fc_operations_in_convs():
    t = A.layer_table(A.build_on_meta(A.make_alexnet), (1, 3, 227, 227))
    conv, fc = t.where("Conv2d"), t.where("Linear")
    assert fc.params / t.params > 0.9 and conv.macs / t.macs > 0.9
    assert t[0].out_shape == (1, 96, 55, 55)


def test_googlenet_parameters():
    net = A.build_on_meta(A.make_googlenet)
    # about 7M (torchvision's variant, with 3x3 instead of 5x5 convs and BN, has 6.6M)
    assert count_parameters(net) == pytest.approx(7.0e6, rel=0.01)
    assert count_parameters(net.fc) == 1_025_000
    assert count_parameters(net) < count_parameters(A.build_on_meta(A.make_alexnet)) / 8


def test_count_flops_of_a_conv_layer_is_the_formula():
    conv = nn.Conv2d(8, 16, 3, stride=2, padding=1)
    Hout = Wout = 10  # (20 + 2 - 3) // 2 + 1
    assert A.count_flops(conv, (1, 8, 20, 20)) == 16 * 8 * 3 * 3 * Hout * Wout
    grouped = nn.Conv2d(8, 16, 3, padding=1, groups=4)
    assert A.count_flops(grouped, (2, 8, 5, 5)) == 2 * 16 * 2 * 9 * 25
    assert A.count_flops(nn.Linear(7, 3), (4, 7)) == 4 * 21


def test_stacked_3x3_vs_one_7x7():
    C = 32
    stack = nn.Sequential(*[nn.Conv2d(C, C, 3, padding=1, bias=False) for _ in range(3)])
    big = nn.Conv2d(C, C, 7, padding=3, bias=False)
    assert A.receptive_field(stack) == A.receptive_field(big) == 7
    assert count_parameters(stack) == 3 * 9 * C * C and count_parameters(big) == 49 * C * C
    # the receptive field by autograd: which input pixels reach the centre output
    x = torch.zeros(1, C, 15, 15, requires_grad=True)
    with torch.no_grad():
        for m in stack:
            m.weight.fill_(1.0)
    stack(x)[0, 0, 7, 7].backward()
    rows = (x.grad[0].abs().sum(0).sum(1) > 0).sum().item()
    assert rows == 7
    assert A.receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2),
                                           nn.Conv2d(1, 1, 3))) == 8


def test_bad_input_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match=r"LeNet-5.*\(N, 1, 32, 32\)"):
        A.make_lenet5()(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match="input_shape"):
        A.layer_table(A.make_lenet5(), (1, 32, 32, 0))
    with pytest.raises(ValueError, match="does not fit"):
        A.layer_table(nn.Sequential(nn.Flatten(), nn.Linear(10, 2)), (1, 3, 4, 4))
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
    assert A.count_flops(naive, (1, 256, 28, 28)) == naive_macs == 854_196_224
    assert A.count_flops(bottl, (1, 256, 28, 28)) == bottl_macs == 271_351_808
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


def test_wide_dense_fire_mlpconv_fractal_shapes_and_counts():
    w = A.WideBlock(16, 64, stride=2, dropout=0.3)
    assert w(torch.randn(2, 16, 8, 8)).shape == (2, 64, 4, 4)
    d = A.DenseBlock(24, growth_rate=12, num_layers=4)
    assert d.out_channels == 24 + 48
    assert d(torch.randn(2, 24, 6, 6)).shape == (2, 72, 6, 6)
    assert conv_weights(d) == 9 * 12 * (24 + 36 + 48 + 60)
    dbc = A.DenseBlock(24, 12, 2, bottleneck=True)
    assert conv_weights(dbc) == 24 * 48 + 9 * 48 * 12 + 36 * 48 + 9 * 48 * 12
    f = A.FireModule(96, 16, 64, 64)  # SqueezeNet's fire2
    assert count_parameters(f) == 11_920
    assert f(torch.randn(1, 96, 7, 7)).shape == (1, 128, 7, 7)
    m = A.MLPConv(3, (192, 160, 96), kernel_size=5)
    assert m(torch.randn(1, 3, 12, 12)).shape == (1, 96, 12, 12)
    assert count_parameters(m) == 3 * 25 * 192 + 192 + 192 * 160 + 160 + 160 * 96 + 96
    fr = A.FractalBlock(8, 16, columns=3)
    assert sum(isinstance(x, nn.Conv2d) for x in fr.modules()) == 2 ** 3 - 1
    assert fr(torch.randn(2, 8, 5, 5)).shape == (2, 16, 5, 5)
    fr_drop = A.FractalBlock(8, 16, columns=3, drop_path=0.5).train()
    assert fr_drop(torch.randn(2, 8, 5, 5)).shape == (2, 16, 5, 5)


def test_stochastic_depth():
    x = torch.randn(1000, 3)
    assert A.stochastic_depth(x, 0.5, training=False) is x         # identity in eval
    assert A.stochastic_depth(x, 0.0, training=True) is x
    assert torch.all(A.stochastic_depth(x, 1.0, training=True) == 0)
    torch.manual_seed(0)
    ones = torch.ones(20000, 1)
    out = A.stochastic_depth(ones, 0.3, training=True)
    values = out.unique()
    assert len(values) == 2 and values[0] == 0 and values[1].item() == pytest.approx(1 / 0.7)
    assert out.mean().item() == pytest.approx(1.0, abs=0.03)          # unbiased
    assert (out == 0).float().mean().item() == pytest.approx(0.3, abs=0.02)
    batch = A.stochastic_depth(ones, 0.5, training=True, mode="batch")
    assert batch.unique().numel() == 1                                  # all or nothing
    with pytest.raises(ValueError, match="p"):
        A.stochastic_depth(x, 1.5, training=True)

    res = A.BasicBlock(4, 4, shortcut="none")
    blk = A.StochasticDepthBlock(res, p=1.0)
    z = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(blk.train()(z), torch.relu(z))        # branch dropped
    blk_eval = A.StochasticDepthBlock(res, p=0.7).eval()
    res.eval()
    torch.testing.assert_close(blk_eval(z), torch.relu(z + res(z)))   # full block in eval
    with pytest.raises(ValueError, match="residual branch"):
        A.StochasticDepthBlock(nn.Conv2d(4, 8, 1))(z)


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


def test_block_costs():
    t, info = A.block_costs("inception, naive", 256, 28)
    assert t.macs == 854_196_224 and info["out_shape"] == (1, 672, 28, 28)
    assert info["reference_macs"] == 9 * 256 * 256 * 28 * 28
    t, _ = A.block_costs("ResNeXt (grouped 3x3)", 256, 28, cardinality=32)
    assert t.params == 70_144 and any("/g32" in r.name for r in t)
    for b in A.BLOCKS:
        t, info = A.block_costs(b, 64, 14, 8)
        assert len(t) >= 2 and info["out_shape"][2:] == (14, 14)
    with pytest.raises(ValueError, match="multiple of 16"):
        A.block_costs("ResNet bottleneck", 40)
    with pytest.raises(ValueError, match="block"):
        A.block_costs("VGG", 64)


def test_transposed_convolution_macs_count_every_stamp():
    """A ConvTranspose2d call costs in_numbers x out_channels x k x k multiply-adds."""
    from torch import nn

    from dlcv.convolution.architectures import layer_table

    net = nn.Sequential(nn.ConvTranspose2d(4, 6, kernel_size=3, stride=2))
    rows = layer_table(net, (4, 5, 5))
    assert rows[0].out_shape[-3:] == (6, 11, 11)
    assert rows[0].macs == 4 * 5 * 5 * 6 * 3 * 3
