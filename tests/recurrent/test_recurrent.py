"""Tests for dlcv/recurrent/networks.py: gradient flow, clipping, the LSTM step, the marker task and the
character model. References: hand-written numpy recurrences, torch's nn.LSTM, closed forms."""

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.patches import FancyArrowPatch

from dlcv.recurrent import networks as R


# ------------------------------------------------------------------------------------------
# recurrent_matrix and gradient_norms
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", R.MATRIX_KINDS)
@pytest.mark.parametrize("rho", [0.5, 1.0, 1.3])
def test_recurrent_matrix_has_the_requested_spectral_radius(kind, rho):
    W = R.recurrent_matrix(16, rho, kind, seed=3)
    eig = np.abs(np.linalg.eigvals(W))
    assert W.shape == (16, 16)
    assert eig.max() == pytest.approx(rho, rel=1e-10)
    if kind == "orthogonal":
        np.testing.assert_allclose(eig, rho, rtol=1e-10)
        np.testing.assert_allclose(W.T @ W, rho ** 2 * np.eye(16), atol=1e-12)
    np.testing.assert_array_equal(W, R.recurrent_matrix(16, rho, kind, seed=3))


def test_recurrent_matrix_rejects_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        R.recurrent_matrix(4, 1.0, "diagonal")
    with pytest.raises(ValueError, match="spectral_radius"):
        R.recurrent_matrix(4, 0.0)
    with pytest.raises(ValueError, match="n must be"):
        R.recurrent_matrix(0, 1.0)


@pytest.mark.parametrize("rho", [0.8, 1.0, 1.2])
def test_linear_orthogonal_rnn_scales_the_gradient_by_rho_per_step(rho):
    W = R.recurrent_matrix(8, rho, "orthogonal", seed=1)
    flow = R.gradient_norms(W, steps=20, nonlinearity="linear", seed=2)
    T = 20
    np.testing.assert_allclose(flow.grad, rho ** (T - np.arange(T + 1)), rtol=1e-10)
    np.testing.assert_allclose(flow.deriv, 1.0)
    assert flow.state.shape == (T + 1,)


def _numpy_bptt(W, steps, nonlinearity, input_scale, seed):
    """The same random draws as gradient_norms, then the backward recurrence by hand:
    g_T = u,  g_{t-1} = W^T (phi'(z_t) * g_t)."""
    n = W.shape[0]
    gen = torch.Generator().manual_seed(seed)
    x = (input_scale * torch.randn(steps, n, generator=gen, dtype=torch.float64)).numpy()
    h = (torch.randn(n, generator=gen, dtype=torch.float64) / math.sqrt(n)).numpy()
    u = torch.randn(n, generator=gen, dtype=torch.float64).numpy()
    u = u / np.linalg.norm(u)
    zs = []
    for t in range(steps):
        z = W @ h + x[t]
        zs.append(z)
        h = np.tanh(z) if nonlinearity == "tanh" else np.maximum(z, 0)
    g, norms = u, [1.0]
    for z in zs[::-1]:
        d = 1 - np.tanh(z) ** 2 if nonlinearity == "tanh" else (z > 0).astype(float)
        g = W.T @ (d * g)
        norms.append(np.linalg.norm(g))
    return np.array(norms[::-1])


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_gradient_norms_match_a_hand_written_backward_recurrence(nonlinearity):
    W = R.recurrent_matrix(12, 1.1, "random", seed=5)
    flow = R.gradient_norms(W, steps=15, nonlinearity=nonlinearity, input_scale=0.7, seed=4)
    ref = _numpy_bptt(W, 15, nonlinearity, 0.7, 4)
    np.testing.assert_allclose(flow.grad, ref, rtol=1e-9, atol=1e-300)


def test_tanh_shrinks_the_gradient_more_than_the_linear_rnn():
    W = R.recurrent_matrix(32, 1.0, "orthogonal", seed=0)
    lin = R.gradient_norms(W, 40, "linear", seed=0)
    tanh = R.gradient_norms(W, 40, "tanh", input_scale=1.0, seed=0)
    assert lin.grad[0] == pytest.approx(1.0)
    assert tanh.grad[0] < 1e-3
    assert 0 < tanh.deriv.mean() < 1


def test_gradient_norms_rejects_bad_arguments():
    with pytest.raises(ValueError, match="square"):
        R.gradient_norms(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="nonlinearity"):
        R.gradient_norms(np.eye(3), nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="input_scale"):
        R.gradient_norms(np.eye(3), input_scale=-1)


def test_the_cell_path_keeps_the_gradient_when_the_forget_gate_is_open():
    closed = R.lstm_gradient_norms(hidden=16, steps=40, forget_bias=0.0, seed=0)
    open_ = R.lstm_gradient_norms(hidden=16, steps=40, forget_bias=5.0, seed=0)
    assert closed.forget.mean() == pytest.approx(0.5, abs=0.1)
    assert open_.forget.mean() > 0.98
    assert open_.cell[0] > 0.1               # survives 40 steps
    assert closed.cell[0] < 1e-6             # about 0.5 ** 40
    assert open_.cell[-1] == pytest.approx(1.0) and open_.cell_path[-1] == pytest.approx(1.0)
    assert np.all(np.diff(open_.cell_path) >= 0)  # products of numbers in (0, 1)


def test_cell_path_is_the_product_of_forget_gates():
    flow = R.lstm_gradient_norms(hidden=1, steps=6, forget_bias=1.0, input_size=2, seed=2)
    # one unit, u = +-1: the path after k steps back is the product of the last k forget gates
    f_per_step = flow.forget  # (T,) with H = 1 the mean is the gate itself
    expect = [np.prod(f_per_step[t:]) for t in range(6)] + [1.0]
    np.testing.assert_allclose(flow.cell_path, expect, rtol=1e-12)


# ------------------------------------------------------------------------------------------
# clipping and the cliff
# ------------------------------------------------------------------------------------------
def test_clip_by_norm_rescales_only_long_vectors():
    g = np.array([3.0, 4.0])
    np.testing.assert_allclose(R.clip_by_norm(g, 1.0), [0.6, 0.8])
    np.testing.assert_allclose(R.clip_by_norm(g, 10.0), g)
    gt = torch.tensor([[30.0, 0.0], [0.0, 40.0]])
    out = R.clip_by_norm(gt, 5.0)
    assert isinstance(out, torch.Tensor)
    assert float(out.norm()) == pytest.approx(5.0)
    torch.testing.assert_close(out / out.norm(), gt / gt.norm())
    with pytest.raises(ValueError, match="threshold"):
        R.clip_by_norm(g, 0.0)


def test_cliff_loss_by_hand_and_broadcasting():
    w, b = 2.0, -1.0
    x1 = w / (1 + math.exp(-0.5)) + b
    assert float(R.cliff_loss(w, b, steps=1)) == pytest.approx((x1 - 0.7) ** 2)
    x2 = w / (1 + math.exp(-x1)) + b
    assert float(R.cliff_loss(w, b, steps=2)) == pytest.approx((x2 - 0.7) ** 2)
    grid = R.cliff_loss(torch.linspace(0, 6, 7)[:, None], torch.linspace(-4, 0, 5)[None, :])
    assert grid.shape == (7, 5)


def test_clipping_stops_the_jump_off_the_cliff():
    plain = R.cliff_descent(3.0, -3.0, lr=0.5, iterations=12)
    clipped = R.cliff_descent(3.0, -3.0, lr=0.5, iterations=12, clip=1.0)
    assert np.abs(np.diff(plain.w)).max() > 5.0           # thrown far by the wall's gradient
    assert np.abs(np.diff(clipped.w)).max() <= 0.5 + 1e-12
    assert np.abs(plain.grad).max() > 10
    assert clipped.loss[-1] < plain.loss[-1]
    assert len(plain.w) == 13 and len(plain.loss) == 13 and len(plain.grad) == 12


# ------------------------------------------------------------------------------------------
# the LSTM step
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_lstm_trace_reproduces_nn_lstm(dtype, tol):
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(5, 7, batch_first=True).to(dtype)
    x = torch.randn(3, 11, 5, dtype=dtype)
    with torch.no_grad():
        out, (h_n, c_n) = lstm(x)
    tr = R.lstm_trace(lstm, x)
    assert tr.h.shape == (3, 11, 7) and tr.i.shape == (3, 11, 7)
    np.testing.assert_allclose(tr.h, out.double().numpy(), atol=tol, rtol=0)
    np.testing.assert_allclose(tr.c[:, -1], c_n[0].double().numpy(), atol=tol, rtol=0)


def test_lstm_step_follows_the_equations_in_pytorch_gate_order():
    gen = torch.Generator().manual_seed(1)
    H, D, N = 3, 2, 4
    w = R.LSTMWeights(torch.randn(4 * H, D, generator=gen, dtype=torch.float64),
                      torch.randn(4 * H, H, generator=gen, dtype=torch.float64),
                      torch.randn(4 * H, generator=gen, dtype=torch.float64))
    x = torch.randn(N, D, generator=gen, dtype=torch.float64)
    h = torch.randn(N, H, generator=gen, dtype=torch.float64)
    c = torch.randn(N, H, generator=gen, dtype=torch.float64)
    a = (x @ w.W_ih.T + h @ w.W_hh.T + w.b).numpy()
    sig = lambda z: 1 / (1 + np.exp(-z))
    i, f, g, o = sig(a[:, :H]), sig(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), sig(a[:, 3 * H:])
    c_ref = f * c.numpy() + i * g
    h2, c2, gates = R.lstm_step(x, h, c, w)
    np.testing.assert_allclose(c2.numpy(), c_ref, rtol=1e-12)
    np.testing.assert_allclose(h2.numpy(), o * np.tanh(c_ref), rtol=1e-12)
    np.testing.assert_allclose(gates["f"].numpy(), f, rtol=1e-12)
    np.testing.assert_allclose(gates["a_g"].numpy(), a[:, 2 * H:3 * H], rtol=1e-12)
    # clamps
    _, c_f0, g0 = R.lstm_step(x, h, c, w, "forget = 0")
    np.testing.assert_allclose(c_f0.numpy(), i * g, rtol=1e-12)
    assert float(g0["f"].abs().max()) == 0.0
    _, c_f1, _ = R.lstm_step(x, h, c, w, {"f": 1.0})
    np.testing.assert_allclose(c_f1.numpy(), c.numpy() + i * g, rtol=1e-12)
    _, c_i0, _ = R.lstm_step(x, h, c, w, "input = 0")
    np.testing.assert_allclose(c_i0.numpy(), f * c.numpy(), rtol=1e-12)


def test_lstm_step_and_trace_reject_bad_input():
    w = R.LSTMWeights(torch.zeros(8, 3, dtype=torch.float64),
                      torch.zeros(8, 2, dtype=torch.float64), torch.zeros(8, dtype=torch.float64))
    z = torch.zeros(1, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="x must be"):
        R.lstm_step(torch.zeros(1, 4, dtype=torch.float64), z, z, w)
    with pytest.raises(ValueError, match="h and c"):
        R.lstm_step(torch.zeros(1, 3, dtype=torch.float64), torch.zeros(2, 2), z, w)
    with pytest.raises(ValueError, match="clamp"):
        R.lstm_step(torch.zeros(1, 3, dtype=torch.float64), z, z, w, "forget = 2")
    with pytest.raises(ValueError, match="clamp"):
        R.lstm_step(torch.zeros(1, 3, dtype=torch.float64), z, z, w, {"z": 0.0})
    with pytest.raises(ValueError, match="N, T, D"):
        R.lstm_trace(torch.nn.LSTM(3, 2), torch.zeros(4, 3))
    with pytest.raises(TypeError, match="nn.LSTM"):
        R.lstm_weights(torch.nn.GRU(3, 2))


# ------------------------------------------------------------------------------------------
# the marker task
# ------------------------------------------------------------------------------------------
def test_marker_task_answers_the_last_marker():
    task = R.make_marker_task(500, length=20, seed=3)
    assert task.tokens.shape == (500, 20) and task.tokens.dtype == np.int64
    assert np.all(task.tokens[:, -1] == R.MARKER_SYMBOLS.index("?"))
    assert set(np.unique(task.num_markers)) == {1, 2}
    for k in range(500):
        s = task.text(k)
        marks = [(j, ch) for j, ch in enumerate(s) if ch in R.MARKERS]
        assert len(marks) == task.num_markers[k]
        assert R.MARKERS[task.y[k]] == marks[-1][1]
        assert [j for j, _ in marks] == list(task.positions[k])
        assert marks[-1][0] <= 20 - 4 - 1  # at least min_lag = 4 steps before the end
    again = R.make_marker_task(500, length=20, seed=3)
    np.testing.assert_array_equal(task.tokens, again.tokens)
    one = R.make_marker_task(50, seed=0, max_markers=1)
    assert np.all(one.num_markers == 1)
    with pytest.raises(ValueError, match="no room"):
        R.make_marker_task(5, length=5, max_markers=2, min_lag=4)


def test_marker_net_shapes_and_a_short_training_run_lowers_the_loss():
    net = R.MarkerNet("gru", hidden=6)
    task = R.make_marker_task(256, seed=1)
    assert net(torch.as_tensor(task.tokens[:5])).shape == (5, 4)
    losses = R.train_marker_net(net, task, steps=40, batch_size=64)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert not net.training
    with pytest.raises(ValueError, match="cell"):
        R.MarkerNet("transformer")
    # seeding does not disturb the global random state
    state = torch.random.get_rng_state()
    R.MarkerNet("lstm", 4, seed=5)
    assert torch.equal(state, torch.random.get_rng_state())


def test_the_trained_lstm_remembers_and_clamps_break_it():
    net = R.marker_lstm()
    assert net is R.marker_lstm()  # cached
    test = R.make_marker_task(600, seed=7)
    base = R.marker_accuracy(net, test)
    assert base["all"] > 0.97
    assert R.marker_accuracy(net, test, "forget = 0")["all"] < 0.45
    assert R.marker_accuracy(net, test, "input = 0")["all"] < 0.45
    f1 = R.marker_accuracy(net, test, "forget = 1")
    assert f1["two markers"] < f1["one marker"] - 0.2  # cannot overwrite the first marker
    # without a clamp, the teaching trace gives the network's own answer
    tr, probs = R.marker_trace(net, test.tokens[:50])
    with torch.no_grad():
        ref = F.softmax(net(torch.as_tensor(test.tokens[:50])).double(), 1).numpy()
        out, _ = net.rnn(net.features(test.tokens[:50]))
    np.testing.assert_allclose(probs, ref, atol=1e-5)
    np.testing.assert_allclose(tr.h, out.double().numpy(), atol=1e-6)
    np.testing.assert_allclose(probs.sum(1), 1.0)


# ------------------------------------------------------------------------------------------
# the character model
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def text():
    return R.load_text()


def test_load_text_is_ascii_prose(text):
    assert 200_000 < len(text) < 400_000
    assert text.isascii()
    assert not any(line.startswith((" ", "|", "+")) for line in text.split("\n"))
    assert "exception" in text and "\n\n\n" not in text
    assert len(R.load_text(prose_only=False)) > len(text)


def test_char_vocab_round_trip(text):
    vocab = R.CharVocab(text)
    assert vocab.size == len(set(text)) == len(vocab)
    ids = vocab.encode("The class")
    assert ids.dtype == np.int64 and vocab.decode(ids) == "The class"
    assert vocab.chars == sorted(vocab.chars)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vocab.encode("caf\u00e9")
    with pytest.raises(ValueError, match="non-empty"):
        R.CharVocab("")


def test_stream_batches_are_contiguous():
    ids = np.arange(103)
    S = R.stream_batches(ids, 4)
    assert S.shape == (4, 25)
    np.testing.assert_array_equal(S[1].numpy(), np.arange(25, 50))
    with pytest.raises(ValueError, match="too few"):
        R.stream_batches(np.arange(5), 4)


def test_char_lm_shapes_training_and_evaluation():
    small = "the cat sat on the mat. the dog sat on the log. " * 60
    vocab = R.CharVocab(small)
    ids = vocab.encode(small)
    model = R.CharLM(vocab.size, embed_dim=8, hidden_size=24, cell="gru")
    logits, state = model(torch.as_tensor(ids[:10])[None])
    assert logits.shape == (1, 10, vocab.size) and state.shape == (1, 1, 24)
    before = R.evaluate_char_lm(model, ids, batch_size=4, chunk=32)
    assert before == pytest.approx(math.log(vocab.size), abs=0.3)  # untrained: near uniform
    hist = R.train_char_lm(model, ids, steps=120, batch_size=4, chunk=16, lr=1e-2,
                           progress=False, val_ids=ids[:600], val_every=60)
    assert len(hist.loss) == len(hist.grad_norm) == 120
    assert hist.val_steps == [60, 120]
    after = R.evaluate_char_lm(model, ids, batch_size=4, chunk=32)
    assert after < before - 0.8
    assert hist.seconds > 0 and not model.training
    with pytest.raises(ValueError, match="chunk"):
        R.train_char_lm(model, ids[:40], steps=1, batch_size=4, chunk=16, progress=False)


def test_lstm_char_lm_state_is_a_pair():
    model = R.CharLM(5, embed_dim=3, hidden_size=4, num_layers=2)
    _, (h, c) = model(torch.zeros(2, 3, dtype=torch.long))
    assert h.shape == (2, 2, 4) and c.shape == (2, 2, 4)


def test_temperature_and_sampling():
    small = "abcabcabcabd " * 40
    vocab = R.CharVocab(small)
    model = R.CharLM(vocab.size, embed_dim=4, hidden_size=16, seed=1)
    R.train_char_lm(model, vocab.encode(small), steps=60, batch_size=4, chunk=12, lr=2e-2,
                    progress=False)
    p1 = R.next_char_probs(model, vocab, "ab", 1.0)
    cold = R.next_char_probs(model, vocab, "ab", 0.1)
    hot = R.next_char_probs(model, vocab, "ab", 5.0)
    for p in (p1, cold, hot):
        assert p.shape == (vocab.size,) and p.sum() == pytest.approx(1.0)
    assert cold.max() > p1.max() > hot.max()
    # p_tau is proportional to p_1 ** (1 / tau)
    ref = p1 ** (1 / 0.5) / (p1 ** (1 / 0.5)).sum()
    np.testing.assert_allclose(R.next_char_probs(model, vocab, "ab", 0.5), ref, rtol=1e-9)
    s = R.sample(model, vocab, "ab", length=30, temperature=1.0, seed=3)
    assert len(s) == 30 and set(s) <= set(vocab.chars)
    assert s == R.sample(model, vocab, "ab", length=30, temperature=1.0, seed=3)
    # a tiny temperature is the greedy choice, fed back step by step
    greedy, prompt = "", "ab"
    for _ in range(10):
        p = R.next_char_probs(model, vocab, prompt + greedy, 1.0)
        greedy += vocab.chars[int(np.argmax(p))]
    assert R.sample(model, vocab, "ab", length=10, temperature=1e-4, seed=0) == greedy
    with pytest.raises(ValueError, match="temperature"):
        R.sample(model, vocab, "ab", temperature=0)
    with pytest.raises(ValueError, match="prompt"):
        R.next_char_probs(model, vocab, "")


# ------------------------------------------------------------------------------------------
# counting and drawing
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,cls", [("rnn", torch.nn.RNN), ("gru", torch.nn.GRU),
                                      ("lstm", torch.nn.LSTM)])
@pytest.mark.parametrize("layers,bi", [(1, False), (2, False), (3, True)])
def test_rnn_param_count_matches_torch(kind, cls, layers, bi):
    m = cls(10, 16, num_layers=layers, bidirectional=bi)
    assert R.rnn_param_count(kind, 10, 16, layers, bi) == sum(p.numel() for p in m.parameters())


def test_rnn_param_count_by_hand():
    assert R.rnn_param_count("lstm", 32, 128) == 4 * (128 * 32 + 128 * 128 + 2 * 128)
    with pytest.raises(ValueError, match="kind"):
        R.rnn_param_count("cnn", 3, 3)


def test_drawings_put_boxes_and_arrows_on_the_axes():
    fig, axes = plt.subplots(1, 5)
    R.draw_io_patterns(axes)
    assert all(len(ax.patches) > 0 for ax in axes)
    with pytest.raises(ValueError, match="5 axes"):
        R.draw_io_patterns(axes[:2])
    fig2, ax = plt.subplots()
    R.draw_truncated_bptt(ax, length=12, chunk=4)
    red = [p for p in ax.patches if isinstance(p, FancyArrowPatch)
           and matplotlib.colors.same_color(p.get_edgecolor(), "#D55E00")]
    assert len(red) == 12 - 3  # backward arrows inside the three chunks only
    for kind in R.TOPOLOGIES:
        fig3, ax = plt.subplots()
        R.draw_topology(ax, kind)
        assert len(ax.patches) > 4
        plt.close(fig3)
    with pytest.raises(ValueError, match="kind"):
        R.draw_topology(ax, "tree")
    fig4, ax = plt.subplots()
    R.draw_unrolled(ax, steps=3)
    assert sum(isinstance(p, FancyArrowPatch) for p in ax.patches) == 2 + 1 + 3 * 3
    plt.close("all")


def test_row_reader_learns_digits_and_bidirectional_sees_everything_at_once():
    from dlcv.data import load_digits

    X, y = load_digits()
    X = X / 16.0
    uni, bi = R.RowReader(), R.RowReader(bidirectional=True)
    assert uni(X[:3]).shape == (3, 8, 10) and bi(X[:3]).shape == (3, 8, 10)
    R.train_row_reader(uni, X[:1400], y[:1400], steps=200)
    R.train_row_reader(bi, X[:1400], y[:1400], steps=200)
    acc_uni = R.accuracy_per_row(uni, X[1400:], y[1400:])
    acc_bi = R.accuracy_per_row(bi, X[1400:], y[1400:])
    assert acc_uni.shape == (8,)
    assert acc_uni[-2] > 0.7 and acc_uni[0] < 0.5      # one row says little
    assert acc_bi[0] > 0.75                              # the backward pass has read them all
    with pytest.raises(ValueError, match="N, H, W"):
        uni(X[0])
