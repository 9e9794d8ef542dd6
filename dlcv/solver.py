"""A training loop for classification models that follow the course's model contract.

    solver = Solver(model, data, update_rule=sgd_momentum,
                    optim_config={"learning_rate": 1e-2}, lr_decay=0.95,
                    num_epochs=10, batch_size=100)
    solver.train()
    solver.best_val_acc, solver.loss_history, solver.train_acc_history, solver.val_acc_history

The model contract (the course's convention for every assignment):
- model.params: dict name -> numpy array, the parameters the solver updates;
- model.loss(X, y=None): scores (N, C) when y is None (test mode), else (loss, grads) with grads
  a dict holding an array of the same shape as params[name] for every name (train mode).

An update rule is a function  next_w, config = update_rule(w, dw, config)  (the ones students write
in assignment a2: sgd, sgd_momentum, nesterov, adagrad, rmsprop, adam). The solver keeps one config
per parameter, so the state an update rule stores there (velocity, caches, the step count) belongs
to that parameter alone.

After train(), model.params holds the parameters of the epoch with the best validation accuracy,
as does solver.best_params; with checkpoint_name set, each new best is also saved to
"<checkpoint_name>_best.npz" (Solver.load_checkpoint reads it back).

This file holds no solution: it only calls the model's loss and the update rule it is given.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

UpdateRule = Callable[[np.ndarray, np.ndarray, dict], tuple]

_DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")


def _check_data(data: dict) -> None:
    if not isinstance(data, dict):
        raise TypeError(f"Solver: data must be a dict with keys {_DATA_KEYS}, got {type(data).__name__}")
    missing = [k for k in _DATA_KEYS if k not in data]
    if missing:
        raise ValueError(f"Solver: data is missing {missing}; it needs {_DATA_KEYS}")
    for part in ("train", "val"):
        X, y = np.asarray(data[f"X_{part}"]), np.asarray(data[f"y_{part}"])
        if X.ndim < 2:
            raise ValueError(f"Solver: X_{part} must have shape (N, ...) with one sample per row, "
                             f"got shape {X.shape}")
        if y.shape != (X.shape[0],):
            raise ValueError(f"Solver: y_{part} must have shape ({X.shape[0]},) to match X_{part}, "
                             f"got {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"Solver: y_{part} must hold integer class labels, got dtype {y.dtype}")
        if X.shape[0] == 0:
            raise ValueError(f"Solver: X_{part} is empty")


class Solver:
    """Minibatch training with a given update rule, learning-rate decay and best-model tracking.

    Arguments:
    - model: an object with .params (dict of arrays) and .loss(X, y=None) (see the module doc).
    - data: dict with X_train (N, ...), y_train (N,), X_val (M, ...), y_val (M,).
    - update_rule: function (w, dw, config) -> (next_w, config).
    - optim_config: hyperparameters handed to the update rule (e.g. {"learning_rate": 1e-3});
      each parameter gets its own deep copy.
    - lr_decay: after each epoch, every config's "learning_rate" is multiplied by this.
    - batch_size, num_epochs: the minibatch size and the number of passes over the training set.
    - num_train_samples: training accuracy is measured on this many training samples per epoch
      (None: all of them); num_val_samples likewise for validation (None: all).
    - checkpoint_name: if set, each new best model is saved to "<checkpoint_name>_best.npz".
    - print_every: print the loss every this many iterations when verbose (0: never).
    - verbose: print one line per epoch; progress: show a tqdm progress bar.
    - seed: seeds the order of the minibatches (the model's own randomness is the model's).
    """

    def __init__(self, model, data: dict, update_rule: UpdateRule, optim_config: dict | None = None,
                 lr_decay: float = 1.0, batch_size: int = 100, num_epochs: int = 10,
                 num_train_samples: int | None = 1000, num_val_samples: int | None = None,
                 checkpoint_name: str | None = None, print_every: int = 0, verbose: bool = True,
                 progress: bool = True, seed: int = 0):
        if not hasattr(model, "params") or not callable(getattr(model, "loss", None)):
            raise TypeError("Solver: model must have a dict .params and a method .loss(X, y=None)")
        if not isinstance(model.params, dict) or not model.params:
            raise ValueError("Solver: model.params must be a non-empty dict name -> numpy array "
                             f"(got {type(model.params).__name__} {model.params!r:.60})")
        if not callable(update_rule):
            raise TypeError("Solver: update_rule must be a function (w, dw, config) -> "
                            f"(next_w, config), got {update_rule!r}")
        _check_data(data)
        if batch_size < 1 or num_epochs < 1:
            raise ValueError(f"Solver: batch_size and num_epochs must be >= 1, got {batch_size} "
                             f"and {num_epochs}")
        if not 0 < lr_decay <= 1:
            raise ValueError(f"Solver: lr_decay must be in (0, 1], got {lr_decay}")

        self.model = model
        self.X_train, self.y_train = np.asarray(data["X_train"]), np.asarray(data["y_train"])
        self.X_val, self.y_val = np.asarray(data["X_val"]), np.asarray(data["y_val"])
        self.update_rule = update_rule
        self.optim_config = dict(optim_config or {})
        self.lr_decay = lr_decay
        self.batch_size, self.num_epochs = int(batch_size), int(num_epochs)
        self.num_train_samples, self.num_val_samples = num_train_samples, num_val_samples
        self.checkpoint_name = checkpoint_name
        self.print_every, self.verbose, self.progress = print_every, verbose, progress
        self.rng = np.random.default_rng(seed)
        self._reset()

    def _reset(self) -> None:
        self.epoch = 0
        self.best_val_acc = 0.0
        self.best_epoch = 0
        self.best_params: dict[str, np.ndarray] = {}
        self.loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.stopped_early: str | None = None  # why training stopped before the last epoch
        self.optim_configs = {name: copy.deepcopy(self.optim_config) for name in self.model.params}

    # -- one step ------------------------------------------------------------------------------
    def _step(self, idx: np.ndarray) -> float:
        X_batch, y_batch = self.X_train[idx], self.y_train[idx]
        out = self.model.loss(X_batch, y_batch)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError("Solver: model.loss(X, y) must return (loss, grads), got "
                            f"{type(out).__name__}")
        loss, grads = out
        for name, w in self.model.params.items():
            if name not in grads:
                raise KeyError(f"Solver: model.loss returned no gradient for parameter {name!r} "
                               f"(grads has {sorted(grads)})")
            dw = grads[name]
            if np.shape(dw) != np.shape(w):
                raise ValueError(f"Solver: grads[{name!r}] has shape {np.shape(dw)}, but "
                                 f"params[{name!r}] has shape {np.shape(w)}")
            next_w, next_config = self.update_rule(w, dw, self.optim_configs[name])
            if next_w is None or np.shape(next_w) != np.shape(w):
                raise ValueError(f"Solver: the update rule returned {type(next_w).__name__} of "
                                 f"shape {np.shape(next_w)} for {name!r}, expected shape "
                                 f"{np.shape(w)}")
            self.model.params[name] = next_w
            self.optim_configs[name] = next_config
        return float(loss)

    # -- evaluation ----------------------------------------------------------------------------
    def check_accuracy(self, X: np.ndarray, y: np.ndarray, num_samples: int | None = None,
                       batch_size: int = 500) -> float:
        """Accuracy of the model on (a random subset of num_samples of) X, y, in test mode."""
        N = X.shape[0]
        if num_samples is not None and N > num_samples:
            idx = self.rng.choice(N, num_samples, replace=False)
            X, y = X[idx], y[idx]
            N = num_samples
        y_pred = [np.argmax(self.model.loss(X[i:i + batch_size]), axis=1)
                  for i in range(0, N, batch_size)]
        return float(np.mean(np.concatenate(y_pred) == y))

    # -- training ------------------------------------------------------------------------------
    def train(self) -> Solver:
        """Run num_epochs epochs; keep the best model (by validation accuracy) in model.params."""
        N = self.X_train.shape[0]
        per_epoch = max(N // self.batch_size, 1)
        total = per_epoch * self.num_epochs
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc="training", unit="it", leave=False)
        try:
            for it in range(total):
                idx = self.rng.choice(N, min(self.batch_size, N), replace=False)
                loss = self._step(idx)
                self.loss_history.append(loss)
                if bar is not None:
                    bar.update(1)
                    if it % 10 == 0:
                        bar.set_postfix(loss=f"{loss:.3f}", epoch=self.epoch + 1)
                if not math.isfinite(loss):
                    self.stopped_early = (f"the loss became {loss} at iteration {it + 1}: the "
                                          "learning rate is probably too high (or weight_scale "
                                          "too large)")
                    print(f"Solver stopped: {self.stopped_early}")
                    break
                if self.verbose and self.print_every and it % self.print_every == 0:
                    print(f"(iteration {it + 1} / {total}) loss: {loss:f}")
                if (it + 1) % per_epoch == 0:
                    self._end_epoch()
        finally:
            if bar is not None:
                bar.close()
        if self.best_params:
            self.model.params = {k: v.copy() for k, v in self.best_params.items()}
        return self

    def _end_epoch(self) -> None:
        self.epoch += 1
        for config in self.optim_configs.values():
            if "learning_rate" in config:
                config["learning_rate"] *= self.lr_decay
        train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        if self.verbose:
            print(f"(epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:.3f}; "
                  f"val acc: {val_acc:.3f}; loss {self.loss_history[-1]:.4f}")
        if val_acc >= self.best_val_acc or not self.best_params:  # ties: the later, longer-trained epoch
            self.best_val_acc, self.best_epoch = val_acc, self.epoch
            self.best_params = {k: np.array(v, copy=True) for k, v in self.model.params.items()}
            if self.checkpoint_name:
                self.save_checkpoint(f"{self.checkpoint_name}_best.npz")

    # -- checkpoints ---------------------------------------------------------------------------
    def save_checkpoint(self, path) -> Path:
        """Save the best parameters and the histories to an .npz file (no pickle)."""
        path = Path(path)
        meta = dict(epoch=self.best_epoch, best_val_acc=self.best_val_acc,
                    lr_decay=self.lr_decay, batch_size=self.batch_size,
                    loss_history=self.loss_history, train_acc_history=self.train_acc_history,
                    val_acc_history=self.val_acc_history)
        arrays = {f"param/{k}": v for k, v in self.best_params.items()}
        np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
        return path

    @staticmethod
    def load_checkpoint(path) -> tuple[dict, dict]:
        """(params, meta) from a file written by save_checkpoint."""
        with np.load(path, allow_pickle=False) as f:
            params = {k.split("/", 1)[1]: f[k] for k in f.files if k.startswith("param/")}
            meta = json.loads(str(f["meta"]))
        return params, meta
