"""dlcv.networks.widgets: the controls change the curves, the histogram and the readout."""

import numpy as np
import pytest

from dlcv.networks import activations as A
from dlcv.networks.widgets import HIST_BINS, ActivationView


@pytest.fixture
def view():
    return ActivationView()


def hist(v):
    return np.array([b.get_height() for b in v.hist])


def test_initial_state_is_the_sigmoid(view):
    assert view.renders == 1
    np.testing.assert_allclose(view.line_f.get_ydata(), 1 / (1 + np.exp(-view.x)))
    assert np.max(view.line_d.get_ydata()) == pytest.approx(0.25)
    assert view.param.disabled
    assert hist(view).sum() == pytest.approx(1.0)
    assert "zero-centred: no" in view.readout.value
    assert view.values == A.summary("sigmoid", 1.0, 0.05)


def test_scale_raises_saturation_and_moves_the_band(view):
    sat0, h0, r0 = view.values["saturated"], hist(view), view.renders
    view.scale.value = 5.0
    assert view.renders == r0 + 1
    assert view.values["saturated"] > sat0 + 0.4
    assert view.values["saturated"] == pytest.approx(A.summary("sigmoid", 5.0)["saturated"])
    assert not np.allclose(hist(view), h0)
    assert view.bands[0].get_width() == pytest.approx(2 * 1.96 * 5.0)
    assert f"{100 * view.values['saturated']:.1f}%" in view.readout.value


def test_switching_activation_sets_up_the_parameter(view):
    r0 = view.renders
    view.name.value = "leaky_relu"
    assert view.renders == r0 + 1  # one redraw, not one per slider change
    assert not view.param.disabled and view.param.description == "slope"
    assert view.param.value == pytest.approx(0.01)
    np.testing.assert_allclose(view.line_d.get_ydata()[view.x < 0], 0.01)
    assert view.values["saturated"] == pytest.approx(0.5, abs=0.02)  # 0.01 < threshold 0.05
    view.param.value = 0.2
    assert view.params() == {"slope": 0.2}
    np.testing.assert_allclose(view.line_d.get_ydata()[view.x < 0], 0.2)
    assert view.values["saturated"] == 0.0 and view.values["dead"] == 0.0


def test_relu_is_half_dead_and_tanh_zero_centred(view):
    view.name.value = "relu"
    assert view.values["dead"] == pytest.approx(0.5, abs=0.02)
    centres = (HIST_BINS[:-1] + HIST_BINS[1:]) / 2
    assert hist(view)[np.argmin(np.abs(centres))] == pytest.approx(0.5, abs=0.02)  # f' = 0
    assert hist(view)[np.argmin(np.abs(centres - 1))] == pytest.approx(0.5, abs=0.02)  # f' = 1
    view.name.value = "tanh"
    assert view.values["zero_centred"] and "zero-centred: yes" in view.readout.value
    np.testing.assert_allclose(view.line_f.get_ydata(), np.tanh(view.x))


def test_maxout_and_elu_parameters(view):
    view.name.value = "maxout"
    assert view.param.description == "w2" and view.param.value == pytest.approx(-0.5)
    view.param.value = 0.0  # max(x, 0): the ReLU
    np.testing.assert_allclose(view.line_f.get_ydata(), np.maximum(view.x, 0))
    view.name.value = "elu"
    view.param.value = 0.5
    assert view.line_f.get_ydata().min() == pytest.approx(-0.5, abs=1e-3)


def test_png_and_errors(view):
    assert view._repr_mimebundle_()["image/png"]
    with pytest.raises(ValueError, match="name must be one of"):
        ActivationView(name="swish")
    with pytest.raises(ValueError, match="scale must lie in"):
        ActivationView(scale=100)
