"""Assignment a5's reference solution, from the source notebook, against torch on many settings.

The nbgrader round trip proves that the source edition earns full marks; these tests sweep the
reference more widely than the notebook's hidden tests: the RNN against torch.nn.RNN and the
LSTM against torch.nn.LSTM (weights copied, with the gate order translated: the assignment's
i, f, o, g against torch's i, f, g, o) over many sizes, in float64 and float32; the captioning
loss and its gradients against torch autograd; greedy sampling against a torch model built from
the same weights; beam search against exhaustive search; BLEU against an independent version.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import REPO
from torch import nn

from autograder.notebooks import answer_cells, read

NOTEBOOK = REPO / "assignments" / "a5_captioning" / "a5_captioning.ipynb"
WORDS = {"<NULL>": 0, "<START>": 1, "<END>": 2, "<UNK>": 3, **{f"w{i}": i + 4 for i in range(8)}}


@pytest.fixture(scope="module")
def ref():
    nb = read(NOTEBOOK)
    ns: dict = {"np": np, "math": math, "Counter": Counter}
    for cell in answer_cells(nb).values():
        exec(compile(cell.source, str(NOTEBOOK), "exec"), ns)  # noqa: S102 - our notebook
    return ns


def test_answers_use_neither_the_lectures_modules_nor_torch():
    """Lecture 12's dlcv.recurrent modules and lecture 13's dlcv.captioning.captioners, .decoding and
    .attention_maps are not mounted when a5 is graded, and the answer cells are graded in a kernel
    without torch: the reference imports none of them."""
    for gid, cell in answer_cells(read(NOTEBOOK)).items():
        for name in ("dlcv.recurrent.gradients", "dlcv.recurrent.gates", "dlcv.recurrent.language",
                     "dlcv.recurrent.networks", "dlcv.captioning.captioners", "dlcv.captioning.decoding",
                     "dlcv.captioning.attention_maps", "torch"):
            assert name not in cell.source, f"answer cell {gid} mentions {name}"


def perm(H):
    """The assignment's gate columns (i, f, o, g) in torch's order (i, f, g, o); its own inverse."""
    return np.r_[0:2 * H, 3 * H:4 * H, 2 * H:3 * H]


def torch_rnn(kind, Wx, Wh, b, dtype=torch.float64):
    """nn.RNN / nn.LSTM holding the assignment's weights (one bias: torch's bias_hh is zero)."""
    D, G = Wx.shape
    H = Wh.shape[0]
    p = perm(H) if kind == "lstm" else np.arange(G)
    net = (nn.LSTM if kind == "lstm" else nn.RNN)(D, H, batch_first=True).to(dtype)
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.tensor(Wx[:, p].T))
        net.weight_hh_l0.copy_(torch.tensor(Wh[:, p].T))
        net.bias_ih_l0.copy_(torch.tensor(b[p]))
        net.bias_hh_l0.zero_()
    return net, p


SIZES = list(itertools.product((1, 4), (1, 3, 9), (1, 5), (2, 6)))  # N, T, D, H


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
@pytest.mark.parametrize("N, T, D, H", SIZES)
def test_sequence_layers_match_torch(ref, kind, N, T, D, H):
    rng = np.random.default_rng(N * 1000 + T * 100 + D * 10 + H)
    G = 4 * H if kind == "lstm" else H
    x, h0 = rng.normal(size=(N, T, D)), rng.normal(size=(N, H))
    Wx, Wh, b = rng.normal(size=(D, G)), 0.5 * rng.normal(size=(H, G)), rng.normal(size=G)
    net, p = torch_rnn(kind, Wx, Wh, b)
    tx, th0 = torch.tensor(x, requires_grad=True), torch.tensor(h0[None], requires_grad=True)
    state = (th0, torch.zeros(1, N, H, dtype=torch.float64)) if kind == "lstm" else th0
    out = net(tx, state)[0]
    dh = rng.normal(size=(N, T, H))
    out.backward(torch.tensor(dh))
    h, cache = ref[f"{kind}_forward"](x, h0, Wx, Wh, b)
    dx, dh0, dWx, dWh, db = ref[f"{kind}_backward"](dh, cache)
    np.testing.assert_allclose(h, out.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(dh0, th0.grad.numpy()[0], rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(dWx, net.weight_ih_l0.grad.numpy().T[:, p], rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(dWh, net.weight_hh_l0.grad.numpy().T[:, p], rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(db, net.bias_ih_l0.grad.numpy()[p], rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_sequence_layers_keep_float32(ref, kind):
    rng = np.random.default_rng(7)
    N, T, D, H = 8, 12, 16, 32
    G = 4 * H if kind == "lstm" else H
    x, h0 = (rng.normal(size=s).astype(np.float32) for s in ((N, T, D), (N, H)))
    Wx, Wh, b = (rng.normal(size=s).astype(np.float32) / 4 for s in ((D, G), (H, G), (G,)))
    h, cache = ref[f"{kind}_forward"](x, h0, Wx, Wh, b)
    assert h.dtype == np.float32
    grads = ref[f"{kind}_backward"](np.ones_like(h), cache)
    assert all(g.dtype == np.float32 for g in grads)
    net, _ = torch_rnn(kind, Wx.astype(np.float64), Wh.astype(np.float64), b.astype(np.float64))
    state = torch.tensor(h0[None], dtype=torch.float64)
    if kind == "lstm":
        state = (state, torch.zeros_like(state))
    with torch.no_grad():
        expected = net(torch.tensor(x, dtype=torch.float64), state)[0].numpy()
    np.testing.assert_allclose(h, expected, rtol=1e-4, atol=1e-5)


def test_lstm_step_matches_lstm_cell_with_a_cell_state(ref):
    rng = np.random.default_rng(3)
    N, D, H = 5, 4, 6
    x, h, c = rng.normal(size=(N, D)), rng.normal(size=(N, H)), rng.normal(size=(N, H))
    Wx, Wh, b = rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)
    cell = nn.LSTMCell(D, H).double()
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor(Wx[:, perm(H)].T))
        cell.weight_hh.copy_(torch.tensor(Wh[:, perm(H)].T))
        cell.bias_ih.copy_(torch.tensor(b[perm(H)]))
        cell.bias_hh.zero_()
    th, tc = torch.tensor(h, requires_grad=True), torch.tensor(c, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    nh, nc = cell(tx, (th, tc))
    dnh, dnc = rng.normal(size=(N, H)), rng.normal(size=(N, H))
    torch.autograd.backward([nh, nc], [torch.tensor(dnh), torch.tensor(dnc)])
    next_h, next_c, cache = ref["lstm_step_forward"](x, h, c, Wx, Wh, b)
    np.testing.assert_allclose(next_h, nh.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(next_c, nc.detach().numpy(), rtol=1e-10)
    dx, dh, dc, dWx, dWh, db = ref["lstm_step_backward"](dnh, dnc, cache)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dh, th.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dc, tc.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dWx, cell.weight_ih.grad.numpy().T[:, perm(H)], rtol=1e-9)
    np.testing.assert_allclose(dWh, cell.weight_hh.grad.numpy().T[:, perm(H)], rtol=1e-9)
    np.testing.assert_allclose(db, cell.bias_ih.grad.numpy()[perm(H)], rtol=1e-9)


def test_sigmoid_is_stable_and_exact(ref):
    x = np.array([-800.0, -30.0, -1.0, 0.0, 2.0, 40.0, 800.0])
    with np.errstate(over="raise", invalid="raise"):
        got = ref["sigmoid"](x)
    np.testing.assert_allclose(got, torch.sigmoid(torch.tensor(x)).numpy(), rtol=1e-12, atol=0)


def test_word_embedding_and_temporal_layers_match_torch(ref):
    rng = np.random.default_rng(5)
    N, T, V, D, M = 6, 7, 9, 5, 4
    idx, W = rng.integers(0, V, size=(N, T)), rng.normal(size=(V, D))
    tW = torch.tensor(W, requires_grad=True)
    out = F.embedding(torch.tensor(idx), tW)
    dout = rng.normal(size=(N, T, D))
    out.backward(torch.tensor(dout))
    emb, cache = ref["word_embedding_forward"](idx, W)
    np.testing.assert_array_equal(emb, out.detach().numpy())
    np.testing.assert_allclose(ref["word_embedding_backward"](dout, cache), tW.grad.numpy(), rtol=1e-12)

    x, w, b = rng.normal(size=(N, T, D)), rng.normal(size=(D, M)), rng.normal(size=M)
    t = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    tout = t[0] @ t[1] + t[2]
    dout = rng.normal(size=(N, T, M))
    tout.backward(torch.tensor(dout))
    out, cache = ref["temporal_affine_forward"](x, w, b)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12)
    for g, tt in zip(ref["temporal_affine_backward"](dout, cache), t, strict=True):
        np.testing.assert_allclose(g, tt.grad.numpy(), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("keep", [1.0, 0.6, 0.0])
def test_temporal_softmax_loss_matches_masked_cross_entropy(ref, keep):
    rng = np.random.default_rng(int(keep * 10))
    N, T, V = 5, 8, 13
    x, y = 4 * rng.normal(size=(N, T, V)), rng.integers(0, V, size=(N, T))
    mask = rng.random((N, T)) < keep
    tx = torch.tensor(x, requires_grad=True)
    per = F.cross_entropy(tx.reshape(-1, V), torch.tensor(y.reshape(-1)), reduction="none")
    loss = (per * torch.tensor(mask.reshape(-1), dtype=torch.float64)).sum() / N
    loss.backward()
    got, dx = ref["temporal_softmax_loss"](x, y, mask)
    np.testing.assert_allclose(got, loss.item(), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-13)


def random_model(ref, kind, seed, D=6, W=5, H=7, scale=0.6):
    model = ref["CaptioningRNN"](WORDS, input_dim=D, wordvec_dim=W, hidden_dim=H, cell_type=kind,
                                 dtype=np.float64, seed=seed)
    rng = np.random.default_rng(seed)
    for k in model.params:
        model.params[k] = scale * rng.normal(size=model.params[k].shape)
    return model


class TorchCaptioner(nn.Module):
    """The assignment's captioner as torch modules, built from its parameters."""

    def __init__(self, model):
        super().__init__()
        p = model.params
        D, H = p["W_proj"].shape
        V, W = p["W_embed"].shape
        self.kind = model.cell_type
        self.proj = nn.Linear(D, H).double()
        self.embed = nn.Embedding(V, W).double()
        self.rnn, _ = torch_rnn(self.kind, p["Wx"], p["Wh"], p["b"])
        self.vocab = nn.Linear(H, V).double()
        with torch.no_grad():
            self.proj.weight.copy_(torch.tensor(p["W_proj"].T))
            self.proj.bias.copy_(torch.tensor(p["b_proj"]))
            self.embed.weight.copy_(torch.tensor(p["W_embed"]))
            self.vocab.weight.copy_(torch.tensor(p["W_vocab"].T))
            self.vocab.bias.copy_(torch.tensor(p["b_vocab"]))

    def state(self, feats):
        h0 = self.proj(torch.tensor(feats))[None]  # (1, N, H)
        return (h0, torch.zeros_like(h0)) if self.kind == "lstm" else h0

    def forward(self, feats, words_in, state=None):
        state = self.state(feats) if state is None else state
        out, state = self.rnn(self.embed(torch.tensor(words_in)), state)
        return self.vocab(out), state  # (N, T, V)


def captions_batch(rng, lengths, T):
    caps = np.zeros((len(lengths), T), dtype=np.int64)
    for n, length in enumerate(lengths):
        caps[n, 0], caps[n, 1:length + 1], caps[n, length + 1] = 1, rng.integers(4, 12, size=length), 2
    return caps


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_captioning_loss_and_gradients_match_torch(ref, kind):
    rng = np.random.default_rng(11)
    model = random_model(ref, kind, seed=2)
    tm = TorchCaptioner(model)
    caps, feats = captions_batch(rng, (1, 6, 3, 8, 2), 10), rng.normal(size=(5, 6))
    scores, _ = tm(feats, caps[:, :-1])
    target = torch.tensor(caps[:, 1:])
    per = F.cross_entropy(scores.reshape(-1, scores.shape[-1]), target.reshape(-1), reduction="none")
    loss = (per * (target.reshape(-1) != 0).double()).sum() / len(caps)
    loss.backward()
    got, grads = model.loss(feats, caps)
    np.testing.assert_allclose(got, loss.item(), rtol=1e-10)
    H = model.params["Wh"].shape[0]
    p = perm(H) if kind == "lstm" else np.arange(H)
    expected = {
        "W_proj": tm.proj.weight.grad.numpy().T, "b_proj": tm.proj.bias.grad.numpy(),
        "W_embed": tm.embed.weight.grad.numpy(), "Wx": tm.rnn.weight_ih_l0.grad.numpy().T[:, p],
        "Wh": tm.rnn.weight_hh_l0.grad.numpy().T[:, p], "b": tm.rnn.bias_ih_l0.grad.numpy()[p],
        "W_vocab": tm.vocab.weight.grad.numpy().T, "b_vocab": tm.vocab.bias.grad.numpy(),
    }
    assert set(grads) == set(expected) == set(model.params)
    for k, v in expected.items():
        np.testing.assert_allclose(grads[k], v, rtol=1e-8, atol=1e-11, err_msg=k)


def torch_greedy(tm, feats, max_length):
    N = len(feats)
    state, word = tm.state(feats), np.full((N, 1), 1)
    out, done = np.zeros((N, max_length), dtype=np.int64), np.zeros(N, bool)
    with torch.no_grad():
        for t in range(max_length):
            scores, state = tm(feats, word, state)
            word = scores[:, 0].argmax(dim=1).numpy()[:, None]
            out[~done, t] = word[~done, 0]
            done |= word[:, 0] == 2
    return out


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_greedy_sampling_matches_a_torch_model(ref, kind):
    for seed in range(5):
        model = random_model(ref, kind, seed=seed, scale=1.5)
        model.params["b_vocab"][[0, 1, 3]] = -30.0
        model.params["b_vocab"][2] = 1.0
        feats = np.random.default_rng(seed).normal(size=(12, 6))
        got = model.sample(feats, max_length=9)
        np.testing.assert_array_equal(got, torch_greedy(TorchCaptioner(model), feats, 9))


def caption_log_prob(tm, feat, words):
    with torch.no_grad():
        scores, _ = tm(feat[None], np.array([[1, *words[:-1]]]))
        logp = F.log_softmax(scores[0], dim=-1).numpy()
    return float(sum(logp[t, w] for t, w in enumerate(words)))


def exhaustive_best(tm, feat, words, max_length, normalize):
    best, best_score, frontier = None, -np.inf, [[]]
    for t in range(max_length):
        frontier = [s + [w] for s in frontier for w in words]
        for s in frontier:
            if s[-1] == 2 or t == max_length - 1:
                score = caption_log_prob(tm, feat, s) / (len(s) if normalize else 1)
                if score > best_score:
                    best, best_score = s, score
        frontier = [s for s in frontier if s[-1] != 2]
    return best


@pytest.mark.parametrize("kind, normalize", list(itertools.product(["rnn", "lstm"], [False, True])))
def test_beam_search_is_exact_with_a_wide_beam(ref, kind, normalize):
    words = {"<NULL>": 0, "<START>": 1, "<END>": 2, "a": 3, "b": 4, "c": 5}
    model = ref["CaptioningRNN"](words, input_dim=4, wordvec_dim=3, hidden_dim=5, cell_type=kind,
                                 dtype=np.float64, seed=0)
    rng = np.random.default_rng(9)
    for k in model.params:
        model.params[k] = 1.2 * rng.normal(size=model.params[k].shape)
    model.params["b_vocab"][[0, 1]] = -40.0
    feats = rng.normal(size=(4, 4))
    got = ref["beam_search"](model, feats, beam_width=500, max_length=4, length_normalize=normalize)
    tm = TorchCaptioner(model)
    for n in range(4):
        best = exhaustive_best(tm, feats[n], [2, 3, 4, 5], 4, normalize)
        assert list(got[n, :len(best)]) == best and np.all(got[n, len(best):] == 0)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_beam_of_one_is_greedy_and_wider_beams_score_at_least_as_well_here(ref, kind):
    model = random_model(ref, kind, seed=4, scale=1.0)
    model.params["b_vocab"][[0, 1, 3]] = -30.0
    feats = np.random.default_rng(4).normal(size=(10, 6))
    greedy = model.sample(feats, max_length=8)
    np.testing.assert_array_equal(ref["beam_search"](model, feats, 1, 8), greedy)
    tm = TorchCaptioner(model)
    wide = ref["beam_search"](model, feats, 6, 8, length_normalize=False)

    def words(row):
        row = list(row)
        return row[:row.index(2) + 1] if 2 in row else row

    for n in range(10):  # a plain-score beam of 6 never does worse than greedy on these models
        assert caption_log_prob(tm, feats[n], words(wide[n])) >= \
            caption_log_prob(tm, feats[n], words(greedy[n])) - 1e-9


def bleu_independent(cands, refs, n=4):
    num, den, c_total, r_total = [0] * n, [0] * n, 0, 0
    for cand, rs in zip(cands, refs, strict=True):
        cw, rws = cand.split(), [r.split() for r in rs]
        c_total += len(cw)
        r_total += len(sorted(rws, key=lambda r: (abs(len(r) - len(cw)), len(r)))[0])
        for k in range(n):
            grams = Counter(tuple(cw[j:j + k + 1]) for j in range(len(cw) - k))
            most = Counter()
            for r in rws:
                most |= Counter(tuple(r[j:j + k + 1]) for j in range(len(r) - k))
            num[k] += sum((grams & most).values())
            den[k] += sum(grams.values())
    if c_total == 0:
        return 0.0
    logs = [math.log((num[k] or 0.1) / (den[k] or 1)) for k in range(n)]
    return (1.0 if c_total > r_total else math.exp(1 - r_total / c_total)) * math.exp(sum(logs) / n)


def test_bleu_against_an_independent_version_and_known_values(ref):
    bleu = ref["bleu"]
    rng = np.random.default_rng(0)
    vocab = "a red blue circle square left of above two and the".split()
    def sent(shortest):
        return " ".join(rng.choice(vocab, size=rng.integers(shortest, 12)))

    for trial in range(30):
        cands = [sent(0 if trial % 7 == 0 else 1) for _ in range(25)]  # some empty candidates
        refs = [[sent(1) for _ in range(rng.integers(1, 6))] for _ in range(25)]
        for n in (1, 2, 4):
            assert bleu(cands, refs, n=n) == pytest.approx(bleu_independent(cands, refs, n), rel=1e-12)
    assert bleu(["a b c d e"], [["a b c d e"]]) == pytest.approx(1.0)
    # Papineni et al. 2002, the first example of modified precision: 2/7.
    assert bleu(["the the the the the the the"],
                [["the cat is on the mat", "there is a cat on the mat"]], n=1) == pytest.approx(2 / 7)
    assert bleu([""], [["a"]]) == 0.0
    with pytest.raises(ValueError, match="candidates"):
        bleu(["a"], [])
