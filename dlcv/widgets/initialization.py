"""Lecture 05's widget: how initialisation shapes the activations and gradients of a deep net.

    view = InitializationView()
    view            # last line of a cell

Top: histograms of the activations of up to eight layers, spread from the first to the last.
Bottom: per-layer standard deviation of the activations, of the weight gradients (both on a log
scale), and the fraction of saturated units. Controls: activation, initialisation, depth, width,
a multiplier on the weights' std, and batch normalisation before every non-linearity.
The numbers come from dlcv.initialization.layer_statistics (torch, a fraction of a second).
"""

from __future__ import annotations

from functools import lru_cache

import ipywidgets as widgets
import numpy as np

from dlcv.initialization import ACTIVATIONS, INITS, HistogramRow, layer_statistics, verdict
from dlcv.widgets.base import FigureView, dropdown, slider

PANELS = 8  # histograms shown (layers spread over the depth)
MAX_DEPTH = 20
VERDICT_COLORS = {"healthy": "#009E73"}  # everything else is shown in red


@lru_cache(maxsize=64)
def _stats(activation, init, depth, width, batch, scale, batch_norm, seed):
    return layer_statistics(activation, init, depth=depth, width=width, batch=batch, scale=scale,
                            batch_norm=batch_norm, seed=seed)


def _log_limits(*arrays) -> tuple[float, float]:
    """y-limits of a log axis that show every positive finite value, at least one decade."""
    v = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return 1e-3, 1e3
    lo, hi = np.log10(v.min()), np.log10(v.max())
    mid = 0.5 * (lo + hi)
    lo, hi = min(lo, mid - 1), max(hi, mid + 1)
    return 10 ** (lo - 0.3), 10 ** (hi + 0.3)


class InitializationView(FigureView):
    """Activation histograms and per-layer statistics of a deep fully connected net at init.

    Controls (attributes): activation, init (dropdowns), depth, width, scale (a multiplier on the
    prescribed weight std, log slider), batch_norm (checkbox). After each update, `stats` holds
    the LayerStats and `diagnosis` the verdict string.
    Artists: hist (a HistogramRow), std_line, grad_line, sat_line, and one marker per panel
    layer on the std curve (layer_marks).
    """

    def __init__(self, activation: str = "tanh", init: str = "small", depth: int = 10,
                 width: int = 500, scale: float = 1.0, batch_norm: bool = False,
                 batch: int = 500, seed: int = 0):
        super().__init__(figsize=(11.0, 5.4))
        if activation not in ACTIVATIONS:
            raise ValueError(f"InitializationView: activation must be one of {list(ACTIVATIONS)}, "
                             f"got {activation!r}")
        if init not in INITS:
            raise ValueError(f"InitializationView: init must be one of {list(INITS)}, got {init!r}")
        if not (isinstance(depth, int) and 2 <= depth <= MAX_DEPTH):
            raise ValueError(f"InitializationView: depth must be an int in 2..{MAX_DEPTH}, "
                             f"got {depth!r}")
        if not (isinstance(width, int) and 50 <= width <= 1000):
            raise ValueError(f"InitializationView: width must be an int in 50..1000, got {width!r}")
        if not 0.1 <= scale <= 10:
            raise ValueError(f"InitializationView: scale must be in 0.1..10, got {scale!r}")
        self.batch, self.seed = batch, seed

        self.activation = dropdown("activation", list(ACTIVATIONS), activation, width="200px")
        self.init = dropdown("init", {f"{k}: {v[0]}": k for k, v in INITS.items()}, init,
                             width="330px")
        self.batch_norm = widgets.Checkbox(value=batch_norm, description="batch norm before f",
                                           indent=False, layout=widgets.Layout(width="200px"))
        self.depth = slider("depth (layers)", depth, 2, MAX_DEPTH, 1)
        self.width = slider("width (units)", width, 50, 1000, 50)
        self.scale = slider("weight std ×", float(scale), -1, 1, 0.05, ".2f", log=True)
        self.watch(self.activation, self.init, self.batch_norm, self.depth, self.width, self.scale)

        # -- figure ----------------------------------------------------------------------------
        fig = self.fig
        w = 0.92 / PANELS
        hist_axes = [fig.add_axes((0.04 + i * w, 0.64, w - 0.025, 0.27))
                     for i in range(PANELS)]
        self.hist = HistogramRow(hist_axes)
        self.suptitle = fig.text(0.5, 0.975, "", ha="center", va="top", fontsize=10)

        self.ax_std = fig.add_axes((0.06, 0.09, 0.26, 0.38))
        self.ax_grad = fig.add_axes((0.39, 0.09, 0.26, 0.38))
        self.ax_sat = fig.add_axes((0.72, 0.09, 0.26, 0.38))
        x0 = np.arange(1, 3)
        (self.std_line,) = self.ax_std.plot(x0, x0, "o-", ms=3, color="#0072B2")
        self.layer_marks = self.ax_std.scatter([], [], s=40, facecolors="none",
                                               edgecolors="#D55E00", zorder=3)
        (self.grad_line,) = self.ax_grad.plot(x0, x0, "o-", ms=3, color="#D55E00")
        (self.sat_line,) = self.ax_sat.plot(x0, x0, "o-", ms=3, color="#CC79A7")
        for ax, t in ((self.ax_std, "std of activations $h_l$"),
                      (self.ax_grad, "std of weight gradients $\\partial L/\\partial W_l$"),
                      (self.ax_sat, "fraction of saturated units")):
            ax.set_title(t, fontsize=9)
            ax.set_xlabel("layer", fontsize=8, labelpad=1)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        self.ax_std.set_yscale("log")
        self.ax_grad.set_yscale("log")
        self.ax_sat.set_ylim(-0.03, 1.03)
        self.update()

    def control_rows(self):
        return [[self.activation, self.init, self.batch_norm],
                [self.depth, self.width, self.scale]]

    def update(self):
        depth = int(self.depth.value)
        s = _stats(self.activation.value, self.init.value, depth, int(self.width.value),
                   self.batch, round(float(self.scale.value), 4), bool(self.batch_norm.value),
                   self.seed)
        self.stats, self.diagnosis = s, verdict(s)
        self.hist.set_stats(s)

        layers = np.arange(1, depth + 1)
        self.std_line.set_data(layers, s.std)
        marks = np.array(self.hist.layers)
        self.layer_marks.set_offsets(np.column_stack([marks + 1, s.std[marks]]))
        self.grad_line.set_data(layers, s.grad_std)
        self.sat_line.set_data(layers, s.saturated)
        for ax in (self.ax_std, self.ax_grad, self.ax_sat):
            ax.set_xlim(0.5, depth + 0.5)
            ax.set_xticks(np.unique(np.linspace(1, depth, min(depth, 10)).round().astype(int)))
        self.ax_std.set_ylim(*_log_limits(s.std))
        self.ax_grad.set_ylim(*_log_limits(s.grad_std))

        bn = " + batch norm" if s.batch_norm else ""
        self.suptitle.set_text(
            f"{s.activation} net, {depth} layers of {s.width} units, "
            f"weights ~ N(0, {s.weight_std:.3g}²)"
            f" [{s.init}{'' if self.scale.value == 1 else f' × {self.scale.value:.2f}'}]{bn}:"
            f" activations of {len(marks)} layers")
        color = VERDICT_COLORS.get(self.diagnosis, "#D55E00")
        self.readout.value = (
            f"layer 1: std {s.std[0]:.3g} → layer {depth}: std {s.std[-1]:.3g} &nbsp;·&nbsp; "
            f"weight-gradient std {s.grad_std[0]:.3g} (layer 1) vs {s.grad_std[-1]:.3g} "
            f"(layer {depth}) &nbsp;·&nbsp; saturated in the last layer {s.saturated[-1]:.0%}"
            f" &nbsp;·&nbsp; <b style='color:{color}'>{self.diagnosis}</b>")
        self.render()
