"""Tests for dlcv/transformers/costs.py: hand-counted FLOPs."""

import pytest

from dlcv.transformers.costs import layer_costs


def test_hand_counts():
    c = layer_costs(n=4, d=2, kernel=3, heads=2)
    # projections: 4 matrices 2x2 on 4 tokens, 2 FLOPs per multiply-add: 8 * 4 * 2 * 2 = 128;
    # scores Q K^T and the weighted sum: 2 * (2 * 4 * 4 * 2) = 128
    assert c["self-attention"] == {"flops": 128 + 128, "memory": 2 * 16, "sequential": 1}
    assert c["convolution"] == {"flops": 2 * 4 * 3 * 4, "memory": 8, "sequential": 1}
    assert c["recurrent"] == {"flops": 4 * 4 * 4, "memory": 8, "sequential": 4}


def test_attention_grows_quadratically():
    a, b = layer_costs(1000, 64)["self-attention"], layer_costs(2000, 64)["self-attention"]
    assert b["memory"] == 4 * a["memory"]
    assert 2 < b["flops"] / a["flops"] < 4


def test_bad_arguments():
    with pytest.raises(ValueError, match="kernel"):
        layer_costs(4, 2, kernel=1)
