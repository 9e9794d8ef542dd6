"""What a CNN costs, counted (lecture 07): parameters and multiply-accumulates per layer,
receptive fields, and the per-convolution costs of one block for the block cost widget.

    count_flops(module, input_shape)      multiply-accumulates of Conv2d and Linear layers for an
                                          input of input_shape, e.g. (1, 3, 224, 224) -> int
    layer_table(module, input_shape)      per layer: type, output shape, parameters, MACs (a
                                          LayerTable of LayerRow: totals, .where("Conv2d"))
    receptive_field(module)               side of the receptive field of a chain of convs and
                                          pools, in input pixels -> int
    build_on_meta(fn, ...)                build a (large) network without allocating its weights
    block_costs(block, channels, size)    one of BLOCKS on a (1, channels, size, size) input:
                                          (LayerTable of its convolutions, {"out_shape", ...})

count_parameters(module), the learnable numbers, is lecture 04's (dlcv.networks.mlp). The networks
and blocks counted here are defined in dlcv.convolution.architectures and
dlcv.convolution.variants.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dlcv.convolution.architectures import BasicBlock, Bottleneck, InceptionModule
from dlcv.convolution.variants import DenseBlock, FireModule, MLPConv
from dlcv.validate import integer


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------
def _check_shape(input_shape, who: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in input_shape)
    except TypeError:
        shape = ()
    if len(shape) < 2 or any(s < 1 for s in shape) or \
            any(isinstance(s, bool) or float(s) != int(s) for s in input_shape):
        raise ValueError(f"{who}: input_shape must be a tuple of positive ints such as "
                         f"(1, 3, 224, 224), got {input_shape!r}")
    return shape


# --------------------------------------------------------------------------------------------
# Counting (count_parameters comes from lecture 04's room, dlcv.networks.mlp)
# --------------------------------------------------------------------------------------------
def build_on_meta(fn: Callable[..., nn.Module], *args, **kwargs) -> nn.Module:
    """fn(*args, **kwargs) built on torch's meta device: parameters have shapes but no storage,
    so VGG-16's 138M weights cost no memory and no time to initialise. count_parameters,
    count_flops and layer_table work on such a module; running it on data does not."""
    with torch.device("meta"):
        return fn(*args, **kwargs)


def _device(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _macs(m: nn.Module, out: torch.Tensor, inp: torch.Tensor | None = None) -> int:
    """Multiply-accumulates of one call of a Conv2d, ConvTranspose2d or Linear layer that
    produced `out` from `inp`."""
    if isinstance(m, nn.ConvTranspose2d):
        if inp is None:
            return 0
        kh, kw = m.kernel_size  # every input number stamps a kernel into each output channel
        return int(inp.numel() * (m.out_channels // m.groups) * kh * kw)
    if isinstance(m, nn.Conv2d):
        kh, kw = m.kernel_size
        return int(out.numel() * (m.in_channels // m.groups) * kh * kw)  # per output number
    if isinstance(m, nn.Linear):
        return int(out.numel() * m.in_features)
    return 0


@dataclass
class LayerRow:
    """One call of a leaf module: its name in the network, its type, its output shape, its
    own parameters and the multiply-accumulates of that call."""

    name: str
    kind: str
    out_shape: tuple[int, ...]
    params: int
    macs: int

    @property
    def activations(self) -> int:
        """Numbers in the output (memory per forward pass = 4 bytes each in float32)."""
        return int(np.prod(self.out_shape))


class LayerTable(list):
    """A list of LayerRow that prints as an aligned table with totals."""

    @property
    def params(self) -> int:
        return sum(r.params for r in self)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self)

    @property
    def activations(self) -> int:
        return sum(r.activations for r in self)

    def where(self, *kinds: str) -> LayerTable:
        """The rows whose kind is one of `kinds` (e.g. table.where("Conv2d"))."""
        return LayerTable(r for r in self if r.kind in kinds)

    def __str__(self) -> str:
        lines = [f"{'layer':<18}{'type':<18}{'output shape':<22}{'parameters':>13}"
                 f"{'MACs':>16}"]
        for r in self:
            shape = " x ".join(str(s) for s in r.out_shape[1:])
            lines.append(f"{r.name[:17]:<18}{r.kind[:17]:<18}{shape:<22}{r.params:>13,d}"
                         f"{r.macs:>16,d}")
        lines.append(f"{'total':<58}{self.params:>13,d}{self.macs:>16,d}")
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle):  # IPython shows the table, not a list of rows
        p.text(str(self))


_SHAPE_KEEPING = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Dropout, nn.LocalResponseNorm, nn.Identity)


def layer_table(module: nn.Module, input_shape: Sequence[int],
                all_layers: bool = False) -> LayerTable:
    """Run one forward pass of a zero input of `input_shape` (e.g. (1, 3, 224, 224)) through
    `module` in eval mode, recording every call of a leaf module (one without children), in the
    order of execution.

    Rows of activations, dropout and LRN (no parameters, same output shape) are left out unless
    all_layers=True. The forward pass runs on the module's device: build a large network with
    build_on_meta and it costs (almost) nothing. MACs as in count_flops.
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f"layer_table: module must be a torch nn.Module, got "
                         f"{type(module).__name__}")
    shape = _check_shape(input_shape, "layer_table")
    rows = LayerTable()
    names = {m: n for n, m in module.named_modules()}

    def hook(m, inputs, out):
        if not isinstance(out, torch.Tensor):
            return
        if not all_layers and isinstance(m, _SHAPE_KEEPING):
            return
        own = sum(p.numel() for p in m.parameters(recurse=False))
        rows.append(LayerRow(names.get(m, "?") or type(m).__name__, type(m).__name__,
                             tuple(out.shape), int(own),
                             _macs(m, out, inputs[0] if inputs and isinstance(inputs[0], torch.Tensor)
                                   else None)))

    leaves = [m for m in module.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was = module.training
    module.eval()
    try:
        with torch.no_grad():
            module(torch.zeros(shape, device=_device(module)))
    except (RuntimeError, ValueError) as e:
        raise ValueError(f"layer_table: input_shape {shape} does not fit the module: "
                         f"{str(e).splitlines()[0]}") from e
    finally:
        for h in handles:
            h.remove()
        module.train(was)
    return rows


def count_flops(module: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates (MACs) of one forward pass of an input of `input_shape`.

    What is counted: every call of an nn.Conv2d, Cout * (Cin / groups) * kh * kw * Hout * Wout
    per example, and of an nn.Linear, in_features * out_features per example (per row of its
    input). Bias additions, activations, pooling, normalisation, residual additions and
    concatenations are not counted: they are a small fraction of the work. One MAC is a multiply
    and an add; papers such as He et al. (2016) call these "FLOPs", so "3.6 GFLOPs" of ResNet-34
    means 3.6e9 MACs. Use a batch of 1 for the cost per image.
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f"count_flops: module must be a torch nn.Module, got "
                         f"{type(module).__name__}")
    return layer_table(module, input_shape).macs


def receptive_field(module: nn.Module) -> int:
    """Side of the receptive field of one output unit of a chain of Conv2d / MaxPool2d /
    AvgPool2d layers, in input pixels (activations and normalisation layers do not change it).
    A thin wrapper of dlcv.convolution.arithmetic.receptive_field, which also gives the jump and the start
    and explains the recurrence. For chains only: a block with parallel branches has one field
    per path."""
    from dlcv.convolution.arithmetic import receptive_field as _receptive_field

    return _receptive_field(module).size


# --------------------------------------------------------------------------------------------
# Blocks at a given width, for the widget
# --------------------------------------------------------------------------------------------
def _block_factory(name: str, C: int, cardinality: int) -> nn.Module:
    if name == "two 3x3 convs (ResNet basic)":
        return BasicBlock(C, C)
    if name == "ResNet bottleneck":
        return Bottleneck(C, C // 4, C)
    if name == "ResNeXt (grouped 3x3)":
        return Bottleneck(C, C // 2, C, groups=int(np.gcd(cardinality, C // 2)))
    if name == "inception, naive":
        return InceptionModule(C, C // 2, 3 * C // 4, 3 * C // 8)
    if name == "inception with 1x1 bottlenecks":
        return InceptionModule(C, C // 2, 3 * C // 4, 3 * C // 8, reduce3=C // 4,
                               reduce5=C // 4, pool_proj=C // 4)
    if name == "fire module (SqueezeNet)":
        return FireModule(C, C // 8, C // 2, C // 2)
    if name == "dense block (4 layers, k = 32, BC)":
        return DenseBlock(C, 32, 4, bottleneck=True)
    if name == "mlpconv (NiN: 3x3, 1x1, 1x1)":
        return MLPConv(C, (C, C, C), 3)
    raise ValueError(f"block_costs: block must be one of {BLOCKS}, got {name!r}")


BLOCKS = ("two 3x3 convs (ResNet basic)", "ResNet bottleneck", "ResNeXt (grouped 3x3)",
          "inception, naive", "inception with 1x1 bottlenecks", "fire module (SqueezeNet)",
          "dense block (4 layers, k = 32, BC)", "mlpconv (NiN: 3x3, 1x1, 1x1)")


def block_costs(block: str, channels: int = 256, size: int = 28,
                cardinality: int = 32) -> tuple[LayerTable, dict]:
    """The convolutions of one of BLOCKS built for `channels` input channels (a multiple of 16)
    on a size x size map, counted on the meta device.

    Widths: bottleneck C/4 (out C); ResNeXt middle C/2 split into gcd(cardinality, C/2) groups;
    inception branches C/2, 3C/4, 3C/8 (+ C/4 reductions and pool projection, as GoogLeNet's
    module 3b scaled to C); fire squeeze C/8, expand C/2 + C/2; dense block growth 32 with 1x1
    bottlenecks of 128; mlpconv C -> C -> C.

    Returns (table, info): table has one row per Conv2d call, named like "3x3 conv 64->64 /g32";
    info = {"out_shape": (1, C', H', W'), "reference_macs": MACs of one 3x3 conv C -> C}.
    """
    C = integer("block_costs", "channels", channels, 16)
    if C % 16:
        raise ValueError(f"block_costs: channels must be a multiple of 16, got {C}")
    size = integer("block_costs", "size", size, 1)
    cardinality = integer("block_costs", "cardinality", cardinality, 1)
    with torch.device("meta"):
        blk = _block_factory(block, C, cardinality)
    shape = (1, C, size, size)
    table = layer_table(blk, shape).where("Conv2d")
    mods = dict(blk.named_modules())
    for r in table:
        m = mods[r.name]
        g = f" /g{m.groups}" if m.groups > 1 else ""
        r.name = f"{m.kernel_size[0]}x{m.kernel_size[1]} conv {m.in_channels}->{m.out_channels}{g}"
    with torch.no_grad():
        out_shape = tuple(blk.eval()(torch.zeros(shape, device="meta")).shape)
    return table, {"out_shape": out_shape, "reference_macs": 9 * C * C * size * size}
