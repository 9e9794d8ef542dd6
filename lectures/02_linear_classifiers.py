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
# # Lecture 02 — Linear classifiers
#
# The nearest-neighbour classifier of lecture 01 has no parameters: it keeps every training
# image and compares each test image with all of them. This chapter takes the opposite road.
# We choose a **score function** with parameters, squeeze what the training set has to say into
# those parameters, and then throw the training set away. The simplest useful score function is
# linear, and it is worth studying closely: the last layer of every network later in the course
# is exactly this operation, applied to features the network has learned, and the two losses we
# meet here (the multiclass SVM loss and the softmax cross-entropy) are the ones those networks
# are trained with.
#
# **After this lecture you can**
#
# 1. write the score function $f(x; W, b) = Wx + b$ with all its shapes, for digits and for
#    CIFAR-10, and fold the bias into $W$;
# 2. read a linear classifier in three ways: as a matrix product, as a set of class templates, and
#    as a set of hyperplanes in input space, and say what it can never learn;
# 3. compute the multiclass SVM (hinge) loss and the softmax cross-entropy loss of an example by
#    hand, explain where each comes from, and compute the softmax without overflow;
# 4. predict the loss at initialisation and use it as a sanity check;
# 5. add L2, L1 or elastic-net regularisation and explain what each prefers;
# 6. compare the SVM and the softmax classifier, and train either one with gradient descent.
#
# **Plan.** Score function → three views → limits → loss functions (SVM, softmax) → sanity
# checks → regularisation → SVM versus softmax → a first look at optimisation → a widget to play
# with → questions, summary, papers.
#
# Assignment a1 asks you to implement these losses and their gradients yourself in numpy. Here
# the losses are written out for *one* example at a time and, for whole data sets, computed by
# torch (`torch.nn.functional`) or fitted by scikit-learn, so the assignment stays yours to solve.

# %%
# %matplotlib inline
import math
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from dlcv.classification import linear
from dlcv.classification.widgets import START_B, START_W, LinearClassifierView
from dlcv.data import load_classification, make_toy_2d
from dlcv.plots import CLASS_COLORS, plot_decision_regions, plot_loss_history, show_templates
from dlcv.timing import cap_threads

plt.rcParams.update({"figure.figsize": (8, 3.2), "figure.dpi": 90, "font.size": 10})
np.set_printoptions(precision=4, suppress=True)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine
warnings.filterwarnings("ignore", category=ConvergenceWarning)  # short fits are on purpose
rng = np.random.default_rng(0)
_ = torch.manual_seed(0)

# %% [markdown]
# ## 1. The parametric approach: a score function
#
# An image becomes a column vector $x \in \mathbb{R}^D$ by stacking its pixel values (all rows,
# all colour channels). A **linear classifier** gives each of the $C$ classes a score
#
# $$ f(x; W, b) = W x + b, \qquad W \in \mathbb{R}^{C \times D},\; b \in \mathbb{R}^{C},\;
#    f(x; W, b) \in \mathbb{R}^{C}, $$
#
# and predicts the class with the highest score. Row $c$ of $W$, written $w_c^\top$, and the
# number $b_c$ produce the score of class $c$: $s_c = w_c^\top x + b_c$. The entries of $W$ are the
# **weights**, $b$ is the **bias** (it lets a class be preferred or avoided regardless of the
# input). Learning means choosing $W$ and $b$ so that, on the training set, the right class tends
# to get the highest score.
#
# | data set | image | $D$ | $C$ | $W$ | parameters |
# |---|---|---|---|---|---|
# | digits (embedded) | $8 \times 8$ grey | 64 | 10 | $10 \times 64$ | 650 |
# | CIFAR-10 | $32 \times 32 \times 3$ | 3072 | 10 | $10 \times 3072$ | 30 730 |
#
# Compare that with kNN on CIFAR-10, which keeps all $50\,000 \times 3072 \approx 1.5 \times 10^8$
# training numbers and, for each test image, computes 50 000 distances. A linear classifier
# answers with one matrix-vector product.
#
# We load the image data this chapter uses: CIFAR-10 when it is on disk, the embedded digits
# otherwise. The pixels are scaled to $[0, 1]$ and the mean training image is subtracted
# (centring the data makes the bias less important and the optimisation easier).

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the note that CIFAR-10 is optional and missing
    data = load_classification("auto")
print(data, "\n")

scale = 16.0 if data.name == "digits" else 255.0  # digits' grey levels run 0..16


def flatten(X):
    """Images (N, H, W[, 3]) -> rows (N, D) in [0, 1]."""
    return X.reshape(len(X), -1) / scale


X_train, X_val, X_dev = flatten(data.X_train), flatten(data.X_val), flatten(data.X_dev)
mean_image = X_train.mean(axis=0)  # (D,)
X_train, X_val, X_dev = X_train - mean_image, X_val - mean_image, X_dev - mean_image
y_train, y_val, y_dev = data.y_train, data.y_val, data.y_dev
N, D = X_train.shape
C = data.num_classes
print(f"X_train {X_train.shape}, X_val {X_val.shape}: D = {D}, C = {C}")
print(f"a linear classifier stores {C * D + C} numbers; kNN would store {N * D}")
quick = data.name != "digits"  # CIFAR-10 images are 48 times larger: keep its fits short

# %% [markdown]
# ### A worked example: four pixels, three classes
#
# Shrink the problem until it fits on paper: an image with four pixels, $x = (56, 231, 24, 2)$,
# and three classes, *cat*, *dog* and *ship*. With the weights and biases below (made up, not
# learned), the three scores are three dot products plus three offsets.

# %%
x4 = np.array([56.0, 231.0, 24.0, 2.0])  # (D,) = (4,): the 2x2 image, row by row
W4 = np.array([[0.2, -0.5, 0.1, 2.0],    # (C, D) = (3, 4): row c scores class c
               [1.5, 1.3, 2.1, 0.0],
               [0.0, 0.25, 0.2, -0.3]])
b4 = np.array([1.1, 3.2, -1.2])          # (C,)
names4 = ["cat", "dog", "ship"]

s4 = W4 @ x4 + b4                         # (3,)
for c in range(3):
    terms = " + ".join(f"{w:g}*{v:g}" for w, v in zip(W4[c], x4, strict=True))
    print(f"{names4[c]:4s}: {terms} + ({b4[c]:g}) = {s4[c]:8.2f}")
print("predicted:", names4[int(np.argmax(s4))])

fig, axes = plt.subplots(1, 5, figsize=(11, 2.4), gridspec_kw={"width_ratios": [1, 1, 1, 1, 1.6]})
for ax, img, title, cmap in zip(axes[:4], [x4] + list(W4), ["image x"] +
                                [f"row of W: {n}" for n in names4], ["gray"] + ["RdBu_r"] * 3,
                                strict=True):
    v = np.abs(img).max()
    ax.imshow(img.reshape(2, 2), cmap=cmap, vmin=0 if cmap == "gray" else -v, vmax=v)
    for (i, j), val in np.ndenumerate(img.reshape(2, 2)):
        ax.text(j, i, f"{val:g}", ha="center", va="center", fontsize=10,
                color="red" if cmap == "gray" else "k")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
axes[4].barh(names4, s4, color=CLASS_COLORS[:3])
axes[4].axvline(0, color="k", lw=0.8)
axes[4].set_title("scores  s = Wx + b", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# Each row of $W$ is drawn as a $2 \times 2$ image: red where the weight is positive, blue where it
# is negative. The score of a class is large when the bright pixels of $x$ sit where that row is
# red. Suppose this image shows a cat: these weights are bad, since dog wins by a wide margin and
# cat comes last. A **loss function** (sections 3 to 5) will measure how bad, and **optimisation**
# (section 9 and lecture 03) will change $W$ and $b$ to make it better.
#
# ### The bias trick
#
# Carrying $W$ and $b$ separately is a nuisance. Append a constant feature 1 to every input and
# glue $b$ to $W$ as one more column:
#
# $$ W x + b = \begin{bmatrix} W & b \end{bmatrix} \begin{bmatrix} x \\ 1 \end{bmatrix}
#    = \tilde W \tilde x, \qquad \tilde W \in \mathbb{R}^{C \times (D+1)},\;
#    \tilde x \in \mathbb{R}^{D+1}. $$
#
# Now there is a single parameter matrix, and every formula below can be written without $b$.
# (One subtlety: regularisation, section 7, is usually applied to $W$ only, so the code that uses
# the trick must remember which column is the bias.)

# %%
x4_ext = np.append(x4, 1.0)              # (5,)
W4_ext = np.hstack([W4, b4[:, None]])    # (3, 5): the bias is the last column
print("W x + b       =", s4)
print("W_ext @ x_ext =", W4_ext @ x4_ext)
assert np.allclose(W4_ext @ x4_ext, s4)

# %% [markdown]
# ## 2. Three ways to read a linear classifier
#
# ### 2.1 Algebraic: one matrix product for a whole batch
#
# Stack $N$ inputs as the rows of $X \in \mathbb{R}^{N \times D}$. All $N \times C$ scores come from
# one product, $S = X W^\top + b$ (the bias is broadcast over the rows), and the predictions are
# the row-wise argmax. Many code bases, CS231n's assignments among them, store the transpose
# $W^\top \in \mathbb{R}^{D \times C}$ and write `X @ W`; it is the same classifier.

# %%
W_rand = 0.01 * rng.standard_normal((C, D))  # (C, D): an untrained classifier
b_rand = np.zeros(C)                         # (C,)
S = X_val @ W_rand.T + b_rand                # (N_val, D) @ (D, C) + (C,) -> (N_val, C)
pred = S.argmax(axis=1)                      # (N_val,)
print("scores", S.shape, "| first row:", S[0].round(3))
print(f"random W: validation accuracy {np.mean(pred == y_val):.1%} (chance is {1 / C:.0%})")

# %% [markdown]
# ### 2.2 Visual: each row of $W$ is a template
#
# The score $s_c = w_c^\top x + b_c$ is an inner product: it is large when the image looks like
# the row $w_c$. So a linear classifier is **template matching**: it keeps one template per class,
# learned from data, and picks the class whose template fits best. (Think of it as a nearest
# neighbour classifier with one learned prototype per class, which compares by inner product
# instead of distance.)
#
# To see the templates we need a trained classifier. Here we let scikit-learn fit one
# (`LogisticRegression` minimises the softmax loss of section 5 plus an L2 penalty), then reshape
# each row of $W$ back into an image. For grey images, red means a positive weight, blue a
# negative one and white zero; colour templates (CIFAR-10) are rescaled to their own range, as
# `dlcv.plots.show_templates` does. On CIFAR-10 we use a stronger penalty than on the digits:
# with 3072 weights per class and 5,000 training images, a weak one leaves templates that are
# mostly noise (try `lam_lr = 1e-3` and compare).

# %%
def reg_to_C(lam, n, l1=False):
    """Our penalty lam * R(W) on the mean loss  <->  scikit-learn's C on the summed loss."""
    return 1.0 / (lam * n) if l1 else 1.0 / (2.0 * lam * n)


# CIFAR-10's 3072 weights per class get noisy under a weak penalty: regularise it more (section 7).
lam_lr = 1e-3 if data.name == "digits" else 1e-1
clf = LogisticRegression(C=reg_to_C(lam_lr, N), max_iter=100 if quick else 300)
clf.fit(X_train, y_train)
W_lr = clf.coef_  # (C, D): one template per class
print(f"W {W_lr.shape}, λ = {lam_lr:g}; train accuracy {clf.score(X_train, y_train):.1%}, "
      f"validation accuracy {clf.score(X_val, y_val):.1%}")
show_templates(W_lr, data.image_shape, data.class_names,
               title="the rows of W, one per class")
plt.show()
if data.name == "digits":  # the template of 0: its centre, and the ring of pixels around it
    t0 = W_lr[0].reshape(8, 8)
    ring = np.zeros((8, 8), dtype=bool)
    ring[1:7, 1:7], ring[2:6, 3:5] = True, False
    print(f"template of 0: mean weight {t0[2:6, 3:5].mean():+.2f} in the centre (rows 2-5, "
          f"columns 3-4), {t0[ring].mean():+.2f} on the ring of pixels around it")

# %% [markdown]
# On $8 \times 8$ digits the templates are coarse, but readable in places: the template of **0**
# has a blue centre (ink in the middle is evidence against a zero) inside a faint red ring (the
# line under the templates gives the mean weight of each). Many
# others mostly mark the few pixels that tell a digit apart from its look-alikes, because that
# is all the classifier needs. Stronger regularisation (section 7) makes them smoother and easier
# to read.
#
# On CIFAR-10 (when present) the templates are blurry colour averages: the plane and ship
# templates are mostly blue (sky and sea), the car template reddish, and the horse template often
# seems to have two heads, because horses facing left and horses facing right must share one
# template. That is the core weakness of this view: **one template per class** cannot represent
# a class that comes in several distinct appearances.
#
# Template matching in action: one validation image and the score of each class, that is, its
# inner product with each template plus the bias.

# %%
i = 3
s_i = clf.decision_function(X_val[i:i + 1])[0]  # (C,) = W x + b
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(8, 2.4), gridspec_kw={"width_ratios": [1, 3]})
img = data.X_val[i]
ax0.imshow(img, cmap="gray" if img.ndim == 2 else None)
ax0.set_title(f"label: {data.class_names[y_val[i]]}")
ax0.axis("off")
ax1.bar(data.class_names, s_i, color=["0.6"] * C)
ax1.bar(data.class_names[int(np.argmax(s_i))], s_i.max(), color=CLASS_COLORS[1])
ax1.axhline(0, color="k", lw=0.8)
ax1.set_title("scores  $w_c^T x + b_c$; the highest wins")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### 2.3 Geometric: each row of $W$ is a hyperplane
#
# In $\mathbb{R}^D$, the points where one score is zero, $\{x : w_c^\top x + b_c = 0\}$, form a
# hyperplane. The vector $w_c$ is normal to it and points towards where $s_c$ grows; $|s_c| /
# \lVert w_c\rVert$ is the distance of $x$ from the plane. The decision boundary between two classes
# $c$ and $k$ is where their scores tie, $(w_c - w_k)^\top x + (b_c - b_k) = 0$: also a hyperplane.
# So the input space is cut into $C$ convex regions with flat walls.
#
# We cannot draw 3072 dimensions, but we can draw two. Below, three classes of 2-D points, a
# linear classifier fitted to them (gradient descent on the softmax loss with torch, see
# section 9), each line $s_c = 0$ dashed and each $w_c$ as an arrow. The middle and right panels
# change one class's parameters: turning $w_0$ **rotates** its line; changing $b_0$ **shifts** it
# parallel to itself (increasing $b_0$ moves the line against the arrow, so class 0 gains ground).

# %%
X2, y2 = linear.toy_data("blobs")  # (150, 2), (150,): three classes in the plane
W2, b2, _ = linear.fit(np.zeros((3, 2)), np.zeros(3), X2, y2, loss="softmax", reg=1e-2,
                       steps=300, lr=0.5)
turn = np.deg2rad(50)
R = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
W2_rot, b2_shift = W2.copy(), b2.copy()
W2_rot[0] = R @ W2[0]
b2_shift[0] += 3.0

fig, axes = plt.subplots(1, 3, figsize=(11, 3.8))
for ax, (W_, b_, t) in zip(axes, [(W2, b2, "fitted"), (W2_rot, b2, "$w_0$ turned by 50°"),
                                  (W2, b2_shift, "$b_0$ increased by 3")], strict=True):
    linear.plot_linear_2d(ax, W_, b_, X2, y2, title=t)
    acc = linear.evaluate(W_, b_, X2, y2)["accuracy"]
    ax.set_xlabel(f"accuracy {acc:.0%}")
fig.tight_layout()
plt.show()

# %% [markdown]
# Note that the coloured regions are *not* bounded by the dashed lines themselves: a point is
# blue where $s_0$ beats $s_1$ and $s_2$, which is decided by the pairwise differences. The dashed
# line of class $c$ shows where $s_c$ changes sign, and the arrow shows the direction in which
# the classifier becomes more confident about class $c$. Scaling a row $w_c$ up does not move its
# line, but makes the score grow faster away from it.
#
# ### 2.4 What a linear classifier cannot do
#
# Convex regions with straight walls are a strong restriction. Three classic failures:
#
# * **XOR**: class 1 in two opposite quadrants, class 0 in the other two. No straight line puts
#   the two pairs on different sides; the best a line can do is about three quarters right.
# * **Circles**: one class inside a ring of the other. Every straight line leaves a part of the
#   ring on the inner class's side.
# * **A class with two modes**: class 0 on both sides of class 1. Its region is convex, so if it
#   holds both clusters it holds everything between them, class 1 included. (The two-headed horse
#   template is the same problem in pixel space.)

# %%
cases = [("XOR", *make_toy_2d("xor", n=200, noise=0.0)),
         ("circles", *make_toy_2d("circles", n=200, noise=0.08)),
         ("one class in two places", *linear.toy_data("one class in two places"))]
fig, axes = plt.subplots(1, 4, figsize=(13, 3.5))
for ax, (name, Xc, yc) in zip(axes, cases, strict=False):
    k = int(yc.max()) + 1
    Wc, bc, _ = linear.fit(np.zeros((k, 2)), np.zeros(k), Xc, yc, steps=400, lr=0.5)
    acc = linear.evaluate(Wc, bc, Xc, yc)["accuracy"]
    linear.plot_linear_2d(ax, Wc, bc, Xc, yc, lines=False, arrows=False,
                          title=f"{name}: {acc:.0%} right")
    ax.set_aspect("equal")

# The usual cure: give the linear classifier better features. For circles, add r^2 = x1^2 + x2^2.
_, Xc, yc = cases[1]


def phi(P):
    return np.c_[P, (P ** 2).sum(1)]  # (M, 2) -> (M, 3)


Wf, bf, _ = linear.fit(np.zeros((2, 3)), np.zeros(2), phi(Xc), yc, steps=500, lr=1.0)
acc = linear.evaluate(Wf, bf, phi(Xc), yc)["accuracy"]
plot_decision_regions(axes[3], lambda P: linear.regions(Wf, bf, phi(P)), Xc, yc)
axes[3].set_title(f"circles, features $(x_1, x_2, r^2)$: {acc:.0%}", fontsize=10)
axes[3].set_aspect("equal")
fig.tight_layout()
plt.show()

# %% [markdown]
# The last panel is linear in the features $(x_1, x_2, x_1^2 + x_2^2)$ and circular in the
# original plane. Designing such features by hand was computer vision's job for decades (colour
# histograms, HOG, SIFT with bag of words). Neural networks (lecture 04) learn them: a network is
# a linear classifier on top of learned non-linear features.
#
# ## 3. Loss functions: measuring how bad $W$ is
#
# Given training examples $(x_i, y_i)$, $i = 1..N$, with integer labels $y_i \in \{0..C-1\}$, write
# $s = f(x_i; W)$ for the scores of example $i$ and $s_j$ for its $j$-th entry. A **loss function**
# $L_i(s, y_i)$ says how unhappy we are with the scores of one example; the loss on the data set is
# the average,
#
# $$ L(W) = \frac{1}{N} \sum_{i=1}^N L_i\big(f(x_i; W), y_i\big). $$
#
# Training is the search for $W$ with a small $L$. The two classic choices differ in how they turn
# scores into unhappiness.
#
# ## 4. The multiclass SVM loss
#
# The multiclass support vector machine (SVM) loss, in the form of Weston and Watkins, wants the
# correct class to beat every other class by at least a **margin** $\Delta$:
#
# $$ L_i = \sum_{j \neq y_i} \max\big(0,\; s_j - s_{y_i} + \Delta\big), \qquad \Delta = 1. $$
#
# A wrong class $j$ costs nothing when $s_{y_i} \ge s_j + \Delta$, and costs linearly in the
# shortfall otherwise. The function $\max(0, \cdot)$ is the **hinge**. The worked example uses
# three training images and three classes (cat, car, frog); the scores are invented.

# %%
names3 = ["cat", "car", "frog"]
S3 = np.array([[3.2, 5.1, -1.7],   # image of a cat
               [1.3, 4.9, 2.0],    # image of a car
               [2.2, 2.5, -3.1]])  # image of a frog
y3 = np.array([0, 1, 2])


def svm_loss_one(s, y, delta=1.0):
    """Multiclass SVM loss of ONE example: s (C,) scores, y its correct class."""
    margins = np.maximum(0.0, s - s[y] + delta)  # (C,) hinge of every class
    margins[y] = 0.0                             # the correct class is not compared with itself
    return margins.sum(), margins


for s, y in zip(S3, y3, strict=True):
    L_i, m = svm_loss_one(s, y)
    print(f"{names3[y]:4s} image: scores {s}, per-class hinges {m} -> L_i = {L_i:.1f}")
L_svm = np.mean([svm_loss_one(s, y)[0] for s, y in zip(S3, y3, strict=True)])
print(f"mean over the three images: L = {L_svm:.2f}")

# %% [markdown]
# For the cat image: car beats cat by $5.1 - 3.2 = 1.9$, plus the margin 1 gives $2.9$; frog is
# $4.9$ below cat, safely outside the margin, and costs 0. The car image is right with room to
# spare (loss 0). The frog image is badly wrong: $(2.2 + 3.1 + 1) + (2.5 + 3.1 + 1) = 12.9$. The
# mean of the three losses, printed last, is the data loss of these weights.
#
# torch has this loss as `multi_margin_loss`, with one difference: it divides each example's sum
# by the number of classes $C$. Multiplying by $C$ gives the loss above (this is what
# `dlcv.classification.linear.svm_loss_torch` does).

# %%
S3_t, y3_t = torch.tensor(S3), torch.tensor(y3)
print("torch multi_margin_loss * C:",
      (S3.shape[1] * F.multi_margin_loss(S3_t, y3_t, margin=1.0)).item())  # C = 3 here
print("dlcv.classification.linear.svm_loss_torch :", linear.svm_loss_torch(S3_t, y3_t).item())

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.0))
d = np.linspace(-3, 3, 200)  # s_j - s_{y_i}: how far a wrong class is above the right one
ax0.plot(d, np.maximum(0, d + 1), color=CLASS_COLORS[0], label=r"hinge $\max(0, d + 1)$")
ax0.plot(d, np.maximum(0, d + 1) ** 2, color=CLASS_COLORS[5], ls="--",
         label=r"squared hinge $\max(0, d + 1)^2$")
ax0.axvspan(-3, -1, color="0.9")
ax0.text(-2, 2.5, "margin met:\nno loss", ha="center", fontsize=9)
ax0.set_ylim(0, 4)
ax0.set_xlabel(r"$d = s_j - s_{y_i}$")
ax0.set_title("cost of one wrong class")
ax0.legend(fontsize=8, loc="upper left")
# the cat image on a number line: the correct score, the margin, the other scores
s = S3[0]
ax1.axvspan(s[0] - 1, s[0], color=CLASS_COLORS[0], alpha=0.15, label="margin Δ below $s_{cat}$")
for c in range(3):
    ax1.plot(s[c], 0, "o", ms=12, color=CLASS_COLORS[c])
    ax1.annotate(f"{names3[c]}\n{s[c]}", (s[c], 0), xytext=(0, 12), textcoords="offset points",
                 ha="center", fontsize=9)
ax1.annotate("", xy=(s[1], -0.5), xytext=(s[0] - 1, -0.5),
             arrowprops=dict(arrowstyle="<->", color="k"))
ax1.text((s[1] + s[0] - 1) / 2, -0.85, "car costs 5.1 - (3.2 - 1) = 2.9", ha="center", fontsize=9)
ax1.set_ylim(-1.3, 1.3)
ax1.set_yticks([])
ax1.set_title("cat image: car must score below $s_{cat} - Δ$")
ax1.legend(fontsize=8, loc="upper left")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Questions worth a minute** (answers hidden; try first).
#
# 1. What are the smallest and largest values $L_i$ can take?
# 2. What changes if the sum also ran over $j = y_i$?
# 3. What if we used the sum over examples instead of the mean?
# 4. What if each hinge were squared, $\max(0, s_j - s_{y_i} + \Delta)^2$?
# 5. Why is $\Delta = 1$ not a real choice?
#
# <details><summary>Answers</summary>
#
# 1. At least 0 (every margin met), and no upper bound: a wrong class can score arbitrarily high.
# 2. The term for $j = y_i$ is $\max(0, \Delta) = \Delta$, so every $L_i$ grows by the constant
#    $\Delta$ and $L$ by $\Delta$: the best $W$ does not change, but the minimum is 1, not 0.
# 3. The loss is multiplied by $N$; the minimiser is the same (the balance with regularisation,
#    and the step size of gradient descent, change). The mean keeps numbers comparable across data
#    set sizes.
# 4. The *squared hinge* SVM (sometimes called L2-SVM) punishes a large violation much more and a
#    small one less. It is a different loss that is occasionally better; it is smooth at the
#    kink, but its quadratic growth makes it more sensitive to badly wrong examples.
# 5. Multiplying $W$ and $b$ by a constant multiplies every score difference by that constant;
#    any $\Delta > 0$ can be reached by rescaling $W$. What actually limits the size of $W$ is the
#    regularisation term (section 7), so $\Delta$ and $\lambda$ control the same trade-off and
#    $\Delta = 1$ is a safe convention.
# </details>
#
# A remark on names: the *binary* SVM of Cortes and Vapnik (1995) is
# $\max(0, 1 - y_i w^\top x_i)$ with $y_i \in \{-1, +1\}$; for $C = 2$ the loss above is exactly
# this, with $w = w_1 - w_0$. Crammer and Singer (2001) proposed a variant that pays only for the
# worst wrong class, $\max(0, \max_{j \ne y_i} s_j - s_{y_i} + \Delta)$.
#
# ## 5. The softmax classifier and the cross-entropy loss
#
# The SVM treats scores as plain numbers to be ranked. The **softmax classifier** (multinomial
# logistic regression) reads them as unnormalised log-probabilities and turns them into a
# probability distribution over classes,
#
# $$ p_k = \frac{e^{s_k}}{\sum_{j} e^{s_j}}, \qquad p_k > 0,\; \sum_k p_k = 1, $$
#
# and pays the negative log of the probability given to the correct class,
#
# $$ L_i = -\log p_{y_i} = -s_{y_i} + \log \sum_j e^{s_j}. $$
#
# The worked example: the cat image's scores again.

# %%
s, y = S3[0], 0
e = np.exp(s)            # (3,) exponentiate: every score becomes positive
p = e / e.sum()          # (3,) normalise: the probabilities sum to 1
L_i = -np.log(p[y])
for c in range(3):
    print(f"{names3[c]:4s}: s = {s[c]:5.1f}   exp(s) = {e[c]:8.3f}   p = {p[c]:.4f}")
print(f"L_i = -log p_cat = -log {p[y]:.4f} = {L_i:.3f}")
print("torch F.cross_entropy:", F.cross_entropy(torch.tensor(S3[:1]), torch.tensor([0])).item())

fig, axes = plt.subplots(1, 3, figsize=(10, 2.4))
for ax, vals, t in zip(axes, [s, e, p], ["scores s (any sign)", "exp(s)", "softmax p"],
                       strict=True):
    ax.bar(names3, vals, color=CLASS_COLORS[:3])
    ax.axhline(0, color="k", lw=0.8)
    ax.set_title(t)
axes[2].set_ylim(0, 1)
fig.suptitle("unnormalised log-probabilities → probabilities", y=1.03)
fig.tight_layout()
plt.show()

# %% [markdown]
# The loss is 0 only if $p_{y_i} = 1$, which needs $s_{y_i} - s_j \to \infty$; it grows without
# bound as $p_{y_i} \to 0$. The softmax does not change when the same constant is added to every
# score, but it does change when the scores are *scaled*: larger scores give a peakier
# distribution, smaller ones a flatter one. (So shrinking $W$ by regularisation makes the
# classifier less confident.)

# %%
for factor in (0.5, 1.0, 2.0):
    q = F.softmax(torch.tensor(factor * s), dim=0).numpy()
    print(f"scores x {factor}: p = {q.round(4)}")
print("scores + 100:", F.softmax(torch.tensor(s + 100), dim=0).numpy().round(4))

# %% [markdown]
# ### Two ways to see where the cross-entropy comes from
#
# **Information theory.** The *cross-entropy* between a true distribution $p$ and an estimate
# $q$ is $H(p, q) = -\sum_k p_k \log q_k = H(p) + D_{KL}(p \,\|\, q)$, the entropy of $p$ plus the
# Kullback–Leibler divergence from $p$ to $q$. Take $p$ = the one-hot distribution of the label
# (all mass on $y_i$) and $q$ = the softmax output. Then $H(p) = 0$ and $H(p, q) = -\log q_{y_i}$:
# the softmax loss is the cross-entropy, and minimising it makes the predicted distribution as
# close as possible (in the KL sense) to the label's.
#
# **Probability.** Read $p_k$ as the model's $P(y = k \mid x; W)$. The likelihood of the training
# labels is $\prod_i P(y_i \mid x_i; W)$, and maximising it (maximum likelihood, MLE) is the same as
# minimising $\sum_i -\log P(y_i \mid x_i; W)$: our loss. Put a Gaussian prior
# $W_{kl} \sim \mathcal{N}(0, \sigma^2)$ on the weights and maximise the posterior instead (MAP):
# $-\log$ of the prior adds $\sum W_{kl}^2 / 2\sigma^2$, which is exactly the L2 regularisation of
# section 7 with $\lambda = 1 / (2 N \sigma^2)$ for the mean loss. (A Laplace prior gives L1.)

# %%
q_cat = p  # the softmax output for the cat image
p_true = np.array([1.0, 0.0, 0.0])  # one-hot: the label is cat


def xlogy(a, b):
    """a log b with the convention 0 log 0 = 0."""
    return np.where(a > 0, a * np.log(np.where(a > 0, b, 1.0)), 0.0)


H_p = -xlogy(p_true, p_true).sum() + 0.0  # (+ 0.0 turns -0.0 into 0.0)
H_pq = -xlogy(p_true, q_cat).sum()
KL = xlogy(p_true, p_true).sum() - xlogy(p_true, q_cat).sum()
print(f"H(p) = {H_p:.3f},  KL(p||q) = {KL:.3f},  H(p, q) = {H_pq:.3f} = L_i")

# %% [markdown]
# ### Numerical stability: subtract the maximum
#
# The exponential overflows quickly: $e^{89}$ is already beyond the largest float32
# ($3.4 \times 10^{38}$) and $e^{710}$ beyond float64. Scores of a few hundred are not unusual in a
# badly initialised network, and then the naive softmax returns `inf / inf = nan`. Because the
# softmax ignores a constant added to all scores, we may subtract $m = \max_j s_j$ first:
#
# $$ p_k = \frac{e^{s_k - m}}{\sum_j e^{s_j - m}}, \qquad
#    L_i = -(s_{y_i} - m) + \log \sum_j e^{s_j - m}. $$
#
# Now the largest exponent is $e^0 = 1$, nothing overflows, and the denominator is at least 1, so
# nothing divides by zero or takes the log of zero either.

# %%
def softmax_naive(s):
    e = np.exp(s)
    return e / e.sum()


def softmax_stable(s):
    e = np.exp(s - s.max())  # the largest entry becomes exp(0) = 1
    return e / e.sum()


big = np.array([123.0, 456.0, 789.0])
with np.errstate(over="ignore", invalid="ignore"):
    print("float32 exp(88), exp(89):", np.exp(np.float32(88)), np.exp(np.float32(89)))
    print("float64 exp(709), exp(710):", np.exp(np.float64(709)), np.exp(np.float64(710)))
    print("naive  softmax (float32):", softmax_naive(big.astype(np.float32)))
    print("naive  softmax (float64):", softmax_naive(big))
print("stable softmax (float32):", softmax_stable(big.astype(np.float32)))
print("torch  F.softmax          :", F.softmax(torch.tensor(big, dtype=torch.float32), 0).numpy())
print("loss of class 0, stable  :", -(big[0] - big.max()) + np.log(np.exp(big - big.max()).sum()))

# %% [markdown]
# Libraries implement the loss as `log_softmax` followed by picking the right entry (this is what
# `F.cross_entropy` does), so the loss is accurate even when $p_{y_i}$ underflows to 0: here class 0
# has probability about $e^{-(789 - 123)} = e^{-666}$, far below the smallest float, yet its
# loss comes out as $789 - 123 = 666$, exactly (the last line above).
#
# ## 6. Sanity checks at initialisation
#
# A cheap, very effective debugging habit: before training, predict the loss. With small random
# weights, all scores are close to 0. Then for every example
#
# * **SVM**: each of the $C - 1$ wrong classes contributes $\max(0, 0 - 0 + 1) = 1$, so
#   $L \approx C - 1$;
# * **softmax**: all $p_k \approx 1/C$, so $L \approx -\log(1/C) = \log C$.
#
# With $C = 10$ that is 9 and $\log 10 \approx 2.303$. If your first loss differs (say, 0.5 or
# 40), look for a bug or a bad initialisation before you spend any time training.

# %%
W0 = 1e-3 * rng.standard_normal((C, D))  # (C, D) small random weights
b0 = np.zeros(C)
ev0 = linear.evaluate(W0, b0, X_train, y_train)
print(f"predicted: SVM {C - 1}, softmax log C = {math.log(C):.3f}")
print(f"measured : SVM {ev0['svm']:.3f}, softmax {ev0['softmax']:.3f} (N = {N})")
W_big = 0.5 * rng.standard_normal((C, D))  # the same check with a careless initialisation
ev_big = linear.evaluate(W_big, b0, X_train, y_train)
off = max(abs(ev_big["svm"] / (C - 1) - 1), abs(ev_big["softmax"] / math.log(C) - 1))
print(f"with W ~ 0.5 N(0, 1): SVM {ev_big['svm']:.3f}, softmax {ev_big['softmax']:.3f} "
      f"({off:.0%} off the prediction: "
      f"{'the initial scores are not small' if off > 0.1 else 'still close'})")

# %% [markdown]
# ## 7. Regularisation
#
# Suppose $W$ classifies every training example with all margins met, so the SVM data loss is 0.
# Then $2W$, $3W$, ... do so too: the data loss alone does not pick one solution. More importantly,
# among the many $W$ that fit the training data, some generalise better than others. We add a
# **regularisation** term that expresses a preference independent of the data:
#
# $$ L(W) = \underbrace{\frac{1}{N}\sum_{i=1}^N L_i\big(f(x_i; W), y_i\big)}_{\text{data loss}}
#    + \underbrace{\lambda\, R(W)}_{\text{regularisation}}, $$
#
# with the **regularisation strength** $\lambda \ge 0$, a hyperparameter chosen on validation
# data. The common choices for $R$ (usually applied to the weights, not the biases):
#
# | name | $R(W)$ | prefers |
# |---|---|---|
# | L2 (weight decay, ridge) | $\sum_{k,l} W_{kl}^2$ | small, spread-out weights |
# | L1 (lasso) | $\sum_{k,l} \lvert W_{kl}\rvert$ | sparse weights: many exactly 0 |
# | elastic net | $\sum_{k,l} \beta W_{kl}^2 + \lvert W_{kl} \rvert$ | sparse, grouped |
#
# The elastic net keeps L1's sparsity, while its L2 part makes it select groups of correlated
# inputs together rather than one arbitrary member of each group. (Dropout, batch normalisation
# and data augmentation, met in later lectures, also regularise.)
#
# **A small example.** Input $x = (1, 1, 1, 1)$ and two weight vectors $w_1 = (1, 0, 0, 0)$ and
# $w_2 = (0.25, 0.25, 0.25, 0.25)$. Both give the score $w^\top x = 1$, so every data loss treats
# them the same; the regulariser decides.

# %%
x = np.ones(4)
w1, w2 = np.array([1.0, 0, 0, 0]), np.full(4, 0.25)
beta = 0.5
print("w1 . x =", w1 @ x, "  w2 . x =", w2 @ x)
for name, w in (("w1", w1), ("w2", w2)):
    print(f"{name}: L2 = {np.sum(w**2):.3f}   L1 = {np.sum(np.abs(w)):.3f}   "
          f"elastic net (beta={beta}) = {np.sum(beta * w**2 + np.abs(w)):.3f}")

# %% [markdown]
# L2 prefers $w_2$ ($4 \cdot 0.25^2 = 0.25$ against $1$): it spreads the weight over all four
# inputs, so the decision uses all the evidence rather than betting on a single pixel. L1 rates
# both at $1$: it is
# indifferent here. Its taste for sparsity shows when the inputs differ in usefulness. In the
# picture below the data demands $w^\top x = 1$ with $x = (1, 2)$ (the black line of solutions);
# the regulariser picks the point of that line where its contours (circles for L2, diamonds for
# L1) are smallest. The L1 diamond touches the line at a corner, where one weight is exactly 0.

# %%
x2 = np.array([1.0, 2.0])
w_l2 = x2 / (x2 @ x2)                 # the shortest w with w . x = 1: (0.2, 0.4)
w_l1 = np.array([0.0, 1 / x2[1]])     # the L1-smallest: all weight on the largest input
g = np.linspace(-0.8, 0.8, 201)
G1, G2 = np.meshgrid(g, g)
fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
for ax, Z, w_best, t in ((axes[0], G1**2 + G2**2, w_l2, "L2: circles"),
                         (axes[1], np.abs(G1) + np.abs(G2), w_l1, "L1: diamonds")):
    ax.contour(G1, G2, Z, levels=8, colors="0.6", linewidths=0.8)
    level = Z.ravel()[np.argmin(np.abs(G1 - w_best[0]) + np.abs(G2 - w_best[1]))]
    ax.contour(G1, G2, Z, levels=[level], colors=CLASS_COLORS[5], linewidths=2)
    ax.plot(g, (1 - g * x2[0]) / x2[1], "k", lw=1.5, label="$w^T x = 1$")
    ax.plot(*w_best, "o", color=CLASS_COLORS[5], ms=8, label=f"best w = {w_best.round(2)}")
    ax.set_xlim(-0.8, 0.8)
    ax.set_ylim(-0.8, 0.8)
    ax.set_aspect("equal")
    ax.axhline(0, color="k", lw=0.5)
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.set_title(t)
    ax.legend(fontsize=8, loc="lower left")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Why regularise?** A simpler explanation of the data is more likely to hold on new data
# (Occam's razor); small weights make the scores change slowly with the input, so small
# perturbations of an image cannot swing the decision; and, in practice, regularisation reduces
# **overfitting**, the gap between training and validation accuracy. We measure this on the small
# development subset of the training data (a small training set overfits more readily): fit the
# softmax classifier for a range of $\lambda$ and compare the accuracies.

# %%
lams = np.logspace(-5, 0, 6) if quick else np.logspace(-6, 1, 15)
n_dev = len(y_dev)
acc_tr, acc_va, loss_tr, loss_va, W_at = [], [], [], [], {}
for lam in lams:
    m = LogisticRegression(C=reg_to_C(lam, n_dev), max_iter=50 if quick else 300)
    m.fit(X_dev, y_dev)
    acc_tr.append(m.score(X_dev, y_dev))
    acc_va.append(m.score(X_val, y_val))
    loss_tr.append(linear.softmax_loss_torch(m.decision_function(X_dev), y_dev).item())
    loss_va.append(linear.softmax_loss_torch(m.decision_function(X_val), y_val).item())
    W_at[lam] = m.coef_
best = lams[int(np.argmax(acc_va))]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for ax, tr, va, what in ((axes[0], acc_tr, acc_va, "accuracy"),
                         (axes[1], loss_tr, loss_va, "softmax data loss")):
    ax.semilogx(lams, tr, "o-", ms=4, color=CLASS_COLORS[0], label=f"training ({n_dev} images)")
    ax.semilogx(lams, va, "s-", ms=4, color=CLASS_COLORS[1],
                label=f"validation ({len(y_val)} images)")
    ax.axvline(best, color="0.5", ls=":", label=f"best validation accuracy: λ = {best:.0e}")
    ax.set_xlabel("regularisation strength λ")
    ax.set_ylabel(what)
    ax.legend(fontsize=8)
axes[1].axhline(math.log(C), color="k", lw=0.8, ls="--")
axes[1].text(lams[0], math.log(C), "log C", va="bottom", fontsize=8)
fig.suptitle("softmax classifier with an L2 penalty, trained on a small subset", fontsize=11)
fig.tight_layout()
plt.show()
print(f"λ = {lams[0]:.0e}: training accuracy {acc_tr[0]:.1%}, training loss {loss_tr[0]:.3f}, "
      f"validation loss {loss_va[0]:.3f}")
print(f"best validation accuracy at λ = {best:.0e}, lowest validation loss at "
      f"λ = {lams[int(np.argmin(loss_va))]:.0e}")
print(f"λ = {lams[-1]:.0e}: training accuracy {acc_tr[-1]:.1%}, losses {loss_tr[-1]:.3f} "
      f"(training) and {loss_va[-1]:.3f} (validation) against log C = {math.log(C):.3f}, "
      f"validation accuracy {acc_va[-1]:.1%} (chance {1 / C:.0%})")

# %% [markdown]
# Read the plots from left to right, with the three lines printed under them. With almost no
# regularisation the classifier fits the training subset perfectly and its training loss is near 0,
# while the validation loss is much higher: that gap is **overfitting**, the weights have grown
# large to make every training example certain. A moderate $\lambda$ gives the best validation
# accuracy (the validation loss may be lowest at another $\lambda$, printed beside it; the two
# criteria need not agree). A large $\lambda$ **underfits**: training accuracy falls, and both
# losses climb towards $\log C$ because all scores shrink towards 0. (The accuracy does not drop to
# chance, since the argmax ignores the overall scale of $W$: strongly regularised templates drift
# towards each class's average image, a simpler and weaker classifier.)
#
# The templates, all on the same kind of colour scale (note the colour bars): with weak
# regularisation the weights are large and pixel-by-pixel noisy; with strong regularisation they
# are tiny and smooth.

# %%
strong = lams[np.argmin(np.abs(np.log10(lams) + 0.5))]  # the lambda closest to 0.3
for lam in (lams[0], best, strong):
    show_templates(W_at[lam], data.image_shape, data.class_names, size=1.0,
                   title=f"λ = {lam:.0e}:  ΣW² = {np.sum(W_at[lam] ** 2):.3g}")
    plt.show()

# %% [markdown]
# L1 in practice: the same classifier, trained with an L1 penalty (on the training set; on
# CIFAR-10 on the development subset, to keep it quick), sets most weights exactly to zero. The
# templates shrink to a handful of pixels that say "ink here" or "no ink here", at a small cost
# in accuracy (the first two lines below). On the digits, the few exact zeros under L2 belong to
# border pixels that are blank in every training image, so nothing ever pushes their weights
# (the third line counts them).

# %%
lam1 = 1e-3
X_l1, y_l1 = (X_dev, y_dev) if quick else (X_train, y_train)
m_l1 = LogisticRegression(C=reg_to_C(lam1, len(y_l1), l1=True), l1_ratio=1.0, solver="saga",
                          max_iter=50 if quick else 200, tol=1e-3).fit(X_l1, y_l1)
print(f"L2 (λ={lam_lr:g}): {np.mean(W_lr == 0):.0%} of the weights are 0, "
      f"validation accuracy {clf.score(X_val, y_val):.1%}")
print(f"L1 (λ={lam1:g}): {np.mean(m_l1.coef_ == 0):.0%} of the weights are 0, "
      f"validation accuracy {m_l1.score(X_val, y_val):.1%} "
      f"(L2's minus L1's: {100 * (clf.score(X_val, y_val) - m_l1.score(X_val, y_val)):+.1f} points)")
zero_px = np.all(W_lr == 0, axis=0)               # (D,) pixels whose weight is 0 in every class
blank_px = np.all(X_train == 0, axis=0)           # (D,) pixels equal to the mean in every image
print(f"under L2, {zero_px.sum()} pixels have weight 0 in every class; blank in every training "
      f"image: {int(blank_px[zero_px].sum())} of them")
show_templates(m_l1.coef_, data.image_shape, data.class_names, size=1.0,
               title="L1-regularised templates: sparse (white = exactly 0)")
plt.show()

# %% [markdown]
# ## 8. SVM versus softmax
#
# Both classifiers use the same score function; they differ in what they ask of the scores.
# The SVM is **satisfied** as soon as the correct class leads every other by the margin: beyond
# that, the loss is exactly 0 and the example stops influencing $W$. The softmax is **never fully
# satisfied**: the correct class's probability can always move closer to 1, so every example keeps
# pulling, ever more weakly. Same scores, correct class 0, three different situations:

# %%
cases_s = {"clear win":       [10.0, -2.0, 3.0],
           "overwhelming":    [10.0, -100.0, -100.0],
           "exactly the margin": [10.0, 9.0, 9.0]}
y0 = torch.tensor([0])
print(f"{'':20s} {'scores':22s} {'SVM loss':>9s} {'softmax loss':>13s}")
for label, sc in cases_s.items():
    st = torch.tensor([sc])
    print(f"{label:20s} {str(sc):22s} {linear.svm_loss_torch(st, y0).item():9.4f} "
          f"{linear.softmax_loss_torch(st, y0).item():13.6f}")

# %% [markdown]
# The SVM gives all three the same loss, 0. The softmax ranks them: the narrow win still costs
# $\log(1 + 2e^{-1}) \approx 0.55$, the clear win almost nothing, the overwhelming one nothing
# measurable. With two classes
# the difference is easy to plot as a function of the margin $m = s_{y} - s_{\text{other}}$:
# the hinge $\max(0, 1 - m)$ reaches zero at $m = 1$; the softmax loss $\log(1 + e^{-m})$ only
# approaches it. Far on the wrong side both grow linearly.

# %%
mg = np.linspace(-4, 6, 300)
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(mg, np.maximum(0, 1 - mg), color=CLASS_COLORS[0], label="SVM (hinge)  max(0, 1 - m)")
ax.plot(mg, np.log1p(np.exp(-mg)), color=CLASS_COLORS[5], label="softmax  log(1 + exp(-m))")
ax.axvline(1, color="0.6", ls=":")
ax.set_xlabel("margin m = score of the right class - score of the other")
ax.set_ylabel("loss")
ax.legend(fontsize=8)
ax.set_title("two classes: the two losses as functions of the margin")
plt.show()

# %% [markdown]
# In practice the two perform about the same. Below, both are trained on the same data with the
# same gradient descent (torch autograd, `dlcv.classification.linear.fit`), from the same small
# random start; the last line counts the validation images each gets right.

# %%
lr_gd = 2.0 / np.mean(np.sum(X_train ** 2, axis=1))  # a step size scaled to the data
results = {}
for loss in ("svm", "softmax"):
    W_, b_, hist_ = linear.fit(W0, b0, X_train, y_train, loss=loss, reg=1e-3,
                               steps=100 if quick else 300, lr=lr_gd)
    results[loss] = (W_, b_, hist_)
    ev = linear.evaluate(W_, b_, X_val, y_val)
    print(f"{loss:7s}: loss {hist_[0]:.3f} -> {hist_[-1]:.3f}, validation accuracy "
          f"{ev['accuracy']:.1%}")
pred_svm = linear.regions(*results["svm"][:2], X_val)
pred_sm = linear.regions(*results["softmax"][:2], X_val)
print(f"the two classifiers agree on {np.mean(pred_svm == pred_sm):.1%} of validation images; "
      f"they get {np.sum(pred_svm == y_val)} and {np.sum(pred_sm == y_val)} of the "
      f"{len(y_val)} right")

# %% [markdown]
# Which to choose? The softmax gives probabilities (useful, though not automatically well
# calibrated) and is the default in deep learning; the SVM's indifference to examples already
# classified with a margin can be an advantage when many examples are easy. Tang (2013) reported
# that replacing a network's softmax by a linear SVM loss helped on some benchmarks; neither wins
# everywhere.
#
# ## 9. A first look at optimisation: follow the gradient
#
# We have a loss $L(W, b)$; we want its minimum. The gradient $\nabla_W L$ points in the direction
# of steepest increase, so a small step against it lowers the loss:
#
# $$ W \leftarrow W - \eta\, \nabla_W L, \qquad b \leftarrow b - \eta\, \nabla_b L, $$
#
# with the **learning rate** $\eta$. Computing the gradient over all $N$ examples at each step is
# wasteful; **stochastic (minibatch) gradient descent** estimates it from a random batch of a few
# hundred examples. Lecture 03 derives the gradients and studies the method in depth; here torch
# computes the gradient for us (`loss.backward()`, automatic differentiation) and we just watch
# the loss go down.

# %%
torch.manual_seed(0)
Xt, yt, Xv = torch.from_numpy(X_train), torch.from_numpy(y_train), torch.from_numpy(X_val)
W = torch.tensor(W0, requires_grad=True)  # (C, D), the sanity-check start
b = torch.zeros(C, dtype=torch.float64, requires_grad=True)  # (C,)
lam, batch, steps = 1e-3, 128, (200 if quick else 400)
history, checkpoints = [], []
for it in range(steps):
    idx = torch.randint(0, N, (batch,))                 # a random minibatch
    scores = Xt[idx] @ W.T + b                          # (batch, C)
    loss = F.cross_entropy(scores, yt[idx]) + lam * (W * W).sum()
    W.grad = b.grad = None
    loss.backward()                                     # fills W.grad and b.grad
    with torch.no_grad():
        W -= lr_gd * W.grad                             # a step downhill
        b -= lr_gd * b.grad
        history.append(loss.item())
        if it % 20 == 0 or it == steps - 1:
            acc_t = ((Xt @ W.T + b).argmax(1) == yt).double().mean().item()
            acc_v = ((Xv @ W.T + b).argmax(1).numpy() == y_val).mean()
            checkpoints.append((it, acc_t, acc_v))
print(f"first minibatch loss {history[0]:.3f} (log C = {math.log(C):.3f}), last {history[-1]:.3f}")
print("mean minibatch loss over steps 1-50: {:.3f}, 51-100: {:.3f}, the 50 before the last 50: "
      "{:.3f}, the last 50: {:.3f}".format(*(np.mean(history[a:a + 50])
                                            for a in (0, 50, steps - 100, steps - 50))))

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.2))
plot_loss_history(ax0, history, title="minibatch loss (softmax + L2)", smooth=20)
its, a_t, a_v = zip(*checkpoints, strict=True)
ax1.plot(its, a_t, "o-", ms=3, color=CLASS_COLORS[0], label="training")
ax1.plot(its, a_v, "s-", ms=3, color=CLASS_COLORS[1], label="validation")
ax1.set_xlabel("iteration")
ax1.set_ylabel("accuracy")
ax1.set_ylim(0, 1)
ax1.legend(fontsize=8)
ax1.set_title("accuracy during training")
fig.tight_layout()
plt.show()

# %% [markdown]
# The grey curve jumps because each minibatch is different; the blue moving average shows the trend.
# The loss starts at the sanity-check value $\log C$ and falls fast, then slowly (the averages
# printed above). Whether this quick run has converged is hard to tell from the minibatch loss
# alone; the learning rate, the number of steps and the batch size are hyperparameters, and
# lecture 03 is about choosing them well.
#
# ## 10. Play with it: a linear classifier you steer by hand
#
# The widget below is a linear classifier on 2-D points with three classes. Choose a class with
# **edit row of class** and move its row of $W$ with **w1**, **w2** and its bias with **b**. On the
# left you see the decision regions, the line $s_c = 0$ of each class (solid for the one you edit)
# and each $w_c$ as an arrow. On the right, bars show the mean SVM loss, the mean softmax loss, the
# regularisation term $\lambda \sum W^2$ and the accuracy; the dotted marks show the losses when
# all scores are equal (the sanity-check values $C - 1 = 2$ and $\log 3 \approx 1.10$). **fit**
# runs 200 steps of gradient descent on the chosen loss plus the regularisation term, starting
# from the current weights; **reset** draws small random weights.
#
# Things to try:
#
# 1. The start is deliberately wrong: class 2 (green) has a turned row and a bias that is too
#    low. Repair it by hand. Watch the bars while you do: the accuracy jumps in steps as points
#    change region, while both losses move smoothly. Why is a smooth loss a better thing to
#    optimise than the accuracy itself?
# 2. Press **reset** and read the bars: are the losses where section 6 said they would be?
#    Then press **fit**, with each of the two losses.
# 3. Fit on the blobs (the third picture below shows one fit) and compare the two losses: which
#    one is (nearly) 0, and why? Raise **λ** to 0.1 or more and fit again: what happens to the
#    arrows and the losses?
# 4. Switch the data to *one class in two places* and fit. Can any setting of the sliders classify
#    it all correctly? Try *spiral* too.
#
# For readers without a live kernel, here are four states of the same picture, drawn with the
# same functions.

# %%
X_b, y_b = linear.toy_data("blobs")
states = [("small random W (reset)", 0.01 * rng.standard_normal((3, 2)), np.zeros(3), X_b, y_b),
          ("the widget's start", np.array(START_W), np.array(START_B), X_b, y_b)]
W_fit, b_fit, _ = linear.fit(np.array(START_W), np.array(START_B), X_b, y_b, reg=1e-3)
states.append(("after fit (softmax)", W_fit, b_fit, X_b, y_b))
X_m, y_m = linear.toy_data("one class in two places")
W_m, b_m, _ = linear.fit(np.zeros((3, 2)), np.zeros(3), X_m, y_m, reg=1e-3, steps=400)
states.append(("one class in two places, fitted", W_m, b_m, X_m, y_m))
fig, axes = plt.subplots(1, 4, figsize=(14, 4.2))
for ax, (t, W_, b_, X_, y_) in zip(axes, states, strict=True):
    linear.plot_linear_2d(ax, W_, b_, X_, y_, title=t)
    ev = linear.evaluate(W_, b_, X_, y_, reg=1e-3)
    ax.set_xlabel(f"SVM {ev['svm']:.2f} | softmax {ev['softmax']:.2f}\n"
                  f"reg {ev['reg']:.3f} | accuracy {ev['accuracy']:.0%}", fontsize=9)
fig.tight_layout()
plt.show()

# %%
view = LinearClassifierView()
view

# %% [markdown]
# ## Check yourself
#
# **1.** A linear classifier for CIFAR-10 uses the bias trick. What is the shape of $\tilde W$, and
# how many numbers does it hold?
#
# <details><summary>Answer</summary>
#
# $10 \times 3073$: 3072 pixel weights plus one bias column per class, 30 730 numbers.
# </details>
#
# **2.** Your first SVM loss on CIFAR-10, with tiny random weights, is 0.02. What do you suspect?
#
# <details><summary>Answer</summary>
#
# It should be about $C - 1 = 9$. A value near 0 says the margins are already met, which tiny
# weights cannot achieve. The usual suspects: the margin $\Delta$ was left out (with $\Delta = 0$
# and scores near 0 every hinge is tiny), or the loss is divided by something extra: the mean
# taken twice, say, or torch's `multi_margin_loss` (which also averages over the $C$ classes)
# used without multiplying back by $C$ and then divided again.
# </details>
#
# **3.** You found $W$ with zero SVM data loss. Is it unique? What does regularisation add?
#
# <details><summary>Answer</summary>
#
# No: scaling $W$ and $b$ by any $\alpha > 1$ also meets every margin (every score difference
# grows by the factor $\alpha$).
# Regularisation breaks the tie in favour of small weights, and so expresses a preference among
# all classifiers that fit the data.
# </details>
#
# **4.** Add 5 to every score of one example. How do its SVM loss and its softmax loss change?
# And if you multiply every score by 5?
#
# <details><summary>Answer</summary>
#
# Adding a constant changes neither: the SVM uses only differences $s_j - s_{y_i}$, and the
# softmax cancels $e^5$ between numerator and denominator. Multiplying by 5 changes both: every
# score difference grows five-fold. In the SVM, wrong classes below the correct one fall further
# below (their hinges shrink or vanish) while those above it climb further (their hinges grow);
# the softmax becomes peakier, so the loss drops if the correct class leads and grows if not.
# </details>
#
# **5.** Can the softmax loss of a training example be exactly 0? Can the SVM loss?
#
# <details><summary>Answer</summary>
#
# The SVM loss can: as soon as every margin is met. The softmax loss cannot for finite scores,
# because every $e^{s_j}$ is positive, so $p_{y_i} < 1$; it only tends to 0 as the correct score
# pulls away.
# </details>
#
# **6.** Why does the softmax code subtract $\max_j s_j$, and why is it allowed to?
#
# <details><summary>Answer</summary>
#
# To avoid overflow of $e^{s}$ for large scores (float32 overflows beyond $e^{88}$). It is allowed
# because the softmax is unchanged by adding the same constant to every score.
# </details>
#
# **7.** Two weight vectors give the same scores on every training image. L2 regularisation picks
# which one, and why might that generalise better?
#
# <details><summary>Answer</summary>
#
# The one with the smaller sum of squares, which spreads the weight over many inputs. Its
# decisions rest on many pixels at once, so noise in a few pixels changes the scores little.
# </details>
#
# **8.** Why can no linear classifier solve XOR, and name two ways around it.
#
# <details><summary>Answer</summary>
#
# The region of each class is convex (an intersection of half-spaces), while the XOR classes each
# consist of two opposite quadrants, whose convex hulls overlap. Ways around: map the input to
# features in which the problem is linear (for XOR, the product $x_1 x_2$), or learn such features
# with a neural network (a hidden layer with a non-linearity).
# </details>
#
# **9.** Why do the CIFAR-10 templates of a linear classifier often look like two-headed horses or
# blurry coloured blobs?
#
# <details><summary>Answer</summary>
#
# One template per class must score all the training images of that class highly at once. Horses
# facing left and right, cars of every colour, planes on every background: the template becomes a
# compromise, an average of several modes, which is why a linear classifier stays near 40%
# accuracy on CIFAR-10 and why we move on to networks with many templates (hidden units).
# </details>
#
# ## Summary
#
# * A linear classifier computes $C$ scores $s = Wx + b$ and predicts the largest. Training fits
#   $W$ and $b$; testing is one matrix product. The bias trick folds $b$ into $W$.
# * Three readings: a matrix product (scores of a batch at once), template matching (each row of
#   $W$ is a class template), hyperplanes (each row cuts space; class regions are convex). Convex
#   regions and one template per class are also the limits: XOR, rings and multi-modal classes
#   are out of reach without better features.
# * A loss function scores how bad $W$ is. The **multiclass SVM** loss
#   $\sum_{j \ne y_i} \max(0, s_j - s_{y_i} + 1)$ asks for a margin and is then satisfied; the
#   **softmax** loss $-\log\big(e^{s_{y_i}} / \sum_j e^{s_j}\big)$ is the cross-entropy between the
#   label and the predicted distribution (maximum likelihood) and never quite reaches 0.
#   Compute it with the maximum subtracted.
# * At initialisation expect $L \approx C - 1$ (SVM) and $L \approx \log C$ (softmax).
# * Full loss = data loss + $\lambda R(W)$. L2 prefers small, spread-out weights; L1 prefers sparse
#   ones; elastic net mixes both. Choose $\lambda$ on validation data: too small overfits, too
#   large underfits.
# * SVM and softmax usually reach similar accuracy. Both are trained by following the negative
#   gradient (lecture 03).
#
# ## Papers and further reading
#
# * F. Rosenblatt (1958). The perceptron: a probabilistic model for information storage and
#   organization in the brain. *Psychological Review* 65(6), 386–408. The first trained linear
#   classifier.
# * M. Minsky, S. Papert (1969). *Perceptrons*. MIT Press. The limits of linear separation, XOR
#   among them.
# * C. Cortes, V. Vapnik (1995). Support-vector networks. *Machine Learning* 20(3), 273–297. The
#   (binary) soft-margin SVM and its hinge loss.
# * J. Weston, C. Watkins (1999). Support vector machines for multi-class pattern recognition.
#   *ESANN 1999*, 219–224. The multiclass SVM loss used in this chapter.
# * K. Crammer, Y. Singer (2001). On the algorithmic implementation of multiclass kernel-based
#   vector machines. *JMLR* 2, 265–292. The variant that pays only for the worst wrong class.
# * A. E. Hoerl, R. W. Kennard (1970). Ridge regression: biased estimation for nonorthogonal
#   problems. *Technometrics* 12(1), 55–67. L2 regularisation.
# * R. Tibshirani (1996). Regression shrinkage and selection via the lasso. *J. Royal Statistical
#   Society B* 58(1), 267–288. L1 regularisation and sparsity.
# * H. Zou, T. Hastie (2005). Regularization and variable selection via the elastic net.
#   *J. Royal Statistical Society B* 67(2), 301–320.
# * Y. Tang (2013). Deep learning using linear support vector machines. *ICML 2013 Workshop on
#   Representation Learning*, arXiv:1306.0239.
# * C. M. Bishop (2006). *Pattern Recognition and Machine Learning*, Springer. Chapter 4, linear
#   models for classification (discriminant functions, logistic regression, softmax).
# * I. Goodfellow, Y. Bengio, A. Courville (2016). *Deep Learning*, MIT Press. Section 4.1
#   (overflow and the stable softmax), 5.5 (maximum likelihood), 7.1 (norm penalties).
# * T. M. Cover, J. A. Thomas (2006). *Elements of Information Theory*, 2nd ed., Wiley. Entropy,
#   cross-entropy and the Kullback–Leibler divergence.
# * A. Krizhevsky (2009). Learning multiple layers of features from tiny images. Tech. report,
#   University of Toronto. The CIFAR-10 data set.
# * Stanford CS231n course notes, *Linear classification: Support Vector Machine, Softmax*,
#   https://cs231n.github.io/linear-classify/ : the source of the worked examples' numbers.
