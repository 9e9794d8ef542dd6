"""Hidden tests of assignment 5 (trusted: run by the grader, never in the student's kernel).

Every test repeats the visible cases of its cell and adds hidden ones. Inputs are made here;
`st` calls the student's code in the sandbox, `ref` the source notebook's solutions here; every
comparison happens here.

- The numpy functions (layers, CaptioningRNN, bleu, beam_search) are an isolated part: only their
  answer cells run, in a fresh kernel without torch, scipy or scikit-learn.
- The memorisation tests train the student's CaptioningRNN in the notebook's kernel with the given
  loop (probes/a5_captioning.py) on features computed here, and compute the loss here with the
  reference model; the BLEU tests take the captions of the notebook's trained `lstm_model` and
  `rnn_model` for test scenes whose features are computed here, and score them here against the
  references held here.
"""

from __future__ import annotations

import functools
import math
from collections import Counter

import numpy as np

from autograder.hidden import (
    NUMPY_ONLY,
    HiddenTests,
    Isolated,
    RemoteObject,
    StudentError,
    as_array,
    case,
    expect_raises,
)
from dlcv.checks import CheckFailed, expect_at_least, expect_close, expect_equal, expect_shape

# The numpy answer cells, graded in their own kernel (after ISOLATED_PREAMBLE).
ANSWER_CELLS = ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward", "word_embedding",
                "temporal_affine", "temporal_softmax_loss", "lstm_step_forward", "lstm_step_backward",
                "lstm_forward", "lstm_backward", "captioning_rnn", "bleu", "beam_search"]
ISOLATED_PREAMBLE = "import math\nfrom collections import Counter\n\nimport numpy as np"

tests = HiddenTests(probes="a5_captioning", preamble=ISOLATED_PREAMBLE,
                    # the given training cells train on the notebook's data: the tests use the
                    # student's trained models, never the reference's
                    not_in_reference=("train_lstm", "train_rnn"),
                    dlcv=["captioning.captions", "captioning.encoders", "checks", "gradcheck", "loop",
                          "plots", "shapes", "timing", "validate"],
                    isolated=Isolated(cells=ANSWER_CELLS, preamble=ISOLATED_PREAMBLE, blocked=NUMPY_ONLY))

TIGHT = dict(rtol=1e-9, atol=1e-12)  # forward passes against the reference
GRAD = dict(rtol=1e-8, atol=1e-11)  # analytic gradients against the reference's


def _parts(got, n: int, what: str):
    """A reply that must be a tuple (or list) of n values."""
    if not isinstance(got, (tuple, list)) or len(got) != n:
        size = f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
        raise CheckFailed(f"{what} should return a tuple of {n} values, got {type(got).__name__}{size}")
    return got


def _noted(e: CheckFailed, note: str) -> CheckFailed:
    """e with `note` at the end of its first line (before the arrays a message may show)."""
    first, *rest = str(e).split("\n", 1)
    if note:
        first = f"{first[:-1]}{note}." if first.endswith(".") else f"{first}{note}"
    return CheckFailed("\n".join([first, *rest]))


def _close_parts(got, expected, names, tol, note=lambda: ""):
    for g, e, name in zip(got, expected, names, strict=False):
        try:
            expect_close(g, e, name, **tol)
        except CheckFailed as err:
            raise _noted(err, note()) from None


# ------------------------------------------------------------------------------------------
# "a failure says when another function it uses is the cause"
# ------------------------------------------------------------------------------------------
def _layer_inputs(kind: str):
    rng = np.random.default_rng(900)
    N, T, D, H = 2, 3, 3, 2
    G = 4 * H if kind == "lstm" else H
    x, h = rng.normal(size=(N, T, D)), rng.normal(size=(N, H))
    Wx, Wh, b = rng.normal(size=(D, G)), 0.5 * rng.normal(size=(H, G)), rng.normal(size=G)
    return x, h, Wx, Wh, b, rng.normal(size=(N, T, H)), rng.normal(size=(N, H))


def _check_helper(st, ref, name: str) -> None:
    """Raise (CheckFailed or StudentError) unless st's `name` agrees with the reference on a small case."""
    if name in ("rnn_step_forward", "rnn_step_backward", "lstm_step_forward", "lstm_step_backward"):
        kind = name.split("_")[0]
        x, h, Wx, Wh, b, _, dnext = _layer_inputs(kind)
        args = (x[:, 0], h, np.tanh(h), Wx, Wh, b) if kind == "lstm" else (x[:, 0], h, Wx, Wh, b)
        n_out = 3 if kind == "lstm" else 2
        got, exp = _parts(st[f"{kind}_step_forward"](*args), n_out, name), ref[f"{kind}_step_forward"](*args)
        _close_parts(got[:-1], exp[:-1], ["next_h", "next_c"], TIGHT)
        if name.endswith("backward"):
            up = (dnext, np.cos(dnext)) if kind == "lstm" else (dnext,)
            _close_parts(st[name](*up, got[-1]), ref[name](*up, exp[-1]), ["dx"] * 6, GRAD)
    elif name in ("rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward"):
        kind = name.split("_")[0]
        x, h, Wx, Wh, b, dh, _ = _layer_inputs(kind)
        got = _parts(st[f"{kind}_forward"](x, h, Wx, Wh, b), 2, name)
        exp = ref[f"{kind}_forward"](x, h, Wx, Wh, b)
        expect_close(got[0], exp[0], "h", **TIGHT)
        if name.endswith("backward"):
            _close_parts(st[name](dh, got[1]), ref[name](dh, exp[1]), ["dx"] * 5, GRAD)
    elif name == "word_embedding":
        x, W = np.array([[0, 2, 2], [1, 0, 3]]), np.arange(12.0).reshape(4, 3)
        got, exp = _parts(st.word_embedding_forward(x, W), 2, name), ref.word_embedding_forward(x, W)
        expect_close(got[0], exp[0], "out")
        dout = np.linspace(-1, 1, 18).reshape(2, 3, 3)
        expect_close(st.word_embedding_backward(dout, got[1]), ref.word_embedding_backward(dout, exp[1]),
                     "dW")
    elif name == "temporal_affine":
        x, _, w, _, b, dout, _ = _layer_inputs("rnn")  # x (2, 3, 3), w (3, 2), b (2,)
        got, exp = _parts(st.temporal_affine_forward(x, w, b), 2, name), ref.temporal_affine_forward(x, w, b)
        expect_close(got[0], exp[0], "out")
        _close_parts(st.temporal_affine_backward(dout, got[1]), ref.temporal_affine_backward(dout, exp[1]),
                     ["dx", "dw", "db"], GRAD)
    elif name == "temporal_softmax_loss":
        rng = np.random.default_rng(901)
        x, y = rng.normal(size=(2, 3, 4)), rng.integers(0, 4, (2, 3))
        mask = np.array([[1, 1, 0], [1, 0, 0]], bool)
        _close_parts(_parts(st.temporal_softmax_loss(x, y, mask), 2, name),
                     ref.temporal_softmax_loss(x, y, mask), ["loss", "dx"], GRAD)
    else:
        raise ValueError(name)


def _uses_note(st, ref, names, user: str) -> str:
    """' (user uses your X and Y, which are wrong: ...)' when functions it uses fail their check."""
    wrong = []
    for name in names:
        try:
            _check_helper(st, ref, name)
        except Exception:  # noqa: BLE001 - wrong, or raised: either way it is a cause
            wrong.append(name)
    if not wrong:
        return ""
    one = len(wrong) == 1
    names = wrong[0] if one else f"{', '.join(wrong[:-1])} and {wrong[-1]}"
    return (f" ({user} uses your {names}, which {'is' if one else 'are'} wrong: "
            f"fix {'it' if one else 'them'} first)")


# The student's functions a case also runs (case(..., uses=...): a failed case reminds of them).
_STEP = {"rnn": ("rnn_step_forward",), "lstm": ("lstm_step_forward", "sigmoid")}  # a step forward


def _backward_uses(kind: str) -> tuple[str, ...]:
    """What a case of rnn_backward or lstm_backward also runs: the forward pass, its step, the step's
    backward pass."""
    return (f"{kind}_forward", *_STEP[kind], f"{kind}_step_backward")


def _loss_uses(cell_type: str) -> tuple[str, ...]:
    """What CaptioningRNN.loss runs."""
    return ("word_embedding_forward", f"{cell_type}_forward", *_STEP[cell_type], "temporal_affine_forward",
            "temporal_softmax_loss", "temporal_affine_backward", f"{cell_type}_backward",
            f"{cell_type}_step_backward", "word_embedding_backward")


def _layers(cell_type: str) -> list[str]:
    return ["word_embedding", f"{cell_type}_step_forward", f"{cell_type}_step_backward",
            f"{cell_type}_forward", f"{cell_type}_backward", "temporal_affine", "temporal_softmax_loss"]


# ------------------------------------------------------------------------------------------
# Part 1: the vanilla RNN
# ------------------------------------------------------------------------------------------
def _hand_rnn():
    x = np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]])
    h = np.array([[0.2, -0.4], [0.0, 1.0]])
    Wx = np.array([[0.1, -0.2], [0.3, 0.0], [-0.5, 0.4]])
    Wh = np.array([[1.0, 0.5], [-1.0, 0.2]])
    return x, h, Wx, Wh, np.array([0.05, -0.1])


@tests.test("test_rnn_step_forward", isolated=True)
def _(st, ref):
    f = st.rnn_step_forward
    with case("rnn_step_forward", "N=2, D=3, H=2, by hand"):
        nh = _parts(f(*_hand_rnn()), 2, "rnn_step_forward")[0]
        expect_shape(nh, (2, 2), "next_h")
        expect_close(nh, np.tanh([[1.25, -0.68], [-0.3, 0.0]]), "next_h")
    rng = np.random.default_rng(501)
    for N, D, H in ((4, 5, 6), (1, 3, 2), (7, 1, 9)):
        x, h = rng.normal(size=(N, D)), rng.normal(size=(N, H))
        Wx, Wh, b = rng.normal(size=(D, H)), 0.5 * rng.normal(size=(H, H)), rng.normal(size=H)
        with case("rnn_step_forward", f"N={N}, D={D}, H={H}, against the reference"):
            nh = _parts(f(x, h, Wx, Wh, b), 2, "rnn_step_forward")[0]
            expect_close(nh, ref.rnn_step_forward(x, h, Wx, Wh, b)[0], "next_h", **TIGHT)


def _step_backward_case(st, ref, kind, args, upstream, names):
    """st's forward then st's backward on its own cache, against the reference's."""
    fwd, bwd = f"{kind}_step_forward", f"{kind}_step_backward"
    n_out = 3 if kind == "lstm" else 2
    got_f, exp_f = _parts(st[fwd](*args), n_out, fwd), ref[fwd](*args)
    got = _parts(st[bwd](*upstream, got_f[-1]), len(names), bwd)

    def note():
        try:
            _close_parts(got_f[:-1], exp_f[:-1], ["next_h", "next_c"], TIGHT)
            return ""
        except CheckFailed:
            return (f" ({fwd} is wrong too on this case: make its test pass first, then the backward "
                    "pass of that forward pass)")

    _close_parts(got, ref[bwd](*upstream, exp_f[-1]), names, GRAD, note)


@tests.test("test_rnn_step_backward", isolated=True)
def _(st, ref):
    names = ("dx", "dprev_h", "dWx", "dWh", "db")
    rng = np.random.default_rng(11)
    N, D, H = 4, 5, 6
    x, h = rng.normal(size=(N, D)), rng.normal(size=(N, H))
    Wx, Wh, b = rng.normal(size=(D, H)), rng.normal(size=(H, H)), rng.normal(size=H)
    dnext = rng.normal(size=(N, H))
    with case("rnn_step_backward", "N=4, D=5, H=6: gradients", uses=_STEP["rnn"]):
        _step_backward_case(st, ref, "rnn", (x, h, Wx, Wh, b), (dnext,), names)
    rng = np.random.default_rng(502)
    for N, D, H in ((3, 4, 5), (1, 2, 7), (6, 8, 3)):
        arrs = [rng.normal(size=s) for s in ((N, D), (N, H), (D, H), (H, H), (H,))]
        dnext = rng.normal(size=(N, H))
        with case("rnn_step_backward", f"N={N}, D={D}, H={H}, against the reference", uses=_STEP["rnn"]):
            _step_backward_case(st, ref, "rnn", arrs, (dnext,), names)


def _sequence_forward_case(st, ref, kind, args, helpers):
    name = f"{kind}_forward"
    got = _parts(st[name](*args), 2, name)[0]
    N, T = args[0].shape[:2]
    expect_shape(got, (N, T, args[1].shape[1]), "h")
    try:
        expect_close(got, ref[name](*args)[0], "h", **TIGHT)
    except CheckFailed as e:
        raise _noted(e, _uses_note(st, ref, helpers, name)) from None


def _sequence_backward_case(st, ref, kind, args, dh):
    fwd, bwd = f"{kind}_forward", f"{kind}_backward"
    got_f, exp_f = _parts(st[fwd](*args), 2, fwd), ref[fwd](*args)
    got = _parts(st[bwd](dh, got_f[1]), 5, bwd)

    def note():
        try:
            expect_close(got_f[0], exp_f[0], "h", **TIGHT)
        except CheckFailed:
            return (f" ({fwd} is wrong too on this case: make its test pass first, then the backward "
                    "pass of that forward pass)")
        return _uses_note(st, ref, [f"{kind}_step_backward"], bwd)

    _close_parts(got, ref[bwd](dh, exp_f[1]), ("dx", "dh0", "dWx", "dWh", "db"), GRAD, note)


@tests.test("test_rnn_forward", isolated=True)
def _(st, ref):
    x0, h0, Wx, Wh, b = _hand_rnn()
    x = np.stack([x0 * (t + 1) for t in range(3)], axis=1)
    with case("rnn_forward", "N=2, T=3, D=3, H=2: the hand-made weights of the step test", uses=_STEP["rnn"]):
        expected, prev = [], h0
        for t in range(3):  # the recurrence, written out
            prev = np.tanh(x[:, t] @ Wx + prev @ Wh + b)
            expected.append(prev)
        h = _parts(st.rnn_forward(x, h0, Wx, Wh, b), 2, "rnn_forward")[0]
        expect_shape(h, (2, 3, 2), "h")
        try:
            expect_close(h, np.stack(expected, axis=1), "h")
        except CheckFailed as e:
            raise _noted(e, _uses_note(st, ref, ["rnn_step_forward"], "rnn_forward")) from None
    rng = np.random.default_rng(503)
    for N, T, D, H in ((3, 5, 4, 6), (1, 1, 2, 3), (4, 9, 3, 2)):
        xs, hs = rng.normal(size=(N, T, D)), rng.normal(size=(N, H))
        Wx, Wh, b = rng.normal(size=(D, H)), 0.4 * rng.normal(size=(H, H)), rng.normal(size=H)
        with case("rnn_forward", f"N={N}, T={T}, D={D}, H={H}, against the reference", uses=_STEP["rnn"]):
            _sequence_forward_case(st, ref, "rnn", (xs, hs, Wx, Wh, b), ["rnn_step_forward"])


@tests.test("test_rnn_backward", isolated=True)
def _(st, ref):
    rng = np.random.default_rng(12)
    N, T, D, H = 2, 4, 3, 5
    args = [rng.normal(size=(N, T, D)), rng.normal(size=(N, H)), rng.normal(size=(D, H)),
            rng.normal(size=(H, H)), rng.normal(size=H)]
    dh = rng.normal(size=(N, T, H))
    with case("rnn_backward", "N=2, T=4, D=3, H=5: gradients", uses=_backward_uses("rnn")):
        _sequence_backward_case(st, ref, "rnn", args, dh)
    rng = np.random.default_rng(504)
    for N, T, D, H in ((3, 6, 4, 5), (1, 1, 2, 3), (5, 12, 3, 4)):
        x, h0 = rng.normal(size=(N, T, D)), rng.normal(size=(N, H))
        Wx, Wh, b = rng.normal(size=(D, H)), 0.4 * rng.normal(size=(H, H)), rng.normal(size=H)
        dh = rng.normal(size=(N, T, H))
        with case("rnn_backward", f"N={N}, T={T}, D={D}, H={H}, against the reference",
                  uses=_backward_uses("rnn")):
            _sequence_backward_case(st, ref, "rnn", (x, h0, Wx, Wh, b), dh)
    args = [rng.normal(size=(1, 7, 2)), rng.normal(size=(1, 3)), rng.normal(size=(2, 3)),
            rng.normal(size=(3, 3)), rng.normal(size=3)]
    dh = rng.normal(size=(1, 7, 3))
    with case("rnn_backward", "N=1, T=7, D=2, H=3: gradients", uses=_backward_uses("rnn")):
        _sequence_backward_case(st, ref, "rnn", args, dh)


# ------------------------------------------------------------------------------------------
# Part 2: words in, words out
# ------------------------------------------------------------------------------------------
@tests.test("test_word_embedding", isolated=True)
def _(st, ref):
    W = np.arange(12.0).reshape(4, 3)  # 4 words, vectors of 3 numbers
    x = np.array([[0, 3, 3], [1, 0, 2]])
    cache = None
    with case("word_embedding_forward", "V=4, D=3, x = [[0, 3, 3], [1, 0, 2]]"):
        out, cache = _parts(st.word_embedding_forward(x, W), 2, "word_embedding_forward")
        expect_shape(out, (2, 3, 3), "out")
        expect_close(out[0], [[0.0, 1.0, 2.0], [9.0, 10.0, 11.0], [9.0, 10.0, 11.0]], "out[0]")
        expect_close(out[1], [[3.0, 4.0, 5.0], [0.0, 1.0, 2.0], [6.0, 7.0, 8.0]], "out[1]")
    with case("word_embedding_backward", "the same x, dout = 1 everywhere: each row counts its word"):
        if cache is None:
            cache = _parts(st.word_embedding_forward(x, W), 2, "word_embedding_forward")[1]
        dW = st.word_embedding_backward(np.ones((2, 3, 3)), cache)
        expect_shape(dW, (4, 3), "dW")
        expect_close(dW, [[2.0] * 3, [1.0] * 3, [1.0] * 3, [2.0] * 3], "dW (words 0 and 3 occur twice)")
    rng = np.random.default_rng(505)
    for N, T, V, D in ((4, 6, 10, 5), (1, 1, 3, 2), (8, 3, 2, 7)):
        x, W = rng.integers(0, V, size=(N, T)), rng.normal(size=(V, D))
        dout = rng.normal(size=(N, T, D))
        with case("word_embedding", f"N={N}, T={T}, V={V}, D={D}, against the reference"):
            out, cache = _parts(st.word_embedding_forward(x, W), 2, "word_embedding_forward")
            exp_out, exp_cache = ref.word_embedding_forward(x, W)
            expect_close(out, exp_out, "out")
            expect_close(st.word_embedding_backward(dout, cache),
                         ref.word_embedding_backward(dout, exp_cache), "dW", **GRAD)


@tests.test("test_temporal_affine", isolated=True)
def _(st, ref):
    rng = np.random.default_rng(13)
    x, w, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 5)), rng.normal(size=5)
    cache = None
    with case("temporal_affine_forward", "x (2, 3, 4), w (4, 5): each step is x[:, t] @ w + b"):
        out, cache = _parts(st.temporal_affine_forward(x, w, b), 2, "temporal_affine_forward")
        expect_shape(out, (2, 3, 5), "out")
        for t in range(3):
            expect_close(out[:, t], x[:, t] @ w + b, f"out[:, {t}]")
    dout = rng.normal(size=(2, 3, 5))
    with case("temporal_affine_backward", "x (2, 3, 4), w (4, 5): gradients",
              uses=("temporal_affine_forward",)):
        if cache is None:
            cache = _parts(st.temporal_affine_forward(x, w, b), 2, "temporal_affine_forward")[1]
        got = _parts(st.temporal_affine_backward(dout, cache), 3, "temporal_affine_backward")
        _close_parts(got, ref.temporal_affine_backward(dout, ref.temporal_affine_forward(x, w, b)[1]),
                     ("dx", "dw", "db"), GRAD)
    rng = np.random.default_rng(506)
    for N, T, D, M in ((4, 7, 3, 6), (1, 1, 1, 1), (3, 2, 8, 2)):
        arrs = [rng.normal(size=s) for s in ((N, T, D), (D, M), (M,))]
        dout = rng.normal(size=(N, T, M))
        with case("temporal_affine", f"N={N}, T={T}, D={D}, M={M}, against the reference"):
            out, cache = _parts(st.temporal_affine_forward(*arrs), 2, "temporal_affine_forward")
            exp_out, exp_cache = ref.temporal_affine_forward(*arrs)
            expect_close(out, exp_out, "out", **TIGHT)
            got = _parts(st.temporal_affine_backward(dout, cache), 3, "temporal_affine_backward")
            _close_parts(got, ref.temporal_affine_backward(dout, exp_cache), ("dx", "dw", "db"), TIGHT)


@tests.test("test_temporal_softmax_loss", isolated=True)
def _(st, ref):
    f = st.temporal_softmax_loss
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 0, 0]], dtype=bool)  # 7 real words
    y = np.array([[1, 2, 3, 0], [4, 0, 0, 0], [2, 2, 0, 0]])
    with case("temporal_softmax_loss", "N=3, T=4, V=5, all scores 0: loss = 7 ln(5) / 3"):
        loss, dx = _parts(f(np.zeros((3, 4, 5)), y, mask), 2, "temporal_softmax_loss")
        expect_close(loss, 7 * np.log(5) / 3, "loss")
        expect_shape(dx, (3, 4, 5), "dx")
        expect_close(dx[0, 3], np.zeros(5), "dx at a masked position")
        expect_close(dx[0, 0], np.array([0.2, 0.2 - 1, 0.2, 0.2, 0.2]) / 3, "dx[0, 0]")
    x = np.random.default_rng(14).normal(size=(3, 4, 5))
    with case("temporal_softmax_loss", "random scores with the same mask: gradient"):
        loss, dx = _parts(f(x, y, mask), 2, "temporal_softmax_loss")
        exp_loss, exp_dx = ref.temporal_softmax_loss(x, y, mask)
        try:
            expect_close(dx, exp_dx, "dx", rtol=1e-8, atol=1e-12)
        except CheckFailed as e:
            try:
                expect_close(loss, exp_loss, "loss", rtol=1e-9)
                note = ""
            except CheckFailed:
                note = (" (the loss is wrong too on this case: make the loss right first, then the gradient "
                        "of that loss)")
            raise _noted(e, note) from None
    rng = np.random.default_rng(507)
    for N, T, V in ((5, 7, 11), (1, 1, 2), (4, 3, 30)):
        x, y = 3 * rng.normal(size=(N, T, V)), rng.integers(0, V, size=(N, T))
        mask = rng.random((N, T)) > 0.3
        with case("temporal_softmax_loss", f"N={N}, T={T}, V={V}, random mask, against the reference"):
            loss, dx = _parts(f(x, y, mask), 2, "temporal_softmax_loss")
            exp_loss, exp_dx = ref.temporal_softmax_loss(x, y, mask)
            expect_close(loss, exp_loss, "loss", rtol=1e-9)
            expect_close(dx, exp_dx, "dx", rtol=1e-8, atol=1e-12)
    x = 1000.0 + rng.normal(size=(2, 3, 4))
    y, mask = rng.integers(0, 4, size=(2, 3)), np.ones((2, 3), dtype=bool)
    with case("temporal_softmax_loss", "scores around 1000: no overflow"):
        loss, dx = _parts(f(x, y, mask), 2, "temporal_softmax_loss")
        s = x - x.max(axis=2, keepdims=True)  # the cross-entropy, closed form
        logp = s - np.log(np.exp(s).sum(axis=2, keepdims=True))
        expect_close(loss, -np.take_along_axis(logp, y[..., None], axis=2).sum() / 2, "loss", rtol=1e-9)
        expect_close(np.sum(dx), 0.0, "the sum of dx", atol=1e-9)
    x = rng.normal(size=(2, 3, 4))
    with case("temporal_softmax_loss", "everything masked: loss 0 and dx 0"):
        loss, dx = _parts(f(x, np.zeros((2, 3), dtype=int), np.zeros((2, 3), dtype=bool)), 2,
                          "temporal_softmax_loss")
        expect_close(loss, 0.0, "loss")
        expect_close(dx, np.zeros((2, 3, 4)), "dx")


# ------------------------------------------------------------------------------------------
# Part 3: the LSTM
# ------------------------------------------------------------------------------------------
def _no_overflow(st, name, *args):
    """st's name(*args) with numpy overflow raised in the sandbox; an overflow is a CheckFailed."""
    try:
        return st.probe("without_overflow", name, *args)
    except StudentError as e:
        if e.is_a("FloatingPointError"):
            raise CheckFailed(f"{name} overflows ({e.message}): np.exp of a large number; for a < 0 use "
                              "exp(a) / (1 + exp(a))") from None
        raise


@tests.test("test_lstm_step_forward", isolated=True)
def _(st, ref):
    f = st.lstm_step_forward
    N, D, H = 2, 3, 2
    x, h = np.ones((N, D)), np.array([[0.5, -1.0], [2.0, 0.0]])
    c = np.array([[1.0, -2.0], [0.4, 3.0]])
    zeros = (np.zeros((D, 4 * H)), np.zeros((H, 4 * H)))
    with case("lstm_step_forward", "all weights 0: every gate is 1/2 and g = 0", uses=("sigmoid",)):
        nh, nc, _ = _parts(f(x, h, c, *zeros, np.zeros(4 * H)), 3, "lstm_step_forward")
        expect_shape(nh, (N, H), "next_h")
        expect_shape(nc, (N, H), "next_c")
        expect_close(nc, 0.5 * c, "next_c (f * prev_c with f = 1/2, i * g = 0)")
        expect_close(nh, 0.5 * np.tanh(0.5 * c), "next_h")
    with case("lstm_step_forward",
              "gate order i, f, o, g: biases (+20, -20, +20, 0.3) open i and o, close f",
              uses=("sigmoid",)):
        b = np.repeat([20.0, -20.0, 20.0, 0.3], H)  # [b_i | b_f | b_o | b_g]
        nh, nc, _ = _parts(f(x, h, c, *zeros, b), 3, "lstm_step_forward")
        expect_close(nc, np.full((N, H), np.tanh(0.3)), "next_c (forgets prev_c, writes g = tanh(0.3))")
        expect_close(nh, np.full((N, H), np.tanh(np.tanh(0.3))), "next_h")
    with case("sigmoid", "x = [-1000, 0, 1000]: no overflow"):
        expect_close(_no_overflow(st, "sigmoid", np.array([-1000.0, 0.0, 1000.0])), [0.0, 0.5, 1.0],
                     "sigmoid")
    rng = np.random.default_rng(508)
    for N, D, H in ((3, 4, 5), (1, 1, 1), (6, 2, 8)):
        x, h, c = rng.normal(size=(N, D)), rng.normal(size=(N, H)), rng.normal(size=(N, H))
        Wx, Wh, b = rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)
        with case("lstm_step_forward", f"N={N}, D={D}, H={H}, against the reference", uses=("sigmoid",)):
            got = _parts(f(x, h, c, Wx, Wh, b), 3, "lstm_step_forward")
            _close_parts(got[:2], ref.lstm_step_forward(x, h, c, Wx, Wh, b)[:2], ("next_h", "next_c"), TIGHT)
    with case("lstm_step_forward", "pre-activations of -1000 and +1000: finite", uses=("sigmoid",)):
        got = _no_overflow(st, "lstm_step_forward", np.ones((1, 1)), np.zeros((1, 2)), np.ones((1, 2)),
                           np.repeat([-1000.0, 1000.0, -1000.0, 1000.0], 2)[None], np.zeros((2, 8)),
                           np.zeros(8))
        nh, nc, _ = _parts(got, 3, "lstm_step_forward")
        expect_close(nc, [[1.0, 1.0]], "next_c (i = 0, f = 1)")
        expect_close(nh, [[0.0, 0.0]], "next_h (o = 0)")


@tests.test("test_lstm_step_backward", isolated=True)
def _(st, ref):
    names = ("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db")
    rng = np.random.default_rng(15)
    N, D, H = 3, 4, 5
    args = [rng.normal(size=(N, D)), rng.normal(size=(N, H)), rng.normal(size=(N, H)),
            rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)]
    dnh, dnc = rng.normal(size=(N, H)), rng.normal(size=(N, H))
    with case("lstm_step_backward", "N=3, D=4, H=5: gradients", uses=_STEP["lstm"]):
        _step_backward_case(st, ref, "lstm", args, (dnh, dnc), names)
    rng = np.random.default_rng(509)
    for N, D, H in ((4, 3, 6), (1, 2, 1), (5, 7, 3)):
        arrs = [rng.normal(size=s) for s in ((N, D), (N, H), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,))]
        dnh, dnc = rng.normal(size=(N, H)), rng.normal(size=(N, H))
        with case("lstm_step_backward", f"N={N}, D={D}, H={H}, against the reference", uses=_STEP["lstm"]):
            _step_backward_case(st, ref, "lstm", arrs, (dnh, dnc), names)


@tests.test("test_lstm_forward", isolated=True)
def _(st, ref):
    rng = np.random.default_rng(16)
    N, T, D, H = 2, 3, 4, 5
    x, h0 = rng.normal(size=(N, T, D)), rng.normal(size=(N, H))
    Wx, Wh, b = rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)
    with case("lstm_forward", "N=2, T=3, D=4, H=5: the same as three calls of lstm_step_forward",
              uses=_STEP["lstm"]):
        _sequence_forward_case(st, ref, "lstm", (x, h0, Wx, Wh, b), ["lstm_step_forward"])
    rng = np.random.default_rng(510)
    for N, T, D, H in ((3, 6, 4, 5), (1, 1, 2, 3), (4, 15, 3, 2)):
        x, h0 = rng.normal(size=(N, T, D)), rng.normal(size=(N, H))
        Wx, Wh, b = rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)
        with case("lstm_forward", f"N={N}, T={T}, D={D}, H={H}, against the reference", uses=_STEP["lstm"]):
            _sequence_forward_case(st, ref, "lstm", (x, h0, Wx, Wh, b), ["lstm_step_forward"])


@tests.test("test_lstm_backward", isolated=True)
def _(st, ref):
    rng = np.random.default_rng(17)
    N, T, D, H = 2, 3, 4, 3
    args = [rng.normal(size=(N, T, D)), rng.normal(size=(N, H)), rng.normal(size=(D, 4 * H)),
            rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)]
    dh = rng.normal(size=(N, T, H))
    with case("lstm_backward", "N=2, T=3, D=4, H=3: gradients", uses=_backward_uses("lstm")):
        _sequence_backward_case(st, ref, "lstm", args, dh)
    rng = np.random.default_rng(511)
    for N, T, D, H in ((3, 7, 4, 5), (1, 1, 2, 3), (5, 14, 3, 2)):
        x, h0 = rng.normal(size=(N, T, D)), rng.normal(size=(N, H))
        Wx, Wh, b = rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)
        dh = rng.normal(size=(N, T, H))
        with case("lstm_backward", f"N={N}, T={T}, D={D}, H={H}, against the reference",
                  uses=_backward_uses("lstm")):
            _sequence_backward_case(st, ref, "lstm", (x, h0, Wx, Wh, b), dh)
    args = [rng.normal(size=(1, 6, 2)), rng.normal(size=(1, 2)), rng.normal(size=(2, 8)),
            rng.normal(size=(2, 8)), rng.normal(size=8)]
    dh = rng.normal(size=(1, 6, 2))
    with case("lstm_backward", "N=1, T=6, D=2, H=2: gradients", uses=_backward_uses("lstm")):
        _sequence_backward_case(st, ref, "lstm", args, dh)


# ------------------------------------------------------------------------------------------
# Part 4: the captioning model
# ------------------------------------------------------------------------------------------
TINY_WORDS = {"<NULL>": 0, "<START>": 1, "<END>": 2, "<UNK>": 3, "red": 4, "circle": 5, "square": 6}
TINY_CAPTIONS = np.array([[1, 4, 5, 2, 0], [1, 6, 2, 0, 0], [1, 4, 6, 5, 2]])  # <START> ... <END> <NULL>
TINY_FEATURES = np.random.default_rng(18).normal(size=(3, 4))
TINY = (4, 3, 5)  # D, W, H of the tiny models


def _param_shapes(cell_type, V=7, D=4, W=3, H=5):
    g = 4 if cell_type == "lstm" else 1
    return {"W_proj": (D, H), "b_proj": (H,), "W_embed": (V, W), "Wx": (W, g * H), "Wh": (H, g * H),
            "b": (g * H,), "W_vocab": (H, V), "b_vocab": (V,)}


def _random_params(cell_type, rng, scale, **sizes):
    """scale * normal draws for every parameter, in the order of the table (and of the reference)."""
    return {k: scale * rng.normal(size=s) for k, s in _param_shapes(cell_type, **sizes).items()}


def _models(st, ref, cell_type, params, words=TINY_WORDS, sizes=TINY, seed=0):
    """The student's and the reference's CaptioningRNN (float64), holding the same params."""
    return (st.probe("make_model", words, cell_type, *sizes, "float64", seed, params),
            ref.probe("make_model", words, cell_type, *sizes, "float64", seed, params))


def _check_loss(st, ref, cell_type, m, r, features, captions, what):
    """st's model.loss against the reference's: the loss, then every gradient."""
    loss, grads = _parts(m.loss(features, captions), 2, f"CaptioningRNN.loss ({cell_type})")
    exp_loss, exp_grads = r.loss(features, captions)
    try:
        expect_close(loss, exp_loss, "loss", rtol=1e-8)
    except CheckFailed as e:
        raise _noted(e, _uses_note(st, ref, _layers(cell_type), what)) from None
    if not isinstance(grads, dict):
        raise CheckFailed(f"grads should be a dict, got {type(grads).__name__}")
    for k in exp_grads:
        if k not in grads:
            raise CheckFailed(f'grads has no "{k}"; its keys are {sorted(grads)}')
        try:
            expect_close(grads[k], exp_grads[k], f'grads["{k}"]', rtol=1e-7, atol=1e-10)
        except CheckFailed as e:
            raise _noted(e, _uses_note(st, ref, _layers(cell_type), what)) from None


def _captioning_loss(st, ref, cell_type):
    what = f"CaptioningRNN.loss ({cell_type})"
    with case(what, "parameters, uniform scores, gradients", uses=_loss_uses(cell_type)):
        m = st.probe("make_model", TINY_WORDS, cell_type, *TINY, "float64", 0)
        params = m.params.get()
        shapes = _param_shapes(cell_type)
        if not isinstance(params, dict) or set(params) != set(shapes):
            got = sorted(params) if isinstance(params, dict) else type(params).__name__
            raise CheckFailed(f"params should have the keys {sorted(shapes)}, got {got}")
        for k, s in shapes.items():
            expect_shape(params[k], s, f'params["{k}"]')
        # With W_vocab = 0 and b_vocab = 0 every word scores the same: each of the 3 + 2 + 4 = 9 real
        # target words (<END> included, <NULL> not) costs ln(7), and the loss averages over 3 captions.
        m = st.probe("make_model", TINY_WORDS, cell_type, *TINY, "float64", 0,
                     {"W_vocab": np.zeros((5, 7)), "b_vocab": np.zeros(7)})
        loss, _ = _parts(m.loss(TINY_FEATURES, TINY_CAPTIONS), 2, what)
        try:
            expect_close(loss, 9 * np.log(7) / 3,
                         "the loss with uniform word scores (9 target words, 3 captions)")
        except CheckFailed as e:
            raise _noted(e, _uses_note(st, ref, ["temporal_softmax_loss"], what)) from None
        params = _random_params(cell_type, np.random.default_rng(1), 0.5)  # every gradient far from zero
        m, r = _models(st, ref, cell_type, params)
        _check_loss(st, ref, cell_type, m, r, TINY_FEATURES, TINY_CAPTIONS, what)
    rng = np.random.default_rng(512 if cell_type == "rnn" else 513)
    words = {"<NULL>": 0, "<START>": 1, "<END>": 2, **{f"w{i}": i + 3 for i in range(9)}}
    params = _random_params(cell_type, rng, 0.5, V=12, D=6, W=4, H=7)
    caps = np.zeros((5, 9), dtype=np.int64)
    for n, length in enumerate((7, 3, 1, 5, 6)):  # words between <START> and <END>
        caps[n, 0], caps[n, 1:length + 1], caps[n, length + 1] = 1, rng.integers(3, 12, size=length), 2
    feats = rng.normal(size=(5, 6))
    with case(what, "5 captions of 1 to 7 words, against the reference", uses=_loss_uses(cell_type)):
        m, r = _models(st, ref, cell_type, params, words, (6, 4, 7))
        _check_loss(st, ref, cell_type, m, r, feats, caps, what)


@tests.test("test_captioning_loss_rnn", isolated=True)
def _(st, ref):
    _captioning_loss(st, ref, "rnn")
    with case("CaptioningRNN", 'cell_type="gru" is a ValueError'):
        expect_raises("ValueError", lambda: st.probe("make_model", TINY_WORDS, "gru", *TINY, "float64", 0),
                      'CaptioningRNN(..., cell_type="gru")')


@tests.test("test_captioning_loss_lstm", isolated=True)
def _(st, ref):
    _captioning_loss(st, ref, "lstm")


def _sampling_params(cell_type, seed, end_bias=1.0):
    """The notebook's sampling_model: large random weights, captions that end at different steps."""
    params = _random_params(cell_type, np.random.default_rng(seed), 1.5)
    params["b_vocab"][[0, 1, 3]] = -20.0  # never <NULL>, <START> or <UNK>
    params["b_vocab"][2] = end_bias  # <END> is likely
    return params


def _check_captions(caps, shape):
    caps = as_array(caps, "captions")
    expect_shape(caps, shape, "captions")
    if not np.issubdtype(caps.dtype, np.integer):
        raise CheckFailed(f"captions should hold integer ids, got dtype {caps.dtype}")
    return caps


@tests.test("test_captioning_sample", isolated=True)
def _(st, ref):
    what = "CaptioningRNN.sample"
    for cell in ("rnn", "lstm"):
        with case(what, f'cell_type="{cell}", 6 images, max_length=7', uses=_STEP[cell]):
            m, r = _models(st, ref, cell, _sampling_params(cell, 3), seed=3)
            feats = np.random.default_rng(19).normal(size=(6, 4))
            caps = _check_captions(m.sample(feats, max_length=7), (6, 7))
            for n, row in enumerate(caps):
                ends = np.flatnonzero(row == 2)
                if len(ends) and np.any(row[ends[0] + 1:] != 0):
                    raise CheckFailed(f"caption {n} is {row}: after its first <END> (2) it should hold only "
                                      "<NULL> (0)")
            expected = r.sample(feats, max_length=7)
            try:
                # The first word is the best-scored word after <START>, from h0 = features W_proj + b_proj.
                expect_equal(caps[:, 0], expected[:, 0], "captions[:, 0]")
                expect_equal(caps, expected, "captions")
            except CheckFailed as e:
                raise _noted(e, _uses_note(st, ref, [f"{cell}_step_forward"], what)) from None
    for cell in ("rnn", "lstm"):
        for seed in (4, 5, 6):
            with case(what, f'cell_type="{cell}", seed {seed}, against the reference', uses=_STEP[cell]):
                m, r = _models(st, ref, cell, _sampling_params(cell, seed), seed=seed)
                feats = np.random.default_rng(seed + 100).normal(size=(9, 4))
                try:
                    expect_equal(m.sample(feats, max_length=8), r.sample(feats, max_length=8), "captions")
                except CheckFailed as e:
                    raise _noted(e, _uses_note(st, ref, [f"{cell}_step_forward"], what)) from None


# ------------------------------------------------------------------------------------------
# Memorising 50 captions, and the trained captioners (in the notebook's kernel)
# ------------------------------------------------------------------------------------------
# The trained captioners are scored on 300 scenes drawn here from a seed that only the grader knows
# (this file is never released nor mounted): their features are sent, their reference captions stay
# here, so a notebook that knows the public test scenes' captions gains nothing.
SECRET_SEED = 582_317


@functools.lru_cache(maxsize=1)
def _data():
    """The notebook's data, made here as the notebook makes it: the vocabulary, the 50 captions
    to memorise with their images' features; and 300 held-out scenes (SECRET_SEED) with their
    features and reference captions."""
    from dlcv.captioning.captions import make_caption_data
    from dlcv.captioning.encoders import encode_scenes

    train = make_caption_data(2000, seed=0)
    test = make_caption_data(300, seed=SECRET_SEED, vocab=train.vocab, per_image=10)
    small_index = np.arange(50) * 5  # the notebook's small_index
    small_image = train.image_index[small_index]
    return dict(vocab=train.vocab, small_tokens=train.tokens[small_index],
                small_features=encode_scenes(train.scenes.subset(small_image)).vectors,
                test_features=encode_scenes(test.scenes).vectors, test_refs=test.captions)


OVERFIT_TARGET = 0.1


def _overfit(st, ref, cell_type):
    d = _data()
    what = f"CaptioningRNN ({cell_type}) trained by train_captioner"
    with case(what, "memorising 50 captions", uses=("CaptioningRNN.loss", *_loss_uses(cell_type))):
        words = dict(d["vocab"].word_to_idx)
        given = SOURCE.cell("given_training")  # the notebook's given loop, run afresh in the sandbox
        params, _ = _parts(st.probe("overfit", given, cell_type, words, d["small_features"],
                                    d["small_tokens"], np.arange(50)), 2, "the training run")
        shapes = _param_shapes(cell_type, V=len(words), D=d["small_features"].shape[1], W=64, H=128)
        if not isinstance(params, dict) or set(params) != set(shapes):
            got = sorted(params) if isinstance(params, dict) else type(params).__name__
            raise CheckFailed(f"params should have the keys {sorted(shapes)}, got {got}")
        for k, s in shapes.items():
            expect_shape(as_array(params[k], f'params["{k}"]'), s, f'params["{k}"]')
        # The loss of the trained weights, computed here by the reference model.
        loss = float(ref.probe("model_loss", words, cell_type, shapes["W_proj"][0], 64, 128, "float32",
                               params, d["small_features"], d["small_tokens"]))
        if not loss < OVERFIT_TARGET:
            note = _uses_note(st, ref, _layers(cell_type), "CaptioningRNN.loss")
            raise CheckFailed(f"the loss on the 50 captions is {loss:.4f} after training; it should be below "
                              f"{OVERFIT_TARGET}{note}")


@tests.test("test_overfit_rnn")
def _(st, ref):
    _overfit(st, ref, "rnn")


@tests.test("test_overfit_lstm")
def _(st, ref):
    _overfit(st, ref, "lstm")


def _bleu_reference(cands, refs, n=4):
    """An independent corpus BLEU: Counter intersections for clipping, lengths by sorting."""
    num, den = [0] * n, [0] * n
    c_total = r_total = 0
    for cand, rs in zip(cands, refs, strict=True):
        cw, rws = cand.split(), [r.split() for r in rs]
        c_total += len(cw)
        r_total += len(sorted(rws, key=lambda r: (abs(len(r) - len(cw)), len(r)))[0])
        for k in range(n):
            grams = Counter(zip(*[cw[j:] for j in range(k + 1)], strict=False))
            most = Counter()
            for r in rws:
                most |= Counter(zip(*[r[j:] for j in range(k + 1)], strict=False))
            num[k] += sum((grams & most).values())
            den[k] += sum(grams.values())
    if c_total == 0:
        return 0.0
    logs = [math.log((num[k] or 0.1) / (den[k] or 1)) for k in range(n)]
    return (1.0 if c_total > r_total else math.exp(1 - r_total / c_total)) * math.exp(sum(logs) / n)


def _why_no_model(st, cell_type):
    """The model is None: find the function that stopped the training cell (its error is the verdict)."""
    m = st.probe("make_model", TINY_WORDS, cell_type, *TINY, "float64", 0)
    m.loss(TINY_FEATURES, TINY_CAPTIONS)
    m.sample(TINY_FEATURES, 3)
    st.bleu(["a red circle"], [["a red circle"]])
    raise CheckFailed(f"the {cell_type} model is None: run the training cell above to its end (Run > Run All "
                      "Above), then this test again.")


def _trained_captioner(st, name, cell_type, target):
    d = _data()
    with case(f"CaptioningRNN ({cell_type}) trained on the shapes captions", "BLEU-4 on 300 held-out scenes",
              uses=("CaptioningRNN.loss", "CaptioningRNN.sample", *_loss_uses(cell_type))):
        model = st[name].get()
        if model is None:
            _why_no_model(st, cell_type)
        if not isinstance(model, RemoteObject):
            raise CheckFailed(f"{name} should be a CaptioningRNN, got {type(model).__name__}")
        got_type = model.cell_type.get()
        if got_type != cell_type:
            raise CheckFailed(f"the model's cell_type is {got_type!r}, expected {cell_type!r}")
        feats = d["test_features"]

        def captions(x):
            caps = as_array(model.sample(x), "captions")
            if caps.ndim != 2 or caps.shape[0] != len(x) or not np.issubdtype(caps.dtype, np.integer):
                raise CheckFailed(f"{name}.sample should return ({len(x)}, max_length) integer ids, got "
                                  f"shape {caps.shape} of dtype {caps.dtype}")
            return [d["vocab"].decode(row) for row in caps]

        score = _bleu_reference(captions(feats), d["test_refs"])  # scored here, with the references held here
        without = _bleu_reference(captions(np.zeros_like(feats)), d["test_refs"])
        expect_at_least(score, target, f"the BLEU-4 of the {cell_type} captioner on the test scenes")
        expect_at_least(score - without, 0.15,
                        "how much the image adds (BLEU-4 minus that of the language-only model)")


@tests.test("test_lstm_bleu")
def _(st, ref):
    _trained_captioner(st, "lstm_model", "lstm", 0.5)


@tests.test("test_rnn_bleu")
def _(st, ref):
    _trained_captioner(st, "rnn_model", "rnn", 0.5)


# ------------------------------------------------------------------------------------------
# Part 5: BLEU
# ------------------------------------------------------------------------------------------
@tests.test("test_bleu", isolated=True)
def _(st, ref):
    f = st.bleu
    with case("bleu", "a candidate equal to one of its references"):
        expect_close(f(["a large red circle left of a small blue square"],
                       [["two circles", "a large red circle left of a small blue square"]]), 1.0, "BLEU-4")
    with case("bleu", "clipping: 'the the the the the the the' (Papineni et al.'s example), BLEU-1"):
        # 'the' occurs at most twice in one reference: p1 = 2/7; the second reference has 7 words, as
        # many as the candidate, so there is no brevity penalty.
        expect_close(f(["the the the the the the the"],
                       [["the cat is on the mat", "there is a cat on the mat"]], n=1), 2 / 7, "BLEU-1")
    with case("bleu", "'a red circle' against 'a red circle left of a square': brevity and smoothing"):
        # p1 = p2 = p3 = 1; no 4-gram: p4 = 0.1 / 1; C = 3 <= R = 7: BP = exp(1 - 7/3).
        expect_close(f(["a red circle"], [["a red circle left of a square"]]),
                     math.exp(1 - 7 / 3) * 0.1 ** 0.25, "BLEU-4")
    with case("bleu", "corpus level: the counts of two candidates are added before dividing"):
        # 1-grams: 3 of 3 and 2 of 4 words match: p1 = 5/7 (the mean of the two sentences'
        # precisions would be 0.75); C = 7 = R: BP = 1.
        expect_close(f(["a red circle", "two big green squares"],
                       [["a red circle"], ["two squares and more"]], n=1), 5 / 7, "BLEU-1")
    rng = np.random.default_rng(514)
    words = "a red green circle square left of above the two and".split()

    def sent():
        return " ".join(rng.choice(words, size=rng.integers(1, 10)))

    for trial in range(6):
        cands = [sent() for _ in range(40)]
        refs = [[sent() for _ in range(rng.integers(1, 6))] for _ in range(40)]
        n = (1, 2, 3, 4, 4, 4)[trial]
        with case("bleu", f"random corpus {trial} of 40 candidates, against a reference"):
            expect_close(f(cands, refs, n=n), _bleu_reference(cands, refs, n), f"BLEU-{n}", rtol=1e-10)
    with case("bleu", "nothing matches: smoothed, not zero, not an error"):
        expect_close(f(["x y z w v"], [["a b c d e"]]), 0.1 / 120 ** 0.25, "BLEU-4 (p_n = 0.1 / (6 - n))")
    with case("bleu", "an empty candidate corpus"):
        expect_close(f([""], [["a red circle"]]), 0.0, "BLEU-4")
    with case("bleu", "a tie between two reference lengths counts the shorter one"):
        # candidate of 4 words, references of 3 and 5 words: R = 3 < C = 4, no penalty.
        expect_close(f(["a b c d"], [["a b c", "a b c d e"]], n=1), 1.0, "BLEU-1")
    with case("bleu", "the brevity penalty uses the closest reference, not the longest"):
        expect_close(f(["a b c"], [["a b c d e f g h", "a b c d"]], n=1), math.exp(1 - 4 / 3), "BLEU-1")


# ------------------------------------------------------------------------------------------
# Part 7: beam search
# ------------------------------------------------------------------------------------------
def _step(p, cell_type, word, h, c):
    """One step of the captioner from word `word`, for parameters p (a dict of arrays): (h, c, log p)."""
    a = p["W_embed"][word] @ p["Wx"] + h @ p["Wh"] + p["b"]
    if cell_type == "rnn":
        h, c = np.tanh(a), c
    else:
        H = len(h)
        sg = lambda z: 1 / (1 + np.exp(-z))
        c = sg(a[H:2 * H]) * c + sg(a[:H]) * np.tanh(a[3 * H:])
        h = sg(a[2 * H:3 * H]) * np.tanh(c)
    s = h @ p["W_vocab"] + p["b_vocab"]
    return h, c, s - s.max() - np.log(np.exp(s - s.max()).sum())


def _caption_log_prob(p, cell_type, feature, words):
    """log p(words | image) of one caption (a list of ids, <END> included if it ended)."""
    h = feature @ p["W_proj"] + p["b_proj"]
    c, total, prev = np.zeros_like(h), 0.0, 1
    for w in words:
        h, c, logp = _step(p, cell_type, prev, h, c)
        total += logp[w]
        prev = w
    return total


def _best_by_enumeration(p, cell_type, feature, max_length, length_normalize):
    """The best caption over ALL captions of up to max_length words (tiny vocabularies only)."""
    words = list(range(2, len(p["b_vocab"])))  # every word but <NULL> and <START>
    best, best_score, frontier = None, -np.inf, [[]]
    for t in range(max_length):
        frontier = [seq + [w] for seq in frontier for w in words]
        for seq in frontier:
            if seq[-1] == 2 or t == max_length - 1:
                score = _caption_log_prob(p, cell_type, feature, seq)
                score = score / len(seq) if length_normalize else score
                if score > best_score:
                    best, best_score = seq, score
        frontier = [seq for seq in frontier if seq[-1] != 2]
    return best


def _reference_beam(p, cell_type, feats, k, max_length, length_normalize):
    """The beam search of the text, written independently (lists of hypotheses)."""
    out = np.zeros((len(feats), max_length), dtype=np.int64)
    for n, feat in enumerate(feats):
        h0 = feat @ p["W_proj"] + p["b_proj"]
        beams = [([], 0.0, h0, np.zeros_like(h0), False)]
        for _ in range(max_length):
            cands = []
            for words, score, h, c, done in beams:
                if done:
                    cands.append((words, score, h, c, True))
                    continue
                h2, c2, logp = _step(p, cell_type, words[-1] if words else 1, h, c)
                for w in range(len(logp)):
                    cands.append((words + [w], score + logp[w], h2, c2, w == 2))
            cands.sort(key=lambda b: -b[1])
            beams = cands[:k]
            if all(b[4] for b in beams):
                break
        rank = (lambda b: b[1] / len(b[0])) if length_normalize else (lambda b: b[1])
        best = max(beams, key=rank)[0]
        out[n, :len(best)] = best
    return out


@tests.test("test_beam_search", isolated=True)
def _(st, ref):
    what = "beam_search"
    for cell in ("rnn", "lstm"):
        with case(what, f'cell_type="{cell}", beam_width=1 gives the greedy captions', uses=_STEP[cell]):
            m, r = _models(st, ref, cell, _sampling_params(cell, 7), seed=7)
            feats = np.random.default_rng(20).normal(size=(5, 4))
            got = _check_captions(st.beam_search(m, feats, beam_width=1, max_length=6), (5, 6))
            try:
                expect_equal(got, r.sample(feats, max_length=6),
                             "beam_search(beam_width=1) against greedy sampling")
            except CheckFailed as e:
                raise _noted(e, _uses_note(st, ref, [f"{cell}_step_forward"], what)) from None
        for norm in (False, True):
            with case(what, f'cell_type="{cell}", a beam wider than all captions of 3 words finds the best '
                            f'one (length_normalize={norm})', uses=_STEP[cell]):
                params = _sampling_params(cell, 8, end_bias=0.0)
                m = st.probe("make_model", TINY_WORDS, cell, *TINY, "float64", 8, params)
                feats = np.random.default_rng(21).normal(size=(3, 4))
                got = _check_captions(st.beam_search(m, feats, beam_width=200, max_length=3,
                                                     length_normalize=norm), (3, 3))
                for n in range(3):
                    best = _best_by_enumeration(params, cell, feats[n], 3, norm)
                    if [int(w) for w in got[n]] != best + [0] * (3 - len(best)):  # <NULL> after <END>
                        note = _uses_note(st, ref, [f"{cell}_step_forward"], what)
                        raise CheckFailed(
                            f"image {n}: the best caption is {best} (log-prob "
                            f"{_caption_log_prob(params, cell, feats[n], best):.4f}), beam_search returned "
                            f"{[int(w) for w in got[n]]}{note}")
    for cell in ("rnn", "lstm"):
        for k, norm, seed in ((2, True, 30), (3, False, 31), (4, True, 32), (5, False, 33)):
            with case(what, f'cell_type="{cell}", beam_width={k}, length_normalize={norm}, '
                            "against a reference", uses=_STEP[cell]):
                params = _sampling_params(cell, seed, end_bias=0.5)
                m = st.probe("make_model", TINY_WORDS, cell, *TINY, "float64", seed, params)
                feats = np.random.default_rng(seed).normal(size=(6, 4))
                got = st.beam_search(m, feats, beam_width=k, max_length=7, length_normalize=norm)
                try:
                    expect_equal(got, _reference_beam(params, cell, feats, k, 7, norm), "captions")
                except CheckFailed as e:
                    raise _noted(e, _uses_note(st, ref, [f"{cell}_step_forward"], what)) from None
