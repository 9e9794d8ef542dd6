"""Masked image modelling in brief: hide patches of an image and learn to paint them back
(the idea of context encoders, BEiT, MAE and SimMIM, here with a small convolutional network
instead of a vision transformer).

    patch_mask(n, size, patch, ratio, g)
                                 (n, 1, size, size) float: 1 on the hidden patches; exactly
                                 round(ratio * P) of the P = (size / patch)^2 patches of every
                                 image, chosen at random
    MaskedConvNet(width=32, seed=0)
                                 (masked image, mask) (N, 1, H, W) twice -> (N, 1, H, W) the
                                 painted image in [0, 1]; dilated 3x3 convolutions so that a
                                 hidden pixel sees several patches around it
    masked_loss(pred, x, mask)   the mean squared error over the hidden pixels only
    fill_with_mean(x, mask)      the baseline painter: every hidden pixel gets the mean of the
                                 image's visible pixels
    fit_masked(model, X, steps, ratio, patch, ...)
                                 Adam on masked_loss through dlcv.loop.train -> Log
    masked_model(seed=0, steps=100, ratio=0.5, patch=4)
                                 trained on the training digits, cached per settings
"""

from __future__ import annotations

import torch
from torch import nn

from dlcv.loop import Log, cycled, train
from dlcv.validate import integer, number_in


def patch_mask(n: int, size: int, patch: int, ratio: float, g: torch.Generator) -> torch.Tensor:
    """(n, 1, size, size) float mask, 1 on round(ratio * P) random patches of patch x patch
    pixels in every image (P = (size / patch)^2), 0 elsewhere."""
    n = integer("patch_mask", "n", n, 1)
    patch = integer("patch_mask", "patch", patch, 1)
    if size % patch:
        raise ValueError(f"patch_mask: size ({size}) must be a multiple of patch ({patch})")
    ratio = number_in("patch_mask", "ratio", ratio, 0.0, 1.0)
    side = size // patch
    hidden = round(ratio * side * side)
    order = torch.rand(n, side * side, generator=g).argsort(1)           # a random permutation
    m = (order < hidden).float().view(n, 1, side, side)                  # hidden patches
    return m.repeat_interleave(patch, 2).repeat_interleave(patch, 3)


class MaskedConvNet(nn.Module):
    """(x_masked, mask): (N, 1, H, W) each -> (N, 1, H, W) in [0, 1].

    Four 3x3 convolutions with dilations 1, 2, 4, 1 (receptive field 17 x 17 pixels) and ReLUs,
    then a 1x1 convolution and a sigmoid. features(x) is the mean over positions of the last
    hidden layer for an image with nothing hidden: (N, width).
    """

    def __init__(self, width: int = 32, seed: int = 0):
        super().__init__()
        width = integer("MaskedConvNet", "width", width, 1)
        self.dim = width
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            layers, cin = [], 2
            for d in (1, 2, 4, 1):
                layers += [nn.Conv2d(cin, width, 3, padding=d, dilation=d), nn.ReLU()]
                cin = width
            self.body = nn.Sequential(*layers)
            self.out = nn.Conv2d(width, 1, 1)

    def forward(self, x_masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if x_masked.dim() != 4 or x_masked.shape[1] != 1 or mask.shape != x_masked.shape:
            raise ValueError(f"MaskedConvNet: x_masked and mask must both be (N, 1, H, W), got "
                             f"{tuple(x_masked.shape)} and {tuple(mask.shape)}")
        return torch.sigmoid(self.out(self.body(torch.cat([x_masked, mask], 1))))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.body(torch.cat([x, torch.zeros_like(x)], 1)).mean((2, 3))


def masked_loss(pred: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error between pred and x over the pixels where mask is 1 (all (N, 1, H, W))."""
    if not pred.shape == x.shape == mask.shape:
        raise ValueError(f"masked_loss: pred, x and mask must have one shape, got "
                         f"{tuple(pred.shape)}, {tuple(x.shape)}, {tuple(mask.shape)}")
    return ((pred - x) ** 2 * mask).sum() / mask.sum().clamp(min=1)


def fill_with_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x with every hidden pixel (mask 1) replaced by the mean of the image's visible ones."""
    vis = 1 - mask
    mean = (x * vis).sum((1, 2, 3), keepdim=True) / vis.sum((1, 2, 3), keepdim=True).clamp(min=1)
    return x * vis + mean * mask


def fit_masked(model: MaskedConvNet, X: torch.Tensor, steps: int = 150, ratio: float = 0.5,
               patch: int = 4, batch_size: int = 64, lr: float = 3e-3, seed: int = 0) -> Log:
    """Train model (in place): every step hides a fresh random set of patches of batch_size
    images and takes an Adam step on masked_loss."""
    steps = integer("fit_masked", "steps", steps, 1)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def loss_of(idx):
        x = X[idx]
        m = patch_mask(len(x), x.shape[-1], patch, ratio, g)
        return masked_loss(model(x * (1 - m), m), x, m)

    return train(loss_of, opt, cycled(len(X), min(batch_size, len(X)), steps, g))


_CACHE: dict[tuple, MaskedConvNet] = {}


def masked_model(seed: int = 0, steps: int = 100, ratio: float = 0.5, patch: int = 4,
                 width: int = 16) -> MaskedConvNet:
    """A MaskedConvNet trained on the training digits of load_digits16(), cached per settings;
    model.log is the Log."""
    from dlcv.selfsupervised.datasets import load_digits16

    key = (integer("masked_model", "seed", seed, 0), steps, ratio, patch, width)
    if key not in _CACHE:
        model = MaskedConvNet(width, seed)
        model.log = fit_masked(model, load_digits16().X_train, steps, ratio, patch, seed=seed)
        model.eval()
        _CACHE[key] = model
    return _CACHE[key]
