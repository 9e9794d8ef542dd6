"""Tests for dlcv/convolution/diagrams.py: the layouts of ResNets, a plain net and GoogLeNet
read off the networks, and the drawing's artists."""

import matplotlib.pyplot as plt
import pytest
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from torch import nn

from dlcv.convolution import architectures as A
from dlcv.convolution.costs import build_on_meta
from dlcv.convolution.diagrams import (
    KERNEL_COLORS,
    Layout,
    box_color,
    draw_network,
    network_layout,
)


def test_resnet18_layout_has_its_18_weight_layers_and_8_shortcuts():
    lay = network_layout(build_on_meta(A.make_resnet, 18), (1, 3, 224, 224))
    kinds = [b.kind for b in lay.boxes]
    assert kinds[0] == "input" and lay.boxes[0].out_shape == (3, 224, 224)
    assert kinds.count("conv") + kinds.count("fc") == 18   # the projections are not boxes
    assert lay.boxes[1].label == "7x7 conv, 64, /2" and lay.boxes[1].out_shape == (64, 112, 112)
    assert lay.boxes[-1].label == "fc 1000" and lay.boxes[-1].out_shape == (1000,)
    assert lay.boxes[-2].label == "global avg pool" and lay.boxes[-2].out_shape == (512, 1, 1)
    assert len(lay.shortcuts) == 8
    proj = [s for s in lay.shortcuts if s.projection]
    assert [s.label for s in proj] == ["1x1 conv, 128, /2", "1x1 conv, 256, /2",
                                       "1x1 conv, 512, /2"]
    for s in lay.shortcuts:  # each spans the two convolutions of one basic block
        assert s.end - s.start == 1
        assert all(lay.boxes[i].kind == "conv" for i in (s.start, s.end))
    first_of_stage2 = lay.boxes[proj[0].start]
    assert first_of_stage2.label == "3x3 conv, 128, /2"
    assert first_of_stage2.out_shape == (128, 28, 28)
    assert lay.title == "ResNet-18"


def test_bottleneck_and_grouped_labels():
    lay = network_layout(build_on_meta(A.make_resnet, 50, cardinality=32, group_width=4),
                         (1, 3, 224, 224))
    convs = [b for b in lay.boxes if b.kind == "conv"]
    assert len(convs) == 1 + 16 * 3
    assert all(s.end - s.start == 2 for s in lay.shortcuts) and len(lay.shortcuts) == 16
    assert convs[2].label == "3x3 conv, 128, g32"   # the first block's grouped 3x3
    assert sum(s.projection for s in lay.shortcuts) == 4  # stage 1 widens 64 -> 256 as well


def test_plain_net_has_no_shortcuts_and_residual_net_has_one_per_block():
    plain = network_layout(A.make_digits_net(3, width=8, residual=False), (1, 1, 8, 8))
    res = network_layout(A.make_digits_net(3, width=8, residual=True), (1, 1, 8, 8))
    assert plain.shortcuts == () and len(res.shortcuts) == 3
    assert [b.label for b in plain.boxes] == [b.label for b in res.boxes]
    assert not any(s.projection for s in res.shortcuts)


def test_inception_modules_are_one_box_with_their_concatenated_output():
    lay = network_layout(build_on_meta(A.make_googlenet), (1, 3, 224, 224))
    inc = [b for b in lay.boxes if b.kind == "inception"]
    assert [b.label for b in inc][:2] == ["inception 3a", "inception 3b"] and len(inc) == 9
    assert inc[0].out_shape == (256, 28, 28) and inc[-1].out_shape == (1024, 7, 7)
    assert lay.shortcuts == ()


def test_colors_follow_the_kernel_size():
    lay = network_layout(build_on_meta(A.make_resnet, 18), (1, 3, 224, 224))
    c7, c3 = box_color(lay.boxes[1]), box_color(lay.boxes[3])
    assert c7 != c3 and KERNEL_COLORS[7] != KERNEL_COLORS[3]
    assert all(0 <= v <= 1 for v in c7 + c3)


def test_drawing_has_a_box_per_layer_and_an_arrow_per_link_and_shortcut():
    lay = network_layout(build_on_meta(A.make_resnet, 18), (1, 3, 224, 224))
    fig, ax = plt.subplots()
    draw_network(ax, lay)
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(boxes) == len(lay.boxes)
    assert len(arrows) == len(lay.boxes) - 1 + len(lay.shortcuts)
    assert sum(a.get_linestyle() == "--" for a in arrows) == 3   # the projections
    texts = [t.get_text() for t in ax.texts]
    assert "3x3 conv, 512" in texts and "1x1 conv 512 /2" in texts and "512\n7x7" in texts
    plt.close(fig)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="network_layout: net must be"):
        network_layout("resnet", (1, 3, 224, 224))
    with pytest.raises(ValueError, match="no convolution, pooling or linear"):
        network_layout(nn.Sequential(nn.ReLU()), (1, 3, 8, 8))
    with pytest.raises(ValueError, match="input_shape"):
        network_layout(A.make_digits_net(1, width=4), (1, 3))
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="draw_network: layout must be a Layout"):
        draw_network(ax, [])
    plt.close(fig)
    assert isinstance(network_layout(A.make_lenet5(), (1, 1, 32, 32)), Layout)
