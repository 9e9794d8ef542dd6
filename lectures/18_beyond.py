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
# # Lecture 18 — Beyond classification: metric learning, tracking, noisy labels, distillation
#
# The classifiers, detectors and captioners of this course were trained in one setting: the classes
# (or object categories, or words) are fixed in advance, the labels are correct, and the network, however large, is run in full on
# every image. This last chapter leaves that setting in several directions at once.
# What if the classes are not known when we train, as in face verification, where tomorrow's
# user is not in today's training set? Then we learn a **distance** instead of a classifier. What
# if the "class" is one object in one video, given by a single box in the first frame? Then we
# **track** it by searching for a template with a similarity function. What if a third of the
# labels are wrong, as they are when they come from the web? Then the loss must **ignore** part
# of its data, and we will see two ways of doing so, for classification and for regression. And
# what if the network is too big for the phone it must run on? Then we **distil** it into a small
# one, or build it so that it can **stop early** on easy images. A last section points to what
# came after this course.
#
# **After this lecture you can**
#
# 1. explain siamese networks, write the contrastive and the triplet losses, and say why the
#    choice of negatives (easy, semi-hard, hard) decides whether training works at all;
# 2. train a small embedding network and evaluate it by retrieval (recall@k) on classes it never
#    saw during training;
# 3. track an object by template matching, tell raw cross-correlation from normalised
#    cross-correlation, and describe how SiamFC turns the search into one convolution of learned
#    features;
# 4. describe symmetric and asymmetric label noise with a transition matrix, explain why
#    cross-entropy memorises wrong labels, and compare robust losses (MAE, generalised
#    cross-entropy, bootstrapping) and early stopping with patience;
# 5. fit a line with a Gaussian-uniform mixture by expectation-maximisation, derive its E- and
#    M-steps, and say when it breaks;
# 6. distil a teacher into a student with softened targets and explain the role of the
#    temperature and of the factor $T^2$;
# 7. explain convolutional neural fabrics and multi-scale dense networks, and measure the
#    accuracy-compute trade-off of a network with early exits.
#
# **Plan.** Metric learning → tracking with siamese networks → noisy labels and early stopping →
# robust regression by EM (with a widget) → knowledge distillation → architecture search and
# any-time prediction → where to go next → questions, summary, papers.
#
# The main source is the Grenoble course *Advanced CNN and RNN models* (J. Mairal,
# X. Alameda-Pineda, with J. Verbeek); the code is new. Every network here is tiny and trains in
# seconds on the embedded digits or on real photographs, so the numbers are those of toy
# problems: what carries over to real ones is the behaviour, not the digits after the point.

# %%
# %matplotlib inline
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle
from sklearn.linear_model import HuberRegressor

from dlcv.beyond import anytime as AT
from dlcv.beyond import distillation as KD
from dlcv.beyond import fabrics as FB
from dlcv.beyond import gum
from dlcv.beyond import metric as ML
from dlcv.beyond import noisy as NL
from dlcv.beyond import tracking as TR
from dlcv.beyond.widgets import GUMEMView, TrackerView
from dlcv.convolution.costs import count_flops
from dlcv.convolution.transfer import SmallCNN, few_shot_indices
from dlcv.data import load_classification, load_digits
from dlcv.networks.mlp import count_parameters
from dlcv.networks.training import evaluate, fit, make_net
from dlcv.plots import CLASS_COLORS
from dlcv.timing import cap_threads

plt.rcParams.update({"figure.figsize": (9, 3.2), "figure.dpi": 90, "font.size": 10})
np.set_printoptions(precision=3, suppress=True, linewidth=110)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine
rng = np.random.default_rng(0)
_ = torch.manual_seed(0)
t_start = time.perf_counter()

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the note that CIFAR-10 is optional: we use the digits here
    digits = load_classification("digits")
print(digits)

# %% [markdown]
# ## 1. Learning a distance: deep metric learning
#
# Lecture 01 classified an image by its nearest neighbours under the pixel distance, and found
# that the pixel distance is a poor judge of content: to it, the cat photograph shifted by four
# pixels, the same photograph darkened and the same photograph with a black box over the cat's
# face were all equally far from the original. Every network since then has learned *features*
# in which a linear classifier works. **Metric learning** asks for something different: a map
# $\phi_\theta$ from images to vectors (an **embedding**) in which plain Euclidean distance means
# what we want,
#
# $$ d_\theta(x_i, x_j) = \lVert \phi_\theta(x_i) - \phi_\theta(x_j) \rVert_2 , $$
#
# small for two images of the same thing, large for different things. Why not just a classifier?
# Because in many problems the classes are not known at training time. A face-verification
# system is trained on thousands of people and then used on people it has never seen; a
# product-search engine is trained on last year's catalogue. A distance carries over to new
# classes: put a new person's photo in the gallery and nearest neighbours do the rest, with no
# retraining.
#
# The supervision is **relational** rather than categorical:
#
# * must-link / cannot-link pairs: $\mathcal{S} = \{(x_i, x_j) \text{ similar}\}$ and
#   $\mathcal{D} = \{(x_i, x_j) \text{ dissimilar}\}$;
# * relative constraints (triplets): $\mathcal{R} = \{(x_i, x_j, x_k): x_i \text{ is more
#   similar to } x_j \text{ than to } x_k\}$.
#
# Classic metric learning fitted a Mahalanobis matrix $M$ in $d(x, x') = \sqrt{(x - x')^\top M
# (x - x')}$, that is, a linear map followed by the Euclidean distance. Deep metric learning
# replaces the linear map by a network.
#
# ### 1.1 Siamese networks and their two losses
#
# A **siamese network** (Bromley et al. 1993, for signature verification) runs the *same*
# network, with the same weights, on both images of a pair and compares the two outputs. Weight
# sharing makes the comparison symmetric and means that one network, trained on pairs, embeds
# any single image afterwards.
#
# **Contrastive loss** (Hadsell, Chopra & LeCun 2006). For a pair at distance
# $d = d_\theta(x_i, x_j)$ with $y = 1$ if similar and $y = 0$ if not,
#
# $$ \mathcal{L}_c = \tfrac12\, y\, d^2 + \tfrac12\, (1 - y) \max(0,\, m - d)^2 . $$
#
# Similar pairs are pulled together with a spring; dissimilar pairs are pushed apart, but only
# until they are $m$ (the **margin**) apart, after which they are left alone. Without the margin,
# the cheapest way to push dissimilar pairs apart would be to blow up the whole embedding.
#
# **Triplet loss** (Weinberger & Saul 2009 for linear metrics, Schroff et al. 2015 in FaceNet).
# For an anchor $a$, a positive $p$ of the same class and a negative $n$ of another class,
#
# $$ \mathcal{L}_3 = \max\big(0,\; d(a, p) - d(a, n) + m\big) . $$
#
# It asks only that the negative be farther than the positive by a margin: a *relative*
# statement. It does not force all images of a class onto one point (the contrastive loss
# does, for similar pairs), which leaves room for a class to spread out. FaceNet normalises
# embeddings to the unit sphere, so that distances lie in $[0, 2]$ and a margin such as
# $m = 0.2$ has a fixed meaning; it uses squared distances, which changes little.

# %%
d = np.linspace(0, 2, 200)
margin_c, margin_t = 1.0, 0.2
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.3))
ax0.plot(d, ML.contrastive_loss(d, np.ones_like(d), margin_c), color=CLASS_COLORS[0],
         label="similar pair (y = 1): pull")
ax0.plot(d, ML.contrastive_loss(d, np.zeros_like(d), margin_c), color=CLASS_COLORS[5],
         label="dissimilar pair (y = 0): push, up to m")
ax0.axvline(margin_c, color="0.5", ls=":")
ax0.text(margin_c + 0.03, 1.5, "margin m", color="0.4", fontsize=9)
ax0.set_xlabel("distance d between the two embeddings")
ax0.set_ylabel("loss")
ax0.set_title("contrastive loss (m = 1)")
ax0.legend(fontsize=8)

gap = np.linspace(-0.6, 0.6, 300)  # d(a, n) - d(a, p)
ax1.plot(gap, ML.triplet_loss(np.zeros_like(gap), gap, margin_t), color="k")
for lo, hi, c, name in [(-0.6, 0, CLASS_COLORS[5], "hard"), (0, margin_t, CLASS_COLORS[1],
                                                              "semi-hard"),
                        (margin_t, 0.6, CLASS_COLORS[2], "easy")]:
    ax1.axvspan(lo, hi, color=c, alpha=0.18)
    ax1.text((lo + hi) / 2, 0.72, name, ha="center", fontsize=9)
ax1.set_xlabel("d(a, n) - d(a, p): how much farther the negative is")
ax1.set_ylabel("loss")
ax1.set_title("triplet loss (m = 0.2) and the three kinds of triplets")
fig.tight_layout()
plt.show()

# %% [markdown]
# The right panel names the three kinds of triplets used below. **Easy** triplets (the negative
# is already farther by more than the margin) have zero loss and zero gradient: they teach
# nothing. **Hard** triplets (the negative is closer than the positive) have the largest loss.
# **Semi-hard** triplets lie in between: the negative is farther than the positive, but not by
# the margin yet.
#
# ### 1.2 The data: digits with nuisances, and classes kept for later
#
# To make the distance's job real, every digit is placed at a random position on a $16 \times
# 16$ canvas, multiplied by a random contrast in $[0.5, 1]$ and given Gaussian noise: changes a
# good distance should ignore and the pixel distance does not. Training uses the digits 0 to 6
# only. The digits 7, 8 and 9 are **unseen classes**: the test is whether the learned distance
# still separates classes it was never told about.

# %%
PAD, NOISE = 4, 0.1


def nuisances(X, seed):
    """Digits (N, 8, 8) in [0, 1] -> (N, 16, 16) at random places, contrasts and noise."""
    return ML.nuisance_digits(X, pad=PAD, noise=NOISE, seed=seed)


X_all, y_all = load_digits()
X_all = X_all / 16.0
seen = list(range(7))
train_mask = np.isin(digits.y_train, seen)
X_ml, y_ml = digits.X_train[train_mask] / 16.0, digits.y_train[train_mask]   # classes 0-6 only
X_held = np.concatenate([digits.X_val, digits.X_test]) / 16.0
y_held = np.concatenate([digits.y_val, digits.y_test])
keep = np.isin(y_held, seen)
X_seen, y_seen = nuisances(X_held[keep], seed=1), y_held[keep]               # new images, 0-6
X_unseen, y_unseen = nuisances(X_all[y_all >= 7], seed=2), y_all[y_all >= 7]  # never trained on
print(f"training: {len(y_ml)} images of classes 0-6 (fresh nuisances at every step)")
print(f"evaluation: {len(y_seen)} held-out images of classes 0-6, "
      f"{len(y_unseen)} images of the unseen classes 7-9")

fig, axes = plt.subplots(2, 10, figsize=(11, 2.5))
for i, ax in enumerate(axes[0]):
    ax.imshow(X_all[i], cmap="gray", vmin=0, vmax=1)
    ax.axis("off")
    axes[1, i].imshow(nuisances(X_all[i:i + 1], seed=i)[0], cmap="gray", vmin=0, vmax=1)
    axes[1, i].axis("off")
axes[0, 0].set_title("original 8x8", fontsize=8, loc="left")
axes[1, 0].set_title("with nuisances, 16x16", fontsize=8, loc="left")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### 1.3 Batches with positives, and mining inside the batch
#
# A random batch of 56 images from 7 classes holds positives for every anchor, but the number of
# possible triplets grows as $N^3$ and most of them are easy. The practical recipe (FaceNet,
# Hermans et al. 2017) is:
#
# * **P x K batches**: draw $P$ classes and $K$ images of each (here $7 \times 8$);
# * compute all pairwise distances in the batch once, and **mine** triplets from them online:
#   * *all*: every valid triplet, averaged over those with a positive loss;
#   * *hard* ("batch hard"): for each anchor, the farthest positive and the closest negative;
#   * *semi-hard* (FaceNet): for each anchor-positive pair, the closest negative that is still
#     farther than the positive.
#
# The network, `dlcv.beyond.metric.EmbeddingNet`, is three $3 \times 3$ convolutions with a global max
# pool (which makes the output nearly blind to *where* the digit is) and a linear layer, with the
# output normalised to the unit sphere. First a version with a two-dimensional embedding, trained
# with the contrastive loss, so that we can look at the embedding directly.

# %%
def augment(x, g):
    """Fresh nuisances for every training batch (x: (B, 8, 8) -> (B, 16, 16))."""
    return ML.nuisance_digits(x, pad=PAD, noise=NOISE, seed=int(g.integers(2 ** 31)))


net2 = ML.EmbeddingNet(dim=2, normalize=False, width=64, seed=0)
E2_before_seen, E2_before_unseen = ML.embed(net2, X_seen), ML.embed(net2, X_unseen)
t0 = time.perf_counter()
STEPS_2D = 300
hist2 = ML.train_embedding(net2, X_ml, y_ml, loss="contrastive", margin=1.0, steps=STEPS_2D,
                           augment=augment, seed=0)
print(f"2-D contrastive embedding trained in {time.perf_counter() - t0:.1f} s; "
      f"loss {hist2.loss[:10].mean():.3f} -> {hist2.loss[-10:].mean():.3f}")
E2_seen, E2_unseen = ML.embed(net2, X_seen), ML.embed(net2, X_unseen)

fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
for ax, (Es, Eu), title in zip(axes, [(E2_before_seen, E2_before_unseen), (E2_seen, E2_unseen)],
                               ["random network (before training; note the tiny scale)",
                                f"after {STEPS_2D} steps of the contrastive loss"],
                               strict=True):
    for c in seen:
        m = y_seen == c
        ax.scatter(*Es[m].T, s=9, color=CLASS_COLORS[c], label=str(c), alpha=0.8)
    for c, mk in zip([7, 8, 9], ["x", "+", "^"], strict=True):
        m = y_unseen == c
        ax.scatter(*Eu[m].T, s=14, marker=mk, color="k", alpha=0.45, lw=0.8,
                   label=f"{c} (unseen)")
    ax.set_title(title)
    ax.set_aspect("equal", adjustable="datalim")
axes[1].legend(fontsize=7, ncol=2, loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=1.5)
fig.tight_layout()
plt.show()

# %% [markdown]
# Before training, the random network scatters every class over the same small region. After
# training, the seven training classes form clusters, because the contrastive loss pulled
# same-class pairs together and pushed different classes about a margin apart. The unseen
# classes (black markers) were never mentioned to the loss. They land in the space between and
# on top of the known clusters, near the digits they resemble: two dimensions leave no room for
# classes the network was not asked to separate. Real embeddings have 64 to 512 dimensions.
#
# ### 1.4 A 32-dimensional embedding with semi-hard triplets, evaluated by retrieval
#
# A metric is judged by what it retrieves. **Recall@k** is the fraction of queries for which at
# least one of the $k$ nearest neighbours (all other images of the evaluation set form the
# gallery) has the query's class. We compare the raw pixels with learned embeddings, on new
# images of the training classes and on the unseen classes.
#
# Seven training classes are few. A face-recognition network is trained on thousands of
# identities, so that its distance must describe faces in general rather than the few it was
# shown. We can give our network more classes without a single new digit: a digit turned a
# quarter turn, or seen in a mirror, is another glyph, which the network must learn to tell from
# the upright digit. So we train the same network twice, with the same number of steps and
# batches of 7 classes: once on the seven digits, and once on 19 glyph classes made from the
# same images (the seven digits, the seven digits turned a quarter turn to the left, and the
# mirror images of 2 to 6; the mirror images of 0 and 1 look like 0 and 1, and classes that
# cannot be told apart would only confuse the loss). Neither run ever sees a 7, an 8 or a 9.

# %%
turned = np.rot90(X_ml, 1, axes=(1, 2))                     # a quarter turn to the left
mirrored = y_ml >= 2                                        # the mirror images of 2-6
X_glyph = np.concatenate([X_ml, turned, X_ml[mirrored][:, :, ::-1]])
y_glyph = np.concatenate([y_ml, y_ml + 10, y_ml[mirrored] + 20])
GLYPHS = f"{len(np.unique(y_glyph))} glyphs"
train_sets = {"7 digits": (X_ml, y_ml), GLYPHS: (X_glyph, y_glyph)}

STEPS = 150
nets, hists = {}, {}
t0 = time.perf_counter()
for name, (X_tr, y_tr) in train_sets.items():
    nets[name] = ML.EmbeddingNet(dim=32, normalize=True, width=64, seed=0)
    hists[name] = ML.train_embedding(nets[name], X_tr, y_tr, loss="triplet", mining="semi-hard",
                                     margin=0.2, steps=STEPS, augment=augment, seed=0)
print(f"two 32-D triplet embeddings (semi-hard), on {len(y_ml)} and {len(y_glyph)} training "
      f"images, trained in {time.perf_counter() - t0:.1f} s")

eval_sets = {"classes 0-6": (X_seen, y_seen), "unseen 7-9": (X_unseen, y_unseen)}
represent = {"pixels": lambda X: X.reshape(len(X), -1)}                       # (N, 256)
for name, n in nets.items():
    represent[f"{name}: embedding"] = lambda X, n=n: ML.embed(n, X)              # (N, 32)
    represent[f"{name}: layer before"] = lambda X, n=n: ML.embed(n, X, features=True)  # (N, 64)
ks = (1, 4)
R = {(rep, s): ML.recall_at_k(f(X), y, ks)
     for rep, f in represent.items() for s, (X, y) in eval_sets.items()}
print(f"\n{'':25s}" + "".join(f"{s:>16s}" for s in eval_sets))
print(f"{'':25s}" + f"{'R@1':>9s}{'R@4':>7s}" * len(eval_sets))
for rep in represent:
    print(f"{rep:25s}" + "".join(f"{R[rep, s][1]:9.3f}{R[rep, s][4]:7.3f}" for s in eval_sets))

TOL = 0.03  # a smaller difference is within the sampling noise of a few hundred queries


def compared(a, b):
    """How recall a compares with recall b, counting differences below TOL as a tie."""
    return "better than" if a > b + TOL else "worse than" if a < b - TOL else "level with"


for s in eval_sets:
    pix = R["pixels", s][1]
    print(f"\n{s}, R@1 (within {TOL} counts as level):")
    for rep in list(represent)[1:]:
        print(f"  {rep:25s}{R[rep, s][1]:.3f}, {compared(R[rep, s][1], pix)} the pixels ({pix:.3f})")
a, b = R[f"{GLYPHS}: embedding", "classes 0-6"][1], R["7 digits: embedding", "classes 0-6"][1]
print(f"\non classes 0-6 the embedding trained on {GLYPHS} is {compared(a, b)} the one trained "
      f"on 7 digits ({a:.3f} against {b:.3f})")

# %% [markdown]
# Read the table with the verdicts printed under it. On new images of the training classes,
# every learned representation finds a same-class neighbour first far more often than the
# pixels, which the shifts fool. On the unseen digits the two runs part ways. The embedding
# trained on the seven digits is level with the pixels at R@1: its last linear layer was
# trained only to separate 0 to 6, and it keeps only what that task needs. The **layer before
# it** (the 64 pooled convolution features, `embed(..., features=True)`) still holds the
# invariances the network learned (position, contrast, noise) without having thrown away what
# distinguishes 7, 8 and 9, and it beats the pixels there. The same observation made SimCLR
# (section 7) compute its loss on a small "projection head" and keep the layer before it as the
# representation. The embedding trained on the glyph classes beats the pixels on the unseen
# digits with its last layer too: to keep 19 glyphs apart, the projection must keep more of
# what distinguishes one stroke pattern from another, and 7, 8 and 9 profit from it. It pays
# a little on the seven digits, which now share the training with twelve other glyphs (the last
# printed line). This is why face-recognition embeddings are trained on many thousands of
# identities: the more classes the training sees, the more general the distance it learns.
#
# Here are a few queries from the unseen classes and their five nearest neighbours, by pixels
# and by the embedding trained on the glyph classes.

# %%
queries = np.array([0, 60, 200, 330, 480])
flat_unseen = X_unseen.reshape(len(X_unseen), -1)
nb_pix = ML.nearest(flat_unseen[queries], flat_unseen, k=6)[:, 1:]   # drop the query itself
E_unseen = ML.embed(nets[GLYPHS], X_unseen)                            # (N, 32)
nb_feat = ML.nearest(E_unseen[queries], E_unseen, k=6)[:, 1:]
fig, axes = plt.subplots(len(queries), 13, figsize=(12, 1.15 * len(queries)),
                         gridspec_kw={"width_ratios": [1, 0.25] + [1] * 5 + [0.25] + [1] * 5})
for r, q in enumerate(queries):
    row = [q, None] + list(nb_pix[r]) + [None] + list(nb_feat[r])
    for c, (ax, i) in enumerate(zip(axes[r], row, strict=True)):
        if i is None:          # a spacer between the two groups
            ax.axis("off")
            continue
        ax.imshow(X_unseen[i], cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if c > 0:
            ok = y_unseen[i] == y_unseen[q]
            for s in ax.spines.values():
                s.set_color(CLASS_COLORS[2] if ok else CLASS_COLORS[5])
                s.set_linewidth(2.5)
axes[0, 0].set_title("query", fontsize=9)
axes[0, 4].set_title("5 nearest by pixels", fontsize=9)
axes[0, 10].set_title(f"5 nearest by the embedding trained on {GLYPHS}", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# Green frames are neighbours of the query's class, red frames are mistakes. The pixel distance
# returns images whose digit sits at the same place as the query's; the learned embedding returns
# mostly images of the same digit, wherever it sits.
#
# ### 1.5 Mining decides whether training works
#
# Why semi-hard and not simply the hardest negatives? The hardest negative of an anchor is often
# an outlier or a mislabelled image. And at the start of training, when every embedding is
# random, an anchor's hardest positive is usually farther away than its hardest negative, so its
# hardest triplet costs more than the margin. The network can lower that cost without separating
# any classes, just by shrinking every distance. In the limit it maps every image to the same
# point, where $d(a, p) = d(a, n) = 0$ and every triplet costs exactly the margin. This
# **collapse** is not a solution: it satisfies no triplet at all. It is a degenerate stationary
# point of the loss, and training that reaches it does not leave it. FaceNet warns of it; below
# we provoke it by training the same network with batch-hard mining from the start, and compare
# the fraction of triplets that still have a positive loss ("active").

# %%
net_hard = ML.EmbeddingNet(dim=32, normalize=True, width=64, seed=0)
hist_hard = ML.train_embedding(net_hard, X_ml, y_ml, loss="triplet", mining="hard", margin=0.2,
                               steps=STEPS, augment=augment, seed=0)
E_hard = ML.embed(net_hard, X_seen)
spread = np.linalg.norm(E_hard - E_hard.mean(0), axis=1).mean()
print(f"batch-hard mining: final loss {hist_hard.loss[-20:].mean():.3f} (the margin is 0.2); "
      f"mean distance of embeddings to their centre {spread:.4f}; "
      f"R@1 on classes 0-6 {ML.recall_at_k(E_hard, y_seen, (1,))[1]:.3f}")

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.2))
smooth = np.ones(10) / 10
for h, name, c in [(hists["7 digits"], "semi-hard", CLASS_COLORS[0]),
                   (hist_hard, "hard", CLASS_COLORS[5])]:
    ax0.plot(np.convolve(h.loss, smooth, "valid"), color=c, label=name)
    ax1.plot(np.convolve(h.active, smooth, "valid"), color=c, label=name)
ax0.axhline(0.2, color="0.5", ls=":", lw=1)
ax0.text(5, 0.21, "loss of a collapsed embedding = margin", fontsize=8, color="0.4")
ax0.set_title("triplet loss (moving average)")
ax1.set_title("fraction of active triplets")
for ax in (ax0, ax1):
    ax.set_xlabel("step")
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# With batch-hard mining from a random start, the loss sinks to the margin and stays there: every
# image is mapped to (nearly) the same point and every triplet is active forever, with no way out
# (where all embeddings coincide, every distance is zero and pulls in no particular direction, so
# the gradient gives the network nothing to follow). Semi-hard mining starts with all triplets
# active and makes progress: the fraction of active triplets falls as the embedding separates the
# classes, which also means that later batches teach less and less, the usual reason to mine harder
# as training goes on. Batch-hard mining does work when it is started from a reasonable embedding or
# with a soft margin (Hermans et al. 2017). The lesson is general: in metric learning, *which* pairs
# or triplets the loss sees matters as much as the loss itself (Wu et al. 2017; Musgrave et al. 2020
# found that many published gains vanish when the comparison is fair).

# %% [markdown]
# ## 2. Object tracking: searching for a template
#
# **Tracking** asks for the position of one object in every frame of a video, given only a box
# around it in the first frame. The object is generic (nothing says it is a face, a car or a
# cat), its appearance changes over time (light, distance, rotation, occlusion), and it moves
# within a reasonable range between consecutive frames. Henriques et al. (2015) and Bertinetto
# et al. (2016) reformulate the problem as **search**: find the template (the first box) inside a
# search window around the previous position, with a similarity score computed at every offset.
#
# For a template $z$ of $h \times w$ pixels and a window $x$, the **cross-correlation** score at
# offset $(u, v)$ is
#
# $$ s(u, v) = \sum_{i, j} z(i, j)\, x(u + i, v + j) , $$
#
# the convolution layer's operation of lecture 06 with the template as the kernel. Its flaw:
# bright regions score high whatever their pattern. **Normalised cross-correlation** (NCC)
# subtracts the means and divides by the norms,
#
# $$ \mathrm{NCC}(u, v) = \frac{\sum_{i,j} (z(i,j) - \bar z)(x(u+i, v+j) - \bar x_{uv})}
#    {\lVert z - \bar z \rVert\; \lVert x_{uv} - \bar x_{uv} \rVert} \in [-1, 1], $$
#
# where $x_{uv}$ is the window patch under the template: it measures the *pattern* and ignores
# the brightness and the contrast of the patch.
#
# ### 2.1 A video made from two photographs
#
# We make a 60-frame video: a square cut from the photograph of a cat moves over the photograph
# of a temple, turning by 30 degrees and shrinking steadily to 70% of its size, under light that
# dims to about half and comes back, with camera noise, and passing behind a post halfway
# through. The true position of the target is known in every frame, so tracking errors can be
# measured in pixels. The seed of `make_sequence` sets the path the target takes.

# %%
VIDEO = {"rotation": 30.0, "scale": (1.0, 0.7)}   # degrees turned in all; size at start and end
seq = TR.make_sequence(seed=0, **VIDEO)
print(f"{len(seq)} frames of {seq.frames.shape[1]}x{seq.frames.shape[2]} pixels, target "
      f"{seq.size}x{seq.size}; occluded by the post in frames "
      f"{np.flatnonzero(seq.occluded)[[0, -1]]}")
show_t = [0, 12, 24, 33, 45, 59]
fig, axes = plt.subplots(1, len(show_t) + 1, figsize=(13, 2.3),
                         gridspec_kw={"width_ratios": [0.55] + [1] * len(show_t)})
axes[0].imshow(seq.template)
axes[0].set_title("template z", fontsize=9)
axes[0].axis("off")
for ax, t in zip(axes[1:], show_t, strict=True):
    ax.imshow(seq.frames[t])
    x1, y1, x2, y2 = seq.box(t)
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="y", lw=1.5))
    ax.set_title(f"frame {t}, light x{seq.light[t]:.2f}", fontsize=9)
    ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# Here are the two score maps in frame 12, with the search window (64 x 64 pixels) centred on
# the target's position in frame 11: one value per offset of the template inside the window,
# $(64 - 30 + 1)^2 = 35^2$ values.

# %%
t = 12
window = TR.crop(seq.frames[t], seq.centres[t - 1], 64)
maps = {"raw cross-correlation": TR.correlation_map(seq.template, window),
        "normalised cross-correlation": TR.ncc_map(seq.template, window)}
top = round(seq.centres[t - 1][0] - 32)
left = round(seq.centres[t - 1][1] - 32)
true_off = (seq.centres[t][0] - seq.size / 2 - top, seq.centres[t][1] - seq.size / 2 - left)
fig, axes = plt.subplots(1, 3, figsize=(11, 3.5))
axes[0].imshow(window)
axes[0].set_title("search window, frame 12")
axes[0].axis("off")
for ax, (name, m) in zip(axes[1:], maps.items(), strict=True):
    im = ax.imshow(m, cmap="viridis")
    i, j = np.unravel_index(np.argmax(m), m.shape)
    ax.plot(j, i, "r+", ms=14, mew=2, label="peak")
    ax.plot(true_off[1], true_off[0], "o", mfc="none", mec=CLASS_COLORS[3], ms=11, mew=2,
            label="true offset")
    ax.set_title(name)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, fraction=0.045)
axes[2].legend(fontsize=8, loc="lower right")
fig.tight_layout()
plt.show()

# %% [markdown]
# The raw correlation is largest where the window is brightest (the sky), not where the cat is;
# NCC peaks sharply on the target. The peak of NCC is below 1 because the target has turned and
# shrunk a little, the light changed and noise was added, but no other offset comes close.
#
# ### 2.2 SiamFC: correlate learned features
#
# Pixels are a fragile description: turn the target further or change its shape and the pixel
# pattern changes. **SiamFC** (Bertinetto et al. 2016) correlates *learned features* instead:
#
# $$ s(z, x) = a \cdot \big(\phi(z) \star \phi(x)\big) + b , $$
#
# where $\phi$ is a fully convolutional network (no padding, no fully connected layer), applied
# with the same weights to the exemplar $z$ and to the whole search region $x$, and $\star$ is a
# cross-correlation with $\phi(z)$ as the kernel: one convolution gives the score of every offset
# at once. It is a siamese network whose "distance" is a correlation map. Training uses pairs of
# frames of the same object from many videos (ImageNet VID in the paper): the label map is
# positive within a small radius of the true offset and negative elsewhere, and the loss is the
# logistic loss averaged over the map, with positives and negatives weighted equally. At test
# time the template is never updated: the network must have learned a similarity that survives
# appearance changes.
#
# Our version (`dlcv.beyond.tracking.SiamFC`) has three $3 \times 3$ convolutions (8, 16, 16
# channels, total stride 2) and is trained for 120 steps of 16 pairs, cut from *other*
# photographs (astronaut, coffee, rocket, flower, cells, camera man): the exemplar is a
# $30 \times 30$ crop, the search region a copy of its surroundings changed in the ways the video
# changes its target: turned by up to 30 degrees either way, shown at between two thirds of its
# size and a tenth more, darkened or brightened, with noise, and in half of the pairs crossed by
# a bar of random colour that hides part of it. One change to the original: we divide each
# correlation by the norms of the two feature patches (a cosine similarity, the feature version
# of NCC), which makes such a small network train much faster.

# %%
PAIRS = {"rotation": 30.0, "scale": (0.9, 1.5), "occlude": 0.5}  # a scale s shows 1/s of the size
pairs = [TR.siamfc_pairs([TR.photo_at_height(name, 120)], 1, np.random.default_rng(k), **PAIRS)
         for name, k in (("coffee", 3), ("flower", 4))]   # one training pair from each photo
Z, X, L, off = (np.concatenate(parts) for parts in zip(*pairs, strict=True))
fig, axes = plt.subplots(1, 6, figsize=(13, 2.3),
                         gridspec_kw={"width_ratios": [0.5, 1, 0.6, 0.5, 1, 0.6]})
for k in range(2):
    axes[3 * k].imshow(Z[k])
    axes[3 * k].set_title("exemplar z", fontsize=9)
    axes[3 * k + 1].imshow(X[k])
    axes[3 * k + 1].add_patch(Rectangle((off[k, 1] - 0.5, off[k, 0] - 0.5), 30, 30, fill=False,
                                        ec="y", lw=1.5))
    axes[3 * k + 1].set_title("search region x", fontsize=9)
    axes[3 * k + 2].imshow(L[k], cmap="gray")
    axes[3 * k + 2].set_title(f"labels {L.shape[1]}x{L.shape[2]}", fontsize=9)
for ax in axes:
    ax.axis("off")
fig.tight_layout()
plt.show()

siam = TR.SiamFC(width=8, seed=0)
t0 = time.perf_counter()
siam_hist = TR.train_siamfc(siam, seed=0, **PAIRS)
print(f"SiamFC ({count_parameters(siam):,} parameters) trained in "
      f"{time.perf_counter() - t0:.1f} s; loss {siam_hist.loss[:10].mean():.3f} -> "
      f"{siam_hist.loss[-10:].mean():.3f}; distance of the peak to the true offset "
      f"{siam_hist.peak_error[:10].mean():.1f} -> {siam_hist.peak_error[-20:].mean():.1f} px")

# %% [markdown]
# ### 2.3 Three trackers on the video
#
# Each tracker starts from the true box in frame 0 and, in every later frame, searches a
# $64 \times 64$ window centred on its previous estimate and moves to the peak of its score map.
# We report the centre error in every frame and the **precision plot** of tracking benchmarks
# (Wu et al. 2013): the fraction of frames whose centre error is below a threshold, for every
# threshold. Benchmarks summarise it at 20 pixels. Our target is only 30 pixels wide, so 20
# pixels is lenient here (a box that far off barely overlaps the target), and we read 10 pixels
# as well. We say that a tracker *keeps* the target when its error stays within 10 pixels, a
# third of the target's side, in at least 90% of the frames (two equal boxes shifted by a third
# of their side have an intersection over union of 0.5, lecture 09's usual bar). Besides the
# video above (path 0), the trackers run on two more videos with the same changes along other
# paths (seeds 1 and 2 of `make_sequence`).

# %%
methods = {"raw correlation": TR.correlation_map, "NCC": TR.ncc_map,
           "SiamFC (learned)": lambda z, x: TR.siamfc_map(siam, z, x)}
results = {name: TR.track(seq, fn, search=64) for name, fn in methods.items()}
errors = {name: TR.centre_errors(r.centres, seq.centres) for name, r in results.items()}
colors = {name: CLASS_COLORS[i + 1] for i, name in enumerate(methods)}

fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), gridspec_kw={"width_ratios": [1.3, 1, 0.8]})
axes[0].imshow(seq.frames[-1])
axes[0].plot(seq.centres[:, 1], seq.centres[:, 0], "w--", lw=1.5, label="truth")
for name, r in results.items():
    axes[0].plot(r.centres[:, 1], r.centres[:, 0], "-", color=colors[name], lw=1.5, label=name)
axes[0].set_xlim(0, seq.frames.shape[2])
axes[0].set_ylim(seq.frames.shape[1], 0)
axes[0].axis("off")
axes[0].set_title("paths over the last frame")
axes[0].legend(fontsize=7, loc="lower left")
for name, e in errors.items():
    axes[1].semilogy(np.maximum(e, 0.5), color=colors[name], label=name)
    th, frac = TR.precision_curve(e[1:], np.arange(0, 31))
    axes[2].plot(th, frac, color=colors[name], label=name)
occ = np.flatnonzero(seq.occluded)
axes[1].axvspan(occ[0], occ[-1], color="0.9", zorder=0)
axes[1].set_xlabel("frame (grey: behind the post)")
axes[1].set_ylabel("centre error (px)")
axes[1].set_title("error per frame")
for threshold in (10, 20):
    axes[2].axvline(threshold, color="0.5", ls=":")
axes[2].set_xlabel("threshold (px)")
axes[2].set_ylabel("fraction of frames")
axes[2].set_title("precision plot")
axes[2].legend(fontsize=7)
fig.tight_layout()
plt.show()

KEEP_PX, KEEP_SHARE = 10, 0.9   # kept: within KEEP_PX in at least KEEP_SHARE of the frames
videos = {k: seq if k == 0 else TR.make_sequence(seed=k, **VIDEO) for k in (0, 1, 2)}
print(f"{'path':6s}{'tracker':18s}{'mean error':>11s}{f'<= {KEEP_PX} px':>10s}{'<= 20 px':>10s}")
for k, video in videos.items():
    for name, fn in methods.items():
        e = errors[name] if k == 0 else TR.centre_errors(TR.track(video, fn, search=64).centres,
                                                         video.centres)
        e = e[1:]                                       # frame 0 is given
        kept = np.mean(e <= KEEP_PX) >= KEEP_SHARE
        print(f"{k:<6d}{name:18s}{e.mean():8.1f} px{np.mean(e <= KEEP_PX):10.0%}"
              f"{np.mean(e <= 20):10.0%}   {'keeps' if kept else 'loses'} the target")
before = slice(1, occ[0])                               # path 0, up to the post
print(f"\npath 0 before the post (frames 1-{occ[0] - 1}), mean error: " + ", ".join(
    f"{name} {errors[name][before].mean():.1f} px" for name in methods))

# %% [markdown]
# No tracker keeps the cat on any path (the last column). On path 0, in the figure, the raw
# correlation leaves it in the first frames and climbs to the bright sky, as its score map
# predicted. NCC follows the cat through the dimming and the first part of the turn, and loses
# it behind the post, where the cat, already smaller and turned, is also partly hidden: a patch
# of the temple then matches the frame-0 template better than the cat does, the tracker moves
# there, and the cat soon leaves its search window for good, which is why its error keeps
# growing.
#
# SiamFC, trained on pairs with the same kinds of change, does not win at this scale either. It
# is about as precise as NCC before the post (the last line), is pulled onto the post, and then
# follows the cat from beside it rather than on it: within 20 pixels in most frames of paths 0
# and 1, which gives it the smaller mean error there, but within 10 pixels less often than NCC on
# every path, and on path 2 it runs off as well (step through the frames behind and after the
# post in the widget below to see where its box sits). Plainly, the reason is scale. Our network
# has a few thousand weights (printed above) and has seen 120 batches of 16 pairs cut from six
# photographs. Each of its features sees a $9 \times 9$ pixel neighbourhood, and the template is
# correlated as a rigid $11 \times 11$ grid of them, so a turn or a change of size moves its
# features about as much as it moves the pixels; tolerance to these changes has to be learned,
# from far more examples than a few seconds of training provide. The SiamFC of the paper is a
# five-layer convolutional network of the AlexNet family, trained on the thousands of videos of
# ImageNet VID, and its tracker also searches over a few scales and penalises large jumps with a
# cosine window on the score map. With that data and that machinery, learned features beat
# hand-made similarities on real videos, where targets deform, turn away from the camera and
# blur, at over 80 frames per second on a GPU. In a notebook that trains for seconds on a CPU,
# normalised pixels are hard to beat, and both trackers show why a fixed template is not enough.
#
# Note what none of these trackers does: it never updates its template, estimates no change of
# size (SiamFC searches over a small pyramid of scales), and, once it has lost the target, it
# never looks for it again outside its window. Correlation-filter trackers (Bolme et al. 2010,
# Henriques et al. 2015) instead *learn* a template on the first frame by ridge regression in the
# Fourier domain and update it frame by frame; SiamRPN (Li et al. 2018) adds the region proposal
# network of lecture 09 on top of the siamese features, so that the box's size and shape are
# regressed rather than searched.
#
# ### 2.4 Play with it: the score map as the target moves
#
# The widget replays the three trackers frame by frame. Left: the frame, the true box (white,
# dashed), the tracker's box, its search window (dotted) and its path so far. Middle: the search
# window. Right: the score map with its peak (red cross, where the tracker goes) and the true
# offset (circle). Bottom: the error of all three trackers over the video.
#
# Things to try:
#
# 1. Choose *raw correlation* and step through the first frames: where is its peak, and why?
# 2. Choose *NCC*, go to the darkest frames (around 20-30) and to the frames behind the post.
#    How does the peak value change? Is the peak still unique?
# 3. Compare the sharpness of the NCC and SiamFC maps in the same frame. A sharper peak is not
#    automatically a better one: where does each map have its second-highest hill?
# 4. Choose *SiamFC* and step through the frames behind the post and after it. What does its
#    score map respond to while the cat is hidden, and where does its box sit afterwards?
# 5. When the target is close to the edge of the window, what would a fast-moving object do to
#    these trackers? How would you choose the size of the search window?

# %%
tracker_view = TrackerView(seq, methods, search=64, frame=40, results=results, threshold=KEEP_PX)
tracker_view

# %% [markdown]
# ## 3. Training with noisy labels
#
# Large data sets are labelled cheaply: by search-engine queries, by the tags users write, by
# crowd workers paid per click. Such labels are wrong for a few percent of the images in curated
# sets and for tens of percent in web-scale ones (Xiao et al. 2015 estimated about 40% wrong
# labels in their clothing data set collected from shopping sites). A network trained on them
# needs either a loss that does not follow the wrong labels, or a model of how labels go wrong.
#
# ### 3.1 Noise models: the transition matrix
#
# Write $T_{ij} = P(\tilde y = j \mid y = i)$ for the probability that an image of true class
# $i$ carries the observed label $j$. Two standard cases (Frénay & Verleysen 2014):
#
# * **symmetric** (uniform) noise: with probability $r$ the label is replaced by one of the other
#   $C - 1$ classes chosen at random, $T = (1 - r) I + \frac{r}{C - 1}(\mathbf{1}\mathbf{1}^\top
#   - I)$;
# * **asymmetric** (class-conditional) noise: labels go wrong towards a *similar* class, as
#   annotators confuse look-alikes. For the digits we flip 2 → 7, 3 → 8, 5 ↔ 6 and 7 → 1 with
#   probability $r$ (Patrini et al. 2017).
#
# Xiao et al. (2015) go one step further and model the noise *type* of each image as a latent
# variable (no noise, random noise, confusion with a similar class), predicted by a second
# network and trained with EM, using a small set of clean labels.

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 3.9))
for ax, kind in zip(axes, ["symmetric", "asymmetric"], strict=True):
    T = NL.transition_matrix(kind, 0.4, 10)
    ax.imshow(T, cmap="Blues", vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(T):
        if v > 0:
            ax.text(j, i, f"{v:.2f}".lstrip("0"), ha="center", va="center", fontsize=6,
                    color="w" if v > 0.5 else "k")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("observed label j")
    ax.set_ylabel("true label i")
    ax.set_title(f"{kind} noise, r = 0.4")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### 3.2 Networks memorise, first the rules, then the noise
#
# Zhang et al. (2017) showed that a large network can fit *random* labels perfectly: capacity is
# not the limit. Arpit et al. (2017) added the hopeful part: networks learn the patterns shared by
# many examples first, and memorise the exceptions, wrong labels among them, later. With
# cross-entropy the reason is visible in the gradient. The loss $-\log p_y$ has
#
# $$ \frac{\partial(-\log p_y)}{\partial \theta} = -\frac{1}{p_y}\, \frac{\partial p_y}{\partial
#    \theta} , $$
#
# so an example whose label the network finds unlikely (small $p_y$, the typical wrong label)
# gets a *large* weight $1/p_y$. Cross-entropy pays most attention to the examples most likely to
# be wrong.
#
# ### 3.3 Robust losses
#
# A loss that depends only on $p_y$ can be compared with cross-entropy by the weight it gives an
# example's gradient, $w(p_y) = L'(p_y) / (-1/p_y)$:
#
# | loss | $L(p_y)$ | weight $w(p_y)$ |
# |---|---|---|
# | cross-entropy (CE) | $-\log p_y$ | $1$ |
# | MAE (Ghosh et al. 2017) | $\sum_j \lvert p_j - [j = y] \rvert = 2(1 - p_y)$ | $2 p_y$ |
# | generalised CE (GCE; Zhang & Sabuncu 2018) | $(1 - p_y^q)/q$, $0 < q \le 1$ | $p_y^q$ |
#
# MAE is **symmetric**: $\sum_j L(f(x), j)$ is the same constant for every $x$, and Ghosh et al.
# proved that such losses tolerate symmetric noise below $(C-1)/C$. Its weakness is the other side
# of the table: it also gives small weight to clean examples the network has not learned yet, so
# it trains slowly, especially with many classes. GCE interpolates: $q \to 0$ gives CE, $q = 1$
# gives MAE (up to a factor 2). **Bootstrapping** (Reed et al. 2015) keeps CE but mixes the
# network's own prediction into the target, $t = \beta\, e_{\tilde y} + (1 - \beta)\, \hat p$
# (soft) or $t = \beta\, e_{\tilde y} + (1 - \beta)\, e_{\arg\max \hat p}$ (hard), so that a
# confident network can outvote a label it disagrees with.

# %%
p = np.linspace(0.01, 1, 200)
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.2))
ax0.plot(p, -np.log(p), color=CLASS_COLORS[5], label="CE  -log p")
ax0.plot(p, 2 * (1 - p), color=CLASS_COLORS[0], label="MAE  2(1 - p)")
ax0.plot(p, (1 - p ** 0.7) / 0.7, color=CLASS_COLORS[2], label="GCE  (1 - p^q)/q, q = 0.7")
ax0.set_ylim(0, 4)
ax0.set_xlabel("p_y: probability the network gives the (observed) label")
ax0.set_title("loss")
ax0.legend(fontsize=8)
for kind, c in [("ce", CLASS_COLORS[5]), ("mae", CLASS_COLORS[0]), ("gce", CLASS_COLORS[2])]:
    ax1.plot(p, NL.sample_weight(p, kind, q=0.7), color=c, label=kind.upper())
ax1.axvspan(0, 0.2, color="0.9", zorder=0)
ax1.text(0.1, 1.75, "typical\nwrong labels", ha="center", fontsize=8)
ax1.set_xlabel("p_y")
ax1.set_title("weight of the example's gradient, relative to CE")
ax1.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### 3.4 An experiment: half of the digit labels are wrong
#
# We give 50% symmetric noise to the 1257 training digits, train the same three-layer network
# (two hidden layers of 128 units, Adam) for 40 epochs with four losses, and follow three
# numbers per epoch: the accuracy on the *clean* validation labels, and, on the training images
# whose label was flipped, the fraction the network predicts as the *wrong* label it was given
# (memorisation).

# %%
X_tr = digits.X_train.reshape(len(digits.X_train), -1) / 16.0
X_va = digits.X_val.reshape(len(digits.X_val), -1) / 16.0
X_te = digits.X_test.reshape(len(digits.X_test), -1) / 16.0
y_noisy, flipped = NL.corrupt_labels(digits.y_train, "symmetric", 0.5, 10, seed=0)
print(f"{flipped.mean():.1%} of the training labels are wrong")
noisy_runs, noisy_models = {}, {}
t0 = time.perf_counter()
for loss in ["ce", "bootstrap-hard", "gce", "mae"]:
    model = make_net(64, 10, hidden=128, layers=2, seed=0)
    noisy_runs[loss] = NL.fit_with_loss(model, X_tr, y_noisy, X_va, digits.y_val, loss,
                                        epochs=40, batch_size=32, lr=1e-3, flipped=flipped)
    noisy_models[loss] = model
print(f"four runs in {time.perf_counter() - t0:.1f} s")

loss_colors = {"ce": CLASS_COLORS[5], "bootstrap-hard": CLASS_COLORS[3], "gce": CLASS_COLORS[2],
               "mae": CLASS_COLORS[0]}
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.4))
for loss, h in noisy_runs.items():
    ax0.plot(h.val_acc, color=loss_colors[loss], label=loss)
    ax1.plot(h.memorised, color=loss_colors[loss], label=loss)
ax0.set_ylim(0.5, 1)
ax0.set_title("accuracy on clean validation labels")
ax1.set_title("flipped training images predicted as their wrong label")
for ax in (ax0, ax1):
    ax.set_xlabel("epoch")
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
print(f"{'loss':15s} {'best val':>9s} {'at epoch':>9s} {'last val':>9s} {'memorised':>10s}")
for loss, h in noisy_runs.items():
    print(f"{loss:15s} {h.val_acc.max():9.3f} {h.best_epoch:9d} {h.val_acc[-1]:9.3f} "
          f"{h.memorised[-1]:10.2f}")

# %% [markdown]
# Cross-entropy reaches its best validation accuracy within a few epochs, then memorises the
# wrong labels (the right panel climbs) and its validation accuracy falls. Bootstrapping delays
# the fall a little; GCE and MAE memorise far less and keep most of their accuracy. On ten
# classes and 64 inputs MAE trains fast enough; on harder problems its slowness shows, which is
# why GCE, with its tunable $q$, is often preferred.
#
# ### 3.5 Early stopping, with patience
#
# The CE curve suggests the cheapest defence of all: stop at the peak. **Early stopping**
# evaluates the validation accuracy after every epoch, remembers the best weights, and stops when
# there has been no improvement for `patience` epochs; the best weights are returned (lecture 05
# used it as a checkpoint). It is a regulariser: the number of steps limits how far the weights
# can travel from their small initial values, and for a quadratic loss with gradient descent the
# effect is close to an L2 penalty whose strength falls as training goes on (Goodfellow et al.
# 2016, section 7.8). Its price is the validation set, and a patience to choose: too small and a
# noisy curve stops training too soon, too large and time is wasted. One more caution: the
# validation accuracy at the chosen epoch is optimistic, since that epoch was picked for being
# the best on these 180 images; the test set gives the honest number.

# %%
h_ce = noisy_runs["ce"]
fig, ax = plt.subplots(figsize=(9, 3.2))
ax.plot(h_ce.val_acc, "o-", ms=3, color=CLASS_COLORS[5], label="CE, clean validation accuracy")
for patience, c in [(2, CLASS_COLORS[1]), (5, CLASS_COLORS[0]), (10, CLASS_COLORS[2])]:
    stop, best = NL.early_stopping(h_ce.val_acc, patience=patience)
    ax.axvline(stop, color=c, ls="--", lw=1.2,
               label=f"patience {patience}: stop at epoch {stop}, keep epoch {best} "
                     f"({h_ce.val_acc[best]:.3f})")
ax.set_xlabel("epoch")
ax.set_ylabel("accuracy")
ax.set_ylim(0.5, 1)
ax.legend(fontsize=8, loc="lower left")
ax.set_title("early stopping replayed on the CE run")
fig.tight_layout()
plt.show()
model_es = make_net(64, 10, hidden=128, layers=2, seed=0)
model_es.load_state_dict(h_ce.best_state)
print(f"test accuracy with the kept CE weights: {evaluate(model_es, X_te, digits.y_test)[1]:.3f}, "
      f"with the weights after 40 epochs: "
      f"{evaluate(noisy_models['ce'], X_te, digits.y_test)[1]:.3f}")

# %% [markdown]
# ## 4. Robust regression: a Gaussian-uniform mixture fitted by EM
#
# Regression suffers from wrong targets too: an age estimator trained on faces whose ages were
# typed in wrong, a pose estimator with swapped keypoints. The usual loss, the squared error, has
# gradient $2\delta$ for a residual $\delta$: the larger the error, the more attention the
# example gets, and an outlier with a huge residual dominates the fit. The Huber loss caps the
# gradient beyond a threshold but never ignores a point. **DeepGUM** (Lathuilière et al. 2018)
# models the targets as a mixture: an inlier is Gaussian around the prediction, an outlier is
# uniform over the range of targets,
#
# $$ p(y_i \mid x_i) = \underbrace{\rho}_{\text{inlier prior}}\,
#    \mathcal{N}\big(y_i;\, f_\theta(x_i),\, \sigma^2\big)
#    + \underbrace{(1 - \rho)}_{\text{outlier prior}}\, \mathcal{U}(y_i;\, \gamma),
#    \qquad \mathcal{U}(y; \gamma) = 1/\gamma . $$
#
# Maximising this likelihood directly is awkward (a log of a sum); **expectation-maximisation**
# (Dempster et al. 1977) alternates two easy steps.
#
# * **E-step**: with the current parameters, the posterior probability that point $i$ is an
#   inlier (its **responsibility**):
#
#   $$ r_i = \frac{\rho\, \mathcal{N}(y_i; f_\theta(x_i), \sigma^2)}
#   {\rho\, \mathcal{N}(y_i; f_\theta(x_i), \sigma^2) + (1 - \rho)/\gamma} . $$
#
# * **M-step**: maximise the expected complete-data log-likelihood, which separates:
#
#   $$ \theta \leftarrow \arg\min_\theta \sum_i r_i\, \big(y_i - f_\theta(x_i)\big)^2, \qquad
#   \sigma^2 = \frac{\sum_i r_i (y_i - f_\theta(x_i))^2}{\sum_i r_i}, \qquad
#   \rho = \frac1n \sum_i r_i . $$
#
# For a line $f(x) = ax + b$ the $\theta$ step is weighted least squares, solved exactly; for a
# network (DeepGUM) it is a few epochs of SGD on the weighted squared error. A point that the
# model finds implausible gets $r_i \approx 0$ and simply drops out of the fit, however large its
# residual: the weights of section 3.3 again, now computed from a probabilistic model. EM never
# decreases the likelihood, but it finds a *local* maximum, so the start matters.

# %%
line = gum.line_with_outliers(120, 0.3, seed=0)
fit_em = gum.gum_em(line.x, line.y, iterations=20)
a_ls, b_ls = gum.least_squares(line.x, line.y)
huber = HuberRegressor().fit(line.x[:, None], line.y)
xs = np.array([-2.2, 2.2])
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.8))
sc = ax0.scatter(line.x, line.y, c=fit_em.resp[-1], cmap="coolwarm_r", vmin=0, vmax=1, s=16,
                 edgecolors="k", linewidths=0.3)
ax0.plot(xs, line.slope * xs + line.intercept, "k--", lw=1, label="true line")
ax0.plot(xs, a_ls * xs + b_ls, color="0.5", lw=1.5, label="least squares")
ax0.plot(xs, huber.coef_[0] * xs + huber.intercept_, color=CLASS_COLORS[1], lw=1.5,
         label="Huber")
ax0.plot(xs, fit_em.slope[-1] * xs + fit_em.intercept[-1], color=CLASS_COLORS[2], lw=2.5,
         label="Gaussian-uniform EM")
fig.colorbar(sc, ax=ax0, fraction=0.04, label="responsibility r_i")
ax0.legend(fontsize=7, loc="upper left")
ax0.set_title("30% uniform outliers")
ax1.plot(fit_em.loglik, "o-", ms=3)
ax1.set_xlabel("EM iteration")
ax1.set_ylabel("log-likelihood")
ax1.set_title("EM from the least-squares start")
fig.tight_layout()
plt.show()
print(f"true      y = {line.slope:.3f} x + {line.intercept:.3f}")
print(f"LS        y = {a_ls:.3f} x + {b_ls:.3f}")
print(f"Huber     y = {huber.coef_[0]:.3f} x + {huber.intercept_:.3f}")
print(f"GUM (EM)  y = {fit_em.slope[-1]:.3f} x + {fit_em.intercept[-1]:.3f}, "
      f"rho = {fit_em.rho[-1]:.2f} (true inlier share {line.inlier.mean():.2f}), "
      f"sigma = {fit_em.sigma[-1]:.3f} (true 0.15)")
found = fit_em.resp[-1] > 0.5
print(f"points classified right by r_i > 0.5: {np.mean(found == line.inlier):.1%}")

# %% [markdown]
# Least squares is dragged towards the outliers; Huber resists better; the mixture recovers the
# line, its noise level and the share of inliers, and labels more than nine points in ten
# correctly (the junk points that happen to fall close to the line are, reasonably, called
# inliers). The
# log-likelihood rises at every iteration and levels off after a handful.
#
# The same alternation works when $f_\theta$ is a network, as in DeepGUM: below, a small
# network regresses a sine from 200 points of which 30% are replaced by junk. After a warm-up on
# the plain squared error, each round computes the responsibilities (E-step), updates $\sigma$
# and $\rho$, and takes 30 Adam steps on the weighted squared error (M-step for $\theta$). A
# twin network with the same start takes the same number of steps on the unweighted error.

# %%
sine = gum.line_with_outliers(200, 0.3, seed=1)
y_sine = np.sin(1.5 * sine.x) + np.random.default_rng(1).normal(0, 0.1, len(sine.x))
y_sine[~sine.inlier] = sine.y[~sine.inlier]
t0 = time.perf_counter()
deep = gum.gum_network(sine.x, y_sine, seed=0)
print(f"trained in {time.perf_counter() - t0:.1f} s; rho = {deep.rho:.2f}, "
      f"sigma = {deep.sigma:.3f}")
grid = np.linspace(-2, 2, 200, dtype=np.float32)
with torch.no_grad():
    f_gum = deep.model(torch.from_numpy(grid)[:, None])[:, 0].numpy()
    f_l2 = deep.baseline(torch.from_numpy(grid)[:, None])[:, 0].numpy()
truth = np.sin(1.5 * grid)
fig, ax = plt.subplots(figsize=(8, 3.6))
sc = ax.scatter(sine.x, y_sine, c=deep.resp, cmap="coolwarm_r", vmin=0, vmax=1, s=12,
                edgecolors="k", linewidths=0.2)
ax.plot(grid, truth, "k--", lw=1, label="true function")
ax.plot(grid, f_l2, color="0.5", lw=2, label=f"squared error (mean |error| "
        f"{np.abs(f_l2 - truth).mean():.3f})")
ax.plot(grid, f_gum, color=CLASS_COLORS[2], lw=2.5, label=f"Gaussian-uniform (mean |error| "
        f"{np.abs(f_gum - truth).mean():.3f})")
fig.colorbar(sc, ax=ax, fraction=0.04, label="responsibility")
ax.legend(fontsize=8, loc="lower right")
ax.set_title("a network fitted with EM-weighted squared error")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### 4.1 Play with it: EM one iteration at a time
#
# The widget fits the line by EM and lets you step through the iterations. Left: the points
# coloured by their responsibility (blue: inlier, orange: outlier), the true line, least squares
# and the current EM line. Middle: the histogram of the current residuals with the fitted mixture
# density, a narrow Gaussian on a flat uniform floor. Right: the log-likelihood and $\rho$ over the
# iterations.
#
# Things to try:
#
# 1. Step from iteration 0 to 5 with 30% uniform outliers. Which points lose their weight first?
#    How many iterations does EM need?
# 2. Raise the outlier fraction to 0.5, then 0.7. Uniform outliers spread over the whole range,
#    so even a minority of inliers forms the densest structure: the mixture still finds the line.
# 3. Switch to *clustered* outliers at 0.2, then 0.4. A tight clump is not what the model expects
#    (it assumes outliers are spread out). At 0.4, which component does EM give to the clump?
#    The likelihood still rises at every step: EM converged, to the wrong answer.
# 4. Start from a *flat* line instead of least squares. Does EM reach the same answer? When is
#    the start decisive?

# %%
em_view = GUMEMView(fraction=0.3, kind="uniform", iteration=2)
em_view

# %% [markdown]
# ## 5. Knowledge distillation
#
# The most accurate models are large ensembles or huge networks; the devices that must run them
# are small. Buciluǎ, Caruana & Niculescu-Mizil (2006) compressed an ensemble by training one
# model on the ensemble's outputs; Hinton, Vinyals & Dean (2015) gave the method its name and
# its standard form, **knowledge distillation**. A large **teacher** is trained first. A small
# **student** is then trained to reproduce the teacher's output distribution, not just its
# top answer.
#
# Why the distribution? A teacher that says "this 2 is a 2 with probability 0.98, a 3 with
# probability 0.015 and a 7 with 0.004" also says which wrong classes are plausible: how the
# classes resemble each other, which a one-hot label does not. Hinton called it *dark knowledge*.
# Those small probabilities barely matter in a cross-entropy, so the softmax is softened with a
# **temperature** $T$:
#
# $$ p_i^{(T)} = \frac{\exp(z_i / T)}{\sum_j \exp(z_j / T)} , $$
#
# where $z$ are the logits. $T = 1$ is the usual softmax; a larger $T$ raises the small
# probabilities. The student with logits $s$ minimises
#
# $$ \mathcal{L} = \alpha\, T^2\, \mathrm{KL}\big(p^{(T)}(z_{\text{teacher}}) \,\big\|\,
#    p^{(T)}(s)\big) + (1 - \alpha)\, \mathrm{CE}\big(\mathrm{softmax}(s),\, y\big) . $$
#
# The gradient of the KL term with respect to $s_i$ is $\big(p_i^{(T)}(s) - p_i^{(T)}(z)\big)
# / T$. At a high temperature both distributions are close to uniform and their difference is
# itself of order $1/T$, so the gradient shrinks like $1/T^2$; the factor $T^2$ puts it back on
# the level of the hard-label term whatever the temperature. For large $T$ it becomes
# $(s_i - z_i)/(CT^2)$ for logits with zero mean: matching soft targets at high temperature is
# matching the logits, which is what Ba & Caruana (2014) did.
#
# ### 5.1 A teacher and its soft targets

# %%
X_tr_img = digits.X_train[:, None] / 16.0   # (N, 1, 8, 8) for the CNN teacher
X_va_img = digits.X_val[:, None] / 16.0     # fit records its accuracy here after every epoch
X_te_img = digits.X_test[:, None] / 16.0
teacher = SmallCNN(10, widths=(16, 32, 64), seed=0)
t0 = time.perf_counter()
fit(teacher, X_tr_img, digits.y_train, X_va_img, digits.y_val, epochs=12, batch_size=32, lr=2e-3,
    optimizer="adam")
acc_teacher = evaluate(teacher, X_te_img, digits.y_test)[1]
print(f"teacher: {count_parameters(teacher):,} parameters, test accuracy {acc_teacher:.3f} "
      f"(trained in {time.perf_counter() - t0:.1f} s)")
teacher.eval()
with torch.no_grad():
    logits_tr = teacher(torch.tensor(X_tr_img, dtype=torch.float32)).numpy()  # (N, 10)

# show an image the teacher gets right but finds ambiguous: the smallest gap between its two
# largest logits
top2 = np.sort(logits_tr, axis=1)[:, -2:]                      # (N, 2)
right = logits_tr.argmax(1) == digits.y_train
i_show = int(np.flatnonzero(right)[np.argmin((top2[:, 1] - top2[:, 0])[right])])
fig, axes = plt.subplots(1, 4, figsize=(12, 2.6), gridspec_kw={"width_ratios": [0.6, 1, 1, 1]})
axes[0].imshow(digits.X_train[i_show], cmap="gray")
axes[0].set_title(f"label {digits.y_train[i_show]}")
axes[0].axis("off")
for ax, T in zip(axes[1:], [1, 4, 10], strict=True):
    pT = KD.soft_targets(logits_tr[i_show:i_show + 1], T)[0]
    ax.bar(range(10), pT, color=[CLASS_COLORS[1] if k == digits.y_train[i_show] else "0.6"
                                 for k in range(10)])
    ax.set_xticks(range(10))
    ax.set_ylim(0, 1)
    ax.set_title(f"teacher's softmax at T = {T}")
fig.tight_layout()
plt.show()

# %% [markdown]
# This is the training image the teacher finds most ambiguous among those it classifies right,
# and even so, at $T = 1$ its target is close to one-hot: a well-trained teacher is confident on
# its own training set. At $T = 4$ and $T = 10$ the other classes appear, in an order that says
# which digits this one resembles. That information is invisible at $T = 1$, and it is what the
# student is asked to reproduce.
#
# ### 5.2 A student with few labels: the teacher labels the rest
#
# The student is a fully connected network with one hidden layer of 32 units, a small fraction of
# the teacher's size (the cell below prints both parameter counts and their ratio).
#
# Distillation pays where labels are scarce and images are not. Hinton et al. point out that the
# **transfer set**, the images on which the student learns to match the teacher, need not be
# labelled: the teacher provides the targets. We simulate that situation. The student's owner
# has labelled 3 images of each digit (30 images, about 2% of the training set) and has the other
# training images without their labels; the teacher of 5.1 was trained on all the labels, as if
# by someone with more labelled data. Three students, each trained from the same three
# initialisations with the same optimiser for the same number of steps:
#
# * **labels only**: the 30 labelled images with their labels, all a student can do without a
#   teacher;
# * **distilled**: all 1257 training images as the transfer set, with the teacher's soft targets
#   at $T = 4$ and no labels ($\alpha = 1$);
# * **teacher's top class**: the same transfer set, each image labelled with the teacher's most
#   probable class. This is a control: it tells how much of distillation's gain needs the soft
#   targets and how much needs only the teacher's answers.

# %%
def student(seed):
    return make_net(64, 10, hidden=32, layers=1, seed=seed)


n_student, n_teacher = count_parameters(student(0)), count_parameters(teacher)
print(f"student: {n_student:,} parameters, against the teacher's {n_teacher:,}: "
      f"{n_teacher / n_student:.1f} times fewer")
top_class = logits_tr.argmax(1)                                    # (N,) the teacher's answers
print(f"the teacher's top class is the true label on {np.mean(top_class == digits.y_train):.1%} "
      f"of its training images")
with torch.no_grad():
    teacher_pred = teacher(torch.tensor(X_te_img, dtype=torch.float32)).argmax(1).numpy()
PER_CLASS, STEPS = 3, 600
transfer = np.arange(len(X_tr))                                    # every training image
runs = {"labels only": [], "top class": [], "distilled": []}      # (accuracy, agreement)
for seed in range(3):
    labelled = few_shot_indices(digits.y_train, PER_CLASS, seed=seed)   # 3 images per digit
    for name, idx, targets, T, alpha in [("labels only", labelled, digits.y_train, 1.0, 0.0),
                                         ("top class", transfer, top_class, 1.0, 0.0),
                                         ("distilled", transfer, top_class, 4.0, 1.0)]:
        s = student(seed)                  # alpha = 1: the targets are not used, only the logits
        KD.fit_distilled(s, X_tr[idx], targets[idx], logits_tr[idx], T=T, alpha=alpha,
                         steps=STEPS, lr=1e-2, seed=seed)
        with torch.no_grad():
            pred = s(torch.tensor(X_te, dtype=torch.float32)).argmax(1).numpy()
        runs[name].append((np.mean(pred == digits.y_test), np.mean(pred == teacher_pred)))
acc_of = {name: np.array(r)[:, 0] for name, r in runs.items()}
print(f"\n{f'student, {STEPS} steps on':45s} {'test accuracy':>13s} {'agrees with teacher':>21s}")
for label, name in [(f"{len(labelled)} labelled images, their labels", "labels only"),
                    (f"{len(transfer)} images, the teacher's top class", "top class"),
                    (f"{len(transfer)} images, soft targets at T = 4", "distilled")]:
    agree = np.mean(np.array(runs[name])[:, 1])
    print(f"{label:45s} {acc_of[name].mean():.3f} ± {acc_of[name].std():.3f} {agree:>21.1%}")
print(f"{'teacher':45s} {acc_teacher:.3f}")
gain = acc_of["distilled"] - acc_of["labels only"]
extra = acc_of["distilled"] - acc_of["top class"]
print(f"\ndistilled against labels only: {gain.mean():+.3f} "
      f"(better on {np.sum(gain > 0)} of 3 seeds)")
print(f"distilled against top class:   {extra.mean():+.3f} "
      f"(better on {np.sum(extra > 0)} of 3 seeds; the difference varies by {extra.std():.3f} "
      f"between seeds)")

# %% [markdown]
# The transfer set makes the difference (the first line under the table): with the teacher's
# outputs on images that nobody labelled, the student learns far more than from its own 30
# labels, and it agrees with the teacher on most test images.
#
# The control says where that gain comes from. On its own training images the teacher's top
# class is the true label (the line above the table), and the teacher is nearly certain of it
# (section 5.1), so the control student is in effect trained on all the labels. The soft targets
# add to it only the small probabilities of the wrong classes; the last line says what they were
# worth here. They carry the most where the top class leaves something out. Hinton et al.
# trained a speech model on 3% of its data set: with hard targets it overfitted badly, with the
# soft targets of a teacher trained on all the data it came close to a model trained on all of
# it. Their next experiment, which we repeat, makes the top class leave out a whole digit.
#
# ### 5.3 Learning a digit from the teacher alone
#
# Remove every 3 from the student's training set. A student trained on labels has never been
# told that 3s exist. The distilled student has not seen a 3 either, but the teacher's soft
# targets on the other digits mention "3" all the time: this 5 looks a little like a 3, this 8
# too. Because class 3 is never the answer during training, its bias ends up too low, so, as
# Hinton et al. did, we raise the bias of class 3 after training by the amount that makes 10% of
# the *validation* images come out as 3 (the share of every digit).

# %%
no3 = digits.y_train != 3
X_va_flat = X_va
is3 = digits.y_test == 3
results_no3 = {}
for name, T, alpha in [("labels only", 1.0, 0.0), ("distilled, T = 4", 4.0, 1.0),
                       ("distilled, T = 8", 8.0, 1.0)]:
    rows = []
    for seed in range(3):
        s = student(seed)
        KD.fit_distilled(s, X_tr[no3], digits.y_train[no3], logits_tr[no3], T=T, alpha=alpha,
                         epochs=30, seed=seed)
        with torch.no_grad():
            s_val = s(torch.tensor(X_va_flat, dtype=torch.float32)).numpy()
            s_te = s(torch.tensor(X_te, dtype=torch.float32)).numpy()
        raw3 = np.mean(s_te[is3].argmax(1) == 3)
        gap = np.delete(s_val, 3, axis=1).max(1) - s_val[:, 3]   # how far 3 is from winning
        shift = np.quantile(gap, 0.10)                          # 10% of validation images -> 3
        s_te[:, 3] += shift
        pred = s_te.argmax(1)
        rows.append((raw3, np.mean(pred[is3] == 3), np.mean(pred == digits.y_test), shift))
    results_no3[name] = np.mean(rows, axis=0)
print(f"{'':18s} {'3s right':>9s} {'3s right':>9s} {'all digits':>11s} {'bias shift':>11s}")
print(f"{'':18s} {'(raw)':>9s} {'(shifted)':>9s} {'(shifted)':>11s}")
for name, (raw3, s3, acc, sh) in results_no3.items():
    print(f"{name:18s} {raw3:9.1%} {s3:9.1%} {acc:11.1%} {sh:11.2f}")

# %% [markdown]
# Without the shift no student recognises a single 3 (the raw column). With it, the label-trained student recognises far
# fewer 3s than the distilled students, which recognise most of them: the teacher taught a class it
# never showed. (The label-trained student's class-3 output was only ever pushed down; after the
# shift it fires for whatever looks least like the other nine digits.) (Hinton et al. report 98.6%
# of the 3s of MNIST recognised by a distilled student that never saw one, after the same kind of
# bias correction.)
#
# Later work distils intermediate features as well as outputs (FitNets, Romero et al. 2015),
# distils a network into a copy of itself, which often improves it ("born-again networks",
# Furlanello et al. 2018), and finds that distillation works best as *function matching*:
# teacher and student see the same, heavily augmented images for a long time (Beyer et al. 2022).

# %% [markdown]
# ## 6. Architecture search and any-time prediction
#
# How many layers, at which resolutions, with which connections? Lecture 07 followed the
# designers' answers from AlexNet to DenseNet. **Neural architecture search** automates the
# choice: Zoph & Le (2017) trained a recurrent controller with reinforcement learning to propose
# architectures, each trained to measure its accuracy, at the cost of thousands of GPU days;
# later methods share weights between candidates and relax the discrete choice into a
# continuous one (DARTS, Liu et al. 2019). Two ideas from the source course avoid the search
# altogether.
#
# ### 6.1 Convolutional neural fabrics: train all the architectures at once
#
# Saxena & Verbeek (2016) lay out feature maps on a trellis: columns are layers, rows are scales
# (resolution halves from row to row). Every node receives input from three nodes of the previous
# layer: the same scale (a $3 \times 3$ convolution), the next finer scale (a strided $3 \times 3$
# convolution) and the next coarser scale (upsampling, then a convolution); the three results are
# summed and passed through a non-linearity. A chain of nodes through the trellis is a plain CNN;
# the fabric contains all of them, and training the fabric trains all of them together, with the
# learned weights deciding which connections matter. With enough layers and channels, $3 \times 3$
# convolutions between scales can express pooling (average and max), strided convolution,
# nearest-neighbour, bilinear or learned upsampling, and, spread over several layers, filters of any
# size. A classification CNN and a U-Net-like encoder-decoder are two of the paths.

# %%
fig, ax = plt.subplots(figsize=(10, 3.8))
FB.draw_fabric(ax, layers=8, scales=4)
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
ax.set_title("a convolutional neural fabric: 8 layers x 4 scales")
fig.tight_layout()
plt.show()
print(f"{'fabric':>16s} {'chains input -> coarsest':>26s} {'chains input -> finest':>24s}")
for L_, S_ in [(8, 4), (16, 5), (32, 6)]:
    print(f"{f'{L_} x {S_}':>16s} {FB.count_paths(L_, S_, 0, S_ - 1):>26,d} "
          f"{FB.count_paths(L_, S_, 0, 0):>24,d}")

# %% [markdown]
# The number of chains grows exponentially with the number of layers: a 32-layer fabric with
# six scales contains more chain architectures than any search could ever train one by one, yet
# costs only as much as one network with $L \times S$ nodes. (A fabric counts channels as a third
# dimension too, with connections between neighbouring channel groups; we drew the two
# dimensions that matter for the architecture.)
#
# **A fabric on the digits.** `dlcv.beyond.fabrics.Fabric` is the trellis as a network: each node
# sums the convolutions of its incoming edges, then applies batch normalisation and a ReLU. As in
# the paper, the first layer also goes down within itself, from the input's scale to the coarser
# ones, and the last layer goes down towards the output node at the coarsest scale, whose average
# over positions feeds a linear classifier. We train a fabric of 4 layers and 3 scales
# ($8 \times 8$, $4 \times 4$, $2 \times 2$) with 8 channels per node. Against it we train one
# of its own chains as a plain CNN (`chain_cnn`): a classification path like the one drawn above
# (full resolution, then one scale down per layer), widened until it has about as many
# parameters as the fabric.
# Both see the same data, with the same optimiser, epochs and seed.

# %%
fabric = FB.Fabric(layers=4, scales=3, channels=8, seed=0)
n_fabric = count_parameters(fabric)
path = FB.example_paths(4, 3)["classification CNN"]               # scales [0, 0, 1, 2]
width = min(range(4, 65), key=lambda w: abs(count_parameters(FB.chain_cnn(path, w)) - n_fabric))
chain = FB.chain_cnn(path, width, seed=0)
print(f"{'network':34s} {'parameters':>10s} {'convolutions':>12s} {'MACs/image':>10s} "
      f"{'test accuracy':>13s} {'training':>8s}")
fab_rows = {}
for name, net in [("fabric, 4 layers x 3 scales x 8", fabric),
                  (f"its chain {path}, width {width}", chain)]:
    macs = count_flops(net, (1, 1, 8, 8))
    log = FB.train_classifier(net, X_tr_img, digits.y_train, epochs=5, seed=0)
    acc = evaluate(net, X_te_img, digits.y_test)[1]
    n_conv = sum(isinstance(m, torch.nn.Conv2d) for m in net.modules())
    fab_rows[name] = (acc, macs, log.seconds)
    print(f"{name:34s} {count_parameters(net):>10,d} {n_conv:>12d} {macs:>10,d} {acc:>13.3f} "
          f"{log.seconds:>7.1f}s")
(acc_f, macs_f, sec_f), (acc_c, macs_c, sec_c) = fab_rows.values()
print(f"the fabric is {'more' if acc_f > acc_c else 'not more'} accurate than its chain; it does "
      f"{'fewer' if macs_f < macs_c else 'more'} multiply-accumulates per image and is "
      f"{sec_f / sec_c:.1f} times {'slower' if sec_f > sec_c else 'faster'} to train")

# %% [markdown]
# The table answers the question a fabric raises: is one network holding all the chains better
# than one chain of the same size? On the digits it is not (the last line). A fabric's promise
# is not more accuracy per parameter than a well-chosen chain; it is that nobody has to choose.
# The chain above is one of the fabric's paths, picked by us with the designers' habit (full
# resolution first, then down); the fabric trains all its paths together and lets the weights
# pick. At this scale there is little to pick from: three resolutions of an $8 \times 8$ digit
# and four layers. The price shows in the other columns. The fabric spreads the same number of
# parameters over many small convolutions at every scale; it does not do more arithmetic than the
# chain (the MACs column and the last line), but many small convolutions use a processor poorly,
# so it takes longer to train. Saxena & Verbeek report results on MNIST and CIFAR-10
# "competitive with the state of the art", not better than the best hand-designed networks of
# the time; what a fabric saves is the search.
#
# ### 6.2 Multi-scale dense networks: stop when you are sure
#
# Some images are easy and some are hard; a network that spends the same computation on all of
# them wastes most of it on the easy ones. **MSDNet** (Huang et al. 2018) attaches classifiers
# at several depths and lets an image leave at the first classifier that is confident enough.
# It serves two settings: **any-time prediction** (the network may be interrupted at any moment
# and must then give its best answer so far) and **budgeted batch classification** (a fixed
# budget for a whole set of images, spent mostly on the hard ones).
#
# Two design problems appear when classifiers are attached to an ordinary CNN, and MSDNet solves
# each:
#
# * *early layers lack coarse-scale features*, which classification needs: MSDNet keeps a grid
#   of feature maps at several scales from the very first layer (horizontal: regular
#   convolutions; diagonal: strided convolutions from the finer scale), and its classifiers read
#   the coarsest scale;
# * *early classifiers hurt the later ones*, because they force early features to be directly
#   discriminative: **dense connectivity** (DenseNet, lecture 07) passes every earlier feature map
#   on, so that later layers can recover what the early classifiers' training discarded.

# %%
fig, ax = plt.subplots(figsize=(6.5, 4.6))
AT.draw_msdnet(ax, layers=4, scales=3)
ax.set_title("MSDNet: 3 scales x 4 layers, an exit after every layer\n"
             "(blue: strided convolutions, pink: dense connections)", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### 6.3 An any-time network on the digits
#
# `dlcv.beyond.anytime.EarlyExitNet` is a small CNN with three blocks and an exit classifier after each
# (a single-scale, non-dense cousin of MSDNet, enough to see the trade-off). All exits are trained
# together on the sum of their cross-entropies. At test time an image leaves at the first exit
# whose top probability reaches a threshold; the last exit answers for the rest. Sweeping the
# threshold traces accuracy against the average number of multiply-accumulates per image.

# %%
ee = AT.EarlyExitNet(widths=(8, 16, 32), seed=0)
t0 = time.perf_counter()
AT.train_early_exits(ee, X_tr_img, digits.y_train, epochs=25, seed=0)
print(f"trained in {time.perf_counter() - t0:.1f} s")
probs = AT.exit_probabilities(ee, X_te_img)          # (3, N, 10)
costs = AT.exit_costs(ee)                            # (3,) MACs to reach each exit
for k in range(3):
    print(f"exit {k + 1}: {costs[k]:>7,d} MACs, test accuracy "
          f"{np.mean(probs[k].argmax(1) == digits.y_test):.3f}")
thresholds = np.r_[0.0, np.round(np.arange(0.30, 0.991, 0.03), 2), 0.999, 1.01]
curve = AT.budgeted(probs, digits.y_test, costs, thresholds)

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.5))
ax0.plot(curve.mean_cost, curve.accuracy, "o-", ms=3, color=CLASS_COLORS[0],
         label="confidence threshold swept")
ax0.plot(costs, [np.mean(p.argmax(1) == digits.y_test) for p in probs], "s", ms=9,
         color=CLASS_COLORS[5], label="every image leaves at exit 1, 2 or 3")
i90 = int(np.argmin(np.abs(thresholds - 0.9)))
ax0.annotate(f"threshold {thresholds[i90]:.2f}", (curve.mean_cost[i90], curve.accuracy[i90]),
             (curve.mean_cost[i90] + 40000, curve.accuracy[i90] - 0.1), fontsize=8,
             arrowprops=dict(arrowstyle="->"))
ax0.set_xlabel("mean MACs per image")
ax0.set_ylabel("test accuracy")
ax0.legend(fontsize=8, loc="lower right")
ax0.set_title("any-time network: accuracy against compute")
ax1.stackplot(thresholds[1:-1], curve.exit_fraction[1:-1].T, colors=CLASS_COLORS[:3],
              labels=["exit 1", "exit 2", "exit 3"], alpha=0.8)
ax1.set_xlabel("confidence threshold")
ax1.set_ylabel("share of test images")
ax1.legend(fontsize=8, loc="upper left")
ax1.set_title("where the images leave")
fig.tight_layout()
plt.show()
print(f"threshold {thresholds[i90]:.2f}: accuracy {curve.accuracy[i90]:.3f} at "
      f"{curve.mean_cost[i90]:,.0f} MACs on average, {curve.mean_cost[i90] / costs[-1]:.0%} of "
      f"the full network ({costs[-1]:,d} MACs, accuracy {curve.accuracy[-1]:.3f})")

# %% [markdown]
# The first exit is cheap and weak, the second already good; the confidence rule lets most easy
# digits leave early and sends the uncertain ones on. Near a threshold of 0.9 the network matches
# (sometimes beats, by luck of the split) the accuracy of its last exit at a fraction of the
# cost. MSDNet reports the same shape at ImageNet scale. The max-probability rule is simple but
# trusts the network's calibration; a poorly calibrated exit can be confidently wrong
# (lecture 08, section 7, measures calibration and corrects it by temperature scaling).

# %% [markdown]
# ## 7. Where to go next
#
# This course stopped where much of today's computer vision starts. Pointers, in the order you
# might follow them:
#
# * **Transformers for images.** Self-attention (Vaswani et al. 2017), met in lecture 13 as
#   attention over image regions, becomes the whole network in the Vision Transformer (ViT,
#   Dosovitskiy et al. 2021): the image is cut into $16 \times 16$ patches, each patch becomes a
#   token, and a stack of attention layers replaces the convolutions. Swin (Liu et al. 2021)
#   brings back locality and a pyramid of scales; ConvNeXt (Liu et al. 2022) shows that a
#   modernised CNN keeps up.
# * **Self-supervised learning.** Labels are the expensive part; the image itself can supervise.
#   Contrastive methods are section 1 without labels: two augmented views of the same image are
#   a positive pair, all other images negatives (SimCLR, Chen et al. 2020; MoCo, He et al. 2020).
#   Others need no negatives (BYOL, DINO, Caron et al. 2021, a self-distillation, section 5), or
#   mask most patches and reconstruct them (MAE, He et al. 2022).
# * **Vision and language.** CLIP (Radford et al. 2021) trains an image encoder and a text
#   encoder with a contrastive loss on 400 million image-caption pairs; the result classifies
#   images into classes given as text, never seen in training: metric learning at web scale,
#   and a cousin of lecture 13's captioning.
# * **Generative models at scale.** Lecture 17 trained a small diffusion model (Ho et al. 2020) on
#   the digits; latent diffusion (Rombach et al. 2022) runs the same process in the latent space
#   of an autoencoder, with text conditioning through cross-attention.
# * **Foundation models for dense tasks.** Segment Anything (Kirillov et al. 2023) returns masks
#   for points or boxes given as prompts, on images of any kind; open-vocabulary detectors find
#   objects named in text.
# * **Efficiency and robustness.** Distillation, early exits, quantisation and pruning put these
#   models on phones; label noise, distribution shift and calibration (lecture 08, section 7:
#   "Calibration: can the scores be trusted as probabilities?") decide whether they can be
#   trusted.
#
# The building blocks of this course, convolutions, losses, backpropagation, normalisation,
# attention, careful evaluation, are the ones these models are made of.

# %% [markdown]
# ## Check yourself
#
# **1.** Why does the contrastive loss need a margin for dissimilar pairs? What would happen with
# the loss $(1 - y)\,(-d^2)$ instead?
#
# <details><summary>Answer</summary>
#
# Without a margin, pushing dissimilar pairs apart is rewarded without limit: the loss
# $-d^2$ goes to $-\infty$ by scaling all embeddings up, so training would blow up the embedding
# instead of arranging it. The margin says "far enough is enough": beyond $m$ a dissimilar pair
# costs nothing and exerts no force. (With normalised embeddings the scale is fixed, but the
# margin still stops well separated pairs from dominating the loss.)
# </details>
#
# **2.** In a batch of $P = 7$ classes with $K = 8$ images each, how many anchor-positive pairs
# and how many valid triplets are there? What does semi-hard mining keep?
#
# <details><summary>Answer</summary>
#
# $N = 56$. Anchor-positive ordered pairs: $56 \times 7 = 392$. Each has $56 - 8 = 48$ negatives,
# so $392 \times 48 = 18\,816$ triplets. Semi-hard mining keeps one triplet per anchor-positive
# pair (392): the closest negative that is farther than the positive.
# </details>
#
# **3.** An embedding trained with batch-hard mining has training loss equal to the margin, and
# it does not move. What happened, and what would you change?
#
# <details><summary>Answer</summary>
#
# It collapsed: all embeddings are (nearly) equal, so $d(a,p) = d(a,n) = 0$ and every triplet
# costs exactly the margin, with gradients that cancel. Start with semi-hard or all-triplet
# mining (or from a pretrained network), use a soft margin, lower the learning rate, or switch to
# hard mining only once the embedding has some structure.
# </details>
#
# **4.** The raw cross-correlation tracker of section 2 drifted to the sky. Show in one line why
# NCC cannot prefer a region only because it is brighter.
#
# <details><summary>Answer</summary>
#
# Replace the window patch $x_{uv}$ by $a\, x_{uv} + b$ with $a > 0$. The mean-subtracted patch
# becomes $a(x_{uv} - \bar x_{uv})$ and its norm is multiplied by $a$, so the ratio, the NCC, is
# unchanged. Brightness ($b$) and contrast ($a$) cancel; only the pattern counts.
# </details>
#
# **5.** SiamFC computes the score of every offset with one convolution. Which property of its
# backbone makes this possible, and what would break it?
#
# <details><summary>Answer</summary>
#
# The backbone is fully convolutional (translation equivariant): the features of a sub-window of $x$
# are the corresponding sub-window of the features of $x$ (up to the stride). So correlating
# $\phi(z)$ over $\phi(x)$ equals comparing $\phi(z)$ with $\phi$ of every sub-window. Padding
# (which makes border features depend on their position) or a fully connected layer would break the
# equivalence; SiamFC uses no padding for this reason.
# </details>
#
# **6.** With 50% symmetric noise on 10 classes, what fraction of the training images of a
# class carry its label, and what fraction carry any one particular other label? Why can a
# network still learn?
#
# <details><summary>Answer</summary>
#
# 50% keep their label; each of the 9 other labels gets $0.5 / 9 \approx 5.6\%$. The correct
# label remains by far the most frequent label for images that look alike, so the shared pattern
# is learnable (and is learned first); trouble starts only when the network memorises the
# individual wrong labels.
# </details>
#
# **7.** Derive the weight $p_y^q$ of generalised cross-entropy relative to cross-entropy.
#
# <details><summary>Answer</summary>
#
# $L_q = (1 - p_y^q)/q$, so $\partial L_q / \partial \theta = -p_y^{q-1}\, \partial p_y /
# \partial\theta = p_y^q \cdot \big(-\tfrac{1}{p_y} \partial p_y / \partial\theta\big) = p_y^q
# \cdot \partial(-\log p_y)/\partial\theta$. The weight is $p_y^q$: small for examples whose
# label the network doubts.
# </details>
#
# **8.** In the EM of section 4, what are the responsibilities of a point with residual 0 and of
# a point with a huge residual, when $\rho = 0.7$, $\sigma = 0.15$ and $\gamma = 6$?
#
# <details><summary>Answer</summary>
#
# Residual 0: $\rho\,\mathcal{N}(0; 0, \sigma^2) = 0.7 / (\sqrt{2\pi}\, 0.15) \approx 1.86$, and
# $(1-\rho)/\gamma = 0.05$, so $r \approx 1.86 / 1.91 \approx 0.97$. Huge residual: the Gaussian
# term vanishes, $r \approx 0$: the point no longer enters the weighted least squares at all,
# unlike with the Huber loss, whose gradient stays constant.
# </details>
#
# **9.** Why does the distillation loss multiply the KL term by $T^2$? What happens to the
# student's targets as $T \to \infty$?
#
# <details><summary>Answer</summary>
#
# The gradient of the KL term with respect to a logit is $(p^{(T)}_i(s) - p^{(T)}_i(z))/T$ and
# both probabilities approach $1/C$ with differences of order $1/T$, so the gradient shrinks
# like $1/T^2$; multiplying by $T^2$ keeps its scale comparable with the hard-label term when
# the temperature changes. As $T \to \infty$ the soft targets become uniform, but the gradient,
# rescaled, tends to $(s_i - z_i)/C$ for zero-mean logits: matching the teacher's logits.
# </details>
#
# **10.** An any-time network uses a confidence threshold of 0.99 for its first exit. Accuracy
# is excellent but compute is barely lower than the full network. Explain, and propose a fix.
#
# <details><summary>Answer</summary>
#
# Almost no image reaches 0.99 at the weak first exit, so nearly all continue to the end: the
# early exits cost extra and save nothing. Lower the threshold (per exit, chosen on validation
# data to meet the budget), or improve the early exits (multi-scale features, as in MSDNet), or
# calibrate their confidences so that the threshold means what it says: temperature scaling
# (lecture 08, section 7) fits one $T$ per exit by NLL on validation data, after which a
# threshold of 0.99 asks that at least 99% of the images leaving there be right, and a lower
# threshold can be chosen from the accuracy actually needed. It changes no exit's predicted
# class, only which images leave where.
# </details>
#
# **11.** Section 5.2 trains a control student on the teacher's top class beside the distilled
# one. Why is the control needed before crediting "dark knowledge" with distillation's gain, and
# when should the soft targets carry more than the top class?
#
# <details><summary>Answer</summary>
#
# The distilled student differs from the labels-only one in two ways at once: it learns from the
# whole transfer set instead of 30 images (the teacher labels the images nobody labelled), and
# its targets are soft. The control changes only the first, so the difference between distilled
# and control measures the second. Soft targets add the relative probabilities of the wrong
# classes, which say what an image resembles. On images the teacher was trained on, where it is
# right and nearly certain, that is little. It is more where the top class leaves information
# out: when the transfer set is small and each image must say more, when a class is missing from
# it (section 5.3), on ambiguous or heavily augmented images whose top class is a near tie, and
# where the teacher is wrong, since a soft target still gives the right class some probability.
# </details>
#
# **12.** A fabric of $L$ layers and $S$ scales has $C$ channels at every node, as in section 6.1.
# How many $3 \times 3$ convolutions does it have, how wide must a chain of $L$ convolutions be to
# have as many weights, and why can the chain still do more multiply-accumulates per image?
#
# <details><summary>Answer</summary>
#
# Between two layers every node has a same-scale edge ($S$), and there are $S - 1$ edges down and
# $S - 1$ up: $3S - 2$ convolutions per step, $(L - 1)(3S - 2)$ in all, plus the $2(S - 1)$
# inside the first and the last layer, each with $9C^2$ weights (and the input's, with $9C$).
# For $L = 4$, $S = 3$: $21 + 4 = 25$ convolutions of $C \times C$, $225\,C^2$ weights. A chain
# has $L - 1$ convolutions of $W \times W$ after the input's, $27\,W^2$ weights, so
# $W \approx C \sqrt{25/3} \approx 2.9\,C$. The cost of a convolution is its weights times the
# number of positions it is applied at. The chain applies its wide convolutions at full
# resolution first; the fabric applies only two of its seven convolutions per step at full
# resolution, and the others at a quarter or a sixteenth of the positions. Per image the fabric
# can therefore do less arithmetic with the same weights, yet run slower: many small
# convolutions keep a processor busier with overhead than a few large ones.
# </details>

# %% [markdown]
# ## Summary
#
# * **Metric learning** trains an embedding in which Euclidean distance means similarity. Siamese
#   networks share weights between the two branches. The contrastive loss pulls similar pairs
#   together and pushes dissimilar ones to a margin; the triplet loss asks that the positive be
#   closer than the negative by a margin. Mining decides what the loss sees: semi-hard triplets
#   train, hardest-first from a random start collapses. Evaluate by retrieval (recall@k),
#   including on classes unseen in training: the distance carries over to them when the training
#   had many classes, or from the layer before a projection trained on few.
# * **Tracking** as template matching: score every offset of the template in a search window.
#   Raw correlation favours bright regions; NCC compares patterns. SiamFC correlates learned
#   features, $a\,\phi(z) \star \phi(x) + b$, trained with a logistic loss on score maps; a fixed
#   template cannot recover from a lost target. A turning, shrinking, partly hidden target
#   defeats NCC, and a small SiamFC trained for seconds does not do better: learned invariance
#   needs data.
# * **Noisy labels**: a transition matrix describes the noise (symmetric, asymmetric). Networks
#   learn patterns first and memorise wrong labels later; cross-entropy gives doubted examples
#   the largest weight. MAE, GCE ($p_y^q$ weights) and bootstrapping resist memorisation; early
#   stopping with patience keeps the weights from before it.
# * **Robust regression**: a Gaussian-uniform mixture explains outliers; EM alternates
#   responsibilities (E) and weighted least squares with $\sigma^2$, $\rho$ updates (M). It never
#   lowers the likelihood, handles many spread-out outliers, and fails on structured ones.
# * **Distillation**: a student learns the teacher's softened distribution (temperature $T$,
#   loss $\alpha T^2 \mathrm{KL} + (1-\alpha)\mathrm{CE}$). The teacher can label a transfer
#   set that nobody labelled, which lifts a student with few labels far above what its labels
#   give; soft targets carry the similarity structure between classes, enough to teach a class
#   the student never saw, and a control trained on the teacher's top class tells the two apart.
# * **Architectures**: neural fabrics embed exponentially many chain CNNs in one trellis over
#   scales and layers and train them as one network; they spare the search for a chain rather
#   than beat a good one (on the digits, one chain of the same size did at least as well).
#   MSDNet's multi-scale, densely connected grid with early exits gives any-time and budgeted
#   prediction; a confidence threshold trades accuracy for compute.
#
# ## Papers and further reading
#
# * J. Bromley, I. Guyon, Y. LeCun, E. Säckinger, R. Shah (1993). Signature verification using a
#   "Siamese" time delay neural network. *NIPS 1993*.
# * S. Chopra, R. Hadsell, Y. LeCun (2005). Learning a similarity metric discriminatively, with
#   application to face verification. *CVPR 2005*.
# * R. Hadsell, S. Chopra, Y. LeCun (2006). Dimensionality reduction by learning an invariant
#   mapping. *CVPR 2006*. The contrastive loss.
# * K. Q. Weinberger, L. K. Saul (2009). Distance metric learning for large margin nearest
#   neighbor classification. *JMLR* 10, 207–244.
# * F. Schroff, D. Kalenichenko, J. Philbin (2015). FaceNet: a unified embedding for face
#   recognition and clustering. *CVPR 2015*. Triplet loss, semi-hard mining.
# * A. Hermans, L. Beyer, B. Leibe (2017). In defense of the triplet loss for person
#   re-identification. arXiv:1703.07737. Batch-hard mining.
# * C.-Y. Wu, R. Manmatha, A. J. Smola, P. Krähenbühl (2017). Sampling matters in deep embedding
#   learning. *ICCV 2017*.
# * K. Musgrave, S. Belongie, S.-N. Lim (2020). A metric learning reality check. *ECCV 2020*.
# * A. Bellet, A. Habrard, M. Sebban (2013). A survey on metric learning for feature vectors and
#   structured data. arXiv:1306.6709.
# * L. Baraldi, C. Grana, R. Cucchiara (2015). A deep siamese network for scene detection in
#   broadcast videos. *ACM Multimedia 2015*.
# * J. P. Lewis (1995). Fast normalized cross-correlation. *Vision Interface 1995*.
# * D. S. Bolme, J. R. Beveridge, B. A. Draper, Y. M. Lui (2010). Visual object tracking using
#   adaptive correlation filters. *CVPR 2010*. MOSSE.
# * J. F. Henriques, R. Caseiro, P. Martins, J. Batista (2015). High-speed tracking with
#   kernelized correlation filters. *IEEE TPAMI* 37(3), 583–596.
# * L. Bertinetto, J. Valmadre, J. F. Henriques, A. Vedaldi, P. H. S. Torr (2016).
#   Fully-convolutional siamese networks for object tracking. *ECCV 2016 Workshops*. SiamFC.
# * B. Li, J. Yan, W. Wu, Z. Zhu, X. Hu (2018). High performance visual tracking with siamese
#   region proposal network. *CVPR 2018*. SiamRPN.
# * Y. Wu, J. Lim, M.-H. Yang (2013). Online object tracking: a benchmark. *CVPR 2013*.
# * B. Frénay, M. Verleysen (2014). Classification in the presence of label noise: a survey.
#   *IEEE TNNLS* 25(5), 845–869.
# * T. Xiao, T. Xia, Y. Yang, C. Huang, X. Wang (2015). Learning from massive noisy labeled data
#   for image classification. *CVPR 2015*.
# * C. Zhang, S. Bengio, M. Hardt, B. Recht, O. Vinyals (2017). Understanding deep learning
#   requires rethinking generalization. *ICLR 2017*.
# * D. Arpit et al. (2017). A closer look at memorization in deep networks. *ICML 2017*.
# * A. Ghosh, H. Kumar, P. S. Sastry (2017). Robust loss functions under label noise for deep
#   neural networks. *AAAI 2017*.
# * Z. Zhang, M. R. Sabuncu (2018). Generalized cross entropy loss for training deep neural
#   networks with noisy labels. *NeurIPS 2018*.
# * S. Reed, H. Lee, D. Anguelov, C. Szegedy, D. Erhan, A. Rabinovich (2015). Training deep
#   neural networks on noisy labels with bootstrapping. *ICLR 2015 workshop*.
# * G. Patrini, A. Rozza, A. K. Menon, R. Nock, L. Qu (2017). Making deep neural networks robust
#   to label noise: a loss correction approach. *CVPR 2017*.
# * L. Prechelt (1998). Early stopping — but when? In *Neural Networks: Tricks of the Trade*,
#   Springer, 55–69.
# * I. Goodfellow, Y. Bengio, A. Courville (2016). *Deep Learning*, MIT Press. Section 7.8, early
#   stopping as regularisation.
# * A. P. Dempster, N. M. Laird, D. B. Rubin (1977). Maximum likelihood from incomplete data via
#   the EM algorithm. *J. Royal Statistical Society B* 39(1), 1–38.
# * P. J. Huber (1964). Robust estimation of a location parameter. *Annals of Mathematical
#   Statistics* 35(1), 73–101.
# * S. Lathuilière, P. Mesejo, X. Alameda-Pineda, R. Horaud (2018). DeepGUM: learning deep
#   robust regression with a Gaussian-uniform mixture model. *ECCV 2018*.
# * C. Buciluǎ, R. Caruana, A. Niculescu-Mizil (2006). Model compression. *KDD 2006*.
# * J. Ba, R. Caruana (2014). Do deep nets really need to be deep? *NIPS 2014*.
# * G. Hinton, O. Vinyals, J. Dean (2015). Distilling the knowledge in a neural network.
#   arXiv:1503.02531.
# * A. Romero, N. Ballas, S. E. Kahou, A. Chassang, C. Gatta, Y. Bengio (2015). FitNets: hints
#   for thin deep nets. *ICLR 2015*.
# * T. Furlanello, Z. C. Lipton, M. Tschannen, L. Itti, A. Anandkumar (2018). Born-again neural
#   networks. *ICML 2018*.
# * L. Beyer, X. Zhai, A. Royer, L. Markeeva, R. Anil, A. Kolesnikov (2022). Knowledge
#   distillation: a good teacher is patient and consistent. *CVPR 2022*.
# * B. Zoph, Q. V. Le (2017). Neural architecture search with reinforcement learning. *ICLR 2017*.
# * H. Liu, K. Simonyan, Y. Yang (2019). DARTS: differentiable architecture search. *ICLR 2019*.
# * S. Saxena, J. Verbeek (2016). Convolutional neural fabrics. *NIPS 2016*.
# * G. Huang, D. Chen, T. Li, F. Wu, L. van der Maaten, K. Q. Weinberger (2018). Multi-scale
#   dense networks for resource efficient image classification. *ICLR 2018*. MSDNet.
# * S. Teerapittayanon, B. McDanel, H. T. Kung (2016). BranchyNet: fast inference via early
#   exiting from deep neural networks. *ICPR 2016*.
# * A. Vaswani et al. (2017). Attention is all you need. *NIPS 2017*.
# * A. Dosovitskiy et al. (2021). An image is worth 16x16 words: transformers for image
#   recognition at scale. *ICLR 2021*. ViT.
# * Z. Liu et al. (2021). Swin Transformer: hierarchical vision transformer using shifted
#   windows. *ICCV 2021*.
# * Z. Liu, H. Mao, C.-Y. Wu, C. Feichtenhofer, T. Darrell, S. Xie (2022). A ConvNet for the
#   2020s. *CVPR 2022*.
# * T. Chen, S. Kornblith, M. Norouzi, G. Hinton (2020). A simple framework for contrastive
#   learning of visual representations. *ICML 2020*. SimCLR.
# * K. He, H. Fan, Y. Wu, S. Xie, R. Girshick (2020). Momentum contrast for unsupervised visual
#   representation learning. *CVPR 2020*. MoCo.
# * M. Caron et al. (2021). Emerging properties in self-supervised vision transformers.
#   *ICCV 2021*. DINO.
# * K. He, X. Chen, S. Xie, Y. Li, P. Dollár, R. Girshick (2022). Masked autoencoders are
#   scalable vision learners. *CVPR 2022*.
# * A. Radford et al. (2021). Learning transferable visual models from natural language
#   supervision. *ICML 2021*. CLIP.
# * J. Ho, A. Jain, P. Abbeel (2020). Denoising diffusion probabilistic models. *NeurIPS 2020*.
# * R. Rombach, A. Blattmann, D. Lorenz, P. Esser, B. Ommer (2022). High-resolution image
#   synthesis with latent diffusion models. *CVPR 2022*.
# * A. Kirillov et al. (2023). Segment anything. *ICCV 2023*.

# %%
print(f"whole notebook: {time.perf_counter() - t_start:.0f} s")
