"""dlcv.classification.widgets: the controls move the weights, the artists and the readout follow."""

import numpy as np
import pytest

from dlcv.classification import linear
from dlcv.classification.widgets import START_B, START_W, LinearClassifierView


@pytest.fixture
def view():
    return LinearClassifierView()


def bar_heights(v):
    return [b.get_height() for b in v.bars]


def test_initial_state_matches_evaluate(view):
    assert view.renders == 1
    ev = linear.evaluate(np.array(START_W), np.array(START_B), view.X, view.y, reg=1e-3)
    assert view.values == pytest.approx(ev)
    np.testing.assert_allclose(bar_heights(view)[:3], [ev["svm"], ev["softmax"], ev["reg"]])
    assert bar_heights(view)[3] == pytest.approx(100 * ev["accuracy"])
    assert f"SVM loss {ev['svm']:.3f}" in view.readout.value
    assert f"accuracy {100 * ev['accuracy']:.1f}%" in view.readout.value
    assert view.w1.value == START_W[0][0] and view.b.value == START_B[0]


def test_sliders_edit_the_selected_row(view):
    Z0 = view.im.get_array().copy()
    line0 = view.lines[0].get_xydata().copy()
    r0, text0 = view.renders, view.readout.value
    view.w2.value = -2.0
    assert view.W[0, 1] == -2.0
    assert view.renders == r0 + 1
    assert view.readout.value != text0
    assert not np.array_equal(view.im.get_array(), Z0)  # the regions moved
    assert not np.allclose(view.lines[0].get_xydata(), line0)  # the line s_0 = 0 turned
    # the arrow of class 0 is w_0 itself
    np.testing.assert_allclose(view.arrows.U[0], view.W[0, 0])
    np.testing.assert_allclose(view.arrows.V[0], -2.0)
    ev = linear.evaluate(view.W, view.b_vec, view.X, view.y, reg=view.reg.value)
    assert bar_heights(view)[1] == pytest.approx(ev["softmax"])


def test_bias_shifts_the_line_without_turning_it(view):
    seg0 = view.lines[0].get_xydata().copy()
    view.b.value = 1.0
    seg1 = view.lines[0].get_xydata()
    d0, d1 = seg0[1] - seg0[0], seg1[1] - seg1[0]
    assert abs(d0[0] * d1[1] - d0[1] * d1[0]) < 1e-9 * np.hypot(*d0) * np.hypot(*d1) + 1e-9
    w = view.W[0]
    assert w @ seg1[0] + 1.0 == pytest.approx(0, abs=1e-9)


def test_changing_class_moves_sliders_without_changing_weights(view):
    W0, b0 = view.W.copy(), view.b_vec.copy()
    r0 = view.renders
    view.cls.value = 2
    assert (view.w1.value, view.w2.value, view.b.value) == (W0[2, 0], W0[2, 1], b0[2])
    np.testing.assert_array_equal(view.W, W0)  # no spurious write of row 0's values into row 2
    np.testing.assert_array_equal(view.b_vec, b0)
    assert view.renders == r0 + 1  # one redraw, not one per slider
    assert view.lines[2].get_linewidth() > view.lines[0].get_linewidth()
    view.w1.value = 0.5  # now the sliders edit row 2
    assert view.W[2, 0] == 0.5 and view.W[0, 0] == W0[0, 0]


def test_reg_changes_only_the_reg_term(view):
    h0 = bar_heights(view)
    view.reg.value = 0.1
    h1 = bar_heights(view)
    assert h1[2] == pytest.approx(0.1 * np.sum(view.W**2))
    assert h1[2] > h0[2]
    assert h1[0] == pytest.approx(h0[0]) and h1[1] == pytest.approx(h0[1])


def test_fit_button_lowers_the_loss_and_updates_sliders(view):
    before = dict(view.values)
    r0 = view.renders
    view.fit.click()
    assert view.renders == r0 + 1
    assert view.values["softmax"] < before["softmax"]
    assert view.values["accuracy"] > before["accuracy"]
    assert view.last_fit and view.last_fit[-1] < view.last_fit[0]
    assert view.w1.value == pytest.approx(view.W[0, 0])
    assert view.b.value == pytest.approx(view.b_vec[0])
    assert "last fit: softmax" in view.readout.value


def test_fit_with_svm_loss(view):
    view.fit_loss.value = "svm"
    before = view.values["svm"]
    view.fit.click()
    assert view.values["svm"] < before
    assert "last fit: svm" in view.readout.value


def test_reset_gives_sanity_check_values(view):
    view.reset.click()
    assert np.abs(view.W).max() < 0.1 and np.all(view.b_vec == 0)
    assert view.values["svm"] == pytest.approx(2.0, abs=0.1)  # C - 1
    assert view.values["softmax"] == pytest.approx(np.log(3), abs=0.05)  # log C
    assert view.w1.value == pytest.approx(view.W[0, 0])


def test_dataset_switch_reloads_points(view):
    off0 = view.points.get_offsets().copy()
    view.dataset.value = "one class in two places"
    assert not np.allclose(view.points.get_offsets(), off0)
    np.testing.assert_allclose(view.points.get_offsets(), view.X)
    view.fit.click()
    assert view.values["accuracy"] < 0.85  # a linear classifier cannot do this one


def test_static_png_and_bad_arguments(view):
    bundle = view._repr_mimebundle_()
    assert "image/png" in bundle and bundle["image/png"]
    with pytest.raises(ValueError, match="dataset must be one of"):
        LinearClassifierView(dataset="moons")
    with pytest.raises(ValueError, match=r"W must be \(3, 2\)"):
        view.set_weights(np.zeros((2, 2)), np.zeros(3))
