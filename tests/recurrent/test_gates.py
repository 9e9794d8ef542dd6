"""Tests for dlcv/recurrent/gates.py: the LSTM step and its trace, the marker task. References:
torch's nn.LSTM, the LSTM equations written in numpy."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcv.recurrent import gates as GA


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
    tr = GA.lstm_trace(lstm, x)
    assert tr.h.shape == (3, 11, 7) and tr.i.shape == (3, 11, 7)
    np.testing.assert_allclose(tr.h, out.double().numpy(), atol=tol, rtol=0)
    np.testing.assert_allclose(tr.c[:, -1], c_n[0].double().numpy(), atol=tol, rtol=0)


def test_lstm_step_follows_the_equations_in_pytorch_gate_order():
    gen = torch.Generator().manual_seed(1)
    H, D, N = 3, 2, 4
    w = GA.LSTMWeights(torch.randn(4 * H, D, generator=gen, dtype=torch.float64),
                       torch.randn(4 * H, H, generator=gen, dtype=torch.float64),
                       torch.randn(4 * H, generator=gen, dtype=torch.float64))
    x = torch.randn(N, D, generator=gen, dtype=torch.float64)
    h = torch.randn(N, H, generator=gen, dtype=torch.float64)
    c = torch.randn(N, H, generator=gen, dtype=torch.float64)
    a = (x @ w.W_ih.T + h @ w.W_hh.T + w.b).numpy()
    sig = lambda z: 1 / (1 + np.exp(-z))
    i, f, g, o = sig(a[:, :H]), sig(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), sig(a[:, 3 * H:])
    c_ref = f * c.numpy() + i * g
    h2, c2, gates = GA.lstm_step(x, h, c, w)
    np.testing.assert_allclose(c2.numpy(), c_ref, rtol=1e-12)
    np.testing.assert_allclose(h2.numpy(), o * np.tanh(c_ref), rtol=1e-12)
    np.testing.assert_allclose(gates["f"].numpy(), f, rtol=1e-12)
    np.testing.assert_allclose(gates["a_g"].numpy(), a[:, 2 * H:3 * H], rtol=1e-12)
    # clamps
    _, c_f0, g0 = GA.lstm_step(x, h, c, w, "forget = 0")
    np.testing.assert_allclose(c_f0.numpy(), i * g, rtol=1e-12)
    assert float(g0["f"].abs().max()) == 0.0
    _, c_f1, _ = GA.lstm_step(x, h, c, w, {"f": 1.0})
    np.testing.assert_allclose(c_f1.numpy(), c.numpy() + i * g, rtol=1e-12)
    _, c_i0, _ = GA.lstm_step(x, h, c, w, "input = 0")
    np.testing.assert_allclose(c_i0.numpy(), f * c.numpy(), rtol=1e-12)


def test_lstm_step_and_trace_reject_bad_input():
    w = GA.LSTMWeights(torch.zeros(8, 3, dtype=torch.float64),
                       torch.zeros(8, 2, dtype=torch.float64), torch.zeros(8, dtype=torch.float64))
    z = torch.zeros(1, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="x must be"):
        GA.lstm_step(torch.zeros(1, 4, dtype=torch.float64), z, z, w)
    with pytest.raises(ValueError, match="h and c"):
        GA.lstm_step(torch.zeros(1, 3, dtype=torch.float64), torch.zeros(2, 2), z, w)
    with pytest.raises(ValueError, match="clamp"):
        GA.lstm_step(torch.zeros(1, 3, dtype=torch.float64), z, z, w, "forget = 2")
    with pytest.raises(ValueError, match="clamp"):
        GA.lstm_step(torch.zeros(1, 3, dtype=torch.float64), z, z, w, {"z": 0.0})
    with pytest.raises(ValueError, match="N, T, D"):
        GA.lstm_trace(torch.nn.LSTM(3, 2), torch.zeros(4, 3))
    with pytest.raises(TypeError, match="nn.LSTM"):
        GA.lstm_weights(torch.nn.GRU(3, 2))


# ------------------------------------------------------------------------------------------
# the marker task
# ------------------------------------------------------------------------------------------
def test_marker_task_answers_the_last_marker():
    task = GA.make_marker_task(500, length=20, seed=3)
    assert task.tokens.shape == (500, 20) and task.tokens.dtype == np.int64
    assert np.all(task.tokens[:, -1] == GA.MARKER_SYMBOLS.index("?"))
    assert set(np.unique(task.num_markers)) == {1, 2}
    for k in range(500):
        s = task.text(k)
        marks = [(j, ch) for j, ch in enumerate(s) if ch in GA.MARKERS]
        assert len(marks) == task.num_markers[k]
        assert GA.MARKERS[task.y[k]] == marks[-1][1]
        assert [j for j, _ in marks] == list(task.positions[k])
        assert marks[-1][0] <= 20 - 4 - 1  # at least min_lag = 4 steps before the end
    again = GA.make_marker_task(500, length=20, seed=3)
    np.testing.assert_array_equal(task.tokens, again.tokens)
    one = GA.make_marker_task(50, seed=0, max_markers=1)
    assert np.all(one.num_markers == 1)
    with pytest.raises(ValueError, match="no room"):
        GA.make_marker_task(5, length=5, max_markers=2, min_lag=4)


def test_marker_net_shapes_and_a_short_training_run_lowers_the_loss():
    net = GA.MarkerNet("gru", hidden=6)
    task = GA.make_marker_task(256, seed=1)
    assert net(torch.as_tensor(task.tokens[:5])).shape == (5, 4)
    losses = GA.train_marker_net(net, task, steps=40, batch_size=64)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert not net.training
    with pytest.raises(ValueError, match="cell"):
        GA.MarkerNet("transformer")
    # seeding does not disturb the global random state
    state = torch.random.get_rng_state()
    GA.MarkerNet("lstm", 4, seed=5)
    assert torch.equal(state, torch.random.get_rng_state())


def test_the_trained_lstm_remembers_and_clamps_break_it():
    net = GA.marker_lstm()
    assert net is GA.marker_lstm()  # cached
    test = GA.make_marker_task(600, seed=7)
    base = GA.marker_accuracy(net, test)
    assert base["all"] > 0.97
    assert GA.marker_accuracy(net, test, "forget = 0")["all"] < 0.45
    assert GA.marker_accuracy(net, test, "input = 0")["all"] < 0.45
    f1 = GA.marker_accuracy(net, test, "forget = 1")
    assert f1["two markers"] < f1["one marker"] - 0.2  # cannot overwrite the first marker
    # without a clamp, the teaching trace gives the network's own answer
    tr, probs = GA.marker_trace(net, test.tokens[:50])
    with torch.no_grad():
        ref = F.softmax(net(torch.as_tensor(test.tokens[:50])).double(), 1).numpy()
        out, _ = net.rnn(net.features(test.tokens[:50]))
    np.testing.assert_allclose(probs, ref, atol=1e-5)
    np.testing.assert_allclose(tr.h, out.double().numpy(), atol=1e-6)
    np.testing.assert_allclose(probs.sum(1), 1.0)

