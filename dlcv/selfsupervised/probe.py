"""The linear probe: how much a frozen representation knows, measured by the best linear
classifier on top of it (the standard yardstick of self-supervised learning).

    standardize(F_train, F_test)        both scaled by the training features' mean and std
    fit_probe(F, y, C=1.0, max_iter=200)
                                        multinomial logistic regression with an L2 penalty,
                                        fitted by L-BFGS in float64 -> Probe (W, b)
    Probe.predict(F), Probe.proba(F)    (N,) classes, (N, K) probabilities
    linear_probe(F_train, y_train, F_test, y_test, C=1.0)
                                        standardize, fit, and the test accuracy
    nearest(F_query, F_gallery, k)      (Q, k) indices of the k most cosine-similar gallery
                                        rows (features standardized by the gallery's statistics)
    label_agreement(idx, y_query, y_gallery)
                                        (Q,) the share of each query's neighbours with its label

The objective is scikit-learn's LogisticRegression's (C * sum of the cross-entropies +
||W||^2 / 2, the bias not penalised), so the two find the same classifier (a test checks it);
the features are never changed by the probe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from dlcv.validate import integer, positive


def _features(F_, who: str, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(F_, np.float64) if not isinstance(F_, torch.Tensor) else F_)
    t = t.reshape(len(t), -1).double()
    if t.dim() != 2 or len(t) == 0 or not torch.isfinite(t).all():
        raise ValueError(f"{who}: {name} must be (N, D) finite features, got {tuple(t.shape)}")
    return t


def standardize(F_train, F_test) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, D) and (M, D) -> both minus the training mean, divided by the training std (1 where
    a feature is constant), float64."""
    a, b = _features(F_train, "standardize", "F_train"), _features(F_test, "standardize", "F_test")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"standardize: F_train and F_test must have the same D, got "
                         f"{a.shape[1]} and {b.shape[1]}")
    mu, sd = a.mean(0), a.std(0, unbiased=False)
    sd = torch.where(sd > 1e-12, sd, torch.ones_like(sd))
    return (a - mu) / sd, (b - mu) / sd


@dataclass
class Probe:
    """A linear classifier: W (D, K), b (K,) float64 tensors; scores = F @ W + b."""

    W: torch.Tensor
    b: torch.Tensor

    def scores(self, F_) -> torch.Tensor:
        return _features(F_, "Probe", "F") @ self.W + self.b

    def proba(self, F_) -> torch.Tensor:
        return torch.softmax(self.scores(F_), 1)

    def predict(self, F_) -> torch.Tensor:
        return self.scores(F_).argmax(1)


def fit_probe(F_, y, C: float = 1.0, max_iter: int = 200) -> Probe:
    """Multinomial logistic regression on features F: (N, D) and labels y: (N,) in 0..K-1,
    minimising C * sum_i CE(F_i W + b, y_i) + ||W||^2 / 2 with L-BFGS (strong Wolfe line
    search), float64. Larger C: a weaker penalty."""
    X = _features(F_, "fit_probe", "F")
    y = torch.as_tensor(np.asarray(y)).long()
    if y.shape != (len(X),):
        raise ValueError(f"fit_probe: y must be ({len(X)},), got {tuple(y.shape)}")
    C = positive("fit_probe", "C", C)
    max_iter = integer("fit_probe", "max_iter", max_iter, 1)
    K = int(y.max()) + 1
    W = torch.zeros(X.shape[1], K, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(K, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], lr=1, max_iter=max_iter, tolerance_grad=1e-9,
                            tolerance_change=1e-12, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        # the objective divided by C N, the same minimiser with gradients of order one
        loss = F.cross_entropy(X @ W + b, y) + (W * W).sum() / (2 * C * len(X))
        loss.backward()
        return loss

    opt.step(closure)   # full-batch L-BFGS: a convex problem, not a dlcv.loop.train run
    return Probe(W.detach(), b.detach())


def linear_probe(F_train, y_train, F_test, y_test, C: float = 1.0) -> float:
    """Test accuracy of fit_probe on standardized features: F_*: (N, D), y_*: (N,)."""
    a, b = standardize(F_train, F_test)
    probe = fit_probe(a, y_train, C)
    y_test = torch.as_tensor(np.asarray(y_test)).long()
    if y_test.shape != (len(b),):
        raise ValueError(f"linear_probe: y_test must be ({len(b)},), got {tuple(y_test.shape)}")
    return float((probe.predict(b) == y_test).double().mean())


def nearest(F_query, F_gallery, k: int) -> torch.Tensor:
    """(Q, k) int64 indices of the k gallery rows (N, D) most similar to each query row (Q, D),
    most similar first: cosine similarity after standardizing both by the gallery's mean and
    std (so that no feature dominates by its scale)."""
    g, q = standardize(F_gallery, F_query)
    k = integer("nearest", "k", k, 1, len(g))
    sim = F.normalize(q, dim=1) @ F.normalize(g, dim=1).T                     # (Q, N)
    return sim.topk(k, dim=1).indices


def label_agreement(idx, y_query, y_gallery) -> torch.Tensor:
    """(Q,) float64: for every query, the share of its neighbours idx (Q, k) whose label in
    y_gallery (N,) equals its own in y_query (Q,)."""
    idx = torch.as_tensor(idx)
    yq, yg = torch.as_tensor(np.asarray(y_query)), torch.as_tensor(np.asarray(y_gallery))
    if idx.dim() != 2 or yq.shape != (len(idx),):
        raise ValueError(f"label_agreement: idx must be (Q, k) and y_query (Q,), got "
                         f"{tuple(idx.shape)} and {tuple(yq.shape)}")
    return (yg[idx] == yq[:, None]).double().mean(1)
