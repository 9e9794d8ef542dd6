"""dlcv.networks.widgets: the controls refit (or reuse) a network; regions, curve and readout follow."""

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from dlcv.networks.widgets import MLPCapacityView, data_box, region_colours
from dlcv.plots import CLASS_COLORS


@pytest.fixture(scope="module")
def view():
    return MLPCapacityView(steps=300)


def test_initial_state(view):
    assert view.renders >= 1
    v = view.values
    assert v["num_params"] == 2 * 10 + 10 + 10 * 2 + 2
    assert f"{v['num_params']} parameters" in view.readout.value
    assert f"train accuracy {100 * v['train_accuracy']:.1f}%" in view.readout.value
    assert view.im.get_array().shape == (120, 120, 3)
    assert len(view.loss_line.get_xdata()) == 300
    np.testing.assert_allclose(view.points.get_offsets(), view.data("moons")[0])


def test_hidden_units_change_regions_and_readout(view):
    view.dataset.value = "circles"
    view.hidden.value = 1
    img1, acc1, r1 = np.array(view.im.get_array()), view.values["train_accuracy"], view.renders
    view.hidden.value = 50
    assert view.renders == r1 + 1
    assert view.values["train_accuracy"] > 0.97 > acc1 + 0.2
    assert view.values["num_params"] == 2 * 50 + 50 + 50 * 2 + 2
    assert not np.allclose(view.im.get_array(), img1)
    assert "[2-50-2]" in view.title.get_text()


def test_going_back_uses_the_cache(view):
    view.dataset.value = "moons"
    view.hidden.value = 5
    n = len(view.cache)
    res = view.result
    view.hidden.value = 20
    view.hidden.value = 5
    assert view.result is res and len(view.cache) == n + 1
    assert "cached" in view.readout.value


def test_layers_reg_and_activation(view):
    view.dataset.value = "spiral"
    view.hidden.value = 10
    view.layers.value = 2
    assert view.values["num_params"] == (2 * 10 + 10) + (10 * 10 + 10) + (10 * 3 + 3)
    assert "[2-10-10-3]" in view.title.get_text()
    view.layers.value = 1
    view.activation.value = "tanh"
    assert "tanh" in view.title.get_text()
    h0 = view.loss_line.get_ydata()[-1]
    view.reg.value = 0.1
    assert view.loss_line.get_ydata()[-1] > h0  # the penalty keeps the objective up


def test_helpers_and_errors():
    rgb = region_colours(np.array([[0, 1]]), np.array([[1.0, 0.5]]), 2)
    assert rgb.shape == (1, 2, 3) and rgb.min() >= 0 and rgb.max() <= 1
    orange = np.array(to_rgb(CLASS_COLORS[1]))
    np.testing.assert_allclose(rgb[0, 1], 1 - 0.1 * (1 - orange))  # unsure: nearly white
    blue = np.array(to_rgb(CLASS_COLORS[0]))
    np.testing.assert_allclose(rgb[0, 0], 1 - 0.5 * (1 - blue))  # sure: half the class colour
    assert data_box(np.array([[0.1, -0.2], [1.1, 0.9]])) == (-0.5, 1.5, -0.5, 1.5)
    with pytest.raises(ValueError, match="same shape|one shape"):
        region_colours(np.zeros((2, 2), int), np.zeros((3, 2)), 2)
    with pytest.raises(ValueError, match="dataset must be one of"):
        MLPCapacityView(dataset="swiss roll")
    with pytest.raises(ValueError, match="hidden must be one of"):
        MLPCapacityView(hidden=7)
