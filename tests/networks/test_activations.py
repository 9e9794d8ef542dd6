"""dlcv.networks.activations: values against closed forms, autograd derivatives against hand-derived ones
and against finite differences, saturation numbers, clear errors."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from dlcv.gradcheck import rel_error
from dlcv.networks import activations as A

# points away from the kinks at 0 (where the ReLU family has no derivative)
X = np.array([-4.0, -2.5, -1.0, -0.3, 0.2, 0.7, 1.5, 3.0])
SIG = 1 / (1 + np.exp(-X))


@pytest.mark.parametrize("name,params,f,df", [
    ("sigmoid", {}, SIG, SIG * (1 - SIG)),
    ("tanh", {}, np.tanh(X), 1 - np.tanh(X) ** 2),
    ("relu", {}, np.maximum(0, X), (X > 0).astype(float)),
    ("leaky_relu", {}, np.where(X > 0, X, 0.01 * X), np.where(X > 0, 1, 0.01)),
    ("leaky_relu", {"slope": 0.2}, np.where(X > 0, X, 0.2 * X), np.where(X > 0, 1, 0.2)),
    ("prelu", {"a": -0.5}, np.where(X > 0, X, -0.5 * X), np.where(X > 0, 1, -0.5)),
    ("elu", {}, np.where(X > 0, X, np.exp(X) - 1), np.where(X > 0, 1, np.exp(X))),
    ("elu", {"alpha": 0.5}, np.where(X > 0, X, 0.5 * (np.exp(X) - 1)),
     np.where(X > 0, 1, 0.5 * np.exp(X))),
    ("maxout", {"w1": 1.0, "b1": 0.0, "w2": -0.5, "b2": 0.0}, np.maximum(X, -0.5 * X),
     np.where(X > 0, 1.0, -0.5)),
    ("maxout", {"w1": 2.0, "b1": 1.0, "w2": 0.5, "b2": 0.0}, np.maximum(2 * X + 1, 0.5 * X),
     np.where(2 * X + 1 > 0.5 * X, 2.0, 0.5)),
    ("softplus", {}, np.log1p(np.exp(X)), SIG),
    ("gelu", {}, X * norm.cdf(X), norm.cdf(X) + X * norm.pdf(X)),
])
def test_values_and_derivatives_match_closed_forms(name, params, f, df):
    np.testing.assert_allclose(A.activation(name, X, **params), f, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(A.derivative(name, X, **params), df, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("name", A.ACTIVATIONS)
def test_derivative_matches_finite_differences(name):
    h = 1e-5
    num = (A.activation(name, X + h) - A.activation(name, X - h)) / (2 * h)
    assert rel_error(A.derivative(name, X), num) < 1e-6


def test_shapes_and_types_are_kept():
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    for name in A.ACTIVATIONS:
        assert A.activation(name, x).shape == (3, 4)
        d = A.derivative(name, x)
        assert d.shape == (3, 4) and d.dtype == np.float64
    assert A.derivative("tanh", 0.0) == pytest.approx(1.0)
    assert A.derivative("sigmoid", [0.0])[0] == pytest.approx(0.25)


def test_activation_torch_learns_the_prelu_slope():
    a = torch.tensor(0.25, requires_grad=True)
    t = torch.tensor([-2.0, 3.0])
    A.activation_torch("prelu", t, a=a).sum().backward()
    assert a.grad.item() == pytest.approx(-2.0)  # d/da of a * min(0, x) summed


def test_saturation_numbers():
    x = np.array([-10.0, -3.0, 0.0, 3.0, 10.0])
    # sigmoid'(3) = 0.045 < 0.05, sigmoid'(0) = 0.25
    assert A.saturation("sigmoid", x, 0.05) == pytest.approx(4 / 5)
    assert A.saturation("sigmoid", x, 0.01) == pytest.approx(2 / 5)
    assert A.saturation("relu", x, 0.05) == pytest.approx(3 / 5)  # x <= 0: relu'(0) = 0
    assert A.saturation("leaky_relu", x, 0.05, slope=0.1) == 0.0
    # on z ~ N(0, s^2): tanh'(z) < t  <=>  |z| > atanh(sqrt(1 - t))
    s, t = 3.0, 0.05
    z = s * np.random.default_rng(0).standard_normal(200_000)
    expected = 2 * norm.sf(math.atanh(math.sqrt(1 - t)) / s)
    assert A.saturation("tanh", z, t) == pytest.approx(expected, abs=0.005)


def test_summary():
    v = A.summary("sigmoid", 1.0)
    assert v["mean_output"] == pytest.approx(0.5, abs=0.01) and not v["zero_centred"]
    assert v["dead"] == 0.0
    assert A.summary("tanh", 1.0)["zero_centred"]
    r = A.summary("relu", 1.0)
    assert r["dead"] == pytest.approx(0.5, abs=0.02)
    assert r["mean_output"] == pytest.approx(1 / math.sqrt(2 * math.pi), abs=0.02)
    assert A.summary("sigmoid", 10.0)["saturated"] > A.summary("sigmoid", 1.0)["saturated"] + 0.5
    assert A.summary("prelu", 1.0, a=1.0)["zero_centred"]  # a = 1 is the identity


def test_every_activation_has_info_and_params():
    assert set(A.INFO) == set(A.ACTIVATIONS) == set(A.PARAMS)


def test_errors():
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        A.activation("swish", X)
    with pytest.raises(ValueError, match="unknown activation"):
        A.derivative("Relu", X)
    with pytest.raises(ValueError, match="takes no parameters"):
        A.activation("relu", X, slope=0.1)
    with pytest.raises(ValueError, match="unexpected alpha"):
        A.derivative("leaky_relu", X, alpha=0.1)
    with pytest.raises(ValueError, match="threshold must be > 0"):
        A.saturation("tanh", X, 0.0)
    with pytest.raises(ValueError, match="finite"):
        A.activation("tanh", [np.nan])
    with pytest.raises(ValueError, match="alpha of elu must be >= 0"):
        A.activation("elu", X, alpha=-1)
    with pytest.raises(ValueError, match="scale must be > 0"):
        A.summary("tanh", 0.0)
