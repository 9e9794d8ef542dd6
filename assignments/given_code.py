"""Given code that more than one assignment hands to students, written once.

a3 (Part 5) and a5 (training) give their students working versions of what assignment 2 asked
for, so that a later assignment never depends on how one's own a2 turned out: a2's layers and
Adam. Those given cells are copies of the functions below. `make sync` writes them into the
notebooks' .py twins (`python assignments/given_code.py`), and tests/test_given_code.py fails
when a copy drifts. This file is never released; its functions are a2's answers.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import numpy as np

ASSIGNMENTS = Path(__file__).resolve().parent
# twin -> the given functions it holds
HOLDERS = {
    "a3_cnn/a3_cnn.py": ["affine_forward", "affine_backward", "relu_forward", "relu_backward",
                         "softmax_loss", "adam"],
    "a5_captioning/a5_captioning.py": ["adam"],
}


def affine_forward(x, w, b):
    """x: (N, d_1, ..., d_k), w: (D, M), b: (M,) -> out (N, M), cache."""
    return x.reshape(x.shape[0], -1) @ w + b, (x, w, b)


def affine_backward(dout, cache):
    """dout: (N, M) -> dx (x's shape), dw (D, M), db (M,)."""
    x, w, b = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=0)


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def softmax_loss(x, y):
    """x: (N, C) scores, y: (N,) labels -> mean cross-entropy, dx (N, C)."""
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = x.shape[0]
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    return -log_probs[np.arange(N), y].mean(), dx / N


def adam(w, dw, config=None):
    """Adam update rule (assignment 2)."""
    config = {} if config is None else config
    for k, v in (("learning_rate", 1e-3), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-8)):
        config.setdefault(k, v)
    m, v, t = config.get("m", np.zeros_like(w)), config.get("v", np.zeros_like(w)), config.get("t", 0) + 1
    m = config["beta1"] * m + (1 - config["beta1"]) * dw
    v = config["beta2"] * v + (1 - config["beta2"]) * dw**2
    m_hat, v_hat = m / (1 - config["beta1"] ** t), v / (1 - config["beta2"] ** t)
    config.update(m=m, v=v, t=t)
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config


# --------------------------------------------------------------------------------------------
# writing and checking the copies
# --------------------------------------------------------------------------------------------
def canonical() -> dict[str, str]:
    """name -> the source of each given function, as written above."""
    src = Path(__file__).read_text()
    return {n.name: ast.get_source_segment(src, n) for n in ast.parse(src).body
            if isinstance(n, ast.FunctionDef) and n.name in {f for fs in HOLDERS.values() for f in fs}}


def copies(twin: Path) -> dict[str, tuple[int, int, str]]:
    """name -> (first line, last line, source) of each top-level function of a twin."""
    src = twin.read_text()
    return {n.name: (n.lineno, n.end_lineno, ast.get_source_segment(src, n))
            for n in ast.parse(src).body if isinstance(n, ast.FunctionDef)}


def write() -> list[str]:
    """Rewrite every copy that differs from the canonical source; the twins changed."""
    want, changed = canonical(), []
    for rel, names in HOLDERS.items():
        twin = ASSIGNMENTS / rel
        lines = twin.read_text().splitlines(keepends=True)
        found = copies(twin)
        for name in sorted(names, key=lambda n: -found[n][0]):  # from the bottom up
            first, last, text = found[name]
            if text != want[name]:
                lines[first - 1:last] = [want[name] + "\n"]
                changed.append(f"{rel}: {name}")
        twin.write_text("".join(lines))
    return changed


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    for c in write():
        print(f"given code updated: {c}")
    sys.exit(0)
