"""The image encoder that every method of lecture 15 trains, and the supervised baseline.

    Encoder(in_channels=3, width=16, seed=0)
                                 x: (N, C, S, S) -> (N, 4 width) features: three 3x3
                                 convolution blocks (batch norm, ReLU; 2x2 max-pool after the
                                 first two) and a global average pool
    features(encoder, X)         (N, D) float32 features in eval mode, without gradients
    fit_supervised(encoder, X, y, steps, ...)
                                 encoder + a linear layer trained with Adam on cross-entropy
                                 through dlcv.loop.train -> (head, Log)
    supervised_encoder(seed=0, steps=200, per_class=None)
                                 the baseline: an Encoder trained on the labels of the training
                                 digits (datasets.load_digits16), cached per settings
    accuracy(scores, y)          the share of rows whose largest score is at y

Same architecture for all: a linear probe on its features measures what training taught it,
not what a bigger or different network could hold.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dlcv.loop import Log, cycled, train
from dlcv.validate import integer


class Encoder(nn.Module):
    """x: (N, C, S, S) -> (N, 4 width).

    block1: 3x3 conv to width channels, batch norm, ReLU, 2x2 max-pool  (N, w, S/2, S/2)
    block2: 3x3 conv to 2 width, batch norm, ReLU, 2x2 max-pool         (N, 2w, S/4, S/4)
    block3: 3x3 conv to 4 width, batch norm, ReLU                       (N, 4w, S/4, S/4)
    pool:   global average over the positions                           (N, 4w)
    """

    def __init__(self, in_channels: int = 3, width: int = 16, seed: int = 0):
        super().__init__()
        in_channels = integer("Encoder", "in_channels", in_channels, 1)
        width = integer("Encoder", "width", width, 1)
        self.in_channels, self.dim = in_channels, 4 * width

        def block(cin, cout, pool):
            layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                      nn.ReLU()]
            return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if pool else []))

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.block1 = block(in_channels, width, True)
            self.block2 = block(width, 2 * width, True)
            self.block3 = block(2 * width, 4 * width, False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != self.in_channels:
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"Encoder: x must be (N, {self.in_channels}, H, W), got {shape}")
        return self.block3(self.block2(self.block1(x))).mean((2, 3))


def features(encoder: nn.Module, X: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The encoder's features of X: (N, C, H, W) in eval mode: (N, D) float32, no gradient.
    The encoder is put back in the mode it was in."""
    was = encoder.training
    encoder.eval()
    with torch.no_grad():
        out = torch.cat([encoder(X[i:i + batch_size]) for i in range(0, len(X), batch_size)])
    encoder.train(was)
    return out


def accuracy(scores: torch.Tensor, y: torch.Tensor) -> float:
    """The share of rows of scores (N, K) whose argmax is y (N,)."""
    if scores.dim() != 2 or y.shape != (len(scores),):
        raise ValueError(f"accuracy: scores must be (N, K) and y (N,), got {tuple(scores.shape)} "
                         f"and {tuple(y.shape)}")
    return float((scores.argmax(1) == y).float().mean())


def fit_supervised(encoder: Encoder, X: torch.Tensor, y: torch.Tensor, steps: int = 300,
                   batch_size: int = 64, lr: float = 3e-3, seed: int = 0,
                   augment=None) -> tuple[nn.Linear, Log]:
    """Train encoder (in place) and a new linear head on cross-entropy with Adam.

    X: (N, C, H, W) in [0, 1]; y: (N,) int64 labels; augment: None, or a function
    (batch, generator) -> batch applied to every minibatch. Returns the head (D -> classes)
    and the Log. The encoder is left in eval mode.
    """
    if X.dim() != 4 or y.shape != (len(X),):
        raise ValueError(f"fit_supervised: X must be (N, C, H, W) and y (N,), got "
                         f"{tuple(X.shape)} and {tuple(y.shape)}")
    steps = integer("fit_supervised", "steps", steps, 1)
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = nn.Linear(encoder.dim, int(y.max()) + 1)
    opt = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=lr)

    def loss_of(idx):
        xb = X[idx] if augment is None else augment(X[idx], g)
        return F.cross_entropy(head(encoder(xb)), y[idx])

    encoder.train()
    log = train(loss_of, opt, cycled(len(X), min(batch_size, len(X)), steps, g))
    encoder.eval()
    return head, log


_CACHE: dict[tuple, tuple[Encoder, nn.Linear]] = {}


def supervised_encoder(seed: int = 0, steps: int = 200, width: int = 16,
                       per_class: int | None = None) -> tuple[Encoder, nn.Linear]:
    """The baseline: (encoder, head) trained on the labels of the 1257 training digits of
    datasets.load_digits16() (or of per_class of each digit, labelled_subset(y, per_class))
    with random crops (40-100% of the area, no flip), cached per settings. seed: the initial
    weights and the batch order. encoder.log is the Log. Do not train them further."""
    from dlcv.selfsupervised.augment import random_resized_crop
    from dlcv.selfsupervised.datasets import labelled_subset, load_digits16

    key = (integer("supervised_encoder", "seed", seed, 0), steps, width, per_class)
    if key not in _CACHE:
        d = load_digits16()
        keep = (torch.arange(len(d.y_train)) if per_class is None
                else labelled_subset(d.y_train, per_class))
        enc = Encoder(1, width, seed)
        head, enc.log = fit_supervised(enc, d.X_train[keep], d.y_train[keep], steps, seed=seed,
                                       augment=lambda x, g: random_resized_crop(x, g, (0.4, 1.0),
                                                                                flip=False))
        _CACHE[key] = (enc, head)
    return _CACHE[key]
