"""dlcv.captioning.captioners: add_coordinates, the two captioners, training and the held-out loss,
scheduled sampling, the drawing of the decoders."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcv.captioning import captioners as cap
from dlcv.captioning import decoding

from .conftest import _small_attention, _small_showtell


# --------------------------------------------------------------------------------------------
# Coordinates appended to a feature map
# --------------------------------------------------------------------------------------------
def test_add_coordinates():
    fmap = torch.randn(3, 16, 8, 8)
    out = cap.add_coordinates(fmap)
    assert out.shape == (3, 18, 8, 8)
    torch.testing.assert_close(out[:, :16], fmap)
    np.testing.assert_allclose(out[0, 16, 0].numpy(), np.linspace(-1, 1, 8), atol=1e-6)  # x
    np.testing.assert_allclose(out[2, 17, :, 5].numpy(), np.linspace(-1, 1, 8), atol=1e-6)  # y
    assert cap.add_coordinates(np.zeros((1, 2, 4, 6), np.float32)).shape == (1, 4, 4, 6)
    with pytest.raises(ValueError, match=r"\(N, C, h, w\)"):
        cap.add_coordinates(torch.randn(16, 8, 8))


# --------------------------------------------------------------------------------------------
# Captioners: teacher forcing and the step-by-step interface agree
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["showtell", "attention"])
def test_forward_equals_step_by_step(kind, data):
    V = len(data.vocab)
    if kind == "showtell":
        model, feats = _small_showtell(V), torch.randn(4, 5)
    else:
        model, feats = _small_attention(V), torch.randn(4, 6, 8, 8)
    tokens = torch.as_tensor(data.tokens[:4, :7])
    logits, alphas = model(feats, tokens)
    assert logits.shape == (4, 7, V)
    state = model.init_state(feats)
    for t in range(7):
        out, state, alpha = model.step(state, tokens[:, t])
        torch.testing.assert_close(out, logits[:, t], rtol=1e-5, atol=1e-5)
        if kind == "attention":
            torch.testing.assert_close(alpha, alphas[:, t])
    if kind == "attention":
        assert alphas.shape == (4, 7, 64)
        torch.testing.assert_close(alphas.sum(-1), torch.ones(4, 7))
    else:
        assert alphas is None


def test_attention_context_is_the_weighted_average(data):
    model = _small_attention(len(data.vocab))
    feats = torch.randn(3, 6, 8, 8)
    h, c, a, pa = model.init_state(feats)
    assert a.shape == (3, 64, 6) and pa.shape == (3, 64, 8) and h.shape == (3, 16)
    torch.testing.assert_close(a[:, 8 * 2 + 5], feats[:, :, 2, 5])   # cell (2, 5)
    hs = torch.randn(3, 4, 16)
    alpha, z = model.attend(a, pa, hs)
    assert alpha.shape == (3, 4, 64) and z.shape == (3, 4, 6)
    torch.testing.assert_close(z, (alpha[..., None] * a[:, None]).sum(2))
    # the scores by the formula e_i = w^T tanh(W_a a_i + W_h h)
    e = model.att_score(torch.tanh(model.att_features(a[0]) + model.att_hidden(hs[0, 1])))[:, 0]
    torch.testing.assert_close(alpha[0, 1], F.softmax(e, 0))
    with pytest.raises(ValueError, match="6 channels"):
        model.init_state(torch.randn(3, 5, 8, 8))


def test_language_only_model_ignores_the_image(data):
    V = len(data.vocab)
    lm = _small_showtell(V, use_image=False)
    tokens = torch.as_tensor(data.tokens[:2])
    a, _ = lm(torch.randn(2, 5), tokens)
    b, _ = lm(torch.randn(2, 5), tokens)
    torch.testing.assert_close(a, b)
    st = _small_showtell(V)
    a, _ = st(torch.randn(2, 5), tokens)
    b, _ = st(torch.randn(2, 5), tokens)
    assert not torch.allclose(a, b)


def test_bad_inputs_are_named(data):
    V = len(data.vocab)
    st = _small_showtell(V)
    with pytest.raises(ValueError, match=r"\(N, D\) vectors"):
        st(torch.randn(2, 5, 1, 1), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="token ids"):
        st(torch.randn(2, 5), torch.full((2, 3), V))
    with pytest.raises(ValueError, match="integer ids"):
        st(torch.randn(2, 5), torch.zeros(2, 3))
    with pytest.raises(TypeError, match="ShowTellCaptioner or an AttentionCaptioner"):
        decoding.greedy_decode(torch.nn.Linear(2, 2), torch.randn(1, 2), data.vocab)


# --------------------------------------------------------------------------------------------
# Training and the held-out loss
# --------------------------------------------------------------------------------------------
def test_sequence_loss_matches_cross_entropy_with_ignore_index():
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 7)
    targets = torch.randint(1, 7, (3, 5))
    targets[0, 3:] = 0
    targets[2, 1:] = 0
    mask = targets != 0
    want = F.cross_entropy(logits.reshape(-1, 7), targets.reshape(-1), ignore_index=0)
    torch.testing.assert_close(cap.sequence_loss(logits, targets, mask), want)


def test_training_memorises_and_greedy_decoding_reads_it_back(memorised, data):
    model, feats, captions, hist = memorised
    assert hist.loss[-1] < 0.05 < hist.loss[0] and hist.seconds > 0
    assert not model.training
    tokens, alphas = decoding.greedy_decode(model, feats, data.vocab, max_length=16)
    assert tokens.shape == (3, 16) and alphas.shape == (3, 16, 64)
    for i in range(3):
        assert data.vocab.decode(tokens[i]) == data.vocab.decode(captions[i])
        n = len(data.vocab.decode(captions[i]).split())
        assert tokens[i, n] == data.vocab.end
        assert np.all(tokens[i, n + 1:] == data.vocab.null)
        np.testing.assert_allclose(alphas[i, :n + 1].sum(-1), 1, rtol=1e-5)
        assert np.all(alphas[i, n + 1:] == 0)
    loss = cap.caption_loss(model, feats, np.stack(captions), np.arange(3))
    assert loss < 0.05


# --------------------------------------------------------------------------------------------
# Scheduled sampling
# --------------------------------------------------------------------------------------------
def test_teacher_forcing_schedules():
    i = np.arange(0, 3000, 10)
    for kind in cap.SCHEDULES:
        eps = cap.teacher_forcing_probability(i, kind)
        assert eps.shape == i.shape and np.all((eps >= 0) & (eps <= 1))
        assert np.all(np.diff(eps) <= 1e-12) and eps[0] > 0.9 and eps[-1] < 0.1
    assert cap.teacher_forcing_probability(500, "linear") == pytest.approx(0.5)
    assert cap.teacher_forcing_probability(5000, "linear", eps_min=0.1) == pytest.approx(0.1)
    assert cap.teacher_forcing_probability(100, "exponential", k=0.99) == pytest.approx(0.99 ** 100)
    assert cap.teacher_forcing_probability(0, "inverse sigmoid", k=10) == pytest.approx(10 / 11)
    assert cap.teacher_forcing_probability(
        200, "inverse sigmoid", k=100) == pytest.approx(100 / (100 + math.exp(2)))
    with pytest.raises(ValueError, match="kind must be"):
        cap.teacher_forcing_probability(1, "cosine")
    with pytest.raises(ValueError, match="0 < k < 1"):
        cap.teacher_forcing_probability(1, "exponential", k=1.5)
    with pytest.raises(ValueError, match="k >= 1"):
        cap.teacher_forcing_probability(1, "inverse sigmoid", k=0.5)


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------
def test_draw_captioner():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4)
    for ax, kind in zip(axes, cap.DECODERS, strict=False):
        cap.draw_captioner(ax, kind, words=("a", "red", "circle"))
        texts = [t.get_text() for t in ax.texts]
        assert "<START>" in texts and "<END>" in texts and "circle" in texts
    assert any("CNN(I)" in t.get_text() for t in axes[1].texts)
    with pytest.raises(ValueError, match="kind must be"):
        cap.draw_captioner(axes[3], "transformer")
    plt.close(fig)
