"""dlcv.solver: the training loop on a model and update rule written here (torch as reference)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlcv.solver import Solver


class Softmax:
    """A linear softmax classifier with the model contract, gradients from torch autograd."""

    def __init__(self, D=4, C=3, seed=0):
        self.params = {"W": 0.01 * np.random.default_rng(seed).standard_normal((D, C)),
                       "b": np.zeros(C)}
        self.calls = 0

    def loss(self, X, y=None):
        W = torch.tensor(self.params["W"], requires_grad=True)
        b = torch.tensor(self.params["b"], requires_grad=True)
        scores = torch.tensor(X) @ W + b
        if y is None:
            return scores.detach().numpy()
        self.calls += 1
        loss = torch.nn.functional.cross_entropy(scores, torch.tensor(y))
        loss.backward()
        return loss.item(), {"W": W.grad.numpy(), "b": b.grad.numpy()}


def sgd(w, dw, config):
    config.setdefault("learning_rate", 1e-2)
    return w - config["learning_rate"] * dw, config


def blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[3.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 3.0, 0]])
    y = np.arange(n) % 3
    return centres[y] + rng.normal(size=(n, 4)), y


@pytest.fixture
def data():
    Xtr, ytr = blobs(90, 0)
    Xva, yva = blobs(30, 1)
    return {"X_train": Xtr, "y_train": ytr, "X_val": Xva, "y_val": yva}


def test_trains_and_keeps_history(data):
    model = Softmax()
    s = Solver(model, data, sgd, {"learning_rate": 0.5}, num_epochs=5, batch_size=30,
               verbose=False, progress=False)
    s.train()
    assert len(s.loss_history) == 5 * 3 == model.calls
    assert len(s.train_acc_history) == len(s.val_acc_history) == 5
    assert s.loss_history[-1] < s.loss_history[0] < np.log(3) + 0.05
    assert s.best_val_acc == max(s.val_acc_history) >= 0.9
    assert s.check_accuracy(data["X_val"], data["y_val"]) == pytest.approx(s.best_val_acc)


def test_one_step_is_the_update_rule(data):
    model = Softmax()
    W0 = model.params["W"].copy()
    X, y = data["X_train"][:30], data["y_train"][:30]
    _, grads = Softmax().loss(X, y)  # same initial weights (same seed)
    s = Solver(model, data, sgd, {"learning_rate": 0.1}, num_epochs=1, batch_size=90,
               verbose=False, progress=False)
    s._step(np.arange(30))
    np.testing.assert_allclose(model.params["W"], W0 - 0.1 * grads["W"])


def test_each_parameter_has_its_own_config_and_lr_decays(data):
    seen = []

    def counting_rule(w, dw, config):
        config["n"] = config.get("n", 0) + 1
        seen.append(id(config))
        return w - config["learning_rate"] * dw, config

    s = Solver(Softmax(), data, counting_rule, {"learning_rate": 1.0}, lr_decay=0.5, num_epochs=3,
               batch_size=45, verbose=False, progress=False)
    s.train()
    assert s.optim_configs["W"] is not s.optim_configs["b"]
    assert s.optim_configs["W"]["n"] == s.optim_configs["b"]["n"] == 6
    assert s.optim_configs["W"]["learning_rate"] == pytest.approx(0.125)
    assert s.optim_config["learning_rate"] == 1.0  # the caller's dict is not modified


def test_best_params_are_restored_and_checkpointed(data, tmp_path):
    model = Softmax()
    s = Solver(model, data, sgd, {"learning_rate": 0.5}, num_epochs=4, batch_size=30,
               checkpoint_name=str(tmp_path / "run"), verbose=False, progress=False)
    s.train()
    for k in model.params:
        np.testing.assert_array_equal(model.params[k], s.best_params[k])
    params, meta = Solver.load_checkpoint(tmp_path / "run_best.npz")
    assert meta["epoch"] == s.best_epoch and meta["best_val_acc"] == s.best_val_acc
    for k in model.params:
        np.testing.assert_array_equal(params[k], s.best_params[k])


def test_divergence_stops_with_a_message(data, capsys):
    def exploding(w, dw, config):
        return w * 1e200, config

    s = Solver(Softmax(), data, exploding, num_epochs=3, batch_size=30, verbose=False,
               progress=False)
    s.train()
    assert s.stopped_early and "learning rate" in s.stopped_early
    assert "Solver stopped" in capsys.readouterr().out
    assert len(s.loss_history) < 9


@pytest.mark.parametrize("bad, message", [
    (lambda d: {k: v for k, v in d.items() if k != "y_val"}, "missing"),
    (lambda d: {**d, "y_train": d["y_train"][:-1]}, "y_train must have shape"),
    (lambda d: {**d, "y_val": d["y_val"].astype(float)}, "integer class labels"),
    (lambda d: {**d, "X_train": d["X_train"][:, 0]}, "X_train must have shape"),
])
def test_bad_data_is_named(data, bad, message):
    with pytest.raises(ValueError, match=message):
        Solver(Softmax(), bad(data), sgd)


def test_bad_model_and_rule(data):
    with pytest.raises(TypeError, match="update_rule"):
        Solver(Softmax(), data, "sgd")
    with pytest.raises(TypeError, match="params"):
        Solver(object(), data, sgd)

    class NoGrad(Softmax):
        def loss(self, X, y=None):
            out = super().loss(X, y)
            return out if y is None else (out[0], {"W": out[1]["W"]})

    with pytest.raises(KeyError, match="'b'"):
        Solver(NoGrad(), data, sgd, progress=False, verbose=False).train()

    def wrong_shape(w, dw, config):
        return w.ravel(), config

    with pytest.raises(ValueError, match="expected shape"):
        Solver(Softmax(), data, wrong_shape, progress=False, verbose=False).train()
