"""dlcv.shapes: the procedural shapes scenes."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dlcv.shapes import (
    CLASSES,
    COLOR_NAMES,
    box_of_mask,
    draw_boxes,
    make_background,
    make_scenes,
    shape_mask,
    show_scene,
)


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(200, seed=3)


def test_shapes_and_dtypes(scenes):
    assert scenes.images.shape == (200, 64, 64, 3) and scenes.images.dtype == np.float32
    assert 0 <= scenes.images.min() and scenes.images.max() <= 1
    assert scenes.semantic.shape == (200, 64, 64) and scenes.semantic.dtype == np.int64
    for b, lab, m, c, s in zip(scenes.boxes, scenes.labels, scenes.masks, scenes.colors,
                               scenes.sizes, strict=True):
        k = len(lab)
        assert 1 <= k <= 4
        assert b.shape == (k, 4) and b.dtype == np.float32
        assert m.shape == (k, 64, 64) and m.dtype == bool
        assert c.shape == s.shape == (k,)
        assert set(lab) <= set(range(len(CLASSES))) and set(c) <= set(range(len(COLOR_NAMES)))


def test_boxes_are_the_tight_boxes_of_the_masks(scenes):
    for boxes, masks in zip(scenes.boxes, scenes.masks, strict=True):
        for (x1, y1, x2, y2), m in zip(boxes, masks, strict=True):
            rows, cols = np.nonzero(m)
            assert (x1, y1, x2, y2) == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
            # every pixel of the mask lies inside the box, and the box's border rows/cols touch it
            assert m[int(y1):int(y2), int(x1):int(x2)].sum() == m.sum()


def test_masks_do_not_overlap_and_match_the_semantic_map(scenes):
    for i in range(len(scenes)):
        masks = scenes.masks[i]
        assert (masks.sum(axis=0) <= 1).all()
        expected = np.zeros((64, 64), dtype=np.int64)
        for m, lab in zip(masks, scenes.labels[i], strict=True):
            expected[m] = lab + 1
        np.testing.assert_array_equal(scenes.semantic[i], expected)
        inst = scenes.instance_map(i)
        assert inst.max() == len(masks)


def test_objects_have_their_colour(scenes):
    """The pixels of a mask carry the object's colour (its brightest channel), not background."""
    for i in range(20):
        for m, c in zip(scenes.masks[i], scenes.colors[i], strict=True):
            mean = scenes.images[i][m].mean(axis=0)
            name = COLOR_NAMES[c]
            if name == "yellow":
                assert mean[2] < 0.4 and mean[0] > 0.7 and mean[1] > 0.6
            else:
                assert int(np.argmax(mean)) == {"red": 0, "green": 1, "blue": 2}[name]


def test_occlusion_is_bounded(scenes):
    """Each object keeps at least min_visible of its area; some scenes do have occlusion."""
    # visible area against the area of the unoccluded shape is checked in make_scene; here:
    # no object is reduced to a sliver
    areas = np.concatenate([m.reshape(len(m), -1).sum(axis=1) for m in scenes.masks])
    assert areas.min() >= 12
    shrunk = 0
    for boxes, masks in zip(scenes.boxes, scenes.masks, strict=True):
        fill = masks.reshape(len(masks), -1).sum(1) / np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
        shrunk += int((fill < 0.45).sum())
    assert shrunk >= 1  # occluded shapes exist (a clean square fills its box; a circle 0.79)


def test_deterministic_and_seed_dependent():
    a, b, c = make_scenes(5, seed=1), make_scenes(5, seed=1), make_scenes(5, seed=2)
    np.testing.assert_array_equal(a.images, b.images)
    for x, y in zip(a.boxes, b.boxes, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.images, c.images)


def test_size_classes_differ(scenes):
    w = np.concatenate([b[:, 2] - b[:, 0] for b in scenes.boxes])
    s = np.concatenate(scenes.sizes)
    assert np.median(w[s == 1]) > 1.6 * np.median(w[s == 0])


def test_options():
    s = make_scenes(10, seed=0, size=96, min_objects=2, max_objects=2, classes=("circle",),
                    background="plain")
    assert s.images.shape == (10, 96, 96, 3)
    assert s.class_names == ("circle",)
    assert all(len(lab) <= 2 and set(lab) <= {0} for lab in s.labels)
    assert sum(len(lab) for lab in s.labels) >= 18  # two objects almost always fit
    empty = make_scenes(3, seed=0, min_objects=0, max_objects=0)
    assert all(b.shape == (0, 4) for b in empty.boxes) and empty.semantic.max() == 0
    assert empty.masks[0].shape == (0, 64, 64)


def test_subset_and_tensors(scenes):
    sub = scenes.subset(slice(10, 15))
    assert len(sub) == 5
    np.testing.assert_array_equal(sub.images[0], scenes.images[10])
    np.testing.assert_array_equal(sub.boxes[4], scenes.boxes[14])
    t = sub.tensors()
    assert tuple(t.shape) == (5, 3, 64, 64)
    np.testing.assert_allclose(t[1].permute(1, 2, 0).numpy(), scenes.images[11])
    assert scenes.describe(0)[0].split()[1] in COLOR_NAMES


def test_shape_mask_geometry():
    sq = shape_mask("square", (10, 10), 8, 32)
    assert sq.sum() == 64 and tuple(box_of_mask(sq)) == (6, 6, 14, 14)
    disk = shape_mask("circle", (16, 16), 20, 32)
    assert abs(disk.sum() - np.pi * 100) < 12
    tri = shape_mask("triangle", (16, 16), 20, 32)
    assert abs(tri.sum() - 200) < 15  # base 20, height 20
    assert tri[7].sum() < tri[24].sum()  # narrow at the top, wide at the bottom


@pytest.mark.parametrize("kwargs, words", [
    (dict(n=0), "n must be"), (dict(n=3, size=8), "size must"),
    (dict(n=3, classes=("hexagon",)), "classes must"),
    (dict(n=3, min_objects=3, max_objects=2), "min_objects"),
    (dict(n=3, background="stripes"), "background"),
])
def test_bad_arguments(kwargs, words):
    with pytest.raises(ValueError, match=words):
        make_scenes(**kwargs)


def test_bad_shape_and_empty_mask():
    with pytest.raises(ValueError, match="kind"):
        shape_mask("hexagon", (5, 5), 4, 16)
    with pytest.raises(ValueError, match="empty"):
        box_of_mask(np.zeros((4, 4), bool))


def test_backgrounds_are_muted():
    rng = np.random.default_rng(0)
    for kind in ("texture", "noise", "plain"):
        bg = make_background(rng, 64, kind)
        sat = bg.max(axis=2) - bg.min(axis=2)
        assert bg.shape == (64, 64, 3) and np.median(sat) < 0.35
    assert make_background(rng, 32, "plain").std(axis=(0, 1)).max() < 1e-5


def test_drawing(scenes):
    fig, ax = plt.subplots()
    show_scene(ax, scenes.images[0], scenes.boxes[0], scenes.labels[0],
               scores=np.linspace(1, 0.5, len(scenes.labels[0])))
    assert len(ax.patches) == len(scenes.boxes[0])
    assert ax.texts[0].get_text().startswith(CLASSES[scenes.labels[0][0]])
    patches = draw_boxes(ax, [[0, 0, 5, 5]], color="red", linestyle="--")
    assert patches[0].get_width() == 5
    plt.close(fig)
