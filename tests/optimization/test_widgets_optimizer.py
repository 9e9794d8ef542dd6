"""dlcv.optimization.widgets: every control changes the paths, losses and readout in place."""

import numpy as np
import pytest

from dlcv.optimization import landscapes as L
from dlcv.optimization.widgets import OptimizerTrajectoryView


@pytest.fixture
def view():
    return OptimizerTrajectoryView()


def xy(line):
    return np.asarray(line.get_xydata(), dtype=np.float64)


def test_opens_on_the_banana_with_three_optimizers(view):
    assert view.renders == 1
    assert view.surface.value == "banana" and view.start.value == "above the valley"
    assert set(view.runs) == {"SGD", "Momentum", "Adam"}
    s = L.SURFACES["banana"]
    for name in view.runs:
        expect = L.trajectory(s, name, "above the valley", view.steps.value,
                              s.lr_sgd if name in L.SGD_FAMILY else s.lr_adaptive)
        np.testing.assert_allclose(xy(view.paths[name]), expect.path)
        np.testing.assert_allclose(xy(view.ends[name])[0], expect.path[-1])
        assert view.paths[name].get_visible() and name in view.readout.value
    assert not view.paths["RMSProp"].get_visible()
    legend = [t.get_text() for t in view.ax_loss.get_legend().get_texts()]
    assert legend == ["SGD", "Momentum", "Adam"]
    assert view.ax_loss.get_yscale() == "log"
    np.testing.assert_allclose(xy(view.start_marker)[0], (-0.5, 2.5))
    np.testing.assert_allclose(xy(view.minima_marker), [[1.0, 1.0]])


def test_defaults_show_momentum_overshoot_and_adams_steps(view):
    mom = view.runs["Momentum"].path
    # the heavy ball swings across the valley floor y = x^2 several times
    side = np.sign(mom[:, 1] - mom[:, 0] ** 2)
    assert np.sum(side[1:] != side[:-1]) >= 4
    # ... and passes below the floor's bottom at y = 0 before it curls back up to (1, 1)
    assert mom[:, 1].min() < -0.2 and np.linalg.norm(mom[-1] - 1) < 0.2
    # SGD is left far behind, its steps shrinking with the gradient on the flat valley floor;
    # Adam moves along the valley in steps of similar size, far longer than SGD's
    assert np.linalg.norm(view.runs["SGD"].path[-1] - 1) > 1.0
    adam = np.linalg.norm(np.diff(view.runs["Adam"].path[60:200], axis=0), axis=1)
    sgd = np.linalg.norm(np.diff(view.runs["SGD"].path[60:200], axis=0), axis=1)
    assert adam.max() < 2.5 * adam.min()
    assert np.median(adam) > 3 * np.median(sgd)


def test_lr_sgd_changes_the_sgd_family_only(view):
    sgd, adam = xy(view.paths["SGD"]).copy(), xy(view.paths["Adam"]).copy()
    loss0, r0, text0 = xy(view.loss_lines["SGD"]).copy(), view.renders, view.readout.value
    view.lr_sgd.value = 1e-3
    assert view.renders == r0 + 1
    assert not np.allclose(xy(view.paths["SGD"]), sgd)
    assert not np.allclose(xy(view.loss_lines["SGD"]), loss0)
    np.testing.assert_array_equal(xy(view.paths["Adam"]), adam)
    assert view.readout.value != text0


def test_lr_adaptive_and_adam_betas_change_adam_only(view):
    mom = xy(view.paths["Momentum"]).copy()
    for control, value in ((view.lr_adaptive, 0.05), (view.beta1, 0.5), (view.beta2, 0.99)):
        adam, r0 = xy(view.paths["Adam"]).copy(), view.renders
        control.value = value
        assert view.renders == r0 + 1
        assert not np.allclose(xy(view.paths["Adam"]), adam), control.description
        np.testing.assert_array_equal(xy(view.paths["Momentum"]), mom)


def test_momentum_changes_momentum_and_nesterov(view):
    view.optimizers.value = ("Momentum", "Nesterov", "SGD")
    m, n, s = (xy(view.paths[k]).copy() for k in ("Momentum", "Nesterov", "SGD"))
    view.momentum.value = 0.5
    assert not np.allclose(xy(view.paths["Momentum"]), m)
    assert not np.allclose(xy(view.paths["Nesterov"]), n)
    np.testing.assert_array_equal(xy(view.paths["SGD"]), s)


def test_alpha_changes_rmsprop(view):
    view.optimizers.value = ("RMSProp",)
    r = xy(view.paths["RMSProp"]).copy()
    view.alpha.value = 0.9
    assert not np.allclose(xy(view.paths["RMSProp"]), r)


def test_steps_and_start(view):
    view.steps.value = 50
    for name in view.runs:
        assert len(xy(view.paths[name])) == 51
        assert len(xy(view.loss_lines[name])) == 51
    assert view.ax_loss.get_xlim() == (0, 50)
    view.start.value = "lower left"
    np.testing.assert_allclose(xy(view.start_marker)[0], (-1.8, -0.5))
    for name in view.runs:
        np.testing.assert_allclose(xy(view.paths[name])[0], (-1.8, -0.5))


def test_selecting_optimizers(view):
    r0 = view.renders
    view.optimizers.value = L.OPTIMIZERS
    assert view.renders == r0 + 1
    assert all(view.paths[n].get_visible() for n in L.OPTIMIZERS)
    assert len(view.ax_loss.get_legend().get_texts()) == 6
    view.optimizers.value = ("Adam",)
    assert not view.paths["SGD"].get_visible() and len(xy(view.paths["SGD"])) == 0
    assert "SGD" not in view.readout.value and "Adam" in view.readout.value
    view.optimizers.value = ()
    assert "select at least one" in view.readout.value


def test_surface_change_resets_starts_lrs_and_contours(view):
    old_contours, r0 = view.contours, view.renders
    view.surface.value = "four minima"
    s = L.SURFACES["four minima"]
    assert view.renders == r0 + 1  # one redraw, not one per control moved
    assert view.start.options == tuple(s.starts) and view.start.value == "centre"
    assert view.lr_sgd.value == pytest.approx(s.lr_sgd)
    assert view.lr_adaptive.value == pytest.approx(s.lr_adaptive)
    assert view.steps.value == s.steps
    assert view.contours is not old_contours and old_contours not in view.ax.collections
    assert view.contours in view.ax.collections
    assert len(xy(view.minima_marker)) == 4
    assert view.ax.get_xlim() == (-5.0, 5.0)
    for name in view.runs:
        np.testing.assert_allclose(xy(view.paths[name])[0], (0.0, 0.0))
    view.surface.value = "saddle"
    np.testing.assert_allclose(xy(view.saddle_marker), [[0.0, 0.0]])


def test_divergence_is_reported_and_drawn_finite(view):
    view.surface.value = "ill-conditioned bowl"
    view.optimizers.value = ("SGD", "Adam")
    view.lr_sgd.value = 0.2
    assert view.runs["SGD"].diverged
    assert "diverged" in view.readout.value
    assert np.all(np.isfinite(xy(view.paths["SGD"])))
    view.lr_sgd.value = 0.05
    assert "diverged" not in view.readout.value


@pytest.mark.parametrize("surface", list(L.SURFACES))
def test_no_nan_in_drawn_data(surface):
    v = OptimizerTrajectoryView(surface=surface, optimizers=L.OPTIMIZERS)
    for name in L.OPTIMIZERS:
        for art in (v.paths[name], v.ends[name], v.loss_lines[name]):
            assert np.all(np.isfinite(xy(art))), (surface, name)
    lo, hi = v.ax_loss.get_ylim()
    assert np.isfinite(lo) and np.isfinite(hi) and lo < hi


def test_static_png_and_bad_arguments(view):
    bundle = view._repr_mimebundle_()
    assert bundle["image/png"]
    with pytest.raises(ValueError, match="unknown surface"):
        OptimizerTrajectoryView(surface="moon")
    with pytest.raises(ValueError, match="start must be one of"):
        OptimizerTrajectoryView(start="nowhere")
    with pytest.raises(ValueError, match="optimizers must come from"):
        OptimizerTrajectoryView(optimizers=("SGD", "LBFGS"))
