"""The views of lectures 04-05: ActivationView, MLPCapacityView and InitializationView.

Lecture 04's activation widget: an activation function, its derivative, and its saturation.

    view = ActivationView()
    view            # last line of a cell

Left: f(x). Middle: f'(x), with the band |f'| < threshold shaded (where a unit passes almost no
gradient back). In both, the shaded vertical band is where 95% of the pre-activations
z ~ N(0, scale^2) fall. Right: the histogram of f'(z) over those pre-activations. The readout
gives the saturated and dead fractions and whether the outputs are zero-centred. The numbers
come from dlcv.networks.activations (derivatives by torch autograd).

Lecture 04's capacity widget: how many hidden units does a decision boundary need?

    view = MLPCapacityView()
    view            # last line of a cell

Left: the plane coloured by the class a trained MLP predicts (paler where it is less sure) with
the training points on top. Right: the training objective during the fit. The readout gives the
training accuracy, the accuracy on a fresh sample of the same distribution (a test set), and the
parameter count. Fits run with dlcv.networks.mlp.train_mlp (torch, full-batch Adam) and are cached by
their settings, so going back to a setting you have seen is instant.

Lecture 05's widget: how initialisation shapes the activations and gradients of a deep net.

    view = InitializationView()
    view            # last line of a cell

Top: histograms of the activations of up to eight layers, spread from the first to the last.
Bottom: per-layer standard deviation of the activations, of the weight gradients (both on a log
scale), and the fraction of saturated units. Controls: activation, initialisation, depth, width,
a multiplier on the weights' std, and batch normalisation before every non-linearity.
The numbers come from dlcv.networks.initialization.layer_statistics (torch, a fraction of a second).
"""

from __future__ import annotations

import time
from functools import lru_cache

import ipywidgets as widgets
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.patches import Rectangle

from dlcv.networks import activations as A
from dlcv.networks import mlp
from dlcv.networks.initialization import ACTIVATIONS, INITS, HistogramRow, layer_statistics, verdict
from dlcv.plots import CLASS_COLORS, class_cmap
from dlcv.validate import choice
from dlcv.widget import FigureView, dropdown, slider

# --------------------------------------------------------------------------------------------
# ActivationView (lecture 04)
# --------------------------------------------------------------------------------------------
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
    saturated. values: the latest dlcv.networks.activations.summary(...) dict."""

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
        with self.syncing():
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


# --------------------------------------------------------------------------------------------
# MLPCapacityView (lecture 04)
# --------------------------------------------------------------------------------------------
HIDDEN_CHOICES = (1, 2, 3, 5, 10, 20, 50, 100)
REG_CHOICES = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)
GRID_STEPS = 120
TEST_SIZE = 1000


def data_box(X, margin: float = 0.3) -> tuple[float, float, float, float]:
    """(xmin, xmax, ymin, ymax) around points X (N, 2) with a margin, rounded out to halves."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2 or len(X) == 0:
        raise ValueError(f"data_box: X must have shape (N, 2) with N >= 1, got {X.shape}")
    lo = np.floor((X.min(0) - margin) * 2) / 2
    hi = np.ceil((X.max(0) + margin) * 2) / 2
    return (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))


def region_colours(labels: np.ndarray, confidence: np.ndarray, num_classes: int) -> np.ndarray:
    """An RGB picture of decision regions: labels (H, W) int, confidence (H, W) in [1/C, 1]
    -> (H, W, 3) floats in [0, 1]: the class colour, mixed with white where the net is unsure."""
    labels, confidence = np.asarray(labels), np.asarray(confidence, dtype=np.float64)
    if labels.shape != confidence.shape or labels.ndim != 2:
        raise ValueError(f"region_colours: labels and confidence must be (H, W) arrays of one "
                         f"shape, got {labels.shape} and {confidence.shape}")
    cols = np.array([to_rgb(c) for c in CLASS_COLORS[:num_classes]])  # (C, 3)
    sure = np.clip((confidence - 1 / num_classes) / (1 - 1 / num_classes), 0, 1)  # (H, W)
    strength = (0.1 + 0.4 * np.sqrt(sure))[..., None]  # (H, W, 1)
    return 1 - strength * (1 - cols[labels])


class MLPCapacityView(FigureView):
    """Controls (attributes): dataset, hidden (units per hidden layer), layers (hidden layers),
    reg (lambda of the L2 penalty), activation. result: the current dlcv.networks.mlp.MLPResult;
    values: dict of train_accuracy, test_accuracy, num_params, data_loss; cache: fits by settings.
    """

    def __init__(self, dataset: str = "moons", hidden: int = 10, layers: int = 1,
                 reg: float = 1e-4, activation: str = "relu", steps: int = 1000, lr: float = 0.02,
                 seed: int = 0):
        super().__init__(figsize=(10.5, 4.4))
        who = "MLPCapacityView"
        choice(who, "dataset", dataset, mlp.TOY_SETS)
        choice(who, "hidden", hidden, HIDDEN_CHOICES)
        choice(who, "reg", reg, REG_CHOICES)
        choice(who, "layers", layers, (1, 2, 3))
        choice(who, "activation", activation, mlp.MLP_ACTIVATIONS)
        self.steps, self.lr, self.seed = int(steps), float(lr), int(seed)
        self.cache: dict[tuple, tuple] = {}
        self._data: dict[str, tuple] = {}

        # -- controls --------------------------------------------------------------------
        self.dataset = dropdown("data", mlp.TOY_SETS, dataset, width="220px")
        self.hidden = widgets.SelectionSlider(
            description="hidden units", options=HIDDEN_CHOICES, value=hidden,
            continuous_update=False, style={"description_width": "initial"},
            layout=widgets.Layout(width="320px"))
        self.layers = dropdown("hidden layers", (1, 2, 3), layers, width="160px")
        self.reg = widgets.SelectionSlider(
            description="λ (L2)", options=[(f"{r:g}", r) for r in REG_CHOICES], value=reg,
            continuous_update=False, style={"description_width": "initial"},
            layout=widgets.Layout(width="320px"))
        self.activation = dropdown("activation", mlp.MLP_ACTIVATIONS, activation, width="200px")
        self.watch(self.dataset, self.hidden, self.layers, self.reg, self.activation)

        # -- figure ----------------------------------------------------------------------
        self.ax = self.fig.add_axes((0.05, 0.11, 0.42, 0.8))
        self.ax_loss = self.fig.add_axes((0.6, 0.14, 0.37, 0.74))
        self.im = self.ax.imshow(np.ones((2, 2, 3)), origin="lower", extent=(-1, 1, -1, 1),
                                 interpolation="bilinear", aspect="equal")
        self.points = self.ax.scatter(np.zeros(1), np.zeros(1), c=[0], cmap=class_cmap(6),
                                      vmin=-0.5, vmax=5.5, edgecolors="k", linewidths=0.5, s=16,
                                      zorder=3)
        self.title = self.ax.set_title("", fontsize=10)
        (self.loss_line,) = self.ax_loss.plot([], [], color=CLASS_COLORS[0], lw=1.5)
        self.ax_loss.set_yscale("log")
        self.ax_loss.set_xlabel("Adam step (full batch)")
        self.ax_loss.set_ylabel("cross-entropy + λ ΣW²")
        self.ax_loss.grid(alpha=0.3, which="both")
        self.loss_title = self.ax_loss.set_title("training objective", fontsize=10)
        self.update()

    def control_rows(self):
        return [[self.dataset, self.hidden, self.layers], [self.activation, self.reg]]

    # -- compute ------------------------------------------------------------------------
    def data(self, name: str):
        """(X, y, X_test, y_test, box) of a data set, made once."""
        if name not in self._data:
            X, y = mlp.toy_data(name)
            Xt, yt = mlp.toy_data(name, seed=1, n=TEST_SIZE)
            self._data[name] = (X, y, Xt, yt, data_box(X))
        return self._data[name]

    def key(self) -> tuple:
        return (self.dataset.value, int(self.hidden.value), int(self.layers.value),
                float(self.reg.value), self.activation.value)

    def fit(self, key: tuple):
        """The fit for settings `key` (dataset, hidden, layers, reg, activation), cached:
        (result, RGB regions (GRID_STEPS, GRID_STEPS, 3), test accuracy, seconds it took)."""
        if key not in self.cache:
            name, hidden, layers, reg, act = key
            X, y, Xt, yt, box = self.data(name)
            t0 = time.perf_counter()
            res = mlp.train_mlp(X, y, hidden=hidden, layers=layers, activation=act, reg=reg,
                                steps=self.steps, lr=self.lr, seed=self.seed)
            labels, conf = res.regions(box, GRID_STEPS)
            rgb = region_colours(labels, conf, res.num_classes)
            test_acc = float(np.mean(res.predict(Xt) == yt))
            self.cache[key] = (res, rgb, test_acc, time.perf_counter() - t0)
        return self.cache[key]

    # -- drawing ------------------------------------------------------------------------
    def update(self):
        key = self.key()
        cached = key in self.cache
        res, rgb, test_acc, secs = self.fit(key)
        self.result = res
        X, y, _, _, box = self.data(key[0])
        self.im.set_data(rgb)
        self.im.set_extent(box)
        self.points.set_offsets(X)
        self.points.set_array(y.astype(np.float64))
        self.ax.set_xlim(box[0], box[1])
        self.ax.set_ylim(box[2], box[3])
        name, hidden, layers, reg, act = key
        arch = "-".join(["2"] + [str(hidden)] * layers + [str(res.num_classes)])
        self.title.set_text(f"{name}: [{arch}] {act} net, λ = {reg:g}")

        h = res.loss_history
        self.loss_line.set_data(np.arange(1, len(h) + 1), h)
        self.ax_loss.set_xlim(0, len(h) + 1)
        lo, hi = float(h.min()), float(h.max())
        self.ax_loss.set_ylim(max(lo / 1.5, 1e-4), hi * 1.5)
        self.loss_title.set_text(f"training objective: {h[0]:.3f} → {h[-1]:.3f}")

        self.values = dict(train_accuracy=res.train_accuracy, test_accuracy=test_acc,
                           num_params=res.num_params, data_loss=res.data_loss)
        how = "cached" if cached else f"trained in {secs:.2f} s"
        self.readout.value = (
            f"<b>train accuracy {100 * res.train_accuracy:.1f}% | test accuracy "
            f"{100 * test_acc:.1f}% | {res.num_params} parameters</b> &nbsp;·&nbsp; final "
            f"cross-entropy {res.data_loss:.3f} &nbsp;·&nbsp; {how} (test: {TEST_SIZE} fresh "
            f"points from the same distribution)"
        )
        self.render()


# --------------------------------------------------------------------------------------------
# InitializationView (lecture 05)
# --------------------------------------------------------------------------------------------
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
