"""Tests for dlcv/recurrent/widgets.py: the gradient-flow, LSTM-gates and sampling widgets,
without a browser."""


import numpy as np
import pytest
import torch

from dlcv.recurrent import gates as GA
from dlcv.recurrent import gradients as GR
from dlcv.recurrent import language as LM
from dlcv.recurrent.widgets import (
    NORM_LIMITS,
    GradientFlowView,
    LSTMGatesView,
    SamplingView,
    char_label,
    picked_sequences,
)


# ------------------------------------------------------------------------------------------
# GradientFlowView
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def flow_view():
    return GradientFlowView()


def test_gradient_flow_initial_state(flow_view):
    v = flow_view
    assert v.renders >= 1
    W = GR.recurrent_matrix(32, 1.0, "random", seed=0)
    ref = GR.gradient_norms(W, 50, "tanh", 1.0, seed=0)
    np.testing.assert_allclose(v.grad_line.get_ydata(), np.maximum(ref.grad, NORM_LIMITS[0]))
    np.testing.assert_allclose(v.state_line.get_ydata(), np.maximum(ref.state, NORM_LIMITS[0]))
    assert v.radius_circle.get_radius() == pytest.approx(1.0)
    assert len(v.eig_points.get_offsets()) == 32
    assert "<b>ρ = 1.00</b>" in v.readout.value


def test_linear_orthogonal_gradient_follows_rho_to_the_power(flow_view):
    v = flow_view
    v.matrix.value = "orthogonal"
    v.nonlinearity.value = "linear"
    renders = v.renders
    v.radius.value = 0.8
    assert v.renders == renders + 1
    T = 50
    expect = 0.8 ** (T - np.arange(T + 1))
    np.testing.assert_allclose(v.grad_line.get_ydata(), expect, rtol=1e-8)
    np.testing.assert_allclose(v.ref_line.get_ydata(), expect, rtol=1e-8)
    np.testing.assert_allclose(np.hypot(*v.eig_points.get_offsets().T), 0.8, rtol=1e-10)
    assert v.radius_circle.get_radius() == pytest.approx(0.8)
    assert f"{0.8 ** 50:.1e}" in v.readout.value


def test_relu_needs_a_larger_radius_to_explode_and_tanh_bounds_the_state(flow_view):
    v = flow_view
    v.matrix.value = "random"
    v.radius.value = 1.4
    v.nonlinearity.value = "linear"
    assert v.flow.state[-1] > 1e3 and v.flow.grad[0] > 1e3
    v.nonlinearity.value = "tanh"
    assert v.flow.state[-1] <= np.sqrt(32) + 1e-9  # tanh keeps |h_i| <= 1
    v.nonlinearity.value = "relu"
    assert v.flow.grad[0] < 1e-2                    # about half the units are off at each step
    assert 0.3 < v.flow.deriv.mean() < 0.6
    v.radius.value = 2.0
    assert v.flow.grad[0] > 10
    v.nonlinearity.value = "tanh"
    v.radius.value = 1.0
    v.input_scale.value = 3.0
    saturated = v.flow.deriv.mean()
    v.input_scale.value = 0.1
    assert v.flow.deriv.mean() > saturated


def test_gradient_flow_view_rejects_bad_arguments():
    with pytest.raises(ValueError, match="spectral_radius"):
        GradientFlowView(spectral_radius=2.5)
    with pytest.raises(ValueError, match="nonlinearity"):
        GradientFlowView(nonlinearity="gelu")
    with pytest.raises(ValueError, match="matrix"):
        GradientFlowView(matrix="sparse")


def test_gradient_flow_view_redraws_when_the_radius_moves():
    v = GradientFlowView(spectral_radius=1.2, nonlinearity="relu")
    renders = v.renders
    v.radius.value = 0.9
    assert v.renders == renders + 1


# ------------------------------------------------------------------------------------------
# LSTMGatesView
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def net():
    return GA.marker_lstm()  # trained once per process, cached


@pytest.fixture(scope="module")
def gates_view(net):
    return LSTMGatesView(net)


def test_gates_view_shows_the_trace_and_reproduces_nn_lstm(gates_view, net):
    v = gates_view
    assert v.renders >= 1
    j = v.sequence.value
    for key in ("i", "f", "g", "o", "c", "h"):
        np.testing.assert_allclose(v.images[key].get_array(), v.trace[key][j].T)
    with torch.no_grad():
        out, _ = net.rnn(net.features(v.tokens))
    np.testing.assert_allclose(v.trace.h, out.double().numpy(), atol=1e-6, rtol=0)
    # the first marker of the first sequence is the starting step
    assert v.t.value == v.test.positions[v.picked[0]][0]
    assert v.step_boxes[0].get_x() == pytest.approx(v.t.value - 0.5)
    t = v.t.value
    change = np.abs(v.trace.c[0, t] - v.trace.c[0, t - 1])    # the default unit changes most
    assert v.unit.value == int(np.argmax(change))
    assert v.unit_boxes[0].get_y() == pytest.approx(v.unit.value - 0.5)
    labels = [lab.get_text() for lab in v.tick_axes[0].get_xticklabels()]
    assert "".join(labels) == v.test.text(v.picked[0])


def test_picked_sequences_have_one_and_two_markers(gates_view):
    v = gates_view
    kinds = v.test.num_markers[v.picked]
    assert list(kinds) == [1, 1, 1, 2, 2, 2]
    assert picked_sequences(v.test, 2) == v.picked[:2] + v.picked[3:5]


def test_time_and_unit_sliders_move_the_boxes_and_rewrite_the_equations(gates_view):
    v = gates_view
    v.clamp.value = "none"
    renders = v.renders
    v.t.value = 5
    v.unit.value = 3
    assert v.renders == renders + 2
    assert all(b.get_x() == pytest.approx(4.5) for b in v.step_boxes)
    assert all(b.get_y() == pytest.approx(2.5) for b in v.unit_boxes)
    j = v.sequence.value
    f, c_prev = v.trace.f[j, 5, 3], v.trace.c[j, 4, 3]
    i, g, c = v.trace.i[j, 5, 3], v.trace.g[j, 5, 3], v.trace.c[j, 5, 3]
    assert c == pytest.approx(f * c_prev + i * g)
    text = v.equation_text.get_text()
    assert f"{f:.2f} \\cdot ({c_prev:+.2f})" in text and f"= {c:+.2f}$" in text
    assert "step $t = 5$" in text and "unit 3" in text


def test_clamping_the_forget_gate_destroys_the_memory(gates_view):
    v = gates_view
    v.clamp.value = "none"
    assert v.accuracy["all"] > 0.97
    v.clamp.value = "forget = 0"
    assert np.all(v.images["f"].get_array() == 0)
    assert v.accuracy["all"] < 0.45
    assert "(clamped)" in v.equation_text.get_text()
    assert "<b>clamp: forget = 0</b>" in v.readout.value
    v.clamp.value = "forget = 1"
    assert v.accuracy["two markers"] < v.accuracy["one marker"]
    v.clamp.value = "input = 0"
    np.testing.assert_allclose(v.images["c"].get_array(), 0.0)  # nothing is ever written
    v.clamp.value = "none"


def test_sequence_picker_changes_the_heatmaps_and_answer(gates_view):
    v = gates_view
    before = np.array(v.images["c"].get_array()).copy()
    v.sequence.value = 4
    after = np.array(v.images["c"].get_array())
    assert not np.allclose(before, after)
    labels = "".join(lab.get_text() for lab in v.tick_axes[3].get_xticklabels())
    assert labels == v.test.text(v.picked[4])
    truth = GA.MARKERS[v.test.y[v.picked[4]]]
    assert f"true: {truth}" in v.answer_title.get_text()
    assert v.bars[v.test.y[v.picked[4]]].get_width() == pytest.approx(v.probs[4].max(), abs=0.5)


def test_gates_view_rejects_bad_arguments(net):
    with pytest.raises(ValueError, match="clamp"):
        LSTMGatesView(net, clamp="forget = 0.5")
    with pytest.raises(ValueError, match="unit"):
        LSTMGatesView(net, unit=99)
    with pytest.raises(ValueError, match="LSTM MarkerNet"):
        LSTMGatesView(GA.MarkerNet("gru", 4))


def test_gates_view_opens_on_the_sequence_and_clamp_it_is_given(net):
    v = LSTMGatesView(net, sequence=3, clamp="forget = 1")
    assert v.sequence.value == 3 and v.clamp.value == "forget = 1"
    assert np.all(v.images["f"].get_array() == 1)  # the forget gate held open
    assert "<b>clamp: forget = 1</b>" in v.readout.value


# ------------------------------------------------------------------------------------------
# SamplingView
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lm():
    text = "The cat sat. The dog ran. If the cat ran, the dog sat. A class of cats. " * 30
    vocab = LM.CharVocab(text)
    model = LM.CharLM(vocab.size, embed_dim=8, hidden_size=32, seed=0)
    LM.train_char_lm(model, vocab.encode(text), steps=80, batch_size=4, chunk=24, lr=1e-2,
                     progress=False)
    return model, vocab


def test_sampling_view_initial_state(lm):
    model, vocab = lm
    v = SamplingView(model, vocab, prompts=("The ", "If the "), length=80, top=10)
    assert v.renders >= 1
    p = LM.next_char_probs(model, vocab, "The ", 1.0)
    np.testing.assert_allclose(v.probs, p)
    order = np.argsort(-p)[:10]
    np.testing.assert_allclose([b.get_height() for b in v.bars], p[order])
    assert v.text == LM.sample(model, vocab, "The ", 80, 1.0, 0)
    assert v.sample_text.get_text().startswith("The ")
    labels = [lab.get_text() for lab in v.ax_dist.get_xticklabels()]
    assert labels == [char_label(vocab.chars[k]) for k in order]


def test_temperature_sharpens_or_flattens_the_distribution(lm):
    model, vocab = lm
    v = SamplingView(model, vocab, prompts=("The ", "If the "), length=60, top=8)
    top1 = v.bars[0].get_height()
    renders = v.renders
    v.temperature.value = 0.2
    assert v.renders == renders + 1
    assert v.bars[0].get_height() > top1
    assert "τ = 0.20" in v.dist_title.get_text()
    v.temperature.value = 2.0
    assert v.bars[0].get_height() < top1
    np.testing.assert_allclose(v.t1_marks.get_ydata()[0], top1)  # the tau = 1 marks stay
    text = v.text
    v.seed.value = 7
    assert v.text != text and v.text == LM.sample(model, vocab, "The ", 60, 2.0, 7)
    v.prompt.value = "If the "
    assert v.sample_text.get_text().startswith("If the ")


def test_sampling_view_rejects_bad_arguments(lm):
    model, vocab = lm
    with pytest.raises(ValueError, match="temperature"):
        SamplingView(model, vocab, prompts=("The ",), temperature=3.0)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        SamplingView(model, vocab, prompts=("Zebra ",))
    assert char_label(" ") == "␣" and char_label("\n") == "⏎" and char_label("a") == "a"


def test_sampling_view_samples_a_long_text_and_redraws_at_a_new_temperature(lm):
    model, vocab = lm
    v = SamplingView(model, vocab, prompts=("The ",), length=300)
    renders = v.renders
    v.temperature.value = 0.5
    assert v.renders == renders + 1
    assert v.text == LM.sample(model, vocab, "The ", 300, 0.5, 0)
