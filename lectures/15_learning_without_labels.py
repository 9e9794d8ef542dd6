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
# # Lecture 15 — Learning without labels
#
# Every network so far learned from labels: a digit's class, a box around a car, a caption
# written by a person. Labels are the expensive part of a data set. ImageNet's 1.2 million
# training labels took years of crowd work; a medical image needs a specialist's hour; most of
# the images on a phone, a microscope or a satellite will never be labelled at all. The images
# themselves are cheap. **Self-supervised learning** asks how much a network can learn from
# the images alone, by inventing a task whose answers come free with the data: which way up is
# this picture? are these two crops from the same photograph? what was under this grey patch?
# None of these tasks matters in itself. What matters is the network's features afterwards:
# if they make the real task easy, with a linear classifier and a handful of labels, the
# unlabelled images have done most of the work.
#
# A second source of free supervision is the text that comes with images: alt text, captions,
# titles. **CLIP** learned from 400 million image-text pairs from the web to put an image and
# its description close together, and could then classify images into classes it was never
# trained on, by comparing them with sentences like "a photo of a dog". This lecture builds
# both ideas at the size of a laptop and measures each against the two obvious yardsticks:
# raw pixels, and a network trained with all the labels.
#
# **After this lecture you can**
#
# 1. measure a representation with a linear probe, against raw pixels, a random network and a
#    supervised network, with many and with few labels;
# 2. train a network on a pretext task (rotation prediction) and say what the task teaches and
#    where it is blind;
# 3. write SimCLR's augmentations and its InfoNCE loss, compute the loss by hand on a small case,
#    and explain the roles of the views, the negatives, the temperature and the projection head;
# 4. describe masked image modelling and read the result of a tiny run;
# 5. train a CLIP-style image-text model with the symmetric InfoNCE loss and classify images
#    zero-shot with prompts, measured against chance and against a supervised classifier.
#
# **Plan.** The yardstick (the linear probe, pixels, a random network) → a pretext task
# (rotations) → contrastive learning (views, InfoNCE, SimCLR, the probe table with many and
# few labels) → masked image modelling → images and text (CLIP, zero-shot prompts, retrieval)
# → questions, summary, papers.
#
# **The data.** Sections 1-4 use the course's embedded digits, upsampled bilinearly from 8x8
# to 16x16 pixels (`dlcv.selfsupervised.datasets.load_digits16`): the upsampling adds no
# information, but it gives random crops, blurs and masked patches a few pixels to work on, and
# every network here trains in seconds on one core. Section 5 needs captions, so it uses
# one-object shapes scenes of 32x32 pixels (lecture 09's scenes, captioned by lecture 13's
# grammar). Every network is trained once and cached per seed: `simclr_encoder(seed=0)` called
# again returns the same trained encoder, for your own experiments or an assignment.

# %%
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from dlcv.plots import CLASS_COLORS
from dlcv.selfsupervised import augment as AU
from dlcv.selfsupervised import clip as CL
from dlcv.selfsupervised import masked as MK
from dlcv.selfsupervised import pretext as PT
from dlcv.selfsupervised.contrastive import DIGIT_VIEWS, simclr_encoder, view_similarity
from dlcv.selfsupervised.datasets import (
    COLORS,
    SHAPES,
    class_names,
    labelled_subset,
    load_digits16,
    load_scenes,
)
from dlcv.selfsupervised.encoder import Encoder, accuracy, features, supervised_encoder
from dlcv.selfsupervised.infonce import clip_loss, info_nce
from dlcv.selfsupervised.probe import label_agreement, linear_probe, nearest
from dlcv.selfsupervised.widgets import NeighboursView
from dlcv.timing import cap_threads

plt.rcParams.update({"figure.figsize": (9, 3.2), "figure.dpi": 90, "font.size": 10})
np.set_printoptions(precision=3, suppress=True, linewidth=110)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine
_ = torch.manual_seed(0)
t_start = time.perf_counter()

d = load_digits16()
print(f"digits: {len(d.X_train)} training, {len(d.X_test)} test images of shape "
      f"{tuple(d.X_train.shape[1:])}")


def show(ax, img, title=None):
    """One (C, H, W) image in [0, 1] on an axis without ticks."""
    img = img.numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    ax.imshow(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0), cmap="gray", vmin=0,
              vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


# %% [markdown]
# ## 1. The yardstick: a linear probe
#
# A self-supervised network is trained on a task nobody cares about, so its own loss says
# little. What we care about is its **representation**: the vector $h = f(x)$ that its encoder
# computes for an image. The standard measurement (Zhang, Isola & Efros 2016; Kolesnikov, Zhai
# & Beyer 2019) freezes the encoder and fits the best *linear* classifier on $h$ with the
# labels of the real task: multinomial logistic regression,
#
# $$ \min_{W, b}\; C \sum_{i=1}^N -\log \operatorname{softmax}(W^\top h_i + b)_{y_i} + \tfrac12 \lVert W \rVert^2 , $$
#
# on standardised features. The probe's test accuracy measures how much of the class is
# *linearly readable* from the features: a representation that needs a deep classifier on
# top to find the class has not done the work. (Fine-tuning the whole network is the other
# common yardstick; it measures a good starting point rather than a good representation.)
#
# `dlcv.selfsupervised.probe.linear_probe` fits this with full-batch L-BFGS in torch; a test
# checks that it finds scikit-learn's `LogisticRegression`. Two representations need no
# training and set the floor: the **raw pixels** (256 numbers), and a **random network**, our
# encoder (three 3x3 convolution blocks with batch norm, 64 features after a global average
# pool) with its initial random weights (and batch norm's initial statistics, which leave
# its input unchanged). Random convolutional features are a stronger
# baseline than they sound: a convolution with random filters still responds to local
# patterns wherever they occur.

# %%
def probe_row(f_train, f_test, idx=None):
    """Probe accuracy of features on the test digits, trained on all labels or the rows idx."""
    keep = slice(None) if idx is None else idx
    return linear_probe(f_train[keep], d.y_train[keep], f_test, d.y_test)


flat = {"pixels": (d.X_train.flatten(1), d.X_test.flatten(1))}
random_enc = Encoder(1, 16, seed=0).eval()
flat["random network"] = (features(random_enc, d.X_train), features(random_enc, d.X_test))
results = {name: probe_row(*f) for name, f in flat.items()}
for name, acc in results.items():
    print(f"linear probe on {name:15s}: test accuracy {acc:.3f} ({len(d.y_test)} test digits)")

# %% [markdown]
# Both floors are high (printed above): the digits were centred and size-normalised by their
# makers, so even their pixels are nearly linearly separable, as lecture 02 found. That makes
# the digits a hard place to show a gain from self-supervision with *all* labels, and a good
# place to see the gain with *few* labels, which is where it matters. Section 3.4 measures
# both. With 360 test digits, one image is less than a third of a percentage point:
# differences of one or two points are a handful of digits.
#
# ## 2. Pretext tasks
#
# The first self-supervised methods invented a **pretext task**: a supervised problem whose
# labels are computed from the image itself. Doersch, Gupta & Efros (2015) cut two patches
# from a photograph and asked where the second lay relative to the first (one of eight
# positions); Noroozi & Favaro (2016) shuffled nine patches like a **jigsaw** puzzle and asked
# for the permutation; Zhang, Isola & Efros (2016) removed the colour and asked for it back
# (**colourisation**); Pathak et al. (2016) cut out the centre and asked the network to paint
# it (**context encoders**, the ancestor of section 4). Each task can only be solved by a
# network that knows something about objects: where a wheel goes relative to a car door, that
# grass is green and the sky blue.
#
# ### 2.1 Rotation prediction
#
# Gidaris, Singh & Komodakis (2018) chose the simplest task of all: rotate every image by 0,
# 90, 180 or 270 degrees and ask which. To say which way up a digit is, the network must know
# what upright digits look like: where a 7 has its bar, which way a 2 faces. We train our
# encoder with a 4-way linear head on the four rotations of the training digits (their class
# labels are never read), then measure how often it names the rotation of the test digits.

# %%
rot_enc, rot_head = PT.rotation_encoder(seed=0)
rot_acc = PT.rotation_accuracy(rot_enc, rot_head, d.X_test)
print(f"rotation prediction trained in {rot_enc.log.seconds:.1f} s ({rot_enc.log.steps} steps of "
      f"4 x 32 images); test accuracy by rotation:")
xr, kr = PT.rotate4(d.X_test)
with torch.no_grad():
    guess = rot_head(rot_enc(xr)).argmax(1)
for k in range(4):
    wrong = guess[kr == k][guess[kr == k] != k]
    usual = f", wrong answers mostly {90 * int(wrong.mode().values)} degrees" if len(wrong) else ""
    print(f"  {90 * k:3d} degrees: {float(rot_acc[k]):.3f}{usual}")
right = (guess == kr).float().view(4, -1).mean(0)                      # (360,) per test digit
per_digit = np.array([float(right[d.y_test == c].mean()) for c in range(10)])
order = np.argsort(per_digit)
print("share of the four rotations named right, by digit: hardest "
      + ", ".join(f"{c}: {per_digit[c]:.2f}" for c in order[:3]) + "; easiest "
      + ", ".join(f"{c}: {per_digit[c]:.2f}" for c in order[-3:]))

shown = [order[0], order[1], order[-1]]
fig, axes = plt.subplots(1, 12, figsize=(11, 1.5))
for j, c in enumerate(shown):
    i = int(np.flatnonzero(d.y_test == c)[0])
    for k in range(4):
        show(axes[4 * j + k], xr[k * len(d.X_test) + i], f"{c}: {90 * k} deg")
fig.suptitle("a test digit of the two hardest classes for rotation prediction, and of the easiest",
             fontsize=9, y=1.1)
plt.show()

# %% [markdown]
# The pretext task is learnable, far above the chance of one in four, but not everywhere
# equally. By rotation (printed above), the accuracy is uneven, and the wrong answers are
# mostly the *opposite* quarter turn: after 100 short steps the network knows an upright digit
# and an upside-down one better than it knows left from right. By digit, the hardest classes
# (printed above; the figure shows one test digit of the two hardest classes and of the
# easiest, in its four rotations) are those that look like digits, or like themselves, when
# turned: an 8 or a 1 is nearly the same at 180 degrees, and a 6 upside down is a 9. No
# network can tell those rotations apart from the image alone, so the task's labels are
# partly unanswerable. A pretext task teaches only what it needs; whatever it does not need (here,
# anything that does not change under rotation) it is free to ignore. Whether that is enough
# for the real task is measured in section 3.4, with the other representations.
#
# ## 3. Contrastive learning
#
# A pretext task is a guess about which knowledge will transfer. Contrastive learning asks
# for it directly: the representation should be **invariant** to the changes that do not
# alter what an image shows (a crop, a shift of brightness, a blur), and **discriminative**
# between different images. Both come from one comparison: take two random **views** of each
# image; each view must find its partner among the views of all the other images.
#
# ### 3.1 Views
#
# SimCLR (Chen, Kornblith, Norouzi & Hinton 2020) found that the choice of augmentations
# decides everything, and that two matter most together: a **random resized crop** (a window
# of random area and aspect ratio, resized back) and a strong **colour distortion** (random
# brightness, contrast, saturation and hue, sometimes grey), followed by a Gaussian blur. The
# crop forces the network to relate parts to the whole and to neighbouring parts; the colour
# distortion removes the cheapest shortcut, since two crops of one photograph share a colour
# histogram that identifies them without any notion of objects.
#
# `dlcv.selfsupervised.augment` writes these in torch on whole batches (the numpy versions of
# lecture 05 work one image at a time; a contrastive step needs two views of every image of
# every batch): one `affine_grid` / `grid_sample` warps all the crops at once. On the grey
# digits, colour reduces to brightness and contrast, and we do not flip: a mirrored 3 is not a
# 3. Below, six digits with four views each.

# %%
g_show = torch.Generator().manual_seed(3)
fig, axes = plt.subplots(4, 6, figsize=(8, 5.4))
for c in range(6):
    show(axes[0, c], d.X_train[c], f"image {c} (label {int(d.y_train[c])})")
for r in range(1, 4):
    views = AU.simclr_view(d.X_train[:6], g_show, **DIGIT_VIEWS)
    for c in range(6):
        show(axes[r, c], views[c], f"view {r}")
plt.tight_layout()
plt.show()

# %% [markdown]
# Each column is one digit and three of its views: cropped to between 40 and 100% of its area
# and stretched back, made lighter, darker, flatter or harsher, sometimes blurred. The views
# of one digit differ more in pixels than many pairs of *different* digits do (a lightly
# cropped 0 and a heavily cropped 0 share few pixels), which is the point: a network that
# matches them must have learned something about shape.
#
# ### 3.2 The InfoNCE loss
#
# Take a batch of $N$ images and two views of each: $2N$ views. The encoder $f$ and a small
# **projection head** $g$ (Linear, ReLU, Linear) map each view to $z = g(f(x))$, normalised
# to unit length, so that $z_i^\top z_j$ is a cosine. For view $i$ with partner $p(i)$ (the
# other view of the same image),
#
# $$ \ell_i = -\log \frac{\exp(z_i^\top z_{p(i)} / \tau)}{\sum_{k \ne i} \exp(z_i^\top z_k / \tau)}, \qquad
#    \mathcal L = \frac{1}{2N} \sum_{i=1}^{2N} \ell_i . $$
#
# This is a cross-entropy: a softmax over the $2N - 1$ other views, with the partner as the
# right class and the $2N - 2$ views of other images as **negatives**. Oord, Li & Vinyals
# (2018) named it **InfoNCE** and showed that $\log(2N - 1) - \mathcal L$ bounds from below
# the mutual information between the two views' representations; SimCLR calls it NT-Xent
# (normalised, temperature-scaled cross-entropy). At random, every candidate is equally
# likely and $\mathcal L = \log(2N - 1)$; the loss falls as partners become more similar than
# the negatives. The **temperature** $\tau$ sets how sharply: a small $\tau$ magnifies
# differences of cosine, so the hardest negatives (the most similar other images) dominate
# the gradient.
#
# **A case by hand.** Two images ($N = 2$) in two dimensions, each with two identical views:
# $z_1 = z_3 = (1, 0)$ and $z_2 = z_4 = (0, 1)$, $\tau = 1$. View 1's partner is view 3
# (cosine 1); its negatives are views 2 and 4 (cosine 0). So
# $\ell_1 = -\log \frac{e^1}{e^0 + e^1 + e^0} = \log(1 + 2/e)$, and by symmetry every
# $\ell_i$ is the same, so $\mathcal L = \log(1 + 2/e)$. Even perfect views do not reach
# zero at $\tau = 1$: the negatives still take their share of the softmax. At $\tau = 0.1$
# the same case gives $\log(1 + 2e^{-10})$, nearly zero.
#
# In code (`dlcv.selfsupervised.infonce.info_nce`) the whole batch is one cross-entropy: the
# $2N \times 2N$ matrix of cosines divided by $\tau$, its diagonal set to $-\infty$ (a view
# is not its own candidate), and the partner's column as the target of every row. The cell
# checks it against the hand case; the tests also check it against a loop over the rows and
# against numeric gradients.

# %%
z1, z2 = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
for tau in (1.0, 0.1):
    ours = info_nce(z1, z2, tau)
    hand = np.log(1 + 2 * np.exp(-1 / tau))
    print(f"tau = {tau}: info_nce {float(ours):.6f}, log(1 + 2 exp(-1/tau)) = {hand:.6f}")

g = torch.Generator().manual_seed(0)
a, b = torch.randn(64, 32, generator=g), torch.randn(64, 32, generator=g)
print(f"random 64 x 32 embeddings: info_nce {float(info_nce(a, b, 0.5)):.3f}, "
      f"log(2N - 1) = {np.log(127):.3f}")

# %% [markdown]
# For random embeddings the loss printed above is close to $\log(2N - 1)$, the value of a
# softmax that cannot tell the candidates apart.
#
# ### 3.3 SimCLR
#
# The training step is short: draw 128 training digits, make two views of each, run the
# 256 views through encoder and head in one batch (batch norm sees both views, as in SimCLR),
# and take an Adam step on InfoNCE with $\tau = 0.2$. We train for 200 steps (20 passes over
# the 1,257 training digits' worth of views). SimCLR used batches of 4,096 for 100 to 800
# epochs on ImageNet, because every other image in the batch is a negative and more negatives
# make the task harder; MoCo (He et al. 2020) keeps a queue of past embeddings to get many
# negatives with small batches.

# %%
enc, head = simclr_encoder(seed=0)
log = enc.log
print(f"SimCLR: {log.steps} steps in {log.seconds:.1f} s; InfoNCE from {np.mean(log.loss[:10]):.3f} "
      f"(first 10 steps) to {np.mean(log.loss[-20:]):.3f} (last 20); log(2N - 1) = {np.log(255):.3f}")
pos, neg = view_similarity(enc, head, d.X_test, torch.Generator().manual_seed(1), **DIGIT_VIEWS)
pos0, neg0 = view_similarity(random_enc, torch.nn.Identity(), d.X_test,
                             torch.Generator().manual_seed(1), **DIGIT_VIEWS)
print(f"mean cosine of two views of one test digit {pos:.3f}, of two different digits {neg:.3f} "
      f"(random network, its features: {pos0:.3f} and {neg0:.3f})")

fig, ax = plt.subplots(figsize=(6, 2.8))
ax.plot(log.loss, lw=1, color=CLASS_COLORS[0], label="InfoNCE per step")
ax.axhline(np.log(255), color="gray", ls="--", lw=1, label="log(2N - 1): chance")
ax.set_xlabel("step")
ax.set_ylabel("loss")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# The loss starts at the chance line and falls steadily (the values are printed
# above). On test digits the trained head puts two views of one digit close together and
# different digits far apart; for the random network, whose features are all positive after
# the ReLUs, *every* pair of images has a high cosine (the second printed line): its space has
# no notion of "same image".
#
# Two details of SimCLR matter more than they seem. The **projection head**: the loss is
# computed on $z = g(h)$, but the features kept are $h$. Chen et al. found the probe on $h$
# 10 points better than on $z$: the loss makes $z$ invariant to everything the augmentations
# change (colour, position), and $g$ absorbs that loss of information so that $h$ keeps it.
# The **batch norm** in the encoder: it sees both views of every image, so the network cannot
# recognise a partner by batch statistics.
#
# ### 3.4 The probe table: many labels and few
#
# Now the measurement. For every representation, a linear probe trained on all 1,257
# training labels, and one trained on only 5 labels per digit (50 images, drawn at random);
# both tested on the 360 test digits. The supervised baseline is the same encoder trained
# end to end with cross-entropy on the same labels (all of them, or the same 50) with random
# crops, and probed like the others; it is the ceiling a representation is measured against.

# %%
few = labelled_subset(d.y_train, 5, seed=0)
flat["rotation pretext"] = (features(rot_enc, d.X_train), features(rot_enc, d.X_test))
flat["SimCLR"] = (features(enc, d.X_train), features(enc, d.X_test))
t0 = time.perf_counter()
sup_all, _ = supervised_encoder(seed=0)
sup_few, _ = supervised_encoder(seed=0, per_class=5)
print(f"two supervised encoders trained in {time.perf_counter() - t0:.1f} s")
table = {}
for name, (ftr, fte) in flat.items():
    table[name] = (probe_row(ftr, fte), probe_row(ftr, fte, few))
sup_feats = [(features(m, d.X_train), features(m, d.X_test)) for m in (sup_all, sup_few)]
table["supervised"] = (probe_row(*sup_feats[0]), probe_row(*sup_feats[1], few))

print(f"\n{'representation':18s} {'all 1257 labels':>16s} {'5 labels per digit':>19s}")
for name, (acc_all, acc_few) in table.items():
    print(f"{name:18s} {acc_all:16.3f} {acc_few:19.3f}")
best_floor = {k: max(table["pixels"][k], table["random network"][k]) for k in (0, 1)}
for k, what in ((0, "all labels"), (1, "5 labels per digit")):
    s, sup = table["SimCLR"][k], table["supervised"][k]
    place = ("above both floors" if s > best_floor[k] else "not above the better floor")
    where = (f"below supervised ({sup:.3f}), closing "
             f"{(s - best_floor[k]) / (sup - best_floor[k]):.0%} of the gap from the floor"
             if best_floor[k] < s < sup else
             f"{'at or above' if s >= sup else 'below'} supervised ({sup:.3f}), a difference of "
             f"{round(abs(s - sup) * len(d.y_test))} test digits")
    print(f"{what}: SimCLR {s:.3f} is {place} (best of pixels and random {best_floor[k]:.3f}), "
          f"{where}")

# %% [markdown]
# Read the printed table row by row, and then the two summary lines under it.
#
# *With all labels* the representations are within a few points of each other, because the
# digits are an easy problem for a linear classifier on almost anything. SimCLR's features
# sit between the floors and the supervised network: better than pixels and random features,
# short of what training on the labels gives (the first summary line). With 360 test digits
# the gaps are a handful of images each, so this ranking is a measurement of this run, not a
# law.
#
# *With 5 labels per digit* the differences grow, and this is the setting self-supervision
# is for. A linear classifier on 256 pixels from 50 examples cannot know which pixels matter,
# and the supervised network has only those 50 images to learn its features from. SimCLR's
# encoder has seen all 1,257 images without their labels, and with the same 50 labels its
# probe is as good as the supervised network trained on them (the second summary line: the
# two differ by a few test digits, in SimCLR's favour on this run). The rotation pretext's
# features are the weakest in this column, below even the pixels: trained briefly on a task
# that is blind to some digits' identity, they did not learn what tells digits apart.
#
# ### 3.5 Seeing a representation: nearest neighbours
#
# A probe gives one number per representation; neighbours show what the number is made of.
# For a test digit, the view below finds the training digits whose features are most similar
# (cosine similarity of standardized features, `dlcv.selfsupervised.probe.nearest`), framed
# green when they share the query's label. Move through the test digits and switch the
# representation: pixel neighbours share ink with the query wherever it lies, so a digit
# written thick or slanted finds other thick or slanted digits; SimCLR's neighbours were
# trained to ignore crops and brightness, and the supervised ones to ignore everything but
# the class. The readout counts, for the chosen representation, how often the neighbours
# share the query's label over the whole test set; the cell prints the same share at $k = 5$
# for every representation.

# %%
spaces = {name: flat[name] for name in ("pixels", "random network", "rotation pretext", "SimCLR")}
spaces["supervised"] = sup_feats[0]
for name, (ftr, fte) in spaces.items():
    share = float(label_agreement(nearest(fte, ftr, 5), d.y_test, d.y_train).mean())
    print(f"{name:18s} the 5 nearest training digits share the test digit's label: {share:.3f}")
NeighboursView(spaces, d.X_train, d.y_train, d.X_test, d.y_test, index=0, k=8)

# %% [markdown]
# The printed shares put the supervised network first, SimCLR just above the pixels and the
# rotation network last, as the probe did; pixels and random features swap places, a
# difference of a few digits either way. The neighbours are a stricter test than the probe: a linear classifier can weigh the features that matter and
# ignore the others, while a cosine similarity weighs all features alike.
#
# At the scale of papers the gaps are larger: on ImageNet a linear probe on SimCLR's features
# (a ResNet-50 four times wider than usual) reached 76.5% top-1, the accuracy of a supervised
# ResNet-50, and fine-tuned on 1% of the labels SimCLR reached 85.8% top-5, more than AlexNet
# trained on all of them.
#
# ## 4. Masked image modelling, in brief
#
# The most successful pretext task of recent years is the oldest idea made to scale: hide
# part of the image and predict it. BEiT (Bao et al. 2022) and MAE (He et al. 2022) cut an
# image into 16x16 patches, hide most of them (75% in MAE), and train a vision transformer
# (lecture 14) to reconstruct the hidden ones; the loss is counted on the hidden patches only,
# since copying visible pixels teaches nothing. Hiding *most* of the image is what makes the
# task hard enough: neighbouring pixels are so correlated that a small hole can be filled by
# interpolation. MAE's encoder sees only the visible patches, which makes it cheap; its
# features, fine-tuned, beat supervised pre-training on ImageNet.
#
# Here, at 16x16 pixels, we hide half of the sixteen 4x4 patches of each digit and train a
# small convolutional network (dilated 3x3 convolutions, so that a hidden pixel sees the
# patches around it; `dlcv.selfsupervised.masked`) to paint them back, with the squared error
# on the hidden pixels. The baseline painter fills every hole with the mean of the visible
# pixels.

# %%
mim = MK.masked_model(seed=0)
gm = torch.Generator().manual_seed(2)
mask = MK.patch_mask(len(d.X_test), 16, 4, 0.5, gm)
with torch.no_grad():
    painted = mim(d.X_test * (1 - mask), mask)
mean_fill = MK.fill_with_mean(d.X_test, mask)
err_net = float(MK.masked_loss(painted, d.X_test, mask))
err_mean = float(MK.masked_loss(mean_fill, d.X_test, mask))
print(f"masked model trained in {mim.log.seconds:.1f} s ({mim.log.steps} steps); squared error "
      f"on the hidden pixels of the test digits: network {err_net:.4f}, mean fill "
      f"{err_mean:.4f} ({err_mean / err_net:.1f} times larger)")
flat["masked modelling"] = (mim.features(d.X_train), mim.features(d.X_test))
table["masked modelling"] = tuple(probe_row(*flat["masked modelling"], idx)
                                  for idx in (None, few))
print(f"linear probe on the masked model's features (mean of its last hidden layer): "
      f"{table['masked modelling'][0]:.3f} with all labels, {table['masked modelling'][1]:.3f} "
      f"with 5 per digit (SimCLR: {table['SimCLR'][0]:.3f}, {table['SimCLR'][1]:.3f})")

fig, axes = plt.subplots(4, 8, figsize=(9, 4.8))
for c in range(8):
    img = d.X_test[c]
    show(axes[0, c], img, "digit" if c == 0 else None)
    show(axes[1, c], img * (1 - mask[c]) + 0.3 * mask[c], "hidden (grey)" if c == 0 else None)
    show(axes[2, c], mean_fill[c], "mean fill" if c == 0 else None)
    show(axes[3, c], img * (1 - mask[c]) + painted[c] * mask[c], "network" if c == 0 else None)
plt.tight_layout()
plt.show()

# %% [markdown]
# The network's paint is far closer than the mean fill (the ratio is printed above): in the
# figure it continues the strokes into the holes and leaves dark what is background. Where a
# whole stroke is hidden it paints a grey blur between the possibilities, the mark of a
# squared-error loss that averages over what it cannot know. Its features, probed linearly,
# are *weak* at this scale: below SimCLR's and below even the raw pixels (printed above).
# Painting a hole needs local detail, not a summary of the whole digit, so the mean over
# positions of the painter's last layer is likely a poor summary; MAE's features are also known to be less linearly
# separable than contrastive ones and to shine after fine-tuning, and our painter is a small
# convolutional network trained for a few seconds, not a transformer trained for days. We show
# masked modelling here for the idea, not as a competitor.
#
# ## 5. Images and text: CLIP
#
# A caption is a label written for free. Radford et al. (2021) collected 400 million
# image-text pairs from the web and trained an image encoder and a text encoder together with
# the contrastive idea of section 3, but across the two modalities: in a batch of $N$ pairs,
# image $i$ must pick out its own caption among the $N$ captions, and caption $i$ its image
# among the $N$ images. With unit embeddings $u_i$ (images) and $v_j$ (texts) and a learned
# scale $s = 1/\tau$,
#
# $$ \mathcal L = \frac12 \Big[ \frac1N \sum_i -\log \frac{e^{s\,u_i^\top v_i}}{\sum_j e^{s\,u_i^\top v_j}}
#    + \frac1N \sum_j -\log \frac{e^{s\,u_j^\top v_j}}{\sum_i e^{s\,u_i^\top v_j}} \Big], $$
#
# two cross-entropies over the $N \times N$ similarity matrix, along its rows and along its
# columns, with the diagonal as the right answers (`dlcv.selfsupervised.infonce.clip_loss`).
#
# The payoff is **zero-shot classification**. To classify an image into classes never
# trained on, write a sentence for each class ("a photo of a dog", "a photo of a cat"),
# embed the sentences with the text encoder, and pick the class whose sentence is most similar
# to the image. The class names are read, not learned: the classifier's weights are the text
# embeddings of the prompts.
#
# ### 5.1 The data
#
# Our pairs are one-object shapes scenes of 32x32 pixels with the captions of lecture 13's
# grammar: "a large red circle on the left", "a single red circle", "a circle", "there is a
# small blue square at the top". No caption is a class label; every one names the shape,
# and some say nothing about colour ("a circle") or size.

# %%
train_sc, test_sc = load_scenes(1000, seed=0), load_scenes(500, seed=100)
fig, axes = plt.subplots(1, 5, figsize=(10, 2.6))
for i, ax in enumerate(axes):
    show(ax, train_sc.images[i])
    ax.set_title("\n".join(train_sc.captions[i][:3]), fontsize=6.5)
plt.tight_layout()
plt.show()
print(f"{len(train_sc)} training scenes with {sum(map(len, train_sc.captions))} captions; "
      f"{len(test_sc)} test scenes (another seed)")

# %% [markdown]
# At 32x32 pixels a small circle is a blob a few pixels wide, not far from a small square
# (compare the first and last scenes with the third): shape will be the harder half of every
# question below.
#
# ### 5.2 A small CLIP
#
# The image encoder is section 1's network (on colour images, narrower: 32 features) with a
# linear projection to 32 numbers. CLIP's text encoder is a transformer (lecture 14); ours is a
# **bag of words**: the mean of the word embeddings of the caption, then a two-layer MLP to 32
# numbers. It cannot see word order, which the one-object captions do not need ("left of" is
# never used). Every step takes 128 scenes and one of each scene's captions, chosen at random,
# and takes an Adam step on the symmetric loss. Two scenes of a batch may share a caption
# ("a circle"); the loss then counts the other scene's identical caption as a negative, a
# noise CLIP also lives with.

# %%
t0 = time.perf_counter()
clip, vocab = CL.clip_model(seed=0)
print(f"CLIP: {clip.log.steps} steps in {time.perf_counter() - t0:.1f} s; loss from "
      f"{np.mean(clip.log.loss[:10]):.3f} to {np.mean(clip.log.loss[-20:]):.3f} "
      f"(chance: log 128 = {np.log(128):.3f}); learned scale 1/tau = {float(clip.scale):.1f}")
with torch.no_grad():
    u = clip.image(test_sc.images[:8])
    tok, msk = (torch.from_numpy(x) for x in vocab.encode_batch([c[0] for c in test_sc.captions[:8]]))
    v = clip.text(tok, msk)
    sim = torch.nn.functional.normalize(u, dim=1) @ torch.nn.functional.normalize(v, dim=1).T
print(f"symmetric loss on 8 test pairs: {float(clip_loss(u, v, clip.scale)):.3f}")
fig, ax = plt.subplots(figsize=(5.5, 4.3))
im = ax.imshow(sim.numpy(), cmap="viridis")
ax.set_yticks(range(8))
ax.set_yticklabels([f"image {i}" for i in range(8)], fontsize=7)
ax.set_xticks(range(8))
ax.set_xticklabels([c[0] for c in test_sc.captions[:8]], rotation=60, ha="right", fontsize=6.5)
ax.set_title("cosine of 8 test images and their first captions", fontsize=9)
fig.colorbar(im, ax=ax)
plt.tight_layout()
plt.show()

# %% [markdown]
# The matrix is the loss's view of a batch: the right pairs are on the diagonal, and they
# should be the brightest entries of their rows and columns. Off the diagonal, bright entries
# are not always errors: a caption that names only the shape ("a circle", "a square") fits
# every test image with that shape, and two scenes with the same colour and shape fit each
# other's "a single blue circle".
#
# ### 5.3 Zero-shot classification
#
# We ask three questions of the 500 test scenes with prompts alone. **Colour and shape** (12
# classes): the prompt "a red circle" for each of the 12 combinations, and the most similar
# one wins. **Colour** (4 classes) and **shape** (3 classes): CLIP's **prompt ensembling**,
# the mean of the embeddings of several prompts (for "red": "a red circle", "a red square",
# "a red triangle"). The yardsticks: chance, and a supervised classifier, CLIP's image encoder
# with a linear layer trained on the 12 labels of the same 1,000 training images, for the same
# number of steps and batch size.

# %%
names = class_names()
prompts = [f"a {n}" for n in names]
E = CL.embed_prompts(clip, vocab, prompts)
tasks = {"colour and shape": (E, test_sc.label, len(names)),
         "colour": (CL.ensemble(E, [[c * 3 + k for k in range(3)] for c in range(4)]),
                    test_sc.color, len(COLORS)),
         "shape": (CL.ensemble(E, [[c * 3 + k for c in range(4)] for k in range(3)]),
                   test_sc.shape, len(SHAPES))}
t0 = time.perf_counter()
sup_enc, sup_head = CL.supervised_scenes(seed=0)
print(f"supervised baseline trained in {time.perf_counter() - t0:.1f} s")
with torch.no_grad():
    sup_scores = torch.softmax(sup_head(features(sup_enc, test_sc.images)), 1)   # (N, 12)
sup_pred = {"colour and shape": sup_scores,
            "colour": sup_scores.view(-1, 4, 3).sum(2),
            "shape": sup_scores.view(-1, 4, 3).sum(1)}
print(f"\n{'question':17s} {'chance':>7s} {'zero-shot':>10s} {'supervised':>11s}")
zs = {}
for q, (T, y, k) in tasks.items():
    zs[q] = CL.zero_shot_scores(clip, test_sc.images, T)
    print(f"{q:17s} {1 / k:7.3f} {accuracy(zs[q], y):10.3f} {accuracy(sup_pred[q], y):11.3f}")
for z, label in enumerate(("small", "large")):
    sel = test_sc.size == z
    print(f"zero-shot shape accuracy on {label} objects: "
          f"{accuracy(zs['shape'][sel], test_sc.shape[sel]):.3f} ({int(sel.sum())} scenes)")

# %% [markdown]
# Read the table printed above. Zero-shot is far above chance on all three questions, without
# a single class label: the model learned the words "red" and "circle" from captions that
# used them. Colour is nearly solved; shape is harder, and the two lines under the table show
# where: small objects, a few pixels wide at 32x32, are where circles, squares and triangles
# blur together. The supervised classifier, trained on exactly the question asked, does at
# least as well on colour and shape together (compare the columns); CLIP's achievement at this
# scale is to come close to it with captions that were never written as class labels. In
# Radford et al., zero-shot CLIP matched a supervised ResNet-50 on ImageNet (76.2% top-1)
# without seeing one of its 1.28 million labels.
#
# ### 5.4 Retrieval: from words to images
#
# The same embeddings run the other way: embed a sentence and rank the test images by
# similarity. This is how CLIP is used for image search, and how it guides and filters the
# image generators of lecture 17. Below, the five test scenes closest to each of four
# prompts, framed green when they show what the prompt says.

# %%
queries = ["a yellow triangle", "a large blue square", "a small green circle", "a red square"]
Q = CL.embed_prompts(clip, vocab, queries)
scores = CL.zero_shot_scores(clip, test_sc.images, Q)                # (500, 4)
fig, axes = plt.subplots(len(queries), 5, figsize=(7.5, 6.2))
hits = []
for r, q in enumerate(queries):
    top = scores[:, r].argsort(descending=True)[:5]
    words = q.split()[1:]
    col, shp = COLORS.index(words[-2]), SHAPES.index(words[-1])
    ok_all = []
    for c, i in enumerate(top.tolist()):
        ok = int(test_sc.color[i]) == col and int(test_sc.shape[i]) == shp
        ok_all.append(ok)
        show(axes[r, c], test_sc.images[i], q if c == 0 else None)
        for sp in axes[r, c].spines.values():
            sp.set_color(CLASS_COLORS[2] if ok else CLASS_COLORS[3])
            sp.set_linewidth(2.5)
    hits.append((sum(ok_all), int((test_sc.color[top] == col).sum())))
plt.tight_layout()
plt.show()
print("of the top 5 images, how many have the prompt's colour and shape (and its colour): "
      + ", ".join(f"'{q}' {h}/5 ({hc}/5)" for q, (h, hc) in zip(queries, hits, strict=True)))

# %% [markdown]
# The retrieved scenes have the asked colour every time and, most of the time, the asked
# shape (the counts are printed above). The errors are all shape errors: a small green square
# and a small green triangle for "a small green circle", where the zero-shot table predicted
# them, and a red circle for "a red square". Real CLIP has the
# same weaknesses at a different scale: it counts poorly, confuses which attribute belongs to
# which object ("a red cube and a blue sphere"), and its zero-shot accuracy depends on the
# prompt's wording, which is why Radford et al. averaged 80 prompts per class.
#
# ## 6. Where this goes
#
# * **Negatives or not.** MoCo (He et al. 2020) keeps a queue of negatives from past batches
#   and a slowly moving "momentum" encoder for them. BYOL (Grill et al. 2020) and SimSiam
#   (Chen & He 2021) drop negatives altogether: one view predicts the other's embedding, and a
#   stop-gradient (with a momentum encoder in BYOL) keeps the trivial solution, a constant
#   embedding, from being found. Barlow Twins and VICReg decorrelate the features instead.
# * **Self-distillation.** DINO (Caron et al. 2021) trains a vision transformer to match a
#   momentum teacher's output on other crops; its attention maps segment objects without a
#   single mask label, and DINOv2 (Oquab et al. 2024) features are used frozen across tasks.
# * **Masked modelling at scale.** MAE and its successors pre-train most large vision
#   transformers; combined with contrastive or distillation objectives, they are the first
#   step of most current vision models.
# * **Language as supervision.** ALIGN (Jia et al. 2021) scaled CLIP's recipe to a billion
#   noisy pairs; captioning models and multimodal language models start from such encoders.
#   Lecture 18 (beyond) meets the contrastive loss again, with labels, in metric learning.
#
# ## Check yourself
#
# **1.** Why is a representation measured with a *linear* probe rather than with the best
# classifier one can train on it?
#
# <details><summary>Answer</summary>
#
# A deep enough classifier on top of any injective representation, even raw pixels, can in
# principle learn the task: it would measure the classifier, not the features. Restricting
# the probe to a linear map asks whether the representation has already made the classes
# easy to separate. It is also cheap and convex, so the measurement does not depend on the
# probe's own training luck. (Fine-tuning is the complementary measurement: how good a
# starting point the weights are.)
# </details>
#
# **2.** In the hand case of section 3.2, what happens to the loss when $\tau \to 0$ and when
# $\tau \to \infty$? What does that say about choosing $\tau$?
#
# <details><summary>Answer</summary>
#
# $\mathcal L = \log(1 + 2 e^{-1/\tau})$: it tends to 0 as $\tau \to 0$ (the partner's
# cosine, 1, beats the negatives' 0 by an infinite margin) and to $\log 3 = \log(2N - 1)$ as
# $\tau \to \infty$ (every candidate looks alike). A small $\tau$ makes the loss care only
# about the closest negatives, which sharpens the features but can push apart images that
# are truly similar; a large $\tau$ gives weak gradients. SimCLR found values around 0.1 to
# 0.5 best; CLIP learns it.
# </details>
#
# **3.** SimCLR with crops but no colour distortion learns poor features on photographs. Why?
# On what data would the colour distortion itself be harmful?
#
# <details><summary>Answer</summary>
#
# Two crops of one photograph share its colour histogram, and histograms differ between
# photographs: the network can match views by colour statistics alone and never needs shape
# or objects. Distorting colour removes that shortcut. It is harmful when colour *is* the
# task: birds or flowers whose species differ by colour, or our shapes scenes asked "which
# colour?". The augmentations declare what should not matter, and the features become blind
# to it.
# </details>
#
# **4.** Show that the gradient of $\ell_i$ with respect to $z_i$ (before normalisation is
# taken into account) is $\frac1\tau \big(\sum_{k \ne i} p_{ik} z_k - z_{p(i)}\big)$, with
# $p_{ik}$ the softmax weights. What does each term do?
#
# <details><summary>Answer</summary>
#
# $\ell_i = -z_i^\top z_{p(i)}/\tau + \log \sum_{k \ne i} e^{z_i^\top z_k/\tau}$. The first
# term's gradient is $-z_{p(i)}/\tau$; the second's is $\sum_k p_{ik} z_k / \tau$ with $p_{ik}
# = e^{z_i^\top z_k/\tau} / \sum_{k'} e^{z_i^\top z_{k'}/\tau}$. Gradient descent moves $z_i$
# towards its partner and away from the softmax-weighted mean of all candidates, mostly away
# from the negatives most similar to it (large $p_{ik}$). Since the partner is among the
# candidates, the pull vanishes when $p_{i,p(i)} \to 1$.
# </details>
#
# **5.** Why does the rotation task have labels that no network can always get right on the
# digits? Would the same be true on photographs?
#
# <details><summary>Answer</summary>
#
# Some digits are (nearly) symmetric under rotation (0, 1 and 8 at 180 degrees) and one
# digit rotated is another (6 and 9), so the rotated image does not determine the label. On
# photographs it is rarer but present (a photograph of a round plate from above, texture
# close-ups); Gidaris et al. note that rotation works because photographs have a canonical
# "up": sky above, feet below.
# </details>
#
# **6.** Why does masked image modelling hide 75% of the patches rather than 15% as BERT does
# with words?
#
# <details><summary>Answer</summary>
#
# Images are far more redundant than text: a hidden pixel or small patch can be
# interpolated from its neighbours without any understanding of the scene. Hiding most of the
# image leaves only a sparse set of patches, so filling the holes needs knowledge of objects
# and their parts. A word, in contrast, carries much information and is hard to guess even
# with most of the sentence visible.
# </details>
#
# **7.** Zero-shot CLIP chooses the class whose prompt is most similar to the image. Write
# this as a linear classifier: what are its weights and where do they come from?
#
# <details><summary>Answer</summary>
#
# The scores are $u^\top v_c$, with $u$ the unit image embedding and $v_c$ the unit text
# embedding of class $c$'s prompt: a linear classifier with weight matrix
# $W = [v_1, \dots, v_C]$ and no bias. The weights are produced by the text encoder from the
# class names instead of being learned from labelled images, which is why new classes cost
# nothing but a sentence. Prompt ensembling averages several $v_c$ per class, a better weight
# estimate.
# </details>
#
# **8.** In a batch of 128 of our scenes, two have the caption "a circle". What does the CLIP
# loss ask of the model for these two, and why does training work anyway?
#
# <details><summary>Answer</summary>
#
# It asks image 1 to be more similar to its own copy of "a circle" than to image 2's identical
# copy, which is impossible: the two text embeddings are equal, so the two logits are equal
# and each pair contributes at least $\log 2$ to the loss. This is label noise in the
# contrastive task. It is rare in a batch, it pushes both images towards the same text (which
# is right), and the many informative negatives dominate the gradient. With web data, near
# duplicate captions are common, and CLIP's scale averages the noise away.
# </details>
#
# ## Summary
#
# * Self-supervised learning trains on a task whose answers come from the data itself; what it
#   is judged by is a **linear probe** on its frozen features, against raw pixels, random
#   features and a supervised network, with many and with few labels.
# * **Pretext tasks** (context, jigsaw, colourisation, rotation) teach what they need and
#   ignore the rest; rotation prediction cannot tell symmetric digits apart.
# * **Contrastive learning** makes two augmented views of an image agree and different images
#   disagree. SimCLR: random resized crops and colour distortion, an encoder and a projection
#   head, the InfoNCE loss with temperature $\tau$ over $2N - 1$ candidates (chance:
#   $\log(2N - 1)$). The augmentations decide which invariances the features get.
# * On the digits, SimCLR's features sat between the floors (pixels, random features) and the
#   supervised ceiling with all labels, and were most useful with 5 labels per digit.
# * **Masked image modelling** hides most of an image and predicts it; at scale (MAE, BEiT)
#   it pre-trains vision transformers; in our tiny run it painted far better than a mean fill,
#   and its features probed below SimCLR's.
# * **CLIP** trains image and text encoders with a symmetric InfoNCE over an $N \times N$
#   similarity matrix; **zero-shot** classification embeds one prompt per class and picks the
#   most similar. On the shapes scenes it was far above chance without class labels and close
#   to a supervised classifier.
#
# ## Papers
#
# * C. Doersch, A. Gupta, A. Efros, *Unsupervised visual representation learning by context
#   prediction*, ICCV 2015.
# * M. Noroozi, P. Favaro, *Unsupervised learning of visual representations by solving jigsaw
#   puzzles*, ECCV 2016.
# * R. Zhang, P. Isola, A. Efros, *Colorful image colorization*, ECCV 2016 (and the linear
#   probe on frozen features as an evaluation).
# * D. Pathak, P. Krähenbühl, J. Donahue, T. Darrell, A. Efros, *Context encoders: feature
#   learning by inpainting*, CVPR 2016.
# * S. Gidaris, P. Singh, N. Komodakis, *Unsupervised representation learning by predicting
#   image rotations*, ICLR 2018.
# * A. Kolesnikov, X. Zhai, L. Beyer, *Revisiting self-supervised visual representation
#   learning*, CVPR 2019.
# * A. van den Oord, Y. Li, O. Vinyals, *Representation learning with contrastive predictive
#   coding*, arXiv 2018 (InfoNCE).
# * Z. Wu, Y. Xiong, S. Yu, D. Lin, *Unsupervised feature learning via non-parametric
#   instance discrimination*, CVPR 2018.
# * T. Chen, S. Kornblith, M. Norouzi, G. Hinton, *A simple framework for contrastive learning
#   of visual representations*, ICML 2020 (SimCLR).
# * K. He, H. Fan, Y. Wu, S. Xie, R. Girshick, *Momentum contrast for unsupervised visual
#   representation learning*, CVPR 2020 (MoCo).
# * J.-B. Grill et al., *Bootstrap your own latent: a new approach to self-supervised
#   learning*, NeurIPS 2020 (BYOL); X. Chen, K. He, *Exploring simple Siamese representation
#   learning*, CVPR 2021 (SimSiam).
# * M. Caron, H. Touvron, I. Misra, H. Jégou, J. Mairal, P. Bojanowski, A. Joulin, *Emerging
#   properties in self-supervised vision transformers*, ICCV 2021 (DINO); M. Oquab et al.,
#   *DINOv2: learning robust visual features without supervision*, TMLR 2024.
# * H. Bao, L. Dong, S. Piao, F. Wei, *BEiT: BERT pre-training of image transformers*, ICLR
#   2022.
# * K. He, X. Chen, S. Xie, Y. Li, P. Dollár, R. Girshick, *Masked autoencoders are scalable
#   vision learners*, CVPR 2022 (MAE).
# * A. Radford, J. W. Kim, C. Hallacy, A. Ramesh, G. Goh, S. Agarwal, G. Sastry, A. Askell,
#   P. Mishkin, J. Clark, G. Krueger, I. Sutskever, *Learning transferable visual models from
#   natural language supervision*, ICML 2021 (CLIP).
# * C. Jia et al., *Scaling up visual and vision-language representation learning with noisy
#   text supervision*, ICML 2021 (ALIGN).

# %%
print(f"whole notebook: {time.perf_counter() - t_start:.0f} s")
