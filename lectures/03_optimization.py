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
# # Lecture 03 — Optimization
#
# Lecture 02 ended with a loss $L(W)$ that measures how badly a linear classifier with weights
# $W$ fits the training data, and one sentence on how to make it smaller: follow the negative
# gradient. This chapter is about that sentence. How do we get the gradient, exactly and cheaply?
# How large a step should we take, and what goes wrong when the loss surface is a long narrow
# valley, a saddle, or a landscape with many pits? Why does everybody train on small random
# minibatches instead of the whole data set? And what do momentum, AdaGrad, RMSProp and Adam,
# the update rules inside every deep-learning library, actually do to a step?
#
# **After this lecture you can**
#
# 1. picture a high-dimensional loss through 1-D and 2-D slices, and say why the loss of a linear
#    classifier is convex while a network's is not;
# 2. run gradient descent and recognise a learning rate that is too small, about right, or too
#    large from the loss curve;
# 3. compute a numeric gradient by centred differences, explain its $O(h^2)$ error and its cost,
#    and check an analytic gradient with the relative error;
# 4. explain minibatch SGD (the gradient as an expectation, the noise of a batch, epochs and
#    iterations) and what the batch size trades;
# 5. explain why ill-conditioning makes gradient descent zig-zag, and why saddle points rather
#    than bad local minima slow down training in high dimensions;
# 6. write the update rules of SGD with momentum, Nesterov momentum, AdaGrad, RMSProp and Adam,
#    and predict what each does to the step size;
# 7. choose a learning-rate schedule, and say when a second-order method (Newton, L-BFGS) is
#    the better tool and why it is rare in deep learning.
#
# **Plan.** Loss landscapes → gradient descent → numeric and analytic gradients → minibatch SGD →
# what goes wrong (ill-conditioning, saddles, noise) → momentum, Nesterov, AdaGrad, RMSProp,
# Adam → a widget to race them → learning-rate schedules → second-order methods → questions,
# summary, papers.
#
# In assignment a2 you implement the update rules yourself in numpy. Here they run inside
# `torch.optim` (whose `SGD`, `Adagrad`, `RMSprop` and `Adam` follow the same equations), and the
# chapter shows the equations, small scalar examples and checks by hand.

# %%
# %matplotlib inline
import math
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import minimize
from torch import nn

from dlcv.data import load_classification
from dlcv.gradcheck import eval_numerical_gradient, grad_check_sparse, rel_error
from dlcv.optimization import landscapes
from dlcv.optimization.landscapes import OPTIMIZER_COLORS, OPTIMIZERS, draw_run, draw_surface, trajectory
from dlcv.optimization.minibatch import full_batch_objective, minibatch_run, softmax_regression_loss
from dlcv.optimization.widgets import OptimizerTrajectoryView
from dlcv.plots import CLASS_COLORS
from dlcv.timing import cap_threads

plt.rcParams.update({"figure.figsize": (8, 3.2), "figure.dpi": 90, "font.size": 10})
np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)
_ = torch.manual_seed(0)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine

# %% [markdown]
# ## 1. The loss landscape
#
# Training a classifier means solving
#
# $$ W^\star = \arg\min_W L(W), \qquad
#    L(W) = \frac{1}{N} \sum_{i=1}^{N} L_i(f(x_i; W), y_i) + \lambda R(W). $$
#
# Picture $L$ as a landscape over the space of parameters: every setting of $W$ is a place, and
# $L(W)$ is the height there. A blindfolded hiker who wants to reach the valley floor can feel
# the slope under their feet (the **gradient** $\nabla_W L$) and step downhill. That is all that
# every method in this chapter does, with more or less cleverness about the step.
#
# Our running example is the softmax classifier of lecture 02 on the embedded $8 \times 8$ digits:
# $W \in \mathbb{R}^{10 \times 64}$ and $b \in \mathbb{R}^{10}$, 650 parameters. With the bias
# trick we keep them as one $10 \times 65$ matrix. The loss is computed by torch (as in lecture 02,
# writing it in numpy is assignment a1's job).

# %%
data = load_classification("digits")
X_train = data.X_train.reshape(len(data.X_train), -1) / 16.0  # (N, 64) in [0, 1]
X_val = data.X_val.reshape(len(data.X_val), -1) / 16.0
mean_image = X_train.mean(axis=0)                              # (64,)
X_train, X_val = X_train - mean_image, X_val - mean_image
y_train, y_val = data.y_train, data.y_val
N, D = X_train.shape
C = data.num_classes
reg = 1e-3
Xt, yt = torch.from_numpy(X_train), torch.from_numpy(y_train)


def loss_of(Wb):
    """Full training loss of the (C, D + 1) matrix [W | b] (a torch tensor)."""
    return softmax_regression_loss(Wb[:, :D], Wb[:, D], Xt, yt, reg)


# The minimum, found with L-BFGS (section 9 explains the method); used as a landmark below.
objective = full_batch_objective(X_train, y_train, reg)
best = minimize(objective, np.zeros(C * D + C), jac=True, method="L-BFGS-B",
                options={"maxiter": 500, "gtol": 1e-10, "ftol": 1e-14})
W_star = np.hstack([best.x[:C * D].reshape(C, D), best.x[C * D:, None]])  # (C, D + 1)
L_star = best.fun
print(f"N = {N} training digits, D = {D} pixels, C = {C} classes: {W_star.size} parameters")
print(f"lowest loss L* = {L_star:.5f} (found in {best.nit} L-BFGS iterations)")

# %% [markdown]
# We cannot draw a function of 650 variables, but we can cut through it. Pick a direction $d$ in
# parameter space (a random one, scaled to the size of $W^\star$) and plot the 1-D slice
# $a \mapsto L(W^\star + a\, d)$; with two directions, the 2-D slice
# $(a, b) \mapsto L(W^\star + a\, d_1 + b\, d_2)$ can be drawn as a contour map
# (`dlcv.optimization.landscapes.plane_values`).

# %%
alphas = np.linspace(-1.5, 1.5, 61)
dirs = [landscapes.random_direction(W_star.shape, seed=s, like=W_star) for s in range(3)]
W_init = 1e-3 * rng.standard_normal(W_star.shape)  # a small random start, as in training

fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
for k, d in enumerate(dirs):
    axes[0].plot(alphas, landscapes.plane_values(loss_of, W_star, d, alphas=alphas),
                 color=CLASS_COLORS[k], label=f"direction {k + 1}")
    axes[1].plot(alphas, landscapes.plane_values(loss_of, W_init, d, alphas=alphas),
                 color=CLASS_COLORS[k])
axes[0].set_title("1-D slices through the minimum $W^*$")
axes[1].set_title("1-D slices through a random start")
for ax in axes[:2]:
    ax.set_xlabel("step $a$ along the direction")
    ax.set_ylabel("loss")
axes[0].legend(fontsize=8)
ab = np.linspace(-1.5, 1.5, 25)
Z = landscapes.plane_values(loss_of, W_star, dirs[0], dirs[1], alphas=ab, betas=ab)  # (25, 25)
cs = axes[2].contour(ab, ab, Z, levels=np.geomspace(Z.min(), Z.max(), 14), cmap="viridis")
axes[2].plot(0, 0, "*", color="gold", mec="k", ms=14)
axes[2].set_title("a 2-D slice around $W^*$")
axes[2].set_xlabel("$a$ (direction 1)")
axes[2].set_ylabel("$b$ (direction 2)")
axes[2].set_aspect("equal")
fig.tight_layout()
plt.show()
a = 0.1  # the curvature of each slice at the minimum, by a centred second difference
curv = [float(loss_of(torch.from_numpy(W_star + a * d)) + loss_of(torch.from_numpy(W_star - a * d))
              - 2 * L_star) / a ** 2 for d in dirs]
print("curvature along directions 1, 2, 3 at W*: " + ", ".join(f"{c:.3f}" for c in curv)
      + f" (largest / smallest: {max(curv) / min(curv):.2f})")

# %% [markdown]
# Every slice is a bowl: the softmax loss of a linear classifier is a **convex** function of $W$
# (the cross-entropy is a log-sum-exp minus a linear term, both convex in the scores, and the scores
# are linear in $W$; the L2 term is convex too). A convex function has no local minimum other than
# the global one: a path that keeps going downhill cannot get trapped. Its level sets in the 2-D
# slice are closed, nested ovals. The ovals are somewhat elongated: the loss rises faster along some
# directions than along others (the curvatures printed above). Random directions mix many of the
# loss's own axes and so hide how different the curvature can be; section 5 measures it along those
# axes.
#
# A neural network (lecture 04) stacks linear maps and non-linearities, and its loss is no longer
# convex. One way to prove it: a convex function lies below the straight line (the *chord*)
# between any two of its points. Take a small trained network with one hidden layer of 32 units
# and **permute its hidden units**: swap their rows in the first layer and their columns in the
# second. The network computes exactly the same function, so it has exactly the same loss: a
# second, different minimum. Now walk along the straight line between the two.

# %%
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(D, 32), nn.ReLU(), nn.Linear(32, C)).double()
opt = torch.optim.Adam(net.parameters(), lr=0.01)
# The training loop of every torch model in the course; from lecture 04 on, dlcv.loop.train
# runs these four lines for a given loss and a stream of minibatches.
for _ in range(300):  # full-batch Adam: a small network trains in a second
    opt.zero_grad()
    loss = F.cross_entropy(net(Xt), yt)
    loss.backward()
    opt.step()
W1, b1, W2, b2 = (p.detach() for p in net.parameters())  # (32, 64), (32,), (10, 32), (10,)
perm = torch.randperm(32)
W1p, b1p, W2p = W1[perm], b1[perm], W2[:, perm]              # same function, other weights


def net_loss(t):
    """Loss of the network whose weights are (1 - t) * original + t * permuted."""
    h = torch.relu(Xt @ ((1 - t) * W1 + t * W1p).T + (1 - t) * b1 + t * b1p)  # (N, 32)
    return float(F.cross_entropy(h @ ((1 - t) * W2 + t * W2p).T + b2, yt))


ts = np.linspace(-0.25, 1.25, 61)
net_curve = [net_loss(t) for t in ts]
W_other = W_star + dirs[2]  # a second point for the linear classifier's chord
lin_curve = [float(loss_of(torch.from_numpy((1 - t) * W_star + t * W_other))) for t in ts]

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].plot(ts, lin_curve, color=CLASS_COLORS[0], label="loss on the line")
axes[0].plot([0, 1], [lin_curve[10], lin_curve[50]], "k--", lw=1, label="chord")
axes[0].set_title("linear classifier: below the chord (convex)")
axes[1].plot(ts, net_curve, color=CLASS_COLORS[5], label="loss on the line")
axes[1].plot([0, 1], [net_curve[10], net_curve[50]], "k--", lw=1, label="chord")
axes[1].set_title("network and its permuted copy: a hill in between")
for ax in axes:
    ax.set_xlabel("$t$: weights $(1 - t)\\,\\theta_0 + t\\,\\theta_1$")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
print(f"network: loss {net_curve[10]:.3f} and {net_curve[50]:.3f} at the two ends, "
      f"{max(net_curve[10:51]):.3f} in between ({max(net_curve[10:51]) / net_curve[10]:.0f} times "
      "higher)")

# %% [markdown]
# The network's two ends have the same low loss, yet halfway the loss is far higher (the line
# above): no convex function does that. Permutations alone give every network with $H$ hidden units
# $H!$ equivalent minima, and there are other symmetries too (a ReLU unit's incoming weights can be
# scaled up and its outgoing ones down). So "the" minimum of a network does not exist; there are
# very many, and the landscape between them has hills, valleys and saddles. Fortunately (section 5),
# the minima that SGD finds in large networks tend to be about equally good.
#
# ## 2. Gradient descent
#
# The gradient $\nabla L(W)$ is the vector of partial derivatives; it points in the direction in
# which $L$ increases fastest, and its length is that rate of increase. For a small step $\Delta$,
#
# $$ L(W + \Delta) \approx L(W) + \nabla L(W)^\top \Delta, $$
#
# which, for steps of a given length, is smallest when $\Delta$ points along $-\nabla L(W)$.
# **Gradient descent** repeats that step:
#
# $$ W_{t+1} = W_t - \eta\, \nabla L(W_t). $$
#
# The **learning rate** (step size) $\eta$ is the most important hyperparameter in deep
# learning. The linear approximation only holds nearby: too small an $\eta$ wastes steps, too large
# a one jumps over the valley, and much too large a one climbs out of it. On the one-dimensional
# loss $L(w) = w^2$ (gradient $2w$) every step multiplies $w$ by $1 - 2\eta$:

# %%
fig, axes = plt.subplots(1, 4, figsize=(13, 3))
for ax, eta, verdict in zip(axes, [0.05, 0.3, 0.9, 1.05],
                            ["too small", "about right", "oscillates", "diverges"], strict=True):
    w, path = 2.0, [2.0]
    for _ in range(12):
        w = w - eta * 2 * w  # the gradient of w^2 is 2w
        path.append(w)
    path = np.array(path)
    ws = np.linspace(-1.1, 1.1, 200) * max(2.0, np.abs(path).max())
    ax.plot(ws, ws**2, color="0.6")
    ax.plot(path, path**2, "o-", color=CLASS_COLORS[5], ms=4, lw=1)
    ax.set_ylim(-0.03 * ws.max() ** 2, 1.1 * ws.max() ** 2)
    ax.set_title(f"η = {eta}: {verdict}\n$w$ multiplied by {1 - 2 * eta:+.1f} per step",
                 fontsize=9)
    ax.set_xlabel("$w$")
axes[0].set_ylabel("$L(w) = w^2$")
fig.tight_layout()
plt.show()

# %% [markdown]
# (Mind the last panel's larger scale.) With curvature $L''(w) = 2$ the steps converge for $0 < \eta < 2/2 = 1$ and diverge beyond; the
# fastest choice, $\eta = 1/L'' = 0.5$, lands on the minimum in one step. In general the largest
# usable step is set by the **largest curvature**: $\eta < 2/\lambda_{\max}$, where $\lambda_{\max}$
# is the largest eigenvalue of the Hessian (section 5).
#
# The same three behaviours on the real loss: full-batch gradient descent on the digits, from the
# same small random start, with four learning rates (`dlcv.optimization.minibatch.minibatch_run` with the
# whole training set as one batch: one step per epoch).

# %%
fig, ax = plt.subplots(figsize=(7, 3.2))
gd_runs = {}
for k, eta in enumerate([1.0, 10.0, 25.0, 40.0]):
    h = minibatch_run(X_train, y_train, batch_size=N, epochs=60, lr=eta, reg=reg)
    gd_runs[eta] = h
    ax.semilogy(h.iteration, h.loss - L_star, color=CLASS_COLORS[k], label=f"η = {eta:g}")
ax.set_xlabel("step")
ax.set_ylabel("$L - L^*$ (log scale)")
ax.set_title("full-batch gradient descent on the digits")
ax.legend(fontsize=8)
plt.show()
rises = {eta: int(np.sum(np.diff(h.loss) > 0)) for eta, h in gd_runs.items()}
for eta, h in gd_runs.items():
    print(f"η = {eta:2g}: L - L* after {h.iteration[-1]} steps {h.loss[-1] - L_star:.1e}; "
          f"the loss rose in {rises[eta]} of the steps")
print(f"lowest final loss: η = {min(gd_runs, key=lambda e: gd_runs[e].loss[-1]):g}")

# %% [markdown]
# The lines under the plot rank the four: $\eta = 1$ creeps; $\eta = 10$ is much better;
# $\eta = 25$ is the best of the four; and $\eta = 40$ goes wrong: the loss no longer falls
# steadily but bounces up and down (it rose in many of the steps). (It does not run off to
# infinity, because the softmax loss curves less and less far from its minimum: the overshooting
# steps land where $\eta = 40$ is tolerable again, and the cycle repeats. Section 5 computes the
# limit.) These values look huge only because the pixels are small
# numbers (in $[0, 1]$, centred) and the loss is an average: the scale of a good learning rate
# depends on the scale of the data and of the loss, which is one reason we search for it on a
# log scale. In practice: if the loss explodes or becomes NaN, lower $\eta$; if it falls very
# slowly, raise it.
#
# ## 3. Computing the gradient: numeric or analytic
#
# ### 3.1 Finite differences
#
# The definition of a derivative gives a way to compute it with nothing but the function:
# $\partial L / \partial w_j \approx (L(w + h e_j) - L(w)) / h$ for a small $h$, with $e_j$ the
# $j$-th unit vector. Taylor's theorem tells how good that is:
#
# $$ L(w \pm h e_j) = L(w) \pm h\, \partial_j L + \tfrac{h^2}{2}\, \partial_j^2 L
#    \pm \tfrac{h^3}{6}\, \partial_j^3 L + \dots $$
#
# The one-sided difference has error $\tfrac{h}{2}\partial_j^2 L = O(h)$; the **centred
# difference**
#
# $$ \partial_j L \approx \frac{L(w + h e_j) - L(w - h e_j)}{2h} $$
#
# cancels the even terms and has error $\tfrac{h^2}{6}\partial_j^3 L = O(h^2)$. Smaller $h$ is
# not always better, though: the two function values agree in more and more leading digits, and
# the difference loses precision. With machine precision $\epsilon$ ($2.2 \times 10^{-16}$ for
# float64, $1.2 \times 10^{-7}$ for float32) the round-off error is about $\epsilon |L| / h$. The
# total error is therefore V-shaped in $h$:

# %%
x0 = 1.0  # f(x) = exp(x): f'(1) = e
hs = np.logspace(-15, 0, 91)
fwd = np.abs((np.exp(x0 + hs) - np.exp(x0)) / hs - np.e)
ctr = np.abs((np.exp(x0 + hs) - np.exp(x0 - hs)) / (2 * hs) - np.e)
x32, hs32 = np.float32(x0), hs.astype(np.float32)
with np.errstate(invalid="ignore", divide="ignore"):
    ctr32 = np.abs((np.exp(x32 + hs32) - np.exp(x32 - hs32)) / (2 * hs32) - np.float32(np.e))

fig, ax = plt.subplots(figsize=(7, 3.6))
ax.loglog(hs, fwd, color=CLASS_COLORS[0], label="one-sided, float64")
ax.loglog(hs, ctr, color=CLASS_COLORS[5], label="centred, float64")
ax.loglog(hs32, np.where(ctr32 > 0, ctr32, np.nan), color=CLASS_COLORS[2], ls="--",
          label="centred, float32")
ax.loglog(hs[60:], 0.5 * np.e * hs[60:], "k:", lw=1)
ax.loglog(hs[60:], np.e / 6 * hs[60:] ** 2, "k:", lw=1)
ax.text(3e-7, 8e-8, "slope 1: $O(h)$", fontsize=8)
ax.text(5e-3, 1e-7, "slope 2: $O(h^2)$", fontsize=8)
ax.text(1e-13, 1e-6, "round-off\n$\\approx \\epsilon / h$", fontsize=8)
ax.set_xlabel("step $h$")
ax.set_ylabel("|numeric - exact| derivative")
ax.set_title("error of finite differences for $f(x) = e^x$ at $x = 1$")
ax.legend(fontsize=8, loc="lower left")
plt.show()
for name, err in (("one-sided", fwd), ("centred", ctr), ("centred float32", ctr32)):
    i = int(np.nanargmin(err))
    print(f"{name:16s}: best h = {hs[i]:.0e}, error {err[i]:.1e}")

# %% [markdown]
# The minimum of the V sits where truncation and round-off balance (all derivatives of $e^x$ at
# $x = 1$ equal $e$). For the one-sided formula, $\tfrac{h}{2} e \approx \epsilon e / h$ at
# $h \approx \sqrt{\epsilon} \approx 10^{-8}$, with an error of about that size; for the centred
# one, $\tfrac{h^2}{6} e \approx \epsilon e / h$ at $h \approx \epsilon^{1/3} \approx 10^{-5}$, with
# an error near $\epsilon^{2/3} \approx 10^{-11}$. The three lines printed above find the minima
# where this balance puts them, which is why gradient checks use the centred formula with
# $h = 10^{-5}$. In float32, with its much larger $\epsilon$, the best achievable error is many
# orders of magnitude worse (the last line): gradient checks must run in **float64**.
#
# ### 3.2 Analytic gradients, and checking them
#
# The numeric gradient needs two evaluations of $L$ **per parameter**: $2D$ forward passes for one
# gradient. For our 650 parameters that is fine; for a network with $10^7$ parameters it is
# hopeless, and every step of training needs a fresh gradient. The **analytic gradient** comes
# from calculus (the chain rule, which lecture 04 turns into backpropagation) and costs about as
# much as one forward pass. Torch's autograd computes it for us; in assignments a1 and a2 you
# derive and code it yourself. The numeric gradient then serves as the referee: compare both with
# the **relative error**
#
# $$ \text{rel\_error} = \frac{|g_{\text{analytic}} - g_{\text{numeric}}|}
#    {\max(\epsilon, |g_{\text{analytic}}| + |g_{\text{numeric}}|)}, $$
#
# elementwise, and look at the largest. Relative, because an absolute difference of $10^{-4}$ is
# terrible for a gradient of size $10^{-5}$ and excellent for one of size $10^{3}$. As a rule of
# thumb: below $10^{-7}$ all is well; $10^{-4}$ is suspicious unless the function has kinks; above
# $10^{-2}$ the gradient is wrong.

# %%
Wb = 0.01 * rng.standard_normal((C, D + 1))  # float64 parameters, a random point
Wb_t = torch.tensor(Wb, requires_grad=True)
(g_autograd,) = torch.autograd.grad(loss_of(Wb_t), Wb_t)
g_autograd = g_autograd.numpy()


def L_np(w):
    """The loss as a plain function of a float64 array, for the numeric gradient."""
    return float(loss_of(torch.from_numpy(w)))


t0 = time.perf_counter()
g_numeric = eval_numerical_gradient(L_np, Wb.copy(), h=1e-5)
t_num = time.perf_counter() - t0
t0 = time.perf_counter()
for _ in range(20):
    Wb_t.grad = None
    loss_of(Wb_t).backward()
t_ana = (time.perf_counter() - t0) / 20
errs = np.abs(g_autograd - g_numeric) / np.maximum(1e-8, np.abs(g_autograd) + np.abs(g_numeric))
worst = np.unravel_index(np.argmax(errs), errs.shape)
print(f"largest relative error, float64: {rel_error(g_autograd, g_numeric):.1e} "
      f"(median {np.median(errs):.1e})")
print(f"  the worst entry is W[{worst[0]}, {worst[1]}], where the gradient is only "
      f"{abs(g_autograd[worst]):.1e}; pixel {worst[1]} has ink in only "
      f"{np.sum(data.X_train.reshape(N, -1)[:, worst[1]] > 0)} of the {N} digits")
print(f"numeric gradient: {2 * Wb.size} loss evaluations, {t_num * 1e3:.0f} ms; "
      f"autograd: {t_ana * 1e3:.2f} ms ({t_num / t_ana:.0f} times faster)")

# the same check in float32
W32 = torch.tensor(Wb, dtype=torch.float32, requires_grad=True)
X32 = Xt.float()
(g32,) = torch.autograd.grad(softmax_regression_loss(W32[:, :D], W32[:, D], X32, yt, reg), W32)
g32_numeric = eval_numerical_gradient(
    lambda w: float(softmax_regression_loss(torch.from_numpy(w[:, :D]).float(),
                                            torch.from_numpy(w[:, D]).float(), X32, yt, reg)),
    Wb.copy())
err32 = rel_error(g32.numpy(), g32_numeric)
print(f"largest relative error, float32: {err32:.1e} "
      f"({'above 1e-2: the check says wrong' if err32 > 1e-2 else 'below 1e-2'})")

# %% [markdown]
# In float64 the typical entry agrees to many digits (the median printed above): autograd is
# right (as expected) and the check works. The largest error is larger, and it sits where the
# gradient itself is tiny (the second line): the weight of a pixel that is blank in almost every
# digit, which only the regulariser and a few images touch. There the numeric side's round-off
# (about $10^{-11}$ absolute) is no longer small compared with the gradient. The relative error
# is unforgiving for tiny gradients, so a stray $10^{-6}$ or $10^{-5}$ at such entries is no cause
# for alarm; the same value everywhere would be. In float32 the very same, correct gradient
# "fails" completely (the last line): the numeric side drowns in round-off. For big parameter
# arrays you rarely need every coordinate; `grad_check_sparse` checks a few random ones:

# %%
_ = grad_check_sparse(L_np, Wb.copy(), g_autograd, num_checks=4)

# %% [markdown]
# **Kinks.** The hinge $\max(0, x)$ of the SVM loss and of ReLU units has no derivative at 0. If
# $x$ lies within $h$ of the kink, $x - h$ and $x + h$ fall on different sides and the numeric
# gradient is a blend of the two slopes:

# %%
relu = torch.relu
for x_k in (0.3, 2e-6):
    xt_k = torch.tensor(x_k, dtype=torch.float64, requires_grad=True)
    (g_a,) = torch.autograd.grad(relu(xt_k), xt_k)
    g_n = eval_numerical_gradient(lambda v: float(relu(torch.from_numpy(v))), np.array([x_k]))
    print(f"x = {x_k:g}: analytic {float(g_a):.2f}, numeric {g_n[0]:.2f}, "
          f"relative error {rel_error(float(g_a), g_n[0]):.1e}")

# %% [markdown]
# Such a mismatch is not a bug. With many examples a few of them sit near a kink by chance, so a
# gradient check of an SVM or ReLU network can show a handful of large errors; using fewer
# examples, or checking that the kinks are crossed (compare the $\max$ terms at $x \pm h$), tells
# a kink from a bug. Further tips: turn off regularisation first and check the data loss alone
# (a large regulariser can hide a wrong data gradient), and turn off randomness such as dropout.
#
# ## 4. Minibatch stochastic gradient descent
#
# The loss is an average over the training set, and so is its gradient:
#
# $$ \nabla L(W) = \frac{1}{N}\sum_{i=1}^{N} \nabla L_i(W) = \mathbb{E}_{i}\big[\nabla L_i(W)\big]
#    \quad (i \text{ uniform on } 1..N). $$
#
# An expectation can be estimated from a sample. **Minibatch SGD** draws a random batch $B$ of,
# say, 32 to 256 examples and steps along their average gradient:
#
# $$ W_{t+1} = W_t - \eta\, \frac{1}{|B|} \sum_{i \in B} \nabla L_i(W_t)
#    \;(+\,\lambda \nabla R(W_t)). $$
#
# The estimate is unbiased, and its variance shrinks like $1/|B|$ (precisely
# $\frac{\sigma^2}{|B|}\frac{N - |B|}{N - 1}$ for a batch drawn without replacement, with
# $\sigma^2$ the variance of a single example's gradient). Doubling the batch halves the
# variance but doubles the cost of a step; since the standard deviation falls only like
# $1/\sqrt{|B|}$, many cheap noisy steps usually beat a few exact ones. "SGD" strictly means
# $|B| = 1$ (Robbins and Monro, 1951), but the name is used for any batch size. An **epoch** is one
# pass over the training data: $N / |B|$ **iterations** (steps).
#
# First, the noise itself: the squared distance between the minibatch gradient and the full
# gradient at the start of training, averaged over 200 random batches of each size.

# %%
W0_t = torch.tensor(1e-3 * rng.standard_normal((C, D + 1)), requires_grad=True)
(g_full,) = torch.autograd.grad(loss_of(W0_t), W0_t)
batch_sizes = [1, 4, 16, 64, 256, 1024]
noise = []
for B in batch_sizes:
    errs = []
    for _ in range(200):
        idx = torch.from_numpy(rng.choice(N, size=B, replace=False))
        lb = softmax_regression_loss(W0_t[:, :D], W0_t[:, D], Xt[idx], yt[idx], reg)
        (g_b,) = torch.autograd.grad(lb, W0_t)
        errs.append(float(((g_b - g_full) ** 2).sum()))
    noise.append(np.mean(errs))
noise = np.array(noise)
Bs = np.array(batch_sizes)
fig, ax = plt.subplots(figsize=(6, 3.2))
formula = noise[0] / Bs * (N - Bs) / (N - 1)  # sigma^2 estimated by the batches of one
ax.loglog(Bs, noise, "o-", color=CLASS_COLORS[0], label="measured")
ax.loglog(Bs, formula, "k--", lw=1, label=r"$\sigma^2 / |B| \cdot (N - |B|)/(N - 1)$")
ax.set_xlabel("batch size $|B|$")
ax.set_ylabel(r"$E\,\|g_B - \nabla L\|^2$")
ax.set_title("minibatch gradients: measured noise and the formula")
ax.legend(fontsize=8)
plt.show()
print("measured / formula for |B| = " + ", ".join(
    f"{B}: {m / f:.2f}" for B, m, f in zip(batch_sizes, noise, formula, strict=True)))

# %% [markdown]
# Now train with four batch sizes, 1, 16, 256 and the whole training set, with the same learning
# rate for 8 epochs, and look at the training loss two ways: per epoch (how much data was used) and
# per second of computation.

# %%
runs_B = {}
for B in (1, 16, 256, N):
    runs_B[B] = minibatch_run(X_train, y_train, batch_size=B, epochs=8, lr=0.2, reg=reg, seed=0)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for k, (B, h) in enumerate(runs_B.items()):
    label = f"|B| = {B}" + (" (full batch)" if B == N else "") + f": {h.iteration[-1]} steps"
    axes[0].semilogy(h.epoch, h.loss - L_star, color=CLASS_COLORS[k], label=label)
    axes[1].loglog(np.maximum(h.seconds, 1e-4), h.loss - L_star, color=CLASS_COLORS[k])
axes[0].set_xlabel("epoch")
axes[1].set_xlabel("training time (s, log scale)")
for ax in axes:
    ax.set_ylabel("$L - L^*$")
axes[0].legend(fontsize=8)
axes[0].set_title("progress per pass over the data")
axes[1].set_title("progress per second")
fig.tight_layout()
plt.show()
for B, h in runs_B.items():
    print(f"|B| = {B:4d}: {h.iteration[-1]:5d} steps, {1e3 * h.seconds[-1] / 8:6.1f} ms per epoch, "
          f"L - L* after 8 epochs {h.loss[-1] - L_star:.1e}")
h1, h16 = runs_B[1], runs_B[16]
after1 = h1.epoch >= 1
print(f"|B| = 1 after its first epoch: L - L* between {(h1.loss[after1] - L_star).min():.1e} and "
      f"{(h1.loss[after1] - L_star).max():.1e}")
j = np.searchsorted(h1.seconds, h16.seconds[-1], side="right") - 1  # |B| = 1 at that moment
print(f"when |B| = 16 had finished ({h16.seconds[-1]:.2f} s): L - L* {h16.loss[-1] - L_star:.1e} "
      f"for |B| = 16, {h1.loss[j] - L_star:.1e} for |B| = 1; an epoch of |B| = 1 takes "
      f"{h1.seconds[-1] / h16.seconds[-1]:.0f} times as long")

# %% [markdown]
# Per epoch, small batches win by far (the table under the plots): an epoch with $|B| = 1$ makes $N$
# updates, the full batch one. But $|B| = 1$ stalls at a noise floor: after its first epoch it only
# bounces within a band (the line after the table), because with a constant learning rate its steps
# keep jumping around the minimum (section 8 shrinks $\eta$ to fix that). Per second, the picture
# changes: a step costs a roughly fixed overhead plus a part proportional to $|B|$, and for tiny
# batches the overhead dominates. Here an epoch of $|B| = 1$ takes many times as long as one of
# $|B| = 16$, which cancels its lead per epoch: the last line compares the two at the moment
# $|B| = 16$ has finished its eight epochs (times measured on this machine). On a GPU, which
# processes a whole batch in parallel, the sweet spot moves to larger batches still; that, and the
# memory of the device, decide the batch size in practice, with the learning rate tuned to go with
# it (Goyal et al., 2017, scale it proportionally to the batch size).
#
# ## 5. What makes optimisation hard
#
# ### 5.1 Ill-conditioning: the zig-zag
#
# Near a minimum $w^\star$ every smooth loss looks like a quadratic,
# $L(w) \approx L^\star + \tfrac12 (w - w^\star)^\top H (w - w^\star)$, with $H$ the **Hessian**
# (the matrix of second derivatives). Write $H = \sum_k \lambda_k q_k q_k^\top$ with eigenvalues
# $\lambda_k$ and orthonormal eigenvectors $q_k$. Along each $q_k$, gradient descent multiplies the
# distance to the minimum by $1 - \eta \lambda_k$ per step. Stability needs
# $\eta < 2/\lambda_{\max}$, and then the flattest direction shrinks only by
# $1 - \eta \lambda_{\min} > 1 - 2\lambda_{\min}/\lambda_{\max}$ per step. The ratio
#
# $$ \kappa = \lambda_{\max} / \lambda_{\min} $$
#
# is the **condition number**: gradient descent needs on the order of $\kappa$ steps. When
# $\kappa$ is large the loss "changes quickly in one direction and slowly in another": the valley
# is a narrow gutter, the gradient points mostly across it, and the path zig-zags from wall to wall
# while creeping along the floor. The bowl $L = \tfrac12(x^2 + 25 y^2)$ has $\kappa = 25$:

# %%
bowl = landscapes.SURFACES["ill-conditioned bowl"]
print("Hessian of the bowl:\n", landscapes.hessian(bowl, (0.0, 0.0)))
fig, axes = plt.subplots(1, 3, figsize=(13, 2.9))
for ax, eta in zip(axes, [0.02, 0.05, 0.078], strict=True):
    draw_surface(ax, bowl, title=False)
    run = trajectory(bowl, "SGD", "upper left", steps=40, lr=eta)
    draw_run(ax, run)
    ax.set_title(f"η = {eta}: per step x × {1 - eta:.3f}, y × {1 - 25 * eta:+.2f}\n"
                 f"loss after 40 steps {run.losses[-1]:.2g}", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# With $\eta = 0.02$ the path is smooth but slow along $x$. Raising $\eta$ speeds up $x$, but
# the steep $y$ direction flips sign at every step once $\eta > 1/25$, and near $2/25 = 0.08$ it
# barely shrinks at all: the zig-zag. No single learning rate suits both directions.
#
# Real losses are ill-conditioned too. Here is the spectrum of the Hessian of our digits loss at
# its minimum, all $650 \times 650$ second derivatives computed by autograd.

# %%
H_digits = torch.autograd.functional.hessian(
    lambda w: loss_of(w.reshape(C, D + 1)), torch.from_numpy(W_star.ravel())).numpy()
eig = np.linalg.eigvalsh(H_digits)  # (650,), increasing
fig, ax = plt.subplots(figsize=(7, 3))
ax.semilogy(np.arange(1, len(eig) + 1), np.maximum(eig, 1e-8), ".", color=CLASS_COLORS[0], ms=3)
ax.axhline(2 * reg, color="0.5", ls=":", lw=1)
ax.text(20, 2.4 * reg, "$2\\lambda$ (the L2 term alone)", fontsize=8)
ax.set_xlabel("eigenvalue number")
ax.set_ylabel("eigenvalue (log)")
ax.set_title("Hessian of the digits loss at its minimum")
plt.show()
useful = eig[eig > 2.5 * reg]
eta_max = 2 / eig[-1]
print(f"largest eigenvalue {eig[-1]:.4f} -> gradient descent is stable for η < {eta_max:.1f}; "
      "section 2's rates below that: " + ", ".join(
          f"η = {e:g} (rose {rises[e]} times)" for e in gd_runs if e < eta_max)
      + "; above it: " + (", ".join(f"η = {e:g} (rose {rises[e]} times)" for e in gd_runs
                                   if e >= eta_max) or "none"))
blank = int(np.sum(X_train.std(axis=0) == 0))  # pixels that are blank in every training digit
print(f"{np.sum(eig < 1e-10)} eigenvalue ~0 (predicted: 1, the ten biases moving together); "
      f"{np.sum(np.abs(eig - 2 * reg) < 1e-12)} equal to 2λ (predicted: D + 9 × {blank} blank "
      f"pixels = {D + (C - 1) * blank}); "
      f"{np.sum((eig > 2 * reg + 1e-12) & (eig <= 2.5 * reg))} more within 25% above 2λ; "
      f"the remaining {len(useful)} span "
      f"{useful[0]:.4f} .. {useful[-1]:.4f} (a factor {useful[-1] / useful[0]:.0f})")

# %% [markdown]
# The largest eigenvalue explains section 2's experiment: the first line compares
# $2/\lambda_{\max}$ with the learning rates tried there, and the rates above it are the ones
# whose loss kept rising again. The bottom of the spectrum is instructive too (the second line).
# One eigenvalue is zero: adding the same number to all ten biases changes no probability, and
# the biases are not regularised, so the loss is perfectly flat in that direction. A group equals
# exactly $2\lambda$, the curvature of the L2 term alone: adding the same vector to all ten rows of
# $W$ changes no probability either ($D = 64$ directions), and the weights of a pixel that is
# blank in every training digit do nothing (nine more directions per such pixel, the tenth being
# among the 64); the count matches this prediction. Many further directions are barely steeper.
# On a 2-D plot this loss would be a long, flat-bottomed trough: gradient descent at a stable
# $\eta$ crawls along the flat directions, more slowly than along the steepest ones by the factor
# printed last, and takes forever in the truly flat ones (which is harmless here, since they do
# not change the predictions).
#
# ### 5.2 Local minima and saddle points
#
# Where the gradient is zero, gradient descent stops, whether the point is a minimum, a maximum or
# a **saddle** (a minimum along some directions and a maximum along others). Which is more common
# in high dimensions? At a critical point of a random-looking function of $D$ variables, each of
# the $D$ Hessian eigenvalues could be positive or negative; if signs were like coin flips, all
# $D$ would be positive with probability $2^{-D}$. Dauphin et al. (2014) made that intuition
# precise for networks: critical points with high loss are overwhelmingly saddles, and local
# minima tend to have a loss close to the global one. So the practical enemy is not a bad local
# minimum but the **plateau around a saddle**, where the gradient is tiny and progress stalls.
#
# Near the saddle of $L = \tfrac12 x^2 + \tfrac14 (y^2 - 1)^2$ (curving up along $x$, down along
# $y$), gradient descent approaches the saddle along $x$ and escapes along $y$ only as fast as its
# tiny $y$-coordinate grows, by a factor $1 + \eta$ per step. The closer the start lies to the
# ridge $y = 0$, the longer the plateau; starting exactly on it, it never escapes.

# %%
saddle = landscapes.SURFACES["saddle"]
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [1.2, 1]})
draw_surface(ax0, saddle)
escape = {}  # the first step with a loss below 0.2, well under the saddle's 0.25
for k, y0 in enumerate([1e-1, 1e-3, 1e-6, 0.0]):
    run = trajectory(saddle, "SGD", (-2.8, y0), steps=250, lr=0.1)
    below = np.flatnonzero(run.losses < 0.2)
    escape[y0] = int(below[0]) if len(below) else None
    draw_run(ax0, run, color=CLASS_COLORS[k], markersize=2)
    shown = np.where(run.losses > 1e-12, run.losses, np.nan)  # stop drawing at 1e-12
    ax1.semilogy(shown, color=CLASS_COLORS[k], label=f"start y = {y0:g}")
ax1.axhline(0.25, color="0.5", ls=":", lw=1)
ax1.text(150, 0.3, "loss at the saddle", fontsize=8)
ax1.set_xlabel("step")
ax1.set_ylabel("loss")
ax1.set_title("SGD (η = 0.1) starting at x = -2.8")
ax1.legend(fontsize=8)
fig.tight_layout()
plt.show()
print(f"{'start y':>8s} {'loss < 0.2 at step':>19s} {'added steps':>12s} "
      f"{'ln(ratio) / ln 1.1':>19s}")
prev = None
for y0, step in escape.items():
    if step is None:
        print(f"{y0:8g} {'never':>19s}")
        continue
    extra = (f"{step - escape[prev]:12d} {np.log(prev / y0) / np.log(1.1):19.1f}"
             if prev is not None else "")
    print(f"{y0:8g} {step:19d} {extra}")
    prev = y0

# %% [markdown]
# Each start a factor $q$ closer to the ridge adds about $\ln q / \ln 1.1$ plateau steps:
# $\approx 48$ for $q = 100$, $\approx 72$ for $q = 1000$ (the table compares the measured
# steps with this estimate). In a network with millions of directions, the minibatch noise of
# section 4 helps here: it nudges the parameters off the ridge.
#
# ### 5.3 Noise
#
# Minibatch gradients are noisy estimates. The noise makes the path wander, prevents settling
# exactly into a minimum at a constant learning rate (the noise floor of section 4), and is one
# reason the methods below average gradients over time.
#
# ## 6. Better update rules
#
# All of the following use only gradients, like SGD. What they add is **memory**: running averages
# of past gradients (momentum) or of their squares (adaptive learning rates). Write $g_t$ for the
# minibatch gradient at step $t$.
#
# ### 6.1 Momentum: the heavy ball
#
# SGD with momentum (Polyak, 1964) keeps a **velocity** $v$, an exponentially decaying sum of past
# gradients, and moves along it:
#
# $$ v_{t+1} = \rho\, v_t - \eta\, g_t, \qquad w_{t+1} = w_t + v_{t+1}. $$
#
# Think of a ball rolling on the loss surface: the gradient is a force, $v$ the velocity, and
# $\rho$ (typically 0.9 or 0.99) a friction coefficient ($\rho = 0$: plain SGD). Across the narrow
# valley, gradients alternate in sign and largely cancel in $v$, so the zig-zag is damped; along
# the valley floor they agree and build up speed. On a constant slope $g$ the velocity grows to
# the **terminal velocity** $\eta g / (1 - \rho)$: with $\rho = 0.9$, steps ten times those of SGD.
# The price: a heavy ball **overshoots**, rolling past the minimum and swinging back.
#
# `torch.optim.SGD(momentum=ρ)` writes the same method with the learning rate outside:
# $b_{t+1} = \rho\, b_t + g_t$, $w_{t+1} = w_t - \eta\, b_{t+1}$ (so $v = -\eta b$ while $\eta$ is
# constant). On the constant slope $L(w) = 3w$:

# %%
def steps_on_a_slope(name, n=60, g=3.0, **kw):
    """|step| at each of n steps of a torch.optim optimizer on L(w) = g * w (constant gradient)."""
    w = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = landscapes.make_optimizer(name, [w], **kw)
    out = []
    for _ in range(n):
        before = w.item()
        opt.zero_grad()
        (g * w).sum().backward()
        opt.step()
        out.append(abs(w.item() - before))
    return np.array(out)


s_sgd = steps_on_a_slope("SGD", lr=0.01)
s_mom = steps_on_a_slope("Momentum", lr=0.01, momentum=0.9)
print("SGD step sizes:     ", s_sgd[:5], "... always η g =", 0.01 * 3)
print("momentum step sizes:", s_mom[:5], "... step 60:", s_mom[-1].round(4),
      "-> terminal η g / (1 - ρ) =", round(0.01 * 3 / (1 - 0.9), 4))

# %% [markdown]
# On the ill-conditioned bowl, with the same small learning rate, momentum gets to the minimum
# where SGD is still far away, swinging through it on the way (the lines printed with the
# pictures give the distance to the minimum after 60 steps, and how often each path crossed the
# line $x = 0$ through it):

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 2.9))
for ax, name in zip(axes, ["SGD", "Momentum"], strict=True):
    draw_surface(ax, bowl, title=False)
    run = trajectory(bowl, name, "upper left", steps=60, lr=0.02, momentum=0.9)
    draw_run(ax, run)
    ax.set_title(f"{name}, η = 0.02: loss after 60 steps {run.losses[-1]:.1e}", fontsize=9)
    crossings = int(np.sum(np.diff(np.sign(run.path[:, 0])) != 0))
    print(f"{name:8s}: distance to the minimum after 60 steps {np.linalg.norm(run.path[-1]):.2f}, "
          f"crossed x = 0 {crossings} times")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### 6.2 Nesterov momentum: look before you leap
#
# The velocity will carry the parameters to about $w_t + \rho v_t$ anyway, so Nesterov's
# accelerated gradient (Nesterov, 1983; brought to deep learning by Sutskever et al., 2013)
# evaluates the gradient **there**, at the look-ahead point, instead of at $w_t$:
#
# $$ v_{t+1} = \rho\, v_t - \eta\, \nabla L(w_t + \rho v_t), \qquad w_{t+1} = w_t + v_{t+1}. $$
#
# If the momentum is about to overshoot, the look-ahead gradient already points back and brakes
# earlier. The gradient at a shifted point is awkward in code (the backward pass gives the
# gradient at the current parameters), so implementations track the look-ahead point itself,
# $\tilde w_t = w_t + \rho v_t$. Substituting,
#
# $$ v_{t+1} = \rho\, v_t - \eta\, \nabla L(\tilde w_t), \qquad
#    \tilde w_{t+1} = \tilde w_t - \rho\, v_t + (1 + \rho)\, v_{t+1}, $$
#
# which only needs the gradient at the parameters we store. `torch.optim.SGD(nesterov=True)`
# uses this form (in its own scaling: $w \leftarrow w - \eta\,(g + \rho\, b_{t+1})$). A scalar
# check on $L(w) = 2 w^2$ that the look-ahead form and torch agree:

# %%
rho, eta, w_plain, v = 0.9, 0.05, 1.0, 0.0
w_torch = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
opt = torch.optim.SGD([w_torch], lr=eta, momentum=rho, nesterov=True)
gap = 0.0  # the largest difference between the two forms
for t in range(5):
    look = w_plain + rho * v                # the look-ahead point
    v = rho * v - eta * 4 * look            # dL/dw = 4 w, taken at the look-ahead point
    w_plain = w_plain + v
    opt.zero_grad()
    (2 * w_torch**2).sum().backward()
    opt.step()
    print(f"step {t + 1}: look-ahead form w~ = {w_plain + rho * v:+.6f}, "
          f"torch {w_torch.item():+.6f}")
    gap = max(gap, abs(w_plain + rho * v - w_torch.item()))
print(f"largest difference: {gap:.1e}")

# %% [markdown]
# torch's parameter is the look-ahead point $\tilde w$ of the first form, to the last digit (the
# largest difference printed last is at the level of float64 rounding).
#
# ### 6.3 AdaGrad: a learning rate per parameter
#
# Momentum still uses one learning rate for every parameter. AdaGrad (Duchi, Hazan and Singer,
# 2011) divides each coordinate's step by the root of the sum of all its past squared gradients:
#
# $$ G_{t} = G_{t-1} + g_t \odot g_t, \qquad
#    w_{t+1} = w_t - \eta\, \frac{g_t}{\sqrt{G_t} + \epsilon} \quad\text{(elementwise).} $$
#
# Coordinates with large gradients get small steps and vice versa, which equalises progress across
# steep and flat directions (when they are aligned with the coordinate axes) and helps rarely
# active features. But $G$ only grows: on a constant slope the step is $\eta / \sqrt{t}$, and after
# long training AdaGrad stops moving. $\epsilon$ (around $10^{-8}$) only prevents division by zero.
#
# ### 6.4 RMSProp: a leaky AdaGrad
#
# RMSProp (Tieleman and Hinton, 2012, in a lecture of their Coursera course, never a paper)
# replaces the sum by an exponential moving average with decay rate $\alpha$ (0.9 to 0.99):
#
# $$ s_{t} = \alpha\, s_{t-1} + (1 - \alpha)\, g_t \odot g_t, \qquad
#    w_{t+1} = w_t - \eta\, \frac{g_t}{\sqrt{s_t} + \epsilon}. $$
#
# Now old gradients are forgotten and the step does not decay to zero: on a constant slope it
# settles at $\eta$, **whatever the size of the gradient**. The steps of both methods on the slope
# $L(w) = 3w$:

# %%
s_ada = steps_on_a_slope("AdaGrad", lr=0.1)
s_rms = steps_on_a_slope("RMSProp", lr=0.1, alpha=0.99)
print("AdaGrad steps 1, 4, 16, 60:", s_ada[[0, 3, 15, 59]], " (η/√t:", 0.1 / np.sqrt([1, 4, 16, 60]),
      ")")
print("RMSProp steps 1, 4, 16, 60:", s_rms[[0, 3, 15, 59]], " (-> η = 0.1)")

# %% [markdown]
# Notice RMSProp's first step: $s_1 = (1 - \alpha)\, g^2$, so the step is
# $\eta / \sqrt{1 - \alpha} = 10\,\eta$ for $\alpha = 0.99$. The running average starts at zero
# and underestimates $g^2$ for the first $\sim 1/(1 - \alpha)$ steps, which makes the first steps
# too large. Adam repairs exactly this.
#
# ### 6.5 Adam: momentum + RMSProp + bias correction
#
# Adam (Kingma and Ba, 2015) keeps both averages, the first moment $m$ (momentum, as an average
# rather than a sum) and the second moment $v$ (RMSProp), and corrects both for their start at
# zero:
#
# $$ \begin{aligned}
#    m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, &
#    v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t \odot g_t, \\
#    \hat m_t &= \frac{m_t}{1 - \beta_1^t}, &
#    \hat v_t &= \frac{v_t}{1 - \beta_2^t}, \\
#    w_{t+1} &= w_t - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}, &&
#    \end{aligned} $$
#
# with the defaults $\beta_1 = 0.9$, $\beta_2 = 0.999$, $\epsilon = 10^{-8}$ and, often,
# $\eta = 10^{-3}$. Why the correction matters, at $t = 1$ with a gradient $g$:

# %%
b1, b2, eta, g = 0.9, 0.999, 0.1, 3.0
m1, v1 = (1 - b1) * g, (1 - b2) * g**2                       # the averages after one step
print(f"m_1 = {m1:.3f}, v_1 = {v1:.5f}: both far below g = {g} and g^2 = {g**2}")
print(f"step without correction: η m_1 / √v_1 = {eta * m1 / math.sqrt(v1):.3f} "
      f"= η (1 - β1)/√(1 - β2) = {eta * (1 - b1) / math.sqrt(1 - b2):.3f}")
mh, vh = m1 / (1 - b1), v1 / (1 - b2)
print(f"with correction:  m^ = {mh}, v^ = {vh:.1f}, step η m^/√v^ = {eta * mh / math.sqrt(vh):.3f}")
w = torch.zeros(1, dtype=torch.float64, requires_grad=True)
opt = torch.optim.Adam([w], lr=eta, betas=(b1, b2))
(g * w).sum().backward()
opt.step()
print(f"torch.optim.Adam's first step: {abs(w.item()):.3f}")

# %% [markdown]
# Without the correction the first step would be $3.16\,\eta$ here, and the effect lasts: $v$ takes
# about $1/(1 - \beta_2) = 1000$ steps to forget its zero start. With it, Adam's first step has size
# $\eta$ in every coordinate, and so do its later steps whenever the gradient's direction is
# consistent. The step sizes of all six methods on a constant slope:

# %%
settings = {"SGD": dict(lr=0.01), "Momentum": dict(lr=0.01, momentum=0.9),
            "Nesterov": dict(lr=0.01, momentum=0.9), "AdaGrad": dict(lr=0.1),
            "RMSProp": dict(lr=0.1, alpha=0.99), "Adam": dict(lr=0.1)}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
slope_steps = {}  # (name, g) -> the 100 step sizes
for name, kw in settings.items():
    for ax, g in zip(axes, (3.0, 300.0), strict=True):
        slope_steps[name, g] = steps_on_a_slope(name, n=100, g=g, **kw)
        ax.semilogy(np.arange(1, 101), slope_steps[name, g],
                    color=OPTIMIZER_COLORS[name], label=name, lw=1.6)
for ax, g in zip(axes, (3.0, 300.0), strict=True):
    ax.set_title(f"step sizes on the slope L(w) = {g:g} w", fontsize=10)
    ax.set_xlabel("step")
axes[0].set_ylabel("|step|")
axes[1].legend(fontsize=8, ncol=2)
fig.tight_layout()
plt.show()
print(f"{'slope 3':9s} {'step 1':>7s} {'step 10':>8s} {'step 100':>9s} {'/ SGD':>6s} {'/ η':>6s}"
      "    slope 300: step 100 grows")
for name, kw in settings.items():
    st = slope_steps[name, 3.0]
    print(f"{name:9s} {st[0]:7.3f} {st[9]:8.3f} {st[99]:9.3f} {st[99] / slope_steps['SGD', 3.0][99]:6.1f} "
          f"{st[99] / kw['lr']:6.2f}    x {slope_steps[name, 300.0][99] / st[99]:5.1f}")

# %% [markdown]
# Two lessons, with numbers in the table under the figure (the step at step 100 relative to SGD's
# and to the method's own $\eta$, and how much it grows when the slope is 100 times steeper).
# **Left:** momentum accelerates to ten times SGD's step, Nesterov likewise; AdaGrad decays like
# $1/\sqrt t$; RMSProp starts with its oversized step and settles towards $\eta$ only slowly (its
# average forgets on a scale of $1/(1 - \alpha) = 100$ steps); Adam steps $\eta$ from the start.
# **Right:** a slope 100 times steeper makes the SGD family's steps 100 times larger, but leaves the
# adaptive family's steps unchanged. Their learning rate is measured in **parameter units** (how far
# to move), SGD's in parameter units per unit of gradient. That is why a good $\eta$ for Adam (often
# $10^{-3}$) and a good one for SGD (often $10^{-1}$ or $10^{-2}$) have nothing to do with each
# other, and why the widget below has one learning-rate slider per family.
#
# | method | keeps | step on a constant slope $g$ | typical hyperparameters |
# |---|---|---|---|
# | SGD | nothing | $\eta g$ | $\eta$ |
# | Momentum / Nesterov | velocity | grows to $\eta g / (1 - \rho)$ | $\eta$, $\rho = 0.9$ |
# | AdaGrad | sum of $g^2$ | $\eta / \sqrt{t}$ | $\eta$ |
# | RMSProp | average of $g^2$ | $\to \eta$ (first steps larger) | $\eta$, $\alpha = 0.99$ |
# | Adam | averages of $g$ and $g^2$, bias-corrected | $\eta$ | $\eta = 10^{-3}$, $\beta_1 = 0.9$, $\beta_2 = 0.999$ |
#
# In practice Adam is a robust default that needs little tuning; well-tuned SGD with momentum (and
# a learning-rate schedule) is still the choice of many image-classification recipes, where it
# often generalises slightly better.
#
# ## 7. Play with it: six optimizers on four landscapes
#
# First the overview, as static pictures: all six methods with the same settings as the widget's
# defaults, on the banana (a gentler variant of Rosenbrock's function,
# $(1 - x)^2 + 10\,(y - x^2)^2$, with its curved valley) and on Himmelblau's function with its four
# minima. The SGD family shares one learning rate, the adaptive family another.

# %%
fig, axes = plt.subplots(2, 2, figsize=(12, 9), gridspec_kw={"width_ratios": [1, 1.1]})
overview = {}  # (surface, optimizer) -> Run
for row, (surface, start) in enumerate([("banana", "above the valley"), ("four minima", "top")]):
    s = landscapes.SURFACES[surface]
    draw_surface(axes[row, 0], s)
    for name in OPTIMIZERS:
        run = overview[surface, name] = trajectory(s, name, start)
        draw_run(axes[row, 0], run, markersize=2.5)
        axes[row, 1].semilogy(np.maximum(run.losses, 1e-16), color=OPTIMIZER_COLORS[name],
                              label=f"{name}: final loss {run.losses[-1]:.1e}")
    axes[row, 1].set_title(f"{surface}: lr {s.lr_sgd:g} (SGD family), {s.lr_adaptive:g} "
                           "(adaptive family)", fontsize=10)
    axes[row, 1].set_xlabel("step")
    axes[row, 1].set_ylabel("loss")
    axes[row, 1].legend(fontsize=8, loc="lower left")
fig.tight_layout()
plt.show()
print(f"{'':9s} {'banana: final loss':>18s} {'lowest y':>9s} {'largest rise':>13s}    "
      "four minima: end point, nearest minimum")
for name in OPTIMIZERS:
    b, h = overview["banana", name], overview["four minima", name]
    m, d_min = landscapes.nearest_minimum("four minima", h.path[-1])
    print(f"{name:9s} {b.losses[-1]:18.1e} {np.nanmin(b.path[:, 1]):9.2f} "
          f"{np.nanmax(np.diff(b.losses)[50:]):13.1e}    ({h.path[-1, 0]:+.2f}, {h.path[-1, 1]:+.2f}), "
          "({:+.1f}, {:+.1f}) at {:.2f}".format(*landscapes.SURFACES["four minima"].minima[m], d_min))

# %% [markdown]
# The table under the figure backs up what the pictures show. On the banana, plain SGD falls into
# the valley and then crawls: on the nearly flat floor its steps are tiny. Momentum swings across
# the valley, overshoots far below its bottom (the valley's lowest point is at $y = 0$; see the
# column "lowest y") and curls back; Nesterov, which looks ahead, brakes earlier and hardly
# overshoots. Both then race along the floor to the minimum. AdaGrad's steps have shrunk before
# it gets far; RMSProp and Adam follow the floor in steps of similar size. Near the minimum,
# RMSProp (which has no momentum to smooth its direction) takes steps of about $\eta$ that are
# too long for the narrowing valley: it bounces between the walls, and the loss jumps up (the
# largest rise of the loss from one step to the next after step 50). Adam's momentum averages
# those bounces out. On Himmelblau's function the same start leads the SGD family to the minimum
# at $(3, 2)$ and the adaptive family towards the one at $(-2.8, 3.1)$, where AdaGrad has not
# arrived yet: where you end up depends on the method, not only on the start.
#
# Now the live version. The widget draws the paths of the optimizers you select (ctrl- or
# shift-click in the list) on the surface you choose, and their losses on the right; the table
# below it gives each one's final loss, its distance to the nearest minimum, and whether it
# diverged. Choosing a surface resets the start and the two learning rates to values that suit it.
#
# Things to try:
#
# 1. **Momentum overshoot.** On the banana, watch the blue momentum path swing past the valley
#    floor and curl around. Raise **momentum ρ** to 0.95 and 0.99: more swinging; lower it to 0.5:
#    less overshoot, but slower along the floor. At ρ = 0 it is plain SGD.
# 2. **Adam's steps.** Compare the dots of Adam with those of SGD along the valley floor: Adam's
#    stay about evenly spaced where SGD's shrink with the gradient. Set **Adam β1** to 0: Adam is now
#    RMSProp with bias correction; what changes?
# 3. **Nesterov against momentum.** Select both. On the banana, Nesterov overshoots less. Then on
#    the *ill-conditioned bowl*, raise the SGD learning rate step by step: which of the two
#    diverges first? (The quadratic analysis of section 5, extended to momentum, gives
#    $\eta < 2(1 + \rho)/\lambda_{\max}$ for momentum;
#    Nesterov's limit is lower.)
# 4. **Zig-zag.** On the *ill-conditioned bowl* with SGD alone, raise the SGD learning rate from
#    0.01 to 0.08: watch the zig-zag appear, and the divergence just above $2/25$.
# 5. **Saddle escape.** On the *saddle*, start *nudged off the ridge*: SGD waits on the plateau,
#    Adam escapes at once (it divides the tiny $y$-gradient by its own tiny size). Start *exactly
#    on the ridge*: nobody escapes, since the $y$-gradient is exactly zero.
# 6. **Which minimum?** On *four minima*, try each start with all six optimizers selected, and
#    the *classic Rosenbrock* surface, where the walls are ten times steeper: how small must the
#    SGD learning rate be, and how many steps does it then need?

# %%
view = OptimizerTrajectoryView()
view

# %% [markdown]
# ## 8. Learning-rate schedules
#
# With a constant learning rate, SGD on noisy minibatches never settles: near the minimum the
# noise keeps kicking it around (the noise floor of section 4). Early on we want big steps to make
# progress, later small ones to settle. A **schedule** lowers $\eta$ during training, usually per
# epoch $e$:
#
# * **step decay**: multiply $\eta$ by a factor $\gamma$ (0.1 to 0.5) every $s$ epochs,
#   $\eta_e = \eta_0\, \gamma^{\lfloor e / s \rfloor}$;
# * **exponential decay**: $\eta_e = \eta_0\, e^{-k e}$ (torch writes it as $\eta_0 \gamma^e$);
# * **1/t decay**: $\eta_e = \eta_0 / (1 + k e)$. Robbins and Monro (1951) showed that SGD converges
#   when $\sum_t \eta_t = \infty$ and $\sum_t \eta_t^2 < \infty$, which $1/t$ satisfies.
#
# Two more are widespread and worth reading about: **cosine annealing** (Loshchilov and Hutter,
# 2017), $\eta_e = \tfrac12 \eta_0 (1 + \cos(\pi e / E))$ over $E$ epochs, and **warm-up**, a few
# epochs of linearly *increasing* $\eta$ at the start, which stabilises training with large batches
# (Goyal et al., 2017). All are in `torch.optim.lr_scheduler`. Here are four schedules, and
# minibatch SGD ($|B| = 16$) on the digits with each:

# %%
eta0, epochs = 2.0, 20
schedules = {
    "constant": None,
    "step (×0.3 every 5 epochs)": lambda o: torch.optim.lr_scheduler.StepLR(o, 5, gamma=0.3),
    "exponential (γ = 0.85)": lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.85),
    "1/t (k = 0.3)": lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1 / (1 + 0.3 * e)),
}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
sched_runs = {}
for k, (name, sched) in enumerate(schedules.items()):
    h = sched_runs[name] = minibatch_run(X_train, y_train, batch_size=16, epochs=epochs, lr=eta0,
                                         reg=reg, scheduler=sched, records_per_epoch=4, seed=1)
    axes[0].step(np.arange(epochs), h.lr, where="post", color=CLASS_COLORS[k], label=name)
    axes[1].semilogy(h.epoch, h.loss - L_star, color=CLASS_COLORS[k],
                     label=f"{name}: {h.loss[-1] - L_star:.1e}")
axes[0].set_xlabel("epoch")
axes[0].set_ylabel("learning rate η")
axes[0].set_title("the schedules")
axes[0].legend(fontsize=8)
axes[1].set_xlabel("epoch")
axes[1].set_ylabel("$L - L^*$")
axes[1].set_title("minibatch SGD (|B| = 16) with each")
axes[1].legend(fontsize=8, title="final $L - L^*$", title_fontsize=8)
fig.tight_layout()
plt.show()
for name, h in sched_runs.items():
    gap = h.loss - L_star
    late = h.epoch >= epochs / 2
    print(f"{name:28s}: L - L* over the second half between {gap[late].min():.1e} and "
          f"{gap[late].max():.1e}, final {gap[-1]:.1e}"
          + ("" if name == "constant" else
             f" ({(sched_runs['constant'].loss[-1] - L_star) / gap[-1]:.0f} times below constant)"))

# %% [markdown]
# The constant rate makes fast progress, then hovers at its noise floor, jumping up and down. Each
# decaying schedule gets well below that floor (the lines under the plots): once $\eta$ is small,
# the noise of the minibatch gradients averages out over many steps. How fast to decay is a
# trade-off: decay too early and training crawls before it has got anywhere, too late and the time
# at the noise floor is wasted. The schedule is a hyperparameter like $\eta_0$; a common recipe is
# to train with a constant rate until the validation loss stops improving, then divide the rate
# by 10.
#
# ## 9. Second-order methods
#
# ### 9.1 Newton's method
#
# Gradient descent uses the first-order Taylor expansion, and must guess how far to trust it (the
# learning rate). The second-order expansion also knows the curvature,
#
# $$ L(w + \Delta) \approx L(w) + g^\top \Delta + \tfrac12 \Delta^\top H \Delta, $$
#
# and when $H$ is positive definite its minimum is at $\Delta = -H^{-1} g$: the **Newton step**
#
# $$ w_{t+1} = w_t - H(w_t)^{-1}\, \nabla L(w_t). $$
#
# No learning rate: the curvature sets the step length in each direction, long where the loss is
# flat and short where it is steep, which is exactly the cure for ill-conditioning. On a
# quadratic, one step lands on the minimum. On the banana it takes a handful. But near a saddle,
# where $H$ has a negative eigenvalue, the Newton step goes *towards* the critical point: Newton's
# method looks for zero gradient, and a saddle has one. (`landscapes.gradient` and
# `landscapes.hessian` give the derivatives by autograd.)

# %%
def newton_path(surface, start, steps):
    """Plain Newton iterations w <- w - H^{-1} g on a 2-D surface."""
    w, path = np.array(start, dtype=np.float64), [np.array(start, dtype=np.float64)]
    for _ in range(steps):
        w = w - np.linalg.solve(landscapes.hessian(surface, w), landscapes.gradient(surface, w))
        path.append(w.copy())
    return np.array(path)


cases = [("ill-conditioned bowl", (-4.5, 2.0), 1), ("banana", (-1.2, 1.0), 6),
         ("saddle", (-2.8, 0.3), 6)]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
for ax, (surface, start, n) in zip(axes, cases, strict=True):
    s = landscapes.SURFACES[surface]
    draw_surface(ax, s)
    p = newton_path(s, start, n)
    ax.plot(p[:, 0], p[:, 1], "o-", color="k", ms=5, lw=1.2, zorder=6, label="Newton")
    ax.plot(*p[0], "o", mfc="w", mec="k", mew=1.5, ms=8, zorder=7)
    ax.set_xlabel(f"{n} Newton step(s): ends at ({p[-1, 0]:.3f}, {p[-1, 1]:.3f}), "
                  f"loss {s.value(p[-1]):.2g}", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# Newton's method converges *quadratically* near a minimum (the number of correct digits roughly
# doubles per step), but every step needs the Hessian. For $D$ parameters that is $D^2$ numbers to
# store and $O(D^3)$ operations to solve the linear system:

# %%
for D_net in (650, 10**6, 10**8):
    mem = 4 * D_net**2  # bytes for a float32 Hessian
    flops = D_net**3 / 3  # a Cholesky factorisation
    secs = flops / 1e13  # at 10 TFLOP/s
    took = f"{secs * 1e3:.2f} ms" if secs < 1 else f"{secs / 3600:,.0f} hours"
    print(f"D = {D_net:>11,d}: Hessian {D_net**2:7.1e} entries = {mem / 1e9:7.1e} GB; "
          f"solving H Δ = g ~ {flops:7.1e} flop = {took} at 10 TFLOP/s")

# %% [markdown]
# Our 650-parameter softmax classifier is fine; a small modern network with $10^6$ parameters
# would need 4 terabytes for the Hessian and about nine hours at 10 TFLOP/s for a single step,
# and with $10^8$ parameters a single step would take about a thousand years.
#
# ### 9.2 Quasi-Newton: BFGS and L-BFGS
#
# **Quasi-Newton** methods never form $H$. **BFGS** builds an approximation of $H^{-1}$ from how
# the gradient changed between steps ($y_t = g_{t+1} - g_t$ against $s_t = w_{t+1} - w_t$), one
# rank-two update per step, and picks the step length by a line search: $O(D^2)$ memory, still too
# much for networks. **L-BFGS** (Liu and Nocedal, 1989) keeps only the last $m$ pairs $(s_t, y_t)$
# ($m \approx 10$) and applies the implied inverse Hessian to $g$ on the fly: $O(mD)$ memory and
# time. Both rely on exact gradients: with minibatches, the gradient differences $y_t$ are
# dominated by sampling noise and the curvature estimate falls apart.
#
# On a small, smooth, full-batch problem L-BFGS shines. Here it is, through `scipy.optimize`,
# against full-batch gradient descent and minibatch SGD and Adam, on the digits. Cost is counted
# in passes over the data: one full gradient, or one epoch of minibatches.

# %%
lbfgs_log = []
obj = full_batch_objective(X_train, y_train, reg)
t_start = time.perf_counter()


def record(wk):
    lbfgs_log.append((obj.calls, time.perf_counter() - t_start, obj(wk)[0]))
    obj.calls -= 1  # the measurement itself does not count


with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    minimize(obj, np.zeros(C * D + C), jac=True, method="L-BFGS-B", callback=record,
             options={"maxiter": 60, "gtol": 1e-12, "ftol": 1e-15})
lb = np.array(lbfgs_log)  # (iterations, 3): passes, seconds, loss

competitors = {
    "gradient descent (full batch, η = 20)": dict(batch_size=N, epochs=60, lr=20.0),
    "SGD, |B| = 16, η = 0.5": dict(batch_size=16, epochs=15, lr=0.5),
    "Adam, |B| = 16, η = 0.01": dict(batch_size=16, epochs=15, lr=0.01, optimizer="Adam"),
}
final_gap = {}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
axes[0].semilogy(lb[:, 0], np.maximum(lb[:, 2] - L_star, 1e-14), "o-", ms=3, color="k",
                 label="L-BFGS (scipy)")
axes[1].loglog(lb[:, 1], np.maximum(lb[:, 2] - L_star, 1e-14), "o-", ms=3, color="k")
for k, (name, kw) in enumerate(competitors.items()):
    h = minibatch_run(X_train, y_train, reg=reg, records_per_epoch=4, **kw)
    final_gap[name] = (h.epoch[-1], h.loss[-1] - L_star)
    axes[0].semilogy(h.epoch, h.loss - L_star, color=CLASS_COLORS[k], label=name)
    axes[1].loglog(np.maximum(h.seconds, 1e-4), h.loss - L_star, color=CLASS_COLORS[k])
axes[0].set_xlabel("passes over the data (full gradients or epochs)")
axes[1].set_xlabel("seconds (log)")
for ax in axes:
    ax.set_ylabel("$L - L^*$")
axes[0].set_xlim(0, 60)
axes[0].legend(fontsize=8)
axes[0].set_title("softmax regression on the digits")
fig.tight_layout()
plt.show()
reached = lb[lb[:, 2] - L_star < 1e-10]
print(f"L-BFGS: L - L* below 1e-10 after {reached[0, 0]:.0f} passes" if len(reached) else
      f"L-BFGS: L - L* {lb[-1, 2] - L_star:.0e} after {lb[-1, 0]:.0f} passes")
for name, (passes, gap) in final_gap.items():
    print(f"{name}: L - L* {gap:.0e} after {passes:.0f} passes")

# %% [markdown]
# L-BFGS reaches the minimum to many digits in a few dozen passes, while the first-order methods are
# still orders of magnitude above it (the lines under the plots). For problems like this one, small,
# deterministic and smooth (logistic regression, fitting a few parameters, or optimising a single
# image, as in some implementations of neural style transfer), a quasi-Newton method is the right
# tool. Deep learning is none of these: the data come in noisy minibatches, the parameters number
# millions, and the landscape is full of saddles that attract Newton-like steps. There, first-order
# methods with momentum or adaptive learning rates rule; Bottou, Curtis and Nocedal (2018) review
# the trade-offs.
#
# ## Check yourself
#
# **1.** Your centred-difference gradient check gives relative errors around $10^{-3}$ everywhere.
# List three possible causes other than a wrong analytic gradient.
#
# <details><summary>Answer</summary>
#
# Computing in float32 (round-off of the numeric side, see the figure in section 3.1); a step $h$
# that is far too small (round-off) or too large (truncation error $O(h^2)$ with large third
# derivatives); kinks crossed between $w - h$ and $w + h$ (ReLU, hinge) for many examples; a
# random component (dropout, random augmentation) that differs between the evaluations.
# </details>
#
# **2.** A network has $10^7$ parameters and one forward pass takes 10 ms. How long does one
# numeric gradient take, and one analytic gradient?
#
# <details><summary>Answer</summary>
#
# Numeric: $2 \times 10^7$ forward passes, $2 \times 10^5$ s, more than two days, for a single
# gradient. Analytic (backpropagation): about two to three forward passes' worth, some 30 ms.
# </details>
#
# **3.** You double the batch size. By how much does the variance of the gradient estimate drop,
# and its standard deviation? Why does that not make large batches automatically better?
#
# <details><summary>Answer</summary>
#
# The variance halves (a bit more when sampling without replacement from a small set); the
# standard deviation shrinks by $\sqrt 2$ only. Each step costs twice as much computation, so per
# unit of compute many noisy small steps usually progress faster, until the hardware's parallelism
# makes larger batches nearly free.
# </details>
#
# **4.** The Hessian at a minimum has eigenvalues 200 and 0.5. What is the largest stable learning
# rate of gradient descent, and roughly how many steps does it need?
#
# <details><summary>Answer</summary>
#
# $\eta < 2/200 = 0.01$. The flat direction then shrinks by at most $1 - 0.01 \times 0.5 = 0.995$
# per step, so reducing its error by a factor $e$ takes about 200 steps, on the order of the
# condition number $\kappa = 400$.
# </details>
#
# **5.** SGD with momentum $\rho = 0.9$ runs on a long, straight, gently sloped stretch of the
# loss. How do its steps compare with those of plain SGD with the same $\eta$? And with
# $\rho = 0.99$?
#
# <details><summary>Answer</summary>
#
# The velocity approaches the terminal value $\eta g / (1 - \rho)$: ten times the SGD step for
# $\rho = 0.9$, a hundred times for $\rho = 0.99$ (reached after a few times $1/(1 - \rho)$
# steps).
# </details>
#
# **6.** What would go wrong in Adam's first steps without bias correction, with
# $\beta_1 = 0.9$, $\beta_2 = 0.999$? And what happens to AdaGrad's step after a very long run?
#
# <details><summary>Answer</summary>
#
# Both averages start at 0: $m_1 = 0.1\, g$ and $v_1 = 0.001\, g^2$, so the first step would be
# $\eta \cdot 0.1 / \sqrt{0.001} \approx 3.16\,\eta$, and the second moment stays underestimated
# for about a thousand steps. Dividing by $1 - \beta^t$ restores the right scale. AdaGrad's sum of
# squared gradients only grows, so its steps shrink like $1/\sqrt t$ and eventually stall.
# </details>
#
# **7.** Your loss curve falls fast, then flattens at a noisy plateau far above what you expect.
# What two changes to the optimisation would you try?
#
# <details><summary>Answer</summary>
#
# Lower the learning rate when the curve flattens (a step or cosine schedule), so that the
# minibatch noise averages out; or increase the batch size, which reduces the noise. If the
# plateau is a saddle region rather than a noise floor, momentum or an adaptive method helps.
# </details>
#
# **8.** Why is L-BFGS rarely used to train deep networks, although it beat SGD by orders of
# magnitude on the digits?
#
# <details><summary>Answer</summary>
#
# It needs accurate gradients: with minibatches, the gradient differences that estimate the
# curvature are mostly noise. Full-batch gradients of a large data set are very expensive, its
# line search needs extra full evaluations, and in a non-convex landscape Newton-like steps are
# drawn to saddle points. Memory ($m$ extra copies of the parameters) matters too for the largest
# models.
# </details>
#
# ## Summary
#
# * Training minimises the loss $L(W)$ over the parameters. Slices along random directions show
#   the landscape: convex bowls for a linear classifier, hills and many equivalent minima for a
#   network.
# * Gradient descent steps along $-\eta \nabla L$. The learning rate $\eta$ must stay below
#   $2/\lambda_{\max}$ of the Hessian; too small wastes steps, too large oscillates or diverges.
# * Numeric gradients (centred differences, error $O(h^2)$, round-off $\sim \epsilon / h$, $2D$
#   evaluations) check analytic ones (autograd or hand-derived), with the relative error, in
#   float64, away from kinks.
# * Minibatch SGD estimates the gradient from a batch: unbiased, variance $\propto 1/|B|$. Small
#   batches give more updates per epoch but a noise floor; the hardware decides the batch size.
# * Ill-conditioning ($\kappa = \lambda_{\max}/\lambda_{\min}$ large) makes gradient descent
#   zig-zag; in high dimensions, saddle plateaus rather than bad local minima slow it down.
# * Momentum and Nesterov accumulate a velocity (faster along valleys, damped across, but they
#   overshoot); AdaGrad, RMSProp and Adam divide each coordinate's step by its recent gradient
#   size, so their learning rate is a step length in parameter units. Adam = momentum + RMSProp +
#   bias correction is the common default.
# * Learning-rate schedules (step, exponential, $1/t$, cosine, warm-up) take big steps early and
#   small steps late, to get below the noise floor.
# * Newton's method needs no learning rate and converges fast, but costs $D^2$ memory and $D^3$
#   time and is attracted by saddles; L-BFGS approximates it cheaply and is excellent for small
#   full-batch problems, not for minibatch deep learning.
#
# ## Papers and further reading
#
# * H. Robbins, S. Monro (1951). A stochastic approximation method. *Annals of Mathematical
#   Statistics* 22(3), 400–407. The origin of stochastic gradient descent and its step-size
#   conditions.
# * B. T. Polyak (1964). Some methods of speeding up the convergence of iteration methods. *USSR
#   Computational Mathematics and Mathematical Physics* 4(5), 1–17. The heavy-ball (momentum)
#   method.
# * Y. Nesterov (1983). A method for solving the convex programming problem with convergence rate
#   $O(1/k^2)$. *Soviet Mathematics Doklady* 27, 372–376. Accelerated gradient.
# * I. Sutskever, J. Martens, G. Dahl, G. Hinton (2013). On the importance of initialization and
#   momentum in deep learning. *ICML 2013*. Nesterov momentum for deep networks.
# * J. Duchi, E. Hazan, Y. Singer (2011). Adaptive subgradient methods for online learning and
#   stochastic optimization. *JMLR* 12, 2121–2159. AdaGrad.
# * T. Tieleman, G. Hinton (2012). Lecture 6.5 — RMSProp: divide the gradient by a running average
#   of its recent magnitude. *Coursera: Neural Networks for Machine Learning*.
# * D. P. Kingma, J. Ba (2015). Adam: a method for stochastic optimization. *ICLR 2015*,
#   arXiv:1412.6980.
# * Y. Dauphin, R. Pascanu, C. Gulcehre, K. Cho, S. Ganguli, Y. Bengio (2014). Identifying and
#   attacking the saddle point problem in high-dimensional non-convex optimization. *NeurIPS 2014*.
# * D. C. Liu, J. Nocedal (1989). On the limited memory BFGS method for large scale optimization.
#   *Mathematical Programming* 45, 503–528.
# * I. Loshchilov, F. Hutter (2017). SGDR: stochastic gradient descent with warm restarts.
#   *ICLR 2017*. Cosine annealing.
# * P. Goyal, P. Dollár, R. Girshick, P. Noordhuis, L. Wesolowski, A. Kyrola, A. Tulloch, Y. Jia,
#   K. He (2017). Accurate, large minibatch SGD: training ImageNet in 1 hour. arXiv:1706.02677.
#   The linear scaling rule and warm-up.
# * L. Bottou, F. E. Curtis, J. Nocedal (2018). Optimization methods for large-scale machine
#   learning. *SIAM Review* 60(2), 223–311. A thorough review of SGD and its relatives.
# * I. Goodfellow, O. Vinyals, A. Saxe (2015). Qualitatively characterizing neural network
#   optimization problems. *ICLR 2015*. Loss along straight lines through parameter space.
# * H. Li, Z. Xu, G. Taylor, C. Studer, T. Goldstein (2018). Visualizing the loss landscape of
#   neural nets. *NeurIPS 2018*. Random-direction slices done carefully.
# * G. Goh (2017). Why momentum really works. *Distill*, https://distill.pub/2017/momentum/ .
#   Interactive analysis of momentum on quadratics.
# * J. Nocedal, S. J. Wright (2006). *Numerical Optimization*, 2nd ed., Springer. Newton,
#   quasi-Newton and line searches.
# * I. Goodfellow, Y. Bengio, A. Courville (2016). *Deep Learning*, MIT Press. Chapter 8,
#   optimization for training deep models.
# * Stanford CS231n course notes, *Optimization: stochastic gradient descent* and *Neural
#   networks part 3: learning and evaluation*, https://cs231n.github.io/optimization-1/ and
#   https://cs231n.github.io/neural-networks-3/ .
