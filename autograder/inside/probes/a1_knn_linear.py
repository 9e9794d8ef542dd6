"""Probes of assignment a1: harnesses around the student's LinearClassifier and search.

Each returns what it saw as plain data; the hidden tests (trusted) judge it.
"""

from __future__ import annotations

import numpy as np


def constant_gradient_train(ns, X, y, W0=None, **train_kwargs):
    """Train a subclass of the student's LinearClassifier whose loss is 2.5 with gradient 1
    everywhere. Returns (loss_history, W after training)."""

    class ConstantGradient(ns["LinearClassifier"]):
        def loss(self, X_batch, y_batch, reg):
            return 2.5, np.ones_like(self.W)

    m = ConstantGradient()
    if W0 is not None:
        m.W = W0
    hist = m.train(X, y, **train_kwargs)
    return hist, m.W


def recorder_train(ns, X, y, W0=None, **train_kwargs):
    """Train a subclass whose loss records every batch: loss = the step number, gradient = the
    batch's column means in every class. Returns (loss_history, W, [(X_batch, y_batch, reg)])."""
    calls = []

    class Recorder(ns["LinearClassifier"]):
        def loss(self, X_batch, y_batch, reg):
            calls.append((np.array(X_batch, copy=True), np.array(y_batch, copy=True), reg))
            g = np.repeat(np.mean(X_batch, axis=0)[:, None], self.W.shape[1], axis=1)
            return float(len(calls)), g

    m = Recorder()
    if W0 is not None:
        m.W = W0
    hist = m.train(X, y, **train_kwargs)
    return hist, m.W, calls


def fake_model_search(ns, accuracies, X_train, y_train, X_val, y_val, learning_rates, regs,
                      num_iters):
    """Run the student's tune_linear_classifier with a stand-in model class whose accuracy for
    each (lr, reg) is given: on the 20 training rows accuracies[(lr, reg)][0], on the 10
    validation rows [1]. Returns (results, the best model's setting or None, the num_iters of
    every model trained, whether the best is one of the stand-ins, the settings trained, in order,
    the best model's type name)."""
    made = []

    class FakeModel:
        def __init__(self):
            self.W, self.setting, self.num_iters = None, None, None
            made.append(self)

        def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200, seed=0,
                  verbose=False):
            self.setting, self.num_iters = (learning_rate, reg), num_iters
            return [0.0] * num_iters

        def predict(self, X):
            acc = accuracies[self.setting][0 if len(X) == 20 else 1]
            n_right = int(round(acc * len(X)))
            return np.r_[np.zeros(n_right, dtype=np.int64), np.ones(len(X) - n_right, dtype=np.int64)]

    results, best = ns["tune_linear_classifier"](FakeModel, X_train, y_train, X_val, y_val,
                                                  learning_rates, regs, num_iters=num_iters)
    is_fake = isinstance(best, FakeModel)
    trained = [m for m in made if m.setting is not None]
    return (results, best.setting if is_fake else None, [m.num_iters for m in trained], is_fake,
            [m.setting for m in trained], type(best).__name__)


def _flatten(X):
    return X.reshape(X.shape[0], -1).astype(np.float64)


def _data(dataset: str):
    """The notebook's data, loaded here as the notebook loads it (images and training labels)."""
    from dlcv.data import load_classification

    return load_classification(dataset, num_train=49000, num_val=1000, num_test=1000, num_dev=500)


def knn_predict_test(ns, dataset: str, k: int, sizes=None):
    """The student's compute_distances_no_loops + predict_labels on the notebook's test images
    (kNN rows: the first `sizes` = (train, test) of each split). Returns y_pred."""
    data = _data(dataset)
    n_tr, n_te = sizes or (len(data.y_train), len(data.X_test))
    X_train, y_train = _flatten(data.X_train[:n_tr]), data.y_train[:n_tr]
    X_test = _flatten(data.X_test[:n_te])
    return ns["predict_labels"](ns["compute_distances_no_loops"](X_test, X_train), y_train, k=k)


def linear_train(ns, dataset: str, class_name: str, **setting):
    """Train the student's LinearSVM or Softmax on the notebook's (centred, bias-column) training
    split. Returns (loss_history, W)."""
    data = _data(dataset)
    n = data.X_train.shape[0]
    X = np.empty((n, data.X_train[0].size + 1))  # filled in place: CIFAR-10 needs 1.2 GB once, not thrice
    X[:, :-1] = data.X_train.reshape(n, -1)
    X[:, :-1] -= X[:, :-1].mean(axis=0)
    X[:, -1] = 1.0
    m = ns[class_name]()
    hist = m.train(X, data.y_train, seed=0, **setting)
    return hist, m.W
