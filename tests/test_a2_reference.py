"""Assignment a2's reference solution, taken from the source notebook, against torch.

The nbgrader round trip (test_nbgrader) proves the source edition earns full marks; these tests
check the reference itself more widely than the notebook's hidden tests do: every update rule
against torch.optim on the same problem for many steps, and the layers against torch autograd.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import REPO

from autograder.notebooks import answer_cells, read

NOTEBOOK = REPO / "assignments" / "a2_neural_networks" / "a2_neural_networks.ipynb"


@pytest.fixture(scope="module")
def ref():
    ns: dict = {"np": np}
    for cell in answer_cells(read(NOTEBOOK)).values():
        if "best_model" not in cell.source:  # the training cell needs the data
            exec(compile(cell.source, str(NOTEBOOK), "exec"), ns)  # noqa: S102 - our notebook
    return ns


def rosenbrock_grad(w):
    """Gradient of sum over pairs of (1 - x)^2 + 10 (y - x^2)^2, for w of shape (k, 2)."""
    x, y = w[:, 0], w[:, 1]
    return np.stack([-2 * (1 - x) - 40 * x * (y - x**2), 20 * (y - x**2)], axis=1)


def torch_path(opt_name, kwargs, w0, steps):
    w = torch.tensor(w0, requires_grad=True)
    opt = getattr(torch.optim, opt_name)([w], **kwargs)
    path = [w0.copy()]
    for _ in range(steps):
        opt.zero_grad()
        x, y = w[:, 0], w[:, 1]
        ((1 - x) ** 2 + 10 * (y - x**2) ** 2).sum().backward()
        opt.step()
        path.append(w.detach().numpy().copy())
    return np.array(path)


def numpy_path(rule, config, w0, steps):
    w, path, config = w0.copy(), [w0.copy()], dict(config)
    for _ in range(steps):
        w, config = rule(w, rosenbrock_grad(w), config)
        path.append(np.array(w, copy=True))
    return np.array(path)


CASES = [
    ("sgd", {"learning_rate": 2e-3}, "SGD", {"lr": 2e-3}),
    ("sgd_momentum", {"learning_rate": 1e-3, "momentum": 0.9}, "SGD", {"lr": 1e-3, "momentum": 0.9}),
    ("nesterov", {"learning_rate": 1e-3, "momentum": 0.95},
     "SGD", {"lr": 1e-3, "momentum": 0.95, "nesterov": True}),
    ("adagrad", {"learning_rate": 0.1}, "Adagrad", {"lr": 0.1}),
    ("rmsprop", {"learning_rate": 1e-2, "decay_rate": 0.9}, "RMSprop", {"lr": 1e-2, "alpha": 0.9}),
    ("adam", {"learning_rate": 2e-2, "beta1": 0.8, "beta2": 0.99},
     "Adam", {"lr": 2e-2, "betas": (0.8, 0.99)}),
]


@pytest.mark.parametrize("rule, config, opt, kwargs", CASES, ids=[c[0] for c in CASES])
def test_update_rule_follows_torch_optim_on_rosenbrock(ref, rule, config, opt, kwargs):
    w0 = np.array([[-1.2, 1.0], [0.5, -0.5], [1.5, 2.0]])  # three independent 2-D problems
    ours = numpy_path(ref[rule], config, w0, 200)
    theirs = torch_path(opt, kwargs, w0, 200)
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-9)
    assert np.all(np.isfinite(ours))


def test_layers_match_torch_autograd(ref):
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(6, 2, 5)), rng.normal(size=(10, 4)), rng.normal(size=4)
    gamma, beta = rng.normal(size=4), rng.normal(size=4)
    y = rng.integers(0, 4, 6)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in
         dict(x=x, w=w, b=b, gamma=gamma, beta=beta).items()}
    a = t["x"].reshape(6, -1) @ t["w"] + t["b"]
    h = torch.nn.functional.batch_norm(a, None, None, t["gamma"], t["beta"], training=True)
    h = torch.nn.functional.layer_norm(torch.relu(h), (4,), t["gamma"], t["beta"])
    loss = torch.nn.functional.cross_entropy(h, torch.tensor(y))
    loss.backward()

    out1, c1 = ref["affine_forward"](x, w, b)
    out2, c2 = ref["batchnorm_forward"](out1, gamma, beta, {"mode": "train"})
    out3, c3 = ref["relu_forward"](out2)
    out4, c4 = ref["layernorm_forward"](out3, gamma, beta, {})
    our_loss, d4 = ref["softmax_loss"](out4, y)
    d3, dg2, db2 = ref["layernorm_backward"](d4, c4)
    d2 = ref["relu_backward"](d3, c3)
    d1, dg1, db1 = ref["batchnorm_backward"](d2, c2)
    dx, dw, db = ref["affine_backward"](d1, c1)
    assert our_loss == pytest.approx(loss.item(), rel=1e-10)
    for ours, name in ((dx, "x"), (dw, "w"), (db, "b"), (dg1 + dg2, "gamma"), (db1 + db2, "beta")):
        np.testing.assert_allclose(ours, t[name].grad.numpy(), rtol=1e-6, atol=1e-10, err_msg=name)


def test_fully_connected_net_matches_torch_module(ref):
    """The reference FullyConnectedNet (batch norm, eval mode too) against an nn.Sequential."""
    rng = np.random.default_rng(1)
    net = ref["FullyConnectedNet"]([8, 6], input_dim=5, num_classes=3, normalization="batchnorm",
                                   reg=0.0, weight_scale=0.5, seed=0)
    seq = torch.nn.Sequential(
        torch.nn.Linear(5, 8), torch.nn.BatchNorm1d(8, momentum=0.1), torch.nn.ReLU(),
        torch.nn.Linear(8, 6), torch.nn.BatchNorm1d(6, momentum=0.1), torch.nn.ReLU(),
        torch.nn.Linear(6, 3)).double()
    with torch.no_grad():
        for i, lin in ((1, seq[0]), (2, seq[3]), (3, seq[6])):
            lin.weight.copy_(torch.tensor(net.params[f"W{i}"].T))
            lin.bias.copy_(torch.tensor(net.params[f"b{i}"]))
    X, y = rng.normal(size=(16, 5)), rng.integers(0, 3, 16)
    loss, grads = net.loss(X, y)
    t_loss = torch.nn.functional.cross_entropy(seq(torch.tensor(X)), torch.tensor(y))
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=1e-10)
    np.testing.assert_allclose(grads["W1"], seq[0].weight.grad.numpy().T, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(grads["gamma2"], seq[4].weight.grad.numpy(), rtol=1e-6, atol=1e-10)
    # Running averages: ours keep 0.9 of the old value, torch's momentum=0.1 means the same;
    # torch's running_var uses the unbiased variance, ours the biased one (CS231n's convention).
    np.testing.assert_allclose(net.bn_params[0]["running_mean"], seq[1].running_mean.numpy())
    seq.eval()
    scores = net.loss(X[:2])
    seq[1].running_var.copy_(torch.tensor(net.bn_params[0]["running_var"]))
    seq[4].running_var.copy_(torch.tensor(net.bn_params[1]["running_var"]))
    np.testing.assert_allclose(scores, seq(torch.tensor(X[:2])).detach().numpy(), rtol=1e-6)
