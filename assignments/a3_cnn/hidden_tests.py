"""Hidden tests of assignment 3 (trusted: run by the grader, never in the student's kernel).

Every test repeats the visible cases of its cell and adds hidden ones. Inputs are made here;
`st` calls the student's code in the sandbox, `ref` the source notebook's solutions here; every
comparison happens here, against torch (as the old in-notebook tests did) or against the
reference solution's analytic gradients (where the visible test used numeric ones).

Parts 1-5 (numpy) are graded in an isolated kernel that runs only their answer cells and the
given layers, without torch; Part 6 (PyTorch) in the kernel that ran the notebook. Accuracies
are computed here from predictions taken out of the sandbox, with the labels held here.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autograder.hidden import NUMPY_ONLY, HiddenTests, Isolated, StudentError, as_array, case
from autograder.inside.probes.a3_cnn import notebook_data
from dlcv.checks import CheckFailed, expect_at_least, expect_close, expect_equal, expect_shape

# The notebook's SETTINGS (its data cell), per data set.
SETTINGS = SOURCE.value("SETTINGS")  # SOURCE: the source notebook (autograder.hidden.Spec)

# What the reference answers run after: the notebook's imports. (torch_best, the answer cell that
# trains the notebook's best model on its data, is not run: its test scores the student's model.)
PREAMBLE = """\
import copy
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
"""

NUMPY_CELLS = ["conv_forward_naive", "conv_backward_naive", "max_pool_naive", "conv_fast",
               "spatial_batchnorm", "spatial_groupnorm", "given_layers", "convnet"]

tests = HiddenTests(
    probes="a3_cnn", preamble=PREAMBLE, not_in_reference=("torch_best",),
    # torch.optim needs sympy, the photo of Part 1 scikit-image (and scipy): only sklearn is out.
    blocked=("sklearn",),
    dlcv=["augment", "checks", "data", "gradcheck", "plots", "solver", "timing"],
    isolated=Isolated(cells=NUMPY_CELLS, preamble="import numpy as np", blocked=NUMPY_ONLY,
                      dlcv=["augment", "data", "solver"]),
)


@functools.lru_cache(maxsize=1)
def _data() -> dict:
    """The notebook's data, prepared here as the notebook does (the labels stay here)."""
    return notebook_data("auto", SETTINGS)


def _conv_param(stride, pad):
    return {"stride": stride, "pad": pad}


def _pool_param(p):
    return {"pool_height": p[0], "pool_width": p[1], "stride": p[2]}


def _t(a, grad=False):
    return torch.tensor(a, requires_grad=grad)


def _pair(res, what: str):
    """(out, cache) from a forward pass, or CheckFailed saying what came back."""
    if not isinstance(res, tuple) or len(res) != 2:
        raise CheckFailed(f"{what} should return a tuple (out, cache), got {type(res).__name__}")
    return res[0]


def _raises(kind: str, call, what: str) -> None:
    """`call()` must raise `kind`; a function that is not written yet says so."""
    try:
        call()
    except StudentError as e:
        if e.is_a(kind):
            return
        if e.is_a("NotImplementedError"):
            raise
        raise CheckFailed(f"{what} should raise {kind}, but raised {e.name}: {e.message}") from None
    raise CheckFailed(f"{what} should raise {kind}, but returned without an error")


def _forward_backward(st, forward, backward, dout, args, expected_out, expected_grads, names,
                      rtol, atol, forward_cell_note: str | None = None, tols: dict | None = None):
    """Run the student's forward and backward (the cache stays in the sandbox), and compare every
    gradient (to rtol, atol, or tols[name] = (rtol, atol)); a wrong gradient says whether the
    forward output is wrong too."""
    out, grads = st.probe("forward_backward", forward, backward, dout, *args)
    if len(names) == 1:
        grads = (grads,)
    elif not isinstance(grads, tuple) or len(grads) != len(names):
        length = f" of length {len(grads)}" if isinstance(grads, tuple) else ""
        raise CheckFailed(f"{backward} should return a tuple ({', '.join(names)}), got "
                          f"{type(grads).__name__}{length}")
    for got, expected, name in zip(grads, expected_grads, names, strict=True):
        try:
            expect_close(got, expected, name, *(tols or {}).get(name, (rtol, atol)))
        except CheckFailed as e:
            try:
                expect_close(out, expected_out, "out", rtol=1e-6, atol=1e-9)
                note = ""
            except CheckFailed:
                note = (f" ({forward}'s output is wrong too on this case: "
                        f"{forward_cell_note or 'make its test pass first, then the backward pass'})")
            raise CheckFailed(f"{e}{note}") from None


# ------------------------------------------------------------------------------------------
# Part 1: convolution, naively
# ------------------------------------------------------------------------------------------
_X33 = np.arange(9.0).reshape(1, 1, 3, 3)  # [[0 1 2] [3 4 5] [6 7 8]]


def _conv_forward_cases(st, name, seed, settings):
    f = st[name]
    rng = np.random.default_rng(seed)
    for shape, wshape, stride, pad in settings:
        x, w, b = rng.normal(size=shape), rng.normal(size=wshape), rng.normal(size=wshape[0])
        with case(name, f"x {shape}, w {wshape}, stride {stride}, pad {pad}, against torch"):
            expected = F.conv2d(_t(x), _t(w), _t(b), stride=stride, padding=pad).numpy()
            expect_close(_pair(f(x, w, b, _conv_param(stride, pad)), name), expected, "out",
                         rtol=1e-7, atol=1e-10)


def _conv_not_tiling(st, name, label):
    with case(name, label):
        _raises("ValueError", lambda: st[name](np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 2, 2)), np.zeros(1),
                                               _conv_param(2, 0)),
                f"{name} on a 5x5 input with a 2x2 filter and stride 2 ((5 - 2) is not a multiple of 2)")


def _conv_backward_cases(st, forward, backward, seed, settings):
    rng = np.random.default_rng(seed)
    for shape, wshape, stride, pad in settings:
        x, w, b = rng.normal(size=shape), rng.normal(size=wshape), rng.normal(size=wshape[0])
        tx, tw, tb = _t(x, True), _t(w, True), _t(b, True)
        tout = F.conv2d(tx, tw, tb, stride=stride, padding=pad)
        dout = rng.normal(size=tuple(tout.shape))
        tout.backward(_t(dout))
        with case(backward, f"x {shape}, w {wshape}, stride {stride}, pad {pad}, against torch",
                  uses=(forward,)):
            _forward_backward(st, forward, backward, dout, (x, w, b, _conv_param(stride, pad)),
                              tout.detach().numpy(), (tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()),
                              ("dx", "dw", "db"), rtol=1e-7, atol=1e-10)


@tests.test("test_conv_forward_naive", isolated=True)
def _(st, ref):
    f = st.conv_forward_naive
    with case("conv_forward_naive", "one 3x3 image, one 2x2 filter, stride 1, pad 0"):
        out = _pair(f(_X33, np.array([[[[1.0, 0.0], [0.0, -1.0]]]]), np.array([0.5]), _conv_param(1, 0)),
                    "conv_forward_naive")
        expect_shape(out, (1, 1, 2, 2), "out")
        expect_close(out, [[[[-3.5, -3.5], [-3.5, -3.5]]]], "out")
    with case("conv_forward_naive", "a 2x2 filter of ones on the same image, pad 1, stride 3"):
        out = _pair(f(_X33, np.ones((1, 1, 2, 2)), np.array([0.0]), _conv_param(3, 1)), "conv_forward_naive")
        expect_close(out, [[[[0.0, 2.0], [6.0, 8.0]]]], "out")
    _conv_forward_cases(st, "conv_forward_naive", 401, [
        ((2, 3, 7, 7), (4, 3, 3, 3), 1, 1), ((1, 2, 8, 6), (3, 2, 2, 2), 2, 0),
        ((3, 1, 9, 9), (2, 1, 5, 5), 2, 2), ((2, 3, 4, 4), (1, 3, 4, 4), 1, 0)])
    _conv_not_tiling(st, "conv_forward_naive", "windows that do not tile: 5x5 input, 2x2 filter, stride 2")


@tests.test("test_conv_backward_naive", isolated=True)
def _(st, ref):
    rng = np.random.default_rng(0)  # the visible case: numeric gradients there, the reference's here
    x, w, b = rng.normal(size=(2, 2, 5, 5)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)
    dout = rng.normal(size=(2, 3, 3, 3))
    with case("conv_backward_naive", "x (2, 2, 5, 5), w (3, 2, 3, 3), stride 2, pad 1: numeric gradients",
              uses=("conv_forward_naive",)):
        args = (x, w, b, _conv_param(2, 1))
        out, grads = ref.probe("forward_backward", "conv_forward_naive", "conv_backward_naive", dout, *args)
        _forward_backward(st, "conv_forward_naive", "conv_backward_naive", dout, args, out, grads,
                          ("dx", "dw", "db"), rtol=1e-7, atol=1e-10)
    _conv_backward_cases(st, "conv_forward_naive", "conv_backward_naive", 402, [
        ((2, 3, 6, 6), (4, 3, 3, 3), 1, 1), ((1, 2, 8, 6), (3, 2, 2, 2), 2, 0),
        ((2, 1, 9, 9), (2, 1, 5, 5), 2, 2)])


# ------------------------------------------------------------------------------------------
# Part 2: max pooling
# ------------------------------------------------------------------------------------------
_X44 = np.array([[1.0, 2.0, 5.0, 0.0], [3.0, 4.0, 1.0, 1.0], [0.0, -1.0, 9.0, 8.0], [-2.0, -3.0, 7.0, 6.0]])


@tests.test("test_max_pool_forward", isolated=True)
def _(st, ref):
    f = st.max_pool_forward_naive
    with case("max_pool_forward_naive", "a 4x4 image, 2x2 windows, stride 2"):
        out = _pair(f(_X44[None, None], _pool_param((2, 2, 2))), "max_pool_forward_naive")
        expect_shape(out, (1, 1, 2, 2), "out")
        expect_close(out, [[[[4.0, 5.0], [0.0, 9.0]]]], "out")
    rng = np.random.default_rng(403)
    for shape, p in (((2, 3, 8, 8), (2, 2, 2)), ((1, 2, 7, 5), (3, 2, 2)), ((3, 1, 6, 6), (3, 3, 1))):
        x = rng.normal(size=shape)
        with case("max_pool_forward_naive", f"x {shape}, pool {p[:2]}, stride {p[2]}, against torch"):
            expected = F.max_pool2d(_t(x), (p[0], p[1]), stride=p[2]).numpy()
            expect_close(_pair(f(x, _pool_param(p)), "max_pool_forward_naive"), expected, "out")


_POOL = ("max_pool_forward_naive",)  # what a case of max_pool_backward_naive also runs (case(uses=...))


@tests.test("test_max_pool_backward", isolated=True)
def _(st, ref):
    fb = functools.partial(_forward_backward, st, "max_pool_forward_naive", "max_pool_backward_naive")
    with case("max_pool_backward_naive", "the 4x4 image above, upstream gradient [[1, 2], [3, 4]]",
              uses=_POOL):
        fb(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), (_X44[None, None], _pool_param((2, 2, 2))),
           [[[[4.0, 5.0], [0.0, 9.0]]]],
           ([[[[0.0, 0.0, 2.0, 0.0], [0.0, 1.0, 0.0, 0.0], [3.0, 0.0, 4.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]],),
           ("dx",), rtol=1e-6, atol=1e-8)
    rng = np.random.default_rng(1)
    x, dout = rng.normal(size=(2, 2, 6, 6)), rng.normal(size=(2, 2, 3, 3))
    with case("max_pool_backward_naive", "x (2, 2, 6, 6), 2x2 windows, stride 2: numeric gradient",
              uses=_POOL):
        args = (x, _pool_param((2, 2, 2)))
        out, dx = ref.probe("forward_backward", "max_pool_forward_naive", "max_pool_backward_naive", dout,
                            *args)
        fb(dout, args, out, (dx,), ("dx",), rtol=1e-7, atol=1e-10)
    rng = np.random.default_rng(404)
    for shape, p in (((2, 3, 8, 8), (2, 2, 2)), ((1, 2, 7, 5), (3, 2, 2)), ((2, 1, 6, 6), (3, 3, 1))):
        x = rng.normal(size=shape)
        tx = _t(x, True)
        tout = F.max_pool2d(tx, (p[0], p[1]), stride=p[2])
        dout = rng.normal(size=tuple(tout.shape))
        tout.backward(_t(dout))
        with case("max_pool_backward_naive", f"x {shape}, pool {p[:2]}, stride {p[2]}, against torch",
                  uses=_POOL):
            fb(dout, (x, _pool_param(p)), tout.detach().numpy(), (tx.grad.numpy(),), ("dx",),
               rtol=1e-6, atol=1e-8)
    with case("max_pool_backward_naive", "a tie: the gradient goes to the first maximum only", uses=_POOL):
        fb(np.array([[[[5.0]]]]), (np.array([[[[2.0, 2.0], [1.0, 2.0]]]]), _pool_param((2, 2, 2))),
           [[[[2.0]]]], ([[[[5.0, 0.0], [0.0, 0.0]]]],), ("dx",), rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------------------------------
# Part 3: fast convolution
# ------------------------------------------------------------------------------------------
@tests.test("test_conv_fast_forward", isolated=True)
def _(st, ref):
    _conv_forward_cases(st, "conv_forward_fast", 2, [((2, 3, 9, 9), (4, 3, 3, 3), 2, 1)])
    _conv_forward_cases(st, "conv_forward_fast", 405, [
        ((3, 1, 8, 8), (5, 1, 3, 3), 1, 1), ((1, 2, 8, 6), (3, 2, 2, 2), 2, 0),
        ((2, 3, 12, 12), (2, 3, 5, 5), 3, 1), ((2, 3, 4, 4), (1, 3, 4, 4), 1, 0)])
    _conv_not_tiling(st, "conv_forward_fast", "windows that do not tile: a ValueError")


@tests.test("test_conv_fast_backward", isolated=True)
def _(st, ref):
    _conv_backward_cases(st, "conv_forward_fast", "conv_backward_fast", 3,
                         [((2, 3, 9, 9), (4, 3, 3, 3), 2, 1)])
    _conv_backward_cases(st, "conv_forward_fast", "conv_backward_fast", 406, [
        ((3, 1, 8, 8), (5, 1, 3, 3), 1, 1), ((1, 2, 8, 6), (3, 2, 2, 2), 2, 0),
        ((2, 3, 12, 12), (2, 3, 5, 5), 3, 1), ((2, 2, 7, 7), (3, 2, 3, 3), 2, 2)])


# ------------------------------------------------------------------------------------------
# Part 4: spatial normalisation
# ------------------------------------------------------------------------------------------
_SAME_CELL = "fix the forward pass first"
_DX_TOL = {"dx": (1e-5, 1e-8)}  # against torch: dx to 1e-5, dgamma and dbeta to 1e-6


@tests.test("test_spatial_batchnorm_forward", isolated=True)
def _(st, ref):
    f = st.spatial_batchnorm_forward
    x = 4.0 + 3.0 * np.random.default_rng(4).normal(size=(5, 3, 4, 4))
    with case("spatial_batchnorm_forward", "train mode, x (5, 3, 4, 4), gamma=(1, 2, 3), beta=(0, -1, 1)"):
        out = _pair(f(x, np.array([1.0, 2.0, 3.0]), np.array([0.0, -1.0, 1.0]), {"mode": "train"}),
                    "spatial_batchnorm_forward")
        expect_shape(out, x.shape, "out")
        out = as_array(out, "out")
        expect_close(out.mean(axis=(0, 2, 3)), [0.0, -1.0, 1.0], "the mean of every channel of out",
                     atol=1e-7)
        expect_close(out.std(axis=(0, 2, 3)), [1.0, 2.0, 3.0], "the std of every channel of out",
                     rtol=1e-4)
    rng = np.random.default_rng(407)
    x = 2.0 + rng.normal(size=(6, 4, 5, 3))
    g, b = rng.normal(size=4), rng.normal(size=4)
    with case("spatial_batchnorm_forward", "train mode against torch, and running averages"):
        res, (args, _) = f.returning_inputs(x, g, b, {"mode": "train", "momentum": 0.7})
        expected = F.batch_norm(_t(x), None, None, _t(g), _t(b), training=True).numpy()
        expect_close(_pair(res, "spatial_batchnorm_forward"), expected, "out", rtol=1e-6, atol=1e-9)
        bn = args[3]
        for key in ("running_mean", "running_var"):
            if key not in bn:
                raise CheckFailed(f'bn_param has no "{key}" after a call in train mode: store the '
                                  "updated running averages in bn_param")
        expect_close(bn["running_mean"], 0.3 * x.mean(axis=(0, 2, 3)), 'bn_param["running_mean"]')
        expect_close(bn["running_var"], 0.7 + 0.3 * x.var(axis=(0, 2, 3)), 'bn_param["running_var"]')
    with case("spatial_batchnorm_forward", "test mode uses the running averages"):
        bn = {"mode": "test", "running_mean": np.array([1.0, 2.0]), "running_var": np.array([4.0, 9.0])}
        x = np.ones((1, 2, 2, 2)) * np.array([3.0, 5.0])[None, :, None, None]
        out = _pair(f(x, np.array([1.0, 2.0]), np.array([0.0, 1.0]), bn), "spatial_batchnorm_forward")
        expect_shape(out, x.shape, "out")
        expect_close(as_array(out, "out")[0, :, 0, 0],
                     [2.0 / np.sqrt(4 + 1e-5), 2.0 * 3.0 / np.sqrt(9 + 1e-5) + 1.0], "out")


@tests.test("test_spatial_batchnorm_backward", isolated=True)
def _(st, ref):
    rng = np.random.default_rng(5)
    x, g, b = 2.0 * rng.normal(size=(3, 2, 4, 3)) + 1.0, rng.normal(size=2), rng.normal(size=2)
    dout = rng.normal(size=x.shape)
    with case("spatial_batchnorm_backward", "x (3, 2, 4, 3): numeric gradients",
              uses=("spatial_batchnorm_forward",)):
        args = (x, g, b, {"mode": "train"})
        out, grads = ref.probe("forward_backward", "spatial_batchnorm_forward", "spatial_batchnorm_backward",
                               dout, *args)
        _forward_backward(st, "spatial_batchnorm_forward", "spatial_batchnorm_backward", dout, args, out,
                          grads, ("dx", "dgamma", "dbeta"), rtol=1e-6, atol=1e-9,
                          forward_cell_note=_SAME_CELL)
    rng = np.random.default_rng(408)
    for shape in ((4, 3, 5, 5), (1, 2, 3, 7), (8, 5, 2, 2)):
        x = 3.0 * rng.normal(size=shape) - 1.0
        g, b, dout = rng.normal(size=shape[1]), rng.normal(size=shape[1]), rng.normal(size=shape)
        tx, tg, tb = _t(x, True), _t(g, True), _t(b, True)
        F.batch_norm(tx, None, None, tg, tb, training=True).backward(_t(dout))
        expected_out = F.batch_norm(_t(x), None, None, _t(g), _t(b), training=True).numpy()
        with case("spatial_batchnorm_backward", f"x {shape}, against torch",
                  uses=("spatial_batchnorm_forward",)):
            _forward_backward(st, "spatial_batchnorm_forward", "spatial_batchnorm_backward", dout,
                              (x, g, b, {"mode": "train"}), expected_out,
                              (tx.grad.numpy(), tg.grad.numpy(), tb.grad.numpy()), ("dx", "dgamma", "dbeta"),
                              rtol=1e-6, atol=1e-9, forward_cell_note=_SAME_CELL, tols=_DX_TOL)


@tests.test("test_spatial_groupnorm_forward", isolated=True)
def _(st, ref):
    f = st.spatial_groupnorm_forward
    x = 5.0 + 2.0 * np.random.default_rng(6).normal(size=(2, 6, 3, 3))
    with case("spatial_groupnorm_forward", "x (2, 6, 3, 3), G = 2, gamma = 1, beta = 0"):
        out = _pair(f(x, np.ones(6), np.zeros(6), 2, {}), "spatial_groupnorm_forward")
        expect_shape(out, x.shape, "out")
        groups = as_array(out, "out").reshape(2, 2, -1)  # (N, G, values of the group)
        expect_close(groups.mean(axis=2), np.zeros((2, 2)), "the mean of every group of every sample",
                     atol=1e-7)
        expect_close(groups.std(axis=2), np.ones((2, 2)), "the std of every group of every sample",
                     rtol=1e-4)
    rng = np.random.default_rng(409)
    for shape, G in (((3, 6, 4, 4), 3), ((2, 4, 2, 5), 1), ((2, 4, 3, 3), 4), ((1, 8, 2, 2), 2)):
        x = 2.0 * rng.normal(size=shape) + 1.0
        g, b = rng.normal(size=shape[1]), rng.normal(size=shape[1])
        with case("spatial_groupnorm_forward", f"x {shape}, G = {G}, against torch"):
            expected = F.group_norm(_t(x), G, _t(g), _t(b), eps=1e-5).numpy()
            expect_close(_pair(f(x, g, b, G, {}), "spatial_groupnorm_forward"), expected, "out",
                         rtol=1e-6, atol=1e-9)
    with case("spatial_groupnorm_forward", "C = 6 channels, G = 4 groups: a ValueError"):
        _raises("ValueError", lambda: f(np.zeros((1, 6, 2, 2)), np.ones(6), np.zeros(6), 4, {}),
                "spatial_groupnorm_forward with 6 channels and G = 4 (6 channels cannot be split into "
                "4 groups)")


@tests.test("test_spatial_groupnorm_backward", isolated=True)
def _(st, ref):
    rng = np.random.default_rng(7)
    x, g, b = 2.0 * rng.normal(size=(2, 4, 3, 3)), rng.normal(size=4), rng.normal(size=4)
    dout = rng.normal(size=x.shape)
    with case("spatial_groupnorm_backward", "x (2, 4, 3, 3), G = 2: numeric gradients",
              uses=("spatial_groupnorm_forward",)):
        args = (x, g, b, 2, {})
        out, grads = ref.probe("forward_backward", "spatial_groupnorm_forward", "spatial_groupnorm_backward",
                               dout, *args)
        _forward_backward(st, "spatial_groupnorm_forward", "spatial_groupnorm_backward", dout, args, out,
                          grads, ("dx", "dgamma", "dbeta"), rtol=1e-6, atol=1e-9,
                          forward_cell_note=_SAME_CELL)
    rng = np.random.default_rng(410)
    for shape, G in (((3, 6, 4, 4), 3), ((2, 4, 2, 5), 1), ((2, 4, 3, 3), 4)):
        x = 2.0 * rng.normal(size=shape) + 1.0
        g, b, dout = rng.normal(size=shape[1]), rng.normal(size=shape[1]), rng.normal(size=shape)
        tx, tg, tb = _t(x, True), _t(g, True), _t(b, True)
        tout = F.group_norm(tx, G, tg, tb, eps=1e-5)
        tout.backward(_t(dout))
        with case("spatial_groupnorm_backward", f"x {shape}, G = {G}, against torch",
                  uses=("spatial_groupnorm_forward",)):
            _forward_backward(st, "spatial_groupnorm_forward", "spatial_groupnorm_backward", dout,
                              (x, g, b, G, {}), tout.detach().numpy(),
                              (tx.grad.numpy(), tg.grad.numpy(), tb.grad.numpy()), ("dx", "dgamma", "dbeta"),
                              rtol=1e-6, atol=1e-9, forward_cell_note=_SAME_CELL, tols=_DX_TOL)


# ------------------------------------------------------------------------------------------
# Part 5: the three-layer convnet
# ------------------------------------------------------------------------------------------
def _layers_note(st, backward: bool) -> str:
    """Why the convnet may be wrong when its own code is right: the layers it uses."""
    rng = np.random.default_rng(412)
    x, w, b = rng.normal(size=(2, 2, 6, 6)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)
    tx, tw, tb = _t(x, True), _t(w, True), _t(b, True)
    conv = F.conv2d(tx, tw, tb, padding=1)
    dconv = rng.normal(size=tuple(conv.shape))
    conv.backward(_t(dconv))
    px = rng.normal(size=(2, 3, 6, 6))
    tpx = _t(px, True)
    pool = F.max_pool2d(tpx, 2)
    dpool = rng.normal(size=tuple(pool.shape))
    pool.backward(_t(dpool))
    conv_args, pool_args = (x, w, b, _conv_param(1, 1)), (px, _pool_param((2, 2, 2)))
    conv_grads, pool_grads = (tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()), (tpx.grad.numpy(),)

    def conv_forward():
        expect_close(_pair(st.conv_forward_fast(*conv_args), "conv_forward_fast"), conv.detach().numpy(),
                     "out")

    def pool_forward():
        expect_close(_pair(st.max_pool_forward_naive(*pool_args), "max_pool_forward_naive"),
                     pool.detach().numpy(), "out")

    def conv_backward():
        _forward_backward(st, "conv_forward_fast", "conv_backward_fast", dconv, conv_args,
                          conv.detach().numpy(), conv_grads, ("dx", "dw", "db"), rtol=1e-6, atol=1e-9)

    def pool_backward():
        _forward_backward(st, "max_pool_forward_naive", "max_pool_backward_naive", dpool, pool_args,
                          pool.detach().numpy(), pool_grads, ("dx",), rtol=1e-6, atol=1e-9)

    checks = [("conv_forward_fast", conv_forward), ("max_pool_forward_naive", pool_forward)]
    if backward:
        checks += [("conv_backward_fast", conv_backward), ("max_pool_backward_naive", pool_backward)]
    bad = []
    for name, check in checks:
        try:
            check()
        except Exception:  # noqa: BLE001 - wrong, missing or raising: the layer is the cause
            bad.append(name)
    if not bad:
        return ""
    one = len(bad) == 1
    return (f" (ThreeLayerConvNet uses your {' and '.join(bad)}, which {'is' if one else 'are'} wrong: "
            f"fix {'it' if one else 'them'} first)")


# The layers of yours ThreeLayerConvNet.loss runs (case(uses=...): a failed case reminds of them).
_CONVNET_USES = ("conv_forward_fast", "conv_backward_fast", "max_pool_forward_naive",
                 "max_pool_backward_naive")


def _params_dict(params, expected: dict) -> dict:
    if not isinstance(params, dict) or set(params) != set(expected):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise CheckFailed(f"params should have the keys {sorted(expected)}, got {got}")
    return params


@tests.test("test_convnet", isolated=True)
def _(st, ref):
    net = None
    with case("ThreeLayerConvNet", "input (3, 8, 8), 4 filters of 3x3, hidden 10, 5 classes: parameters"):
        net = st.ThreeLayerConvNet((3, 8, 8), num_filters=4, filter_size=3, hidden_dim=10, num_classes=5,
                                   seed=0)
        expected = {"W1": (4, 3, 3, 3), "b1": (4,), "W2": (64, 10), "b2": (10,), "W3": (10, 5), "b3": (5,)}
        params = _params_dict(net.params.get(), expected)
        for k, s in expected.items():
            expect_shape(params[k], s, f'params["{k}"]')
    with case("ThreeLayerConvNet.loss", "small weights: scores (6, 5), loss about ln(5)", uses=_CONVNET_USES):
        if net is None:
            raise CheckFailed("the model could not be made (see the case above)")
        X, y = np.random.default_rng(0).normal(size=(6, 3, 8, 8)), np.array([0, 1, 2, 3, 4, 0])
        expect_shape(net.loss(X), (6, 5), "scores")
        res = net.loss(X, y)
        if not isinstance(res, tuple) or len(res) != 2:
            raise CheckFailed(f"loss(X, y) should return a tuple (loss, grads), got {type(res).__name__}")
        expect_close(res[0], np.log(5.0), "loss", rtol=1e-2)
    rng = np.random.default_rng(411)
    shapes = {"W1": (3, 2, 5, 5), "b1": (3,), "W2": (27, 7), "b2": (7,), "W3": (7, 4), "b3": (4,)}
    P = {k: 0.3 * rng.normal(size=s) for k, s in shapes.items()}
    X, y = rng.normal(size=(5, 2, 6, 6)), rng.integers(0, 4, 5)
    t = {k: _t(v, True) for k, v in P.items()}
    h = F.max_pool2d(torch.relu(F.conv2d(_t(X), t["W1"], t["b1"], padding=2)), 2)
    s = torch.relu(h.reshape(5, -1) @ t["W2"] + t["b2"]) @ t["W3"] + t["b3"]
    loss = F.cross_entropy(s, _t(y)) + 0.05 * sum((t[k] ** 2).sum() for k in ("W1", "W2", "W3"))
    loss.backward()
    with case("ThreeLayerConvNet.loss", "given weights, reg 0.1: scores and loss against torch",
              uses=_CONVNET_USES):
        net = st.ThreeLayerConvNet((2, 6, 6), num_filters=3, filter_size=5, hidden_dim=7, num_classes=4,
                                   reg=0.1, seed=1)
        net.params.set(P)
        try:
            expect_close(net.loss(X), s.detach().numpy(), "scores", rtol=1e-7, atol=1e-9)
            res = net.loss(X, y)
            if not isinstance(res, tuple) or len(res) != 2:
                raise CheckFailed(f"loss(X, y) should return a tuple (loss, grads), got {type(res).__name__}")
            got_loss, grads = res
            expect_close(got_loss, loss.item(), "loss", rtol=1e-7)
        except CheckFailed as e:
            raise CheckFailed(f"{e}{_layers_note(st, backward=False)}") from None
        try:
            grads = _params_dict(grads, shapes)
            for k in shapes:
                expect_close(grads[k], t[k].grad.numpy(), f'grads["{k}"]', rtol=1e-6, atol=1e-9)
        except CheckFailed as e:
            raise CheckFailed(f"{e}{_layers_note(st, backward=True)}") from None


@tests.test("test_convnet_grad", isolated=True)
def _(st, ref):
    rng = np.random.default_rng(8)
    X, y = rng.normal(size=(2, 2, 6, 6)), np.array([1, 3])
    settings = dict(num_filters=3, filter_size=3, hidden_dim=5, num_classes=4, weight_scale=0.5, seed=2)
    for reg in (0.0, 0.5):
        with case("ThreeLayerConvNet.loss",
                  f"input (2, 6, 6), 3 filters 3x3, hidden 5, reg {reg}: numeric gradients",
                  uses=_CONVNET_USES):
            # The reference's initial weights, set in both models: the gradients of the same loss.
            r = ref.ThreeLayerConvNet((2, 6, 6), reg=reg, **settings)
            P = r.params.get()
            expected_loss, expected_grads = r.loss(X, y)
            net = st.ThreeLayerConvNet((2, 6, 6), reg=reg, **settings)
            net.params.set(P)
            res = net.loss(X, y)
            if not isinstance(res, tuple) or len(res) != 2:
                raise CheckFailed(f"loss(X, y) should return a tuple (loss, grads), got {type(res).__name__}")
            got_loss, grads = res
            try:
                grads = _params_dict(grads, expected_grads)
                for k in sorted(expected_grads):
                    expect_close(grads[k], expected_grads[k], f'grads["{k}"]', rtol=1e-6, atol=1e-9)
            except CheckFailed as e:
                try:
                    expect_close(got_loss, expected_loss, "loss", rtol=1e-7)
                    note = _layers_note(st, backward=True)
                except CheckFailed:
                    note = (" (the loss is wrong too on this case: make the test of the scores and the "
                            f"loss pass first){_layers_note(st, backward=True)}")
                raise CheckFailed(f"{e}{note}") from None


@tests.test("test_convnet_overfit", isolated=True)
def _(st, ref):
    nb = _data()
    K = nb["S"]["convnet"]
    C, H, W = nb["input_shape"]
    shapes = {"W1": (K["num_filters"], C, K["filter_size"], K["filter_size"]),
              "W2": (K["num_filters"] * (H // 2) * (W // 2), K["hidden_dim"]),
              "W3": (K["hidden_dim"], nb["num_classes"])}
    rng = np.random.default_rng(99)  # initial weights drawn by the test (the same for everyone)
    weights = {k: K["weight_scale"] * rng.standard_normal(s) for k, s in shapes.items()}
    y_small = nb["data_dict"]["y_train"][:50]
    with case("ThreeLayerConvNet trained with Solver and adam", "overfitting 50 training images",
              uses=("ThreeLayerConvNet.loss", *_CONVNET_USES)):
        preds, stopped = st.with_timeout(600).probe("overfit_small", nb["data"].name, SETTINGS, weights)
        if not isinstance(preds, list) or not preds:
            raise CheckFailed("the Solver finished no epoch" + (f": {stopped}" if stopped else ""))
        accs = []
        for p in preds:
            p = as_array(p, "the predicted labels")
            expect_shape(p, (50,), "the predicted labels of the 50 images")
            accs.append(float(np.mean(p == y_small)))  # scored here, with the labels held here
        try:
            expect_at_least(max(accs), 1.0, "the best training accuracy on the 50 images")
        except CheckFailed as e:
            raise CheckFailed(f"{e}{_layers_note(st, backward=True)}") from None


# ------------------------------------------------------------------------------------------
# Part 6: PyTorch (in the notebook's kernel)
# ------------------------------------------------------------------------------------------
@tests.test("test_torch_cnn")
def _(st, ref):
    for c, size in ((1, 8), (3, 32)):
        with case("DigitsCNN", f"in_channels {c}, image_size {size}: scores for 5 images"):
            s = st.probe("cnn_summary", c, size)
            if not s["is_module"]:
                raise CheckFailed("DigitsCNN must be a subclass of torch.nn.Module")
            expect_shape(s["scores"], (5, 10), "model(x)")
            if not s["has_conv"]:
                raise CheckFailed("DigitsCNN has no nn.Conv2d layer: it should be a convolutional network")
            if s["num_params"] > 2_000_000:
                raise CheckFailed(f"DigitsCNN has {s['num_params']:,} parameters; keep it under 2,000,000")


_RNG9 = np.random.default_rng(9)  # a task a linear model solves: is the left half brighter?
_XS = _RNG9.normal(size=(200, 1, 4, 4)).astype(np.float32)
_YS = (_XS[:, 0, :, :2].sum(axis=(1, 2)) > _XS[:, 0, :, 2:].sum(axis=(1, 2))).astype(np.int64)
_SPLIT = (_XS[:150], _YS[:150], _XS[150:], _YS[150:])


def _history(h, keys=("loss", "val_loss", "val_acc")) -> dict:
    if not isinstance(h, dict):
        raise CheckFailed(f"train_model should return a dict history, got {type(h).__name__}")
    for key in keys:
        if key not in h:
            raise CheckFailed(f'history has no "{key}" (it has {sorted(map(str, h))})')
    return h


def _val_loss(state) -> float:
    """The validation cross-entropy of a Linear(16, 2) model with these weights, computed here."""
    lin = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    try:
        lin.load_state_dict({k: torch.as_tensor(as_array(v, k)) for k, v in state.items()})
    except (RuntimeError, KeyError, AttributeError) as e:
        raise CheckFailed(f"the model's weights could not be read back ({e})") from None
    with torch.no_grad():
        return F.cross_entropy(lin(torch.tensor(_XS[150:])), torch.tensor(_YS[150:])).item()


@tests.test("test_train_model")
def _(st, ref):
    with case("train_model", "a linear model on 4x4 images, 12 epochs"):
        h, _, _ = st.probe("train_small_model", "linear", 0, *_SPLIT, epochs=12, lr=0.1, batch_size=16,
                           seed=0)
        h = _history(h)
        expect_equal(len(h["val_acc"]), 12, 'len(history["val_acc"])')
        expect_equal(len(h["val_loss"]), 12, 'len(history["val_loss"])')
        expect_equal(len(h["loss"]), 12 * 10, 'len(history["loss"]) (10 minibatches of 16 per epoch)')
        losses = as_array(h["loss"], 'history["loss"]').astype(float)
        if not np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10]):
            raise CheckFailed(f"the loss did not fall: first batches {np.mean(losses[:10]):.3f}, "
                              f"last batches {np.mean(losses[-10:]):.3f}")
        expect_at_least(float(np.max(as_array(h["val_acc"], 'history["val_acc"]'))), 0.96,
                        "the best validation accuracy")
    with case("train_model", "the weights of the epoch with the lowest validation loss are restored"):
        # lr 2 overshoots after the second epoch: the reference's validation losses are 2.08, 0.018,
        # 0.04, 0.26, 0.27, 0.20, so a model that keeps its last weights fails this case
        h, state, _ = st.probe("train_small_model", "linear", 1, *_SPLIT, epochs=6, lr=2.0, batch_size=16,
                               seed=3)
        h = _history(h, ("val_loss",))
        expect_close(_val_loss(state), float(np.min(as_array(h["val_loss"], 'history["val_loss"]'))),
                     "the validation loss of the returned model", rtol=1e-5)
    with case("train_model", "the same seed gives the same run"):
        runs = [_history(st.probe("train_small_model", "linear", 2, *_SPLIT, epochs=2, lr=0.05, batch_size=16,
                                  seed=5)[0], ("loss",))["loss"] for _ in range(2)]
        expect_close(as_array(runs[1], 'history["loss"]'), as_array(runs[0], 'history["loss"]'),
                     "the losses of two runs with the same seed")
    with case("train_model", "the model is left in evaluation mode"):
        _, _, training = st.probe("train_small_model", "batchnorm", 0, *_SPLIT, epochs=1, lr=0.01,
                                  batch_size=16)
        if training:
            raise CheckFailed("after train_model the model should be in evaluation mode (call model.eval())")


@tests.test("test_torch_accuracy")
def _(st, ref):
    nb = _data()
    name, y_test = nb["data"].name, nb["data_dict"]["y_test"]
    with case("torch_model", f"test accuracy on {name}", uses=("DigitsCNN.forward", "train_model")):
        pred = st.probe("torch_predict_test", name, SETTINGS)
        if pred is None:
            raise CheckFailed("torch_model is None: the cell above is not implemented yet. Train your "
                              "DigitsCNN there and store it in torch_model.")
        pred = as_array(pred, "the predicted labels")
        expect_shape(pred, y_test.shape, "the predicted labels of the test images")
        expect_at_least(float(np.mean(pred == y_test)), SETTINGS[name]["targets"]["torch"], "test accuracy")
