"""dlcv.networks.normalization: the sets each normalisation averages over, checked against torch."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from dlcv.networks.normalization import NORMS, draw_norm_set, norm_set, normalize


def test_norm_set_sizes():
    N, C, HW = 4, 6, 5
    assert norm_set("batch", N, C, HW).sum() == N * HW
    assert norm_set("layer", N, C, HW).sum() == C * HW
    assert norm_set("instance", N, C, HW).sum() == HW
    assert norm_set("group", N, C, HW, groups=3).sum() == 2 * HW
    assert norm_set("group", N, C, HW, groups=1).sum() == C * HW  # one group = layer norm
    assert norm_set("group", N, C, HW, groups=C).sum() == HW  # C groups = instance norm
    with pytest.raises(ValueError, match="groups must divide"):
        norm_set("group", C=6, groups=4)


@pytest.mark.parametrize("kind", NORMS)
def test_normalize_has_zero_mean_unit_variance_over_its_set(kind):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 6, 5, generator=g, dtype=torch.float64) * 3 + 1  # (N, C, HW)
    out = normalize(x, kind, groups=3).numpy()
    for n in range(4):
        for c in range(6):
            m = norm_set(kind, 4, 6, 5, groups=3, n=n, c=c)
            assert out[m].mean() == pytest.approx(0, abs=1e-9)
            assert out[m].var() == pytest.approx(1, abs=1e-3)


def test_draw():
    fig = plt.figure()
    ax = fig.add_subplot(projection="3d")
    draw_norm_set(ax, "group")
    assert ax.get_title() == "Group norm"
    plt.close(fig)
    assert np.all(norm_set("layer")[0])
