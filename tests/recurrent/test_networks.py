"""Tests for dlcv/recurrent/networks.py: the row reader, parameter counts and the drawings.
References: torch's own parameter counts, the formula by hand."""

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.patches import FancyArrowPatch

from dlcv.recurrent import networks as R


# ------------------------------------------------------------------------------------------
# counting and drawing
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,cls", [("rnn", torch.nn.RNN), ("gru", torch.nn.GRU),
                                      ("lstm", torch.nn.LSTM)])
@pytest.mark.parametrize("layers,bi", [(1, False), (2, False), (3, True)])
def test_rnn_param_count_matches_torch(kind, cls, layers, bi):
    m = cls(10, 16, num_layers=layers, bidirectional=bi)
    assert R.rnn_param_count(kind, 10, 16, layers, bi) == sum(p.numel() for p in m.parameters())


def test_rnn_param_count_by_hand():
    assert R.rnn_param_count("lstm", 32, 128) == 4 * (128 * 32 + 128 * 128 + 2 * 128)
    with pytest.raises(ValueError, match="kind"):
        R.rnn_param_count("cnn", 3, 3)


def test_drawings_put_boxes_and_arrows_on_the_axes():
    fig, axes = plt.subplots(1, 5)
    R.draw_io_patterns(axes)
    assert all(len(ax.patches) > 0 for ax in axes)
    with pytest.raises(ValueError, match="5 axes"):
        R.draw_io_patterns(axes[:2])
    fig2, ax = plt.subplots()
    R.draw_truncated_bptt(ax, length=12, chunk=4)
    red = [p for p in ax.patches if isinstance(p, FancyArrowPatch)
           and matplotlib.colors.same_color(p.get_edgecolor(), "#D55E00")]
    assert len(red) == 12 - 3  # backward arrows inside the three chunks only
    for kind in R.TOPOLOGIES:
        fig3, ax = plt.subplots()
        R.draw_topology(ax, kind)
        assert len(ax.patches) > 4
        plt.close(fig3)
    with pytest.raises(ValueError, match="kind"):
        R.draw_topology(ax, "tree")
    fig4, ax = plt.subplots()
    R.draw_unrolled(ax, steps=3)
    assert sum(isinstance(p, FancyArrowPatch) for p in ax.patches) == 2 + 1 + 3 * 3
    plt.close("all")


def test_row_reader_learns_digits_and_bidirectional_sees_everything_at_once():
    from dlcv.data import load_digits

    X, y = load_digits()
    X = X / 16.0
    uni, bi = R.RowReader(), R.RowReader(bidirectional=True)
    assert uni(X[:3]).shape == (3, 8, 10) and bi(X[:3]).shape == (3, 8, 10)
    R.train_row_reader(uni, X[:1400], y[:1400], steps=200)
    R.train_row_reader(bi, X[:1400], y[:1400], steps=200)
    acc_uni = R.accuracy_per_row(uni, X[1400:], y[1400:])
    acc_bi = R.accuracy_per_row(bi, X[1400:], y[1400:])
    assert acc_uni.shape == (8,)
    assert acc_uni[-2] > 0.7 and acc_uni[0] < 0.5      # one row says little
    assert acc_bi[0] > 0.75                              # the backward pass has read them all
    with pytest.raises(ValueError, match="N, H, W"):
        uni(X[0])
