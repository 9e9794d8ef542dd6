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
# # Lecture 07 — CNN architectures and transfer learning
#
# Lecture 06 gave us the parts of a convolutional network: convolution layers with their kernel
# size, stride and padding, pooling, and the receptive field that grows layer by layer. This
# chapter is about how those parts were put together in the networks that shaped the field, from
# LeNet-5 reading postal codes in 1998 to the ResNets and DenseNets that now serve as the
# backbone of almost every vision system. Each architecture answered a concrete question: how to
# make a network deeper without making it more expensive, how to keep the gradient alive through
# a hundred layers, where the parameters and where the computation go. We will count both for
# every design, with our own code, and check the counts against the published numbers.
#
# The second half asks what to do with such a network once it is trained. Almost nobody trains a
# large CNN from scratch for a new problem: the features it learned on a big data set transfer to
# other tasks. We measure that on the digits.
#
# **After this lecture you can**
#
# 1. read a layer table: output shapes, parameters and multiply-accumulates (MACs) of every
#    layer, and compute each entry by hand;
# 2. explain what LeNet-5, AlexNet, ZFNet, VGG and GoogLeNet each changed, and why fully connected
#    layers hold most parameters while convolutions do most of the work;
# 3. explain why a stack of 3x3 convolutions beats one large kernel and why 1x1 "bottleneck"
#    convolutions make inception modules and ResNet blocks affordable;
# 4. state the degradation problem, write a residual block $y = F(x) + x$, and say what the
#    shortcut does for optimisation;
# 5. describe NiN, Wide ResNet, ResNeXt, stochastic depth, FractalNet, DenseNet and SqueezeNet in a
#    sentence each, and count their blocks;
# 6. choose between batch, layer and group normalisation for a CNN;
# 7. transfer a trained network to a new task by frozen features + a linear classifier or by
#    fine-tuning, and choose between them by the amount of data and its similarity.
#
# **Plan.** Counting tools → LeNet-5 → AlexNet and ZFNet → VGG → GoogLeNet → ResNet (with an
# experiment: plain against residual) → the ideas that followed → a widget to explore block costs
# → the ImageNet scoreboard → normalisation in CNNs → transfer learning → questions, summary,
# papers.
#
# All networks here are torch modules from `dlcv.convolution.architectures` and
# `dlcv.convolution.variants`, counted by `dlcv.convolution.costs` and drawn by
# `dlcv.convolution.diagrams`; an inception module, a ResNet bottleneck and a ResNeXt block are
# also written out in the notebook itself and checked against them. The ImageNet-size ones are
# only *counted*, never run on data: they are built on torch's "meta" device, where a tensor has
# a shape but no storage, so VGG-16's 138 million weights cost neither memory nor time. In
# assignment a3 you write convolution and pooling layers yourself in numpy; here torch provides
# them.

# %%
# %matplotlib inline
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.convolution import architectures as A
from dlcv.convolution.costs import build_on_meta, count_flops, layer_table, receptive_field
from dlcv.convolution.diagrams import draw_network, network_layout
from dlcv.convolution.transfer import (
    SmallCNN,
    extract_features,
    few_shot_indices,
    fine_tune,
    param_groups,
    train_linear_head,
)
from dlcv.convolution.variants import (
    DenseBlock,
    FireModule,
    FractalBlock,
    MLPConv,
    StochasticDepthBlock,
    make_squeezenet,
)
from dlcv.convolution.widgets import BlockCostView
from dlcv.data import load_digits
from dlcv.networks.mlp import count_parameters
from dlcv.networks.normalization import draw_norm_set
from dlcv.networks.training import evaluate, fit
from dlcv.plots import CLASS_COLORS
from dlcv.timing import cap_threads

plt.rcParams.update({"figure.figsize": (8, 3.2), "figure.dpi": 90, "font.size": 10})
np.set_printoptions(precision=4, suppress=True)
_ = torch.manual_seed(0)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine
T_START = time.perf_counter()

# %% [markdown]
# ## 1. Counting what a network costs
#
# Two numbers describe the size of a network: how many **parameters** it has (memory for the
# weights, and capacity to overfit) and how much **computation** one forward pass needs. For a
# convolution layer with $C_\text{in}$ input channels, $C_\text{out}$ filters of size $k \times k$
# and an output map of $H' \times W'$,
#
# $$ \text{parameters} = C_\text{out}\,(C_\text{in} k^2 + 1), \qquad
#    \text{MACs} = C_\text{out}\, C_\text{in}\, k^2\, H' W', $$
#
# where a MAC (multiply-accumulate) is one multiplication and one addition: every output number is
# a dot product of length $C_\text{in} k^2$. A fully connected layer from $D$ to $M$ units has
# $M(D + 1)$ parameters and $MD$ MACs. Papers often call MACs "FLOPs" ("ResNet-34 needs 3.6
# GFLOPs" means 3.6 billion multiply-adds); we say MACs. The weights of a convolution are shared
# over all $H' W'$ positions: its parameter count does not depend on the image size, but its cost
# does.
#
# `layer_table(net, input_shape)` runs one forward pass and records, for every layer, the output
# shape, its parameters and its MACs (forward hooks on the layers; see `count_flops`, which says
# exactly what is counted: Conv2d and Linear layers, not activations, pooling or additions).
#
# ## 2. LeNet-5 (1998)
#
# LeCun, Bottou, Bengio and Haffner trained LeNet-5 with backpropagation to read handwritten
# digits on cheques. It has every ingredient of a modern CNN: convolutions with shared weights,
# subsampling (pooling) that halves the resolution, a growing number of feature maps as the maps
# shrink, and fully connected layers at the end. The pattern **conv-pool-conv-pool-fc-fc** was
# the template for the next fifteen years.

# %%
lenet = A.make_lenet5()
t_lenet = layer_table(lenet, (1, 1, 32, 32))
print(t_lenet)
fc_share = sum(r.params for r in t_lenet if r.name in ("c5", "f6", "out")) / t_lenet.params
c13_share = sum(r.macs for r in t_lenet if r.name in ("c1", "c3")) / t_lenet.macs
print(f"C5, F6 and the output layer hold {fc_share:.0%} of the parameters; C1 and C3 do "
      f"{c13_share:.0%} of the {t_lenet.macs / 1e6:.2f} million MACs")

# %% [markdown]
# The input is a $32 \times 32$ image. C1 has six $5 \times 5$ filters: $6 \times (25 + 1) = 156$
# parameters, and its $28 \times 28$ output ($32 - 5 + 1$) costs $6 \cdot 25 \cdot 784 = 117{,}600$
# MACs. C3 maps 6 channels to 16: $16 \times (6 \cdot 25 + 1) = 2{,}416$ parameters. C5 is a
# convolution whose $5 \times 5$ filters exactly cover its $5 \times 5$ input, so it is really a
# fully connected layer from 400 numbers to 120, and holds $48{,}120$ of the $61{,}706$
# parameters. This is the common modern reading of LeNet-5 (tanh, average pooling, a linear output
# layer). The 1998 network differed in details: C3 connected each map only to a subset of
# the six input maps (1,516 weights instead of 2,416, to save computation and break symmetry), its
# subsampling layers had a trainable coefficient and bias, and the output used radial basis
# function units.
#
# Already here (counting C5 as fully connected, the last printed line): the fully connected end
# holds almost all the parameters, while the two convolutions C1 and C3 do most of the work.
#
# ## 3. AlexNet (2012) and ZFNet (2013)
#
# For the ImageNet Large Scale Visual Recognition Challenge (ILSVRC: 1.2 million training images
# of 1000 classes), Krizhevsky, Sutskever and Hinton trained a much larger CNN on two GPUs and
# won 2012 with a top-5 error of 16.4%, against 26.2% for the runner-up. Its design choices became
# standard, several of them on the list of lecture 05:
#
# * **ReLU** instead of tanh: six times faster training in their experiment on CIFAR-10;
# * **dropout** (p = 0.5) in the two large fully connected layers;
# * heavy **data augmentation**: random $224 \times 224$ crops and horizontal flips of the
#   $256 \times 256$ images, and PCA colour jitter (`dlcv.augment.pca_lighting`);
# * **two GPUs** of 3 GB each: the network was split in halves, and conv2, conv4 and conv5 saw only
#   the maps on their own GPU (a *grouped* convolution with two groups, section 6);
# * **local response normalisation** after conv1 and conv2 (each activation divided by a function
#   of the squared activations of neighbouring channels), later abandoned for batch norm;
# * a large first layer: 96 filters of $11 \times 11$ with stride 4. The output size
#   $(227 - 11)/4 + 1 = 55$ needs a $227 \times 227$ input; the paper says 224, a well-known
#   inconsistency.
#
# SGD with momentum 0.9, learning rate 0.01 divided by ten when the validation error stalled,
# weight decay $5 \cdot 10^{-4}$, and an ensemble of several networks (the 16.4% averages five;
# with two more pre-trained on a larger ImageNet release the team reached 15.3%).

# %%
alexnet = build_on_meta(A.make_alexnet)   # weights on the meta device: shapes only
t_alex = layer_table(alexnet, (1, 3, 227, 227))
print(t_alex)

# %%
conv_rows, fc_rows = t_alex.where("Conv2d"), t_alex.where("Linear")
names = [r.name for r in conv_rows + fc_rows]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
for ax, key, label in zip(axes, ("params", "macs"), ("parameters (millions)", "MACs (millions)"),
                          strict=True):
    vals = np.array([getattr(r, key) for r in conv_rows + fc_rows]) / 1e6
    ax.bar(names, vals, color=[CLASS_COLORS[0]] * len(conv_rows) + [CLASS_COLORS[1]] * len(fc_rows))
    ax.set_ylabel(label)
    for i, v in enumerate(vals):
        ax.text(i, v, f"{v:.1f}", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, vals.max() * 1.15)
axes[0].set_title("AlexNet: where the parameters are")
axes[1].set_title("... and where the computation is")
fig.tight_layout()
plt.show()
print(f"convolutions: {conv_rows.params / t_alex.params:.1%} of the {t_alex.params / 1e6:.1f}M "
      f"parameters, {conv_rows.macs / t_alex.macs:.1%} of the {t_alex.macs / 1e9:.2f}G MACs")
print(f"fully connected layers: {fc_rows.params / t_alex.params:.1%} of the parameters (fc6 "
      f"alone {fc_rows[0].params / 1e6:.1f}M), {fc_rows.macs / t_alex.macs:.1%} of the MACs")

# %% [markdown]
# The picture is the LeNet-5 split at scale (the two lines under the bars): the three fully
# connected layers hold nearly all the parameters, fc6 alone ($9216 \times 4096$ weights) more
# than half of them, while the five convolutions perform nearly all the multiply-accumulates.
# Each weight of fc6 is used once per image; each weight of conv1 is used at
# $55 \times 55 = 3025$ positions.
#
# **ZFNet.** Zeiler and Fergus (2014) built a "deconvolutional" visualisation of what AlexNet's
# units respond to, and found that the first layer's large stride-4 filters produced aliasing and
# many dead filters. Their fix: $7 \times 7$ filters with stride 2 in conv1 (and stride 2 in
# conv2), plus tuned hyperparameters. Zeiler's entry (Clarifai) won ILSVRC 2013 with 11.7%, an
# ensemble that also used wider middle layers. The smaller stride keeps a finer map and costs
# compute:

# %%
t_zf = layer_table(build_on_meta(A.make_zfnet), (1, 3, 224, 224))
for t, name in ((t_alex, "AlexNet"), (t_zf, "ZFNet")):
    print(f"{name:8s} conv1 output {t[0].out_shape[1:]}, {t.params / 1e6:5.1f}M parameters, "
          f"{t.macs / 1e9:.2f}G MACs")

# %% [markdown]
# ## 4. VGG (2014): small filters, deep stacks
#
# Simonyan and Zisserman asked one question: what does depth alone do? Their networks use a
# single kind of convolution, $3 \times 3$ with stride 1 and padding 1 (the smallest filter that
# sees left/right, up/down and centre), and $2 \times 2$ max-pooling with stride 2; the number of
# channels doubles after each pooling, from 64 to 512. VGG-16 (13 convolutions and 3 fully
# connected layers) and VGG-19 placed second in ILSVRC 2014 with 7.3% top-5 error.
#
# Why small filters? Two stacked $3 \times 3$ convolutions see a $5 \times 5$ patch of the input,
# three see $7 \times 7$: each layer adds $k - 1 = 2$ pixels to the receptive field. With $C$
# channels in and out,
#
# $$ \underbrace{3 \times (3^2 C^2)}_{\text{three } 3 \times 3} = 27 C^2
#    \quad\text{versus}\quad \underbrace{7^2 C^2}_{\text{one } 7 \times 7} = 49 C^2 $$
#
# weights, and three ReLUs instead of one, so the stack computes a more non-linear function with
# 45% fewer parameters. We check both claims with torch modules: the parameter counts, and the
# receptive field measured by autograd (which input pixels influence the centre output?).

# %%
C = 64
stack3 = nn.Sequential(*[nn.Conv2d(C, C, 3, padding=1, bias=False) for _ in range(3)])
one7 = nn.Conv2d(C, C, 7, padding=3, bias=False)
print(f"three 3x3: {count_parameters(stack3):,d} = 27 C^2 = {27 * C * C:,d} weights; "
      f"one 7x7: {count_parameters(one7):,d} = 49 C^2 = {49 * C * C:,d}")
print(f"receptive fields by the formula: {receptive_field(stack3)} and "
      f"{receptive_field(one7)}")

fig, axes = plt.subplots(1, 4, figsize=(11, 2.9))
for ax, depth in zip(axes[:3], (1, 2, 3), strict=True):
    net = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1, bias=False) for _ in range(depth)])
    for m in net:
        nn.init.constant_(m.weight, 1.0)  # all-positive weights: nothing cancels
    x = torch.zeros(1, 1, 11, 11, requires_grad=True)
    net(x)[0, 0, 5, 5].backward()    # gradient of the centre output w.r.t. every input pixel
    ax.imshow(x.grad[0, 0] > 0, cmap="Blues", vmin=0, vmax=1.4)
    ax.set_title(f"{depth} stacked 3x3: {int((x.grad[0, 0, 5] > 0).sum())} x "
                 f"{int((x.grad[0, 0, :, 5] > 0).sum())}", fontsize=9)
x = torch.zeros(1, 1, 11, 11, requires_grad=True)
big = nn.Conv2d(1, 1, 7, padding=3, bias=False)
nn.init.constant_(big.weight, 1.0)
big(x)[0, 0, 5, 5].backward()
axes[3].imshow(x.grad[0, 0] > 0, cmap="Oranges", vmin=0, vmax=1.4)
axes[3].set_title("one 7x7: 7 x 7", fontsize=9)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("input pixels that reach the centre output unit (an 11 x 11 input)", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# Now the whole of VGG-16, summarised per layer: where do the parameters, the computation and the
# memory of one forward pass go? The memory counted is the number of activations each layer
# outputs (4 bytes each in float32); training must keep all of them for the backward pass.

# %%
vgg16 = build_on_meta(A.make_vgg, 16)
t_vgg = layer_table(vgg16, (1, 3, 224, 224))
rows = [r for r in t_vgg if r.kind in ("Conv2d", "Linear", "MaxPool2d")]
labels = [r.name for r in rows]
fig, axes = plt.subplots(3, 1, figsize=(11, 6.2), sharex=True)
for ax, vals, ylabel, c in zip(
        axes, ([r.activations / 1e6 for r in rows], [r.params / 1e6 for r in rows],
               [r.macs / 1e9 for r in rows]),
        ("activations (M)", "parameters (M)", "MACs (G)"), CLASS_COLORS[:3], strict=True):
    ax.bar(np.arange(len(rows)), vals, color=c)
    ax.set_ylabel(ylabel)
axes[-1].set_xticks(np.arange(len(rows)), labels, rotation=70, fontsize=8)
axes[0].set_title("VGG-16, layer by layer, for one 224 x 224 image")
fig.tight_layout()
plt.show()
acts = t_vgg.activations + 3 * 224 * 224
print(f"VGG-16: {count_parameters(vgg16):,d} parameters ({4 * t_vgg.params / 2**20:.0f} MB), "
      f"{t_vgg.macs / 1e9:.1f}G MACs")
print(f"activations of one forward pass: {acts / 1e6:.1f}M numbers = {4 * acts / 2**20:.0f} MB "
      f"per image (roughly double it for the backward pass)")
print(f"first two conv layers: {sum(r.activations for r in rows[:2]) / acts:.0%} of the "
      f"activations; fc6: {t_vgg.where('Linear')[0].params / t_vgg.params:.0%} of the parameters")
print("G MACs of each convolution: " + ", ".join(f"{r.name} {r.macs / 1e9:.3f}"
                                                 for r in t_vgg.where("Conv2d")))
print(f"VGG-16 needs {t_vgg.macs / t_alex.macs:.0f} times the MACs of AlexNet")

# %% [markdown]
# Three different profiles, measured in the lines printed above. **Memory** is spent early: the
# first two $224 \times 224 \times 64$ maps alone hold a large share of all activations.
# **Parameters** are spent late: fc6 maps $7 \cdot 7 \cdot 512 = 25{,}088$ numbers to 4096 and
# holds most of the network's parameters. **Computation** is spread over the convolutions of all
# stages (the per-convolution line): each stage halves the map and doubles the channels, so in
# stages 1-4 every convolution that keeps the number of channels costs the same. The first
# convolution of stages 2-4 doubles the channels and costs half as much; those of the last
# stage, where the channels stop doubling, cost a quarter as much. The very first convolution,
# conv1_1, is cheap: its input has 3 colour channels instead of 64, so it costs 3/64 of conv1_2.
# In all, VGG-16 needs the multiple of AlexNet's computation printed in the last line. Its
# features are simple and uniform, which made it a favourite backbone for transfer learning and
# style transfer.
#
# ## 5. GoogLeNet and the inception module (2014)
#
# Szegedy et al. won ILSVRC 2014 (6.7% top-5 error) with a 22-layer network designed around a
# computational budget of about 1.5 billion MACs per image. Its building block, the **inception
# module**, applies $1 \times 1$, $3 \times 3$ and $5 \times 5$ convolutions and a $3 \times 3$
# max-pool to the same input in parallel and concatenates their outputs along the channels: the
# next layer chooses among features at several scales. Done naively, this is expensive: the
# $5 \times 5$ filters see all input channels, and the pool branch keeps all of them, so the depth
# grows with every module. The fix is a **$1 \times 1$ convolution as a bottleneck**: it mixes
# channels at each position and reduces $C$ to fewer channels before the expensive filters (and
# after the pool).
#
# Take the module's input as $28 \times 28 \times 256$ and branches of 128, 192 and 96 filters.
# The naive module costs
#
# $$ 28^2 \cdot 256 \cdot (128 \cdot 1 + 192 \cdot 9 + 96 \cdot 25) \approx 854 \text{ M MACs}, $$
#
# and its output has $128 + 192 + 96 + 256 = 672$ channels. With $1 \times 1$ reductions to 64
# channels before the $3 \times 3$ and $5 \times 5$ convolutions and a 64-filter projection after
# the pool:

# %%
naive = A.InceptionModule(256, c1=128, c3=192, c5=96)
bottleneck = A.InceptionModule(256, c1=128, c3=192, c5=96, reduce3=64, reduce5=64, pool_proj=64)
inception_macs = {}
for name, m in (("naive", naive), ("with 1x1 bottlenecks", bottleneck)):
    t = layer_table(m, (1, 256, 28, 28))
    inception_macs[name] = t.macs
    print(f"{name:21s}: output {m.out_channels} channels, {count_parameters(m):>9,d} "
          f"parameters, {t.macs / 1e6:6.1f}M MACs")
    for r in t.where("Conv2d"):
        print(f"    {r.name:22s} -> {r.out_shape[1]:3d} channels  {r.macs / 1e6:6.1f}M MACs")
print(f"the bottlenecks divide the MACs by "
      f"{inception_macs['naive'] / inception_macs['with 1x1 bottlenecks']:.1f} and the output "
      f"depth goes from {naive.out_channels} to {bottleneck.out_channels} channels")

# %% [markdown]
# The bottlenecks divide the computation by the factor printed in the last line, and the output
# depth stays under control. The $1 \times 1$ convolution is the cheap workhorse of everything
# that follows: it changes the number of channels at a cost of $C_\text{in} C_\text{out}$ per
# position.
#
# Written out, the module is four branches and a concatenation. Here it is as a small torch
# module of our own, checked against `A.InceptionModule`: we copy the weights of `bottleneck`
# into it and compare shapes, parameter counts and outputs (`same_as`, which the ResNet and
# ResNeXt blocks below use too).

# %%
class Inception(nn.Module):
    """GoogLeNet's inception module with 1x1 bottlenecks. x: (N, c_in, H, W) ->
    (N, c1 + c3 + c5 + pool_proj, H, W); every convolution is followed by a ReLU."""

    def __init__(self, c_in, c1, reduce3, c3, reduce5, c5, pool_proj):
        super().__init__()
        self.branch1 = nn.Conv2d(c_in, c1, 1)                          # (N, c1, H, W)
        self.branch3 = nn.Sequential(nn.Conv2d(c_in, reduce3, 1),      # (N, reduce3, H, W)
                                     nn.ReLU(),
                                     nn.Conv2d(reduce3, c3, 3, padding=1))  # (N, c3, H, W)
        self.branch5 = nn.Sequential(nn.Conv2d(c_in, reduce5, 1),      # (N, reduce5, H, W)
                                     nn.ReLU(),
                                     nn.Conv2d(reduce5, c5, 5, padding=2))  # (N, c5, H, W)
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),  # (N, c_in, H, W)
                                         nn.Conv2d(c_in, pool_proj, 1))  # (N, pool_proj, H, W)

    def forward(self, x):                                # x: (N, c_in, H, W)
        y1 = F.relu(self.branch1(x))                     # (N, c1, H, W)
        y3 = F.relu(self.branch3(x))                     # (N, c3, H, W)
        y5 = F.relu(self.branch5(x))                     # (N, c5, H, W)
        yp = F.relu(self.branch_pool(x))                 # (N, pool_proj, H, W)
        return torch.cat([y1, y3, y5, yp], dim=1)        # (N, c1 + c3 + c5 + pool_proj, H, W)


def same_as(mine, theirs, x):
    """Copy theirs' weights into mine (the same tensors in the same order), run both on x in
    eval mode and print output shapes, parameter counts and whether the outputs agree."""
    with torch.no_grad():
        for (k, p), q in zip(mine.state_dict().items(), theirs.state_dict().values(),
                             strict=True):
            assert p.shape == q.shape, f"{k}: {tuple(p.shape)} vs {tuple(q.shape)}"
            p.copy_(q)
        y_mine, y_theirs = mine.eval()(x), theirs.eval()(x)
    print(f"{type(mine).__name__:12s} output {tuple(y_mine.shape)}, {count_parameters(mine):,d} "
          f"parameters; {type(theirs).__name__}: output {tuple(y_theirs.shape)}, "
          f"{count_parameters(theirs):,d} parameters; same output: "
          f"{torch.allclose(y_mine, y_theirs, atol=1e-5)}")


same_as(Inception(256, c1=128, reduce3=64, c3=192, reduce5=64, c5=96, pool_proj=64), bottleneck,
        torch.randn(2, 256, 28, 28))

# %% [markdown]
# Two more ideas of GoogLeNet:
#
# * **No large fully connected layers.** After the last module, **global average pooling** turns
#   each of the 1024 $7 \times 7$ maps into one number, and a single linear layer maps them to 1000
#   classes ($1024 \times 1000$ weights; the cell below compares them with AlexNet's three FC
#   layers).
# * **Auxiliary classifiers** on two intermediate modules (4a and 4d) add their losses (weight 0.3)
#   during training, injecting gradient into the middle of the network. They are dropped at test
#   time; with batch norm, later versions did without them.

# %%
googlenet = build_on_meta(A.make_googlenet)
t_g = layer_table(googlenet, (1, 3, 224, 224))
print(f"GoogLeNet: {count_parameters(googlenet) / 1e6:.1f}M parameters "
      f"(AlexNet: {count_parameters(alexnet) / 1e6:.1f}M, "
      f"{count_parameters(alexnet) / count_parameters(googlenet):.0f}x more), "
      f"{t_g.macs / 1e9:.2f}G MACs, {len(t_g.where('Conv2d', 'Linear'))} convolution and linear "
      f"layers in all (22 along the deepest path)")
print(f"its classifier: {t_g.where('Linear').params / 1e6:.1f}M parameters, AlexNet's three FC "
      f"layers: {fc_rows.params / 1e6:.1f}M; GoogLeNet needs {t_g.macs / t_alex.macs:.1f} times "
      f"the MACs of AlexNet")

# %% [markdown]
# Our count (the first line) is the network of the paper's Table 1 without the auxiliary
# classifiers; the paper's claim of "12 times fewer parameters than AlexNet" (about 5M) is the
# number you often see quoted. Either way, GoogLeNet is deeper, more accurate and much smaller
# than AlexNet, at the multiple of its computation printed in the last line.
#
# ## 6. ResNet (2015): learning residuals
#
# ### 6.1 The degradation problem
#
# With batch normalisation and good initialisation, networks of 20-30 layers train. But He,
# Zhang, Ren and Sun observed something surprising when they went deeper: on CIFAR-10, a 56-layer
# "plain" network (a VGG-like stack) had a *higher training error* than a 20-layer one, and on
# ImageNet a plain 34-layer network had a higher training error than a plain 18-layer one. That
# is not overfitting (the training error is worse) and not a lack of capacity: a deeper network
# could copy the shallow one and set its extra layers to the identity. The solvers simply fail
# to find such solutions; the authors checked that the gradients did not vanish (BN keeps the
# signals healthy) and called it an **optimisation** difficulty, the *degradation problem*.
#
# ### 6.2 Residual blocks
#
# Their answer: let a block of layers learn the *difference* to the identity. If $H(x)$ is the
# mapping we want, the layers learn $F(x) = H(x) - x$, and the block outputs
#
# $$ y = F(x, \{W_i\}) + x . $$
#
# If the identity is nearly optimal, pushing $F$ to zero is easy (weights toward 0), whereas a
# stack of non-linear layers has to work hard to represent the identity. The **shortcut** adds no
# parameter and almost no computation. The backward pass shows why this helps:
# $\partial y / \partial x = \partial F / \partial x + I$, so the gradient from the loss reaches
# every earlier block directly, through a chain of additions, as well as through the layers.
#
# Details of the ResNet design (`A.BasicBlock`, `A.Bottleneck`):
#
# * the **basic block** is conv3x3-BN-ReLU-conv3x3-BN, added to the shortcut, then a ReLU;
# * when a block halves the map and doubles the channels, the shortcut must change shape too: a
#   **projection** shortcut, a $1 \times 1$ convolution with stride 2 (option B of the paper),
#   used only there; everywhere else the shortcut is the identity;
# * for ResNet-50 and deeper, the **bottleneck block** $1 \times 1$ (reduce to $C/4$) -
#   $3 \times 3$ - $1 \times 1$ (expand back to $C$) keeps the cost per block low;
# * batch norm after every convolution, He initialisation (lecture 05), SGD with momentum 0.9,
#   learning rate 0.1 divided by 10 on plateaus, weight decay $10^{-4}$, no dropout;
# * like GoogLeNet: global average pooling and a single FC layer at the end.
#
# Written out, a bottleneck block is a dozen lines of torch. We check ours against `A.Bottleneck`
# twice: a block that keeps its 256 channels (identity shortcut), and the first block of
# ResNet-50's third stage, which halves the map and goes from 256 to 512 channels (projection
# shortcut).

# %%
class BottleneckBlock(nn.Module):
    """ResNet's bottleneck: 1x1 (reduce) -> 3x3 (stride s) -> 1x1 (expand), each with BN, plus
    the shortcut. x: (N, c_in, H, W) -> (N, c_out, H/s, W/s)."""

    def __init__(self, c_in, c_mid, c_out, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_mid, 1, bias=False)                # (N, c_mid, H, W)
        self.bn1 = nn.BatchNorm2d(c_mid)                                  # same shape
        self.conv2 = nn.Conv2d(c_mid, c_mid, 3, stride, 1, bias=False)    # (N, c_mid, H/s, W/s)
        self.bn2 = nn.BatchNorm2d(c_mid)                                  # same shape
        self.conv3 = nn.Conv2d(c_mid, c_out, 1, bias=False)               # (N, c_out, H/s, W/s)
        self.bn3 = nn.BatchNorm2d(c_out)                                  # same shape
        self.projection = None                        # identity when the shape is kept, else:
        if stride != 1 or c_in != c_out:
            self.projection = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                            nn.BatchNorm2d(c_out))    # (N, c_out, H/s, W/s)

    def forward(self, x):                                      # x: (N, c_in, H, W)
        h = F.relu(self.bn1(self.conv1(x)))                    # (N, c_mid, H, W)
        h = F.relu(self.bn2(self.conv2(h)))                    # (N, c_mid, H/s, W/s)
        h = self.bn3(self.conv3(h))                            # (N, c_out, H/s, W/s): F(x)
        s = x if self.projection is None else self.projection(x)  # (N, c_out, H/s, W/s)
        return F.relu(h + s)                                   # (N, c_out, H/s, W/s)


x = torch.randn(2, 256, 14, 14)
same_as(BottleneckBlock(256, 64, 256), A.Bottleneck(256, 64), x)
same_as(BottleneckBlock(256, 128, 512, stride=2), A.Bottleneck(256, 128, 512, stride=2), x)

# %% [markdown]
# The bottleneck is what makes 50-152 layers affordable. On a 256-channel map:

# %%
def conv_weights(m):
    return sum(x.weight.numel() for x in m.modules() if isinstance(x, nn.Conv2d))


two3x3 = A.BasicBlock(256, 256)
bneck = A.Bottleneck(256, 64)  # 256 -> 64 -> 64 -> 256
for name, blk in (("basic block, two 3x3 on 256", two3x3), ("bottleneck 256-64-64-256", bneck)):
    print(f"{name:28s}: {conv_weights(blk):>9,d} conv weights, "
          f"{count_flops(blk, (1, 256, 56, 56)) / 1e6:6.1f}M MACs on 56 x 56")
print(f"the paper's comparison: a basic block on 64 channels has {conv_weights(A.BasicBlock(64, 64)):,d}"
      f" weights, about the same as the 256-d bottleneck")

# %%
paper_gflops = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}  # He et al. (2016), Table 1
print(f"{'network':10s} {'parameters':>12s} {'G MACs':>8s} {'paper':>6s} {'ours / paper':>13s}")
resnet_costs = {}
for depth, paper in paper_gflops.items():
    net = build_on_meta(A.make_resnet, depth)
    resnet_costs[depth] = count_parameters(net), count_flops(net, (1, 3, 224, 224))
    gmacs = resnet_costs[depth][1] / 1e9
    print(f"ResNet-{depth:<3d} {resnet_costs[depth][0] / 1e6:10.1f}M {gmacs:8.2f} {paper:6.1f} "
          f"{gmacs / paper:13.2f}")
p152, m152 = resnet_costs[152]
print(f"ResNet-152 against VGG-16: {m152 / 1e9:.1f} against {t_vgg.macs / 1e9:.1f} G MACs "
      f"({'fewer' if m152 < t_vgg.macs else 'more'}), {p152 / 1e6:.1f}M against "
      f"{t_vgg.params / 1e6:.1f}M parameters ({p152 / t_vgg.params:.0%} of VGG-16's)")

# %% [markdown]
# ResNet-152 needs fewer MACs than VGG-16 with almost ten times the depth, and less than half of
# its parameters (the last line; He et al. give 11.3 against 15.3 billion "FLOPs"). The column
# "paper" is He et al.'s own count (their Table 1, which calls MACs FLOPs): ours is close for
# ResNet-18 and -34, and higher for the bottleneck networks, most of all for ResNet-50, because
# the paper put the stride of a stage's first block on its first $1 \times 1$ convolution, so
# that the $3 \times 3$ after it already runs on the halved map; we (and torchvision) put it on
# the $3 \times 3$. An ensemble of ResNets won ILSVRC 2015 with 3.57% top-5 error, below the
# 5.1% estimated for a trained human annotator. The same residual networks won that year's
# detection and segmentation tracks too.
#
# Here is ResNet-18 as a block diagram, read off the network itself by
# `dlcv.convolution.diagrams` (the boxes are its convolutions, pools and classifier in the order
# they run, coloured by kernel size; the numbers under a box are its output's channels and map
# size, wherever they change). Every convolution is followed by batch norm and a ReLU. Each arc is
# a shortcut: it carries a block's input past its two convolutions and adds it to their output.
# Where a stage halves the map and doubles the channels, the shortcut is the $1 \times 1$
# projection with stride 2 (dashed).

# %%
fig, ax = plt.subplots(figsize=(12, 3.4))
draw_network(ax, network_layout(build_on_meta(A.make_resnet, 18), (1, 3, 224, 224)))
fig.tight_layout()
plt.show()
#
# ### 6.3 An experiment: plain against residual, on the digits
#
# We build networks for the $8 \times 8$ digits with `A.make_digits_net`: a stem convolution,
# blocks of two $3 \times 3$ convolutions with 8 channels, global average pooling and a linear
# layer, with batch norm and He initialisation. Two of them have 12 blocks (26 weight layers) and
# differ in one thing only: the residual one adds the identity shortcut around each block, the
# plain one does not. A shallow plain network with 3 blocks (8 weight layers) is the reference.
# First, at initialisation, the norm of the loss gradient of every layer's weights, on a batch of
# 256 digits:

# %%
X_all, y_all = load_digits()
X_all = (X_all / 16.0)[:, None].astype(np.float32)   # (1797, 1, 8, 8) in [0, 1]
rng = np.random.default_rng(0)
order = rng.permutation(len(y_all))
tr_idx, va_idx = order[:1400], order[1400:]
Xd_train, yd_train, Xd_val, yd_val = X_all[tr_idx], y_all[tr_idx], X_all[va_idx], y_all[va_idx]

nets = {"plain, 8 layers": lambda: A.make_digits_net(3, width=8, residual=False),
        "plain, 26 layers": lambda: A.make_digits_net(12, width=8, residual=False),
        "residual, 26 layers": lambda: A.make_digits_net(12, width=8, residual=True)}
grads = {k: A.layer_gradient_norms(build(), Xd_train[:256], yd_train[:256])
         for k, build in nets.items()}

fig, ax = plt.subplots(figsize=(8, 3.2))
for k, (name, g) in enumerate(grads.items()):
    ax.semilogy(np.arange(1, len(g) + 1), g, "o-", ms=3, color=CLASS_COLORS[k], label=name)
ax.set_xlabel("layer (1 = first convolution, last = the linear classifier)")
ax.set_ylabel("||dL/dW|| (log)")
ax.set_title("gradient norm of every layer's weights at initialisation")
ax.legend(fontsize=8)
plt.show()
for name, g in grads.items():
    conv = g[:-1]                                    # the convolutions; g[-1] is the classifier
    print(f"{name:20s}: first conv {conv[0]:.3g}, last conv {conv[-1]:.3g}, classifier "
          f"{g[-1]:.3g}; convolutions' largest / smallest = {conv.max() / conv.min():.0f}, "
          f"largest at layer {conv.argmax() + 1}")

# %% [markdown]
# The gradient does not vanish in the deep plain network; with batch norm it does the opposite
# and *grows* towards the input: its first convolution gets the largest gradient, and its
# convolutions' gradients spread over the factor printed in its line, so no single learning rate
# suits all layers. (This agrees with the ResNet paper, which ruled out vanishing gradients, and
# with later analyses showing that batch norm makes deep plain networks' gradients explode at
# initialisation.) In the residual network the convolutions' gradients stay within a much smaller
# factor, and the largest gradient of all is the linear classifier's: each layer sees the loss
# through the chain of identities as well as through the layers above it.
#
# Now we train the three the same way (Adam, batch 64, 5 epochs, through
# `dlcv.networks.training.fit`), each at three learning rates, so that no network is judged at a
# learning rate that suits only the others (the three are chosen so that each network's best
# learning rate is not at the edge of the grid; the lines under the table name it). Degradation
# is a failure to *optimise*, so the number to compare is the training loss: the table gives the
# mean loss of the last epoch's minibatches, the objective the optimiser was minimising (in
# training mode), one column per learning rate.

# %%
LRS = (0.01, 0.03, 0.1)
hists = {}
t0 = time.perf_counter()
for name, build in nets.items():
    for lr in LRS:
        hists[name, lr] = fit(build(), Xd_train, yd_train, Xd_val, yd_val, epochs=5,
                              batch_size=64, lr=lr, optimizer="adam", seed=0)


def last_epoch_loss(h):
    """Mean minibatch loss of the last epoch (training mode)."""
    steps = len(h.loss) // (len(h.epochs) - 1)
    return float(np.mean(h.loss[-steps:]))


loss = {key: last_epoch_loss(h) for key, h in hists.items()}
print(f"({time.perf_counter() - t0:.0f} s) training loss after 5 epochs")
print(f"{'':20s}" + "".join(f"{f'lr {lr:g}':>10s}" for lr in LRS))
for name in nets:
    print(f"{name:20s}" + "".join(f"{loss[name, lr]:10.3f}" for lr in LRS))
best = {name: min(LRS, key=lambda lr, n=name: loss[n, lr]) for name in nets}
for name, lr in best.items():
    h = hists[name, lr]
    print(f"{name:20s} at its best lr ({lr:g}): training loss {loss[name, lr]:.3f} (whole "
          f"training set in eval mode {h.train_loss[-1]:.3f}; first minibatch {h.loss[0]:.3f}), "
          f"validation accuracy {h.val_acc[-1]:.3f}")
plain_worst = all(loss["plain, 26 layers", lr] > max(loss["plain, 8 layers", lr],
                                                     loss["residual, 26 layers", lr]) for lr in LRS)
ref = loss["plain, 8 layers", best["plain, 8 layers"]]
print(f"plain, 26 layers has the highest training loss at every learning rate: {plain_worst}; "
      f"at the best learning rates, relative to plain, 8 layers: plain, 26 layers "
      f"x{loss['plain, 26 layers', best['plain, 26 layers']] / ref:.1f}, residual, 26 layers "
      f"x{loss['residual, 26 layers', best['residual, 26 layers']] / ref:.1f}")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
for k, name in enumerate(nets):
    h = hists[name, best[name]]
    smooth = np.convolve(h.loss, np.ones(7) / 7, mode="valid")   # running mean over 7 steps
    axes[0].plot(np.arange(len(smooth)) + 4, smooth, color=CLASS_COLORS[k],
                 label=f"{name} (lr {best[name]:g})")
    axes[1].plot(h.epochs, h.val_acc, "o-", ms=3, color=CLASS_COLORS[k], label=name)
axes[0].set_yscale("log")
axes[0].set_xlabel("step")
axes[0].set_ylabel("minibatch loss (log, running mean)")
axes[1].set_xlabel("epoch")
axes[1].set_ylabel("validation accuracy")
axes[0].legend(fontsize=8)
fig.suptitle("each network at its best learning rate", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# The degradation problem in miniature, and not an artefact of one learning rate: the 26-layer
# plain network has the highest training loss in every column of the table, although it could
# represent everything the 8-layer one does (its extra blocks would only have to pass their input
# through). The 26-layer residual network, with exactly the same layers and parameters, ends far
# closer to the 8-layer one (the factors in the last line compare each network's best training
# loss with the shallow one's), and the loss of the whole training set, measured in eval mode,
# tells the same story. What was measured: one run of each network and learning rate (seeds
# fixed), on a small problem, after a short training; He et al. saw the gap last to the end of a
# long training on CIFAR-10, which we have not tried here. Note also the residual network's first
# minibatch loss, above the plain ones': every block adds its branch's output to the signal, so
# the variance grows with depth at initialisation. A common remedy (Goyal et al., 2017) sets the
# scale $\gamma$ of the last batch norm in each branch to zero, so that every block starts as the
# identity.
#
# ## 7. After ResNet: width, cardinality, density, efficiency
#
# ResNet opened a stream of variations. Each is one idea; `dlcv.convolution.variants` (and, for the wide
# and ResNeXt blocks, `dlcv.convolution.architectures`) has a block for
# each, and we count them.
#
# **Network in Network** (Lin, Chen & Yan, 2014), which predates GoogLeNet and ResNet, replaced
# each convolution by an **mlpconv** layer: a convolution followed by two $1 \times 1$
# convolutions, a small MLP applied at every position (`MLPConv`). It introduced both the
# $1 \times 1$ convolution as a building block and **global average pooling** as the classifier
# head, two ideas GoogLeNet adopted.
#
# **Identity mappings** (He et al., 2016b) moved BN and ReLU *before* the convolutions
# ("pre-activation"), so that the shortcut path is a pure identity from the first block to the
# last; a 1001-layer network then trained well.
#
# **Wide ResNet** (Zagoruyko & Komodakis, 2016) argued that the residuals, not extreme depth,
# matter: a 16-layer ResNet made $k = 8$ times wider (with dropout between the convolutions,
# `A.WideBlock`) beat a 1000-layer thin one on CIFAR and trains faster, because wide layers use
# parallel hardware better.
#
# **ResNeXt** (Xie et al., 2017) splits the bottleneck into $G$ parallel paths (the
# **cardinality**), each a thin $1 \times 1$ - $3 \times 3$ - $1 \times 1$ stack, and sums them,
# an inception module with identical branches. The sum of the paths equals a single bottleneck
# with a **grouped convolution** in the middle: the $C$ channels are split into $G$ groups, and
# each filter sees only the $C/G$ channels of its group, which divides the weights and the MACs of
# that layer by $G$. At the same cost as a ResNet bottleneck, ResNeXt uses a wider middle and got
# a lower error.

# %%
HW = (1, 256, 56, 56)
cases = {"ResNet bottleneck 256-64-64-256": A.Bottleneck(256, 64, 256),
         "ResNeXt 32 x 4d: 256-128(g=32)-256": A.resnext_block(256, cardinality=32, group_width=4),
         "same width, no groups: 256-128-256": A.Bottleneck(256, 128, 256)}
for name, blk in cases.items():
    print(f"{name:36s}: {conv_weights(blk):>7,d} conv weights, "
          f"{count_flops(blk, HW) / 1e6:6.1f}M MACs")
g = cases["ResNeXt 32 x 4d: 256-128(g=32)-256"].conv2
print(f"the grouped 3x3: weight {tuple(g.weight.shape)}, each filter sees "
      f"{g.in_channels // g.groups} of {g.in_channels} channels; 32 paths x (256*4 + 4*4*9 + 4*256)"
      f" = {32 * (256 * 4 + 4 * 4 * 9 + 4 * 256):,d}")

# %% [markdown]
# A grouped convolution really is $G$ independent convolutions, one per group of channels; a
# quick check against `F.conv2d` on the first group:

# %%
x = torch.randn(1, 128, 6, 6)
with torch.no_grad():
    full = g(x)                                                   # (1, 128, 6, 6)
    first = F.conv2d(x[:, :4], g.weight[:4], padding=1)           # group 0 alone: (1, 4, 6, 6)
print("group 0 of the grouped conv equals a separate conv on channels 0-3:",
      torch.allclose(full[:, :4], first, atol=1e-6))

# %% [markdown]
# The same holds for the whole block. Xie et al. first draw ResNeXt as 32 separate thin paths
# whose outputs are summed; written that way it is the module below. Its parameter count equals
# that of the grouped bottleneck `A.resnext_block`, and once the grouped block's weights are cut
# into the paths (path $i$ gets channels $4i, \dots, 4i + 3$ of every middle layer) it computes
# the same function:

# %%
class ResNeXtPaths(nn.Module):
    """ResNeXt's block as `cardinality` paths 1x1 (c -> d) -> 3x3 (d -> d) -> 1x1 (d -> c),
    summed, then BN, the identity shortcut and a ReLU. x: (N, c, H, W) -> (N, c, H, W)."""

    def __init__(self, c=256, cardinality=32, d=4):
        super().__init__()
        self.paths = nn.ModuleList(nn.Sequential(
            nn.Conv2d(c, d, 1, bias=False), nn.BatchNorm2d(d), nn.ReLU(),     # (N, d, H, W)
            nn.Conv2d(d, d, 3, padding=1, bias=False), nn.BatchNorm2d(d), nn.ReLU(),  # (N, d, H, W)
            nn.Conv2d(d, c, 1, bias=False))                                   # (N, c, H, W)
            for _ in range(cardinality))
        self.bn = nn.BatchNorm2d(c)                                           # (N, c, H, W)

    def forward(self, x):                                  # x: (N, c, H, W)
        f = sum(path(x) for path in self.paths)            # (N, c, H, W): the paths, summed
        return F.relu(self.bn(f) + x)                      # (N, c, H, W)


grouped = A.resnext_block(256, cardinality=32, group_width=4)
paths = ResNeXtPaths(256, 32, 4)
with torch.no_grad():                         # cut the grouped weights into the 32 paths
    for i, path in enumerate(paths.paths):
        ch = slice(4 * i, 4 * i + 4)                           # this path's middle channels
        path[0].weight.copy_(grouped.conv1.weight[ch])         # (4, 256, 1, 1)
        path[3].weight.copy_(grouped.conv2.weight[ch])         # (4, 4, 3, 3): group i
        path[6].weight.copy_(grouped.conv3.weight[:, ch])      # (256, 4, 1, 1)
        for bn, bn_grouped in ((path[1], grouped.bn1), (path[4], grouped.bn2)):
            for key, v in bn.state_dict().items():
                if v.dim():                                    # per-channel tensors
                    v.copy_(bn_grouped.state_dict()[key][ch])
    paths.bn.load_state_dict(grouped.bn3.state_dict())
    x = torch.randn(2, 256, 14, 14)
    y_paths, y_grouped = paths.eval()(x), grouped.eval()(x)
print(f"32 paths: output {tuple(y_paths.shape)}, {count_parameters(paths):,d} parameters; "
      f"grouped bottleneck: output {tuple(y_grouped.shape)}, {count_parameters(grouped):,d} "
      f"parameters; same output: {torch.allclose(y_paths, y_grouped, atol=1e-5)}")

# %% [markdown]
# In practice the grouped form is the one implemented: one grouped convolution instead of 32
# small ones and a sum.
#
# **Stochastic depth** (Huang et al., 2016) trains a deep ResNet as if it were shallower: in
# every training step each residual block is dropped (its branch skipped, only the identity
# left) with a probability $p_l$ that grows linearly from 0 at the first block to 0.5 at the last.
# This is dropout for whole layers: it shortens the expected depth during training (faster, better
# gradient flow) and regularises; at test time all blocks are used, each branch scaled by its
# survival probability (or, equivalently, the surviving branches are divided by $1 - p$ in
# training, as `stochastic_depth` does, so that test time needs no change).

# %%
torch.manual_seed(0)
block = StochasticDepthBlock(A.BasicBlock(8, 8, shortcut="none"), p=0.5)
z = torch.randn(6, 8, 5, 5)
block.train()
with torch.no_grad():
    kept = [bool((block(z) != F.relu(z)).flatten(1).any(1)[i]) for i in range(6)]
print("training: residual branch used for examples", kept)
block.eval()
with torch.no_grad():
    same = torch.equal(block(z), block(z))
print("eval: deterministic, all branches used:", same)

# %% [markdown]
# **FractalNet** (Larsson, Maire & Shakhnarovich, 2017) showed that the identity is not the
# essential ingredient: a block built by the recursive rule
# $f_{C+1}(z) = \text{join}(f_C \circ f_C(z),\ \text{conv}(z))$ (join = mean) contains paths of
# many lengths, from a single convolution to $2^{C-1}$, and trains well when sub-paths are dropped
# at random during training ("drop-path"). At test time a single column can be used alone, an
# any-depth network.
#
# **DenseNet** (Huang, Liu, van der Maaten & Weinberger, 2017) connects every layer in a **dense
# block** to *all* earlier layers, by concatenation: layer $\ell$ receives
# $[x_0, x_1, \dots, x_{\ell - 1}]$ and adds $k$ new channels (the **growth rate**, e.g. 12 or
# 32). Features are reused instead of recomputed, each layer is thin, and the loss reaches every
# layer directly. Transition layers ($1 \times 1$ conv and $2 \times 2$ average pooling) between
# blocks reduce the size; DenseNet-BC adds $1 \times 1$ bottlenecks ($4k$ channels) and
# compression.
#
# **SqueezeNet** (Iandola et al., 2016) aimed at AlexNet's accuracy with as few parameters as
# possible. Its **fire module** "squeezes" with a few $1 \times 1$ filters, then "expands" with a
# mix of $1 \times 1$ and $3 \times 3$ filters; there are no FC layers at all (a $1 \times 1$
# convolution to 1000 channels and global average pooling end the network).

# %%
blocks = {
    "mlpconv 5x5 (NiN), 96 -> 192-160-96": (MLPConv(96, (192, 160, 96), 5), (1, 96, 28, 28)),
    "wide block, 64 -> 64 x k=4": (A.WideBlock(256, 256), (1, 256, 28, 28)),
    "fractal block, 4 columns, 64 ch": (FractalBlock(64, 64, columns=4), (1, 64, 28, 28)),
    "dense block, 4 layers, k = 32": (DenseBlock(64, 32, 4), (1, 64, 28, 28)),
    "dense block BC, 4 layers, k = 32": (DenseBlock(64, 32, 4, bottleneck=True),
                                         (1, 64, 28, 28)),
    "fire module (fire2), 96 -> 16 -> 64+64": (FireModule(96, 16, 64, 64), (1, 96, 55, 55)),
}
for name, (blk, shape) in blocks.items():
    t = layer_table(blk, shape)
    with torch.no_grad():
        out = tuple(blk.eval()(torch.zeros(shape)).shape[1:])
    print(f"{name:40s} in {shape[1:]} -> out {out}: {count_parameters(blk):>9,d} params, "
          f"{t.macs / 1e6:6.1f}M MACs, {len(t.where('Conv2d')):2d} convs")
squeeze = build_on_meta(make_squeezenet)
squeeze_macs = count_flops(squeeze, (1, 3, 224, 224))
print(f"\nSqueezeNet: {count_parameters(squeeze):,d} parameters, "
      f"{count_parameters(alexnet) / count_parameters(squeeze):.0f}x fewer than AlexNet; "
      f"{squeeze_macs / 1e9:.2f}G MACs, {'more' if squeeze_macs > t_alex.macs else 'fewer'} than "
      f"AlexNet's {t_alex.macs / 1e9:.2f}G")

# %% [markdown]
# The fractal block with 4 columns has $2^4 - 1 = 15$ convolutions; the dense block's output
# has $64 + 4 \cdot 32 = 192$ channels; SqueezeNet matches AlexNet's ImageNet accuracy (the paper
# reports 80.3% top-5 accuracy against AlexNet's 80.3%) with the parameter count of the last
# line, about fifty times fewer (and with pruning and quantisation, the paper squeezed it below
# 0.5 MB). Note that it is not cheaper to *run*: the last line compares its MACs with AlexNet's,
# and few parameters is not the same as few MACs. MobileNets and EfficientNets, later,
# optimised the computation directly; and **neural architecture search** (Zoph & Le, 2017) lets
# an algorithm search the space of blocks, at a large compute cost.
#
# ## 8. Play with it: what a block costs
#
# The widget builds one block for a chosen width $C$ and map size and draws the MACs and the
# parameters of each of its convolutions (bars coloured by kernel size: blue $1 \times 1$, orange
# $3 \times 3$, red $5 \times 5$). The readout compares the block with a single $3 \times 3$
# convolution $C \to C$ on the same map.
#
# Things to try:
#
# * "inception, naive" against "inception with 1x1 bottlenecks" at $C = 256$, size 28: find the
#   two totals printed in section 5, and see which branch the bottlenecks tame;
# * "two 3x3 convs" against "ResNet bottleneck" at $C = 256$: how much cheaper is the bottleneck?
#   At which $C$ would you switch?
# * "ResNeXt": move the cardinality from 1 to 32 and watch the middle bar shrink by the factor $G$;
# * double the channels: which costs grow by 2 and which by 4? Halve the map size: which costs do
#   not change at all?
# * "fire module": compare its parameters with those of a single $3 \times 3$ conv at the same $C$.

# %%
view = BlockCostView(block="inception, naive", channels=256, size=28)
view

# %% [markdown]
# ## 9. The ImageNet scoreboard
#
# The ILSVRC classification results tell the story of this chapter in numbers. Top-5 error (the
# fraction of test images whose correct class is not among the five highest scores) of the
# winning entries, and of VGG (second in 2014); these were ensembles of several networks. The
# numbers are the published challenge results as collected by Russakovsky et al. (2015) and the
# papers, as summarised in CS231n's lecture on CNN architectures; the 2010 and 2011 winners used
# hand-designed features (SIFT and Fisher vectors), not CNNs. The "human" 5.1% is one trained
# annotator's error on 1500 test images (Russakovsky et al., 2015). The costs in the last two
# columns are ours, counted for a single network.

# %%
board = [  # (name, year, top-5 error %, depth, builder, input size)
    ("NEC (shallow)", 2010, 28.2, None, None, None),
    ("XRCE (shallow)", 2011, 25.8, None, None, None),
    ("AlexNet", 2012, 16.4, 8, A.make_alexnet, 227),
    ("ZFNet", 2013, 11.7, 8, A.make_zfnet, 224),
    ("VGG-16", 2014, 7.3, 16, A.make_vgg, 224),
    ("GoogLeNet", 2014, 6.7, 22, A.make_googlenet, 224),
    ("ResNet-152", 2015, 3.57, 152, lambda: A.make_resnet(152), 224),
]
print(f"{'':22s} {'year':>5s} {'top-5 %':>8s} {'layers':>7s} {'params':>9s} {'G MACs':>7s}")
costs = {}
for name, year, err, depth, fn, size in board:
    if fn is None:
        print(f"{name:22s} {year:5d} {err:8.2f} {'-':>7s} {'-':>9s} {'-':>7s}")
        continue
    net = build_on_meta(fn)
    costs[name] = (count_parameters(net) / 1e6, count_flops(net, (1, 3, size, size)) / 1e9)
    print(f"{name:22s} {year:5d} {err:8.2f} {depth:7d} {costs[name][0]:8.1f}M "
          f"{costs[name][1]:7.2f}")
print(f"{'human (one annotator)':22s} {'':5s} {5.1:8.2f}")
(_, year0, err0, *_), (_, year1, err1, *_) = board[0], board[-1]
print(f"from {year0} to {year1} ({year1 - year0} years) the winning top-5 error fell "
      f"{err0 / err1:.1f} times")
(g_p, g_m), (v_p, v_m), (r_p, r_m) = costs["GoogLeNet"], costs["VGG-16"], costs["ResNet-152"]
print(f"GoogLeNet against VGG-16: about 1/{v_m / g_m:.0f} of its MACs and 1/{v_p / g_p:.0f} of "
      f"its parameters; ResNet-152: {r_m / v_m:.2f} of VGG-16's MACs")

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
ax = axes[0]
for k, (_name, _year, err, depth, fn, _) in enumerate(board):
    ax.bar(k, err, color=CLASS_COLORS[8] if fn is None else CLASS_COLORS[0])
    ax.text(k, err + 0.5, f"{err:g}", ha="center", fontsize=8)
    ax.text(k, -1.2, f"{depth} layers" if depth else "", ha="center", va="top", fontsize=7)
ax.axhline(5.1, color=CLASS_COLORS[5], ls="--", lw=1)
ax.text(len(board) - 0.5, 5.6, "human 5.1", ha="right", color=CLASS_COLORS[5], fontsize=8)
ax.set_xticks(range(len(board)), [f"{b[0].split(' ')[0]}\n{b[1]}" for b in board], fontsize=8)
ax.set_ylim(-4, 31)
ax.set_ylabel("ILSVRC top-5 error (%)")
ax.set_title("winning (and VGG) entries by year; grey: no CNN")
ax = axes[1]
for k, (name, _year, err, _depth, fn, _) in enumerate(board):
    if fn is None:
        continue
    p, m = costs[name]
    ax.scatter(m, err, s=8 * p, color=CLASS_COLORS[k % 8], alpha=0.6, edgecolor="k")
    ax.annotate(f"{name}\n{p:.0f}M params", (m, err), textcoords="offset points",
                xytext=(8, 4), fontsize=8)
ax.set_xscale("log")
ax.set_xlim(0.4, 40)
ax.set_ylim(0, 20)
ax.set_xlabel("G MACs per image (log scale)")
ax.set_ylabel("top-5 error (%)")
ax.set_title("error against computation (disc area ~ parameters)")
fig.tight_layout()
plt.show()

# %% [markdown]
# In the five years from 2010 to 2015 the winning error fell by the factor printed above, and in
# the three years from 2012 to 2015 the winners' depth grew from 8 to 152 layers. The cost did
# not grow in step: GoogLeNet beat VGG-16 with the small fractions of its computation and of its
# parameters printed in the last line, and ResNet-152 is cheaper than VGG-16. Architecture, not
# only size, made the progress. (Canziani, Paszke & Culurciello (2016) plot accuracy, operations
# and parameters of many more networks in the same way.)
#
# ## 10. Normalisation in CNNs: batch, layer, group
#
# Batch normalisation (lecture 05) made these deep networks trainable. In a CNN a feature map
# $x$ has shape $(N, C, H, W)$, and BN computes one mean and variance **per channel**, over the
# batch and all positions $(N, H, W)$, so that every position of a channel is normalised the same
# way (the convolution's weight sharing is respected). Other choices of the set of numbers that
# share statistics (drawn below with `draw_norm_set`, after Wu & He, 2018):
#
# * **layer norm**: per example, over $(C, H, W)$;
# * **instance norm**: per example and channel, over $(H, W)$ (style transfer);
# * **group norm**: per example, over groups of $C/G$ channels and all positions ($G = 32$ by
#   default); $G = 1$ is layer norm and $G = C$ is instance norm.
#
# All four are followed by a learned scale $\gamma$ and shift $\beta$ per channel.

# %%
fig = plt.figure(figsize=(12, 3.2))
for k, kind in enumerate(("batch", "layer", "instance", "group")):
    draw_norm_set(fig.add_subplot(1, 4, k + 1, projection="3d"), kind)
fig.subplots_adjust(left=0, right=1, wspace=0.0)
plt.show()

# %% [markdown]
# Only batch norm mixes examples: an example's output depends on the rest of its batch, the
# statistics are noisy for small batches, and at test time it must switch to running averages.
# When memory limits the batch to one or two images per GPU (detection, segmentation, video), its
# estimates become poor and its accuracy drops; group norm, computed within each example, does not
# care about the batch size (Wu & He, 2018: on ImageNet with ResNet-50, GN's error stays flat
# from 32 images per GPU down to 2, where BN's rises by about 10 points).
#
# How noisy is a batch statistic? The mean of one channel of the first convolution's output over
# batches of $B$ digits, for many random batches (a net with random weights; only the spread
# matters):

# %%
probe_net = SmallCNN(10, norm="batch", seed=0)
with torch.no_grad():
    pre = probe_net.backbone[0](torch.from_numpy(Xd_train))      # (N, 16, 8, 8), before the BN
gen = np.random.default_rng(1)
spread = {}
for B in (2, 8, 32, 128):
    means = [pre[gen.choice(len(pre), B, replace=False), 3].mean().item() for _ in range(400)]
    spread[B] = np.std(means)
print("std of a channel's batch mean across batches, relative to the population std of the "
      "channel, and what 64 B independent numbers would give:")
for B, sd in spread.items():
    print(f"  B = {B:3d}: {sd / pre[:, 3].std().item():.3f}   independent: "
          f"{1 / np.sqrt(64 * B):.3f}")

# %% [markdown]
# The spread shrinks about like $1/\sqrt{B}$, and it is larger than that of $64B$ independent
# numbers (the second column), because the 64 positions of one image are correlated. At two
# images the mean that BN subtracts wobbles from batch to batch by the fraction of the channel's
# spread in the first row; still, it is the mean of 128 numbers. A statistic is worst where it is
# computed from the fewest numbers: in a network whose last stage works on $1 \times 1$ maps (an
# $8 \times 8$ digit after three poolings), that stage has one number per channel and image, and
# a batch of two gives BN two numbers per channel, which it maps to $-1$ and $+1$ whatever they
# were (up to its small $\epsilon$):

# %%
bn_demo = nn.BatchNorm2d(4)
z = torch.randn(2, 4, 1, 1)                       # two examples, four channels, 1 x 1 maps
print("normalised in training mode, (2 examples, 4 channels):\n",
      bn_demo(z)[:, :, 0, 0].detach().numpy().round(3))

# %% [markdown]
# In training such a layer passes on only which of the two examples is larger in each channel;
# at test time its running averages make it a different, continuous function that the layers
# above never saw. Group norm computes its statistics inside each example (here over the 8
# channels of a group), so the batch size does not enter. We train a network of that shape, four
# stages of a $3 \times 3$ convolution, normalisation and ReLU on maps of $8 \times 8$,
# $4 \times 4$, $2 \times 2$ and $1 \times 1$ with max-pooling in between, once with BN and once
# with GN (8 groups), with batches of 2 and 4 (one epoch) and of 32 (eight epochs), Adam with
# learning rate 0.001 throughout:

# %%
def stage_net(norm, widths=(16, 32, 64, 64), seed=0):
    """Four stages of conv3x3 -> norm -> ReLU on 8x8, 4x4, 2x2 and 1x1 maps, then a linear
    layer. norm: "batch" or "group" (8 groups). x: (N, 1, 8, 8) -> (N, 10)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers, c = [], 1
        for i, w in enumerate(widths):
            if i:
                layers.append(nn.MaxPool2d(2))                     # halve the map
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False),   # (N, w, 8 / 2^i, 8 / 2^i)
                       nn.BatchNorm2d(w) if norm == "batch" else nn.GroupNorm(8, w), nn.ReLU()]
            c = w
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c, 10))   # (N, c) -> (N, 10)


norm_acc = {}
t0 = time.perf_counter()
for B, epochs in ((2, 1), (4, 1), (32, 8)):
    for norm in ("batch", "group"):
        net = stage_net(norm)
        fit(net, Xd_train, yd_train, epochs=epochs, batch_size=B, lr=1e-3, optimizer="adam",
            seed=0)
        norm_acc[norm, B] = evaluate(net, Xd_val, yd_val)[1]
print(f"({time.perf_counter() - t0:.0f} s) validation accuracy of the {len(yd_val)} images")
print(f"{'':14s}{'batch norm':>11s}{'group norm':>11s}   GN - BN (in images)")
for B in (2, 4, 32):
    acc_bn, acc_gn = norm_acc["batch", B], norm_acc["group", B]
    print(f"batch size {B:2d}  {acc_bn:11.3f}{acc_gn:11.3f}   {acc_gn - acc_bn:+.3f} "
          f"({round((acc_gn - acc_bn) * len(yd_val)):+d})")

# %% [markdown]
# With batches of two, batch norm falls far behind group norm, for the reason above: the last
# stage's statistics come from two numbers. With batches of four it has caught up (four numbers
# per statistic are enough for this network on this problem), and at 32 the two end within the
# few validation images of the last column. So the textbook effect appears on the digits, but
# only in its extreme form. On ImageNet it is large with many more numbers per statistic: at two
# images per GPU the last stage of a ResNet-50 still has $2 \times 7 \times 7 = 98$ per
# channel, and Wu and He's BN error is about 10 points above GN's there. A hard problem with a
# thousand classes, trained for a long time, is far less forgiving of noisy statistics than the
# easy digits. The design rule: BN when batches are large, GN (or LN) when they are small or when
# examples must be processed independently; and measure on your own problem.
#
# ## 11. Transfer learning
#
# ### 11.1 The idea
#
# A CNN trained on ImageNet has learned, in its lower layers, edge and colour detectors (the
# Gabor-like filters of lecture 06) and, higher up, textures, parts and objects. These features are
# useful far beyond the 1000 classes. Razavian et al. (2014) took the activations of a trained
# network's last hidden layer, "off the shelf", trained a linear SVM on them for new tasks (scene
# recognition, fine-grained birds and flowers, attribute detection, image retrieval) and matched or
# beat the specialised methods of the time. Donahue et al.'s DeCAF (2014) made the same
# observation. Yosinski et al. (2014) measured how transferable each layer is: the first layers
# are general, the last layers specific to the task they were trained on.
#
# Two ways to transfer a network trained on a large source task to a target task with few labels:
#
# 1. **Frozen features + a linear classifier.** Remove the last layer, run the frozen network once
#    over the target images, store the features, and train a linear (softmax) classifier on them.
#    Cheap: the expensive network runs once per image, and the classifier trains in a second.
# 2. **Fine-tuning.** Start from the trained weights, replace the last layer, and train everything
#    on the target data with a *smaller learning rate* for the pretrained layers (typically a tenth
#    of the new layers' rate) so as not to destroy what they know; usually after first training the
#    new head on frozen features.
#
# The standard advice (the CS231n notes) depends on the amount of target data and on how similar
# it is to the source:
#
# | | very similar data set | very different data set |
# |---|---|---|
# | **very little data** | linear classifier on the top layer's features | you are in trouble: try a linear classifier on features from *lower* layers |
# | **quite a lot of data** | fine-tune a few layers | fine-tune a larger number of layers (or train from scratch) |
#
# ### 11.2 An experiment on the digits
#
# Our "large source task" is the digits 0-4 (all their images; the counts are printed below): we
# train `SmallCNN` on them. The target task is the digits 5-9, with only a few labelled images
# per class; we test on all the other images of 5-9. Similar domain (same pen, same scanner),
# different classes.

# %%
src, tgt = y_all < 5, y_all >= 5
Xs, ys = X_all[src], y_all[src]
Xt, yt = X_all[tgt], y_all[tgt] - 5           # target labels 0..4 stand for the digits 5..9
print(f"source: {len(ys)} images of the digits 0-4; target: {len(yt)} images of the digits 5-9")
t0 = time.perf_counter()
source = SmallCNN(5, seed=0)
h_src = fit(source, Xs, ys, epochs=10, batch_size=32, lr=0.02, optimizer="momentum", seed=0)
print(f"source network on digits 0-4: training accuracy {h_src.train_acc[-1]:.3f} "
      f"({time.perf_counter() - t0:.1f} s), {count_parameters(source):,d} parameters")
print(source.backbone)

# %% [markdown]
# Which layer's features should we take? The last hidden layer (64 numbers after global average
# pooling) was trained to separate 0-4; the output of the second convolution block (after
# max-pooling: $32 \times 4 \times 4 = 512$ numbers) is more generic. We compute both feature sets
# once for all target images with `extract_features` (eval mode, no gradients) and train a softmax
# classifier on each (`train_linear_head`, through `fit`).

# %%
lower = source.backbone[:7]                                   # conv1, conv2, max-pool
feature_sets = {
    "last layer (64, after pooling)": extract_features(source.backbone, Xt),       # (N, 64)
    "middle layer (32 x 4 x 4)": extract_features(nn.Sequential(lower, nn.Flatten()), Xt),
}
for name, feats in feature_sets.items():
    print(f"{name}: features {feats.shape}")

# %% [markdown]
# Now the three methods, for 1, 3 and 10 labelled images per class, each repeated with three
# random draws of the labelled images (the test set is everything else):
#
# * **scratch**: a fresh `SmallCNN`, trained on the few images only;
# * **frozen features + linear**: softmax classifiers on the frozen features of either layer;
# * **fine-tuning**: a fresh `SmallCNN` whose first two convolution layers are copied from the
#   source network; those get a learning rate ten times smaller than the new top layers
#   (`fine_tune(model, part, ..., backbone_lr_factor=0.1)`, which hands torch's optimizer two
#   parameter groups with their own learning rates, see `param_groups`).
#
# Every network trains for about 120 SGD steps (momentum 0.9).

# %%
def steps_to_epochs(n, batch, steps=120):
    return math.ceil(steps / max(1, n // batch))


results = {m: {} for m in ("scratch", "linear, last layer", "linear, middle layer",
                           "fine-tuning")}
t0 = time.perf_counter()
for per in (1, 3, 10):
    for m in results:
        results[m][per] = []
    for draw in range(3):
        tr = few_shot_indices(yt, per, seed=draw)
        te = np.setdiff1d(np.arange(len(yt)), tr)
        n, bs = len(tr), min(25, len(tr))
        epochs = steps_to_epochs(n, bs)
        # 1. from scratch
        net = SmallCNN(5, seed=draw + 1)
        fit(net, Xt[tr], yt[tr], epochs=epochs, batch_size=bs, lr=0.02, seed=draw)
        results["scratch"][per].append(evaluate(net, Xt[te], yt[te])[1])
        # 2. frozen features + linear classifier (features were computed once, above)
        for key, name in (("linear, last layer", "last layer (64, after pooling)"),
                          ("linear, middle layer", "middle layer (32 x 4 x 4)")):
            feats = feature_sets[name]
            head, _ = train_linear_head(feats[tr], yt[tr], num_classes=5, epochs=300, lr=0.01,
                                        batch_size=n, seed=draw)
            with torch.no_grad():
                pred = head(torch.from_numpy(feats[te])).argmax(1).numpy()
            results[key][per].append(float((pred == yt[te]).mean()))
        # 3. fine-tuning: pretrained lower layers (small lr), new top layers
        net = SmallCNN(5, seed=draw + 1)
        net.backbone[:7].load_state_dict(lower.state_dict())
        fine_tune(net, net.backbone[:7], Xt[tr], yt[tr], lr=0.02, backbone_lr_factor=0.1,
                  epochs=epochs, batch_size=bs, seed=draw)
        results["fine-tuning"][per].append(evaluate(net, Xt[te], yt[te])[1])
print(f"({time.perf_counter() - t0:.1f} s)")
print(f"{'test accuracy on digits 5-9':28s}" + "".join(f"{p:>3d} per class " for p in (1, 3, 10)))
for m, r in results.items():
    print(f"{m:28s}" + "".join(f"  {np.mean(r[p]):.3f}±{np.std(r[p]):.3f}" for p in (1, 3, 10)))
mean_acc = {m: {p: np.mean(r[p]) for p in (1, 3, 10)} for m, r in results.items()}
for p in (1, 3, 10):
    ranked = sorted(mean_acc, key=lambda m, p=p: -mean_acc[m][p])
    print(f"{p:2d} per class: best {ranked[0]}, worst {ranked[-1]}; fine-tuning minus scratch "
          f"{mean_acc['fine-tuning'][p] - mean_acc['scratch'][p]:+.3f}, minus linear on the "
          f"middle layer {mean_acc['fine-tuning'][p] - mean_acc['linear, middle layer'][p]:+.3f}")

# %%
fig, ax = plt.subplots(figsize=(7.5, 3.4))
pers = np.array([1, 3, 10])
for k, (m, r) in enumerate(results.items()):
    mean = np.array([np.mean(r[p]) for p in pers])
    std = np.array([np.std(r[p]) for p in pers])
    ax.errorbar(pers * (1 + 0.04 * (k - 1.5)), mean, yerr=std, fmt="o-", capsize=3, ms=4,
                color=CLASS_COLORS[k], label=m)
ax.set_xscale("log")
ax.set_xticks(pers, [str(p) for p in pers])
ax.set_xlabel("labelled images per class (log scale)")
ax.set_ylabel("test accuracy, digits 5-9")
ax.set_title("transfer from digits 0-4: mean and spread over 3 draws")
ax.legend(fontsize=8, loc="lower right")
plt.show()

# %% [markdown]
# What was measured (the table, and the best, the worst and the differences printed under it),
# and what it says:
#
# * With **one** labelled image per class, the linear classifier on the *middle-layer* features
#   is best; the network trained from scratch on five images is well behind it. This is the
#   regime where transfer pays most.
# * The **last layer** transfers worst at every size, worse than training from scratch: its 64
#   features were trained to tell 0-4 apart and have discarded what distinguishes 5-9. This is
#   Yosinski et al.'s finding in miniature: the higher the layer, the more specific to the source
#   task. It is the "different classes" column of the table above.
# * **Fine-tuning** the transferred lower layers with new top layers beats scratch with one label
#   per class; with 3 or 10 per class it is on par with scratch (within the spread of the three
#   draws) and below the frozen middle features (with so few images, training the new top layers
#   is the hard part).
# * Caveats: three draws per setting, one source network, one small CNN and a very easy target.
#   The digits are so easy that 10 labels per class already give a network from scratch a high
#   accuracy (the table's last column); for natural images, where a network from scratch needs
#   far more data, the gap in favour of transfer is much larger (Razavian et al., 2014; Yosinski
#   et al., 2014).
#
# In practice: start from a network pretrained on a large data set (torchvision, timm and Hugging
# Face offer ImageNet-trained weights), precompute features and train a linear head first, then
# fine-tune with a small learning rate if there is enough data. Fine-tuning needs care with batch
# norm (its running statistics come from the source data; with small target batches freeze them,
# or use group norm) and with data augmentation. For the record, the torch way of giving the
# backbone a smaller learning rate is parameter groups:

# %%
opt = torch.optim.SGD(param_groups(source, source.backbone, lr=0.01, backbone_lr_factor=0.1),
                      momentum=0.9)
print([(len(gp["params"]), gp["lr"]) for gp in opt.param_groups], "(tensors, learning rate)")
print(f"whole notebook so far: {time.perf_counter() - T_START:.0f} s")

# %% [markdown]
# ## Check yourself
#
# **1.** A convolution layer has 128 input and 256 output channels, $3 \times 3$ filters,
# stride 2 and padding 1, on a $56 \times 56$ input. How many parameters, what output size, and
# how many MACs?
#
# <details><summary>Answer</summary>
#
# Parameters $256 \times (128 \cdot 9 + 1) = 295{,}168$. Output $(56 + 2 - 3)/2 + 1 = 28$ (rounded
# down), so $256 \times 28 \times 28$. MACs $256 \cdot 128 \cdot 9 \cdot 28^2 \approx 231$ million.
# </details>
#
# **2.** Why do AlexNet's and VGG's fully connected layers hold most of the parameters but do
# little of the computation, and what did GoogLeNet and ResNet do about them?
#
# <details><summary>Answer</summary>
#
# A fully connected weight is used once per image, a convolution weight at every position of its
# output map (thousands of times). fc6 connects every number of the last $6 \times 6 \times 256$
# or $7 \times 7 \times 512$ map to 4096 units: tens of millions of weights for about as many
# MACs, whereas the convolutions have few weights and billions of MACs. GoogLeNet and ResNet
# replaced the big FC layers by global average pooling and one linear layer.
# </details>
#
# **3.** Three stacked $3 \times 3$ convolutions (stride 1) or one $7 \times 7$, both with $C$
# channels: compare the receptive field, the parameters and the non-linearities. What about two
# stacked $3 \times 3$ against one $5 \times 5$?
#
# <details><summary>Answer</summary>
#
# Both see $7 \times 7$; $27C^2$ against $49C^2$ weights; three ReLUs against one. Two $3 \times 3$
# see $5 \times 5$ with $18C^2$ against $25C^2$ weights, two non-linearities against one.
# </details>
#
# **4.** An inception module without bottlenecks receives 256 channels and has 64 filters in each
# of its three convolution branches. How many channels does it output, and why is that a problem
# when such modules are stacked?
#
# <details><summary>Answer</summary>
#
# $64 \cdot 3 + 256 = 448$: the max-pool branch passes all input channels through, so the depth
# grows with every module, and with it the cost of the next module's $3 \times 3$ and $5 \times 5$
# convolutions. A $1 \times 1$ projection after the pool and $1 \times 1$ reductions before the
# large filters keep both in check.
# </details>
#
# **5.** A 56-layer plain network has a higher *training* error than a 20-layer one. Why is this
# not overfitting, and why does a residual formulation help?
#
# <details><summary>Answer</summary>
#
# Overfitting would show as low training error and high test error. Here the deeper network fits
# the training data worse although it could represent the shallow one (extra layers = identity),
# so the optimiser fails to find that solution. With $y = F(x) + x$, the identity is the default
# ($F = 0$, small weights), and the gradient reaches every block through the identity path,
# $\partial y / \partial x = I + \partial F / \partial x$.
# </details>
#
# **6.** A ResNeXt block has cardinality 32 and a middle width of 128 channels. By how much does
# grouping reduce the weights of its $3 \times 3$ layer compared with an ungrouped one?
#
# <details><summary>Answer</summary>
#
# By the factor 32: each of the 128 filters sees only $128/32 = 4$ channels, so
# $128 \cdot 4 \cdot 9 = 4{,}608$ weights instead of $128 \cdot 128 \cdot 9 = 147{,}456$. The MACs
# shrink by the same factor.
# </details>
#
# **7.** You train a detector with 2 images per GPU. Batch norm or group norm, and why?
#
# <details><summary>Answer</summary>
#
# Group norm (or frozen BN statistics from pretraining). BN's per-channel statistics from two
# images are noisy and differ from the running averages used at test time; GN normalises each
# example by itself, so its behaviour does not depend on the batch size.
# </details>
#
# **8.** You have 500 labelled X-ray images and an ImageNet-pretrained ResNet. What do you try
# first, and what would you change with 500,000 images?
#
# <details><summary>Answer</summary>
#
# Little data from a different domain: frozen features and a linear classifier, trying features
# from a lower or middle stage as well as the last one, then careful fine-tuning of the top stages
# with a small learning rate and strong augmentation. With 500,000 images: fine-tune the whole
# network (or train from scratch and compare); the pretrained initialisation still usually speeds
# up training.
# </details>
#
# **9.** In the last stage of a network, each channel's map is $1 \times 1$, and the batch holds two
# images whose values in one channel are $a$ and $b \ne a$. What does batch norm (in training
# mode, before its scale and shift, ignoring $\epsilon$) output for them, and what does group norm
# depend on instead?
#
# <details><summary>Answer</summary>
#
# The batch mean is $\mu = (a + b)/2$ and the variance $\sigma^2 = ((a - b)/2)^2$, so the outputs
# are $(a - \mu)/\sigma = \pm 1$ and $(b - \mu)/\sigma = \mp 1$: only the sign of $a - b$
# survives, whatever the two values were. Group norm normalises each image over the channels of
# its group, so its output for one image does not depend on the other image at all.
# </details>
#
# ## Summary
#
# * A layer's cost: a convolution has $C_\text{out}(C_\text{in}k^2 + 1)$ parameters and
#   $C_\text{out} C_\text{in} k^2 H' W'$ MACs; fully connected layers hold the parameters, the
#   convolutions do the work, and the early large maps take the memory.
# * LeNet-5 set the conv-pool-fc template; AlexNet scaled it to ImageNet with ReLU, dropout,
#   augmentation and GPUs; ZFNet refined the first layers.
# * VGG: only $3 \times 3$ convolutions; stacks give large receptive fields with fewer parameters
#   and more non-linearities. 138M parameters (the paper's count), most of them in fc6, and the
#   most computation in the scoreboard.
# * GoogLeNet: inception modules with $1 \times 1$ bottlenecks, global average pooling, a small
#   fraction of AlexNet's parameters.
# * ResNet: residual blocks $y = F(x) + x$ cure the degradation of deep plain networks; bottleneck
#   blocks make 152 layers cheaper than VGG-16. The shortcut is now in nearly every architecture.
# * Variations: NiN ($1 \times 1$ convs, global pooling), pre-activation, Wide ResNet (width),
#   ResNeXt (grouped convolutions), stochastic depth (drop blocks), FractalNet (no identity
#   needed), DenseNet (concatenate all earlier features), SqueezeNet (fire modules, 50x fewer
#   parameters than AlexNet).
# * Normalisation: BN per channel over $(N, H, W)$; LN, IN and GN per example; GN for small batches
#   (on the digits, BN broke down only where a statistic came from two numbers).
# * Transfer learning: reuse a pretrained network, as frozen features with a linear classifier
#   (little data) or by fine-tuning with a smaller learning rate for the pretrained layers (more
#   data); lower layers are more general than the last ones.
#
# ## Papers and further reading
#
# * Y. LeCun, L. Bottou, Y. Bengio, P. Haffner (1998). Gradient-based learning applied to document
#   recognition. *Proceedings of the IEEE* 86(11), 2278–2324. LeNet-5.
# * A. Krizhevsky, I. Sutskever, G. E. Hinton (2012). ImageNet classification with deep
#   convolutional neural networks. *NeurIPS 2012*. AlexNet.
# * M. D. Zeiler, R. Fergus (2014). Visualizing and understanding convolutional networks.
#   *ECCV 2014*. ZFNet.
# * K. Simonyan, A. Zisserman (2015). Very deep convolutional networks for large-scale image
#   recognition. *ICLR 2015*. VGG.
# * M. Lin, Q. Chen, S. Yan (2014). Network in network. *ICLR 2014*.
# * C. Szegedy, W. Liu, Y. Jia, P. Sermanet, S. Reed, D. Anguelov, D. Erhan, V. Vanhoucke,
#   A. Rabinovich (2015). Going deeper with convolutions. *CVPR 2015*. GoogLeNet.
# * K. He, X. Zhang, S. Ren, J. Sun (2016). Deep residual learning for image recognition.
#   *CVPR 2016*. ResNet.
# * K. He, X. Zhang, S. Ren, J. Sun (2016b). Identity mappings in deep residual networks.
#   *ECCV 2016*. Pre-activation ResNets.
# * S. Zagoruyko, N. Komodakis (2016). Wide residual networks. *BMVC 2016*.
# * S. Xie, R. Girshick, P. Dollár, Z. Tu, K. He (2017). Aggregated residual transformations for
#   deep neural networks. *CVPR 2017*. ResNeXt.
# * G. Huang, Y. Sun, Z. Liu, D. Sedra, K. Q. Weinberger (2016). Deep networks with stochastic
#   depth. *ECCV 2016*.
# * G. Larsson, M. Maire, G. Shakhnarovich (2017). FractalNet: ultra-deep neural networks without
#   residuals. *ICLR 2017*.
# * G. Huang, Z. Liu, L. van der Maaten, K. Q. Weinberger (2017). Densely connected convolutional
#   networks. *CVPR 2017*. DenseNet.
# * F. N. Iandola, S. Han, M. W. Moskewicz, K. Ashraf, W. J. Dally, K. Keutzer (2016).
#   SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size.
#   arXiv:1602.07360.
# * B. Zoph, Q. V. Le (2017). Neural architecture search with reinforcement learning. *ICLR 2017*.
# * O. Russakovsky, J. Deng, H. Su, et al. (2015). ImageNet large scale visual recognition
#   challenge. *IJCV* 115(3), 211–252. The challenge, its results, and the human error estimate.
# * A. Canziani, A. Paszke, E. Culurciello (2016). An analysis of deep neural network models for
#   practical applications. arXiv:1605.07678.
# * P. Goyal, P. Dollár, R. Girshick, P. Noordhuis, L. Wesolowski, A. Kyrola, A. Tulloch, Y. Jia,
#   K. He (2017). Accurate, large minibatch SGD: training ImageNet in 1 hour. arXiv:1706.02677.
#   Zero-initialised last BN in each residual branch.
# * Y. Wu, K. He (2018). Group normalization. *ECCV 2018*.
# * J. Yosinski, J. Clune, Y. Bengio, H. Lipson (2014). How transferable are features in deep
#   neural networks? *NeurIPS 2014*.
# * A. S. Razavian, H. Azizpour, J. Sullivan, S. Carlsson (2014). CNN features off-the-shelf: an
#   astounding baseline for recognition. *CVPR 2014 Workshops*.
# * J. Donahue, Y. Jia, O. Vinyals, J. Hoffman, N. Zhang, E. Tzeng, T. Darrell (2014). DeCAF: a
#   deep convolutional activation feature for generic visual recognition. *ICML 2014*.
# * Stanford CS231n course notes, *Convolutional neural networks* and *Transfer learning*,
#   https://cs231n.github.io/convolutional-networks/ and https://cs231n.github.io/transfer-learning/ .
