"""Recurrent networks for lecture 11: gradients through time, gates, and a character model.

Vanishing and exploding gradients
    recurrent_matrix(n, spectral_radius, kind, seed)   an (n, n) W_hh with a chosen spectral radius
    gradient_norms(W, steps, nonlinearity, ...)        ||dL/dh_t|| of a vanilla RNN, by autograd
    lstm_gradient_norms(hidden, steps, forget_bias)    ||dL/dc_t|| of an LSTM, by autograd, next to
                                                       the cell path alone (products of f)
Gradient clipping
    clip_by_norm(g, threshold)                         g * threshold / ||g|| when ||g|| > threshold
    cliff_loss(w, b, steps)                            a one-unit RNN whose loss has a cliff
    cliff_descent(w0, b, lr, iterations, clip)         gradient descent on it, clipped or not
The LSTM step written as formulas (the lecture's teaching version, forward only)
    LSTM_GATES, CLAMPS
    lstm_weights(lstm)                                 weights of layer 0 of an nn.LSTM, in float64
    lstm_step(x, h, c, weights, clamp)                 one step -> (h, c, gates)
    lstm_trace(lstm, x, clamp)                         every gate and state of a sequence
The marker task: memory over time
    make_marker_task(n, length, seed, max_markers)     noise symbols, one or two markers, a query at
                                                       the end; the answer is the last marker
    MarkerNet(cell, hidden)                            one-hot -> RNN / LSTM / GRU -> answer
    train_marker_net(net, task, steps, ...)            Adam, a fixed seed -> list of losses
    marker_lstm()                                      the trained LSTM of the widget (cached)
    marker_trace(net, tokens, clamp), marker_accuracy(net, task, clamp)
Reading an image row by row
    RowReader(width, hidden, bidirectional)            an LSTM that guesses the class after each row
    train_row_reader(model, X, y), accuracy_per_row(model, X, y)
A character-level language model (truncated back-propagation through time, temperature)
    load_text(), CharVocab, CharLM, stream_batches(ids, batch_size)
    train_char_lm(model, ids, steps, ...)              chunks of a long text, state carried over
    evaluate_char_lm(model, ids), next_char_probs(...), sample(...)
Counting and drawing
    rnn_param_count(kind, input_size, hidden_size, ...)
    draw_io_patterns(axes), draw_unrolled(ax), draw_truncated_bptt(ax, ...), draw_topology(ax, kind)

Layers, gradients and updates come from torch (nn.RNN, nn.LSTM, nn.GRU, autograd, torch.optim).
Assignment a5 asks students to write the RNN and LSTM layers, their backward passes, the word
embedding, the temporal softmax loss and captioning in numpy; this module never does. The one
formula-level piece, lstm_step, is torch and forward only: it exists so that a widget can show
and clamp each gate.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle
from torch import nn

from dlcv.loop import sampled, train
from dlcv.timing import torch_threads
from dlcv.validate import integer, positive

NONLINEARITIES = ("linear", "tanh", "relu")
MATRIX_KINDS = ("random", "orthogonal")
IN_COLOR, HID_COLOR, OUT_COLOR = "#F4B6B6", "#B8E0C8", "#B7D3EE"  # input, hidden, output boxes


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


# --------------------------------------------------------------------------------------------
# The LSTM step, written as formulas (teaching version, forward only)
# --------------------------------------------------------------------------------------------
LSTM_GATES = ("i", "f", "g", "o")  # PyTorch's order of the four blocks of weight_ih / weight_hh
GATE_NAMES = {"i": "input gate", "f": "forget gate", "g": "candidate", "o": "output gate",
              "c": "cell state", "h": "hidden state"}
CLAMPS = {"none": {}, "forget = 0": {"f": 0.0}, "forget = 1": {"f": 1.0},
          "input = 0": {"i": 0.0}, "output = 1": {"o": 1.0}}


@dataclass
class LSTMWeights:
    """One LSTM layer's parameters, gates stacked in PyTorch's order i, f, g, o.

    W_ih: (4H, D).  W_hh: (4H, H).  b: (4H,) = bias_ih + bias_hh.
    """

    W_ih: torch.Tensor
    W_hh: torch.Tensor
    b: torch.Tensor

    @property
    def hidden_size(self) -> int:
        return self.W_hh.shape[1]


def lstm_weights(lstm: nn.LSTM) -> LSTMWeights:
    """Layer 0 of a (one-directional) nn.LSTM as float64 LSTMWeights (copies, no gradient)."""
    if not isinstance(lstm, nn.LSTM):
        raise TypeError(f"lstm_weights: expected an nn.LSTM, got {type(lstm).__name__}")
    if lstm.bidirectional or lstm.proj_size:
        raise ValueError("lstm_weights: bidirectional or projected LSTMs are not supported")
    with torch.no_grad():
        W_ih = lstm.weight_ih_l0.detach().double().clone()
        W_hh = lstm.weight_hh_l0.detach().double().clone()
        b = torch.zeros(W_ih.shape[0], dtype=torch.float64)
        if lstm.bias:
            b = lstm.bias_ih_l0.detach().double() + lstm.bias_hh_l0.detach().double()
    return LSTMWeights(W_ih, W_hh, b)


def _clamp_spec(clamp) -> dict:
    if clamp is None:
        return {}
    if isinstance(clamp, str):
        if clamp not in CLAMPS:
            raise ValueError(f"clamp must be one of {list(CLAMPS)}, got {clamp!r}")
        return CLAMPS[clamp]
    if isinstance(clamp, dict) and all(k in LSTM_GATES for k in clamp):
        return clamp
    raise ValueError(f"clamp must be None, a key of CLAMPS or a dict gate -> value with gates "
                     f"in {LSTM_GATES}, got {clamp!r}")


def lstm_step(x, h, c, weights: LSTMWeights, clamp=None):
    """One LSTM step as the lecture writes it (PyTorch's gate order i, f, g, o).

        a = W_ih x + W_hh h + b                       (N, 4H), cut into a_i, a_f, a_g, a_o
        i = sigmoid(a_i), f = sigmoid(a_f), g = tanh(a_g), o = sigmoid(a_o)
        c' = f * c + i * g
        h' = o * tanh(c')

    Args:
        x: (N, D) inputs.  h, c: (N, H) the previous hidden and cell states.
        weights: LSTMWeights.  clamp: None, a key of CLAMPS ("forget = 0", ...) or a dict such
            as {"f": 1.0}: those gates are replaced by the constant after they are computed.
    Returns:
        (h', c', gates): gates is a dict with "i", "f", "g", "o" (N, H) and the pre-activations
        "a_i", "a_f", "a_g", "a_o" (N, H).

    The lecture's version, forward only; assignment a5 asks for the numpy forward and backward.
    """
    spec = _clamp_spec(clamp)
    H = weights.hidden_size
    if x.ndim != 2 or x.shape[1] != weights.W_ih.shape[1]:
        raise ValueError(f"lstm_step: x must be (N, {weights.W_ih.shape[1]}), "
                         f"got {tuple(x.shape)}")
    if h.shape != (x.shape[0], H) or c.shape != (x.shape[0], H):
        raise ValueError(f"lstm_step: h and c must be ({x.shape[0]}, {H}), "
                         f"got {tuple(h.shape)} and {tuple(c.shape)}")
    a = x @ weights.W_ih.T + h @ weights.W_hh.T + weights.b      # (N, 4H)
    a_i, a_f, a_g, a_o = a.split(H, dim=1)                        # (N, H) each
    gates = {"i": torch.sigmoid(a_i), "f": torch.sigmoid(a_f), "g": torch.tanh(a_g),
             "o": torch.sigmoid(a_o)}
    for k, v in spec.items():
        gates[k] = torch.full_like(gates[k], float(v))
    c_next = gates["f"] * c + gates["i"] * gates["g"]             # (N, H)
    h_next = gates["o"] * torch.tanh(c_next)                      # (N, H)
    gates.update(a_i=a_i, a_f=a_f, a_g=a_g, a_o=a_o)
    return h_next, c_next, gates


@dataclass
class LSTMTrace:
    """Every gate and state of an LSTM over a batch of sequences, float64 numpy, (N, T, H).

    i, f, g, o: gates and candidate; c, h: cell and hidden states after each step;
    pre: dict "i"/"f"/"g"/"o" -> the pre-activations; clamp: the clamp used.
    """

    i: np.ndarray
    f: np.ndarray
    g: np.ndarray
    o: np.ndarray
    c: np.ndarray
    h: np.ndarray
    pre: dict = field(default_factory=dict)
    clamp: dict = field(default_factory=dict)

    def __getitem__(self, key: str) -> np.ndarray:
        return getattr(self, key)


def lstm_trace(lstm: nn.LSTM, x, clamp=None) -> LSTMTrace:
    """Run layer 0 of `lstm` over x step by step with lstm_step, recording everything.

    x: (N, T, D) inputs (batch first), any float dtype. With clamp=None the hidden states equal
    what lstm(x) returns (up to float32 rounding when the LSTM is float32).
    """
    x = torch.as_tensor(x)
    if x.ndim != 3:
        raise ValueError(f"lstm_trace: x must be (N, T, D), got shape {tuple(x.shape)}")
    w = lstm_weights(lstm)
    N, T, _ = x.shape
    H = w.hidden_size
    x = x.double()
    h = torch.zeros(N, H, dtype=torch.float64)
    c = torch.zeros(N, H, dtype=torch.float64)
    rec = {k: [] for k in ("i", "f", "g", "o", "c", "h", "a_i", "a_f", "a_g", "a_o")}
    with torch.no_grad():
        for t in range(T):
            h, c, gates = lstm_step(x[:, t], h, c, w, clamp)
            for k in ("i", "f", "g", "o", "a_i", "a_f", "a_g", "a_o"):
                rec[k].append(gates[k])
            rec["c"].append(c)
            rec["h"].append(h)
    out = {k: torch.stack(v, dim=1).numpy() for k, v in rec.items()}  # (N, T, H)
    return LSTMTrace(i=out["i"], f=out["f"], g=out["g"], o=out["o"], c=out["c"], h=out["h"],
                     pre={k: out[f"a_{k}"] for k in LSTM_GATES}, clamp=_clamp_spec(clamp))


# --------------------------------------------------------------------------------------------
# The marker task
# --------------------------------------------------------------------------------------------
NOISE_SYMBOLS = tuple("abcdefgh")
MARKERS = tuple("ABCD")
QUERY = "?"
MARKER_SYMBOLS = NOISE_SYMBOLS + MARKERS + (QUERY,)
MARKER_LENGTH = 20


@dataclass
class MarkerTask:
    """Sequences of the marker task.

    tokens: (N, T) int64 indices into MARKER_SYMBOLS.  y: (N,) the answer, an index into MARKERS
    (the last marker of the sequence).  num_markers: (N,) 1 or 2.  positions: list of arrays,
    the markers' time steps.
    """

    tokens: np.ndarray
    y: np.ndarray
    num_markers: np.ndarray
    positions: list

    def __len__(self) -> int:
        return len(self.y)

    def text(self, k: int) -> str:
        """Sequence k as a string, e.g. 'hegAbehhhecefchecda?'."""
        return "".join(MARKER_SYMBOLS[j] for j in self.tokens[k])


def make_marker_task(n: int, length: int = MARKER_LENGTH, seed: int = 0,
                     max_markers: int = 2, min_lag: int = 4) -> MarkerTask:
    """n sequences of `length` symbols: noise letters a..h, then 1..max_markers capital markers
    A..D at random steps (at least `min_lag` steps before the end), and the query '?' last.

    The answer is the most recent marker. One marker must be remembered over many steps;
    a second one must replace the first, so the memory must also be overwritten.
    """
    who = "make_marker_task"
    n = integer(who, "n", n, 1)
    length = integer(who, "length", length, 3)
    max_markers = integer(who, "max_markers", max_markers, 1)
    min_lag = integer(who, "min_lag", min_lag, 1)
    room = length - min_lag
    if room < max_markers:
        raise ValueError(f"{who}: length {length} leaves no room for {max_markers} markers "
                         f"at least {min_lag} steps before the end")
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, len(NOISE_SYMBOLS), size=(n, length))
    num = rng.integers(1, max_markers + 1, size=n)                      # (n,)
    pos = np.argsort(rng.random((n, room)), axis=1)[:, :max_markers]    # (n, M) distinct steps
    marks = rng.integers(0, len(MARKERS), size=(n, max_markers))        # (n, M)
    used = np.arange(max_markers)[None, :] < num[:, None]               # (n, M)
    rows = np.nonzero(used)[0]
    tokens[rows, pos[used]] = len(NOISE_SYMBOLS) + marks[used]
    last = np.argmax(np.where(used, pos, -1), axis=1)                   # the latest marker
    y = marks[np.arange(n), last]
    positions = [np.sort(pos[k, :num[k]]) for k in range(n)]
    tokens[:, -1] = MARKER_SYMBOLS.index(QUERY)
    return MarkerTask(tokens=tokens.astype(np.int64), y=y, num_markers=num.astype(np.int64),
                      positions=positions)


class MarkerNet(nn.Module):
    """One-hot symbols -> a recurrent layer -> a linear read-out of the last hidden state.

    cell: "rnn" (tanh), "lstm" or "gru".  forward(tokens (N, T) int64) -> scores (N, 4).
    The recurrent layer is self.rnn (batch first), the read-out self.out.
    """

    def __init__(self, cell: str = "lstm", hidden: int = 8, seed: int = 0,
                 forget_bias: float = 3.0, input_bias: float = -3.0):
        super().__init__()
        if cell not in ("rnn", "lstm", "gru"):
            raise ValueError(f"MarkerNet: cell must be 'rnn', 'lstm' or 'gru', got {cell!r}")
        hidden = integer("MarkerNet", "hidden", hidden, 1)
        self.cell, self.hidden = cell, hidden
        self.num_symbols = len(MARKER_SYMBOLS)
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = layer(self.num_symbols, hidden, batch_first=True)
        self.out = nn.Linear(hidden, len(MARKERS))
        torch.random.set_rng_state(gen_state)
        if cell == "lstm":
            # Start in "hold" mode: forget gates nearly open, input gates nearly shut.
            with torch.no_grad():
                self.rnn.bias_hh_l0[hidden:2 * hidden] += forget_bias
                self.rnn.bias_hh_l0[:hidden] += input_bias

    def features(self, tokens) -> torch.Tensor:
        """(N, T) int64 -> (N, T, num_symbols) one-hot float32."""
        tokens = torch.as_tensor(tokens)
        if tokens.ndim != 2:
            raise ValueError(f"MarkerNet: tokens must be (N, T), got shape {tuple(tokens.shape)}")
        return F.one_hot(tokens.long(), self.num_symbols).float()

    def forward(self, tokens) -> torch.Tensor:
        out, _ = self.rnn(self.features(tokens))   # (N, T, H)
        return self.out(out[:, -1])                # (N, 4): read at the query, the last step


def train_marker_net(net: MarkerNet, task: MarkerTask, steps: int = 150, batch_size: int = 64,
                     lr: float = 0.03, clip: float = 1.0, seed: int = 0) -> list[float]:
    """Adam on the cross-entropy of the answer, minibatches drawn from `task` with a fixed seed,
    gradients clipped to norm `clip`. Returns the minibatch losses; the net ends in eval mode."""
    who = "train_marker_net"
    steps = integer(who, "steps", steps, 1)
    batch_size = integer(who, "batch_size", batch_size, 1)
    X = torch.as_tensor(task.tokens)
    y = torch.as_tensor(task.y)
    gen = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    log = train(lambda idx: F.cross_entropy(net(X[idx]), y[idx]), opt,
                sampled(len(X), batch_size, steps, gen), clip_norm=clip)
    net.eval()
    return log.loss


@lru_cache(maxsize=4)
def marker_lstm(hidden: int = 8, steps: int = 150, seed: int = 0) -> MarkerNet:
    """The LSTMGatesView's network: MarkerNet("lstm", hidden) trained with train_marker_net on
    10 000 sequences of length 20 (seed 1000). Under a second; cached. Do not modify the
    returned network."""
    with torch_threads(1):  # tiny matrices: one thread is fastest and reproducible
        net = MarkerNet("lstm", hidden, seed=seed)
        train_marker_net(net, make_marker_task(10_000, seed=1000), steps=steps, seed=seed)
    return net


def marker_trace(net: MarkerNet, tokens, clamp=None) -> tuple[LSTMTrace, np.ndarray]:
    """The LSTM trace of a MarkerNet on tokens (N, T) and the answer probabilities (N, 4) that
    its read-out gives from the (possibly clamped) last hidden state."""
    if net.cell != "lstm":
        raise ValueError(f"marker_trace: needs an LSTM MarkerNet, got cell {net.cell!r}")
    tr = lstm_trace(net.rnn, net.features(tokens), clamp)
    with torch.no_grad():
        scores = net.out(torch.as_tensor(tr.h[:, -1]).float())
    return tr, F.softmax(scores.double(), dim=1).numpy()


def marker_accuracy(net: MarkerNet, task: MarkerTask, clamp=None) -> dict:
    """Accuracy of net on task (with a clamped gate if clamp is given; LSTMs only):
    {"all": ..., "one marker": ..., "two markers": ...} (nan where no such sequence)."""
    if clamp is None or not _clamp_spec(clamp):
        with torch.no_grad():
            pred = net(torch.as_tensor(task.tokens)).argmax(1).numpy()
    else:
        pred = marker_trace(net, task.tokens, clamp)[1].argmax(1)
    ok = pred == task.y

    def mean(m):
        return float(ok[m].mean()) if m.any() else float("nan")

    return {"all": float(ok.mean()), "one marker": mean(task.num_markers == 1),
            "two markers": mean(task.num_markers == 2)}


# --------------------------------------------------------------------------------------------
# Reading an image row by row
# --------------------------------------------------------------------------------------------
class RowReader(nn.Module):
    """An LSTM that reads an image one row at a time and guesses its class after every row.

    forward(images (N, H, W) float) -> scores (N, H, num_classes): row t's scores are the guess
    after reading rows 1..t (bidirectional=False), or with every row in view (True: the
    backward LSTM has read rows H..t, the forward one rows 1..t).
    """

    def __init__(self, width: int = 8, hidden: int = 32, num_classes: int = 10,
                 bidirectional: bool = False, seed: int = 0):
        super().__init__()
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        self.rnn = nn.LSTM(integer("RowReader", "width", width, 1),
                           integer("RowReader", "hidden", hidden, 1), batch_first=True,
                           bidirectional=bool(bidirectional))
        self.out = nn.Linear(hidden * (2 if bidirectional else 1), num_classes)
        torch.random.set_rng_state(gen_state)

    def forward(self, images) -> torch.Tensor:
        images = torch.as_tensor(images, dtype=torch.float32)
        if images.ndim != 3:
            raise ValueError(f"RowReader: images must be (N, H, W), got {tuple(images.shape)}")
        out, _ = self.rnn(images)          # (N, H, hidden * directions)
        return self.out(out)               # (N, H, num_classes)


def train_row_reader(model: RowReader, X, y, steps: int = 300, batch_size: int = 64,
                     lr: float = 2e-2, seed: int = 0) -> list[float]:
    """Adam on the cross-entropy of the guess after every row (mean over rows and images).
    X: (N, H, W) images scaled to about [0, 1]; y: (N,) labels. Returns the minibatch losses."""
    X = torch.as_tensor(X, dtype=torch.float32)
    y = torch.as_tensor(y, dtype=torch.long)
    gen = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def loss_of(idx):
        scores = model(X[idx])                                   # (B, H, C)
        target = y[idx, None].expand(-1, scores.shape[1])         # (B, H): same label per row
        return F.cross_entropy(scores.reshape(-1, scores.shape[-1]), target.reshape(-1))

    model.train()
    steps = integer("train_row_reader", "steps", steps, 1)
    log = train(loss_of, opt, sampled(len(X), batch_size, steps, gen))
    model.eval()
    return log.loss


def accuracy_per_row(model: RowReader, X, y) -> np.ndarray:
    """(H,) accuracy of the guess after each row."""
    with torch.no_grad():
        pred = model(X).argmax(-1).numpy()                      # (N, H)
    return (pred == np.asarray(y)[:, None]).mean(axis=0)


# --------------------------------------------------------------------------------------------
# A character-level language model
# --------------------------------------------------------------------------------------------
_ASCII_FOR = {"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u2026": "...",
              "\u2014": "-", "\u2013": "-"}


def load_text(prose_only: bool = True) -> str:
    """English text shipped with Python: the language reference's topics (pydoc_data.topics),
    joined in sorted order, curly quotes and dashes made ASCII, other non-ASCII dropped.

    prose_only=True keeps the paragraphs of prose (about 240 000 characters): it drops the
    indented lines (grammar rules and code examples), the rows of tables (lines starting with
    "|" or "+") and the lines that underline headings.
    """
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[k] for k in sorted(topics))
    for a, b in _ASCII_FOR.items():
        text = text.replace(a, b)
    text = "".join(ch for ch in text if ch.isascii())
    if prose_only:
        lines = [ln for ln in text.split("\n")
                 if not ln.startswith((" ", "\t", "|", "+"))
                 and not re.fullmatch(r"[*=\-~^]+", ln)]
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return text.strip() + "\n"


class CharVocab:
    """The characters of a text, sorted, with encode (str -> int64 ids) and decode."""

    def __init__(self, text: str):
        if not isinstance(text, str) or not text:
            raise ValueError("CharVocab: text must be a non-empty string")
        self.chars = sorted(set(text))
        self.index = {ch: k for k, ch in enumerate(self.chars)}

    @property
    def size(self) -> int:
        return len(self.chars)

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, s: str) -> np.ndarray:
        missing = sorted(set(s) - set(self.index))
        if missing:
            raise ValueError(f"CharVocab.encode: characters not in the vocabulary: {missing}")
        return np.fromiter((self.index[ch] for ch in s), dtype=np.int64, count=len(s))

    def decode(self, ids) -> str:
        return "".join(self.chars[int(k)] for k in np.asarray(ids).ravel())


class CharLM(nn.Module):
    """Characters -> embedding -> LSTM or GRU (num_layers) -> scores of the next character.

    forward(x (N, T) int64, state=None) -> (logits (N, T, V), state); state is what nn.LSTM
    (a pair (h, c)) or nn.GRU (h) returns, to be passed to the next call.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 32, hidden_size: int = 128,
                 cell: str = "lstm", num_layers: int = 1, seed: int = 0):
        super().__init__()
        who = "CharLM"
        vocab_size = integer(who, "vocab_size", vocab_size, 2)
        if cell not in ("lstm", "gru"):
            raise ValueError(f"{who}: cell must be 'lstm' or 'gru', got {cell!r}")
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(vocab_size, integer(who, "embed_dim", embed_dim, 1))
        layer = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = layer(embed_dim, integer(who, "hidden_size", hidden_size, 1),
                         num_layers=integer(who, "num_layers", num_layers, 1), batch_first=True)
        self.out = nn.Linear(hidden_size, vocab_size)
        torch.random.set_rng_state(gen_state)
        self.cell, self.vocab_size = cell, vocab_size

    def forward(self, x, state=None):
        out, state = self.rnn(self.embed(x), state)   # (N, T, H)
        return self.out(out), state                   # (N, T, V)


def _detach(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def stream_batches(ids, batch_size: int) -> torch.Tensor:
    """Cut a long id sequence into batch_size contiguous streams: (batch_size, L) int64, row b
    being ids[b*L : (b+1)*L]. Consecutive chunks of a row continue each other, so the hidden
    state of one chunk is the right starting state for the next (truncated BPTT)."""
    ids = torch.as_tensor(np.asarray(ids, dtype=np.int64))
    batch_size = integer("stream_batches", "batch_size", batch_size, 1)
    L = len(ids) // batch_size
    if L < 2:
        raise ValueError(f"stream_batches: {len(ids)} ids are too few for {batch_size} streams")
    return ids[:L * batch_size].view(batch_size, L)


@dataclass
class CharLMHistory:
    """loss: minibatch cross-entropy (nats per character) per step; grad_norm: the gradient norm
    before clipping per step; val_steps, val_loss: held-out loss; seconds: training time."""

    loss: list = field(default_factory=list)
    grad_norm: list = field(default_factory=list)
    val_steps: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    seconds: float = 0.0


def train_char_lm(model: CharLM, ids, steps: int = 700, batch_size: int = 32, chunk: int = 64,
                  lr: float = 2e-2, clip: float | None = 1.0, seed: int = 0, val_ids=None,
                  val_every: int = 200, progress: bool = True) -> CharLMHistory:
    """Train a character model by truncated back-propagation through time.

    The text is cut into batch_size streams (stream_batches); step k reads the next `chunk`
    characters of every stream, predicts each next character (teacher forcing: the input is the
    true text), back-propagates through those `chunk` steps only, and carries the hidden state,
    detached, into the next chunk. At the end of the streams the state is reset to zero.
    Adam with a cosine decay of the learning rate to lr / 10; gradients clipped to norm `clip`.

    Args:
        ids: (L,) int64 character ids.  val_ids: optional held-out ids, scored every val_every
            steps and at the end.  seed: where the streams start (a random offset).
    Returns:
        CharLMHistory. The model ends in eval mode.
    """
    who = "train_char_lm"
    steps = integer(who, "steps", steps, 1)
    chunk = integer(who, "chunk", chunk, 1)
    val_every = integer(who, "val_every", val_every, 1)
    lr = positive(who, "lr", lr)
    ids = np.asarray(ids, dtype=np.int64)
    offset = int(np.random.default_rng(seed).integers(0, max(1, len(ids) // 10)))
    data = stream_batches(ids[offset:], batch_size)              # (B, L)
    if data.shape[1] < chunk + 1:
        raise ValueError(f"{who}: each of the {batch_size} streams has only {data.shape[1]} "
                         f"characters, fewer than chunk + 1 = {chunk + 1}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr / 10)
    hist = CharLMHistory()
    state = None

    def chunks():
        nonlocal state
        pos = 0
        for _ in range(steps):
            if pos + chunk + 1 > data.shape[1]:
                state, pos = None, 0                               # wrap around: fresh state
            yield data[:, pos:pos + chunk], data[:, pos + 1:pos + chunk + 1]  # (B, chunk) each:
            pos += chunk                                           # inputs, next characters

    def loss_of(batch):
        nonlocal state
        x, y = batch
        logits, state = model(x, _detach(state))                   # gradients stop here
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    def validate(step: int, _loss: float) -> None:
        if val_ids is not None and (step % val_every == 0 or step == steps):
            hist.val_steps.append(step)
            hist.val_loss.append(evaluate_char_lm(model, val_ids))
            model.train()

    t0 = time.perf_counter()
    model.train()
    log = train(loss_of, opt, chunks(), scheduler=sched, clip_norm=clip, grad_norm=True,
                on_step=validate, progress="training" if progress else None, total=steps)
    hist.loss, hist.grad_norm = log.loss, log.grad_norm
    hist.seconds = time.perf_counter() - t0
    model.eval()
    return hist


def evaluate_char_lm(model: CharLM, ids, batch_size: int = 16, chunk: int = 256) -> float:
    """Mean cross-entropy (nats per character) of predicting each next character of ids, the
    state carried across chunks as in training. Divide by log(2) for bits per character."""
    data = stream_batches(ids, batch_size)
    total, count, state = 0.0, 0, None
    model.eval()
    with torch.no_grad():
        for pos in range(0, data.shape[1] - 1, chunk):
            x = data[:, pos:pos + chunk]
            y = data[:, pos + 1:pos + chunk + 1]
            x = x[:, :y.shape[1]]
            logits, state = model(x, state)
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                           reduction="sum"))
            count += y.numel()
    return total / count


def _check_temperature(temperature, who):
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or \
            not temperature > 0:
        raise ValueError(f"{who}: temperature must be a positive number, got {temperature!r}")
    return float(temperature)


def next_char_probs(model: CharLM, vocab: CharVocab, prompt: str,
                    temperature: float = 1.0) -> np.ndarray:
    """(V,) the distribution softmax(scores / temperature) of the character after prompt."""
    temperature = _check_temperature(temperature, "next_char_probs")
    if not prompt:
        raise ValueError("next_char_probs: prompt must not be empty")
    x = torch.as_tensor(vocab.encode(prompt))[None]                 # (1, P)
    model.eval()
    with torch.no_grad():
        logits, _ = model(x)
        return F.softmax(logits[0, -1].double() / temperature, dim=0).numpy()


def sample(model: CharLM, vocab: CharVocab, prompt: str, length: int = 200,
           temperature: float = 1.0, seed: int = 0) -> str:
    """Continue prompt by `length` characters, each drawn from softmax(scores / temperature) and
    fed back as the next input (output feedback). A small temperature approaches the greedy
    choice (always the most likely character), a large one approaches uniform noise.
    Returns the generated characters only (without the prompt)."""
    who = "sample"
    temperature = _check_temperature(temperature, who)
    length = integer(who, "length", length, 0)
    if not prompt:
        raise ValueError(f"{who}: prompt must not be empty")
    gen = torch.Generator().manual_seed(int(seed))
    x = torch.as_tensor(vocab.encode(prompt))[None]                 # (1, P)
    out = []
    model.eval()
    with torch.no_grad():
        logits, state = model(x)
        for _ in range(length):
            p = F.softmax(logits[0, -1].double() / temperature, dim=0)  # (V,)
            k = int(torch.multinomial(p, 1, generator=gen))
            out.append(k)
            logits, state = model(torch.tensor([[k]]), state)
    return vocab.decode(out)


# --------------------------------------------------------------------------------------------
# Counting parameters
# --------------------------------------------------------------------------------------------
def rnn_param_count(kind: str, input_size: int, hidden_size: int, num_layers: int = 1,
                    bidirectional: bool = False) -> int:
    """Parameters of torch's nn.RNN / nn.GRU / nn.LSTM, by the formula.

    Each layer and direction has k blocks (1 for an RNN, 3 for a GRU, 4 for an LSTM), each with
    an input matrix (H, D_in), a recurrent matrix (H, H) and torch's two bias vectors:
    k * (H * D_in + H * H + 2H). Layer 1 reads D_in = input_size, later layers read H per
    direction.
    """
    blocks = {"rnn": 1, "gru": 3, "lstm": 4}
    if kind not in blocks:
        raise ValueError(f"rnn_param_count: kind must be one of {list(blocks)}, got {kind!r}")
    D = integer("rnn_param_count", "input_size", input_size, 1)
    H = integer("rnn_param_count", "hidden_size", hidden_size, 1)
    dirs = 2 if bidirectional else 1
    total = 0
    for layer in range(integer("rnn_param_count", "num_layers", num_layers, 1)):
        d_in = D if layer == 0 else H * dirs
        total += dirs * blocks[kind] * (H * d_in + H * H + 2 * H)
    return total


# --------------------------------------------------------------------------------------------
# Drawings
# --------------------------------------------------------------------------------------------
def _box(ax, x, y, color, text="", w=0.6, h=0.5, fontsize=8, lw=1.0, ec="0.25"):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02",
                                fc=color, ec=ec, lw=lw, zorder=2))
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=3)


def _edge(p, q, box) -> float:
    """The fraction of the way from p to q at which the segment leaves a box centred on p."""
    if box is None:
        return 0.0
    dx, dy = abs(q[0] - p[0]), abs(q[1] - p[1])
    fx = box[0] / 2 / dx if dx else np.inf
    fy = box[1] / 2 / dy if dy else np.inf
    return float(min(fx, fy))


def _arrow(ax, p, q, box_p=(0.6, 0.5), box_q=(0.6, 0.5), color="0.2", lw=1.1, ls="-",
           rad=0.0, shrink=1.5, zorder=1):
    """An arrow from the edge of the box (w, h) around p to the edge of the box around q
    (box_p / box_q None: from / to the point itself)."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    a, b = _edge(p, q, box_p), _edge(q, p, box_q)
    start, end = p + a * (q - p), q + b * (p - q)
    ax.add_patch(FancyArrowPatch(tuple(start), tuple(end), arrowstyle="-|>", mutation_scale=9,
                                 color=color, lw=lw, ls=ls, shrinkA=shrink, shrinkB=shrink,
                                 zorder=zorder, connectionstyle=f"arc3,rad={rad}"))


def _frame(ax, xlim, ylim, title=None):
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)


IO_PATTERNS = (
    ("one to one", [1], [1], "image classification\n(no recurrence)"),
    ("one to many", [1, 0, 0, 0], [1, 1, 1, 1], "image captioning"),
    ("many to one", [1, 1, 1, 1], [0, 0, 0, 1], "sentiment of a sentence,\naction in a video"),
    ("many to many\n(encoder-decoder)", [1, 1, 1, 0, 0], [0, 0, 1, 1, 1],
     "translation"),
    ("many to many\n(one output per input)", [1, 1, 1, 1], [1, 1, 1, 1],
     "labelling video frames,\nnext-character prediction"),
)


def draw_io_patterns(axes) -> None:
    """Five panels: which steps of an RNN get an input (red, bottom) and give an output (blue,
    top); green boxes are hidden states linked left to right. axes: 5 matplotlib axes."""
    axes = list(np.ravel(axes))
    if len(axes) != len(IO_PATTERNS):
        raise ValueError(f"draw_io_patterns: needs {len(IO_PATTERNS)} axes, got {len(axes)}")
    width = max(len(p[1]) for p in IO_PATTERNS)
    for ax, (name, ins, outs, example) in zip(axes, IO_PATTERNS, strict=True):
        n = len(ins)
        x0 = (width - n) / 2
        for k in range(n):
            x = x0 + k
            _box(ax, x, 1, HID_COLOR)
            if ins[k]:
                _box(ax, x, 0, IN_COLOR)
                _arrow(ax, (x, 0), (x, 1))
            if outs[k]:
                _box(ax, x, 2, OUT_COLOR)
                _arrow(ax, (x, 1), (x, 2))
            if k:
                _arrow(ax, (x - 1, 1), (x, 1))
        _frame(ax, (-0.6, width - 0.4), (-1.5, 2.6), name)
        ax.text((width - 1) / 2, -0.55, example, ha="center", va="top", fontsize=8,
                color="0.3")


def draw_unrolled(ax, steps: int = 4) -> None:
    """The folded RNN (a cell with a loop) and the same network unrolled over `steps` steps,
    every copy using the same weights W_xh, W_hh, W_hy."""
    _box(ax, 0, 1, HID_COLOR, "h")
    _box(ax, 0, 0, IN_COLOR, "x")
    _box(ax, 0, 2, OUT_COLOR, "y")
    _arrow(ax, (0, 0), (0, 1))
    _arrow(ax, (0, 1), (0, 2))
    ax.add_patch(FancyArrowPatch((0.3, 1.12), (0.3, 0.88), arrowstyle="-|>", mutation_scale=9,
                                 color="0.2", lw=1.1, shrinkA=0, shrinkB=0,
                                 connectionstyle="arc,angleA=0,angleB=0,armA=18,armB=18,rad=6"))
    ax.text(0.75, 1, r"$W_{hh}$", fontsize=8, va="center")
    ax.text(1.45, 1, "=", fontsize=16, ha="center", va="center")
    x_start = 3.0
    ax.text(x_start - 1.2, 1, "$h_0$", fontsize=9, ha="center", va="center")
    for t in range(steps):
        x = x_start + 1.2 * t
        _box(ax, x, 1, HID_COLOR, f"$h_{t + 1}$")
        _box(ax, x, 0, IN_COLOR, f"$x_{t + 1}$")
        _box(ax, x, 2, OUT_COLOR, f"$y_{t + 1}$")
        _arrow(ax, (x, 0), (x, 1))
        _arrow(ax, (x, 1), (x, 2))
        ax.text(x + 0.05, 0.5, r"$W_{xh}$", fontsize=7, va="center", color="0.35")
        ax.text(x + 0.05, 1.5, r"$W_{hy}$", fontsize=7, va="center", color="0.35")
        _arrow(ax, (x - 1.2, 1), (x, 1), box_p=(0.4, 0.3) if t == 0 else (0.6, 0.5))
        ax.text(x - 0.6, 1.1, r"$W_{hh}$", fontsize=7, ha="center", color="0.35")
    _frame(ax, (-0.5, x_start + 1.2 * (steps - 1) + 0.6), (-0.5, 2.5))


def draw_truncated_bptt(ax, length: int = 12, chunk: int = 4) -> None:
    """Hidden states over `length` steps cut into chunks of `chunk` steps: the forward pass
    (black) runs through everything, the hidden state crosses chunk boundaries; the backward
    pass (red, dashed) runs inside each chunk only and stops at its first step."""
    length = integer("draw_truncated_bptt", "length", length, 2)
    chunk = integer("draw_truncated_bptt", "chunk", chunk, 1)
    for start in range(0, length, chunk):
        end = min(start + chunk, length)
        ax.add_patch(Rectangle((start - 0.45, -0.75), end - start - 0.1, 2.55,
                               fc="0.93" if (start // chunk) % 2 == 0 else "0.86", ec="none",
                               zorder=0))
        ax.text((start + end - 1) / 2, 1.95, f"chunk {start // chunk + 1}", ha="center",
                fontsize=8, color="0.3")
        if start:
            ax.plot([start - 0.5, start - 0.5], [-0.8, 1.85], color="#D55E00", lw=1.0,
                    ls=(0, (2, 2)), zorder=1)
            ax.text(start - 0.5, -0.95, "gradient\nstops", ha="center", va="top", fontsize=7,
                    color="#D55E00")
    for t in range(length):
        _box(ax, t, 0, HID_COLOR, w=0.5, h=0.42)
        _box(ax, t, 1.2, OUT_COLOR, "L", w=0.42, h=0.36, fontsize=7)
        _arrow(ax, (t, 0), (t, 1.2), box_p=(0.5, 0.42), box_q=(0.42, 0.36))
        if t:
            _arrow(ax, (t - 1, 0), (t, 0), box_p=(0.5, 0.42), box_q=(0.5, 0.42))
            if t % chunk:
                _arrow(ax, (t - 0.1, -0.25), (t - 0.9, -0.25), None, None, color="#D55E00",
                       ls="--", rad=-0.5, shrink=6)
    ax.text(-0.7, 0, "h", fontsize=9, ha="right", va="center")
    ax.text(-0.7, 1.2, "loss", fontsize=8, ha="right", va="center")
    ax.plot([-0.4, 0.2], [-1.2, -1.2], color="0.2", lw=1.1)
    ax.text(0.3, -1.2, "forward: the state carries on", fontsize=7, va="center")
    ax.plot([-0.4, 0.2], [-1.55, -1.55], color="#D55E00", lw=1.1, ls="--")
    ax.text(0.3, -1.55, "backward: inside a chunk only", fontsize=7, va="center")
    _frame(ax, (-1.3, length - 0.3), (-1.85, 2.2))


TOPOLOGIES = ("deep", "bidirectional", "multi-dimensional", "output feedback")


def draw_topology(ax, kind: str) -> None:
    """A small diagram of a deep (stacked), bidirectional, two-dimensional, or output-feedback
    RNN. kind: one of TOPOLOGIES."""
    if kind not in TOPOLOGIES:
        raise ValueError(f"draw_topology: kind must be one of {TOPOLOGIES}, got {kind!r}")
    BOX = (0.5, 0.4)
    if kind == "deep":
        for t in range(4):
            _box(ax, t, 0, IN_COLOR, w=0.5, h=0.4)
            for layer in (1, 2, 3):
                _box(ax, t, layer, HID_COLOR, w=0.5, h=0.4)
                _arrow(ax, (t, layer - 1), (t, layer), BOX, BOX)
                if t:
                    _arrow(ax, (t - 1, layer), (t, layer), BOX, BOX)
            _box(ax, t, 4, OUT_COLOR, w=0.5, h=0.4)
            _arrow(ax, (t, 3), (t, 4), BOX, BOX)
        for layer in (1, 2, 3):
            ax.text(-0.55, layer, f"layer {layer}", ha="right", va="center", fontsize=7)
        _frame(ax, (-1.5, 3.5), (-0.5, 4.5), "deep (stacked): layer l reads layer l - 1")
    elif kind == "bidirectional":
        for t in range(4):
            x = 1.3 * t
            _box(ax, x, 0, IN_COLOR, w=0.7, h=0.4)
            _box(ax, x, 1, HID_COLOR, "→", w=0.34, h=0.4)
            _box(ax, x, 2, "#F7E3A8", "←", w=0.34, h=0.4)
            _box(ax, x, 3, OUT_COLOR, w=0.7, h=0.4)
            _arrow(ax, (x + 0.1, 0.2), (x + 0.1, 0.8), None, None, shrink=0)    # x -> forward
            _arrow(ax, (x - 0.26, 0.2), (x - 0.26, 1.8), None, None, shrink=0)  # x -> backward
            _arrow(ax, (x + 0.26, 1.2), (x + 0.26, 2.8), None, None, shrink=0)  # forward -> y
            _arrow(ax, (x - 0.1, 2.2), (x - 0.1, 2.8), None, None, shrink=0)    # backward -> y
            if t:
                _arrow(ax, (x - 1.3, 1), (x, 1), (0.34, 0.4), (0.34, 0.4))
                _arrow(ax, (x, 2), (x - 1.3, 2), (0.34, 0.4), (0.34, 0.4))
        ax.text(-0.55, 1, "forward", ha="right", va="center", fontsize=7)
        ax.text(-0.55, 2, "backward", ha="right", va="center", fontsize=7)
        _frame(ax, (-1.5, 4.4), (-0.5, 3.5), "bidirectional: $y_t$ sees the past and the future")
    elif kind == "multi-dimensional":
        n = 4
        for r in range(n):
            for q in range(n):
                _box(ax, q, n - 1 - r, HID_COLOR, w=0.45, h=0.45)
                if q:
                    _arrow(ax, (q - 1, n - 1 - r), (q, n - 1 - r), (0.45, 0.45), (0.45, 0.45))
                if r:
                    _arrow(ax, (q, n - r), (q, n - 1 - r), (0.45, 0.45), (0.45, 0.45))
        _box(ax, 2, 1, "#F7E3A8", w=0.45, h=0.45, lw=1.6)
        ax.text(2, 1, r"$h_{i,j}$", ha="center", va="center", fontsize=7, zorder=4)
        _frame(ax, (-0.6, n - 0.4), (-0.6, n - 0.2),
               "2-D: $h_{i,j}$ reads $h_{i-1,j}$ and $h_{i,j-1}$")
    else:  # output feedback
        for t in range(4):
            _box(ax, t * 1.3, 1, HID_COLOR, w=0.5, h=0.4)
            _box(ax, t * 1.3, 2, OUT_COLOR, f"$y_{t + 1}$", w=0.5, h=0.4, fontsize=7)
            _box(ax, t * 1.3, 0, IN_COLOR, "<S>" if t == 0 else f"$y_{t}$", w=0.5, h=0.4,
                 fontsize=7)
            _arrow(ax, (t * 1.3, 0), (t * 1.3, 1), BOX, BOX)
            _arrow(ax, (t * 1.3, 1), (t * 1.3, 2), BOX, BOX)
            if t:
                _arrow(ax, ((t - 1) * 1.3, 1), (t * 1.3, 1), BOX, BOX)
                _arrow(ax, ((t - 1) * 1.3, 2), (t * 1.3, 0), BOX, BOX,
                       color="#D55E00", ls="--")
        _frame(ax, (-0.6, 4.5), (-0.5, 2.7),
               "output feedback: each output is the next input")
