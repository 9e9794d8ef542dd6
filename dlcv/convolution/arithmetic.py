"""Convolution arithmetic on single-channel images, backed by torch (lecture 06).

    KERNELS                                 named 3x3 kernels (identity, blurs, sharpen, edges...)
    output_size(n, k, stride, padding, dilation)
                                            floor((N + 2P - D(K-1) - 1) / S) + 1, with checks
    output_size_formula(n, k, ...)          the same, written out with the numbers filled in
    conv2d_single(image, kernel, ...)       (H, W) image, (k, k) kernel -> output map, through
                                            torch.nn.functional.conv2d (cross-correlation)
    window(image, kernel_size, i, j, ...)   the zero-padded input patch that output (i, j) sees,
                                            and the pixel coordinates of its taps
    receptive_field(layers)                 size, jump and start of a stack of conv/pool layers
    receptive_field_table(layers)           the same after every layer
    draw_windows(ax, n, k, ...)             a picture of the taps of a few output positions

Everything here works on ONE channel and ONE kernel, for pictures and worked examples. The
multi-channel layer with its forward and backward passes (`conv_forward_naive`, im2col, pooling
layers) is what assignment a3 asks students to write, so this module never implements it in
numpy: the arithmetic goes through torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from dlcv.validate import integer

# Named 3x3 kernels, applied as cross-correlation (no flip), as deep-learning libraries do.
# Edge kernels respond positively where the image gets brighter to the right (Sobel x) or
# downwards (Sobel y).
KERNELS: dict[str, np.ndarray] = {
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float64),
    "box blur": np.full((3, 3), 1 / 9),
    "Gaussian blur": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float64) / 16,
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float64),
    "edge (Laplacian)": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64),
    "Sobel x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64),
    "Sobel y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float64),
    "Prewitt x": np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], dtype=np.float64),
    "emboss": np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float64),
    "shift right": np.array([[0, 0, 0], [1, 0, 0], [0, 0, 0]], dtype=np.float64),
}


def effective_kernel_size(k: int, dilation: int = 1) -> int:
    """The extent D(K-1)+1 covered by a K-tap kernel with dilation D."""
    k = integer("effective_kernel_size", "k", k, 1)
    dilation = integer("effective_kernel_size", "dilation", dilation, 1)
    return dilation * (k - 1) + 1


def output_size(n: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution or pooling along one axis (torch's convention).

        M = floor((N + 2P - D(K-1) - 1) / S) + 1

    With D = 1 this is floor((N + 2P - K) / S) + 1. When (N + 2P - D(K-1) - 1) is not a multiple
    of S, the last input rows/columns are not visited (torch and most libraries floor).

    Args:
        n: input size N >= 1; k: kernel size K >= 1; stride S >= 1; padding P >= 0 (zeros on
            each side); dilation D >= 1 (gap between taps; D = 1 is an ordinary kernel).

    Raises:
        ValueError: a bad argument, or a kernel whose effective size D(K-1)+1 exceeds the padded
            input N + 2P (no output position exists).
    """
    who = "output_size"
    n = integer(who, "n", n, 1)
    k = integer(who, "k", k, 1)
    stride = integer(who, "stride", stride, 1)
    padding = integer(who, "padding", padding, 0)
    dilation = integer(who, "dilation", dilation, 1)
    k_eff = dilation * (k - 1) + 1
    if k_eff > n + 2 * padding:
        raise ValueError(
            f"{who}: a kernel of effective size D(K-1)+1 = {dilation}*({k}-1)+1 = {k_eff} does "
            f"not fit into the padded input of size N+2P = {n}+2*{padding} = {n + 2 * padding}; "
            "use more padding, a smaller kernel or dilation, or a larger input"
        )
    return (n + 2 * padding - k_eff) // stride + 1


def output_size_formula(n: int, k: int, stride: int = 1, padding: int = 0,
                        dilation: int = 1, name: str = "M") -> str:
    """The output-size formula with the numbers filled in, e.g.
    'M = floor((64 + 2*1 - 2*(3-1) - 1)/2) + 1 = 31'."""
    m = output_size(n, k, stride, padding, dilation)
    return (f"{name} = floor(({n} + 2*{padding} - {dilation}*({k}-1) - 1)/{stride}) + 1 = {m}")


def _as_image(image, who: str) -> np.ndarray:
    a = np.asarray(image, dtype=np.float64)
    if a.ndim != 2 or min(a.shape) < 1:
        raise ValueError(f"{who}: image must be a 2-D array (H, W), got shape {a.shape}")
    return a


def _as_kernel(kernel, who: str) -> np.ndarray:
    w = np.asarray(kernel, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] < 1:
        raise ValueError(f"{who}: kernel must be a square 2-D array (k, k), got shape {w.shape}")
    return w


def conv2d_single(image, kernel, stride: int = 1, padding: int = 0,
                  dilation: int = 1) -> np.ndarray:
    """One kernel slid over one grey image, as a convolution layer computes it.

        out[i, j] = sum_{a, b} image_pad[S*i + D*a, S*j + D*b] * kernel[a, b]

    (cross-correlation: the kernel is not flipped), with image_pad the image with P zeros on
    every side. Computed by torch.nn.functional.conv2d in float64.

    Args:
        image: (H, W) array; kernel: (k, k) array; stride, padding, dilation: ints as in
            output_size.

    Returns:
        out: (M_h, M_w) float64, M_h = output_size(H, k, stride, padding, dilation), same for W.
    """
    who = "conv2d_single"
    x = _as_image(image, who)
    w = _as_kernel(kernel, who)
    k = w.shape[0]
    for axis, n in (("height", x.shape[0]), ("width", x.shape[1])):
        try:
            output_size(n, k, stride, padding, dilation)
        except ValueError as e:
            raise ValueError(f"{who} (image {axis}): {str(e).split(': ', 1)[1]}") from None
    xt = torch.tensor(x)[None, None]  # (1, 1, H, W), a copy (the image may be read-only)
    wt = torch.tensor(w)[None, None]  # (1, 1, k, k)
    out = F.conv2d(xt, wt, stride=int(stride), padding=int(padding), dilation=int(dilation))
    return out[0, 0].numpy()  # (M_h, M_w)


@dataclass
class Window:
    """What output position (i, j) of a convolution sees.

    patch: (k, k) the input values under the taps (zeros where a tap falls in the padding)
    rows, cols: (k,) row and column of the taps in the ORIGINAL image's coordinates (negative or
        >= H / W where a tap lies in the padding); tap (a, b) sits at (rows[a], cols[b])
    extent: D(K-1)+1, the number of pixels the window spans along each axis
    inside: (k, k) bool, which taps fall on the image (False: in the zero padding)
    """

    patch: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    extent: int
    inside: np.ndarray

    @property
    def top(self) -> int:
        """Row of the first tap (image coordinates)."""
        return int(self.rows[0])

    @property
    def left(self) -> int:
        """Column of the first tap (image coordinates)."""
        return int(self.cols[0])

    def tap_points(self) -> np.ndarray:
        """(k*k, 2) (x, y) = (column, row) of every tap, row by row, for scatter plots."""
        cc, rr = np.meshgrid(self.cols, self.rows)
        return np.stack([cc.ravel(), rr.ravel()], 1).astype(np.float64)


def window(image, kernel_size: int, i: int, j: int, stride: int = 1, padding: int = 0,
           dilation: int = 1) -> Window:
    """The input patch that output position (i, j) of a convolution multiplies with the kernel.

    The taps of output (i, j) sit at rows S*i - P + D*a and columns S*j - P + D*b of the image
    (a, b = 0..k-1), so that, for any (k, k) kernel w,
    (window(...).patch * w).sum() == conv2d_single(image, w, stride, padding, dilation)[i, j].

    Args:
        image: (H, W); kernel_size: k; i, j: output position, 0 <= i < M_h, 0 <= j < M_w.

    Returns:
        Window (see there).
    """
    who = "window"
    x = _as_image(image, who)
    k = integer(who, "kernel_size", kernel_size, 1)
    H, W = x.shape
    m_h = output_size(H, k, stride, padding, dilation)
    m_w = output_size(W, k, stride, padding, dilation)
    if isinstance(i, bool) or not isinstance(i, int | np.integer) or not 0 <= i < m_h:
        raise ValueError(f"{who}: i must be an int in 0..{m_h - 1} (output height {m_h}), "
                         f"got {i!r}")
    if isinstance(j, bool) or not isinstance(j, int | np.integer) or not 0 <= j < m_w:
        raise ValueError(f"{who}: j must be an int in 0..{m_w - 1} (output width {m_w}), "
                         f"got {j!r}")
    taps = dilation * np.arange(k)                   # (k,) offsets of the taps
    rows = stride * int(i) - padding + taps          # (k,) in image coordinates
    cols = stride * int(j) - padding + taps          # (k,)
    in_r = (rows >= 0) & (rows < H)
    in_c = (cols >= 0) & (cols < W)
    inside = in_r[:, None] & in_c[None, :]           # (k, k)
    patch = np.zeros((k, k))
    patch[inside] = x[np.clip(rows, 0, H - 1)][:, np.clip(cols, 0, W - 1)][inside]
    return Window(patch=patch, rows=rows, cols=cols, extent=dilation * (k - 1) + 1, inside=inside)


# --------------------------------------------------------------------------------------------
# Receptive fields
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of one unit after a stack of layers, along one axis, in input pixels.

    size: how many input pixels one unit sees (r)
    jump: distance in input pixels between neighbouring units of this layer (j)
    start: centre of the first unit's receptive field, in input pixel coordinates (may be
        negative when padding is used)
    """

    size: int
    jump: int
    start: float


def _layer_params(layer) -> tuple[int, int, int, int] | None:
    """(kernel, stride, padding, dilation) of a layer spec, or None for layers that do not change
    the spatial grid (activations, normalisation...)."""
    if isinstance(layer, tuple | list):
        if not 1 <= len(layer) <= 4:
            raise ValueError("receptive_field: a layer given as a tuple must be (kernel, stride), "
                             f"(kernel, stride, padding) or (kernel, stride, padding, dilation); "
                             f"got {layer!r}")
        k, s, p, d = (list(layer) + [1, 0, 1][len(layer) - 1:])[:4]
        return (integer("receptive_field", "kernel", k, 1),
                integer("receptive_field", "stride", s, 1),
                integer("receptive_field", "padding", p, 0),
                integer("receptive_field", "dilation", d, 1))
    from torch import nn

    def first(v):
        return int(v[0]) if isinstance(v, tuple | list) else int(v)

    if isinstance(layer, nn.Conv2d):
        if isinstance(layer.padding, str):
            raise ValueError("receptive_field: give nn.Conv2d a numeric padding, not "
                             f"{layer.padding!r}")
        return (first(layer.kernel_size), first(layer.stride), first(layer.padding),
                first(layer.dilation))
    if isinstance(layer, nn.MaxPool2d):
        return (first(layer.kernel_size), first(layer.stride), first(layer.padding),
                first(layer.dilation))
    if isinstance(layer, nn.AvgPool2d):
        return first(layer.kernel_size), first(layer.stride), first(layer.padding), 1
    if isinstance(layer, nn.Module):
        if isinstance(layer, nn.Linear | nn.Flatten | nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
            raise ValueError(f"receptive_field: {type(layer).__name__} mixes all positions; "
                             "pass only the convolutional part of the network")
        return None  # ReLU, BatchNorm2d, Dropout...: same grid
    raise ValueError("receptive_field: each layer must be a tuple (kernel, stride[, padding[, "
                     f"dilation]]) or a torch nn.Conv2d / MaxPool2d / AvgPool2d, got {layer!r}")


def receptive_field_table(layers: Iterable) -> list[ReceptiveField]:
    """The receptive field after every spatial layer of a stack (the input first).

    The standard recurrence, with effective kernel size k' = D(K-1)+1:

        r_l = r_{l-1} + (k'_l - 1) * j_{l-1}
        j_l = j_{l-1} * s_l
        start_l = start_{l-1} + ((k'_l - 1)/2 - p_l) * j_{l-1}

    starting from r_0 = 1, j_0 = 1, start_0 = 0 (one input pixel).

    Args:
        layers: tuples (kernel, stride[, padding[, dilation]]), or torch modules (nn.Conv2d,
            nn.MaxPool2d, nn.AvgPool2d; activations and normalisation layers are skipped), or a
            torch network (a chain: its leaf modules in registration order, nested Sequentials
            included; nn.Linear / nn.Flatten / adaptive pooling raise an error, so pass only the
            convolutional part, e.g. net[:6]).

    Returns:
        [ReceptiveField of the input, after spatial layer 1, after spatial layer 2, ...]
    """
    from torch import nn

    def leaves(m: nn.Module):
        """Leaf modules in order; unlike m.modules(), a block used twice is listed twice."""
        kids = list(m.children())
        if not kids:
            yield m
        for kid in kids:
            yield from leaves(kid)

    if isinstance(layers, nn.Module):  # a network: its leaf modules, in registration order
        layers = list(leaves(layers))
    rf = ReceptiveField(1, 1, 0.0)
    table = [rf]
    for layer in layers:
        p = _layer_params(layer)
        if p is None:
            continue
        k, s, pad, d = p
        k_eff = d * (k - 1) + 1
        rf = ReceptiveField(size=rf.size + (k_eff - 1) * rf.jump, jump=rf.jump * s,
                            start=rf.start + ((k_eff - 1) / 2 - pad) * rf.jump)
        table.append(rf)
    return table


def receptive_field(layers: Sequence | Iterable) -> ReceptiveField:
    """Receptive field (size, jump, start) of one unit after the whole stack; see
    receptive_field_table. Three 3x3 convolutions with stride 1 give size 7."""
    return receptive_field_table(layers)[-1]


# --------------------------------------------------------------------------------------------
# Pictures
# --------------------------------------------------------------------------------------------
def draw_windows(ax, n: int, k: int = 3, stride: int = 1, padding: int = 0, dilation: int = 1,
                 positions: Sequence[tuple[int, int]] = ((0, 0), (0, 1)),
                 colors: Sequence[str] = ("#D55E00", "#0072B2", "#009E73", "#CC79A7"),
                 title: str | None = None) -> list[Window]:
    """Draw an n x n input grid (with its zero padding, in blue) and the taps of the windows that
    the given output positions see, one colour per position (taps shared by two windows get both
    outlines). For pictures of stride, padding and dilation.

    Args:
        ax: a matplotlib Axes.  n: input size.  k, stride, padding, dilation: the convolution.
        positions: output positions (i, j) whose windows are drawn (at most len(colors)).

    Returns:
        the Window of every position (see window()).
    """
    from matplotlib.patches import Rectangle

    if len(positions) > len(colors):
        raise ValueError(f"draw_windows: at most {len(colors)} positions, got {len(positions)}")
    m = output_size(n, k, stride, padding, dilation)
    lo, hi = -padding, n + padding
    for r in range(lo, hi):
        for c in range(lo, hi):
            inside = 0 <= r < n and 0 <= c < n
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fc="0.93" if inside else "#CFE8F7",
                                   ec="0.6", lw=0.5))
    wins = []
    for q, ((i, j), col) in enumerate(zip(positions, colors, strict=False)):
        win = window(np.zeros((n, n)), k, i, j, stride, padding, dilation)
        wins.append(win)
        inset = 0.06 + 0.14 * q  # nested squares, so shared taps show both colours
        for x, y in win.tap_points():
            ax.add_patch(Rectangle((x - 0.5 + inset, y - 0.5 + inset), 1 - 2 * inset,
                                   1 - 2 * inset, fc=col, alpha=0.45, ec=col, lw=2))
        ax.plot([], [], "s", mfc=col, alpha=0.6, mec=col, mew=2, label=f"output ({i}, {j})")
    ax.set_xlim(lo - 0.5, hi - 0.5)
    ax.set_ylim(hi - 0.5, lo - 0.5)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title if title is not None else
                 f"N = {n}, K = {k}, S = {stride}, P = {padding}, D = {dilation}: M = {m}",
                 fontsize=9)
    return wins
