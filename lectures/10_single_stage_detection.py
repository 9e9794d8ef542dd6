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
# # Lecture 10 — Single-stage detection: YOLO, SSD, feature pyramids and the focal loss
#
# Lecture 09 built the two-stage detector. A convolutional network computes one feature map of
# the whole image. At every position of that map sit $k$ reference boxes, the **anchors** (3
# scales times 3 aspect ratios in Faster R-CNN). A small **region proposal network** (RPN) slides
# over the map and, for every anchor, scores whether it holds an object and predicts a correction
# of its box; after non-maximum suppression the best few hundred corrected anchors are the
# proposals. In the **second stage** each proposal is cut out of the feature map by RoI pooling
# (or RoIAlign), and a head classifies it and corrects its box once more. Two stages are
# accurate: Faster R-CNN with VGG-16 reaches 73.2% mAP on VOC 2007, trained on VOC 2007 + 2012.
# They are not fast: 5 frames per second on the GPU of its paper.
#
# The RPN is almost a detector already: one convolutional pass that decides, for a fixed set of
# boxes laid over the image, which hold an object and where exactly its edges are. If it named
# the class instead of just "object", the second stage, with its computation per proposal, its
# sampling and its second pair of losses, could go. That is what **single-stage** detectors do:
# one fully convolutional network, one pass over the image, class scores and box corrections for
# every anchor at once. Such a detector is simpler, and fast enough for video. This lecture
# follows single-stage detectors from YOLO and SSD, which were fast but less accurate than two
# stages, to the two ideas that closed the gap: **feature pyramids**, which give objects of every
# size strong features, and the **focal loss**, which stops the flood of easy background anchors
# from dominating training.
#
# The vocabulary of lecture 09 carries over: boxes are $(x_1, y_1, x_2, y_2)$ in pixels; IoU
# measures their overlap; box corrections are predicted in the parametrisation
# $t_x = (x - x_a)/w_a$, $t_y = (y - y_a)/h_a$, $t_w = \log(w/w_a)$, $t_h = \log(h/h_a)$ relative
# to an anchor $(x_a, y_a, w_a, h_a)$ (lecture 09, section 10); duplicates are removed by NMS
# (lecture 09, section 9); and results are VOC 2007's mAP at IoU 0.5, or COCO's AP averaged over
# IoU thresholds from 0.5 to 0.95 (lecture 09, section 6).
#
# **After this lecture you can**
#
# 1. say what a single-stage detector drops from a two-stage one and what it keeps;
# 2. describe YOLO's grid, its output tensor and its loss, and compute the output size for any
#    grid, number of boxes and number of classes;
# 3. list YOLOv2's improvements, choose anchor priors by k-means with the distance
#    $1 - \text{IoU}$, and say why the Euclidean distance serves small boxes worse;
# 4. count SSD's default boxes over several feature maps, and say which maps handle which
#    object sizes;
# 5. build the top-down path of a feature pyramid network, and pick the level a RoI is pooled
#    from;
# 6. explain the class imbalance of dense detectors, compute how much the focal loss
#    down-weights an example, and describe RetinaNet;
# 7. read a comparison of detectors' speed and accuracy, and say what its numbers depend on.
#
# **Plan.** One stage instead of two: YOLO → YOLOv2 and anchor priors from k-means → SSD →
# feature pyramid networks → class imbalance, the focal loss and RetinaNet → speed against
# accuracy → questions, summary, papers.
#
# Assignment a4 ends with this lecture's pieces: the focal loss and a single-stage detector of
# your own, built on the IoU, NMS, box encoding and anchor matching of lecture 09.

# %%
# %matplotlib inline
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle
from sklearn.cluster import KMeans
from torch import nn

from dlcv.detection import priors
from dlcv.detection.widgets import FocalLossView
from dlcv.plots import CLASS_COLORS
from dlcv.shapes import CLASSES, make_scenes, show_scene
from dlcv.timing import cap_threads

plt.rcParams.update({"figure.figsize": (8, 3.2), "figure.dpi": 90, "font.size": 10})
np.set_printoptions(precision=3, suppress=True)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine
rng = np.random.default_rng(0)
_ = torch.manual_seed(0)

# %% [markdown]
# ## 1. YOLO: you only look once
#
# Faster R-CNN is two networks in a row: the RPN proposes, the head classifies each proposal
# (lecture 09, section 11). **Single-stage** detectors skip the second stage: one fully
# convolutional network outputs, for a fixed set of boxes laid over the image, the class scores
# and box corrections directly. No proposals, no computation per RoI: the whole image is
# processed by one network, once.
#
# YOLO (Redmon et al., 2016) divides the $448 \times 448$ input into an $S \times S$ grid
# ($S = 7$). The cell that contains an object's **centre** is responsible for it. Each cell
# predicts
#
# * $B$ boxes ($B = 2$), each as $(x, y, w, h)$ and a **confidence**: $x, y$ are the centre
#   relative to the cell, $w, h$ relative to the image, and the confidence is trained towards
#   $\Pr(\text{object}) \times \text{IoU}$ of the box with the truth: 0 where there is no object;
# * $C$ class probabilities $\Pr(\text{class}_c \mid \text{object})$, one set per cell.
#
# For VOC ($C = 20$) the output is an $S \times S \times (5B + C) = 7 \times 7 \times 30$ tensor,
# 1470 numbers, computed by 24 convolutional and 2 fully connected layers. At test time the score
# of class $c$ for a box is $\Pr(\text{class}_c \mid \text{object}) \cdot \text{confidence}$
# $= \Pr(\text{class}_c) \cdot \text{IoU}$, followed by NMS. The same layout on a shapes scene
# (the detection scenes of lecture 09, section 1):

# %%
multi = make_scenes(2, seed=22, min_objects=3, max_objects=4)   # lecture 09's detection scenes
S, B, C = 4, 2, len(CLASSES)
print(f"YOLO for VOC: 7 x 7 x (2*5 + 20) = {7 * 7 * (2 * 5 + 20)} outputs; "
      f"on our 64x64 scenes with S = {S}, B = {B}, C = {C}: {S}x{S}x{5 * B + C}")
cell = 64 // S
fig, ax = plt.subplots(figsize=(3.8, 3.8))
show_scene(ax, multi.images[0], multi.boxes[0], multi.labels[0])
for k in range(1, S):
    ax.axhline(k * cell, color="w", lw=0.8)
    ax.axvline(k * cell, color="w", lw=0.8)
for b in multi.boxes[0]:
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    i, j = int(cy // cell), int(cx // cell)
    ax.add_patch(Rectangle((j * cell, i * cell), cell, cell, color="w", alpha=0.35))
    ax.plot(cx, cy, "wo", ms=4, mec="k")
    print(f"object centred at ({cx:.1f}, {cy:.1f}): cell (row {i}, column {j}), "
          f"x, y in the cell = ({cx / cell - j:.2f}, {cy / cell - i:.2f}), "
          f"w, h in the image = ({(b[2] - b[0]) / 64:.2f}, {(b[3] - b[1]) / 64:.2f})")
ax.set_title(f"{S}x{S} grid: the cell holding the centre is responsible", fontsize=9)
plt.show()

# %% [markdown]
# YOLO is trained with one sum of squared errors. Let $\mathbb 1^{\text{obj}}_{ij}$ be 1 when box
# $j$ of cell $i$ is responsible for an object (the object's centre is in cell $i$, and of the
# $B$ boxes of the cell, box $j$ has the highest IoU with it), and $\mathbb 1^{\text{obj}}_i$ be 1
# when any object is centred in cell $i$:
#
# $$ \begin{aligned}
# L ={}& \lambda_{\text{coord}} \sum_{i=1}^{S^2} \sum_{j=1}^{B} \mathbb 1^{\text{obj}}_{ij}
#   \Big[(x_i - \hat x_{ij})^2 + (y_i - \hat y_{ij})^2\Big]
#  + \lambda_{\text{coord}} \sum_{i,j} \mathbb 1^{\text{obj}}_{ij}
#   \Big[\big(\sqrt{w_i} - \sqrt{\hat w_{ij}}\big)^2
#   + \big(\sqrt{h_i} - \sqrt{\hat h_{ij}}\big)^2\Big] \\
#  &+ \sum_{i,j} \mathbb 1^{\text{obj}}_{ij} \big(c_{ij} - \hat c_{ij}\big)^2
#  + \lambda_{\text{noobj}} \sum_{i,j} \big(1 - \mathbb 1^{\text{obj}}_{ij}\big)\, \hat c_{ij}^{\,2}
#  + \sum_{i=1}^{S^2} \mathbb 1^{\text{obj}}_i \sum_{c=1}^{C} \big(p_i(c) - \hat p_i(c)\big)^2 ,
# \end{aligned} $$
#
# with $\lambda_{\text{coord}} = 5$ and $\lambda_{\text{noobj}} = 0.5$, where the target
# confidence $c_{ij}$ is the IoU of the predicted box with the truth. The weights fix two
# imbalances: most of the 98 boxes hold no object, so their confidence terms would swamp the
# rest ($\lambda_{\text{noobj}}$ shrinks them, $\lambda_{\text{coord}}$ boosts the few box
# terms). The **square roots** fix a third: a given error in pixels matters more for a small box
# than for a large one, and the square root makes the loss grow more steeply for small widths:

# %%
sqrt_errors = []
for w_true in (0.05, 0.5):                                      # widths relative to the image
    w_pred = w_true + 0.03                                      # the same error: 3% of the image
    err_sqrt = (math.sqrt(w_pred) - math.sqrt(w_true)) ** 2
    print(f"true width {w_true:.2f}, predicted {w_pred:.2f}: squared error of w "
          f"{(w_pred - w_true) ** 2:.5f}, of sqrt(w) {err_sqrt:.5f}; "
          f"IoU (same centre and height) {w_true / w_pred:.2f}")
    sqrt_errors.append(err_sqrt)
print(f"the error of sqrt(w) is {sqrt_errors[0] / sqrt_errors[1]:.1f} times larger for the "
      "small box")

# %% [markdown]
# Same error in pixels and the same squared error of $w$, but the small box loses far more IoU
# than the large one, and the error of $\sqrt w$ is larger for the small box by the factor
# printed. The square root is a partial fix; the logarithm in the parametrisation of Fast R-CNN
# (lecture 09, section 10) makes the loss fully relative.
#
# YOLO ran at **45 frames per second** on a Titan X GPU, with 63.4% mAP on VOC 2007 (trained on
# 2007 + 2012), below Fast R-CNN's 70.0% on the same data. In the YOLO paper's comparison, on
# the same GPU, Faster R-CNN with VGG-16 runs at 7 frames per second (its authors measured 5 on
# their slower K40). YOLO's errors are mostly poor localisation, and it struggles with small
# objects in groups (a cell has only two boxes and one class). It makes far fewer background
# mistakes than Fast R-CNN, because it sees the whole image at once, and it generalised better
# to art work.
#
# ## 2. YOLOv2: a sequence of small improvements
#
# Redmon and Farhadi (2017) improved YOLO step by step and measured each step on VOC 2007:
#
# | step | added | mAP |
# |---|---|---|
# | YOLO | | 63.4 |
# | 1 | batch normalisation on every convolution (and no dropout) | 65.8 |
# | 2 | high-resolution classifier: fine-tune the ImageNet network at $448 \times 448$ | 69.5 |
# | 3 | fully convolutional, anchor boxes (recall 81% → 88%, mAP about the same) | 69.2 |
# | 4 | new backbone (Darknet-19) | 69.6 |
# | 5 | dimension priors from k-means + bounded location prediction | 74.4 |
# | 6 | passthrough: the $26 \times 26$ features joined to the $13 \times 13$ map | 75.4 |
# | 7 | multi-scale training: every 10 batches a new input size from 320 to 608 | 76.8 |
# | 8 | high-resolution detector (544 × 544 at test time) | 78.6 |
#
# Two of them are worth writing down. **Dimension priors**: instead of hand-picked anchors (Faster
# R-CNN's nine, lecture 09, section 11), run k-means on the widths and heights of the training
# boxes, with the distance
# $d(\text{box}, \text{centroid}) = 1 - \text{IoU}(\text{box}, \text{centroid})$ (both boxes
# centred at the same point), so that the priors are the shapes the data set actually contains.
# The Euclidean distance would let large boxes dominate. With $k = 5$ the priors reached an
# average IoU of 61.0 with the VOC boxes, as much as nine hand-picked anchors (60.9). **Bounded
# location prediction**: the box centre is predicted relative to its cell,
#
# $$ b_x = \sigma(t_x) + c_x, \quad b_y = \sigma(t_y) + c_y, \quad b_w = p_w e^{t_w}, \quad
#    b_h = p_h e^{t_h}, $$
#
# where $(c_x, c_y)$ is the cell's corner, $(p_w, p_h)$ the prior's size and $\sigma$ the
# logistic sigmoid, so the centre cannot leave its cell. With Faster R-CNN's unbounded offsets
# $x = x_a + w_a t_x$, any anchor can end up anywhere in the image, which made early training
# unstable.
#
# k-means with $1 - \text{IoU}$ on the box sizes of 500 shapes scenes, and on the same boxes
# rescaled by random zoom factors (1 to 8) and aspect ratios (1:2 to 2:1), as if the scenes had
# been photographed at different distances, where the choice of distance matters:

# %%
prior_scenes = make_scenes(500, seed=11)
all_boxes = np.concatenate(prior_scenes.boxes)                  # (N, 4)
wh = np.stack([all_boxes[:, 2] - all_boxes[:, 0], all_boxes[:, 3] - all_boxes[:, 1]], axis=1)
previous = 0.0
for k in range(1, 6):
    res = priors.kmeans_iou(wh, k)
    print(f"k = {k}: mean IoU {res.mean_iou:.3f} ({res.mean_iou - previous:+.3f}), "
          "priors (w x h):", ", ".join(f"{w:.1f}x{h:.1f}" for w, h in res.centroids))
    previous = res.mean_iou
zoom = 2 ** rng.uniform(0, 3, size=len(wh))                     # 1x to 8x
aspect = 2 ** rng.uniform(-1, 1, size=len(wh))                  # h / w from 1/2 to 2
wh_wide = wh * zoom[:, None] * np.stack([1 / np.sqrt(aspect), np.sqrt(aspect)], axis=1)
res_iou = priors.kmeans_iou(wh_wide, 5)
euclid = KMeans(5, n_init=1, random_state=0).fit(wh_wide).cluster_centers_
best_iou_e = priors.wh_iou(wh_wide, euclid).max(axis=1)
best_iou_i = priors.wh_iou(wh_wide, res_iou.centroids).max(axis=1)
area = wh_wide.prod(axis=1)
is_small = area < np.median(area)                               # the smaller half of the boxes
print(f"rescaled boxes: sides from {wh_wide.min():.0f} to {wh_wide.max():.0f} px")
for name, cents, best_iou in [("1 - IoU", res_iou.centroids, best_iou_i),
                              ("Euclidean", euclid, best_iou_e)]:
    print(f"{name:9s} priors: mean IoU {best_iou.mean():.3f}, on the smaller half of the boxes "
          f"{best_iou[is_small].mean():.3f}; {np.sum(cents.prod(axis=1) > np.median(area))} of "
          f"the 5 priors larger than the median box")
worse = best_iou_e[is_small].mean() < best_iou_i[is_small].mean()
print(f"the Euclidean priors serve the small boxes {'worse' if worse else 'no worse'} than the "
      "1 - IoU priors")
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
res2 = priors.kmeans_iou(wh, 2)
axes[0].scatter(wh[:, 0], wh[:, 1], s=4, c=[CLASS_COLORS[i] for i in res2.assign], alpha=0.5)
axes[0].plot(*res2.centroids.T, "k*", ms=12)
axes[0].set_title("shapes boxes: 2 priors (stars)", fontsize=10)
axes[1].scatter(wh_wide[:, 0], wh_wide[:, 1], s=3, color="0.6", alpha=0.5)
for cents, best_iou, marker, col, name in [
        (res_iou.centroids, best_iou_i, "*", CLASS_COLORS[5], "1 - IoU"),
        (euclid, best_iou_e, "P", CLASS_COLORS[0], "Euclidean")]:
    axes[1].plot(*cents.T, marker, color=col, ms=11,
                 label=f"{name}: mean IoU {best_iou.mean():.2f} "
                       f"(small boxes {best_iou[is_small].mean():.2f})")
axes[1].set_xscale("log")
axes[1].set_yscale("log")
axes[1].legend(fontsize=7.5, loc="upper left")
axes[1].set_title("rescaled boxes, k = 5 (log axes)", fontsize=10)
for ax in axes:
    ax.set_xlabel("width (px)")
    ax.set_ylabel("height (px)")
fig.tight_layout()
plt.show()

# %% [markdown]
# The shapes are nearly square and come in two sizes, and k-means finds exactly that: the two
# priors printed for $k = 2$ are squares, a small one and a large one, and the gain in mean IoU
# printed beside each $k$ is large for the second prior and small after it. On the rescaled
# boxes the Euclidean centroids sit further towards the large boxes, where the distances are
# large, and serve the small boxes worse than the IoU centroids do (the lines printed above the
# figure). The YOLOv2
# paper chose $k = 5$ for VOC and COCO as a compromise between recall and the cost of more
# outputs.
#
# Speed and accuracy of YOLOv2 at different input sizes, against other detectors, all trained
# on VOC 2007 + 2012, tested on VOC 2007 and timed on one Titan X GPU (from the YOLOv2 paper; one
# network, evaluated at several sizes thanks to multi-scale training):
#
# | detector | mAP | frames per second |
# |---|---|---|
# | Fast R-CNN | 70.0 | 0.5 |
# | Faster R-CNN, VGG-16 | 73.2 | 7 |
# | Faster R-CNN, ResNet | 76.4 | 5 |
# | YOLO | 63.4 | 45 |
# | SSD300 | 74.3 | 46 |
# | SSD500 | 76.8 | 19 |
# | YOLOv2 288 × 288 | 69.0 | 91 |
# | YOLOv2 352 × 352 | 73.7 | 81 |
# | YOLOv2 416 × 416 | 76.8 | 67 |
# | YOLOv2 480 × 480 | 77.8 | 59 |
# | YOLOv2 544 × 544 | 78.6 | 40 |
#
# ## 3. SSD: default boxes on several feature maps
#
# **SSD**, the single shot multibox detector (Liu et al., 2016), combines YOLO's single pass
# with Faster R-CNN's anchors, which it calls **default boxes**, and adds one more idea:
# **predict from several feature maps**. After the VGG-16 backbone come extra convolutional
# layers that halve the resolution step by step; each of six maps, from $38 \times 38$ down to
# $1 \times 1$ for a $300 \times 300$ input, has its own $3 \times 3$ convolutional predictors,
# which output for each of its 4 or 6 default boxes per position $C + 1$ class scores and 4 box
# offsets. Early, fine maps have small default boxes and handle small objects; late, coarse maps
# handle large ones. The scale of the default boxes of map $k$ out of $m$ grows linearly,
# $s_k = s_{\min} + (s_{\max} - s_{\min})\frac{k - 1}{m - 1}$ with $s_{\min} = 0.2$,
# $s_{\max} = 0.9$ (fractions of the image side), and each scale comes in aspect ratios
# $\{1, 2, 3, 1/2, 1/3\}$. Training matches default boxes to true boxes by IoU > 0.5, uses
# smooth L1 for the boxes and keeps the hardest negatives at 3 per positive (**hard negative
# mining**). Counting the outputs of SSD300:

# %%
ssd_maps = [(38, 4), (19, 6), (10, 6), (5, 6), (3, 4), (1, 4)]  # (side, default boxes per cell)
per_map = [side * side * k for side, k in ssd_maps]
print(" + ".join(f"{s}x{s}x{k}" for s, k in ssd_maps), f"= {sum(per_map):,} default boxes")
print(f"with 21 VOC scores and 4 offsets each: {sum(per_map) * 25:,} outputs per image")
m = 6
print("scales s_k:", [round(0.2 + 0.7 * (k - 1) / (m - 1), 2) for k in range(1, m + 1)])

# %% [markdown]
# SSD300's 8732 default boxes (the paper's count, which the sum reproduces) against YOLO's 98:
# SSD300 reached 74.3% mAP at 46 frames per second, as accurate as
# Faster R-CNN and as fast as YOLO. With that many boxes, nearly all of them background, the
# training of a single-stage detector is dominated by easy negatives; hard negative mining is
# SSD's answer, and the focal loss (section 5) is a better one.
#
# ## 4. Feature pyramid networks
#
# Objects come in all sizes. The classic answer is an **image pyramid**: run the detector on the
# image at several scales (OverFeat did, lecture 09, section 4), which multiplies the cost. A CNN
# computes a pyramid anyway: its feature maps halve in resolution from stage to stage. SSD
# predicts from several of them, but the early, fine maps are semantically weak (few layers have
# seen them), so SSD does poorly on small objects. **Feature pyramid networks** (FPN; Lin et al.,
# 2017) give every level strong semantics:
#
# * the **bottom-up** path is the backbone, with stage outputs $C_2, C_3, C_4, C_5$ at strides
#   4, 8, 16, 32;
# * the **top-down** path starts from the coarsest map, $P_5 = \text{conv}_{1\times1}(C_5)$, and
#   goes up in resolution: upsample $P_{l+1}$ by 2 (nearest neighbour) and add a **lateral
#   connection**, a $1 \times 1$ convolution of $C_l$ that brings it to the same 256 channels;
# * a $3 \times 3$ convolution on each sum reduces the aliasing of the upsampling.
#
# Each $P_l$ combines the strong semantics of the deep levels with the precise positions of the
# shallow ones. A detector then predicts from every level with the same head: an RPN with one
# anchor size per level (areas $32^2$ to $512^2$ on $P_2$ to $P_6$), and a Fast R-CNN head that
# pools a RoI of size $w \times h$ from level $k = \lfloor 4 + \log_2(\sqrt{wh}/224) \rfloor$.
# Faster R-CNN with FPN improved COCO AP by a few points, most of it on small objects. The
# top-down path in a few lines of torch, on random weights and a $128 \times 128$ shapes scene,
# to follow the shapes:

# %%
class TinyFPN(nn.Module):
    """Bottom-up: a stride-2 stem and 4 stride-2 stages (C2..C5 at strides 4..32);
    top-down: upsample x2 + lateral 1x1 conv; a 3x3 conv on each level."""

    def __init__(self, widths=(16, 32, 64, 128), out=32):
        super().__init__()
        chans = (8,) + widths
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU())
        self.stages = nn.ModuleList(
            nn.Sequential(nn.Conv2d(chans[i], chans[i + 1], 3, stride=2, padding=1), nn.ReLU())
            for i in range(4))
        self.lateral = nn.ModuleList(nn.Conv2d(c, out, 1) for c in widths)
        self.smooth = nn.ModuleList(nn.Conv2d(out, out, 3, padding=1) for _ in widths)

    def forward(self, x):
        cs, x = [], self.stem(x)
        for stage in self.stages:                               # bottom-up: C2 .. C5
            x = stage(x)
            cs.append(x)
        p = self.lateral[-1](cs[-1])                            # P5 from C5
        ps = [self.smooth[-1](p)]
        for level in (2, 1, 0):                                 # top-down: P4, P3, P2
            p = F.interpolate(p, scale_factor=2, mode="nearest") + self.lateral[level](cs[level])
            ps.insert(0, self.smooth[level](p))
        return cs, ps


image = make_scenes(1, seed=24, size=128, min_objects=3, max_objects=4).images[0]  # (128, 128, 3)
with torch.no_grad():
    cs, ps = TinyFPN()(torch.from_numpy(image.transpose(2, 0, 1).copy())[None])
for k, (c, p) in enumerate(zip(cs, ps, strict=True)):
    print(f"stride {2 ** (k + 2):2d}: C{k + 2} {tuple(c.shape)} -> P{k + 2} {tuple(p.shape)}")
for w, h in [(32, 32), (112, 112), (224, 224), (500, 400)]:
    level = math.floor(4 + math.log2(math.sqrt(w * h) / 224))
    print(f"a {w}x{h} RoI: k = {level}, pooled from P{min(5, max(2, level))}")

# %% [markdown]
# (The level is clamped to the levels that exist, $P_2$ to $P_5$.) Every level has the same
# number of channels, so one head serves all of them.
#
# ## 5. Class imbalance and the focal loss
#
# Single-stage detectors were faster but less accurate than two-stage ones, and Lin et al. (2017)
# found the main reason in training, not in the architecture. A two-stage detector's proposals
# already remove most background, and its RoI sampling (25% foreground, lecture 09, section 10)
# keeps the classes balanced. A single-stage detector scores about 100 000 anchors per image, of
# which a few dozen hold objects. Nearly all the rest are **easy negatives**: background that the
# network already recognises with high confidence. Each contributes a small cross-entropy, but
# there are so many that together they dominate the loss and its gradient, and the few informative
# examples drown.
#
# Write $p_t$ for the probability the model gives the true class ($p_t = p$ for an object
# anchor, $1 - p$ for a background one). The **focal loss** multiplies the cross-entropy
# $-\log p_t$ by a factor that vanishes for well-classified examples:
#
# $$ \text{FL}(p_t) = -\alpha_t\,(1 - p_t)^{\gamma} \log p_t . $$
#
# The **focusing parameter** $\gamma \geq 0$ sets how fast the factor vanishes ($\gamma = 0$ is
# the cross-entropy); $\alpha_t$ weights the two classes ($\alpha$ for objects, $1 - \alpha$
# for background). The paper uses $\gamma = 2$, $\alpha = 0.25$. How much an example is
# down-weighted relative to the cross-entropy:

# %%
print("p_t    " + "".join(f"gamma={g:<6g}" for g in (0.5, 1, 2, 5)))
for p_t in (0.3, 0.5, 0.9, 0.99):
    factors = [(1 - p_t) ** g for g in (0.5, 1, 2, 5)]
    print(f"{p_t:<6} " + "".join(f"{1 / f:<12,.0f}" if round(1 / f, 1) >= 10
                                 else f"{1 / f:<12.1f}" for f in factors))
p_easy, p_hard = 0.99, 0.3
print(f"\ngamma = 2: an easy background anchor (p_t = {p_easy}) keeps {(1 - p_easy) ** 2:.0e} of "
      f"its cross-entropy: {1 / (1 - p_easy) ** 2:,.0f} times less; a hard one (p_t = {p_hard}) "
      f"keeps {(1 - p_hard) ** 2:.2f}")

# %% [markdown]
# With $\gamma = 2$, an example classified with $p_t = 0.9$ weighs $1 / (1 - 0.9)^2 = 100$ times
# less than under the cross-entropy and one with $p_t = 0.99$ **ten thousand times less**, while a
# hard example with $p_t = 0.3$ keeps $(1 - 0.3)^2 = 0.49$, about half, of its loss. The loss of a
# batch now comes from the examples the network still gets wrong.
#
# ### Play with it: focal loss against cross-entropy
#
# **Left**: the cross-entropy (black), the focal loss without $\alpha$ (blue) and with
# $\alpha_t$ for object (dashed) and background anchors (dash-dot), with an easy background
# anchor ($p_t = 0.99$) and a hard object ($p_t = 0.3$) marked. **Right**: a batch of 100 000
# easy background anchors and 100 hard object anchors: which share of the total loss each group
# makes, under the cross-entropy and under the focal loss.
#
# Things to try:
#
# 1. Set $\gamma = 0$. Which curve does the focal loss become? Who makes most of the batch's
#    loss?
# 2. Raise $\gamma$ slowly from 0. At what $\gamma$ do the easy anchors make less than half of
#    the focal loss?
# 3. With $\gamma = 2$, move $\alpha$. Why does RetinaNet give the rare class (objects) the
#    *smaller* weight, 0.25? (Hint: compare the two groups' shares at $\gamma = 0$ and at
#    $\gamma = 2$.)
# 4. Switch on the log axis. Where do the curves differ by a constant factor, and where does the
#    focal loss fall away?

# %%
FocalLossView()

# %% [markdown]
# ### RetinaNet
#
# To show that the loss was what held single-stage detectors back, Lin et al. built a plain one,
# **RetinaNet**: a ResNet backbone with an FPN ($P_3$ to $P_7$), 9 anchors per position (3
# scales $\times$ 3 aspect ratios) on each level, about 100 000 in all, and two small fully
# convolutional subnets shared across levels, one for classification (a sigmoid per class, no
# background class) and one for box regression. Anchors with IoU at least 0.5 are positives,
# below 0.4 negatives, in between ignored. Two details matter: the focal loss is summed over all
# anchors and divided by the number of positives, and the last classification layer is
# initialised so that every anchor starts with an object probability of $\pi = 0.01$ (bias
# $-\log((1 - \pi)/\pi)$), so that the flood of background does not produce a huge loss in the
# first iterations. RetinaNet was more accurate than every two-stage detector of its time on COCO
# (39.1 AP with ResNet-101) while keeping a single stage.
#
# ## 6. Speed against accuracy
#
# Lectures 09 and 10 in one table: every step bought speed, accuracy or both. The numbers come
# from the papers, so the GPU and the training data differ between rows. The first three rows
# were trained on VOC 2007 alone, the last three on VOC 2007 + 2012, and those extra images
# are worth about 3 points of mAP: Faster R-CNN goes from 69.9 to 73.2, Fast R-CNN from 66.9 to
# 70.0. All are tested on VOC 2007.
#
# | detector | year | proposals | VOC 2007 mAP | time per image | GPU |
# |---|---|---|---|---|---|
# | R-CNN (VGG-16) | 2014 | selective search, ~2000 | 66.0 | 47 s (+ ~2 s proposals) | K40 |
# | Fast R-CNN (VGG-16) | 2015 | selective search, ~2000 | 66.9 | 0.32 s (+ ~2 s proposals) | K40 |
# | Faster R-CNN (VGG-16) | 2015 | RPN, ~300 | 69.9 | 0.2 s (5 fps) | K40 |
# | YOLO | 2016 | none | 63.4 | 22 ms (45 fps) | Titan X |
# | SSD300 | 2016 | none | 74.3 | 22 ms (46 fps) | Titan X |
# | YOLOv2 544 | 2017 | none | 78.6 | 25 ms (40 fps) | Titan X |
#
# and as a picture, the YOLOv2 paper's comparison, where all detectors were trained on VOC
# 2007 + 2012 and timed on the same Titan X (which is why Faster R-CNN with VGG-16 appears at
# 7 frames per second here, not at the 5 of its own paper's K40):

# %%
detectors = {"Fast R-CNN": (0.5, 70.0), "Faster R-CNN VGG-16": (7, 73.2),
             "Faster R-CNN ResNet": (5, 76.4), "YOLO": (45, 63.4), "SSD300": (46, 74.3),
             "SSD500": (19, 76.8)}
yolo2 = {288: (91, 69.0), 352: (81, 73.7), 416: (67, 76.8), 480: (59, 77.8), 544: (40, 78.6)}
fig, ax = plt.subplots(figsize=(8, 3.6))
for k, (name, (fps, m)) in enumerate(detectors.items()):
    ax.plot(fps, m, "o", color=CLASS_COLORS[k], ms=8)
    ax.annotate(name, (fps, m), textcoords="offset points", xytext=(6, -3), fontsize=8)
f2, m2 = np.array(list(yolo2.values())).T
ax.plot(f2, m2, "s-", color="k", ms=5, label="YOLOv2 at 288 ... 544 px")
for size, (fps, m) in yolo2.items():
    ax.annotate(str(size), (fps, m), textcoords="offset points", xytext=(4, 4), fontsize=7)
ax.axvline(30, color="0.6", ls=":", lw=1)
ax.text(28, 62.5, "real time (30 fps)", fontsize=8, color="0.4", ha="right")
ax.set_xscale("log")
ax.set_xlim(0.3, 200)
ax.set_ylim(61.5, 80)
ax.set_xlabel("frames per second on a Titan X GPU (log scale)")
ax.set_ylabel("VOC 2007 mAP (%)")
ax.legend(fontsize=8, loc="upper left")
plt.show()

# %% [markdown]
# Later detectors (RetinaNet, Mask R-CNN of lecture 09, section 12, and many after them) report
# on COCO, where the differences between methods are larger. Huang et al. (2017) compared the
# main families with the same backbones and hardware: two-stage detectors with large backbones
# are the most accurate, single-stage detectors with light backbones the fastest, and the gap
# depends much on the size of the objects.
#
# Boxes are as far as detection goes. Lecture 11 labels every pixel instead: semantic
# segmentation, and instance segmentation, which lecture 09's Mask R-CNN already touched.
#
# ## Check yourself
#
# **1.** What is the size of YOLO's output for a $5 \times 5$ grid, 3 boxes per cell and 10
# classes? Why does its loss use $\sqrt w$ and $\sqrt h$?
#
# <details><summary>Answer</summary>
#
# $5 \times 5 \times (3 \cdot 5 + 10) = 5 \times 5 \times 25$, 625 numbers. The square root
# makes the same absolute error count more for a small box than for a large one, which better
# reflects its effect on the IoU.
# </details>
#
# **2.** Why does YOLOv2 cluster box sizes with the distance $1 - \text{IoU}$ instead of the
# Euclidean distance?
#
# <details><summary>Answer</summary>
#
# With the Euclidean distance large boxes produce large distances and pull the centroids
# towards them, while what matters for an anchor is how well it overlaps the boxes it must
# predict, a relative quantity. $1 - \text{IoU}$ measures that directly and treats small and
# large boxes alike.
# </details>
#
# **3.** An SSD-style detector for 20 classes predicts from a $10 \times 10$ map with 6 default
# boxes per position and from a $5 \times 5$ map with 4. How many default boxes does it have,
# and how many outputs? On which map should the default boxes be the smaller ones, and why?
#
# <details><summary>Answer</summary>
#
# $10 \cdot 10 \cdot 6 + 5 \cdot 5 \cdot 4 = 600 + 100 = 700$ default boxes, each with
# $20 + 1 = 21$ class scores and 4 offsets: $700 \times 25 = 17\,500$ outputs. The small boxes
# belong on the $10 \times 10$ map: its positions are closer together (half the stride), so it
# can lay small boxes densely enough not to miss small objects, while each position of the
# $5 \times 5$ map sees a larger part of the image and suits large objects.
# </details>
#
# **4.** With FPN's rule $k = \lfloor 4 + \log_2(\sqrt{wh}/224) \rfloor$, from which level is a
# $56 \times 56$ RoI pooled, and a $448 \times 448$ one? Why should a small RoI come from a fine
# level?
#
# <details><summary>Answer</summary>
#
# $\log_2(56/224) = -2$, so $k = 2$: $P_2$, stride 4. $\log_2(448/224) = 1$, so $k = 5$: $P_5$,
# stride 32. On $P_2$ the small RoI covers $14 \times 14$ cells, enough to pool a $7 \times 7$
# grid from distinct positions; on $P_5$ it would cover less than $2 \times 2$ cells, and the
# pooled grid would repeat the same few values. The large RoI covers $14 \times 14$ cells of
# $P_5$: the rule pools every RoI from the level where it spans about the same number of cells.
# </details>
#
# **5.** With the focal loss, $\gamma = 2$ and no $\alpha$, by what factor is an example with
# $p_t = 0.9$ down-weighted relative to the cross-entropy? One with $p_t = 0.5$? Why does this
# matter more for RetinaNet than for Faster R-CNN's second stage?
#
# <details><summary>Answer</summary>
#
# $(1 - 0.9)^2 = 0.01$, a factor of 100; $(1 - 0.5)^2 = 0.25$, a factor of 4. A single-stage
# detector scores some 100 000 anchors per image, nearly all easy background; the second stage
# of Faster R-CNN sees a few hundred proposals, already filtered by the RPN and sampled at 25%
# foreground, so it has no flood of easy negatives to tame.
# </details>
#
# **6.** RetinaNet sets the bias of its last classification layer to
# $b = -\log((1 - \pi)/\pi)$ with $\pi = 0.01$. What object probability does every anchor start
# with? Suppose instead that $b = 0$, on an image with 100 000 background anchors: what is their
# total cross-entropy at the first step, and why is that a problem?
#
# <details><summary>Answer</summary>
#
# $\sigma(b) = 1 / \big(1 + (1 - \pi)/\pi\big) = \pi = 0.01$. With $b = 0$ every anchor starts
# at $p = 0.5$, and each background anchor costs $-\log 0.5 \approx 0.69$: about 69 000 in all,
# against a few dozen object anchors. The first gradients come almost entirely from background
# and are huge, which made training unstable; even the focal loss, whose factor at $p_t = 0.5$ is
# $(1 - 0.5)^2 = 0.25$, keeps a quarter of it. With $\pi = 0.01$ a background anchor costs
# $-\log 0.99 \approx 0.01$, about 1000 in all, and the focal loss keeps only $10^{-4}$ of that.
# </details>
#
# ## Summary
#
# * **Single-stage** detectors drop the proposals and the head that looks at each proposal: one
#   fully convolutional pass predicts class scores and box corrections for a fixed set of boxes
#   (grid cells, default boxes, anchors). They keep what two-stage detectors taught: anchors,
#   the box parametrisation, NMS.
# * **YOLO**: an $S \times S$ grid, $B$ boxes with confidences and $C$ class probabilities per
#   cell ($7 \times 7 \times 30$ for VOC), a weighted sum-of-squares loss with $\sqrt w$ and
#   $\sqrt h$; 45 fps on a Titan X, 63.4 mAP.
# * **YOLOv2**: batch norm, high-resolution classifier, anchors chosen by k-means with the
#   distance $1 - \text{IoU}$ (the Euclidean distance favours large boxes), bounded centres
#   $\sigma(t_x) + c_x$, passthrough, multi-scale training; 78.6 mAP at 40 fps on a Titan X.
# * **SSD**: default boxes on six feature maps, small boxes on the fine maps and large ones on
#   the coarse maps, 8732 boxes for SSD300; hard negative mining at 3 negatives per positive.
# * **FPN** builds a pyramid with strong semantics at every level: a top-down path of upsampling
#   plus lateral $1 \times 1$ connections, one head for all levels, RoIs pooled from the level
#   that fits their size.
# * The **focal loss** $-\alpha_t (1 - p_t)^\gamma \log p_t$ down-weights the flood of easy
#   negatives ($10^4$ times at $p_t = 0.99$, $\gamma = 2$); **RetinaNet** = FPN + anchors + focal
#   loss + a prior probability of 0.01 at initialisation: a single stage as accurate as two.
# * Compare detectors on the same training data, GPU and metric: the extra VOC 2012 images alone
#   are worth about 3 points of VOC 2007 mAP.
#
# ## Papers and further reading
#
# The papers of the two-stage detectors (R-CNN, Fast R-CNN, Mask R-CNN), of the data sets and of
# the proposals are listed in lecture 09.
#
# * S. Ren, K. He, R. Girshick, J. Sun (2015). Faster R-CNN: towards real-time object detection
#   with region proposal networks. *NeurIPS 2015*; *IEEE TPAMI* 39(6), 2017. The anchors and the
#   RPN this lecture starts from.
# * T.-Y. Lin, M. Maire, S. Belongie, J. Hays, P. Perona, D. Ramanan, P. Dollár, C. L. Zitnick
#   (2014). Microsoft COCO: common objects in context. *ECCV 2014*.
# * J. Redmon, S. Divvala, R. Girshick, A. Farhadi (2016). You only look once: unified,
#   real-time object detection. *CVPR 2016*.
# * J. Redmon, A. Farhadi (2017). YOLO9000: better, faster, stronger. *CVPR 2017*. YOLOv2.
# * J. Redmon, A. Farhadi (2018). YOLOv3: an incremental improvement. arXiv:1804.02767.
# * W. Liu, D. Anguelov, D. Erhan, C. Szegedy, S. Reed, C.-Y. Fu, A. C. Berg (2016). SSD: single
#   shot multibox detector. *ECCV 2016*.
# * T.-Y. Lin, P. Dollár, R. Girshick, K. He, B. Hariharan, S. Belongie (2017). Feature pyramid
#   networks for object detection. *CVPR 2017*.
# * T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollár (2017). Focal loss for dense object
#   detection. *ICCV 2017*. RetinaNet.
# * J. Huang, V. Rathod, C. Sun, et al. (2017). Speed/accuracy trade-offs for modern
#   convolutional object detectors. *CVPR 2017*.
# * Stanford CS231n course notes and lecture on detection and segmentation,
#   https://cs231n.github.io/ .
