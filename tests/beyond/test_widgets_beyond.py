"""Tests for dlcv/beyond/widgets.py: the EM view and the tracker view, without a browser."""


import numpy as np
import pytest

from dlcv.beyond import gum
from dlcv.beyond import tracking as TR
from dlcv.beyond.widgets import EM_ITERATIONS, NUM_POINTS, GUMEMView, TrackerView


@pytest.fixture(scope="module")
def em():
    return GUMEMView(fraction=0.3, kind="uniform", iteration=0)


def test_em_view_starts_from_least_squares(em):
    assert em.renders >= 1
    d = gum.line_with_outliers(NUM_POINTS, 0.3, seed=0)
    fit = gum.gum_em(d.x, d.y, EM_ITERATIONS)
    a_ls, b_ls = gum.least_squares(d.x, d.y)
    assert em.stats["slope"] == pytest.approx(a_ls) and em.stats["rho"] == 0.5
    np.testing.assert_allclose(em.points.get_offsets(), np.c_[d.x, d.y])
    np.testing.assert_allclose(em.points.get_array(), fit.resp[0])
    np.testing.assert_allclose(em.ll_line.get_ydata(), fit.loglik)
    np.testing.assert_allclose(em.ls_line.get_ydata(), a_ls * em.ls_line.get_xdata() + b_ls)
    assert "iteration 0" in em.readout.value


def test_iteration_slider_moves_the_line_and_markers(em):
    em.iteration.value = 0
    before, renders = np.array(em.em_line.get_ydata()).copy(), em.renders
    em.iteration.value = 10
    assert em.renders == renders + 1
    after = np.array(em.em_line.get_ydata())
    assert not np.allclose(before, after)
    xs = np.array(em.em_line.get_xdata())
    np.testing.assert_allclose(after, em.stats["slope"] * xs + em.stats["intercept"])
    assert em.stats["slope"] == pytest.approx(0.8, abs=0.1)
    assert list(em.ll_marker.get_xdata()) == [10]
    assert em.stats["labelled_right"] > 0.85
    assert "iteration 10" in em.fit_title.get_text()
    # the density curve is the fitted mixture
    s, r = em.stats["sigma"], em.stats["rho"]
    g = np.exp(-0.5 * (em.grid / s) ** 2) / (np.sqrt(2 * np.pi) * s)
    gamma = float(np.ptp(em.current()[0].y))
    np.testing.assert_allclose(em.density.get_ydata(), r * g + (1 - r) / gamma)


def test_fraction_and_kind_change_the_data(em):
    em.iteration.value = EM_ITERATIONS
    em.fraction.value = 0.5
    d, fit, _ = em.current()
    assert (~d.inlier).sum() == 60
    np.testing.assert_allclose(em.points.get_offsets(), np.c_[d.x, d.y])
    em.kind.value = "clustered"
    em.fraction.value = 0.4
    assert abs(em.stats["slope"] - 0.8) > 0.5          # the clump wins
    assert em.stats["labelled_right"] < 0.5
    em.init.value = "flat"
    assert em.current()[1].slope[0] == 0
    em.kind.value, em.fraction.value, em.init.value = "uniform", 0.3, "least-squares"


def test_em_view_rejects_bad_arguments():
    with pytest.raises(ValueError, match="fraction"):
        GUMEMView(fraction=0.9)
    with pytest.raises(ValueError, match="iteration"):
        GUMEMView(iteration=50)


@pytest.fixture(scope="module")
def tracker():
    seq = TR.make_sequence(num_frames=30, seed=0)
    return TrackerView(seq, {"raw": TR.correlation_map, "NCC": TR.ncc_map}, search=64, frame=1)


def test_tracker_view_shows_the_chosen_method(tracker):
    seq = tracker.sequence
    assert tracker.method.value == "NCC"
    for name, res in tracker.results.items():
        np.testing.assert_allclose(tracker.errors[name],
                                   TR.centre_errors(res.centres, seq.centres))
    renders = tracker.renders
    tracker.frame.value = 5
    assert tracker.renders == renders + 1
    res = tracker.results["NCC"]
    np.testing.assert_array_equal(tracker.frame_image.get_array(), seq.frames[5])
    np.testing.assert_allclose(tracker.map_image.get_array(), res.maps[4])
    r, c = res.centres[5]
    assert tracker.pred_box.get_xy() == pytest.approx((c - 15, r - 15))
    tr, tc = seq.centres[5]
    assert tracker.true_box.get_xy() == pytest.approx((tc - 15, tr - 15))
    i, j = np.unravel_index(np.argmax(res.maps[4]), res.maps[4].shape)
    assert list(tracker.peak_marker.get_xdata()) == [j] and tracker.stats["peak"] == (i, j)
    assert tracker.stats["error"] == pytest.approx(tracker.errors["NCC"][5])
    assert len(tracker.path_line.get_xdata()) == 6
    assert list(tracker.frame_line.get_xdata()) == [5, 5]
    assert "frame 5" in tracker.readout.value


def test_tracker_method_switch(tracker):
    tracker.frame.value = 3
    ncc_map = np.array(tracker.map_image.get_array()).copy()
    tracker.method.value = "raw"
    raw = tracker.results["raw"]
    np.testing.assert_allclose(tracker.map_image.get_array(), raw.maps[2])
    assert not np.allclose(ncc_map, raw.maps[2])
    assert tracker.error_lines["raw"].get_linewidth() > tracker.error_lines["NCC"].get_linewidth()
    assert tracker.errors["raw"][1:].mean() > 10 > tracker.errors["NCC"][1:].mean()
    tracker.method.value = "NCC"


def test_tracker_view_rejects_a_bad_frame(tracker):
    with pytest.raises(ValueError, match="frame"):
        TrackerView(tracker.sequence, {"NCC": TR.ncc_map}, frame=0)


def test_tracker_view_reuses_given_results(tracker):
    calls = []

    def counted_ncc(z, x):
        calls.append(1)
        return TR.ncc_map(z, x)

    given = {"NCC": tracker.results["NCC"]}
    view = TrackerView(tracker.sequence, {"raw": TR.correlation_map, "NCC": counted_ncc},
                       search=64, frame=2, results=given)
    assert calls == [] and view.results["NCC"] is given["NCC"]
    np.testing.assert_allclose(view.errors["NCC"], tracker.errors["NCC"])
    np.testing.assert_allclose(view.results["raw"].centres, tracker.results["raw"].centres)
    with pytest.raises(ValueError, match="not in methods"):
        TrackerView(tracker.sequence, {"NCC": TR.ncc_map}, results={"SiamFC": given["NCC"]})


def test_tracker_view_threshold(tracker):
    assert "within 5 px" in tracker.readout.value
    view = TrackerView(tracker.sequence, {"NCC": TR.ncc_map},
                       results={"NCC": tracker.results["NCC"]}, threshold=10)
    share = np.mean(tracker.errors["NCC"][1:] <= 10)
    assert "within 10 px" in view.readout.value and f"NCC: {share:.0%}" in view.readout.value
    assert any(line.get_label() == "10 px" for line in view.ax_err.get_lines())
    with pytest.raises(ValueError, match="threshold"):
        TrackerView(tracker.sequence, {"NCC": TR.ncc_map}, threshold=0)


def test_png_outputs(em, tracker):
    assert em.png()[:4] == b"\x89PNG" and tracker.png()[:4] == b"\x89PNG"
    bundle = tracker._repr_mimebundle_()
    assert "image/png" in bundle
