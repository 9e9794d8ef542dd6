"""Tests for dlcv/segmentation/upsampling.py: unpooling, transposed-convolution arithmetic,
the convolution matrices and the kernel stamps."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcv.segmentation import upsampling as seg


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
