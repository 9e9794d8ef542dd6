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
# # Assignment 7: seeing inside networks, attacking them, and generating images
#
# A trained classifier is a function of its input, and its gradient says which pixels matter:
# follow it to **see** what the network uses, or to **change** the picture just enough that the
# network changes its mind (lecture 16). Generative models turn the question around: instead of
# reading images they write them, by learning the distribution the training images come from
# (lecture 17). In this assignment you write, in PyTorch, the core of each method, test it, and
# at the end train a small **denoising diffusion model** that draws new handwritten digits.
#
# 1. **Seeing what a classifier uses**: the saliency map (the gradient of the class score with
#    respect to the pixels) and Grad-CAM (the gradient with respect to a convolutional layer's
#    feature maps), on the lecture's small CNN for 16x16 digits.
# 2. **Adversarial examples**: the fast gradient sign method (FGSM) and projected gradient
#    descent (PGD), untargeted and targeted. Your attacks must fool the classifier on at least
#    90% of the test digits within the budgets the notebook gives.
# 3. **The VAE's loss**: the reparameterisation trick and the negative ELBO of a Bernoulli
#    decoder with a Gaussian encoder.
# 4. **GAN losses**: the discriminator's and the non-saturating generator's losses, and the
#    least-squares GAN's.
# 5. **Denoising diffusion**: the cosine noise schedule, the forward process and the training
#    loss, one step of the reverse process and the sampler, and a training loop. You then train a
#    given denoising network on 1500 digits; at least 70% of the digits it draws must look like
#    a digit to a reference classifier, with every class drawn.
#
# Along the way, four **written questions** ask you to explain in a few sentences what a figure
# or a printed result just showed you.
#
# The data are the 1797 small digits that ship with scikit-learn (8x8 grey images): upsampled to
# 16x16 for the classifier of Parts 1-2, and at their own size, scaled to [-1, 1], for the
# diffusion model. Everything runs on a laptop CPU in about a minute.
#
# ## How to work
#
# - Run the cells from the top. Cells below a function you have not written yet stop with a message.
# - Every function has a docstring with the shapes of its inputs and outputs. Write your code where
#   it says `# YOUR CODE HERE` and delete `raise NotImplementedError()`. Keep the function names and
#   arguments.
# - Everything you write is PyTorch, on the CPU: the functions take and return `torch` tensors.
#   The maps and the attacks take their gradients with `torch.autograd.grad`: they must not leave
#   gradients behind in the model's parameters, nor change the images they are given.
# - Lecture 16's modules `dlcv.understanding.{attribution, attacks, synthesis}` and lecture 17's
#   `dlcv.generative.{autoencoders, gans, diffusion, style}` hold the lectures' own versions of
#   some of these computations. Write your own: those modules are not there when your notebook is
#   graded, so importing them fails. The classifier and its data (`dlcv.understanding.model`) and
#   the digits and reference classifier of the diffusion part (`dlcv.generative.reference`) are
#   there.
# - A failing test names the function, the case, and what was expected against what came back; a
#   passing test prints nothing, or only the figure it measured (a success rate, a score).
# - Before you submit: **Kernel > Restart Kernel and Run All Cells** (or **Validate**). Hand in
#   this notebook with its name unchanged.
# - **Self-check**, at any time: save the notebook, then run
#   `python -m autograder.selfcheck a7_understanding_generative.ipynb` in a terminal, in this
#   notebook's folder or in the course's top folder, where JupyterLab's terminal opens (or
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
# sandbox that has numpy, torch, the course's classifier and data (`dlcv.understanding.model`,
# `dlcv.generative.reference`), but not the lecture modules `dlcv.understanding.{attribution,
# attacks, synthesis}` and `dlcv.generative.{autoencoders, gans, diffusion, style}`. The grader
# calls your functions on inputs of its own: the visible cases of every test cell and **hidden**
# ones (small networks with random weights, random images and labels, the other layer for
# Grad-CAM, random means and variances, logits of $\pm 100$, other lengths of the noise
# schedule, a fixed small network for the diffusion functions, a clamping case), and compares what
# they return with the instructor's solutions and with torch's own functions (autograd,
# `torch.distributions`), outside the sandbox. For the attacks it runs your `fgsm` and `pgd` on the
# course classifier at the budgets of `SETTINGS` and computes the success rates itself. For the
# diffusion model it copies the weights of your trained `denoiser` into the given `TimeMLP`, built
# on its own side, runs **its own** sampler with it, and scores 500 samples with its own reference
# classifier: your `denoiser` must be the `TimeMLP` that the training cell below builds and trains
# (the architecture is given; the weights are yours). A test cell earns its points
# when all its cases pass, and the feedback lists every case: passed, or what was wrong. So passing
# the visible test is a good sign, not a guarantee: read each docstring carefully. Most tests call
# only the function they are about; `diffusion_loss` uses your `q_sample`, `sample` your
# `reverse_step`, and the trained denoiser nearly all of Part 5, and a failure then says when one of
# those is the cause.
#
# | Part | Functions | Points |
# |---|---|---|
# | Seeing what a classifier uses | `saliency`, `grad_cam` | 18 |
# | Adversarial examples | `fgsm`, `pgd` (untargeted and targeted) | 24 |
# | The VAE's loss | `reparameterize`, `vae_loss` | 12 |
# | GAN losses | `discriminator_loss`, `generator_loss`, `ls_discriminator_loss`, `ls_generator_loss` | 12 |
# | Denoising diffusion | `cosine_schedule`, `q_sample`, `diffusion_loss`, `reverse_step`, `sample` | 20 |
# | The trained denoiser | `train_denoiser` and all of Part 5, judged by the grader's sampler | 14 |
# | Written questions 1-4 | answers in words, graded by hand | 13 |
#
# Besides the 100 points of the test cells, the four written questions are worth 13 points. Write
# each answer in the cell below its question, marked "YOUR ANSWER HERE" (replace that text), in
# plain sentences (`$...$` math is fine). The instructor reads it as written and grades it by hand
# after the automatic grading, so no code is needed in it, and the self-check does not score it.

# %%
# %matplotlib inline
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.checks import CheckFailed, checking, expect_at_least, expect_close, expect_shape, needs
from dlcv.generative.reference import (
    NUM_TRAIN,
    digit_images,
    reference_classifier,
    score_samples,
    split_order,
)
from dlcv.plots import plot_loss_history
from dlcv.timing import cap_threads
from dlcv.understanding.model import ProbeCNN, classifier, load_images

plt.rcParams["figure.figsize"] = (8, 4)
plt.rcParams["figure.dpi"] = 90
np.set_printoptions(precision=4, suppress=True)
# The networks of this assignment are small: on such sizes a second thread costs more than it
# saves, and on a busy machine it can make training ten times slower, so torch uses one thread.
cap_threads()

# %% [markdown]
# ## Settings
#
# The budgets of the attacks and the recipe of the diffusion model, in one place. The grader
# reads this cell, so leave it as it is: your attacks are judged at these budgets, and the
# denoiser is trained with this recipe.

# %% nbgrader={"grade": false, "grade_id": "given_settings", "locked": true, "schema_version": 3, "solution": false, "task": false}
SETTINGS = {
    # Part 2: L-inf budgets (pixels in [0, 1]); PGD's step size is 2.5 * eps / steps (Madry et al.)
    "fgsm_eps": 0.3,
    "pgd_eps": 0.15, "pgd_steps": 10, "pgd_step_size": 0.0375,
    "targeted_eps": 0.25, "targeted_steps": 20, "targeted_step_size": 0.03125,
    "attack_success": 0.90,  # each attack must fool the classifier on at least this share
    # Part 5: the diffusion model and its training
    "T": 100, "train_steps": 8000, "batch_size": 128, "lr": 3e-3, "train_seed": 0,
    "num_samples": 500, "confident_target": 0.70, "min_class_count": 20,
}

# %% [markdown]
# ## The classifier and its data
#
# `load_images("digits", 16)` gives the digits upsampled to 16x16 as `(N, 1, 16, 16)` float32
# images in [0, 1], split into 1257 training, 180 validation and 360 test images (`data.X_test`,
# `data.y_test`). `classifier(seed=0)` is lecture 16's `ProbeCNN`, trained on the training images
# (a few seconds, the first time), in eval mode. Its stages are named modules, so that you can
# hand one of them to Grad-CAM:
#
# | stage | what it does | output |
# |---|---|---|
# | `model.conv1` | 5x5 convolution, ReLU, 2x2 max-pool | (N, 16, 8, 8) |
# | `model.conv2` | 3x3 convolution, ReLU | (N, 32, 8, 8) |
# | `model.conv3` | 3x3 convolution, ReLU | (N, 32, 8, 8) |
# | `model.hidden` | 2x2 max-pool, flatten, fully connected, ReLU | (N, 64) |
# | `model.fc` | fully connected | (N, 10): the class scores (logits) |

# %%
data = load_images("digits", 16)
t0 = time.perf_counter()
model = classifier(seed=0)
X_test = torch.as_tensor(data.X_test)  # (360, 1, 16, 16) float32 in [0, 1]
y_test = torch.as_tensor(data.y_test, dtype=torch.int64)  # (360,)
with torch.no_grad():
    clean_pred = model(X_test).argmax(1)
print(f"classifier ready in {time.perf_counter() - t0:.1f} s; test accuracy "
      f"{(clean_pred == y_test).float().mean():.3f} ({int((clean_pred == y_test).sum())} of {len(y_test)})")
fig, axes = plt.subplots(1, 8, figsize=(10, 1.6))
for i, ax in enumerate(axes):
    ax.imshow(X_test[i, 0], cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(f"label {int(y_test[i])}", fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# # Part 1: seeing what a classifier uses
#
# Let $s = f(x) \in \mathbb{R}^{10}$ be the network's class scores for an image $x$ (the
# **logits**, before the softmax) and $s_y$ the score of class $y$. The softmax probability of
# $y$ also depends on the other classes' scores; the score $s_y$ alone is what the class's
# evidence is, so both methods below differentiate $s_y$.
#
# **Saliency map** (Simonyan, Vedaldi and Zisserman, 2014). To first order, near $x$,
# $s_y(x + \delta) \approx s_y(x) + \nabla_x s_y \cdot \delta$: the pixels where the gradient is
# large are those whose small change moves the score most. The map is the absolute gradient, and
# for an image with several channels its largest value over the channels:
#
# $$ M_{ij} = \max_c \left| \frac{\partial s_y}{\partial x_{cij}} \right|, \qquad
#    M \in \mathbb{R}^{H \times W}. $$
#
# Compute it for a whole batch at once: the score of image $n$ depends only on image $n$, so the
# gradient of $\sum_n s_{y_n}(x_n)$ with respect to the batch holds every image's own gradient.
# Use `torch.autograd.grad(outputs, inputs)`, which returns the gradient without writing anything
# into the parameters' `.grad` (`loss.backward()` would), on a **copy** of `x` that requires a
# gradient (`x.detach().clone().requires_grad_(True)`), so that the caller's tensor is left alone.
# Return a detached tensor.

# %% nbgrader={"grade": false, "grade_id": "saliency", "locked": false, "schema_version": 3, "solution": true, "task": false}
def saliency(model, x, y):
    """Vanilla gradient saliency maps (Simonyan et al. 2014).

    Inputs:
    - model: a classifier, x (N, C, H, W) -> class scores (N, K) (logits, before the softmax).
    - x: (N, C, H, W) float32 images. Not changed.
    - y: (N,) int64 classes; the map of image n is about class y[n].

    Returns:
    - maps: (N, H, W) float32, maps[n, i, j] = max over c of |d s_{y[n]}(x[n]) / d x[n, c, i, j]|;
      detached. The model's parameters get no .grad.
    """
    maps = None
    ### BEGIN SOLUTION
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"saliency: x must be a (N, C, H, W) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != (len(x),):
        raise ValueError(f"saliency: y must be a ({len(x)},) int64 tensor, got {getattr(y, 'shape', type(y).__name__)}")
    x = x.detach().clone().requires_grad_(True)
    scores = model(x)  # (N, K)
    s_y = scores.gather(1, y.long()[:, None]).sum()  # sum of each image's own class score
    (dx,) = torch.autograd.grad(s_y, x)  # (N, C, H, W)
    maps = dx.abs().amax(dim=1).detach()  # (N, H, W)
    ### END SOLUTION
    return maps


# %% nbgrader={"grade": true, "grade_id": "test_saliency", "locked": true, "points": 8, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["saliency"]}
with checking("saliency", case="a linear model on 2-channel 2x2 images: the map is max over c of |W[y]|"):
    _lin = nn.Sequential(nn.Flatten(), nn.Linear(8, 3, bias=False))
    with torch.no_grad():
        _lin[1].weight.copy_(torch.arange(-12.0, 12.0).reshape(3, 8) / 4)
    _x = torch.rand(2, 2, 2, 2, generator=torch.Generator().manual_seed(0))
    _x0 = _x.clone()
    _y = torch.tensor([0, 2])
    _m = saliency(_lin, _x, _y)
    if not isinstance(_m, torch.Tensor):
        raise CheckFailed(f"saliency should return a torch tensor, got {type(_m).__name__}")
    expect_shape(_m, (2, 2, 2), "saliency(model, x (2, 2, 2, 2), y)")
    _W = _lin[1].weight.detach()
    expect_close(_m.numpy(), _W[_y].abs().reshape(2, 2, 2, 2).amax(1).numpy(), "maps", rtol=1e-5)
    if not torch.equal(_x, _x0):
        raise CheckFailed("saliency changed its input x; work on a copy (x.detach().clone())")
    if _lin[1].weight.grad is not None:
        raise CheckFailed("saliency left a gradient in the model's weights (.grad is set): use "
                          "torch.autograd.grad(score, x) instead of backward()")
    if _m.requires_grad:
        raise CheckFailed("saliency should return a detached tensor (.detach())")
with checking("saliency", case="a ProbeCNN with random weights, 3 images of 3 channels, 8x8: each image's own gradient"):
    _net = ProbeCNN(in_channels=3, num_classes=10, size=8, seed=3)
    _x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    _y = torch.tensor([4, 0, 9])
    _want = []
    for _n in range(3):  # one image at a time, with autograd
        _xn = _x[_n:_n + 1].clone().requires_grad_(True)
        (_gn,) = torch.autograd.grad(_net(_xn)[0, _y[_n]], _xn)
        _want.append(_gn.abs().amax(1)[0])
    expect_close(saliency(_net, _x, _y).numpy(), torch.stack(_want).numpy(), "maps", rtol=1e-4, atol=1e-7)
with checking("saliency", case="the course classifier on 4 test digits"):
    _m = saliency(model, X_test[:4], y_test[:4])
    expect_shape(_m, (4, 16, 16), "saliency(model, X_test[:4], y_test[:4])")
    if not (_m >= 0).all() or not _m.max() > 0:
        raise CheckFailed(f"the maps should be >= 0 and not all 0; min {_m.min():.3g}, max {_m.max():.3g}")

# %% [markdown]
# **Grad-CAM** (Selvaraju et al., 2017). The saliency map is as sharp as the image and as noisy
# as a gradient. Grad-CAM looks at a later layer instead: a convolutional layer's output
# $A \in \mathbb{R}^{K \times h \times w}$ holds $K$ feature maps on a coarse grid, each a
# detector of some pattern. Weigh every map by how much the class score grows with it on
# average, and keep the positive evidence:
#
# $$ \alpha_k = \frac{1}{hw} \sum_{i, j} \frac{\partial s_y}{\partial A_{kij}}, \qquad
#    L = \mathrm{ReLU}\Big( \sum_k \alpha_k A_k \Big) \in \mathbb{R}^{h \times w}. $$
#
# `layer` is one of the model's modules (for instance `model.conv3`, whose output is
# `(N, 32, 8, 8)`). To get its output, register a **forward hook**,
# `handle = layer.register_forward_hook(fn)`, which calls `fn(module, inputs, output)` every time
# the layer runs: store `output` there, run the model, and take the gradient of the class scores
# with respect to the stored output. Remove the hook with `handle.remove()` before you return, in
# a `try: ... finally: handle.remove()`, so that it is removed even when the model raises an
# error: a forgotten hook keeps running on every later call of the model. Return the map at the
# layer's resolution, without upsampling or normalising it, detached.

# %% nbgrader={"grade": false, "grade_id": "grad_cam", "locked": false, "schema_version": 3, "solution": true, "task": false}
def grad_cam(model, x, y, layer):
    """Grad-CAM maps at one layer (Selvaraju et al. 2017).

    Inputs:
    - model: a classifier, x (N, C, H, W) -> class scores (N, num_classes).
    - x: (N, C, H, W) float32 images. Not changed.
    - y: (N,) int64 classes.
    - layer: a module of model whose output A is (N, K, h, w).

    Returns:
    - maps: (N, h, w) float32, ReLU(sum_k alpha[n, k] A[n, k]) with alpha[n, k] the mean over
      (h, w) of d s_{y[n]} / d A[n, k]; detached. No hook is left on layer.
    """
    maps = None
    ### BEGIN SOLUTION
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"grad_cam: x must be a (N, C, H, W) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != (len(x),):
        raise ValueError(f"grad_cam: y must be a ({len(x)},) int64 tensor, got {getattr(y, 'shape', type(y).__name__)}")
    store = {}

    def keep_output(module, inputs, output):
        store["A"] = output

    handle = layer.register_forward_hook(keep_output)
    try:
        scores = model(x.detach().clone().requires_grad_(True))  # (N, num_classes)
    finally:
        handle.remove()
    if "A" not in store:
        raise ValueError("grad_cam: the layer did not run in the model's forward pass")
    A = store["A"]  # (N, K, h, w)
    if A.dim() != 4:
        raise ValueError(f"grad_cam: the layer must output (N, K, h, w) maps, got {tuple(A.shape)}")
    (dA,) = torch.autograd.grad(scores.gather(1, y.long()[:, None]).sum(), A)  # (N, K, h, w)
    alpha = dA.mean(dim=(2, 3))  # (N, K)
    maps = F.relu((alpha[:, :, None, None] * A).sum(dim=1)).detach()  # (N, h, w)
    ### END SOLUTION
    return maps


# %% nbgrader={"grade": true, "grade_id": "test_grad_cam", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["grad_cam"]}
class _TwoStage(nn.Module):
    """A 1x1 convolution into 2 maps [ReLU(x), ReLU(-x)], then a linear layer: a Grad-CAM by hand."""

    def __init__(self):
        super().__init__()
        self.feat = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.ReLU())
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 3, bias=False))
        with torch.no_grad():
            self.feat[0].weight.copy_(torch.tensor([1.0, -1.0]).reshape(2, 1, 1, 1))
            self.head[1].weight.copy_(torch.linspace(-1.0, 1.2, 54).reshape(3, 18))

    def forward(self, x):
        return self.head(self.feat(x))


with checking("grad_cam", case="a 1x1 convolution and a linear layer, images > 0: the map is ReLU(alpha_0) x"):
    _net = _TwoStage()
    _x = 0.1 + torch.rand(3, 1, 3, 3, generator=torch.Generator().manual_seed(1))
    _x0 = _x.clone()
    _y = torch.tensor([0, 1, 2])
    _m = grad_cam(_net, _x, _y, _net.feat)
    if not isinstance(_m, torch.Tensor):
        raise CheckFailed(f"grad_cam should return a torch tensor, got {type(_m).__name__}")
    expect_shape(_m, (3, 3, 3), "grad_cam(model, x (3, 1, 3, 3), y, layer)")
    # A = [x, 0]; dA = W[y] as two 3x3 maps; alpha_0 = the mean of its first map
    _alpha0 = _net.head[1].weight.detach()[_y].reshape(3, 2, 3, 3)[:, 0].mean((1, 2))  # (3,)
    expect_close(_m.numpy(), (F.relu(_alpha0)[:, None, None] * _x[:, 0]).numpy(), "maps", rtol=1e-5, atol=1e-7)
    if len(_net.feat._forward_hooks):
        raise CheckFailed("grad_cam left a forward hook on the layer: call handle.remove() (in a finally block)")
    if not torch.equal(_x, _x0):
        raise CheckFailed("grad_cam changed its input x")
    if _net.head[1].weight.grad is not None:
        raise CheckFailed("grad_cam left a gradient in the model's weights: use torch.autograd.grad")
with checking("grad_cam", case="the course classifier, layer model.conv3, 4 test digits"):
    _m = grad_cam(model, X_test[:4], y_test[:4], model.conv3)
    expect_shape(_m, (4, 8, 8), "grad_cam(model, X_test[:4], y_test[:4], model.conv3)")
    if not (_m >= 0).all() or _m.requires_grad:
        raise CheckFailed("the maps should be >= 0 (a ReLU) and detached")
    if len(model.conv3._forward_hooks):
        raise CheckFailed("grad_cam left a forward hook on model.conv3: call handle.remove() (in a finally block)")

# %% [markdown]
# What do the two maps show on the test digits? The image, its saliency map and its Grad-CAM
# map at `conv3` (8x8, drawn over the 16x16 image), for the class the network predicts.

# %%
show = torch.tensor([0, 1, 2, 3, 5, 8, 11, 13])
with needs("saliency", "grad_cam"):
    sal = saliency(model, X_test[show], clean_pred[show])
    cam = grad_cam(model, X_test[show], clean_pred[show], model.conv3)
    fig, axes = plt.subplots(3, len(show), figsize=(11, 4.4))
    for k, i in enumerate(show.tolist()):
        axes[0, k].imshow(X_test[i, 0], cmap="gray_r", vmin=0, vmax=1)
        axes[0, k].set_title(f"label {int(y_test[i])}, says {int(clean_pred[i])}", fontsize=8)
        axes[1, k].imshow(sal[k], cmap="hot")
        axes[2, k].imshow(X_test[i, 0], cmap="gray", vmin=0, vmax=1)
        axes[2, k].imshow(cam[k], cmap="jet", alpha=0.5, extent=(-0.5, 15.5, 15.5, -0.5),
                          interpolation="nearest")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1, 0].set_ylabel("saliency")
    axes[2, 0].set_ylabel("Grad-CAM conv3")
    plt.tight_layout()
    plt.show()
    cam2 = grad_cam(model, X_test[show], clean_pred[show], model.conv2)
    ink = X_test[show, 0] > 0.3  # (8, 16, 16): the pixels of the stroke
    print(f"share of the saliency map's mass on the stroke's pixels: {(sal * ink).sum() / sal.sum():.2f} "
          f"(the stroke covers {ink.float().mean():.2f} of the image)")
    print(f"Grad-CAM maps that are zero everywhere: conv3 {int((cam.amax((1, 2)) == 0).sum())} of {len(show)}, "
          f"conv2 {int((cam2.amax((1, 2)) == 0).sum())} of {len(show)}")

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_saliency_gradcam_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 1 (3 points)
#
# Compare the saliency maps and the Grad-CAM maps above on the same digits. At what resolution
# does each show the evidence, and what does each highlight: the stroke itself, the empty paper
# around it, a part of the digit? Which of the two would you show to someone who asks "why did
# the network say 7?", and why? Name one way in which each of the two can mislead (think of
# what a gradient measures, and of what the ReLU and the averaging of Grad-CAM throw away).
# Answer in four to six sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_saliency_gradcam", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** The saliency map is at the image's full 16x16 resolution but speckled: it is
# large on the stroke and also on the empty paper next to it, where adding ink would change the
# score (a gradient says what a small change would do, not what is there), so its mass is only
# a little more concentrated on the stroke than the stroke's share of the image (the printed
# line). The Grad-CAM map lives on conv3's 8x8 grid, so it is blocky: each cell covers 2x2 pixels
# of the image, and on this small network the bright cells often sit on a part of the digit (a
# loop, a crossing, the end of a bar) but also on the paper or the border, where the absence of
# ink is evidence too (the gap that makes a 3 not an 8). To answer "why 7?", Grad-CAM is the
# better start: it is class-discriminative and keeps only positive evidence, in regions, while
# the saliency map is noisy and, being an absolute value, mixes evidence for and against. Each
# can mislead: the saliency map is local (a saturated ReLU or max-pool gives zero gradient to a
# pixel that matters, and the sign is lost); Grad-CAM averages each map's gradient over space, so
# it cannot say where inside a map the evidence acts, the ReLU hides negative evidence (a map can
# be zero everywhere), and its coarse cells cannot say which stroke mattered.
#
# **Rubric (3 points).**
# - 1 point: resolution and content: saliency at pixel level (16x16), speckled, on and around the
#   stroke including empty paper; Grad-CAM at 8x8, coarse, on parts of the digit.
# - 1 point: a justified choice for explaining a decision (Grad-CAM: class-discriminative,
#   smooth regions of positive evidence; or saliency with a sound argument about resolution).
# - 1 point: one sound way each can mislead (saliency: a local, unsigned gradient, zero where a
#   unit saturates, noise; Grad-CAM: coarse, averaged weights, ReLU hides negative evidence, can be
#   all zero).

# %% [markdown]
# # Part 2: adversarial examples
#
# An **adversarial example** is an image $x'$ within a small distance of a correctly classified
# image $x$ that the network classifies differently. Here the distance is the $L_\infty$ norm,
# the largest change of any one pixel: $\|x' - x\|_\infty \le \varepsilon$, and $x'$ must
# remain an image, $x' \in [0, 1]$. The attacks maximise the cross-entropy loss $\ell$ of the
# true label (untargeted: any wrong answer will do) or minimise the loss of a chosen target
# class $t$ (targeted).
#
# **FGSM** (Goodfellow, Shlens and Szegedy, 2015) takes one step to the corner of the
# $\varepsilon$-ball that the linear approximation of the loss says is best:
#
# $$ x' = \mathrm{clip}_{[0,1]}\big(x + \varepsilon\, \mathrm{sign}(\nabla_x \ell(f(x), y))\big)
#    \quad\text{(untargeted)}, \qquad
#    x' = \mathrm{clip}_{[0,1]}\big(x - \varepsilon\, \mathrm{sign}(\nabla_x \ell(f(x), t))\big)
#    \quad\text{(targeted)}. $$
#
# Use `F.cross_entropy` (its batch mean is fine: the sign does not care about a positive factor)
# and `torch.autograd.grad`, on a copy of `x`; return a detached tensor and leave `x` and the
# model's `.grad` alone.

# %% nbgrader={"grade": false, "grade_id": "fgsm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def fgsm(model, x, y, eps, target=None):
    """Fast gradient sign method (Goodfellow et al. 2015), L-inf budget eps.

    Inputs:
    - model: a classifier, x (N, C, H, W) -> class scores (N, K).
    - x: (N, C, H, W) float32 images in [0, 1]. Not changed.
    - y: (N,) int64 true labels.
    - eps: the budget, a float >= 0.
    - target: None (untargeted: raise the loss of y), or (N,) int64 target classes (lower the
      loss of the target; y is then not used).

    Returns:
    - x_adv: (N, C, H, W) float32, clip(x +- eps * sign(gradient), 0, 1); detached.
    """
    x_adv = None
    ### BEGIN SOLUTION
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"fgsm: x must be a (N, C, H, W) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    x = x.detach()
    x_req = x.clone().requires_grad_(True)
    labels = (y if target is None else target).long()
    loss = F.cross_entropy(model(x_req), labels)
    (dx,) = torch.autograd.grad(loss, x_req)  # (N, C, H, W)
    direction = 1.0 if target is None else -1.0  # up the loss of y, or down the loss of the target
    x_adv = (x + direction * eps * dx.sign()).clamp(0, 1).detach()
    ### END SOLUTION
    return x_adv


# %% [markdown]
# The next cell is given: the **success rate** of an attack, the share of the test images that
# the network classifies correctly whose prediction the attack changes (untargeted), or turns
# into the target (targeted). Images the network already gets wrong do not count.

# %% nbgrader={"grade": false, "grade_id": "given_success_rate", "locked": true, "schema_version": 3, "solution": false, "task": false}
def success_rate(model, x, x_adv, y, target=None):
    """Among the images x (N, C, H, W) that model classifies as y (N,): the share whose
    prediction on x_adv is not y (target None), or is target (N,) (targeted)."""
    with torch.no_grad():
        clean, adv = model(x).argmax(1), model(x_adv).argmax(1)
    ok = clean == y
    hit = adv != y if target is None else adv == target
    return float(hit[ok].float().mean()) if ok.any() else 0.0


# %% nbgrader={"grade": true, "grade_id": "test_fgsm", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["fgsm"]}
_lin = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, bias=False))
with torch.no_grad():  # the gradient of the loss of class 0 has the sign of W[1] - W[0] = (-2, 2, -4, 0)
    _lin[1].weight.copy_(torch.tensor([[1.0, -1.0, 2.0, 0.0], [-1.0, 1.0, -2.0, 0.0]]))
_x = torch.full((1, 1, 2, 2), 0.5)
with checking("fgsm", case="a linear 2-class model, x = 0.5 everywhere, y = 0, eps = 0.1"):
    _a = fgsm(_lin, _x, torch.tensor([0]), 0.1)
    if not isinstance(_a, torch.Tensor):
        raise CheckFailed(f"fgsm should return a torch tensor, got {type(_a).__name__}")
    expect_shape(_a, (1, 1, 2, 2), "x_adv")
    expect_close(_a.reshape(-1).numpy(), [0.4, 0.6, 0.4, 0.5], "x_adv (a zero gradient leaves the pixel)",
                 rtol=1e-6)
    if not torch.equal(_x, torch.full((1, 1, 2, 2), 0.5)) or _lin[1].weight.grad is not None:
        raise CheckFailed("fgsm changed x or left a gradient in the model's weights")
with checking("fgsm", case="the same, targeted toward class 1"):
    expect_close(fgsm(_lin, _x, torch.tensor([0]), 0.1, target=torch.tensor([1])).reshape(-1).numpy(),
                 [0.4, 0.6, 0.4, 0.5], "x_adv", rtol=1e-6)
with checking("fgsm", case="x = 0.95, eps = 0.1: the result is clipped to [0, 1]"):
    expect_close(fgsm(_lin, torch.full((1, 1, 2, 2), 0.95), torch.tensor([0]), 0.1).reshape(-1).numpy(),
                 [0.85, 1.0, 0.85, 0.95], "x_adv", rtol=1e-6)
with checking("fgsm", case=f"the course classifier, the test digits, eps = {SETTINGS['fgsm_eps']}"):
    _adv = fgsm(model, X_test, y_test, SETTINGS["fgsm_eps"])
    expect_shape(_adv, tuple(X_test.shape), "x_adv")
    if not ((_adv - X_test).abs().max() <= SETTINGS["fgsm_eps"] + 1e-6 and _adv.min() >= 0 and _adv.max() <= 1):
        raise CheckFailed("x_adv must stay within eps of x (L-inf) and in [0, 1]")
    _rate = success_rate(model, X_test, _adv, y_test)
    print(f"FGSM success rate at eps {SETTINGS['fgsm_eps']}: {_rate:.3f}")
    expect_at_least(_rate, SETTINGS["attack_success"], "FGSM's success rate")

# %% [markdown]
# **PGD** (Madry et al., 2018) does not trust the linear approximation over the whole ball. It
# takes many small signed steps of size $\alpha$ and, after each, projects back into the allowed
# set, recomputing the gradient at every step:
#
# $$ x^{(k+1)} = \Pi\Big(x^{(k)} \pm \alpha\, \mathrm{sign}\big(\nabla_x \ell(f(x^{(k)}), \cdot)\big)\Big),
#    \qquad \Pi(z) = \mathrm{clip}_{[0,1]}\big(x + \mathrm{clip}_{[-\varepsilon, \varepsilon]}(z - x)\big), $$
#
# with $+$ on the loss of $y$ (untargeted) and $-$ on the loss of the target. It starts at a
# random point of the ball, $x^{(0)} = \mathrm{clip}_{[0,1]}(x + \varepsilon (2u - 1))$ with
# `u = torch.rand(x.shape, generator=generator)`, or at $x$ itself when `random_start=False`
# (then the attack is deterministic). With one step of size $\varepsilon$ and no random start,
# PGD is FGSM. Detach between the steps, so that each step's gradient is taken afresh at the
# current point.

# %% nbgrader={"grade": false, "grade_id": "pgd", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pgd(model, x, y, eps, steps, step_size, target=None, random_start=True, generator=None):
    """L-inf projected gradient descent (Madry et al. 2018).

    Inputs:
    - model: a classifier, x (N, C, H, W) -> class scores (N, K).
    - x: (N, C, H, W) float32 images in [0, 1]. Not changed.
    - y: (N,) int64 true labels.
    - eps: the L-inf budget; steps: the number of steps (int >= 1); step_size: alpha.
    - target: None (untargeted: ascend the loss of y) or (N,) int64 targets (descend their loss).
    - random_start: start at clip(x + eps * (2 u - 1), 0, 1), u = torch.rand(x.shape,
      generator=generator); otherwise at x.
    - generator: a torch.Generator for the random start (None: torch's global one).

    Returns:
    - x_adv: (N, C, H, W) float32 with |x_adv - x| <= eps everywhere and values in [0, 1]; detached.
    """
    x_adv = None
    ### BEGIN SOLUTION
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"pgd: x must be a (N, C, H, W) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    x = x.detach()
    labels = (y if target is None else target).long()
    direction = 1.0 if target is None else -1.0
    if random_start:
        x_adv = (x + eps * (2 * torch.rand(x.shape, generator=generator) - 1)).clamp(0, 1)
    else:
        x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), labels)
        (dx,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + direction * step_size * dx.sign()
        x_adv = (x + (x_adv - x).clamp(-eps, eps)).clamp(0, 1)  # project: the eps-ball, then [0, 1]
    x_adv = x_adv.detach()
    ### END SOLUTION
    return x_adv


# %% nbgrader={"grade": true, "grade_id": "test_pgd", "locked": true, "points": 7, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["pgd"]}
_lin = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, bias=False))
with torch.no_grad():  # the gradient of the loss of class 0 has the sign of W[1] - W[0] = (-2, 2, -4, 0)
    _lin[1].weight.copy_(torch.tensor([[1.0, -1.0, 2.0, 0.0], [-1.0, 1.0, -2.0, 0.0]]))
_x = torch.full((1, 1, 2, 2), 0.5)
with checking("pgd", case="no random start, one step of size eps: FGSM's answer on the linear model"):
    _a = pgd(_lin, _x, torch.tensor([0]), 0.1, steps=1, step_size=0.1, random_start=False)
    if not isinstance(_a, torch.Tensor):
        raise CheckFailed(f"pgd should return a torch tensor, got {type(_a).__name__}")
    expect_shape(_a, (1, 1, 2, 2), "x_adv")
    expect_close(_a.reshape(-1).numpy(), [0.4, 0.6, 0.4, 0.5], "x_adv", rtol=1e-6)
with checking("pgd", case="no random start, 3 steps of 0.05 within eps = 0.1: the projection stops at 0.1"):
    expect_close(pgd(_lin, _x, torch.tensor([0]), 0.1, steps=3, step_size=0.05, random_start=False)
                 .reshape(-1).numpy(), [0.4, 0.6, 0.4, 0.5], "x_adv", rtol=1e-6)
with checking("pgd", case="random start on 16 test digits: inside the ball and [0, 1], x unchanged, repeatable"):
    _x16 = X_test[:16].clone()
    _a = pgd(model, _x16, y_test[:16], 0.1, 3, 0.025, generator=torch.Generator().manual_seed(0))
    _b = pgd(model, _x16, y_test[:16], 0.1, 3, 0.025, generator=torch.Generator().manual_seed(0))
    if not ((_a - _x16).abs().max() <= 0.1 + 1e-6 and _a.min() >= 0 and _a.max() <= 1):
        raise CheckFailed(f"x_adv must stay within eps = 0.1 of x and in [0, 1]; got max |x_adv - x| = "
                          f"{(_a - _x16).abs().max():.4f}, range [{_a.min():.3f}, {_a.max():.3f}]")
    if not torch.equal(_x16, X_test[:16]):
        raise CheckFailed("pgd changed its input x")
    if not torch.equal(_a, _b):
        raise CheckFailed("two calls with generators seeded alike gave different results: draw the random "
                          "start with torch.rand(x.shape, generator=generator)")
with checking("pgd", case=f"the course classifier, the test digits, eps = {SETTINGS['pgd_eps']}, "
                          f"{SETTINGS['pgd_steps']} steps"):
    _adv = pgd(model, X_test, y_test, SETTINGS["pgd_eps"], SETTINGS["pgd_steps"], SETTINGS["pgd_step_size"],
               generator=torch.Generator().manual_seed(0))
    _rate = success_rate(model, X_test, _adv, y_test)
    print(f"PGD-{SETTINGS['pgd_steps']} success rate at eps {SETTINGS['pgd_eps']}: {_rate:.3f}")
    expect_at_least(_rate, SETTINGS["attack_success"], "PGD's success rate")

# %% [markdown]
# A **targeted** attack chooses the wrong answer: here every digit is pushed toward the next
# class, $t = (y + 1) \bmod 10$. It is harder than "anything but $y$", so `SETTINGS` gives it a
# larger budget and more steps.

# %% nbgrader={"grade": true, "grade_id": "test_pgd_targeted", "locked": true, "points": 7, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["pgd"]}
_lin = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, bias=False))
with torch.no_grad():  # the gradient of the loss of class 0 has the sign of W[1] - W[0] = (-2, 2, -4, 0)
    _lin[1].weight.copy_(torch.tensor([[1.0, -1.0, 2.0, 0.0], [-1.0, 1.0, -2.0, 0.0]]))
_x = torch.full((1, 1, 2, 2), 0.5)
with checking("pgd", case="targeted toward class 1, no random start, 3 steps of 0.05 on the linear model"):
    _a = pgd(_lin, _x, torch.tensor([0]), 0.1, steps=3, step_size=0.05, target=torch.tensor([1]),
             random_start=False)
    expect_close(_a.reshape(-1).numpy(), [0.4, 0.6, 0.4, 0.5], "x_adv", rtol=1e-6)
with checking("pgd", case="targeted, no random start: the loss of the target goes down on 16 test digits"):
    _t16 = (y_test[:16] + 1) % 10
    _a = pgd(model, X_test[:16], y_test[:16], 0.1, 5, 0.025, target=_t16, random_start=False)
    with torch.no_grad():
        _before = F.cross_entropy(model(X_test[:16]), _t16).item()
        _after = F.cross_entropy(model(_a), _t16).item()
    if not _after < _before:
        raise CheckFailed(f"the cross-entropy of the targets went from {_before:.3f} to {_after:.3f}; a "
                          "targeted attack steps DOWN the loss of the target: x - alpha sign(gradient)")
with checking("pgd", case=f"targeted toward (y + 1) mod 10, eps = {SETTINGS['targeted_eps']}, "
                                       f"{SETTINGS['targeted_steps']} steps"):
    _target = (y_test + 1) % 10
    _adv = pgd(model, X_test, y_test, SETTINGS["targeted_eps"], SETTINGS["targeted_steps"],
               SETTINGS["targeted_step_size"], target=_target, generator=torch.Generator().manual_seed(0))
    _rate = success_rate(model, X_test, _adv, y_test, target=_target)
    print(f"targeted PGD-{SETTINGS['targeted_steps']} success rate at eps {SETTINGS['targeted_eps']}: {_rate:.3f}")
    expect_at_least(_rate, SETTINGS["attack_success"], "the targeted PGD's success rate")

# %% [markdown]
# How strong is each attack at other budgets? The success rates of FGSM, PGD-10 and targeted
# PGD-20 (step size $2.5\varepsilon / \text{steps}$ each) on the test digits, with your functions:

# %%
BUDGETS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
target_test = (y_test + 1) % 10
with needs("fgsm", "pgd"):
    rates = {"FGSM": [], "PGD-10": [], "targeted PGD-20": []}
    for e in BUDGETS:
        g = torch.Generator().manual_seed(0)
        rates["FGSM"].append(success_rate(model, X_test, fgsm(model, X_test, y_test, e), y_test))
        rates["PGD-10"].append(success_rate(model, X_test, pgd(model, X_test, y_test, e, 10, 2.5 * e / 10,
                                                               generator=g), y_test))
        rates["targeted PGD-20"].append(success_rate(
            model, X_test, pgd(model, X_test, y_test, e, 20, 2.5 * e / 20, target=target_test, generator=g),
            y_test, target=target_test))
    print(f"{'eps':>5s}" + "".join(f"{name:>17s}" for name in rates))
    for k, e in enumerate(BUDGETS):
        print(f"{e:5.2f}" + "".join(f"{rates[name][k]:17.3f}" for name in rates))
    fig, ax = plt.subplots(figsize=(5.5, 3.3))
    for name, r in rates.items():
        ax.plot(BUDGETS, r, "o-", label=name)
    ax.axhline(SETTINGS["attack_success"], color="0.6", linestyle="--", linewidth=0.8)
    ax.set_xlabel(r"budget $\varepsilon$ ($L_\infty$)")
    ax.set_ylabel("success rate")
    ax.legend(fontsize=8)
    plt.show()

# %% [markdown]
# And what do the examples look like? Test digits, their FGSM, PGD and targeted PGD examples at
# the budgets of `SETTINGS`, with what the network says about each (and how sure it is).

# %%
with needs("fgsm", "pgd"):
    idx = torch.arange(6)
    xs, ys = X_test[idx], y_test[idx]
    examples = {
        "clean": xs,
        f"FGSM eps {SETTINGS['fgsm_eps']}": fgsm(model, xs, ys, SETTINGS["fgsm_eps"]),
        f"PGD eps {SETTINGS['pgd_eps']}": pgd(model, xs, ys, SETTINGS["pgd_eps"], SETTINGS["pgd_steps"],
                                             SETTINGS["pgd_step_size"], generator=torch.Generator().manual_seed(0)),
        f"to y+1, eps {SETTINGS['targeted_eps']}": pgd(
            model, xs, ys, SETTINGS["targeted_eps"], SETTINGS["targeted_steps"], SETTINGS["targeted_step_size"],
            target=(ys + 1) % 10, generator=torch.Generator().manual_seed(0)),
    }
    fig, axes = plt.subplots(len(examples), len(idx), figsize=(9, 6.4))
    for r, (name, imgs) in enumerate(examples.items()):
        with torch.no_grad():
            p = torch.softmax(model(imgs), 1)
        for k in range(len(idx)):
            ax = axes[r, k]
            ax.imshow(imgs[k, 0], cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"says {int(p[k].argmax())} ({p[k].max():.2f})", fontsize=8,
                         color="black" if int(p[k].argmax()) == int(ys[k]) else "red")
        axes[r, 0].set_ylabel(name, fontsize=8)
    plt.tight_layout()
    plt.show()

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_attacks_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 2 (3 points)
#
# Use the table of success rates above. At the same budget, why does PGD succeed on digits where
# FGSM fails (and could FGSM ever do better than PGD at the same budget)? Why does the targeted
# attack need a larger budget or more steps than the untargeted one to reach the same success
# rate? Finally, look at the adversarial examples: would a person still read the true digit, and
# what does that say about the $L_\infty$ budgets used here on 16x16 digits? Answer in four to six
# sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_attacks", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** FGSM takes a single step to the corner of the ball that the linear
# approximation of the loss at $x$ points to; the loss of a ReLU network is only piecewise linear,
# so over a budget of 0.1-0.2 the gradient changes direction and that corner is often not where
# the loss is highest. PGD takes small steps and recomputes the gradient at every one, so it
# follows the curved loss and finds a misclassified point wherever one exists that its steps reach;
# in the table it is above FGSM at every budget and reaches a success rate near 1 at budgets where
# FGSM is well below. FGSM can occasionally beat a PGD run (PGD is a local search with a random
# start and a finite number of steps), but with one step of size $\varepsilon$ and no random start
# PGD is FGSM, so a reasonable PGD is at least as strong. A targeted attack must reach one
# particular class's region, which may be far from the digit (a 1 pushed to a 2), while an
# untargeted attack may cross into whichever wrong class is closest, so at the same budget the
# targeted rate is lower, and it needs a larger $\varepsilon$ or more steps. At these budgets the
# perturbation is clearly visible on 16x16 digits (grey speckles over the whole image, up to a
# quarter or more of the grey scale), yet a person still reads the true digit; the budgets are
# large compared to those used on natural photographs (8/255), which says the digit classifier is
# easy to fool but the attacks are not imperceptible here.
#
# **Rubric (3 points).**
# - 1 point: PGD vs FGSM: one linearisation and one jump against many small steps with a fresh
#   gradient, following a nonlinear loss; PGD with one step of size eps and no random start is
#   FGSM, so it is at least as strong in general (an occasional exception is fine to mention).
# - 1 point: targeted needs more: one specific class, possibly far, against the nearest wrong
#   class, with a reference to the printed rates.
# - 1 point: the examples: the true digit is still readable, the perturbation is visible at these
#   budgets (large for 16x16 digits in [0, 1]), so these are not imperceptible attacks.

# %% [markdown]
# # Part 3: the VAE's loss
#
# A **variational autoencoder** (Kingma and Welling, 2014) has an encoder that maps an image $x$ to
# a Gaussian over codes, $q(z \mid x) = \mathcal{N}(\mu, \mathrm{diag}(\sigma^2))$ with
# $\log \sigma^2$ = `logvar`, and a decoder that maps a code $z$ to the logits of one Bernoulli
# per pixel, $p(x \mid z) = \prod_d \mathrm{Bernoulli}(x_d; \sigma(\text{logit}_d))$. It is trained
# to maximise the **evidence lower bound** (ELBO), that is to minimise, per image,
#
# $$ \underbrace{-\log p(x \mid z)}_{\text{reconstruction}} +
#    \underbrace{\mathrm{KL}\big(q(z \mid x) \,\|\, \mathcal{N}(0, I)\big)}_{\text{KL}}, \qquad
#    \mathrm{KL} = \sum_j \tfrac12 \big(\mu_j^2 + \sigma_j^2 - 1 - \log \sigma_j^2\big), $$
#
# where the reconstruction term is the binary cross-entropy of the logits against the pixels
# $x_d \in [0, 1]$, summed over the $D$ pixels, and $z$ is one sample from $q(z \mid x)$. To let
# the gradient reach $\mu$ and $\sigma$ through that sample, draw it with the
# **reparameterisation trick**: $z = \mu + \sigma \odot \varepsilon$, with
# $\varepsilon \sim \mathcal{N}(0, I)$ drawn outside the network (here it is an argument), and
# $\sigma = \exp(\text{logvar} / 2)$.
#
# `vae_loss` returns the mean over the batch of each term, and their sum. Compute the binary
# cross-entropy with `F.binary_cross_entropy_with_logits(..., reduction="none")`, which is
# stable for logits of $\pm 100$ where `torch.log(torch.sigmoid(z))` gives `-inf`.

# %% nbgrader={"grade": false, "grade_id": "vae_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def reparameterize(mu, logvar, eps):
    """A sample of N(mu, exp(logvar)) that autograd can differentiate with respect to mu and logvar.

    Inputs:
    - mu, logvar: (N, Z) the encoder's means and log-variances.
    - eps: (N, Z) standard normal noise.

    Returns:
    - z: (N, Z), mu + exp(logvar / 2) * eps.
    """
    z = None
    ### BEGIN SOLUTION
    if mu.shape != logvar.shape or mu.shape != eps.shape:
        raise ValueError(f"reparameterize: mu, logvar and eps must have one shape, got {tuple(mu.shape)}, "
                         f"{tuple(logvar.shape)} and {tuple(eps.shape)}")
    z = mu + torch.exp(logvar / 2) * eps
    ### END SOLUTION
    return z


def vae_loss(logits, x, mu, logvar):
    """The negative ELBO of a VAE with a Bernoulli decoder and a Gaussian encoder.

    Inputs:
    - logits: (N, D) the decoder's logits for each pixel.
    - x: (N, D) the images, values in [0, 1].
    - mu, logvar: (N, Z) the encoder's means and log-variances.

    Returns a tuple of three 0-dim tensors (loss, recon, kl):
    - recon: the binary cross-entropy of logits against x, summed over D, mean over N;
    - kl: sum over Z of 0.5 * (mu^2 + exp(logvar) - 1 - logvar), mean over N;
    - loss = recon + kl.
    """
    loss, recon, kl = None, None, None
    ### BEGIN SOLUTION
    if logits.shape != x.shape or logits.dim() != 2:
        raise ValueError(f"vae_loss: logits and x must both be (N, D), got {tuple(logits.shape)} and {tuple(x.shape)}")
    if mu.shape != logvar.shape or mu.dim() != 2 or len(mu) != len(x):
        raise ValueError(f"vae_loss: mu and logvar must both be ({len(x)}, Z), got {tuple(mu.shape)} and "
                         f"{tuple(logvar.shape)}")
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1).mean()
    kl = (0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)).sum(dim=1).mean()
    loss = recon + kl
    ### END SOLUTION
    return loss, recon, kl


# %% nbgrader={"grade": true, "grade_id": "test_vae_loss", "locked": true, "points": 12, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["vae_loss"]}
with checking("reparameterize", case="mu (1, 2), logvar (0, 2 ln 2), eps (1, 1): z = (2, 2 + 2)"):
    _z = reparameterize(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 2 * math.log(2.0)]]), torch.ones(1, 2))
    if not isinstance(_z, torch.Tensor):
        raise CheckFailed(f"reparameterize should return a torch tensor, got {type(_z).__name__}")
    expect_close(_z.numpy(), [[2.0, 4.0]], "z", rtol=1e-6)
with checking("reparameterize", case="the gradient reaches mu and logvar: d sum(z) / d logvar = exp(logvar / 2) eps / 2"):
    _mu = torch.zeros(2, 3, requires_grad=True)
    _lv = torch.tensor([[0.0, 1.0, -1.0], [0.5, 0.0, 2.0]], requires_grad=True)
    _eps = torch.tensor([[1.0, -1.0, 0.5], [2.0, 0.0, -0.3]])
    _gm, _gl = torch.autograd.grad(reparameterize(_mu, _lv, _eps).sum(), (_mu, _lv))
    expect_close(_gm.numpy(), np.ones((2, 3)), "d sum(z) / d mu", rtol=1e-6)
    expect_close(_gl.numpy(), (0.5 * torch.exp(_lv / 2) * _eps).detach().numpy(), "d sum(z) / d logvar", rtol=1e-5)
with checking("vae_loss", case="logits 0 (p = 1/2) on D = 3 pixels, mu = 0, logvar = 0: recon 3 ln 2, KL 0"):
    _out = vae_loss(torch.zeros(2, 3), torch.tensor([[0.0, 1.0, 0.5], [1.0, 1.0, 0.0]]), torch.zeros(2, 4),
                    torch.zeros(2, 4))
    if not (isinstance(_out, tuple) and len(_out) == 3):
        raise CheckFailed(f"vae_loss should return a tuple (loss, recon, kl), got {type(_out).__name__}")
    for _name, _v, _want in zip(("loss", "recon", "kl"), _out, (3 * math.log(2), 3 * math.log(2), 0.0)):
        if not (isinstance(_v, torch.Tensor) and _v.dim() == 0):
            raise CheckFailed(f"{_name} should be a 0-dim tensor, got {getattr(_v, 'shape', type(_v).__name__)}")
        expect_close(_v.item(), _want, _name, rtol=1e-6, atol=1e-7)
with checking("vae_loss", case="the KL term against torch.distributions, random mu and logvar (N=5, Z=4)"):
    _g = torch.Generator().manual_seed(0)
    _mu, _lv = torch.randn(5, 4, generator=_g), torch.randn(5, 4, generator=_g)
    _q = torch.distributions.Normal(_mu, torch.exp(_lv / 2))
    _p = torch.distributions.Normal(torch.zeros(5, 4), torch.ones(5, 4))
    _kl_want = torch.distributions.kl_divergence(_q, _p).sum(1).mean()
    expect_close(vae_loss(torch.zeros(5, 6), torch.rand(5, 6, generator=_g), _mu, _lv)[2].item(), _kl_want.item(),
                 "kl", rtol=1e-5)
with checking("vae_loss", case="logits of +-100: the reconstruction stays finite (100 per wrong pixel)"):
    _out = vae_loss(torch.tensor([[100.0, -100.0, 100.0]]), torch.tensor([[1.0, 1.0, 0.0]]), torch.zeros(1, 2),
                    torch.zeros(1, 2))
    expect_close(_out[1].item(), 200.0, "recon", rtol=1e-5)

# %% [markdown]
# The KL term in pictures: for one latent dimension, $\tfrac12(\mu^2 + \sigma^2 - 1 - \log
# \sigma^2)$ from your `vae_loss`, as a function of the encoder's $\mu$ and $\sigma$. It is zero
# only at $\mu = 0$, $\sigma = 1$: the prior.

# %%
with needs("vae_loss"):
    mus = torch.linspace(-3, 3, 41)
    sigmas = torch.linspace(0.1, 3, 40)
    kl_map = torch.tensor([[vae_loss(torch.zeros(1, 1), torch.zeros(1, 1), m.reshape(1, 1),
                                     (2 * torch.log(s)).reshape(1, 1))[2].item() for s in sigmas] for m in mus])
    fig, ax = plt.subplots(figsize=(5, 3.6))
    cs = ax.contourf(sigmas.numpy(), mus.numpy(), kl_map.numpy(), levels=20, cmap="viridis")
    fig.colorbar(cs, ax=ax, label="KL (nats)")
    ax.plot([1], [0], "r+", markersize=12)
    ax.set_xlabel(r"$\sigma$")
    ax.set_ylabel(r"$\mu$")
    ax.set_title("KL(N(mu, sigma^2) || N(0, 1)), one dimension")
    plt.show()

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_vae_terms_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 3 (3 points)
#
# The VAE's loss has two terms. Suppose you trained lecture 17's VAE on the digits (a) without the
# KL term, and (b) with the KL term multiplied by a large factor $\beta$ (say 20). For each, say
# what happens to the codes $\mu, \sigma$ the encoder produces, to the reconstructions of training
# digits, and to new digits drawn by decoding $z \sim \mathcal{N}(0, I)$, and explain why from the
# two terms. Answer in four to six sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_vae_terms", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** (a) Without the KL term only the reconstruction is trained, so the encoder is
# free to shrink $\sigma$ towards 0 (a noisy code only hurts the reconstruction) and to place the
# means anywhere, far apart and at any scale: the model becomes a plain autoencoder. Its
# reconstructions get sharper, but the codes do not fill $\mathcal{N}(0, I)$: they lie on a few
# islands with gaps, so most $z$ drawn from the prior fall where the decoder was never trained and
# decode to smudges or blends that are not digits. (b) With a large $\beta$ the KL term dominates:
# it pulls every $\mu$ to 0 and every $\sigma$ to 1, so codes of different digits overlap and
# carry little information about the input (in the limit the posterior equals the prior, "posterior
# collapse"). The decoder then cannot tell the digits apart from the code; reconstructions become
# blurry averages, often of the wrong digit, and samples from the prior are smooth but blurry, all
# alike. The KL term is the price of a latent space that the prior covers without gaps; the
# reconstruction term is what keeps the code informative, and $\beta$ trades one for the other.
#
# **Rubric (3 points).**
# - 1 point: (a) sigma shrinks / means spread, a plain autoencoder: sharp reconstructions.
# - 1 point: (a) samples from the prior are poor because the codes do not cover N(0, I) (holes,
#   regions the decoder never saw).
# - 1 point: (b) codes pulled to the prior and overlap (little information, posterior collapse),
#   so reconstructions and samples are blurry averages; the KL/reconstruction trade-off is named.

# %% [markdown]
# # Part 4: GAN losses
#
# A **GAN** (Goodfellow et al., 2014) trains a generator $G$ against a discriminator $D$ that
# outputs a logit $a$ per image, $D(x) = \sigma(a)$ the probability that $x$ is real. The
# discriminator minimises the binary cross-entropy of "real" on real images and of "fake" on
# generated ones; the generator, in the **non-saturating** form that every practical GAN uses,
# minimises the cross-entropy of "real" on its own images:
#
# $$ \ell_D = -\frac{1}{N}\sum_i \log \sigma(a^{\text{real}}_i)
#             -\frac{1}{M}\sum_i \log\big(1 - \sigma(a^{\text{fake}}_i)\big), \qquad
#    \ell_G = -\frac{1}{M}\sum_i \log \sigma(a^{\text{fake}}_i). $$
#
# (The two means are added, as in CS231n's assignment.) The minimax form $\log(1 - D(G(z)))$
# gives the generator almost no gradient when the discriminator rejects its images, the situation
# at the start of training; the non-saturating form gives it the most gradient then (lecture 17).
# Work on the logits with `F.binary_cross_entropy_with_logits`, which stays finite for logits of
# $\pm 100$.
#
# The **least-squares GAN** (Mao et al., 2017) replaces the cross-entropy by squared errors on
# the raw scores $a$ (no sigmoid):
#
# $$ \ell_D^{\text{LS}} = \tfrac12\, \mathrm{mean}\big((a^{\text{real}} - 1)^2\big) +
#    \tfrac12\, \mathrm{mean}\big((a^{\text{fake}})^2\big), \qquad
#    \ell_G^{\text{LS}} = \tfrac12\, \mathrm{mean}\big((a^{\text{fake}} - 1)^2\big). $$

# %% nbgrader={"grade": false, "grade_id": "gan_losses", "locked": false, "schema_version": 3, "solution": true, "task": false}
def discriminator_loss(real_logits, fake_logits):
    """The GAN discriminator's loss.

    Inputs:
    - real_logits: (N,) the discriminator's logits on real images.
    - fake_logits: (M,) its logits on generated images.

    Returns:
    - loss: 0-dim tensor, the BCE of "real" (1) on real_logits (mean) plus the BCE of "fake" (0)
      on fake_logits (mean).
    """
    loss = None
    ### BEGIN SOLUTION
    loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    ### END SOLUTION
    return loss


def generator_loss(fake_logits):
    """The non-saturating GAN generator loss.

    Inputs:
    - fake_logits: (M,) the discriminator's logits on generated images.

    Returns:
    - loss: 0-dim tensor, the BCE of "real" (1) on fake_logits, mean over M.
    """
    loss = None
    ### BEGIN SOLUTION
    loss = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    ### END SOLUTION
    return loss


# %% nbgrader={"grade": true, "grade_id": "test_gan_losses", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["gan_losses"]}
with checking("discriminator_loss", case="all logits 0 (D = 1/2 everywhere): ln 2 + ln 2"):
    _l = discriminator_loss(torch.zeros(4), torch.zeros(3))
    if not (isinstance(_l, torch.Tensor) and _l.dim() == 0):
        raise CheckFailed(f"discriminator_loss should return a 0-dim tensor, got {getattr(_l, 'shape', type(_l))}")
    expect_close(_l.item(), 2 * math.log(2), "loss", rtol=1e-6)
with checking("generator_loss", case="all logits 0: ln 2"):
    _l = generator_loss(torch.zeros(3))
    if not (isinstance(_l, torch.Tensor) and _l.dim() == 0):
        raise CheckFailed(f"generator_loss should return a 0-dim tensor, got {getattr(_l, 'shape', type(_l))}")
    expect_close(_l.item(), math.log(2), "loss", rtol=1e-6)
with checking("discriminator_loss", case="logits of +-100: a sure discriminator, a finite loss"):
    expect_close(discriminator_loss(torch.tensor([100.0, -100.0]), torch.tensor([-100.0])).item(), 50.0,
                 "D loss for real logits (100, -100), fake (-100)", rtol=1e-5)
with checking("generator_loss", case="logits of +-100: a sure discriminator, a finite loss"):
    expect_close(generator_loss(torch.tensor([-100.0, 100.0])).item(), 50.0, "G loss for fake logits (-100, 100)",
                 rtol=1e-5)
with checking("generator_loss", case="its gradient: d loss / d a_i = -(1 - sigmoid(a_i)) / M"):
    _a = torch.tensor([-3.0, 0.0, 2.0], requires_grad=True)
    (_ga,) = torch.autograd.grad(generator_loss(_a), _a)
    expect_close(_ga.numpy(), (-(1 - torch.sigmoid(_a)) / 3).detach().numpy(), "gradient", rtol=1e-5)

# %% nbgrader={"grade": false, "grade_id": "ls_gan_losses", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ls_discriminator_loss(real_scores, fake_scores):
    """The least-squares GAN discriminator's loss (Mao et al. 2017).

    Inputs:
    - real_scores: (N,) the discriminator's raw scores on real images.
    - fake_scores: (M,) its scores on generated images.

    Returns:
    - loss: 0-dim tensor, 0.5 * mean((real_scores - 1)^2) + 0.5 * mean(fake_scores^2).
    """
    loss = None
    ### BEGIN SOLUTION
    loss = 0.5 * ((real_scores - 1) ** 2).mean() + 0.5 * (fake_scores ** 2).mean()
    ### END SOLUTION
    return loss


def ls_generator_loss(fake_scores):
    """The least-squares GAN generator's loss.

    Inputs:
    - fake_scores: (M,) the discriminator's raw scores on generated images.

    Returns:
    - loss: 0-dim tensor, 0.5 * mean((fake_scores - 1)^2).
    """
    loss = None
    ### BEGIN SOLUTION
    loss = 0.5 * ((fake_scores - 1) ** 2).mean()
    ### END SOLUTION
    return loss


# %% nbgrader={"grade": true, "grade_id": "test_ls_gan_losses", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["ls_gan_losses"]}
with checking("ls_discriminator_loss", case="real scores (1, 0), fake scores (0, 1, 2)"):
    _l = ls_discriminator_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0, 2.0]))
    if not (isinstance(_l, torch.Tensor) and _l.dim() == 0):
        raise CheckFailed(f"ls_discriminator_loss should return a 0-dim tensor, got {getattr(_l, 'shape', type(_l))}")
    expect_close(_l.item(), 0.5 * (0 + 1) / 2 + 0.5 * (0 + 1 + 4) / 3, "loss", rtol=1e-6)
with checking("ls_generator_loss", case="fake scores (0, 1, 3)"):
    _l = ls_generator_loss(torch.tensor([0.0, 1.0, 3.0]))
    if not (isinstance(_l, torch.Tensor) and _l.dim() == 0):
        raise CheckFailed(f"ls_generator_loss should return a 0-dim tensor, got {getattr(_l, 'shape', type(_l))}")
    expect_close(_l.item(), 0.5 * (1 + 0 + 4) / 3, "loss", rtol=1e-6)

# %% [markdown]
# What the generator learns from each loss: the gradient of your `generator_loss` with respect to
# the discriminator's logit on one generated image, against $D(G(z)) = \sigma(a)$, next to the
# minimax loss $\log(1 - \sigma(a))$ (as `-discriminator_loss` on fakes, without its real part).
# Early in training the discriminator rejects the generator's images, $D(G(z)) \approx 0$: the
# left end of the plot.

# %%
with needs("generator_loss", "discriminator_loss"):
    a = torch.linspace(-8, 8, 161, requires_grad=True)
    ns_grad = torch.stack([torch.autograd.grad(generator_loss(a[i:i + 1]), a)[0][i] for i in range(len(a))])
    # minimax: the generator minimises log(1 - D) = -(D's loss on a fake), D's loss on a real left out
    mm_grad = torch.stack([torch.autograd.grad(
        -(discriminator_loss(torch.tensor([50.0]), a[i:i + 1])), a)[0][i] for i in range(len(a))])
    fig, ax = plt.subplots(figsize=(5.5, 3.3))
    d = torch.sigmoid(a).detach().numpy()
    ax.plot(d, ns_grad.abs().numpy(), label="non-saturating $-\\log D(G(z))$")
    ax.plot(d, mm_grad.abs().numpy(), label="minimax $\\log(1 - D(G(z)))$")
    ax.set_xlabel("D(G(z))")
    ax.set_ylabel("|d loss / d logit|")
    ax.legend(fontsize=8)
    plt.show()
    print(f"at D(G(z)) = {d[20]:.4f}: |gradient| non-saturating {ns_grad[20].abs():.4f}, "
          f"minimax {mm_grad[20].abs():.4f}")

# %% [markdown]
# # Part 5: denoising diffusion
#
# A **denoising diffusion probabilistic model** (Ho, Jain and Abbeel, 2020) destroys an image
# $x_0$ in $T$ small steps of Gaussian noise and learns to undo one step at a time. The
# **forward process** adds noise with variances $\beta_1, \dots, \beta_T$:
# $q(x_t \mid x_{t-1}) = \mathcal{N}(\sqrt{1 - \beta_t}\, x_{t-1}, \beta_t I)$. With
# $\alpha_t = 1 - \beta_t$ and $\bar\alpha_t = \prod_{s \le t} \alpha_s$, any $x_t$ can be drawn
# from $x_0$ in one go:
#
# $$ x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \varepsilon, \qquad
#    \varepsilon \sim \mathcal{N}(0, I). $$
#
# The images are in $[-1, 1]$, and $\bar\alpha_T \approx 0$, so $x_T$ is pure noise.
#
# **The cosine schedule** (Nichol and Dhariwal, 2021) chooses $\bar\alpha_t$ directly, so that it
# falls smoothly from 1 to 0 without wasting many steps on almost pure noise, as Ho et al.'s
# linear $\beta$ schedule does on small images:
#
# $$ f(t) = \cos^2\Big(\frac{t / T + s}{1 + s} \cdot \frac{\pi}{2}\Big), \qquad
#    \beta_t = \min\Big(1 - \frac{f(t)}{f(t-1)},\ 0.999\Big), \qquad t = 1, \dots, T, $$
#
# with $s = 0.008$; then $\alpha_t = 1 - \beta_t$ and $\bar\alpha_t = \prod_{s \le t}\alpha_s$
# (`torch.cumprod`), which is $f(t) / f(0)$ except where the clipping at 0.999 acts (the last
# step). Return `float64` tensors of length $T$ whose index `i` holds step $t = i + 1$: the
# arrays are 0-based, the steps 1-based, everywhere in this part.

# %% nbgrader={"grade": false, "grade_id": "cosine_schedule", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cosine_schedule(T, s=0.008):
    """The cosine noise schedule of Nichol & Dhariwal (2021).

    Inputs:
    - T: the number of diffusion steps, an int >= 1.
    - s: the small offset that keeps beta_1 from being tiny.

    Returns a tuple (betas, alphas, alpha_bars) of (T,) float64 tensors; index i holds step
    t = i + 1: betas[i] = min(1 - f(t) / f(t - 1), 0.999), alphas = 1 - betas,
    alpha_bars = the cumulative product of alphas.
    """
    betas, alphas, alpha_bars = None, None, None
    ### BEGIN SOLUTION
    if int(T) != T or T < 1:
        raise ValueError(f"cosine_schedule: T must be an int >= 1, got {T}")
    t = torch.arange(int(T) + 1, dtype=torch.float64)  # 0, 1, ..., T
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2  # (T + 1,)
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)  # (T,)
    alphas = 1 - betas
    alpha_bars = torch.cumprod(alphas, dim=0)
    ### END SOLUTION
    return betas, alphas, alpha_bars


# %% nbgrader={"grade": true, "grade_id": "test_cosine_schedule", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["cosine_schedule"]}
def _f(t, T, s=0.008):
    return math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2


with checking("cosine_schedule", case="T = 4, by hand"):
    _out = cosine_schedule(4)
    if not (isinstance(_out, tuple) and len(_out) == 3):
        raise CheckFailed(f"cosine_schedule should return a tuple (betas, alphas, alpha_bars), got {type(_out).__name__}")
    _b, _al, _ab = _out
    for _name, _v in (("betas", _b), ("alphas", _al), ("alpha_bars", _ab)):
        if not isinstance(_v, torch.Tensor) or _v.dtype != torch.float64:
            raise CheckFailed(f"{_name} should be a float64 torch tensor, got "
                              f"{getattr(_v, 'dtype', type(_v).__name__)}")
        expect_shape(_v, (4,), _name)
    _want = [min(1 - _f(t, 4) / _f(t - 1, 4), 0.999) for t in range(1, 5)]
    expect_close(_b.numpy(), _want, "betas", rtol=1e-9)
    expect_close(_al.numpy(), 1 - np.array(_want), "alphas", rtol=1e-9)
    expect_close(_ab.numpy(), np.cumprod(1 - np.array(_want)), "alpha_bars", rtol=1e-9)
with checking("cosine_schedule", case="T = 100: alpha_bars falls from near 1 to near 0, betas <= 0.999"):
    _b, _al, _ab = cosine_schedule(100)
    if not ((_ab[1:] < _ab[:-1]).all() and _ab[0] > 0.99 and _ab[-1] < 1e-3 and _b.max() <= 0.999):
        raise CheckFailed(f"alpha_bars should decrease from about 1 to about 0; got alpha_bars[0] = {_ab[0]:.4f}, "
                          f"alpha_bars[-1] = {_ab[-1]:.2e}, max beta {_b.max():.4f}")

# %% [markdown]
# **The training loss.** The network $\varepsilon_\theta(x_t, t)$ learns to predict the noise
# that was added: pick an image $x_0$, a step $t$ uniformly in $\{1, \dots, T\}$ and a noise
# $\varepsilon$, make $x_t$ with `q_sample`, and regress (Ho et al.'s "simple" loss)
#
# $$ L = \big\| \varepsilon - \varepsilon_\theta(x_t, t) \big\|^2, $$
#
# averaged over all the elements of the batch. `q_sample` gets the steps as an `(N,)` int64
# tensor `t` with values in $1..T$ (so $\bar\alpha_t$ is `alpha_bars[t - 1]`), one per image;
# `alpha_bars` is float64 and the images float32: return float32 (convert the coefficients, and
# shape them `(N, 1, 1, 1)` to broadcast). The model is called as `model(x_t, t)`.

# %% nbgrader={"grade": false, "grade_id": "diffusion_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def q_sample(x0, t, eps, alpha_bars):
    """Draw x_t from q(x_t | x_0) in one go.

    Inputs:
    - x0: (N, 1, 8, 8) float32 clean images in [-1, 1].
    - t: (N,) int64 steps in 1..T.
    - eps: (N, 1, 8, 8) float32 standard normal noise.
    - alpha_bars: (T,) float64, alpha_bars[t - 1] is abar_t.

    Returns:
    - x_t: (N, 1, 8, 8) float32, sqrt(abar_t) x0 + sqrt(1 - abar_t) eps.
    """
    x_t = None
    ### BEGIN SOLUTION
    if x0.shape != eps.shape or not isinstance(t, torch.Tensor) or tuple(t.shape) != (len(x0),):
        raise ValueError(f"q_sample: x0 and eps must have one shape (N, ...) and t must be (N,), got "
                         f"{tuple(x0.shape)}, {tuple(eps.shape)} and {getattr(t, 'shape', type(t).__name__)}")
    ab = torch.as_tensor(alpha_bars, dtype=torch.float64)[t.long() - 1]  # (N,)
    shape = (-1,) + (1,) * (x0.dim() - 1)
    x_t = ab.sqrt().to(x0.dtype).view(shape) * x0 + (1 - ab).sqrt().to(x0.dtype).view(shape) * eps
    ### END SOLUTION
    return x_t


def diffusion_loss(model, x0, t, eps, alpha_bars):
    """Ho et al.'s simple loss on one batch.

    Inputs:
    - model: the denoiser, model(x_t (N, 1, 8, 8), t (N,) int64) -> eps_hat (N, 1, 8, 8).
    - x0, t, eps, alpha_bars: as in q_sample.

    Returns:
    - loss: 0-dim tensor, the mean over all elements of (model(x_t, t) - eps)^2.
    """
    loss = None
    ### BEGIN SOLUTION
    loss = ((model(q_sample(x0, t, eps, alpha_bars), t) - eps) ** 2).mean()
    ### END SOLUTION
    return loss


# %% nbgrader={"grade": true, "grade_id": "test_diffusion_loss", "locked": true, "points": 7, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["diffusion_loss"]}
class _Scale(nn.Module):
    """eps_hat = w * x_t: a denoiser with one weight, to check the loss and its gradient."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(float(w)))

    def forward(self, x, t):
        return self.w * x


_abar = torch.tensor([0.64, 0.36], dtype=torch.float64)  # sqrt: 0.8 and 0.6
_g = torch.Generator().manual_seed(0)
_x0, _eps = torch.rand(2, 1, 8, 8, generator=_g) * 2 - 1, torch.randn(2, 1, 8, 8, generator=_g)
_t = torch.tensor([1, 2])
with checking("q_sample", case="alpha_bars (0.64, 0.36), t = (1, 2): x_t = 0.8 x0 + 0.6 eps, 0.6 x0 + 0.8 eps"):
    _xt = q_sample(_x0, _t, _eps, _abar)
    if not isinstance(_xt, torch.Tensor) or _xt.dtype != torch.float32:
        raise CheckFailed(f"q_sample should return a float32 tensor, got {getattr(_xt, 'dtype', type(_xt).__name__)}")
    expect_shape(_xt, (2, 1, 8, 8), "x_t")
    expect_close(_xt.numpy(), torch.stack([0.8 * _x0[0] + 0.6 * _eps[0], 0.6 * _x0[1] + 0.8 * _eps[1]]).numpy(),
                 "x_t", rtol=1e-5, atol=1e-6)
with checking("diffusion_loss", case="a one-weight denoiser eps_hat = w x_t, w = 0.5: value and gradient",
              uses=("q_sample",)):
    _net = _Scale(0.5)
    _l = diffusion_loss(_net, _x0, _t, _eps, _abar)
    if not (isinstance(_l, torch.Tensor) and _l.dim() == 0):
        raise CheckFailed(f"diffusion_loss should return a 0-dim tensor, got {getattr(_l, 'shape', type(_l))}")
    _xt_want = torch.stack([0.8 * _x0[0] + 0.6 * _eps[0], 0.6 * _x0[1] + 0.8 * _eps[1]])
    expect_close(_l.item(), ((0.5 * _xt_want - _eps) ** 2).mean().item(), "loss", rtol=1e-5)
    (_gw,) = torch.autograd.grad(_l, _net.w)
    expect_close(_gw.item(), (2 * (0.5 * _xt_want - _eps) * _xt_want).mean().item(), "d loss / d w", rtol=1e-4)

# %% [markdown]
# **One reverse step.** To go back from $x_t$ to $x_{t-1}$, the network's noise prediction
# $\hat\varepsilon = \varepsilon_\theta(x_t, t)$ gives a guess of the clean image, by solving the
# forward equation for $x_0$, and **clamped** to the data's range:
#
# $$ \hat x_0 = \mathrm{clip}_{[-1, 1]}\Big(\frac{x_t - \sqrt{1 - \bar\alpha_t}\,\hat\varepsilon}
#    {\sqrt{\bar\alpha_t}}\Big). $$
#
# Then $x_{t-1}$ is drawn from the Gaussian posterior of the forward process given $x_t$ and that
# guess, $q(x_{t-1} \mid x_t, \hat x_0) = \mathcal{N}(\tilde\mu, \tilde\beta_t I)$:
#
# $$ \tilde\mu = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1 - \bar\alpha_t}\, \hat x_0 +
#    \frac{\sqrt{\alpha_t}\,(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t}\, x_t, \qquad
#    \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\, \beta_t, \qquad
#    x_{t-1} = \tilde\mu + \sqrt{\tilde\beta_t}\, z, $$
#
# with $\bar\alpha_0 = 1$ and $z \sim \mathcal{N}(0, I)$; at the last step, $t = 1$, return
# $\tilde\mu$ without noise. (Without the clamp, $\tilde\mu$ is Ho et al.'s equation 11,
# $\frac{1}{\sqrt{\alpha_t}}\big(x_t - \frac{\beta_t}{\sqrt{1 - \bar\alpha_t}}\hat\varepsilon\big)$;
# with it, a wild noise prediction cannot push the sample out of the data's range.)
#
# `reverse_step` gets one python int `t` for the whole batch; call the model with
# `torch.full((N,), t)` (int64), under `torch.no_grad()`. `sample` draws
# $x_T \sim \mathcal{N}(0, I)$ of shape `(n, 1, 8, 8)` and runs `reverse_step` for
# $t = T, T-1, \dots, 1$, every noise from `generator` (`torch.randn(..., generator=generator)`),
# and clamps the result to $[-1, 1]$.

# %% nbgrader={"grade": false, "grade_id": "reverse_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def reverse_step(model, x_t, t, z, betas, alpha_bars):
    """One step of the reverse process, x_t -> x_{t-1}, with the clamped x0 guess.

    Inputs:
    - model: the denoiser, model(x (N, 1, 8, 8), t (N,) int64) -> eps_hat (N, 1, 8, 8).
    - x_t: (N, 1, 8, 8) float32.
    - t: a python int in 1..T, the same step for the whole batch.
    - z: (N, 1, 8, 8) standard normal noise (not used at t = 1).
    - betas, alpha_bars: (T,) float64 from cosine_schedule; index t - 1 holds step t.

    Returns:
    - x_prev: (N, 1, 8, 8) float32, mu_tilde + sqrt(beta_tilde) z for t > 1, mu_tilde at t = 1.
    """
    x_prev = None
    ### BEGIN SOLUTION
    t = int(t)
    if not 1 <= t <= len(betas):
        raise ValueError(f"reverse_step: t must be in 1..{len(betas)}, got {t}")
    beta = float(betas[t - 1])
    ab = float(alpha_bars[t - 1])
    ab_prev = float(alpha_bars[t - 2]) if t > 1 else 1.0  # abar_0 = 1
    with torch.no_grad():
        eps_hat = model(x_t, torch.full((len(x_t),), t, dtype=torch.int64))  # (N, 1, 8, 8)
        x0_hat = ((x_t - math.sqrt(1 - ab) * eps_hat) / math.sqrt(ab)).clamp(-1, 1)
        mu = (math.sqrt(ab_prev) * beta / (1 - ab)) * x0_hat + (math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab)) * x_t
        if t == 1:
            x_prev = mu.float()
        else:
            var = (1 - ab_prev) / (1 - ab) * beta  # beta_tilde
            x_prev = (mu + math.sqrt(var) * z).float()
    ### END SOLUTION
    return x_prev


def sample(model, n, betas, alpha_bars, generator):
    """Ancestral sampling: x_T ~ N(0, I), then reverse_step for t = T, ..., 1.

    Inputs:
    - model: the denoiser; n: the number of samples.
    - betas, alpha_bars: (T,) float64 from cosine_schedule.
    - generator: a torch.Generator for x_T and every z, drawn in this order:
      x_T = torch.randn(n, 1, 8, 8, generator=generator) first, then before each step
      t = T, ..., 2 its z = torch.randn(n, 1, 8, 8, generator=generator); no draw at t = 1 (z is
      ignored there: pass zeros). So a generator seeded alike gives the same samples as the
      instructor's.

    Returns:
    - x: (n, 1, 8, 8) float32 samples, clamped to [-1, 1].
    """
    x = None
    ### BEGIN SOLUTION
    T = len(betas)
    x = torch.randn(n, 1, 8, 8, generator=generator)
    for t in range(T, 0, -1):
        z = torch.randn(n, 1, 8, 8, generator=generator) if t > 1 else torch.zeros(n, 1, 8, 8)
        x = reverse_step(model, x, t, z, betas, alpha_bars)
    x = x.clamp(-1, 1)
    ### END SOLUTION
    return x


# %% nbgrader={"grade": true, "grade_id": "test_reverse_step", "locked": true, "points": 8, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["reverse_step"]}
class _Zero(nn.Module):
    """A denoiser that predicts no noise: eps_hat = 0, so x0_hat = clip(x_t / sqrt(abar_t))."""

    def forward(self, x, t):
        if not (isinstance(t, torch.Tensor) and t.dtype == torch.int64 and t.shape == (len(x),)):
            raise CheckFailed(f"the model should be called with t as a ({len(x)},) int64 tensor, got "
                              f"{getattr(t, 'dtype', type(t).__name__)} {tuple(getattr(t, 'shape', ()))}")
        return torch.zeros_like(x)


_betas = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
_abars = torch.cumprod(1 - _betas, 0)  # 0.9, 0.72, 0.504
_g = torch.Generator().manual_seed(0)
_xt, _z = 0.4 * torch.randn(3, 1, 8, 8, generator=_g), torch.randn(3, 1, 8, 8, generator=_g)
with checking("reverse_step", case="t = 2 of 3, eps_hat = 0"):
    _xp = reverse_step(_Zero(), _xt, 2, _z, _betas, _abars)
    if not isinstance(_xp, torch.Tensor) or _xp.dtype != torch.float32:
        raise CheckFailed(f"reverse_step should return a float32 tensor, got {getattr(_xp, 'dtype', type(_xp).__name__)}")
    expect_shape(_xp, (3, 1, 8, 8), "x_{t-1}")
    _x0h = (_xt / math.sqrt(0.72)).clamp(-1, 1)
    _mu = math.sqrt(0.9) * 0.2 / 0.28 * _x0h + math.sqrt(0.8) * 0.1 / 0.28 * _xt
    expect_close(_xp.numpy(), (_mu + math.sqrt(0.1 / 0.28 * 0.2) * _z).numpy(), "x_{t-1}", rtol=1e-5, atol=1e-6)
with checking("reverse_step", case="t = 1: no noise; with abar_0 = 1 the mean is x0_hat itself"):
    expect_close(reverse_step(_Zero(), _xt, 1, _z, _betas, _abars).numpy(),
                 (_xt / math.sqrt(0.9)).clamp(-1, 1).numpy(), "x_0", rtol=1e-5, atol=1e-6)
with checking("reverse_step", case="t = 3, x_t = 10 everywhere: x0_hat is clamped to 1"):
    _big = torch.full((1, 1, 8, 8), 10.0)
    _mu = math.sqrt(0.72) * 0.3 / (1 - 0.504) * 1.0 + math.sqrt(0.7) * (1 - 0.72) / (1 - 0.504) * 10.0
    expect_close(reverse_step(_Zero(), _big, 3, torch.zeros(1, 1, 8, 8), _betas, _abars).numpy(),
                 np.full((1, 1, 8, 8), _mu), "x_{t-1} (z = 0)", rtol=1e-5)
with checking("sample", case="5 samples with the zero denoiser: shape, range, repeatable", uses=("reverse_step",)):
    _s = sample(_Zero(), 5, _betas, _abars, torch.Generator().manual_seed(3))
    if not isinstance(_s, torch.Tensor):
        raise CheckFailed(f"sample should return a torch tensor, got {type(_s).__name__}")
    expect_shape(_s, (5, 1, 8, 8), "sample(model, 5, ...)")
    if not (_s.min() >= -1 and _s.max() <= 1):
        raise CheckFailed(f"the samples should be clamped to [-1, 1], got [{_s.min():.3f}, {_s.max():.3f}]")
    if not torch.equal(_s, sample(_Zero(), 5, _betas, _abars, torch.Generator().manual_seed(3))):
        raise CheckFailed("two calls with generators seeded alike gave different samples: draw x_T and every z "
                          "with torch.randn(..., generator=generator)")
with checking("sample", case="the zero denoiser, T = 3: your reverse_step applied to x_T, then with each z, in "
              "the docstring's order", uses=("reverse_step",)):
    _s = sample(_Zero(), 5, _betas, _abars, torch.Generator().manual_seed(3))
    _g = torch.Generator().manual_seed(3)
    _want = torch.randn(5, 1, 8, 8, generator=_g)
    for _t in (3, 2, 1):
        _z = torch.randn(5, 1, 8, 8, generator=_g) if _t > 1 else torch.zeros(5, 1, 8, 8)
        _want = reverse_step(_Zero(), _want, _t, _z, _betas, _abars)
    expect_close(_s.numpy(), _want.clamp(-1, 1).numpy(), "samples", rtol=1e-5, atol=1e-6)

# %% [markdown]
# **Training.** `train_denoiser` fits a denoiser with Adam at learning rate `lr`, decayed to 0 by
# a cosine over the `steps` steps
# (`torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)`, one `scheduler.step()` after
# every optimiser step). Every step draws a batch of `batch_size` images from `X` with
# replacement (`torch.randint(0, len(X), (batch_size,), generator=generator)`), a step `t` for
# each uniformly in $1..T$ with $T$ = `len(alpha_bars)`, and the noise `eps`, all from
# `generator`, and takes one gradient step on your `diffusion_loss`. Return the list of the
# losses (python floats, `loss.item()`), one per step.

# %% nbgrader={"grade": false, "grade_id": "train_denoiser", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_denoiser(model, X, alpha_bars, steps, batch_size, lr, generator):
    """Train a denoiser with Ho et al.'s simple loss.

    Inputs:
    - model: the denoiser (an nn.Module), trained in place.
    - X: (M, 1, 8, 8) float32 training images in [-1, 1].
    - alpha_bars: (T,) float64 from cosine_schedule.
    - steps, batch_size: ints; lr: Adam's initial learning rate (cosine-decayed to 0).
    - generator: a torch.Generator for the batches, the steps t and the noise.

    Returns:
    - losses: a list of `steps` python floats, the loss of every step.
    """
    losses = []
    ### BEGIN SOLUTION
    T = len(alpha_bars)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(X), (batch_size,), generator=generator)
        x0 = X[idx]  # (B, 1, 8, 8)
        t = torch.randint(1, T + 1, (batch_size,), generator=generator)  # (B,) in 1..T
        eps = torch.randn(x0.shape, generator=generator)
        loss = diffusion_loss(model, x0, t, eps, alpha_bars)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    model.eval()
    ### END SOLUTION
    return losses


# %% [markdown]
# ## The denoiser
#
# The next cell is given: the network $\varepsilon_\theta(x_t, t)$ you train. It is a multilayer
# perceptron on the 64 pixels with three residual layers; the step $t$ enters through a
# sinusoidal **time embedding** (the positional encoding of transformers, on $t / T$), projected
# and added into every residual layer, so that each layer knows how noisy its input is. The
# training cell prints its number of parameters.

# %% nbgrader={"grade": false, "grade_id": "given_denoiser", "locked": true, "schema_version": 3, "solution": false, "task": false}
def time_embedding(t, dim=32, T=100):
    """Sinusoidal features of the steps t (N,) in 1..T: (N, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half) / half)  # (half,)
    a = (t.float() / T * 1000)[:, None] * freqs[None] / 10  # (N, half)
    return torch.cat([a.sin(), a.cos()], dim=1)


class TimeMLP(nn.Module):
    """The denoiser eps_theta(x_t, t): x (N, 1, 8, 8) in about [-1, 1] and t (N,) int64 in 1..T
    -> the predicted noise (N, 1, 8, 8). The time embedding is added into every residual layer."""

    def __init__(self, T, hidden=256, depth=3):
        super().__init__()
        self.T = T
        self.temb = nn.Sequential(nn.Linear(32, hidden), nn.SiLU())
        self.inp = nn.Linear(64, hidden)
        self.layers = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth))
        self.tproj = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth))
        self.out = nn.Linear(hidden, 64)

    def forward(self, x, t):
        e = self.temb(time_embedding(t, 32, self.T))  # (N, hidden)
        h = self.inp(x.flatten(1))  # (N, hidden)
        for lin, tp in zip(self.layers, self.tproj):
            h = h + lin(F.silu(h + tp(e)))  # a residual layer, the time added in
        return self.out(F.silu(h)).view(x.shape)


# %% [markdown]
# The diffusion data: the 1797 digits at their own 8x8 size, scaled to $[-1, 1]$, and the 1500
# of them that the reference classifier was trained on (`split_order(0)[:NUM_TRAIN]`). First the
# schedule and the forward process on one digit, with your functions:

# %%
X_sym, y_sym = digit_images("symmetric")  # (1797, 1, 8, 8) float32 in [-1, 1], (1797,)
X_train = torch.as_tensor(X_sym[split_order(0)[:NUM_TRAIN]])  # (1500, 1, 8, 8)
print(f"diffusion training digits: {tuple(X_train.shape)}, values in [{X_train.min():.0f}, {X_train.max():.0f}]")
betas, alphas, alpha_bars = None, None, None
with needs("cosine_schedule", "q_sample"):
    betas, alphas, alpha_bars = cosine_schedule(SETTINGS["T"])
    T = SETTINGS["T"]
    lin_betas = torch.linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T, dtype=torch.float64)  # Ho et al.'s, scaled to T
    fig, ax = plt.subplots(figsize=(5, 3))
    steps_t = np.arange(1, T + 1)
    ax.plot(steps_t, alpha_bars.numpy(), label="cosine (yours)")
    ax.plot(steps_t, torch.cumprod(1 - lin_betas, 0).numpy(), label="linear betas (Ho et al.)")
    ax.set_xlabel("t")
    ax.set_ylabel(r"$\bar\alpha_t$ (signal variance kept)")
    ax.legend(fontsize=8)
    plt.show()
    show_t = [1, 10, 25, 50, 75, 90, 100]
    g = torch.Generator().manual_seed(0)
    x0 = X_train[:1].expand(len(show_t), 1, 8, 8)
    xt = q_sample(x0, torch.tensor(show_t), torch.randn(x0.shape, generator=g), alpha_bars)
    fig, axes = plt.subplots(1, len(show_t) + 1, figsize=(9, 1.6))
    axes[0].imshow(x0[0, 0], cmap="gray_r", vmin=-1, vmax=1)
    axes[0].set_title("$x_0$", fontsize=9)
    for k, t in enumerate(show_t):
        axes[k + 1].imshow(xt[k, 0].clamp(-1, 1), cmap="gray_r", vmin=-1, vmax=1)
        axes[k + 1].set_title(f"t = {t}", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.suptitle("one digit through the forward process (your q_sample; shown clipped to [-1, 1])", fontsize=9)
    plt.show()

# %% [markdown]
# Train the denoiser with the recipe of `SETTINGS`: 8000 steps of 128 digits, under a minute on
# a laptop (one CPU thread). `torch.manual_seed` before building the network makes its initial
# weights the same for everyone. **`denoiser` is the network the grader samples from**: keep the
# name, and do not train it further after this cell.

# %%
denoiser, losses = None, None
with needs("cosine_schedule", "diffusion_loss", "train_denoiser"):
    torch.manual_seed(SETTINGS["train_seed"])
    denoiser = TimeMLP(SETTINGS["T"])
    t0 = time.perf_counter()
    losses = train_denoiser(denoiser, X_train, alpha_bars, SETTINGS["train_steps"], SETTINGS["batch_size"],
                            SETTINGS["lr"], torch.Generator().manual_seed(SETTINGS["train_seed"]))
    denoiser_train_seconds = time.perf_counter() - t0
    print(f"TimeMLP, {sum(p.numel() for p in denoiser.parameters()):,} parameters, trained in "
          f"{denoiser_train_seconds:.1f} s; loss over the last 200 steps {np.mean(losses[-200:]):.4f}")
    fig, ax = plt.subplots(figsize=(6, 3))
    plot_loss_history(ax, losses, title="the denoiser's training loss", smooth=100)
    ax.set_yscale("log")
    plt.show()

# %% [markdown]
# Now draw 500 digits with your `sample` and let the reference classifier judge them
# (`reference_classifier(seed=0)`, an MLP trained on the same 1500 real digits and on noise
# images it should be unsure of; `score_samples` counts the samples it labels with a
# confidence of at least 0.9, and the histogram of the classes it gives them).

# %%
ref_clf = reference_classifier(seed=0)
print(f"the reference classifier on the 297 real digits it has not seen: accuracy {ref_clf.test_accuracy:.3f}, "
      f"confident on {ref_clf.test_confident:.3f}")
samples, score = None, None
with needs("sample", "reverse_step", "train_denoiser"):
    t0 = time.perf_counter()
    samples = sample(denoiser, SETTINGS["num_samples"], betas, alpha_bars, torch.Generator().manual_seed(1))
    score = score_samples(((samples + 1) / 2).numpy(), ref_clf)
    samples_confident = score.confident  # the share the reference classifier is sure of
    print(f"{len(samples)} samples in {time.perf_counter() - t0:.1f} s: {score}")

# %% nbgrader={"grade": true, "grade_id": "test_trained_denoiser", "locked": true, "points": 14, "schema_version": 3, "solution": false, "task": false} dlcv={"requires": ["cosine_schedule", "diffusion_loss", "train_denoiser"]}
_uses = ("cosine_schedule", "q_sample", "diffusion_loss", "reverse_step", "sample", "train_denoiser")
_HINT = ("What to check: (1) q_sample uses alpha_bars[t - 1] and diffusion_loss compares the model's output with "
         "eps, not with x0; (2) train_denoiser draws t in 1..T (torch.randint(1, T + 1, ...)), calls "
         "optimizer.zero_grad() every step and steps the scheduler; (3) reverse_step clamps x0_hat to [-1, 1], "
         "uses abar_{t-1} (1 at t = 1) and adds no noise at t = 1; (4) the training loss above should fall "
         "steadily over the whole run.")
with checking("the trained denoiser", case=f"{SETTINGS['num_samples']} samples: at least "
                                         f"{SETTINGS['confident_target']:.0%} confident, every class at least "
                                         f"{SETTINGS['min_class_count']} times", uses=_uses):
    if score is None:  # the training or the sampling stopped: find out which function is missing
        _b, _al, _ab = cosine_schedule(SETTINGS["T"])
        _net = TimeMLP(SETTINGS["T"])
        train_denoiser(_net, X_train[:8], _ab, 1, 4, 1e-3, torch.Generator().manual_seed(0))
        sample(_net, 2, _b, _ab, torch.Generator().manual_seed(0))
        raise CheckFailed("score is None: run the training cell and the sampling cell above; they should finish "
                          "without an error")
    print(f"{score.confident:.1%} confident, rarest class {int(score.histogram.min())} of {len(samples)}")
    if not score.confident >= SETTINGS["confident_target"]:
        raise CheckFailed(f"{score.confident:.1%} of the samples are confident digits; at least "
                          f"{SETTINGS['confident_target']:.0%} are needed. " + _HINT)
    if not score.histogram.min() >= SETTINGS["min_class_count"]:
        raise CheckFailed(f"the rarest class has {int(score.histogram.min())} samples; every class should have at "
                          f"least {SETTINGS['min_class_count']}. " + _HINT)

# %% [markdown]
# The samples (the first 60), with the reference classifier's label over each (grey where it is
# less than 0.9 sure), and the histogram of its labels over all the samples against the 50 of
# each class a generator with uniform classes would give:

# %%
with needs("sample"):
    fig = plt.figure(figsize=(12, 4.4))
    grid = fig.add_gridspec(6, 16, wspace=0.15, hspace=0.45)
    for k in range(60):
        ax = fig.add_subplot(grid[k // 10, k % 10])
        ax.imshow(samples[k, 0], cmap="gray_r", vmin=-1, vmax=1)
        sure = score.confidence[k] >= 0.9
        ax.set_title(str(score.labels[k]), fontsize=7, color="black" if sure else "0.6", pad=1)
        ax.axis("off")
    ax = fig.add_subplot(grid[:, 11:])
    ax.bar(np.arange(10), score.histogram, color="tab:blue")
    ax.axhline(len(samples) / 10, color="0.5", linestyle="--", linewidth=0.8)
    ax.set_xticks(np.arange(10))
    ax.set_xlabel("label given by the reference classifier")
    ax.set_title(f"{score.confident:.1%} confident")
    plt.show()

# %% [markdown]
# How much does the clamp of $\hat x_0$ matter? The next cell samples the same trained network
# with the same noise, but with the unclamped mean (Ho et al.'s equation 11) in every step, and
# scores both.

# %%
@torch.no_grad()
def sample_unclamped(model, n, betas, alpha_bars, generator):
    """Ancestral sampling with Ho et al.'s eq. 11 mean (no clamp of x0_hat); the noise as in sample."""
    x = torch.randn(n, 1, 8, 8, generator=generator)
    for t in range(len(betas), 0, -1):
        z = torch.randn(n, 1, 8, 8, generator=generator) if t > 1 else torch.zeros(n, 1, 8, 8)
        beta, ab = float(betas[t - 1]), float(alpha_bars[t - 1])
        ab_prev = float(alpha_bars[t - 2]) if t > 1 else 1.0
        eps_hat = model(x, torch.full((n,), t, dtype=torch.int64))
        x = (x - beta / math.sqrt(1 - ab) * eps_hat) / math.sqrt(1 - beta)
        if t > 1:
            x = x + math.sqrt((1 - ab_prev) / (1 - ab) * beta) * z
    return x.clamp(-1, 1)


with needs("sample", "train_denoiser"):
    score_eq11 = score_samples(((sample_unclamped(denoiser, SETTINGS["num_samples"], betas, alpha_bars,
                                                  torch.Generator().manual_seed(1)) + 1) / 2).numpy(), ref_clf)
    print(f"clamped x0_hat (your sample): {score}")
    print(f"unclamped (eq. 11):           {score_eq11}")

# %% [markdown] nbgrader={"grade": false, "grade_id": "written_diffusion_question", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Written question 4 (4 points)
#
# Look at the samples, the histogram and the two scores above. (a) Why does clamping $\hat x_0$
# to $[-1, 1]$ in every reverse step change the samples, and why does it help most at the large
# $t$ of the first steps? (b) The grade asks for a share of confident samples **and** a minimum
# count for every class. What failure of a generator would the confident share alone not catch,
# and how would it show in the histogram? (c) Name one thing the reference classifier's score
# cannot see even with the histogram, and one way you could measure it. Answer in five to seven
# sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_diffusion", "locked": false, "points": 4, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** (a) At large $t$ the image is almost pure noise and $\bar\alpha_t$ is tiny, so
# $\hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\hat\varepsilon)/\sqrt{\bar\alpha_t}$ divides a
# small error of the noise prediction by a small number: the unclamped guess can be far outside
# the data's range, and the posterior mean, which is a mix of $\hat x_0$ and $x_t$, inherits it;
# errors made early are carried through all later steps and show at the end as grainy or
# saturated pixels. Clamping keeps every guess a possible image, so the sampler never leaves the
# region the network was trained on; in the run above the clamped sampler scores higher than the
# unclamped one (the two printed figures; the exact gap depends on the run). (b) A generator that
# collapses onto a few modes, for example one that draws mostly 1s and 7s, or even one perfect digit
# over and over, can have a very high confident share; the histogram shows it as a few tall bars
# and classes near zero, which the minimum class count rejects. (c) The score cannot see variety
# within a class (500 copies of the same 3 in the right proportions would pass) nor whether the
# model merely copies its training digits; one could measure the distance of every sample to its
# nearest training digit (memorisation), the spread of samples within a class, or a Fréchet
# distance between features of real and generated digits (FID).
#
# **Rubric (4 points).**
# - 1 point: (a) dividing by a small $\sqrt{\bar\alpha_t}$ at large $t$ amplifies the error of
#   $\hat\varepsilon$, so the unclamped $\hat x_0$ leaves the data range and the error propagates.
# - 1 point: (a) clamping keeps the guess a valid image and the sampler on the data's range,
#   with a reference to the printed scores.
# - 1 point: (b) mode collapse (few classes, or one image repeated) passes the confident share;
#   the histogram shows few tall bars and near-empty classes, which the class minimum catches.
# - 1 point: (c) a blind spot (diversity within a class, copying training digits, quality beyond
#   what one classifier's confidence says) and a sensible measure (nearest-neighbour distance to
#   the training set, within-class spread, FID).

# %% [markdown]
# **Check yourself.**
#
# 1. Saliency uses the logit $s_y$, not the softmax probability $p_y$. How would the map of a
#    digit the network is very sure about change if you used $p_y$?
# 2. Why is the targeted success rate computed only over the images the network classifies
#    correctly?
# 3. In `vae_loss`, why is the reconstruction term summed over the pixels but averaged over the
#    batch?
# 4. In `train_denoiser`, why draw a new $t$ for every image of the batch instead of one $t$ per
#    batch?
#
# <details><summary>Answer</summary>
#
# 1. $p_y$ saturates: $\nabla_x p_y = p_y \big(\nabla_x s_y - \sum_k p_k \nabla_x s_k\big)$, and when
#    $p_y \approx 1$ the bracket nearly cancels, so the map would be tiny everywhere and shaped as
#    much by the other classes' scores (what lowers them) as by the evidence for $y$; the logit
#    has no such saturation.
# 2. An image the network already gets wrong needs no attack, and a "success" on it would say
#    nothing about the attack; counting only correct images measures what the attack achieved.
# 3. The ELBO is a bound on the log-likelihood of one image, which is a sum over its pixels (they
#    are independent Bernoullis given $z$); the batch is only an estimate of the expectation over
#    images, hence the mean. Averaging over the pixels would scale the reconstruction down by $D$
#    against the KL term and change the trade-off between the two.
# 4. The loss is an expectation over $t$; one $t$ per image gives a less noisy estimate of it
#    (every batch sees many noise levels), and the gradient does not jump between all-easy and
#    all-hard batches.
#
# </details>
#
# ## Summary
#
# - A saliency map is the absolute gradient of the class score with respect to the pixels:
#   sharp but noisy and local. Grad-CAM weighs a layer's feature maps by their mean gradient:
#   coarse, class-discriminative regions.
# - FGSM takes one signed-gradient step of size $\varepsilon$; PGD takes many small steps, each
#   projected back into the $\varepsilon$-ball and $[0, 1]$, and is at least as strong. Targeted
#   attacks need more budget than untargeted ones.
# - A VAE minimises the reconstruction loss plus the KL term to the prior; the
#   reparameterisation trick $z = \mu + \sigma \varepsilon$ lets gradients reach the encoder.
# - GAN losses are binary cross-entropies on the discriminator's logits; the non-saturating
#   generator loss keeps the gradient alive when the discriminator wins. LSGAN uses squared errors.
# - A diffusion model learns to predict the noise added to an image at a random step; sampling
#   runs the reverse process from pure noise, one posterior step at a time, with the clean-image
#   guess clamped to the data's range.
#
# ## Further reading
#
# - K. Simonyan, A. Vedaldi and A. Zisserman, "Deep inside convolutional networks: visualising
#   image classification models and saliency maps", ICLR workshop 2014.
# - R. R. Selvaraju et al., "Grad-CAM: visual explanations from deep networks via gradient-based
#   localization", ICCV 2017.
# - I. Goodfellow, J. Shlens and C. Szegedy, "Explaining and harnessing adversarial examples",
#   ICLR 2015.
# - A. Madry, A. Makelov, L. Schmidt, D. Tsipras and A. Vladu, "Towards deep learning models
#   resistant to adversarial attacks", ICLR 2018.
# - D. P. Kingma and M. Welling, "Auto-encoding variational Bayes", ICLR 2014.
# - I. Goodfellow et al., "Generative adversarial nets", NeurIPS 2014.
# - X. Mao et al., "Least squares generative adversarial networks", ICCV 2017.
# - J. Ho, A. Jain and P. Abbeel, "Denoising diffusion probabilistic models", NeurIPS 2020.
# - A. Nichol and P. Dhariwal, "Improved denoising diffusion probabilistic models", ICML 2021.
# - Stanford CS231n, assignment 3 (saliency, adversarial examples, GANs) and its lectures on
#   visualising CNNs and generative models.
