"""Tests for dlcv/understanding/model.py: the upsampled digits, the network's shapes, training
(clean and adversarial) through dlcv.loop.train, the cache."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcv.data import load_classification
from dlcv.understanding import model as M


def test_load_images_upsamples_the_digits():
    d = M.load_images()
    ref = load_classification("digits")
    assert d.X_train.shape == (1257, 1, 16, 16) and d.X_train.dtype == np.float32
    assert d.X_test.shape == (360, 1, 16, 16) and d.X_dev.shape == (200, 1, 16, 16)
    np.testing.assert_array_equal(d.y_test, ref.y_test)
    want = F.interpolate(torch.tensor(ref.X_test[:3, None] / 16.0, dtype=torch.float32),
                         size=(16, 16), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(d.X_test[:3], want.numpy(), atol=1e-6)
    assert 0 <= d.X_train.min() and d.X_train.max() <= 1
    assert M.load_images(size=8).X_train.shape[-1] == 8
    with pytest.raises(ValueError, match="source must be one of"):
        M.load_images("mnist")


def test_probe_cnn_shapes_and_checks():
    net = M.ProbeCNN(3, 5, 32, seed=1)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    assert net.features(torch.zeros(2, 3, 32, 32)).shape == (2, 64)
    again = M.ProbeCNN(3, 5, 32, seed=1)
    torch.testing.assert_close(net.fc.weight, again.fc.weight)
    with pytest.raises(ValueError, match=r"x must be \(N, 3, 32, 32\)"):
        net(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="multiple of 4"):
        M.ProbeCNN(1, 10, 18)


def test_fit_classifier_learns_clean_and_adversarial():
    d = M.load_images()
    X, y = d.X_train[:256], d.y_train[:256]
    net = M.ProbeCNN(1, 10, 16, seed=0)
    log = M.fit_classifier(net, X, y, epochs=4)
    assert log.steps == 4 * 4 and not net.training
    assert np.mean(log.loss[-4:]) < 0.9 * np.mean(log.loss[:4])
    adv = M.ProbeCNN(1, 10, 16, seed=0)
    log_adv = M.fit_classifier(adv, X, y, epochs=1, adv_eps=0.1)
    assert log_adv.steps == 4
    # the first batch's loss is on PGD images: higher than the clean loss at the same weights
    assert log_adv.loss[0] > log.loss[0]
    with pytest.raises(ValueError, match="adv_eps"):
        M.fit_classifier(net, X, y, adv_eps=2.0)


def test_classifier_is_cached_and_beats_chance(trained):
    model, d = trained
    assert M.classifier(seed=0, epochs=2) is model
    assert model.log.steps == 2 * 20
    assert M.accuracy(model, d.X_test, d.y_test) > 0.5
    assert M.accuracy(model, d.X_test[:2], np.array([-1, -1])) == 0.0
