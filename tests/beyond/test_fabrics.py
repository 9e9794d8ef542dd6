"""Tests for dlcv/beyond/fabrics.py: path counts against brute-force enumeration, and the drawing."""

import itertools

import matplotlib.pyplot as plt
import pytest

from dlcv.beyond import fabrics as FB


def _brute(layers, scales, start, end):
    return sum(1 for p in itertools.product(range(scales), repeat=layers)
               if p[0] == start and p[-1] == end and FB.is_path(p, scales))


@pytest.mark.parametrize("layers,scales", [(2, 2), (3, 3), (5, 3), (6, 4)])
def test_count_paths_matches_enumeration(layers, scales):
    for start, end in [(0, scales - 1), (0, 0), (scales - 1, 0)]:
        assert FB.count_paths(layers, scales, start, end) == _brute(layers, scales, start, end)


def test_small_cases_by_hand():
    assert FB.count_paths(3, 3, 0, 2) == 1           # 0 -> 1 -> 2 only
    assert FB.count_paths(3, 3, 0, 0) == 2           # 0-0-0 and 0-1-0
    assert FB.count_paths(1, 4, 0, 0) == 1
    assert FB.count_paths(2, 3, 0, 2) == 0           # too far in one step
    with pytest.raises(ValueError, match="scales"):
        FB.count_paths(3, 3, 0, 3)


def test_edges_and_example_paths():
    edges = FB.fabric_edges(4, 3)
    assert len(edges) == 3 * (3 * 3 - 2)
    assert {e[4] for e in edges} == {-1, 0, 1}
    assert all(abs(e[3] - e[1]) <= 1 and e[2] == e[0] + 1 for e in edges)
    paths = FB.example_paths(8, 4)
    assert paths["classification CNN"][-1] == 3 and paths["encoder-decoder"][-1] == 0
    assert all(FB.is_path(p, 4) and len(p) == 8 for p in paths.values())
    assert not FB.is_path([0, 2], 4) and not FB.is_path([0, 4], 4)


def test_draw_fabric():
    fig, ax = plt.subplots()
    FB.draw_fabric(ax, layers=5, scales=3)
    assert len(ax.patches) == 15
    labels = [h.get_label() for h in ax.get_legend_handles_labels()[0]]
    assert "encoder-decoder" in labels and FB.EDGE_KINDS[1] in labels
    with pytest.raises(ValueError, match="path"):
        FB.draw_fabric(ax, layers=3, scales=3, paths={"bad": [0, 2, 2]})
    plt.close(fig)
