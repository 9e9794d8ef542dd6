"""Which activations batch, layer, instance and group normalisation average over (lecture 05).

A feature tensor of a convolutional layer has shape (N, C, H, W); flatten H and W into one axis
to picture it as a cube (N, C, H*W). Every normalisation subtracts a mean and divides by a
standard deviation computed over a *set* of that cube:

    batch     one channel, all examples and positions          mean over (N, H, W), per c
    layer     one example, all channels and positions          mean over (C, H, W), per n
    instance  one example, one channel, all positions          mean over (H, W), per (n, c)
    group     one example, a group of C/G channels, all pos.   mean over (C/G, H, W), per (n, g)

    NORMS                          the four names
    norm_set(kind, N, C, HW, ...)  boolean (N, C, HW) mask of the set one statistic is taken over
    normalize(x, kind, groups)     the normalisation by torch.nn.functional (no scale or shift)
    draw_norm_set(ax, kind, ...)   the cube with that set highlighted (a 3-D matplotlib Axes),
                                   after Figure 2 of Wu & He (2018)
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

NORMS = ("batch", "layer", "instance", "group")


def norm_set(kind: str, N: int = 4, C: int = 6, HW: int = 5, groups: int = 3, n: int = 0,
             c: int = 0) -> np.ndarray:
    """The activations that share one mean and variance with activation (n, c, any position).

    Returns a boolean array (N, C, HW). For "group", channel c belongs to group c // (C // groups).
    """
    if kind not in NORMS:
        raise ValueError(f"norm_set: kind must be one of {NORMS}, got {kind!r}")
    if not (groups >= 1 and C % groups == 0):
        raise ValueError(f"norm_set: groups must divide C = {C}, got {groups}")
    if not (0 <= n < N and 0 <= c < C):
        raise ValueError(f"norm_set: need 0 <= n < {N} and 0 <= c < {C}, got n={n}, c={c}")
    m = np.zeros((N, C, HW), dtype=bool)
    if kind == "batch":
        m[:, c, :] = True
    elif kind == "layer":
        m[n, :, :] = True
    elif kind == "instance":
        m[n, c, :] = True
    else:
        size = C // groups
        g = c // size
        m[n, g * size:(g + 1) * size, :] = True
    return m


def normalize(x: torch.Tensor, kind: str, groups: int = 2, eps: float = 1e-5) -> torch.Tensor:
    """x: (N, C, ...) -> the same shape, normalised over norm_set's axes, with torch.

    Training-mode statistics (batch norm uses the batch's own mean and variance), no learned
    scale or shift: the bare normalisation, to compare the four.
    """
    if kind not in NORMS:
        raise ValueError(f"normalize: kind must be one of {NORMS}, got {kind!r}")
    if x.dim() < 2:
        raise ValueError(f"normalize: x must be (N, C, ...), got shape {tuple(x.shape)}")
    if kind == "batch":
        return F.batch_norm(x, None, None, training=True, eps=eps)
    if kind == "layer":
        return F.layer_norm(x, x.shape[1:], eps=eps)
    if kind == "instance":
        return F.instance_norm(x, eps=eps)
    return F.group_norm(x, groups, eps=eps)


_TITLES = {"batch": "Batch norm", "layer": "Layer norm", "instance": "Instance norm",
           "group": "Group norm"}


def draw_norm_set(ax, kind: str, N: int = 4, C: int = 6, HW: int = 5, groups: int = 3,
                  color: str = "#56B4E9") -> None:
    """Draw the (N, C, H*W) cube on a 3-D Axes (projection="3d") with the set of norm_set
    highlighted; the rest is drawn as faint glass."""
    m = norm_set(kind, N, C, HW, groups)
    filled = np.ones((N, C, HW), dtype=bool)
    colors = np.empty((N, C, HW), dtype=object)
    colors[...] = "#FFFFFF22"
    colors[m] = color
    # axes of the picture: x = C (to the right), y = N (into the page), z = H*W (up)
    ax.voxels(filled.transpose(1, 0, 2), facecolors=colors.transpose(1, 0, 2),
              edgecolor="#55555588", linewidth=0.3)
    ax.set_box_aspect((C, N, HW), zoom=1.0)
    ax.view_init(elev=20, azim=-60)
    ax.set_axis_off()
    ax.text(C / 2, -0.9, -0.6, "C (channels)", ha="center", va="top", fontsize=8)
    ax.text(C + 0.3, N / 2, -0.3, "N (batch)", ha="left", va="top", fontsize=8)
    ax.text(-0.3, 0, HW / 2, "H, W", ha="right", va="center", fontsize=8)
    ax.set_title(_TITLES[kind], fontsize=10)
