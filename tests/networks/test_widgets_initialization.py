"""dlcv.networks.widgets: the controls change the statistics, the artists and the readout."""

import numpy as np
import pytest

from dlcv.networks.initialization import verdict
from dlcv.networks.widgets import InitializationView


@pytest.fixture
def view():
    return InitializationView(width=200)


def test_initial_state(view):
    assert view.renders == 1
    assert view.diagnosis == "vanishing activations"  # tanh + small
    assert "vanishing activations" in view.readout.value
    x, y = view.std_line.get_data()
    np.testing.assert_array_equal(x, np.arange(1, 11))
    np.testing.assert_allclose(y, view.stats.std)
    assert view.hist.titles[-1].get_text() == "layer 10"
    assert "image/png" in view._repr_mimebundle_()


def test_init_dropdown_changes_everything(view):
    r0, text0 = view.renders, view.readout.value
    counts0 = view.hist.patches[-1].get_data().values.copy()
    view.init.value = "xavier"
    assert view.renders == r0 + 1
    assert view.readout.value != text0 and "healthy" in view.readout.value
    assert not np.allclose(view.hist.patches[-1].get_data().values, counts0)
    np.testing.assert_allclose(view.std_line.get_data()[1], view.stats.std)
    np.testing.assert_allclose(view.grad_line.get_data()[1], view.stats.grad_std)
    assert view.diagnosis == verdict(view.stats) == "healthy"


def test_activation_and_depth(view):
    view.activation.value = "relu"
    view.init.value = "he"
    assert view.diagnosis == "healthy"
    assert view.hist.patches[0].get_data().edges[-1] == 4.0  # ReLU's histogram range
    view.depth.value = 4
    assert len(view.std_line.get_data()[0]) == 4
    assert sum(ax.get_visible() for ax in view.hist.axes) == 4
    assert view.ax_std.get_xlim() == (0.5, 4.5)
    view.depth.value = 20
    assert sum(ax.get_visible() for ax in view.hist.axes) == 8
    assert view.hist.titles[7].get_text() == "layer 20"


def test_scale_and_batch_norm(view):
    view.init.value = "xavier"
    view.scale.value = 10.0
    assert view.diagnosis == "saturated"
    assert view.stats.saturated[-1] > 0.5
    np.testing.assert_allclose(view.sat_line.get_data()[1], view.stats.saturated)
    view.batch_norm.value = True
    assert view.stats.saturated[-1] < 0.2
    assert "batch norm" in view.suptitle.get_text()


def test_bad_arguments():
    with pytest.raises(ValueError, match="activation must be one of"):
        InitializationView(activation="gelu")
    with pytest.raises(ValueError, match="init must be one of"):
        InitializationView(init="zeros")
    with pytest.raises(ValueError, match="depth must be"):
        InitializationView(depth=50)
