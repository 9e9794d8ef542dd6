"""Transfer learning with small CNNs (lecture 07): reuse a network trained on one task for another.

    SmallCNN(num_classes, norm=...)       backbone (convs -> global average pooling -> features)
                                          + a linear head; norm: batch / group / layer / none
    few_shot_indices(y, per_class, ...)   a few labelled examples of each class
    extract_features(backbone, X)         frozen features, computed once: (N, F)
    train_linear_head(F, y, ...)          a softmax (logistic) classifier on frozen features
    param_groups(model, backbone, ...)    torch optimizer groups with a smaller backbone lr
    fine_tune(model, backbone, X, y, ...) train everything, the backbone with a smaller lr

Training runs through dlcv.networks.training.fit (one minibatch loop for the whole course).
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch
from torch import nn

from dlcv.networks.training import History, fit, make_net

CNN_NORMS = ("batch", "group", "layer", "none")


def _norm(kind: str, channels: int, groups: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(min(groups, channels), channels)
    if kind == "layer":  # one group: statistics over (C, H, W) of each example
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class SmallCNN(nn.Module):
    """A small CNN for 8x8 (or larger) single-channel images, split into backbone and head.

    backbone: conv3x3 (in -> w0) -> norm -> ReLU -> conv3x3 (w0 -> w1) -> norm -> ReLU ->
              max-pool 2 -> conv3x3 (w1 -> w2) -> norm -> ReLU -> global average pooling
              x: (N, in_channels, H, W) -> features (N, w2)
    head:     Linear(w2, num_classes): features -> scores (N, num_classes)

    norm: "batch" (BatchNorm2d), "group" (GroupNorm with `groups` groups), "layer" (GroupNorm
    with one group) or "none". seed fixes the initial weights without touching the global
    torch random state (None: use and advance it).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1,
                 widths: tuple[int, int, int] = (16, 32, 64), norm: str = "batch",
                 groups: int = 4, seed: int | None = 0):
        super().__init__()
        if norm not in CNN_NORMS:
            raise ValueError(f"SmallCNN: norm must be one of {CNN_NORMS}, got {norm!r}")
        if len(widths) != 3 or any(int(w) < 1 for w in widths):
            raise ValueError(f"SmallCNN: widths must be three positive ints, got {widths!r}")
        if not (isinstance(num_classes, int) and num_classes >= 2):
            raise ValueError(f"SmallCNN: num_classes must be an int >= 2, got {num_classes!r}")
        self.in_channels, self.num_features = in_channels, widths[2]
        w0, w1, w2 = widths
        ctx = torch.random.fork_rng(devices=[]) if seed is not None else nullcontext()
        with ctx:
            if seed is not None:
                torch.manual_seed(seed)
            self.backbone = nn.Sequential(
                nn.Conv2d(in_channels, w0, 3, padding=1), _norm(norm, w0, groups), nn.ReLU(),
                nn.Conv2d(w0, w1, 3, padding=1), _norm(norm, w1, groups), nn.ReLU(),
                nn.MaxPool2d(2),                                    # (N, w1, H/2, W/2)
                nn.Conv2d(w1, w2, 3, padding=1), _norm(norm, w2, groups), nn.ReLU(),
                nn.AdaptiveAvgPool2d(1), nn.Flatten())              # (N, w2)
            self.head = nn.Linear(w2, num_classes)

    def forward(self, x):
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != self.in_channels:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"SmallCNN: x must have shape (N, {self.in_channels}, H, W), "
                             f"got {shape}")
        return self.head(self.backbone(x))


def few_shot_indices(y, per_class: int, classes=None, seed: int = 0,
                     exclude=None) -> np.ndarray:
    """Indices of `per_class` randomly chosen examples of each class in `classes` (default: all
    labels in y), sorted; `exclude` lists indices that must not be chosen. y: (N,) ints."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"few_shot_indices: y must be (N,) labels, got shape {y.shape}")
    if not (isinstance(per_class, int) and per_class >= 1):
        raise ValueError(f"few_shot_indices: per_class must be an int >= 1, got {per_class!r}")
    rng = np.random.default_rng(seed)
    allowed = np.ones(len(y), dtype=bool)
    if exclude is not None:
        allowed[np.asarray(exclude, dtype=np.int64)] = False
    out = []
    for c in (np.unique(y) if classes is None else classes):
        idx = np.flatnonzero((y == c) & allowed)
        if len(idx) < per_class:
            raise ValueError(f"few_shot_indices: class {c} has only {len(idx)} examples, "
                             f"asked for {per_class}")
        out.append(rng.choice(idx, per_class, replace=False))
    return np.sort(np.concatenate(out))


def extract_features(backbone: nn.Module, X, batch_size: int = 512) -> np.ndarray:
    """Run the (frozen) backbone once over X: (N, C, H, W) -> features (N, F) float32, in eval
    mode (BatchNorm uses its running statistics) and without gradients. Compute them once and
    train as many heads on them as you like."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 4:
        raise ValueError(f"extract_features: X must be (N, C, H, W) images, got {X.shape}")
    was = backbone.training
    backbone.eval()
    with torch.no_grad():
        feats = [backbone(torch.from_numpy(X[i:i + batch_size])) for i in range(0, len(X),
                                                                                 batch_size)]
    backbone.train(was)
    out = torch.cat(feats).reshape(len(X), -1).numpy()
    return out


def train_linear_head(features, y, features_val=None, y_val=None, num_classes: int | None = None,
                      epochs: int = 100, lr: float = 0.01, weight_decay: float = 1e-4,
                      batch_size: int = 32, seed: int = 0) -> tuple[nn.Linear, History]:
    """A softmax (multinomial logistic) classifier on frozen features, trained with Adam through
    dlcv.networks.training.fit. features: (N, F), y: (N,) ints in [0, num_classes).

    Returns (head, history): head is an nn.Linear(F, num_classes) that can sit on top of the
    backbone (nn.Sequential(backbone, head)).
    """
    features = np.asarray(features, dtype=np.float32)
    y = np.asarray(y)
    if features.ndim != 2 or y.shape != (len(features),):
        raise ValueError(f"train_linear_head: features must be (N, F) and y (N,), got "
                         f"{features.shape} and {y.shape}")
    C = int(y.max()) + 1 if num_classes is None else num_classes
    net = make_net(features.shape[1], C, layers=0, init="torch", seed=seed)  # one nn.Linear
    hist = fit(net, features, y, features_val, y_val, epochs=epochs, lr=lr, optimizer="adam",
               weight_decay=weight_decay, batch_size=min(batch_size, len(y)), seed=seed)
    return net[0], hist


def _check_backbone(model: nn.Module, backbone: nn.Module, who: str) -> None:
    ids = {id(p) for p in model.parameters()}
    if not all(id(p) in ids for p in backbone.parameters()):
        raise ValueError(f"{who}: backbone must be a part of model (all its parameters must be "
                         f"parameters of model)")


def param_groups(model: nn.Module, backbone: nn.Module, lr: float,
                 backbone_lr_factor: float = 0.1) -> list[dict]:
    """Parameter groups for a torch optimizer: the backbone's parameters with learning rate
    backbone_lr_factor * lr, all others (the new head) with lr. Use as
    torch.optim.SGD(param_groups(model, model.backbone, 0.01), momentum=0.9)."""
    _check_backbone(model, backbone, "param_groups")
    ids = {id(p) for p in backbone.parameters()}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return [{"params": list(backbone.parameters()), "lr": lr * backbone_lr_factor},
            {"params": rest, "lr": lr}]


def fine_tune(model: nn.Module, backbone: nn.Module, X, y, X_val=None, y_val=None,
              lr: float = 0.01, backbone_lr_factor: float = 0.1, epochs: int = 20,
              batch_size: int = 16, optimizer: str = "momentum", seed: int = 0,
              **fit_kwargs) -> History:
    """Train the whole model (in place) with dlcv.networks.training.fit, the backbone's parameters with
    the learning rate backbone_lr_factor * lr and the rest with lr (torch optimizer parameter
    groups, see param_groups). backbone_lr_factor=0 freezes the backbone's weights (BatchNorm
    statistics still adapt in training mode).
    """
    _check_backbone(model, backbone, "fine_tune")
    if not 0 <= backbone_lr_factor:
        raise ValueError(f"fine_tune: backbone_lr_factor must be >= 0, got {backbone_lr_factor}")
    return fit(model, X, y, X_val, y_val, epochs=epochs, batch_size=batch_size, lr=lr,
               optimizer=optimizer, seed=seed,
               param_groups=param_groups(model, backbone, lr, backbone_lr_factor), **fit_kwargs)
