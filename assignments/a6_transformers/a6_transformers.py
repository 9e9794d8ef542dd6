# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 6: attention, transformers and learning without labels
#
# Assignment 5 captioned the shapes scenes with an LSTM that read the image once, as its first
# state, and then carried everything in one hidden vector. A **transformer** (Vaswani et al.,
# 2017) does without the recurrence: every word looks at every earlier word and at every cell of
# the image directly, through attention, and all the positions of a caption are trained in
# parallel (lecture 14). The second half of the assignment asks what a network can learn with
# **no labels at all**: two random views of the same digit should have similar embeddings and
# views of different digits different ones (SimCLR, Chen et al., 2020; lecture 15). A linear
# classifier on the learned features, fitted with five labels per digit, then measures what the
# network learned.
#
# 1. **Attention in numpy**: scaled dot-product attention with a mask, forward and backward;
#    multi-head attention with its projections, forward and backward; sinusoidal positions and
#    the causal mask.
# 2. **A transformer captioner in torch**: your own multi-head attention, pre-norm decoder
#    blocks with causal self-attention and cross-attention to the 64 cells of the image, greedy
#    sampling, and a training loop with warm-up and a cosine schedule. It is scored with BLEU-4
#    on held-out scenes, next to lecture 13's LSTM, and its cross-attention maps are drawn word by
#    word.
# 3. **Learning without labels**: the InfoNCE loss (NT-Xent), a SimCLR encoder trained with it on
#    the digits without their labels, and a linear probe that measures its features against the
#    raw pixels.
#
# Four **written questions** ask you to explain what your runs show, in a few sentences each.
#
# ## How to work
#
# - Run the cells from the top. Cells below a function you have not written yet stop with a message
#   that names it.
# - Every function has a docstring with the shapes of its inputs and outputs. Write your code where
#   it says `# YOUR CODE HERE` and delete `raise NotImplementedError()`. Keep the function names and
#   arguments.
# - Part 1 follows the layer contract of assignments 2 and 5: `out, cache = f_forward(...)` and
#   `grads = f_backward(dout, cache)`, in **numpy** only. Parts 2 and 3 are written in **torch**;
#   autograd computes their gradients.
# - Lecture 14's `dlcv.transformers.{attention, positions, blocks, captioner}` and lecture 15's
#   `dlcv.selfsupervised.{infonce, probe}` hold the lectures' own versions of some of these
#   computations; write your own: those modules are not there when your notebook is graded, so
#   importing them fails. `torch.nn.MultiheadAttention` and `torch.nn.Transformer*` are not allowed either: the
#   captioner's attention is yours (`nn.Linear`, `nn.LayerNorm`, `nn.Embedding` and
#   `torch.softmax` are fine).
# - A failing test names the function, the case, and what was expected against what came back; a
#   passing test prints nothing, or only the figure it measured (a BLEU score, an accuracy).
# - Before you submit: **Kernel > Restart Kernel and Run All Cells** (or **Validate**). Hand in
#   this notebook with its name unchanged.
# - **Self-check**, at any time: save the notebook, then run
#   `python -m autograder.selfcheck a6_transformers.ipynb` in a terminal, in this notebook's folder
#   or in the course's top folder, where JupyterLab's terminal opens (or
#   `from autograder.selfcheck import check_notebook; check_notebook()` in a cell). It runs a
#   fresh copy of the saved notebook and lists every test: passed, or what is wrong. The hidden
#   tests run only when your work is graded. On a JupyterHub where `import dlcv` fails, install
#   the course's package once, in a terminal: `pip install --user "dlcv @ git+URL"` (URL: the
#   course repository's address, from your instructor).
#
# ## How it is graded
#
# The test cells are worth 100 points in total, and the course's grader decides them, not the
# output you see under a test cell. When your notebook is graded it runs as you left it, in a
# sandbox that has numpy, torch and the course modules this notebook imports (the shapes scenes,
# their captions and image encoder, lecture 13's LSTM captioner, the digits, the views and the
# encoder of lecture 15), but not the lectures' teaching versions `dlcv.transformers.{attention,
# positions, blocks, captioner}` and `dlcv.selfsupervised.{infonce, probe}`. Then your Part 1 cells
# (`attention_forward/backward`, `mha_forward/backward`, `sinusoidal_positions`, `causal_mask`)
# run once more on their own, in a second sandbox that has numpy but not torch: only `math` and
# numpy (`np`) are imported before them there, so write them in numpy, with what they use defined
# in those cells themselves.
#
# The grader calls your functions on inputs of its own: the visible cases of every test cell and
# **hidden** ones (random sizes and numbers of heads compared with the instructor's solutions,
# numeric gradients, masks, a fully masked query, other temperatures, your probe's accuracy on the
# digits' pixels against scikit-learn's logistic regression), and compares what they return
# outside the sandbox. For the captioner it builds small `TransformerCaptioner`s of its own
# and checks their shapes, their causality and their sampling; then it asks your trained
# `captioner` for the captions of **1000 scenes that it draws itself**, computes BLEU-4 with its own
# implementation and its references, and checks your captioner's cross-attention on those scenes
# (rows that sum to one and that are not uniform over the 64 cells). For Part 3 it asks your
# `ssl_encoder` for the features of the digits, fits **its own** linear probe on them with five
# labels per digit, and compares its accuracy with the same probe on the raw pixels. A test cell
# earns its points when all its cases pass, and the feedback lists every case: passed, or what was
# wrong. So passing the visible test is a good sign, not a guarantee: read each docstring
# carefully. Most tests call only the function they are about; multi-head attention runs your
# `attention_forward/backward`, and the trained captioner and encoder run most of their part, and a
# failure then says when one of those is the cause.
#
# | Part | Functions | Points |
# |---|---|---|
# | Attention in numpy | `attention_forward/backward`, `mha_forward/backward`, `sinusoidal_positions`, `causal_mask` | 38 |
# | The captioner | `TransformerCaptioner` (shapes, causality, attention rows, sampling) | 12 |
# | The trained captioner | `train_captioner` and all of Part 2, judged on the grader's scenes | 18 |
# | Learning without labels | `info_nce`, `linear_probe` | 18 |
# | The SimCLR encoder | your `info_nce` trained it; the grader's probe judges it | 14 |
# | Written questions 1 to 4 | answers in words, graded by hand | 13 |
#
# Besides the 100 points of the test cells, the four written questions are worth 13 points. Write
# each answer in the cell below its question, marked "YOUR ANSWER HERE" (replace that text), in
# plain sentences (`$...$` math is fine). The instructor reads it as written and grades it by hand
# after the automatic grading, so no code is needed in it, and the self-check does not score it.

# %%
# %matplotlib inline
import math
import time
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.captioning.captioners import ShowTellCaptioner
from dlcv.captioning.captioners import train_captioner as train_lstm_captioner
from dlcv.captioning.captions import make_caption_data
from dlcv.captioning.encoders import encode_scenes
from dlcv.checks import (
    CheckFailed,
    checking,
    expect_at_least,
    expect_close,
    expect_equal,
    expect_numeric_grads,
    expect_shape,
    needs,
)
from dlcv.plots import plot_loss_history, show_captioned
from dlcv.selfsupervised.augment import two_views
from dlcv.selfsupervised.datasets import labelled_subset, load_digits16
from dlcv.selfsupervised.encoder import Encoder
from dlcv.timing import cap_threads

plt.rcParams["figure.figsize"] = (8, 4)
plt.rcParams["figure.dpi"] = 90
np.set_printoptions(precision=4, suppress=True)
# The networks of this assignment are small: on such sizes a second thread costs more than it
# saves, and on a busy machine it can make training ten times slower, so numpy and torch use one
# thread here.
cap_threads()

# %% [markdown]
# ## Settings
#
# The recipes of the two trained models and the targets they are judged by, in one place. The
# grader reads this cell, so leave it as it is: your captioner and your encoder are trained with
# these recipes.

# %% nbgrader={"grade": false, "grade_id": "given_settings", "locked": true, "schema_version": 3, "solution": false, "task": false}
SETTINGS = {
    "seed": 0,
    # Part 2: the transformer captioner (a5's data: 2000 training scenes, 300 test scenes)
    "cap_D": 48, "cap_heads": 4, "cap_layers": 2,
    "cap_steps": 800, "cap_batch": 64, "cap_lr": 3e-3, "cap_warmup": 50,
    "bleu_target": 0.60,  # BLEU-4, greedy captions, all references, on the grader's 1000 scenes
    # Part 3: SimCLR on the raw 8x8 digits, judged by a linear probe with 5 labels per digit
    "ssl_tau": 0.5, "ssl_steps": 400, "ssl_batch": 128, "ssl_lr": 3e-3, "ssl_crop": (0.4, 1.0),
    "probe_per_class": 5, "probe_margin": 0.03,  # the probe must beat the pixels' by this much
}

# %% [markdown]
# # Part 1: attention in numpy
#
# ## Scaled dot-product attention
#
# Attention reads a set of **values** $v_1, \dots, v_{T_k}$ with weights that say how well each
# **key** $k_j$ matches a **query** $q_i$ (lecture 14). With the queries, keys and values as the
# rows of matrices $Q \in \mathbb{R}^{T_q \times d}$, $K \in \mathbb{R}^{T_k \times d}$ and
# $V \in \mathbb{R}^{T_k \times d_v}$:
#
# $$ S = \frac{Q K^\top}{\sqrt{d}}, \qquad A = \operatorname{softmax}_{\text{rows}}(S), \qquad
#    \text{out} = A V \in \mathbb{R}^{T_q \times d_v}. $$
#
# Row $i$ of $A$ is a distribution over the keys: query $i$ reads
# $\sum_j A_{ij} v_j$. The division by $\sqrt{d}$ keeps the scores' spread independent of the
# size $d$: if the entries of $q$ and $k$ are independent with mean 0 and variance 1, then
# $q \cdot k$ has variance $d$ (Vaswani et al., 2017, footnote 4), and without the scale the
# softmax of long vectors is nearly one-hot, with vanishing gradients.
#
# A **mask** $M \in \{\text{True}, \text{False}\}^{T_q \times T_k}$ says which keys a query may
# see: where $M_{ij}$ is False the score is set to $-\infty$ before the softmax, so that
# $A_{ij} = 0$. A query that may see no key at all has no distribution: raise a `ValueError`.
# Subtract each row's largest (allowed) score before `np.exp`, as in every softmax of the course.
#
# For the backward pass, with $dA = d\text{out}\, V^\top$, the softmax's gradient on each row is
# $dS_{ij} = A_{ij}\,(dA_{ij} - \sum_{l} A_{il}\, dA_{il})$; then
# $dQ = dS\, K / \sqrt{d}$, $dK = dS^\top Q / \sqrt{d}$ and $dV = A^\top d\text{out}$. Every
# array has a leading batch axis $N$: use `@` (which broadcasts over it) and
# `np.swapaxes(x, -1, -2)` for the transposes.

# %% nbgrader={"grade": false, "grade_id": "attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def attention_forward(q, k, v, mask=None):
    """Scaled dot-product attention, out = softmax(q k^T / sqrt(d)) v, with an optional mask.

    Inputs:
    - q: (N, Tq, d) queries; k: (N, Tk, d) keys; v: (N, Tk, dv) values.
    - mask: None, or (Tq, Tk) bool, True where query i may attend to key j (the same for all N).

    Returns a tuple:
    - out: (N, Tq, dv).
    - cache: what attention_backward needs.

    Raises ValueError if a query row of the mask has no True (it could attend to nothing).
    """
    q, k, v = np.asarray(q), np.asarray(k), np.asarray(v)
    if q.ndim != 3 or k.ndim != 3 or v.ndim != 3 or k.shape[:2] != v.shape[:2] or q.shape[0] != k.shape[0] \
            or q.shape[2] != k.shape[2]:
        raise ValueError(f"attention_forward: q (N, Tq, d), k (N, Tk, d) and v (N, Tk, dv) expected, got "
                         f"{q.shape}, {k.shape}, {v.shape}")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (q.shape[1], k.shape[1]):
            raise ValueError(f"attention_forward: mask must be bool of shape {(q.shape[1], k.shape[1])}, got "
                             f"{mask.dtype} {mask.shape}")
    out, cache = None, None
    ### BEGIN SOLUTION
    d = q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(d)  # (N, Tq, Tk)
    if mask is not None:
        if not mask.any(axis=1).all():
            raise ValueError(f"attention_forward: query rows {np.flatnonzero(~mask.any(axis=1)).tolist()} of the "
                             "mask allow no key")
        scores = np.where(mask, scores, -np.inf)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)  # exp(-inf) = 0 on the masked keys
    weights /= weights.sum(axis=-1, keepdims=True)
    out = weights @ v
    cache = (q, k, v, weights)
    ### END SOLUTION
    return out, cache


def attention_backward(dout, cache):
    """Backward pass of attention_forward.

    Inputs:
    - dout: (N, Tq, dv) upstream gradient; cache: from attention_forward.

    Returns a tuple:
    - dq: (N, Tq, d); dk: (N, Tk, d); dv: (N, Tk, dv).
    """
    dq, dk, dv = None, None, None
    ### BEGIN SOLUTION
    q, k, v, weights = cache
    scale = 1 / math.sqrt(q.shape[-1])
    dv = np.swapaxes(weights, -1, -2) @ dout  # (N, Tk, dv)
    dweights = dout @ np.swapaxes(v, -1, -2)  # (N, Tq, Tk)
    dscores = weights * (dweights - (weights * dweights).sum(axis=-1, keepdims=True))
    dq = dscores @ k * scale
    dk = np.swapaxes(dscores, -1, -2) @ q * scale
    ### END SOLUTION
    return dq, dk, dv


# %% nbgrader={"grade": true, "grade_id": "test_attention_forward", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["attention"]}
_q = np.array([[[2.0, 0.0, 0.0, 0.0]]])  # N=1, Tq=1, d=4: sqrt(d) = 2
_k = np.array([[[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]])  # scores q.k / 2 = [1, 0]
_v = np.array([[[1.0, 0.0], [0.0, 1.0]]])
with checking("attention_forward", case="one query, two keys with scores [1, 0], values e1 and e2: by hand"):
    _out, _ = attention_forward(_q, _k, _v)
    expect_shape(_out, (1, 1, 2), "out")
    expect_close(_out[0, 0], [math.e / (math.e + 1), 1 / (math.e + 1)], "out (the softmax of [1, 0])")
with checking("attention_forward", case="the same, key 0 masked: all the weight goes to key 1"):
    _out, _ = attention_forward(_q, _k, _v, mask=np.array([[False, True]]))
    expect_close(_out[0, 0], [0.0, 1.0], "out")
with checking("attention_forward", case="queries 1000 times larger: no overflow, one-hot weights"):
    with np.errstate(over="raise", invalid="raise"):
        _out, _ = attention_forward(1000 * _q, _k, _v)
    expect_close(_out[0, 0], [1.0, 0.0], "out")
with checking("attention_forward", case="a query row of the mask with no True raises ValueError"):
    try:
        attention_forward(_q, _k, _v, mask=np.array([[False, False]]))
    except ValueError:
        pass
    else:
        raise CheckFailed("a mask row [False, False] leaves the query nothing to attend to: raise ValueError")

# %% nbgrader={"grade": true, "grade_id": "test_attention_backward", "locked": true, "points": 8, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["attention"]}
_rng = np.random.default_rng(0)
_N, _Tq, _Tk, _d, _dv = 2, 3, 4, 5, 3
_args = [_rng.normal(size=(_N, _Tq, _d)), _rng.normal(size=(_N, _Tk, _d)), _rng.normal(size=(_N, _Tk, _dv))]
_dout = _rng.normal(size=(_N, _Tq, _dv))
with checking("attention_backward", case="N=2, Tq=3, Tk=4, d=5, dv=3: numeric gradients", uses=("attention_forward",)):
    _grads = attention_backward(_dout, attention_forward(*_args)[1])
    expect_numeric_grads(lambda *a: attention_forward(*a)[0], _args, _dout, _grads, ("dq", "dk", "dv"))
_mask = np.array([[1, 0, 1, 0], [1, 1, 0, 0], [0, 1, 1, 0]], dtype=bool)  # nobody sees key 3
with checking("attention_backward", case="the same with a mask: numeric gradients; key 3, seen by no query, "
                                         "gets no gradient", uses=("attention_forward",)):
    _grads = attention_backward(_dout, attention_forward(*_args, mask=_mask)[1])
    expect_numeric_grads(lambda *a: attention_forward(*a, mask=_mask)[0], _args, _dout, _grads, ("dq", "dk", "dv"))
    expect_close(_grads[1][:, 3], np.zeros((_N, _d)), "dk of the masked key 3")
    expect_close(_grads[2][:, 3], np.zeros((_N, _dv)), "dv of the masked key 3")

# %% [markdown]
# **Check yourself.** Why does a masked key need no special case in the backward pass?
#
# <details><summary>Answer</summary>
#
# Its weight is exactly zero. Then $dS_{ij} = A_{ij}(\dots) = 0$ for it, so it adds nothing to
# $dQ$ or $dK$, and its row of $dV = A^\top d\text{out}$ is zero too: the softmax's Jacobian
# already knows which keys took part. (What must not happen is a NaN: $-\infty - (-\infty)$ in a
# row where *every* key is masked; that is why such a row is an error.)
#
# </details>
#
# ## The scale, measured
#
# The cell below draws queries and keys with independent standard normal entries, as a freshly
# initialised layer sees them, and measures the spread of the scores $q \cdot k$ and the largest
# softmax weight over 16 keys, with and without the division by $\sqrt{d}$ (your
# `attention_forward`, called with $q$ multiplied by $\sqrt{d}$ to undo the scale). Written
# question 1 asks about it. The figure shows the self-attention weights of six random tokens
# ($q = k = x$), without a mask and with a causal one: every row is a distribution over the keys,
# and under the causal mask row $i$ is zero right of the diagonal.

# %%
with needs("attention_forward"):
    _rng = np.random.default_rng(1)
    scale_rows = []
    for _d in (4, 16, 64, 256):
        _q = _rng.normal(size=(200, 1, _d))
        _k = _rng.normal(size=(200, 16, _d))
        _v = np.eye(16)[None].repeat(200, 0)  # the output is the weight vector itself
        _scores = (_q @ np.swapaxes(_k, 1, 2))[:, 0]  # (200, 16) unscaled q.k
        _w_scaled = attention_forward(_q, _k, _v)[0][:, 0]
        _w_plain = attention_forward(_q * math.sqrt(_d), _k, _v)[0][:, 0]
        scale_rows.append((_d, _scores.std(), _w_scaled.max(1).mean(), _w_plain.max(1).mean()))
    print(" d    std of q.k   mean largest weight: scaled   unscaled")
    for _d, _s, _ws, _wp in scale_rows:
        print(f"{_d:4d}   {_s:8.2f}   {_ws:26.3f}   {_wp:8.3f}")

    _x = np.random.default_rng(2).normal(size=(1, 6, 8))
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.2))
    for _ax, _m, _title in ((axes[0], None, "no mask"), (axes[1], np.tril(np.ones((6, 6), bool)), "causal mask")):
        _w = attention_forward(_x, _x, np.eye(6)[None], mask=_m)[0][0]  # the values are e_j: out = weights
        _ax.imshow(_w, cmap="viridis", vmin=0, vmax=1)
        _ax.set_title(f"self-attention weights, {_title}", fontsize=9)
        _ax.set_xlabel("key j")
        _ax.set_ylabel("query i")
    plt.tight_layout()
    plt.show()

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_scale_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 1 (3 points)
#
# Read the table printed above. How does the spread of $q \cdot k$ grow with $d$, and why (what
# are the mean and variance of a sum of $d$ products of independent standard normal numbers)?
# What happens to the largest softmax weight without the scale, and why does that make a freshly
# initialised transformer hard to train by gradient descent? Answer in three to five sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_scale", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** The spread of $q \cdot k$ grows like $\sqrt{d}$ (about 2, 4, 8 and 16 for
# $d$ = 4, 16, 64, 256): $q \cdot k = \sum_{i=1}^{d} q_i k_i$ is a sum of $d$ independent
# products, each with mean 0 and variance $E[q_i^2] E[k_i^2] = 1$, so the sum has mean 0 and
# variance $d$. Dividing by $\sqrt{d}$ brings the variance back to 1, whatever $d$ is, and the
# largest of 16 weights stays near the same moderate value. Without the scale the scores of long
# vectors differ by tens, the softmax puts almost all of its weight on one key (the largest weight
# approaches 1 as $d$ grows), and a nearly one-hot softmax is saturated: its Jacobian
# $\operatorname{diag}(a) - a a^\top$ is close to zero, so almost no gradient reaches the queries
# and keys, and the layer starts by attending to one arbitrary key and cannot learn where to look.
#
# **Rubric (3 points).**
# - 1 point: the spread grows like $\sqrt{d}$ (read from the table), because $q \cdot k$ is a sum
#   of $d$ independent terms of mean 0 and variance 1: variance $d$.
# - 1 point: without the scale the weights become nearly one-hot (the largest weight near 1 for
#   large $d$); with it they stay comparable across $d$.
# - 1 point: a saturated softmax has a near-zero Jacobian, so the gradients reaching the scores
#   (the queries and keys) vanish and training stalls or is erratic at the start.

# %% [markdown]
# ## Multi-head attention
#
# One attention layer computes one weighted average per query. **Multi-head attention** runs $h$
# of them side by side, each on its own $D/h$-dimensional projection, so that different heads
# can look for different things (Vaswani et al., 2017, section 3.2.2). For queries from $x \in
# \mathbb{R}^{N \times T_q \times D}$ and keys and values from a context
# $c \in \mathbb{R}^{N \times T_k \times D}$:
#
# $$ Q = x W_q + b_q, \quad K = c W_k + b_k, \quad V = c W_v + b_v \qquad (W_\cdot \in
#    \mathbb{R}^{D \times D}), $$
#
# split the last axis of $Q$, $K$, $V$ into $h$ heads of $D/h$ numbers (head $j$ takes columns
# $j D/h$ to $(j+1) D/h - 1$), run `attention_forward` on each head (with $d = D/h$, and the same
# mask for every head), put the $h$ outputs side by side again in the same order, and mix them:
# $\text{out} = \text{concat}\, W_o + b_o$. With $c = x$ this is **self-attention**; with $c$
# another sequence (the image's cells, in Part 2) it is **cross-attention**.
#
# Fold the heads into the batch axis, `(N, T, D)` → `(N, T, h, D/h)` → `(N, h, T, D/h)` →
# `(N h, T, D/h)`, so that one call of `attention_forward` does all of them. In the backward pass
# undo every step in reverse. `mha_backward` returns the gradients with respect to $x$ and to $c$
# separately: for self-attention the caller adds them.

# %% nbgrader={"grade": false, "grade_id": "multi_head_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mha_forward(x, ctx, params, num_heads, mask=None):
    """Multi-head attention: queries from x, keys and values from ctx.

    Inputs:
    - x: (N, Tq, D) the queries' inputs; ctx: (N, Tk, D) the keys' and values' inputs (ctx = x for
      self-attention).
    - params: dict with Wq, Wk, Wv, Wo of shape (D, D) and bq, bk, bv, bo of shape (D,).
    - num_heads: h; D must be a multiple of h (else ValueError).
    - mask: None or (Tq, Tk) bool, passed to attention_forward for every head.

    Returns a tuple:
    - out: (N, Tq, D) = concat_heads(attention(x Wq + bq, ctx Wk + bk, ctx Wv + bv)) Wo + bo.
    - cache: what mha_backward needs.
    """
    out, cache = None, None
    ### BEGIN SOLUTION
    N, Tq, D = x.shape
    Tk = ctx.shape[1]
    if D % num_heads:
        raise ValueError(f"mha_forward: D = {D} is not a multiple of num_heads = {num_heads}")
    h, dh = num_heads, D // num_heads

    def split(a, T):  # (N, T, D) -> (N h, T, dh)
        return a.reshape(N, T, h, dh).transpose(0, 2, 1, 3).reshape(N * h, T, dh)

    Q = x @ params["Wq"] + params["bq"]
    K = ctx @ params["Wk"] + params["bk"]
    V = ctx @ params["Wv"] + params["bv"]
    heads, att_cache = attention_forward(split(Q, Tq), split(K, Tk), split(V, Tk), mask)
    concat = heads.reshape(N, h, Tq, dh).transpose(0, 2, 1, 3).reshape(N, Tq, D)
    out = concat @ params["Wo"] + params["bo"]
    cache = (x, ctx, params, h, att_cache, concat)
    ### END SOLUTION
    return out, cache


def mha_backward(dout, cache):
    """Backward pass of mha_forward.

    Inputs:
    - dout: (N, Tq, D) upstream gradient; cache: from mha_forward.

    Returns a tuple:
    - dx: (N, Tq, D) through the queries; dctx: (N, Tk, D) through the keys and values (for
      self-attention, the gradient with respect to x is dx + dctx).
    - grads: dict with the gradients of Wq, Wk, Wv, Wo, bq, bk, bv, bo (their shapes).
    """
    dx, dctx, grads = None, None, None
    ### BEGIN SOLUTION
    x, ctx, params, h, att_cache, concat = cache
    N, Tq, D = x.shape
    Tk, dh = ctx.shape[1], D // h

    def merge(a, T):  # (N h, T, dh) -> (N, T, D)
        return a.reshape(N, h, T, dh).transpose(0, 2, 1, 3).reshape(N, T, D)

    grads = {"Wo": concat.reshape(-1, D).T @ dout.reshape(-1, D), "bo": dout.sum(axis=(0, 1))}
    dconcat = dout @ params["Wo"].T
    dheads = dconcat.reshape(N, Tq, h, dh).transpose(0, 2, 1, 3).reshape(N * h, Tq, dh)
    dQh, dKh, dVh = attention_backward(dheads, att_cache)
    dQ, dK, dV = merge(dQh, Tq), merge(dKh, Tk), merge(dVh, Tk)
    for name, src, d in (("q", x, dQ), ("k", ctx, dK), ("v", ctx, dV)):
        grads["W" + name] = src.reshape(-1, D).T @ d.reshape(-1, D)
        grads["b" + name] = d.sum(axis=(0, 1))
    dx = dQ @ params["Wq"].T
    dctx = dK @ params["Wk"].T + dV @ params["Wv"].T
    ### END SOLUTION
    return dx, dctx, grads


# %% nbgrader={"grade": true, "grade_id": "test_mha_forward", "locked": true, "points": 8, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["attention", "multi_head_attention"]}
def mha_params(D, rng):
    """Random weights for mha_forward: W (D, D) with entries of std 1/sqrt(D), small biases."""
    p = {f"W{n}": rng.normal(size=(D, D)) / math.sqrt(D) for n in "qkvo"}
    p.update({f"b{n}": 0.1 * rng.normal(size=D) for n in "qkvo"})
    return p


def mha_by_loops(x, ctx, p, h, mask=None):
    """Multi-head attention written out: one head, one example, one query at a time."""
    N, Tq, D = x.shape
    dh = D // h
    Q, K, V = x @ p["Wq"] + p["bq"], ctx @ p["Wk"] + p["bk"], ctx @ p["Wv"] + p["bv"]
    concat = np.zeros((N, Tq, D))
    for n in range(N):
        for j in range(h):
            cols = slice(j * dh, (j + 1) * dh)
            for i in range(Tq):
                s = K[n, :, cols] @ Q[n, i, cols] / math.sqrt(dh)
                if mask is not None:
                    s = np.where(mask[i], s, -np.inf)
                a = np.exp(s - s.max())
                concat[n, i, cols] = (a / a.sum()) @ V[n, :, cols]
    return concat @ p["Wo"] + p["bo"]


_rng = np.random.default_rng(3)
_x, _ctx = _rng.normal(size=(2, 4, 6)), _rng.normal(size=(2, 5, 6))
for _h in (1, 2, 3):
    with checking("mha_forward", case=f"cross-attention, N=2, Tq=4, Tk=5, D=6, {_h} heads", uses=("attention_forward",)):
        _p = mha_params(6, _rng)
        _out, _ = mha_forward(_x, _ctx, _p, _h)
        expect_shape(_out, (2, 4, 6), "out")
        expect_close(_out, mha_by_loops(_x, _ctx, _p, _h), "out")
with checking("mha_forward", case="self-attention with a causal mask, N=2, T=4, D=6, 2 heads", uses=("attention_forward",)):
    _p, _mask = mha_params(6, _rng), np.tril(np.ones((4, 4), bool))
    expect_close(mha_forward(_x, _x, _p, 2, mask=_mask)[0], mha_by_loops(_x, _x, _p, 2, _mask), "out")
with checking("mha_forward", case="D = 6 with 4 heads raises ValueError", uses=("attention_forward",)):
    try:
        mha_forward(_x, _x, mha_params(6, _rng), 4)
    except ValueError:
        pass
    else:
        raise CheckFailed("D = 6 cannot be split into 4 heads: raise ValueError")

# %% nbgrader={"grade": true, "grade_id": "test_mha_backward", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["attention", "multi_head_attention"]}
_NAMES = ("Wq", "Wk", "Wv", "Wo", "bq", "bk", "bv", "bo")
_CHECKED = ("Wq", "Wk", "Wv", "Wo", "bq", "bv", "bo")  # bk's gradient is exactly 0: checked apart
_rng = np.random.default_rng(4)
for _self, _mask in ((False, None), (True, np.tril(np.ones((3, 3), bool)))):
    _x = _rng.normal(size=(2, 3, 4))
    _ctx = _x if _self else _rng.normal(size=(2, 5, 4))
    _p = mha_params(4, _rng)
    _dout = _rng.normal(size=(2, 3, 4))
    _case = "self-attention with a causal mask" if _self else "cross-attention"
    with checking("mha_backward", case=f"{_case}, N=2, Tq=3, D=4, 2 heads: numeric gradients",
                  uses=("mha_forward", "attention_forward", "attention_backward")):
        _dx, _dctx, _g = mha_backward(_dout, mha_forward(_x, _ctx, _p, 2, mask=_mask)[1])
        if not isinstance(_g, dict) or set(_g) != set(_NAMES):
            raise CheckFailed(f"grads should be a dict with the keys {_NAMES}, got "
                              f"{sorted(_g) if isinstance(_g, dict) else type(_g).__name__}")

        def _with(w, m=_mask, bk=_p["bk"]):  # mha_forward's params: the checked arrays and bk
            return dict(zip(_CHECKED, w), bk=bk), m

        if _self:  # one input x read twice: its gradient is dx + dctx
            expect_numeric_grads(lambda x, *w: mha_forward(x, x, _with(w)[0], 2, mask=_with(w)[1])[0],
                                 [_x, *(_p[n] for n in _CHECKED)], _dout, [_dx + _dctx, *(_g[n] for n in _CHECKED)],
                                 ("dx + dctx", *_CHECKED))
        else:
            expect_numeric_grads(lambda x, c, *w: mha_forward(x, c, _with(w)[0], 2)[0],
                                 [_x, _ctx, *(_p[n] for n in _CHECKED)], _dout,
                                 [_dx, _dctx, *(_g[n] for n in _CHECKED)], ("dx", "dctx", *_CHECKED))
        expect_close(_g["bk"], np.zeros(4), "bk's gradient (adding b_k adds q . b_k to every score of a row)",
                     atol=1e-10)

# %% [markdown]
# **Check yourself.** Why is the gradient of the key bias $b_k$ exactly zero?
#
# <details><summary>Answer</summary>
#
# With $b_k$, the score of key $j$ for query $i$ is $q_i \cdot (k_j + b_k) = q_i \cdot k_j + q_i
# \cdot b_k$: the second term is the same for every key of the row, and a softmax does not change
# when a constant is added to all of its inputs. So the loss does not depend on $b_k$ at all. (Many
# implementations keep it anyway, for simplicity; the value bias $b_v$ does matter.)
#
# </details>

# %% [markdown]
# ## Where the words are: positions and the causal mask
#
# Attention treats its keys as a **set**: permute the rows of $x$ and the rows of the output of
# self-attention are permuted in the same way. A sentence is not a set, so each position $t$ gets
# a vector that is added to the word's embedding. Vaswani et al. use fixed sinusoids of
# geometrically spaced wavelengths, from $2\pi$ to $10000 \cdot 2\pi$ (section 3.5): for
# $i = 0, \dots, D/2 - 1$,
#
# $$ PE_{t, 2i} = \sin\!\left(\frac{t}{10000^{2i/D}}\right), \qquad
#    PE_{t, 2i+1} = \cos\!\left(\frac{t}{10000^{2i/D}}\right), \qquad t = 0, \dots, T-1. $$
#
# For every frequency, $PE_{t+k}$ is a rotation of $PE_t$ by an angle that depends only on $k$,
# so relative offsets are a linear function of the encodings. ($D$ must be even.)
#
# A captioner that predicts word $t+1$ from words $0..t$ must not look at words after $t$ while
# it trains on a whole caption at once: the **causal mask** lets query $t$ see the keys
# $0, \dots, t$ only (True on and below the diagonal).

# %% nbgrader={"grade": false, "grade_id": "positions", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sinusoidal_positions(T, D):
    """The sinusoidal positional encodings of Vaswani et al. (2017).

    Inputs:
    - T: the number of positions (t = 0 .. T-1); D: the encoding size, even (else ValueError).

    Returns:
    - PE: (T, D) float64, PE[t, 2i] = sin(t / 10000^(2i/D)), PE[t, 2i+1] = cos(t / 10000^(2i/D)).
    """
    PE = None
    ### BEGIN SOLUTION
    if D % 2:
        raise ValueError(f"sinusoidal_positions: D must be even, got {D}")
    t = np.arange(T, dtype=np.float64)[:, None]  # (T, 1)
    freq = 10000.0 ** (-np.arange(0, D, 2, dtype=np.float64) / D)  # (D/2,): 1 / 10000^(2i/D)
    PE = np.zeros((T, D))
    PE[:, 0::2] = np.sin(t * freq)
    PE[:, 1::2] = np.cos(t * freq)
    ### END SOLUTION
    return PE


def causal_mask(T):
    """(T, T) bool mask, True where query t may see key s, i.e. s <= t (on and below the diagonal)."""
    mask = None
    ### BEGIN SOLUTION
    mask = np.tril(np.ones((T, T), dtype=bool))
    ### END SOLUTION
    return mask


# %% nbgrader={"grade": true, "grade_id": "test_positions", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["positions"]}
with checking("sinusoidal_positions", case="T=3, D=4: by hand"):
    _PE = sinusoidal_positions(3, 4)
    expect_shape(_PE, (3, 4), "PE")
    expect_close(_PE[0], [0.0, 1.0, 0.0, 1.0], "PE[0] (t = 0: sin 0, cos 0)")
    # i = 0: wavelength 2 pi, frequency 1; i = 1: 10000^(2/4) = 100, frequency 1/100
    expect_close(_PE[2], [math.sin(2), math.cos(2), math.sin(0.02), math.cos(0.02)], "PE[2]")
with checking("sinusoidal_positions", case="T=50, D=16: every row has norm sqrt(D/2) (sin^2 + cos^2 = 1)"):
    expect_close(np.linalg.norm(sinusoidal_positions(50, 16), axis=1), np.full(50, math.sqrt(8)), "row norms")
with checking("sinusoidal_positions", case="D = 5 raises ValueError"):
    try:
        sinusoidal_positions(4, 5)
    except ValueError:
        pass
    else:
        raise CheckFailed("D = 5 is odd: raise ValueError")
with checking("causal_mask", case="T=3"):
    _m = causal_mask(3)
    expect_equal(np.asarray(_m).dtype, np.dtype(bool), "dtype")
    expect_equal(_m, np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=bool), "causal_mask(3)")

# %%
with needs("sinusoidal_positions"):
    _PE = sinusoidal_positions(17, 64)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3))
    _im = axes[0].imshow(_PE, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    axes[0].set_xlabel("dimension")
    axes[0].set_ylabel("position t")
    axes[0].set_title("sinusoidal encodings, T = 17, D = 64", fontsize=9)
    plt.colorbar(_im, ax=axes[0])
    axes[1].imshow(_PE @ _PE.T, cmap="viridis")
    axes[1].set_xlabel("position s")
    axes[1].set_ylabel("position t")
    axes[1].set_title("PE_t . PE_s: depends mostly on |t - s|", fontsize=9)
    plt.tight_layout()
    plt.show()

# %% [markdown]
# # Part 2: a transformer captioner
#
# ## The data: a5's scenes, captions and image features
#
# The same data as assignment 5: 2000 training scenes with 5 captions each, and 300 test scenes
# from another seed with **every** caption the grammar wrote for them as references. The image
# encoder of `dlcv.captioning.encoders` says, for each of the 64 cells of an 8 x 8 grid over the
# image, how likely each of 25 labels is (background, or one of 24 size-colour-class
# combinations). Assignment 5 flattened these into one vector of 1600 numbers. A transformer can
# keep them apart: **64 cell tokens of 25 numbers**, `cells` of shape `(N, 64, 25)`, cell
# `8 r + c` covering row `r` and column `c` of the grid, and every word may look at every cell.

# %%
train_data = make_caption_data(2000, seed=0)  # 2000 scenes x 5 captions
vocab = train_data.vocab
test_data = make_caption_data(300, seed=1, vocab=vocab, per_image=10)  # held-out scenes


def vectors_to_cells(vectors):
    """a5's image vectors (N, 1600) -> the cells (N, 64, 25) float32 tensor.

    encode_scenes(...).vectors is label-major (25 blocks of 64 cells); cell 8 r + c is row r,
    column c of the 8 x 8 grid."""
    vectors = torch.as_tensor(vectors)
    return vectors.reshape(len(vectors), 25, 64).transpose(1, 2).contiguous()


_t0 = time.perf_counter()
train_vectors = torch.as_tensor(encode_scenes(train_data.scenes).vectors)  # (2000, 1600), a5's image vectors
test_vectors = torch.as_tensor(encode_scenes(test_data.scenes).vectors)  # (300, 1600)
train_cells = vectors_to_cells(train_vectors)  # (2000, 64, 25)
test_cells = vectors_to_cells(test_vectors)  # (300, 64, 25)
train_tokens = torch.as_tensor(train_data.tokens).long()  # (9407, 17): <START> ... <END> <NULL>...
train_image = torch.as_tensor(train_data.image_index).long()  # (9407,) the scene of each caption
test_refs = test_data.captions  # 300 lists of reference captions
print(f"cells in {time.perf_counter() - _t0:.1f} s: train {tuple(train_cells.shape)}, test {tuple(test_cells.shape)}; "
      f"{len(vocab)} words; {len(train_tokens)} training captions of up to {train_tokens.shape[1]} tokens")
print(f"references per test scene: {np.mean([len(c) for c in test_refs]):.1f} on average")

# %% [markdown]
# ## The model
#
# Write a decoder-only transformer that reads the cells through cross-attention (a small version
# of the decoder of Vaswani et al., 2017, with the pre-norm blocks of GPT-2 and of lecture 14):
#
# 1. **Memory**: each cell's 25 numbers go through a linear layer to $D$ numbers, plus a learned
#    position per cell (a `(64, D)` parameter, so that the model knows where each cell is).
# 2. **Words**: an embedding of the word ids (`nn.Embedding(V, D)`) plus a position per word, learned
#    (a `(max_length, D)` parameter) or sinusoidal (your `sinusoidal_positions`, as a buffer).
# 3. `layers` **pre-norm decoder blocks**, each
#    $x \leftarrow x + \text{SelfAttn}(\text{LN}(x), \text{causal})$,
#    $x \leftarrow x + \text{CrossAttn}(\text{LN}(x), \text{memory})$,
#    $x \leftarrow x + \text{MLP}(\text{LN}(x))$ with the MLP $D \to 4D \to D$ and a GELU, a
#    separate `nn.LayerNorm` before each of the three.
# 4. A final `nn.LayerNorm` and a linear layer to the $V$ words.
#
# You write `MultiHeadAttention`, `DecoderBlock`, the layers of `TransformerCaptioner.__init__`,
# its `decode` (the pass above, which returns the logits and the last block's cross-attention
# weights; the given `forward` and `cross_attention` both call it) and `sample`.
#
# The attention is **yours**: `MultiHeadAttention` below computes the four projections with
# `nn.Linear(D, D)`, splits the heads as in `mha_forward`, and applies softmax$(QK^\top/\sqrt{D/h})$
# with a boolean mask (`scores.masked_fill(~mask, float("-inf"))`). It returns the weights too,
# so that `cross_attention` can hand back the last block's cross-attention weights, averaged over
# the heads: row $t$ says where the model looks when it chooses the word after input $t$.
#
# `sample` writes captions greedily: start every caption with `<START>`, run the model on the
# words so far, append the highest-scoring next word, and repeat `max_length` times; once a caption
# has produced `<END>`, its remaining positions are `<NULL>`. (Running the whole prefix again at
# every step costs $O(T^2)$ but is simple; real decoders cache the keys and values.)
#
# Use no dropout. The grader builds small captioners of its own with `TransformerCaptioner(vocab,
# D=..., heads=..., layers=...)` and checks that changing the word at position $t + 1$ leaves the
# logits at positions $0..t$ unchanged, that the cross-attention rows sum to one, and what
# `sample` returns.

# %% nbgrader={"grade": false, "grade_id": "captioner", "locked": false, "schema_version": 3, "solution": true, "task": false}
class MultiHeadAttention(nn.Module):
    """Multi-head attention with your own projections: queries from x, keys and values from ctx.

    forward(x, ctx, mask=None): x (N, Tq, D), ctx (N, Tk, D), mask None or (Tq, Tk) bool (True:
    may attend) -> out (N, Tq, D), weights (N, heads, Tq, Tk) (each row sums to 1).
    """

    def __init__(self, D, heads):
        super().__init__()
        if D % heads:
            raise ValueError(f"MultiHeadAttention: D = {D} is not a multiple of heads = {heads}")
        self.heads = heads
        ### BEGIN SOLUTION
        self.q, self.k, self.v, self.o = (nn.Linear(D, D) for _ in range(4))
        ### END SOLUTION

    def forward(self, x, ctx, mask=None):
        out, weights = None, None
        ### BEGIN SOLUTION
        N, Tq, D = x.shape
        Tk, h = ctx.shape[1], self.heads
        q = self.q(x).view(N, Tq, h, D // h).transpose(1, 2)  # (N, h, Tq, D/h)
        k = self.k(ctx).view(N, Tk, h, D // h).transpose(1, 2)
        v = self.v(ctx).view(N, Tk, h, D // h).transpose(1, 2)
        scores = q @ k.transpose(-2, -1) / math.sqrt(D // h)  # (N, h, Tq, Tk)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        out = self.o((weights @ v).transpose(1, 2).reshape(N, Tq, D))
        ### END SOLUTION
        return out, weights


class DecoderBlock(nn.Module):
    """A pre-norm decoder block: causal self-attention, cross-attention to the memory, an MLP,
    each as x + f(LayerNorm(x)).

    forward(x, memory, mask): x (N, T, D), memory (N, M, D), mask (T, T) bool causal ->
    x (N, T, D), the cross-attention weights (N, heads, T, M).
    """

    def __init__(self, D, heads):
        super().__init__()
        ### BEGIN SOLUTION
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(D), nn.LayerNorm(D), nn.LayerNorm(D)
        self.self_attn = MultiHeadAttention(D, heads)
        self.cross_attn = MultiHeadAttention(D, heads)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))
        ### END SOLUTION

    def forward(self, x, memory, mask):
        cross_weights = None
        ### BEGIN SOLUTION
        h = self.ln1(x)
        x = x + self.self_attn(h, h, mask)[0]
        attended, cross_weights = self.cross_attn(self.ln2(x), memory)
        x = x + attended
        x = x + self.mlp(self.ln3(x))
        ### END SOLUTION
        return x, cross_weights


class TransformerCaptioner(nn.Module):
    """A transformer decoder that writes captions of the 64 cells of a scene.

    cells: (N, 64, cell_dim) float32; captions_in: (N, T) int64 word ids with T <= max_length,
    starting with <START> (teacher forcing: position t predicts the word at t + 1).
    """

    NUM_CELLS = 64

    def __init__(self, vocab, cell_dim=25, D=64, heads=4, layers=2, max_length=17):
        """
        Inputs:
        - vocab: a5's Vocabulary (len(vocab) words; vocab.null, vocab.start, vocab.end ids).
        - cell_dim: the numbers per cell; D: the model width; heads: attention heads (D % heads
          == 0); layers: decoder blocks; max_length: the longest input caption (positions).
        """
        super().__init__()
        self.vocab_size, self.cell_dim, self.max_length = len(vocab), cell_dim, max_length
        self.null, self.start, self.end = vocab.null, vocab.start, vocab.end
        ### BEGIN SOLUTION
        self.cell_in = nn.Linear(cell_dim, D)
        self.cell_pos = nn.Parameter(0.02 * torch.randn(self.NUM_CELLS, D))
        self.embed = nn.Embedding(self.vocab_size, D)
        self.word_pos = nn.Parameter(0.02 * torch.randn(max_length, D))
        self.blocks = nn.ModuleList(DecoderBlock(D, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(D)
        self.out = nn.Linear(D, self.vocab_size)
        ### END SOLUTION

    def _check(self, cells, captions_in, who):
        if not (isinstance(cells, torch.Tensor) and cells.shape[1:] == (self.NUM_CELLS, self.cell_dim)):
            raise ValueError(f"{who}: cells must be a tensor (N, {self.NUM_CELLS}, {self.cell_dim}), got "
                             f"{tuple(getattr(cells, 'shape', ()))}")
        if captions_in is not None and not (isinstance(captions_in, torch.Tensor) and captions_in.dim() == 2
                                            and captions_in.dtype == torch.int64 and len(captions_in) == len(cells)
                                            and 1 <= captions_in.shape[1] <= self.max_length):
            raise ValueError(f"{who}: captions_in must be an int64 tensor (N, T), N = {len(cells)}, 1 <= T <= "
                             f"{self.max_length}, got {getattr(captions_in, 'dtype', type(captions_in))} "
                             f"{tuple(getattr(captions_in, 'shape', ()))}")

    def decode(self, cells, captions_in):
        """(logits (N, T, V), the last block's cross-attention weights (N, heads, T, 64))."""
        self._check(cells, captions_in, "TransformerCaptioner")
        logits, cross_weights = None, None
        ### BEGIN SOLUTION
        T = captions_in.shape[1]
        memory = self.cell_in(cells) + self.cell_pos  # (N, 64, D)
        x = self.embed(captions_in) + self.word_pos[:T]  # (N, T, D)
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        for block in self.blocks:
            x, cross_weights = block(x, memory, mask)
        logits = self.out(self.ln(x))
        ### END SOLUTION
        return logits, cross_weights

    def forward(self, cells, captions_in):
        """Teacher forcing: logits (N, T, V); logits[:, t] scores the word after captions_in[:, t]."""
        return self.decode(cells, captions_in)[0]

    def cross_attention(self, cells, captions_in):
        """The last block's cross-attention weights averaged over the heads: (N, T, 64), rows sum to 1."""
        return self.decode(cells, captions_in)[1].mean(dim=1)

    @torch.no_grad()
    def sample(self, cells, max_length=16):
        """Greedy captions: (N, max_length) int64 word ids (without <START>), <NULL> after <END>."""
        self._check(cells, None, "TransformerCaptioner.sample")
        if not 1 <= max_length <= self.max_length - 1:
            raise ValueError(f"TransformerCaptioner.sample: max_length must be in 1..{self.max_length - 1}, "
                             f"got {max_length}")
        captions = torch.full((len(cells), max_length), self.null, dtype=torch.int64)
        ### BEGIN SOLUTION
        words = torch.full((len(cells), 1), self.start, dtype=torch.int64)
        done = torch.zeros(len(cells), dtype=torch.bool)
        for t in range(max_length):
            nxt = self.forward(cells, words)[:, -1].argmax(dim=-1)  # (N,)
            captions[:, t] = torch.where(done, torch.full_like(nxt, self.null), nxt)
            done |= nxt == self.end
            words = torch.cat([words, nxt[:, None]], dim=1)
            if done.all():
                break
        ### END SOLUTION
        return captions


# %% nbgrader={"grade": true, "grade_id": "test_captioner", "locked": true, "points": 12, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["captioner"]}
_uses = ("MultiHeadAttention", "DecoderBlock")
torch.manual_seed(0)
_cells = torch.randn(3, 64, 25)
_words = torch.randint(3, len(vocab), (3, 9))
_words[:, 0] = vocab.start
with checking("TransformerCaptioner", case="D=16, 2 heads, 1 block: shapes", uses=_uses):
    torch.manual_seed(0)
    _m = TransformerCaptioner(vocab, D=16, heads=2, layers=1)
    _logits = _m(_cells, _words)
    expect_shape(_logits, (3, 9, len(vocab)), "forward's logits")
    _att = _m.cross_attention(_cells, _words)
    expect_shape(_att, (3, 9, 64), "cross_attention")
    expect_close(_att.sum(-1).detach().numpy(), np.ones((3, 9)), "cross_attention's rows sums", rtol=1e-5)
with checking("TransformerCaptioner", case="causality: changing the word at position 5 leaves the logits at "
                                           "positions 0..4 unchanged", uses=_uses):
    torch.manual_seed(1)
    _m = TransformerCaptioner(vocab, D=16, heads=2, layers=2)
    _other = _words.clone()
    _other[:, 5] = (_other[:, 5] + 1 - 3) % (len(vocab) - 3) + 3
    _a, _b = _m(_cells, _words).detach(), _m(_cells, _other).detach()
    expect_close(_b[:, :5].numpy(), _a[:, :5].numpy(), "logits at positions 0..4", rtol=1e-5, atol=1e-6)
    if torch.allclose(_a[:, 5:], _b[:, 5:]):
        raise CheckFailed("changing the word at position 5 changed no logit at positions 5..8: does the model "
                          "read its input words?")
with checking("TransformerCaptioner.sample", case="shape, ids, <NULL> after <END>", uses=_uses + ("TransformerCaptioner.decode",)):
    torch.manual_seed(2)
    _m = TransformerCaptioner(vocab, D=16, heads=2, layers=1)
    _last = [m for m in _m.modules() if isinstance(m, nn.Linear) and m.out_features == len(vocab)]
    if _last and _last[-1].bias is not None:  # make <END> likely, so that some captions end early
        with torch.no_grad():
            _last[-1].bias[vocab.end] += 2.5
    _caps = _m.sample(_cells, max_length=7)
    expect_shape(_caps, (3, 7), "sample")
    expect_equal(_caps.dtype, torch.int64, "sample's dtype")
    for _n, _row in enumerate(_caps.tolist()):
        if vocab.start in _row:
            raise CheckFailed(f"caption {_n} {_row} contains <START>: sample returns the words after it")
        if vocab.end in _row and any(w != vocab.null for w in _row[_row.index(vocab.end) + 1:]):
            raise CheckFailed(f"caption {_n} {_row}: every position after <END> should be <NULL> ({vocab.null})")
        _prefix = [vocab.start]
        for _t, _w in enumerate(_row):  # greedy: each word is the argmax after the words before it
            _best = int(_m(_cells[_n:_n + 1], torch.tensor([_prefix]))[0, -1].argmax())
            expect_equal(_w, _best, f"caption {_n}, word {_t} (the argmax after {_prefix})")
            if _w == vocab.end:
                break
            _prefix.append(_w)

# %% [markdown]
# ## Training
#
# `train_captioner` trains with **teacher forcing**: a batch of captions is split into the input
# `captions[:, :-1]` (from `<START>`) and the target `captions[:, 1:]`, and the loss is the
# cross-entropy of every target word that is not `<NULL>`, averaged over those words
# (`F.cross_entropy(..., ignore_index=null)`). Every step:
#
# - draws `batch_size` captions with replacement, `torch.randint(0, M, (batch_size,),
#   generator=generator)`, and cuts the batch to its longest caption (the last non-`<NULL>`
#   position), so that short batches are cheap;
# - sets the learning rate: a linear **warm-up** over the first `warmup` steps,
#   $\text{lr} \cdot (s + 1) / \text{warmup}$ at step $s$, then a **cosine** from lr to 0 over the
#   remaining steps, $\text{lr} \cdot \tfrac12 \bigl(1 + \cos(\pi (s - \text{warmup}) /
#   (\text{steps} - \text{warmup}))\bigr)$;
# - takes one step of Adam (`torch.optim.Adam`), and appends the loss (a python float).
#
# Transformers are usually trained with a warm-up: at the start Adam's second-moment estimates
# are poor, and large steps through a freshly initialised attention layer can send it into a
# saturated softmax it does not recover from (lecture 14; Liu et al., 2020).

# %% nbgrader={"grade": false, "grade_id": "train_captioner", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_captioner(model, cells, captions, steps, batch_size, lr, generator, warmup=50):
    """Teacher forcing with Adam, a linear warm-up and a cosine decay of the learning rate.

    Inputs:
    - model: a TransformerCaptioner, trained in place.
    - cells: (M, 64, 25) float32, the cells of the scene of every caption; captions: (M, T) int64
      (<START> ... <END> <NULL>...).
    - steps, batch_size; lr: the largest learning rate (reached after warm-up); generator: a
      torch.Generator for the batches; warmup: the number of warm-up steps.

    Returns:
    - losses: a list of `steps` python floats, the loss of every step.
    """
    losses = []
    ### BEGIN SOLUTION
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        idx = torch.randint(0, len(captions), (batch_size,), generator=generator)
        batch = captions[idx]
        length = int((batch != model.null).sum(dim=1).max())  # <START> ... <END>, the longest
        batch = batch[:, :length]
        logits = model(cells[idx], batch[:, :-1])  # (B, length - 1, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1),
                               ignore_index=model.null)
        if step < warmup:
            rate = lr * (step + 1) / warmup
        else:
            rate = lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))
        for group in optimizer.param_groups:
            group["lr"] = rate
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    ### END SOLUTION
    return losses


# %% [markdown]
# The next cell is given: it trains your captioner with the recipe of `SETTINGS` (D = 48, 4
# heads, 2 blocks; 800 steps of 64 captions; lr 3e-3), in well under a minute on a laptop CPU.
# `torch.manual_seed` before building the model makes its initial weights the same for everyone.
# **`captioner` is the model the grader captions its scenes with**: keep the name, and do not
# train it further after this cell.

# %%
captioner, cap_losses = None, None
with needs("TransformerCaptioner", "train_captioner"):
    torch.manual_seed(SETTINGS["seed"])
    _model = TransformerCaptioner(vocab, D=SETTINGS["cap_D"], heads=SETTINGS["cap_heads"],
                                  layers=SETTINGS["cap_layers"])
    _t0 = time.perf_counter()
    cap_losses = train_captioner(_model, train_cells[train_image], train_tokens, SETTINGS["cap_steps"],
                                 SETTINGS["cap_batch"], SETTINGS["cap_lr"],
                                 torch.Generator().manual_seed(SETTINGS["seed"]), warmup=SETTINGS["cap_warmup"])
    captioner_train_seconds = time.perf_counter() - _t0
    captioner = _model.eval()
    print(f"TransformerCaptioner, {sum(p.numel() for p in captioner.parameters()):,} parameters, trained in "
          f"{captioner_train_seconds:.1f} s; loss over the last 50 steps {np.mean(cap_losses[-50:]):.3f}")
    fig, ax = plt.subplots(figsize=(6, 3))
    plot_loss_history(ax, cap_losses, title="the captioner's training loss (per word)", smooth=25)
    plt.show()

# %% [markdown]
# ## BLEU-4 against an LSTM
#
# The captions are scored with a5's corpus-level BLEU-4 (given below: you wrote it in assignment
# 5) against all the references of each test scene. The comparison is lecture 13's Show-and-Tell
# LSTM (`ShowTellCaptioner`, the image vector as its first input), trained here with lecture 13's
# own recipe on the same captions (800 batches of 64, as many as the transformer's; it has more
# parameters), and decoded greedily too. Two **language-only**
# figures follow: lecture 13's LSTM trained with every image vector zeroed (a language model of the
# captions: what the grammar alone earns), and your transformer asked to caption scenes whose cells
# are all zero. Written question 3 asks why these two differ.

# %% nbgrader={"grade": false, "grade_id": "given_bleu", "locked": true, "schema_version": 3, "solution": false, "task": false}
def bleu4(candidates, references, n=4):
    """a5's corpus-level BLEU with the brevity penalty and smoothing method 1 (epsilon 0.1).
    candidates: M strings; references: M lists of strings."""
    def ngram_counts(words, k):
        return Counter(tuple(words[i:i + k]) for i in range(len(words) - k + 1))

    matches, totals = np.zeros(n), np.zeros(n)
    cand_len = ref_len = 0
    for cand, refs in zip(candidates, references):
        c, rs = cand.split(), [r.split() for r in refs]
        cand_len += len(c)
        ref_len += len(min(rs, key=lambda r: (abs(len(r) - len(c)), len(r))))
        for k in range(1, n + 1):
            best = Counter()
            for r in rs:
                best |= ngram_counts(r, k)
            matches[k - 1] += sum(min(m, best[g]) for g, m in ngram_counts(c, k).items())
            totals[k - 1] += max(len(c) - k + 1, 0)
    if cand_len == 0:
        return 0.0
    p = np.maximum(matches, 0.1) / np.maximum(totals, 1)
    bp = 1.0 if cand_len > ref_len else math.exp(1 - ref_len / cand_len)
    return float(bp * math.exp(np.mean(np.log(p))))


def describe(ids):
    """Word ids (N, T) -> N strings, up to <END>."""
    return [vocab.decode(row) for row in np.asarray(ids)]


@torch.no_grad()
def lstm_greedy(model, feats, max_length=16):
    """Greedy captions of lecture 13's ShowTellCaptioner: (N, max_length) ids, <NULL> after <END>."""
    state = model.init_state(feats)
    words = torch.full((len(feats),), vocab.start, dtype=torch.int64)
    done = torch.zeros(len(feats), dtype=torch.bool)
    out = torch.full((len(feats), max_length), vocab.null, dtype=torch.int64)
    for t in range(max_length):
        logits, state, _ = model.step(state, words)
        words = logits.argmax(-1)
        out[:, t] = torch.where(done, torch.full_like(words, vocab.null), words)
        done |= words == vocab.end
    return out


# %%
torch.manual_seed(SETTINGS["seed"])
lstm = ShowTellCaptioner(len(vocab), train_vectors.shape[1])
_t0 = time.perf_counter()
lstm_history = train_lstm_captioner(lstm, train_vectors, train_data.tokens, train_data.image_index, steps=800,
                                    progress=False)  # lecture 13's recipe: 800 x 64, Adam 3e-3, cosine
lstm_train_seconds = time.perf_counter() - _t0
lstm_captions = describe(lstm_greedy(lstm, test_vectors))
bleu4_lstm = bleu4(lstm_captions, test_refs)
lstm_params = sum(p.numel() for p in lstm.parameters())
print(f"lecture 13's LSTM: {lstm_params:,} parameters, 800 x 64 captions in {lstm_train_seconds:.1f} s; BLEU-4 "
      f"{bleu4_lstm:.3f} on the {len(test_refs)} test scenes (greedy, all references)")
torch.manual_seed(SETTINGS["seed"])
blind = ShowTellCaptioner(len(vocab), train_vectors.shape[1], use_image=False)  # lecture 13's baseline
train_lstm_captioner(blind, train_vectors, train_data.tokens, train_data.image_index, steps=400, progress=False)
bleu4_blind = bleu4(describe(lstm_greedy(blind, test_vectors)), test_refs)
print(f"the same LSTM trained without the image (a language model): BLEU-4 {bleu4_blind:.3f}")

with needs("TransformerCaptioner", "train_captioner"):
    _t0 = time.perf_counter()
    transformer_captions = describe(captioner.sample(test_cells))
    sample_seconds = time.perf_counter() - _t0
    bleu4_transformer = bleu4(transformer_captions, test_refs)
    bleu4_language_only = bleu4(describe(captioner.sample(torch.zeros_like(test_cells))), test_refs)
    print(f"BLEU-4 on the {len(test_refs)} test scenes (greedy, all references):")
    print(f"  transformer captioner   {bleu4_transformer:.3f}   "
          f"({sum(p.numel() for p in captioner.parameters()):,} parameters, {SETTINGS['cap_steps']} x "
          f"{SETTINGS['cap_batch']} captions, {captioner_train_seconds:.1f} s; 300 captions in {sample_seconds:.2f} s)")
    print(f"  lecture 13's LSTM       {bleu4_lstm:.3f}   ({lstm_params:,} parameters, 800 x 64 captions, "
          f"{lstm_train_seconds:.1f} s)")
    print(f"  language only: the LSTM trained without the image {bleu4_blind:.3f}; "
          f"the transformer given all-zero cells {bleu4_language_only:.3f}")
    _show = np.arange(6)
    show_captioned(test_data.scenes.images[_show],
                   [[f"transformer: {transformer_captions[i]}", f"LSTM: {lstm_captions[i]}",
                     f"reference: {test_refs[i][0]}"] for i in _show], ncols=3,
                   suptitle="six test scenes")
    plt.show()

# %% nbgrader={"grade": true, "grade_id": "test_trained_captioner", "locked": true, "points": 18, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["captioner", "train_captioner"]}
_uses = ("TransformerCaptioner", "MultiHeadAttention", "DecoderBlock", "train_captioner")
_HINT = ("What to check: (1) the targets are captions[:, 1:] and the inputs captions[:, :-1], with <NULL> "
         "ignored; (2) the causal mask lets position t see 0..t (a model that sees the next word learns "
         "to copy it and writes nonsense); (3) the learning rate follows the warm-up and the cosine; (4) "
         "the loss above falls below about 0.7.")
with checking("the trained captioner", case=f"BLEU-4 on the {len(test_refs)} test scenes, greedy, all references "
                                           f">= {SETTINGS['bleu_target']}", uses=_uses):
    if captioner is None:
        raise CheckFailed("captioner is None: run the training cell above; it should finish without an error")
    _bleu = bleu4(describe(captioner.sample(test_cells)), test_refs)
    print(f"BLEU-4 {_bleu:.3f}")
    if not _bleu >= SETTINGS["bleu_target"]:
        raise CheckFailed(f"BLEU-4 is {_bleu:.3f}; at least {SETTINGS['bleu_target']} is needed. " + _HINT)
with checking("the trained captioner", case="cross_attention on the test scenes: rows sum to 1, not uniform over "
                                           "the 64 cells (mean largest weight >= 2/64)", uses=_uses):
    _ids = captioner.sample(test_cells[:100])
    _inp = torch.cat([torch.full((100, 1), vocab.start), _ids[:, :-1]], dim=1)
    _att = captioner.cross_attention(test_cells[:100], _inp).detach()
    expect_shape(_att, (100, 16, 64), "cross_attention")
    expect_close(_att.sum(-1).numpy(), np.ones((100, 16)), "cross_attention's row sums", rtol=1e-4)
    _peak = float(_att.max(-1).values.mean())
    print(f"mean largest cross-attention weight {_peak:.3f} (uniform: {1 / 64:.3f})")
    expect_at_least(_peak, 2 / 64, "the mean largest cross-attention weight")

# %% [markdown]
# ## Where the captioner looks
#
# For three test scenes, the last block's cross-attention (averaged over the heads) when the
# captioner chooses each word of its greedy caption: row $t$ of `cross_attention`, for the input
# that ends with the word before. Bright cells get more weight; the grid is the encoder's 8 x 8.

# %%
with needs("TransformerCaptioner", "train_captioner"):
    _rows = []
    for _i in (0, 3, 7):
        _ids = captioner.sample(test_cells[_i:_i + 1])[0]
        _n = int((_ids != vocab.null).sum())  # the words, <END> included
        _inp = torch.cat([torch.tensor([vocab.start]), _ids[:_n - 1]])[None]
        _att = captioner.cross_attention(test_cells[_i:_i + 1], _inp)[0].detach().numpy()  # (n, 64)
        _rows.append((_i, [vocab.idx_to_word[int(w)] for w in _ids[:_n]], _att))
    _cols = max(len(w) for _, w, _ in _rows) + 1
    fig, axes = plt.subplots(len(_rows), _cols, figsize=(1.25 * _cols, 1.45 * len(_rows)))
    for _r, (_i, _words_i, _att) in enumerate(_rows):
        axes[_r, 0].imshow(test_data.scenes.images[_i])
        axes[_r, 0].set_title(f"scene {_i}", fontsize=8)
        for _t in range(_cols - 1):
            _ax = axes[_r, _t + 1]
            if _t < len(_words_i):
                _ax.imshow(test_data.scenes.images[_i])
                _ax.imshow(np.kron(_att[_t].reshape(8, 8), np.ones((8, 8))), cmap="magma", alpha=0.65,
                           extent=(-0.5, 63.5, 63.5, -0.5), vmin=0)
                _ax.set_title(_words_i[_t], fontsize=8)
        for _ax in axes[_r]:
            _ax.axis("off")
    fig.suptitle("cross-attention of the last block when the captioner writes each word", fontsize=9)
    plt.tight_layout()
    plt.show()

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_cross_attention_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 2 (3 points)
#
# Look at the maps above. Where does the captioner look when it writes a colour or a shape word
# (for example "red" or "circle"), and where when it writes a relation or place word ("left",
# "of", "top") or a function word ("a", "the")? Why would the maps of the content words be the
# more peaked ones, and why is a map not a proof of what the model used to choose its word (think of
# the residual stream, the self-attention to earlier words, and the other heads and blocks)?
# Answer in three to five sentences, naming what you saw in your own maps.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_cross_attention", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** When the captioner names a property of an object (its size, colour or class),
# the map is concentrated on the cells that object covers: to write "red" it must read the
# label probabilities of those cells, and they are the only cells whose content decides the word.
# For function words ("a", "of", "the", "is") and most relation and place words the map is spread
# out or rests on background or on cells of both objects, because these words follow from the
# grammar and from words already written (read through self-attention), or from a comparison of
# two positions that the cells' learned positions encode, not from one cell's content. A map only
# shows how one block's averaged heads weighted the cells: the word is chosen from the residual
# stream, which also carries what earlier blocks and the self-attention to earlier words put there,
# and the heads averaged here may do different things (Jain and Wallace, 2019), so a map suggests
# where information came from but does not prove that the word depended on it; an intervention
# (changing those cells and watching the word change) would.
#
# **Rubric (3 points).**
# - 1 point: content words (colour, size, class) look at the cells of the object they describe,
#   with a peaked map (described from the student's own maps).
# - 1 point: function, relation and place words have diffuse or less specific maps, because they
#   follow from the grammar and earlier words (self-attention) or from positions rather than from
#   one cell's content.
# - 1 point: a map is not an explanation: the prediction comes from the residual stream (earlier
#   blocks, self-attention, other heads averaged together), so only an intervention shows what the
#   word depended on.

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_transformer_lstm_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 3 (3 points)
#
# Compare the BLEU-4 figures printed above, with the sizes and training times next to them. The
# two captioners saw the same captions, and the transformer has fewer parameters. Give two
# reasons, from how each model reads the image and how it is trained, why the transformer captions
# these scenes better. Its training took longer per step on this CPU: why is the transformer
# nonetheless the faster one to train on long sequences and on a GPU? Finally, the two language-only
# figures: why does the transformer given all-zero cells score far below the LSTM trained without
# the image, and which of the two is the fair baseline for "how much does the image help"?
# Answer in four to six sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_transformer_lstm", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** The LSTM sees the image once, as a single 1600-number vector fed in before
# the first word, and must carry what is where in its hidden state while it writes; the
# transformer looks again at all 64 cells for every word through cross-attention, so naming the
# colour of the second object does not depend on a memory of the first step, and any word is one
# attention step away from any cell or earlier word instead of a chain of recurrent steps. In
# training, teacher forcing with the causal mask makes all positions of a caption one parallel
# computation (a few matrix products per block) instead of a loop over the words; on a CPU with
# batches of 64 short captions the LSTM's single fused recurrence is still cheaper per step, but
# on a GPU or with long sequences the transformer uses the hardware fully while the recurrence
# must wait for each step, which is why transformers train faster at scale. The transformer given
# all-zero cells is not a language model: 64 identical cells that differ only by their positions
# are far from anything it saw in training, so it writes odd captions; the LSTM trained without
# the image *is* a language model of the captions, fitted to that situation. The fair baseline is
# the model trained without the image (or the trained model given shuffled scenes), not a trained
# model fed an impossible input.
#
# **Rubric (3 points).**
# - 1 point: direct access: every word attends to all the cells (no bottleneck through one vector
#   and a recurrent state), short paths between positions.
# - 1 point: parallel training of all positions under the causal mask; per step it can cost more
#   on a small CPU problem, but it uses parallel hardware and long sequences far better than a
#   recurrence that runs step after step.
# - 1 point: the zero-cells input is out of distribution for the trained transformer, while the
#   image-less LSTM was trained for it; the fair baseline is a model trained without the image.

# %% [markdown]
# # Part 3: learning without labels
#
# ## The InfoNCE loss
#
# SimCLR (Chen et al., 2020) learns features with no labels: it draws two random **views** of
# every image in a batch (crops, brightness and contrast changes, blur), encodes all $2N$ views,
# and asks each view to recognise its partner among the other $2N - 1$. With $u_i = z_i /
# \lVert z_i \rVert$ the normalised embeddings (rows $1..N$ the first views, $N+1..2N$ the second,
# so that the partner of $i$ is $p(i) = i \pm N$) and a temperature $\tau$:
#
# $$ \ell_i = -\log \frac{\exp(u_i \cdot u_{p(i)} / \tau)}{\sum_{j \ne i} \exp(u_i \cdot u_j / \tau)},
#    \qquad \mathcal{L} = \frac{1}{2N} \sum_{i=1}^{2N} \ell_i. $$
#
# This is the **NT-Xent** loss (normalised temperature-scaled cross-entropy), a form of the InfoNCE
# loss of Oord et al. (2018): a softmax classification of the right partner among $2N - 1$
# candidates, whose $2N - 2$ wrong ones are the **negatives**. The self-similarity $u_i \cdot u_i =
# 1$ is excluded from the denominator. In torch: one $(2N, 2N)$ matrix of similarities, the diagonal
# set to $-\infty$, and `F.cross_entropy` with the partner of each row as its target.

# %% nbgrader={"grade": false, "grade_id": "info_nce", "locked": false, "schema_version": 3, "solution": true, "task": false}
def info_nce(z1, z2, tau=0.5):
    """SimCLR's NT-Xent loss of two views' embeddings.

    Inputs:
    - z1, z2: (N, D) float tensors, the embeddings of the first and the second view of N images
      (row n of z1 and row n of z2 are partners); they are normalised here.
    - tau: the temperature (> 0).

    Returns:
    - loss: a 0-dim tensor, the mean over the 2N views of -log softmax of the partner's similarity
      among the 2N - 1 other views (the self-similarity excluded); differentiable.
    """
    if not (isinstance(z1, torch.Tensor) and isinstance(z2, torch.Tensor) and z1.dim() == 2 and z1.shape == z2.shape):
        raise ValueError(f"info_nce: z1 and z2 must be tensors of one shape (N, D), got "
                         f"{tuple(getattr(z1, 'shape', ()))} and {tuple(getattr(z2, 'shape', ()))}")
    if not tau > 0:
        raise ValueError(f"info_nce: tau must be > 0, got {tau}")
    loss = None
    ### BEGIN SOLUTION
    N = z1.shape[0]
    u = F.normalize(torch.cat([z1, z2]), dim=1)  # (2N, D)
    sim = u @ u.T / tau
    sim = sim.masked_fill(torch.eye(2 * N, dtype=torch.bool), float("-inf"))  # not your own candidate
    partner = torch.cat([torch.arange(N, 2 * N), torch.arange(N)])
    loss = F.cross_entropy(sim, partner)
    ### END SOLUTION
    return loss


# %% nbgrader={"grade": true, "grade_id": "test_info_nce", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["info_nce"]}
def info_nce_by_loops(z1, z2, tau):
    """NT-Xent written out, view by view, in float64."""
    u = torch.cat([z1, z2]).double()
    u = u / u.norm(dim=1, keepdim=True)
    n2, total = len(u), 0.0
    for i in range(n2):
        p = (i + n2 // 2) % n2
        others = [j for j in range(n2) if j != i]
        total += -(u[i] @ u[p] / tau) + torch.logsumexp(torch.stack([u[i] @ u[j] / tau for j in others]), 0)
    return total / n2


_e = torch.eye(2)
for _tau in (0.5, 1.0):
    with checking("info_nce", case=f"two images, views e1 and e2 identical, tau = {_tau}: "
                                   f"log(1 + 2 exp(-1/tau)) by hand"):
        _loss = info_nce(_e, _e.clone(), tau=_tau)
        expect_shape(_loss, (), "loss")
        expect_close(float(_loss), math.log(1 + 2 * math.exp(-1 / _tau)), "loss", rtol=1e-5)
torch.manual_seed(0)
_z1, _z2 = torch.randn(6, 5), torch.randn(6, 5)
for _tau in (0.5, 0.2, 2.0):
    with checking("info_nce", case=f"N=6, D=5, random, tau = {_tau}: against NT-Xent written out"):
        expect_close(float(info_nce(_z1, _z2, tau=_tau)), float(info_nce_by_loops(_z1, _z2, _tau)), "loss", rtol=1e-5)
with checking("info_nce", case="symmetric in the two views, and invariant to the embeddings' lengths"):
    expect_close(float(info_nce(_z2, _z1)), float(info_nce(_z1, _z2)), "info_nce(z2, z1)", rtol=1e-5)
    expect_close(float(info_nce(3 * _z1, 0.5 * _z2)), float(info_nce(_z1, _z2)), "info_nce(3 z1, 0.5 z2)", rtol=1e-5)
with checking("info_nce", case="differentiable: the gradient reaches z1 and z2"):
    _a, _b = _z1.clone().requires_grad_(), _z2.clone().requires_grad_()
    info_nce(_a, _b).backward()
    if _a.grad is None or _b.grad is None or not (_a.grad.abs().sum() > 0 and _b.grad.abs().sum() > 0):
        raise CheckFailed("no gradient reached z1 or z2: compute the loss with torch operations on z1 and z2 "
                          "(no .detach(), .numpy() or .item() on the way)")

# %% [markdown]
# ## SimCLR on the digits
#
# The next cells are given. They train lecture 15's encoder (`dlcv.selfsupervised.encoder.Encoder`:
# three 3x3 convolution blocks with batch norm, widths 16, 32, 64, and a global average pool: 64
# features) with a small projection head on the 1257 training digits **without their labels**,
# with your `info_nce` (τ = 0.5, batches of 128 images, 400 steps, Adam 3e-3: a few seconds).
# The views are lecture 15's digit views: a random crop of 40 to 100 % of the image resized back,
# a brightness and contrast jitter, and a blur (`two_views`). The loss is computed on the head's
# output; what is kept and judged are the encoder's 64 features, before the head, as in SimCLR.
# **`ssl_encoder` is the network the grader judges**: keep the name.

# %%
digits = load_digits16(8)
X_train, y_train, X_test, y_test = digits.X_train, digits.y_train, digits.X_test, digits.y_test
_views = two_views(X_train[:8], torch.Generator().manual_seed(0), scale=SETTINGS["ssl_crop"], flip=False)
fig, axes = plt.subplots(3, 8, figsize=(8, 3.2))
for _j in range(8):
    for _r, _img in enumerate((X_train[_j], _views[0][_j], _views[1][_j])):
        axes[_r, _j].imshow(_img[0], cmap="gray_r", vmin=0, vmax=1)
        axes[_r, _j].axis("off")
fig.suptitle("training digits (top) and two random views of each (the labels are never used)", fontsize=9)
plt.show()

# %%
ssl_encoder, ssl_losses = None, None
with needs("info_nce"):
    torch.manual_seed(SETTINGS["seed"])
    _enc = Encoder(in_channels=1, width=16, seed=SETTINGS["seed"])
    _head = nn.Sequential(nn.Linear(_enc.dim, 64), nn.ReLU(), nn.Linear(64, 32))
    _opt = torch.optim.Adam([*_enc.parameters(), *_head.parameters()], lr=SETTINGS["ssl_lr"])
    _g = torch.Generator().manual_seed(SETTINGS["seed"])
    _B = SETTINGS["ssl_batch"]
    _perm, _pos, ssl_losses = torch.randperm(len(X_train), generator=_g), 0, []
    _t0 = time.perf_counter()
    _enc.train()
    for _step in range(SETTINGS["ssl_steps"]):
        if _pos + _B > len(X_train):  # a new epoch
            _perm, _pos = torch.randperm(len(X_train), generator=_g), 0
        _batch = X_train[_perm[_pos:_pos + _B]]
        _pos += _B
        _v1, _v2 = two_views(_batch, _g, scale=SETTINGS["ssl_crop"], flip=False)
        _z = _head(_enc(torch.cat([_v1, _v2])))  # both views in one pass: (2B, 32)
        _loss = info_nce(_z[:_B], _z[_B:], tau=SETTINGS["ssl_tau"])
        _opt.zero_grad()
        _loss.backward()
        _opt.step()
        ssl_losses.append(_loss.item())
    ssl_train_seconds = time.perf_counter() - _t0
    ssl_encoder = _enc.eval()
    print(f"SimCLR: {SETTINGS['ssl_steps']} steps in {ssl_train_seconds:.1f} s; loss {np.mean(ssl_losses[:10]):.2f} "
          f"-> {np.mean(ssl_losses[-20:]):.2f} (chance: log(2B - 1) = {math.log(2 * _B - 1):.2f})")
    fig, ax = plt.subplots(figsize=(6, 3))
    plot_loss_history(ax, ssl_losses, title="InfoNCE during SimCLR training", smooth=20)
    plt.show()

# %% [markdown]
# **How the encoder is graded.** Features learned without labels are judged by how well a simple
# classifier on them does with **few** labels. The grader computes `ssl_encoder`'s features of
# the digits itself and fits **its own** linear probe on them (a multinomial logistic regression,
# the one you write in the next section) with five labels per digit, for three label subsets, and
# compares the mean test accuracy with the same probe on the raw pixels. The visible test below
# needs nothing of yours but the trained encoder: it uses an even simpler classifier, the nearest
# class mean on standardised features (each test digit takes the label of the closest mean of the
# labelled examples of a class).

# %% nbgrader={"grade": true, "grade_id": "test_ssl_probe", "locked": true, "points": 14, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["info_nce"]}
def nearest_mean_accuracy(F_tr, y_tr, F_te, y_te):
    """Test accuracy of a nearest-class-mean classifier on standardised features (N, D)."""
    mean, std = F_tr.mean(0), F_tr.std(0) + 1e-6
    A, B = (F_tr - mean) / std, (F_te - mean) / std
    centres = torch.stack([A[y_tr == k].mean(0) for k in range(int(y_tr.max()) + 1)])
    return float((torch.cdist(B, centres).argmin(1) == y_te).double().mean())


_HINT = ("What to check: (1) info_nce's partner of row i is i + N for the first views and i - N for the "
         "second; (2) the diagonal is excluded (-inf), not set to 0; (3) the embeddings are normalised before "
         "the similarities; (4) the SimCLR loss above should fall well below its first value.")
with checking("the SimCLR encoder", case=f"nearest class mean with {SETTINGS['probe_per_class']} labels per digit "
                                        f"(3 subsets): mean accuracy >= pixels + {SETTINGS['probe_margin']}",
              uses=("info_nce",)):
    if ssl_encoder is None:
        raise CheckFailed("ssl_encoder is None: run the SimCLR cell above; it should finish without an error")
    with torch.no_grad():
        _F_train, _F_test = ssl_encoder(X_train).flatten(1).double(), ssl_encoder(X_test).flatten(1).double()
    _P_train, _P_test = X_train.flatten(1).double(), X_test.flatten(1).double()
    _ssl, _pix = [], []
    for _s in range(3):
        _idx = labelled_subset(y_train, SETTINGS["probe_per_class"], seed=_s)
        _ssl.append(nearest_mean_accuracy(_F_train[_idx], y_train[_idx], _F_test, y_test))
        _pix.append(nearest_mean_accuracy(_P_train[_idx], y_train[_idx], _P_test, y_test))
    print(f"nearest class mean, {SETTINGS['probe_per_class']} labels per digit: SimCLR {np.mean(_ssl):.3f}, "
          f"pixels {np.mean(_pix):.3f}")
    if not np.mean(_ssl) >= np.mean(_pix) + SETTINGS["probe_margin"]:
        raise CheckFailed(f"the SimCLR features reach {np.mean(_ssl):.3f}, the pixels {np.mean(_pix):.3f}; at least "
                          f"pixels + {SETTINGS['probe_margin']} is needed. " + _HINT)

# %% [markdown]
# ## The linear probe
#
# How good are features that were learned without labels? The standard yardstick (Chen et al.,
# 2020; lecture 15) is a **linear probe**: freeze the features, fit a linear classifier (multinomial logistic regression) on
# them with a few labels, and measure its accuracy on the test set. The probe itself is not
# allowed to learn features, so its accuracy says how linearly separable the classes already are.
#
# Write it in torch: standardise the features with the **training** features' mean and standard
# deviation (per dimension; add 1e-6 to the deviation, for constant features), then minimise, over
# $W \in \mathbb{R}^{D \times K}$ and $b \in \mathbb{R}^K$ (starting from zeros),
#
# $$ \frac{1}{M} \sum_{m=1}^{M} \text{CE}(x_m W + b,\ y_m) + \frac{\lambda}{2} \lVert W \rVert^2, $$
#
# full batch, in float64, with `torch.optim.LBFGS([W, b], lr=1, max_iter=steps,
# line_search_fn="strong_wolfe")` and one call of `optimizer.step(closure)`. The problem is convex,
# so L-BFGS finds its minimum in a few dozen iterations. By default $\lambda = 1/M$: this is
# scikit-learn's `LogisticRegression(C=1)` (its objective divided by $M$), the course's standard
# probe. Return the predicted class of every test row.

# %% nbgrader={"grade": false, "grade_id": "linear_probe", "locked": false, "schema_version": 3, "solution": true, "task": false}
def linear_probe(train_feats, train_labels, test_feats, steps=100, weight_decay=None):
    """Multinomial logistic regression on standardised features, full batch L-BFGS in float64.

    Inputs:
    - train_feats: (M, D) tensor; train_labels: (M,) int64 in 0..K-1 (K = the largest label + 1);
      test_feats: (M_test, D) tensor.
    - steps: L-BFGS's max_iter; weight_decay: lambda of the L2 penalty on W (None: 1 / M).

    Returns:
    - predictions: (M_test,) int64 tensor, the class with the largest score for every test row.
    """
    train_feats, test_feats = torch.as_tensor(train_feats), torch.as_tensor(test_feats)
    train_labels = torch.as_tensor(train_labels)
    if train_feats.dim() != 2 or test_feats.dim() != 2 or train_feats.shape[1] != test_feats.shape[1] \
            or train_labels.shape != (len(train_feats),):
        raise ValueError(f"linear_probe: train_feats (M, D), train_labels (M,) and test_feats (M_test, D) expected, "
                         f"got {tuple(train_feats.shape)}, {tuple(train_labels.shape)}, {tuple(test_feats.shape)}")
    predictions = None
    ### BEGIN SOLUTION
    X, Xt = train_feats.double(), test_feats.double()
    mean, std = X.mean(0), X.std(0) + 1e-6
    X, Xt = (X - mean) / std, (Xt - mean) / std
    y = train_labels.long()
    lam = 1 / len(X) if weight_decay is None else weight_decay
    K = int(y.max()) + 1
    W = torch.zeros(X.shape[1], K, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(K, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([W, b], lr=1, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(X @ W + b, y) + lam / 2 * (W * W).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        predictions = (Xt @ W + b).argmax(1)
    ### END SOLUTION
    return predictions


# %% nbgrader={"grade": true, "grade_id": "test_linear_probe", "locked": true, "points": 8, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["linear_probe"]}
_g = torch.Generator().manual_seed(0)
_centres = torch.tensor([[0.0, 0.0, 10.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
_y = torch.arange(3).repeat(20)
_X = _centres[_y] + torch.randn(60, 3, generator=_g)
_yt = torch.arange(3).repeat(10)
_Xt = _centres[_yt] + torch.randn(30, 3, generator=_g)
with checking("linear_probe", case="three well-separated blobs in 3 dimensions: every test point right"):
    _pred = linear_probe(_X, _y, _Xt)
    expect_shape(_pred, (30,), "predictions")
    expect_equal(torch.as_tensor(_pred).dtype, torch.int64, "predictions' dtype")
    expect_equal(_pred, _yt, "predictions")
with checking("linear_probe", case="the same blobs shifted by 1000 and scaled by 100: standardised, so the same"):
    expect_equal(linear_probe(100 * _X + 1000, _y, 100 * _Xt + 1000), _yt, "predictions")
_digits = load_digits16(8)  # the raw 8x8 digits in [0, 1]: 1257 training and 360 test images
with checking("linear_probe", case="the raw pixels of the digits, all 1257 labels: accuracy >= 0.93"):
    _acc = float((linear_probe(_digits.X_train.flatten(1), _digits.y_train, _digits.X_test.flatten(1))
                  == _digits.y_test).double().mean())
    print(f"pixels, all labels: test accuracy {_acc:.3f}")
    expect_at_least(_acc, 0.93, "the probe's accuracy on the pixels")

# %% [markdown]
# ## The probe: SimCLR features against pixels
#
# Your `linear_probe` on the encoder's 64 features and on the 64 raw pixels, with all 1257
# training labels and with only **5 labels per digit** (50 labelled images: three different random
# subsets), tested on the 360 test digits. An encoder with random weights (the same architecture,
# untrained) is a second floor.

# %%
with needs("linear_probe", "info_nce"):
    with torch.no_grad():
        _F_train, _F_test = ssl_encoder(X_train), ssl_encoder(X_test)
        _rand = Encoder(in_channels=1, width=16, seed=SETTINGS["seed"]).eval()
        _R_train, _R_test = _rand(X_train), _rand(X_test)
    _P_train, _P_test = X_train.flatten(1), X_test.flatten(1)

    def probe_accuracy(F_tr, F_te, idx):
        return float((linear_probe(F_tr[idx], y_train[idx], F_te) == y_test).double().mean())

    _subsets = {"all labels": torch.arange(len(y_train))}
    for _s in range(3):
        _subsets[f"5 per digit, subset {_s}"] = labelled_subset(y_train, SETTINGS["probe_per_class"], seed=_s)
    probe_table = {name: (probe_accuracy(_F_train, _F_test, idx), probe_accuracy(_P_train, _P_test, idx),
                          probe_accuracy(_R_train, _R_test, idx)) for name, idx in _subsets.items()}
    print(f"{'labels':26s} SimCLR   pixels   random net   SimCLR - pixels (test digits of {len(y_test)})")
    for _name, (_ssl, _pix, _rnd) in probe_table.items():
        print(f"{_name:26s} {_ssl:6.3f}   {_pix:6.3f}   {_rnd:10.3f}   {_ssl - _pix:+.3f} "
              f"({round((_ssl - _pix) * len(y_test)):+d})")
    ssl_few_margin = np.mean([v[0] - v[1] for k, v in probe_table.items() if k != "all labels"])
    print(f"mean margin with 5 labels per digit: {ssl_few_margin:+.3f}")

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_probe_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 4 (4 points)
#
# Read the probe table above. With all labels, how far are the SimCLR features ahead of the pixels,
# and how far with five labels per digit? Explain why the features help most when labels are few
# (think of how many parameters a linear classifier on 64 numbers has, and of what makes two
# images of one digit close in pixel space or in feature space). Then name two things the views
# of this notebook teach the features to ignore, and one property of a digit that views like these
# could never make the features ignore without harm (what should a view keep?).
# Answer in four to six sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_probe", "locked": false, "points": 4, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** With all 1257 labels the SimCLR features beat the pixels by a few test digits
# at most (both are near the ceiling of a linear classifier here, and even a random network's
# features come close), but with five labels per digit they are ahead by several points, twenty or
# more test digits on every subset. A linear classifier on 64 numbers has 650 parameters; with
# 1257 labels it can find a good boundary even in pixel space, where a digit written a pixel to the
# left or thicker is far from its own class, but with 50 labels it must generalise from a few
# examples, and that works only if examples of one class are already close together. SimCLR made
# them close: it trained the encoder so that two views of one digit, a shifted and rescaled crop,
# a brighter or lower-contrast copy, a blurred one, get nearly the same embedding, so the features
# ignore position and scale within the crop range, stroke intensity and contrast, and fine
# sharpness, which are exactly the nuisances that separate a test digit from the few labelled
# ones. Views must keep what defines the class: a view that flipped or rotated a digit by 180°
# would teach the features to ignore orientation and merge 6 with 9 (and a crop that is too small
# could cut off the stroke that distinguishes 7 from 1), which is why these views use no flip and
# crops of at least 40 %.
#
# **Rubric (4 points).**
# - 1 point: the figures read from the table: a small margin with all labels, a large one (several
#   points) with five labels per digit.
# - 1 point: with few labels the classifier must generalise from few examples; that works when the
#   features already put examples of one class together, which pixels do not (shifts and
#   thickness change many pixels), whereas with many labels a linear classifier on pixels is
#   already good.
# - 1 point: two invariances the views teach: position and scale (crops), brightness and contrast
#   (jitter), sharpness (blur).
# - 1 point: a property a view must keep, with the reason: orientation (no flips or large
#   rotations: 6 and 9, or mirrored digits), or enough of the digit in the crop.

# %% [markdown]
# ## Summary
#
# - Attention is a softmax-weighted average of values, with weights from query-key dot products
#   divided by $\sqrt{d}$ so that the softmax does not saturate as $d$ grows; a mask sets scores
#   to $-\infty$, and a masked key gets neither weight nor gradient.
# - Multi-head attention runs several attentions on $D/h$-dimensional projections and mixes them;
#   self-attention and cross-attention differ only in where the keys and values come from.
# - Attention sees a set: positions are added to the inputs (sinusoids or learned vectors), and a
#   causal mask lets a decoder train on all positions of a sequence at once without seeing the
#   future.
# - A transformer captioner reads every cell of the image for every word through
#   cross-attention; trained with warm-up and a cosine schedule on as many captions as lecture 13's
#   LSTM, it writes better captions. Its attention maps show where it looked, not why it chose a
#   word.
# - Contrastive learning (InfoNCE / NT-Xent) learns features without labels by making two views
#   of an image agree against the other images of the batch; the views decide what the features
#   ignore. A linear probe measures the features, and the gain over pixels is largest with few
#   labels.
#
# ## Further reading
#
# - A. Vaswani et al., "Attention is all you need", NeurIPS 2017 (scaled dot-product and
#   multi-head attention, sinusoidal positions, the encoder-decoder transformer).
# - D. Bahdanau, K. Cho and Y. Bengio, "Neural machine translation by jointly learning to align
#   and translate", ICLR 2015; K. Xu et al., "Show, attend and tell", ICML 2015 (attention before
#   transformers, lecture 13).
# - A. Radford et al., "Language models are unsupervised multitask learners" (GPT-2, pre-norm
#   decoder blocks), 2019; R. Xiong et al., "On layer normalization in the transformer
#   architecture", ICML 2020; L. Liu et al., "On the variance of the adaptive learning rate and
#   beyond", ICLR 2020 (why warm-up).
# - S. Jain and B. C. Wallace, "Attention is not explanation", NAACL 2019.
# - A. van den Oord, Y. Li and O. Vinyals, "Representation learning with contrastive predictive
#   coding", 2018 (InfoNCE); T. Chen, S. Kornblith, M. Norouzi and G. Hinton, "A simple framework
#   for contrastive learning of visual representations", ICML 2020 (SimCLR, NT-Xent).
# - K. He et al., "Momentum contrast for unsupervised visual representation learning", CVPR 2020;
#   J.-B. Grill et al., "Bootstrap your own latent", NeurIPS 2020 (lecture 15).
# - Stanford CS231n, assignment 3 (transformer captioning and self-supervised learning): the
#   assignment this one is modelled on.
