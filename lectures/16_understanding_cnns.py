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
# # Lecture 16 — Understanding and attacking CNNs
#
# Thirteen lectures trained networks and measured them by one number, the accuracy on held-out
# data. That number says *how often* a network is right; it says nothing about *why*. A network
# that recognises huskies by the snow behind them, or pneumonia by the hospital's stamp in the
# corner of the X-ray, can score well on a test set drawn like its training set and fail the day
# the snow or the stamp is missing. Before we trust a network we want to look inside it: what
# its filters respond to, which images it finds similar, which pixels its decision rests on,
# what it "thinks" a class looks like.
#
# The same tools, turned around, show something disturbing. The gradient that tells us which
# pixels matter also tells us how to change them: a perturbation too small to see changes the
# answer of an accurate network, almost always, and an image of pure noise can be made that
# the network labels with near certainty. These **adversarial examples** are not a curiosity of
# one architecture; they transfer from one network to another, and defending against them costs
# accuracy and compute. This lecture does both halves on one small classifier, measuring every
# claim on it.
#
# **After this lecture you can**
#
# 1. show a CNN's first-layer filters and its activation maps, and say what each reveals;
# 2. compare nearest neighbours in pixel space and in feature space, and draw a t-SNE map of a
#    network's features, knowing what such a map can and cannot show;
# 3. compute occlusion maps, gradient saliency, SmoothGrad, integrated gradients and Grad-CAM,
#    check the completeness of integrated gradients numerically, and test whether a map points
#    at pixels that matter;
# 4. synthesise an image that a class neuron prefers, and invert a layer's features back to
#    an image;
# 5. write FGSM and PGD (untargeted and targeted), measure an attack's success rate at a given
#    budget, make fooling images from noise, and measure how attacks transfer between networks;
# 6. train a network adversarially and report its clean and robust accuracy honestly.
#
# **Plan.** The classifier → weights and activations → feature space (neighbours, t-SNE) →
# attribution (occlusion, gradients, SmoothGrad, integrated gradients, Grad-CAM, a deletion
# test) → images made by gradient ascent (class models, feature inversion) → adversarial
# examples (FGSM, PGD, targeted attacks, fooling images, transfer, adversarial training) → a
# widget with both halves side by side → questions, summary, papers.
#
# **The data.** Everything here runs on the course's embedded digits, upsampled bilinearly
# from 8x8 to 16x16 pixels (`dlcv.understanding.model.load_images`). Upsampling adds no
# information, but it gives the maps of section 4 and the perturbations of section 6 room to
# be seen: at 8x8, a Grad-CAM map from a pooled layer would be 2x2 squares. The classifier
# trains in seconds, so every number below is recomputed each time the notebook runs. With
# CIFAR-10 on disk, `SOURCE = "auto"` in the next cell runs the lecture on 32x32 colour images
# instead (much slower, and the prose describes the digits). The classifier is one call away for
# your own experiments: `dlcv.understanding.model.classifier(seed=0)`.

# %%
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from dlcv.networks.mlp import count_parameters
from dlcv.plots import CLASS_COLORS
from dlcv.timing import cap_threads
from dlcv.understanding import attacks as AK
from dlcv.understanding import attribution as AT
from dlcv.understanding import features as FE
from dlcv.understanding import synthesis as SY
from dlcv.understanding.model import accuracy, classifier, load_images
from dlcv.understanding.widgets import InspectView

plt.rcParams.update({"figure.figsize": (9, 3.2), "figure.dpi": 90, "font.size": 10})
np.set_printoptions(precision=3, suppress=True, linewidth=110)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine
_ = torch.manual_seed(0)
t_start = time.perf_counter()

SOURCE = "digits"  # "auto": CIFAR-10 when it is on disk (see data/README), the digits otherwise
data = load_images(SOURCE)
print(data)
X_train, y_train = torch.tensor(data.X_train), torch.tensor(data.y_train)
X_test, y_test = torch.tensor(data.X_test), torch.tensor(data.y_test)
names = data.class_names
C, S = X_train.shape[1], X_train.shape[-1]


def show(ax, img, title=None, **kw):
    """One (C, H, W) image (or (H, W) map) on an axis without ticks."""
    img = np.asarray(img)
    if img.ndim == 3:
        img = img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)
    kw = {"cmap": "gray", "vmin": 0, "vmax": 1} | kw if img.ndim == 2 else kw
    ax.imshow(img, **kw)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


# %% [markdown]
# ## 1. The classifier we will look inside
#
# `ProbeCNN` is a small network with its stages named, so that we can read each one:
#
# | stage | what it does | output for a 16x16 digit |
# |---|---|---|
# | `conv1` | 5x5 convolution, 16 filters, ReLU, 2x2 max-pool | (16, 8, 8) |
# | `conv2` | 3x3 convolution, 32 filters, ReLU | (32, 8, 8) |
# | `conv3` | 3x3 convolution, 32 filters, ReLU | (32, 8, 8) |
# | `hidden` | 2x2 max-pool, flatten, fully connected to 64, ReLU | (64,) |
# | `fc` | fully connected to the 10 class scores | (10,) |
#
# It has no batch normalisation and no dropout, so it computes the same function in training
# and in evaluation mode, which keeps the gradients of section 4 simple. It is trained with
# Adam on cross-entropy for 15 epochs through the course's loop (`dlcv.loop.train`), and cached:
# asking for `classifier(seed=0)` again returns the same trained network.

# %%
t0 = time.perf_counter()
model = classifier(seed=0, source=SOURCE)
print(f"ProbeCNN: {count_parameters(model):,} parameters, trained in {time.perf_counter() - t0:.1f} s "
      f"({model.log.steps} steps, last-epoch loss {np.mean(model.log.loss[-20:]):.3f})")
acc = accuracy(model, X_test, y_test)
print(f"test accuracy {acc:.3f} on {len(y_test)} images")
with torch.no_grad():
    test_pred = model(X_test).argmax(1)

# %% [markdown]
# The accuracy printed above is what every later section measures against: an explanation
# explains this network, and an attack "succeeds" only on test images that this network
# classifies correctly to begin with.
#
# ## 2. Weights and activations
#
# ### 2.1 The first layer's filters
#
# The first layer is the only one whose weights can be read as pictures: each filter is a
# 5x5 patch applied directly to the pixels, and its response is largest where the image
# locally looks like the filter. Krizhevsky et al. (2012) showed AlexNet's 96 first-layer
# filters of 11x11x3: oriented edges at many angles and frequencies, and colour blobs, much
# like the Gabor filters of the visual cortex and of hand-made features. Deeper filters have
# as many input channels as the layer below has filters, so there is no picture to draw.

# %%
W1 = FE.first_layer_filters(model)                        # (16, C, 5, 5)
fig, axes = plt.subplots(1, 16, figsize=(11, 1.1))
for k, ax in enumerate(axes):
    w = W1[k] if C == 3 else W1[k, 0]
    lim = np.abs(w).max()
    if C == 3:
        show(ax, (w - w.min()) / (w.max() - w.min()))
    else:
        show(ax, w, cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_title(f"{k}", fontsize=7)
fig.suptitle("conv1 filters (red: positive weight, blue: negative)", fontsize=9, y=1.12)
plt.show()

# %% [markdown]
# These are far from AlexNet's clean edges. A few filters are split into a positive and a
# negative side (filter 0, for instance): they respond to a change of brightness across the
# patch, the *edge* of a stroke at some orientation. Most look like noise with a slight
# preference for one region or direction. Sixteen filters trained for 15 epochs on 1,257
# small, soft digits have no reason to become tidy: the task is solved long before they do,
# and the random initial weights are still visible in them. Clean Gabor-like filters come
# from large networks trained long on millions of varied photographs.
#
# ### 2.2 Activation maps
#
# A layer's output for one image is a stack of maps, one per filter, each showing where its
# pattern occurs. Below, one test digit with the 16 maps of `conv1` (after ReLU and pooling,
# 8x8) and the first 16 of the 32 maps of `conv3`, read from the network by forward hooks
# (`dlcv.understanding.features.activations`).

# %%
idx_show = 2
acts = FE.activations(model, X_test[idx_show:idx_show + 1], ["conv1", "conv3"])
fig, axes = plt.subplots(2, 17, figsize=(12, 1.8))
for row, name in enumerate(["conv1", "conv3"]):
    show(axes[row, 0], X_test[idx_show], title=f"label {names[y_test[idx_show]]}")
    maps = acts[name][0]
    for k in range(16):
        show(axes[row, k + 1], maps[k], cmap="viridis", vmin=0, vmax=float(maps.max()))
    axes[row, 1].set_title(name, fontsize=8, loc="left")
plt.show()
for name in ["conv1", "conv3"]:
    a = acts[name][0]
    silent = int((a.amax((1, 2)) == 0).sum())
    print(f"{name}: {a.shape[0]} maps of {a.shape[1]}x{a.shape[2]}, {silent} entirely zero "
          f"for this image, {float((a > 0).float().mean()):.0%} of all values positive")

# %% [markdown]
# The `conv1` maps still look like the digit: each is the digit seen through one edge or blob
# filter. The `conv3` maps, two more layers up, are sparser and harder to read: each responds
# to a combination of strokes in a region of the digit, and some are silent for this image
# (their count is printed above). Zeiler & Fergus (2014) went further and projected the
# strongest activations of deep layers back to pixel space with a "deconvnet"; on ImageNet,
# deeper layers responded to textures, object parts and whole objects. Here we take another
# route to the deeper layers: through the images they group together.
#
# ## 3. Feature space
#
# ### 3.1 Nearest neighbours: pixels against features
#
# Lecture 01 classified digits by their nearest neighbours in pixel space. A trained network
# offers another space: the 64 numbers of its `hidden` layer, the input of its last linear
# classifier (the **penultimate features**; Krizhevsky et al. 2012 retrieved ImageNet
# neighbours this way). Which space puts images of the same class closer together? For every
# test image we take its 5 nearest training images in each space and count how many share its
# label. Lecture 01 also showed the pixel distance's weak spot: an image shifted by a few
# pixels is far from itself. So we ask the same question of test digits shifted to the right
# by 1 and 2 pixels (the training images stay where they are).

# %%
K_NN = 5
pix_train, feat_train = data.X_train.reshape(len(X_train), -1), FE.embed(model, data.X_train)
print(f"share of the {K_NN} nearest training images with the query's label")
print(f"{'test digits':22s} {'pixels':>8s} {'features':>9s}  {'closer in':10s} {'network accuracy':>17s}")
shifted = {}
for shift in (0, 1, 2):
    Xq = np.roll(data.X_test, shift, axis=3)             # move the ink right (the border is black)
    nn_p = FE.nearest_neighbours(Xq.reshape(len(Xq), -1), pix_train, K_NN)
    nn_f = FE.nearest_neighbours(FE.embed(model, Xq), feat_train, K_NN)
    a_p = FE.label_agreement(nn_p, data.y_test, data.y_train)
    a_f = FE.label_agreement(nn_f, data.y_test, data.y_train)
    shifted[shift] = (Xq, nn_p, nn_f)
    print(f"{f'shifted by {shift} px':22s} {a_p:8.3f} {a_f:9.3f}  "
          f"{'features' if a_f > a_p else 'pixels':10s} {accuracy(model, Xq, data.y_test):17.3f}")

Xq, nn_p, nn_f = shifted[2]
fig, axes = plt.subplots(4, 2 * K_NN + 2, figsize=(11, 5))
for r in range(4):
    show(axes[r, 0], Xq[r], title=f"query: {names[data.y_test[r]]}")
    axes[r, 1].axis("off")
    for j in range(K_NN):
        for off, nn_idx, lab in ((2, nn_p, "pixels"), (2 + K_NN, nn_f, "features")):
            t = int(nn_idx[r, j])
            show(axes[r, off + j], X_train[t],
                 title=(f"{lab}: " if j == 0 else "") + names[y_train[t]])
            ok = data.y_train[t] == data.y_test[r]
            for sp in axes[r, off + j].spines.values():
                sp.set_color(CLASS_COLORS[2] if ok else CLASS_COLORS[3])
                sp.set_linewidth(2)
plt.tight_layout()
plt.show()

# %% [markdown]
# Read the table first. On the digits as they come, the pixel neighbours are already as good
# as the network's: this data set was centred and size-normalised by its makers, which is why
# nearest neighbours worked so well on it in lecture 01, and the network adds nothing here.
# Shift the queries, and the pixel neighbours fall apart much faster than the feature
# neighbours (the comparison is printed for each shift): convolutions respond to a pattern
# wherever it is, and max-pooling forgets a pixel or two of position. Features are not
# shift-*invariant*, though: the network's own accuracy falls too, because it never saw a
# shifted digit in training.
#
# The figure shows the first four test digits shifted by 2 pixels with their 5 nearest
# training images in each space, framed green when they share the query's label and
# pink when they do not. The pixel neighbours are training digits that happen to be written
# towards the right, and where they have another label, they have ink where the query has
# it (the 9s next to the 3, the 2 and the 3 next to the 8). The feature neighbours are mostly
# of the query's class, though not all (look at the last row).
#
# ### 3.2 A map of the feature space: t-SNE
#
# To *see* 64-dimensional features we must flatten them to two. **t-SNE** (van der Maaten &
# Hinton, 2008) places one point per image in the plane so that the neighbour probabilities
# of the high-dimensional points,
#
# $$ p_{j|i} \propto \exp\!\big(-\lVert x_i - x_j \rVert^2 / 2\sigma_i^2\big), $$
#
# with $\sigma_i$ set so that each point has a fixed effective number of neighbours (the
# **perplexity**, 30 here), are matched by those of the 2-D points under a heavy-tailed
# Student-t kernel $q_{ij} \propto (1 + \lVert y_i - y_j \rVert^2)^{-1}$, minimising
# $\mathrm{KL}(P \,\Vert\, Q)$ by gradient descent. It keeps neighbourhoods; it does not keep
# distances between clusters, their sizes or their shapes. We compute it with scikit-learn
# for the 360 test images, once on their pixels and once on their penultimate features, and
# measure how often a point's nearest neighbour *in the 2-D map* has its label.

# %%
t0 = time.perf_counter()
maps2d = {"pixels": FE.tsne(data.X_test.reshape(len(X_test), -1), seed=0),
          "penultimate features": FE.tsne(FE.embed(model, data.X_test), seed=0)}
fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
for ax, (name, Z) in zip(axes, maps2d.items(), strict=True):
    for k in range(len(names)):
        sel = data.y_test == k
        ax.scatter(Z[sel, 0], Z[sel, 1], s=9, color=CLASS_COLORS[k % len(CLASS_COLORS)],
                   label=names[k])
        cx, cy = np.median(Z[sel], 0)
        ax.text(cx, cy, names[k], fontsize=12, weight="bold", ha="center", va="center")
    one_nn = FE.label_agreement(FE.nearest_neighbours(Z, Z, 1, exclude_self=True), data.y_test,
                                data.y_test)
    ax.set_title(f"t-SNE of the {name}: 1-NN label agreement {one_nn:.3f}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    one_pred = FE.label_agreement(FE.nearest_neighbours(Z, Z, 1, exclude_self=True),
                                  test_pred.numpy(), test_pred.numpy())
    print(f"t-SNE of the {name}: the nearest point in the map has the same label for "
          f"{one_nn:.1%} of the test images, the same predicted class for {one_pred:.1%}")
plt.tight_layout()
plt.show()
print(f"two t-SNE maps in {time.perf_counter() - t0:.1f} s")

# %% [markdown]
# Both maps show clusters, because digits of one class look alike even in pixels. In the
# pixel map several clusters touch (3 and 9, 8 and 1); in the feature map
# every class is a compact island far from the others, which is what training asked of the
# features: the classes must be separable by the last linear layer. Yet the printed 1-NN label
# agreement is *not* higher for the features. The islands are islands of the network's
# *decisions*: a digit the network gets wrong sits inside the island of the class it is
# mistaken for, as the second printed share (agreement of the *predicted* classes) shows. A
# t-SNE map of features shows what the network thinks, not what is true.
#
# Do not read more into such a map than neighbourhoods: the gap
# between two clusters and their relative sizes are not measured by t-SNE, and a different
# perplexity or seed moves the clusters around while keeping who is next to whom.
#
# ## 4. Which pixels matter? Attribution maps
#
# An **attribution** (or saliency) method assigns to each pixel of an image a number saying
# how much it contributes to the network's score $f_c(x)$ for a class $c$. We meet five
# methods, from the bluntest to the most principled, and then test whether their maps point
# at pixels that matter. They all explain the *logit* $f_c$, the score before the softmax,
# except occlusion, which uses the probability.
#
# ### 4.1 Occlusion
#
# Zeiler & Fergus (2014) slid a grey square over the image and recorded, for each position,
# the probability of the correct class: where it drops, the network was using what the square
# hid. This needs no gradient and no access to the network's inside, only many forward
# passes (one per position: 49 here, a 4x4 square moved by 2 pixels). We fill with 0, the
# background of the digits, so the square *erases* ink; each pixel gets the mean drop of the
# squares that cover it.
#
# ### 4.2 Gradients
#
# Simonyan, Vedaldi & Zisserman (2014) took the gradient of the class score with respect to
# the pixels, $\partial f_c / \partial x$: the first-order Taylor expansion
# $f_c(x + \delta) \approx f_c(x) + \nabla_x f_c \cdot \delta$ says which pixels would change
# the score most if changed a little. The **saliency map** is $\max_{\text{channel}}
# |\partial f_c / \partial x|$. It costs one backward pass, and it is noisy: the gradient of a
# ReLU network jumps from pixel to pixel as units switch on and off.
#
# ### 4.3 SmoothGrad
#
# Smilkov et al. (2017) average the saliency over noisy copies of the image,
# $\hat M(x) = \frac1n \sum_{i=1}^n M(x + \varepsilon_i)$, $\varepsilon_i \sim
# \mathcal N(0, \sigma^2 I)$ (here $n = 32$, $\sigma = 0.15$ for pixels in $[0, 1]$), which
# smooths the jumps of the gradient: a local average of the map, computed by sampling.
#
# ### 4.4 Integrated gradients
#
# A gradient is local: at a pixel where the network is saturated (the ReLU off, the score
# already high) it is zero even if the pixel matters. Sundararajan, Taly & Yan (2017) integrate
# the gradient along the straight path from a **baseline** $x'$ (a black image here) to $x$:
#
# $$ \mathrm{IG}_i(x) = (x_i - x'_i) \int_0^1 \frac{\partial f_c}{\partial x_i}\big(x' + t\,(x - x')\big)\, dt . $$
#
# By the fundamental theorem of calculus for path integrals, the attributions add up to the
# change of the score, the **completeness** axiom:
#
# $$ \sum_i \mathrm{IG}_i(x) = f_c(x) - f_c(x') . $$
#
# In code, the integral is a sum over $m$ points of the path (the midpoint rule), so
# completeness holds only approximately, better as $m$ grows. We check it on test images.

# %%
n_check = 8
xs, cs = X_test[:n_check], y_test[:n_check]
gap = (AT.class_scores(model, xs, cs) - AT.class_scores(model, torch.zeros_like(xs), cs)).detach()
print(f"f_c(x) - f_c(black) for {n_check} test images: {gap.numpy()}")
for m in (2, 8, 32, 128):
    ig = AT.integrated_gradients(model, xs, cs, steps=m)
    err = (ig.sum((1, 2, 3)) - gap).abs()
    print(f"steps {m:3d}: sum of attributions - score change: largest |error| {float(err.max()):.4f}, "
          f"relative {float((err / gap.abs()).max()):.2%}")

# %% [markdown]
# The errors printed above shrink as the number of steps grows: the attributions account for
# the whole change of the score between the black image and the digit, and with enough steps
# the residue is a small fraction of it. (The ReLU kinks make the integrand piecewise smooth,
# so the error does not fall as fast as the midpoint rule's $1/m^2$ on a smooth function.)
# The lecture's maps use 32 steps.
#
# ### 4.5 Grad-CAM
#
# The last convolutional layer keeps a spatial layout and holds the network's most abstract
# features. Selvaraju et al. (2017) weight its $K$ maps $A^k$ by how much the class score
# depends on each, on average over the positions,
#
# $$ \alpha_k^c = \frac{1}{hw} \sum_{u,v} \frac{\partial f_c}{\partial A^k_{uv}}, \qquad
# L^c_{\text{Grad-CAM}} = \mathrm{ReLU}\Big(\sum_k \alpha^c_k A^k\Big), $$
#
# and upsample the $h \times w$ map to the image. The ReLU keeps the regions that speak *for*
# the class. For a network that ends in global average pooling and one linear layer, this is
# exactly the class activation map (CAM) of Zhou et al. (2016) (a test in
# `tests/understanding` checks it). Here `conv3` is 8x8: each Grad-CAM cell covers 2x2 pixels.
#
# ### 4.6 The five maps side by side

# %%
t0 = time.perf_counter()
pick = torch.tensor([int(np.flatnonzero(data.y_test == k)[0]) for k in range(6)])
xp, cp = X_test[pick], y_test[pick]
maps = {
    "occlusion": AT.occlusion(model, xp, cp, patch=S // 4, stride=S // 8),
    "gradient": AT.saliency(model, xp, cp),
    "SmoothGrad": AT.smoothgrad(model, xp, cp),
    "integrated gradients": AT.integrated_gradients(model, xp, cp).abs().amax(1),
    "Grad-CAM": AT.upsample(AT.gradcam(model, xp, cp), S),
}
fig, axes = plt.subplots(len(pick), len(maps) + 1, figsize=(9, 1.6 * len(pick)))
for r in range(len(pick)):
    show(axes[r, 0], xp[r], title="image" if r == 0 else None)
    for j, (name, mp) in enumerate(maps.items()):
        m_ = mp[r].numpy()
        show(axes[r, j + 1], m_ / max(np.abs(m_).max(), 1e-12), title=name if r == 0 else None,
             cmap="RdBu_r" if name == "occlusion" else "magma",
             vmin=-1 if name == "occlusion" else 0, vmax=1)
plt.tight_layout()
plt.show()
print(f"five attribution methods on {len(pick)} images in {time.perf_counter() - t0:.2f} s")

# %% [markdown]
# Each map is scaled to its own maximum; for occlusion, red marks squares whose removal lowers
# the class probability (blue would mark squares whose removal raises it). What the figure
# shows:
#
# * **Occlusion** is blank almost everywhere, with one or two decisive squares: the network is
#   so sure that hiding most of the digit leaves the probability near 1, and only erasing a
#   distinctive stroke (the foot of the 2, the lower bend of the 3, the crossing of the 4)
#   brings it down.
# * **The gradient** is speckled and spread over the whole square, background included: it
#   says how the score would move if a pixel changed, and adding ink to the background would
#   move it.
# * **SmoothGrad** on 16x16 digits is hardly different from the gradient: a little smoother,
#   the same pattern. Its effect on ImageNet photographs, where the gradient's speckle hides
#   the object, is far larger than here.
# * **Integrated gradients** are non-zero only on the ink, by construction: the factor
#   $x_i - x'_i$ vanishes wherever the pixel equals the black baseline, so this map cannot say
#   that an *empty* region matters (a 7 differs from a 9 by a loop that is *not* there). The
#   baseline is a choice, and it decides what the map can say.
# * **Grad-CAM** is coarse (its cells are 2x2 pixels), follows the strokes for some digits
#   (the 0, the 1, the 3) and picks out one part for others.
#
# ### 4.7 Do the maps point at pixels that matter? A deletion test
#
# A map can look plausible and mean little: Adebayo et al. (2018) showed that some methods give
# nearly the same pictures for a network with *random* weights, because the image's edges
# dominate them. A simple check of faithfulness is **deletion**: set the 10% of the pixels that
# a map ranks highest to black and measure how far the class probability falls, against the
# same number of pixels chosen at random. A map that finds the pixels the network relies on
# should make the probability fall further than chance. We run it on 100 test images that the
# network classifies correctly.

# %%
t0 = time.perf_counter()
right = np.flatnonzero(test_pred.numpy() == data.y_test)[:100]
xd, cd = X_test[right], y_test[right]
n_del = int(0.1 * S * S)
scores = {
    "occlusion": AT.occlusion(model, xd, cd, patch=S // 4, stride=S // 8),
    "gradient": AT.saliency(model, xd, cd),
    "SmoothGrad": AT.smoothgrad(model, xd, cd),
    "integrated gradients": AT.integrated_gradients(model, xd, cd).abs().amax(1),
    "Grad-CAM": AT.upsample(AT.gradcam(model, xd, cd), S),
    "random pixels": torch.rand(len(xd), S, S, generator=torch.Generator().manual_seed(0)),
}
p_before = AK.predict(model, xd)[1].gather(1, cd[:, None])[:, 0]


def delete_top(x, score, n):
    """x (N, C, H, W) with the n pixels of highest score (N, H, W) set to 0 in every channel."""
    top = score.reshape(len(x), -1).argsort(1, descending=True)[:, :n]
    keep = torch.ones(len(x), S * S).scatter_(1, top, 0.0).reshape(len(x), 1, S, S)
    return x * keep


drops = {}
for name, sc in scores.items():
    xs_ = delete_top(xd, sc, n_del)
    pred_, p_ = AK.predict(model, xs_)
    drops[name] = (float((p_before - p_.gather(1, cd[:, None])[:, 0]).mean()),
                   float((pred_ != cd).float().mean()))
print(f"deleting the top {n_del} of {S * S} pixels of {len(xd)} correctly classified images:")
print(f"{'ranked by':22s} {'mean drop of p(class)':>22s} {'now misclassified':>18s}")
for name, (d, wrong) in drops.items():
    print(f"{name:22s} {d:22.3f} {wrong:18.1%}")
rand = drops["random pixels"][0]
beat = [n for n in drops if n != "random pixels" and drops[n][0] > rand]
print(f"maps whose deletion hurts more than random pixels: {', '.join(beat) or 'none'}; "
      f"largest drop: {max(drops, key=lambda n: drops[n][0])} "
      f"({time.perf_counter() - t0:.1f} s)")

# %% [markdown]
# The last printed line names the maps whose top pixels hurt the network more than random
# pixels, and the one that hurts it most. Two cautions in reading the table. First, the test
# favours occlusion: occlusion *is* a deletion experiment (it erased squares and kept those
# that hurt), so it ranks pixels by exactly what is measured here, at the price of one forward
# pass per square. Second, an image with black holes punched in it is not a digit the network
# was trained on, so part of any drop may come from the strangeness of the holes rather than
# from the loss of evidence (Hooker et al. 2019 retrain the network on such images to
# separate the two). Among the gradient methods, the ones that look only at the ink rank it
# better; a map that looks convincing to us is not thereby faithful to the network.
#
# ## 5. Images made by the network: gradient ascent on the input
#
# So far we asked the network about real images. We can also ask it to *make* one: freeze the
# weights and treat the pixels as the parameters of an optimisation. Each run below is a
# training run in the course's loop (`dlcv.loop.train`) whose only parameter is the image, with
# Adam on its pixels and a projection back to $[0, 1]$ after every step.
#
# ### 5.1 Class model visualisation
#
# Simonyan, Vedaldi & Zisserman (2014) looked for the image that maximises a class score,
# regularised so that it stays image-like:
#
# $$ x^\star = \arg\max_x \; f_c(x) - \lambda_2 \lVert x - 0.5 \rVert_2^2 - \lambda_{TV}\, \mathrm{TV}(x),
# \qquad \mathrm{TV}(x) = \sum_{i,j} (x_{i+1,j} - x_{i,j})^2 + (x_{i,j+1} - x_{i,j})^2 . $$
#
# Without the penalties the maximiser is a saturated pattern of black and white pixels (a
# linear score is maximised at a corner of the box $[0, 1]^n$). The $\ell_2$ term keeps pixels
# near grey unless they earn their place; the total-variation term (Mahendran & Vedaldi 2015)
# prefers smooth images; and shifting the image by a random pixel at every step ("jitter",
# from Mordvintsev et al.'s DeepDream and Yosinski et al. 2015) stops the optimiser from
# exploiting exact pixel positions. Here $\lambda_2 = 0.3$, $\lambda_{TV} = 0.5$, jitter of
# one pixel, 150 steps from grey.

# %%
t0 = time.perf_counter()
class_models = SY.class_model(model, list(range(len(names))), (C, S, S), steps=150)
fig, axes = plt.subplots(1, len(names), figsize=(11, 1.6))
cm_images = torch.tensor(class_models.image)                 # (10, C, S, S)
cm_pred, cm_prob = AK.predict(model, cm_images)
for k, ax in enumerate(axes):
    show(ax, class_models.image[k], title=f"class {names[k]}\nsays {names[cm_pred[k]]} "
                                          f"({float(cm_prob[k, cm_pred[k]]):.2f})")
plt.show()
print(f"ten class models in {time.perf_counter() - t0:.1f} s; the network gives its class "
      f"to {int((cm_pred == torch.arange(len(names))).sum())} of 10, with probability at least "
      f"{float(cm_prob[torch.arange(len(names)), torch.arange(len(names))].min()):.3f}")

# %% [markdown]
# A few class models are recognisable: a ring for 0, a vertical stroke for 1, horizontal bars
# stacked like the arms of a 3. The others are arrangements of light and dark strokes that
# separate the class from its neighbours rather than drawings of the digit. The second printed figure is
# the point: the network gives these blurry arrangements its class with near-certainty, more
# confidently than most real digits. What it has learned is a set of discriminative
# features, not a model of what a digit looks like. Section 6.4 takes this to its end.
#
# ### 5.2 Feature inversion
#
# The other question: what does a layer *keep* of an image? Mahendran & Vedaldi (2015) search
# for an image whose features match the features $\phi(x)$ of a given image,
#
# $$ x^\star = \arg\min_{x'} \frac{\lVert \phi(x') - \phi(x) \rVert^2}{\lVert \phi(x) \rVert^2} + \lambda_{TV}\, \mathrm{TV}(x'), $$
#
# starting from noise. Whatever the reconstructions share with the original, the layer kept;
# whatever varies between them, the layer threw away. We invert the five stages of one test
# digit (300 steps each, $\lambda_{TV} = 0.01$) and print how well the features were matched
# and how far the image ended from the original.

# %%
t0 = time.perf_counter()
x_inv = X_test[idx_show:idx_show + 1]
stages = ["conv1", "conv2", "conv3", "hidden", "fc"]
inversions = {st: SY.invert_features(model, x_inv, st, steps=300) for st in stages}
fig, axes = plt.subplots(1, len(stages) + 1, figsize=(9, 1.8))
show(axes[0], x_inv[0], title="original")
print(f"{'stage':8s} {'size':>6s} {'feature error':>14s} {'pixel RMS error':>16s} {'says':>5s}")
for ax, st in zip(axes[1:], stages, strict=True):
    r = inversions[st]
    rms = float(np.sqrt(np.mean((r.image - x_inv[0].numpy()) ** 2)))
    says = names[int(AK.predict(model, torch.tensor(r.image[None]))[0][0])]
    size = FE.activations(model, x_inv, st)[st].numel()
    show(ax, r.image, title=f"from {st}")
    print(f"{st:8s} {size:6d} {r.objective[-1]:14.4f} {rms:16.3f} {says:>5s}")
plt.show()
rms_of = {st: float(np.sqrt(np.mean((inversions[st].image - x_inv[0].numpy()) ** 2))) for st in stages}
print(f"the inversion from fc is {'further from' if rms_of['fc'] > rms_of['conv1'] else 'as close to'} "
      f"the original than the one from conv1 (RMS {rms_of['fc']:.3f} against {rms_of['conv1']:.3f}); "
      f"{time.perf_counter() - t0:.1f} s")

# %% [markdown]
# The table says it twice. The feature error (relative, as minimised) is small for every stage:
# each reconstruction has nearly the original's features. The pixel error is not: it is small
# for the three convolutional stages and several times larger for `hidden` and `fc` (the last
# line compares `fc` with `conv1`). From `conv1`, `conv2` and `conv3` the reconstruction is
# the digit itself, because maps of edges and blobs at 8x8 still pin down every stroke; from
# `hidden` (64 numbers) and `fc` (10 scores) it is a blur with the rough shape of the digit,
# and the network still names it correctly (last column). Many images, different in pixels, share those few numbers:
# the deep layers keep what the class needs and discard the rest, which is what a classifier
# should do and also why its decision can be moved by pixel changes it does not "see" as
# changes of the digit.
#
# ## 6. Adversarial examples
#
# Szegedy et al. (2014) found that a tiny, carefully chosen change to an image changes the
# answer of an accurate network; they called the result an **adversarial example**. We use
# the **$L_\infty$ budget**: the perturbation $\delta = x_{adv} - x$ may change each pixel by at
# most $\varepsilon$, $\lVert\delta\rVert_\infty \le \varepsilon$, and the image must stay in
# $[0, 1]$. With pixels in $[0, 1]$, $\varepsilon = 0.1$ is a tenth of the grey scale.
#
# ### 6.1 FGSM: one step along the sign of the gradient
#
# Goodfellow, Shlens & Szegedy (2015) explained adversarial examples by *linearity*. For a
# linear score $w^\top x$, the perturbation $\delta = \varepsilon\, \mathrm{sign}(w)$ respects
# the budget and changes the score by $\varepsilon \lVert w\rVert_1$, which grows with the
# number of pixels: in $n$ dimensions, $n$ changes too small to notice add up. Networks made of
# ReLUs are piecewise linear, so they inherit the weakness. The **fast gradient sign method**
# takes one such step on the loss:
#
# $$ x_{adv} = \mathrm{clip}_{[0,1]}\big(x + \varepsilon\, \mathrm{sign}(\nabla_x \mathcal L(f(x), y))\big). $$
#
# A worked example: with $w = (2, -1, 0.5)$ and $\varepsilon = 0.1$, $\delta = (0.1, -0.1, 0.1)$
# changes the score by $0.1 \times (2 + 1 + 0.5) = 0.35$; no other $\delta$ in the budget
# changes it more.
#
# ### 6.2 PGD: many small steps, projected
#
# FGSM trusts the linear approximation over the whole budget. **Projected gradient descent**
# (Kurakin, Goodfellow & Bengio 2017; Madry et al. 2018) takes $T$ steps of size $\alpha$ and
# projects back into the budget after each, optionally from a random start in the ball:
#
# $$ x^{t+1} = \Pi_{\lVert x' - x\rVert_\infty \le \varepsilon,\; x' \in [0,1]}\Big(x^t + \alpha\, \mathrm{sign}\big(\nabla_x \mathcal L(f(x^t), y)\big)\Big). $$
#
# Here $T = 10$ and $\alpha = 2.5\,\varepsilon / T$. We measure the **success rate**: among the
# test images the network classifies correctly, the share whose answer the attack changes
# (`dlcv.understanding.attacks.success_rate`).

# %%
t0 = time.perf_counter()
BUDGETS = (0.05, 0.1, 0.2)
adv_fgsm = {e: AK.fgsm(model, X_test, y_test, e) for e in BUDGETS}
adv_pgd = {e: AK.pgd(model, X_test, y_test, e, steps=10) for e in BUDGETS}
print(f"success rate on the {int((test_pred == y_test).sum())} correctly classified test images")
print(f"{'eps':>5s} {'FGSM':>7s} {'PGD-10':>7s}  {'stronger':8s} {'mean p of the new answer (PGD)':>31s}")
for e in BUDGETS:
    sf = AK.success_rate(model, X_test, adv_fgsm[e], y_test)
    sp = AK.success_rate(model, X_test, adv_pgd[e], y_test)
    pred_a, p_a = AK.predict(model, adv_pgd[e])
    fooled = (pred_a != y_test) & (test_pred == y_test)
    conf = float(p_a.max(1).values[fooled].mean()) if fooled.any() else float("nan")
    print(f"{e:5.2f} {sf:7.1%} {sp:7.1%}  {'PGD' if sp > sf else 'FGSM' if sf > sp else 'tie':8s} "
          f"{conf:31.3f}")
print(f"({time.perf_counter() - t0:.1f} s)")

ex = [int(i) for i in np.flatnonzero((test_pred == y_test).numpy())[:5]]
e_show = 0.1
fig, axes = plt.subplots(3, len(ex), figsize=(7, 4.4))
adv_pred = AK.predict(model, adv_pgd[e_show])[0]
for j, i in enumerate(ex):
    d_ = (adv_pgd[e_show][i] - X_test[i]).numpy()
    show(axes[0, j], X_test[i], title=f"says {names[test_pred[i]]}")
    show(axes[1, j], d_, cmap="RdBu_r", vmin=-e_show, vmax=e_show,
         title="perturbation" if j == 0 else None)
    show(axes[2, j], adv_pgd[e_show][i], title=f"says {names[adv_pred[i]]}")
fig.suptitle(f"PGD at eps = {e_show}: clean (top), perturbation (middle), attacked (bottom)",
             fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# Read the table: at each budget, the success rates of the two attacks and which is stronger,
# and how confident the network is in its new, wrong answer. PGD is at least as strong as FGSM
# at every budget, as it should be: its first step alone can be FGSM's, and it corrects the
# linear approximation as it goes. The figure shows what $\varepsilon = 0.1$ looks like on
# these digits: on 16x16 images of soft strokes the perturbation is visible as grain on the
# background (on a 224x224 photograph, the same budget spread over 150,000 pixels is far
# harder to see), yet no reader would read a different digit, and the network does.
#
# ### 6.3 Targeted attacks
#
# An untargeted attack wants *any* wrong answer. A **targeted** attack chooses it: it
# *lowers* the loss of a target class $t$, $x \leftarrow x - \alpha\,\mathrm{sign}(\nabla_x
# \mathcal L(f(x), t))$. We ask for the next digit, $t = (y + 1) \bmod 10$, and then push one
# digit toward every class.

# %%
t0 = time.perf_counter()
target = (y_test + 1) % len(names)
print("targeted PGD-10 toward (label + 1) mod 10: success rate (the network answers the target)")
for e in BUDGETS:
    xt = AK.pgd(model, X_test, y_test, e, steps=10, target=target)
    print(f"  eps {e:.2f}: {AK.success_rate(model, X_test, xt, y_test, target=target):.1%}")

i0 = ex[0]
e_t = 0.2
x_all = AK.pgd(model, X_test[i0:i0 + 1].repeat(len(names), 1, 1, 1),
               y_test[i0:i0 + 1].repeat(len(names)), e_t, steps=20,
               target=torch.arange(len(names)))
p_all, prob_all = AK.predict(model, x_all)
fig, axes = plt.subplots(1, len(names), figsize=(11, 1.6))
for k, ax in enumerate(axes):
    show(ax, x_all[k], title=f"target {names[k]}\nsays {names[p_all[k]]} ({float(prob_all[k, p_all[k]]):.2f})")
plt.show()
print(f"one {names[y_test[i0]]} pushed toward every class at eps {e_t} (PGD-20): the network "
      f"answers the target for {int((p_all == torch.arange(len(names))).sum())} of "
      f"{len(names)} targets ({time.perf_counter() - t0:.1f} s)")

# %% [markdown]
# A targeted attack is harder than an untargeted one at the same budget (compare the printed
# rates with those of section 6.2): it must reach one particular class, not just leave the
# true one. With a large enough budget one and the same digit can be made into any class we
# ask for, as the row of images shows, with the count of targets reached printed below it.
#
# ### 6.4 Fooling images from noise
#
# Nguyen, Yosinski & Clune (2015) evolved images that look like nothing to us, noise or
# stripes, which ImageNet networks classified as a school bus or a starfish with 99.6%
# confidence. Section 5.1 already made such images from grey. Here we start from uniform noise
# and run a targeted PGD within $\varepsilon = 0.2$ of that noise: the result is still noise
# to the eye.

# %%
noise, fooling = AK.fooling_images(model, torch.arange(len(names)), (C, S, S), eps=0.2, steps=40)
p_noise = AK.predict(model, noise)[1]
f_pred, f_prob = AK.predict(model, fooling)
fig, axes = plt.subplots(2, len(names), figsize=(11, 2.8))
for k in range(len(names)):
    nk = int(p_noise[k].argmax())
    show(axes[0, k], noise[k], title=f"noise: {names[nk]} ({float(p_noise[k, nk]):.2f})")
    show(axes[1, k], fooling[k], title=f"{names[f_pred[k]]} ({float(f_prob[k, f_pred[k]]):.2f})")
plt.show()
hit = f_pred == torch.arange(len(names))
print(f"fooling images: the network answers the target for {int(hit.sum())} of {len(names)}, "
      f"with mean probability {float(f_prob[torch.arange(len(names)), torch.arange(len(names))].mean()):.3f}; "
      f"on the noise itself its most probable class had mean probability "
      f"{float(p_noise.max(1).values.mean()):.3f}")

# %% [markdown]
# The top row is the noise with the network's answer; the bottom row, the same noise after the
# attack, labelled as asked with the probability printed above. A classifier has no "none of
# these" answer: its softmax spreads all the probability over the ten digits for any input at
# all, and far from the training images nothing keeps that probability modest.
#
# ### 6.5 Transfer between networks
#
# Szegedy et al. (2014) noticed that an adversarial example made for one network often fools
# another network trained separately, even with another architecture or another training set;
# Papernot, McDaniel & Goodfellow (2016) used this to attack networks they could only query,
# through a substitute trained to imitate them (a **black-box** attack). We train a second
# `ProbeCNN` from another seed (other initial weights, another order of batches) and show it
# the adversarial examples made on the first. As a control, random sign noise of the same
# budget: $\delta = \varepsilon \cdot (\pm 1)$ per pixel.

# %%
t0 = time.perf_counter()
model_b = classifier(seed=1, source=SOURCE)
print(f"second network (seed 1): test accuracy {accuracy(model_b, X_test, y_test):.3f}, "
      f"trained in {time.perf_counter() - t0:.1f} s")
g = torch.Generator().manual_seed(0)
transfer = {}
print(f"{'eps':>5s} {'white-box PGD on A':>19s} {'PGD(A) on B':>12s} {'FGSM(A) on B':>13s} "
      f"{'random signs on B':>18s}")
for e in BUDGETS:
    rnd = (X_test + e * (2 * torch.randint(0, 2, X_test.shape, generator=g) - 1)).clamp(0, 1)
    print(f"{e:5.2f} {AK.success_rate(model, X_test, adv_pgd[e], y_test):19.1%} "
          f"{AK.success_rate(model_b, X_test, adv_pgd[e], y_test):12.1%} "
          f"{AK.success_rate(model_b, X_test, adv_fgsm[e], y_test):13.1%} "
          f"{AK.success_rate(model_b, X_test, rnd, y_test):18.1%}")
    transfer[e] = (AK.success_rate(model_b, X_test, adv_pgd[e], y_test),
                   AK.success_rate(model_b, X_test, rnd, y_test))
print(f"PGD examples made on A fool B more often than random signs at every budget: "
      f"{all(t > r for t, r in transfer.values())}; less often than they fool A at some budget: "
      f"{any(transfer[e][0] < AK.success_rate(model, X_test, adv_pgd[e], y_test) for e in BUDGETS)}")

# %% [markdown]
# The first column is the white-box attack on A (section 6.2); the others show A's adversarial
# examples to B, who was never attacked. The last printed line compares them. Transfer is far
# above the random-sign control, whose perturbation has the same size but no direction: what
# fools the network is the *direction* of $\delta$, and the two networks, trained on the same
# data, share many such directions. Transfer is weaker than the white-box attack at the small
# budgets, because part of each perturbation exploits A's own quirks. This is why hiding a
# network's weights is no defence.
#
# ### 6.6 Adversarial training
#
# The most reliable defence known is to train on the attack. Madry et al. (2018) write
# robustness as a saddle-point problem,
#
# $$ \min_\theta \; \mathbb E_{(x, y)} \Big[ \max_{\lVert\delta\rVert_\infty \le \varepsilon} \mathcal L\big(f_\theta(x + \delta), y\big) \Big], $$
#
# and solve the inner maximisation approximately by PGD for every minibatch, with the current
# weights, before the usual gradient step on the outer one
# (`dlcv.understanding.model.fit_classifier(..., adv_eps=...)`). We train the same `ProbeCNN`
# (same seed, same 15 epochs) on PGD examples at $\varepsilon = 0.1$ with 2 steps per batch:
# a cheap inner attack, about three times the cost of normal training. Then we measure both
# networks at the same budgets with the same attack, PGD-10, and the robust one also with a
# stronger attack, PGD-40 from another random start.
# **Clean accuracy** is the accuracy on the test images; **robust accuracy** at $\varepsilon$
# is the accuracy on the attacked test images (an image counts as right only if the attack
# failed on it).

# %%
t0 = time.perf_counter()
robust = classifier(seed=0, adv_eps=0.1, source=SOURCE)
print(f"adversarially trained (PGD-2 at eps 0.1) in {time.perf_counter() - t0:.1f} s")
rob = {}
for name, net in (("standard", model), ("adversarially trained", robust)):
    rob[name] = {"clean": accuracy(net, X_test, y_test)}
    for e in BUDGETS:  # the standard network's PGD-10 examples are those of section 6.2
        x_att = adv_pgd[e] if net is model else AK.pgd(net, X_test, y_test, e, steps=10)
        rob[name][e] = accuracy(net, x_att, y_test)
cols = ["clean"] + list(BUDGETS)
heads = ["clean"] + [f"eps {e}" for e in BUDGETS]
print(f"{'test accuracy':24s}" + "".join(f"{h:>15s}" for h in heads))
for name in rob:
    print(f"{name:24s}" + "".join(f"{rob[name][c]:15.3f}" for c in cols))
d_clean = rob["adversarially trained"]["clean"] - rob["standard"]["clean"]
d_rob = rob["adversarially trained"][0.1] - rob["standard"][0.1]
print(f"adversarial training changed clean accuracy by {d_clean:+.3f} and robust accuracy at "
      f"eps 0.1 (PGD-10) by {d_rob:+.3f}; at eps 0.2, beyond its training budget, the robust "
      f"network keeps {rob['adversarially trained'][0.2]:.3f}")
r10 = rob["adversarially trained"][0.1]
r40 = accuracy(robust, AK.pgd(robust, X_test, y_test, 0.1, steps=40, seed=1), y_test)
print(f"PGD-40 {'lowers' if r40 < r10 else 'does not lower'} the robust network's accuracy at "
      f"eps 0.1 below PGD-10's ({r40:.3f} against {r10:.3f})")
print(f"({time.perf_counter() - t0:.1f} s)")

fig, axes = plt.subplots(3, 6, figsize=(8, 4.2))
sal_std = AT.smoothgrad(model, xp, cp)
sal_rob = AT.smoothgrad(robust, xp, cp)
for j in range(6):
    show(axes[0, j], xp[j], title=f"label {names[cp[j]]}")
    show(axes[1, j], sal_std[j] / sal_std[j].max(), cmap="magma",
         title="standard" if j == 0 else None)
    show(axes[2, j], sal_rob[j] / sal_rob[j].max(), cmap="magma",
         title="adversarially trained" if j == 0 else None)
fig.suptitle("SmoothGrad maps of the two networks", fontsize=9)
plt.tight_layout()
plt.show()


def ink_correlation(net, x, c):
    """Mean over images of the correlation between the SmoothGrad map and the image's ink."""
    m_, ink = AT.smoothgrad(net, x, c).reshape(len(x), -1), x[:, 0].reshape(len(x), -1)
    m_, ink = m_ - m_.mean(1, keepdim=True), ink - ink.mean(1, keepdim=True)
    return float(((m_ * ink).sum(1) / (m_.norm(dim=1) * ink.norm(dim=1))).mean())


corr = {n: ink_correlation(net, xd, cd) for n, net in (("standard", model), ("robust", robust))}
print(f"correlation of the SmoothGrad map with the ink, mean over {len(xd)} test images: "
      f"standard {corr['standard']:.3f}, adversarially trained {corr['robust']:.3f} "
      f"({'higher' if corr['robust'] > corr['standard'] else 'not higher'} for the robust network)")

# %% [markdown]
# Read the table row by row. The standard network's accuracy collapses as the budget grows,
# as section 6.2 predicted. The adversarially trained one keeps far more of it at the budget it
# was trained for and below, at the clean accuracy printed in the first column: on these easy
# digits adversarial training costs little or nothing of it, whereas on CIFAR-10 and ImageNet
# it costs several points (Madry et al. 2018; Tsipras et al. 2019 argue the trade-off is
# inherent). Three warnings that the numbers also carry:
#
# * **Robustness holds only within the budget trained for.** At $\varepsilon = 0.2$ the robust
#   network is broken almost as completely as the standard one (the line that begins
#   "adversarial training changed").
# * **Robust accuracy is an upper bound.** It is measured with one attack; a stronger one can
#   only lower it. The line on PGD-40 says whether 40 steps did better than 10 here; either
#   way, one more attack that fails is a reassuring sign, not a proof. Many published defences were "robust" only because their
#   gradients were broken for the attacker (Athalye, Carlini & Wagner 2018); a defence must be
#   evaluated with attacks written against it.
# * **Robust models see differently.** The figure compares SmoothGrad maps: those of the robust
#   network follow the strokes of the digit more closely, the effect Tsipras et al. (2019)
#   reported on real images, and the last printed line measures it as the correlation of the
#   map with the ink.
#
# ### 6.7 Play with it: explanations and attacks side by side
#
# Pick a test digit and a class to explain; the three maps are the gradient saliency, Grad-CAM
# on `conv3` and occlusion for that class. Below, choose an attack (FGSM or PGD-10), a budget
# and a goal: away from the true class, or toward the explained class (toward the runner-up
# when the explained class is the true label). The bars compare the ten probabilities before
# and after. Things to try: find a digit that survives PGD at $\varepsilon = 0.1$ and look at
# its maps; compare FGSM and PGD at the same small budget; explain a wrong class and see which
# strokes speak for it; push a digit toward a class and watch the bars.

# %%
view = InspectView(model, data.X_test[:100], data.y_test[:100], names, index=0, eps=0.1)
view

# %% [markdown]
# ## 7. Where this leads
#
# To try the attacks yourself, write saliency, Grad-CAM, FGSM and PGD from the equations above and
# attack the same classifier (`dlcv.understanding.model.classifier(seed=0)`): the success rates
# printed in section 6.2 are what the lecture's own attacks reach. Beyond this lecture:
#
# * **Explanations that are tested.** Sanity checks (Adebayo et al. 2018), deletion and
#   retraining benchmarks (Hooker et al. 2019), and concept-based explanations (Kim et al.
#   2018, TCAV) that ask about human concepts rather than pixels.
# * **Stronger attacks and honest evaluation.** Carlini & Wagner's optimisation attack (2017),
#   AutoAttack (Croce & Hein 2020) as a standard benchmark, physical attacks (a printed patch,
#   Brown et al. 2017), and attacks on the text-image models of lecture 18 (beyond).
# * **Certified robustness.** Randomised smoothing (Cohen, Rosenfeld & Kolter 2019) and
#   interval bounds give guarantees, not just failed attacks, for small budgets.
#
# ## Check yourself
#
# **1.** Why can the first layer's filters be shown as images but not those of `conv2`? What
# would you look at instead to understand `conv2`?
#
# <details><summary>Answer</summary>
#
# A first-layer filter has one weight per pixel of a patch (per colour channel), so it lives
# in image space. A `conv2` filter has 16 input channels, one per `conv1` map: its weights
# describe a pattern of first-layer responses, not of pixels. To see what it responds to, look
# at the image patches that activate it most (Zeiler & Fergus), project its activation back to
# pixels, or synthesise an input that maximises it by gradient ascent (section 5).
# </details>
#
# **2.** On the centred digits, pixel neighbours shared the query's label about as often as
# feature neighbours (section 3.1). Why does that not contradict the idea that trained features are better than
# pixels?
#
# <details><summary>Answer</summary>
#
# The digits were centred and size-normalised when the data set was made, so their pixel
# distance already measures shape well (lecture 01's kNN was accurate on them). The advantage
# of learned features shows where the pixel distance fails: shifted digits here, and on
# photographs almost everywhere (lighting, position, background). Features also compress: 64
# numbers instead of 256, and the last layer separates the classes linearly.
# </details>
#
# **3.** A t-SNE map of features shows ten well-separated islands. Can you conclude that the
# classes are well separated in the 64-dimensional space? That island 3 is closer to island 5
# than to island 0?
#
# <details><summary>Answer</summary>
#
# Roughly the first (t-SNE keeps neighbourhoods, so points whose neighbours share their label
# in the map mostly do so in the original space), but not the second: t-SNE does not preserve
# distances between clusters or their sizes, and another perplexity or seed rearranges the
# islands. Check distances in the original space (or the classifier's accuracy) instead.
# </details>
#
# **4.** Prove the completeness of integrated gradients: $\sum_i \mathrm{IG}_i(x) = f(x) -
# f(x')$. Why does the code's version satisfy it only approximately?
#
# <details><summary>Answer</summary>
#
# Let $\gamma(t) = x' + t(x - x')$. Then $\frac{d}{dt} f(\gamma(t)) = \sum_i \frac{\partial
# f}{\partial x_i}(\gamma(t))\,(x_i - x'_i)$, and integrating from 0 to 1 gives $f(x) - f(x')
# = \sum_i (x_i - x'_i) \int_0^1 \partial_i f(\gamma(t))\,dt = \sum_i \mathrm{IG}_i$. The code
# replaces the integral by the mean of the gradient at $m$ points, a Riemann sum whose error
# shrinks as $m$ grows (for a ReLU network the integrand is piecewise smooth with jumps, so
# the error falls more slowly than $1/m^2$).
# </details>
#
# **5.** For a network that ends in global average pooling and one linear layer, show that
# Grad-CAM equals the class activation map $\mathrm{ReLU}(\sum_k w_{ck} A^k)$ up to a
# constant factor.
#
# <details><summary>Answer</summary>
#
# $f_c = \sum_k w_{ck} \frac{1}{hw} \sum_{u,v} A^k_{uv}$, so $\partial f_c / \partial A^k_{uv} =
# w_{ck}/(hw)$ at every position, and $\alpha^c_k = w_{ck}/(hw)$. Grad-CAM is then
# $\mathrm{ReLU}(\sum_k w_{ck} A^k)/(hw)$: CAM divided by the number of positions.
# </details>
#
# **6.** A linear classifier on 256 pixels scores the true class 3 higher than the runner-up,
# and the difference of the two classes' weight vectors has $\ell_1$ norm 40. What is the smallest $L_\infty$ budget that can
# flip the decision, and what perturbation achieves it?
#
# <details><summary>Answer</summary>
#
# The margin changes by at most $\varepsilon \lVert w_y - w_{y'} \rVert_1 = 40\,\varepsilon$,
# reached by $\delta = -\varepsilon\,\mathrm{sign}(w_y - w_{y'})$ (ignoring the clipping to
# $[0, 1]$). It flips when $40\,\varepsilon > 3$, so $\varepsilon > 0.075$: a change of under
# a tenth of the grey scale per pixel, because 256 small changes add up. This is the FGSM
# step, and a test in `tests/understanding` checks that PGD finds exactly this budget.
# </details>
#
# **7.** Why is PGD at least as strong as FGSM at the same budget, and when are they equal?
#
# <details><summary>Answer</summary>
#
# FGSM trusts the linear approximation of the loss over the whole ball and jumps to a corner;
# PGD takes small steps and recomputes the gradient, so it can follow a curved loss. With one
# step of size $\varepsilon$ and no random start PGD *is* FGSM. For a model whose loss is
# monotone in a linear function of the input (a linear classifier), FGSM already finds the
# best corner and PGD cannot do better.
# </details>
#
# **8.** Why does a classifier give a confident answer on noise, and what would have to
# change for it to say "none of these"?
#
# <details><summary>Answer</summary>
#
# The softmax distributes probability 1 over the known classes for every input, and nothing in
# cross-entropy training constrains the scores far from the training images, where a
# piecewise-linear network's logits grow linearly in some direction. To abstain it needs an
# explicit outlier class trained on varied non-digits, a detector of out-of-distribution
# inputs (for instance on the feature density), or a threshold calibrated on such inputs.
# </details>
#
# **9.** A paper reports that its defence keeps 80% accuracy under PGD-20 at $\varepsilon =
# 8/255$ on CIFAR-10, without adversarial training. What would you check before believing it?
#
# <details><summary>Answer</summary>
#
# Whether the gradients the attack used were meaningful (Athalye et al. 2018): a defence that
# rounds, randomises or saturates its inputs can make gradients useless without making the
# network robust. Check that accuracy falls to zero as $\varepsilon$ grows, that more steps and
# random restarts do not lower it, that black-box and transfer attacks do not beat the
# white-box one, and run an adaptive attack written for the defence (or AutoAttack).
# </details>
#
# **10.** Adversarial training with PGD-2 cost about three times a normal training run here.
# Where does the factor come from, and what do "free" and "fast" adversarial training change?
#
# <details><summary>Answer</summary>
#
# Each batch needs 2 extra forward-backward passes for the attack, then the usual one for the
# weights: three passes instead of one (PGD-$k$ costs $k + 1$). "Free" adversarial training
# (Shafahi et al. 2019) reuses the same backward pass for the weight and the input gradients by
# replaying each batch several times; "fast" adversarial training (Wong, Rice & Kolter 2020)
# uses one FGSM step from a random start, at about twice the cost of normal training.
# </details>
#
# ## Summary
#
# * The first layer's filters are the only weights that can be looked at as pictures; deeper
#   layers are understood through their activations, the images they group together, and the
#   images that maximise them.
# * Nearest neighbours in feature space share the class where pixel neighbours share only the
#   ink positions; on the centred digits pixels were as good, on shifted digits they were not.
#   t-SNE maps show neighbourhoods, not distances, and they show the network's decisions.
# * Attribution: occlusion (forward passes only), gradient saliency (one backward pass,
#   noisy), SmoothGrad (averaged over noise), integrated gradients (complete: they sum to the
#   score change from a baseline, which must be chosen), Grad-CAM (coarse, class-specific,
#   from the last convolutional layer). A plausible map is not a faithful one: test maps, for
#   instance by deletion against random pixels.
# * Gradient ascent on the input makes images the network scores highly for a class (with
#   regularisation to keep them image-like) and inverts features: deep layers keep the class
#   and discard much of the image.
# * Adversarial examples: FGSM (one signed step) and PGD (many projected steps) change the
#   answers of an accurate network with small $L_\infty$ budgets, untargeted or toward a chosen
#   class; noise can be made into any class with near certainty; adversarial examples transfer
#   between networks.
# * Adversarial training (PGD inside the training loop) buys robust accuracy within its budget,
#   at a multiple of the training cost; robustness must be measured with attacks at least as
#   strong as the ones trained on, and it does not extend beyond the budget.
#
# ## Papers
#
# * A. Krizhevsky, I. Sutskever, G. Hinton, *ImageNet classification with deep convolutional
#   neural networks*, NeurIPS 2012 (first-layer filters, feature-space neighbours).
# * M. Zeiler, R. Fergus, *Visualizing and understanding convolutional networks*, ECCV 2014
#   (deconvnet visualisations, occlusion sensitivity).
# * K. Simonyan, A. Vedaldi, A. Zisserman, *Deep inside convolutional networks: visualising
#   image classification models and saliency maps*, ICLR workshop 2014 (class models, gradient
#   saliency).
# * L. van der Maaten, G. Hinton, *Visualizing data using t-SNE*, JMLR 2008.
# * A. Mahendran, A. Vedaldi, *Understanding deep image representations by inverting them*,
#   CVPR 2015.
# * J. Yosinski, J. Clune, A. Nguyen, T. Fuchs, H. Lipson, *Understanding neural networks
#   through deep visualization*, ICML Deep Learning workshop 2015.
# * B. Zhou, A. Khosla, A. Lapedriza, A. Oliva, A. Torralba, *Learning deep features for
#   discriminative localization*, CVPR 2016 (CAM).
# * R. Selvaraju, M. Cogswell, A. Das, R. Vedantam, D. Parikh, D. Batra, *Grad-CAM: visual
#   explanations from deep networks via gradient-based localization*, ICCV 2017.
# * D. Smilkov, N. Thorat, B. Kim, F. Viégas, M. Wattenberg, *SmoothGrad: removing noise by
#   adding noise*, ICML workshop on visualization for deep learning 2017.
# * M. Sundararajan, A. Taly, Q. Yan, *Axiomatic attribution for deep networks*, ICML 2017
#   (integrated gradients).
# * J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt, B. Kim, *Sanity checks for
#   saliency maps*, NeurIPS 2018.
# * S. Hooker, D. Erhan, P.-J. Kindermans, B. Kim, *A benchmark for interpretability methods
#   in deep neural networks*, NeurIPS 2019.
# * C. Szegedy, W. Zaremba, I. Sutskever, J. Bruna, D. Erhan, I. Goodfellow, R. Fergus,
#   *Intriguing properties of neural networks*, ICLR 2014.
# * I. Goodfellow, J. Shlens, C. Szegedy, *Explaining and harnessing adversarial examples*,
#   ICLR 2015 (FGSM).
# * A. Kurakin, I. Goodfellow, S. Bengio, *Adversarial examples in the physical world*, ICLR
#   workshop 2017 (iterative attacks).
# * A. Nguyen, J. Yosinski, J. Clune, *Deep neural networks are easily fooled: high confidence
#   predictions for unrecognizable images*, CVPR 2015.
# * N. Papernot, P. McDaniel, I. Goodfellow, *Transferability in machine learning: from
#   phenomena to black-box attacks using adversarial samples*, arXiv 2016.
# * A. Madry, A. Makelov, L. Schmidt, D. Tsipras, A. Vladu, *Towards deep learning models
#   resistant to adversarial attacks*, ICLR 2018 (PGD, adversarial training).
# * A. Athalye, N. Carlini, D. Wagner, *Obfuscated gradients give a false sense of security*,
#   ICML 2018.
# * D. Tsipras, S. Santurkar, L. Engstrom, A. Turner, A. Madry, *Robustness may be at odds with
#   accuracy*, ICLR 2019.
# * N. Carlini, D. Wagner, *Towards evaluating the robustness of neural networks*, IEEE S&P
#   2017; F. Croce, M. Hein, *Reliable evaluation of adversarial robustness with an ensemble of
#   diverse parameter-free attacks*, ICML 2020 (AutoAttack).
# * A. Shafahi et al., *Adversarial training for free!*, NeurIPS 2019; E. Wong, L. Rice,
#   J. Z. Kolter, *Fast is better than free: revisiting adversarial training*, ICLR 2020.
# * J. Cohen, E. Rosenfeld, J. Z. Kolter, *Certified adversarial robustness via randomized
#   smoothing*, ICML 2019.
# * B. Kim et al., *Interpretability beyond feature attribution: quantitative testing with
#   concept activation vectors (TCAV)*, ICML 2018; T. Brown et al., *Adversarial patch*, arXiv
#   2017.

# %%
print(f"whole notebook: {time.perf_counter() - t_start:.0f} s")
