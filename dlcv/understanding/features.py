"""What a trained network computes inside (lecture 16): activations, first-layer filters, and
neighbours and maps in feature space.

    activations(model, x, names)           {name: (N, ...) output of model's submodule `name`}
                                           read by forward hooks, without gradients
    first_layer_filters(model)             (F, C, k, k) weights of the first convolution
    embed(model, X, layer="hidden")        (N, D) numpy: a layer's output, flattened
    nearest_neighbours(queries, gallery, k, exclude_self=False)
                                           (Q, k) indices of the k nearest gallery rows
                                           (Euclidean), nearest first
    label_agreement(idx, y_query, y_gallery)
                                           the share of the neighbours that share the
                                           query's label
    tsne(features, seed=0, perplexity=30)  (N, 2) t-SNE map (scikit-learn, PCA start)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dlcv.validate import integer, positive


def activations(model: nn.Module, x: torch.Tensor, names) -> dict[str, torch.Tensor]:
    """Run model on x: (N, C, H, W) once and return the outputs of the named submodules
    (e.g. "conv1", "conv3", "hidden"), detached, by forward hooks."""
    names = [names] if isinstance(names, str) else list(names)
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules or not n]
    if missing:
        known = ", ".join(n for n, _ in model.named_children())
        raise ValueError(f"activations: no submodule named {missing[0]!r}; the model's stages "
                         f"are {known}")
    out: dict[str, torch.Tensor] = {}
    hooks = [modules[n].register_forward_hook(
        lambda _m, _i, o, n=n: out.__setitem__(n, o.detach())) for n in names]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return out


def first_layer_filters(model: nn.Module) -> np.ndarray:
    """The weights of the model's first nn.Conv2d: (F, C, k, k) float64."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m.weight.detach().double().numpy()
    raise ValueError("first_layer_filters: the model has no nn.Conv2d")


def embed(model: nn.Module, X, layer: str = "hidden", batch_size: int = 1024) -> np.ndarray:
    """The output of `layer` for X: (N, C, H, W), flattened: (N, D) float64."""
    X = torch.as_tensor(np.asarray(X, np.float32))
    parts = [activations(model, X[i:i + batch_size], layer)[layer]
             for i in range(0, len(X), batch_size)]
    return torch.cat(parts).reshape(len(X), -1).double().numpy()


def nearest_neighbours(queries, gallery, k: int, exclude_self: bool = False) -> np.ndarray:
    """Indices (Q, k) of the k gallery rows nearest to each query (Euclidean), nearest first.

    queries: (Q, D); gallery: (N, D). exclude_self: the queries are the gallery's rows (Q = N)
    and a row is not its own neighbour. Ties go to the lower index.
    """
    q, g = np.asarray(queries, np.float64), np.asarray(gallery, np.float64)
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise ValueError(f"nearest_neighbours: queries (Q, D) and gallery (N, D) must share D, "
                         f"got {q.shape} and {g.shape}")
    k = integer("nearest_neighbours", "k", k, 1, len(g) - int(exclude_self))
    if exclude_self and len(q) != len(g):
        raise ValueError("nearest_neighbours: exclude_self needs the queries to be the gallery")
    d2 = (q * q).sum(1)[:, None] - 2 * q @ g.T + (g * g).sum(1)[None]   # (Q, N)
    if exclude_self:
        np.fill_diagonal(d2, np.inf)
    return np.argsort(d2, axis=1, kind="stable")[:, :k]


def label_agreement(idx, y_query, y_gallery) -> float:
    """The share of neighbours idx: (Q, k) whose label y_gallery[idx] equals y_query: (Q,)."""
    idx, yq, yg = np.asarray(idx), np.asarray(y_query), np.asarray(y_gallery)
    if idx.ndim != 2 or len(idx) != len(yq):
        raise ValueError(f"label_agreement: idx must be (Q, k) with Q = len(y_query) = "
                         f"{len(yq)}, got {idx.shape}")
    return float(np.mean(yg[idx] == yq[:, None]))


def tsne(features, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """A 2-D t-SNE map (van der Maaten & Hinton 2008) of features: (N, D) -> (N, 2), with
    scikit-learn's TSNE started from PCA, so the map is a deterministic function of the seed."""
    from sklearn.manifold import TSNE

    f = np.asarray(features, np.float64)
    if f.ndim != 2 or len(f) < 4:
        raise ValueError(f"tsne: features must be (N, D) with N >= 4, got {f.shape}")
    perplexity = positive("tsne", "perplexity", perplexity)
    if perplexity >= len(f):
        raise ValueError(f"tsne: perplexity must be below N = {len(f)}, got {perplexity}")
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(f)
