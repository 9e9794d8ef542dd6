"""Small multilayer perceptrons on 2-D toy data, trained with torch: lecture 04's capacity demos.

    toy_data(name)              the lecture's 2-D data sets (TOY_SETS), with sizes and noise
                                chosen so that the pictures are readable
    make_mlp(...)               a torch.nn.Sequential: [Linear, activation] * layers + Linear
    count_parameters(model)     number of learnable numbers (weights, biases, norm scales and shifts)
    train_mlp(X, y, hidden...)  full-batch Adam on softmax cross-entropy + reg * sum of W^2
                                -> MLPResult (model, loss history, accuracy, parameter count,
                                predict / predict_proba / regions on a grid)

The networks here are built from torch.nn layers and trained by torch autograd and torch.optim.
Writing the layers, their backward passes and the update rules in numpy is assignment a2's job,
so this module never does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.data import make_toy_2d
from dlcv.loop import train
from dlcv.networks.activations import PARAMS, activation_torch

MLP_ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "prelu", "elu", "gelu", "softplus")
TOY_SETS = ("moons", "noisy moons", "circles", "spiral", "xor", "blobs")
_TOY_ARGS = {  # make_toy_2d arguments per data set
    "moons": dict(kind="moons", n=200, noise=0.15),
    "noisy moons": dict(kind="moons", n=120, noise=0.25),  # few noisy points: easy to overfit
    "circles": dict(kind="circles", n=200, noise=0.1),
    "spiral": dict(kind="spiral", n=300, noise=0.05, num_classes=3),
    "xor": dict(kind="xor", n=200, noise=0.0),
    "blobs": dict(kind="blobs", n=150, noise=0.35, num_classes=3),
}


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of learnable numbers (weights, biases, BN scales and shifts) in `module`.

    Buffers such as BatchNorm's running mean and variance are not parameters and not counted.
    Works for modules on the meta device (dlcv.convolution.costs.build_on_meta).
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f"count_parameters: module must be a torch nn.Module, got "
                         f"{type(module).__name__}")
    return int(sum(p.numel() for p in module.parameters()
                   if p.requires_grad or not trainable_only))



def toy_data(name: str = "moons", seed: int = 0, n: int | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """One of TOY_SETS as X: (N, 2) float64, y: (N,) int64 (see dlcv.data.make_toy_2d).

    The training set is seed=0 with the default n; a fresh sample from the same distribution
    (another seed, a larger n) serves as a test set."""
    if name not in _TOY_ARGS:
        raise ValueError(f"toy_data: unknown data set {name!r}; choose one of {TOY_SETS}")
    args = dict(_TOY_ARGS[name])
    if n is not None:
        args["n"] = n
    return make_toy_2d(**args, seed=seed)


class Activation(nn.Module):
    """An activation of dlcv.networks.activations as a torch module. For "prelu" the slope a is a
    learnable parameter (one per layer, as in He et al. 2015's channel-shared variant)."""

    def __init__(self, name: str):
        super().__init__()
        if name not in MLP_ACTIVATIONS:
            raise ValueError(f"Activation: activation must be one of {MLP_ACTIVATIONS}, "
                             f"got {name!r}")
        self.name = name
        if name == "prelu":
            self.a = nn.Parameter(torch.tensor(PARAMS["prelu"]["a"]))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        if self.name == "prelu":
            return activation_torch("prelu", t, a=self.a)
        return activation_torch(self.name, t)

    def extra_repr(self) -> str:
        return self.name


def make_mlp(in_dim: int, hidden: int, num_classes: int, layers: int = 1,
             activation: str = "relu") -> nn.Sequential:
    """in_dim -> [hidden, activation] x layers -> num_classes scores (no softmax at the end).

    With layers=0 it is a linear classifier. Weights start Gaussian with He et al.'s (2015)
    scale sqrt(2 / fan_in) for the ReLU family and sqrt(1 / fan_in) for the others (LeCun et al.
    1998; often called Xavier), biases at 0 (lecture 05 explains why). Seed torch first for a
    reproducible network.
    """
    for name, v, lo in (("in_dim", in_dim, 1), ("hidden", hidden, 1),
                        ("num_classes", num_classes, 2), ("layers", layers, 0)):
        if not isinstance(v, int | np.integer) or v < lo:
            raise ValueError(f"make_mlp: {name} must be an int >= {lo}, got {v!r}")
    if activation not in MLP_ACTIVATIONS:
        raise ValueError(f"make_mlp: activation must be one of {MLP_ACTIVATIONS}, "
                         f"got {activation!r}")
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), Activation(activation)]
        d = hidden
    mods.append(nn.Linear(d, num_classes))
    gain = 2.0 if activation in ("relu", "leaky_relu", "prelu", "elu", "gelu") else 1.0
    with torch.no_grad():
        for m in mods:
            if isinstance(m, nn.Linear):
                m.weight.normal_(0.0, float(np.sqrt(gain / m.in_features)))
                m.bias.zero_()
    return nn.Sequential(*mods)


def _weights(model: nn.Module) -> list[torch.Tensor]:
    """The weight matrices of the Linear layers (the biases are not regularised)."""
    return [m.weight for m in model.modules() if isinstance(m, nn.Linear)]


@dataclass
class MLPResult:
    """A trained MLP and what training did.

    model: the torch network (float32), scores = model(x), x: (N, D)
    loss_history: (steps,) full objective (mean cross-entropy + reg * sum W^2) at every step
    data_loss: final mean cross-entropy on the training set
    train_accuracy: final accuracy on the training set, in [0, 1]
    num_params: count_parameters(model)
    """

    model: nn.Module
    loss_history: np.ndarray
    data_loss: float
    train_accuracy: float
    num_params: int
    num_classes: int
    settings: dict = field(default_factory=dict)

    def _scores(self, X) -> torch.Tensor:
        X = np.asarray(X, dtype=np.float32)
        d = self.model[0].in_features
        if X.ndim != 2 or X.shape[1] != d:
            raise ValueError(f"MLPResult: X must have shape (N, {d}), got {X.shape}")
        with torch.no_grad():
            return self.model(torch.from_numpy(X))  # (N, C)

    def predict_proba(self, X) -> np.ndarray:
        """X: (N, D) -> (N, C) softmax class probabilities (float64)."""
        return torch.softmax(self._scores(X), dim=1).double().numpy()

    def predict(self, X) -> np.ndarray:
        """X: (N, D) -> (N,) predicted classes (int64)."""
        return self._scores(X).argmax(1).numpy().astype(np.int64)

    def regions(self, box, steps: int = 150) -> tuple[np.ndarray, np.ndarray]:
        """Predicted class and its probability on a steps x steps grid over box = (xmin, xmax,
        ymin, ymax), for 2-D inputs. Returns labels (steps, steps) int64 and confidence (steps,
        steps) in [1/C, 1]; row 0 is ymin (use imshow(..., origin="lower", extent=box))."""
        x0, x1, y0, y1 = map(float, box)
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"MLPResult.regions: box must be (xmin, xmax, ymin, ymax) with "
                             f"xmax > xmin and ymax > ymin, got {box}")
        xx, yy = np.meshgrid(np.linspace(x0, x1, steps), np.linspace(y0, y1, steps))
        P = self.predict_proba(np.stack([xx.ravel(), yy.ravel()], 1))  # (steps*steps, C)
        return P.argmax(1).reshape(steps, steps), P.max(1).reshape(steps, steps)


def train_mlp(X, y, hidden: int = 10, layers: int = 1, activation: str = "relu", reg: float = 1e-3,
              steps: int = 500, lr: float = 0.02, seed: int = 0,
              num_classes: int | None = None) -> MLPResult:
    """Train a fully connected network on (X, y) with full-batch Adam (torch.optim.Adam).

    Args:
        X: (N, D) inputs; y: (N,) integer labels in 0..C-1.
        hidden: units per hidden layer; layers: number of hidden layers (0 = linear classifier).
        activation: one of MLP_ACTIVATIONS.
        reg: lambda of the L2 penalty reg * sum of squared weights (biases excluded), >= 0.
        steps, lr: Adam steps on the whole training set, and its learning rate.
        seed: the initial weights (and so the result) are a deterministic function of the seed;
            the global torch random state is left untouched.
        num_classes: C; by default max(y) + 1 (at least 2).

    Returns:
        MLPResult.
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"train_mlp: X must have shape (N, D) with N >= 1, got {X.shape}")
    y = np.asarray(y)
    if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"train_mlp: y must be ({X.shape[0]},) integer labels, "
                         f"got shape {y.shape} dtype {y.dtype}")
    C = int(num_classes) if num_classes is not None else max(2, int(y.max()) + 1)
    if y.min() < 0 or y.max() >= C:
        raise ValueError(f"train_mlp: labels y must lie in 0..{C - 1}, got {y.min()}..{y.max()}")
    if not reg >= 0:
        raise ValueError(f"train_mlp: reg must be >= 0, got {reg}")
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"train_mlp: steps must be an int >= 1, got {steps!r}")
    if not lr > 0:
        raise ValueError(f"train_mlp: lr must be > 0, got {lr}")

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_mlp(X.shape[1], hidden, C, layers, activation)
    Xt = torch.from_numpy(X)  # (N, D)
    yt = torch.from_numpy(y.astype(np.int64))  # (N,)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    weights = _weights(model)
    log = train(lambda _: F.cross_entropy(model(Xt), yt) + reg * sum((W * W).sum() for W in weights),
                opt, range(steps))  # full batch: every step sees all N examples
    history = np.array(log.loss)
    with torch.no_grad():
        scores = model(Xt)
        data_loss = float(F.cross_entropy(scores, yt))
        acc = float((scores.argmax(1) == yt).float().mean())
    settings = dict(hidden=hidden, layers=layers, activation=activation, reg=reg, steps=steps,
                    lr=lr, seed=seed)
    return MLPResult(model, history, data_loss, acc, count_parameters(model), C, settings)
