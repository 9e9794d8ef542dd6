"""Two-dimensional loss surfaces and the paths that optimizers take on them (lecture 03).

A real network has millions of parameters, but the behaviour of an optimizer is easiest to see on
a function of two: an elongated bowl (ill-conditioning), Rosenbrock's banana (a curved valley),
a saddle, and Himmelblau's function (four minima). This module holds those surfaces and runs the
optimizers of torch.optim on them:

    SURFACES                       name -> Surface (function, plotting box, starts, minima, ...)
    get_surface(name)              the Surface of that name (a clear error otherwise)
    grid_values(surface, steps)    xs (steps,), ys (steps,), Z (steps, steps) for contour plots
    OPTIMIZERS                     ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam")
    make_optimizer(name, params)   the torch.optim optimizer behind each name
    trajectory(surface, name, ..)  Run(path (steps+1, 2), losses (steps+1,), diverged)
    gradient(surface, p)           (2,) gradient by autograd
    hessian(surface, p)            (2, 2) Hessian by autograd
    nearest_minimum(surface, p)    index of and distance to the closest known minimum
    draw_surface(ax, surface)      filled contours, minima and saddles of a surface on an Axes
    draw_run(ax, run)              an optimizer's path (one dot per step) and its end point
    plane_values(f, w0, d1, d2, ..) a loss on the plane w0 + a d1 + b d2 (slices of real losses)

The update rules themselves are torch.optim's: writing them in numpy is assignment a2's job, so this
module never does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from dlcv.loop import train

OPTIMIZERS = ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam")
SGD_FAMILY = ("SGD", "Momentum", "Nesterov")  # steps proportional to the gradient
ADAPTIVE_FAMILY = ("AdaGrad", "RMSProp", "Adam")  # steps divided by a gradient magnitude

# One colour per optimizer (Okabe-Ito), shared by the lecture's figures and its widget.
OPTIMIZER_COLORS = {"SGD": "#D55E00", "Momentum": "#0072B2", "Nesterov": "#56B4E9",
                    "AdaGrad": "#E69F00", "RMSProp": "#CC79A7", "Adam": "#009E73"}

# How far (in box sizes around the box centre) a path may wander before it counts as diverged.
ESCAPE_FACTOR = 10.0


# --------------------------------------------------------------------------------------------
# Surfaces
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Surface:
    """A test function f: R^2 -> R with everything needed to draw and explore it.

    Attributes:
        name: key in SURFACES.
        f: torch function of p (..., 2) returning (...): vectorised over leading dimensions.
        box: (xmin, xmax, ymin, ymax), the plotting window.
        starts: named start points, name -> (x, y); the first one is the default.
        minima: the known (local) minima, each (x, y).
        log_scale: draw the loss on a log scale (its minimum value is 0).
        lr_sgd, lr_adaptive: default learning rates for SGD/Momentum/Nesterov and for
            AdaGrad/RMSProp/Adam on this surface.
        steps: default number of steps.
        saddles: saddle points worth marking, each (x, y).
        formula: the function in LaTeX (for titles).
        description: one sentence on what the surface teaches.
    """

    name: str
    f: Callable[[torch.Tensor], torch.Tensor]
    box: tuple[float, float, float, float]
    starts: dict[str, tuple[float, float]]
    minima: tuple[tuple[float, float], ...]
    log_scale: bool = True
    lr_sgd: float = 0.01
    lr_adaptive: float = 0.1
    steps: int = 150
    saddles: tuple[tuple[float, float], ...] = ()
    formula: str = ""
    description: str = field(default="", repr=False)

    def value(self, p) -> np.ndarray | float:
        """f at p (..., 2), as a float for one point or a float64 array otherwise."""
        t = torch.as_tensor(np.asarray(p, dtype=np.float64))
        if t.shape[-1:] != (2,):
            raise ValueError(f"{self.name}.value: p must have shape (..., 2), got {tuple(t.shape)}")
        with torch.no_grad():
            out = self.f(t).numpy()
        return float(out) if out.ndim == 0 else out

    @property
    def escape_box(self) -> tuple[float, float, float, float]:
        """The box beyond which a path counts as diverged: the plotting box, ESCAPE_FACTOR
        times larger around its centre."""
        xmin, xmax, ymin, ymax = self.box
        cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
        hx, hy = ESCAPE_FACTOR * (xmax - xmin) / 2, ESCAPE_FACTOR * (ymax - ymin) / 2
        return (cx - hx, cx + hx, cy - hy, cy + hy)


QUAD_A, QUAD_B = 1.0, 25.0  # the bowl's curvatures: condition number 25


def _quadratic(p: torch.Tensor) -> torch.Tensor:
    x, y = p[..., 0], p[..., 1]
    return 0.5 * (QUAD_A * x**2 + QUAD_B * y**2)


def _rosenbrock(b: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """Rosenbrock's function (1 - x)^2 + b (y - x^2)^2; b sets how steep the valley walls are."""

    def f(p: torch.Tensor) -> torch.Tensor:
        x, y = p[..., 0], p[..., 1]
        return (1 - x) ** 2 + b * (y - x**2) ** 2

    return f


def _saddle(p: torch.Tensor) -> torch.Tensor:
    # near the origin 0.5 x^2 - 0.5 y^2 + 0.25; two minima at (0, +-1) with value 0
    x, y = p[..., 0], p[..., 1]
    return 0.5 * x**2 + 0.25 * (y**2 - 1) ** 2


def _himmelblau(p: torch.Tensor) -> torch.Tensor:
    x, y = p[..., 0], p[..., 1]
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


SURFACES: dict[str, Surface] = {
    "banana": Surface(
        name="banana", f=_rosenbrock(10.0), box=(-2.0, 2.0, -1.0, 3.0),
        starts={"above the valley": (-0.5, 2.5), "on the valley floor": (-1.5, 2.25),
                "classic (-1.2, 1)": (-1.2, 1.0), "lower left": (-1.8, -0.5),
                "right wall": (1.8, 1.2)},
        minima=((1.0, 1.0),), log_scale=True, lr_sgd=2e-3, lr_adaptive=0.1, steps=250,
        formula=r"$(1-x)^2 + 10\,(y-x^2)^2$",
        description="Rosenbrock's banana (a gentler variant, b = 10): a curved valley with "
                    "steep walls and an almost flat floor; the minimum (1, 1) lies at its end."),
    "classic Rosenbrock": Surface(
        name="classic Rosenbrock", f=_rosenbrock(100.0), box=(-2.0, 2.0, -1.0, 3.0),
        starts={"classic (-1.2, 1)": (-1.2, 1.0), "above the valley": (-0.5, 2.5),
                "on the valley floor": (-1.5, 2.25)},
        minima=((1.0, 1.0),), log_scale=True, lr_sgd=5e-4, lr_adaptive=0.05, steps=400,
        formula=r"$(1-x)^2 + 100\,(y-x^2)^2$",
        description="The textbook Rosenbrock function (b = 100): walls ten times steeper, so the "
                    "SGD family needs a tiny learning rate and crawls along the floor."),
    "ill-conditioned bowl": Surface(
        name="ill-conditioned bowl", f=_quadratic, box=(-5.0, 5.0, -2.5, 2.5),
        starts={"upper left": (-4.5, 2.0), "on the long axis": (-4.5, 0.0),
                "on the short axis": (0.0, 2.0)},
        minima=((0.0, 0.0),), log_scale=True, lr_sgd=0.05, lr_adaptive=0.3, steps=100,
        formula=r"$\frac{1}{2}(x^2 + 25\,y^2)$",
        description="A quadratic bowl 25 times steeper along y than along x: gradient descent "
                    "zig-zags across it."),
    "saddle": Surface(
        name="saddle", f=_saddle, box=(-3.0, 3.0, -2.0, 2.0),
        starts={"nudged off the ridge": (-2.8, 0.01), "exactly on the ridge": (-2.8, 0.0),
                "off to the side": (-2.8, -0.6)},
        minima=((0.0, 1.0), (0.0, -1.0)), log_scale=True, lr_sgd=0.1, lr_adaptive=0.05,
        steps=150, saddles=((0.0, 0.0),),
        formula=r"$\frac{1}{2}x^2 + \frac{1}{4}(y^2-1)^2$",
        description="A saddle at the origin (curving up along x, down along y) between two "
                    "minima at (0, 1) and (0, -1)."),
    "four minima": Surface(
        name="four minima", f=_himmelblau, box=(-5.0, 5.0, -5.0, 5.0),
        starts={"centre": (0.0, 0.0), "top": (0.5, 4.5), "bottom left": (-1.0, -4.8),
                "left": (-4.8, 0.5), "near the hill top": (-0.3, -1.0)},
        minima=((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186),
                (3.584428, -1.848126)),
        log_scale=True, lr_sgd=2e-3, lr_adaptive=0.1, steps=150,
        formula=r"$(x^2+y-11)^2 + (x+y^2-7)^2$",
        description="Himmelblau's function: four minima of equal height 0; the start and the "
                    "optimizer decide which one you reach."),
}


def get_surface(surface: str | Surface) -> Surface:
    """The Surface named `surface` (a Surface is returned as it is)."""
    if isinstance(surface, Surface):
        return surface
    if surface not in SURFACES:
        raise ValueError(f"unknown surface {surface!r}; choose one of {tuple(SURFACES)}")
    return SURFACES[surface]


def grid_values(surface: str | Surface,
                steps: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The surface on a regular grid over its box, for contour plots.

    Returns:
        xs: (steps,), ys: (steps,), Z: (steps, steps) float64 with Z[i, j] = f(xs[j], ys[i])
        (the layout of np.meshgrid and plt.contour).
    """
    s = get_surface(surface)
    if not (isinstance(steps, int | np.integer) and steps >= 2):
        raise ValueError(f"grid_values: steps must be an int >= 2, got {steps!r}")
    xmin, xmax, ymin, ymax = s.box
    xs, ys = np.linspace(xmin, xmax, steps), np.linspace(ymin, ymax, steps)
    xx, yy = np.meshgrid(xs, ys)  # (steps, steps) each
    P = torch.from_numpy(np.stack([xx, yy], axis=-1))  # (steps, steps, 2)
    with torch.no_grad():
        Z = s.f(P).numpy()  # (steps, steps)
    return xs, ys, Z


def contour_levels(surface: str | Surface, Z: np.ndarray, n: int = 18) -> np.ndarray:
    """Contour levels for Z: log-spaced above the minimum for log-scale surfaces (so that the
    flat valley floors get lines too), evenly spaced otherwise. Returns (n,) increasing."""
    s = get_surface(surface)
    Z = np.asarray(Z, dtype=np.float64)
    lo, hi = float(np.min(Z)), float(np.max(Z))
    if s.log_scale:
        lo = max(lo, hi * 1e-6, 1e-6)
        return np.geomspace(lo, hi, n)
    return np.linspace(lo, hi, n)


# --------------------------------------------------------------------------------------------
# Derivatives by autograd
# --------------------------------------------------------------------------------------------
def _point(p, who: str) -> torch.Tensor:
    a = np.asarray(p, dtype=np.float64)
    if a.shape != (2,):
        raise ValueError(f"{who}: the point must have shape (2,), got {a.shape}")
    return torch.tensor(a)


def gradient(surface: str | Surface, p) -> np.ndarray:
    """The gradient (df/dx, df/dy) at p (2,), by torch autograd. Returns (2,) float64."""
    s = get_surface(surface)
    t = _point(p, "gradient").requires_grad_(True)
    (g,) = torch.autograd.grad(s.f(t), t)
    return g.numpy().copy()


def hessian(surface: str | Surface, p) -> np.ndarray:
    """The Hessian matrix of second derivatives at p (2,), by autograd. Returns (2, 2) float64."""
    s = get_surface(surface)
    t = _point(p, "hessian")
    return torch.autograd.functional.hessian(s.f, t).numpy().copy()


def nearest_minimum(surface: str | Surface, p) -> tuple[int, float]:
    """(index into surface.minima, Euclidean distance) of the known minimum closest to p (2,)."""
    s = get_surface(surface)
    a = np.asarray(p, dtype=np.float64)
    if a.shape != (2,):
        raise ValueError(f"nearest_minimum: p must have shape (2,), got {a.shape}")
    d = np.linalg.norm(np.asarray(s.minima) - a, axis=1)  # (num_minima,)
    i = int(np.argmin(d))
    return i, float(d[i])


# --------------------------------------------------------------------------------------------
# Optimizer runs
# --------------------------------------------------------------------------------------------
def make_optimizer(name: str, params, lr: float, momentum: float = 0.9, beta1: float = 0.9,
                   beta2: float = 0.999, alpha: float = 0.99,
                   eps: float = 1e-8) -> torch.optim.Optimizer:
    """The torch.optim optimizer behind each name of OPTIMIZERS.

    SGD: SGD(lr); Momentum: SGD(lr, momentum); Nesterov: SGD(lr, momentum, nesterov=True)
    (plain SGD when momentum is 0); AdaGrad: Adagrad(lr, eps); RMSProp: RMSprop(lr, alpha, eps);
    Adam: Adam(lr, betas=(beta1, beta2), eps).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {OPTIMIZERS}")
    if not lr > 0:
        raise ValueError(f"{name}: lr must be positive, got {lr}")
    for what, v in (("momentum", momentum), ("beta1", beta1), ("beta2", beta2), ("alpha", alpha)):
        if not 0 <= v < 1:
            raise ValueError(f"{name}: {what} must lie in [0, 1), got {v}")
    if not eps > 0:
        raise ValueError(f"{name}: eps must be positive, got {eps}")
    if name == "SGD":
        return torch.optim.SGD(params, lr=lr)
    if name == "Momentum":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if name == "Nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=momentum > 0)
    if name == "AdaGrad":
        return torch.optim.Adagrad(params, lr=lr, eps=eps)
    if name == "RMSProp":
        return torch.optim.RMSprop(params, lr=lr, alpha=alpha, eps=eps)
    return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2), eps=eps)


@dataclass
class Run:
    """One optimizer's path on a surface.

    path: (n + 1, 2) the points visited, path[0] the start; losses: (n + 1,) f at those points.
    n == steps unless the run diverged (left surface.escape_box or produced inf/NaN) at step n:
    then diverged is True and the last point is clipped onto the escape box.
    Unpacks like a tuple: path, losses = trajectory(...).
    """

    optimizer: str
    path: np.ndarray
    losses: np.ndarray
    diverged: bool = False

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.path, self.losses))

    @property
    def steps_taken(self) -> int:
        return len(self.path) - 1


def _start_point(s: Surface, start) -> np.ndarray:
    if isinstance(start, str):
        if start not in s.starts:
            raise ValueError(f"unknown start {start!r} for surface {s.name!r}; choose one of "
                             f"{tuple(s.starts)} or give a point (x, y)")
        return np.array(s.starts[start], dtype=np.float64)
    a = np.asarray(start, dtype=np.float64)
    if a.shape != (2,) or not np.all(np.isfinite(a)):
        raise ValueError(f"start must be a finite point of shape (2,) or a start name, got "
                         f"shape {a.shape}")
    return a


def trajectory(surface: str | Surface, optimizer: str, start=None, steps: int | None = None,
               lr: float | None = None, momentum: float = 0.9, beta1: float = 0.9,
               beta2: float = 0.999, alpha: float = 0.99, eps: float = 1e-8) -> Run:
    """Run a torch.optim optimizer on a surface from a start point.

    The parameter is a single float64 tensor of shape (2,); each step computes f(p),
    backpropagates and calls optimizer.step().

    Args:
        surface: a Surface or a name in SURFACES.
        optimizer: one of OPTIMIZERS.
        start: (2,) point or the name of one of surface.starts (default: its first start).
        steps: number of steps (default: surface.steps).
        lr: learning rate (default: surface.lr_sgd or surface.lr_adaptive, by family).
        momentum: for Momentum and Nesterov; beta1, beta2: Adam; alpha: RMSProp's decay rate.

    Returns:
        Run with path (steps + 1, 2) and losses (steps + 1,) (shorter if it diverged, see Run).
    """
    s = get_surface(surface)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {OPTIMIZERS}")
    p0 = _start_point(s, next(iter(s.starts)) if start is None else start)
    steps = s.steps if steps is None else steps
    if not (isinstance(steps, int | np.integer) and steps >= 0):
        raise ValueError(f"trajectory: steps must be a non-negative int, got {steps!r}")
    if lr is None:
        lr = s.lr_sgd if optimizer in SGD_FAMILY else s.lr_adaptive
    if not lr > 0:
        raise ValueError(f"trajectory: lr must be positive, got {lr}")

    p = torch.tensor(p0, requires_grad=True)  # (2,) the parameter
    opt = make_optimizer(optimizer, [p], lr=lr, momentum=momentum, beta1=beta1, beta2=beta2,
                         alpha=alpha, eps=eps)
    xmin, xmax, ymin, ymax = s.escape_box
    lo, hi = np.array([xmin, ymin]), np.array([xmax, ymax])
    path = [p0.copy()]

    def escaped(_step: int, _loss: float) -> bool:
        """Record where the step landed; stop once it left the box (or became nan/inf)."""
        q = p.detach().numpy().copy()  # (2,)
        inside = np.all(np.isfinite(q)) and np.all(q >= lo) and np.all(q <= hi)
        path.append(q if inside else np.clip(np.nan_to_num(q, nan=hi[0], posinf=hi[0],
                                                           neginf=lo[0]), lo, hi))
        return not inside

    log = train(lambda _: s.f(p), opt, range(int(steps)), on_step=escaped)
    diverged = log.stopped
    path_arr = np.array(path)  # (n + 1, 2)
    losses = log.loss + [float(s.value(path_arr[-1]))]
    losses_arr = np.array(losses)
    if not np.all(np.isfinite(losses_arr)):  # only possible for extreme surfaces
        losses_arr = np.nan_to_num(losses_arr, nan=np.finfo(float).max, posinf=np.finfo(float).max)
        diverged = True
    return Run(optimizer, path_arr, losses_arr, diverged)


# --------------------------------------------------------------------------------------------
# Pictures
# --------------------------------------------------------------------------------------------
def draw_surface(ax, surface: str | Surface, steps: int = 160, n_levels: int = 20,
                 markers: bool = True, title: bool = True):
    """Draw a surface on a matplotlib Axes: light filled contours (log-spaced levels for
    log-scale surfaces), thin contour lines, its minima (gold stars) and saddles (white X),
    limits set to its box with equal aspect.

    Returns:
        (filled, lines): the two ContourSets (remove them to draw another surface).
    """
    s = get_surface(surface)
    xs, ys, Z = grid_values(s, steps)
    levels = contour_levels(s, Z, n=n_levels)
    filled = ax.contourf(xs, ys, Z, levels=levels, cmap="Greys", alpha=0.45, extend="both",
                         zorder=1)
    lines = ax.contour(xs, ys, Z, levels=levels, colors="0.45", linewidths=0.5, zorder=2)
    if markers:
        m = np.asarray(s.minima)
        ax.plot(m[:, 0], m[:, 1], "*", color="gold", mec="k", mew=0.8, ms=14, zorder=5)
        if s.saddles:
            sd = np.asarray(s.saddles)
            ax.plot(sd[:, 0], sd[:, 1], "X", color="w", mec="k", mew=0.8, ms=9, zorder=5)
    xmin, xmax, ymin, ymax = s.box
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal", adjustable="box")
    if title:
        ax.set_title(f"{s.name}: {s.formula}", fontsize=10)
    return filled, lines


def draw_run(ax, run: Run, color: str | None = None, label: str | None = None,
             markersize: float = 3.5):
    """Draw an optimizer's path on an Axes: a line with one dot per step, the start as a white
    circle and the end as a filled circle (an X when the run diverged). Returns the path's Line2D.
    """
    c = color or OPTIMIZER_COLORS.get(run.optimizer, "k")
    (line,) = ax.plot(run.path[:, 0], run.path[:, 1], "-", color=c, lw=1.4, marker=".",
                      ms=markersize, label=label or run.optimizer, zorder=4)
    ax.plot(*run.path[0], "o", mfc="w", mec="k", mew=1.5, ms=8, zorder=5)
    ax.plot(*run.path[-1], "X" if run.diverged else "o", color=c, mec="k", mew=0.8, ms=7,
            zorder=6)
    return line


# --------------------------------------------------------------------------------------------
# Slices through real, high-dimensional losses
# --------------------------------------------------------------------------------------------
def random_direction(shape, seed: int = 0, like: np.ndarray | None = None) -> np.ndarray:
    """A random Gaussian direction of the given shape, float64. With `like` (an array of that
    shape), it is rescaled to the norm of `like`, so a step of 1 along it is a step of the
    parameters' own size."""
    d = np.random.default_rng(seed).standard_normal(shape)
    if like is not None:
        like = np.asarray(like, dtype=np.float64)
        if like.shape != d.shape:
            raise ValueError(f"random_direction: like has shape {like.shape}, expected {d.shape}")
        d *= np.linalg.norm(like) / max(np.linalg.norm(d), 1e-12)
    return d


def plane_values(loss: Callable[[torch.Tensor], torch.Tensor], w0, d1, d2=None,
                 alphas=None, betas=None) -> np.ndarray:
    """A loss on a line or plane through w0: L(w0 + a d1) or L(w0 + a d1 + b d2).

    Args:
        loss: torch function of a parameter tensor of w0's shape, returning a scalar.
        w0, d1, d2: parameter arrays of one shape (any); d2=None for a 1-D slice.
        alphas: (A,) steps along d1; betas: (B,) steps along d2.

    Returns:
        (A,) values for a 1-D slice, (B, A) values for a plane (rows follow betas, as for
        plt.contour(alphas, betas, Z)).
    """
    w0 = np.asarray(w0, dtype=np.float64)
    d1 = np.asarray(d1, dtype=np.float64)
    if d1.shape != w0.shape:
        raise ValueError(f"plane_values: d1 must have w0's shape {w0.shape}, got {d1.shape}")
    if alphas is None:
        raise ValueError("plane_values: give the steps `alphas` along d1")
    alphas = np.asarray(alphas, dtype=np.float64)
    W0, D1 = torch.from_numpy(w0), torch.from_numpy(d1)
    with torch.no_grad():
        if d2 is None:
            return np.array([float(loss(W0 + a * D1)) for a in alphas])
        d2 = np.asarray(d2, dtype=np.float64)
        if d2.shape != w0.shape:
            raise ValueError(f"plane_values: d2 must have w0's shape {w0.shape}, got {d2.shape}")
        if betas is None:
            raise ValueError("plane_values: give the steps `betas` along d2")
        D2 = torch.from_numpy(d2)
        betas = np.asarray(betas, dtype=np.float64)
        return np.array([[float(loss(W0 + a * D1 + b * D2)) for a in alphas] for b in betas])
