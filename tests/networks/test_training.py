"""dlcv.networks.training: the network builder and the minibatch training loop of lecture 05."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from dlcv.data import load_digits
from dlcv.networks.training import cosine_cycles, evaluate, fit, make_net, predict_proba


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits()
    X = X.reshape(len(X), -1) / 16.0
    X = (X - X.mean(0)) / (X.std(0) + 0.1)
    return X[:600], y[:600], X[600:900], y[600:900]


def test_make_net_layout_and_init():
    net = make_net(64, 10, hidden=32, layers=2, batch_norm=True, dropout=0.5, init="xavier")
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Dropout"] * 2 + ["Linear"]
    assert net[0].weight.std().item() == pytest.approx(1 / 8, rel=0.1)
    assert torch.all(net[0].bias == 0)
    a, b = make_net(64, 10, seed=1), make_net(64, 10, seed=1)
    assert torch.equal(a[0].weight, b[0].weight)
    with pytest.raises(ValueError, match="init must be one of"):
        make_net(64, 10, init="zeros")
    with pytest.raises(ValueError, match="dropout must be"):
        make_net(64, 10, dropout=1.0)


def test_initial_loss_is_log_c(digits):
    X, y, _, _ = digits
    net = make_net(64, 10, init="small")
    loss, acc = evaluate(net, X, y)
    assert loss == pytest.approx(math.log(10), abs=0.01)


def test_fit_learns_and_records(digits):
    X, y, Xv, yv = digits
    net = make_net(64, 10, hidden=32)
    h = fit(net, X, y, Xv, yv, epochs=5, batch_size=50, lr=0.05, track_updates=True,
            snapshot_epochs=(2, 5))
    assert len(h.loss) == 5 * 12 and h.update_ratio.shape == (60, 3)
    assert h.val_acc.shape == (6,) and h.val_acc[-1] > 0.8 and h.val_acc[0] < 0.3
    assert h.train_loss[-1] < h.train_loss[0]
    assert 1e-4 < np.median(h.update_ratio) < 1e-1
    assert set(h.snapshots) == {2, 5}
    assert h.best_epoch == int(np.argmax(h.val_acc))
    net.load_state_dict(h.best_state)
    assert evaluate(net, Xv, yv)[1] == pytest.approx(h.val_acc[h.best_epoch])
    p = predict_proba(net, Xv)
    assert p.shape == (300, 10)
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-6)


def test_fit_is_deterministic(digits):
    X, y, Xv, yv = digits
    h1 = fit(make_net(64, 10, hidden=16), X, y, Xv, yv, epochs=2)
    h2 = fit(make_net(64, 10, hidden=16), X, y, Xv, yv, epochs=2)
    np.testing.assert_array_equal(h1.loss, h2.loss)


def test_clipping_bounds_the_step_and_divergence_is_caught(digits):
    X, y, Xv, yv = digits
    h = fit(make_net(64, 10, init="large"), X, y, Xv, yv, epochs=2, lr=1.0, optimizer="sgd")
    assert h.diverged or h.grad_norm.max() > 100
    h = fit(make_net(64, 10, hidden=16), X, y, epochs=1, lr=0.1, clip_norm=0.5,
            track_updates=True, optimizer="sgd")
    assert not h.diverged and np.all(np.isfinite(h.loss))
    # with plain SGD the step of every parameter is lr * clipped gradient: norm <= lr * 0.5
    w_norm = np.linalg.norm(make_net(64, 10, hidden=16)[0].weight.detach().numpy())
    assert h.update_ratio[0, 0] * w_norm <= 0.1 * 0.5 + 1e-6


def test_schedule_and_ema(digits):
    X, y, Xv, yv = digits
    sched = cosine_cycles(12)
    assert sched(0) == 1 and sched(6) == pytest.approx(0.5) and sched(12) == 1
    h = fit(make_net(64, 10, hidden=16), X, y, Xv, yv, epochs=2, batch_size=50, lr=0.1,
            lr_schedule=sched, ema_decay=0.9)
    np.testing.assert_allclose(h.lr[:12], [0.1 * sched(t) for t in range(12)])
    assert h.ema_val_acc.shape == (3,) and h.ema_val_acc[-1] > 0.5
    assert isinstance(h.ema_model.module, nn.Sequential)


def test_bad_arguments(digits):
    X, y, _, _ = digits
    net = make_net(64, 10)
    with pytest.raises(ValueError, match=r"X must have shape \(N, 64\)"):
        fit(net, X[:, :10], y)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        fit(net, X, y, optimizer="lbfgs")
    with pytest.raises(ValueError, match="lr must be"):
        fit(net, X, y, lr=0)


def test_fit_takes_images_for_a_convolutional_model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 1, 6, 6)).astype(np.float32)
    y = (X[:, 0, :3].sum(axis=(1, 2)) > X[:, 0, 3:].sum(axis=(1, 2))).astype(np.int64)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(4 * 36, 2))
    hist = fit(model, X, y, epochs=15, batch_size=16, lr=0.05)
    assert hist.train_loss[-1] < hist.train_loss[0]
    assert evaluate(model, X, y)[1] > 0.9
    assert predict_proba(model, X[:5]).shape == (5, 2)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        evaluate(model, X[:, 0], y)
