"""Tests for dlcv/generative/diffusion.py: the schedule, the forward process against sampling,
the posterior against Ho et al.'s formulas, the samplers."""

import numpy as np
import pytest
import torch

from dlcv.generative import diffusion as DF


@pytest.fixture(scope="module")
def s():
    return DF.linear_schedule(50)


def test_schedule(s):
    assert s.T == 50
    assert s.betas[0].item() == pytest.approx(2e-3) and s.betas[-1].item() == pytest.approx(0.4)
    torch.testing.assert_close(s.alpha_bars, torch.cumprod(1 - s.betas, 0))
    assert s.abar(0).item() == 1 and s.abar(50).item() < 1e-4
    with pytest.raises(ValueError, match="beta_start"):
        DF.linear_schedule(10, 0.5, 0.1)


def test_q_sample_mean_and_variance_match_iterating_the_chain(s):
    g = torch.Generator().manual_seed(0)
    x0 = torch.tensor([[0.8, -0.5, 0.0]], dtype=torch.float64)
    x = x0.repeat(40000, 1)
    for t in range(1, 11):
        x = s.alphas[t - 1].sqrt() * x + s.betas[t - 1].sqrt() * torch.randn(
            x.shape, generator=g, dtype=torch.float64)
    ab = s.abar(10)
    torch.testing.assert_close(x.mean(0), ab.sqrt() * x0[0], atol=0.01, rtol=0)
    torch.testing.assert_close(x.var(0), (1 - ab).expand(3), atol=0.01, rtol=0)
    # the closed form draws the same distribution
    xt = DF.q_sample(x0.repeat(40000, 1), 10, torch.randn(40000, 3, generator=g,
                                                           dtype=torch.float64), s)
    torch.testing.assert_close(xt.mean(0), x.mean(0), atol=0.02, rtol=0)


def test_q_posterior_matches_bayes_rule_numerically(s):
    # q(x_{t-1} | x_t, x0) is proportional to q(x_t | x_{t-1}) q(x_{t-1} | x0): check the mean
    # and variance on a 1-D grid
    t, x0, xt = 7, torch.tensor([[0.6]]), torch.tensor([[0.1]])
    mean, var = DF.q_posterior(x0.double(), xt.double(), t, s)
    grid = torch.linspace(-3, 3, 200001, dtype=torch.float64)
    a, b = s.alphas[t - 1], s.betas[t - 1]
    ab_prev = s.abar(t - 1)
    logp = (-(xt.item() - a.sqrt() * grid) ** 2 / (2 * b)
            - (grid - ab_prev.sqrt() * x0.item()) ** 2 / (2 * (1 - ab_prev)))
    w = torch.softmax(logp, 0)
    m = (w * grid).sum()
    assert mean.item() == pytest.approx(m.item(), abs=1e-6)
    assert var.item() == pytest.approx((w * (grid - m) ** 2).sum().item(), rel=1e-4)
    # Ho et al. eq. 7: beta_tilde = (1 - abar_{t-1}) / (1 - abar_t) beta_t; zero at t = 1
    assert DF.q_posterior(x0, xt, 1, s)[1].item() == 0


def test_posterior_mean_from_predicted_noise_is_ho_eq_11(s):
    g = torch.Generator().manual_seed(1)
    xt, eps = torch.randn(4, 5, generator=g).double(), torch.randn(4, 5, generator=g).double()
    t = torch.tensor([1, 10, 30, 50])
    x0 = DF.predict_x0(xt, t, eps, s)
    mean, _ = DF.q_posterior(x0, xt, t, s)
    a, b, ab = s.alphas[t - 1], s.betas[t - 1], s.abar(t)
    eq11 = (xt - (b / (1 - ab).sqrt())[:, None] * eps) / a.sqrt()[:, None]
    torch.testing.assert_close(mean, eq11)
    # and predict_x0 inverts q_sample
    torch.testing.assert_close(DF.predict_x0(DF.q_sample(x0, t, eps, s), t, eps, s), x0)


class Oracle(torch.nn.Module):
    """The exact noise predictor when all the data is one point c."""

    def __init__(self, c, s):
        super().__init__()
        self.c, self.s, self.dim = c, s, c.shape[1]

    def forward(self, x, t):
        ab = self.s.abar(t).float()[:, None]
        return (x - ab.sqrt() * self.c) / (1 - ab).sqrt()


def test_samplers_recover_a_single_point(s):
    c = torch.tensor([[0.5, -0.25]])
    model = Oracle(c, s)
    for traj in (DF.ddpm_sample(model, s, 20, seed=0), DF.ddim_sample(model, s, 20, steps=5)):
        np.testing.assert_allclose(traj.samples, np.tile(c.numpy(), (20, 1)), atol=1e-4)
        assert traj.xs.shape[0] == len(traj.times) == traj.x0_hats.shape[0] + 1
    assert list(DF.ddim_sample(model, s, 2, steps=5).times) == [50, 38, 26, 13, 1, 0]


def test_noise_prediction_loss_is_zero_for_the_oracle_and_training_lowers_it(s):
    c = torch.tensor([[0.5, -0.25]])
    eps = torch.randn(8, 2)
    loss = DF.noise_prediction_loss(Oracle(c, s), c.repeat(8, 1), torch.arange(1, 9), eps, s)
    assert loss.item() < 1e-10
    X = np.random.default_rng(0).uniform(-1, 1, (64, 2)).astype(np.float32)
    fit = DF.fit_denoiser(X, s, steps=80, batch_size=32, hidden=32)
    assert np.mean(fit.log.loss[-20:]) < np.mean(fit.log.loss[:20])
    with pytest.raises(ValueError, match="t must be"):
        DF.q_sample(c, 51, c, s)
