"""dlcv.networks.initialization: the activation statistics of a deep net at initialisation."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dlcv.networks.initialization import (
    HistogramRow,
    init_std,
    layer_statistics,
    spread_layers,
    verdict,
)


def test_init_std_prescriptions():
    assert init_std("small", 500) == 0.01
    assert init_std("large", 500) == 1.0
    assert init_std("xavier", 400) == pytest.approx(1 / 20)
    assert init_std("glorot", 100, 300) == pytest.approx(math.sqrt(2 / 400))
    assert init_std("he", 200) == pytest.approx(0.1)
    assert init_std("he", 200, scale=3) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="init must be one of"):
        init_std("kaiming", 10)
    with pytest.raises(ValueError, match="fan_in"):
        init_std("he", 0)


def test_shapes_and_histograms():
    s = layer_statistics("tanh", "xavier", depth=4, width=50, batch=100, bins=20)
    for a in (s.mean, s.std, s.saturated, s.dead, s.grad_std, s.delta_std):
        assert a.shape == (4,)
    assert s.edges.shape == (21,) and s.edges[0] == -1 and s.edges[-1] == 1
    assert s.counts.shape == (4, 20)
    np.testing.assert_allclose(s.counts.sum(1), 1.0)
    assert s.weight_std == pytest.approx(1 / math.sqrt(50))


def test_deterministic_for_a_seed():
    a = layer_statistics("relu", "he", depth=3, width=60, batch=80, seed=3)
    b = layer_statistics("relu", "he", depth=3, width=60, batch=80, seed=3)
    c = layer_statistics("relu", "he", depth=3, width=60, batch=80, seed=4)
    np.testing.assert_array_equal(a.std, b.std)
    np.testing.assert_array_equal(a.grad_std, b.grad_std)
    assert not np.array_equal(a.std, c.std)


def test_linear_layer_matches_the_variance_argument():
    # one linear layer: Var(h) = n * Var(w) * Var(x) = 500 * (1/500) * 1
    s = layer_statistics("linear", "xavier", depth=1)
    assert s.std[0] == pytest.approx(1.0, abs=0.02)
    s = layer_statistics("linear", "he", depth=1)
    assert s.std[0] == pytest.approx(math.sqrt(2), abs=0.03)


def test_he_relu_keeps_the_std_over_ten_layers():
    s = layer_statistics("relu", "he")
    assert 0.5 < s.std[-1] / s.std[0] < 2
    assert s.grad_std[0] / s.grad_std[-1] == pytest.approx(1, abs=0.5)
    assert verdict(s) == "healthy"
    # about half of the ReLUs are off
    assert s.saturated.mean() == pytest.approx(0.5, abs=0.05)


def test_xavier_relu_halves_the_variance_per_layer():
    s = layer_statistics("relu", "xavier")
    ratio = s.std[1:] / s.std[:-1]
    assert np.median(ratio) == pytest.approx(1 / math.sqrt(2), abs=0.05)
    assert verdict(s) == "vanishing activations"


def test_small_tanh_collapses_to_zero():
    s = layer_statistics("tanh", "small")
    assert s.std[-1] < 1e-5
    assert s.counts[-1].max() > 0.99  # every activation in the bin around 0
    assert verdict(s) == "vanishing activations"


def test_large_tanh_saturates():
    s = layer_statistics("tanh", "large")
    assert s.saturated[-1] > 0.9
    assert s.counts[-1][[0, -1]].sum() > 0.8  # piled up at -1 and +1
    assert verdict(s) == "saturated"


def test_xavier_tanh_is_healthy():
    s = layer_statistics("tanh", "xavier")
    assert 0.1 < s.std[-1] < 1 and s.saturated[-1] < 0.1
    assert verdict(s) == "healthy"


def test_large_relu_explodes_and_stays_finite():
    s = layer_statistics("relu", "large", depth=20, width=200, batch=200)
    assert np.all(np.isfinite(s.std)) and np.all(np.isfinite(s.grad_std))
    assert s.std[-1] > 1e15 * s.std[0]
    assert verdict(s) == "exploding activations"


def test_batch_norm_rescues_a_bad_init():
    s = layer_statistics("tanh", "small", batch_norm=True)
    assert s.std[-1] == pytest.approx(s.std[0], rel=0.05) and s.std[-1] > 0.5


def test_sigmoid_gradients_vanish():
    s = layer_statistics("sigmoid", "xavier")
    assert s.grad_std[0] < 1e-3 * s.grad_std[-1]
    assert verdict(s) == "vanishing gradients"


def test_scale_multiplies_the_weight_std():
    s = layer_statistics("linear", "xavier", depth=2, width=100, batch=200, scale=2.0)
    assert s.weight_std == pytest.approx(0.2)
    assert s.std[0] == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize("kwargs, match", [
    (dict(activation="softmax"), "activation must be one of"),
    (dict(init="orthogonal"), "init must be one of"),
    (dict(depth=0), "depth must be an int"),
    (dict(width=1), "width must be an int"),
    (dict(scale=-1.0), "scale must be a positive"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layer_statistics(**kwargs)


def test_spread_layers():
    assert spread_layers(10, 8)[0] == 0 and spread_layers(10, 8)[-1] == 9
    assert len(spread_layers(10, 8)) == 8
    assert spread_layers(3, 8) == [0, 1, 2]


def test_histogram_row_draws_in_place():
    fig, axes = plt.subplots(1, 4)
    row = HistogramRow(axes)
    s = layer_statistics("relu", "he", depth=6, width=100, batch=200)
    row.set_stats(s)
    assert row.layers == spread_layers(6, 4)
    np.testing.assert_allclose(row.patches[0].get_data().values, s.counts[0])
    assert row.titles[-1].get_text() == "layer 6"
    assert "near 0" in row.notes[0].get_text()  # the ReLU zeros are called out
    s2 = layer_statistics("tanh", "xavier", depth=2, width=100, batch=200)
    row.set_stats(s2)
    assert not axes[3].get_visible() and axes[1].get_visible()
    assert axes[0].get_xlim() == (-1.0, 1.0)
    with pytest.raises(ValueError, match="layers must be"):
        row.set_stats(s2, layers=[0, 5])
    plt.close(fig)
