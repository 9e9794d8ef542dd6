"""Tests for dlcv/transformers/captioner.py: causality, step-by-step decoding against teacher
forcing, and lecture 13's training and decoding functions on it."""

import numpy as np
import pytest
import torch

from dlcv.captioning.captioners import train_captioner
from dlcv.captioning.captions import Vocabulary
from dlcv.captioning.decoding import greedy_decode
from dlcv.transformers.captioner import TransformerCaptioner


@pytest.fixture
def model():
    return TransformerCaptioner(vocab_size=9, feature_channels=5, grid=2, dim=8, heads=2,
                                layers=2, max_length=6, seed=0).eval()


def feats(n=3, seed=0):
    return torch.randn(n, 5, 2, 2, generator=torch.Generator().manual_seed(seed))


def test_shapes_and_weights(model):
    tokens = torch.tensor([[1, 4, 5, 6], [1, 7, 2, 0], [1, 5, 5, 5]])
    logits, alphas = model(feats(), tokens)
    assert logits.shape == (3, 4, 9) and alphas.shape == (3, 4, 4)
    np.testing.assert_allclose(alphas.sum(-1).detach(), 1, atol=1e-6)
    att = model.attention()
    assert att["self"].shape == (3, 2, 2, 4, 4) and att["cross"].shape == (3, 2, 2, 4, 4)
    assert float(att["self"].triu(1).abs().max()) == 0.0         # causal
    np.testing.assert_allclose(att["cross"][:, -1].mean(1), alphas.detach(), atol=1e-6)


def test_a_later_word_never_changes_an_earlier_prediction(model):
    a = torch.tensor([[1, 4, 5, 6, 7]])
    b = torch.tensor([[1, 4, 5, 8, 3]])
    with torch.no_grad():
        la, _ = model(feats(1), a)
        lb, _ = model(feats(1), b)
    np.testing.assert_allclose(la[:, :3], lb[:, :3], atol=1e-6)
    assert not torch.allclose(la[:, 3:], lb[:, 3:])


def test_step_by_step_equals_teacher_forcing(model):
    f = feats(2, seed=1)
    tokens = torch.tensor([[1, 4, 5, 6], [1, 7, 3, 8]])
    with torch.no_grad():
        full, alphas = model(f, tokens)
        state = model.init_state(f)
        for t in range(4):
            logits, state, alpha = model.step(state, tokens[:, t])
            np.testing.assert_allclose(logits, full[:, t], atol=1e-5)
            np.testing.assert_allclose(alpha, alphas[:, t], atol=1e-6)
    assert state[1].shape == (2, 4)


def test_lecture_13s_training_and_decoding_work_with_it():
    vocab = Vocabulary(["red", "circle", "square"])
    V = len(vocab)
    # two "images": caption "red circle" for image 0, "red square" for image 1
    tok, _ = vocab.encode_batch(["red circle", "red square"])
    f = torch.zeros(2, 5, 2, 2)
    f[0, 0], f[1, 1] = 1.0, 1.0
    model = TransformerCaptioner(V, 5, grid=2, dim=16, heads=2, layers=1, max_length=6, seed=0)
    hist = train_captioner(model, f, tok, np.array([0, 1]), steps=120, batch_size=2, lr=1e-2,
                           progress=False)
    assert np.mean(hist.loss[-10:]) < 0.1 * hist.loss[0]
    out, alphas = greedy_decode(model, f, vocab, max_length=5)
    assert [vocab.decode(t) for t in out] == ["red circle", "red square"]
    assert alphas.shape[0] == 2 and alphas.shape[2] == 4


@pytest.mark.parametrize("call, match", [
    (lambda m: m(torch.ones(1, 4, 2, 2), torch.ones(1, 2).long()), r"feats must be \(N, 5, 2, 2\)"),
    (lambda m: m(feats(1), torch.ones(1, 7).long()), "at most 6"),
    (lambda m: m(feats(1), torch.full((1, 2), 9)), "token ids"),
    (lambda m: m(feats(2), torch.ones(3, 2).long()), "tokens_in must be"),
])
def test_bad_arguments(model, call, match):
    with pytest.raises(ValueError, match=match):
        call(model)
