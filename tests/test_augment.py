"""dlcv.augment: shapes, value ranges, determinism and exact content of the augmentations."""

import numpy as np
import pytest

from dlcv import augment as A
from dlcv.data import load_photo


@pytest.fixture(scope="module")
def img():
    return A.to_float(load_photo("chelsea", size=64))  # (43, 64, 3) in [0, 1]


def test_to_float(img):
    assert img.dtype == np.float64 and img.shape == (43, 64, 3)
    assert 0 <= img.min() and img.max() <= 1
    np.testing.assert_array_equal(A.to_float(np.array([[[0, 255, 51]]], np.uint8)),
                                  [[[0, 1, 0.2]]])


def test_hflip_twice_is_identity(img):
    f = A.hflip(img)
    np.testing.assert_array_equal(f[:, 0], img[:, -1])
    np.testing.assert_array_equal(A.hflip(f), img)
    batch = np.stack([img, img * 0.5])
    np.testing.assert_array_equal(A.hflip(batch)[1], A.hflip(img * 0.5))


def test_random_hflip_probability(img):
    assert np.array_equal(A.random_hflip(img, 0, p=1.0), A.hflip(img))
    assert np.array_equal(A.random_hflip(img, 0, p=0.0), img)
    out = A.random_hflip(np.stack([img] * 200), 1)
    flipped = np.mean([np.array_equal(o, A.hflip(img)) for o in out])
    assert 0.35 < flipped < 0.65


def test_random_crop_content_equals_the_slice(img):
    crop, (top, left) = A.random_crop(img, 32, rng=3, return_offset=True)
    assert crop.shape == (32, 32, 3)
    np.testing.assert_array_equal(crop, img[top:top + 32, left:left + 32])
    crop, (top, left) = A.random_crop(img, (40, 60), rng=5, padding=4, return_offset=True)
    padded = np.pad(img, ((4, 4), (4, 4), (0, 0)))
    np.testing.assert_array_equal(crop, padded[top:top + 40, left:left + 60])


def test_random_crop_deterministic_and_batched(img):
    a = A.random_crop(img, 20, rng=7)
    b = A.random_crop(img, 20, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    batch = A.random_crop(np.stack([img] * 5), 20, rng=0)
    assert batch.shape == (5, 20, 20, 3)
    assert len({o.tobytes() for o in batch}) > 1  # each image its own window


def test_center_crop(img):
    c = A.center_crop(img, 21)
    np.testing.assert_array_equal(c, img[11:32, 21:42])


def test_random_resized_crop(img):
    out = A.random_resized_crop(img, 32, rng=0)
    assert out.shape == (32, 32, 3) and 0 <= out.min() and out.max() <= 1
    np.testing.assert_array_equal(out, A.random_resized_crop(img, 32, rng=0))
    full = A.random_resized_crop(img, (43, 64), rng=0, scale=(1, 1), ratio=(64 / 43, 64 / 43))
    np.testing.assert_allclose(full, img, atol=1e-6)  # the whole image, unchanged size


def test_color_jitter(img):
    same = A.color_jitter(img, 0)
    np.testing.assert_allclose(same, img)  # all strengths 0: identity
    out = A.color_jitter(img, 1, brightness=0.4, contrast=0.4, saturation=0.4)
    assert out.shape == img.shape and 0 <= out.min() and out.max() <= 1
    assert not np.allclose(out, img)
    np.testing.assert_array_equal(out, A.color_jitter(img, 1, brightness=0.4, contrast=0.4,
                                                      saturation=0.4))
    grey = A._jitter_one(img, np.random.default_rng(0), 0, 0, 0)  # factor draws are exactly 1
    np.testing.assert_allclose(grey, img)


def test_saturation_zero_gives_grey():
    img = np.random.default_rng(0).uniform(0, 1, (8, 8, 3))

    class One:  # a "generator" whose uniform draws are the lower bound
        def uniform(self, lo, hi):
            return lo

    out = A._jitter_one(img, One(), 0.0, 0.0, 1.0)  # saturation factor 0
    np.testing.assert_allclose(out[..., 0], out[..., 1])
    np.testing.assert_allclose(out[..., 1], out[..., 2])


def test_pca_lighting_shifts_every_pixel_equally():
    img = np.random.default_rng(0).uniform(0.3, 0.7, (10, 10, 3))
    out = A.pca_lighting(img, 2, std=0.1)
    shift = out - img
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0, 0], shift.shape), atol=1e-12)
    assert np.abs(shift).max() > 0


def test_rotate_and_cutout(img):
    r = A.rotate(img, 20, rng=0)
    assert r.shape == img.shape and 0 <= r.min() and r.max() <= 1
    np.testing.assert_allclose(A.rotate(img, 0, rng=0), img, atol=1e-6)
    c = A.cutout(img, 10, rng=0)
    changed = np.any(c != img, axis=2)
    assert changed.sum() <= 100 and np.all(c[changed] == 0)


@pytest.mark.parametrize("call, match", [
    (lambda: A.hflip(np.zeros((4, 4))), r"\(H, W, C\)"),
    (lambda: A.hflip(np.zeros((4, 4, 3), np.uint8)), "to_float"),
    (lambda: A.hflip(np.full((4, 4, 3), 2.0)), r"\[0, 1\]"),
    (lambda: A.random_crop(np.zeros((4, 4, 3)), 5, 0), "larger than"),
    (lambda: A.random_crop(np.zeros((4, 4, 3)), 0, 0), "size must be"),
    (lambda: A.color_jitter(np.zeros((4, 4, 3)), 0, brightness=2), "brightness must be"),
    (lambda: A.random_crop(np.zeros((4, 4, 3)), 2, "seed"), "rng must be"),
])
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_shift_moves_pixels_and_fills_zeros():
    from dlcv.augment import augment_by_shifts, shift

    x = np.arange(1, 10, dtype=float).reshape(1, 3, 3)  # (N, H, W)
    np.testing.assert_array_equal(shift(x, 1, 0)[0], [[0, 0, 0], [1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(shift(x, 0, -1)[0], [[2, 3, 0], [5, 6, 0], [8, 9, 0]])
    np.testing.assert_array_equal(shift(x, -1, 1)[0], [[0, 4, 5], [0, 7, 8], [0, 0, 0]])
    nchw = x[:, None]  # (N, 1, H, W): the same on the last two axes
    np.testing.assert_array_equal(shift(nchw, 1, 1)[:, 0], shift(x, 1, 1))
    nhwc = np.repeat(x[..., None], 3, axis=3)  # (N, H, W, 3): rows and columns on axes 1, 2
    np.testing.assert_array_equal(shift(nhwc, 1, 1, axes=(1, 2))[..., 2], shift(x, 1, 1))
    X_aug, y_aug = augment_by_shifts(np.stack([x[0], -x[0]]), np.array([4, 7]), [(0, 0), (1, 0)])
    assert X_aug.shape == (4, 3, 3) and list(y_aug) == [4, 7, 4, 7]
    np.testing.assert_array_equal(X_aug[3], shift(-x, 1, 0)[0])
    with pytest.raises(ValueError, match="dy"):
        shift(x, 3, 0)
    with pytest.raises(TypeError, match="whole pixels"):
        shift(x, 0.5, 0)
    with pytest.raises(ValueError, match="y must have shape"):
        augment_by_shifts(x, np.array([1, 2]), [(0, 0)])
