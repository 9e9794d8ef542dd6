"""Tests for dlcv/beyond/tracking.py: score maps against brute force, the video, SiamFC, the tracker."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcv.beyond import tracking as TR


@pytest.fixture(scope="module")
def seq():
    return TR.make_sequence(num_frames=30, seed=0)  # twice as fast as the lecture's video


def test_crop_inside_and_outside():
    img = np.arange(100, dtype=np.float32).reshape(10, 10)
    c = TR.crop(img, (5, 5), 4)
    np.testing.assert_array_equal(c, img[3:7, 3:7])
    corner = TR.crop(img, (0, 0), 4)            # rows/cols -2..1: half outside
    assert corner.shape == (4, 4)
    np.testing.assert_array_equal(corner[:2], 0)
    np.testing.assert_array_equal(corner[2:, 2:], img[:2, :2])
    with pytest.raises(ValueError, match="size"):
        TR.crop(img, (5, 5), 0)


def test_correlation_map_is_the_sum_of_products():
    rng = np.random.default_rng(0)
    x, z = rng.random((12, 11, 3)), rng.random((4, 5, 3))
    m = TR.correlation_map(z, x)
    assert m.shape == (9, 7)
    brute = np.array([[np.sum(z * x[i:i + 4, j:j + 5]) for j in range(7)] for i in range(9)])
    np.testing.assert_allclose(m, brute, rtol=1e-4)
    with pytest.raises(ValueError, match="larger"):
        TR.correlation_map(x, z)


def test_ncc_finds_the_template_and_ignores_brightness():
    rng = np.random.default_rng(1)
    x = rng.random((20, 20, 3)).astype(np.float32)
    z = x[6:14, 3:11].copy()
    m = TR.ncc_map(z, x)
    assert m.shape == (13, 13)
    assert np.unravel_index(np.argmax(m), m.shape) == (6, 3)
    assert m[6, 3] == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose(TR.ncc_map(z, 0.5 * x + 0.2), m, atol=1e-4)
    assert np.all(np.abs(m) <= 1 + 1e-5)


def test_make_sequence(seq):
    T, H, W, _ = seq.frames.shape
    assert (T, H) == (30, 120) and seq.frames.dtype == np.float32
    assert 0 <= seq.frames.min() and seq.frames.max() <= 1
    assert seq.centres.shape == (30, 2) and seq.size == 30
    assert np.all((seq.centres[:, 0] > 0) & (seq.centres[:, 0] < H))
    np.testing.assert_array_equal(seq.template, TR.crop(seq.frames[0], seq.centres[0], 30))
    x1, y1, x2, y2 = seq.box(0)
    assert x2 - x1 == 30 and y2 - y1 == 30
    assert seq.light.min() >= 0.55 - 1e-9 and seq.light.max() <= 1.25 + 1e-9
    again = TR.make_sequence(num_frames=30, seed=0)
    np.testing.assert_array_equal(again.frames, seq.frames)
    assert seq.occluded.any() and not seq.occluded.all()
    with pytest.raises(ValueError, match="num_frames"):
        TR.make_sequence(num_frames=1)
    with pytest.raises(ValueError, match="target_box"):
        TR.make_sequence(num_frames=2, target_box=(280, 0, 100))


def test_siamfc_correlation_is_one_convolution_per_pair():
    net = TR.SiamFC(width=4, normalize=False, seed=0)
    z, x = torch.rand(2, 3, 30, 30), torch.rand(2, 3, 64, 64)
    out = net(z, x)
    assert out.shape == (2, 1, 18, 18)
    fz, fx = net.features(z), net.features(x)
    assert fz.shape == (2, 8, 11, 11) and fx.shape == (2, 8, 28, 28)   # (H - 7) // 2
    for b in range(2):
        ref = F.conv2d(fx[b:b + 1], fz[b:b + 1]) * net.adjust + net.bias
        torch.testing.assert_close(out[b:b + 1], ref)
    cos = TR.SiamFC(width=4, normalize=True, seed=0)
    c = cos.correlate(cos.features(z), cos.features(x))
    fz, fx = cos.features(z), cos.features(x)
    patch = fx[0, :, 3:3 + fz.shape[2], 5:5 + fz.shape[3]]
    manual = (patch * fz[0]).sum() / (patch.norm() * fz[0].norm())
    assert c[0, 0, 3, 5].item() == pytest.approx(manual.item(), rel=1e-4)
    assert c.abs().max() <= 1 + 1e-5
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        net(torch.rand(2, 1, 30, 30), x)


def test_siamfc_pairs_put_the_positive_label_on_the_true_offset():
    img = TR.photo_at_height("astronaut", 120)
    Z, X, L, off = TR.siamfc_pairs([img], 4, np.random.default_rng(0), rotation=0,
                                   scale=(1, 1), light=(1, 1), noise=0, max_shift=6)
    assert Z.shape == (4, 30, 30, 3) and X.shape == (4, 64, 64, 3) and L.shape == (4, 18, 18)
    for b in range(4):
        r, c = np.round(off[b]).astype(int)
        np.testing.assert_allclose(X[b, r:r + 30, c:c + 30], Z[b], atol=1e-5)
        assert L[b, r // 2, c // 2] == 1 and 1 <= L[b].sum() <= 25


def test_siamfc_pairs_scale_above_one_shrinks_the_photo():
    ramp = np.repeat(np.linspace(0, 1, 400, dtype=np.float32)[None, :, None], 200, 0)
    ramp = np.repeat(ramp, 3, 2)                                     # (200, 400, 3): value = column
    for s in (1.0, 2.0):
        Z, X, _, _ = TR.siamfc_pairs([ramp], 2, np.random.default_rng(0), rotation=0,
                                     scale=(s, s), light=(1, 1), noise=0, max_shift=0)
        step_z = np.diff(Z[:, 15, 10:20, 0], axis=1).mean()          # per pixel of the exemplar
        step_x = np.diff(X[:, 32, 27:37, 0], axis=1).mean()          # and of the search region
        assert step_x == pytest.approx(s * step_z, rel=1e-3)


def test_train_and_map_shapes():
    net = TR.SiamFC(width=4, seed=0)
    hist = TR.train_siamfc(net, photos=["coffee"], steps=3, batch=4)
    assert hist.loss.shape == (3,) and np.all(np.isfinite(hist.loss))
    m = TR.siamfc_map(net, np.zeros((30, 30, 3)), np.zeros((64, 64, 3)))
    assert m.shape == (35, 35)


def test_track_with_ncc_follows_the_target(seq):
    res = TR.track(seq, TR.ncc_map, search=64)
    err = TR.centre_errors(res.centres, seq.centres)
    assert len(res.maps) == 29 and res.maps[0].shape == (35, 35)
    assert err[0] == 0 and err.max() <= 6 and np.median(err) < 2
    np.testing.assert_array_equal(res.window_centres[1:], res.centres[:-1])
    with pytest.raises(ValueError, match="search"):
        TR.track(seq, TR.ncc_map, search=20)


def test_errors_and_precision_curve():
    e = TR.centre_errors(np.array([[0, 0], [3, 4], [0, 10]]), np.zeros((3, 2)))
    np.testing.assert_allclose(e, [0, 5, 10])
    th, frac = TR.precision_curve(e, [0, 5, 9, 10])
    np.testing.assert_allclose(frac, [1 / 3, 2 / 3, 2 / 3, 1])
    with pytest.raises(ValueError, match="T, 2"):
        TR.centre_errors(np.zeros(3), np.zeros(3))
