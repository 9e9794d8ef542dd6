"""Minibatch training of small fully connected networks with torch: lecture 05's experiments.

    make_net(in_dim, num_classes, ...)  Linear -> [BatchNorm1d] -> activation -> [Dropout] blocks
                                        and a Linear score layer, with a chosen initialisation
    fit(model, X, y, X_val, y_val, ...) minibatch SGD / Adam with weight decay, gradient clipping,
                                        a learning-rate schedule, an exponential moving average of
                                        the weights and snapshots -> History
    evaluate(model, X, y)               (mean cross-entropy, accuracy), in eval mode
    predict_proba(model, X)             (N, C) softmax probabilities, in eval mode
    cosine_cycles(cycle_length)         a cyclic cosine learning-rate factor (snapshot ensembles)

Layers come from torch.nn, gradients from autograd and updates from torch.optim. Writing layers,
their backward passes and the update rules in numpy is assignment a2's job, so this module
never does.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.loop import Log, shuffled, train
from dlcv.networks.initialization import INITS, init_std

NET_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
                   "leaky_relu": nn.LeakyReLU}
NET_INITS = tuple(INITS) + ("torch",)  # "torch": leave nn.Linear's own default
OPTIMIZERS = ("sgd", "momentum", "adam")


def make_net(in_dim: int, num_classes: int, hidden: int = 64, layers: int = 2,
             activation: str = "relu", batch_norm: bool = False, dropout: float = 0.0,
             init: str = "he", init_scale: float = 1.0, seed: int | None = 0) -> nn.Sequential:
    """A fully connected classifier: in_dim -> [hidden] x layers -> num_classes scores.

    Every hidden block is Linear -> BatchNorm1d (if batch_norm) -> activation -> Dropout(dropout)
    (if dropout > 0; torch's p is the probability of *dropping* a unit). Linear weights are drawn
    N(0, std^2) with std = init_std(init, fan_in, fan_out) * init_scale, biases 0; init="torch"
    keeps torch's default (uniform in +-1/sqrt(fan_in)). seed fixes the weights without touching
    the global torch random state (None: use and advance the global state).
    """
    for name, v, lo in (("in_dim", in_dim, 1), ("num_classes", num_classes, 2),
                        ("hidden", hidden, 1), ("layers", layers, 0)):
        if not (isinstance(v, int | np.integer) and v >= lo):
            raise ValueError(f"make_net: {name} must be an int >= {lo}, got {v!r}")
    if activation not in NET_ACTIVATIONS:
        raise ValueError(f"make_net: activation must be one of {list(NET_ACTIVATIONS)}, "
                         f"got {activation!r}")
    if init not in NET_INITS:
        raise ValueError(f"make_net: init must be one of {NET_INITS}, got {init!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"make_net: dropout must be in [0, 1), got {dropout}")

    def build():
        mods: list[nn.Module] = []
        d = in_dim
        for _ in range(layers):
            mods.append(nn.Linear(d, hidden))
            if batch_norm:
                mods.append(nn.BatchNorm1d(hidden))
            mods.append(NET_ACTIVATIONS[activation]())
            if dropout > 0:
                mods.append(nn.Dropout(dropout))
            d = hidden
        mods.append(nn.Linear(d, num_classes))
        if init != "torch":
            with torch.no_grad():
                for m in mods:
                    if isinstance(m, nn.Linear):
                        m.weight.normal_(0.0, init_std(init, m.in_features, m.out_features,
                                                       init_scale))
                        m.bias.zero_()
        return nn.Sequential(*mods)

    if seed is None:
        return build()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _input_spec(model: nn.Module) -> tuple[str, int]:
    """What the model's first layer expects: ("linear", in_features) for (N, D) rows or
    ("conv", in_channels) for (N, C, H, W) images."""
    first = next((m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)), None)
    if first is None:
        raise ValueError("the model has no nn.Linear or nn.Conv2d layer")
    if isinstance(first, nn.Conv2d):
        return "conv", first.in_channels
    return "linear", first.in_features


def _check_input(X: np.ndarray, spec: tuple[str, int], who: str) -> None:
    kind, n = spec
    if kind == "linear" and (X.ndim != 2 or X.shape[1] != n):
        raise ValueError(f"{who}: X must have shape (N, {n}), got {X.shape}")
    if kind == "conv" and (X.ndim != 4 or X.shape[1] != n):
        raise ValueError(f"{who}: X must have shape (N, {n}, H, W) for this convolutional "
                         f"model, got {X.shape}")


def _tensors(X, y, who: str, spec: tuple[str, int] | None = None):
    X = np.asarray(X, dtype=np.float32)
    if spec is not None:
        _check_input(X, spec, who)
    elif X.ndim < 2:
        raise ValueError(f"{who}: X must have shape (N, ...), got {X.shape}")
    y = np.asarray(y)
    if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{who}: y must be ({X.shape[0]},) integer labels, got shape {y.shape} "
                         f"dtype {y.dtype}")
    return torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))


def predict_proba(model: nn.Module, X, batch_size: int = 1024) -> np.ndarray:
    """X: (N, D) rows (or (N, C, H, W) images for a convolutional model) -> (N, C) softmax
    probabilities (float64), computed in eval mode, batch_size inputs at a time."""
    X = np.asarray(X, dtype=np.float32)
    _check_input(X, _input_spec(model), "predict_proba")
    was = model.training
    model.eval()
    with torch.no_grad():
        p = torch.cat([torch.softmax(model(torch.from_numpy(X[i:i + batch_size])), 1)
                       for i in range(0, len(X), batch_size)]).double().numpy()
    model.train(was)
    return p


def evaluate(model: nn.Module, X, y) -> tuple[float, float]:
    """(mean cross-entropy, accuracy in [0, 1]) of the model on (X, y), in eval mode."""
    Xt, yt = _tensors(X, y, "evaluate", _input_spec(model))
    was = model.training
    model.eval()
    with torch.no_grad():
        s = model(Xt)  # (N, C)
        out = F.cross_entropy(s, yt).item(), (s.argmax(1) == yt).double().mean().item()
    model.train(was)
    return out


def cosine_cycles(cycle_length: int) -> Callable[[int], float]:
    """Learning-rate factor for iteration t: a cosine from 1 down to 0 over every cycle of
    cycle_length iterations, then a restart (Loshchilov & Hutter 2017; Huang et al. 2017)."""
    if not (isinstance(cycle_length, int) and cycle_length >= 1):
        raise ValueError(f"cosine_cycles: cycle_length must be an int >= 1, got {cycle_length!r}")
    return lambda t: 0.5 * (1 + math.cos(math.pi * (t % cycle_length) / cycle_length))


@dataclass
class History:
    """What fit() recorded.

    loss, grad_norm, lr: (iterations,) minibatch loss, gradient norm before clipping, learning rate
    update_ratio: (iterations, L) ||W_after - W_before|| / ||W_before|| for each of the L Linear
        weight matrices (empty when not tracked)
    epochs: (E + 1,) 0, 1, ..., E; index 0 is before training
    train_loss, train_acc, val_loss, val_acc: (E + 1,) evaluated at the end of every epoch
    ema_val_acc: (E + 1,) validation accuracy of the weight average (empty without ema_decay)
    best_epoch: epoch of the highest validation accuracy (first one on ties)
    best_state: a copy of the model's state_dict at best_epoch (early stopping's checkpoint)
    snapshots: {epoch: state_dict} for the epochs listed in fit(snapshot_epochs=...)
    ema_model: the averaged model (torch.optim.swa_utils.AveragedModel) or None
    diverged: True when the loss became NaN or inf (training stopped there)
    """

    loss: np.ndarray
    grad_norm: np.ndarray
    lr: np.ndarray
    update_ratio: np.ndarray
    epochs: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    val_loss: np.ndarray
    val_acc: np.ndarray
    ema_val_acc: np.ndarray
    best_epoch: int
    best_state: dict = field(repr=False)
    snapshots: dict = field(repr=False, default_factory=dict)
    ema_model: nn.Module | None = field(repr=False, default=None)
    diverged: bool = False


def fit(model: nn.Module, X, y, X_val=None, y_val=None, epochs: int = 10, batch_size: int = 64,
        lr: float = 0.1, optimizer: str = "momentum", momentum: float = 0.9,
        weight_decay: float = 0.0, clip_norm: float | None = None,
        lr_schedule: Callable[[int], float] | None = None, ema_decay: float | None = None,
        snapshot_epochs: Sequence[int] = (), track_updates: bool = False,
        param_groups: Sequence[dict] | None = None, seed: int = 0) -> History:
    """Train `model` (in place) on softmax cross-entropy with minibatches.

    Args:
        model: a torch module mapping (N, D) float32 inputs (or (N, C, H, W) images, when its
            first layer is an nn.Conv2d) to (N, C) scores.
        X: (N, D) or (N, C, H, W), y: (N,) integer labels; X_val, y_val: validation data
            (default: the training data, so that the curves exist).
        epochs: passes over the data; batch_size: examples per step (the last, smaller batch of
            an epoch is dropped so that BatchNorm never sees a batch of one).
        lr: learning rate; optimizer: "sgd", "momentum" (SGD with `momentum`) or "adam".
        weight_decay: L2 penalty factor handed to the torch optimizer.
        clip_norm: if given, rescale the gradient to at most this total norm
            (torch.nn.utils.clip_grad_norm_) before each step.
        lr_schedule: factor(t) multiplying lr at iteration t (torch.optim.lr_scheduler.LambdaLR).
        ema_decay: if given (e.g. 0.99), keep an exponential moving average of the weights
            (torch.optim.swa_utils.AveragedModel) and record its validation accuracy.
        snapshot_epochs: epochs at whose end a copy of the weights is kept.
        track_updates: record ||dW|| / ||W|| of every Linear weight at every step.
        param_groups: torch optimizer parameter groups (dicts with "params" and optionally
            "lr") to train instead of model.parameters(), e.g. a smaller learning rate for a
            pretrained backbone (dlcv.convolution.transfer.param_groups); groups without "lr" use lr.
        seed: the order of the minibatches is a deterministic function of the seed.

    Returns:
        History (see there).
    """
    d = _input_spec(model)
    Xt, yt = _tensors(X, y, "fit", d)
    if X_val is None:
        Xv, yv = Xt, yt
    else:
        Xv, yv = _tensors(X_val, y_val, "fit (validation)", d)
    if not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f"fit: epochs must be an int >= 1, got {epochs!r}")
    if not (isinstance(batch_size, int) and 2 <= batch_size):
        raise ValueError(f"fit: batch_size must be an int >= 2, got {batch_size!r}")
    if not lr > 0:
        raise ValueError(f"fit: lr must be > 0, got {lr}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"fit: optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if clip_norm is not None and not clip_norm > 0:
        raise ValueError(f"fit: clip_norm must be > 0 or None, got {clip_norm}")
    if ema_decay is not None and not 0 < ema_decay < 1:
        raise ValueError(f"fit: ema_decay must be in (0, 1) or None, got {ema_decay}")

    groups = [dict(g) for g in param_groups] if param_groups is not None \
        else [{"params": list(model.parameters())}]
    for g in groups:
        g["params"] = list(g["params"])
    if optimizer == "adam":
        opt = torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay)
    else:
        opt = torch.optim.SGD(groups, lr=lr, weight_decay=weight_decay,
                              momentum=momentum if optimizer == "momentum" else 0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_schedule) if lr_schedule else None
    ema = None
    if ema_decay is not None:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]

    g = torch.Generator().manual_seed(seed)
    ratios, ep_rows = [], []
    snapshots: dict[int, dict] = {}
    best_epoch, best_acc, best_state = 0, -1.0, None
    log = Log()

    def record(epoch):
        nonlocal best_epoch, best_acc, best_state
        tl, ta = evaluate(model, Xt, yt)
        vl, va = (tl, ta) if X_val is None else evaluate(model, Xv, yv)  # no second pass
        ea = evaluate(ema.module, Xv, yv)[1] if ema is not None else float("nan")
        ep_rows.append((tl, ta, vl, va, ea))
        if va > best_acc:
            best_epoch, best_acc = epoch, va
            best_state = copy.deepcopy(model.state_dict())
        if epoch in snapshot_epochs:
            snapshots[epoch] = copy.deepcopy(model.state_dict())

    before = [w.detach().clone() for w in weights]

    def after_step(step, loss):
        nonlocal before
        if ema is not None:
            ema.update_parameters(model)
        if track_updates:
            now = [w.detach().clone() for w in weights]
            ratios.append([((w - w0).norm() / (w0.norm() + 1e-12)).item()
                           for w, w0 in zip(now, before, strict=True)])
            before = now

    record(0)
    model.train()
    for epoch in range(1, epochs + 1):
        train(lambda idx: F.cross_entropy(model(Xt[idx]), yt[idx]), opt,
              shuffled(len(yt), batch_size, g, drop_last=True), scheduler=sched,
              clip_norm=clip_norm, grad_norm=True, on_step=after_step, stop_if_not_finite=True,
              log=log)
        if log.stopped:
            break
        record(epoch)
    model.eval()
    rows = np.array(ep_rows)
    return History(
        loss=np.array(log.loss), grad_norm=np.array(log.grad_norm), lr=np.array(log.lr),
        update_ratio=np.array(ratios) if track_updates else np.zeros((0, len(weights))),
        epochs=np.arange(len(rows)), train_loss=rows[:, 0], train_acc=rows[:, 1],
        val_loss=rows[:, 2], val_acc=rows[:, 3],
        ema_val_acc=rows[:, 4] if ema is not None else np.zeros(0),
        best_epoch=best_epoch, best_state=best_state, snapshots=snapshots,
        ema_model=ema, diverged=log.stopped)
