"""Tests for dlcv/understanding/widgets.py: InspectView's panels are the room's functions of the
chosen image and class, and every control changes the figure."""

import numpy as np
import pytest
import torch

from dlcv.understanding import attacks as A
from dlcv.understanding import attribution as AT
from dlcv.understanding.widgets import GOALS, InspectView


@pytest.fixture(scope="module")
def view(trained):
    model, d = trained
    return InspectView(model, d.X_test[:20], d.y_test[:20], d.class_names, index=0, eps=0.1)


def test_first_view_shows_the_image_and_its_maps(view, trained):
    model, d = trained
    x = torch.tensor(d.X_test[:1])
    label = int(d.y_test[0])
    assert view.renders >= 1 and view.stats["label"] == view.stats["explained"] == label
    np.testing.assert_allclose(view.clean_image.get_array(), d.X_test[0, 0])
    sal = AT.saliency(model, x, label)[0].numpy()
    np.testing.assert_allclose(view.stats["saliency"], sal)
    np.testing.assert_allclose(view.saliency_image.get_array(), sal / sal.max(), rtol=1e-6)
    cam = AT.upsample(AT.gradcam(model, x, label), 16)[0].numpy()
    np.testing.assert_allclose(view.stats["gradcam"], cam, rtol=1e-5, atol=1e-7)
    pred, p = A.predict(model, x)
    assert view.stats["pred"] == int(pred[0])
    heights = [b.get_height() for b in view.bars_clean]
    np.testing.assert_allclose(heights, p[0].numpy(), rtol=1e-6)
    assert view.stats["linf"] <= 0.1 + 1e-6
    assert "image 0" in view.readout.value


def test_each_control_changes_the_figure(view, trained):
    model, d = trained
    before = view.renders
    view.index.value = 5
    assert view.renders == before + 1 and view.stats["label"] == int(d.y_test[5])
    np.testing.assert_allclose(view.clean_image.get_array(), d.X_test[5, 0])
    sal = np.array(view.saliency_image.get_array()).copy()
    other = (int(d.y_test[5]) + 3) % 10
    view.explain.value = other
    assert view.stats["explained"] == other
    assert not np.allclose(sal, view.saliency_image.get_array())
    adv = np.array(view.adv_image.get_array()).copy()
    view.eps.value = 0.2
    assert view.stats["linf"] == pytest.approx(0.2, abs=1e-6)
    assert not np.allclose(adv, view.adv_image.get_array())
    view.attack.value = "FGSM"
    x = torch.tensor(d.X_test[5:6])
    want = A.fgsm(model, x, torch.tensor([int(d.y_test[5])]), 0.2)
    np.testing.assert_allclose(view.adv_image.get_array(), want[0, 0].numpy())
    text = view.readout.value
    view.goal.value = GOALS[1]
    assert view.stats["target"] == other and view.readout.value != text
    want = A.fgsm(model, x, torch.tensor([int(d.y_test[5])]), 0.2, target=torch.tensor([other]))
    np.testing.assert_allclose(view.adv_image.get_array(), want[0, 0].numpy())


def test_toward_the_true_label_means_the_runner_up(view, trained):
    model, d = trained
    view.explain.value = -1
    view.goal.value = GOALS[1]
    p = A.predict(model, torch.tensor(d.X_test[view.index.value:view.index.value + 1]))[1][0]
    p[view.stats["label"]] = -1
    assert view.stats["target"] == int(p.argmax())


def test_bad_arguments(trained):
    model, d = trained
    with pytest.raises(ValueError, match="index must be an int in 0..19"):
        InspectView(model, d.X_test[:20], d.y_test[:20], d.class_names, index=20)
    with pytest.raises(ValueError, match="eps"):
        InspectView(model, d.X_test[:20], d.y_test[:20], d.class_names, eps=0.5)
