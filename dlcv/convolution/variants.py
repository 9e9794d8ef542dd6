"""After ResNet (lecture 07): the blocks of Network in Network, DenseNet, SqueezeNet and
FractalNet, and stochastic depth, as small torch definitions.

    MLPConv(in_channels, channels, kernel_size)
                                          NiN's mlpconv: (N, in, H, W) -> (N, channels[-1], H', W')
    DenseBlock(in_channels, growth_rate, num_layers, bottleneck)
                                          (N, in, H, W) -> (N, in + num_layers * growth_rate, H, W)
    FireModule(in_channels, squeeze, expand1x1, expand3x3)
                                          (N, in, H, W) -> (N, expand1x1 + expand3x3, H, W)
    make_squeezenet(num_classes)          SqueezeNet v1.0: (N, 3, 224, 224) -> (N, num_classes)
    FractalBlock(in_channels, out_channels, columns, drop_path)
                                          (N, in, H, W) -> (N, out, H, W)
    stochastic_depth(x, p, training)      drop a residual branch's output x: (N, ...) with
                                          probability p in training -> same shape
    StochasticDepthBlock(residual, p)     ReLU(shortcut(x) + stochastic_depth(residual(x), p)):
                                          (N, C, H, W) -> the shortcut's output shape

Wide ResNet's block and ResNeXt's (a grouped bottleneck) are residual blocks: they are in
dlcv.convolution.architectures, whose Network and input checks these blocks reuse. What they
cost is counted by dlcv.convolution.costs.

Layers, gradients and updates come from torch; writing convolution and pooling layers in numpy
is assignment a3's job, so this module never does.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dlcv.convolution.architectures import Network, _check_x, _conv_relu
from dlcv.validate import integer


# --------------------------------------------------------------------------------------------
# NiN, DenseNet, SqueezeNet, FractalNet
# --------------------------------------------------------------------------------------------
class MLPConv(nn.Module):
    """Network in Network's mlpconv layer (Lin, Chen & Yan, 2014): a kxk convolution followed
    by two 1x1 convolutions, each with a ReLU: a small MLP slid over every position.
    x: (N, in_channels, H, W) -> (N, channels[-1], H', W')."""

    def __init__(self, in_channels: int, channels: Sequence[int] = (192, 160, 96),
                 kernel_size: int = 5, stride: int = 1, padding: int | None = None):
        super().__init__()
        who = "MLPConv"
        self.in_channels = integer(who, "in_channels", in_channels, 1)
        if len(channels) < 1:
            raise ValueError(f"{who}: channels must hold at least one width, got {channels!r}")
        pad = kernel_size // 2 if padding is None else padding
        mods, c = [], in_channels
        for i, w in enumerate(channels):
            integer(who, "channels[i]", w, 1)
            k = kernel_size if i == 0 else 1
            mods += [nn.Conv2d(c, w, k, stride=stride if i == 0 else 1, padding=pad if i == 0
                               else 0), nn.ReLU()]
            c = w
        self.layers = nn.Sequential(*mods)
        self.out_channels = c

    def forward(self, x):
        _check_x(x, self.in_channels, "MLPConv")
        return self.layers(x)


class DenseBlock(nn.Module):
    """DenseNet's dense block (Huang et al., 2017): layer l sees the concatenation of the block's
    input and all earlier layers' outputs and adds growth_rate new channels.
    x: (N, in_channels, H, W) -> (N, in_channels + num_layers * growth_rate, H, W).

    Each layer is BN -> ReLU -> conv3x3 (growth_rate); with bottleneck=True (DenseNet-B) it is
    BN -> ReLU -> conv1x1 (4 * growth_rate) -> BN -> ReLU -> conv3x3 (growth_rate).
    """

    def __init__(self, in_channels: int, growth_rate: int = 12, num_layers: int = 4,
                 bottleneck: bool = False):
        super().__init__()
        who = "DenseBlock"
        self.in_channels = integer(who, "in_channels", in_channels, 1)
        k = integer(who, "growth_rate", growth_rate, 1)
        integer(who, "num_layers", num_layers, 1)
        self.layers = nn.ModuleList()
        c = in_channels
        for _ in range(num_layers):
            if bottleneck:
                layer = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(),
                                      nn.Conv2d(c, 4 * k, 1, bias=False),
                                      nn.BatchNorm2d(4 * k), nn.ReLU(),
                                      nn.Conv2d(4 * k, k, 3, padding=1, bias=False))
            else:
                layer = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(),
                                      nn.Conv2d(c, k, 3, padding=1, bias=False))
            self.layers.append(layer)
            c += k
        self.out_channels = c

    def forward(self, x):
        _check_x(x, self.in_channels, "DenseBlock")
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))  # (N, k, H, W) each
        return torch.cat(features, dim=1)


class FireModule(nn.Module):
    """SqueezeNet's fire module (Iandola et al., 2016): a 1x1 "squeeze" convolution to few
    channels, then an "expand" layer of parallel 1x1 and 3x3 convolutions whose outputs are
    concatenated, all with ReLU. x: (N, in, H, W) -> (N, expand1x1 + expand3x3, H, W)."""

    def __init__(self, in_channels: int, squeeze: int, expand1x1: int, expand3x3: int):
        super().__init__()
        who = "FireModule"
        self.in_channels = integer(who, "in_channels", in_channels, 1)
        for name, v in (("squeeze", squeeze), ("expand1x1", expand1x1),
                        ("expand3x3", expand3x3)):
            integer(who, name, v, 1)
        self.squeeze = _conv_relu(in_channels, squeeze, 1)
        self.expand1x1 = _conv_relu(squeeze, expand1x1, 1)
        self.expand3x3 = _conv_relu(squeeze, expand3x3, 3)
        self.out_channels = expand1x1 + expand3x3

    def forward(self, x):
        _check_x(x, self.in_channels, "FireModule")
        s = self.squeeze(x)                                             # (N, squeeze, H, W)
        return torch.cat([self.expand1x1(s), self.expand3x3(s)], dim=1)


SQUEEZENET_FIRES = OrderedDict([
    ("fire2", (96, 16, 64, 64)), ("fire3", (128, 16, 64, 64)), ("fire4", (128, 32, 128, 128)),
    ("fire5", (256, 32, 128, 128)), ("fire6", (256, 48, 192, 192)),
    ("fire7", (384, 48, 192, 192)), ("fire8", (384, 64, 256, 256)),
    ("fire9", (512, 64, 256, 256)),
])


def make_squeezenet(num_classes: int = 1000) -> Network:
    """SqueezeNet v1.0 (Iandola et al., 2016, Table 1) for (N, 3, 224, 224) input: conv 96@7x7/2,
    max-pool, fire2-4, max-pool, fire5-8, max-pool, fire9, dropout, conv 1x1 to num_classes,
    global average pooling. No fully connected layer. 1,248,424 parameters."""
    layers = [("conv1", _conv_relu(3, 96, 7, stride=2)),
              ("pool1", nn.MaxPool2d(3, 2, ceil_mode=True))]
    for name, args in SQUEEZENET_FIRES.items():
        layers.append((name, FireModule(*args)))
        if name in ("fire4", "fire8"):
            layers.append((f"pool{name[-1]}", nn.MaxPool2d(3, 2, ceil_mode=True)))
    layers += [("dropout", nn.Dropout(0.5)), ("conv10", _conv_relu(512, num_classes, 1)),
               ("avgpool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten())]
    return Network(OrderedDict(layers), 3, None, "SqueezeNet")


class FractalBlock(nn.Module):
    """FractalNet's block (Larsson et al., 2017), defined by the expansion rule
    f_1(z) = conv(z),  f_{C+1}(z) = join(f_C(f_C(z)), conv(z)),
    where conv is conv3x3 -> BN -> ReLU and join is the element-wise mean. With C `columns`
    it holds 2^C - 1 convolutions and its longest path has 2^(C-1) of them; no shortcut is an
    identity. In training, drop_path is the probability of dropping each input of a join
    ("local drop-path"; at least one input always survives). x: (N, in, H, W) -> (N, out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, columns: int = 3,
                 drop_path: float = 0.0):
        super().__init__()
        who = "FractalBlock"
        self.in_channels = integer(who, "in_channels", in_channels, 1)
        self.out_channels = integer(who, "out_channels", out_channels, 1)
        self.columns = integer(who, "columns", columns, 1)
        if not 0 <= drop_path < 1:
            raise ValueError(f"{who}: drop_path must be in [0, 1), got {drop_path}")
        self.drop_path = drop_path
        self.short = nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(out_channels), nn.ReLU())
        if columns > 1:
            self.first = FractalBlock(in_channels, out_channels, columns - 1, drop_path)
            self.second = FractalBlock(out_channels, out_channels, columns - 1, drop_path)

    def forward(self, x):
        _check_x(x, self.in_channels, "FractalBlock")
        short = self.short(x)
        if self.columns == 1:
            return short
        deep = self.second(self.first(x))
        if self.training and self.drop_path > 0:
            keep = torch.rand(2) >= self.drop_path
            if not keep.any():
                keep[torch.randint(2, (1,))] = True
            paths = [p for p, k in zip((deep, short), keep.tolist(), strict=True) if k]
            return torch.stack(paths).mean(0)
        return 0.5 * (deep + short)


def stochastic_depth(x: torch.Tensor, p: float, training: bool, mode: str = "row") -> torch.Tensor:
    """Drop the residual branch output x: (N, ...) with probability p (Huang et al., 2016).

    In training, mode="row" drops it for each example independently, mode="batch" for the
    whole minibatch at once (as in the paper); what survives is divided by 1 - p, so the
    expected output is x. In eval mode (training=False) x is returned unchanged: the identity.
    (The paper instead multiplies by the survival probability 1 - p at test time; the two are
    the same up to a rescaling of the branch's weights.)
    """
    if not 0 <= p <= 1:
        raise ValueError(f"stochastic_depth: p must be in [0, 1], got {p}")
    if mode not in ("row", "batch"):
        raise ValueError(f"stochastic_depth: mode must be 'row' or 'batch', got {mode!r}")
    if not training or p == 0:
        return x
    if p == 1:
        return torch.zeros_like(x)
    shape = (x.shape[0],) + (1,) * (x.dim() - 1) if mode == "row" else (1,) * x.dim()
    keep = (torch.rand(shape, device=x.device) >= p).to(x.dtype)  # 1 with probability 1 - p
    return x * keep / (1 - p)


class StochasticDepthBlock(nn.Module):
    """A residual block whose residual branch is dropped with probability p in training:
    out = ReLU(shortcut(x) + stochastic_depth(residual(x), p)). In eval mode it is the full
    block, out = ReLU(shortcut(x) + residual(x)).

    residual: any module mapping (N, C, H, W) to the shortcut's output shape (for example a
    BasicBlock's .residual is built from BasicBlock(..., shortcut="none")); shortcut defaults
    to the identity.
    """

    def __init__(self, residual: nn.Module, p: float = 0.5, shortcut: nn.Module | None = None,
                 mode: str = "row"):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"StochasticDepthBlock: p must be in [0, 1], got {p}")
        self.residual, self.p, self.mode = residual, p, mode
        self.shortcut = shortcut if shortcut is not None else nn.Identity()

    def forward(self, x):
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            raise ValueError(f"StochasticDepthBlock: x must be (N, C, H, W), got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x)}")
        s = self.shortcut(x)
        r = self.residual(x)
        if r.shape != s.shape:
            raise ValueError(f"StochasticDepthBlock: the residual branch gives {tuple(r.shape)} "
                             f"but the shortcut gives {tuple(s.shape)}")
        return F.relu(s + stochastic_depth(r, self.p, self.training, self.mode))
