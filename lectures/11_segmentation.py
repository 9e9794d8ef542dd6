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
# # Lecture 11 — Segmentation
#
# A classifier gives an image one label; a detector (lecture 09) gives each object a box. Neither
# says which *pixels* belong to the cat, the road or the tumour. **Segmentation** does: it labels
# every pixel. That is what a self-driving car needs to know where the drivable road ends, what a
# radiologist needs to measure the volume of a lesion, and what a photo editor needs to cut a
# person out of a picture. The output is now as large as the input, and that changes how the
# network must be built. It has to see a wide context (is this grey patch road or wall?) and
# still answer at full resolution. This chapter builds such networks step by step: from the
# naive sliding window to fully convolutional encoder-decoders, with the layers that make the
# way back up to full resolution (unpooling and the transposed convolution), then a small
# segmentation network trained here on the shapes scenes, and finally instance segmentation
# with Mask R-CNN.
#
# **After this lecture you can**
#
# 1. tell semantic, instance and panoptic segmentation apart, and "things" from "stuff";
# 2. explain why classifying a patch around every pixel wastes computation, count the waste,
#    and show that a fully convolutional network computes the same answers at once;
# 3. explain why segmentation networks go down in resolution and back up, and what skip
#    connections (FCN, U-Net) and dilated convolutions (DeepLab) add;
# 4. upsample by nearest neighbour, bed of nails and max unpooling, by hand on a small example;
# 5. compute the output size of a transposed convolution, write it as the transpose of a
#    convolution's matrix, and predict when it leaves checkerboard artefacts;
# 6. train an encoder-decoder with the per-pixel cross-entropy and score it with per-class IoU,
#    mean IoU and a pixel confusion matrix;
# 7. describe Mask R-CNN's mask head (per-class $28 \times 28$ masks, a sigmoid per class, masks
#    pasted back into their boxes) and its keypoint variant for human pose.
#
# **Plan.** The three tasks → sliding windows → fully convolutional networks, down and up →
# unpooling → transposed convolution (arithmetic, matrix view, checkerboard, a widget) → training
# an encoder-decoder on the shapes scenes → instance segmentation with Mask R-CNN → questions,
# summary, papers.
#
# The machinery lives in `dlcv.segmentation`: `models` (the networks, their training loop),
# `upsampling` (unpooling, the convolution matrices), `scoring` (the IoU scores) and `masks`
# (mask pasting); cells show the ideas in a few lines each.

# %%
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch, Rectangle
from scipy import ndimage
from skimage.segmentation import find_boundaries, mark_boundaries, slic
from torch import nn

from dlcv.convolution.arithmetic import receptive_field
from dlcv.data import load_photo
from dlcv.plots import CLASS_COLORS, show_values
from dlcv.segmentation import masks as mrcnn
from dlcv.segmentation import models as seg
from dlcv.segmentation import scoring, upsampling
from dlcv.segmentation.widgets import TransposedConvView
from dlcv.shapes import CLASSES, make_scenes, show_scene
from dlcv.timing import cap_threads, time_call

plt.rcParams.update({"figure.figsize": (9, 3.2), "figure.dpi": 90, "font.size": 10})
np.set_printoptions(precision=3, suppress=True, linewidth=110)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine
rng = np.random.default_rng(0)
_ = torch.manual_seed(0)
t_start = time.perf_counter()
NAMES = ("background",) + CLASSES  # the four classes of the semantic maps
CMAP = seg.semantic_cmap(4)        # grey background, then the course's colours for the shapes
INST_CMAP = ListedColormap([seg.BACKGROUND_COLOR] + list(plt.cm.tab10.colors[1:]))  # id 0: grey

# %% [markdown]
# ## 1. Three segmentation tasks
#
# Classical computer vision used "segmentation" for cutting an image into coherent regions
# (similar colour, similar texture) without saying what the regions are. Deep learning uses three
# stricter tasks, which differ in what each pixel is labelled with.
#
# * **Semantic segmentation** gives every pixel a class: *road*, *car*, *person*, *sky*. Two
#   touching cars become one blob of car pixels; the task does not count objects. Also called
#   scene parsing or scene labelling.
# * **Instance segmentation** finds every object and its exact mask: *car 1*, *car 2*. It is
#   detection with a mask instead of a box, and it ignores pixels that belong to no object.
# * **Panoptic segmentation** (Kirillov et al., 2019) joins the two: every pixel gets a class,
#   and the pixels of countable objects also get an instance number.
#
# The split follows an old distinction between **things** and **stuff**. Things are countable
# objects with a shape (people, cars, cups); stuff is amorphous and uncountable (sky, road,
# grass, water). Instance identities only make sense for things. In our shapes scenes the
# circles, squares and triangles are things and the textured background is stuff.
#
# `ShapesScenes` carries everything we need: `semantic` holds the class of every pixel
# (0 for background, $1 + $ class index on the shapes), and `instance_map(i)` numbers the objects
# of scene $i$.

# %%
demo = make_scenes(24, seed=7)
# a scene where one class appears twice, so that semantic and instance maps differ
i_demo = next(i for i in range(len(demo)) if len(demo.labels[i]) >= 3
              and len(set(demo.labels[i].tolist())) >= 2 and np.bincount(demo.labels[i]).max() >= 2)
img, sem, inst = demo.images[i_demo], demo.semantic[i_demo], demo.instance_map(i_demo)
print("\n".join(demo.describe(i_demo)))
print("semantic classes present:", [NAMES[c] for c in np.unique(sem)])
print("instance ids present:    ", np.unique(inst).tolist())

# panoptic: stuff keeps its class colour; each thing gets its own shade of its class colour
pan = seg.label_image(sem)
for k in range(1, inst.max() + 1):
    pan[inst == k] *= 0.55 + 0.45 * (k % 2)  # alternate dark/light shades per instance
pan[find_boundaries(inst, mode="inner") & (inst > 0)] = 0.0  # outline each instance

fig, axes = plt.subplots(1, 4, figsize=(12, 3.4))
show_scene(axes[0], img, demo.boxes[i_demo], demo.labels[i_demo], title="image (with boxes)")
axes[1].imshow(sem, cmap=CMAP, vmin=-0.5, vmax=3.5, interpolation="nearest")
axes[1].set_title("semantic: a class per pixel")
axes[2].imshow(inst, cmap=INST_CMAP, vmin=-0.5, vmax=9.5, interpolation="nearest")
axes[2].set_title("instance: one id per object")
axes[3].imshow(pan, interpolation="nearest")
axes[3].set_title("panoptic: class + id")
for ax in axes[1:]:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()

# %% [markdown]
# In the semantic map the two objects of the same class share one colour; where they touch,
# nothing says where one ends and the other begins. The instance map tells them apart but says
# nothing about the background. The panoptic map does both: the background is labelled as
# stuff, and every shape keeps its class *and* its identity (here shown by a darker or lighter
# shade and an outline).
#
# For contrast, the classical, label-free kind of segmentation: SLIC superpixels (Achanta et
# al., 2012) group pixels into compact regions of similar colour by k-means clustering in colour
# and position. Superpixels follow edges well, but a region is only "similar pixels", not "cup".

# %%
photo = load_photo("coffee", size=240)
regions = slic(photo, n_segments=150, compactness=12, start_label=1)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
axes[0].imshow(photo)
axes[0].set_title("a photograph")
axes[1].imshow(mark_boundaries(photo, regions, color=(1, 0.9, 0)))
axes[1].set_title(f"{regions.max()} SLIC superpixels: regions without meaning")
for ax in axes:
    ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. Sliding windows, and the work they repeat
#
# The first deep segmenters (Farabet et al., 2013; Pinheiro and Collobert, 2014) reused what
# already worked: an image classifier. To label pixel $(h, w)$, cut out a $P \times P$ patch
# centred on it, classify the patch, and give its class to the centre pixel. Repeat for every
# pixel.
#
# Count the work. An $H \times W$ image has $HW$ patches of $P^2$ pixels each, so the network
# reads $HW P^2$ pixel values, every pixel $P^2$ times. Two horizontally neighbouring patches
# share $P(P - 1)$ of their $P^2$ pixels; for $P = 17$ that is $16/17 \approx 94\%$. All the
# features computed on the shared part are computed again, for every patch that contains it.
#
# The remedy is already in our hands: a convolution applies the *same* weights at every position.
# Build the patch classifier from convolutions only, without padding, so that a $P \times P$
# patch shrinks to a $1 \times 1$ output. Run the same network on the whole image (padded by
# $P/2$ on each side) and it returns an $H \times W$ map, whose value at $(h, w)$ is exactly the
# classifier's answer for the patch around $(h, w)$, with every shared feature computed once.
# `seg.PatchClassifier` is such a network: four unpadded $5 \times 5$ convolutions, so
# $P = 4 \cdot 4 + 1 = 17$. Its weights are random here: we only count and time the work.

# %%
net_patch = seg.PatchClassifier(num_classes=4, width=16, layers=4, kernel=5).eval()
P = net_patch.patch_size
image_t = demo.tensors()[i_demo]                     # (3, 64, 64)
patches = seg.extract_patches(image_t, P)            # (4096, 3, 17, 17): one per pixel
print(f"patch size P = {P}; {len(patches)} patches of {P}x{P}; every pixel is read "
      f"{P * P} times; neighbours share {P * (P - 1) / P**2:.0%} of their pixels")

with torch.no_grad():
    t_win, out_win = time_call(lambda: net_patch(patches), repeats=2)   # (4096, 4, 1, 1)
    t_fcn, out_fcn = time_call(lambda: net_patch.dense(image_t[None]), repeats=2)  # (1, 4, 64, 64)
same = torch.allclose(out_win[:, :, 0, 0], out_fcn[0].permute(1, 2, 0).reshape(-1, 4), atol=1e-5)
print(f"sliding window: {t_win * 1e3:7.1f} ms   whole image at once: {t_fcn * 1e3:6.1f} ms   "
      f"({t_win / t_fcn:.0f}x faster), same scores: {same}")


def conv_macs(size, net):
    """Multiply-accumulates of the unpadded convolutions for a square input of the given size."""
    total, n = 0, size
    for m in net:
        if isinstance(m, nn.Conv2d):
            n = n - m.kernel_size[0] + 1
            total += n * n * m.in_channels * m.out_channels * m.kernel_size[0] ** 2
    return total


macs_patch = conv_macs(P, net_patch)
macs_image = conv_macs(64 + P - 1, net_patch)
print(f"multiply-adds: {macs_patch * 4096 / 1e9:.2f} G for 4096 patches, "
      f"{macs_image / 1e9:.3f} G for the whole image ({macs_patch * 4096 / macs_image:.0f}x less)")

# %% [markdown]
# The same numbers, two ways of getting them, and a large difference in work: the per-patch
# version repeats almost everything, because each intermediate feature of a patch is also a
# feature of many neighbouring patches. This observation is the core of the fully
# convolutional network: the classifier's weights are applied densely, and the redundancy
# disappears. (Object detection made the same move, from classifying every window to sharing
# one feature map over the whole image: lecture 09.)
#
# ## 3. Fully convolutional networks: down, then up
#
# ### 3.1 Why not full resolution all the way?
#
# The fully convolutional idea suggests a simple design: a stack of padded $3 \times 3$
# convolutions, no pooling, no strides, and a $1 \times 1$ convolution at the end giving $C$
# class scores per pixel. It is correct but hopeless, for two reasons.
#
# * **Receptive field.** Each $3 \times 3$ layer widens the receptive field by 2 pixels; after
#   $L$ layers a unit sees $2L + 1$ pixels. To tell a road from a wall you need to see a large
#   part of the scene, hundreds of pixels.
# * **Cost.** Every layer works on all $H \times W$ positions with many channels. The cost and
#   the memory for the backward pass grow with $L\, H W C^2$.

# %%
H_img, W_img = 512, 1024   # a street scene at half the Cityscapes resolution


def stack_cost(stages):
    """Multiply-adds, float32 activation memory and receptive field of 3x3 conv stages, each
    given as (layers, channels, downsampling factor); a 2x2 pooling sits between stages."""
    macs = acts = 0
    rf_layers = []
    for q, (layers, c, f) in enumerate(stages):
        h, w = H_img // f, W_img // f
        macs += layers * h * w * c * c * 9
        acts += layers * h * w * c * 4
        rf_layers += [(3, 1, 1)] * layers + ([(2, 2, 0)] if q < len(stages) - 1 and
                                            stages[q + 1][2] > f else [])
    return macs, acts, receptive_field(rf_layers).size


designs = {
    "20 layers, 64 channels, full resolution": [(20, 64, 1)],
    "5 stages of 4 layers, halving the size, 64 -> 1024 channels":
        [(4, 64 << q, 1 << q) for q in range(5)],
    "the same channels, but full resolution all the way": [(4, 64 << q, 1) for q in range(5)],
}
print(f"{'design (image ' + str(H_img) + ' x ' + str(W_img) + ')':62s} {'G MACs':>8s} "
      f"{'GiB act.':>9s} {'RF':>5s}")
for name, stages in designs.items():
    macs, acts, rf = stack_cost(stages)
    print(f"{name:62s} {macs / 1e9:8,.0f} {acts / 2**30:9.1f} {rf:5d}")
(m_thin, a_thin, rf_thin), (m_pyr, a_pyr, rf_pyr), (m_full, _, _) = (
    stack_cost(stages) for stages in designs.values())
print(f"\nthe pyramid against the thin stack: {m_pyr / m_thin:.2f} times the multiply-adds, "
      f"{a_pyr / a_thin:.2f} times the memory, {rf_pyr / rf_thin:.1f} times the receptive field")
print(f"its channels kept at full resolution: {m_full / m_pyr:.0f} times the pyramid's "
      "multiply-adds")

# %% [markdown]
# The thin full-resolution stack sees only $2 \cdot 20 + 1 = 41$ pixels. The pyramid (the usual
# classification design: halve the size, double the channels) costs the same, needs less memory,
# sees several times as far (the ratios are printed below the table) and ends with rich
# 1024-channel features. Keeping those features at full resolution would multiply the cost by the
# factor of the last line. Downsampling (pooling or strided convolutions) widens the receptive
# field geometrically and makes deep, wide layers affordable. The price is resolution: after four
# halvings a $512 \times 1024$ image is a $32 \times 64$ grid of features (after the five of VGG
# or ResNet, $16 \times 32$). Segmentation networks therefore **go down and come back up**: an
# *encoder* reduces the resolution while building rich features, a *decoder* upsamples them back
# to the input size.
#
# ### 3.2 FCN, U-Net and skip connections
#
# **FCN** (Long, Shelhamer and Darrell, 2015) took an ImageNet classifier (VGG-16), turned its
# fully connected layers into convolutions (a fully connected layer over a $7 \times 7 \times
# 512$ map is a $7 \times 7$ convolution, so the network accepts any image size), and upsampled
# the coarse score map back to the image with a learned transposed convolution (section 5). The
# coarse map alone, 32 times smaller than the image, gives blobby masks. FCN's fix is the **skip
# connection**: scores predicted from the finer pool4 and pool3 feature maps are added to the
# upsampled coarse scores (FCN-16s, FCN-8s). Deep layers know *what*, shallow layers know
# *where*; the skips combine them.
#
# **U-Net** (Ronneberger, Fischer and Brox, 2015) made the decoder as deep as the encoder and
# symmetric to it: at every resolution the decoder concatenates the encoder's feature map of
# the same size before convolving, which gives the famous U shape. It was designed for
# biomedical images with few labelled examples and remains a standard design for dense
# prediction.
#
# Our network for section 6, `seg.EncoderDecoder`, is a small U-Net: three halvings, three
# $2\times$ upsamplings by transposed convolutions, and a skip connection at every resolution
# (the last one brings in the raw image at full resolution). Here is its shape, traced on one
# $64 \times 64$ scene:

# %%
torch.manual_seed(0)
model = seg.EncoderDecoder(num_classes=4, width=16)
trace = model.trace(torch.zeros(1, 3, 64, 64))
for name, shape in trace:
    print(f"{name:6s} {str(shape):>20s}")
print(f"parameters: {sum(p.numel() for p in model.parameters()):,}")
fig, ax = plt.subplots(figsize=(10, 3.8))
seg.draw_encoder_decoder(ax, trace)
ax.set_title("the encoder-decoder of section 6: blue down, orange up, green dashed skips")
plt.show()

# %% [markdown]
# ### 3.3 Dilated convolutions: DeepLab's way to keep resolution
#
# A third answer to the dilemma of section 3.1 avoids most of the downsampling. A **dilated**
# (atrous) convolution spreads its $3 \times 3$ taps $D$ pixels apart (lecture 06): it costs the
# same as an ordinary one but sees a $(2D + 1) \times (2D + 1)$ area, and with padding $D$ it
# keeps the resolution. Stacking dilations $1, 2, 4, \dots$ grows the receptive field
# exponentially at full (or mildly reduced) resolution. **DeepLab** (Chen et al., 2015, 2018)
# removes the last poolings of a classification network, dilates the following convolutions
# instead, and so predicts on a map 8 times smaller than the image rather than 32; Yu and Koltun
# (2016) built a context module from dilations alone.

# %%
plain = [(3, 1, 1, 1)] * 3                       # (kernel, stride, padding, dilation)
dilated = [(3, 1, 1, 1), (3, 1, 2, 2), (3, 1, 4, 4)]
x_check = torch.zeros(1, 1, 64, 64)
y_check = x_check
for k, s, p, d in dilated:
    y_check = F.conv2d(y_check, torch.ones(1, 1, k, k), stride=s, padding=p, dilation=d)
print(f"three 3x3 convs:                 receptive field {receptive_field(plain).size}")
print(f"three 3x3 convs, dilation 1,2,4: receptive field {receptive_field(dilated).size}, "
      f"output still {tuple(y_check.shape[2:])}")

# %% [markdown]
# ## 4. Upsampling without parameters: unpooling
#
# How does the decoder go up? The simplest layers have no weights at all. Each turns an
# $H \times W$ map into a $2H \times 2W$ one:
#
# * **nearest neighbour**: copy each value into its $2 \times 2$ block;
# * **bed of nails**: put each value in the top-left corner of its block and zeros elsewhere;
# * **max unpooling**: remember, in the encoder's max-pooling layer, *where* each maximum came
#   from, and in the matching decoder layer put each value back at that position, zeros
#   elsewhere. Encoder and decoder layers come in pairs, and the decoder restores fine
#   positions that the pooled map had lost. SegNet (Badrinarayanan et al., 2017) and DeconvNet
#   (Noh et al., 2015) upsample this way.
#
# torch provides the pair: `F.max_pool2d(..., return_indices=True)` returns the flat positions
# of the maxima, `F.max_unpool2d` puts values back at them.

# %%
x_pool = torch.tensor([[1.0, 2.0, 6.0, 3.0],
                       [3.0, 5.0, 2.0, 1.0],
                       [1.0, 2.0, 2.0, 1.0],
                       [7.0, 3.0, 4.0, 8.0]])[None, None]          # (1, 1, 4, 4)
pooled, where = F.max_pool2d(x_pool, 2, return_indices=True)      # (1, 1, 2, 2) each
decoded = torch.tensor([[1.0, 2.0], [3.0, 4.0]])[None, None]      # what the decoder computed
print("max-pooled:", pooled[0, 0].tolist(), "  positions of the maxima:", where[0, 0].tolist())
ups = {"nearest": upsampling.unpool_nearest(decoded, 2),
       "bed of nails": upsampling.unpool_bed_of_nails(decoded, 2),
       "max unpooling": F.max_unpool2d(decoded, where, 2, output_size=(4, 4))}

fig, axes = plt.subplots(1, 6, figsize=(13, 2.6), gridspec_kw={"width_ratios": [2, 1, 1, 2, 2, 2]})
for ax, (t, m) in zip(axes, [("encoder input", x_pool), ("max-pooled", pooled),
                             ("decoder values", decoded)] + list(ups.items()), strict=True):
    show_values(ax, m[0, 0].numpy(), title=t, vmin=0, vmax=9, fontsize=10)
for r, c in [divmod(int(v), 4) for v in where.ravel()]:  # the remembered positions
    for ax in (axes[0], axes[5]):
        ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec=CLASS_COLORS[5],
                                   lw=2.5))
fig.tight_layout()
plt.show()

# %% [markdown]
# The orange squares mark where the maxima were (the flat indices into the $4 \times 4$ input,
# printed above); max unpooling writes the decoder's values 1, 2, 3, 4 exactly there. None of the
# three layers *learns* how to upsample. The next layer does.
#
# ## 5. Transposed convolution: learnable upsampling
#
# ### 5.1 Stamping copies of the kernel
#
# A strided convolution *reads* a window of the input for every output value. A **transposed
# convolution** runs the other way: every *input* value scales a copy of the kernel, the copy is
# **stamped** into the output, and the stamps of neighbouring inputs are placed $S$ positions
# apart; where stamps overlap, they add up. In one dimension, with input $(a, b)$, kernel
# $(x, y, z)$ and stride 2:
#
# $$ (a, b) \;\mapsto\; (ax,\; ay,\; az + bx,\; by,\; bz). $$
#
# The kernel is learned like any other, so the network learns *how* to upsample. Other names
# you will meet: *fractionally strided convolution* (it behaves like a convolution with stride
# $1/S$), *upconvolution*, *backward strided convolution*, and the unfortunate *deconvolution*:
# it does **not** invert a convolution (deconvolution in signal processing means undoing a
# blur), it only has the same shape bookkeeping in reverse.

# %%
a_b = torch.tensor([[[1.0, 2.0]]])        # (N, C, n) = (1, 1, 2): a = 1, b = 2
xyz = torch.tensor([[[1.0, 10.0, 100.0]]])  # (C_in, C_out, k) = (1, 1, 3): x, y, z
print("conv_transpose1d:", F.conv_transpose1d(a_b, xyz, stride=2)[0, 0].tolist())
print("by hand:         ", [1 * 1, 1 * 10, 1 * 100 + 2 * 1, 2 * 10, 2 * 100])

# %% [markdown]
# ### 5.2 The output size
#
# With input length $n$, kernel $K$, stride $S$: the first stamp starts at 0, the last at
# $(n - 1) S$, and it ends $K$ positions later, so the stamps cover $(n - 1) S + K$ positions.
# Padding $P$ in a transposed convolution *removes* $P$ positions from each end (it is the
# padding of the convolution this layer is the transpose of), and `output_padding` adds
# positions at the far end:
#
# $$ n_{\text{out}} = (n - 1)\,S - 2P + K + \text{output\_padding}. $$
#
# Why output_padding? A stride-2 convolution with $K = 3, P = 1$ maps both 15 and 16 input
# positions to 8 outputs: the size of its input cannot be recovered from its output alone.
# output_padding (which must be smaller than $S$) picks one. The table checks the formula
# against torch for a few common settings.

# %%
print(f"{'n':>3} {'K':>3} {'S':>3} {'P':>3} {'op':>3}   formula                           torch")
for n, k, s, p, op in [(4, 3, 2, 1, 1), (8, 4, 2, 1, 0), (8, 2, 2, 0, 0), (16, 3, 2, 1, 0),
                       (3, 3, 1, 1, 0), (5, 5, 3, 1, 2)]:
    y = F.conv_transpose2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s,
                           padding=p, output_padding=op)
    print(f"{n:3d} {k:3d} {s:3d} {p:3d} {op:3d}   "
          f"{upsampling.transposed_output_size_formula(n, k, s, p, op):33s} {y.shape[-1]}")
y8 = F.conv2d(torch.zeros(1, 1, 15, 15), torch.zeros(1, 1, 3, 3), stride=2, padding=1)
y8b = F.conv2d(torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 3, 3), stride=2, padding=1)
print(f"stride-2 conv (K=3, P=1): 15 -> {y8.shape[-1]}, 16 -> {y8b.shape[-1]}; its transpose "
      f"gives 8 -> {upsampling.transposed_output_size(8, 3, 2, 1, 0)} (output_padding 0) or "
      f"{upsampling.transposed_output_size(8, 3, 2, 1, 1)} (output_padding 1)")

# %% [markdown]
# The common decoder choices: $K = 4, S = 2, P = 1$ exactly doubles the size (FCN initialised
# such layers with bilinear interpolation weights), and $K = 2, S = 2, P = 0$ doubles it with
# stamps that tile the output without overlap (our `EncoderDecoder` uses this one).
#
# ### 5.3 Why "transposed": the matrix of a convolution
#
# A convolution is linear, so it is a matrix: flatten the input $x$ to a vector, and there is a
# matrix $C$ with $y = C x$. Each row of $C$ holds the kernel's taps at the columns of the input
# positions that output reads. The **transposed convolution is multiplication by $C^\top$**:
# $C$ maps $n$ numbers to $m$, $C^\top$ maps $m$ back to $n$, spreading each value over the
# positions it was read from. That is the stamping of section 5.1.
#
# In one dimension, a kernel $(1, 2, 3)$ with stride 2 and padding 1 on 4 inputs:

# %%
w1 = np.array([1.0, 2.0, 3.0])
C1 = upsampling.conv_matrix_1d(w1, n=4, stride=2, padding=1)  # (2, 4)
x4 = np.array([1.0, -1.0, 2.0, 0.5])
z2 = np.array([1.0, 10.0])
conv = F.conv1d(torch.tensor(x4)[None, None], torch.tensor(w1)[None, None], stride=2, padding=1)
tconv = F.conv_transpose1d(torch.tensor(z2)[None, None], torch.tensor(w1)[None, None], stride=2,
                           padding=1, output_padding=1)
print("C =\n", C1)
print("C @ x   =", C1 @ x4, "   F.conv1d           =", conv[0, 0].numpy())
print("C.T @ z =", C1.T @ z2, "   F.conv_transpose1d =", tconv[0, 0].numpy())

# %% [markdown]
# In two dimensions the same holds with images flattened row by row. CS231n's example: a
# $3 \times 3$ kernel, stride 1, no padding, on a $4 \times 4$ input gives a $2 \times 2$ output,
# so $C$ is $4 \times 16$, each row holding the 9 taps at the 9 pixels of one window. Its
# transpose maps a $2 \times 2$ map to $4 \times 4$.

# %%
w3 = torch.arange(1.0, 10.0).reshape(3, 3)                     # (3, 3): taps 1..9
C2 = upsampling.conv_matrix_2d(w3.numpy(), (4, 4))             # (4, 16)
z22 = torch.tensor([[1.0, -1.0], [2.0, 0.5]])                  # (2, 2)
up = F.conv_transpose2d(z22[None, None], w3[None, None])[0, 0]  # (4, 4)
print("C @ x matches F.conv2d:          ",
      np.allclose(C2 @ np.arange(16.0), F.conv2d(torch.arange(16.0).reshape(1, 1, 4, 4),
                                                  w3[None, None]).ravel().numpy()))
print("C.T @ z matches F.conv_transpose2d:", np.allclose(C2.T @ z22.numpy().ravel(),
                                                         up.numpy().ravel()))

# the gradient of a convolution with respect to its input is a transposed convolution
x_req = torch.randn(1, 1, 4, 4, requires_grad=True)
g_out = torch.randn(1, 1, 2, 2)
F.conv2d(x_req, w3[None, None]).backward(g_out)
print("d(conv)/dx . g == conv_transpose(g):",
      torch.allclose(x_req.grad, F.conv_transpose2d(g_out, w3[None, None]), atol=1e-5))

fig, axes = plt.subplots(1, 2, figsize=(11, 3.0), gridspec_kw={"width_ratios": [4, 1.3]})
axes[0].imshow(C2, cmap="Blues", vmin=0, vmax=10)
for (r, c), v in np.ndenumerate(C2):
    if v:
        axes[0].text(c, r, f"{v:.0f}", ha="center", va="center", fontsize=8)
axes[0].set_title("C (4 x 16): row = one output position, columns = the 16 input pixels")
axes[0].set_xticks(range(16))
axes[0].set_yticks(range(4))
show_values(axes[1], up.numpy(), title="conv_transpose2d of z\n= C.T @ z, as 4 x 4",
            vmin=-12, vmax=30, fmt="{:.1f}")
fig.tight_layout()
plt.show()

# %% [markdown]
# The last check is worth remembering: the **backward pass of a convolution is a transposed
# convolution** (the gradient with respect to the input is $C^\top$ times the upstream
# gradient), and the backward pass of a transposed convolution is a convolution. Frameworks
# implement one with the other.
#
# ### 5.4 The checkerboard artefact, and resize-then-convolve
#
# Look again at the stamps. With $K = 3$ and $S = 2$ the copies overlap at every second position
# and not in between, so along each axis the output positions are covered by 1, 2, 1, 2, ...
# stamps, and in two dimensions by 1, 2 or 4: a **checkerboard**. When $K$ is a multiple of $S$
# ($K = 4, S = 2$, or $K = 2, S = 2$), every position inside is covered equally often. Odena,
# Dumoulin and Olah (2016) traced the checkerboard patterns in images generated by networks to
# this uneven overlap. The weights could compensate in principle, but learned weights rarely do
# exactly, and stacking such layers compounds the pattern.

# %%
for k, s in [(3, 2), (4, 2), (2, 2), (5, 3)]:
    print(f"K = {k}, S = {s}: copies per position", upsampling.stamp_counts(6, k, s, dims=1))

# %% [markdown]
# Here is the effect on a real photograph. We shrink the camera man to $48 \times 48$ and
# upsample him back by 2 in six ways: nearest neighbour, bed of nails, bilinear interpolation,
# and three transposed convolutions, all with fixed (not learned) kernels: the bilinear kernel
# with $K = 4$ (the initialisation FCN used), and a flat "box" kernel with $K = 3$ and with
# $K = 4$. The box kernel with $K = 3$ copies the overlap counts straight into the picture.

# %%
cam = torch.tensor(load_photo("camera", gray=True, size=96), dtype=torch.float32)[None, None]
small = F.avg_pool2d(cam / 255, 2)                                     # (1, 1, 48, 48)
tent = torch.tensor([0.25, 0.75, 0.75, 0.25])
bilinear_k = torch.outer(tent, tent)[None, None]                        # (1, 1, 4, 4)
box3, box4 = torch.full((1, 1, 3, 3), 1 / 2.25), torch.full((1, 1, 4, 4), 1 / 4)
ways = {
    "nearest": upsampling.unpool_nearest(small, 2),
    "bed of nails": 4 * upsampling.unpool_bed_of_nails(small, 2),
    "bilinear (F.interpolate)": F.interpolate(small, scale_factor=2, mode="bilinear"),
    "T-conv, bilinear kernel K=4": F.conv_transpose2d(small, bilinear_k, stride=2, padding=1),
    "T-conv, box kernel K=3": F.conv_transpose2d(small, box3, stride=2, padding=1,
                                                 output_padding=1),
    "T-conv, box kernel K=4": F.conv_transpose2d(small, box4, stride=2, padding=1),
}
fig, axes = plt.subplots(2, 4, figsize=(12, 6.2))
axes = axes.ravel()
axes[0].imshow(cam[0, 0], cmap="gray")
axes[0].add_patch(Rectangle((36 - 0.5, 12 - 0.5), 40, 40, fill=False, ec=CLASS_COLORS[5], lw=1.5))
axes[0].set_title("original 96 x 96 (crop in orange)")
axes[4].imshow(small[0, 0], cmap="gray", vmin=0, vmax=1)
axes[4].set_title("shrunk to 48 x 48")
for ax, (name, im) in zip([axes[1], axes[2], axes[3], axes[5], axes[6], axes[7]], ways.items(),
                          strict=True):
    crop = im[0, 0, 12:52, 36:76]  # the head and the camera, enlarged
    ax.imshow(crop, cmap="gray", vmin=0, vmax=max(1.0, float(crop.max())),
              interpolation="nearest")
    ax.set_title(name, fontsize=9)
for ax in axes:
    ax.axis("off")
fig.suptitle("upsampled by 2 (a 40 x 40 crop of the 96 x 96 results)", y=0.99)
fig.tight_layout()
plt.show()
diff = (ways["T-conv, bilinear kernel K=4"] - ways["bilinear (F.interpolate)"])[0, 0, 1:-1, 1:-1]
print(f"bilinear kernel vs F.interpolate, away from the border: max difference "
      f"{diff.abs().max():.1e}")

# %% [markdown]
# The transposed convolution with the bilinear kernel *is* bilinear interpolation (away from
# the border), so a learned upsampling layer can start from there. The box kernel with $K = 4$
# gives a smooth but blurred result; with $K = 3$ every other row and column is darker: the
# checkerboard.
#
# The alternative that Odena et al. recommend is **resize, then convolve**: upsample by nearest
# neighbour (or bilinear) interpolation, then apply an ordinary convolution. Every output value
# is then computed from the same number of taps, whatever the weights. With *random* weights,
# as at initialisation, applied to a constant image, the transposed convolution already prints a
# periodic pattern, the resize-convolution none:

# %%
torch.manual_seed(1)
tconv_layer = nn.ConvTranspose2d(1, 1, kernel_size=3, stride=2, padding=1, output_padding=1,
                                 bias=False)
resize_conv = nn.Conv2d(1, 1, kernel_size=3, padding=1, bias=False)
flat = torch.ones(1, 1, 8, 8)                                             # a constant input
with torch.no_grad():
    out_t = tconv_layer(flat)[0, 0, 2:-2, 2:-2]                           # inside: no border
    out_r = resize_conv(F.interpolate(flat, scale_factor=2, mode="nearest"))[0, 0, 2:-2, 2:-2]
print("transposed conv, K=3 S=2, a 4x4 corner of the output:\n", out_t[:4, :4].numpy())
print(f"spread of the values inside: transposed conv {out_t.std():.3f}, "
      f"resize + conv {out_r.std():.3f}")

# %% [markdown]
# ### 5.5 Play with it: stamps, cropping and overlaps
#
# The widget draws a two-dimensional transposed convolution. Left: the $n \times n$ input with
# one selected cell. Middle: the output grid with every input cell's copy of the kernel (dashed)
# and the selected cell's copy filled in orange, each of its cells labelled with the kernel tap
# $w_{ab}$ that lands there; positions cut off by the padding are tinted blue, positions added by
# output_padding light orange. Right: how many copies overlap at each output position, which is
# exactly what `F.conv_transpose2d` returns for an all-ones input and an all-ones kernel. Below:
# the output-size formula with your numbers, checked against torch's output shape.
#
# Things to try:
#
# 1. **The checkerboard.** The widget starts at $K = 3, S = 2$: counts 1, 2 and 4 in a
#    checkerboard. Set $K = 4$: inside the output every position is now covered 4 times, only
#    the border has fewer. Then $K = 2$: the copies tile the output exactly once. Which
#    $(K, S)$ pairs with $S = 3$ are even?
# 2. **Gaps.** Make the kernel smaller than the stride ($K = 1$ or $2$ with $S = 3$): rows and
#    columns that no copy reaches stay zero. This is the bed of nails of section 4, with a
#    kernel instead of a single value.
# 3. **Padding crops.** With $n = 4, K = 4, S = 2$, raise the padding to 1: the output shrinks
#    from 10 to 8, exactly $2n$, because the blue border is cut away. Which positions still get
#    fewer copies than the inside, and what does that do to the output near the image border?
# 4. **output_padding.** With $K = 3, S = 2, P = 1$ the output has $2n - 1$ positions; set
#    output_padding to 1 to get $2n$. Where does the extra row come from? Then try
#    output_padding $\geq S$: torch refuses it, and the widget says why.
# 5. **Follow one cell.** Move the selected cell with the row and column sliders and check
#    that its copy starts at output position $(iS - P,\, jS - P)$.

# %%
view = TransposedConvView(n=4, k=3, stride=2, padding=0, output_padding=0, row=1, col=1)
view

# %% [markdown]
# ## 6. A small encoder-decoder, trained on the shapes scenes
#
# ### 6.1 The data and the loss
#
# Now a real segmentation network, trained here on the CPU. The task is semantic segmentation
# of the shapes scenes into 4 classes: background, circle, square, triangle. The colours of the
# shapes are random and say nothing about the class, so the network has to recognise the
# *shape*, and it has to do so at every pixel, including the ones at the edges of an object
# and those next to an occluding object. We train on 2000 scenes and keep 200 other scenes
# (another seed) for evaluation.
#
# The loss is the **per-pixel cross-entropy**: every pixel is a classification example, and the
# loss is averaged over all of them,
#
# $$ L = -\frac{1}{N H W} \sum_{n, h, w}
#      \log \frac{e^{s_{n, y_{nhw}, h, w}}}{\sum_c e^{s_{n, c, h, w}}}, $$
#
# which is what `F.cross_entropy` computes when it gets scores of shape $(N, C, H, W)$ and labels
# of shape $(N, H, W)$.

# %%
t0 = time.perf_counter()
train = make_scenes(2000, seed=1)
test = make_scenes(200, seed=2)
print(f"made {len(train)} training and {len(test)} held-out scenes in "
      f"{time.perf_counter() - t0:.1f} s")
X_train = train.tensors()                    # (2000, 3, 64, 64) float32 in [0, 1]
y_train = torch.from_numpy(train.semantic)   # (2000, 64, 64) int64 in 0..3
X_test, y_test = test.tensors(), test.semantic  # (200, 3, 64, 64), (200, 64, 64)
frac = np.bincount(train.semantic.ravel(), minlength=4) / train.semantic.size
print("share of the training pixels:", ", ".join(f"{n} {f:.1%}" for n, f in
                                                  zip(NAMES, frac, strict=True)))

# %% [markdown]
# Most pixels are background: a network that answers "background" everywhere would be right
# on that share of the pixels and useless. This is why segmentation is scored per class
# (section 6.3), not by pixel accuracy alone.
#
# ### 6.2 Training
#
# `seg.train_segmenter` runs Adam with a one-cycle learning-rate schedule (a short warm-up, then
# a slow decay to nearly zero) on minibatches of 16 scenes for 450 steps, a little under four
# passes over the training set, and scores the held-out scenes every 75 steps. The time it took
# on one CPU core is printed with the result.

# %%
torch.manual_seed(0)
model = seg.EncoderDecoder(num_classes=4, width=16)
hist = seg.train_segmenter(model, X_train, y_train, steps=450, batch_size=16, lr=5e-3, seed=0,
                           X_val=X_test, y_val=y_test, val_every=75)
print(f"{len(hist.loss)} steps in {hist.seconds:.1f} s; last minibatch losses "
      f"{np.mean(hist.loss[-20:]):.3f}; held-out mean IoU (shapes) {hist.val_miou[-1]:.3f}")

fig, axes = plt.subplots(1, 3, figsize=(12, 3.1))
axes[0].plot(hist.loss, color="0.7", lw=0.8, label="minibatch")
smooth = np.convolve(hist.loss, np.ones(20) / 20, mode="valid")
axes[0].plot(np.arange(19, len(hist.loss)), smooth, color=CLASS_COLORS[0], label="mean of 20")
axes[0].set_yscale("log")
axes[0].set_xlabel("step")
axes[0].set_title("per-pixel cross-entropy")
axes[0].legend(fontsize=8)
axes[1].plot(hist.lr, color=CLASS_COLORS[1])
axes[1].set_xlabel("step")
axes[1].set_title("learning rate (one cycle)")
val_iou = np.array(hist.val_iou)                                   # (evaluations, 4)
for c in range(1, 4):
    axes[2].plot(hist.val_steps, val_iou[:, c], "o-", ms=3, color=CLASS_COLORS[c - 1],
                 label=NAMES[c])
axes[2].plot(hist.val_steps, hist.val_miou, "k--", lw=1.5, label="mean")
axes[2].set_ylim(0, 1)
axes[2].set_xlabel("step")
axes[2].set_title("held-out IoU per class")
axes[2].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### 6.3 Scoring a segmentation: IoU per class and the confusion matrix
#
# Every pixel is a classification, so the **pixel confusion matrix** $M$ counts, for each true
# class $t$ (rows) and predicted class $p$ (columns), the pixels with that pair. From it, for
# class $c$: true positives $TP_c = M_{cc}$, false positives $FP_c$ (the rest of column $c$),
# false negatives $FN_c$ (the rest of row $c$), and the **intersection over union** of the
# predicted and the true region of class $c$:
#
# $$ \mathrm{IoU}_c = \frac{|\text{pred}_c \cap \text{true}_c|}{|\text{pred}_c \cup \text{true}_c|}
#    = \frac{TP_c}{TP_c + FP_c + FN_c}. $$
#
# It is the IoU of lecture 09's boxes, computed on pixel sets. The **mean IoU** (mIoU) averages
# it over classes, so a rare class counts as much as the background. PASCAL VOC's and
# Cityscapes' benchmarks rank methods by it (VOC includes the background class in the mean; we
# report both). Unlike pixel accuracy, it cannot be gamed by the dominant class.

# %%
pred = seg.predict(model, X_test)                                     # (200, 64, 64)
cm = scoring.confusion_matrix(y_test, pred, num_classes=4)            # (4, 4) pixel counts
iou = scoring.per_class_iou(cm)
print(f"{'class':>11s} {'pixels':>8s} {'IoU':>6s}")
for c in range(4):
    print(f"{NAMES[c]:>11s} {cm[c].sum():8d} {iou[c]:6.3f}")
print(f"mean IoU over the three shapes: {np.mean(iou[1:]):.3f};   over all four classes: "
      f"{np.mean(iou):.3f};   pixel accuracy: {scoring.pixel_accuracy(cm):.3f}")
print(f"answering 'background' everywhere: pixel accuracy {cm[0].sum() / cm.sum():.3f}, "
      f"mean IoU over the shapes 0")
shape_shape = cm[1:, 1:].sum() - np.trace(cm[1:, 1:])            # one shape taken for another
shape_bg = cm[1:, 0].sum() + cm[0, 1:].sum()                     # a shape against the background
print(f"wrong pixels: {shape_shape} with one shape taken for another, {shape_bg} between a shape "
      f"and the background ({'fewer' if shape_bg < shape_shape else 'more'})")

fig, ax = plt.subplots(figsize=(4.6, 3.8))
rates = cm / cm.sum(axis=1, keepdims=True)                           # each row sums to 1
ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
for (t, p), v in np.ndenumerate(cm):
    ax.text(p, t, f"{v}\n{rates[t, p]:.1%}", ha="center", va="center", fontsize=7.5,
            color="white" if rates[t, p] > 0.6 else "black")
ax.set_xticks(range(4), NAMES, rotation=20)
ax.set_yticks(range(4), NAMES)
ax.set_xlabel("predicted")
ax.set_ylabel("true")
ax.set_title("held-out pixels: counts and row shares")
fig.tight_layout()
plt.show()

# %% [markdown]
# Read the rows: the diagonal holds the share of each class's pixels that were labelled right.
# The off-diagonal entries tell which mistakes remain, of two kinds: one shape taken for
# another, and shape pixels taken for background or the reverse (boundary pixels). The last
# printed line counts both; here the first kind is the larger one: telling the shapes apart is
# harder for this network than finding where a shape ends.
#
# ### 6.4 What the predictions look like
#
# Next to each held-out scene: the ground truth, the prediction, and the wrong pixels in red.
# The scenes are the four with the lowest and the four with the highest pixel accuracy among
# those with at least three objects.

# %%
acc_scene = (pred == y_test).mean(axis=(1, 2))                          # (200,)
busy = np.flatnonzero([len(b) >= 3 for b in test.boxes])
order = busy[np.argsort(acc_scene[busy])]
show = list(order[:4]) + list(order[-4:])
fig, axes = plt.subplots(4, 8, figsize=(13, 7.0))
for q, i in enumerate(show):
    r, c0 = q % 4, 4 * (q // 4)
    axes[r, c0].imshow(test.images[i])
    axes[r, c0 + 1].imshow(y_test[i], cmap=CMAP, vmin=-0.5, vmax=3.5, interpolation="nearest")
    axes[r, c0 + 2].imshow(pred[i], cmap=CMAP, vmin=-0.5, vmax=3.5, interpolation="nearest")
    wrong = pred[i] != y_test[i]
    axes[r, c0 + 3].imshow(np.where(wrong[..., None], [0.85, 0.1, 0.1], [1.0, 1.0, 1.0]))
    axes[r, c0 + 3].set_xlabel(f"{wrong.sum()} wrong pixels", fontsize=8)
    if r == 0:
        for j, t in enumerate(["image", "truth", "prediction", "errors"]):
            axes[r, c0 + j].set_title(t + (" (worst)" if j == 0 and q < 4 else
                                           " (best)" if j == 0 else ""), fontsize=9)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
fig.legend(handles=[Patch(color=c, label=n) for c, n in zip(CMAP.colors, NAMES, strict=True)],
           loc="lower center", ncol=4, fontsize=9, title="label colours (not the shapes' paint)")
fig.tight_layout(rect=(0, 0.07, 1, 1))
plt.show()

# %% [markdown]
# Where are the errors? If the network had learned the shapes but not their exact outlines,
# the wrong pixels would hug the boundaries. Count them:

# %%
edges = np.stack([find_boundaries(y, mode="thick") for y in y_test])   # (200, 64, 64)
near = ndimage.binary_dilation(edges, structure=np.ones((1, 3, 3)))    # within 1 pixel
wrong = pred != y_test
print(f"{wrong.sum()} wrong pixels of {wrong.size}; {near[wrong].mean():.0%} of them lie within "
      f"one pixel of a true boundary, where only {near.mean():.0%} of all pixels are")
far = wrong & ~near
shape_for_shape = (pred > 0) & (y_test > 0)                          # (200, 64, 64)
print(f"of the {far.sum()} wrong pixels farther from a boundary, "
      f"{shape_for_shape[far].mean():.0%} belong to a shape given another shape's class")

# %% [markdown]
# Most mistakes sit on or next to a boundary, where a pixel is partly inside and partly outside
# the shape and where the class changes within one step. The rest lie inside regions given the
# wrong class, nearly always another shape's (the second line); in the worst scenes above such
# regions belong to shapes that occlusion has cut into unusual outlines. Whether a longer
# training run, more data or a wider network shrink both kinds, and how much the
# full-resolution skip of the raw image helps to place the boundaries (train the same network
# without it and compare the mean IoU), are experiments for a quiet afternoon.
#
# ## 7. Instance segmentation: Mask R-CNN
#
# ### 7.1 What semantic segmentation cannot say
#
# A semantic map has no notion of *objects*. When two shapes of one class touch, their pixels
# merge into one region, and no post-processing of the map can tell where one ends. How often
# does that happen in the held-out scenes?

# %%
merged = []
for i in range(len(test)):
    for c in range(3):
        n_obj = int((test.labels[i] == c).sum())
        if n_obj >= 2:
            _, n_regions = ndimage.label(test.semantic[i] == c + 1)  # connected regions of class c
            if n_regions < n_obj:
                merged.append((i, c, n_obj, n_regions))
print(f"in {len({m[0] for m in merged})} of {len(test)} held-out scenes, two or more objects "
      f"of one class merge into one region of the semantic map")
i_m, c_m, n_obj, n_reg = merged[0]
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
show_scene(axes[0], test.images[i_m], test.boxes[i_m], test.labels[i_m], title="scene")
axes[1].imshow(test.semantic[i_m], cmap=CMAP, vmin=-0.5, vmax=3.5, interpolation="nearest")
axes[1].set_title(f"semantic: {n_reg} {CLASSES[c_m]} region(s)")
axes[2].imshow(test.instance_map(i_m), cmap=INST_CMAP, vmin=-0.5, vmax=9.5,
               interpolation="nearest")
axes[2].set_title(f"instances: {n_obj} {CLASSES[c_m]}s")
for ax in axes[1:]:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()

# %% [markdown]
# ### 7.2 Mask R-CNN: a detector with a mask branch
#
# **Mask R-CNN** (He, Gkioxari, Dollár and Girshick, 2017) solves instance segmentation by
# adding a third branch to Faster R-CNN (lecture 09). For every region of interest (RoI) that
# the region proposal network suggests, the detector already predicts class scores and a box
# refinement; the new branch predicts a **mask** for the object in the RoI.
#
# * **Features per RoI.** RoIAlign (lecture 09, assignment a4) samples the feature map
#   bilinearly at exact, unrounded positions inside the RoI, giving a $14 \times 14$ feature
#   grid (in the FPN version). RoIPool's rounding of the RoI to the feature grid shifts features
#   by up to half a cell, harmless for a class score but a visible misalignment for a mask;
#   replacing it with RoIAlign improved mask AP by several points in the paper's ablation.
# * **A small FCN per RoI.** Four $3 \times 3$ convolutions, a $2 \times 2$ transposed
#   convolution with stride 2 (our section 5) to $28 \times 28$, and a $1 \times 1$ convolution
#   giving **one $28 \times 28$ mask per class**: $K$ masks for $K$ classes.
# * **A binary loss per class.** The mask loss uses only the mask of the RoI's *ground-truth*
#   class $k$: a per-pixel sigmoid and binary cross-entropy,
#   $L_{\text{mask}} = -\frac{1}{28^2} \sum_{u,v} \big[t_{uv} \log \sigma(m^k_{uv}) + (1 - t_{uv})
#   \log(1 - \sigma(m^k_{uv}))\big]$. The other $K - 1$ masks get no gradient. So the classes
#   do **not compete** at a pixel: the mask branch only has to say "object or not", and the
#   classification branch says which class. The paper's ablation found a per-pixel softmax over
#   classes (as in FCN) about 5 points of mask AP worse.
# * **At test time** only the mask of the predicted class is used; it is resized to the box,
#   thresholded at 0.5 and pasted into the image.
#
# The head's shapes, with random weights and 6 RoIs of a 3-class problem:

# %%
R, K_cls, C_roi = 6, 3, 32                                     # RoIs, classes, feature channels
mask_head = nn.Sequential(
    *[m for _ in range(4) for m in (nn.Conv2d(C_roi, C_roi, 3, padding=1), nn.ReLU())],
    nn.ConvTranspose2d(C_roi, C_roi, kernel_size=2, stride=2), nn.ReLU(),
    nn.Conv2d(C_roi, K_cls, kernel_size=1))
roi_features = torch.randn(R, C_roi, 14, 14)                   # what RoIAlign would give
mask_logits = mask_head(roi_features)                          # (R, K, 28, 28)
gt_class = torch.tensor([0, 2, 1, 1, 0, 2])                    # (R,) class of each RoI's object
gt_masks = (torch.rand(R, 28, 28) > 0.5).float()               # (R, 28, 28) targets
own = mask_logits[torch.arange(R), gt_class]                   # (R, 28, 28): one mask per RoI
loss_mask = F.binary_cross_entropy_with_logits(own, gt_masks)
print("RoI features", tuple(roi_features.shape), "-> mask logits", tuple(mask_logits.shape),
      "-> masks used by the loss", tuple(own.shape))
print(f"mask loss at initialisation: {loss_mask.item():.3f} (log 2 = {np.log(2):.3f})")
loss_mask.backward()
g = mask_head[-1].weight.grad[:, :, 0, 0].abs().sum(1)         # gradient reaching each class
print("gradient reaching the 1x1 conv of each class:", g.numpy().round(4))

# %% [markdown]
# Every class's output layer receives gradient here, because every class is the ground truth of
# some RoI; for a single RoI, only its own class's mask would be trained. The contrast with a
# softmax over classes fits in two numbers: suppose at one pixel the circle mask and the square
# mask both say "object" with logit 3. With independent sigmoids, the circle's loss at that pixel
# is $-\log \sigma(3) \approx 0.05$ whatever the square mask says. With a softmax across the two
# classes the same pixel costs $-\log \frac{e^3}{e^3 + e^3} = \log 2 \approx 0.69$: the circle
# mask is punished because the square mask is also confident. Decoupling the classes removes
# that competition.

# %%
logits_pixel = torch.tensor([3.0, 3.0])                         # circle, square at one pixel
print(f"sigmoid loss of the circle mask: {F.softplus(-logits_pixel[0]).item():.3f}   "
      f"softmax loss of the circle class: "
      f"{F.cross_entropy(logits_pixel[None], torch.tensor([0])).item():.3f}")

# %% [markdown]
# ### 7.3 From a $28 \times 28$ mask to the image, and back
#
# A mask head predicts masks in the RoI's own coordinates, always $28 \times 28$ whatever the
# object's size. Two conversions link them to the image:
#
# * **the target**: the object's ground-truth mask, cut to the RoI and resampled to
#   $28 \times 28$ (`mrcnn.mask_target`);
# * **pasting**: the predicted $28 \times 28$ probabilities, resized to the box, thresholded at
#   0.5 and written into an empty image (`mrcnn.paste_mask`).
#
# Below, an object of a held-out scene goes there and back, first with its true box, then with a
# box shifted by a few pixels, as a real detector's box would be. We also run the round trip on
# every held-out object.

# %%
i_o = int(np.argmax([len(b) for b in test.boxes]))
k_o = int(np.argmax([m.sum() for m in test.masks[i_o]]))          # its largest object
m_true, b_true = test.masks[i_o][k_o], test.boxes[i_o][k_o]
target = mrcnn.mask_target(m_true, b_true, 28)                    # (28, 28) in [0, 1]
back = mrcnn.paste_mask(target, b_true, (64, 64))                 # (64, 64) bool
b_shift = b_true + np.array([3, -2, 3, -2])                       # a box 3 px right, 2 px up
back_shift = mrcnn.paste_mask(target, b_shift, (64, 64))


def mask_iou(a, b):
    return (a & b).sum() / (a | b).sum()


round_trip = [mask_iou(mrcnn.paste_mask(mrcnn.mask_target(m, b, 28), b, (64, 64)), m)
              for masks, boxes in zip(test.masks, test.boxes, strict=True)
              for m, b in zip(masks, boxes, strict=True)]
print(f"round trip through 28 x 28 with the true box, all {len(round_trip)} held-out objects: "
      f"mean IoU {np.mean(round_trip):.3f}, worst {np.min(round_trip):.3f}")
side = max(float(np.max(b[:, 2:] - b[:, :2])) for b in test.boxes if len(b))
print(f"the longest box side among them is {side:.0f} pixels, "
      f"{'no more' if side <= 28 else 'more'} than the 28 cells of the grid")

fig, axes = plt.subplots(1, 4, figsize=(12, 3.3))
show_scene(axes[0], test.images[i_o], b_true[None], test.labels[i_o][k_o:k_o + 1],
           title=f"object: {CLASSES[test.labels[i_o][k_o]]}, box {b_true.astype(int).tolist()}")
axes[1].imshow(target, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
axes[1].set_title("28 x 28 target (the box's view)", fontsize=9)
for ax, pasted, b, t in [(axes[2], back, b_true, "pasted into the true box"),
                         (axes[3], back_shift, b_shift, "pasted into a shifted box")]:
    over = 0.35 * test.images[i_o].copy()
    over[m_true] = [0.2, 0.45, 0.9]                               # true mask blue
    over[pasted & ~m_true] = [0.95, 0.2, 0.1]                     # extra pixels red
    over[pasted & m_true] = [0.95, 0.95, 0.95]                    # overlap white
    show_scene(ax, over, b[None], None,
               title=f"{t}\nIoU with the true mask {mask_iou(pasted, m_true):.2f}", color="y")
axes[1].set_xticks([])
axes[1].set_yticks([])
fig.tight_layout()
plt.show()

# %% [markdown]
# (White: pixels in both masks; blue: missed; red: extra.) With the true box the round trip is
# practically lossless here (the mean and worst IoU printed above), because no box side is longer
# than the grid has cells (the second line): the $28 \times 28$ grid is as fine as the image. A
# 300-pixel-wide object in a photograph shares the same 28 cells per side, so its outline is drawn
# with cells of about 11 pixels and then interpolated; in the paper this was still enough for
# state-of-the-art masks on COCO, and later work (PointRend, for instance) refines the outlines of
# large objects. The shifted box shows the other lesson: the pasted mask moves with the box, so a
# mask is only as good as its box.
#
# ### 7.4 Keypoints: a one-hot mask per keypoint
#
# The same branch estimates **human pose**. A keypoint (left shoulder, right knee; 17 of them in
# COCO) is treated as a mask with a **single** foreground pixel: the head predicts one
# $56 \times 56$ map per keypoint type, and its loss is a **softmax over all $56^2$ positions**
# with the cross-entropy of the one correct position. The softmax is right here because every
# keypoint is at exactly one place, so the positions *should* compete (unlike the classes of
# the mask head). At test time the arg-max position, mapped back through the box, is the
# keypoint. The paper's keypoint head stacks eight $3 \times 3$ convolutions, a transposed
# convolution and a $2\times$ bilinear upsampling to reach $56 \times 56$.
#
# Our shapes have no joints, but a triangle has three natural keypoints: its apex and the two
# corners of its base. Here they are as one-hot $56 \times 56$ targets, with the loss of a
# uniform map (the loss at initialisation, $\log 56^2$) and of a confident, correct one:

# %%
tri = [(i, k) for i in range(len(test)) for k in range(len(test.labels[i]))
       if test.labels[i][k] == 2 and test.sizes[i][k] == 1]
i_t, k_t = max(tri, key=lambda ik: test.masks[ik[0]][ik[1]].sum())     # a large, visible one
x1, y1, x2, y2 = test.boxes[i_t][k_t]
keypoints = {"apex": ((x1 + x2) / 2, y1), "base left": (x1, y2), "base right": (x2, y2)}
m56 = 56
box_t = (x1, y1, x2, y2)
view56 = np.stack([mrcnn.mask_target(test.images[i_t][..., ch], box_t, m56) for ch in range(3)],
                  axis=-1)                                       # (56, 56, 3): the RoI's view
fig, axes = plt.subplots(1, 4, figsize=(12, 3.4))
show_scene(axes[0], test.images[i_t], test.boxes[i_t][k_t][None], [2], title="keypoints")
for ax, (name, pt), col in zip(axes[1:], keypoints.items(), CLASS_COLORS[4:7], strict=True):
    r, c = mrcnn.keypoint_target(pt, box_t, m56)                 # the one hot cell
    target_idx = torch.tensor([r * m56 + c])                     # softmax over 3136 positions
    uniform = torch.zeros(1, m56 * m56)                          # an untrained head's logits
    confident = torch.zeros(1, m56 * m56)
    confident[0, r * m56 + c] = 10.0
    l_u = F.cross_entropy(uniform, target_idx).item()
    l_c = F.cross_entropy(confident, target_idx).item()
    onehot = np.zeros((m56, m56))
    onehot[r, c] = 1.0
    xd, yd = mrcnn.keypoint_from_heatmap(onehot, box_t)          # back to image coordinates
    ax.imshow(0.35 * view56 + 0.4, extent=(0, m56, m56, 0), interpolation="nearest")
    ax.add_patch(Rectangle((c, r), 1, 1, color="k"))             # the single target pixel
    ax.add_patch(plt.Circle((c + 0.5, r + 0.5), 3.5, fill=False, ec=col, lw=2, clip_on=False))
    ax.set_xlim(-2, m56 + 2)
    ax.set_ylim(m56 + 2, -2)
    ax.set_title(f"{name}: one-hot at cell ({r}, {c})", fontsize=9)
    ax.set_xlabel(f"loss: uniform {l_u:.2f}, confident {l_c:.3f}", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    axes[0].plot(xd, yd, "o", ms=7, mfc=col, mec="k")
fig.suptitle("the 56 x 56 grid over the box (image faded): one target pixel per keypoint; "
             "dots on the left: decoded back to the image", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Check yourself
#
# **1.** A sliding-window segmenter uses $65 \times 65$ patches on a $512 \times 512$ image. How
# many patches does it classify, and how many times is each pixel read? What does the fully
# convolutional version change?
#
# <details><summary>Answer</summary>
#
# $512^2 = 262\,144$ patches, and each pixel is read $65^2 = 4225$ times (fewer near the
# border). The fully convolutional version applies the same weights to the whole image once, so
# every intermediate feature is computed once and shared by all the patches that contain it; the
# scores are the same.
# </details>
#
# **2.** Why do segmentation networks downsample at all, if they must output a full-resolution
# map?
#
# <details><summary>Answer</summary>
#
# To see enough context at an affordable cost. Padded $3 \times 3$ convolutions at full
# resolution widen the receptive field by only 2 pixels per layer and cost $HWC^2 \cdot 9$ each;
# halving the resolution widens the field geometrically and makes the deep layers cheap. The
# decoder (with skip connections for the lost detail) then brings the resolution back.
# </details>
#
# **3.** A `ConvTranspose2d` with $K = 4$, $S = 2$, $P = 1$ receives a $16 \times 16$ map. What
# size comes out? And with $K = 3, S = 2, P = 1$, which output_padding gives $32 \times 32$?
#
# <details><summary>Answer</summary>
#
# $(16 - 1) \cdot 2 - 2 + 4 = 32$. With $K = 3$: $(16 - 1) \cdot 2 - 2 + 3 = 31$, so
# output_padding $= 1$ gives 32.
# </details>
#
# **4.** Why is "deconvolution" a misleading name for a transposed convolution?
#
# <details><summary>Answer</summary>
#
# Deconvolution means inverting a convolution (recovering $x$ from $y = w * x$). A transposed
# convolution multiplies by $C^\top$, not by $C^{-1}$: it reverses the *shapes* (and is the
# convolution's backward pass), not the operation. $C^\top C \neq I$ in general.
# </details>
#
# **5.** Which of these transposed convolutions leave a checkerboard of uneven overlap:
# $(K, S) = (3, 2), (4, 2), (2, 2), (5, 3), (6, 3)$? What is the usual remedy?
#
# <details><summary>Answer</summary>
#
# Those where $K$ is not a multiple of $S$: $(3, 2)$ and $(5, 3)$. $(4, 2)$, $(2, 2)$ and
# $(6, 3)$ cover every inner position equally often. The remedy: resize (nearest or bilinear),
# then an ordinary convolution; or choose $K$ divisible by $S$.
# </details>
#
# **6.** What does max unpooling need from the encoder, and why must the layers come in pairs?
#
# <details><summary>Answer</summary>
#
# The positions (switches) of the maxima that each max-pooling layer picked. The decoder's
# unpooling layer writes its values at the positions recorded by the encoder layer of the same
# resolution, so each unpooling layer is tied to one pooling layer.
# </details>
#
# **7.** A segmenter labels every pixel "background" on our held-out scenes. What are its pixel
# accuracy and its mean IoU over the shapes? What does that say about the two measures?
#
# <details><summary>Answer</summary>
#
# Its pixel accuracy is the background share of the pixels, printed in section 6.3 (most of
# the image); its IoU is 0 for every shape, so the mean IoU over the shapes is 0. Pixel
# accuracy is dominated by the frequent class; mean IoU weighs every class equally and
# penalises both missed and extra pixels.
# </details>
#
# **8.** A Mask R-CNN for the 80 COCO classes processes 100 RoIs. What shape does its mask
# branch output, which masks enter the loss, and why a sigmoid rather than a softmax?
#
# <details><summary>Answer</summary>
#
# $(100, 80, 28, 28)$ logits. The loss uses, for each RoI, only the mask of its ground-truth
# class (binary cross-entropy with a per-pixel sigmoid). With a sigmoid per class the masks of
# different classes do not compete; the class decision is left to the classification branch,
# and the mask only has to separate object from background. In the paper this worked clearly
# better than a softmax over classes.
# </details>
#
# **9.** Why does the keypoint head use a softmax over all $56^2$ positions, when the mask head
# uses independent sigmoids?
#
# <details><summary>Answer</summary>
#
# A keypoint is at exactly one position, so the positions should compete: the softmax makes the
# heatmap a probability distribution over locations and the cross-entropy rewards putting the
# mass at the right one. A mask has many foreground pixels, each an independent yes/no.
# </details>
#
# **10.** Three $3 \times 3$ convolutions with dilations 1, 2 and 4 and stride 1: what is the
# receptive field, and what padding keeps the resolution?
#
# <details><summary>Answer</summary>
#
# $1 + 2 \cdot 1 + 2 \cdot 2 + 2 \cdot 4 = 15$ pixels. Padding equal to the dilation (1, 2, 4)
# keeps the size.
# </details>
#
# ## Summary
#
# * **Semantic** segmentation labels every pixel with a class; **instance** segmentation finds
#   every object's mask; **panoptic** segmentation gives every pixel a class and every *thing*
#   pixel an instance id (stuff has none).
# * Classifying a patch around every pixel repeats nearly all the work; a **fully convolutional**
#   network computes the same scores for all pixels at once.
# * Full resolution throughout is too expensive and sees too little; networks go **down**
#   (pooling, strides) **and up** (unpooling, transposed convolutions), with **skip
#   connections** (FCN, U-Net) bringing back detail. **Dilated** convolutions (DeepLab) keep
#   resolution while widening the receptive field.
# * Parameter-free upsampling: nearest neighbour, bed of nails, **max unpooling** with the
#   positions remembered by the paired pooling layer.
# * A **transposed convolution** stamps a scaled copy of the kernel for every input value,
#   $S$ apart: $n_\text{out} = (n - 1)S - 2P + K + \text{output\_padding}$. It multiplies by
#   $C^\top$, the transpose of a convolution's matrix, and is the convolution's backward pass.
#   When $K$ is not a multiple of $S$ the stamps overlap unevenly (**checkerboard**);
#   resize-then-convolve avoids it.
# * Segmenters train with the **per-pixel cross-entropy** and are scored by **per-class IoU**
#   and **mean IoU** from the pixel confusion matrix. Our small encoder-decoder learned the
#   shapes on one CPU core, within this notebook's run; most of its remaining wrong pixels sit
#   on or next to a boundary.
# * **Mask R-CNN** adds a mask branch to Faster R-CNN: RoIAlign features, a small FCN, one
#   $28 \times 28$ mask per class trained with a **per-class sigmoid** on the ground-truth
#   class only, resized into the box at test time. Its **keypoint** variant predicts a one-hot
#   $56 \times 56$ map per keypoint with a **softmax over positions**.
#
# ## Papers and further reading
#
# * C. Farabet, C. Couprie, L. Najman, Y. LeCun (2013). Learning hierarchical features for scene
#   labeling. *IEEE TPAMI* 35(8), 1915–1929. Multi-scale convolutional features for labelling
#   every pixel.
# * P. O. Pinheiro, R. Collobert (2014). Recurrent convolutional neural networks for scene
#   labeling. *ICML 2014*. Patch-based labelling with growing context.
# * J. Long, E. Shelhamer, T. Darrell (2015). Fully convolutional networks for semantic
#   segmentation. *CVPR 2015*. Convolutionalised classifiers, learned upsampling, skip
#   connections (FCN-32s/16s/8s).
# * H. Noh, S. Hong, B. Han (2015). Learning deconvolution network for semantic segmentation.
#   *ICCV 2015*. A deep decoder of unpooling and transposed convolutions.
# * O. Ronneberger, P. Fischer, T. Brox (2015). U-Net: convolutional networks for biomedical
#   image segmentation. *MICCAI 2015*.
# * V. Badrinarayanan, A. Kendall, R. Cipolla (2017). SegNet: a deep convolutional
#   encoder-decoder architecture for image segmentation. *IEEE TPAMI* 39(12), 2481–2495. Max
#   unpooling with the encoder's pooling indices.
# * L.-C. Chen, G. Papandreou, I. Kokkinos, K. Murphy, A. L. Yuille (2015). Semantic image
#   segmentation with deep convolutional nets and fully connected CRFs. *ICLR 2015*; and
#   DeepLab: semantic image segmentation with deep convolutional nets, atrous convolution, and
#   fully connected CRFs, *IEEE TPAMI* 40(4), 2018.
# * F. Yu, V. Koltun (2016). Multi-scale context aggregation by dilated convolutions.
#   *ICLR 2016*.
# * V. Dumoulin, F. Visin (2016). A guide to convolution arithmetic for deep learning.
#   arXiv:1603.07285. Output sizes and pictures of transposed convolutions.
# * A. Odena, V. Dumoulin, C. Olah (2016). Deconvolution and checkerboard artifacts. *Distill*.
#   https://distill.pub/2016/deconv-checkerboard/
# * M. D. Zeiler, D. Krishnan, G. W. Taylor, R. Fergus (2010). Deconvolutional networks.
#   *CVPR 2010*. Where the name "deconvolution" entered the field.
# * K. He, G. Gkioxari, P. Dollár, R. Girshick (2017). Mask R-CNN. *ICCV 2017*. The mask
#   branch, RoIAlign, and keypoint detection as one-hot masks.
# * A. Kirillov, K. He, R. Girshick, C. Rother, P. Dollár (2019). Panoptic segmentation.
#   *CVPR 2019*. The task and its panoptic quality measure; things and stuff.
# * A. Kirillov, Y. Wu, K. He, R. Girshick (2020). PointRend: image segmentation as rendering.
#   *CVPR 2020*. Sharper mask outlines for large objects.
# * R. Achanta, A. Shaji, K. Smith, A. Lucchi, P. Fua, S. Süsstrunk (2012). SLIC superpixels
#   compared to state-of-the-art superpixel methods. *IEEE TPAMI* 34(11), 2274–2282.
# * M. Everingham, L. Van Gool, C. K. I. Williams, J. Winn, A. Zisserman (2010). The PASCAL
#   visual object classes (VOC) challenge. *IJCV* 88(2), 303–338. Segmentation scored by IoU.
# * M. Cordts et al. (2016). The Cityscapes dataset for semantic urban scene understanding.
#   *CVPR 2016*.
# * T.-Y. Lin et al. (2014). Microsoft COCO: common objects in context. *ECCV 2014*. Instance
#   masks and keypoints.
# * Stanford CS231n, lecture notes and slides on detection and segmentation
#   (https://cs231n.github.io/): sliding windows, unpooling and the matrix view of transposed
#   convolution.

# %%
print(f"notebook ran in {time.perf_counter() - t_start:.1f} s")
