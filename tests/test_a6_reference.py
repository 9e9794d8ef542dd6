"""Assignment a6's reference solution, from the source notebook, against independent references.

The nbgrader round trip proves the source edition earns full marks; these tests check the
reference itself against what it does not share code with: the numpy attention against
torch.nn.functional.scaled_dot_product_attention (with and without a causal mask) and its
backward pass against torch autograd; multi-head attention against autograd and lecture 14's
dlcv.transformers.attention.multi_head_attention (which has no biases: compared with zero
biases); the positions against dlcv.transformers.positions; InfoNCE against lecture 15's
dlcv.selfsupervised.infonce and a loop; the linear probe against scikit-learn; the captioner's
causality, attention rows and greedy decoding, and train_captioner on a tiny problem.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import REPO
from torch import nn

from autograder.notebooks import answer_cells, read

NOTEBOOK = REPO / "assignments" / "a6_transformers" / "a6_transformers.ipynb"
TEACHING = ("transformers.attention", "transformers.positions", "transformers.captioner",
            "transformers.blocks", "selfsupervised.infonce", "selfsupervised.probe")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small networks: a second torch thread only slows them down on a busy machine."""
    from dlcv.timing import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def ref():
    ns: dict = {"np": np, "torch": torch, "F": F, "nn": nn, "math": math}
    for cell in answer_cells(read(NOTEBOOK)).values():
        exec(compile(cell.source, str(NOTEBOOK), "exec"), ns)  # noqa: S102 - our notebook
    return ns


@pytest.fixture(scope="module")
def vocab():
    from dlcv.captioning.captions import make_caption_data

    return make_caption_data(50, seed=0).vocab


def test_answers_use_none_of_the_lectures_teaching_modules():
    """The grading sandbox does not mount lecture 14's attention, positions, blocks and captioner
    nor lecture 15's infonce and probe: the reference imports none of them."""
    for gid, cell in answer_cells(read(NOTEBOOK)).items():
        for name in TEACHING:
            assert name not in cell.source, f"answer cell {gid} mentions dlcv.{name}"


# ------------------------------------------------------------------------------------------------
# Part 1: attention in numpy against torch
# ------------------------------------------------------------------------------------------------
def _qkv(seed, N=2, Tq=4, Tk=5, d=6, dv=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, Tq, d)), rng.normal(size=(N, Tk, d)), rng.normal(size=(N, Tk, dv))


@pytest.mark.parametrize("causal", [False, True])
def test_attention_matches_torch_sdpa_and_autograd(ref, causal):
    T = 5
    q, k, v = _qkv(0 + causal, Tq=T, Tk=T)
    mask = np.tril(np.ones((T, T), bool)) if causal else None
    out, cache = ref["attention_forward"](q, k, v, mask)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    expected = F.scaled_dot_product_attention(tq, tk, tv,
                                              attn_mask=None if mask is None else torch.tensor(mask))
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    dout = np.random.default_rng(9).normal(size=out.shape)
    expected.backward(torch.tensor(dout))
    for got, t in zip(ref["attention_backward"](dout, cache), (tq, tk, tv), strict=True):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_attention_masked_keys_get_no_weight_and_a_row_without_keys_raises(ref):
    q, k, v = _qkv(2, Tq=3, Tk=4)
    mask = np.array([[True, False, True, False]] * 3)
    out, cache = ref["attention_forward"](q, k, v, mask)
    v2 = v.copy()
    v2[:, [1, 3]] = 1e9
    np.testing.assert_allclose(ref["attention_forward"](q, k, v2, mask)[0], out, rtol=1e-12)
    _, dk, dv = ref["attention_backward"](np.ones_like(out), cache)
    assert np.all(dk[:, [1, 3]] == 0) and np.all(dv[:, [1, 3]] == 0)
    mask[2] = False
    with pytest.raises(ValueError):
        ref["attention_forward"](q, k, v, mask)


def _torch_mha(x, ctx, p, heads, mask=None):
    """Multi-head attention in torch from the formula, on tensors (autograd gives the gradients)."""
    N, Tq, D = x.shape
    Tk, dh = ctx.shape[1], D // heads

    def split(t, T):
        return t.reshape(N, T, heads, dh).transpose(1, 2)

    Q = split(x @ p["Wq"] + p["bq"], Tq)
    K, V = split(ctx @ p["Wk"] + p["bk"], Tk), split(ctx @ p["Wv"] + p["bv"], Tk)
    m = None if mask is None else torch.as_tensor(mask)
    out = F.scaled_dot_product_attention(Q, K, V, attn_mask=m)
    return out.transpose(1, 2).reshape(N, Tq, D) @ p["Wo"] + p["bo"]


NAMES = ("Wq", "Wk", "Wv", "Wo", "bq", "bk", "bv", "bo")


@pytest.mark.parametrize("N, Tq, Tk, D, heads, self_attention, causal",
                         [(2, 4, 6, 8, 2, False, False), (3, 5, 5, 12, 3, True, True),
                          (1, 3, 3, 4, 1, True, False), (2, 2, 7, 8, 4, False, False)])
def test_mha_forward_and_backward_match_autograd(ref, N, Tq, Tk, D, heads, self_attention, causal):
    rng = np.random.default_rng(N * 100 + D)
    x = rng.normal(size=(N, Tq, D))
    ctx = x if self_attention else rng.normal(size=(N, Tk, D))
    p = {n: rng.normal(size=(D, D)) / math.sqrt(D) if n.startswith("W") else 0.1 * rng.normal(size=D)
         for n in NAMES}
    mask = np.tril(np.ones((Tq, Tq), bool)) if causal else None
    out, cache = ref["mha_forward"](x, ctx, p, heads, mask)
    tx = torch.tensor(x, requires_grad=True)
    tc = tx if self_attention else torch.tensor(ctx, requires_grad=True)
    tp = {n: torch.tensor(a, requires_grad=True) for n, a in p.items()}
    expected = _torch_mha(tx, tc, tp, heads, mask)
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    dout = rng.normal(size=out.shape)
    dx, dctx, grads = ref["mha_backward"](dout, cache)
    if self_attention:  # the caller adds the two paths: one tensor in torch
        tx.grad = None
        expected.backward(torch.tensor(dout))
        np.testing.assert_allclose(dx + dctx, tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    else:
        expected.backward(torch.tensor(dout))
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(dctx, tc.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert set(grads) == set(NAMES)
    for n in NAMES:
        np.testing.assert_allclose(grads[n], tp[n].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=n)


def test_mha_forward_matches_lecture_14_without_biases(ref):
    from dlcv.transformers.attention import causal_mask, multi_head_attention

    rng = np.random.default_rng(14)
    x, ctx = rng.normal(size=(2, 5, 8)), rng.normal(size=(2, 3, 8))
    W = {n: rng.normal(size=(8, 8)) for n in ("Wq", "Wk", "Wv", "Wo")}
    p = W | {n: np.zeros(8) for n in ("bq", "bk", "bv", "bo")}
    T = {n: torch.tensor(a) for n, a in W.items()}
    lecture, _ = multi_head_attention(torch.tensor(x), torch.tensor(ctx), T["Wq"], T["Wk"], T["Wv"], T["Wo"],
                                      4)
    np.testing.assert_allclose(ref["mha_forward"](x, ctx, p, 4)[0], lecture.numpy(), rtol=1e-10, atol=1e-12)
    self_causal, _ = multi_head_attention(torch.tensor(x), None, T["Wq"], T["Wk"], T["Wv"], T["Wo"], 2,
                                          causal_mask(5))
    np.testing.assert_allclose(ref["mha_forward"](x, x, p, 2, np.tril(np.ones((5, 5), bool)))[0],
                               self_causal.numpy(), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError):
        ref["mha_forward"](x, ctx, p, 3)


@pytest.mark.parametrize("T, D", [(1, 2), (17, 64), (40, 6)])
def test_positions_match_lecture_14(ref, T, D):
    from dlcv.transformers.attention import causal_mask
    from dlcv.transformers.positions import sinusoidal

    P = ref["sinusoidal_positions"](T, D)
    assert P.shape == (T, D) and P.dtype == np.float64
    np.testing.assert_allclose(P, sinusoidal(T, D), rtol=1e-12, atol=1e-14)
    m = ref["causal_mask"](T)
    assert m.dtype == np.bool_ and np.array_equal(m, causal_mask(T).numpy())
    with pytest.raises(ValueError):
        ref["sinusoidal_positions"](T, D + 1)


# ------------------------------------------------------------------------------------------------
# Part 2: the captioner
# ------------------------------------------------------------------------------------------------
def test_captioner_is_causal_attends_over_the_cells_and_samples_greedily(ref, vocab):
    torch.manual_seed(0)
    model = ref["TransformerCaptioner"](vocab, D=16, heads=2, layers=2).eval()
    assert not any(isinstance(m, nn.MultiheadAttention) for m in model.modules())
    g = torch.Generator().manual_seed(1)
    cells = torch.randn(3, 64, 25, generator=g)
    caps = torch.randint(4, len(vocab), (3, 7), generator=g)
    caps[:, 0] = vocab.start
    with torch.no_grad():
        logits = model(cells, caps)
        assert logits.shape == (3, 7, len(vocab))
        later = caps.clone()
        later[:, 4:] = torch.randint(4, len(vocab), (3, 3), generator=g)
        torch.testing.assert_close(model(cells, later)[:, :4], logits[:, :4])
        attn = model.cross_attention(cells, caps)
        assert attn.shape == (3, 7, 64) and bool((attn >= 0).all())
        torch.testing.assert_close(attn.sum(-1), torch.ones(3, 7))
        out = model.sample(cells, max_length=6)
        assert out.shape == (3, 6) and out.dtype == torch.int64
        seq = torch.full((3, 1), vocab.start)  # greedy decoding by forward, written out
        done = torch.zeros(3, dtype=torch.bool)
        for t in range(6):
            w = model(cells, seq)[:, -1].argmax(-1)
            assert torch.equal(out[:, t], torch.where(done, torch.full_like(w, vocab.null), w))
            done |= w == vocab.end
            seq = torch.cat([seq, w[:, None]], 1)


def test_train_captioner_memorises_a_few_captions(ref, vocab):
    from dlcv.captioning.captions import make_caption_data

    data = make_caption_data(50, seed=0)
    torch.manual_seed(0)
    model = ref["TransformerCaptioner"](data.vocab, D=32, heads=2, layers=2)
    g = torch.Generator().manual_seed(0)
    cells = torch.randn(8, 64, 25, generator=g)
    tokens = torch.as_tensor(data.tokens[:8])
    losses = ref["train_captioner"](model, cells, tokens, 150, 8, 3e-3, g)
    assert len(losses) == 150 and all(isinstance(v, float) for v in losses)
    assert np.mean(losses[-10:]) < 0.3 * np.mean(losses[:10])


# ------------------------------------------------------------------------------------------------
# Part 3: InfoNCE and the linear probe
# ------------------------------------------------------------------------------------------------
def _info_nce_loop(z1, z2, tau):
    z = torch.cat([z1, z2])
    u = z / z.norm(dim=1, keepdim=True)
    n2, total = len(z), 0.0
    for i in range(n2):
        partner = (i + n2 // 2) % n2
        others = [j for j in range(n2) if j != i]
        den = sum(math.exp(float(u[i] @ u[j]) / tau) for j in others)
        total += -(float(u[i] @ u[partner]) / tau - math.log(den))
    return total / n2


@pytest.mark.parametrize("N, D, tau", [(2, 3, 0.5), (8, 4, 0.1), (16, 32, 1.0)])
def test_info_nce_matches_lecture_15_and_a_loop(ref, N, D, tau):
    from dlcv.selfsupervised.infonce import info_nce

    g = torch.Generator().manual_seed(N)
    z1 = torch.randn(N, D, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(N, D, generator=g, dtype=torch.float64, requires_grad=True)
    got = ref["info_nce"](z1, z2, tau=tau)
    assert got.dim() == 0
    torch.testing.assert_close(got, info_nce(z1, z2, tau), rtol=1e-12, atol=1e-12)
    assert float(got.detach()) == pytest.approx(_info_nce_loop(z1.detach(), z2.detach(), tau), rel=1e-10)
    assert torch.autograd.gradcheck(lambda a, b: ref["info_nce"](a, b, tau=tau), (z1, z2))


@pytest.mark.parametrize("per_class", [5, None])
def test_linear_probe_matches_scikit_learn(ref, per_class):
    from sklearn.linear_model import LogisticRegression

    from dlcv.selfsupervised.datasets import labelled_subset, load_digits16

    d = load_digits16(8)
    Xtr, Xte = d.X_train.flatten(1), d.X_test.flatten(1)
    idx = torch.arange(len(Xtr)) if per_class is None else labelled_subset(d.y_train, per_class, seed=3)
    pred = ref["linear_probe"](Xtr[idx], d.y_train[idx], Xte)
    assert pred.shape == (len(Xte),) and pred.dtype == torch.int64
    acc = float((pred == d.y_test).double().mean())
    a, b = Xtr[idx].double().numpy(), Xte.double().numpy()
    mu, sd = a.mean(0), a.std(0)
    sd[sd < 1e-12] = 1
    sk = LogisticRegression(C=1.0, max_iter=2000).fit((a - mu) / sd, d.y_train[idx].numpy())
    sk_acc = float((sk.predict((b - mu) / sd) == d.y_test.numpy()).mean())
    assert acc >= sk_acc - 0.02, (acc, sk_acc)
