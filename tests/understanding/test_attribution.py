"""Tests for dlcv/understanding/attribution.py: gradients against a linear model (known by
hand) and a numeric gradient, the completeness of integrated gradients, Grad-CAM against CAM,
occlusion against a hand-computed case."""

import numpy as np
import pytest
import torch
from torch import nn

from dlcv.gradcheck import eval_numerical_gradient
from dlcv.understanding import attribution as AT
from dlcv.understanding.model import ProbeCNN


def _x(n=3, seed=0):
    return torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(seed))


def test_gradients_of_a_linear_model_are_its_weights(linear):
    x, c = _x(), torch.tensor([0, 2, 1])
    W = linear.fc.weight.detach()
    torch.testing.assert_close(AT.input_gradient(linear, x, c), W[c].reshape(3, 1, 4, 4))
    torch.testing.assert_close(AT.saliency(linear, x, c), W[c].abs().reshape(3, 4, 4))
    # noise does not change a constant gradient: SmoothGrad = saliency
    torch.testing.assert_close(AT.smoothgrad(linear, x, c, samples=5, sigma=0.3),
                               AT.saliency(linear, x, c))
    # integrated gradients of a linear model: (x - x') * w exactly, for any number of steps
    torch.testing.assert_close(AT.integrated_gradients(linear, x, c, steps=1),
                               x * W[c].reshape(3, 1, 4, 4))


def test_input_gradient_matches_a_numeric_gradient():
    model = ProbeCNN(1, 10, 8, seed=3).double()
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x.requires_grad_(True)
    (g,) = torch.autograd.grad(model(x)[0, 4], x)

    def f(a):
        with torch.no_grad():
            return float(model(torch.from_numpy(a))[0, 4])

    num = eval_numerical_gradient(f, x.detach().numpy().copy(), h=1e-6)
    np.testing.assert_allclose(g.numpy(), num, rtol=1e-4, atol=1e-7)
    # and input_gradient is that gradient (in float32)
    m32 = ProbeCNN(1, 10, 8, seed=3)
    np.testing.assert_allclose(AT.input_gradient(m32, x.detach().float(), 4).numpy(), num,
                               rtol=1e-3, atol=1e-5)


def test_integrated_gradients_are_complete():
    model = ProbeCNN(1, 10, 16, seed=0)
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    c = torch.tensor([3, 7])
    base = torch.full_like(x, 0.2)
    gap = (AT.class_scores(model, x, c) - AT.class_scores(model, base, c)).detach()
    ig = AT.integrated_gradients(model, x, c, baseline=base, steps=200)
    torch.testing.assert_close(ig.sum((1, 2, 3)), gap, rtol=1e-2, atol=2e-3)
    # and the error shrinks with more steps
    err = lambda s: float((AT.integrated_gradients(model, x, c, base, s).sum((1, 2, 3))   # noqa: E731
                           - gap).abs().max())
    assert err(200) < err(2)


class _CAMNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv3 = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.conv3(x).mean((2, 3)))


def test_gradcam_is_cam_for_a_global_average_pooling_network():
    # with GAP then a linear layer, d f_c / d A^k = w_ck / (h w) at every position, so Grad-CAM
    # is ReLU(sum_k w_ck A^k) / (h w): Zhou et al.'s CAM
    net = _CAMNet().eval()
    x, c = _x(2), torch.tensor([1, 2])
    A = net.conv3(x).detach()
    cam = torch.relu(torch.einsum("nk,nkhw->nhw", net.fc.weight[c].detach(), A)) / 16
    torch.testing.assert_close(AT.gradcam(net, x, c), cam)
    assert AT.upsample(AT.gradcam(net, x, c), 8).shape == (2, 8, 8)
    with pytest.raises(ValueError, match="no submodule named 'conv9'"):
        AT.gradcam(net, x, c, layer="conv9")


class _OnePixel(nn.Module):
    """Logits (4 x[0, 0, 0, 0], 0): only the top-left pixel matters."""

    def forward(self, x):
        return torch.stack([4 * x[:, 0, 0, 0], torch.zeros(len(x))], 1)


def test_occlusion_by_hand():
    x = torch.ones(1, 1, 4, 4)
    occ = AT.occlusion(_OnePixel(), x, 0, patch=2, stride=2, fill=0.0)
    p0 = torch.sigmoid(torch.tensor(4.0))           # p of class 0 before
    drop = float(p0 - 0.5)                          # after: both logits 0
    want = torch.zeros(1, 4, 4)
    want[0, :2, :2] = drop                          # only the square over the pixel hurts
    torch.testing.assert_close(occ, want)
    # stride 1: pixel (1, 1) is covered by four squares, one of which hides (0, 0)
    occ1 = AT.occlusion(_OnePixel(), x, 0, patch=2, stride=1)
    assert float(occ1[0, 0, 0]) == pytest.approx(drop)
    assert float(occ1[0, 1, 1]) == pytest.approx(drop / 4)
    assert float(occ1[0, 3, 3]) == 0


def test_clear_errors(linear):
    with pytest.raises(ValueError, match=r"c must be one class or \(3,\) classes"):
        AT.saliency(linear, _x(), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        AT.saliency(linear, _x()[0], 0)
    with pytest.raises(ValueError, match="patch"):
        AT.occlusion(linear, _x(), 0, patch=5)
    with pytest.raises(ValueError, match="sigma"):
        AT.smoothgrad(linear, _x(), 0, sigma=2.0)
