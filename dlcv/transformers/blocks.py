"""The transformer's parts as torch modules: multi-head attention, encoder and decoder blocks.

    MultiHeadAttention(dim, heads)       x (N, Tq, D), context (N, Tk, D) -> (N, Tq, D); keeps
                                         its last weights (N, heads, Tq, Tk) in .weights
    EncoderBlock(dim, heads, mlp_dim)    x + MHA(LN(x)), then x + MLP(LN(x)) (pre-norm; post-norm
                                         with pre_norm=False, as in Vaswani et al. 2017)
    DecoderBlock(dim, heads, mlp_dim)    masked self-attention, cross-attention over an
                                         encoder's memory, MLP, each around a residual

The attention here is computed in a few lines of its own (the same formula as
dlcv.transformers.attention, which the tests compare it with), so that the trained models do not
depend on the teaching module that an assignment's sandbox leaves out.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dlcv.validate import integer


class MultiHeadAttention(nn.Module):
    """Multi-head attention with biases: Q = x W_q + b_q, K = c W_k + b_k, V = c W_v + b_v,
    heads of D / heads features each, out = concat_h(softmax(Q_h K_h^T / sqrt(D/h)) V_h) W_o + b_o.

    forward(x, context=None, mask=None): x: (N, Tq, D); context: (N, Tk, D) (None:
    self-attention); mask: bool broadcastable to (N, heads, Tq, Tk), True = may attend.
    After a call, self.weights holds the attention weights (N, heads, Tq, Tk), detached.
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.dim = integer("MultiHeadAttention", "dim", dim, 1)
        self.heads = integer("MultiHeadAttention", "heads", heads, 1)
        if dim % heads:
            raise ValueError(f"MultiHeadAttention: dim ({dim}) must be divisible by heads "
                             f"({heads})")
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        c = x if context is None else context
        if x.dim() != 3 or x.shape[-1] != self.dim or c.dim() != 3 or c.shape[-1] != self.dim:
            raise ValueError(f"MultiHeadAttention: x and context must be (N, T, {self.dim}), got "
                             f"{tuple(x.shape)} and {tuple(c.shape)}")
        N, Tq, D = x.shape
        h, dh = self.heads, D // self.heads

        def split(t):  # (N, T, D) -> (N, h, T, D/h)
            return t.reshape(N, -1, h, dh).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(c)), split(self.v(c))
        scores = q @ k.transpose(-2, -1) / math.sqrt(dh)         # (N, h, Tq, Tk)
        if mask is not None:
            scores = scores.masked_fill(~torch.as_tensor(mask, dtype=torch.bool), float("-inf"))
        w = torch.softmax(scores, dim=-1)
        self.weights = w.detach()
        out = (w @ v).transpose(1, 2).reshape(N, Tq, D)          # (N, Tq, D)
        return self.o(out)


class _MLP(nn.Sequential):
    def __init__(self, dim: int, hidden: int):
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class EncoderBlock(nn.Module):
    """One encoder block. x: (N, T, D) -> (N, T, D).

    pre_norm=True (the ViT's and most current models'): x = x + MHA(LN(x)); x = x + MLP(LN(x)).
    pre_norm=False (the original transformer's post-norm): x = LN(x + MHA(x));
    x = LN(x + MLP(x)). The residual path of the pre-norm block is never normalised, so the
    identity passes from the input to the output of a deep stack untouched.
    """

    def __init__(self, dim: int, heads: int, mlp_dim: int, pre_norm: bool = True):
        super().__init__()
        self.attn = MultiHeadAttention(dim, heads)
        self.mlp = _MLP(dim, integer("EncoderBlock", "mlp_dim", mlp_dim, 1))
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.pre_norm = bool(pre_norm)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.pre_norm:
            x = x + self.attn(self.ln1(x), mask=mask)
            return x + self.mlp(self.ln2(x))
        x = self.ln1(x + self.attn(x, mask=mask))
        return self.ln2(x + self.mlp(x))


class DecoderBlock(nn.Module):
    """One pre-norm decoder block. x: (N, T, D) the sequence being produced (or DETR's object
    queries), memory: (N, S, D) the encoder's output.

        x = x + SelfMHA(LN(x), mask)          (causal mask when generating left to right)
        x = x + CrossMHA(LN(x), memory)       (queries from x, keys and values from the memory)
        x = x + MLP(LN(x))
    """

    def __init__(self, dim: int, heads: int, mlp_dim: int):
        super().__init__()
        self.self_attn = MultiHeadAttention(dim, heads)
        self.cross_attn = MultiHeadAttention(dim, heads)
        self.mlp = _MLP(dim, integer("DecoderBlock", "mlp_dim", mlp_dim, 1))
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, memory: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.self_attn(self.ln1(x), mask=mask)
        x = x + self.cross_attn(self.ln2(x), context=memory)
        return x + self.mlp(self.ln3(x))

