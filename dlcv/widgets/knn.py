"""k-nearest-neighbour decision regions on 2-D toy data (lecture 01).

    view = KNNRegionsView()
    view                      # last line of a cell: live in JupyterLab, a static PNG elsewhere

Controls (attributes): view.dataset, view.noise, view.num_points, view.k, view.metric, view.seed,
and the button view.resample (draws a new sample by increasing view.seed).
Left: the plane coloured by the k-NN prediction, grey where the vote is tied, with the training
points. Right: training and held-out accuracy against k for the current data, a marker at the
current k. All distances and votes come from scikit-learn (dlcv.neighbors).
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
from matplotlib.colors import ListedColormap

from dlcv.data import TOY_KINDS, make_toy_2d
from dlcv.neighbors import knn_accuracy_curve, knn_grid_votes, metric_name
from dlcv.plots import CLASS_COLORS, class_cmap, grid_2d
from dlcv.widgets.base import FigureView, dropdown, slider

MAX_CLASSES = 3  # blobs and spiral use 3 classes; moons, circles and xor have 2
K_MAX = 25
HELD_OUT_SEED_OFFSET = 10_000  # the held-out sample uses seed + this


class KNNRegionsView(FigureView):
    """k-NN decision regions: how k, the distance and the data shape the classifier.

    Args:
        dataset: one of dlcv.data.TOY_KINDS ("blobs", "moons", "circles", "spiral", "xor").
        num_points: training points, 30..400.  noise: 0..0.6.  k: 1..25.
        metric: "L2" or "L1".  seed: the sample (the held-out sample uses seed + 10000).
        steps: grid resolution per side for the regions (default 150).
    """

    def __init__(self, dataset: str = "moons", num_points: int = 120, noise: float = 0.25,
                 k: int = 1, metric: str = "L2", seed: int = 0, steps: int = 150):
        if dataset not in TOY_KINDS:
            raise ValueError(f"KNNRegionsView: dataset must be one of {TOY_KINDS}, got {dataset!r}")
        if not (isinstance(num_points, int) and 30 <= num_points <= 400):
            raise ValueError(
                f"KNNRegionsView: num_points must be an int in 30..400, got {num_points!r}"
            )
        if not 0 <= noise <= 0.6:
            raise ValueError(f"KNNRegionsView: noise must be in [0, 0.6], got {noise!r}")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= K_MAX:
            raise ValueError(f"KNNRegionsView: k must be an int in 1..{K_MAX}, got {k!r}")
        metric = metric_name(metric)
        if not (isinstance(steps, int) and 10 <= steps <= 400):
            raise ValueError(f"KNNRegionsView: steps must be an int in 10..400, got {steps!r}")
        super().__init__(figsize=(10.0, 4.4))
        self.steps = steps
        self._curve_cache: dict = {}

        # -- controls ------------------------------------------------------------------------
        self.dataset = dropdown("data", TOY_KINDS, dataset, width="170px")
        self.noise = slider("noise", float(noise), 0.0, 0.6, 0.05, readout_format=".2f",
                            width="260px")
        self.num_points = slider("points", num_points, 30, 400, 10, width="260px")
        self.k = slider("k", k, 1, K_MAX, 1, width="300px")
        self.metric = widgets.ToggleButtons(options=["L2", "L1"], value=metric,
                                            description="distance",
                                            style={"description_width": "initial",
                                                   "button_width": "48px"})
        self.seed = widgets.BoundedIntText(value=int(seed), min=0, max=1_000_000,
                                           description="seed",
                                           style={"description_width": "initial"},
                                           layout=widgets.Layout(width="130px"))
        self.resample = widgets.Button(description="new sample", icon="refresh",
                                       layout=widgets.Layout(width="120px"))
        self.resample.on_click(lambda _b: setattr(self.seed, "value", self.seed.value + 1))
        self.watch(self.dataset, self.noise, self.num_points, self.k, self.metric, self.seed)

        # -- figure: regions on the left, accuracy against k on the right ----------------------
        gs = self.fig.add_gridspec(1, 2, width_ratios=[1.15, 1.0], left=0.06, right=0.98,
                                   bottom=0.13, top=0.9, wspace=0.22)
        self.ax = self.fig.add_subplot(gs[0])
        self.ax_acc = self.fig.add_subplot(gs[1])
        blank = np.zeros((steps, steps))
        self.im = self.ax.imshow(blank, origin="lower", extent=(-1, 1, -1, 1), aspect="auto",
                                 cmap=class_cmap(MAX_CLASSES, light=True), vmin=-0.5,
                                 vmax=MAX_CLASSES - 0.5, interpolation="nearest")
        tie_cmap = ListedColormap(["0.45"]).with_extremes(bad=(0, 0, 0, 0))  # NaN: transparent
        self.tie_im = self.ax.imshow(np.full((steps, steps), np.nan), origin="lower",
                                     extent=(-1, 1, -1, 1), aspect="auto", cmap=tie_cmap,
                                     vmin=0, vmax=1, alpha=0.55, interpolation="nearest")
        self.points = self.ax.scatter(np.zeros(1), np.zeros(1), c=[0], cmap=class_cmap(MAX_CLASSES),
                                      vmin=-0.5, vmax=MAX_CLASSES - 0.5, edgecolors="k",
                                      linewidths=0.6, s=24)
        self.title = self.ax.set_title("")
        self.ax.set_xticks([])
        self.ax.set_yticks([])

        ks = np.arange(1, K_MAX + 1)
        (self.train_line,) = self.ax_acc.plot(ks, np.zeros(K_MAX), "-o", ms=3, color="0.45",
                                              label="training accuracy")
        (self.val_line,) = self.ax_acc.plot(ks, np.zeros(K_MAX), "-o", ms=3,
                                            color=CLASS_COLORS[5], label="held-out accuracy")
        self.k_line = self.ax_acc.axvline(k, color=CLASS_COLORS[0], lw=1.5, alpha=0.7)
        (self.k_marks,) = self.ax_acc.plot([k, k], [0, 0], "o", ms=9, mfc="none",
                                           mec=CLASS_COLORS[0], mew=2)
        self.ax_acc.set_xlim(0.3, K_MAX + 0.7)
        self.ax_acc.set_xlabel("k (number of neighbours that vote)")
        self.ax_acc.set_ylabel("accuracy")
        self.ax_acc.set_title("Accuracy against k for this sample")
        self.ax_acc.grid(alpha=0.3)
        self.ax_acc.legend(loc="lower left", fontsize=9)
        self.update()

    def control_rows(self):
        return [[self.dataset, self.noise, self.num_points],
                [self.k, self.metric, self.seed, self.resample]]

    # -- data ----------------------------------------------------------------------------------
    def data(self):
        """The current training sample and held-out sample: (X, y, X_val, y_val)."""
        kind, n, noise, seed = (self.dataset.value, int(self.num_points.value),
                                float(self.noise.value), int(self.seed.value))
        X, y = make_toy_2d(kind, n=n, noise=noise, num_classes=MAX_CLASSES, seed=seed)
        X_val, y_val = make_toy_2d(kind, n=max(n, 200), noise=noise, num_classes=MAX_CLASSES,
                                   seed=seed + HELD_OUT_SEED_OFFSET)
        return X, y, X_val, y_val

    def accuracy_curve(self, X, y, X_val, y_val):
        """Training and held-out accuracy for k = 1..min(25, N), cached per sample and metric."""
        key = (self.dataset.value, int(self.num_points.value), round(float(self.noise.value), 6),
               int(self.seed.value), self.metric.value)
        if key not in self._curve_cache:
            ks = range(1, min(K_MAX, len(y)) + 1)
            self._curve_cache[key] = knn_accuracy_curve(X, y, X_val, y_val, ks,
                                                        self.metric.value)
        return self._curve_cache[key]

    # -- update --------------------------------------------------------------------------------
    def update(self) -> None:
        X, y, X_val, y_val = self.data()
        metric = self.metric.value
        k = min(int(self.k.value), len(y))

        xx, yy, grid = grid_2d(X, steps=self.steps, margin=0.35)  # grid: (steps*steps, 2)
        labels, _share, tie = knn_grid_votes(X, y, k, metric, grid)
        extent = (xx.min(), xx.max(), yy.min(), yy.max())
        self.im.set_data(labels.reshape(xx.shape).astype(np.float64))
        self.im.set_extent(extent)
        self.tie_im.set_data(np.where(tie, 1.0, np.nan).reshape(xx.shape))
        self.tie_im.set_extent(extent)
        self.points.set_offsets(X)
        self.points.set_array(y.astype(np.float64))
        self.ax.set_xlim(extent[0], extent[1])
        self.ax.set_ylim(extent[2], extent[3])
        self.title.set_text(f"{k}-NN, {metric} distance, {len(y)} points")

        train_acc, val_acc = self.accuracy_curve(X, y, X_val, y_val)
        ks = np.arange(1, len(train_acc) + 1)
        self.train_line.set_data(ks, train_acc)
        self.val_line.set_data(ks, val_acc)
        self.k_line.set_xdata([k, k])
        self.k_marks.set_data([k, k], [train_acc[k - 1], val_acc[k - 1]])
        lo = min(train_acc.min(), val_acc.min())
        self.ax_acc.set_ylim(max(0.0, lo - 0.08), 1.02)

        self.stats = {
            "k": k, "metric": metric, "num_points": len(y),
            "train_accuracy": float(train_acc[k - 1]), "heldout_accuracy": float(val_acc[k - 1]),
            "best_k": int(ks[np.argmax(val_acc)]), "tie_fraction": float(tie.mean()),
        }
        s = self.stats
        note = "" if k == int(self.k.value) else f" (k capped at the {len(y)} training points)"
        self.readout.value = (
            f"<b>k = {k}</b>{html.escape(note)}, distance <b>{metric}</b>, "
            f"{s['num_points']} training points, {len(y_val)} held-out points. "
            f"Training accuracy <b>{s['train_accuracy']:.3f}</b>, "
            f"held-out accuracy <b>{s['heldout_accuracy']:.3f}</b> "
            f"(best held-out k on this sample: {s['best_k']}). "
            f"Grey: tied vote on {100 * s['tie_fraction']:.1f}% of the plane "
            "(scikit-learn gives a tie to the smaller class number)."
        )
        self.render()
