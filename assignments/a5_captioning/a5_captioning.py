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
# # Assignment 5: recurrent networks and image captioning
#
# A captioning model looks at an image and writes a sentence about it, one word at a time. Each
# word depends on the image and on the words before it, so the model needs a memory: a recurrent
# network (lecture 12) whose hidden state carries what has been said so far, started from what a
# convolutional network saw in the image (lecture 13). In this assignment you write every piece of
# such a model in numpy, train it, and measure how well its sentences match what people (here, a
# grammar) would say.
#
# 1. **A vanilla RNN**: one time step forward and backward, then a whole sequence
#    (back-propagation through time).
# 2. **Words in, words out**: a word embedding, an affine layer applied at every time step, and a
#    softmax loss over the words of captions of different lengths (a mask).
# 3. **An LSTM**: the same two levels for the long short-term memory cell.
# 4. **A captioning model**: the image sets the first hidden state; the loss uses teacher
#    forcing; greedy sampling writes new captions. It must learn 50 captions by heart.
# 5. **BLEU**, the classic score of generated text against reference sentences.
# 6. **Training** your RNN and LSTM captioners on 2000 scenes and scoring them on 300 new ones,
#    against a baseline that does not look at the image.
# 7. **Beam search**: keep the best few partial sentences instead of one.
#
# Along the way, four **written questions** ask you to explain in a few sentences what your runs
# show.
#
# The images are the course's shapes scenes, and their captions come from a small grammar in
# `dlcv.captioning.captions` ("a large red circle left of a small blue square", "two circles and a
# triangle"). Everything is generated from a seed and runs on a laptop CPU.
#
# ## How to work
#
# - Run the cells from the top. Cells below a function you have not written yet stop with a message.
# - Every function has a docstring with the shapes of its inputs and outputs. Write your code where
#   it says `# YOUR CODE HERE` and delete `raise NotImplementedError()`. Keep the function names and
#   arguments.
# - Layers follow the contract of assignments 2 and 3: `out, cache = layer_forward(x, ...)` and
#   `dx, dparams... = layer_backward(dout, cache)`. The captioning model's `loss(features,
#   captions)` returns `(loss, grads)`, like the models of assignment 2.
# - Everything you write is numpy. PyTorch runs only inside the given image encoder
#   (`dlcv.captioning.encoders`). Lecture 12's `dlcv.recurrent` modules and lecture 13's `dlcv.captioning.{captioners, decoding, attention_maps}` hold the
#   lectures' own versions of some of these computations (in torch); write your own: those
#   modules are not there when your notebook is graded, so importing them fails.
# - A failing test names the function, the case, and what was expected against what came back; a
#   passing test prints nothing, or only the figure it measured (a loss, a BLEU score).
# - Before you submit: **Kernel > Restart Kernel and Run All Cells** (or **Validate**). Hand in
#   this notebook with its name unchanged.
# - **Self-check**, at any time: save the notebook, then run
#   `python -m autograder.selfcheck a5_captioning.ipynb` in a terminal, in this notebook's folder or
#   in the course's top folder, where JupyterLab's terminal opens (or
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
# sandbox that has numpy and the torch of the given image encoder, but not the lecture modules
# `dlcv.recurrent.*` and `dlcv.captioning.{captioners, decoding, attention_maps}`. Then your answer cells (the layers, `CaptioningRNN`,
# `bleu` and `beam_search`) run once more on their own, in a second sandbox that has numpy but not
# torch, scipy or scikit-learn: only `math`, `collections.Counter` and numpy (`np`) are imported
# before them there, so write them in numpy, as the docstrings ask, with what they use defined in
# the answer cells themselves. The grader calls your functions on inputs of its own: the visible
# cases of every test cell and **hidden** ones (random sizes compared with the instructor's
# solutions, edge cases such as large scores, fully masked captions, ties in BLEU's brevity
# penalty), and compares what they return outside the sandbox. For the memorisation tests it
# trains your `CaptioningRNN` with the given loop on the same 50 captions and computes the loss of
# the trained weights itself; for the trained captioners it takes the captions your `lstm_model`
# and `rnn_model` write for 300 new scenes that it draws itself (and for all-zero features, the
# language-only baseline) and computes BLEU-4 with its own implementation and the references it
# holds. A test cell earns its points when all its cases pass, and the feedback lists every
# case: passed, or what was wrong. So passing the visible
# test is a good sign, not a guarantee: read each docstring carefully. Most tests call only the
# function they are about; the sequence layers, the captioning model, sampling, beam search and
# training also run the functions they use, and a failure then says when one of those is the
# cause.
#
# Besides the 100 points of the test cells, four **written questions** are worth 13 points. The
# instructor grades them by hand, after the automatic grading: write each answer in the cell
# under its question, the one that says "YOUR ANSWER HERE". An answer is read as written, so it
# needs no code.
#
# | Part | Functions | Points |
# |---|---|---|
# | Vanilla RNN | `rnn_step_forward/backward`, `rnn_forward/backward` | 18 |
# | Words | `word_embedding_forward/backward`, `temporal_affine_forward/backward`, `temporal_softmax_loss` | 14 |
# | LSTM | `lstm_step_forward/backward`, `lstm_forward/backward` | 22 |
# | Captioning model | `CaptioningRNN` (loss for both cells, sampling, learning 50 captions) | 20 |
# | BLEU | `bleu` | 7 |
# | Trained captioners | your LSTM and RNN on held-out scenes | 11 |
# | Beam search | `beam_search` | 8 |
# | Written questions 1 to 4 | answers in words, graded by hand | 13 |

# %%
# %matplotlib inline
import math
import time
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

from dlcv.captioning.captions import make_caption_data
from dlcv.captioning.encoders import encode_scenes, grid_labels, shapes_encoder, show_cell_labels
from dlcv.checks import (
    CheckFailed,
    checking,
    expect_at_least,
    expect_close,
    expect_equal,
    expect_grad_close,
    expect_numeric_grads,
    expect_shape,
    needs,
)
from dlcv.gradcheck import eval_numerical_gradient
from dlcv.plots import plot_loss_history, show_captioned
from dlcv.timing import cap_threads

plt.rcParams["figure.figsize"] = (8, 4)
plt.rcParams["figure.dpi"] = 90
np.set_printoptions(precision=4, suppress=True)
# The matrix products of this assignment are small (64 x 128 times 128 x 512). On such sizes a
# second BLAS thread costs more than it saves, and on a busy machine it can make training ten
# times slower, so numpy and torch use one thread here.
cap_threads()

# %% [markdown]
# ## The data: shapes scenes and their captions
#
# `make_caption_data(n, seed)` draws `n` scenes with one to four shapes each and writes several
# captions per scene from a small grammar: a pair of objects and where one is relative to the
# other, one object and its place in the image, or a count. The words name colours, sizes,
# classes, relations, places and numbers, so a caption can only be right if the model looks at
# the image.
#
# Captions become integer ids with a vocabulary: `<NULL>` (id 0) pads the short captions,
# `<START>` and `<END>` open and close every caption, `<UNK>` stands for an unknown word. Each
# row of `tokens` is one caption, `image_index` says which scene it describes.
#
# The 2000 training scenes have 5 captions each. The 300 test scenes come from another seed and
# keep **every** caption the grammar wrote for them (up to 10): these are the references that a
# generated caption is compared with.

# %%
train_data = make_caption_data(2000, seed=0)  # 2000 scenes x 5 captions
vocab = train_data.vocab
test_data = make_caption_data(300, seed=1, vocab=vocab, per_image=10)  # held-out scenes
print(f"vocabulary: {len(vocab)} words")
print(" ".join(vocab.idx_to_word))
print(f"training captions: tokens {train_data.tokens.shape}, mask {train_data.mask.shape}, "
      f"image_index {train_data.image_index.shape}")
print(f"references per test scene: {np.mean([len(c) for c in test_data.captions]):.1f} on average")
print("\ncaption 0:", train_data.captions[0][0])
print("tokens:   ", train_data.tokens[0])
print("decoded:  ", vocab.decode(train_data.tokens[0]))

show_captioned(train_data.scenes.images[:4], [train_data.captions[i] for i in range(4)], ncols=4,
               suptitle="four training scenes and their captions")
plt.show()

# %% [markdown]
# ## Image features
#
# A captioner does not read pixels directly: a convolutional network first turns the image into
# features. Training that network is lecture 06 and 07 material, so `dlcv.captioning.encoders` does it for
# you. It is a four-layer CNN taught to say, for every cell of an 8 x 8 grid over the image,
# which object covers it: background, or one of the 24 combinations of size (small, large),
# colour (red, green, blue, yellow) and class (circle, square, triangle). It trains on its own
# 1500 scenes the first time you call `encode_scenes` (a few seconds; the result is cached).
#
# Each image's feature vector holds the encoder's 25 probabilities for each of the 64 cells,
# flattened and standardised: $D = 25 \times 64 = 1600$ numbers that say what is where. Below,
# the encoder's answer for three test scenes (c, s, t for a small circle, square or triangle;
# C, S, T for a large one, in the object's colour).

# %%
t0 = time.perf_counter()
train_features = encode_scenes(train_data.scenes).vectors  # (2000, 1600) float32
test_features = encode_scenes(test_data.scenes).vectors  # (300, 1600)
encoder = shapes_encoder(0)
print(f"image features in {time.perf_counter() - t0:.1f} s: train {train_features.shape}, "
      f"test {test_features.shape}")
print(f"encoder: {encoder.cell_accuracy:.1%} of the cells of new scenes labelled right, "
      f"{encoder.object_cell_accuracy:.1%} of the cells an object covers")

_probs = encode_scenes(test_data.scenes.subset(slice(0, 3))).cell_probs  # (3, 25, 8, 8)
_truth = grid_labels(test_data.scenes.subset(slice(0, 3)))
fig, axes = plt.subplots(2, 3, figsize=(8.4, 5.6))
for i in range(3):
    show_cell_labels(axes[0, i], test_data.scenes.images[i], _truth[i], title=f"scene {i}: truth")
    show_cell_labels(axes[1, i], test_data.scenes.images[i], _probs[i].argmax(0),
                     title=f"scene {i}: what the encoder sees")
plt.tight_layout()
plt.show()

# %% [markdown]
# # Part 1: a vanilla recurrent network
#
# A recurrent network reads a sequence $x_1, \dots, x_T$ and keeps a hidden state $h_t$ that it
# updates at every step with the **same** weights:
#
# $$ h_t = \tanh\left(x_t W_x + h_{t-1} W_h + b\right). $$
#
# With a minibatch of $N$ sequences, $x_t$ is an $(N, D)$ matrix (one row per sequence),
# $h_t$ is $(N, H)$, $W_x$ is $(D, H)$, $W_h$ is $(H, H)$ and $b$ is $(H,)$.
#
# ## One time step
#
# For the backward pass, call $a = x W_x + h_{\text{prev}} W_h + b$. Since
# $\tanh'(a) = 1 - \tanh^2(a)$, the gradient that reaches $a$ is
# $\,da = dh_{\text{next}} \odot (1 - h_{\text{next}}^2)$; from there it is the backward pass of
# two affine maps that share one output (assignment 2). Keep what you need in `cache`.

# %% nbgrader={"grade": false, "grade_id": "rnn_step_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """One time step of a vanilla RNN with a tanh nonlinearity.

    Inputs:
    - x: (N, D) input at this step.
    - prev_h: (N, H) hidden state of the previous step.
    - Wx: (D, H) input-to-hidden weights; Wh: (H, H) hidden-to-hidden weights; b: (H,) bias.

    Returns a tuple:
    - next_h: (N, H) the new hidden state tanh(x Wx + prev_h Wh + b).
    - cache: what rnn_step_backward needs.
    """
    next_h, cache = None, None
    ### BEGIN SOLUTION
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    cache = (x, prev_h, Wx, Wh, next_h)
    ### END SOLUTION
    return next_h, cache


# %% nbgrader={"grade": true, "grade_id": "test_rnn_step_forward", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["rnn_step_forward"]}
with checking("rnn_step_forward", case="N=2, D=3, H=2, by hand"):
    _x = np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]])
    _h = np.array([[0.2, -0.4], [0.0, 1.0]])
    _Wx = np.array([[0.1, -0.2], [0.3, 0.0], [-0.5, 0.4]])
    _Wh = np.array([[1.0, 0.5], [-1.0, 0.2]])
    _b = np.array([0.05, -0.1])
    _next, _ = rnn_step_forward(_x, _h, _Wx, _Wh, _b)
    expect_shape(_next, (2, 2), "next_h")
    # x Wx = [[0.6, -0.6], [0.65, -0.1]], prev_h Wh = [[0.6, 0.02], [-1.0, 0.2]]
    expect_close(_next, np.tanh([[1.25, -0.68], [-0.3, 0.0]]), "next_h")

# %% nbgrader={"grade": false, "grade_id": "rnn_step_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rnn_step_backward(dnext_h, cache):
    """Backward pass of one vanilla RNN step.

    Inputs:
    - dnext_h: (N, H) gradient of the loss with respect to next_h.
    - cache: from rnn_step_forward.

    Returns a tuple:
    - dx: (N, D); dprev_h: (N, H); dWx: (D, H); dWh: (H, H); db: (H,).
    """
    dx, dprev_h, dWx, dWh, db = None, None, None, None, None
    ### BEGIN SOLUTION
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h**2)  # (N, H): back through tanh
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dWx = x.T @ da
    dWh = prev_h.T @ da
    db = da.sum(axis=0)
    ### END SOLUTION
    return dx, dprev_h, dWx, dWh, db


# %% nbgrader={"grade": true, "grade_id": "test_rnn_step_backward", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["rnn_step_forward", "rnn_step_backward"]}
_rng = np.random.default_rng(11)
_N, _D, _H = 4, 5, 6
_x, _h = _rng.normal(size=(_N, _D)), _rng.normal(size=(_N, _H))
_Wx, _Wh, _b = _rng.normal(size=(_D, _H)), _rng.normal(size=(_H, _H)), _rng.normal(size=_H)
_dnext = _rng.normal(size=(_N, _H))
with checking("rnn_step_backward", case="N=4, D=5, H=6: numeric gradients", uses=("rnn_step_forward",)):
    _grads = rnn_step_backward(_dnext, rnn_step_forward(_x, _h, _Wx, _Wh, _b)[1])
    expect_numeric_grads(lambda *a: rnn_step_forward(*a)[0], [_x, _h, _Wx, _Wh, _b], _dnext, _grads,
                         ("dx", "dprev_h", "dWx", "dWh", "db"))

# %% [markdown]
# ## A whole sequence
#
# `rnn_forward` runs the step over a minibatch of sequences `x` of shape `(N, T, D)`, from a
# given first hidden state `h0`, and returns every hidden state, `h` of shape `(N, T, H)`.
#
# The backward pass receives `dh`, the gradient of the loss with respect to **every** hidden
# state (the loss reads all of them: one word is predicted from each). Walk backwards through
# time: the gradient reaching $h_t$ is `dh[:, t]` plus the gradient that flows back from step
# $t + 1$ through $h_t$'s role as `prev_h`. The weights are shared, so their gradients are the
# **sums** over all steps. This is back-propagation through time (BPTT).

# %% nbgrader={"grade": false, "grade_id": "rnn_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rnn_forward(x, h0, Wx, Wh, b):
    """A vanilla RNN over a sequence.

    Inputs:
    - x: (N, T, D) inputs; h0: (N, H) initial hidden state.
    - Wx: (D, H); Wh: (H, H); b: (H,).

    Returns a tuple:
    - h: (N, T, H) the hidden states of all time steps (h[:, t] is the state after input t).
    - cache: what rnn_backward needs.
    """
    h, cache = None, None
    ### BEGIN SOLUTION
    N, T, _ = x.shape
    h = np.zeros((N, T, h0.shape[1]), dtype=np.result_type(x, h0, Wx))
    cache = []
    prev_h = h0
    for t in range(T):
        prev_h, step_cache = rnn_step_forward(x[:, t], prev_h, Wx, Wh, b)
        h[:, t] = prev_h
        cache.append(step_cache)
    ### END SOLUTION
    return h, cache


# %% nbgrader={"grade": true, "grade_id": "test_rnn_forward", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["rnn_step_forward", "rnn_forward"]}
with checking("rnn_forward", case="N=2, T=3, D=3, H=2: the hand-made weights of the step test",
              uses=("rnn_step_forward",)):
    _x = np.stack([np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]]) * (t + 1) for t in range(3)], axis=1)
    _h0 = np.array([[0.2, -0.4], [0.0, 1.0]])
    _Wx = np.array([[0.1, -0.2], [0.3, 0.0], [-0.5, 0.4]])
    _Wh = np.array([[1.0, 0.5], [-1.0, 0.2]])
    _b = np.array([0.05, -0.1])
    _h, _ = rnn_forward(_x, _h0, _Wx, _Wh, _b)
    expect_shape(_h, (2, 3, 2), "h")
    _expected, _prev = [], _h0
    for _t in range(3):  # the recurrence, written out
        _prev = np.tanh(_x[:, _t] @ _Wx + _prev @ _Wh + _b)
        _expected.append(_prev)
    expect_close(_h, np.stack(_expected, axis=1), "h")

# %% nbgrader={"grade": false, "grade_id": "rnn_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rnn_backward(dh, cache):
    """Back-propagation through time for a vanilla RNN.

    Inputs:
    - dh: (N, T, H) gradient of the loss with respect to every hidden state h[:, t] (the
      gradient arriving from above, not yet including what flows back through time).
    - cache: from rnn_forward.

    Returns a tuple:
    - dx: (N, T, D); dh0: (N, H); dWx: (D, H); dWh: (H, H); db: (H,).
    """
    dx, dh0, dWx, dWh, db = None, None, None, None, None
    ### BEGIN SOLUTION
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx = np.zeros((N, T, D), dtype=dh.dtype)
    dWx, dWh, db = 0.0, 0.0, 0.0
    dprev_h = np.zeros((N, H), dtype=dh.dtype)
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t] + dprev_h, cache[t])
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    dh0 = dprev_h
    ### END SOLUTION
    return dx, dh0, dWx, dWh, db


# %% nbgrader={"grade": true, "grade_id": "test_rnn_backward", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward"]}
_rng = np.random.default_rng(12)
_N, _T, _D, _H = 2, 4, 3, 5
_args = [_rng.normal(size=(_N, _T, _D)), _rng.normal(size=(_N, _H)), _rng.normal(size=(_D, _H)),
         _rng.normal(size=(_H, _H)), _rng.normal(size=_H)]
_dh = _rng.normal(size=(_N, _T, _H))
with checking("rnn_backward", case="N=2, T=4, D=3, H=5: numeric gradients",
              uses=("rnn_forward", "rnn_step_forward", "rnn_step_backward")):
    _grads = rnn_backward(_dh, rnn_forward(*_args)[1])
    expect_numeric_grads(lambda *a: rnn_forward(*a)[0], _args, _dh, _grads, ("dx", "dh0", "dWx", "dWh", "db"))

# %% [markdown]
# **Check yourself.** In `rnn_backward`, why must the gradient for `Wh` be summed over the time
# steps, and what happens to the gradient that reaches $h_0$ when $T$ is large and the largest
# singular value of $W_h$ is below one?
#
# <details><summary>Answer</summary>
#
# The same matrix `Wh` is used at every step, so the loss depends on it through $T$ paths; the
# chain rule adds the contributions of all of them (exactly like a weight shared by several
# positions in a convolution). The gradient reaching $h_0$ is multiplied at every step by
# $\operatorname{diag}(1 - h_t^2)\, W_h^\top$. Both factors shrink vectors when the singular
# values of $W_h$ are below one (the tanh derivative is at most one), so the product over $T$
# steps shrinks geometrically: the gradient **vanishes**, and the network cannot learn that an
# early input matters for a late output. With singular values well above one it can explode
# instead (lecture 12). The LSTM of Part 3 was designed against the vanishing case.
#
# </details>

# %% [markdown]
# # Part 2: words in, words out
#
# ## Word embeddings
#
# Words enter the network as integer ids. A **word embedding** gives each of the $V$ words of the
# vocabulary a learned vector of $D$ numbers, the rows of a matrix $W$ of shape $(V, D)$; the
# layer simply looks them up: `out[n, t] = W[x[n, t]]`. Looking up a row is the same as
# multiplying a one-hot vector by $W$, so in the backward pass each row of `dW` is the **sum** of
# the upstream gradients at the positions where that word occurs. A word can occur several times
# in a minibatch: `dW[x] += dout` would count it once only (numpy's fancy-index assignment), but
# `np.add.at(dW, x, dout)` adds every occurrence.

# %% nbgrader={"grade": false, "grade_id": "word_embedding", "locked": false, "schema_version": 3, "solution": true, "task": false}
def word_embedding_forward(x, W):
    """Look up the vectors of words.

    Inputs:
    - x: (N, T) integer ids in [0, V).
    - W: (V, D) word vectors, one row per word.

    Returns a tuple:
    - out: (N, T, D) with out[n, t] = W[x[n, t]].
    - cache: what word_embedding_backward needs.
    """
    out, cache = None, None
    ### BEGIN SOLUTION
    out = W[x]  # (N, T, D)
    cache = (x, W.shape)
    ### END SOLUTION
    return out, cache


def word_embedding_backward(dout, cache):
    """Backward pass of the word embedding.

    Inputs:
    - dout: (N, T, D) upstream gradient; cache: from word_embedding_forward.

    Returns:
    - dW: (V, D), row v the sum of dout[n, t] over all positions with x[n, t] == v.
    """
    dW = None
    ### BEGIN SOLUTION
    x, shape = cache
    dW = np.zeros(shape, dtype=dout.dtype)
    np.add.at(dW, x, dout)
    ### END SOLUTION
    return dW


# %% nbgrader={"grade": true, "grade_id": "test_word_embedding", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["word_embedding"]}
_W = np.arange(12.0).reshape(4, 3)  # 4 words, vectors of 3 numbers
_x = np.array([[0, 3, 3], [1, 0, 2]])
with checking("word_embedding_forward", case="V=4, D=3, x = [[0, 3, 3], [1, 0, 2]]"):
    _out, _cache = word_embedding_forward(_x, _W)
    expect_shape(_out, (2, 3, 3), "out")
    expect_close(_out[0], [[0.0, 1.0, 2.0], [9.0, 10.0, 11.0], [9.0, 10.0, 11.0]], "out[0]")
    expect_close(_out[1], [[3.0, 4.0, 5.0], [0.0, 1.0, 2.0], [6.0, 7.0, 8.0]], "out[1]")
with checking("word_embedding_backward", case="the same x, dout = 1 everywhere: each row counts its word"):
    _dW = word_embedding_backward(np.ones((2, 3, 3)), _cache)
    expect_shape(_dW, (4, 3), "dW")
    expect_close(_dW, [[2.0] * 3, [1.0] * 3, [1.0] * 3, [2.0] * 3], "dW (words 0 and 3 occur twice)")

# %% [markdown]
# ## An affine layer at every time step
#
# At every time step the network turns its hidden state (an $H$-vector) into scores for the $V$
# words with the same affine map: `out[n, t] = x[n, t] @ w + b`. Written for `(N, T, D)` arrays
# this is one matrix product (numpy's `@` broadcasts over the leading axes); in the backward pass
# reshape to `(N * T, D)` so that `dw` is one product too.

# %% nbgrader={"grade": false, "grade_id": "temporal_affine", "locked": false, "schema_version": 3, "solution": true, "task": false}
def temporal_affine_forward(x, w, b):
    """An affine layer applied at every time step.

    Inputs:
    - x: (N, T, D); w: (D, M); b: (M,).

    Returns a tuple:
    - out: (N, T, M) with out[n, t] = x[n, t] @ w + b.
    - cache: what temporal_affine_backward needs.
    """
    out, cache = None, None
    ### BEGIN SOLUTION
    out = x @ w + b  # (N, T, M)
    cache = (x, w, b)
    ### END SOLUTION
    return out, cache


def temporal_affine_backward(dout, cache):
    """Backward pass of the temporal affine layer.

    Inputs:
    - dout: (N, T, M) upstream gradient; cache: from temporal_affine_forward.

    Returns a tuple:
    - dx: (N, T, D); dw: (D, M); db: (M,).
    """
    dx, dw, db = None, None, None
    ### BEGIN SOLUTION
    x, w, b = cache
    N, T, D = x.shape
    dx = dout @ w.T
    dw = x.reshape(N * T, D).T @ dout.reshape(N * T, -1)
    db = dout.sum(axis=(0, 1))
    ### END SOLUTION
    return dx, dw, db


# %% nbgrader={"grade": true, "grade_id": "test_temporal_affine", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["temporal_affine"]}
_rng = np.random.default_rng(13)
_x, _w, _b = _rng.normal(size=(2, 3, 4)), _rng.normal(size=(4, 5)), _rng.normal(size=5)
with checking("temporal_affine_forward", case="x (2, 3, 4), w (4, 5): each step is x[:, t] @ w + b"):
    _out, _cache = temporal_affine_forward(_x, _w, _b)
    expect_shape(_out, (2, 3, 5), "out")
    for _t in range(3):
        expect_close(_out[:, _t], _x[:, _t] @ _w + _b, f"out[:, {_t}]")
with checking("temporal_affine_backward", case="x (2, 3, 4), w (4, 5): numeric gradients",
              uses=("temporal_affine_forward",)):
    _dout = _rng.normal(size=(2, 3, 5))
    _dx, _dw, _db = temporal_affine_backward(_dout, _cache)
    expect_numeric_grads(lambda *a: temporal_affine_forward(*a)[0], [_x, _w, _b], _dout,
                         [_dx, _dw, _db], ("dx", "dw", "db"))

# %% [markdown]
# ## A softmax loss over time, with a mask
#
# At every step $t$ the model scores the $V$ words, $x_{n,t} \in \mathbb{R}^V$, and the loss is
# the cross-entropy of the word that really comes next, $y_{n,t}$. Captions have different
# lengths; the short ones are padded with `<NULL>`, and those positions must not count. The mask
# $m_{n,t} \in \{0, 1\}$ says which positions are real. The loss **sums over time and averages
# over the minibatch**:
#
# $$ L = -\frac{1}{N} \sum_{n=1}^{N} \sum_{t=1}^{T} m_{n,t}
#        \log \frac{e^{x_{n,t,y_{n,t}}}}{\sum_{v} e^{x_{n,t,v}}}. $$
#
# Its gradient is the softmax of assignment 1 at every real position (minus one at the right
# word), divided by $N$, and zero at the masked ones. Subtract the largest score of each row
# before `np.exp`, so that large scores do not overflow.

# %% nbgrader={"grade": false, "grade_id": "temporal_softmax_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def temporal_softmax_loss(x, y, mask):
    """Softmax cross-entropy at every time step, summed over time, averaged over the minibatch.

    Inputs:
    - x: (N, T, V) scores.
    - y: (N, T) integer ids of the right words, in [0, V).
    - mask: (N, T) bool, True where y is a real word (False on padding).

    Returns a tuple:
    - loss: float, -(1/N) sum over n, t with mask[n, t] of log softmax(x[n, t])[y[n, t]].
    - dx: (N, T, V) gradient of the loss with respect to x.
    """
    loss, dx = None, None
    ### BEGIN SOLUTION
    N, T, V = x.shape
    xf, yf, mf = x.reshape(N * T, V), y.reshape(N * T), mask.reshape(N * T)
    shifted = xf - xf.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N T, V)
    loss = -np.sum(mf * log_probs[np.arange(N * T), yf]) / N
    dx = np.exp(log_probs)
    dx[np.arange(N * T), yf] -= 1
    dx *= mf[:, None] / N
    dx = dx.reshape(N, T, V)
    ### END SOLUTION
    return loss, dx


# %% nbgrader={"grade": true, "grade_id": "test_temporal_softmax_loss", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["temporal_softmax_loss"]}
_mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 0, 0]], dtype=bool)  # 7 real words
_y = np.array([[1, 2, 3, 0], [4, 0, 0, 0], [2, 2, 0, 0]])
with checking("temporal_softmax_loss", case="N=3, T=4, V=5, all scores 0: loss = 7 ln(5) / 3"):
    _loss, _dx = temporal_softmax_loss(np.zeros((3, 4, 5)), _y, _mask)
    expect_close(_loss, 7 * np.log(5) / 3, "loss")
    expect_shape(_dx, (3, 4, 5), "dx")
    expect_close(_dx[0, 3], np.zeros(5), "dx at a masked position")
    expect_close(_dx[0, 0], np.array([0.2, 0.2 - 1, 0.2, 0.2, 0.2]) / 3, "dx[0, 0]")
_rng = np.random.default_rng(14)
_x = _rng.normal(size=(3, 4, 5))
with checking("temporal_softmax_loss", case="random scores with the same mask: numeric gradient"):
    _loss, _dx = temporal_softmax_loss(_x, _y, _mask)
    expect_grad_close(_dx, eval_numerical_gradient(lambda v: temporal_softmax_loss(v, _y, _mask)[0], _x.copy()),
                      "dx", tol=1e-6)

# %% [markdown]
# # Part 3: long short-term memory
#
# The LSTM (Hochreiter and Schmidhuber, 1997, with the forget gate of Gers et al., 2000) keeps a
# second state, the **cell** $c_t$, which is changed only by elementwise multiplications and
# additions. At every step four vectors of size $H$ are computed from the input and the previous
# hidden state, in one product with $W_x$ of shape $(D, 4H)$, $W_h$ of shape $(H, 4H)$ and
# $b$ of shape $(4H,)$:
#
# $$ a = x_t W_x + h_{t-1} W_h + b \in \mathbb{R}^{N \times 4H}, \qquad
#    a = [\,a_i \mid a_f \mid a_o \mid a_g\,] \text{ (four blocks of } H \text{ columns)}, $$
#
# $$ i = \sigma(a_i), \quad f = \sigma(a_f), \quad o = \sigma(a_o), \quad g = \tanh(a_g), $$
#
# $$ c_t = f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t). $$
#
# The **input gate** $i$ says how much of the candidate $g$ to write, the **forget gate** $f$ how
# much of the old cell to keep, the **output gate** $o$ how much of the cell to show. The order
# of the blocks in this assignment is **i, f, o, g** (CS231n's). PyTorch's `nn.LSTM` orders them
# **i, f, g, o**, stores the transposed matrices (`weight_ih_l0` is $(4H, D)$) and has two
# biases (`bias_ih_l0 + bias_hh_l0`): to compare with it, translate.
#
# For the backward pass: $\sigma'(a) = \sigma(a)(1 - \sigma(a))$ and $\tanh'(a) = 1 - \tanh^2(a)$.
# The gradient reaching $c_t$ comes from two places: from $h_t$ (through $\tanh(c_t)$) and from
# the next step's cell (`dnext_c`). Write the sigmoid so that it does not overflow for large
# negative inputs (for $a < 0$ use $e^{a} / (1 + e^{a})$).

# %% nbgrader={"grade": false, "grade_id": "lstm_step_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sigmoid(x):
    """The logistic function 1 / (1 + exp(-x)), without overflow for large |x|."""
    ### BEGIN SOLUTION
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    ### END SOLUTION


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """One time step of an LSTM (gate order i, f, o, g).

    Inputs:
    - x: (N, D) input; prev_h: (N, H) hidden state; prev_c: (N, H) cell state.
    - Wx: (D, 4H); Wh: (H, 4H); b: (4H,).

    Returns a tuple:
    - next_h: (N, H); next_c: (N, H).
    - cache: what lstm_step_backward needs.
    """
    next_h, next_c, cache = None, None, None
    ### BEGIN SOLUTION
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b  # (N, 4H)
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H:2 * H])
    o = sigmoid(a[:, 2 * H:3 * H])
    g = np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    tanh_c = np.tanh(next_c)
    next_h = o * tanh_c
    cache = (x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c)
    ### END SOLUTION
    return next_h, next_c, cache


# %% nbgrader={"grade": true, "grade_id": "test_lstm_step_forward", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["lstm_step_forward"]}
_N, _D, _H = 2, 3, 2
_x, _h = np.ones((_N, _D)), np.array([[0.5, -1.0], [2.0, 0.0]])
_c = np.array([[1.0, -2.0], [0.4, 3.0]])
with checking("lstm_step_forward", case="all weights 0: every gate is 1/2 and g = 0", uses=("sigmoid",)):
    _nh, _nc, _ = lstm_step_forward(_x, _h, _c, np.zeros((_D, 4 * _H)), np.zeros((_H, 4 * _H)), np.zeros(4 * _H))
    expect_shape(_nh, (_N, _H), "next_h")
    expect_shape(_nc, (_N, _H), "next_c")
    expect_close(_nc, 0.5 * _c, "next_c (f * prev_c with f = 1/2, i * g = 0)")
    expect_close(_nh, 0.5 * np.tanh(0.5 * _c), "next_h")
with checking("lstm_step_forward", case="gate order i, f, o, g: biases (+20, -20, +20, 0.3) open i and o, close f",
              uses=("sigmoid",)):
    _b = np.repeat([20.0, -20.0, 20.0, 0.3], _H)  # [b_i | b_f | b_o | b_g]
    _nh, _nc, _ = lstm_step_forward(_x, _h, _c, np.zeros((_D, 4 * _H)), np.zeros((_H, 4 * _H)), _b)
    expect_close(_nc, np.full((_N, _H), np.tanh(0.3)), "next_c (forgets prev_c, writes g = tanh(0.3))")
    expect_close(_nh, np.full((_N, _H), np.tanh(np.tanh(0.3))), "next_h")
with checking("sigmoid", case="x = [-1000, 0, 1000]: no overflow"):
    with np.errstate(over="raise"):
        expect_close(sigmoid(np.array([-1000.0, 0.0, 1000.0])), [0.0, 0.5, 1.0], "sigmoid")

# %% nbgrader={"grade": false, "grade_id": "lstm_step_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lstm_step_backward(dnext_h, dnext_c, cache):
    """Backward pass of one LSTM step.

    Inputs:
    - dnext_h: (N, H) gradient of the loss with respect to next_h.
    - dnext_c: (N, H) gradient with respect to next_c (from the next step's cell).
    - cache: from lstm_step_forward.

    Returns a tuple:
    - dx: (N, D); dprev_h: (N, H); dprev_c: (N, H); dWx: (D, 4H); dWh: (H, 4H); db: (4H,).
    """
    dx, dprev_h, dprev_c, dWx, dWh, db = None, None, None, None, None, None
    ### BEGIN SOLUTION
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c = cache
    do = dnext_h * tanh_c
    dc = dnext_c + dnext_h * o * (1 - tanh_c**2)  # both paths into next_c
    di, df, dg = dc * g, dc * prev_c, dc * i
    dprev_c = dc * f
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g**2)], axis=1)
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dWx = x.T @ da
    dWh = prev_h.T @ da
    db = da.sum(axis=0)
    ### END SOLUTION
    return dx, dprev_h, dprev_c, dWx, dWh, db


# %% nbgrader={"grade": true, "grade_id": "test_lstm_step_backward", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["lstm_step_forward", "lstm_step_backward"]}
_rng = np.random.default_rng(15)
_N, _D, _H = 3, 4, 5
_args = [_rng.normal(size=(_N, _D)), _rng.normal(size=(_N, _H)), _rng.normal(size=(_N, _H)),
         _rng.normal(size=(_D, 4 * _H)), _rng.normal(size=(_H, 4 * _H)), _rng.normal(size=4 * _H)]
_dnh, _dnc = _rng.normal(size=(_N, _H)), _rng.normal(size=(_N, _H))
with checking("lstm_step_backward", case="N=3, D=4, H=5: numeric gradients",
              uses=("lstm_step_forward", "sigmoid")):
    _grads = lstm_step_backward(_dnh, _dnc, lstm_step_forward(*_args)[2])
    # both outputs (next_h, next_c) side by side, with their upstream gradients
    expect_numeric_grads(lambda *a: np.concatenate(lstm_step_forward(*a)[:2], axis=1), _args,
                         np.concatenate([_dnh, _dnc], axis=1), _grads,
                         ("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"))

# %% [markdown]
# ## An LSTM over a sequence
#
# As for the vanilla RNN: `h0` is given, the first cell state is zero, and `lstm_forward` returns
# the hidden states of all steps. The cell states are internal: the loss only reads `h`, so the
# gradient arriving at the last cell state is zero, and at every earlier step the cell gradient
# comes only from the step after it.

# %% nbgrader={"grade": false, "grade_id": "lstm_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lstm_forward(x, h0, Wx, Wh, b):
    """An LSTM over a sequence (gate order i, f, o, g), starting from h0 and a zero cell state.

    Inputs:
    - x: (N, T, D); h0: (N, H); Wx: (D, 4H); Wh: (H, 4H); b: (4H,).

    Returns a tuple:
    - h: (N, T, H) the hidden states of all time steps.
    - cache: what lstm_backward needs.
    """
    h, cache = None, None
    ### BEGIN SOLUTION
    N, T, _ = x.shape
    h = np.zeros((N, T, h0.shape[1]), dtype=np.result_type(x, h0, Wx))
    prev_h, prev_c = h0, np.zeros_like(h0)
    cache = []
    for t in range(T):
        prev_h, prev_c, step_cache = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        h[:, t] = prev_h
        cache.append(step_cache)
    ### END SOLUTION
    return h, cache


# %% nbgrader={"grade": true, "grade_id": "test_lstm_forward", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["lstm_step_forward", "lstm_forward"]}
_rng = np.random.default_rng(16)
_N, _T, _D, _H = 2, 3, 4, 5
_x, _h0 = _rng.normal(size=(_N, _T, _D)), _rng.normal(size=(_N, _H))
_Wx, _Wh, _b = _rng.normal(size=(_D, 4 * _H)), _rng.normal(size=(_H, 4 * _H)), _rng.normal(size=4 * _H)
with checking("lstm_forward", case="N=2, T=3, D=4, H=5: the same as three calls of lstm_step_forward",
              uses=("lstm_step_forward", "sigmoid")):
    _h, _ = lstm_forward(_x, _h0, _Wx, _Wh, _b)
    expect_shape(_h, (_N, _T, _H), "h")
    _ph, _pc = _h0, np.zeros((_N, _H))
    for _t in range(_T):
        _ph, _pc, _ = lstm_step_forward(_x[:, _t], _ph, _pc, _Wx, _Wh, _b)
        expect_close(_h[:, _t], _ph, f"h[:, {_t}]")

# %% nbgrader={"grade": false, "grade_id": "lstm_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lstm_backward(dh, cache):
    """Back-propagation through time for an LSTM.

    Inputs:
    - dh: (N, T, H) gradient of the loss with respect to every hidden state (from above).
    - cache: from lstm_forward.

    Returns a tuple:
    - dx: (N, T, D); dh0: (N, H); dWx: (D, 4H); dWh: (H, 4H); db: (4H,).
    """
    dx, dh0, dWx, dWh, db = None, None, None, None, None
    ### BEGIN SOLUTION
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx = np.zeros((N, T, D), dtype=dh.dtype)
    dWx, dWh, db = 0.0, 0.0, 0.0
    dprev_h = np.zeros((N, H), dtype=dh.dtype)
    dprev_c = np.zeros((N, H), dtype=dh.dtype)
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(dh[:, t] + dprev_h, dprev_c, cache[t])
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    dh0 = dprev_h
    ### END SOLUTION
    return dx, dh0, dWx, dWh, db


# %% nbgrader={"grade": true, "grade_id": "test_lstm_backward", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward"]}
_rng = np.random.default_rng(17)
_N, _T, _D, _H = 2, 3, 4, 3
_args = [_rng.normal(size=(_N, _T, _D)), _rng.normal(size=(_N, _H)), _rng.normal(size=(_D, 4 * _H)),
         _rng.normal(size=(_H, 4 * _H)), _rng.normal(size=4 * _H)]
_dh = _rng.normal(size=(_N, _T, _H))
with checking("lstm_backward", case="N=2, T=3, D=4, H=3: numeric gradients",
              uses=("lstm_forward", "lstm_step_forward", "sigmoid", "lstm_step_backward")):
    _grads = lstm_backward(_dh, lstm_forward(*_args)[1])
    expect_numeric_grads(lambda *a: lstm_forward(*a)[0], _args, _dh, _grads, ("dx", "dh0", "dWx", "dWh", "db"))

# %% [markdown]
# **Check yourself.** Follow the gradient of the loss with respect to $c_{t-1}$ along the cell
# path only. Why does it vanish far less easily than in a vanilla RNN? And why do many
# implementations start the forget gate's bias at 1 or more?
#
# <details><summary>Answer</summary>
#
# Along the cell path, $\partial c_t / \partial c_{t-1} = \operatorname{diag}(f_t)$: an
# elementwise product with the forget gate, with no weight matrix and no squashing derivative in
# between. Over many steps the gradient is multiplied by $f_t \odot f_{t-1} \odot \cdots$, which
# stays close to one for as long as the network chooses to keep the memory ($f \approx 1$). In a
# vanilla RNN every step multiplies by $W_h^\top$ and by the tanh derivative, whether or not the
# network "wants" to remember. A forget bias of 1 makes $f = \sigma(1) \approx 0.73$ at the start
# instead of $0.5$, so before anything is learned the memory (and the gradient along it) fades
# over tens of steps rather than a handful (Gers et al., 2000; Jozefowicz et al., 2015).
#
# </details>

# %% [markdown]
# # Part 4: the captioning model
#
# Now put the layers together into a captioner in the style of Vinyals et al. (2015) and
# Karpathy and Fei-Fei (2015):
#
# 1. The image's feature vector (`features`, $D$ numbers) goes through an affine layer to the
#    **initial hidden state**: $h_0 = \text{features}\, W_{\text{proj}} + b_{\text{proj}}$.
#    (Show and Tell instead feeds the image to the LSTM as an input at time $t = -1$, before the
#    first word; both let the image set the state that the words start from.)
# 2. The words are embedded with `W_embed`, and the RNN or LSTM runs over them.
# 3. At every step a temporal affine layer scores the $V$ words (`W_vocab`, `b_vocab`), and the
#    temporal softmax loss compares them with the next word.
#
# **Teacher forcing.** During training the network always reads the *true* previous word, not
# its own guess. A caption `<START> a red circle <END> <NULL>` is split into the input
# `captions[:, :-1]` = `<START> a red circle <END>` and the target `captions[:, 1:]` =
# `a red circle <END> <NULL>`; the mask is `target != <NULL>`. So the word at input position
# $t$ is trained to predict the word at $t + 1$, and `<END>` is a word the model learns to say.
#
# **Sampling** (test time) has no true words: start from `<START>`, and at every step feed the
# word the model scored highest at the previous step (greedy decoding), for at most `max_length`
# words. Once a caption has produced `<END>`, its remaining positions stay `<NULL>`.
#
# The parameters must have these names and shapes ($V$ words, $D$ feature dimension, $W$ word
# vector size, $H$ hidden size; `4H` instead of `H` for the LSTM's gates):
#
# | name | shape | initial value |
# |---|---|---|
# | `W_proj`, `b_proj` | $(D, H)$, $(H,)$ | normal / $\sqrt{D}$, zeros |
# | `W_embed` | $(V, W)$ | normal / 100 |
# | `Wx`, `Wh`, `b` | $(W, H)$, $(H, H)$, $(H,)$ or $(W, 4H)$, $(H, 4H)$, $(4H,)$ | normal / $\sqrt{W}$, normal / $\sqrt{H}$, zeros |
# | `W_vocab`, `b_vocab` | $(H, V)$, $(V,)$ | normal / $\sqrt{H}$, zeros |

# %% nbgrader={"grade": false, "grade_id": "captioning_rnn", "locked": false, "schema_version": 3, "solution": true, "task": false}
class CaptioningRNN:
    """An image captioner: image features -> h0 -> RNN or LSTM over words -> word scores.

    The parameters are in self.params (see the table above); all have the dtype given.
    """

    def __init__(self, word_to_idx, input_dim=1600, wordvec_dim=64, hidden_dim=128, cell_type="rnn",
                 dtype=np.float32, seed=None):
        """
        Inputs:
        - word_to_idx: dict word -> id, with "<NULL>", "<START>" and "<END>" among its words.
        - input_dim: D, the size of an image feature vector.
        - wordvec_dim: W, the size of a word vector; hidden_dim: H.
        - cell_type: "rnn" or "lstm" (anything else is a ValueError).
        - dtype: np.float32 to train fast, np.float64 for gradient checks.
        - seed: seeds np.random.default_rng for the initial weights.
        """
        if cell_type not in ("rnn", "lstm"):
            raise ValueError(f'CaptioningRNN: cell_type must be "rnn" or "lstm", got {cell_type!r}')
        self.cell_type = cell_type
        self.dtype = dtype
        self.word_to_idx = word_to_idx
        self.idx_to_word = {i: w for w, i in word_to_idx.items()}
        self._null = word_to_idx["<NULL>"]
        self._start = word_to_idx["<START>"]
        self._end = word_to_idx["<END>"]
        self.params = {}
        rng = np.random.default_rng(seed)
        V = len(word_to_idx)
        ### BEGIN SOLUTION
        D, W, H = input_dim, wordvec_dim, hidden_dim
        gates = 4 if cell_type == "lstm" else 1
        self.params["W_proj"] = rng.standard_normal((D, H)) / np.sqrt(D)
        self.params["b_proj"] = np.zeros(H)
        self.params["W_embed"] = rng.standard_normal((V, W)) / 100
        self.params["Wx"] = rng.standard_normal((W, gates * H)) / np.sqrt(W)
        self.params["Wh"] = rng.standard_normal((H, gates * H)) / np.sqrt(H)
        self.params["b"] = np.zeros(gates * H)
        self.params["W_vocab"] = rng.standard_normal((H, V)) / np.sqrt(H)
        self.params["b_vocab"] = np.zeros(V)
        ### END SOLUTION
        for k, v in self.params.items():
            self.params[k] = v.astype(self.dtype)

    def loss(self, features, captions):
        """The training loss with teacher forcing, and its gradients.

        Inputs:
        - features: (N, D) image features.
        - captions: (N, T) integer ids: <START>, the words, <END>, then <NULL> padding.

        Returns a tuple:
        - loss: float, the temporal softmax loss of predicting captions[:, 1:] from
          captions[:, :-1] and the image (summed over time, averaged over N; <NULL> targets
          masked).
        - grads: dict with the same keys as self.params, each gradient of the same shape.
        """
        features = np.asarray(features, dtype=self.dtype)
        captions_in, captions_out = captions[:, :-1], captions[:, 1:]
        mask = captions_out != self._null
        loss, grads = 0.0, {}
        ### BEGIN SOLUTION
        p = self.params
        h0 = features @ p["W_proj"] + p["b_proj"]  # (N, H)
        x, embed_cache = word_embedding_forward(captions_in, p["W_embed"])  # (N, T-1, W)
        if self.cell_type == "rnn":
            h, rnn_cache = rnn_forward(x, h0, p["Wx"], p["Wh"], p["b"])
        else:
            h, rnn_cache = lstm_forward(x, h0, p["Wx"], p["Wh"], p["b"])  # (N, T-1, H)
        scores, vocab_cache = temporal_affine_forward(h, p["W_vocab"], p["b_vocab"])  # (N, T-1, V)
        loss, dscores = temporal_softmax_loss(scores, captions_out, mask)
        dh, grads["W_vocab"], grads["b_vocab"] = temporal_affine_backward(dscores, vocab_cache)
        backward = rnn_backward if self.cell_type == "rnn" else lstm_backward
        dx, dh0, grads["Wx"], grads["Wh"], grads["b"] = backward(dh, rnn_cache)
        grads["W_embed"] = word_embedding_backward(dx, embed_cache)
        grads["W_proj"] = features.T @ dh0
        grads["b_proj"] = dh0.sum(axis=0)
        ### END SOLUTION
        return loss, grads

    def sample(self, features, max_length=16):
        """Greedy decoding: at every step feed the best-scored word of the previous step.

        Inputs:
        - features: (N, D) image features; max_length: the number of words to generate.

        Returns:
        - captions: (N, max_length) int64; captions[n, t] is the word generated at step t + 1
          (<START> is not included). After a caption's first <END> (which is included), its
          positions are <NULL>.
        """
        features = np.asarray(features, dtype=self.dtype)
        N = features.shape[0]
        captions = np.full((N, max_length), self._null, dtype=np.int64)
        ### BEGIN SOLUTION
        p = self.params
        h = features @ p["W_proj"] + p["b_proj"]  # (N, H)
        c = np.zeros_like(h)
        word = np.full(N, self._start, dtype=np.int64)
        done = np.zeros(N, dtype=bool)
        for t in range(max_length):
            x = p["W_embed"][word]  # (N, W)
            if self.cell_type == "rnn":
                h, _ = rnn_step_forward(x, h, p["Wx"], p["Wh"], p["b"])
            else:
                h, c, _ = lstm_step_forward(x, h, c, p["Wx"], p["Wh"], p["b"])
            word = np.argmax(h @ p["W_vocab"] + p["b_vocab"], axis=1)
            captions[~done, t] = word[~done]
            done |= word == self._end
            if done.all():
                break
        ### END SOLUTION
        return captions


# %% [markdown]
# The tests use a small vocabulary of seven words and tiny sizes. First the loss and its
# gradients, with the vanilla RNN and with the LSTM (in float64, for the numeric gradients).

# %%
TINY_WORDS = {"<NULL>": 0, "<START>": 1, "<END>": 2, "<UNK>": 3, "red": 4, "circle": 5, "square": 6}
TINY_CAPTIONS = np.array([[1, 4, 5, 2, 0], [1, 6, 2, 0, 0], [1, 4, 6, 5, 2]])  # <START> ... <END> <NULL>
TINY_FEATURES = np.random.default_rng(18).normal(size=(3, 4))


def tiny_model(cell_type, seed=0, dtype=np.float64):
    """A CaptioningRNN with D=4, W=3, H=5 on the seven tiny words."""
    return CaptioningRNN(TINY_WORDS, input_dim=4, wordvec_dim=3, hidden_dim=5, cell_type=cell_type,
                         dtype=dtype, seed=seed)


def expected_param_shapes(cell_type, V=7, D=4, W=3, H=5):
    g = 4 if cell_type == "lstm" else 1
    return {"W_proj": (D, H), "b_proj": (H,), "W_embed": (V, W), "Wx": (W, g * H), "Wh": (H, g * H),
            "b": (g * H,), "W_vocab": (H, V), "b_vocab": (V,)}


def check_captioning_loss(cell_type):
    """The checks of the two test cells below: parameters, a hand-checkable loss, numeric gradients."""
    model = tiny_model(cell_type)
    shapes = expected_param_shapes(cell_type)
    if set(model.params) != set(shapes):
        raise CheckFailed(f"params should have the keys {sorted(shapes)}, got {sorted(model.params)}")
    for k, s in shapes.items():
        expect_shape(model.params[k], s, f'params["{k}"]')
    # With W_vocab = 0 and b_vocab = 0 every word scores the same: each of the 3 + 2 + 4 = 9 real
    # target words (<END> included, <NULL> not) costs ln(7), and the loss averages over 3 captions.
    model.params["W_vocab"][:] = 0
    model.params["b_vocab"][:] = 0
    loss, grads = model.loss(TINY_FEATURES, TINY_CAPTIONS)
    expect_close(loss, 9 * np.log(7) / 3, "the loss with uniform word scores (9 target words, 3 captions)")
    model = tiny_model(cell_type)
    rng = np.random.default_rng(1)
    for k in model.params:  # weights large enough for every gradient to be far from zero
        model.params[k] = 0.5 * rng.normal(size=model.params[k].shape)
    loss, grads = model.loss(TINY_FEATURES, TINY_CAPTIONS)
    for k in sorted(model.params):
        num = eval_numerical_gradient(lambda _: model.loss(TINY_FEATURES, TINY_CAPTIONS)[0], model.params[k])
        expect_grad_close(grads.get(k), num, f'grads["{k}"]', tol=1e-5)


# %% nbgrader={"grade": true, "grade_id": "test_captioning_loss_rnn", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward", "word_embedding", "temporal_affine", "temporal_softmax_loss", "captioning_rnn"]}
with checking("CaptioningRNN.loss (rnn)", case="parameters, uniform scores, numeric gradients",
              uses=("word_embedding_forward", "rnn_forward", "rnn_step_forward", "temporal_affine_forward",
                    "temporal_softmax_loss", "temporal_affine_backward", "rnn_backward", "rnn_step_backward",
                    "word_embedding_backward")):
    check_captioning_loss("rnn")

# %% nbgrader={"grade": true, "grade_id": "test_captioning_loss_lstm", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward", "word_embedding", "temporal_affine", "temporal_softmax_loss", "captioning_rnn"]}
with checking("CaptioningRNN.loss (lstm)", case="parameters, uniform scores, numeric gradients",
              uses=("word_embedding_forward", "lstm_forward", "lstm_step_forward", "sigmoid", "temporal_affine_forward",
                    "temporal_softmax_loss", "temporal_affine_backward", "lstm_backward", "lstm_step_backward",
                    "word_embedding_backward")):
    check_captioning_loss("lstm")

# %% [markdown]
# Then greedy sampling, with random weights and a bias that makes `<END>` likely, so that
# captions end at different steps.

# %% nbgrader={"grade": true, "grade_id": "test_captioning_sample", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["rnn_step_forward", "lstm_step_forward", "captioning_rnn"]}
def sampling_model(cell_type, seed):
    """A tiny model with large random weights whose captions end at different steps."""
    model = tiny_model(cell_type, seed=seed)
    rng = np.random.default_rng(seed)
    for k in model.params:
        model.params[k] = 1.5 * rng.normal(size=model.params[k].shape)
    model.params["b_vocab"][[0, 1, 3]] = -20.0  # never <NULL>, <START> or <UNK>
    model.params["b_vocab"][2] = 1.0  # <END> is likely
    return model


for _cell in ("rnn", "lstm"):
    with checking("CaptioningRNN.sample", case=f'cell_type="{_cell}", 6 images, max_length=7',
                  uses=("rnn_step_forward",) if _cell == "rnn" else ("lstm_step_forward", "sigmoid")):
        _m = sampling_model(_cell, seed=3)
        _feats = np.random.default_rng(19).normal(size=(6, 4))
        _caps = _m.sample(_feats, max_length=7)
        expect_shape(_caps, (6, 7), "captions")
        if not np.issubdtype(np.asarray(_caps).dtype, np.integer):
            raise CheckFailed(f"captions should hold integer ids, got dtype {np.asarray(_caps).dtype}")
        for _n, _row in enumerate(_caps):
            _ends = np.flatnonzero(_row == 2)
            if len(_ends) and np.any(_row[_ends[0] + 1:] != 0):
                raise CheckFailed(f"caption {_n} is {_row}: after its first <END> (2) it should hold only <NULL> (0)")
        # The first word is the best-scored word after <START>, from h0 = features W_proj + b_proj.
        _p = _m.params
        _h0 = _feats @ _p["W_proj"] + _p["b_proj"]
        _x0 = np.repeat(_p["W_embed"][1:2], 6, axis=0)
        _h1 = (rnn_step_forward(_x0, _h0, _p["Wx"], _p["Wh"], _p["b"])[0] if _cell == "rnn" else
               lstm_step_forward(_x0, _h0, np.zeros_like(_h0), _p["Wx"], _p["Wh"], _p["b"])[0])
        expect_equal(_caps[:, 0], np.argmax(_h1 @ _p["W_vocab"] + _p["b_vocab"], axis=1), "captions[:, 0]")

# %% [markdown]
# ## Training: given code
#
# The training loop is given (read it: it is short). `init_captioner_weights` draws the initial
# weights from a seeded generator, so every correct solution starts from the same numbers and
# trains the same way; the scales are those of the table above, except that the word vectors
# start at 0.1 times a normal draw (a little larger than 1/100, which makes the first steps
# faster). `train_captioner` runs Adam (the update rule of assignment 2, copied here) on random
# minibatches of captions, cuts each minibatch to its longest caption, and lowers the learning
# rate along a cosine (lecture 03).

# %% nbgrader={"grade": false, "grade_id": "given_training", "locked": true, "schema_version": 3, "solution": false, "task": false}
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


def init_captioner_weights(model, seed):
    """Draw every parameter of a CaptioningRNN from np.random.default_rng(seed): biases 0,
    W_embed 0.1 * normal, every other matrix normal / sqrt(number of rows)."""
    rng = np.random.default_rng(seed)
    for name in sorted(model.params):
        shape = model.params[name].shape
        if len(shape) == 1:
            w = np.zeros(shape)
        elif name == "W_embed":
            w = 0.1 * rng.standard_normal(shape)
        else:
            w = rng.standard_normal(shape) / np.sqrt(shape[0])
        model.params[name] = w.astype(model.dtype)


def train_captioner(model, features, tokens, image_index, steps, batch_size=64, learning_rate=5e-3,
                    seed=0, progress=True):
    """Adam on model.loss over random minibatches of captions, with a cosine learning rate.

    Inputs:
    - features: (N_images, D) image features; tokens: (M, T) captions (<START> ... <END> <NULL>...);
      image_index: (M,) the image of each caption.
    - steps: number of minibatches; batch_size; learning_rate: the first (largest) rate.
    - seed: seeds the minibatch draws.

    Returns the list of the minibatch losses.
    """
    rng = np.random.default_rng(seed)
    null = model.word_to_idx["<NULL>"]
    configs = {name: {} for name in model.params}
    losses = []
    for it in tqdm(range(steps), desc=f"training the {model.cell_type}", disable=not progress, leave=False):
        batch = rng.integers(0, len(tokens), size=batch_size)
        captions = tokens[batch]
        length = int((captions != null).sum(axis=1).max())  # the longest caption of the batch
        loss, grads = model.loss(features[image_index[batch]], captions[:, :length])
        lr = learning_rate * 0.5 * (1 + math.cos(math.pi * it / steps))
        for name, w in model.params.items():
            configs[name]["learning_rate"] = lr
            model.params[name], configs[name] = adam(w, np.asarray(grads[name], dtype=w.dtype), configs[name])
        losses.append(float(loss))
    return losses


# %% [markdown]
# ## Sanity check: learn 50 captions by heart
#
# A model that can fit anything at all must be able to memorise a handful of examples. Here are
# 50 captions of 50 different training scenes (one each, so every caption has its own image):
# both captioners should drive the training loss close to zero in 200 steps.

# %%
small_index = np.arange(50) * 5  # the first caption of scenes 0..49
small_tokens = train_data.tokens[small_index]
small_image = train_data.image_index[small_index]
OVERFIT = dict(steps=200, batch_size=25, learning_rate=1e-2, seed=0, progress=False)
with needs("CaptioningRNN.__init__", "CaptioningRNN.loss"):
    fig, ax = plt.subplots(figsize=(7, 3))
    for _cell in ("rnn", "lstm"):
        _m = CaptioningRNN(vocab.word_to_idx, train_features.shape[1], 64, 128, cell_type=_cell, seed=0)
        init_captioner_weights(_m, seed=5)
        _losses = train_captioner(_m, train_features, small_tokens, small_image, **OVERFIT)
        print(f"{_cell}: loss on the 50 captions after training "
              f"{_m.loss(train_features[small_image], small_tokens)[0]:.4f}")
        ax.semilogy(_losses, label=_cell)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (per caption)")
    ax.set_title("memorising 50 captions")
    ax.legend()
    plt.show()


# %% nbgrader={"grade": true, "grade_id": "test_overfit_rnn", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward", "word_embedding", "temporal_affine", "temporal_softmax_loss", "captioning_rnn"]}
def check_overfit(cell_type):
    model = CaptioningRNN(vocab.word_to_idx, train_features.shape[1], 64, 128, cell_type=cell_type, seed=0)
    init_captioner_weights(model, seed=5)  # the same initial weights for everyone
    train_captioner(model, train_features, small_tokens, small_image, **OVERFIT)
    loss = float(model.loss(train_features[small_image], small_tokens)[0])
    print(f"{cell_type}: training loss on the 50 captions {loss:.4f}")
    if not loss < 0.1:
        raise CheckFailed(f"the loss on the 50 captions is {loss:.4f} after training; it should be below 0.1")


_uses = ("CaptioningRNN.loss",
         "word_embedding_forward", "rnn_forward", "rnn_step_forward", "temporal_affine_forward",
         "temporal_softmax_loss", "temporal_affine_backward", "rnn_backward", "rnn_step_backward",
         "word_embedding_backward")
with checking("CaptioningRNN (rnn) trained by train_captioner", case="memorising 50 captions", uses=_uses):
    check_overfit("rnn")

# %% nbgrader={"grade": true, "grade_id": "test_overfit_lstm", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward", "word_embedding", "temporal_affine", "temporal_softmax_loss", "captioning_rnn"]}
_uses = ("CaptioningRNN.loss",
         "word_embedding_forward", "lstm_forward", "lstm_step_forward", "sigmoid", "temporal_affine_forward",
         "temporal_softmax_loss", "temporal_affine_backward", "lstm_backward", "lstm_step_backward",
         "word_embedding_backward")
with checking("CaptioningRNN (lstm) trained by train_captioner", case="memorising 50 captions", uses=_uses):
    check_overfit("lstm")

# %% [markdown]
# # Part 5: BLEU
#
# How good is a generated caption? BLEU (Papineni et al., 2002) counts how many of its word
# sequences also occur in reference sentences. For $n = 1, \dots, 4$ and a **corpus** of
# candidates $c$, each with its references $R_c$:
#
# $$ p_n = \frac{\sum_{c} \sum_{g \in \text{n-grams}(c)} \min\bigl(\text{count}_c(g),\
#          \max_{r \in R_c} \text{count}_r(g)\bigr)}
#         {\sum_{c} \sum_{g \in \text{n-grams}(c)} \text{count}_c(g)}. $$
#
# The **clipping** by the largest count in a single reference stops "the the the the" from
# scoring: an n-gram is only credited as many times as one reference uses it. Precision alone
# rewards short candidates, so a **brevity penalty** compares the total candidate length $C$ with
# the total length $R$ of the references whose length is closest to each candidate's (the
# shorter one on a tie):
#
# $$ \text{BP} = \begin{cases} 1 & C > R \\ e^{\,1 - R / C} & C \le R \end{cases}, \qquad
#    \text{BLEU-4} = \text{BP} \cdot \exp\Bigl(\tfrac14 \sum_{n=1}^{4} \log p_n\Bigr). $$
#
# Write the **corpus-level** BLEU: add the clipped matches and the n-gram counts of all
# candidates first, then divide (this is how BLEU is defined and reported; averaging per-sentence
# scores gives a different number). If no n-gram of some order matches anywhere, $\log p_n$ would
# be $-\infty$; use **smoothing** method 1 of Chen and Cherry (2014) instead: replace a zero match
# count by $\epsilon = 0.1$, i.e. $p_n = \max(m_n, 0.1) / \max(c_n, 1)$ with $m_n$ the clipped
# matches and $c_n$ the number of n-grams of order $n$. An empty corpus (all candidates empty)
# scores 0. Sentences are strings of words separated by spaces.

# %% nbgrader={"grade": false, "grade_id": "bleu", "locked": false, "schema_version": 3, "solution": true, "task": false}
def bleu(candidates, references, n=4):
    """Corpus-level BLEU with the brevity penalty and smoothing method 1 (epsilon 0.1).

    Inputs:
    - candidates: list of M strings (generated sentences, words separated by spaces).
    - references: list of M lists of strings; references[m] are the references of candidates[m].
    - n: the largest n-gram order (4 for BLEU-4).

    Returns:
    - score: float in [0, 1].
    """
    if len(candidates) != len(references):
        raise ValueError(f"bleu: {len(candidates)} candidates but {len(references)} lists of references")
    score = 0.0
    ### BEGIN SOLUTION
    def ngram_counts(words, k):
        return Counter(tuple(words[i:i + k]) for i in range(len(words) - k + 1))

    matches, totals = np.zeros(n), np.zeros(n)
    cand_len = ref_len = 0
    for cand, refs in zip(candidates, references):
        c = cand.split()
        rs = [r.split() for r in refs]
        cand_len += len(c)
        ref_len += len(min(rs, key=lambda r: (abs(len(r) - len(c)), len(r))))
        for k in range(1, n + 1):
            best = Counter()
            for r in rs:
                best |= ngram_counts(r, k)  # elementwise max over the references
            counts = ngram_counts(c, k)
            matches[k - 1] += sum(min(m, best[g]) for g, m in counts.items())
            totals[k - 1] += max(len(c) - k + 1, 0)
    if cand_len == 0:
        return 0.0
    p = np.maximum(matches, 0.1) / np.maximum(totals, 1)
    bp = 1.0 if cand_len > ref_len else math.exp(1 - ref_len / cand_len)
    score = float(bp * math.exp(np.mean(np.log(p))))
    ### END SOLUTION
    return score


# %% nbgrader={"grade": true, "grade_id": "test_bleu", "locked": true, "points": 7, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["bleu"]}
with checking("bleu", case="a candidate equal to one of its references"):
    expect_close(bleu(["a large red circle left of a small blue square"],
                      [["two circles", "a large red circle left of a small blue square"]]), 1.0, "BLEU-4")
with checking("bleu", case="clipping: 'the the the the the the the' (Papineni et al.'s example), BLEU-1"):
    # 'the' occurs at most twice in one reference: p1 = 2/7; the second reference has 7 words, as
    # many as the candidate, so there is no brevity penalty.
    expect_close(bleu(["the the the the the the the"], [["the cat is on the mat", "there is a cat on the mat"]],
                      n=1), 2 / 7, "BLEU-1")
with checking("bleu", case="'a red circle' against 'a red circle left of a square': brevity and smoothing"):
    # p1 = p2 = p3 = 1; no 4-gram: p4 = 0.1 / 1; C = 3 <= R = 7: BP = exp(1 - 7/3).
    expect_close(bleu(["a red circle"], [["a red circle left of a square"]]),
                 math.exp(1 - 7 / 3) * 0.1 ** 0.25, "BLEU-4")
with checking("bleu", case="corpus level: the counts of two candidates are added before dividing"):
    # 1-grams: 3 of 3 and 2 of 4 words match: p1 = 5/7 (the mean of the two sentences'
    # precisions would be 0.75); C = 7 = R: BP = 1.
    expect_close(bleu(["a red circle", "two big green squares"], [["a red circle"], ["two squares and more"]], n=1),
                 5 / 7, "BLEU-1")

# %% [markdown]
# **Check yourself.** A model that answers every image with the same sentence, "there is a small
# green triangle at the top", gets the BLEU-4 printed below on the 300 test scenes (your `bleu`
# computes it). How can a caption that is wrong for most images score so much, and what does
# that say about reading a BLEU number on its own?

# %%
_same = "there is a small green triangle at the top"
with needs("bleu"):
    print(f"BLEU-4 of '{_same}' for each of the {len(test_data.captions)} test scenes: "
          f"{bleu([_same] * len(test_data.captions), test_data.captions):.2f}")

# %% [markdown]
# <details><summary>Answer</summary>
#
# The grammar reuses the same phrases for every scene: "there is a", "a small", "at the top",
# "at the" appear in the references of most images, and the sentence has the typical length, so
# its n-gram precisions are far from zero and there is no brevity penalty. Only the words that
# carry the content (the colour, the class, the place) fail to match, and they are a minority of
# the 4-grams. A BLEU score therefore means little without a **baseline** that shows what a
# model earns without looking at the image; on real captions (COCO) the same effect makes
# "a man riding a horse"-style generic sentences score well. That is why the next part reports
# a language-only baseline next to your models.
#
# </details>

# %% [markdown]
# # Part 6: training the captioners
#
# Both captioners train on the 9407 captions of the 2000 training scenes (scenes with a single
# object have only four different captions) with the given loop: the LSTM for 600 minibatches
# of 64, the vanilla RNN, about three times cheaper per step, for 900. The next two cells are
# given; they use your `CaptioningRNN` and draw the initial weights themselves, so that every
# correct solution trains the same way. Each takes 5 to 15 seconds on a laptop (more if your
# layers are slower than they need to be: the grader allows three minutes per cell).

# %% nbgrader={"grade": false, "grade_id": "train_lstm", "locked": true, "schema_version": 3, "solution": false, "task": false}
CAPTIONER = dict(wordvec_dim=64, hidden_dim=128)
TRAINING = dict(batch_size=64, learning_rate=5e-3, seed=0)
lstm_model = None  # set below once training has finished
with needs("CaptioningRNN.__init__", "CaptioningRNN.loss"):
    _model = CaptioningRNN(vocab.word_to_idx, train_features.shape[1], cell_type="lstm", **CAPTIONER)
    init_captioner_weights(_model, seed=1)
    _t0 = time.perf_counter()
    lstm_losses = train_captioner(_model, train_features, train_data.tokens, train_data.image_index,
                                  steps=600, **TRAINING)
    caption_train_seconds = time.perf_counter() - _t0
    lstm_model = _model
    print(f"LSTM captioner trained in {caption_train_seconds:.1f} s")

# %% nbgrader={"grade": false, "grade_id": "train_rnn", "locked": true, "schema_version": 3, "solution": false, "task": false}
rnn_model = None
with needs("CaptioningRNN.__init__", "CaptioningRNN.loss"):
    _model = CaptioningRNN(vocab.word_to_idx, train_features.shape[1], cell_type="rnn", **CAPTIONER)
    init_captioner_weights(_model, seed=1)
    _t0 = time.perf_counter()
    rnn_losses = train_captioner(_model, train_features, train_data.tokens, train_data.image_index,
                                 steps=900, **TRAINING)
    rnn_train_seconds = time.perf_counter() - _t0
    rnn_model = _model
    print(f"RNN captioner trained in {rnn_train_seconds:.1f} s")

with needs("CaptioningRNN.__init__", "CaptioningRNN.loss"):
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), sharey=True)
    plot_loss_history(axes[0], lstm_losses, title="LSTM captioner: training loss", smooth=25)
    plot_loss_history(axes[1], rnn_losses, title="RNN captioner: training loss", smooth=25)
    axes[0].set_ylim(4, 12)  # the first steps start near 31 = (about 8.6 words per caption) x ln(36 words)
    axes[0].set_ylabel("loss (per caption)")
    axes[1].set_ylabel("")
    plt.show()

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_loss_floor_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 1 (3 points)
#
# In the sanity check above, both captioners drove the loss on 50 captions close to zero. In the
# two curves just above, trained on all the training captions, the loss levels off far above
# zero. Explain why no model, however large and however long it trains, can bring this training
# loss to zero, and work out by hand a lower bound for it from the way the training set was made
# (see the data section at the top). Answer in four to six sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_loss_floor", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** The targets are not a function of the input. In the sanity check every scene
# has one caption, so the image and the words so far decide the next word, and a model can give
# it a probability close to one. In the full training set every scene has five different
# captions (four for a scene with one object): the same image and the same prefix (at the first
# step, just `<START>`) are followed by different words in different captions, and the
# cross-entropy charges $-\log q$ for each of them. For a scene with $k$ captions, the mean of
# $-\log q(\text{caption}_j)$ under the constraint $\sum_j q(\text{caption}_j) \le 1$ is
# smallest when $q = 1/k$ for each, so even a model that memorised which captions each training
# scene has pays at least $\ln 5 \approx 1.61$ per caption of a scene with five captions
# ($\ln 4 \approx 1.39$ with four). A model that generalises cannot know which five captions the
# grammar happened to draw for a scene: it has to spread its probability over everything the
# grammar could have said about it (which object or pair, how much detail, "there is" or not),
# so its floor is higher still. Only the part of the loss above that floor is error (features
# that mislabel cells, what the model has not learnt yet) that a larger model or more training
# could remove.
#
# **Rubric (3 points).**
# - 1 point: the same input (image and prefix) is followed by different words, because each scene
#   has several different captions; with one caption per scene (the sanity check) the next word
#   is determined and the loss can approach zero.
# - 1 point: the bound worked out by hand: spreading probability $1/k$ over a scene's $k$
#   captions costs at least $\ln 5 \approx 1.6$ per caption ($\ln 4$ for the one-object scenes),
#   and only a model that memorises the training captions gets that low.
# - 1 point: a model that generalises must also give probability to captions the grammar could
#   have written but did not draw, so its floor is higher; more training or a larger model can
#   remove only the part of the loss above the floor.

# %% [markdown]
# ## How good are the captions?
#
# Every test scene has all the captions the grammar wrote for it as references, and each model
# writes one caption per scene by greedy decoding. Next to the two models, three baselines show
# what a model earns **without** the right image:
#
# - **language only**: the trained LSTM given an all-zero feature vector (the average image,
#   since the features are standardised). It can only say the sentence that is likely for any
#   scene.
# - **wrong image**: the trained LSTM given the features of another test scene.
# - **most frequent caption**: the training set's most common caption, for every scene.
#
# The last line scores the LSTM's captions against only the first 5 references of each scene.
# BLEU depends on how many references there are: with fewer of them, a correct caption that
# happens to say something else than the references loses its credit.

# %%
def describe(tokens):
    """(N, T) ids -> list of N sentences."""
    return [vocab.decode(row) for row in tokens]


test_refs = test_data.captions
with needs("CaptioningRNN.sample", "bleu"):
    if lstm_model is None or rnn_model is None:
        raise RuntimeError("train both captioners first: the two training cells above did not finish")
    lstm_captions = describe(lstm_model.sample(test_features))
    rnn_captions = describe(rnn_model.sample(test_features))
    bleu4_lstm = bleu(lstm_captions, test_refs)
    bleu4_rnn = bleu(rnn_captions, test_refs)
    bleu4_baseline = bleu(describe(lstm_model.sample(np.zeros_like(test_features))), test_refs)
    _other = np.roll(np.arange(len(test_features)), 1)  # scene i gets the features of scene i - 1
    bleu4_wrong_image = bleu(describe(lstm_model.sample(test_features[_other])), test_refs)
    most_frequent = Counter(c for cs in train_data.captions for c in cs).most_common(1)[0][0]
    bleu4_most_frequent = bleu([most_frequent] * len(test_refs), test_refs)
    print(f"BLEU-4 on {len(test_refs)} held-out scenes (all references):")
    print(f"  LSTM captioner                   {bleu4_lstm:.3f}")
    print(f"  RNN captioner                    {bleu4_rnn:.3f}")
    print(f"  language only (features zeroed)  {bleu4_baseline:.3f}   "
          f"'{describe(lstm_model.sample(np.zeros_like(test_features[:1])))[0]}'")
    print(f"  wrong image                      {bleu4_wrong_image:.3f}")
    print(f"  most frequent caption            {bleu4_most_frequent:.3f}   '{most_frequent}'")
    print(f"  LSTM, first 5 references only    {bleu(lstm_captions, [r[:5] for r in test_refs]):.3f}")


# %% [markdown] nbgrader={"grade": false, "grade_id": "written_bleu_baselines_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 2 (3 points)
#
# Read the table just printed. The most frequent caption of the training set (printed beside its
# score) scores far below the language-only model, although neither of them looks at the image.
# Explain why, in terms of the pieces of BLEU (the n-gram precisions $p_1, \dots, p_4$ and the
# brevity penalty), and why the most frequent caption of this training set is a sentence of that
# kind. Then say what the difference between your LSTM's score and the language-only score
# measures. Answer in four to six sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_bleu_baselines", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** The most frequent caption is a count caption of two words. Short captions
# recur word for word in many scenes (every scene whose only object is a circle has "a circle"),
# while the longer ones name sizes, colours and places and seldom repeat exactly, so the
# commonest caption is bound to be a short one. A two-word candidate has no 3-grams or 4-grams,
# so $p_3$ and $p_4$ fall to the smoothing value $0.1$, which alone multiplies the score by
# $(0.1 \cdot 0.1)^{1/4} = \sqrt{0.1} \approx 0.32$; and for most scenes even the reference
# closest in length is longer, so the brevity penalty $e^{1 - R/C}$ cuts the score again. The
# language-only model writes a sentence of the usual length from the grammar's commonest words
# and phrases ("a large ...", "at the ..."): it has n-grams of every order, many of its words and
# word pairs occur in the references, and it pays little or no brevity penalty; only its content
# words are wrong for most scenes. The difference between the LSTM and the language-only model is
# what looking at the image adds: the n-grams that name the right sizes, colours, classes and
# places of the objects that are really there.
#
# **Rubric (3 points).**
# - 1 point: the most frequent caption is short because short (count) captions recur word for
#   word across scenes, while longer ones rarely do.
# - 1 point: BLEU's mechanics: two words give no 3- or 4-grams ($p_3$, $p_4$ at the smoothing
#   value) and a heavy brevity penalty, while the language-only sentence has the usual length
#   and common phrases that match at every order.
# - 1 point: the gap between the LSTM and the language-only model measures what the image
#   contributes (the right content words: size, colour, class, place), not fluency.

# %% nbgrader={"grade": true, "grade_id": "test_lstm_bleu", "locked": true, "points": 7, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward", "word_embedding", "temporal_affine", "temporal_softmax_loss", "captioning_rnn", "bleu"]}
def check_trained_captioner(model, cell_type, target):
    """BLEU-4 of a trained captioner's greedy captions on the test scenes, and of the same model
    without the image."""
    if model is None:
        # Find the function that stopped the training cell (its NotImplementedError becomes the message).
        _m = tiny_model(cell_type)
        _m.loss(TINY_FEATURES, TINY_CAPTIONS)
        _m.sample(TINY_FEATURES, 3)
        bleu(["a red circle"], [["a red circle"]])
        raise CheckFailed(f"the {cell_type} model is None: run the training cell above to its end (Run > Run All "
                          "Above), then this test again.")
    if model.cell_type != cell_type:
        raise CheckFailed(f"the model's cell_type is {model.cell_type!r}, expected {cell_type!r}")
    score = bleu(describe(model.sample(test_features)), test_refs)
    without = bleu(describe(model.sample(np.zeros_like(test_features))), test_refs)
    print(f"{cell_type}: BLEU-4 {score:.3f}, language only {without:.3f}")
    expect_at_least(score, target, f"the BLEU-4 of the {cell_type} captioner on the test scenes")
    expect_at_least(score - without, 0.15, "how much the image adds (BLEU-4 minus that of the language-only model)")


_uses = ("CaptioningRNN.loss", "CaptioningRNN.sample", "bleu",
         "word_embedding_forward", "lstm_forward", "lstm_step_forward", "sigmoid", "temporal_affine_forward",
         "temporal_softmax_loss", "temporal_affine_backward", "lstm_backward", "lstm_step_backward",
         "word_embedding_backward")
with checking("CaptioningRNN (lstm) trained on the shapes captions", case="BLEU-4 on 300 held-out scenes",
              uses=_uses):
    check_trained_captioner(lstm_model, "lstm", 0.5)

# %% nbgrader={"grade": true, "grade_id": "test_rnn_bleu", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward", "word_embedding", "temporal_affine", "temporal_softmax_loss", "captioning_rnn", "bleu"]}
_uses = ("CaptioningRNN.loss", "CaptioningRNN.sample", "bleu",
         "word_embedding_forward", "rnn_forward", "rnn_step_forward", "temporal_affine_forward",
         "temporal_softmax_loss", "temporal_affine_backward", "rnn_backward", "rnn_step_backward",
         "word_embedding_backward")
with checking("CaptioningRNN (rnn) trained on the shapes captions", case="BLEU-4 on 300 held-out scenes",
              uses=_uses):
    check_trained_captioner(rnn_model, "rnn", 0.5)

# %% [markdown]
# Your captioners on eight test scenes they have never seen. Compare each sentence with the
# picture. Many are right; the mistakes are instructive: the colours of two overlapping objects
# swapped, an object that is not there, a relation that points the wrong way. The features
# come from an 8 x 8 grid whose object cells the encoder labels right only as often as the
# `encoder:` line at the top says, and a relation such as "left of" needs two objects seen
# correctly at once.

# %%
_show = np.arange(8)
with needs("CaptioningRNN.sample"):
    show_captioned(test_data.scenes.images[_show],
                   [[f"LSTM: {lstm_captions[i]}", f"RNN: {rnn_captions[i]}"] for i in _show], ncols=4,
                   suptitle="greedy captions of held-out scenes")
    plt.show()

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_rnn_against_lstm_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 3 (3 points)
#
# Compare your two captioners: their BLEU-4 in the table printed above, their captions in this
# figure, and how fast each learned the 50 captions by heart in the sanity check. Part 3
# explained why the LSTM keeps gradients alive over long spans where the vanilla RNN's vanish.
# Why does that advantage hardly show in this task? Name one change to the task under which you
# would expect the LSTM to pull clearly ahead, and say why. Answer in three to five sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_rnn_against_lstm", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** The two are close: their BLEU-4 scores differ by much less than either
# differs from the baselines, both write fluent captions, and the vanilla RNN learned the 50
# captions no slower than the LSTM. Vanishing gradients are a problem of long spans: the
# gradient that reaches a state $k$ steps back has been multiplied $k$ times by
# $\operatorname{diag}(1 - h_t^2)\, W_h^\top$, and here $k$ stays small. A caption is one sentence
# of at most ten words ("a large red circle left of a small blue square"), so the network runs a
# dozen steps or fewer; the image, which enters through $h_0$, is needed at most that far on, and
# most words depend on the last few ("at the" is followed by a place). Teacher forcing also puts
# a loss at every step, so the error of each word has a short path back to what it depends on.
# (The comparison is at a similar cost, not at equal steps: the RNN's steps are cheaper, and it
# trains for 900 of them against the LSTM's 600.) The LSTM should pull ahead when the
# dependencies grow long, for example with captions written one character at a time (a caption
# becomes several dozen steps) or with paragraphs that describe every object of a scene, whose
# last sentence still needs what $h_0$ said: over such spans the vanilla RNN's gradient shrinks
# geometrically, while along the LSTM's cell it is multiplied only by forget gates that can stay
# close to one.
#
# **Rubric (3 points).**
# - 1 point: a correct reading of the evidence: the two captioners are close (a small BLEU
#   difference next to their lead over the baselines; the RNN memorises no slower).
# - 1 point: the reason: the sequences are short (a dozen steps at most, each word depending on
#   $h_0$ and the last few words), so the product of the per-step factors
#   $\operatorname{diag}(1 - h_t^2)\, W_h^\top$ is short and the vanilla RNN's gradient does not
#   vanish along it.
# - 1 point: a change that creates long dependencies (characters instead of words, paragraphs,
#   something needed many steps after it entered), with the reason: the vanilla RNN's gradient
#   decays geometrically with the span, while the LSTM's cell path is scaled only by its forget
#   gates.

# %% [markdown]
# # Part 7: beam search
#
# Greedy decoding commits to the best word at every step, but the most probable *sentence* need
# not start with the most probable word. **Beam search** keeps the `beam_width` best partial
# captions (hypotheses) instead of one. A hypothesis's score is the sum of the log-probabilities
# of its words, $\sum_t \log p(w_t \mid w_{<t}, \text{image})$, `<END>` included.
#
# 1. Start with one hypothesis: just `<START>`, score 0, from the image's $h_0$.
# 2. At every step, extend every **unfinished** hypothesis by every word of the vocabulary
#    (score plus that word's log-probability, from a log-softmax of the scores). A
#    **finished** hypothesis (its last word is `<END>`) stays as it is, with its score, as one
#    candidate. Of all candidates keep the `beam_width` with the highest scores.
# 3. Stop when every kept hypothesis is finished, or after `max_length` words.
# 4. Return the best kept hypothesis. Scores are sums of negative numbers, so long captions score
#    lower; with `length_normalize=True`, rank the final hypotheses by score divided by their
#    number of words (`<END>` counted; an unfinished one has `max_length`) instead. During the
#    search (step 2) the ranking is always by the plain score.
#
# Each hypothesis needs its own hidden (and cell) state: keep them as the rows of `(k, H)`
# arrays, and reorder the rows when the beam changes. A loop over the images is fine. With
# `beam_width=1` the search is greedy decoding; a test checks that it gives the same captions as
# your `sample`. (The tests never make `<NULL>` or `<START>` likely as next words, so your search
# may consider them or not.)

# %% nbgrader={"grade": false, "grade_id": "beam_search", "locked": false, "schema_version": 3, "solution": true, "task": false}
def beam_search(model, features, beam_width=3, max_length=16, length_normalize=True):
    """Beam search decoding with a trained CaptioningRNN.

    Inputs:
    - model: a CaptioningRNN (cell_type "rnn" or "lstm"), used through model.params,
      model.cell_type and its <START>, <END>, <NULL> ids.
    - features: (N, D) image features.
    - beam_width: k, the number of hypotheses kept; max_length: the most words per caption.
    - length_normalize: rank the final hypotheses by score / length instead of score.

    Returns:
    - captions: (N, max_length) int64 in the format of model.sample: the words after <START>,
      the first <END> included, <NULL> after it.
    """
    features = np.asarray(features, dtype=model.dtype)
    N = features.shape[0]
    null, start, end = model.word_to_idx["<NULL>"], model.word_to_idx["<START>"], model.word_to_idx["<END>"]
    captions = np.full((N, max_length), null, dtype=np.int64)
    ### BEGIN SOLUTION
    p = model.params
    H0 = features @ p["W_proj"] + p["b_proj"]  # (N, H)
    for n in range(N):
        h = H0[n:n + 1]  # (k, H), one row per hypothesis
        c = np.zeros_like(h)
        seqs = np.zeros((1, 0), dtype=np.int64)  # (k, t) words so far
        scores = np.zeros(1)
        done = np.zeros(1, dtype=bool)
        last = np.array([start])
        for _ in range(max_length):
            x = p["W_embed"][last]
            if model.cell_type == "rnn":
                h, _ = rnn_step_forward(x, h, p["Wx"], p["Wh"], p["b"])
            else:
                h, c, _ = lstm_step_forward(x, h, c, p["Wx"], p["Wh"], p["b"])
            s = (h @ p["W_vocab"] + p["b_vocab"]).astype(np.float64)  # (k, V)
            logp = s - s.max(axis=1, keepdims=True)
            logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
            cand = scores[:, None] + logp  # (k, V) every extension
            cand[done] = -np.inf
            cand[done, null] = scores[done]  # a finished hypothesis is one candidate, unchanged
            flat = cand.ravel()
            top = np.argsort(-flat, kind="stable")[:min(beam_width, int(np.isfinite(flat).sum()))]
            rows, words = np.divmod(top, cand.shape[1])
            words = np.where(done[rows], null, words)
            seqs = np.concatenate([seqs[rows], words[:, None]], axis=1)
            scores, done = flat[top], done[rows] | (words == end)
            h, c, last = h[rows], c[rows], words
            if done.all():
                break
        lengths = np.array([np.flatnonzero(r == end)[0] + 1 if (r == end).any() else max_length for r in seqs])
        best = seqs[np.argmax(scores / lengths if length_normalize else scores)]
        captions[n, :len(best)] = best
    ### END SOLUTION
    return captions


# %% nbgrader={"grade": true, "grade_id": "test_beam_search", "locked": true, "points": 8, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["rnn_step_forward", "lstm_step_forward", "captioning_rnn", "beam_search"]}
def caption_log_prob(model, feature, words):
    """log p(words | image) of one caption (a list of ids, <END> included if it ended)."""
    p = model.params
    h = (feature @ p["W_proj"] + p["b_proj"])[None]  # (1, H)
    c, total, prev = np.zeros_like(h), 0.0, model.word_to_idx["<START>"]
    for w in words:
        x = p["W_embed"][prev][None]  # (1, W)
        if model.cell_type == "rnn":
            h, _ = rnn_step_forward(x, h, p["Wx"], p["Wh"], p["b"])
        else:
            h, c, _ = lstm_step_forward(x, h, c, p["Wx"], p["Wh"], p["b"])
        s = (h @ p["W_vocab"] + p["b_vocab"])[0].astype(np.float64)
        total += s[w] - s.max() - np.log(np.exp(s - s.max()).sum())
        prev = w
    return total


def best_by_enumeration(model, feature, max_length, length_normalize):
    """The best caption over ALL captions of up to max_length words (tiny vocabularies only)."""
    words = [w for w in model.word_to_idx.values() if w not in (0, 1)]
    end = model.word_to_idx["<END>"]
    best, best_score, frontier = None, -np.inf, [[]]
    for t in range(max_length):
        frontier = [seq + [w] for seq in frontier for w in words]
        for seq in frontier:
            if seq[-1] == end or t == max_length - 1:
                score = caption_log_prob(model, feature, seq)
                score = score / len(seq) if length_normalize else score
                if score > best_score:
                    best, best_score = seq, score
        frontier = [seq for seq in frontier if seq[-1] != end]
    return best


for _cell in ("rnn", "lstm"):
    with checking("beam_search", case=f'cell_type="{_cell}", beam_width=1 gives the greedy captions',
                  uses=("CaptioningRNN.sample",)
                  + (("rnn_step_forward",) if _cell == "rnn" else ("lstm_step_forward", "sigmoid"))):
        _m = sampling_model(_cell, seed=7)
        _feats = np.random.default_rng(20).normal(size=(5, 4))
        _got = beam_search(_m, _feats, beam_width=1, max_length=6)
        expect_shape(_got, (5, 6), "captions")
        expect_equal(_got, _m.sample(_feats, max_length=6), "beam_search(beam_width=1) against sample")
    for _norm in (False, True):
        with checking("beam_search", case=f'cell_type="{_cell}", a beam wider than all captions of 3 words '
                                           f'finds the best one (length_normalize={_norm})',
                      uses=("rnn_step_forward",) if _cell == "rnn" else ("lstm_step_forward", "sigmoid")):
            _m = sampling_model(_cell, seed=8)
            _m.params["b_vocab"][2] = 0.0
            _feats = np.random.default_rng(21).normal(size=(3, 4))
            _got = beam_search(_m, _feats, beam_width=200, max_length=3, length_normalize=_norm)
            for _n in range(3):
                _best = best_by_enumeration(_m, _feats[_n], 3, _norm)
                _row = list(_got[_n][:len(_best)])
                if _row != _best:
                    raise CheckFailed(f"image {_n}: the best caption is {_best} (log-prob "
                                      f"{caption_log_prob(_m, _feats[_n], _best):.4f}), beam_search returned "
                                      f"{list(_got[_n])}")

# %% [markdown]
# ## Greedy against beam
#
# The trained LSTM with beams of 3 and 5, with and without length normalisation, on all test
# scenes, and the captions of six scenes side by side.

# %%
with needs("beam_search", "bleu"):
    _t0 = time.perf_counter()
    beam_captions = {}
    for _k, _norm in ((3, True), (3, False), (5, True)):
        beam_captions[_k, _norm] = describe(beam_search(lstm_model, test_features, beam_width=_k,
                                                        length_normalize=_norm))
    print(f"beam searches in {time.perf_counter() - _t0:.1f} s")
    print(f"BLEU-4 of the LSTM captioner:   greedy {bleu4_lstm:.3f}   "
          f"({np.mean([len(c.split()) for c in lstm_captions]):.1f} words per caption)")
    for (_k, _norm), _caps in beam_captions.items():
        _words = np.mean([len(c.split()) for c in _caps])
        print(f"  beam {_k}, {'length-normalised' if _norm else 'plain score      '}  "
              f"{bleu(_caps, test_refs):.3f}   ({_words:.1f} words per caption)")
    bleu4_lstm_beam = bleu(beam_captions[3, True], test_refs)

    _show = np.arange(8, 14)
    show_captioned(test_data.scenes.images[_show],
                   [[f"greedy: {lstm_captions[i]}", f"beam 3: {beam_captions[3, True][i]}",
                     f"beam 3, plain: {beam_captions[3, False][i]}"] for i in _show], ncols=3,
                   suptitle="the LSTM captioner: greedy against beam search")
    plt.show()

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_beam_first_word_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 4 (4 points)
#
# In the figure above every greedy caption begins with "a", while beam search often writes
# "there is a ...": it chooses a first word that greedy decoding passed over. Explain how the
# sentence that beam search finds can begin with a word that was not the most probable first
# word; think about which kinds of caption the grammar begins with "a" and which with "there",
# and in how many ways each can go on. Then say why these captions earn a higher BLEU than the
# greedy ones in the lines printed above. Answer in four to six sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_beam_first_word", "locked": false, "points": 4, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** Greedy decoding picks each word by its own conditional probability, and the
# first word "a" collects the probability of almost every kind of caption: relations ("a large
# red circle left of ..."), locations without the opening "there is", counts ("a circle and two
# squares") and "a single ..." captions, while "there" opens only location captions, and only
# half of them. But a sentence's probability is the product
# $p(w_1)\, p(w_2 \mid w_1) \cdots p(\texttt{<END>} \mid w_1 \dots w_T)$, and after "a" the
# probability is split among many continuations: relation or place, which object, how much
# detail ("a large red circle", "a red circle", "a large circle", "a circle"), which second
# object. After "there" the words "is a" are nearly certain, a location caption always gives the
# size and the colour, and the place follows from the object's position, so mainly the choice of
# object is left: the probability of "there" is shared by far fewer complete sentences than that
# of "a", and the best of them can beat every single sentence that starts with "a". Beam search
# keeps "there" among its $k$ partial captions and ranks complete sentences, so it finds that
# one; greedy decoding commits to "a" at the first step and never sees it. (With length
# normalisation the two nearly certain words "is a" also raise the average log-probability per
# word, which favours "there is a ..." over the same location caption without them.) These
# captions earn more BLEU because they describe one object, the one the model is surest of, with
# a place that follows from it, instead of two objects and a relation, any of which can be
# wrong: more of their 3-grams and 4-grams ("there is a large", "at the bottom") occur in a
# reference.
#
# **Rubric (4 points).**
# - 1 point: "a" is the most probable first word because it opens most kinds of caption
#   (relations, counts, half of the location captions); "there" opens only location captions.
# - 1 point: a sentence's probability is the product of its words' conditional probabilities;
#   after "a" it is divided among many continuations, after "there is a" far fewer remain (the
#   full detail and the place are fixed by the grammar; mainly the object is left to choose), so
#   one sentence starting with "there" can be more probable than any single sentence starting
#   with "a".
# - 1 point: greedy decoding commits to the locally best first word and cannot go back; beam
#   search keeps "there" among its $k$ hypotheses and compares complete sentences (the extra
#   push from length normalisation, which rewards the cheap words "is a", may be mentioned).
# - 1 point: why BLEU rises: one object described in full with its place leaves fewer content
#   words to get wrong than a relation between two objects, so more of the longer n-grams match
#   the references.

# %% [markdown]
# **Check yourself.** Without length normalisation the beam prefers shorter captions than
# greedy decoding does; with it, longer ones. Why, and which of the two does BLEU reward here?
#
# <details><summary>Answer</summary>
#
# Every word multiplies the caption's probability by a number below one, so a sum of
# log-probabilities only goes down as a caption grows. A wide beam finds short complete
# captions ("a square") whose few words are each likely, and their total beats any longer
# description: the plain score is biased towards brevity. Dividing by the length compares the
# *average* log-probability per word instead, which removes most of that bias. BLEU punishes
# short captions twice (fewer matching n-grams, and the brevity penalty), so here the
# normalised beam scores best; the plain one finds more probable captions than greedy decoding
# too, but shorter ones, and gains less (with wider beams it can fall below greedy). Neural machine
# translation systems use a softer normalisation, $\text{score} / ((5 + |Y|)/6)^{\alpha}$ (Wu et
# al., 2016), to tune the trade-off.
#
# </details>
#
# **Check yourself.** Teacher forcing trains the model on true previous words, but at test time
# it reads its own. What can go wrong, and what is one remedy?
#
# <details><summary>Answer</summary>
#
# This mismatch is called **exposure bias**: the model never saw its own mistakes during
# training, so after one wrong word it finds itself in a state it has not learned to recover
# from, and errors compound along the sentence. Scheduled sampling (Bengio et al., 2015) feeds
# the model's own sampled word instead of the true one with a probability that grows during
# training, so it learns to continue from imperfect prefixes (lecture 13). Beam search also
# softens the problem at test time by not committing to one early word.
#
# </details>
#
# ## Summary
#
# - A recurrent network applies the same step to every element of a sequence, carrying a
#   hidden state; its backward pass walks back through time and **adds** the gradients of the
#   shared weights.
# - The vanilla RNN multiplies its gradient by $W_h^\top$ and a tanh derivative at every step,
#   so it vanishes or explodes over long spans; the LSTM's cell is updated additively, gated by
#   $f$, which lets gradients travel far.
# - Words enter as embeddings (a lookup whose backward pass adds with `np.add.at`) and leave as
#   scores over the vocabulary; a masked softmax loss handles captions of different lengths.
# - A captioner starts its recurrent state from the image, learns with teacher forcing, and
#   writes by greedy decoding or beam search; beam search with length normalisation finds more
#   probable, longer sentences.
# - BLEU-4 counts clipped matching n-grams with a brevity penalty; read it next to a
#   language-only baseline and with a known number of references.
#
# ## Further reading
#
# - J. L. Elman, "Finding structure in time", *Cognitive Science*, 1990 (the simple recurrent network).
# - S. Hochreiter and J. Schmidhuber, "Long short-term memory", *Neural Computation*, 1997;
#   F. A. Gers, J. Schmidhuber and F. Cummins, "Learning to forget: continual prediction with
#   LSTM", *Neural Computation*, 2000.
# - R. Pascanu, T. Mikolov and Y. Bengio, "On the difficulty of training recurrent neural
#   networks", ICML 2013.
# - O. Vinyals, A. Toshev, S. Bengio and D. Erhan, "Show and tell: a neural image caption
#   generator", CVPR 2015; A. Karpathy and L. Fei-Fei, "Deep visual-semantic alignments for
#   generating image descriptions", CVPR 2015.
# - K. Xu et al., "Show, attend and tell: neural image caption generation with visual
#   attention", ICML 2015 (lecture 13).
# - K. Papineni, S. Roukos, T. Ward and W.-J. Zhu, "BLEU: a method for automatic evaluation of
#   machine translation", ACL 2002; B. Chen and C. Cherry, "A systematic comparison of smoothing
#   techniques for sentence-level BLEU", WMT 2014.
# - S. Bengio, O. Vinyals, N. Jaitly and N. Shazeer, "Scheduled sampling for sequence prediction
#   with recurrent neural networks", NeurIPS 2015; Y. Wu et al., "Google's neural machine
#   translation system", 2016 (length normalisation in beam search).
# - Stanford CS231n, assignment 3 (RNN and LSTM captioning): the assignment this one is modelled on.
