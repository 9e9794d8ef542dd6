"""Tests for dlcv/understanding/synthesis.py: total variation by hand, class model visualisation
raises the class score of a linear model, feature inversion lowers the feature error."""

import numpy as np
import pytest
import torch

from dlcv.understanding import synthesis as S
from dlcv.understanding.model import ProbeCNN


def test_total_variation_by_hand():
    x = torch.tensor([[[[0.0, 1.0], [0.0, 3.0]]]])          # (1, 1, 2, 2)
    # vertical: (0-0)^2 + (3-1)^2 = 4; horizontal: (1-0)^2 + (3-0)^2 = 10
    assert S.total_variation(x).item() == 14.0
    assert S.total_variation(torch.ones(2, 3, 4, 4)).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        S.total_variation(torch.ones(4, 4))


def test_class_model_raises_the_score_and_stays_an_image(linear):
    r = S.class_model(linear, 2, (1, 4, 4), steps=60, jitter=0)
    assert r.image.shape == (1, 4, 4) and r.objective.shape == (60,)
    assert r.image.min() >= 0 and r.image.max() <= 1
    assert r.objective[-1] > r.objective[0] + 1
    # with jitter 0, l2 and tv 0 the pixels go to the sign of the weight (a corner of the box)
    r0 = S.class_model(linear, 2, (1, 4, 4), steps=200, lr=0.1, l2=0.0, tv=0.0, jitter=0)
    w = linear.fc.weight[2].detach().numpy().reshape(1, 4, 4)
    np.testing.assert_allclose(r0.image, (w > 0).astype(float), atol=1e-6)
    # several classes at once: each image is the one made for its class alone
    both = S.class_model(linear, [2, 0], (1, 4, 4), steps=200, lr=0.1, l2=0.0, tv=0.0, jitter=0)
    assert both.image.shape == (2, 1, 4, 4)
    np.testing.assert_allclose(both.image[0], r0.image, atol=1e-6)
    w0 = linear.fc.weight[0].detach().numpy().reshape(1, 4, 4)
    np.testing.assert_allclose(both.image[1], (w0 > 0).astype(float), atol=1e-6)
    # the model's weights are trainable again afterwards
    assert all(p.requires_grad for p in linear.parameters())
    with pytest.raises(ValueError, match=r"shape must be \(C, H, W\)"):
        S.class_model(linear, 0, (4, 4))


def test_feature_inversion_matches_the_features():
    model = ProbeCNN(1, 10, 16, seed=0)
    x = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(4))
    r = S.invert_features(model, x, "conv1", steps=80, tv=0.0)
    assert r.image.shape == (1, 16, 16)
    assert r.objective[-1] < 0.2 * r.objective[0]
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="one image"):
        S.invert_features(model, torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match="no submodule named 'fc7'"):
        S.invert_features(model, x, "fc7")
