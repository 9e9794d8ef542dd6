"""Tests for dlcv/recurrent/gradients.py: gradient flow through time and clipping. References:
hand-written numpy recurrences, products of forget gates, closed forms."""

import math

import numpy as np
import pytest
import torch

from dlcv.recurrent import gradients as GR


# ------------------------------------------------------------------------------------------
# recurrent_matrix and gradient_norms
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", GR.MATRIX_KINDS)
@pytest.mark.parametrize("rho", [0.5, 1.0, 1.3])
def test_recurrent_matrix_has_the_requested_spectral_radius(kind, rho):
    W = GR.recurrent_matrix(16, rho, kind, seed=3)
    eig = np.abs(np.linalg.eigvals(W))
    assert W.shape == (16, 16)
    assert eig.max() == pytest.approx(rho, rel=1e-10)
    if kind == "orthogonal":
        np.testing.assert_allclose(eig, rho, rtol=1e-10)
        np.testing.assert_allclose(W.T @ W, rho ** 2 * np.eye(16), atol=1e-12)
    np.testing.assert_array_equal(W, GR.recurrent_matrix(16, rho, kind, seed=3))


def test_recurrent_matrix_rejects_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        GR.recurrent_matrix(4, 1.0, "diagonal")
    with pytest.raises(ValueError, match="spectral_radius"):
        GR.recurrent_matrix(4, 0.0)
    with pytest.raises(ValueError, match="n must be"):
        GR.recurrent_matrix(0, 1.0)


@pytest.mark.parametrize("rho", [0.8, 1.0, 1.2])
def test_linear_orthogonal_rnn_scales_the_gradient_by_rho_per_step(rho):
    W = GR.recurrent_matrix(8, rho, "orthogonal", seed=1)
    flow = GR.gradient_norms(W, steps=20, nonlinearity="linear", seed=2)
    T = 20
    np.testing.assert_allclose(flow.grad, rho ** (T - np.arange(T + 1)), rtol=1e-10)
    np.testing.assert_allclose(flow.deriv, 1.0)
    assert flow.state.shape == (T + 1,)


def _numpy_bptt(W, steps, nonlinearity, input_scale, seed):
    """The same random draws as gradient_norms, then the backward recurrence by hand:
    g_T = u,  g_{t-1} = W^T (phi'(z_t) * g_t)."""
    n = W.shape[0]
    gen = torch.Generator().manual_seed(seed)
    x = (input_scale * torch.randn(steps, n, generator=gen, dtype=torch.float64)).numpy()
    h = (torch.randn(n, generator=gen, dtype=torch.float64) / math.sqrt(n)).numpy()
    u = torch.randn(n, generator=gen, dtype=torch.float64).numpy()
    u = u / np.linalg.norm(u)
    zs = []
    for t in range(steps):
        z = W @ h + x[t]
        zs.append(z)
        h = np.tanh(z) if nonlinearity == "tanh" else np.maximum(z, 0)
    g, norms = u, [1.0]
    for z in zs[::-1]:
        d = 1 - np.tanh(z) ** 2 if nonlinearity == "tanh" else (z > 0).astype(float)
        g = W.T @ (d * g)
        norms.append(np.linalg.norm(g))
    return np.array(norms[::-1])


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_gradient_norms_match_a_hand_written_backward_recurrence(nonlinearity):
    W = GR.recurrent_matrix(12, 1.1, "random", seed=5)
    flow = GR.gradient_norms(W, steps=15, nonlinearity=nonlinearity, input_scale=0.7, seed=4)
    ref = _numpy_bptt(W, 15, nonlinearity, 0.7, 4)
    np.testing.assert_allclose(flow.grad, ref, rtol=1e-9, atol=1e-300)


def test_tanh_shrinks_the_gradient_more_than_the_linear_rnn():
    W = GR.recurrent_matrix(32, 1.0, "orthogonal", seed=0)
    lin = GR.gradient_norms(W, 40, "linear", seed=0)
    tanh = GR.gradient_norms(W, 40, "tanh", input_scale=1.0, seed=0)
    assert lin.grad[0] == pytest.approx(1.0)
    assert tanh.grad[0] < 1e-3
    assert 0 < tanh.deriv.mean() < 1


def test_gradient_norms_rejects_bad_arguments():
    with pytest.raises(ValueError, match="square"):
        GR.gradient_norms(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="nonlinearity"):
        GR.gradient_norms(np.eye(3), nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="input_scale"):
        GR.gradient_norms(np.eye(3), input_scale=-1)


def test_the_cell_path_keeps_the_gradient_when_the_forget_gate_is_open():
    closed = GR.lstm_gradient_norms(hidden=16, steps=40, forget_bias=0.0, seed=0)
    open_ = GR.lstm_gradient_norms(hidden=16, steps=40, forget_bias=5.0, seed=0)
    assert closed.forget.mean() == pytest.approx(0.5, abs=0.1)
    assert open_.forget.mean() > 0.98
    assert open_.cell[0] > 0.1               # survives 40 steps
    assert closed.cell[0] < 1e-6             # about 0.5 ** 40
    assert open_.cell[-1] == pytest.approx(1.0) and open_.cell_path[-1] == pytest.approx(1.0)
    assert np.all(np.diff(open_.cell_path) >= 0)  # products of numbers in (0, 1)


def test_cell_path_is_the_product_of_forget_gates():
    flow = GR.lstm_gradient_norms(hidden=1, steps=6, forget_bias=1.0, input_size=2, seed=2)
    # one unit, u = +-1: the path after k steps back is the product of the last k forget gates
    f_per_step = flow.forget  # (T,) with H = 1 the mean is the gate itself
    expect = [np.prod(f_per_step[t:]) for t in range(6)] + [1.0]
    np.testing.assert_allclose(flow.cell_path, expect, rtol=1e-12)


# ------------------------------------------------------------------------------------------
# clipping and the cliff
# ------------------------------------------------------------------------------------------
def test_clip_by_norm_rescales_only_long_vectors():
    g = np.array([3.0, 4.0])
    np.testing.assert_allclose(GR.clip_by_norm(g, 1.0), [0.6, 0.8])
    np.testing.assert_allclose(GR.clip_by_norm(g, 10.0), g)
    gt = torch.tensor([[30.0, 0.0], [0.0, 40.0]])
    out = GR.clip_by_norm(gt, 5.0)
    assert isinstance(out, torch.Tensor)
    assert float(out.norm()) == pytest.approx(5.0)
    torch.testing.assert_close(out / out.norm(), gt / gt.norm())
    with pytest.raises(ValueError, match="threshold"):
        GR.clip_by_norm(g, 0.0)


def test_cliff_loss_by_hand_and_broadcasting():
    w, b = 2.0, -1.0
    x1 = w / (1 + math.exp(-0.5)) + b
    assert float(GR.cliff_loss(w, b, steps=1)) == pytest.approx((x1 - 0.7) ** 2)
    x2 = w / (1 + math.exp(-x1)) + b
    assert float(GR.cliff_loss(w, b, steps=2)) == pytest.approx((x2 - 0.7) ** 2)
    grid = GR.cliff_loss(torch.linspace(0, 6, 7)[:, None], torch.linspace(-4, 0, 5)[None, :])
    assert grid.shape == (7, 5)


def test_clipping_stops_the_jump_off_the_cliff():
    plain = GR.cliff_descent(3.0, -3.0, lr=0.5, iterations=12)
    clipped = GR.cliff_descent(3.0, -3.0, lr=0.5, iterations=12, clip=1.0)
    assert np.abs(np.diff(plain.w)).max() > 5.0           # thrown far by the wall's gradient
    assert np.abs(np.diff(clipped.w)).max() <= 0.5 + 1e-12
    assert np.abs(plain.grad).max() > 10
    assert clipped.loss[-1] < plain.loss[-1]
    assert len(plain.w) == 13 and len(plain.loss) == 13 and len(plain.grad) == 12

