"""Tests for dlcv/understanding/features.py: hooks against running the stages by hand,
nearest neighbours against scikit-learn, label agreement by hand, t-SNE's shape and seed."""

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from dlcv.understanding import features as FE
from dlcv.understanding.model import ProbeCNN


def test_activations_are_the_stage_outputs():
    model = ProbeCNN(1, 10, 16, seed=0).eval()
    x = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    acts = FE.activations(model, x, ["conv1", "conv3", "hidden"])
    with torch.no_grad():
        a1 = model.conv1(x)
        a3 = model.conv3(model.conv2(a1))
        torch.testing.assert_close(acts["conv1"], a1)
        torch.testing.assert_close(acts["conv3"], a3)
        torch.testing.assert_close(acts["hidden"], model.features(x))
    assert acts["conv1"].shape == (3, 16, 8, 8) and acts["hidden"].shape == (3, 64)
    np.testing.assert_allclose(FE.embed(model, x.numpy(), "conv3"), a3.reshape(3, -1).double())
    assert FE.first_layer_filters(model).shape == (16, 1, 5, 5)
    np.testing.assert_allclose(FE.first_layer_filters(model), model.conv1[0].weight.detach())
    with pytest.raises(ValueError, match="no submodule named 'conv7'.*conv1, conv2, conv3"):
        FE.activations(model, x, "conv7")


def test_nearest_neighbours_match_sklearn():
    rng = np.random.default_rng(0)
    g, q = rng.normal(size=(40, 5)), rng.normal(size=(7, 5))
    want = NearestNeighbors(n_neighbors=4).fit(g).kneighbors(q, return_distance=False)
    np.testing.assert_array_equal(FE.nearest_neighbours(q, g, 4), want)
    # exclude_self: the query's own row is skipped
    own = NearestNeighbors(n_neighbors=4).fit(g).kneighbors(g, return_distance=False)[:, 1:]
    np.testing.assert_array_equal(FE.nearest_neighbours(g, g, 3, exclude_self=True), own)
    with pytest.raises(ValueError, match="share D"):
        FE.nearest_neighbours(q[:, :3], g, 2)
    with pytest.raises(ValueError, match="k must be an int in 1..40"):
        FE.nearest_neighbours(q, g, 41)


def test_label_agreement_by_hand():
    idx = np.array([[0, 1], [2, 3]])
    y_gallery = np.array([5, 5, 1, 2])
    assert FE.label_agreement(idx, np.array([5, 2]), y_gallery) == 0.75
    with pytest.raises(ValueError, match=r"\(Q, k\)"):
        FE.label_agreement(idx, np.array([5]), y_gallery)


def test_tsne_is_2d_and_fixed_by_the_seed():
    rng = np.random.default_rng(0)
    f = np.r_[rng.normal(0, 1, (15, 6)), rng.normal(8, 1, (15, 6))]
    a, b = FE.tsne(f, seed=1, perplexity=5), FE.tsne(f, seed=1, perplexity=5)
    assert a.shape == (30, 2)
    np.testing.assert_allclose(a, b)
    # the two clusters stay apart: every point's nearest neighbour is in its own cluster
    nn_idx = FE.nearest_neighbours(a, a, 1, exclude_self=True)[:, 0]
    assert np.all((nn_idx < 15) == (np.arange(30) < 15))
    with pytest.raises(ValueError, match="perplexity"):
        FE.tsne(f, perplexity=40)
