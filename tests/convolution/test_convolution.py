"""Tests for dlcv/convolution/arithmetic.py: output sizes, single-channel convolution, windows, receptive
fields; references are torch, scipy and hand-computed cases."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.signal import correlate2d
from torch import nn

from dlcv.convolution.arithmetic import (
    KERNELS,
    ReceptiveField,
    conv2d_single,
    effective_kernel_size,
    output_size,
    output_size_formula,
    receptive_field,
    receptive_field_table,
    window,
)


@pytest.mark.parametrize("n, k, s, p, d", [
    (n, k, s, p, d)
    for n, k, s, p, d in itertools.product((5, 7, 8, 32), (1, 2, 3, 5), (1, 2, 3), (0, 1, 2),
                                           (1, 2, 3))
    if d * (k - 1) + 1 <= n + 2 * p
])
def test_output_size_matches_torch(n, k, s, p, d):
    x = torch.zeros(1, 1, n, n)
    w = torch.zeros(1, 1, k, k)
    m = F.conv2d(x, w, stride=s, padding=p, dilation=d).shape[-1]
    assert output_size(n, k, s, p, d) == m
    if d == 1:  # the form without dilation
        assert output_size(n, k, s, p) == (n + 2 * p - k) // s + 1


def test_output_size_textbook_cases():
    assert output_size(7, 3) == 5  # CS231n: 7x7 input, 3x3 filter
    assert output_size(7, 3, stride=2) == 3
    assert output_size(32, 5, stride=1, padding=2) == 32  # "same" padding (K-1)/2
    assert output_size(227, 11, stride=4) == 55  # AlexNet's first layer
    assert output_size(5, 2, stride=3) == 2  # floor((5 - 2)/3 + 1)
    assert output_size(64, 3, 2, 1, 2) == 31
    assert effective_kernel_size(3, 2) == 5 and effective_kernel_size(3, 4) == 9


def test_output_size_formula_text():
    assert output_size_formula(64, 3, 2, 1, 2) == "M = floor((64 + 2*1 - 2*(3-1) - 1)/2) + 1 = 31"


@pytest.mark.parametrize("args, msg", [
    ((3, 5), r"effective size D\(K-1\)\+1 = 1\*\(5-1\)\+1 = 5 does not fit .* N\+2P = 3\+2\*0 = 3"),
    ((5, 3, 1, 0, 3), "does not fit"),
    ((0, 3), "n must be an int >= 1"),
    ((5, 0), "k must be an int >= 1"),
    ((5, 3, 0), "stride must be an int >= 1"),
    ((5, 3, 1, -1), "padding must be an int >= 0"),
    ((5, 3, 1, 0, 0), "dilation must be an int >= 1"),
    ((5.0, 3), "n must be an int"),
])
def test_output_size_errors(args, msg):
    with pytest.raises(ValueError, match=msg):
        output_size(*args)


def test_conv2d_single_matches_scipy_correlate():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 12))
    for name, w in KERNELS.items():
        np.testing.assert_allclose(conv2d_single(x, w), correlate2d(x, w, mode="valid"),
                                   atol=1e-12, err_msg=name)
    w = rng.normal(size=(4, 4))
    np.testing.assert_allclose(conv2d_single(x, w), correlate2d(x, w, mode="valid"), atol=1e-12)
    # padding 1 with a 3x3 kernel is scipy's "same" with zero fill
    w = rng.normal(size=(3, 3))
    np.testing.assert_allclose(conv2d_single(x, w, padding=1), correlate2d(x, w, mode="same"),
                               atol=1e-12)


def test_conv2d_single_hand_computed_4x4():
    x = np.array([[1, 2, 0, 1],
                  [0, 1, 3, 1],
                  [2, 1, 0, 0],
                  [1, 0, 2, 1]], dtype=float)
    w = np.array([[1, 0, -1],
                  [1, 0, -1],
                  [1, 0, -1]], dtype=float)
    # y[0,0] = (1+0+2) - (0+3+0) = 0 ; y[0,1] = (2+1+1) - (1+1+0) = 2
    # y[1,0] = (0+2+1) - (3+0+2) = -2 ; y[1,1] = (1+1+0) - (1+0+1) = 0
    np.testing.assert_allclose(conv2d_single(x, w), [[0, 2], [-2, 0]])
    # stride 2 with padding 1: positions (0,0), (0,2), (2,0), (2,2) of the padded 6x6
    out = conv2d_single(x, w, stride=2, padding=1)
    assert out.shape == (2, 2)
    # y[0,0]: window rows -1..1, cols -1..1 -> left column zeros, right column x[0:2,1] = 2, 1
    assert out[0, 0] == pytest.approx(-(2 + 1))
    # dilation 2 on 5x5 ones: one output, the sum of the kernel
    assert conv2d_single(np.ones((5, 5)), w, dilation=2).tolist() == [[0.0]]
    assert conv2d_single(np.ones((5, 5)), np.ones((3, 3)), dilation=2).tolist() == [[9.0]]


def test_conv2d_single_is_cross_correlation_not_convolution():
    x = np.zeros((5, 5))
    x[2, 2] = 1.0  # an impulse: correlation gives the flipped kernel
    w = np.arange(9.0).reshape(3, 3)
    np.testing.assert_allclose(conv2d_single(x, w, padding=1)[1:4, 1:4], w[::-1, ::-1])


@pytest.mark.parametrize("s, p, d", [(1, 0, 1), (2, 0, 1), (1, 1, 1), (2, 1, 1), (1, 0, 2),
                                     (2, 2, 2), (3, 1, 3), (1, 4, 4)])
def test_window_dot_product_is_the_output_value(s, p, d):
    rng = np.random.default_rng(s + 10 * p + 100 * d)
    x = rng.normal(size=(13, 11))
    w = rng.normal(size=(3, 3))
    out = conv2d_single(x, w, s, p, d)
    xp = np.pad(x, p)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            win = window(x, 3, i, j, s, p, d)
            assert (win.patch * w).sum() == pytest.approx(out[i, j], abs=1e-10)
            # the same slice of the padded image, taken directly
            sl = xp[s * i:s * i + d * 2 + 1:d, s * j:s * j + d * 2 + 1:d]
            np.testing.assert_array_equal(win.patch, sl)
            assert win.extent == 2 * d + 1
            np.testing.assert_array_equal(win.rows, s * i - p + d * np.arange(3))
            np.testing.assert_array_equal(win.cols, s * j - p + d * np.arange(3))


def test_window_padding_taps_and_points():
    x = np.arange(16.0).reshape(4, 4) + 1
    win = window(x, 3, 0, 0, padding=1)
    assert win.top == -1 and win.left == -1
    np.testing.assert_array_equal(win.inside, [[False, False, False], [False, True, True],
                                               [False, True, True]])
    np.testing.assert_array_equal(win.patch, [[0, 0, 0], [0, 1, 2], [0, 5, 6]])
    pts = win.tap_points()
    assert pts.shape == (9, 2)
    np.testing.assert_array_equal(pts[:3], [[-1, -1], [0, -1], [1, -1]])  # (x=col, y=row)


@pytest.mark.parametrize("call, msg", [
    (lambda: conv2d_single(np.zeros((4, 4, 3)), np.ones((3, 3))), r"image must be a 2-D array"),
    (lambda: conv2d_single(np.zeros((4, 4)), np.ones((3, 2))), r"kernel must be a square"),
    (lambda: conv2d_single(np.zeros((2, 8)), np.ones((3, 3))), r"image height.*does not fit"),
    (lambda: conv2d_single(np.zeros((8, 8)), np.ones((3, 3)), stride=0), "stride must be"),
    (lambda: window(np.zeros((6, 6)), 3, 4, 0), r"i must be an int in 0\.\.3"),
    (lambda: window(np.zeros((6, 6)), 3, 0, -1), r"j must be an int in 0\.\.3"),
    (lambda: window(np.zeros((6, 6)), 0, 0, 0), "kernel_size must be an int >= 1"),
])
def test_bad_inputs(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


def test_receptive_field_known_stacks():
    assert receptive_field([(3, 1)] * 3).size == 7  # three 3x3 convs see 7x7
    assert receptive_field([(3, 1)] * 2).size == 5
    assert receptive_field([(7, 1)]) == ReceptiveField(7, 1, 3.0)
    # conv3 - pool2 - conv3 - pool2: 3, 4, 8, 10 with jumps 1, 2, 2, 4
    table = receptive_field_table([(3, 1, 1), (2, 2), (3, 1, 1), (2, 2)])
    assert [(r.size, r.jump) for r in table] == [(1, 1), (3, 1), (4, 2), (8, 2), (10, 4)]
    # dilations 1, 2, 4, 8 of 3x3: exponential growth 3, 7, 15, 31 (Yu & Koltun)
    sizes = [r.size for r in receptive_field_table([(3, 1, 0, 2 ** i) for i in range(4)])][1:]
    assert sizes == [3, 7, 15, 31]
    # AlexNet-like start: 11x11 stride 4, then 3x3 max-pool stride 2
    rf = receptive_field([(11, 4), (3, 2)])
    assert (rf.size, rf.jump) == (19, 8)


def test_receptive_field_of_torch_modules_and_start():
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.AvgPool2d(2))
    rf = receptive_field(net)
    assert (rf.size, rf.jump) == (10, 4)
    # centre of the first unit: padding 1 keeps conv centres on pixel 0, pooling moves it by 0.5
    assert rf.start == pytest.approx(1.5)
    # check size and position by autograd: which input pixels reach output unit (1, 1)? (average
    # pooling, so that the gradient reaches every pixel of the window, not only a max)
    net = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.AvgPool2d(2),
                        nn.Conv2d(1, 1, 3, padding=1), nn.AvgPool2d(2))
    assert receptive_field(net) == rf
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(1.0)
                m.bias.zero_()
    x = torch.ones(1, 1, 24, 24, requires_grad=True)
    net(x)[0, 0, 1, 1].backward()
    rows = np.flatnonzero(x.grad[0, 0].abs().sum(1).numpy() > 0)
    assert rows.max() - rows.min() + 1 == rf.size
    assert (rows.min() + rows.max()) / 2 == pytest.approx(rf.start + 1 * rf.jump)


def test_receptive_field_of_nested_sequential():
    block = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.Conv2d(1, 1, 3))
    net = nn.Sequential(block, nn.MaxPool2d(2), nn.Sequential(block, nn.BatchNorm2d(1)))
    assert receptive_field(net).size == receptive_field([(3, 1), (3, 1), (2, 2), (3, 1),
                                                         (3, 1)]).size == 14


def test_receptive_field_errors():
    with pytest.raises(ValueError, match="must be a tuple"):
        receptive_field(["conv"])
    with pytest.raises(ValueError, match="stride must be an int >= 1"):
        receptive_field([(3, 0)])
    with pytest.raises(ValueError, match="mixes all positions"):
        receptive_field([nn.Conv2d(1, 1, 3), nn.Flatten(), nn.Linear(4, 2)])
    with pytest.raises(ValueError, match="numeric padding"):
        receptive_field([nn.Conv2d(1, 1, 3, padding="same")])


def test_draw_windows_draws_grid_and_taps():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dlcv.convolution.arithmetic import draw_windows

    fig, ax = plt.subplots()
    wins = draw_windows(ax, 5, stride=2, padding=1, positions=[(0, 0), (0, 1)])
    assert [w.left for w in wins] == [-1, 1]
    assert len(ax.patches) == 7 * 7 + 2 * 9  # padded grid cells + taps
    assert "M = 3" in ax.get_title()
    with pytest.raises(ValueError, match="at most 4 positions"):
        draw_windows(ax, 5, positions=[(0, 0)] * 5)
    plt.close(fig)
