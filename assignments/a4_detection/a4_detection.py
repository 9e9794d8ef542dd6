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
# # Assignment 4: object detection
#
# A classifier says *what* an image shows; a detector says what is *where*: a list of boxes,
# each with a class and a confidence score (lectures 09-10). Every modern detector is built from
# the same handful of pieces, and in this assignment you write each of them yourself, test it,
# and then put them together into a single-stage detector in the spirit of RetinaNet that you
# train on a laptop CPU in well under a minute.
#
# 1. **Boxes and IoU**: intersection over union of every pair of two sets of boxes.
# 2. **Non-maximum suppression**: greedy NMS, and NMS within each class.
# 3. **Box coding**: the Fast R-CNN parametrisation of a box relative to a reference box.
# 4. **Anchors**: a grid of reference boxes over a feature map, and matching them to the objects.
# 5. **Losses**: smooth L1 for the box offsets and the focal loss for the classes (PyTorch).
# 6. **Evaluation**: average precision (the VOC 2007 and VOC 2010+ versions) and mAP with the
#    VOC matching rule.
# 7. **RoI pooling and RoIAlign**: how two-stage detectors crop a fixed-size feature for every
#    proposal.
# 8. **A single-stage detector** in PyTorch on the shapes scenes: you write the layout of the
#    head's outputs, the loss and the post-processing, train it, and evaluate it with your own
#    mAP. It must reach **mAP@0.5 >= 0.80** on 300 scenes it has never seen.
#
# Along the way, four **written questions** ask you to explain in words what a figure or a printed
# result just showed you.
#
# The data are the course's shapes scenes (`dlcv.shapes`): 64x64 images with one to four
# circles, squares and triangles of two sizes in four colours, on textured backgrounds, some
# partly hidden behind others. They are generated from a seed in a couple of seconds, so nothing
# is downloaded, and they are hard enough that a wrong detail in your code shows up in the mAP.
#
# ## How to work
#
# - Run the cells from the top. Cells below a function you have not written yet stop with a message.
# - Every function has a docstring with the shapes of its inputs and outputs. Write your code where
#   it says `# YOUR CODE HERE` and delete `raise NotImplementedError()`. Keep the function names and
#   arguments.
# - Parts 1-4, 6 and 7 are numpy; Parts 5 and 8 are PyTorch. Vectorise where the text asks for it
#   (no Python loop over pairs of boxes); a loop over the classes, the images or the RoIs is fine.
# - **Boxes** are `(x1, y1, x2, y2)` in pixels with **pixel edges** at integer coordinates: pixel
#   column `c` covers `[c, c + 1)`, so a box's width is `x2 - x1` (no `+ 1`) and a box around a
#   single pixel is `(c, r, c + 1, r + 1)`. The shapes scenes, torchvision and this whole course
#   use this convention.
# - Lectures 09-10's module `dlcv.detection.boxes` holds small *teaching* versions of some of these
#   computations, and lecture 08's `dlcv.evaluation.metrics` computes average precision. Write your own:
#   neither module is available when your notebook is graded, so importing them fails there.
# - A failing test names the function, the case, and what was expected against what came back; a
#   passing test prints nothing, or only the figure it measured (the detector's mAP).
# - Before you submit: **Kernel > Restart Kernel and Run All Cells** (or **Validate**). Hand in
#   this notebook with its name unchanged.
# - **Self-check**, at any time: save the notebook, then run
#   `python -m autograder.selfcheck a4_detection.ipynb` in a terminal, in this notebook's folder or
#   in the course's top folder, where JupyterLab's terminal opens (or
#   `from autograder.selfcheck import check_notebook; check_notebook()` in a cell). It runs a
#   fresh copy of the saved notebook and lists every test: passed, or what is wrong. The hidden
#   tests run only when your work is graded. On a JupyterHub where `import dlcv` fails, install
#   the course's package once, in a terminal: `pip install --user "dlcv @ git+URL"` (URL: the
#   course repository's address, from your instructor).
#
# ## How it is graded
#
# The test cells are worth 100 points in total, and the course's grader decides them, not the
# output you see under a test cell. When your notebook is graded it runs as you left it, in a
# sandbox. The numpy parts (Parts 1-4, 6 and 7: `box_iou` to `match_anchors`, `average_precision`,
# `evaluate_detections`, `roi_pool`, `roi_align`) are graded on their own: only their answer cells
# run, in a fresh kernel that has numpy but not torch, scipy, scikit-learn or scikit-image (write
# them in numpy, as the docstrings ask: those imports fail there, and keep everything a function
# needs in its answer cell). The PyTorch parts (the losses and Part 8) are graded in the kernel that
# ran your notebook. The grader calls your functions on inputs of its own: the visible cases of
# every test cell and **hidden** ones (random inputs compared with the instructor's solutions or
# with independent references, edge cases such as ties and empty inputs, the time `box_iou` takes
# for two million pairs), and compares what they return outside the sandbox. For the trained
# detector it scores your `test_detections` on the 300 test scenes, and what your `detector`
# predicts on 300 new scenes that it draws itself, computing each mAP@0.5 itself. A test cell
# earns its points when all its cases pass, and the feedback lists every case: passed, or what
# was wrong. So passing the visible test is a good sign, not a guarantee: read each docstring
# carefully, especially the rules for edge cases.
# Most tests call only the function they are about; some functions use others of yours (`nms` and
# `match_anchors` use `box_iou`, `detection_loss` uses the matching and the losses, the trained
# detector nearly everything), and when one of those is wrong or not implemented yet, the failure
# says so.
#
# | Part | Functions | Points |
# |---|---|---|
# | Boxes and IoU | `box_iou` | 8 |
# | Non-maximum suppression | `nms`, `batched_nms` | 10 |
# | Box coding | `encode_boxes`, `decode_boxes` | 7 |
# | Anchors | `generate_anchors`, `match_anchors` | 13 |
# | Losses | `smooth_l1`, `sigmoid_focal_loss` | 8 |
# | Evaluation | `average_precision`, `evaluate_detections` | 18 |
# | RoI pooling | `roi_pool`, `roi_align` | 14 |
# | The detector | `flatten_predictions`, `detection_loss`, `postprocess`, your trained detector | 22 |
# | Written questions 1-4 | your answers in words, graded by hand | 14 |
#
# Besides the 100 points of the test cells, the four written questions are worth 14 points. Write
# each answer in the cell below its question, marked "YOUR ANSWER HERE" (replace that text), in
# plain sentences (`$...$` math is fine). The instructor reads it as written and grades it by hand
# after the automatic grading, so no code is needed in it, and the self-check does not score it.

# %%
# %matplotlib inline
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from dlcv.checks import CheckFailed, checking, expect_close, expect_equal, expect_shape, needs
from dlcv.data import load_photo
from dlcv.plots import CLASS_COLORS, plot_loss_history
from dlcv.shapes import CLASSES, draw_boxes, make_scenes, show_scene
from dlcv.timing import cap_threads, torch_threads

plt.rcParams["figure.figsize"] = (8, 4)
plt.rcParams["figure.dpi"] = 90
np.set_printoptions(precision=4, suppress=True)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine

# %% [markdown]
# ## The shapes scenes
#
# `make_scenes(n, seed)` draws `n` scenes. For scene `i`, `scenes.images[i]` is a `(64, 64, 3)`
# float image in [0, 1], `scenes.boxes[i]` a `(K, 4)` array of the visible objects' boxes and
# `scenes.labels[i]` their classes (indices into `CLASSES`). A box is the tight box of the
# object's *visible* pixels, so a partly hidden shape has a smaller box than its full outline.

# %%
demo = make_scenes(8, seed=5)
fig, axes = plt.subplots(1, 4, figsize=(11, 3))
for i, ax in zip(range(3, 7), axes):
    show_scene(ax, demo.images[i], demo.boxes[i], demo.labels[i], title=f"scene {i}")
plt.tight_layout()
plt.show()
print(f"classes: {CLASSES}")
print("scene 6:", *demo.describe(6), sep="\n  ")
print("its boxes:", demo.boxes[6], "its labels:", demo.labels[6], sep="\n")

# %% [markdown]
# # Part 1: boxes and IoU
#
# The **intersection over union** of two boxes $A$ and $B$ is the area they share divided by the
# area they cover together,
#
# $$ \text{IoU}(A, B) = \frac{|A \cap B|}{|A \cup B|} = \frac{|A \cap B|}{|A| + |B| - |A \cap B|}
#    \in [0, 1]. $$
#
# With pixel edges, the area of $(x_1, y_1, x_2, y_2)$ is $(x_2 - x_1)(y_2 - y_1)$, and the
# intersection of two boxes is the box from the larger of the two top-left corners to the
# smaller of the two bottom-right corners, of area 0 when that box is empty (clip its width and
# height at 0). A detector compares thousands of boxes with each other, so compute all pairs at
# once with **broadcasting**: `boxes1[:, None, :2]` against `boxes2[None, :, :2]` gives the
# `(N, M, 2)` top-left corners of all intersections.
#
# Two details a detector meets in practice: a box of zero area (a degenerate prediction) has
# IoU 0 with everything, including itself (never `nan`: avoid dividing 0 by 0), and empty inputs
# give empty outputs of the right shape.

# %% nbgrader={"grade": false, "grade_id": "box_iou", "locked": false, "schema_version": 3, "solution": true, "task": false}
def box_iou(boxes1, boxes2):
    """IoU of every pair of boxes from two sets, vectorised.

    Inputs:
    - boxes1: (N, 4) array of boxes (x1, y1, x2, y2), pixel edges (width = x2 - x1).
    - boxes2: (M, 4) array of boxes.

    Returns:
    - iou: (N, M) float64, iou[i, j] = IoU(boxes1[i], boxes2[j]) in [0, 1]; 0 where the union
      has zero area. Empty inputs give (0, M) or (N, 0).
    """
    iou = None
    ### BEGIN SOLUTION
    b1 = np.asarray(boxes1, dtype=np.float64)
    b2 = np.asarray(boxes2, dtype=np.float64)
    for name, b in (("boxes1", b1), ("boxes2", b2)):
        if b.ndim != 2 or b.shape[1] != 4:
            raise ValueError(f"box_iou: {name} must have shape (K, 4), got {b.shape}")
    area1 = np.clip(b1[:, 2] - b1[:, 0], 0, None) * np.clip(b1[:, 3] - b1[:, 1], 0, None)  # (N,)
    area2 = np.clip(b2[:, 2] - b2[:, 0], 0, None) * np.clip(b2[:, 3] - b2[:, 1], 0, None)  # (M,)
    top_left = np.maximum(b1[:, None, :2], b2[None, :, :2])  # (N, M, 2)
    bottom_right = np.minimum(b1[:, None, 2:], b2[None, :, 2:])  # (N, M, 2)
    wh = np.clip(bottom_right - top_left, 0, None)  # (N, M, 2)
    inter = wh[..., 0] * wh[..., 1]  # (N, M)
    union = area1[:, None] + area2[None, :] - inter  # (N, M)
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    ### END SOLUTION
    return iou


# %% nbgrader={"grade": true, "grade_id": "test_box_iou", "locked": true, "points": 8, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["box_iou"]}
with checking("box_iou", case="one 4x4 box against four others"):
    _a = np.array([[0.0, 0.0, 4.0, 4.0]])
    _b = np.array([[2.0, 2.0, 6.0, 6.0],    # overlap 2x2 = 4, union 16 + 16 - 4 = 28
                   [4.0, 0.0, 8.0, 4.0],    # touching edges: no shared area
                   [0.0, 0.0, 4.0, 4.0],    # the same box
                   [1.0, 1.0, 3.0, 3.0]])   # inside: 4 / 16
    _iou = box_iou(_a, _b)
    expect_shape(_iou, (1, 4), "box_iou(a, b)")
    expect_close(_iou, [[4 / 28, 0.0, 1.0, 0.25]], "box_iou(a, b)")
    expect_close(box_iou(_b, _a), [[4 / 28], [0.0], [1.0], [0.25]], "box_iou(b, a)")
with checking("box_iou", case="a zero-area box (x1 == x2) against itself and another"):
    _z = np.array([[3.0, 1.0, 3.0, 5.0]])
    expect_close(box_iou(_z, np.concatenate([_z, _a])), [[0.0, 0.0]], "box_iou(zero_area, [itself, a])")
with checking("box_iou", case="empty inputs"):
    expect_shape(box_iou(np.zeros((0, 4)), _b), (0, 4), "box_iou(no boxes, 4 boxes)")
    expect_shape(box_iou(_b, np.zeros((0, 4))), (4, 0), "box_iou(4 boxes, no boxes)")

# %% [markdown]
# # Part 2: non-maximum suppression
#
# A detector proposes many overlapping boxes for every object: neighbouring anchors all fire.
# **Non-maximum suppression** keeps the best of each cluster, greedily:
#
# 1. sort the boxes by decreasing score;
# 2. keep the first box of the list, and remove from the list every remaining box whose IoU with
#    it is **greater than** `iou_threshold`;
# 3. repeat with the rest of the list until it is empty.
#
# Return the indices of the kept boxes (into the input arrays) in the order they were kept, that
# is by decreasing score, as an `int64` array. **Ties**: boxes with equal scores are taken in the
# order of their index, lower index first (`np.argsort(-scores, kind="stable")`; numpy's default
# sort does not promise that). One loop over the kept boxes is fine; compute each kept box's IoU
# with all remaining boxes at once with your `box_iou`.

# %% nbgrader={"grade": false, "grade_id": "nms", "locked": false, "schema_version": 3, "solution": true, "task": false}
def nms(boxes, scores, iou_threshold):
    """Greedy non-maximum suppression.

    Inputs:
    - boxes: (N, 4) boxes (x1, y1, x2, y2).
    - scores: (N,) scores.
    - iou_threshold: a box is removed if its IoU with a kept, higher-scored box is > this.

    Returns:
    - keep: (K,) int64 indices of the kept boxes, by decreasing score (ties: lower index first).
    """
    keep = None
    ### BEGIN SOLUTION
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-scores, kind="stable")  # decreasing score, ties by index
    kept = []
    while order.size:
        best = order[0]
        kept.append(best)
        rest = order[1:]
        ious = box_iou(boxes[best][None], boxes[rest])[0]  # (len(rest),)
        order = rest[ious <= iou_threshold]
    keep = np.array(kept, dtype=np.int64)
    ### END SOLUTION
    return keep


# %% nbgrader={"grade": true, "grade_id": "test_nms", "locked": true, "points": 7, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["box_iou", "nms"]}
_boxes = np.array([[0.0, 0.0, 10.0, 10.0],   # 0
                   [1.0, 0.0, 11.0, 10.0],   # 1: IoU 90/110 = 0.82 with box 0
                   [20.0, 20.0, 30.0, 30.0], # 2: far from the others
                   [0.0, 2.0, 10.0, 12.0]])  # 3: IoU 80/120 = 0.67 with box 0
with checking("nms", case="4 boxes, scores (0.9, 0.8, 0.7, 0.6), threshold 0.5", uses=("box_iou",)):
    _keep = nms(_boxes, np.array([0.9, 0.8, 0.7, 0.6]), 0.5)
    expect_equal(_keep, np.array([0, 2]), "keep")
    if np.asarray(_keep).dtype != np.int64:
        raise CheckFailed(f"keep should be an int64 array, got dtype {np.asarray(_keep).dtype}")
with checking("nms", case="the same boxes, threshold 0.7: box 3 (IoU 0.67) survives", uses=("box_iou",)):
    expect_equal(nms(_boxes, np.array([0.9, 0.8, 0.7, 0.6]), 0.7), np.array([0, 2, 3]), "keep")
with checking("nms", case="a tie: boxes 0 and 1 both score 0.8; the lower index wins", uses=("box_iou",)):
    expect_equal(nms(_boxes, np.array([0.8, 0.8, 0.9, 0.1]), 0.5), np.array([2, 0]), "keep")
with checking("nms", case="no boxes", uses=("box_iou",)):
    expect_equal(nms(np.zeros((0, 4)), np.zeros(0), 0.5), np.zeros(0, dtype=np.int64), "keep")

# %% [markdown]
# **NMS within each class.** A detector runs NMS separately for every class: a circle must not
# suppress a square that overlaps it. `batched_nms` returns the indices kept by `nms` applied to
# the boxes of each label on their own, merged and sorted by decreasing score (ties: lower index
# first). A loop over the labels works; torchvision uses a trick instead: shift every box by
# `label * (largest coordinate + 1)` along both axes, so boxes of different labels can never
# overlap, and run one `nms` on the shifted boxes.

# %% nbgrader={"grade": false, "grade_id": "batched_nms", "locked": false, "schema_version": 3, "solution": true, "task": false}
def batched_nms(boxes, scores, labels, iou_threshold):
    """Non-maximum suppression within each label.

    Inputs:
    - boxes: (N, 4); scores: (N,); labels: (N,) int class of every box.
    - iou_threshold: as in nms.

    Returns:
    - keep: (K,) int64 indices of the kept boxes, by decreasing score (ties: lower index first).
    """
    keep = None
    ### BEGIN SOLUTION
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    kept = [np.zeros(0, dtype=np.int64)]
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)  # the boxes of this class, by index
        kept.append(idx[nms(boxes[idx], scores[idx], iou_threshold)])
    kept = np.concatenate(kept)
    keep = kept[np.lexsort((kept, -scores[kept]))].astype(np.int64)  # by -score, then index
    ### END SOLUTION
    return keep


# %% nbgrader={"grade": true, "grade_id": "test_batched_nms", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["box_iou", "nms", "batched_nms"]}
_boxes = np.array([[0.0, 0.0, 10.0, 10.0], [1.0, 0.0, 11.0, 10.0], [20.0, 20.0, 30.0, 30.0], [0.0, 2.0, 10.0, 12.0]])
with checking("batched_nms", case="the 4 boxes above; box 1 has another label than box 0",
              uses=("box_iou", "nms")):
    _keep = batched_nms(_boxes, np.array([0.9, 0.8, 0.7, 0.6]), np.array([0, 1, 0, 0]), 0.5)
    expect_equal(_keep, np.array([0, 1, 2]), "keep")

# %% [markdown]
# **See it work.** Around every object of scene 6, 12 jittered copies of its box with random
# scores, as a detector without NMS would output them; then what survives your `batched_nms`.

# %%
rng = np.random.default_rng(0)
scene = demo.images[6]
gt_b, gt_l = demo.boxes[6], demo.labels[6]
cand_b, cand_s, cand_l = [], [], []
for b, lab in zip(gt_b, gt_l):
    size = np.array([b[2] - b[0], b[3] - b[1], b[2] - b[0], b[3] - b[1]])
    cand_b.append(b + rng.normal(0, 0.12, size=(12, 4)) * size)
    cand_s.append(rng.uniform(0.3, 1.0, size=12))
    cand_l.append(np.full(12, lab))
cand_b, cand_s, cand_l = np.concatenate(cand_b), np.concatenate(cand_s), np.concatenate(cand_l)
with needs("batched_nms"):
    kept = batched_nms(cand_b, cand_s, cand_l, 0.5)
    fig, axes = plt.subplots(1, 2, figsize=(8, 4))
    show_scene(axes[0], scene, cand_b, cand_l, title=f"{len(cand_b)} candidate boxes", linewidth=0.8,
               show_text=False)
    show_scene(axes[1], scene, cand_b[kept], cand_l[kept], cand_s[kept],
               title=f"after NMS at IoU 0.5: {len(kept)} boxes")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# One box per object survives, and a few more: jittered copies that overlap the best box by
# less than 0.5. They have lower scores, so the evaluation (Part 6) counts them as false positives
# late in the ranking, where they cost little precision.

# %% [markdown]
# **Check yourself.** Greedy NMS with a threshold of 0.5 can delete a correct detection. When,
# and what happens if you raise the threshold to fix it?
#
# <details><summary>Answer</summary>
#
# When two real objects overlap with IoU above 0.5 (a person in front of another, the shapes that
# hide each other here), the better-scored one suppresses the other, which becomes a missed
# object. A higher threshold keeps such pairs but also lets more duplicates of a single object
# through, and every duplicate is a false positive in the evaluation (Part 6). The threshold
# trades missed crowded objects against duplicates; Soft-NMS (Bodla et al., 2017) lowers the
# score of overlapping boxes instead of deleting them.
#
# </details>
#
# # Part 3: box coding
#
# A detector does not predict box coordinates directly; it predicts a small correction to a
# reference box $a$ (an anchor, or a proposal in Fast R-CNN). With centres $(x, y)$, widths $w$
# and heights $h$ of the box and $(x_a, y_a, w_a, h_a)$ of the reference, the Fast R-CNN
# parametrisation is
#
# $$ t_x = \frac{x - x_a}{w_a}, \qquad t_y = \frac{y - y_a}{h_a}, \qquad
#    t_w = \log \frac{w}{w_a}, \qquad t_h = \log \frac{h}{h_a}. $$
#
# Shifts are measured in units of the reference's size and scale factors on a log scale, so one
# regression target has the same meaning for small and large boxes. Some detectors multiply the
# four targets by weights $(w_x, w_y, w_w, w_h)$, for instance $(10, 10, 5, 5)$ in Faster R-CNN's
# second stage, to give them a similar spread; `decode_boxes` divides by the same weights.
#
# `decode_boxes` inverts the coding: $x = x_a + t_x w_a$, $w = w_a e^{t_w}$, and the corners are
# $x \pm w / 2$, $y \pm h / 2$. An untrained network can predict a huge $t_w$; clamp $t_w$ and
# $t_h$ (after dividing by the weights) at $\log(1000 / 16) \approx 4.135$ before the
# exponential, as torchvision does, so the boxes stay finite.

# %% nbgrader={"grade": false, "grade_id": "box_coding", "locked": false, "schema_version": 3, "solution": true, "task": false}
BBOX_CLIP = math.log(1000.0 / 16)


def encode_boxes(boxes, anchors, weights=(1.0, 1.0, 1.0, 1.0)):
    """Encode boxes relative to reference boxes (Fast R-CNN parametrisation).

    Inputs:
    - boxes: (K, 4) target boxes (x1, y1, x2, y2), of positive width and height.
    - anchors: (K, 4) reference boxes, one per target box.
    - weights: (w_x, w_y, w_w, w_h), multiplied into (t_x, t_y, t_w, t_h).

    Returns:
    - deltas: (K, 4) float64, rows (t_x, t_y, t_w, t_h).
    """
    deltas = None
    ### BEGIN SOLUTION
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    a = np.asarray(anchors, dtype=np.float64).reshape(-1, 4)
    wx, wy, ww, wh = weights
    aw, ah = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]  # (K,)
    ax, ay = a[:, 0] + 0.5 * aw, a[:, 1] + 0.5 * ah
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    bx, by = b[:, 0] + 0.5 * bw, b[:, 1] + 0.5 * bh
    deltas = np.stack([wx * (bx - ax) / aw, wy * (by - ay) / ah,
                       ww * np.log(bw / aw), wh * np.log(bh / ah)], axis=1)  # (K, 4)
    ### END SOLUTION
    return deltas


def decode_boxes(deltas, anchors, weights=(1.0, 1.0, 1.0, 1.0)):
    """Apply predicted offsets to reference boxes: the inverse of encode_boxes.

    Inputs:
    - deltas: (K, 4) rows (t_x, t_y, t_w, t_h), multiplied by `weights` as in encode_boxes.
    - anchors: (K, 4) reference boxes.
    - weights: (w_x, w_y, w_w, w_h).

    Returns:
    - boxes: (K, 4) float64 boxes (x1, y1, x2, y2); t_w / w_w and t_h / w_h are clamped at
      BBOX_CLIP = log(1000 / 16) before the exponential.
    """
    boxes = None
    ### BEGIN SOLUTION
    d = np.asarray(deltas, dtype=np.float64).reshape(-1, 4)
    a = np.asarray(anchors, dtype=np.float64).reshape(-1, 4)
    wx, wy, ww, wh = weights
    aw, ah = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]  # (K,)
    ax, ay = a[:, 0] + 0.5 * aw, a[:, 1] + 0.5 * ah
    cx, cy = ax + d[:, 0] / wx * aw, ay + d[:, 1] / wy * ah
    w = aw * np.exp(np.minimum(d[:, 2] / ww, BBOX_CLIP))
    h = ah * np.exp(np.minimum(d[:, 3] / wh, BBOX_CLIP))
    boxes = np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=1)  # (K, 4)
    ### END SOLUTION
    return boxes


# %% nbgrader={"grade": true, "grade_id": "test_box_coding", "locked": true, "points": 7, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["box_coding"]}
with checking("encode_boxes", case="anchor (0, 0, 10, 10), box (5, 5, 25, 15): centre +10 / +5, twice as wide"):
    _d = encode_boxes(np.array([[5.0, 5.0, 25.0, 15.0]]), np.array([[0.0, 0.0, 10.0, 10.0]]))
    expect_shape(_d, (1, 4), "deltas")
    expect_close(_d, [[1.0, 0.5, np.log(2.0), 0.0]], "deltas")
    _dw = encode_boxes(np.array([[5.0, 5.0, 25.0, 15.0]]), np.array([[0.0, 0.0, 10.0, 10.0]]), (10, 10, 5, 5))
    expect_close(_dw, [[10.0, 5.0, 5 * np.log(2.0), 0.0]], "deltas with weights (10, 10, 5, 5)")
with checking("decode_boxes", case="the same anchor and deltas back to the box"):
    expect_close(decode_boxes(np.array([[1.0, 0.5, np.log(2.0), 0.0]]), np.array([[0.0, 0.0, 10.0, 10.0]])),
                 [[5.0, 5.0, 25.0, 15.0]], "boxes")

# %% [markdown]
# # Part 4: anchors
#
# A single-stage detector looks at a feature map of `H x W` cells; cell `(i, j)` sees the part
# of the image around its centre $\big((j + \tfrac12)\,s,\ (i + \tfrac12)\,s\big)$, where $s$ is
# the **stride** of the feature map (8 for a 64x64 image and an 8x8 map). At every cell sit `A`
# **anchors**, reference boxes of a few sizes and aspect ratios centred on the cell. An anchor of
# size $S$ and aspect ratio $r = h / w$ has the area $S^2$:
#
# $$ w = S / \sqrt{r}, \qquad h = S \sqrt{r}. $$
#
# For every anchor the network predicts class scores and the four offsets of Part 3, so the
# **order** of the anchors is a contract between `generate_anchors` and the network's output
# (Part 8). Use this one: cells in row-major order (`(0, 0), (0, 1), ..., (0, W-1), (1, 0), ...`),
# and within a cell, `sizes` in the outer loop and `ratios` in the inner one. Anchor number
# `(i * W + j) * A + k` is anchor `k` of cell `(i, j)`, with `k = size_index * len(ratios) +
# ratio_index`. Build them without a loop over cells (broadcast the `(A, 4)` anchors of one
# cell against the `(H * W, 4)` cell centres); do not round.

# %% nbgrader={"grade": false, "grade_id": "generate_anchors", "locked": false, "schema_version": 3, "solution": true, "task": false}
def generate_anchors(feature_size, stride, sizes, ratios):
    """All anchors of a feature map.

    Inputs:
    - feature_size: (H, W) cells of the feature map.
    - stride: pixels between neighbouring cells; cell (i, j) has its centre at
      ((j + 0.5) * stride, (i + 0.5) * stride).
    - sizes: S values (sqrt of the anchor's area, in pixels); ratios: h / w values.

    Returns:
    - anchors: (H * W * A, 4) float64 boxes (x1, y1, x2, y2) with A = len(sizes) * len(ratios);
      row (i * W + j) * A + s * len(ratios) + r is the anchor of size sizes[s] and ratio
      ratios[r] at cell (i, j).
    """
    anchors = None
    ### BEGIN SOLUTION
    H, W = feature_size
    sizes = np.asarray(sizes, dtype=np.float64)
    ratios = np.asarray(ratios, dtype=np.float64)
    ws = (sizes[:, None] / np.sqrt(ratios)[None, :]).ravel()  # (A,): sizes outer, ratios inner
    hs = (sizes[:, None] * np.sqrt(ratios)[None, :]).ravel()  # (A,)
    cell = np.stack([-ws / 2, -hs / 2, ws / 2, hs / 2], axis=1)  # (A, 4) around (0, 0)
    cy, cx = np.meshgrid((np.arange(H) + 0.5) * stride, (np.arange(W) + 0.5) * stride, indexing="ij")
    centres = np.stack([cx, cy, cx, cy], axis=-1).reshape(-1, 1, 4)  # (H W, 1, 4), row-major
    anchors = (centres + cell[None]).reshape(-1, 4)  # (H W A, 4)
    ### END SOLUTION
    return anchors


# %% nbgrader={"grade": true, "grade_id": "test_generate_anchors", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["generate_anchors"]}
with checking("generate_anchors", case="a 1x2 feature map, stride 8, size 8, ratio 1"):
    _a = generate_anchors((1, 2), 8, sizes=(8.0,), ratios=(1.0,))
    expect_shape(_a, (2, 4), "anchors")
    expect_close(_a, [[0.0, 0.0, 8.0, 8.0], [8.0, 0.0, 16.0, 8.0]], "anchors")
with checking("generate_anchors", case="a 2x1 map, stride 4, sizes (4, 8), ratios (0.5, 2): the order"):
    _a = generate_anchors((2, 1), 4, sizes=(4.0, 8.0), ratios=(0.5, 2.0))
    expect_shape(_a, (8, 4), "anchors")
    _r2 = np.sqrt(2.0)
    # cell (0, 0), centre (2, 2): size 4 ratio 0.5 (w = 4 sqrt 2, h = 2 sqrt 2), size 4 ratio 2, size 8 ...
    expect_close(_a[:4], [[2 - 2 * _r2, 2 - _r2, 2 + 2 * _r2, 2 + _r2], [2 - _r2, 2 - 2 * _r2, 2 + _r2, 2 + 2 * _r2],
                          [2 - 4 * _r2, 2 - 2 * _r2, 2 + 4 * _r2, 2 + 2 * _r2],
                          [2 - 2 * _r2, 2 - 4 * _r2, 2 + 2 * _r2, 2 + 4 * _r2]], "anchors[:4] (cell (0, 0))")
    expect_close(_a[4:] - _a[:4], np.tile([0.0, 4.0, 0.0, 4.0], (4, 1)), "anchors[4:] - anchors[:4] (cell (1, 0))")

# %% [markdown]
# ## Matching anchors to objects
#
# Training needs a target for every anchor: which object, if any, it should detect. RetinaNet's
# rule, from the IoU of every anchor with every ground-truth box:
#
# - an anchor whose best IoU is **>= `pos_threshold`** (0.5) is **positive** (label 1) and
#   matched to that best box;
# - an anchor whose best IoU is **< `neg_threshold`** (0.4) is **negative** (label 0, background);
# - anchors in between are **ignored** (label -1): neither a good example of the object nor of
#   the background, they would only confuse the classifier;
# - finally, every ground-truth box **claims its best anchor**, which becomes positive and matched
#   to that box whatever its IoU, so that no object, even a small one between anchors, is left
#   without a positive anchor. Go through the boxes in order (a later box takes over an anchor
#   claimed by an earlier one); a box's best anchor is the first one with the highest IoU
#   (`argmax`), and a box whose best IoU is 0 claims nothing.
#
# Without ground-truth boxes every anchor is negative. `matched_gt` gives the index of the
# matched box for every positive anchor (for the other anchors its value does not matter; use
# the best box, or -1 when there are no boxes).

# %% nbgrader={"grade": false, "grade_id": "match_anchors", "locked": false, "schema_version": 3, "solution": true, "task": false}
def match_anchors(anchors, gt_boxes, pos_threshold=0.5, neg_threshold=0.4):
    """Assign every anchor to an object, to the background, or to neither.

    Inputs:
    - anchors: (A, 4) anchor boxes.
    - gt_boxes: (G, 4) ground-truth boxes of one image (G may be 0).
    - pos_threshold, neg_threshold: IoU thresholds (neg_threshold <= pos_threshold).

    Returns a tuple:
    - labels: (A,) int64 in {1, 0, -1}: positive, negative (background), ignored.
    - matched_gt: (A,) int64, the index of the matched box where labels == 1.
    """
    labels, matched_gt = None, None
    ### BEGIN SOLUTION
    anchors = np.asarray(anchors, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    A = len(anchors)
    if len(gt) == 0:
        return np.zeros(A, dtype=np.int64), np.full(A, -1, dtype=np.int64)
    iou = box_iou(anchors, gt)  # (A, G)
    matched_gt = iou.argmax(axis=1)  # (A,) best box of every anchor
    best = iou.max(axis=1)  # (A,)
    labels = np.full(A, -1, dtype=np.int64)
    labels[best < neg_threshold] = 0
    labels[best >= pos_threshold] = 1
    for g in range(len(gt)):  # every box claims its best anchor
        a = int(iou[:, g].argmax())
        if iou[a, g] > 0:
            labels[a] = 1
            matched_gt[a] = g
    matched_gt = matched_gt.astype(np.int64)
    ### END SOLUTION
    return labels, matched_gt


# %% nbgrader={"grade": true, "grade_id": "test_match_anchors", "locked": true, "points": 8, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["box_iou", "match_anchors"]}
_anc = np.array([[0.0, 0.0, 10.0, 10.0],    # 0: IoU 1 with box 0
                 [2.0, 0.0, 12.0, 10.0],    # 1: IoU 80/120 = 0.67 with box 0: positive
                 [5.0, 0.0, 15.0, 10.0],    # 2: IoU 50/150 = 0.33 with box 0: negative
                 [3.5, 0.0, 13.5, 10.0],    # 3: IoU 65/135 = 0.48 with box 0: ignored
                 [30.0, 30.0, 50.0, 50.0],  # 4: IoU 4/412 = 0.01 with box 1, but its best anchor: claimed
                 [60.0, 60.0, 70.0, 70.0]]) # 5: far from everything: negative
_gt = np.array([[0.0, 0.0, 10.0, 10.0], [28.0, 28.0, 32.0, 32.0]])
with checking("match_anchors", case="6 anchors, 2 boxes (thresholds 0.5 and 0.4)", uses=("box_iou",)):
    _lab, _m = match_anchors(_anc, _gt, 0.5, 0.4)
    expect_equal(np.asarray(_lab), np.array([1, 1, 0, -1, 1, 0]), "labels")
    expect_equal(np.asarray(_m)[[0, 1, 4]], np.array([0, 0, 1]), "matched_gt at the positive anchors 0, 1, 4")
with checking("match_anchors", case="no ground-truth boxes: all negative", uses=("box_iou",)):
    _lab, _m = match_anchors(_anc, np.zeros((0, 4)), 0.5, 0.4)
    expect_equal(np.asarray(_lab), np.zeros(6, dtype=np.int64), "labels")
    expect_shape(np.asarray(_m), (6,), "matched_gt")

# %% [markdown]
# **See it work.** The anchors of one cell of the 8x8 grid the detector of Part 8 uses (stride 8,
# sizes 12, 20 and 28 pixels, ratio 1), and the positive anchors your `match_anchors` finds for
# scene 5, each in the colour of the class of its object (ground truth dashed). The large shape
# gets several positives; a small one may get a single anchor, through the claim of its best
# anchor even when that IoU is below 0.5.

# %%
with needs("generate_anchors", "match_anchors", "box_iou"):
    grid_anchors = generate_anchors((8, 8), 8, sizes=(12.0, 20.0, 28.0), ratios=(1.0,))  # (192, 4)
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 4.2))
    show_scene(axes[0], demo.images[5], title="the 3 anchors of cell (4, 4)")
    for x in range(8, 64, 8):
        axes[0].axvline(x, color="white", lw=0.4, alpha=0.6)
        axes[0].axhline(x, color="white", lw=0.4, alpha=0.6)
    first = (4 * 8 + 4) * 3  # anchors (i * W + j) * A + k of cell (i, j) = (4, 4)
    draw_boxes(axes[0], grid_anchors[first:first + 3], color="white", linewidth=1.2)
    lab, matched = match_anchors(grid_anchors, demo.boxes[5], 0.5, 0.4)
    pos = np.flatnonzero(lab == 1)
    show_scene(axes[1], demo.images[5], title=f"{len(pos)} positive anchors, {np.sum(lab == -1)} ignored")
    draw_boxes(axes[1], grid_anchors[pos], demo.labels[5][matched[pos]], show_text=False, linewidth=1.0)
    draw_boxes(axes[1], demo.boxes[5], color="white", linestyle="--", linewidth=1.0)
    plt.tight_layout()
    plt.show()
    for g, (b, name) in enumerate(zip(demo.boxes[5], demo.describe(5))):
        ious = box_iou(grid_anchors[pos[matched[pos] == g]], b[None])[:, 0]
        print(f"{name}: {len(ious)} positive anchor(s), IoU {', '.join(f'{v:.2f}' for v in ious)}")

# %% [markdown]
# # Part 5: losses
#
# **Smooth L1** (Fast R-CNN) for the box offsets: quadratic near 0, so the gradient fades out
# smoothly as a prediction becomes right, and linear beyond `beta`, so a badly wrong box does not
# dominate the batch with a huge gradient as the squared error would:
#
# $$ \text{smooth}_{L_1}(x) = \begin{cases} 0.5\, x^2 / \beta & \text{if } |x| < \beta, \\
#    |x| - 0.5\, \beta & \text{otherwise.} \end{cases} $$
#
# Fast R-CNN uses $\beta = 1$; detectors often use $\beta = 1/9$. With $\beta = 0$ it is the L1
# loss $|x|$ (do not divide by 0). Write it with torch operations (`torch.where`, `abs`), so
# autograd differentiates it, elementwise: the output has the input's shape.

# %% nbgrader={"grade": false, "grade_id": "smooth_l1", "locked": false, "schema_version": 3, "solution": true, "task": false}
def smooth_l1(x, beta=1.0):
    """Elementwise smooth L1 (Huber) loss.

    Inputs:
    - x: tensor of any shape (prediction minus target).
    - beta: >= 0, where the loss turns from quadratic to linear (0: the L1 loss).

    Returns:
    - loss: tensor of x's shape.
    """
    loss = None
    ### BEGIN SOLUTION
    ax = x.abs()
    if beta == 0:
        loss = ax
    else:
        loss = torch.where(ax < beta, 0.5 * x * x / beta, ax - 0.5 * beta)
    ### END SOLUTION
    return loss


# %% nbgrader={"grade": true, "grade_id": "test_smooth_l1", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["smooth_l1"]}
with checking("smooth_l1", case="x = (-2, -0.5, 0, 0.5, 2), beta = 1"):
    _x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0])
    _l = smooth_l1(_x, beta=1.0)
    if not isinstance(_l, torch.Tensor):
        raise CheckFailed(f"smooth_l1 should return a torch tensor, got {type(_l).__name__}")
    expect_close(_l.detach().numpy(), [1.5, 0.125, 0.0, 0.125, 1.5], "loss")
with checking("smooth_l1", case="beta = 0 is the L1 loss"):
    expect_close(smooth_l1(_x, beta=0.0).detach().numpy(), [2.0, 0.5, 0.0, 0.5, 2.0], "loss")

# %% [markdown]
# **The focal loss** (RetinaNet). A detector scores thousands of anchors per image and almost all
# of them are easy background. With the plain cross-entropy their many small losses add up and
# drown the few objects. The focal loss multiplies the binary cross-entropy of every (anchor,
# class) pair by $(1 - p_t)^\gamma$, which is close to 0 for examples the model already gets
# right:
#
# $$ \text{FL}(p_t) = -\alpha_t\, (1 - p_t)^\gamma \log p_t, \qquad
#    p_t = \begin{cases} p & \text{if } y = 1 \\ 1 - p & \text{if } y = 0 \end{cases}, \qquad
#    \alpha_t = \begin{cases} \alpha & \text{if } y = 1 \\ 1 - \alpha & \text{if } y = 0, \end{cases} $$
#
# with $p = \sigma(z)$ the sigmoid of the logit $z$ (every class is a separate yes/no question,
# there is no softmax). RetinaNet uses $\gamma = 2$ and $\alpha = 0.25$; `alpha=None` means no
# $\alpha_t$ factor, and with $\gamma = 0$ and no $\alpha$ the focal loss is the binary
# cross-entropy. Work on logits: $-\log p_t$ is exactly
# `F.binary_cross_entropy_with_logits(logits, targets, reduction="none")`, which stays finite for
# logits of $\pm 100$ where `torch.log(torch.sigmoid(z))` gives `-inf`. Elementwise again.

# %% nbgrader={"grade": false, "grade_id": "sigmoid_focal_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sigmoid_focal_loss(logits, targets, gamma=2.0, alpha=0.25):
    """Elementwise focal loss on logits (RetinaNet).

    Inputs:
    - logits: tensor of any shape, the scores z before the sigmoid.
    - targets: tensor of the same shape, 1.0 for positives and 0.0 for negatives.
    - gamma: >= 0, the focusing exponent; alpha: weight of the positives in [0, 1], or None.

    Returns:
    - loss: tensor of the logits' shape.
    """
    loss = None
    ### BEGIN SOLUTION
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")  # -log p_t
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha is not None:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    ### END SOLUTION
    return loss


# %% nbgrader={"grade": true, "grade_id": "test_sigmoid_focal_loss", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["sigmoid_focal_loss"]}
with checking("sigmoid_focal_loss", case="logit 0 (p = 0.5), target 1, gamma 2, alpha 0.25"):
    _l = sigmoid_focal_loss(torch.tensor([0.0]), torch.tensor([1.0]), gamma=2.0, alpha=0.25)
    if not isinstance(_l, torch.Tensor):
        raise CheckFailed(f"sigmoid_focal_loss should return a torch tensor, got {type(_l).__name__}")
    expect_close(_l.detach().numpy(), [0.25 * 0.5 ** 2 * np.log(2.0)], "loss")
with checking("sigmoid_focal_loss", case="gamma 0 and alpha None: the binary cross-entropy"):
    _z, _t = torch.tensor([[-3.0, 0.5], [2.0, 4.0]]), torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    expect_close(sigmoid_focal_loss(_z, _t, gamma=0.0, alpha=None).detach().numpy(),
                 F.binary_cross_entropy_with_logits(_z, _t, reduction="none").numpy(), "loss", rtol=1e-5)

# %% [markdown]
# How much does the focal term silence the easy examples? The loss of one example against the
# probability $p_t$ the model gives to its true answer, with your function:

# %%
z = torch.linspace(-6, 6, 400)
p_t = torch.sigmoid(z).numpy()
with needs("sigmoid_focal_loss"):
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for gamma, color in zip((0.0, 0.5, 1.0, 2.0, 5.0), CLASS_COLORS):
        ax.plot(p_t, sigmoid_focal_loss(z, torch.ones_like(z), gamma=gamma, alpha=None).numpy(), color=color,
                label=f"gamma = {gamma:g}" + (" (cross-entropy)" if gamma == 0 else ""))
    ax.axvspan(0.6, 1.0, color="0.9", zorder=0)
    ax.text(0.8, 1.4, "well-classified\nexamples", ha="center", fontsize=9)
    ax.set_xlabel("probability of the true class, $p_t$")
    ax.set_ylabel("loss")
    ax.set_ylim(0, 4)
    ax.legend(fontsize=8)
    ax.set_title("focal loss against cross-entropy")
    plt.show()
    print("loss at p_t = 0.9: cross-entropy", round(-np.log(0.9), 4), "| focal, gamma 2:",
          round(-0.01 * np.log(0.9), 6), "(100 times smaller)")

# %% [markdown]
# # Part 6: evaluation
#
# Lecture 08 defined **average precision** for a ranked list: go down the list sorted by score;
# after each of the $K$ items, recall is the fraction of all positives found so far and
# precision the fraction of the items so far that are positives. The **interpolated precision**
# at recall $r$ is the best precision at any recall $\ge r$ (the envelope of the curve), and:
#
# - **all-point AP** (PASCAL VOC 2010 and later) is the area under the envelope,
#   $\sum_k (r_k - r_{k-1})\, p_{\text{interp}}(r_k)$ with $r_0 = 0$: the sum runs over the
#   points where recall changes;
# - **11-point AP** (PASCAL VOC 2007) is the mean of the envelope at the recalls
#   $0, 0.1, \dots, 1$, where the envelope is 0 beyond the largest recall reached:
#   $\frac{1}{11} \sum_{t} \max\{p_k : r_k \ge t\}$.
#
# `average_precision` takes the two curves as arrays, one value per item of the ranked list; an
# empty list has AP 0. For the eleven levels use `np.arange(11) / 10`: `np.linspace(0, 1, 11)`
# and `np.arange(0, 1.1, 0.1)` compute the levels as multiples of 0.1, which gives
# 0.30000000000000004 instead of 0.3, so a recall of exactly 3/10 would miss that level (the
# original VOC code has this quirk; the tests accept both versions). A way to write the all-point version: add a recall of 0 and of 1 at the
# two ends (with precision 0), take the running maximum of precision from the right
# (`np.maximum.accumulate` on the reversed array), and sum the rectangles where recall grows.

# %% nbgrader={"grade": false, "grade_id": "average_precision", "locked": false, "schema_version": 3, "solution": true, "task": false}
def average_precision(recall, precision, method="all-point"):
    """Average precision from a precision-recall curve.

    Inputs:
    - recall: (K,) recall after each of the K ranked items (non-decreasing, in [0, 1]).
    - precision: (K,) precision after each item.
    - method: "all-point" (VOC 2010+, area under the interpolated curve) or "11-point" (VOC 2007).

    Returns:
    - ap: float in [0, 1]; 0.0 when K = 0. Raises ValueError for another method.
    """
    ap = None
    ### BEGIN SOLUTION
    recall = np.asarray(recall, dtype=np.float64).ravel()
    precision = np.asarray(precision, dtype=np.float64).ravel()
    if method not in ("all-point", "11-point"):
        raise ValueError(f'average_precision: method must be "all-point" or "11-point", got {method!r}')
    if recall.size == 0:
        return 0.0
    if method == "11-point":
        levels = np.arange(11) / 10  # exact tenths
        ap = float(np.mean([precision[recall >= t].max() if np.any(recall >= t) else 0.0 for t in levels]))
    else:
        r = np.concatenate([[0.0], recall, [1.0]])
        p = np.concatenate([[0.0], precision, [0.0]])
        p = np.maximum.accumulate(p[::-1])[::-1]  # the envelope: best precision to the right
        steps = np.flatnonzero(r[1:] != r[:-1])  # where recall changes
        ap = float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))
    ### END SOLUTION
    return ap


# %% nbgrader={"grade": true, "grade_id": "test_average_precision", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["average_precision"]}
# The ranked list T F T T F with 4 positives in all (one is never found):
_rec = np.array([0.25, 0.25, 0.5, 0.75, 0.75])
_prec = np.array([1.0, 0.5, 2 / 3, 0.75, 0.6])
with checking("average_precision", case="T F T T F, 4 positives, all-point"):
    # the envelope is 1 up to recall 0.25 and 0.75 from there to 0.75: 0.25 * 1 + 0.5 * 0.75
    expect_close(average_precision(_rec, _prec, "all-point"), 0.625, "ap")
with checking("average_precision", case="T F T T F, 4 positives, 11-point"):
    # levels 0, 0.1, 0.2 read 1; levels 0.3 to 0.7 read 0.75; levels 0.8, 0.9, 1 read 0
    expect_close(average_precision(_rec, _prec, "11-point"), (3 + 5 * 0.75) / 11, "ap")
with checking("average_precision", case="an empty list"):
    expect_close(average_precision(np.zeros(0), np.zeros(0), "all-point"), 0.0, "ap")

# %% [markdown]
# ## Detection AP and mAP: the VOC protocol
#
# For detection, the items of the ranked list are the detected boxes, and whether a box is a
# positive depends on the ground truth, with the rule of lecture 08. For every class $c$
# separately:
#
# 1. collect the detections of class $c$ from **all** images and sort them by decreasing score.
#    Keep the order of equal scores as it was (images in order, detections in their order
#    within an image): a stable sort;
# 2. go down the list. Compare each detection with the ground-truth boxes of class $c$ in **its
#    own image** and take the one with the highest IoU (the first on ties). If that IoU is
#    `>= iou_threshold` and the box has not been claimed yet, the detection is a **true
#    positive** and claims it; if the box was claimed already, it is a **false positive** (a
#    duplicate), even if another box also overlaps enough. An IoU below the threshold, or no box
#    of the class in the image, is a false positive too;
# 3. VOC marks some objects **difficult**: a detection whose best box is difficult is dropped
#    from the list (neither true nor false positive), and difficult boxes do not count among
#    the positives; missing them costs nothing;
# 4. recall after each detection is (true positives so far) / (number of non-difficult boxes of
#    class $c$), precision is (true positives so far) / (true + false positives so far), and
#    $\text{AP}_c$ is `average_precision` of these curves.
#
# **mAP** is the mean of $\text{AP}_c$ over the classes. A class without any (non-difficult)
# ground-truth box has no defined recall: its AP is `nan` and it is **left out of the mean**
# (detections of that class are simply wrong, but they cannot lower any other class's AP). A
# class with boxes but no detections has AP 0.
#
# Detections and ground truth are lists with one dictionary per image, the format of torchvision
# and of your detector in Part 8: `{"boxes": (D, 4), "scores": (D,), "labels": (D,)}` and
# `{"boxes": (G, 4), "labels": (G,)}`, with an optional `"difficult": (G,)` boolean array.
# With `return_curves=True`, also return the curves for plotting.

# %% nbgrader={"grade": false, "grade_id": "evaluate_detections", "locked": false, "schema_version": 3, "solution": true, "task": false}
def evaluate_detections(detections, ground_truth, iou_threshold=0.5, num_classes=3, method="all-point",
                        return_curves=False):
    """mAP of a detector over a data set, with the PASCAL VOC matching rule.

    Inputs:
    - detections: list of N dicts (one per image) with "boxes" (D_i, 4), "scores" (D_i,),
      "labels" (D_i,) int.
    - ground_truth: list of N dicts with "boxes" (G_i, 4), "labels" (G_i,) int and optionally
      "difficult" (G_i,) bool.
    - iou_threshold: a detection needs IoU >= this with an unclaimed box of its class.
    - num_classes: classes are 0 .. num_classes - 1.
    - method: "all-point" or "11-point", passed to average_precision.
    - return_curves: also return the precision-recall curve of every class.

    Returns a tuple:
    - mAP: float, the mean AP over the classes that have ground truth (nan if none has).
    - ap: (num_classes,) float64 AP per class; nan for a class without ground-truth boxes.
    - curves (only with return_curves=True): list of num_classes entries, each a tuple
      (recall (K,), precision (K,)) over the K ranked detections of that class, or None for a
      class without ground truth.
    """
    if len(detections) != len(ground_truth):
        raise ValueError(f"evaluate_detections: {len(detections)} detection dicts for "
                         f"{len(ground_truth)} images; expected one per image")
    mAP, ap, curves = None, None, None
    ### BEGIN SOLUTION
    ap = np.full(num_classes, np.nan)
    curves = [None] * num_classes
    for c in range(num_classes):
        gt_boxes, gt_difficult, claimed, n_pos = [], [], [], 0
        for g in ground_truth:
            mine = np.asarray(g["labels"]).reshape(-1) == c
            difficult = np.asarray(g.get("difficult", np.zeros(len(mine), dtype=bool)), dtype=bool).reshape(-1)
            gt_boxes.append(np.asarray(g["boxes"], dtype=np.float64).reshape(-1, 4)[mine])
            gt_difficult.append(difficult[mine])
            claimed.append(np.zeros(int(mine.sum()), dtype=bool))
            n_pos += int((~difficult[mine]).sum())
        if n_pos == 0:
            continue  # no ground truth for this class: AP undefined, left out of the mean
        image_of, scores, boxes = [], [], []
        for i, d in enumerate(detections):
            mine = np.asarray(d["labels"]).reshape(-1) == c
            image_of.append(np.full(int(mine.sum()), i))
            scores.append(np.asarray(d["scores"], dtype=np.float64).reshape(-1)[mine])
            boxes.append(np.asarray(d["boxes"], dtype=np.float64).reshape(-1, 4)[mine])
        image_of, scores, boxes = np.concatenate(image_of), np.concatenate(scores), np.concatenate(boxes)
        is_tp = []
        for k in np.argsort(-scores, kind="stable"):  # decreasing score, stable on ties
            i = image_of[k]
            if len(gt_boxes[i]):
                ious = box_iou(boxes[k][None], gt_boxes[i])[0]
                j = int(np.argmax(ious))
                if ious[j] >= iou_threshold:
                    if gt_difficult[i][j]:
                        continue  # neither a true nor a false positive
                    if not claimed[i][j]:
                        claimed[i][j] = True
                        is_tp.append(True)
                        continue
            is_tp.append(False)  # a duplicate, a poor box, or no object of this class
        tp = np.cumsum(np.array(is_tp, dtype=np.float64))
        recall = tp / n_pos
        precision = tp / np.arange(1, len(tp) + 1)
        ap[c] = average_precision(recall, precision, method)
        curves[c] = (recall, precision)
    mAP = float(np.nanmean(ap)) if np.any(~np.isnan(ap)) else float("nan")
    ### END SOLUTION
    if return_curves:
        return mAP, ap, curves
    return mAP, ap


# %% nbgrader={"grade": true, "grade_id": "test_evaluate_detections", "locked": true, "points": 12, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["box_iou", "average_precision", "evaluate_detections"]}
# One class, two images, three objects (A and B in image 0, C in image 1), four detections.
_gt = [{"boxes": np.array([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]]), "labels": np.array([0, 0])},
       {"boxes": np.array([[0.0, 0.0, 10.0, 10.0]]), "labels": np.array([0])}]
_det = [{"boxes": np.array([[0.0, 0.0, 10.0, 10.0],      # 0.90: finds A
                            [1.0, 1.0, 11.0, 11.0],      # 0.80: IoU 0.68 with A again, a duplicate
                            [40.0, 40.0, 50.0, 50.0]]),  # 0.70: nothing there
         "scores": np.array([0.9, 0.8, 0.7]), "labels": np.array([0, 0, 0])},
        {"boxes": np.array([[0.0, 0.0, 10.0, 9.0]]),     # 0.85: IoU 0.9 with C
         "scores": np.array([0.85]), "labels": np.array([0])}]
with checking("evaluate_detections", case="1 class, 3 objects, 4 detections (T T F F in score order)",
              uses=("box_iou", "average_precision")):
    _m, _ap, _curves = evaluate_detections(_det, _gt, 0.5, num_classes=1, return_curves=True)
    expect_close(_curves[0][0], [1 / 3, 2 / 3, 2 / 3, 2 / 3], "recall curve")
    expect_close(_curves[0][1], [1.0, 1.0, 2 / 3, 0.5], "precision curve")
    expect_close(_m, 2 / 3, "mAP (all-point)")
    expect_close(_ap, [2 / 3], "ap")
    expect_close(evaluate_detections(_det, _gt, 0.5, num_classes=1, method="11-point")[0], 7 / 11, "mAP (11-point)")
with checking("evaluate_detections", case="the same detections at IoU threshold 0.95: only the exact box counts",
              uses=("box_iou", "average_precision")):
    expect_close(evaluate_detections(_det, _gt, 0.95, num_classes=1)[0], 1 / 3, "mAP")
with checking("evaluate_detections", case="a perfect detector (the ground truth itself) and no detections at all",
              uses=("box_iou", "average_precision")):
    _perfect = [{"boxes": g["boxes"], "scores": np.ones(len(g["labels"])), "labels": g["labels"]} for g in _gt]
    expect_close(evaluate_detections(_perfect, _gt, 0.5, num_classes=1)[0], 1.0, "mAP of a perfect detector")
    _none = [{"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0, dtype=np.int64)}] * 2
    expect_close(evaluate_detections(_none, _gt, 0.5, num_classes=1)[0], 0.0, "mAP without detections")

# %% [markdown]
# # Part 7: RoI pooling and RoIAlign
#
# A two-stage detector (Fast and Faster R-CNN) first proposes **regions of interest** (RoIs),
# then classifies each of them with a small network that needs an input of a fixed size, say
# 7x7 cells of the backbone's feature map. Cropping that fixed-size feature from a box of any
# size and position is the job of RoI pooling. A box is given in image pixels; on a feature map
# of stride $s$ it covers the coordinates multiplied by `spatial_scale` $= 1/s$.
#
# **RoI pooling** (Fast R-CNN) rounds the box to whole cells and takes the maximum of each of
# `output_size` x `output_size` sub-windows. Precisely, for a box $(x_1, y_1, x_2, y_2)$:
#
# 1. round to cells: $c_1 = \lfloor x_1 s + \tfrac12 \rfloor$, $c_2 = \lfloor x_2 s + \tfrac12
#    \rfloor$ (and $r_1, r_2$ from $y$); the RoI covers columns $[c_1, c_1 + w)$ with
#    $w = \max(c_2 - c_1, 1)$, rows likewise with $h = \max(r_2 - r_1, 1)$;
# 2. bin $(i, j)$ of an $H_o \times W_o$ output covers rows
#    $[\,r_1 + \lfloor i h / H_o \rfloor,\ r_1 + \lceil (i+1) h / H_o \rceil)$ and columns
#    $[\,c_1 + \lfloor j w / W_o \rfloor,\ c_1 + \lceil (j+1) w / W_o \rceil)$, cut to the feature
#    map; neighbouring bins may share a row when $h$ is not a multiple of $H_o$;
# 3. the output is the maximum over the bin, per channel, or 0 if the bin is empty (outside the map).
#
# (This is torchvision's `roi_pool` written for pixel edges, without its `+ 1` in the width.)
# The rounding loses up to half a cell: on a stride-16 map, 8 pixels, which hardly matters for a
# class but does for a mask. **RoIAlign** (Mask R-CNN) does not round at all. It splits the box,
# in continuous coordinates, into $H_o \times W_o$ equal bins, samples every bin at a regular
# grid of `sampling_ratio` x `sampling_ratio` points, reads the feature map at each point by
# **bilinear interpolation**, and averages the points of a bin. With pixel edges, feature cell
# $(i, j)$ is the square $[j, j+1) \times [i, i+1)$ with its value at its centre
# $(j + \tfrac12, i + \tfrac12)$; shifting the box by half a cell (torchvision's `aligned=True`)
# puts cell centres at integer coordinates, where bilinear interpolation reads them:
#
# 1. $x_1' = x_1 s - \tfrac12$, $x_2' = x_2 s - \tfrac12$ (and $y$); bins of size
#    $b_w = (x_2' - x_1') / W_o$, $b_h = (y_2' - y_1') / H_o$;
# 2. sample points of bin $(i, j)$: $y = y_1' + i\, b_h + (u + \tfrac12)\, b_h / g_h$ for
#    $u = 0 .. g_h - 1$, and $x$ likewise, with $g_h = g_w =$ `sampling_ratio`, or, if
#    `sampling_ratio` $\le 0$, $g_h = \lceil (y_2' - y_1') / H_o \rceil$ and
#    $g_w = \lceil (x_2' - x_1') / W_o \rceil$ (about one point per cell);
# 3. bilinear value at $(y, x)$ on a map of $H \times W$ cells (torchvision's rule at the
#    borders): 0 if $y < -1$ or $y > H$ or $x < -1$ or $x > W$; otherwise clip $y$ and $x$ at 0
#    from below, let $y_0 = \lfloor y \rfloor$; if $y_0 \ge H - 1$ set $y_0 = y_1 = H - 1$ and
#    $y = y_0$, else $y_1 = y_0 + 1$ (same for $x$); then with $l_y = y - y_0$, $l_x = x - x_0$
#
#    $$ v = (1 - l_y)(1 - l_x) f_{y_0 x_0} + (1 - l_y)\, l_x\, f_{y_0 x_1}
#         + l_y (1 - l_x) f_{y_1 x_0} + l_y\, l_x\, f_{y_1 x_1}; $$
#
# 4. the output of the bin is the mean of its $g_h g_w$ values (0 if there are none).
#
# A loop over the RoIs and, for RoI pooling, over the output bins is fine. For RoIAlign,
# compute the sample coordinates of one RoI with numpy and interpolate them all at once (the
# weights are separable: a row weight times a column weight).

# %% nbgrader={"grade": false, "grade_id": "roi_pool", "locked": false, "schema_version": 3, "solution": true, "task": false}
def roi_pool(features, rois, output_size, spatial_scale=1.0):
    """RoI max pooling (Fast R-CNN), pixel-edge convention.

    Inputs:
    - features: (C, H, W) feature map.
    - rois: (R, 4) boxes (x1, y1, x2, y2) in image pixels.
    - output_size: int or (H_o, W_o).
    - spatial_scale: feature cells per image pixel (1 / stride).

    Returns:
    - out: (R, C, H_o, W_o) float64, the maximum of every bin (0 for an empty bin).
    """
    out = None
    ### BEGIN SOLUTION
    f = np.asarray(features, dtype=np.float64)
    C, H, W = f.shape
    rois = np.asarray(rois, dtype=np.float64).reshape(-1, 4)
    oh, ow = (output_size, output_size) if np.isscalar(output_size) else output_size
    out = np.zeros((len(rois), C, oh, ow))
    for r, box in enumerate(rois):
        c1, r1, c2, r2 = (int(v) for v in np.floor(box * spatial_scale + 0.5))
        w, h = max(c2 - c1, 1), max(r2 - r1, 1)
        for i in range(oh):
            ys, ye = min(max(r1 + (i * h) // oh, 0), H), min(max(r1 - (-(i + 1) * h // oh), 0), H)
            for j in range(ow):
                xs, xe = min(max(c1 + (j * w) // ow, 0), W), min(max(c1 - (-(j + 1) * w // ow), 0), W)
                if ye > ys and xe > xs:
                    out[r, :, i, j] = f[:, ys:ye, xs:xe].max(axis=(1, 2))
    ### END SOLUTION
    return out


# %% nbgrader={"grade": true, "grade_id": "test_roi_pool", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["roi_pool"]}
_f = np.arange(16.0).reshape(1, 4, 4)  # one channel, rows [0 1 2 3], [4 5 6 7], ...
with checking("roi_pool", case="the whole 4x4 map into 2x2 bins: the maximum of every quadrant"):
    _o = roi_pool(_f, np.array([[0.0, 0.0, 4.0, 4.0]]), 2)
    expect_shape(_o, (1, 1, 2, 2), "out")
    expect_close(_o[0, 0], [[5.0, 7.0], [13.0, 15.0]], "out")
with checking("roi_pool", case="an image box (8, 0, 16, 16) on this map with stride 4 (spatial_scale 0.25)"):
    # columns [2, 4), rows [0, 4); 2x1 output: rows 0-1 and rows 2-3
    expect_close(roi_pool(_f, np.array([[8.0, 0.0, 16.0, 16.0]]), (2, 1), spatial_scale=0.25)[0, 0],
                 [[7.0], [15.0]], "out")
with checking("roi_pool", case="a 3-cell RoI into 2 bins: the middle row belongs to both"):
    expect_close(roi_pool(_f, np.array([[0.0, 0.0, 1.0, 3.0]]), (2, 1))[0, 0], [[4.0], [8.0]], "out")

# %% nbgrader={"grade": false, "grade_id": "roi_align", "locked": false, "schema_version": 3, "solution": true, "task": false}
def roi_align(features, rois, output_size, spatial_scale=1.0, sampling_ratio=2):
    """RoIAlign (Mask R-CNN; torchvision's roi_align with aligned=True).

    Inputs:
    - features: (C, H, W) feature map.
    - rois: (R, 4) boxes (x1, y1, x2, y2) in image pixels.
    - output_size: int or (H_o, W_o).
    - spatial_scale: feature cells per image pixel (1 / stride).
    - sampling_ratio: sample points per bin along each axis; <= 0: ceil(RoI size / output size).

    Returns:
    - out: (R, C, H_o, W_o) float64, the mean of the bilinear samples of every bin.
    """
    out = None
    ### BEGIN SOLUTION
    f = np.asarray(features, dtype=np.float64)
    C, H, W = f.shape
    rois = np.asarray(rois, dtype=np.float64).reshape(-1, 4)
    oh, ow = (output_size, output_size) if np.isscalar(output_size) else output_size

    def axis_weights(v, size):
        """Bilinear weights (P, 2) and indices (P, 2) of points v (P,) along an axis of `size` cells."""
        inside = (v >= -1.0) & (v <= size)
        v = np.maximum(v, 0.0)
        lo = np.floor(v).astype(np.int64)
        at_end = lo >= size - 1
        lo = np.where(at_end, size - 1, lo)
        hi = np.where(at_end, size - 1, lo + 1)
        frac = np.where(at_end, 0.0, v - lo)
        return np.stack([1 - frac, frac], axis=1) * inside[:, None], np.stack([lo, hi], axis=1)

    out = np.zeros((len(rois), C, oh, ow))
    for r, box in enumerate(rois):
        x1, y1, x2, y2 = box * spatial_scale - 0.5
        bh, bw = (y2 - y1) / oh, (x2 - x1) / ow
        gh = sampling_ratio if sampling_ratio > 0 else int(np.ceil((y2 - y1) / oh))
        gw = sampling_ratio if sampling_ratio > 0 else int(np.ceil((x2 - x1) / ow))
        if gh <= 0 or gw <= 0:
            continue
        ys = y1 + bh * (np.arange(oh)[:, None] + (np.arange(gh)[None, :] + 0.5) / gh)  # (H_o, g_h)
        xs = x1 + bw * (np.arange(ow)[:, None] + (np.arange(gw)[None, :] + 0.5) / gw)  # (W_o, g_w)
        wy, iy = axis_weights(ys.ravel(), H)  # (H_o g_h, 2) each
        wx, ix = axis_weights(xs.ravel(), W)  # (W_o g_w, 2) each
        corners = f[:, iy[:, :, None, None], ix[None, None, :, :]]  # (C, H_o g_h, 2, W_o g_w, 2)
        samples = np.einsum("ap,bq,capbq->cab", wy, wx, corners)  # (C, H_o g_h, W_o g_w)
        out[r] = samples.reshape(C, oh, gh, ow, gw).mean(axis=(2, 4))
    ### END SOLUTION
    return out


# %% nbgrader={"grade": true, "grade_id": "test_roi_align", "locked": true, "points": 8, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["roi_align"]}
_f = np.arange(16.0).reshape(1, 4, 4)
with checking("roi_align", case="a RoI that is exactly feature cell (row 1, column 2), 1x1 output, 1 sample"):
    _o = roi_align(_f, np.array([[2.0, 1.0, 3.0, 2.0]]), 1, spatial_scale=1.0, sampling_ratio=1)
    expect_shape(_o, (1, 1, 1, 1), "out")
    expect_close(_o, [[[[6.0]]]], "out (the value of cell (1, 2))")
with checking("roi_align", case="the same cell in image pixels with stride 4, 2x2 samples on a linear map"):
    # the map is linear (4 row + column), so the mean of 4 symmetric samples is the centre value
    expect_close(roi_align(_f, np.array([[8.0, 4.0, 12.0, 8.0]]), 1, spatial_scale=0.25, sampling_ratio=2),
                 [[[[6.0]]]], "out")
with checking("roi_align", case="the whole 4x4 map into 2x2 bins, 2x2 samples per bin"):
    # bin (0, 0) samples at y, x in {0, 1} (after the half-cell shift): mean of 0, 1, 4, 5
    expect_close(roi_align(_f, np.array([[0.0, 0.0, 4.0, 4.0]]), 2, sampling_ratio=2)[0, 0],
                 [[2.5, 4.5], [10.5, 12.5]], "out")

# %% [markdown]
# **Why RoIAlign?** A photograph stands in for a feature map: the camera man at 64x64 "cells",
# read with stride 4 as if the image were 256x256 pixels. Both methods crop the same box around
# his head and camera into 14x14 values. Then the box slides to the right by a fraction of a
# cell at a time: RoI pooling does not notice until the rounding jumps to the next cell,
# RoIAlign follows every step smoothly. A mask predicted from RoI pooling's crop would be off by up to half a cell.

# %%
cam = load_photo("camera", gray=True, size=64).astype(np.float64)[None] / 255.0  # (1, 64, 64) "features"
head = np.array([[96.0, 24.0, 168.0, 96.0]])  # a box in the 256x256 image's pixels
with needs("roi_pool", "roi_align"):
    pooled = roi_pool(cam, head, 14, spatial_scale=0.25)[0, 0]
    aligned = roi_align(cam, head, 14, spatial_scale=0.25, sampling_ratio=2)[0, 0]
    shifts = np.arange(0, 8.01, 0.25)  # image pixels; 4 pixels = one feature cell
    moved_pool = [np.abs(roi_pool(cam, head + [s, 0, s, 0], 14, 0.25) - pooled).mean() for s in shifts]
    moved_align = [np.abs(roi_align(cam, head + [s, 0, s, 0], 14, 0.25, 2) - aligned).mean() for s in shifts]
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.2), gridspec_kw={"width_ratios": [1, 1, 1, 1.5]})
    axes[0].imshow(cam[0], cmap="gray", extent=(0, 256, 256, 0))
    draw_boxes(axes[0], head, color="#E69F00")
    axes[0].set_title("feature map, box in image pixels", fontsize=9)
    for ax, img, title in ((axes[1], pooled, "RoI pooling, 14x14"), (axes[2], aligned, "RoIAlign, 14x14")):
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
    for ax in axes[:3]:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[3].plot(shifts, moved_pool, "o-", ms=3, color=CLASS_COLORS[1], label="RoI pooling")
    axes[3].plot(shifts, moved_align, "o-", ms=3, color=CLASS_COLORS[0], label="RoIAlign")
    axes[3].set_xlabel("box shifted right by (image pixels; 4 = one cell)")
    axes[3].set_ylabel("mean change of the crop")
    axes[3].legend(fontsize=8)
    axes[3].set_title("sliding the box", fontsize=9)
    plt.tight_layout()
    plt.show()

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_roi_rounding_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 1 (3 points)
#
# In the right panel above, the crop of RoI pooling changes in steps as the box slides to the
# right, and the crop of RoIAlign changes smoothly. The box starts at $x_1 = 96$ and
# $x_2 = 168$ image pixels, on a map of stride 4. Use the rounding rule of `roi_pool` to explain
# why the steps of RoI pooling lie exactly where the plot shows them, and explain why RoIAlign's
# curve has no steps. Then say what the difference means for a head that must place a box edge or
# a mask boundary precisely. Answer in three to five sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_roi_rounding", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** For a shift of $\delta$ pixels, RoI pooling starts its RoI at cell
# $c_1 = \lfloor (96 + \delta)/4 + \tfrac12 \rfloor$, which stays 24 until $(96 + \delta)/4$
# reaches 24.5, that is until $\delta = 2$, and then becomes 25, and 26 from $\delta = 6$; the right
# edge, $168 = 4 \cdot 42$, rounds at the same shifts. Between two jumps the RoI covers the same
# cells and the crop is exactly the same, so the curve is flat (zero before the first jump), and at
# each jump the whole crop moves by one cell at once. RoIAlign does not round: its sample points
# move with the box by exactly $\delta / 4$ cells, and bilinear interpolation weighs the
# neighbouring cells by the exact position, so every small step of the box changes the crop a
# little and the curve rises smoothly. With RoI pooling, boxes that differ by less than a cell
# (4 pixels here, 16 on a stride-16 map) can give the same feature, which is off by up to half a
# cell from the box, so a head that reads it cannot tell where inside a cell an edge lies; RoIAlign
# keeps that position, which is why Mask R-CNN uses it for masks that line up with the object.
#
# **Rubric (3 points).**
# - 1 point: the steps come from rounding the box to whole cells: $\lfloor (96 + \delta)/4 +
#   \tfrac12 \rfloor$ changes at $\delta = 2$ and $\delta = 6$, and between two jumps the crop does
#   not change at all.
# - 1 point: RoIAlign samples at the box's exact, fractional positions with bilinear
#   interpolation, so its crop changes continuously with the shift.
# - 1 point: the consequence: RoI pooling is blind to shifts within a cell and misplaces the box by
#   up to half a cell, so edges and masks cannot be placed finer than the stride; RoIAlign keeps the
#   exact position (the reason Mask R-CNN introduced it).

# %% [markdown]
# # Part 8: a single-stage detector
#
# Now the pieces come together into a small **RetinaNet**: a convolutional backbone turns a
# 64x64 image into an 8x8 map of features (stride 8); at each of the 64 cells sit $A = 3$
# anchors (sizes 12, 20 and 28 pixels, aspect ratio 1), and two small convolutional heads predict,
# for every anchor, $C = 3$ class logits (one sigmoid per class, trained with the focal loss) and
# 4 box offsets (trained with smooth L1 on the positive anchors). That is
# $8 \cdot 8 \cdot 3 = 192$ anchors per image, each answering "is there a circle, a square, a
# triangle here, and where exactly?".
#
# ## The data, and why these anchors
#
# 3000 training scenes and 300 test scenes from another seed. The anchors should fit the
# objects: look at the boxes first. They are nearly square (a shape's visible part), between 6
# and 29 pixels wide, so one ratio suffices and three sizes cover the range. What fraction of the
# objects has an anchor with IoU >= 0.5? The anchor centres are 8 pixels apart, so a small shape
# can sit between them; such objects rely on claiming their best anchor.

# %%
train_scenes = make_scenes(3000, seed=1)
test_scenes = make_scenes(300, seed=2)
all_boxes = np.concatenate(train_scenes.boxes)  # (number of objects, 4)
widths, heights = all_boxes[:, 2] - all_boxes[:, 0], all_boxes[:, 3] - all_boxes[:, 1]
print(f"{len(train_scenes)} training scenes with {len(all_boxes)} objects, {len(test_scenes)} test scenes")
print("box widths, percentiles 5/50/95:", np.percentile(widths, [5, 50, 95]))
print("aspect ratios h / w, percentiles 5/50/95:", np.percentile(heights / widths, [5, 50, 95]).round(2))
ANCHOR_SIZES, ANCHOR_RATIOS, STRIDE = (12.0, 20.0, 28.0), (1.0,), 8
with needs("box_iou", "generate_anchors"):
    best_iou = box_iou(all_boxes, generate_anchors((8, 8), STRIDE, ANCHOR_SIZES, ANCHOR_RATIOS)).max(axis=1)
    all_sizes = np.concatenate(train_scenes.sizes)  # 0 small, 1 large
    for size, name in enumerate(("small", "large")):
        b = best_iou[all_sizes == size]
        print(f"{name} objects with an anchor of IoU >= 0.5: {np.mean(b >= 0.5):.1%}; "
              f">= 0.4: {np.mean(b >= 0.4):.1%}")

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_stride_small_objects_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 2 (4 points)
#
# The cell above printed, for the small and for the large objects of the training scenes, the
# fraction that has an anchor with IoU $\ge 0.5$ on the detector's 8x8 grid (stride 8). Explain
# the gap between the two with a calculation: for a square object of side $L$ and an anchor of the
# same size whose centre is $d$ pixels off in both $x$ and $y$, write the IoU as a function of $L$
# and $d$, and evaluate it for the worst case on a stride-8 grid, $d = 4$, with $L = 12$ and with
# $L = 24$. Then say what `match_anchors` does with a small object that lies between anchor
# centres, and what that means for how well the network learns to detect it. Last, what would a
# stride of 4 change, and at what cost? Answer in five to eight sentences, with your arithmetic.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_stride_small_objects", "locked": false, "points": 4, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** The two squares overlap in a square of side $L - d$, so
# $\text{IoU} = (L - d)^2 / \big(2L^2 - (L - d)^2\big)$. With $d = 4$ this is
# $64 / 224 \approx 0.29$ for $L = 12$ but $400 / 752 \approx 0.53$ for $L = 24$. The worst shift
# is fixed by the grid (half the stride in each direction), and the IoU depends on the shift
# relative to the object's size: 4 pixels are a third of a small shape's side and a sixth of a
# large one's. So a large object has an anchor above 0.5 almost wherever it lies, while a small one
# has one only when its centre happens to fall near an anchor centre (and the anchor sizes 12, 20
# and 28 do not fit every object exactly, which lowers the IoU further). A small object between
# anchor centres gets a single positive anchor, the one it claims as its best although its IoU is
# below 0.5; the other anchors around it, which overlap it almost as much, are ignored when their
# IoU is between 0.4 and 0.5 and are otherwise trained as background. The network therefore sees
# few positive examples of such objects, from anchors whose centre is off (a box target of about
# $t_x = t_y = \pm 1/3$), next to nearly identical anchors labelled background, so it learns to
# score small objects less confidently and to place their boxes less well. With stride 4 the worst
# shift is $d = 2$ and the IoU for $L = 12$ becomes $100 / 188 \approx 0.53$, so every small shape
# would have a good anchor; but the map has $16 \times 16$ cells, four times as many anchors per
# image ($16 \cdot 16 \cdot 3 = 768$ instead of 192, almost all of them background) and four times
# the work in the heads, and the backbone must keep a finer map (or a feature pyramid must
# provide one).
#
# **Rubric (4 points).**
# - 1 point: the IoU of the shifted squares, $(L - d)^2 / (2L^2 - (L - d)^2)$ or an equivalent
#   calculation, about $0.29$ for $L = 12$ and about $0.53$ for $L = 24$.
# - 1 point: the reason for the gap: the worst shift is set by the stride, not by the object, so it
#   is a larger fraction of a small object's size; small objects get a good anchor only when they
#   sit near an anchor centre.
# - 1 point: the matching: such an object has only its claimed best anchor (IoU below 0.5) as a
#   positive, its neighbours are ignored or background, so the network gets few and poor examples
#   of it and scores small objects lower (or boxes them worse).
# - 1 point: stride 4: worst shift 2 pixels, IoU about $0.53$ for $L = 12$, at the cost of four
#   times as many anchors and positions (more computation, more background anchors).

# %% [markdown]
# ## The network
#
# The next cell is given. `ShapesDetector` is an `nn.Module` whose `forward` runs the backbone
# and the two heads and hands their outputs to **your** `flatten_predictions`; its `loss` and
# `predict` methods call **your** `detection_loss` and `postprocess`, which you write below.
# Two details from the RetinaNet paper are in `__init__`: the last layer of the box head starts
# at zero, and the bias of the class head starts at $-\log((1 - \pi) / \pi)$ with $\pi = 0.01$,
# so that at the start every anchor says "1% object". Without that, the 190-odd background
# anchors per image would produce a huge loss in the first steps and destabilise training.

# %% nbgrader={"grade": false, "grade_id": "given_detector", "locked": true, "schema_version": 3, "solution": false, "task": false}
class ShapesDetector(nn.Module):
    """A RetinaNet-style single-stage detector for the 64x64 shapes scenes.

    images (N, 3, 64, 64) -> backbone -> features (N, 2 width, 8, 8) -> per anchor:
    class logits (N, 8 * 8 * A, num_classes) and box deltas (N, 8 * 8 * A, 4).
    """

    def __init__(self, num_classes=3, anchor_sizes=(12.0, 20.0, 28.0), anchor_ratios=(1.0,), stride=8, width=32,
                 prior=0.01):
        super().__init__()
        self.num_classes, self.stride = num_classes, stride
        self.anchor_sizes, self.anchor_ratios = tuple(anchor_sizes), tuple(anchor_ratios)
        self.num_anchors = len(anchor_sizes) * len(anchor_ratios)  # A, per cell

        def block(c_in, c_out, s):
            return [nn.Conv2d(c_in, c_out, 3, stride=s, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

        w = width
        self.backbone = nn.Sequential(*block(3, w // 2, 2), *block(w // 2, w, 2), *block(w, w, 1),  # 64 -> 16
                                      *block(w, 2 * w, 2), *block(2 * w, 2 * w, 1))  # 16 -> 8: stride 8
        self.neck = nn.Sequential(nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU())
        self.cls_head = nn.Conv2d(2 * w, self.num_anchors * num_classes, 3, padding=1)  # (N, A C, 8, 8)
        self.box_head = nn.Conv2d(2 * w, self.num_anchors * 4, 3, padding=1)  # (N, A 4, 8, 8)
        nn.init.normal_(self.cls_head.weight, std=0.01)
        nn.init.constant_(self.cls_head.bias, -math.log((1 - prior) / prior))
        nn.init.zeros_(self.box_head.weight)
        nn.init.zeros_(self.box_head.bias)
        self._anchors = {}

    def anchors(self, images):
        """(8 * 8 * A, 4) float64 anchors for images of this size (your generate_anchors, cached)."""
        fs = (images.shape[-2] // self.stride, images.shape[-1] // self.stride)
        if fs not in self._anchors:
            self._anchors[fs] = generate_anchors(fs, self.stride, self.anchor_sizes, self.anchor_ratios)
        return self._anchors[fs]

    def forward(self, images):
        """images: (N, 3, H, W) float32 -> cls_logits (N, H/8 * W/8 * A, C), box_deltas (N, H/8 * W/8 * A, 4)."""
        features = self.neck(self.backbone(images))
        return flatten_predictions(self.cls_head(features), self.box_head(features), self.num_anchors)

    def loss(self, images, gt_boxes, gt_labels):
        """(cls_loss, box_loss) on a batch: gt_boxes / gt_labels are lists of (G_i, 4) / (G_i,) arrays."""
        cls_logits, box_deltas = self(images)
        return detection_loss(cls_logits, box_deltas, self.anchors(images), gt_boxes, gt_labels)

    @torch.no_grad()
    def predict(self, images, score_threshold=0.05, iou_threshold=0.5, max_detections=50, batch_size=100,
                num_threads=1):
        """Detections for images (N, 3, H, W): a list of N dicts "boxes", "scores", "labels" (eval mode)."""
        self.eval()
        out = []
        with torch_threads(num_threads):
            for i in range(0, len(images), batch_size):
                x = images[i:i + batch_size]
                cls_logits, box_deltas = self(x)
                out += postprocess(cls_logits, box_deltas, self.anchors(x), x.shape[-2:], score_threshold,
                                   iou_threshold, max_detections)
        return out


# %% [markdown]
# ## The layout of the head's outputs
#
# The class head outputs a map `cls_map` of shape `(N, A * C, H, W)`: at cell `(i, j)`, channel
# `a * C + c` is the logit of class `c` for anchor `a` of that cell. The box head's `box_map`
# `(N, A * 4, H, W)` has channel `a * 4 + k` for offset `k` of anchor `a`. The loss and the
# post-processing want one row per anchor, **in the order of `generate_anchors`**: row
# `(i * W + j) * A + a`. Rearrange both maps with `permute` and `reshape`; a mismatch between
# this order and the anchors' would train every anchor on another anchor's object, a bug that
# raises no error and only shows as a poor mAP.

# %% nbgrader={"grade": false, "grade_id": "flatten_predictions", "locked": false, "schema_version": 3, "solution": true, "task": false}
def flatten_predictions(cls_map, box_map, num_anchors):
    """One row per anchor, in generate_anchors' order.

    Inputs:
    - cls_map: (N, A * C, H, W) tensor; channel a * C + c is class c of anchor a.
    - box_map: (N, A * 4, H, W) tensor; channel a * 4 + k is offset k of anchor a.
    - num_anchors: A, anchors per cell.

    Returns a tuple:
    - cls_logits: (N, H * W * A, C), row (i * W + j) * A + a.
    - box_deltas: (N, H * W * A, 4), same rows.
    """
    cls_logits, box_deltas = None, None
    ### BEGIN SOLUTION
    N, AC, H, W = cls_map.shape
    C = AC // num_anchors
    cls_logits = cls_map.permute(0, 2, 3, 1).reshape(N, H * W * num_anchors, C)  # (N, H, W, A C) -> rows
    box_deltas = box_map.permute(0, 2, 3, 1).reshape(N, H * W * num_anchors, 4)
    ### END SOLUTION
    return cls_logits, box_deltas


# %% nbgrader={"grade": true, "grade_id": "test_flatten_predictions", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["flatten_predictions"]}
with checking("flatten_predictions", case="A = 2 anchors, C = 3 classes, a 1x2 map"):
    _cls = torch.arange(12.0).reshape(1, 6, 1, 2)  # value = 2 * channel + column
    _box = torch.arange(16.0).reshape(1, 8, 1, 2)
    _c, _b = flatten_predictions(_cls, _box, 2)
    expect_shape(_c, (1, 4, 3), "cls_logits")
    expect_shape(_b, (1, 4, 4), "box_deltas")
    # rows: (cell 0, anchor 0), (cell 0, anchor 1), (cell 1, anchor 0), (cell 1, anchor 1)
    expect_close(_c[0].numpy(), [[0, 2, 4], [6, 8, 10], [1, 3, 5], [7, 9, 11]], "cls_logits[0]")
    expect_close(_b[0].numpy(), [[0, 2, 4, 6], [8, 10, 12, 14], [1, 3, 5, 7], [9, 11, 13, 15]], "box_deltas[0]")

# %% [markdown]
# ## The loss
#
# For a batch of $N$ images, with $P$ the total number of positive anchors in the batch:
#
# 1. for each image, `match_anchors(anchors, gt_boxes[n], pos_threshold, neg_threshold)` labels
#    every anchor;
# 2. **classification**: the target of anchor $a$ and class $c$ is 1 if the anchor is positive and
#    its matched box has class $c$, else 0. Sum `sigmoid_focal_loss(logits, targets, gamma,
#    alpha)` over all classes of all anchors **that are not ignored** (label -1 anchors do not
#    contribute), and divide by $\max(P, 1)$;
# 3. **boxes**: for the positive anchors only, the target is `encode_boxes(matched box, anchor)`;
#    sum `smooth_l1(prediction - target, beta)` over the 4 offsets of all positive anchors and
#    divide by $\max(P, 1)$.
#
# Dividing by the number of positives (not of anchors) is RetinaNet's choice: with the focal
# loss, the easy background contributes almost nothing, so the loss is about the objects.
# Matching and box encoding happen in numpy, without gradients (they only make targets); turn the
# targets into `float32` tensors (`torch.as_tensor(x, dtype=torch.float32)`) and keep the
# predictions as they are, so that autograd reaches the network.

# %% nbgrader={"grade": false, "grade_id": "detection_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def detection_loss(cls_logits, box_deltas, anchors, gt_boxes, gt_labels, pos_threshold=0.5, neg_threshold=0.4,
                   gamma=2.0, alpha=0.25, beta=1.0 / 9):
    """The RetinaNet loss of a batch.

    Inputs:
    - cls_logits: (N, K, C) tensor, class logits of K anchors.
    - box_deltas: (N, K, 4) tensor, predicted offsets (encode_boxes' parametrisation, weights 1).
    - anchors: (K, 4) numpy array.
    - gt_boxes: list of N numpy arrays (G_n, 4); gt_labels: list of N int arrays (G_n,).
    - pos_threshold, neg_threshold: for match_anchors; gamma, alpha: for sigmoid_focal_loss;
      beta: for smooth_l1.

    Returns a tuple of two scalar tensors:
    - cls_loss: focal loss summed over non-ignored anchors and all classes, / max(P, 1).
    - box_loss: smooth L1 summed over the positive anchors' 4 offsets, / max(P, 1).
    """
    cls_loss, box_loss = None, None
    ### BEGIN SOLUTION
    N, K, C = cls_logits.shape
    cls_targets = np.zeros((N, K, C), dtype=np.float32)
    box_targets = np.zeros((N, K, 4), dtype=np.float32)
    labels = np.zeros((N, K), dtype=np.int64)
    for n in range(N):
        labels[n], matched = match_anchors(anchors, gt_boxes[n], pos_threshold, neg_threshold)
        pos = np.flatnonzero(labels[n] == 1)
        if len(pos):
            gt_n = np.asarray(gt_boxes[n], dtype=np.float64).reshape(-1, 4)
            cls_targets[n, pos, np.asarray(gt_labels[n])[matched[pos]]] = 1.0
            box_targets[n, pos] = encode_boxes(gt_n[matched[pos]], anchors[pos])
    labels = torch.as_tensor(labels)
    num_pos = max(int((labels == 1).sum()), 1)
    valid, positive = labels >= 0, labels == 1  # (N, K) each
    cls_loss = sigmoid_focal_loss(cls_logits[valid], torch.as_tensor(cls_targets)[valid], gamma, alpha).sum() / num_pos
    box_loss = smooth_l1(box_deltas[positive] - torch.as_tensor(box_targets)[positive], beta).sum() / num_pos
    ### END SOLUTION
    return cls_loss, box_loss


# %% nbgrader={"grade": true, "grade_id": "test_detection_loss", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["box_iou", "box_coding", "match_anchors", "smooth_l1", "sigmoid_focal_loss", "detection_loss"]}
_anc = np.array([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0], [40.0, 40.0, 50.0, 50.0]])
with checking("detection_loss", case="3 anchors, 2 classes, one box of class 1 shifted 1 pixel from anchor 0, zero outputs",
              uses=("box_iou", "match_anchors", "encode_boxes", "smooth_l1", "sigmoid_focal_loss")):
    _cl, _bl = detection_loss(torch.zeros(1, 3, 2), torch.zeros(1, 3, 4), _anc, [np.array([[1.0, 0.0, 11.0, 10.0]])],
                              [np.array([1])])
    # focal loss at p = 0.5: 0.25 * 0.25 * log 2 for the positive pair, 0.75 * 0.25 * log 2 for the 5 negative
    # ones: log 2 in all, 1 positive anchor. Box target (0.1, 0, 0, 0): smooth L1 0.5 * 0.01 / (1/9) = 0.045.
    expect_close(float(_cl), np.log(2.0), "cls_loss", rtol=1e-5)
    expect_close(float(_bl), 0.045, "box_loss", rtol=1e-5)
with checking("detection_loss", case="an image without objects: only background, no box loss",
              uses=("box_iou", "match_anchors", "encode_boxes", "smooth_l1", "sigmoid_focal_loss")):
    _cl, _bl = detection_loss(torch.zeros(1, 3, 2), torch.zeros(1, 3, 4), _anc, [np.zeros((0, 4))],
                              [np.zeros(0, dtype=np.int64)])
    expect_close(float(_cl), 6 * 0.75 * 0.25 * np.log(2.0), "cls_loss (divided by max(P, 1) = 1)", rtol=1e-5)
    expect_close(float(_bl), 0.0, "box_loss")

# %% [markdown]
# ## Post-processing
#
# At test time, for every image:
#
# 1. scores: `torch.sigmoid` of the logits, `(K, C)`: every (anchor, class) pair is a candidate;
# 2. keep the pairs with score `> score_threshold`;
# 3. decode their boxes with `decode_boxes(deltas, anchors)` and clip them to the image:
#    $x$ to `[0, W]`, $y$ to `[0, H]`, with `(H, W) = image_size`;
# 4. `batched_nms` with the classes as labels, and keep at most `max_detections` of what it
#    returns (it is sorted by score already).
#
# An anchor can produce a box for several classes; NMS within each class keeps them apart, and
# the evaluation counts the wrong ones as false positives of low score.

# %% nbgrader={"grade": false, "grade_id": "postprocess", "locked": false, "schema_version": 3, "solution": true, "task": false}
def postprocess(cls_logits, box_deltas, anchors, image_size, score_threshold=0.05, iou_threshold=0.5,
                max_detections=50):
    """Detections from the network's outputs.

    Inputs:
    - cls_logits: (N, K, C) tensor; box_deltas: (N, K, 4) tensor; anchors: (K, 4) numpy array.
    - image_size: (H, W) of the images, to clip the boxes.
    - score_threshold: keep (anchor, class) pairs with sigmoid score > this.
    - iou_threshold: for batched_nms; max_detections: at most this many per image.

    Returns:
    - detections: list of N dicts with "boxes" (D, 4) float64, "scores" (D,) float64 and
      "labels" (D,) int64, by decreasing score.
    """
    detections = []
    ### BEGIN SOLUTION
    H, W = (int(v) for v in image_size)
    scores_all = torch.sigmoid(cls_logits.detach()).double().numpy()  # (N, K, C)
    deltas_all = box_deltas.detach().double().numpy()  # (N, K, 4)
    for scores, deltas in zip(scores_all, deltas_all):
        a_idx, labels = np.nonzero(scores > score_threshold)  # candidate (anchor, class) pairs
        s = scores[a_idx, labels]
        boxes = decode_boxes(deltas[a_idx], anchors[a_idx])
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, W)
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, H)
        keep = batched_nms(boxes, s, labels, iou_threshold)[:max_detections]
        detections.append({"boxes": boxes[keep], "scores": s[keep], "labels": labels[keep].astype(np.int64)})
    ### END SOLUTION
    return detections


# %% nbgrader={"grade": true, "grade_id": "test_postprocess", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["box_iou", "nms", "batched_nms", "box_coding", "postprocess"]}
_anc = np.array([[0.0, 0.0, 10.0, 10.0], [2.0, 0.0, 12.0, 10.0]])  # IoU 80/120 = 0.67
_z = torch.tensor([[[3.0, -3.0], [2.0, -5.0]]])  # scores: anchor 0 (0.953, 0.047), anchor 1 (0.881, 0.007)
with checking("postprocess", case="2 overlapping anchors, zero deltas, NMS at 0.5",
              uses=("box_iou", "nms", "batched_nms", "decode_boxes")):
    _det = postprocess(_z, torch.zeros(1, 2, 4), _anc, (64, 64), score_threshold=0.05, iou_threshold=0.5)
    if not (isinstance(_det, list) and len(_det) == 1):
        raise CheckFailed(f"postprocess should return a list with one dict per image, got {type(_det).__name__}")
    expect_close(_det[0]["boxes"], [[0.0, 0.0, 10.0, 10.0]], 'detections[0]["boxes"]')
    expect_close(_det[0]["scores"], [1 / (1 + np.exp(-3.0))], 'detections[0]["scores"]')
    expect_equal(_det[0]["labels"], [0], 'detections[0]["labels"]')
with checking("postprocess", case="anchors shifted 4 pixels left, out of the image: clipped; NMS at 0.8 keeps both",
              uses=("box_iou", "nms", "batched_nms", "decode_boxes")):
    _det = postprocess(_z, torch.tensor([[[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]), _anc - [4, 0, 4, 0], (64, 64),
                       0.05, 0.8)
    expect_close(_det[0]["boxes"], [[0.0, 0.0, 6.0, 10.0], [0.0, 0.0, 8.0, 10.0]], 'detections[0]["boxes"]')

# %% [markdown]
# ## Training
#
# The training loop is given: AdamW with a one-cycle learning-rate schedule (a short warm-up,
# then a cosine decay, lecture 03), minibatches of 32 scenes, and a random horizontal flip of
# half of the images as data augmentation (the boxes flip with them: $x \mapsto W - x$). It
# calls `model.loss`, so it runs your `flatten_predictions`, `match_anchors`, `encode_boxes`,
# `sigmoid_focal_loss` and `smooth_l1` on every batch. It trains with one CPU thread: for a
# network this small, more threads mostly wait for each other.

# %% nbgrader={"grade": false, "grade_id": "given_training", "locked": true, "schema_version": 3, "solution": false, "task": false}
def flip_boxes(boxes, width):
    """Boxes (K, 4) of an image mirrored left-right (width in pixels)."""
    return np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], axis=1).astype(boxes.dtype)


def train_detector(model, scenes, epochs=10, batch_size=32, lr=2e-3, weight_decay=1e-4, seed=0, flip=True,
                   num_threads=1):
    """Train a ShapesDetector on shapes scenes; returns a history dict of per-step "loss", "cls", "box".

    AdamW, one-cycle learning-rate schedule, random horizontal flips; the shuffling and the
    flips come from a torch.Generator seeded with `seed`. The model is in eval mode at the end.
    num_threads: torch threads while training (None: torch's setting). One by default: the layers
    of this network are so small that several threads spend more time waiting for each other than
    computing, and on a busy machine training with two threads can take ten times longer.
    """
    with torch_threads(num_threads):
        return _train(model, scenes, epochs, batch_size, lr, weight_decay, seed, flip)


def _train(model, scenes, epochs, batch_size, lr, weight_decay, seed, flip):
    images = scenes.tensors()  # (N, 3, H, W) float32
    n, width = len(images), images.shape[-1]
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * math.ceil(n / batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.15)
    history = {"loss": [], "cls": [], "box": []}
    model.train()
    bar = tqdm(total=steps, desc="training", unit="step", leave=False)
    for epoch in range(epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            x = images[idx]
            boxes = [scenes.boxes[i] for i in idx.tolist()]
            labels = [scenes.labels[i] for i in idx.tolist()]
            if flip:
                flipped = torch.rand(len(idx), generator=gen) < 0.5
                x = torch.where(flipped[:, None, None, None], x.flip(-1), x)
                boxes = [flip_boxes(b, width) if f else b for b, f in zip(boxes, flipped.tolist())]
            cls_loss, box_loss = model.loss(x, boxes, labels)
            loss = cls_loss + box_loss
            if not torch.isfinite(loss):
                bar.close()
                raise FloatingPointError(f"the loss is {loss.item()} at step {len(history['loss'])}: check "
                                         "detection_loss, sigmoid_focal_loss and smooth_l1 on this batch")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            history["loss"].append(loss.item())
            history["cls"].append(cls_loss.item())
            history["box"].append(box_loss.item())
            bar.update()
        bar.set_postfix(epoch=epoch + 1, loss=f"{np.mean(history['loss'][-20:]):.3f}")
    bar.close()
    model.eval()
    return history


# %% [markdown]
# Train the detector: about half a minute on a laptop (940 steps). `torch.manual_seed(0)` before
# building the network makes its initial weights the same for everyone, so a correct solution
# trains the same way as the reference and reaches the mAP@0.5 that the test below asks for.
# With `LONG_RUN = True` it trains on twice as many scenes for longer (three to four times as
# long) and scores higher, if you are curious; the grading uses the default.

# %%
LONG_RUN = False
detector, history, test_map50, train_seconds = None, None, None, None
torch.manual_seed(0)
with needs("generate_anchors", "flatten_predictions", "detection_loss"):
    detector = ShapesDetector()
    print(f"ShapesDetector: {sum(p.numel() for p in detector.parameters()):,} parameters, "
          f"{detector.num_anchors * 64} anchors per image")
    fit_scenes = make_scenes(6000, seed=1) if LONG_RUN else train_scenes
    t0 = time.perf_counter()
    history = train_detector(detector, fit_scenes, epochs=16 if LONG_RUN else 10, seed=0)
    train_seconds = time.perf_counter() - t0
    print(f"trained in {train_seconds:.1f} s ({len(history['loss'])} steps); final loss "
          f"{np.mean(history['loss'][-20:]):.3f} (classes {np.mean(history['cls'][-20:]):.3f}, "
          f"boxes {np.mean(history['box'][-20:]):.3f})")

# %% [markdown]
# ## Evaluation
#
# Detections on the 300 test scenes, evaluated with your `evaluate_detections` at IoU 0.5 (the
# PASCAL VOC metric) and, for a stricter view of the boxes, at IoU 0.75.

# %%
test_images = test_scenes.tensors()
test_gt = [{"boxes": b, "labels": lab} for b, lab in zip(test_scenes.boxes, test_scenes.labels)]
with needs("postprocess", "evaluate_detections"):
    test_detections = detector.predict(test_images)
    test_map50, test_ap50, test_curves = evaluate_detections(test_detections, test_gt, 0.5, num_classes=3,
                                                             return_curves=True)
    test_map75, test_ap75 = evaluate_detections(test_detections, test_gt, 0.75, num_classes=3)
    print(f"test mAP@0.5 = {test_map50:.4f}   AP per class: "
          + ", ".join(f"{name} {ap:.3f}" for name, ap in zip(CLASSES, test_ap50)))
    print(f"test mAP@0.75 = {test_map75:.4f}")

# %% nbgrader={"grade": true, "grade_id": "test_detector_learns", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["box_iou", "nms", "batched_nms", "box_coding", "generate_anchors", "match_anchors", "smooth_l1", "sigmoid_focal_loss", "average_precision", "evaluate_detections", "flatten_predictions", "detection_loss", "postprocess"]}
_HINT = ("What to check: (1) flatten_predictions puts anchor a of cell (i, j) in row (i * W + j) * A + a, the "
         "order of generate_anchors; (2) detection_loss ignores the anchors labelled -1, divides both losses by "
         "the number of positive anchors of the whole batch, and uses encode_boxes(matched box, anchor) as the "
         "box target of the positives only; (3) postprocess uses the sigmoid (not a softmax) and decodes with "
         "the same anchors; (4) the training loss above should fall below about 0.15.")
_uses = ("box_iou", "nms", "batched_nms", "encode_boxes", "decode_boxes", "generate_anchors", "match_anchors",
         "smooth_l1", "sigmoid_focal_loss", "average_precision", "evaluate_detections", "flatten_predictions",
         "detection_loss", "postprocess")  # the trained detector runs all of these
with checking("the trained detector", case="mAP@0.5 on the 300 test scenes, at least 0.5", uses=_uses):
    if test_map50 is None:  # the training or the evaluation stopped: find out which function is missing
        torch.manual_seed(0)
        _probe = ShapesDetector()
        _cl, _bl = _probe.loss(test_images[:2], test_scenes.boxes[:2], test_scenes.labels[:2])
        _pd = _probe.predict(test_images[:2])
        evaluate_detections(_pd, test_gt[:2], 0.5, 3)
        raise CheckFailed("test_map50 is None: run the training cell and the evaluation cell above; they should "
                          "finish without an error")
    print(f"test mAP@0.5 = {test_map50:.4f}")
    if not test_map50 >= 0.5:
        raise CheckFailed(f"the detector's mAP@0.5 is {test_map50:.4f}; it should reach at least 0.5. " + _HINT)

# %% nbgrader={"grade": true, "grade_id": "test_detector_map", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["box_iou", "nms", "batched_nms", "box_coding", "generate_anchors", "match_anchors", "smooth_l1", "sigmoid_focal_loss", "average_precision", "evaluate_detections", "flatten_predictions", "detection_loss", "postprocess"]}
_uses = ("box_iou", "nms", "batched_nms", "encode_boxes", "decode_boxes", "generate_anchors", "match_anchors",
         "smooth_l1", "sigmoid_focal_loss", "average_precision", "evaluate_detections", "flatten_predictions",
         "detection_loss", "postprocess")  # the trained detector runs all of these
with checking("the trained detector", case="mAP@0.5 on the 300 test scenes, at least 0.80", uses=_uses):
    if test_map50 is None:
        torch.manual_seed(0)
        _probe = ShapesDetector()
        _probe.loss(test_images[:2], test_scenes.boxes[:2], test_scenes.labels[:2])
        evaluate_detections(_probe.predict(test_images[:2]), test_gt[:2], 0.5, 3)
        raise CheckFailed("test_map50 is None: run the training cell and the evaluation cell above; they should "
                          "finish without an error")
    if not test_map50 >= 0.80:
        raise CheckFailed(f"the detector's mAP@0.5 is {test_map50:.4f}; it should reach at least 0.80. " + _HINT)

# %% [markdown]
# ## What the detector sees
#
# The training loss, then test scenes with the ground truth (dashed white) and the detections
# with a score of at least 0.5 (coloured by class, with their scores), and the precision-recall
# curve of every class from your `evaluate_detections`.

# %%
with needs("detection_loss"):
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.3))
    plot_loss_history(axes[0], history["loss"], title="training loss (classes + boxes)", smooth=20)
    axes[0].set_yscale("log")
    axes[1].plot(np.convolve(history["cls"], np.ones(20) / 20, mode="valid"), label="focal loss (classes)")
    axes[1].plot(np.convolve(history["box"], np.ones(20) / 20, mode="valid"), label="smooth L1 (boxes)")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("step")
    axes[1].set_title("the two parts, smoothed over 20 steps")
    axes[1].legend(fontsize=8)
    plt.tight_layout()
    plt.show()

# %%
with needs("postprocess"):
    fig, axes = plt.subplots(2, 5, figsize=(13, 5.6))
    for ax, i in zip(axes.ravel(), range(10)):
        d = test_detections[i]
        confident = d["scores"] >= 0.5
        show_scene(ax, test_scenes.images[i], d["boxes"][confident], d["labels"][confident],
                   d["scores"][confident],
                   title=f"test scene {i}: {confident.sum()} found, {len(test_scenes.boxes[i])} true")
        draw_boxes(ax, test_scenes.boxes[i], color="white", linestyle="--", linewidth=0.8)
    plt.tight_layout()
    plt.show()

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_detector_failures_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 3 (3 points)
#
# Look at the ten test scenes above. Find the objects that no confident detection covers (a dashed
# box without a coloured box on it) and the confident detections that are wrong. Describe what
# these objects have in common, and explain, from how the detector is built and trained (its
# anchors, the matching, the box of the visible pixels, the classes, NMS), why they are hard for
# it: give at least two different reasons. Answer in four to six sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_detector_failures", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** Almost every failure is an object that overlaps another, most often one that
# the other partly hides: a triangle of which only a flat strip shows below a circle, a circle of
# which only a cap shows above another, two overlapping shapes of one class that get one box
# between them, a small square lying on a large square of the same colour, a partly hidden circle
# that gets a confident box of another class as well as its own. (Which scenes show which depends
# on the run; the rubric grades the kinds of failure and the reasons.) A remaining miss is
# typically a small object between anchor centres. First reason: the box of a
# hidden object is the box of its visible pixels, often flat or narrow, while every anchor is
# square, so such a box has a low IoU with all anchors; it gets few positive anchors and a large
# correction to learn (and a small object between anchor centres gets a single poor anchor, as in
# written question 2), so its score stays low. Second reason: the visible fragment no longer has
# its class's outline (the base of a triangle looks like a bar, the cap of a circle like a half
# disc), so the class scores are low or shared between classes, and with one sigmoid per class and
# NMS within each class, one object can keep a box of each class. Third reason: two overlapping
# objects of the same colour or class look like one blob; the network tends to output one box for
# both, and NMS within a class would remove a second box that overlaps the first by more than the
# IoU threshold.
#
# **Rubric (3 points).**
# - 1 point: the observation: the misses and the wrong detection are mostly partly hidden or
#   overlapping objects (small objects off the anchor grid also count), with at least one example
#   from the figure.
# - 1 point: a reason from the anchors and the matching: the visible box of a hidden object is
#   flat or narrow while the anchors are all square (or a small object lies between anchor
#   centres), so it has few or poor positive anchors and low scores.
# - 1 point: a second reason, from appearance or post-processing: the visible fragment does not
#   look like its class (low or split class scores, a box for two classes), or two overlapping
#   objects of one colour or class merge into one box and NMS within the class removes the second.

# %%
with needs("evaluate_detections"):
    fig, ax = plt.subplots(figsize=(5.2, 4))
    for c, name in enumerate(CLASSES):
        recall, precision = test_curves[c]
        ax.plot(recall, precision, color=CLASS_COLORS[c], label=f"{name}: AP {test_ap50[c]:.3f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"test scenes, IoU 0.5: mAP {test_map50:.3f}")
    ax.legend(loc="lower left", fontsize=9)
    plt.show()

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_pr_curve_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 4 (4 points)
#
# Describe the shape of the precision-recall curves above and explain it: which detections make
# the part near precision 1, and what kinds of detections make the precision fall at the right end
# (name at least two kinds; remember that `postprocess` keeps every (anchor, class) pair that
# scores above 0.05 and survives NMS). What decides the recall at which a curve ends? Finally, if
# `postprocess` kept only the detections that score at least 0.5, how would the curves and the AP
# change, and why? Answer in four to six sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_pr_curve", "locked": false, "points": 4, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** Each curve stays close to precision 1 over most of the recall range and then
# falls steeply at the right end. The top of the ranking, the detections with high scores, is
# almost all true positives, one per object, so recall grows while precision stays near 1. The
# low-scored tail holds the last objects found (small and partly hidden ones, detected with low
# scores) among many false positives: boxes near an object that overlap it by less than 0.5
# (neighbouring anchors whose boxes NMS keeps because they overlap the best box by less than its
# threshold), boxes of the wrong class on a real object (each class has its own sigmoid and its own
# NMS, so one anchor can produce a box for two classes), and fewer duplicates and boxes on
# background; there recall grows slowly while precision drops fast. A curve ends at the recall
# reached by its last detection: an object that no detection of its class (above the score
# threshold) overlaps with IoU $\ge 0.5$ is never found, so the curve stops short of recall 1.
# With a threshold of 0.5, NMS keeps the same confident boxes, so each curve would be the same up
# to the point where the scores fall below 0.5 and would end there, at a lower recall. The AP would
# drop, noticeably here, because many objects (mostly small ones) are found with scores below 0.5
# but still ranked above most false positives: all-point AP is the area under the envelope, which
# counts as 0 beyond the last recall, so cutting the list removes the area those objects added, and
# it can never raise the AP. AP rewards a good ranking of all detections, not a good threshold.
#
# **Rubric (4 points).**
# - 1 point: the part near precision 1: the high-scored detections are nearly all true positives,
#   so recall grows without losing precision.
# - 1 point: the drop: the low-scored tail mixes the last objects with many false positives, with
#   at least two kinds named correctly (poorly overlapping boxes that NMS kept, boxes of the wrong
#   class on a real object, duplicates, boxes on background).
# - 1 point: the end: objects that no detection of their class finds with IoU $\ge 0.5$ are never
#   counted, so recall stops before 1.
# - 1 point: a threshold of 0.5 cuts each curve where the scores reach 0.5 (the curve before that
#   point is unchanged) and lowers the AP, because the true positives of the tail add area, and the
#   false positives among them cannot lower the precision at the recalls reached before them.

# %% [markdown]
# Where does the detector struggle? For the small and the large objects of the test scenes: how
# many no detection of their class finds at IoU >= 0.5, among the confident detections (score
# >= 0.5, the ones drawn above) and among all of them (score > 0.05, the ones the mAP ranks).

# %%
def found_by(d, box, label, min_score):
    same = (d["labels"] == label) & (d["scores"] >= min_score)
    return bool(same.any() and box_iou(box[None], d["boxes"][same]).max() >= 0.5)


with needs("box_iou", "postprocess"):
    for size, name in enumerate(("small", "large")):
        objs = [(i, b, lab) for i in range(len(test_scenes)) for b, lab, sz in
                zip(test_scenes.boxes[i], test_scenes.labels[i], test_scenes.sizes[i]) if sz == size]
        missed_confident = sum(not found_by(test_detections[i], b, lab, 0.5) for i, b, lab in objs)
        missed_any = sum(not found_by(test_detections[i], b, lab, 0.0) for i, b, lab in objs)
        print(f"{name} objects: {len(objs)}; missed by the confident detections: {missed_confident} "
              f"({missed_confident / len(objs):.1%}), by all detections: {missed_any} "
              f"({missed_any / len(objs):.1%})")

# %% [markdown]
# Almost every object is found by *some* detection, but the small ones often with a score below
# 0.5: a small shape between anchor centres has few positive anchors, sometimes a single claimed
# one with a poor IoU, so the network sees few examples of it and stays less sure. The mAP
# forgives a low score as long as the ranking is right; a detector used with a fixed threshold
# of 0.5 would miss a third of the small shapes.

# %% [markdown]
# **Check yourself.**
#
# 1. Why does the detector use a sigmoid per class and not a softmax over "background + 3
#    classes"?
# 2. Your `detection_loss` divides by the number of positive anchors. What would happen to the
#    training if it divided by the number of anchors instead?
# 3. Almost half of the small objects have no anchor with IoU >= 0.5. Name two changes to the
#    detector that would give them good anchors, and their cost.
#
# <details><summary>Answer</summary>
#
# 1. With sigmoids, each class is an independent yes/no question, and "background" is simply all
#    answers being no, so the focal loss can down-weight easy negatives per class. It also lets
#    one anchor say yes to two classes when it is unsure, which NMS per class and the evaluation
#    handle. RetinaNet makes the same choice.
# 2. Both losses would shrink by the ratio of anchors to positives, here about 30 times
#    (192 anchors per image, about 6 positives), so the same learning rate would train much more
#    slowly, and the scale of the loss would depend on the anchor design (a finer grid or more
#    anchor shapes would shrink it further) instead of on the objects. Normalised by the
#    positives, it is an average per object whatever the number of anchors.
# 3. A finer feature map (stride 4: four times as many anchors and a more expensive head) puts
#    anchor centres closer to every object; more anchor sizes per cell (more outputs), or
#    several feature maps with their own anchors (a feature pyramid, as RetinaNet does) covers
#    small and large objects with the right stride each. Lowering the positive threshold is
#    cheaper but trains on worse examples.
#
# </details>
#
# ## Summary
#
# - IoU compares boxes; with pixel edges a box's area is $(x_2 - x_1)(y_2 - y_1)$, and all pairs
#   of two sets come from one broadcast.
# - NMS removes duplicates greedily, per class; its threshold trades duplicates against missed
#   crowded objects.
# - Detectors regress offsets relative to anchors: $(t_x, t_y, t_w, t_h)$ with shifts in units of
#   the anchor's size and log scale factors.
# - Anchors tile the feature map; matching labels them positive, negative or ignored by IoU, and
#   every object claims its best anchor.
# - The focal loss silences the flood of easy background anchors; smooth L1 trains the boxes of
#   the positives; both are normalised by the number of positives.
# - VOC evaluation ranks all detections of a class, counts duplicates as false positives, and
#   averages the interpolated precision (11 points in 2007, all points since 2010).
# - RoI pooling rounds a box to feature cells; RoIAlign samples it bilinearly without rounding.
#
# ## Further reading
#
# - R. Girshick, "Fast R-CNN", ICCV 2015 (the box parametrisation, smooth L1, RoI pooling).
# - S. Ren, K. He, R. Girshick and J. Sun, "Faster R-CNN: towards real-time object detection with
#   region proposal networks", NeurIPS 2015 (anchors and their matching).
# - T.-Y. Lin, P. Goyal, R. Girshick, K. He and P. Dollár, "Focal loss for dense object
#   detection", ICCV 2017 (RetinaNet).
# - K. He, G. Gkioxari, P. Dollár and R. Girshick, "Mask R-CNN", ICCV 2017 (RoIAlign).
# - J. Redmon, S. Divvala, R. Girshick and A. Farhadi, "You only look once: unified, real-time
#   object detection", CVPR 2016.
# - M. Everingham, L. Van Gool, C. K. I. Williams, J. Winn and A. Zisserman, "The PASCAL Visual
#   Object Classes (VOC) challenge", IJCV 2010 (the evaluation protocol).
# - N. Bodla, B. Singh, R. Chellappa and L. S. Davis, "Soft-NMS: improving object detection with
#   one line of code", ICCV 2017.
# - Stanford CS231n, lecture on detection and segmentation; torchvision's `ops` (`box_iou`, `nms`,
#   `roi_align`), whose conventions this assignment follows.
