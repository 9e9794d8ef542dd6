"""Tests for dlcv/generative/widgets.py: the latent explorer and the diffusion stepper, without
a browser."""

import numpy as np
import pytest

from dlcv.generative import autoencoders as AE
from dlcv.generative import diffusion as DF
from dlcv.generative.widgets import DiffusionStepperView, LatentExplorerView


@pytest.fixture(scope="module")
def latent():
    model = AE.AutoEncoder(latent_dim=2, hidden=16, seed=0)
    X = np.random.default_rng(0).random((30, 1, 8, 8)).astype(np.float32)
    y = np.arange(30) % 10
    return LatentExplorerView(model, X, y, n=4, z1=0.0, z2=0.0)


def test_latent_view_decodes_the_slider_point(latent):
    assert latent.renders >= 1
    before = latent.renders
    latent.z1.value = 1.5
    latent.z2.value = -1.0
    assert latent.renders == before + 2
    np.testing.assert_allclose(latent.decoded, AE.decode(latent.model, [[1.5, -1.0]])[0])
    np.testing.assert_allclose(latent.decoded_image.get_array(), latent.decoded)
    assert list(latent.grid_marker.get_xdata()) == [1.5]
    assert list(latent.code_marker.get_ydata()) == [-1.0]
    np.testing.assert_allclose(latent.codes.get_offsets(), latent.codes_xy)
    d = np.linalg.norm(latent.codes_xy - [1.5, -1.0], axis=1)
    assert latent.nearest_label == latent.y[d.argmin()]
    assert "z = (1.5, -1.0)" in latent.readout.value


def test_latent_view_rejects_bad_arguments():
    X, y = np.zeros((3, 1, 8, 8), np.float32), np.zeros(3, int)
    with pytest.raises(ValueError, match="latent_dim 2"):
        LatentExplorerView(AE.AutoEncoder(latent_dim=3, hidden=16), X, y)
    with pytest.raises(ValueError, match="z1, z2"):
        LatentExplorerView(AE.AutoEncoder(latent_dim=2, hidden=16), X, y, z1=9.0)


@pytest.fixture(scope="module")
def stepper():
    s = DF.linear_schedule(10, 0.01, 0.5)
    model = DF.Denoiser(64, hidden=16, T=10)
    return DiffusionStepperView(DF.ddpm_sample(model, s, 3, seed=0), s, step=0, sample=0)


def test_stepper_shows_the_chosen_step_and_sample(stepper):
    tr = stepper.traj
    assert stepper.t == 10
    np.testing.assert_allclose(stepper.xt_image.get_array(), tr.xs[0, 0].reshape(8, 8))
    stepper.step.value = 4
    assert stepper.t == 6
    np.testing.assert_allclose(stepper.x_t, tr.xs[4, 0].reshape(8, 8))
    np.testing.assert_allclose(stepper.x0_image.get_array(), tr.x0_hats[4, 0].reshape(8, 8))
    assert list(stepper.marker.get_xdata()) == [4]
    stepper.sample.value = 2
    np.testing.assert_allclose(stepper.x_t, tr.xs[4, 2].reshape(8, 8))
    dist = np.sqrt(((tr.x0_hats[:, 2] - tr.xs[-1, 2]) ** 2).mean(1))
    np.testing.assert_allclose(stepper.dist_line.get_ydata(), dist)
    stepper.step.value = 10  # the end: x_0 is the sample, the last estimate is shown
    assert stepper.t == 0 and "after 10 of 10 steps" in stepper.readout.value
    np.testing.assert_allclose(stepper.x0_hat, tr.x0_hats[9, 2].reshape(8, 8))


def test_stepper_rejects_bad_arguments():
    s = DF.linear_schedule(10, 0.01, 0.5)
    tr = DF.ddpm_sample(DF.Denoiser(64, hidden=16, T=10), s, 2)
    with pytest.raises(ValueError, match="step"):
        DiffusionStepperView(tr, s, step=11)
    with pytest.raises(ValueError, match="sample"):
        DiffusionStepperView(tr, s, sample=2)
