"""dlcv.captioning.decoding: greedy decoding, beam search, BLEU, the drawing of a beam search."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcv.captioning import decoding

from .conftest import _small_attention, _small_showtell


# --------------------------------------------------------------------------------------------
# Greedy decoding and beam search
# --------------------------------------------------------------------------------------------
def test_greedy_decode_can_plant_a_word(memorised, data):
    model, feats, captions, _ = memorised
    tokens, _ = decoding.greedy_decode(model, feats[:1], data.vocab, force={1: "green"})
    assert data.vocab.idx_to_word[tokens[0, 1]] == "green"
    with pytest.raises(ValueError, match="purple"):
        decoding.greedy_decode(model, feats[:1], data.vocab, force={1: "purple"})


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
    res = decoding.lecture_beam_search(model, feats[0], data.vocab, beam_size=3, max_length=6)
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
    greedy, _ = decoding.greedy_decode(model, feats, data.vocab)
    for i in range(3):
        res = decoding.lecture_beam_search(model, feats[i], data.vocab, beam_size=1)
        assert data.vocab.decode(res.captions[0][0]) == data.vocab.decode(greedy[i])
    with pytest.raises(ValueError, match="one image"):
        decoding.lecture_beam_search(model, feats, data.vocab)


# --------------------------------------------------------------------------------------------
# BLEU
# --------------------------------------------------------------------------------------------
def test_clipping_papinenis_example():
    refs = ["the cat is on the mat", "there is a cat on the mat"]
    assert decoding.clipped_counts("the the the the the the the", refs, 1) == (2, 7)
    res = decoding.lecture_bleu(["the the the the the the the"], [refs], max_n=1)
    assert res.bleu == pytest.approx(2 / 7)
    assert res.brevity_penalty == 1.0 and res.reference_length == 7


def test_bleu_perfect_short_and_corpus():
    refs = [["a red circle left of a blue square"]]
    assert decoding.lecture_bleu(["a red circle left of a blue square"], refs).bleu == pytest.approx(1)
    # too short: every n-gram matches, the brevity penalty exp(1 - r/c) does the damage
    short = decoding.lecture_bleu(["a red circle"], refs, max_n=2)
    assert short.precisions.tolist() == [1.0, 1.0]
    assert short.bleu == pytest.approx(math.exp(1 - 8 / 3))
    # no 4-gram match: 0 without smoothing, positive with it
    assert decoding.lecture_bleu(["a blue circle left"], refs).bleu == 0.0
    assert decoding.lecture_bleu(["a blue circle left"], refs, smooth=True).bleu > 0
    # corpus BLEU sums the counts over sentences before dividing
    two = decoding.lecture_bleu(["a red circle", "a blue square"],
                                [["a red circle"], ["a green square"]], max_n=2)
    np.testing.assert_array_equal(two.matches, [5, 2])
    np.testing.assert_array_equal(two.totals, [6, 4])
    assert two.bleu == pytest.approx(math.sqrt(5 / 6 * 2 / 4))
    # the closest reference length, the shorter on a tie
    assert decoding.closest_ref_length("a b c d", ["a b c", "a b c d e"]) == 3
    with pytest.raises(ValueError, match="LIST"):
        decoding.lecture_bleu(["a"], ["a"])
    with pytest.raises(ValueError, match="one list of references per candidate"):
        decoding.lecture_bleu(["a", "b"], [["a"]])


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------
def test_draw_beam_search(memorised, data):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    model, feats, _, _ = memorised
    res = decoding.lecture_beam_search(model, feats[0], data.vocab, beam_size=2, max_length=5)
    decoding.draw_beam_search(ax, res, data.vocab, steps=2)
    texts = [t.get_text() for t in ax.texts]
    ids, score, _ = res.steps[0][0]
    assert f"{data.vocab.idx_to_word[ids[-1]]}  {score:.2f}" in texts
    assert "step 1" in texts and "step 2" in texts and "step 3" not in texts
    plt.close(fig)
