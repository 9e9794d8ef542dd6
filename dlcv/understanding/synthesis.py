"""Images made by gradient ascent on a trained network's input (lecture 16).

The image is the only parameter; the network is frozen. Each optimisation is a torch training
run through dlcv.loop.train (one step per iteration, Adam on the pixels), and after every step
the image is projected back to [0, 1].

    total_variation(x)                    sum of squared differences of neighbouring pixels,
                                          per image: (N,)
    class_model(model, c, shape, steps, lr, l2, tv, jitter, seed)
                                          argmax_x f_c(x) - l2 ||x - 0.5||^2 - tv TV(x),
                                          for one class or several at once
                                          (Simonyan, Vedaldi & Zisserman 2014, with the jitter
                                          and smoothness of later work) -> Synthesis
    invert_features(model, x, layer, steps, lr, tv, seed)
                                          argmin_x' ||phi(x') - phi(x)||^2 / ||phi(x)||^2
                                          + tv TV(x'), phi the output of `layer`
                                          (Mahendran & Vedaldi 2015) -> Synthesis
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dlcv.loop import train
from dlcv.validate import integer, positive


@dataclass
class Synthesis:
    """image: (C, H, W) (or (K, C, H, W) for several classes) in [0, 1]; objective: the
    quantity optimised, one per step (the class score f_c, averaged over the classes, for
    class_model; the relative feature error for invert_features)."""

    image: np.ndarray
    objective: np.ndarray


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """TV(x) = sum (x[i+1, j] - x[i, j])^2 + sum (x[i, j+1] - x[i, j])^2 over channels and
    pixels, for x: (N, C, H, W) -> (N,)."""
    if x.dim() != 4:
        raise ValueError(f"total_variation: x must be (N, C, H, W), got {tuple(x.shape)}")
    dh = (x[:, :, 1:] - x[:, :, :-1]).pow(2).sum((1, 2, 3))
    dw = (x[:, :, :, 1:] - x[:, :, :, :-1]).pow(2).sum((1, 2, 3))
    return dh + dw


def _optimise(objective, image: torch.Tensor, steps: int, lr: float) -> np.ndarray:
    """Minimise objective(step) over the tensor `image` (requires_grad) with Adam through
    dlcv.loop.train, clamping to [0, 1] after each step. Returns the loss per step."""
    opt = torch.optim.Adam([image], lr=lr)

    def clamp(_step, _loss):
        with torch.no_grad():
            image.clamp_(0, 1)

    log = train(objective, opt, range(steps), on_step=clamp)
    return np.array(log.loss)


def _frozen(model: nn.Module):
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)


def _thaw(model: nn.Module):
    for p in model.parameters():
        p.requires_grad_(True)


def class_model(model: nn.Module, c, shape: tuple[int, int, int], steps: int = 200,
                lr: float = 0.05, l2: float = 0.3, tv: float = 0.5, jitter: int = 1,
                seed: int = 0) -> Synthesis:
    """Images the model scores high for the classes c, starting from grey 0.5 plus a little
    noise: one image per class, optimised together (they do not interact).

    c: one class (int) or (K,) classes; shape: (C, H, W). Maximises, for each image,
    f_c(x) - l2 ||x - 0.5||^2 - tv TV(x); at every step the images are shifted by a random
    offset of at most `jitter` pixels before they are scored (so that the pattern cannot rely
    on exact pixel positions). Returns Synthesis(image (C, H, W) for an int c, (K, C, H, W)
    otherwise; objective: the mean of the K class scores per step).
    """
    steps = integer("class_model", "steps", steps, 1)
    jitter = integer("class_model", "jitter", jitter, 0)
    lr = positive("class_model", "lr", lr)
    if len(shape) != 3:
        raise ValueError(f"class_model: shape must be (C, H, W), got {shape!r}")
    single = isinstance(c, int)
    cs = torch.as_tensor([c] if single else c, dtype=torch.int64).reshape(-1)
    g = torch.Generator().manual_seed(seed)
    image = (0.5 + 0.01 * torch.randn((len(cs), *shape), generator=g)).requires_grad_(True)
    shifts = torch.randint(-jitter, jitter + 1, (steps, 2), generator=g).tolist()
    scores = []

    def loss_of(step):
        dy, dx = shifts[step]
        x = torch.roll(image, (dy, dx), dims=(2, 3))
        s = model(x).gather(1, cs[:, None])[:, 0]                            # (K,)
        scores.append(float(s.detach().mean()))
        penalty = l2 * (image - 0.5).pow(2).sum() + tv * total_variation(image).sum()
        return -s.sum() + penalty

    _frozen(model)
    try:
        _optimise(loss_of, image, steps, lr)
    finally:
        _thaw(model)
    out = image.detach().numpy()
    return Synthesis(out[0] if single else out, np.array(scores))


def invert_features(model: nn.Module, x, layer: str = "hidden", steps: int = 300,
                    lr: float = 0.05, tv: float = 0.01, seed: int = 0) -> Synthesis:
    """An image whose `layer` output matches that of x: (1, C, H, W), from uniform noise.

    Minimises ||phi(x') - phi(x)||^2 / ||phi(x)||^2 + tv TV(x'). Returns Synthesis(image,
    the relative feature error ||phi(x') - phi(x)||^2 / ||phi(x)||^2 per step).
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or len(x) != 1:
        raise ValueError(f"invert_features: x must be one image (1, C, H, W), got "
                         f"{tuple(x.shape) if hasattr(x, 'shape') else type(x).__name__}")
    steps = integer("invert_features", "steps", steps, 1)
    modules = dict(model.named_modules())
    if not layer or layer not in modules:
        raise ValueError(f"invert_features: no submodule named {layer!r}")
    store = {}
    hook = modules[layer].register_forward_hook(lambda _m, _i, o: store.__setitem__("phi", o))
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(x.shape, generator=g).requires_grad_(True)
    errors = []
    try:
        _frozen(model)
        with torch.no_grad():
            model(x.float())
        target = store["phi"].detach()
        norm = target.pow(2).sum().clamp(min=1e-12)

        def loss_of(_step):
            model(image)
            err = (store["phi"] - target).pow(2).sum() / norm
            errors.append(float(err.detach()))
            return err + tv * total_variation(image)[0]

        _optimise(loss_of, image, steps, lr)
    finally:
        hook.remove()
        _thaw(model)
    return Synthesis(image.detach()[0].numpy(), np.array(errors))
