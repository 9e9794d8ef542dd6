"""Positional encodings: what tells a transformer where a token is.

    sinusoidal(n, d, base)      (n, d) the encodings of Vaswani et al. (2017): pairs of
                                sines and cosines at geometrically spaced frequencies
    similarity(P)               (n, n) cosine similarities between the encodings of positions

Learned positional encodings are a trainable (n, d) parameter added to the tokens
(dlcv.transformers.vit.ViT holds one); this module holds the fixed kind. A later assignment asks
students to write sinusoidal encodings, so this module is not in its grading sandbox.
"""

from __future__ import annotations

import numpy as np

from dlcv.validate import integer, positive


def sinusoidal(n: int, d: int, base: float = 10000.0) -> np.ndarray:
    """(n, d) float64: row t is the encoding of position t,

        P[t, 2i] = sin(t / base^(2i / d)),  P[t, 2i + 1] = cos(t / base^(2i / d)),

    for i = 0 .. d/2 - 1 (d must be even). Each pair (sin, cos) is a point on a circle that turns
    with the position at its own frequency; the encoding of t + k is a fixed rotation of that of
    t (per pair), so a linear map can read relative offsets."""
    n = integer("sinusoidal", "n", n, 1)
    d = integer("sinusoidal", "d", d, 2)
    base = positive("sinusoidal", "base", base)
    if d % 2:
        raise ValueError(f"sinusoidal: d must be even (sine and cosine pairs), got {d}")
    t = np.arange(n, dtype=np.float64)[:, None]                # (n, 1)
    freq = base ** (-np.arange(0, d, 2, dtype=np.float64) / d)  # (d / 2,)
    P = np.empty((n, d))
    P[:, 0::2] = np.sin(t * freq)
    P[:, 1::2] = np.cos(t * freq)
    return P


def similarity(P) -> np.ndarray:
    """P: (n, d) encodings -> (n, n) cosine similarity of every pair of positions."""
    P = np.asarray(P, np.float64)
    if P.ndim != 2:
        raise ValueError(f"similarity: P must be (n, d), got {P.shape}")
    U = P / np.maximum(np.linalg.norm(P, axis=1, keepdims=True), 1e-12)
    return U @ U.T
