"""Activation functions of neural networks, their derivatives and how much they saturate.

Lecture 04 and its widget (dlcv.networks.widgets) plot these; dlcv.networks.mlp trains with them.

    ACTIVATIONS                   the names: sigmoid, tanh, relu, leaky_relu, prelu, elu, maxout,
                                  gelu, softplus
    PARAMS[name]                  the parameters of an activation and their default values
    INFO[name]                    formula (LaTeX), output range, zero-centred or not, one remark
    activation_torch(name, t)     f(t) on a torch tensor (differentiable, any shape)
    activation(name, x)           f(x) on an array, returned as a float64 numpy array
    derivative(name, x)           f'(x) computed by torch autograd (not typed by hand)
    saturation(name, x, t)        the fraction of inputs x whose |f'(x)| < t
    summary(name, scale)          saturation, dead fraction and output mean for z ~ N(0, scale^2)

Parameters (keyword arguments, defaults in PARAMS):
    leaky_relu  slope   f(x) = x for x > 0, slope * x otherwise (fixed, usually 0.01)
    prelu       a       the same shape, but a is learned with the other weights (He et al. 2015)
    elu         alpha   f(x) = x for x > 0, alpha (e^x - 1) otherwise (Clevert et al. 2016)
    maxout      w1, b1, w2, b2   max(w1 x + b1, w2 x + b2): a maxout unit with two linear pieces
                on a 1-D input (Goodfellow et al. 2013); its pieces are learned, so a maxout unit
                has twice the parameters of a ReLU unit

At a kink (x = 0 for the ReLU family) the derivative is the value torch's autograd returns there:
a valid subgradient, which is what training uses.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "maxout", "gelu",
               "softplus")

PARAMS: dict[str, dict[str, float]] = {
    "sigmoid": {},
    "tanh": {},
    "relu": {},
    "leaky_relu": {"slope": 0.01},
    "prelu": {"a": 0.25},
    "elu": {"alpha": 1.0},
    "maxout": {"w1": 1.0, "b1": 0.0, "w2": -0.5, "b2": 0.0},
    "gelu": {},
    "softplus": {},
}

INFO: dict[str, dict[str, object]] = {
    "sigmoid": dict(formula=r"\sigma(x) = 1 / (1 + e^{-x})", range="(0, 1)", zero_centred=False,
                    note="saturates on both sides; f' is at most 0.25; outputs are all positive"),
    "tanh": dict(formula=r"\tanh(x) = 2\sigma(2x) - 1", range="(-1, 1)", zero_centred=True,
                 note="zero-centred, but still saturates on both sides"),
    "relu": dict(formula=r"\max(0, x)", range="[0, inf)", zero_centred=False,
                 note="no saturation for x > 0, gradient exactly 0 for x < 0 (dead units)"),
    "leaky_relu": dict(formula=r"\max(0, x) + s \min(0, x)", range="(-inf, inf)",
                       zero_centred=False, note="a small slope s for x < 0 keeps units alive"),
    "prelu": dict(formula=r"\max(0, x) + a \min(0, x)", range="(-inf, inf)", zero_centred=False,
                  note="like leaky ReLU, but the slope a is learned"),
    "elu": dict(formula=r"x \;(x > 0), \;\; \alpha (e^x - 1) \;(x \le 0)",
                range="(-alpha, inf)", zero_centred=False,
                note="mean output closer to 0 than ReLU; saturates softly at -alpha; costs an exp"),
    "maxout": dict(formula=r"\max(w_1 x + b_1, w_2 x + b_2)", range="depends on w, b",
                   zero_centred=False,
                   note="piecewise linear, never saturates; doubles the parameters per unit"),
    "gelu": dict(formula=r"x \, \Phi(x)", range="(-0.17, inf)", zero_centred=False,
                 note="a smooth ReLU used in transformers"),
    "softplus": dict(formula=r"\log(1 + e^x)", range="(0, inf)", zero_centred=False,
                     note="a smooth ReLU; its derivative is the sigmoid"),
}


def _check_name(name: str, who: str) -> str:
    if name not in ACTIVATIONS:
        raise ValueError(f"{who}: unknown activation {name!r}; "
                         f"choose one of {', '.join(ACTIVATIONS)}")
    return name


def _params(name: str, params: dict, who: str) -> dict[str, float]:
    allowed = PARAMS[name]
    extra = set(params) - set(allowed)
    if extra:
        what = f"takes {', '.join(allowed)}" if allowed else "takes no parameters"
        raise ValueError(f"{who}: {name} {what}; got unexpected {', '.join(sorted(extra))}")
    out = dict(allowed)
    for k, v in params.items():
        if not isinstance(v, torch.Tensor):
            v = float(v)
            if not math.isfinite(v):
                raise ValueError(f"{who}: parameter {k} of {name} must be finite, got {v}")
        out[k] = v
    if name == "elu" and not isinstance(out["alpha"], torch.Tensor) and out["alpha"] < 0:
        raise ValueError(f"{who}: alpha of elu must be >= 0, got {out['alpha']}")
    return out


def activation_torch(name: str, t: torch.Tensor, **params) -> torch.Tensor:
    """f(t) for a torch tensor t of any shape; differentiable with respect to t and to any
    parameter passed as a tensor (e.g. a learnable PReLU slope `a`)."""
    _check_name(name, "activation_torch")
    p = _params(name, params, "activation_torch")
    if name == "sigmoid":
        return torch.sigmoid(t)
    if name == "tanh":
        return torch.tanh(t)
    if name == "relu":
        return torch.relu(t)
    if name == "leaky_relu":
        return torch.relu(t) + p["slope"] * torch.clamp(t, max=0)
    if name == "prelu":
        return torch.relu(t) + p["a"] * torch.clamp(t, max=0)
    if name == "elu":
        return torch.where(t > 0, t, p["alpha"] * torch.expm1(torch.clamp(t, max=0)))
    if name == "maxout":
        return torch.maximum(p["w1"] * t + p["b1"], p["w2"] * t + p["b2"])
    if name == "gelu":
        return F.gelu(t)
    return F.softplus(t)  # softplus


def _as_tensor(x, who: str) -> torch.Tensor:
    a = np.asarray(x, dtype=np.float64) if not isinstance(x, torch.Tensor) else x.detach().double()
    t = torch.as_tensor(a, dtype=torch.float64)
    if not torch.isfinite(t).all():
        raise ValueError(f"{who}: x must hold finite numbers")
    return t


def activation(name: str, x, **params) -> np.ndarray:
    """f(x) elementwise. x: array-like of any shape. Returns a float64 array of x's shape."""
    _check_name(name, "activation")
    t = _as_tensor(x, "activation")
    with torch.no_grad():
        return activation_torch(name, t, **params).numpy()


def derivative(name: str, x, **params) -> np.ndarray:
    """f'(x) elementwise, by torch autograd. x: array-like of any shape; returns float64 of x's
    shape. Since f acts elementwise, the gradient of sum(f(x)) is exactly f'(x)."""
    _check_name(name, "derivative")
    t = _as_tensor(x, "derivative").clone().requires_grad_(True)
    y = activation_torch(name, t, **params)
    (g,) = torch.autograd.grad(y.sum(), t)
    return g.detach().numpy()


def saturation(name: str, x, threshold: float = 0.05, **params) -> float:
    """The fraction of the inputs x (any shape) at which |f'(x)| < threshold: the share of units
    that pass (almost) no gradient back. threshold must be > 0."""
    _check_name(name, "saturation")
    if not threshold > 0:
        raise ValueError(f"saturation: threshold must be > 0, got {threshold}")
    d = derivative(name, x, **params)
    if d.size == 0:
        raise ValueError("saturation: x is empty")
    return float(np.mean(np.abs(d) < threshold))


def summary(name: str, scale: float = 1.0, threshold: float = 0.05, n: int = 20000, seed: int = 0,
            **params) -> dict[str, float | bool]:
    """How f behaves on pre-activations z ~ N(0, scale^2) (n samples, fixed seed).

    Returns a dict: saturated (fraction with |f'(z)| < threshold), dead (fraction with f'(z) = 0
    exactly: no gradient at all), mean_grad (mean |f'(z)|), mean_output and std_output (of f(z)),
    zero_centred (|mean_output| <= 0.1 * std_output).
    """
    if not scale > 0:
        raise ValueError(f"summary: scale must be > 0, got {scale}")
    z = scale * np.random.default_rng(seed).standard_normal(n)  # (n,)
    d = derivative(name, z, **params)
    f = activation(name, z, **params)
    mean, std = float(f.mean()), float(f.std())
    return dict(saturated=float(np.mean(np.abs(d) < threshold)), dead=float(np.mean(d == 0)),
                mean_grad=float(np.abs(d).mean()),
                mean_output=mean, std_output=std, zero_centred=bool(abs(mean) <= 0.1 * std))
