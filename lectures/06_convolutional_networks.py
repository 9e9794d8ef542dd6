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
# # Lecture 06 — Convolutional networks
#
# The networks of lectures 04 and 05 begin by flattening an image into a long vector. After that,
# nothing in the network knows which pixels were neighbours: shuffle the pixels of every image in
# the same way and a fully connected network learns just as well. That is wasteful. In a
# photograph, nearby pixels belong together, the same pattern (an edge, an eye, a wheel) can appear
# anywhere, and an object stays the same object when it moves a little. A **convolutional
# network** builds these three facts into its layers: every unit looks at a small neighbourhood,
# all positions share the same weights, and pooling makes the answer less sensitive to small
# shifts. The result needs far fewer parameters, learns from fewer examples, and has been the
# workhorse of computer vision since 2012.
#
# **After this lecture you can**
#
# 1. explain with parameter counts why fully connected layers do not scale to images, and relate
#    locality, weight sharing and pooling to Hubel and Wiesel's simple and complex cells;
# 2. compute a 2-D convolution (the cross-correlation of deep learning) by hand, for one channel
#    and for many, and state the shapes of inputs $(N, C, H, W)$, weights $(F, C, K, K)$ and
#    outputs, and the number of parameters;
# 3. compute the output size $M = \lfloor (N + 2P - D(K-1) - 1)/S \rfloor + 1$ for any stride,
#    padding and dilation, and choose "same" padding;
# 4. explain what a $1 \times 1$ convolution does and count the savings of a bottleneck;
# 5. describe max and average pooling and where their gradients go;
# 6. derive the backward pass of a convolution: the weight gradient is a correlation of the input
#    with the upstream gradient, the input gradient is a full convolution of the upstream gradient
#    with the kernel;
# 7. compute receptive fields of a stack of layers and say why stacks of $3 \times 3$ kernels
#    are the norm;
# 8. train a small convolutional network with torch and look at what its layers learned.
#
# **Plan.** Why not fully connected → the convolution operation → output size, stride, padding,
# dilation, $1 \times 1$ convolutions → pooling → the backward pass → receptive fields → a widget
# to slide a kernel over a photograph → a small CNN on the digits and what it learns → questions,
# summary, papers.
#
# In assignment a3 you write the layers of this chapter yourself in numpy: the convolution's
# forward and backward passes (naive, then fast with im2col), max pooling, spatial batch and group
# normalisation, and a three-layer convolutional network. In this chapter the arithmetic runs
# through torch (`torch.nn.functional.conv2d`, `max_pool2d`, autograd) and `scipy.signal`, with
# small examples worked out by hand and numeric checks, so that the assignment stays yours.

# %%
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle
from scipy.signal import convolve2d, correlate2d
from torch import nn

from dlcv.convolution.arithmetic import (
    KERNELS,
    conv2d_single,
    draw_windows,
    output_size,
    output_size_formula,
    receptive_field,
    receptive_field_table,
    window,
)
from dlcv.convolution.widgets import ConvolutionExplorer
from dlcv.data import load_classification, load_photo
from dlcv.networks.training import evaluate, fit, make_net
from dlcv.plots import CLASS_COLORS, show_values
from dlcv.timing import cap_threads, time_call

plt.rcParams.update({"figure.figsize": (9, 3.2), "figure.dpi": 90, "font.size": 10})
np.set_printoptions(precision=3, suppress=True, linewidth=110)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine
rng = np.random.default_rng(0)
_ = torch.manual_seed(0)
t_start = time.perf_counter()

# %% [markdown]
# ## 1. Why fully connected layers do not fit images
#
# ### 1.1 Too many parameters
#
# A fully connected layer connects every input number to every output unit. For an image with
# $H \times W$ pixels and $C$ colour channels and a layer of $U$ units that is $HWC \cdot U$
# weights.
# The $8 \times 8$ digits of the earlier lectures hide the problem; a photograph does not. Compare
# with a convolutional layer of 64 filters of size $3 \times 3$, whose weight count does not
# depend on the image size at all (section 2.4 explains the count $F \cdot C \cdot K^2 + F$):

# %%
print(f"{'image':>16s} {'inputs':>9s} {'FC layer, 1000 units':>22s} {'conv, 64 filters 3x3':>22s}")
for H, W, C in [(8, 8, 1), (32, 32, 3), (200, 200, 3), (1024, 768, 3)]:
    fc = H * W * C * 1000 + 1000
    conv = 64 * C * 3 * 3 + 64
    print(f"{f'{H}x{W}x{C}':>16s} {H * W * C:>9,d} {fc:>22,d} {conv:>22,d}")

# %% [markdown]
# A $200 \times 200$ colour image has 120,000 numbers; one fully connected layer of 1000 units
# on it has 120 million weights, about half a gigabyte in float32, for a single layer. Each of
# those weights must be learned from data, and a model with that many free parameters tends to
# memorise a training set of a few thousand images rather than learn from it. The convolutional
# layer has 1,792 parameters whatever the size of the image. It can afford so few because it
# makes assumptions about images, and the rest of this section says which ones, and where they
# come from.
#
# ### 1.2 What the visual cortex does: Hubel and Wiesel
#
# In the late 1950s and the 1960s David Hubel and Torsten Wiesel recorded the activity of single
# neurons in the primary visual cortex (V1) of anaesthetised cats, while showing the animal bars
# and edges of light on a screen (Nobel prize in 1981). Three findings shaped convolutional
# networks:
#
# * **Receptive fields are local.** A neuron responds only to light in a small region of the
#   visual field, its *receptive field*, and neighbouring neurons have neighbouring receptive
#   fields: the cortex holds a map of the visual field (a *retinotopic* map).
# * **Simple cells** respond to an edge or bar of one orientation at one position; **complex
#   cells** respond to the same orientation anywhere within a larger region, as if they pooled
#   several simple cells with shifted receptive fields.
# * **Hierarchy.** Cells further along respond to more elaborate patterns over larger regions,
#   built from the responses of earlier cells.
#
# Kunihiko Fukushima's **neocognitron** (1980) turned this into a network: layers of "S-cells"
# that detect a local pattern at every position with the same weights, alternating with layers
# of "C-cells" that pool over neighbouring positions, learned with a self-organising rule rather
# than with backpropagation.
# Yann LeCun and colleagues (1989) trained such an architecture end to end with backpropagation
# to read handwritten zip codes; LeNet-5 (LeCun et al., 1998) read cheques in banks; and
# AlexNet (Krizhevsky, Sutskever and Hinton, 2012) showed on ImageNet that a large version,
# trained on GPUs, beat every other approach to image classification by a wide margin.
#
# ### 1.3 Three assumptions: locality, weight sharing, pooling
#
# * **Locality (sparse connectivity).** A unit sees a $K \times K$ neighbourhood of the layer
#   below, not the whole image. Larger structures are seen by stacking layers (section 6).
# * **Weight sharing.** The same $K \times K$ weights are used at every position: a pattern
#   detector that is useful in one place is useful everywhere. Sliding the same weights over
#   the image is exactly a convolution. Its key property is **translation equivariance**: shift
#   the input, and the output shifts by the same amount. With $T$ a shift,
#   $\mathrm{conv}(T x) = T\, \mathrm{conv}(x)$.
# * **Pooling.** Summarising a small neighbourhood by its maximum or mean throws away a little
#   position information, which makes the result approximately **invariant** to small shifts
#   (the output hardly changes), like a complex cell.
#
# Equivariance is exact, and easy to check numerically. Take the camera man, shift him by
# $(7, 12)$ pixels, filter both images with a Sobel kernel, and compare the filtered shifted
# image with the shifted filtered image (away from the border, where the shifted image has no
# data):

# %%
photo = load_photo("camera", gray=True, size=128).astype(np.float64)  # (128, 128) grey levels
dy, dx = 7, 12
shifted = np.zeros_like(photo)
shifted[dy:, dx:] = photo[:-dy, :-dx]                  # the image moved down 7, right 12
sobel = KERNELS["Sobel x"]
feat = conv2d_single(photo, sobel, padding=1)          # (128, 128)
feat_of_shifted = conv2d_single(shifted, sobel, padding=1)
inner = (slice(dy + 1, -1), slice(dx + 1, -1))         # away from the new border
diff = np.abs(feat_of_shifted[inner] - np.roll(feat, (dy, dx), axis=(0, 1))[inner]).max()
print(f"max |conv(shift(x)) - shift(conv(x))| away from the border: {diff:.1e}  "
      f"(feature values up to {np.abs(feat).max():.0f})")

# %% [markdown]
# Zero, up to rounding. Pooling is a different story: its invariance is only approximate. Below,
# the Sobel response is rectified (a ReLU), then max-pooled over windows of growing size, and we
# measure how much the pooled map changes, relative to its size, when the input moves by a pixel
# or two (`np.roll`, which wraps around at the border). Without pooling (window 1) the map is
# compared pixel by pixel, and since edges are thin, a one-pixel shift changes it a lot.

# %%
def relative_change(shift_y, shift_x, pool):
    """||pool(relu(conv(T x))) - pool(relu(conv(x)))|| / ||pool(relu(conv(x)))||."""
    moved = np.roll(photo, (shift_y, shift_x), axis=(0, 1))
    maps = []
    for img in (photo, moved):
        r = torch.relu(torch.from_numpy(conv2d_single(img, sobel, padding=1)))[None, None]
        maps.append(F.max_pool2d(r, pool).numpy() if pool > 1 else r.numpy())
    return np.linalg.norm(maps[1] - maps[0]) / np.linalg.norm(maps[0])


pools = [1, 2, 4, 8, 16, 32]
fig, ax = plt.subplots(figsize=(6.5, 3))
change = {}  # shift -> the relative change for each window
for k, (sy, sx) in enumerate([(0, 1), (1, 1), (0, 2)]):
    changes = change[sy, sx] = [relative_change(sy, sx, p) for p in pools]
    ax.plot(pools, changes, "o-", color=CLASS_COLORS[k], label=f"shift by ({sy}, {sx}) pixels")
    print(f"shift ({sy}, {sx}): relative change " + ", ".join(
        f"{c:.2f} (pool {p})" for p, c in zip(pools, changes, strict=True)))
ax.set_xscale("log", base=2)
ax.set_xticks(pools, [str(p) for p in pools])
ax.set_xlabel("max-pooling window (and stride)")
ax.set_ylabel("relative change of the map")
ax.set_title("pooling makes a feature map less sensitive to small shifts")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
plt.show()
one = change[0, 1]
print(f"shift (0, 1): {one[pools.index(8)] / one[0]:.2f} times the unpooled change after 8x8 "
      "pooling")
print("smallest window that brings the change below 0.3: " + ", ".join(
    f"{shift}: {next((p for p, c in zip(pools, ch, strict=True) if c < 0.3), 'none')}"
    for shift, ch in change.items()))
print(f"smallest change of all: {min(min(ch) for ch in change.values()):.2f}")

# %% [markdown]
# A one-pixel shift changes the unpooled map by almost three quarters of its size, the map after
# $8 \times 8$ max pooling by about a fifth as much, and larger shifts need larger windows (the
# three lines under the plot). The change never reaches zero, because a shift sometimes carries a
# maximum across the border between two pooling windows. Real networks get their robustness to
# shifts from the combination of equivariant convolutions, several pooling stages, and, at the very
# end, a pooling over the whole image. (Section 8 measures how well that works on the digits.)
#
# ## 2. The convolution operation
#
# ### 2.1 Sliding dot products
#
# A convolutional layer with one input channel and one filter $w$ of size $K \times K$ and a bias
# $b$ computes, at every output position $(i, j)$, the dot product of the kernel with the
# $K \times K$ window of the input whose top-left corner is $(i, j)$:
#
# $$ y_{ij} = b + \sum_{u=0}^{K-1} \sum_{v=0}^{K-1} w_{uv}\, x_{i+u,\, j+v}. $$
#
# Mathematicians call this a **cross-correlation**. The true convolution of signal processing
# flips the kernel, $\sum_{u,v} w_{uv}\, x_{i-u,\, j-v}$. Deep-learning libraries compute the
# cross-correlation and call it convolution anyway; since the kernel is learned, it does not matter
# (the network would simply learn the flipped kernel). It does matter when you compare with
# `scipy.signal`, where `correlate2d` is what torch calls `conv2d`, and `convolve2d` flips:

# %%
x_small = rng.integers(0, 10, size=(6, 6)).astype(np.float64)
w_small = rng.normal(size=(3, 3))
y_torch = conv2d_single(x_small, w_small)  # torch.nn.functional.conv2d underneath
print("torch conv2d = scipy correlate2d:      ",
      np.allclose(y_torch, correlate2d(x_small, w_small, mode="valid")))
print("torch conv2d = scipy convolve2d:       ",
      np.allclose(y_torch, convolve2d(x_small, w_small, mode="valid")))
print("torch conv2d = convolve2d, flipped w:  ",
      np.allclose(y_torch, convolve2d(x_small, w_small[::-1, ::-1], mode="valid")))

# %% [markdown]
# ### 2.2 A worked example
#
# A $4 \times 4$ input and a $3 \times 3$ kernel that subtracts the right column from the left
# column (a vertical-edge detector). The window fits in $2 \times 2$ positions, so the output is
# $2 \times 2$. Here is the output at position $(0, 1)$, written out:

# %%
x4 = np.array([[3, 2, 0, 1],
               [1, 4, 3, 1],
               [2, 1, 0, 0],
               [1, 0, 2, 5]], dtype=np.float64)
w3 = np.array([[1, 0, -1],
               [1, 0, -1],
               [1, 0, -1]], dtype=np.float64)
y4 = conv2d_single(x4, w3)  # (2, 2)
i, j = 0, 1
win = window(x4, 3, i, j)   # the 3x3 patch under the kernel
terms = " + ".join(f"{w3[u, v]:g}*{win.patch[u, v]:g}" for u in range(3) for v in range(3))
print(f"y[{i},{j}] = {terms}\n       = {(win.patch * w3).sum():g}")
print("the whole output, torch:\n", y4)

fig, axes = plt.subplots(1, 3, figsize=(8, 2.8), gridspec_kw={"width_ratios": [4, 3, 2]})
show_values(axes[0], x4, "input x (4x4)", vmin=-2, vmax=8)
axes[0].add_patch(Rectangle((j - 0.5, i - 0.5), 3, 3, fill=False, ec=CLASS_COLORS[5], lw=3))
show_values(axes[1], w3, "kernel w (3x3)", vmin=-3, vmax=3)
show_values(axes[2], y4, "output y (2x2)", vmin=-12, vmax=12)
axes[2].add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec=CLASS_COLORS[5], lw=3))
fig.tight_layout()
plt.show()

# %% [markdown]
# Each output number is the left column's sum minus the right column's sum of its window: large
# and positive where the image gets darker from left to right, negative where it gets brighter.
# Try the other three by hand; $y_{00} = (3+1+2) - (0+3+0) = 3$.
#
# ### 2.3 Hand-made kernels on a photograph
#
# Before networks learned their kernels, image processing designed them by hand. A few classics
# (all in `dlcv.convolution.arithmetic.KERNELS`; each one's values are written in the corner of its
# result), applied to the camera man:

# %%
names = ["box blur", "Gaussian blur", "sharpen", "edge (Laplacian)", "Sobel x", "Sobel y",
         "emboss"]
fig, axes = plt.subplots(2, 4, figsize=(12, 6.4))
axes[0, 0].imshow(photo, cmap="gray", vmin=0, vmax=255)
axes[0, 0].set_title("input (128x128)")
for ax, name in zip(axes.ravel()[1:], names, strict=True):
    out = conv2d_single(photo, KERNELS[name])  # (126, 126): no padding, no border effects
    if KERNELS[name].sum() > 0.5:  # keeps the brightness: show as an image
        ax.imshow(out, cmap="gray", vmin=0, vmax=255)
    else:                          # sums to 0: a signed response, red > 0 > blue
        v = np.percentile(np.abs(out), 99.5)
        ax.imshow(out, cmap="RdBu_r", vmin=-v, vmax=v)
    ax.set_title(name)
    inset = ax.inset_axes((0.0, 0.0, 0.3, 0.3))  # the kernel, in the corner
    w_abs = np.abs(KERNELS[name]).max()
    show_values(inset, KERNELS[name], vmin=-2.5 * w_abs, vmax=2.5 * w_abs, fontsize=6,
                fmt="{:.2g}")
for ax in axes.ravel():
    ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# The **blurs** average a neighbourhood (their weights are positive and sum to 1), which removes
# fine detail and noise; the Gaussian weights the centre more. **Sharpen** is the identity plus
# a multiple of the negative Laplacian: it exaggerates the difference between a pixel and its
# neighbours. The **Laplacian** (weights summing to 0) responds to any change of brightness,
# whatever its direction, and is zero on flat regions. **Sobel x** responds to vertical edges,
# with a sign that tells whether the image gets brighter (red) or darker (blue) from left to
# right; **Sobel y** does the same for horizontal edges. **Emboss** is a diagonal edge detector
# plus the image itself, which looks like a relief lit from one side.
#
# A convolutional network learns such kernels from data rather than getting them from an
# engineer: section 8 shows what a small network learns, and you can edit a kernel yourself in
# the widget of section 7.
#
# ### 2.4 Many channels in, many filters out
#
# A colour image has three channels, and a hidden layer has many. A convolutional layer's input is
# a tensor of shape $(N, C, H, W)$: $N$ images in a minibatch, $C$ channels, $H \times W$ pixels.
# Each **filter** spans *all* input channels: it has $C \times K \times K$ weights and one bias,
# and produces one output channel, called a **feature map** or activation map,
#
# $$ y_{f,i,j} = b_f + \sum_{c=0}^{C-1} \sum_{u=0}^{K-1} \sum_{v=0}^{K-1}
#    w_{f,c,u,v}\; x_{c,\, i+u,\, j+v}, $$
#
# a dot product of two vectors of length $C K^2$. A layer has $F$ filters, so its weights form a
# tensor of shape $(F, C, K, K)$, its biases a vector of length $F$, its output a tensor of shape
# $(N, F, H', W')$, and it has $F C K^2 + F$ parameters. The output is a stack of $F$ feature
# maps, which is the input of the next layer, with $F$ channels.
#
# Four hand-made filters on a colour photograph: two edge detectors that apply a Sobel kernel to
# the brightness (a third of the kernel in each of R, G and B), one "red against green and blue"
# filter that only looks at the centre pixel, and a blur of the blue channel alone.

# %%
astro = load_photo("astronaut", size=128).astype(np.float32) / 255  # (128, 128, 3)
x_rgb = torch.from_numpy(astro).permute(2, 0, 1)[None]                # (1, 3, 128, 128)
weights = torch.zeros(4, 3, 3, 3)                                     # (F, C, K, K)
weights[0] = torch.from_numpy(KERNELS["Sobel x"]).float() / 3         # same in R, G and B
weights[1] = torch.from_numpy(KERNELS["Sobel y"]).float() / 3
weights[2, :, 1, 1] = torch.tensor([1.0, -0.5, -0.5])                 # red minus the others
weights[3, 2] = torch.from_numpy(KERNELS["Gaussian blur"]).float()    # blue channel only
bias = torch.zeros(4)                                                 # (F,)
maps = F.conv2d(x_rgb, weights, bias)                                 # (1, 4, 126, 126)
print("input", tuple(x_rgb.shape), "* weights", tuple(weights.shape), "->", tuple(maps.shape))

# one output number is one dot product over C*K*K = 27 numbers
f, i, j = 2, 40, 60
patch = x_rgb[0, :, i:i + 3, j:j + 3]                                # (3, 3, 3)
print(f"y[{f},{i},{j}] by torch: {maps[0, f, i, j]:.5f}   as a 27-term dot product: "
      f"{(patch * weights[f]).sum() + bias[f]:.5f}")

fig, axes = plt.subplots(1, 5, figsize=(13, 2.9))
axes[0].imshow(astro)
axes[0].set_title("input, 3 channels")
titles = ["Sobel x on brightness", "Sobel y on brightness", "red minus green and blue",
          "blur of the blue channel"]
for k, ax in enumerate(axes[1:]):
    m = maps[0, k].numpy()
    v = np.abs(m).max()
    ax.imshow(m, cmap="RdBu_r" if k < 3 else "gray", vmin=-v if k < 3 else 0, vmax=v)
    ax.set_title(f"feature map {k}: {titles[k]}", fontsize=8)
for ax in axes:
    ax.axis("off")
fig.tight_layout()
plt.show()

layer = nn.Conv2d(in_channels=3, out_channels=64, kernel_size=3)
print(f"nn.Conv2d(3, 64, 3): weight {tuple(layer.weight.shape)}, bias {tuple(layer.bias.shape)}, "
      f"{sum(p.numel() for p in layer.parameters()):,d} parameters = 64*3*3*3 + 64")

# %% [markdown]
# The red map lights up on the orange suit and, more weakly, on the skin and the flag's stripes;
# the edge maps pick out the outlines with their direction; and the last map is a blurred blue
# channel. A learned first layer does the same kind of thing with, say, 64 filters, and the
# second layer then combines these 64 maps into more complex patterns, each of its filters
# spanning all 64 channels.
#
# ## 3. Output size: stride, padding, dilation
#
# ### 3.1 The formula
#
# A $K \times K$ window fits into $N - K + 1$ positions along an axis of length $N$. Three
# settings change that:
#
# * **Stride $S$**: the window jumps $S$ pixels between output positions; $S = 2$ halves the
#   output size (a cheap way to down-sample).
# * **Zero padding $P$**: $P$ rows and columns of zeros are added on every side, so the input is
#   effectively $N + 2P$ long. With $S = 1$ and an odd $K$, the choice $P = (K - 1)/2$ keeps the
#   output as large as the input ("same" padding). Without padding the maps shrink by $K - 1$
#   with every layer, and the border pixels take part in fewer windows than the central ones.
# * **Dilation $D$** (atrous convolution, from the French *à trous*, "with holes"): the taps of the
#   kernel are $D$ pixels apart, so a $K \times K$ kernel covers $D(K - 1) + 1$ pixels while keeping
#   its $K^2$ weights.
#
# Putting them together, the output size along an axis is
#
# $$ M = \left\lfloor \frac{N + 2P - D(K - 1) - 1}{S} \right\rfloor + 1, $$
#
# which for $D = 1$ is the familiar $M = \lfloor (N + 2P - K)/S \rfloor + 1$. The floor says that
# if the stride does not divide evenly, the last rows or columns are never visited (torch does
# that silently; some implementations, like the naive layer of assignment a3, insist that the
# division is exact). Here are the windows of two neighbouring outputs for a few settings
# (`dlcv.convolution.arithmetic.draw_windows`; padding is blue):

# %%
settings = [dict(stride=1), dict(stride=2), dict(stride=1, padding=1), dict(stride=1, dilation=2)]
fig, axes = plt.subplots(1, 4, figsize=(13, 3.6))
for ax, kw in zip(axes, settings, strict=True):
    draw_windows(ax, 7, 3, positions=[(0, 0), (0, 1)], **kw)
axes[0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2, fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# With stride 1 the two windows overlap in two columns; with stride 2 they share one; padding
# moves the first window out into the zeros so that the output keeps the input's size; dilation 2
# spreads the nine taps over a $5 \times 5$ area. The formula, checked against the shapes torch
# actually produces, for a few layers you will meet again:

# %%
cases = [  # (description, N, K, S, P, D)
    ("3x3, no padding", 7, 3, 1, 0, 1),
    ("3x3, stride 2", 7, 3, 2, 0, 1),
    ("3x3, stride 3: does not divide", 7, 3, 3, 0, 1),
    ("3x3 'same'", 32, 3, 1, 1, 1),
    ("5x5 'same'", 32, 5, 1, 2, 1),
    ("AlexNet conv1: 11x11, stride 4", 227, 11, 4, 0, 1),
    ("ResNet stem: 7x7, stride 2", 224, 7, 2, 3, 1),
    ("3x3, dilation 2", 64, 3, 1, 0, 2),
    ("3x3, dilation 2, 'same'", 64, 3, 1, 2, 2),
    ("widget: 3x3, S 2, P 1, D 2", 64, 3, 2, 1, 2),
]
print(f"{'layer':34s} {'formula':52s} torch")
for name, N_, K_, S_, P_, D_ in cases:
    m_torch = F.conv2d(torch.zeros(1, 1, N_, N_), torch.zeros(1, 1, K_, K_), stride=S_,
                       padding=P_, dilation=D_).shape[-1]
    print(f"{name:34s} {output_size_formula(N_, K_, S_, P_, D_):52s} {m_torch}")
    assert output_size(N_, K_, S_, P_, D_) == m_torch

# %% [markdown]
# Two rules of thumb come out of the table. For "same" padding with dilation, $P = D(K-1)/2$.
# And a kernel that does not fit at all (effective size larger than $N + 2P$) is an error, not
# an empty output: `output_size(3, 5)` raises one that says so.
#
# ### 3.2 $1 \times 1$ convolutions
#
# A $1 \times 1$ convolution looks like it does nothing, but with many channels it is a fully
# connected layer applied at every pixel: $y_{f,i,j} = b_f + \sum_c w_{f,c}\, x_{c,i,j}$. It mixes
# channels without looking at neighbours, so it can change the depth of a stack of feature maps
# cheaply (Lin, Chen and Yan's "network in network", 2014; GoogLeNet and ResNet use it to
# shrink the depth before an expensive $3 \times 3$ layer and to expand it afterwards).

# %%
x_deep = torch.randn(1, 256, 28, 28)                    # (N, C, H, W)
conv1x1 = nn.Conv2d(256, 64, kernel_size=1)
y_conv = conv1x1(x_deep)                                # (1, 64, 28, 28)
Wmat = conv1x1.weight[:, :, 0, 0]                       # (64, 256)
y_matmul = torch.einsum("fc,nchw->nfhw", Wmat, x_deep) + conv1x1.bias[None, :, None, None]
print("1x1 convolution == the same matrix at every pixel:",
      torch.allclose(y_conv, y_matmul, atol=1e-5))

# %% [markdown]
# The saving of a **bottleneck**: on a $28 \times 28 \times 256$ input, a $3 \times 3$ layer with
# 256 filters, against a $1 \times 1$ reduction to 64 channels, a $3 \times 3$ layer at 64
# channels and a $1 \times 1$ expansion back to 256. A multiply-add is counted for every weight
# at every output pixel ($K^2 C F \cdot H'W'$); the times are measured on this machine.

# %%
direct = nn.Conv2d(256, 256, 3, padding=1)
bottleneck = nn.Sequential(nn.Conv2d(256, 64, 1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1),
                           nn.ReLU(), nn.Conv2d(64, 256, 1))


def macs(model, hw=28 * 28):
    """Multiply-adds of the convolutions of `model` on an input whose maps keep size hw."""
    return sum(m.weight.numel() * hw for m in model.modules() if isinstance(m, nn.Conv2d))


cost = {}  # model -> (parameters, multiply-adds, seconds)
with torch.no_grad():
    for name, model in [("3x3 conv, 256 -> 256", direct), ("bottleneck 256 -> 64 -> 256",
                                                            bottleneck)]:
        secs, _ = time_call(model, x_deep, repeats=3)
        cost[name] = np.array([sum(p.numel() for p in model.parameters()), macs(model), secs])
        print(f"{name:28s}: {cost[name][0]:>8,.0f} parameters, "
              f"{cost[name][1] / 1e6:6.0f} M multiply-adds, {1e3 * secs:5.1f} ms")
ratio = cost["3x3 conv, 256 -> 256"] / cost["bottleneck 256 -> 64 -> 256"]
print(f"the bottleneck has {ratio[0]:.1f} times fewer parameters, {ratio[1]:.1f} times fewer "
      f"multiply-adds, and runs {ratio[2]:.1f} times faster here")

# %% [markdown]
# About $590{,}080 / 70{,}016 \approx 8.4$ times fewer parameters and multiply-adds, and much less
# time (the last line gives the measured factor). The
# bottleneck is not the same function (it must squeeze the information through 64 channels), but
# in practice deep networks built from bottlenecks are both cheaper and better than shallow wide
# ones (lecture 07).
#
# ## 4. Pooling
#
# A **pooling layer** down-samples each feature map on its own. Max pooling with a $2 \times 2$
# window and stride 2, the most common choice, keeps the largest of every four values:
#
# $$ y_{c,i,j} = \max_{0 \le u, v < 2} x_{c,\, 2i + u,\, 2j + v}. $$
#
# Average pooling takes the mean instead. Pooling has **no parameters**, works on every channel
# separately (the depth is unchanged), and uses the same output-size formula as a convolution,
# usually without padding. A $2 \times 2$ pooling with stride 2 keeps a quarter of the values.
#
# Its gradient follows from lecture 04's gates. The maximum is a *router*: the upstream gradient
# of each output goes entirely to the input that was the maximum (the "argmax", remembered from
# the forward pass), and every other input of the window gets 0. The average distributes the
# upstream gradient evenly, $1/4$ to each of the four inputs. torch's autograd on a $4 \times 4$
# example:

# %%
x_pool = torch.tensor([[1., 3., 2., 0.],
                       [4., 2., 1., 5.],
                       [0., 1., 6., 2.],
                       [2., 7., 3., 1.]], requires_grad=True)
upstream = torch.tensor([[10., 20.], [30., 40.]])       # dL/dy, (2, 2)
for name, pool in [("max", F.max_pool2d), ("average", F.avg_pool2d)]:
    y_pool = pool(x_pool[None, None], kernel_size=2, stride=2)[0, 0]  # (2, 2)
    x_pool.grad = None
    (y_pool * upstream).sum().backward()                # so that dL/dy = upstream
    print(f"{name} pooling: y =\n{y_pool.detach().numpy()}\ndL/dx =\n{x_pool.grad.numpy()}\n")

# %% [markdown]
# In the max case the gradient 10 of the top-left output lands on the 4 at position $(1, 0)$,
# the maximum of its window; the 20 lands on the 5, the 30 on the 7 and the 40 on the 6, and the
# other twelve inputs receive zero. (If two inputs tie for the maximum, an implementation picks
# one of them; torch takes the first it finds.)
#
# Pooling is not the only way to down-sample: a convolution with stride 2 does it too, with
# learned weights. Springenberg et al. (2015) replaced every pooling layer by a strided
# convolution without losing accuracy, and many modern networks pool only once, at the very end,
# by averaging each feature map over the whole image (*global average pooling*, lecture 07).
#
# ## 5. The backward pass of a convolution
#
# To train a convolutional layer with backpropagation we need, given the upstream gradient
# $g = \partial L / \partial y$ (same shape as $y$), the gradients with respect to the weights,
# the bias and the input. Take one channel, one filter, stride 1 and no padding:
# $y_{ij} = b + \sum_{u,v} w_{uv}\, x_{i+u,\, j+v}$, with $x$ of size $N \times N$, $w$ of size
# $K \times K$ and $y, g$ of size $M \times M$, $M = N - K + 1$.
#
# **Weights.** Each weight $w_{uv}$ is used at every output position, so its gradient sums over
# all of them (lecture 04: a variable used several times accumulates its gradients):
#
# $$ \frac{\partial L}{\partial w_{uv}}
#    = \sum_{i,j} g_{ij}\, \frac{\partial y_{ij}}{\partial w_{uv}}
#    = \sum_{i,j} g_{ij}\; x_{i+u,\, j+v}. $$
#
# That is the (valid) cross-correlation of the input with the upstream gradient, a $K \times K$
# result: **the weight gradient is the input correlated with $g$**. The bias gradient is
# $\sum_{ij} g_{ij}$.
#
# **Input.** The pixel $x_{pq}$ takes part in every output $y_{ij}$ whose window covers it, that
# is with $p = i + u$, $q = j + v$, and there it is multiplied by $w_{p-i,\, q-j}$:
#
# $$ \frac{\partial L}{\partial x_{pq}} = \sum_{i,j} g_{ij}\; w_{p-i,\, q-j}, $$
#
# where terms with $w$ indices outside $0..K-1$ are zero. This is a true convolution (the index
# of $w$ runs against that of $g$) of $g$ with $w$, in "full" mode: $g$ is padded with $K - 1$
# zeros on each side so that the result has the input's size $N = M + K - 1$. Equivalently:
# **the input gradient is the zero-padded upstream gradient cross-correlated with the kernel
# rotated by 180°**. Both formulas, computed with `scipy.signal`, against torch's autograd:

# %%
N_, K_ = 7, 3
x_b = torch.randn(1, 1, N_, N_, dtype=torch.float64, requires_grad=True)
w_b = torch.randn(1, 1, K_, K_, dtype=torch.float64, requires_grad=True)
b_b = torch.randn(1, dtype=torch.float64, requires_grad=True)
y_b = F.conv2d(x_b, w_b, b_b)                               # (1, 1, 5, 5)
g = torch.randn_like(y_b)                                   # an upstream gradient dL/dy
(y_b * g).sum().backward()                                  # autograd: dL/dx, dL/dw, dL/db

xn, wn, gn = x_b.detach()[0, 0].numpy(), w_b.detach()[0, 0].numpy(), g[0, 0].numpy()
dw_formula = correlate2d(xn, gn, mode="valid")              # (3, 3): input correlated with g
dx_formula = convolve2d(gn, wn, mode="full")                # (7, 7): full convolution of g with w
dx_flipped = correlate2d(np.pad(gn, K_ - 1), wn[::-1, ::-1], mode="valid")  # the same, as above
print(f"shapes: x {xn.shape}, w {wn.shape}, g {gn.shape} -> dw {dw_formula.shape}, "
      f"dx {dx_formula.shape}")
print("max |dw formula - autograd| =", np.abs(dw_formula - w_b.grad[0, 0].numpy()).max())
print("max |dx formula - autograd| =", np.abs(dx_formula - x_b.grad[0, 0].numpy()).max())
print("max |padded g * rotated w - full convolution| =", np.abs(dx_flipped - dx_formula).max())
print(f"db: sum of g = {gn.sum():.6f}, autograd {b_b.grad.item():.6f}")

# %% [markdown]
# All agree to the last digit. With the upstream gradient set to all ones, the input gradient
# counts, for each pixel, the windows that contain it, weighted by the kernel; with an all-ones
# kernel it is just the count, from 1 in the corners to $K^2 = 9$ in the middle. Border pixels
# have less say in the output, one reason for padding:

# %%
print(convolve2d(np.ones((5, 5)), np.ones((3, 3)), mode="full").astype(int))

# %% [markdown]
# **Many channels.** With $x$ of shape $(C, N, N)$, $w$ of shape $(F, C, K, K)$ and $g$ of shape
# $(F, M, M)$ the same reasoning gives, for every filter $f$ and channel $c$,
#
# $$ \frac{\partial L}{\partial w_{f,c}} = x_c \star g_f, \qquad
#    \frac{\partial L}{\partial x_c} = \sum_f g_f * w_{f,c} \ \text{(full)}, \qquad
#    \frac{\partial L}{\partial b_f} = \sum_{ij} g_{f,ij}, $$
#
# with $\star$ the valid cross-correlation and $*$ the full convolution: every input channel
# collects gradient from every filter. And with **stride** $S > 1$, the output skips positions;
# the gradient formulas still hold if we first spread $g$ out by inserting $S - 1$ zeros between
# its entries (the gradient of a strided convolution is a convolution with a *dilated* upstream
# gradient, which is why a strided convolution's backward pass is the forward pass of a
# "transposed convolution", lecture 11). Both checked against autograd, with a batch of one:

# %%
C_, F_, S_ = 3, 4, 2
x_m = torch.randn(1, C_, 9, 9, dtype=torch.float64, requires_grad=True)
w_m = torch.randn(F_, C_, 3, 3, dtype=torch.float64, requires_grad=True)
for stride in (1, S_):
    x_m.grad = w_m.grad = None
    y_m = F.conv2d(x_m, w_m, stride=stride)                  # (1, F, M, M)
    g_m = torch.randn_like(y_m)
    (y_m * g_m).sum().backward()
    xs, ws, gs = x_m.detach()[0].numpy(), w_m.detach().numpy(), g_m[0].numpy()
    M_ = gs.shape[-1]
    g_up = np.zeros((F_, stride * (M_ - 1) + 1, stride * (M_ - 1) + 1))
    g_up[:, ::stride, ::stride] = gs                          # zeros inserted between entries
    dw = np.array([[correlate2d(xs[c], g_up[f], mode="valid")[:3, :3] for c in range(C_)]
                   for f in range(F_)])                       # (F, C, 3, 3)
    dx = np.zeros_like(xs)                                    # (C, 9, 9)
    for c in range(C_):
        full = sum(convolve2d(g_up[f], ws[f, c], mode="full") for f in range(F_))
        dx[c, :full.shape[0], :full.shape[1]] = full          # unvisited last rows get 0
    print(f"stride {stride}: y {tuple(y_m.shape)}, "
          f"max error dw {np.abs(dw - w_m.grad.numpy()).max():.1e}, "
          f"dx {np.abs(dx - x_m.grad[0].numpy()).max():.1e}")

# %% [markdown]
# This derivation is what you turn into code in assignment a3 (`conv_backward_naive`), with loops
# over examples, filters and positions, checked there by a numeric gradient. The lesson to take
# away: **the backward pass of a convolution is again a convolution** (of the input with the
# upstream gradient for the weights, of the upstream gradient with the flipped kernel for the
# input), so the same fast convolution routines serve the forward and the backward pass.
#
# ## 6. Receptive fields
#
# The **receptive field** of a unit is the region of the input image that can influence it. A
# first-layer unit of a $3 \times 3$ convolution sees $3 \times 3$ pixels. A second-layer unit
# sees a $3 \times 3$ window of first-layer units, each of which sees $3 \times 3$ pixels,
# shifted by one: $5 \times 5$ pixels. Every further $3 \times 3$ layer adds 2. A stride or a
# pooling layer spreads the units of the next layer further apart in the image, so that every
# later layer adds more. Let $r_l$ be the receptive-field size after layer $l$ and $j_l$ the
# *jump*, the distance in input pixels between two neighbouring units of layer $l$. With kernel
# size $K_l$ (effective size $D_l(K_l - 1) + 1$ with dilation) and stride $S_l$:
#
# $$ r_l = r_{l-1} + (K_l - 1)\, j_{l-1}, \qquad j_l = j_{l-1}\, S_l, \qquad r_0 = j_0 = 1. $$
#
# `dlcv.convolution.arithmetic.receptive_field_table` applies it, to tuples (kernel, stride, padding,
# dilation) or to torch layers. For a small VGG-style stack:

# %%
stack = [("conv 3x3", (3, 1, 1)), ("conv 3x3", (3, 1, 1)), ("max-pool 2x2", (2, 2)),
         ("conv 3x3", (3, 1, 1)), ("conv 3x3", (3, 1, 1)), ("max-pool 2x2", (2, 2)),
         ("conv 3x3", (3, 1, 1)), ("conv 3x3", (3, 1, 1)), ("conv 3x3", (3, 1, 1))]
table = receptive_field_table([spec for _, spec in stack])
print(f"{'layer':14s} {'r':>4s} {'jump':>5s}")
for (name, _), rf in zip([("input", None)] + stack, table, strict=True):
    print(f"{name:14s} {rf.size:4d} {rf.jump:5d}")

# %% [markdown]
# Growth is linear in depth, with a slope that doubles after every pooling. Dilated convolutions
# grow the receptive field much faster: with dilations $1, 2, 4, 8, \dots$ the size doubles with
# every layer (Yu and Koltun, 2016), without any down-sampling, which is why they are popular in
# segmentation (lecture 11), where the output must keep the input's resolution.

# %%
depth = np.arange(1, 11)
designs = {
    "3x3 convs, stride 1": [(3, 1)] * 10,
    "3x3 convs, 2x2 pool after every 2": [(3, 1), (3, 1), (2, 2)] * 5,
    "3x3 convs, dilation 1, 2, 4, 8, ...": [(3, 1, 0, 2 ** k) for k in range(10)],
}
fig, ax = plt.subplots(figsize=(7, 3.4))
for k, (name, layers) in enumerate(designs.items()):
    convs = [rf for spec, rf in zip(layers, receptive_field_table(layers)[1:], strict=True)
             if spec[0] == 3]                              # the value after each 3x3 conv
    ax.semilogy(depth, [rf.size for rf in convs[:10]], "o-", color=CLASS_COLORS[k], label=name)
ax.set_xlabel("number of 3x3 convolution layers")
ax.set_ylabel("receptive field (pixels, log)")
ax.set_title("how the receptive field grows with depth")
ax.legend(fontsize=8)
ax.grid(alpha=0.3, which="both")
plt.show()

# %% [markdown]
# The recurrence gives the *theoretical* receptive field, the pixels that can influence a unit
# at all. Not all of them influence it equally. Autograd tells exactly how much: the gradient of
# one unit in the centre of the last layer with respect to the input image. For a stack of eight
# $3 \times 3$ convolutions the theoretical field is $17 \times 17$; with all weights equal, the
# number of paths from a pixel to the unit is largest in the centre and falls off towards the
# border like a binomial, nearly a Gaussian; with random weights and ReLUs, averaged over 20
# random networks, the picture is noisier and somewhat wider, but still concentrated in the
# centre (the first line under the figure: the central $7 \times 7$ pixels, a sixth of the
# field, carry more than half of the gradient). Luo et al. (2016) call this the **effective
# receptive field**, show that it is Gaussian-like, and that it grows only like the square root
# of the depth (the second line: the spread of the equal-weight profile is $\sqrt{2L/3}$ pixels
# for $L$ layers): a small part of the theoretical field does most of the work.

# %%
def center_gradient(num_layers, random_weights, size=33, seed=0):
    """|d unit / d input| (size, size) for the centre unit of num_layers 3x3 convolutions with
    padding 1 and 8 channels: equal weights, or random He-scaled weights with ReLUs."""
    g_ = torch.Generator().manual_seed(seed)
    x = torch.ones(1, 1, size, size, requires_grad=True)
    h = x
    for layer_index in range(num_layers):
        c_in = 1 if layer_index == 0 else 8
        if random_weights:
            w = torch.randn(8, c_in, 3, 3, generator=g_) * (2 / (9 * c_in)) ** 0.5  # He init
            h = torch.relu(F.conv2d(h, w, padding=1) + 0.1)
        else:
            h = F.conv2d(h, torch.ones(8, c_in, 3, 3) / (9 * c_in), padding=1)
    h[0, 0, size // 2, size // 2].backward()
    return x.grad[0, 0].abs().numpy()


L_ = 8
r_theory = receptive_field([(3, 1, 1)] * L_).size
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
inner_share = {}  # the share of |gradient| in the central 7x7 pixels
for ax, random_weights in zip(axes[:2], [False, True], strict=True):
    draws = 20 if random_weights else 1  # random networks: the mean over 20 draws
    grad = np.mean([center_gradient(L_, random_weights, seed=s) for s in range(draws)], axis=0)
    inner_share[random_weights] = grad[13:20, 13:20].sum() / grad.sum()
    ax.imshow(grad / grad.max(), cmap="magma")
    c = 33 // 2
    ax.add_patch(Rectangle((c - r_theory / 2, c - r_theory / 2), r_theory, r_theory, fill=False,
                           ec="w", ls="--", lw=1.2))
    kind = "random weights + ReLU (20 draws)" if random_weights else "equal weights"
    ax.set_title(f"{L_} layers, {kind}\n|gradient|, dashed: theoretical field "
                 f"{r_theory}x{r_theory}", fontsize=9)
    ax.axis("off")
spread = {}  # the standard deviation of the profile, in pixels
for k, layers_ in enumerate([2, 4, 8, 12]):
    grad = center_gradient(layers_, False, size=41)
    offsets = np.arange(41) - 20
    spread[layers_] = np.sqrt(np.sum(offsets ** 2 * grad[20]) / np.sum(grad[20]))
    axes[2].plot(offsets, grad[20] / grad[20].max(), color=CLASS_COLORS[k],
                 label=f"{layers_} layers: theoretical {2 * layers_ + 1}")
axes[2].set_xlabel("pixel offset from the centre")
axes[2].set_ylabel("|gradient| (scaled)")
axes[2].set_title("profile through the centre, equal weights", fontsize=9)
axes[2].legend(fontsize=7, loc="upper left")
fig.tight_layout()
plt.show()
print(f"share of |gradient| in the central 7x7 of the {r_theory}x{r_theory} field: equal weights "
      f"{inner_share[False]:.0%}, random weights {inner_share[True]:.0%} (7x7 is "
      f"{49 / r_theory ** 2:.0%} of the field's pixels)")
print("spread (standard deviation) of the equal-weight profile: " + ", ".join(
    f"{n} layers {sd:.2f}" for n, sd in spread.items())
    + "; sqrt(2 L / 3): " + ", ".join(f"{np.sqrt(2 * n / 3):.2f}" for n in spread))

# %% [markdown]
# **Why stacks of $3 \times 3$?** Three $3 \times 3$ layers have the receptive field of one
# $7 \times 7$ layer, but with $C$ channels in and out they need $3 \cdot 9 C^2 = 27 C^2$ weights
# instead of $49 C^2$, and they put three non-linearities instead of one between input and
# output, so they can represent more complicated functions. This is the design rule of VGGNet
# (Simonyan and Zisserman, 2015) and of most networks since; lecture 07 follows it through the
# architectures from AlexNet to ResNet.
#
# ## 7. Play with it: a kernel sliding over a photograph
#
# The widget below shows one $3 \times 3$ kernel at work on a $64 \times 64$ grey photograph.
# Left: the input (with its zero padding in blue when $P > 0$) and, in orange, the nine taps of
# the current window. Middle: the nine input values under the taps and the kernel; their dot
# product is the output value. Right: the output map, with the current position marked. Below:
# the output-size formula with your numbers, and the dot product written out term by term.
# Change the photo, the kernel (or type your own values into the nine cells), the stride, the
# padding and the dilation; step through the positions with the slider or the buttons. It starts
# at the strongest response of the Sobel kernel on the camera man.
#
# Things to try:
#
# 1. **An edge, by hand.** With *Sobel x* on the camera man, read the nine products below the
#    figure: the left column of the window is dark, the right bright (or the reverse), and the
#    sum is large. Drag the position slider onto the flat sky or the grass: the products
#    cancel.
# 2. **Stride.** Set the **stride** to 2: the output becomes $31 \times 31$ and the formula shows
#    why; stepping once now moves the window by two pixels. Try stride 3: does
#    $(64 - 3)/3$ divide evenly? Which pixels are never visited?
# 3. **Keep the size.** With stride 1, which **padding** gives a $64 \times 64$ output? Move to
#    position 0: five of the nine taps read zeros from the padding (three, along an edge). Now
#    blur the image (Gaussian) with padding 1: the border of the output gets darker. Why?
# 4. **Dilation.** Set **dilation** to 2: the nine taps spread over a $5 \times 5$ area (the
#    dashed box), the output shrinks to $60 \times 60$, and the edges in the map get thicker.
#    Which padding keeps $64 \times 64$ now?
# 5. **Your own kernel.** Type into the cells: all zeros except a 1 in the centre is the
#    identity, a 1 in a corner instead shifts the image by a pixel; $[-1, 2, -1]$ in the middle
#    row finds thin vertical lines; the transpose of *Sobel x* is *Sobel y*, and its negative
#    flips the colours of the map.
# 6. **Correlation versus convolution.** Apply *shift right* (a single 1 left of the centre): at
#    every position the output copies the pixel to the left of the window's centre, so the picture
#    moves one pixel to the *right*, although the 1 sits on the left. Explain it with the formula
#    $y_{ij} = \sum_{u,v} w_{uv}\, x_{i+u,\, j+v}$.

# %%
view = ConvolutionExplorer(photo="camera", kernel="Sobel x")
view.position.value = int(np.argmax(np.abs(view.output)))  # start at the strongest edge
view

# %% [markdown]
# ## 8. A small convolutional network on the digits
#
# ### 8.1 Training it
#
# Time to let a network learn its kernels. The architecture is a miniature LeNet: two
# convolutional layers with $3 \times 3$ kernels and "same" padding, each followed by a ReLU and
# a $2 \times 2$ max-pooling, then a linear layer on the $16 \times 2 \times 2$ maps:
#
# $$ 1{\times}8{\times}8 \xrightarrow{\text{conv } 3\times3,\ 8} 8{\times}8{\times}8
#    \xrightarrow{\text{pool}} 8{\times}4{\times}4 \xrightarrow{\text{conv } 3\times3,\ 16}
#    16{\times}4{\times}4 \xrightarrow{\text{pool}} 16{\times}2{\times}2
#    \xrightarrow{\text{linear}} 10. $$
#
# It is trained on the embedded digits with `dlcv.networks.training.fit` (minibatch SGD with momentum, as
# in lecture 05), which accepts images of shape $(N, C, H, W)$ for a model that starts with a
# convolution. For comparison, a fully connected network with one hidden layer of 32 units, with
# a few more parameters, gets the same data flattened and the same training.

# %%
data = load_classification("digits")
mu, sigma = data.X_train.mean(), data.X_train.std()   # one scalar: the same for every pixel


def as_images(X):
    """(N, 8, 8) grey levels -> (N, 1, 8, 8) float32, standardised with the training statistics."""
    return ((X - mu) / sigma)[:, None].astype(np.float32)


X_train, X_val, X_test = (as_images(X) for X in (data.X_train, data.X_val, data.X_test))
y_train, y_val, y_test = data.y_train, data.y_val, data.y_test
print(data)


def small_cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, 8, 4, 4)
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 16, 2, 2)
        nn.Flatten(), nn.Linear(16 * 2 * 2, 10))                     # (N, 10)


def flat(X):
    return X.reshape(len(X), -1)  # (N, 64)


t0 = time.perf_counter()
cnn = small_cnn()
hist_cnn = fit(cnn, X_train, y_train, X_val, y_val, epochs=20, batch_size=32, lr=0.05)
t_cnn = time.perf_counter() - t0
mlp = make_net(64, 10, hidden=32, layers=1, seed=0)
hist_mlp = fit(mlp, flat(X_train), y_train, flat(X_val), y_val, epochs=20, batch_size=32,
               lr=0.05)
test_acc = {}
for name, model, X_eval, h in [("CNN", cnn, X_test, hist_cnn), ("MLP", mlp, flat(X_test),
                                                               hist_mlp)]:
    test_acc[name] = evaluate(model, X_eval, y_test)[1]
    print(f"{name}: {sum(p.numel() for p in model.parameters()):5,d} parameters, "
          f"best validation accuracy {h.val_acc.max():.3f}, test accuracy {test_acc[name]:.3f} "
          f"({round((1 - test_acc[name]) * len(y_test))} of {len(y_test)} test digits wrong)")
print(f"(the CNN trained in {t_cnn:.1f} s)")
rf_conv2 = receptive_field(cnn[:5]).size   # conv1, ReLU, pool, conv2, ReLU
rf_pool2 = receptive_field(cnn[:6]).size   # ... and the second pooling: what the linear layer reads
print(f"receptive field of a conv2 unit: {rf_conv2} x {rf_conv2} pixels; "
      f"of a unit after the second pooling: {rf_pool2} x {rf_pool2} pixels")

# %% [markdown]
# With fewer parameters, the convolutional network makes fewer errors on the test digits than the
# fully connected one (the first two lines). Its last convolutional units (conv2) see a field as
# large as the whole $8 \times 8$ digit, and the units after the second pooling, which the linear
# layer reads, see a little more (the two sizes printed last; the field extends into the zero
# padding).
#
# ### 8.2 What the convolutional assumptions buy
#
# Two experiments test the assumptions of section 1. First, **shifts**: move every test digit by
# one pixel (filling with background) and evaluate both networks, trained on centred digits
# only. Second, **locality**: shuffle the 64 pixels of every image with one fixed permutation,
# and train both networks again on the shuffled images. A fully connected network does not know
# which pixels are neighbours, so the shuffle cannot hurt it (its first layer can learn the
# permuted weights); a convolutional network's kernels assume neighbourhoods that no longer exist.

# %%
def shift_images(X, dy, dx):
    """Move (N, 1, H, W) images by (dy, dx) pixels, filling with the background value."""
    out = np.full_like(X, X.min())
    H, W = X.shape[-2:]
    out[..., max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
        X[..., max(-dy, 0):H + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]
    return out


print(f"{'test digits shifted by':24s} {'CNN':>6s} {'MLP':>6s}")
shifted_acc = []  # (CNN, MLP) for each one-pixel shift
for dy_, dx_ in [(0, 0), (0, 1), (0, -1), (1, 0), (-1, 0)]:
    Xs = shift_images(X_test, dy_, dx_)
    accs = (evaluate(cnn, Xs, y_test)[1], evaluate(mlp, flat(Xs), y_test)[1])
    print(f"{str((dy_, dx_)):24s} {accs[0]:6.3f} {accs[1]:6.3f}")
    if (dy_, dx_) != (0, 0):
        shifted_acc.append(accs)
loss_cnn, loss_mlp = np.array([test_acc["CNN"], test_acc["MLP"]]) - np.mean(shifted_acc, axis=0)
print(f"mean loss of accuracy over the four shifts: CNN {loss_cnn:.3f}, MLP {loss_mlp:.3f}")

perm = np.random.default_rng(0).permutation(64)


def shuffle_pixels(X):
    return flat(X)[:, perm].reshape(X.shape)


cnn_p = small_cnn()
fit(cnn_p, shuffle_pixels(X_train), y_train, epochs=20, batch_size=32, lr=0.05)
mlp_p = make_net(64, 10, hidden=32, layers=1, seed=0)
fit(mlp_p, flat(shuffle_pixels(X_train)), y_train, epochs=20, batch_size=32, lr=0.05)
acc_cnn_p = evaluate(cnn_p, shuffle_pixels(X_test), y_test)[1]
acc_mlp_p = evaluate(mlp_p, flat(shuffle_pixels(X_test)), y_test)[1]
print(f"\npixels shuffled: CNN test accuracy {acc_cnn_p:.3f}, MLP {acc_mlp_p:.3f} "
      f"(unshuffled: {test_acc['CNN']:.3f}, {test_acc['MLP']:.3f}); the CNN's lead: "
      f"{test_acc['CNN'] - test_acc['MLP']:+.3f} before, {acc_cnn_p - acc_mlp_p:+.3f} after")

# %% [markdown]
# A one-pixel shift is a big change for an $8 \times 8$ digit (an eighth of its width), and both
# networks suffer, since neither saw shifted digits in training. But the convolutional network loses
# less (the mean losses printed under the table): its kernels respond to the moved strokes just as
# before (equivariance), and its two pooling stages absorb part of the shift. (Training with shifted
# copies, the data augmentation of lecture 05, is how one closes the rest of the gap.) On shuffled
# pixels the fully connected network does about as well as before, while the convolutional network
# loses its lead (the last line): its advantage comes from the structure of images, not from magic.
# With larger images than these tiny digits, the difference is much larger.
#
# ### 8.3 What the layers learned
#
# The first layer's eight $3 \times 3$ kernels, and what the network computes for one test digit
# at each stage: the eight feature maps after the first convolution and ReLU, the same maps after
# pooling, and the sixteen maps of the second stage.

# %%
k1 = cnn[0].weight.detach()[:, 0].numpy()                # (8, 3, 3) first-layer kernels
digit = torch.from_numpy(X_test[:1])                      # (1, 1, 8, 8)
with torch.no_grad():
    after_conv1 = cnn[:2](digit)[0].numpy()               # (8, 8, 8): conv1 + ReLU
    after_pool1 = cnn[:3](digit)[0].numpy()               # (8, 4, 4)
    after_conv2 = cnn[:5](digit)[0].numpy()               # (16, 4, 4): conv2 + ReLU
    scores = cnn(digit)[0]
print(f"{int(np.sum(after_conv2.max(axis=(1, 2)) == 0))} of the 16 conv2 maps are zero everywhere "
      "for this digit")

fig = plt.figure(figsize=(11, 7.2))
gs = fig.add_gridspec(5, 9, width_ratios=[2.6] + [1] * 8, hspace=0.45, wspace=0.12)
ax = fig.add_subplot(gs[0:2, 0])
ax.imshow(data.X_test[0], cmap="gray_r")
ax.set_title(f"input: a {y_test[0]}, predicted {int(scores.argmax())}", fontsize=9)
ax.axis("off")
rows = [("first-layer kernels (red > 0 > blue)", k1, "RdBu_r"),
        ("their feature maps: conv1 + ReLU (8x8)", after_conv1, "viridis"),
        ("after 2x2 max pooling (4x4)", after_pool1, "viridis"),
        ("conv2 + ReLU: maps 0-7 of 16 (4x4)", after_conv2[:8], "viridis"),
        ("conv2 + ReLU: maps 8-15", after_conv2[8:], "viridis")]
for r, (name, stack_, cmap) in enumerate(rows):
    v = np.abs(stack_).max()
    for k in range(8):
        ax = fig.add_subplot(gs[r, 1 + k])
        ax.imshow(stack_[k], cmap=cmap, vmin=-v if cmap == "RdBu_r" else 0, vmax=v)
        ax.set_xticks([])
        ax.set_yticks([])
        if k == 0:
            ax.set_title(name, loc="left", fontsize=9)
plt.show()

# %% [markdown]
# Each column of the first three rows belongs to one first-layer filter. Some kernels look like
# small oriented edge detectors, a row or column of positive taps next to negative ones; others are
# less tidy, since $3 \times 3$ taps on $8 \times 8$ digits, with the small training set of
# section 8.1, leave little to learn. Each feature map is bright where the digit's strokes match its
# kernel and dark elsewhere: zero where the ReLU cuts off a negative response, and dim on parts of
# the background, which after standardisation is a negative constant rather than zero. Pooling keeps
# the strongest response of each $2 \times 2$ block. The second stage combines all eight pooled maps
# into sixteen that are hard to name: each responds to a combination of stroke pieces in a field the
# size of the whole digit (the conv2 receptive field printed in section 8.1), some are silent for
# this digit (the count is printed above the figure), and the linear layer reads the class off the
# active ones.
#
# Larger networks trained on natural images learn a strikingly consistent first layer: the 96
# kernels of AlexNet's first layer ($11 \times 11 \times 3$, stride 4) are oriented edges and
# gratings at many orientations and frequencies, and blobs of opposing colours, much like the
# simple cells of V1 and the Gabor filters of image processing. Deeper layers are harder to look
# at, since their kernels act on feature maps rather than on pixels. Zeiler and Fergus (2014)
# projected strong activations of deeper units back to pixel space with a "deconvolutional"
# network and found a hierarchy: layer 2 responds to corners and other conjunctions of edges and
# colours, layer 3 to textures and more complex patterns (meshes, text), layer 4 to class-specific
# parts (dog faces, bird legs), layer 5 to whole objects in varied poses. Their visualisations
# also showed problems in AlexNet's first layers, which they fixed with smaller first-layer kernels
# ($7 \times 7$) and a smaller stride (2), a story lecture 07 continues.
#
# ## Check yourself
#
# **1.** The input is $32 \times 32 \times 3$ and the layer has 10 filters of size $5 \times 5$
# with stride 1 and padding 2. What is the output shape, and how many parameters does the layer
# have?
#
# <details><summary>Answer</summary>
#
# $M = (32 + 2 \cdot 2 - 5)/1 + 1 = 32$, so $32 \times 32 \times 10$. Each filter has
# $5 \cdot 5 \cdot 3 = 75$ weights and one bias: $10 \cdot 76 = 760$ parameters.
# </details>
#
# **2.** AlexNet's first layer takes $227 \times 227 \times 3$ images and has 96 filters of size
# $11 \times 11$ with stride 4 and no padding. Output shape, number of parameters, and number of
# multiply-adds for one image?
#
# <details><summary>Answer</summary>
#
# $M = (227 - 11)/4 + 1 = 55$: $55 \times 55 \times 96$. Parameters
# $96 \cdot (11 \cdot 11 \cdot 3 + 1) = 34{,}944$. Multiply-adds
# $55 \cdot 55 \cdot 96 \cdot 363 \approx 105$ million.
# </details>
#
# **3.** Why is "same" padding $P = (K - 1)/2$ only possible for odd $K$ (with stride 1)? What
# padding keeps the size of a $3 \times 3$ convolution with dilation 3?
#
# <details><summary>Answer</summary>
#
# The output size is $N + 2P - K + 1$, which equals $N$ only if $2P = K - 1$, an even number,
# so $K$ must be odd (an even kernel would need different padding on the two sides). With
# dilation the effective size is $D(K - 1) + 1 = 7$, so $P = 3$.
# </details>
#
# **4.** What is the receptive field of a unit after conv $3 \times 3$ → conv $3 \times 3$ →
# max-pool $2 \times 2$ (stride 2) → conv $3 \times 3$, all convolutions with stride 1? And what
# is the distance between two neighbouring units of the last layer, in input pixels?
#
# <details><summary>Answer</summary>
#
# $r$: 3, 5, then $5 + 1 \cdot 1 = 6$ after the pooling (the jump becomes 2), then
# $6 + 2 \cdot 2 = 10$. The jump is 2 pixels.
# </details>
#
# **5.** A max-pooling layer receives the upstream gradient for a $2 \times 2$ output. How many
# entries of the $4 \times 4$ input gradient can be non-zero? What changes for average pooling?
#
# <details><summary>Answer</summary>
#
# At most four, one per window (the position of each window's maximum); all others are exactly
# zero. Average pooling spreads every upstream value evenly, a quarter to each of the four inputs
# of its window, so all sixteen entries are non-zero (if the upstream values are).
# </details>
#
# **6.** A convolution with a $3 \times 3$ kernel, stride 1 and no padding maps a $7 \times 7$
# input to $y$. What are the shapes of $\partial L/\partial y$, $\partial L/\partial w$ and
# $\partial L/\partial x$, and which operation computes each of the last two from the first?
#
# <details><summary>Answer</summary>
#
# $\partial L/\partial y$ is $5 \times 5$. $\partial L/\partial w$ is $3 \times 3$: the valid
# cross-correlation of the $7 \times 7$ input with the $5 \times 5$ upstream gradient.
# $\partial L/\partial x$ is $7 \times 7$: the full convolution of the $5 \times 5$ upstream
# gradient with the kernel, i.e. the upstream gradient padded with two zeros on every side,
# cross-correlated with the kernel rotated by 180°.
# </details>
#
# **7.** Is a convolutional network translation invariant? Discuss convolution, pooling, stride
# and the final layers.
#
# <details><summary>Answer</summary>
#
# A convolution with stride 1 is translation *equivariant* (exactly, away from the borders): the
# output shifts with the input. Pooling adds approximate *invariance* to shifts smaller than its
# window, but a shift that is not a multiple of the stride changes which values share a window,
# so strided layers and pooling break exact equivariance (Zhang, 2019, shows how much this
# aliasing matters). A final fully connected layer on the flattened maps is not invariant at all;
# global average pooling at the end makes the network invariant to shifts of the last maps. In
# practice, invariance is also learned from data (augmentation with shifts and crops).
# </details>
#
# **8.** A layer maps $56 \times 56 \times 64$ to $56 \times 56 \times 256$. Compare a $1 \times 1$
# convolution with a $3 \times 3$ one ("same" padding): parameters and multiply-adds.
#
# <details><summary>Answer</summary>
#
# $1 \times 1$: $64 \cdot 256 + 256 = 16{,}640$ parameters, $56^2 \cdot 64 \cdot 256 \approx 51$
# million multiply-adds. $3 \times 3$: nine times as many weights ($147{,}456 + 256$) and
# multiply-adds ($\approx 462$ million).
# </details>
#
# ## Summary
#
# * Fully connected layers on images need a weight per pixel, channel and unit; convolutional
#   layers need $F C K^2 + F$ parameters whatever the image size, because they assume **locality**
#   and **share weights** across positions. Both ideas, and pooling, come from Hubel and Wiesel's
#   simple and complex cells, via Fukushima's neocognitron and LeCun's networks.
# * A convolution (a cross-correlation, in deep learning) slides a $C \times K \times K$ filter over
#   the input and takes a dot product at every position; $F$ filters give $F$ feature maps. Inputs
#   are $(N, C, H, W)$, weights $(F, C, K, K)$. Convolutions are translation equivariant.
# * Output size $M = \lfloor (N + 2P - D(K-1) - 1)/S \rfloor + 1$. Stride down-samples, zero
#   padding $P = (K-1)/2$ keeps the size, dilation widens the kernel to $D(K-1)+1$ without new
#   weights. $1 \times 1$ convolutions mix channels at every pixel and make cheap bottlenecks.
# * Max and average pooling down-sample each channel without parameters and add approximate
#   shift invariance; max pooling routes its gradient to the argmax, average pooling spreads it.
# * Backward pass: $\partial L/\partial w$ = input correlated with the upstream gradient;
#   $\partial L/\partial x$ = upstream gradient fully convolved with the kernel (padded and
#   correlated with the rotated kernel); with stride, insert zeros into the upstream gradient.
# * Receptive fields grow by $(K-1)\,j$ per layer, with the jump $j$ multiplied by every stride;
#   dilation makes them grow exponentially. The effective receptive field is a Gaussian-like
#   centre of the theoretical one. Stacks of $3 \times 3$ layers see as far as larger kernels, with
#   fewer parameters and more non-linearities.
# * A small CNN learns edge- and stroke-like first-layer kernels and beats a fully connected
#   network with more parameters on the digits, handles shifts better, and loses its advantage
#   when the pixels are shuffled.
#
# ## Papers and further reading
#
# * D. H. Hubel, T. N. Wiesel (1959). Receptive fields of single neurones in the cat's striate
#   cortex. *Journal of Physiology* 148(3), 574–591.
# * D. H. Hubel, T. N. Wiesel (1962). Receptive fields, binocular interaction and functional
#   architecture in the cat's visual cortex. *Journal of Physiology* 160(1), 106–154. Simple and
#   complex cells.
# * K. Fukushima (1980). Neocognitron: a self-organizing neural network model for a mechanism of
#   pattern recognition unaffected by shift in position. *Biological Cybernetics* 36(4), 193–202.
# * Y. LeCun, B. Boser, J. S. Denker, D. Henderson, R. E. Howard, W. Hubbard, L. D. Jackel
#   (1989). Backpropagation applied to handwritten zip code recognition. *Neural Computation*
#   1(4), 541–551.
# * Y. LeCun, L. Bottou, Y. Bengio, P. Haffner (1998). Gradient-based learning applied to document
#   recognition. *Proceedings of the IEEE* 86(11), 2278–2324. LeNet-5.
# * A. Krizhevsky, I. Sutskever, G. E. Hinton (2012). ImageNet classification with deep
#   convolutional neural networks. *NeurIPS 2012*. AlexNet.
# * M. D. Zeiler, R. Fergus (2014). Visualizing and understanding convolutional networks.
#   *ECCV 2014*.
# * M. Lin, Q. Chen, S. Yan (2014). Network in network. *ICLR 2014*. $1 \times 1$ convolutions
#   and global average pooling.
# * K. Simonyan, A. Zisserman (2015). Very deep convolutional networks for large-scale image
#   recognition. *ICLR 2015*. VGGNet: stacks of $3 \times 3$ convolutions.
# * J. T. Springenberg, A. Dosovitskiy, T. Brox, M. Riedmiller (2015). Striving for simplicity:
#   the all convolutional net. *ICLR 2015 workshop*. Strided convolutions instead of pooling.
# * F. Yu, V. Koltun (2016). Multi-scale context aggregation by dilated convolutions. *ICLR 2016*.
# * V. Dumoulin, F. Visin (2016). A guide to convolution arithmetic for deep learning.
#   arXiv:1603.07285. Output sizes, padding, strides, dilation and transposed convolutions, with
#   pictures.
# * W. Luo, Y. Li, R. Urtasun, R. Zemel (2016). Understanding the effective receptive field in
#   deep convolutional neural networks. *NeurIPS 2016*.
# * R. Zhang (2019). Making convolutional networks shift-invariant again. *ICML 2019*.
# * I. Goodfellow, Y. Bengio, A. Courville (2016). *Deep Learning*, MIT Press. Chapter 9,
#   convolutional networks.
# * Stanford CS231n course notes, *Convolutional neural networks: architectures, convolution /
#   pooling layers*, https://cs231n.github.io/convolutional-networks/ .

# %%
print(f"notebook ran in {time.perf_counter() - t_start:.1f} s")
