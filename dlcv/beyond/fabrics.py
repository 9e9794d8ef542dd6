"""Convolutional neural fabrics (lecture 18, Saxena & Verbeek 2016): one trellis of feature
maps over layers and scales that contains a huge number of chain architectures.

    fabric_edges(layers, scales)           every connection of the trellis, with its kind
    count_paths(layers, scales, start, end)how many chains run from one node to another
    is_path(path, scales)                  a chain: one scale per layer, steps of at most one scale
    example_paths(layers, scales)          a classification CNN and an encoder-decoder (U-Net-like)
                                           embedded in the fabric
    draw_fabric(ax, layers, scales, paths) the trellis with highlighted chains
    Fabric(layers, scales, channels)       the trellis as a trainable classifier (torch module)
    chain_cnn(path, width)                 one chain of the trellis as a plain CNN
    train_classifier(model, X, y, epochs)  Adam on cross-entropy, for a fabric or a chain
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.patches import Circle
from torch import nn

from dlcv.loop import Log, shuffled, train

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


# ---------------------------------------------------------------------------------------------
# The fabric as a network
# ---------------------------------------------------------------------------------------------

def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)   # BatchNorm follows


def _key(l: int, s: int, l2: int, t: int) -> str:
    return f"{l}_{s}_to_{l2}_{t}"


class Fabric(nn.Module):
    """A convolutional neural fabric for classification: layers x scales nodes, node (l, s) a
    feature map of `channels` channels at resolution H / 2^s, W / 2^s.

        node (0, 0) = conv3x3(x)                               the input enters at the finest scale
        node (0, s) = strided conv3x3(node (0, s - 1))         the first layer goes down
        node (l, s) = conv3x3(node (l - 1, s))                 same scale
                    + strided conv3x3(node (l - 1, s - 1))     from the finer scale
                    + conv3x3(upsample(node (l - 1, s + 1)))   from the coarser scale (nearest)
                    (the terms whose nodes exist: the edges of fabric_edges)
        last layer, also + strided conv3x3(node (L - 1, s - 1))  towards the output node

    Every node is BatchNorm then ReLU of its sum. The output node (L - 1, S - 1) is averaged over
    its positions and a linear layer gives the scores. All edges point to the right, down in the
    first layer and towards the output in the last (Saxena & Verbeek 2016); every chain of
    count_paths is a path through it. The convolutions are in `edges`, keyed "l_s_to_l2_t".

    x: (N, in_channels, H, W), H and W divisible by 2^(scales - 1) -> scores (N, num_classes).
    seed fixes the initial weights without touching the global torch random state.
    """

    def __init__(self, layers: int = 4, scales: int = 3, channels: int = 8, in_channels: int = 1,
                 num_classes: int = 10, seed: int | None = 0):
        super().__init__()
        _check(layers, scales, "Fabric")
        if layers < 2:
            raise ValueError(f"Fabric: layers must be >= 2 (a first and a last layer), "
                             f"got {layers}")
        for name, v in (("channels", channels), ("in_channels", in_channels)):
            if not (isinstance(v, int | np.integer) and v >= 1):
                raise ValueError(f"Fabric: {name} must be a positive int, got {v!r}")
        self.layers, self.scales, self.in_channels = layers, scales, in_channels
        L, S, C = layers, scales, channels
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            edges = {_key(-1, 0, 0, 0): _conv(in_channels, C)}                 # the input
            for s in range(1, S):                                              # within layer 0
                edges[_key(0, s - 1, 0, s)] = _conv(C, C, stride=2)
            for l, s, l2, t, kind in fabric_edges(L, S):                       # between layers
                edges[_key(l, s, l2, t)] = _conv(C, C, stride=2 if kind == 1 else 1)
            for s in range(1, S):                                              # within layer L-1
                edges[_key(L - 1, s - 1, L - 1, s)] = _conv(C, C, stride=2)
            self.edges = nn.ModuleDict(edges)
            self.norms = nn.ModuleList(nn.BatchNorm2d(C) for _ in range(L * S))
            self.head = nn.Linear(C, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = 2 ** (self.scales - 1)
        if not (isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[1] == self.in_channels
                and x.shape[2] % k == 0 and x.shape[3] % k == 0):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"Fabric: x must have shape (N, {self.in_channels}, H, W) with H "
                             f"and W divisible by {k}, got {shape}")
        L, S, e = self.layers, self.scales, self.edges
        prev: list[torch.Tensor] = []
        for l in range(L):
            cur: list[torch.Tensor] = []
            for s in range(S):
                if l == 0:
                    z = e[_key(-1, 0, 0, 0)](x) if s == 0 else 0             # (N, C, H, W)
                else:
                    z = e[_key(l - 1, s, l, s)](prev[s])
                    if s > 0:
                        z = z + e[_key(l - 1, s - 1, l, s)](prev[s - 1])     # strided
                    if s + 1 < S:
                        up = F.interpolate(prev[s + 1], scale_factor=2.0, mode="nearest")
                        z = z + e[_key(l - 1, s + 1, l, s)](up)
                if s > 0 and l in (0, L - 1):
                    z = z + e[_key(l, s - 1, l, s)](cur[s - 1])              # within the layer
                cur.append(F.relu(self.norms[l * S + s](z)))                 # (N, C, H/2^s, W/2^s)
            prev = cur
        return self.head(prev[-1].mean(dim=(2, 3)))                          # (N, num_classes)


def chain_cnn(path: Sequence[int], width: int, in_channels: int = 1, num_classes: int = 10,
              seed: int | None = 0) -> nn.Sequential:
    """One chain of the fabric as a plain CNN: a node per entry of `path` (its scale), each
    conv3x3 (no bias) -> BatchNorm -> ReLU with `width` channels; a step down the scales is a
    strided convolution, a step up is nearest upsampling then the convolution, as in Fabric.
    path must start at scale 0 (the input's) and follow the fabric's edges (is_path); it is a
    path through Fabric(len(path), max(path) + 1) when it ends at the coarsest scale, the
    fabric's output node. Then global average pooling and a linear layer:
    x (N, in_channels, H, W) -> scores (N, num_classes).
    """
    p = [int(v) for v in path]
    if not (is_path(p, max(p) + 1 if p else 1) and p[0] == 0):
        raise ValueError(f"chain_cnn: path must start at scale 0 and move at most one scale per "
                         f"layer, got {list(path)}")
    if not (isinstance(width, int | np.integer) and width >= 1):
        raise ValueError(f"chain_cnn: width must be a positive int, got {width!r}")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        mods: list[nn.Module] = []
        c_in, here = in_channels, 0
        for s in p:
            if s < here:
                mods.append(nn.Upsample(scale_factor=2.0, mode="nearest"))
            mods += [_conv(c_in, width, stride=2 if s > here else 1), nn.BatchNorm2d(width),
                     nn.ReLU()]
            c_in, here = width, s
        mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)]
        return nn.Sequential(*mods)


def train_classifier(model: nn.Module, X, y, epochs: int = 5, batch_size: int = 64,
                     lr: float = 5e-3, seed: int = 0) -> Log:
    """Train a Fabric or a chain_cnn (in place) with Adam on cross-entropy for `epochs` passes
    through dlcv.loop.train; the last, smaller batch of a pass is dropped, so that BatchNorm never
    sees a batch of one. X: (N, C, H, W) float; y: (N,) labels. Returns the Log (loss per step,
    seconds spent in the steps). Unlike dlcv.networks.training.fit it does not evaluate the
    training set after every epoch, which would double the time of these small networks."""
    Xt = torch.as_tensor(np.asarray(X, np.float32))
    yt = torch.as_tensor(np.asarray(y, np.int64))
    if Xt.dim() != 4 or yt.shape != (len(Xt),):
        raise ValueError(f"train_classifier: X must be (N, C, H, W) and y (N,), got "
                         f"{tuple(Xt.shape)} and {tuple(yt.shape)}")
    if not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f"train_classifier: epochs must be an int >= 1, got {epochs!r}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    log = Log()
    model.train()
    for _ in range(epochs):
        train(lambda idx: F.cross_entropy(model(Xt[idx]), yt[idx]), opt,
              shuffled(len(Xt), batch_size, g, drop_last=True), log=log)
    model.eval()
    return log
