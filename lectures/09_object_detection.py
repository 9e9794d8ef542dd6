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
# # Lecture 09 — Object detection: from sliding windows to two-stage detectors
#
# A classifier answers one question about a whole image: *what is this?* Most uses of vision need
# more. A car must know *where* the pedestrians are, a robot where the cup is, a photo app where
# the faces are, and there is rarely exactly one of each. **Object detection** asks for a list:
# for every object of the classes we care about, a class label, a confidence and a bounding box.
# The number of objects is unknown beforehand, they come in every size and position, and most of
# the image is background.
#
# This lecture and the next follow the road the field took between 2013 and 2017, because each
# step fixes a weakness of the one before. This lecture starts with a single object, where the
# box is just four more numbers to regress; moves to many objects with sliding windows, which are
# correct but slow; makes them fast by sharing computation (OverFeat), then by looking only at
# promising regions (R-CNN, Fast R-CNN, Faster R-CNN); and ends with Mask R-CNN, which adds a
# mask to each box. All of these detectors but the first have **two stages**: one proposes
# regions, the other classifies them and corrects their boxes. Lecture 10 drops the proposals
# with single-stage detectors (YOLO, SSD) and covers the ideas that made a single stage as
# accurate as two (feature pyramids and the focal loss).
#
# **After this lecture you can**
#
# 1. set up classification plus localisation as a network with two heads and a multitask loss,
#    and say what class-agnostic and class-specific box heads are;
# 2. count the windows a sliding-window detector must score, and explain how OverFeat scores
#    them all in one pass by turning fully connected layers into convolutions;
# 3. describe the detection data sets (PASCAL VOC, ILSVRC, COCO), read a VOC annotation,
#    compute the IoU of two boxes, and say how VOC's mAP and COCO's AP score a detector;
# 4. explain region proposals and the R-CNN family: warped regions and SVMs, shared features and
#    RoI pooling, the box parametrisation $(t_x, t_y, t_w, t_h)$ and smooth L1, the region
#    proposal network with its anchors;
# 5. run greedy non-maximum suppression by hand;
# 6. explain how Mask R-CNN adds masks to Faster R-CNN, and why it replaces RoI pooling by
#    RoIAlign.
#
# **Plan.** Tasks → localisation as regression (a small network trained here) → sliding windows
# → OverFeat → data sets, annotations and IoU → evaluation with mAP → region proposals → R-CNN
# → non-maximum suppression → Fast R-CNN → Faster R-CNN and anchors → Mask R-CNN and RoIAlign
# → questions, summary, papers.
#
# Assignment a4 asks you to write the core of a detector yourself: vectorised IoU, non-maximum
# suppression, box encoding and decoding, anchors and their matching, smooth L1 and focal loss,
# detection AP, RoI pooling and RoIAlign, and a single-stage detector (the focal loss and the
# single-stage detector belong to lecture 10). Here they appear as formulas, worked numbers and
# short loops that read like the formulas (the widgets use the loop versions in
# `dlcv.detection.boxes`); the networks and the pictures come from `dlcv.detection.localization`.

# %%
# %matplotlib inline
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle
from torch import nn

from dlcv.data import load_photo
from dlcv.detection import localization as loc
from dlcv.detection.boxes import anchor_boxes, anchor_shapes, iou_matrix, iou_pair, nms_steps
from dlcv.detection.voc import VOC_CLASSES, parse_voc_xml
from dlcv.detection.widgets import AnchorView, IoUNMSPlayground
from dlcv.plots import CLASS_COLORS
from dlcv.shapes import CLASSES, draw_boxes, make_scenes, show_scene
from dlcv.timing import cap_threads, time_call

plt.rcParams.update({"figure.figsize": (8, 3.2), "figure.dpi": 90, "font.size": 10})
np.set_printoptions(precision=3, suppress=True)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine
rng = np.random.default_rng(0)
_ = torch.manual_seed(0)

# %% [markdown]
# ## 1. From classification to detection
#
# Four tasks, in order of how much they say about an image:
#
# * **classification**: one label for the image;
# * **classification plus localisation**: one label and one box around the object that carries
#   it; the image is assumed to show one main object (ImageNet's localisation challenge);
# * **object detection**: a box, a label and a score for *every* object of the known classes,
#   however many there are;
# * **instance segmentation**: the same, with a pixel mask instead of (or besides) a box.
#
# A box is four numbers. This course writes it as $(x_1, y_1, x_2, y_2)$, the left, top, right
# and bottom edges in pixels, with pixel column $c$ covering $[c, c+1)$, so that a box's width is
# $x_2 - x_1$. Papers also use centre and size, $(x, y, w, h)$; converting between the two is
# one line each way. The shapes scenes of `dlcv.shapes` carry all four kinds of ground truth:

# %%
single = make_scenes(2, seed=21, min_objects=1, max_objects=1)
multi = make_scenes(2, seed=22, min_objects=3, max_objects=4)
fig, axes = plt.subplots(1, 4, figsize=(12, 3.4))
show_scene(axes[0], single.images[1], title=f"classification: '{CLASSES[single.labels[1][0]]}'")
show_scene(axes[1], single.images[1], single.boxes[1], single.labels[1],
           title="classification + localisation")
show_scene(axes[2], multi.images[1], multi.boxes[1], multi.labels[1], title="object detection")
show_scene(axes[3], multi.images[1], title="instance segmentation")
inst = multi.instance_map(1)
overlay = np.ma.masked_equal(inst, 0)
axes[3].imshow(overlay, cmap="tab10", alpha=0.75, extent=(0, 64, 64, 0), vmin=0, vmax=9,
               interpolation="nearest")
fig.tight_layout()
plt.show()
print("the detection scene:", "; ".join(multi.describe(1)))

# %% [markdown]
# The small circle at the top is partly hidden by the square in front of it: its box and mask
# cover only the *visible* pixels, as the annotations of real data sets do.
#
# ## 2. Localisation as regression
#
# With exactly one object per image, localisation is a regression problem: the network outputs
# four more numbers and is penalised for their distance to the true box. Take any
# classification network, keep its convolutional part and its first fully connected layer, and
# put two **heads** on the shared features $h$:
#
# * a **classification head**: $C$ scores, trained with the cross-entropy;
# * a **regression head**: a box $\hat b = (\hat x_1, \hat y_1, \hat x_2, \hat y_2)$, trained
#   with the squared L2 distance $\lVert \hat b - b \rVert^2$ to the true box $b$.
#
# The regression head comes in two kinds. A **class-agnostic** head outputs one box (4 numbers),
# whatever the class. A **class-specific** head outputs one box per class ($4C$ numbers) and at
# test time we read the box of the predicted class; during training only the true class's box
# gets a loss. Class-specific heads let the box strategy depend on the class (where the edges of
# a person are is a different question from where the edges of a bus are) and did better on
# ImageNet; they cost $4C$ outputs instead of 4.
#
# The two losses are added into one **multitask loss**,
#
# $$ L = \underbrace{-\log \hat p_y}_{\text{cross-entropy}}
#      + \lambda\,[y \neq \text{bg}]\,\lVert \hat b_y - b \rVert^2 , $$
#
# where $\lambda$ balances the two tasks. We add a *background* class for windows with no
# object ($[y \neq \text{bg}]$ is 1 when there is an object): a background window has no box to
# regress, so it contributes only to the cross-entropy. We will need that class in section 4.
# A common recipe trains the classifier first and then only the new regression head, or
# fine-tunes everything together; we train everything together from scratch.
#
# Our data: 1200 shapes scenes of $64 \times 64$ pixels with one object each, plus 144 empty
# scenes for the background class. The boxes are divided by 64 for the loss, so that the four
# targets lie in $[0, 1]$.

# %%
train = loc.localization_data(1200, seed=1)                      # objects + empty scenes
test = loc.localization_data(300, seed=2, empty_fraction=0.0)    # 300 one-object scenes
print(f"training windows {tuple(train.images.shape)}, labels {tuple(train.labels.shape)} "
      f"(0 = background: {int((train.labels == 0).sum())}), boxes {tuple(train.boxes.shape)}")
print("first scene:", train.scenes.describe(0)[0], "| label", int(train.labels[0]),
      f"= {loc.LOC_CLASSES[int(train.labels[0])]}, box", train.boxes[0].numpy())

net = loc.LocalizationNet(specific=False)                      # a class-agnostic box head
print(net)
print(f"{sum(p.numel() for p in net.parameters()):,} parameters")

# %% [markdown]
# The network halves the image to $32 \times 32$, runs three small convolutions without padding
# and two max-poolings, and ends with a fully connected layer of 64 units that feeds both heads.
# Training: Adam, minibatches of 32 in which a random half of the images is flipped left to
# right (with their boxes), loss weight $\lambda = 3$, twelve passes over the data. The time it
# takes on this machine is printed with the losses.

# %%
log = loc.train_localizer(net, train, epochs=12, box_weight=3.0)
prob, pred_box = loc.predict_boxes(net, test.images)             # (300, 4), (300, 4) in pixels
true_box, true_label = test.boxes.numpy(), test.labels.numpy()
pred_label = prob.argmax(axis=1)
print(f"trained in {log.seconds:.1f} s; loss per epoch:", np.round(log.loss, 2))
print(f"test accuracy {np.mean(pred_label == true_label):.1%}")

fig, axes = plt.subplots(2, 8, figsize=(13, 4.2))
for ax, i in zip(axes.ravel(), range(16), strict=True):
    show_scene(ax, test.scenes.images[i], true_box[i:i + 1], show_text=False, color="white",
               linestyle=":", linewidth=1.2)
    if pred_label[i] > 0:                                       # a shape: its class and box
        draw_boxes(ax, pred_box[i:i + 1], [pred_label[i] - 1], [prob[i, pred_label[i]]],
                   CLASSES, fontsize=6)
    else:                                                       # "background": no object seen
        ax.text(2, 60, f"background {prob[i, 0]:.2f}", fontsize=6, color="k",
                bbox=dict(facecolor="white", edgecolor="none", pad=0.8))
    ax.set_xlabel(f"IoU {iou_pair(pred_box[i], true_box[i]):.2f}", fontsize=8)
fig.suptitle("16 test scenes: true box dotted white, predicted box with class and probability",
             fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# How good is a box? The standard answer is the **intersection over union** of the predicted
# box $A$ with the true box $B$ (lecture 08, section 6):
#
# $$ \text{IoU}(A, B) = \frac{|A \cap B|}{|A \cup B|} \in [0, 1]. $$
#
# It is 1 for a perfect box, 0 for a box that misses, and it does not depend on the object's size:
# being 3 pixels off is bad for a 10-pixel object and harmless for a 100-pixel one. ImageNet's
# localisation challenge counts an answer as correct when the class is right and the IoU is at
# least 0.5. (The IoU here comes from `dlcv.detection.boxes.iou_pair`, the three-line loop version of
# lecture 08.)

# %%
ious = np.array([iou_pair(p, t) for p, t in zip(pred_box, true_box, strict=True)])
small = np.array([s[0] == 0 for s in test.scenes.sizes])
correct = (pred_label == true_label) & (ious >= 0.5)
accuracy = np.mean(pred_label == true_label)
located, precise = np.mean(ious >= 0.5), np.mean(ious >= 0.8)   # roughly right, precise
print(f"mean IoU {ious.mean():.2f}; IoU >= 0.5 for {located:.0%} of the boxes; "
      f"class right and IoU >= 0.5 (ImageNet's criterion): {correct.mean():.0%}")
print(f"class right for {accuracy:.0%} of the scenes, box right (IoU >= 0.5) for {located:.0%}: "
      f"the {'boxes' if located < accuracy else 'classes'} are the weaker part; "
      f"IoU >= 0.8 (a precise box) for {precise:.0%}")
iou_small, iou_large = ious[small].mean(), ious[~small].mean()
print(f"mean IoU of small objects {iou_small:.2f}, of large ones {iou_large:.2f}: "
      f"the {'small' if iou_small < iou_large else 'large'} objects suffer more")
fig, ax = plt.subplots(figsize=(7, 2.8))
edges = np.linspace(0, 1, 21)
ax.hist([ious[~small], ious[small]], edges, stacked=True, color=CLASS_COLORS[:2],
        label=["large objects (20–28 px)", "small objects (10–15 px)"])
ax.axvline(0.5, color="k", ls="--", lw=1)
ax.set_xlabel("IoU of the predicted box with the true box")
ax.set_ylabel("test scenes")
ax.legend(fontsize=8, loc="upper left")
ax.set_title(f"localisation as regression: IoU >= 0.5 for {located:.0%} of the boxes, "
             f">= 0.8 for {precise:.0%}", fontsize=10)
plt.show()

# %% [markdown]
# The classifier is good, the boxes are rough, and small objects suffer most (the comparisons
# printed above). Small objects are the hard case for any box: a box 2 pixels too large on every
# side of a 12-pixel square has $\text{IoU} = 12^2 / 16^2 \approx 0.56$. Predicting absolute
# coordinates from a fully connected layer after two max-poolings is hard, because pooling throws
# away exact positions, and our network saw only 1200 examples. Keep this in mind: the detectors
# below do not regress boxes from scratch; they *refine* a box that is already roughly in place
# (a window, a proposal, an anchor), which is a much easier regression.
#
# Try it yourself: `loc.LocalizationNet(specific=True)` has a class-specific head (12 box
# outputs). With so little data each class-specific box sees only a third of the examples, so
# do not expect it to win here.
#
# ### Human pose estimation as regression
#
# The same idea localises more than boxes. **DeepPose** (Toshev and Szegedy, 2014) regresses the
# positions of $k$ body joints (head, shoulders, elbows, wrists, hips, knees, ankles: $k = 14$
# in their data) with one network: the output is a vector of $2k$ numbers,
# $\hat y = (\hat x_1, \hat y_1, \dots, \hat x_k, \hat y_k)$. The joints are expressed relative to
# a box $b$ around the person (centre $b_c$, width $b_w$, height $b_h$),
# $\tilde y_i = \big((x_i - b_{c,x}) / b_w,\; (y_i - b_{c,y}) / b_h\big)$, so that the targets do
# not depend on where the person is or how large, and the loss is again the squared L2 distance
# summed over joints, $\sum_i \lVert \tilde y_i - \hat{\tilde y}_i \rVert^2$. Because one
# regression from the whole image is coarse, DeepPose then runs a **cascade**: for each joint it
# crops a small window around the current estimate and regresses a correction from that crop,
# at higher resolution. Later systems predict one heat map per joint instead (Mask R-CNN, section
# 12, treats each keypoint as a one-pixel mask), which is easier for a convolutional network than
# producing coordinates.
#
# ## 3. Many objects: sliding windows
#
# With several objects, regression runs out of outputs: there may be 0 objects or 30, and a
# network has a fixed number of outputs. The old answer turns detection back into
# classification: cut the image into **windows** at every position and scale (and a few aspect
# ratios), classify each window as one of the classes or background, and report the windows that
# score high. This is how the face detector of Viola and Jones (2001) and the pedestrian
# detector of Dalal and Triggs (2005) worked, and it is correct. The trouble is the count.

# %%
sizes = [32, 45, 64, 91, 128, 181, 256, 362]                 # window sides: factors of sqrt(2)
for step, what in [(None, "every pixel"), (0.125, "steps of 1/8 window")]:
    counts = loc.count_windows(640, 480, sizes, step=step, ratios=(0.5, 1.0, 2.0))
    total = sum(c for *_, c in counts)
    print(f"640x480 image, {len(sizes)} sizes x 3 aspect ratios, {what:20s}: {total:>10,} windows")
counts = loc.count_windows(640, 480, sizes, step=0.125, ratios=(1.0,))
print("square windows only, steps of 1/8 window:",
      ", ".join(f"{s}px: {c:,}" for s, _, c in counts))

# %% [markdown]
# The totals run to millions of windows at pixel steps and stay in the tens of thousands with
# steps of an eighth of the window. Every window is resized to the network's input size and
# classified. How long does that take? Time our little network on windows cut from a
# $128 \times 128$ image (one window is one $64 \times 64$ input):

# %%
big_image = loc.compose_scene(train.scenes, [0], [(32, 32)], size=128).image
crops, corners = loc.window_crops(torch.from_numpy(big_image.transpose(2, 0, 1).copy()))
seconds, _ = time_call(loc.predict_boxes, net, crops, repeats=3)
per_window = seconds / len(crops)
n_coarse = sum(c for *_, c in loc.count_windows(640, 480, sizes, 0.125, (0.5, 1.0, 2.0)))
print(f"{len(crops)} windows in {seconds * 1000:.0f} ms: {per_window * 1e3:.2f} ms per window")
print(f"{n_coarse:,} windows of a 640x480 image: {n_coarse * per_window:.1f} s with this "
      "network of 1.7 million multiply-adds per window")
print(f"a VGG-16 (15.5 billion multiply-adds per 224x224 window) is about "
      f"{15.5e9 / 1.7e6:,.0f} times more work per window")

# %% [markdown]
# The time printed for one $640 \times 480$ image is long even for our tiny network, and the
# networks that made deep learning win at recognition cost thousands of times more per window
# (the last line). Two ideas rescue the approach.
# **Share the computation** between overlapping windows (OverFeat, next section). **Look at fewer
# windows**, those that probably contain an object (region proposals, section 7).
#
# ## 4. OverFeat: a convolutional network *is* a sliding window
#
# Overlapping windows share most of their pixels, and a convolution computes the same thing at
# every position. So the convolutional layers of the network, applied to the whole image once,
# already compute the features of every window; only the fully connected layers are tied to one
# input size. Sermanet et al. (2014) removed that tie: **a fully connected layer is a
# convolution whose kernel covers its whole input**. Our `net.fc` is a Linear layer from the
# $32 \times 4 \times 4$ feature map to 64 units; the same weights, reshaped to 64 kernels of size
# $32 \times 4 \times 4$, make a `Conv2d(32, 64, kernel_size=4)`. The heads, Linear layers from
# 64 units, become $1 \times 1$ convolutions. On the feature map of one window the two give the
# same numbers:

# %%
with torch.no_grad():
    feats = net.features(test.images[:1])                       # (1, 32, 4, 4): one window
    fc_conv = nn.Conv2d(32, 64, kernel_size=4)
    fc_conv.weight.copy_(net.fc.weight.view(64, 32, 4, 4))     # (64, 512) -> (64, 32, 4, 4)
    fc_conv.bias.copy_(net.fc.bias)
    as_linear = net.fc(feats.flatten(1))                        # (1, 64)
    as_conv = fc_conv(feats)                                    # (1, 64, 1, 1)
    print("Linear:", as_linear[0, :5].numpy())
    print("Conv2d:", as_conv[0, :5, 0, 0].numpy())
    print("largest difference:", float((as_linear - as_conv[:, :, 0, 0]).abs().max()))
    bigger = net.features(torch.from_numpy(big_image.transpose(2, 0, 1).copy())[None])
    print(f"on a 128x128 image the features are {tuple(bigger.shape)} and the 'fully connected' "
          f"layer gives {tuple(fc_conv(bigger).shape)}: one 64-vector per window")

# %% [markdown]
# On a larger image the converted layer simply slides: each of its $9 \times 9$ outputs is the
# fully connected layer applied to one $4 \times 4$ patch of features, that is, to one
# $64 \times 64$ window of the image. The windows are 8 pixels apart, the product of the
# strides of the network (the halving at the input and two poolings). A network made only of
# convolutions and pooling accepts any input size; it is called **fully convolutional**.
#
# `loc.convolutionalize(net)` converts all three layers. We run it once over a $128 \times 128$
# scene assembled from four objects of other one-object scenes (so the objects keep the size the
# network was trained on), and check it against cutting out the 81 windows one by one:

# %%
pool = loc.localization_data(40, seed=5, empty_fraction=0.0).scenes
scene = loc.compose_scene(pool, [4, 5, 9, 8], [(0, 0), (60, 6), (6, 62), (60, 64)], size=128,
                          seed=3)
fcn = loc.convolutionalize(net)
t_dense, dense = time_call(loc.dense_predictions, fcn, scene.image, repeats=3)
crops, corners = loc.window_crops(torch.from_numpy(scene.image.transpose(2, 0, 1).copy()))
t_crops, (p_crops, _) = time_call(loc.predict_boxes, net, crops, repeats=3)
print(f"score map {dense.prob.shape} (classes, rows, columns)")
print("largest difference from the 81 cut-out windows:",
      f"{np.abs(p_crops - dense.prob.reshape(4, -1).T).max():.1e}")
print(f"one pass: {t_dense * 1e3:.1f} ms, 81 separate windows: {t_crops * 1e3:.1f} ms, "
      f"{t_crops / t_dense:.0f} times as long")

fig, axes = plt.subplots(1, 5, figsize=(14, 3.3), layout="constrained")
show_scene(axes[0], scene.image, scene.boxes, scene.labels, title="the 128x128 scene")
for c, ax in enumerate(axes[1:]):
    im = ax.imshow(dense.prob[c], vmin=0, vmax=1, cmap="viridis",
                   extent=(0, 9 * 8, 9 * 8, 0))                 # window corners, in pixels
    ax.set_title(f"P({loc.LOC_CLASSES[c]})", fontsize=9)
    ax.set_xlabel("window's left edge (px)", fontsize=8)
axes[1].set_ylabel("window's top edge (px)", fontsize=8)
fig.colorbar(im, ax=axes[1:].tolist(), shrink=0.85)
plt.show()

# %% [markdown]
# Same numbers up to float rounding, one pass, and faster by the factor printed; the gain grows
# with the image, since the convolutions of overlapping windows are computed once instead of up
# to 64 times. Each score map
# is bright where the window holds that class: the triangle top left, the circle top right, two
# squares at the bottom, background in the empty middle.
#
# ### OverFeat's greedy merging
#
# Every window that scores high also regressed a box, so one object gets a dozen boxes from
# neighbouring windows and scales. OverFeat merged them greedily:
#
# 1. collect the boxes of every window (and every scale) whose best class scores high;
# 2. find the two closest boxes of the same class;
# 3. if they are close enough, replace them by one box with their average coordinates and their
#    accumulated confidence;
# 4. repeat from 2 until no two boxes are close.
#
# Boxes supported by many windows collect a high total confidence; a lonely box from one confused
# window stays weak. `loc.greedy_merge` measures closeness by $1 - \text{IoU}$ (OverFeat's
# match score combined the distance between the centres with the overlap). Windows below a
# probability of 0.7 are left out, and boxes merge while their IoU exceeds 0.2:

# %%
boxes_w, scores_w, labels_w, windows_w = dense.detections(min_score=0.7)
merged = loc.greedy_merge(boxes_w, scores_w, labels_w, max_distance=0.8)
print(f"{len(boxes_w)} window boxes -> {len(merged.boxes)} after {merged.steps} merges")
merged_ious = iou_matrix(merged.boxes, scene.boxes)             # (merged, true)
for k, (b, s, lab, n) in enumerate(zip(merged.boxes, merged.scores, merged.labels, merged.counts,
                                       strict=True)):
    print(f"  {CLASSES[lab]:8s} from {n:2d} windows, total confidence {s:4.1f}, box {b.round(0)}, "
          f"best IoU with a true box {merged_ious[k].max():.2f}")
matched = merged_ious.argmax(axis=1)                            # the true box each one fits best
print(f"{len(scene.boxes)} objects, {len(merged.boxes)} merged boxes, "
      f"{len(set(matched))} objects found, "
      f"{np.sum(merged.labels == scene.labels[matched])} boxes with the right class; mean IoU "
      f"{merged_ious.max(axis=1).mean():.2f} (section 2's test boxes: {ious.mean():.2f})")
fig, axes = plt.subplots(1, 2, figsize=(9, 4.4))
show_scene(axes[0], scene.image, boxes_w, labels_w, show_text=False, linewidth=0.7,
           title=f"{len(boxes_w)} boxes from windows with P >= 0.7")
show_scene(axes[1], scene.image, scene.boxes, show_text=False, color="white", linestyle=":",
           title="merged (true boxes dotted)")
draw_boxes(axes[1], merged.boxes, merged.labels, merged.scores, CLASSES)
fig.tight_layout()
plt.show()

# %% [markdown]
# One box for each object, with the right class (the last line printed), and boxes as rough as
# those of section 2 (compare the two mean IoUs), since they come from the same regression head.
# This
# multi-scale sliding window with box regression and merging won the localisation task of
# ILSVRC 2013. The merging rule has a weakness we will meet again: it decides by geometry alone,
# so two objects of one class that overlap heavily would merge into one box. The standard
# replacement, non-maximum suppression, is in section 9.
#
# ## 5. Data sets, annotations and IoU
#
# Detection is measured on a few public benchmarks. Each provides images, a box and a class for
# every object of its classes, and an evaluation protocol.
#
# | data set | since | images | classes | metric |
# |---|---|---|---|---|
# | PASCAL VOC | 2005 (20 classes from 2007) | about 10 000 | 20 | mAP, IoU ≥ 0.5 |
# | ILSVRC detection | 2013 | about 500 000 | 200 | mAP, IoU ≥ 0.5 |
# | MS COCO | 2014 (challenge from 2015) | about 200 000 labelled | 80 | AP, IoU 0.50:0.05:0.95 |
#
# VOC 2007, the test set of most mAP numbers in this lecture and the next, has 9963 images (5011
# for training and validation, 4952 for testing). VOC's 20 classes are everyday objects
# (`dlcv.detection.voc.VOC_CLASSES`); COCO's 80 include them and many smaller things (forks,
# toothbrushes, traffic lights), with more objects per image and many small ones: it is much
# harder. VOC stores one XML file per image. Here is an annotation written in VOC's format for
# one of the course's photographs, read with `dlcv.detection.voc`:

# %%
print(len(VOC_CLASSES), "VOC classes:", ", ".join(VOC_CLASSES))
astronaut_xml = """
<annotation>
  <folder>VOC2007</folder>
  <filename>astronaut.jpg</filename>
  <size><width>512</width><height>512</height><depth>3</depth></size>
  <object>
    <name>person</name>
    <pose>Frontal</pose>
    <truncated>1</truncated>
    <difficult>0</difficult>
    <bndbox><xmin>18</xmin><ymin>12</ymin><xmax>362</xmax><ymax>512</ymax></bndbox>
  </object>
</annotation>
"""
ann = parse_voc_xml(astronaut_xml)
print(f"{ann.filename}: {ann.width}x{ann.height}, objects {ann.names}, truncated "
      f"{ann.truncated}, difficult {ann.difficult}")
print("box in the course's convention (x1, y1, x2, y2), pixel edges:", ann.boxes[0])
fig, ax = plt.subplots(figsize=(3.6, 3.6))
ax.imshow(load_photo("astronaut"), extent=(0, 512, 512, 0))
draw_boxes(ax, ann.boxes, [VOC_CLASSES.index("person")], class_names=VOC_CLASSES, fontsize=8)
ax.axis("off")
plt.show()

# %% [markdown]
# VOC counts pixels from 1 and includes both end pixels, so `xmin=18, xmax=362` covers columns
# 18 to 362, that is 345 pixels; in the course's convention (pixel edges from 0) that box is
# $x_1 = 17, x_2 = 362$. The person is **truncated** (cut off by the image's bottom edge).
# Objects marked **difficult** (tiny, heavily occluded) are neither required nor penalised by
# VOC's evaluation. `dlcv.detection.voc.load_voc` reads a whole VOC folder into the same `DetectionData`
# container as the shapes scenes, so everything in this chapter runs on VOC data too if you have
# a copy.
#
# Since IoU decides what counts as found, it pays to know what its values look like. Two squares
# of side $s$, one shifted by $d$ pixels, have
# $\text{IoU} = s(s - d) / \big(s(s + d)\big) = (s - d)/(s + d)$: a shift of a third of the side
# already gives 0.5.

# %%
fig, axes = plt.subplots(1, 4, figsize=(11, 2.8))
for ax, target in zip(axes, [0.3, 0.5, 0.7, 0.9], strict=True):
    s = 40.0
    d = s * (1 - target) / (1 + target)                         # shift that gives this IoU
    a, b = np.array([10, 10, 10 + s, 10 + s]), np.array([10 + d, 10, 10 + d + s, 10 + s])
    for box, col, ls in [(a, CLASS_COLORS[0], "-"), (b, CLASS_COLORS[5], "--")]:
        ax.add_patch(Rectangle(box[:2], s, s, fill=False, ec=col, lw=2, ls=ls))
    inter = [max(a[0], b[0]), 10, min(a[2], b[2]) - max(a[0], b[0]), s]
    ax.add_patch(Rectangle(inter[:2], inter[2], inter[3], color="0.8", zorder=0))
    ax.set_xlim(0, 80)
    ax.set_ylim(60, 0)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"IoU = {iou_pair(a, b):.2f} (shift {d:.1f} of {s:.0f} px)", fontsize=9)
plt.show()

# %% [markdown]
# ## 6. Evaluating detectors: mAP
#
# Lecture 08 built the evaluation (its sections 5 and 6): rank all detections of a class over the
# whole test set by score; a detection is a true positive when its IoU with a not yet claimed
# true box of its class reaches a threshold, otherwise a false positive (duplicates included,
# which is why detectors remove them, section 9); the precision-recall
# curve of the ranking gives the **average precision** (AP) of the class, and the mean over
# classes is the **mAP**.
#
# * **PASCAL VOC**: IoU threshold 0.5. VOC 2007 averaged the interpolated precision at 11 recall
#   levels $0, 0.1, \dots, 1$; from 2010 the area under the whole interpolated curve (all-point).
#   "Difficult" objects are ignored.
# * **COCO**: the headline **AP** averages over 10 IoU thresholds $0.50, 0.55, \dots, 0.95$ and
#   the 80 classes, with 101 recall levels; it also reports AP$_{50}$ (the VOC-style number),
#   AP$_{75}$, and AP for small, medium and large objects. A detector whose boxes are loose can
#   have a good AP$_{50}$ and a poor COCO AP.
#
# The mAP numbers quoted in this lecture and the next are VOC 2007's, at IoU 0.5; numbers on
# COCO are marked AP. Writing detection AP with the matching is part of assignment a4.
#
# ## 7. Region proposals
#
# Sliding windows spend nearly all their effort on background. A **region proposal** method
# guesses, without knowing the classes, a few thousand boxes that are likely to hold *some*
# object, and only those are classified. It must be fast, and it should rather propose too many
# boxes than miss an object: a missed object can never be detected later.
#
# **Selective search** (Uijlings et al., 2013) was the standard choice. It starts from an
# over-segmentation of the image into small regions of similar colour (the graph method of
# Felzenszwalb and Huttenlocher, 2004) and then groups them **hierarchically**: repeatedly
# merge the two most similar *neighbouring* regions, until one region is left. Similarity adds
# up colour (overlap of colour histograms), texture, size (small regions merge first, so that
# large ones do not swallow everything) and fill (regions that fit together, filling their
# joint box, merge first). Every region formed along the way, at every level, gives one box. The
# paper repeats this with several colour spaces and settings and obtains about 2000 boxes per
# image that cover nearly all VOC objects with IoU above 0.5.
#
# `loc.selective_search` is a small version (colour, size and fill; one setting). The hierarchy
# on a photograph, drawn with each region in its mean colour:

# %%
photo = load_photo("coffee", size=160) / 255.0                   # (107, 160, 3) in [0, 1]
grouping = loc.selective_search(photo, scale=100, min_size=40)
n_merges = len(grouping.merges)
fig, axes = plt.subplots(1, 4, figsize=(13, 2.6))
for ax, steps in zip(axes, [0, n_merges // 2, n_merges - 8, n_merges - 3], strict=True):
    regions = grouping.labels_after(steps)
    mean_colour = np.zeros_like(photo)
    for r in np.unique(regions):
        mean_colour[regions == r] = photo[regions == r].mean(axis=0)
    ax.imshow(mean_colour)
    ax.set_title(f"after {steps} merges: {len(np.unique(regions))} regions", fontsize=9)
    ax.axis("off")
plt.show()
print(f"{grouping.num_initial} initial regions, {n_merges} merges: "
      f"{len(grouping.boxes)} proposals in all")

# %% [markdown]
# The cup's rim, the coffee and the saucer start as separate pieces and join into larger and
# larger parts. On the shapes scenes, whose objects are flat-coloured, the hierarchy finds nearly
# every object: below, the proposals of one scene and, for each object, the proposal that fits it
# best, and then the share of the objects covered over 20 scenes.

# %%
ss_scenes = make_scenes(20, seed=23, min_objects=2, max_objects=4)
covered, n_props = [], []
for i in range(len(ss_scenes)):
    g = loc.selective_search(ss_scenes.images[i])
    covered.extend(iou_matrix(ss_scenes.boxes[i], g.boxes).max(axis=1) >= 0.5)  # per object
    n_props.append(len(g.boxes))
props = loc.selective_search(ss_scenes.images[0]).boxes
best = iou_matrix(ss_scenes.boxes[0], props).argmax(axis=1)
fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.8))
show_scene(axes[0], ss_scenes.images[0], props, show_text=False, color="white", linewidth=0.5,
           title=f"all {len(props)} proposals")
show_scene(axes[1], ss_scenes.images[0], props[best], ss_scenes.labels[0],
           title="the best proposal for each object")
fig.tight_layout()
plt.show()
print(f"over 20 scenes: {np.mean(n_props):.0f} proposals per scene; {sum(covered)} of the "
      f"{len(covered)} objects ({np.mean(covered):.0%}) covered by a proposal with IoU >= 0.5")

# %% [markdown]
# ## 8. R-CNN: regions with CNN features
#
# Girshick et al. (2014) combined proposals with a convolutional network and lifted the mAP on
# VOC 2007 from 33.7% (deformable part models, the best method before) to 58.5% with AlexNet.
# **R-CNN** works in stages:
#
# 1. about 2000 selective-search proposals per image;
# 2. each proposal, enlarged by a little context, is **warped** (stretched, whatever its aspect
#    ratio) to the network's fixed input size, $227 \times 227$ for AlexNet;
# 3. the network (pre-trained on ImageNet classification, fine-tuned on the detection classes
#    plus background) computes a 4096-dimensional feature for each warped region;
# 4. one **linear SVM per class** scores the features. Why not the network's own softmax? The
#    ImageNet network knows 1000 classes and no "background", detection has 20 (VOC), 200
#    (ILSVRC) or 80 (COCO) classes plus background, and in R-CNN's experiments SVMs trained on
#    the features, with hard negative mining, did a few points better than the fine-tuned
#    softmax;
# 5. a per-class linear **box regressor** corrects each proposal (OverFeat's idea, applied to
#    proposals);
# 6. non-maximum suppression per class removes duplicates (section 9).
#
# Training the stages uses different labels: a proposal counts as positive for fine-tuning when
# its IoU with a true box is at least 0.5, while the SVMs take the true boxes as positives and
# proposals with IoU below 0.3 as negatives. Warping looks like this:

# %%
widths, heights = props[:, 2] - props[:, 0], props[:, 3] - props[:, 1]
big = np.flatnonzero(widths * heights >= 150)                   # proposals of some size
wide, tall = big[np.argmax(widths[big] / heights[big])], big[np.argmin(widths[big] / heights[big])]
warp_boxes = props[[best[0], best[1], wide, tall]].astype(int)  # two good fits, two odd shapes
fig, axes = plt.subplots(2, len(warp_boxes), figsize=(2.1 * len(warp_boxes), 4.0))
for k, (x1, y1, x2, y2) in enumerate(warp_boxes):
    region = torch.from_numpy(ss_scenes.images[0][y1:y2, x1:x2].transpose(2, 0, 1).copy())[None]
    warped = F.interpolate(region, size=(32, 32), mode="bilinear", align_corners=False)[0]
    axes[0, k].imshow(ss_scenes.images[0][y1:y2, x1:x2], interpolation="nearest")
    axes[0, k].set_title(f"proposal {x2 - x1} x {y2 - y1}", fontsize=8)
    axes[1, k].imshow(warped.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
    axes[1, k].set_title("warped to 32x32", fontsize=8)
for ax in axes.ravel():
    ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# R-CNN worked very well, reaching 66.0% mAP on VOC 2007 with VGG-16, and it was very slow:
# the network runs once per proposal, 2000 times per image, which took **47 seconds per image**
# on a GPU (an Nvidia K40, as timed in the Fast R-CNN paper). Training was a pipeline of separate
# steps (fine-tuning, SVMs, box regressors) whose features had to be written to disk, hundreds
# of gigabytes for VOC, and the network never learnt from the SVMs' or the regressors' errors.
#
# ## 9. Non-maximum suppression
#
# Any detector that scores many overlapping candidates finds each object several times: the
# proposals or windows around an object all score high. Detection needs one box per object, and
# the evaluation punishes duplicates as false positives (section 6). **Greedy non-maximum
# suppression** (NMS) keeps the locally best boxes:
#
# 1. drop the boxes whose score is below a threshold; sort the rest by score;
# 2. take the highest-scoring box and keep it;
# 3. remove every remaining box whose IoU with it is at least a threshold $\tau$ (often 0.3 to
#    0.7; 0.5 is common);
# 4. repeat from 2 with the remaining boxes.
#
# It runs per class, so that a dog and the person walking it are not suppressed against each
# other. A worked example with six boxes of one class, through `dlcv.detection.boxes.nms_steps` (the
# loop version, which records why each box was kept or dropped):

# %%
nms_boxes = np.array([[10, 10, 50, 50], [14, 12, 52, 54], [60, 20, 95, 60], [8, 14, 46, 48],
                      [62, 24, 98, 58], [30, 28, 70, 68]], dtype=float)
nms_scores = np.array([0.9, 0.8, 0.75, 0.6, 0.5, 0.4])
names = "ABCDEF"
iou_nms = iou_matrix(nms_boxes)                                 # (6, 6)
print("IoU matrix:\n", iou_nms.round(2))
kept, removed = [], []                                          # decided so far, in score order
for st in nms_steps(nms_boxes, nms_scores, iou_threshold=0.5):
    i = st.index
    if not st.kept:
        print(f"{names[i]} ({st.score:.2f}): removed, IoU {st.iou:.2f} with {names[st.by]} >= 0.5")
        removed.append(i)
        continue
    why = ""
    if kept:                                                    # its closest kept box
        j = max(kept, key=lambda k: iou_nms[i, k])
        why += f", largest IoU with a kept box {iou_nms[i, j]:.2f} ({names[j]}) < 0.5"
    j = max(removed, key=lambda k: iou_nms[i, k], default=None)  # its closest removed box
    if j is not None and iou_nms[i, j] > 0:
        why += f"; with a removed box {iou_nms[i, j]:.2f} ({names[j]}), which no longer counts"
    print(f"{names[i]} ({st.score:.2f}): kept{why}")
    kept.append(i)
label_at = {0: (10, 8, "bottom", "left"), 1: (12, 56, "top", "left"),   # where the names go
            2: (60, 18, "bottom", "left"), 3: (6, 31, "center", "right"),
            4: (86, 61, "top", "left"), 5: (55, 71, "top", "left")}
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
for ax, idx, title in [(axes[0], range(6), "before NMS"), (axes[1], kept, "after NMS, τ = 0.5")]:
    for k in idx:
        x1, y1, x2, y2 = nms_boxes[k]
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=1.6,
                               ec=CLASS_COLORS[k]))
        tx, ty, va, ha = label_at[k]
        ax.text(tx, ty, f"{names[k]} {nms_scores[k]:.2f}", fontsize=8, color=CLASS_COLORS[k],
                va=va, ha=ha, fontweight="bold")
    ax.set_xlim(-22, 106)
    ax.set_ylim(76, 0)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()

# %% [markdown]
# A survives and removes B and D; C survives and removes E (each decision is printed with the
# IoU behind it). F overlaps the kept boxes too little to be removed, and its overlap with B no
# longer matters once B is gone, so it survives too, although it is probably a poor box: NMS
# removes duplicates, not bad boxes. The threshold $\tau$ is a trade-off: low values remove
# duplicates reliably but also remove true neighbours in a crowd (two people side by side); high
# values keep both neighbours and some duplicates.
#
# ### Play with it: greedy NMS, one decision at a time
#
# The playground shows a fake detector's raw output on a shapes scene: several jittered boxes
# around each object with scores, a confused box with the wrong class, and a few false alarms.
# **Left**: the boxes (solid: kept, dashed: suppressed, dotted: not decided yet or below the
# score threshold). **Middle**: the decisions in score order, each with its reason. **Right**:
# the IoU matrix of all candidates in score order (dots mark pairs above the threshold), and the
# intersection and union of the pair behind the current decision. **decisions made** replays NMS
# step by step; **IoU of box … and box …** picks any pair.
#
# Things to try:
#
# 1. Step through the decisions from 0. Which box is decided first, and why can it never be
#    suppressed?
# 2. Lower the **IoU threshold** to 0.2, then raise it to 0.8. How many boxes survive at each
#    end? Which end leaves duplicates, and which starts to remove real objects?
# 3. Uncheck **per class**. Which box disappears, and is that a good thing here? When would
#    class-agnostic NMS be a mistake?
# 4. Raise the **score threshold** until the false alarms go. What else disappears with them?
# 5. Find a scene where two objects touch. What is the IoU of their best boxes? At what threshold
#    would one suppress the other?

# %%
IoUNMSPlayground()

# %% [markdown]
# ## 10. Fast R-CNN: compute the features once
#
# R-CNN ran the whole network on 2000 overlapping crops, recomputing the same convolutions again
# and again: OverFeat's lesson again. **Fast R-CNN** (Girshick, 2015) runs the convolutional
# layers **once on the whole image** and cuts each proposal out of the resulting feature map:
#
# 1. the image goes through the convolutional layers: one feature map, with stride 16 for VGG-16;
# 2. each proposal is projected onto the feature map (its coordinates divided by the stride), and
#    **RoI pooling** turns the region of the map under it, whatever its size, into a fixed
#    $7 \times 7$ grid: split the region into $7 \times 7$ bins and take the maximum in each;
# 3. fully connected layers on each pooled RoI feed two sibling heads: a softmax over $K + 1$
#    classes (background included) and class-specific box regression, $4K$ numbers.
#
# RoI pooling on a small example: a $8 \times 8$ feature map with stride 4 (so it covers a
# $32 \times 32$ image) and one RoI, pooled to $2 \times 2$. Both the RoI's corners and the bin
# edges are rounded to whole cells; section 12 comes back to that rounding.

# %%
fmap = np.round(rng.uniform(0, 9, size=(8, 8)), 1)              # (H_f, W_f), stride 4
roi = (5.5, 3.2, 24.7, 19.9)                                    # (x1, y1, x2, y2) image pixels


def roi_pool(fmap, roi, out=2, stride=4):
    """Fast R-CNN's RoI max pooling of one RoI: loops that read like the definition."""
    x1, y1, x2, y2 = (round(v / stride) for v in roi)           # snap the RoI to whole cells
    w, h = max(x2 - x1, 1), max(y2 - y1, 1)
    pooled = np.zeros((out, out))
    for i in range(out):
        for j in range(out):                                    # bin (i, j), snapped to cells
            r0, r1 = y1 + math.floor(i * h / out), y1 + math.ceil((i + 1) * h / out)
            c0, c1 = x1 + math.floor(j * w / out), x1 + math.ceil((j + 1) * w / out)
            pooled[i, j] = fmap[r0:r1, c0:c1].max()
    return pooled


print("the feature map:\n", fmap)
print(f"RoI {roi} in pixels = {tuple(v / 4 for v in roi)} in cells, snapped to "
      f"{tuple(round(v / 4) for v in roi)}")
print("RoI pooling to 2x2:\n", roi_pool(fmap, roi))

# %% [markdown]
# Training is one network with one loss, end to end. Each minibatch takes 2 images and 64 RoIs
# from each (128 in all), and the RoIs are **sampled**: 25% are foreground, proposals with IoU
# at least 0.5 with a true box, labelled with that box's class; the other 75% are background,
# with IoU in $[0.1, 0.5)$, labelled background. Proposals below 0.1 are not used: the
# background RoIs that overlap an object a little are the hard, informative ones. Without
# sampling, background would dominate every batch. On our selective-search proposals:

# %%
for i in range(2):                                              # a minibatch of two images
    g = loc.selective_search(ss_scenes.images[i])
    best_iou = iou_matrix(g.boxes, ss_scenes.boxes[i]).max(axis=1)  # (R,) best IoU per proposal
    fg = np.flatnonzero(best_iou >= 0.5)
    bg = np.flatnonzero((best_iou >= 0.1) & (best_iou < 0.5))
    n_fg = min(len(fg), 4)                                      # 25% of 16 RoIs per image
    pick = np.concatenate([rng.choice(fg, n_fg, replace=False),
                           rng.choice(bg, 16 - n_fg, replace=len(bg) < 16 - n_fg)])
    print(f"image {i}: {len(g.boxes)} proposals: {len(fg)} foreground (IoU >= 0.5), "
          f"{len(bg)} background (IoU in [0.1, 0.5)), "
          f"{len(g.boxes) - len(fg) - len(bg)} unused; sampled {n_fg} + {16 - n_fg}, IoUs:",
          np.sort(best_iou[pick])[::-1].round(2))

# %% [markdown]
# ### The box parametrisation
#
# The box head does not predict coordinates; it predicts how to **move and stretch** the RoI.
# With the RoI's centre, width and height $(x_r, y_r, w_r, h_r)$ and the true box's
# $(x, y, w, h)$, the regression targets are
#
# $$ t_x = \frac{x - x_r}{w_r}, \qquad t_y = \frac{y - y_r}{h_r}, \qquad
#    t_w = \log\frac{w}{w_r}, \qquad t_h = \log\frac{h}{h_r}. $$
#
# The shifts are measured in units of the RoI's size, so the same $t$ means the same relative
# correction for a small and a large RoI (a scale-invariant target, like IoU); the logarithm
# makes the size correction symmetric (doubling is $+\log 2$, halving $-\log 2$) and keeps the
# predicted width positive. Decoding inverts the formulas:
#
# $$ x = x_r + w_r t_x, \qquad y = y_r + h_r t_y, \qquad w = w_r e^{t_w}, \qquad
#    h = h_r e^{t_h}. $$
#
# A worked example (these lines, for whole arrays of boxes, are part of assignment a4):

# %%
def centre_size(box):
    x1, y1, x2, y2 = box
    return (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1


proposal = (20.0, 30.0, 120.0, 110.0)                          # the RoI (x1, y1, x2, y2)
truth = (30.0, 25.0, 140.0, 125.0)                             # the true box
xr, yr, wr, hr = centre_size(proposal)
x, y, w, h = centre_size(truth)
t = (x - xr) / wr, (y - yr) / hr, math.log(w / wr), math.log(h / hr)
print(f"RoI   centre ({xr}, {yr}), size {wr} x {hr}")
print(f"truth centre ({x}, {y}), size {w} x {h}")
print("targets t_x, t_y, t_w, t_h =", ", ".join(f"{v:.4f}" for v in t))
xd, yd, wd, hd = xr + wr * t[0], yr + hr * t[1], wr * math.exp(t[2]), hr * math.exp(t[3])
decoded = (xd - wd / 2, yd - hd / 2, xd + wd / 2, yd + hd / 2)
print(f"decoded: centre ({xd:.1f}, {yd:.1f}), size {wd:.1f} x {hd:.1f} -> box "
      f"({', '.join(f'{v:.1f}' for v in decoded)}): the true box "
      f"{'exactly' if np.allclose(decoded, truth) else 'NOT'}")

# %% [markdown]
# By hand: the truth's centre is 15 pixels right of the RoI's centre and 5 pixels lower, so
# $t_x = 15 / 100 = 0.15$ and $t_y = 5 / 80 = 0.0625$; the truth is 10% wider and 25% taller, so
# $t_w = \log 1.1 = 0.0953$ and $t_h = \log 1.25 = 0.2231$, the targets printed above. Decoding
# gives back the true box, as the last line checks. In practice the targets are also normalised
# by their mean and standard deviation over the training set, so that the four have similar
# scales.
#
# ### Smooth L1 and the multitask loss
#
# Fast R-CNN penalises the box error with the **smooth L1** (Huber) loss, applied to each of the
# four differences $d = \hat t_i - t_i$:
#
# $$ \text{smooth}_{L_1}(d) = \begin{cases} 0.5\, d^2 & \text{if } |d| < 1, \\
#    |d| - 0.5 & \text{otherwise.} \end{cases} $$
#
# It is quadratic near 0 (smooth, with gradients that shrink as the prediction improves, like
# L2) and linear far away (the gradient never exceeds 1, like L1), so a badly placed RoI or an
# outlier cannot blow up the gradient, which the L2 loss of R-CNN's regressors required careful
# tuning to avoid.

# %%
d = np.linspace(-3, 3, 601)
smooth = np.where(np.abs(d) < 1, 0.5 * d ** 2, np.abs(d) - 0.5)
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.1))
for vals, grads, lab, col in [(0.5 * d ** 2, d, "L2: $0.5 d^2$", CLASS_COLORS[0]),
                              (np.abs(d), np.sign(d), "L1: $|d|$", CLASS_COLORS[1]),
                              (smooth, np.clip(d, -1, 1), "smooth L1", CLASS_COLORS[5])]:
    wide = lab == "smooth L1"                                   # drawn wide, as it overlaps
    ax0.plot(d, vals, color=col, lw=4.5 if wide else 1.8, alpha=0.6 if wide else 1, label=lab,
             zorder=1 if wide else 2)
    ax1.plot(d, grads, color=col, lw=4.5 if wide else 1.8, alpha=0.6 if wide else 1, label=lab,
             zorder=1 if wide else 2)
ax0.set_ylim(0, 3)
ax0.set_title("loss")
ax1.set_title("gradient with respect to d")
for ax in (ax0, ax1):
    ax.set_xlabel("d = predicted - target")
    ax.axvspan(-1, 1, color="0.93", zorder=0)
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# The whole loss of one RoI with true class $u$ (0 for background) and box targets $t$ is
#
# $$ L(p, u, \hat t, t) = -\log p_u + \lambda\,[u \geq 1]
#    \sum_{i \in \{x, y, w, h\}} \text{smooth}_{L_1}\big(\hat t^{\,u}_i - t_i\big), $$
#
# the same shape as section 2's loss: cross-entropy over $K + 1$ classes, plus the box loss of
# the true class only, and none for background; Fast R-CNN uses $\lambda = 1$. On VOC 2007 with
# VGG-16, Fast R-CNN reached 66.9% mAP (R-CNN: 66.0%), trained in 9.5 hours instead of 84, and
# tested in **0.32 s per image instead of 47 s** (both on a K40 GPU). But that time leaves out
# the proposals: selective search takes about 2 s per image on a CPU, so the proposals had become
# the bottleneck.
#
# ## 11. Faster R-CNN: the network proposes the regions
#
# The feature map that Fast R-CNN computes anyway knows a lot about where objects are. **Faster
# R-CNN** (Ren et al., 2015) adds a small **region proposal network** (RPN) on top of it, which
# replaces selective search:
#
# * a $3 \times 3$ convolution slides over the feature map (512 channels for VGG-16), followed
#   by two sibling $1 \times 1$ convolutions;
# * at every position there are $k$ reference boxes, the **anchors**, centred on that position:
#   3 scales (boxes of area $128^2$, $256^2$ and $512^2$ pixels) times 3 aspect ratios (1:1, 1:2,
#   2:1), so $k = 9$;
# * for each anchor the RPN predicts an **objectness** score (object or not, $2k$ outputs) and a
#   box correction in the parametrisation above, relative to the anchor ($4k$ outputs);
# * the best-scoring corrected anchors, after NMS at IoU 0.7, become about 300 proposals for a
#   Fast R-CNN head on the same feature map.
#
# Anchors are labelled by their IoU with the true boxes: positive above 0.7 (and, for every true
# box, the anchor that overlaps it most, so that no object is left without one), negative below
# 0.3, ignored in between. Each training image contributes 256 anchors, up to half of them
# positive. The whole detector is trained with **four losses**: the RPN's objectness
# (classification) and its box regression (anchor → proposal), and the head's classification
# (over the classes) and box regression (proposal → final box). Here are the nine anchors of one
# position and their count on a typical image:

# %%
shapes9 = anchor_shapes([128, 256, 512], [0.5, 1.0, 2.0])     # (9, 2) widths and heights
print("anchor widths x heights:", ", ".join(f"{w:.0f}x{h:.0f}" for w, h in shapes9))
H_img, W_img, stride = 600, 1000, 16
grid = (H_img // stride, W_img // stride)
anchors = anchor_boxes(grid, stride, [128, 256, 512], [0.5, 1.0, 2.0])   # (N, 4)
inside = ((anchors[:, 0] >= 0) & (anchors[:, 1] >= 0) & (anchors[:, 2] <= W_img)
          & (anchors[:, 3] <= H_img))
print(f"a {W_img}x{H_img} image, stride {stride}: {grid[0]} x {grid[1]} positions x 9 = "
      f"{len(anchors):,} anchors, {inside.sum():,} of them inside the image")

fig, ax = plt.subplots(figsize=(6.5, 4))
ax.imshow(load_photo("coffee", size=1000)[33:633], extent=(0, W_img, H_img, 0))  # 1000 x 600
cx, cy = 500, 300
for k, (w, h) in enumerate(shapes9):
    ax.add_patch(Rectangle((cx - w / 2, cy - h / 2), w, h, fill=False, lw=1.8,
                           ec=CLASS_COLORS[k // 3], ls=["-", "--", ":"][k % 3]))
ax.plot(cx, cy, "w+", ms=10, mew=2)
ax.set_xlim(-20, 1020)
ax.set_ylim(700, -100)
ax.set_aspect("equal")
ax.set_title("9 anchors at one position: 3 scales (colours) x 3 ratios (line styles)", fontsize=9)
ax.set_xticks([])
ax.set_yticks([])
plt.show()

# %% [markdown]
# About 20 000 anchors per image, as the paper says; the large ones often cross the image's
# border, and those are ignored in training (the paper counts about 6000 anchors left per image;
# the count above, with this course's placement of the anchors, is printed beside the total).
# The anchors turn the
# RPN into a set of tiny sliding-window detectors, one per anchor shape, each refining a box
# that is already roughly in place: the easier regression that section 2 asked for. With
# shared features, proposals cost about 10 ms. Ren et al. timed Faster R-CNN with VGG-16 at
# 198 ms per image on a K40 GPU, proposals included: 5 images per second. Trained on VOC 2007 it
# reaches 69.9% mAP on the VOC 2007 test set, against 66.9% for Fast R-CNN with selective
# search, and 73.2% when trained on VOC 2007 + 2012.
#
# ### Play with it: anchors and their labels
#
# The view lays the anchors of one feature map over a shapes scene. **Left**: the grid of cells
# (the stride), the anchors of one chosen cell, the positive anchors (green), the ignored ones
# (orange) and each object's best anchor (yellow). **Top right**: the histogram of every anchor's
# best IoU with any object, with the negative, ignored and positive ranges shaded. **Bottom
# right**: for each object, the IoU of its best anchor and how many positives it got.
#
# Things to try:
#
# 1. Count: how many anchors are there for stride 8, 2 scales, 3 ratios on a $64 \times 64$
#    image? Check the title. What share of them is negative?
# 2. Find an object with no anchor above the positive threshold. What does **force-match** do
#    for it, and what happens to it if you switch force-match off?
# 3. Fix that object properly: add a scale closer to its size, or make the stride finer. How
#    does the number of anchors grow?
# 4. Move the **positive** threshold from 0.5 to 0.7 (Faster R-CNN's value). How many positives
#    are left per object? What does that mean for training?
# 5. Set the thresholds equal. What happens to the ignored band, and why might ignoring anchors
#    between the thresholds help training?

# %%
AnchorView()

# %% [markdown]
# ## 12. Mask R-CNN and RoIAlign
#
# **Mask R-CNN** (He et al., 2017) turns Faster R-CNN into an instance segmenter by adding a
# third head in parallel to classification and box regression: a small fully convolutional
# network that predicts, for each RoI, one $m \times m$ binary mask per class ($28 \times 28$ in
# the version built on a feature pyramid network, lecture 10, from a $14 \times 14$ pooled RoI),
# trained with a per-pixel sigmoid
# cross-entropy on the mask of the true class only. The loss is
# $L = L_{\text{cls}} + L_{\text{box}} + L_{\text{mask}}$. Because masks are predicted per
# class, the classes do not compete for pixels; the classification head decides which mask is
# used. The same network also estimates human pose: each of the 17 COCO keypoints becomes a
# one-hot $56 \times 56$ mask with a softmax over its pixels. Lecture 11 treats segmentation.
#
# A mask needs the pooled features to be aligned with the image to within a pixel, and RoI
# pooling is not. It rounds twice: the RoI's corners to whole cells, and the bins' edges to whole
# cells. With stride 16, a RoI corner at $x = 13$ pixels lies at cell $13 / 16 \approx 0.81$,
# which becomes 1: the features are taken 3 pixels away from where the box is. For
# classification that hardly matters; for a $28 \times 28$ mask it does. **RoIAlign** rounds
# nothing: it divides the RoI into bins at its exact, fractional coordinates, places a few
# regularly spaced sampling points in each bin (2 × 2 here), reads the feature map at each point
# by **bilinear interpolation** from the four nearest cells, and averages (or takes the maximum
# of) the samples of each bin.
# On the feature map and RoI of section 10 (bilinear reads: cell $(i, j)$ has its centre at
# $(j + 0.5, i + 0.5)$):

# %%
def bilinear(fmap, x, y):
    """fmap read at the point (x, y) in cell units, from the four nearest cell centres."""
    x, y = x - 0.5, y - 0.5                                     # cell centres at integers
    x0, y0 = math.floor(x), math.floor(y)
    ax, ay = x - x0, y - y0                                     # weights of the right / lower

    def at(r, c):                                               # clamp to the map's border
        return fmap[min(max(r, 0), fmap.shape[0] - 1), min(max(c, 0), fmap.shape[1] - 1)]

    return ((1 - ay) * ((1 - ax) * at(y0, x0) + ax * at(y0, x0 + 1))
            + ay * ((1 - ax) * at(y0 + 1, x0) + ax * at(y0 + 1, x0 + 1)))


def roi_align(fmap, roi, out=2, stride=4, samples=2):
    """RoIAlign of one RoI: no rounding, samples x samples bilinear reads per bin, averaged."""
    x1, y1, x2, y2 = (v / stride for v in roi)                  # fractional cell coordinates
    bw, bh = (x2 - x1) / out, (y2 - y1) / out                   # bin size, in cells
    pooled = np.zeros((out, out))
    for i in range(out):
        for j in range(out):
            pts = [(x1 + (j + (sx + 0.5) / samples) * bw, y1 + (i + (sy + 0.5) / samples) * bh)
                   for sy in range(samples) for sx in range(samples)]
            pooled[i, j] = np.mean([bilinear(fmap, px, py) for px, py in pts])
    return pooled


print("RoI pooling:\n", roi_pool(fmap, roi))
print("RoIAlign:\n", roi_align(fmap, roi).round(3))
for name, v in zip(("x1", "y1", "x2", "y2"), roi, strict=True):
    snap = round(v / 4) - v / 4                                 # rounding error, in cells
    print(f"snapping moves {name} by {snap:+.3f} cells = {4 * snap:+.1f} image pixels")

fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
x1, y1, x2, y2 = (v / 4 for v in roi)
qx1, qy1, qx2, qy2 = (round(v / 4) for v in roi)
for ax, title in zip(axes, ["RoI pooling: corners and bins snapped to cells",
                            "RoIAlign: exact bins, 2x2 bilinear samples each"], strict=True):
    ax.imshow(fmap, cmap="Greys", vmin=0, vmax=14, extent=(0, 8, 8, 0))
    for (r, c), v in np.ndenumerate(fmap):
        ax.text(c + 0.5, r + 0.5, f"{v:.1f}", ha="center", va="center", fontsize=7)
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=CLASS_COLORS[0], lw=2.2,
                           label="the RoI (exact)"))
    ax.set_xticks(range(9))
    ax.set_yticks(range(9))
    ax.grid(color="0.6", lw=0.5)
    ax.set_title(title, fontsize=10)
axes[0].add_patch(Rectangle((qx1, qy1), qx2 - qx1, qy2 - qy1, fill=False, ec=CLASS_COLORS[5],
                            lw=2.2, ls="--", label="snapped RoI"))
hw, hh = qx2 - qx1, qy2 - qy1
for k in range(1, 2):
    axes[0].plot([qx1 + math.floor(k * hw / 2)] * 2, [qy1, qy2], color=CLASS_COLORS[5], lw=1.2)
    axes[0].plot([qx1 + math.ceil(k * hw / 2)] * 2, [qy1, qy2], color=CLASS_COLORS[5], lw=1.2,
                 ls=":")
    axes[0].plot([qx1, qx2], [qy1 + math.floor(k * hh / 2)] * 2, color=CLASS_COLORS[5], lw=1.2)
    axes[0].plot([qx1, qx2], [qy1 + math.ceil(k * hh / 2)] * 2, color=CLASS_COLORS[5], lw=1.2,
                 ls=":")
axes[1].plot([x1 + (x2 - x1) / 2] * 2, [y1, y2], color=CLASS_COLORS[0], lw=1.2)
axes[1].plot([x1, x2], [y1 + (y2 - y1) / 2] * 2, color=CLASS_COLORS[0], lw=1.2)
pts = [(x1 + (j + (sx + 0.5) / 2) * (x2 - x1) / 2, y1 + (i + (sy + 0.5) / 2) * (y2 - y1) / 2)
       for i in range(2) for j in range(2) for sy in range(2) for sx in range(2)]
axes[1].plot(*np.array(pts).T, "o", color=CLASS_COLORS[5], ms=5, label="sampling points")
for ax in axes:
    ax.legend(fontsize=8, loc="lower right")
fig.tight_layout()
plt.show()

# %% [markdown]
# The snapped RoI (dashed) is displaced from the true one by the amounts printed above: at each
# corner a fraction of a cell, which in image pixels is that fraction of the stride (4 here, 16
# in VGG-16). Its bins overlap (floor and ceiling of the bin edges, solid and dotted lines): the
# four pooled values come from regions that do not match the RoI's quarters. RoIAlign reads the
# map exactly where the RoI's quarters are. The difference shows best when the RoI moves: slide
# it to the right in steps of a fifth of a pixel and follow where each method reads its features
# and what its top-left bin outputs.

# %%
shifts = np.linspace(0, 12, 61)                                 # in image pixels, 0.2 apart
moved = [(roi[0] + sh, roi[1], roi[2] + sh, roi[3]) for sh in shifts]
pool_out = [roi_pool(fmap, r)[0, 0] for r in moved]
align_out = [roi_align(fmap, r)[0, 0] for r in moved]
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.2))
left = np.array([r[0] for r in moved])
ax0.plot(left, left, color=CLASS_COLORS[0], lw=2, label="RoIAlign: the RoI's own edge")
ax0.plot(left, [round(x / 4) * 4 for x in left], drawstyle="steps-mid", color=CLASS_COLORS[5],
         lw=2, label="RoI pooling: snapped to a cell")
ax0.set_xlabel("left edge of the RoI (image pixels)")
ax0.set_ylabel("left edge of the region read")
ax0.set_title("where the features are read (stride 4)", fontsize=10)
ax1.plot(shifts, pool_out, drawstyle="steps-post", color=CLASS_COLORS[5], lw=2,
         label="RoI pooling (max of the bin)")
ax1.plot(shifts, align_out, color=CLASS_COLORS[0], lw=2, label="RoIAlign (mean of 4 samples)")
ax1.set_xlabel("shift of the RoI to the right (image pixels)")
ax1.set_ylabel("output of the top-left bin")
ax1.set_title("what the bin outputs", fontsize=10)
for ax in (ax0, ax1):
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# RoI pooling reads from a region that stays put while the RoI moves and then jumps by a whole
# cell; its output is a staircase, blind to any shift smaller than a cell (4 pixels here, 16 in
# VGG-16). (The two outputs sit at different levels because one takes the maximum of the bin and
# the other the mean of its samples.) RoIAlign's output follows the box continuously, so the
# mask head can learn where exactly the object's edge lies. In Mask R-CNN this change alone
# improved mask AP on COCO by about 3 points, and more at strict IoU thresholds; it helps plain
# box detection too. Mask R-CNN (ResNet-101-FPN) runs at about 5 frames per second: 195 ms per
# image on a Tesla M40 GPU.
#
# ### Two stages, and what comes next
#
# From R-CNN on, every detector of this lecture works in two stages: first proposals (selective
# search, then the RPN), then a head that classifies each proposal from its own pooled features
# and corrects its box, to which Mask R-CNN adds a mask. The second stage makes them accurate:
# it looks at each candidate separately, and its sampled RoIs keep objects and background
# balanced. It also keeps them slow: a few frames per second, a long way from video rate.
# Lecture 10 asks whether the second stage is needed at all. The RPN already scores and corrects
# every anchor in one convolutional pass; single-stage detectors (YOLO, SSD, RetinaNet) let that
# pass name the class as well, and feature pyramids and the focal loss make them as accurate as
# two stages.
#
# ## Check yourself
#
# **1.** A classification-plus-localisation network for VOC's 20 classes (plus background) has
# a class-specific box head. How many outputs do its two heads have? Which box is used at test
# time, and which box gets a loss during training?
#
# <details><summary>Answer</summary>
#
# 21 scores and $20 \times 4 = 80$ box numbers. At test time the box of the predicted class;
# during training only the box of the true class gets a loss, and background examples get no
# box loss at all.
# </details>
#
# **2.** How many $64 \times 64$ windows, at a stride of 8 pixels, fit in a $640 \times 480$
# image? How many outputs does a fully convolutional network with total stride 8 and a
# $64 \times 64$ input produce on that image?
#
# <details><summary>Answer</summary>
#
# $((640 - 64)/8 + 1) \times ((480 - 64)/8 + 1) = 73 \times 53 = 3869$ windows, and the network
# produces exactly one output per window: a $53 \times 73$ map (rows by columns).
# </details>
#
# **3.** A fully connected layer maps a $256 \times 6 \times 6$ feature map to 4096 units. Which
# convolution is it? What does it output on a $256 \times 10 \times 8$ map?
#
# <details><summary>Answer</summary>
#
# `Conv2d(256, 4096, kernel_size=6)` with the weights reshaped to $(4096, 256, 6, 6)$. On a
# $10 \times 8$ map it outputs $4096 \times 5 \times 3$: the fully connected layer applied to
# each of the $5 \times 3$ positions of a $6 \times 6$ window.
# </details>
#
# **4.** A proposal has centre $(50, 40)$ and size $80 \times 40$. The targets are
# $t = (0.25, -0.5, \log 2, 0)$. What is the predicted box? What would $t$ be for the proposal
# itself?
#
# <details><summary>Answer</summary>
#
# Centre $(50 + 0.25 \cdot 80,\; 40 - 0.5 \cdot 40) = (70, 20)$, size
# $80 e^{\log 2} \times 40 e^0 = 160 \times 40$, so the box $(-10, 0, 150, 40)$ (it sticks out
# of the image on the left and would be clipped). The proposal itself has $t = (0, 0, 0, 0)$.
# </details>
#
# **5.** Why does Fast R-CNN use smooth L1 rather than L2 for the boxes, and why not plain L1?
#
# <details><summary>Answer</summary>
#
# L2's gradient grows with the error, so a few badly placed RoIs (large errors) produce huge
# gradients; smooth L1's gradient is bounded by 1. Plain L1 has a gradient of constant size that
# does not shrink as the error goes to zero and a kink at 0, which makes the end of the
# optimisation jumpy; smooth L1 is quadratic there.
# </details>
#
# **6.** Run greedy NMS at $\tau = 0.5$ on three boxes of one class: A (score 0.9), B (0.8),
# C (0.7), with IoU(A, B) = 0.6, IoU(A, C) = 0.3, IoU(B, C) = 0.7. Which survive? And with
# $\tau = 0.65$?
#
# <details><summary>Answer</summary>
#
# At 0.5: A is kept and removes B (0.6); C overlaps A by 0.3 only, so C is kept: A and C. B,
# already removed, no longer suppresses anything. At 0.65: A is kept, B survives (0.6 < 0.65),
# and C is removed by B (0.7): A and B.
# </details>
#
# **7.** Fast R-CNN samples RoIs with 25% foreground and background from IoU $[0.1, 0.5)$.
# What would go wrong with uniformly sampled RoIs? Why not take background with IoU below 0.1?
#
# <details><summary>Answer</summary>
#
# Most proposals are background, so uniform sampling would give batches with almost no
# foreground and a classifier that learns to say "background". Background RoIs that overlap an
# object a little are the hard ones (near misses, parts of objects); those far away are easy and
# teach little. (The paper treats the lower bound of 0.1 as a heuristic form of hard negative
# mining.)
# </details>
#
# **8.** A RoI starts at $x = 37$ pixels on a feature map of stride 16. Where does RoI pooling
# read its features from, and how far off is that? What does RoIAlign do instead?
#
# <details><summary>Answer</summary>
#
# $37 / 16 = 2.31$ cells, rounded to cell 2, which starts at pixel 32: 5 pixels away from the
# RoI's edge. RoIAlign keeps the position 2.31 and reads the map by bilinear interpolation at
# sampling points placed inside the exact bins.
# </details>
#
# ## Summary
#
# * **Localisation** of one object is regression: a second head outputs the box, trained with
#   an L2 loss next to the classifier's cross-entropy (a multitask loss, with no box loss for
#   background). Heads are class-agnostic (4 numbers) or class-specific ($4C$). Regressing
#   absolute boxes is imprecise; refining a box that is roughly in place works better.
#   Pose estimation regresses joint coordinates the same way (DeepPose).
# * **Sliding windows** turn detection into classification of many windows over positions,
#   scales and shapes: correct, but tens of thousands of windows per image. **OverFeat** computes
#   them in one pass by writing fully connected layers as convolutions (a fully convolutional
#   network) and merges the windows' boxes greedily.
# * Benchmarks: **PASCAL VOC** (20 classes, mAP at IoU 0.5), **ILSVRC** (200 classes), **COCO**
#   (80 classes, AP averaged over IoU 0.50:0.05:0.95). **IoU** = intersection / union. A
#   detection counts when its IoU with an unclaimed true box of its class reaches the threshold;
#   duplicates are false positives; AP per class, **mAP** over classes.
# * **R-CNN**: ~2000 selective-search proposals, each warped and passed through a CNN, scored by
#   per-class SVMs, refined by box regression: accurate, 47 s per image. **Fast R-CNN**: one CNN
#   pass per image, **RoI pooling** to a fixed size, softmax and box heads, one multitask loss
#   with **smooth L1**, RoIs sampled 25% foreground; 0.32 s plus proposals. Boxes are regressed
#   as $t_x = (x - x_r)/w_r$, $t_y = (y - y_r)/h_r$, $t_w = \log(w/w_r)$, $t_h = \log(h/h_r)$.
# * **Faster R-CNN**: a region proposal network with **anchors** (3 scales × 3 ratios per
#   position) on the shared features, four losses, 0.2 s per image on a K40 GPU.
# * **Greedy NMS** keeps the best box and removes those overlapping it above a threshold,
#   per class.
# * **Mask R-CNN** adds a per-class mask head to Faster R-CNN; **RoIAlign** replaces RoI
#   pooling's rounding by bilinear sampling at exact positions.
# * These detectors have **two stages**, proposals and then a per-proposal head: accurate, and a
#   few frames per second. Lecture 10 drops the second stage (YOLO, SSD, RetinaNet).
#
# ## Papers and further reading
#
# * P. Viola, M. Jones (2001). Rapid object detection using a boosted cascade of simple
#   features. *CVPR 2001*. Sliding windows made fast with a cascade.
# * N. Dalal, B. Triggs (2005). Histograms of oriented gradients for human detection.
#   *CVPR 2005*. The sliding-window pedestrian detector.
# * P. Sermanet, D. Eigen, X. Zhang, M. Mathieu, R. Fergus, Y. LeCun (2014). OverFeat:
#   integrated recognition, localization and detection using convolutional networks.
#   *ICLR 2014*, arXiv:1312.6229.
# * A. Toshev, C. Szegedy (2014). DeepPose: human pose estimation via deep neural networks.
#   *CVPR 2014*.
# * M. Everingham, L. Van Gool, C. K. I. Williams, J. Winn, A. Zisserman (2010). The PASCAL
#   Visual Object Classes (VOC) challenge. *International Journal of Computer Vision* 88(2),
#   303–338.
# * O. Russakovsky, J. Deng, H. Su, et al. (2015). ImageNet large scale visual recognition
#   challenge. *International Journal of Computer Vision* 115(3), 211–252.
# * T.-Y. Lin, M. Maire, S. Belongie, J. Hays, P. Perona, D. Ramanan, P. Dollár, C. L. Zitnick
#   (2014). Microsoft COCO: common objects in context. *ECCV 2014*.
# * P. F. Felzenszwalb, D. P. Huttenlocher (2004). Efficient graph-based image segmentation.
#   *International Journal of Computer Vision* 59(2), 167–181.
# * J. R. R. Uijlings, K. E. A. van de Sande, T. Gevers, A. W. M. Smeulders (2013). Selective
#   search for object recognition. *International Journal of Computer Vision* 104(2), 154–171.
# * R. Girshick, J. Donahue, T. Darrell, J. Malik (2014). Rich feature hierarchies for accurate
#   object detection and semantic segmentation. *CVPR 2014*. R-CNN.
# * R. Girshick (2015). Fast R-CNN. *ICCV 2015*.
# * S. Ren, K. He, R. Girshick, J. Sun (2015). Faster R-CNN: towards real-time object detection
#   with region proposal networks. *NeurIPS 2015*; *IEEE TPAMI* 39(6), 2017.
# * A. Neubeck, L. Van Gool (2006). Efficient non-maximum suppression. *ICPR 2006*.
# * K. He, G. Gkioxari, P. Dollár, R. Girshick (2017). Mask R-CNN. *ICCV 2017*.
# * J. Hosang, R. Benenson, P. Dollár, B. Schiele (2016). What makes for effective detection
#   proposals? *IEEE TPAMI* 38(4), 814–830.
# * Stanford CS231n course notes and lecture on detection and segmentation,
#   https://cs231n.github.io/ .
