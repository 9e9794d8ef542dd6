"""Drawing small computational graphs, with forward values and backward gradients on the wires.

    draw_compgraph(ax, nodes, edges, values, grads)

Inputs are drawn as their names, operations (gates) as circles. Every wire leaving a node shows
the node's forward value in green above it and the gradient of the final output with respect to
that value in red below it (the picture of the CS231n notes). The output node gets a short wire
of its own, with its value and the gradient 1.
"""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Circle

VALUE_COLOR = "#008a3e"
GRAD_COLOR = "#c8102e"


def draw_compgraph(ax, nodes: dict, edges, values: dict | None = None, grads: dict | None = None,
                   fmt: str = "{:.2f}", radius: float = 0.32, fontsize: float = 10,
                   title: str | None = None):
    """Draw a computational graph on a matplotlib Axes.

    Args:
        nodes: {name: (x, y, label)}: where each node sits (data units) and the text it shows,
            e.g. "x" for an input or "+", "*", "max", "exp" for a gate. A node with incoming
            edges is a gate (drawn as a circle); one without is an input (drawn as text).
        edges: [(src, dst), ...]: the wires, from an input or gate to a gate.
        values: {name: forward value of the node's output}; drawn green above its wires.
        grads: {name: d(output)/d(node's output)}; drawn red below its wires.
        fmt: how numbers are written. radius: of the gate circles, in data units.

    Returns:
        dict with "texts" (list of Text: labels, values, gradients) and "circles".
    """
    values, grads = values or {}, grads or {}
    edges = list(edges)
    for s, d in edges:
        for n in (s, d):
            if n not in nodes:
                raise ValueError(f"draw_compgraph: edge ({s!r}, {d!r}) names an unknown node {n!r}")
    for name, spec in nodes.items():
        if len(spec) != 3:
            raise ValueError(f"draw_compgraph: node {name!r} must be (x, y, label), got {spec!r}")
    gates = {d for _, d in edges}
    has_out = {s for s, _ in edges}
    texts, circles = [], []

    def pos(n):
        return np.array(nodes[n][:2], dtype=float)

    def rad(n):  # a gate's circle grows a little for labels longer than two characters
        return radius * (1 + 0.15 * max(0, len(str(nodes[n][2])) - 2))

    def gap(n):  # how far from the node's centre a wire starts or ends
        return rad(n) if n in gates else 0.28

    for name, (x, y, label) in nodes.items():
        if name in gates:
            c = Circle((x, y), rad(name), facecolor="#f2f2f2", edgecolor="k", lw=1.2, zorder=3)
            ax.add_patch(c)
            circles.append(c)
            texts.append(ax.text(x, y, label, ha="center", va="center", fontsize=fontsize,
                                 zorder=4))
        else:
            texts.append(ax.text(x, y, label, ha="center", va="center", fontsize=fontsize + 1,
                                 style="italic", zorder=4))

    def wire(p0, p1, name):
        u = (p1 - p0) / max(np.linalg.norm(p1 - p0), 1e-9)
        ax.annotate("", xy=tuple(p1), xytext=tuple(p0),
                    arrowprops=dict(arrowstyle="-|>", color="k", lw=1.0, shrinkA=0, shrinkB=0),
                    zorder=2)
        nrm = np.array([-u[1], u[0]]) if u[0] >= 0 else np.array([u[1], -u[0]])  # upwards
        mid = p0 + 0.4 * (p1 - p0)
        if name in values:
            texts.append(ax.text(*(mid + 0.17 * nrm), fmt.format(values[name]), color=VALUE_COLOR,
                                 ha="center", va="center", fontsize=fontsize - 1))
        if name in grads:
            texts.append(ax.text(*(mid - 0.17 * nrm), fmt.format(grads[name]), color=GRAD_COLOR,
                                 ha="center", va="center", fontsize=fontsize - 1))

    for s, d in edges:
        p0, p1 = pos(s), pos(d)
        u = (p1 - p0) / max(np.linalg.norm(p1 - p0), 1e-9)
        wire(p0 + gap(s) * u, p1 - gap(d) * u, s)
    for name in nodes:
        if name in gates and name not in has_out:  # the output: a short wire to the right
            p = pos(name)
            wire(p + np.array([rad(name), 0.0]), p + np.array([rad(name) + 1.1, 0.0]), name)

    xs = np.array([v[0] for v in nodes.values()], dtype=float)
    ys = np.array([v[1] for v in nodes.values()], dtype=float)
    ax.set_xlim(xs.min() - 0.5, xs.max() + 1.6)
    ax.set_ylim(ys.min() - 0.6, ys.max() + 0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=fontsize)
    return {"texts": texts, "circles": circles}
