"""Autoencoders and variational autoencoders on the digits (lecture 17, Kingma & Welling 2014).

    AutoEncoder(latent_dim, variational)     MLP encoder x (N, 64) -> z (N, d) [VAE: mu, logvar]
                                             and decoder z -> pixel logits (N, 64)
    gaussian_kl(mu, logvar)                  KL( N(mu, diag e^logvar) || N(0, I) ): (N,)
    reparameterize(mu, logvar, eps)          z = mu + e^(logvar / 2) * eps
    reconstruction_nll(logits, x)            Bernoulli negative log-likelihood, summed over pixels
    negative_elbo(model, x, eps, beta)       mean over the batch of NLL + beta * KL -> Terms
    fit_autoencoder(X, variational, ...)     Adam through dlcv.loop.train, cached per settings
    decode_grid(model, lims, n)              the decoded images of an n x n grid of the 2-D
                                             latent plane -> (n, n, 8, 8)
    encode_mean(model, X)                    the code (AE) or the posterior mean (VAE): (N, d)

Pixels are grey levels in [0, 1], treated as Bernoulli probabilities (the usual choice for
MNIST-like data since Kingma & Welling): the decoder outputs logits, and its image is their
sigmoid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.loop import Log, cycled, train
from dlcv.validate import integer, positive


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])  # no ReLU after the last layer


class AutoEncoder(nn.Module):
    """An MLP autoencoder for 64-pixel images; variational=True makes it a VAE.

    encoder: 64 -> hidden -> hidden/2 -> latent_dim (AE) or 2 * latent_dim (VAE: mu, logvar)
    decoder: latent_dim -> hidden/2 -> hidden -> 64 logits
    encode(x: (N, 64)) -> (mu (N, d), logvar (N, d) or None);  decode(z: (N, d)) -> (N, 64)
    """

    def __init__(self, latent_dim: int = 2, variational: bool = True, hidden: int = 256,
                 seed: int = 0):
        super().__init__()
        self.latent_dim = integer("AutoEncoder", "latent_dim", latent_dim, 1)
        hidden = integer("AutoEncoder", "hidden", hidden, 2)
        self.variational = bool(variational)
        out = 2 * latent_dim if variational else latent_dim
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder = _mlp([64, hidden, hidden // 2, out])
            self.decoder = _mlp([latent_dim, hidden // 2, hidden, 64])

    def encode(self, x: torch.Tensor):
        h = self.encoder(x.reshape(len(x), 64))
        if not self.variational:
            return h, None
        return h[:, :self.latent_dim], h[:, self.latent_dim:]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"AutoEncoder.decode: z must be (N, {self.latent_dim}), "
                             f"got {tuple(z.shape)}")
        return self.decoder(z)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, diag(exp(logvar))) || N(0, I) ) per row: mu, logvar (N, d) -> (N,).

    = 1/2 sum_j ( mu_j^2 + sigma_j^2 - log sigma_j^2 - 1 ), zero exactly when mu = 0, sigma = 1.
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"gaussian_kl: mu and logvar must have one shape, got "
                         f"{tuple(mu.shape)} and {tuple(logvar.shape)}")
    return 0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum(dim=-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps with sigma = exp(logvar / 2): (N, d). The randomness is in eps ~ N(0, I),
    drawn outside, so z is a differentiable function of mu and logvar."""
    if eps.shape != mu.shape:
        raise ValueError(f"reparameterize: eps must have mu's shape {tuple(mu.shape)}, "
                         f"got {tuple(eps.shape)}")
    return mu + (0.5 * logvar).exp() * eps


def reconstruction_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x | z) for Bernoulli pixels: logits (N, 64), x (N, 64) or (N, 1, 8, 8) in [0, 1]
    -> (N,) nats, summed over the pixels."""
    x = x.reshape(len(x), -1)
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)


@dataclass
class Terms:
    """A batch's loss (to minimise) and its two parts, means over the batch (nats per image)."""

    loss: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


def negative_elbo(model: AutoEncoder, x: torch.Tensor, eps: torch.Tensor | None = None,
                  beta: float = 1.0) -> Terms:
    """For a VAE: mean over the batch of  E_q[-log p(x|z)] + beta KL(q(z|x) || p(z)), estimated
    with one z = mu + sigma * eps per image (eps (N, d), drawn by the caller). For a plain
    autoencoder: the reconstruction NLL of its code, and kl = 0."""
    mu, logvar = model.encode(x)
    if not model.variational:
        rec = reconstruction_nll(model.decode(mu), x).mean()
        return Terms(rec, rec, torch.zeros(()))
    if eps is None:
        raise ValueError("negative_elbo: a VAE needs eps, (N, latent_dim) standard normal draws")
    rec = reconstruction_nll(model.decode(reparameterize(mu, logvar, eps)), x).mean()
    kl = gaussian_kl(mu, logvar).mean()
    return Terms(rec + beta * kl, rec, kl)


@dataclass
class AEFit:
    """fit_autoencoder's result: the model (eval mode) and the per-step losses."""

    model: AutoEncoder
    log: Log


_FITS: dict[tuple, AEFit] = {}


def fit_autoencoder(X, variational: bool = True, latent_dim: int = 2, steps: int = 3000,
                    batch_size: int = 128, lr: float = 2e-3, beta: float = 1.0,
                    seed: int = 0) -> AEFit:
    """Train an AutoEncoder on X (N, 1, 8, 8) or (N, 64) in [0, 1] with Adam through
    dlcv.loop.train; cached per (X's size and sum, settings), so a lecture that asks twice trains
    once."""
    X = torch.as_tensor(np.asarray(X, np.float32)).reshape(len(X), -1)
    if X.shape[1] != 64 or X.min() < 0 or X.max() > 1:
        raise ValueError(f"fit_autoencoder: X must be (N, 64) images in [0, 1], got "
                         f"{tuple(X.shape)} in [{float(X.min()):.2f}, {float(X.max()):.2f}]")
    steps = integer("fit_autoencoder", "steps", steps, 1)
    lr, beta = positive("fit_autoencoder", "lr", lr), float(beta)
    key = (len(X), round(float(X.sum()), 3), bool(variational), latent_dim, steps, batch_size,
           lr, beta, seed)
    if key in _FITS:
        return _FITS[key]
    model = AutoEncoder(latent_dim, variational, seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)

    def loss_of(idx):
        eps = torch.randn(len(idx), latent_dim, generator=g) if variational else None
        return negative_elbo(model, X[idx], eps, beta).loss

    model.train()
    log = train(loss_of, opt, cycled(len(X), batch_size, steps, g))
    model.eval()
    _FITS[key] = AEFit(model, log)
    return _FITS[key]


def encode_mean(model: AutoEncoder, X) -> np.ndarray:
    """The code of an AE, or the posterior mean mu of a VAE: X (N, 64) or (N, 1, 8, 8) -> (N, d)."""
    with torch.no_grad():
        return model.encode(torch.as_tensor(np.asarray(X, np.float32)))[0].numpy()


def decode(model: AutoEncoder, z) -> np.ndarray:
    """Decoded images, sigmoid of the logits: z (N, d) -> (N, 8, 8) in [0, 1]."""
    with torch.no_grad():
        logits = model.decode(torch.as_tensor(np.asarray(z, np.float32)).reshape(-1, model.latent_dim))
        return torch.sigmoid(logits).numpy().reshape(-1, 8, 8)


def decode_grid(model: AutoEncoder, lims: tuple[float, float] = (-2.5, 2.5),
                n: int = 15) -> np.ndarray:
    """Decode an n x n grid over [lims]^2 of a 2-D latent plane: -> (n, n, 8, 8), row i has
    z2 = the i-th value from the top (largest), column j has z1 = the j-th value."""
    n = integer("decode_grid", "n", n, 2)
    if model.latent_dim != 2:
        raise ValueError(f"decode_grid: the model's latent_dim must be 2, got {model.latent_dim}")
    v = np.linspace(lims[0], lims[1], n)
    z1, z2 = np.meshgrid(v, v[::-1])
    return decode(model, np.c_[z1.ravel(), z2.ravel()]).reshape(n, n, 8, 8)


def mosaic(images: np.ndarray, pad: int = 1, fill: float = 1.0) -> np.ndarray:
    """(R, C, h, w) images -> one (R (h + pad) - pad, C (w + pad) - pad) picture, the pad
    pixels set to fill."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"mosaic: images must be (R, C, h, w), got {images.shape}")
    R, C, h, w = images.shape
    out = np.full((R * (h + pad) - pad, C * (w + pad) - pad), float(fill))
    for i in range(R):
        for j in range(C):
            out[i * (h + pad):i * (h + pad) + h, j * (w + pad):j * (w + pad) + w] = images[i, j]
    return out
