"""dlcv.captioning.captioners: lecture 12's encoder, captioners, decoding, BLEU, schedules, attention maps."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcv.captioning import captioners as cap
from dlcv.captioning.captions import make_caption_data
from dlcv.shapes import COLOR_NAMES


@pytest.fixture(scope="module")
def data():
    return make_caption_data(12, seed=3)


def _small_attention(V, C=6, seed=0):
    torch.manual_seed(seed)
    return cap.AttentionCaptioner(V, C, embed_dim=8, hidden_dim=16, attention_dim=8).eval()


def _small_showtell(V, D=5, seed=0, use_image=True):
    torch.manual_seed(seed)
    return cap.ShowTellCaptioner(V, D, embed_dim=8, hidden_dim=16, use_image=use_image).eval()


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
        cap.greedy_decode(torch.nn.Linear(2, 2), torch.randn(1, 2), data.vocab)


# --------------------------------------------------------------------------------------------
# Training, loss, decoding
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


@pytest.fixture(scope="module")
def memorised(data):
    """A tiny attention captioner that learned one caption for each of three images."""
    V = len(data.vocab)
    model = _small_attention(V, seed=1)
    torch.manual_seed(1)
    feats = torch.randn(3, 6, 8, 8)
    rows = [int(np.flatnonzero(data.image_index == i)[0]) for i in range(3)]
    hist = cap.train_captioner(model, feats, data.tokens[rows], np.arange(3), steps=250,
                               batch_size=3, lr=2e-2, progress=False)
    return model, feats, [data.tokens[r] for r in rows], hist


def test_training_memorises_and_greedy_decoding_reads_it_back(memorised, data):
    model, feats, captions, hist = memorised
    assert hist.loss[-1] < 0.05 < hist.loss[0] and hist.seconds > 0
    assert not model.training
    tokens, alphas = cap.greedy_decode(model, feats, data.vocab, max_length=16)
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


def test_greedy_decode_can_plant_a_word(memorised, data):
    model, feats, captions, _ = memorised
    tokens, _ = cap.greedy_decode(model, feats[:1], data.vocab, force={1: "green"})
    assert data.vocab.idx_to_word[tokens[0, 1]] == "green"
    with pytest.raises(ValueError, match="purple"):
        cap.greedy_decode(model, feats[:1], data.vocab, force={1: "purple"})


def _log_prob(model, feats, ids, vocab):
    """log p(ids, <END> | image) by teacher forcing."""
    seq = torch.tensor([[vocab.start, *ids, vocab.end]])
    with torch.no_grad():
        logits, _ = model(feats[None], seq[:, :-1])
    logp = F.log_softmax(logits, -1)[0]
    return float(logp[torch.arange(len(ids) + 1), seq[0, 1:]].sum())


@pytest.mark.parametrize("kind", ["showtell", "attention"])
def test_beam_search_scores_are_log_probabilities(kind, data):
    V = len(data.vocab)
    if kind == "showtell":
        model, feats = _small_showtell(V, seed=3), torch.randn(2, 5)
    else:
        model, feats = _small_attention(V, seed=3), torch.randn(2, 6, 8, 8)
    res = cap.lecture_beam_search(model, feats[0], data.vocab, beam_size=3, max_length=6)
    assert 1 <= len(res.captions) <= 3
    scores = [s for _, s in res.captions]
    assert scores == sorted(scores, reverse=True)
    for ids, score in res.captions:
        if len(ids) < 6:  # finished with <END>
            assert score == pytest.approx(_log_prob(model, feats[0], ids, data.vocab), abs=1e-4)
    first = res.steps[0]
    assert sum(keep for _, _, keep in first) == 3
    assert [s for _, s, _ in first] == sorted([s for _, s, _ in first], reverse=True)


def test_beam_of_one_is_greedy(memorised, data):
    model, feats, _, _ = memorised
    greedy, _ = cap.greedy_decode(model, feats, data.vocab)
    for i in range(3):
        res = cap.lecture_beam_search(model, feats[i], data.vocab, beam_size=1)
        assert data.vocab.decode(res.captions[0][0]) == data.vocab.decode(greedy[i])
    with pytest.raises(ValueError, match="one image"):
        cap.lecture_beam_search(model, feats, data.vocab)


# --------------------------------------------------------------------------------------------
# BLEU
# --------------------------------------------------------------------------------------------
def test_clipping_papinenis_example():
    refs = ["the cat is on the mat", "there is a cat on the mat"]
    assert cap.clipped_counts("the the the the the the the", refs, 1) == (2, 7)
    res = cap.lecture_bleu(["the the the the the the the"], [refs], max_n=1)
    assert res.bleu == pytest.approx(2 / 7)
    assert res.brevity_penalty == 1.0 and res.reference_length == 7


def test_bleu_perfect_short_and_corpus():
    refs = [["a red circle left of a blue square"]]
    assert cap.lecture_bleu(["a red circle left of a blue square"], refs).bleu == pytest.approx(1)
    # too short: every n-gram matches, the brevity penalty exp(1 - r/c) does the damage
    short = cap.lecture_bleu(["a red circle"], refs, max_n=2)
    assert short.precisions.tolist() == [1.0, 1.0]
    assert short.bleu == pytest.approx(math.exp(1 - 8 / 3))
    # no 4-gram match: 0 without smoothing, positive with it
    assert cap.lecture_bleu(["a blue circle left"], refs).bleu == 0.0
    assert cap.lecture_bleu(["a blue circle left"], refs, smooth=True).bleu > 0
    # corpus BLEU sums the counts over sentences before dividing
    two = cap.lecture_bleu(["a red circle", "a blue square"],
                           [["a red circle"], ["a green square"]], max_n=2)
    np.testing.assert_array_equal(two.matches, [5, 2])
    np.testing.assert_array_equal(two.totals, [6, 4])
    assert two.bleu == pytest.approx(math.sqrt(5 / 6 * 2 / 4))
    # the closest reference length, the shorter on a tie
    assert cap.closest_ref_length("a b c d", ["a b c", "a b c d e"]) == 3
    with pytest.raises(ValueError, match="LIST"):
        cap.lecture_bleu(["a"], ["a"])
    with pytest.raises(ValueError, match="one list of references per candidate"):
        cap.lecture_bleu(["a", "b"], [["a"]])


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
# Attention maps and the objects words name
# --------------------------------------------------------------------------------------------
def test_upsample_attention_keeps_mass_and_peak():
    alpha = np.zeros(64, np.float32)
    alpha[2 * 8 + 5] = 0.7   # row 2, column 5
    alpha[6 * 8 + 1] = 0.3
    up = cap.upsample_attention(alpha, (8, 8), 64)
    assert up.shape == (64, 64) and up.sum() == pytest.approx(1, rel=1e-5)
    r, c = np.unravel_index(up.argmax(), up.shape)
    assert r // 8 == 2 and c // 8 == 5
    many = cap.upsample_attention(np.full((3, 64), 1 / 64), (8, 8), (32, 48))
    assert many.shape == (3, 32, 48)
    np.testing.assert_allclose(many, 1 / (32 * 48), rtol=1e-5)
    assert cap.upsample_attention(alpha.reshape(8, 8), (8, 8), 16).shape == (16, 16)
    with pytest.raises(ValueError, match="alpha must be"):
        cap.upsample_attention(np.ones(10), (8, 8), 64)


def test_attention_on_objects_and_overlay():
    att = np.zeros((4, 4))
    att[0, 0], att[3, 3] = 3.0, 1.0
    m = np.zeros((1, 4, 4), bool)
    m[0, 0, 0] = True
    assert cap.attention_on_objects(att, m) == pytest.approx(0.75)
    assert cap.attention_on_objects(att, np.zeros((0, 4, 4), bool)) == 0.0
    img = np.ones((4, 4, 3))
    lit = cap.attention_overlay(img, att, floor=0.2)
    assert lit[0, 0, 0] == pytest.approx(1.0) and lit[1, 1, 0] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="must agree"):
        cap.attention_overlay(img, np.zeros((3, 3)))


def test_word_objects_on_true_captions(data):
    """Grammar captions are true, so every noun phrase names at least one object."""
    for i in range(len(data)):
        colors = [COLOR_NAMES[c] for c in data.scenes.colors[i]]
        for caption in data.captions[i]:
            words = caption.split()
            objs = cap.word_objects(words, data.scenes, i)
            assert len(objs) == len(words)
            for t, w in enumerate(words):
                if w in ("circle", "square", "triangle", "circles", "squares", "triangles"):
                    assert objs[t], (caption, t)
                if w in COLOR_NAMES:
                    assert objs[t] and all(colors[k] == w for k in objs[t]), caption
                if w in ("left", "right", "above", "below", "of", "the", "at", "is", "there",
                         "and", "top", "bottom", "middle", "on", "in"):
                    assert objs[t] == []
    # a phrase that fits nothing names nothing
    i = 0
    absent = [c for c in COLOR_NAMES if c not in [COLOR_NAMES[k] for k in data.scenes.colors[i]]]
    if absent:
        assert cap.word_objects(["a", absent[0], "circle"], data.scenes, i) == [[], [], []]
    with pytest.raises(ValueError, match="i must be"):
        cap.word_objects(["a"], data.scenes, 99)


def test_phrase_accuracy(data):
    refs = [c[0] for c in data.captions]
    share, n = cap.phrase_accuracy(refs, data.scenes)
    assert share == 1.0 and n >= len(refs)
    # a colour that no object of scene 0 has makes its phrases false
    absent = [c for c in COLOR_NAMES if c not in [COLOR_NAMES[k] for k in data.scenes.colors[0]]]
    if absent:
        bad = [f"a {absent[0]} circle left of a {absent[0]} square"] + refs[1:]
        share, n2 = cap.phrase_accuracy(bad, data.scenes)
        n0 = sum(w in cap.CLASS_WORDS for w in refs[0].split())
        assert n2 == n - n0 + 2 and share == pytest.approx((n2 - 2) / n2)
    with pytest.raises(ValueError, match="captions for"):
        cap.phrase_accuracy(refs[:2], data.scenes)


# --------------------------------------------------------------------------------------------
# Drawings
# --------------------------------------------------------------------------------------------
def test_drawings(memorised, data):
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
    model, feats, _, _ = memorised
    res = cap.lecture_beam_search(model, feats[0], data.vocab, beam_size=2, max_length=5)
    ax = axes[3]
    ax.clear()
    cap.draw_beam_search(ax, res, data.vocab, steps=2)
    texts = [t.get_text() for t in ax.texts]
    ids, score, _ = res.steps[0][0]
    assert f"{data.vocab.idx_to_word[ids[-1]]}  {score:.2f}" in texts
    assert "step 1" in texts and "step 2" in texts and "step 3" not in texts
    plt.close(fig)
