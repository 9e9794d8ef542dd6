"""The classifier that lecture 16 looks inside and attacks, and its data (one call each, so that
an assignment or a reader's own experiment can attack the same network).

    load_images(source="digits", size=16, seed=0)  Splits with X_*: (N, C, size, size) float32
                                                    in [0, 1]: the digits upsampled from 8x8
                                                    (C = 1), or CIFAR-10 (C = 3, 32x32) when
                                                    source="cifar10" and it is on disk
    ProbeCNN(in_channels, num_classes, size, seed)  conv1 (5x5, pool) -> conv2 -> conv3 ->
                                                    hidden (pool, fully connected) -> fc, the
                                                    stages named modules for hooks
    fit_classifier(model, X, y, epochs, adv_eps, ...)
                                                    Adam through dlcv.loop.train, on clean
                                                    images or (adv_eps > 0) on PGD examples
                                                    made afresh for every batch (Madry et al.)
    classifier(seed=0, adv_eps=0.0, source=..., ...)
                                                    a trained ProbeCNN, cached per settings
    accuracy(model, X, y)                           the share of right answers
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.data import Splits, load_classification
from dlcv.loop import Log, shuffled, train
from dlcv.validate import choice, integer, number_in

SOURCES = ("digits", "cifar10", "auto")


def _to_nchw(X: np.ndarray, top: float, size: int | None) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) images with values in [0, top] -> (N, C, size, size) float32
    in [0, 1] (size None: keep the size)."""
    X = np.asarray(X, np.float32) / top
    X = X[:, None] if X.ndim == 3 else X.transpose(0, 3, 1, 2)
    t = torch.from_numpy(np.ascontiguousarray(X))
    if size is not None and size != t.shape[-1]:
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    return t.clamp(0, 1).numpy()


def load_images(source: str = "digits", size: int = 16, seed: int = 0) -> Splits:
    """The lecture's data as (N, C, H, W) float32 images in [0, 1].

    source="digits": the 1797 embedded 8x8 digits (grey levels 0..16 divided by 16), upsampled
    bilinearly to size x size, split 1257 / 180 / 360 as everywhere in the course;
    source="cifar10": 5000 / 500 / 500 CIFAR-10 images (32x32x3, size is ignored), raising
    dlcv.data.DataSetNotFound when it is not on disk; source="auto": CIFAR-10 if present, else
    the digits.
    """
    choice("load_images", "source", source, SOURCES)
    size = integer("load_images", "size", size, 8, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CIFAR-10 is not on disk": the digits are the default
        d = load_classification(source, seed=seed)
    target, top = (size, 16.0) if d.name == "digits" else (None, 255.0)
    parts = {}
    for part in ("train", "val", "test", "dev"):
        X = getattr(d, f"X_{part}")
        parts[f"X_{part}"] = None if X is None else _to_nchw(X, top, target)
        parts[f"y_{part}"] = getattr(d, f"y_{part}")
    return Splits(name=d.name, class_names=d.class_names, **parts)


class ProbeCNN(nn.Module):
    """A small CNN with its stages named, so that hooks can read them.

    x: (N, C, S, S) -> conv1: (N, 16, S/2, S/2) [5x5 conv, ReLU, 2x2 max-pool]
    -> conv2: (N, 32, S/2, S/2) [3x3 conv, ReLU] -> conv3: (N, 32, S/2, S/2) [3x3 conv, ReLU]
    -> hidden: (N, 64) [2x2 max-pool, flatten, fully connected, ReLU] -> fc: (N, num_classes).
    S (size) must be a multiple of 4. No batch normalisation or dropout: the network computes
    the same function in train and eval mode, which keeps input gradients simple.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, size: int = 16,
                 seed: int = 0):
        super().__init__()
        in_channels = integer("ProbeCNN", "in_channels", in_channels, 1)
        num_classes = integer("ProbeCNN", "num_classes", num_classes, 2)
        size = integer("ProbeCNN", "size", size, 4)
        if size % 4:
            raise ValueError(f"ProbeCNN: size must be a multiple of 4, got {size}")
        self.in_channels, self.size = in_channels, size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.conv1 = nn.Sequential(nn.Conv2d(in_channels, 16, 5, padding=2), nn.ReLU(),
                                       nn.MaxPool2d(2))
            self.conv2 = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU())
            self.conv3 = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1), nn.ReLU())
            self.hidden = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(),
                                        nn.Linear(32 * (size // 4) ** 2, 64), nn.ReLU())
            self.fc = nn.Linear(64, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate features: x (N, C, S, S) -> (N, 64)."""
        want = (self.in_channels, self.size, self.size)
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != want:
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"ProbeCNN: x must be (N, {', '.join(map(str, want))}), got {shape}")
        return self.hidden(self.conv3(self.conv2(self.conv1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def fit_classifier(model: nn.Module, X, y, epochs: int = 15, batch_size: int = 64,
                   lr: float = 3e-3, adv_eps: float = 0.0, adv_steps: int = 2,
                   seed: int = 0) -> Log:
    """Train model (in place) with Adam on cross-entropy, one dlcv.loop.train call per epoch.

    X: (N, C, H, W) in [0, 1]; y: (N,) labels. adv_eps > 0: adversarial training, each batch
    replaced by pgd(model, batch, eps=adv_eps, steps=adv_steps) made with the current weights
    (a random start per batch, drawn from the seed and the step). Returns the Log (one loss per
    step, on the examples trained on). The model is left in eval mode.
    """
    X = torch.as_tensor(np.asarray(X, np.float32))
    y = torch.as_tensor(np.asarray(y, np.int64))
    if X.dim() != 4 or y.shape != (len(X),):
        raise ValueError(f"fit_classifier: X must be (N, C, H, W) and y (N,), got "
                         f"{tuple(X.shape)} and {tuple(y.shape)}")
    epochs = integer("fit_classifier", "epochs", epochs, 1)
    adv_eps = number_in("fit_classifier", "adv_eps", adv_eps, 0.0, 1.0)
    adv_steps = integer("fit_classifier", "adv_steps", adv_steps, 1)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    log = Log()

    if adv_eps > 0:
        # imported here, not at the top: a grading sandbox may hold this module (the classifier and
        # its data) without the lecture's attacks, which an assignment asks students to write
        from dlcv.understanding.attacks import pgd  # optional in a sandbox

    def loss_of(idx):
        xb, yb = X[idx], y[idx]
        if adv_eps > 0:
            xb = pgd(model, xb, yb, adv_eps, adv_steps, seed=seed * 100_003 + log.steps)
        return F.cross_entropy(model(xb), yb)

    model.train()
    for _ in range(epochs):
        train(loss_of, opt, shuffled(len(X), batch_size, g), log=log)
    model.eval()
    return log


_CACHE: dict[tuple, nn.Module] = {}


def classifier(seed: int = 0, adv_eps: float = 0.0, source: str = "digits", size: int = 16,
               epochs: int = 15) -> ProbeCNN:
    """The lecture's ProbeCNN trained on load_images(source, size)'s training set, in eval mode.

    seed: the initial weights and the batch order; adv_eps > 0: adversarially trained (PGD,
    2 steps) at that L-inf budget. Cached: the same settings return the same (trained) module,
    so do not train it further. model.log holds its training Log.
    """
    key = (integer("classifier", "seed", seed, 0), float(adv_eps), source, size, epochs)
    if key not in _CACHE:
        data = load_images(source, size)
        model = ProbeCNN(data.X_train.shape[1], data.num_classes, data.X_train.shape[-1], seed)
        model.log = fit_classifier(model, data.X_train, data.y_train, epochs=epochs,
                                   adv_eps=adv_eps, seed=seed)
        _CACHE[key] = model
    return _CACHE[key]


def accuracy(model: nn.Module, X, y) -> float:
    """The share of X: (N, C, H, W) that model classifies as y: (N,)."""
    X = torch.as_tensor(np.asarray(X, np.float32))
    y = torch.as_tensor(np.asarray(y, np.int64))
    with torch.no_grad():
        return float((model(X).argmax(1) == y).float().mean())
