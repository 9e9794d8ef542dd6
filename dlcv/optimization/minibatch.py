"""Minibatch training runs of softmax regression, for lecture 03's experiments on real data.

A linear softmax classifier (scores X W^T + b, W: (C, D), b: (C,)) is the smallest real model
whose loss we can still study completely: it is convex, it trains in a second, and it has enough
parameters (650 on the digits) that optimisation is not trivial. This module runs it with the
optimizers of torch.optim and records what lecture 03 plots:

    softmax_regression_loss(W, b, X, y, reg)   mean cross-entropy + reg * sum W^2 (torch)
    minibatch_run(X, y, batch_size, epochs, ..) -> RunHistory (loss vs iteration, epoch, seconds)
    full_batch_objective(X, y, reg)            w (C*D + C,) -> (loss, gradient) for scipy.optimize

Losses come from torch (cross_entropy), gradients from autograd, updates from torch.optim. Writing
a softmax loss, its gradient and an SGD loop in numpy is assignment a1's job, and the update rules
are assignment a2's, so this module never does either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice

import numpy as np
import torch
import torch.nn.functional as F

from dlcv.loop import Log, shuffled, train
from dlcv.optimization.landscapes import make_optimizer


def _data(X, y, who: str) -> tuple[torch.Tensor, torch.Tensor]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"{who}: X must have shape (N, D), got {X.shape}")
    if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{who}: y must be ({X.shape[0]},) integer labels, got shape {y.shape} "
                         f"dtype {y.dtype}")
    return torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))


def softmax_regression_loss(W: torch.Tensor, b: torch.Tensor, X: torch.Tensor, y: torch.Tensor,
                            reg: float = 0.0) -> torch.Tensor:
    """Mean softmax cross-entropy of scores X W^T + b, plus reg * sum W^2 (b is not penalised).

    Args:
        W: (C, D), b: (C,), X: (N, D) float tensors; y: (N,) int64 labels.
    Returns:
        a 0-d tensor, differentiable in W and b.
    """
    scores = X @ W.T + b  # (N, C)
    return F.cross_entropy(scores, y) + reg * (W * W).sum()


@dataclass
class RunHistory:
    """What a minibatch run recorded, at regular points during training.

    iteration, epoch, seconds, loss: (R,) arrays: the number of updates made so far, the same
    in epochs (passes over the data), the training time so far (measurements excluded) and the
    full training loss (data + reg) at that moment. lr: (E,) the learning rate in each epoch.
    W: (C, D), b: (C,) the final parameters.
    """

    batch_size: int
    optimizer: str
    iteration: np.ndarray
    epoch: np.ndarray
    seconds: np.ndarray
    loss: np.ndarray
    lr: np.ndarray
    W: np.ndarray = field(repr=False)
    b: np.ndarray = field(repr=False)


def minibatch_run(X, y, batch_size: int, epochs: float, optimizer: str = "SGD", lr: float = 0.1,
                  reg: float = 1e-3, seed: int = 0, W0=None,
                  scheduler: Callable[[torch.optim.Optimizer], object] | None = None,
                  records_per_epoch: int = 8, **optimizer_kw) -> RunHistory:
    """Train softmax regression on (X, y) with minibatches drawn without replacement.

    Each epoch shuffles the data and walks through it in batches of batch_size (the last,
    smaller batch is used too); each batch gives one torch.optim step.

    Args:
        X: (N, D) float inputs; y: (N,) int labels in 0..C-1 (C = y.max() + 1).
        batch_size: examples per step (N or more: full-batch gradient descent).
        epochs: passes over the data (a float such as 0.5 stops part-way through an epoch).
        optimizer: a name of dlcv.optimization.landscapes.OPTIMIZERS; optimizer_kw (momentum, beta1, ...) go
            to dlcv.optimization.landscapes.make_optimizer.
        W0: (C, D) start (default: Gaussian with std 1e-3 from `seed`); b starts at 0.
        scheduler: called with the optimizer, returns a torch.optim.lr_scheduler object that is
            stepped once at the end of every epoch.
        records_per_epoch: how often the full training loss is measured (at least once per
            epoch and at the end; at most once per step).

    Returns:
        RunHistory.
    """
    Xt, yt = _data(X, y, "minibatch_run")
    N, D = Xt.shape
    C = int(yt.max()) + 1
    if not (isinstance(batch_size, int | np.integer) and batch_size >= 1):
        raise ValueError(f"minibatch_run: batch_size must be an int >= 1, got {batch_size!r}")
    if not epochs > 0:
        raise ValueError(f"minibatch_run: epochs must be positive, got {epochs}")
    if not lr > 0:
        raise ValueError(f"minibatch_run: lr must be positive, got {lr}")
    gen = torch.Generator().manual_seed(seed)
    if W0 is None:
        W0 = 1e-3 * torch.randn(C, D, generator=gen, dtype=torch.float64)
    W0 = torch.as_tensor(np.asarray(W0, dtype=np.float64))
    if W0.shape != (C, D):
        raise ValueError(f"minibatch_run: W0 must have shape ({C}, {D}), got {tuple(W0.shape)}")
    W = W0.clone().requires_grad_(True)  # (C, D)
    b = torch.zeros(C, dtype=torch.float64, requires_grad=True)  # (C,)
    opt = make_optimizer(optimizer, [W, b], lr=lr, **optimizer_kw)
    sched = scheduler(opt) if scheduler is not None else None

    batch_size = int(min(batch_size, N))
    per_epoch = int(np.ceil(N / batch_size))  # steps per epoch
    total = max(1, int(round(epochs * per_epoch)))
    every = max(1, per_epoch // max(1, records_per_epoch))

    def full_loss() -> float:
        with torch.no_grad():
            return float(softmax_regression_loss(W, b, Xt, yt, reg))

    its, secs, losses, lrs = [0], [0.0], [full_loss()], []
    log = Log()

    def record(step: int, _loss: float) -> None:
        if (step % every == 0 or step == total or step % per_epoch == 0) and its[-1] != step:
            its.append(step)
            secs.append(log.seconds)  # the steps' time so far, these evaluations excluded
            losses.append(full_loss())

    while log.steps < total:
        lrs.append(opt.param_groups[0]["lr"])
        epoch = islice(shuffled(N, batch_size, gen), total - log.steps)  # the last may stop early
        train(lambda idx: softmax_regression_loss(W, b, Xt[idx], yt[idx], reg), opt, epoch,
              on_step=record, log=log)
        if sched is not None:
            sched.step()
    its_arr = np.array(its)
    return RunHistory(batch_size=batch_size, optimizer=optimizer, iteration=its_arr,
                      epoch=its_arr / per_epoch, seconds=np.array(secs), loss=np.array(losses),
                      lr=np.array(lrs), W=W.detach().numpy().copy(), b=b.detach().numpy().copy())


def full_batch_objective(X, y,
                         reg: float = 1e-3) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """The full-batch softmax-regression loss as a function of one flat parameter vector.

    Returns f(w) -> (loss, gradient) with w: (C*D + C,) float64 = [W.ravel(), b], the gradient
    from torch autograd, in the form scipy.optimize.minimize(f, w0, jac=True) expects.
    f.calls counts the evaluations.
    """
    Xt, yt = _data(X, y, "full_batch_objective")
    N, D = Xt.shape
    C = int(yt.max()) + 1

    def f(w: np.ndarray) -> tuple[float, np.ndarray]:
        w = np.asarray(w, dtype=np.float64)
        if w.shape != (C * D + C,):
            raise ValueError(f"objective: w must have shape ({C * D + C},), got {w.shape}")
        wt = torch.tensor(w, requires_grad=True)
        W, b = wt[:C * D].reshape(C, D), wt[C * D:]
        loss = softmax_regression_loss(W, b, Xt, yt, reg)
        (g,) = torch.autograd.grad(loss, wt)
        f.calls += 1
        return loss.item(), g.numpy().copy()

    f.calls = 0
    return f
