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
# # Lecture 04 — Backpropagation and neural networks
#
# Lecture 03 trained classifiers by following the gradient of the loss. For a linear classifier
# that gradient fits on one line of paper. For a network with millions of weights arranged in
# dozens of layers, deriving one closed-form expression per weight is hopeless, and estimating
# each one numerically would need millions of forward passes per step. **Backpropagation** solves
# this: it is the chain rule of calculus, applied in a disciplined order on a graph of simple
# operations, and it delivers the gradient with respect to *every* input of the graph for about
# the price of one extra forward pass. Every deep learning framework (torch's `loss.backward()`
# among them) is built around it.
#
# The second half of the chapter uses that machinery. We stack linear maps with non-linear
# **activation functions** in between and get **neural networks**: functions that can bend their
# decision boundaries in ways no linear classifier can.
#
# **After this lecture you can**
#
# 1. draw the computational graph of an expression, run it forward and backward with numbers,
#    and explain backprop as "local gradient times upstream gradient";
# 2. recognise the gate patterns (add distributes, max routes, multiply swaps, a branch sums)
#    and use them to backpropagate quickly and to debug;
# 3. derive the gradient of a matrix product from the shapes alone, and say why nobody ever
#    builds the Jacobian of an elementwise operation or of a layer;
# 4. read and write a tiny automatic-differentiation engine (the `Value` class below);
# 5. compare the common activation functions (sigmoid, tanh, ReLU, leaky ReLU, PReLU, ELU,
#    maxout) by saturation, zero-centring, cost and dead units, and pick one;
# 6. describe a fully connected network, count its neurons and parameters, write its forward pass
#    as matrix products, and explain capacity, universal approximation and why depth helps;
# 7. control overfitting with regularisation rather than with a smaller network.
#
# **Plan.** Computational graphs and the chain rule → gate patterns → vectorised gradients and
# Jacobians → an autograd engine in 60 lines → activation functions (with a widget) → neural
# networks, their capacity (with a widget) → a network on real digits → questions, summary,
# papers.
#
# In assignment a2 you write the forward and backward passes of the layers of a network yourself
# in numpy (affine, ReLU, batch and layer normalisation, dropout, the losses) and the update rules.
# This chapter therefore works with scalars, small hand checks and formulas, and lets torch do the
# heavy lifting for whole networks.

# %%
# %matplotlib inline
import math
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.data import load_classification
from dlcv.gradcheck import rel_error
from dlcv.loop import Log, shuffled, train
from dlcv.networks import activations as act
from dlcv.networks import mlp
from dlcv.networks.compgraph import draw_compgraph
from dlcv.networks.widgets import ActivationView, MLPCapacityView, data_box, region_colours
from dlcv.plots import CLASS_COLORS, class_cmap, plot_loss_history
from dlcv.timing import cap_threads

plt.rcParams.update({"figure.figsize": (8, 3.2), "figure.dpi": 90, "font.size": 10})
np.set_printoptions(precision=4, suppress=True)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine
torch.set_printoptions(precision=4)
rng = np.random.default_rng(0)
_ = torch.manual_seed(0)

# %% [markdown]
# ## 1. Computational graphs and the chain rule
#
# ### 1.1 A first example with numbers
#
# Take $f(x, y, z) = (x + y)\,z$ at $x = -2$, $y = 5$, $z = -4$. Break it into two elementary
# operations by naming the intermediate result:
#
# $$ q = x + y, \qquad f = q\,z. $$
#
# Each operation is a node (a *gate*) of a **computational graph**. The **forward pass** walks
# the graph from the inputs to the output: $q = 3$, $f = -12$. The **backward pass** walks it the
# other way and computes the derivative of $f$ with respect to every value on the way. Each gate
# knows its own **local gradients**, which depend only on its inputs:
#
# $$ \frac{\partial f}{\partial q} = z, \quad \frac{\partial f}{\partial z} = q, \qquad
#    \frac{\partial q}{\partial x} = 1, \quad \frac{\partial q}{\partial y} = 1. $$
#
# The **chain rule** glues them: $x$ influences $f$ only through $q$, so
# $\frac{\partial f}{\partial x} = \frac{\partial f}{\partial q}\,\frac{\partial q}{\partial x}$.
# We start at the output with $\partial f / \partial f = 1$ and move backwards.

# %%
x, y, z = -2.0, 5.0, -4.0
# forward pass
q = x + y           # 3
f = q * z           # -12
# backward pass, from the output to the inputs
df = 1.0                    # df/df
dq = z * df                 # the * gate: local gradient z, times the upstream gradient
dz = q * df                 # the * gate: local gradient q
dx = 1.0 * dq               # the + gate: local gradient 1, times the upstream gradient dq
dy = 1.0 * dq
print(f"forward:  q = {q}, f = {f}")
print(f"backward: df/dq = {dq}, df/dz = {dz}, df/dx = {dx}, df/dy = {dy}")

# the same with torch's automatic differentiation
xt, yt, zt = (torch.tensor(v, requires_grad=True) for v in (x, y, z))
ft = (xt + yt) * zt
ft.backward()
print("torch:   ", [float(t.grad) for t in (xt, yt, zt)])

# %% [markdown]
# The picture below is the same computation. Each wire carries the forward value (green, above)
# and, after the backward pass, the gradient of the output with respect to that value (red, below).

# %%
fig, ax = plt.subplots(figsize=(6.5, 2.9))
draw_compgraph(ax, {"x": (0, 1.6, "x"), "y": (0, 0.4, "y"), "z": (0, -1.0, "z"),
                    "q": (2.0, 1.0, "+"), "f": (4.0, 0.0, "*")},
               [("x", "q"), ("y", "q"), ("q", "f"), ("z", "f")],
               values=dict(x=x, y=y, z=z, q=q, f=f), grads=dict(x=dx, y=dy, z=dz, q=dq, f=df),
               fmt="{:g}", title="f = (x + y) z: values (green) and gradients (red)")
plt.show()

# %% [markdown]
# Read the red numbers as sensitivities: increasing $z$ by a small $h$ raises $f$ by about
# $3h$; increasing $x$ or $y$ lowers it by about $4h$.
#
# ### 1.2 Local gradient times upstream gradient
#
# The example contains the whole algorithm. A gate with input $a$ and output $b$ receives, during
# the backward pass, the **upstream gradient** $\partial L / \partial b$ (how much the final
# output $L$ cares about the gate's output). It multiplies it by its **local gradient**
# $\partial b / \partial a$ and passes the product on as the gradient of its input:
#
# $$ \underbrace{\frac{\partial L}{\partial a}}_{\text{downstream}}
#    = \underbrace{\frac{\partial b}{\partial a}}_{\text{local}}\;
#      \underbrace{\frac{\partial L}{\partial b}}_{\text{upstream}}. $$
#
# No gate needs to know anything about the rest of the graph. It needs its inputs (remembered
# from the forward pass) and one number coming down from above. That locality is why a framework
# can compose thousands of simple gates into a network and still differentiate it: each gate type
# ships a forward and a backward function, and the graph does the bookkeeping.
#
# ### 1.3 A sigmoid neuron, gate by gate
#
# A single neuron with two inputs and a sigmoid activation computes
#
# $$ f(w, x) = \frac{1}{1 + e^{-(w_0 x_0 + w_1 x_1 + w_2)}}. $$
#
# Split it into gates: two multiplications, two additions, then $\cdot(-1)$, $\exp$, $+1$ and
# $1/\cdot$. Their local gradients are elementary:
#
# | gate | forward | local gradient |
# |---|---|---|
# | $b = c\,a$ (constant $c$) | multiply by a constant | $c$ |
# | $b = e^{a}$ | exponential | $e^{a}$ |
# | $b = a + c$ | add a constant | $1$ |
# | $b = 1/a$ | reciprocal | $-1/a^{2}$ |
#
# With $w = (2, -3, -3)$ and $x = (-1, -2)$ the forward and backward passes give:

# %%
w0, w1, w2 = 2.0, -3.0, -3.0
x0, x1 = -1.0, -2.0
# forward, one gate at a time (every intermediate value is kept: the backward pass needs them)
a = w0 * x0            # -2
b = w1 * x1            # 6
c = a + b              # 4
d = c + w2             # 1   the neuron's pre-activation w.x + bias
e = -d                 # -1
g = math.exp(e)        # 0.368
h = 1.0 + g            # 1.368
out = 1.0 / h          # 0.731
# backward, in reverse order
d_out = 1.0
d_h = -1.0 / h**2 * d_out    # reciprocal gate
d_g = 1.0 * d_h              # +1 gate
d_e = math.exp(e) * d_g      # exp gate
d_d = -1.0 * d_e             # *(-1) gate
d_c, d_w2 = d_d, d_d         # + gate: both inputs get the upstream gradient
d_a, d_b = d_c, d_c          # + gate again
d_w0, d_x0 = x0 * d_a, w0 * d_a   # * gate: each input gets the OTHER input times upstream
d_w1, d_x1 = x1 * d_b, w1 * d_b
print(f"output {out:.4f}")
print(f"gradients on w: {d_w0:.4f} {d_w1:.4f} {d_w2:.4f}   on x: {d_x0:.4f} {d_x1:.4f}")

fig, ax = plt.subplots(figsize=(13, 4.6))
nodes = {"w0": (0, 4.4, "w0"), "x0": (0, 3.1, "x0"), "w1": (0, 1.7, "w1"), "x1": (0, 0.4, "x1"),
         "w2": (0, -0.9, "w2"), "a": (2.0, 3.75, "*"), "b": (2.0, 1.05, "*"),
         "c": (3.8, 2.4, "+"), "d": (5.6, 0.9, "+"), "e": (7.2, 0.9, "*-1"),
         "g": (8.8, 0.9, "exp"), "h": (10.4, 0.9, "+1"), "out": (12.0, 0.9, "1/x")}
edges = [("w0", "a"), ("x0", "a"), ("w1", "b"), ("x1", "b"), ("a", "c"), ("b", "c"),
         ("c", "d"), ("w2", "d"), ("d", "e"), ("e", "g"), ("g", "h"), ("h", "out")]
vals = dict(w0=w0, x0=x0, w1=w1, x1=x1, w2=w2, a=a, b=b, c=c, d=d, e=e, g=g, h=h, out=out)
grads = dict(w0=d_w0, x0=d_x0, w1=d_w1, x1=d_x1, w2=d_w2, a=d_a, b=d_b, c=d_c, d=d_d, e=d_e,
             g=d_g, h=d_h, out=d_out)
draw_compgraph(ax, nodes, edges, vals, grads, fontsize=10,
               title="a sigmoid neuron as a graph of elementary gates")
plt.show()

# %% [markdown]
# Nothing forces us to cut the graph into the smallest possible pieces. The last four gates
# together compute the sigmoid $\sigma(d) = 1/(1 + e^{-d})$, whose derivative has a famously
# simple form:
#
# $$ \frac{d\sigma}{dd} = \frac{e^{-d}}{(1 + e^{-d})^2}
#    = \frac{1}{1 + e^{-d}} \cdot \frac{1 + e^{-d} - 1}{1 + e^{-d}}
#    = \big(1 - \sigma(d)\big)\,\sigma(d). $$
#
# So a single **sigmoid gate** can replace the four: its backward pass needs only the output it
# already computed. With $\sigma = 0.731$ the local gradient is $(1 - 0.731)\cdot 0.731 = 0.197$,
# the same number the four gates produced one by one. Grouping gates whose derivative simplifies
# is a common trick; it saves work and improves numerical accuracy.

# %%
s = 1.0 / (1.0 + math.exp(-(w0 * x0 + w1 * x1 + w2)))
d_pre = (1.0 - s) * s                               # the sigmoid gate in one step
print(f"sigmoid gate: local gradient {d_pre:.4f} (gate by gate: {d_d:.4f})")
print(f"dw = {[round(v * d_pre, 4) for v in (x0, x1, 1.0)]}, dx = {[round(v * d_pre, 4) for v in (w0, w1)]}")

wt = torch.tensor([w0, w1, w2], requires_grad=True)
xt = torch.tensor([x0, x1], requires_grad=True)
torch.sigmoid(wt[0] * xt[0] + wt[1] * xt[1] + wt[2]).backward()
print("torch: dw =", wt.grad.numpy(), " dx =", xt.grad.numpy())

# %% [markdown]
# ### 1.4 Staged computation: cache the forward values, add at branches
#
# In practice one writes the forward pass as a sequence of small named steps and the backward
# pass as the same steps in reverse, one line per step. Take
#
# $$ f(x, y) = \frac{x\,\sigma(y) + \tanh(x)}{1 + y^2} $$
#
# at $x = 1.5$, $y = -0.5$. It would be tedious to differentiate by hand as a whole, but staged it
# is mechanical. Two things to watch. First, the backward pass reuses values from the forward pass
# (`sy`, `t`, `inv`...), so the forward pass must **cache** them. Second, $x$ and $y$ are each used
# twice; when a variable feeds several gates, its gradient is the **sum** of what comes back from
# each of them (the multivariable chain rule), hence `+=`.

# %%
x, y = 1.5, -0.5
# forward pass: small steps, every intermediate kept
sy = 1.0 / (1.0 + math.exp(-y))   # sigma(y)
p = x * sy                        # first use of x
t = math.tanh(x)                  # second use of x
num = p + t
ysq = y * y
den = 1.0 + ysq
inv = 1.0 / den
f = num * inv
# backward pass: the same steps in reverse, each "local gradient * upstream gradient"
d_num = inv                       # f = num * inv
d_inv = num
d_den = -1.0 / den**2 * d_inv     # inv = 1 / den
d_ysq = 1.0 * d_den               # den = 1 + ysq
d_y = 2.0 * y * d_ysq             # ysq = y * y  (first path into y)
d_p = 1.0 * d_num                 # num = p + t
d_t = 1.0 * d_num
d_x = (1.0 - t**2) * d_t          # t = tanh(x)  (first path into x)
d_x += sy * d_p                   # p = x * sy   (second path into x: ADD)
d_sy = x * d_p
d_y += (1.0 - sy) * sy * d_sy     # sy = sigma(y) (second path into y: ADD)
print(f"f = {f:.5f}, df/dx = {d_x:.5f}, df/dy = {d_y:.5f}")

xt, yt = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
ft = (xt * torch.sigmoid(yt) + torch.tanh(xt)) / (1 + yt**2)
ft.backward()
print(f"torch: f = {ft.item():.5f}, df/dx = {xt.grad.item():.5f}, df/dy = {yt.grad.item():.5f}")

# %% [markdown]
# Writing `d_x = ...` instead of `d_x += ...` on the second path is the single most common
# backprop bug: the code runs, the numbers look plausible, and only a gradient check (lecture 03,
# `dlcv.gradcheck`) reveals that one path was forgotten.
#
# ## 2. Patterns in the backward flow
#
# A handful of gates make up most networks, and each has a recognisable effect on the gradient:
#
# * **add** $a + b$: local gradients are 1, so it **distributes** the upstream gradient unchanged
#   to all its inputs;
# * **max** $\max(a, b)$: local gradient 1 for the larger input, 0 for the other, so it
#   **routes** the whole upstream gradient to the winner (the ReLU is $\max(0, a)$);
# * **multiply** $a\,b$: the local gradient for $a$ is $b$ and vice versa, so it **swaps** its
#   inputs and scales the upstream gradient by them;
# * **copy** (a value used by several gates, a *branch*): the gradients flowing back **add up**.
#
# Here is $f = 2\,(x y + \max(z, w))$ at $x = 2$, $y = -3$, $z = 1$, $w = 4$.

# %%
x, y, z, w = 2.0, -3.0, 1.0, 4.0
xy, m = x * y, max(z, w)
s_ = xy + m
f = 2.0 * s_
d_s = 2.0                                   # f = 2 s
d_xy, d_m = d_s, d_s                        # add: distributes
d_z, d_w = (d_m, 0.0) if z > w else (0.0, d_m)   # max: routes to the larger input
d_x, d_y = y * d_xy, x * d_xy               # multiply: swaps
print(f"f = {f}, df/dx = {d_x}, df/dy = {d_y}, df/dz = {d_z}, df/dw = {d_w}")

ts = [torch.tensor(v, requires_grad=True) for v in (x, y, z, w)]
(2 * (ts[0] * ts[1] + torch.maximum(ts[2], ts[3]))).backward()
print("torch:", [t.grad.item() for t in ts])

# a branch (the copy gate): x feeds both inputs of a multiply gate, f2 = x * x at x = 3
xc, d_f2 = 3.0, 1.0
d_first, d_second = xc * d_f2, xc * d_f2     # multiply swaps: each branch gets the other input
print(f"copy: the two branches bring back {d_first} and {d_second}; "
      f"df2/dx = {d_first + d_second} = 2x")

fig, ax = plt.subplots(figsize=(8, 3.2))
draw_compgraph(ax, {"x": (0, 2.1, "x"), "y": (0, 1.0, "y"), "z": (0, -0.1, "z"),
                    "w": (0, -1.2, "w"), "xy": (2, 1.55, "*"), "m": (2, -0.65, "max"),
                    "s": (4, 0.45, "+"), "f": (6, 0.45, "*2")},
               [("x", "xy"), ("y", "xy"), ("z", "m"), ("w", "m"), ("xy", "s"), ("m", "s"),
                ("s", "f")],
               dict(x=x, y=y, z=z, w=w, xy=xy, m=m, s=s_, f=f),
               dict(x=d_x, y=d_y, z=d_z, w=d_w, xy=d_xy, m=d_m, s=d_s, f=1.0), fmt="{:g}",
               title="add distributes, max routes, multiply swaps")
plt.show()

# %% [markdown]
# The multiply rule has a practical consequence. In a linear layer $w^\top x$, the gradient on the
# weights is the input times the upstream gradient. Multiply every input by 1000 and the weight
# gradients become 1000 times larger, so the learning rate that worked before now throws the
# weights far away. This is one reason why inputs are normalised before training (lecture 05).

# %%
w_ = torch.tensor([0.5, -0.2], requires_grad=True)
for scale_in in (1.0, 1000.0):
    w_.grad = None
    x_ = scale_in * torch.tensor([0.3, 0.8])     # the same input, in other units
    s_w = w_ @ x_                                # a linear score w . x
    s_w.backward(torch.tensor(0.5))              # the same upstream gradient dL/ds = 0.5
    print(f"inputs scaled by {scale_in:6g}: dL/dw = 0.5 * x = {w_.grad.numpy()}")

# %% [markdown]
# ## 3. Gradients of vectors and matrices
#
# ### 3.1 Jacobians, and why we never build them
#
# Real layers map vectors to vectors. For $y = g(x)$ with $x \in \mathbb{R}^n$, $y \in \mathbb{R}^m$,
# the local derivative is the **Jacobian** $J \in \mathbb{R}^{m \times n}$,
# $J_{ij} = \partial y_i / \partial x_j$, and the chain rule becomes a vector-Jacobian product:
#
# $$ \frac{\partial L}{\partial x} = J^\top \frac{\partial L}{\partial y}. $$
#
# Backprop never forms $J$ explicitly. Take an elementwise ReLU on a 4096-dimensional vector:
# its Jacobian has $4096^2 \approx 16.8$ million entries (64 MB in float32) for each example,
# or roughly $(4096 \cdot 100)^2 \approx 1.7 \cdot 10^{11}$ for a minibatch of 100. But every
# output depends on one input only, so $J$ is **diagonal**, with $\mathbb{1}[x_i > 0]$ on the
# diagonal, and the product $J^\top g$ collapses to an elementwise mask: `dx = dy * (x > 0)`.

# %%
xv = torch.tensor([1.5, -0.3, 0.0, 2.0, -1.2, 0.7])
J = torch.autograd.functional.jacobian(torch.relu, xv)  # (6, 6)
print("Jacobian of ReLU at x =", xv.numpy(), "\n", J.numpy())
g_up = torch.randn(6)                                    # an upstream gradient dL/dy
print("J^T g       :", (J.T @ g_up).numpy())
print("g * (x > 0) :", torch.where(xv > 0, g_up, 0.0).numpy())
n = 4096
print(f"one example: {n * n:,} Jacobian entries; a minibatch of 100: {(100 * n) ** 2:.2e}")

# %% [markdown]
# ### 3.2 The gradient of a matrix product, from shapes alone
#
# Let $Y = W X$ with $W \in \mathbb{R}^{M \times D}$ and $X \in \mathbb{R}^{D \times N}$ (say, $N$
# inputs stored as columns), and suppose the backward pass has delivered the upstream gradient
# $dY = \partial L / \partial Y$, of shape $M \times N$. We need $dW$ and $dX$.
#
# Two facts are enough. A gradient has the shape of the thing it is a gradient of: $dW$ is
# $M \times D$, $dX$ is $D \times N$. And each entry $Y_{mn} = \sum_d W_{md} X_{dn}$ is a sum of
# products, so (multiply swaps) $dW$ must be built from $dY$ and $X$, and $dX$ from $W$ and $dY$.
# There is one way to combine them that gives the right shapes:
#
# $$ \underbrace{dW}_{M \times D} = \underbrace{dY}_{M \times N}\,\underbrace{X^\top}_{N \times D},
#    \qquad
#    \underbrace{dX}_{D \times N} = \underbrace{W^\top}_{D \times M}\,\underbrace{dY}_{M \times N}. $$
#
# Written out for one entry, $\partial L / \partial W_{md} = \sum_n dY_{mn} X_{dn}$, which is the
# chain rule summed over every output that $W_{md}$ touches. Derive these by shapes, then check
# them on a tiny case where writing the full Jacobian is still affordable. It has shape
# $(M, N, M, D)$, and every entry $\partial Y_{mn} / \partial W_{kd}$ with $k \ne m$ is zero
# (a fraction $1 - 1/M$ of them: half here, 99.9% for a layer with 1000 outputs).

# %%
M, D, N = 2, 3, 4
W = torch.randn(M, D, dtype=torch.float64)
X = torch.randn(D, N, dtype=torch.float64)
dY = torch.randn(M, N, dtype=torch.float64)            # some upstream gradient

J_W = torch.autograd.functional.jacobian(lambda W_: W_ @ X, W)   # (M, N, M, D)
J_X = torch.autograd.functional.jacobian(lambda X_: W @ X_, X)   # (M, N, D, N)
print("Jacobian dY/dW:", tuple(J_W.shape), f"- {100 * (J_W == 0).double().mean():.0f}% zeros")
dW_jac = torch.einsum("mn,mnkd->kd", dY, J_W)          # the vector-Jacobian product
dX_jac = torch.einsum("mn,mndk->dk", dY, J_X)
print("dW = dY X^T  :", rel_error(dW_jac.numpy(), (dY @ X.T).numpy()))
print("dX = W^T dY  :", rel_error(dX_jac.numpy(), (W.T @ dY).numpy()))

# and at a realistic size, against torch's own backward pass
W = torch.randn(50, 100, dtype=torch.float64, requires_grad=True)
X = torch.randn(100, 64, dtype=torch.float64, requires_grad=True)
dY = torch.randn(50, 64, dtype=torch.float64)
(W @ X).backward(dY)                                   # backward with a given upstream gradient
with torch.no_grad():
    print("torch, 50x100 @ 100x64:", rel_error(W.grad.numpy(), (dY @ X.T).numpy()),
          rel_error(X.grad.numpy(), (W.T @ dY).numpy()))

# %% [markdown]
# If your data are stored as rows instead ($Y = X W$ with $X$ of shape $N \times D$, as in
# assignment a2), the same dimension argument gives the transposed formulas; work them out before
# you write the layer. When in doubt about a vectorised gradient, write it for a tiny example
# entry by entry, then find the matrix expression that matches, and gradient-check it.
#
# ## 4. An autograd engine in 60 lines
#
# Everything so far can be automated. A tiny engine needs three things: a value that remembers
# which values it was computed from (the graph is built during the forward pass), a local
# backward rule for each operation, and a traversal that calls those rules in reverse
# topological order, so that a node's gradient is complete before it is passed on. The class
# below does this for scalars; it follows the design of Andrej Karpathy's *micrograd*. torch does
# the same for tensors, with thousands of operations and fast kernels.

# %%
class Value:
    """A scalar that records how it was computed, so that it can be differentiated."""

    def __init__(self, data, _prev=(), _op=""):
        self.data = float(data)
        self.grad = 0.0                 # d(output)/d(self), filled by backward()
        self._backward = lambda: None   # pushes self.grad to the inputs of this node
        self._prev = set(_prev)         # the Values this one was computed from
        self._op = _op

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():                # add distributes
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():                # multiply swaps
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __pow__(self, k):               # k: a plain number
        out = Value(self.data**k, (self,), f"**{k}")

        def _backward():
            self.grad += k * self.data ** (k - 1) * out.grad
        out._backward = _backward
        return out

    def exp(self):
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward():
            self.grad += out.data * out.grad
        out._backward = _backward
        return out

    def tanh(self):
        out = Value(math.tanh(self.data), (self,), "tanh")

        def _backward():
            self.grad += (1.0 - out.data**2) * out.grad
        out._backward = _backward
        return out

    def relu(self):
        out = Value(max(0.0, self.data), (self,), "relu")

        def _backward():                # max routes
            self.grad += (self.data > 0) * out.grad
        out._backward = _backward
        return out

    def backward(self):
        order, seen = [], set()         # topological order: inputs before outputs

        def visit(v):
            if v not in seen:
                seen.add(v)
                for child in v._prev:
                    visit(child)
                order.append(v)
        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            v._backward()

    # the rest follows from the operations above
    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __truediv__(self, other):
        return self * other**-1

    __radd__ = __add__
    __rmul__ = __mul__

    def __rsub__(self, other):
        return Value(other) - self

    def __rtruediv__(self, other):
        return Value(other) * self**-1

    def __repr__(self):
        return f"Value(data={self.data:.4f}, grad={self.grad:.4f})"

# %% [markdown]
# Note the `+=` in every backward rule: it implements "gradients add at branches" once and for
# all. First check: the sigmoid neuron of section 1.3, built from `Value`s, gives the same
# gradients we derived by hand.

# %%
vw = [Value(2.0), Value(-3.0), Value(-3.0)]
vx = [Value(-1.0), Value(-2.0)]
neuron = 1 / (1 + (-(vw[0] * vx[0] + vw[1] * vx[1] + vw[2])).exp())
neuron.backward()
print(neuron)
print("dw:", [round(v.grad, 4) for v in vw], " dx:", [round(v.grad, 4) for v in vx])

# %% [markdown]
# A harder test: an expression with branches, powers, a division, `tanh` and `relu`, compared
# with torch value by value and gradient by gradient.

# %%
def expression(a, b, c, relu, tanh):
    """The same formula for Values and for torch tensors."""
    d = a * b + b**3
    e = (c - a).exp() / (1 + b * b)
    g = tanh(d * 0.2 + e) * a
    return relu(g + d) - e * c + g / 2


inputs = (-1.3, 0.8, 0.4)
va, vb, vc = (Value(v) for v in inputs)
out_v = expression(va, vb, vc, Value.relu, Value.tanh)
out_v.backward()
ta, tb, tc = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in inputs)
out_t = expression(ta, tb, tc, torch.relu, torch.tanh)
out_t.backward()
print(f"value:     ours {out_v.data:.10f}   torch {out_t.item():.10f}")
for name, v, t in zip("abc", (va, vb, vc), (ta, tb, tc), strict=True):
    print(f"d/d{name}:     ours {v.grad:.10f}   torch {t.grad.item():.10f}")
assert abs(out_v.data - out_t.item()) < 1e-12
assert all(abs(v.grad - t.grad.item()) < 1e-10 for v, t in zip((va, vb, vc), (ta, tb, tc)))

# %% [markdown]
# ### Training a micro-network with it
#
# With gradients available for free, training is a loop: forward, backward, step. Below, a
# network with 2 inputs, 6 tanh units and one output (25 parameters, each a `Value`) learns
# the XOR pattern from eight points, which no linear classifier can separate (lecture 02). The
# loss is the mean squared error against targets $\pm 1$.

# %%
class MicroMLP:
    """2 -> H (tanh) -> 1, every weight a Value."""

    def __init__(self, hidden, seed=0):
        r = np.random.default_rng(seed)
        self.W1 = [[Value(r.normal(0, 1)) for _ in range(2)] for _ in range(hidden)]
        self.b1 = [Value(0.0) for _ in range(hidden)]
        self.W2 = [Value(r.normal(0, 1 / math.sqrt(hidden))) for _ in range(hidden)]
        self.b2 = Value(0.0)

    def parameters(self):
        return [w for row in self.W1 for w in row] + self.b1 + self.W2 + [self.b2]

    def __call__(self, x):
        h = [(row[0] * x[0] + row[1] * x[1] + b).tanh() for row, b in zip(self.W1, self.b1)]
        return sum((w * hi for w, hi in zip(self.W2, h)), self.b2)


X_xor = np.array([[1, 1], [-1, -1], [1, -1], [-1, 1],
                  [0.6, 0.4], [-0.5, -0.7], [0.5, -0.6], [-0.7, 0.5]])   # (8, 2)
y_xor = np.array([-1, -1, 1, 1, -1, -1, 1, 1])                          # (8,) targets
net = MicroMLP(hidden=6)
print("parameters:", len(net.parameters()))
losses = []
for _step in range(150):
    preds = [net(xi) for xi in X_xor]
    loss = sum(((p - yi) ** 2 for p, yi in zip(preds, y_xor)), Value(0.0)) * (1 / len(y_xor))
    for prm in net.parameters():
        prm.grad = 0.0                       # gradients accumulate (+=): reset them first
    loss.backward()
    for prm in net.parameters():
        prm.data -= 0.1 * prm.grad           # a gradient descent step
    losses.append(loss.data)
print(f"loss {losses[0]:.3f} -> {losses[-1]:.4f}; predictions:",
      np.round([net(xi).data for xi in X_xor], 2))
right = sum((net(xi).data > 0) == (yi > 0) for xi, yi in zip(X_xor, y_xor, strict=True))
print(f"the sign of the output is right for {right} of the {len(y_xor)} points")

gx = np.linspace(-1.5, 1.5, 31)
Z = np.array([[net((u, v)).data for u in gx] for v in gx])   # (31, 31)
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 3.3))
plot_loss_history(ax0, losses, title="micro-MLP on XOR: mean squared error")
im = ax1.imshow(Z, origin="lower", extent=(-1.5, 1.5, -1.5, 1.5), cmap="RdBu_r", vmin=-1.2,
                vmax=1.2)
ax1.scatter(X_xor[:, 0], X_xor[:, 1], c=y_xor, cmap="RdBu_r", vmin=-1.2, vmax=1.2,
            edgecolors="k", s=45)
ax1.set_title("network output (red +1, blue -1)")
fig.colorbar(im, ax=ax1, fraction=0.046)
fig.tight_layout()
plt.show()

# %% [markdown]
# Everything above was a few dozen lines of plain Python. What a real framework adds is speed:
# tensors instead of scalars (one node per matrix product, not per multiplication), backward
# rules written in C++ and CUDA, memory management, and hundreds of operations.
#
# ## 5. Activation functions
#
# A neuron computes a weighted sum of its inputs plus a bias and passes it through a fixed
# non-linear **activation function** $f$. The choice of $f$ matters mostly through its
# *derivative*: during the backward pass every unit multiplies the gradient flowing through it by
# $f'(z)$ at its own pre-activation $z$.
#
# | name | $f(x)$ | $f'(x)$ |
# |---|---|---|
# | sigmoid | $\sigma(x) = 1 / (1 + e^{-x})$ | $\sigma(x)(1 - \sigma(x)) \le 1/4$ |
# | tanh | $\tanh(x) = 2\sigma(2x) - 1$ | $1 - \tanh^2(x) \le 1$ |
# | ReLU | $\max(0, x)$ | $\mathbb{1}[x > 0]$ |
# | leaky ReLU | $\max(0, x) + 0.01 \min(0, x)$ | $1$ or $0.01$ |
# | PReLU | $\max(0, x) + a \min(0, x)$, $a$ learned | $1$ or $a$ |
# | ELU | $x$ for $x > 0$, $\alpha(e^x - 1)$ otherwise | $1$ or $\alpha e^x$ |
# | maxout | $\max(w_1^\top x + b_1,\; w_2^\top x + b_2)$ | the slope of the winning piece |
#
# The derivatives drawn below are computed by torch autograd (`dlcv.networks.activations.derivative`), not
# typed in, and the tests of `dlcv` compare them with the closed forms of the table.

# %%
show = [("sigmoid", {}), ("tanh", {}), ("relu", {}), ("leaky_relu", {"slope": 0.1}),
        ("prelu", {"a": 0.25}), ("elu", {"alpha": 1.0}), ("maxout", {"w2": -0.5}), ("gelu", {})]
xs = np.linspace(-4, 4, 401)
fig, axes = plt.subplots(2, 4, figsize=(12, 5.4), sharex=True)
for ax, (name, prm) in zip(axes.ravel(), show, strict=True):
    ax.axhline(0, color="0.6", lw=0.6)
    ax.axvline(0, color="0.6", lw=0.6)
    ax.plot(xs, act.activation(name, xs, **prm), color=CLASS_COLORS[0], lw=2, label="f(x)")
    ax.plot(xs, act.derivative(name, xs, **prm), color=CLASS_COLORS[5], lw=1.6, ls="--",
            label="f'(x)")
    par = ", ".join(f"{k}={v:g}" for k, v in prm.items())
    ax.set_title(name + (f" ({par})" if par else ""), fontsize=10)
    ax.set_ylim(-1.6, 3.2)
axes[0, 0].legend(fontsize=8, loc="upper left")
fig.suptitle("activation functions (blue) and their derivatives (orange, dashed)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### 5.1 Saturation kills gradients
#
# The sigmoid and tanh flatten out on both sides. Where $|z|$ is large, $f'(z) \approx 0$: the
# unit is **saturated** and almost nothing flows back through it, so the weights feeding it
# barely learn. Two things push units into saturation: weights that are too large (so
# pre-activations spread widely) and inputs that are not normalised. The table below gives the
# fraction of units with $|f'(z)| < 0.05$ when the pre-activations are Gaussian, $z \sim
# \mathcal{N}(0, s^2)$.
#
# The sigmoid has a second problem even without saturation: its derivative never exceeds
# $1/4$. A gradient that passes back through $k$ sigmoid layers is multiplied by at most
# $4^{-k}$ (times whatever the weights contribute), about $10^{-6}$ after ten layers. This
# **vanishing gradient** is why deep sigmoid networks were so hard to train.

# %%
z0 = np.random.default_rng(0).standard_normal(20000)
print("fraction with |f'(z)| < 0.05 for z ~ N(0, s^2)")
print(f"{'s':>6} " + " ".join(f"{n:>9}" for n in ("sigmoid", "tanh", "relu", "elu")))
for s in (0.5, 1.0, 2.0, 5.0, 10.0):
    fr = [act.saturation(n, s * z0, 0.05) for n in ("sigmoid", "tanh", "relu", "elu")]
    print(f"{s:6.1f} " + " ".join(f"{v:9.1%}" for v in fr))
print(f"\nbest case through k sigmoid layers: 0.25^k = {0.25 ** 5:.1e} (k = 5), "
      f"{0.25 ** 10:.1e} (k = 10)")

# %% [markdown]
# The ReLU behaves differently: it never saturates for $z > 0$ (its derivative is exactly 1),
# while for $z < 0$ it passes no gradient at all. With zero-centred pre-activations that is half
# of the units for any scale, but a different half for every input, so every unit still learns
# from the inputs on which it is active.
#
# ### 5.2 Outputs that are not zero-centred
#
# A sigmoid's output lies in $(0, 1)$, so the next layer receives inputs $x_i > 0$. For a neuron
# $s = \sum_i w_i x_i + b$ of that next layer,
#
# $$ \frac{\partial L}{\partial w_i} = x_i\,\frac{\partial L}{\partial s}, $$
#
# and since every $x_i > 0$, all components of the gradient on $w$ have the **sign of the single
# number** $\partial L / \partial s$. For one example the update can only increase all weights or
# decrease all of them. If the best direction needs some weights up and others down, gradient
# descent has to zig-zag towards it. (Summing over a minibatch softens this, but the bias remains.)
# tanh is zero-centred and does not have the problem; this is one reason it was preferred to the
# sigmoid in hidden layers.

# %%
w_n = torch.tensor([0.4, -0.7, 0.2], requires_grad=True)
for i in range(4):
    x_pos = torch.sigmoid(torch.randn(3))                 # the outputs of a sigmoid layer: > 0
    target = torch.randn(())
    w_n.grad = None
    ((w_n @ x_pos - target) ** 2).backward()
    print(f"example {i}: x = {x_pos.numpy()}  dL/dw = {w_n.grad.numpy()}  "
          f"signs {np.sign(w_n.grad.numpy()).astype(int)}")

# %% [markdown]
# ### 5.3 Dead ReLUs
#
# A ReLU unit whose pre-activation is negative for *every* training input outputs 0 everywhere and
# receives exactly zero gradient, so its weights never change again: the unit is **dead**. It
# happens when a bad initialisation or a large update pushes the bias far down. Below, a two-layer
# ReLU network on the digits starts with all 100 hidden biases at $-1$. The lines that the cell
# prints count the units that are dead from the start, count them again after ten epochs of training
# and check that they are the same units, and show that their rows of the weight gradient are
# exactly zero.

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore")          # the note that CIFAR-10 is optional and missing
    digits = load_classification("digits")


def as_rows(images, mean=None):
    """Images (N, 8, 8) in 0..16 -> centred float32 rows (N, 64)."""
    Xr = torch.tensor(images.reshape(len(images), -1) / 16.0, dtype=torch.float32)
    return Xr - (Xr.mean(0) if mean is None else mean)


Xd = as_rows(digits.X_train)                               # (1257, 64)
mean_d = torch.tensor(digits.X_train.reshape(len(Xd), -1) / 16.0, dtype=torch.float32).mean(0)
yd = torch.tensor(digits.y_train)                          # (1257,)

torch.manual_seed(0)
net_d = mlp.make_mlp(64, 100, 10)              # Linear(64, 100), ReLU, Linear(100, 10)
with torch.no_grad():
    net_d[0].bias.fill_(-1.0)                  # a bad start: every hidden bias at -1


def dead_units(net, X):
    with torch.no_grad():
        return torch.nonzero((net[0](X) > 0).sum(0) == 0).ravel()  # never active on any input


dead_before = dead_units(net_d, Xd)
opt = torch.optim.SGD(net_d.parameters(), lr=0.5)
for _epoch in range(10):  # lecture 03's loop, from dlcv.loop: one step per minibatch of 64
    train(lambda idx: F.cross_entropy(net_d(Xd[idx]), yd[idx]), opt, shuffled(len(Xd), 64))
dead_after = dead_units(net_d, Xd)
F.cross_entropy(net_d(Xd), yd).backward()
print(f"dead before training: {len(dead_before)} of 100; after: {len(dead_after)}; "
      f"the same units: {torch.equal(dead_before, dead_after)}")
print("largest |gradient| in the weight rows of dead units:",
      float(net_d[0].weight.grad[dead_after].abs().max()))
acc_d = (net_d(Xd).argmax(1) == yd).float().mean().item()
print(f"training accuracy {acc_d:.1%}, with {100 - len(dead_after)} working hidden units")

# %% [markdown]
# The network still learns with the surviving units (the training accuracy printed last), but the
# dead ones are wasted capacity.
# The remedies: a sensible initialisation (lecture 05; `dlcv.networks.mlp` uses He initialisation and
# zero biases), a learning rate that is not too high, and activations that keep a small gradient
# for $z < 0$.
#
# ### 5.4 The ReLU family and maxout
#
# * **ReLU** (Nair & Hinton 2010; Glorot et al. 2011): cheap (a comparison, no exponential), does
#   not saturate for $z > 0$, and in practice converges much faster than sigmoid or tanh:
#   Krizhevsky et al. (2012) report a ReLU network reaching a given training error on CIFAR-10
#   six times faster than its tanh twin. Its outputs are not zero-centred and units can die.
# * **Leaky ReLU** (Maas et al. 2013): a small fixed slope (0.01) for $z < 0$, so units never
#   receive exactly zero gradient.
# * **PReLU** (He et al. 2015): the negative slope $a$ becomes a parameter learned by backprop,
#   like the weights: $\partial f / \partial a = \min(0, z)$.
# * **ELU** (Clevert et al. 2016): linear for $z > 0$, an exponential that levels off at
#   $-\alpha$ for $z < 0$. Mean outputs closer to zero, smooth at 0, a soft saturation for very
#   negative inputs that makes it robust to noise; costs an exponential.
# * **Maxout** (Goodfellow et al. 2013): $\max(w_1^\top x + b_1, w_2^\top x + b_2)$ learns the
#   shape of the activation itself. It contains ReLU ($w_1 = b_1 = 0$) and leaky ReLU as special
#   cases, is piecewise linear and never saturates or dies, but each unit has **two** sets of
#   weights, which doubles the parameters.
# * GELU and related smooth variants are the default in transformers (Hendrycks & Gimpel 2016).
#
# **In practice:** use ReLU, and watch the fraction of dead units and the learning rate. Try leaky
# ReLU, PReLU, ELU or maxout if you want to squeeze out a little more. Try tanh if you must, but
# expect less than from ReLU. Do not use the sigmoid in hidden layers (it remains useful as an
# output that must be a probability, and as a gate in LSTMs, lecture 12).
#
# ### 5.5 Play with it: activations and saturation
#
# The widget draws $f$ (left), $f'$ (middle) and a histogram of $f'(z)$ for 20 000
# pre-activations $z \sim \mathcal{N}(0, \sigma^2)$ (right). The grey band marks where 95% of
# those pre-activations fall; the pale orange band marks $|f'| < 0.05$, the saturated zone. The
# **parameter** slider sets the leaky ReLU's slope, PReLU's $a$, ELU's $\alpha$ or the second
# slope $w_2$ of a maxout unit ($w_1 = 1$, $b_1 = b_2 = 0$); **scale σ** sets the spread of the
# pre-activations. The readout gives the saturated and the dead fraction and the mean output.
#
# Things to try:
#
# 1. Sigmoid: move σ from 0.1 to 10. At small σ the sigmoid is almost linear (what is $f'$
#    there?); at large σ, where does the histogram pile up? Do the same with tanh.
# 2. ReLU: how does the histogram change with σ? Why is the dead fraction always about 50%?
# 3. Leaky ReLU: with slope 0.01, half the units still count as saturated by the 0.05 threshold.
#    What slope makes that fraction drop to zero, and what have you turned the ReLU into when the
#    slope reaches 1?
# 4. Maxout: find $w_2$ values that turn it into the ReLU, a leaky ReLU and the absolute value.
# 5. Which activations does the readout call zero-centred? Set PReLU's $a$ to 1: what happens?

# %%
ActivationView(name="sigmoid", scale=3.0)

# %% [markdown]
# ## 6. Neural networks
#
# ### 6.1 From a linear score to layers
#
# A linear classifier computes $s = W x$. A **two-layer neural network** inserts a non-linearity
# and a second matrix:
#
# $$ s = W_2 \max(0, W_1 x), \qquad x \in \mathbb{R}^{D},\; W_1 \in \mathbb{R}^{H \times D},\;
#    W_2 \in \mathbb{R}^{C \times H}, $$
#
# (biases omitted for brevity), and a three-layer network one more:
# $s = W_3 \max(0, W_2 \max(0, W_1 x))$. For CIFAR-10, $D = 3072$, $C = 10$, and the number of
# **hidden units** $H$ (say 100) is a free choice. Read $W_1$ as a bank of $H$ templates, as in
# lecture 02; $W_2$ then combines the template matches. A horse facing left and a horse facing
# right can each get their own template in $W_1$, and $W_2$ can add both to the horse score.
#
# The non-linearity is essential. Without it, $W_2 W_1 x$ is still a linear function of $x$,
# with the single matrix $W = W_2 W_1$: stacking linear layers adds parameters, not power.

# %%
W1, W2 = torch.randn(5, 3), torch.randn(2, 5)
x_ = torch.randn(3)
print("two linear layers:", (W2 @ (W1 @ x_)).numpy(), " one matrix W2 W1:", ((W2 @ W1) @ x_).numpy())
print("with a ReLU between them:", (W2 @ torch.relu(W1 @ x_)).numpy())

# %% [markdown]
# ### 6.2 The biological analogy, and its limits
#
# The vocabulary comes from neuroscience. A biological neuron receives signals through its
# dendrites, integrates them in the cell body, and fires a spike along its axon when the total
# is high enough; the synapses weight the incoming signals, and learning changes those weights.
# The artificial neuron keeps the outline: inputs $x_i$, synaptic strengths $w_i$, a sum, a
# firing rate $f(\sum_i w_i x_i + b)$. The sigmoid was popular because it looks like a firing
# rate between "silent" and "saturated".
#
# Take the analogy as a mnemonic, not as a model. Real neurons come in many types, their
# dendrites perform non-linear computations of their own, they communicate by the timing of
# spikes rather than by one real number, and nothing suggests the brain computes gradients by
# backpropagation. Artificial networks are better understood as what they are: compositions of
# simple differentiable functions.
#
# ### 6.3 Layers, and counting neurons and parameters
#
# Neural networks are organised in **layers**. In a **fully connected** layer every unit is
# connected to every unit of the previous layer and to none of its own layer, which is exactly a
# matrix product followed by an elementwise activation. The input is not counted as a layer, so
# a "2-layer" network has one hidden layer and one output layer. The output layer usually has no
# activation: its units are the class scores (or real-valued targets in regression).
#
# Counting parameters is a good habit. A layer from $n$ to $m$ units has $n m$ weights and $m$
# biases. Two small examples (from the CS231n notes): a network with 3 inputs, 4 hidden units and
# 2 outputs, written [3-4-2], and [3-4-4-1].

# %%
for sizes in ([3, 4, 2], [3, 4, 4, 1]):
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])            # no activation after the output layer
    print(f"{sizes}: {sum(sizes[1:])} neurons, {mlp.count_parameters(model)} parameters "
          f"= " + " + ".join(f"({a}*{b} + {b})" for a, b in zip(sizes[:-1], sizes[1:], strict=True)))

# %% [markdown]
# The networks of later lectures have tens of millions of parameters in dozens of layers (many of
# them convolutional, lecture 06), but the counting rule is the same.
#
# ### 6.4 The forward pass is a chain of matrix products
#
# Storing a batch of $N$ inputs as the **rows** of $X \in \mathbb{R}^{N \times D}$, a fully
# connected layer computes $X W^\top + b$ for all examples at once. Here is the forward pass of a
# three-layer network with sigmoid units (the example of the CS231n notes), in torch with shapes:

# %%
N, D, H1, H2 = 5, 3, 4, 4
X_b = torch.randn(N, D)                              # (N, D): five inputs
W1, b1 = torch.randn(H1, D), torch.zeros(H1)         # (4, 3), (4,)
W2, b2 = torch.randn(H2, H1), torch.zeros(H2)        # (4, 4), (4,)
W3, b3 = torch.randn(1, H2), torch.zeros(1)          # (1, 4), (1,)
h1 = torch.sigmoid(X_b @ W1.T + b1)                  # (N, 4) first hidden layer
h2 = torch.sigmoid(h1 @ W2.T + b2)                   # (N, 4) second hidden layer
out = h2 @ W3.T + b3                                 # (N, 1) output: no activation
print("h1", tuple(h1.shape), "h2", tuple(h2.shape), "out", tuple(out.shape))

# the same network with torch.nn: nn.Linear stores W (out, in) and computes X W^T + b
model = nn.Sequential(nn.Linear(D, H1), nn.Sigmoid(), nn.Linear(H1, H2), nn.Sigmoid(),
                      nn.Linear(H2, 1))
with torch.no_grad():
    for lin, (W_, b_) in zip(model[::2], ((W1, b1), (W2, b2), (W3, b3)), strict=True):
        lin.weight.copy_(W_)
        lin.bias.copy_(b_)
print("nn.Sequential gives the same output:", torch.allclose(model(X_b), out))

# %% [markdown]
# ### 6.5 Representational power
#
# How much can such networks represent? A classic answer is the **universal approximation
# theorem**: a network with a single hidden layer of sigmoid units (Cybenko 1989), or of almost
# any non-polynomial activation (Hornik 1991; Leshno et al. 1993), can approximate any continuous
# function on a bounded domain to any accuracy, given enough hidden units.
#
# For ReLUs in one dimension the idea fits in a picture. A sum $\sum_k c_k \max(0, x - t_k)$ is a
# piecewise linear function that can bend at each $t_k$: choose the knots $t_k$ and the slope
# changes $c_k$, and it interpolates any function at the knots. That sum is exactly a network with
# one hidden layer of $K$ ReLU units (weights 1, biases $-t_k$) and output weights $c_k$. More
# units, more knots, smaller error:

# %%
def target_fn(x):
    return np.sin(2.5 * x) + 0.3 * x


xs = np.linspace(-2, 2, 801)
fig, axes = plt.subplots(1, 4, figsize=(13, 2.9), sharey=True)
for ax, K in zip(axes, (3, 6, 12, 24), strict=True):
    knots = np.linspace(-2, 2, K + 1)                      # (K + 1,)
    vals = target_fn(knots)
    slopes = np.diff(vals) / np.diff(knots)                # (K,) slope of each piece
    c = np.concatenate([[slopes[0]], np.diff(slopes)])     # (K,) output weights
    hidden = np.maximum(0.0, xs[:, None] - knots[None, :-1])   # (801, K) the hidden layer
    approx = vals[0] + hidden @ c                          # (801,) the output unit
    ax.plot(xs, target_fn(xs), color="0.6", lw=3, label="target")
    ax.plot(xs, approx, color=CLASS_COLORS[5], lw=1.5, label="network")
    ax.plot(knots, vals, "k.", ms=5)
    err = np.abs(approx - target_fn(xs)).max()
    ax.set_title(f"{K} ReLU units: max error {err:.3f}", fontsize=10)
axes[0].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# The theorem says such a network *exists*; it says nothing about how many units it needs or
# whether gradient descent will find it. In practice deeper networks work better than one wide
# hidden layer, and there are results that explain part of it. Composition multiplies structure:
# the number of linear pieces a ReLU network can produce grows exponentially with depth but only
# polynomially with width (Montúfar et al. 2014), and some functions computed by a deep, narrow
# network need exponentially many units in a shallow one (Telgarsky 2016). A one-dimensional
# example: the "tent" $t(x) = 2\max(0, x) - 4\max(0, x - \tfrac12)$ uses two ReLU units; composing
# it $k$ times ($2k$ units in $k$ layers) gives a sawtooth with $2^k$ linear pieces, while a
# single hidden layer needs about one unit per kink, that is $2^k - 1$ units.

# %%
def tent(x):
    return 2 * np.maximum(0, x) - 4 * np.maximum(0, x - 0.5)


xs = np.linspace(0, 1, 2001)
fig, axes = plt.subplots(1, 4, figsize=(13, 2.4), sharey=True)
y_ = xs
for k, ax in enumerate(axes, start=1):
    y_ = tent(y_)
    ax.plot(xs, y_, color=CLASS_COLORS[0])
    ax.set_title(f"{k} layer{'s' if k > 1 else ''}, {2 * k} ReLUs: {2 ** k} pieces", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### 6.6 Capacity and overfitting
#
# In two dimensions we can watch what extra hidden units buy. `dlcv.networks.mlp.train_mlp` trains a
# network with torch (1000 steps of full-batch Adam on the softmax loss plus $\lambda \sum W^2$)
# on a small noisy "two moons" data set of 120 points, and we colour the plane by the predicted
# class (paler where the network is less sure). The first row uses unregularised networks
# ($\lambda = 0$) with 1, 3, 10 and 100 hidden units; the second keeps 100 units and raises
# $\lambda$. Below each panel: the training accuracy and the accuracy on 1000 fresh points from
# the same distribution (test).

# %%
X_m, y_m = mlp.toy_data("noisy moons")
X_mt, y_mt = mlp.toy_data("noisy moons", seed=1, n=1000)
box = data_box(X_m)
settings = [(1, 0.0), (3, 0.0), (10, 0.0), (100, 0.0),
            (100, 1e-4), (100, 1e-3), (100, 1e-2), (100, 1e-1)]
fig, axes = plt.subplots(2, 4, figsize=(13, 6.6))
scores, t0 = {}, time.perf_counter()  # (H, lambda) -> (train accuracy, test accuracy)
for ax, (H, lam) in zip(axes.ravel(), settings, strict=True):
    res = mlp.train_mlp(X_m, y_m, hidden=H, reg=lam, steps=1000)
    labels, conf = res.regions(box, 120)
    ax.imshow(region_colours(labels, conf, 2), origin="lower", extent=box,
              interpolation="bilinear")
    ax.scatter(X_m[:, 0], X_m[:, 1], c=y_m, cmap=class_cmap(2), vmin=-0.5, vmax=1.5,
               edgecolors="k", linewidths=0.5, s=14)
    ax.set_title(f"H = {H}, λ = {lam:g} ({res.num_params} parameters)", fontsize=9)
    test_acc = np.mean(res.predict(X_mt) == y_mt)
    scores[H, lam] = (res.train_accuracy, test_acc)
    ax.set_xlabel(f"train {res.train_accuracy:.1%} | test {test_acc:.1%}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()
print(f"{len(settings)} networks trained in {time.perf_counter() - t0:.1f} s")
small = max(((H, lam) for H, lam in settings if H < 100), key=lambda k: scores[k][1])
print(f"H = 100, λ = 0: train {scores[100, 0.0][0]:.1%}, test {scores[100, 0.0][1]:.1%}; "
      f"best test among fewer units: {scores[small][1]:.1%} (H = {small[0]})")
best_lam = max((lam for H, lam in settings if H == 100), key=lambda lam: scores[100, lam][1])
print(f"H = 100: best test accuracy at λ = {best_lam:g} ({scores[100, best_lam][1]:.1%}); "
      f"λ = {settings[-1][1]:g}: train {scores[settings[-1]][0]:.1%}, "
      f"test {scores[settings[-1]][1]:.1%}")

# %% [markdown]
# One hidden unit can only draw a single line; a few units bend it; a hundred units are able to
# carve out small islands around individual noisy points and fit the training set almost
# perfectly, with a worse test accuracy than the smoother solutions: **overfitting** (the first
# comparison printed under the figure). The second row shows the other dial. With the same 100
# units, a moderate $\lambda$ keeps the boundary smooth and the test accuracy high, while a very
# large $\lambda$ flattens the network until it underfits (the last line).
#
# It is tempting to conclude that small networks are safer. They are not the recommended tool:
# small networks have fewer but worse local minima, and their result depends much more on the
# random initialisation, while large networks reliably reach good solutions. The advice from
# practice is to **use as large a network as your compute allows and control overfitting with
# regularisation** (L2, dropout, data augmentation, early stopping; lecture 05), choosing its
# strength on validation data.
#
# ### 6.7 Play with it: capacity of a small network
#
# Choose a **data** set, the number of **hidden units** per layer, the number of **hidden layers**,
# the **activation** and the L2 strength **λ**. Each setting trains a network with torch (1000 Adam
# steps; section 6.6 printed how long eight of them took) and keeps the result, so going back is
# instant. The left panel shows the decision regions (pale where the network is unsure), the right
# panel the training objective; the readout gives the train and test accuracy and the number of
# parameters.
#
# Things to try:
#
# 1. *circles* and *xor*: what is the smallest number of hidden units that separates the classes?
#    Can you explain that number geometrically (how many lines does each boundary need)?
# 2. *spiral* (three classes): go from 1 to 100 hidden units and watch the boundary wrap around.
#    Then use 2 hidden layers with few units each: do fewer parameters suffice?
# 3. *noisy moons* with 100 hidden units: compare λ = 0 and λ = 0.01. Which has the higher train
#    accuracy, which the higher test accuracy, and what does the boundary look like?
# 4. Switch the activation to *sigmoid* with 3 hidden layers and compare the loss curve with ReLU
#    and tanh. What does section 5 say about the reason?
# 5. With 1 hidden unit on *moons*, why is the boundary a straight line for ReLU, tanh and
#    sigmoid alike? (Hint: the scores depend on $x$ only through one number, $w^\top x + b$.)

# %%
MLPCapacityView(dataset="spiral", hidden=3)

# %% [markdown]
# ## 7. A neural network on real images
#
# The same few lines train a network on the digits of lectures 01 and 02. A two-layer network
# 64-100-10 with ReLU (7 510 parameters), trained with minibatch Adam and a little L2
# regularisation for 30 epochs, is compared with a linear classifier trained the same way
# (`make_mlp(..., layers=0)`). In assignment a2 you build the same network from your own numpy
# layers and optimisers.

# %%
X_val, y_val = as_rows(digits.X_val, mean_d), torch.tensor(digits.y_val)
X_test, y_test = as_rows(digits.X_test, mean_d), torch.tensor(digits.y_test)


def train_digits(layers, epochs=30, lam=1e-4, seed=0):
    torch.manual_seed(seed)
    model = mlp.make_mlp(64, 100, 10, layers=layers)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def loss_of(idx):
        scores = model(Xd[idx])                                       # (64, 10)
        return F.cross_entropy(scores, yd[idx]) + lam * sum(
            (m.weight ** 2).sum() for m in model if isinstance(m, nn.Linear))

    log = Log()
    for _epoch in range(epochs):
        train(loss_of, opt, shuffled(len(Xd), 64), log=log)
    return model, log.loss


def accuracy(model, X_, y_):
    with torch.no_grad():
        return (model(X_).argmax(1) == y_).float().mean().item()


results, accs = {}, {}
for name, layers in (("linear", 0), ("2-layer net", 1)):
    model, hist = train_digits(layers)
    results[name] = (model, hist)
    accs[name] = [accuracy(model, X_, y_) for X_, y_ in ((Xd, yd), (X_val, y_val), (X_test, y_test))]
    print(f"{name:12s} {mlp.count_parameters(model):5d} parameters | train {accs[name][0]:.1%} | "
          f"validation {accs[name][1]:.1%} | test {accs[name][2]:.1%}")
gain = 100 * (np.array(accs["2-layer net"]) - np.array(accs["linear"]))
print(f"the hidden layer adds {gain[1]:+.1f} points on the {len(y_val)} validation images and "
      f"{gain[2]:+.1f} on the {len(y_test)} test images")
print("mean minibatch loss over the last epoch: " + ", ".join(
    f"{name} {np.mean(hist[-len(hist) // 30:]):.3f}" for name, (_, hist) in results.items()))

# %% [markdown]
# The hidden layer's weights are 100 templates of $8 \times 8$ pixels, like the rows of a linear
# classifier, but they are no longer tied to one class each: they are features that the output
# layer combines. Here are the first 20 of them (red positive, blue negative) and the training
# loss of both models. On $8 \times 8$ digits they stay noisy, part stroke detector and part
# leftover random initialisation: the task is easy enough that no unit has to become a clean
# feature. Networks trained on larger images learn much cleaner first-layer filters (lecture 06).

# %%
model_2, hist_2 = results["2-layer net"]
fig = plt.figure(figsize=(12, 3.4))
gs = fig.add_gridspec(2, 14)
ax_l = fig.add_subplot(gs[:, :4])
plot_loss_history(ax_l, results["linear"][1], title="minibatch loss", smooth=20)
ax_l.lines[-1].set_label("linear")
ax_l.plot(np.arange(19, len(hist_2)), np.convolve(hist_2, np.ones(20) / 20, "valid"),
          color=CLASS_COLORS[5], label="2-layer net")
ax_l.set_yscale("log")
ax_l.legend(fontsize=8)
W_hidden = model_2[0].weight.detach().numpy()          # (100, 64)
v = np.abs(W_hidden[:20]).max()
for i in range(20):
    ax = fig.add_subplot(gs[i // 10, 4 + i % 10])
    ax.imshow(W_hidden[i].reshape(8, 8), cmap="RdBu_r", vmin=-v, vmax=v)
    ax.axis("off")
fig.suptitle("training loss (left) and 20 of the 100 first-layer templates (right)", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# On the digits the hidden layer buys a few points of accuracy over the linear classifier, which is
# already good on these easy $8 \times 8$ images (the gains printed after the two models; note
# how much they differ between the small validation and test sets: small evaluation sets are
# noisy). On CIFAR-10 the gap is much larger, as you will see in assignment a2. The training loss
# falls further than the linear model's (the last line printed there): more capacity. Whether
# that extra fit helps on new data is what the validation accuracy tells you.
#
# ## Check yourself
#
# **1.** In $f = (x + y)\,z$ with $x = 1$, $y = 2$, $z = 3$, what are $\partial f / \partial x$ and
# $\partial f / \partial z$? Which gate patterns did you use?
#
# <details><summary>Answer</summary>
#
# $q = x + y = 3$. The multiply gate swaps: $\partial f / \partial z = q = 3$ and
# $\partial f / \partial q = z = 3$. The add gate distributes: $\partial f / \partial x =
# \partial f / \partial y = 3$.
# </details>
#
# **2.** A sigmoid unit outputs 0.99. By what factor does it scale the gradient that flows back
# through it? What does this mean for the weights feeding it?
#
# <details><summary>Answer</summary>
#
# By $\sigma(1 - \sigma) = 0.99 \cdot 0.01 \approx 0.0099$, about a hundredth. The unit is
# saturated: the weights feeding it receive almost no gradient and barely learn.
# </details>
#
# **3.** You implement the backward pass of $f(x) = x \cdot \sin(x)$ by hand and your numeric
# gradient check fails at every point. What is the most likely bug?
#
# <details><summary>Answer</summary>
#
# $x$ is used twice, once as the factor and once inside $\sin$. Its gradient is the sum of both
# paths, $\sin(x) + x \cos(x)$. Overwriting instead of adding (`dx = ...` where `dx += ...` was
# needed) keeps only one of them.
# </details>
#
# **4.** $Y = W X$ with $W$ of shape $(10, 3072)$ and $X$ of shape $(3072, 128)$. What are the
# shapes of $dY$, $dW$ and $dX$, and how do you compute $dW$? How many entries would the full
# Jacobian $\partial Y / \partial W$ have?
#
# <details><summary>Answer</summary>
#
# $dY$ is $(10, 128)$, $dW$ is $(10, 3072)$, $dX$ is $(3072, 128)$; $dW = dY X^\top$ and
# $dX = W^\top dY$. The Jacobian has shape $(10, 128, 10, 3072)$, about 39 million entries, almost
# all of them zero. That is why nobody builds it.
# </details>
#
# **5.** A ReLU network stops improving and you find that 40% of the hidden units output 0 on
# every training example. What happened, why does it not fix itself, and what could you change?
#
# <details><summary>Answer</summary>
#
# Those units are dead: their pre-activation is negative for every input, so their output and
# their local gradient are 0 everywhere, and their weights never receive a gradient again. A
# frequent cause is a learning rate that is too high (one large update pushes the biases down) or
# a poor initialisation. Lower the learning rate, use a proper initialisation, or use leaky ReLU,
# PReLU, ELU or maxout, which keep a gradient for negative inputs.
# </details>
#
# **6.** How many parameters has a fully connected network [3072-100-10]? And what is the problem
# with a network of the same shape without any activation function?
#
# <details><summary>Answer</summary>
#
# $3072 \cdot 100 + 100 + 100 \cdot 10 + 10 = 308\,310$. Without an activation the two layers
# collapse into one linear map $W_2 W_1$ (a rank-100 $10 \times 3072$ matrix): it can do no more
# than a linear classifier.
# </details>
#
# **7.** Your 2-layer network with 500 hidden units overfits (train 100%, validation 60%). A
# colleague suggests 20 hidden units instead. What do you suggest, and why?
#
# <details><summary>Answer</summary>
#
# Keep the large network and increase the regularisation (a larger L2 $\lambda$, dropout, data
# augmentation, early stopping), tuning its strength on validation data. Small networks are harder
# to train reliably (their result depends more on the initialisation), while a large regularised
# network usually generalises as well or better.
# </details>
#
# **8.** Why are the gradients on the weights of a neuron whose inputs are all positive (for
# example the outputs of sigmoid units) all of the same sign, and why is that bad?
#
# <details><summary>Answer</summary>
#
# $\partial L / \partial w_i = x_i\, \partial L / \partial s$ with every $x_i > 0$, so all components
# share the sign of the single number $\partial L / \partial s$. Per example, the update can only
# move all weights up or all down; reaching a direction that needs mixed signs requires a
# zig-zag of updates, which slows training. Zero-centred activations (tanh) and normalised inputs
# avoid it.
# </details>
#
# ## Summary
#
# * A computational graph breaks a function into gates. The forward pass computes (and caches)
#   the values; the backward pass applies the chain rule from the output back: each gate
#   multiplies the upstream gradient by its local gradient. Gradients of a value used several
#   times add up.
# * Gate patterns: add distributes, max routes, multiply swaps (so input scale sets gradient
#   scale), branches sum. A sigmoid gate's local gradient is $(1 - \sigma)\sigma$.
# * For vectors, the chain rule is a vector-Jacobian product, but the Jacobian is never built:
#   elementwise operations give masks and elementwise products, and the matrix product $Y = WX$
#   gives $dW = dY X^\top$ and $dX = W^\top dY$, derivable from the shapes.
# * An autograd engine records the graph during the forward pass and runs local backward rules in
#   reverse topological order; torch does exactly this, for tensors.
# * Activations: sigmoid saturates, is not zero-centred and scales gradients by at most 1/4; tanh
#   is zero-centred but saturates; ReLU is cheap and fast to train but can die; leaky ReLU,
#   PReLU, ELU and maxout fix dead units at some cost. Default: ReLU.
# * A neural network alternates linear layers and non-linearities: $s = W_2 \max(0, W_1 x)$.
#   Count $n m + m$ parameters per layer. One hidden layer can approximate any continuous
#   function given enough units; depth makes many functions far cheaper to represent.
# * More hidden units fit more complex boundaries and can overfit. Control overfitting with
#   regularisation, not by shrinking the network.
#
# ## Papers and further reading
#
# * S. Linnainmaa (1970). *The representation of the cumulative rounding error of an algorithm
#   as a Taylor expansion of the local rounding errors*. Master's thesis, University of Helsinki.
#   Reverse-mode automatic differentiation.
# * P. J. Werbos (1974). *Beyond regression: new tools for prediction and analysis in the
#   behavioral sciences*. PhD thesis, Harvard University. Backpropagation proposed for networks.
# * D. E. Rumelhart, G. E. Hinton, R. J. Williams (1986). Learning representations by
#   back-propagating errors. *Nature* 323, 533–536. The paper that made backprop the way to
#   train multilayer networks.
# * Y. LeCun, L. Bottou, G. B. Orr, K.-R. Müller (1998). Efficient BackProp. In *Neural Networks:
#   Tricks of the Trade*, Springer. Zero-centred inputs, tanh versus sigmoid, and much practical
#   advice.
# * G. Cybenko (1989). Approximation by superpositions of a sigmoidal function. *Mathematics of
#   Control, Signals and Systems* 2(4), 303–314.
# * K. Hornik (1991). Approximation capabilities of multilayer feedforward networks. *Neural
#   Networks* 4(2), 251–257.
# * M. Leshno, V. Ya. Lin, A. Pinkus, S. Schocken (1993). Multilayer feedforward networks with a
#   nonpolynomial activation function can approximate any function. *Neural Networks* 6(6),
#   861–867.
# * V. Nair, G. E. Hinton (2010). Rectified linear units improve restricted Boltzmann machines.
#   *ICML 2010*.
# * X. Glorot, A. Bordes, Y. Bengio (2011). Deep sparse rectifier neural networks. *AISTATS 2011*.
# * A. Krizhevsky, I. Sutskever, G. E. Hinton (2012). ImageNet classification with deep
#   convolutional neural networks. *NIPS 2012*. ReLUs train several times faster than tanh.
# * A. L. Maas, A. Y. Hannun, A. Y. Ng (2013). Rectifier nonlinearities improve neural network
#   acoustic models. *ICML 2013 Workshop on Deep Learning for Audio, Speech and Language
#   Processing*. Leaky ReLU.
# * I. J. Goodfellow, D. Warde-Farley, M. Mirza, A. Courville, Y. Bengio (2013). Maxout networks.
#   *ICML 2013*.
# * K. He, X. Zhang, S. Ren, J. Sun (2015). Delving deep into rectifiers: surpassing human-level
#   performance on ImageNet classification. *ICCV 2015*. PReLU and He initialisation.
# * D.-A. Clevert, T. Unterthiner, S. Hochreiter (2016). Fast and accurate deep network learning
#   by exponential linear units (ELUs). *ICLR 2016*.
# * D. Hendrycks, K. Gimpel (2016). Gaussian error linear units (GELUs). arXiv:1606.08415.
# * G. Montúfar, R. Pascanu, K. Cho, Y. Bengio (2014). On the number of linear regions of deep
#   neural networks. *NIPS 2014*.
# * M. Telgarsky (2016). Benefits of depth in neural networks. *COLT 2016*.
# * A. G. Baydin, B. A. Pearlmutter, A. A. Radul, J. M. Siskind (2018). Automatic differentiation
#   in machine learning: a survey. *JMLR* 18(153), 1–43.
# * A. Paszke et al. (2017). Automatic differentiation in PyTorch. *NIPS 2017 Autodiff Workshop*.
# * A. Karpathy (2020). *micrograd*, a tiny scalar-valued autograd engine,
#   https://github.com/karpathy/micrograd : the model for section 4.
# * I. Goodfellow, Y. Bengio, A. Courville (2016). *Deep Learning*, MIT Press. Chapter 6 (deep
#   feedforward networks; section 6.5 on back-propagation).
# * Stanford CS231n course notes, *Backpropagation, intuitions*
#   (https://cs231n.github.io/optimization-2/) and *Neural Networks Part 1*
#   (https://cs231n.github.io/neural-networks-1/): the source of several worked examples' numbers.
