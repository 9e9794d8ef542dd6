"""Tests for dlcv/generative/autoencoders.py: the KL term against torch.distributions, the
reparameterisation against autograd, the ELBO against its parts, the grid decoder."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcv.generative import autoencoders as AE


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    ref = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(AE.gaussian_kl(mu, logvar), ref)


def test_gaussian_kl_hand_case_and_zero_at_the_prior():
    kl = AE.gaussian_kl(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, -1.0]]))
    assert kl.item() == pytest.approx(0.5 + np.exp(-1) / 2, rel=1e-6)
    assert AE.gaussian_kl(torch.zeros(2, 4), torch.zeros(2, 4)).abs().max() == 0
    with pytest.raises(ValueError, match="one shape"):
        AE.gaussian_kl(torch.zeros(2, 4), torch.zeros(2, 3))


def test_reparameterize_gradients_are_one_and_eps():
    mu = torch.tensor([0.5, -1.0], requires_grad=True)
    logvar = torch.tensor([0.2, -0.4], requires_grad=True)
    eps = torch.tensor([1.5, -0.3])
    z = AE.reparameterize(mu, logvar, eps)
    torch.testing.assert_close(z, mu + torch.exp(0.5 * logvar) * eps)
    z.sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones(2))
    torch.testing.assert_close(logvar.grad, 0.5 * torch.exp(0.5 * logvar.detach()) * eps)
    with pytest.raises(ValueError, match="eps"):
        AE.reparameterize(mu, logvar, torch.zeros(3))


def test_reconstruction_nll_is_summed_bernoulli_cross_entropy():
    logits = torch.tensor([[0.0] * 64])
    x = torch.full((1, 1, 8, 8), 0.25)
    # every pixel: -(0.25 log 0.5 + 0.75 log 0.5) = log 2
    assert AE.reconstruction_nll(logits, x).item() == pytest.approx(64 * np.log(2), rel=1e-6)


def test_negative_elbo_is_reconstruction_plus_kl():
    model = AE.AutoEncoder(latent_dim=2, variational=True, hidden=16, seed=0)
    x = torch.rand(6, 64, generator=torch.Generator().manual_seed(1))
    eps = torch.randn(6, 2, generator=torch.Generator().manual_seed(2))
    t = AE.negative_elbo(model, x, eps, beta=0.5)
    mu, logvar = model.encode(x)
    rec = F.binary_cross_entropy_with_logits(model.decode(mu + (0.5 * logvar).exp() * eps), x,
                                             reduction="sum") / 6
    torch.testing.assert_close(t.reconstruction, rec)
    torch.testing.assert_close(t.loss, rec + 0.5 * AE.gaussian_kl(mu, logvar).mean())
    with pytest.raises(ValueError, match="eps"):
        AE.negative_elbo(model, x)
    plain = AE.AutoEncoder(latent_dim=2, variational=False, hidden=16)
    assert AE.negative_elbo(plain, x).kl.item() == 0


def test_fit_autoencoder_lowers_the_loss_and_caches():
    rng = np.random.default_rng(0)
    X = (rng.random((64, 64)) < 0.3).astype(np.float32)
    fit = AE.fit_autoencoder(X, variational=True, latent_dim=2, steps=60, batch_size=32)
    assert np.mean(fit.log.loss[-10:]) < np.mean(fit.log.loss[:10])
    assert AE.fit_autoencoder(X, variational=True, latent_dim=2, steps=60, batch_size=32) is fit
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        AE.fit_autoencoder(X * 3, steps=1)


def test_decode_grid_orders_rows_from_the_top():
    model = AE.AutoEncoder(latent_dim=2, hidden=16, seed=0)
    grid = AE.decode_grid(model, (-1.0, 1.0), n=3)
    assert grid.shape == (3, 3, 8, 8)
    np.testing.assert_allclose(grid[0, 2], AE.decode(model, [[1.0, 1.0]])[0], rtol=1e-6)
    np.testing.assert_allclose(grid[2, 0], AE.decode(model, [[-1.0, -1.0]])[0], rtol=1e-6)
    big = AE.AutoEncoder(latent_dim=3, hidden=16)
    with pytest.raises(ValueError, match="latent_dim must be 2"):
        AE.decode_grid(big)


def test_mosaic_places_images_and_padding():
    imgs = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    m = AE.mosaic(imgs, pad=1, fill=-1)
    assert m.shape == (5, 8)
    np.testing.assert_array_equal(m[3:5, 3:5], imgs[1, 1])
    assert m[2, 0] == -1 and m[0, 2] == -1
