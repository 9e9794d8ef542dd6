"""Tests for dlcv/detection/widgets.py: lectures 09-10's three widgets, without a browser."""


import numpy as np
import pytest

from dlcv.detection import boxes as D
from dlcv.detection.widgets import (
    ANCHOR_SCENES,
    NMS_SCENE_IDS,
    AnchorView,
    FocalLossView,
    IoUNMSPlayground,
    anchor_scenes,
    nms_candidates,
)

# ---------------------------------------------------------------------------------------------
# IoUNMSPlayground
# ---------------------------------------------------------------------------------------------


@pytest.fixture()
def nms():
    return IoUNMSPlayground()


def _visible_rects(v):
    return [r for r in v.rects if r.get_visible()]


def test_nms_initial_state(nms):
    c = nms_candidates(0)
    n = len(c)
    assert nms.renders == 1
    assert nms.step.max == n and nms.step.value == n
    expected = D.nms_steps(c.boxes, c.scores, c.labels, 0.5, 0.3, True)
    assert nms.steps == expected
    assert len(_visible_rects(nms)) == n
    for s in expected:  # every box drawn in the style of its decision
        r = nms.rects[s.index]
        x1, y1, x2, y2 = c.boxes[s.index]
        assert r.get_xy() == pytest.approx((x1, y1)) and r.get_width() == pytest.approx(x2 - x1)
        style = {D.KEEP: "-", D.SUPPRESS: "--", D.BELOW: ":"}[s.action]
        assert r.get_linestyle() == style
        assert nms.tags[s.index].get_visible() == s.kept
    # the decision list, in score order
    for k, s in enumerate(expected):
        assert nms.lines[k].get_text() == f"{k + 1:2d}. {s.describe()}"
    kept = [s.index for s in expected if s.kept]
    assert nms.stats["final_kept"] == kept and nms.stats["kept"] == len(kept)
    assert f"{len(kept)} boxes kept" in nms.readout.value
    assert nms.matrix.get_array().shape == (n, n)
    assert nms._repr_mimebundle_()["image/png"]
    assert nms.image in nms.widget.children and nms.readout in nms.widget.children


def test_nms_step_replays_decisions(nms):
    renders = nms.renders
    nms.step.value = 0
    assert nms.renders == renders + 1
    assert all(r.get_linestyle() == ":" for r in _visible_rects(nms))
    assert not any(t.get_visible() for t in nms.tags)
    assert nms.lines[0].get_text().endswith("?")
    assert "no decision yet" in nms.note.get_text()
    assert not nms.cursor.get_visible()

    nms.step.value = 3
    assert nms.renders == renders + 2
    s = nms.steps[2]
    assert nms.lines[2].get_text() == f" 3. {s.describe()}"
    assert nms.lines[3].get_text().endswith("?")
    assert nms.note.get_text() == f"step 3: {s.describe()}"
    assert f"step 3 of {len(nms.candidates)}" in nms.readout.value
    assert nms.stats["made"] == 3
    assert nms.stats["kept"] + nms.stats["suppressed"] + nms.stats["below"] == 3
    # the current decision's pair: a suppressed box and the box that removed it
    if s.action == D.SUPPRESS:
        assert nms.pair == (s.by, s.index)
    else:
        assert s.index in nms.pair
    assert nms.rects[s.index].get_path_effects()  # the current box has a halo


def test_nms_thresholds_and_per_class(nms):
    c = nms.candidates
    renders = nms.renders
    nms.iou_threshold.value = 0.2
    assert nms.renders == renders + 1
    ref = D.nms_steps(c.boxes, c.scores, c.labels, 0.2, 0.3, True)
    assert nms.stats["final_kept"] == [s.index for s in ref if s.kept]
    hits = D.iou_matrix(c.boxes) >= 0.2
    same = c.labels[:, None] == c.labels[None, :]
    expected_hits = int(np.sum(hits & same) - len(c))  # minus the diagonal
    assert len(nms.matrix_hits.get_offsets()) == expected_hits
    assert "IoU ≥ 0.20, same class" in nms.matrix_title.get_text()

    per_class_kept = nms.stats["final_kept"]
    nms.per_class.value = False
    ref = D.nms_steps(c.boxes, c.scores, c.labels, 0.2, 0.3, False)
    assert nms.stats["final_kept"] == [s.index for s in ref if s.kept]
    assert len(nms.stats["final_kept"]) < len(per_class_kept)
    assert "whatever their class" in nms.readout.value

    nms.score_threshold.value = 0.6
    below = int(np.sum(c.scores < 0.6))
    assert nms.stats["below"] == below
    assert sum(s.action == D.BELOW for s in nms.steps) == below
    assert all(nms.rects[s.index].get_linestyle() == ":" for s in nms.steps
               if s.action == D.BELOW)


def test_nms_scene_change_resets_controls(nms):
    renders = nms.renders
    before = np.asarray(nms.scene_im.get_array()).copy()
    nms.step.value = 2
    nms.scene.value = 2
    assert nms.renders == renders + 2  # one for the step, one for the scene: no extra renders
    c = nms_candidates(2)
    assert nms.candidates is c
    assert nms.step.max == len(c) and nms.step.value == len(c)
    assert len(nms.box_a.options) == len(c) + 1 and nms.box_a.value == -1
    assert len(_visible_rects(nms)) == len(c)
    assert not np.array_equal(np.asarray(nms.scene_im.get_array()), before)
    assert sum(line.get_visible() for line in nms.lines) == len(c)


def test_nms_pair_pickers(nms):
    c = nms.candidates
    nms.box_a.value = 1
    nms.box_b.value = 4
    assert nms.pair == (1, 4)
    inter, union, iou = D.iou_parts(c.boxes[1], c.boxes[4])
    assert nms.pair_text.get_text() == f"IoU(A, B) = {inter:.1f} / {union:.1f} px² = {iou:.2f}"
    assert nms.stats["pair_iou"] == pytest.approx(D.iou_pair(c.boxes[1], c.boxes[4]))
    x1, y1, x2, y2 = c.boxes[1]
    assert nms.pair_union_a.get_xy() == pytest.approx((x1, y1))
    assert nms.pair_inter.get_visible() == (inter > 0)
    rank = {idx: r for r, idx in enumerate(nms.order)}
    assert nms.matrix_box.get_xy() == pytest.approx((rank[4] - 0.5, rank[1] - 0.5))
    nms.box_b.value = 1  # the same box twice: shown against its best-overlapping neighbour
    a, b = nms.pair
    assert a == 1 and b != 1
    ious = D.iou_matrix(c.boxes)[1]
    ious[1] = -1
    assert ious[b] == ious.max()


def test_nms_bad_arguments_and_stepping_the_replay():
    with pytest.raises(ValueError, match="scene must be one of"):
        IoUNMSPlayground(scene=len(NMS_SCENE_IDS))
    with pytest.raises(ValueError, match="iou_threshold must be a number in"):
        IoUNMSPlayground(iou_threshold=1.2)
    with pytest.raises(ValueError, match="step must be one of"):
        IoUNMSPlayground(step=999)
    v = IoUNMSPlayground(scene=1, step=0)
    assert v.stats["made"] == 0
    for k in range(1, 6):
        v.step.value = k
    assert v.step.value == 5  # stepping the replay works; its speed is measured by make bench


# ---------------------------------------------------------------------------------------------
# AnchorView
# ---------------------------------------------------------------------------------------------


@pytest.fixture()
def anchors():
    return AnchorView()


def test_anchor_initial_state(anchors):
    v = anchors
    gt = anchor_scenes().boxes[0]
    assert v.renders == 1
    assert v.grid == (8, 8) and v.stats["num_anchors"] == 8 * 8 * 2 * 3
    ref = D.anchor_boxes((8, 8), 8, (16, 32), (0.5, 1.0, 2.0))
    np.testing.assert_allclose(v.anchors, ref)
    m = D.anchor_labels(ref, gt, 0.5, 0.4, True)
    np.testing.assert_array_equal(v.match.labels, m.labels)
    assert len(v.positives.get_segments()) == m.num_positive
    assert len(v.ignored.get_segments()) == m.num_ignored
    assert len(v.cell_anchors.get_segments()) == 6
    assert len(v.gt_lines.get_segments()) == len(gt)
    assert v.stats["positives_per_gt"] == m.positives_per_gt.tolist()
    # the small square in the corner has no anchor above 0.5 at stride 8: forced, and said so
    assert v.stats["missing"] == [0]
    assert len(v.forced.get_segments()) == 1
    assert "Object 1, the small blue square" in v.readout.value
    assert "add a smaller scale or a finer stride" in v.readout.value
    assert "force-match rule makes its best anchor positive" in v.readout.value
    assert f"{m.num_positive} positive" in v.hist_title.get_text()
    assert v.hist.get_data().values.sum() == len(ref)
    assert v.bars[0].get_width() == pytest.approx(m.best_iou[0])
    assert "(forced)" in v.bar_texts[0].get_text()
    assert v._repr_mimebundle_()["image/png"]


def test_anchor_stride_keeps_the_cell_over_the_same_point(anchors):
    v = anchors
    v.cell_row.value, v.cell_col.value = 3, 5  # centre (44, 28)
    renders = v.renders
    v.stride.value = 4
    assert v.renders == renders + 1
    assert v.grid == (16, 16) and v.stats["num_anchors"] == 16 * 16 * 6
    assert v.cell_row.max == 15 and v.cell_col.max == 15
    assert (v.cell_row.value, v.cell_col.value) == (7, 11)  # centre (46, 30): the same spot
    assert v.cell_box.get_xy() == pytest.approx((44, 28)) and v.cell_box.get_width() == 4
    assert len(v.grid_lines.get_segments()) == 17 + 17
    assert v.stats["missing"] == []  # a finer stride finds the small square
    v.stride.value = 16
    assert v.grid == (4, 4) and (v.cell_row.value, v.cell_col.value) == (1, 2)
    assert v.cell_row.max == 3


def test_anchor_cell_picker_moves_its_anchors(anchors):
    v = anchors
    v.cell_row.value, v.cell_col.value = 2, 6
    segs = np.array(v.cell_anchors.get_segments())  # (6, 5, 2)
    centres = segs[:, :4].mean(axis=1)
    np.testing.assert_allclose(centres, np.tile([[52.0, 20.0]], (6, 1)))
    assert v.cell_box.get_xy() == pytest.approx((48, 16))
    assert "Cell (2, 6), centre (52, 20)" in v.readout.value


def test_anchor_scales_ratios_and_thresholds(anchors):
    v = anchors
    renders = v.renders
    v.scales[8].value = True
    assert v.renders == renders + 1 and v.stats["per_cell"] == 9
    assert v.chosen_scales == (8, 16, 32)
    v.ratios[0.5].value = False
    assert v.stats["num_anchors"] == 64 * 3 * 2 and v.chosen_ratios == (1.0, 2.0)
    before = v.stats["positive"]
    v.pos_threshold.value = 0.3
    assert v.stats["positive"] > before and v.stats["missing"] == []
    assert v.pos_span.get_x() == pytest.approx(0.3)
    # neg above pos is pulled back to pos
    v.neg_threshold.value = 0.6
    assert v.neg_threshold.value == pytest.approx(0.3)
    assert v.stats["ignored"] == 0


def test_anchor_force_match_off_and_empty_choice(anchors):
    v = anchors
    v.force_match.value = False
    assert len(v.forced.get_segments()) == 0
    assert v.stats["positives_per_gt"][0] == 0
    assert "without force-matching it gets no positive anchor" in v.readout.value
    assert v.bars[0].get_facecolor()[:3] != v.bars[1].get_facecolor()[:3]  # red against green
    for c in v.ratios.values():
        c.value = False
    assert v.stats["num_anchors"] == 0
    assert "No anchors" in v.readout.value
    assert len(v.positives.get_segments()) == 0


def test_anchor_scene_change_and_bad_args():
    v = AnchorView(scene=2, stride=16, scales=(16, 32))
    assert v.renders == 1 and v.stats["num_anchors"] == 16 * 6
    gt = anchor_scenes().boxes[2]
    assert len(v.gt_lines.get_segments()) == len(gt)
    renders = v.renders
    v.scene.value = 1
    assert v.renders == renders + 1
    assert len(v.gt_lines.get_segments()) == len(anchor_scenes().boxes[1])
    with pytest.raises(ValueError, match="stride must be one of"):
        AnchorView(stride=5)
    with pytest.raises(ValueError, match="every scale must be one of"):
        AnchorView(scales=(7,))
    with pytest.raises(ValueError, match="neg_threshold"):
        AnchorView(pos_threshold=0.3, neg_threshold=0.5)
    with pytest.raises(ValueError, match="cell must be"):
        AnchorView(cell=(9, 0))
    with pytest.raises(ValueError, match="scene must be one of"):
        AnchorView(scene=ANCHOR_SCENES)


def test_anchor_count_and_scene_change():
    v = AnchorView(stride=4, scales=(8, 12, 16, 24, 32))
    assert v.stats["num_anchors"] == 16 * 16 * 15
    renders = v.renders
    v.scene.value = 3
    assert v.renders == renders + 1 and v.stats["num_anchors"] == 16 * 16 * 15


# ---------------------------------------------------------------------------------------------
# FocalLossView
# ---------------------------------------------------------------------------------------------


def test_focal_initial_state():
    v = FocalLossView()
    assert v.renders == 1
    p = v.p
    np.testing.assert_allclose(v.fl_line.get_ydata(), D.focal_loss_curve(p, 2.0))
    np.testing.assert_allclose(v.fl_obj_line.get_ydata(), D.focal_loss_curve(p, 2.0, 0.25))
    np.testing.assert_allclose(v.fl_bg_line.get_ydata(), D.focal_loss_curve(p, 2.0, 0.75))
    split = D.batch_loss_split(2.0, 0.25)
    easy, hard = v.bars["ce"]
    assert easy.get_width() == pytest.approx(100 * split["ce"].easy_share)
    assert hard.get_x() + hard.get_width() == pytest.approx(100)
    assert v.bars["fl"][0].get_width() == pytest.approx(100 * split["fl"].easy_share)
    assert v.stats["easy_factor"] == pytest.approx(1e-4)
    assert "89.3%" in v.readout.value and "0.5%" in v.readout.value
    assert v.ax_curve.get_yscale() == "linear"
    assert v._repr_mimebundle_()["image/png"]


def test_focal_controls_change_curves_and_bars():
    v = FocalLossView()
    renders = v.renders
    v.gamma.value = 0.0
    assert v.renders == renders + 1
    np.testing.assert_allclose(v.fl_line.get_ydata(), v.ce_line.get_ydata())  # FL(0) = CE
    assert v.stats["easy_factor"] == 1.0
    assert v.bars["fl"][0].get_width() == pytest.approx(v.bars["ce"][0].get_width(), rel=0.2)
    v.gamma.value = 5.0
    assert v.stats["easy_share_fl"] < 1e-6
    assert v.bar_texts["fl"][0].get_text() == ""  # a sliver gets no label
    v.alpha.value = 0.5
    np.testing.assert_allclose(v.fl_obj_line.get_ydata(), v.fl_bg_line.get_ydata())
    assert "α = 0.50" in v.curve_title.get_text()
    v.log_scale.value = True
    assert v.ax_curve.get_yscale() == "log"
    assert v.ax_curve.get_ylim()[0] == pytest.approx(1e-7)
    v.log_scale.value = False
    assert v.ax_curve.get_yscale() == "linear"
    with pytest.raises(ValueError, match="gamma must be a number in"):
        FocalLossView(gamma=6)
