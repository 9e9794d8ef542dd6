"""What weight initialisation does to a deep fully connected network (lecture 05).

A stack of `depth` layers h_l = f(h_{l-1} W_l) (width units each, zero biases) is fed a batch of
unit Gaussian inputs; we record, layer by layer, how the activations are distributed on the way
forward and how large the gradients are on the way back. The same experiment as in CS231n's notes
and in Glorot & Bengio (2010), small enough to run in a fraction of a second:

    INITS                         name -> (description, std(fan_in, fan_out))
    ACTIVATIONS                   name -> (description, torch function, output range)
    init_std(init, fan_in, ...)   the weight standard deviation an initialisation prescribes
    layer_statistics(...)         LayerStats: per-layer mean, std, saturated / dead fractions,
                                  histograms, gradient stds
    verdict(stats)                "healthy", "vanishing", "exploding", "saturated" ... in words

The layers are computed with torch (forward, and backward with autograd). This is not an
assignment function: assignment a2 has students write layers with the (out, cache) contract.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from dlcv.validate import choice

# name -> (description, std as a function of fan_in and fan_out)
INITS: dict[str, tuple[str, Callable[[int, int], float]]] = {
    "small": ("N(0, 0.01²): small random numbers", lambda fan_in, fan_out: 0.01),
    "large": ("N(0, 1): unit Gaussian", lambda fan_in, fan_out: 1.0),
    "xavier": ("Xavier, std = 1/sqrt(fan_in)", lambda fan_in, fan_out: 1.0 / math.sqrt(fan_in)),
    "glorot": ("Glorot, std = sqrt(2/(fan_in+fan_out))",
               lambda fan_in, fan_out: math.sqrt(2.0 / (fan_in + fan_out))),
    "he": ("He (Kaiming), std = sqrt(2/fan_in)", lambda fan_in, fan_out: math.sqrt(2.0 / fan_in)),
}


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _leaky_relu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.01)


# name -> (description, function, the range its histograms show)
ACTIVATIONS: dict[str, tuple[str, Callable[[torch.Tensor], torch.Tensor], tuple[float, float]]] = {
    "tanh": ("tanh(x)", torch.tanh, (-1.0, 1.0)),
    "relu": ("max(0, x)", torch.relu, (0.0, 4.0)),
    "leaky_relu": ("max(0.01x, x)", _leaky_relu, (-1.0, 4.0)),
    "sigmoid": ("1 / (1 + exp(-x))", torch.sigmoid, (0.0, 1.0)),
    "linear": ("x (no non-linearity)", _identity, (-4.0, 4.0)),
}

# An activation counts as "saturated" (in a flat part of its non-linearity) where the local
# slope f'(x) is below this fraction of the largest slope f can have.
FLAT_SLOPE = 0.1


def init_std(init: str, fan_in: int, fan_out: int | None = None, scale: float = 1.0) -> float:
    """The standard deviation of the Gaussian weights an initialisation prescribes.

    Args:
        init: a key of INITS ("small", "large", "xavier", "glorot", "he").
        fan_in, fan_out: inputs and outputs of the layer (fan_out defaults to fan_in).
        scale: a multiplier on top of the prescription (1 = as prescribed).
    """
    choice("init_std", "init", init, INITS)
    fan_out = fan_in if fan_out is None else fan_out
    if not (int(fan_in) == fan_in and fan_in >= 1 and int(fan_out) == fan_out and fan_out >= 1):
        raise ValueError(f"init_std: fan_in and fan_out must be positive ints, "
                         f"got {fan_in}, {fan_out}")
    if not scale > 0:
        raise ValueError(f"init_std: scale must be > 0, got {scale}")
    return float(scale * INITS[init][1](int(fan_in), int(fan_out)))


def _slope(activation: str, pre: torch.Tensor) -> torch.Tensor:
    """f'(pre) divided by the largest slope of f: 1 in the linear part, 0 where f is flat."""
    if activation == "tanh":
        return 1.0 - torch.tanh(pre) ** 2
    if activation == "sigmoid":
        s = torch.sigmoid(pre)
        return 4.0 * s * (1.0 - s)
    if activation == "relu":
        return (pre > 0).to(pre.dtype)
    if activation == "leaky_relu":
        return torch.where(pre > 0, 1.0, 0.01).to(pre.dtype)
    return torch.ones_like(pre)


@dataclass
class LayerStats:
    """Statistics of a deep fully connected net's activations and gradients, one row per layer.

    Arrays of shape (depth,) unless said otherwise; index l = 0 .. depth-1 is hidden layer l+1.
        mean, std:   mean and standard deviation of the layer's activations h_l over the batch
                     and all units
        saturated:   fraction of activations where the non-linearity is flat (slope below
                     FLAT_SLOPE of its maximum): |tanh| near 1, sigmoid near 0 or 1, ReLU off
        dead:        fraction of units that are flat for every example of the batch
        edges:       (bins + 1,) histogram bin edges, the activation's display range
        counts:      (depth, bins) fraction of each layer's activations per bin; values outside
                     the range are counted in the first or last bin (each row sums to 1)
        grad_std:    std of the gradient of a random loss w.r.t. the layer's weights W_l
        delta_std:   std of the gradient w.r.t. the layer's activations h_l
        weight_std:  the std the weights were drawn with
    """

    activation: str
    init: str
    depth: int
    width: int
    batch_norm: bool
    weight_std: float
    mean: np.ndarray
    std: np.ndarray
    saturated: np.ndarray
    dead: np.ndarray
    edges: np.ndarray
    counts: np.ndarray
    grad_std: np.ndarray
    delta_std: np.ndarray


def layer_statistics(
    activation: str = "tanh",
    init: str = "xavier",
    depth: int = 10,
    width: int = 500,
    batch: int = 1000,
    scale: float | None = None,
    seed: int = 0,
    batch_norm: bool = False,
    bins: int = 41,
) -> LayerStats:
    """Forward a batch of N(0, 1) inputs through `depth` layers, then backward a random gradient.

    Layer l computes  a_l = h_{l-1} W_l  (W_l: (width, width), zero bias), optionally batch
    normalises a_l (per unit over the batch, no learned scale or shift), then h_l = f(a_l).
    The input h_0 is (batch, width) unit Gaussian noise. The backward pass starts from a random
    N(0, 1) upstream gradient on h_depth, that is, the loss is sum(h_depth * G).

    Args:
        activation: a key of ACTIVATIONS ("tanh", "relu", "leaky_relu", "sigmoid", "linear").
        init: a key of INITS ("small", "large", "xavier", "glorot", "he").
        depth: number of layers (1..50); width: units per layer (2..2000); batch: inputs (2..5000).
        scale: a multiplier on the initialisation's std (None or 1: as prescribed).
        seed: weights, inputs and upstream gradient are a deterministic function of the seed.
        batch_norm: normalise every pre-activation over the batch before the non-linearity.
        bins: number of histogram bins.

    Returns:
        LayerStats (see there). Computed in float32 (about 0.15-0.25 s at the defaults), and
        again in float64 when float32 overflows, so that exploding nets still give numbers.
    """
    who = "layer_statistics"
    choice(who, "activation", activation, ACTIVATIONS)
    choice(who, "init", init, INITS)
    for name, v, lo, hi in (("depth", depth, 1, 50), ("width", width, 2, 2000),
                            ("batch", batch, 2, 5000), ("bins", bins, 2, 500)):
        if not (isinstance(v, int | np.integer) and lo <= v <= hi):
            raise ValueError(f"{who}: {name} must be an int in {lo}..{hi}, got {v!r}")
    scale = 1.0 if scale is None else float(scale)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"{who}: scale must be a positive number, got {scale}")

    lo, hi = ACTIVATIONS[activation][2]
    edges = np.linspace(lo, hi, bins + 1)
    std_w = init_std(init, width, width, scale)
    stats = _run(activation, std_w, depth, width, batch, seed, batch_norm, edges, torch.float32)
    if not (np.all(np.isfinite(stats[1])) and np.all(np.isfinite(stats[4]))):
        # float32 overflowed (a deep net whose activations or gradients explode): redo in float64
        stats = _run(activation, std_w, depth, width, batch, seed, batch_norm, edges, torch.float64)
    mean, std, sat, dead, gstd, dstd, counts = stats
    return LayerStats(activation=activation, init=init, depth=depth, width=width,
                      batch_norm=batch_norm, weight_std=std_w, mean=mean, std=std, saturated=sat,
                      dead=dead, edges=edges, counts=counts, grad_std=gstd, delta_std=dstd)


def _run(activation, std_w, depth, width, batch, seed, batch_norm, edges, dt):
    """The experiment of layer_statistics in dtype dt; returns its arrays."""
    f = ACTIVATIONS[activation][1]
    lo, hi, bins = edges[0], edges[-1], len(edges) - 1
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(batch, width, generator=g, dtype=dt)  # (N, D) the input
    Ws = [(torch.randn(width, width, generator=g, dtype=dt) * std_w).requires_grad_()
          for _ in range(depth)]  # each (D, D)
    upstream = torch.randn(batch, width, generator=g, dtype=dt)  # (N, D) dL/dh_depth

    hs, flat = [], []
    for W in Ws:
        a = h @ W  # (N, D) pre-activations
        if batch_norm:
            a = (a - a.mean(0)) / torch.sqrt(a.var(0, unbiased=False) + 1e-5)
        h = f(a)  # (N, D)
        h.retain_grad()
        hs.append(h)
        flat.append(_slope(activation, a.detach()) < FLAT_SLOPE)  # (N, D) bool
    (h * upstream).sum().backward()

    mean, std, sat, dead, gstd, dstd = (np.zeros(depth) for _ in range(6))
    counts = np.zeros((depth, bins))
    with torch.no_grad():
        for i, (hl, fl, W) in enumerate(zip(hs, flat, Ws, strict=True)):
            v = hl.detach()
            mean[i] = v.mean().item()
            std[i] = v.std().item()
            sat[i] = fl.double().mean().item()
            dead[i] = fl.all(0).double().mean().item()
            x = torch.nan_to_num(v.reshape(-1), nan=0.0, posinf=hi, neginf=lo)
            idx = ((x - lo) * (bins / (hi - lo))).clamp(0, bins - 1).long()  # (N * D,) bin index
            counts[i] = torch.bincount(idx, minlength=bins).double().numpy() / v.numel()
            gstd[i] = W.grad.std().item()
            dstd[i] = hl.grad.std().item()
    return mean, std, sat, dead, gstd, dstd, counts


def verdict(stats: LayerStats, factor: float = 10.0) -> str:
    """A one-phrase diagnosis of a LayerStats.

    In order: "saturated" when more than half of the last layer's tanh/sigmoid units sit in a
    flat region; "vanishing activations" / "exploding activations" when the last layer's std is
    more than `factor` times smaller / larger than the first layer's (or below 1e-3 / above 1e3);
    "vanishing gradients" / "exploding gradients" when the first layer's weight gradients are more
    than `factor` times smaller / larger than the last layer's; "healthy" otherwise.
    """
    s0, s1 = stats.std[0], stats.std[-1]
    if stats.activation in ("tanh", "sigmoid") and stats.saturated[-1] > 0.5:
        return "saturated"
    if not np.isfinite(s1) or s1 > 1e3 or s1 > factor * s0:
        return "exploding activations"
    if s1 < 1e-3 or s1 * factor < s0:
        return "vanishing activations"
    g0, g1 = stats.grad_std[0], stats.grad_std[-1]
    if not np.isfinite(g0) or g0 > factor * g1:
        return "exploding gradients"
    if g0 * factor < g1:
        return "vanishing gradients"
    return "healthy"


# --------------------------------------------------------------------------------------------
# Pictures
# --------------------------------------------------------------------------------------------
def spread_layers(depth: int, count: int) -> list[int]:
    """Up to `count` layer indices spread evenly over 0..depth-1, first and last included."""
    if depth < 1 or count < 1:
        raise ValueError(f"spread_layers: depth and count must be >= 1, got {depth}, {count}")
    return sorted({int(round(v)) for v in np.linspace(0, depth - 1, min(depth, count))})


class HistogramRow:
    """A row of small histograms, one per chosen layer, drawn on given matplotlib axes.

    row = HistogramRow(axes)          # axes: a sequence of Axes, one panel each
    row.set_stats(stats)              # draw LayerStats (changes the artists in place)

    Each panel shows the distribution of one layer's activations over the histogram range of the
    activation function (values beyond it are piled into the end bins), its title names the layer
    and its x label gives the mean and std. For ReLU-like activations the bin holding the exact
    zeros may run off the top (a note then says what fraction it holds), so that the rest stays
    visible. Artists: row.patches (a StepPatch per panel), row.labels (the x labels), row.notes,
    row.titles.
    """

    def __init__(self, axes, color: str = "#0072B2"):
        self.axes = list(axes)
        if not self.axes:
            raise ValueError("HistogramRow: give at least one Axes")
        self.patches, self.labels, self.notes, self.titles = [], [], [], []
        for ax in self.axes:
            self.patches.append(ax.stairs(np.zeros(1), np.array([0.0, 1.0]), fill=True,
                                          color=color, alpha=0.85))
            self.labels.append(ax.set_xlabel("", fontsize=7, labelpad=1))
            self.notes.append(ax.text(0.5, 0.97, "", transform=ax.transAxes, ha="center",
                                      va="top", fontsize=7))
            self.titles.append(ax.set_title("", fontsize=8, pad=2))
            ax.set_yticks([])
            ax.tick_params(axis="x", labelsize=7, pad=1)
            for side in ("top", "right", "left"):
                ax.spines[side].set_visible(False)
        self.layers: list[int] = []

    def set_stats(self, stats: LayerStats, layers: list[int] | None = None) -> None:
        layers = spread_layers(stats.depth, len(self.axes)) if layers is None else list(layers)
        if len(layers) > len(self.axes) or any(not 0 <= k < stats.depth for k in layers):
            raise ValueError(f"HistogramRow.set_stats: layers must be at most {len(self.axes)} "
                             f"indices in 0..{stats.depth - 1}, got {layers}")
        self.layers = layers
        e = stats.edges
        relu_like = stats.activation in ("relu", "leaky_relu")
        zero_bin = int(np.clip(np.searchsorted(e, 0.0, side="right") - 1, 0, len(e) - 2))
        for i, ax in enumerate(self.axes):
            visible = i < len(layers)
            ax.set_visible(visible)
            if not visible:
                continue
            k = layers[i]
            c = stats.counts[k]
            self.patches[i].set_data(values=c, edges=e)
            top, note = float(c.max()), ""
            rest = np.delete(c, zero_bin)
            if relu_like and c[zero_bin] == top and rest.sum() > 0.05:
                top = float(rest.max())
                note = f"{c[zero_bin]:.0%} near 0"
            ax.set_xlim(e[0], e[-1])
            ax.set_ylim(0, 1.2 * top if top > 0 else 1.0)
            ax.set_xticks([e[0], 0.0, e[-1]] if e[0] < 0 < e[-1] else [e[0], e[-1]])
            self.titles[i].set_text(f"layer {k + 1}")
            self.labels[i].set_text(f"μ {stats.mean[k]:.2g}  σ {stats.std[k]:.2g}")
            self.notes[i].set_text(note)
