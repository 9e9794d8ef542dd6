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
# # Assignment 2: neural networks and optimizers
#
# In assignment 1 a classifier was one matrix. Here you build deep networks out of **layers**, each
# with a forward pass that computes its output and a backward pass that turns the gradient of the
# loss with respect to its output into gradients with respect to its input and its parameters.
# Stacked, the layers make networks of any depth, and backpropagation is nothing more than calling
# their backward passes in reverse order. Everything is plain numpy.
#
# 1. **Layers** (lecture 04): affine (fully connected), ReLU, and the SVM and softmax losses.
# 2. **Normalisation and regularisation layers** (lecture 05): batch normalisation, layer
#    normalisation, inverted dropout.
# 3. **Update rules** (lecture 03): SGD, SGD with momentum, Nesterov momentum, AdaGrad, RMSProp and
#    Adam, each checked step by step against `torch.optim`.
# 4. **A two-layer network** trained with the provided `Solver` (training loop, progress bar,
#    history, checkpoint of the best model).
# 5. **A fully connected network of any depth** with optional batch or layer normalisation and
#    dropout: overfit a tiny data set, compare the update rules, and train your best network.
#
# Along the way, four **written questions** ask you to explain in words what a figure or a test
# has just shown you.
#
# The notebook uses CIFAR-10 when it is on your disk (without it, the data cell below says where to
# put it) and the 8x8 handwritten digits that ship with scikit-learn otherwise. On the digits the
# reference solution reaches 97% test accuracy with the two-layer network and 97.5% with a deep
# network with batch normalisation; on CIFAR-10 a fully connected network reaches about 50%, the
# ceiling of networks that ignore the layout of the pixels (convolutional networks, assignment 3, go
# much further).
#
# ## How to work
#
# - Run the cells from the top. Cells below a function you have not written yet stop with a message.
# - Every function has a docstring with the shapes of its inputs and outputs. Write your code where
#   it says `# YOUR CODE HERE` and delete `raise NotImplementedError()`. Do not change the function
#   names or arguments, or the code around your answer.
# - All layers follow one contract: `out, cache = layer_forward(x, ...)` and
#   `dx, dparams... = layer_backward(dout, cache)`, where `dout` is the gradient of the loss with
#   respect to `out`. The forward pass stores in `cache` whatever the backward pass needs.
# - All models follow one contract: `model.loss(X)` returns the scores; `model.loss(X, y)` returns
#   `(loss, grads)`, with `grads[name]` of the same shape as `model.params[name]`.
# - Below each function a **test cell** checks it. A failing test names the function, the case and
#   what was expected against what came back; a passing test prints nothing, or only the figure it
#   measured (a test accuracy).
# - Before you submit: **Kernel > Restart Kernel and Run All Cells**, or **Validate** if your
#   JupyterLab has the nbgrader extension. Hand in this notebook with its name unchanged.
# - **Self-check**, at any time: save the notebook, then run
#   `python -m autograder.selfcheck a2_neural_networks.ipynb` in a terminal, in this notebook's folder or
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
# sandbox. Then the grader calls your code on inputs of its own: the visible cases of every test
# cell and **hidden** ones (random inputs of other shapes compared with the instructor's solution,
# edge cases such as a single sample, huge scores or long runs of an update rule), and compares
# what comes back outside the sandbox. Your layers, update rules and networks are graded in a fresh
# sandbox that runs only their cells (and the given sandwich layers) after `import numpy as np`,
# and that has no scipy, scikit-learn or torch: write them in numpy, as the docstrings ask, without
# names defined in other cells. (The notebook itself may import torch: the given `run_torch`, which
# the visible update-rule tests use, does.) The two training tests (the two-layer network's test
# accuracy, overfitting 50 samples) train your code in that sandbox too, with the notebook's data
# and settings; `best_model` is taken from your notebook as it ran. A test cell earns its points
# when all its cases pass, and the feedback lists every case: passed, or what was wrong. So passing
# the visible test is a good sign, not a guarantee. Most tests call only the functions they are
# about; backward passes (which use your forward pass's cache), the networks and the training tests
# also run the functions they use, and a failure then says when one of those is the cause.
#
# | Part | Functions | Points |
# |---|---|---|
# | Layers | `affine_forward`, `affine_backward`, `relu_forward`, `relu_backward`, `svm_loss`, `softmax_loss` | 22 |
# | Normalisation, dropout | `batchnorm_forward`, `batchnorm_backward`, `layernorm_forward`, `layernorm_backward`, `dropout_forward`, `dropout_backward` | 23 |
# | Update rules | `sgd`, `sgd_momentum`, `nesterov`, `adagrad`, `rmsprop`, `adam` | 18 |
# | Two-layer network | `TwoLayerNet`, training to the target accuracy | 14 |
# | Deep network | `FullyConnectedNet`, overfitting 50 samples, your best network | 23 |
# | Written questions 1-4 | your answers in words, graded by hand | 13 |
#
# Besides the 100 points of the test cells, the four written questions are worth 13 points. Write
# each answer in the cell below its question, marked "YOUR ANSWER HERE" (replace that text), in
# plain sentences (`$...$` math is fine). The instructor reads it as written and grades it by hand
# after the automatic grading, so no code is needed in it; the self-check lists the questions you
# have not answered yet but does not score them.

# %%
# %matplotlib inline
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from dlcv.augment import augment_by_shifts
from dlcv.checks import (
    CheckFailed,
    checking,
    expect_at_least,
    expect_close,
    expect_equal,
    expect_grad_close,
    expect_shape,
    needs,
)
from dlcv.data import load_classification
from dlcv.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array
from dlcv.plots import plot_loss_history, show_class_examples, show_images
from dlcv.solver import Solver
from dlcv.timing import cap_threads

plt.rcParams["figure.figsize"] = (8, 4)
plt.rcParams["figure.dpi"] = 90
np.set_printoptions(precision=4, suppress=True)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine

# %% [markdown]
# ## The data
#
# `load_classification("auto")` returns CIFAR-10 when it is on disk and the digits otherwise. The
# networks take one row per image, so we flatten the images and **standardise** every pixel
# position (lecture 05): subtract its mean over the training set and divide by its standard
# deviation (at least 0.1 of the pixel range, so that the nearly constant border pixels of the
# digits are not blown up into noise). Validation and test data are transformed with the
# *training* statistics.
#
# The digits' training set is small (1257 images), and a network with tens of thousands of
# weights learns it by heart. So on the digits we also **augment** it: four copies of every
# training image shifted by one pixel (left, right, up, down; data augmentation, lecture 05), which
# makes a training set of 6285 images. CIFAR-10 is large enough as it is.
#
# The `Solver` expects the data as a dictionary with the keys `X_train`, `y_train`, `X_val`,
# `y_val`. The settings that depend on the data set (sizes of the networks, learning rates, epochs,
# the accuracy to reach) are collected in `SETTINGS`.

# %%
data = load_classification("auto", num_train=49000, num_val=1000, num_test=1000, num_dev=500)
print(f"Data set used in this notebook: {data.name}")
print(data)
show_class_examples(data.X_train, data.y_train, data.class_names, per_class=6)
plt.show()

SETTINGS = {
    "digits": dict(
        scale=16.0,  # the largest pixel value
        augment=True,
        two_layer=dict(hidden_dim=400, weight_scale=0.1, reg=1e-3, learning_rate=0.1,
                       lr_decay=0.95, num_epochs=40, batch_size=100),
        overfit=dict(weight_scale=0.1, learning_rate=0.1, num_epochs=25, batch_size=25),
        compare_epochs=6,
        best=dict(hidden_dims=[128, 128, 128], weight_scale=0.1, reg=1e-3, learning_rate=3e-3,
                  lr_decay=0.9, num_epochs=20, batch_size=100),
        targets=dict(two_layer=0.97, best=0.975),
    ),
    "cifar10": dict(
        scale=255.0,
        augment=False,
        two_layer=dict(hidden_dim=200, weight_scale=1e-2, reg=1e-3, learning_rate=1e-2,
                       lr_decay=0.95, num_epochs=10, batch_size=200),
        overfit=dict(weight_scale=1e-1, learning_rate=3e-2, num_epochs=25, batch_size=25),
        compare_epochs=1,
        best=dict(hidden_dims=[256, 256, 256], weight_scale=2e-2, reg=1e-3, learning_rate=1e-3,
                  lr_decay=0.9, num_epochs=10, batch_size=200),
        targets=dict(two_layer=0.45, best=0.50),
    ),
}
S = SETTINGS[data.name]


X_train_images, y_train = data.X_train, data.y_train  # (N, H, W[, 3])
if S["augment"]:
    shifts = [(0, 0), (0, 1), (0, -1), (1, 0), (-1, 0)]
    X_train_images, y_train = augment_by_shifts(X_train_images, y_train, shifts, axes=(1, 2))


def flatten(X):
    """(N, ...) images -> (N, D) float64 rows with values in [0, 1], a new array."""
    X = X.reshape(X.shape[0], -1).astype(np.float64)
    X /= S["scale"]  # in place: CIFAR-10's training set is 1.2 GB in float64, once is enough
    return X


def standardise(X):
    """Images -> rows with every pixel position standardised with the training statistics."""
    X = flatten(X)
    X -= mean_image
    X /= std_image
    return X


X_train = flatten(X_train_images)
mean_image = X_train.mean(axis=0)  # (D,)
std_image = np.maximum(X_train.std(axis=0), 0.1)  # (D,)
X_train -= mean_image
X_train /= std_image
data_dict = {
    "X_train": X_train, "y_train": y_train,
    "X_val": standardise(data.X_val), "y_val": data.y_val,
    "X_test": standardise(data.X_test), "y_test": data.y_test,
}
del X_train_images, X_train  # data_dict holds the rows
input_dim = data_dict["X_train"].shape[1]
num_classes = len(data.class_names)
for k, v in data_dict.items():
    print(f"{k:8s} {v.shape}")

# %% [markdown]
# # Part 1: layers
#
# ## The affine layer
#
# An affine (fully connected) layer computes $\text{out} = x W + b$ for a batch of $N$ rows
# $x \in \mathbb{R}^{N \times D}$, with $W \in \mathbb{R}^{D \times M}$ and $b \in \mathbb{R}^M$.
# The input may arrive with more axes, for instance a batch of images `(N, 8, 8)`: reshape each
# sample into a row of $D = d_1 \cdots d_k$ values first.

# %% nbgrader={"grade": false, "grade_id": "affine_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def affine_forward(x, w, b):
    """Forward pass of an affine (fully connected) layer.

    Inputs:
    - x: (N, d_1, ..., d_k) array; sample i is reshaped into a row of D = d_1 * ... * d_k values.
    - w: (D, M) weights.
    - b: (M,) biases.

    Returns a tuple:
    - out: (N, M) array, the rows of x times w, plus b.
    - cache: (x, w, b), kept for the backward pass.
    """
    out = None
    ### BEGIN SOLUTION
    out = x.reshape(x.shape[0], -1) @ w + b  # (N, D) @ (D, M) + (M,) -> (N, M)
    ### END SOLUTION
    cache = (x, w, b)
    return out, cache


# %% nbgrader={"grade": true, "grade_id": "test_affine_forward", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["affine_forward"]}
with checking("affine_forward", case="2 samples of shape (1, 2), M=3"):
    _x = np.array([[[1.0, 2.0]], [[3.0, 4.0]]])  # (2, 1, 2): reshaped to (2, 2)
    _w = np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]])  # (2, 3)
    _b = np.array([0.5, 0.0, -1.0])  # (3,)
    _out, _ = affine_forward(_x, _w, _b)
    expect_shape(_out, (2, 3), "out")
    expect_close(_out, [[1.5, 2.0, 0.0], [3.5, 4.0, 0.0]], "out")

# %% [markdown]
# **The backward pass.** Given `dout` $= \partial L / \partial\,\text{out}$ of shape `(N, M)`, the
# gradients follow from the shapes (lecture 04): `dw` must be `(D, M)`, so it is (rows of x)ᵀ times
# dout; `dx` must have the shape of `x`, so it is dout times wᵀ, reshaped back to `x`'s shape; `db`
# sums dout over the batch.

# %% nbgrader={"grade": false, "grade_id": "affine_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def affine_backward(dout, cache):
    """Backward pass of an affine layer.

    Inputs:
    - dout: (N, M) upstream gradient.
    - cache: (x, w, b) from affine_forward, x of shape (N, d_1, ..., d_k).

    Returns a tuple:
    - dx: (N, d_1, ..., d_k) gradient with respect to x.
    - dw: (D, M) gradient with respect to w.
    - db: (M,) gradient with respect to b.
    """
    x, w, b = cache
    dx, dw, db = None, None, None
    ### BEGIN SOLUTION
    x_rows = x.reshape(x.shape[0], -1)  # (N, D)
    dx = (dout @ w.T).reshape(x.shape)  # (N, M) @ (M, D) -> (N, D) -> x's shape
    dw = x_rows.T @ dout  # (D, N) @ (N, M) -> (D, M)
    db = dout.sum(axis=0)  # (M,)
    ### END SOLUTION
    return dx, dw, db


# %% nbgrader={"grade": true, "grade_id": "test_affine_backward", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["affine_forward", "affine_backward"]}
# Compare with numeric gradients (centred differences) of sum(out * dout).
_rng = np.random.default_rng(0)
_x, _w, _b = _rng.normal(size=(4, 2, 3)), _rng.normal(size=(6, 5)), _rng.normal(size=5)
_dout = _rng.normal(size=(4, 5))
with checking("affine_backward", case="x (4, 2, 3), w (6, 5)", uses=("affine_forward",)):
    _dx, _dw, _db = affine_backward(_dout, affine_forward(_x, _w, _b)[1])
    expect_shape(_dx, _x.shape, "dx")
    expect_grad_close(_dx, eval_numerical_gradient_array(lambda v: affine_forward(v, _w, _b)[0],
                                                         _x.copy(), _dout), "dx", tol=1e-7)
    expect_grad_close(_dw, eval_numerical_gradient_array(lambda v: affine_forward(_x, v, _b)[0],
                                                         _w.copy(), _dout), "dw", tol=1e-7)
    expect_grad_close(_db, eval_numerical_gradient_array(lambda v: affine_forward(_x, _w, v)[0],
                                                         _b.copy(), _dout), "db", tol=1e-7)

# %% [markdown]
# ## ReLU
#
# $\text{ReLU}(x) = \max(0, x)$ elementwise. Its local gradient is 1 where the input was positive
# and 0 elsewhere (take 0 at exactly $x = 0$, as torch does): the gate routes the upstream gradient
# through where it let the value through.

# %% nbgrader={"grade": false, "grade_id": "relu", "locked": false, "schema_version": 3, "solution": true, "task": false}
def relu_forward(x):
    """Forward pass of a layer of rectified linear units.

    Input:
    - x: array of any shape.

    Returns a tuple:
    - out: array of the same shape as x, max(0, x) elementwise.
    - cache: x.
    """
    out = None
    ### BEGIN SOLUTION
    out = np.maximum(0, x)
    ### END SOLUTION
    cache = x
    return out, cache


def relu_backward(dout, cache):
    """Backward pass of a ReLU layer.

    Inputs:
    - dout: upstream gradient, of any shape.
    - cache: the input x of the forward pass, same shape as dout.

    Returns:
    - dx: gradient with respect to x (dout where x > 0, 0 elsewhere).
    """
    x = cache
    dx = None
    ### BEGIN SOLUTION
    dx = dout * (x > 0)
    ### END SOLUTION
    return dx


# %% nbgrader={"grade": true, "grade_id": "test_relu", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["relu"]}
with checking("relu_forward", case="a 2 x 3 input"):
    _x = np.array([[-1.0, 0.0, 2.0], [3.0, -0.5, 0.25]])
    _out, _cache = relu_forward(_x)
    expect_close(_out, [[0.0, 0.0, 2.0], [3.0, 0.0, 0.25]], "out")
with checking("relu_backward", case="a 2 x 3 input, upstream gradient of ones * 2"):
    expect_close(relu_backward(2 * np.ones((2, 3)), _cache), [[0.0, 0.0, 2.0], [2.0, 0.0, 2.0]], "dx")

# %% [markdown]
# Affine followed by ReLU is so common that we give you the pair as one "sandwich" layer; it only
# calls your functions.

# %% nbgrader={"grade": false, "grade_id": "sandwich_layers", "locked": true, "schema_version": 3, "solution": false, "task": false}
def affine_relu_forward(x, w, b):
    """Affine followed by ReLU. Returns out (N, M) and a cache for affine_relu_backward."""
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """Backward pass of affine_relu_forward: returns dx, dw, db."""
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), fc_cache)


# %% [markdown]
# ## Loss layers
#
# A loss layer takes the scores `x` of shape `(N, C)` and the labels `y`, and returns the loss,
# **averaged over the N samples**, and its gradient `dx` with respect to the scores. These are the
# losses of assignment 1 without the weights: the multiclass SVM loss
# $L_i = \sum_{j \ne y_i} \max(0, x_{ij} - x_{i y_i} + 1)$ and the softmax loss
# $L_i = -\log\big(e^{x_{i y_i}} / \sum_j e^{x_{ij}}\big)$. Make the softmax numerically stable by
# subtracting each row's largest score first.

# %% nbgrader={"grade": false, "grade_id": "svm_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def svm_loss(x, y):
    """Multiclass SVM (hinge) loss with margin 1, and its gradient.

    Inputs:
    - x: (N, C) scores; x[i, j] is the score of class j for sample i.
    - y: (N,) int labels, 0 <= y[i] < C.

    Returns a tuple:
    - loss: float, the mean over the N samples of sum_{j != y_i} max(0, x_ij - x_iy_i + 1).
    - dx: (N, C) gradient of the loss with respect to x.
    """
    loss, dx = None, None
    ### BEGIN SOLUTION
    N = x.shape[0]
    correct = x[np.arange(N), y][:, None]  # (N, 1)
    margins = np.maximum(0, x - correct + 1.0)  # (N, C)
    margins[np.arange(N), y] = 0
    loss = margins.sum() / N
    mask = (margins > 0).astype(x.dtype)  # (N, C)
    mask[np.arange(N), y] = -mask.sum(axis=1)
    dx = mask / N
    ### END SOLUTION
    return loss, dx


# %% nbgrader={"grade": true, "grade_id": "test_svm_loss", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["svm_loss"]}
with checking("svm_loss", case="2 samples, 3 classes, worked by hand"):
    # sample 0: correct class 0, margins max(0, 2-3+1)=0 and max(0, 4-3+1)=2
    # sample 1: correct class 2, margins max(0, 1-0+1)=2 and max(0, -1-0+1)=0  -> loss (2+2)/2 = 2
    _loss, _dx = svm_loss(np.array([[3.0, 2.0, 4.0], [1.0, -1.0, 0.0]]), np.array([0, 2]))
    expect_close(_loss, 2.0, "loss")
    expect_close(_dx, [[-0.5, 0.0, 0.5], [0.5, 0.0, -0.5]], "dx")

# %% nbgrader={"grade": false, "grade_id": "softmax_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def softmax_loss(x, y):
    """Softmax (cross-entropy) loss and its gradient, numerically stable.

    Inputs:
    - x: (N, C) scores.
    - y: (N,) int labels, 0 <= y[i] < C.

    Returns a tuple:
    - loss: float, the mean over the N samples of -log(softmax(x_i)[y_i]).
    - dx: (N, C) gradient of the loss with respect to x.
    """
    loss, dx = None, None
    ### BEGIN SOLUTION
    N = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)  # (N, C), every row's largest entry is 0
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, C)
    loss = -log_probs[np.arange(N), y].mean()
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1.0
    dx /= N
    ### END SOLUTION
    return loss, dx


# %% nbgrader={"grade": true, "grade_id": "test_softmax_loss", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["softmax_loss"]}
with checking("softmax_loss", case="equal scores for 10 classes: loss ln(10)"):
    _loss, _dx = softmax_loss(np.zeros((4, 10)), np.array([0, 3, 9, 3]))
    expect_close(_loss, np.log(10.0), "loss")
    expect_shape(_dx, (4, 10), "dx")
with checking("softmax_loss", case="huge scores (1000, 0): must not overflow"):
    _loss, _dx = softmax_loss(np.array([[1000.0, 0.0]]), np.array([1]))
    expect_close(_loss, 1000.0, "loss")
    expect_close(_dx, [[1.0, -1.0]], "dx")

# %% [markdown]
# **Check yourself.** A network with small random weights gives every class about the same score.
# What softmax loss do you expect at initialisation on our data, and what SVM loss?
#
# <details><summary>Answer</summary>
#
# With all scores (nearly) equal, the softmax gives each of the $C$ classes probability $1/C$, so
# the loss is $\ln C$: 2.303 for 10 classes. For the SVM every wrong class contributes a margin
# violation of $\max(0, 0 + 1) = 1$, so the loss is $C - 1 = 9$. A first loss far from these values
# means a bug (or weights that are not small), before a single step of training.
#
# </details>

# %% [markdown]
# # Part 2: normalisation and regularisation layers
#
# ## Batch normalisation
#
# During training, a batch normalisation layer standardises each feature over the batch and then
# lets the network choose the scale and the shift it wants (lecture 05):
#
# $$ \mu_j = \frac{1}{N}\sum_i x_{ij}, \qquad \sigma^2_j = \frac{1}{N}\sum_i (x_{ij} - \mu_j)^2,
#    \qquad \hat x_{ij} = \frac{x_{ij} - \mu_j}{\sqrt{\sigma^2_j + \epsilon}}, \qquad
#    y_{ij} = \gamma_j \hat x_{ij} + \beta_j . $$
#
# At test time the batch may be a single image, so the layer uses running averages of $\mu$ and
# $\sigma^2$ kept during training instead:
# `running_mean = momentum * running_mean + (1 - momentum) * mu`, and the same for `running_var`
# with the (biased, $1/N$) batch variance $\sigma^2$. The layer keeps them in the dictionary
# `bn_param`, which the network passes in at every call, so write the updated values back into it.

# %% nbgrader={"grade": false, "grade_id": "batchnorm_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def batchnorm_forward(x, gamma, beta, bn_param):
    """Forward pass of batch normalisation.

    Inputs:
    - x: (N, D) data.
    - gamma: (D,) scale; beta: (D,) shift.
    - bn_param: dict with the keys
      - mode: "train" or "test" (required);
      - eps: constant for numeric stability (default 1e-5);
      - momentum: constant of the running averages (default 0.9);
      - running_mean, running_var: (D,) arrays; start at zeros (mean) and ones (var) when absent.
      In train mode, store the updated running_mean and running_var back into bn_param.

    Returns a tuple:
    - out: (N, D).
    - cache: what batchnorm_backward needs (None in test mode is fine).
    """
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.ones(D, dtype=x.dtype))
    out, cache = None, None
    if mode == "train":
        ### BEGIN SOLUTION
        mu = x.mean(axis=0)  # (D,)
        var = x.var(axis=0)  # (D,), biased (1/N)
        inv_std = 1.0 / np.sqrt(var + eps)  # (D,)
        x_hat = (x - mu) * inv_std  # (N, D)
        out = gamma * x_hat + beta
        cache = (x_hat, gamma, inv_std)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
        ### END SOLUTION
    elif mode == "test":
        ### BEGIN SOLUTION
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
        ### END SOLUTION
    else:
        raise ValueError(f'batchnorm_forward: bn_param["mode"] must be "train" or "test", got {mode!r}')
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


# %% nbgrader={"grade": true, "grade_id": "test_batchnorm_forward", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["batchnorm_forward"]}
with checking("batchnorm_forward", case="train mode, 4 samples, 2 features, gamma=1, beta=0"):
    _x = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])
    _bn = {"mode": "train"}
    _out, _ = batchnorm_forward(_x, np.ones(2), np.zeros(2), _bn)
    expect_close(_out.mean(axis=0), [0.0, 0.0], "the mean of out over the batch", atol=1e-7)
    expect_close(_out.std(axis=0), [1.0, 1.0], "the std of out over the batch", rtol=1e-4)
    expect_close(_bn["running_mean"], [0.25, 2.5], 'bn_param["running_mean"] after one step')
with checking("batchnorm_forward", case="train mode, gamma=(2, 3), beta=(-1, 5)"):
    _out, _ = batchnorm_forward(_x, np.array([2.0, 3.0]), np.array([-1.0, 5.0]), {"mode": "train"})
    expect_close(_out.mean(axis=0), [-1.0, 5.0], "the mean of out", atol=1e-7)
    expect_close(_out.std(axis=0), [2.0, 3.0], "the std of out", rtol=1e-4)

# %% [markdown]
# **The backward pass.** Write the forward pass as a graph of small steps (mean, centred values,
# variance, inverse standard deviation, product, scale and shift) and backpropagate through each,
# or derive the compact formula: with $\hat x$ the normalised input and $g = \gamma \cdot
# \text{dout}$,
#
# $$ \frac{\partial L}{\partial x_{ij}} = \frac{1}{N \sqrt{\sigma_j^2 + \epsilon}}
#    \Big( N g_{ij} - \sum_k g_{kj} - \hat x_{ij} \sum_k g_{kj} \hat x_{kj} \Big). $$
#
# Either is fine; the compact one is faster. The test compares with numeric gradients.

# %% nbgrader={"grade": false, "grade_id": "batchnorm_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def batchnorm_backward(dout, cache):
    """Backward pass of batch normalisation (train mode).

    Inputs:
    - dout: (N, D) upstream gradient.
    - cache: the cache of batchnorm_forward in train mode.

    Returns a tuple:
    - dx: (N, D); dgamma: (D,); dbeta: (D,).
    """
    dx, dgamma, dbeta = None, None, None
    ### BEGIN SOLUTION
    x_hat, gamma, inv_std = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    g = dout * gamma  # (N, D): gradient with respect to x_hat
    dx = inv_std / N * (N * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    ### END SOLUTION
    return dx, dgamma, dbeta


# %% nbgrader={"grade": true, "grade_id": "test_batchnorm_backward", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["batchnorm_forward", "batchnorm_backward"]}
_rng = np.random.default_rng(1)
_x = 5.0 * _rng.normal(size=(6, 4)) + 2.0
_g, _b, _dout = _rng.normal(size=4), _rng.normal(size=4), _rng.normal(size=(6, 4))
with checking("batchnorm_backward", case="random (6, 4), numeric gradients", uses=("batchnorm_forward",)):
    def _f(x=None, g=None, b=None):
        return batchnorm_forward(_x if x is None else x, _g if g is None else g,
                                 _b if b is None else b, {"mode": "train"})[0]
    _dx, _dg, _db = batchnorm_backward(_dout, batchnorm_forward(_x, _g, _b, {"mode": "train"})[1])
    expect_grad_close(_dx, eval_numerical_gradient_array(lambda v: _f(x=v), _x.copy(), _dout), "dx", 1e-6)
    expect_grad_close(_dg, eval_numerical_gradient_array(lambda v: _f(g=v), _g.copy(), _dout), "dgamma", 1e-6)
    expect_grad_close(_db, eval_numerical_gradient_array(lambda v: _f(b=v), _b.copy(), _dout), "dbeta", 1e-6)

# %% [markdown]
# ## Layer normalisation
#
# Batch normalisation ties the samples of a batch together and needs large batches. Layer
# normalisation (Ba, Kiros and Hinton, 2016) standardises each **sample** over its $D$ features
# instead, with the same learnable $\gamma$ and $\beta$ per feature. It behaves the same way in
# training and at test time, so it needs no running averages. Its backward pass is batch
# normalisation's with the roles of the two axes swapped.

# %% nbgrader={"grade": false, "grade_id": "layernorm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def layernorm_forward(x, gamma, beta, ln_param):
    """Forward pass of layer normalisation.

    Inputs:
    - x: (N, D) data; each row is normalised over its D values.
    - gamma: (D,) scale; beta: (D,) shift.
    - ln_param: dict; ln_param.get("eps", 1e-5) is the constant for numeric stability.

    Returns a tuple:
    - out: (N, D).
    - cache: what layernorm_backward needs.
    """
    eps = ln_param.get("eps", 1e-5)
    out, cache = None, None
    ### BEGIN SOLUTION
    mu = x.mean(axis=1, keepdims=True)  # (N, 1)
    inv_std = 1.0 / np.sqrt(x.var(axis=1, keepdims=True) + eps)  # (N, 1)
    x_hat = (x - mu) * inv_std  # (N, D)
    out = gamma * x_hat + beta
    cache = (x_hat, gamma, inv_std)
    ### END SOLUTION
    return out, cache


def layernorm_backward(dout, cache):
    """Backward pass of layer normalisation.

    Inputs:
    - dout: (N, D) upstream gradient.
    - cache: the cache of layernorm_forward.

    Returns a tuple:
    - dx: (N, D); dgamma: (D,); dbeta: (D,).
    """
    dx, dgamma, dbeta = None, None, None
    ### BEGIN SOLUTION
    x_hat, gamma, inv_std = cache
    D = dout.shape[1]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    g = dout * gamma  # (N, D)
    dx = inv_std / D * (D * g - g.sum(axis=1, keepdims=True)
                        - x_hat * (g * x_hat).sum(axis=1, keepdims=True))
    ### END SOLUTION
    return dx, dgamma, dbeta


# %% nbgrader={"grade": true, "grade_id": "test_layernorm", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["layernorm"]}
_rng = np.random.default_rng(2)
with checking("layernorm_forward", case="3 samples, 4 features, gamma=1, beta=0"):
    _x = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 10.0, 20.0, 20.0], [-5.0, 0.0, 5.0, 0.0]])
    _out, _ = layernorm_forward(_x, np.ones(4), np.zeros(4), {})
    expect_close(_out.mean(axis=1), [0.0, 0.0, 0.0], "the mean of each row of out", atol=1e-7)
    expect_close(_out.std(axis=1), [1.0, 1.0, 1.0], "the std of each row of out", rtol=1e-4)
with checking("layernorm_backward", case="random (4, 5), numeric gradients", uses=("layernorm_forward",)):
    _x, _g, _b = 3.0 * _rng.normal(size=(4, 5)), _rng.normal(size=5), _rng.normal(size=5)
    _dout = _rng.normal(size=(4, 5))
    _dx, _dg, _db = layernorm_backward(_dout, layernorm_forward(_x, _g, _b, {})[1])
    expect_grad_close(_dx, eval_numerical_gradient_array(
        lambda v: layernorm_forward(v, _g, _b, {})[0], _x.copy(), _dout), "dx", 1e-6)
    expect_grad_close(_dg, eval_numerical_gradient_array(
        lambda v: layernorm_forward(_x, v, _b, {})[0], _g.copy(), _dout), "dgamma", 1e-6)
    expect_grad_close(_db, eval_numerical_gradient_array(
        lambda v: layernorm_forward(_x, _g, v, {})[0], _b.copy(), _dout), "dbeta", 1e-6)

# %% [markdown]
# ## Inverted dropout
#
# In training, dropout keeps each unit with probability $p$ and sets it to zero otherwise. The
# **inverted** variant divides the kept units by $p$ during training, so that the expected value of
# every unit is unchanged and the test-time pass is simply the identity (lecture 05).
#
# Draw the mask from a `numpy.random.Generator`: `np.random.default_rng(dropout_param["seed"])`
# when the dictionary has a `"seed"` (the same seed then gives the same mask, which gradient checks
# need), and `np.random.default_rng()` otherwise.

# %% nbgrader={"grade": false, "grade_id": "dropout", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dropout_forward(x, dropout_param):
    """Forward pass of inverted dropout.

    Inputs:
    - x: array of any shape.
    - dropout_param: dict with the keys
      - p: the probability of KEEPING each unit, 0 < p <= 1;
      - mode: "train" (drop and rescale) or "test" (return x unchanged);
      - seed (optional): seed of the generator that draws the mask.

    Returns a tuple:
    - out: array of the same shape as x.
    - cache: (dropout_param, mask); mask is None in test mode.
    """
    p, mode = dropout_param["p"], dropout_param["mode"]
    if not 0 < p <= 1:
        raise ValueError(f'dropout_forward: dropout_param["p"] is the keep probability, in (0, 1]; got {p}')
    mask, out = None, None
    if mode == "train":
        ### BEGIN SOLUTION
        rng = np.random.default_rng(dropout_param["seed"]) if "seed" in dropout_param \
            else np.random.default_rng()
        mask = (rng.random(x.shape) < p) / p  # (same shape as x): 0 or 1/p
        out = x * mask
        ### END SOLUTION
    elif mode == "test":
        ### BEGIN SOLUTION
        out = x
        ### END SOLUTION
    else:
        raise ValueError(f'dropout_forward: dropout_param["mode"] must be "train" or "test", got {mode!r}')
    return out, (dropout_param, mask)


def dropout_backward(dout, cache):
    """Backward pass of inverted dropout.

    Inputs:
    - dout: upstream gradient, same shape as the forward input.
    - cache: (dropout_param, mask) from dropout_forward.

    Returns:
    - dx: gradient with respect to x.
    """
    dropout_param, mask = cache
    dx = None
    if dropout_param["mode"] == "train":
        ### BEGIN SOLUTION
        dx = dout * mask
        ### END SOLUTION
    else:
        dx = dout
    return dx


# %% nbgrader={"grade": true, "grade_id": "test_dropout", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["dropout"]}
_x = np.random.default_rng(3).normal(size=(500, 500)) + 10.0
for _p in (0.25, 0.6):
    with checking("dropout_forward", case=f"train mode, p (keep) = {_p}"):
        _out, _ = dropout_forward(_x, {"mode": "train", "p": _p, "seed": 123})
        expect_shape(_out, _x.shape, "out")
        expect_close(np.mean(_out == 0), 1 - _p, "the fraction of zeros in out", atol=0.01)
        expect_close(_out.mean(), _x.mean(), "the mean of out (inverted dropout keeps it)", rtol=0.01)
with checking("dropout_forward", case="test mode returns x"):
    expect_close(dropout_forward(_x, {"mode": "test", "p": 0.3})[0], _x, "out")

# %% [markdown]
# **Check yourself.** Why divide by $p$ during training rather than multiply by $p$ at test time,
# as the original dropout paper did? Both give the same expected values.
#
# <details><summary>Answer</summary>
#
# Test time is what a deployed model runs millions of times; with inverted dropout the test-time
# network is exactly the network without dropout layers, with no extra multiplication and no risk
# of forgetting the rescaling. It also lets you change $p$ between training runs, or switch dropout
# off, without touching the code used for prediction.
#
# </details>

# %% [markdown]
# # Part 3: update rules
#
# An update rule takes a parameter `w`, its gradient `dw` and a dictionary `config` with the
# hyperparameters and the rule's **state** (velocity, caches, step count), and returns the new
# parameter and the updated config: `next_w, config = rule(w, dw, config)`. The `Solver` calls it
# once per parameter per step and keeps one `config` per parameter. Each rule sets its defaults
# with `config.setdefault(...)`, so `config = None` or `{}` must work.
#
# Lecture 03 derives these rules; here are the formulas to implement, with $g$ = `dw` and
# $\eta$ = `learning_rate`:
#
# | Rule | State | Update |
# |---|---|---|
# | SGD | none | $w \leftarrow w - \eta g$ |
# | Momentum | $v$ (zeros) | $v \leftarrow \mu v - \eta g$; $\; w \leftarrow w + v$ |
# | Nesterov | $v$ (zeros) | $v \leftarrow \mu v - \eta g$; $\; w \leftarrow w + \mu v - \eta g$ |
# | AdaGrad | $c$ (zeros) | $c \leftarrow c + g^2$; $\; w \leftarrow w - \eta g / (\sqrt{c} + \epsilon)$ |
# | RMSProp | $c$ (zeros) | $c \leftarrow \rho c + (1-\rho) g^2$; $\; w \leftarrow w - \eta g / (\sqrt{c} + \epsilon)$ |
# | Adam | $m, v$ (zeros), $t = 0$ | $t \leftarrow t+1$; $\; m \leftarrow \beta_1 m + (1-\beta_1) g$; $\; v \leftarrow \beta_2 v + (1-\beta_2) g^2$; $\; \hat m = m / (1 - \beta_1^t)$; $\; \hat v = v / (1-\beta_2^t)$; $\; w \leftarrow w - \eta \hat m / (\sqrt{\hat v} + \epsilon)$ |
#
# The Nesterov line is the "look-ahead" rule rewritten so that it needs the gradient at the current
# parameters only: the step takes the new velocity once more ($\mu v$) plus the plain gradient step.
# All six are exactly what `torch.optim` computes (`SGD`, `SGD(momentum=...)`,
# `SGD(momentum=..., nesterov=True)`, `Adagrad`, `RMSprop`, `Adam`), and the tests compare your
# trajectories with torch's on the same function. The helpers below run a rule for a few steps on a
# small test function, once with your code and once with `torch.optim`.

# %% nbgrader={"grade": false, "grade_id": "optim_helpers", "locked": true, "schema_version": 3, "solution": false, "task": false}
def test_function_grad(w):
    """Gradient of f(w) = sum(0.5 * a * w**2 + 0.1 * w**4), an uneven bowl (a from 1 to 20)."""
    a = np.linspace(1.0, 20.0, w.size).reshape(w.shape)
    return a * w + 0.4 * w**3


def run_rule(rule, config, w0, steps):
    """Apply your update rule `steps` times on test_function_grad: the (steps + 1, ...) path."""
    w, path = np.array(w0, dtype=np.float64), [np.array(w0, dtype=np.float64)]
    config = dict(config)
    for _ in range(steps):
        w, config = rule(w, test_function_grad(w), config)
        path.append(np.array(w, copy=True))
    return np.array(path)


def run_torch(optimizer, kwargs, w0, steps):
    """The same with torch.optim.<optimizer>(**kwargs): the (steps + 1, ...) path."""
    import torch

    w = torch.tensor(np.array(w0, dtype=np.float64), requires_grad=True)
    opt = getattr(torch.optim, optimizer)([w], **kwargs)
    a = torch.linspace(1.0, 20.0, w.numel(), dtype=torch.float64).reshape(w.shape)
    path = [w.detach().numpy().copy()]
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * a * w**2 + 0.1 * w**4).sum().backward()
        opt.step()
        path.append(w.detach().numpy().copy())
    return np.array(path)


W0 = np.array([[1.0, -0.5, 0.3], [0.8, -1.2, 0.05]])  # a (2, 3) "parameter"

# %% nbgrader={"grade": false, "grade_id": "sgd", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent.

    config keys:
    - learning_rate: float (default 1e-2).

    Returns next_w (same shape as w) and config.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    next_w = None
    ### BEGIN SOLUTION
    next_w = w - config["learning_rate"] * dw
    ### END SOLUTION
    return next_w, config


# %% nbgrader={"grade": true, "grade_id": "test_sgd", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["sgd"]}
with checking("sgd", case="5 steps, learning_rate 0.02, against torch.optim.SGD"):
    expect_close(run_rule(sgd, {"learning_rate": 0.02}, W0, 5),
                 run_torch("SGD", {"lr": 0.02}, W0, 5), "the path of w")

# %% nbgrader={"grade": false, "grade_id": "sgd_momentum", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sgd_momentum(w, dw, config=None):
    """SGD with momentum.

    config keys:
    - learning_rate: float (default 1e-2).
    - momentum: float in [0, 1) (default 0.9); 0 gives plain SGD.
    - velocity: array of w's shape (default zeros), the running velocity v.

    Returns next_w and config (with the new velocity stored in config["velocity"]).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))
    next_w = None
    ### BEGIN SOLUTION
    v = config["momentum"] * v - config["learning_rate"] * dw
    next_w = w + v
    ### END SOLUTION
    config["velocity"] = v
    return next_w, config


# %% nbgrader={"grade": true, "grade_id": "test_sgd_momentum", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["sgd_momentum"]}
with checking("sgd_momentum", case="5 steps, learning_rate 0.02, momentum 0.9, against torch.optim.SGD"):
    expect_close(run_rule(sgd_momentum, {"learning_rate": 0.02, "momentum": 0.9}, W0, 5),
                 run_torch("SGD", {"lr": 0.02, "momentum": 0.9}, W0, 5), "the path of w")

# %% nbgrader={"grade": false, "grade_id": "nesterov", "locked": false, "schema_version": 3, "solution": true, "task": false}
def nesterov(w, dw, config=None):
    """SGD with Nesterov momentum, in the form that uses the gradient at the current w.

    config keys: learning_rate (default 1e-2), momentum (default 0.9), velocity (default zeros).

    Returns next_w and config (new velocity in config["velocity"]).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))
    next_w = None
    ### BEGIN SOLUTION
    mu, lr = config["momentum"], config["learning_rate"]
    v = mu * v - lr * dw
    next_w = w + mu * v - lr * dw
    ### END SOLUTION
    config["velocity"] = v
    return next_w, config


# %% nbgrader={"grade": true, "grade_id": "test_nesterov", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["nesterov"]}
with checking("nesterov", case="5 steps, learning_rate 0.02, momentum 0.9, against torch.optim.SGD(nesterov=True)"):
    expect_close(run_rule(nesterov, {"learning_rate": 0.02, "momentum": 0.9}, W0, 5),
                 run_torch("SGD", {"lr": 0.02, "momentum": 0.9, "nesterov": True}, W0, 5), "the path of w")

# %% nbgrader={"grade": false, "grade_id": "adagrad", "locked": false, "schema_version": 3, "solution": true, "task": false}
def adagrad(w, dw, config=None):
    """AdaGrad: per-parameter steps scaled by the root of the sum of all squared gradients so far.

    config keys:
    - learning_rate: float (default 1e-2).
    - epsilon: float (default 1e-10), avoids division by zero.
    - cache: array of w's shape (default zeros), the sum of squared gradients.

    Returns next_w and config (new cache in config["cache"]).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-10)
    cache = config.get("cache", np.zeros_like(w))
    next_w = None
    ### BEGIN SOLUTION
    cache = cache + dw**2
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    ### END SOLUTION
    config["cache"] = cache
    return next_w, config


# %% nbgrader={"grade": true, "grade_id": "test_adagrad", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["adagrad"]}
with checking("adagrad", case="5 steps, learning_rate 0.1, against torch.optim.Adagrad"):
    expect_close(run_rule(adagrad, {"learning_rate": 0.1}, W0, 5),
                 run_torch("Adagrad", {"lr": 0.1}, W0, 5), "the path of w")

# %% nbgrader={"grade": false, "grade_id": "rmsprop", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rmsprop(w, dw, config=None):
    """RMSProp: steps scaled by a leaky average of squared gradients.

    config keys:
    - learning_rate: float (default 1e-2).
    - decay_rate: float in [0, 1) (default 0.99), the leak rho of the average.
    - epsilon: float (default 1e-8).
    - cache: array of w's shape (default zeros), the running average of squared gradients.

    Returns next_w and config (new cache in config["cache"]).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    cache = config.get("cache", np.zeros_like(w))
    next_w = None
    ### BEGIN SOLUTION
    rho = config["decay_rate"]
    cache = rho * cache + (1 - rho) * dw**2
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    ### END SOLUTION
    config["cache"] = cache
    return next_w, config


# %% nbgrader={"grade": true, "grade_id": "test_rmsprop", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["rmsprop"]}
with checking("rmsprop", case="5 steps, learning_rate 0.01, decay_rate 0.99, against torch.optim.RMSprop"):
    expect_close(run_rule(rmsprop, {"learning_rate": 0.01, "decay_rate": 0.99}, W0, 5),
                 run_torch("RMSprop", {"lr": 0.01, "alpha": 0.99}, W0, 5), "the path of w")

# %% nbgrader={"grade": false, "grade_id": "adam", "locked": false, "schema_version": 3, "solution": true, "task": false}
def adam(w, dw, config=None):
    """Adam: momentum on the gradient, RMSProp-style scaling, and bias correction.

    config keys:
    - learning_rate: float (default 1e-3).
    - beta1: float (default 0.9), decay of the first moment m.
    - beta2: float (default 0.999), decay of the second moment v.
    - epsilon: float (default 1e-8).
    - m, v: arrays of w's shape (default zeros); t: int, the number of steps taken (default 0).

    Returns next_w and config (with m, v and t updated; t counts this step: it is 1 after the first).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    m = config.get("m", np.zeros_like(w))
    v = config.get("v", np.zeros_like(w))
    t = config.get("t", 0)
    next_w = None
    ### BEGIN SOLUTION
    b1, b2 = config["beta1"], config["beta2"]
    t = t + 1
    m = b1 * m + (1 - b1) * dw
    v = b2 * v + (1 - b2) * dw**2
    m_hat = m / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    ### END SOLUTION
    config["m"], config["v"], config["t"] = m, v, t
    return next_w, config


# %% nbgrader={"grade": true, "grade_id": "test_adam", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["adam"]}
with checking("adam", case="5 steps, learning_rate 0.01, against torch.optim.Adam"):
    expect_close(run_rule(adam, {"learning_rate": 0.01}, W0, 5),
                 run_torch("Adam", {"lr": 0.01}, W0, 5), "the path of w")
with checking("adam", case="the first step has size learning_rate (bias correction)"):
    _next, _cfg = adam(np.zeros(3), np.array([1e-4, -3.0, 50.0]), {"learning_rate": 0.1})
    expect_close(_next, [-0.1, 0.1, -0.1], "next_w", rtol=1e-3)
    expect_equal(_cfg["t"], 1, 'config["t"] after one step')

# %% [markdown]
# To see how the six rules move, open lecture 03's optimizer widget: it draws their trajectories
# side by side on two-dimensional surfaces (a narrow valley, the Rosenbrock banana, a saddle), and
# you can set the same hyperparameters as in these configs. Part 5 compares your rules on a real
# network.

# %% [markdown]
# # Part 4: a two-layer network
#
# The network is affine - ReLU - affine - softmax:
# $\text{scores} = \max(0, X W_1 + b_1) W_2 + b_2$, trained on the softmax loss plus the L2 penalty
# $\tfrac{1}{2}\lambda (\lVert W_1 \rVert^2 + \lVert W_2 \rVert^2)$ (the $\tfrac12$ makes its gradient
# $\lambda W$). The class keeps its parameters in the dictionary `self.params`; `loss` runs the
# forward pass, and with labels also the backward pass, using the layers you wrote (and the
# `affine_relu` sandwich).

# %% nbgrader={"grade": false, "grade_id": "two_layer_net", "locked": false, "schema_version": 3, "solution": true, "task": false}
class TwoLayerNet:
    """affine - relu - affine - softmax, with L2 regularisation of the weights.

    Parameters (in self.params):
    - W1: (D, H), b1: (H,), W2: (H, C), b2: (C,).
    """

    def __init__(self, input_dim=64, hidden_dim=100, num_classes=10, weight_scale=1e-3, reg=0.0,
                 seed=None):
        """
        Inputs:
        - input_dim: D, the size of an input row.
        - hidden_dim: H, the number of hidden units.
        - num_classes: C.
        - weight_scale: standard deviation of the normal distribution the weights are drawn from
          (mean 0). Biases start at zero.
        - reg: lambda, the strength of the L2 regularisation.
        - seed: seed of np.random.default_rng, the generator of the initial weights.
        """
        self.params = {}
        self.reg = reg
        rng = np.random.default_rng(seed)
        ### BEGIN SOLUTION
        self.params["W1"] = weight_scale * rng.standard_normal((input_dim, hidden_dim))
        self.params["b1"] = np.zeros(hidden_dim)
        self.params["W2"] = weight_scale * rng.standard_normal((hidden_dim, num_classes))
        self.params["b2"] = np.zeros(num_classes)
        ### END SOLUTION

    def loss(self, X, y=None):
        """Scores, or the loss and its gradients.

        Inputs:
        - X: (N, D) data.
        - y: (N,) int labels, or None.

        Returns:
        - if y is None: scores, an (N, C) array.
        - otherwise a tuple (loss, grads): loss a float (data loss + regularisation), grads a
          dict with the same keys as self.params and arrays of the same shapes.
        """
        scores = None
        ### BEGIN SOLUTION
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        hidden, cache1 = affine_relu_forward(X, W1, b1)  # (N, H)
        scores, cache2 = affine_forward(hidden, W2, b2)  # (N, C)
        ### END SOLUTION
        if y is None:
            return scores
        loss, grads = 0.0, {}
        ### BEGIN SOLUTION
        loss, dscores = softmax_loss(scores, y)
        loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        dhidden, grads["W2"], grads["b2"] = affine_backward(dscores, cache2)
        _, grads["W1"], grads["b1"] = affine_relu_backward(dhidden, cache1)
        grads["W1"] += self.reg * W1
        grads["W2"] += self.reg * W2
        ### END SOLUTION
        return loss, grads


# %% nbgrader={"grade": true, "grade_id": "test_two_layer_net", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["affine_forward", "affine_backward", "relu", "softmax_loss", "two_layer_net"]}
with checking("TwoLayerNet", case="input_dim 5, hidden_dim 4, 3 classes: parameters"):
    _net = TwoLayerNet(input_dim=5, hidden_dim=4, num_classes=3, weight_scale=1e-2, seed=0)
    for _k, _s in (("W1", (5, 4)), ("b1", (4,)), ("W2", (4, 3)), ("b2", (3,))):
        if _k not in _net.params:
            raise CheckFailed(f'self.params has no "{_k}" (it has {sorted(_net.params)})')
        expect_shape(_net.params[_k], _s, f'params["{_k}"]')
    expect_close(_net.params["b1"], np.zeros(4), 'params["b1"] at initialisation')
    expect_close(np.std(TwoLayerNet(500, 400, 3, weight_scale=0.5, seed=1).params["W1"]), 0.5,
                 'the std of params["W1"] with weight_scale=0.5', rtol=0.02)
with checking("TwoLayerNet.loss", case="small weights: loss about ln(3), scores of shape (6, 3)",
              uses=("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss")):
    _X, _y = np.random.default_rng(0).normal(size=(6, 5)), np.array([0, 1, 2, 0, 1, 2])
    expect_shape(_net.loss(_X), (6, 3), "scores")
    _loss, _grads = _net.loss(_X, _y)
    expect_close(_loss, np.log(3.0), "loss", rtol=1e-2)

# %% nbgrader={"grade": true, "grade_id": "test_two_layer_net_grad", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["affine_forward", "affine_backward", "relu", "softmax_loss", "two_layer_net"]}
_rng = np.random.default_rng(4)
_X, _y = _rng.normal(size=(3, 5)), np.array([0, 2, 1])
for _reg in (0.0, 0.7):
    with checking("TwoLayerNet.loss", case=f"numeric gradients, reg={_reg}",
                  uses=("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss")):
        _net = TwoLayerNet(input_dim=5, hidden_dim=6, num_classes=3, weight_scale=0.5, reg=_reg, seed=5)
        _loss, _grads = _net.loss(_X, _y)
        for _k in sorted(_net.params):
            if _k not in _grads:
                raise CheckFailed(f'grads has no "{_k}"')
            _num = eval_numerical_gradient(lambda _v: _net.loss(_X, _y)[0], _net.params[_k])  # noqa: B023 - called at once
            expect_grad_close(_grads[_k], _num, f'grads["{_k}"]', tol=1e-6)

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_gradient_check_kink_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 1 (3 points)
#
# The gradient checks in the test cell above compare the gradients of your `TwoLayerNet` with
# centred differences $(L(w + h) - L(w - h)) / 2h$, $h = 10^{-5}$, and a correct network passes
# them, although its ReLU has no derivative at 0. Work out by hand what the centred difference gives for
# $\max(0, x)$ at $x = 0$ and at $x = h/2$, and compare with what your `relu_backward` returns
# there. Then explain why such mismatches do not show up in the checks above, and describe a
# situation in which the check of a correct network would report a large error. Answer in three to
# five sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_gradient_check_kink", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** At $x = 0$ the centred difference is $(h - 0)/2h = 1/2$, where `relu_backward`
# returns 0; at $x = h/2$ it is $(3h/2 - 0)/2h = 3/4$, where the slope is 1. Whenever $|x| < h$ the
# points $x - h$ and $x + h$ lie on both sides of the kink and the numeric slope $(x + h)/2h$ is a
# blend of the one-sided slopes 0 and 1: the mismatch comes from the kink, not from a bug. In the
# checks above the pre-activations $x W_1 + b_1$ are sums of random numbers of order 1 (3 samples
# times 6 hidden units), so the chance that one of them lies within about $h$ of zero is of the
# order of $10^{-5}$ each, and no perturbation crosses a kink. A correct network fails the check
# when pre-activations sit at or very near zero: an all-zero input row with zero biases makes that
# row's pre-activations exactly 0 (the check of `b1` then fails), and tiny weights or inputs, or
# very many samples and units, make crossings likely. Checking on a few samples, or checking
# whether a kink was crossed between $w - h$ and $w + h$, tells a kink from a bug (lecture 03).
#
# **Rubric (3 points).**
# - 1 point: the values by hand, 1/2 at $x = 0$ and 3/4 at $x = h/2$ against 0 and 1 from
#   `relu_backward`, and why: for $|x| < h$ the two evaluation points straddle the kink, so the
#   numeric slope mixes 0 and 1 (a kink, not a bug).
# - 1 point: why the checks pass: the pre-activations are random values of order 1, far from zero
#   compared with $h$, so no perturbation crosses a kink.
# - 1 point: a concrete case where a correct network fails, with its reason: pre-activations
#   exactly or nearly zero (zero inputs with zero biases, tiny weights or inputs) or very many
#   samples and units.

# %% [markdown]
# ## Training with the Solver
#
# `dlcv.solver.Solver` is the training loop, given to you (it is short: run `Solver??` in a cell to
# read its code).
# Each iteration it draws a minibatch, calls `model.loss(X_batch, y_batch)`, and hands every
# parameter and its gradient to the update rule. After each epoch it multiplies the learning rate
# by `lr_decay`, measures the training and validation accuracy, and keeps a copy of the parameters
# of the best epoch so far (with `checkpoint_name` it also saves them to a file). When training
# ends the model holds its best parameters. A progress bar shows how far it is.

# %%
T = S["two_layer"]
with needs("TwoLayerNet", "sgd_momentum"):
    model = TwoLayerNet(input_dim, T["hidden_dim"], num_classes, weight_scale=T["weight_scale"],
                        reg=T["reg"], seed=0)
    checkpoint_dir = Path(tempfile.mkdtemp(prefix="a2_checkpoints_"))
    solver = Solver(model, data_dict, update_rule=sgd_momentum,
                    optim_config={"learning_rate": T["learning_rate"], "momentum": 0.9},
                    lr_decay=T["lr_decay"], num_epochs=T["num_epochs"], batch_size=T["batch_size"],
                    checkpoint_name=str(checkpoint_dir / "two_layer"), verbose=False, seed=0)
    solver.train()
    print(f"best validation accuracy {solver.best_val_acc:.3f} at epoch {solver.best_epoch}")
    print("checkpoint:", sorted(p.name for p in checkpoint_dir.iterdir()))

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    plot_loss_history(axes[0], solver.loss_history, title="training loss (minibatches)", smooth=20)
    axes[1].plot(np.arange(1, len(solver.train_acc_history) + 1), solver.train_acc_history, "o-",
                 label="train")
    axes[1].plot(np.arange(1, len(solver.val_acc_history) + 1), solver.val_acc_history, "o-", label="val")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("accuracy")
    axes[1].set_title("classification accuracy")
    axes[1].legend()
    plt.show()

# %% [markdown]
# The first-layer weights are templates again, as in assignment 1, but now there are `H` of them
# and the second layer combines them. Each column of `W1` has one weight per pixel.

# %%
with needs("TwoLayerNet"):
    _W1 = model.params["W1"]  # (D, H)
    _shape = data.X_train.shape[1:]
    show_images(_W1.T[:32].reshape((-1,) + _shape), ncols=16, size=0.8,
                suptitle="32 columns of W1, reshaped as images")
    plt.show()

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_first_layer_weights_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 2 (3 points)
#
# Compare the 32 columns of `W1` in the figure above with the class templates that the linear
# classifier learned in assignment 1. Describe what the columns look like, and give two reasons why
# they are much harder to read than those templates, although this network classifies better.
# Answer in three to five sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_first_layer_weights", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** The columns look mostly like noise, with some structure on top: on the digits
# speckled patches in which a few bright or dark strokes and blobs stand out, on CIFAR-10 coloured
# pixel noise over a smooth colour blob or a light-dark gradient; hardly any looks like a digit or
# an object. First, a hidden unit is not a class: the second layer adds each unit's output, with
# positive and negative weights, into the scores of several classes, so the units are features that
# the classes share (a stroke, a contrast, a colour) and the classifying is done by their
# combination; no single column has to look like a class. Second, each column still carries much
# of its random initial weights: training changes a column only in the directions that lower the
# loss, and nothing in the loss asks for the rest of the initial noise to go except the weak L2
# penalty, which shrinks it slowly. On CIFAR-10 the gradient $X^\top \delta$ is a weighted sum of
# training images, which vary most in smooth, large-scale patterns, so the part that training adds
# is smooth and the fine-grained noise is the initialisation's.
#
# **Rubric (3 points).**
# - 1 point: a correct description of the picture: mostly noise with some strokes, blobs or colour
#   patches, not shaped like the classes.
# - 1 point: hidden units are not classes: the second layer mixes each unit into several classes
#   with positive and negative weights, so the units are shared features and the combination does
#   the classifying.
# - 1 point: leftover random initialisation: training changes each column only in the directions
#   that lower the loss, and only the weak L2 penalty pulls the rest of the initial noise out.

# %% nbgrader={"grade": true, "grade_id": "test_two_layer_accuracy", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["affine_forward", "affine_backward", "relu", "softmax_loss", "two_layer_net", "sgd_momentum"]}
# Your TwoLayerNet trained with sgd_momentum at the settings above, from initial weights that the test draws
# itself (so that every correct solution trains the same way), on the test set.
with checking("TwoLayerNet trained with sgd_momentum", case=f"{data.name}, settings {S['two_layer']}",
              uses=("TwoLayerNet.loss", "sgd_momentum", "affine_forward", "affine_backward", "relu_forward",
                    "relu_backward", "softmax_loss")):
    _T = S["two_layer"]
    _net = TwoLayerNet(input_dim, _T["hidden_dim"], num_classes, weight_scale=_T["weight_scale"],
                       reg=_T["reg"], seed=0)
    _rng = np.random.default_rng(2024)
    for _k in ("W1", "W2"):
        _net.params[_k] = _T["weight_scale"] * _rng.standard_normal(_net.params[_k].shape)
    _solver = Solver(_net, data_dict, update_rule=sgd_momentum,
                     optim_config={"learning_rate": _T["learning_rate"], "momentum": 0.9},
                     lr_decay=_T["lr_decay"], num_epochs=_T["num_epochs"], batch_size=_T["batch_size"],
                     verbose=False, progress=False, seed=1)
    _solver.train()
    _acc = float(np.mean(np.argmax(_net.loss(data_dict["X_test"]), axis=1) == data_dict["y_test"]))
    print(f"test accuracy of the two-layer network: {_acc:.4f}")
    expect_at_least(_acc, S["targets"]["two_layer"], "test accuracy")

# %% [markdown]
# # Part 5: a fully connected network of any depth
#
# `FullyConnectedNet` generalises the two-layer network to $L$ layers:
#
# `{affine - [batch/layer norm] - relu - [dropout]} x (L - 1) - affine - softmax`
#
# with `hidden_dims` the sizes of the $L - 1$ hidden layers. Name the parameters `W1, b1, ..., WL, bL`
# (layer $i$ maps to layer $i+1$); with normalisation, the hidden layer $i$ also has `gamma{i}`
# (start at ones) and `beta{i}` (start at zeros). The last layer has neither normalisation nor ReLU
# nor dropout. The regularisation is $\tfrac12 \lambda \sum_i \lVert W_i \rVert^2$ (weights only).
#
# The network passes a dictionary to each normalisation and dropout layer: `self.bn_params[i]`
# (batch norm keeps its running averages there) and `self.dropout_param`. In `loss`, set their
# `"mode"` to `"train"` when labels are given and to `"test"` when they are not.

# %% nbgrader={"grade": false, "grade_id": "fc_net", "locked": false, "schema_version": 3, "solution": true, "task": false}
class FullyConnectedNet:
    """A fully connected network with ReLU, optional batch/layer norm and dropout, softmax loss."""

    def __init__(self, hidden_dims, input_dim=64, num_classes=10, dropout_keep_ratio=1.0,
                 normalization=None, reg=0.0, weight_scale=1e-2, dtype=np.float64, seed=None):
        """
        Inputs:
        - hidden_dims: list of the sizes of the hidden layers, e.g. [100, 100] (L = 3 layers).
        - input_dim: D; num_classes: C.
        - dropout_keep_ratio: keep probability p of dropout; 1 means no dropout layers.
        - normalization: None, "batchnorm" or "layernorm".
        - reg: lambda of the L2 regularisation.
        - weight_scale: std of the initial weights (normal, mean 0); biases start at 0.
        - dtype: numpy dtype of all parameters (float64 for gradient checks).
        - seed: seeds np.random.default_rng for the initial weights, and (if given) is stored as
          dropout_param["seed"] so that dropout masks are repeatable (for gradient checks).
        """
        if normalization not in (None, "batchnorm", "layernorm"):
            raise ValueError(f'normalization must be None, "batchnorm" or "layernorm", got {normalization!r}')
        self.normalization = normalization
        self.use_dropout = dropout_keep_ratio != 1
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = dtype
        self.params = {}
        rng = np.random.default_rng(seed)
        ### BEGIN SOLUTION
        dims = [input_dim] + list(hidden_dims) + [num_classes]
        for i in range(1, self.num_layers + 1):
            self.params[f"W{i}"] = weight_scale * rng.standard_normal((dims[i - 1], dims[i]))
            self.params[f"b{i}"] = np.zeros(dims[i])
            if normalization is not None and i < self.num_layers:
                self.params[f"gamma{i}"] = np.ones(dims[i])
                self.params[f"beta{i}"] = np.zeros(dims[i])
        ### END SOLUTION

        # The dictionaries handed to the dropout and normalisation layers.
        self.dropout_param = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": dropout_keep_ratio}
            if seed is not None:
                self.dropout_param["seed"] = seed
        self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)] \
            if normalization is not None else []
        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)

    def loss(self, X, y=None):
        """Scores (N, C) if y is None, else (loss, grads), as TwoLayerNet.loss.

        Inputs:
        - X: (N, D) data (or (N, d_1, ..., d_k), reshaped by the first affine layer).
        - y: (N,) int labels, or None.
        """
        X = X.astype(self.dtype)
        mode = "test" if y is None else "train"
        if self.use_dropout:
            self.dropout_param["mode"] = mode
        for bn_param in self.bn_params:
            bn_param["mode"] = mode
        scores = None
        ### BEGIN SOLUTION
        L = self.num_layers
        caches = []
        h = X
        for i in range(1, L):
            h, fc_cache = affine_forward(h, self.params[f"W{i}"], self.params[f"b{i}"])
            norm_cache = None
            if self.normalization == "batchnorm":
                h, norm_cache = batchnorm_forward(h, self.params[f"gamma{i}"], self.params[f"beta{i}"],
                                                  self.bn_params[i - 1])
            elif self.normalization == "layernorm":
                h, norm_cache = layernorm_forward(h, self.params[f"gamma{i}"], self.params[f"beta{i}"],
                                                  self.bn_params[i - 1])
            h, relu_cache = relu_forward(h)
            drop_cache = None
            if self.use_dropout:
                h, drop_cache = dropout_forward(h, self.dropout_param)
            caches.append((fc_cache, norm_cache, relu_cache, drop_cache))
        scores, last_cache = affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])
        ### END SOLUTION
        if mode == "test":
            return scores
        loss, grads = 0.0, {}
        ### BEGIN SOLUTION
        loss, dscores = softmax_loss(scores, y)
        loss += 0.5 * self.reg * sum(np.sum(self.params[f"W{i}"] ** 2) for i in range(1, L + 1))
        dh, grads[f"W{L}"], grads[f"b{L}"] = affine_backward(dscores, last_cache)
        for i in range(L - 1, 0, -1):
            fc_cache, norm_cache, relu_cache, drop_cache = caches[i - 1]
            if self.use_dropout:
                dh = dropout_backward(dh, drop_cache)
            dh = relu_backward(dh, relu_cache)
            if self.normalization == "batchnorm":
                dh, grads[f"gamma{i}"], grads[f"beta{i}"] = batchnorm_backward(dh, norm_cache)
            elif self.normalization == "layernorm":
                dh, grads[f"gamma{i}"], grads[f"beta{i}"] = layernorm_backward(dh, norm_cache)
            dh, grads[f"W{i}"], grads[f"b{i}"] = affine_backward(dh, fc_cache)
        for i in range(1, L + 1):
            grads[f"W{i}"] += self.reg * self.params[f"W{i}"]
        ### END SOLUTION
        return loss, grads


# %% nbgrader={"grade": true, "grade_id": "test_fc_net", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["affine_forward", "affine_backward", "relu", "softmax_loss", "fc_net"]}
_rng = np.random.default_rng(5)
_N, _D, _C = 2, 15, 10
_X, _y = _rng.normal(size=(_N, _D)), _rng.integers(0, _C, _N)
with checking("FullyConnectedNet", case="hidden_dims [20, 30]: parameter names and shapes"):
    _net = FullyConnectedNet([20, 30], input_dim=_D, num_classes=_C, weight_scale=5e-2, seed=0)
    _expected = {"W1": (15, 20), "b1": (20,), "W2": (20, 30), "b2": (30,), "W3": (30, 10), "b3": (10,)}
    if set(_net.params) != set(_expected):
        raise CheckFailed(f"params should have the keys {sorted(_expected)}, got {sorted(_net.params)}")
    for _k, _s in _expected.items():
        expect_shape(_net.params[_k], _s, f'params["{_k}"]')
for _reg in (0.0, 3.14):
    with checking("FullyConnectedNet.loss", case=f"hidden_dims [20, 30], reg={_reg}: numeric gradients",
                  uses=("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss")):
        _net = FullyConnectedNet([20, 30], input_dim=_D, num_classes=_C, reg=_reg, weight_scale=5e-2, seed=0)
        _loss, _grads = _net.loss(_X, _y)
        for _k in sorted(_net.params):
            _num = eval_numerical_gradient(lambda _v: _net.loss(_X, _y)[0], _net.params[_k])  # noqa: B023 - called at once
            expect_grad_close(_grads[_k], _num, f'grads["{_k}"]', tol=1e-5)

# %% nbgrader={"grade": true, "grade_id": "test_fc_net_norm", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["affine_forward", "affine_backward", "relu", "softmax_loss", "batchnorm_forward", "batchnorm_backward", "layernorm", "fc_net"]}
_rng = np.random.default_rng(6)
_N, _D, _C = 4, 8, 5
_X, _y = _rng.normal(size=(_N, _D)), _rng.integers(0, _C, _N)
for _norm in ("batchnorm", "layernorm"):
    with checking("FullyConnectedNet.loss", case=f"normalization={_norm!r}, hidden_dims [9, 7]: numeric gradients",
                  uses=("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss",
                        f"{_norm}_forward", f"{_norm}_backward")):
        _net = FullyConnectedNet([9, 7], input_dim=_D, num_classes=_C, normalization=_norm, reg=0.1,
                                 weight_scale=0.3, seed=0)
        for _k in ("gamma1", "beta1", "gamma2", "beta2"):
            if _k not in _net.params:
                raise CheckFailed(f'with normalization, params should have "{_k}" (it has {sorted(_net.params)})')
        _loss, _grads = _net.loss(_X, _y)
        for _k in sorted(_net.params):
            _num = eval_numerical_gradient(lambda _v: _net.loss(_X, _y)[0], _net.params[_k])  # noqa: B023 - called at once
            expect_grad_close(_grads[_k], _num, f'grads["{_k}"]', tol=1e-4)

# %% nbgrader={"grade": true, "grade_id": "test_fc_net_dropout", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["affine_forward", "affine_backward", "relu", "softmax_loss", "dropout", "fc_net"]}
_rng = np.random.default_rng(7)
_N, _D, _C = 3, 10, 4
_X, _y = _rng.normal(size=(_N, _D)), _rng.integers(0, _C, _N)
with checking("FullyConnectedNet.loss", case="dropout_keep_ratio 0.5, seed 123: numeric gradients",
              uses=("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss",
                    "dropout_forward", "dropout_backward")):
    _net = FullyConnectedNet([12, 9], input_dim=_D, num_classes=_C, dropout_keep_ratio=0.5,
                             weight_scale=0.3, seed=123)
    _loss, _grads = _net.loss(_X, _y)
    for _k in sorted(_net.params):
        _num = eval_numerical_gradient(lambda _v: _net.loss(_X, _y)[0], _net.params[_k])  # noqa: B023 - called at once
        expect_grad_close(_grads[_k], _num, f'grads["{_k}"]', tol=1e-5)

# %% [markdown]
# ## Sanity check: overfit a tiny data set
#
# Before a long training run, check that the network *can* learn: a five-layer network must be able
# to drive its training accuracy on 50 samples to 100% within a few epochs. If it cannot, there is a
# bug, or the initial weights are so small that the signal dies out over four layers (lecture 05),
# or the learning rate is off.

# %%
small_data = {"X_train": data_dict["X_train"][:50], "y_train": data_dict["y_train"][:50],
              "X_val": data_dict["X_val"], "y_val": data_dict["y_val"]}
OVERFIT = dict(hidden_dims=[100, 100, 100, 100], **S["overfit"])
with needs("FullyConnectedNet", "sgd"):
    net5 = FullyConnectedNet(OVERFIT["hidden_dims"], input_dim, num_classes,
                             weight_scale=OVERFIT["weight_scale"], seed=0)
    solver5 = Solver(net5, small_data, update_rule=sgd,
                     optim_config={"learning_rate": OVERFIT["learning_rate"]},
                     num_epochs=OVERFIT["num_epochs"], batch_size=OVERFIT["batch_size"], verbose=False,
                     seed=0)
    solver5.train()
    print(f"training accuracy on 50 samples: {max(solver5.train_acc_history):.2f}, "
          f"validation accuracy: {solver5.best_val_acc:.2f} (it memorised, it did not generalise)")
    fig, ax = plt.subplots(figsize=(6, 3))
    plot_loss_history(ax, solver5.loss_history, title="5-layer network, 50 training samples")
    plt.show()

# %% nbgrader={"grade": true, "grade_id": "test_overfit", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["affine_forward", "affine_backward", "relu", "softmax_loss", "fc_net", "sgd"]}
with checking("FullyConnectedNet with 4 hidden layers", case=f"overfitting 50 samples, {OVERFIT}",
              uses=("FullyConnectedNet.loss", "sgd", "affine_forward", "affine_backward", "relu_forward",
                    "relu_backward", "softmax_loss")):
    _net = FullyConnectedNet(OVERFIT["hidden_dims"], input_dim, num_classes,
                             weight_scale=OVERFIT["weight_scale"], seed=0)
    _rng = np.random.default_rng(77)  # initial weights drawn by the test (same for everyone)
    for _k in _net.params:
        if _k.startswith("W"):
            _net.params[_k] = OVERFIT["weight_scale"] * _rng.standard_normal(_net.params[_k].shape)
    _s = Solver(_net, small_data, update_rule=sgd, optim_config={"learning_rate": OVERFIT["learning_rate"]},
                num_epochs=OVERFIT["num_epochs"], batch_size=OVERFIT["batch_size"], verbose=False,
                progress=False, seed=0)
    _s.train()
    expect_at_least(max(_s.train_acc_history), 1.0, "the best training accuracy on the 50 samples")

# %% [markdown]
# ## Which update rule?
#
# The same five-layer network (on the whole training set now), trained for a few epochs with each
# of your update rules at a learning rate that suits it. Compare the first epoch, where the rules
# differ most: how fast does each one start, and does any loss rise before it falls? (Written
# question 3 below asks why.) Which one ends lowest after a few epochs depends on the learning
# rates chosen here; in practice Adam (or SGD with momentum and a tuned schedule) is the usual
# first choice.

# %%
with needs("FullyConnectedNet", "sgd", "sgd_momentum", "nesterov", "adagrad", "rmsprop", "adam"):
    COMPARE = {"sgd": (sgd, 0.05), "sgd_momentum": (sgd_momentum, 0.02), "nesterov": (nesterov, 0.02),
               "adagrad": (adagrad, 0.02), "rmsprop": (rmsprop, 1e-3), "adam": (adam, 1e-3)}
    solvers = {}
    for name, (rule, lr) in COMPARE.items():
        net = FullyConnectedNet([100, 100, 100, 100], input_dim, num_classes, weight_scale=0.1, seed=0)
        solvers[name] = Solver(net, data_dict, update_rule=rule, optim_config={"learning_rate": lr},
                               num_epochs=S["compare_epochs"], batch_size=100, verbose=False, progress=False,
                               seed=0).train()
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    for name, s in solvers.items():
        k = 10
        smooth = np.convolve(s.loss_history, np.ones(k) / k, mode="valid")
        axes[0].plot(smooth, label=name)
        axes[1].plot(np.arange(1, len(s.val_acc_history) + 1), s.val_acc_history, "o-", label=name)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("iteration")
    axes[0].set_title("training loss (smoothed)")
    axes[1].set_xlabel("epoch")
    axes[1].set_title("validation accuracy")
    axes[1].legend(fontsize=8)
    plt.show()

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_update_rule_curves_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 3 (4 points)
#
# The learning rates in `COMPARE` differ by a factor of 50, from 0.05 for plain SGD to 0.001 for
# RMSProp and Adam, and all six rules train. First, explain with the update formulas of Part 3 why
# an adaptive rule (AdaGrad, RMSProp, Adam) works with a much smaller learning rate than SGD.
# Second, look at the first few dozen iterations of the training loss in the plot above: describe
# how AdaGrad and RMSProp start compared with Adam, and explain the difference from the size of
# each rule's first steps. Answer in four to six sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_update_rule_curves", "locked": false, "points": 4, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** SGD's step $\eta g$ is proportional to the gradient, and the gradient of a
# single weight is small, so $\eta$ must be large for the weights to move. The adaptive rules
# divide the gradient by the root of a running sum or average of its own square, so every weight
# moves by about $\eta$ per step whatever the size of its gradient: their learning rate is a
# distance in parameter units, SGD's a factor on the gradient, and the two are not comparable
# (lecture 03). Adam's bias correction makes its first step exactly $\eta$ in every weight, and
# its later steps about $\eta$ or less. RMSProp has no correction: its cache starts at zero and
# holds only $(1 - \rho) g^2 = 0.01\, g^2$ after the first step, so that step is
# $\eta / \sqrt{0.01} = 10\eta$, and its steps come down to $\eta$ only over about
# $1/(1 - \rho) = 100$ iterations; AdaGrad's first step is $\eta = 0.02$ per weight, twenty times
# Adam's, and then shrinks like $1/\sqrt{t}$. So in the first iterations AdaGrad and RMSProp move
# every weight much further than Adam does: on the digits their loss falls fastest at the start; on
# CIFAR-10, where each first-layer unit sums 3072 inputs whose weights all move at once, these
# first steps overshoot, and their loss jumps up for a few iterations before it falls to the level
# of the others.
#
# **Rubric (4 points).**
# - 1 point: SGD's step $\eta g$ scales with the gradient; the adaptive rules divide by the
#   gradient's root mean square, so their step is about $\eta$ per weight whatever the gradient's
#   size.
# - 1 point: hence the adaptive $\eta$ is a distance and SGD's a factor on small gradients, which
#   must be large: the two scales are not comparable.
# - 1 point: RMSProp's first steps are about $10\eta$ because its zero-started cache is not
#   bias-corrected, and AdaGrad's first step is $\eta = 0.02$ (twenty times Adam's); Adam's
#   bias-corrected first step is $\eta$.
# - 1 point: a correct description of the start of their own plot (the fastest fall on the digits;
#   a jump of the loss before the fall on CIFAR-10), explained by these larger first steps.

# %% [markdown]
# ## Batch normalisation in practice
#
# Train the same deep network with and without batch normalisation, with Adam, from a weight scale
# that is too small for a plain deep network (the signal shrinks layer by layer). Batch normalisation
# rescales every layer's output, so the network trains anyway.

# %%
with needs("FullyConnectedNet", "adam"):
    bn_solvers = {}
    for norm in (None, "batchnorm", "layernorm"):
        net = FullyConnectedNet([100, 100, 100, 100], input_dim, num_classes, normalization=norm,
                                weight_scale=1e-2, seed=0)
        bn_solvers[str(norm)] = Solver(net, data_dict, update_rule=adam, optim_config={"learning_rate": 1e-3},
                                       num_epochs=S["compare_epochs"], batch_size=100, verbose=False,
                                       progress=False, seed=0).train()
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    for name, s in bn_solvers.items():
        axes[0].plot(np.convolve(s.loss_history, np.ones(10) / 10, mode="valid"),
                     label=f"normalization={name}")
        axes[1].plot(np.arange(1, len(s.val_acc_history) + 1), s.val_acc_history, "o-",
                     label=f"normalization={name}")
    axes[0].set_title("training loss (smoothed), weight_scale 1e-2")
    axes[0].set_xlabel("iteration")
    axes[1].set_title("validation accuracy")
    axes[1].set_xlabel("epoch")
    axes[1].legend(fontsize=8)
    plt.show()

# %% [markdown]
# **Check yourself.** In the plot the network without normalisation sits at a loss of about
# $\ln 10$ for a while before it starts to learn, or does not learn at all. Why, and why does batch
# normalisation not have this problem?
#
# <details><summary>Answer</summary>
#
# With weights of standard deviation 0.01 and 100 inputs per unit, each affine layer multiplies the
# typical size of the signal by about $0.01 \cdot \sqrt{100} = 0.1$ (a bit less after the ReLU). After
# four hidden layers the scores are about $10^{-4}$ times the input: all classes get the same
# probability and the loss is $\ln 10$. The backward pass shrinks the same way, so the first layers
# receive almost no gradient. Batch normalisation divides every hidden layer's pre-activations by
# their standard deviation over the batch, whatever the weights' scale, so the signal (and the
# gradient) keeps its size through any depth; Adam helps too, since its steps do not depend on the
# gradient's size. This is why lecture 05 insists on the initialisation (Xavier, He) when there is
# no normalisation.
#
# </details>

# %% [markdown]
# ## Your best network
#
# Train the best fully connected network you can and store it in `best_model` (and its solver in
# `best_solver`). Everything is allowed: depth and width, batch or layer normalisation, dropout,
# regularisation, any of your update rules, learning-rate decay, more epochs. Choose by the
# **validation** accuracy; the test below measures the test accuracy once. It must reach
# `S["targets"]["best"]` (97.5% on the digits, 50% on CIFAR-10). Keep the training under a minute.
#
# A setting that works is in `S["best"]`; try to beat it.

# %% nbgrader={"grade": false, "grade_id": "best_model", "locked": false, "schema_version": 3, "solution": true, "task": false}
best_model = None
best_solver = None
### BEGIN SOLUTION
B = S["best"]
best_model = FullyConnectedNet(B["hidden_dims"], input_dim, num_classes, normalization="batchnorm",
                               reg=B["reg"], weight_scale=B["weight_scale"], seed=0)
best_solver = Solver(best_model, data_dict, update_rule=adam, optim_config={"learning_rate": B["learning_rate"]},
                     lr_decay=B["lr_decay"], num_epochs=B["num_epochs"], batch_size=B["batch_size"],
                     verbose=False, seed=0)
best_solver.train()
### END SOLUTION
print(f"best validation accuracy: {best_solver.best_val_acc:.4f} (epoch {best_solver.best_epoch})")

# %% nbgrader={"grade": true, "grade_id": "test_best_model", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["affine_forward", "affine_backward", "relu", "softmax_loss", "batchnorm_forward", "batchnorm_backward", "fc_net", "adam", "best_model"]}
with checking("best_model", case=f"test accuracy on {data.name}", uses=("FullyConnectedNet.loss",)):
    if best_model is None:
        raise CheckFailed("best_model is None: the cell above is not implemented yet. Train your "
                          "network there and store it in best_model.")
    _scores = best_model.loss(data_dict["X_test"])
    expect_shape(_scores, (len(data_dict["y_test"]), num_classes), "best_model.loss(X_test)")
    _acc = float(np.mean(np.argmax(_scores, axis=1) == data_dict["y_test"]))
    print(f"test accuracy of best_model: {_acc:.4f}")
    expect_at_least(_acc, S["targets"]["best"], "test accuracy")

# %% [markdown]
# Where does the best network still go wrong? A few misclassified test images with the predicted
# and the true label:

# %%
with needs("best_model"):
    pred = np.argmax(best_model.loss(data_dict["X_test"]), axis=1)
    wrong = np.flatnonzero(pred != data_dict["y_test"])[:12]
    if len(wrong):
        titles = [f"{data.class_names[pred[i]]} (true {data.class_names[data_dict['y_test'][i]]})"
                  for i in wrong]
        show_images(data.X_test[wrong], titles=titles, ncols=6, size=1.6)
        plt.suptitle("misclassified test images: predicted (true)")
        plt.show()
    print(f"{len(np.flatnonzero(pred != data_dict['y_test']))} of {len(pred)} test images misclassified")

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_pixel_permutation_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 4 (3 points)
#
# To you, the misclassified images above are pictures; your network receives each of them as a row
# of numbers. Suppose you shuffled the columns of `X_train`, `X_val` and `X_test` in `data_dict`
# with one fixed random permutation (the same for every image) and trained the same network again.
# Would its test accuracy change, and why? What does this tell you about what a fully connected
# network knows of images, and what in this notebook makes up for part of it on the digits? Answer
# in three to five sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_pixel_permutation", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** The test accuracy would not change, apart from the usual variation between
# runs. The first affine layer gives every input its own weights and treats all inputs alike, so a
# network on the shuffled columns computes the same function as before once the rows of $W_1$ are
# shuffled the same way; the initial weights are drawn independently, so the shuffled problem is
# the same training problem with the inputs relabelled (started from the correspondingly shuffled
# $W_1$, it would be the same run step for step). So the network knows nothing of which pixels are
# neighbours or of how an image moves: a digit shifted by one pixel is to it a different row of
# numbers, and it has to learn from examples that the two mean the same. On the digits, the shifted
# copies added to the training set (data augmentation) teach it part of this; networks built for
# images, such as the convolutional networks of assignment 3, build the layout in instead and would
# be hurt by the shuffle.
#
# **Rubric (3 points).**
# - 1 point: the test accuracy stays the same (up to the randomness of a run).
# - 1 point: why: shuffling the inputs is matched by shuffling the rows of $W_1$ (every input has
#   its own weights and none is special), so the two problems are the same up to a relabelling.
# - 1 point: the consequence: the network has no notion of neighbouring pixels or of shifts and
#   must learn such invariances from data; the shifted copies of the digits (augmentation) supply
#   part of them.

# %% [markdown]
# **Check yourself.** The checkpoint saved by the `Solver` holds the best parameters. Why is the
# best epoch's model, rather than the last one, what you want, and on which data is "best" judged?
#
# <details><summary>Answer</summary>
#
# The validation accuracy often peaks before the last epoch and then stalls or drops while the
# training accuracy keeps rising: the network starts to fit the training set's noise. Keeping the
# parameters of the best validation epoch is early stopping (lecture 05) without having to guess the
# number of epochs in advance. "Best" must be judged on the validation set: judging on the test set
# would make the test accuracy an optimistic estimate, since it was used to choose the model.
#
# </details>
#
# ## Summary
#
# - A layer is a forward function and a backward function with a cache between them; networks are
#   stacks of layers, and backpropagation calls the backward functions in reverse order.
# - Check every backward pass against numeric gradients, on small inputs in float64.
# - Batch normalisation standardises each feature over the batch (running averages at test time);
#   layer normalisation standardises each sample; inverted dropout rescales at training time.
# - The update rules differ in what they remember: nothing (SGD), a velocity (momentum, Nesterov),
#   squared-gradient statistics (AdaGrad, RMSProp), or both, with bias correction (Adam).
# - Before training for long: check the initial loss, overfit a tiny subset, then tune on the
#   validation set and keep the best epoch.
#
# ## Further reading
#
# - D. Rumelhart, G. Hinton and R. Williams, "Learning representations by back-propagating errors",
#   *Nature*, 1986.
# - S. Ioffe and C. Szegedy, "Batch normalization: accelerating deep network training by reducing
#   internal covariate shift", ICML 2015.
# - J. L. Ba, J. R. Kiros and G. E. Hinton, "Layer normalization", arXiv:1607.06450, 2016.
# - N. Srivastava, G. Hinton, A. Krizhevsky, I. Sutskever and R. Salakhutdinov, "Dropout: a simple way
#   to prevent neural networks from overfitting", *JMLR*, 2014.
# - I. Sutskever, J. Martens, G. Dahl and G. Hinton, "On the importance of initialization and momentum
#   in deep learning", ICML 2013 (momentum and Nesterov's form used here).
# - D. P. Kingma and J. Ba, "Adam: a method for stochastic optimization", ICLR 2015.
# - Stanford CS231n, assignment 2: the assignment this one is modelled on.
