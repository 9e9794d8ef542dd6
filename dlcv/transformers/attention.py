"""Scaled dot-product and multi-head attention, written out (the lecture's teaching versions).

    scaled_dot_product_attention(q, k, v, mask, scaled)   softmax(q k^T / sqrt(d)) v and weights
    causal_mask(T)                                         (T, T) bool: position t sees 0..t
    split_heads(x, h) / merge_heads(x)                     (N, T, D) <-> (N, h, T, D / h)
    multi_head_attention(x, context, W_q, W_k, W_v, W_o, heads, mask)
                                                           the whole layer as a function
    softmax_saturation(dims, ...)                          how peaked the weights are, and how
                                                           small the softmax's gradient, for
                                                           random queries and keys of dimension d

A later assignment asks students to write these in numpy (forward and backward), so this module
is not present in its grading sandbox; dlcv.transformers.blocks, which the trained models use,
computes the same attention itself and imports nothing from here.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dlcv.validate import integer


def _check_qkv(q, k, v, who: str) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.dim() < 2:
            shape = tuple(t.shape) if hasattr(t, "shape") else type(t).__name__
            raise ValueError(f"{who}: {name} must be a tensor (..., T, d), got {shape}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{who}: q and k must have the same last dimension d, got "
                         f"{tuple(q.shape)} and {tuple(k.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{who}: k and v must have the same number of keys, got "
                         f"{tuple(k.shape)} and {tuple(v.shape)}")


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None, scaled: bool = True
                                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention of every query over every key (Vaswani et al., 2017).

    q: (..., Tq, d) queries; k: (..., Tk, d) keys; v: (..., Tk, dv) values;
    mask: bool, broadcastable to (..., Tq, Tk), True where query i may look at key j (every row
    must allow at least one key); scaled: divide the scores by sqrt(d) (False: plain dot
    products, to show what the scale is for).

    Returns out: (..., Tq, dv) = weights @ v, and weights: (..., Tq, Tk), each row a softmax
    over the keys (rows sum to 1, masked entries are exactly 0).
    """
    _check_qkv(q, k, v, "scaled_dot_product_attention")
    scores = q @ k.transpose(-2, -1)                         # (..., Tq, Tk)
    if scaled:
        scores = scores / math.sqrt(q.shape[-1])
    if mask is not None:
        mask = torch.as_tensor(mask, dtype=torch.bool)
        if not bool(mask.any(-1).all()):
            raise ValueError("scaled_dot_product_attention: every query must be allowed at "
                             "least one key (a row of the mask is all False)")
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)                  # (..., Tq, Tk)
    return weights @ v, weights


def causal_mask(T: int) -> torch.Tensor:
    """(T, T) bool, True on and below the diagonal: position t may attend to 0..t, never to
    a later position (what a decoder that generates left to right must not see)."""
    T = integer("causal_mask", "T", T, 1)
    return torch.ones(T, T, dtype=torch.bool).tril()


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """x: (N, T, D) -> (N, heads, T, D / heads): the D features cut into heads groups."""
    heads = integer("split_heads", "heads", heads, 1)
    if x.dim() != 3 or x.shape[-1] % heads:
        raise ValueError(f"split_heads: x must be (N, T, D) with D divisible by heads={heads}, "
                         f"got {tuple(x.shape)}")
    N, T, D = x.shape
    return x.reshape(N, T, heads, D // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """x: (N, h, T, d) -> (N, T, h * d), the inverse of split_heads."""
    if x.dim() != 4:
        raise ValueError(f"merge_heads: x must be (N, h, T, d), got {tuple(x.shape)}")
    N, h, T, d = x.shape
    return x.transpose(1, 2).reshape(N, T, h * d)


def multi_head_attention(x: torch.Tensor, context: torch.Tensor | None, W_q: torch.Tensor,
                         W_k: torch.Tensor, W_v: torch.Tensor, W_o: torch.Tensor, heads: int,
                         mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-head attention of x over context (context None: self-attention over x).

    x: (N, Tq, D); context: (N, Tk, D) or None; W_q, W_k, W_v, W_o: (D, D) (no biases, to keep
    the formula plain: Q = x W_q, K = c W_k, V = c W_v, each cut into heads of D / heads
    features, attended separately, concatenated and mixed by W_o); mask: broadcastable to
    (N, heads, Tq, Tk).

    Returns out: (N, Tq, D) and weights: (N, heads, Tq, Tk).
    """
    c = x if context is None else context
    if x.dim() != 3 or c.dim() != 3 or c.shape[0] != x.shape[0] or c.shape[2] != x.shape[2]:
        raise ValueError(f"multi_head_attention: x must be (N, Tq, D) and context (N, Tk, D), "
                         f"got {tuple(x.shape)} and {tuple(c.shape)}")
    D = x.shape[-1]
    for name, W in (("W_q", W_q), ("W_k", W_k), ("W_v", W_v), ("W_o", W_o)):
        if tuple(W.shape) != (D, D):
            raise ValueError(f"multi_head_attention: {name} must be ({D}, {D}), got "
                             f"{tuple(W.shape)}")
    q, k, v = (split_heads(t, heads) for t in (x @ W_q, c @ W_k, c @ W_v))  # (N, h, T, D/h)
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    return merge_heads(out) @ W_o, weights


def softmax_jacobian_norm(p: torch.Tensor) -> torch.Tensor:
    """p: (..., T) softmax outputs -> (...,) the Frobenius norm of the softmax's Jacobian
    d p / d s = diag(p) - p p^T: how much the weights can move when the scores move. It is
    0 for a one-hot p (a saturated softmax passes no gradient) and largest for a flat one."""
    J = torch.diag_embed(p) - p[..., :, None] * p[..., None, :]
    return torch.linalg.matrix_norm(J)


def softmax_saturation(dims, n_keys: int = 16, trials: int = 500, seed: int = 0) -> dict:
    """For queries and keys with independent N(0, 1) entries in dimension d (what a freshly
    initialised layer sees), the dot product q.k has variance d: its spread grows like sqrt(d).

    dims: the dimensions d to try; n_keys: keys per query; trials: queries per d.
    Returns {"dims": (len(dims),) int, and for "scaled" (scores / sqrt(d)) and "unscaled":
    "score_std": std of the scores, "max_weight": mean largest weight of a query (1 / n_keys for
    a flat softmax, 1 for a one-hot one), "jacobian": mean Frobenius norm of the softmax's
    Jacobian (see softmax_jacobian_norm)}, each (len(dims),) float64.
    """
    dims = [integer("softmax_saturation", "d", d, 1) for d in dims]
    n_keys = integer("softmax_saturation", "n_keys", n_keys, 2)
    trials = integer("softmax_saturation", "trials", trials, 1)
    g = torch.Generator().manual_seed(seed)
    out = {"dims": np.array(dims)}
    for kind in ("scaled", "unscaled"):
        out[kind] = {"score_std": [], "max_weight": [], "jacobian": []}
    for d in dims:
        q = torch.randn(trials, 1, d, generator=g, dtype=torch.float64)
        k = torch.randn(trials, n_keys, d, generator=g, dtype=torch.float64)
        s = (q @ k.transpose(1, 2))[:, 0]                                   # (trials, n_keys)
        for kind, scores in (("scaled", s / math.sqrt(d)), ("unscaled", s)):
            p = torch.softmax(scores, dim=-1)
            out[kind]["score_std"].append(float(scores.std()))
            out[kind]["max_weight"].append(float(p.max(-1).values.mean()))
            out[kind]["jacobian"].append(float(softmax_jacobian_norm(p).mean()))
    for kind in ("scaled", "unscaled"):
        out[kind] = {key: np.array(val) for key, val in out[kind].items()}
    return out
