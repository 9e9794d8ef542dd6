"""Adversarial examples (lecture 16): small perturbations that change a classifier's answer.

Images are in [0, 1] and every attack stays there; the budget is the L-infinity norm of the
perturbation, ||x_adv - x||_inf <= eps (the largest change of any one pixel).

    fgsm(model, x, y, eps, target=None)           one signed-gradient step (Goodfellow et al. 2015)
    pgd(model, x, y, eps, steps, ...)             projected gradient descent (Madry et al. 2018):
                                                  many small signed steps, each projected back
                                                  into the eps-ball; target=None: away from y,
                                                  else toward the target classes
    fooling_images(model, targets, shape, ...)    uniform noise nudged by a targeted PGD until
                                                  the model names the target class (after
                                                  Nguyen, Yosinski & Clune 2015)
    predict(model, x)                             (labels, probabilities) without gradients
    success_rate(model, x, x_adv, y, target=None) the share of the images the model got right
                                                  whose answer the attack changed (or turned
                                                  into the target)

model: an nn.Module mapping x: (N, C, H, W) to scores (N, K), put in eval mode by the caller.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dlcv.validate import integer, number_in


def _images(who: str, x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise ValueError(f"{who}: x must be a (N, C, H, W) tensor, got {shape}")
    return x.detach().float()


def _labels(who: str, name: str, y, n: int) -> torch.Tensor:
    y = torch.as_tensor(y, dtype=torch.int64)
    if y.dim() == 0:
        y = y.expand(n)
    if y.shape != (n,):
        raise ValueError(f"{who}: {name} must be ({n},) class indices, got {tuple(y.shape)}")
    return y


def _loss_gradient(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """d (sum of cross-entropies) / dx at x: (N, C, H, W)."""
    x = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), labels, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(model: nn.Module, x, y, eps: float, target=None) -> torch.Tensor:
    """The fast gradient sign method.

    x: (N, C, H, W) images in [0, 1]; y: (N,) true labels (used when target is None);
    eps: the L-inf budget in [0, 1]; target: None (untargeted: x + eps sign(grad of the loss of
    y)), or (N,) / one int (targeted: x - eps sign(grad of the loss of the target)).
    Returns x_adv: (N, C, H, W), clipped to [0, 1].
    """
    x = _images("fgsm", x)
    eps = number_in("fgsm", "eps", eps, 0.0, 1.0)
    if target is None:
        step = _loss_gradient(model, x, _labels("fgsm", "y", y, len(x))).sign()
    else:
        step = -_loss_gradient(model, x, _labels("fgsm", "target", target, len(x))).sign()
    return (x + eps * step).clamp(0, 1).detach()


def pgd(model: nn.Module, x, y, eps: float, steps: int = 10, step_size: float | None = None,
        target=None, random_start: bool = True, seed: int = 0) -> torch.Tensor:
    """Projected gradient descent in the L-inf ball of radius eps around x.

    x: (N, C, H, W) in [0, 1]; y: (N,) true labels; target: None (raise the loss of y) or the
    (N,) / one int target classes (lower the loss of the target). steps signed-gradient steps of
    step_size (default 2.5 eps / steps, Madry et al.'s choice), each followed by the projection
    clip(x_adv, x - eps, x + eps) and clip(., 0, 1). random_start: begin at a uniform point of
    the ball (drawn from seed) instead of at x. Returns x_adv: (N, C, H, W).
    """
    x = _images("pgd", x)
    eps = number_in("pgd", "eps", eps, 0.0, 1.0)
    steps = integer("pgd", "steps", steps, 1)
    alpha = 2.5 * eps / steps if step_size is None else number_in("pgd", "step_size",
                                                                  step_size, 0.0, 1.0)
    sign = 1.0 if target is None else -1.0
    labels = _labels("pgd", "y" if target is None else "target", y if target is None else target,
                     len(x))
    x_adv = x.clone()
    if random_start:
        g = torch.Generator().manual_seed(seed)
        x_adv = (x + eps * (2 * torch.rand(x.shape, generator=g) - 1)).clamp(0, 1)
    for _ in range(steps):
        grad = _loss_gradient(model, x_adv, labels)
        x_adv = x_adv + sign * alpha * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
    return x_adv.detach()


def fooling_images(model: nn.Module, targets, shape: tuple[int, int, int], eps: float = 0.2,
                   steps: int = 40, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise that the model calls the target class.

    targets: (N,) classes; shape: (C, H, W). Starts from uniform noise in [0, 1] (drawn from
    seed) and runs a targeted pgd of `steps` steps within eps of that noise (no random start).
    Returns (noise, fooling): two (N, C, H, W) tensors.
    """
    targets = torch.as_tensor(targets, dtype=torch.int64)
    if targets.dim() != 1:
        raise ValueError(f"fooling_images: targets must be (N,) classes, got {tuple(targets.shape)}")
    if len(shape) != 3:
        raise ValueError(f"fooling_images: shape must be (C, H, W), got {shape!r}")
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand((len(targets), *shape), generator=g)
    return noise, pgd(model, noise, targets, eps, steps, target=targets, random_start=False)


def predict(model: nn.Module, x, batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels (N,), softmax probabilities (N, K)) of x: (N, C, H, W), without gradients."""
    x = _images("predict", x)
    with torch.no_grad():
        p = torch.cat([torch.softmax(model(x[i:i + batch_size]), 1)
                       for i in range(0, len(x), batch_size)])
    return p.argmax(1), p


def success_rate(model: nn.Module, x, x_adv, y, target=None) -> float:
    """The attack's success rate on the images it could succeed on.

    x, x_adv: (N, C, H, W) clean and attacked images; y: (N,) true labels. Untargeted (target
    None): among the images whose clean prediction is y, the share whose prediction on x_adv is
    not y. Targeted: among those images whose true class is not the target, the share predicted
    as the target. 0.0 when no image qualifies.
    """
    x, x_adv = _images("success_rate", x), _images("success_rate", x_adv)
    if x.shape != x_adv.shape:
        raise ValueError(f"success_rate: x and x_adv must have the same shape, got "
                         f"{tuple(x.shape)} and {tuple(x_adv.shape)}")
    y = _labels("success_rate", "y", y, len(x))
    clean, adv = predict(model, x)[0], predict(model, x_adv)[0]
    ok = clean == y
    if target is None:
        hit = adv != y
    else:
        t = _labels("success_rate", "target", target, len(x))
        ok, hit = ok & (t != y), adv == t
    return float(hit[ok].float().mean()) if ok.any() else 0.0
