"""Hidden tests of assignment 2 (trusted: run by the grader, never in the student's kernel).

Every test repeats the visible cases of its cell and adds hidden ones. Inputs are made here;
`st` calls the student's code in the sandbox, `ref` the source notebook's solutions here; every
comparison happens here. Where the old in-notebook tests compared with torch or with numeric
gradients, these compare with the reference solution's values and analytic gradients (the
reference itself is checked against torch by tests/test_a2_reference.py).

The layers, update rules and networks are graded in an isolated numpy-only kernel that runs only
their answer cells (and the given sandwich layers): the notebook itself may import torch, since
its given helper `run_torch` draws the visible tests' torch.optim paths. The training tests
(two-layer accuracy, overfitting) train there too, on data the probe loads the way the notebook
does; only `best_model`, which the notebook trains, is taken from the notebook's kernel. Accuracies
are computed here, with the labels held here.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from autograder.hidden import NUMPY_ONLY, HiddenTests, Isolated, as_array, case
from autograder.inside.probes.a2_neural_networks import prepared_data
from dlcv.checks import CheckFailed, expect_at_least, expect_close, expect_equal, expect_shape

# The layers, update rules and networks: graded in a fresh numpy-only kernel running only these.
NUMPY_PART = ["affine_forward", "affine_backward", "relu", "sandwich_layers", "svm_loss", "softmax_loss",
              "batchnorm_forward", "batchnorm_backward", "layernorm", "dropout", "sgd", "sgd_momentum",
              "nesterov", "adagrad", "rmsprop", "adam", "two_layer_net", "fc_net"]

tests = HiddenTests(
    probes="a2_neural_networks",
    # best_model's cell trains on the notebook's data; its test uses the student's trained model.
    not_in_reference=("best_model",),
    # The notebook's kernel: its given run_torch uses torch.optim (which needs sympy and torchgen).
    blocked=("scipy", "sklearn", "skimage", "functorch"),
    dlcv=["augment", "checks", "data", "gradcheck", "plots", "solver", "timing"],
    isolated=Isolated(cells=NUMPY_PART, preamble="import numpy as np", blocked=NUMPY_ONLY))

# The data-set dependent settings of the training tests (the notebook's SETTINGS).
SETTINGS = SOURCE.value("SETTINGS")  # SOURCE: the source notebook (autograder.hidden.Spec)


@functools.lru_cache(maxsize=1)
def _data():
    """(name, X_test, y_test, y_train, num_classes) of the notebook's data, made here as the
    notebook makes it (the labels stay here)."""
    import warnings

    from dlcv.data import load_classification

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_classification("auto", num_train=49000, num_val=1000, num_test=1000, num_dev=500)
    s = SETTINGS[data.name]
    d, _, num_classes = prepared_data(data.name, s["scale"], s["augment"])
    return data.name, d["X_test"], data.y_test, d["y_train"], num_classes


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------
def _pair(got, what: str):
    """A reply that must be a pair (out, cache), (loss, dx), (next_w, config) ..."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise CheckFailed(f"should return a tuple {what}, got {type(got).__name__}")
    return got


def _out(got, name: str = "out") -> np.ndarray:
    """The first of a layer's (out, cache), as an array."""
    return as_array(_pair(got, "(out, cache)")[0], name)


def _grads(got, expected, names, rtol, atol, note=""):
    """A backward pass's gradients (a tuple, or one array) against the reference's."""
    if len(names) == 1:
        got, expected = [got], [expected]
    elif not isinstance(got, (tuple, list)) or len(got) != len(names):
        raise CheckFailed(f"should return a tuple ({', '.join(names)}), got {type(got).__name__}")
    for g, e, n in zip(got, expected, names, strict=True):
        try:
            expect_close(as_array(g, n), e, n, rtol=rtol, atol=atol)
        except CheckFailed as err:
            raise CheckFailed(f"{err}{note}") from None


def _forward_note(got_out, exp_out, forward: str) -> str:
    """When a backward pass is wrong, say whether the forward pass (whose cache it uses) is wrong too."""
    try:
        expect_close(as_array(got_out, "out"), exp_out, "out", rtol=1e-6, atol=1e-9)
        return ""
    except Exception:  # noqa: BLE001 - any failure (a wrong value, a crash) means the same here
        return (f" ({forward} is wrong too on this case, and its cache feeds the backward pass: "
                f"make {forward}'s test pass first)")


def _layer_grad_case(st, ref, forward, backward, args, dout, names, tols):
    """forward then backward on each side (the backward gets its own side's cache); the
    gradients against the reference's, a wrong one saying whether the forward pass is wrong too."""
    got = _pair(st.probe("forward_backward", forward, backward, args, dout), "(out, grads)")
    exp = ref.probe("forward_backward", forward, backward, args, dout)
    g, e = got[1], exp[1]
    if len(names) == 1:
        g, e = [g], [e]
    elif not isinstance(g, (tuple, list)) or len(g) != len(names):
        raise CheckFailed(f"{backward} should return a tuple ({', '.join(names)}), got {type(g).__name__}")
    for gi, ei, n in zip(g, e, names, strict=True):
        try:
            expect_close(as_array(gi, n), ei, n, rtol=tols[n][0], atol=tols[n][1])
        except CheckFailed as err:
            raise CheckFailed(f"{err}{_forward_note(got[0], exp[0], forward)}") from None
    return got


def _cfg(config, key: str):
    if not isinstance(config, dict) or key not in config:
        raise CheckFailed(f'the returned config should hold "{key}", got '
                          f"{sorted(config) if isinstance(config, dict) else type(config).__name__}")
    return config[key]


def _param(params, key: str, what: str = "params"):
    if not isinstance(params, dict):
        raise CheckFailed(f"{what} should be a dict, got {type(params).__name__}")
    if key not in params:
        raise CheckFailed(f'{what} has no "{key}" (it has {sorted(map(str, params))})')
    return as_array(params[key], f'{what}["{key}"]')


def _run(ns, cls, args=(), kwargs=None, **options):
    r = ns.probe("net_run", cls, list(args), kwargs or {}, **options)
    if not isinstance(r, dict):
        raise CheckFailed(f"could not run {cls}: got {type(r).__name__}")
    return r


def _loss_grads(result, what: str):
    loss, grads = _pair(result, "(loss, grads)")
    if not isinstance(grads, dict):
        raise CheckFailed(f"{what}: grads should be a dict, got {type(grads).__name__}")
    return loss, grads


def _net_grads_case(st, ref, cls, args, kwargs, X, y, params=None, check_loss=False, rtol=1e-6, atol=1e-9):
    """The network's gradients (and with check_loss its loss) at `params` (default: the
    reference's initial ones for these arguments) against the reference's; a wrong gradient says
    whether the loss is wrong too."""
    exp = _run(ref, cls, args, kwargs, params=params, calls=[[X, y]])
    P = params if params is not None else exp["params"]
    got = _run(st, cls, args, kwargs, params=P, calls=[[X, y]])
    loss, grads = _loss_grads(got["results"][0], f"{cls}.loss(X, y)")
    e_loss, e_grads = exp["results"][0]
    if check_loss:
        expect_close(as_array(loss, "loss"), e_loss, "loss", rtol=1e-7)
    try:
        expect_close(as_array(loss, "loss"), e_loss, "loss", rtol=1e-7)
        note = ""
    except CheckFailed:
        note = (" (the loss is wrong too on this case: make the loss right first, then its "
                "gradients)")
    for k in sorted(e_grads):
        if k not in grads:
            raise CheckFailed(f'grads has no "{k}" (it has {sorted(map(str, grads))})')
        try:
            expect_close(as_array(grads[k], f'grads["{k}"]'), e_grads[k], f'grads["{k}"]',
                         rtol=rtol, atol=atol)
        except CheckFailed as err:
            raise CheckFailed(f"{err}{note}") from None
    return got, exp


# Quick checks of the functions a training run uses: when the run falls short, the feedback says
# which of them is wrong on a small case of its own.
def _quick_checks():
    rng = np.random.default_rng(999)
    x, w, b = rng.normal(size=(4, 5)), rng.normal(size=(5, 3)), rng.normal(size=3)
    dout = rng.normal(size=(4, 3))
    s, y = rng.normal(size=(6, 4)), rng.integers(0, 4, 6)
    X6 = rng.normal(size=(6, 5))
    gamma, beta = rng.normal(size=5), rng.normal(size=5)

    def affine_forward(st, ref):
        expect_close(_out(st.affine_forward(x, w, b)), ref.affine_forward(x, w, b)[0], "out")

    def affine_backward(st, ref):
        _grads(st.affine_backward(dout, (x, w, b)), ref.affine_backward(dout, (x, w, b)),
               ("dx", "dw", "db"), 1e-6, 1e-9)

    def relu(st, ref):
        expect_close(_out(st.relu_forward(x)), np.maximum(x, 0), "out")
        expect_close(as_array(st.relu_backward(x, x), "dx"), ref.relu_backward(x, x), "dx")

    def softmax_loss(st, ref):
        _grads(st.softmax_loss(s, y), ref.softmax_loss(s, y), ("loss", "dx"), 1e-6, 1e-9)

    def norm(kind, param):
        def check(st, ref):
            args = [x, gamma, beta, param]
            got = st.probe("forward_backward", f"{kind}_forward", f"{kind}_backward", args, x)
            exp = ref.probe("forward_backward", f"{kind}_forward", f"{kind}_backward", args, x)
            expect_close(as_array(got[0], "out"), exp[0], "out")
            _grads(got[1], exp[1], ("dx", "dgamma", "dbeta"), 1e-5, 1e-8)
        return check

    def dropout(st, ref):
        out, dx = st.probe("forward_backward", "dropout_forward", "dropout_backward",
                           [x + 10.0, {"mode": "train", "p": 0.5, "seed": 1}], x)
        expect_close(as_array(dx, "dx"), x * _dropped(out, x + 10.0, 0.5) / 0.5, "dx")

    def net(cls, hidden, kwargs):
        def check(st, ref):
            args = [5, 4, 3] if cls == "TwoLayerNet" else [hidden, 5, 3]
            _net_grads_case(st, ref, cls, args, dict(kwargs, seed=0, weight_scale=0.5), X6, y % 3)
        return check

    def rule(name, config):
        def check(st, ref):
            w0 = np.array([[1.0, -0.5, 0.3], [0.8, -1.2, 0.05]])
            expect_close(as_array(st.probe("rule_path", name, config, w0, 5), "path"),
                         ref.probe("rule_path", name, config, w0, 5), "path")
        return check

    return {"affine_forward": affine_forward, "affine_backward": affine_backward,
            "relu_forward / relu_backward": relu, "softmax_loss": softmax_loss,
            "batchnorm_forward / batchnorm_backward": norm("batchnorm", {"mode": "train"}),
            "layernorm_forward / layernorm_backward": norm("layernorm", {}),
            "dropout_forward / dropout_backward": dropout,
            "TwoLayerNet": net("TwoLayerNet", None, {"reg": 0.1}),
            "FullyConnectedNet": net("FullyConnectedNet", [4, 4], {"reg": 0.1}),
            "FullyConnectedNet with batchnorm": net("FullyConnectedNet", [4, 4],
                                                    {"reg": 0.1, "normalization": "batchnorm"}),
            "sgd": rule("sgd", {"learning_rate": 0.02}),
            "sgd_momentum": rule("sgd_momentum", {"learning_rate": 0.02, "momentum": 0.9}),
            "adam": rule("adam", {"learning_rate": 0.01})}


def _helpers_note(st, ref, names, may: bool = False) -> str:
    """Which of the functions `names` (keys of _quick_checks) are wrong, said as a note (`may`:
    the code graded may or may not use them)."""
    checks = _quick_checks()
    bad = []
    for n in names:
        try:
            checks[n](st, ref)
        except Exception:  # noqa: BLE001 - whatever went wrong, it is not right
            bad.append(n)
    if not bad:
        return ""
    one = len(bad) == 1
    if may:
        return (f" (of the functions it may use, your {', '.join(bad)} {'is' if one else 'are'} wrong "
                f"on a small case: fix {'it' if one else 'them'} first)")
    return (f" (this uses your {', '.join(bad)}, which {'is' if one else 'are'} wrong on a small "
            f"case: fix {'it' if one else 'them'} first)")


@contextlib.contextmanager
def _noting(st, ref, names, may: bool = False):
    """A failed check inside says which of the functions `names` it uses are wrong."""
    try:
        yield
    except CheckFailed as e:
        raise CheckFailed(f"{e}{_helpers_note(st, ref, names, may)}") from None


_LAYERS = ["affine_forward", "affine_backward", "relu_forward / relu_backward", "softmax_loss"]
_TWO_LAYER_USES = _LAYERS
_NORM_USES = [*_LAYERS, "batchnorm_forward / batchnorm_backward", "layernorm_forward / layernorm_backward"]
_DROPOUT_USES = [*_LAYERS, "dropout_forward / dropout_backward"]
# The student's functions a case also runs (case(..., uses=...): a failed case reminds of them).
_RUNS = ("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss")


# ------------------------------------------------------------------------------------------
# Part 1: layers
# ------------------------------------------------------------------------------------------
@tests.test("test_affine_forward", isolated=True)
def _(st, ref):
    x = np.array([[[1.0, 2.0]], [[3.0, 4.0]]])  # (2, 1, 2): reshaped to (2, 2)
    w = np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]])
    b = np.array([0.5, 0.0, -1.0])
    with case("affine_forward", "2 samples of shape (1, 2), M=3"):
        out = _out(st.affine_forward(x, w, b))
        expect_shape(out, (2, 3), "out")
        expect_close(out, [[1.5, 2.0, 0.0], [3.5, 4.0, 0.0]], "out")
    rng = np.random.default_rng(301)
    for shape, M in (((4, 5), 3), ((2, 4, 5, 6), 3), ((1, 7), 1), ((10, 3, 2), 4)):
        x = rng.normal(size=shape)
        D = int(np.prod(shape[1:]))
        w, b = rng.normal(size=(D, M)), rng.normal(size=M)
        with case("affine_forward", f"random x of shape {shape}, M={M}"):
            expect_close(_out(st.affine_forward(x, w, b)), ref.affine_forward(x, w, b)[0], "out",
                         rtol=1e-7, atol=1e-10)


@tests.test("test_affine_backward", isolated=True)
def _(st, ref):
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(4, 2, 3)), rng.normal(size=(6, 5)), rng.normal(size=5)
    dout = rng.normal(size=(4, 5))
    tol = {n: (1e-7, 1e-10) for n in ("dx", "dw", "db")}
    with case("affine_backward", "x (4, 2, 3), w (6, 5)", uses=("affine_forward",)):
        got = _layer_grad_case(st, ref, "affine_forward", "affine_backward", [x, w, b], dout,
                               ("dx", "dw", "db"), tol)
        expect_shape(as_array(got[1][0], "dx"), x.shape, "dx")
    rng = np.random.default_rng(302)
    for shape, M in (((3, 4), 2), ((5, 2, 3, 2), 4), ((1, 6), 1)):
        x = rng.normal(size=shape)
        D = int(np.prod(shape[1:]))
        w, b, dout = rng.normal(size=(D, M)), rng.normal(size=M), rng.normal(size=(shape[0], M))
        with case("affine_backward", f"random x of shape {shape}, M={M}"):
            _grads(st.affine_backward(dout, (x, w, b)), ref.affine_backward(dout, (x, w, b)),
                   ("dx", "dw", "db"), 1e-7, 1e-10)


@tests.test("test_relu", isolated=True)
def _(st, ref):
    x = np.array([[-1.0, 0.0, 2.0], [3.0, -0.5, 0.25]])
    with case("relu_forward", "a 2 x 3 input"):
        expect_close(_out(st.relu_forward(x)), [[0.0, 0.0, 2.0], [3.0, 0.0, 0.25]], "out")
    with case("relu_backward", "a 2 x 3 input, upstream gradient of ones * 2"):
        got = _pair(st.probe("forward_backward", "relu_forward", "relu_backward", [x], 2 * np.ones((2, 3))),
                    "(out, dx)")
        expect_close(as_array(got[1], "dx"), [[0.0, 0.0, 2.0], [2.0, 0.0, 2.0]], "dx")
    rng = np.random.default_rng(303)
    x = rng.normal(size=(3, 4, 5))
    with case("relu_forward", "random input of shape (3, 4, 5)"):
        expect_close(_out(st.relu_forward(x)), np.where(x > 0, x, 0.0), "out")
    dout = rng.normal(size=x.shape)
    with case("relu_backward", "random input of shape (3, 4, 5), gradient"):
        _layer_grad_case(st, ref, "relu_forward", "relu_backward", [x], dout, ("dx",),
                         {"dx": (1e-7, 1e-10)})
    with case("relu_forward", "the input is not modified"):
        got, (args, _) = st.relu_forward.returning_inputs(x)
        expect_close(_out(got), np.where(x > 0, x, 0.0), "out")
        expect_close(args[0], x, "x after the call of relu_forward")
        _, (args, _) = st.relu_backward.returning_inputs(dout, x)
        expect_close(args[1], x, "x (the cache) after the call of relu_backward")


def _loss_layer_cases(st, ref, name, seed, sizes, loss_rtol, dx_rtol):
    rng = np.random.default_rng(seed)
    for N, C, scale in sizes:
        x = rng.normal(size=(N, C)) if scale is None else scale * rng.normal(size=(N, C))
        y = rng.integers(0, C, N)
        label = f"random scores N={N}, C={C}" + ("" if scale is None else f", scale {scale}")
        with case(name, label):
            loss, dx = _pair(st[name](x, y), "(loss, dx)")
            e_loss, e_dx = ref[name](x, y)
            expect_close(as_array(loss, "loss"), e_loss, "loss", rtol=loss_rtol)
            expect_close(as_array(dx, "dx"), e_dx, "dx", rtol=dx_rtol, atol=1e-10)


@tests.test("test_svm_loss", isolated=True)
def _(st, ref):
    with case("svm_loss", "2 samples, 3 classes, worked by hand"):
        loss, dx = _pair(st.svm_loss(np.array([[3.0, 2.0, 4.0], [1.0, -1.0, 0.0]]), np.array([0, 2])),
                         "(loss, dx)")
        expect_close(as_array(loss, "loss"), 2.0, "loss")
        expect_close(as_array(dx, "dx"), [[-0.5, 0.0, 0.5], [0.5, 0.0, -0.5]], "dx")
    _loss_layer_cases(st, ref, "svm_loss", 304, ((50, 10, None), (1, 3, None), (7, 2, None)), 1e-7, 1e-7)


@tests.test("test_softmax_loss", isolated=True)
def _(st, ref):
    with case("softmax_loss", "equal scores for 10 classes: loss ln(10)"):
        loss, dx = _pair(st.softmax_loss(np.zeros((4, 10)), np.array([0, 3, 9, 3])), "(loss, dx)")
        expect_close(as_array(loss, "loss"), np.log(10.0), "loss")
        expect_shape(as_array(dx, "dx"), (4, 10), "dx")
    with case("softmax_loss", "huge scores (1000, 0): must not overflow"):
        loss, dx = _pair(st.softmax_loss(np.array([[1000.0, 0.0]]), np.array([1])), "(loss, dx)")
        expect_close(as_array(loss, "loss"), 1000.0, "loss")
        expect_close(as_array(dx, "dx"), [[1.0, -1.0]], "dx")
    _loss_layer_cases(st, ref, "softmax_loss", 305, ((50, 10, 1.0), (1, 3, 5.0), (8, 4, 300.0)), 1e-7, 1e-6)


# ------------------------------------------------------------------------------------------
# Part 2: normalisation and dropout
# ------------------------------------------------------------------------------------------
def _bn_call(st, x, gamma, beta, bn_param):
    """batchnorm_forward's out and the bn_param the call left (it writes the running averages there)."""
    got, (args, _) = st.batchnorm_forward.returning_inputs(x, gamma, beta, bn_param)
    return _out(got), args[3]


@tests.test("test_batchnorm_forward", isolated=True)
def _(st, ref):
    x = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])
    with case("batchnorm_forward", "train mode, 4 samples, 2 features, gamma=1, beta=0"):
        out, bn = _bn_call(st, x, np.ones(2), np.zeros(2), {"mode": "train"})
        expect_close(out.mean(axis=0), [0.0, 0.0], "the mean of out over the batch", atol=1e-7)
        expect_close(out.std(axis=0), [1.0, 1.0], "the std of out over the batch", rtol=1e-4)
        expect_close(_param(bn, "running_mean", "bn_param"), [0.25, 2.5],
                     'bn_param["running_mean"] after one step')
    with case("batchnorm_forward", "train mode, gamma=(2, 3), beta=(-1, 5)"):
        out, _ = _bn_call(st, x, np.array([2.0, 3.0]), np.array([-1.0, 5.0]), {"mode": "train"})
        expect_close(out.mean(axis=0), [-1.0, 5.0], "the mean of out", atol=1e-7)
        expect_close(out.std(axis=0), [2.0, 3.0], "the std of out", rtol=1e-4)
    rng = np.random.default_rng(306)
    x = 3.0 + 2.0 * rng.normal(size=(20, 5))
    g, b = rng.normal(size=5), rng.normal(size=5)
    with case("batchnorm_forward", "train mode, random (20, 5)"):
        expect_close(_out(st.batchnorm_forward(x, g, b, {"mode": "train"})),
                     ref.batchnorm_forward(x, g, b, {"mode": "train"})[0], "out", rtol=1e-6, atol=1e-9)
    xs = [1.0 + 2.0 * rng.normal(size=(30, 5)) for _ in range(3)]
    with case("batchnorm_forward", "running averages over 3 train steps, momentum 0.8"):
        bn = {"mode": "train", "momentum": 0.8}
        rm, rv = np.zeros(5), np.ones(5)
        for xi in xs:
            _, bn = _bn_call(st, xi, np.ones(5), np.zeros(5), bn)
            rm, rv = 0.8 * rm + 0.2 * xi.mean(axis=0), 0.8 * rv + 0.2 * xi.var(axis=0)
        expect_close(_param(bn, "running_mean", "bn_param"), rm, 'bn_param["running_mean"]')
        expect_close(_param(bn, "running_var", "bn_param"), rv, 'bn_param["running_var"]')
    with case("batchnorm_forward", "test mode uses the running averages, eps=1e-3"):
        bn = {"mode": "test", "running_mean": np.array([1.0, -2.0]), "running_var": np.array([4.0, 0.25]),
              "eps": 1e-3}
        out, bn = _bn_call(st, np.array([[3.0, -1.0]]), np.array([2.0, 1.0]), np.array([0.5, 0.0]), bn)
        expect_close(out, [[2.0 * 2.0 / np.sqrt(4.001) + 0.5, 1.0 / np.sqrt(0.251)]], "out")
        expect_close(_param(bn, "running_mean", "bn_param"), [1.0, -2.0],
                     'bn_param["running_mean"] (unchanged in test mode)')


_BN_TOL = {"dx": (1e-5, 1e-8), "dgamma": (1e-6, 1e-9), "dbeta": (1e-6, 1e-9)}


@tests.test("test_batchnorm_backward", isolated=True)
def _(st, ref):
    rng = np.random.default_rng(1)
    x = 5.0 * rng.normal(size=(6, 4)) + 2.0
    g, b, dout = rng.normal(size=4), rng.normal(size=4), rng.normal(size=(6, 4))
    with case("batchnorm_backward", "random (6, 4)", uses=("batchnorm_forward",)):
        _layer_grad_case(st, ref, "batchnorm_forward", "batchnorm_backward", [x, g, b, {"mode": "train"}],
                         dout, ("dx", "dgamma", "dbeta"), _BN_TOL)
    rng = np.random.default_rng(307)
    for N, D in ((50, 7), (2, 3), (128, 16)):
        x = 4.0 * rng.normal(size=(N, D)) - 1.0
        g, b, dout = rng.normal(size=D), rng.normal(size=D), rng.normal(size=(N, D))
        with case("batchnorm_backward", f"random ({N}, {D})", uses=("batchnorm_forward",)):
            _layer_grad_case(st, ref, "batchnorm_forward", "batchnorm_backward",
                             [x, g, b, {"mode": "train"}], dout, ("dx", "dgamma", "dbeta"), _BN_TOL)


@tests.test("test_layernorm", isolated=True)
def _(st, ref):
    rng = np.random.default_rng(2)
    with case("layernorm_forward", "3 samples, 4 features, gamma=1, beta=0"):
        x = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 10.0, 20.0, 20.0], [-5.0, 0.0, 5.0, 0.0]])
        out = _out(st.layernorm_forward(x, np.ones(4), np.zeros(4), {}))
        expect_close(out.mean(axis=1), [0.0, 0.0, 0.0], "the mean of each row of out", atol=1e-7)
        expect_close(out.std(axis=1), [1.0, 1.0, 1.0], "the std of each row of out", rtol=1e-4)
    x, g, b = 3.0 * rng.normal(size=(4, 5)), rng.normal(size=5), rng.normal(size=5)
    dout = rng.normal(size=(4, 5))
    with case("layernorm_backward", "random (4, 5)", uses=("layernorm_forward",)):
        _layer_grad_case(st, ref, "layernorm_forward", "layernorm_backward", [x, g, b, {}], dout,
                         ("dx", "dgamma", "dbeta"), _BN_TOL)
    rng = np.random.default_rng(308)
    for N, D, eps in ((6, 10, 1e-5), (1, 3, 1e-5), (32, 7, 1e-2)):
        x = 2.0 * rng.normal(size=(N, D)) + 1.0
        g, b, dout = rng.normal(size=D), rng.normal(size=D), rng.normal(size=(N, D))
        args = [x, g, b, {"eps": eps}]
        with case("layernorm_forward / layernorm_backward", f"random ({N}, {D}), eps={eps}"):
            got = _layer_grad_case(st, ref, "layernorm_forward", "layernorm_backward", args, dout,
                                   ("dx", "dgamma", "dbeta"), _BN_TOL)
            expect_close(as_array(got[0], "out"), ref.layernorm_forward(*args)[0], "out",
                         rtol=1e-6, atol=1e-9)


def _dropped(out, x, p: float, name: str = "out") -> np.ndarray:
    """Check that `out` is inverted dropout of x with keep probability p (every unit either 0 or
    x / p); return the mask of the kept units."""
    out = as_array(out, name)
    expect_shape(out, x.shape, name)
    kept = out != 0
    if not np.allclose(out[kept], x[kept] / p, rtol=1e-6, atol=1e-9):
        bad = np.flatnonzero(~np.isclose(out, np.where(kept, x / p, 0.0), rtol=1e-6, atol=1e-9).ravel())
        raise CheckFailed(f"every unit of {name} should be 0 (dropped) or x / p = x / {p} (kept); "
                          f"{len(bad)} of {out.size} units are neither")
    return kept


@tests.test("test_dropout", isolated=True)
def _(st, ref):
    x = np.random.default_rng(3).normal(size=(500, 500)) + 10.0
    for p in (0.25, 0.6):
        with case("dropout_forward", f"train mode, p (keep) = {p}"):
            out = _out(st.dropout_forward(x, {"mode": "train", "p": p, "seed": 123}))
            expect_shape(out, x.shape, "out")
            expect_close(np.mean(out == 0), 1 - p, "the fraction of zeros in out", atol=0.01)
            expect_close(out.mean(), x.mean(), "the mean of out (inverted dropout keeps it)", rtol=0.01)
    with case("dropout_forward", "test mode returns x"):
        expect_close(_out(st.dropout_forward(x, {"mode": "test", "p": 0.3})), x, "out")
    with case("dropout_forward", "kept units are divided by p"):
        kept = _dropped(_out(st.dropout_forward(x, {"mode": "train", "p": 0.4, "seed": 7})), x, 0.4)
        expect_close(kept.mean(), 0.4, "the fraction of kept units", atol=0.01)
    with case("dropout_forward", "the same seed gives the same mask, another one does not"):
        a = _out(st.dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 11}))
        b = _out(st.dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 11}))
        c = _out(st.dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 12}))
        _dropped(a, x, 0.5)
        expect_close(b, a, "out for the same seed")
        if np.array_equal(a, c):
            raise CheckFailed("two different seeds gave the same mask")
    with case("dropout_forward", "without a seed, two calls differ"):
        a = _out(st.dropout_forward(x, {"mode": "train", "p": 0.5}))
        b = _out(st.dropout_forward(x, {"mode": "train", "p": 0.5}))
        _dropped(a, x, 0.5)
        if np.array_equal(a, b):
            raise CheckFailed("two calls without a seed gave the same mask")
    with case("dropout_forward", "p = 1 keeps everything"):
        expect_close(_out(st.dropout_forward(x, {"mode": "train", "p": 1.0, "seed": 0})), x, "out")
    rng = np.random.default_rng(309)
    xs, dout = rng.normal(size=(6, 7)), rng.normal(size=(6, 7))
    with case("dropout_backward", "train mode, a fixed seed"):
        # The mask is the student's own draw: dx must route dout through the units it kept.
        out, dx = _pair(st.probe("forward_backward", "dropout_forward", "dropout_backward",
                                 [xs, {"mode": "train", "p": 0.7, "seed": 5}], dout), "(out, dx)")
        kept = _dropped(out, xs, 0.7, "out of dropout_forward")
        if not kept.any():
            raise CheckFailed("dropout_forward dropped every unit with p = 0.7")
        expect_close(as_array(dx, "dx"), dout * kept / 0.7, "dx (dout times the mask of the forward pass)",
                     rtol=1e-7, atol=1e-10)
    with case("dropout_backward", "test mode passes the gradient through"):
        _, dx = _pair(st.probe("forward_backward", "dropout_forward", "dropout_backward",
                               [xs, {"mode": "test", "p": 0.7}], dout), "(out, dx)")
        expect_close(as_array(dx, "dx"), dout, "dx")


# ------------------------------------------------------------------------------------------
# Part 3: update rules
# ------------------------------------------------------------------------------------------
W0 = np.array([[1.0, -0.5, 0.3], [0.8, -1.2, 0.05]])  # the notebook's (2, 3) "parameter"


def _path_case(st, ref, rule, config, steps, label, **tol):
    with case(rule, label):
        got = as_array(st.probe("rule_path", rule, config, W0, steps), "the path of w")
        expect_close(got, ref.probe("rule_path", rule, config, W0, steps), "the path of w", **tol)


def _step(st, rule, w, dw, config=None):
    args = (w, dw) if config is None else (w, dw, config)
    next_w, config = _pair(st[rule](*args), "(next_w, config)")
    return as_array(next_w, "next_w"), config


@tests.test("test_sgd", isolated=True)
def _(st, ref):
    _path_case(st, ref, "sgd", {"learning_rate": 0.02}, 5, "5 steps, learning_rate 0.02")
    with case("sgd", "the default learning rate is 1e-2"):
        next_w, _ = _step(st, "sgd", np.array([1.0, 2.0]), np.array([1.0, -1.0]))
        expect_close(next_w, [0.99, 2.01], "next_w")
    _path_case(st, ref, "sgd", {"learning_rate": 0.05}, 40, "40 steps, learning_rate 0.05")


@tests.test("test_sgd_momentum", isolated=True)
def _(st, ref):
    _path_case(st, ref, "sgd_momentum", {"learning_rate": 0.02, "momentum": 0.9}, 5,
               "5 steps, learning_rate 0.02, momentum 0.9")
    for lr, mu, n in ((0.01, 0.5, 30), (0.05, 0.99, 60), (0.02, 0.0, 10)):
        _path_case(st, ref, "sgd_momentum", {"learning_rate": lr, "momentum": mu}, n,
                   f"{n} steps, learning_rate {lr}, momentum {mu}", rtol=1e-6, atol=1e-9)
    with case("sgd_momentum", "the velocity is stored in config"):
        next_w, cfg = _step(st, "sgd_momentum", np.array([1.0, 2.0]), np.array([1.0, -1.0]),
                            {"learning_rate": 0.1, "momentum": 0.9})
        expect_close(as_array(_cfg(cfg, "velocity"), "velocity"), [-0.1, 0.1],
                     'config["velocity"] after one step')
        next_w, cfg = _step(st, "sgd_momentum", next_w, np.array([1.0, -1.0]), cfg)
        expect_close(as_array(_cfg(cfg, "velocity"), "velocity"), [-0.19, 0.19],
                     'config["velocity"] after two steps')
        expect_close(next_w, [0.71, 2.29], "w after two steps")


@tests.test("test_nesterov", isolated=True)
def _(st, ref):
    _path_case(st, ref, "nesterov", {"learning_rate": 0.02, "momentum": 0.9}, 5,
               "5 steps, learning_rate 0.02, momentum 0.9")
    for lr, mu, n in ((0.01, 0.5, 30), (0.05, 0.95, 60)):
        _path_case(st, ref, "nesterov", {"learning_rate": lr, "momentum": mu}, n,
                   f"{n} steps, learning_rate {lr}, momentum {mu}", rtol=1e-6, atol=1e-9)
    with case("nesterov", "defaults and state"):
        next_w, cfg = _step(st, "nesterov", np.array([1.0]), np.array([2.0]))
        expect_close(as_array(_cfg(cfg, "velocity"), "velocity"), [-0.02], 'config["velocity"]')
        expect_close(next_w, [1.0 - 0.9 * 0.02 - 0.02], "next_w")


@tests.test("test_adagrad", isolated=True)
def _(st, ref):
    _path_case(st, ref, "adagrad", {"learning_rate": 0.1}, 5, "5 steps, learning_rate 0.1")
    for lr, eps, n in ((0.5, 1e-10, 40), (0.05, 1e-3, 20)):
        _path_case(st, ref, "adagrad", {"learning_rate": lr, "epsilon": eps}, n,
                   f"{n} steps, learning_rate {lr}, epsilon {eps}", rtol=1e-6, atol=1e-9)
    with case("adagrad", "the first step has size learning_rate in every coordinate"):
        next_w, cfg = _step(st, "adagrad", np.zeros(3), np.array([1e-3, -5.0, 200.0]), {"learning_rate": 0.1})
        expect_close(next_w, [-0.1, 0.1, -0.1], "next_w", rtol=1e-6)
        expect_close(as_array(_cfg(cfg, "cache"), "cache"), [1e-6, 25.0, 4e4], 'config["cache"]')


@tests.test("test_rmsprop", isolated=True)
def _(st, ref):
    _path_case(st, ref, "rmsprop", {"learning_rate": 0.01, "decay_rate": 0.99}, 5,
               "5 steps, learning_rate 0.01, decay_rate 0.99")
    for lr, rho, n in ((0.003, 0.9, 40), (0.02, 0.5, 25)):
        _path_case(st, ref, "rmsprop", {"learning_rate": lr, "decay_rate": rho}, n,
                   f"{n} steps, learning_rate {lr}, decay_rate {rho}", rtol=1e-6, atol=1e-9)
    with case("rmsprop", "defaults and state after one step"):
        next_w, cfg = _step(st, "rmsprop", np.array([1.0, 1.0]), np.array([3.0, -0.5]))
        expect_close(as_array(_cfg(cfg, "cache"), "cache"), [0.09, 0.0025], 'config["cache"]')
        expect_close(next_w, [1.0 - 0.01 * 3.0 / (0.3 + 1e-8), 1.0 + 0.01 * 0.5 / (0.05 + 1e-8)], "next_w")


@tests.test("test_adam", isolated=True)
def _(st, ref):
    _path_case(st, ref, "adam", {"learning_rate": 0.01}, 5, "5 steps, learning_rate 0.01")
    with case("adam", "the first step has size learning_rate (bias correction)"):
        next_w, cfg = _step(st, "adam", np.zeros(3), np.array([1e-4, -3.0, 50.0]), {"learning_rate": 0.1})
        expect_close(next_w, [-0.1, 0.1, -0.1], "next_w", rtol=1e-3)
        expect_equal(_cfg(cfg, "t"), 1, 'config["t"] after one step')
    for lr, b1, b2, n in ((0.05, 0.9, 0.999, 60), (0.01, 0.5, 0.9, 30), (0.002, 0.0, 0.99, 10)):
        _path_case(st, ref, "adam", {"learning_rate": lr, "beta1": b1, "beta2": b2}, n,
                   f"{n} steps, learning_rate {lr}, betas ({b1}, {b2})", rtol=1e-6, atol=1e-9)
    with case("adam", "the state after two steps"):
        next_w, cfg = _step(st, "adam", np.array([1.0]), np.array([2.0]))
        next_w, cfg = _step(st, "adam", next_w, np.array([4.0]), cfg)
        expect_close(as_array(_cfg(cfg, "m"), "m"), [0.9 * 0.2 + 0.4], 'config["m"]')
        expect_close(as_array(_cfg(cfg, "v"), "v"), [0.999 * 0.004 + 0.001 * 16], 'config["v"]')
        expect_equal(_cfg(cfg, "t"), 2, 'config["t"]')


# ------------------------------------------------------------------------------------------
# Part 4: the two-layer network
# ------------------------------------------------------------------------------------------
_TWO_LAYER_SHAPES = (("W1", "D", "H"), ("b1", "H"), ("W2", "H", "C"), ("b2", "C"))


def _check_two_layer_params(params, D, H, C):
    for k, *dims in _TWO_LAYER_SHAPES:
        size = {"D": D, "H": H, "C": C}
        expect_shape(_param(params, k, "self.params"), tuple(size[d] for d in dims), f'params["{k}"]')


@tests.test("test_two_layer_net", isolated=True)
def _(st, ref):
    kwargs = dict(input_dim=5, hidden_dim=4, num_classes=3, weight_scale=1e-2, seed=0)
    with case("TwoLayerNet", "input_dim 5, hidden_dim 4, 3 classes: parameters"):
        params = _run(st, "TwoLayerNet", [], kwargs)["params"]
        _check_two_layer_params(params, 5, 4, 3)
        expect_close(_param(params, "b1"), np.zeros(4), 'params["b1"] at initialisation')
        big = _run(st, "TwoLayerNet", [500, 400, 3], dict(weight_scale=0.5, seed=1))["params"]
        expect_close(np.std(_param(big, "W1")), 0.5, 'the std of params["W1"] with weight_scale=0.5',
                     rtol=0.02)
    X, y = np.random.default_rng(0).normal(size=(6, 5)), np.array([0, 1, 2, 0, 1, 2])
    with case("TwoLayerNet.loss", "small weights: loss about ln(3), scores of shape (6, 3)", uses=_RUNS):
        with _noting(st, ref, _TWO_LAYER_USES):
            scores, result = _run(st, "TwoLayerNet", [], kwargs, calls=[[X], [X, y]])["results"]
            expect_shape(as_array(scores, "scores"), (6, 3), "scores")
            loss, _ = _loss_grads(result, "TwoLayerNet.loss(X, y)")
            expect_close(as_array(loss, "loss"), np.log(3.0), "loss", rtol=1e-2)
    rng = np.random.default_rng(310)
    N, D, H, C = 7, 6, 5, 4
    with case("TwoLayerNet", "construction with input_dim 6, hidden_dim 5, 4 classes"):
        _check_two_layer_params(_run(st, "TwoLayerNet", [D, H, C], {"seed": 3})["params"], D, H, C)
    params = {k: rng.normal(size=tuple({"D": D, "H": H, "C": C}[d] for d in dims))
              for k, *dims in _TWO_LAYER_SHAPES}
    X, y = rng.normal(size=(N, D)), rng.integers(0, C, N)
    given = dict(params=params, reg=0.3)
    with case("TwoLayerNet.loss", "given weights, reg=0.3: scores", uses=("affine_forward", "relu_forward")):
        with _noting(st, ref, _TWO_LAYER_USES):
            got = _run(st, "TwoLayerNet", [D, H, C], {"seed": 3}, calls=[[X]], **given)["results"][0]
            expected = _run(ref, "TwoLayerNet", [D, H, C], {"seed": 3}, calls=[[X]], **given)["results"][0]
            expect_close(as_array(got, "scores"), expected, "scores", rtol=1e-7, atol=1e-9)
    with case("TwoLayerNet.loss", "given weights, reg=0.3: loss", uses=_RUNS):
        with _noting(st, ref, _TWO_LAYER_USES):
            got = _run(st, "TwoLayerNet", [D, H, C], {"seed": 3}, calls=[[X, y]], **given)["results"][0]
            expected = _run(ref, "TwoLayerNet", [D, H, C], {"seed": 3}, calls=[[X, y]], **given)["results"][0]
            expect_close(as_array(_loss_grads(got, "TwoLayerNet.loss(X, y)")[0], "loss"), expected[0],
                         "loss (data loss + 0.5 * reg * sum of W**2)", rtol=1e-7)


@tests.test("test_two_layer_net_grad", isolated=True)
def _(st, ref):
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(3, 5)), np.array([0, 2, 1])
    for reg in (0.0, 0.7):
        with case("TwoLayerNet.loss", f"gradients, reg={reg}", uses=_RUNS):
            with _noting(st, ref, _TWO_LAYER_USES):
                _net_grads_case(st, ref, "TwoLayerNet", [], dict(input_dim=5, hidden_dim=6, num_classes=3,
                                                                 weight_scale=0.5, reg=reg, seed=5), X, y)
    rng = np.random.default_rng(311)
    N, D, H, C = 9, 4, 8, 3
    params = {k: rng.normal(size=tuple({"D": D, "H": H, "C": C}[d] for d in dims))
              for k, *dims in _TWO_LAYER_SHAPES}
    X, y = rng.normal(size=(N, D)), rng.integers(0, C, N)
    with case("TwoLayerNet.loss", "given weights, reg=0.3: gradients", uses=_RUNS):
        with _noting(st, ref, _TWO_LAYER_USES):
            _net_grads_case(st, ref, "TwoLayerNet", [D, H, C], dict(reg=0.3, seed=3), X, y, params=params)


@tests.test("test_two_layer_accuracy", isolated=True)
def _(st, ref):
    name, _, y_test, _, num_classes = _data()
    s = SETTINGS[name]
    with case("TwoLayerNet trained with sgd_momentum", f"{name}, settings {s['two_layer']}",
              uses=("TwoLayerNet.loss", "sgd_momentum", *_RUNS)):
        with _noting(st, ref, [*_LAYERS, "TwoLayerNet", "sgd_momentum"]):
            scores = as_array(st.with_timeout(900).probe("two_layer_train", name, s["scale"], s["augment"],
                                                         s["two_layer"], 2024, 1), "scores")
            expect_shape(scores, (len(y_test), num_classes),
                         "the trained network's scores of the test images")
            acc = float(np.mean(np.argmax(scores, axis=1) == y_test))  # scored here, labels held here
            expect_at_least(acc, s["targets"]["two_layer"], "test accuracy")


# ------------------------------------------------------------------------------------------
# Part 5: the fully connected network
# ------------------------------------------------------------------------------------------
@tests.test("test_fc_net", isolated=True)
def _(st, ref):
    rng = np.random.default_rng(5)
    N, D, C = 2, 15, 10
    X, y = rng.normal(size=(N, D)), rng.integers(0, C, N)
    with case("FullyConnectedNet", "hidden_dims [20, 30]: parameter names and shapes"):
        params = _run(st, "FullyConnectedNet", [[20, 30]],
                      dict(input_dim=D, num_classes=C, weight_scale=5e-2, seed=0))["params"]
        expected = {"W1": (15, 20), "b1": (20,), "W2": (20, 30), "b2": (30,), "W3": (30, 10), "b3": (10,)}
        if not isinstance(params, dict) or set(params) != set(expected):
            raise CheckFailed(f"params should have the keys {sorted(expected)}, got "
                              f"{sorted(map(str, params)) if isinstance(params, dict) else params!r}")
        for k, shape in expected.items():
            expect_shape(_param(params, k), shape, f'params["{k}"]')
    for reg in (0.0, 3.14):
        with case("FullyConnectedNet.loss", f"hidden_dims [20, 30], reg={reg}: gradients", uses=_RUNS):
            with _noting(st, ref, _LAYERS):
                _net_grads_case(st, ref, "FullyConnectedNet", [[20, 30]],
                                dict(input_dim=D, num_classes=C, reg=reg, weight_scale=5e-2, seed=0), X, y)
    rng = np.random.default_rng(312)
    for hidden in ([], [7], [6, 5, 4, 3]):
        D, C, N = 5, 4, 6
        kwargs = dict(input_dim=D, num_classes=C, reg=0.2, seed=1)
        shapes = _run(ref, "FullyConnectedNet", [hidden], kwargs)["params"]  # W1, b1, W2, ... in order
        params = {k: rng.normal(size=np.shape(v)) for k, v in shapes.items()}
        X, y = rng.normal(size=(N, D)), rng.integers(0, C, N)
        with case("FullyConnectedNet.loss", f"hidden_dims {hidden}, reg=0.2, given weights", uses=_RUNS):
            with _noting(st, ref, _LAYERS):
                got = _run(st, "FullyConnectedNet", [hidden], kwargs, params=params, calls=[[X]])
                expected = _run(ref, "FullyConnectedNet", [hidden], kwargs, params=params, calls=[[X]])
                got, expected = got["results"][0], expected["results"][0]
                expect_close(as_array(got, "scores"), expected, "scores", rtol=1e-7, atol=1e-9)
                _net_grads_case(st, ref, "FullyConnectedNet", [hidden], kwargs, X, y, params=params,
                                check_loss=True)


@tests.test("test_fc_net_norm", isolated=True)
def _(st, ref):
    rng = np.random.default_rng(6)
    N, D, C = 4, 8, 5
    X, y = rng.normal(size=(N, D)), rng.integers(0, C, N)
    for norm in ("batchnorm", "layernorm"):
        kwargs = dict(input_dim=D, num_classes=C, normalization=norm, reg=0.1, weight_scale=0.3, seed=0)
        with case("FullyConnectedNet.loss", f"normalization={norm!r}, hidden_dims [9, 7]: gradients",
                  uses=(*_RUNS, f"{norm}_forward", f"{norm}_backward")):
            with _noting(st, ref, _NORM_USES):
                params = _run(st, "FullyConnectedNet", [[9, 7]], kwargs)["params"]
                for k in ("gamma1", "beta1", "gamma2", "beta2"):
                    if not isinstance(params, dict) or k not in params:
                        have = sorted(map(str, params)) if isinstance(params, dict) else repr(params)
                        raise CheckFailed(f'with normalization, params should have "{k}" (it has {have})')
                _net_grads_case(st, ref, "FullyConnectedNet", [[9, 7]], kwargs, X, y)
    with case("FullyConnectedNet.loss", "batchnorm: test mode uses the running averages",
              uses=(*_RUNS, "batchnorm_forward", "batchnorm_backward")):
        with _noting(st, ref, _NORM_USES):
            kwargs = dict(input_dim=D, num_classes=C, normalization="batchnorm", seed=2, weight_scale=0.5)
            exp = _run(ref, "FullyConnectedNet", [[6]], kwargs, calls=[[X, y], [X[:1]]])
            got = _run(st, "FullyConnectedNet", [[6]], kwargs, params=exp["params"], calls=[[X, y], [X[:1]]])
            bn = got["bn_params"]
            for key in ("running_mean", "running_var"):
                if not bn or not isinstance(bn[0], dict) or key not in bn[0]:
                    raise CheckFailed(f'after a training pass bn_params[0] has no "{key}": pass '
                                      "self.bn_params[i] to batchnorm_forward")
                expect_close(as_array(bn[0][key], key), exp["bn_params"][0][key],
                             f'bn_params[0]["{key}"] after one training pass (written by batchnorm_forward)')
            expect_close(as_array(got["results"][1], "scores"), exp["results"][1],
                         "scores of one sample in test mode", rtol=1e-6, atol=1e-9)
    with case("FullyConnectedNet", "normalization=None has no gamma or beta"):
        params = _run(st, "FullyConnectedNet", [[6, 6]], dict(input_dim=D, num_classes=C, seed=2))["params"]
        expected = {"W1", "b1", "W2", "b2", "W3", "b3"}
        if not isinstance(params, dict) or set(params) != expected:
            raise CheckFailed(f"without normalization params should hold only W and b, {sorted(expected)}; "
                              f"got {sorted(map(str, params)) if isinstance(params, dict) else params!r}")


@tests.test("test_fc_net_dropout", isolated=True)
def _(st, ref):
    rng = np.random.default_rng(7)
    N, D, C = 3, 10, 4
    X, y = rng.normal(size=(N, D)), rng.integers(0, C, N)
    kwargs = dict(input_dim=D, num_classes=C, dropout_keep_ratio=0.5, weight_scale=0.3, seed=123)
    P = _run(ref, "FullyConnectedNet", [[12, 9]], kwargs)["params"]
    with case("FullyConnectedNet.loss", "dropout_keep_ratio 0.5, seed 123: gradients",
              uses=(*_RUNS, "dropout_forward", "dropout_backward")):
        with _noting(st, ref, _DROPOUT_USES):
            got = _run(st, "FullyConnectedNet", [[12, 9]], kwargs, params=P, calls=[[X, y]],
                       record_dropout=True)
            seen = got["masks"] or []
            if len(seen) != 2:
                raise CheckFailed("with dropout_keep_ratio=0.5 and two hidden layers, loss(X, y) should "
                                  "call dropout_forward twice (after each hidden ReLU); it called it "
                                  f"{len(seen)} times")
            # The masks are the student's own draws: the reference runs with the same ones.
            masks = []
            for i, (h, out, _p) in enumerate(seen):
                h = as_array(h, "the input of dropout_forward")
                kept = _dropped(out, h, 0.5, f"the output of dropout_forward in hidden layer {i + 1}")
                masks.append(kept / 0.5)
            exp = _run(ref, "FullyConnectedNet", [[12, 9]], kwargs, params=P, calls=[[X, y]],
                       dropout_masks=masks)
            loss, grads = _loss_grads(got["results"][0], "FullyConnectedNet.loss(X, y)")
            e_loss, e_grads = exp["results"][0]
            expect_close(as_array(loss, "loss"), e_loss, "loss (with the masks your dropout_forward drew)",
                         rtol=1e-7)
            for k in sorted(e_grads):
                if k not in grads:
                    raise CheckFailed(f'grads has no "{k}" (it has {sorted(map(str, grads))})')
                expect_close(as_array(grads[k], f'grads["{k}"]'), e_grads[k], f'grads["{k}"]',
                             rtol=1e-6, atol=1e-9)
    with case("FullyConnectedNet.loss", "dropout is off in test mode",
              uses=(*_RUNS, "dropout_forward", "dropout_backward")):
        with _noting(st, ref, _DROPOUT_USES):
            got = _run(st, "FullyConnectedNet", [[12, 9]], kwargs, params=P,
                       calls=[[X, y], [X], [X]])["results"]
            plain = dict(kwargs, dropout_keep_ratio=1.0)
            expected = _run(ref, "FullyConnectedNet", [[12, 9]], plain, params=P, calls=[[X]])["results"][0]
            for scores in got[1:]:
                expect_close(as_array(scores, "scores"), expected,
                             "scores in test mode (should equal the network without dropout)")


@tests.test("test_overfit", isolated=True)
def _(st, ref):
    name, _, _, y_train, _ = _data()
    s = SETTINGS[name]
    overfit = dict(hidden_dims=[100, 100, 100, 100], **s["overfit"])
    with case("FullyConnectedNet with 4 hidden layers", f"overfitting 50 samples, {overfit}",
              uses=("FullyConnectedNet.loss", "sgd", *_RUNS)):
        with _noting(st, ref, [*_LAYERS, "FullyConnectedNet", "sgd"]):
            seen = st.with_timeout(600).probe("overfit_run", name, s["scale"], s["augment"], overfit, 50, 77)
            if not isinstance(seen, list) or not seen:
                raise CheckFailed("the training ran no epoch")
            accs = []
            for pred in seen:
                pred = as_array(pred, "the predicted labels")
                expect_shape(pred, (50,), "the predicted labels of the 50 samples")
                accs.append(float(np.mean(pred == y_train[:50])))  # scored here, labels held here
            expect_at_least(max(accs), 1.0, "the best training accuracy on the 50 samples")


@tests.test("test_best_model")
def _(st, ref):
    name, X_test, y_test, _, num_classes = _data()
    target = SETTINGS[name]["targets"]["best"]
    with case("best_model", f"test accuracy on {name}", uses=("FullyConnectedNet.loss",)):
        model = st.best_model.get()
        if model is None:
            raise CheckFailed("best_model is None: the cell above is not implemented yet. Train your "
                              "network there and store it in best_model.")
        with _noting(st, ref, [*_LAYERS, "batchnorm_forward / batchnorm_backward",
                               "layernorm_forward / layernorm_backward", "dropout_forward / dropout_backward",
                               "FullyConnectedNet", "FullyConnectedNet with batchnorm", "adam"], may=True):
            scores = as_array(model.loss(X_test), "best_model.loss(X_test)")
            expect_shape(scores, (len(y_test), num_classes), "best_model.loss(X_test)")
            expect_at_least(float(np.mean(np.argmax(scores, axis=1) == y_test)), target, "test accuracy")
