"""dlcv.captioning.encoders: the shapes scenes' image encoder (grid targets, network, training, features)."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from dlcv.captioning import encoders
from dlcv.shapes import CLASSES, ShapesScenes, make_scenes


def _scene_with(objects, size=64):
    """One ShapesScenes scene from (mask, class, colour, size) tuples (masks must not overlap)."""
    masks = np.array([m for m, *_ in objects], dtype=bool).reshape(len(objects), size, size)
    labels = np.array([k for _, k, _, _ in objects], dtype=np.int64)
    colors = np.array([c for _, _, c, _ in objects], dtype=np.int64)
    sizes = np.array([s for _, _, _, s in objects], dtype=np.int64)
    boxes = np.zeros((len(objects), 4), dtype=np.float32)
    return ShapesScenes(np.zeros((1, size, size, 3), np.float32), [boxes], [labels], CLASSES, [],
                        [masks], [colors], [sizes], np.zeros((1, size, size), np.int64), 0)


def test_cell_labels_are_numbered_and_described():
    names = {encoders.describe_cell_label(k) for k in range(1, encoders.NUM_CELL_LABELS)}
    assert len(names) == 24 and encoders.describe_cell_label(0) == "background"
    assert encoders.cell_label(color=0, kind=0, size=0) == 1
    assert encoders.describe_cell_label(encoders.cell_label(2, 1, 1)) == "large blue square"
    assert encoders.describe_cell_label(encoders.cell_label(3, 2, 0)) == "small yellow triangle"
    with pytest.raises(ValueError, match="label must be"):
        encoders.describe_cell_label(25)


def test_grid_labels_by_hand():
    a = np.zeros((64, 64), bool)
    a[0:16, 0:8] = True  # cells (0, 0) and (1, 0) entirely
    b = np.zeros((64, 64), bool)
    b[16:20, 0:8] = True  # half of cell (2, 0)
    b[40:41, 40:48] = True  # 1/8 of cell (5, 5): below min_cover
    c = np.zeros((64, 64), bool)
    c[20:23, 0:8] = True  # 3/8 of cell (2, 0): b has more of it
    scene = _scene_with([(a, 0, 1, 1), (b, 2, 3, 0), (c, 1, 0, 0)])
    grid = encoders.grid_labels(scene)
    assert grid.shape == (1, 8, 8) and grid.dtype == np.int64
    expected = np.zeros((8, 8), np.int64)
    expected[0, 0] = expected[1, 0] = encoders.cell_label(1, 0, 1)  # large green circle
    expected[2, 0] = encoders.cell_label(3, 2, 0)  # small yellow triangle
    np.testing.assert_array_equal(grid[0], expected)
    # With a lower threshold, the sliver in cell (5, 5) counts.
    assert encoders.grid_labels(scene, min_cover=0.1)[0, 5, 5] == encoders.cell_label(3, 2, 0)
    with pytest.raises(ValueError, match="grid must be"):
        encoders.grid_labels(scene, grid=7)
    with pytest.raises(TypeError, match="ShapesScenes"):
        encoders.grid_labels(np.zeros((1, 64, 64, 3)))


def test_grid_labels_agree_with_the_semantic_maps():
    scenes = make_scenes(20, seed=4)
    grid = encoders.grid_labels(scenes, min_cover=0.5)
    for i in range(20):
        sem = scenes.semantic[i].reshape(8, 8, 8, 8).transpose(0, 2, 1, 3).reshape(8, 8, 64)
        for r, c in zip(*np.nonzero(grid[i]), strict=True):
            kind = (grid[i, r, c] - 1) // 2 % 3
            assert np.mean(sem[r, c] == kind + 1) >= 0.5  # that class covers at least half the cell


def test_encoder_shapes_and_errors():
    net = encoders.ShapesEncoder()
    x = torch.rand(2, 3, 64, 64)
    assert net.features(x).shape == (2, 48, 8, 8)
    assert net(x).shape == (2, encoders.NUM_CELL_LABELS, 8, 8)
    with pytest.raises(ValueError, match="multiples of 8"):
        net(torch.rand(2, 3, 60, 60))
    with pytest.raises(ValueError, match="channels"):
        encoders.ShapesEncoder(channels=0)


@pytest.fixture(scope="module")
def small_encoder():
    return encoders.train_shapes_encoder(seed=3, num_scenes=60, steps=40, batch_size=16)


def test_training_lowers_the_loss_and_measures_accuracy(small_encoder):
    r = small_encoder
    assert len(r.losses) == 40 and np.mean(r.losses[-5:]) < np.mean(r.losses[:5])
    assert 0 <= r.object_cell_accuracy <= 1 and 0 <= r.cell_accuracy <= 1
    assert r.vector_mean.shape == r.vector_std.shape == (25 * 64,) and np.all(r.vector_std > 0)
    assert not r.encoder.training
    with pytest.raises(ValueError, match="steps"):
        encoders.train_shapes_encoder(steps=0)


def test_features_of_scenes(small_encoder):
    scenes = make_scenes(5, seed=11)
    f = encoders.encode_scenes(scenes, encoder=small_encoder)
    assert len(f) == 5
    assert f.vectors.shape == (5, 1600) and f.vectors.dtype == np.float32
    assert f.maps.shape == (5, 48, 8, 8) and f.cell_probs.shape == (5, 25, 8, 8)
    np.testing.assert_allclose(f.cell_probs.sum(axis=1), 1, rtol=1e-5)
    raw = f.cell_probs.reshape(5, -1)  # label-major: label * 64 + row * 8 + column
    np.testing.assert_allclose(f.vectors, (raw - small_encoder.vector_mean) / small_encoder.vector_std,
                               rtol=1e-4, atol=1e-5)
    # The same images as an array give the same features; a batch split changes nothing.
    g = encoders.encode_scenes(scenes.images, encoder=small_encoder, batch_size=2)
    np.testing.assert_allclose(g.vectors, f.vectors, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="64x64"):
        encoders.encode_scenes(np.zeros((1, 32, 32, 3), np.float32), encoder=small_encoder)
    with pytest.raises(TypeError, match="EncoderResult"):
        encoders.encode_scenes(scenes, encoder="mine")


def test_show_cell_labels_writes_a_letter_per_object_cell():
    grid = np.zeros((8, 8), np.int64)
    grid[0, 0] = encoders.cell_label(0, 0, 1)  # large red circle -> "C"
    grid[3, 4] = encoders.cell_label(2, 2, 0)  # small blue triangle -> "t"
    fig, ax = plt.subplots()
    encoders.show_cell_labels(ax, np.zeros((64, 64, 3)), grid, title="x")
    assert sorted(t.get_text() for t in ax.texts) == ["C", "t"]
    with pytest.raises(ValueError, match="grid"):
        encoders.show_cell_labels(ax, np.zeros((64, 64, 3)), np.zeros((7, 7), int))
    plt.close(fig)


def test_the_default_encoder_sees_the_scenes_and_is_cached():
    """The encoder the captioning notebooks use: trained once per seed (a few seconds)."""
    r = encoders.shapes_encoder(0)
    assert encoders.shapes_encoder(0) is r and encoders.shapes_encoder(seed=0) is r  # one cache key
    assert r.cell_accuracy > 0.9  # background is most cells
    assert r.object_cell_accuracy > 0.7  # (size, colour, class) of the cells an object covers


def test_training_is_reproducible_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = encoders.train_shapes_encoder(seed=1, num_scenes=20, steps=3, batch_size=4)
    assert torch.equal(torch.rand(3), expected)
    b = encoders.train_shapes_encoder(seed=1, num_scenes=20, steps=3, batch_size=4)
    assert a.losses == b.losses
