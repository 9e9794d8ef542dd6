"""Upsampling for lecture 11: how a decoder gets back to full resolution.

Unpooling (no parameters)
    unpool_nearest(x, factor)              (..., H, W) -> (..., fH, fW): every value repeated in a
                                           factor x factor block
    unpool_bed_of_nails(x, factor)         (..., H, W) -> (..., fH, fW): each value at the top-left
                                           of its block, zeros elsewhere
    (max unpooling: torch.nn.functional.max_pool2d(return_indices=True) and max_unpool2d)
Transposed convolution
    transposed_output_size(n, k, ...)      int: (n - 1) * S - 2P + D(K - 1) + output_padding + 1
    transposed_output_size_formula(...)    str: the same, written out with the numbers filled in
    conv_matrix_1d(kernel, n, ...)         (k,) kernel -> (M, n) matrix C of the convolution, y = C x
    conv_matrix_2d(kernel, (H, W), ...)    (kh, kw) kernel -> (M_h * M_w, H * W) matrix C; the
                                           transposed convolution is x' = C^T y
    stamp_span(i, k, stride, padding)      (start, stop): the output positions that input i's kernel
                                           copy covers
    stamp_counts(n, k, ...)                (out,) or (out, out) int64: how many kernel copies overlap
                                           at each output position (the checkerboard)
"""

from __future__ import annotations

import numpy as np
import torch

from dlcv.validate import integer


# --------------------------------------------------------------------------------------------
# Upsampling without parameters
# --------------------------------------------------------------------------------------------
def _check_map(x, who: str) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"{who}: x must have shape (..., H, W), got {tuple(x.shape)}")
    return x


def _check_factor(factor, who: str) -> int:
    if isinstance(factor, bool) or not isinstance(factor, int | np.integer) or factor < 1:
        raise ValueError(f"{who}: factor must be an int >= 1, got {factor!r}")
    return int(factor)


def unpool_nearest(x, factor: int = 2) -> torch.Tensor:
    """Nearest-neighbour upsampling: x (..., H, W) -> (..., factor * H, factor * W), every value
    copied into a factor x factor block (as F.interpolate(mode='nearest') does)."""
    x = _check_map(x, "unpool_nearest")
    f = _check_factor(factor, "unpool_nearest")
    return x.repeat_interleave(f, dim=-2).repeat_interleave(f, dim=-1)


def unpool_bed_of_nails(x, factor: int = 2) -> torch.Tensor:
    """'Bed of nails' upsampling: x (..., H, W) -> (..., factor * H, factor * W), every value at
    the top-left corner of its factor x factor block and zeros elsewhere."""
    x = _check_map(x, "unpool_bed_of_nails")
    f = _check_factor(factor, "unpool_bed_of_nails")
    out = x.new_zeros(x.shape[:-2] + (f * x.shape[-2], f * x.shape[-1]))
    out[..., ::f, ::f] = x
    return out


# --------------------------------------------------------------------------------------------
# Transposed convolution
# --------------------------------------------------------------------------------------------


def transposed_output_size(n: int, k: int, stride: int = 1, padding: int = 0,
                           output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution along one axis (torch's convention).

        out = (n - 1) * S - 2P + D(K - 1) + output_padding + 1

    which is (n - 1) * S - 2P + K + output_padding for D = 1: every input position stamps a copy
    of the kernel, the copies S apart, the stamped canvas is (n - 1) S + K long, the padding P
    crops P positions from each end, and output_padding adds positions at the far end.

    Raises:
        ValueError: a bad argument; output_padding not smaller than the stride or the dilation
            (torch's rule); or an output shorter than 1.
    """
    who = "transposed_output_size"
    n, k = integer(who, "n", n, 1), integer(who, "k", k, 1)
    stride, padding = integer(who, "stride", stride, 1), integer(who, "padding", padding, 0)
    output_padding = integer(who, "output_padding", output_padding, 0)
    dilation = integer(who, "dilation", dilation, 1)
    if output_padding >= max(stride, dilation):
        raise ValueError(f"{who}: output_padding must be smaller than the stride or the "
                         f"dilation, got output_padding = {output_padding} with stride = "
                         f"{stride} and dilation = {dilation}")
    out = (n - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1
    if out < 1:
        raise ValueError(f"{who}: the output would have length {out}: the padding {padding} crops "
                         f"more than the {(n - 1) * stride + dilation * (k - 1) + 1} positions the "
                         "kernel copies cover; use less padding, a larger kernel, stride or input")
    return out


def transposed_output_size_formula(n: int, k: int, stride: int = 1, padding: int = 0,
                                   output_padding: int = 0, name: str = "out") -> str:
    """The output-size formula with the numbers filled in, e.g.
    'out = (4 - 1)*2 - 2*1 + 3 + 1 = 8' (dilation 1)."""
    m = transposed_output_size(n, k, stride, padding, output_padding)
    return f"{name} = ({n} - 1)*{stride} - 2*{padding} + {k} + {output_padding} = {m}"


def _kernel_1d(kernel, who: str) -> np.ndarray:
    w = np.asarray(kernel, dtype=np.float64)
    if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)):
        raise ValueError(f"{who}: kernel must be a finite 1-D array (k,), got shape {w.shape}")
    return w


def conv_matrix_1d(kernel, n: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The matrix C of a 1-D convolution (cross-correlation, zero padding), so that C @ x equals
    torch.nn.functional.conv1d(x, kernel, stride=stride, padding=padding) for x of length n.

    Row m holds the kernel taps at columns m * S - P + t (t = 0..k-1); taps that fall into the
    padding are dropped, since they multiply zeros.

    Args:
        kernel: (k,); n: input length; stride, padding: ints.

    Returns:
        C: (M, n) float64 with M = floor((n + 2P - k) / S) + 1.
    """
    who = "conv_matrix_1d"
    w = _kernel_1d(kernel, who)
    n = integer(who, "n", n, 1)
    stride, padding = integer(who, "stride", stride, 1), integer(who, "padding", padding, 0)
    k = w.size
    if k > n + 2 * padding:
        raise ValueError(f"{who}: the kernel ({k} taps) is longer than the padded input "
                         f"({n} + 2*{padding})")
    m = (n + 2 * padding - k) // stride + 1
    C = np.zeros((m, n))
    for row in range(m):
        for t in range(k):
            col = row * stride - padding + t
            if 0 <= col < n:
                C[row, col] = w[t]
    return C


def conv_matrix_2d(kernel, shape: tuple[int, int], stride: int = 1, padding: int = 0) -> np.ndarray:
    """The matrix C of a 2-D single-channel convolution: C @ x.ravel() equals
    torch.nn.functional.conv2d(x, kernel, stride=stride, padding=padding).ravel() for an input
    x of shape (H, W) (row-major flattening of input and output).

    Args:
        kernel: (kh, kw); shape: (H, W) of the input; stride, padding: ints (both axes).

    Returns:
        C: (M_h * M_w, H * W) float64.
    """
    who = "conv_matrix_2d"
    w = np.asarray(kernel, dtype=np.float64)
    if w.ndim != 2 or w.size == 0 or not np.all(np.isfinite(w)):
        raise ValueError(f"{who}: kernel must be a finite 2-D array (kh, kw), got shape {w.shape}")
    if len(tuple(shape)) != 2:
        raise ValueError(f"{who}: shape must be (H, W), got {shape!r}")
    H, W = (integer(who, "shape", s, 1) for s in shape)
    stride, padding = integer(who, "stride", stride, 1), integer(who, "padding", padding, 0)
    kh, kw = w.shape
    if kh > H + 2 * padding or kw > W + 2 * padding:
        raise ValueError(f"{who}: the kernel {w.shape} does not fit into the padded input "
                         f"({H} + 2*{padding}, {W} + 2*{padding})")
    m_h = (H + 2 * padding - kh) // stride + 1
    m_w = (W + 2 * padding - kw) // stride + 1
    C = np.zeros((m_h * m_w, H * W))
    for i in range(m_h):
        for j in range(m_w):
            for a in range(kh):
                for b in range(kw):
                    r, c = i * stride - padding + a, j * stride - padding + b
                    if 0 <= r < H and 0 <= c < W:
                        C[i * m_w + j, r * W + c] = w[a, b]
    return C


def stamp_span(i: int, k: int, stride: int = 1, padding: int = 0) -> tuple[int, int]:
    """Where input position i's copy of the kernel lands in a transposed convolution's output:
    positions [start, stop) with start = i * S - P and stop = start + K (it may stick out of the
    output at either end; those parts are cropped)."""
    who = "stamp_span"
    i, k = integer(who, "i", i, 0), integer(who, "k", k, 1)
    stride, padding = integer(who, "stride", stride, 1), integer(who, "padding", padding, 0)
    start = i * stride - padding
    return start, start + k


def stamp_counts(n: int, k: int, stride: int = 1, padding: int = 0, output_padding: int = 0,
                 dims: int = 2) -> np.ndarray:
    """How many kernel copies cover each output position of a transposed convolution of an
    n (x n) input: the output of conv_transpose with an all-ones input and an all-ones kernel.

    Where K is not a multiple of S the copies overlap unevenly (a 1-2-1-2 pattern along each axis,
    a checkerboard in 2-D): the source of the checkerboard artefacts of learned upsampling.

    Args:
        n, k, stride, padding, output_padding: as in transposed_output_size.
        dims: 1 for a (out,) profile, 2 for the (out, out) map (the outer product of profiles).

    Returns:
        (out,) or (out, out) int64.
    """
    out = transposed_output_size(n, k, stride, padding, output_padding)
    if dims not in (1, 2):
        raise ValueError(f"stamp_counts: dims must be 1 or 2, got {dims!r}")
    counts = np.zeros(out, dtype=np.int64)
    for i in range(n):
        start, stop = stamp_span(i, k, stride, padding)
        lo, hi = max(start, 0), min(stop, out)
        if hi > lo:
            counts[lo:hi] += 1
    return counts if dims == 1 else np.outer(counts, counts)
