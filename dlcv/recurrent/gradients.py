"""Gradients through time for lecture 12: why they vanish or explode, and clipping them.

Vanishing and exploding gradients
    recurrent_matrix(n, spectral_radius, kind, seed)   an (n, n) W_hh with a chosen spectral radius
    gradient_norms(W, steps, nonlinearity, ...)        GradientFlow: ||dL/dh_t|| (T+1,) of a vanilla
                                                       RNN, by autograd
    lstm_gradient_norms(hidden, steps, forget_bias)    LSTMGradientFlow: ||dL/dc_t|| (T+1,) of an
                                                       LSTM, by autograd, next to the cell path
                                                       alone (products of f)
Gradient clipping
    clip_by_norm(g, threshold)                         g * threshold / ||g|| when ||g|| > threshold
    cliff_loss(w, b, steps)                            a one-unit RNN whose loss has a cliff
    cliff_descent(w0, b, lr, iterations, clip)         Descent: gradient descent on it, clipped or not

Gradients come from torch autograd; lstm_gradient_norms steps its LSTM with lstm_step from
dlcv.recurrent.gates. Assignment a5 asks students to write the RNN and LSTM backward passes in
numpy; this module never does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from dlcv.recurrent.gates import LSTMWeights, lstm_step
from dlcv.validate import integer, positive

NONLINEARITIES = ("linear", "tanh", "relu")
MATRIX_KINDS = ("random", "orthogonal")


# --------------------------------------------------------------------------------------------
# Vanishing and exploding gradients
# --------------------------------------------------------------------------------------------
def recurrent_matrix(n: int, spectral_radius: float = 1.0, kind: str = "random",
                     seed: int = 0) -> np.ndarray:
    """An (n, n) recurrent weight matrix W_hh whose largest |eigenvalue| is spectral_radius.

    kind="random": Gaussian entries, rescaled; its eigenvalues fill a disc (the circular law).
    kind="orthogonal": a random orthogonal matrix times spectral_radius; every eigenvalue then
    has modulus spectral_radius exactly (they sit on a circle).
    """
    who = "recurrent_matrix"
    n = integer(who, "n", n, 1)
    rho = positive(who, "spectral_radius", spectral_radius)
    if kind not in MATRIX_KINDS:
        raise ValueError(f"{who}: kind must be one of {MATRIX_KINDS}, got {kind!r}")
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, n))
    if kind == "orthogonal":
        Q, R = np.linalg.qr(G)
        Q = Q * np.sign(np.diag(R))  # a uniformly random orthogonal matrix
        return rho * Q
    return rho * G / np.max(np.abs(np.linalg.eigvals(G)))


@dataclass
class GradientFlow:
    """What gradient_norms measured on one unrolled vanilla RNN.

    grad: (T+1,) ||dL/dh_t|| for t = 0..T (t = T is the last step, where the loss sits).
    state: (T+1,) ||h_t||.  deriv: (T,) the mean of phi'(z_t) over units, for t = 1..T.
    """

    grad: np.ndarray
    state: np.ndarray
    deriv: np.ndarray


def gradient_norms(W, steps: int = 50, nonlinearity: str = "tanh", input_scale: float = 1.0,
                   seed: int = 0) -> GradientFlow:
    """Back-propagation through time in a vanilla RNN, measured by torch autograd.

    The RNN is h_t = phi(W h_{t-1} + x_t) for t = 1..T with phi in NONLINEARITIES, the inputs
    x_t ~ N(0, input_scale^2) per unit and h_0 ~ N(0, 1/n) per unit. The loss reads only the last
    state, L = u . h_T with a random unit vector u, so dL/dh_t is the error signal that reaches
    step t after travelling back T - t steps: J_{t+1}^T ... J_T^T u, with the Jacobians
    J_s = diag(phi'(z_s)) W.

    Args:
        W: (n, n) recurrent weights.  steps: T.  seed: inputs, h_0 and u.
    Returns:
        GradientFlow with float64 numpy arrays.
    """
    who = "gradient_norms"
    W = torch.as_tensor(np.asarray(W, dtype=np.float64))
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"{who}: W must be a square (n, n) matrix, got shape {tuple(W.shape)}")
    steps = integer(who, "steps", steps, 1)
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"{who}: nonlinearity must be one of {NONLINEARITIES}, "
                         f"got {nonlinearity!r}")
    if not input_scale >= 0:
        raise ValueError(f"{who}: input_scale must be >= 0, got {input_scale!r}")
    n = W.shape[0]
    gen = torch.Generator().manual_seed(int(seed))
    x = input_scale * torch.randn(steps, n, generator=gen, dtype=torch.float64)  # (T, n)
    h = (torch.randn(n, generator=gen, dtype=torch.float64) / math.sqrt(n)).requires_grad_()
    u = torch.randn(n, generator=gen, dtype=torch.float64)
    u = u / u.norm()
    phi = {"linear": lambda z: z, "tanh": torch.tanh, "relu": torch.relu}[nonlinearity]
    hs, derivs = [h], []
    for t in range(steps):
        z = W @ hs[-1] + x[t]                             # (n,)
        h_t = phi(z)
        h_t.retain_grad()
        with torch.no_grad():
            d = {"linear": torch.ones_like(z), "tanh": 1 - h_t ** 2,
                 "relu": (z > 0).to(z.dtype)}[nonlinearity]
            derivs.append(float(d.mean()))
        hs.append(h_t)
    loss = u @ hs[-1]
    loss.backward()
    grad = np.array([float(v.grad.norm()) for v in hs])
    state = np.array([float(v.detach().norm()) for v in hs])
    return GradientFlow(grad=grad, state=state, deriv=np.array(derivs))


@dataclass
class LSTMGradientFlow:
    """What lstm_gradient_norms measured. All arrays (T+1,) for t = 0..T, except forget (T,).

    cell: ||dL/dc_t|| (all paths, autograd).  cell_path: ||dL/dc_T * f_T * ... * f_{t+1}||, the
    part that travels along the cell alone.  forget: the mean forget gate at each step 1..T.
    """

    cell: np.ndarray
    cell_path: np.ndarray
    forget: np.ndarray


def lstm_gradient_norms(hidden: int = 16, steps: int = 50, forget_bias: float = 0.0,
                        input_size: int = 8, seed: int = 0) -> LSTMGradientFlow:
    """How far back the error signal reaches through an LSTM's cell, measured by autograd.

    An LSTM with random weights (N(0, 1/hidden)) reads T random inputs; the loss is
    L = u . c_T. forget_bias is added to the forget gate's bias: 0 gives f ~ 0.5, +3 gives
    f ~ 0.95. The cell recurrence c_t = f_t * c_{t-1} + i_t * g_t has dc_t/dc_{t-1} = diag(f_t)
    along the cell path (the gates' own dependence on h_{t-1} adds the other paths).
    """
    who = "lstm_gradient_norms"
    hidden = integer(who, "hidden", hidden, 1)
    steps = integer(who, "steps", steps, 1)
    input_size = integer(who, "input_size", input_size, 1)
    gen = torch.Generator().manual_seed(int(seed))
    H, D = hidden, input_size
    weights = LSTMWeights(
        W_ih=torch.randn(4 * H, D, generator=gen, dtype=torch.float64) / math.sqrt(D),
        W_hh=torch.randn(4 * H, H, generator=gen, dtype=torch.float64) / math.sqrt(H),
        b=torch.zeros(4 * H, dtype=torch.float64))
    weights.b[H:2 * H] += float(forget_bias)                # PyTorch's gate order: i, f, g, o
    x = torch.randn(steps, 1, D, generator=gen, dtype=torch.float64)
    u = torch.randn(1, H, generator=gen, dtype=torch.float64)
    u = u / u.norm()
    h = torch.zeros(1, H, dtype=torch.float64)
    c = torch.zeros(1, H, dtype=torch.float64, requires_grad=True)
    cs, fs = [c], []
    for t in range(steps):
        h, c, gates = lstm_step(x[t], h, cs[-1], weights)
        c.retain_grad()
        cs.append(c)
        fs.append(gates["f"].detach())
    (u * cs[-1]).sum().backward()
    cell = np.array([float(v.grad.norm()) for v in cs])
    f = torch.cat(fs)                                       # (T, H)
    path = [u[0]]
    for t in range(steps - 1, -1, -1):                      # dL/dc_T * f_T * ... * f_{t+1}
        path.append(path[-1] * f[t])
    cell_path = np.array([float(v.norm()) for v in path[::-1]])
    return LSTMGradientFlow(cell=cell, cell_path=cell_path, forget=f.mean(1).numpy())


# --------------------------------------------------------------------------------------------
# Gradient clipping
# --------------------------------------------------------------------------------------------
def clip_by_norm(g, threshold: float):
    """Rescale g to norm `threshold` if its norm is larger: g <- g * threshold / ||g||.

    g: an array or tensor of any shape (its Frobenius norm is used). Returns a new array or
    tensor of the same type; the direction of g never changes. For all the parameters of a
    torch model at once use torch.nn.utils.clip_grad_norm_(model.parameters(), threshold).
    """
    threshold = positive("clip_by_norm", "threshold", threshold)
    norm = float(torch.as_tensor(g).double().norm())
    scale = threshold / norm if norm > threshold else 1.0
    return g * scale


def cliff_loss(w, b, steps: int = 10, x0: float = 0.5, target: float = 0.7):
    """The loss (x_T - target)^2 of a one-unit RNN x_t = w * sigmoid(x_{t-1}) + b.

    The example of Pascanu, Mikolov and Bengio (2013): the recurrence has one or two stable
    fixed points depending on (w, b), and where the second one appears x_T jumps, so the loss has
    a steep wall (a "cliff"), steeper the larger T. w, b: numbers or tensors of one shape.
    """
    steps = integer("cliff_loss", "steps", steps, 1)
    w = torch.as_tensor(w, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    x = torch.full(torch.broadcast_shapes(w.shape, b.shape), float(x0), dtype=torch.float64)
    for _ in range(steps):
        x = w * torch.sigmoid(x) + b
    return (x - target) ** 2


@dataclass
class Descent:
    """A 1-D gradient descent run: w (K+1,), loss (K+1,), grad (K,) the raw dL/dw per step."""

    w: np.ndarray
    loss: np.ndarray
    grad: np.ndarray


def cliff_descent(w0: float, b: float, lr: float, iterations: int, clip: float | None = None,
                  steps: int = 10) -> Descent:
    """Gradient descent on cliff_loss over w (b fixed), with the step clipped to norm `clip`."""
    who = "cliff_descent"
    lr = positive(who, "lr", lr)
    iterations = integer(who, "iterations", iterations, 1)
    ws, losses, grads = [float(w0)], [], []
    for _ in range(iterations):
        w = torch.tensor(ws[-1], dtype=torch.float64, requires_grad=True)
        loss = cliff_loss(w, b, steps)
        (g,) = torch.autograd.grad(loss, w)
        losses.append(float(loss.detach()))
        grads.append(float(g))
        if clip is not None:
            g = clip_by_norm(g, clip)
        ws.append(ws[-1] - lr * float(g))
    losses.append(float(cliff_loss(ws[-1], b, steps)))
    return Descent(w=np.array(ws), loss=np.array(losses), grad=np.array(grads))
