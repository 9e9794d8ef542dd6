"""Tests for dlcv/beyond/anytime.py: the early-exit network, its costs and the budgeted rule."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from dlcv.beyond import anytime as AT


def test_forward_gives_one_output_per_exit():
    net = AT.EarlyExitNet((8, 16, 32), seed=0)
    outs = net(torch.zeros(5, 1, 8, 8))
    assert len(outs) == 3 and all(o.shape == (5, 10) for o in outs)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        net(torch.zeros(5, 8, 8))


def test_exit_costs_by_hand():
    net = AT.EarlyExitNet((8, 16, 32), seed=0)
    c1 = 8 * 8 * 8 * 1 * 9 + 4 * 8 * 10           # conv 1 -> 8 on 8x8, head Linear(32, 10)
    c2 = c1 + 8 * 8 * 16 * 8 * 9 + 4 * 16 * 10    # conv 8 -> 16 on 8x8 (then pool), head
    c3 = c2 + 4 * 4 * 32 * 16 * 9 + 4 * 4 * 32 * 32 * 9 + 4 * 32 * 10
    np.testing.assert_array_equal(AT.exit_costs(net), [c1, c2, c3])


def test_budgeted_rule_by_hand():
    # 2 exits, 3 images, 2 classes
    probs = np.array([[[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]],
                      [[0.2, 0.8], [0.1, 0.9], [0.05, 0.95]]])
    y = np.array([0, 1, 1])
    curve = AT.budgeted(probs, y, np.array([10, 100]), [0.0, 0.65, 0.8, 1.01])
    np.testing.assert_allclose(curve.accuracy, [2 / 3, 1.0, 1.0, 2 / 3])
    np.testing.assert_allclose(curve.mean_cost, [10, 40, 70, 100])
    np.testing.assert_allclose(curve.exit_fraction[1], [2 / 3, 1 / 3])
    with pytest.raises(ValueError, match="costs"):
        AT.budgeted(probs, y, np.array([10]), [0.5])


def test_training_lowers_the_loss_and_probabilities_sum_to_one():
    rng = np.random.default_rng(0)
    X = rng.random((64, 1, 8, 8)).astype(np.float32)
    y = (X[:, 0, :4].mean((1, 2)) > X[:, 0, 4:].mean((1, 2))).astype(np.int64)
    net = AT.EarlyExitNet((4, 8, 8), num_classes=2, seed=0)
    losses = AT.train_early_exits(net, X, y, epochs=8, batch_size=16, lr=1e-2)
    assert losses[-4:].mean() < losses[:4].mean()
    P = AT.exit_probabilities(net, X)
    assert P.shape == (3, 64, 2)
    np.testing.assert_allclose(P.sum(2), 1, atol=1e-6)


def test_draw_msdnet():
    fig, ax = plt.subplots()
    AT.draw_msdnet(ax, layers=4, scales=3)
    assert len(ax.patches) == 12                       # one circle per node
    assert sum("exit" in t.get_text() for t in ax.texts) == 4
    plt.close(fig)
    with pytest.raises(ValueError, match="layers"):
        AT.draw_msdnet(ax, layers=1)
