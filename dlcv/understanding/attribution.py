"""Which pixels does a class score depend on? (lecture 16)

Every method explains the score f_c(x) of class c (the logit, before the softmax; occlusion
uses the probability) of images x: (N, C, H, W); c is (N,) classes or one int.

    input_gradient(model, x, c)           d f_c / d x: (N, C, H, W)
    saliency(model, x, c)                 max over channels of |d f_c / d x|: (N, H, W)
                                          (Simonyan, Vedaldi & Zisserman 2014)
    smoothgrad(model, x, c, samples, sigma, seed)
                                          saliency averaged over noisy copies x + N(0, sigma^2)
                                          (Smilkov et al. 2017): (N, H, W)
    integrated_gradients(model, x, c, baseline=None, steps=32)
                                          (x - x') * the mean gradient on the straight path
                                          from the baseline x' (default black) to x, by the
                                          midpoint rule (Sundararajan, Taly & Yan 2017):
                                          (N, C, H, W), summing to ~ f_c(x) - f_c(x')
    gradcam(model, x, c, layer="conv3")   ReLU(sum_k alpha_k A^k), alpha_k the spatial mean of
                                          d f_c / d A^k (Selvaraju et al. 2017): (N, h, w) at the
                                          layer's resolution; upsample() brings it to (H, W)
    occlusion(model, x, c, patch, stride, fill)
                                          the drop of p_c when a patch x patch square is
                                          replaced by fill, averaged over the squares covering
                                          each pixel (Zeiler & Fergus 2014): (N, H, W)
    upsample(maps, size)                  (N, h, w) -> (N, size, size), bilinear
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dlcv.validate import finite_floats, integer, number_in


def _check(who: str, x, c) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise ValueError(f"{who}: x must be a (N, C, H, W) tensor, got {shape}")
    c = torch.as_tensor(c, dtype=torch.int64)
    c = c.expand(len(x)) if c.dim() == 0 else c
    if c.shape != (len(x),):
        raise ValueError(f"{who}: c must be one class or ({len(x)},) classes, got {tuple(c.shape)}")
    return x.detach().float(), c


def class_scores(model: nn.Module, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """f_c(x): (N,) the logit of class c[i] for image x[i] (differentiable)."""
    return model(x).gather(1, c[:, None])[:, 0]


def input_gradient(model: nn.Module, x, c) -> torch.Tensor:
    """d f_c(x) / d x: (N, C, H, W); each image's gradient of its own class's logit."""
    x, c = _check("input_gradient", x, c)
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(class_scores(model, x, c).sum(), x)
    return g


def saliency(model: nn.Module, x, c) -> torch.Tensor:
    """The vanilla gradient map: max over channels of |d f_c / d x|: (N, H, W)."""
    return input_gradient(model, x, c).abs().amax(1)


def smoothgrad(model: nn.Module, x, c, samples: int = 32, sigma: float = 0.15,
               seed: int = 0) -> torch.Tensor:
    """The mean of saliency(x + noise) over `samples` draws of noise ~ N(0, sigma^2) per pixel
    (sigma in the images' units, [0, 1]): (N, H, W)."""
    x, c = _check("smoothgrad", x, c)
    samples = integer("smoothgrad", "samples", samples, 1)
    sigma = number_in("smoothgrad", "sigma", sigma, 0.0, 1.0)
    g = torch.Generator().manual_seed(seed)
    noisy = x[None] + sigma * torch.randn((samples, *x.shape), generator=g)   # (S, N, C, H, W)
    maps = saliency(model, noisy.reshape(-1, *x.shape[1:]), c.repeat(samples))
    return maps.reshape(samples, len(x), *x.shape[2:]).mean(0)


def integrated_gradients(model: nn.Module, x, c, baseline=None, steps: int = 32) -> torch.Tensor:
    """Integrated gradients: (x - x') * (1/steps) sum_j grad f_c(x' + (j + 1/2)/steps (x - x')).

    x: (N, C, H, W); baseline x': same shape or broadcastable (default zeros, a black image).
    Returns attributions (N, C, H, W). Completeness: their sum over pixels tends to
    f_c(x) - f_c(x') as steps grows (the error of the midpoint rule falls like 1/steps^2 where
    the path is smooth; ReLU kinks make it slower).
    """
    x, c = _check("integrated_gradients", x, c)
    steps = integer("integrated_gradients", "steps", steps, 1)
    base = torch.zeros_like(x) if baseline is None else torch.as_tensor(baseline).float()
    base = base.expand_as(x)
    t = (torch.arange(steps, dtype=torch.float32) + 0.5) / steps                # (S,)
    path = base[None] + t[:, None, None, None, None] * (x - base)[None]        # (S, N, C, H, W)
    grads = input_gradient(model, path.reshape(-1, *x.shape[1:]), c.repeat(steps))
    return (x - base) * grads.reshape(steps, *x.shape).mean(0)


def gradcam(model: nn.Module, x, c, layer: str = "conv3") -> torch.Tensor:
    """Grad-CAM at the output A: (N, K, h, w) of the named submodule: weights alpha (N, K) =
    the spatial mean of d f_c / d A, map = ReLU(sum_k alpha_k A^k): (N, h, w)."""
    x, c = _check("gradcam", x, c)
    modules = dict(model.named_modules())
    if not layer or layer not in modules:
        raise ValueError(f"gradcam: no submodule named {layer!r}")
    store = {}
    hook = modules[layer].register_forward_hook(lambda _m, _i, o: store.__setitem__("A", o))
    try:
        scores = class_scores(model, x, c)
    finally:
        hook.remove()
    A = store["A"]
    if A.dim() != 4:
        raise ValueError(f"gradcam: layer {layer!r} must output (N, K, h, w) maps, got "
                         f"{tuple(A.shape)}")
    (dA,) = torch.autograd.grad(scores.sum(), A)
    alpha = dA.mean((2, 3))                                                    # (N, K)
    return F.relu((alpha[:, :, None, None] * A).sum(1)).detach()


def upsample(maps: torch.Tensor, size: int) -> torch.Tensor:
    """(N, h, w) maps -> (N, size, size), bilinear."""
    if maps.dim() != 3:
        raise ValueError(f"upsample: maps must be (N, h, w), got {tuple(maps.shape)}")
    return F.interpolate(maps[:, None], size=(size, size), mode="bilinear",
                         align_corners=False)[:, 0]


def occlusion(model: nn.Module, x, c, patch: int = 4, stride: int = 2,
              fill: float = 0.0) -> torch.Tensor:
    """Occlusion sensitivity: for every position of a patch x patch square (top-left corners
    0, stride, ... inside the image), the drop p_c(x) - p_c(x with the square set to fill);
    each pixel gets the mean drop of the squares that cover it. (N, H, W); positive where
    hiding the pixel hurts the class."""
    x, c = _check("occlusion", x, c)
    N, C, H, W = x.shape
    patch = integer("occlusion", "patch", patch, 1, min(H, W))
    stride = integer("occlusion", "stride", stride, 1)
    fill = float(finite_floats("occlusion", "fill", fill))
    corners = [(i, j) for i in range(0, H - patch + 1, stride)
               for j in range(0, W - patch + 1, stride)]
    with torch.no_grad():
        p0 = torch.softmax(model(x), 1).gather(1, c[:, None])[:, 0]           # (N,)
        drop_sum, count = torch.zeros(N, H, W), torch.zeros(H, W)
        for i, j in corners:
            xo = x.clone()
            xo[:, :, i:i + patch, j:j + patch] = fill
            p = torch.softmax(model(xo), 1).gather(1, c[:, None])[:, 0]
            drop_sum[:, i:i + patch, j:j + patch] += (p0 - p)[:, None, None]
            count[i:i + patch, j:j + patch] += 1
    return drop_sum / count.clamp(min=1)
