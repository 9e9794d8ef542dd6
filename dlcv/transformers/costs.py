"""What one layer costs on a sequence of n tokens of d features: self-attention against a
convolution and a recurrent layer (multiply-adds counted as 2 FLOPs, forward pass only).

    layer_costs(n, d, kernel=3, heads=1)   {"self-attention", "convolution", "recurrent"} ->
                                           {"flops", "memory", "sequential"}: FLOPs, the floats
                                           of the largest intermediate, the steps that must run
                                           one after another
"""

from __future__ import annotations

from dlcv.validate import integer


def layer_costs(n: int, d: int, kernel: int = 3, heads: int = 1) -> dict:
    """Costs of mapping n tokens of d features to n tokens of d features.

    self-attention: the projections Q, K, V and the output (4 matrices of d x d: 8 n d^2
    FLOPs), the scores Q K^T and the weighted sum of the values (2 n^2 d each: 4 n^2 d); memory:
    the heads x n x n attention weights; sequential steps: 1 (every token at once).
    convolution (1-D, kernel k, d channels in and out): 2 n k d^2 FLOPs; memory: the n x d
    output; sequential: 1; but a token sees only k - 1 neighbours per layer (n / (k - 1)
    layers to connect the two ends).
    recurrent (a vanilla RNN, h_t = tanh(W_x x_t + W_h h_{t-1})): 4 n d^2 FLOPs; memory:
    n x d states; sequential: n steps, each waiting for the one before.
    """
    n = integer("layer_costs", "n", n, 1)
    d = integer("layer_costs", "d", d, 1)
    kernel = integer("layer_costs", "kernel", kernel, 2)
    heads = integer("layer_costs", "heads", heads, 1)
    return {
        "self-attention": {"flops": 8 * n * d * d + 4 * n * n * d, "memory": heads * n * n,
                           "sequential": 1},
        "convolution": {"flops": 2 * n * kernel * d * d, "memory": n * d, "sequential": 1},
        "recurrent": {"flops": 4 * n * d * d, "memory": n * d, "sequential": n},
    }
