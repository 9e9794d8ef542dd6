"""Lectures 09-10's widgets: greedy NMS step by step, anchors and their labels (09), the focal
loss (10).

    IoUNMSPlayground()    a fake detector's raw boxes on a shapes scene, and greedy NMS replayed
                          one decision at a time; the IoU matrix; the IoU of two chosen boxes
    AnchorView()          the anchors of a feature map over a shapes scene: which are positive,
                          ignored, negative; each object's best anchor; objects left unmatched
    FocalLossView()       cross-entropy against focal loss, and where a detector's batch loss
                          comes from (100,000 easy background anchors against 100 hard objects)

Each is displayed as the last expression of a cell: live in JupyterLab, a static PNG elsewhere.
All numbers come from dlcv.detection.boxes (the lecture's loop-based teaching versions).

One module because a room keeps all its views in its widgets module, the only one that imports
ipywidgets (ARCHITECTURE.md); the three views share nothing but that, each is a class of its own.
"""

from __future__ import annotations

import html
from functools import lru_cache

import ipywidgets as widgets
import numpy as np
from matplotlib import patheffects
from matplotlib.collections import LineCollection
from matplotlib.patches import Rectangle

from dlcv.detection.boxes import (
    BELOW,
    IGNORED,
    KEEP,
    POSITIVE,
    SUPPRESS,
    anchor_boxes,
    anchor_labels,
    anchor_shapes,
    batch_loss_split,
    candidate_detections,
    cross_entropy_curve,
    feature_shape,
    focal_loss_curve,
    iou_matrix,
    iou_parts,
    nms_steps,
)
from dlcv.plots import CLASS_COLORS
from dlcv.shapes import CLASSES, COLOR_NAMES, SIZE_NAMES, ShapesScenes, make_scenes
from dlcv.validate import choice, number_in
from dlcv.widget import FigureView, dropdown, slider

POS_COLOR = CLASS_COLORS[2]     # bluish green
IGN_COLOR = CLASS_COLORS[1]     # orange
BEST_COLOR = CLASS_COLORS[6]    # yellow
CELL_COLOR = CLASS_COLORS[3]    # reddish purple
BAD_COLOR = CLASS_COLORS[5]     # vermillion


def _outline(box) -> list[tuple[float, float]]:
    """The closed outline of a box (x1, y1, x2, y2) as 5 points, for a LineCollection."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return [(x1, y1), (x2, y1), (x2, y2), (x1, y2), (x1, y1)]


def _halo(width: float = 3.5):
    return [patheffects.withStroke(linewidth=width, foreground="white")]


# =============================================================================================
# 1. IoU and greedy NMS
# =============================================================================================

NMS_SCENE_SEED = 7
NMS_SCENE_IDS = (18, 51, 0, 33, 10)  # scenes of make_scenes(60, seed=7) with touching objects
MAX_CANDIDATES = 32


def _picked_scenes(seed: int, ids: tuple[int, ...]) -> ShapesScenes:
    """Scenes `ids`, in that order, of make_scenes(max(ids) + 1, seed) with two to four objects:
    the views' hand-picked examples."""
    return make_scenes(max(ids) + 1, seed=seed, min_objects=2, max_objects=4).subset(list(ids))


@lru_cache(maxsize=1)
def nms_scenes() -> ShapesScenes:
    """The playground's scenes (64 x 64, two to four objects, some of them close together)."""
    return _picked_scenes(NMS_SCENE_SEED, NMS_SCENE_IDS)


@lru_cache(maxsize=8)
def nms_candidates(scene: int):
    """The fake detector's raw output (dlcv.detection.boxes.Candidates) on playground scene `scene`."""
    sc = nms_scenes()
    return candidate_detections(sc.boxes[scene], sc.labels[scene], sc.images.shape[1],
                                seed=100 + scene, per_object=4, false_positives=3,
                                confusions=1, jitter=0.25)


class IoUNMSPlayground(FigureView):
    """Greedy non-maximum suppression on a fake detector's boxes, one decision at a time.

    Args:
        scene: 0..len(NMS_SCENE_IDS)-1.  iou_threshold: in [0.05, 0.95].
        score_threshold: in [0, 0.95].  per_class: suppress only boxes of the same class.
        step: how many decisions are made (0..number of candidates; default: all).

    Controls (attributes): scene, iou_threshold, score_threshold, per_class, step, and the pair
    pickers box_a, box_b (-1 = "auto": the pair of the current decision).
    State: candidates (dlcv.detection.boxes.Candidates), steps (the full list of NMSStep), order
    (candidate indices in score order), pair ((a, b) shown in the IoU panel), stats (counts).
    Artists: scene_im (AxesImage), rects / tags (one Rectangle and one Text per candidate slot,
    unused slots invisible), note (the current decision on the image), lines (the decision
    list, one Text per candidate), matrix (IoU matrix in score order), matrix_hits (pairs with
    IoU >= threshold that may suppress each other), matrix_box (the pair's cell),
    pair_union_a / pair_union_b / pair_inter (filled Rectangles), pair_edge_a (solid) /
    pair_edge_b (dashed) outlines, pair_title, pair_text.
    """

    def __init__(self, scene: int = 0, iou_threshold: float = 0.5, score_threshold: float = 0.3,
                 per_class: bool = True, step: int | None = None):
        who = "IoUNMSPlayground"
        choice(who, "scene", scene, range(len(NMS_SCENE_IDS)))
        number_in(who, "iou_threshold", iou_threshold, 0.05, 0.95)
        number_in(who, "score_threshold", score_threshold, 0.0, 0.95)
        n = len(nms_candidates(scene))
        if step is None:
            step = n
        choice(who, "step", step, range(n + 1))
        super().__init__(figsize=(13.6, 5.7))
        self._scene = None

        # -- controls ------------------------------------------------------------------------
        sc = nms_scenes()
        names = {f"scene {i + 1}: {len(sc.boxes[i])} objects": i for i in range(len(sc))}
        self.scene = dropdown("scene", names, scene, width="190px")
        self.iou_threshold = slider("IoU threshold", float(iou_threshold), 0.05, 0.95, 0.05,
                                    readout_format=".2f", width="300px")
        self.score_threshold = slider("score threshold", float(score_threshold), 0.0, 0.95,
                                      0.05, readout_format=".2f", width="300px")
        self.per_class = widgets.Checkbox(value=bool(per_class), description="per class",
                                          indent=False, layout=widgets.Layout(width="110px"))
        self.step = slider("decisions made", int(step), 0, n, 1, width="420px",
                           continuous_update=True)
        self.box_a = dropdown("IoU of box", {"auto": -1}, -1, width="150px")
        self.box_b = dropdown("and box", {"auto": -1}, -1, width="130px")
        self.watch(self.scene, self.iou_threshold, self.score_threshold, self.per_class,
                   self.step, self.box_a, self.box_b)

        self._build_figure()
        self.update()

    def control_rows(self):
        return [[self.scene, self.iou_threshold, self.score_threshold, self.per_class],
                [self.step, self.box_a, self.box_b]]

    # -- figure -------------------------------------------------------------------------------
    def _build_figure(self) -> None:
        gs = self.fig.add_gridspec(2, 3, width_ratios=[1.2, 0.98, 0.9], height_ratios=[1, 0.9],
                                   left=0.01, right=0.975, bottom=0.1, top=0.93, wspace=0.14,
                                   hspace=0.42)
        self.ax_img = self.fig.add_subplot(gs[:, 0])
        self.ax_list = self.fig.add_subplot(gs[:, 1])
        self.ax_mat = self.fig.add_subplot(gs[0, 2])
        self.ax_pair = self.fig.add_subplot(gs[1, 2])

        size = nms_scenes().images.shape[1]
        self.scene_im = self.ax_img.imshow(np.zeros((size, size, 3)), extent=(0, size, size, 0),
                                        interpolation="nearest")
        self.ax_img.set_xlim(0, size)
        self.ax_img.set_ylim(size, 0)
        self.ax_img.set_xticks([])
        self.ax_img.set_yticks([])
        self.img_title = self.ax_img.set_title("", fontsize=10)
        self.rects, self.tags = [], []
        for _ in range(MAX_CANDIDATES):
            r = Rectangle((0, 0), 1, 1, fill=False, visible=False)
            self.ax_img.add_patch(r)
            self.rects.append(r)
            t = self.ax_img.text(0, 0, "", fontsize=7.5, color="white", va="bottom",
                                 visible=False, clip_on=True,
                                 bbox=dict(boxstyle="square,pad=0.12", ec="none", fc="k"))
            self.tags.append(t)
        self.note = self.ax_img.text(0.5, -0.015, "", transform=self.ax_img.transAxes,
                                     ha="center", va="top", fontsize=9.5,
                                     bbox=dict(boxstyle="round,pad=0.3", fc="#fff3b0",
                                               ec="0.5"))
        # legend for the line styles
        for style, label in (({"lw": 2.4, "ls": "-"}, "kept"),
                             ({"lw": 1.2, "ls": "--", "alpha": 0.6}, "suppressed"),
                             ({"lw": 1.0, "ls": ":"}, "not decided yet"),
                             ({"lw": 1.0, "ls": ":", "color": "0.6"}, "below score threshold")):
            self.ax_img.plot([], [], color=style.pop("color", "0.15"), label=label, **style)
        self.ax_img.legend(loc="upper center", bbox_to_anchor=(0.5, -0.075), ncol=4,
                           fontsize=7.5, framealpha=0.0, handlelength=2.2, columnspacing=1.0)

        self.ax_list.axis("off")
        self.ax_list.set_xlim(0, 1)
        self.ax_list.set_ylim(0, 1)
        self.list_title = self.ax_list.set_title("", fontsize=10)
        self.lines = [self.ax_list.text(0.0, 1 - (k + 0.5) / MAX_CANDIDATES, "", fontsize=8.2,
                                        family="monospace", va="center", visible=False)
                      for k in range(MAX_CANDIDATES)]
        self.cursor = Rectangle((-0.01, 0), 1.02, 1 / MAX_CANDIDATES, color="#fff3b0", zorder=0,
                                visible=False)
        self.ax_list.add_patch(self.cursor)

        self.matrix = self.ax_mat.imshow(np.zeros((2, 2)), cmap="Greys", vmin=0, vmax=1,
                                         interpolation="nearest")
        self.matrix_hits = self.ax_mat.scatter([], [], s=9, c=BAD_COLOR, marker="o",
                                               linewidths=0)
        self.matrix_box = Rectangle((0, 0), 1, 1, fill=False, ec=CLASS_COLORS[4], lw=2)
        self.ax_mat.add_patch(self.matrix_box)
        self.matrix_title = self.ax_mat.set_title("", fontsize=9)
        cb = self.fig.colorbar(self.matrix, ax=self.ax_mat, fraction=0.046, pad=0.03)
        cb.ax.tick_params(labelsize=7)

        self.pair_union_a = Rectangle((0, 0), 1, 1, color="#cfe3f3", lw=0)
        self.pair_union_b = Rectangle((0, 0), 1, 1, color="#cfe3f3", lw=0)
        self.pair_inter = Rectangle((0, 0), 1, 1, color="#3b6ea5", lw=0)
        self.pair_edge_a = Rectangle((0, 0), 1, 1, fill=False, ec="k", lw=1.6)
        self.pair_edge_b = Rectangle((0, 0), 1, 1, fill=False, ec="k", lw=1.6, ls="--")
        for p in (self.pair_union_a, self.pair_union_b, self.pair_inter, self.pair_edge_a,
                  self.pair_edge_b):
            self.ax_pair.add_patch(p)
        self.ax_pair.set_aspect("equal")
        self.ax_pair.set_xticks([])
        self.ax_pair.set_yticks([])
        self.pair_title = self.ax_pair.set_title("", fontsize=9)
        self.pair_text = self.ax_pair.text(0.5, -0.04, "", transform=self.ax_pair.transAxes,
                                           ha="center", va="top", fontsize=9)

    # -- state ----------------------------------------------------------------------------------
    def _load_scene(self) -> None:
        """New scene: new candidates; the step slider (to the end) and the pair pickers follow."""
        first = self._scene is None  # the constructor already set the step
        self._scene = int(self.scene.value)
        self.candidates = nms_candidates(self._scene)
        n = len(self.candidates)
        if n > MAX_CANDIDATES:  # pragma: no cover - the fixed scenes stay well below
            raise ValueError(f"IoUNMSPlayground: {n} candidates, at most {MAX_CANDIDATES}")
        options = {"auto": -1, **{f"#{i}": i for i in range(n)}}
        with self.syncing():
            if not first:
                self.step.max = n
                self.step.value = n
            for picker in (self.box_a, self.box_b):
                picker.options = options
                picker.value = -1
        sc = nms_scenes()
        self.scene_im.set_data(sc.images[self._scene])

    def _auto_pair(self, current) -> tuple[int, int]:
        """The pair the IoU panel shows when the pickers say 'auto'."""
        c = self.candidates
        if current is not None and current.action == BELOW:  # the last suppression, if any
            done = self.steps[:current.step]
            real = ([s for s in done if s.action == SUPPRESS]
                    or [s for s in done if s.action == KEEP])
            current = real[-1] if real else None
        if current is None:  # nothing decided yet: the two best-scoring candidates
            return self.order[0], self.order[1]
        i = current.index
        if current.action == SUPPRESS:
            return current.by, i
        earlier = [s.index for s in self.steps[:current.step] if s.kept
                   and (not self.per_class.value or s.label == current.label)]
        if not earlier or max(self.ious[i, j] for j in earlier) == 0:
            earlier = []  # no kept box touches it: show its largest overlap with any box
        others = earlier or [j for j in range(len(c)) if j != i]
        j = max(others, key=lambda j: (self.ious[i, j], -j))
        return (j, i) if j in earlier else (i, j)

    # -- update -------------------------------------------------------------------------------
    def update(self) -> None:
        if self._syncing:
            return
        if self._scene != self.scene.value:
            self._load_scene()
        c = self.candidates
        n = len(c)
        thr = float(self.iou_threshold.value)
        per_class = bool(self.per_class.value)
        self.steps = nms_steps(c.boxes, c.scores, c.labels, thr,
                               float(self.score_threshold.value), per_class)
        self.order = [s.index for s in self.steps]
        self.ious = iou_matrix(c.boxes)  # (n, n)
        made = int(self.step.value)
        done = self.steps[:made]
        current = done[-1] if done else None
        decision = {s.index: s for s in done}

        # the boxes on the image
        for k in range(MAX_CANDIDATES):
            r, t = self.rects[k], self.tags[k]
            if k >= n:
                r.set_visible(False)
                t.set_visible(False)
                continue
            x1, y1, x2, y2 = c.boxes[k]
            col = CLASS_COLORS[int(c.labels[k])]
            r.set_bounds(x1, y1, x2 - x1, y2 - y1)
            r.set_visible(True)
            r.set_path_effects([])
            s = decision.get(k)
            pending_below = s is None and c.scores[k] < self.score_threshold.value
            if s is None and not pending_below:
                r.set(edgecolor=col, lw=1.0, ls=":", alpha=0.9, zorder=2)
            elif s is None or s.action == BELOW:
                r.set(edgecolor="0.6", lw=1.0, ls=":", alpha=0.7, zorder=1)
            elif s.action == KEEP:
                r.set(edgecolor=col, lw=2.4, ls="-", alpha=1.0, zorder=4)
            else:
                r.set(edgecolor=col, lw=1.2, ls="--", alpha=0.75, zorder=3)
            show_tag = s is not None and s.action == KEEP
            t.set_visible(show_tag)
            if show_tag:
                t.set_position((x1, y1 - 0.3))
                t.set_text(f"#{k} {c.scores[k]:.2f}")
                t.get_bbox_patch().set_facecolor(col)
        # the current decision and its partner stand out
        a, b = self._pair(current)
        self.pair = (a, b)
        for j in {a, b}:
            self.rects[j].set_path_effects(_halo(4.5))
            self.rects[j].set_zorder(6)
        if current is None:
            self.note.set_text("no decision yet: the candidates are sorted by score")
        elif made == n:
            self.note.set_text(f"all {n} decisions made: {sum(s.kept for s in self.steps)} "
                               f"boxes kept")
        else:
            self.note.set_text(f"step {made}: {current.describe()}")
        self.img_title.set_text(f"{n} raw detections; NMS with IoU threshold {thr:.2f}"
                                f"{' per class' if per_class else ', all classes together'}")

        # the decision list, in score order
        self.list_title.set_text("greedy NMS: candidates by decreasing score")
        colors = {KEEP: "#006d3c", SUPPRESS: "#b3261e", BELOW: "0.45"}
        spacing = 1 / max(n, 24)
        for k, line in enumerate(self.lines):
            if k >= n:
                line.set_visible(False)
                continue
            s = self.steps[k]
            line.set_visible(True)
            line.set_y(1 - (k + 0.5) * spacing)
            if k < made:
                line.set_text(f"{k + 1:2d}. {s.describe()}")
                line.set_color(colors[s.action])
                line.set_fontweight("bold" if s.action == KEEP else "normal")
            else:
                line.set_text(f"{k + 1:2d}. #{s.index} {CLASSES[s.label]} {s.score:.2f}  ?")
                line.set_color("0.6")
                line.set_fontweight("normal")
        self.cursor.set_visible(made > 0)
        self.cursor.set_y(1 - made * spacing)
        self.cursor.set_height(spacing)

        # the IoU matrix in score order, and the pairs that can suppress each other
        m = self.ious[np.ix_(self.order, self.order)]
        self.matrix.set_data(m)
        self.matrix.set_extent((-0.5, n - 0.5, n - 0.5, -0.5))
        self.ax_mat.set_xlim(-0.5, n - 0.5)
        self.ax_mat.set_ylim(n - 0.5, -0.5)
        lab = c.labels[self.order]
        same = (lab[:, None] == lab[None, :]) if per_class else np.ones((n, n), bool)
        hit = (m >= thr) & same & ~np.eye(n, dtype=bool)
        rows, cols = np.nonzero(hit)
        self.matrix_hits.set_offsets(np.c_[cols, rows] if len(rows) else np.zeros((0, 2)))
        ticks = np.arange(n)
        names = [f"#{i}" for i in self.order]
        self.ax_mat.set_xticks(ticks, names, fontsize=6, rotation=90)
        self.ax_mat.set_yticks(ticks, names, fontsize=6)
        self.ax_mat.tick_params(length=0, pad=1)
        rank = {idx: r for r, idx in enumerate(self.order)}
        self.matrix_box.set_bounds(rank[b] - 0.5, rank[a] - 0.5, 1, 1)
        self.matrix_title.set_text(f"IoU matrix, in score order\ndots: IoU ≥ {thr:.2f}"
                                   f"{', same class' if per_class else ''}")

        # the IoU of the pair, as areas
        inter, union, iou = iou_parts(c.boxes[a], c.boxes[b])
        ba, bb = c.boxes[a], c.boxes[b]
        for patch, box in ((self.pair_union_a, ba), (self.pair_union_b, bb),
                           (self.pair_edge_a, ba), (self.pair_edge_b, bb)):
            patch.set_bounds(box[0], box[1], box[2] - box[0], box[3] - box[1])
        self.pair_edge_a.set_edgecolor(CLASS_COLORS[int(c.labels[a])])
        self.pair_edge_b.set_edgecolor(CLASS_COLORS[int(c.labels[b])])
        ix1, iy1 = max(ba[0], bb[0]), max(ba[1], bb[1])
        ix2, iy2 = min(ba[2], bb[2]), min(ba[3], bb[3])
        self.pair_inter.set_visible(inter > 0)
        if inter > 0:
            self.pair_inter.set_bounds(ix1, iy1, ix2 - ix1, iy2 - iy1)
        lo = np.minimum(ba[:2], bb[:2])
        hi = np.maximum(ba[2:], bb[2:])
        span = max(hi - lo) * 0.12 + 1
        cx, cy = (lo + hi) / 2
        half = max(hi - lo) / 2 + span
        self.ax_pair.set_xlim(cx - half, cx + half)
        self.ax_pair.set_ylim(cy + half, cy - half)
        self.pair_title.set_text(f"A = #{a} (solid), B = #{b} (dashed): intersection dark,\n"
                                 f"union = all the shaded area")
        self.pair_text.set_text(f"IoU(A, B) = {inter:.1f} / {union:.1f} px² = {iou:.2f}")

        chosen = ("the pair of the current decision"
                  if self.box_a.value < 0 and self.box_b.value < 0 else "the pair you chose")
        kept = [s for s in done if s.action == KEEP]
        final_kept = [s.index for s in self.steps if s.kept]
        self.stats = {"made": made, "kept": len(kept),
                      "suppressed": sum(s.action == SUPPRESS for s in done),
                      "below": sum(s.action == BELOW for s in done),
                      "final_kept": final_kept, "pair": (a, b), "pair_iou": iou}
        now = ("no decision made yet" if current is None
               else f"step {made} of {n}: <b>{html.escape(current.describe())}</b>")
        rule = ("boxes of different classes never suppress each other" if per_class else
                "any two overlapping boxes compete, whatever their class")
        self.readout.value = (
            f"{now}. So far kept {self.stats['kept']}, suppressed {self.stats['suppressed']}, "
            f"skipped {self.stats['below']} (score &lt; {self.score_threshold.value:.2f}). "
            f"At the end: <b>{len(final_kept)} boxes kept</b> "
            f"({', '.join(f'#{i}' for i in final_kept)}). Per class: {rule}. "
            f"IoU(#{a}, #{b}) = {inter:.1f} / {union:.1f} = <b>{iou:.2f}</b> "
            f"({chosen}).")
        self.render()

    def _pair(self, current) -> tuple[int, int]:
        a, b = int(self.box_a.value), int(self.box_b.value)
        auto_a, auto_b = self._auto_pair(current)
        a = auto_a if a < 0 else a
        b = auto_b if b < 0 else b
        if a == b:  # one box chosen twice: show it against its best-overlapping neighbour
            others = [j for j in range(len(self.candidates)) if j != a]
            b = max(others, key=lambda j: (self.ious[a, j], -j))
        return a, b


# =============================================================================================
# 2. Anchors
# =============================================================================================

ANCHOR_SCENE_SEED = 11
ANCHOR_SCENE_ORDER = (4, 2, 3, 1, 0)  # of make_scenes(5, seed=11): the first one has a small
ANCHOR_SCENES = len(ANCHOR_SCENE_ORDER)  # square in a corner that stride 8 anchors miss
STRIDES = (4, 8, 16)
SCALE_CHOICES = (8, 12, 16, 24, 32)
RATIO_CHOICES = (0.5, 1.0, 2.0)
ANCHOR_MARGIN = 8  # pixels shown around the image, where anchors stick out


@lru_cache(maxsize=1)
def anchor_scenes() -> ShapesScenes:
    """The anchor view's scenes: 64 x 64, two to four objects of both sizes."""
    return _picked_scenes(ANCHOR_SCENE_SEED, ANCHOR_SCENE_ORDER)


@lru_cache(maxsize=64)
def _anchors(stride: int, scales: tuple, ratios: tuple, size: int) -> np.ndarray:
    if not scales or not ratios:
        return np.zeros((0, 4))
    return anchor_boxes(feature_shape(size, stride), stride, scales, ratios)


class AnchorView(FigureView):
    """The anchors of one feature map on a shapes scene, and how they are labelled.

    Args:
        scene: 0..ANCHOR_SCENES-1.  stride: one of STRIDES.  scales: anchor sizes (sqrt of the
        area, pixels) from SCALE_CHOICES.  ratios: aspect ratios height / width from
        RATIO_CHOICES.  pos_threshold, neg_threshold: IoU thresholds (neg <= pos).
        force_match: make each object's best anchor positive.  cell: (row, col) of the cell
        whose anchors are drawn (default: the cell under the first object's centre).

    Controls (attributes): scene, stride, scales (dict size -> Checkbox), ratios (dict
    ratio -> Checkbox), pos_threshold, neg_threshold, force_match, cell_row, cell_col.
    State: anchors ((N, 4)), match (dlcv.detection.boxes.AnchorMatch), grid ((H_f, W_f)),
    stats (counts, per-object numbers and the objects without a positive anchor).
    Artists: scene_im, grid_lines, centres, cell_box, cell_anchors, positives, ignored, best,
    forced, gt_lines, gt_tags (one Text per object slot), hist (StepPatch of the anchors' best
    IoU), pos_span / ign_span / neg_span, bars / bar_texts (one per object slot), pos_line,
    neg_line.
    """

    MAX_OBJECTS = 4

    def __init__(self, scene: int = 0, stride: int = 8, scales=(16, 32),
                 ratios=RATIO_CHOICES, pos_threshold: float = 0.5, neg_threshold: float = 0.4,
                 force_match: bool = True, cell: tuple[int, int] | None = None):
        who = "AnchorView"
        choice(who, "scene", scene, range(ANCHOR_SCENES))
        choice(who, "stride", stride, STRIDES)
        for s in scales:
            choice(who, "every scale", s, SCALE_CHOICES)
        for r in ratios:
            choice(who, "every ratio", r, RATIO_CHOICES)
        number_in(who, "pos_threshold", pos_threshold, 0.1, 0.9)
        number_in(who, "neg_threshold", neg_threshold, 0.0, 0.9)
        if neg_threshold > pos_threshold:
            raise ValueError(f"{who}: neg_threshold ({neg_threshold}) must be <= pos_threshold "
                             f"({pos_threshold})")
        sc = anchor_scenes()
        self.size = int(sc.images.shape[1])
        hf, wf = feature_shape(self.size, stride)
        if cell is None:
            b = sc.boxes[scene][0]
            cell = (min(int((b[1] + b[3]) / 2 // stride), hf - 1),
                    min(int((b[0] + b[2]) / 2 // stride), wf - 1))
        if len(cell) != 2 or not (0 <= cell[0] < hf and 0 <= cell[1] < wf):
            raise ValueError(f"{who}: cell must be (row, col) inside the {hf} x {wf} grid of "
                             f"stride {stride}, got {cell!r}")
        super().__init__(figsize=(13.0, 5.8))
        self._stride = int(stride)

        # -- controls ------------------------------------------------------------------------
        self.scene = dropdown("scene", {f"scene {i + 1}": i for i in range(ANCHOR_SCENES)},
                              scene, width="150px")
        self.stride = dropdown("stride", STRIDES, stride, width="120px")
        self.scales = {s: widgets.Checkbox(value=s in scales, description=f"{s}px",
                                           indent=False, layout=widgets.Layout(width="62px"))
                       for s in SCALE_CHOICES}
        self.ratios = {r: widgets.Checkbox(value=r in ratios, description=f"{r:g}",
                                           indent=False, layout=widgets.Layout(width="52px"))
                       for r in RATIO_CHOICES}
        self.pos_threshold = slider("positive IoU ≥", float(pos_threshold), 0.1, 0.9, 0.05,
                                    readout_format=".2f", width="260px")
        self.neg_threshold = slider("negative IoU <", float(neg_threshold), 0.0, 0.9, 0.05,
                                    readout_format=".2f", width="260px")
        self.force_match = widgets.Checkbox(value=bool(force_match),
                                            description="force-match each object's best anchor",
                                            indent=False, layout=widgets.Layout(width="280px"))
        self.cell_row = slider("cell row", int(cell[0]), 0, hf - 1, 1, width="220px",
                               continuous_update=True)
        self.cell_col = slider("cell col", int(cell[1]), 0, wf - 1, 1, width="220px",
                               continuous_update=True)
        self.watch(self.scene, self.stride, *self.scales.values(), *self.ratios.values(),
                   self.pos_threshold, self.neg_threshold, self.force_match, self.cell_row,
                   self.cell_col)

        self._build_figure()
        self.update()

    def control_rows(self):
        label = lambda t: widgets.HTML(f"<b>{t}</b>", layout=widgets.Layout(width="auto"))
        return [[self.scene, self.stride, label("scales:"), *self.scales.values(),
                 label("ratios h/w:"), *self.ratios.values()],
                [self.pos_threshold, self.neg_threshold, self.force_match],
                [self.cell_row, self.cell_col]]

    @property
    def chosen_scales(self) -> tuple:
        return tuple(s for s, c in self.scales.items() if c.value)

    @property
    def chosen_ratios(self) -> tuple:
        return tuple(r for r, c in self.ratios.items() if c.value)

    # -- figure -------------------------------------------------------------------------------
    def _build_figure(self) -> None:
        gs = self.fig.add_gridspec(2, 2, width_ratios=[1.05, 1], left=0.01, right=0.98,
                                   bottom=0.09, top=0.93, wspace=0.12, hspace=0.5)
        self.ax_img = self.fig.add_subplot(gs[:, 0])
        self.ax_hist = self.fig.add_subplot(gs[0, 1])
        self.ax_bars = self.fig.add_subplot(gs[1, 1])
        size, m = self.size, ANCHOR_MARGIN

        ax = self.ax_img
        ax.set_facecolor("0.88")
        self.scene_im = ax.imshow(np.zeros((size, size, 3)), extent=(0, size, size, 0),
                               interpolation="nearest", zorder=0)
        ax.set_xlim(-m, size + m)
        ax.set_ylim(size + m, -m)
        ax.set_xticks([])
        ax.set_yticks([])
        self.img_title = ax.set_title("", fontsize=10)
        self.grid_lines = LineCollection([], colors="white", linewidths=0.5, alpha=0.45,
                                         zorder=1)
        self.centres = ax.scatter([], [], s=3, c="white", alpha=0.7, linewidths=0, zorder=2)
        self.ignored = LineCollection([], colors=IGN_COLOR, linewidths=0.8, alpha=0.8,
                                      linestyles="--", zorder=3)
        self.positives = LineCollection([], colors=POS_COLOR, linewidths=1.3, zorder=4)
        self.gt_lines = LineCollection([], colors="white", linewidths=2.2, zorder=5)
        self.best = LineCollection([], colors=BEST_COLOR, linewidths=2.2, zorder=6,
                                   path_effects=[patheffects.withStroke(linewidth=3.6,
                                                                        foreground="k")])
        self.forced = LineCollection([], colors=BEST_COLOR, linewidths=2.2, linestyles="--",
                                     zorder=8, path_effects=[
                                         patheffects.withStroke(linewidth=3.6, foreground="k")])
        self.cell_anchors = LineCollection([], colors=CELL_COLOR, linewidths=1.5, zorder=7)
        for coll in (self.grid_lines, self.ignored, self.positives, self.gt_lines, self.best,
                     self.forced, self.cell_anchors):
            ax.add_collection(coll)
        self.cell_box = Rectangle((0, 0), 1, 1, fc=(0.8, 0.47, 0.65, 0.45), ec="k", lw=1.0,
                                  zorder=6)
        ax.add_patch(self.cell_box)
        self.gt_tags = [ax.text(0, 0, "", fontsize=8, color="k", va="top", ha="left",
                                zorder=8, visible=False,
                                bbox=dict(boxstyle="square,pad=0.12", fc="white", ec="none",
                                          alpha=0.85))
                        for _ in range(self.MAX_OBJECTS)]
        for color, ls, label in ((POS_COLOR, "-", "positive anchor"),
                                 (IGN_COLOR, "--", "ignored anchor"),
                                 (BEST_COLOR, "-", "an object's best anchor"),
                                 (BEST_COLOR, "--", "best anchor, forced positive"),
                                 (CELL_COLOR, "-", "anchors of the chosen cell"),
                                 ("white", "-", "object (ground truth)")):
            ax.plot([], [], color=color, ls=ls, lw=2, label=label)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.005), ncol=3, fontsize=7.5,
                  framealpha=0.0, facecolor="0.88", handlelength=2.0, columnspacing=1.0)

        # the best IoU of every anchor
        self.neg_span = self.ax_hist.axvspan(0, 0.4, color="0.85", zorder=0)
        self.ign_span = self.ax_hist.axvspan(0.4, 0.5, color=IGN_COLOR, alpha=0.25, zorder=0)
        self.pos_span = self.ax_hist.axvspan(0.5, 1.0, color=POS_COLOR, alpha=0.2, zorder=0)
        self.hist_edges = np.linspace(0, 1, 41)
        self.hist = self.ax_hist.stairs(np.zeros(40), self.hist_edges, baseline=0.5, fill=True,
                                        color="0.3", alpha=0.8)
        self.ax_hist.set_yscale("log")
        self.ax_hist.set_xlim(0, 1)
        self.ax_hist.set_xlabel("best IoU of an anchor with any object", fontsize=9)
        self.ax_hist.set_ylabel("anchors (log scale)", fontsize=9)
        self.ax_hist.tick_params(labelsize=8)
        self.hist_title = self.ax_hist.set_title("", fontsize=9.5)
        self.span_texts = [self.ax_hist.text(x, 0.96, t, transform=self.ax_hist.get_xaxis_transform(),
                                             ha="center", va="top", fontsize=8)
                           for x, t in ((0.2, "negative"), (0.45, "ignored"),
                                        (0.75, "positive"))]

        # each object's best anchor
        k = self.MAX_OBJECTS
        self.bars = self.ax_bars.barh(np.arange(k), np.zeros(k), height=0.6, color=POS_COLOR)
        self.bar_texts = [self.ax_bars.text(0, i, "", va="center", ha="left", fontsize=8,
                                            zorder=5, bbox=dict(boxstyle="square,pad=0.1",
                                                                fc="white", ec="none",
                                                                alpha=0.85))
                          for i in range(k)]
        self.pos_line = self.ax_bars.axvline(0.5, color=POS_COLOR, lw=1.5)
        self.neg_line = self.ax_bars.axvline(0.4, color=IGN_COLOR, lw=1.2, ls="--")
        self.ax_bars.set_xlim(0, 1.62)
        self.ax_bars.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
        self.ax_bars.set_ylim(k - 0.5, -0.5)
        self.ax_bars.set_xlabel("IoU of the object's best anchor", fontsize=9)
        self.ax_bars.tick_params(labelsize=8)
        self.ax_bars.spines[["top", "right"]].set_visible(False)
        self.bars_title = self.ax_bars.set_title("", fontsize=9.5)

    # -- update -------------------------------------------------------------------------------
    def _follow_stride(self) -> None:
        """The stride changed: keep the chosen cell over the same image point."""
        new = int(self.stride.value)
        hf, wf = feature_shape(self.size, new)
        old = self._stride
        row = min(int((self.cell_row.value + 0.5) * old // new), hf - 1)
        col = min(int((self.cell_col.value + 0.5) * old // new), wf - 1)
        with self.syncing():
            for c, v, hi in ((self.cell_row, row, hf - 1), (self.cell_col, col, wf - 1)):
                if hi >= c.max:
                    c.max = hi
                    c.value = v
                else:
                    c.value = v
                    c.max = hi
        self._stride = new

    def _object_name(self, scene: int, k: int) -> str:
        sc = anchor_scenes()
        b = sc.boxes[scene][k]
        return (f"{SIZE_NAMES[sc.sizes[scene][k]]} {COLOR_NAMES[sc.colors[scene][k]]} "
                f"{CLASSES[sc.labels[scene][k]]} ({b[2] - b[0]:.0f}×{b[3] - b[1]:.0f})")

    def update(self) -> None:
        if self._syncing:
            return
        if int(self.stride.value) != self._stride:
            self._follow_stride()
        if self.neg_threshold.value > self.pos_threshold.value:
            with self.syncing():  # keep neg <= pos: the slider the user did not move follows
                self.neg_threshold.value = self.pos_threshold.value
        sc = anchor_scenes()
        scene, stride = int(self.scene.value), int(self.stride.value)
        scales, ratios = self.chosen_scales, self.chosen_ratios
        pos_t, neg_t = float(self.pos_threshold.value), float(self.neg_threshold.value)
        gt = sc.boxes[scene].astype(np.float64)
        n_obj = len(gt)
        self.grid = feature_shape(self.size, stride)
        hf, wf = self.grid
        self.anchors = _anchors(stride, scales, ratios, self.size)
        self.match = anchor_labels(self.anchors, gt, pos_t, neg_t, bool(self.force_match.value))
        mt = self.match
        a_per_cell = len(scales) * len(ratios)
        self.scene_im.set_data(sc.images[scene])

        # grid, centres, the chosen cell and its anchors
        xs = np.arange(wf + 1) * stride
        ys = np.arange(hf + 1) * stride
        self.grid_lines.set_segments([[(x, 0), (x, hf * stride)] for x in xs]
                                     + [[(0, y), (wf * stride, y)] for y in ys])
        jj, ii = np.meshgrid(np.arange(wf), np.arange(hf))
        self.centres.set_offsets(np.c_[(jj.ravel() + 0.5) * stride, (ii.ravel() + 0.5) * stride])
        row, col = int(self.cell_row.value), int(self.cell_col.value)
        self.cell_box.set_bounds(col * stride, row * stride, stride, stride)
        first = (row * wf + col) * a_per_cell
        cell_idx = np.arange(first, first + a_per_cell)
        self.cell_anchors.set_segments([_outline(b) for b in self.anchors[cell_idx]])

        # anchors by label, each object's best anchor, the objects
        lab = mt.labels
        self.positives.set_segments([_outline(b) for b in self.anchors[lab == POSITIVE]])
        self.ignored.set_segments([_outline(b) for b in self.anchors[lab == IGNORED]])
        best = [int(i) for i in mt.best_anchor if i >= 0]
        forced = [i for i in best if mt.forced[i]]
        self.best.set_segments([_outline(self.anchors[i]) for i in best if not mt.forced[i]])
        self.forced.set_segments([_outline(self.anchors[i]) for i in forced])
        self.gt_lines.set_segments([_outline(b) for b in gt])
        for k, t in enumerate(self.gt_tags):
            t.set_visible(k < n_obj)
            if k < n_obj:
                t.set_position((gt[k][0] + 0.3, gt[k][1] + 0.3))
                t.set_text(str(k + 1))
        n = len(self.anchors)
        self.img_title.set_text(
            f"stride {stride}: {hf}×{wf} cells × {len(scales)} scales × {len(ratios)} ratios "
            f"= {n} anchors")

        # histogram of the anchors' best IoU, with the three labels' ranges
        counts = np.histogram(mt.max_iou, self.hist_edges)[0].astype(float)
        self.hist.set_data(np.maximum(counts, 0), self.hist_edges)
        self.ax_hist.set_ylim(0.5, max(counts.max(), 1) * 3)
        self.neg_span.set_x(0)
        self.neg_span.set_width(neg_t)
        self.ign_span.set_x(neg_t)
        self.ign_span.set_width(pos_t - neg_t)
        self.pos_span.set_x(pos_t)
        self.pos_span.set_width(1 - pos_t)
        for t, x in zip(self.span_texts, (neg_t / 2, (neg_t + pos_t) / 2, (pos_t + 1) / 2),
                        strict=True):
            t.set_x(x)
        self.span_texts[1].set_visible(pos_t - neg_t >= 0.1)
        self.hist_title.set_text(f"{mt.num_positive} positive, {mt.num_ignored} ignored, "
                                 f"{mt.num_negative} negative anchors")

        # each object's best anchor and its number of positives
        names = []
        for k in range(self.MAX_OBJECTS):
            bar, text = self.bars[k], self.bar_texts[k]
            if k >= n_obj:
                bar.set_width(0)
                text.set_text("")
                names.append("")
                continue
            names.append(str(k + 1))
            biou = float(mt.best_iou[k])
            bar.set_width(biou)
            bar.set_color(POS_COLOR if biou >= pos_t else BAD_COLOR)
            npos = int(mt.positives_per_gt[k])
            best_k = int(mt.best_anchor[k])
            extra = " (forced)" if best_k >= 0 and mt.forced[best_k] and \
                mt.matched[best_k] == k else ""
            text.set_position((biou + 0.02, k))
            text.set_text(f"{biou:.2f}, {npos} positive{'s' if npos != 1 else ''}{extra}: "
                          f"{self._object_name(scene, k)}")
        self.ax_bars.set_yticks(np.arange(n_obj), names[:n_obj], fontsize=8)
        self.ax_bars.set_ylim(max(n_obj, 2) - 0.5, -0.5)
        self.ax_bars.set_ylabel("object", fontsize=9)
        self.pos_line.set_xdata([pos_t, pos_t])
        self.neg_line.set_xdata([neg_t, neg_t])
        self.bars_title.set_text("each object's best anchor (red: below the positive "
                                 "threshold)")

        # readout
        missing = [k for k in range(n_obj) if mt.best_iou[k] < pos_t]
        self.stats = {"num_anchors": n, "per_cell": a_per_cell, "grid": self.grid,
                      "positive": mt.num_positive, "ignored": mt.num_ignored,
                      "negative": mt.num_negative,
                      "positives_per_gt": mt.positives_per_gt.tolist(),
                      "best_iou": mt.best_iou.tolist(), "missing": missing}
        if not scales or not ratios:
            self.readout.value = (
                f"<b>No anchors:</b> tick at least one scale and one ratio (stride {stride}, "
                f"cell ({row}, {col}), negative below {neg_t:.2f}, positive from {pos_t:.2f}, "
                f"force-matching {'on' if self.force_match.value else 'off'}).")
            self.render()
            return
        cell_iou = mt.max_iou[cell_idx]
        parts = [f"<b>{n} anchors</b> ({hf}×{wf} cells × {a_per_cell} per cell): "
                 f"<b>{mt.num_positive} positive</b>, {mt.num_ignored} ignored, "
                 f"{mt.num_negative} negative ({100 * mt.num_negative / n:.1f}%).",
                 "Positives per object: " + ", ".join(
                     f"{k + 1}: {mt.positives_per_gt[k]}" for k in range(n_obj)) + "."]
        shapes = anchor_shapes(scales, ratios)
        smallest = shapes.min()
        for k in missing:
            fix = ("add a smaller scale or a finer stride" if
                   min(gt[k][2] - gt[k][0], gt[k][3] - gt[k][1]) < smallest * 1.2
                   else "add a scale or ratio closer to its shape, or a finer stride")
            best_k = int(mt.best_anchor[k])
            if not self.force_match.value:
                rule = "and without force-matching it gets no positive anchor at all"
            elif best_k >= 0 and mt.matched[best_k] == k:
                rule = "so the force-match rule makes its best anchor positive"
            elif best_k >= 0:
                rule = (f"and its best anchor already belongs to object "
                        f"{int(mt.matched[best_k]) + 1}: it has no positive anchor")
            else:
                rule = "and no anchor overlaps it at all"

            parts.append(f"<b>Object {k + 1}, the {html.escape(self._object_name(scene, k))}, "
                         f"has no anchor with IoU ≥ {pos_t:.2f}</b> (best {mt.best_iou[k]:.2f}), "
                         f"{rule}: {fix}.")
        parts.append(f"Cell ({row}, {col}), centre ({(col + 0.5) * stride:g}, "
                     f"{(row + 0.5) * stride:g}): best IoU of its {a_per_cell} anchors "
                     f"{cell_iou.max():.2f}.")
        n_forced = int(mt.forced.sum())
        parts.append(f"Force-matching {'on' if self.force_match.value else 'off'}: "
                     f"{n_forced} anchor{'s' if n_forced != 1 else ''} forced positive.")
        self.readout.value = " ".join(parts)
        self.render()


# =============================================================================================
# 3. Focal loss
# =============================================================================================

P_EASY, P_HARD, N_EASY, N_HARD = 0.99, 0.3, 100_000, 100


class FocalLossView(FigureView):
    """Cross-entropy against the focal loss, and the loss of a one-stage detector's batch.

    Args:
        gamma: focusing parameter in [0, 5].  alpha: the weight of the object class in [0, 1]
        (the background gets 1 - alpha).  log_scale: a log loss axis.

    Controls (attributes): gamma, alpha, log_scale.
    State: batch ({"ce": BatchLoss, "fl": BatchLoss} from dlcv.detection.boxes.batch_loss_split),
    stats (the down-weighting factors). Artists: ce_line, fl_line (FL without alpha, as in the
    paper's figure), fl_obj_line, fl_bg_line (with alpha_t), easy_marks / hard_marks (the two
    example kinds on the curves), bars ({"ce"|"fl": (easy Rectangle, hard Rectangle)}),
    bar_texts, total_texts.
    """

    def __init__(self, gamma: float = 2.0, alpha: float = 0.25, log_scale: bool = False):
        number_in("FocalLossView", "gamma", gamma, 0.0, 5.0)
        number_in("FocalLossView", "alpha", alpha, 0.0, 1.0)
        super().__init__(figsize=(12.5, 4.4))
        self.gamma = slider("γ (focusing)", float(gamma), 0.0, 5.0, 0.1, readout_format=".1f",
                            width="320px", continuous_update=True)
        self.alpha = slider("α (object weight)", float(alpha), 0.0, 1.0, 0.05,
                            readout_format=".2f", width="320px", continuous_update=True)
        self.log_scale = widgets.Checkbox(value=bool(log_scale), description="log loss axis",
                                          indent=False, layout=widgets.Layout(width="140px"))
        self.watch(self.gamma, self.alpha, self.log_scale)

        gs = self.fig.add_gridspec(1, 2, width_ratios=[1.15, 1], left=0.06, right=0.97,
                                   bottom=0.13, top=0.9, wspace=0.28)
        self.ax_curve = self.fig.add_subplot(gs[0])
        self.ax_bar = self.fig.add_subplot(gs[1])
        self.p = np.linspace(0.01, 1.0, 400)
        ax = self.ax_curve
        for x, name in ((P_HARD, "hard object\np_t = 0.3"), (P_EASY, "easy background\n"
                                                                     "p_t = 0.99")):
            ax.axvline(x, color="0.75", lw=0.8, ls=":")
            ax.text(x - 0.01, 0.98, name, transform=ax.get_xaxis_transform(), fontsize=7.5,
                    ha="right", va="top", color="0.35")
        (self.ce_line,) = ax.plot(self.p, cross_entropy_curve(self.p), color="k", lw=1.6,
                                  label=r"CE $= -\log p_t$")
        (self.fl_line,) = ax.plot([], [], color=CLASS_COLORS[0], lw=2.2,
                                  label=r"FL $= -(1-p_t)^\gamma \log p_t$")
        (self.fl_obj_line,) = ax.plot([], [], color=CLASS_COLORS[5], lw=1.4, ls="--",
                                      label=r"$\alpha_t\,$FL, object anchor ($\alpha_t = \alpha$)")
        (self.fl_bg_line,) = ax.plot([], [], color=CLASS_COLORS[4], lw=1.4, ls="-.",
                                     label=r"$\alpha_t\,$FL, background ($\alpha_t = 1-\alpha$)")
        self.hard_marks = ax.scatter([], [], s=28, c=CLASS_COLORS[5], zorder=5,
                                     edgecolors="k", linewidths=0.5)
        self.easy_marks = ax.scatter([], [], s=28, c=CLASS_COLORS[4], zorder=5,
                                     edgecolors="k", linewidths=0.5)
        ax.set_xlim(0, 1.02)
        ax.set_xlabel(r"$p_t$: the probability the model gives the true class")
        ax.set_ylabel("loss of one example")
        self.legend = ax.legend(loc="upper right", bbox_to_anchor=(0.985, 0.86), fontsize=8,
                                framealpha=0.92)
        self.curve_title = ax.set_title("", fontsize=10)

        # the batch: shares of the total loss
        bx = self.ax_bar
        self.bars, self.bar_texts, self.total_texts = {}, {}, {}
        for y, key in ((1, "ce"), (0, "fl")):
            easy = Rectangle((0, y - 0.3), 0, 0.6, color=CLASS_COLORS[4],
                             label="100,000 easy background anchors" if key == "ce" else None)
            hard = Rectangle((0, y - 0.3), 0, 0.6, color=CLASS_COLORS[5],
                             label="100 hard object anchors" if key == "ce" else None)
            bx.add_patch(easy)
            bx.add_patch(hard)
            self.bars[key] = (easy, hard)
            self.bar_texts[key] = (bx.text(0, y, "", ha="center", va="center", fontsize=9),
                                   bx.text(0, y, "", ha="center", va="center", fontsize=9))
            self.total_texts[key] = bx.text(0, y + 0.36, "", ha="left", va="bottom",
                                            fontsize=8.5, color="0.25")
        bx.set_xlim(0, 100)
        bx.set_ylim(-0.55, 1.75)
        bx.set_yticks([1, 0], ["cross-entropy", "focal loss"])
        bx.set_xlabel("share of the batch's total loss (%)")
        bx.legend(loc="upper center", ncol=2, fontsize=8, framealpha=0.0,
                  bbox_to_anchor=(0.5, 1.0))
        bx.spines[["top", "right"]].set_visible(False)
        bx.set_title("where a detector's loss comes from", fontsize=10)
        self.update()

    def control_rows(self):
        return [[self.gamma, self.alpha, self.log_scale]]

    def update(self) -> None:
        g, a = float(self.gamma.value), float(self.alpha.value)
        p = self.p
        self.fl_line.set_data(p, focal_loss_curve(p, g, 1.0))
        self.fl_obj_line.set_data(p, focal_loss_curve(p, g, a))
        self.fl_bg_line.set_data(p, focal_loss_curve(p, g, 1.0 - a))
        ce = cross_entropy_curve(np.array([P_HARD, P_EASY]))
        fl = focal_loss_curve(np.array([P_HARD, P_EASY]), g, 1.0)
        self.hard_marks.set_offsets([[P_HARD, ce[0]], [P_HARD, fl[0]],
                                     [P_HARD, a * fl[0]]])
        self.easy_marks.set_offsets([[P_EASY, ce[1]], [P_EASY, fl[1]],
                                     [P_EASY, (1 - a) * fl[1]]])
        ax = self.ax_curve
        if self.log_scale.value:  # the curves fall to the right: the legend goes low left
            ax.set_yscale("log")
            ax.set_ylim(1e-7, 10)
            self.legend.set_loc("lower left")
            self.legend.set_bbox_to_anchor((0.01, 0.01), transform=ax.transAxes)
        else:
            ax.set_yscale("linear")
            ax.set_ylim(0, 4.8)
            self.legend.set_loc("upper right")
            self.legend.set_bbox_to_anchor((0.985, 0.86), transform=ax.transAxes)
        self.curve_title.set_text(f"γ = {g:.1f}, α = {a:.2f}")

        self.batch = batch_loss_split(g, a, N_EASY, P_EASY, N_HARD, P_HARD)
        for key, name in (("ce", "CE"), ("fl", "FL")):
            bl = self.batch[key]
            easy_pct = 100 * bl.easy_share
            (easy, hard), (te, th) = self.bars[key], self.bar_texts[key]
            easy.set_width(easy_pct)
            hard.set_x(easy_pct)
            hard.set_width(100 - easy_pct)
            te.set_position((easy_pct / 2, easy.get_y() + 0.3))
            te.set_text(f"{easy_pct:.1f}%" if easy_pct >= 9 else "")
            th.set_position((easy_pct + (100 - easy_pct) / 2, hard.get_y() + 0.3))
            th.set_text(f"{100 - easy_pct:.1f}%" if easy_pct <= 91 else "")
            self.total_texts[key].set_text(
                f"total {name} {bl.total:,.4g}: easy {bl.easy:,.4g} + hard {bl.hard:,.4g}")

        w_easy = (1 - P_EASY) ** g
        w_hard = (1 - P_HARD) ** g
        self.stats = {"easy_factor": w_easy, "hard_factor": w_hard,
                      "easy_factor_alpha": (1 - a) * w_easy, "hard_factor_alpha": a * w_hard,
                      "easy_share_ce": self.batch["ce"].easy_share,
                      "easy_share_fl": self.batch["fl"].easy_share}
        ratio = w_hard / w_easy
        self.readout.value = (
            f"An easy background anchor (p_t = {P_EASY}) keeps (1−p_t)^γ = "
            f"<b>{w_easy:.3g}</b> of its cross-entropy (× (1−α) = {(1 - a) * w_easy:.3g} "
            f"with α); a hard object anchor (p_t = {P_HARD}) keeps {w_hard:.3g} "
            f"(× α = {a * w_hard:.3g}). The focal term alone turns the hard example "
            f"<b>{ratio:,.0f}×</b> more important relative to the easy one than under "
            f"cross-entropy. In a batch of {N_EASY:,} easy and {N_HARD} hard anchors the easy "
            f"ones make <b>{100 * self.stats['easy_share_ce']:.1f}%</b> of the cross-entropy "
            f"and <b>{100 * self.stats['easy_share_fl']:.1f}%</b> of the focal loss.")
        self.render()
