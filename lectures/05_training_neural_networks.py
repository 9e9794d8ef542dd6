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
# # Lecture 05 — Training neural networks
#
# Lecture 04 built neural networks and computed their gradients; lecture 03 showed how to follow
# those gradients downhill. Put the two together on a real problem and, more often than not,
# nothing good happens at first: the loss sits still, or jumps to `nan`, or the training accuracy
# climbs to 100% while the validation accuracy does not move. This chapter is about the craft that
# turns "it should work" into "it works": how to prepare the data, how to choose the starting
# weights, how to keep the signal in a deep network at a healthy size (normalisation layers), how
# to keep a big network from memorising its training set (regularisation), how to watch a run and
# read what goes wrong, and how to choose the many knobs that are not learned (hyperparameters).
#
# **After this lecture you can**
#
# 1. centre, normalise, decorrelate and whiten data, say which statistics come from which split,
#    and explain what convolutional networks actually do to their input;
# 2. explain why all-zero weights fail, why too small or too large random weights fail in a deep
#    network, and derive the Xavier/Glorot and He initialisations from a variance argument;
# 3. write the batch normalisation equations, say how it behaves at training and at test time, and
#    tell batch, layer, instance and group normalisation apart by the axes they average over;
# 4. use weight decay, dropout (inverted, as implemented everywhere) and data augmentation;
# 5. babysit a run: check the initial loss, overfit a tiny subset, read loss curves for the
#    learning rate, read the train/validation gap, check the update-to-weight ratio;
# 6. search hyperparameters sensibly (log scales, random rather than grid, coarse to fine), and use
#    early stopping, model ensembles, weight averaging and gradient clipping.
#
# **Plan.** Data preprocessing → weight initialisation (with a widget) → batch normalisation and
# its relatives → regularisation → babysitting the learning process → hyperparameter search →
# early stopping, ensembles, averaging, clipping → questions, summary, papers.
#
# Assignment a2 asks you to write the layers of this chapter yourself in numpy (affine, ReLU,
# batch and layer normalisation, dropout, with forward and backward passes) and the update rules.
# Here the networks are built from `torch.nn` layers and trained with `torch.optim`, through the
# small helpers `dlcv.networks.training.make_net` and `dlcv.networks.training.fit`, so that the assignment stays yours.

# %%
# %matplotlib inline
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv import augment
from dlcv.data import load_classification, load_photo
from dlcv.loop import sampled, train
from dlcv.networks.initialization import HistogramRow, layer_statistics, verdict
from dlcv.networks.normalization import NORMS, draw_norm_set, norm_set, normalize
from dlcv.networks.training import cosine_cycles, evaluate, fit, make_net, predict_proba
from dlcv.networks.widgets import InitializationView
from dlcv.plots import CLASS_COLORS, show_images
from dlcv.timing import cap_threads

plt.rcParams.update({"figure.figsize": (9, 3.2), "figure.dpi": 90, "font.size": 10})
np.set_printoptions(precision=4, suppress=True)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine
rng = np.random.default_rng(0)
_ = torch.manual_seed(0)
t_start = time.perf_counter()

# %% [markdown]
# ## 1. Data preprocessing
#
# Write the training data as a matrix $X \in \mathbb{R}^{N \times D}$, one example per row. Three
# classic transformations, each undoing one kind of structure:
#
# * **Zero-centring**: subtract the mean of every feature, $X \leftarrow X - \bar x$ with
#   $\bar x = \frac{1}{N} \sum_i x_i$. A cloud far from the origin makes the first layer's inputs
#   all positive (or all negative), so the gradients of a neuron's weights all share one sign and
#   the weights can only move in zig-zags (lecture 04's argument for zero-centred activations
#   applies to the input just as well).
# * **Normalisation**: divide every feature by its standard deviation, so that all features have
#   the same scale and no single one dominates the dot products (and the step size suits all
#   weights equally).
# * **Decorrelation and whitening** (PCA): rotate the centred data onto the eigenvectors of its
#   covariance $\Sigma = \frac{1}{N} X^\top X = U \Lambda U^\top$, giving $X_{\text{rot}} = X U$
#   with uncorrelated features; divide each by its standard deviation $\sqrt{\lambda_k}$ to get
#   **whitened** data with identity covariance:
#
# $$ X_{\text{white}} = X U (\Lambda + \epsilon I)^{-1/2}. $$
#
# The small $\epsilon$ keeps directions of (nearly) zero variance from being blown up into noise.
#
# We see all four on real data: pairs of horizontally neighbouring pixels of a photograph (the
# cat of `load_photo("chelsea")`, in grey). Two neighbours almost always have similar grey levels,
# so the cloud is a narrow diagonal ellipse.

# %%
gray = load_photo("chelsea", gray=True).astype(np.float64) / 255  # (300, 451) grey levels
r, c = rng.integers(0, gray.shape[0], 600), rng.integers(0, gray.shape[1] - 1, 600)
P = np.stack([gray[r, c], gray[r, c + 1]], axis=1)  # (600, 2): a pixel and its right neighbour

P_centred = P - P.mean(axis=0)
P_norm = P_centred / P_centred.std(axis=0)
cov = P_centred.T @ P_centred / len(P)  # (2, 2)
lam, U = np.linalg.eigh(cov)  # eigenvalues ascending, eigenvectors as columns
P_rot = P_centred @ U  # (600, 2), decorrelated
P_white = P_rot / np.sqrt(lam + 1e-5)
print(f"correlation of neighbouring pixels: {np.corrcoef(P.T)[0, 1]:.3f}")
print("covariance after whitening:\n", np.cov(P_white.T, bias=True).round(3))

fig, axes = plt.subplots(1, 4, figsize=(12, 3.3))
panels = [(P, "original"), (P_norm, "centred, normalised"), (P_rot, "decorrelated (PCA)"),
          (P_white, "whitened")]
for ax, (Q, title) in zip(axes, panels, strict=True):
    ax.scatter(Q[:, 0], Q[:, 1], s=4, alpha=0.5, color=CLASS_COLORS[0])
    ax.axhline(0, color="0.6", lw=0.6)
    ax.axvline(0, color="0.6", lw=0.6)
    lim = np.abs(Q).max() * 1.1
    ax.set_xlim(-lim if Q.min() < 0 else 0, lim)
    ax.set_ylim(-lim if Q.min() < 0 else 0, lim)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=10)
axes[0].set_xlabel("pixel (i, j)")
axes[0].set_ylabel("pixel (i, j+1)")
fig.tight_layout()
plt.show()

# %% [markdown]
# Normalising leaves the ellipse tilted: both features now have unit variance, but they are still
# almost the same number. The rotation onto the principal axes makes them uncorrelated (`eigh`
# sorts the eigenvalues in ascending order, so the horizontal axis is the short one, the
# "difference of the pair", and the vertical axis the long one, the "brightness of the pair");
# whitening stretches the short axis until both have unit variance and the cloud is round. Note
# what whitening did: the *difference* of two neighbours, a tiny signal, now has the same weight
# as their brightness. On images that means edges and noise get amplified, which is why
# $\epsilon$ matters.
#
# ### PCA of image patches
#
# The same analysis on $8 \times 8$ patches cut from several photographs: each patch is a point in
# $\mathbb{R}^{64}$. The eigenvectors of the $64 \times 64$ covariance, shown as images, are the
# patterns along which patches vary most. They come out sorted from smooth to busy, much like a
# Fourier (or JPEG's cosine) basis, because neighbouring pixels are correlated in natural images.

# %%
photos = ["astronaut", "camera", "chelsea", "coffee"]
patches = []
for name in photos:
    g = load_photo(name, gray=True).astype(np.float64) / 255  # (H, W)
    rr = rng.integers(0, g.shape[0] - 8, 5000)
    cc = rng.integers(0, g.shape[1] - 8, 5000)
    patches.append(np.stack([g[i:i + 8, j:j + 8].ravel() for i, j in zip(rr, cc, strict=True)]))
Xp = np.concatenate(patches)  # (20000, 64)
mean_patch = Xp.mean(axis=0)  # (64,)
Xc = Xp - mean_patch
lam_p, U_p = np.linalg.eigh(Xc.T @ Xc / len(Xc))  # ascending
lam_p, U_p = lam_p[::-1], U_p[:, ::-1]  # largest variance first
explained = np.cumsum(lam_p) / lam_p.sum()
print(f"{len(Xp)} patches; the first 1 / 8 / 16 components keep {explained[0]:.0%} / "
      f"{explained[7]:.0%} / {explained[15]:.0%} of the variance")

fig = plt.figure(figsize=(12, 3.6))
gs = fig.add_gridspec(3, 8, left=0.01, right=0.62, top=0.86, bottom=0.02, wspace=0.1, hspace=0.3)
for k in range(24):
    ax = fig.add_subplot(gs[k // 8, k % 8])
    v = np.abs(U_p[:, k]).max()
    ax.imshow(U_p[:, k].reshape(8, 8), cmap="RdBu_r", vmin=-v, vmax=v)
    ax.set_title(f"{k + 1}", fontsize=7, pad=1)
    ax.axis("off")
ax = fig.add_axes((0.7, 0.15, 0.28, 0.7))
ax.semilogy(np.arange(1, 65), lam_p, "o-", ms=2)
ax.set_xlabel("component")
ax.set_title("variance along each component", fontsize=9)
fig.text(0.31, 0.95, "the first 24 principal components of 8x8 photo patches (red +, blue -)",
         ha="center", fontsize=10)
plt.show()

# %% [markdown]
# Keeping only the first few components is a compression (**PCA dimensionality reduction**);
# dividing each by $\sqrt{\lambda_k + \epsilon}$ is whitening. Below, some patches, their
# reconstruction from 8 components, and their whitened version mapped back to pixel space
# ($X U (\Lambda + \epsilon I)^{-1/2} U^\top$, called ZCA whitening because it stays as close to
# the original as whitening allows). Whitening removes the smooth shading and keeps the edges.

# %%
idx = rng.choice(len(Xp), 8, replace=False)
recon8 = Xc[idx] @ U_p[:, :8] @ U_p[:, :8].T + mean_patch  # (8, 64)
zca = Xc[idx] @ U_p @ np.diag(1 / np.sqrt(lam_p + 1e-2)) @ U_p.T  # (8, 64)
rows = [("patch", Xp[idx]), ("8 components", recon8), ("ZCA-whitened", zca)]
fig, axes = plt.subplots(3, 8, figsize=(9, 3.6))
for i, (label, imgs) in enumerate(rows):
    for j in range(8):
        axes[i, j].imshow(imgs[j].reshape(8, 8), cmap="gray")
        axes[i, j].set_xticks([])
        axes[i, j].set_yticks([])
    axes[i, 0].set_ylabel(label, fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### The rule, and what CNNs actually do
#
# **Every statistic (mean, standard deviation, principal axes) is computed on the training set
# only**, then applied unchanged to validation and test data. Computing the mean over all data
# first and splitting afterwards lets information about the test set leak into training, and the
# test number is no longer an honest estimate.
#
# Convolutional networks rarely use PCA or whitening: the input is too large (a $224 \times 224
# \times 3$ image has a $150\,528 \times 150\,528$ covariance), and the first layers learn their own
# filters anyway. Usual practice is one of
#
# * subtract the **mean image** ($H \times W \times 3$ numbers; AlexNet, 2012),
# * subtract the **per-channel mean** (3 numbers; VGG, 2014),
# * subtract the per-channel mean and divide by the **per-channel standard deviation** (6
#   numbers; the ImageNet values $\mu = (0.485, 0.456, 0.406)$, $\sigma = (0.229, 0.224, 0.225)$
#   for RGB in $[0, 1]$ ship with most pretrained models).
#
# The training experiments of this chapter use the embedded digits, because each network must
# train in a second or two on a laptop CPU. Each of the 64 pixels is centred and divided by its
# standard deviation, with statistics from the training split; pixels on the border are always
# blank (standard deviation 0), so a small constant keeps the division finite.

# %%
data = load_classification("digits")
print(data, "\n")


def flatten(X):
    return X.reshape(len(X), -1) / 16.0  # (N, 64) in [0, 1]


X_tr_raw = flatten(data.X_train)
mu, sigma = X_tr_raw.mean(axis=0), X_tr_raw.std(axis=0) + 0.1  # (64,) each, training set only
X_train = (X_tr_raw - mu) / sigma
X_val = (flatten(data.X_val) - mu) / sigma  # the *training* statistics, applied unchanged
X_test = (flatten(data.X_test) - mu) / sigma
y_train, y_val, y_test = data.y_train, data.y_val, data.y_test
N, D = X_train.shape
C = data.num_classes
print(f"training mean of the features: {X_train.mean():+.4f}, validation: {X_val.mean():+.4f}")
print(f"training std of a centre pixel: {X_train[:, 27].std():.3f}, "
      f"validation: {X_val[:, 27].std():.3f}")

# %% [markdown]
# The training features have mean exactly 0 by construction; the validation features only
# approximately, and that is as it should be.
#
# ## 2. Weight initialisation
#
# ### All zeros: symmetry that never breaks
#
# If every weight starts at the same value, every hidden unit of a layer computes the same
# function of the input, receives the same gradient, and takes the same step. They stay identical
# forever: a layer of 50 units is then no better than a layer of one. With *all-zero* weights it
# is even worse for ReLU networks: the hidden units output 0, the gradient reaching the first
# layer is multiplied by the zero weights of the second, and only the biases learn.

# %%
def constant_net(value):
    net = nn.Sequential(nn.Linear(D, 50), nn.ReLU(), nn.Linear(50, C))
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight.fill_(value)
                m.bias.zero_()
    return net


for value in (0.0, 0.01):
    net = constant_net(value)
    h = fit(net, X_train, y_train, X_val, y_val, epochs=5, lr=0.1)
    W1 = net[0].weight.detach().numpy()  # (50, 64): one row per hidden unit
    distinct = len(np.unique(W1.round(6), axis=0))
    print(f"all weights = {value}: distinct hidden units after training {distinct} of 50, "
          f"first-layer weights changed by {np.abs(W1 - value).max():.2g}, "
          f"validation accuracy {h.val_acc[-1]:.1%}")

# %% [markdown]
# With zeros (the first line above), the first layer never moves and the network is a constant plus
# nothing. With a constant 0.01, the first layer learns, but all 50 units learn the *same* thing.
# Random initialisation exists to **break the symmetry**. The question is only how large the random
# numbers should be.
#
# ### The variance argument
#
# Take one unit of a fully connected layer, $s = \sum_{i=1}^{n} w_i x_i$, with $n$ inputs ($n$ is the
# **fan-in**). Suppose the weights and inputs are independent, the weights have mean 0, and all
# $x_i$ share one distribution. Then
#
# $$ \operatorname{Var}(s) = \sum_{i=1}^{n} \operatorname{Var}(w_i x_i)
#    = n \operatorname{Var}(w)\, \mathbb{E}[x^2], $$
#
# and for zero-mean inputs $\mathbb{E}[x^2] = \operatorname{Var}(x)$. Through $L$ layers (with
# activation functions that behave like the identity near 0, such as tanh) the variance is
# multiplied by $n \operatorname{Var}(w)$ at every layer, so after $L$ layers by
# $(n\operatorname{Var}(w))^L$: anything but 1 vanishes or explodes *exponentially* in the depth.
#
# * **Small weights**, $w \sim \mathcal{N}(0, 0.01^2)$ with $n = 500$: $n \operatorname{Var}(w) =
#   0.05$, the signal shrinks 20-fold in variance per layer; all activations collapse to 0 and so do
#   the gradients of the weights (they are proportional to the layer's input).
# * **Large weights**, $w \sim \mathcal{N}(0, 1)$: $n \operatorname{Var}(w) = 500$; tanh units are
#   pushed into their flat tails at $\pm 1$, where their local gradient is about 0.
# * **Xavier/Glorot**: choose $\operatorname{Var}(w) = 1/n_{\text{in}}$, i.e. `w = randn(n_in,
#   n_out) / sqrt(n_in)`. The same argument on the backward pass asks for $1/n_{\text{out}}$;
#   Glorot & Bengio (2010) compromise with $\operatorname{Var}(w) = 2/(n_{\text{in}} +
#   n_{\text{out}})$. (The $1/n_{\text{in}}$ rule is older: LeCun et al., 1998.)
# * **He (Kaiming)**: a ReLU sets half of its inputs to 0. For symmetric pre-activations $a$,
#   $\mathbb{E}[\max(0, a)^2] = \frac{1}{2}\operatorname{Var}(a)$, so each ReLU layer halves the
#   variance, and the cure is to double the weights' variance: $\operatorname{Var}(w) =
#   2/n_{\text{in}}$ (He et al., 2015).
#
# A numeric check of both formulas, with $n = 500$ inputs:

# %%
n = 500
x = torch.randn(10000, n)  # zero-mean, unit-variance inputs
for name, std_w, inp in [("Xavier, linear input", 1 / math.sqrt(n), x),
                         ("Xavier, ReLU input", 1 / math.sqrt(n), torch.relu(x)),
                         ("He, ReLU input", math.sqrt(2 / n), torch.relu(x))]:
    w = torch.randn(n, 200) * std_w  # (n, 200): 200 units
    s = inp @ w  # (10000, 200)
    print(f"{name:22s}: E[x^2] = {inp.pow(2).mean():.3f}, Var(s) = {s.var():.3f}")
lin = nn.Linear(n, n)  # torch's own default: uniform in +-1/sqrt(fan_in)
print(f"torch's default nn.Linear init: std * sqrt(3 n) = {lin.weight.std() * math.sqrt(3 * n):.3f}"
      " (so Var(w) = 1 / (3 n))")

# %% [markdown]
# The last line shows a detail worth knowing: `nn.Linear`'s default weights are uniform in
# $\pm 1/\sqrt{n}$, a variance of $1/(3n)$, three times smaller than Xavier. For deep ReLU networks
# in torch, call `nn.init.kaiming_normal_` (He) yourself.
#
# ### What happens in a deep network
#
# `dlcv.networks.initialization.layer_statistics` builds the classic experiment: 10 fully connected layers
# of 500 units, a batch of 1000 unit Gaussian inputs, zero biases, weights drawn by a given
# rule. It records the histogram of each layer's activations, their standard deviation, the
# fraction of saturated units, and, after a backward pass of a random upstream gradient, the
# standard deviation of each layer's weight gradient. Each row below is one network; the eight
# panels are eight of its ten layers.

# %%
settings = [("tanh", "small"), ("tanh", "large"), ("tanh", "xavier"), ("relu", "xavier"),
            ("relu", "he")]
fig, axes = plt.subplots(len(settings), 8, figsize=(12, 1.75 * len(settings)))
all_stats = {}
for row, (act, init) in zip(axes, settings, strict=True):
    s = layer_statistics(act, init)
    all_stats[act, init] = s
    HistogramRow(row).set_stats(s)
    row[0].annotate(f"{act} + {init}\n({verdict(s)})", (-0.35, 0.5), xycoords="axes fraction",
                    ha="right", va="center", fontsize=9)
fig.subplots_adjust(left=0.14, right=0.99, hspace=0.9, wspace=0.15, top=0.95, bottom=0.06)
plt.show()

# %% [markdown]
# Read the rows from top to bottom (the table under the next figure gives the numbers):
#
# 1. **tanh, small weights**: the histogram narrows layer by layer; by layer 10 the standard
#    deviation $\sigma$ of the activations is tiny. The network's output hardly depends on its
#    input.
# 2. **tanh, large weights**: almost every unit is at $-1$ or $+1$ in every layer. The units are
#    binary, their local gradients ($1 - \tanh^2$) are almost 0, and the few unsaturated units
#    multiply the backward signal by huge weights: the gradients of the different layers differ by
#    orders of magnitude, which no single learning rate can serve.
# 3. **tanh, Xavier**: a stable, broad distribution through all layers (slowly narrowing, since
#    tanh is contracting).
# 4. **ReLU, Xavier**: the distribution still shrinks: each ReLU halves the variance, so the
#    standard deviation falls by $\sqrt{2}$ per layer, about 20-fold from the first layer to the
#    tenth.
# 5. **ReLU, He**: the factor 2 repairs it; every layer looks like the first.
#
# The same story in numbers: the standard deviation of the activations per layer, and of the
# weight gradients, for all five networks, with a table of the first and last layer.

# %%
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.4))
for k, ((act, init), s) in enumerate(all_stats.items()):
    layers = np.arange(1, s.depth + 1)
    ax0.semilogy(layers, s.std, "o-", ms=3, color=CLASS_COLORS[k], label=f"{act} + {init}")
    ax1.semilogy(layers, s.grad_std, "o-", ms=3, color=CLASS_COLORS[k])
ax0.set_title("std of the activations $h_l$")
ax1.set_title(r"std of the weight gradients $\partial L / \partial W_l$")
for ax in (ax0, ax1):
    ax.set_xlabel("layer")
    ax.grid(alpha=0.3)
ax0.legend(fontsize=8, ncol=2)
fig.tight_layout()
plt.show()
print(f"{'':14s} {'std, layer 1':>12s} {'layer 10':>9s} {'ratio':>7s} {'saturated':>10s} "
      f"{'weight gradients, largest / smallest std':>41s}")
for (act, init), s in all_stats.items():
    print(f"{act + ' + ' + init:14s} {s.std[0]:12.2g} {s.std[-1]:9.2g} {s.std[0] / s.std[-1]:7.3g} "
          f"{s.saturated.min():10.0%} {s.grad_std.max() / s.grad_std.min():41.3g}")
print(f"(ReLU + Xavier, predicted ratio: sqrt(2)^{all_stats['relu', 'xavier'].depth - 1} = "
      f"{np.sqrt(2) ** (all_stats['relu', 'xavier'].depth - 1):.1f}; saturated: the smallest "
      "fraction over the layers)")

# %% [markdown]
# ### Play with it: initialisation in a deep network
#
# The widget runs the same experiment live. Choose the **activation** and the **init**ialisation,
# the **depth** and **width** of the network, multiply the prescribed standard deviation by
# **weight std ×**, and switch on **batch norm** (section 3) before every non-linearity. Top:
# histograms of eight layers; bottom: the standard deviation of the activations and of the weight
# gradients per layer (log scales), and the fraction of saturated units (a tanh or sigmoid
# unit in its flat tails, a ReLU switched off). The readout gives a verdict.
#
# Things to try:
#
# 1. Start (tanh + small) and switch to xavier, then to large. Watch the histograms and the
#    saturated fraction.
# 2. Choose relu. Compare xavier and he, at depth 10 and at depth 20. How many layers until xavier
#    loses a factor of 10 in the standard deviation? Does the width matter?
# 3. With relu + he, move **weight std ×** to 0.8 and to 1.25. How fast does the net leave the
#    healthy regime? That is the "edge" good initialisations sit on.
# 4. Choose sigmoid with any initialisation. The activations look fine, yet the verdict is
#    "vanishing gradients". Why? (Hint: the largest slope of the sigmoid is 1/4.)
# 5. Pick the worst setting you found and tick **batch norm**. Then go to depth 20 with relu and
#    look at the gradient plot: batch norm fixes the forward pass, but the gradients of the first
#    layers grow with depth (Yang et al., 2019), one of the reasons very deep networks also need
#    the residual connections of lecture 07.

# %%
view = InitializationView()
view

# %% [markdown]
# ## 3. Batch normalisation
#
# Good initialisation makes the activations well scaled *at the start*. Training changes the
# weights, and with them the distribution that each layer receives. **Batch normalisation**
# (Ioffe & Szegedy, 2015) enforces the scale throughout training by normalising explicitly, with
# statistics of the current minibatch. For a minibatch $\{x_1, \dots, x_m\}$ of one feature (one
# unit's pre-activation):
#
# $$ \mu_B = \frac{1}{m} \sum_{i=1}^{m} x_i, \qquad
#    \sigma_B^2 = \frac{1}{m} \sum_{i=1}^{m} (x_i - \mu_B)^2, \qquad
#    \hat x_i = \frac{x_i - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}}, \qquad
#    y_i = \gamma \hat x_i + \beta. $$
#
# Every feature gets its own learned scale $\gamma$ and shift $\beta$, so the layer can undo the
# normalisation if that is best ($\gamma = \sqrt{\sigma^2 + \epsilon}$, $\beta = \mu$ gives back the
# input); what it gains is that the scale is now a parameter of its own rather than an accident of
# all the weights below. All of it is differentiable, so backpropagation passes through it
# (assignment a2 has you derive that backward pass).
#
# **Where it goes.** After a fully connected or convolutional layer, before the non-linearity:
# `Linear → BatchNorm → ReLU`. (The bias of the layer before is then redundant: $\beta$ replaces it.)
# In a fully connected layer each of the $D$ features is normalised over the $N$ examples of the
# batch; in a convolutional layer each *channel* is normalised over the batch and all spatial
# positions ($N \times H \times W$ values), so that one feature map is treated alike everywhere.
#
# **Training versus test.** At test time there may be only one image, and a prediction should
# never depend on which other images happen to share its batch. So during training the layer
# also keeps running averages of $\mu_B$ and $\sigma_B^2$, and in evaluation mode it normalises
# with those fixed numbers: it becomes a fixed affine map. In torch the update is
# $\text{running} \leftarrow (1 - m)\,\text{running} + m \cdot \text{batch statistic}$ with
# `momentum` $m = 0.1$ (note: the opposite convention of the momentum in optimisers).

# %%
torch.manual_seed(0)
bn = nn.BatchNorm1d(3)  # 3 features; gamma = 1, beta = 0 at the start
batch_a = torch.randn(8, 3) * torch.tensor([1.0, 5.0, 0.1]) + torch.tensor([2.0, -1.0, 10.0])
batch_b = batch_a.clone()
batch_b[1:] = torch.randn(7, 3) * 3  # the same first example, different companions

bn.train()
out_a, out_b = bn(batch_a), bn(batch_b)  # (8, 3) each
print("train mode, per-feature mean / std of the output:", out_a.mean(0).detach().numpy(),
      out_a.std(0, unbiased=False).detach().numpy())
print("train mode, output for example 0 in batch A:", out_a[0].detach().numpy())
print("             ... the same example in batch B:", out_b[0].detach().numpy())
try:
    bn(batch_a[:1])
except ValueError as e:
    print("train mode, a batch of one:", e)

for _ in range(200):  # let the running averages settle on batches like batch_a
    bn(batch_a[torch.randint(0, 8, (8,))])
bn.eval()
print("running mean", bn.running_mean.numpy(), "| running var", bn.running_var.numpy())
print("eval mode, example 0 alone:", bn(batch_a[:1]).detach().numpy()[0],
      "| inside batch B:", bn(batch_b)[0].detach().numpy())
print("the same output for example 0 in both batches: train mode",
      torch.allclose(out_a[0], out_b[0]), "| eval mode",
      torch.allclose(bn(batch_a[:1])[0], bn(batch_b)[0]))

# %% [markdown]
# In training mode the output for example 0 changes when its companions change, and a batch of
# one is refused (its variance is 0). In evaluation mode the example gets the same output alone or
# in any batch. Forgetting `model.eval()` before testing, or testing with tiny batches in training
# mode, is one of the most common bugs in practice; `dlcv.networks.training.evaluate` switches modes for us.
#
# **Benefits**, as reported by Ioffe & Szegedy and seen ever since: training tolerates much higher
# learning rates, depends far less on the initialisation, and converges in fewer steps; the noise
# of the batch statistics acts as a mild regulariser. A deep (8 hidden layers) ReLU network on the
# digits, trained with and without batch norm, once with Xavier initialisation and a moderate
# learning rate, once with He initialisation and a learning rate of 0.3:

# %%
runs = {}
for init, lr in (("xavier", 0.02), ("he", 0.3)):
    for bn_on in (False, True):
        net = make_net(D, C, hidden=64, layers=8, init=init, batch_norm=bn_on)
        runs[init, lr, bn_on] = fit(net, X_train, y_train, X_val, y_val, epochs=10, lr=lr)

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.4))
for k, ((init, lr, bn_on), h) in enumerate(runs.items()):
    label = f"{init}, lr {lr}, {'with' if bn_on else 'without'} BN"
    style = "-" if bn_on else "--"
    color = CLASS_COLORS[(0, 5)[k // 2]] if bn_on else CLASS_COLORS[(4, 1)[k // 2]]
    ax0.plot(np.clip(h.loss, 0, 5), style, lw=0.8, color=color, label=label)
    ax1.plot(h.epochs, h.val_acc, style + "o", ms=3, color=color, label=label)
    print(f"{label:30s}: validation accuracy {h.val_acc[min(2, len(h.val_acc) - 1)]:.1%} after "
          f"{h.epochs[min(2, len(h.epochs) - 1)]:g} epochs, {h.val_acc[-1]:.1%} at the end"
          + ("  (diverged: loss became nan)" if h.diverged else ""))
ax0.set_xlabel("iteration")
ax0.set_ylabel("minibatch loss (clipped at 5)")
ax1.set_xlabel("epoch")
ax1.set_ylabel("validation accuracy")
ax1.set_ylim(0, 1)
ax1.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Without batch norm, the Xavier-initialised ReLU net starts slowly (its signal shrinks by
# $\sqrt 2$ per layer, section 2) and the He-initialised net diverges at the high learning rate.
# With batch norm both train quickly and reach good accuracy (the four lines above the plots).
#
# ### Layer, instance and group normalisation
#
# Batch norm's statistics come from the batch, which is its weak point: with small batches
# (detection and segmentation networks often fit only 1 or 2 large images per GPU) the estimates
# are noisy, and training and test behave differently. The other normalisations compute the same
# mean and variance over a different set of a feature tensor $(N, C, H, W)$:
#
# | method | statistics over | one mean per | uses the batch? |
# |---|---|---|---|
# | batch norm (Ioffe & Szegedy 2015) | $N, H, W$ | channel | yes |
# | layer norm (Ba, Kiros & Hinton 2016) | $C, H, W$ | example | no |
# | instance norm (Ulyanov et al. 2016) | $H, W$ | example and channel | no |
# | group norm (Wu & He 2018) | $C/G, H, W$ | example and group of channels | no |
#
# The three without the batch behave identically at training and test time. **Layer norm** is the
# standard in recurrent networks and transformers; **instance norm** removes each image's contrast
# per channel, useful for style transfer; **group norm** sits between the two (with $G = 1$ it is
# layer norm, with $G = C$ instance norm; Wu & He use $G = 32$). Each blue set below shares one
# mean and one variance.

# %%
fig = plt.figure(figsize=(12, 3.1))
for i, kind in enumerate(NORMS):
    ax = fig.add_subplot(1, 4, i + 1, projection="3d")
    draw_norm_set(ax, kind, groups=3)
fig.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.02, wspace=0.05)
plt.show()

# check with torch: in each set, the normalised values have mean 0 and variance 1
x4 = torch.randn(4, 6, 5) * 3 + 2  # (N, C, H*W)
for kind in NORMS:
    out = normalize(x4, kind, groups=3).numpy()
    m = norm_set(kind, 4, 6, 5, groups=3, n=1, c=4)  # the set of example 1, channel 4
    print(f"{kind:8s}: set of {m.sum():2d} values, mean {out[m].mean():+.1e}, "
          f"variance {out[m].var():.3f}")

# %% [markdown]
# Why group norm helps with small batches: with a batch of **two**, batch norm sees only two values
# per feature (in a fully connected layer), and two values normalised by their own mean and
# standard deviation are always $-1$ and $+1$, whatever the input was. Group norm's statistics come
# from one example, so its output does not depend on the batch at all.

# %%
pair = torch.randn(2, 6) * 4 + 1  # a batch of two examples, 6 features
print("batch norm of a batch of two:\n", normalize(pair, "batch").numpy().round(3))
alone = normalize(pair[:1].reshape(1, 6, 1), "group", groups=3)
together = normalize(pair.reshape(2, 6, 1), "group", groups=3)[:1]
print("group norm of example 0, alone vs in the batch: equal =",
      torch.allclose(alone, together))

# %% [markdown]
# ## 4. Regularisation
#
# A network with more parameters than training examples can memorise its training set.
# Regularisation is anything that makes that harder without hurting what generalises.
#
# **Weight penalties** (lecture 02): add $\lambda R(W)$ to the loss, with $R(W) = \sum W^2$ (L2,
# prefers many small weights; in an optimiser it appears as **weight decay**, every step shrinks the
# weights by a factor $1 - \eta\lambda'$) or $R(W) = \sum |W|$ (L1, prefers sparse weights). The
# biases and the $\gamma, \beta$ of normalisation layers are usually not penalised. In
# `torch.optim.SGD(..., weight_decay=wd)` the gradient gets $\text{wd} \cdot W$ added, i.e. the
# penalty $\frac{\text{wd}}{2} \sum W^2$.
#
# ### Dropout
#
# **Dropout** (Srivastava et al., 2014): during training, every forward pass sets each hidden unit
# to 0 with probability $p$, independently, drawing a new random mask every time. A unit can no
# longer rely on any particular other unit being present, so the network must spread what it
# knows over many units (no fragile "co-adaptation").
#
# An **ensemble** interpretation: each mask selects a subnetwork, and a layer of $n$ units has $2^n$
# of them, all sharing weights. Training with dropout trains this huge family at once (each
# minibatch trains one member); at test time we would like the average prediction of all of them.
# The cheap approximation: use *all* units once, with each activation scaled to its expected value
# during training. If a unit is kept with probability $1 - p$, its expected training-time output
# is $(1 - p)\,h$, so either multiply by $1 - p$ at test time or, as everyone does now,
# **inverted dropout**: divide by $1 - p$ during training,
#
# $$ \tilde h = \frac{m \odot h}{1 - p}, \quad m_j \sim \text{Bernoulli}(1 - p), \qquad
#    \mathbb{E}[\tilde h] = h, $$
#
# so that the test-time network is left untouched. (A warning about conventions: torch's `p` is
# the probability of *dropping*, CS231n's notes and assignment a2 use $p$ for *keeping*.)

# %%
h = torch.ones(1_000_000)
torch.manual_seed(0)
dropped = F.dropout(h, p=0.5, training=True)  # training mode: drop half, scale the rest by 2
print("values after dropout:", torch.unique(dropped).tolist(),
      f"| fraction zeroed {(dropped == 0).float().mean():.4f} | mean {dropped.mean():.4f}")
print("test mode (training=False) is the identity:",
      torch.equal(F.dropout(h, p=0.5, training=False), h))
drop_net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.3))
drop_net.eval()
print("nn.Dropout in eval mode does nothing:",
      torch.equal(drop_net(torch.ones(1, 4)), drop_net[0](torch.ones(1, 4))))

# %% [markdown]
# Is "use all units, unscaled" a good stand-in for averaging the $2^n$ subnetworks? For a linear
# layer it is exact; through non-linearities it is an approximation. We can check on a trained
# network: average the predictions of many random masks (**Monte Carlo dropout**) and compare with
# one deterministic pass in evaluation mode.

# %%
drop_model = make_net(D, C, hidden=128, layers=2, dropout=0.5)
h_drop = fit(drop_model, X_train, y_train, X_val, y_val, epochs=15, lr=0.05)
p_eval = predict_proba(drop_model, X_val)  # one pass, all units, no scaling needed
drop_model.train()  # masks on
with torch.no_grad():
    Xv_t = torch.from_numpy(X_val.astype(np.float32))
    p_mc = torch.stack([torch.softmax(drop_model(Xv_t), 1) for _ in range(100)]).mean(0).numpy()
drop_model.eval()
print(f"eval-mode accuracy {np.mean(p_eval.argmax(1) == y_val):.1%}, average of 100 masks "
      f"{np.mean(p_mc.argmax(1) == y_val):.1%}, they agree on "
      f"{np.mean(p_eval.argmax(1) == p_mc.argmax(1)):.1%} of the validation digits")

# %% [markdown]
# ### Data augmentation
#
# The most effective regulariser for images costs no parameters: make more training data by
# changing the images in ways that do not change the label. The network sees a slightly different
# version of each image in every epoch and cannot memorise pixels. Common choices:
#
# * **horizontal flips** (not for digits or text, where a mirrored 2 is no longer a 2!);
# * **random crops**: pad by a few pixels and cut a random window (CIFAR-10: pad 4, crop
#   $32 \times 32$), or take a window of random area and aspect ratio and resize it (**random
#   resized crop**, the standard ImageNet recipe). At test time, use the central crop, or average
#   the predictions over a few crops and flips (test-time augmentation);
# * **colour jitter**: random brightness, contrast and saturation; AlexNet's variant shifts all
#   pixels' colours along the principal axes of the RGB values (PCA of the training pixels);
# * small rotations, scalings, shears; **cutout** (erase a random square); and for harder cases
#   mixtures of images (mixup, CutMix), which are beyond this chapter.
#
# `dlcv.augment` implements these in numpy for images with values in $[0, 1]$; here is one
# photograph, augmented.

# %%
cat = augment.to_float(load_photo("chelsea", size=160))  # (106, 160, 3) in [0, 1]
aug_rng = np.random.default_rng(1)
examples = [
    ("original", cat),
    ("horizontal flip", augment.hflip(cat)),
    ("random crop 96, pad 8", augment.random_crop(cat, 96, aug_rng, padding=8)),
    ("random crop 96, pad 8", augment.random_crop(cat, 96, aug_rng, padding=8)),
    ("random resized crop", augment.random_resized_crop(cat, 96, aug_rng, scale=(0.2, 1))),
    ("random resized crop", augment.random_resized_crop(cat, 96, aug_rng, scale=(0.2, 1))),
    ("colour jitter", augment.color_jitter(cat, aug_rng, 0.4, 0.4, 0.6)),
    ("colour jitter", augment.color_jitter(cat, aug_rng, 0.4, 0.4, 0.6)),
    ("PCA lighting", augment.pca_lighting(cat, aug_rng, std=2.5)),
    ("rotation ±20°", augment.rotate(cat, 20, aug_rng)),
    ("cutout 40", augment.cutout(cat, 40, aug_rng)),
]
pipeline = augment.random_resized_crop(cat, 96, aug_rng, scale=(0.3, 1))
pipeline = augment.color_jitter(augment.random_hflip(pipeline, aug_rng), aug_rng, 0.3, 0.3, 0.3)
examples.append(("crop + flip + jitter", pipeline))
show_images([im * 255 for _, im in examples], titles=[t for t, _ in examples], ncols=6,
            size=1.9, rescale=False)
plt.show()

# %% [markdown]
# Which augmentations are "label-preserving" depends on the task: flips are fine for cats, wrong
# for digits; colour jitter is fine for shapes, wrong if colour is the class (a ripe versus an
# unripe fruit). Batch versions (`(N, H, W, 3)` arrays) draw a new random transformation per
# image; convolutional networks in assignment a3 can use them.
#
# ## 5. Babysitting the learning process
#
# Before a long run, a few cheap checks catch most bugs. The recipe below follows CS231n's notes
# and Karpathy's "Recipe for training neural networks" (2019).
#
# **1. Check the initial loss.** With small random weights all scores are near 0, the softmax is
# uniform, and the loss must be $\ln C$ ($\ln 10 \approx 2.303$). A larger value means the scores
# are already large at the start (a too large last layer), a very different value means a bug in
# the loss. Adding a regularisation term must make the loss go *up*.

# %%
for init in ("small", "he"):
    net = make_net(D, C, hidden=100, layers=2, init=init)
    loss0, acc0 = evaluate(net, X_train, y_train)
    with torch.no_grad():
        score_std = net(torch.from_numpy(X_train.astype(np.float32))).std().item()
    print(f"init {init:5s}: initial loss {loss0:.3f} (ln C = {math.log(C):.3f}), "
          f"accuracy {acc0:.1%}, scores with standard deviation {score_std:.2g}")
net = make_net(D, C, hidden=100, layers=2, init="small")
with torch.no_grad():
    scores = net(torch.from_numpy(X_train.astype(np.float32)))
    data_loss = F.cross_entropy(scores, torch.from_numpy(y_train)).item()
    reg = 1e-2 * sum((m.weight ** 2).sum().item() for m in net if isinstance(m, nn.Linear))
print(f"data loss {data_loss:.3f}, with an L2 term 1e-2 * sum W^2: {data_loss + reg:.3f}")

# %% [markdown]
# He initialisation of the *last* layer gives scores of size about 1 (their standard deviation is
# printed), hence a loss a bit above $\ln C$: harmless. Many implementations scale the last layer
# down (or initialise it at 0) so the first check is exact.
#
# **2. Overfit a tiny subset.** Take 20 training examples, switch off regularisation, and train.
# A correct network and training loop must reach a loss near 0 and 100% training accuracy; if it
# cannot, no amount of data will help, something is broken.

# %%
tiny = make_net(D, C, hidden=100, layers=2)
h_tiny = fit(tiny, X_train[:20], y_train[:20], epochs=150, batch_size=20, lr=0.1)
print(f"20 examples, 150 steps: loss {h_tiny.loss[0]:.3f} -> {h_tiny.loss[-1]:.4f}, "
      f"training accuracy {h_tiny.train_acc[-1]:.0%}")

# %% [markdown]
# **3. Find a learning rate.** Start with a small regularisation and try learning rates on a log
# scale for a few epochs. The loss curve tells you where you are: a *too low* rate gives an almost
# linear, slow descent; a *too high* rate makes the loss jump around or explode to `nan` (or, in
# the first steps, stay at $\ln C$ while the accuracy stays at chance); a good rate gives a fast
# drop and then a slow decline. We train the same three-layer ReLU network (two hidden layers of
# 100 units) with plain SGD and four learning rates, recording the **update-to-weight ratio**
# $\lVert \Delta W \rVert / \lVert W \rVert$ of each step for each weight matrix.

# %%
lr_runs = {}
for lr in (1e-3, 3e-2, 0.3, 5.0):
    net = make_net(D, C, hidden=100, layers=2)
    lr_runs[lr] = fit(net, X_train, y_train, X_val, y_val, epochs=6, lr=lr, optimizer="sgd",
                      track_updates=True)
names = {1e-3: "too low", 3e-2: "low", 0.3: "good", 5.0: "too high"}

fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
for k, (lr, h) in enumerate(lr_runs.items()):
    col = CLASS_COLORS[[0, 4, 2, 5][k]]
    loss = np.where(np.isfinite(h.loss), h.loss, np.nan)
    axes[0].plot(loss, color=col, lw=0.9, label=f"lr {lr:g} ({names[lr]})")
    axes[1].semilogy(h.update_ratio.mean(1), color=col, lw=0.9)
good = lr_runs[0.3]
axes[0].set_ylim(0, 4)
axes[0].set_xlabel("iteration")
axes[0].set_title("minibatch loss")
axes[0].legend(fontsize=8)
axes[1].axhline(1e-3, color="k", ls=":", lw=1)
axes[1].text(2, 1.2e-3, "1e-3", fontsize=8)
axes[1].set_xlabel("iteration")
axes[1].set_title("update / weight ratio (mean over layers)")
axes[2].plot(good.epochs, good.train_acc, "o-", ms=3, color=CLASS_COLORS[0], label="training")
axes[2].plot(good.epochs, good.val_acc, "s-", ms=3, color=CLASS_COLORS[1], label="validation")
axes[2].set_xlabel("epoch")
axes[2].set_title("accuracy, lr 0.3")
axes[2].set_ylim(0, 1.02)
axes[2].legend(fontsize=8)
fig.tight_layout()
plt.show()
for lr, h in lr_runs.items():
    print(f"lr {lr:6g}: final loss {h.loss[-1]:8.3f}, validation accuracy {h.val_acc[-1]:.1%}, "
          f"median update/weight ratio {np.median(h.update_ratio):.1e}")
first = good.update_ratio[:3].mean()
print(f"lr 0.3: update/weight ratio {first:.1e} over the first 3 steps, "
      f"{np.median(good.update_ratio):.1e} over the whole run; training accuracy "
      f"{good.train_acc[-1]:.1%} against validation {good.val_acc[-1]:.1%} after "
      f"{good.epochs[-1]} epochs")

# %% [markdown]
# **4. Watch the gap between training and validation accuracy.** A large gap means overfitting:
# regularise more (weight decay, dropout, augmentation), or get more data. No gap at a low accuracy
# means underfitting: a bigger network, longer training, or less regularisation. Here, on the
# digits, the gap after a few epochs is small (the last line above).
#
# **5. Check the update-to-weight ratio.** A rule of thumb from CS231n: one step should change the
# weights by about $10^{-3}$ of their size. Much smaller ($10^{-5}$) and the learning rate is too
# low; much larger ($10^{-1}$) and it is too high. The middle panel, and the medians printed
# under the figure, show just that ordering. The ratio at the very first steps is larger (the
# last line) because gradients are largest when everything is wrong.
# Other things worth plotting: activation and gradient histograms per layer (section 2) and, for
# image models, the first layer's filters.
#
# ## 6. Hyperparameter search
#
# The learning rate, its schedule, the regularisation strength, the dropout rate, the width and
# depth of the network: none of these is learned by gradient descent. We choose them by their
# validation performance (never by the test set), in stages:
#
# 1. **Coarse**: a wide range, a few epochs per trial; the goal is to find the region where
#    training works at all. Stop any trial whose loss explodes (e.g. exceeds $3\times$ the initial
#    loss).
# 2. **Fine**: a narrower range around the best region, longer runs.
# 3. Repeat if the best values sit at the edge of the range: the optimum may lie outside it.
#
# **Sample on a log scale.** The learning rate and the regularisation strength act
# multiplicatively: $10^{-4}$ and $10^{-3}$ are as different as $10^{-2}$ and $10^{-1}$. So draw
# the exponent uniformly: `lr = 10 ** rng.uniform(-4, 0)`, not `rng.uniform(1e-4, 1)` (which
# puts 90% of the trials above 0.1). The dropout rate or a momentum can be sampled linearly.
#
# **Random search beats grid search** (Bergstra & Bengio, 2012). In most problems only a few
# hyperparameters really matter, and we do not know which ones in advance. A $3 \times 3$ grid tries
# only 3 distinct values of each parameter; 9 random trials try 9 distinct values of each. If one
# parameter is nearly irrelevant, the grid wastes two thirds of its budget repeating the same
# values of the important one.

# %%
def important(u):
    return np.exp(-((u - 0.73) / 0.09) ** 2)  # the parameter that matters, peak at 0.73


def unimportant(v):
    return 0.15 * np.sin(3 * v)  # almost irrelevant


gx = np.array([1 / 6, 1 / 2, 5 / 6])
grid = np.array([(a, b) for a in gx for b in gx])  # (9, 2)
rand = np.random.default_rng(3).uniform(0, 1, (9, 2))  # (9, 2)
u = np.linspace(0, 1, 300)
fig, axes = plt.subplots(2, 2, figsize=(9, 5.2), gridspec_kw={"height_ratios": [1, 3]},
                         sharex=True)
for j, (pts, title) in enumerate(((grid, "grid search, 9 trials"),
                                  (rand, "random search, 9 trials"))):
    top, main = axes[0, j], axes[1, j]
    top.plot(u, important(u), color="k")
    top.plot(pts[:, 0], important(pts[:, 0]), "o", color=CLASS_COLORS[5])
    top.set_yticks([])
    top.set_title(title, fontsize=10)
    U_, V_ = np.meshgrid(u, u)
    main.contourf(U_, V_, important(U_) + unimportant(V_), levels=20, cmap="Greens")
    main.plot(pts[:, 0], pts[:, 1], "o", color=CLASS_COLORS[5], mec="k")
    main.set_xlabel("important parameter")
    best = important(pts[:, 0]).max()
    main.text(0.02, 0.95, f"best value of the important part: {best:.2f}", fontsize=8,
              transform=main.transAxes, va="top", bbox=dict(fc="w", alpha=0.8))
    print(f"{title}: {len(np.unique(pts[:, 0]))} distinct values of the important parameter, "
          f"the closest {np.abs(pts[:, 0] - 0.73).min():.2f} from the peak at 0.73")
axes[1, 0].set_ylabel("unimportant parameter")
fig.tight_layout()
plt.show()

# %% [markdown]
# The curves on top are the performance as a function of the important parameter alone. The grid
# lands on 3 points of that curve, all away from the peak; random search lands on 9, and the
# closest is near the peak (the two lines above the figure measure how near).
#
# Now a real (small) random search: 16 trials of the same three-layer network on the digits,
# 3 epochs each, with the learning rate and the weight decay sampled log-uniformly.

# %%
search_rng = np.random.default_rng(0)
trials = []
for t in range(16):
    lr = 10 ** search_rng.uniform(-3, 0.5)
    wd = 10 ** search_rng.uniform(-6, -1)
    net = make_net(D, C, hidden=100, layers=2, seed=t)
    h = fit(net, X_train, y_train, X_val, y_val, epochs=3, lr=lr, weight_decay=wd, seed=t)
    acc = 0.0 if h.diverged else h.val_acc[-1]
    trials.append((lr, wd, acc))
trials = np.array(trials)  # (16, 3)
order = np.argsort(-trials[:, 2])
print("best trials:    lr        wd     val acc")
for i in order[:4]:
    print(f"            {trials[i, 0]:8.4f}  {trials[i, 1]:.1e}   {trials[i, 2]:.1%}")
good = trials[trials[:, 2] >= trials[:, 2].max() - 0.03]  # within 3 points of the best
print(f"{len(good)} trials within 3 points of the best: lr {good[:, 0].min():.3g} .. "
      f"{good[:, 0].max():.3g} (a factor {good[:, 0].max() / good[:, 0].min():.0f}), weight decay "
      f"{good[:, 1].min():.1e} .. {good[:, 1].max():.1e} (a factor "
      f"{good[:, 1].max() / good[:, 1].min():.0f})")
print("the other trials: lr " + ", ".join(
    f"{lr_:.3g} ({acc_:.0%})" for lr_, _, acc_ in sorted(trials[trials[:, 2] < good[:, 2].min()],
                                                          key=lambda t: t[0])))

fig, ax = plt.subplots(figsize=(5.5, 3.8))
sc = ax.scatter(trials[:, 0], trials[:, 1], c=trials[:, 2], cmap="viridis", vmin=0.5, vmax=1,
                s=60, edgecolors="k")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("learning rate")
ax.set_ylabel("weight decay")
fig.colorbar(sc, label="validation accuracy (3 epochs)")
ax.set_title("random search on a log scale")
fig.tight_layout()
plt.show()

# %% [markdown]
# The picture says where to search next. The good trials share a narrow band of learning rates but
# spread over a wide range of weight decays (the line above the plot that counts them gives both
# factors): the learning rate matters much more than the weight decay here, which is the typical
# finding. Most of the larger learning rates fail, and the smaller ones have not got as far in three
# epochs (the last line lists the other trials). A fine stage would sample the learning rate in and
# a little around that band, with longer runs. Tools such as Optuna or Ray Tune automate the
# bookkeeping, and can stop bad trials early.
#
# ## 7. Early stopping, ensembles, weight averaging and gradient clipping
#
# ### Early stopping
#
# Train long enough and a large network starts to memorise: the training loss keeps falling while
# the validation performance turns around. **Early stopping** evaluates on the validation set
# regularly, keeps a copy of the best weights so far (a **checkpoint**), and returns those at the
# end (Prechelt, 1998). To make the effect visible on the easy digits, we replace 40% of the labels
# of 500 training images by random ones (a tenth of those land on the right class by chance): a
# network first learns the real patterns and only later memorises the noise (Arpit et al., 2017).

# %%
noise_rng = np.random.default_rng(0)
n_small = 500
y_noisy = y_train[:n_small].copy()
flip = noise_rng.random(n_small) < 0.4
y_noisy[flip] = noise_rng.integers(0, C, flip.sum())
print(f"{np.mean(y_noisy != y_train[:n_small]):.0%} of the 500 labels are now wrong")

es_net = make_net(D, C, hidden=256, layers=2)
h_es = fit(es_net, X_train[:n_small], y_noisy, X_val, y_val, epochs=40, batch_size=25, lr=0.05)
final_acc = evaluate(es_net, X_val, y_val)[1]
es_net.load_state_dict(h_es.best_state)  # restore the checkpoint
print(f"best epoch {h_es.best_epoch}: validation accuracy {h_es.val_acc[h_es.best_epoch]:.1%}; "
      f"after 40 epochs {final_acc:.1%}; restored: {evaluate(es_net, X_val, y_val)[1]:.1%}")
print(f"training accuracy on the noisy labels: {h_es.train_acc[h_es.best_epoch]:.1%} at the best "
      f"epoch, {h_es.train_acc[-1]:.1%} after 40 epochs")

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.3))
ax0.plot(h_es.epochs, h_es.train_acc, "o-", ms=3, label="training (noisy labels)")
ax0.plot(h_es.epochs, h_es.val_acc, "s-", ms=3, label="validation (clean labels)")
ax1.plot(h_es.epochs, h_es.train_loss, "o-", ms=3, label="training")
ax1.plot(h_es.epochs, h_es.val_loss, "s-", ms=3, label="validation")
for ax in (ax0, ax1):
    ax.axvline(h_es.best_epoch, color="k", ls=":", lw=1)
    ax.set_xlabel("epoch")
    ax.legend(fontsize=8)
ax0.set_title("accuracy; dotted: the checkpoint kept")
ax1.set_title("loss")
fig.tight_layout()
plt.show()

# %% [markdown]
# Validation accuracy peaks within the first epochs and then declines as the network fits the wrong
# labels (training accuracy heads for 100%; the two lines above the plots). Early stopping returns
# the weights of the peak. It costs nothing but the evaluations; in practice one keeps training a
# while after the last improvement ("patience") and then stops. The number of epochs becomes one
# more hyperparameter, chosen automatically.
#
# ### Model ensembles
#
# Train several models independently (different random initialisations, or different
# hyperparameters) and average their predicted probabilities at test time. Their errors are partly
# independent, so the average is more accurate than the typical member, usually by one or two
# percent. The price is training and test time multiplied by the number of models.

# %%
members, member_acc = [], []
for seed in range(5):
    net = make_net(D, C, hidden=100, layers=2, seed=seed)
    fit(net, X_train[:400], y_train[:400], X_val, y_val, epochs=15, lr=0.05, seed=seed)
    members.append(predict_proba(net, X_val))  # (N_val, C)
    member_acc.append(np.mean(members[-1].argmax(1) == y_val))
ensemble_acc = np.mean(np.mean(members, axis=0).argmax(1) == y_val)
print("members trained on 400 digits:", " ".join(f"{a:.1%}" for a in member_acc),
      f"| mean {np.mean(member_acc):.1%}")
print(f"ensemble of the 5 (average of probabilities): {ensemble_acc:.1%}")

# %% [markdown]
# Cheaper ensembles come from a single run:
#
# * **Snapshot ensembles** (Huang et al., 2017): use a *cyclic* learning rate, a cosine from high
#   to 0 and then a restart (SGDR, Loshchilov & Hutter 2017). At the end of each cycle the model
#   sits in a minimum; the restart kicks it out towards another one. Save one snapshot per cycle and
#   ensemble them.
# * **Polyak averaging** (Polyak & Juditsky, 1992) and its modern form, an **exponential moving
#   average (EMA) of the weights**, $\bar\theta \leftarrow \beta \bar\theta + (1 - \beta)\theta$
#   after every step (with $\beta$ like 0.99 or 0.999): the weights of SGD bounce around a minimum,
#   and their average is closer to its centre. Use $\bar\theta$ for evaluation only, keep training
#   $\theta$. (Stochastic weight averaging, SWA, averages snapshots the same way: Izmailov et al.,
#   2018; torch has both in `torch.optim.swa_utils`.)
#
# First the snapshot ensemble: 3 cycles of 10 epochs, one snapshot at the end of each.

# %%
snap_net = make_net(D, C, hidden=100, layers=2, seed=0)
steps_per_epoch = 400 // 32
h_snap = fit(snap_net, X_train[:400], y_train[:400], X_val, y_val, epochs=30, batch_size=32,
             lr=0.5, optimizer="sgd", lr_schedule=cosine_cycles(10 * steps_per_epoch),
             snapshot_epochs=(10, 20, 30))
snap_probs = []
for epoch, state in h_snap.snapshots.items():
    snap_net.load_state_dict(state)
    snap_probs.append(predict_proba(snap_net, X_val))
    print(f"snapshot after epoch {epoch}: validation accuracy "
          f"{np.mean(snap_probs[-1].argmax(1) == y_val):.1%}")
print(f"snapshot ensemble: {np.mean(np.mean(snap_probs, 0).argmax(1) == y_val):.1%}")
snap_pred = [p.argmax(1) for p in snap_probs]
print("the snapshots agree on " + ", ".join(
    f"{np.mean(snap_pred[a] == snap_pred[b]):.1%}" for a, b in ((0, 1), (0, 2), (1, 2)))
    + " of the validation digits (pairs 1-2, 1-3, 2-3)")

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 2.9))
ax0.plot(h_snap.lr)
ax0.set_xlabel("iteration")
ax0.set_title("cyclic cosine learning rate")
ax1.plot(h_snap.epochs, h_snap.val_acc, "o-", ms=3)
for e in h_snap.snapshots:
    ax1.axvline(e, color="k", ls=":", lw=1)
ax1.set_xlabel("epoch")
ax1.set_title("validation accuracy; dotted: snapshots")
fig.tight_layout()
plt.show()

# %% [markdown]
# On the digits the three snapshots land in minima that make nearly the same predictions (the
# agreement printed above), so the ensemble gains little: diversity is the whole point of an
# ensemble, and the snapshot method shines on larger problems with longer cycles (Huang et al.
# report it on CIFAR and ImageNet).
#
# Now the weight average, written out by hand so that the formula is visible: SGD with a large
# learning rate and tiny batches of 8, so that the raw weights are noisy, and an EMA with
# $\beta = 0.98$ updated after every step. Every 10 steps we evaluate both.

# %%
torch.manual_seed(0)
raw = make_net(D, C, hidden=100, layers=2, seed=0)
avg = make_net(D, C, hidden=100, layers=2, seed=0)  # the same start
opt = torch.optim.SGD(raw.parameters(), lr=0.3)
beta = 0.98
Xt, yt = torch.from_numpy(X_train.astype(np.float32)), torch.from_numpy(y_train)
curve = []


def average_and_watch(step, loss):
    """After every step of SGD: move the average, and every 10 steps evaluate both."""
    with torch.no_grad():
        for p_avg, p in zip(avg.parameters(), raw.parameters(), strict=True):
            p_avg.mul_(beta).add_(p, alpha=1 - beta)  # theta_bar = beta theta_bar + (1-beta) theta
    if step % 10 == 0:
        curve.append((step, evaluate(raw, X_val, y_val)[1], evaluate(avg, X_val, y_val)[1]))


raw.train()
train(lambda idx: F.cross_entropy(raw(Xt[idx]), yt[idx]), opt,
      sampled(N, 8, 600), on_step=average_and_watch)  # 600 minibatches of 8
curve = np.array(curve)
late = curve[:, 0] > 300
print(f"last 300 steps: raw weights {curve[late, 1].mean():.1%} ± {curve[late, 1].std():.1%}, "
      f"EMA weights {curve[late, 2].mean():.1%} ± {curve[late, 2].std():.1%}")
print(f"the average is {'steadier' if curve[late, 2].std() < curve[late, 1].std() else 'not steadier'}"
      f" and {'better' if curve[late, 2].mean() > curve[late, 1].mean() else 'not better'} on average")

fig, ax = plt.subplots(figsize=(8, 3))
ax.plot(curve[:, 0], curve[:, 1], lw=1, label="raw weights θ", color=CLASS_COLORS[1])
ax.plot(curve[:, 0], curve[:, 2], lw=1.5, label="moving average θ̄ (β = 0.98)",
        color=CLASS_COLORS[0])
ax.set_ylim(0.8, 1.0)
ax.set_xlabel("step")
ax.set_ylabel("validation accuracy")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# The averaged weights give a steadier and, on average, better validation accuracy than the weights
# that SGD is actually moving (the lines above the plot), at no extra training cost.
# (`dlcv.networks.training.fit(..., ema_decay=0.99)` does the same with
# `torch.optim.swa_utils.AveragedModel`.)
#
# ### Gradient clipping
#
# Sometimes a single step meets a very steep region of the loss (a "cliff"), the gradient is huge,
# and one update throws the weights far away, undoing all progress or producing `inf`. **Gradient
# clipping by norm** rescales the gradient whenever its norm exceeds a threshold $c$:
#
# $$ g \leftarrow g \cdot \min\left(1, \frac{c}{\lVert g \rVert}\right), $$
#
# which keeps its direction and bounds the step length to $\eta c$. Pascanu et al. (2013) proposed
# it for recurrent networks, where gradients are products of many Jacobians and explode easily
# (lecture 12); in torch it is one line between `backward()` and `step()`:
# `torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=c)`. A demonstration with a deep
# ReLU network initialised twice too large (He × 2), whose gradients start out huge:

# %%
clip_runs = {}
for clip in (None, 5.0):
    net = make_net(D, C, hidden=64, layers=6, init="he", init_scale=2.0)
    clip_runs[clip] = fit(net, X_train, y_train, X_val, y_val, epochs=5, lr=0.05, clip_norm=clip)

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.2))
for clip, h in clip_runs.items():
    label = "no clipping" if clip is None else f"clipped at norm {clip:g}"
    ax0.semilogy(h.grad_norm, lw=1, label=label)
    ax1.semilogy(h.loss, lw=1, label=label)
    print(f"{label:22s}: gradient norms of the first steps "
          + ", ".join(f"{g:.1e}" for g in h.grad_norm[:4])
          + f"; final validation accuracy {h.val_acc[-1]:.1%}"
          + (f" (diverged at step {len(h.loss)})" if h.diverged else ""))
ax0.set_title("gradient norm before clipping")
ax1.set_title("minibatch loss")
for ax in (ax0, ax1):
    ax.set_xlabel("iteration")
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Without clipping, a few steps with huge gradients (the first line above the plots) make the
# weights, and then the loss, explode to infinity. With clipping, each step is bounded, and the
# network recovers and learns (the second line). (Here the real cure is a proper initialisation;
# clipping is the safety net for the steps that no initialisation can prevent, as in recurrent
# networks.)

# %%
print(f"the whole notebook ran in {time.perf_counter() - t_start:.0f} s")

# %% [markdown]
# ## Check yourself
#
# **1.** You compute the mean image over the whole data set, subtract it, and then split into
# training, validation and test sets. What is wrong, and how large is the harm?
#
# <details><summary>Answer</summary>
#
# The test images contributed to a statistic used in training, so information leaks from the test
# set into the model. For a mean over thousands of images the effect on the accuracy is usually
# tiny, but the procedure is wrong in principle, and for statistics fitted more flexibly (PCA,
# feature selection, hyperparameters) the leak can inflate test results a lot. Compute every
# statistic on the training split and apply it unchanged to the others.
# </details>
#
# **2.** A fully connected layer has 1024 inputs and 256 outputs, followed by ReLU. Which standard
# deviation does He initialisation prescribe, and which Xavier (in its $1/n_{\text{in}}$ form and in
# Glorot's form)?
#
# <details><summary>Answer</summary>
#
# He: $\sqrt{2/1024} \approx 0.0442$. Xavier: $\sqrt{1/1024} = 0.03125$. Glorot:
# $\sqrt{2/(1024 + 256)} \approx 0.0395$.
# </details>
#
# **3.** Why does a deep tanh network initialised with $\mathcal{N}(0, 1)$ weights learn badly, even
# though its activations have a standard deviation near 1 in every layer?
#
# <details><summary>Answer</summary>
#
# A standard deviation near 1 for tanh means nearly all values sit at $\pm 1$: the units are
# saturated, where $\tanh'(a) = 1 - \tanh^2(a) \approx 0$. Almost no gradient passes through them,
# and what passes is multiplied by very large weights, so the gradients of different layers differ
# by orders of magnitude. The standard deviation alone is not enough: look at the histogram.
# </details>
#
# **4.** A network with batch normalisation reaches 95% validation accuracy when evaluated in
# batches of 256, and 60% when you predict images one at a time. What is the likely bug?
#
# <details><summary>Answer</summary>
#
# The model is still in training mode at prediction time, so batch norm normalises each batch with
# its own statistics; a batch of one (or of a few similar images) gives meaningless statistics
# (torch even refuses a batch of one in training mode for fully connected layers). Call
# `model.eval()` before predicting, so that the running averages are used.
# </details>
#
# **5.** Dropout with keep probability 0.8 (torch: `p=0.2`), inverted. A unit's activation is 3.0.
# What can its output be during training, and what is it at test time?
#
# <details><summary>Answer</summary>
#
# During training, 0 (with probability 0.2) or $3.0 / 0.8 = 3.75$ (with probability 0.8); the
# expected value is $0.8 \times 3.75 = 3.0$. At test time, 3.0: inverted dropout leaves the test
# network unchanged.
# </details>
#
# **6.** Your first minibatch loss on a 10-class problem is 46. The network uses softmax
# cross-entropy. What do you check?
#
# <details><summary>Answer</summary>
#
# It should be near $\ln 10 \approx 2.3$. A loss of 46 means some scores are huge at the start: the
# weights are initialised far too large (or the inputs are not normalised, e.g. pixels in 0..255),
# or the loss has an extra factor (a sum instead of a mean, a regularisation term with a huge
# $\lambda$).
# </details>
#
# **7.** You have the budget for 25 trials to tune the learning rate and the dropout rate. Grid or
# random, and how do you sample the learning rate?
#
# <details><summary>Answer</summary>
#
# Random: 25 distinct values of each parameter instead of 5. The learning rate log-uniformly, e.g.
# $10^{u}$ with $u \sim U(-4, 0)$; the dropout rate uniformly, e.g. in $[0, 0.6]$. Then a second,
# finer round around the best region, and check that the best value is not at the edge of a range.
# </details>
#
# **8.** Why does a group norm network behave the same at training and at test time while a batch
# norm network does not? Which one would you choose for a detector that fits 2 images per batch?
#
# <details><summary>Answer</summary>
#
# Group norm computes its mean and variance within each example (over groups of channels and all
# positions), so nothing depends on the other examples of the batch, in training or at test time.
# Batch norm uses the batch's statistics in training and running averages at test time, and with 2
# images per batch those statistics are too noisy to be useful. Group norm (Wu & He, 2018, showed
# exactly this for detection and segmentation).
# </details>
#
# ## Summary
#
# * **Preprocessing**: centre and normalise every feature (for images: per-channel mean and std),
#   with statistics from the training set only. PCA decorrelates, whitening equalises the variances;
#   both are rare for CNNs.
# * **Initialisation**: equal weights never break the symmetry. Random weights must keep the
#   variance of activations and gradients constant from layer to layer: $\operatorname{Var}(w) =
#   1/n_{\text{in}}$ (Xavier; $2/(n_{\text{in}} + n_{\text{out}})$ in Glorot's form) for tanh-like
#   units, $2/n_{\text{in}}$ (He) for ReLU. Too small: activations and gradients vanish; too large:
#   saturation or explosion, exponentially in the depth.
# * **Batch norm** normalises each feature over the batch, then scales and shifts with learned
#   $\gamma, \beta$; at test time it uses running averages (`model.eval()`!). It allows higher
#   learning rates and makes training much less sensitive to initialisation. **Layer, instance and
#   group norm** normalise within each example over different sets of axes and do not depend on
#   the batch size.
# * **Regularisation**: weight decay; **dropout** (inverted: scale by $1/(1-p)$ at training time;
#   an implicit ensemble of subnetworks); **data augmentation** (flips, crops, colour jitter), the
#   most effective for images.
# * **Babysitting**: initial loss $\approx \ln C$; overfit 20 examples; pick the learning rate from
#   loss curves; watch the train/validation gap; update/weight ratio near $10^{-3}$.
# * **Hyperparameters**: validation set, coarse to fine, log-uniform sampling, random search.
# * **Extras**: early stopping keeps the best checkpoint; ensembles of independent models add a
#   percent or two; snapshot ensembles and weight averaging (EMA, Polyak, SWA) get some of that
#   from a single run; gradient clipping bounds the damage of exploding gradients.
#
# ## Papers and further reading
#
# * Y. LeCun, L. Bottou, G. B. Orr, K.-R. Müller (1998). Efficient BackProp. In *Neural Networks:
#   Tricks of the Trade*, LNCS 1524, Springer, 9–50. Input normalisation, decorrelation and the
#   $1/\sqrt{n_{\text{in}}}$ initialisation, long before deep learning.
# * L. Prechelt (1998). Early stopping — but when? In *Neural Networks: Tricks of the Trade*,
#   LNCS 1524, Springer, 55–69.
# * X. Glorot, Y. Bengio (2010). Understanding the difficulty of training deep feedforward neural
#   networks. *AISTATS 2010*, 249–256. The activation-histogram experiments and the normalised
#   ("Xavier") initialisation.
# * K. He, X. Zhang, S. Ren, J. Sun (2015). Delving deep into rectifiers: surpassing human-level
#   performance on ImageNet classification. *ICCV 2015*. The ReLU-aware initialisation and PReLU.
# * S. Ioffe, C. Szegedy (2015). Batch normalization: accelerating deep network training by
#   reducing internal covariate shift. *ICML 2015*.
# * J. L. Ba, J. R. Kiros, G. E. Hinton (2016). Layer normalization. arXiv:1607.06450.
# * D. Ulyanov, A. Vedaldi, V. Lempitsky (2016). Instance normalization: the missing ingredient for
#   fast stylization. arXiv:1607.08022.
# * Y. Wu, K. He (2018). Group normalization. *ECCV 2018*. The figure of section 3 follows theirs.
# * G. Yang, J. Pennington, V. Rao, J. Sohl-Dickstein, S. S. Schoenholz (2019). A mean field theory
#   of batch normalization. *ICLR 2019*. Why gradients explode in very deep batch-normalised nets.
# * N. Srivastava, G. Hinton, A. Krizhevsky, I. Sutskever, R. Salakhutdinov (2014). Dropout: a
#   simple way to prevent neural networks from overfitting. *JMLR* 15, 1929–1958.
# * A. Krizhevsky, I. Sutskever, G. E. Hinton (2012). ImageNet classification with deep
#   convolutional neural networks. *NeurIPS 2012*. Mean-image subtraction, crops and flips, PCA
#   colour augmentation, dropout.
# * K. Simonyan, A. Zisserman (2015). Very deep convolutional networks for large-scale image
#   recognition. *ICLR 2015*. Per-channel mean subtraction, scale augmentation.
# * T. DeVries, G. W. Taylor (2017). Improved regularization of convolutional neural networks with
#   cutout. arXiv:1708.04552.
# * J. Bergstra, Y. Bengio (2012). Random search for hyper-parameter optimization. *JMLR* 13,
#   281–305.
# * D. Arpit et al. (2017). A closer look at memorization in deep networks. *ICML 2017*. Networks
#   learn the patterns first and the noise later.
# * G. Huang, Y. Li, G. Pleiss, Z. Liu, J. E. Hopcroft, K. Q. Weinberger (2017). Snapshot
#   ensembles: train 1, get M for free. *ICLR 2017*.
# * I. Loshchilov, F. Hutter (2017). SGDR: stochastic gradient descent with warm restarts.
#   *ICLR 2017*.
# * B. T. Polyak, A. B. Juditsky (1992). Acceleration of stochastic approximation by averaging.
#   *SIAM Journal on Control and Optimization* 30(4), 838–855.
# * P. Izmailov, D. Podoprikhin, T. Garipov, D. Vetrov, A. G. Wilson (2018). Averaging weights leads
#   to wider optima and better generalization. *UAI 2018*. Stochastic weight averaging.
# * R. Pascanu, T. Mikolov, Y. Bengio (2013). On the difficulty of training recurrent neural
#   networks. *ICML 2013*. Exploding gradients and gradient clipping.
# * A. Karpathy (2019). A recipe for training neural networks. Blog post,
#   https://karpathy.github.io/2019/04/25/recipe/ .
# * Stanford CS231n course notes, *Neural Networks Part 2: Setting up the data and the loss* and
#   *Part 3: Learning and evaluation*, https://cs231n.github.io/ .
