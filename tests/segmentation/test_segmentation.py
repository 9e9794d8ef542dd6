"""Tests for dlcv/segmentation/machinery.py: sliding windows, unpooling, transposed-convolution arithmetic,
the encoder-decoder and its training, IoU scoring, and Mask R-CNN's mask/keypoint geometry."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from dlcv.plots import CLASS_COLORS
from dlcv.segmentation import machinery as seg
from dlcv.shapes import make_scenes


# -- colours ---------------------------------------------------------------------------------
def test_label_image_uses_the_course_palette():
    from matplotlib.colors import to_rgb

    labels = np.array([[0, 1], [2, 3]])
    img = seg.label_image(labels)
    assert img.shape == (2, 2, 3)
    np.testing.assert_allclose(img[0, 0], to_rgb(seg.BACKGROUND_COLOR))
    np.testing.assert_allclose(img[0, 1], to_rgb(CLASS_COLORS[0]))
    np.testing.assert_allclose(img[1, 1], to_rgb(CLASS_COLORS[2]))
    assert len(seg.semantic_cmap(4).colors) == 4
    with pytest.raises(ValueError, match="labels must lie in 0..3"):
        seg.label_image(np.array([[4]]))
    with pytest.raises(ValueError, match="integer map"):
        seg.label_image(np.zeros((2, 2)))


# -- sliding windows -------------------------------------------------------------------------
def test_extract_patches_centres_and_zero_border():
    img = torch.arange(2 * 5 * 6, dtype=torch.float32).reshape(2, 5, 6)  # (C, H, W)
    P = seg.extract_patches(img, 3)
    assert P.shape == (30, 2, 3, 3)
    for h, w in [(0, 0), (2, 3), (4, 5)]:
        np.testing.assert_array_equal(P[h * 6 + w, :, 1, 1], img[:, h, w])
    assert torch.all(P[0, :, 0, :] == 0) and torch.all(P[0, :, :, 0] == 0)  # top-left: padding
    np.testing.assert_array_equal(P[2 * 6 + 3], img[:, 1:4, 2:5])
    with pytest.raises(ValueError, match="odd positive int"):
        seg.extract_patches(img, 4)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        seg.extract_patches(img[0], 3)


def test_patch_classifier_dense_equals_patch_by_patch():
    torch.manual_seed(0)
    net = seg.PatchClassifier(num_classes=4, width=6, layers=3, kernel=3)
    assert net.patch_size == 7
    img = torch.rand(3, 10, 12)
    with torch.no_grad():
        per_patch = net(seg.extract_patches(img, net.patch_size))  # (120, 4, 1, 1)
        dense = net.dense(img[None])                                # (1, 4, 10, 12)
    assert per_patch.shape == (120, 4, 1, 1) and dense.shape == (1, 4, 10, 12)
    np.testing.assert_allclose(per_patch[:, :, 0, 0].numpy(),
                               dense[0].permute(1, 2, 0).reshape(120, 4).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="kernel must be odd"):
        seg.PatchClassifier(kernel=4)


# -- unpooling -------------------------------------------------------------------------------
def test_unpooling():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    nn_up = seg.unpool_nearest(x, 2)
    np.testing.assert_array_equal(nn_up, F.interpolate(x[None, None], scale_factor=2,
                                                       mode="nearest")[0, 0])
    bed = seg.unpool_bed_of_nails(x, 2)
    np.testing.assert_array_equal(bed, [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]])
    assert seg.unpool_bed_of_nails(torch.ones(2, 3, 2, 2), 3).shape == (2, 3, 6, 6)
    assert bed.sum() == x.sum() and nn_up.sum() == 4 * x.sum()
    with pytest.raises(ValueError, match="factor must be an int >= 1"):
        seg.unpool_nearest(x, 0)
    with pytest.raises(ValueError, match=r"\(\.\.\., H, W\)"):
        seg.unpool_bed_of_nails(torch.ones(3), 2)


# -- transposed convolution ------------------------------------------------------------------
def test_transposed_output_size_matches_torch():
    for n, k, s, p, op in itertools.product(range(1, 5), range(1, 5), range(1, 4), range(3),
                                            range(3)):
        x, w = torch.ones(1, 1, n, n), torch.ones(1, 1, k, k)
        try:
            shape = F.conv_transpose2d(x, w, stride=s, padding=p, output_padding=op).shape[-1]
        except RuntimeError:
            shape = None
        shape = shape or None  # torch lets a few settings through with an empty output
        try:
            ours = seg.transposed_output_size(n, k, s, p, op)
        except ValueError:
            ours = None
        assert ours == shape, (n, k, s, p, op)
    assert seg.transposed_output_size(4, 3, 2, 1, 1) == 8
    assert seg.transposed_output_size(3, 3, 1, 0, 0, dilation=2) == 7
    assert seg.transposed_output_size_formula(4, 3, 2, 1, 1) == "out = (4 - 1)*2 - 2*1 + 3 + 1 = 8"
    with pytest.raises(ValueError, match="output_padding must be smaller than the stride"):
        seg.transposed_output_size(4, 3, 2, 0, 2)
    with pytest.raises(ValueError, match="would have length"):
        seg.transposed_output_size(2, 1, 1, 1)


@pytest.mark.parametrize("n,k,s,p", [(5, 3, 1, 0), (5, 3, 2, 1), (6, 4, 2, 1), (4, 2, 2, 0),
                                     (7, 3, 3, 2)])
def test_conv_matrix_1d_and_its_transpose(n, k, s, p):
    rng = np.random.default_rng(n * 100 + k * 10 + s)
    w, x = rng.normal(size=k), rng.normal(size=n)
    C = seg.conv_matrix_1d(w, n, s, p)
    y = F.conv1d(torch.tensor(x)[None, None], torch.tensor(w)[None, None], stride=s, padding=p)
    np.testing.assert_allclose(C @ x, y[0, 0].numpy(), atol=1e-12)
    m = C.shape[0]
    z = rng.normal(size=m)
    op = n - ((m - 1) * s - 2 * p + k)  # torch's output_padding that recovers length n
    assert 0 <= op < s
    xt = F.conv_transpose1d(torch.tensor(z)[None, None], torch.tensor(w)[None, None], stride=s,
                            padding=p, output_padding=op)
    np.testing.assert_allclose(C.T @ z, xt[0, 0].numpy(), atol=1e-12)


def test_conv_matrix_2d_and_its_transpose():
    rng = np.random.default_rng(1)
    w, x = rng.normal(size=(3, 3)), rng.normal(size=(4, 5))
    for s, p in [(1, 0), (2, 1), (1, 1)]:
        C = seg.conv_matrix_2d(w, x.shape, s, p)
        y = F.conv2d(torch.tensor(x)[None, None], torch.tensor(w)[None, None], stride=s, padding=p)
        assert C.shape == (y.numel(), x.size)
        np.testing.assert_allclose(C @ x.ravel(), y.ravel().numpy(), atol=1e-12)
        z = rng.normal(size=y.shape[-2:])
        (m_h, m_w), (H, W) = z.shape, x.shape
        op = (H - ((m_h - 1) * s - 2 * p + 3), W - ((m_w - 1) * s - 2 * p + 3))
        xt = F.conv_transpose2d(torch.tensor(z)[None, None], torch.tensor(w)[None, None],
                                stride=s, padding=p, output_padding=op)
        np.testing.assert_allclose(C.T @ z.ravel(), xt.ravel().numpy(), atol=1e-12)
    # the 4 x 4 input, 3 x 3 kernel case of the lecture: C is 4 x 16 with 9 taps per row
    C = seg.conv_matrix_2d(np.ones((3, 3)), (4, 4))
    assert C.shape == (4, 16) and np.all(C.sum(1) == 9)
    with pytest.raises(ValueError, match="does not fit"):
        seg.conv_matrix_2d(np.ones((5, 5)), (3, 3))
    with pytest.raises(ValueError, match="1-D array"):
        seg.conv_matrix_1d(np.ones((2, 2)), 4)


def test_stamp_counts_equal_conv_transpose_of_ones():
    for n, k, s, p, op in itertools.product(range(1, 5), range(1, 6), range(1, 4), range(3),
                                            range(3)):
        try:
            y = F.conv_transpose2d(torch.ones(1, 1, n, n), torch.ones(1, 1, k, k), stride=s,
                                   padding=p, output_padding=op)
        except RuntimeError:
            continue
        if y.numel() == 0:
            continue
        np.testing.assert_array_equal(seg.stamp_counts(n, k, s, p, op),
                                      y[0, 0].round().long().numpy(), err_msg=str((n, k, s, p, op)))
    np.testing.assert_array_equal(seg.stamp_counts(4, 3, 2, dims=1), [1, 1, 2, 1, 2, 1, 2, 1, 1])
    np.testing.assert_array_equal(seg.stamp_counts(4, 4, 2, dims=1), [1, 1, 2, 2, 2, 2, 2, 2, 1, 1])
    assert seg.stamp_span(2, 3, 2, 1) == (3, 6)
    with pytest.raises(ValueError, match="dims must be 1 or 2"):
        seg.stamp_counts(3, 3, 2, dims=3)


# -- the encoder-decoder ---------------------------------------------------------------------
def test_encoder_decoder_shapes_and_checks():
    torch.manual_seed(0)
    net = seg.EncoderDecoder(num_classes=4, width=16)
    x = torch.rand(2, 3, 32, 48)
    assert net(x).shape == (2, 4, 32, 48)
    trace = dict(net.trace(x))
    assert trace["down1"] == (2, 16, 16, 24) and trace["down2"] == (2, 32, 8, 12)
    assert trace["down3"] == (2, 64, 4, 6) and trace["up3"] == (2, 32, 8, 12)
    assert trace["up1"] == (2, 8, 32, 48) and trace["head"] == (2, 4, 32, 48)
    with pytest.raises(ValueError, match="multiples of 8"):
        net(torch.rand(1, 3, 30, 32))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        net(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="width must be even"):
        seg.EncoderDecoder(width=7)


@pytest.fixture(scope="module")
def tiny_scenes():
    return make_scenes(48, seed=3, size=32), make_scenes(12, seed=4, size=32)


def test_train_segmenter_learns_and_is_reproducible(tiny_scenes):
    tr, va = tiny_scenes

    def run():
        torch.manual_seed(0)
        net = seg.EncoderDecoder(width=8)
        hist = seg.train_segmenter(net, tr.tensors(), tr.semantic, steps=30, batch_size=8,
                                   lr=1e-2, seed=0, X_val=va.tensors(), y_val=va.semantic,
                                   val_every=10, progress=False)
        return net, hist

    net, hist = run()
    assert len(hist.loss) == len(hist.lr) == 30 and hist.seconds > 0
    assert hist.val_steps == [10, 20, 30] and len(hist.val_iou[0]) == 4
    assert np.mean(hist.loss[-5:]) < 0.7 * np.mean(hist.loss[:3])
    assert max(hist.lr) == pytest.approx(1e-2, rel=1e-3) and hist.lr[-1] < 1e-3
    assert not net.training
    _, hist2 = run()
    np.testing.assert_allclose(hist.loss, hist2.loss, rtol=1e-5)
    pred = seg.predict(net, va.tensors())
    assert pred.shape == (12, 32, 32) and pred.dtype == np.int64
    assert 0 <= pred.min() <= pred.max() < 4
    with pytest.raises(ValueError, match="integer label maps"):
        seg.train_segmenter(net, tr.tensors(), tr.semantic[:, :8], steps=1, progress=False)
    with pytest.raises(ValueError, match="both X_val and y_val"):
        seg.train_segmenter(net, tr.tensors(), tr.semantic, steps=1, X_val=va.tensors(),
                            progress=False)


# -- scoring ---------------------------------------------------------------------------------
def test_confusion_matrix_and_iou():
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 4, size=(3, 8, 8)), rng.integers(0, 4, size=(3, 8, 8))
    cm = seg.confusion_matrix(t, p, 4)
    np.testing.assert_array_equal(cm, sk_confusion_matrix(t.ravel(), p.ravel(), labels=range(4)))
    # by hand: true [0, 0, 1, 1, 2], predicted [0, 1, 1, 1, 0]; class 3 absent
    cm = seg.confusion_matrix(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), 4)
    iou = seg.per_class_iou(cm)
    np.testing.assert_allclose(iou[:3], [1 / 3, 2 / 3, 0.0])
    assert np.isnan(iou[3])
    assert seg.pixel_accuracy(cm) == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="one shape"):
        seg.confusion_matrix(t, p[0], 4)
    with pytest.raises(ValueError, match="must lie in 0..2"):
        seg.confusion_matrix(t, p, 3)
    with pytest.raises(ValueError, match="square"):
        seg.per_class_iou(np.ones((2, 3)))


# -- Mask R-CNN geometry ---------------------------------------------------------------------
def test_mask_target_and_paste_round_trip():
    sc = make_scenes(20, seed=5, size=64)
    ious = []
    for i in range(len(sc)):
        for m, b in zip(sc.masks[i], sc.boxes[i], strict=True):
            t = seg.mask_target(m, b, 28)
            assert t.shape == (28, 28) and 0 <= t.min() and t.max() <= 1
            back = seg.paste_mask(t, b, (64, 64))
            assert not back[~_box_region(b, 64)].any()  # nothing outside the box
            ious.append((back & m).sum() / (back | m).sum())
    assert np.mean(ious) > 0.9 and min(ious) > 0.7


def _box_region(b, size):
    r = np.zeros((size, size), bool)
    x1, y1, x2, y2 = (int(round(v)) for v in b)
    r[y1:y2, x1:x2] = True
    return r


def test_paste_mask_fills_the_box_and_clips():
    full = seg.paste_mask(np.ones((28, 28)), (10, 5, 20, 9), (16, 32))
    assert full.sum() == 10 * 4 and full[5:9, 10:20].all()
    clipped = seg.paste_mask(np.ones((28, 28)), (-4.2, 10, 6, 20), (16, 32))  # rounded: x -4..6
    assert clipped.sum() == 6 * 6 and clipped[10:16, 0:6].all()
    half = np.zeros((28, 28))
    half[:, :14] = 1
    left = seg.paste_mask(half, (0, 0, 8, 8), (8, 8))
    assert left[:, :4].all() and not left[:, 4:].any()
    square = np.zeros((16, 16), bool)
    square[4:12, 2:10] = True
    np.testing.assert_allclose(seg.mask_target(square, (2, 4, 10, 12), 28), 1.0)
    with pytest.raises(ValueError, match="x2 > x1"):
        seg.paste_mask(half, (5, 0, 5, 8), (8, 8))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        seg.mask_target(np.zeros(5), (0, 0, 2, 2))


def test_keypoint_target_and_decoding():
    box = (10.0, 20.0, 38.0, 48.0)  # 28 x 28 pixels: half a pixel per cell of a 56 grid
    for x, y in [(10.0, 20.0), (23.7, 30.2), (37.9, 47.9)]:
        r, c = seg.keypoint_target((x, y), box, 56)
        assert 0 <= r < 56 and 0 <= c < 56
        heat = np.zeros((56, 56))
        heat[r, c] = 1.0
        xd, yd = seg.keypoint_from_heatmap(heat, box)
        assert abs(xd - x) <= 0.25 + 1e-9 and abs(yd - y) <= 0.25 + 1e-9
    assert seg.keypoint_target((0.0, 100.0), box, 56) == (55, 0)  # clipped to the border
    with pytest.raises(ValueError, match="square"):
        seg.keypoint_from_heatmap(np.zeros((4, 5)), box)


def test_draw_encoder_decoder_places_the_u():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    net = seg.EncoderDecoder(width=16)
    fig, ax = plt.subplots()
    boxes = seg.draw_encoder_decoder(ax, net.trace(torch.zeros(1, 3, 64, 64)))
    assert list(boxes) == ["input", "down1", "down2", "down3", "up3", "up2", "up1", "head"]
    ys = {k: v[1] for k, v in boxes.items()}
    assert ys["input"] == ys["up1"] == ys["head"] > ys["down1"] == ys["up2"] > ys["down3"]
    assert boxes["input"][3] == pytest.approx(2 * boxes["down1"][3])  # height follows H
    texts = [t.get_text() for t in ax.texts]
    assert "down3\n64×8×8" in texts
    plt.close(fig)
    with pytest.raises(ValueError, match="trace must be"):
        seg.draw_encoder_decoder(ax, [])
