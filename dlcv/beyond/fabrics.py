"""Convolutional neural fabrics (lecture 13, Saxena & Verbeek 2016): one trellis of feature
maps over layers and scales that contains a huge number of chain architectures.

    fabric_edges(layers, scales)           every connection of the trellis, with its kind
    count_paths(layers, scales, start, end)how many chains run from one node to another
    is_path(path, scales)                  a chain: one scale per layer, steps of at most one scale
    example_paths(layers, scales)          a classification CNN and an encoder-decoder (U-Net-like)
                                           embedded in the fabric
    draw_fabric(ax, layers, scales, paths) the trellis with highlighted chains
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.patches import Circle

EDGE_KINDS = {
    -1: "upsample (coarser -> finer)",
    0: "conv3x3 (same scale)",
    1: "strided conv3x3 (finer -> coarser)",
}
EDGE_COLORS = {-1: "#E69F00", 0: "0.55", 1: "#0072B2"}


def _check(layers: int, scales: int, who: str) -> None:
    for name, v in (("layers", layers), ("scales", scales)):
        if not (isinstance(v, int | np.integer) and v >= 1):
            raise ValueError(f"{who}: {name} must be a positive int, got {v!r}")


def fabric_edges(layers: int, scales: int) -> list[tuple[int, int, int, int, int]]:
    """All connections between consecutive layers: (layer, scale, layer + 1, scale', kind) with
    |scale' - scale| <= 1 and kind = scale' - scale (1: down to a coarser scale by a strided
    convolution, 0: same scale, -1: up to a finer scale). Scale 0 is the finest (input)."""
    _check(layers, scales, "fabric_edges")
    out = []
    for l in range(layers - 1):
        for s in range(scales):
            for t in (s - 1, s, s + 1):
                if 0 <= t < scales:
                    out.append((l, s, l + 1, t, t - s))
    return out


def count_paths(layers: int, scales: int, start: int = 0, end: int | None = None) -> int:
    """The number of chains from node (layer 0, scale `start`) to (last layer, scale `end`)
    that follow the fabric's edges (each a different plain CNN with `layers` feature maps).
    end defaults to the coarsest scale (a classification network). Dynamic programming:
    n(l + 1, t) = n(l, t - 1) + n(l, t) + n(l, t + 1)."""
    _check(layers, scales, "count_paths")
    end = scales - 1 if end is None else end
    if not (0 <= start < scales and 0 <= end < scales):
        raise ValueError(f"count_paths: start and end must be scales in 0..{scales - 1}, got "
                         f"{start}, {end}")
    n = np.zeros(scales, dtype=object)
    n[start] = 1
    for _ in range(layers - 1):
        m = n.copy()
        m[1:] += n[:-1]
        m[:-1] += n[1:]
        n = m
    return int(n[end])


def is_path(path: Sequence[int], scales: int) -> bool:
    """True when `path` gives one scale in 0..scales - 1 per layer and moves at most one scale
    between consecutive layers (so that it follows the fabric's edges)."""
    p = np.asarray(path)
    return bool(p.ndim == 1 and len(p) >= 1 and np.all((p >= 0) & (p < scales))
                and np.all(np.abs(np.diff(p)) <= 1))


def example_paths(layers: int, scales: int) -> dict[str, list[int]]:
    """Two familiar architectures as chains through the fabric:

    "classification CNN": stays at full resolution one layer, then goes down one scale per
        layer (strided convolutions / pooling) and stays at the coarsest scale
    "encoder-decoder": goes down to the coarsest scale and back up to the finest
        (the chain of a U-Net, without its skip connections)
    """
    _check(layers, scales, "example_paths")
    cls = [min(max(l - 1, 0), scales - 1) for l in range(layers)]
    half = (layers - 1) / 2
    ed = [int(min(round(half - abs(l - half)), scales - 1)) for l in range(layers)]
    return {"classification CNN": cls, "encoder-decoder": ed}


def draw_fabric(ax, layers: int = 8, scales: int = 4,
                paths: dict[str, Sequence[int]] | None = None) -> None:
    """The fabric as a trellis: columns are layers, rows are scales (finest at the top, circles
    shrink with resolution), thin edges coloured by kind (EDGE_COLORS), and `paths` (name ->
    one scale per layer) drawn thick on top. paths=None draws example_paths."""
    _check(layers, scales, "draw_fabric")
    paths = example_paths(layers, scales) if paths is None else paths
    for name, p in paths.items():
        if len(p) != layers or not is_path(p, scales):
            raise ValueError(f"draw_fabric: path {name!r} must give one scale in 0..{scales - 1} "
                             f"per layer ({layers}) with steps of at most 1, got {list(p)}")
    for l, s, l2, t, kind in fabric_edges(layers, scales):
        ax.plot([l, l2], [-s, -t], color=EDGE_COLORS[kind], lw=0.9, zorder=1, alpha=0.8)
    path_colors = ("#D55E00", "#009E73", "#CC79A7", "#000000")
    for (name, p), c in zip(paths.items(), path_colors, strict=False):
        ax.plot(np.arange(layers), -np.asarray(p, float), color=c, lw=4, alpha=0.75, zorder=2,
                solid_capstyle="round", label=name)
    for l in range(layers):
        for s in range(scales):
            ax.add_patch(Circle((l, -s), 0.22 * 0.8 ** s, fc="w", ec="k", lw=0.9, zorder=3))
    for kind, label in EDGE_KINDS.items():
        ax.plot([], [], color=EDGE_COLORS[kind], lw=1.5, label=label)
    ax.set_xlim(-0.6, layers - 0.4)
    ax.set_ylim(-scales + 0.4, 0.6)
    ax.set_xticks(range(layers))
    ax.set_xticklabels([str(l + 1) for l in range(layers)])
    ax.set_yticks([-s for s in range(scales)])
    ax.set_yticklabels([f"1/{2 ** s}" for s in range(scales)])
    ax.set_xlabel("layer")
    ax.set_ylabel("resolution")
    ax.set_aspect("equal")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
