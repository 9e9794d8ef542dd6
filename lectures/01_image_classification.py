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
# # Lecture 01 — Image classification and nearest neighbours
#
# Image classification is the problem of giving a picture one label out of a fixed list:
# *cat*, *truck*, *the digit 7*. It sounds modest, yet detection, segmentation and captioning
# (lectures 09–13) are all built from classifiers, and the difficulties we meet here stay with
# us for the whole course. This first chapter looks at the task with the simplest possible
# learning method, the **nearest-neighbour classifier**. It needs no training at all, which makes
# it ideal for seeing what the real problems are: how to compare two images, how to choose
# settings without cheating, and why comparing raw pixels is not enough.
#
# **After this lecture you can**
# - explain why recognising objects from a grid of numbers is hard (the *semantic gap*) and name
#   the main sources of variation: viewpoint, illumination, scale, deformation, occlusion,
#   background clutter, intra-class variation;
# - describe the data-driven approach: a `train` function that sees labelled examples and a
#   `predict` function that labels new images;
# - compute L1 and L2 distances between images and classify with $k$ nearest neighbours;
# - explain what $k$ and the distance do to decision boundaries, and choose them with a
#   validation set or cross-validation, never with the test set;
# - say why kNN is slow at test time, what approximate search and the curse of dimensionality
#   have to do with it, and why pixel distances motivate learned features (lecture 02 onwards).
#
# **Plan.** 1 The task · 2 Why it is hard · 3 The data-driven approach · 4 Data sets ·
# 5 Nearest neighbour, L1 and L2 · 6 $k$ nearest neighbours · 7 Interactive: kNN regions ·
# 8 Hyperparameters and cross-validation · 9 The cost of kNN · 10 What pixel distances miss ·
# check yourself, summary, reading.

# %%
# %matplotlib inline
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from skimage.transform import resize, rotate, swirl
from sklearn.metrics import pairwise_distances
from sklearn.model_selection import KFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

from dlcv.classification.neighbors import knn_grid_predict
from dlcv.classification.widgets import KNNRegionsView
from dlcv.data import load_classification, load_photo, make_toy_2d
from dlcv.plots import (
    CLASS_COLORS,
    plot_cv_accuracy,
    plot_decision_regions,
    show_class_examples,
    show_images,
    show_values,
)
from dlcv.timing import cap_threads, time_call

plt.rcParams.update({"figure.figsize": (8, 4), "figure.dpi": 90, "axes.titlesize": 11})
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The task: from a grid of numbers to a label
#
# A classifier receives an image and must return one label from a fixed set of $C$ classes.
# For the computer the image is not a cat: it is an array of integers. A colour photograph of
# height $H$ and width $W$ is stored as $H \times W \times 3$ numbers, one brightness per colour
# channel (red, green, blue), each an integer from 0 (dark) to 255 (bright). The photograph below
# is $300 \times 451 \times 3$, so the classifier's input is a list of 405,900 numbers, and the
# answer must be one word.

# %%
cat = load_photo("chelsea")                 # (300, 451, 3) uint8
gray = load_photo("chelsea", gray=True)     # (300, 451) uint8, luminance
print("shape", cat.shape, "dtype", cat.dtype, "values from", cat.min(), "to", cat.max())

r0, c0, s = 104, 160, 10                    # a 10x10 window across the edge of the left pupil
fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1.45, 1]})
axes[0].imshow(cat)
axes[0].add_patch(plt.Rectangle((c0 - 0.5, r0 - 0.5), s, s, fill=False, ec="red", lw=2))
axes[0].set_title("What we see: a cat (red box: the window on the right)")
axes[0].axis("off")
show_values(axes[1], gray[r0:r0 + s, c0:c0 + s], "What the computer gets: grey levels 0..255")
fig.tight_layout()

# %% [markdown]
# The window on the right sits on the edge of the cat's pupil: a dark block of small numbers
# next to brighter numbers of the iris. Nothing in these hundred integers says *eye*, let alone
# *cat*. The distance between the meaning we perceive and the numbers the machine receives is
# called the **semantic gap**. Every method in this course is a way of bridging it, and the
# first lesson is how wide it is.

# %% [markdown]
# ## 2. Why it is hard
#
# A good classifier must give the same answer for very different arrays of numbers, and
# different answers for arrays that can look alike. The main reasons the numbers change while the
# label stays the same:
#
# - **Viewpoint.** Move the camera a little and every pixel moves; turn it and the object shows
#   another side.
# - **Illumination.** Dimmer or coloured light changes every value, although the object is the
#   same.
# - **Scale.** The same object can fill the frame or occupy a few pixels.
# - **Deformation.** Cats curl up and stretch out; few objects are rigid.
# - **Occlusion.** Parts of the object are hidden behind other things, sometimes most of it.
# - **Background clutter.** The object may have the colours and textures of its surroundings
#   (think of a tabby cat on a patterned carpet).
# - **Intra-class variation.** "Chair" covers thousands of designs; handwritten digits vary with
#   every writer.
#
# Let us change the cat photograph in ways that keep it a photograph of the same cat, and
# measure how far the numbers move. As a first notion of "far" we use the Euclidean (L2)
# distance between two images seen as long vectors, $\lVert I_1 - I_2 \rVert_2$ (it gets a proper
# introduction in section 5). For comparison we also measure the distance to three photographs
# that contain no cat at all.

# %%
small = load_photo("chelsea", size=96).astype(np.float64)    # (64, 96, 3), values in 0..255
H, W, _ = small.shape


def shift_right(img, px):
    """Move the content px pixels to the right, repeating the first column at the left edge."""
    return np.concatenate([np.repeat(img[:, :1], px, axis=1), img[:, :-px]], axis=1)


def l2(a, b):
    return np.sqrt(np.sum((a - b) ** 2))


occluded = small.copy()
occluded[16:44, 26:54] = [70, 110, 60]                       # a green box in front of the face
rows, cols = np.mgrid[:H, :W]                                # keep an ellipse around the face,
face = ((rows - 30) / 27) ** 2 + ((cols - 48) / 33) ** 2 < 1  # put gravel everywhere else
gravel = resize(load_photo("gravel"), (H, W), preserve_range=True, anti_aliasing=True)
cluttered = np.where(face[..., None], small, gravel)
variants = {
    "original": small,
    "darker (illumination)": 0.6 * small,
    "shifted 4 px (viewpoint)": shift_right(small, 4),
    "rotated 10° (viewpoint)": rotate(small, 10, mode="edge", preserve_range=True),
    "zoomed in (scale)": resize(small[8:56, 12:84], (H, W), preserve_range=True),
    "mirrored (viewpoint)": small[:, ::-1],
    "deformed (swirl)": swirl(small, strength=4, radius=40, preserve_range=True),
    "occluded": occluded,
    "background clutter": cluttered,
}
others = {f"not a cat: {name}": resize(load_photo(name), (H, W), preserve_range=True,
                                       anti_aliasing=True)
          for name in ("moon", "brick", "coffee")}
dist = {name: l2(small, img) for name, img in {**variants, **others}.items()}

fig = show_images(list({**variants, **others}.values()),
                  [f"{name}\nL2 = {dist[name]:,.0f}" for name in dist], ncols=6, size=2.1,
                  rescale=False)

# %%
names = sorted(dist, key=dist.get)[1:]                    # skip the original (distance 0)
fig, ax = plt.subplots(figsize=(8, 3.6))
colors = [CLASS_COLORS[5] if n.startswith("not") else CLASS_COLORS[0] for n in names]
ax.barh(names, [dist[n] for n in names], color=colors)
ax.invert_yaxis()
ax.set_xlabel("L2 distance to the original cat photo (pixels 0..255, 64x96x3 values)")
ax.set_title("Blue: still the same cat.  Orange: a different photograph.")
fig.tight_layout()

print("not a cat:", ", ".join(f"{o[11:]} {dist[o]:,.0f}" for o in sorted(others, key=dist.get)))
print(f"{'same cat':26s} {'L2':>6s}   farther from the original than")
for n in sorted(variants, key=dist.get, reverse=True)[:-1]:  # the original (distance 0) last
    beaten = [o[11:] for o in sorted(others, key=dist.get) if dist[o] < dist[n]]
    print(f"{n:26s} {dist[n]:6,.0f}   {', '.join(beaten) or '-'}")

# %% [markdown]
# Every blue bar is the same cat, and the label should not change. Yet the table printed with the
# chart shows edits that keep the cat (a mirror image, a slight zoom, simply dimmer light)
# moving the numbers about as far as replacing it by a photograph of something else, and its
# last column names the photographs without a cat that are nearer to the original than the
# edit. A rule of the form "images whose pixels are close have the same label" is going to have
# a hard time. Keep this chart in mind: section 10 comes back to it.

# %% [markdown]
# ## 3. The data-driven approach
#
# How would you write `is_cat(image)` by hand? You could look for edges, find corners, describe
# ears as triangles and eyes as ellipses... Each rule breaks on the next photograph (a cat seen
# from behind, in the dark, half under a blanket), and the work starts over for every new class.
# Instead of writing the rules we **collect examples** and let an algorithm find the rules:
#
# ```python
# def train(images, labels):
#     """Learn from N labelled examples; return a model."""
#     ...
#     return model
#
# def predict(model, images):
#     """Return a predicted label for every image."""
#     ...
#     return labels
# ```
#
# Everything in this course has this shape: a data set of labelled images, a training step, and a
# prediction step that is judged on images the training step never saw. scikit-learn calls the
# two steps `fit` and `predict`. From lecture 02 on, training is a loop of gradient-descent
# steps written with PyTorch, and prediction is a forward pass through the model.

# %% [markdown]
# ## 4. Data sets
#
# **Digits** (embedded, always available). scikit-learn ships the test part of the UCI
# *optical recognition of handwritten digits* data set of Alpaydin and Kaynak (1998): 1,797
# images of the digits 0–9 written by different people. Each original $32\times32$ black-and-white
# scan was divided into $4\times4$ blocks and the dark pixels of each block counted, giving an
# $8 \times 8$ image with grey levels 0..16. Small, but real handwriting with real intra-class
# variation.
#
# **CIFAR-10** (optional). The classic benchmark of this lecture in CS231n: 60,000 colour images
# of $32\times32\times3$ pixels in 10 classes (plane, car, bird, cat, deer, dog, frog, horse, ship,
# truck), split into **50,000 training** and **10,000 test** images, 6,000 per class
# (Krizhevsky, 2009). It is a labelled subset of the 80 million tiny images of Torralba et al.
# (2008). The course never downloads anything while you work; to use CIFAR-10, run
# `bash data/get_cifar10.sh` once on a machine with internet (about 163 MB), or unpack CIFAR-10's
# python version (cifar-10-python.tar.gz) into the course's `data/` folder yourself, and this
# lecture, lecture 02 and assignments a1-a3 switch to it. Without it, everything runs on the
# digits.
#
# `load_classification("auto")` returns whichever is available, already split into training,
# validation and test sets (why three sets is the subject of section 8).

# %%
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    data = load_classification("auto")
if caught:
    print("Note:", caught[0].message, "\n")
print(data)

# Flatten every image into one row: (N, H, W[, 3]) -> (N, D), as floats.
# (Never subtract uint8 images: 3 - 5 wraps around to 254.)
Xtr = data.X_train.reshape(len(data.X_train), -1).astype(np.float64)   # (N_train, D)
Xval = data.X_val.reshape(len(data.X_val), -1).astype(np.float64)      # (N_val, D)
Xte = data.X_test.reshape(len(data.X_test), -1).astype(np.float64)     # (N_test, D)
ytr, yval, yte = data.y_train, data.y_val, data.y_test
print("one image =", Xtr.shape[1], "numbers; classes:", ", ".join(data.class_names))

# %%
fig = show_class_examples(data.X_train, data.y_train, data.class_names, per_class=6)
_ = fig.suptitle(f"{data.name}: six random training images per class", y=1.02)

# %% [markdown]
# Look down one column: the same class written in very different ways (slanted, thick, open or
# closed loops). Look across a row: some different classes look alike (a sloppy 1 and 7, a 3 and
# a 9, a 5 and a 6). That is intra-class variation and inter-class similarity in 64 pixels. On
# CIFAR-10 both are stronger: a column of cats holds cats of every colour, pose, size and
# background, and a deer in a field can look more like a horse in a field than like a deer in
# the snow.

# %% [markdown]
# ## 5. The nearest-neighbour classifier
#
# The simplest algorithm with the `train` / `predict` shape:
#
# - **train**: remember all training images and their labels (nothing else);
# - **predict**: for a new image, find the training image that is *closest* to it and return
#   that image's label.
#
# Everything depends on what "closest" means. Two standard choices compare two images
# $I_1, I_2$ pixel by pixel, where $p$ runs over all $D$ pixel values (all rows, columns and
# channels):
#
# $$d_1(I_1, I_2) = \sum_p \left| I_1^p - I_2^p \right| \qquad \text{(L1, Manhattan distance)}$$
#
# $$d_2(I_1, I_2) = \sqrt{\sum_p \left( I_1^p - I_2^p \right)^2} \qquad
# \text{(L2, Euclidean distance)}$$
#
# Here is the L1 distance of two tiny $4\times4$ grey images, worked out cell by cell: subtract,
# take absolute values, add everything up.

# %%
I1 = np.array([[12, 40, 200, 210],           # "test image"
               [15, 60, 190, 220],
               [10, 80, 170, 205],
               [8, 90, 160, 198]])
I2 = np.array([[20, 35, 180, 215],           # "training image"
               [11, 70, 185, 100],
               [30, 75, 172, 210],
               [5, 95, 140, 190]])
diff = np.abs(I1 - I2)                       # (4, 4) pixel-wise absolute differences

fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
show_values(axes[0], I1, "test image $I_1$", fontsize=10)
show_values(axes[1], I2, "training image $I_2$", fontsize=10)
show_values(axes[2], diff, f"$|I_1 - I_2|$, sum = {diff.sum()}", vmax=diff.max(), fontsize=10)
fig.tight_layout()
print("L1 distance d1 =", diff.sum(), "   L2 distance d2 =", round(np.sqrt((diff ** 2).sum()), 1))
print(f"the largest difference, {diff.max()}, makes {diff.max() / diff.sum():.0%} of the sum in L1 "
      f"and {diff.max() ** 2 / (diff ** 2).sum():.0%} of the sum of squares in L2")

# %% [markdown]
# Notice the one cell that differs by 120: it contributes $120$ of the $245$ in L1, but
# $120^2 = 14{,}400$ of the $16{,}007$ under the square root of L2 (the shares printed last).
# **L2 punishes a few large
# differences much more than many small ones; L1 weighs all differences in proportion.** (For
# finding the nearest neighbour the square root does not matter, since it does not change which
# distance is smallest.)
#
# The same computation on real images is one line per distance. For one test image and the first
# five training images, written as a plain loop:

# %%
x = Xte[0]                                   # one test image as a vector, (D,)
print(f"test image 0 has label {data.class_names[yte[0]]}")
for i in range(5):
    d1 = np.sum(np.abs(x - Xtr[i]))
    d2 = np.sqrt(np.sum((x - Xtr[i]) ** 2))
    print(f"  training image {i} (label {data.class_names[ytr[i]]}):  L1 = {d1:7.1f}   "
          f"L2 = {d2:6.1f}")

# %% [markdown]
# Doing this for every pair of test and training images, fast, is your job in assignment a1.
# In the lecture we let scikit-learn do the searching. Below, each row is a test image (left,
# framed) followed by its five nearest training images under L2, with their distances; a red title
# marks a neighbour from a different class. The first four rows are test images that 1-NN
# classifies correctly, the last two are images it gets wrong.

# %%
nn = NearestNeighbors(n_neighbors=5, metric="euclidean").fit(Xtr)
pred1 = ytr[nn.kneighbors(Xte, n_neighbors=1, return_distance=False)[:, 0]]   # 1-NN labels
wrong = np.flatnonzero(pred1 != yte)
right = np.flatnonzero(pred1 == yte)
queries = list(right[:4]) + list(wrong[:2])  # four test images 1-NN gets right, two it gets wrong
dists, idx = nn.kneighbors(Xte[queries])     # (6, 5) distances and training indices

fig, axes = plt.subplots(len(queries), 6, figsize=(7.5, 1.35 * len(queries)))
for r, q in enumerate(queries):
    axes[r, 0].imshow(data.X_test[q] / data.X_test.max(), cmap="gray")
    axes[r, 0].set_title(f"test: {data.class_names[yte[q]]}", fontsize=9, fontweight="bold")
    for j in range(5):
        n = idx[r, j]
        axes[r, j + 1].imshow(data.X_train[n] / data.X_train.max(), cmap="gray")
        axes[r, j + 1].set_title(f"{data.class_names[ytr[n]]}  d={dists[r, j]:.0f}", fontsize=8,
                                 color="red" if ytr[n] != yte[q] else "black")
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
for sp in axes[:, 0]:
    for side in sp.spines.values():
        side.set(color=CLASS_COLORS[0], lw=3)
fig.suptitle("Test image and its 5 nearest training images (L2)", y=1.0)
fig.tight_layout()
print(f"1-NN (L2) test accuracy: {np.mean(pred1 == yte):.3f} "
      f"({len(wrong)} of {len(yte)} test images wrong); chance level is {1 / data.num_classes:.2f}")

# %% [markdown]
# On the digits, plain nearest neighbour is remarkably good (the accuracy printed above, against
# the chance level beside it): the 8×8 images are centred and
# size-normalised, so "similar pixels" is close to "same digit". The errors are instructive,
# though: the nearest training image shares a rough shape of dark and bright blocks with the
# test image, and the label follows the pixels, not the meaning. On CIFAR-10, where the object
# can be anywhere and any colour, the same method reaches only 35–40 % (chance: 10 %) with all
# 50,000 training images according to the CS231n notes, and less with the 5,000 used here (the
# line above gives the figure when CIFAR-10 is loaded). Its neighbours are mostly images with a
# similar background and colour layout: a plane on a pale sky tends to find birds and ships on pale skies.

# %% [markdown]
# ## 6. $k$ nearest neighbours
#
# One nearest neighbour trusts a single training example, including mislabelled or untypical
# ones. The **$k$-nearest-neighbour** classifier (kNN) finds the $k$ closest training images,
# $\mathcal{N}_k(x)$, and takes a **majority vote** of their labels:
#
# $$\hat y(x) = \arg\max_{c} \sum_{i \in \mathcal{N}_k(x)} \mathbb{1}[y_i = c].$$
#
# Ties (two classes with the same number of votes) need a rule: take the class of the closest
# neighbour, pick at random, or (scikit-learn) pick the smallest class number. With two
# classes, an odd $k$ avoids ties altogether.
#
# To *see* what $k$ does, we leave images for a moment and use points in the plane, where every
# point of the picture can be classified and coloured. The figure shows three overlapping
# classes of 150 points. Each coloured area is the set of positions that kNN would assign to a
# class: its **decision regions**.

# %%
Xp, yp = make_toy_2d("blobs", n=150, noise=0.45, num_classes=3, seed=1)     # (150, 2), (150,)
fig, axes = plt.subplots(2, 3, figsize=(12, 7.6), sharex=True, sharey=True)
for row, metric in enumerate(("L2", "L1")):
    for col, k in enumerate((1, 5, 15)):
        plot_decision_regions(axes[row, col],
                              lambda pts, k=k, m=metric: knn_grid_predict(Xp, yp, k, m, pts),
                              Xp, yp, num_classes=3, steps=150, title=f"{k}-NN, {metric} distance")
fig.tight_layout()

# %% [markdown]
# - **$k = 1$** draws a region around every single training point: stray points that lie among
#   another class get their own little islands. The classifier is perfect on
#   its training points and nervous everywhere else: it **overfits** the noise.
# - **Larger $k$** averages over more neighbours: the islands disappear and the boundaries
#   become smoother. Too large a $k$ washes out real structure, and at $k = N$ every point is
#   given the majority class.
# - **L1 versus L2**: the overall picture is similar, but L1 boundaries are made of horizontal,
#   vertical and diagonal pieces, while L2 boundaries are straight lines at any angle (for
#   $k = 1$, pieces of perpendicular bisectors between pairs of points).
#
# The second difference has a simple geometric cause. The set of points at distance 1 from the
# origin — the "unit circle" of a distance — is a circle for L2 but a **diamond** for L1.
# Consequently L1 depends on the coordinate frame: rotate the axes and L1 distances change, while
# L2 distances do not. When the coordinates mean something individually (a pixel, a measurement),
# L1 can be natural; when only directions in space matter, L2 is the safer choice. In practice
# both are hyperparameters to be tried.

# %%
t = np.linspace(0, 2 * np.pi, 400)
fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
ax = axes[0]
ax.plot(np.cos(t), np.sin(t), color=CLASS_COLORS[0], lw=2, label=r"L2: $\sqrt{x^2+y^2}=1$")
ax.plot([1, 0, -1, 0, 1], [0, 1, 0, -1, 0], color=CLASS_COLORS[5], lw=2, label="L1: $|x|+|y|=1$")
ax.set_title("Points at distance 1 from the origin")
ax.legend(loc="lower left", fontsize=9)

ax = axes[1]                                 # the same two points in two coordinate frames
A, B = np.array([0.0, 0.0]), np.array([1.0, 0.0])
R = np.array([[np.cos(np.pi / 4), -np.sin(np.pi / 4)], [np.sin(np.pi / 4), np.cos(np.pi / 4)]])
for P, Q, col, lab in ((A, B, CLASS_COLORS[2], "original frame"),
                       (R @ A, R @ B, CLASS_COLORS[3], "axes rotated by 45°")):
    l1d, l2d = np.abs(P - Q).sum(), np.sqrt(((P - Q) ** 2).sum())
    ax.plot(*np.stack([P, Q]).T, "-o", color=col, lw=2,
            label=f"{lab}: L1 = {l1d:.2f}, L2 = {l2d:.2f}")
ax.set_title("Same pair of points, coordinates rotated")
ax.legend(loc="lower left", fontsize=9)
for ax in axes:
    ax.axhline(0, color="0.7", lw=0.8)
    ax.axvline(0, color="0.7", lw=0.8)
    ax.set_aspect("equal")
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
fig.tight_layout()

# %% [markdown]
# ## 7. Interactive: kNN decision regions
#
# The widget below runs kNN on a 2-D data set of your choice. The left panel shows the decision
# regions (grey where the vote is tied) and the training points; the right panel shows, for the
# same sample, the **training accuracy** and the accuracy on a separate **held-out** sample from
# the same distribution, for every $k$ from 1 to 25, with a ring at the current $k$.
#
# Things to try:
# 1. On *moons*, move $k$ from 1 to 25. Where is the held-out accuracy highest? What happens to
#    the training accuracy?
# 2. Raise the noise. Does the best $k$ move up or down?
# 3. Press **new sample** a few times at $k = 1$ and then at $k = 15$. Which regions change more
#    from sample to sample?
# 4. Switch between L2 and L1 on *xor*, whose true class boundaries are the two coordinate axes.
#    Where do the regions change, and what shape do the L1 boundaries take far from the points?
# 5. Choose an even $k$ on *moons* or *xor* (two classes) and find the grey tied areas. Why do
#    they never appear for odd $k$?
# 6. Try *spiral* with few points. How many points does kNN need before it follows the arms?
#
# (In JupyterLab the controls are live; in a static copy of this notebook you see the initial
# picture.)

# %%
view = KNNRegionsView(dataset="moons", num_points=120, noise=0.3, k=1)
view

# %% [markdown]
# What you should have noticed: training accuracy is 1.0 at $k = 1$ (every point is its own
# nearest neighbour) and generally falls as $k$ grows, while the held-out accuracy usually rises
# first and then falls: too small a $k$ follows the noise, too large a $k$ ignores the shape of the
# classes. The best $k$ depends on the data, its noise and its size, and it wobbles from one
# sample to the next. There is no universally right $k$: it must be chosen for each problem, and
# the training accuracy is useless for choosing it.

# %% [markdown]
# ## 8. Hyperparameters: choosing $k$ and the distance
#
# $k$ and the distance are **hyperparameters**: choices about the algorithm that are not learned
# by `train` but set before it. How should we set them?
#
# 1. *Pick what works best on the training data.* Useless: $k = 1$ always wins with 100 %.
# 2. *Pick what works best on the test data.* Tempting and wrong. The test set is there to
#    estimate how the final classifier does on new images. Every choice made by looking at it
#    bends the classifier towards those particular test images, and the reported number becomes
#    optimistic. The test set is used **once**, at the very end.
# 3. *Hold out part of the training data as a **validation set**,* try each setting by training
#    on the rest and measuring on the validation set, keep the best, and only then touch the
#    test set. This is the standard practice.
# 4. ***Cross-validation***: when data are scarce, a single validation set is small and its
#    accuracy noisy. Split the training data into $F$ folds (often 5 or 10), use each fold in
#    turn as the validation set while the other $F-1$ folds train, and average the $F$
#    accuracies. This costs $F$ times as much work, so for large data sets and expensive models
#    (deep networks) people use a single validation split instead.

# %%
F = 5
fig, ax = plt.subplots(figsize=(9, 2.9))
for r in range(F):                           # one row per round of cross-validation
    for f in range(F):
        val = f == r
        ax.add_patch(plt.Rectangle((f, F - 1 - r), 0.95, 0.8, fc=CLASS_COLORS[1] if val else
                                   CLASS_COLORS[4], ec="k", lw=0.5))
        ax.text(f + 0.475, F - 0.6 - r, f"fold {f + 1}" + (" (val)" if val else ""),
                ha="center", va="center", fontsize=8)
    ax.text(-0.1, F - 0.6 - r, f"round {r + 1}", ha="right", va="center", fontsize=9)
ax.add_patch(plt.Rectangle((F + 0.3, 0), 1.2, F - 0.2, fc="0.75", ec="k", lw=0.5))
ax.text(F + 0.9, F / 2 - 0.1, "test\n(used once,\nat the end)", ha="center", va="center",
        fontsize=9)
ax.set_xlim(-1.2, F + 1.6)
ax.set_ylim(-0.1, F)
ax.axis("off")
ax.set_title("5-fold cross-validation: blue trains, orange validates; the test set stays aside")
fig.tight_layout()

# %% [markdown]
# Now the real thing: 5-fold cross-validation of kNN on our training and validation images
# together, for several $k$ and both distances. The distances between images do not depend on
# $k$, so we compute all of them once per distance (scikit-learn's `pairwise_distances`) and let
# `KNeighborsClassifier(metric="precomputed")` vote with different $k$. (With CIFAR-10 we use a
# subset of 2,000 images to keep the cell fast.)

# %%
X_cv = np.concatenate([Xtr, Xval])[:2000]    # (n, D) training + validation images
y_cv = np.concatenate([ytr, yval])[:2000]    # (n,)
ks = [1, 2, 3, 5, 8, 13, 20, 35, 60, 100]
folds = KFold(n_splits=5, shuffle=True, random_state=0)
cv_acc = {}
t0 = time.perf_counter()
for metric in ("L1", "L2"):
    D_all = pairwise_distances(X_cv, metric="manhattan" if metric == "L1" else "euclidean")
    cv_acc[metric] = {k: cross_val_score(KNeighborsClassifier(k, metric="precomputed"),
                                         D_all, y_cv, cv=folds) for k in ks}
print(f"{len(y_cv)} images, 5 folds, {len(ks)} values of k, 2 distances: "
      f"{time.perf_counter() - t0:.1f} s")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
for ax, metric in zip(axes, ("L1", "L2"), strict=True):
    plot_cv_accuracy(ax, ks, cv_acc[metric])
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.set_title(f"5-fold cross-validation, {metric} distance")
    ax.grid(alpha=0.3)
fig.tight_layout()

best_metric, best_k = max(((m, k) for m in cv_acc for k in ks),
                          key=lambda mk: cv_acc[mk[0]][mk[1]].mean())
best_acc = cv_acc[best_metric][best_k]
print(f"best: k = {best_k} with {best_metric}, mean validation accuracy {best_acc.mean():.3f}")
for m in cv_acc:
    big = cv_acc[m][ks[-1]]              # the largest k tried
    print(f"k = {ks[-1]} with {m}: {big.mean():.3f}, "
          f"{(best_acc.mean() - big.mean()) / big.std():.1f} of its fold standard deviations "
          "below the best")

# %% [markdown]
# Each grey dot is one fold's accuracy and the line joins the means, with error bars of one standard
# deviation. The spread between folds is a reminder that a single validation split gives a noisy
# number; differences between neighbouring values of $k$ that are smaller than the error bars mean
# little. On the digits a small $k$ wins (the line "best: ..." above), and the largest $k$ clearly
# hurts (the two lines after it measure by how much, in error bars): with 100 voters, neighbours
# from other classes start to outvote the right ones. On noisier data such as CIFAR-10 the best $k$
# is usually larger. Whatever the data, the procedure is the same.
#
# With the hyperparameters fixed, we train once more on all the cross-validation images and
# evaluate **once** on the test set:

# %%
final = KNeighborsClassifier(best_k, metric="manhattan" if best_metric == "L1" else "euclidean")
final.fit(X_cv, y_cv)
test_acc = final.score(Xte, yte)
print(f"{best_k}-NN with {best_metric} distance: test accuracy {test_acc:.3f} "
      f"on {len(yte)} test images")

# %% [markdown]
# ## 9. The cost of kNN, approximate search, and the curse of dimensionality
#
# Nearest neighbour has its costs the wrong way round. **Training is $O(1)$**: it only stores
# the data. **Prediction is $O(N D)$ per image**: the query must be compared with all $N$
# training images of $D$ numbers each. In practice we gladly accept slow training (a network may
# train for days) but want prediction to be fast, on a phone, for every frame of a video. A
# linear classifier (lecture 02) is the opposite: it learns a weight matrix $W$ of shape $C
# \times D$ and then needs one product $Wx$ per image, whatever the size of the training set.
#
# Let us measure it with CIFAR-sized vectors ($D = 3072$) and random values (only the timing
# matters here): the time to classify 200 images by brute-force kNN as the training set grows,
# against the time to compute the class scores $Wx + b$ of a linear classifier.

# %%
D_img = 3072
pool = 255 * rng.random((16000, D_img), dtype=np.float32)            # (16000, 3072)
pool_y = rng.integers(0, 10, size=16000)
queries_t = 255 * rng.random((200, D_img), dtype=np.float32)          # (200, 3072)
W_lin = rng.normal(0, 1e-3, size=(D_img, 10)).astype(np.float32)      # (3072, 10): rows x -> xW
b_lin = np.zeros(10, dtype=np.float32)

Ns = [1000, 2000, 4000, 8000, 16000]
t_fit, t_knn, t_lin = [], [], []
for N in Ns:
    knn = KNeighborsClassifier(1, algorithm="brute")
    t_fit.append(time_call(knn.fit, pool[:N], pool_y[:N], repeats=5)[0])
    t_knn.append(time_call(knn.predict, queries_t, repeats=5)[0])
    t_lin.append(time_call(lambda: (queries_t @ W_lin + b_lin).argmax(1), repeats=20)[0])

fig, ax = plt.subplots(figsize=(7.5, 3.8))
ax.plot(Ns, 1e3 * np.array(t_knn), "-o", color=CLASS_COLORS[5], label="kNN: predict 200 images")
ax.plot(Ns, 1e3 * np.array(t_fit), "-s", color="0.5", label="kNN: 'train' (store the data)")
ax.plot(Ns, 1e3 * np.array(t_lin), "-^", color=CLASS_COLORS[0],
        label="linear classifier: predict 200 images")
ax.set_xlabel("number of training images N")
ax.set_ylabel("time (ms)")
ax.set_title("Prediction cost grows with the training set for kNN, not for a linear model")
ax.legend()
ax.grid(alpha=0.3)
fig.tight_layout()
for N, a, b in zip(Ns, t_knn, t_lin, strict=True):
    print(f"N = {N:5d}:  kNN {1e3 * a / 200:6.3f} ms per image,  linear {1e3 * b / 200:6.4f} ms")
print(f"N grew {Ns[-1] // Ns[0]} times: kNN's prediction time {t_knn[-1] / t_knn[0]:.1f} times, "
      f"the linear classifier's {t_lin[-1] / t_lin[0]:.1f} times")
ratio = np.array(t_knn) / np.array(t_lin)
print(f"kNN is {ratio.min():,.0f} to {ratio.max():,.0f} times slower than the linear classifier")

# %% [markdown]
# The kNN prediction time grows with $N$, roughly in proportion, while the linear classifier's
# cost does not move and is far smaller (the last two lines above give the factors, measured on
# this machine). With the 50,000 CIFAR-10 training
# images, or the 1.2 million of ImageNet, exact kNN on raw pixels becomes expensive.
#
# **Approximate nearest neighbours.** A large field of research trades a slightly wrong
# neighbour for a large speed-up. **k-d trees** split space along one coordinate at a time
# (Bentley, 1975; Friedman, Bentley and Finkel, 1977) and work well in low dimension. The
# **FLANN** library (Muja and Lowe, 2009) builds randomised k-d forests or hierarchical k-means
# trees and chooses the algorithm and its parameters for the data automatically.
# **Locality-sensitive hashing** (Indyk and Motwani, 1998) sends nearby vectors to the same hash
# buckets. Today, graph-based indexes such as **HNSW** (Malkov and Yashunin, 2020) and libraries
# such as **FAISS** (Johnson, Douze and Jégou, 2017) search collections of billions of vectors.
# This is how nearest-neighbour search is used in practice, for example for image retrieval on
# learned features (lecture 18).
#
# **The curse of dimensionality.** kNN works when training points cover the space densely enough
# that every query has truly similar neighbours. The number of points needed for that grows
# *exponentially* with the dimension: to have a training point within every cell of side 0.1
# in $[0, 1]^D$ you need $10$ points for $D = 1$, $100$ for $D = 2$, $10^{3}$ for $D = 3$, and
# $10^{3072}$ for CIFAR-sized images. Worse, in high dimension the distances from a query to
# random points become almost all the same: the "nearest" neighbour is hardly nearer than the
# farthest one (Beyer et al., 1999). The experiment below draws 2,000 random points in $[0,1]^D$
# and measures their distances from random queries.

# %%
dims = [2, 10, 100, 1000, 3072]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
ratios = []
for j, Dd in enumerate(dims):
    P = rng.uniform(size=(2000, Dd))                      # (2000, D) "training" points
    Q = rng.uniform(size=(20, Dd))                        # (20, D) queries
    dd = pairwise_distances(Q, P)                         # (20, 2000) L2 distances
    ratios.append(np.mean(dd.min(1) / dd.max(1)))
    axes[0].hist((dd / dd.mean(1, keepdims=True)).ravel(), bins=200, range=(0, 2), density=True,
                 histtype="step", lw=1.8, color=CLASS_COLORS[j], label=f"D = {Dd}")
axes[0].set_xlabel("distance / mean distance of that query")
axes[0].set_ylabel("density (log scale)")
axes[0].set_yscale("log")
axes[0].set_ylim(0.05, 60)
axes[0].set_title("Distances from a query to 2,000 random points")
axes[0].legend(fontsize=9)
axes[1].semilogx(dims, ratios, "-o", color=CLASS_COLORS[5])
axes[1].set_ylim(0, 1.05)
axes[1].set_xlabel("dimension D")
axes[1].set_ylabel("nearest / farthest distance")
axes[1].set_title("How much nearer is the nearest neighbour?")
axes[1].grid(alpha=0.3)
fig.tight_layout()
print("nearest / farthest distance, mean over the queries: " + ", ".join(
    f"{r:.2f} (D = {Dd})" for Dd, r in zip(dims, ratios, strict=True)))

# %% [markdown]
# In two dimensions the nearest random point is at a small fraction of the distance of the farthest;
# at $D = 3072$ all 2,000 points sit at nearly the same distance (the ratios printed above), and
# "nearest" carries little information. Real images are not uniform noise — they occupy a tiny,
# structured part of pixel space, which is why kNN works at all on the digits — but the lesson
# holds: in raw pixel space, meaningful neighbours need very much data.

# %% [markdown]
# ## 10. What pixel distances miss
#
# Section 2 showed that harmless changes move an image far in pixel space. The opposite view is
# just as telling: below, three edits of the cat photograph are made **equally far** (in L2)
# from the original: the darkening is scaled to match the shift exactly, and the box is grown
# until it matches as closely as whole pixels allow (the line printed with the pictures gives
# the three distances). A shift by a few pixels, a darkening and a black
# box over the face are three very different things to us, and all the same to the L2 distance.

# %%
shifted = shift_right(small, 4)                               # as in section 2
d_target = l2(small, shifted)
darker = (1 - d_target / np.linalg.norm(small)) * small      # scaling: distance (1 - a) * |I|
boxes = {}
for side in range(2, 60):                                     # grow a black box over the face
    box = small.copy()
    top, left = 30 - side // 2, 48 - side // 2
    box[max(top, 0):top + side, max(left, 0):left + side] = 0
    boxes[side] = box
side = min(boxes, key=lambda s: abs(l2(small, boxes[s]) - d_target))
same = {"original": small, "shifted 4 px": shifted, "darkened": darker,
        f"black box {side}x{side}": boxes[side]}
fig = show_images(list(same.values()),
                  [f"{n}\nL2 = {l2(small, im):,.0f}" for n, im in same.items()], ncols=4, size=2.8,
                  rescale=False)
print(f"L2 from the original: shift {d_target:,.1f}, darkening {l2(small, darker):,.1f}, "
      f"black box {l2(small, boxes[side]):,.1f} ({l2(small, boxes[side]) / d_target - 1:+.1%})")

# %% [markdown]
# Pixel distances measure how much the *colours at fixed positions* changed, not whether the
# *content* changed. To classify well we need a representation of the image in which a shifted,
# darkened or partly hidden cat stays close to other cats and far from bricks. We will not write
# it by hand — the data-driven approach again — but **learn** it. Lecture 02 starts with the
# simplest learned model, the **linear classifier** $f(x) = Wx + b$, which also fixes the cost
# problem of section 9: all its knowledge of the training set is compressed into $W$ and $b$.
# Later lectures learn ever better features with neural networks, and nearest neighbours come
# back at the end of the course, working very well in a *learned* feature space
# (lecture 18, metric learning).

# %% [markdown]
# ## Check yourself
#
# **1.** A nearest-neighbour classifier stores $N$ training images of $D$ pixels. How much work
# do training and predicting one image take? Why is that the wrong way round for most
# applications?
# <details><summary>Answer</summary>
# Training only stores the data: $O(1)$ work (or $O(ND)$ to copy it). Predicting compares the
# query with every training image: $O(ND)$ per image. We usually train once, offline, and predict
# many times under time constraints (phones, video), so we want cheap prediction even at the
# price of expensive training — the opposite of what kNN offers.
# </details>
#
# **2.** What is the training accuracy of 1-NN (with no duplicate images) and why? What does this
# tell you about choosing $k$?
# <details><summary>Answer</summary>
# 100 %: every training image is its own nearest neighbour at distance 0 and gets its own label.
# Training accuracy therefore always favours $k = 1$, whatever the data; hyperparameters must be
# chosen on data that the classifier did not memorise (a validation set or cross-validation).
# </details>
#
# **3.** A classmate tries 20 values of $k$ and both distances, keeps the combination with the best
# test accuracy, and reports that accuracy. What is wrong, and what should they do instead?
# <details><summary>Answer</summary>
# The test set was used to choose the hyperparameters, so the reported number is optimistic: it
# is the best of 40 tries on those particular test images, not an estimate for new images. They
# should choose $k$ and the distance with a validation set (or cross-validation on the training
# data), then evaluate the single chosen classifier once on the test set.
# </details>
#
# **4.** Two 100-pixel images differ (a) by 2 in every pixel, or (b) by 20 in just one pixel.
# Which pair is closer under L1, and which under L2?
# <details><summary>Answer</summary>
# L1: (a) gives $100 \cdot 2 = 200$, (b) gives $20$, so (b) is closer. L2: (a) gives
# $\sqrt{100 \cdot 4} = 20$, (b) gives $\sqrt{400} = 20$ — a tie. L2 weighs a single large
# difference much more heavily than L1 does; L1 counts every small difference in full.
# </details>
#
# **5.** Why does an odd $k$ avoid tied votes with two classes? Does it with three classes?
# <details><summary>Answer</summary>
# With two classes the votes split as $a + b = k$; a tie needs $a = b$, impossible when $k$ is
# odd. With three classes an odd $k$ can still tie, e.g. $k = 5$ split 2–2–1, so a tie-breaking
# rule is needed anyway.
# </details>
#
# **6.** You rotate the coordinate axes of a 2-D data set by 45°. Which of the two kNN
# classifiers (L1 or L2) can change its predictions, and why?
# <details><summary>Answer</summary>
# Only L1. Rotations preserve Euclidean lengths, so all L2 distances, all neighbours and all
# predictions stay the same. L1 distances depend on the axes (its unit "circle" is a diamond
# aligned with them), so neighbours and predictions can change.
# </details>
#
# **7.** CIFAR-10 images are loaded as `uint8`. What goes wrong if you compute
# `np.abs(a - b).sum()` on two such images directly?
# <details><summary>Answer</summary>
# Unsigned 8-bit arithmetic wraps around: 3 - 5 becomes 254 instead of -2, so the "absolute
# differences" are wrong for every pixel where $b > a$. Convert to a signed or floating type
# first (`a.astype(np.float64)`).
# </details>
#
# **8.** kNN on raw pixels is nearly perfect on the 8×8 digits (section 5) but stays below 40 % on
# CIFAR-10 (CS231n's figure). Give two reasons.
# <details><summary>Answer</summary>
# The digits are centred, size-normalised, grey-level drawings of a single stroke, so similar
# pixels really do mean similar shapes; CIFAR-10 objects appear at any position, scale, pose,
# colour and lighting, against cluttered backgrounds, so pixel-close images are often of
# different classes (and the same class is pixel-far). Also, CIFAR-10 images have 3072
# dimensions instead of 64, and the curse of dimensionality means that even 50,000 examples
# cover that space very sparsely.
# </details>

# %% [markdown]
# ## Summary
#
# - Image classification maps an array of $H \times W \times 3$ numbers to one of $C$ labels.
#   The **semantic gap** between numbers and meaning, and variation in viewpoint, illumination,
#   scale, deformation, occlusion, background and within classes, make it hard.
# - The **data-driven approach** replaces hand-written rules with `train(images, labels)` and
#   `predict(model, images)`, judged on images not seen in training.
# - The **nearest-neighbour** classifier memorises the training set and copies the label of the
#   closest training image under a distance such as **L1** $\sum_p |I_1^p - I_2^p|$ or
#   **L2** $\sqrt{\sum_p (I_1^p - I_2^p)^2}$. **kNN** takes a majority vote of the $k$ closest.
# - Small $k$ overfits (islands around noisy points), large $k$ smooths and eventually
#   oversmooths. L1 depends on the coordinate frame (diamond-shaped unit ball), L2 does not.
# - $k$ and the distance are **hyperparameters**: choose them on a **validation** set or with
#   **cross-validation**, and use the **test** set only once, at the end.
# - kNN trains in $O(1)$ but predicts in $O(ND)$; approximate search (k-d trees, FLANN, LSH,
#   HNSW, FAISS) speeds it up, but the **curse of dimensionality** makes raw pixel neighbours
#   unreliable.
# - Pixel distances confuse a shift, a darkening and an occlusion: we need **learned**
#   representations. Next: linear classifiers.

# %% [markdown]
# ## Papers and further reading
#
# - E. Fix and J. L. Hodges (1951). *Discriminatory analysis. Nonparametric discrimination:
#   consistency properties.* Technical report 4, USAF School of Aviation Medicine, Randolph
#   Field, Texas. — The first nearest-neighbour rule.
# - T. M. Cover and P. E. Hart (1967). *Nearest neighbor pattern classification.* IEEE
#   Transactions on Information Theory 13(1), 21–27. — With unlimited data, the error of 1-NN is
#   at most twice the best possible (Bayes) error.
# - J. L. Bentley (1975). *Multidimensional binary search trees used for associative
#   searching.* Communications of the ACM 18(9), 509–517; J. H. Friedman, J. L. Bentley and
#   R. A. Finkel (1977). *An algorithm for finding best matches in logarithmic expected time.*
#   ACM Transactions on Mathematical Software 3(3), 209–226. — k-d trees.
# - M. Stone (1974). *Cross-validatory choice and assessment of statistical predictions.*
#   Journal of the Royal Statistical Society B 36(2), 111–147.
# - E. Alpaydin and C. Kaynak (1998). *Optical recognition of handwritten digits* (data set).
#   UCI Machine Learning Repository. — The digits used in this lecture.
# - P. Indyk and R. Motwani (1998). *Approximate nearest neighbors: towards removing the curse
#   of dimensionality.* STOC 1998. — Locality-sensitive hashing.
# - K. Beyer, J. Goldstein, R. Ramakrishnan and U. Shaft (1999). *When is "nearest neighbor"
#   meaningful?* ICDT 1999. — Distance concentration in high dimension.
# - A. Torralba, R. Fergus and W. T. Freeman (2008). *80 million tiny images: a large data set
#   for nonparametric object and scene recognition.* IEEE TPAMI 30(11), 1958–1970.
# - A. Krizhevsky (2009). *Learning multiple layers of features from tiny images.* Technical
#   report, University of Toronto. — CIFAR-10 and CIFAR-100.
# - J. Deng, W. Dong, R. Socher, L.-J. Li, K. Li and L. Fei-Fei (2009). *ImageNet: a
#   large-scale hierarchical image database.* CVPR 2009.
# - M. Muja and D. G. Lowe (2009). *Fast approximate nearest neighbors with automatic algorithm
#   configuration.* VISAPP 2009. — FLANN.
# - Y. A. Malkov and D. A. Yashunin (2020). *Efficient and robust approximate nearest neighbor
#   search using hierarchical navigable small world graphs.* IEEE TPAMI 42(4), 824–836
#   (arXiv 2016).
# - J. Johnson, M. Douze and H. Jégou (2017). *Billion-scale similarity search with GPUs.*
#   arXiv:1702.08734; later published in IEEE Transactions on Big Data. — FAISS.
# - CS231n, Stanford: course notes *Image classification: data-driven approach, k-nearest
#   neighbor, train/val/test splits*, https://cs231n.github.io/classification/
# - T. Hastie, R. Tibshirani and J. Friedman (2009). *The Elements of Statistical Learning*, 2nd
#   edition, Springer: sections 2.3 and 13.3 (nearest neighbours), 2.5 (the curse of
#   dimensionality), 7.10 (cross-validation).
