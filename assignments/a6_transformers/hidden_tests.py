"""Hidden tests of assignment 6 (trusted: run by the grader, never in the student's kernel).

Every test repeats the visible cases of its cell and adds hidden ones. Inputs are made here;
`st` calls the student's code in the sandbox, `ref` the source notebook's solutions here; every
comparison happens here.

- Part 1 (attention, multi-head attention, positions in numpy) is an isolated part: only its
  answer cells run, in a fresh kernel without torch, scipy or scikit-learn. Outputs are checked
  against formulas written here and against the reference, gradients against the reference's and
  against numeric gradients of the formulas written here.
- The captioner's class is built in the sandbox from a seed (probes/a6_transformers.py) and
  checked for what holds with any weights: shapes, causality, attention rows, greedy decoding
  against its own forward pass. The trained `captioner` captions 1000 scenes drawn here with a
  seed of the grader's own; BLEU-4 is computed here against the references held here.
- InfoNCE is checked against a formula written here, a hand case and the reference's autograd
  gradients; the student's linear_probe against scikit-learn's logistic regression; the trained
  `ssl_encoder` hands back features of the digits sent here, and the grader fits its own probe.
"""

from __future__ import annotations

import functools
import math
from collections import Counter

import numpy as np

from autograder.hidden import NUMPY_ONLY, HiddenTests, Isolated, as_array, case, expect_raises
from dlcv.checks import CheckFailed, expect_at_least, expect_close, expect_equal, expect_shape

NUMPY_CELLS = ["attention", "multi_head_attention", "positions"]

tests = HiddenTests(
    probes="a6_transformers",
    preamble=("import math\n\nimport numpy as np\nimport torch\nimport torch.nn.functional as F\n"
              "from torch import nn"),
    # the lectures' teaching versions (transformers.attention, .positions, .captioner, .blocks and
    # selfsupervised.infonce, .probe) are not mounted
    dlcv=["captioning.captioners", "captioning.captions", "captioning.encoders", "checks", "data",
          "gradcheck", "loop", "plots", "selfsupervised.augment", "selfsupervised.datasets",
          "selfsupervised.encoder", "shapes", "timing", "validate"],
    isolated=Isolated(cells=NUMPY_CELLS, blocked=NUMPY_ONLY, preamble="import math\n\nimport numpy as np"),
)

SETTINGS = SOURCE.value("SETTINGS")  # SOURCE: the source notebook (autograder.hidden.Spec)

TIGHT = dict(rtol=1e-9, atol=1e-12)  # forward passes, float64
GRAD = dict(rtol=1e-7, atol=1e-10)  # analytic gradients against the reference's
NUMERIC = dict(rtol=1e-5, atol=1e-7)  # analytic gradients against numeric ones


def _parts(got, n: int, what: str):
    """A reply that must be a tuple (or list) of n values."""
    if not isinstance(got, (tuple, list)) or len(got) != n:
        size = f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
        raise CheckFailed(f"{what} should return a tuple of {n} values, got {type(got).__name__}{size}")
    return got


def _raises(kind: str, call, what: str) -> None:
    """expect_raises, except that a function not written yet says so (not "raised
    NotImplementedError instead of ValueError")."""
    try:
        expect_raises(kind, call, what)
    except CheckFailed as e:
        if "raised NotImplementedError" in str(e):
            call()  # raises the StudentError again: "... is not implemented yet"
        raise


def _numeric_grad(f, x: np.ndarray, dout: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d sum(f() * dout) / d x by central differences (x changed in place and restored)."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = np.sum(f() * dout)
        x[i] = old - h
        minus = np.sum(f() * dout)
        x[i] = old
        g[i] = (plus - minus) / (2 * h)
    return g


# ------------------------------------------------------------------------------------------
# Part 1: attention, written out here
# ------------------------------------------------------------------------------------------
def _attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d), -inf where mask is False) v: (N, Tq, dv), and the weights."""
    s = q @ np.swapaxes(k, 1, 2) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(np.asarray(mask, bool), s, -np.inf)
    s = s - s.max(-1, keepdims=True)
    w = np.exp(s)
    w /= w.sum(-1, keepdims=True)
    return w @ v, w


def _mha(x, ctx, p, heads, mask=None):
    N, Tq, D = x.shape
    Tk, dh = ctx.shape[1], D // heads
    Q = (x @ p["Wq"] + p["bq"]).reshape(N, Tq, heads, dh).transpose(0, 2, 1, 3).reshape(N * heads, Tq, dh)
    K = (ctx @ p["Wk"] + p["bk"]).reshape(N, Tk, heads, dh).transpose(0, 2, 1, 3).reshape(N * heads, Tk, dh)
    V = (ctx @ p["Wv"] + p["bv"]).reshape(N, Tk, heads, dh).transpose(0, 2, 1, 3).reshape(N * heads, Tk, dh)
    out, _ = _attention(Q, K, V, mask)
    out = out.reshape(N, heads, Tq, dh).transpose(0, 2, 1, 3).reshape(N, Tq, D)
    return out @ p["Wo"] + p["bo"]


PARAM_NAMES = ("Wq", "Wk", "Wv", "Wo", "bq", "bk", "bv", "bo")


def _params(rng, D):
    p = {n: rng.normal(size=(D, D)) / math.sqrt(D) for n in ("Wq", "Wk", "Wv", "Wo")}
    p.update({n: 0.1 * rng.normal(size=D) for n in ("bq", "bk", "bv", "bo")})
    return p


def _random_mask(rng, Tq, Tk):
    """A random (Tq, Tk) bool mask with at least one True in every row."""
    m = rng.random((Tq, Tk)) < 0.6
    m[np.arange(Tq), rng.integers(0, Tk, Tq)] = True
    return m


def _qkv(rng, N, Tq, Tk, d, dv):
    return rng.normal(size=(N, Tq, d)), rng.normal(size=(N, Tk, d)), rng.normal(size=(N, Tk, dv))


def _attention_out(st, q, k, v, mask, what="attention_forward"):
    got = _parts(st.attention_forward(q, k, v, mask), 2, what)
    out = as_array(got[0], "out")
    expect_shape(out, (q.shape[0], q.shape[1], v.shape[2]), "out")
    return out, got[1]


@tests.test("test_attention_forward", isolated=True)
def _(st, ref):
    rng = np.random.default_rng(7001)
    with case("attention_forward", "queries of zeros: every key gets the same weight, out = the mean of v"):
        q, k, v = np.zeros((2, 3, 4)), rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 3))
        out, _ = _attention_out(st, q, k, v, None)
        expect_close(out, np.repeat(v.mean(1, keepdims=True), 3, axis=1), "out")
    with case("attention_forward", "one key: out = v, whatever the query"):
        q, k, v = rng.normal(size=(1, 4, 2)), rng.normal(size=(1, 1, 2)), rng.normal(size=(1, 1, 5))
        out, _ = _attention_out(st, q, k, v, None)
        expect_close(out, np.repeat(v, 4, axis=1), "out")
    with case("attention_forward",
              "d = 4, two keys, by hand: scores 2/sqrt(4) = 1 and 0, weights e/(e+1), 1/(e+1)"):
        q = np.array([[[1.0, 1.0, 1.0, 1.0]]])
        k = np.array([[[0.5, 0.5, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0]]])
        v = np.array([[[1.0, 0.0], [0.0, 1.0]]])
        out, _ = _attention_out(st, q, k, v, None)
        e = math.e
        expect_close(out, [[[e / (e + 1), 1 / (e + 1)]]], "out")
    for N, Tq, Tk, d, dv in ((2, 3, 5, 4, 3), (1, 1, 1, 1, 1), (3, 7, 2, 6, 5), (4, 5, 5, 8, 8)):
        q, k, v = _qkv(rng, N, Tq, Tk, d, dv)
        with case("attention_forward",
                  f"N={N}, Tq={Tq}, Tk={Tk}, d={d}, dv={dv}, no mask: against the formula and the reference"):
            out, _ = _attention_out(st, q, k, v, None)
            expect_close(out, _attention(q, k, v)[0], "out", **TIGHT)
            expect_close(out, ref.attention_forward(q, k, v, None)[0], "out", **TIGHT)
    for T in (1, 4, 6):
        q, k, v = _qkv(rng, 2, T, T, 4, 3)
        mask = np.tril(np.ones((T, T), bool))
        with case("attention_forward", f"a causal mask, T={T}: query t sees keys 0..t"):
            out, _ = _attention_out(st, q, k, v, mask)
            expect_close(out, _attention(q, k, v, mask)[0], "out", **TIGHT)
    for Tq, Tk in ((3, 5), (4, 2)):
        q, k, v = _qkv(rng, 2, Tq, Tk, 3, 4)
        mask = _random_mask(rng, Tq, Tk)
        with case("attention_forward", f"a random {Tq}x{Tk} mask: against the formula and the reference"):
            out, _ = _attention_out(st, q, k, v, mask)
            expect_close(out, _attention(q, k, v, mask)[0], "out", **TIGHT)
            expect_close(out, ref.attention_forward(q, k, v, mask)[0], "out", **TIGHT)
    with case("attention_forward",
              "a masked key gets no weight: changing its value (to 1e6) changes nothing"):
        q, k, v = _qkv(rng, 2, 3, 4, 3, 2)
        mask = np.array([[True, True, False, True]] * 3)
        out, _ = _attention_out(st, q, k, v, mask)
        v2 = v.copy()
        v2[:, 2] = 1e6
        out2, _ = _attention_out(st, q, k, v2, mask)
        expect_close(out2, out, "out with the masked key's value changed", rtol=1e-9, atol=1e-9)
    with case("attention_forward",
              "scores of about 1e4 (q and k scaled by 100): a stable softmax stays finite"):
        q, k, v = _qkv(rng, 2, 3, 4, 5, 2)
        out, _ = _attention_out(st, 100 * q, 100 * k, v, None)
        if not np.all(np.isfinite(out)):
            raise CheckFailed("out contains NaN or inf for large scores: subtract each row's max before exp")
        expect_close(out, _attention(100 * q, 100 * k, v)[0], "out", rtol=1e-7, atol=1e-9)
    with case("attention_forward", "a mask whose row 1 is all False raises ValueError"):
        q, k, v = _qkv(rng, 1, 3, 4, 2, 2)
        mask = np.ones((3, 4), bool)
        mask[1] = False
        _raises("ValueError", lambda: st.attention_forward(q, k, v, mask),
                      "attention_forward with a query that may attend to no key")


def _attention_backward_case(st, ref, q, k, v, mask, dout, numeric: bool):
    out_st, cache = _attention_out(st, q, k, v, mask)
    got = _parts(st.attention_backward(dout, cache), 3, "attention_backward")
    exp_f = ref.attention_forward(q, k, v, mask)
    expected = ref.attention_backward(dout, exp_f[1])
    names = ("dq", "dk", "dv")
    for g, e, name in zip(got, expected, names, strict=True):
        expect_close(as_array(g, name), e, name, **GRAD)
    if numeric:
        arrays = [q.copy(), k.copy(), v.copy()]
        for i, name in enumerate(names):
            num = _numeric_grad(lambda: _attention(*arrays, mask)[0], arrays[i], dout)
            expect_close(as_array(got[i], name), num, f"{name} (against a numeric gradient)", **NUMERIC)


@tests.test("test_attention_backward", isolated=True)
def _(st, ref):
    rng = np.random.default_rng(7002)
    uses = ("attention_forward",)
    q, k, v = _qkv(rng, 2, 3, 4, 5, 2)
    with case("attention_backward", "N=2, Tq=3, Tk=4, d=5, dv=2: against numeric gradients", uses=uses):
        _attention_backward_case(st, ref, q, k, v, None, rng.normal(size=(2, 3, 2)), numeric=True)
    for N, Tq, Tk, d, dv in ((1, 1, 1, 1, 1), (3, 5, 2, 4, 6), (2, 6, 6, 8, 4)):
        q, k, v = _qkv(rng, N, Tq, Tk, d, dv)
        with case("attention_backward", f"N={N}, Tq={Tq}, Tk={Tk}, d={d}, dv={dv}: against the reference",
                  uses=uses):
            _attention_backward_case(st, ref, q, k, v, None, rng.normal(size=(N, Tq, dv)), numeric=False)
    q, k, v = _qkv(rng, 2, 4, 4, 3, 3)
    causal = np.tril(np.ones((4, 4), bool))
    with case("attention_backward", "a causal mask, T=4: against numeric gradients", uses=uses):
        _attention_backward_case(st, ref, q, k, v, causal, rng.normal(size=(2, 4, 3)), numeric=True)
    q, k, v = _qkv(rng, 2, 3, 5, 4, 2)
    mask = _random_mask(rng, 3, 5)
    mask[:, 3] = False
    with case("attention_backward", "a random 3x5 mask with key 3 masked for every query: against the "
                                    "reference, and key 3 gets no gradient", uses=uses):
        dout = rng.normal(size=(2, 3, 2))
        _attention_backward_case(st, ref, q, k, v, mask, dout, numeric=False)
        _, cache = _attention_out(st, q, k, v, mask)
        _, dk, dv = _parts(st.attention_backward(dout, cache), 3, "attention_backward")
        for name, g in (("dk", dk), ("dv", dv)):
            g = as_array(g, name)
            if np.abs(g[:, 3]).max() > 1e-12:
                raise CheckFailed(f"{name}[:, 3] should be 0 (key 3 is masked for every query), got "
                                  f"values up to {np.abs(g[:, 3]).max():.3g}")


def _mha_out(st, x, ctx, p, heads, mask):
    got = _parts(st.mha_forward(x, ctx, p, heads, mask), 2, "mha_forward")
    out = as_array(got[0], "out")
    expect_shape(out, x.shape, "out")
    return out, got[1]


@tests.test("test_mha_forward", isolated=True)
def _(st, ref):
    rng = np.random.default_rng(7003)
    uses = ("attention_forward",)
    with case("mha_forward", "1 head, identity weights and zero biases: plain attention of x over ctx",
              uses=uses):
        x, ctx = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4))
        p = {n: np.eye(4) for n in ("Wq", "Wk", "Wv", "Wo")}
        p.update({n: np.zeros(4) for n in ("bq", "bk", "bv", "bo")})
        out, _ = _mha_out(st, x, ctx, p, 1, None)
        expect_close(out, _attention(x, ctx, ctx)[0], "out", **TIGHT)
    with case("mha_forward", "Wo = 0: out is bo on every position", uses=uses):
        x = rng.normal(size=(2, 3, 4))
        p = _params(rng, 4)
        p["Wo"] = np.zeros((4, 4))
        out, _ = _mha_out(st, x, x, p, 2, None)
        expect_close(out, np.broadcast_to(p["bo"], out.shape), "out", **TIGHT)
    for N, T, D, heads in ((2, 3, 4, 1), (2, 4, 8, 2), (1, 5, 6, 3), (3, 2, 8, 4)):
        x = rng.normal(size=(N, T, D))
        p = _params(rng, D)
        with case("mha_forward", f"self-attention, N={N}, T={T}, D={D}, {heads} head(s): against the "
                                 "formula and the reference", uses=uses):
            out, _ = _mha_out(st, x, x, p, heads, None)
            expect_close(out, _mha(x, x, p, heads), "out", **TIGHT)
            expect_close(out, ref.mha_forward(x, x, p, heads, None)[0], "out", **TIGHT)
    for N, Tq, Tk, D, heads in ((2, 3, 7, 8, 2), (1, 6, 2, 12, 4), (3, 1, 4, 9, 3)):
        x, ctx = rng.normal(size=(N, Tq, D)), rng.normal(size=(N, Tk, D))
        p = _params(rng, D)
        with case("mha_forward", f"cross-attention, N={N}, Tq={Tq}, Tk={Tk}, D={D}, {heads} head(s): "
                                 "against the formula and the reference", uses=uses):
            out, _ = _mha_out(st, x, ctx, p, heads, None)
            expect_close(out, _mha(x, ctx, p, heads), "out", **TIGHT)
            expect_close(out, ref.mha_forward(x, ctx, p, heads, None)[0], "out", **TIGHT)
    for heads in (2, 4):
        x = rng.normal(size=(2, 5, 8))
        p = _params(rng, 8)
        mask = np.tril(np.ones((5, 5), bool))
        with case("mha_forward", f"causal self-attention, T=5, D=8, {heads} heads", uses=uses):
            out, _ = _mha_out(st, x, x, p, heads, mask)
            expect_close(out, _mha(x, x, p, heads, mask), "out", **TIGHT)
    with case("mha_forward", "a random 3x4 mask in cross-attention, D=6, 2 heads", uses=uses):
        x, ctx = rng.normal(size=(2, 3, 6)), rng.normal(size=(2, 4, 6))
        p, mask = _params(rng, 6), _random_mask(rng, 3, 4)
        out, _ = _mha_out(st, x, ctx, p, 2, mask)
        expect_close(out, _mha(x, ctx, p, 2, mask), "out", **TIGHT)
    for D, heads in ((6, 4), (8, 3)):
        with case("mha_forward", f"D={D} with {heads} heads (D % num_heads != 0) raises ValueError"):
            x = rng.normal(size=(1, 2, D))
            p = _params(rng, D)
            _raises("ValueError", lambda x=x, p=p, heads=heads: st.mha_forward(x, x, p, heads),
                          f"mha_forward with D={D} and num_heads={heads}")


def _mha_backward_case(st, ref, x, ctx, p, heads, mask, dout, numeric: bool):
    _, cache = _mha_out(st, x, ctx, p, heads, mask)
    dx, dctx, grads = _parts(st.mha_backward(dout, cache), 3, "mha_backward")
    e_dx, e_dctx, e_grads = ref.mha_backward(dout, ref.mha_forward(x, ctx, p, heads, mask)[1])
    if not isinstance(grads, dict) or set(grads) != set(PARAM_NAMES):
        got = sorted(grads) if isinstance(grads, dict) else type(grads).__name__
        raise CheckFailed(f"grads should be a dict with the keys {sorted(PARAM_NAMES)}, got {got}")
    expect_close(as_array(dx, "dx"), e_dx, "dx", **GRAD)
    expect_close(as_array(dctx, "dctx"), e_dctx, "dctx", **GRAD)
    for n in PARAM_NAMES:
        expect_close(as_array(grads[n], f'grads["{n}"]'), e_grads[n], f'grads["{n}"]', **GRAD)
    if numeric:
        xs, cs, ps = x.copy(), ctx.copy(), {n: a.copy() for n, a in p.items()}
        f = lambda: _mha(xs, cs, ps, heads, mask)  # noqa: E731
        expect_close(dx, _numeric_grad(f, xs, dout), "dx (against a numeric gradient)", **NUMERIC)
        expect_close(dctx, _numeric_grad(f, cs, dout), "dctx (against a numeric gradient)", **NUMERIC)
        for n in PARAM_NAMES:
            expect_close(grads[n], _numeric_grad(f, ps[n], dout),
                         f'grads["{n}"] (against a numeric gradient)', **NUMERIC)


@tests.test("test_mha_backward", isolated=True)
def _(st, ref):
    rng = np.random.default_rng(7004)
    uses = ("mha_forward", "attention_forward", "attention_backward")
    x, ctx = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4))
    with case("mha_backward", "cross-attention, N=2, Tq=3, Tk=5, D=4, 2 heads: against numeric gradients",
              uses=uses):
        _mha_backward_case(st, ref, x, ctx, _params(rng, 4), 2, None, rng.normal(size=(2, 3, 4)),
                           numeric=True)
    x = rng.normal(size=(2, 4, 6))
    with case("mha_backward", "causal self-attention mha_forward(x, x, ...), T=4, D=6, 3 heads: dx and dctx "
                              "apart, against numeric gradients", uses=uses):
        _mha_backward_case(st, ref, x, x, _params(rng, 6), 3, np.tril(np.ones((4, 4), bool)),
                           rng.normal(size=(2, 4, 6)), numeric=True)
    for N, Tq, Tk, D, heads, masked in ((1, 1, 1, 2, 1, False), (3, 4, 6, 8, 4, False),
                                        (2, 5, 5, 12, 3, True), (2, 7, 3, 8, 2, True)):
        x, ctx = rng.normal(size=(N, Tq, D)), rng.normal(size=(N, Tk, D))
        mask = _random_mask(rng, Tq, Tk) if masked else None
        what = f"N={N}, Tq={Tq}, Tk={Tk}, D={D}, {heads} head(s)" + (", a random mask" if masked else "")
        with case("mha_backward", f"{what}: all 8 parameter gradients, dx and dctx against the reference",
                  uses=uses):
            _mha_backward_case(st, ref, x, ctx, _params(rng, D), heads, mask, rng.normal(size=(N, Tq, D)),
                               numeric=False)


def _sinusoidal(T, D):
    t = np.arange(T, dtype=np.float64)[:, None]
    i = np.arange(D // 2, dtype=np.float64)[None, :]
    ang = t / 10000 ** (2 * i / D)
    P = np.zeros((T, D))
    P[:, 0::2], P[:, 1::2] = np.sin(ang), np.cos(ang)
    return P


@tests.test("test_positions", isolated=True)
def _(st, ref):
    with case("sinusoidal_positions", "T=3, D=4 by hand"):
        P = as_array(st.sinusoidal_positions(3, 4), "sinusoidal_positions(3, 4)")
        expect_shape(P, (3, 4), "sinusoidal_positions(3, 4)")
        # row t: sin(t), cos(t), sin(t / 100), cos(t / 100)
        expected = [[0, 1, 0, 1], [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)],
                    [math.sin(2), math.cos(2), math.sin(0.02), math.cos(0.02)]]
        expect_close(P, expected, "sinusoidal_positions(3, 4)", **TIGHT)
        if P.dtype != np.float64:
            raise CheckFailed(f"sinusoidal_positions should return float64, got {P.dtype}")
    for T, D in ((1, 2), (17, 64), (50, 10), (5, 128)):
        with case("sinusoidal_positions", f"T={T}, D={D}: against the formula and the reference"):
            P = as_array(st.sinusoidal_positions(T, D), f"sinusoidal_positions({T}, {D})")
            expect_close(P, _sinusoidal(T, D), f"sinusoidal_positions({T}, {D})", **TIGHT)
            expect_close(P, ref.sinusoidal_positions(T, D), f"sinusoidal_positions({T}, {D})", **TIGHT)
    with case("sinusoidal_positions", "an odd D raises ValueError"):
        _raises("ValueError", lambda: st.sinusoidal_positions(4, 5), "sinusoidal_positions(4, 5)")
    for T in (1, 2, 5, 16):
        with case("causal_mask", f"T={T}: True on and below the diagonal"):
            m = np.asarray(st.causal_mask(T))
            expect_shape(m, (T, T), f"causal_mask({T})")
            if m.dtype != np.bool_:
                raise CheckFailed(f"causal_mask({T}) should be a bool array, got {m.dtype}")
            expect_equal(m, np.tril(np.ones((T, T), bool)), f"causal_mask({T})")


# ------------------------------------------------------------------------------------------
# Part 2: the transformer captioner
# ------------------------------------------------------------------------------------------
# The grader's own test scenes: a seed the notebook does not use, and more scenes than the notebook's
# 300, so that the BLEU-4 a correct captioner earns varies less with the draw of the scenes.
CAPTION_SEED = 730_541
N_SCENES = 1000
BLEU_TARGET = SETTINGS["bleu_target"]
CAP_USES = ("TransformerCaptioner", "MultiHeadAttention", "DecoderBlock")  # the captioner cell's classes


def _cells(vectors: np.ndarray) -> np.ndarray:
    """encode_scenes(...).vectors (N, 1600), label-major, -> (N, 64, 25) float32: 64 grid cells of
    25 numbers (the notebook's `cells`)."""
    v = np.asarray(vectors, np.float32)
    return np.ascontiguousarray(v.reshape(len(v), 25, 64).transpose(0, 2, 1))


@functools.lru_cache(maxsize=1)
def _vocab():
    """The notebook's vocabulary (from make_caption_data(2000, seed=0)) and its words."""
    from dlcv.captioning.captions import make_caption_data

    vocab = make_caption_data(2000, seed=0).vocab
    return vocab, list(vocab.idx_to_word)


@functools.lru_cache(maxsize=1)
def _caption_data():
    """The notebook's vocabulary (from make_caption_data(2000, seed=0)), and N_SCENES scenes drawn here
    (CAPTION_SEED) with their cells, all their reference captions, and one reference as
    captions_in (<START> w1 .. wT-1) for the cross-attention check."""
    from dlcv.captioning.captions import make_caption_data
    from dlcv.captioning.encoders import encode_scenes

    train = make_caption_data(2000, seed=0)
    test = make_caption_data(N_SCENES, seed=CAPTION_SEED, vocab=train.vocab, per_image=10)
    first = np.searchsorted(test.image_index, np.arange(N_SCENES))
    return dict(vocab=train.vocab, words=list(train.vocab.idx_to_word),
                cells=_cells(encode_scenes(test.scenes).vectors), refs=test.captions,
                captions_in=test.tokens[first, :-1])


def _bleu(cands, refs, n=4):
    """Corpus BLEU-4 (a5's definition: clipped counts, closest reference length, smoothing 0.1)."""
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


def _tensor_reply(seen, what: str, shape=None, integer: bool = False) -> np.ndarray:
    if not isinstance(seen, dict) or seen.get("type") != "Tensor":
        got = seen.get("type") if isinstance(seen, dict) else type(seen).__name__
        raise CheckFailed(f"{what} should return a torch tensor, got {got}")
    a = np.asarray(seen["value"])
    if shape is not None and a.shape != tuple(shape):
        raise CheckFailed(f"{what} should have shape {tuple(shape)}, got {a.shape}")
    if integer and seen["dtype"] != "int64":
        raise CheckFailed(f"{what} should be an int64 tensor of word ids, got {seen['dtype']}")
    if not integer and not np.all(np.isfinite(a)):
        raise CheckFailed(f"{what} contains NaN or inf")
    return a


def _check_rows(attn: np.ndarray, what: str) -> None:
    if attn.min() < -1e-6:
        raise CheckFailed(f"{what} has negative weights (min {attn.min():.3g}): they should be a softmax")
    sums = attn.sum(-1)
    worst = np.unravel_index(int(np.argmax(np.abs(sums - 1))), sums.shape)
    if abs(sums[worst] - 1) > 1e-4:
        raise CheckFailed(f"every row of {what} should sum to 1 over the 64 cells; the row of caption "
                          f"{worst[0]}, word {worst[1]} sums to {sums[worst]:.5f}")


def _check_null_after_end(caps: np.ndarray, end: int, null: int, what: str) -> None:
    for n, row in enumerate(caps):
        ends = np.flatnonzero(row == end)
        if len(ends) and np.any(row[ends[0] + 1:] != null):
            raise CheckFailed(f"{what}: caption {n} is {row.tolist()}: after <END> (id {end}) every id "
                              f"should be <NULL> (id {null})")


def _captioner_case(st, sizes, seed, N, T, changed_from, label):
    vocab, words = _vocab()
    V = len(vocab)
    rng = np.random.default_rng(seed)
    cells = rng.normal(size=(N, 64, sizes.get("cell_dim", 25))).astype(np.float32)
    caps = rng.integers(4, V, size=(N, T))
    caps[:, 0] = vocab.start
    max_length = 12
    seen = None
    with case("TransformerCaptioner", f"{label}: forward gives (N, T, V) logits", uses=CAP_USES):
        reply = st.probe("captioner_run", words, sizes, seed, cells, caps, changed_from, max_length, 0.0)
        if "logits" not in reply:
            raise CheckFailed(f"TransformerCaptioner(vocab, ...) should be an nn.Module, got {reply['type']}")
        logits = _tensor_reply(reply["logits"], "forward(cells, captions_in)", (N, T, V))
        seen = reply
    if seen is None:
        return
    with case("TransformerCaptioner", f"{label}: causal (changing the words from position {changed_from} on "
                                      f"leaves the logits of positions 0..{changed_from - 1} as they were)",
              uses=CAP_USES):
        other = _tensor_reply(seen["logits_changed"], "forward(cells, changed captions)", (N, T, V))
        diff = np.abs(other[:, :changed_from] - logits[:, :changed_from]).max()
        if diff > 1e-4:
            raise CheckFailed(f"the logits at positions 0..{changed_from - 1} changed by up to {diff:.3g} "
                              f"when only words {changed_from}.. changed: position t must not see later "
                              "words (a causal mask in the self-attention)")
    with case("TransformerCaptioner", f"{label}: cross_attention gives (N, T, 64) rows of weights that sum "
                                      "to 1", uses=CAP_USES):
        _check_rows(_tensor_reply(seen["attn"], "cross_attention(cells, captions_in)", (N, T, 64)),
                    "cross_attention(cells, captions_in)")
    with case("TransformerCaptioner", f"{label}: sample gives the greedy captions of its own forward pass",
              uses=CAP_USES):
        got = _tensor_reply(seen["sample"], f"sample(cells, max_length={max_length})", (N, max_length),
                            integer=True)
        if got.min() < 0 or got.max() >= V:
            raise CheckFailed(f"sample returned ids from {got.min()} to {got.max()}; ids run from 0 to "
                              f"{V - 1}")
        _check_null_after_end(got, vocab.end, vocab.null, "sample")
        expect_equal(got, seen["greedy"], "sample(cells) against greedy decoding by forward (argmax at each "
                                          "step from <START>, <NULL> after <END>)")
    if seen.get("end_layer") and "end_sample" in seen:
        with case("TransformerCaptioner", f"{label}, the output layer's <END> bias raised so that captions "
                                          "end early: <NULL> after <END>", uses=CAP_USES):
            got = _tensor_reply(seen["end_sample"], "sample(cells)", (N, max_length), integer=True)
            _check_null_after_end(got, vocab.end, vocab.null, "sample")
            expect_equal(got, seen["end_greedy"], "sample(cells) against greedy decoding by forward")
    with case("TransformerCaptioner", f"{label}: its own multi-head attention (no nn.MultiheadAttention)"):
        if seen["uses_torch_mha"]:
            names = ", ".join(seen["uses_torch_mha"])
            raise CheckFailed(f"the model uses torch's nn.MultiheadAttention ({names}): the assignment "
                              "asks for your own multi-head attention")


@tests.test("test_captioner")
def _(st, ref):
    _captioner_case(st, dict(cell_dim=25, D=16, heads=2, layers=1, max_length=17), 7101, 3, 6, 3,
                    "D=16, 2 heads, 1 block, 3 captions of 6 words")
    _captioner_case(st, dict(cell_dim=25, D=32, heads=4, layers=2, max_length=17), 7102, 4, 9, 5,
                    "D=32, 4 heads, 2 blocks, 4 captions of 9 words")


@tests.test("test_trained_captioner")
def _(st, ref):
    d = _caption_data()
    vocab = d["vocab"]
    what = "the trained captioner"
    got: dict = {}
    with case(what, f"BLEU-4 on {N_SCENES} scenes drawn by the grader, greedy, all references (at least "
                    f"{BLEU_TARGET})", uses=CAP_USES + ("train_captioner",)):
        status = st.probe("captioner_status", d["words"])
        if not status["captioner"]:
            raise CheckFailed("`captioner` should be the trained TransformerCaptioner, got "
                              f"{status['type']}: run the training cell to its end, then this test again")
        if not status["trained"]:
            raise CheckFailed("`cap_losses` is not defined: the training cell did not finish; run it to its "
                              "end")
        seen = st.with_timeout(300).probe("trained_captions", d["cells"], d["captions_in"], 16)
        got["seen"] = seen
        caps = _tensor_reply(seen.get("sample", {"type": seen["type"]}),
                             "captioner.sample(cells, max_length=16)", (N_SCENES, 16), integer=True)
        if caps.min() < 0 or caps.max() >= len(vocab):
            raise CheckFailed(f"sample returned ids from {caps.min()} to {caps.max()}; ids run from 0 to "
                              f"{len(vocab) - 1}")
        got["bleu"] = score = _bleu([vocab.decode(row) for row in caps], d["refs"])
        if score < BLEU_TARGET:
            raise CheckFailed(f"the BLEU-4 of the captions of the grader's {N_SCENES} scenes is "
                              f"{score:.3f}; it should be at least {BLEU_TARGET}")
        got["passed"] = True
    if got.get("passed"):
        with case(what, f"BLEU-4 {got['bleu']:.3f} on the grader's scenes (computed by the grader)"):
            pass
    if "seen" not in got:
        return
    with case(what, "cross-attention over the 64 cells on the grader's scenes: rows sum to 1 and are not "
                    "uniform (mean of each row's largest weight at least 2/64)", uses=CAP_USES):
        T = d["captions_in"].shape[1]
        attn = _tensor_reply(got["seen"].get("attn", {"type": "nothing"}),
                             "captioner.cross_attention(cells, captions_in)", (N_SCENES, T, 64))
        _check_rows(attn, "cross_attention")
        real = d["captions_in"] != vocab.null
        got["peak"] = peak = float(attn.max(-1)[real].mean())
        if peak < 2 / 64:
            raise CheckFailed(f"the weights are about uniform: the mean of each row's largest weight is "
                              f"{peak:.4f} (uniform: 1/64 = {1 / 64:.4f}); it should be at least 2/64 = "
                              f"{2 / 64:.4f}: the words should attend to the cells that hold their objects")
        got["attends"] = True
    if got.get("attends"):
        with case(what, f"mean largest cross-attention weight {got['peak']:.3f} (uniform: {1 / 64:.3f}; "
                        "computed by the grader)"):
            pass


# ------------------------------------------------------------------------------------------
# Part 3: InfoNCE, the linear probe and the SSL encoder
# ------------------------------------------------------------------------------------------
def _info_nce(z1, z2, tau=0.5):
    z = np.concatenate([z1, z2]).astype(np.float64)
    u = z / np.linalg.norm(z, axis=1, keepdims=True)
    s = u @ u.T / tau
    n = len(z1)
    np.fill_diagonal(s, -np.inf)
    partner = np.concatenate([np.arange(n, 2 * n), np.arange(n)])
    m = s.max(1, keepdims=True)
    lse = (m + np.log(np.exp(s - m).sum(1, keepdims=True)))[:, 0]
    return float(np.mean(lse - s[np.arange(2 * n), partner]))


def _loss(st, z1, z2, tau=None, dtype="float32"):
    seen = st.probe("info_nce_run", z1, z2, tau, dtype)
    value = _tensor_reply(seen, "info_nce(z1, z2)", ())
    return float(value), seen


@tests.test("test_info_nce")
def _(st, ref):
    with case("info_nce", "N=2, z1 = z2 = the unit vectors e1, e2, tau 0.5: log(1 + 2 e^-2) by hand"):
        z = np.eye(2)
        got, _ = _loss(st, z, z, 0.5)
        expect_close(got, math.log(1 + 2 * math.exp(-2)), "info_nce", rtol=1e-5)
    with case("info_nce", "the default tau is 0.5"):
        z1, z2 = np.random.default_rng(1).normal(size=(2, 4, 3))
        expect_close(_loss(st, z1, z2)[0], _info_nce(z1, z2, 0.5), "info_nce(z1, z2)", rtol=1e-5)
    rng = np.random.default_rng(7301)
    for N, D, tau in ((4, 3, 0.5), (16, 8, 0.1), (32, 16, 1.0), (2, 1, 0.2), (64, 32, 0.5)):
        z1, z2 = rng.normal(size=(N, D)), rng.normal(size=(N, D))
        with case("info_nce", f"N={N}, D={D}, tau={tau}: against the formula and the reference, float64"):
            got, _ = _loss(st, z1, z2, tau, "float64")
            expect_close(got, _info_nce(z1, z2, tau), "info_nce", rtol=1e-9, atol=1e-12)
            expect_close(got, ref.probe("info_nce_run", z1, z2, tau, "float64")["value"], "info_nce",
                         rtol=1e-9, atol=1e-12)
    z1, z2 = rng.normal(size=(8, 5)), rng.normal(size=(8, 5))
    with case("info_nce", "embeddings are normalised inside: scaling z1 by 3 and z2 by 0.1 changes nothing"):
        expect_close(_loss(st, 3 * z1, 0.1 * z2, 0.5, "float64")[0], _info_nce(z1, z2, 0.5), "info_nce",
                     rtol=1e-9)
    with case("info_nce", "symmetric: info_nce(z2, z1) = info_nce(z1, z2)"):
        expect_close(_loss(st, z2, z1, 0.5, "float64")[0], _loss(st, z1, z2, 0.5, "float64")[0],
                     "info_nce(z2, z1)", rtol=1e-9)
    with case("info_nce", "partners that coincide and everything else far: a loss of about 0"):
        z = np.eye(6)[:, :6] * 5.0
        got, _ = _loss(st, z, z, 0.1, "float64")
        expect_close(got, _info_nce(z, z, 0.1), "info_nce", rtol=1e-9)
        if not got < 0.01:
            raise CheckFailed(f"info_nce of identical orthogonal views at tau 0.1 should be about 0, got "
                              f"{got:.4g}")
    for N, D, tau in ((5, 4, 0.5), (12, 6, 0.2)):
        z1, z2 = rng.normal(size=(N, D)), rng.normal(size=(N, D))
        with case("info_nce", f"gradients with respect to z1 and z2 (N={N}, D={D}, tau={tau}): autograd "
                              "against the reference's"):
            _, seen = _loss(st, z1, z2, tau, "float64")
            if seen["grads"] is None:
                why = seen.get("grad_error") or "the result is not a single number"
                raise CheckFailed(f"autograd cannot differentiate info_nce ({why}): compute it with torch "
                                  "operations on z1 and z2, without .detach(), .item() or numpy")
            expected = ref.probe("info_nce_run", z1, z2, tau, "float64")["grads"]
            for g, e, name in zip(seen["grads"], expected, ("d/dz1", "d/dz2"), strict=True):
                expect_close(g, e, f"the gradient {name}", rtol=1e-7, atol=1e-10)


@functools.lru_cache(maxsize=1)
def _digits():
    """The raw 8x8 digits (load_digits16(8)): X (N, 1, 8, 8) float32 in [0, 1], y (N,) int64."""
    from dlcv.selfsupervised.datasets import load_digits16

    d = load_digits16(8)
    return (d.X_train.numpy().astype(np.float32), d.y_train.numpy().astype(np.int64),
            d.X_test.numpy().astype(np.float32), d.y_test.numpy().astype(np.int64))


def _subset(y: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    import torch

    from dlcv.selfsupervised.datasets import labelled_subset

    return labelled_subset(torch.as_tensor(y), per_class, seed=seed).numpy()


def _sklearn_accuracy(Ftr, ytr, Fte, yte) -> float:
    from sklearn.linear_model import LogisticRegression

    mu, sd = Ftr.mean(0), Ftr.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    clf = LogisticRegression(C=1.0, max_iter=2000).fit((Ftr - mu) / sd, ytr)
    return float((clf.predict((Fte - mu) / sd) == yte).mean())


PROBE_SLACK = 0.03  # the student's probe may be this much below scikit-learn's accuracy


def _predictions(st, Ftr, ytr, Fte):
    seen = st.probe("linear_probe_run", Ftr, ytr, Fte)
    pred = _tensor_reply(seen, "linear_probe(...)", (len(Fte),), integer=True)
    return pred


@tests.test("test_linear_probe")
def _(st, ref):
    rng = np.random.default_rng(7302)
    with case("linear_probe", "3 well separated clusters in 2-D: every test point right"):
        centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
        ytr, yte = np.repeat(np.arange(3), 20), np.repeat(np.arange(3), 10)
        Ftr = centres[ytr] + rng.normal(size=(60, 2))
        Fte = centres[yte] + rng.normal(size=(30, 2))
        pred = _predictions(st, Ftr, ytr, Fte)
        expect_equal(pred, yte, "the predicted labels")
    with case("linear_probe", "features on very different scales (x 1000 and x 0.001): standardised inside"):
        Ftr2, Fte2 = Ftr * [1000.0, 0.001], Fte * [1000.0, 0.001]
        Ftr2 = np.concatenate([Ftr2, rng.normal(size=(60, 1)) * 1e3], 1)
        Fte2 = np.concatenate([Fte2, rng.normal(size=(30, 1)) * 1e3], 1)
        pred = _predictions(st, Ftr2, ytr, Fte2)
        acc = float((pred == yte).mean())
        expect_at_least(acc, 0.95, "the accuracy on the rescaled clusters")
    Xtr, ytr, Xte, yte = _digits()
    Ftr, Fte = Xtr.reshape(len(Xtr), -1), Xte.reshape(len(Xte), -1)
    for label, idx in (("all 1257 training digits", np.arange(len(ytr))),
                       ("5 labels per digit", _subset(ytr, 5, 7303)),
                       ("20 labels per digit", _subset(ytr, 20, 7304))):
        with case("linear_probe", f"the pixels of the digits, {label}: accuracy on the 360 test digits "
                                  "against scikit-learn's logistic regression (C = 1) within "
                                  f"{PROBE_SLACK:.2f}"):
            pred = _predictions(st, Ftr[idx], ytr[idx], Fte)
            if pred.min() < 0 or pred.max() > 9:
                raise CheckFailed(f"the predictions run from {pred.min()} to {pred.max()}; the labels are "
                                  "0..9")
            acc = float((pred == yte).mean())
            bar = _sklearn_accuracy(Ftr[idx], ytr[idx], Fte, yte) - PROBE_SLACK
            if acc < bar:
                raise CheckFailed(f"linear_probe's test accuracy is {acc:.3f}; scikit-learn's logistic "
                                  f"regression gets {bar + PROBE_SLACK:.3f} on the same features: it should "
                                  f"be at least {bar:.3f} (standardise with the training statistics, train "
                                  "to convergence)")


SSL_SUBSETS = (7401, 7402, 7403)  # the grader's label subsets (5 per digit)
SSL_MARGIN = SETTINGS["probe_margin"]
PER_CLASS = SETTINGS["probe_per_class"]


def _probe_accuracy(Ftr, ytr, Fte, yte, seeds) -> list[float]:
    """The grader's own probe (lecture 15's linear_probe: standardised features, L2 logistic
    regression by L-BFGS, C = 1) with PER_CLASS labels per digit on each subset."""
    from dlcv.selfsupervised.probe import linear_probe

    out = []
    for s in seeds:
        idx = _subset(ytr, PER_CLASS, s)
        out.append(linear_probe(Ftr[idx], ytr[idx], Fte, yte))
    return out


@functools.lru_cache(maxsize=1)
def _pixel_baseline() -> tuple[float, ...]:
    Xtr, ytr, Xte, yte = _digits()
    return tuple(_probe_accuracy(Xtr.reshape(len(Xtr), -1), ytr, Xte.reshape(len(Xte), -1), yte, SSL_SUBSETS))


@tests.test("test_ssl_probe")
def _(st, ref):
    what = "ssl_encoder (trained with your info_nce)"
    got: dict = {}
    with case(what, "features of the digits the grader sends, probed by the grader with 5 labels per digit "
                    f"(3 subsets): at least the pixels' accuracy + {SSL_MARGIN}", uses=("info_nce",)):
        status = st.probe("ssl_status")  # runs info_nce once when the encoder was not trained
        if not status["encoder"]:
            raise CheckFailed(f"`ssl_encoder` should be the trained encoder (an nn.Module), got "
                              f"{status['type']}: run the SimCLR training cell to its end, then this test "
                              "again")
        Xtr, ytr, Xte, yte = _digits()
        seen = st.with_timeout(120).probe("ssl_features", np.concatenate([Xtr, Xte]))
        if seen["value"] is None:
            raise CheckFailed(f"ssl_encoder(x) should return a tensor of features, got {seen['type']}")
        feats = np.asarray(seen["value"], np.float64)
        if feats.ndim != 2 or len(feats) != len(Xtr) + len(Xte):
            raise CheckFailed(f"ssl_encoder should give one feature vector per image, got shape "
                              f"{feats.shape}")
        if not np.all(np.isfinite(feats)):
            raise CheckFailed("ssl_encoder's features contain NaN or inf")
        got["acc"] = acc = float(np.mean(_probe_accuracy(feats[:len(Xtr)], ytr, feats[len(Xtr):], yte,
                                                         SSL_SUBSETS)))
        got["pix"] = pix = float(np.mean(_pixel_baseline()))
        if acc < pix + SSL_MARGIN:
            raise CheckFailed(f"with 5 labels per digit the grader's probe reaches {acc:.3f} on your "
                              f"features and {pix:.3f} on the raw pixels (mean of 3 label subsets); the "
                              f"features should reach at least {pix + SSL_MARGIN:.3f}")
        got["passed"] = True
    if got.get("passed"):
        with case(what, f"probe accuracy with 5 labels per digit: {got['acc']:.3f} on the SSL features, "
                        f"{got['pix']:.3f} on the raw pixels (computed by the grader)"):
            pass
