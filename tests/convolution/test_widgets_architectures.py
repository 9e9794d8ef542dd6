"""Tests for dlcv/convolution/widgets.py: the block cost widget, without a browser."""


import numpy as np
import pytest

from dlcv.convolution.costs import BLOCKS, block_costs
from dlcv.convolution.widgets import MAX_ROWS, BlockCostView


@pytest.fixture(scope="module")
def view():
    v = BlockCostView(block="ResNet bottleneck", channels=256, size=28)
    return v


def _widths(bars):
    return np.array([b.get_width() for b in bars])


def test_initial_bars_match_block_costs(view):
    assert view.renders >= 1
    table, info = block_costs("ResNet bottleneck", 256, 28)
    w = _widths(view.bars_macs)
    np.testing.assert_array_equal(w[:3], [r.macs for r in table])
    assert (w[3:] == 0).all() and len(view.bars_macs) == MAX_ROWS
    np.testing.assert_array_equal(_widths(view.bars_params)[:3], [256 * 64, 9 * 64 * 64, 64 * 256])
    assert "69,632 parameters" in view.readout.value
    labels = [t.get_text() for t in view.ax_macs.get_yticklabels()]
    assert labels == ["1x1 conv 256->64", "3x3 conv 64->64", "1x1 conv 64->256"]


def test_block_choice_changes_bars_title_and_readout(view):
    renders = view.renders
    view.block.value = "inception, naive"
    assert view.renders == renders + 1
    assert view.stats["macs"] == 854_196_224
    assert "672 x 28 x 28" in view.title.get_text()
    assert (_widths(view.bars_macs)[3:] == 0).all()
    view.block.value = "inception with 1x1 bottlenecks"
    assert view.stats["macs"] == 271_351_808
    assert (_widths(view.bars_macs)[:6] > 0).all()


def test_channels_size_and_cardinality(view):
    view.block.value = "ResNeXt (grouped 3x3)"
    view.channels.value = 256
    view.size.value = 28
    view.cardinality.value = 32
    assert view.stats["params"] == 70_144
    before = view.stats["macs"]
    view.cardinality.value = 1
    assert view.stats["params"] == 256 * 128 * 2 + 9 * 128 * 128 and view.stats["macs"] > before
    view.size.value = 14
    assert view.stats["macs"] == view.stats["params"] * 14 * 14
    view.channels.value = 128
    assert view.stats["out_shape"] == (1, 128, 14, 14)


def test_every_block_renders(view):
    for b in BLOCKS:
        view.block.value = b
        assert view.stats["macs"] > 0 and b in view.readout.value
