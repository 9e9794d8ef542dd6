"""Lecture 07's widget: what the building blocks of CNN architectures cost, layer by layer.

    view = BlockCostView()
    view            # last line of a cell

Pick a block (two 3x3 convs, ResNet bottleneck, ResNeXt, naive or bottlenecked inception module,
fire module, dense block, mlpconv), its width C (input channels), the feature-map size and the
cardinality of the ResNeXt block. Left: multiply-accumulates of every convolution; right: its
parameters; the readout gives the totals and the output shape. The numbers come from
dlcv.architectures.block_costs (a forward pass on torch's meta device: no real computation).
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import EngFormatter, MaxNLocator

from dlcv.architectures import BLOCKS, block_costs
from dlcv.widgets.base import FigureView, dropdown, slider

MAX_ROWS = 12  # bars drawn (blocks have at most 11 convolutions here)
_COLORS = {"1x1": "#56B4E9", "3x3": "#E69F00", "5x5": "#D55E00", "7x7": "#CC79A7"}


def _color(label: str) -> str:
    for k, c in _COLORS.items():
        if label.startswith(k):
            return c
    return "#999999"


def _human(n: float) -> str:
    for unit, f in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= f:
            return f"{n / f:.3g}{unit}"
    return f"{n:.0f}"


class BlockCostView(FigureView):
    """Per-layer MACs and parameters of one block; controls block, channels, size, cardinality."""

    def __init__(self, block: str = "ResNet bottleneck", channels: int = 256, size: int = 28,
                 cardinality: int = 32):
        super().__init__(figsize=(10.0, 3.9))
        self.block = dropdown("block", list(BLOCKS), value=block, width="330px")
        self.channels = slider("channels C", channels, 16, 512, step=16)
        self.size = slider("map size H = W", size, 7, 56, step=7)
        self.cardinality = dropdown("cardinality (ResNeXt)", [1, 2, 4, 8, 16, 32],
                                    value=cardinality, width="230px")
        self.ax_macs, self.ax_params = self.fig.subplots(1, 2, sharey=True)
        rows = np.arange(MAX_ROWS)
        self.bars_macs = self.ax_macs.barh(rows, np.zeros(MAX_ROWS), color="#999999")
        self.bars_params = self.ax_params.barh(rows, np.zeros(MAX_ROWS), color="#999999")
        self.text_macs = [self.ax_macs.text(0, r, "", va="center", fontsize=7) for r in rows]
        self.text_params = [self.ax_params.text(0, r, "", va="center", fontsize=7) for r in rows]
        self.ax_macs.set_xlabel("multiply-accumulates")
        self.ax_params.set_xlabel("parameters")
        for ax in (self.ax_macs, self.ax_params):
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))
            ax.xaxis.set_major_locator(MaxNLocator(4))
        self.title = self.fig.suptitle("", fontsize=10)
        self.fig.subplots_adjust(left=0.2, right=0.97, wspace=0.08, bottom=0.14, top=0.86)
        self.rows: list = []
        self.watch(self.block, self.channels, self.size, self.cardinality)
        self.update()

    def update(self) -> None:
        table, info = block_costs(self.block.value, self.channels.value, self.size.value,
                                  self.cardinality.value)
        self.rows = list(table)
        n = len(self.rows)
        labels = [r.name for r in self.rows]
        macs = np.array([r.macs for r in self.rows], dtype=float)
        params = np.array([r.params for r in self.rows], dtype=float)
        for i in range(MAX_ROWS):
            on = i < n
            for bars, texts, vals in ((self.bars_macs, self.text_macs, macs),
                                      (self.bars_params, self.text_params, params)):
                bars[i].set_width(vals[i] if on else 0.0)
                bars[i].set_color(_color(labels[i]) if on else "#999999")
                texts[i].set_text(" " + _human(vals[i]) if on else "")
                texts[i].set_position(((vals[i] if on else 0.0), i))
        for ax, vals in ((self.ax_macs, macs), (self.ax_params, params)):
            ax.set_xlim(0, 1.3 * max(vals.max(), 1.0))
        self.ax_macs.set_yticks(np.arange(n))
        self.ax_macs.set_yticklabels(labels, fontsize=8)
        self.ax_macs.set_ylim(max(n, 6) - 0.5, -0.5)  # thin bars for short blocks
        self.title.set_text(f"{self.block.value}: input {self.channels.value} x "
                            f"{self.size.value} x {self.size.value} -> output "
                            f"{' x '.join(str(s) for s in info['out_shape'][1:])}")
        self.stats = dict(macs=table.macs, params=table.params, **info)
        ref = info["reference_macs"]
        self.readout.value = (
            f"<b>{self.block.value}</b>: {table.macs:,d} multiply-accumulates, "
            f"{table.params:,d} parameters, output {info['out_shape'][1:]}.<br>"
            f"For comparison, one 3x3 convolution C &rarr; C on the same map costs {ref:,d} MACs "
            f"(this block: {table.macs / ref:.2f}x).")
        self.render()
