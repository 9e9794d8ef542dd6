"""dlcv.networks.mlp: architecture and parameter counts, deterministic training, capacity on toy data."""

import numpy as np
import pytest
import torch
from torch import nn

from dlcv.networks import mlp


def test_toy_data():
    for name in mlp.TOY_SETS:
        X, y = mlp.toy_data(name)
        assert X.ndim == 2 and X.shape[1] == 2 and y.shape == (len(X),)
    X1, _ = mlp.toy_data("moons", seed=1, n=50)
    assert X1.shape == (50, 2)
    with pytest.raises(ValueError, match="unknown data set 'moon'"):
        mlp.toy_data("moon")


@pytest.mark.parametrize("sizes,neurons,params", [([3, 4, 2], 6, 26), ([3, 4, 4, 1], 9, 41)])
def test_parameter_counts_match_cs231n_examples(sizes, neurons, params):
    d, *hidden, c = sizes
    layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    assert mlp.count_parameters(nn.Sequential(*layers)) == params
    assert sum(hidden) + c == neurons
    if len(set(hidden)) == 1 and c >= 2:
        assert mlp.count_parameters(mlp.make_mlp(d, hidden[0], c, layers=len(hidden))) == params


def test_make_mlp_structure_and_prelu_parameter():
    net = mlp.make_mlp(2, 5, 3, layers=2, activation="tanh")
    assert [type(m).__name__ for m in net] == ["Linear", "Activation", "Linear", "Activation",
                                               "Linear"]
    assert mlp.count_parameters(net) == (2 * 5 + 5) + (5 * 5 + 5) + (5 * 3 + 3)
    assert mlp.count_parameters(mlp.make_mlp(2, 5, 3, activation="prelu")) == 15 + 18 + 1
    assert mlp.count_parameters(mlp.make_mlp(2, 5, 3, layers=0)) == 9  # linear classifier
    assert all(torch.all(m.bias == 0) for m in net if isinstance(m, nn.Linear))
    x = torch.randn(7, 2)
    assert net(x).shape == (7, 3)
    with pytest.raises(ValueError, match="activation must be one of"):
        mlp.make_mlp(2, 5, 3, activation="maxout")
    with pytest.raises(ValueError, match="hidden must be an int >= 1"):
        mlp.make_mlp(2, 0, 3)


def test_training_is_deterministic_and_leaves_global_rng_alone():
    X, y = mlp.toy_data("moons")
    torch.manual_seed(123)
    state = torch.get_rng_state()
    r1 = mlp.train_mlp(X, y, hidden=8, steps=50, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    r2 = mlp.train_mlp(X, y, hidden=8, steps=50, seed=3)
    np.testing.assert_array_equal(r1.loss_history, r2.loss_history)
    r3 = mlp.train_mlp(X, y, hidden=8, steps=50, seed=4)
    assert not np.array_equal(r1.loss_history, r3.loss_history)


def test_result_fields_and_predictions():
    X, y = mlp.toy_data("spiral")
    r = mlp.train_mlp(X, y, hidden=20, steps=300)
    assert r.loss_history.shape == (300,) and r.loss_history[-1] < r.loss_history[0]
    assert r.num_params == 2 * 20 + 20 + 20 * 3 + 3 and r.num_classes == 3
    P = r.predict_proba(X)
    assert P.shape == (len(X), 3)
    np.testing.assert_allclose(P.sum(1), 1, atol=1e-6)
    assert np.mean(r.predict(X) == y) == pytest.approx(r.train_accuracy)
    # the final data loss is the cross-entropy of the predicted probabilities
    assert r.data_loss == pytest.approx(-np.mean(np.log(P[np.arange(len(y)), y])), rel=1e-4)
    labels, conf = r.regions((-1.5, 1.5, -1.5, 1.5), steps=30)
    assert labels.shape == conf.shape == (30, 30)
    assert conf.min() >= 1 / 3 - 1e-6 and conf.max() <= 1 + 1e-6
    assert set(np.unique(labels)) == {0, 1, 2}


def test_capacity_enough_units_fit_one_unit_does_not():
    X, y = mlp.toy_data("moons")
    assert mlp.train_mlp(X, y, hidden=20).train_accuracy > 0.95
    for name in ("circles", "spiral"):
        X, y = mlp.toy_data(name)
        assert mlp.train_mlp(X, y, hidden=1).train_accuracy < 0.75, name
        assert mlp.train_mlp(X, y, hidden=50).train_accuracy > 0.97, name


def test_regularisation_shrinks_weights_and_smooths_the_fit():
    X, y = mlp.toy_data("noisy moons")
    free = mlp.train_mlp(X, y, hidden=100, reg=0.0, steps=800)
    reg = mlp.train_mlp(X, y, hidden=100, reg=1e-2, steps=800)
    norm = [sum(float((m.weight.detach() ** 2).sum()) for m in r.model if isinstance(m, nn.Linear))
            for r in (free, reg)]
    assert norm[1] < 0.5 * norm[0]
    assert free.train_accuracy > reg.train_accuracy


def test_errors():
    X, y = mlp.toy_data("moons")
    with pytest.raises(ValueError, match=r"X must have shape \(N, D\)"):
        mlp.train_mlp(X[:, 0], y)
    with pytest.raises(ValueError, match=r"y must be \(200,\) integer labels"):
        mlp.train_mlp(X, y.astype(float))
    with pytest.raises(ValueError, match="labels y must lie in 0..1"):
        mlp.train_mlp(X, y + 1, num_classes=2)
    with pytest.raises(ValueError, match="reg must be >= 0"):
        mlp.train_mlp(X, y, reg=-1)
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        mlp.train_mlp(X, y, steps=0)
    r = mlp.train_mlp(X, y, hidden=2, steps=2)
    with pytest.raises(ValueError, match=r"X must have shape \(N, 2\)"):
        r.predict(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="box must be"):
        r.regions((1, 0, 0, 1))
