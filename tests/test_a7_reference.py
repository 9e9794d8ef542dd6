"""Assignment a7's reference solution, from the source notebook, against independent references.

The nbgrader round trip proves the source edition earns full marks; these tests check the
reference itself more widely than the notebook's hidden tests: saliency and Grad-CAM against
lecture 16's teaching versions (dlcv.understanding.attribution), FGSM and PGD against
dlcv.understanding.attacks and their budget and range; the VAE's loss against
torch.distributions; the GAN losses against softplus formulas at logits of +-100; the cosine
schedule against Nichol & Dhariwal's formula; q_sample, reverse_step and sample against lecture
15's dlcv.generative.diffusion (q_sample, q_posterior, predict_x0, ddpm_sample) on the same
schedule; train_denoiser on a tiny problem.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import REPO
from torch import nn

from autograder.notebooks import answer_cells, read

NOTEBOOK = REPO / "assignments" / "a7_understanding_generative" / "a7_understanding_generative.ipynb"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These networks are small: a second torch thread only slows them down on a busy machine."""
    from dlcv.timing import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def ref():
    ns: dict = {"np": np, "torch": torch, "F": F, "nn": nn, "math": math}
    for cell in answer_cells(read(NOTEBOOK)).values():
        exec(compile(cell.source, str(NOTEBOOK), "exec"), ns)  # noqa: S102 - our notebook
    return ns


def probe_cnn(channels: int, size: int, seed: int):
    from dlcv.understanding.model import ProbeCNN

    return ProbeCNN(channels, 10, size, seed=seed).eval()


def test_answers_use_none_of_the_lectures_teaching_modules():
    """The grading sandbox does not mount lecture 16's attribution, attacks and synthesis nor
    lecture 17's autoencoders, gans, diffusion and style: the reference imports none of them."""
    for gid, cell in answer_cells(read(NOTEBOOK)).items():
        for name in ("understanding.attribution", "understanding.attacks", "understanding.synthesis",
                     "generative.autoencoders", "generative.gans", "generative.diffusion",
                     "generative.style"):
            assert name not in cell.source, f"answer cell {gid} mentions dlcv.{name}"


# ------------------------------------------------------------------------------------------------
# Part 1: saliency and Grad-CAM against lecture 16's versions
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("channels, size, seed", [(1, 16, 0), (3, 8, 1), (3, 12, 2)])
def test_saliency_matches_the_lecture_and_leaves_no_trace(ref, channels, size, seed):
    from dlcv.understanding.attribution import saliency

    net = probe_cnn(channels, size, seed)
    g = torch.Generator().manual_seed(seed)
    x, y = torch.rand(6, channels, size, size, generator=g), torch.randint(0, 10, (6,), generator=g)
    x0 = x.clone()
    got = ref["saliency"](net, x, y)
    assert got.shape == (6, size, size) and got.dtype == torch.float32 and not got.requires_grad
    torch.testing.assert_close(got, saliency(net, x, y), rtol=1e-5, atol=1e-8)
    assert torch.equal(x, x0) and not x.requires_grad
    assert all(p.grad is None for p in net.parameters())


@pytest.mark.parametrize("layer", ["conv1", "conv2", "conv3"])
def test_grad_cam_matches_the_lecture_and_removes_its_hook(ref, layer):
    from dlcv.understanding.attribution import gradcam

    net = probe_cnn(1, 16, 3)
    g = torch.Generator().manual_seed(4)
    x, y = torch.rand(5, 1, 16, 16, generator=g), torch.randint(0, 10, (5,), generator=g)
    got = ref["grad_cam"](net, x, y, getattr(net, layer))
    assert got.shape == (5, 8, 8) and got.min() >= 0 and not got.requires_grad
    torch.testing.assert_close(got, gradcam(net, x, y, layer), rtol=1e-5, atol=1e-8)
    assert all(not m._forward_hooks for m in net.modules())
    with pytest.raises(ValueError):  # the model refuses 12x12 images after the hook is registered
        ref["grad_cam"](net, torch.zeros(2, 1, 12, 12), torch.tensor([0, 1]), getattr(net, layer))
    assert all(not m._forward_hooks for m in net.modules())


def test_grad_cam_of_a_linear_head_by_hand(ref):
    """One 1x1 convolution ReLU(x), then a linear layer: A = x, dA = W[y] as a map, so the map
    is ReLU(mean(W[y])) * x."""
    net = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(9, 4, bias=False))
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[3].weight.copy_(torch.linspace(-1, 1.5, 36).reshape(4, 9))
    x, y = 0.1 + torch.rand(4, 1, 3, 3, generator=torch.Generator().manual_seed(0)), torch.arange(4)
    want = F.relu(net[3].weight[y].mean(1))[:, None, None] * x[:, 0]
    torch.testing.assert_close(ref["grad_cam"](net, x, y, net[1]), want.detach(), rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------------------------------------
# Part 2: attacks against lecture 16's versions
# ------------------------------------------------------------------------------------------------
def _images(seed: int, n: int = 8, size: int = 16):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, size, size, generator=g)
    x[x < 0.3] = 0.0  # dark background pixels at 0, where the clamp acts
    return x, torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("targeted", [False, True])
def test_fgsm_matches_the_lecture(ref, targeted):
    from dlcv.understanding.attacks import fgsm

    net, (x, y) = probe_cnn(1, 16, 5), _images(5)
    t = (y + 3) % 10 if targeted else None
    x0 = x.clone()
    got = ref["fgsm"](net, x, y, 0.1, target=t)
    assert torch.equal(x, x0) and all(p.grad is None for p in net.parameters()) and not got.requires_grad
    want = fgsm(net, x, y, 0.1, target=t)
    assert (got - want).abs().gt(1e-6).float().mean() <= 0.002  # a sign flip where the gradient is ~0
    assert (got - x).abs().max() <= 0.1 + 1e-6 and got.min() >= 0 and got.max() <= 1


@pytest.mark.parametrize("targeted", [False, True])
@pytest.mark.parametrize("steps", [1, 7])
def test_pgd_without_random_start_matches_the_lecture(ref, targeted, steps):
    from dlcv.understanding.attacks import pgd

    net, (x, y) = probe_cnn(1, 16, 6), _images(6)
    t = (y + 1) % 10 if targeted else None
    got = ref["pgd"](net, x, y, 0.15, steps, 0.05, target=t, random_start=False)
    want = pgd(net, x, y, 0.15, steps, 0.05, target=t, random_start=False)
    assert (got - want).abs().gt(1e-6).float().mean() <= 0.002


def test_pgd_with_one_step_of_eps_is_fgsm_and_random_starts_stay_in_the_ball(ref):
    net, (x, y) = probe_cnn(1, 16, 7), _images(7)
    one_step = ref["pgd"](net, x, y, 0.1, 1, 0.1, random_start=False)
    torch.testing.assert_close(one_step, ref["fgsm"](net, x, y, 0.1))
    x0 = x.clone()
    a = ref["pgd"](net, x, y, 0.2, 4, 0.1, generator=torch.Generator().manual_seed(0))
    b = ref["pgd"](net, x, y, 0.2, 4, 0.1, generator=torch.Generator().manual_seed(0))
    c = ref["pgd"](net, x, y, 0.2, 4, 0.1, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c) and torch.equal(x, x0)
    for adv in (a, c):
        assert (adv - x).abs().max() <= 0.2 + 1e-6 and adv.min() >= 0 and adv.max() <= 1


def test_the_attacks_clear_the_bar_at_the_notebooks_budgets(ref):
    """The success rates the hidden tests require, on the course classifier and the test digits,
    with the notebook's SETTINGS and its generator seed."""
    from autograder.hidden import Spec
    from dlcv.understanding.attacks import success_rate
    from dlcv.understanding.model import classifier, load_images

    S = Spec.find(REPO, "a7_understanding_generative").value("SETTINGS")
    d = load_images("digits", 16)
    X, y = torch.as_tensor(d.X_test), torch.as_tensor(d.y_test, dtype=torch.int64)
    net = classifier(seed=0)
    rates = [success_rate(net, X, ref["fgsm"](net, X, y, S["fgsm_eps"]), y),
             success_rate(net, X, ref["pgd"](net, X, y, S["pgd_eps"], S["pgd_steps"], S["pgd_step_size"],
                                             generator=torch.Generator().manual_seed(0)), y)]
    t = (y + 1) % 10
    adv = ref["pgd"](net, X, y, S["targeted_eps"], S["targeted_steps"], S["targeted_step_size"], target=t,
                     generator=torch.Generator().manual_seed(0))
    rates.append(success_rate(net, X, adv, y, target=t))
    assert min(rates) >= S["attack_success"] + 0.05, rates  # the spec: clear the bar by 5 points


# ------------------------------------------------------------------------------------------------
# Parts 3 and 4: the VAE's and the GANs' losses
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("N, D, Z", [(1, 3, 1), (7, 64, 8), (16, 10, 2)])
def test_vae_loss_matches_torch_distributions(ref, N, D, Z):
    from torch.distributions import Bernoulli, Normal, kl_divergence

    g = torch.Generator().manual_seed(N * D)
    logits = (4 * torch.randn(N, D, generator=g, dtype=torch.float64)).requires_grad_()
    x = torch.rand(N, D, generator=g, dtype=torch.float64)
    x[:, ::2] = x[:, ::2].round()
    mu = torch.randn(N, Z, generator=g, dtype=torch.float64).requires_grad_()
    logvar = torch.randn(N, Z, generator=g, dtype=torch.float64).requires_grad_()
    loss, recon, kl = ref["vae_loss"](logits, x, mu, logvar)
    assert loss.dim() == recon.dim() == kl.dim() == 0
    want_recon = -Bernoulli(logits=logits, validate_args=False).log_prob(x).sum(1).mean()
    want_kl = kl_divergence(Normal(mu, torch.exp(logvar / 2)), Normal(0.0, 1.0)).sum(1).mean()
    torch.testing.assert_close(recon, want_recon)
    torch.testing.assert_close(kl, want_kl)
    torch.testing.assert_close(loss, want_recon + want_kl)
    got = torch.autograd.grad(loss, (logits, mu, logvar))
    want = torch.autograd.grad(want_recon + want_kl, (logits, mu, logvar))
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)


def test_vae_loss_is_exact_at_large_logits_and_reparameterize_passes_gradients(ref):
    logits = torch.tensor([[100.0, -100.0, 100.0, 0.0]], requires_grad=True)
    x = torch.tensor([[1.0, 1.0, 0.0, 0.5]])
    _, recon, _ = ref["vae_loss"](logits, x, torch.zeros(1, 2), torch.zeros(1, 2))
    assert torch.isclose(recon, torch.tensor(200.0 + math.log(2)), rtol=1e-6)
    (g,) = torch.autograd.grad(recon, logits)
    assert torch.all(torch.isfinite(g))
    mu, lv = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    eps = torch.randn(4, 3)
    z = ref["reparameterize"](mu, lv, eps)
    torch.testing.assert_close(z, mu + torch.exp(lv / 2) * eps)
    g_mu, g_lv = torch.autograd.grad(z.sum(), (mu, lv))
    torch.testing.assert_close(g_mu, torch.ones(4, 3))
    torch.testing.assert_close(g_lv, 0.5 * torch.exp(lv / 2).detach() * eps)


def test_gan_losses_against_softplus_at_large_logits(ref):
    real = torch.tensor([100.0, -100.0, 3.0, 0.0], dtype=torch.float64, requires_grad=True)
    fake = torch.tensor([-100.0, 100.0, -2.0], dtype=torch.float64, requires_grad=True)
    d = ref["discriminator_loss"](real, fake)
    want = F.softplus(-real).mean() + F.softplus(fake).mean()
    torch.testing.assert_close(d, want)
    assert abs(d.item() - (100 / 4 + 100 / 3)) < 2  # the two sure-but-wrong logits dominate
    gr, gf = torch.autograd.grad(d, (real, fake))
    torch.testing.assert_close(gr, (torch.sigmoid(real) - 1).detach() / 4)
    torch.testing.assert_close(gf, torch.sigmoid(fake).detach() / 3)
    gl = ref["generator_loss"](fake)
    torch.testing.assert_close(gl, F.softplus(-fake).mean())
    (g,) = torch.autograd.grad(gl, fake)
    torch.testing.assert_close(g, (torch.sigmoid(fake) - 1).detach() / 3)


def test_least_squares_gan_losses_by_hand(ref):
    r, f = torch.tensor([1.0, 0.0, 3.0]), torch.tensor([0.0, -2.0])
    assert float(ref["ls_discriminator_loss"](r, f)) == pytest.approx(0.5 * (0 + 1 + 4) / 3 + 0.5 * 4 / 2)
    assert float(ref["ls_generator_loss"](f)) == pytest.approx(0.5 * (1 + 9) / 2)


# ------------------------------------------------------------------------------------------------
# Part 5: diffusion against lecture 17's versions
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("T", [1, 4, 100, 1000])
def test_cosine_schedule_follows_nichol_and_dhariwal(ref, T):
    betas, alphas, abar = ref["cosine_schedule"](T)
    assert all(v.dtype == torch.float64 and v.shape == (T,) for v in (betas, alphas, abar))
    f = [math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2 for t in range(T + 1)]
    want = torch.tensor([min(1 - f[t] / f[t - 1], 0.999) for t in range(1, T + 1)], dtype=torch.float64)
    torch.testing.assert_close(betas, want, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(alphas, 1 - want, rtol=1e-12, atol=1e-15)
    # alpha_bar_t = f(t) / f(0) until the clipping at 0.999 acts (only at the last steps)
    clipped = want >= 0.999
    ratio = torch.tensor(f[1:], dtype=torch.float64) / f[0]
    first = int(clipped.nonzero()[0]) if clipped.any() else T
    torch.testing.assert_close(abar[:first], ratio[:first], rtol=1e-9, atol=1e-15)
    assert torch.all(abar[1:] < abar[:-1]) and abar[-1] < 1.001e-3  # T = 1: beta clipped at 0.999
    assert abar[0] > 0.99 or T < 100


def _schedule(ref, T):
    from dlcv.generative.diffusion import Schedule

    betas, alphas, abar = ref["cosine_schedule"](T)
    return betas, abar, Schedule(betas, alphas, abar)


class _Tiny(nn.Module):
    """A small fixed noise predictor on (N, 1, 8, 8) images (and, flattened, on (N, 64))."""

    def __init__(self, T, seed=0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.lin, self.table = nn.Linear(64, 64), nn.Embedding(T + 1, 64)

    def forward(self, x, t):
        out = 0.5 * torch.tanh(self.lin(x.reshape(len(x), 64))) + 0.3 * self.table(t)
        return out.reshape(x.shape)


def test_q_sample_and_the_loss_match_the_lecture(ref):
    from dlcv.generative.diffusion import noise_prediction_loss, q_sample

    _, abar, s = _schedule(ref, 100)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.rand(9, 1, 8, 8, generator=g) * 2 - 1, torch.randn(9, 1, 8, 8, generator=g)
    t = torch.tensor([1, 2, 10, 50, 99, 100, 100, 1, 37])
    got = ref["q_sample"](x0, t, eps, abar)
    assert got.dtype == torch.float32 and got.shape == x0.shape
    want = q_sample(x0.reshape(9, 64).double(), t, eps.reshape(9, 64).double(), s)
    torch.testing.assert_close(got.reshape(9, 64).double(), want, rtol=1e-5, atol=1e-6)
    net = _Tiny(100)
    loss = ref["diffusion_loss"](net, x0, t, eps, abar)
    want = noise_prediction_loss(lambda x, tt: net(x.float().reshape(-1, 1, 8, 8), tt).reshape(-1, 64),
                                 x0.reshape(9, 64), t, eps.reshape(9, 64), s)
    torch.testing.assert_close(loss, want.float(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("t", [100, 50, 2, 1])
def test_reverse_step_is_the_clamped_posterior_of_the_lecture(ref, t):
    from dlcv.generative.diffusion import predict_x0, q_posterior

    betas, abar, s = _schedule(ref, 100)
    net = _Tiny(100, seed=1)
    g = torch.Generator().manual_seed(t)
    x, z = 3 * torch.randn(6, 1, 8, 8, generator=g), torch.randn(6, 1, 8, 8, generator=g)
    got = ref["reverse_step"](net, x, t, z, betas, abar)
    assert got.dtype == torch.float32 and not got.requires_grad
    tt = torch.full((6,), t)
    with torch.no_grad():
        x0 = predict_x0(x.reshape(6, 64).double(), tt, net(x, tt).reshape(6, 64).double(), s).clamp(-1, 1)
    mean, var = q_posterior(x0, x.reshape(6, 64).double(), tt, s)
    want = mean + var.sqrt()[:, None] * z.reshape(6, 64) if t > 1 else mean
    torch.testing.assert_close(got.reshape(6, 64).double(), want, rtol=1e-5, atol=1e-5)


def test_sample_is_the_lectures_ancestral_sampler(ref):
    """With the same generator seed, sample draws the same noise as ddpm_sample (x_T, then one z
    per step), so the two samplers agree."""
    from dlcv.generative.diffusion import ddpm_sample

    betas, abar, s = _schedule(ref, 20)
    net = _Tiny(20, seed=2)
    got = ref["sample"](net, 7, betas, abar, torch.Generator().manual_seed(3))
    assert got.shape == (7, 1, 8, 8) and got.min() >= -1 and got.max() <= 1
    want = ddpm_sample(lambda x, tt: net(x.reshape(-1, 1, 8, 8), tt).reshape(-1, 64), s, 7, seed=3, dim=64)
    torch.testing.assert_close(got.reshape(7, 64), torch.as_tensor(want.samples).clamp(-1, 1), rtol=1e-4,
                               atol=1e-4)


def test_train_denoiser_fits_a_tiny_problem(ref):
    """Four fixed images: the loss falls, the run is repeatable with a seeded generator, and it
    returns one float per step."""
    _, abar, _ = _schedule(ref, 10)
    X = torch.sign(torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0)))
    runs = []
    for _ in range(2):
        net = _Tiny(10, seed=4)
        losses = ref["train_denoiser"](net, X, abar, 300, 32, 1e-2, torch.Generator().manual_seed(5))
        runs.append((losses, net.lin.weight.detach().clone()))
    losses = runs[0][0]
    assert len(losses) == 300 and all(isinstance(v, float) for v in losses)
    assert np.mean(losses[-50:]) < 0.75 * np.mean(losses[:50])
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])


def test_the_graders_sampler_is_the_reference_sampler(ref, monkeypatch):
    """hidden_tests.py samples the student's `denoiser`'s weights in the given TimeMLP with a sampler
    of its own (numpy, outside the sandbox): given the same noise, it draws what the reference
    `sample` draws."""
    import sys

    from autograder.hidden import Spec

    spec = Spec.find(REPO, "a7_understanding_generative")
    spec.load()  # imports hidden_tests.py as the module below
    hidden = sys.modules[f"dlcv_hidden_{spec.assignment}_{spec.digest()[:12]}"]
    T, n = 20, 7
    net = _Tiny(T, seed=6)
    betas, abar, _ = _schedule(ref, T)
    g = torch.Generator().manual_seed(8)
    noise = [torch.randn(n, 1, 8, 8, generator=g).double().numpy() for _ in range(T)]

    class Replay:  # numpy's generator, replaying torch's draws in the order `sample` makes them
        def __init__(self, seed):
            self.left = list(noise)

        def standard_normal(self, shape):
            return self.left.pop(0)

    monkeypatch.setattr(np.random, "default_rng", Replay)
    got = hidden._grader_samples(hidden._eps_of(net), n, T)
    want = ref["sample"](net, n, betas, abar, torch.Generator().manual_seed(8))
    np.testing.assert_allclose(got, want.numpy(), rtol=0, atol=1e-5)
