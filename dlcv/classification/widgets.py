"""The views of lectures 01-02: KNNRegionsView and LinearClassifierView.

k-nearest-neighbour decision regions on 2-D toy data (lecture 01).

    view = KNNRegionsView()
    view                      # last line of a cell: live in JupyterLab, a static PNG elsewhere

Controls (attributes): view.dataset, view.noise, view.num_points, view.k, view.metric, view.seed,
and the button view.resample (draws a new sample by increasing view.seed).
Left: the plane coloured by the k-NN prediction, grey where the vote is tied, with the training
points. Right: training and held-out accuracy against k for the current data, a marker at the
current k. All distances and votes come from scikit-learn (dlcv.classification.neighbors).

Lecture 02's widget: move the weights of a 3-class linear classifier on 2-D data.

    view = LinearClassifierView()
    view            # last line of a cell

Left: the plane coloured by the predicted class (argmax of s = W x + b), each class's line
s_c = 0 (dashed; the edited class solid) and its weight vector w_c as an arrow, normal to that
line. Right: the mean multiclass SVM loss, the mean softmax loss, the L2 term reg * sum W^2 and
the accuracy as bars. The computations live in dlcv.classification.linear (torch losses, autograd fit).
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
from matplotlib.colors import ListedColormap

from dlcv.classification import linear
from dlcv.classification.neighbors import knn_accuracy_curve, knn_grid_votes, metric_name
from dlcv.data import TOY_KINDS, make_toy_2d
from dlcv.plots import CLASS_COLORS, class_cmap, grid_2d
from dlcv.widget import FigureView, dropdown, slider

# --------------------------------------------------------------------------------------------
# KNNRegionsView (lecture 01)
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# LinearClassifierView (lecture 02)
# --------------------------------------------------------------------------------------------
NUM_CLASSES = 3
COLOR_NAMES = ("blue", "orange", "green")  # the names of CLASS_COLORS[:3]
WEIGHT_RANGE = 6.0  # the sliders' range for w1, w2 and b
GRID_STEPS = 160
ARROW_SCALE = 0.3  # an arrow of length 0.3 |w_c| in data units
START_W = ((1.45, 0.45), (-1.1, 1.0), (0.95, -1.15))
START_B = (0.0, 0.0, -1.5)


def _signed(v: float) -> str:
    """'+ 0.45' or '- 0.45': a term of a sum, for titles."""
    return f"{'-' if v < 0 else '+'} {abs(v):.2f}"


class LinearClassifierView(FigureView):
    """A linear classifier s = W x + b on 2-D, 3-class data whose weights you move.

    Controls (attributes): cls (which row of W the sliders edit), w1, w2, b (that row),
    reg (lambda of the L2 term), dataset, fit_loss ("softmax" or "svm"), fit (button: gradient
    descent from the current weights) and reset (button: small random weights).
    State: W (3, 2), b_vec (3,), X (N, 2), y (N,); last_fit holds the latest fit's loss history.
    """

    def __init__(self, dataset: str = "blobs", reg: float = 1e-3, fit_steps: int = 200,
                 fit_lr: float = 0.5, seed: int = 0):
        super().__init__(figsize=(10.5, 4.6))
        if dataset not in linear.TOY_SETS:
            raise ValueError(f"LinearClassifierView: dataset must be one of {linear.TOY_SETS}, "
                             f"got {dataset!r}")
        self.fit_steps, self.fit_lr = fit_steps, fit_lr
        self._rng = np.random.default_rng(seed)
        self.last_fit: list[float] = []
        self.last_fit_loss = ""

        # A hand-made start: the rows of classes 0 and 1 point at their blobs; the row of class 2
        # is turned and its bias pushed down, so that a quarter of the blobs is misclassified.
        self.W = np.array(START_W)  # (3, 2)
        self.b_vec = np.array(START_B)  # (3,)

        # -- controls ------------------------------------------------------------------------
        self.dataset = dropdown("data", linear.TOY_SETS, dataset, width="260px")
        self.cls = dropdown("edit row of class",
                            {f"{c} ({COLOR_NAMES[c]})": c for c in range(NUM_CLASSES)},
                            value=0, width="240px")
        self.reset = widgets.Button(description="reset (small random W)",
                                    layout=widgets.Layout(width="200px"))
        r = WEIGHT_RANGE
        self.w1 = slider("w1", float(self.W[0, 0]), -r, r, 0.05, ".2f")
        self.w2 = slider("w2", float(self.W[0, 1]), -r, r, 0.05, ".2f")
        self.b = slider("b", float(self.b_vec[0]), -r, r, 0.05, ".2f")
        self.reg = slider("λ (reg)", reg, -4, 0, 0.1, ".4f", log=True)
        self.fit_loss = dropdown("fit loss", ("softmax", "svm"), "softmax", width="180px")
        self.fit = widgets.Button(description=f"fit ({fit_steps} steps)", button_style="info",
                                  layout=widgets.Layout(width="200px"))

        # the sliders write into the edited row; every other control has its own handler
        self.watch(self.w1, self.w2, self.b, self.reg)
        self.dataset.observe(lambda _c: self._load_data(), names="value")
        self.cls.observe(lambda _c: self._select_class(), names="value")
        self.reset.on_click(lambda _b: self.reset_weights())
        self.fit.on_click(lambda _b: self.run_fit())
        self._controls += [self.dataset, self.cls, self.reset, self.fit_loss, self.fit]

        # -- figure --------------------------------------------------------------------------
        self.ax = self.fig.add_axes((0.05, 0.13, 0.45, 0.8))
        self.ax_bar = self.fig.add_axes((0.57, 0.13, 0.35, 0.76))
        self.ax_acc = self.ax_bar.twinx()
        self._build_left()
        self._build_right()
        self._load_data(render=False)
        self.update()

    # -- layout -------------------------------------------------------------------------------
    def control_rows(self):
        return [[self.dataset, self.cls, self.reset], [self.w1, self.w2, self.b],
                [self.reg, self.fit_loss, self.fit]]

    # -- figure pieces ------------------------------------------------------------------------
    def _build_left(self):
        self.picture = linear.LinearPicture(self.ax, NUM_CLASSES, GRID_STEPS,
                                            arrow_scale=ARROW_SCALE)
        # the artists, under the names the tests and the lecture use
        self.im, self.points = self.picture.regions, self.picture.points
        self.lines, self.arrows = self.picture.lines, self.picture.arrows
        self.ax.set_xlabel("$x_1$     (lines: $s_c = 0$;  arrows: $w_c$, towards growing $s_c$)",
                           fontsize=9)
        self.ax.set_ylabel("$x_2$", labelpad=0)
        self.title = self.ax.set_title("", fontsize=10)

    def _build_right(self):
        ax, acc = self.ax_bar, self.ax_acc
        names = ["SVM\nloss", "softmax\nloss", "reg\nλΣW²", "accuracy"]
        colors = ["#0072B2", "#D55E00", "#999999", "#009E73"]
        self.bars = list(ax.bar([0, 1, 2], [0, 0, 0], color=colors[:3], width=0.6))
        self.bars.append(acc.bar([3], [0], color=colors[3], width=0.6)[0])
        self.bar_labels = [ax.text(i, 0, "", ha="center", va="bottom", fontsize=9)
                           for i in range(3)]
        self.bar_labels.append(acc.text(3, 0, "", ha="center", va="bottom", fontsize=9))
        # where the losses are when all scores are equal (W = 0, b = 0): the sanity-check values
        C = NUM_CLASSES
        for i, v in ((0, C - 1.0), (1, np.log(C))):
            ax.plot([i - 0.4, i + 0.4], [v, v], color="k", lw=1, ls=":")
            ax.text(i, v, "if W = 0", fontsize=7, ha="center", va="bottom")
        ax.set_xticks(range(4), names, fontsize=9)
        ax.set_xlim(-0.6, 3.6)
        ax.set_ylabel("loss")
        acc.set_ylim(0, 115)
        acc.set_yticks([0, 25, 50, 75, 100])
        acc.set_ylabel("accuracy (%)", color=colors[3])
        ax.spines["top"].set_visible(False)
        acc.spines["top"].set_visible(False)
        self.bar_title = ax.set_title("mean losses on the data, and accuracy", fontsize=10)

    # -- state changes ------------------------------------------------------------------------
    def _load_data(self, render: bool = True):
        self.X, self.y = linear.toy_data(self.dataset.value)
        self.picture.set_data(self.X, self.y)
        if render:
            self.update()

    def _sync_sliders(self):
        """Show the edited row's values on the sliders without writing them back into W."""
        c = self.cls.value
        with self.syncing():
            for s, v in ((self.w1, self.W[c, 0]), (self.w2, self.W[c, 1]), (self.b, self.b_vec[c])):
                s.value = float(np.clip(v, s.min, s.max))

    def _select_class(self):
        self._sync_sliders()
        self.update()

    def set_weights(self, W, b):
        """Replace all weights (W (3, 2), b (3,)), clipped to the sliders' range, and redraw."""
        W = np.asarray(W, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        if W.shape != (NUM_CLASSES, 2) or b.shape != (NUM_CLASSES,):
            raise ValueError(f"set_weights: W must be (3, 2) and b (3,), got {W.shape}, {b.shape}")
        self.W = np.clip(W, -WEIGHT_RANGE, WEIGHT_RANGE)
        self.b_vec = np.clip(b, -WEIGHT_RANGE, WEIGHT_RANGE)
        self._sync_sliders()
        self.update()

    def reset_weights(self):
        """Small random weights (std 0.01) and zero biases: every score is about 0."""
        self.last_fit = []
        self.set_weights(self._rng.normal(0, 0.01, (NUM_CLASSES, 2)), np.zeros(NUM_CLASSES))

    def run_fit(self):
        """fit_steps steps of gradient descent on fit_loss + reg * sum W^2, from the current W."""
        W, b, hist = linear.fit(self.W, self.b_vec, self.X, self.y, loss=self.fit_loss.value,
                                reg=float(self.reg.value), steps=self.fit_steps, lr=self.fit_lr)
        self.last_fit, self.last_fit_loss = hist, self.fit_loss.value
        self.set_weights(W, b)

    # -- drawing ------------------------------------------------------------------------------
    def update(self):
        if self._syncing:
            return
        c = self.cls.value
        self.W[c] = (self.w1.value, self.w2.value)
        self.b_vec[c] = self.b.value
        W, b = self.W, self.b_vec

        # left: regions, lines s_c = 0, arrows w_c (the edited class's line solid)
        self.picture.set_weights(W, b, highlight=c)
        self.title.set_text(f"editing class {c} ({COLOR_NAMES[c]}): "
                            f"$s_{c}$ = {W[c, 0]:.2f} $x_1$ {_signed(W[c, 1])} $x_2$ {_signed(b[c])}")

        # right: bars
        ev = linear.evaluate(W, b, self.X, self.y, float(self.reg.value))
        vals = [ev["svm"], ev["softmax"], ev["reg"]]
        for i, v in enumerate(vals):
            self.bars[i].set_height(v)
            self.bar_labels[i].set_position((i, v))
            self.bar_labels[i].set_text(f"{v:.3f}")
        acc = 100 * ev["accuracy"]
        self.bars[3].set_height(acc)
        self.bar_labels[3].set_position((3, acc))
        self.bar_labels[3].set_text(f"{acc:.1f}%")
        top = max(2.5, 1.15 * max(vals))
        self.ax_bar.set_ylim(0, float(np.ceil(top * 2) / 2))
        self.values = ev
        fitted = ""
        if self.last_fit:
            fitted = (f" &nbsp;·&nbsp; last fit: {self.last_fit_loss} + reg went "
                      f"{self.last_fit[0]:.3f} → {self.last_fit[-1]:.3f}")
        self.readout.value = (
            f"<b>SVM loss {ev['svm']:.3f} | softmax loss {ev['softmax']:.3f} | "
            f"reg {ev['reg']:.3f} | accuracy {acc:.1f}%</b>{fitted}"
        )
        self.render()
