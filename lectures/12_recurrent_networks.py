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
# # Lecture 12 — Recurrent networks
#
# Every network so far took an input of a fixed size and returned an output of a fixed size:
# one $32 \times 32$ image in, ten class scores out. Much of what vision systems deal with does
# not have that shape. A video is a sequence of frames of any length; a caption is a sequence
# of words; a handwritten line is a sequence of pen strokes; even a still image can be read as
# a sequence of rows or of glimpses. **Recurrent neural networks** (RNNs) handle sequences by
# applying *one* small network again and again, once per element, and passing a **hidden
# state** from each step to the next. The state is the network's memory of what it has seen.
#
# This chapter builds that idea from the ground up and then spends most of its time on the
# one thing that makes recurrent networks hard: carrying information, and the error signal that
# trains it, over many steps. You will see, with numbers, why a plain RNN forgets, how gates
# (the LSTM and the GRU) fix it, and what a trained LSTM actually does with its gates. The
# chapter ends with a character-level language model trained right here, which writes
# Python-documentation English at a temperature of your choice. Lecture 13 puts the same
# machinery behind an image encoder to write captions.
#
# **After this lecture you can**
#
# 1. sort sequence problems into one-to-many, many-to-one and many-to-many, and name a vision
#    task of each kind;
# 2. write the vanilla RNN cell $h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b)$ with all shapes,
#    and explain why its number of parameters does not depend on the sequence length;
# 3. unroll an RNN, explain back-propagation through time (a shared weight's gradient is a sum
#    over time steps) and what truncated BPTT keeps and cuts;
# 4. explain vanishing and exploding gradients from the eigenvalues of $W_{hh}$ and the
#    derivative of $\tanh$, and measure them with autograd;
# 5. clip gradients by their norm and say which of the two problems clipping solves;
# 6. write the LSTM's equations (input, forget and output gates, candidate, cell), explain why
#    the cell keeps gradients alive, and read a trained LSTM's gates;
# 7. write the GRU's equations and count the parameters of RNN, GRU and LSTM layers;
# 8. describe deep, bidirectional and multi-dimensional RNNs, and output feedback (teacher
#    forcing at training time, the model's own outputs at test time);
# 9. train a character-level language model with truncated BPTT and sample from it with a
#    temperature.
#
# **Plan.** Sequences in and out → the vanilla RNN → back-propagation through time →
# vanishing and exploding gradients (a widget) → gradient clipping → the LSTM, and an LSTM
# trained to remember (a widget of its gates) → the GRU → deep, bidirectional and
# multi-dimensional RNNs → output feedback → a character-level language model (a widget to
# sample it) → questions, summary, papers.
#
# The machinery lives in the `dlcv.recurrent` modules, built on torch (`nn.RNN`, `nn.LSTM`, `nn.GRU`,
# autograd). Assignment a5 asks you to write the RNN and LSTM layers with their backward passes
# in numpy, then a captioning model on top: here torch computes every gradient, so a5 stays
# yours to solve.

# %%
# %matplotlib inline
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from dlcv.data import load_digits
from dlcv.plots import CLASS_COLORS
from dlcv.recurrent import gates as GA
from dlcv.recurrent import gradients as GR
from dlcv.recurrent import language
from dlcv.recurrent import networks as R
from dlcv.recurrent.widgets import GradientFlowView, LSTMGatesView, SamplingView
from dlcv.timing import cap_threads

plt.rcParams.update({"figure.figsize": (9, 3.2), "figure.dpi": 90, "font.size": 10})
np.set_printoptions(precision=3, suppress=True, linewidth=110)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine
rng = np.random.default_rng(0)
_ = torch.manual_seed(0)
t_start = time.perf_counter()

# %% [markdown]
# ## 1. Sequences in, sequences out
#
# A recurrent network reads a sequence $x_1, x_2, \dots, x_T$ one element at a time and may
# emit an output $y_t$ at any step. Which steps get an input and which give an output is a design
# choice that follows from the task. The five patterns below cover almost everything; red boxes
# are inputs, green boxes hidden states, blue boxes outputs.
#
# * **One to one**: a single input, a single output. This is the feed-forward network of the
#   previous lectures; no recurrence is needed.
# * **One to many**: one input starts a sequence of outputs. Image captioning (lecture 13): a
#   CNN turns the image into a vector that sets the first hidden state, and the RNN then writes
#   the caption word by word.
# * **Many to one**: a whole sequence is read, one answer comes out at the end. The sentiment of
#   a review, the action in a video clip, the class of a digit read row by row (section 8).
# * **Many to many, encoder-decoder** (sequence to sequence): a first RNN reads the whole input
#   into its final state, a second one writes an output sequence of a *different* length.
#   Machine translation is the standard example: "I like cats" has three words, "J'aime les
#   chats" has four.
# * **Many to many, one output per input**: labelling every frame of a video, every sound of an
#   utterance, or predicting the next character of a text at every position (section 9).

# %%
fig, axes = plt.subplots(1, 5, figsize=(14, 2.5))
R.draw_io_patterns(axes)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. The vanilla RNN cell
#
# The simplest recurrent network (Elman, 1990) keeps a hidden state $h_t \in \mathbb{R}^H$ and
# updates it with the new input $x_t \in \mathbb{R}^D$:
#
# $$ h_t = \tanh\big(W_{hh}\, h_{t-1} + W_{xh}\, x_t + b\big), \qquad y_t = W_{hy}\, h_t + b_y, $$
#
# starting from $h_0 = 0$ (or from a vector that encodes a condition, such as an image). The
# same $\tanh$ layer is applied at every step; it sees the new input *and* its own previous
# output, and the state it returns is everything the network will remember.
#
# | symbol | shape | meaning |
# |---|---|---|
# | $x_t$ | $D$ | input at step $t$ (a word vector, a row of pixels, a frame's features) |
# | $h_t$ | $H$ | hidden state after step $t$ |
# | $W_{xh}$ | $H \times D$ | input-to-hidden weights |
# | $W_{hh}$ | $H \times H$ | hidden-to-hidden (recurrent) weights |
# | $b$ | $H$ | bias |
# | $W_{hy}$, $b_y$ | $C \times H$, $C$ | read-out to $C$ output scores |
#
# The crucial property is **parameter sharing over time**: $W_{xh}$, $W_{hh}$, $b$ are the same at
# every step. A network with $H(D + H + 1)$ recurrent parameters can therefore read a sequence
# of 5 steps or of 5000, and what it learns about a pattern at step 3 applies at step 300. It is
# the same trick as a convolution, which shares its kernel across positions in an image; an RNN
# shares its cell across positions in time. The difference is that a convolution sees a fixed
# window, while the RNN's state can, in principle, depend on everything since step 1.
#
# Written for a batch of $N$ sequences, $x_t$ becomes $N \times D$ and $h_t$ becomes $N \times H$;
# the product is then $h_{t-1} W_{hh}^\top + x_t W_{xh}^\top$. Below, a few lines of torch
# compute the recurrence with the weights of `nn.RNN` and check that they match what `nn.RNN`
# returns. Note torch's names: `weight_ih_l0` is $W_{xh}$, `weight_hh_l0` is $W_{hh}$, and there
# are two bias vectors whose sum is $b$ (a convention inherited from cuDNN).

# %%
torch.manual_seed(0)
D, H, T_demo = 3, 4, 6
rnn = nn.RNN(D, H, batch_first=True)             # tanh by default
x_demo = torch.randn(2, T_demo, D)               # (N, T, D): two sequences of six steps
W_xh, W_hh = rnn.weight_ih_l0, rnn.weight_hh_l0  # (H, D), (H, H)
b = rnn.bias_ih_l0 + rnn.bias_hh_l0              # (H,)

h = torch.zeros(2, H)                            # (N, H): h_0 = 0
states = []
with torch.no_grad():
    for t in range(T_demo):
        h = torch.tanh(h @ W_hh.T + x_demo[:, t] @ W_xh.T + b)  # (N, H): same weights every step
        states.append(h)
    ours = torch.stack(states, dim=1)            # (N, T, H)
    theirs, h_last = rnn(x_demo)                 # (N, T, H) and (1, N, H)
print("our states", tuple(ours.shape), "| nn.RNN:", tuple(theirs.shape), "and last",
      tuple(h_last.shape))
print(f"largest difference: {(ours - theirs).abs().max():.1e}")
print("parameters:", {k: tuple(v.shape) for k, v in rnn.named_parameters()},
      "-> the same for any sequence length")

# %% [markdown]
# Drawing the loop once per time step gives the **unrolled** network: a deep feed-forward
# network with one layer per step, in which every layer uses the same weights.

# %%
fig, ax = plt.subplots(figsize=(9, 2.8))
R.draw_unrolled(ax, steps=4)
plt.show()

# %% [markdown]
# ## 3. Training: back-propagation through time
#
# With an output at every step, the loss of a sequence is the sum of the per-step losses,
# $L = \sum_{t=1}^{T} L_t(y_t)$ (for a many-to-one network only the last term is present). Once
# the network is unrolled it is an ordinary computational graph, so back-propagation applies
# unchanged; for recurrent networks it is called **back-propagation through time** (BPTT,
# Werbos 1990). Two things are specific.
#
# First, the error reaching $h_t$ has two sources: its own output's loss, and everything that
# $h_t$ influenced later, which flows back through $h_{t+1}$:
#
# $$ \frac{\partial L}{\partial h_t} = \frac{\partial L_t}{\partial h_t}
#    + \Big(\frac{\partial h_{t+1}}{\partial h_t}\Big)^{\!\top} \frac{\partial L}{\partial h_{t+1}}. $$
#
# Second, a weight used at every step collects a gradient from every step: the gradient of a
# shared weight is the **sum** of the gradients that each of its copies in the unrolled graph
# would get. We can check this directly. Below, the same loss is computed twice: once with a
# single recurrent matrix $W$ used at all six steps, once with six separate copies of it, one
# per step. The sum of the copies' gradients equals the shared weight's gradient.

# %%
torch.manual_seed(1)
W_shared = (0.5 * torch.randn(H, H)).requires_grad_()                   # (H, H)
copies = [W_shared.detach().clone().requires_grad_() for _ in range(T_demo)]
x1 = torch.randn(T_demo, H)                                             # (T, H) inputs


def run(weights):
    """An RNN with input weights fixed to the identity; weights[t] is W_hh at step t."""
    h = torch.zeros(H)
    loss = 0.0
    for t in range(T_demo):
        h = torch.tanh(weights[t] @ h + x1[t])
        loss = loss + (h ** 2).sum()                                    # a loss at every step
    return loss


run([W_shared] * T_demo).backward()
run(copies).backward()
summed = sum(c.grad for c in copies)
print("per-step gradient norms of the copies:", [f"{c.grad.norm():.3f}" for c in copies],
      "(the first copy multiplies h_0 = 0)")
print(f"|sum of copies' gradients - shared gradient| = {(summed - W_shared.grad).abs().max():.1e}")

# %% [markdown]
# The unrolled graph has to keep every hidden state until the backward pass, so the memory of
# full BPTT grows linearly with $T$; a text of a million characters cannot be unrolled in one
# piece. **Truncated BPTT** cuts the sequence into chunks of $k$ steps (often 32 to 256) and
# processes them in order:
#
# * the **forward** pass carries the hidden state from one chunk into the next, so the network
#   keeps its running memory of the whole text;
# * the **backward** pass stops at the start of each chunk: the last state of the previous chunk
#   enters the new chunk as a constant (in torch, `h = h.detach()`).
#
# The cost: no gradient ever spans more than $k$ steps, so a dependency longer than $k$ can
# only be learned if the network already happens to carry the relevant information. In
# exchange, memory is bounded and the weights are updated after every chunk instead of once per
# text.

# %%
fig, ax = plt.subplots(figsize=(11, 3.1))
R.draw_truncated_bptt(ax, length=12, chunk=4)
plt.show()

# %% [markdown]
# What `detach` does, on two chunks of three steps: without it, the loss of chunk 2 sends a
# gradient all the way into chunk 1's inputs; with it, the gradient stops at the boundary,
# although the forward values are identical.

# %%
def two_chunks(detach):
    xs = torch.randn(6, H, generator=torch.Generator().manual_seed(2)).requires_grad_()
    h = torch.zeros(H)
    for t in range(3):                                   # chunk 1
        h = torch.tanh(W_shared.detach() @ h + xs[t])
    if detach:
        h = h.detach()                                   # the state carries on, the graph stops
    loss2 = 0.0
    for t in range(3, 6):                                # chunk 2
        h = torch.tanh(W_shared.detach() @ h + xs[t])
        loss2 = loss2 + (h ** 2).sum()
    loss2.backward()
    return float(loss2.detach()), xs.grad.norm(dim=1)


for detach in (False, True):
    loss2, g = two_chunks(detach)
    print(f"detach={detach!s:5}: loss of chunk 2 = {loss2:.4f}, gradient norm at each input "
          f"step: {g.numpy().round(3)}")

# %% [markdown]
# ## 4. Vanishing and exploding gradients
#
# The backward recursion of section 3 multiplies by the Jacobian $\partial h_{t+1} / \partial h_t$
# once per step. An error that has to travel from step $T$ back to step $t$ is multiplied by
# $T - t$ such matrices. Products of many matrices behave like powers of a number: they shrink
# to nothing or grow without bound, and only a knife's edge in between keeps their size. This is
# the central difficulty of training RNNs, identified by Hochreiter (1991) and by Bengio,
# Simard and Frasconi (1994).
#
# ### 4.1 The linear case: powers of a matrix
#
# Drop the nonlinearity and the inputs: $s_t = W s_{t-1}$, so $s_t = W^t s_0$. If $W$ has an
# eigendecomposition $W = Q \Lambda Q^{-1}$, then
#
# $$ s_t = Q \Lambda^t Q^{-1} s_0, $$
#
# and in the coordinates of the eigenvectors, $Q^{-1} s_t$, each component is multiplied by its
# eigenvalue $\lambda_k$ at every step. Components with $|\lambda_k| > 1$ grow like
# $|\lambda_k|^t$, those with $|\lambda_k| < 1$ die like $|\lambda_k|^t$. After enough steps only
# the largest $|\lambda_k|$ matters: the **spectral radius** $\rho(W) = \max_k |\lambda_k|$ decides
# whether the state explodes ($\rho > 1$) or vanishes ($\rho < 1$). The backward pass multiplies
# by $W^\top$, which has the same eigenvalues, so the gradient does the same.
#
# Below, a $2 \times 2$ matrix with eigenvalues $1.1$ and $0.8$: after 50 steps one component has
# grown by $1.1^{50} \approx 117$ and the other has shrunk by $0.8^{50} \approx 1/70\,000$.

# %%
Q = np.array([[1.0, 1.0], [0.5, -1.0]])                   # eigenvectors as columns
W2 = Q @ np.diag([1.1, 0.8]) @ np.linalg.inv(Q)            # (2, 2)
lam, Q_found = np.linalg.eig(W2)
print("W =\n", W2, "\neigenvalues:", lam)
s0 = np.array([1.0, 0.3])
steps_lin = np.arange(51)
coords = np.array([np.linalg.solve(Q, np.linalg.matrix_power(W2, t) @ s0) for t in steps_lin])
c0 = np.linalg.solve(Q, s0)                                # Q^{-1} s_0
assert np.allclose(coords, c0 * np.array([1.1, 0.8]) ** steps_lin[:, None])  # Lambda^t, exactly

fig, ax = plt.subplots(figsize=(6.5, 3.0))
ax.semilogy(steps_lin, np.abs(coords[:, 0]), color=CLASS_COLORS[5], label="component with λ = 1.1")
ax.semilogy(steps_lin, np.abs(coords[:, 1]), color=CLASS_COLORS[0], label="component with λ = 0.8")
ax.semilogy(steps_lin, [np.linalg.norm(np.linalg.matrix_power(W2, t) @ s0) for t in steps_lin],
            "k--", lw=1, label="$\\|s_t\\|$")
ax.set_xlabel("step t")
ax.set_title("$s_t = W^t s_0$ in the eigenvector coordinates")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ### 4.2 With a $\tanh$: the Jacobian $\mathrm{diag}(1 - h_t^2)\, W_{hh}$
#
# For the real cell $h_t = \tanh(z_t)$ with $z_t = W_{hh} h_{t-1} + W_{xh} x_t + b$, the chain rule
# gives the Jacobian of one step,
#
# $$ \frac{\partial h_t}{\partial h_{t-1}} = \mathrm{diag}\big(1 - h_t^2\big)\, W_{hh}, \qquad
#    \frac{\partial h_T}{\partial h_t} = \prod_{s=t+1}^{T} \mathrm{diag}\big(1 - h_s^2\big)\, W_{hh}. $$
#
# The diagonal factor holds the derivatives of $\tanh$, all in $(0, 1]$, and close to 0 for a
# saturated unit ($|h| \approx 1$). It can only make things smaller: with $\gamma$ the largest
# derivative and $\sigma_{\max}$ the largest singular value of $W_{hh}$, the norm of the product
# is at most $(\gamma\, \sigma_{\max})^{T-t}$, so $\sigma_{\max} < 1/\gamma$ is *enough* for the
# gradient to vanish (Pascanu et al., 2013). With a $\tanh$, the knife's edge of the linear case
# moves: the gradient already vanishes for many matrices that a linear RNN would keep alive.
#
# We measure it with autograd. `dlcv.recurrent.gradients.gradient_norms` unrolls
# $h_t = \phi(W h_{t-1} + x_t)$ for 50 steps with random inputs, puts a loss on the last state
# only, $L = u^\top h_T$, and records $\| \partial L / \partial h_t \|$ for every $t$: the size of
# the error signal after it has travelled $T - t$ steps back.

# %%
T_flow = 50
tanh_flows = {}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), sharey=True)
for ax, nl in zip(axes, ["linear", "tanh"], strict=True):
    for rho, col in zip([0.9, 1.0, 1.1], [CLASS_COLORS[0], "k", CLASS_COLORS[5]], strict=True):
        W = GR.recurrent_matrix(32, rho, "orthogonal", seed=0)
        flow = GR.gradient_norms(W, T_flow, nl, input_scale=1.0, seed=0)
        if nl == "tanh":
            tanh_flows[rho] = flow
        ax.semilogy(flow.grad, color=col, label=f"ρ = {rho}" + (
            f" (mean φ' = {flow.deriv.mean():.2f})" if nl == "tanh" else ""))
    ax.set_xlabel("time step t (the loss is at T = 50)")
    ax.set_title(f"{nl} RNN, orthogonal $W_{{hh}}$ scaled to radius ρ")
    ax.legend(fontsize=8)
axes[0].set_ylabel("$\\|\\partial L / \\partial h_t\\|$")
fig.tight_layout()
plt.show()
for rho, flow in tanh_flows.items():
    d = flow.deriv.mean()
    print(f"tanh, ρ = {rho}: mean φ' {d:.2f}, ρ · mean φ' {rho * d:.2f}; the error signal at "
          f"t = 0 is {flow.grad[0] / flow.grad[-1]:.0e} of its size at T = 50")

# %% [markdown]
# For the linear network (left) the orthogonal matrix makes the picture exact: the gradient is
# multiplied by exactly $\rho$ per step, so it shrinks like $0.9^{50} \approx 0.005$, stays at 1,
# or grows like $1.1^{50} \approx 117$. With a $\tanh$ (right), each step also multiplies by the
# derivatives $1 - h_t^2$, whose mean (in the legend and the lines above) is far below 1; even
# $\rho = 1.1$ cannot make up for that, and after 50 steps the error signal is many orders of
# magnitude smaller (the last number of each line). A gradient
# that small means the weights receive essentially no instruction to change what happened 50
# steps ago: the network cannot *learn* long-range dependencies, even if it could represent them.
#
# ### 4.3 Play with it: the error signal on its way back
#
# The widget unrolls the same vanilla RNN (32 units, 50 steps). **Left**: the size of the state
# $\|h_t\|$ in the forward pass. **Middle**: $\|\partial L / \partial h_t\|$ from autograd (orange)
# and the linear prediction $\rho^{T-t}$ (dashed); the title gives the ratio between the first and
# the last step. **Right**: the eigenvalues of $W_{hh}$ in the complex plane with the unit circle
# (solid) and the spectral radius (dashed). The axes are fixed, so settings can be compared.
#
# Things to try:
#
# 1. *linear*, *orthogonal*: move $\rho$ across 1. The orange line follows the dashed one exactly,
#    and the eigenvalues sit on the dashed circle. Where is the only setting that neither
#    vanishes nor explodes?
# 2. Switch to *random*: the eigenvalues fill a disc (only the largest sits on the dashed circle).
#    The gradient still follows $\rho^{T-t}$ after a few steps: the largest eigenvalue wins.
# 3. *tanh*: set $\rho = 1$ and move the **input scale** from 0.1 to 3. Larger inputs push the
#    units into saturation (read the mean $\phi'$ in the readout) and the gradient dies faster,
#    although $W_{hh}$ did not change.
# 4. *relu*: raise $\rho$ to 1.5. The gradient still vanishes: at every step about half the units
#    are switched off, which removes part of $W_{hh}$. How large must $\rho$ be for the relu RNN's
#    gradient to grow? (This is why relu RNNs are started from a scaled identity matrix, Le et
#    al. 2015.)

# %%
flow_view = GradientFlowView(spectral_radius=1.0, nonlinearity="tanh", matrix="random")
flow_view

# %% [markdown]
# ## 5. Gradient clipping
#
# Exploding gradients have a cheap remedy. When $\rho$ is large, the loss as a function of the
# weights is flat almost everywhere and has rare, very steep walls, or **cliffs** (Pascanu et al.,
# 2013). On a wall, the gradient is huge and a normal gradient step throws the weights far away,
# undoing many steps of progress. **Clipping by norm** keeps the direction of the gradient and
# caps its length at a threshold $\theta$:
#
# $$ g \leftarrow \begin{cases} g & \text{if } \|g\| \le \theta, \\
#    \theta\, g / \|g\| & \text{otherwise.} \end{cases} $$
#
# The norm is taken over *all* parameters together (`torch.nn.utils.clip_grad_norm_`), so the
# update direction is unchanged. Clipping each entry separately (`clip_grad_value_`) also bounds
# the step, but changes its direction.
#
# Pascanu et al.'s example has one unit, $x_t = w\, \sigma(x_{t-1}) + b$, and the loss
# $(x_T - 0.7)^2$. Depending on $w$ and $b$ the recurrence has one or two stable fixed points,
# and where the second one appears, $x_T$ jumps. Along $w$, with $b = -3$ and $T = 10$, the loss
# has a gentle slope, then a wall, then the valley we want. Gradient descent walks down the
# slope, reaches the wall, and is catapulted off it; with clipping it stays near the valley.

# %%
w_grid = torch.linspace(2.0, 8.0, 1201, requires_grad=True)
loss_grid = GR.cliff_loss(w_grid, -3.0, steps=10)
(dw,) = torch.autograd.grad(loss_grid.sum(), w_grid)
plain = GR.cliff_descent(3.0, -3.0, lr=0.5, iterations=30)
clipped = GR.cliff_descent(3.0, -3.0, lr=0.5, iterations=30, clip=0.2)
jump = int(np.flatnonzero(np.abs(np.diff(plain.w)) > 1.0)[0])  # the first step off the wall
print(f"largest |dL/dw| on the grid: {dw.abs().max():.0f}; on the gentle slope: "
      f"{dw[:300].abs().mean():.2f}")
slope = float(dw[:300].abs().mean())
print(f"plain:   at step {jump} the gradient is {plain.grad[jump]:.0f}, "
      f"{abs(plain.grad[jump]) / slope:.0f} times the mean on the slope; w jumps "
      f"from {plain.w[jump]:.2f} to {plain.w[jump + 1]:.2f}, the loss from {plain.loss[jump]:.1f} "
      f"to {plain.loss[jump + 1]:.0f}")
print(f"clipped: the largest step is {np.abs(np.diff(clipped.w)).max():.2f}; final loss "
      f"{clipped.loss[-1]:.2f} (plain: {plain.loss[-1]:.2f}); its last five losses "
      f"{np.round(clipped.loss[-5:], 2).tolist()}")

fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
ax = axes[0]
ax.plot(w_grid.detach(), loss_grid.detach(), color="0.3", lw=1.2)
ax.plot(plain.w[:jump + 1], plain.loss[:jump + 1], "o-", ms=4, lw=0.8, color=CLASS_COLORS[5],
        label="plain")
ax.annotate(f"thrown to w = {plain.w[jump + 1]:.0f}", xy=(plain.w[jump], plain.loss[jump]),
            xytext=(6.3, 16), fontsize=8, color=CLASS_COLORS[5],
            arrowprops=dict(arrowstyle="<-", color=CLASS_COLORS[5]))
ax.plot(clipped.w, clipped.loss, "s-", ms=3, lw=0.8, color=CLASS_COLORS[0],
        label="clipped (θ = 0.2)")
ax.set_xlim(2, 8)
ax.set_ylim(-0.5, 20)
ax.set_xlabel("w (b = -3)")
ax.set_title("the loss along w, and the steps taken")
ax.legend(fontsize=8, loc="upper left")
axes[1].semilogy(w_grid.detach(), dw.abs() + 1e-3, color="0.3")
axes[1].set_xlabel("w")
axes[1].set_title("$|\\partial L / \\partial w|$: the wall")
axes[2].semilogy(plain.loss, "o-", ms=3, color=CLASS_COLORS[5], label="plain")
axes[2].semilogy(clipped.loss, "s-", ms=3, color=CLASS_COLORS[0], label="clipped")
axes[2].set_xlabel("iteration")
axes[2].set_title("loss")
axes[2].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Plain gradient descent walks down the slope and lands on the wall, where the gradient is many
# times larger than on the slope (the ratio is printed above); the step throws $w$ far past the
# valley, to the loss printed there, and the descent has to start its walk again from the far
# side. The clipped run is slower on the slope (every step is at most $\eta\theta = 0.1$ long),
# but on the wall its step is still 0.1, so it walks into the valley and stays there. (Its last
# losses hop about because a fixed step of 0.1 is wider than the valley's floor; a decaying step
# size would settle.)
#
# Clipping is a guard against rare huge steps, not a cure for vanishing gradients: making a tiny
# gradient smaller does nothing. That problem needs a different architecture.
#
# ## 6. Long short-term memory
#
# ### 6.1 The constant error carousel
#
# Hochreiter and Schmidhuber (1997) asked what a unit must look like for an error to flow back
# through it unchanged, for any number of steps. Their answer: a unit with a linear self-loop of
# weight exactly 1, $c_t = c_{t-1} + (\text{new input})$. Then
# $\partial c_t / \partial c_{t-1} = 1$, and the error circulates without shrinking or growing: the **constant error carousel**. Such a
# memory cell alone would add every input forever, so they surrounded it with multiplicative
# **gates**, units with a sigmoid output in $(0, 1)$ that decide, at each step, how much of the
# new input is written in and how much of the cell is read out. Gers, Schmidhuber and Cummins
# (2000) added a third gate that scales the self-loop itself, so the cell can also be reset:
# the **forget gate**. That is the LSTM used today.
#
# ### 6.2 The equations
#
# An LSTM layer keeps two vectors of size $H$: the **cell state** $c_t$ (the carousel, the
# long-term memory) and the **hidden state** $h_t$ (what the layer shows to the outside and feeds
# back into its gates). At every step, from the input $x_t$ and the previous hidden state:
#
# $$
# \begin{aligned}
#  i_t &= \sigma(W_{ii} x_t + W_{hi} h_{t-1} + b_i) &&\text{input gate: how much to write}\\
#  f_t &= \sigma(W_{if} x_t + W_{hf} h_{t-1} + b_f) &&\text{forget gate: how much to keep}\\
#  g_t &= \tanh(W_{ig} x_t + W_{hg} h_{t-1} + b_g) &&\text{candidate: what to write}\\
#  o_t &= \sigma(W_{io} x_t + W_{ho} h_{t-1} + b_o) &&\text{output gate: how much to show}\\
#  c_t &= f_t \odot c_{t-1} + i_t \odot g_t\\
#  h_t &= o_t \odot \tanh(c_t)
# \end{aligned}
# $$
#
# with $\odot$ the element-wise product. The four pre-activations come from one matrix product
# with a stacked weight matrix of shape $4H \times (D + H)$, cut into four blocks; torch stores
# them in the order $i, f, g, o$ (`weight_ih_l0` is $4H \times D$, `weight_hh_l0` is
# $4H \times H$). Every gate is a vector: each of the $H$ cells has its own input, forget and
# output gate at every step.
#
# `dlcv.recurrent.gates.lstm_step` writes these six lines in torch, forward only (assignment a5 asks
# for the numpy forward *and* backward). It reproduces `nn.LSTMCell`:

# %%
torch.manual_seed(0)
cell = nn.LSTMCell(3, 4)
weights = GA.LSTMWeights(cell.weight_ih.detach().double(), cell.weight_hh.detach().double(),
                         (cell.bias_ih + cell.bias_hh).detach().double())
x_step = torch.randn(2, 3, dtype=torch.float64)                        # (N, D)
h_prev, c_prev = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
h_new, c_new, gates = GA.lstm_step(x_step, h_prev, c_prev, weights)
with torch.no_grad():
    h_ref, c_ref = cell(x_step.float(), (h_prev.float(), c_prev.float()))
print("gates of the first sequence:", {k: gates[k][0].numpy().round(2) for k in "ifgo"})
print(f"difference to nn.LSTMCell: h {(h_new - h_ref).abs().max():.1e}, "
      f"c {(c_new - c_ref).abs().max():.1e} (float32 rounding)")

# %% [markdown]
# ### 6.3 Why the cell keeps gradients alive
#
# Follow the error along the cell alone. From $c_t = f_t \odot c_{t-1} + i_t \odot g_t$,
#
# $$ \frac{\partial c_t}{\partial c_{t-1}} = \mathrm{diag}(f_t) \quad\text{(along the cell path)},
#    \qquad \frac{\partial c_T}{\partial c_t} = \mathrm{diag}\Big(\prod_{s=t+1}^{T} f_s\Big). $$
#
# Compare with the vanilla RNN's $\mathrm{diag}(1 - h_t^2) W_{hh}$: there is no weight matrix to
# be raised to a power, and no squashing derivative; there is just a product of gate values,
# chosen by the network, different at each step. When the forget gates are near 1, the product
# stays near 1 and the error reaches far into the past. (The gates also depend on $h_{t-1}$,
# which opens other paths; those can vanish, but the cell path does not have to.) In that
# sense the cell is a skip connection through time, much like the identity path of a residual
# network (lecture 07) is a skip connection through depth.
#
# Measured with autograd on an LSTM with random weights: the loss reads $c_{50}$, and we record
# $\|\partial L / \partial c_t\|$ with the forget gate's bias set to $-2$, $0$, $2$ or $5$, which
# puts $f$ near $\sigma(b_f) \approx 0.12$, $0.5$, $0.88$ or $0.99$ (the legend gives the mean
# $f$ of each run). The dashed lines are the cell path alone (products of $f$); the grey line is
# the vanilla $\tanh$ RNN from section 4.2 ($\rho = 1$).

# %%
fig, ax = plt.subplots(figsize=(8, 3.4))
lstm_flows = {}
for bias, col in zip([-2.0, 0.0, 2.0, 5.0], [CLASS_COLORS[5], CLASS_COLORS[1], CLASS_COLORS[2],
                                             CLASS_COLORS[0]], strict=True):
    lg = GR.lstm_gradient_norms(hidden=16, steps=T_flow, forget_bias=bias, seed=0)
    lstm_flows[bias] = lg
    ax.semilogy(lg.cell, color=col, label=f"LSTM, forget bias {bias:+.0f} (mean f = "
                                          f"{lg.forget.mean():.2f})")
    ax.semilogy(lg.cell_path, "--", color=col, lw=0.9)
vanilla = GR.gradient_norms(GR.recurrent_matrix(16, 1.0, "orthogonal", seed=0), T_flow, "tanh")
ax.semilogy(vanilla.grad, color="0.55", lw=2, label="vanilla tanh RNN, ρ = 1")
ax.set_ylim(1e-20, 10)
ax.set_xlabel("time step t (the loss reads $c_{50}$)")
ax.set_ylabel("$\\|\\partial L / \\partial c_t\\|$")
ax.legend(fontsize=8, loc="lower right")
ax.set_title("the error signal along an LSTM's cell (dashed: the cell path alone)")
plt.show()
print("||dL/dc_0|| / ||dL/dc_50||, through all paths and along the cell alone, and the mean factor "
      "per step (all paths)")
print("forget bias  mean f  all paths  cell path  per step")
for bias, lg in lstm_flows.items():
    ratio, ratio_path = lg.cell[0] / lg.cell[-1], lg.cell_path[0] / lg.cell_path[-1]
    print(f"{bias:+11.0f}  {lg.forget.mean():6.2f}  {ratio:9.1e}  {ratio_path:9.1e}  "
          f"{ratio ** (1 / T_flow):8.2f}")

# %% [markdown]
# The table gives each run's numbers. With the forget gates near 1 the error signal crosses all 50
# steps nearly intact; at $f \approx 0.5$ the cell path halves it at each step, like a badly
# scaled vanilla RNN. With $f$ near 1 the full gradient (solid) stays close to the cell path
# (dashed); with smaller forget gates the other paths, through the gates and $h$, carry more than
# the cell does, but they shrink step by step as well (the last column: the mean factor per step).
# This is also why the forget gate's bias is usually **initialised to a positive value** (Gers et
# al. 2000 used positive biases; Jozefowicz et al. 2015 recommend $b_f = 1$): a fresh LSTM then
# starts out remembering, and gradients reach far back from the first update on.
#
# ### 6.4 A task that needs memory
#
# To see an LSTM use its gates we need a task that cannot be solved without memory. In the
# **marker task** every sequence has 20 symbols: noise letters `a` to `h`, one or two capital
# **markers** `A` to `D` somewhere in the first 16 steps, and a query `?` at the end. The answer,
# read from the hidden state at the `?`, is the **most recent marker**. A network must write a
# marker into memory when it sees one, hold it through the noise, and overwrite it if a second
# marker comes. Guessing gives 25%.

# %%
task = GA.make_marker_task(10_000, seed=1000)            # training sequences
test = GA.make_marker_task(1000, seed=7)                 # held out
for k in range(4):
    print(f"{test.text(k)}  -> {GA.MARKERS[test.y[k]]}   ({test.num_markers[k]} marker(s) at "
          f"steps {[int(p) for p in test.positions[k]]})")
print("tokens", test.tokens.shape, "answers", test.y.shape)

# %% [markdown]
# The network is deliberately tiny: one-hot symbols, an LSTM with **8 units**, and a linear
# read-out of the last hidden state (a many-to-one network). Its forget-gate bias starts at +3
# and its input-gate bias at −3, so it starts in "hold" mode (keep the cell, write nothing) and
# has to learn when to write. Adam, 150 minibatches of 64 sequences, gradients clipped to norm 1.

# %%
torch.manual_seed(0)
t0 = time.perf_counter()
net = GA.MarkerNet("lstm", hidden=8, seed=0)
losses = GA.train_marker_net(net, task, steps=150)
print(f"trained in {time.perf_counter() - t0:.1f} s; test accuracy "
      f"{GA.marker_accuracy(net, test)['all']:.1%}")

fig, ax = plt.subplots(figsize=(6, 2.6))
ax.plot(losses, color=CLASS_COLORS[0])
ax.axhline(math.log(4), color="0.5", ls=":", label="log 4: guessing")
ax.set_xlabel("minibatch")
ax.set_ylabel("cross-entropy")
ax.legend(fontsize=8)
ax.set_title("training the LSTM on the marker task")
plt.show()

# %% [markdown]
# How do the three cells compare? The same task at three lengths (the markers always sit at least
# 4 steps before the end, so longer sequences mean longer gaps), the same 8 units, the same 250
# minibatches. The vanilla RNN has far fewer parameters than the LSTM (the legend counts them), so
# we also train a vanilla RNN with 32 units, more parameters than the LSTM, at length 40.

# %%
t0 = time.perf_counter()
lengths, cells = (10, 20, 40), ("rnn", "gru", "lstm")
acc = np.zeros((len(cells), len(lengths)))
for j, L in enumerate(lengths):
    tr_L = GA.make_marker_task(8000, length=L, seed=1000)
    te_L = GA.make_marker_task(600, length=L, seed=7)
    for i, kind in enumerate(cells):
        m = GA.MarkerNet(kind, hidden=8, seed=0)
        GA.train_marker_net(m, tr_L, steps=250)
        acc[i, j] = GA.marker_accuracy(m, te_L)["all"]
wide_rnn = GA.MarkerNet("rnn", hidden=32, seed=0)                # tr_L, te_L: length 40
GA.train_marker_net(wide_rnn, tr_L, steps=250)
print(f"{time.perf_counter() - t0:.1f} s for ten trainings")
for i, kind in enumerate(cells):
    print(f"{kind.upper():4s} (8 units): " + ", ".join(
        f"length {L} {a:.1%}" for L, a in zip(lengths, acc[i], strict=True)))
print(f"RNN (32 units, {sum(p.numel() for p in wide_rnn.parameters())} parameters; the 8-unit LSTM "
      f"has {sum(p.numel() for p in GA.MarkerNet('lstm', 8).parameters())}): length 40 "
      f"{GA.marker_accuracy(wide_rnn, te_L)['all']:.1%}   (guessing: 25%)")

fig, ax = plt.subplots(figsize=(7, 3.0))
for i, kind in enumerate(cells):
    ax.bar(np.arange(3) + (i - 1) * 0.27, acc[i], width=0.27, color=CLASS_COLORS[[5, 2, 0][i]],
           label=f"{kind.upper()} ({sum(p.numel() for p in GA.MarkerNet(kind, 8).parameters())} "
                 f"parameters)")
ax.axhline(0.25, color="0.4", ls=":", lw=1)
ax.text(1.01, 0.25, "guessing", fontsize=8, color="0.4", va="center",
        transform=ax.get_yaxis_transform())
ax.set_xticks(range(3))
ax.set_xticklabels([f"length {L}" for L in lengths])
ax.set_ylim(0, 1.3)
ax.set_yticks(np.linspace(0, 1, 6))
ax.set_ylabel("test accuracy")
ax.legend(fontsize=8, loc="upper center", ncol=3)
ax.set_title("the marker task: remembering over longer gaps")
plt.show()

# %% [markdown]
# The vanilla RNN gets most short sequences right and falls to guessing as the gap grows; the
# two gated cells solve all three lengths (the accuracies are printed above the figure). More
# units do not rescue the vanilla RNN: with 32 of them, and more parameters than the LSTM, it
# is still close to guessing at length 40 (the last line). (The LSTM also has a head start: its
# gate biases make it start out remembering.)
#
# ### 6.5 Play with it: the gates of a trained LSTM
#
# The widget steps the trained LSTM through test sequences. Six heatmaps show, for all 8 units
# (rows) and all 20 steps (columns), the input gate $i$, forget gate $f$, output gate $o$ (0 is
# dark, 1 is yellow), the candidate $g$, the cell $c$ and the hidden state $h$ (blue negative,
# red positive). The symbols run along the bottom of each map, markers in orange. The black
# column is the current step and the dashed row the chosen unit: the panel on the right writes
# out that unit's equations at that step with the numbers. Bottom right: the network's answer at
# the `?`. The readout gives the accuracy on the 1000 test sequences.
#
# **clamp** replaces one gate by a constant for every unit at every step, in the trained
# network, and re-runs it. It asks: what is this gate for?
#
# Things to try:
#
# 1. Sequence 0, step through it. Where does the input gate open? What does the forget gate do
#    at the marker? Watch the cell state: a pattern written at the marker and held to the end.
# 2. Pick a two-marker sequence (3, 4 or 5). What happens to the cell at the second marker?
# 3. Clamp **forget = 0**: every step wipes the cell. What is left of the memory, and what is
#    the accuracy?
# 4. Clamp **forget = 1**: the cell can never be wiped. Which sequences still work, one-marker or
#    two-marker ones, and why?
# 5. Clamp **input = 0**: nothing is ever written. Read the cell state heatmap.
# 6. Clamp **output = 1**: the network always shows its whole cell. Does it need the output
#    gate here?

# %%
gates_view = LSTMGatesView(net, test=test)
gates_view

# %% [markdown]
# For readers without a live kernel, here is what the trained network's gates do on average over
# the test sequences, and what each clamp does to the accuracy, separately for sequences with one
# marker and with two.

# %%
trace, _ = GA.marker_trace(net, test.tokens)                       # gates: (1000, 20, 8) each
at_marker = np.zeros(test.tokens.shape, dtype=bool)                # (1000, 20)
for k, steps_k in enumerate(test.positions):
    at_marker[k, steps_k] = True
at_noise = ~at_marker
at_noise[:, -1] = False                                            # the query is neither
print(f"mean input gate: {trace.i[at_marker].mean():.2f} at the markers, "
      f"{trace.i[at_noise].mean():.2f} at the noise letters")
print(f"mean forget gate: {trace.f[at_marker].mean():.2f} at the markers, "
      f"{trace.f[at_noise].mean():.2f} at the noise letters")

clamp_acc = {name: GA.marker_accuracy(net, test, name) for name in GA.CLAMPS}
fig, ax = plt.subplots(figsize=(8, 2.9))
xs = np.arange(len(clamp_acc))
for off, part, col in ((-0.2, "one marker", CLASS_COLORS[0]),
                       (0.2, "two markers", CLASS_COLORS[5])):
    ax.bar(xs + off, [a[part] for a in clamp_acc.values()], width=0.4, color=col, label=part)
ax.axhline(0.25, color="0.4", ls=":", lw=1)
ax.set_xticks(xs)
ax.set_xticklabels(list(clamp_acc))
ax.set_ylim(0, 1.25)
ax.set_yticks(np.linspace(0, 1, 6))
ax.set_ylabel("test accuracy")
ax.legend(fontsize=8, loc="upper center", ncol=2)
ax.set_title("clamping one gate of the trained LSTM")
plt.show()
for name, a in clamp_acc.items():
    print(f"{name:11s}: {a['all']:6.1%}   one marker {a['one marker']:6.1%}   "
          f"two markers {a['two markers']:6.1%}")

# %% [markdown]
# On average the input gate opens wider at the markers than at the noise letters, and the forget
# gate stays near 1 through the noise but drops at a marker (the first two lines): the network
# writes at a marker, making room for it, and keeps what it wrote in between. Without its forget
# gate (0) or its input gate (0) the network is back to guessing, 25%: its memory lives in the
# cell, and it needs both to write it and to keep it. With the forget gate stuck at 1, sequences
# with a single marker still work (the network only ever needed to keep), but with two markers
# the first one can no longer be erased and the two mix in the cell, so many answers go wrong:
# the *forget* gate is what overwrites. Real LSTMs on real data are less tidy than this
# one, but the same experiment, switching a part off and watching what breaks, is a standard way
# to find out what a trained network relies on.
#
# ## 7. Gated recurrent units
#
# Cho et al. (2014) proposed a lighter gated cell, the **GRU**. It has no separate cell state,
# and it ties forgetting and writing together with a single **update gate** $z_t$: whatever
# fraction of the old state is kept, the complement is filled with new content. A **reset gate**
# $r_t$ decides how much of the old state the new content may look at. In torch's convention:
#
# $$
# \begin{aligned}
#  r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) &&\text{reset gate}\\
#  z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) &&\text{update gate}\\
#  n_t &= \tanh\big(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})\big) &&\text{new content}\\
#  h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}
# \end{aligned}
# $$
#
# When $z_t \approx 1$, $h_t \approx h_{t-1}$: the same carousel as the LSTM's cell with
# $f \approx 1$, $i \approx 0$, because $\partial h_t / \partial h_{t-1}$ then contains the term
# $\mathrm{diag}(z_t)$. Two remarks on conventions: Cho et al. apply the reset gate *before* the
# matrix product, $W_{hn}(r_t \odot h_{t-1})$, while torch and cuDNN apply it after, as above; and
# some texts swap the roles of $z$ and $1 - z$. The behaviour is the same.
#
# The formula, checked against `nn.GRUCell` (torch's gate order in the weights is $r, z, n$):

# %%
torch.manual_seed(0)
gru = nn.GRUCell(3, 4)
x_g, h_g = torch.randn(2, 3), torch.randn(2, 4)
with torch.no_grad():
    gi = x_g @ gru.weight_ih.T + gru.bias_ih          # (N, 3H): input parts of r, z, n
    gh = h_g @ gru.weight_hh.T + gru.bias_hh          # (N, 3H): hidden parts
    i_r, i_z, i_n = gi.chunk(3, dim=1)
    h_r, h_z, h_n = gh.chunk(3, dim=1)
    r_g, z_g = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    n_g = torch.tanh(i_n + r_g * h_n)
    h_ours = (1 - z_g) * n_g + z_g * h_g
    print(f"difference to nn.GRUCell: {(h_ours - gru(x_g, h_g)).abs().max():.1e}")

# %% [markdown]
# Parameters: an RNN layer has one block of weights, a GRU three, an LSTM four, each block with
# an input matrix ($H \times D$), a recurrent matrix ($H \times H$) and, in torch, two bias vectors:
# $k\,(HD + H^2 + 2H)$ with $k = 1, 3, 4$. So a GRU has 25% fewer parameters than an LSTM of
# the same width. In comparisons across many tasks neither cell wins everywhere (Chung et al.
# 2014, Jozefowicz et al. 2015, Greff et al. 2017); the LSTM with a forget-gate bias of 1 is a
# safe default, and the GRU a good lighter one.

# %%
print(f"{'layer':6s} {'D':>4s} {'H':>4s} {'formula':>9s} {'torch':>9s}")
for kind, cls in (("rnn", nn.RNN), ("gru", nn.GRU), ("lstm", nn.LSTM)):
    for D_, H_ in ((32, 128), (256, 256)):
        n_torch = sum(p.numel() for p in cls(D_, H_).parameters())
        print(f"{kind:6s} {D_:4d} {H_:4d} {R.rnn_param_count(kind, D_, H_):9d} {n_torch:9d}")

# %% [markdown]
# ## 8. Deeper, in both directions, in more dimensions
#
# Recurrent layers combine like other layers.
#
# * **Deep (stacked) RNNs.** The hidden states of layer $l - 1$ are the inputs of layer $l$:
#   $h^{l}_t = \tanh\big(W^{l}_{hh} h^{l}_{t-1} + W^{l}_{xh} h^{l-1}_t + b^l\big)$, each layer with
#   its own weights. Two to four layers are common; more need the tricks of very deep networks
#   (residual connections, normalisation). In torch: `nn.LSTM(..., num_layers=3)`.
# * **Bidirectional RNNs** (Schuster and Paliwal, 1997). One RNN reads the sequence from left to
#   right, a second one from right to left, and the output at step $t$ uses both states,
#   usually concatenated: $[\overrightarrow{h}_t; \overleftarrow{h}_t]$. Every output then depends
#   on the whole input, past and future. That is only possible when the whole input is
#   available before the first output is needed: fine for labelling a recorded utterance or a
#   finished video, impossible for live streams and for generating text. In torch:
#   `bidirectional=True`.
# * **Multi-dimensional RNNs** (Graves, Fernández and Schmidhuber, 2007). For an image the
#   "previous" element is not unique: a cell at $(i, j)$ receives the states of its upper and its
#   left neighbour, $h_{i,j} = \tanh(W_x x_{i,j} + W_1 h_{i-1,j} + W_2 h_{i,j-1} + b)$, so its state
#   depends on the whole rectangle above and to the left. Four such scans, one from each corner,
#   give every pixel a view of the whole image. This line of work led to handwriting recognisers
#   and to image models such as PixelRNN (van den Oord et al., 2016), which generates an image
#   pixel by pixel.

# %%
fig, axes = plt.subplots(1, 4, figsize=(15, 3.5))
for ax, kind in zip(axes, R.TOPOLOGIES, strict=True):
    R.draw_topology(ax, kind)
fig.tight_layout()
plt.show()

# %% [markdown]
# The shapes that torch returns for a stacked bidirectional LSTM: the outputs concatenate the
# two directions of the top layer ($2H$ features per step), and the final states are stacked
# per layer and direction.

# %%
deep_bi = nn.LSTM(input_size=8, hidden_size=16, num_layers=2, bidirectional=True,
                  batch_first=True)
out, (h_n, c_n) = deep_bi(torch.randn(5, 7, 8))    # (N, T, D) = (5, 7, 8)
print("output", tuple(out.shape), "= (N, T, 2H);  h_n", tuple(h_n.shape),
      "= (layers x directions, N, H)")
print(f"parameters: {sum(p.numel() for p in deep_bi.parameters())} "
      f"(formula: {R.rnn_param_count('lstm', 8, 16, num_layers=2, bidirectional=True)})")

# %% [markdown]
# A small vision example shows what the second direction buys. An LSTM reads each $8 \times 8$
# digit **row by row**, a sequence of 8 vectors of 8 pixels, and guesses the digit after every
# row (every row's guess is trained). A one-directional reader knows little after the first
# rows and more with each new row. A bidirectional reader's guess at row 1 already uses the
# backward pass, which has read all eight rows.

# %%
digits_X, digits_y = load_digits()
digits_X = digits_X / 16.0                                  # (1797, 8, 8) in [0, 1]
perm = rng.permutation(len(digits_X))
train_idx, test_idx = perm[:1400], perm[1400:]
t0 = time.perf_counter()
readers = {}
for bi in (False, True):
    reader = R.RowReader(width=8, hidden=32, bidirectional=bi, seed=0)
    R.train_row_reader(reader, digits_X[train_idx], digits_y[train_idx], steps=300)
    readers[bi] = R.accuracy_per_row(reader, digits_X[test_idx], digits_y[test_idx])
print(f"two readers trained in {time.perf_counter() - t0:.1f} s")

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 2.9), gridspec_kw={"width_ratios": [1, 3]})
ax0.imshow(digits_X[test_idx[0]], cmap="gray_r")
ax0.set_yticks(range(8))
ax0.set_yticklabels([f"row {r + 1}" for r in range(8)], fontsize=7)
ax0.set_xticks([])
ax0.set_title(f"a test digit ({digits_y[test_idx[0]]})", fontsize=9)
rows = np.arange(1, 9)
ax1.plot(rows, readers[False], "o-", color=CLASS_COLORS[0], label="one direction")
ax1.plot(rows, readers[True], "s-", color=CLASS_COLORS[5], label="bidirectional")
ax1.axhline(0.1, color="0.5", ls=":", lw=1)
ax1.set_xlabel("rows read (the guess is made at this row)")
ax1.set_ylabel("test accuracy")
ax1.set_ylim(0, 1)
ax1.legend(fontsize=8)
ax1.set_title("guessing a digit while reading it row by row")
fig.tight_layout()
plt.show()
for bi, name in ((False, "one direction"), (True, "bidirectional")):
    print(f"{name:14s} accuracy after rows 1-8: " + " ".join(f"{a:.2f}" for a in readers[bi]))

# %% [markdown]
# The one-directional reader improves as it reads, and its last guesses are about as good as the
# bidirectional reader's, which is high from the first row on, because at every step it has seen
# everything (the accuracies are printed below the figure). (Both are far from a convolutional
# network on the same digits: reading rows in order is an odd way to look at an image.
# Multi-dimensional RNNs and, later, attention are ways to do better.)
#
# ## 9. Output feedback and a character-level language model
#
# ### 9.1 Feeding outputs back
#
# So far the outputs were read from the states and then left alone: given the inputs, the
# outputs at different steps are computed independently of each other. For **generating** a
# sequence, whether text, a caption or a drawing, that is not enough: the choice at step $t$ must
# depend on what was already produced. **Output feedback** makes the output of one step the
# input of the next, so the model describes
#
# $$ p(y_1, \dots, y_T) = \prod_{t=1}^{T} p(y_t \mid y_1, \dots, y_{t-1}) $$
#
# (plus a condition such as an image, lecture 13). Training and testing then differ.
#
# * **Training: teacher forcing** (Williams and Zipser, 1989). The input at step $t$ is the
#   *true* $y_{t-1}$ from the data. All steps can be computed in one pass of the recurrence
#   over the known sequence, and each step's loss is the cross-entropy of the true next
#   element. This is how the character model below and the captioning model of a5 are trained.
# * **Testing: the model's own outputs.** There is no true sequence, so each step's output is
#   chosen (the most likely element, a sample, or a beam search) and fed back. The model now sees
#   its own mistakes, which it never saw in training (**exposure bias**); one wrong choice can
#   lead it into territory it does not know. **Scheduled sampling** (Bengio et al., 2015) narrows
#   the gap by feeding, with a probability that grows during training, the model's own
#   prediction instead of the true element.
#
# ### 9.2 A character-level language model
#
# A **language model** predicts the next symbol of a text from the ones before. At the level of
# characters (Sutskever et al. 2011; Graves 2013; Karpathy's char-rnn, 2015) it needs no
# vocabulary of words: it reads and writes one character at a time, and must learn spelling,
# words, punctuation and line breaks from scratch. We train one on English that ships with Python
# itself: the paragraphs of the language reference in `pydoc_data.topics` (grammar rules and code
# examples, tables and heading underlines removed), some two hundred thousand characters (the
# count is printed below; it depends on the Python version). The last 5% are held out.

# %%
text = language.load_text()
vocab = language.CharVocab(text)
ids = vocab.encode(text)                          # (L,) int64
n_val = len(ids) // 20
train_ids, val_ids = ids[:-n_val], ids[-n_val:]
print(f"{len(text):,} characters, {vocab.size} distinct; train {len(train_ids):,}, "
      f"validation {len(val_ids):,}")
print(repr(text[20_000:20_400]))

# %% [markdown]
# The model: each character id is looked up in an embedding table (a learned 32-dimensional vector
# per character), an LSTM with 128 units reads the sequence, and a linear layer turns every hidden
# state into $V$ scores for the next character. Training uses **truncated BPTT** exactly as in
# section 3: the text is cut into 32 streams read in parallel, each step takes the next 64
# characters of every stream, predicts each next character (teacher forcing), and carries the
# hidden state, detached, into the next step. Adam with a learning rate of 0.02 that decays along
# a cosine to 0.002, gradients clipped to norm 1. The time it takes is printed with the result.
#
# As a yardstick: a model that knows nothing pays $\log_2 V$ bits per character; one that only
# knows how often each character occurs pays the entropy of the character frequencies.

# %%
freq = np.bincount(train_ids, minlength=vocab.size) / len(train_ids)
unigram_bits = float(-(freq[freq > 0] * np.log2(freq[freq > 0])).sum())
print(f"uniform guess: {math.log2(vocab.size):.2f} bits/char; character frequencies only: "
      f"{unigram_bits:.2f} bits/char")

lm = language.CharLM(vocab.size, embed_dim=32, hidden_size=128, cell="lstm", seed=0)
print(f"CharLM: {sum(p.numel() for p in lm.parameters()):,} parameters")
hist = language.train_char_lm(lm, train_ids, steps=700, batch_size=32, chunk=64, lr=2e-2, clip=1.0,
                        val_ids=val_ids, val_every=200, seed=0)
val_bits = [v / math.log(2) for v in hist.val_loss]
print(f"trained in {hist.seconds:.1f} s; validation: {val_bits[-1]:.2f} bits/char")

# %%
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.2))
loss_bits = np.array(hist.loss) / math.log(2)
ax0.plot(loss_bits, color="0.75", lw=0.8, label="minibatch")
ax0.plot(np.convolve(loss_bits, np.ones(25) / 25, mode="valid"), color=CLASS_COLORS[0],
         label="moving average")
ax0.plot(hist.val_steps, val_bits, "o-", color=CLASS_COLORS[5], label="validation")
ax0.axhline(unigram_bits, color="0.4", ls=":", lw=1)
ax0.text(len(loss_bits), unigram_bits + 0.05, "character frequencies only", ha="right",
         fontsize=8, color="0.4")
ax0.set_ylim(1, 7)
ax0.set_xlabel("step (64 characters x 32 streams)")
ax0.set_ylabel("bits per character")
ax0.legend(fontsize=8)
ax0.set_title("training the character model")
ax1.semilogy(hist.grad_norm, color="0.5", lw=0.8)
ax1.axhline(1.0, color=CLASS_COLORS[5], ls="--", lw=1, label="clipping threshold θ = 1")
ax1.set_xlabel("step")
ax1.set_ylabel("gradient norm before clipping")
ax1.legend(fontsize=8)
ax1.set_title(f"clipped on {np.sum(np.array(hist.grad_norm) > 1.0)} of {len(hist.grad_norm)} "
              "steps")
fig.tight_layout()
plt.show()
first25 = loss_bits[:25].mean()
print(f"first minibatch {loss_bits[0]:.2f} bits/char; mean of the first 25: {first25:.2f}, "
      f"{'below' if first25 < unigram_bits else 'above'} the {unigram_bits:.2f} of the character "
      "frequencies")
wiggle = loss_bits - np.convolve(loss_bits, np.ones(101) / 101, mode="same")  # minus the trend
wiggle = wiggle[100:-60]
corr = [np.corrcoef(wiggle[:-k], wiggle[k:])[0, 1] for k in range(40, 250)]
print(f"the detrended training loss repeats itself best after {40 + int(np.argmax(corr))} steps "
      f"(correlation {max(corr):.2f}); one pass of a stream over the text takes at most "
      f"{len(train_ids) // (32 * 64)} steps")
print(f"last 50 steps: training {loss_bits[-50:].mean():.2f} bits/char, validation "
      f"{val_bits[-1]:.2f}; the largest gradient norm {max(hist.grad_norm):.2f}")

# %% [markdown]
# The loss falls quickly from the uniform guess below the character-frequency baseline (the
# first line): the model has learned which characters follow which. The slow wiggles of the
# training curve repeat with every pass over the text (the second line: the curve matches
# itself one pass later): some passages are simply easier to predict than others. The
# validation curve lies above the training curve (the last line): the held-out topics are text
# the model has never read, while it has begun to fit the training text itself. The gradient
# norm (right) stays below the clipping threshold in this run (the title counts the clipped
# steps): the loss averages $32 \cdot 64 = 2048$ predictions, and an LSTM is less prone to
# explode than a vanilla RNN. A threshold that is never reached costs nothing, and it stays as
# insurance against the rare cliff. A model this small trained this briefly will not write
# correct sentences, but the samples below show how much structure it learns: spaces after
# words, frequent words, capitals after full stops, quotes around names.
#
# ### 9.3 Sampling with a temperature
#
# To generate, we give the model a **prompt**, run it over the prompt, and then repeatedly turn
# the scores $s$ of the next character into a distribution, draw a character, and feed it back.
# The **temperature** $\tau > 0$ divides the scores before the softmax:
#
# $$ p_\tau(k) = \frac{\exp(s_k / \tau)}{\sum_j \exp(s_j / \tau)} \;\propto\; p_1(k)^{1/\tau}. $$
#
# At $\tau = 1$ we sample the model's own distribution. A small $\tau$ sharpens it (as
# $\tau \to 0$, always the most likely character: greedy decoding), which gives safe, repetitive
# text that easily falls into loops. A large $\tau$ flattens it towards the uniform distribution,
# which gives diverse text full of misspellings and, eventually, noise.

# %%
for tau in (0.2, 0.6, 1.0, 1.6):
    print(f"--- temperature {tau} ---")
    print("The " + language.sample(lm, vocab, "The ", length=220, temperature=tau, seed=1))
    print()

# %% [markdown]
# ### 9.4 Play with it: temperature
#
# The widget shows, for the chosen prompt, the distribution of the *first* generated character
# (the 24 most likely ones at $\tau = 1$; bars at your temperature, orange marks at $\tau = 1$)
# with its entropy, and a sample of 480 characters below.
#
# Things to try:
#
# 1. Move $\tau$ from 1 down to 0.1 and watch the bars: the most likely character takes all the
#    probability, the entropy drops to nearly 0 bits, and the sample starts repeating itself.
# 2. Move $\tau$ up to 2: the bars flatten and the entropy approaches $\log_2 V$; when does the
#    text stop looking like English?
# 3. Change the **seed** at $\tau = 1$: a different sample from the same distribution. At
#    $\tau = 0.1$ most seeds give the same text. Why?
# 4. Try the prompt "If the ": which characters does the model expect next, and are they
#    grammatical?

# %%
sampling_view = SamplingView(lm, vocab, temperature=0.6, seed=1)
sampling_view

# %%
print(f"notebook time so far: {time.perf_counter() - t_start:.0f} s")

# %% [markdown]
# ## Check yourself
#
# **1.** A vanilla RNN reads word vectors of size $D = 300$ with $H = 512$ hidden units. How many
# parameters does the recurrent layer have, and how many more does it need to read sequences
# ten times as long?
#
# <details><summary>Answer</summary>
#
# $W_{xh}$: $512 \times 300 = 153\,600$; $W_{hh}$: $512 \times 512 = 262\,144$; $b$: 512; in total
# $416\,256$ (torch adds a second bias of 512). Longer sequences need no parameters at all: the
# same weights are applied at every step. They do need more memory for BPTT, which stores every
# step's state.
# </details>
#
# **2.** Why is the gradient of $W_{hh}$ a *sum* over time steps?
#
# <details><summary>Answer</summary>
#
# In the unrolled graph, $W_{hh}$ is used once per step. A change of $W_{hh}$ changes all those
# uses at once, so its effect on the loss is the sum of the effects through each use: the
# multivariable chain rule adds the gradients of all the copies (section 3 checked it
# numerically).
# </details>
#
# **3.** A character model is trained with truncated BPTT in chunks of 64 characters, the state
# carried across chunks. Can its prediction at some position depend on a character 200 positions
# back? Can training teach it to?
#
# <details><summary>Answer</summary>
#
# It can depend on it: the forward pass carries the state through all chunks, so information
# from 200 characters back can still be in it. But no gradient spans more than 64 steps, so
# training cannot directly reward keeping a specific piece of information for 200 steps; it can
# only exploit information the network happens to keep for other reasons.
# </details>
#
# **4.** A linear RNN has $W_{hh}$ with eigenvalues 0.9 and 1.1. By how much is each component of
# the gradient scaled after travelling 50 steps back?
#
# <details><summary>Answer</summary>
#
# $0.9^{50} \approx 0.005$ and $1.1^{50} \approx 117$. After 50 steps the gradient points almost
# entirely along the eigenvector of 1.1, and its size is governed by the spectral radius.
# </details>
#
# **5.** Why does gradient clipping help with exploding gradients but not with vanishing ones?
#
# <details><summary>Answer</summary>
#
# Clipping only ever shrinks a gradient whose norm exceeds the threshold. That prevents the huge
# steps that throw the weights off a cliff. A vanishing gradient is already tiny: clipping leaves
# it unchanged, and the information about long-range dependencies is still missing. That needs a
# different cell (LSTM, GRU) or a different architecture.
# </details>
#
# **6.** In an LSTM, $\partial c_t / \partial c_{t-1} = \mathrm{diag}(f_t)$ along the cell path.
# What does this say about how the forget gate's bias should be initialised, and why?
#
# <details><summary>Answer</summary>
#
# Positive (e.g. 1 or more), so that $f_t = \sigma(\dots + b_f)$ starts close to 1. Then the
# product of forget gates over many steps stays close to 1, gradients reach far back from the
# first update, and the network starts out remembering; it can learn to forget where that helps.
# With $f \approx 0.5$ at the start, the error signal halves at every step.
# </details>
#
# **7.** In the gates widget, clamping *forget = 1* hurts sequences with two markers much more
# than sequences with one. Why?
#
# <details><summary>Answer</summary>
#
# With one marker the network only has to write once and then keep, which $f = 1$ does
# perfectly. With two, it must replace the first marker by the second; with $f = 1$ the old
# content can never be removed, so the second write is added on top of the first and the cell
# holds a mixture that the read-out misreads.
# </details>
#
# **8.** An LSTM and a GRU both have $D = H = 256$. How many parameters does each have in torch,
# and which gate of the LSTM has no separate counterpart in the GRU?
#
# <details><summary>Answer</summary>
#
# LSTM: $4(256 \cdot 256 + 256 \cdot 256 + 2 \cdot 256) = 526\,336$. GRU: three blocks,
# $394\,752$. The GRU has no output gate and no separate cell; its update gate $z$ plays the
# roles of both the forget gate ($z$) and the input gate ($1 - z$).
# </details>
#
# **9.** Why can a bidirectional RNN not be used to generate text, or to caption a live video
# stream as it comes in?
#
# <details><summary>Answer</summary>
#
# Its output at step $t$ depends on the backward RNN, which reads from the end of the sequence.
# When generating, the future does not exist yet (it is what we are producing); in a live stream
# it has not arrived. Bidirectional RNNs need the whole input before the first output.
# </details>
#
# **10.** Sampling a character model at $\tau = 0.1$ gives "the the the the ...". Explain, and
# say what changes at $\tau = 2$.
#
# <details><summary>Answer</summary>
#
# At $\tau = 0.1$ the distribution is raised to the power 10 and renormalised: nearly all the
# mass goes to the most likely character, so sampling is almost greedy. Greedy decoding follows
# the single most likely path, and once the state returns to one it has been in, it repeats the
# same characters: a loop. At $\tau = 2$ the distribution is flattened (power 1/2), unlikely
# characters get sampled often, and the text fills with misspellings and random symbols.
# </details>
#
# **11.** What is exposure bias, and how does scheduled sampling address it?
#
# <details><summary>Answer</summary>
#
# With teacher forcing the model is only ever trained on *true* previous outputs; at test time
# it is fed its own, possibly wrong, outputs, a situation it has never seen, and errors can
# compound. Scheduled sampling feeds, during training, the model's own prediction instead of the
# true element with a probability that increases over training, so it learns to continue from its
# own mistakes.
# </details>
#
# ## Summary
#
# * An RNN applies one cell at every step and passes a hidden state forward:
#   $h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b)$. Sharing the weights over time makes the number
#   of parameters independent of the length, just as a convolution shares its kernel over space.
#   Inputs and outputs can be attached to any steps: one-to-many (captioning), many-to-one
#   (classification of a sequence), many-to-many (labelling, translation, language modelling).
# * Training unrolls the network and back-propagates through time; a shared weight's gradient is
#   the sum over steps. Truncated BPTT carries the state forward across chunks but stops the
#   gradient at their boundaries, which bounds memory and the length of learnable dependencies.
# * The error signal is multiplied by $\mathrm{diag}(1 - h_t^2) W_{hh}$ at every step back. In the
#   linear case it scales like $\rho(W_{hh})^{T-t}$; the $\tanh$ derivatives shrink it further.
#   Gradients vanish (long dependencies cannot be learned) or explode (cliffs in the loss).
# * Clipping the gradient by its norm, $g \leftarrow \theta g / \|g\|$ when $\|g\| > \theta$, tames
#   exploding gradients; it does nothing for vanishing ones.
# * The LSTM adds a cell $c_t = f_t \odot c_{t-1} + i_t \odot g_t$ read through
#   $h_t = o_t \odot \tanh(c_t)$. Along the cell, $\partial c_t / \partial c_{t-1} = \mathrm{diag}(f_t)$:
#   with forget gates near 1 the error survives many steps. Trained on a memory task, it writes
#   at the marker (input gate wider open), keeps through the noise (forget gate near 1), and
#   erases by lowering the forget gate at a marker; clamping those gates breaks exactly those
#   abilities.
# * The GRU merges the gates into an update gate and a reset gate, has no separate cell, and
#   uses 3 instead of 4 weight blocks. Both gated cells solve memory tasks that defeat the
#   vanilla RNN.
# * Layers stack (deep RNNs), run in both directions when the whole input is known
#   (bidirectional RNNs), or scan grids (multi-dimensional RNNs).
# * Generators feed their outputs back: trained with teacher forcing, run on their own samples.
#   A character model trained with truncated BPTT writes plausible text; the temperature trades
#   safe, repetitive text against diverse, error-prone text.
#
# ## Papers and further reading
#
# * J. L. Elman (1990). Finding structure in time. *Cognitive Science* 14(2), 179–211. The simple
#   recurrent network.
# * D. E. Rumelhart, G. E. Hinton, R. J. Williams (1986). Learning representations by
#   back-propagating errors. *Nature* 323, 533–536.
# * P. J. Werbos (1990). Backpropagation through time: what it does and how to do it.
#   *Proceedings of the IEEE* 78(10), 1550–1560.
# * R. J. Williams, D. Zipser (1989). A learning algorithm for continually running fully recurrent
#   neural networks. *Neural Computation* 1(2), 270–280. Teacher forcing.
# * S. Hochreiter (1991). *Untersuchungen zu dynamischen neuronalen Netzen*. Diploma thesis,
#   TU München. The first analysis of vanishing gradients.
# * Y. Bengio, P. Simard, P. Frasconi (1994). Learning long-term dependencies with gradient descent
#   is difficult. *IEEE Transactions on Neural Networks* 5(2), 157–166.
# * S. Hochreiter, J. Schmidhuber (1997). Long short-term memory. *Neural Computation* 9(8),
#   1735–1780. The constant error carousel, input and output gates.
# * F. A. Gers, J. Schmidhuber, F. Cummins (2000). Learning to forget: continual prediction with
#   LSTM. *Neural Computation* 12(10), 2451–2471. The forget gate.
# * R. Pascanu, T. Mikolov, Y. Bengio (2013). On the difficulty of training recurrent neural
#   networks. *ICML 2013*, PMLR 28(3), 1310–1318. Spectral conditions, cliffs, clipping by norm.
# * K. Cho, B. van Merriënboer, C. Gulcehre, D. Bahdanau, F. Bougares, H. Schwenk, Y. Bengio
#   (2014). Learning phrase representations using RNN encoder-decoder for statistical machine
#   translation. *EMNLP 2014*, 1724–1734. The GRU and the encoder-decoder.
# * I. Sutskever, O. Vinyals, Q. V. Le (2014). Sequence to sequence learning with neural networks.
#   *NeurIPS 2014*.
# * J. Chung, C. Gulcehre, K. Cho, Y. Bengio (2014). Empirical evaluation of gated recurrent neural
#   networks on sequence modeling. arXiv:1412.3555.
# * R. Jozefowicz, W. Zaremba, I. Sutskever (2015). An empirical exploration of recurrent network
#   architectures. *ICML 2015*. Among other findings, the forget-gate bias of 1.
# * K. Greff, R. K. Srivastava, J. Koutník, B. R. Steunebrink, J. Schmidhuber (2017). LSTM: a
#   search space odyssey. *IEEE Transactions on Neural Networks and Learning Systems* 28(10), 2222–2232.
# * Q. V. Le, N. Jaitly, G. E. Hinton (2015). A simple way to initialize recurrent networks of
#   rectified linear units. arXiv:1504.00941.
# * M. Schuster, K. K. Paliwal (1997). Bidirectional recurrent neural networks. *IEEE Transactions
#   on Signal Processing* 45(11), 2673–2681.
# * A. Graves, S. Fernández, J. Schmidhuber (2007). Multi-dimensional recurrent neural networks.
#   *ICANN 2007*, LNCS 4668, 549–558.
# * A. Graves, A. Mohamed, G. Hinton (2013). Speech recognition with deep recurrent neural
#   networks. *ICASSP 2013*. Deep bidirectional LSTMs.
# * A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu (2016). Pixel recurrent neural networks.
#   *ICML 2016*.
# * I. Sutskever, J. Martens, G. Hinton (2011). Generating text with recurrent neural networks.
#   *ICML 2011*. Character-level language models.
# * A. Graves (2013). Generating sequences with recurrent neural networks. arXiv:1308.0850.
# * A. Karpathy (2015). The unreasonable effectiveness of recurrent neural networks. Blog post,
#   http://karpathy.github.io/2015/05/21/rnn-effectiveness/ , and A. Karpathy, J. Johnson,
#   L. Fei-Fei (2015). Visualizing and understanding recurrent networks. arXiv:1506.02078.
# * S. Bengio, O. Vinyals, N. Jaitly, N. Shazeer (2015). Scheduled sampling for sequence
#   prediction with recurrent neural networks. *NeurIPS 2015*.
# * C. Olah (2015). Understanding LSTM networks. Blog post,
#   https://colah.github.io/posts/2015-08-Understanding-LSTMs/ . Careful diagrams of the gates.
# * I. Goodfellow, Y. Bengio, A. Courville (2016). *Deep Learning*, MIT Press. Chapter 10,
#   sequence modelling: recurrent and recursive nets.
# * Stanford CS231n, lecture 10 and its notes on recurrent neural networks: the RNN, LSTM and
#   image-captioning material that assignment a5 builds on.
