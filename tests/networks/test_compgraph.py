"""dlcv.networks.compgraph: gates become circles, every wire carries its value and gradient."""

import matplotlib.pyplot as plt
import pytest

from dlcv.networks.compgraph import GRAD_COLOR, VALUE_COLOR, draw_compgraph

NODES = {"x": (0, 1, "x"), "y": (0, 0, "y"), "z": (0, -1, "z"), "q": (1.5, 0.5, "+"),
         "f": (3, 0, "*")}
EDGES = [("x", "q"), ("y", "q"), ("q", "f"), ("z", "f")]


def test_draws_gates_values_and_gradients():
    fig, ax = plt.subplots()
    out = draw_compgraph(ax, NODES, EDGES, dict(x=-2, y=5, z=-4, q=3, f=-12),
                         dict(x=-4, y=-4, z=3, q=-4, f=1), fmt="{:g}")
    assert len(out["circles"]) == 2  # the + and * gates
    green = sorted(t.get_text() for t in out["texts"] if t.get_color() == VALUE_COLOR)
    red = sorted(t.get_text() for t in out["texts"] if t.get_color() == GRAD_COLOR)
    assert green == sorted(["-2", "5", "-4", "3", "-12"])  # one per wire, plus the output's
    assert red == sorted(["-4", "-4", "3", "-4", "1"])
    labels = [t.get_text() for t in out["texts"]]
    assert {"x", "y", "z", "+", "*"} <= set(labels)
    plt.close(fig)


def test_bad_graphs():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="unknown node 'w'"):
        draw_compgraph(ax, NODES, [("w", "q")])
    with pytest.raises(ValueError, match=r"must be \(x, y, label\)"):
        draw_compgraph(ax, {"x": (0, 1)}, [])
    plt.close(fig)
