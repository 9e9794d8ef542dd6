"""Block diagrams of CNNs (lecture 07), read off the network itself so that the drawing and the
code cannot disagree.

    network_layout(net, input_shape)      the boxes of a network in the order its layers run
                                          (convolutions, pools, inception modules, the classifier)
                                          with their output shapes, and the shortcuts of its
                                          residual blocks -> Layout
    draw_network(ax, layout)              the layout as a row of boxes joined by arrows, each
                                          shortcut an arc over its block (dashed: a projection)

Boxes are coloured by kernel size as in the block cost widget (blue 1x1, orange 3x3, red 5x5,
purple 7x7). Batch norm and ReLU are not drawn: in dlcv's ResNets every convolution is followed
by both (the last ReLU of a block after the addition).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.colors import to_rgb
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from torch import nn

from dlcv.convolution.architectures import BasicBlock, Bottleneck, InceptionModule
from dlcv.convolution.costs import layer_table

KERNEL_COLORS = {1: "#56B4E9", 3: "#E69F00", 5: "#D55E00", 7: "#CC79A7"}
OTHER_COLORS = {"input": "#F4B6B6", "pool": "#DDDDDD", "inception": "#C9B8E8", "fc": "#B8E0C8",
                "conv": "#BBBBBB"}


@dataclass(frozen=True)
class Box:
    """One drawn layer: label (e.g. "3x3 conv, 128, /2"), kind ("input", "conv", "pool",
    "inception", "fc"), kernel (the conv's kernel size, else 0), out_shape (C, H, W) or (F,)
    of one example, and name (the layer's name in the network)."""

    label: str
    kind: str
    kernel: int
    out_shape: tuple[int, ...]
    name: str


@dataclass(frozen=True)
class Shortcut:
    """The shortcut of a residual block from the input of box `start` to the output of box
    `end` (indices into Layout.boxes); projection: a 1x1 convolution (with its stride), else the
    identity."""

    start: int
    end: int
    projection: bool
    label: str


@dataclass(frozen=True)
class Layout:
    """boxes in the order the layers run (boxes[0] is the input), and the shortcuts."""

    boxes: tuple[Box, ...]
    shortcuts: tuple[Shortcut, ...]
    title: str


def _conv_label(m: nn.Conv2d) -> str:
    label = f"{m.kernel_size[0]}x{m.kernel_size[1]} conv, {m.out_channels}"
    if m.groups > 1:
        label += f", g{m.groups}"
    return label + (f", /{m.stride[0]}" if m.stride[0] > 1 else "")


def network_layout(net: nn.Module, input_shape: Sequence[int]) -> Layout:
    """The boxes and shortcuts of `net` for an input of input_shape (e.g. (1, 3, 224, 224)),
    found by running it once (layer_table: build a large network with build_on_meta and this
    costs nothing). Every Conv2d, pooling layer and Linear is a box; an InceptionModule is one
    box; a BasicBlock or Bottleneck adds its convolutions and a Shortcut over them (none for a
    plain block, shortcut="none"). A convolution inside a shortcut is the shortcut's label,
    not a box."""
    if not isinstance(net, nn.Module):
        raise ValueError(f"network_layout: net must be a torch nn.Module, got "
                         f"{type(net).__name__}")
    rows = layer_table(net, input_shape)
    mods = dict(net.named_modules())
    blocks = [n for n, m in mods.items() if isinstance(m, BasicBlock | Bottleneck)]
    inceptions = [n for n, m in mods.items() if isinstance(m, InceptionModule)]

    def owner(name, owners):
        return next((o for o in owners if name.startswith(o + ".")), None)

    boxes = [Box("input", "input", 0, tuple(input_shape[1:]), "input")]
    spans: dict[str, list[int]] = {}        # block -> indices of its convolution boxes
    projections: dict[str, str] = {}        # block -> label of its projection
    for r in rows:
        m = mods[r.name]
        block, inception = owner(r.name, blocks), owner(r.name, inceptions)
        if inception is not None:
            if boxes[-1].name != inception:  # its branches' outputs, concatenated
                boxes.append(Box(f"inception {inception.removeprefix('inception')}",
                                 "inception", 0,
                                 (mods[inception].out_channels,) + r.out_shape[2:], inception))
            continue
        if block is not None and r.name.startswith(block + ".shortcut"):
            if isinstance(m, nn.Conv2d):
                projections[block] = _conv_label(m)
            continue
        if isinstance(m, nn.Conv2d):
            boxes.append(Box(_conv_label(m), "conv", m.kernel_size[0], r.out_shape[1:], r.name))
            if block is not None:
                spans.setdefault(block, []).append(len(boxes) - 1)
        elif isinstance(m, nn.MaxPool2d | nn.AvgPool2d):
            s = m.stride if isinstance(m.stride, int) else m.stride[0]
            kind = "max" if isinstance(m, nn.MaxPool2d) else "avg"
            boxes.append(Box(f"{kind} pool" + (f", /{s}" if s > 1 else ""), "pool", 0,
                             r.out_shape[1:], r.name))
        elif isinstance(m, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
            boxes.append(Box("global avg pool", "pool", 0, r.out_shape[1:], r.name))
        elif isinstance(m, nn.Linear):
            boxes.append(Box(f"fc {m.out_features}", "fc", 0, r.out_shape[1:], r.name))
    if len(boxes) == 1:
        raise ValueError("network_layout: net has no convolution, pooling or linear layer")
    shortcuts = tuple(Shortcut(idx[0], idx[-1], b in projections, projections.get(b, ""))
                      for b, idx in spans.items() if mods[b].shortcut is not None)
    return Layout(tuple(boxes), shortcuts, getattr(net, "name", type(net).__name__))


def _light(color: str, amount: float = 0.45) -> tuple[float, float, float]:
    return tuple(1 - amount * (1 - c) for c in to_rgb(color))


def box_color(box: Box) -> tuple[float, float, float]:
    """The fill of a box: its kernel size's colour for a convolution, else its kind's."""
    if box.kind == "conv":
        return _light(KERNEL_COLORS.get(box.kernel, OTHER_COLORS["conv"]))
    return _light(OTHER_COLORS[box.kind], 1.0)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape) if len(shape) != 3 else \
        f"{shape[0]}\n{shape[1]}x{shape[2]}"


def draw_network(ax, layout: Layout, width: float = 0.62, height: float = 2.2,
                 fontsize: float = 7) -> None:
    """Draw layout on ax: the boxes left to right (text upwards), arrows between them, the
    shortcuts as arcs above (identity solid, projection dashed with its label), and under a box
    its output shape (channels, then height x width) wherever the shape changes."""
    if not isinstance(layout, Layout):
        raise ValueError(f"draw_network: layout must be a Layout (network_layout), got "
                         f"{type(layout).__name__}")
    n = len(layout.boxes)
    for i, b in enumerate(layout.boxes):
        ax.add_patch(FancyBboxPatch((i - width / 2, -height / 2), width, height,
                                    boxstyle="round,pad=0.03", fc=box_color(b), ec="0.25",
                                    lw=0.9, zorder=2))
        ax.text(i, 0, b.label, rotation=90, ha="center", va="center", fontsize=fontsize,
                zorder=3)
        if i:
            ax.add_patch(FancyArrowPatch((i - 1 + width / 2 + 0.03, 0), (i - width / 2 - 0.03, 0),
                                         arrowstyle="-|>", mutation_scale=7, color="0.2",
                                         lw=0.9, shrinkA=0, shrinkB=0, zorder=1))
        if i == 0 or b.out_shape != layout.boxes[i - 1].out_shape:
            ax.text(i, -height / 2 - 0.15, _shape_text(b.out_shape), ha="center", va="top",
                    fontsize=fontsize - 0.5, color="0.3")
    top = height / 2 + 0.05
    for s in layout.shortcuts:
        a, b = s.start - 0.5, s.end + 0.5  # from the block's input to the addition after it
        ax.add_patch(FancyArrowPatch((a, top), (b, top), arrowstyle="-|>", mutation_scale=7,
                                     color="#D55E00" if s.projection else "0.2", lw=1.0,
                                     ls="--" if s.projection else "-", shrinkA=0, shrinkB=0,
                                     connectionstyle="arc3,rad=-0.45", zorder=1))
        if s.projection:
            ax.text((a + b) / 2, top + 0.55 + 0.12 * (b - a), s.label.replace(", ", " "),
                    ha="center", va="bottom", fontsize=fontsize - 1, color="#D55E00")
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(-height / 2 - 1.0, height / 2 + (1.6 if layout.shortcuts else 0.3))
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(layout.title, fontsize=9)
