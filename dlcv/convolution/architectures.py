"""The classic CNN architectures as small torch definitions (lecture 07): the ImageNet winners
from LeNet-5 to ResNet, their blocks, and a small plain or residual CNN for the digits.

Whole networks (ImageNet-size ones are for counting only, on the meta device: see
dlcv.convolution.costs):
    make_lenet5, make_alexnet, make_zfnet, make_vgg, make_googlenet, make_resnet
                                          the winners: (N, 3, 224, 224) -> (N, num_classes)
                                          (LeNet-5: (N, 1, 32, 32); AlexNet: (N, 3, 227, 227))
    make_digits_net(num_blocks, width, residual)
                                          a small plain or residual CNN for the 8x8 digits:
                                          (N, 1, H, W) -> (N, num_classes)
    Network                               the nn.Sequential of them all, checking its input
Blocks (x: (N, in_channels, H, W) -> (N, out_channels, H', W')):
    InceptionModule (naive or with 1x1 bottlenecks), BasicBlock, Bottleneck (ResNet; with groups:
    ResNeXt, see resnext_block), WideBlock
Diagnostics:
    layer_gradient_norms(model, X, y)     ||dL/dW|| of every Conv2d / Linear weight

The blocks of the ideas that followed (NiN, DenseNet, SqueezeNet, FractalNet, stochastic depth)
are in dlcv.convolution.variants; what all of them cost is counted by dlcv.convolution.costs.

Layers, gradients and updates come from torch; writing convolution and pooling layers in numpy
is assignment a3's job, so this module never does.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.validate import integer


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------
def _check_x(x: torch.Tensor, channels: int, who: str, size: tuple[int, int] | None = None):
    """Raise a ValueError naming `who` unless x is (N, channels, H, W) (with (H, W) == size)."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != channels:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        want = f"(N, {channels}, {size[0]}, {size[1]})" if size else f"(N, {channels}, H, W)"
        raise ValueError(f"{who}: x must have shape {want}, got {shape}")
    if size is not None and tuple(x.shape[2:]) != tuple(size):
        raise ValueError(f"{who}: x must have shape (N, {channels}, {size[0]}, {size[1]}), "
                         f"got {tuple(x.shape)}")


# --------------------------------------------------------------------------------------------
# A Sequential that checks its input
# --------------------------------------------------------------------------------------------
class Network(nn.Sequential):
    """nn.Sequential that checks its input: (N, in_channels, H, W), with (H, W) == in_size when
    in_size is given (networks whose fully connected layers fix the image size)."""

    def __init__(self, layers: OrderedDict, in_channels: int, in_size: tuple[int, int] | None,
                 name: str):
        super().__init__(layers)
        self.in_channels, self.in_size, self.name = in_channels, in_size, name

    def forward(self, x):
        _check_x(x, self.in_channels, self.name, self.in_size)
        return super().forward(x)


# --------------------------------------------------------------------------------------------
# LeNet-5, AlexNet, ZFNet, VGG
# --------------------------------------------------------------------------------------------
def make_lenet5(num_classes: int = 10) -> Network:
    """LeNet-5 (LeCun et al., 1998) in its common modern form, for (N, 1, 32, 32) input.

    C1 conv 6@5x5 -> tanh -> S2 avg-pool 2 -> C3 conv 16@5x5 -> tanh -> S4 avg-pool 2 ->
    C5 conv 120@5x5 (a 1x1 output: a fully connected layer) -> tanh -> F6 linear 84 -> tanh ->
    linear num_classes. Differences from the 1998 paper: C3 connects every input map to every
    output map (the paper used a sparse table with 1,516 weights instead of 2,416), the pooling
    layers have no trainable coefficient, and the output is a linear layer instead of Gaussian
    (RBF) units. Parameters: 61,706 for 10 classes.
    """
    return Network(OrderedDict(
        c1=nn.Conv2d(1, 6, 5), tanh1=nn.Tanh(), s2=nn.AvgPool2d(2),      # (N, 6, 28, 28) -> 14
        c3=nn.Conv2d(6, 16, 5), tanh3=nn.Tanh(), s4=nn.AvgPool2d(2),     # (N, 16, 10, 10) -> 5
        c5=nn.Conv2d(16, 120, 5), tanh5=nn.Tanh(), flatten=nn.Flatten(),  # (N, 120)
        f6=nn.Linear(120, 84), tanh6=nn.Tanh(), out=nn.Linear(84, num_classes)),
        1, (32, 32), "LeNet-5")


def _fc_head(in_features: int, num_classes: int, hidden: int = 4096, dropout: float = 0.5):
    return [("flatten", nn.Flatten()),
            ("drop6", nn.Dropout(dropout)), ("fc6", nn.Linear(in_features, hidden)),
            ("relu6", nn.ReLU()),
            ("drop7", nn.Dropout(dropout)), ("fc7", nn.Linear(hidden, hidden)),
            ("relu7", nn.ReLU()),
            ("fc8", nn.Linear(hidden, num_classes))]


def make_alexnet(num_classes: int = 1000, two_gpus: bool = True) -> Network:
    """AlexNet (Krizhevsky et al., 2012) for (N, 3, 227, 227) input (the paper says 224, but
    11x11 stride-4 filters need 227 to give its 55x55 maps).

    conv1 96@11x11/4 -> ReLU -> LRN -> max-pool 3/2 -> conv2 256@5x5 -> ReLU -> LRN -> max-pool
    -> conv3 384@3x3 -> conv4 384@3x3 -> conv5 256@3x3 -> max-pool -> fc6 4096 -> fc7 4096 ->
    fc8, with dropout before fc6 and fc7. two_gpus=True reproduces the paper's split over two
    GPUs: conv2, conv4 and conv5 see only the half of the previous maps on their own GPU, which
    is a grouped convolution with groups=2 (60,965,224 parameters); two_gpus=False connects
    everything (62,378,344).
    """
    g = 2 if two_gpus else 1
    layers = [
        ("conv1", nn.Conv2d(3, 96, 11, stride=4)), ("relu1", nn.ReLU()),        # 96 x 55 x 55
        ("lrn1", nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)),
        ("pool1", nn.MaxPool2d(3, 2)),                                          # 96 x 27 x 27
        ("conv2", nn.Conv2d(96, 256, 5, padding=2, groups=g)), ("relu2", nn.ReLU()),
        ("lrn2", nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)),
        ("pool2", nn.MaxPool2d(3, 2)),                                          # 256 x 13 x 13
        ("conv3", nn.Conv2d(256, 384, 3, padding=1)), ("relu3", nn.ReLU()),
        ("conv4", nn.Conv2d(384, 384, 3, padding=1, groups=g)), ("relu4", nn.ReLU()),
        ("conv5", nn.Conv2d(384, 256, 3, padding=1, groups=g)), ("relu5", nn.ReLU()),
        ("pool5", nn.MaxPool2d(3, 2)),                                          # 256 x 6 x 6
    ] + _fc_head(256 * 6 * 6, num_classes)
    return Network(OrderedDict(layers), 3, (227, 227), "AlexNet")


def make_zfnet(num_classes: int = 1000) -> Network:
    """ZFNet (Zeiler & Fergus, 2014, Fig. 3) for (N, 3, 224, 224) input: AlexNet with a 7x7
    stride-2 first layer (instead of 11x11 stride 4), a stride-2 conv2, no grouping, and
    contrast normalisation replaced here by nothing (it has no parameters)."""
    layers = [
        ("conv1", nn.Conv2d(3, 96, 7, stride=2, padding=1)), ("relu1", nn.ReLU()),  # 96 x 110
        ("pool1", nn.MaxPool2d(3, 2, padding=1)),                                   # 96 x 55
        ("conv2", nn.Conv2d(96, 256, 5, stride=2)), ("relu2", nn.ReLU()),           # 256 x 26
        ("pool2", nn.MaxPool2d(3, 2, padding=1)),                                   # 256 x 13
        ("conv3", nn.Conv2d(256, 384, 3, padding=1)), ("relu3", nn.ReLU()),
        ("conv4", nn.Conv2d(384, 384, 3, padding=1)), ("relu4", nn.ReLU()),
        ("conv5", nn.Conv2d(384, 256, 3, padding=1)), ("relu5", nn.ReLU()),
        ("pool5", nn.MaxPool2d(3, 2)),                                              # 256 x 6
    ] + _fc_head(256 * 6 * 6, num_classes)
    return Network(OrderedDict(layers), 3, (224, 224), "ZFNet")


VGG_CONFIGS = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    13: (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    19: (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"),
}


def make_vgg(depth: int = 16, num_classes: int = 1000) -> Network:
    """VGG (Simonyan & Zisserman, 2015; configurations A, B, D, E = depth 11, 13, 16, 19) for
    (N, 3, 224, 224) input: only 3x3 convolutions (stride 1, padding 1) with ReLU and 2x2
    max-pools (stride 2), then fc 4096 -> 4096 -> num_classes. VGG-16: 138,357,544 parameters."""
    if depth not in VGG_CONFIGS:
        raise ValueError(f"make_vgg: depth must be one of {sorted(VGG_CONFIGS)}, got {depth!r}")
    layers, c, stage, k = [], 3, 1, 1
    for v in VGG_CONFIGS[depth]:
        if v == "M":
            layers.append((f"pool{stage}", nn.MaxPool2d(2, 2)))
            stage, k = stage + 1, 1
        else:
            layers += [(f"conv{stage}_{k}", nn.Conv2d(c, v, 3, padding=1)),
                       (f"relu{stage}_{k}", nn.ReLU())]
            c, k = v, k + 1
    layers += _fc_head(512 * 7 * 7, num_classes)
    # the paper's order is fc6 -> ReLU -> dropout; the position of dropout changes no count
    return Network(OrderedDict(layers), 3, (224, 224), f"VGG-{depth}")


# --------------------------------------------------------------------------------------------
# Inception (GoogLeNet)
# --------------------------------------------------------------------------------------------
def _conv_relu(cin: int, cout: int, k: int, **kw) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, **kw), nn.ReLU(inplace=False))


class InceptionModule(nn.Module):
    """The inception module (Szegedy et al., 2015): four parallel branches whose outputs are
    concatenated along the channels. x: (N, in_channels, H, W) -> (N, out_channels, H, W).

        1x1 conv (c1)
        [1x1 conv (reduce3) ->] 3x3 conv (c3)
        [1x1 conv (reduce5) ->] 5x5 conv (c5)
        3x3 max-pool (stride 1) [-> 1x1 conv (pool_proj)]

    With reduce3 = reduce5 = pool_proj = None it is the *naive* module: the 3x3 and 5x5 convs
    see all in_channels and the pool branch passes all in_channels through, so the output grows
    to c1 + c3 + c5 + in_channels. The 1x1 "bottleneck" convolutions shrink the depth first.
    Every convolution is followed by a ReLU.
    """

    def __init__(self, in_channels: int, c1: int, c3: int, c5: int, reduce3: int | None = None,
                 reduce5: int | None = None, pool_proj: int | None = None):
        super().__init__()
        who = "InceptionModule"
        self.in_channels = integer(who, "in_channels", in_channels, 1)
        for name, v in (("c1", c1), ("c3", c3), ("c5", c5)):
            integer(who, name, v, 1)
        for name, v in (("reduce3", reduce3), ("reduce5", reduce5), ("pool_proj", pool_proj)):
            if v is not None:
                integer(who, name, v, 1)
        self.branch1 = _conv_relu(in_channels, c1, 1)
        self.branch3 = (nn.Sequential(_conv_relu(in_channels, reduce3, 1),
                                      _conv_relu(reduce3, c3, 3))
                        if reduce3 else _conv_relu(in_channels, c3, 3))
        self.branch5 = (nn.Sequential(_conv_relu(in_channels, reduce5, 1),
                                      _conv_relu(reduce5, c5, 5))
                        if reduce5 else _conv_relu(in_channels, c5, 5))
        pool = nn.MaxPool2d(3, stride=1, padding=1)
        self.branch_pool = (nn.Sequential(pool, _conv_relu(in_channels, pool_proj, 1))
                            if pool_proj else pool)
        self.out_channels = c1 + c3 + c5 + (pool_proj or in_channels)

    def forward(self, x):
        _check_x(x, self.in_channels, "InceptionModule")
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x),
                          self.branch_pool(x)], dim=1)  # (N, out_channels, H, W)


# (in, c1, reduce3, c3, reduce5, c5, pool_proj) of GoogLeNet's nine modules (its Table 1)
GOOGLENET_MODULES = OrderedDict([
    ("3a", (192, 64, 96, 128, 16, 32, 32)), ("3b", (256, 128, 128, 192, 32, 96, 64)),
    ("4a", (480, 192, 96, 208, 16, 48, 64)), ("4b", (512, 160, 112, 224, 24, 64, 64)),
    ("4c", (512, 128, 128, 256, 24, 64, 64)), ("4d", (512, 112, 144, 288, 32, 64, 64)),
    ("4e", (528, 256, 160, 320, 32, 128, 128)), ("5a", (832, 256, 160, 320, 32, 128, 128)),
    ("5b", (832, 384, 192, 384, 48, 128, 128)),
])


def make_googlenet(num_classes: int = 1000) -> Network:
    """GoogLeNet (Szegedy et al., 2015, Table 1) for (N, 3, 224, 224) input, without the two
    auxiliary classifiers (they only help training and are dropped at test time).

    Stem: conv 64@7x7/2, max-pool 3/2, LRN, conv 64@1x1, conv 192@3x3, LRN, max-pool 3/2 (28x28);
    inception 3a, 3b, max-pool (14x14), 4a-4e, max-pool (7x7), 5a, 5b; global average pooling,
    dropout 0.4, one linear layer. About 7.0M parameters, 1.6G multiply-adds.
    """
    layers = [("conv1", _conv_relu(3, 64, 7, stride=2)),                        # 64 x 112
              ("pool1", nn.MaxPool2d(3, 2, ceil_mode=True)),                     # 64 x 56
              ("lrn1", nn.LocalResponseNorm(5)),
              ("conv2_reduce", _conv_relu(64, 64, 1)), ("conv2", _conv_relu(64, 192, 3)),
              ("lrn2", nn.LocalResponseNorm(5)),
              ("pool2", nn.MaxPool2d(3, 2, ceil_mode=True))]                     # 192 x 28
    for name, (cin, c1, r3, c3, r5, c5, pp) in GOOGLENET_MODULES.items():
        if name in ("4a", "5a"):
            layers.append((f"pool{name[0]}", nn.MaxPool2d(3, 2, ceil_mode=True)))
        layers.append((f"inception{name}",
                       InceptionModule(cin, c1, c3, c5, reduce3=r3, reduce5=r5, pool_proj=pp)))
    layers += [("avgpool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
               ("dropout", nn.Dropout(0.4)), ("fc", nn.Linear(1024, num_classes))]
    return Network(OrderedDict(layers), 3, None, "GoogLeNet")


# --------------------------------------------------------------------------------------------
# Residual blocks
# --------------------------------------------------------------------------------------------
SHORTCUTS = ("auto", "projection", "none")


def _shortcut(kind: str, cin: int, cout: int, stride: int, who: str) -> nn.Module | None:
    """identity when shapes agree (kind "auto"), else a 1x1 conv with stride + BN (projection);
    None for a plain block without a shortcut."""
    if kind not in SHORTCUTS:
        raise ValueError(f"{who}: shortcut must be one of {SHORTCUTS}, got {kind!r}")
    if kind == "none":
        return None
    if kind == "auto" and cin == cout and stride == 1:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """ResNet's basic block (He et al., 2016): x -> conv3x3 -> BN -> ReLU -> conv3x3 -> BN = F(x);
    out = ReLU(F(x) + shortcut(x)). x: (N, in_channels, H, W) -> (N, out_channels, H/s, W/s).

    shortcut: "auto" (identity if the shape is kept, else a 1x1 projection with stride and BN),
    "projection" (always the 1x1 conv), "none" (a plain block: out = ReLU(F(x)), for comparing
    plain and residual networks of the same depth).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 shortcut: str = "auto"):
        super().__init__()
        who = "BasicBlock"
        self.in_channels = integer(who, "in_channels", in_channels, 1)
        self.out_channels = integer(who, "out_channels", out_channels, 1)
        integer(who, "stride", stride, 1)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = _shortcut(shortcut, in_channels, out_channels, stride, who)

    def residual(self, x):
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    def forward(self, x):
        _check_x(x, self.in_channels, "BasicBlock")
        out = self.residual(x)  # (N, out_channels, H', W')
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return F.relu(out)


class Bottleneck(nn.Module):
    """ResNet's bottleneck block: 1x1 conv (reduce to mid_channels) -> BN -> ReLU -> 3x3 conv
    (stride, groups) -> BN -> ReLU -> 1x1 conv (expand to out_channels) -> BN = F(x);
    out = ReLU(F(x) + shortcut(x)). x: (N, in_channels, H, W) -> (N, out_channels, H/s, W/s).

    out_channels defaults to 4 * mid_channels (ResNet-50/101/152). groups > 1 splits the 3x3
    convolution into `groups` independent paths: ResNeXt's aggregated transformations (see
    resnext_block). The stride sits on the 3x3 convolution (as in torchvision; the original
    paper put it on the first 1x1).
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int | None = None,
                 stride: int = 1, groups: int = 1, shortcut: str = "auto"):
        super().__init__()
        who = "Bottleneck"
        self.in_channels = integer(who, "in_channels", in_channels, 1)
        integer(who, "mid_channels", mid_channels, 1)
        integer(who, "stride", stride, 1)
        integer(who, "groups", groups, 1)
        if mid_channels % groups:
            raise ValueError(f"{who}: groups ({groups}) must divide mid_channels "
                             f"({mid_channels})")
        out_channels = 4 * mid_channels if out_channels is None else out_channels
        self.out_channels = integer(who, "out_channels", out_channels, 1)
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, stride=stride, padding=1,
                               groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.shortcut = _shortcut(shortcut, in_channels, out_channels, stride, who)

    def residual(self, x):
        h = F.relu(self.bn1(self.conv1(x)))     # (N, mid, H, W)
        h = F.relu(self.bn2(self.conv2(h)))     # (N, mid, H/s, W/s)
        return self.bn3(self.conv3(h))          # (N, out, H/s, W/s)

    def forward(self, x):
        _check_x(x, self.in_channels, "Bottleneck")
        out = self.residual(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return F.relu(out)


def resnext_block(in_channels: int, cardinality: int = 32, group_width: int = 4,
                  out_channels: int | None = None, stride: int = 1) -> Bottleneck:
    """ResNeXt's block (Xie et al., 2017) in its grouped-convolution form: `cardinality` paths
    of 1x1 (-> group_width) -> 3x3 -> 1x1, summed, equal a bottleneck whose middle width is
    cardinality * group_width and whose 3x3 convolution has groups=cardinality. The default
    (32 x 4d on 256 channels) has about as many weights as ResNet's 256-64-256 bottleneck."""
    mid = integer("resnext_block", "cardinality", cardinality, 1) * \
        integer("resnext_block", "group_width", group_width, 1)
    return Bottleneck(in_channels, mid, in_channels if out_channels is None else out_channels,
                      stride=stride, groups=cardinality)


class WideBlock(nn.Module):
    """Wide ResNet's block (Zagoruyko & Komodakis, 2016): pre-activation BN -> ReLU -> conv3x3
    -> BN -> ReLU -> dropout -> conv3x3, plus the shortcut (identity, or a 1x1 conv when the
    shape changes). Width comes from out_channels = k * (ResNet's width). x: (N, in, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 dropout: float = 0.0):
        super().__init__()
        who = "WideBlock"
        self.in_channels = integer(who, "in_channels", in_channels, 1)
        self.out_channels = integer(who, "out_channels", out_channels, 1)
        if not 0 <= dropout < 1:
            raise ValueError(f"{who}: dropout must be in [0, 1), got {dropout}")
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.shortcut = (nn.Identity() if in_channels == out_channels and stride == 1 else
                         nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False))

    def forward(self, x):
        _check_x(x, self.in_channels, "WideBlock")
        h = self.conv1(F.relu(self.bn1(x)))
        h = self.conv2(self.dropout(F.relu(self.bn2(h))))
        return h + self.shortcut(x)


RESNET_STAGES = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)),
                 50: ("bottleneck", (3, 4, 6, 3)), 101: ("bottleneck", (3, 4, 23, 3)),
                 152: ("bottleneck", (3, 8, 36, 3))}


def make_resnet(depth: int = 50, num_classes: int = 1000, cardinality: int = 1,
                group_width: int = 64) -> Network:
    """ResNet-18/34/50/101/152 (He et al., 2016, Table 1) for (N, 3, H, W) input (224 x 224 in
    the paper): conv 64@7x7/2 -> BN -> ReLU -> max-pool 3/2, four stages of blocks (64, 128,
    256, 512 base widths; the first block of stages 2-4 halves the size with stride 2 and a
    projection shortcut), global average pooling, one linear layer.

    For depth 50/101 with cardinality > 1 the bottlenecks become ResNeXt blocks with a middle
    width of cardinality * group_width * 2^(stage - 1) (ResNeXt-50 32x4d: cardinality=32,
    group_width=4).
    """
    if depth not in RESNET_STAGES:
        raise ValueError(f"make_resnet: depth must be one of {sorted(RESNET_STAGES)}, "
                         f"got {depth!r}")
    kind, counts = RESNET_STAGES[depth]
    if cardinality > 1 and kind == "basic":
        raise ValueError("make_resnet: cardinality > 1 needs a bottleneck depth (50, 101, 152)")
    layers = [("conv1", nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)),
              ("bn1", nn.BatchNorm2d(64)), ("relu", nn.ReLU()),
              ("pool1", nn.MaxPool2d(3, 2, padding=1))]
    cin = 64
    for s, n in enumerate(counts):
        width = 64 * 2 ** s
        blocks = []
        for b in range(n):
            stride = 2 if (s > 0 and b == 0) else 1
            if kind == "basic":
                blk = BasicBlock(cin, width, stride)
            else:
                mid = width if cardinality == 1 else cardinality * group_width * 2 ** s
                blk = Bottleneck(cin, mid, 4 * width, stride, groups=cardinality)
            blocks.append(blk)
            cin = blk.out_channels
        layers.append((f"stage{s + 1}", nn.Sequential(*blocks)))
    layers += [("avgpool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
               ("fc", nn.Linear(cin, num_classes))]
    net = Network(OrderedDict(layers), 3, None, f"ResNet-{depth}")
    for m in net.modules():  # He et al. (2015) initialisation, as in the paper
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return net



# --------------------------------------------------------------------------------------------
# A small plain or residual CNN for the digits, and its gradients
# --------------------------------------------------------------------------------------------
def make_digits_net(num_blocks: int = 8, width: int = 16, residual: bool = True,
                    num_classes: int = 10, in_channels: int = 1, seed: int | None = 0) -> Network:
    """A deep CNN for small images: conv3x3 (in_channels -> width) -> BN -> ReLU, then
    num_blocks BasicBlocks of width channels (with identity shortcuts if residual, without any
    shortcut otherwise: a "plain" net), global average pooling and a linear layer. It has
    2 * num_blocks + 2 weight layers. x: (N, in_channels, H, W) -> (N, num_classes).
    Convolutions are He-initialised (fan_out, as in torchvision's ResNet)."""
    who = "make_digits_net"
    integer(who, "num_blocks", num_blocks, 0)
    integer(who, "width", width, 1)

    def build():
        layers = [("stem", nn.Conv2d(in_channels, width, 3, padding=1, bias=False)),
                  ("bn", nn.BatchNorm2d(width)), ("relu", nn.ReLU())]
        layers += [(f"block{i + 1}", BasicBlock(width, width,
                                               shortcut="auto" if residual else "none"))
                   for i in range(num_blocks)]
        layers += [("avgpool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
                   ("fc", nn.Linear(width, num_classes))]
        net = Network(OrderedDict(layers), in_channels, None,
                      f"{'residual' if residual else 'plain'} net")
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        return net

    if seed is None:
        return build()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def layer_gradient_norms(model: nn.Module, X, y) -> np.ndarray:
    """Euclidean norm of the cross-entropy gradient of every Conv2d and Linear weight, in the
    order of model.modules(), after one forward/backward pass of (X, y) in training mode.
    X: (N, C, H, W) float, y: (N,) int labels -> (L,) float64. The model's .grad fields are
    cleared afterwards; BatchNorm's running statistics are restored."""
    Xt = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    if Xt.dim() != 4 or yt.shape != (Xt.shape[0],):
        raise ValueError(f"layer_gradient_norms: X must be (N, C, H, W) and y (N,), got "
                         f"{tuple(Xt.shape)} and {tuple(yt.shape)}")
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    buffers = {k: v.clone() for k, v in model.state_dict().items() if "running" in k
               or "num_batches" in k}
    was = model.training
    model.train()
    model.zero_grad()
    F.cross_entropy(model(Xt), yt).backward()
    norms = np.array([float(w.grad.norm()) for w in weights])
    model.zero_grad(set_to_none=True)
    model.load_state_dict(buffers, strict=False)
    model.train(was)
    return norms
