"""Linear classifiers for the lectures: scores, losses, decision regions and a small fit.

A linear classifier scores the C classes of an input x (D,) as  s = W x + b  with W: (C, D) and
b: (C,); the rows of W are the class templates. This module is the machinery behind lecture 02
and its widget (dlcv.classification.widgets):

    scores(W, b, X)            (N, C) class scores of N inputs
    svm_loss_torch(s, y)       mean multiclass SVM (hinge) loss, from torch's multi_margin_loss
    softmax_loss_torch(s, y)   mean softmax (cross-entropy) loss, torch's cross_entropy
    evaluate(W, b, X, y, reg)  both losses, the L2 term and the accuracy, as plain floats
    regions(W, b, grid)        predicted class of every grid point (argmax of the scores)
    line_in_box(w, b, box)     the segment of the line w . x + b = 0 inside a rectangle
    foot_of_normal(w, b, p)    the point of that line nearest to p (where w is drawn)
    fit(W, b, X, y, ...)       full-batch gradient descent with torch autograd
    toy_data(name)             the widget's 2-D, 3-class data sets (TOY_SETS)
    plot_linear_2d(ax, ...)    a static picture: regions, lines s_c = 0 and the vectors w_c

The losses are computed with torch on purpose: writing them (and their gradients) in numpy is
assignment a1's job, so this module never does.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

LOSSES = ("svm", "softmax")


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------
def _as_2d(a, name: str, who: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{who}: {name} must be a 2-D array, got shape {a.shape}")
    return a


def _check_params(W, b, who: str) -> tuple[np.ndarray, np.ndarray]:
    W = _as_2d(W, "W", who)
    b = np.asarray(b, dtype=np.float64)
    if b.shape != (W.shape[0],):
        raise ValueError(f"{who}: b must have shape ({W.shape[0]},) to match W {W.shape}, "
                         f"got {b.shape}")
    return W, b


def _check_data(X, y, W: np.ndarray, who: str) -> tuple[np.ndarray, np.ndarray]:
    X = _as_2d(X, "X", who)
    if X.shape[1] != W.shape[1]:
        raise ValueError(f"{who}: X must have shape (N, {W.shape[1]}) to match W {W.shape}, "
                         f"got {X.shape}")
    y = np.asarray(y)
    if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{who}: y must be ({X.shape[0]},) integer labels, got shape {y.shape} "
                         f"dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= W.shape[0]):
        raise ValueError(f"{who}: labels y must lie in 0..{W.shape[0] - 1}, "
                         f"got {y.min()}..{y.max()}")
    return X, y.astype(np.int64)


def _check_scores(scores, y, who: str) -> tuple[torch.Tensor, torch.Tensor]:
    s = scores if isinstance(scores, torch.Tensor) else torch.as_tensor(np.asarray(scores))
    if s.ndim != 2:
        raise ValueError(f"{who}: scores must have shape (N, C), got {tuple(s.shape)}")
    if not s.is_floating_point():
        s = s.double()
    t = y if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
    if t.shape != (s.shape[0],) or t.is_floating_point():
        raise ValueError(f"{who}: y must be ({s.shape[0]},) integer labels, got "
                         f"{tuple(t.shape)} {t.dtype}")
    t = t.long()
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= s.shape[1]):
        raise ValueError(f"{who}: labels y must lie in 0..{s.shape[1] - 1}")
    return s, t


# --------------------------------------------------------------------------------------------
# Scores and losses
# --------------------------------------------------------------------------------------------
def scores(W, b, X) -> np.ndarray:
    """Class scores of a linear classifier.

    Args:
        W: (C, D) weights, one row (template) per class; b: (C,) biases; X: (N, D) inputs.

    Returns:
        (N, C) float64 scores, s[i, c] = W[c] . X[i] + b[c].
    """
    W, b = _check_params(W, b, "scores")
    X = _as_2d(X, "X", "scores")
    if X.shape[1] != W.shape[1]:
        raise ValueError(f"scores: X must have shape (N, {W.shape[1]}), got {X.shape}")
    return X @ W.T + b  # (N, D) @ (D, C) + (C,) -> (N, C)


def svm_loss_torch(scores, y, delta: float = 1.0) -> torch.Tensor:
    """Mean multiclass SVM (Weston-Watkins hinge) loss, computed by torch.

        L = (1/N) sum_i sum_{j != y_i} max(0, s_ij - s_{i, y_i} + delta)

    torch.nn.functional.multi_margin_loss divides each example's hinge sum by the number of
    classes C; multiplying by C gives the per-example loss of the CS231n notes.

    Args:
        scores: (N, C) tensor or array; y: (N,) integer labels in 0..C-1; delta: the margin.

    Returns:
        a 0-d tensor (differentiable when scores requires grad).
    """
    s, t = _check_scores(scores, y, "svm_loss_torch")
    C = s.shape[1]
    return C * F.multi_margin_loss(s, t, margin=float(delta))


def softmax_loss_torch(scores, y) -> torch.Tensor:
    """Mean softmax (cross-entropy) loss  L = (1/N) sum_i -log softmax(s_i)[y_i], by torch.

    Args:
        scores: (N, C) tensor or array; y: (N,) integer labels in 0..C-1.

    Returns:
        a 0-d tensor (differentiable when scores requires grad).
    """
    s, t = _check_scores(scores, y, "softmax_loss_torch")
    return F.cross_entropy(s, t)


def data_loss_torch(scores, y, loss: str = "softmax") -> torch.Tensor:
    """The mean data loss named by `loss` ("svm" or "softmax")."""
    if loss == "svm":
        return svm_loss_torch(scores, y)
    if loss == "softmax":
        return softmax_loss_torch(scores, y)
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


def l2_penalty(W) -> float:
    """R(W) = sum of squared weights (the biases are not regularised)."""
    W = np.asarray(W, dtype=np.float64)
    return float(np.sum(W * W))


def evaluate(W, b, X, y, reg: float = 0.0) -> dict[str, float]:
    """Everything the widget's readout shows, for parameters W (C, D), b (C,) on X (N, D), y (N,).

    Returns:
        dict with "svm" and "softmax" (mean data losses), "reg" (reg * sum W^2), and "accuracy"
        (fraction of X whose highest score is the right class), all floats.
    """
    W, b = _check_params(W, b, "evaluate")
    X, y = _check_data(X, y, W, "evaluate")
    if reg < 0:
        raise ValueError(f"evaluate: reg must be >= 0, got {reg}")
    s = scores(W, b, X)  # (N, C)
    st = torch.from_numpy(s)
    return {
        "svm": float(svm_loss_torch(st, y)),
        "softmax": float(softmax_loss_torch(st, y)),
        "reg": float(reg) * l2_penalty(W),
        "accuracy": float(np.mean(np.argmax(s, axis=1) == y)) if len(y) else float("nan"),
    }


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------
def regions(W, b, grid) -> np.ndarray:
    """The predicted class of every grid point: argmax_c (W grid^T + b).

    Args:
        W: (C, D) weights; b: (C,) biases; grid: (M, D) points (dlcv.plots.grid_2d gives them).

    Returns:
        (M,) int64 labels.
    """
    return np.argmax(scores(W, b, grid), axis=1).astype(np.int64)


def line_in_box(w, b: float, box) -> np.ndarray:
    """The part of the line  w[0] x + w[1] y + b = 0  that lies inside a rectangle.

    Args:
        w: (2,) normal vector; b: offset; box: (xmin, xmax, ymin, ymax).

    Returns:
        (2, 2) array of the two end points [[x0, y0], [x1, y1]]; all NaN when the line misses the
        box or w is (numerically) zero, so that matplotlib simply draws nothing.
    """
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (2,):
        raise ValueError(f"line_in_box: w must have shape (2,), got {w.shape}")
    xmin, xmax, ymin, ymax = (float(v) for v in box)
    if not (xmin < xmax and ymin < ymax):
        raise ValueError(f"line_in_box: box must be (xmin, xmax, ymin, ymax) with min < max, "
                         f"got {box}")
    nan = np.full((2, 2), np.nan)
    if np.hypot(*w) < 1e-12:
        return nan
    pts = []
    if abs(w[1]) > 1e-12:  # crossings with the vertical sides x = xmin, xmax
        for x in (xmin, xmax):
            yv = -(w[0] * x + b) / w[1]
            if ymin - 1e-9 <= yv <= ymax + 1e-9:
                pts.append((x, yv))
    if abs(w[0]) > 1e-12:  # crossings with the horizontal sides y = ymin, ymax
        for yv in (ymin, ymax):
            x = -(w[1] * yv + b) / w[0]
            if xmin - 1e-9 <= x <= xmax + 1e-9:
                pts.append((x, yv))
    if len(pts) < 2:
        return nan
    pts = np.array(pts)
    # keep the two points farthest apart (a corner can be found twice)
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    i, j = np.unravel_index(np.argmax(d), d.shape)
    if d[i, j] < 1e-12:
        return nan
    return pts[[i, j]]


def foot_of_normal(w, b: float, point=(0.0, 0.0)) -> np.ndarray:
    """The point of the line w . x + b = 0 closest to `point` (where to draw w as an arrow).

    Returns (2,) float64; NaNs when w is (numerically) zero.
    """
    w = np.asarray(w, dtype=np.float64)
    p = np.asarray(point, dtype=np.float64)
    n2 = float(w @ w)
    if n2 < 1e-12:
        return np.full(2, np.nan)
    return p - (w @ p + b) / n2 * w


# --------------------------------------------------------------------------------------------
# Fitting with autograd
# --------------------------------------------------------------------------------------------
def fit(W, b, X, y, loss: str = "softmax", reg: float = 0.0, steps: int = 200,
        lr: float = 0.5) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Full-batch gradient descent on  data_loss(W X + b, y) + reg * sum W^2, by torch autograd.

    Starts from the given W (C, D) and b (C,) (they are not modified) and takes `steps` steps of
    size `lr`. Used by the lecture-02 widget's "fit" button and for small demonstrations.

    Returns:
        W: (C, D), b: (C,) float64 arrays after training, and the list of the `steps` total
        losses, one per step (each measured before that step's update).
    """
    W, b = _check_params(W, b, "fit")
    X, y = _check_data(X, y, W, "fit")
    if loss not in LOSSES:
        raise ValueError(f"fit: loss must be one of {LOSSES}, got {loss!r}")
    if reg < 0:
        raise ValueError(f"fit: reg must be >= 0, got {reg}")
    if not (isinstance(steps, int | np.integer) and steps >= 0):
        raise ValueError(f"fit: steps must be a non-negative int, got {steps!r}")
    if not lr > 0:
        raise ValueError(f"fit: lr must be positive, got {lr}")
    Wt = torch.tensor(W, requires_grad=True)  # (C, D) float64 copy
    bt = torch.tensor(b, requires_grad=True)  # (C,)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    history = []
    for _ in range(steps):
        s = Xt @ Wt.T + bt  # (N, C)
        total = data_loss_torch(s, yt, loss) + reg * (Wt * Wt).sum()
        history.append(float(total.detach()))
        Wt.grad = bt.grad = None
        total.backward()
        with torch.no_grad():
            Wt -= lr * Wt.grad
            bt -= lr * bt.grad
    return Wt.detach().numpy().copy(), bt.detach().numpy().copy(), history


# --------------------------------------------------------------------------------------------
# The widget's data sets
# --------------------------------------------------------------------------------------------
TOY_SETS = ("blobs", "overlapping blobs", "one class in two places", "spiral")


def toy_data(name: str = "blobs", n: int = 150, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two-dimensional, three-class data sets for linear-classifier pictures.

    "blobs": three well separated clusters (a linear classifier gets them all right);
    "overlapping blobs": the same with more noise (no line separates them perfectly);
    "one class in two places": class 0 occupies two opposite clusters (a linear classifier cannot
    give one class two separate regions); "spiral": three interleaved arms.

    Returns:
        X: (n, 2) float64, y: (n,) int64 labels in 0..2.
    """
    from dlcv.data import make_toy_2d

    if name == "blobs":
        return make_toy_2d("blobs", n=n, noise=0.3, num_classes=3, seed=seed)
    if name == "overlapping blobs":
        return make_toy_2d("blobs", n=n, noise=0.6, num_classes=3, seed=seed)
    if name == "one class in two places":
        # class 0 sits left and right of class 1; class 2 lies above. Any region a linear
        # classifier gives to class 0 is convex, so it cannot hold both clusters without class 1.
        rng = np.random.default_rng(seed)
        centres = np.array([[-1.3, -0.45], [1.3, -0.45], [0.0, -0.45], [0.0, 0.95]])
        labels = np.array([0, 0, 1, 2])
        k = np.arange(n) % 4  # cluster of each point
        X = centres[k] + rng.normal(0, 0.25, (n, 2))
        return X, labels[k].astype(np.int64)
    if name == "spiral":
        return make_toy_2d("spiral", n=n, noise=0.05, num_classes=3, seed=seed)
    raise ValueError(f"toy_data: unknown data set {name!r}; choose one of {TOY_SETS}")


# --------------------------------------------------------------------------------------------
# A static picture of a 2-D linear classifier
# --------------------------------------------------------------------------------------------
def square_box(X, margin: float = 0.3) -> tuple[float, float, float, float]:
    """A square (xmin, xmax, ymin, ymax) centred on 0 that holds the points X (N, 2) with a margin,
    its half-side rounded up to a multiple of 0.5 (so that it does not jump with every sample)."""
    X = _as_2d(X, "X", "square_box")
    lim = float(np.ceil((np.abs(X).max() + margin) * 2) / 2)
    return (-lim, lim, -lim, lim)


class LinearPicture:
    """The picture of a linear classifier s = W x + b on 2-D data, drawn once into an Axes and
    then updated in place: decision regions, the data points, each line s_c = 0 (dashed) and
    each weight vector w_c as an arrow of length arrow_scale * |w_c| starting on its line, at the
    point nearest to the data's mean. plot_linear_2d and LinearClassifierView both draw with it.

    Artists: regions (AxesImage), points (PathCollection), lines (list of Line2D, or []),
    arrows (Quiver, or None).
    """

    def __init__(self, ax, num_classes: int, steps: int = 200, lines: bool = True,
                 arrows: bool = True, arrow_scale: float = 0.3):
        from dlcv.plots import CLASS_COLORS, class_cmap

        C = self.num_classes = int(num_classes)
        self.ax, self.steps = ax, int(steps)
        self.regions = ax.imshow(np.zeros((2, 2)), origin="lower", extent=(-1, 1, -1, 1),
                                 cmap=class_cmap(C, light=True), vmin=-0.5, vmax=C - 0.5,
                                 interpolation="nearest", aspect="equal")
        self.points = ax.scatter(np.zeros(1), np.zeros(1), c=[0], cmap=class_cmap(C), vmin=-0.5,
                                 vmax=C - 0.5, edgecolors="k", linewidths=0.5, s=18, zorder=3)
        self.lines = [ax.plot([], [], color=CLASS_COLORS[c], ls="--", lw=1.4, zorder=4)[0]
                      for c in range(C)] if lines else []
        self.arrows = ax.quiver(np.zeros(C), np.zeros(C), np.zeros(C), np.zeros(C),
                                color=list(CLASS_COLORS[:C]), angles="xy", scale_units="xy",
                                scale=1 / arrow_scale, width=0.012, edgecolor="k",
                                linewidth=0.6, zorder=5) if arrows else None

    def set_data(self, X, y, box=None) -> None:
        """New points X (N, 2), y (N,); the view becomes `box` (default: square_box(X))."""
        X = _as_2d(X, "X", "LinearPicture.set_data")
        self.X, self.box = X, tuple(box) if box is not None else square_box(X)
        xx, yy = np.meshgrid(np.linspace(self.box[0], self.box[1], self.steps),
                             np.linspace(self.box[2], self.box[3], self.steps))
        self.grid = np.stack([xx.ravel(), yy.ravel()], 1)  # (steps * steps, 2)
        self.regions.set_extent(self.box)
        self.points.set_offsets(X)
        self.points.set_array(np.asarray(y, dtype=np.float64))
        self.ax.set_xlim(self.box[0], self.box[1])
        self.ax.set_ylim(self.box[2], self.box[3])

    def set_weights(self, W, b, highlight: int | None = None) -> None:
        """Redraw for weights W (C, 2), b (C,); the line of class `highlight` is drawn solid."""
        W, b = _check_params(W, b, "LinearPicture.set_weights")
        self.regions.set_data(regions(W, b, self.grid).reshape(self.steps, self.steps))
        for c, line in enumerate(self.lines):
            seg = line_in_box(W[c], b[c], self.box)
            line.set_data(seg[:, 0], seg[:, 1])
            line.set_linestyle("-" if c == highlight else "--")
            line.set_linewidth(2.5 if c == highlight else 1.4)
        if self.arrows is not None:
            centre = self.X.mean(0)
            feet = np.array([foot_of_normal(W[c], b[c], centre) for c in range(len(W))])
            self.arrows.set_offsets(np.nan_to_num(feet, nan=1e6))  # no line: arrow out of sight
            self.arrows.set_UVC(W[:, 0], W[:, 1])


def plot_linear_2d(ax, W, b, X, y, box=None, steps: int = 200, lines: bool = True,
                   arrows: bool = True, arrow_scale: float = 0.3, title: str | None = None):
    """A static picture of s = W x + b on the plane (see LinearPicture).

    Args:
        ax: a matplotlib Axes. W: (C, 2), b: (C,), X: (N, 2), y: (N,) labels in 0..C-1.
        box: (xmin, xmax, ymin, ymax); by default square_box(X).

    Returns:
        dict of the artists: "regions" (AxesImage), "points", "lines" (list), "arrows" (or None).
    """
    W, b = _check_params(W, b, "plot_linear_2d")
    if W.shape[1] != 2:
        raise ValueError(f"plot_linear_2d: W must have shape (C, 2), got {W.shape}")
    X, y = _check_data(X, y, W, "plot_linear_2d")
    pic = LinearPicture(ax, W.shape[0], steps, lines, arrows, arrow_scale)
    pic.set_data(X, y, box)
    pic.set_weights(W, b)
    if title:
        ax.set_title(title, fontsize=10)
    return {"regions": pic.regions, "points": pic.points, "lines": pic.lines, "arrows": pic.arrows}
