"""Tests for dlcv/transformers/positions.py: hand values and the offset property."""

import numpy as np
import pytest

from dlcv.transformers.positions import similarity, sinusoidal


def test_hand_values():
    P = sinusoidal(3, 4, base=100.0)
    # frequencies 1 and 100^(-1/2) = 0.1
    np.testing.assert_allclose(P[0], [0, 1, 0, 1])
    np.testing.assert_allclose(P[2], [np.sin(2), np.cos(2), np.sin(0.2), np.cos(0.2)])


def test_a_shift_is_a_rotation_of_every_pair():
    P = sinusoidal(20, 8)
    freq = 10000.0 ** (-np.arange(0, 8, 2) / 8)
    k = 3
    for i, w in enumerate(freq):
        R = np.array([[np.cos(k * w), -np.sin(k * w)], [np.sin(k * w), np.cos(k * w)]])
        pairs = P[:, 2 * i:2 * i + 2]                       # (sin, cos) of t w
        np.testing.assert_allclose(pairs[:-k] @ R, pairs[k:], atol=1e-12)


def test_similarity_depends_only_on_the_offset():
    S = similarity(sinusoidal(12, 16))
    np.testing.assert_allclose(np.diag(S), 1)
    for k in range(1, 5):
        np.testing.assert_allclose(np.diag(S, k), np.diag(S, k)[0], atol=1e-12)
    assert S[0, 1] > S[0, 4]                                   # near positions are more alike


@pytest.mark.parametrize("args, match", [((4, 5), "even"), ((0, 4), "n must be"),
                                         ((4, 4, -1.0), "base")])
def test_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        sinusoidal(*args)
    with pytest.raises(ValueError, match="P must be"):
        similarity(np.ones(3))
