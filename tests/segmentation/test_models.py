"""Tests for dlcv/segmentation/models.py: the label-map colours, sliding windows, the
encoder-decoder, its drawing and its training."""

import numpy as np
import pytest
import torch

from dlcv.plots import CLASS_COLORS
from dlcv.segmentation import models as seg
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
