"""Tests for dlcv/transformers/attention.py against torch's own attention and autograd."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcv.transformers import attention as A


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_scaled_dot_product_matches_torch():
    q, k, v = rand(2, 3, 5, 8, seed=0), rand(2, 3, 7, 8, seed=1), rand(2, 3, 7, 4, seed=2)
    out, w = A.scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(out, F.scaled_dot_product_attention(q, k, v), atol=1e-12)
    assert w.shape == (2, 3, 5, 7)
    np.testing.assert_allclose(w.sum(-1), 1, atol=1e-12)
    np.testing.assert_allclose(w, torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), -1))


def test_unscaled_is_the_plain_dot_product():
    q, k, v = rand(4, 3, seed=0), rand(5, 3, seed=1), rand(5, 2, seed=2)
    out, w = A.scaled_dot_product_attention(q, k, v, scaled=False)
    np.testing.assert_allclose(w, torch.softmax(q @ k.T, -1))
    np.testing.assert_allclose(out, w @ v)


def test_hand_case_two_keys():
    # one query, two keys: scores 2/sqrt(2) and 0 -> weights sigmoid(sqrt 2), 1 - that
    q = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    k = torch.tensor([[1.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    v = torch.tensor([[10.0], [0.0]], dtype=torch.float64)
    out, w = A.scaled_dot_product_attention(q, k, v)
    p = 1 / (1 + math.exp(-math.sqrt(2)))
    np.testing.assert_allclose(w, [[p, 1 - p]])
    np.testing.assert_allclose(out, [[10 * p]])


def test_causal_mask_and_masked_attention_match_torch():
    m = A.causal_mask(4)
    assert m.dtype == torch.bool
    np.testing.assert_array_equal(m.int(), np.tril(np.ones((4, 4), int)))
    q, k, v = rand(2, 4, 6, seed=3), rand(2, 4, 6, seed=4), rand(2, 4, 6, seed=5)
    out, w = A.scaled_dot_product_attention(q, k, v, mask=m)
    np.testing.assert_allclose(out, F.scaled_dot_product_attention(q, k, v, is_causal=True),
                               atol=1e-12)
    assert float(w[:, 0, 1:].abs().max()) == 0.0 and float(w.triu(1).abs().max()) == 0.0
    # a later token changes nothing at earlier positions
    v2 = v.clone()
    v2[:, 3] += 100
    k2 = k.clone()
    k2[:, 3] -= 7
    out2, _ = A.scaled_dot_product_attention(q, k2, v2, mask=m)
    np.testing.assert_allclose(out2[:, :3], out[:, :3], atol=1e-12)
    assert not torch.allclose(out2[:, 3], out[:, 3])


def test_gradients_against_a_numeric_gradient():
    q, k, v = (rand(3, 4, seed=s).requires_grad_() for s in (6, 7, 8))
    mask = A.causal_mask(3)
    assert torch.autograd.gradcheck(lambda a, b, c: A.scaled_dot_product_attention(a, b, c, mask)[0],
                                    (q, k, v))


def test_split_and_merge_heads_are_inverse():
    x = rand(2, 5, 12)
    h = A.split_heads(x, 3)
    assert h.shape == (2, 3, 5, 4)
    np.testing.assert_array_equal(h[:, 1, :, :], x[:, :, 4:8])
    np.testing.assert_array_equal(A.merge_heads(h), x)


def test_multi_head_attention_matches_torch_module():
    D, H = 8, 2
    Wq, Wk, Wv, Wo = (rand(D, D, seed=s) * 0.3 for s in range(10, 14))
    x, c = rand(2, 5, D, seed=1), rand(2, 6, D, seed=2)
    mha = torch.nn.MultiheadAttention(D, H, bias=False, batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([Wq.T, Wk.T, Wv.T]))
        mha.out_proj.weight.copy_(Wo.T)
    ref, ref_w = mha(x, c, c, average_attn_weights=False)
    out, w = A.multi_head_attention(x, c, Wq, Wk, Wv, Wo, H)
    np.testing.assert_allclose(out.detach(), ref.detach(), atol=1e-12)
    np.testing.assert_allclose(w.detach(), ref_w.detach(), atol=1e-12)
    self_out, self_w = A.multi_head_attention(x, None, Wq, Wk, Wv, Wo, H)
    assert self_w.shape == (2, H, 5, 5)


def test_softmax_jacobian_norm_against_autograd():
    s = rand(5, seed=9)
    J = torch.autograd.functional.jacobian(lambda z: torch.softmax(z, -1), s)
    assert float(A.softmax_jacobian_norm(torch.softmax(s, -1))) == pytest.approx(
        float(torch.linalg.matrix_norm(J)), rel=1e-12)
    assert float(A.softmax_jacobian_norm(torch.tensor([0.0, 1.0, 0.0]))) == 0.0


def test_saturation_without_the_scale():
    r = A.softmax_saturation([4, 64, 512], n_keys=16, trials=300)
    np.testing.assert_array_equal(r["dims"], [4, 64, 512])
    # the unscaled scores spread like sqrt(d), the scaled ones stay near 1
    np.testing.assert_allclose(r["unscaled"]["score_std"], np.sqrt([4, 64, 512]), rtol=0.1)
    np.testing.assert_allclose(r["scaled"]["score_std"], 1, rtol=0.1)
    u, s = r["unscaled"], r["scaled"]
    assert np.all(np.diff(u["max_weight"]) > 0) and u["max_weight"][-1] > 0.9
    assert np.all(np.diff(u["jacobian"]) < 0) and u["jacobian"][-1] < 0.1
    assert np.ptp(s["max_weight"]) < 0.1 and s["jacobian"].min() > 0.25


@pytest.mark.parametrize("call, match", [
    (lambda: A.scaled_dot_product_attention(torch.ones(2, 3), torch.ones(2, 4), torch.ones(2, 1)),
     "same last dimension"),
    (lambda: A.scaled_dot_product_attention(torch.ones(2, 3), torch.ones(2, 3), torch.ones(3, 1)),
     "number of keys"),
    (lambda: A.scaled_dot_product_attention(torch.ones(2, 3), torch.ones(2, 3), torch.ones(2, 1),
                                            mask=torch.tensor([[True, True], [False, False]])),
     "at least one key"),
    (lambda: A.causal_mask(0), "T must be"),
    (lambda: A.split_heads(torch.ones(1, 2, 5), 2), "divisible"),
    (lambda: A.multi_head_attention(torch.ones(1, 2, 4), None, *(torch.eye(3),) * 4, heads=2),
     "W_q must be"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
