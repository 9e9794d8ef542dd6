"""Lecture 04's activation widget: an activation function, its derivative, and its saturation.

    view = ActivationView()
    view            # last line of a cell

Left: f(x). Middle: f'(x), with the band |f'| < threshold shaded (where a unit passes almost no
gradient back). In both, the shaded vertical band is where 95% of the pre-activations
z ~ N(0, scale^2) fall. Right: the histogram of f'(z) over those pre-activations. The readout
gives the saturated and dead fractions and whether the outputs are zero-centred. The numbers
come from dlcv.activations (derivatives by torch autograd).
"""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Rectangle

from dlcv import activations as A
from dlcv.plots import CLASS_COLORS
from dlcv.widgets.base import FigureView, dropdown, slider

X_RANGE = 8.0  # f and f' are drawn on [-X_RANGE, X_RANGE]
HIST_BINS = np.linspace(-1.025, 1.525, 52)  # bins of f'(z), width 0.05, centred on -1, ..., 1.5
# The one parameter each activation exposes on the slider: (name, min, max, step).
PARAM_SLIDERS = {
    "leaky_relu": ("slope", 0.0, 0.5, 0.01),
    "prelu": ("a", -0.5, 1.0, 0.05),
    "elu": ("alpha", 0.1, 1.5, 0.05),
    "maxout": ("w2", -1.0, 1.0, 0.05),
}
LABELS = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU", "leaky_relu": "leaky ReLU",
          "prelu": "PReLU", "elu": "ELU", "maxout": "maxout (w1=1, b1=b2=0)", "gelu": "GELU",
          "softplus": "softplus"}


class ActivationView(FigureView):
    """Controls (attributes): name (dropdown of activations), param (the activation's parameter:
    leaky slope, PReLU a, ELU alpha, maxout's second slope w2; disabled for the others), scale
    (the standard deviation of the pre-activations z). threshold: |f'| below it counts as
    saturated. values: the latest dlcv.activations.summary(...) dict."""

    def __init__(self, name: str = "sigmoid", scale: float = 1.0, threshold: float = 0.05,
                 n: int = 20000, seed: int = 0):
        super().__init__(figsize=(11.5, 3.7))
        if name not in A.ACTIVATIONS:
            raise ValueError(f"ActivationView: name must be one of {A.ACTIVATIONS}, got {name!r}")
        if not 0.1 <= scale <= 10:
            raise ValueError(f"ActivationView: scale must lie in [0.1, 10], got {scale}")
        if not threshold > 0:
            raise ValueError(f"ActivationView: threshold must be > 0, got {threshold}")
        self.threshold, self.n, self.seed = float(threshold), int(n), int(seed)
        self._syncing = False
        self.x = np.linspace(-X_RANGE, X_RANGE, 801)  # (801,)

        # -- controls --------------------------------------------------------------------
        self.name = dropdown("activation", {LABELS[a]: a for a in A.ACTIVATIONS}, name,
                             width="300px")
        self.param = slider("parameter", 0.0, -1.0, 1.0, 0.01, ".2f")
        self.scale = slider("scale σ of z", float(scale), -1.0, 1.0, 0.05, ".2f", log=True)
        self.watch(self.param, self.scale)
        self.name.observe(lambda _c: self._select(), names="value")
        self._controls.insert(0, self.name)

        # -- figure ----------------------------------------------------------------------
        fig = self.fig
        self.ax_f = fig.add_axes((0.045, 0.15, 0.27, 0.72))
        self.ax_d = fig.add_axes((0.375, 0.15, 0.27, 0.72))
        self.ax_h = fig.add_axes((0.715, 0.15, 0.27, 0.72))
        grey = "#bbbbbb"
        self.bands = []
        for ax in (self.ax_f, self.ax_d):
            band = Rectangle((-2, 0), 4, 1, transform=ax.get_xaxis_transform(), color=grey,
                             alpha=0.35, lw=0, zorder=0)
            ax.add_patch(band)
            self.bands.append(band)
            ax.axhline(0, color="k", lw=0.6)
            ax.axvline(0, color="k", lw=0.6)
            ax.set_xlim(-X_RANGE, X_RANGE)
            ax.set_xlabel("x   (grey: 95% of z ~ N(0, σ²))", fontsize=9)
        (self.line_f,) = self.ax_f.plot(self.x, 0 * self.x, color=CLASS_COLORS[0], lw=2)
        (self.line_d,) = self.ax_d.plot(self.x, 0 * self.x, color=CLASS_COLORS[5], lw=2)
        t = self.threshold
        self.sat_band = self.ax_d.axhspan(-t, t, color=CLASS_COLORS[5], alpha=0.15, lw=0)
        self.title_f = self.ax_f.set_title("", fontsize=10)
        self.ax_d.set_title("derivative f'(x)", fontsize=10)
        w = HIST_BINS[1] - HIST_BINS[0]
        centres = (HIST_BINS[:-1] + HIST_BINS[1:]) / 2
        self.hist = list(self.ax_h.bar(centres, np.zeros(len(centres)), width=w * 0.95,
                                       color=CLASS_COLORS[5]))
        self.ax_h.axvspan(-t, t, color=CLASS_COLORS[5], alpha=0.15, lw=0)
        self.ax_h.set_xlim(HIST_BINS[0], HIST_BINS[-1])
        self.ax_h.set_ylim(0, 1.05)
        self.ax_h.set_xlabel(f"f'(z)   (shaded: |f'| < {t:g}, saturated)", fontsize=9)
        self.ax_h.set_ylabel("fraction of units")
        self.title_h = self.ax_h.set_title("", fontsize=10)
        self._z0 = np.random.default_rng(self.seed).standard_normal(self.n)  # (n,)
        self._select(render=False)
        self.update()

    def control_rows(self):
        return [[self.name, self.param, self.scale]]

    # -- state --------------------------------------------------------------------------
    def params(self) -> dict[str, float]:
        """The keyword parameters of the current activation, as set by the slider."""
        spec = PARAM_SLIDERS.get(self.name.value)
        return {spec[0]: float(self.param.value)} if spec else {}

    def _select(self, render: bool = True):
        """A new activation: set up the parameter slider (without redrawing per change)."""
        name = self.name.value
        spec = PARAM_SLIDERS.get(name)
        self._syncing = True
        try:
            if spec:
                pname, lo, hi, step = spec
                default = A.PARAMS[name][pname]
                self.param.min, self.param.max = -10.0, 10.0  # avoid min > max while moving
                self.param.min, self.param.max, self.param.step = lo, hi, step
                self.param.value = default
                self.param.description = pname
                self.param.disabled = False
            else:
                self.param.description = "(no parameter)"
                self.param.disabled = True
        finally:
            self._syncing = False
        if render:
            self.update()

    # -- drawing ------------------------------------------------------------------------
    def update(self):
        if self._syncing:
            return
        name, p, s = self.name.value, self.params(), float(self.scale.value)
        f = A.activation(name, self.x, **p)  # (801,)
        d = A.derivative(name, self.x, **p)  # (801,)
        self.line_f.set_ydata(f)
        self.line_d.set_ydata(d)
        lo, hi = float(f.min()), float(f.max())
        pad = 0.08 * max(hi - lo, 1e-3)
        self.ax_f.set_ylim(lo - pad, hi + pad)
        dlo, dhi = min(float(d.min()), 0.0), max(float(d.max()), 1.0)
        self.ax_d.set_ylim(dlo - 0.08 * (dhi - dlo), dhi + 0.08 * (dhi - dlo))
        for band in self.bands:
            band.set_x(-1.96 * s)
            band.set_width(2 * 1.96 * s)
        par = ", ".join(f"{k} = {v:.2f}" for k, v in p.items())
        self.title_f.set_text(f"{LABELS[name].split(' (')[0]}" + (f" ({par})" if par else ""))

        z = s * self._z0  # (n,) pre-activations
        dz = A.derivative(name, z, **p)
        counts, _ = np.histogram(np.clip(dz, HIST_BINS[0] + 1e-9, HIST_BINS[-1] - 1e-9), HIST_BINS)
        for bar, c in zip(self.hist, counts / len(z), strict=True):
            bar.set_height(c)
        v = A.summary(name, s, self.threshold, self.n, self.seed, **p)
        self.values = v
        self.title_h.set_text(f"f'(z) for z ~ N(0, {s:.2f}²): "
                              f"{100 * v['saturated']:.0f}% saturated")
        info = A.INFO[name]
        centred = "yes" if v["zero_centred"] else "no"
        self.readout.value = (
            f"<b>{LABELS[name]}</b>: range {info['range']}; {info['note']}.<br>"
            f"For z ~ N(0, {s:.2f}²): <b>saturated</b> (|f'(z)| &lt; {self.threshold:g}) "
            f"<b>{100 * v['saturated']:.1f}%</b>, <b>dead</b> (f'(z) = 0) {100 * v['dead']:.1f}%, "
            f"mean |f'(z)| {v['mean_grad']:.3f}; mean output {v['mean_output']:.3f} "
            f"(std {v['std_output']:.3f}): <b>zero-centred: {centred}</b>"
        )
        self.render()
