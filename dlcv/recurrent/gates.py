"""The LSTM's gates by hand for lecture 12: the step as formulas, and a task that needs memory.

The LSTM step written as formulas (the lecture's teaching version, forward only)
    LSTM_GATES, GATE_NAMES, CLAMPS
    LSTMWeights(W_ih, W_hh, b)                         (4H, D), (4H, H), (4H,): gates i, f, g, o
    lstm_weights(lstm)                                 weights of layer 0 of an nn.LSTM, in float64
    lstm_step(x, h, c, weights, clamp)                 one step: x (N, D), h, c (N, H)
                                                       -> (h, c, gates)
    lstm_trace(lstm, x, clamp)                         LSTMTrace: every gate and state (N, T, H) of
                                                       a sequence x (N, T, D)
The marker task: memory over time
    make_marker_task(n, length, seed, max_markers)     MarkerTask: noise symbols, one or two markers,
                                                       a query at the end; the answer is the last
                                                       marker (tokens (n, length), y (n,))
    MarkerNet(cell, hidden)                            one-hot -> RNN / LSTM / GRU -> answer:
                                                       tokens (N, T) -> scores (N, 4)
    train_marker_net(net, task, steps, ...)            Adam, a fixed seed -> list of losses
    marker_lstm()                                      the trained LSTM of the widget (cached)
    marker_trace(net, tokens, clamp)                   (LSTMTrace, answer probabilities (N, 4))
    marker_accuracy(net, task, clamp)                  {"all", "one marker", "two markers"}

Layers, gradients and updates come from torch (nn.RNN, nn.LSTM, nn.GRU, autograd, torch.optim).
Assignment a5 asks students to write the LSTM layer, its backward pass and captioning in numpy;
this module never does. The one formula-level piece, lstm_step, is torch and forward only: it
exists so that a widget can show and clamp each gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.loop import sampled, train
from dlcv.timing import torch_threads
from dlcv.validate import integer

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
