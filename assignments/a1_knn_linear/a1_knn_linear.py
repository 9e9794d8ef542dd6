# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 1: k-nearest neighbours and linear classifiers
#
# You will write, in plain numpy, the two simplest image classifiers of the course and measure how
# far each one gets on real images:
#
# 1. **k-nearest neighbours (kNN).** Euclidean distances computed three ways (two loops, one loop,
#    no loops), a majority vote over the k nearest training images, and 5-fold cross-validation to
#    choose k.
# 2. **Linear classifiers.** The multiclass SVM (hinge) loss and the softmax (cross-entropy) loss
#    with their gradients, first with loops and then vectorised; minibatch stochastic gradient
#    descent (SGD); and a search over learning rates and regularisation strengths on a
#    validation set.
#
# Along the way, four **written questions** ask you to explain in words what a figure or a printed
# table has just shown you.
#
# The notebook uses CIFAR-10 when it is on your disk (without it, the data cell below says where to
# put it), with the sizes of Stanford's CS231n (kNN on 5000 training and 500 test images, the linear
# classifiers on 49,000 training, 1000 validation and 1000 test images), and otherwise the 8x8
# handwritten digits that ship with scikit-learn. Every cell works with both; all you need is numpy.
#
# ## How to work
#
# - Run the cells from the top, one by one or with **Run > Run All Cells** (which stops at the
#   first cell that fails). A cell that needs a function you have not written yet stops with one
#   line that names the function.
# - Every function you write has a docstring that states the shapes of its inputs and outputs.
#   Write your code where it says `# YOUR CODE HERE` and delete the line
#   `raise NotImplementedError()`. Do not change the code around it, the function names or the
#   arguments.
# - Below each function there is a **test cell**. Run it after the cell with your function. A
#   failing test tells you which function, on which case, and what was expected against what came
#   back. A test that passes prints nothing, or only the figure it measured (an accuracy).
# - Before you submit, restart the kernel and run everything (**Kernel > Restart Kernel and Run All
#   Cells**), or press **Validate** if your JupyterLab has the nbgrader extension. Then hand in this
#   notebook file, with its name unchanged.
# - **Self-check**, at any time: save the notebook, then run
#   `python -m autograder.selfcheck a1_knn_linear.ipynb` in a terminal, in this notebook's folder or
#   in the course's top folder, where JupyterLab's terminal opens (or
#   `from autograder.selfcheck import check_notebook; check_notebook()` in a cell). It runs a
#   fresh copy of the saved notebook and lists every test: passed, or what is wrong. The hidden
#   tests run only when your work is graded. On a JupyterHub where `import dlcv` fails, install
#   the course's package once, in a terminal: `pip install --user "dlcv @ git+URL"` (URL: the
#   course repository's address, from your instructor).
#
# ## How it is graded
#
# The test cells are worth 100 points in total, and the course's grader decides them, not the
# output you see under a test cell. When your notebook is graded it runs as you left it, in a
# sandbox that has numpy but not scipy, scikit-learn or torch (write your functions in numpy, as
# the docstrings ask: those imports fail there). Then the grader calls your functions on inputs
# of its own: the visible cases of every test cell and **hidden** ones (random inputs compared
# with the instructor's solutions, edge cases such as ties in a vote, accuracy on the test set),
# and compares what they return outside the sandbox. A test cell earns its points when all its
# cases pass, and the feedback lists every case: passed, or what was wrong. So passing the visible
# test is a good sign, not a guarantee: read each docstring carefully, especially the rules for
# edge cases. Most tests call only the function they are about, but not all: `cross_validate_knn`
# runs your distances and your vote, and the accuracy tests train and predict with your
# `LinearClassifier` and your loss. When such a test fails, its message names the function that
# raised an error, or reminds you of the functions it also runs: make their own tests pass first.
#
# | Part | Functions | Points |
# |---|---|---|
# | kNN distances | `compute_distances_two_loops`, `compute_distances_one_loop`, `compute_distances_no_loops` | 14 |
# | kNN vote | `predict_labels` | 8 |
# | kNN model selection | `cross_validate_knn`, test accuracy | 12 |
# | SVM loss | `svm_loss_naive`, `svm_loss_vectorized` | 22 |
# | Softmax loss | `softmax_loss_naive`, `softmax_loss_vectorized` | 22 |
# | SGD training | `LinearClassifier.train`, `LinearClassifier.predict`, test accuracies | 17 |
# | Hyperparameter search | `tune_linear_classifier` | 5 |
# | Written questions 1-4 | your answers in words, graded by hand | 13 |
#
# Besides the 100 points of the test cells, the four written questions are worth 13 points. Write
# each answer in the cell below its question, marked "YOUR ANSWER HERE" (replace that text), in
# plain sentences (`$...$` math is fine). The instructor reads it as written and grades it by hand
# after the automatic grading, so no code is needed in it; the self-check lists the questions you
# have not answered yet but does not score them.
#
# Some "check yourself" questions along the way are not graded; open the answer after you have
# thought about them.

# %%
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np

from dlcv.checks import (
    CheckFailed,
    checking,
    expect_at_least,
    expect_close,
    expect_equal,
    expect_grad_close,
    expect_len,
    expect_loss_before_gradient,
    expect_shape,
    needs,
)
from dlcv.data import load_classification
from dlcv.gradcheck import eval_numerical_gradient, grad_check_sparse, rel_error
from dlcv.plots import (
    plot_cv_accuracy,
    plot_loss_history,
    show_class_examples,
    show_images,
    show_templates,
)
from dlcv.timing import cap_threads, time_call

plt.rcParams["figure.figsize"] = (8, 4)
plt.rcParams["figure.dpi"] = 90
np.set_printoptions(precision=4, suppress=True)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine

# %% [markdown]
# ## The data
#
# `load_classification("auto")` returns CIFAR-10 when it is on disk and the digits otherwise (with
# a note saying how to get CIFAR-10). Both come as images that keep their shape: `(N, 8, 8)` grey
# levels in 0..16 for the digits, `(N, 32, 32, 3)` RGB values in 0..255 for CIFAR-10.

# %%
# CIFAR-10 sizes as in CS231n: 49000 / 1000 / 1000 (the digits' split is fixed: 1257 / 180 / 360).
data = load_classification("auto", num_train=49000, num_val=1000, num_test=1000, num_dev=500)
print(f"Data set used in this notebook: {data.name}")
print(data)
show_class_examples(data.X_train, data.y_train, data.class_names, per_class=6)
plt.show()

# %% [markdown]
# Both classifiers treat an image as one long vector of pixel values, so we flatten every image
# into a row: `X_train` is `(N, D)` with `D` = 64 for the digits and 3072 for CIFAR-10.
#
# For the linear classifiers we also **centre** the data (subtract the mean training image, so that
# the pixel values are spread around zero) and append a constant 1 to every row (the bias trick,
# explained in Part 2). Those versions are called `X_train_lin`, `X_val_lin` and `X_test_lin`, with
# labels `y_train_lin`, `y_val_lin`, `y_test_lin`. On CIFAR-10 kNN uses only the first 5000 training,
# 500 validation and 500 test images, as CS231n does (its prediction cost grows with the training
# set); the linear classifiers use all 49,000. On the digits both use the same split.
#
# The settings that depend on the data set (the values of k to try, the grids of learning rates
# and regularisation strengths, the settings and thresholds of the accuracy tests) are collected in
# `SETTINGS`, one entry per data set, chosen from runs on each data set. The CIFAR-10 learning
# rates are tiny and the regularisation strengths large because CIFAR-10 has 3072 pixel values in
# 0..255 per image: scores, and hence gradients, are far larger than for 64 grey levels in 0..16.

# %%
SETTINGS = {
    "digits": dict(
        k_choices=[1, 3, 5, 8, 10, 12, 15, 20, 50, 100],
        num_timing=360,  # test points for the distance timings (all of them)
        learning_rates=[1e-4, 1e-3, 1e-2],
        regs=[1e-3, 1e-1, 1.0, 10.0],
        num_iters=3000,
        demo=dict(learning_rate=3e-3, reg=1e-2),  # one reasonable setting for the first runs
        knn_sizes=None,  # kNN uses the whole split
        targets=dict(knn=0.97, linear=0.93),
        # the accuracy tests: k and threshold for kNN, a fixed setting and threshold per classifier
        knn_test=dict(k=3, threshold=0.97),
        fixed=dict(LinearSVM=(dict(learning_rate=1e-3, reg=1e-3, num_iters=1500), 0.93),
                   Softmax=(dict(learning_rate=3e-3, reg=1e-2, num_iters=1500), 0.93)),
    ),
    "cifar10": dict(
        k_choices=[1, 3, 5, 8, 10, 12, 15, 20, 50, 100],
        num_timing=100,  # two loops over 100 x 5000 pairs already take a few seconds
        learning_rates=[1e-7, 2e-7, 5e-7],
        regs=[5e2, 1e3, 2.5e3, 5e3],
        num_iters=3000,
        demo=dict(learning_rate=2e-7, reg=2.5e3),
        knn_sizes=(5000, 500, 500),  # train, val, test: CS231n's kNN subset
        targets=dict(knn=0.27, linear=0.37),
        knn_test=dict(k=10, threshold=0.25),
        fixed=dict(LinearSVM=(dict(learning_rate=2e-7, reg=2.5e3, num_iters=3000), 0.34),
                   Softmax=(dict(learning_rate=5e-7, reg=1e3, num_iters=3000), 0.36)),
    ),
}
S = SETTINGS[data.name]


def flatten(X):
    """(N, ...) images -> (N, D) float64 rows."""
    return X.reshape(X.shape[0], -1).astype(np.float64)


# Linear classifiers: the whole split, centred, with the bias column.
mean_image = flatten(data.X_train).mean(axis=0)  # (D,)


def to_linear_input(X):
    """Centre with the training mean and append a column of ones: (N, ...) -> (N, D + 1)."""
    out = np.ones((X.shape[0], mean_image.size + 1))  # filled in place: no temporary copies
    out[:, :-1] = X.reshape(X.shape[0], -1)
    out[:, :-1] -= mean_image
    return out


X_train_lin, y_train_lin = to_linear_input(data.X_train), data.y_train
X_val_lin, y_val_lin = to_linear_input(data.X_val), data.y_val
X_test_lin, y_test_lin = to_linear_input(data.X_test), data.y_test
X_dev_lin, y_dev = to_linear_input(data.X_dev), data.y_dev  # a small subset for quick checks

# kNN: raw pixel rows; on CIFAR-10 the first 5000 / 500 / 500 images of each part.
n_tr, n_va, n_te = S["knn_sizes"] or (len(data.y_train), len(data.y_val), len(data.y_test))
X_train, y_train = flatten(data.X_train[:n_tr]), data.y_train[:n_tr]
X_val, y_val = flatten(data.X_val[:n_va]), data.y_val[:n_va]
X_test, y_test = flatten(data.X_test[:n_te]), data.y_test[:n_te]
print("kNN rows:   ", "X_train", X_train.shape, "X_val", X_val.shape, "X_test", X_test.shape)
print("linear rows:", "X_train_lin", X_train_lin.shape, "X_val_lin", X_val_lin.shape,
      "X_test_lin", X_test_lin.shape)

# %% [markdown]
# # Part 1: k-nearest neighbours
#
# A kNN classifier "trains" by remembering the training set. To label a test image it finds the
# k training images closest to it and lets them vote. Closeness is measured here with the
# Euclidean (L2) distance between two images seen as vectors $a, b \in \mathbb{R}^D$:
#
# $$ d(a, b) = \lVert a - b \rVert_2 = \sqrt{\sum_{p=1}^{D} (a_p - b_p)^2 }. $$
#
# All distances between `M` test images and `N` training images form an `(M, N)` matrix whose
# entry `(i, j)` is the distance between test image `i` and training image `j`. You will compute it
# three times, each time with one Python loop fewer, and see what that does to the running time.
#
# **Start with the most direct version:** a loop over test images, a loop over training images, and
# one distance per pair. Use numpy for the sum over the `D` pixels (no third loop).

# %% nbgrader={"grade": false, "grade_id": "knn_two_loops", "locked": false, "schema_version": 3, "solution": true, "task": false}
def compute_distances_two_loops(X_test, X_train):
    """Euclidean distances between every test row and every training row, with two loops.

    Inputs:
    - X_test: (M, D) array, one test sample per row.
    - X_train: (N, D) array, one training sample per row.

    Returns:
    - dists: (M, N) array; dists[i, j] is the L2 distance between X_test[i] and X_train[j].

    Use a loop over the test rows and a loop over the training rows; compute each distance with
    numpy (no loop over the D dimensions).
    """
    num_test, num_train = X_test.shape[0], X_train.shape[0]
    dists = np.zeros((num_test, num_train))
    ### BEGIN SOLUTION
    for i in range(num_test):
        for j in range(num_train):
            dists[i, j] = np.sqrt(np.sum((X_test[i] - X_train[j]) ** 2))
    ### END SOLUTION
    return dists


# %% nbgrader={"grade": true, "grade_id": "test_knn_two_loops", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["knn_two_loops"]}
with checking("compute_distances_two_loops", case="2 test points x 3 training points"):
    _a = np.array([[0.0, 0.0], [1.0, 1.0]])  # (2, 2)
    _b = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])  # (3, 2)
    _d = compute_distances_two_loops(_a, _b)
    expect_shape(_d, (2, 3), "dists")
    expect_close(_d, [[0.0, 5.0, 1.0], [np.sqrt(2.0), np.sqrt(13.0), 1.0]], "dists")

# %% [markdown]
# **One loop.** Now compute a whole row of the matrix at once: the distances from one test image
# to all `N` training images. Numpy broadcasting does the work: `X_train - X_test[i]` subtracts the
# `(D,)` row from every row of the `(N, D)` matrix.

# %% nbgrader={"grade": false, "grade_id": "knn_one_loop", "locked": false, "schema_version": 3, "solution": true, "task": false}
def compute_distances_one_loop(X_test, X_train):
    """Euclidean distances between every test row and every training row, with one loop.

    Inputs:
    - X_test: (M, D) array; X_train: (N, D) array.

    Returns:
    - dists: (M, N) array, as compute_distances_two_loops.

    Use a single loop over the test rows; fill one whole row dists[i, :] per iteration.
    """
    num_test, num_train = X_test.shape[0], X_train.shape[0]
    dists = np.zeros((num_test, num_train))
    ### BEGIN SOLUTION
    for i in range(num_test):
        dists[i, :] = np.sqrt(np.sum((X_train - X_test[i]) ** 2, axis=1))
    ### END SOLUTION
    return dists


# %% nbgrader={"grade": true, "grade_id": "test_knn_one_loop", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["knn_one_loop"]}
with checking("compute_distances_one_loop", case="2 test points x 3 training points"):
    _a = np.array([[0.0, 0.0], [1.0, 1.0]])  # (2, 2)
    _b = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])  # (3, 2)
    _d = compute_distances_one_loop(_a, _b)
    expect_shape(_d, (2, 3), "dists")
    expect_close(_d, [[0.0, 5.0, 1.0], [np.sqrt(2.0), np.sqrt(13.0), 1.0]], "dists")

# %% [markdown]
# **No loops.** Expand the square of the distance:
#
# $$ \lVert a - b \rVert^2 = \lVert a \rVert^2 - 2\, a^\top b + \lVert b \rVert^2 . $$
#
# For all pairs at once, the middle term is one matrix product `X_test @ X_train.T` of shape
# `(M, N)`; the squared norms of the test rows form an `(M, 1)` column and those of the training
# rows an `(N,)` vector, and broadcasting adds the three together. One detail: for two (almost)
# identical rows, rounding can make the result a tiny negative number such as `-1e-12`, and the
# square root of a negative number is `nan`. Clip negative values to 0 before taking the root.

# %% nbgrader={"grade": false, "grade_id": "knn_no_loops", "locked": false, "schema_version": 3, "solution": true, "task": false}
def compute_distances_no_loops(X_test, X_train):
    """Euclidean distances between every test row and every training row, without loops.

    Inputs:
    - X_test: (M, D) array; X_train: (N, D) array.

    Returns:
    - dists: (M, N) array, as compute_distances_two_loops; never nan.

    Use ||a - b||^2 = ||a||^2 - 2 a.b + ||b||^2 with one matrix product and broadcasting (no
    Python loop, no np.linalg.norm over an (M, N, D) array, no scipy). Clip negative squared
    distances (rounding errors) to 0 before the square root.
    """
    num_test, num_train = X_test.shape[0], X_train.shape[0]
    dists = np.zeros((num_test, num_train))
    ### BEGIN SOLUTION
    test_sq = np.sum(X_test**2, axis=1, keepdims=True)  # (M, 1)
    train_sq = np.sum(X_train**2, axis=1)  # (N,)
    sq = test_sq - 2.0 * (X_test @ X_train.T) + train_sq  # (M, N)
    dists = np.sqrt(np.maximum(sq, 0.0))
    ### END SOLUTION
    return dists


# %% nbgrader={"grade": true, "grade_id": "test_knn_no_loops", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["knn_no_loops"]}
with checking("compute_distances_no_loops", case="2 test points x 3 training points"):
    _a = np.array([[0.0, 0.0], [1.0, 1.0]])  # (2, 2)
    _b = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])  # (3, 2)
    _d = compute_distances_no_loops(_a, _b)
    expect_shape(_d, (2, 3), "dists")
    expect_close(_d, [[0.0, 5.0, 1.0], [np.sqrt(2.0), np.sqrt(13.0), 1.0]], "dists")

# %% nbgrader={"grade": true, "grade_id": "test_knn_no_loops_no_nan", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["knn_no_loops"]}
# Test points equal to training points, with large values (pixels near 1000): rounding makes
# ||a||^2 - 2 a.b + ||b||^2 slightly negative for some of these pairs, and np.sqrt of it nan.
_X = 1000.0 + np.random.default_rng(0).uniform(0, 1, (40, 30))  # (40, 30)
with checking("compute_distances_no_loops", case="40 test points equal to the 40 training points"):
    _d = compute_distances_no_loops(_X, _X.copy())
    expect_shape(_d, (40, 40), "dists")
    if not np.all(np.isfinite(_d)):
        raise CheckFailed(f"dists holds {int(np.sum(~np.isfinite(_d)))} nan values where a test "
                          "point equals a training point: rounding made the squared distance "
                          "slightly negative; clip it at 0 (np.maximum) before np.sqrt")
    expect_close(np.diag(_d), np.zeros(40), "the diagonal of dists (equal points)", atol=1e-3)

# %% [markdown]
# ### Do the three versions agree, and how fast are they?
#
# The three functions must return the same matrix up to rounding; we compare them with the
# Frobenius norm of the difference. Then we time them on the same inputs with `time_call` from
# `dlcv.timing` (on CIFAR-10 only a subset of the test images, so that the two-loop version stays
# quick).

# %%
n_time = min(S["num_timing"], len(X_test))
Xq = X_test[:n_time]
with needs("compute_distances_two_loops", "compute_distances_one_loop", "compute_distances_no_loops"):
    t_two, d_two = time_call(compute_distances_two_loops, Xq, X_train)
    t_one, d_one = time_call(compute_distances_one_loop, Xq, X_train)
    t_none, d_none = time_call(compute_distances_no_loops, Xq, X_train)
    print(f"{n_time} test x {len(X_train)} training images, D = {X_train.shape[1]}")
    print(f"two loops: {t_two:7.3f} s")
    print(f"one loop:  {t_one:7.3f} s   (speed-up over two loops: {t_two / t_one:5.1f}x)")
    print(f"no loops:  {t_none:7.3f} s   (speed-up over two loops: {t_two / t_none:5.1f}x)")
    for name, d in [("one loop", d_one), ("no loops", d_none)]:
        diff = np.linalg.norm(d - d_two, ord="fro")
        verdict = "agree" if diff < 1e-6 * np.linalg.norm(d_two) else "DIFFERENT"
        print(f"|| {name} - two loops ||_F = {diff:.2e}  -> {verdict}")

# %% [markdown]
# The vectorised version should win by one to two orders of magnitude. Do not be surprised if the
# one-loop version is not faster than two loops on CIFAR-10: each of its iterations builds a
# temporary `(N, D)` array of differences (5000 x 3072 numbers), and moving that much memory costs
# more than the Python loop it saves. The no-loop version does the heavy work in one matrix product,
# which numpy hands to an optimised linear-algebra library.
#
# Now the whole matrix, for all test images. On the left the columns and rows are in the order of
# the data; on the right they are sorted by class, so that the pairs of the same class lie on the
# diagonal blocks. Dark means close.

# %%
with needs("compute_distances_no_loops"):
    dists = compute_distances_no_loops(X_test, X_train)  # (M, N)
    o_test, o_train = np.argsort(y_test, kind="stable"), np.argsort(y_train, kind="stable")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].imshow(dists, cmap="viridis", aspect="auto", interpolation="nearest")
    axes[0].set_title("dists as computed")
    im = axes[1].imshow(dists[o_test][:, o_train], cmap="viridis", aspect="auto",
                        interpolation="nearest")
    axes[1].set_title("rows and columns sorted by class")
    for ax in axes:
        ax.set_xlabel("training image")
        ax.set_ylabel("test image")
    fig.colorbar(im, ax=axes, label="L2 distance")
    plt.show()

# %% [markdown]
# **Check yourself.** In the left picture some rows are bright almost from end to end, and some
# columns too. What does a bright row say about that test image? And a bright column?
#
# <details><summary>Answer</summary>
#
# A bright row is a test image that is far from *every* training image: it is unusual in pixel
# space, for instance a digit written with much more (or much less) ink than usual, or on CIFAR-10 a
# photo that is very bright, very dark or very contrasted overall. A bright column is the same thing
# for a training image: an outlier far from all test images. The L2 distance adds up squared
# differences over all pixels, so overall brightness and the amount of ink weigh a lot, whatever
# the class. The sorted picture shows the other side: the diagonal blocks are darker, so images of
# the same class are on average closer to each other, which is why nearest neighbours work at all.
#
# </details>

# %% [markdown]
# ## The vote
#
# With the distances in hand, the prediction for test image `i` takes two steps: find the indices
# of the `k` smallest entries of row `i` (`np.argsort` helps), then look up the labels of those
# training images and return the most frequent one. Two rules make the answer well defined:
#
# - **Ties in the vote go to the smallest label.** If among 4 neighbours two say 3 and two say 7,
#   predict 3. (`np.bincount` followed by `np.argmax` does exactly this, since `argmax` returns the
#   first maximum.)
# - **If `k` is larger than the number of training points, all of them vote.**
#
# A `k` smaller than 1 makes no sense: raise a `ValueError` with a clear message.

# %% nbgrader={"grade": false, "grade_id": "knn_predict", "locked": false, "schema_version": 3, "solution": true, "task": false}
def predict_labels(dists, y_train, k=1):
    """Majority vote among the k nearest training points of each test point.

    Inputs:
    - dists: (M, N) array; dists[i, j] is the distance between test point i and training point j.
    - y_train: (N,) int array of labels in 0..C-1.
    - k: number of neighbours that vote (int >= 1).

    Returns:
    - y_pred: (M,) int64 array; y_pred[i] is the most frequent label among the k training points
      closest to test point i.

    Rules:
    - Ties in the vote go to the SMALLEST label (two votes for 3 and two for 7 -> 3).
    - If k is larger than N, all N training points vote.
    - k < 1 raises ValueError.
    (The tests never have two training points at exactly the same distance where it would change
    which ones are the k nearest.)
    """
    num_test = dists.shape[0]
    y_pred = np.zeros(num_test, dtype=np.int64)
    ### BEGIN SOLUTION
    if k < 1:
        raise ValueError(f"predict_labels: k must be at least 1, got {k}")
    k = min(int(k), dists.shape[1])
    y_train = np.asarray(y_train)
    nearest = np.argsort(dists, axis=1, kind="stable")[:, :k]  # (M, k) indices into train
    closest_y = y_train[nearest]  # (M, k) labels
    num_classes = int(y_train.max()) + 1
    votes = (closest_y[:, :, None] == np.arange(num_classes)).sum(axis=1)  # (M, C)
    y_pred = np.argmax(votes, axis=1).astype(np.int64)  # first maximum = smallest label
    ### END SOLUTION
    return y_pred


# %% nbgrader={"grade": true, "grade_id": "test_knn_predict", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["knn_predict"]}
with checking("predict_labels", case="2 test points, 5 training points"):
    _dists = np.array([[0.5, 2.0, 0.1, 3.0, 0.7],
                       [4.0, 0.2, 3.0, 0.3, 1.0]])  # (2, 5)
    _y = np.array([1, 0, 2, 0, 1])
    _p = predict_labels(_dists, _y, k=1)
    expect_shape(_p, (2,), "y_pred with k=1")
    expect_equal(_p, [2, 0], "y_pred with k=1")
    expect_equal(predict_labels(_dists, _y, k=3), [1, 0], "y_pred with k=3")

# %% nbgrader={"grade": true, "grade_id": "test_knn_predict_rules", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["knn_predict"]}
with checking("predict_labels", case="a tie in the vote: two votes for 7, two for 3, k=4"):
    _dists = np.array([[0.1, 0.2, 0.3, 0.4, 5.0]])
    _y = np.array([7, 3, 7, 3, 1])
    expect_equal(predict_labels(_dists, _y, k=4), [3], "y_pred (ties go to the smallest label)")
with checking("predict_labels", case="k=0"):
    try:
        predict_labels(_dists, _y, k=0)
    except ValueError:
        pass
    else:
        raise CheckFailed("k=0 should raise ValueError")

# %% [markdown]
# A look at what the classifier sees: a few validation images (left column) and their five nearest
# training images, with the training labels as titles. Then the validation accuracy for two values
# of k.

# %%
with needs("compute_distances_no_loops", "predict_labels"):
    d_val = compute_distances_no_loops(X_val, X_train)  # (M_val, N)
    show = np.arange(6)
    nearest5 = np.argsort(d_val[show], axis=1)[:, :5]
    imgs, titles = [], []
    for r, i in enumerate(show):
        imgs.append(data.X_val[i])
        titles.append(f"query ({data.class_names[y_val[i]]})")
        for j in nearest5[r]:
            imgs.append(data.X_train[j])
            titles.append(data.class_names[y_train[j]])
    show_images(imgs, titles, ncols=6, size=1.3)
    plt.show()
    for k in (1, 5):
        acc = np.mean(predict_labels(d_val, y_train, k=k) == y_val)
        print(f"validation accuracy with k={k}: {acc:.3f}")

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_nearest_neighbours_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 1 (3 points)
#
# Look at the figure above: each row is a validation image (left) and its five nearest training
# images in L2 distance, titled with their labels. Pick out the neighbours whose label differs from
# the query's. What do they have in common with the query, if not the class? What does that tell you
# about the L2 distance between raw pixel values as a measure of how alike two images are? Answer in
# three to five sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_nearest_neighbours", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** The wrong neighbours resemble the query in where its bright and dark pixels
# are, not in what it shows. On the digits they are digits of another class whose strokes cover
# many of the same pixels: the 9 whose neighbours include two 5s and a 3 shares with them the whole
# lower half (a stroke down the right side and a bar along the bottom) and differs only in whether
# the top closes on the right. On CIFAR-10 they share the background, the overall colour and the
# brightness: a dark photo finds dark photos, an object against a pale sky finds other things
# against pale backgrounds, whatever they are. The L2 distance sums the squared differences of the
# values at the same positions, so the pixels that cover most of the image (background, lighting)
# weigh most, and the same object shifted, turned or in another colour is far away. L2 on raw pixels
# therefore measures how alike the colours at each position are, not the content: a fair guide for
# centred, size-normalised images such as the digits, a poor one for photographs, which is why kNN
# does badly on CIFAR-10 and why the course goes on to learn features instead of comparing pixels.
#
# **Rubric (3 points).**
# - 1 point: says what the wrong neighbours share with the query, as the figure shows it (digits:
#   ink on many of the same pixels, a similar layout of strokes; CIFAR-10: background, overall
#   colour and brightness rather than the object).
# - 1 point: explains it from the distance: L2 compares values at fixed positions and adds them
#   over all pixels, so large areas such as the background dominate, and a shift or a change of
#   pose of the object costs as much as a change of class.
# - 1 point: concludes that pixel distance measures likeness of appearance, not of content: good
#   enough for aligned, normalised images like the digits, weak for natural photographs.

# %% [markdown]
# ## Choosing k by cross-validation
#
# Which k is best? Not a question for the test set: every decision made by looking at the test set
# makes its accuracy an optimistic estimate. Instead, **5-fold cross-validation** splits the
# training set into 5 consecutive folds of (almost) equal size with `np.array_split`. For each fold
# in turn, the other 4 folds are the training data, the held-out fold is the validation data, and
# we record the accuracy of every k. Each k thus gets 5 accuracies; we choose the k with the best
# mean.
#
# Compute the distances once per fold (with your no-loop function) and reuse them for all the k.

# %% nbgrader={"grade": false, "grade_id": "knn_cross_validate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cross_validate_knn(X, y, k_choices, num_folds=5):
    """Cross-validation accuracy of kNN for several values of k.

    Inputs:
    - X: (N, D) array of training samples; y: (N,) int array of labels.
    - k_choices: list of ints, the values of k to try.
    - num_folds: number of folds; fold f is the f-th of np.array_split(X, num_folds) (consecutive
      chunks, no shuffling).

    Returns:
    - k_to_accuracies: dict {k: list of num_folds floats}; entry f of the list is the accuracy (a
      fraction in [0, 1]) on fold f of kNN trained on all the other folds. Use your
      compute_distances_no_loops and predict_labels.
    """
    X_folds = np.array_split(X, num_folds)
    y_folds = np.array_split(y, num_folds)
    k_to_accuracies = {k: [] for k in k_choices}
    ### BEGIN SOLUTION
    for f in range(num_folds):
        X_tr = np.concatenate(X_folds[:f] + X_folds[f + 1:])
        y_tr = np.concatenate(y_folds[:f] + y_folds[f + 1:])
        d = compute_distances_no_loops(X_folds[f], X_tr)
        for k in k_choices:
            k_to_accuracies[k].append(float(np.mean(predict_labels(d, y_tr, k=k) == y_folds[f])))
    ### END SOLUTION
    return k_to_accuracies


# %% nbgrader={"grade": true, "grade_id": "test_knn_cross_validate", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["knn_no_loops", "knn_predict", "knn_cross_validate"]}
# cross_validate_knn runs your compute_distances_no_loops and predict_labels: if their tests
# fail, fix them first.
with checking("cross_validate_knn", case="7 points on a line, 3 folds",
              uses=("compute_distances_no_loops", "predict_labels")):
    # np.array_split makes the folds {0, 10, 1.1}, {11.2, 2.3} and {12.5, 3.6}.
    _X = np.array([[0.0], [10.0], [1.1], [11.2], [2.3], [12.5], [3.6]])
    _y = np.array([0, 1, 0, 1, 0, 1, 0])
    _acc = cross_validate_knn(_X, _y, [1, 5], num_folds=3)
    if not isinstance(_acc, dict) or sorted(_acc) != [1, 5]:
        raise CheckFailed(f"should return a dict with keys [1, 5], got {_acc!r}")
    # k=1: the nearest point in the other folds always has the right label.
    expect_len(_acc[1], 3, "k_to_accuracies[1]", "accuracies, one per fold")
    expect_close(np.asarray(_acc[1], dtype=float), [1.0, 1.0, 1.0], "k_to_accuracies[1]")
    # k=5: all the other points vote (4 or 5 of them); class 0 wins (a 2-2 tie goes to 0).
    expect_len(_acc[5], 3, "k_to_accuracies[5]", "accuracies, one per fold")
    expect_close(np.asarray(_acc[5], dtype=float), [2 / 3, 0.5, 0.5], "k_to_accuracies[5]")

# %% [markdown]
# Run it on the training set and plot every fold's accuracy (grey dots) and the mean with its
# standard deviation. Then use the best k on the test set, **once**.

# %%
k_choices = S["k_choices"]
with needs("cross_validate_knn", "compute_distances_no_loops", "predict_labels"):
    t0 = time.perf_counter()
    k_to_accuracies = cross_validate_knn(X_train, y_train, k_choices, num_folds=5)
    print(f"cross-validation of {len(k_choices)} values of k took {time.perf_counter() - t0:.1f} s")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    means = plot_cv_accuracy(ax, k_choices, k_to_accuracies)
    ax.set_xscale("log")
    ax.set_xticks(k_choices, [str(k) for k in k_choices])
    plt.show()
    for k, m in zip(k_choices, means):
        print(f"k = {k:3d}: mean accuracy {m:.4f}")
    best_k = k_choices[int(np.argmax(means))]

    y_test_pred = predict_labels(compute_distances_no_loops(X_test, X_train), y_train, k=best_k)
    knn_test_acc = np.mean(y_test_pred == y_test)
    target = S["targets"]["knn"]
    print(f"\nbest k = {best_k}; kNN test accuracy on {data.name}: {knn_test_acc:.3f} "
          f"(target about {target}: {'reached' if knn_test_acc >= target else 'NOT reached'})")

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_cv_curve_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 2 (4 points)
#
# Describe the cross-validation curve above over the whole range of k: where it is highest, how it
# behaves for the smallest values of k, and where it falls. Explain the small-k end for the data set
# you ran: why a vote over a few neighbours does, or does not, beat the single nearest one. Then
# judge from the grey dots and the error bars which differences between values of k you can trust.
# Answer in four to six sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_cv_curve", "locked": false, "points": 4, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** On the digits the curve is highest at k = 1 and falls steadily as k grows, most
# clearly at k = 50 and 100. On CIFAR-10 it is nearly flat from k = 1 to about k = 20, with its best
# mean somewhere in that range and a dip at k = 3, and clearly lower at k = 50 and 100. A vote over
# several neighbours helps when the single nearest image is often a chance match of another class:
# wrong neighbours spread their votes over several classes, while the right class, when it is among
# the nearest images several times, wins. On the digits the nearest training image is almost always
# of the right class, so each extra voter is a farther, less similar image and can only add
# mistakes; on CIFAR-10 the nearest image is more often wrong than right, and a vote over a handful
# recovers a little, until k is so large that far images of other classes outvote the near ones.
# The dip at k = 3 on CIFAR-10 comes from ties: with ten classes, three neighbours of three
# different classes are common, and the vote then goes to the smallest label instead of the nearest
# image. Near the top, the differences between neighbouring values of k are about as large as the
# spread of the five folds, so the exact best k is partly chance; only the broad shape, above all
# the drop at large k, is reliable, and any k on the flat top is a sound choice.
#
# **Rubric (4 points).**
# - 1 point: describes the curve the notebook produced (digits: best at k = 1 and falling with k;
#   CIFAR-10: a flat top from k = 1 to about 20, lower at 50 and 100).
# - 1 point: the mechanism: a vote helps when the nearest image is often a chance match, because
#   wrong neighbours scatter their votes, and it hurts once k reaches far images of other classes.
# - 1 point: applies it to the data set run (digits: the nearest image is nearly always right, so
#   more voters only add worse ones; CIFAR-10: the nearest image is often wrong, so a small vote
#   helps a little). Explaining the CIFAR-10 dip at k = 3 by ties in the vote also earns this point.
# - 1 point: reads the spread: near the top the differences are within the fold-to-fold spread
#   (overlapping error bars), so the exact best k is not reliable, only the broad shape is.

# %% nbgrader={"grade": true, "grade_id": "test_knn_accuracy", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["knn_no_loops", "knn_predict"]}
# kNN with your functions on the real test set, with a k that cross-validation picks.
_k, _threshold = S["knn_test"]["k"], S["knn_test"]["threshold"]
with checking("compute_distances_no_loops + predict_labels", case=f"{data.name} test set, k={_k}",
              uses=("compute_distances_no_loops", "predict_labels")):
    _p = predict_labels(compute_distances_no_loops(X_test, X_train), y_train, k=_k)
    expect_shape(_p, y_test.shape, "y_pred")
    expect_at_least(float(np.mean(_p == y_test)), _threshold, "test accuracy")

# %% [markdown]
# **Check yourself.**
#
# 1. What is the accuracy of a 1-NN classifier on its own training set? Why is that number useless
#    for choosing k?
# 2. Why does the accuracy drop for large k? What happens in the limit k = N?
# 3. Which of these changes to all images (training and test alike) leave the predictions of an L2
#    1-NN classifier unchanged? (a) subtracting the mean image; (b) multiplying every pixel by 3;
#    (c) dividing each pixel by its own standard deviation over the training set; (d) applying the
#    same rotation (an orthogonal matrix $Q$) to every flattened image. Which ones would change an
#    L1 1-NN classifier?
#
# <details><summary>Answer</summary>
#
# 1. 100% (unless two identical images carry different labels): every training image is its own
#    nearest neighbour at distance 0. It measures memory, not generalisation, which is why k is
#    chosen on held-out data.
# 2. With a large k the vote reaches far-away images of other classes, so the decision boundaries
#    become too smooth and small classes get outvoted. At k = N every test image gets the most
#    frequent training label, whatever it looks like.
# 3. (a), (b) and (d) leave L2 1-NN unchanged: (a) cancels in every difference $a - b$, (b) scales
#    every distance by 3 and keeps their order, (d) keeps lengths since
#    $\lVert Q(a - b) \rVert = \lVert a - b \rVert$. (c) weighs pixels differently, so distances
#    change order. For L1, (a) and (b) are still harmless, but (c) and (d) change the predictions
#    in general: the L1 distance depends on the choice of coordinate axes.
#
# </details>

# %% [markdown]
# # Part 2: linear classifiers
#
# kNN keeps the whole training set and compares every test image with all of it. A **linear
# classifier** instead learns a few parameters and throws the training set away. For one image
# written as a column vector $x \in \mathbb{R}^D$, the score of each of the $C$ classes is
#
# $$ f(x; W, b) = W x + b, \qquad W \in \mathbb{R}^{C \times D},\; b \in \mathbb{R}^{C}, $$
#
# and the predicted class is the one with the highest score. Each row of $W$ is a *template*: the
# score of a class is the dot product of the image with its template, plus an offset.
#
# **How this looks in the code.** Our data stacks images as *rows*, `X` of shape `(N, D)`, so we
# write the same function row-wise: the scores of all images are `X @ W` of shape `(N, C)`, with
# `W` stored as `(D, C)` (the transpose of the $W$ above; column `j` of `W` is the template of class
# `j`). The **bias trick** folds $b$ into `W`: append a constant 1 to every image (that is the
# last column of `X_train_lin`) and $b$ as the last row of `W`, which is then `(D + 1, C)`:
#
# $$ \begin{bmatrix} x^\top & 1 \end{bmatrix}
#    \begin{bmatrix} W^\top \\ b^\top \end{bmatrix} = x^\top W^\top + b^\top = (W x + b)^\top. $$
#
# From here on "D" in the docstrings includes that extra column. A linear classifier is trained by
# minimising a loss: the mean over the $N$ training images of a per-image loss $L_i$, plus a
# regularisation term that prefers small weights,
#
# $$ L(W) = \frac{1}{N} \sum_{i=1}^{N} L_i(W) + \lambda \sum_{d,c} W_{d,c}^2, \qquad
#    \nabla_W \Big(\lambda \sum W^2\Big) = 2 \lambda W . $$
#
# In the code $\lambda$ is `reg`, and the regularisation is `reg * np.sum(W * W)` (it includes the
# bias row, as in CS231n; the difference is negligible). Two choices of $L_i$ follow.

# %% [markdown]
# ## The multiclass SVM loss
#
# With scores $s = x_i^\top W$ (a row of `C` numbers), the SVM wants the score of the correct class
# $y_i$ to beat every other score by a margin of at least $\Delta = 1$:
#
# $$ L_i = \sum_{j \ne y_i} \max\big(0,\; s_j - s_{y_i} + 1\big). $$
#
# Each term that is positive (a class $j$ that violates the margin) contributes to the gradient:
# with $w_j$ the column $j$ of `W`,
#
# $$ \frac{\partial L_i}{\partial w_j} = \mathbb{1}[s_j - s_{y_i} + 1 > 0]\, x_i \quad (j \ne y_i),
#    \qquad
#    \frac{\partial L_i}{\partial w_{y_i}} = -\Big(\sum_{j \ne y_i}
#    \mathbb{1}[s_j - s_{y_i} + 1 > 0]\Big)\, x_i . $$
#
# Write it first with loops over the samples and the classes: it is the version that is easy to
# get right, and it will be the reference for the fast one.

# %% nbgrader={"grade": false, "grade_id": "svm_naive", "locked": false, "schema_version": 3, "solution": true, "task": false}
def svm_loss_naive(W, X, y, reg):
    """Multiclass SVM (hinge) loss and its gradient, with loops.

    Inputs:
    - W: (D, C) weights; column j is the template of class j.
    - X: (N, D) minibatch of samples, one per row.
    - y: (N,) int labels in 0..C-1; y[i] is the class of X[i].
    - reg: (float) regularisation strength.

    Returns a tuple (loss, dW):
    - loss: float, (1/N) sum_i sum_{j != y_i} max(0, s_j - s_{y_i} + 1) + reg * sum(W * W),
      where s = X[i] @ W.
    - dW: (D, C) gradient of the loss with respect to W (regularisation: 2 * reg * W).

    Loop over the samples and the classes.
    """
    dW = np.zeros_like(W)
    num_classes = W.shape[1]
    num_train = X.shape[0]
    loss = 0.0
    ### BEGIN SOLUTION
    for i in range(num_train):
        scores = X[i] @ W  # (C,)
        correct = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct + 1.0
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss /= num_train
    dW /= num_train
    loss += reg * np.sum(W * W)
    dW += 2.0 * reg * W
    ### END SOLUTION
    return loss, dW


# %% nbgrader={"grade": true, "grade_id": "test_svm_naive_loss", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["svm_naive"]}
# A case you can check by hand: scores of sample 0 are [1, 2, 1] (correct class 0) -> L_0 = 2 + 1;
# scores of sample 1 are [2, -1, -3] (correct class 2) -> L_1 = 6 + 3; mean 6; sum(W*W) = 4.
_W = np.array([[1.0, 0.0, -1.0],
               [0.0, 1.0, 1.0]])  # (D=2, C=3)
_X = np.array([[1.0, 2.0],
               [2.0, -1.0]])  # (N=2, D=2)
_y = np.array([0, 2])
with checking("svm_loss_naive", case="hand-checked 2 samples, 3 classes, reg=0"):
    _loss, _dW = svm_loss_naive(_W, _X, _y, 0.0)
    expect_close(_loss, 6.0, "loss")
    expect_shape(_dW, (2, 3), "dW")
with checking("svm_loss_naive", case="hand-checked 2 samples, 3 classes, reg=0.1"):
    expect_close(svm_loss_naive(_W, _X, _y, 0.1)[0], 6.4, "loss")

# %% nbgrader={"grade": true, "grade_id": "test_svm_naive_grad", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["svm_naive"]}
# Compare your gradient with a numeric one (centred differences, dlcv.gradcheck).
_rng = np.random.default_rng(0)
_W = 0.01 * _rng.normal(size=(5, 4))  # (D, C)
_X, _y = _rng.normal(size=(6, 5)), np.array([0, 1, 2, 3, 0, 1])
# The numeric gradient is computed from your loss, so the loss must be right first: the
# hand-checked case of the loss test (loss 6.4).
_hand = (np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]]), np.array([[1.0, 2.0], [2.0, -1.0]]),
         np.array([0, 2]), 0.1)  # W, X, y, reg
with checking("svm_loss_naive", case="random 6 samples, D=5, C=4, reg=0.05"):
    expect_loss_before_gradient(svm_loss_naive(*_hand)[0], 6.4,
                                "the hand-checked case of the loss test (reg=0.1)")
    _dW = svm_loss_naive(_W, _X, _y, 0.05)[1]
    _num = eval_numerical_gradient(lambda w: svm_loss_naive(w, _X, _y, 0.05)[0], _W.copy())
    expect_grad_close(_dW, _num, "dW", tol=1e-6)

# %% [markdown]
# ## A vectorised SVM loss
#
# Loops over samples are slow in Python. Compute the same loss and gradient with whole-array
# operations: all scores as one `(N, C)` matrix, the correct-class scores picked with
# `scores[np.arange(N), y]`, the margins with broadcasting, and the gradient as one matrix product
# `X.T @ M` where `M` is an `(N, C)` matrix of coefficients (how many times each sample's row is
# added to, or subtracted from, each class's column).

# %% nbgrader={"grade": false, "grade_id": "svm_vectorized", "locked": false, "schema_version": 3, "solution": true, "task": false}
def svm_loss_vectorized(W, X, y, reg):
    """Multiclass SVM loss and gradient, without loops. Same inputs and outputs as svm_loss_naive.

    Inputs: W: (D, C); X: (N, D); y: (N,) ints in 0..C-1; reg: float.
    Returns: (loss: float, dW: (D, C)).
    """
    loss = 0.0
    dW = np.zeros_like(W)
    ### BEGIN SOLUTION
    num_train = X.shape[0]
    rows = np.arange(num_train)
    scores = X @ W  # (N, C)
    correct = scores[rows, y][:, None]  # (N, 1)
    margins = np.maximum(0.0, scores - correct + 1.0)  # (N, C)
    margins[rows, y] = 0.0
    loss = np.sum(margins) / num_train + reg * np.sum(W * W)
    coeff = (margins > 0).astype(X.dtype)  # (N, C)
    coeff[rows, y] = -np.sum(coeff, axis=1)
    dW = X.T @ coeff / num_train + 2.0 * reg * W  # (D, C)
    ### END SOLUTION
    return loss, dW


# %% nbgrader={"grade": true, "grade_id": "test_svm_vectorized_loss", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["svm_vectorized"]}
# The hand-checked case of svm_loss_naive: loss 6 without and 6.4 with reg = 0.1.
_W = np.array([[1.0, 0.0, -1.0],
               [0.0, 1.0, 1.0]])  # (D=2, C=3)
_X = np.array([[1.0, 2.0],
               [2.0, -1.0]])  # (N=2, D=2)
_y = np.array([0, 2])
with checking("svm_loss_vectorized", case="hand-checked 2 samples, 3 classes, reg=0"):
    _loss, _dW = svm_loss_vectorized(_W, _X, _y, 0.0)
    expect_close(_loss, 6.0, "loss")
    expect_shape(_dW, (2, 3), "dW")
with checking("svm_loss_vectorized", case="hand-checked 2 samples, 3 classes, reg=0.1"):
    expect_close(svm_loss_vectorized(_W, _X, _y, 0.1)[0], 6.4, "loss")

# %% nbgrader={"grade": true, "grade_id": "test_svm_vectorized_grad", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["svm_vectorized"]}
_rng = np.random.default_rng(0)
_W = 0.01 * _rng.normal(size=(5, 4))  # (D, C)
_X, _y = _rng.normal(size=(6, 5)), np.array([0, 1, 2, 3, 0, 1])
# The numeric gradient is computed from your loss, so the loss must be right first: the
# hand-checked case of the loss test (loss 6.4).
_hand = (np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]]), np.array([[1.0, 2.0], [2.0, -1.0]]),
         np.array([0, 2]), 0.1)  # W, X, y, reg
with checking("svm_loss_vectorized", case="random 6 samples, D=5, C=4, reg=0.05"):
    expect_loss_before_gradient(svm_loss_vectorized(*_hand)[0], 6.4,
                                "the hand-checked case of the loss test (reg=0.1)")
    _dW = svm_loss_vectorized(_W, _X, _y, 0.05)[1]
    _num = eval_numerical_gradient(lambda w: svm_loss_vectorized(w, _X, _y, 0.05)[0], _W.copy())
    expect_grad_close(_dW, _num, "dW", tol=1e-6)

# %% [markdown]
# ### Sanity checks on real data
#
# Three habits worth keeping for every model you train in this course:
#
# 1. **The loss at initialisation.** With tiny random weights all scores are almost 0, so every
#    margin is about $0 - 0 + 1 = 1$ and the SVM loss is about $C - 1$ (9 for 10 classes).
# 2. **A gradient check** against centred differences on a few random entries of `W`
#    (`grad_check_sparse` prints each one; relative errors around 1e-7 or below are good).
# 3. **Naive against vectorised**: same loss, same gradient, and a speed-up.
#
# We use the small dev subset of the training set (`X_dev_lin`) to keep this quick.

# %%
rng = np.random.default_rng(0)
W0 = 0.0001 * rng.standard_normal((X_dev_lin.shape[1], data.num_classes))  # (D + 1, C)
with needs("svm_loss_naive", "svm_loss_vectorized"):
    loss0, _ = svm_loss_vectorized(W0, X_dev_lin, y_dev, 0.0)
    print(f"SVM loss at initialisation: {loss0:.4f} (expected about C - 1 = {data.num_classes - 1})")

    print("\ngradient check, reg = 0:")
    loss, grad = svm_loss_naive(W0, X_dev_lin, y_dev, 0.0)
    grad_check_sparse(lambda w: svm_loss_naive(w, X_dev_lin, y_dev, 0.0)[0], W0.copy(), grad,
                      num_checks=5)
    print("gradient check, reg = 5e1 (a strong regulariser, to see its gradient matter):")
    loss, grad = svm_loss_naive(W0, X_dev_lin, y_dev, 5e1)
    grad_check_sparse(lambda w: svm_loss_naive(w, X_dev_lin, y_dev, 5e1)[0], W0.copy(), grad,
                      num_checks=5)

    t_naive, (l_naive, g_naive) = time_call(svm_loss_naive, W0, X_dev_lin, y_dev, 1e-3)
    t_vec, (l_vec, g_vec) = time_call(svm_loss_vectorized, W0, X_dev_lin, y_dev, 1e-3)
    print(f"\nnaive:      loss {l_naive:.6f}, {1000 * t_naive:7.2f} ms")
    print(f"vectorised: loss {l_vec:.6f}, {1000 * t_vec:7.2f} ms  ({t_naive / t_vec:.0f}x faster)")
    print(f"difference of the losses {abs(l_naive - l_vec):.2e}, "
          f"of the gradients (Frobenius) {np.linalg.norm(g_naive - g_vec):.2e}")

# %% [markdown]
# **Check yourself.** Once in a while a single entry of an SVM gradient check disagrees badly
# (relative error 1e-2 or more) although the code is right. Why? Would it happen with the softmax
# loss?
#
# <details><summary>Answer</summary>
#
# The hinge $\max(0, \cdot)$ has a kink. If one margin $s_j - s_{y_i} + 1$ is within $h$ of zero,
# then $W + h$ and $W - h$ fall on different sides of the kink and the centred difference averages
# two different slopes; the analytic gradient picks one side. It is rare (the margin has to be
# closer to 0 than about $h \lVert x_i \rVert$), not a bug, and it disappears if you check at
# another point or with a smaller $h$. The softmax loss is smooth everywhere, so there are no such
# surprises: a bad entry there *is* a bug.
#
# </details>

# %% [markdown]
# ## The softmax loss
#
# The softmax classifier reads the scores as unnormalised log-probabilities. The probability of
# class $j$ for sample $i$ is $p_j = e^{s_j} / \sum_c e^{s_c}$, and the loss is the cross-entropy of
# the correct class:
#
# $$ L_i = -\log p_{y_i} = -s_{y_i} + \log \sum_{c} e^{s_c}, \qquad
#    \frac{\partial L_i}{\partial w_j} = \big(p_j - \mathbb{1}[j = y_i]\big)\, x_i . $$
#
# **Numerical stability.** $e^{s}$ overflows for scores above about 709 (the result is `inf`, and
# `inf / inf` is `nan`). Subtracting the largest score $m$ of the row from all its scores changes
# nothing mathematically, since $e^{s_j - m} / \sum_c e^{s_c - m} = e^{s_j} / \sum_c e^{s_c}$, but
# keeps every exponential at most $e^0 = 1$. Do it in both versions.
#
# Same conventions as before: mean over the $N$ samples, plus `reg * np.sum(W * W)`.

# %% nbgrader={"grade": false, "grade_id": "softmax_naive", "locked": false, "schema_version": 3, "solution": true, "task": false}
def softmax_loss_naive(W, X, y, reg):
    """Softmax (cross-entropy) loss and its gradient, with loops.

    Inputs:
    - W: (D, C) weights; X: (N, D) samples; y: (N,) int labels in 0..C-1; reg: float.

    Returns a tuple (loss, dW):
    - loss: float, (1/N) sum_i -log(softmax(X[i] @ W)[y[i]]) + reg * sum(W * W).
    - dW: (D, C) gradient of the loss with respect to W.

    Loop over the samples. Shift each row of scores by its maximum before np.exp, so that large
    scores do not overflow.
    """
    loss = 0.0
    dW = np.zeros_like(W)
    num_train, num_classes = X.shape[0], W.shape[1]
    ### BEGIN SOLUTION
    for i in range(num_train):
        scores = X[i] @ W  # (C,)
        scores = scores - np.max(scores)
        log_sum = np.log(np.sum(np.exp(scores)))
        loss += log_sum - scores[y[i]]
        probs = np.exp(scores - log_sum)  # (C,)
        for j in range(num_classes):
            dW[:, j] += (probs[j] - (j == y[i])) * X[i]
    loss /= num_train
    dW /= num_train
    loss += reg * np.sum(W * W)
    dW += 2.0 * reg * W
    ### END SOLUTION
    return loss, dW


# %% nbgrader={"grade": true, "grade_id": "test_softmax_naive_loss", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["softmax_naive"]}
# By hand: with W = 0 every class has probability 1/C, so the loss is log(C) whatever X and y.
with checking("softmax_loss_naive", case="W = 0, 4 samples, C=5, reg=0"):
    _loss, _dW = softmax_loss_naive(np.zeros((3, 5)), np.arange(12.0).reshape(4, 3),
                                    np.array([0, 1, 4, 2]), 0.0)
    expect_close(_loss, np.log(5.0), "loss")
    expect_shape(_dW, (3, 5), "dW")
# Scores [0, log 3] for one sample of class 1: p = [1/4, 3/4], loss = -log(3/4);
# sum(W*W) = log(3)^2.
with checking("softmax_loss_naive", case="1 sample, 2 classes, reg=0.5"):
    _loss, _ = softmax_loss_naive(np.array([[0.0, np.log(3.0)]]), np.array([[1.0]]),
                                  np.array([1]), 0.5)
    expect_close(_loss, -np.log(0.75) + 0.5 * np.log(3.0) ** 2, "loss")

# %% nbgrader={"grade": true, "grade_id": "test_softmax_naive_grad", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["softmax_naive"]}
_rng = np.random.default_rng(0)
_W = 0.1 * _rng.normal(size=(5, 4))  # (D, C)
_X, _y = _rng.normal(size=(6, 5)), np.array([0, 1, 2, 3, 0, 1])
# The numeric gradient is computed from your loss, so the loss must be right first. By hand:
# scores [0, log 3] for 2 samples of class 1, -log(3/4) each; sum(W*W) = log(3)^2.
_hand = (np.array([[0.0, np.log(3.0)]]), np.array([[1.0], [1.0]]), np.array([1, 1]), 0.5)
_hand_loss = -np.log(0.75) + 0.5 * np.log(3.0) ** 2
with checking("softmax_loss_naive", case="random 6 samples, D=5, C=4, reg=0.05"):
    expect_loss_before_gradient(softmax_loss_naive(*_hand)[0], _hand_loss,
                                "a hand-checked case (2 samples, 2 classes, reg=0.5)")
    _dW = softmax_loss_naive(_W, _X, _y, 0.05)[1]
    _num = eval_numerical_gradient(lambda w: softmax_loss_naive(w, _X, _y, 0.05)[0], _W.copy())
    expect_grad_close(_dW, _num, "dW", tol=1e-6)

# %% [markdown]
# And the vectorised version: all scores at once, shifted row by row (`keepdims=True` keeps the
# `(N, 1)` shape for broadcasting), probabilities as an `(N, C)` matrix, and the gradient as one
# matrix product.

# %% nbgrader={"grade": false, "grade_id": "softmax_vectorized", "locked": false, "schema_version": 3, "solution": true, "task": false}
def softmax_loss_vectorized(W, X, y, reg):
    """Softmax loss and gradient, without loops. Same inputs and outputs as softmax_loss_naive.

    Inputs: W: (D, C); X: (N, D); y: (N,) ints in 0..C-1; reg: float.
    Returns: (loss: float, dW: (D, C)). Numerically stable for large scores.
    """
    loss = 0.0
    dW = np.zeros_like(W)
    ### BEGIN SOLUTION
    num_train = X.shape[0]
    rows = np.arange(num_train)
    scores = X @ W  # (N, C)
    scores = scores - np.max(scores, axis=1, keepdims=True)
    log_sum = np.log(np.sum(np.exp(scores), axis=1, keepdims=True))  # (N, 1)
    log_probs = scores - log_sum  # (N, C)
    loss = -np.mean(log_probs[rows, y]) + reg * np.sum(W * W)
    coeff = np.exp(log_probs)  # (N, C) probabilities
    coeff[rows, y] -= 1.0
    dW = X.T @ coeff / num_train + 2.0 * reg * W  # (D, C)
    ### END SOLUTION
    return loss, dW


# %% nbgrader={"grade": true, "grade_id": "test_softmax_vectorized_loss", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["softmax_vectorized"]}
with checking("softmax_loss_vectorized", case="W = 0, 4 samples, C=5, reg=0"):
    _loss, _dW = softmax_loss_vectorized(np.zeros((3, 5)), np.arange(12.0).reshape(4, 3),
                                         np.array([0, 1, 4, 2]), 0.0)
    expect_close(_loss, np.log(5.0), "loss")
    expect_shape(_dW, (3, 5), "dW")
with checking("softmax_loss_vectorized", case="1 sample, 2 classes, reg=0.5"):
    _loss, _ = softmax_loss_vectorized(np.array([[0.0, np.log(3.0)]]), np.array([[1.0]]),
                                       np.array([1]), 0.5)
    expect_close(_loss, -np.log(0.75) + 0.5 * np.log(3.0) ** 2, "loss")

# %% nbgrader={"grade": true, "grade_id": "test_softmax_vectorized_grad", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["softmax_vectorized"]}
_rng = np.random.default_rng(0)
_W = 0.1 * _rng.normal(size=(5, 4))  # (D, C)
_X, _y = _rng.normal(size=(6, 5)), np.array([0, 1, 2, 3, 0, 1])
# The numeric gradient is computed from your loss, so the loss must be right first. By hand:
# scores [0, log 3] for 2 samples of class 1, -log(3/4) each; sum(W*W) = log(3)^2.
_hand = (np.array([[0.0, np.log(3.0)]]), np.array([[1.0], [1.0]]), np.array([1, 1]), 0.5)
_hand_loss = -np.log(0.75) + 0.5 * np.log(3.0) ** 2
with checking("softmax_loss_vectorized", case="random 6 samples, D=5, C=4, reg=0.05"):
    expect_loss_before_gradient(softmax_loss_vectorized(*_hand)[0], _hand_loss,
                                "a hand-checked case (2 samples, 2 classes, reg=0.5)")
    _dW = softmax_loss_vectorized(_W, _X, _y, 0.05)[1]
    _num = eval_numerical_gradient(lambda w: softmax_loss_vectorized(w, _X, _y, 0.05)[0], _W.copy())
    expect_grad_close(_dW, _num, "dW", tol=1e-6)

# %% [markdown]
# The same three sanity checks for the softmax loss.

# %%
with needs("softmax_loss_naive", "softmax_loss_vectorized"):
    loss0, _ = softmax_loss_vectorized(W0, X_dev_lin, y_dev, 0.0)
    print(f"softmax loss at initialisation: {loss0:.4f} "
          f"(expected about log(C) = {np.log(data.num_classes):.4f})")
    print("\ngradient check, reg = 0:")
    loss, grad = softmax_loss_naive(W0, X_dev_lin, y_dev, 0.0)
    grad_check_sparse(lambda w: softmax_loss_naive(w, X_dev_lin, y_dev, 0.0)[0], W0.copy(), grad,
                      num_checks=5)
    t_naive, (l_naive, g_naive) = time_call(softmax_loss_naive, W0, X_dev_lin, y_dev, 1e-3)
    t_vec, (l_vec, g_vec) = time_call(softmax_loss_vectorized, W0, X_dev_lin, y_dev, 1e-3)
    print(f"\nnaive:      loss {l_naive:.6f}, {1000 * t_naive:7.2f} ms")
    print(f"vectorised: loss {l_vec:.6f}, {1000 * t_vec:7.2f} ms  ({t_naive / t_vec:.0f}x faster)")
    print(f"relative error of the gradients: {rel_error(g_naive, g_vec):.2e}")

# %% [markdown]
# **Check yourself.** Why is the softmax loss at initialisation close to $\log C$? And: can a
# sample have an SVM loss of exactly 0? A softmax loss of exactly 0?
#
# <details><summary>Answer</summary>
#
# With tiny weights all $C$ scores are almost equal, so the softmax gives every class a
# probability of about $1/C$ and $-\log(1/C) = \log C$ ($\approx 2.303$ for 10 classes). A loss far
# from that at the start usually means a bug in the loss or badly scaled data.
#
# The SVM loss of a sample is exactly 0 as soon as the correct score beats every other score by at
# least 1: beyond that point the SVM does not care any more. The softmax loss $-\log p_{y_i}$ is
# 0 only if $p_{y_i} = 1$, which needs the other scores to be infinitely far below; for finite
# weights it is always positive, so softmax keeps pushing the correct score up (until the
# regularisation balances it).
#
# </details>

# %% [markdown]
# ## Training with stochastic gradient descent
#
# Both losses are functions of `W` whose gradient we can compute, so we can minimise them with
# gradient descent. Evaluating the loss on the whole training set for every step is wasteful;
# **minibatch SGD** estimates it on a random batch of `batch_size` samples instead and takes a small
# step against the gradient:
#
# $$ W \leftarrow W - \eta\, \nabla_W L_{\text{batch}}(W), $$
#
# with learning rate $\eta$ (`learning_rate`). The class `LinearClassifier` below holds `W` and
# trains it; its subclasses `LinearSVM` and `Softmax` only say which loss to use, through the
# method `loss(X_batch, y_batch, reg)` that returns `(loss, dW)`. Write:
#
# - the body of the loop of `train`: draw a batch **with replacement** using the generator `rng`
#   (for instance `rng.choice(num_train, batch_size, replace=True)`), evaluate `self.loss` on it,
#   append the loss to `loss_history`, and update `self.W`;
# - `predict`: the class with the highest score for every row of `X`.
#
# `W` is created at the first call of `train` (small random numbers); a second call continues
# from the current `W`.

# %% nbgrader={"grade": false, "grade_id": "linear_classifier", "locked": false, "schema_version": 3, "solution": true, "task": false}
class LinearClassifier:
    """A linear classifier scores = X @ W, trained by minibatch SGD on the loss of a subclass.

    Attributes:
    - W: (D, C) weights, None until the first call of train.
    """

    def __init__(self):
        self.W = None

    def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200, seed=0,
              verbose=False):
        """Minimise self.loss with minibatch stochastic gradient descent.

        Inputs:
        - X: (N, D) training samples (with the bias column); y: (N,) int labels in 0..C-1.
        - learning_rate: (float) step size.
        - reg: (float) regularisation strength, passed to self.loss.
        - num_iters: (int) number of steps.
        - batch_size: (int) samples per step, drawn with replacement.
        - seed: (int) seed of the random generator rng used for W and for the batches.
        - verbose: (bool) print the loss every 250 steps.

        Returns:
        - loss_history: list of num_iters floats, the minibatch loss at each step.
        """
        num_train, dim = X.shape
        num_classes = int(np.max(y)) + 1  # labels are 0..C-1
        rng = np.random.default_rng(seed)
        if self.W is None:
            self.W = 0.001 * rng.standard_normal((dim, num_classes))  # (D, C)
        loss_history = []
        for it in range(num_iters):
            # Draw X_batch (batch_size, D) and y_batch (batch_size,) with replacement using rng,
            # compute loss, grad = self.loss(X_batch, y_batch, reg), append the loss to
            # loss_history and take one gradient step on self.W.
            ### BEGIN SOLUTION
            idx = rng.choice(num_train, batch_size, replace=True)
            X_batch, y_batch = X[idx], y[idx]
            loss, grad = self.loss(X_batch, y_batch, reg)
            loss_history.append(float(loss))
            self.W -= learning_rate * grad
            ### END SOLUTION
            if verbose and (it % 250 == 0 or it == num_iters - 1):
                print(f"iteration {it:5d} / {num_iters}: loss {loss_history[-1]:.4f}")
        return loss_history

    def predict(self, X):
        """Predicted labels.

        Inputs:
        - X: (N, D) samples.

        Returns:
        - y_pred: (N,) int array; y_pred[i] is the class with the highest score X[i] @ W.
        """
        y_pred = np.zeros(X.shape[0], dtype=np.int64)
        ### BEGIN SOLUTION
        y_pred = np.argmax(X @ self.W, axis=1)
        ### END SOLUTION
        return y_pred

    def loss(self, X_batch, y_batch, reg):
        """(loss, dW) on a minibatch. Subclasses say which loss."""
        raise TypeError("LinearClassifier is a base class: use LinearSVM or Softmax")


# %% nbgrader={"grade": false, "grade_id": "linear_subclasses", "locked": true, "schema_version": 3, "solution": false, "task": false}
class LinearSVM(LinearClassifier):
    """Linear classifier with the multiclass SVM loss."""

    def loss(self, X_batch, y_batch=None, reg=0.0):
        """Scores (N, C) when y_batch is None; otherwise (loss, dW) of the SVM loss."""
        if y_batch is None:
            return X_batch @ self.W
        return svm_loss_vectorized(self.W, X_batch, y_batch, reg)


class Softmax(LinearClassifier):
    """Linear classifier with the softmax (cross-entropy) loss."""

    def loss(self, X_batch, y_batch=None, reg=0.0):
        """Scores (N, C) when y_batch is None; otherwise (loss, dW) of the softmax loss."""
        if y_batch is None:
            return X_batch @ self.W
        return softmax_loss_vectorized(self.W, X_batch, y_batch, reg)


# %% nbgrader={"grade": true, "grade_id": "test_linear_train", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["linear_classifier"]}
# A made-up loss whose gradient is always 1: each step subtracts learning_rate from every weight.
class _ConstantGradient(LinearClassifier):
    def loss(self, X_batch, y_batch, reg):
        return 2.5, np.ones_like(self.W)


_X = np.random.default_rng(0).normal(size=(30, 4))  # (N, D)
_y = np.arange(30) % 3
with checking("LinearClassifier.train", case="a loss whose gradient is always 1, 7 steps"):
    _m = _ConstantGradient()
    _m.W = np.zeros((4, 3))
    _hist = _m.train(_X, _y, learning_rate=0.1, reg=0.0, num_iters=7, batch_size=5)
    if not isinstance(_hist, list):
        raise CheckFailed("train should return a list of 7 losses, got "
                          + ("None" if _hist is None else f"a {type(_hist).__name__}"))
    expect_len(_hist, 7, "loss_history (what train returns)", "losses, one per step")
    expect_close(np.asarray(_hist, dtype=float), np.full(7, 2.5), "loss_history")
    expect_close(_m.W, np.full((4, 3), -0.7), "W after 7 steps of size 0.1")
with checking("LinearClassifier.train", case="a fresh model creates W of shape (D, C)"):
    _m = _ConstantGradient()
    _m.train(_X, _y, learning_rate=0.1, num_iters=1, batch_size=5)
    expect_shape(_m.W, (4, 3), "W")

# %% nbgrader={"grade": true, "grade_id": "test_linear_predict", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["linear_classifier"]}
with checking("LinearClassifier.predict", case="W given, 3 samples, 2 classes"):
    _m = LinearClassifier()
    _m.W = np.array([[1.0, -1.0],
                     [0.0, 2.0]])  # (D=2, C=2)
    _p = _m.predict(np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 1.0]]))  # scores [1,-1], [0,2], [3,-1]
    expect_shape(_p, (3,), "y_pred")
    expect_equal(_p, [0, 1, 0], "y_pred")

# %% [markdown]
# Train both classifiers once at a reasonable setting and watch the loss (on a log scale). Each
# curve is noisy, since each point is the loss on a different random batch, but it should go down
# and flatten out. The grey line is the loss of every step, the blue one its moving average.

# %%
demo = S["demo"]
with needs("LinearClassifier", "svm_loss_vectorized", "softmax_loss_vectorized"):
    svm = LinearSVM()
    t0 = time.perf_counter()
    svm_history = svm.train(X_train_lin, y_train_lin, num_iters=S["num_iters"], verbose=True, **demo)
    print(f"LinearSVM: {S['num_iters']} steps in {time.perf_counter() - t0:.2f} s")
    softmax = Softmax()
    softmax_history = softmax.train(X_train_lin, y_train_lin, num_iters=S["num_iters"], **demo)

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    setting = f"learning rate {demo['learning_rate']:g}, reg {demo['reg']:g}"
    plot_loss_history(axes[0], svm_history, title=f"LinearSVM: {setting}", smooth=25)
    plot_loss_history(axes[1], softmax_history, title=f"Softmax: {setting}", smooth=25)
    for ax in axes:
        ax.set_yscale("log")  # the first steps divide the loss by 10 or more
    fig.tight_layout()
    plt.show()
    for name, model in [("LinearSVM", svm), ("Softmax", softmax)]:
        tr = np.mean(model.predict(X_train_lin) == y_train_lin)
        va = np.mean(model.predict(X_val_lin) == y_val_lin)
        print(f"{name:9s}: training accuracy {tr:.3f}, validation accuracy {va:.3f}")

# %% nbgrader={"grade": true, "grade_id": "test_linear_svm_accuracy", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["linear_classifier", "svm_vectorized"]}
# Your LinearSVM (train, predict, svm_loss_vectorized) at a fixed good setting, on the test set.
_setting, _threshold = S["fixed"]["LinearSVM"]
_uses = ("LinearClassifier.train", "LinearClassifier.predict", "svm_loss_vectorized")
with checking("LinearSVM (train, predict and svm_loss_vectorized)",
              case=f"{data.name}, {_setting}", uses=_uses):
    _m = LinearSVM()
    _m.train(X_train_lin, y_train_lin, seed=0, **_setting)
    _p = _m.predict(X_test_lin)
    expect_shape(_p, y_test_lin.shape, "y_pred")
    expect_at_least(float(np.mean(_p == y_test_lin)), _threshold, "test accuracy")

# %% nbgrader={"grade": true, "grade_id": "test_softmax_accuracy", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["linear_classifier", "softmax_vectorized"]}
# Your Softmax classifier at a fixed good setting, on the real test set.
_setting, _threshold = S["fixed"]["Softmax"]
_uses = ("LinearClassifier.train", "LinearClassifier.predict", "softmax_loss_vectorized")
with checking("Softmax (train, predict and softmax_loss_vectorized)",
              case=f"{data.name}, {_setting}", uses=_uses):
    _m = Softmax()
    _m.train(X_train_lin, y_train_lin, seed=0, **_setting)
    _p = _m.predict(X_test_lin)
    expect_shape(_p, y_test_lin.shape, "y_pred")
    expect_at_least(float(np.mean(_p == y_test_lin)), _threshold, "test accuracy")

# %% [markdown]
# ## Choosing the learning rate and the regularisation strength
#
# Both are hyperparameters: we train one model per pair `(learning_rate, reg)` of a grid on the
# training set, measure its accuracy on the **validation** set, and keep the best model. The test
# set is used once, at the very end.

# %% nbgrader={"grade": false, "grade_id": "tune_linear", "locked": false, "schema_version": 3, "solution": true, "task": false}
def tune_linear_classifier(model_class, X_train, y_train, X_val, y_val, learning_rates, regs,
                           num_iters=1500):
    """Grid search over learning rates and regularisation strengths.

    Inputs:
    - model_class: a class such as LinearSVM or Softmax; model_class() makes a fresh model.
    - X_train: (N, D), y_train: (N,) training data; X_val: (M, D), y_val: (M,) validation data.
    - learning_rates, regs: lists of floats.
    - num_iters: (int) steps of SGD for every model.

    For every pair (lr, reg), train a fresh model with
    model.train(X_train, y_train, learning_rate=lr, reg=reg, num_iters=num_iters), then measure
    its accuracy (a fraction in [0, 1]) on the training and on the validation set.

    Returns a tuple (results, best_model):
    - results: dict {(lr, reg): (train_accuracy, val_accuracy)} with one entry per pair.
    - best_model: the trained model with the highest validation accuracy (on a tie, the first
      one found, with learning rates in the outer loop and regs in the inner loop).
    """
    results = {}
    best_val = -1.0
    best_model = None
    ### BEGIN SOLUTION
    for lr in learning_rates:
        for reg in regs:
            model = model_class()
            model.train(X_train, y_train, learning_rate=lr, reg=reg, num_iters=num_iters)
            train_acc = float(np.mean(model.predict(X_train) == y_train))
            val_acc = float(np.mean(model.predict(X_val) == y_val))
            results[(lr, reg)] = (train_acc, val_acc)
            if val_acc > best_val:
                best_val, best_model = val_acc, model
    ### END SOLUTION
    return results, best_model


# %% nbgrader={"grade": true, "grade_id": "test_tune_linear", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["tune_linear"]}
# A stand-in model class whose accuracies are known in advance, so that only the search is tested.
class _FakeModel:
    """Predicts so that the accuracy on X is ACC[(lr, reg)][0] on 20 rows, [1] on 10 rows."""

    ACC = {(0.1, 1.0): (0.5, 0.3), (0.1, 10.0): (0.9, 0.6),
           (0.01, 1.0): (0.7, 0.8), (0.01, 10.0): (0.95, 0.5)}
    made = []

    def __init__(self):
        self.W, self.setting, self.num_iters = None, None, None
        _FakeModel.made.append(self)

    def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200, seed=0,
              verbose=False):
        self.setting, self.num_iters = (learning_rate, reg), num_iters
        return [0.0] * num_iters

    def predict(self, X):
        acc = self.ACC[self.setting][0 if len(X) == 20 else 1]
        n_right = int(round(acc * len(X)))
        return np.r_[np.zeros(n_right, dtype=np.int64), np.ones(len(X) - n_right, dtype=np.int64)]


_Xtr, _ytr = np.zeros((20, 3)), np.zeros(20, dtype=np.int64)  # every label is 0
_Xva, _yva = np.zeros((10, 3)), np.zeros(10, dtype=np.int64)
with checking("tune_linear_classifier", case="2 learning rates x 2 regs with known accuracies"):
    _FakeModel.made = []
    _res, _best = tune_linear_classifier(_FakeModel, _Xtr, _ytr, _Xva, _yva, [0.1, 0.01],
                                         [1.0, 10.0], num_iters=42)
    if not isinstance(_res, dict) or set(_res) != set(_FakeModel.ACC):
        raise CheckFailed(f"results should have the keys {sorted(_FakeModel.ACC)}, got "
                          f"{sorted(_res) if isinstance(_res, dict) else type(_res).__name__}")
    for _key, _acc in _FakeModel.ACC.items():
        expect_len(_res[_key], 2, f"results[{_key}]", "accuracies (training, validation)")
        expect_close(np.asarray(_res[_key], dtype=float), _acc, f"results[{_key}]")
    if not isinstance(_best, _FakeModel) or _best.setting != (0.01, 1.0):
        raise CheckFailed("best_model should be the model trained with (lr, reg) = (0.01, 1.0), "
                          "which has the best validation accuracy 0.8; got "
                          + ("None" if _best is None else (f"the one trained with {_best.setting}"
                             if isinstance(_best, _FakeModel) else f"a {type(_best).__name__}")))

# %% [markdown]
# Now the real search, for both classifiers, with the grid of `SETTINGS` for this data set.

# %%
with needs("tune_linear_classifier"):
    searches = {}
    for name, cls in [("LinearSVM", LinearSVM), ("Softmax", Softmax)]:
        t0 = time.perf_counter()
        results, best_model = tune_linear_classifier(
            cls, X_train_lin, y_train_lin, X_val_lin, y_val_lin, S["learning_rates"], S["regs"],
            num_iters=S["num_iters"])
        searches[name] = (results, best_model)
        print(f"{name}: {len(results)} models trained in {time.perf_counter() - t0:.1f} s")
        print(f"  {'learning rate':>13s} {'reg':>9s} {'train acc':>9s} {'val acc':>8s}")
        best_key = max(results, key=lambda key: results[key][1])
        for (lr, reg), (tr, va) in sorted(results.items()):
            mark = "  <- best" if (lr, reg) == best_key else ""
            print(f"  {lr:13.1e} {reg:9.1e} {tr:9.3f} {va:8.3f}{mark}")

# %% [markdown]
# The same numbers as pictures: validation accuracy over the grid. If the best value sits on the
# border of the grid, extend the grid in that direction and search again. Keep the size of the
# validation set in mind, too: one image more or less changes the accuracy by 1/M (0.0056 for the
# 180 validation digits), so neighbouring cells that differ by one or two images are a tie.

# %%
with needs("tune_linear_classifier"):
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    lrs, regs = S["learning_rates"], S["regs"]
    for ax, (name, (results, _)) in zip(axes, searches.items()):
        grid = np.array([[results[(lr, reg)][1] for reg in regs] for lr in lrs])  # (lrs, regs)
        im = ax.imshow(grid, cmap="viridis", origin="lower", aspect="auto")
        for a in range(len(lrs)):
            for b in range(len(regs)):
                ax.text(b, a, f"{grid[a, b]:.3f}", ha="center", va="center",
                        color="white" if grid[a, b] < (grid.min() + grid.max()) / 2 else "black",
                        fontsize=9)
        ax.set_xticks(range(len(regs)), [f"{r:g}" for r in regs])
        ax.set_yticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
        ax.set_xlabel("regularisation strength")
        ax.set_ylabel("learning rate")
        ax.set_title(f"{name}: validation accuracy")
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    plt.show()

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_train_val_gap_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 3 (3 points)
#
# Compare the training and validation accuracies in the two printed tables of the search: how large
# is the gap between them, and how close to 1 is the training accuracy itself? On the data set you
# ran, what limits the linear classifier more: overfitting the training set, or what a linear model
# can represent at all? Which would help most there: a stronger regulariser, more training images,
# or a more flexible model? Answer in three to five sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_train_val_gap", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** On the digits the training accuracy is close to 1 for the weaker regularisers
# and the validation accuracy lies a few points below it: a linear classifier on 64 pixels separates
# almost all the training digits, and what it loses is generalisation, a mild overfitting. A
# stronger regulariser narrows the gap (the training accuracy drops at the largest strength, in
# several cells the validation accuracy with it), but elsewhere it moves the validation accuracy by
# only a few images; more training images would help more, since the gap of a model that fits its
# training set shrinks as that set grows. On CIFAR-10 the training and validation accuracies are
# close to each other and both far below 1: the classifier cannot even fit the images it is trained
# on, so it underfits. One template per class cannot describe a class whose images vary in pose,
# colour and background, so neither a stronger regulariser (which restricts the model further) nor
# more images of the same kind can raise the accuracy far; a more flexible model, with many
# templates or learned features like the neural networks of the next assignment, is what helps.
#
# **Rubric (3 points).**
# - 1 point: reads the tables right for the data set run (digits: training accuracy near 1,
#   validation a few points lower; CIFAR-10: the two close together and both far below 1).
# - 1 point: the diagnosis: on the digits a small generalisation gap (mild overfitting) that
#   regularisation trades against; on CIFAR-10 underfitting, a linear model with one template per
#   class that cannot fit even its training set.
# - 1 point: the remedy, with its reason: CIFAR-10, a more flexible model (more templates, learned
#   features, a neural network) rather than more regularisation or data; digits, more training
#   images (a stronger regulariser buys little, as the tables show).

# %% [markdown]
# Finally the test set, once, for the best model of each search.

# %%
target = S["targets"]["linear"]
with needs("tune_linear_classifier", "cross_validate_knn"):
    for name, (results, best_model) in searches.items():
        test_acc = np.mean(best_model.predict(X_test_lin) == y_test_lin)
        best_val = max(v for _, v in results.values())
        print(f"{name:9s}: best validation accuracy {best_val:.3f} (target {target}: "
              f"{'reached' if best_val >= target else 'NOT reached'}), test accuracy {test_acc:.3f}")
    print(f"kNN      : test accuracy {knn_test_acc:.3f} with k = {best_k}")

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_knn_vs_linear_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 4 (3 points)
#
# The cell above prints the test accuracy of kNN next to those of the two linear classifiers. Which
# method did better on the data set you ran, and what about these images favours it? Is the
# comparison a fair one (look at how many training images each method used)? Finally, compare what
# each method needs, in memory and in computation, to classify one new image. Answer in four to six
# sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_knn_vs_linear", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** On the digits kNN wins. The digits are centred and scaled to the same box, so
# two images of the same digit put their ink on nearly the same pixels and the nearest training
# image is almost always of the right class; kNN can also follow a class that different writers
# draw in different styles, where a linear classifier has a single template per class and flat
# boundaries between classes. On CIFAR-10 the linear classifiers win: the nearest images in L2
# match the background and the colours rather than the object (written question 1), while a linear
# classifier learns from all its training images which pixels and colours are evidence for each
# class. The comparison is fair on the digits, where both use the same split, but not on CIFAR-10,
# where kNN used 5000 training images (and 500 test images) against 49,000 for the linear
# classifiers, so part of the difference there is data, not method. To classify one image, kNN keeps
# all $N$ training images ($N \times D$ numbers) and computes $N$ distances, $O(ND)$ work; a linear
# classifier keeps only $W$, $(D + 1) \times C$ numbers, and computes one product, $O(DC)$ work,
# whatever the size of the training set.
#
# **Rubric (3 points).**
# - 1 point: names the method that did better on the data run and gives a reason tied to the
#   images (digits: aligned digits lie close to their own class in pixel space, and kNN follows
#   classes drawn in several styles; CIFAR-10: pixel neighbours match background and colour, while
#   a linear classifier learns from all its training images which pixels matter).
# - 1 point: fairness: the same split on the digits; on CIFAR-10 kNN had about a tenth of the
#   linear classifiers' training images, so the gap is partly a matter of data.
# - 1 point: the cost of one prediction: kNN stores all $N$ training images and computes $N$
#   distances, $O(ND)$; a linear classifier stores $(D + 1) \times C$ weights and computes
#   $O(DC)$, independent of $N$.

# %% [markdown]
# ## What did the classifiers learn?
#
# Each column of `W` (without the bias row) has one weight per pixel, so it can be shown as an
# image: the template the classifier matches against an image to score that class. Red means a
# bright pixel there raises the score of the class, blue means it lowers it (on CIFAR-10 the
# templates are shown as colour images instead).

# %%
with needs("tune_linear_classifier"):
    for name, (_, best_model) in searches.items():
        W_img = best_model.W[:-1]  # (D, C): the bias row is not part of the image
        show_templates(W_img, data.image_shape, data.class_names, size=1.2,
                       title=f"{name}: learned templates (columns of W; red > 0, white = 0, blue < 0)")
        plt.show()

# %% [markdown]
# **Check yourself.** Describe the templates. Why does a template resemble its class, and where
# do the negative weights sit? What does that say about the limits of a
# linear classifier?
#
# <details><summary>Answer</summary>
#
# The score of class $j$ is the dot product of the image with template $j$, so training pushes the
# template towards pixels that are bright in images of class $j$ and away from pixels that are
# bright in the images of the classes it gets confused with. On the digits, several templates show
# their digit in red (the ring of the 0, the bottom bar of the 2, the top bar of the 7), with blue
# where competing digits put their ink (the middle of the 0, where an 8 or a 1 has strokes). The
# templates are only partly averages: where two classes share ink, the weights there are useless for
# telling them apart, so the template stresses the pixels that differ. On CIFAR-10 the templates
# are blurry colour averages: a mostly blue "plane" and "ship", a green-brown "frog" and "deer",
# sometimes a horse with a head on each side, because one template has to cover every pose of its
# class. One template per class is the limit: a class that looks different in different images (a
# car seen from the front or from the side) cannot be covered by a single template. Neural
# networks, from the next assignment on, learn many templates and combine them.
#
# </details>

# %% [markdown]
# ## Summary
#
# - **kNN** needs no training but compares every test image with the whole training set: its
#   cost grows with the training set, and vectorising the distance computation (one matrix product
#   instead of two Python loops) makes a speed-up of one to two orders of magnitude. The L2
#   distance between raw pixels is a weak notion of similarity, which caps its accuracy on natural
#   images.
# - **Hyperparameters** (k; the learning rate and the regularisation strength) are chosen on
#   validation data or by cross-validation, never on the test set.
# - A **linear classifier** $f(x) = Wx + b$ is fast at test time: one template per class. The
#   **SVM loss** wants the correct score to win by a margin and then stops caring; the
#   **softmax loss** turns scores into probabilities and always wants more. Both are convex in
#   $W$, and we minimise them with **minibatch SGD**.
# - Always check a loss at initialisation, its gradient against a numeric one, and a loop version
#   against the vectorised one.
#
# ## Further reading
#
# - T. Cover and P. Hart, "Nearest neighbor pattern classification", *IEEE Transactions on
#   Information Theory*, 1967: the error of 1-NN is at most twice the Bayes error in the limit of
#   infinite data.
# - J. Weston and C. Watkins, "Support vector machines for multi-class pattern recognition",
#   ESANN 1999: the multiclass hinge loss used here.
# - K. Crammer and Y. Singer, "On the algorithmic implementation of multiclass kernel-based vector
#   machines", *JMLR*, 2001: a variant that only penalises the largest violating score.
# - J. S. Bridle, "Probabilistic interpretation of feedforward classification network outputs",
#   1990: where the name softmax comes from.
# - L. Bottou, "Large-scale machine learning with stochastic gradient descent", COMPSTAT 2010.
# - A. Krizhevsky, "Learning multiple layers of features from tiny images", technical report,
#   University of Toronto, 2009: the CIFAR-10 data set.
# - E. Alpaydin and C. Kaynak, "Optical recognition of handwritten digits", UCI Machine Learning
#   Repository, 1998: the 8x8 digits.
# - Stanford CS231n course notes, "Image classification" and "Linear classification": the
#   assignment this one is modelled on.
