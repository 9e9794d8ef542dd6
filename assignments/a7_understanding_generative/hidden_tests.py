"""Hidden tests of assignment 7 (trusted: run by the grader, never in the student's kernel).

Every test repeats the visible cases of its cell and adds hidden ones. Inputs are made here;
`st` calls the student's code in the sandbox through the probes of
autograder/inside/probes/a7_understanding_generative.py, which build the networks the grader
describes (their weights sent as arrays) and hand back arrays; `ref` runs the source notebook's
solutions here through the same probes; every comparison happens here.

- The attribution maps and the attacks run on small ProbeCNNs with random weights, on linear
  models whose gradients are worked out here, and (the attacks) on the course classifier
  classifier(seed=0), trained here and sent as weights: the adversarial images come back, their
  distance to the clean images is checked here, and the success rates are computed here with
  the grader's own copy of the classifier.
- The VAE's and the GANs' losses are checked against formulas computed here (torch.distributions,
  softplus) and against the reference, with their gradients (autograd in the probe).
- The diffusion functions run with TinyEps, a small fixed noise predictor defined in the probes
  module (imported here, so that both sides build the same network).
- The trained denoiser: the student's `denoiser` hands over its weights only; the grader loads
  them into the given TimeMLP (built here from the source's given cell), runs its own clipped
  ancestral sampler with the cosine schedule and a noise seed of its own, and scores the samples
  here with the reference classifier. No code of the student's runs in the sampler: a denoiser
  whose forward was replaced (to steer samples to memorised digits, say) is judged by its weights.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from autograder.hidden import HiddenTests, case
from autograder.inside.probes.a7_understanding_generative import state_of, tiny_eps
from dlcv.checks import CheckFailed, expect_at_least, expect_close

tests = HiddenTests(
    probes="a7_understanding_generative",
    preamble=("import math\n\nimport numpy as np\nimport torch\nimport torch.nn.functional as F\n"
              "from torch import nn"),
    # the lectures' teaching versions (understanding.attribution, .attacks, .synthesis and
    # generative.autoencoders, .gans, .diffusion, .style) are not mounted
    dlcv=["checks", "data", "gradcheck", "loop", "plots", "timing", "validate", "understanding.model",
          "generative.reference"],
)

SETTINGS = SOURCE.value("SETTINGS")  # SOURCE: the source notebook (autograder.hidden.Spec)


# ------------------------------------------------------------------------------------------
# replies
# ------------------------------------------------------------------------------------------
def _out(seen: dict, what: str, shape=None, dtype: str | None = "float32") -> np.ndarray:
    """The tensor a probe saw come back, as an array: it must be a torch tensor (of `shape` and
    `dtype` when given)."""
    if seen["type"] != "Tensor":
        raise CheckFailed(f"{what} should be a torch tensor, got {seen['type']}")
    if shape is not None and tuple(seen["shape"]) != tuple(shape):
        raise CheckFailed(f"{what} should have shape {tuple(shape)}, got {tuple(seen['shape'])}")
    if dtype is not None and seen["dtype"] != dtype:
        raise CheckFailed(f"{what} should be a {dtype} tensor, got {seen['dtype']}")
    return np.asarray(seen["value"])


def _scalar(seen: dict, what: str) -> float:
    """A 0-dim tensor's value."""
    return float(_out(seen, what, shape=(), dtype=None))


def _parts(seen: dict, n: int, what: str) -> list:
    if seen["parts"] is None or len(seen["parts"]) != n:
        got = seen["type"] + (f" of {len(seen['parts'])} items" if seen["parts"] is not None else "")
        raise CheckFailed(f"{what} should return a tuple of {n} tensors, got {got}")
    return seen["parts"]


def _grads(seen: dict, what: str):
    if seen["grads"] is None:
        why = seen.get("grad_error") or "the result is not a single number"
        raise CheckFailed(f"autograd cannot differentiate {what} ({why}): compute it with torch operations "
                          "on the input tensors, without .detach(), .item() or numpy")
    return seen["grads"]


def _clean(seen: dict, function: str, detached: bool = True) -> None:
    """The call left x, the model's parameters and its modules as they were, and (detached)
    returned a tensor without a graph."""
    if seen.get("x_changed"):
        raise CheckFailed(f"{function} changed x in place: leave the input as it is and work on a copy "
                          "(x.detach().clone())")
    if seen.get("x_requires_grad"):
        raise CheckFailed(f"{function} left x with requires_grad=True: differentiate a copy instead "
                          "(x.detach().clone().requires_grad_(True))")
    if seen.get("grads_left"):
        names = ", ".join(seen["grads_left"][:3])
        raise CheckFailed(f"{function} left gradients in the model's parameters' .grad ({names}, ...): use "
                          "torch.autograd.grad(..., x), which computes only the gradient you ask for, "
                          "instead of .backward(), which accumulates into every parameter")
    if seen.get("hooks_left"):
        raise CheckFailed(f"{function} left {seen['hooks_left']} hook(s) registered on the model: remove "
                          "every hook before returning (handle.remove() in a `finally:` block)")
    if detached and seen.get("graph"):
        raise CheckFailed(f"{function} returned a tensor that still requires grad: return it detached "
                          "(.detach())")


def _expect_images(got, expected, what: str, max_share: float = 0.002) -> None:
    """Adversarial images against the expected ones: equal to 1e-5, except for at most
    `max_share` of the pixels (where the gradient is about zero, a rounding can flip its sign and
    move that pixel by a step)."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    if got.shape != expected.shape:
        raise CheckFailed(f"{what} should have shape {expected.shape}, got {got.shape}")
    if not np.all(np.isfinite(got)):
        raise CheckFailed(f"{what} contains NaN or inf")
    off = np.abs(got - expected) > 1e-5
    if off.mean() > max_share:
        k = int(np.flatnonzero(off.ravel())[0])
        idx = tuple(int(i) for i in np.unravel_index(k, got.shape))
        raise CheckFailed(f"{what} is wrong at {int(off.sum())} of {off.size} pixels (first at index "
                          f"{idx}: expected {expected[idx]:.6g}, got {got[idx]:.6g})")


# ------------------------------------------------------------------------------------------
# networks and data made here
# ------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def _cnn(in_channels: int, size: int, seed: int) -> dict:
    """The description of a ProbeCNN with random weights (drawn from seed)."""
    from dlcv.understanding.model import ProbeCNN

    net = ProbeCNN(in_channels, 10, size, seed=seed)
    return {"kind": "probe_cnn", "in_channels": in_channels, "num_classes": 10, "size": size,
            "state": state_of(net)}


def _linear(weight, bias=None) -> dict:
    weight = np.asarray(weight, np.float32)
    bias = np.zeros(len(weight), np.float32) if bias is None else np.asarray(bias, np.float32)
    return {"kind": "linear", "weight": weight, "bias": bias}


@functools.lru_cache(maxsize=1)
def _digits16():
    """The notebook's test images: load_images("digits", 16)'s X_test (360, 1, 16, 16), y_test."""
    from dlcv.understanding.model import load_images

    d = load_images("digits", 16)
    return d.X_test.astype(np.float32), np.asarray(d.y_test, np.int64)


@functools.lru_cache(maxsize=1)
def _course_classifier():
    """(classifier(seed=0) here, its description): trained once per grading process."""
    from dlcv.timing import torch_threads
    from dlcv.understanding.model import classifier

    with torch_threads(1):  # a small network: more threads only wait for each other
        net = classifier(seed=0)
    return net, {"kind": "probe_cnn", "in_channels": 1, "num_classes": 10, "size": 16,
                 "state": state_of(net)}


def _logits(x: np.ndarray) -> np.ndarray:
    """The grader's classifier's scores of images x (N, 1, 16, 16)."""
    import torch

    net, _ = _course_classifier()
    with torch.no_grad():
        return net(torch.as_tensor(np.asarray(x, np.float32))).numpy()


def _cross_entropy(scores: np.ndarray, labels: np.ndarray) -> float:
    s = scores.astype(np.float64)
    s = s - s.max(1, keepdims=True)
    return float(np.mean(np.log(np.exp(s).sum(1)) - s[np.arange(len(s)), labels]))


def _tiny(T: int, seed: int) -> dict:
    return {"kind": "tiny_eps", "T": T, "state": state_of(tiny_eps(T, seed))}


def _rand(shape, seed: int, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """torch.rand(shape, generator=torch.Generator().manual_seed(seed)) scaled to [low, high]:
    the inputs of the visible cases, drawn as the notebook draws them."""
    import torch

    return (low + (high - low) * torch.rand(shape, generator=torch.Generator().manual_seed(seed))).numpy()


# ------------------------------------------------------------------------------------------
# Part 1: saliency and Grad-CAM
# ------------------------------------------------------------------------------------------
def _inputs(rng, n: int, c: int, size: int):
    return rng.random((n, c, size, size)).astype(np.float32), rng.integers(0, 10, n).astype(np.int64)


def _saliency_case(st, desc, x, y, expected, label, rtol=1e-4):
    with case("saliency", label):
        seen = st.probe("attribution_run", "saliency", desc, x, y)
        got = _out(seen, "saliency(model, x, y)", (len(x), *x.shape[2:]))
        expect_close(got, expected, "saliency(model, x, y)", rtol=rtol, atol=1e-6 * np.abs(expected).max())
        _clean(seen, "saliency")


@tests.test("test_saliency")
def _(st, ref):
    W = np.arange(-12.0, 12.0).reshape(3, 8) / 4
    x, y = _rand((2, 2, 2, 2), 0), np.array([0, 2])
    _saliency_case(st, _linear(W), x, y, np.abs(W[y].reshape(2, 2, 2, 2)).max(1),
                   "a linear model on 2-channel 2x2 images: the map is max over c of |W[y]|", rtol=1e-5)
    rng = np.random.default_rng(6101)
    W = rng.normal(size=(3, 2 * 3 * 3)).astype(np.float32)
    x, y = rng.random((4, 2, 3, 3)).astype(np.float32), np.array([0, 2, 1, 2])
    _saliency_case(st, _linear(W, rng.normal(size=3)), x, y, np.abs(W[y].reshape(4, 2, 3, 3)).max(1),
                   "a linear model with a bias on 4 images of 2 channels, 3x3", rtol=1e-5)
    for n, c, size, seed in ((5, 1, 16, 1), (3, 3, 8, 2), (6, 1, 12, 3), (2, 3, 16, 4)):
        desc = _cnn(c, size, seed)
        x, y = _inputs(rng, n, c, size)
        expected = ref.probe("attribution_run", "saliency", desc, x, y)["value"]
        _saliency_case(st, desc, x, y, expected, f"a ProbeCNN with random weights, {n} random images of {c} "
                                                 f"channel(s), {size}x{size}, against the reference")
    X, Y = _digits16()
    desc = _course_classifier()[1]
    with case("saliency", "the course classifier on 4 test digits"):
        seen = st.probe("attribution_run", "saliency", desc, X[:4], Y[:4])
        got = _out(seen, "saliency(model, X_test[:4], y_test[:4])", (4, 16, 16))
        if not (got.min() >= 0 and got.max() > 0):
            raise CheckFailed(f"the maps should be >= 0 and not all 0; min {got.min():.3g}, "
                              f"max {got.max():.3g}")
        expected = ref.probe("attribution_run", "saliency", desc, X[:4], Y[:4])["value"]
        expect_close(got, expected, "saliency(model, X_test[:4], y_test[:4])", rtol=1e-4,
                     atol=1e-6 * np.abs(expected).max())
        _clean(seen, "saliency")


def _grad_cam_case(st, desc, x, y, layer, expected, label, rtol=1e-4):
    with case("grad_cam", label):
        seen = st.probe("attribution_run", "grad_cam", desc, x, y, layer)
        what = f"grad_cam(model, x, y, model.{layer})"
        got = _out(seen, what, expected.shape)
        expect_close(got, expected, what, rtol=rtol, atol=1e-6 * max(np.abs(expected).max(), 1e-3))
        _clean(seen, "grad_cam")


@tests.test("test_grad_cam")
def _(st, ref):
    # the visible case: A = [x, 0] for x > 0, dA = W[y] as two 3x3 maps, alpha_0 its first map's mean
    W = np.linspace(-1.0, 1.2, 54, dtype=np.float32).reshape(3, 18)
    x, y = 0.1 + _rand((3, 1, 3, 3), 1), np.array([0, 1, 2])
    alpha0 = W[y].reshape(3, 2, 3, 3)[:, 0].mean((1, 2))
    _grad_cam_case(st, {"kind": "two_stage", "weight": W}, x, y, "feat",
                   np.maximum(alpha0, 0)[:, None, None] * x[:, 0],
                   "a 1x1 convolution and a linear layer, images > 0: the map is ReLU(alpha_0) x", rtol=1e-5)
    rng = np.random.default_rng(6102)
    W = rng.normal(size=(4, 18)).astype(np.float32)
    x, y = -0.1 - rng.random((3, 1, 3, 3)).astype(np.float32), np.array([3, 0, 1])
    alpha1 = W[y].reshape(3, 2, 3, 3)[:, 1].mean((1, 2))  # images < 0: A = [0, -x]
    _grad_cam_case(st, {"kind": "two_stage", "weight": W}, x, y, "feat",
                   np.maximum(alpha1, 0)[:, None, None] * -x[:, 0],
                   "the same network with other weights, images < 0: the map is ReLU(alpha_1) (-x)",
                   rtol=1e-5)
    for n, c, size, seed, layer in ((4, 1, 16, 11, "conv3"), (3, 3, 8, 12, "conv2"), (5, 1, 12, 13, "conv3"),
                                    (2, 3, 16, 14, "conv2"), (3, 1, 16, 15, "conv1")):
        desc = _cnn(c, size, seed)
        x, y = _inputs(rng, n, c, size)
        expected = ref.probe("attribution_run", "grad_cam", desc, x, y, layer)["value"]
        _grad_cam_case(st, desc, x, y, layer, expected,
                       f"layer {layer} of a ProbeCNN with random weights, {n} random images of {c} "
                       f"channel(s), {size}x{size}: ({n}, {size // 2}, {size // 2}) maps against the "
                       "reference")
    X, Y = _digits16()
    desc = _course_classifier()[1]
    for layer in ("conv3", "conv2"):
        expected = ref.probe("attribution_run", "grad_cam", desc, X[:8], Y[:8], layer)["value"]
        _grad_cam_case(st, desc, X[:8], Y[:8], layer, expected,
                       f"the course classifier, layer model.{layer}, 8 test digits: against the reference, "
                       "maps >= 0, no hook left")
    with case("grad_cam", "images of the wrong size (12x12 for a 16x16 network): the model raises an error, "
                          "and grad_cam must still remove its hook"):
        seen = st.probe("attribution_run", "grad_cam", _cnn(1, 16, 11), np.zeros((2, 1, 12, 12), np.float32),
                        np.array([0, 1]), "conv3", catch=True)
        if seen["raised"] and "NotImplementedError" in seen["raised"][0]:
            raise CheckFailed("grad_cam is not implemented yet")
        if seen["hooks_left"]:
            raise CheckFailed(f"after the model raised an error inside grad_cam, {seen['hooks_left']} "
                              "hook(s) were still registered on it: register the hook, run the model in "
                              "`try:` and remove the hook in `finally:`")


# ------------------------------------------------------------------------------------------
# Part 2: FGSM and PGD
# ------------------------------------------------------------------------------------------
_LIN2 = np.array([[1.0, -1.0, 2.0, 0.0], [-1.0, 1.0, -2.0, 0.0]])  # the visible 2-class linear model


def _softmax(s):
    e = np.exp(s - s.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _linear_fgsm(W, b, x, labels, eps, targeted):
    """FGSM on x @ W.T + b worked out here: the gradient of the cross-entropy of `labels` with
    respect to x is (softmax(s) - onehot(labels)) @ W."""
    s = x.reshape(len(x), -1).astype(np.float64) @ W.T.astype(np.float64) + b
    g = (_softmax(s) - np.eye(W.shape[0])[labels]) @ W.astype(np.float64)
    step = -np.sign(g) if targeted else np.sign(g)
    return np.clip(x.reshape(len(x), -1) + eps * step, 0, 1).reshape(x.shape)


def _attack_case(st, name, desc, x, y, args, expected, label, target=None, max_share=0.002, **kwargs):
    with case(name, label):
        seen = st.probe("attack_run", name, desc, x, y, *args, target=target, **kwargs)
        got = _out(seen, f"{name}(...)", x.shape)
        _expect_images(got, expected, "x_adv", max_share)
        _clean(seen, name)


def _ref_attack_cases(st, ref, name: str, label: str, args: tuple, shapes, seed: int, targeted: bool,
                      **kwargs):
    """`name` against the reference on ProbeCNNs with random weights, on test digits (many pixels
    exactly 0, where the clamp acts) or uniform noise."""
    rng = np.random.default_rng(seed)
    X, _ = _digits16()
    for n, c, size, mseed, eps in shapes:
        desc = _cnn(c, size, mseed)
        x = (X[rng.choice(len(X), n, replace=False)] if (c, size) == (1, 16)
             else rng.random((n, c, size, size)).astype(np.float32))
        y = rng.integers(0, 10, n)
        tgt = (y + 1 + rng.integers(0, 9, n)) % 10 if targeted else None
        expected = ref.probe("attack_run", name, desc, x, y, eps, *args, target=tgt, **kwargs)["value"]
        _attack_case(st, name, desc, x, y, (eps, *args), expected,
                     f"{label}, a ProbeCNN with random weights, {n} images of {c} channel(s), {size}x{size}, "
                     f"eps {eps:g}: against the reference", target=tgt, **kwargs)


def _attack_classifier(st, name: str, what: str, *args, target: bool = False, **kwargs):
    """Run the student's attack on the course classifier and the 360 test digits; check the
    budget and the range here. Returns (x, y, x_adv, targets or None)."""
    x, y = _digits16()
    eps = args[0]
    tgt = (y + 1) % 10 if target else None
    seen = st.with_timeout(300).probe("attack_run", name, _course_classifier()[1], x, y, *args, target=tgt,
                                      **kwargs)
    adv = _out(seen, what, x.shape).astype(np.float64)
    if not np.all(np.isfinite(adv)):
        raise CheckFailed(f"{what} contains NaN or inf")
    dist = float(np.abs(adv - x).max())
    if dist > eps + 1e-6:
        k = np.unravel_index(int(np.argmax(np.abs(adv - x))), x.shape)
        raise CheckFailed(f"{what} leaves the L-inf ball of radius eps = {eps:g} around x: the largest "
                          f"change of a pixel is {dist:.4g} (in image {int(k[0])}); every pixel of x_adv "
                          "must stay within eps of x")
    if adv.min() < 0 or adv.max() > 1:
        raise CheckFailed(f"{what} leaves [0, 1]: its values run from {adv.min():.4g} to {adv.max():.4g}; "
                          "clamp the adversarial images to [0, 1]")
    _clean(seen, name)
    return x, y, adv, tgt


def _success_case(function: str, label: str, result, bar: float, targeted: bool):
    """The success rate of an attack on the course classifier, computed here: among the test
    digits it classifies right, the share whose label changed (or became the target)."""
    if result is None:
        return
    x, y, adv, tgt = result
    right = _logits(x).argmax(1) == y
    after = _logits(adv).argmax(1)
    hit = (after == tgt) if targeted else (after != y)
    rate = float(hit[right].mean())
    with case(function, f"{label}: success rate {rate:.1%} on the {int(right.sum())} test digits the "
                        f"classifier gets right (computed by the grader; at least {bar:.0%})"):
        expect_at_least(rate, bar, f"the success rate of {function}{' (targeted)' if targeted else ''}")


@tests.test("test_fgsm")
def _(st, ref):
    lin, x5 = _linear(_LIN2), np.full((1, 1, 2, 2), 0.5, np.float32)
    y0, t1 = np.array([0]), np.array([1])
    _attack_case(st, "fgsm", lin, x5, y0, (0.1,), [[[[0.4, 0.6], [0.4, 0.5]]]],
                 "a linear 2-class model, x = 0.5 everywhere, y = 0, eps = 0.1 (a zero gradient leaves the "
                 "pixel)", max_share=0)
    _attack_case(st, "fgsm", lin, x5, y0, (0.1,), [[[[0.4, 0.6], [0.4, 0.5]]]],
                 "the same, targeted toward class 1", target=t1, max_share=0)
    _attack_case(st, "fgsm", lin, np.full((1, 1, 2, 2), 0.95, np.float32), y0, (0.1,),
                 [[[[0.85, 1.0], [0.85, 0.95]]]], "x = 0.95, eps = 0.1: the result is clipped to [0, 1]",
                 max_share=0)
    rng = np.random.default_rng(6103)
    W, b = rng.normal(size=(5, 12)).astype(np.float32), rng.normal(size=5).astype(np.float32)
    x, y = rng.random((6, 3, 2, 2)).astype(np.float32), rng.integers(0, 5, 6)
    t = (y + 2) % 5
    _attack_case(st, "fgsm", _linear(W, b), x, y, (0.2,), _linear_fgsm(W, b, x, y, 0.2, False),
                 "a linear model with 5 classes, 6 random images of 3 channels, 2x2, eps 0.2 (the gradient "
                 "worked out by the grader)", max_share=0)
    _attack_case(st, "fgsm", _linear(W, b), x, y, (0.2,), _linear_fgsm(W, b, x, t, 0.2, True),
                 "the same, targeted toward (y + 2) % 5", target=t, max_share=0)
    shapes = ((6, 1, 16, 21, 0.1), (4, 3, 8, 22, 0.05), (5, 1, 12, 23, 0.2))
    _ref_attack_cases(st, ref, "fgsm", "untargeted", (), shapes, 6104, targeted=False)
    _ref_attack_cases(st, ref, "fgsm", "targeted", (), shapes, 6105, targeted=True)

    eps = SETTINGS["fgsm_eps"]
    label = f"the course classifier, the 360 test digits, eps {eps:g}"
    result = None
    with case("fgsm", f"{label}: x_adv within eps of x and in [0, 1], x unchanged"):
        result = _attack_classifier(st, "fgsm", f"fgsm(model, x, y, {eps:g})", eps)
    _success_case("fgsm", label, result, SETTINGS["attack_success"], targeted=False)


@tests.test("test_pgd")
def _(st, ref):
    lin, x5, y0 = _linear(_LIN2), np.full((1, 1, 2, 2), 0.5, np.float32), np.array([0])
    _attack_case(st, "pgd", lin, x5, y0, (0.1, 1, 0.1), [[[[0.4, 0.6], [0.4, 0.5]]]],
                 "no random start, one step of size eps: FGSM's answer on the linear model", max_share=0,
                 random_start=False)
    _attack_case(st, "pgd", lin, x5, y0, (0.1, 3, 0.05), [[[[0.4, 0.6], [0.4, 0.5]]]],
                 "no random start, 3 steps of 0.05 within eps = 0.1: the projection stops at 0.1",
                 max_share=0, random_start=False)
    shapes = ((6, 1, 16, 31, 0.1), (4, 3, 8, 32, 0.05), (5, 1, 12, 33, 0.15))
    rng = np.random.default_rng(6106)
    X, Y = _digits16()
    for n, c, size, mseed, eps in shapes:
        desc = _cnn(c, size, mseed)
        x = (X[rng.choice(len(X), n, replace=False)] if (c, size) == (1, 16)
             else rng.random((n, c, size, size)).astype(np.float32))
        y = rng.integers(0, 10, n)
        for steps, step in ((1, eps), (5, eps / 4)):
            args = (eps, steps, step)
            expected = ref.probe("attack_run", "pgd", desc, x, y, *args, random_start=False)["value"]
            _attack_case(st, "pgd", desc, x, y, args, expected,
                         f"random_start=False, {steps} step(s) of {step:g}, a ProbeCNN with random weights, "
                         f"{n} images of {c} channel(s), {size}x{size}, eps {eps:g}: against the reference",
                         random_start=False)
    desc = _course_classifier()[1]
    with case("pgd", "random start on 16 test digits, eps 0.1, 3 steps of 0.025: inside the ball and [0, 1], "
                     "x unchanged, repeatable with a seeded generator"):
        args = (X[:16], Y[:16], 0.1, 3, 0.025)
        first = st.probe("attack_run", "pgd", desc, *args, seed=0)
        a = _out(first, "pgd(...)", (16, 1, 16, 16))
        b = _out(st.probe("attack_run", "pgd", desc, *args, seed=0), "pgd(...)", (16, 1, 16, 16))
        dist = float(np.abs(a.astype(np.float64) - X[:16]).max())
        if not (dist <= 0.1 + 1e-6 and a.min() >= 0 and a.max() <= 1):
            raise CheckFailed(f"x_adv must stay within eps = 0.1 of x and in [0, 1]; got max |x_adv - x| = "
                              f"{dist:.4f}, range [{a.min():.3f}, {a.max():.3f}]")
        _clean(first, "pgd")
        if not np.array_equal(a, b):
            raise CheckFailed("two calls with generators seeded alike gave different results: draw the "
                              "random start with torch.rand(x.shape, generator=generator)")
    with case("pgd", "random_start=True, one step of eps / 4 on 8 test digits: the start is random (x_adv is "
                     "not within one step of the result without a random start)"):
        args = (X[:8], Y[:8], 0.1, 1, 0.025)
        a = _out(st.probe("attack_run", "pgd", desc, *args, random_start=True, seed=5), "pgd(...)",
                 (8, 1, 16, 16))
        c = _out(st.probe("attack_run", "pgd", desc, *args, random_start=False), "pgd(...)", (8, 1, 16, 16))
        if np.abs(a - c).max() <= 0.025 + 1e-6:
            raise CheckFailed("with random_start=True, x_adv is within one step of the result without a "
                              "random start: when random_start is True, begin at clip(x + eps (2 u - 1), "
                              "0, 1)")

    eps, steps, step = SETTINGS["pgd_eps"], SETTINGS["pgd_steps"], SETTINGS["pgd_step_size"]
    label = (f"the course classifier, the 360 test digits, eps {eps:g}, {steps} steps of {step:g}, "
             "random start")
    result = None
    with case("pgd", f"{label}: x_adv within eps of x and in [0, 1], x unchanged"):
        result = _attack_classifier(st, "pgd", "pgd(...)", eps, steps, step, seed=0)
    _success_case("pgd", label, result, SETTINGS["attack_success"], targeted=False)


@tests.test("test_pgd_targeted")
def _(st, ref):
    _attack_case(st, "pgd", _linear(_LIN2), np.full((1, 1, 2, 2), 0.5, np.float32), np.array([0]),
                 (0.1, 3, 0.05), [[[[0.4, 0.6], [0.4, 0.5]]]],
                 "targeted toward class 1, no random start, 3 steps of 0.05 on the linear model",
                 target=np.array([1]), max_share=0, random_start=False)
    rng = np.random.default_rng(6108)
    W, b = rng.normal(size=(5, 12)).astype(np.float32), rng.normal(size=5).astype(np.float32)
    x, y = rng.random((6, 3, 2, 2)).astype(np.float32), rng.integers(0, 5, 6)
    t = (y + 3) % 5
    _attack_case(st, "pgd", _linear(W, b), x, y, (0.2, 1, 0.2), _linear_fgsm(W, b, x, t, 0.2, True),
                 "targeted toward (y + 3) % 5, one step of eps, no random start, a linear model with 5 "
                 "classes: the targeted FGSM step worked out by the grader", target=t, max_share=0,
                 random_start=False)
    X, Y = _digits16()
    with case("pgd", "targeted, no random start: the loss of the target goes down on 16 test digits"):
        t16 = (Y[:16] + 1) % 10
        seen = st.probe("attack_run", "pgd", _course_classifier()[1], X[:16], Y[:16], 0.1, 5, 0.025,
                        target=t16, random_start=False)
        adv = _out(seen, "pgd(..., target=...)", (16, 1, 16, 16))
        before, after = _cross_entropy(_logits(X[:16]), t16), _cross_entropy(_logits(adv), t16)
        if not after < before:
            raise CheckFailed(f"the cross-entropy of the targets went from {before:.3f} to {after:.3f}; a "
                              "targeted attack steps DOWN the loss of the target: x - alpha sign(gradient)")
        _clean(seen, "pgd")
    shapes = ((6, 1, 16, 41, 0.15), (4, 3, 8, 42, 0.1), (5, 1, 12, 43, 0.2))
    for n, c, size, mseed, eps in shapes:
        desc = _cnn(c, size, mseed)
        x = (X[rng.choice(len(X), n, replace=False)] if (c, size) == (1, 16)
             else rng.random((n, c, size, size)).astype(np.float32))
        y = rng.integers(0, 10, n)
        tgt = (y + 1 + rng.integers(0, 9, n)) % 10
        for steps in (1, 6):
            args = (eps, steps, eps / 3)
            expected = ref.probe("attack_run", "pgd", desc, x, y, *args, target=tgt,
                                 random_start=False)["value"]
            _attack_case(st, "pgd", desc, x, y, args, expected,
                         f"targeted, random_start=False, {steps} step(s) of eps / 3, a ProbeCNN with random "
                         f"weights, {n} images of {c} channel(s), {size}x{size}, eps {eps:g}: against the "
                         "reference", target=tgt, random_start=False)

    eps, steps, step = SETTINGS["targeted_eps"], SETTINGS["targeted_steps"], SETTINGS["targeted_step_size"]
    label = (f"targeted toward (y + 1) % 10, the course classifier, the 360 test digits, eps {eps:g}, "
             f"{steps} steps of {step:g}, random start")
    result = None
    with case("pgd", f"{label}: x_adv within eps of x and in [0, 1], x unchanged"):
        result = _attack_classifier(st, "pgd", "pgd(..., target=...)", eps, steps, step, target=True, seed=0)
    _success_case("pgd", label, result, SETTINGS["attack_success"], targeted=True)


# ------------------------------------------------------------------------------------------
# Part 3: the VAE's loss
# ------------------------------------------------------------------------------------------
def _vae_expected(logits, x, mu, logvar):
    """(loss, recon, kl) and d loss / d (logits, mu, logvar), by torch.distributions in float64."""
    import torch
    from torch.distributions import Bernoulli, Normal, kl_divergence

    lg, m, lv = (torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=True)
                 for a in (logits, mu, logvar))
    xt = torch.tensor(np.asarray(x), dtype=torch.float64)
    recon = -Bernoulli(logits=lg, validate_args=False).log_prob(xt).sum(1).mean()
    prior = Normal(torch.zeros_like(m), torch.ones_like(m))
    kl = kl_divergence(Normal(m, torch.exp(lv / 2)), prior).sum(1).mean()
    loss = recon + kl
    grads = torch.autograd.grad(loss, (lg, m, lv))
    return [loss.item(), recon.item(), kl.item()], [g.numpy() for g in grads]


def _vae_values(seen) -> list[float]:
    parts = _parts(seen, 3, "vae_loss")
    return [_scalar(p, f"vae_loss's {name} (a 0-dim tensor)")
            for p, name in zip(parts, ("loss", "recon", "kl"), strict=True)]


def _vae_case(st, ref, logits, x, mu, logvar, grads: bool = True):
    seen = st.probe("vae_run", logits, x, mu, logvar)
    got = _vae_values(seen)
    values, expected_grads = _vae_expected(logits, x, mu, logvar)
    for g, e, name in zip(got, values, ("loss", "recon", "kl"), strict=True):
        expect_close(g, e, name, rtol=1e-5, atol=1e-4)
    expected = _vae_values(ref.probe("vae_run", logits, x, mu, logvar))
    expect_close(np.array(got), np.array(expected), "(loss, recon, kl) against the reference", rtol=1e-5,
                 atol=1e-4)
    if grads:
        names = ("logits", "mu", "logvar")
        for g, e, name in zip(_grads(seen, "the loss"), expected_grads, names, strict=True):
            expect_close(g, e, f"the gradient of the loss with respect to {name}", rtol=1e-4, atol=1e-6)


def _reparameterize_case(st, mu, lv, eps, dout, expected_z=None):
    mu, lv, eps, dout = (np.asarray(a, np.float32) for a in (mu, lv, eps, dout))
    seen = st.probe("reparameterize_run", mu, lv, eps, dout)
    z = _out(seen, "reparameterize(mu, logvar, eps)", mu.shape)
    sd = np.exp(lv.astype(np.float64) / 2)
    expect_close(z, mu + sd * eps if expected_z is None else expected_z, "z = mu + exp(logvar / 2) * eps",
                 rtol=1e-5, atol=1e-6)
    g_mu, g_lv = _grads(seen, "z")
    expect_close(g_mu, dout, "the gradient of sum(z * dout) with respect to mu", rtol=1e-5, atol=1e-6)
    expect_close(g_lv, dout * 0.5 * sd * eps, "the gradient of sum(z * dout) with respect to logvar",
                 rtol=1e-4, atol=1e-6)


@tests.test("test_vae_loss")
def _(st, ref):
    with case("reparameterize", "mu (1, 2), logvar (0, 2 ln 2), eps (1, 1): z = (2, 2 + 2)"):
        _reparameterize_case(st, [[1.0, 2.0]], [[0.0, 2 * math.log(2.0)]], [[1.0, 1.0]], [[1.0, 1.0]],
                             expected_z=[[2.0, 4.0]])
    with case("reparameterize", "the gradient reaches mu and logvar: d sum(z) / d logvar = exp(logvar / 2) "
                                "eps / 2"):
        _reparameterize_case(st, np.zeros((2, 3)), [[0.0, 1.0, -1.0], [0.5, 0.0, 2.0]],
                             [[1.0, -1.0, 0.5], [2.0, 0.0, -0.3]], np.ones((2, 3)))
    rng = np.random.default_rng(6109)
    for n, k in ((7, 3), (1, 16), (32, 2)):
        mu, lv, eps, dout = (rng.normal(size=(n, k)) for _ in range(4))
        with case("reparameterize", f"random mu, logvar, eps of shape ({n}, {k}): z and its gradients with "
                                    "respect to mu and logvar"):
            _reparameterize_case(st, mu, lv, eps, dout)

    z2 = np.zeros((2, 4), np.float32)
    with case("vae_loss", "logits 0 (p = 1/2) on D = 3 pixels, mu = 0, logvar = 0: recon 3 ln 2, KL 0"):
        got = _vae_values(st.probe("vae_run", np.zeros((2, 3), np.float32),
                                   np.array([[0.0, 1.0, 0.5], [1.0, 1.0, 0.0]], np.float32), z2, z2))
        expect_close(np.array(got), [3 * math.log(2), 3 * math.log(2), 0.0], "(loss, recon, kl)", rtol=1e-6,
                     atol=1e-7)
    with case("vae_loss", "the KL term against torch.distributions, random mu and logvar (N=5, Z=4)"):
        mu, lv = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(5, 4)).astype(np.float32)
        x = rng.random((5, 6)).astype(np.float32)
        got = _vae_values(st.probe("vae_run", np.zeros((5, 6), np.float32), x, mu, lv))
        expect_close(got[2], _vae_expected(np.zeros((5, 6)), np.zeros((5, 6)), mu, lv)[0][2], "kl", rtol=1e-5)
    with case("vae_loss", "logits of +-100: the reconstruction stays finite (100 per wrong pixel)"):
        got = _vae_values(st.probe("vae_run", np.array([[100.0, -100.0, 100.0]], np.float32),
                                   np.array([[1.0, 1.0, 0.0]], np.float32), np.zeros((1, 2), np.float32),
                                   np.zeros((1, 2), np.float32)))
        expect_close(got[1], 200.0, "recon", rtol=1e-5)
    for n, d, k in ((4, 6, 2), (9, 64, 8), (1, 10, 3)):
        logits = (3 * rng.normal(size=(n, d))).astype(np.float32)
        x = rng.random((n, d)).astype(np.float32)
        x[:, ::3] = (x[:, ::3] > 0.5).astype(np.float32)  # some binary pixels, some grey
        mu = rng.normal(size=(n, k)).astype(np.float32)
        lv = (0.7 * rng.normal(size=(n, k))).astype(np.float32)
        with case("vae_loss", f"random logits ({n}, {d}), x in [0, 1], mu and logvar ({n}, {k}): loss, "
                              "recon and kl against torch.distributions (Bernoulli, Normal KL) and the "
                              "reference, and the loss's gradients"):
            _vae_case(st, ref, logits, x, mu, lv)
    logits = np.array([[100.0, -100.0, 100.0, -100.0, 0.0], [-100.0, 100.0, 50.0, -50.0, 100.0]], np.float32)
    x = np.array([[1.0, 0.0, 0.0, 1.0, 0.5], [0.5, 1.0, 0.3, 0.0, 0.0]], np.float32)
    with case("vae_loss", "logits of +-100 (right and wrong, on binary and grey pixels): finite and exact "
                          "values and gradients (binary cross-entropy with logits, not log(sigmoid))"):
        _vae_case(st, ref, logits, x, np.zeros((2, 3), np.float32), np.full((2, 3), -1.0, np.float32))


# ------------------------------------------------------------------------------------------
# Part 4: GAN losses
# ------------------------------------------------------------------------------------------
def _softplus(a):
    return np.logaddexp(0.0, a)


def _sigmoid(a):
    return np.exp(-np.logaddexp(0.0, -a))


def _loss_case(st, ref, name: str, arrays, expected: float, expected_grads=None, rtol=1e-5):
    arrays = tuple(np.asarray(a, np.float32) for a in arrays)
    seen = st.probe("loss_run", name, *arrays)
    got = _scalar(seen, f"{name}(...) (a 0-dim tensor)")
    expect_close(got, expected, f"{name}(...)", rtol=rtol, atol=1e-6)
    expect_close(got, _scalar(ref.probe("loss_run", name, *arrays), "the reference"),
                 f"{name}(...) against the reference", rtol=rtol, atol=1e-6)
    if expected_grads is not None:
        for i, (g, e) in enumerate(zip(_grads(seen, f"{name}(...)"), expected_grads, strict=True)):
            expect_close(g, e, f"the gradient of {name} with respect to its argument {i + 1}", rtol=1e-4,
                         atol=1e-7)


def _bce_d(real, fake):
    """discriminator_loss and its gradients, worked out here with softplus."""
    r, f = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    return _softplus(-r).mean() + _softplus(f).mean(), [(_sigmoid(r) - 1) / len(r), _sigmoid(f) / len(f)]


def _bce_g(fake):
    f = np.asarray(fake, np.float64)
    return _softplus(-f).mean(), [(_sigmoid(f) - 1) / len(f)]


@tests.test("test_gan_losses")
def _(st, ref):
    with case("discriminator_loss", "all logits 0 (D = 1/2 everywhere): ln 2 + ln 2"):
        _loss_case(st, ref, "discriminator_loss", (np.zeros(4), np.zeros(3)), 2 * math.log(2.0), rtol=1e-6)
    with case("generator_loss", "all logits 0: ln 2"):
        _loss_case(st, ref, "generator_loss", (np.zeros(3),), math.log(2.0), rtol=1e-6)
    with case("discriminator_loss", "logits of +-100: a sure discriminator, finite losses"):
        _loss_case(st, ref, "discriminator_loss", ([100.0, -100.0], [-100.0]), 50.0)
    with case("generator_loss", "logits of +-100: finite"):
        _loss_case(st, ref, "generator_loss", ([-100.0, 100.0],), 50.0)
    with case("generator_loss", "its gradient: d loss / d a_i = -(1 - sigmoid(a_i)) / M"):
        _loss_case(st, ref, "generator_loss", ([-3.0, 0.0, 2.0],), *_bce_g([-3.0, 0.0, 2.0]))
    rng = np.random.default_rng(6110)
    for nr, nf in ((8, 8), (5, 13), (1, 2)):
        real = (3 * rng.normal(size=nr)).astype(np.float32)
        fake = (3 * rng.normal(size=nf)).astype(np.float32)
        with case("discriminator_loss", f"{nr} random real and {nf} fake logits: against the formula and the "
                                        "reference, with gradients"):
            _loss_case(st, ref, "discriminator_loss", (real, fake), *_bce_d(real, fake))
        with case("generator_loss", f"{nf} random fake logits: against the formula and the reference, with "
                                    "gradients"):
            _loss_case(st, ref, "generator_loss", (fake,), *_bce_g(fake))
    real, fake = np.array([100.0, -100.0, 30.0]), np.array([-100.0, 100.0])
    with case("discriminator_loss", "logits of +-100, right and wrong: finite and exact values and gradients "
                                    "(no log(sigmoid(a)))"):
        _loss_case(st, ref, "discriminator_loss", (real, fake), *_bce_d(real, fake))
    with case("generator_loss", "fake logits of +-100: finite and exact values and gradients (the "
                                "non-saturating loss, -log D(G(z)))"):
        _loss_case(st, ref, "generator_loss", (fake,), *_bce_g(fake))


@tests.test("test_ls_gan_losses")
def _(st, ref):
    with case("ls_discriminator_loss", "real scores (1, 0), fake scores (0, 1, 2)"):
        _loss_case(st, ref, "ls_discriminator_loss", ([1.0, 0.0], [0.0, 1.0, 2.0]),
                   0.5 * (0 + 1) / 2 + 0.5 * (0 + 1 + 4) / 3, rtol=1e-6)
    with case("ls_generator_loss", "fake scores (0, 1, 3)"):
        _loss_case(st, ref, "ls_generator_loss", ([0.0, 1.0, 3.0],), 0.5 * (1 + 0 + 4) / 3, rtol=1e-6)
    rng = np.random.default_rng(6111)
    for nr, nf in ((8, 8), (3, 11), (1, 1)):
        real, fake = rng.normal(size=nr).astype(np.float32), rng.normal(size=nf).astype(np.float32)
        r, f = real.astype(np.float64), fake.astype(np.float64)
        with case("ls_discriminator_loss", f"{nr} random real and {nf} fake scores: against the formula and "
                                           "the reference, with gradients"):
            _loss_case(st, ref, "ls_discriminator_loss", (real, fake),
                       0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean(f**2), [(r - 1) / nr, f / nf])
        with case("ls_generator_loss", f"{nf} random fake scores: against the formula and the reference, "
                                       "with gradients"):
            _loss_case(st, ref, "ls_generator_loss", (fake,), 0.5 * np.mean((f - 1) ** 2), [(f - 1) / nf])
    with case("ls_discriminator_loss", "scores of +-100"):
        _loss_case(st, ref, "ls_discriminator_loss", ([100.0, -100.0], [100.0]), 0.5 * (99**2 + 101**2) / 2
                   + 0.5 * 100**2, [[49.5, -50.5], [100.0]])


# ------------------------------------------------------------------------------------------
# Part 5: diffusion
# ------------------------------------------------------------------------------------------
def _cosine(T: int, s: float = 0.008):
    """Nichol & Dhariwal's cosine schedule, worked out here: (betas, alphas, alpha_bars) float64."""
    t = np.arange(T + 1, dtype=np.float64)
    f = np.cos((t / T + s) / (1 + s) * np.pi / 2) ** 2
    betas = np.minimum(1 - f[1:] / f[:-1], 0.999)
    alphas = 1 - betas
    return betas, alphas, np.cumprod(alphas)


def _schedule(seen: dict, T: int) -> list[np.ndarray]:
    parts = _parts(seen, 3, f"cosine_schedule({T})")
    return [_out(p, f"cosine_schedule({T})'s {name}", (T,), "float64")
            for p, name in zip(parts, ("betas", "alphas", "alpha_bars"), strict=True)]


@tests.test("test_cosine_schedule")
def _(st, ref):
    names = ("betas", "alphas", "alpha_bars")
    with case("cosine_schedule", "T = 4, by hand"):
        for g, w, name in zip(_schedule(st.probe("schedule_run", 4), 4), _cosine(4), names, strict=True):
            expect_close(g, w, name, rtol=1e-9)
    for T in (1, 10, 100, 1000):
        falling = ", alpha_bars falling" if T > 1 else ""
        with case("cosine_schedule", f"T = {T}: (betas, alphas, alpha_bars), each ({T},) float64, against "
                                     f"the formula and the reference{falling}"):
            got = _schedule(st.probe("schedule_run", T), T)
            expected = _schedule(ref.probe("schedule_run", T), T)
            for g, e, w, name in zip(got, expected, _cosine(T), names, strict=True):
                expect_close(g, w, name, rtol=1e-10, atol=1e-12)
                expect_close(g, e, f"{name} against the reference", rtol=1e-10, atol=1e-12)
            if T > 1 and not np.all(np.diff(got[2]) < 0):
                raise CheckFailed("alpha_bars should fall at every step")
            if got[0].max() > 0.999:
                raise CheckFailed(f"betas should be clipped at 0.999, got a largest beta of "
                                  f"{got[0].max():.6g}")
    with case("cosine_schedule", "T = 50 with s = 0.02"):
        got = _schedule(st.probe("schedule_run", 50, 0.02), 50)
        for g, w, name in zip(got, _cosine(50, 0.02), names, strict=True):
            expect_close(g, w, name, rtol=1e-10, atol=1e-12)


def _diffusion_inputs(rng, n: int, T: int, ts=None):
    x0 = (2 * rng.random((n, 1, 8, 8)) - 1).astype(np.float32)
    eps = rng.normal(size=(n, 1, 8, 8)).astype(np.float32)
    t = np.asarray(ts if ts is not None else rng.integers(1, T + 1, n), np.int64)
    return x0, t, eps


def _visible_diffusion_inputs():
    """The visible cases' x0, eps (torch.Generator seed 0: rand * 2 - 1, then randn)."""
    import torch

    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(2, 1, 8, 8, generator=g) * 2 - 1
    return x0.numpy(), torch.randn(2, 1, 8, 8, generator=g).numpy()


@tests.test("test_diffusion_loss")
def _(st, ref):
    x0, eps = _visible_diffusion_inputs()
    abar2, t12 = np.array([0.64, 0.36]), np.array([1, 2])
    xt_want = np.stack([0.8 * x0[0] + 0.6 * eps[0], 0.6 * x0[1] + 0.8 * eps[1]]).astype(np.float64)
    with case("q_sample", "alpha_bars (0.64, 0.36), t = (1, 2): x_t = 0.8 x0 + 0.6 eps, 0.6 x0 + 0.8 eps"):
        got = _out(st.probe("q_sample_run", x0, t12, eps, abar2), "q_sample(x0, t, eps, alpha_bars)",
                   (2, 1, 8, 8))
        expect_close(got, xt_want, "x_t", rtol=1e-5, atol=1e-6)
    with case("diffusion_loss", "a one-weight denoiser eps_hat = w x_t, w = 0.5: value and gradient",
              uses=("q_sample",)):
        seen = st.probe("diffusion_loss_run", {"kind": "scale", "w": 0.5}, x0, t12, eps, abar2)
        expect_close(_scalar(seen, "diffusion_loss(...) (a 0-dim tensor)"),
                     ((0.5 * xt_want - eps) ** 2).mean(), "loss", rtol=1e-5)
        expect_close(_grads(seen, "the loss")["w"], (2 * (0.5 * xt_want - eps) * xt_want).mean(),
                     "d loss / d w", rtol=1e-4)
    rng = np.random.default_rng(6112)
    for n, T, ts in ((6, 10, None), (4, 100, [1, 1, 100, 100]), (16, 1000, None)):
        _, _, abar = _cosine(T)
        x0, t, eps = _diffusion_inputs(rng, n, T, ts)
        with case("q_sample", f"{n} random images, t in 1..{T}" + (" (t = 1 and t = T)" if ts else "")
                  + ", the cosine schedule: float32, against the formula and the reference"):
            got = _out(st.probe("q_sample_run", x0, t, eps, abar), "q_sample(x0, t, eps, alpha_bars)",
                       x0.shape)
            ab = abar[t - 1][:, None, None, None]
            expect_close(got, np.sqrt(ab) * x0 + np.sqrt(1 - ab) * eps, "x_t", rtol=1e-5, atol=1e-6)
            expected = ref.probe("q_sample_run", x0, t, eps, abar)["value"]
            expect_close(got, expected, "x_t against the reference", rtol=1e-5, atol=1e-6)
    for n, T, seed in ((5, 10, 1), (12, 100, 2)):
        _, _, abar = _cosine(T)
        desc = _tiny(T, seed)
        x0, t, eps = _diffusion_inputs(rng, n, T)
        t[0] = 1
        with case("diffusion_loss", f"a small fixed noise predictor, {n} random images, t in 1..{T}: the "
                                    "loss and its gradient with respect to the model's weights, against the "
                                    "reference",
                  uses=("q_sample",)):
            seen = st.probe("diffusion_loss_run", desc, x0, t, eps, abar)
            got = _scalar(seen, "diffusion_loss(model, x0, t, eps, alpha_bars) (a 0-dim tensor)")
            expected = ref.probe("diffusion_loss_run", desc, x0, t, eps, abar)
            expect_close(got, float(np.asarray(expected["value"])), "the loss", rtol=1e-5, atol=1e-7)
            for name, g in _grads(seen, "the loss").items():
                expect_close(g, expected["grads"][name], f"the gradient with respect to the model's {name}",
                             rtol=1e-4, atol=1e-7)


def _step_case(st, ref, desc, x, t, z, betas, abar, label, expected=None, z_free=False):
    with case("reverse_step", label):
        seen = st.probe("reverse_step_run", desc, x, t, z, betas, abar)
        got = _out(seen, "reverse_step(model, x_t, t, z, betas, alpha_bars)", x.shape)
        if expected is None:
            expected = ref.probe("reverse_step_run", desc, x, t, z, betas, abar)["value"]
        expect_close(got, expected, "x_{t-1}", rtol=1e-5, atol=1e-5)
        if z_free:
            other = st.probe("reverse_step_run", desc, x, t, 100 * z, betas, abar)
            expect_close(_out(other, "reverse_step(...)", x.shape), expected,
                         "x_0 with another z (at t = 1 it does not depend on z)", rtol=1e-5, atol=1e-5)
        if seen["graph"]:
            raise CheckFailed("reverse_step returned a tensor that requires grad: run the model under "
                              "torch.no_grad()")
        if seen["x_changed"]:
            raise CheckFailed("reverse_step changed x_t in place: compute x_{t-1} as a new tensor")
        if seen["grads_left"]:
            raise CheckFailed("reverse_step left gradients in the model's parameters: it only samples, "
                              "without a backward pass")


@tests.test("test_reverse_step")
def _(st, ref):
    import torch

    zero = {"kind": "zero"}
    betas = np.array([0.1, 0.2, 0.3])
    abar = np.cumprod(1 - betas)  # 0.9, 0.72, 0.504
    g = torch.Generator().manual_seed(0)
    x, z = (0.4 * torch.randn(3, 1, 8, 8, generator=g)).numpy(), torch.randn(3, 1, 8, 8, generator=g).numpy()
    x = x.astype(np.float64)
    mu = math.sqrt(0.9) * 0.2 / 0.28 * np.clip(x / math.sqrt(0.72), -1, 1) + math.sqrt(0.8) * 0.1 / 0.28 * x
    x32 = x.astype(np.float32)
    _step_case(st, ref, zero, x32, 2, z, betas, abar, "t = 2 of 3, eps_hat = 0",
               expected=mu + math.sqrt(0.1 / 0.28 * 0.2) * z)
    _step_case(st, ref, zero, x32, 1, z, betas, abar, "t = 1: no noise; with abar_0 = 1 the mean is x0_hat "
               "itself", expected=np.clip(x / math.sqrt(0.9), -1, 1), z_free=True)
    mu = math.sqrt(0.72) * 0.3 / (1 - 0.504) * 1.0 + math.sqrt(0.7) * (1 - 0.72) / (1 - 0.504) * 10.0
    _step_case(st, ref, zero, np.full((1, 1, 8, 8), 10.0, np.float32), 3, np.zeros((1, 1, 8, 8), np.float32),
               betas, abar, "t = 3, x_t = 10 everywhere: x0_hat is clamped to 1",
               expected=np.full((1, 1, 8, 8), mu))
    with case("sample", "5 samples with the zero denoiser: shape, range, repeatable", uses=("reverse_step",)):
        seen = st.probe("sample_run", zero, 5, betas, abar, 3)
        s = _out(seen, "sample(model, 5, ...)", (5, 1, 8, 8), dtype=None)
        if not (s.min() >= -1 and s.max() <= 1):
            raise CheckFailed(f"the samples should be clamped to [-1, 1], got [{s.min():.3f}, {s.max():.3f}]")
        if not seen["same"]:
            raise CheckFailed("two calls with generators seeded alike gave different samples: draw x_T and "
                              "every z with torch.randn(..., generator=generator)")
    for T, seed, n in ((3, 11, 5), (10, 12, 4)):
        b_T, _, ab_T = _cosine(T)
        desc = _tiny(T, seed)
        with case("sample", f"T = {T}, a small fixed noise predictor, {n} samples from a generator seeded "
                  f"{seed}: against the reference (x_T, then z for t = T, ..., 2)", uses=("reverse_step",)):
            got = _out(st.probe("sample_run", desc, n, b_T, ab_T, seed), f"sample(model, {n}, ...)",
                       (n, 1, 8, 8), dtype=None)
            expect_close(got, ref.probe("sample_run", desc, n, b_T, ab_T, seed)["value"], "samples",
                         rtol=1e-4, atol=1e-5)
    rng = np.random.default_rng(6113)
    for T, seed in ((10, 3), (100, 4)):
        betas, _, abar = _cosine(T)
        desc = _tiny(T, seed)
        for t in (T, T // 2, 2, 1):
            x = rng.normal(size=(5, 1, 8, 8)).astype(np.float32)
            z = rng.normal(size=(5, 1, 8, 8)).astype(np.float32)
            what = {T: " (t = T)", 1: " (t = 1: no noise, z is ignored)"}.get(t, "")
            _step_case(st, ref, desc, x, t, z, betas, abar, f"T = {T}, t = {t}{what}, a small fixed noise "
                       "predictor, 5 random x_t: against the reference", z_free=t == 1)
    T = 100
    betas, _, abar = _cosine(T)
    desc = _tiny(T, 5)
    for t in (T, 30, 2):
        x = (40 * rng.normal(size=(4, 1, 8, 8))).astype(np.float32)
        z = rng.normal(size=(4, 1, 8, 8)).astype(np.float32)
        _step_case(st, ref, desc, x, t, z, betas, abar, f"T = {T}, t = {t}, x_t of size about 40: x0_hat "
                   "must be clamped to [-1, 1] before the posterior mean")


# ------------------------------------------------------------------------------------------
# The trained denoiser: sampled and scored here
# ------------------------------------------------------------------------------------------
SAMPLE_SEED = 604_211  # the grader's own noise (this file is never released nor mounted)

_DENOISER_USES = ("cosine_schedule", "q_sample", "diffusion_loss", "train_denoiser")
_DENOISER_HINT = ("What to check: the notebook trains `denoiser` with your cosine_schedule, q_sample, "
                  "diffusion_loss and train_denoiser (their tests above should pass); train_denoiser must "
                  "run `steps` steps, each on a fresh batch with t uniform in 1..T and eps ~ N(0, I) drawn "
                  "from the generator, with zero_grad, backward, the optimizer's step and the scheduler's "
                  "step; its losses should fall over the run.")


@functools.lru_cache(maxsize=1)
def _reference_classifier():
    from dlcv.generative.reference import reference_classifier
    from dlcv.timing import torch_threads

    with torch_threads(1):
        return reference_classifier(seed=0)


def _given_timemlp(seen: dict, T: int):
    """The notebook's given TimeMLP(T), built here from the source's given cell, with the weights
    of the student's `denoiser` (`seen`: the probe denoiser_weights's reply). The grader samples
    with the architecture it gave and the weights the student trained, so no code of the
    student's runs in the sampler."""
    import torch

    ns: dict = {}
    exec(compile(tests.preamble, "<preamble>", "exec"), ns)  # noqa: S102 - the instructor's code
    given = dict(SOURCE.reference_source())["given_denoiser"]
    exec(compile(given, "<given_denoiser>", "exec"), ns)  # noqa: S102 - the source's given cell
    net = ns["TimeMLP"](T)
    fit = "`denoiser` should be the given TimeMLP that the training cell builds and trains"
    if seen["weights"] is None:
        raise CheckFailed(f"`denoiser` is a {seen['type']}, not a network: {fit}")
    own, got = net.state_dict(), seen["weights"]
    missing, extra = sorted(set(own) - set(got)), sorted(set(got) - set(own))
    shapes = [f"{k} {tuple(np.shape(got[k]))} (TimeMLP: {tuple(own[k].shape)})" for k in own
              if k in got and tuple(np.shape(got[k])) != tuple(own[k].shape)]
    if missing or extra or shapes:
        parts = ([f"missing {', '.join(missing[:4])}"] if missing else []) + \
                ([f"not in TimeMLP: {', '.join(extra[:4])}"] if extra else []) + shapes[:4]
        raise CheckFailed(f"the grader samples with the given TimeMLP({T}) and your denoiser's weights, but "
                          f"the weights of your {seen['type']} do not fit it ({'; '.join(parts)}): {fit}")
    if not all(np.all(np.isfinite(v)) for v in got.values()):
        raise CheckFailed("the denoiser's weights contain NaN or inf: the training diverged")
    net.load_state_dict({k: torch.as_tensor(np.asarray(v, np.float32)) for k, v in got.items()})
    return net.eval()


def _eps_of(net):
    """eps_hat(x, t) of a torch denoiser: x (N, 1, 8, 8) float64 array, t an int -> float64 array."""
    import torch

    def eps(x, t):
        with torch.no_grad():
            out = net(torch.as_tensor(x, dtype=torch.float32),
                      torch.full((len(x),), int(t), dtype=torch.int64))
        return out.double().numpy()

    return eps


def _grader_samples(eps_hat, n: int, T: int) -> np.ndarray:
    """n samples in [-1, 1] from the grader's clipped ancestral sampler (T steps, the cosine
    schedule, noise from SAMPLE_SEED), with the noise predictions eps_hat(x_t, t)."""
    betas, alphas, abar = _cosine(T)
    abar_prev = np.r_[1.0, abar[:-1]]
    rng = np.random.default_rng(SAMPLE_SEED)
    x = rng.standard_normal((n, 1, 8, 8))
    for t in range(T, 0, -1):
        i = t - 1
        eps = np.asarray(eps_hat(x, t), np.float64)
        x0 = np.clip((x - np.sqrt(1 - abar[i]) * eps) / np.sqrt(abar[i]), -1, 1)
        mean = (np.sqrt(abar_prev[i]) * betas[i] / (1 - abar[i]) * x0
                + np.sqrt(alphas[i]) * (1 - abar_prev[i]) / (1 - abar[i]) * x)
        var = (1 - abar_prev[i]) / (1 - abar[i]) * betas[i]
        x = mean + np.sqrt(var) * rng.standard_normal(x.shape) if t > 1 else mean
    return np.clip(x, -1, 1)


@tests.test("test_trained_denoiser")
def _(st, ref):
    from dlcv.generative.reference import score_samples

    T, n = SETTINGS["T"], SETTINGS["num_samples"]
    target, floor = SETTINGS["confident_target"], SETTINGS["min_class_count"]
    score, status = None, {}
    with case("the trained denoiser", f"{n} samples drawn by the grader's own sampler ({T} steps, clipped "
                                      "x0_hat, noise of its own) with the given TimeMLP holding your "
                                      "denoiser's weights",
              uses=_DENOISER_USES):
        status = st.probe("denoiser_status", T)
        if not status["denoiser"]:
            raise CheckFailed(f"`denoiser` should be the trained network (an nn.Module), got "
                              f"{status['type']}: run the training cell until it ends without an error")
        if not status["trained"]:
            raise CheckFailed("the training cell did not finish (`losses` is None): run it until it ends "
                              "without an error")
        net = _given_timemlp(st.with_timeout(60).probe("denoiser_weights"), T)
        samples = _grader_samples(_eps_of(net), n, T)
        score = score_samples((samples + 1) / 2, _reference_classifier())
    if score is None:
        return
    rare = int(score.histogram.min())
    classes = " ".join(str(int(c)) for c in score.histogram)
    with case("the trained denoiser", f"{score.confident:.1%} of the {n} samples labelled with "
                                      "confidence >= 0.9 by the reference classifier (at least "
                                      f"{target:.0%}); the rarest digit drawn {rare} times (at least "
                                      f"{floor}); classes {classes}",
              uses=_DENOISER_USES):
        try:
            expect_at_least(score.confident, target, "the share of confident samples")
            if rare < floor:
                raise CheckFailed(f"the rarest digit was drawn {rare} times in {n} samples; at least "
                                  f"{floor} are needed (a generator that leaves out digits has collapsed)")
        except CheckFailed as e:
            steps, recipe = status.get("steps"), SETTINGS["train_steps"]
            note = (f" The training cell's `losses` has {steps} entries; the recipe trains {recipe} steps."
                    if steps is not None and steps != recipe else "")
            raise CheckFailed(f"{e}.{note} {_DENOISER_HINT}") from None
