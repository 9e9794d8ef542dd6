"""Lecture 04's capacity widget: how many hidden units does a decision boundary need?

    view = MLPCapacityView()
    view            # last line of a cell

Left: the plane coloured by the class a trained MLP predicts (paler where it is less sure) with
the training points on top. Right: the training objective during the fit. The readout gives the
training accuracy, the accuracy on a fresh sample of the same distribution (a test set), and the
parameter count. Fits run with dlcv.mlp.train_mlp (torch, full-batch Adam) and are cached by
their settings, so going back to a setting you have seen is instant.
"""

from __future__ import annotations

import time

import ipywidgets as widgets
import numpy as np
from matplotlib.colors import to_rgb

from dlcv import mlp
from dlcv.plots import CLASS_COLORS, class_cmap
from dlcv.widgets.base import FigureView, dropdown

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
    reg (lambda of the L2 penalty), activation. result: the current dlcv.mlp.MLPResult;
    values: dict of train_accuracy, test_accuracy, num_params, data_loss; cache: fits by settings.
    """

    def __init__(self, dataset: str = "moons", hidden: int = 10, layers: int = 1,
                 reg: float = 1e-4, activation: str = "relu", steps: int = 1000, lr: float = 0.02,
                 seed: int = 0):
        super().__init__(figsize=(10.5, 4.4))
        if dataset not in mlp.TOY_SETS:
            raise ValueError(f"MLPCapacityView: dataset must be one of {mlp.TOY_SETS}, "
                             f"got {dataset!r}")
        if hidden not in HIDDEN_CHOICES:
            raise ValueError(f"MLPCapacityView: hidden must be one of {HIDDEN_CHOICES}, "
                             f"got {hidden!r}")
        if reg not in REG_CHOICES:
            raise ValueError(f"MLPCapacityView: reg must be one of {REG_CHOICES}, got {reg!r}")
        if layers not in (1, 2, 3):
            raise ValueError(f"MLPCapacityView: layers must be 1, 2 or 3, got {layers!r}")
        if activation not in mlp.MLP_ACTIVATIONS:
            raise ValueError(f"MLPCapacityView: activation must be one of {mlp.MLP_ACTIVATIONS}, "
                             f"got {activation!r}")
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
