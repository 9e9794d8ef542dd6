"""Plotting helpers shared by lectures and assignments."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

# One palette for classes across the course (colour-blind friendly, Okabe-Ito order).
CLASS_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
                "#000000", "#999999", "#882255")


def class_cmap(num_classes: int, light: bool = False) -> ListedColormap:
    """A categorical colormap with the course's class colours; light=True for backgrounds."""
    from matplotlib.colors import to_rgb

    cols = [np.array(to_rgb(c)) for c in CLASS_COLORS[:num_classes]]
    if light:
        cols = [0.55 * c + 0.45 for c in cols]
    return ListedColormap(cols)


def to_displayable(img: np.ndarray) -> np.ndarray:
    """Rescale any image array to [0, 1] for imshow: (H, W) or (H, W, 3)."""
    img = np.asarray(img, dtype=np.float64)
    lo, hi = img.min(), img.max()
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def show_images(
    images: Sequence[np.ndarray] | np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    size: float = 1.4,
    cmap: str = "gray",
    suptitle: str | None = None,
    rescale: bool = True,
):
    """A grid of images (grey (H, W) or colour (H, W, 3)); returns the figure.

    rescale=True stretches each image to its own [min, max] (good for weights and features);
    rescale=False shows pixel values as they are, 0..255 (so a darker photo looks darker).
    """
    images = list(images)
    if not images:
        raise ValueError("show_images: no images to show")
    n = len(images)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3 * bool(titles)),
                             squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < n:
            img = to_displayable(images[i]) if rescale else np.clip(np.asarray(images[i]) / 255, 0, 1)
            ax.imshow(img, cmap=cmap if np.ndim(images[i]) == 2 else None, interpolation="nearest",
                      vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def show_values(ax, M: np.ndarray, title: str | None = None, vmin: float = 0, vmax: float = 255,
                fontsize: int = 8, fmt: str = "{:.0f}"):
    """A small matrix M (h, w) as grey cells with each number written inside (pixel patches,
    kernels, worked examples)."""
    M = np.asarray(M)
    if M.ndim != 2:
        raise ValueError(f"show_values: M must be a 2-D matrix, got shape {M.shape}")
    ax.imshow(M, cmap="gray", vmin=vmin, vmax=vmax)
    for (i, j), v in np.ndenumerate(M):
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=fontsize,
                color="white" if v < (vmin + vmax) / 2 else "black")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)


def show_class_examples(X: np.ndarray, y: np.ndarray, class_names: Sequence[str],
                        per_class: int = 7, seed: int = 0, size: float = 1.0):
    """CS231n's picture of a data set: one column per class, `per_class` random examples each."""
    rng = np.random.default_rng(seed)
    C = len(class_names)
    fig, axes = plt.subplots(per_class, C, figsize=(size * C, size * per_class), squeeze=False)
    for c in range(C):
        idx = np.flatnonzero(y == c)
        pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        for r in range(per_class):
            ax = axes[r, c]
            ax.axis("off")
            if r < len(pick):
                img = X[pick[r]]
                ax.imshow(to_displayable(img), cmap="gray" if img.ndim == 2 else None,
                          interpolation="nearest")
        axes[0, c].set_title(class_names[c], fontsize=9)
    fig.tight_layout()
    return fig


def grid_2d(X: np.ndarray, steps: int = 200, margin: float = 0.3):
    """A regular grid covering 2-D points X (N, 2) with a margin.

    Returns xx, yy (steps, steps) and the grid as points (steps*steps, 2)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"grid_2d: X must have shape (N, 2), got {X.shape}")
    lo, hi = X.min(0) - margin, X.max(0) + margin
    xs, ys = np.linspace(lo[0], hi[0], steps), np.linspace(lo[1], hi[1], steps)
    xx, yy = np.meshgrid(xs, ys)
    return xx, yy, np.stack([xx.ravel(), yy.ravel()], 1)


def plot_decision_regions(ax, predict: Callable[[np.ndarray], np.ndarray], X: np.ndarray,
                          y: np.ndarray, num_classes: int | None = None, steps: int = 200,
                          title: str | None = None):
    """Colour the plane by predict(points) -> (M,) labels, and draw the points X, y on top."""
    num_classes = int(num_classes or (y.max() + 1))
    xx, yy, pts = grid_2d(X, steps)
    Z = np.asarray(predict(pts)).reshape(xx.shape)
    ax.imshow(Z, origin="lower", extent=(xx.min(), xx.max(), yy.min(), yy.max()),
              cmap=class_cmap(num_classes, light=True), vmin=-0.5, vmax=num_classes - 0.5,
              interpolation="nearest", aspect="auto")
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap=class_cmap(num_classes), vmin=-0.5,
               vmax=num_classes - 0.5, edgecolors="k", linewidths=0.5, s=22)
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    if title:
        ax.set_title(title)
    return Z


def plot_cv_accuracy(ax, choices: Sequence, accuracies: dict, xlabel: str = "k"):
    """Cross-validation: every fold's accuracy as a dot, mean with std as error bars."""
    choices = list(choices)
    for c in choices:
        accs = accuracies[c]
        ax.scatter([c] * len(accs), accs, color="0.6", s=12)
    means = np.array([np.mean(accuracies[c]) for c in choices])
    stds = np.array([np.std(accuracies[c]) for c in choices])
    ax.errorbar(choices, means, yerr=stds, color=CLASS_COLORS[0], marker="o", capsize=3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation accuracy")
    ax.set_title("Cross-validation")
    return means


def show_templates(W: np.ndarray, image_shape: tuple, class_names: Sequence[str], size: float = 1.3,
                   title: str | None = None):
    """A linear classifier's weights, one class template per panel.

    W is (C, D) (rows are templates) or (D, C) (CS231n's X @ W layout), D = prod(image_shape).
    Grey images (H, W): a diverging colour map, white at exactly 0, red positive, blue negative,
    one symmetric scale shared by all templates (with a colour bar) so their sizes compare.
    Colour images (H, W, 3): each template rescaled to [0, 1], as CS231n shows them.
    Returns the figure.
    """
    W = np.asarray(W, dtype=np.float64)
    shape = tuple(image_shape)
    C, D = len(class_names), int(np.prod(shape))
    if W.ndim == 2 and W.shape == (D, C) and W.shape != (C, D):
        W = W.T
    if W.shape != (C, D):
        raise ValueError(f"show_templates: W should be ({C}, {D}) or its transpose for {C} classes "
                         f"of images {shape}, got {W.shape}")
    if len(shape) != 2:
        fig = show_images([w.reshape(shape) for w in W], titles=list(class_names), ncols=C,
                          size=size)
        if title:
            fig.suptitle(title, y=1.0 + 0.25 / fig.get_figheight(), fontsize=10)
        return fig
    v = float(np.abs(W).max()) or 1.0
    fig, axes = plt.subplots(1, C, figsize=(size * C + 0.8, size + 0.45), squeeze=False)
    for c, ax in enumerate(axes[0]):
        im = ax.imshow(W[c].reshape(shape), cmap="RdBu_r", vmin=-v, vmax=v, interpolation="nearest")
        ax.set_title(str(class_names[c]), fontsize=9)
        ax.axis("off")
    fig.colorbar(im, ax=list(axes[0]), fraction=0.012, pad=0.01)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_loss_history(ax, history: Sequence[float], title: str = "training loss", smooth: int = 0):
    """Loss per iteration, with an optional moving average over `smooth` iterations."""
    h = np.asarray(history, dtype=np.float64)
    ax.plot(h, color="0.75" if smooth else CLASS_COLORS[0], lw=0.8)
    if smooth and len(h) > smooth:
        ax.plot(np.arange(smooth - 1, len(h)), np.convolve(h, np.ones(smooth) / smooth, "valid"),
                color=CLASS_COLORS[0])
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title(title)


def show_captioned(images: Sequence[np.ndarray] | np.ndarray, captions: Sequence[Sequence[str]],
                   ncols: int = 4, size: float = 2.3, wrap: int = 40, fontsize: float = 7.5,
                   bullet: str = "- ", suptitle: str | None = None):
    """Colour images (H, W, 3) in [0, 1], each with lines of text under it; returns the figure.

    captions: one list of lines per image (e.g. ["LSTM: a red circle ...", "RNN: ..."]). Each line
    starts with `bullet` and is wrapped at `wrap` characters with a hanging indent, so that
    one can see where a caption ends. Every row of images leaves room for its longest block.
    """
    import textwrap

    images = list(images)
    if not images:
        raise ValueError("show_captioned: no images to show")
    if len(captions) != len(images):
        raise ValueError(f"show_captioned: {len(images)} images but {len(captions)} caption lists")
    indent = " " * len(bullet)
    blocks = ["\n".join(textwrap.fill(f"{bullet}{line}", wrap, subsequent_indent=indent)
                        for line in lines) for lines in captions]
    n = len(images)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    line_h = fontsize * 1.25 / 72  # inches per line of text
    text_h = [line_h * max((blocks[i].count("\n") + 1) if blocks[i] else 0
                           for i in range(r * ncols, min(n, (r + 1) * ncols))) + 0.15
              for r in range(nrows)]
    gap, title_h = 0.12, 0.35 if suptitle else 0.05
    width = ncols * size + (ncols + 1) * gap
    height = title_h + sum(size + t + gap for t in text_h)
    fig = plt.figure(figsize=(width, height))
    top = height - title_h
    for r in range(nrows):
        for c in range(ncols):
            i = r * ncols + c
            if i >= n:
                continue
            ax = fig.add_axes(((gap + c * (size + gap)) / width, (top - size) / height,
                               size / width, size / height))
            ax.imshow(np.clip(np.asarray(images[i]), 0, 1), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.text(0.0, -0.03, blocks[i], transform=ax.transAxes, ha="left", va="top",
                    fontsize=fontsize)
        top -= size + text_h[r] + gap
    if suptitle:
        fig.suptitle(suptitle, fontsize=10, y=1 - 0.08 / height)
    return fig
