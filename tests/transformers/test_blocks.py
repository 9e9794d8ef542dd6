"""Tests for dlcv/transformers/blocks.py against the teaching functions and by hand."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcv.transformers import attention as A
from dlcv.transformers.blocks import DecoderBlock, EncoderBlock, MultiHeadAttention


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_module_equals_the_teaching_function():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2)
    x, c = rand(2, 5, 8, seed=1), rand(2, 7, 8, seed=2)
    with torch.no_grad():
        out = mha(x, c)
        b = lambda lin: lin.bias
        ref_q = x @ mha.q.weight.T + b(mha.q)
        # the teaching version has no biases: fold them in by attending with biased inputs
        q, k, v = (A.split_heads(t, 2) for t in (ref_q, mha.k(c), mha.v(c)))
        ref, w = A.scaled_dot_product_attention(q, k, v)
        ref = mha.o(A.merge_heads(ref))
    np.testing.assert_allclose(out, ref, atol=1e-6)
    np.testing.assert_allclose(mha.weights, w, atol=1e-6)
    for lin in (mha.q, mha.k, mha.v, mha.o):
        torch.nn.init.zeros_(lin.bias)
    with torch.no_grad():
        out0 = mha(x, c)
        ref0, _ = A.multi_head_attention(x, c, mha.q.weight.T, mha.k.weight.T, mha.v.weight.T,
                                         mha.o.weight.T, 2)
    np.testing.assert_allclose(out0, ref0, atol=1e-6)


def test_mask_blocks_later_tokens():
    mha = MultiHeadAttention(4, 1)
    x = rand(1, 4, 4)
    mha(x, mask=A.causal_mask(4))
    assert float(mha.weights[0, 0].triu(1).abs().max()) == 0.0


def test_pre_norm_block_by_hand():
    torch.manual_seed(1)
    blk = EncoderBlock(8, 2, 16)
    x = rand(3, 4, 8, seed=3)
    with torch.no_grad():
        h = x + blk.attn(blk.ln1(x))
        ref = h + blk.mlp[2](F.gelu(blk.mlp[0](blk.ln2(h))))
        np.testing.assert_allclose(blk(x), ref, atol=1e-6)
        post = EncoderBlock(8, 2, 16, pre_norm=False)
        y = post(x)
    # post-norm: the output is layer-normalised (mean 0, variance 1 per token at initialisation)
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(-1, unbiased=False), 1, atol=1e-3)


def test_encoder_without_positions_is_permutation_equivariant():
    torch.manual_seed(2)
    blk = EncoderBlock(8, 2, 16).eval()
    x = rand(2, 6, 8, seed=4)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        np.testing.assert_allclose(blk(x[:, perm]), blk(x)[:, perm], atol=1e-5)


def test_decoder_block_is_causal_and_reads_the_memory():
    torch.manual_seed(3)
    dec = DecoderBlock(8, 2, 16).eval()
    x, mem = rand(1, 5, 8, seed=5), rand(1, 9, 8, seed=6)
    mask = A.causal_mask(5)
    with torch.no_grad():
        y = dec(x, mem, mask)
        x2 = x.clone()
        x2[:, 4] += 3
        np.testing.assert_allclose(dec(x2, mem, mask)[:, :4], y[:, :4], atol=1e-5)
        assert dec.cross_attn.weights.shape == (1, 2, 5, 9)
        assert not torch.allclose(dec(x, mem + 1, mask), y)


def test_gradients_flow_to_every_parameter():
    dec = DecoderBlock(8, 2, 16)
    dec(rand(2, 3, 8), rand(2, 4, 8)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in dec.parameters())


def test_bad_arguments():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(6, 4)
    with pytest.raises(ValueError, match=r"\(N, T, 8\)"):
        MultiHeadAttention(8, 2)(torch.ones(2, 8))
