"""Tests for dlcv/beyond/fabrics.py: path counts against brute-force enumeration, the drawing,
and the fabric as a network (its size, its edges, a chain as one of its paths, training)."""

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from dlcv.beyond import fabrics as FB
from dlcv.networks.mlp import count_parameters


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


# --- the fabric as a network ------------------------------------------------------------------


@pytest.mark.parametrize("layers,scales,channels", [(2, 2, 3), (4, 3, 8), (5, 4, 2)])
def test_fabric_shapes_and_parameter_count(layers, scales, channels):
    net = FB.Fabric(layers, scales, channels, num_classes=7, seed=0)
    x = torch.rand(5, 1, 16, 16)
    assert net(x).shape == (5, 7)
    # the input conv, S - 1 down convs inside the first and inside the last layer, one conv per
    # edge of the trellis between layers; a BatchNorm (scale and shift) per node; the head
    n_convs = 2 * (scales - 1) + len(FB.fabric_edges(layers, scales))
    C = channels
    expected = 9 * C + n_convs * 9 * C * C + 2 * C * layers * scales + 7 * C + 7
    assert count_parameters(net) == expected
    assert len(net.edges) == n_convs + 1


def test_every_edge_of_the_fabric_is_used():
    net = FB.Fabric(4, 3, 4, seed=0)
    net(torch.rand(6, 1, 8, 8)).sum().backward()
    for name, conv in net.edges.items():
        assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0, name


@pytest.mark.parametrize("path", [[0, 0, 1, 2], [0, 1, 2, 2], [0, 1, 0, 1], [0, 1, 2, 1, 2]])
def test_a_chain_is_a_path_through_the_fabric(path):
    """Copy a chain's convolutions onto its path in the fabric (whose output node is the
    chain's last, at the coarsest scale) and zero every other edge: the fabric then computes
    the chain (nodes off the path are ReLU(BatchNorm(0)) = 0)."""
    L, S, C = len(path), max(path) + 1, 4
    chain = FB.chain_cnn(path, C, seed=1).eval()
    fab = FB.Fabric(L, S, C, seed=2).eval()
    convs = [m for m in chain if isinstance(m, torch.nn.Conv2d)]
    on_path = {FB._key(-1, 0, 0, 0): convs[0]}
    on_path.update({FB._key(l - 1, path[l - 1], l, path[l]): convs[l] for l in range(1, L)})
    with torch.no_grad():
        for name, conv in fab.edges.items():
            conv.weight.copy_(on_path[name].weight if name in on_path else 0 * conv.weight)
        fab.head.load_state_dict(chain[-1].state_dict())
    x = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(fab(x), chain(x))


def test_chain_cnn_layers_and_errors():
    net = FB.chain_cnn([0, 0, 1, 2], 5, num_classes=3, seed=0)
    assert net(torch.rand(2, 1, 8, 8)).shape == (2, 3)
    convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride[0] for c in convs] == [1, 1, 2, 2]
    assert count_parameters(net) == 9 * 5 + 3 * 9 * 25 + 4 * 2 * 5 + 5 * 3 + 3
    up = FB.chain_cnn([0, 1, 0], 2)
    assert any(isinstance(m, torch.nn.Upsample) for m in up)
    with pytest.raises(ValueError, match="path"):
        FB.chain_cnn([1, 2], 4)
    with pytest.raises(ValueError, match="path"):
        FB.chain_cnn([0, 2], 4)
    with pytest.raises(ValueError, match="width"):
        FB.chain_cnn([0, 1], 0)


def test_fabric_errors_and_seed():
    with pytest.raises(ValueError, match="layers"):
        FB.Fabric(1, 3)
    with pytest.raises(ValueError, match="channels"):
        FB.Fabric(3, 3, channels=0)
    net = FB.Fabric(3, 3, 2, seed=0)
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.rand(2, 1, 6, 6))
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        net(torch.rand(2, 3, 8, 8))
    a, b = FB.Fabric(3, 3, 2, seed=0), FB.Fabric(3, 3, 2, seed=0)
    assert all(np.array_equal(p.detach(), q.detach())
               for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_train_classifier_learns_a_toy_task():
    g = torch.Generator().manual_seed(0)
    X = torch.rand(96, 1, 8, 8, generator=g)
    y = (X[:, 0, :4].mean((1, 2)) > X[:, 0, 4:].mean((1, 2))).long()   # top half brighter?
    for net in (FB.Fabric(3, 2, 4, num_classes=2, seed=0),
                FB.chain_cnn([0, 1, 1], 8, num_classes=2)):
        log = FB.train_classifier(net, X.numpy(), y.numpy(), epochs=15, batch_size=32, lr=1e-2)
        assert log.steps == 15 * 3 and not net.training
        assert np.mean(log.loss[-3:]) < 0.6 * np.mean(log.loss[:3])
        with torch.no_grad():
            assert (net(X).argmax(1) == y).float().mean() > 0.85
    with pytest.raises(ValueError, match="epochs"):
        FB.train_classifier(net, X.numpy(), y.numpy(), epochs=0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        FB.train_classifier(net, X.numpy()[:, 0], y.numpy())
