"""Tests for dlcv/selfsupervised/widgets.py: NeighboursView shows probe.nearest's neighbours and
every control changes the figure."""

import numpy as np
import pytest
import torch

from dlcv.selfsupervised.probe import label_agreement, nearest
from dlcv.selfsupervised.widgets import NeighboursView


@pytest.fixture
def view():
    g = torch.Generator().manual_seed(0)
    X_train, X_test = torch.rand(30, 1, 6, 6, generator=g), torch.rand(8, 1, 6, 6, generator=g)
    y_train, y_test = torch.arange(30) % 3, torch.arange(8) % 3
    # "labels" space: the one-hot label plus noise (neighbours share the label);
    # "pixels": the raw images
    onehot = lambda y: torch.eye(3)[y] + 0.01 * torch.rand(len(y), 3, generator=g)
    spaces = {"pixels": (X_train.flatten(1), X_test.flatten(1)),
              "labels": (onehot(y_train), onehot(y_test))}
    return NeighboursView(spaces, X_train, y_train, X_test, y_test, index=0, k=4), spaces, \
        (X_train, y_train, X_test, y_test)


def test_first_view_shows_the_query_and_its_neighbours(view):
    v, spaces, (X_train, y_train, X_test, y_test) = view
    assert v.renders >= 1
    np.testing.assert_allclose(v.query_image.get_array(), X_test[0, 0].numpy())
    want = nearest(spaces["pixels"][1], spaces["pixels"][0], 4)[0].numpy()
    np.testing.assert_array_equal(v.stats["neighbours"], want)
    np.testing.assert_allclose(v.neighbour_images[0].get_array(), X_train[want[0], 0].numpy())
    assert sum(ax.get_visible() for ax in v.axes[1:]) == 4
    agree = label_agreement(nearest(spaces["pixels"][1], spaces["pixels"][0], 4), y_test, y_train)
    assert v.stats["agreement"] == pytest.approx(float(agree[0]))
    assert v.stats["overall"]["pixels"] == pytest.approx(float(agree.mean()))


def test_each_control_changes_the_figure(view):
    v, _, (X_train, y_train, X_test, y_test) = view
    before, text = v.renders, v.readout.value
    v.index.value = 5
    assert v.renders == before + 1 and v.readout.value != text
    np.testing.assert_allclose(v.query_image.get_array(), X_test[5, 0].numpy())
    v.space.value = "labels"
    assert v.stats["agreement"] == 1.0 and v.stats["overall"]["labels"] == 1.0
    assert all(y_train[int(t)] == y_test[5] for t in v.stats["neighbours"])
    v.k.value = 7
    assert len(v.stats["neighbours"]) == 7
    assert sum(ax.get_visible() for ax in v.axes[1:]) == 7


def test_bad_arguments():
    X, y = torch.rand(4, 1, 3, 3), torch.arange(4)
    spaces = {"pixels": (X.flatten(1), X.flatten(1))}
    with pytest.raises(ValueError, match="index"):
        NeighboursView(spaces, X, y, X, y, index=9)
    with pytest.raises(ValueError, match="k must be"):
        NeighboursView(spaces, X, y, X, y, k=0)
    with pytest.raises(ValueError, match="spaces"):
        NeighboursView({}, X, y, X, y)
