"""dlcv.optimization.landscapes: surface values and minima, torch.optim paths against hand-written updates,
divergence handling and argument errors."""

import numpy as np
import pytest
import torch

from dlcv.gradcheck import eval_numerical_gradient, rel_error
from dlcv.optimization import landscapes as L


# --------------------------------------------------------------------------------------------
# Surfaces
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, point, value", [
    ("banana", (1.0, 1.0), 0.0),
    ("banana", (-1.2, 1.0), 2.2**2 + 10 * (1 - 1.44) ** 2),
    ("banana", (0.0, 0.0), 1.0),
    ("classic Rosenbrock", (-1.2, 1.0), 2.2**2 + 100 * (1 - 1.44) ** 2),
    ("ill-conditioned bowl", (2.0, 1.0), 0.5 * (4 + 25)),
    ("saddle", (0.0, 0.0), 0.25),
    ("saddle", (1.0, 1.0), 0.5),
    ("four minima", (0.0, 0.0), 121.0 + 49.0),
    ("four minima", (3.0, 2.0), 0.0),
])
def test_surface_values(name, point, value):
    assert L.get_surface(name).value(point) == pytest.approx(value, abs=1e-12)


@pytest.mark.parametrize("name", list(L.SURFACES))
def test_known_minima_are_minima(name):
    s = L.SURFACES[name]
    for m in s.minima:
        g = L.gradient(s, m)
        assert np.linalg.norm(g) < 1e-3, f"{name}: gradient {g} at minimum {m}"
        eig = np.linalg.eigvalsh(L.hessian(s, m))
        assert np.all(eig > 0), f"{name}: Hessian at {m} is not positive definite: {eig}"
        # and nothing nearby is lower
        ring = np.array(m) + 1e-2 * np.stack([np.cos(np.linspace(0, 6.28, 16)),
                                              np.sin(np.linspace(0, 6.28, 16))], 1)
        assert np.all(s.value(ring) > s.value(m))
    for p in s.saddles:
        assert np.linalg.norm(L.gradient(s, p)) < 1e-12
        eig = np.linalg.eigvalsh(L.hessian(s, p))
        assert eig.min() < 0 < eig.max()
    for start in s.starts.values():
        xmin, xmax, ymin, ymax = s.box
        assert xmin <= start[0] <= xmax and ymin <= start[1] <= ymax


def test_gradient_and_hessian_by_hand():
    p = np.array([-1.2, 1.0])
    x, y = p
    # banana, b = 10: df/dx = -2(1 - x) - 40 x (y - x^2), df/dy = 20 (y - x^2)
    expect = np.array([-2 * (1 - x) - 40 * x * (y - x**2), 20 * (y - x**2)])
    np.testing.assert_allclose(L.gradient("banana", p), expect, rtol=1e-12)
    num = eval_numerical_gradient(lambda q: L.SURFACES["banana"].value(q), p.copy())
    assert rel_error(num, expect) < 1e-8
    H = L.hessian("banana", p)
    np.testing.assert_allclose(H, [[2 - 40 * (y - 3 * x**2), -40 * x], [-40 * x, 20]], rtol=1e-12)
    np.testing.assert_allclose(L.hessian("ill-conditioned bowl", (3.0, -1.0)), np.diag([1.0, 25.0]))


def test_grid_values_and_levels():
    xs, ys, Z = L.grid_values("four minima", steps=31)
    assert xs.shape == ys.shape == (31,) and Z.shape == (31, 31)
    s = L.SURFACES["four minima"]
    assert Z[7, 20] == pytest.approx(s.value((xs[20], ys[7])))
    assert (xs[0], xs[-1], ys[0], ys[-1]) == s.box
    lv = L.contour_levels(s, Z, n=12)
    assert lv.shape == (12,) and np.all(np.diff(lv) > 0) and lv[0] > 0
    np.testing.assert_allclose(np.diff(np.log(lv)), np.log(lv[1] / lv[0]))  # log-spaced
    with pytest.raises(ValueError, match="steps must be an int >= 2"):
        L.grid_values("banana", steps=1)


def test_nearest_minimum():
    i, d = L.nearest_minimum("four minima", (-2.0, 3.0))
    assert i == 1 and d == pytest.approx(np.hypot(0.805118, 0.131312), rel=1e-6)


# --------------------------------------------------------------------------------------------
# Optimizer paths
# --------------------------------------------------------------------------------------------
def test_sgd_on_the_bowl_is_the_closed_form():
    lr, steps, x0 = 0.05, 30, np.array([-4.5, 2.0])
    path, losses = L.trajectory("ill-conditioned bowl", "SGD", x0, steps, lr)
    t = np.arange(steps + 1)
    expect = np.stack([(1 - lr * L.QUAD_A) ** t * x0[0], (1 - lr * L.QUAD_B) ** t * x0[1]], 1)
    assert path.shape == (steps + 1, 2) and losses.shape == (steps + 1,)
    np.testing.assert_allclose(path, expect, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(losses, 0.5 * (expect[:, 0] ** 2 + 25 * expect[:, 1] ** 2),
                               rtol=1e-12, atol=1e-14)
    assert np.all(np.sign(path[1:, 1]) == (-1.0) ** t[1:])  # the zig-zag across the valley


def _hand_run(grad, p0, steps, rule):
    """Apply an update rule written out by hand; rule(p, g, state, t) -> new p."""
    p, state, out = np.array(p0, dtype=np.float64), {}, [np.array(p0, dtype=np.float64)]
    for t in range(1, steps + 1):
        p = rule(p, grad(p), state, t)
        out.append(p.copy())
    return np.array(out)


def _momentum(lr, mu, nesterov=False):
    def rule(p, g, st, t):  # torch.optim.SGD's form: v = mu v + g; p -= lr v (or lr (g + mu v))
        st["v"] = g.copy() if t == 1 else mu * st["v"] + g
        return p - lr * (g + mu * st["v"] if nesterov else st["v"])
    return rule


def _adam(lr, b1, b2, eps):
    def rule(p, g, st, t):
        st["m"] = b1 * st.get("m", 0) + (1 - b1) * g
        st["v"] = b2 * st.get("v", 0) + (1 - b2) * g * g
        mhat, vhat = st["m"] / (1 - b1**t), st["v"] / (1 - b2**t)
        return p - lr * mhat / (np.sqrt(vhat) + eps)
    return rule


def _rmsprop(lr, alpha, eps):
    def rule(p, g, st, t):
        st["v"] = alpha * st.get("v", 0) + (1 - alpha) * g * g
        return p - lr * g / (np.sqrt(st["v"]) + eps)
    return rule


def _adagrad(lr, eps):
    def rule(p, g, st, t):
        st["G"] = st.get("G", 0) + g * g
        return p - lr * g / (np.sqrt(st["G"]) + eps)
    return rule


@pytest.mark.parametrize("name, rule, kw", [
    ("Momentum", _momentum(2e-3, 0.9), dict(lr=2e-3, momentum=0.9)),
    ("Nesterov", _momentum(2e-3, 0.8, nesterov=True), dict(lr=2e-3, momentum=0.8)),
    ("Adam", _adam(0.1, 0.9, 0.999, 1e-8), dict(lr=0.1, beta1=0.9, beta2=0.999)),
    ("Adam", _adam(0.05, 0.5, 0.99, 1e-8), dict(lr=0.05, beta1=0.5, beta2=0.99)),
    ("RMSProp", _rmsprop(0.01, 0.9, 1e-8), dict(lr=0.01, alpha=0.9)),
    ("AdaGrad", _adagrad(0.3, 1e-8), dict(lr=0.3)),
])
def test_torch_optim_matches_the_update_rule_by_hand(name, rule, kw):
    s = L.SURFACES["banana"]
    run = L.trajectory(s, name, "above the valley", 8, **kw)
    expect = _hand_run(lambda p: L.gradient(s, p), s.starts["above the valley"], 8, rule)
    np.testing.assert_allclose(run.path, expect, rtol=1e-10, atol=1e-12)
    assert not run.diverged and run.optimizer == name


def test_adam_first_step_has_size_lr_in_each_coordinate():
    # with bias correction, mhat / sqrt(vhat) = g / |g| at t = 1: a step of lr per coordinate
    path, _ = L.trajectory("banana", "Adam", (-0.5, 2.5), 1, lr=0.1)
    np.testing.assert_allclose(np.abs(path[1] - path[0]), [0.1, 0.1], rtol=1e-6)


def test_losses_are_the_surface_along_the_path():
    for name in L.OPTIMIZERS:
        run = L.trajectory("four minima", name, "top", 40)
        np.testing.assert_allclose(run.losses, L.SURFACES["four minima"].value(run.path))


def test_defaults_come_from_the_surface():
    s = L.SURFACES["banana"]
    run = L.trajectory("banana", "Momentum")
    assert run.path.shape == (s.steps + 1, 2)
    np.testing.assert_array_equal(run.path[0], next(iter(s.starts.values())))
    np.testing.assert_allclose(run.path, L.trajectory(s, "Momentum", "above the valley",
                                                      s.steps, s.lr_sgd).path)


def test_divergence_is_caught_and_finite():
    # SGD on the bowl is stable for lr < 2 / 25 = 0.08
    ok = L.trajectory("ill-conditioned bowl", "SGD", lr=0.075, steps=300)
    assert not ok.diverged and ok.losses[-1] < 1e-6
    bad = L.trajectory("ill-conditioned bowl", "SGD", lr=0.1, steps=300)
    assert bad.diverged and bad.steps_taken < 300
    assert len(bad.path) == len(bad.losses) == bad.steps_taken + 1
    assert np.all(np.isfinite(bad.path)) and np.all(np.isfinite(bad.losses))
    xmin, xmax, ymin, ymax = L.SURFACES["ill-conditioned bowl"].escape_box
    assert np.isclose(abs(bad.path[-1, 1]), ymax)  # clipped onto the escape box
    # heavy ball: stable for lr * 25 < 2 (1 + rho);
    # Nesterov: for lr * 25 < 2 (1 + rho) / (1 + 2 rho)
    assert not L.trajectory("ill-conditioned bowl", "Momentum", lr=0.06, steps=400).diverged
    assert L.trajectory("ill-conditioned bowl", "Nesterov", lr=0.06, steps=400).diverged
    huge = L.trajectory("classic Rosenbrock", "SGD", lr=1.0, steps=50)
    assert huge.diverged and np.all(np.isfinite(huge.path)) and np.all(np.isfinite(huge.losses))


def test_momentum_zero_nesterov_is_sgd():
    a = L.trajectory("banana", "Nesterov", lr=2e-3, momentum=0.0, steps=20).path
    b = L.trajectory("banana", "SGD", lr=2e-3, steps=20).path
    np.testing.assert_allclose(a, b)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown surface"):
        L.trajectory("moon", "SGD")
    with pytest.raises(ValueError, match="unknown optimizer"):
        L.trajectory("banana", "LBFGS")
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        L.trajectory("banana", "SGD", start=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="unknown start"):
        L.trajectory("banana", "SGD", start="nowhere")
    with pytest.raises(ValueError, match="lr must be positive"):
        L.trajectory("banana", "Adam", lr=0.0)
    with pytest.raises(ValueError, match="lr must be positive"):
        L.trajectory("banana", "SGD", lr=-1e-3)
    with pytest.raises(ValueError, match="steps must be a non-negative int"):
        L.trajectory("banana", "SGD", steps=-1)
    with pytest.raises(ValueError, match=r"momentum must lie in \[0, 1\)"):
        L.trajectory("banana", "Momentum", momentum=1.0)
    with pytest.raises(ValueError, match=r"beta2 must lie in \[0, 1\)"):
        L.make_optimizer("Adam", [torch.zeros(2, requires_grad=True)], lr=0.1, beta2=1.5)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        L.gradient("banana", np.zeros(3))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        L.SURFACES["banana"].value(np.zeros(3))


# --------------------------------------------------------------------------------------------
# Slices of real losses
# --------------------------------------------------------------------------------------------
def test_plane_values_and_random_direction():
    w0 = np.array([[1.0, -2.0], [0.5, 0.0]])
    d1 = L.random_direction(w0.shape, seed=1, like=w0)
    assert d1.shape == w0.shape and np.linalg.norm(d1) == pytest.approx(np.linalg.norm(w0))
    d2 = L.random_direction(w0.shape, seed=2)

    def loss(W):
        return (W**2).sum() + W[0, 0]

    a, b = np.linspace(-1, 1, 5), np.linspace(-2, 2, 3)
    line = L.plane_values(loss, w0, d1, alphas=a)
    assert line.shape == (5,)
    assert line[1] == pytest.approx(float(loss(torch.tensor(w0 + a[1] * d1))))
    plane = L.plane_values(loss, w0, d1, d2, alphas=a, betas=b)
    assert plane.shape == (3, 5)
    assert plane[2, 4] == pytest.approx(float(loss(torch.tensor(w0 + a[4] * d1 + b[2] * d2))))
    with pytest.raises(ValueError, match="d2 must have w0's shape"):
        L.plane_values(loss, w0, d1, np.zeros(3), alphas=a, betas=b)


# --------------------------------------------------------------------------------------------
# Pictures
# --------------------------------------------------------------------------------------------
def test_draw_surface_and_run():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    filled, lines = L.draw_surface(ax, "saddle")
    assert filled in ax.collections and lines in ax.collections
    assert ax.get_xlim() == (-3.0, 3.0) and "saddle" in ax.get_title()
    run = L.trajectory("saddle", "Adam", steps=20)
    line = L.draw_run(ax, run)
    np.testing.assert_allclose(line.get_xydata(), run.path)
    assert line.get_color() == L.OPTIMIZER_COLORS["Adam"]
    filled.remove()
    assert filled not in ax.collections
    plt.close(fig)
