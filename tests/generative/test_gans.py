"""Tests for dlcv/generative/gans.py: the losses against hand values and autograd, the
networks' shapes, saturation on a trained discriminator, mode counting."""

import numpy as np
import pytest
import torch

from dlcv.generative import gans as GN


def test_losses_against_hand_values():
    real, fake = torch.tensor([0.0]), torch.tensor([0.0])  # D = 1/2 everywhere
    assert GN.discriminator_loss(real, fake).item() == pytest.approx(2 * np.log(2))
    assert GN.generator_loss(fake, "minimax").item() == pytest.approx(np.log(0.5))
    assert GN.generator_loss(fake, "non-saturating").item() == pytest.approx(np.log(2))
    a = torch.tensor([np.log(0.1 / 0.9)])  # D(G(z)) = 0.1
    assert GN.generator_loss(a, "minimax").item() == pytest.approx(np.log(0.9), rel=1e-6)
    assert GN.generator_loss(a, "non-saturating").item() == pytest.approx(-np.log(0.1), rel=1e-6)
    with pytest.raises(ValueError, match="kind"):
        GN.generator_loss(a, "wasserstein")


def test_losses_stay_finite_when_the_discriminator_is_sure():
    big = torch.tensor([80.0, -80.0])
    assert torch.isfinite(GN.discriminator_loss(big, -big))
    assert torch.isfinite(GN.generator_loss(-big, "non-saturating"))


@pytest.mark.parametrize("kind", GN.GENERATOR_LOSSES)
def test_logit_gradient_matches_autograd(kind):
    a = torch.tensor([-6.0, -2.0, 0.0, 3.0], dtype=torch.float64, requires_grad=True)
    (GN.generator_loss(a, kind) * len(a)).backward()  # the sum of the per-sample losses
    np.testing.assert_allclose(GN.generator_logit_gradient(a.detach().numpy(), kind),
                               a.grad.numpy(), rtol=1e-10)


def test_minimax_saturates_against_a_winning_discriminator():
    G, D = GN.MLPGenerator(noise_dim=4, hidden=32, seed=0), GN.MLPDiscriminator(hidden=32, seed=1)

    def ring(n, g):
        return GN.ring_of_gaussians(n, g, std=0.02)

    GN.train_discriminator(D, G, ring, steps=400, batch_size=64, lr=3e-3)
    r = GN.generator_gradient_norms(G, D, torch.randn(256, 4))
    assert r["D(G(z))"] < 0.05
    assert r["non-saturating"] > 20 * r["minimax"]


def test_dcgan_shapes_and_range():
    G, D = GN.DCGenerator(noise_dim=5, width=4), GN.DCDiscriminator(width=4)
    x = G(torch.randn(3, 5))
    assert x.shape == (3, 1, 8, 8) and x.abs().max() <= 1
    assert D(x).shape == (3,)


def test_train_gan_records_both_players_and_snapshots():
    G, D = GN.MLPGenerator(noise_dim=2, hidden=8), GN.MLPDiscriminator(hidden=8)
    run = GN.train_gan(G, D, lambda n, g: GN.ring_of_gaussians(n, g), steps=6, batch_size=8,
                       snapshot_every=3, snapshot_n=10)
    assert run.d_log.steps == run.g_log.steps == 6
    assert sorted(run.snapshots) == [0, 3, 6] and run.snapshots[6].shape == (10, 2)
    assert not np.allclose(run.snapshots[0], run.snapshots[6])


def test_ring_and_mode_coverage():
    c = GN.ring_centres(4, 1.0)
    np.testing.assert_allclose(c, [[1, 0], [0, 1], [-1, 0], [0, -1]], atol=1e-12)
    x = GN.ring_of_gaussians(4000, torch.Generator().manual_seed(0), modes=4, radius=1.0,
                             std=0.05).numpy()
    cov = GN.mode_coverage(x, c, 0.05)
    assert cov.covered == 4 and cov.high_quality > 0.98
    # all samples on one centre, plus far-away junk: one mode, half the samples near
    pts = np.r_[np.tile(c[1], (50, 1)), np.full((50, 2), 5.0)]
    cov = GN.mode_coverage(pts, c, 0.05)
    assert cov.covered == 1 and list(cov.counts) == [0, 50, 0, 0] and cov.high_quality == 0.5
    with pytest.raises(ValueError, match="samples and centres"):
        GN.mode_coverage(np.zeros((3, 3)), c, 0.1)
