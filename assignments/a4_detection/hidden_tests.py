"""Hidden tests of assignment 4 (trusted: run by the grader, never in the student's kernel).

Every test repeats the visible cases of its cell and adds hidden ones. Inputs are made here;
`st` calls the student's code in the sandbox, `ref` the source notebook's solutions here; every
comparison happens here.

Two kernels answer. The numpy parts (IoU, NMS, box coding, anchors, matching, AP, evaluation,
RoI pooling) run in a fresh numpy-only kernel that executes only their answer cells (the tests
marked isolated). The PyTorch parts (the losses, the detector's head layout, loss and
post-processing, the trained detector) run in the notebook's kernel, through the probes of
autograder/inside/probes/a4_detection.py, which turn the grader's arrays into tensors and hand
back arrays. The trained detector's detections on the test scenes are scored here, against
ground truth made here.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time

import numpy as np

from autograder.hidden import NUMPY_ONLY, HiddenTests, Isolated, as_array, case, expect_raises
from dlcv.checks import CheckFailed, expect_at_least, expect_close, expect_equal, expect_shape

NUMPY_CELLS = ["box_iou", "nms", "batched_nms", "box_coding", "generate_anchors", "match_anchors",
               "average_precision", "evaluate_detections", "roi_pool", "roi_align"]

tests = HiddenTests(
    probes="a4_detection",
    preamble=("import math\nimport time\n\nimport numpy as np\nimport torch\n"
              "import torch.nn.functional as F\nfrom torch import nn\nfrom tqdm.auto import tqdm\n\n"
              "from dlcv.timing import torch_threads"),
    dlcv=["checks", "data", "gradcheck", "plots", "shapes", "timing"],
    isolated=Isolated(cells=NUMPY_CELLS, preamble="import math\n\nimport numpy as np", blocked=NUMPY_ONLY),
)


def _scenes(n, seed):
    from dlcv.shapes import make_scenes

    return make_scenes(n, seed=seed)


def _tuple(got, n, what):
    """A reply that should be a tuple (or list) of n items."""
    if not isinstance(got, (tuple, list)) or len(got) != n:
        length = f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
        raise CheckFailed(f"{what} should return a tuple of {n} items, got {type(got).__name__}{length}")
    return got


def _real(x, name):
    """A reply that should be one number, as a float."""
    a = as_array(x, name)
    if a.size != 1:
        raise CheckFailed(f"{name} should be a single number, got an array of shape {a.shape}")
    return float(a.reshape(()))


def _isclose(got, expected, rtol, atol) -> bool:
    try:
        return bool(np.isclose(_real(got, "ap"), expected, rtol=rtol, atol=atol))
    except CheckFailed:
        return False


# ------------------------------------------------------------------------------------------
# When a function that uses others of the student's is wrong: is one of those the cause?
# ------------------------------------------------------------------------------------------
_A1 = np.array([[0.0, 0.0, 4.0, 4.0]])
_B4 = np.array([[2.0, 2.0, 6.0, 6.0], [4.0, 0.0, 8.0, 4.0], [0.0, 0.0, 4.0, 4.0], [1.0, 1.0, 3.0, 3.0]])
_BOXES = np.array([[0.0, 0.0, 10.0, 10.0], [1.0, 0.0, 11.0, 10.0], [20.0, 20.0, 30.0, 30.0],
                   [0.0, 2.0, 10.0, 12.0]])
_ANC6 = np.array([[0.0, 0.0, 10.0, 10.0], [2.0, 0.0, 12.0, 10.0], [5.0, 0.0, 15.0, 10.0],
                  [3.5, 0.0, 13.5, 10.0], [30.0, 30.0, 50.0, 50.0], [60.0, 60.0, 70.0, 70.0]])
_GT2 = np.array([[0.0, 0.0, 10.0, 10.0], [28.0, 28.0, 32.0, 32.0]])
_S4 = np.array([0.9, 0.8, 0.7, 0.6])

_USES = {  # the student's functions that each of these calls
    "nms": ("box_iou",),
    "batched_nms": ("box_iou", "nms"),
    "match_anchors": ("box_iou",),
    "evaluate_detections": ("box_iou", "average_precision"),
    "detection_loss": ("box_iou", "match_anchors", "encode_boxes", "smooth_l1", "sigmoid_focal_loss"),
    "postprocess": ("box_iou", "nms", "batched_nms", "decode_boxes"),
    "the trained detector": ("box_iou", "nms", "batched_nms", "encode_boxes", "decode_boxes",
                             "generate_anchors", "match_anchors", "smooth_l1", "sigmoid_focal_loss",
                             "flatten_predictions", "detection_loss", "postprocess"),
}


def _helper_check(st, ref, name):
    """A small case of one of the student's functions (raises when it is wrong)."""
    if name == "box_iou":
        expect_close(st.box_iou(_A1, _B4), [[4 / 28, 0.0, 1.0, 0.25]], "iou")
        xy = np.random.default_rng(7).uniform(0, 20, (9, 2))
        b = np.concatenate([xy, xy + np.random.default_rng(8).uniform(1, 10, (9, 2))], axis=1)
        expect_close(st.box_iou(b[:4], b[4:]), ref.box_iou(b[:4], b[4:]), "iou")
    elif name == "nms":
        expect_equal(st.nms(_BOXES, _S4, 0.5), [0, 2], "keep")
    elif name == "batched_nms":
        expect_equal(st.batched_nms(_BOXES, _S4, np.array([0, 1, 0, 0]), 0.5), [0, 1, 2], "keep")
    elif name == "encode_boxes":
        expect_close(st.encode_boxes(np.array([[5.0, 5.0, 25.0, 15.0]]), _A1 * 2.5),
                     [[1.0, 0.5, np.log(2.0), 0.0]], "deltas")
    elif name == "decode_boxes":
        expect_close(st.decode_boxes(np.array([[1.0, 0.5, np.log(2.0), 0.0]]), _A1 * 2.5),
                     [[5.0, 5.0, 25.0, 15.0]], "boxes")
    elif name == "generate_anchors":
        args = ((2, 3), 4, (4.0, 8.0), (0.5, 2.0))
        expect_close(st.generate_anchors(*args), ref.generate_anchors(*args), "anchors")
    elif name == "match_anchors":
        labels = _tuple(st.match_anchors(_ANC6, _GT2, 0.5, 0.4), 2, "match_anchors")[0]
        expect_equal(labels, [1, 1, 0, -1, 1, 0], "labels")
    elif name == "average_precision":
        rec, prec = np.array([0.25, 0.25, 0.5, 0.75, 0.75]), np.array([1.0, 0.5, 2 / 3, 0.75, 0.6])
        expect_close(st.average_precision(rec, prec, "all-point"), 0.625, "ap")
        expect_close(st.average_precision(rec, prec, "11-point"), (3 + 5 * 0.75) / 11, "ap")
    elif name in ("smooth_l1", "sigmoid_focal_loss"):
        x = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
        args = (name, x, (x > 0).astype(np.float64)) if name == "sigmoid_focal_loss" else (name, x)
        kw = dict(dtype="float64", dout=np.ones_like(x))
        seen, expected = st.probe("elementwise_loss", *args, **kw), ref.probe("elementwise_loss", *args, **kw)
        expect_close(seen["value"], expected["value"], "loss")
        expect_close(seen["grad"], expected["grad"], "gradient")
    elif name == "flatten_predictions":
        args = (np.arange(12.0, dtype=np.float32).reshape(1, 6, 1, 2),
                np.arange(16.0, dtype=np.float32).reshape(1, 8, 1, 2), 2)
        seen, expected = st.probe("flatten_run", *args), ref.probe("flatten_run", *args)
        expect_close(seen[1][0], expected[1][0], "cls_logits")
        expect_close(seen[1][1], expected[1][1], "box_deltas")
    elif name == "detection_loss":
        args = (np.zeros((1, 3, 2), np.float32), np.zeros((1, 3, 4), np.float32), _ANC6[[0, 4, 5]],
                [np.array([[1.0, 0.0, 11.0, 10.0]])], [np.array([1])])
        seen, expected = st.probe("detection_loss_run", *args), ref.probe("detection_loss_run", *args)
        expect_close(np.array(_losses(seen)), np.array([float(v) for v in expected["values"]]), "losses",
                     rtol=1e-5)
    elif name == "postprocess":
        args = (np.array([[[3.0, -3.0], [2.0, -5.0]]], np.float32), np.zeros((1, 2, 4), np.float32),
                _ANC6[:2] - 4, (64, 64), 0.05, 0.8)
        got = _detections(st.probe("postprocess_run", *args), 1, "detections")
        expected = ref.probe("postprocess_run", *args)
        expect_close(got[0]["boxes"], expected[0]["boxes"], "boxes")
        expect_close(got[0]["scores"], expected[0]["scores"], "scores", rtol=1e-5)


@contextlib.contextmanager
def _blame(st, ref, function):
    """A failed check of `function` says which of the student's functions it uses are wrong."""
    try:
        yield
    except CheckFailed as e:
        wrong = []
        for h in _USES[function]:
            try:
                _helper_check(st, ref, h)
            except Exception:  # noqa: BLE001 - wrong, or failing: either way a cause
                wrong.append(h)
        if not wrong:
            raise
        one = len(wrong) == 1
        first, *rest = str(e).split("\n")
        note = (f" ({function} uses your {', '.join(wrong)}, which {'is' if one else 'are'} wrong on a small "
                f"case of {'its' if one else 'their'} own: fix {'it' if one else 'them'} first)")
        raise CheckFailed("\n".join([first + note, *rest])) from None


def _cases(st, ref, function):
    """`with c(name):` a case of `function` whose failure names the wrong functions it uses (and
    reminds of all of them)."""

    @contextlib.contextmanager
    def c(name):
        with case(function, name, uses=_USES[function]), _blame(st, ref, function):
            yield

    return c


# ------------------------------------------------------------------------------------------
# Part 1: IoU (isolated: numpy only)
# ------------------------------------------------------------------------------------------
def _t_iou(a, b):
    """Reference IoU in torch (torchvision's formula, float64), with 0 for an empty union."""
    import torch

    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    wh = (torch.minimum(a[:, None, 2:], b[None, :, 2:])
          - torch.maximum(a[:, None, :2], b[None, :, :2])).clamp(min=0)
    inter = wh.prod(dim=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-300), torch.zeros_like(inter)).numpy()


@tests.test("test_box_iou", isolated=True)
def _(st, ref):
    f = st.box_iou
    with case("box_iou", "one 4x4 box against four others"):
        iou = f(_A1, _B4)
        expect_shape(iou, (1, 4), "box_iou(a, b)")
        expect_close(iou, [[4 / 28, 0.0, 1.0, 0.25]], "box_iou(a, b)")
        expect_close(f(_B4, _A1), [[4 / 28], [0.0], [1.0], [0.25]], "box_iou(b, a)")
    z = np.array([[3.0, 1.0, 3.0, 5.0]])
    with case("box_iou", "a zero-area box (x1 == x2) against itself and another"):
        expect_close(f(z, np.concatenate([z, _A1])), [[0.0, 0.0]], "box_iou(zero_area, [itself, a])")
    with case("box_iou", "empty inputs"):
        expect_shape(f(np.zeros((0, 4)), _B4), (0, 4), "box_iou(no boxes, 4 boxes)")
        expect_shape(f(_B4, np.zeros((0, 4))), (4, 0), "box_iou(4 boxes, no boxes)")

    rng = np.random.default_rng(4101)
    for n, m in ((7, 5), (1, 30), (40, 1), (60, 80)):
        xy = rng.uniform(0, 50, size=(n + m, 2))
        wh = rng.uniform(0, 25, size=(n + m, 2)) * (rng.random((n + m, 2)) > 0.1)
        boxes = np.concatenate([xy, xy + wh], axis=1)
        with case("box_iou", f"{n} x {m} random boxes (some of zero width or height), against torch"):
            got = f(boxes[:n], boxes[n:])
            expect_shape(got, (n, m), "iou")
            expect_close(got, _t_iou(boxes[:n], boxes[n:]), "iou", rtol=0, atol=1e-6)
    bi = np.array([[0, 0, 10, 10], [5, 5, 15, 20]])
    with case("box_iou", "float32 and integer inputs"):
        expect_close(f(bi, bi.astype(np.float32)), _t_iou(bi, bi), "iou", rtol=0, atol=1e-6)
    with case("box_iou", "two zero-area boxes at the same place"):
        expect_close(f(np.array([[2.0, 2.0, 2.0, 2.0]]), np.array([[2.0, 2.0, 2.0, 2.0]])), [[0.0]], "iou")
    big = np.concatenate([rng.uniform(0, 100, (3000, 2)), rng.uniform(100, 150, (3000, 2))], axis=1)
    with case("box_iou", "1000 x 2000 boxes: vectorised (no loop over pairs)"):
        t0 = time.perf_counter()
        _t_iou(big[:1000], big[1000:])
        limit = max(2.0, 15 * (time.perf_counter() - t0))  # relative to torch: a busy machine does not matter
        t0 = time.perf_counter()
        shape = st.probe("box_iou_shape", big[:1000], big[1000:])  # timed here; the matrix stays there
        dt = time.perf_counter() - t0
        if tuple(shape) != (1000, 2000):
            raise CheckFailed(f"iou should have shape (1000, 2000), got {tuple(shape)}")
        if dt > limit:
            raise CheckFailed(f"2,000,000 pairs took {dt:.1f} s; broadcast over both sets instead of looping "
                              "over pairs")


# ------------------------------------------------------------------------------------------
# Part 2: NMS (isolated)
# ------------------------------------------------------------------------------------------
def _clustered(rng, n, k_centres):
    c = rng.uniform(10, 90, size=(k_centres, 2))[rng.integers(0, k_centres, n)]
    c = c + rng.normal(0, 3, size=(n, 2))
    wh = rng.uniform(8, 20, size=(n, 2))
    return np.concatenate([c - wh / 2, c + wh / 2], axis=1)


@tests.test("test_nms", isolated=True)
def _(st, ref):
    f, c = st.nms, _cases(st, ref, "nms")
    with c("4 boxes, scores (0.9, 0.8, 0.7, 0.6), threshold 0.5"):
        keep = f(_BOXES, _S4, 0.5)
        expect_equal(keep, np.array([0, 2]), "keep")
        if as_array(keep, "keep").dtype != np.int64:
            raise CheckFailed(f"keep should be an int64 array, got dtype {np.asarray(keep).dtype}")
    with c("the same boxes, threshold 0.7: box 3 (IoU 0.67) survives"):
        expect_equal(f(_BOXES, _S4, 0.7), np.array([0, 2, 3]), "keep")
    with c("a tie: boxes 0 and 1 both score 0.8; the lower index wins"):
        expect_equal(f(_BOXES, np.array([0.8, 0.8, 0.9, 0.1]), 0.5), np.array([2, 0]), "keep")
    with c("no boxes"):
        expect_equal(f(np.zeros((0, 4)), np.zeros(0), 0.5), np.zeros(0, dtype=np.int64), "keep")

    rng = np.random.default_rng(4102)
    for n, thr, ties in ((60, 0.5, False), (120, 0.3, False), (120, 0.7, False), (80, 0.5, True),
                         (1, 0.5, False)):
        b = _clustered(rng, n, 6)
        s = np.round(rng.random(n), 1) if ties else rng.random(n)
        with c(f"{n} clustered random boxes, threshold {thr}" + (", many tied scores" if ties else "")
               + ", against a reference"):
            expect_equal(as_array(f(b, s, thr), "keep"), ref.nms(b, s, thr), "keep")
    s = np.array([0.2, 0.9, 0.5, 0.7])
    with c("threshold 1.0 keeps every box (in score order); threshold 0 keeps no overlapping pair"):
        expect_equal(f(_BOXES, s, 1.0), np.array([1, 3, 2, 0]), "keep")
        expect_equal(f(_BOXES, s, 0.0), ref.nms(_BOXES, s, 0.0), "keep")


@tests.test("test_batched_nms", isolated=True)
def _(st, ref):
    f, c = st.batched_nms, _cases(st, ref, "batched_nms")
    with c("the 4 boxes above; box 1 has another label than box 0"):
        expect_equal(f(_BOXES, _S4, np.array([0, 1, 0, 0]), 0.5), np.array([0, 1, 2]), "keep")
    rng = np.random.default_rng(4103)
    for n, k, thr in ((90, 3, 0.5), (60, 1, 0.4), (100, 5, 0.6)):
        b = _clustered(rng, n, 5)
        s, lab = np.round(rng.random(n), 2), rng.integers(0, k, n)
        with c(f"{n} clustered boxes of {k} labels, threshold {thr}, against a reference"):
            expect_equal(as_array(f(b, s, lab, thr), "keep"), ref.batched_nms(b, s, lab, thr), "keep")
    with c("no boxes"):
        keep = as_array(f(np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64), 0.5), "keep")
        if keep.shape != (0,):
            raise CheckFailed(f"without boxes, keep should be an empty array, got {keep!r}")


# ------------------------------------------------------------------------------------------
# Part 3: box coding (isolated)
# ------------------------------------------------------------------------------------------
@tests.test("test_box_coding", isolated=True)
def _(st, ref):
    box, anchor = np.array([[5.0, 5.0, 25.0, 15.0]]), np.array([[0.0, 0.0, 10.0, 10.0]])
    with case("encode_boxes", "anchor (0, 0, 10, 10), box (5, 5, 25, 15): centre +10 / +5, twice as wide"):
        d = st.encode_boxes(box, anchor)
        expect_shape(d, (1, 4), "deltas")
        expect_close(d, [[1.0, 0.5, np.log(2.0), 0.0]], "deltas")
        expect_close(st.encode_boxes(box, anchor, (10, 10, 5, 5)), [[10.0, 5.0, 5 * np.log(2.0), 0.0]],
                     "deltas with weights (10, 10, 5, 5)")
    with case("decode_boxes", "the same anchor and deltas back to the box"):
        expect_close(st.decode_boxes(np.array([[1.0, 0.5, np.log(2.0), 0.0]]), anchor),
                     [[5.0, 5.0, 25.0, 15.0]], "boxes")

    rng = np.random.default_rng(4104)
    anc = np.concatenate([rng.uniform(0, 60, (50, 2)), np.zeros((50, 2))], axis=1)
    anc[:, 2:] = anc[:, :2] + rng.uniform(4, 40, (50, 2))
    boxes = np.concatenate([rng.uniform(0, 60, (50, 2)), np.zeros((50, 2))], axis=1)
    boxes[:, 2:] = boxes[:, :2] + rng.uniform(2, 50, (50, 2))
    tol = dict(rtol=1e-9, atol=1e-9)
    for w in ((1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)):
        with case("encode_boxes", f"50 random boxes and anchors, weights {w}, against a reference"):
            expect_close(st.encode_boxes(boxes, anc, w), ref.encode_boxes(boxes, anc, w), "deltas", **tol)
        d = rng.normal(0, 1, (50, 4)) * np.array(w)
        with case("decode_boxes", f"50 random deltas, weights {w}, against a reference"):
            expect_close(st.decode_boxes(d, anc, w), ref.decode_boxes(d, anc, w), "boxes", **tol)
        with case("decode_boxes", f"decode(encode(boxes)) == boxes, weights {w}"):
            expect_close(st.decode_boxes(st.encode_boxes(boxes, anc, w), anc, w), boxes, "boxes", **tol)
    with case("decode_boxes", "t_w = t_h = 20 are clamped at log(1000 / 16)"):
        expect_close(st.decode_boxes(np.array([[0.0, 0.0, 20.0, 20.0]]), np.array([[0.0, 0.0, 16.0, 16.0]])),
                     [[-492.0, -492.0, 508.0, 508.0]], "boxes")
    with case("encode_boxes", "no boxes"):
        expect_shape(st.encode_boxes(np.zeros((0, 4)), np.zeros((0, 4))), (0, 4), "deltas")
        expect_shape(st.decode_boxes(np.zeros((0, 4)), np.zeros((0, 4))), (0, 4), "boxes")


# ------------------------------------------------------------------------------------------
# Part 4: anchors and matching (isolated)
# ------------------------------------------------------------------------------------------
@tests.test("test_generate_anchors", isolated=True)
def _(st, ref):
    f = st.generate_anchors
    with case("generate_anchors", "a 1x2 feature map, stride 8, size 8, ratio 1"):
        a = f((1, 2), 8, sizes=(8.0,), ratios=(1.0,))
        expect_shape(a, (2, 4), "anchors")
        expect_close(a, [[0.0, 0.0, 8.0, 8.0], [8.0, 0.0, 16.0, 8.0]], "anchors")
    with case("generate_anchors", "a 2x1 map, stride 4, sizes (4, 8), ratios (0.5, 2): the order"):
        a = f((2, 1), 4, sizes=(4.0, 8.0), ratios=(0.5, 2.0))
        expect_shape(a, (8, 4), "anchors")
        r2 = np.sqrt(2.0)
        # cell (0, 0), centre (2, 2): size 4 ratio 0.5 (w = 4 sqrt 2, h = 2 sqrt 2), size 4 ratio 2, ...
        cell0 = np.array([[2 - 2 * r2, 2 - r2, 2 + 2 * r2, 2 + r2], [2 - r2, 2 - 2 * r2, 2 + r2, 2 + 2 * r2],
                          [2 - 4 * r2, 2 - 2 * r2, 2 + 4 * r2, 2 + 2 * r2],
                          [2 - 2 * r2, 2 - 4 * r2, 2 + 2 * r2, 2 + 4 * r2]])
        expect_close(as_array(a, "anchors")[:4], cell0, "anchors[:4] (cell (0, 0))")
        expect_close(as_array(a, "anchors")[4:], cell0 + [0.0, 4.0, 0.0, 4.0], "anchors[4:] (cell (1, 0))")
    for fs, stride, sizes, ratios in (((8, 8), 8, (12.0, 20.0, 28.0), (1.0,)),
                                      ((3, 5), 16, (32.0, 64.0), (0.5, 1.0, 2.0)),
                                      ((5, 2), 4, (6.0,), (1 / 3, 3.0)),
                                      ((1, 1), 10, (10.0, 20.0, 30.0), (1.0, 2.0))):
        with case("generate_anchors", f"feature map {fs}, stride {stride}, sizes {sizes}, ratios {ratios}"):
            expect_close(f(fs, stride, sizes, ratios), ref.generate_anchors(fs, stride, sizes, ratios),
                         "anchors", rtol=1e-9, atol=1e-9)


@tests.test("test_match_anchors", isolated=True)
def _(st, ref):
    f, c = st.match_anchors, _cases(st, ref, "match_anchors")

    def labels_and_matched(*args):
        lab, m = _tuple(f(*args), 2, "match_anchors")
        return as_array(lab, "labels"), as_array(m, "matched_gt")

    with c("6 anchors, 2 boxes (thresholds 0.5 and 0.4)"):
        lab, m = labels_and_matched(_ANC6, _GT2, 0.5, 0.4)
        expect_equal(lab, np.array([1, 1, 0, -1, 1, 0]), "labels")
        expect_equal(m[[0, 1, 4]], np.array([0, 0, 1]), "matched_gt at the positive anchors 0, 1, 4")
    with c("no ground-truth boxes: all negative"):
        lab, m = labels_and_matched(_ANC6, np.zeros((0, 4)), 0.5, 0.4)
        expect_equal(lab, np.zeros(6, dtype=np.int64), "labels")
        expect_shape(m, (6,), "matched_gt")

    grid = np.array([[(j + 0.5) * 8 - s / math.sqrt(r) / 2, (i + 0.5) * 8 - s * math.sqrt(r) / 2,
                      (j + 0.5) * 8 + s / math.sqrt(r) / 2, (i + 0.5) * 8 + s * math.sqrt(r) / 2]
                     for i in range(8) for j in range(8) for s in (12.0, 20.0, 28.0)
                     for r in (0.5, 1.0, 2.0)])
    sc = _scenes(12, 4105)
    for i in range(12):
        pos, neg = ((0.5, 0.4), (0.6, 0.3), (0.4, 0.4))[i % 3]
        with c(f"the 8x8 grid of 9 anchors on scene {i} of make_scenes(12, seed=4105), "
               f"thresholds {pos}, {neg}"):
            lab, m = labels_and_matched(grid, sc.boxes[i], pos, neg)
            rl, rm = ref.match_anchors(grid, sc.boxes[i], pos, neg)
            expect_equal(lab, rl, "labels")
            expect_equal(m[rl == 1], rm[rl == 1], "matched_gt at the positive anchors")
    a2 = np.array([[0.0, 0.0, 10.0, 10.0], [40.0, 40.0, 50.0, 50.0]])
    g2 = np.array([[0.0, 0.0, 4.0, 4.0], [6.0, 6.0, 10.0, 10.0]])  # both have IoU 0.16 with anchor 0 only
    with c("two boxes whose best anchor is the same: the later box claims it"):
        lab, m = labels_and_matched(a2, g2, 0.5, 0.4)
        expect_equal(lab, np.array([1, 0]), "labels")
        expect_equal(m[0], 1, "matched_gt[0]")
    with c("a box that overlaps no anchor claims nothing"):
        lab, _ = labels_and_matched(a2, np.array([[80.0, 80.0, 90.0, 90.0]]), 0.5, 0.4)
        expect_equal(lab, np.array([0, 0]), "labels")


# ------------------------------------------------------------------------------------------
# Part 6: evaluation (isolated)
# ------------------------------------------------------------------------------------------
def _t_curve(is_tp, n_pos):
    tp = np.cumsum(is_tp)
    return tp / n_pos, tp / np.arange(1, len(is_tp) + 1)


def _t_ap(rec, prec, method, voc_levels=False):
    """voc_levels: the eleven levels as multiples of 0.1 (the VOC code's 0.30000000000000004)."""
    if len(rec) == 0:
        return 0.0
    if method == "11-point":
        levels = [i * 0.1 for i in range(11)] if voc_levels else [i / 10 for i in range(11)]
        return float(np.mean([max([p for r, p in zip(rec, prec, strict=True) if r >= t], default=0.0)
                              for t in levels]))
    total, prev = 0.0, 0.0
    for k in range(len(rec)):
        if rec[k] > prev:
            total += (rec[k] - prev) * max(prec[k:])
            prev = rec[k]
    return total


@tests.test("test_average_precision", isolated=True)
def _(st, ref):
    from sklearn.metrics import average_precision_score

    f = st.average_precision
    rec = np.array([0.25, 0.25, 0.5, 0.75, 0.75])  # the ranked list T F T T F, 4 positives
    prec = np.array([1.0, 0.5, 2 / 3, 0.75, 0.6])
    with case("average_precision", "T F T T F, 4 positives, all-point"):
        expect_close(f(rec, prec, "all-point"), 0.625, "ap")
    with case("average_precision", "T F T T F, 4 positives, 11-point"):
        expect_close(f(rec, prec, "11-point"), (3 + 5 * 0.75) / 11, "ap")
    with case("average_precision", "an empty list"):
        expect_close(f(np.zeros(0), np.zeros(0), "all-point"), 0.0, "ap")

    rng = np.random.default_rng(4108)
    for trial in range(12):
        k = int(rng.integers(1, 40))
        tp = (rng.random(k) < rng.uniform(0.2, 0.9)).astype(float)
        npos = int(tp.sum() + rng.integers(0, 4)) or 1
        r, p = _t_curve(tp, npos)
        for method in ("all-point", "11-point"):
            with case("average_precision",
                      f"random ranked list {trial} ({k} items, {npos} positives), {method}"):
                got = f(r, p, method)
                if not _isclose(got, _t_ap(r, p, method, voc_levels=True), 1e-9, 1e-12):  # either grid passes
                    expect_close(_real(got, "ap"), _t_ap(r, p, method), "ap", rtol=1e-9, atol=1e-12)
    found = 0
    for _trial in range(200):  # where the precision never rises again, all-point AP is scikit-learn's AP
        k = int(rng.integers(2, 30))
        tp = (rng.random(k) < 0.5).astype(float)
        if tp.sum() == 0:
            continue
        r, p = _t_curve(tp, int(tp.sum()))
        if np.any(np.diff(p[tp == 1]) > 0):
            continue
        found += 1
        with case("average_precision", "a ranked list whose precision at the positives never rises: "
                  f"all-point AP equals sklearn.metrics.average_precision_score ({found} of 6)"):
            expect_close(_real(f(r, p, "all-point"), "ap"),
                         average_precision_score(tp, np.linspace(1, 0, k, endpoint=False)), "ap", rtol=1e-9)
        if found == 6:
            break
    with case("average_precision", 'method="coco"'):
        expect_raises("ValueError", lambda: f(rec, prec, "coco"), 'average_precision with method="coco"')


def _t_iou1(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    u = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1]) + max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1]) - w * h
    return w * h / u if u > 0 else 0.0


def _t_eval(dets, gts, thr, nc, method="all-point", voc_levels=False):
    """Brute-force VOC evaluation, one detection at a time."""
    aps = []
    for c in range(nc):
        objs = [(i, j) for i, g in enumerate(gts) for j in range(len(g["labels"])) if g["labels"][j] == c]
        diff = {o: bool(gts[o[0]].get("difficult", np.zeros(len(gts[o[0]]["labels"]), bool))[o[1]])
                for o in objs}
        n_pos = sum(not d for d in diff.values())
        if n_pos == 0:
            aps.append(np.nan)
            continue
        items = [(-float(d["scores"][k]), i, k) for i, d in enumerate(dets) for k in range(len(d["labels"]))
                 if d["labels"][k] == c]
        items.sort()
        claimed, flags = set(), []
        for _, i, k in items:
            cands = [(_t_iou1(dets[i]["boxes"][k], gts[i]["boxes"][j]), -j) for (ii, j) in objs if ii == i]
            if cands:
                best_iou, neg_j = max(cands)
                if best_iou >= thr:
                    if diff[(i, -neg_j)]:
                        continue
                    if (i, -neg_j) not in claimed:
                        claimed.add((i, -neg_j))
                        flags.append(1)
                        continue
            flags.append(0)
        tp = np.cumsum(flags)
        aps.append(_t_ap(tp / n_pos, tp / np.arange(1, len(tp) + 1), method, voc_levels))
    aps = np.array(aps, dtype=np.float64)
    return (float(np.nanmean(aps)) if np.any(~np.isnan(aps)) else float("nan")), aps


def _noisy_detections(scenes, rng, nc, p_miss=0.15, p_dup=0.2, n_fp=2):
    """Jittered copies of the ground truth, some duplicates, some missing, some wrong, random scores."""
    dets = []
    for b, lab in zip(scenes.boxes, scenes.labels, strict=True):
        keep = rng.random(len(b)) > p_miss
        bb, ll = [b[keep]], [lab[keep]]
        dup = rng.random(len(b)) < p_dup
        bb.append(b[dup] + rng.normal(0, 1.5, (int(dup.sum()), 4)))
        ll.append(lab[dup])
        nf = int(rng.integers(0, n_fp + 1))
        xy = rng.uniform(0, 48, (nf, 2))
        bb.append(np.concatenate([xy, xy + rng.uniform(6, 16, (nf, 2))], axis=1))
        ll.append(rng.integers(0, nc, nf))
        bb = np.concatenate(bb) + rng.normal(0, 1.0, (sum(len(x) for x in ll), 4))
        ll = np.concatenate(ll)
        dets.append({"boxes": bb, "scores": np.round(rng.random(len(ll)), 2), "labels": ll})
    return dets


@tests.test("test_evaluate_detections", isolated=True)
def _(st, ref):
    f, c = st.evaluate_detections, _cases(st, ref, "evaluate_detections")

    def mean_ap(*args, **kwargs):
        return _tuple(f(*args, **kwargs), 2, "evaluate_detections")[0]

    # One class, two images, three objects (A and B in image 0, C in image 1), four detections.
    gt = [{"boxes": np.array([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]]), "labels": np.array([0, 0])},
          {"boxes": np.array([[0.0, 0.0, 10.0, 10.0]]), "labels": np.array([0])}]
    det = [{"boxes": np.array([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [40.0, 40.0, 50.0, 50.0]]),
            "scores": np.array([0.9, 0.8, 0.7]), "labels": np.array([0, 0, 0])},
           {"boxes": np.array([[0.0, 0.0, 10.0, 9.0]]), "scores": np.array([0.85]), "labels": np.array([0])}]
    with c("1 class, 3 objects, 4 detections (T T F F in score order)"):
        m, ap, curves = _tuple(f(det, gt, 0.5, num_classes=1, return_curves=True), 3,
                               "evaluate_detections(..., return_curves=True)")
        rc, pc = _tuple(_tuple(curves, 1, "curves (return_curves=True)")[0], 2, "curves[0]")
        expect_close(rc, [1 / 3, 2 / 3, 2 / 3, 2 / 3], "recall curve")
        expect_close(pc, [1.0, 1.0, 2 / 3, 0.5], "precision curve")
        expect_close(m, 2 / 3, "mAP (all-point)")
        expect_close(ap, [2 / 3], "ap")
        expect_close(mean_ap(det, gt, 0.5, num_classes=1, method="11-point"), 7 / 11, "mAP (11-point)")
    with c("the same detections at IoU threshold 0.95: only the exact box counts"):
        expect_close(mean_ap(det, gt, 0.95, num_classes=1), 1 / 3, "mAP")
    with c("a perfect detector (the ground truth itself) and no detections at all"):
        perfect = [{"boxes": g["boxes"], "scores": np.ones(len(g["labels"])), "labels": g["labels"]}
                   for g in gt]
        expect_close(mean_ap(perfect, gt, 0.5, num_classes=1), 1.0, "mAP of a perfect detector")
        none = [{"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0, dtype=np.int64)}] * 2
        expect_close(mean_ap(none, gt, 0.5, num_classes=1), 0.0, "mAP without detections")

    rng = np.random.default_rng(4109)
    sc = _scenes(40, 4109)
    gts = [{"boxes": b, "labels": lab, "difficult": rng.random(len(lab)) < 0.15}
           for b, lab in zip(sc.boxes, sc.labels, strict=True)]
    gts_plain = [{"boxes": b, "labels": lab} for b, lab in zip(sc.boxes, sc.labels, strict=True)]
    dets = _noisy_detections(sc, rng, 3)
    for thr, method, g, what in ((0.5, "all-point", gts_plain, ""), (0.7, "all-point", gts_plain, ""),
                                 (0.5, "11-point", gts_plain, ""),
                                 (0.5, "all-point", gts, ", some difficult"),
                                 (0.3, "11-point", gts, ", some difficult")):
        with c(f"40 scenes, noisy detections (duplicates, misses, tied scores){what}, IoU {thr}, {method}, "
               "against a brute-force reference"):
            m, ap = _tuple(f(dets, g, thr, 3, method), 2, "evaluate_detections")
            m = _real(m, "mAP")
            rm, rap = _t_eval(dets, g, thr, 3, method)
            vm, vap = _t_eval(dets, g, thr, 3, method, voc_levels=True)  # also accepted for 11-point
            if np.isclose(m, vm, rtol=1e-9, atol=1e-12) and not np.isclose(m, rm, rtol=1e-9, atol=1e-12):
                rm, rap = vm, vap
            ap = as_array(ap, "ap").astype(np.float64)
            expect_equal(np.isnan(ap), np.isnan(rap), "which classes have an AP of nan")
            expect_close(ap[~np.isnan(rap)], rap[~np.isnan(rap)], "ap per class", rtol=1e-9, atol=1e-12)
            expect_close(m, rm, "mAP", rtol=1e-9, atol=1e-12)
    g2 = [{"boxes": np.array([[0.0, 0.0, 10.0, 10.0], [20.0, 0.0, 30.0, 10.0]]), "labels": np.array([0, 1])}]
    d2 = [{"boxes": np.array([[0.0, 0.0, 10.0, 10.0], [20.0, 0.0, 30.0, 10.0], [40.0, 0.0, 50.0, 10.0]]),
           "scores": np.array([0.9, 0.8, 0.95]), "labels": np.array([0, 0, 2])}]
    with c("a class with no ground truth (class 2 of 3) is nan and left out of the mAP"):
        m, ap = _tuple(f(d2, g2, 0.5, 3), 2, "evaluate_detections")
        ap = as_array(ap, "ap").astype(np.float64)
        if not (ap.shape == (3,) and np.isnan(ap[2]) and not np.isnan(ap[0])):
            raise CheckFailed("ap should be (1, 0, nan): class 1 has a box but no detection, class 2 no box; "
                              f"got {ap}")
        expect_close(ap[:2], [1.0, 0.0], "ap[:2]")
        expect_close(m, 0.5, "mAP (the mean over classes 0 and 1)")
    g3 = [{"boxes": np.array([[0.0, 0.0, 10.0, 10.0]]), "labels": np.array([0])}] * 2
    d3 = [{"boxes": np.array([[30.0, 30.0, 40.0, 40.0]]), "scores": np.array([0.5]), "labels": np.array([0])},
          {"boxes": np.array([[0.0, 0.0, 10.0, 10.0]]), "scores": np.array([0.5]), "labels": np.array([0])}]
    with c("equal scores keep the image order: a false positive in image 0 "
           "before a true positive in image 1"):
        expect_close(mean_ap(d3, g3, 0.5, 1), 0.25, "mAP (recall 0.5 reached at precision 0.5)")
    g4 = [{"boxes": np.array([[0.0, 0.0, 10.0, 10.0], [1.0, 0.0, 11.0, 10.0]]), "labels": np.array([0, 0])}]
    d4 = [{"boxes": np.array([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]]),
           "scores": np.array([0.9, 0.8]), "labels": np.array([0, 0])}]
    with c("a duplicate is a false positive even when another box overlaps enough"):
        expect_close(mean_ap(d4, g4, 0.5, 1), 0.5, "mAP")


# ------------------------------------------------------------------------------------------
# Part 7: RoI pooling and RoIAlign (isolated)
# ------------------------------------------------------------------------------------------
_F16 = np.arange(16.0).reshape(1, 4, 4)  # one channel, rows [0 1 2 3], [4 5 6 7], ...


def _random_rois(rng, n, H, W, scale, lo, hi, size):
    xy = rng.uniform(-2, max(H, W) * hi, size=(n, 2)) / scale
    return np.concatenate([xy, xy + rng.uniform(lo, max(H, W) * size, size=(n, 2)) / scale], axis=1)


@tests.test("test_roi_pool", isolated=True)
def _(st, ref):
    f = st.roi_pool
    with case("roi_pool", "the whole 4x4 map into 2x2 bins: the maximum of every quadrant"):
        o = f(_F16, np.array([[0.0, 0.0, 4.0, 4.0]]), 2)
        expect_shape(o, (1, 1, 2, 2), "out")
        expect_close(o[0, 0], [[5.0, 7.0], [13.0, 15.0]], "out")
    with case("roi_pool", "an image box (8, 0, 16, 16) on this map with stride 4 (spatial_scale 0.25)"):
        o = as_array(f(_F16, np.array([[8.0, 0.0, 16.0, 16.0]]), (2, 1), spatial_scale=0.25), "out")
        expect_shape(o, (1, 1, 2, 1), "out")
        expect_close(o[0, 0], [[7.0], [15.0]], "out")  # columns [2, 4), rows 0-1 and rows 2-3
    with case("roi_pool", "a 3-cell RoI into 2 bins: the middle row belongs to both"):
        o = as_array(f(_F16, np.array([[0.0, 0.0, 1.0, 3.0]]), (2, 1)), "out")
        expect_shape(o, (1, 1, 2, 1), "out")
        expect_close(o[0, 0], [[4.0], [8.0]], "out")
    rng = np.random.default_rng(4110)
    for C, H, W, scale, out in ((3, 8, 8, 1.0, (2, 2)), (2, 16, 12, 0.25, (3, 3)), (4, 10, 10, 0.5, (7, 5)),
                                (1, 6, 9, 1 / 8, (2, 4))):
        feat = rng.normal(size=(C, H, W))
        rois = _random_rois(rng, 12, H, W, scale, 0.5, 0.9, 0.7)
        with case("roi_pool", f"features ({C}, {H}, {W}), 12 random RoIs (some partly outside), "
                  f"spatial_scale {scale}, output {out}, against a reference"):
            got = f(feat, rois, out, spatial_scale=scale)
            expect_shape(got, (12, C) + out, "out")
            expect_close(got, ref.roi_pool(feat, rois, out, spatial_scale=scale), "out", rtol=1e-12,
                         atol=1e-12)


@tests.test("test_roi_align", isolated=True)
def _(st, ref):
    f = st.roi_align
    with case("roi_align", "a RoI that is exactly feature cell (row 1, column 2), 1x1 output, 1 sample"):
        o = f(_F16, np.array([[2.0, 1.0, 3.0, 2.0]]), 1, spatial_scale=1.0, sampling_ratio=1)
        expect_shape(o, (1, 1, 1, 1), "out")
        expect_close(o, [[[[6.0]]]], "out (the value of cell (1, 2))")
    with case("roi_align", "the same cell in image pixels with stride 4, 2x2 samples on a linear map"):
        expect_close(f(_F16, np.array([[8.0, 4.0, 12.0, 8.0]]), 1, spatial_scale=0.25, sampling_ratio=2),
                     [[[[6.0]]]], "out")
    with case("roi_align", "the whole 4x4 map into 2x2 bins, 2x2 samples per bin"):
        o = as_array(f(_F16, np.array([[0.0, 0.0, 4.0, 4.0]]), 2, sampling_ratio=2), "out")
        expect_shape(o, (1, 1, 2, 2), "out")
        expect_close(o[0, 0], [[2.5, 4.5], [10.5, 12.5]], "out")
    rng = np.random.default_rng(4111)
    for C, H, W, scale, out, sr in ((3, 8, 8, 1.0, (2, 2), 2), (2, 16, 12, 0.25, (3, 3), 0),
                                    (4, 10, 10, 0.5, (7, 5), 1), (1, 6, 9, 1 / 8, (2, 4), 3),
                                    (2, 5, 5, 1.0, (4, 4), 0)):
        feat = rng.normal(size=(C, H, W))
        rois = _random_rois(rng, 10, H, W, scale, 0.3, 1.0, 0.8)
        with case("roi_align", f"features ({C}, {H}, {W}), 10 random RoIs (some partly outside), "
                  f"spatial_scale {scale}, output {out}, sampling_ratio {sr}, against a reference"):
            got = f(feat, rois, out, spatial_scale=scale, sampling_ratio=sr)
            expect_shape(got, (10, C) + out, "out")
            expect_close(got, ref.roi_align(feat, rois, out, spatial_scale=scale, sampling_ratio=sr), "out",
                         rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------------------
# Part 5: the losses (PyTorch: the notebook's kernel, through probes)
# ------------------------------------------------------------------------------------------
def _tensor_reply(seen, function):
    if seen["type"] != "Tensor":
        raise CheckFailed(f"{function} should return a torch tensor, got {seen['type']}")
    return seen["value"]


def _grad_reply(seen):
    if seen["grad"] is None:
        why = f" (autograd: {seen['grad_error']})" if seen["grad_error"] else ""
        raise CheckFailed(f"autograd cannot differentiate the loss{why}: compute it with torch operations on "
                          "the input tensor (no numpy, no .detach(), no .item())")
    return seen["grad"]


@tests.test("test_smooth_l1")
def _(st, ref):
    import torch
    import torch.nn.functional as F

    def loss(x, **kwargs):
        return st.probe("elementwise_loss", "smooth_l1", x, **kwargs)

    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0], dtype=np.float32)
    with case("smooth_l1", "x = (-2, -0.5, 0, 0.5, 2), beta = 1"):
        expect_close(_tensor_reply(loss(x, beta=1.0), "smooth_l1"), [1.5, 0.125, 0.0, 0.125, 1.5], "loss")
    with case("smooth_l1", "beta = 0 is the L1 loss"):
        expect_close(_tensor_reply(loss(x, beta=0.0), "smooth_l1"), [2.0, 0.5, 0.0, 0.5, 2.0], "loss")
    gen = torch.Generator().manual_seed(4106)
    for beta in (1.0, 1 / 9, 0.5, 0.0):
        xd = 2 * torch.randn(3, 7, 4, generator=gen, dtype=torch.float64)
        dout = torch.randn(3, 7, 4, generator=gen, dtype=torch.float64)
        with case("smooth_l1", f"random (3, 7, 4) tensor, beta {beta:.3f}: values and autograd gradient"):
            seen = loss(xd.numpy(), dtype="float64", dout=dout.numpy(), beta=beta)
            value = _tensor_reply(seen, "smooth_l1")
            expect_shape(value, (3, 7, 4), "loss")
            zero = torch.zeros_like(xd)
            expected = F.l1_loss(xd, zero, reduction="none") if beta == 0 else \
                F.smooth_l1_loss(xd, zero, reduction="none", beta=beta)
            expect_close(value, expected.numpy(), "loss", rtol=1e-9, atol=1e-12)
            dref = torch.where(xd.abs() < beta, xd / max(beta, 1e-300), torch.sign(xd)) * dout
            expect_close(_grad_reply(seen), dref.numpy(), "the gradient of the loss (its values are right)",
                         rtol=1e-9, atol=1e-12)


def _t_focal(z, t, gamma, alpha):
    """-alpha_t (1 - p_t)^gamma log p_t with log-sigmoids, in float64."""
    import torch.nn.functional as F

    log_p, log_1mp = F.logsigmoid(z), F.logsigmoid(-z)
    p = log_p.exp()
    pos = -(alpha if alpha is not None else 1.0) * (1 - p) ** gamma * log_p
    neg = -((1 - alpha) if alpha is not None else 1.0) * p ** gamma * log_1mp
    return t * pos + (1 - t) * neg


@tests.test("test_sigmoid_focal_loss")
def _(st, ref):
    import torch
    import torch.nn.functional as F

    def loss(z, t, **kwargs):
        seen = st.probe("elementwise_loss", "sigmoid_focal_loss", z, t, **kwargs)
        return seen, _tensor_reply(seen, "sigmoid_focal_loss")

    with case("sigmoid_focal_loss", "logit 0 (p = 0.5), target 1, gamma 2, alpha 0.25"):
        _, value = loss(np.array([0.0], np.float32), np.array([1.0], np.float32), gamma=2.0, alpha=0.25)
        expect_close(value, [0.25 * 0.5 ** 2 * np.log(2.0)], "loss")
    z, t = torch.tensor([[-3.0, 0.5], [2.0, 4.0]]), torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    with case("sigmoid_focal_loss", "gamma 0 and alpha None: the binary cross-entropy"):
        _, value = loss(z.numpy(), t.numpy(), gamma=0.0, alpha=None)
        expect_close(value, F.binary_cross_entropy_with_logits(z, t, reduction="none").numpy(), "loss",
                     rtol=1e-5)
    gen = torch.Generator().manual_seed(4107)
    for gamma, alpha in ((2.0, 0.25), (0.0, 0.5), (1.5, None), (3.0, 0.9)):
        zr = (3 * torch.randn(5, 6, 3, generator=gen, dtype=torch.float64)).requires_grad_()
        tr = (torch.rand(5, 6, 3, generator=gen) < 0.3).double()
        dout = torch.rand(5, 6, 3, generator=gen, dtype=torch.float64)
        with case("sigmoid_focal_loss", f"random (5, 6, 3) logits, gamma {gamma}, alpha {alpha}: values "
                  "and autograd gradient"):
            seen, value = loss(zr.detach().numpy(), tr.numpy(), dtype="float64", dout=dout.numpy(),
                               gamma=gamma, alpha=alpha)
            expect_shape(value, (5, 6, 3), "loss")
            expected = _t_focal(zr, tr, gamma, alpha)
            expect_close(value, expected.detach().numpy(), "loss", rtol=1e-7, atol=1e-12)
            (gr,) = torch.autograd.grad(expected, zr, dout)
            expect_close(_grad_reply(seen), gr.numpy(), "the gradient of the loss (its values are right)",
                         rtol=1e-6, atol=1e-12)
    with case("sigmoid_focal_loss", "logits of +-100 (float32): finite losses and gradients"):
        seen, value = loss(np.array([100.0, -100.0, 100.0, -100.0], np.float32),
                           np.array([1.0, 0.0, 0.0, 1.0], np.float32), dout=np.ones(4, np.float32), gamma=2.0,
                           alpha=0.25)
        expect_close(value, [0.0, 0.0, 75.0, 25.0], "loss", rtol=1e-5, atol=1e-6)
        expect_close(_grad_reply(seen), [0.0, 0.0, 0.75, -0.25], "the gradient", rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------
# Part 8: the detector's head layout, loss and post-processing (the notebook's kernel)
# ------------------------------------------------------------------------------------------
def _pair_of_tensors(kinds, out, function):
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise CheckFailed(f"{function} should return a tuple of two tensors, got {kinds}")
    if list(kinds) != ["Tensor", "Tensor"]:
        raise CheckFailed(f"{function} should return a tuple of two torch tensors, got ({', '.join(kinds)})")
    return out


@tests.test("test_flatten_predictions")
def _(st, ref):
    import torch

    with case("flatten_predictions", "A = 2 anchors, C = 3 classes, a 1x2 map"):
        cls = np.arange(12.0, dtype=np.float32).reshape(1, 6, 1, 2)  # value = 2 * channel + column
        box = np.arange(16.0, dtype=np.float32).reshape(1, 8, 1, 2)
        c, b = _pair_of_tensors(*st.probe("flatten_run", cls, box, 2), "flatten_predictions")
        expect_shape(c, (1, 4, 3), "cls_logits")
        expect_shape(b, (1, 4, 4), "box_deltas")
        # rows: (cell 0, anchor 0), (cell 0, anchor 1), (cell 1, anchor 0), (cell 1, anchor 1)
        expect_close(c[0], [[0, 2, 4], [6, 8, 10], [1, 3, 5], [7, 9, 11]], "cls_logits[0]")
        expect_close(b[0], [[0, 2, 4, 6], [8, 10, 12, 14], [1, 3, 5, 7], [9, 11, 13, 15]], "box_deltas[0]")
    gen = torch.Generator().manual_seed(4112)
    for N, A, C, H, W in ((2, 3, 3, 8, 8), (1, 9, 2, 3, 5), (3, 1, 4, 4, 2)):
        cls = torch.randn(N, A * C, H, W, generator=gen)
        box = torch.randn(N, A * 4, H, W, generator=gen)
        rc = torch.stack([cls[:, a * C:(a + 1) * C] for a in range(A)], dim=1)  # (N, A, C, H, W)
        rc = rc.permute(0, 3, 4, 1, 2).reshape(N, -1, C)
        rb = torch.stack([box[:, a * 4:(a + 1) * 4] for a in range(A)], dim=1)
        rb = rb.permute(0, 3, 4, 1, 2).reshape(N, -1, 4)
        with case("flatten_predictions", f"N={N}, A={A}, C={C}, a {H}x{W} map: every entry in its place"):
            c, b = _pair_of_tensors(*st.probe("flatten_run", cls.numpy(), box.numpy(), A),
                                    "flatten_predictions")
            expect_close(c, rc.numpy(), "cls_logits", rtol=0, atol=0)
            expect_close(b, rb.numpy(), "box_deltas", rtol=0, atol=0)


def _losses(seen):
    """(cls_loss, box_loss) as floats from detection_loss_run's reply."""
    kinds, out = seen["types"], seen["values"]
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise CheckFailed(f"detection_loss should return a tuple (cls_loss, box_loss), got {kinds}")
    if list(kinds) != ["Tensor", "Tensor"]:
        raise CheckFailed(f"detection_loss should return two torch tensors, got ({', '.join(kinds)})")
    return _real(out[0], "cls_loss"), _real(out[1], "box_loss")


@tests.test("test_detection_loss")
def _(st, ref):
    import torch

    c = _cases(st, ref, "detection_loss")
    anc = np.array([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0], [40.0, 40.0, 50.0, 50.0]])
    z0, d0 = np.zeros((1, 3, 2), np.float32), np.zeros((1, 3, 4), np.float32)
    with c("3 anchors, 2 classes, one box of class 1 shifted 1 pixel from anchor 0, zero outputs"):
        cl, bl = _losses(st.probe("detection_loss_run", z0, d0, anc, [np.array([[1.0, 0.0, 11.0, 10.0]])],
                                  [np.array([1])]))
        # focal loss at p = 0.5: 0.25 * 0.25 * log 2 for the positive pair, 0.75 * 0.25 * log 2 for the 5
        # negative ones: log 2 in all, 1 positive anchor. Box target (0.1, 0, 0, 0): 0.5 * 0.01 / (1/9).
        expect_close(cl, np.log(2.0), "cls_loss", rtol=1e-5)
        expect_close(bl, 0.045, "box_loss", rtol=1e-5)
    with c("an image without objects: only background, no box loss"):
        cl, bl = _losses(st.probe("detection_loss_run", z0, d0, anc, [np.zeros((0, 4))],
                                  [np.zeros(0, dtype=np.int64)]))
        expect_close(cl, 6 * 0.75 * 0.25 * np.log(2.0), "cls_loss (divided by max(P, 1) = 1)", rtol=1e-5)
        expect_close(bl, 0.0, "box_loss")

    gen = torch.Generator().manual_seed(4113)
    anc = np.array([[x, y, x + s, y + s] for y in range(0, 64, 16) for x in range(0, 64, 16)
                    for s in (12.0, 24.0)])
    sc = _scenes(4, 4113)
    bx = [sc.boxes[0], sc.boxes[1], np.zeros((0, 4), np.float32), sc.boxes[3]]
    lb = [sc.labels[0], sc.labels[1], np.zeros(0, np.int64), sc.labels[3]]
    for pos, neg, gamma, alpha, beta in ((0.5, 0.4, 2.0, 0.25, 1 / 9), (0.4, 0.3, 1.0, 0.5, 1.0)):
        z = torch.randn(4, len(anc), 3, generator=gen).numpy()
        d = (0.3 * torch.randn(4, len(anc), 4, generator=gen)).numpy()
        args = (z, d, anc, bx, lb, pos, neg, gamma, alpha, beta)
        with c(f"4 shapes scenes (one empty), 32 anchors, thresholds {pos}/{neg}, gamma {gamma}, "
               f"alpha {alpha}, beta {beta:.3f}: values and gradients against a reference"):
            seen = st.probe("detection_loss_run", *args, grads=True)
            expected = ref.probe("detection_loss_run", *args, grads=True)
            cl, bl = _losses(seen)
            expect_close(cl, float(expected["values"][0]), "cls_loss", rtol=1e-4, atol=1e-6)
            expect_close(bl, float(expected["values"][1]), "box_loss", rtol=1e-4, atol=1e-6)
            if seen["grad_cls"] is None:
                raise CheckFailed("autograd cannot differentiate cls_loss + box_loss "
                                  f"({seen['grad_error']}): keep the predictions as tensors, and make only "
                                  "the targets with numpy")
            for key, what in (("grad_cls", "cls_logits"), ("grad_box", "box_deltas")):
                expect_close(seen[key], expected[key], f"the gradient with respect to {what} "
                             "(both losses are right)", rtol=1e-3, atol=1e-6)


def _detections(got, n, what):
    """A reply that should be a list of n detection dicts, as clean arrays."""
    if not isinstance(got, list):
        raise CheckFailed(f"{what} should be a list with one dict per image, got {type(got).__name__}")
    if len(got) != n:
        raise CheckFailed(f"{what} should hold {n} dicts (one per image), got {len(got)}")
    out = []
    for i, d in enumerate(got):
        if not isinstance(d, dict) or not {"boxes", "scores", "labels"} <= set(d):
            keys = sorted(map(str, d)) if isinstance(d, dict) else type(d).__name__
            raise CheckFailed(f'{what}[{i}] should be a dict with "boxes", "scores" and "labels", got {keys}')
        boxes = as_array(d["boxes"], f'{what}[{i}]["boxes"]').astype(np.float64).reshape(-1, 4)
        scores = as_array(d["scores"], f'{what}[{i}]["scores"]').astype(np.float64).reshape(-1)
        labels = as_array(d["labels"], f'{what}[{i}]["labels"]').reshape(-1)
        if not (len(boxes) == len(scores) == len(labels)):
            raise CheckFailed(f"{what}[{i}] holds {len(boxes)} boxes, {len(scores)} scores and "
                              f"{len(labels)} labels")
        out.append({"boxes": boxes, "scores": scores, "labels": labels.astype(np.int64)})
    return out


@tests.test("test_postprocess")
def _(st, ref):
    import torch

    c = _cases(st, ref, "postprocess")
    anc = np.array([[0.0, 0.0, 10.0, 10.0], [2.0, 0.0, 12.0, 10.0]])  # IoU 80/120 = 0.67
    z = np.array([[[3.0, -3.0], [2.0, -5.0]]], np.float32)  # anchor 0 (0.953, 0.047), anchor 1 (0.881, 0.007)
    d = np.zeros((1, 2, 4), np.float32)
    with c("2 overlapping anchors, zero deltas, NMS at 0.5"):
        det = _detections(st.probe("postprocess_run", z, d, anc, (64, 64), score_threshold=0.05,
                                   iou_threshold=0.5), 1, "detections")
        expect_close(det[0]["boxes"], [[0.0, 0.0, 10.0, 10.0]], 'detections[0]["boxes"]')
        expect_close(det[0]["scores"], [1 / (1 + np.exp(-3.0))], 'detections[0]["scores"]')
        expect_equal(det[0]["labels"], [0], 'detections[0]["labels"]')
    with c("anchors shifted 4 pixels left, out of the image: clipped; NMS at 0.8 keeps both"):
        det = _detections(st.probe("postprocess_run", z, d, anc - [4, 0, 4, 0], (64, 64), 0.05, 0.8), 1,
                          "detections")
        expect_close(det[0]["boxes"], [[0.0, 0.0, 6.0, 10.0], [0.0, 0.0, 8.0, 10.0]],
                     'detections[0]["boxes"]')

    gen = torch.Generator().manual_seed(4114)
    anc = np.array([[x + 4 - s / 2, y + 4 - s / 2, x + 4 + s / 2, y + 4 + s / 2]
                    for y in range(0, 48, 8) for x in range(0, 48, 8) for s in (12.0, 20.0)])
    for sthr, ithr, maxd in ((0.05, 0.5, 50), (0.3, 0.3, 5), (0.5, 0.7, 100)):
        z = (torch.randn(3, len(anc), 3, generator=gen) * 2 - 2).numpy()
        d = (torch.randn(3, len(anc), 4, generator=gen) * 0.3).numpy()
        args = (z, d, anc, (48, 48), sthr, ithr, maxd)
        with c(f"3 images, {len(anc)} anchors, random outputs, score threshold {sthr}, NMS {ithr}, "
               f"at most {maxd}: against a reference"):
            got = _detections(st.probe("postprocess_run", *args), 3, "detections")
            expected = ref.probe("postprocess_run", *args)
            for n in range(3):
                name = f"detections[{n}]"
                expect_equal(got[n]["labels"], expected[n]["labels"], f'{name}["labels"]')
                expect_close(got[n]["scores"], expected[n]["scores"], f'{name}["scores"]', rtol=1e-6,
                             atol=1e-7)
                expect_close(got[n]["boxes"], expected[n]["boxes"].reshape(-1, 4), f'{name}["boxes"]',
                             rtol=1e-5, atol=1e-4)


# ------------------------------------------------------------------------------------------
# The trained detector: its detections on the test scenes, scored here
# ------------------------------------------------------------------------------------------
_HINT = ("What to check: (1) flatten_predictions puts anchor a of cell (i, j) in row (i * W + j) * A + a, "
         "the order of generate_anchors; (2) detection_loss ignores the anchors labelled -1, divides both "
         "losses by the number of positive anchors of the whole batch, and uses encode_boxes(matched box, "
         "anchor) as the box target of the positives only; (3) postprocess uses the sigmoid (not a softmax) "
         "and decodes with the same anchors; (4) the training loss above should fall below about 0.15.")


@functools.lru_cache(maxsize=1)
def _test_gt():
    """The ground truth of the notebook's 300 test scenes (make_scenes(300, seed=2)), made here."""
    sc = _scenes(300, 2)
    return [{"boxes": np.asarray(b, np.float64), "labels": np.asarray(lab, np.int64)}
            for b, lab in zip(sc.boxes, sc.labels, strict=True)]


def _t_map(dets, gts, thr, nc):
    """Independent VOC all-point mAP (no difficult boxes)."""
    aps = []
    for c in range(nc):
        n_pos = sum(int(np.sum(np.asarray(g["labels"]) == c)) for g in gts)
        if n_pos == 0:
            continue
        items = sorted((-float(d["scores"][k]), i, k) for i, d in enumerate(dets)
                       for k in range(len(d["labels"])) if int(d["labels"][k]) == c)
        claimed, tp = set(), []
        for _, i, k in items:
            cands = [(_t_iou1(dets[i]["boxes"][k], gts[i]["boxes"][j]), -j)
                     for j in range(len(gts[i]["labels"])) if int(gts[i]["labels"][j]) == c]
            ok = False
            if cands:
                best, neg_j = max(cands)
                if best >= thr and (i, -neg_j) not in claimed:
                    claimed.add((i, -neg_j))
                    ok = True
            tp.append(1.0 if ok else 0.0)
        tp = np.cumsum(tp)
        rec, prec = tp / n_pos, tp / np.arange(1, len(tp) + 1)
        total, prev = 0.0, 0.0
        for k in range(len(rec)):
            if rec[k] > prev:
                total += (rec[k] - prev) * max(prec[k:])
                prev = rec[k]
        aps.append(total)
    return float(np.mean(aps))


def _expect_map(value, threshold, what, trained=True):
    try:
        expect_at_least(value, threshold, what)
    except CheckFailed as e:
        late = "" if trained else " The training cell did not finish: run it until it ends without an error."
        raise CheckFailed(f"{e}.{late} {_HINT}") from None


# The trained detector is also scored on scenes drawn here from a seed that only the grader knows
# (this file is never released nor mounted): their images are sent, their ground truth stays here,
# so a notebook that knows the public test scenes' answers gains nothing.
SECRET_SEED = 731_904


@functools.lru_cache(maxsize=1)
def _secret_scenes():
    sc = _scenes(300, SECRET_SEED)
    gt = [{"boxes": np.asarray(b, np.float64), "labels": np.asarray(lab, np.int64)}
          for b, lab in zip(sc.boxes, sc.labels, strict=True)]
    loss = _scenes(8, SECRET_SEED + 1)
    return (sc.tensors().numpy().astype(np.float32), gt, loss.tensors().numpy().astype(np.float32),
            [np.asarray(b) for b in loss.boxes], [np.asarray(lab) for lab in loss.labels])


def _detector_cases(st, ref, threshold, loss_case):
    gt = _test_gt()
    c = _cases(st, ref, "the trained detector")
    with c(f"mAP@0.5 on the 300 test scenes (the notebook's test_detections), at least {threshold:.2f}"):
        dets = _detections(st.probe("notebook_detections"), len(gt), "test_detections")
        _expect_map(_real(ref.evaluate_detections(dets, gt, 0.5, 3)[0], "mAP"), threshold, "the test mAP@0.5")
    with c(f"mAP@0.5 of detector.predict on 300 new scenes, computed by the grader, at least "
           f"{threshold:.2f}"):
        images, secret_gt, loss_images, loss_boxes, loss_labels = _secret_scenes()
        seen = st.with_timeout(600).probe("trained_detector", images, loss_images, loss_boxes, loss_labels)
        if not seen["detector"]:
            raise CheckFailed("detector is None: run the training cell and the evaluation cell; they should "
                              "finish without an error")
        if loss_case:
            losses = as_array(seen["loss"], "detector.loss")
            if losses.shape != (2,) or not np.all(np.isfinite(losses)):
                raise CheckFailed(f"detector.loss on 8 test scenes should give two finite losses, got "
                                  f"{seen['loss']}")
        dets = _detections(seen["detections"], len(secret_gt), "detector.predict(images)")
        _expect_map(_t_map(dets, secret_gt, 0.5, 3), threshold,
                    "on 300 new scenes, the mAP@0.5", seen["trained"])


@tests.test("test_detector_learns")
def _(st, ref):
    _detector_cases(st, ref, 0.5, loss_case=True)


@tests.test("test_detector_map")
def _(st, ref):
    _detector_cases(st, ref, 0.80, loss_case=False)
