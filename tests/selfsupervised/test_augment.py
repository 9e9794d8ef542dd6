"""Tests for dlcv/selfsupervised/augment.py: shapes, ranges, the identity settings, seeds."""

import numpy as np
import pytest
import torch

from dlcv.selfsupervised import augment as AU


def _batch(n=6, c=3, s=12, seed=0):
    return torch.rand(n, c, s, s, generator=torch.Generator().manual_seed(seed))


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("fn", [AU.random_resized_crop, AU.color_jitter, AU.random_grayscale,
                                AU.hue_shuffle, AU.gaussian_blur, AU.simclr_view])
def test_shape_range_and_seed(fn):
    x = _batch()
    a, b = fn(x, _g(1)), fn(x, _g(1))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    torch.testing.assert_close(a, b)                        # the generator fixes the result
    assert not torch.equal(fn(x, _g(2)), a) or fn is AU.random_grayscale


def test_crop_of_the_whole_image_is_the_image_or_its_mirror():
    x = _batch()
    same = AU.random_resized_crop(x, _g(), scale=(1, 1), ratio=(1, 1), flip=False)
    torch.testing.assert_close(same, x, atol=1e-5, rtol=0)
    out = AU.random_resized_crop(x, _g(), scale=(1, 1), ratio=(1, 1), flip=True)
    for o, im in zip(out, x, strict=True):
        assert torch.allclose(o, im, atol=1e-5) or torch.allclose(o, im.flip(-1), atol=1e-5)


def test_small_crop_magnifies():
    # a horizontal ramp 0..1: a window of a quarter of the area (half the width, aspect 1)
    # stretched back spans about half of the ramp
    ramp = (torch.arange(16.0) / 15).expand(4, 1, 16, 16).contiguous()
    out = AU.random_resized_crop(ramp, _g(), scale=(0.25, 0.25), ratio=(1, 1), flip=False)
    span = out[:, 0, 8].amax(1) - out[:, 0, 8].amin(1)
    assert torch.all((span > 0.4) & (span < 0.55)), span
    assert torch.all(out[:, 0, 8, 1:] >= out[:, 0, 8, :-1])   # still increasing: no flip


def test_jitter_grey_and_hue():
    x = _batch()
    torch.testing.assert_close(AU.color_jitter(x, _g(), strength=0.0, p=1.0), x)
    torch.testing.assert_close(AU.color_jitter(x, _g(), strength=0.5, p=0.0), x)
    grey = AU.random_grayscale(x, _g(), p=1.0)
    want = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    for c in range(3):
        torch.testing.assert_close(grey[:, c], want)
    hs = AU.hue_shuffle(x, _g(), p=1.0)
    torch.testing.assert_close(hs.sort(1).values, x.sort(1).values)   # a permutation per pixel
    assert not any(torch.equal(h, im) for h, im in zip(hs, x, strict=True))
    with pytest.raises(ValueError, match="RGB"):
        AU.hue_shuffle(torch.rand(2, 1, 4, 4), _g())


def test_blur_keeps_constants_and_smooths():
    k = AU.gaussian_kernels(torch.tensor([0.5, 2.0]))
    np.testing.assert_allclose(k.sum(1).numpy(), 1, rtol=1e-6)
    flat = torch.full((2, 3, 8, 8), 0.4)
    torch.testing.assert_close(AU.gaussian_blur(flat, _g(), p=1.0), flat)
    x = _batch()
    assert float(AU.gaussian_blur(x, _g(), sigma=(1, 1), p=1.0).var()) < float(x.var())


def test_grey_images_and_two_views():
    x = _batch(c=1)
    v1, v2 = AU.two_views(x, _g(), flip=False)
    assert v1.shape == v2.shape == x.shape and not torch.equal(v1, v2)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"random_resized_crop: x must be a float tensor \(N, C, H, W\)"):
        AU.random_resized_crop(torch.rand(3, 8, 8), _g())
    with pytest.raises(ValueError, match="scale"):
        AU.random_resized_crop(_batch(), _g(), scale=(0, 1))
    with pytest.raises(ValueError, match="strength"):
        AU.color_jitter(_batch(), _g(), strength=2)
    with pytest.raises(ValueError, match="sigma"):
        AU.gaussian_blur(_batch(), _g(), sigma=(0, 1))
