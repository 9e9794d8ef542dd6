"""Probes of assignment a3: harnesses around the student's layers, convnet and PyTorch code.

Each returns what it saw as plain data; the hidden tests (trusted) judge it. Nothing here imports
torch at the top: the numpy part of a3 is graded in a kernel where torch cannot be imported.
"""

from __future__ import annotations

import numpy as np


# ------------------------------------------------------------------------------------------
# the notebook's data, prepared as its data cell prepares it
# ------------------------------------------------------------------------------------------
def notebook_data(dataset: str, settings: dict) -> dict:
    """The notebook's data set (`dataset`: "auto", "digits" or "cifar10") as its data cell
    prepares it: images as (N, C, H, W) in [0, 1], the digits' training set augmented by the
    eight one-pixel shifts, every channel standardised with the training set's mean and std.
    `settings`: the notebook's SETTINGS (data set name -> scale, augment, ...). Returns a dict
    with data (the splits), S (the data set's settings), data_dict, input_shape, num_classes."""
    import warnings

    from dlcv.augment import augment_by_shifts
    from dlcv.data import load_classification

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_classification(dataset, num_train=49000, num_val=1000, num_test=1000, num_dev=500)
    S = settings[data.name]

    def to_nchw(X):
        X = X.astype(np.float64)
        X /= S["scale"]  # in place, as the notebook: CIFAR-10 in float64 is 1.2 GB
        return X[:, None] if X.ndim == 3 else X.transpose(0, 3, 1, 2)

    X_train_img, y_train = to_nchw(data.X_train), data.y_train
    if S["augment"]:
        shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        X_train_img, y_train = augment_by_shifts(X_train_img, y_train, shifts)
    mean = X_train_img.mean(axis=(0, 2, 3), keepdims=True)
    std = X_train_img.std(axis=(0, 2, 3), keepdims=True)

    def standardise(X):
        X -= mean
        X /= std
        return X

    data_dict = {
        "X_train": standardise(X_train_img), "y_train": y_train,
        "X_val": standardise(to_nchw(data.X_val)), "y_val": data.y_val,
        "X_test": standardise(to_nchw(data.X_test)), "y_test": data.y_test,
    }
    return dict(data=data, S=S, data_dict=data_dict, input_shape=data_dict["X_train"].shape[1:],
                num_classes=len(data.class_names))


# ------------------------------------------------------------------------------------------
# Parts 1-5: numpy layers and the convnet
# ------------------------------------------------------------------------------------------
def forward_backward(ns, forward: str, backward: str, dout, *args):
    """The student's `forward(*args)`, then `backward(dout, cache)` with the cache it made (the
    cache stays here). Returns (out, what backward returned)."""
    out, cache = ns[forward](*args)
    return out, ns[backward](dout, cache)


def overfit_small(ns, dataset: str, settings: dict, weights: dict, num_train: int = 50,
                  num_epochs: int = 20, batch_size: int = 10, learning_rate: float = 5e-3):
    """The notebook's overfitting run: the student's ThreeLayerConvNet (the convnet settings of
    the data set, seed 0) with W1, W2, W3 replaced by `weights`, trained by the course's Solver
    with the given adam on the first `num_train` training images (the whole validation set for
    validation). Returns (the predicted labels of those images after every epoch, in order, why
    the Solver stopped early or None)."""
    from dlcv.solver import Solver

    nb = notebook_data(dataset, settings)
    dd, K = nb["data_dict"], nb["S"]["convnet"]
    small = {"X_train": dd["X_train"][:num_train], "y_train": dd["y_train"][:num_train],
             "X_val": dd["X_val"], "y_val": dd["y_val"]}
    net = ns["ThreeLayerConvNet"](nb["input_shape"], K["num_filters"], K["filter_size"], K["hidden_dim"],
                                  nb["num_classes"], weight_scale=K["weight_scale"], seed=0)
    for k, w in weights.items():
        net.params[k] = w
    predictions = []

    class Recording(Solver):
        def _end_epoch(self):
            predictions.append(np.argmax(self.model.loss(small["X_train"]), axis=1))
            super()._end_epoch()

    solver = Recording(net, small, update_rule=ns["adam"], optim_config={"learning_rate": learning_rate},
                       num_epochs=num_epochs, batch_size=batch_size, verbose=False, progress=False, seed=0)
    solver.train()
    return predictions, solver.stopped_early


# ------------------------------------------------------------------------------------------
# Part 6: PyTorch
# ------------------------------------------------------------------------------------------
def _numpy(t):
    import torch

    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t


def cnn_summary(ns, in_channels: int, image_size: int, num_classes: int = 10, batch: int = 5):
    """Build the student's DigitsCNN (torch seed 0) and run it in evaluation mode on `batch`
    zero images. Returns a dict: is_module, and for a module: scores (what model(x) returned),
    has_conv (an nn.Conv2d among its modules), num_params."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    m = ns["DigitsCNN"](in_channels=in_channels, num_classes=num_classes, image_size=image_size)
    if not isinstance(m, nn.Module):
        return {"is_module": False}
    m.eval()
    with torch.no_grad():
        scores = m(torch.zeros(batch, in_channels, image_size, image_size))
    return {"is_module": True, "scores": _numpy(scores),
            "has_conv": any(isinstance(layer, nn.Conv2d) for layer in m.modules()),
            "num_params": int(sum(p.numel() for p in m.parameters()))}


def train_small_model(ns, kind: str, torch_seed: int, X, y, X_val, y_val, **train_kwargs):
    """The student's train_model on a small model made here (torch seed `torch_seed`): "linear"
    (Flatten, Linear(16, 2)) or "batchnorm" (Flatten, Linear(16, 8), BatchNorm1d(8), ReLU,
    Linear(8, 2)), for (N, 1, 4, 4) images. Returns (history, the model's state_dict as arrays
    after train_model returned, whether the model was left in training mode)."""
    import torch
    from torch import nn

    torch.manual_seed(torch_seed)
    if kind == "linear":
        m = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    elif kind == "batchnorm":
        m = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    history = ns["train_model"](m, X, y, X_val, y_val, **train_kwargs)
    state = {k: _numpy(v) for k, v in m.state_dict().items()}
    return history, state, bool(m.training)


def torch_predict_test(ns, dataset: str, settings: dict, batch_size: int = 500):
    """The predicted labels of the notebook's `torch_model` (in evaluation mode) on the test
    images, prepared here as the notebook prepares them; None if torch_model is None."""
    import torch

    model = ns.get("torch_model")
    if model is None:
        return None
    X = notebook_data(dataset, settings)["data_dict"]["X_test"]
    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            scores = model(torch.tensor(X[i:i + batch_size], dtype=torch.float32))
            preds.append(_numpy(scores.argmax(1)))
    return np.concatenate(preds)
