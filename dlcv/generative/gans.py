"""Generative adversarial networks (lecture 17, Goodfellow et al. 2014; Radford et al. 2016).

    discriminator_loss(real, fake)          -log D(x) - log(1 - D(G(z))), batch means; D = sigmoid
    generator_loss(fake, kind)              "minimax": log(1 - D(G(z)));  "non-saturating":
                                            -log D(G(z)); mean over the batch
    generator_logit_gradient(fake, kind)    d(generator loss of one sample) / d(its logit a),
                                            in closed form: -sigmoid(a) and sigmoid(a) - 1
    MLPGenerator, MLPDiscriminator          small MLPs for 2-D points
    DCGenerator, DCDiscriminator            a DCGAN-style pair for 8x8 images: transposed
                                            convolutions, BatchNorm, ReLU / LeakyReLU, tanh
    train_discriminator(D, G, real, steps)  train D alone against a fixed G (D "wins")
    generator_gradient_norms(G, D, z)       || d loss / d theta_G || for both generator losses
    train_gan(G, D, real, steps, ...)       alternate one D step and one G step, each through
                                            dlcv.loop.train -> GANRun (losses, snapshots)
    ring_of_gaussians(n, modes, ...)        a mixture of Gaussians on a circle: (n, 2), centres
    mode_coverage(samples, centres, std)    which modes the samples cover -> Coverage

The discriminator outputs a logit a; D = sigmoid(a). Every loss is written with softplus
(log(1 + e^a)) so that it stays finite when D is sure: log D = -softplus(-a), log(1 - D) =
-softplus(a).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.loop import Log, train
from dlcv.validate import choice, integer, positive

GENERATOR_LOSSES = ("minimax", "non-saturating")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of D: real (N,) logits labelled 1, fake (M,) logits labelled 0.
    = mean(-log D(x)) + mean(-log(1 - D(G(z))))."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, kind: str = "non-saturating") -> torch.Tensor:
    """The generator's loss on D's logits of its samples, (M,) -> scalar.

    minimax: mean log(1 - D(G(z))) = -mean softplus(a) (the game's value, minimised by G);
    non-saturating: mean -log D(G(z)) = mean softplus(-a) (Goodfellow et al.'s practical choice).
    """
    choice("generator_loss", "kind", kind, GENERATOR_LOSSES)
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()
    return F.softplus(-fake_logits).mean()


def generator_logit_gradient(fake_logits, kind: str) -> np.ndarray:
    """d loss / d a for one sample with logit a (the loss of that sample alone), elementwise:
    minimax: d log(1 - sigmoid(a)) / da = -sigmoid(a), which vanishes as D(G(z)) -> 0;
    non-saturating: d (-log sigmoid(a)) / da = sigmoid(a) - 1, which tends to -1 there."""
    choice("generator_logit_gradient", "kind", kind, GENERATOR_LOSSES)
    a = np.asarray(fake_logits, np.float64)
    s = 1 / (1 + np.exp(-a))
    return -s if kind == "minimax" else s - 1


# ------------------------------------------------------------------------------------------
# Networks
# ------------------------------------------------------------------------------------------

@contextmanager
def _seeded(seed: int):
    """Initialise weights from `seed` without touching torch's global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class MLPGenerator(nn.Module):
    """z: (N, noise_dim) -> points (N, 2); two hidden layers of `hidden` ReLU units."""

    def __init__(self, noise_dim: int = 8, hidden: int = 128, out_dim: int = 2, seed: int = 0):
        super().__init__()
        self.noise_dim = integer("MLPGenerator", "noise_dim", noise_dim, 1)
        with _seeded(seed):
            self.net = nn.Sequential(nn.Linear(noise_dim, hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))

    def forward(self, z):
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """x: (N, in_dim) -> logits (N,); two hidden layers of `hidden` ReLU units."""

    def __init__(self, in_dim: int = 2, hidden: int = 128, seed: int = 1):
        super().__init__()
        with _seeded(seed):
            self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x).squeeze(1)


class DCGenerator(nn.Module):
    """DCGAN-style generator for 8x8 images: z (N, noise_dim) -> x (N, 1, 8, 8) in [-1, 1].

    Linear to (4w, 2, 2) -> BN -> ReLU -> ConvTranspose 4x4 stride 2 (-> 2w, 4, 4) -> BN -> ReLU
    -> ConvTranspose 4x4 stride 2 (-> 1, 8, 8) -> tanh. No pooling and no fully connected
    hidden layers, BatchNorm in the generator, tanh output: Radford et al.'s guidelines.
    """

    def __init__(self, noise_dim: int = 16, width: int = 32, seed: int = 0):
        super().__init__()
        self.noise_dim, self.width = integer("DCGenerator", "noise_dim", noise_dim, 1), width
        with _seeded(seed):
            self.project = nn.Sequential(nn.Linear(noise_dim, 4 * width * 4),
                                         nn.BatchNorm1d(4 * width * 4), nn.ReLU())
            self.up = nn.Sequential(
                nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width),
                nn.ReLU(),                                                   # (N, 2w, 4, 4)
                nn.ConvTranspose2d(2 * width, 1, 4, 2, 1), nn.Tanh())        # (N, 1, 8, 8)

    def forward(self, z):
        return self.up(self.project(z).reshape(len(z), 4 * self.width, 2, 2))


class DCDiscriminator(nn.Module):
    """DCGAN-style discriminator: x (N, 1, 8, 8) -> logits (N,). Strided 4x4 convolutions
    (8 -> 4 -> 2) with LeakyReLU(0.2), BatchNorm on the second, then a linear layer."""

    def __init__(self, width: int = 32, seed: int = 1):
        super().__init__()
        with _seeded(seed):
            self.net = nn.Sequential(
                nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),              # (N, w, 4, 4)
                nn.Conv2d(width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width),
                nn.LeakyReLU(0.2), nn.Flatten(),                              # (N, 2w * 2 * 2)
                nn.Linear(2 * width * 4, 1))

    def forward(self, x):
        return self.net(x).squeeze(1)


# ------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------

def train_discriminator(D: nn.Module, G: nn.Module,
                        sample_real: Callable[[int, torch.Generator], torch.Tensor], steps: int,
                        batch_size: int = 128, lr: float = 1e-3, seed: int = 0) -> Log:
    """Train D alone (Adam, through dlcv.loop.train) to tell real examples from the samples of a
    fixed G: the situation early in training, when G is poor and D wins easily."""
    steps = integer("train_discriminator", "steps", steps, 1)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))

    def batches():
        for _ in range(steps):
            real = sample_real(batch_size, g)
            with torch.no_grad():
                fake = G(torch.randn(batch_size, G.noise_dim, generator=g))
            yield real, fake

    D.train()
    log = train(lambda b: discriminator_loss(D(b[0]), D(b[1])), opt, batches())
    D.eval()
    return log


def generator_gradient_norms(G: nn.Module, D: nn.Module, z: torch.Tensor) -> dict[str, float]:
    """The norm of the gradient of each generator loss with respect to G's parameters, on the
    noise z (N, noise_dim), and the mean D(G(z)): {"minimax": ..., "non-saturating": ...,
    "D(G(z))": ...}. G and D are not changed (gradients are taken with torch.autograd.grad)."""
    params = [p for p in G.parameters() if p.requires_grad]
    out = {}
    for kind in GENERATOR_LOSSES:
        loss = generator_loss(D(G(z)), kind)
        grads = torch.autograd.grad(loss, params)
        out[kind] = float(torch.sqrt(sum((gr ** 2).sum() for gr in grads)))
    with torch.no_grad():
        out["D(G(z))"] = float(torch.sigmoid(D(G(z))).mean())
    return out


@dataclass
class GANRun:
    """train_gan's record: d_loss, g_loss (per step), snapshots {step: samples (n, ...) numpy}
    drawn from fixed noise."""

    d_log: Log
    g_log: Log
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)


def train_gan(G: nn.Module, D: nn.Module, sample_real: Callable[[int, torch.Generator], torch.Tensor],
              steps: int, batch_size: int = 128, lr: float = 1e-3, betas=(0.5, 0.999),
              kind: str = "non-saturating", seed: int = 0, snapshot_every: int = 0,
              snapshot_n: int = 1000) -> GANRun:
    """Alternate one discriminator step and one generator step, `steps` times (Adam for both).

    sample_real(n, generator) -> (n, ...) real examples; G.noise_dim is the noise's size.
    Each step is one call of dlcv.loop.train on one batch, for D (fake samples detached) then
    for G (loss `kind`). Every snapshot_every steps (and at 0) G's samples of a fixed noise of
    snapshot_n draws are kept. G and D are trained in place and left in eval mode.
    """
    steps = integer("train_gan", "steps", steps, 1)
    choice("train_gan", "kind", kind, GENERATOR_LOSSES)
    lr = positive("train_gan", "lr", lr)
    g = torch.Generator().manual_seed(seed)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
    fixed = torch.randn(snapshot_n, G.noise_dim, generator=g)
    run = GANRun(Log(), Log())

    def snapshot(step):
        G.eval()
        with torch.no_grad():
            run.snapshots[step] = G(fixed).numpy()
        G.train()

    G.train()
    D.train()
    if snapshot_every:
        snapshot(0)
    for step in range(1, steps + 1):
        real = sample_real(batch_size, g)
        z = torch.randn(batch_size, G.noise_dim, generator=g)
        train(lambda b: discriminator_loss(D(b[0]), D(G(b[1]).detach())), opt_d, [(real, z)],
              log=run.d_log)
        train(lambda z_: generator_loss(D(G(z_)), kind), opt_g, [z], log=run.g_log)
        if snapshot_every and step % snapshot_every == 0:
            snapshot(step)
    G.eval()
    D.eval()
    return run


# ------------------------------------------------------------------------------------------
# A mixture of Gaussians, to see mode collapse
# ------------------------------------------------------------------------------------------

def ring_centres(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """The centres of `modes` Gaussians evenly spaced on a circle: (modes, 2)."""
    modes = integer("ring_centres", "modes", modes, 1)
    angle = 2 * np.pi * np.arange(modes) / modes
    return radius * np.c_[np.cos(angle), np.sin(angle)]


def ring_of_gaussians(n: int, generator: torch.Generator, modes: int = 8, radius: float = 2.0,
                      std: float = 0.05) -> torch.Tensor:
    """n points from an equal mixture of isotropic Gaussians (std) centred on ring_centres:
    (n, 2) float32."""
    n = integer("ring_of_gaussians", "n", n, 1)
    c = torch.as_tensor(ring_centres(modes, radius), dtype=torch.float32)
    k = torch.randint(0, modes, (n,), generator=generator)
    return c[k] + std * torch.randn(n, 2, generator=generator)


@dataclass
class Coverage:
    """counts: (modes,) samples within 3 std of each centre; covered: how many modes hold at
    least min_share of the samples; high_quality: share of samples within 3 std of some centre."""

    counts: np.ndarray
    covered: int
    high_quality: float


def mode_coverage(samples, centres, std: float, min_share: float = 0.02) -> Coverage:
    """How many modes of a mixture the samples (N, 2) cover: a sample belongs to the nearest
    centre (K, 2) when it lies within 3 std of it; a mode is covered when at least min_share
    of all samples belong to it (1/K would be its fair share)."""
    x = np.asarray(samples, np.float64)
    c = np.asarray(centres, np.float64)
    if x.ndim != 2 or x.shape[1] != 2 or c.ndim != 2 or c.shape[1] != 2:
        raise ValueError(f"mode_coverage: samples and centres must be (N, 2) and (K, 2), got "
                         f"{x.shape} and {c.shape}")
    positive("mode_coverage", "std", std)
    d = np.linalg.norm(x[:, None] - c[None], axis=2)  # (N, K)
    near, k = d.min(1) <= 3 * std, d.argmin(1)
    counts = np.bincount(k[near], minlength=len(c))
    return Coverage(counts, int((counts >= min_share * len(x)).sum()), float(near.mean()))
