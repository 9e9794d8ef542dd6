"""Probes of assignment a2: harnesses around the student's layers, update rules and networks.

Each returns what it saw as plain data; the hidden tests (trusted) judge it. The same probes run
on the reference solution (`ref.probe`), so both sides are driven the same way.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np


# ------------------------------------------------------------------------------------------
# layers and update rules
# ------------------------------------------------------------------------------------------
def forward_backward(ns, forward: str, backward: str, args, dout):
    """out, cache = forward(*args); then backward(dout, cache). Returns (out, the backward's
    result): the backward pass gets the cache of the same side's forward pass."""
    out, cache = ns[forward](*args)
    return out, ns[backward](dout, cache)


def _bowl_grad(w):
    """Gradient of f(w) = sum(0.5 * a * w**2 + 0.1 * w**4), a from 1 to 20 (the notebook's
    test_function_grad)."""
    a = np.linspace(1.0, 20.0, w.size).reshape(w.shape)
    return a * w + 0.4 * w**3


def rule_path(ns, rule: str, config: dict, w0, steps: int):
    """Apply the update rule `rule` `steps` times on the bowl, from w0. Returns the list of the
    steps + 1 values of w (the path)."""
    f = ns[rule]
    w = np.array(w0, dtype=np.float64)
    path, config = [w.copy()], dict(config)
    for _ in range(steps):
        w, config = f(w, _bowl_grad(w), config)
        path.append(np.array(w, copy=True))
    return path


# ------------------------------------------------------------------------------------------
# networks
# ------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _dropout_swapped(ns, record: list | None, masks: list | None):
    """While the block runs, the network's dropout_forward (looked up in `ns`) either records
    each training-mode call as (x, out, p) (`record`) or is replaced by a stand-in that applies
    `masks` in order (out = x * mask)."""
    if record is None and masks is None:
        yield
        return
    original = ns.get("dropout_forward")
    queue = [np.asarray(m) for m in masks] if masks is not None else None

    def recording(x, dropout_param):
        out, cache = original(x, dropout_param)
        if dropout_param.get("mode") == "train":
            record.append((np.array(x, copy=True), np.array(out, copy=True), dropout_param.get("p")))
        return out, cache

    def replaying(x, dropout_param):
        if dropout_param.get("mode") != "train":
            return x, (dropout_param, None)
        mask = queue.pop(0)
        return x * mask, (dropout_param, mask)

    ns["dropout_forward"] = recording if record is not None else replaying
    try:
        yield
    finally:
        ns["dropout_forward"] = original


def net_run(ns, cls: str, args=(), kwargs=None, params=None, calls=(), reg=None,
            record_dropout: bool = False, dropout_masks=None):
    """Build ns[cls](*args, **kwargs); if given, set its params (a dict) and reg; then call
    model.loss on each entry of `calls`: [X] (scores) or [X, y] (loss, grads), in order.

    `record_dropout`: record dropout_forward's training-mode calls, as (x, out, p);
    `dropout_masks`: use these masks instead, in order (a stand-in for dropout_forward).
    Returns {"params", "results", "bn_params", "masks"}."""
    model = ns[cls](*args, **(kwargs or {}))
    if params is not None:
        model.params = {k: np.array(v, copy=True) for k, v in params.items()}
    if reg is not None:
        model.reg = reg
    record = [] if record_dropout else None
    results = []
    with _dropout_swapped(ns, record, dropout_masks):
        for call in calls:
            results.append(model.loss(*call))
    bn = getattr(model, "bn_params", None)
    return {"params": dict(model.params), "results": results,
            "bn_params": [dict(b) for b in bn] if isinstance(bn, list) else None,
            "masks": record}


# ------------------------------------------------------------------------------------------
# training on the notebook's data
# ------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=2)
def prepared_data(dataset: str, scale: float, augment: bool):
    """The notebook's data_dict, made here as the notebook makes it: training images (shifted
    copies added when `augment`), flattened, divided by `scale`, standardised with the training
    statistics. Returns (data_dict, input_dim, num_classes)."""
    import warnings

    from dlcv.augment import augment_by_shifts
    from dlcv.data import load_classification

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_classification(dataset, num_train=49000, num_val=1000, num_test=1000, num_dev=500)
    X_images, y_train = data.X_train, data.y_train
    if augment:
        shifts = [(0, 0), (0, 1), (0, -1), (1, 0), (-1, 0)]
        X_images, y_train = augment_by_shifts(X_images, y_train, shifts, axes=(1, 2))

    def flatten(X):  # in place where it can, as the notebook: CIFAR-10 in float64 is 1.2 GB
        X = X.reshape(X.shape[0], -1).astype(np.float64)
        X /= scale
        return X

    def standardise(X):
        X = flatten(X)
        X -= mean_image
        X /= std_image
        return X

    X_train = flatten(X_images)
    mean_image = X_train.mean(axis=0)
    std_image = np.maximum(X_train.std(axis=0), 0.1)
    X_train -= mean_image
    X_train /= std_image
    data_dict = {"X_train": X_train, "y_train": y_train,
                 "X_val": standardise(data.X_val), "y_val": data.y_val,
                 "X_test": standardise(data.X_test)}
    return data_dict, data_dict["X_train"].shape[1], len(data.class_names)


def two_layer_train(ns, dataset: str, scale: float, augment: bool, setting: dict, init_seed: int,
                    solver_seed: int):
    """Train the student's TwoLayerNet with their sgd_momentum as the notebook's test cell does:
    weights W1, W2 drawn here (weight_scale * standard normal, seed init_seed), the given Solver.
    Returns the scores of the trained network on the test images."""
    from dlcv.solver import Solver

    d, input_dim, num_classes = prepared_data(dataset, scale, augment)
    T = setting
    net = ns["TwoLayerNet"](input_dim, T["hidden_dim"], num_classes, weight_scale=T["weight_scale"],
                            reg=T["reg"], seed=0)
    rng = np.random.default_rng(init_seed)
    for k in ("W1", "W2"):
        net.params[k] = T["weight_scale"] * rng.standard_normal(net.params[k].shape)
    solver = Solver(net, {k: d[k] for k in ("X_train", "y_train", "X_val", "y_val")},
                    update_rule=ns["sgd_momentum"],
                    optim_config={"learning_rate": T["learning_rate"], "momentum": 0.9},
                    lr_decay=T["lr_decay"], num_epochs=T["num_epochs"], batch_size=T["batch_size"],
                    verbose=False, progress=False, seed=solver_seed)
    solver.train()
    return net.loss(d["X_test"])


def overfit_run(ns, dataset: str, scale: float, augment: bool, setting: dict, n: int, init_seed: int):
    """The notebook's overfitting check: the student's FullyConnectedNet trained with their sgd
    on the first `n` training samples, weights drawn here (seed init_seed). Returns, after each
    epoch, the network's predicted labels of those n samples."""
    from dlcv.solver import Solver

    d, input_dim, num_classes = prepared_data(dataset, scale, augment)
    O = setting
    small = {"X_train": d["X_train"][:n], "y_train": d["y_train"][:n],
             "X_val": d["X_val"], "y_val": d["y_val"]}
    net = ns["FullyConnectedNet"](O["hidden_dims"], input_dim, num_classes,
                                  weight_scale=O["weight_scale"], seed=0)
    rng = np.random.default_rng(init_seed)
    weights = sorted((k for k in net.params if k.startswith("W")), key=lambda k: (len(k), k))  # W1, W2, ...
    for k in weights:
        net.params[k] = O["weight_scale"] * rng.standard_normal(net.params[k].shape)
    seen = []

    class Recording(Solver):
        def _end_epoch(self):
            seen.append(np.argmax(self.model.loss(small["X_train"]), axis=1))
            super()._end_epoch()

    Recording(net, small, update_rule=ns["sgd"], optim_config={"learning_rate": O["learning_rate"]},
              num_epochs=O["num_epochs"], batch_size=O["batch_size"], verbose=False, progress=False,
              seed=0).train()
    return seen
