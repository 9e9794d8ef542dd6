"""Training with noisy labels (lecture 18): label noise models, robust losses, early stopping.

    ASYMMETRIC_DIGITS                  the class flips of "asymmetric" noise on the digits
    transition_matrix(kind, rate, C)   T[i, j] = P(noisy label j | true label i), (C, C)
    corrupt_labels(y, kind, rate, ...) draw noisy labels from that matrix -> (y_noisy, flipped)
    ROBUST_LOSSES                      "ce", "mae", "gce", "bootstrap-soft", "bootstrap-hard"
    robust_loss(scores, y, kind, ...)  the mean loss of a batch (torch, differentiable)
    sample_weight(p_y, kind, q)        how much an example's gradient counts, as a function of the
                                       probability the model gives its label (CE = 1)
    fit_with_loss(model, X, y, ...)    minibatch Adam on any of those losses -> NoisyHistory
    early_stopping(curve, patience)    the epoch where patience runs out and the best epoch

The losses are torch expressions, so autograd gives their gradients.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.loop import shuffled, train

NOISE_KINDS = ("symmetric", "asymmetric")
# Patrini et al. (2017)'s flips for handwritten digits: each class goes to a look-alike.
ASYMMETRIC_DIGITS = {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}
ROBUST_LOSSES = ("ce", "mae", "gce", "bootstrap-soft", "bootstrap-hard")


# --------------------------------------------------------------------------------------------
# Noise models
# --------------------------------------------------------------------------------------------
def transition_matrix(kind: str = "symmetric", rate: float = 0.4, num_classes: int = 10,
                      flips: dict[int, int] | None = None) -> np.ndarray:
    """The noise transition matrix T (C, C): T[i, j] = P(observed label j | true label i).

    "symmetric": a label is replaced, with probability `rate`, by one of the C - 1 other
        classes chosen uniformly: T = (1 - rate) on the diagonal, rate / (C - 1) elsewhere.
    "asymmetric": with probability `rate`, class i becomes flips[i] (default
        ASYMMETRIC_DIGITS); classes without a flip keep their label.
    Every row sums to 1.
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"transition_matrix: kind must be one of {NOISE_KINDS}, got {kind!r}")
    if not 0 <= rate <= 1:
        raise ValueError(f"transition_matrix: rate must be in [0, 1], got {rate}")
    if not (isinstance(num_classes, int) and num_classes >= 2):
        raise ValueError(f"transition_matrix: num_classes must be an int >= 2, got "
                         f"{num_classes!r}")
    C = num_classes
    if kind == "symmetric":
        T = np.full((C, C), rate / (C - 1))
        np.fill_diagonal(T, 1 - rate)
        return T
    flips = ASYMMETRIC_DIGITS if flips is None else flips
    T = np.eye(C)
    for i, j in flips.items():
        if not (0 <= i < C and 0 <= j < C and i != j):
            raise ValueError(f"transition_matrix: flip {i} -> {j} is not a pair of different "
                             f"classes in 0..{C - 1}")
        T[i, i], T[i, j] = 1 - rate, rate
    return T


def corrupt_labels(y: np.ndarray, kind: str = "symmetric", rate: float = 0.4,
                   num_classes: int | None = None, seed: int = 0,
                   flips: dict[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Noisy copies of labels y (N,): each label i is replaced by a draw from row i of
    transition_matrix(kind, rate, C). Returns (y_noisy (N,) int64, flipped (N,) bool)."""
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"corrupt_labels: y must be (N,) integer labels, got shape {y.shape} "
                         f"dtype {y.dtype}")
    C = int(num_classes or (y.max() + 1))
    T = transition_matrix(kind, rate, C, flips)
    rng = np.random.default_rng(seed)
    cum = np.cumsum(T, axis=1)                               # (C, C)
    u = rng.random(len(y))
    y_noisy = np.minimum((u[:, None] > cum[y]).sum(1), C - 1).astype(np.int64)
    return y_noisy, y_noisy != y


# --------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------
def robust_loss(scores: torch.Tensor, y: torch.Tensor, kind: str = "ce", q: float = 0.7,
                beta: float = 0.8) -> torch.Tensor:
    """The mean loss of a batch. scores: (N, C) logits; y: (N,) (possibly noisy) labels.

        "ce"              -log p_y                            (cross-entropy)
        "mae"             sum_j |p_j - [j = y]| = 2 (1 - p_y)  (mean absolute error; Ghosh et al.
                                                             2017: symmetric, hence noise-tolerant)
        "gce"             (1 - p_y^q) / q                     (generalised CE, Zhang & Sabuncu
                                                             2018; q -> 0 gives CE, q = 1 MAE/2)
        "bootstrap-soft"  CE against beta * onehot(y) + (1 - beta) * p   (Reed et al. 2015)
        "bootstrap-hard"  CE against beta * onehot(y) + (1 - beta) * onehot(argmax p)
    In the bootstrap losses the model's own prediction is a target, treated as a constant.
    """
    if kind not in ROBUST_LOSSES:
        raise ValueError(f"robust_loss: kind must be one of {ROBUST_LOSSES}, got {kind!r}")
    if scores.dim() != 2 or y.shape != (scores.shape[0],):
        raise ValueError(f"robust_loss: scores must be (N, C) and y (N,), got "
                         f"{tuple(scores.shape)} and {tuple(y.shape)}")
    if not 0 < q <= 1:
        raise ValueError(f"robust_loss: q must be in (0, 1], got {q}")
    if not 0 <= beta <= 1:
        raise ValueError(f"robust_loss: beta must be in [0, 1], got {beta}")
    logp = F.log_softmax(scores, dim=1)                     # (N, C)
    if kind == "ce":
        return F.nll_loss(logp, y)
    p_y = logp.gather(1, y[:, None])[:, 0].exp()             # (N,)
    if kind == "mae":
        return (2 * (1 - p_y)).mean()
    if kind == "gce":
        return ((1 - p_y ** q) / q).mean()
    onehot = F.one_hot(y, scores.shape[1]).to(logp.dtype)   # (N, C)
    p = logp.exp().detach()
    own = p if kind == "bootstrap-soft" else F.one_hot(p.argmax(1), scores.shape[1]).to(p.dtype)
    target = beta * onehot + (1 - beta) * own
    return -(target * logp).sum(1).mean()


def sample_weight(p_y, kind: str = "ce", q: float = 0.7) -> np.ndarray:
    """How strongly one example pulls on the parameters, relative to cross-entropy.

    For a loss that depends on p_y only, dL/dtheta = L'(p_y) dp_y/dtheta, and cross-entropy has
    dL/dtheta = -(1 / p_y) dp_y/dtheta. The ratio of the two is the weight returned here:
    CE 1, GCE p_y^q, MAE 2 p_y. An example whose label the model finds unlikely (small p_y,
    often a wrong label) counts fully in CE and little in MAE or GCE.
    """
    p = np.asarray(p_y, np.float64)
    if np.any((p < 0) | (p > 1)):
        raise ValueError("sample_weight: p_y must lie in [0, 1]")
    if kind == "ce":
        return np.ones_like(p)
    if kind == "gce":
        return p ** q
    if kind == "mae":
        return 2 * p
    raise ValueError(f"sample_weight: kind must be 'ce', 'gce' or 'mae', got {kind!r}")


# --------------------------------------------------------------------------------------------
# Training and early stopping
# --------------------------------------------------------------------------------------------
@dataclass
class NoisyHistory:
    """fit_with_loss's record, one entry per epoch (index 0: before training).

    val_acc: accuracy on the clean validation labels
    train_acc_given: agreement with the (noisy) training labels the model was given
    memorised: on the training examples whose label was flipped, the fraction predicted as the
        wrong label they were given (nan when `flipped` was not passed)
    best_state: the weights at the epoch of the best validation accuracy
    """

    val_acc: np.ndarray
    train_acc_given: np.ndarray
    memorised: np.ndarray
    best_epoch: int
    best_state: dict = field(repr=False)


def _accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, np.ndarray]:
    model.eval()
    with torch.no_grad():
        pred = model(X).argmax(1)
    model.train()
    return float((pred == y).float().mean()), pred.numpy()


def fit_with_loss(model: nn.Module, X, y, X_val, y_val, loss: str = "ce", epochs: int = 30,
                  batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.0,
                  flipped: np.ndarray | None = None, seed: int = 0, **loss_kwargs) -> NoisyHistory:
    """Train `model` (in place) with Adam on robust_loss(kind=loss).

    X: (N, ...) float inputs the model accepts; y: (N,) the (noisy) labels to train on;
    X_val, y_val: clean validation data. flipped: (N,) bool, which training labels are wrong
    (to measure memorisation). loss_kwargs (q, beta) go to robust_loss.
    """
    Xt = torch.as_tensor(np.asarray(X, np.float32))
    yt = torch.as_tensor(np.asarray(y, np.int64))
    Xv = torch.as_tensor(np.asarray(X_val, np.float32))
    yv = torch.as_tensor(np.asarray(y_val, np.int64))
    if yt.shape != (len(Xt),) or yv.shape != (len(Xv),):
        raise ValueError(f"fit_with_loss: y must be ({len(Xt)},) and y_val ({len(Xv)},), got "
                         f"{tuple(yt.shape)} and {tuple(yv.shape)}")
    if not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f"fit_with_loss: epochs must be an int >= 1, got {epochs!r}")
    if flipped is not None:
        flipped = np.asarray(flipped, bool)
        if flipped.shape != (len(Xt),):
            raise ValueError(f"fit_with_loss: flipped must be ({len(Xt)},), got {flipped.shape}")
    robust_loss(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), loss, **loss_kwargs)  # checks
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(seed)
    val, given, mem = [], [], []
    best_epoch, best_acc, best_state = 0, -1.0, None

    def record(epoch):
        nonlocal best_epoch, best_acc, best_state
        va, _ = _accuracy(model, Xv, yv)
        ta, pred = _accuracy(model, Xt, yt)
        val.append(va)
        given.append(ta)
        mem.append(float((pred[flipped] == y[flipped]).mean()) if flipped is not None and
                   flipped.any() else float("nan"))
        if va > best_acc:
            best_epoch, best_acc, best_state = epoch, va, copy.deepcopy(model.state_dict())

    y = yt.numpy()
    model.train()
    record(0)
    for epoch in range(1, epochs + 1):
        train(lambda idx: robust_loss(model(Xt[idx]), yt[idx], loss, **loss_kwargs), opt,
              shuffled(len(Xt), batch_size, g))
        record(epoch)
    model.eval()
    return NoisyHistory(np.array(val), np.array(given), np.array(mem), best_epoch, best_state)


def early_stopping(curve, patience: int = 5, min_delta: float = 0.0) -> tuple[int, int]:
    """Replay early stopping on a validation curve (higher is better), one value per epoch.

    Training stops at the first epoch where the best value so far is `patience` epochs old
    (no improvement larger than min_delta since); the weights kept are those of the best epoch.
    Returns (stop_epoch, best_epoch); stop_epoch = the last epoch when patience never ran out.
    """
    c = np.asarray(curve, np.float64)
    if c.ndim != 1 or len(c) == 0:
        raise ValueError(f"early_stopping: curve must be a non-empty 1-D array, got {c.shape}")
    if not (isinstance(patience, int) and patience >= 1):
        raise ValueError(f"early_stopping: patience must be an int >= 1, got {patience!r}")
    best, best_epoch = c[0], 0
    for epoch in range(1, len(c)):
        if c[epoch] > best + min_delta:
            best, best_epoch = c[epoch], epoch
        elif epoch - best_epoch >= patience:
            return epoch, best_epoch
    return len(c) - 1, best_epoch
