"""A submission to a7 that games its own notebook, graded through the real pipeline.

Its `sample` returns real training digits, so the notebook's own score of the generated digits
looks perfect, while its `train_denoiser` stops after one step and replaces the network's forward
by one that steers every sample to the nearest memorised training digit (any sampler that asks
this `denoiser` for its noise predictions draws perfect digits); its `fgsm` answers the small
checks honestly but, on a large batch, returns test images of other digits (far outside the
eps-ball), so the notebook's success rate looks perfect too. The grader loads the denoiser's
weights (one step's) into the given TimeMLP and samples from that, checks `sample` against the
reference with a generator seeded alike, and checks the budget of every adversarial image: the
submission loses exactly those three tests and keeps every other point.
"""

from __future__ import annotations

import re

import pytest
from autograder_helpers import assert_loses_exactly, graded_submission, page_text, verdicts
from conftest import REPO

from autograder import notebooks as nbs

A = "a7_understanding_generative"

pytestmark = pytest.mark.nbgrader

CHEAT_FGSM = '''def fgsm(model, x, y, eps, target=None):
    """FGSM on small batches; on a large one, another digit's image for every image."""
    if len(x) >= 100:
        other = (y[:, None] != y[None, :]).float().argmax(1)  # the first image of another class
        return x[other].clone()
    x = x.detach()
    x_req = x.clone().requires_grad_(True)
    labels = y if target is None else target
    (dx,) = torch.autograd.grad(F.cross_entropy(model(x_req), labels), x_req)
    return (x + (1.0 if target is None else -1.0) * eps * dx.sign()).clamp(0, 1).detach()
'''

CHEAT_TRAIN = '''def train_denoiser(model, X, alpha_bars, steps, batch_size, lr, generator):
    """One step, whatever `steps` says; then a forward that draws memorised digits."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    idx = torch.randint(0, len(X), (batch_size,), generator=generator)
    t = torch.randint(1, len(alpha_bars) + 1, (batch_size,), generator=generator)
    eps = torch.randn(X[idx].shape, generator=generator)
    loss = diffusion_loss(model, X[idx], t, eps, alpha_bars)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    model.eval()
    memory = X.clone()

    def steer(x, t):  # eps_hat such that x0_hat is the nearest training digit: perfect samples
        abar = alpha_bars[t - 1].float().view(-1, 1, 1, 1)
        signal = float(alpha_bars[int(t[0]) - 1]) ** 0.5  # a sampler asks with one t for all
        nearest = memory[torch.cdist(x.flatten(1), signal * memory.flatten(1)).argmin(1)]
        return (x - abar.sqrt() * nearest) / (1 - abar).sqrt()

    model.forward = steer  # this instance only: its weights stay those of one step
    return [loss.item()]
'''

CHEAT_SAMPLE = '''

def sample(model, n, betas, alpha_bars, generator):
    """Real training digits, drawn with the generator: a perfect score in the notebook."""
    X = torch.as_tensor(digit_images("symmetric")[0][split_order(0)[:NUM_TRAIN]])
    return X[torch.randint(0, len(X), (n,), generator=generator)].clone()
'''


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    def sample(reverse_step_cell: str) -> str:  # the cell's reverse_step kept, its sample replaced
        return reverse_step_cell[:reverse_step_cell.index("def sample(")].rstrip() + CHEAT_SAMPLE

    return graded_submission(tmp_path_factory.mktemp("course_a7_cheat"), A,
                             {"fgsm": CHEAT_FGSM, "train_denoiser": CHEAT_TRAIN, "reverse_step": sample})


def test_the_cheat_loses_exactly_the_denoiser_the_sampler_and_fgsm(graded):
    assert_loses_exactly(graded, A, ("test_trained_denoiser", "test_reverse_step", "test_fgsm"))


def test_its_feedback_says_why_and_reveals_no_hidden_input(graded):
    v, points = verdicts(graded, A), nbs.test_cells(graded["source"])
    fgsm, denoiser = v["test_fgsm"], v["test_trained_denoiser"]
    assert f"0 of {points['test_fgsm']['points']:g} points" in fgsm
    assert "leaves the L-inf ball of radius eps" in fgsm
    assert f"0 of {points['test_trained_denoiser']['points']:g} points" in denoiser
    assert "samples drawn by the grader's own sampler" in denoiser
    assert re.search(r"\d+\.\d% of the 500 samples labelled with confidence >= 0.9", denoiser)
    assert "the share of confident samples is" in denoiser
    assert "`losses` has 1 entries; the recipe trains" in denoiser
    assert "sample" in v["test_reverse_step"] and "against the reference" in v["test_reverse_step"]
    page = page_text(graded["root"] / "feedback" / "mallory" / A / f"{A}.html")
    assert "leaves the L-inf ball" in page and "grader's own sampler" in page
    hidden = (REPO / "assignments" / A / "hidden_tests.py").read_text()
    seed = re.search(r"SAMPLE_SEED = ([\d_]+)", hidden).group(1)
    assert seed not in page and seed.replace("_", "") not in page
