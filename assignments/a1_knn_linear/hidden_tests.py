"""Hidden tests of assignment 1 (trusted: run by the grader, never in the student's kernel).

Every test repeats the visible cases of its cell and adds hidden ones. Inputs are made here;
`st` calls the student's code in the sandbox, `ref` the source notebook's solutions here; every
comparison happens here. Accuracy tests take predictions or weights out of the sandbox and score
them against labels held here.
"""

from __future__ import annotations

import functools

import numpy as np

from autograder.hidden import NUMPY_ONLY, HiddenTests, as_array, case, expect_raises
from dlcv.checks import (
    CheckFailed,
    expect_at_least,
    expect_close,
    expect_equal,
    expect_len,
    expect_loss_before_gradient,
    expect_shape,
    join_names,
)

tests = HiddenTests(probes="a1_knn_linear", blocked=NUMPY_ONLY,
                    dlcv=["checks", "data", "gradcheck", "plots", "timing"])

# The data-set dependent settings of the accuracy tests: the notebook's SETTINGS, read from the
# source notebook (SOURCE: autograder.hidden.Spec), so that nothing is copied that could drift.
SETTINGS = SOURCE.value("SETTINGS")


@functools.lru_cache(maxsize=1)
def _data():
    """(name, splits) of the data the notebook uses, loaded here (the labels stay here)."""
    import warnings

    from dlcv.data import load_classification

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_classification("auto", num_train=49000, num_val=1000, num_test=1000, num_dev=500)
    return data.name, data


def _flatten(X):
    return X.reshape(X.shape[0], -1).astype(np.float64)


# ------------------------------------------------------------------------------------------
# Part 1: kNN
# ------------------------------------------------------------------------------------------
_A = np.array([[0.0, 0.0], [1.0, 1.0]])  # the visible case: 2 test x 3 training points
_B = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])
_D = [[0.0, 5.0, 1.0], [np.sqrt(2.0), np.sqrt(13.0), 1.0]]


def _distance_cases(st, ref, name, seed, shapes, tol):
    f, r = st[name], ref[name]
    with case(name, "2 test points x 3 training points"):
        d = f(_A, _B)
        expect_shape(d, (2, 3), "dists")
        expect_close(d, _D, "dists")
    rng = np.random.default_rng(seed)
    for (m, n, dim) in shapes:
        a, b = rng.normal(size=(m, dim)), rng.normal(size=(n, dim))
        with case(name, f"random {m} x {n} points, D={dim}"):
            expect_close(f(a, b), r(a, b), "dists", **tol)
    a, b = rng.uniform(0, 255, (5, 48)), rng.uniform(0, 255, (8, 48))
    with case(name, "images with large pixel values"):
        expect_close(f(a, b), r(a, b), "dists", **tol)
    a, b = np.array([[2.0], [-3.0], [0.0]]), np.array([[1.0]])
    with case(name, "one training point, D=1"):
        expect_close(f(a, b), [[1.0], [4.0], [1.0]], "dists")


@tests.test("test_knn_two_loops")
def _(st, ref):
    _distance_cases(st, ref, "compute_distances_two_loops", 101, [(7, 11, 5)], {})


@tests.test("test_knn_one_loop")
def _(st, ref):
    _distance_cases(st, ref, "compute_distances_one_loop", 102, [(9, 4, 6)], {})


@tests.test("test_knn_no_loops")
def _(st, ref):
    _distance_cases(st, ref, "compute_distances_no_loops", 103, [(7, 13, 4), (20, 30, 64)],
                    dict(rtol=1e-6, atol=1e-6))


def _no_nan_case(f, X, n):
    """dists(X, X) for rows with large values: finite, with a zero diagonal (rounding makes some
    squared distances slightly negative unless they are clipped at 0)."""
    d = as_array(f(X, X.copy()), "dists")
    expect_shape(d, (n, n), "dists")
    if not np.all(np.isfinite(d)):
        raise CheckFailed(f"dists holds {int(np.sum(~np.isfinite(d)))} nan values where a test point "
                          "equals a training point: rounding made the squared distance slightly "
                          "negative; clip it at 0 (np.maximum) before np.sqrt")
    expect_close(np.diag(d), np.zeros(n), "the diagonal of dists (equal points)", atol=1e-3)


@tests.test("test_knn_no_loops_no_nan")
def _(st, ref):
    f = st.compute_distances_no_loops
    with case("compute_distances_no_loops", "40 test points equal to the 40 training points"):
        _no_nan_case(f, 1000.0 + np.random.default_rng(0).uniform(0, 1, (40, 30)), 40)
    a = np.array([[0.1, 0.2, 0.7]])
    with case("compute_distances_no_loops", "a test point equal to a training point"):
        expect_close(f(a, np.vstack([a, a + 1.0])), [[0.0, np.sqrt(3.0)]], "dists", atol=1e-6)
    # Rounding of ||a||^2 - 2ab + ||b||^2 goes negative for these rows unless clipped at 0.
    b = 1000.0 + np.random.default_rng(104).uniform(0, 1, (60, 20))
    with case("compute_distances_no_loops", "identical rows with large values (rounding)"):
        _no_nan_case(f, b, 60)


@tests.test("test_knn_predict")
def _(st, ref):
    f = st.predict_labels
    dists = np.array([[0.5, 2.0, 0.1, 3.0, 0.7], [4.0, 0.2, 3.0, 0.3, 1.0]])
    y = np.array([1, 0, 2, 0, 1])
    with case("predict_labels", "2 test points, 5 training points"):
        p = f(dists, y, k=1)
        expect_shape(p, (2,), "y_pred with k=1")
        expect_equal(p, [2, 0], "y_pred with k=1")
        expect_equal(f(dists, y, k=3), [1, 0], "y_pred with k=3")
    rng = np.random.default_rng(105)
    dists, y = rng.uniform(0, 10, (25, 40)), rng.integers(0, 4, 40)
    for k in (1, 2, 5, 9):
        with case("predict_labels", f"random 25 x 40 distances, 4 classes, k={k}"):
            p = f(dists, y, k=k)
            expect_shape(p, (25,), f"y_pred with k={k}")
            expect_equal(p, ref.predict_labels(dists, y, k=k), f"y_pred with k={k}")


@tests.test("test_knn_predict_rules")
def _(st, ref):
    f = st.predict_labels
    dists = np.array([[0.1, 0.2, 0.3, 0.4, 5.0]])
    with case("predict_labels", "a tie in the vote: two votes for 7, two for 3, k=4"):
        expect_equal(f(dists, np.array([7, 3, 7, 3, 1]), k=4), [3],
                     "y_pred (ties go to the smallest label)")
    for k in (0, -2):
        with case("predict_labels", f"k={k}"):
            expect_raises("ValueError", lambda k=k: f(dists, np.array([7, 3, 7, 3, 1]), k=k),
                          f"predict_labels with k={k}")
    dists2, y2 = np.array([[0.1, 0.2, 0.3], [0.9, 0.8, 0.7]]), np.array([2, 1, 1])
    with case("predict_labels", "k larger than the number of training points"):
        expect_equal(f(dists2, y2, k=10), [1, 1], "y_pred with k=10 and 3 training points")
        expect_equal(f(dists2, y2, k=3), [1, 1], "y_pred with k=3")
    with case("predict_labels", "three-way tie, k=3"):
        expect_equal(f(np.array([[0.1, 0.2, 0.3, 0.4], [0.3, 0.2, 0.1, 0.4]]),
                       np.array([5, 2, 8, 0]), k=3), [2, 2], "y_pred (ties go to the smallest label)")
    with case("predict_labels", "tie between labels where the larger one is nearer, k=2"):
        expect_equal(f(np.array([[0.1, 0.2, 3.0]]), np.array([6, 1, 1]), k=2), [1], "y_pred")
    with case("predict_labels", "dtype of the result"):
        p = as_array(f(np.array([[0.2, 0.1]]), np.array([0, 1]), k=1), "y_pred")
        if not np.issubdtype(p.dtype, np.integer):
            raise CheckFailed(f"y_pred should hold integer labels, got dtype {p.dtype}")


def _works(st, ref, name: str) -> bool:
    """Whether the student's `name` passes a small case (the visible one of its own test)."""
    rng = np.random.default_rng(7)
    try:
        if name == "compute_distances_no_loops":
            expect_close(st[name](_A, _B), _D, "dists")
        elif name == "predict_labels":
            expect_equal(st[name](np.array([[0.5, 2.0, 0.1, 3.0, 0.7]]), np.array([1, 0, 2, 0, 1]), k=3),
                         [1], "y_pred")
        elif name in ("svm_loss_vectorized", "softmax_loss_vectorized"):
            W, X, y = 0.1 * rng.normal(size=(5, 4)), rng.normal(size=(6, 5)), np.array([0, 1, 2, 3, 0, 1])
            got, expected = st[name](W, X, y, 0.05), ref[name](W, X, y, 0.05)
            expect_close(got[0], expected[0], "loss")
            expect_close(got[1], expected[1], "dW")
        elif name == "LinearClassifier.train":
            _, W = st.probe("constant_gradient_train", rng.normal(size=(30, 4)), np.arange(30) % 3,
                            np.zeros((4, 3)), learning_rate=0.1, reg=0.0, num_iters=7, batch_size=5)
            expect_close(W, np.full((4, 3), -0.7), "W")
        elif name == "LinearClassifier.predict":
            m = st.LinearClassifier()
            m.W.set(np.array([[1.0, -1.0], [0.0, 2.0]]))
            expect_equal(m.predict(np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 1.0]])), [0, 1, 0], "y_pred")
    except Exception:  # noqa: BLE001 - wrong, or raised: either way the cause may be there
        return False
    return True


def _uses_note(st, ref, names: list[str], remind: bool = True) -> str:
    """What to add when a test that also runs other functions of the student's fails: the ones
    that are wrong on a small case, or else (with `remind`) a reminder that it runs them."""
    wrong = [n for n in names if not _works(st, ref, n)]
    if wrong:
        one = len(wrong) == 1
        return (f"this test also runs your {join_names(wrong)}, which {'is' if one else 'are'} wrong on "
                f"{'its' if one else 'their'} own test's case: fix {'it' if one else 'them'} first")
    if not remind:
        return ""
    return f"this test also runs your {join_names(names)}: if their own tests fail, fix them first"


def _noted(e: CheckFailed, note: str) -> CheckFailed:
    """e's message and a note: in parentheses after one line, on a line of its own after more."""
    msg = str(e)
    if not note:
        return CheckFailed(msg)
    return CheckFailed(f"{msg}\n  {note[0].upper()}{note[1:]}." if "\n" in msg else f"{msg} ({note})")


_KNN_USES = ["compute_distances_no_loops", "predict_labels"]


def _check_cv(st, ref, X, y, ks, nf, what):
    acc = st.cross_validate_knn(X, y, ks, num_folds=nf)
    if not isinstance(acc, dict) or sorted(acc) != sorted(ks):
        raise CheckFailed(f"should return a dict with keys {sorted(ks)}, got "
                          f"{sorted(acc) if isinstance(acc, dict) else type(acc).__name__}")
    expected = ref.cross_validate_knn(X, y, ks, num_folds=nf)
    for k in ks:
        if np.shape(acc[k]) != (nf,):
            raise CheckFailed(f"k_to_accuracies[{k}] should hold {nf} accuracies, one per fold, "
                              f"got {np.size(acc[k])}")
        try:
            expect_close(as_array(acc[k], f"k_to_accuracies[{k}]").astype(float), expected[k],
                         f"k_to_accuracies[{k}]")
        except CheckFailed as e:
            raise _noted(e, _uses_note(st, ref, _KNN_USES)) from None


@tests.test("test_knn_cross_validate")
def _(st, ref):
    X = np.array([[0.0], [10.0], [1.1], [11.2], [2.3], [12.5], [3.6]])
    y = np.array([0, 1, 0, 1, 0, 1, 0])
    with case("cross_validate_knn", "7 points on a line, 3 folds"):
        _check_cv(st, ref, X, y, [1, 5], 3, "7 points")
    rng = np.random.default_rng(106)
    centres = rng.normal(0, 1.2, (3, 4))
    y = rng.integers(0, 3, 47)
    X = centres[y] + rng.normal(size=(47, 4))
    for nf, ks in ((5, [1, 3, 5, 8]), (4, [2, 7, 100])):
        with case("cross_validate_knn", f"47 random points, {nf} folds, k in {ks}"):
            _check_cv(st, ref, X, y, ks, nf, "47 points")


@tests.test("test_knn_accuracy")
def _(st, ref):
    name, data = _data()
    s, sizes = SETTINGS[name]["knn_test"], SETTINGS[name]["knn_sizes"]  # sizes: train, val, test
    sizes = (sizes[0], sizes[2]) if sizes else None
    n_te = sizes[1] if sizes else len(data.y_test)
    with case("compute_distances_no_loops + predict_labels", f"{name} test set, k={s['k']}"):
        p = as_array(st.probe("knn_predict_test", name, s["k"], sizes), "y_pred")
        expect_shape(p, (n_te,), "y_pred")
        try:
            expect_at_least(float(np.mean(p == data.y_test[:n_te])), s["threshold"], "test accuracy")
        except CheckFailed as e:
            raise _noted(e, _uses_note(st, ref, _KNN_USES, remind=False)) from None


# ------------------------------------------------------------------------------------------
# Part 2: the losses
# ------------------------------------------------------------------------------------------
_W_HAND = np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]])  # (D=2, C=3): the SVM's hand case
_X_HAND = np.array([[1.0, 2.0], [2.0, -1.0]])
_Y_HAND = np.array([0, 2])


def _loss_value_cases(st, ref, name, seed, w_scale, big):
    f, r = st[name], ref[name]
    rng = np.random.default_rng(seed)
    for N, D, C, reg in ((8, 5, 4, 0.1), (1, 3, 3, 0.0), big):
        W = w_scale * rng.normal(size=(D, C))
        X, y = rng.normal(size=(N, D)), rng.integers(0, C, N)
        with case(name, f"random N={N}, D={D}, C={C}, reg={reg}"):
            expect_close(f(W, X, y, reg)[0], r(W, X, y, reg)[0], "loss")


def _grad_note(st, name, W, X, y, reg, ref) -> str:
    """When dW is wrong, say whether the loss is wrong too (then fix the loss first)."""
    try:
        expect_close(st[name](W, X, y, reg)[0], ref[name](W, X, y, reg)[0], "loss")
        return ""
    except Exception:  # noqa: BLE001 - any failure (a wrong value, a crash) means the same here
        return "the loss is wrong too on this case: fix the loss test first, then the gradient of that loss"


def _loss_grad_cases(st, ref, name, seed, w_scale, big, visible_scale):
    f, r = st[name], ref[name]
    rng = np.random.default_rng(0)  # the visible case: numeric gradient of the reference loss
    W = visible_scale * rng.normal(size=(5, 4))
    X, y = rng.normal(size=(6, 5)), np.array([0, 1, 2, 3, 0, 1])
    cases = [("random 6 samples, D=5, C=4, reg=0.05", W, X, y, 0.05)]
    rng = np.random.default_rng(seed)
    for N, D, C, reg in ((12, 6, 5, 0.0), (1, 4, 3, 0.3), big):
        W = w_scale * rng.normal(size=(D, C))
        cases.append((f"random N={N}, D={D}, C={C}, reg={reg}", W, rng.normal(size=(N, D)),
                      rng.integers(0, C, N), reg))
    for i, (label, W, X, y, reg) in enumerate(cases):
        with case(name, label):
            got = f(W, X, y, reg)
            if not isinstance(got, tuple) or len(got) != 2:
                raise CheckFailed(f"should return a tuple (loss, dW), got {type(got).__name__}")
            if i == 0:  # the visible case: its numeric gradient is computed from the student's loss
                expect_loss_before_gradient(got[0], r(W, X, y, reg)[0], "this case")
            try:
                expect_close(got[1], r(W, X, y, reg)[1], "dW", rtol=1e-6, atol=1e-9)
            except CheckFailed as e:
                raise _noted(e, _grad_note(st, name, W, X, y, reg, ref)) from None
    W = 0.05 * rng.normal(size=(4, 3))
    with case(name, "the input W is not modified"):
        _, (args, _) = f.returning_inputs(W, rng.normal(size=(5, 4)), np.array([0, 1, 2, 0, 1]), 0.5)
        expect_close(args[0], W, "W after the call")


def _svm_hand(st, name):
    with case(name, "hand-checked 2 samples, 3 classes, reg=0"):
        loss, dW = st[name](_W_HAND, _X_HAND, _Y_HAND, 0.0)
        expect_close(loss, 6.0, "loss")
        expect_shape(dW, (2, 3), "dW")
    with case(name, "hand-checked 2 samples, 3 classes, reg=0.1"):
        expect_close(st[name](_W_HAND, _X_HAND, _Y_HAND, 0.1)[0], 6.4, "loss")
    with case(name, "every margin satisfied: loss is only the regularisation"):
        W, X = np.array([[10.0, 0.0], [0.0, 10.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])
        expect_close(st[name](W, X, np.array([0, 1]), 0.01)[0], 0.01 * 200.0, "loss")


def _softmax_hand(st, ref, name, seed):
    f = st[name]
    with case(name, "W = 0, 4 samples, C=5, reg=0"):
        loss, dW = f(np.zeros((3, 5)), np.arange(12.0).reshape(4, 3), np.array([0, 1, 4, 2]), 0.0)
        expect_close(loss, np.log(5.0), "loss")
        expect_shape(dW, (3, 5), "dW")
    with case(name, "1 sample, 2 classes, reg=0.5"):
        loss, _ = f(np.array([[0.0, np.log(3.0)]]), np.array([[1.0]]), np.array([1]), 0.5)
        expect_close(loss, -np.log(0.75) + 0.5 * np.log(3.0) ** 2, "loss")
    rng = np.random.default_rng(seed)
    W = np.vstack([rng.normal(size=(4, 5)), np.full((1, 5), 1000.0)])  # a bias row of 1000
    X = np.hstack([rng.normal(size=(6, 4)), np.ones((6, 1))])
    y = rng.integers(0, 5, 6)
    with case(name, "large scores (about 1000): shift by the maximum"):
        got = f(W, X, y, 0.0)
        expected = ref[name](W, X, y, 0.0)
        expect_close(got[0], expected[0], "loss")
        expect_close(got[1], expected[1], "dW", rtol=1e-6, atol=1e-9)


@tests.test("test_svm_naive_loss")
def _(st, ref):
    _svm_hand(st, "svm_loss_naive")
    _loss_value_cases(st, ref, "svm_loss_naive", 201, 0.1, (30, 7, 10, 2.5))


@tests.test("test_svm_naive_grad")
def _(st, ref):
    _loss_grad_cases(st, ref, "svm_loss_naive", 202, 0.05, (40, 9, 10, 1.0), 0.01)


@tests.test("test_svm_vectorized_loss")
def _(st, ref):
    _svm_hand(st, "svm_loss_vectorized")
    _loss_value_cases(st, ref, "svm_loss_vectorized", 203, 0.1, (200, 65, 10, 2.5))


@tests.test("test_svm_vectorized_grad")
def _(st, ref):
    _loss_grad_cases(st, ref, "svm_loss_vectorized", 204, 0.05, (200, 65, 10, 1.0), 0.01)


@tests.test("test_softmax_naive_loss")
def _(st, ref):
    _softmax_hand(st, ref, "softmax_loss_naive", 305)
    _loss_value_cases(st, ref, "softmax_loss_naive", 301, 0.5, (30, 7, 10, 2.5))


@tests.test("test_softmax_naive_grad")
def _(st, ref):
    _loss_grad_cases(st, ref, "softmax_loss_naive", 302, 0.5, (40, 9, 10, 1.0), 0.1)


@tests.test("test_softmax_vectorized_loss")
def _(st, ref):
    _softmax_hand(st, ref, "softmax_loss_vectorized", 306)
    _loss_value_cases(st, ref, "softmax_loss_vectorized", 303, 0.5, (200, 65, 10, 2.5))


@tests.test("test_softmax_vectorized_grad")
def _(st, ref):
    _loss_grad_cases(st, ref, "softmax_loss_vectorized", 304, 0.5, (200, 65, 10, 1.0), 0.1)


# ------------------------------------------------------------------------------------------
# Part 3: SGD, prediction, accuracy and the search
# ------------------------------------------------------------------------------------------
@tests.test("test_linear_train")
def _(st, ref):
    X = np.random.default_rng(0).normal(size=(30, 4))  # (N, D)
    y = np.arange(30) % 3
    with case("LinearClassifier.train", "a loss whose gradient is always 1, 7 steps"):
        hist, W = st.probe("constant_gradient_train", X, y, np.zeros((4, 3)), learning_rate=0.1,
                           reg=0.0, num_iters=7, batch_size=5)
        if not isinstance(hist, list):
            raise CheckFailed("train should return a list of 7 losses, got "
                              + ("None" if hist is None else f"a {type(hist).__name__}"))
        expect_len(hist, 7, "loss_history (what train returns)", "losses, one per step")
        expect_close(as_array(hist, "loss_history").astype(float), np.full(7, 2.5), "loss_history")
        expect_close(W, np.full((4, 3), -0.7), "W after 7 steps of size 0.1")
    with case("LinearClassifier.train", "a fresh model creates W of shape (D, C)"):
        _, W = st.probe("constant_gradient_train", X, y, None, learning_rate=0.1, num_iters=1,
                        batch_size=5)
        expect_shape(W, (4, 3), "W")
    X = np.hstack([np.arange(50.0)[:, None], np.random.default_rng(1).normal(size=(50, 2))])
    y = np.arange(50) % 4
    with case("LinearClassifier.train", "batches of 8 drawn from 50 samples, 20 steps"):
        hist, W, calls = st.probe("recorder_train", X, y, learning_rate=0.01, reg=0.3, num_iters=20,
                                  batch_size=8, seed=3)
        if len(calls) != 20:
            raise CheckFailed(f"self.loss should be called once per step (20 times), was called "
                              f"{len(calls)} times")
        expect_close(as_array(hist, "loss_history").astype(float), np.arange(1.0, 21.0),
                     "loss_history (the losses returned by self.loss, in order)")
        for Xb, yb, reg in calls:
            expect_shape(Xb, (8, 3), "X_batch")
            expect_shape(yb, (8,), "y_batch")
            rows = as_array(Xb, "X_batch")[:, 0].astype(int)
            if not (np.all((rows >= 0) & (rows < 50)) and np.array_equal(Xb, X[rows])
                    and np.array_equal(yb, y[rows])):
                raise CheckFailed("X_batch and y_batch should be matching rows of X and y")
            if reg != 0.3:
                raise CheckFailed(f"self.loss should get reg=0.3, got {reg!r}")
        used = np.concatenate([np.asarray(Xb)[:, 0] for Xb, _, _ in calls]).astype(int)
        if len(np.unique(used)) < 30:
            raise CheckFailed("the batches use only a few samples; draw them at random from all of X")
    with case("LinearClassifier.train", "same seed, same training"):
        _, W1, _ = st.probe("recorder_train", X, y, learning_rate=0.01, num_iters=15, batch_size=8,
                            seed=5)
        _, W2, _ = st.probe("recorder_train", X, y, learning_rate=0.01, num_iters=15, batch_size=8,
                            seed=5)
        expect_close(W2, W1, "W after training twice with seed=5")
    with case("LinearClassifier.train", "the update is W -= learning_rate * dW"):
        _, W, calls = st.probe("recorder_train", X, y, np.zeros((3, 4)), learning_rate=0.01,
                               num_iters=6, batch_size=8)
        expected = -0.01 * sum(np.repeat(np.mean(np.asarray(Xb), 0)[:, None], 4, 1)
                               for Xb, _, _ in calls)
        expect_close(W, expected, "W after 6 steps")


@tests.test("test_linear_predict")
def _(st, ref):
    with case("LinearClassifier.predict", "W given, 3 samples, 2 classes"):
        m = st.LinearClassifier()
        m.W.set(np.array([[1.0, -1.0], [0.0, 2.0]]))
        p = m.predict(np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 1.0]]))  # scores [1,-1], [0,2], [3,-1]
        expect_shape(p, (3,), "y_pred")
        expect_equal(p, [0, 1, 0], "y_pred")
    rng = np.random.default_rng(401)
    W, X = rng.normal(size=(7, 5)), rng.normal(size=(40, 7))
    with case("LinearClassifier.predict", "random 40 samples, D=7, C=5"):
        m = st.LinearClassifier()
        m.W.set(W)
        p = as_array(m.predict(X), "y_pred")
        expect_equal(p, np.argmax(X @ W, axis=1), "y_pred")
        if not np.issubdtype(p.dtype, np.integer):
            raise CheckFailed(f"y_pred should hold integer labels, got dtype {p.dtype}")
    with case("LinearClassifier.predict", "one sample"):
        expect_equal(m.predict(X[:1]), np.argmax(X[:1] @ W, axis=1), "y_pred")


def _linear_accuracy(st, ref, class_name, loss_name):
    name, data = _data()
    setting, threshold = SETTINGS[name]["fixed"][class_name]
    with case(f"{class_name} (train, predict and {loss_name})", f"{name}, {setting}"):
        _, W = st.with_timeout(600).probe("linear_train", name, class_name, **setting)
        mean_image = _flatten(data.X_train).mean(axis=0)
        Xc = _flatten(data.X_test) - mean_image
        X_test = np.hstack([Xc, np.ones((Xc.shape[0], 1))])
        W = as_array(W, "W")
        expect_shape(W, (X_test.shape[1], len(data.class_names)), "W")
        p = np.argmax(X_test @ W, axis=1)  # scored here, with the labels held here
        try:
            expect_at_least(float(np.mean(p == data.y_test)), threshold, "test accuracy")
        except CheckFailed as e:
            raise _noted(e, _uses_note(st, ref, ["LinearClassifier.train", loss_name])) from None


@tests.test("test_linear_svm_accuracy")
def _(st, ref):
    _linear_accuracy(st, ref, "LinearSVM", "svm_loss_vectorized")


@tests.test("test_softmax_accuracy")
def _(st, ref):
    _linear_accuracy(st, ref, "Softmax", "softmax_loss_vectorized")


_XTR, _YTR = np.zeros((20, 3)), np.zeros(20, dtype=np.int64)  # every label is 0
_XVA, _YVA = np.zeros((10, 3)), np.zeros(10, dtype=np.int64)


def _search_case(st, acc, lrs, regs, num_iters, best, seen=None):
    """One search with stand-in models; `seen` (a dict) gets what was trained (n_iters, trained)
    even when the result is wrong."""
    results, setting, n_iters, is_fake, trained, best_type = st.probe(
        "fake_model_search", acc, _XTR, _YTR, _XVA, _YVA, lrs, regs, num_iters)
    if seen is not None:
        seen.update(n_iters=n_iters, trained=trained)
    if not isinstance(results, dict) or set(results) != set(acc):
        raise CheckFailed(f"results should have the keys {sorted(acc)}, got "
                          f"{sorted(results) if isinstance(results, dict) else type(results).__name__}")
    for key, a in acc.items():
        expect_len(results[key], 2, f"results[{key}]", "accuracies (training, validation)")
        expect_close(as_array(results[key], f"results[{key}]").astype(float), a, f"results[{key}]")
    if not is_fake or tuple(setting) != best:
        got = (f"the one trained with {tuple(setting)}" if is_fake else
               "None" if best_type == "NoneType" else f"a {best_type}")
        raise CheckFailed(f"best_model should be the model trained with (lr, reg) = {best}, which has "
                          f"the best validation accuracy {acc[best][1]}; got {got}")


@tests.test("test_tune_linear")
def _(st, ref):
    acc = {(0.1, 1.0): (0.5, 0.3), (0.1, 10.0): (0.9, 0.6), (0.01, 1.0): (0.7, 0.8),
           (0.01, 10.0): (0.95, 0.5)}
    seen: dict = {}
    with case("tune_linear_classifier", "2 learning rates x 2 regs with known accuracies"):
        _search_case(st, acc, [0.1, 0.01], [1.0, 10.0], 42, (0.01, 1.0), seen)
    with case("tune_linear_classifier", "num_iters is passed on, every pair trained"):
        if not seen:
            raise CheckFailed("could not be checked: the search stopped with an error (the case above)")
        if {tuple(t) for t in seen["trained"]} != set(acc):
            raise CheckFailed("every pair should be trained once; trained "
                              f"{sorted(map(tuple, seen['trained']))}")
        if set(seen["n_iters"]) != {42}:
            raise CheckFailed("the models should be trained with num_iters=42, got "
                              f"{sorted(set(seen['n_iters']))}")
    acc = {(0.5, 0.0): (0.6, 0.2), (0.5, 0.1): (0.65, 0.4), (0.5, 0.2): (0.3, 0.7)}
    with case("tune_linear_classifier", "one learning rate x 3 regs, best is the last"):
        _search_case(st, acc, [0.5], [0.0, 0.1, 0.2], 5, (0.5, 0.2))
    with case("tune_linear_classifier", "a single pair"):
        _search_case(st, {(0.2, 0.3): (0.4, 0.1)}, [0.2], [0.3], 3, (0.2, 0.3))
