"""Knowledge distillation (lecture 18, Hinton, Vinyals & Dean 2015): a small student network
learns from the softened outputs of a large teacher.

    soft_targets(logits, T)                     softmax(logits / T): (N, C), rows sum to 1
    distillation_loss(s, t, y, T, alpha)        alpha T^2 KL(p_T(t) || p_T(s)) + (1-alpha) CE(s, y)
    fit_distilled(student, X, y, teacher_logits, T, alpha, ...)
                                                minibatch Adam on that loss (for some epochs or
                                                a fixed number of steps) -> DistillHistory
                                                (alpha = 0: ordinary training on the labels)

The teacher is trained beforehand with dlcv.networks.training.fit; its logits on the training set are
computed once and passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.loop import Log, cycled, shuffled, train


def soft_targets(logits, T: float = 1.0) -> np.ndarray:
    """The softmax at temperature T of logits (N, C) (array or tensor) -> (N, C) float64.
    T = 1 is the usual softmax; larger T spreads the probability over more classes; T -> 0
    puts it all on the largest logit."""
    if not T > 0:
        raise ValueError(f"soft_targets: the temperature T must be > 0, got {T}")
    z = torch.as_tensor(np.asarray(logits, np.float64) if not isinstance(logits, torch.Tensor)
                        else logits.double())
    if z.dim() != 2:
        raise ValueError(f"soft_targets: logits must be (N, C), got {tuple(z.shape)}")
    return torch.softmax(z / T, dim=1).numpy()


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      y: torch.Tensor | None, T: float = 4.0, alpha: float = 0.9) -> torch.Tensor:
    """Hinton et al.'s loss for a batch (mean over the batch):

        alpha * T^2 * KL( softmax(t / T) || softmax(s / T) ) + (1 - alpha) * CE(s, y)

    student_logits s, teacher_logits t: (N, C); y: (N,) true labels (may be None when
    alpha = 1). The KL term is the cross-entropy with the teacher's soft targets minus their
    entropy (a constant for the student). Its gradient with respect to s is
    (softmax(s / T) - softmax(t / T)) / T; at high T the difference is itself of order 1 / T,
    so the gradient shrinks like 1 / T^2: the factor T^2 keeps the two terms' balance when T
    changes.
    """
    if not T > 0:
        raise ValueError(f"distillation_loss: T must be > 0, got {T}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"distillation_loss: alpha must be in [0, 1], got {alpha}")
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 2:
        raise ValueError(f"distillation_loss: student and teacher logits must both be (N, C), "
                         f"got {tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")
    loss = student_logits.new_zeros(())
    if alpha > 0:
        log_ps = F.log_softmax(student_logits / T, dim=1)
        log_pt = F.log_softmax(teacher_logits.detach() / T, dim=1)
        kl = F.kl_div(log_ps, log_pt, log_target=True, reduction="batchmean")
        loss = loss + alpha * T * T * kl
    if alpha < 1:
        if y is None:
            raise ValueError("distillation_loss: y is needed when alpha < 1")
        loss = loss + (1 - alpha) * F.cross_entropy(student_logits, y)
    return loss


@dataclass
class DistillHistory:
    """fit_distilled's record: loss (per step), val_acc (per epoch, index 0 before training)."""

    loss: np.ndarray
    val_acc: np.ndarray


def fit_distilled(student: nn.Module, X, y, teacher_logits=None, X_val=None, y_val=None,
                  T: float = 4.0, alpha: float = 0.9, epochs: int = 40, batch_size: int = 64,
                  lr: float = 3e-3, weight_decay: float = 0.0, seed: int = 0,
                  steps: int | None = None) -> DistillHistory:
    """Train `student` (in place) with Adam on distillation_loss.

    X: (N, ...) float inputs; y: (N,) labels; teacher_logits: (N, C) the teacher's logits on X
    (not needed when alpha = 0, which is plain cross-entropy training with the same loop, the
    fair baseline). X_val, y_val: data to record the accuracy on after every epoch.
    steps: if given, train for exactly this many steps instead of `epochs` passes (batches of
    min(batch_size, N) from dlcv.loop.cycled, so that training sets of different sizes get the
    same number of updates); val_acc then has two entries, before and after.
    """
    Xt = torch.as_tensor(np.asarray(X, np.float32))
    yt = torch.as_tensor(np.asarray(y, np.int64))
    if yt.shape != (len(Xt),):
        raise ValueError(f"fit_distilled: y must be ({len(Xt)},), got {tuple(yt.shape)}")
    if alpha > 0:
        if teacher_logits is None:
            raise ValueError("fit_distilled: teacher_logits are needed when alpha > 0")
        Lt = torch.as_tensor(np.asarray(teacher_logits, np.float32))
        if Lt.dim() != 2 or len(Lt) != len(Xt):
            raise ValueError(f"fit_distilled: teacher_logits must be ({len(Xt)}, C), got "
                             f"{tuple(Lt.shape)}")
    else:
        Lt = None
    if not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f"fit_distilled: epochs must be an int >= 1, got {epochs!r}")
    if steps is not None and not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"fit_distilled: steps must be an int >= 1 or None, got {steps!r}")
    Xv = torch.as_tensor(np.asarray(X_val, np.float32)) if X_val is not None else None
    yv = torch.as_tensor(np.asarray(y_val, np.int64)) if y_val is not None else None
    opt = torch.optim.Adam(student.parameters(), lr=lr, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(seed)
    log, val = Log(), []

    def record():
        if Xv is None:
            return
        student.eval()
        with torch.no_grad():
            val.append(float((student(Xv).argmax(1) == yv).float().mean()))
        student.train()

    student.train()
    record()

    def loss_of(idx):
        s = student(Xt[idx])
        t = Lt[idx] if Lt is not None else s.detach()
        return distillation_loss(s, t, yt[idx], T, alpha)

    if steps is not None:
        train(loss_of, opt, cycled(len(Xt), min(batch_size, len(Xt)), steps, g), log=log)
        record()
    else:
        for _ in range(epochs):
            train(loss_of, opt, shuffled(len(Xt), batch_size, g), log=log)
            record()
    student.eval()
    return DistillHistory(np.array(log.loss), np.array(val))
