"""Lecture 15's widget: the nearest training images of a test image in each representation.

    view = NeighboursView(spaces, X_train, y_train, X_test, y_test)
    view            # last line of a cell: live in JupyterLab, a static PNG elsewhere

NeighboursView: spaces maps a name ("pixels", "SimCLR", ...) to (F_train (N, D), F_test (M, D)).
Controls (attributes): view.index (the test image), view.space (the representation), view.k
(how many neighbours). Panels: the query, then its k nearest training images by cosine
similarity of standardized features (dlcv.selfsupervised.probe.nearest), framed green when
they share the query's label and pink when they do not. The readout gives that share for this
query and, for the chosen representation, over the whole test set (label_agreement).
"""

from __future__ import annotations

import html

import numpy as np
import torch

from dlcv.plots import CLASS_COLORS
from dlcv.selfsupervised.probe import label_agreement, nearest
from dlcv.widget import FigureView, dropdown, slider

K_MAX = 10


def _show(img: np.ndarray) -> np.ndarray:
    """(C, H, W) -> what imshow takes: (H, W) for one channel, (H, W, 3) for three."""
    return img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)


class NeighboursView(FigureView):
    """A test image and its nearest training images in the chosen representation.

    Args: spaces: {name: (F_train (N, D), F_test (M, D))}; X_train (N, C, H, W) and X_test
    (M, C, H, W) in [0, 1]; y_train (N,), y_test (M,) labels; index: the first query; k: the
    first number of neighbours (1..10).
    State: neighbours ((k,) indices into the training set), agreement (this query's share),
    overall ({name: mean agreement over the test set at this k}).
    Artists: query_image, neighbour_images (K_MAX AxesImages; those beyond k are hidden).
    """

    def __init__(self, spaces: dict, X_train, y_train, X_test, y_test, index: int = 0,
                 k: int = 8):
        if not spaces:
            raise ValueError("NeighboursView: spaces must name at least one representation")
        self.X_train = np.asarray(X_train, np.float32)
        self.X_test = np.asarray(X_test, np.float32)
        self.y_train, self.y_test = np.asarray(y_train), np.asarray(y_test)
        if self.X_train.ndim != 4 or self.y_train.shape != (len(self.X_train),) or \
                self.y_test.shape != (len(self.X_test),):
            raise ValueError(f"NeighboursView: X_* must be (N, C, H, W) with one label each, got "
                             f"{self.X_train.shape}, {self.y_train.shape}, {self.X_test.shape}, "
                             f"{self.y_test.shape}")
        if not (isinstance(index, int) and 0 <= index < len(self.X_test)):
            raise ValueError(f"NeighboursView: index must be an int in 0..{len(self.X_test) - 1}, "
                             f"got {index!r}")
        if not (isinstance(k, int) and 1 <= k <= K_MAX):
            raise ValueError(f"NeighboursView: k must be an int in 1..{K_MAX}, got {k!r}")
        super().__init__(figsize=(11.0, 1.9))
        # every query's K_MAX neighbours in every space, once: the controls only look them up
        self.table = {name: nearest(torch.as_tensor(f_test), torch.as_tensor(f_train), K_MAX)
                      for name, (f_train, f_test) in spaces.items()}
        self.index = slider("test image", index, 0, len(self.X_test) - 1, 1, width="320px")
        self.space = dropdown("representation", list(spaces), list(spaces)[0], width="260px")
        self.k = slider("neighbours k", k, 1, K_MAX, 1, width="240px")
        self.watch(self.index, self.space, self.k)

        axes = self.fig.subplots(1, K_MAX + 1, gridspec_kw=dict(left=0.01, right=0.99,
                                                                bottom=0.02, top=0.8, wspace=0.12))
        blank = _show(np.zeros(self.X_test.shape[1:]))
        grey = dict(cmap="gray", vmin=0, vmax=1)
        self.query_image = axes[0].imshow(blank, **grey)
        self.neighbour_images = [ax.imshow(blank, **grey) for ax in axes[1:]]
        self.axes = axes
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        self.titles = [ax.set_title("", fontsize=8) for ax in axes]
        self.stats: dict = {}
        self.update()

    def update(self) -> None:
        if self._syncing:
            return
        i, name, k = int(self.index.value), self.space.value, int(self.k.value)
        idx = self.table[name][:, :k]                                     # (M, k)
        agree = label_agreement(idx, self.y_test, self.y_train)           # (M,)
        nb = idx[i].numpy()
        self.stats = {"neighbours": nb, "agreement": float(agree[i]),
                      "overall": {n: float(label_agreement(t[:, :k], self.y_test,
                                                           self.y_train).mean())
                                  for n, t in self.table.items()}}
        self.query_image.set_data(_show(self.X_test[i]))
        self.titles[0].set_text(f"query: {self.y_test[i]}")
        for j, (ax, im) in enumerate(zip(self.axes[1:], self.neighbour_images, strict=True)):
            shown = j < k
            ax.set_visible(shown)
            if not shown:
                continue
            t = int(nb[j])
            im.set_data(_show(self.X_train[t]))
            self.titles[j + 1].set_text(str(self.y_train[t]))
            ok = self.y_train[t] == self.y_test[i]
            for sp in ax.spines.values():
                sp.set_color(CLASS_COLORS[2] if ok else CLASS_COLORS[3])
                sp.set_linewidth(2.5)
        overall = ", ".join(f"{html.escape(n)} {v:.3f}" for n, v in self.stats["overall"].items())
        self.readout.value = (
            f"test image {i} (label {self.y_test[i]}), <b>{html.escape(name)}</b>: "
            f"{self.stats['agreement']:.0%} of its {k} nearest training images share its label. "
            f"Over all {len(self.y_test)} test images, at k = {k}: {overall}.")
        self.render()
