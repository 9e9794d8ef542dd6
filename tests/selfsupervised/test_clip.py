"""Tests for dlcv/selfsupervised/clip.py: the bag-of-words text encoder, prompt embeddings and
ensembles, zero-shot scores, a short training run, the caches."""

import pytest
import torch

from dlcv.captioning.captions import Vocabulary
from dlcv.selfsupervised import clip as CL


def test_text_encoder_is_a_bag_of_words():
    vocab = Vocabulary(["a", "red", "circle", "blue"])
    enc = CL.TextEncoder(len(vocab), dim=6, out=4, seed=0)
    tok, mask = (torch.from_numpy(x) for x in vocab.encode_batch(
        ["a red circle", "circle red a", "a blue circle"], max_length=8))
    out = enc(tok, mask)
    assert out.shape == (3, 4)
    torch.testing.assert_close(out[0], out[1])               # word order is not seen
    assert not torch.allclose(out[0], out[2])
    # padding does not matter
    tok2, mask2 = (torch.from_numpy(x) for x in vocab.encode_batch(["a red circle"], 5))
    torch.testing.assert_close(enc(tok2, mask2)[0], out[0])
    with pytest.raises(ValueError, match="TextEncoder"):
        enc(tok, mask[:, :3])


def test_prompts_ensembles_and_scores():
    vocab = Vocabulary(["a", "red", "circle", "square"])
    model = CL.ClipModel(len(vocab), width=2, dim=5, seed=0).eval()
    E = CL.embed_prompts(model, vocab, ["a red circle", "a red square", "a circle"])
    torch.testing.assert_close(E.norm(dim=1), torch.ones(3))
    G = CL.ensemble(E, [[0, 1], [2]])
    torch.testing.assert_close(G[1], E[2])
    want = (E[0] + E[1]) / (E[0] + E[1]).norm()
    torch.testing.assert_close(G[0], want)
    x = torch.rand(4, 3, 16, 16)
    s = CL.zero_shot_scores(model, x, E)
    u = torch.nn.functional.normalize(model.image(x), dim=1)
    torch.testing.assert_close(s, u.detach() @ E.T)
    assert float(s.abs().max()) <= 1 + 1e-6
    with pytest.raises(ValueError, match="groups"):
        CL.ensemble(E, [[]])
    with pytest.raises(ValueError, match="prompts"):
        CL.embed_prompts(model, vocab, [])


def test_fit_clip_learns_to_pair_colours_with_words():
    vocab = Vocabulary(["a", "red", "blue", "thing"])
    g = torch.Generator().manual_seed(0)
    red = torch.arange(32) % 2 == 0
    images = 0.1 * torch.rand(32, 3, 8, 8, generator=g)
    images[red, 0] += 0.8
    images[~red, 2] += 0.8
    captions = ["a red thing", "a blue thing"]
    tokens, mask = (torch.from_numpy(x) for x in vocab.encode_batch(captions))
    caption_of = [[0] if r else [1] for r in red.tolist()]
    model = CL.ClipModel(len(vocab), width=2, dim=8, seed=0)
    log = CL.fit_clip(model, images, tokens, mask, caption_of, steps=60, batch_size=8)
    assert log.steps == 60 and not model.training
    E = CL.embed_prompts(model, vocab, captions)
    pred = CL.zero_shot_scores(model, images, E).argmax(1)
    assert torch.equal(pred, (~red).long())
    with pytest.raises(ValueError, match="caption_of"):
        CL.fit_clip(model, images, tokens, mask, caption_of[:3], steps=1)


def test_cached_models():
    m, vocab = CL.clip_model(seed=0, n_train=40, steps=2, width=2)
    assert (m, vocab) == CL.clip_model(seed=0, n_train=40, steps=2, width=2)
    assert m.log.steps == 2 and "circle" in vocab.word_to_idx
    enc, head = CL.supervised_scenes(seed=0, n_train=40, steps=2, width=2)
    assert enc is CL.supervised_scenes(seed=0, n_train=40, steps=2, width=2)[0]
    assert head.out_features <= 12
