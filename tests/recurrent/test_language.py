"""Tests for dlcv/recurrent/language.py: the character-level language model, its training by
truncated BPTT, temperature and sampling. References: closed forms, the greedy choice by hand."""

import math

import numpy as np
import pytest
import torch

from dlcv.recurrent import language as LM


# ------------------------------------------------------------------------------------------
# the character model
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def text():
    return LM.load_text()


def test_load_text_is_ascii_prose(text):
    assert 200_000 < len(text) < 400_000
    assert text.isascii()
    assert not any(line.startswith((" ", "|", "+")) for line in text.split("\n"))
    assert "exception" in text and "\n\n\n" not in text
    assert len(LM.load_text(prose_only=False)) > len(text)


def test_char_vocab_round_trip(text):
    vocab = LM.CharVocab(text)
    assert vocab.size == len(set(text)) == len(vocab)
    ids = vocab.encode("The class")
    assert ids.dtype == np.int64 and vocab.decode(ids) == "The class"
    assert vocab.chars == sorted(vocab.chars)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vocab.encode("caf\u00e9")
    with pytest.raises(ValueError, match="non-empty"):
        LM.CharVocab("")


def test_stream_batches_are_contiguous():
    ids = np.arange(103)
    S = LM.stream_batches(ids, 4)
    assert S.shape == (4, 25)
    np.testing.assert_array_equal(S[1].numpy(), np.arange(25, 50))
    with pytest.raises(ValueError, match="too few"):
        LM.stream_batches(np.arange(5), 4)


def test_char_lm_shapes_training_and_evaluation():
    small = "the cat sat on the mat. the dog sat on the log. " * 60
    vocab = LM.CharVocab(small)
    ids = vocab.encode(small)
    model = LM.CharLM(vocab.size, embed_dim=8, hidden_size=24, cell="gru")
    logits, state = model(torch.as_tensor(ids[:10])[None])
    assert logits.shape == (1, 10, vocab.size) and state.shape == (1, 1, 24)
    before = LM.evaluate_char_lm(model, ids, batch_size=4, chunk=32)
    assert before == pytest.approx(math.log(vocab.size), abs=0.3)  # untrained: near uniform
    hist = LM.train_char_lm(model, ids, steps=120, batch_size=4, chunk=16, lr=1e-2,
                            progress=False, val_ids=ids[:600], val_every=60)
    assert len(hist.loss) == len(hist.grad_norm) == 120
    assert hist.val_steps == [60, 120]
    after = LM.evaluate_char_lm(model, ids, batch_size=4, chunk=32)
    assert after < before - 0.8
    assert hist.seconds > 0 and not model.training
    with pytest.raises(ValueError, match="chunk"):
        LM.train_char_lm(model, ids[:40], steps=1, batch_size=4, chunk=16, progress=False)


def test_lstm_char_lm_state_is_a_pair():
    model = LM.CharLM(5, embed_dim=3, hidden_size=4, num_layers=2)
    _, (h, c) = model(torch.zeros(2, 3, dtype=torch.long))
    assert h.shape == (2, 2, 4) and c.shape == (2, 2, 4)


def test_temperature_and_sampling():
    small = "abcabcabcabd " * 40
    vocab = LM.CharVocab(small)
    model = LM.CharLM(vocab.size, embed_dim=4, hidden_size=16, seed=1)
    LM.train_char_lm(model, vocab.encode(small), steps=60, batch_size=4, chunk=12, lr=2e-2,
                     progress=False)
    p1 = LM.next_char_probs(model, vocab, "ab", 1.0)
    cold = LM.next_char_probs(model, vocab, "ab", 0.1)
    hot = LM.next_char_probs(model, vocab, "ab", 5.0)
    for p in (p1, cold, hot):
        assert p.shape == (vocab.size,) and p.sum() == pytest.approx(1.0)
    assert cold.max() > p1.max() > hot.max()
    # p_tau is proportional to p_1 ** (1 / tau)
    ref = p1 ** (1 / 0.5) / (p1 ** (1 / 0.5)).sum()
    np.testing.assert_allclose(LM.next_char_probs(model, vocab, "ab", 0.5), ref, rtol=1e-9)
    s = LM.sample(model, vocab, "ab", length=30, temperature=1.0, seed=3)
    assert len(s) == 30 and set(s) <= set(vocab.chars)
    assert s == LM.sample(model, vocab, "ab", length=30, temperature=1.0, seed=3)
    # a tiny temperature is the greedy choice, fed back step by step
    greedy, prompt = "", "ab"
    for _ in range(10):
        p = LM.next_char_probs(model, vocab, prompt + greedy, 1.0)
        greedy += vocab.chars[int(np.argmax(p))]
    assert LM.sample(model, vocab, "ab", length=10, temperature=1e-4, seed=0) == greedy
    with pytest.raises(ValueError, match="temperature"):
        LM.sample(model, vocab, "ab", temperature=0)
    with pytest.raises(ValueError, match="prompt"):
        LM.next_char_probs(model, vocab, "")

