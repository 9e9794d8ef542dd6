"""Tests for dlcv/segmentation/widgets.py: the transposed-convolution view, without a browser."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcv.segmentation.upsampling import transposed_output_size
from dlcv.segmentation.widgets import MAX_OUT, TransposedConvView, torch_output_shape


@pytest.fixture()
def view():
    return TransposedConvView(n=4, k=3, stride=2, padding=0, output_padding=0, row=1, col=1)


def _visible_counts(v):
    return [[v.count_texts[a][b].get_text() for b in range(v.out)] for a in range(v.out)]


def test_initial_state_is_the_checkerboard(view):
    assert view.renders == 1 and view.valid and view.message == ""
    assert view.out == 9 and view.torch_shape == (1, 1, 9, 9)
    assert view.counts_match_torch
    profile = [1, 1, 2, 1, 2, 1, 2, 1, 1]
    np.testing.assert_array_equal(view.counts, np.outer(profile, profile))
    assert view.uneven and "checkerboard" in view.warning_text.get_text()
    assert view.formula_lines[1].strip() == "= (4 - 1)*2 - 2*0 + 3 + 0 = 9"
    assert "✓ matches" in view.formula_lines[2]
    assert "(4 - 1)*2 - 2*0 + 3 + 0 = 9" in view.formula_text.get_text()
    assert "= 9" in view.readout.value and "matches" in view.readout.value
    np.testing.assert_array_equal(view.count_im.get_array(), view.counts)
    assert _visible_counts(view)[2][2] == "4" and _visible_counts(view)[0][0] == "1"
    assert not view.count_texts[9][0].get_visible()
    # the selected cell (1, 1) stamps output rows and columns 2..4
    assert view.span == ((2, 5), (2, 5))
    assert view.sel_stamp.get_xy() == (1.5, 1.5) and view.sel_stamp.get_width() == 3
    assert view.sel_in_box.get_xy() == (0.5, 0.5)
    assert sum(b.get_visible() for b in view.stamp_boxes) == 16
    assert view.tap_texts[2][1].get_position() == (3, 4)
    assert view.tap_texts[2][1].get_text() == "w21"
    assert view._repr_mimebundle_()["image/png"]
    box = view.widget
    assert view.image in box.children and view.readout in box.children


def test_even_overlap_when_kernel_is_a_multiple_of_stride(view):
    renders = view.renders
    view.k.value = 4
    assert view.renders == renders + 1
    assert view.out == 10 and not view.uneven
    assert np.all(view.counts[2:-2, 2:-2] == 4)  # even inside, fewer at the border
    assert "K mod S = 0" in view.warning_text.get_text()
    view.k.value = 2  # kernel == stride: the copies tile the output exactly once
    assert np.all(view.counts == 1) and view.out == 8


def test_padding_and_output_padding_tints(view):
    view.padding.value = 1
    assert view.out == 7 and view.torch_shape == (1, 1, 7, 7) and view.counts_match_torch
    tint = np.asarray(view.out_im.get_array())
    assert tint.shape == (9, 9, 4)  # the canvas: output 7 plus one cropped row on each side
    assert tint[0, 4, 2] == pytest.approx(0.91)  # blue: cropped by the padding
    assert view.out_border.get_xy() == (-0.5, -0.5) and view.out_border.get_width() == 7
    view.padding.value = 0
    view.output_padding.value = 1
    assert view.out == 10 and view.counts_match_torch
    tint = np.asarray(view.out_im.get_array())
    assert tint.shape == (10, 10, 4)
    assert tint[9, 0, 3] == pytest.approx(0.35)  # orange: added by output_padding
    assert np.all(view.counts[9] == 0)


def test_selection_moves_the_stamp_and_follows_n(view):
    view.row.value, view.col.value = 3, 2
    assert view.span == ((6, 9), (4, 7))
    assert view.sel_stamp.get_xy() == (3.5, 5.5)
    assert view.sel_in_box.get_xy() == (1.5, 2.5)
    assert view.in_texts[3][2].get_color() == "white"
    view.n.value = 2  # the selection is clamped into the smaller input
    assert view.row.max == 1 and view.col.max == 1 and (view.row.value, view.col.value) == (1, 1)
    assert view.out == 5 and sum(b.get_visible() for b in view.stamp_boxes) == 4
    assert not view.in_texts[2][0].get_visible()
    view.n.value = 6
    assert view.row.max == 5 and view.out == 13


def test_invalid_settings_show_a_message_not_an_exception(view):
    view.stride.value = 1
    view.output_padding.value = 1  # output_padding >= stride
    assert not view.valid and view.counts is None
    assert "must be smaller than the stride" in view.message
    assert view.torch_shape is None and "torch says" in view.readout.value
    assert "color:#b00" in view.readout.value
    assert not view.ax_out.get_visible() and view.message_text.get_visible()
    view.output_padding.value = 0
    assert view.valid and view.ax_out.get_visible() and not view.message_text.get_visible()
    v = TransposedConvView(n=2, k=1, stride=1, padding=2)  # crops everything
    assert not v.valid and "crops everything" in v.message


def test_largest_setting_fits():
    v = TransposedConvView(n=6, k=5, stride=3, padding=0, output_padding=2, row=5, col=5)
    assert v.out == MAX_OUT == 22 and v.counts_match_torch
    assert all(v.count_texts[a][b].get_visible() for a in range(22) for b in range(22))


def test_torch_output_shape_agrees_with_the_formula_everywhere():
    for n, k, s, p, op in itertools.product(range(2, 7), range(1, 6), range(1, 4), range(3),
                                            range(3)):
        shape, out, msg = torch_output_shape(n, k, s, p, op)
        try:
            m = transposed_output_size(n, k, s, p, op)
        except ValueError:
            assert shape is None or shape[-1] == 0, (n, k, s, p, op)
            continue
        assert shape == (1, 1, m, m) and msg == ""
        ref = F.conv_transpose2d(torch.ones(1, 1, n, n), torch.ones(1, 1, k, k), stride=s,
                                 padding=p, output_padding=op)
        np.testing.assert_array_equal(out, ref[0, 0].numpy())


def test_constructor_checks_and_the_kernel_size_redraws():
    with pytest.raises(ValueError, match="stride must be an int in 1..3"):
        TransposedConvView(stride=4)
    with pytest.raises(ValueError, match="row must be an int in 0..3"):
        TransposedConvView(n=4, row=4)
    v = TransposedConvView()
    renders = v.renders
    v.k.value = 5
    assert v.renders == renders + 1
