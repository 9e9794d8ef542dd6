"""Tests for dlcv/evaluation/widgets.py: the PR-threshold widget, without a browser."""


import numpy as np
import pytest
from sklearn.metrics import average_precision_score, precision_score, recall_score

from dlcv.evaluation import metrics as E
from dlcv.evaluation.widgets import PRThresholdView

PCA8 = "digits: softmax on 8 PCA features"


@pytest.fixture(scope="module")
def view():
    return PRThresholdView(source=PCA8, positive=9, threshold=0.0)


def _marker(v):
    return float(v.op_marker.get_xdata()[0]), float(v.op_marker.get_ydata()[0])


def _polygon_area(xy):
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def test_initial_state_matches_sklearn(view):
    assert view.renders >= 1
    y, s = E.scored_set(PCA8, positive=9)
    pred = (s >= 0.0).astype(int)
    st = view.stats
    assert st["precision"] == pytest.approx(precision_score(y, pred))
    assert st["recall"] == pytest.approx(recall_score(y, pred))
    assert (st["tp"], st["fp"], st["fn"], st["tn"]) == tuple(E.confusion_counts(y, s, 0.0))
    assert st["ap_sklearn"] == pytest.approx(average_precision_score(y, s))
    assert _marker(view) == pytest.approx((st["recall"], st["precision"]))
    assert view.cell_texts["tp"].get_text() == f"TP\n{st['tp']}"
    assert f"AP: all-point <b>{st['ap_all_point']:.3f}</b>" in view.readout.value
    assert view.stats["num_pos"] == 54 and view.stats["num_neg"] == 486


def test_threshold_moves_marker_and_changes_counts(view):
    view.threshold.value = 0.0
    before, counts, renders = _marker(view), view.cell_texts["fp"].get_text(), view.renders
    view.threshold.value = -3.0  # lower threshold: more predicted positive
    assert view.renders == renders + 1
    after = _marker(view)
    assert after[0] > before[0]  # recall rises
    assert view.cell_texts["fp"].get_text() != counts
    assert view.stats["tp"] + view.stats["fp"] > 0
    assert list(view.thr_line.get_xdata()) == [-3.0, -3.0]
    assert view.span.get_x() == -3.0
    assert "<b>t = -3.00</b>" in view.readout.value
    y, s = E.scored_set(PCA8, positive=9)
    assert view.stats["fp"] == int(np.sum((s >= -3.0) & (y == 0)))


def test_the_shaded_area_is_the_all_point_ap_and_squares_the_11_point_ap(view):
    area = _polygon_area(np.asarray(view.ap_area.get_xy()))
    assert area == pytest.approx(view.stats["ap_all_point"], abs=1e-9)
    eleven = np.asarray(view.eleven.get_offsets())
    np.testing.assert_allclose(eleven[:, 0], np.linspace(0, 1, 11))
    assert eleven[:, 1].mean() == pytest.approx(view.stats["ap_11_point"])
    env = np.asarray(view.envelope.get_ydata())
    assert np.all(np.diff(env) <= 1e-12)  # the envelope never rises


def test_source_dropdown_changes_curve_and_disables_digit(view):
    before = np.asarray(view.pr_line.get_xdata()).copy()
    renders = view.renders
    view.source.value = "synthetic: 1% positives, d'=2"
    assert view.renders == renders + 1
    assert view.positive.disabled
    after = np.asarray(view.pr_line.get_xdata())
    assert after.shape != before.shape or not np.allclose(after, before)
    assert view.stats["num_pos"] == 20 and view.stats["num_neg"] == 1980
    assert view.chance_line.get_ydata()[0] == pytest.approx(0.01)
    assert "synthetic scores" in view.hist_title.get_text()
    view.source.value = PCA8
    assert not view.positive.disabled


def test_positive_digit_changes_curve_and_histograms(view):
    view.source.value = PCA8
    h_before = np.asarray(view.hist_pos.get_data().values).copy()
    ap_before = view.stats["ap_all_point"]
    view.positive.value = 0
    assert view.stats["ap_all_point"] != ap_before
    assert not np.array_equal(view.hist_pos.get_data().values, h_before)
    y, s = E.scored_set(PCA8, positive=0)
    assert view.stats["ap_all_point"] == pytest.approx(E.average_precision(y, s))
    assert view.hist_pos.get_data().values.sum() == y.sum()
    assert "digit 0 against the rest" in view.hist_title.get_text()
    view.positive.value = 9


def test_best_f1_button():
    v = PRThresholdView(source="digits: softmax on 2 PCA features", positive=5)
    renders = v.renders
    v.best_f1.click()
    assert v.renders == renders + 1
    c = v.curve
    f1 = 2 * c.precision * c.recall / (c.precision + c.recall + 1e-300)
    assert v.stats["f"] == pytest.approx(f1.max())


def test_threshold_above_every_score_predicts_nothing():
    v = PRThresholdView(source="synthetic: 10% positives, d'=4", threshold=12.0)
    assert v.stats["point"] is None and not v.op_marker.get_visible()
    assert v.stats["tp"] == v.stats["fp"] == 0
    assert "undefined" in v.readout.value and "undefined" in v.formula_text.get_text()
    v.threshold.value = -12.0  # everything positive: recall 1, precision = positive rate
    assert v.op_marker.get_visible()
    assert v.stats["recall"] == 1.0 and v.stats["precision"] == pytest.approx(0.1)


def test_update_and_static_png(view):
    view.threshold.value = 1.5
    bundle = view._repr_mimebundle_()
    assert bundle["image/png"]
    assert view.best_f1 in view.control_rows()[1]


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        (dict(source="cifar"), "source must be one of"),
        (dict(positive=10), r"positive must be a digit 0\.\.9"),
        (dict(positive=True), r"positive must be a digit 0\.\.9"),
        (dict(threshold=20.0), r"threshold must be in \[-12.0, 12.0\]"),
    ],
)
def test_bad_arguments(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        PRThresholdView(**kwargs)
