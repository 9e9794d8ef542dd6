"""A pretext task: rotation prediction (Gidaris, Singh & Komodakis 2018). Every image is shown
at 0, 90, 180 and 270 degrees and a network learns to say which; the labels come free with
the images, and to answer, the network must know which way up a digit is drawn.

    rotate4(x)                      x: (N, C, H, W) -> (4N, C, H, W) the four rotations of every
                                    image (all 0 degrees first, then all 90, ...), and (4N,)
                                    labels 0..3 (quarter turns counter-clockwise)
    fit_rotation(encoder, X, steps, batch_size, ...)
                                    encoder + linear head (4 outputs) trained with Adam on
                                    cross-entropy through dlcv.loop.train -> (head, Log)
    rotation_encoder(seed=0, steps=100)
                                    trained on the training digits, cached per settings
    rotation_accuracy(encoder, head, X)
                                    (4,) the share of each rotation recognised
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dlcv.loop import Log, cycled, train
from dlcv.selfsupervised.encoder import Encoder
from dlcv.validate import integer


def rotate4(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x: (N, C, H, W) with H = W -> (4N, C, H, W) rotations by k quarter turns
    counter-clockwise, k = 0, 1, 2, 3 in blocks of N, and the (4N,) int64 labels k."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[2] != x.shape[3]:
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise ValueError(f"rotate4: x must be square images (N, C, H, H), got {shape}")
    out = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])
    return out, torch.arange(4).repeat_interleave(len(x))


def fit_rotation(encoder: Encoder, X: torch.Tensor, steps: int = 100, batch_size: int = 32,
                 lr: float = 3e-3, seed: int = 0) -> tuple[nn.Linear, Log]:
    """Train encoder (in place) and a new 4-way linear head to predict the rotation of X's
    images: every step takes batch_size images and all four of their rotations. The encoder is
    left in eval mode."""
    steps = integer("fit_rotation", "steps", steps, 1)
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = nn.Linear(encoder.dim, 4)
    opt = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=lr)

    def loss_of(idx):
        xr, k = rotate4(X[idx])
        return F.cross_entropy(head(encoder(xr)), k)

    encoder.train()
    log = train(loss_of, opt, cycled(len(X), min(batch_size, len(X)), steps, g))
    encoder.eval()
    return head, log


_CACHE: dict[tuple, tuple[Encoder, nn.Linear]] = {}


def rotation_encoder(seed: int = 0, steps: int = 100, width: int = 16
                     ) -> tuple[Encoder, nn.Linear]:
    """(encoder, head) trained to predict rotations of the training digits of load_digits16()
    (their labels never read), cached per settings; encoder.log is the Log."""
    from dlcv.selfsupervised.datasets import load_digits16

    key = (integer("rotation_encoder", "seed", seed, 0), steps, width)
    if key not in _CACHE:
        enc = Encoder(1, width, seed)
        head, enc.log = fit_rotation(enc, load_digits16().X_train, steps, seed=seed)
        _CACHE[key] = (enc, head)
    return _CACHE[key]


def rotation_accuracy(encoder: nn.Module, head: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """(4,) float: for k = 0..3 quarter turns, the share of X's rotated images whose rotation
    the network names correctly (eval mode, no gradients)."""
    xr, k = rotate4(X)
    encoder.eval()
    with torch.no_grad():
        right = (head(encoder(xr)).argmax(1) == k).float()
    return right.view(4, len(X)).mean(1)
