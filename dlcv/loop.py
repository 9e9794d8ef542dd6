"""The course's one training loop for torch models, and the ways it draws minibatches.

Every trainer in dlcv (and the lectures after lecture 02, where the loop is written out by hand)
runs the same five lines: compute the loss of a batch, clear the gradients, backpropagate,
optionally clip, step the optimizer (and its schedule). They differ only in what a batch is and
what the loss is, so those are the two arguments:

    log = train(lambda idx: F.cross_entropy(model(X[idx]), y[idx]), opt,
                shuffled(len(X), 64, generator))          # one epoch
    log.loss                                              # one float per step

- loss_of(batch) -> scalar tensor: whatever `batches` yields goes in; a trainer that wants more
  than the loss (accuracies, gate values, box errors) records them in its own closure.
- batches: any iterable; shuffled / cycled / sampled below give index tensors (N is the size
  of the training set) that are a deterministic function of the generator, which trainers use for
  nothing else, so that a seed fixes the whole run.
- train(..., log=log) appends to an earlier Log: a trainer that evaluates after every epoch calls
  train once per epoch with the same log.
- on_step(step, loss) runs after every step (the time it takes is not counted in log.seconds);
  returning True stops training, as does a loss that is not finite when stop_if_not_finite
  (after that step and its on_step).

This module holds no assignment's solution: students write their own loop in a2-a4.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from dlcv.validate import integer


@dataclass
class Log:
    """What train recorded, one entry per optimizer step.

    loss: the minibatch loss before the step; lr: the first parameter group's learning rate used
    by the step; grad_norm: the total gradient norm before clipping (only when clip_norm is set or
    grad_norm=True, else empty); seconds: time spent in the steps, on_step excluded; stopped: True
    when on_step asked to stop or a loss was not finite.
    """

    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    seconds: float = 0.0
    stopped: bool = False

    @property
    def steps(self) -> int:
        return len(self.loss)


def _params(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for g in optimizer.param_groups for p in g["params"]]


def _total_norm(params: list[torch.Tensor]) -> torch.Tensor:
    norms = [torch.linalg.vector_norm(p.grad) for p in params if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(norms)) if norms else torch.zeros(())


def train(loss_of: Callable[[object], torch.Tensor], optimizer: torch.optim.Optimizer,
          batches: Iterable, *, scheduler=None, clip_norm: float | None = None,
          grad_norm: bool = False, on_step: Callable[[int, float], bool | None] | None = None,
          stop_if_not_finite: bool = False, progress: str | None = None,
          total: int | None = None, log: Log | None = None) -> Log:
    """Minimise loss_of over the batches with the optimizer: one step per batch.

    Arguments:
    - loss_of: batch -> scalar loss tensor (the graph from the parameters to the loss).
    - optimizer: a torch optimizer over the parameters to train.
    - batches: an iterable of batches, handed to loss_of one by one.
    - scheduler: a torch learning-rate scheduler stepped after every optimizer step.
    - clip_norm: if set, rescale the gradients to at most this total norm before each step.
    - grad_norm: record the total gradient norm even without clipping.
    - on_step: called as on_step(step, loss) after every step (step counts from 1 over this
      log); return True to stop.
    - stop_if_not_finite: stop (after the step) at the first loss that is nan or inf.
    - progress: a label for a tqdm progress bar (None: no bar); total: its length.
    - log: a Log to append to (default: a new one).

    Returns the Log. The model's train/eval mode is the caller's to set.
    """
    if clip_norm is not None and not clip_norm > 0:
        raise ValueError(f"train: clip_norm must be > 0 or None, got {clip_norm}")
    log = Log() if log is None else log
    params = _params(optimizer)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=progress, unit="step", leave=False)
    try:
        for batch in batches:
            t0 = time.perf_counter()
            loss = loss_of(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_norm is not None:
                log.grad_norm.append(float(nn.utils.clip_grad_norm_(params, clip_norm)))
            elif grad_norm:
                log.grad_norm.append(float(_total_norm(params)))
            log.lr.append(float(optimizer.param_groups[0]["lr"]))
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            log.loss.append(float(loss.detach()))
            log.seconds += time.perf_counter() - t0
            if bar is not None:
                bar.update(1)
                if log.steps % 25 == 0:
                    bar.set_postfix(loss=f"{sum(log.loss[-25:]) / 25:.3f}")
            asked = on_step is not None and on_step(log.steps, log.loss[-1])
            if asked or (stop_if_not_finite and not math.isfinite(log.loss[-1])):
                log.stopped = True
                break
    finally:
        if bar is not None:
            bar.close()
    return log


# ---------------------------------------------------------------------------------------------
# Minibatches: index tensors into a training set of n examples
# ---------------------------------------------------------------------------------------------

def shuffled(n: int, batch_size: int, generator: torch.Generator | None = None,
             drop_last: bool = False) -> Iterator[torch.Tensor]:
    """One epoch: a fresh permutation of range(n) cut into batches of batch_size, in order.

    The last, smaller batch is kept unless drop_last (e.g. so that BatchNorm never sees a batch
    of one). generator None draws from torch's global generator. The permutation is drawn when
    the first batch is asked for.
    """
    n = integer("shuffled", "n", n, 1)
    batch_size = integer("shuffled", "batch_size", batch_size, 1)
    order = torch.randperm(n, generator=generator)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


def cycled(n: int, batch_size: int, steps: int,
           generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """steps batches of batch_size walking through permutations of range(n): when the next batch
    would run past the end of a permutation, a new one is drawn (so every batch is full and no
    example repeats within one; with batch_size > n, every batch is a fresh permutation)."""
    n = integer("cycled", "n", n, 1)
    steps = integer("cycled", "steps", steps, 0)
    batch_size = integer("cycled", "batch_size", batch_size, 1)
    order, pos = torch.randperm(n, generator=generator), 0
    for _ in range(steps):
        if pos + batch_size > n:
            order, pos = torch.randperm(n, generator=generator), 0
        yield order[pos:pos + batch_size]
        pos += batch_size


def sampled(n: int, batch_size: int, steps: int,
            generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """steps batches of min(batch_size, n) indices drawn uniformly with replacement."""
    n = integer("sampled", "n", n, 1)
    steps = integer("sampled", "steps", steps, 0)
    size = (min(integer("sampled", "batch_size", batch_size, 1), n),)
    for _ in range(steps):
        yield torch.randint(0, n, size, generator=generator)
