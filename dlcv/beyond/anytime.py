"""Any-time prediction with early exits (lecture 18, after MSDNet, Huang et al. 2018).

    EarlyExitNet(widths, seed)            three conv blocks on 8x8 digits, a classifier after each
    exit_costs(net, input_shape)          multiply-accumulates needed to reach each exit
    train_early_exits(net, X, y, ...)     Adam on the sum of the exits' cross-entropies
    exit_probabilities(net, X)            (K, N, C) softmax outputs of the K exits
    budgeted(probs, y, costs, thresholds) stop at the first exit whose confidence reaches the
                                          threshold -> BudgetCurve (accuracy vs mean cost)
    draw_msdnet(ax, layers, scales)       MSDNet's grid: scales x layers, classifiers on the
                                          coarsest scale
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.patches import Circle
from torch import nn

from dlcv.convolution.costs import count_flops
from dlcv.loop import Log, shuffled, train


class EarlyExitNet(nn.Module):
    """A small CNN with a classifier after each of its three blocks.

    block 1: conv3x3 (1 -> w1) -> ReLU                      (N, w1, 8, 8)
    block 2: conv3x3 (w1 -> w2) -> ReLU -> max-pool 2       (N, w2, 4, 4)
    block 3: conv3x3 (w2 -> w3) -> ReLU -> conv3x3 (w3 -> w3) -> ReLU   (N, w3, 4, 4)
    exit k:  average-pool to 2x2 -> flatten -> Linear(4 wk, num_classes)

    forward(x (N, 1, 8, 8)) returns the list of the three exits' logits, each (N, num_classes).
    The early exits see less processed features: cheaper, and less accurate.
    """

    def __init__(self, widths: tuple[int, int, int] = (8, 16, 32), num_classes: int = 10,
                 seed: int | None = 0):
        super().__init__()
        if len(widths) != 3 or any(int(w) < 1 for w in widths):
            raise ValueError(f"EarlyExitNet: widths must be three positive ints, got {widths!r}")
        w1, w2, w3 = widths
        ctx = torch.random.fork_rng(devices=[]) if seed is not None else nullcontext()
        with ctx:
            if seed is not None:
                torch.manual_seed(seed)
            self.blocks = nn.ModuleList([
                nn.Sequential(nn.Conv2d(1, w1, 3, padding=1), nn.ReLU()),
                nn.Sequential(nn.Conv2d(w1, w2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
                nn.Sequential(nn.Conv2d(w2, w3, 3, padding=1), nn.ReLU(),
                              nn.Conv2d(w3, w3, 3, padding=1), nn.ReLU()),
            ])
            self.exits = nn.ModuleList([
                nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(4 * w, num_classes))
                for w in widths])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 1:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"EarlyExitNet: x must have shape (N, 1, H, W), got {shape}")
        outs = []
        for block, head in zip(self.blocks, self.exits, strict=True):
            x = block(x)
            outs.append(head(x))
        return outs


def exit_costs(net: EarlyExitNet, input_shape=(1, 1, 8, 8)) -> np.ndarray:
    """(K,) multiply-accumulates (dlcv.convolution.costs.count_flops) spent to reach exit k when the
    exits are evaluated in order: blocks 1..k plus the classifiers 1..k (an any-time network
    evaluates every earlier classifier on its way)."""
    costs, total = [], 0
    x = torch.zeros(input_shape)
    was = net.training
    net.eval()
    with torch.no_grad():
        for block, head in zip(net.blocks, net.exits, strict=True):
            total += count_flops(block, tuple(x.shape))
            x = block(x)
            total += count_flops(head, tuple(x.shape))
            costs.append(total)
    net.train(was)
    return np.array(costs, dtype=np.int64)


def train_early_exits(net: EarlyExitNet, X, y, epochs: int = 20, batch_size: int = 32,
                      lr: float = 3e-3, weights=None, seed: int = 0) -> np.ndarray:
    """Train all exits together (in place) with Adam on sum_k weights[k] * CE(exit k), as MSDNet
    does. X: (N, 1, 8, 8) float; y: (N,) labels. Returns the loss of every step."""
    Xt = torch.as_tensor(np.asarray(X, np.float32))
    yt = torch.as_tensor(np.asarray(y, np.int64))
    if Xt.dim() != 4 or yt.shape != (len(Xt),):
        raise ValueError(f"train_early_exits: X must be (N, 1, H, W) and y (N,), got "
                         f"{tuple(Xt.shape)} and {tuple(yt.shape)}")
    w = np.ones(len(net.exits)) if weights is None else np.asarray(weights, float)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    log = Log()
    net.train()
    for _ in range(epochs):
        train(lambda idx: sum(float(wk) * F.cross_entropy(o, yt[idx])
                              for wk, o in zip(w, net(Xt[idx]), strict=True)),
              opt, shuffled(len(Xt), batch_size, g), log=log)
    net.eval()
    return np.array(log.loss)


def exit_probabilities(net: EarlyExitNet, X) -> np.ndarray:
    """(K, N, C) softmax probabilities of every exit for X (N, 1, H, W), in eval mode."""
    Xt = torch.as_tensor(np.asarray(X, np.float32))
    was = net.training
    net.eval()
    with torch.no_grad():
        out = torch.stack([torch.softmax(o, 1) for o in net(Xt)]).double().numpy()
    net.train(was)
    return out


@dataclass
class BudgetCurve:
    """budgeted()'s result, one entry per threshold: accuracy, mean_cost (MACs per image) and
    exit_fraction (T, K): the share of images that left at each exit."""

    thresholds: np.ndarray
    accuracy: np.ndarray
    mean_cost: np.ndarray
    exit_fraction: np.ndarray


def budgeted(probs: np.ndarray, y: np.ndarray, costs: np.ndarray, thresholds) -> BudgetCurve:
    """Any-time inference with a confidence rule: an image leaves at the first exit whose top
    probability reaches the threshold (the last exit answers for the rest).

    probs: (K, N, C) from exit_probabilities; y: (N,) labels; costs: (K,) from exit_costs;
    thresholds: (T,) values in [0, 1]. Threshold 0 sends everything out of exit 1; threshold
    above 1 sends everything to the last exit.
    """
    probs, y, costs = np.asarray(probs), np.asarray(y), np.asarray(costs, np.float64)
    if probs.ndim != 3 or probs.shape[1] != len(y) or costs.shape != (probs.shape[0],):
        raise ValueError(f"budgeted: probs must be (K, N, C), y (N,) and costs (K,), got "
                         f"{probs.shape}, {y.shape}, {costs.shape}")
    K = probs.shape[0]
    conf = probs.max(2)                                      # (K, N)
    pred = probs.argmax(2)                                   # (K, N)
    th = np.asarray(thresholds, np.float64)
    acc, cost, frac = [], [], []
    for t in th:
        ok = conf >= t                                       # (K, N)
        ok[-1] = True
        k = ok.argmax(0)                                     # first confident exit, (N,)
        acc.append(float(np.mean(pred[k, np.arange(len(y))] == y)))
        cost.append(float(costs[k].mean()))
        frac.append(np.bincount(k, minlength=K) / len(y))
    return BudgetCurve(th, np.array(acc), np.array(cost), np.array(frac))


def draw_msdnet(ax, layers: int = 4, scales: int = 3) -> None:
    """MSDNet's layout: a grid of feature maps, scales (rows, fine at the top) by layers
    (columns). Horizontal arrows: a regular convolution at the same scale; diagonal arrows: a
    strided convolution from the finer scale; every node also receives the features of all
    earlier nodes of its scale (dense connectivity, drawn as thin arcs on the top row only, for
    legibility). A classifier reads the coarsest scale after every layer."""
    if layers < 2 or scales < 2:
        raise ValueError(f"draw_msdnet: need layers >= 2 and scales >= 2, got {layers}, {scales}")
    ax.set_xlim(-0.8, layers + 0.2)
    ax.set_ylim(-(scales - 1) - 1.25, 0.85)
    ax.axis("off")
    ax.set_aspect("equal")
    pos = {(l, s): (l, -s) for l in range(layers) for s in range(scales)}
    arrow = dict(arrowstyle="-|>", lw=1.2, shrinkA=13, shrinkB=13)
    for l in range(layers):
        for s in range(scales):
            x, yv = pos[l, s]
            if l > 0:
                ax.annotate("", (x, yv), pos[l - 1, s], arrowprops=dict(color="0.35", **arrow))
            if s > 0:
                src = pos[l - 1, s - 1] if l > 0 else pos[l, s - 1]
                ax.annotate("", (x, yv), src, arrowprops=dict(color="#0072B2", **arrow))
    for l in range(2, layers):   # dense connections on the finest scale
        for k in range(l - 1):
            ax.annotate("", pos[l, 0], pos[k, 0], arrowprops=dict(
                arrowstyle="-|>", color="#CC79A7", lw=0.8, shrinkA=13, shrinkB=13,
                connectionstyle="arc3,rad=-0.35"))
    for (_l, s), (x, yv) in pos.items():
        r = 0.17 - 0.03 * s
        ax.add_patch(Circle((x, yv), r, fc="#E69F00", ec="k", lw=0.8, zorder=3))
    for l in range(layers):
        x, yv = pos[l, scales - 1]
        ax.annotate("", (x, yv - 0.62), (x, yv), arrowprops=dict(color="#D55E00", **{
            **arrow, "shrinkB": 0}))
        ax.text(x, yv - 0.75, f"exit {l + 1}", ha="center", va="top", fontsize=8,
                color="#D55E00", bbox=dict(boxstyle="round,pad=0.2", fc="w", ec="#D55E00"))
    for s in range(scales):
        ax.text(-0.45, -s, f"scale {s + 1}" + (" (fine)" if s == 0 else
                                              " (coarse)" if s == scales - 1 else ""),
                ha="right", va="center", fontsize=8)
    for l in range(layers):
        ax.text(l, 0.55, f"layer {l + 1}", ha="center", fontsize=8)
