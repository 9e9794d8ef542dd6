"""Denoising diffusion (lecture 17, Ho, Jain & Abbeel 2020; Song, Meng & Ermon 2021).

    Schedule / linear_schedule(T, ...)      beta_t, alpha_t = 1 - beta_t, alpha_bar_t = prod alpha_s
                                            for t = 1..T (index t - 1 in the arrays)
    q_sample(x0, t, eps, s)                 x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
    q_posterior(x0, xt, t, s)               mean and variance of q(x_{t-1} | x_t, x_0)
    predict_x0(xt, t, eps_hat, s)           x0_hat = (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t)
    Denoiser(dim)                           an MLP eps_theta(x_t, t): (N, dim), (N,) -> (N, dim)
    noise_prediction_loss(model, x0, t, eps, s)  mean || eps - eps_theta(x_t, t) ||^2 / dim
    fit_denoiser(X, s, steps, ...)          Adam through dlcv.loop.train, cached per settings
    ddpm_sample(model, s, n, ...)           the ancestral sampler, T steps -> Trajectory
    ddim_sample(model, s, n, steps, ...)    DDIM (eta = 0), a deterministic sampler on a
                                            subsequence of `steps` times -> Trajectory

Data are vectors (N, dim) in [-1, 1] (an 8x8 digit flattened has dim 64; a 2-D point dim 2).
Times t are ints in 1..T; x_0 is the data and x_T is almost pure noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dlcv.loop import Log, cycled, train
from dlcv.validate import integer, positive


@dataclass
class Schedule:
    """betas, alphas, alpha_bars: (T,) float64 tensors; entry t - 1 belongs to time t."""

    betas: torch.Tensor
    alphas: torch.Tensor
    alpha_bars: torch.Tensor

    @property
    def T(self) -> int:
        return len(self.betas)

    def abar(self, t) -> torch.Tensor:
        """alpha_bar_t for ints t (tensor or int) in 0..T; alpha_bar_0 = 1."""
        t = torch.as_tensor(t)
        full = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bars])
        return full[t]


def linear_schedule(T: int = 100, beta_start: float | None = None,
                    beta_end: float | None = None) -> Schedule:
    """Ho et al.'s linear schedule, beta from 1e-4 to 0.02 over T = 1000 steps; for another T the
    ends are scaled by 1000 / T (as in Nichol & Dhariwal 2021) so that alpha_bar_T stays near 0."""
    T = integer("linear_schedule", "T", T, 2)
    beta_start = 1e-4 * 1000 / T if beta_start is None else beta_start
    beta_end = 0.02 * 1000 / T if beta_end is None else beta_end
    if not 0 < beta_start <= beta_end < 1:
        raise ValueError(f"linear_schedule: need 0 < beta_start <= beta_end < 1, got "
                         f"{beta_start} and {beta_end}")
    betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    alphas = 1 - betas
    return Schedule(betas, alphas, torch.cumprod(alphas, 0))


def _col(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-example (N,) factor as a column that broadcasts over like (N, dim)."""
    return v.to(like.dtype).reshape(-1, *([1] * (like.dim() - 1)))


def _times(who: str, t, n: int, s: Schedule, lo: int = 1) -> torch.Tensor:
    t = torch.as_tensor(t, dtype=torch.long)
    t = t.expand(n) if t.dim() == 0 else t
    if t.shape != (n,) or int(t.min()) < lo or int(t.max()) > s.T:
        raise ValueError(f"{who}: t must be an int or ({n},) ints in {lo}..{s.T}")
    return t


def q_sample(x0: torch.Tensor, t, eps: torch.Tensor, s: Schedule) -> torch.Tensor:
    """Draw x_t ~ q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I) in one step, with the given
    noise: x0, eps (N, dim), t an int or (N,) ints in 1..T -> x_t (N, dim)."""
    if eps.shape != x0.shape:
        raise ValueError(f"q_sample: eps must have x0's shape {tuple(x0.shape)}, got "
                         f"{tuple(eps.shape)}")
    ab = s.abar(_times("q_sample", t, len(x0), s))
    return _col(ab.sqrt(), x0) * x0 + _col((1 - ab).sqrt(), x0) * eps


def q_posterior(x0: torch.Tensor, xt: torch.Tensor, t, s: Schedule):
    """q(x_{t-1} | x_t, x_0) = N(mean, var I) (Ho et al., eq. 6-7), t in 1..T:

    mean = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x0 + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t
    var  = beta_tilde_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t      (0 at t = 1)
    Returns mean (N, dim) and var (N,).
    """
    t = _times("q_posterior", t, len(xt), s)
    ab, ab_prev = s.abar(t), s.abar(t - 1)
    beta, alpha = s.betas[t - 1], s.alphas[t - 1]
    c0 = ab_prev.sqrt() * beta / (1 - ab)
    ct = alpha.sqrt() * (1 - ab_prev) / (1 - ab)
    mean = _col(c0, x0) * x0 + _col(ct, xt) * xt
    return mean, (1 - ab_prev) / (1 - ab) * beta


def predict_x0(xt: torch.Tensor, t, eps_hat: torch.Tensor, s: Schedule) -> torch.Tensor:
    """The clean image implied by a noise estimate: (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t)."""
    ab = s.abar(_times("predict_x0", t, len(xt), s))
    return (xt - _col((1 - ab).sqrt(), xt) * eps_hat) / _col(ab.sqrt(), xt)


def time_embedding(t: torch.Tensor, dim: int = 32, T: int = 100) -> torch.Tensor:
    """Sinusoidal features of t / T (Vaswani et al. 2017, as in Ho et al.): (N,) -> (N, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half) / half)
    a = (t.float() / T * 1000)[:, None] * freqs[None] / 10
    return torch.cat([a.sin(), a.cos()], dim=1)


class Denoiser(nn.Module):
    """eps_theta(x_t, t): an MLP on [x_t, time embedding] with three hidden layers of SiLU units.
    x: (N, dim), t: (N,) ints -> predicted noise (N, dim)."""

    def __init__(self, dim: int = 64, hidden: int = 256, T: int = 100, seed: int = 0):
        super().__init__()
        self.dim, self.T = integer("Denoiser", "dim", dim, 1), integer("Denoiser", "T", T, 1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = nn.Sequential(
                nn.Linear(dim + 32, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"Denoiser: x must be (N, {self.dim}), got {tuple(x.shape)}")
        return self.net(torch.cat([x, time_embedding(t, 32, self.T)], dim=1))


def noise_prediction_loss(model: nn.Module, x0: torch.Tensor, t, eps: torch.Tensor,
                          s: Schedule) -> torch.Tensor:
    """Ho et al.'s simplified loss: mean over the batch and the dims of (eps - eps_theta(x_t, t))^2
    with x_t = q_sample(x0, t, eps)."""
    t = _times("noise_prediction_loss", t, len(x0), s)
    xt = q_sample(x0, t, eps, s)
    return ((eps - model(xt, t)) ** 2).mean()


@dataclass
class DiffusionFit:
    model: Denoiser
    schedule: Schedule
    log: Log


_FITS: dict[tuple, DiffusionFit] = {}


def fit_denoiser(X, s: Schedule, steps: int = 3000, batch_size: int = 128, lr: float = 2e-3,
                 hidden: int = 256, seed: int = 0) -> DiffusionFit:
    """Train a Denoiser on X (N, dim) in [-1, 1] with the noise-prediction loss at uniformly
    drawn t (Adam, lr decayed by a cosine to 0, through dlcv.loop.train); cached per (X's size
    and sum, T, settings)."""
    X = torch.as_tensor(np.asarray(X, np.float32))
    if X.dim() != 2:
        raise ValueError(f"fit_denoiser: X must be (N, dim), got {tuple(X.shape)}")
    steps = integer("fit_denoiser", "steps", steps, 1)
    lr = positive("fit_denoiser", "lr", lr)
    key = (tuple(X.shape), round(float(X.sum()), 3), s.T, float(s.betas[-1]), steps,
           batch_size, lr, hidden, seed)
    if key in _FITS:
        return _FITS[key]
    model = Denoiser(X.shape[1], hidden, s.T, seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed)

    def loss_of(idx):
        t = torch.randint(1, s.T + 1, (len(idx),), generator=g)
        eps = torch.randn(len(idx), X.shape[1], generator=g)
        return noise_prediction_loss(model, X[idx], t, eps, s)

    model.train()
    log = train(loss_of, opt, cycled(len(X), batch_size, steps, g), scheduler=sched)
    model.eval()
    _FITS[key] = DiffusionFit(model, s, log)
    return _FITS[key]


@dataclass
class Trajectory:
    """A sampler's path: times (K + 1,) from T down to 0; xs (K + 1, n, dim) the states x_t at
    those times (xs[-1] is the sample); x0_hats (K, n, dim) the model's clean-image estimate at
    each step (at times[:-1])."""

    times: np.ndarray
    xs: np.ndarray
    x0_hats: np.ndarray

    @property
    def samples(self) -> np.ndarray:
        return self.xs[-1]


def ddpm_sample(model: nn.Module, s: Schedule, n: int, seed: int = 0, clip: bool = True,
                dim: int | None = None) -> Trajectory:
    """The ancestral sampler (Ho et al., Algorithm 2): x_T ~ N(0, I); for t = T..1,
    x_{t-1} ~ q(x_{t-1} | x_t, x0_hat) with x0_hat = predict_x0(x_t, t, eps_theta(x_t, t)),
    clipped to [-1, 1] when clip (without clipping the mean is Ho et al.'s eq. 11,
    (x_t - beta_t / sqrt(1 - abar_t) eps_theta) / sqrt(alpha_t)); the variance is beta_tilde_t.
    """
    n = integer("ddpm_sample", "n", n, 1)
    dim = dim or model.dim
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g)
    xs, hats = [x.numpy()], []
    with torch.no_grad():
        for t in range(s.T, 0, -1):
            tt = torch.full((n,), t)
            x0 = predict_x0(x, tt, model(x, tt), s).float()
            x0 = x0.clamp(-1, 1) if clip else x0
            mean, var = q_posterior(x0, x, tt, s)
            x = (mean + _col(var.sqrt(), x) * torch.randn(n, dim, generator=g)).float()
            xs.append(x.numpy())
            hats.append(x0.numpy())
    return Trajectory(np.arange(s.T, -1, -1), np.stack(xs), np.stack(hats))


def ddim_sample(model: nn.Module, s: Schedule, n: int, steps: int = 10, seed: int = 0,
                clip: bool = True, dim: int | None = None) -> Trajectory:
    """DDIM with eta = 0 (Song et al. 2021): on times tau_1 > ... > tau_K (K = steps, evenly
    spaced in 1..T) and then 0,
        x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev) eps_hat
    a deterministic map from x_T to the sample, using the same trained eps_theta as DDPM."""
    n = integer("ddim_sample", "n", n, 1)
    steps = integer("ddim_sample", "steps", steps, 1, s.T)
    dim = dim or model.dim
    g = torch.Generator().manual_seed(seed)
    taus = np.unique(np.linspace(1, s.T, steps).round().astype(int))[::-1]
    times = np.r_[taus, 0]
    x = torch.randn(n, dim, generator=g)
    xs, hats = [x.numpy()], []
    with torch.no_grad():
        for t, t_prev in zip(times[:-1], times[1:], strict=True):
            tt = torch.full((n,), int(t))
            eps = model(x, tt)
            x0 = predict_x0(x, tt, eps, s).float()
            if clip:
                x0 = x0.clamp(-1, 1)
                ab = s.abar(int(t))
                eps = ((x - ab.sqrt() * x0) / (1 - ab).sqrt()).float()  # the noise of the clipped x0
            ab_prev = s.abar(int(t_prev))
            x = (ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * eps).float()
            xs.append(x.numpy())
            hats.append(x0.numpy())
    return Trajectory(times, np.stack(xs), np.stack(hats))
