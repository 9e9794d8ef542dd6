"""Recurrent networks for lecture 12: reading an image row by row, counting parameters, drawings.

Reading an image row by row
    RowReader(width, hidden, bidirectional)            an LSTM that guesses the class after each row:
                                                       images (N, H, W) -> scores (N, H, classes)
    train_row_reader(model, X, y)                      Adam, a fixed seed -> list of losses
    accuracy_per_row(model, X, y)                      (H,) accuracy of the guess after each row
Counting and drawing
    rnn_param_count(kind, input_size, hidden_size, ...)
    draw_io_patterns(axes), draw_unrolled(ax), draw_truncated_bptt(ax, ...), draw_topology(ax, kind)

The room's other modules: gradients (gradients through time, clipping), gates (the LSTM step by
hand, the marker task), language (a character-level language model).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle
from torch import nn

from dlcv.loop import sampled, train
from dlcv.validate import integer

IN_COLOR, HID_COLOR, OUT_COLOR = "#F4B6B6", "#B8E0C8", "#B7D3EE"  # input, hidden, output boxes


# --------------------------------------------------------------------------------------------
# Reading an image row by row
# --------------------------------------------------------------------------------------------
class RowReader(nn.Module):
    """An LSTM that reads an image one row at a time and guesses its class after every row.

    forward(images (N, H, W) float) -> scores (N, H, num_classes): row t's scores are the guess
    after reading rows 1..t (bidirectional=False), or with every row in view (True: the
    backward LSTM has read rows H..t, the forward one rows 1..t).
    """

    def __init__(self, width: int = 8, hidden: int = 32, num_classes: int = 10,
                 bidirectional: bool = False, seed: int = 0):
        super().__init__()
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        self.rnn = nn.LSTM(integer("RowReader", "width", width, 1),
                           integer("RowReader", "hidden", hidden, 1), batch_first=True,
                           bidirectional=bool(bidirectional))
        self.out = nn.Linear(hidden * (2 if bidirectional else 1), num_classes)
        torch.random.set_rng_state(gen_state)

    def forward(self, images) -> torch.Tensor:
        images = torch.as_tensor(images, dtype=torch.float32)
        if images.ndim != 3:
            raise ValueError(f"RowReader: images must be (N, H, W), got {tuple(images.shape)}")
        out, _ = self.rnn(images)          # (N, H, hidden * directions)
        return self.out(out)               # (N, H, num_classes)


def train_row_reader(model: RowReader, X, y, steps: int = 300, batch_size: int = 64,
                     lr: float = 2e-2, seed: int = 0) -> list[float]:
    """Adam on the cross-entropy of the guess after every row (mean over rows and images).
    X: (N, H, W) images scaled to about [0, 1]; y: (N,) labels. Returns the minibatch losses."""
    X = torch.as_tensor(X, dtype=torch.float32)
    y = torch.as_tensor(y, dtype=torch.long)
    gen = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def loss_of(idx):
        scores = model(X[idx])                                   # (B, H, C)
        target = y[idx, None].expand(-1, scores.shape[1])         # (B, H): same label per row
        return F.cross_entropy(scores.reshape(-1, scores.shape[-1]), target.reshape(-1))

    model.train()
    steps = integer("train_row_reader", "steps", steps, 1)
    log = train(loss_of, opt, sampled(len(X), batch_size, steps, gen))
    model.eval()
    return log.loss


def accuracy_per_row(model: RowReader, X, y) -> np.ndarray:
    """(H,) accuracy of the guess after each row."""
    with torch.no_grad():
        pred = model(X).argmax(-1).numpy()                      # (N, H)
    return (pred == np.asarray(y)[:, None]).mean(axis=0)

# --------------------------------------------------------------------------------------------
# Counting parameters
# --------------------------------------------------------------------------------------------
def rnn_param_count(kind: str, input_size: int, hidden_size: int, num_layers: int = 1,
                    bidirectional: bool = False) -> int:
    """Parameters of torch's nn.RNN / nn.GRU / nn.LSTM, by the formula.

    Each layer and direction has k blocks (1 for an RNN, 3 for a GRU, 4 for an LSTM), each with
    an input matrix (H, D_in), a recurrent matrix (H, H) and torch's two bias vectors:
    k * (H * D_in + H * H + 2H). Layer 1 reads D_in = input_size, later layers read H per
    direction.
    """
    blocks = {"rnn": 1, "gru": 3, "lstm": 4}
    if kind not in blocks:
        raise ValueError(f"rnn_param_count: kind must be one of {list(blocks)}, got {kind!r}")
    D = integer("rnn_param_count", "input_size", input_size, 1)
    H = integer("rnn_param_count", "hidden_size", hidden_size, 1)
    dirs = 2 if bidirectional else 1
    total = 0
    for layer in range(integer("rnn_param_count", "num_layers", num_layers, 1)):
        d_in = D if layer == 0 else H * dirs
        total += dirs * blocks[kind] * (H * d_in + H * H + 2 * H)
    return total


# --------------------------------------------------------------------------------------------
# Drawings
# --------------------------------------------------------------------------------------------
def _box(ax, x, y, color, text="", w=0.6, h=0.5, fontsize=8, lw=1.0, ec="0.25"):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02",
                                fc=color, ec=ec, lw=lw, zorder=2))
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=3)


def _edge(p, q, box) -> float:
    """The fraction of the way from p to q at which the segment leaves a box centred on p."""
    if box is None:
        return 0.0
    dx, dy = abs(q[0] - p[0]), abs(q[1] - p[1])
    fx = box[0] / 2 / dx if dx else np.inf
    fy = box[1] / 2 / dy if dy else np.inf
    return float(min(fx, fy))


def _arrow(ax, p, q, box_p=(0.6, 0.5), box_q=(0.6, 0.5), color="0.2", lw=1.1, ls="-",
           rad=0.0, shrink=1.5, zorder=1):
    """An arrow from the edge of the box (w, h) around p to the edge of the box around q
    (box_p / box_q None: from / to the point itself)."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    a, b = _edge(p, q, box_p), _edge(q, p, box_q)
    start, end = p + a * (q - p), q + b * (p - q)
    ax.add_patch(FancyArrowPatch(tuple(start), tuple(end), arrowstyle="-|>", mutation_scale=9,
                                 color=color, lw=lw, ls=ls, shrinkA=shrink, shrinkB=shrink,
                                 zorder=zorder, connectionstyle=f"arc3,rad={rad}"))


def _frame(ax, xlim, ylim, title=None):
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)


IO_PATTERNS = (
    ("one to one", [1], [1], "image classification\n(no recurrence)"),
    ("one to many", [1, 0, 0, 0], [1, 1, 1, 1], "image captioning"),
    ("many to one", [1, 1, 1, 1], [0, 0, 0, 1], "sentiment of a sentence,\naction in a video"),
    ("many to many\n(encoder-decoder)", [1, 1, 1, 0, 0], [0, 0, 1, 1, 1],
     "translation"),
    ("many to many\n(one output per input)", [1, 1, 1, 1], [1, 1, 1, 1],
     "labelling video frames,\nnext-character prediction"),
)


def draw_io_patterns(axes) -> None:
    """Five panels: which steps of an RNN get an input (red, bottom) and give an output (blue,
    top); green boxes are hidden states linked left to right. axes: 5 matplotlib axes."""
    axes = list(np.ravel(axes))
    if len(axes) != len(IO_PATTERNS):
        raise ValueError(f"draw_io_patterns: needs {len(IO_PATTERNS)} axes, got {len(axes)}")
    width = max(len(p[1]) for p in IO_PATTERNS)
    for ax, (name, ins, outs, example) in zip(axes, IO_PATTERNS, strict=True):
        n = len(ins)
        x0 = (width - n) / 2
        for k in range(n):
            x = x0 + k
            _box(ax, x, 1, HID_COLOR)
            if ins[k]:
                _box(ax, x, 0, IN_COLOR)
                _arrow(ax, (x, 0), (x, 1))
            if outs[k]:
                _box(ax, x, 2, OUT_COLOR)
                _arrow(ax, (x, 1), (x, 2))
            if k:
                _arrow(ax, (x - 1, 1), (x, 1))
        _frame(ax, (-0.6, width - 0.4), (-1.5, 2.6), name)
        ax.text((width - 1) / 2, -0.55, example, ha="center", va="top", fontsize=8,
                color="0.3")


def draw_unrolled(ax, steps: int = 4) -> None:
    """The folded RNN (a cell with a loop) and the same network unrolled over `steps` steps,
    every copy using the same weights W_xh, W_hh, W_hy."""
    _box(ax, 0, 1, HID_COLOR, "h")
    _box(ax, 0, 0, IN_COLOR, "x")
    _box(ax, 0, 2, OUT_COLOR, "y")
    _arrow(ax, (0, 0), (0, 1))
    _arrow(ax, (0, 1), (0, 2))
    ax.add_patch(FancyArrowPatch((0.3, 1.12), (0.3, 0.88), arrowstyle="-|>", mutation_scale=9,
                                 color="0.2", lw=1.1, shrinkA=0, shrinkB=0,
                                 connectionstyle="arc,angleA=0,angleB=0,armA=18,armB=18,rad=6"))
    ax.text(0.75, 1, r"$W_{hh}$", fontsize=8, va="center")
    ax.text(1.45, 1, "=", fontsize=16, ha="center", va="center")
    x_start = 3.0
    ax.text(x_start - 1.2, 1, "$h_0$", fontsize=9, ha="center", va="center")
    for t in range(steps):
        x = x_start + 1.2 * t
        _box(ax, x, 1, HID_COLOR, f"$h_{t + 1}$")
        _box(ax, x, 0, IN_COLOR, f"$x_{t + 1}$")
        _box(ax, x, 2, OUT_COLOR, f"$y_{t + 1}$")
        _arrow(ax, (x, 0), (x, 1))
        _arrow(ax, (x, 1), (x, 2))
        ax.text(x + 0.05, 0.5, r"$W_{xh}$", fontsize=7, va="center", color="0.35")
        ax.text(x + 0.05, 1.5, r"$W_{hy}$", fontsize=7, va="center", color="0.35")
        _arrow(ax, (x - 1.2, 1), (x, 1), box_p=(0.4, 0.3) if t == 0 else (0.6, 0.5))
        ax.text(x - 0.6, 1.1, r"$W_{hh}$", fontsize=7, ha="center", color="0.35")
    _frame(ax, (-0.5, x_start + 1.2 * (steps - 1) + 0.6), (-0.5, 2.5))


def draw_truncated_bptt(ax, length: int = 12, chunk: int = 4) -> None:
    """Hidden states over `length` steps cut into chunks of `chunk` steps: the forward pass
    (black) runs through everything, the hidden state crosses chunk boundaries; the backward
    pass (red, dashed) runs inside each chunk only and stops at its first step."""
    length = integer("draw_truncated_bptt", "length", length, 2)
    chunk = integer("draw_truncated_bptt", "chunk", chunk, 1)
    for start in range(0, length, chunk):
        end = min(start + chunk, length)
        ax.add_patch(Rectangle((start - 0.45, -0.75), end - start - 0.1, 2.55,
                               fc="0.93" if (start // chunk) % 2 == 0 else "0.86", ec="none",
                               zorder=0))
        ax.text((start + end - 1) / 2, 1.95, f"chunk {start // chunk + 1}", ha="center",
                fontsize=8, color="0.3")
        if start:
            ax.plot([start - 0.5, start - 0.5], [-0.8, 1.85], color="#D55E00", lw=1.0,
                    ls=(0, (2, 2)), zorder=1)
            ax.text(start - 0.5, -0.95, "gradient\nstops", ha="center", va="top", fontsize=7,
                    color="#D55E00")
    for t in range(length):
        _box(ax, t, 0, HID_COLOR, w=0.5, h=0.42)
        _box(ax, t, 1.2, OUT_COLOR, "L", w=0.42, h=0.36, fontsize=7)
        _arrow(ax, (t, 0), (t, 1.2), box_p=(0.5, 0.42), box_q=(0.42, 0.36))
        if t:
            _arrow(ax, (t - 1, 0), (t, 0), box_p=(0.5, 0.42), box_q=(0.5, 0.42))
            if t % chunk:
                _arrow(ax, (t - 0.1, -0.25), (t - 0.9, -0.25), None, None, color="#D55E00",
                       ls="--", rad=-0.5, shrink=6)
    ax.text(-0.7, 0, "h", fontsize=9, ha="right", va="center")
    ax.text(-0.7, 1.2, "loss", fontsize=8, ha="right", va="center")
    ax.plot([-0.4, 0.2], [-1.2, -1.2], color="0.2", lw=1.1)
    ax.text(0.3, -1.2, "forward: the state carries on", fontsize=7, va="center")
    ax.plot([-0.4, 0.2], [-1.55, -1.55], color="#D55E00", lw=1.1, ls="--")
    ax.text(0.3, -1.55, "backward: inside a chunk only", fontsize=7, va="center")
    _frame(ax, (-1.3, length - 0.3), (-1.85, 2.2))


TOPOLOGIES = ("deep", "bidirectional", "multi-dimensional", "output feedback")


def draw_topology(ax, kind: str) -> None:
    """A small diagram of a deep (stacked), bidirectional, two-dimensional, or output-feedback
    RNN. kind: one of TOPOLOGIES."""
    if kind not in TOPOLOGIES:
        raise ValueError(f"draw_topology: kind must be one of {TOPOLOGIES}, got {kind!r}")
    BOX = (0.5, 0.4)
    if kind == "deep":
        for t in range(4):
            _box(ax, t, 0, IN_COLOR, w=0.5, h=0.4)
            for layer in (1, 2, 3):
                _box(ax, t, layer, HID_COLOR, w=0.5, h=0.4)
                _arrow(ax, (t, layer - 1), (t, layer), BOX, BOX)
                if t:
                    _arrow(ax, (t - 1, layer), (t, layer), BOX, BOX)
            _box(ax, t, 4, OUT_COLOR, w=0.5, h=0.4)
            _arrow(ax, (t, 3), (t, 4), BOX, BOX)
        for layer in (1, 2, 3):
            ax.text(-0.55, layer, f"layer {layer}", ha="right", va="center", fontsize=7)
        _frame(ax, (-1.5, 3.5), (-0.5, 4.5), "deep (stacked): layer l reads layer l - 1")
    elif kind == "bidirectional":
        for t in range(4):
            x = 1.3 * t
            _box(ax, x, 0, IN_COLOR, w=0.7, h=0.4)
            _box(ax, x, 1, HID_COLOR, "→", w=0.34, h=0.4)
            _box(ax, x, 2, "#F7E3A8", "←", w=0.34, h=0.4)
            _box(ax, x, 3, OUT_COLOR, w=0.7, h=0.4)
            _arrow(ax, (x + 0.1, 0.2), (x + 0.1, 0.8), None, None, shrink=0)    # x -> forward
            _arrow(ax, (x - 0.26, 0.2), (x - 0.26, 1.8), None, None, shrink=0)  # x -> backward
            _arrow(ax, (x + 0.26, 1.2), (x + 0.26, 2.8), None, None, shrink=0)  # forward -> y
            _arrow(ax, (x - 0.1, 2.2), (x - 0.1, 2.8), None, None, shrink=0)    # backward -> y
            if t:
                _arrow(ax, (x - 1.3, 1), (x, 1), (0.34, 0.4), (0.34, 0.4))
                _arrow(ax, (x, 2), (x - 1.3, 2), (0.34, 0.4), (0.34, 0.4))
        ax.text(-0.55, 1, "forward", ha="right", va="center", fontsize=7)
        ax.text(-0.55, 2, "backward", ha="right", va="center", fontsize=7)
        _frame(ax, (-1.5, 4.4), (-0.5, 3.5), "bidirectional: $y_t$ sees the past and the future")
    elif kind == "multi-dimensional":
        n = 4
        for r in range(n):
            for q in range(n):
                _box(ax, q, n - 1 - r, HID_COLOR, w=0.45, h=0.45)
                if q:
                    _arrow(ax, (q - 1, n - 1 - r), (q, n - 1 - r), (0.45, 0.45), (0.45, 0.45))
                if r:
                    _arrow(ax, (q, n - r), (q, n - 1 - r), (0.45, 0.45), (0.45, 0.45))
        _box(ax, 2, 1, "#F7E3A8", w=0.45, h=0.45, lw=1.6)
        ax.text(2, 1, r"$h_{i,j}$", ha="center", va="center", fontsize=7, zorder=4)
        _frame(ax, (-0.6, n - 0.4), (-0.6, n - 0.2),
               "2-D: $h_{i,j}$ reads $h_{i-1,j}$ and $h_{i,j-1}$")
    else:  # output feedback
        for t in range(4):
            _box(ax, t * 1.3, 1, HID_COLOR, w=0.5, h=0.4)
            _box(ax, t * 1.3, 2, OUT_COLOR, f"$y_{t + 1}$", w=0.5, h=0.4, fontsize=7)
            _box(ax, t * 1.3, 0, IN_COLOR, "<S>" if t == 0 else f"$y_{t}$", w=0.5, h=0.4,
                 fontsize=7)
            _arrow(ax, (t * 1.3, 0), (t * 1.3, 1), BOX, BOX)
            _arrow(ax, (t * 1.3, 1), (t * 1.3, 2), BOX, BOX)
            if t:
                _arrow(ax, ((t - 1) * 1.3, 1), (t * 1.3, 1), BOX, BOX)
                _arrow(ax, ((t - 1) * 1.3, 2), (t * 1.3, 0), BOX, BOX,
                       color="#D55E00", ls="--")
        _frame(ax, (-0.6, 4.5), (-0.5, 2.7),
               "output feedback: each output is the next input")
