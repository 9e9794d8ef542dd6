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
# # Assignment 3: convolutional networks
#
# A convolutional layer slides a small filter over an image and takes a dot product at every
# position (lecture 06). In this assignment you write that layer yourself, first with plain loops
# to get it right, then fast, and the other layers a convolutional network needs. You assemble
# them into a small convnet in numpy, and finally build and train a convolutional network in
# PyTorch, the way it is done in practice.
#
# 1. **Convolution, naively**: forward and backward passes with stride and zero padding.
# 2. **Max pooling**: forward and backward.
# 3. **Fast convolution**: the same layer without loops over positions (im2col or strided
#    windows), checked against the naive one and timed against it and against torch.
# 4. **Spatial normalisation**: batch normalisation and group normalisation for `(N, C, H, W)`
#    feature maps, forward and backward.
# 5. **A three-layer convnet** in numpy with the course's `model.loss` contract, trained with
#    the `Solver` of assignment 2.
# 6. **PyTorch**: a CNN as an `nn.Module`, your own training loop with `torch.optim`, and a
#    network that reaches 98.5% test accuracy on the digits.
#
# Along the way, five **written questions** ask you to explain in words what a figure or a printed
# result has just shown you.
#
# The notebook uses CIFAR-10 when it is on your disk (without it, the data cell below says where to
# put it) and the 8x8 handwritten digits otherwise. Everything runs on a laptop CPU.
#
# ## How to work
#
# - Run the cells from the top. Cells below a function you have not written yet stop with a message.
# - Every function has a docstring with the shapes of its inputs and outputs. Write your code where
#   it says `# YOUR CODE HERE` and delete `raise NotImplementedError()`. Keep the function names and
#   arguments.
# - Layers follow the contract of assignment 2: `out, cache = layer_forward(x, ...)` and
#   `dx, dparams... = layer_backward(dout, cache)`. Models: `model.loss(X)` returns scores,
#   `model.loss(X, y)` returns `(loss, grads)`.
# - A failing test names the function, the case, and what was expected against what came back; a
#   passing test prints nothing, or only the figure it measured (a test accuracy).
# - Before you submit: **Kernel > Restart Kernel and Run All Cells** (or **Validate**). Hand in
#   this notebook with its name unchanged.
# - **Self-check**, at any time: save the notebook, then run
#   `python -m autograder.selfcheck a3_cnn.ipynb` in a terminal, in this notebook's folder or
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
# sandbox (with torch, without scikit-learn). Parts 1 to 5 are then graded again in a second,
# fresh sandbox that runs only their answer cells and the given layers of Part 5, with numpy but
# not torch, scipy or scikit-learn: write these functions in numpy, as the docstrings ask (those
# imports fail there), and keep everything they need inside their own cells. Part 6 is graded
# in the kernel that ran your notebook. The grader calls your functions on inputs of its own:
# the visible cases of every test cell and **hidden** ones (random inputs compared with torch and
# with the instructor's solutions, edge cases such as windows that do not tile or ties in max
# pooling), and compares what they return outside the sandbox. For the accuracy tests it takes
# the predicted labels out of the sandbox (of your numpy convnet on the 50 training images of the
# overfitting test, of `torch_model` on the test images) and scores them itself. A test cell
# earns its points when all its cases pass, and the feedback lists every case: passed, or what
# was wrong. So passing the visible test is a good sign, not a guarantee: read each docstring
# carefully. Most tests call only the functions they are about; the backward tests also run your
# forward pass, and the convnet tests your fast convolution and max pooling, and a failure then
# says when one of those is the cause.
#
# | Part | Functions | Points |
# |---|---|---|
# | Naive convolution | `conv_forward_naive`, `conv_backward_naive` | 18 |
# | Max pooling | `max_pool_forward_naive`, `max_pool_backward_naive` | 11 |
# | Fast convolution | `conv_forward_fast`, `conv_backward_fast` | 16 |
# | Spatial normalisation | `spatial_batchnorm_forward/backward`, `spatial_groupnorm_forward/backward` | 24 |
# | Three-layer convnet | `ThreeLayerConvNet` | 17 |
# | PyTorch | `DigitsCNN`, `train_model`, your trained network | 14 |
# | Written questions 1-5 | your answers in words, graded by hand | 15 |
#
# Besides the 100 points of the test cells, the five written questions are worth 15 points. Write
# each answer in the cell below its question, marked "YOUR ANSWER HERE" (replace that text), in
# plain sentences (`$...$` math is fine). The instructor reads it as written and grades it by hand
# after the automatic grading, so no code is needed in it, and the self-check does not score it.

# %%
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

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
from dlcv.data import load_classification, load_photo
from dlcv.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array
from dlcv.plots import plot_loss_history, show_class_examples, show_images
from dlcv.solver import Solver
from dlcv.timing import cap_threads, time_call

plt.rcParams["figure.figsize"] = (8, 4)
plt.rcParams["figure.dpi"] = 90
np.set_printoptions(precision=4, suppress=True)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine

# %% [markdown]
# ## The data
#
# Convolutional layers keep the images' layout: `(N, C, H, W)`, with `C` = 1 channel of 8x8 for
# the digits and 3 channels of 32x32 for CIFAR-10. We scale pixel values to [0, 1] and standardise
# every channel with the training set's mean and standard deviation. On the digits we augment the
# training set with eight copies of every image, shifted by one pixel in each of the eight
# directions (data augmentation, lecture 05): 1257 x 9 = 11,313 training images.

# %%
data = load_classification("auto", num_train=49000, num_val=1000, num_test=1000, num_dev=500)
print(f"Data set used in this notebook: {data.name}")
show_class_examples(data.X_train, data.y_train, data.class_names, per_class=6)
plt.show()

SETTINGS = {
    "digits": dict(
        scale=16.0, augment=True,
        convnet=dict(num_filters=16, filter_size=3, hidden_dim=100, weight_scale=1e-1, reg=1e-3,
                     learning_rate=1e-3, num_epochs=3, batch_size=100),
        torch=dict(epochs=12, lr=2e-3, batch_size=64),
        targets=dict(convnet=0.95, torch=0.985),
    ),
    "cifar10": dict(
        scale=255.0, augment=False,
        convnet=dict(num_filters=32, filter_size=5, hidden_dim=100, weight_scale=1e-2, reg=1e-3,
                     learning_rate=1e-3, num_epochs=1, batch_size=50),
        torch=dict(epochs=3, lr=3e-3, batch_size=64),
        targets=dict(convnet=0.40, torch=0.65),
    ),
}
S = SETTINGS[data.name]


def to_nchw(X):
    """(N, H, W) or (N, H, W, 3) images -> (N, C, H, W) float64 in [0, 1], a new array."""
    X = X.astype(np.float64)
    X /= S["scale"]  # in place: CIFAR-10's training set is 1.2 GB in float64, once is enough
    return X[:, None] if X.ndim == 3 else X.transpose(0, 3, 1, 2)


def standardise(X):
    """(N, C, H, W) -> every channel standardised with the training statistics, in place."""
    X -= channel_mean
    X /= channel_std
    return X


X_train_img, y_train = to_nchw(data.X_train), data.y_train
if S["augment"]:
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    X_train_img, y_train = augment_by_shifts(X_train_img, y_train, shifts)  # (9 N, C, H, W)
channel_mean = X_train_img.mean(axis=(0, 2, 3), keepdims=True)  # (1, C, 1, 1)
channel_std = X_train_img.std(axis=(0, 2, 3), keepdims=True)  # (1, C, 1, 1)
data_dict = {
    "X_train": standardise(X_train_img), "y_train": y_train,
    "X_val": standardise(to_nchw(data.X_val)), "y_val": data.y_val,
    "X_test": standardise(to_nchw(data.X_test)), "y_test": data.y_test,
}
del X_train_img  # the same array as data_dict["X_train"]
input_shape = data_dict["X_train"].shape[1:]  # (C, H, W)
num_classes = len(data.class_names)
for k, v in data_dict.items():
    print(f"{k:8s} {v.shape}")

# %% [markdown]
# # Part 1: convolution, naively
#
# A convolutional layer has `F` filters, each of shape `(C, HH, WW)`: one weight per input channel
# and per position of the filter window, plus a bias. With zero padding `pad` on every side and a
# step `stride` between windows, output position `(i, j)` of filter `f` for image `n` is
#
# $$ \text{out}[n, f, i, j] = b_f + \sum_{c, k, l} w[f, c, k, l]\;
#    x_{\text{pad}}[n, c,\; i\cdot\text{stride} + k,\; j \cdot \text{stride} + l], $$
#
# a dot product between the filter and the window of the padded input it covers (this is a
# cross-correlation; deep learning calls it convolution). The output has
#
# $$ H' = 1 + \frac{H + 2\,\text{pad} - HH}{\text{stride}}, \qquad
#    W' = 1 + \frac{W + 2\,\text{pad} - WW}{\text{stride}} $$
#
# positions per axis. If these are not whole numbers the windows do not tile the padded input:
# raise a `ValueError` that says so. Loops are fine here (over images, filters and output
# positions); `np.pad` does the padding.

# %% nbgrader={"grade": false, "grade_id": "conv_forward_naive", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv_forward_naive(x, w, b, conv_param):
    """Forward pass of a convolutional layer, with loops.

    Inputs:
    - x: (N, C, H, W) input.
    - w: (F, C, HH, WW) filters.
    - b: (F,) biases.
    - conv_param: dict with "stride" (int >= 1) and "pad" (int >= 0, zeros on every side).

    Returns a tuple:
    - out: (N, F, H', W') with H' = 1 + (H + 2 pad - HH) / stride, W' likewise.
    - cache: (x, w, b, conv_param).

    Raises ValueError if (H + 2 pad - HH) or (W + 2 pad - WW) is not a multiple of the stride.
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    out = None
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    F_, _, HH, WW = w.shape
    if (H + 2 * pad - HH) % stride or (W + 2 * pad - WW) % stride:
        raise ValueError(f"conv_forward_naive: the {HH}x{WW} windows with stride {stride} do not "
                         f"tile the padded {H + 2 * pad}x{W + 2 * pad} input")
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # (N, C, H + 2 pad, W + 2 pad)
    out = np.zeros((N, F_, H_out, W_out), dtype=np.result_type(x, w))
    for n in range(N):
        for f in range(F_):
            for i in range(H_out):
                for j in range(W_out):
                    window = xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    ### END SOLUTION
    cache = (x, w, b, conv_param)
    return out, cache


# %% nbgrader={"grade": true, "grade_id": "test_conv_forward_naive", "locked": true, "points": 8, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["conv_forward_naive"]}
with checking("conv_forward_naive", case="one 3x3 image, one 2x2 filter, stride 1, pad 0"):
    _x = np.arange(9.0).reshape(1, 1, 3, 3)  # [[0 1 2] [3 4 5] [6 7 8]]
    _w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])  # top-left minus bottom-right
    _out, _ = conv_forward_naive(_x, _w, np.array([0.5]), {"stride": 1, "pad": 0})
    expect_shape(_out, (1, 1, 2, 2), "out")
    expect_close(_out, [[[[-3.5, -3.5], [-3.5, -3.5]]]], "out")
with checking("conv_forward_naive", case="a 2x2 filter of ones on the same image, pad 1, stride 3"):
    # The padded image is 5x5; the four windows are its four corners, each holding one pixel of x.
    _out, _ = conv_forward_naive(_x, np.ones((1, 1, 2, 2)), np.array([0.0]), {"stride": 3, "pad": 1})
    expect_close(_out, [[[[0.0, 2.0], [6.0, 8.0]]]], "out")

# %% [markdown]
# **The backward pass.** Every output value is a dot product of a filter with a window, so its
# gradient flows back along the same pairs: each `dout[n, f, i, j]` adds `dout * window` to
# `dw[f]` and `dout * w[f]` to the window's place in `dx_pad`, and `db[f]` sums `dout[:, f]`.
# Accumulate into a padded `dx_pad` and cut the padding off at the end. (Lecture 06 shows the same
# result as two convolutions: the input with the upstream gradient for `dw`, the padded upstream
# gradient with the flipped filters for `dx`.)

# %% nbgrader={"grade": false, "grade_id": "conv_backward_naive", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv_backward_naive(dout, cache):
    """Backward pass of a convolutional layer, with loops.

    Inputs:
    - dout: (N, F, H', W') upstream gradient.
    - cache: (x, w, b, conv_param) from conv_forward_naive.

    Returns a tuple:
    - dx: (N, C, H, W); dw: (F, C, HH, WW); db: (F,).
    """
    x, w, b, conv_param = cache
    dx, dw, db = None, None, None
    ### BEGIN SOLUTION
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F_, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(N):
        for f in range(F_):
            for i in range(H_out):
                for j in range(W_out):
                    hs, ws = i * stride, j * stride
                    dw[f] += dout[n, f, i, j] * xp[n, :, hs:hs + HH, ws:ws + WW]
                    dxp[n, :, hs:hs + HH, ws:ws + WW] += dout[n, f, i, j] * w[f]
    dx = dxp[:, :, pad:pad + H, pad:pad + W]
    ### END SOLUTION
    return dx, dw, db


# %% nbgrader={"grade": true, "grade_id": "test_conv_backward_naive", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["conv_forward_naive", "conv_backward_naive"]}
_rng = np.random.default_rng(0)
_x, _w, _b = _rng.normal(size=(2, 2, 5, 5)), _rng.normal(size=(3, 2, 3, 3)), _rng.normal(size=3)
_param = {"stride": 2, "pad": 1}
with checking("conv_backward_naive", case="x (2, 2, 5, 5), w (3, 2, 3, 3), stride 2, pad 1: numeric gradients",
              uses=("conv_forward_naive",)):
    _out, _cache = conv_forward_naive(_x, _w, _b, _param)
    _dout = _rng.normal(size=_out.shape)
    _dx, _dw, _db = conv_backward_naive(_dout, _cache)
    expect_shape(_dx, _x.shape, "dx")
    expect_grad_close(_dx, eval_numerical_gradient_array(lambda v: conv_forward_naive(v, _w, _b, _param)[0],
                                                         _x.copy(), _dout), "dx", tol=1e-7)
    expect_grad_close(_dw, eval_numerical_gradient_array(lambda v: conv_forward_naive(_x, v, _b, _param)[0],
                                                         _w.copy(), _dout), "dw", tol=1e-7)
    expect_grad_close(_db, eval_numerical_gradient_array(lambda v: conv_forward_naive(_x, _w, v, _param)[0],
                                                         _b.copy(), _dout), "db", tol=1e-7)

# %% [markdown]
# **What does a convolution do to an image?** Two hand-made filters on a real photograph: the
# Sobel filter responds to vertical edges (left-right changes of brightness), and a 5x5 box filter
# blurs. Your layer applies both at once (2 filters, 1 input channel); the bias is 0.

# %%
photo = load_photo("camera", gray=True, size=64).astype(np.float64) / 255.0  # (64, 64)
sobel = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
w_demo = np.zeros((2, 1, 5, 5))
w_demo[0, 0, 1:4, 1:4] = sobel  # the 3x3 Sobel filter inside a 5x5 window
w_demo[1, 0] = 1.0 / 25.0  # box blur
with needs("conv_forward_naive"):
    maps, _ = conv_forward_naive(photo[None, None], w_demo, np.zeros(2), {"stride": 1, "pad": 2})
    show_images([photo, maps[0, 0], maps[0, 1]], titles=["input", "Sobel (vertical edges)", "5x5 box blur"],
                ncols=3, size=2.6)
    plt.show()

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_padding_borders_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 1 (3 points)
#
# Look at the four borders of the two filtered images above (the cell calls your layer with
# `pad=2`). Describe what you see along each border of the blurred image and of the Sobel map:
# which sides, how wide, darker or brighter than the inside. Explain it from what your layer
# computes there, and say why the Sobel map shows nothing unusual along its top and bottom edges.
# Answer in four to six sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_padding_borders", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** Zero padding surrounds the photograph with a black frame, and every window
# near the border reads some of those zeros: the photograph's border becomes a sharp step down to
# black. The box filter averages 25 pixels with positive weights, so near the border part of its
# average is zeros and the output is darker than the photo there: on all four sides, in a frame
# two pixels wide (the $5 \times 5$ window reaches two pixels beyond its centre), darkest in the
# corners, where the window holds only $3 \times 3 = 9$ real pixels of 25. The Sobel filter
# computes a weighted difference "right column minus left column", so it responds to the black
# frame's left and right sides as vertical edges: along the right edge its right column reads
# zeros and the output is strongly negative (a dark stripe wherever the photo is bright), along
# the left edge its left column reads zeros and the output is positive (a bright stripe where the
# photo is bright, hardly any where it is dark, as beside the coat). These stripes are one pixel
# wide, because the Sobel taps sit in the inner $3 \times 3$ of the $5 \times 5$ window. At the
# top and bottom the zeros fill a whole row of the kernel's taps, and a row of equal values adds
# nothing, since every row of the Sobel kernel sums to zero ($-1 + 0 + 1$): the step to black
# there is a change from top to bottom, which a filter of left-right differences does not detect.
#
# **Rubric (3 points).**
# - 1 point: the padding is zeros (a black frame), so windows near the border include zeros and
#   the photo's border becomes a step to black.
# - 1 point: the blur is darker on all four sides because its positive weights average in those
#   zeros; the frame is two pixels wide (the window's reach), darkest in the corners.
# - 1 point: the Sobel filter measures left-right changes only: it sees the frame's left and right
#   sides (bright on the left, dark on the right, where the photo is bright) and not the top and
#   bottom (each kernel row sums to zero, or: a top-bottom change is not what it detects).

# %% [markdown]
# # Part 2: max pooling
#
# Max pooling takes the largest value of every `pool_height x pool_width` window of every channel,
# moving by `stride`; it has no parameters. In the backward pass each window's gradient goes
# entirely to the position of its maximum (the max gate routes, lecture 04). If a window holds the
# same largest value twice, give the gradient to the first one in row-major order (as
# `np.argmax` does). Loop over the output positions only: handle all images and channels of a
# position at once with numpy.

# %% nbgrader={"grade": false, "grade_id": "max_pool_naive", "locked": false, "schema_version": 3, "solution": true, "task": false}
def max_pool_forward_naive(x, pool_param):
    """Forward pass of max pooling.

    Inputs:
    - x: (N, C, H, W).
    - pool_param: dict with "pool_height", "pool_width" and "stride".

    Returns a tuple:
    - out: (N, C, H', W') with H' = 1 + (H - pool_height) // stride, W' likewise.
    - cache: (x, pool_param).
    """
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    out = None
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    H_out, W_out = 1 + (H - ph) // stride, 1 + (W - pw) // stride
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw]  # (N, C, ph, pw)
            out[:, :, i, j] = window.max(axis=(2, 3))
    ### END SOLUTION
    cache = (x, pool_param)
    return out, cache


def max_pool_backward_naive(dout, cache):
    """Backward pass of max pooling.

    Inputs:
    - dout: (N, C, H', W') upstream gradient.
    - cache: (x, pool_param) from max_pool_forward_naive.

    Returns:
    - dx: (N, C, H, W); in every window, the whole gradient goes to the (first) maximum.
    """
    x, pool_param = cache
    dx = None
    ### BEGIN SOLUTION
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, _, _ = x.shape
    _, _, H_out, W_out = dout.shape
    dx = np.zeros_like(x)
    n_idx, c_idx = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")  # (N, C) each
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw]
            k = window.reshape(N, C, -1).argmax(axis=2)  # (N, C): first maximum
            r, s = i * stride + k // pw, j * stride + k % pw
            dx[n_idx, c_idx, r, s] += dout[:, :, i, j]
    ### END SOLUTION
    return dx


# %% nbgrader={"grade": true, "grade_id": "test_max_pool_forward", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["max_pool_naive"]}
with checking("max_pool_forward_naive", case="a 4x4 image, 2x2 windows, stride 2"):
    _x = np.array([[1.0, 2.0, 5.0, 0.0], [3.0, 4.0, 1.0, 1.0], [0.0, -1.0, 9.0, 8.0], [-2.0, -3.0, 7.0, 6.0]])
    _out, _ = max_pool_forward_naive(_x[None, None], {"pool_height": 2, "pool_width": 2, "stride": 2})
    expect_shape(_out, (1, 1, 2, 2), "out")
    expect_close(_out, [[[[4.0, 5.0], [0.0, 9.0]]]], "out")

# %% nbgrader={"grade": true, "grade_id": "test_max_pool_backward", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["max_pool_naive"]}
with checking("max_pool_backward_naive", case="the 4x4 image above, upstream gradient [[1, 2], [3, 4]]",
              uses=("max_pool_forward_naive",)):
    _x = np.array([[1.0, 2.0, 5.0, 0.0], [3.0, 4.0, 1.0, 1.0], [0.0, -1.0, 9.0, 8.0], [-2.0, -3.0, 7.0, 6.0]])
    _, _cache = max_pool_forward_naive(_x[None, None], {"pool_height": 2, "pool_width": 2, "stride": 2})
    _dx = max_pool_backward_naive(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), _cache)
    expect_close(_dx[0, 0], [[0.0, 0.0, 2.0, 0.0], [0.0, 1.0, 0.0, 0.0], [3.0, 0.0, 4.0, 0.0], [0.0, 0.0, 0.0, 0.0]],
                 "dx")
_rng = np.random.default_rng(1)
with checking("max_pool_backward_naive", case="x (2, 2, 6, 6), 2x2 windows, stride 2: numeric gradient",
              uses=("max_pool_forward_naive",)):
    _x = _rng.normal(size=(2, 2, 6, 6))
    _p = {"pool_height": 2, "pool_width": 2, "stride": 2}
    _dout = _rng.normal(size=(2, 2, 3, 3))
    _num = eval_numerical_gradient_array(lambda v: max_pool_forward_naive(v, _p)[0], _x.copy(), _dout)
    expect_grad_close(max_pool_backward_naive(_dout, max_pool_forward_naive(_x, _p)[1]), _num, "dx", tol=1e-7)

# %% [markdown]
# # Part 3: a fast convolution
#
# The naive layer runs four nested Python loops; a real network needs the same result hundreds of
# times faster. The trick is to turn the convolution into **one matrix product**:
#
# 1. Collect every window of the padded input as a row: for each image and output position, the
#    `C * HH * WW` values the filter sees. `np.lib.stride_tricks.sliding_window_view(x_pad,
#    (HH, WW), axis=(2, 3))` gives all windows as a view of shape `(N, C, H+2p-HH+1, W+2p-WW+1,
#    HH, WW)` without copying; take every `stride`-th one along the two position axes. (The
#    classic name of this step is **im2col**.)
# 2. Copy them into one matrix `cols` of shape `(N * H' * W', C * HH * WW)` (transpose the view
#    so that the window's own axes come last, then reshape), multiply by the filters reshaped to
#    `(F, C * HH * WW)`, add the bias, and bring the axes into the order `(N, F, H', W')`.
#
# The backward pass reuses `cols` (keep it in the cache): with `dout` reshaped to
# `(N * H' * W', F)`, `dw` is one matrix product with `cols`, and the gradient of `cols` is one
# matrix product with the filters. The windows overlap, so the gradients of `cols` must be
# **added** back into the padded input ("col2im"). A simple fast way: loop over the `HH * WW`
# offsets `(k, l)` of the filter (9 iterations for 3x3) and add the contribution of all positions
# at once, `dx_pad[:, :, k : k + stride*H' : stride, l : l + stride*W' : stride] += ...`.
#
# No Python loops over images, filters or output positions; a loop over the filter offsets is
# fine. The tests compare with `torch.nn.functional.conv2d`; the cell after them times your three
# versions.

# %% nbgrader={"grade": false, "grade_id": "conv_fast", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv_forward_fast(x, w, b, conv_param):
    """Fast forward pass of a convolutional layer: same inputs, outputs and errors as
    conv_forward_naive. The cache may hold whatever your backward pass needs."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    out, cache = None, None
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    F_, _, HH, WW = w.shape
    if (H + 2 * pad - HH) % stride or (W + 2 * pad - WW) % stride:
        raise ValueError(f"conv_forward_fast: the {HH}x{WW} windows with stride {stride} do not "
                         f"tile the padded {H + 2 * pad}x{W + 2 * pad} input")
    H_out, W_out = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (HH, WW), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride]  # (N, C, H', W', HH, WW), a view
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(N * H_out * W_out, C * HH * WW)  # im2col
    out = cols @ w.reshape(F_, -1).T + b  # (N H' W', F): one matrix product
    out = out.reshape(N, H_out, W_out, F_).transpose(0, 3, 1, 2)  # (N, F, H', W')
    cache = (x.shape, w, conv_param, cols)
    ### END SOLUTION
    return out, cache


def conv_backward_fast(dout, cache):
    """Fast backward pass of a convolutional layer: returns dx, dw, db as conv_backward_naive."""
    dx, dw, db = None, None, None
    ### BEGIN SOLUTION
    x_shape, w, conv_param, cols = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x_shape
    F_, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape
    dout_mat = dout.transpose(0, 2, 3, 1).reshape(-1, F_)  # (N H' W', F)
    db = dout_mat.sum(axis=0)
    dw = (dout_mat.T @ cols).reshape(w.shape)  # (F, C HH WW) -> (F, C, HH, WW)
    dcols = (dout_mat @ w.reshape(F_, -1)).reshape(N, H_out, W_out, C, HH, WW)  # d(im2col)
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dout.dtype)
    for k in range(HH):  # col2im: every window adds its gradient back where it came from
        for ll in range(WW):
            dxp[:, :, k:k + stride * H_out:stride, ll:ll + stride * W_out:stride] += \
                dcols[:, :, :, :, k, ll].transpose(0, 3, 1, 2)
    dx = dxp[:, :, pad:pad + H, pad:pad + W]
    ### END SOLUTION
    return dx, dw, db


# %% nbgrader={"grade": true, "grade_id": "test_conv_fast_forward", "locked": true, "points": 8, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["conv_fast"]}
with checking("conv_forward_fast", case="x (2, 3, 9, 9), w (4, 3, 3, 3), stride 2, pad 1, against torch"):
    _rng = np.random.default_rng(2)
    _x, _w, _b = _rng.normal(size=(2, 3, 9, 9)), _rng.normal(size=(4, 3, 3, 3)), _rng.normal(size=4)
    _out, _ = conv_forward_fast(_x, _w, _b, {"stride": 2, "pad": 1})
    _ref = F.conv2d(torch.tensor(_x), torch.tensor(_w), torch.tensor(_b), stride=2, padding=1).numpy()
    expect_shape(_out, _ref.shape, "out")
    expect_close(_out, _ref, "out", rtol=1e-7, atol=1e-10)

# %% nbgrader={"grade": true, "grade_id": "test_conv_fast_backward", "locked": true, "points": 8, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["conv_fast"]}
with checking("conv_backward_fast", case="x (2, 3, 9, 9), w (4, 3, 3, 3), stride 2, pad 1, against torch",
              uses=("conv_forward_fast",)):
    _rng = np.random.default_rng(3)
    _x, _w, _b = _rng.normal(size=(2, 3, 9, 9)), _rng.normal(size=(4, 3, 3, 3)), _rng.normal(size=4)
    _tx, _tw, _tb = (torch.tensor(a, requires_grad=True) for a in (_x, _w, _b))
    _tout = F.conv2d(_tx, _tw, _tb, stride=2, padding=1)
    _dout = _rng.normal(size=tuple(_tout.shape))
    _tout.backward(torch.tensor(_dout))
    _dx, _dw, _db = conv_backward_fast(_dout, conv_forward_fast(_x, _w, _b, {"stride": 2, "pad": 1})[1])
    expect_close(_dx, _tx.grad.numpy(), "dx", rtol=1e-7, atol=1e-10)
    expect_close(_dw, _tw.grad.numpy(), "dw", rtol=1e-7, atol=1e-10)
    expect_close(_db, _tb.grad.numpy(), "db", rtol=1e-7, atol=1e-10)

# %% [markdown]
# **How fast?** The three versions on a batch of CIFAR-10's size, `(N, 3, 32, 32)` with 32 filters
# of 3x3 (stride 1, pad 1), forward and backward. The naive version runs on fewer images (it is
# slow); its time is scaled up to the same batch. The cell prints the times, how many times faster
# your fast version is than the naive one, and how its time compares with torch's.

# %%
_rng = np.random.default_rng(0)
N_fast, N_naive = 64, 2
xb, wb, bb = _rng.normal(size=(N_fast, 3, 32, 32)), _rng.normal(size=(32, 3, 3, 3)), _rng.normal(size=32)
cp = {"stride": 1, "pad": 1}
with needs("conv_forward_naive", "conv_backward_naive", "conv_forward_fast", "conv_backward_fast"):
    t_naive, (out_naive, cache_naive) = time_call(conv_forward_naive, xb[:N_naive], wb, bb, cp)
    t_naive_b, _ = time_call(conv_backward_naive, np.ones_like(out_naive), cache_naive)
    t_fast, (out_fast, cache_fast) = time_call(conv_forward_fast, xb, wb, bb, cp, repeats=3)
    t_fast_b, _ = time_call(conv_backward_fast, np.ones_like(out_fast), cache_fast, repeats=3)
    xt, wt, bt = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (xb, wb, bb))
    t_torch, out_t = time_call(lambda: F.conv2d(xt, wt, bt, padding=1), repeats=3)
    t_torch_b, _ = time_call(lambda: torch.autograd.grad(out_t, (xt, wt, bt), torch.ones_like(out_t),
                                                         retain_graph=True), repeats=3)
    scale = N_fast / N_naive
    print(f"{N_fast} images (3, 32, 32), 32 filters 3x3, float64:")
    print(f"  naive:  forward {t_naive * scale:7.3f} s   backward {t_naive_b * scale:7.3f} s   "
          f"(scaled from {N_naive} images)")
    print(f"  fast:   forward {t_fast:7.3f} s   backward {t_fast_b:7.3f} s")
    print(f"  torch:  forward {t_torch:7.3f} s   backward {t_torch_b:7.3f} s")
    print(f"fast vs naive: {t_naive * scale / t_fast:.0f}x (forward), "
          f"{t_naive_b * scale / t_fast_b:.0f}x (backward); fast vs torch: {t_fast / t_torch:.1f}x "
          f"(forward), {t_fast_b / t_torch_b:.1f}x (backward) the time")
    print("difference fast vs naive on the same images:",
          np.abs(conv_forward_fast(xb[:N_naive], wb, bb, cp)[0] - out_naive).max())

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_im2col_cost_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 2 (4 points)
#
# Read the timings printed above. Your fast convolution does exactly the multiply-adds of the naive
# one, yet runs far faster. Explain where the naive version spends its time and why one matrix
# product avoids that. Then work out by hand how many numbers the matrix `cols` holds for the timed
# batch (64 images of shape (3, 32, 32), 32 filters of 3x3, stride 1, pad 1), how many times the
# size of the input that is and why, and what this costs when a whole network is trained with this
# layer. Answer in four to six sentences, with your arithmetic.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_im2col_cost", "locked": false, "points": 4, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** The naive forward pass runs its loop body
# $N \cdot F \cdot H' \cdot W' = 64 \cdot 32 \cdot 32 \cdot 32 = 2{,}097{,}152$ times, and each
# time does a tiny amount of arithmetic (27 multiply-adds) wrapped in Python interpretation and
# several numpy calls (a slice, a product, a sum), each with a fixed overhead far larger than the
# arithmetic: the time goes to the interpreter, not to the computation. The fast version pays that
# overhead a handful of times, and its one matrix product, `cols` $(65{,}536 \times 27)$ times the
# filters $(27 \times 32)$, runs all $2{,}097{,}152 \cdot 27 \approx 57$ million multiply-adds in
# compiled BLAS code that uses the processor's vector instructions and reuses blocks of both
# matrices from the cache. `cols` has one row per image and output position,
# $64 \cdot 32 \cdot 32 = 65{,}536$ rows of $C \cdot HH \cdot WW = 27$ values: $1{,}769{,}472$
# numbers (about 14 MB in float64), against $64 \cdot 3 \cdot 32 \cdot 32 = 196{,}608$ in the
# input, 9 times as many, because with stride 1 every pixel lies in $3 \times 3 = 9$ windows and
# is copied into the row of each. The layer keeps `cols` in its cache until the backward pass, so
# a network holds one such matrix per convolutional layer during every training step; the copy
# grows with the square of the filter size (49 times the input for $7 \times 7$ filters) and
# shrinks with the square of the stride: im2col buys speed with memory.
#
# **Rubric (4 points).**
# - 1 point: the naive version is slow because of per-iteration overhead (Python and numpy calls,
#   millions of them on a few numbers each), not because of the arithmetic.
# - 1 point: the fast version turns the work into one large matrix product run by compiled,
#   optimised (vectorised, cache-friendly) code, so the overhead is paid once.
# - 1 point: the size of `cols`: $65{,}536 \times 27 = 1{,}769{,}472$ numbers, 9 times the input's
#   $196{,}608$, with the reason (every pixel is copied into each of the $HH \cdot WW$ windows that
#   cover it).
# - 1 point: the cost: `cols` stays in memory until the backward pass, one per layer, and grows
#   with the filter size (or: memory is traded for speed).

# %% [markdown]
# # Part 4: normalisation for feature maps
#
# ## Spatial batch normalisation
#
# In a convolutional layer every channel is one feature, computed by the same filter at every
# position. So **spatial** batch normalisation keeps one mean and one variance per channel,
# computed over the batch **and all positions**: over the `N * H * W` values of channel `c`
# (lecture 05). It has one $\gamma_c$ and one $\beta_c$ per channel, and the same train and test
# modes as in assignment 2: running averages `running_mean = momentum * running_mean + (1 -
# momentum) * mu` (and the same for the biased variance), kept in `bn_param`.

# %% nbgrader={"grade": false, "grade_id": "spatial_batchnorm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Forward pass of spatial batch normalisation.

    Inputs:
    - x: (N, C, H, W).
    - gamma, beta: (C,) scale and shift per channel.
    - bn_param: dict with "mode" ("train" or "test"), optional "eps" (1e-5), "momentum" (0.9),
      "running_mean" and "running_var" ((C,); zeros and ones when absent). In train mode, store
      the updated running averages back into bn_param.

    Returns a tuple:
    - out: (N, C, H, W).
    - cache: what spatial_batchnorm_backward needs (train mode).
    """
    mode = bn_param["mode"]
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    C = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(C, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.ones(C, dtype=x.dtype))
    out, cache = None, None
    if mode == "train":
        ### BEGIN SOLUTION
        mu = x.mean(axis=(0, 2, 3))  # (C,)
        var = x.var(axis=(0, 2, 3))  # (C,)
        inv_std = 1.0 / np.sqrt(var + eps)  # (C,)
        x_hat = (x - mu[None, :, None, None]) * inv_std[None, :, None, None]
        out = gamma[None, :, None, None] * x_hat + beta[None, :, None, None]
        cache = (x_hat, gamma, inv_std)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
        ### END SOLUTION
    elif mode == "test":
        ### BEGIN SOLUTION
        scale = gamma / np.sqrt(running_var + eps)  # (C,)
        out = (x - running_mean[None, :, None, None]) * scale[None, :, None, None] + beta[None, :, None, None]
        ### END SOLUTION
    else:
        raise ValueError(f'spatial_batchnorm_forward: bn_param["mode"] must be "train" or "test", got {mode!r}')
    bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    return out, cache


def spatial_batchnorm_backward(dout, cache):
    """Backward pass of spatial batch normalisation (train mode).

    Inputs:
    - dout: (N, C, H, W); cache: from spatial_batchnorm_forward.

    Returns a tuple:
    - dx: (N, C, H, W); dgamma: (C,); dbeta: (C,).
    """
    dx, dgamma, dbeta = None, None, None
    ### BEGIN SOLUTION
    x_hat, gamma, inv_std = cache
    N, C, H, W = dout.shape
    M = N * H * W  # values per channel
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * x_hat).sum(axis=(0, 2, 3))
    g = dout * gamma[None, :, None, None]
    dx = inv_std[None, :, None, None] / M * (
        M * g - g.sum(axis=(0, 2, 3), keepdims=True) - x_hat * (g * x_hat).sum(axis=(0, 2, 3), keepdims=True))
    ### END SOLUTION
    return dx, dgamma, dbeta


# %% nbgrader={"grade": true, "grade_id": "test_spatial_batchnorm_forward", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["spatial_batchnorm"]}
_rng = np.random.default_rng(4)
_x = 4.0 + 3.0 * _rng.normal(size=(5, 3, 4, 4))
with checking("spatial_batchnorm_forward", case="train mode, x (5, 3, 4, 4), gamma=(1, 2, 3), beta=(0, -1, 1)"):
    _out, _ = spatial_batchnorm_forward(_x, np.array([1.0, 2.0, 3.0]), np.array([0.0, -1.0, 1.0]), {"mode": "train"})
    expect_shape(_out, _x.shape, "out")
    expect_close(_out.mean(axis=(0, 2, 3)), [0.0, -1.0, 1.0], "the mean of every channel of out", atol=1e-7)
    expect_close(_out.std(axis=(0, 2, 3)), [1.0, 2.0, 3.0], "the std of every channel of out", rtol=1e-4)

# %% nbgrader={"grade": true, "grade_id": "test_spatial_batchnorm_backward", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["spatial_batchnorm"]}
_rng = np.random.default_rng(5)
_x, _g, _b = 2.0 * _rng.normal(size=(3, 2, 4, 3)) + 1.0, _rng.normal(size=2), _rng.normal(size=2)
_dout = _rng.normal(size=_x.shape)
with checking("spatial_batchnorm_backward", case="x (3, 2, 4, 3): numeric gradients",
              uses=("spatial_batchnorm_forward",)):
    _dx, _dg, _db = spatial_batchnorm_backward(_dout, spatial_batchnorm_forward(_x, _g, _b, {"mode": "train"})[1])
    _fx = lambda v: spatial_batchnorm_forward(v, _g, _b, {"mode": "train"})[0]
    _fg = lambda v: spatial_batchnorm_forward(_x, v, _b, {"mode": "train"})[0]
    _fb = lambda v: spatial_batchnorm_forward(_x, _g, v, {"mode": "train"})[0]
    expect_grad_close(_dx, eval_numerical_gradient_array(_fx, _x.copy(), _dout), "dx", tol=1e-6)
    expect_grad_close(_dg, eval_numerical_gradient_array(_fg, _g.copy(), _dout), "dgamma", tol=1e-6)
    expect_grad_close(_db, eval_numerical_gradient_array(_fb, _b.copy(), _dout), "dbeta", tol=1e-6)

# %% [markdown]
# ## Spatial group normalisation
#
# Batch statistics become unreliable when batches are small (a detector on large images may fit
# only two per batch). Group normalisation (Wu and He, 2018) normalises each **sample** on its
# own: it splits the `C` channels into `G` groups of `C / G` consecutive channels and standardises
# each group over its channels and all positions, then applies a per-channel $\gamma_c, \beta_c$.
# With `G = 1` it is layer normalisation, with `G = C` instance normalisation. It behaves the same
# in training and at test time. Reshaping `x` to `(N, G, C // G, H, W)` makes it short.

# %% nbgrader={"grade": false, "grade_id": "spatial_groupnorm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """Forward pass of spatial group normalisation.

    Inputs:
    - x: (N, C, H, W), with C divisible by G.
    - gamma, beta: (C,) scale and shift per channel.
    - G: number of groups.
    - gn_param: dict; gn_param.get("eps", 1e-5).

    Returns a tuple:
    - out: (N, C, H, W).
    - cache: what spatial_groupnorm_backward needs.

    Raises ValueError if C is not divisible by G.
    """
    eps = gn_param.get("eps", 1e-5)
    out, cache = None, None
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    if C % G:
        raise ValueError(f"spatial_groupnorm_forward: C = {C} channels cannot be split into G = {G} groups")
    xg = x.reshape(N, G, -1)  # (N, G, C // G * H * W): each row one group of one sample
    mu = xg.mean(axis=2, keepdims=True)
    inv_std = 1.0 / np.sqrt(xg.var(axis=2, keepdims=True) + eps)  # (N, G, 1)
    x_hat = ((xg - mu) * inv_std).reshape(x.shape)
    out = gamma[None, :, None, None] * x_hat + beta[None, :, None, None]
    cache = (x_hat, gamma, inv_std, G)
    ### END SOLUTION
    return out, cache


def spatial_groupnorm_backward(dout, cache):
    """Backward pass of spatial group normalisation.

    Inputs:
    - dout: (N, C, H, W); cache: from spatial_groupnorm_forward.

    Returns a tuple:
    - dx: (N, C, H, W); dgamma: (C,); dbeta: (C,).
    """
    dx, dgamma, dbeta = None, None, None
    ### BEGIN SOLUTION
    x_hat, gamma, inv_std, G = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * x_hat).sum(axis=(0, 2, 3))
    g = (dout * gamma[None, :, None, None]).reshape(N, G, -1)  # (N, G, M)
    xh = x_hat.reshape(N, G, -1)
    M = g.shape[2]
    dx = (inv_std / M * (M * g - g.sum(axis=2, keepdims=True)
                         - xh * (g * xh).sum(axis=2, keepdims=True))).reshape(dout.shape)
    ### END SOLUTION
    return dx, dgamma, dbeta


# %% nbgrader={"grade": true, "grade_id": "test_spatial_groupnorm_forward", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["spatial_groupnorm"]}
_rng = np.random.default_rng(6)
_x = 5.0 + 2.0 * _rng.normal(size=(2, 6, 3, 3))
with checking("spatial_groupnorm_forward", case="x (2, 6, 3, 3), G = 2, gamma = 1, beta = 0"):
    _out, _ = spatial_groupnorm_forward(_x, np.ones(6), np.zeros(6), 2, {})
    expect_shape(_out, _x.shape, "out")
    _groups = _out.reshape(2, 2, -1)  # (N, G, values of the group)
    expect_close(_groups.mean(axis=2), np.zeros((2, 2)), "the mean of every group of every sample", atol=1e-7)
    expect_close(_groups.std(axis=2), np.ones((2, 2)), "the std of every group of every sample", rtol=1e-4)

# %% nbgrader={"grade": true, "grade_id": "test_spatial_groupnorm_backward", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["spatial_groupnorm"]}
_rng = np.random.default_rng(7)
_x, _g, _b = 2.0 * _rng.normal(size=(2, 4, 3, 3)), _rng.normal(size=4), _rng.normal(size=4)
_dout = _rng.normal(size=_x.shape)
with checking("spatial_groupnorm_backward", case="x (2, 4, 3, 3), G = 2: numeric gradients",
              uses=("spatial_groupnorm_forward",)):
    _dx, _dg, _db = spatial_groupnorm_backward(_dout, spatial_groupnorm_forward(_x, _g, _b, 2, {})[1])
    expect_grad_close(_dx, eval_numerical_gradient_array(
        lambda v: spatial_groupnorm_forward(v, _g, _b, 2, {})[0], _x.copy(), _dout), "dx", tol=1e-6)
    expect_grad_close(_dg, eval_numerical_gradient_array(
        lambda v: spatial_groupnorm_forward(_x, v, _b, 2, {})[0], _g.copy(), _dout), "dgamma", tol=1e-6)
    expect_grad_close(_db, eval_numerical_gradient_array(
        lambda v: spatial_groupnorm_forward(_x, _g, v, 2, {})[0], _b.copy(), _dout), "dbeta", tol=1e-6)

# %% [markdown]
# **Check yourself.** Why does group normalisation give the same output for an image whether it
# is alone in its batch or among 255 others, while batch normalisation in training mode does not?
#
# <details><summary>Answer</summary>
#
# Group normalisation computes its mean and variance from the values of one sample (one group of
# its channels, over all positions), so nothing else in the batch enters its output. Batch
# normalisation in training mode uses statistics over the whole batch: change the other images and
# the mean and variance change, and with them every output. That is why batch normalisation needs
# reasonably large batches (its statistics are noisy with two or four images) and switches to
# running averages at test time, while group normalisation works the same with a batch of one.
#
# </details>

# %% [markdown]
# # Part 5: a three-layer convolutional network
#
# Now assemble a small convnet:
#
# `conv - relu - 2x2 max pool - affine - relu - affine - softmax`
#
# The convolution keeps the spatial size (stride 1, padding `(filter_size - 1) // 2` for an odd
# filter size), and the pooling halves it. Use your fast convolution and your max pooling. The
# fully connected layers, the ReLU, the softmax loss and the Adam update rule are the ones you
# wrote in assignment 2; they are given below.

# %% nbgrader={"grade": false, "grade_id": "given_layers", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Given: layers and an update rule from assignment 2.
def affine_forward(x, w, b):
    """x: (N, d_1, ..., d_k), w: (D, M), b: (M,) -> out (N, M), cache."""
    return x.reshape(x.shape[0], -1) @ w + b, (x, w, b)


def affine_backward(dout, cache):
    """dout: (N, M) -> dx (x's shape), dw (D, M), db (M,)."""
    x, w, b = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=0)


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def softmax_loss(x, y):
    """x: (N, C) scores, y: (N,) labels -> mean cross-entropy, dx (N, C)."""
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = x.shape[0]
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    return -log_probs[np.arange(N), y].mean(), dx / N


def adam(w, dw, config=None):
    """Adam update rule (assignment 2)."""
    config = {} if config is None else config
    for k, v in (("learning_rate", 1e-3), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-8)):
        config.setdefault(k, v)
    m, v, t = config.get("m", np.zeros_like(w)), config.get("v", np.zeros_like(w)), config.get("t", 0) + 1
    m = config["beta1"] * m + (1 - config["beta1"]) * dw
    v = config["beta2"] * v + (1 - config["beta2"]) * dw**2
    m_hat, v_hat = m / (1 - config["beta1"] ** t), v / (1 - config["beta2"] ** t)
    config.update(m=m, v=v, t=t)
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config


# %% nbgrader={"grade": false, "grade_id": "convnet", "locked": false, "schema_version": 3, "solution": true, "task": false}
class ThreeLayerConvNet:
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax, with L2 regularisation.

    Parameters (in self.params):
    - W1: (F, C, filter_size, filter_size), b1: (F,)   the convolution
    - W2: (F * H/2 * W/2, hidden_dim), b2: (hidden_dim,)   the hidden fully connected layer
    - W3: (hidden_dim, num_classes), b3: (num_classes,)   the score layer
    """

    def __init__(self, input_dim=(1, 8, 8), num_filters=16, filter_size=3, hidden_dim=100,
                 num_classes=10, weight_scale=1e-3, reg=0.0, dtype=np.float64, seed=None):
        """
        Inputs:
        - input_dim: (C, H, W) of one input image (H and W even).
        - num_filters: F; filter_size: the side of the square filters (odd).
        - hidden_dim: units of the hidden affine layer; num_classes: C of the scores.
        - weight_scale: std of the initial weights (normal, mean 0); biases start at 0.
        - reg: lambda of the L2 term 0.5 * reg * (sum of the squares of W1, W2, W3).
        - dtype: dtype of the parameters; seed: seeds np.random.default_rng for the weights.
        """
        self.params = {}
        self.reg = reg
        self.dtype = dtype
        self.filter_size = filter_size
        rng = np.random.default_rng(seed)
        ### BEGIN SOLUTION
        C, H, W = input_dim
        self.params["W1"] = weight_scale * rng.standard_normal((num_filters, C, filter_size, filter_size))
        self.params["b1"] = np.zeros(num_filters)
        self.params["W2"] = weight_scale * rng.standard_normal((num_filters * (H // 2) * (W // 2), hidden_dim))
        self.params["b2"] = np.zeros(hidden_dim)
        self.params["W3"] = weight_scale * rng.standard_normal((hidden_dim, num_classes))
        self.params["b3"] = np.zeros(num_classes)
        ### END SOLUTION
        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)

    def loss(self, X, y=None):
        """Scores (N, num_classes) if y is None, else (loss, grads) as in assignment 2.

        Inputs:
        - X: (N, C, H, W) images; y: (N,) int labels or None.
        """
        conv_param = {"stride": 1, "pad": (self.filter_size - 1) // 2}
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        X = X.astype(self.dtype)
        scores = None
        ### BEGIN SOLUTION
        W1, b1, W2, b2, W3, b3 = (self.params[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
        c, conv_cache = conv_forward_fast(X, W1, b1, conv_param)  # (N, F, H, W)
        r, relu1_cache = relu_forward(c)
        p, pool_cache = max_pool_forward_naive(r, pool_param)  # (N, F, H/2, W/2)
        h, fc1_cache = affine_forward(p, W2, b2)  # (N, hidden)
        hr, relu2_cache = relu_forward(h)
        scores, fc2_cache = affine_forward(hr, W3, b3)  # (N, classes)
        ### END SOLUTION
        if y is None:
            return scores
        loss, grads = 0.0, {}
        ### BEGIN SOLUTION
        loss, dscores = softmax_loss(scores, y)
        loss += 0.5 * self.reg * (np.sum(W1**2) + np.sum(W2**2) + np.sum(W3**2))
        dhr, grads["W3"], grads["b3"] = affine_backward(dscores, fc2_cache)
        dp, grads["W2"], grads["b2"] = affine_backward(relu_backward(dhr, relu2_cache), fc1_cache)
        dr = max_pool_backward_naive(dp, pool_cache)
        _, grads["W1"], grads["b1"] = conv_backward_fast(relu_backward(dr, relu1_cache), conv_cache)
        for k in ("W1", "W2", "W3"):
            grads[k] += self.reg * self.params[k]
        ### END SOLUTION
        return loss, grads


# %% nbgrader={"grade": true, "grade_id": "test_convnet", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["conv_fast", "max_pool_naive", "convnet"]}
with checking("ThreeLayerConvNet", case="input (3, 8, 8), 4 filters of 3x3, hidden 10, 5 classes: parameters"):
    _net = ThreeLayerConvNet((3, 8, 8), num_filters=4, filter_size=3, hidden_dim=10, num_classes=5, seed=0)
    _expected = {"W1": (4, 3, 3, 3), "b1": (4,), "W2": (64, 10), "b2": (10,), "W3": (10, 5), "b3": (5,)}
    if set(_net.params) != set(_expected):
        raise CheckFailed(f"params should have the keys {sorted(_expected)}, got {sorted(_net.params)}")
    for _k, _s in _expected.items():
        expect_shape(_net.params[_k], _s, f'params["{_k}"]')
with checking("ThreeLayerConvNet.loss", case="small weights: scores (6, 5), loss about ln(5)",
              uses=("conv_forward_fast", "conv_backward_fast", "max_pool_forward_naive", "max_pool_backward_naive")):
    _X, _y = np.random.default_rng(0).normal(size=(6, 3, 8, 8)), np.array([0, 1, 2, 3, 4, 0])
    expect_shape(_net.loss(_X), (6, 5), "scores")
    expect_close(_net.loss(_X, _y)[0], np.log(5.0), "loss", rtol=1e-2)

# %% nbgrader={"grade": true, "grade_id": "test_convnet_grad", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["conv_fast", "max_pool_naive", "convnet"]}
_rng = np.random.default_rng(8)
_X, _y = _rng.normal(size=(2, 2, 6, 6)), np.array([1, 3])
for _reg in (0.0, 0.5):
    with checking("ThreeLayerConvNet.loss", case=f"input (2, 6, 6), 3 filters 3x3, hidden 5, reg {_reg}: numeric gradients",
                  uses=("conv_forward_fast", "conv_backward_fast", "max_pool_forward_naive",
                        "max_pool_backward_naive")):
        _net = ThreeLayerConvNet((2, 6, 6), num_filters=3, filter_size=3, hidden_dim=5, num_classes=4,
                                 weight_scale=0.5, reg=_reg, seed=2)
        _loss, _grads = _net.loss(_X, _y)
        for _k in sorted(_net.params):
            _num = eval_numerical_gradient(lambda _v: _net.loss(_X, _y)[0], _net.params[_k])  # noqa: B023 - called at once
            expect_grad_close(_grads[_k], _num, f'grads["{_k}"]', tol=1e-5)

# %% [markdown]
# **Sanity check: overfit a small data set.** With 50 training images the network should reach
# 100% training accuracy within a few epochs, while its validation accuracy stays far lower.

# %%
small = {"X_train": data_dict["X_train"][:50], "y_train": data_dict["y_train"][:50],
         "X_val": data_dict["X_val"], "y_val": data_dict["y_val"]}
K = S["convnet"]
with needs("ThreeLayerConvNet"):
    small_net = ThreeLayerConvNet(input_shape, K["num_filters"], K["filter_size"], K["hidden_dim"],
                                  num_classes, weight_scale=K["weight_scale"], seed=0)
    small_solver = Solver(small_net, small, update_rule=adam, optim_config={"learning_rate": 5e-3},
                          num_epochs=20, batch_size=10, verbose=False, progress=False, seed=0).train()
    print(f"training accuracy {max(small_solver.train_acc_history):.2f}, "
          f"validation accuracy {small_solver.best_val_acc:.2f}")
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(small_solver.train_acc_history, "o-", label="train (50 images)")
    ax.plot(small_solver.val_acc_history, "o-", label="val")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.legend()
    plt.show()

# %% nbgrader={"grade": true, "grade_id": "test_convnet_overfit", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["conv_fast", "max_pool_naive", "convnet"]}
with checking("ThreeLayerConvNet trained with Solver and adam", case="overfitting 50 training images",
              uses=("ThreeLayerConvNet.loss", "conv_forward_fast", "conv_backward_fast", "max_pool_forward_naive",
                    "max_pool_backward_naive")):
    _net = ThreeLayerConvNet(input_shape, K["num_filters"], K["filter_size"], K["hidden_dim"], num_classes,
                             weight_scale=K["weight_scale"], seed=0)
    _rng = np.random.default_rng(99)  # initial weights drawn by the test (the same for everyone)
    for _k in ("W1", "W2", "W3"):
        _net.params[_k] = K["weight_scale"] * _rng.standard_normal(_net.params[_k].shape)
    _s = Solver(_net, small, update_rule=adam, optim_config={"learning_rate": 5e-3}, num_epochs=20,
                batch_size=10, verbose=False, progress=False, seed=0).train()
    expect_at_least(max(_s.train_acc_history), 1.0, "the best training accuracy on the 50 images")

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_overfit_small_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 3 (3 points)
#
# Look at the two curves of the 50-image run above. Describe them, and explain why the training
# accuracy gets to (or close to) 100% while the validation accuracy stays far lower. What does a
# run like this tell you about your code before you train on the whole training set, and what
# would you suspect if the training accuracy stalled well below 100%? Answer in three to five
# sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_overfit_small", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** The training accuracy climbs within a few epochs to 100% or very close to it
# (it may dip by a few images afterwards, as the steps at this learning rate stay large), while the
# validation accuracy rises only a little above chance (10% for ten classes) and then stays low
# and flat, however well the training images are fitted. The network has far more parameters than
# there are training images (its hidden layer alone has $16 \cdot 4 \cdot 4 \cdot 100 = 25{,}600$
# weights on the digits, $32 \cdot 16 \cdot 16 \cdot 100 = 819{,}200$ on CIFAR-10), so it can fit
# any labelling of 50 images: it memorises them, down to details that do not recur in other
# images. About five examples per class cannot show how much a class varies, so what fits them does
# not carry over to new images: the gap between the curves is overfitting. As a test, the run shows
# that the forward pass, the backward pass, the update rule and the learning rate work together,
# since a correct gradient drives the loss on so few images towards zero. A training accuracy that
# stalls well below 100% points to a wrong gradient in one of the layers, or a learning rate or
# weight scale far off: to be fixed before spending minutes on the full training set.
#
# **Rubric (3 points).**
# - 1 point: the curves described correctly: training accuracy to (or near) 100% within a few
#   epochs, validation accuracy low and flat, a wide gap.
# - 1 point: the explanation: many more parameters than images, so the network memorises the 50
#   images; a handful per class does not represent the class, so it does not generalise
#   (overfitting).
# - 1 point: the sanity check: fitting a tiny set shows that forward pass, gradients and updates
#   work together; a stall points to a bug in a gradient or a bad learning rate or initialisation.

# %% [markdown]
# **Train it on the whole training set.** A few epochs with Adam (the settings in `S["convnet"]`);
# the cell prints the best validation accuracy and the test accuracy. Then look at the first-layer
# filters it learned.

# %%
with needs("ThreeLayerConvNet"):
    net = ThreeLayerConvNet(input_shape, K["num_filters"], K["filter_size"], K["hidden_dim"], num_classes,
                            weight_scale=K["weight_scale"], reg=K["reg"], seed=0)
    solver = Solver(net, data_dict, update_rule=adam, optim_config={"learning_rate": K["learning_rate"]},
                    num_epochs=K["num_epochs"], batch_size=K["batch_size"], verbose=True, seed=0).train()
    test_acc_convnet = np.mean(np.argmax(net.loss(data_dict["X_test"]), axis=1) == data_dict["y_test"])
    print(f"numpy convnet: best validation accuracy {solver.best_val_acc:.3f}, "
          f"test accuracy {test_acc_convnet:.3f}")
    W1 = net.params["W1"]  # (F, C, k, k)
    filters = W1[:, 0] if W1.shape[1] == 1 else W1.transpose(0, 2, 3, 1)
    show_images(filters, ncols=min(16, len(filters)), size=0.9, suptitle="first-layer filters")
    plt.show()

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_first_layer_filters_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 4 (3 points)
#
# Look at the first-layer filters of your trained convnet above (each is stretched to its own
# range of values; on CIFAR-10 they are in colour). Describe what most of them look like. Explain
# why a first convolutional layer trained to classify learns patterns like these: what does one
# unit of this layer see, and where does it respond strongly? Why do they look less tidy than the
# edge and colour filters of AlexNet's first layer (lecture 06)? Answer in three to five
# sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_first_layer_filters", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** Most filters are split into a lighter and a darker part along some direction
# (light on the left and dark on the right, dark above and light below, or along a diagonal), a
# few look like a light or dark bar or spot, and on CIFAR-10 many are patches of mostly one colour
# (blue, green, pink) while others are light-dark edges; all of them are rather noisy. A unit of
# the first layer sees only a window of the filter's size ($3 \times 3$ pixels of a digit,
# $5 \times 5$ of a CIFAR-10 image), and its output is the dot product of the filter with that
# window, largest where the window looks like the filter. In so small a window the useful
# information is where the brightness changes and in which direction (the sides of a stroke, the
# contour of an object) and what colour a region has, so training turns the filters into oriented
# edge detectors and colour detectors, which the later layers combine into strokes and shapes.
# They are less tidy than AlexNet's because they have few weights (9 or 75, against
# $11 \cdot 11 \cdot 3 = 363$), start from random values and were trained briefly (one to three
# epochs here, against roughly 90 passes over 1.2 million images for AlexNet): nothing smooths
# them beyond what the data has asked for so far, and a $3 \times 3$ grid can show an orientation
# only coarsely.
#
# **Rubric (3 points).**
# - 1 point: a description that matches the figure: light-dark splits in various directions, bars
#   or spots, and on CIFAR-10 patches of one colour; noisy.
# - 1 point: the reason: a first-layer unit sees only a filter-sized window and responds most where
#   the window resembles the filter, so the filters become local detectors of edges (brightness
#   changes with a direction) and of colours, which later layers combine.
# - 1 point: why less tidy: few weights, a random start and a short training on little data
#   compared with AlexNet (or: nothing but the data smooths them, and a small grid shows
#   orientation coarsely).

# %% [markdown]
# # Part 6: PyTorch
#
# Writing every layer and its backward pass by hand is how you learn what they do; in practice a
# framework does it. PyTorch gives you tensors that remember how they were computed (autograd, the
# engine of lecture 04 for tensors), layers in `torch.nn`, and the update rules of lecture 03 in
# `torch.optim`. A model is a subclass of `nn.Module` that creates its layers in `__init__` and
# says how to use them in `forward`; `model(x)` calls `forward`, `loss.backward()` fills every
# parameter's `.grad`, and `optimizer.step()` updates them.
#
# ## A CNN as an `nn.Module`
#
# Design a CNN for images of shape `(in_channels, image_size, image_size)`. A good start is two or
# three blocks of `Conv2d(3x3, padding 1) - BatchNorm2d - ReLU`, a `MaxPool2d(2)` after some of
# them, then `Flatten`, optionally `Dropout`, and a `Linear` layer to the class scores. Keep it
# under two million parameters (so it trains on a CPU). On CIFAR-10's 32x32 images a layer costs
# 16 times what it costs on the 8x8 digits: pool early and keep the layers narrow (16 to 64
# channels), or one epoch over 49,000 images takes minutes on a CPU.

# %% nbgrader={"grade": false, "grade_id": "torch_cnn", "locked": false, "schema_version": 3, "solution": true, "task": false}
class DigitsCNN(nn.Module):
    """A small CNN: (N, in_channels, image_size, image_size) images -> (N, num_classes) scores."""

    def __init__(self, in_channels=1, num_classes=10, image_size=8):
        super().__init__()
        ### BEGIN SOLUTION
        def block(c_in, c_out):
            return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]

        if image_size <= 8:  # the digits: two stages of two convolutions, 8x8 -> 4x4 -> 2x2
            layers = [*block(in_channels, 32), *block(32, 32), nn.MaxPool2d(2),
                      *block(32, 64), *block(64, 64), nn.MaxPool2d(2)]
            channels, side = 64, image_size // 4
        else:  # CIFAR-10: three stages of one narrow convolution, 32 -> 16 -> 8 -> 4 (fast on a CPU)
            layers = [*block(in_channels, 16), nn.MaxPool2d(2), *block(16, 32), nn.MaxPool2d(2),
                      *block(32, 64), nn.MaxPool2d(2)]
            channels, side = 64, image_size // 8
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(channels * side * side, num_classes))
        ### END SOLUTION

    def forward(self, x):
        """x: (N, in_channels, image_size, image_size) float32 -> scores (N, num_classes)."""
        ### BEGIN SOLUTION
        return self.classifier(self.features(x))
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_torch_cnn", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["torch_cnn"]}
for _c, _size in ((1, 8), (3, 32)):
    with checking("DigitsCNN", case=f"in_channels {_c}, image_size {_size}: scores for 5 images"):
        torch.manual_seed(0)
        _m = DigitsCNN(in_channels=_c, num_classes=10, image_size=_size)
        if not isinstance(_m, nn.Module):
            raise CheckFailed("DigitsCNN must be a subclass of torch.nn.Module")
        _m.eval()
        with torch.no_grad():
            _s = _m(torch.zeros(5, _c, _size, _size))
        expect_shape(_s, (5, 10), "model(x)")
        if not any(isinstance(_l, nn.Conv2d) for _l in _m.modules()):
            raise CheckFailed("DigitsCNN has no nn.Conv2d layer: it should be a convolutional network")
        _n = sum(p.numel() for p in _m.parameters())
        if _n > 2_000_000:
            raise CheckFailed(f"DigitsCNN has {_n:,} parameters; keep it under 2,000,000")

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_receptive_field_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 5 (2 points)
#
# With the recurrence of lecture 06, $r_l = r_{l-1} + (K_l - 1)\, j_{l-1}$ and
# $j_l = j_{l-1} S_l$ (kernel size $K_l$, stride $S_l$, $r_0 = j_0 = 1$), compute layer by layer the
# receptive field of one unit of the last convolutional layer of your `DigitsCNN`, for the images
# this notebook uses. Does it cover the whole image? Say what that means for the patterns a single
# feature of that layer can respond to, and where in your network the whole image finally comes
# together. Answer in three to five sentences, with your arithmetic.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_receptive_field", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** For the reference network on the $8 \times 8$ digits (two $3 \times 3$
# convolutions, a $2 \times 2$ pooling, two more convolutions): $r = 3, 5$, then $6$ after the
# pooling, whose stride makes the jump 2, then $6 + 2 \cdot 2 = 10$ and $10 + 2 \cdot 2 = 14$. A
# unit of the last convolutional layer sees a $14 \times 14$ window, more than the whole digit
# (the rest is padding), so each of its features can respond to the digit's whole shape, such as
# a loop above a vertical stroke. On CIFAR-10's $32 \times 32$ images the reference network
# alternates one convolution and one pooling: $r = 3$, $4$ (jump 2), $4 + 2 \cdot 2 = 8$, $10$
# (jump 4), $10 + 2 \cdot 4 = 18$: an $18 \times 18$ window, a little over half the image's side,
# so a single feature there responds to a part of an object (a wheel, a head) and to its
# surroundings, not to the whole object. In both cases the whole image comes together only in the
# final `Linear` layer, which weighs every feature at every remaining position; more pooling
# stages or more layers before it would grow the field.
#
# **Rubric (2 points).**
# - 1 point: a correct layer-by-layer computation for the student's own network, with the jump
#   multiplied by every pooling or stride, compared with the image size.
# - 1 point: the meaning: a feature can respond only to patterns inside its field (parts of the
#   object if the field is smaller than the image), and the whole image is combined in the fully
#   connected layer (or a global pooling) at the end.

# %% [markdown]
# ## Your training loop
#
# Write the loop that `Solver` did for you, in PyTorch: for every epoch, shuffle the training set
# (with a `torch.Generator` seeded by `seed`, so that runs repeat), and for every minibatch compute
# the scores, the cross-entropy loss (`F.cross_entropy`), `optimizer.zero_grad()`,
# `loss.backward()`, `optimizer.step()`. Use `torch.optim.Adam` with the given learning rate and
# weight decay. After each epoch measure the validation accuracy in **evaluation mode**
# (`model.eval()` and `torch.no_grad()`: batch norm uses its running averages, dropout is off) and
# switch back with `model.train()`. Lower the learning rate along a cosine over the epochs
# (`torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)`, one `scheduler.step()`
# per epoch; lecture 03's schedules): big steps first, small ones at the end. Keep a copy of the
# weights of the epoch with the lowest **validation loss** (`copy.deepcopy(model.state_dict())`)
# and load it back at the end. (The Solver kept the best validation *accuracy*; with only 180
# validation digits, many epochs tie at 99.4% or 100% and the first of them is often not the best
# model. The loss changes with every probability, so it ranks the epochs more finely.)

# %% nbgrader={"grade": false, "grade_id": "train_model", "locked": false, "schema_version": 3, "solution": true, "task": false}
import copy


def train_model(model, X, y, X_val, y_val, epochs=10, lr=1e-3, batch_size=64, weight_decay=0.0, seed=0):
    """Train a torch model with Adam and a cosine learning-rate schedule on the cross-entropy loss;
    keep the best epoch's weights.

    Inputs:
    - model: an nn.Module mapping (B, C, H, W) float32 tensors to (B, num_classes) scores.
    - X: (N, C, H, W) and X_val: (M, C, H, W) numpy arrays; y: (N,), y_val: (M,) int labels.
    - epochs, lr, batch_size, weight_decay: the training settings.
    - seed: seeds the torch.Generator that shuffles the training set every epoch.

    Returns:
    - history: dict with "loss" (list of the minibatch losses, floats), "val_loss" and "val_acc"
      (lists of the mean validation cross-entropy and the validation accuracy in [0, 1] after
      every epoch). At return, the model holds the weights of the epoch with the lowest
      validation loss, and is in evaluation mode.
    """
    Xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    Xv, yv = torch.as_tensor(X_val, dtype=torch.float32), torch.as_tensor(y_val, dtype=torch.long)
    history = {"loss": [], "val_loss": [], "val_acc": []}
    ### BEGIN SOLUTION
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    best_loss, best_state = float("inf"), None
    for _epoch in range(epochs):
        model.train()
        order = torch.randperm(len(Xt), generator=gen)
        for i in range(0, len(Xt), batch_size):
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(model(Xt[idx]), yt[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            history["loss"].append(loss.item())
        model.eval()
        with torch.no_grad():
            scores = model(Xv)
            val_loss = F.cross_entropy(scores, yv).item()
            acc = (scores.argmax(dim=1) == yv).float().mean().item()
        history["val_loss"].append(val_loss)
        history["val_acc"].append(acc)
        scheduler.step()
        if val_loss < best_loss:
            best_loss, best_state = val_loss, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    ### END SOLUTION
    return history


# %% nbgrader={"grade": true, "grade_id": "test_train_model", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["train_model"]}
# A task a linear model solves perfectly: is the left half of a 4x4 image brighter than the right?
_rng = np.random.default_rng(9)
_Xs = _rng.normal(size=(200, 1, 4, 4)).astype(np.float32)
_ys = (_Xs[:, 0, :, :2].sum(axis=(1, 2)) > _Xs[:, 0, :, 2:].sum(axis=(1, 2))).astype(np.int64)
with checking("train_model", case="a linear model on 4x4 images, 12 epochs"):
    torch.manual_seed(0)
    _lin = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    _h = train_model(_lin, _Xs[:150], _ys[:150], _Xs[150:], _ys[150:], epochs=12, lr=0.1, batch_size=16, seed=0)
    for _key in ("loss", "val_loss", "val_acc"):
        if _key not in _h:
            raise CheckFailed(f'history has no "{_key}" (it has {sorted(_h)})')
    expect_equal(len(_h["val_acc"]), 12, 'len(history["val_acc"])')
    expect_equal(len(_h["val_loss"]), 12, 'len(history["val_loss"])')
    expect_equal(len(_h["loss"]), 12 * 10, 'len(history["loss"]) (10 minibatches of 16 per epoch)')
    if not np.mean(_h["loss"][-10:]) < 0.5 * np.mean(_h["loss"][:10]):
        raise CheckFailed(f"the loss did not fall: first batches {np.mean(_h['loss'][:10]):.3f}, "
                          f"last batches {np.mean(_h['loss'][-10:]):.3f}")
    expect_at_least(max(_h["val_acc"]), 0.96, "the best validation accuracy")

# %% [markdown]
# ## Train your CNN
#
# Train your best `DigitsCNN` with `train_model` and keep it in `torch_model`. It must reach
# `S["targets"]["torch"]` test accuracy: 98.5% on the digits (65% on CIFAR-10). Keep the training
# under a minute on the digits and under two minutes on CIFAR-10 on a CPU; the settings in
# `S["torch"]` work for the reference solution.

# %% nbgrader={"grade": false, "grade_id": "torch_best", "locked": false, "schema_version": 3, "solution": true, "task": false}
torch_model = None
torch_history = None
### BEGIN SOLUTION
torch.manual_seed(0)
TS = S["torch"]
torch_model = DigitsCNN(in_channels=input_shape[0], num_classes=num_classes, image_size=input_shape[1])
t0 = time.perf_counter()
torch_history = train_model(torch_model, data_dict["X_train"], data_dict["y_train"], data_dict["X_val"],
                            data_dict["y_val"], epochs=TS["epochs"], lr=TS["lr"], batch_size=TS["batch_size"],
                            weight_decay=1e-4, seed=0)
print(f"trained in {time.perf_counter() - t0:.1f} s")
### END SOLUTION
print("validation accuracy per epoch:", np.round(torch_history["val_acc"], 3))

# %% nbgrader={"grade": true, "grade_id": "test_torch_accuracy", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["torch_cnn", "train_model", "torch_best"]}
with checking("torch_model", case=f"test accuracy on {data.name}", uses=("DigitsCNN.forward", "train_model")):
    if torch_model is None:
        raise CheckFailed("torch_model is None: the cell above is not implemented yet. Train your DigitsCNN "
                          "there and store it in torch_model.")
    torch_model.eval()
    with torch.no_grad():
        _pred = torch_model(torch.tensor(data_dict["X_test"], dtype=torch.float32)).argmax(1).numpy()
    _acc = float(np.mean(_pred == data_dict["y_test"]))
    print(f"test accuracy of torch_model: {_acc:.4f}")
    expect_at_least(_acc, S["targets"]["torch"], "test accuracy")

# %%
with needs("torch_model", "torch_history"):
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    plot_loss_history(axes[0], torch_history["loss"], title="DigitsCNN: training loss", smooth=20)
    axes[1].plot(np.arange(1, len(torch_history["val_acc"]) + 1), torch_history["val_acc"], "o-")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("validation accuracy")
    axes[1].set_title("DigitsCNN: validation accuracy")
    plt.show()
    with torch.no_grad():
        pred = torch_model(torch.tensor(data_dict["X_test"], dtype=torch.float32)).argmax(1).numpy()
    wrong = np.flatnonzero(pred != data_dict["y_test"])[:12]
    print(f"{len(np.flatnonzero(pred != data_dict['y_test']))} of {len(pred)} test images misclassified")
    if len(wrong):
        titles = [f"{data.class_names[pred[i]]} (true {data.class_names[data.y_test[i]]})" for i in wrong]
        show_images(data.X_test[wrong], titles=titles, ncols=6, size=1.6,
                    suptitle="misclassified test images: predicted (true)")
        plt.show()

# %% [markdown]
# **Check yourself.** Your numpy convnet and your PyTorch CNN compute the same kinds of layers. Name
# three things PyTorch did for you in Part 6 that you wrote by hand in Parts 1 to 5, and one thing
# you had to remember to do yourself in PyTorch that the Solver did.
#
# <details><summary>Answer</summary>
#
# PyTorch computed every backward pass (autograd records the forward operations and runs their
# backward rules in reverse), provided fast convolutions and pooling (in C++ with vectorised
# kernels), kept the running averages of batch normalisation and switched them on in `eval()`
# mode, and implemented Adam in `torch.optim`. You had to write the loop itself: shuffling,
# batching, zeroing the gradients before each `backward()` (they accumulate otherwise),
# switching between `train()` and `eval()` modes, and keeping the best epoch's weights.
#
# </details>
#
# ## Summary
#
# - A convolutional layer is a sliding dot product: `F` filters of shape `(C, HH, WW)` give `F`
#   feature maps of size $1 + (H + 2p - HH)/s$; its backward pass sends each output's gradient back
#   along the same window.
# - Loops over positions are slow in Python; gathering the windows (im2col) turns the layer into
#   one matrix product, tens to hundreds of times faster.
# - Max pooling routes the gradient to each window's maximum; spatial batch norm normalises each
#   channel over the batch and all positions, group norm each group of channels within a sample.
# - Check every layer against numeric gradients, and a framework's result when one is at hand.
# - In PyTorch, autograd writes the backward passes; you still own the training loop's details.
#
# ## Further reading
#
# - Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, "Gradient-based learning applied to document
#   recognition", *Proceedings of the IEEE*, 1998.
# - K. Chellapilla, S. Puri and P. Simard, "High performance convolutional neural networks for
#   document processing", 2006 (convolution as a matrix product, the idea behind im2col).
# - V. Dumoulin and F. Visin, "A guide to convolution arithmetic for deep learning", 2016.
# - S. Ioffe and C. Szegedy, "Batch normalization", ICML 2015; Y. Wu and K. He, "Group
#   normalization", ECCV 2018.
# - A. Paszke et al., "PyTorch: an imperative style, high-performance deep learning library",
#   NeurIPS 2019.
# - Stanford CS231n, assignment 2 (convolutional networks, PyTorch): the assignment this one is
#   modelled on.
