"""dlcv.captioning.captions: grammar captions of the shapes scenes, vocabulary, padding."""

import numpy as np
import pytest

from dlcv.captioning.captions import (
    END,
    NULL,
    START,
    Thing,
    Vocabulary,
    caption_scenes,
    count_phrase,
    make_caption_data,
    place,
    relation,
    scene_things,
    tokenize,
)
from dlcv.shapes import COLOR_NAMES, make_scenes


@pytest.fixture(scope="module")
def data():
    return make_caption_data(300, seed=5)


def test_tokenize():
    assert tokenize("A large Red circle, left of a square.") == [
        "a", "large", "red", "circle", "left", "of", "a", "square"]
    with pytest.raises(TypeError, match="string"):
        tokenize(3)


def test_relations_and_places():
    a, b = Thing("small", "red", "circle", 10, 30), Thing("large", "blue", "square", 40, 34)
    assert relation(a, b) == "left of" and relation(b, a) == "right of"
    c = Thing("small", "green", "triangle", 12, 60)
    assert relation(a, c) == "above" and relation(c, a) == "below"
    assert place(Thing("s", "red", "circle", 5, 5), 64) == "at the top left"
    assert place(Thing("s", "red", "circle", 32, 60), 64) == "at the bottom"
    assert place(Thing("s", "red", "circle", 60, 32), 64) == "on the right"
    assert place(Thing("s", "red", "circle", 32, 32), 64) == "in the middle"
    assert count_phrase(["circle", "square", "circle"]) == "two circles and a square"
    assert count_phrase(["triangle"]) == "a triangle"


def test_captions_are_true_of_their_scene(data):
    """Every colour, class and count word in a caption is true of the scene it describes."""
    for i in range(len(data)):
        things = scene_things(data.scenes, i)
        colors = {t.color for t in things}
        kinds = {t.kind for t in things}
        assert 1 <= len(data.captions[i]) <= 5
        assert len(set(data.captions[i])) == len(data.captions[i])
        for cap in data.captions[i]:
            words = tokenize(cap)
            assert {w for w in words if w in COLOR_NAMES} <= colors, (cap, things)
            assert {w for w in words if w in ("circle", "square", "triangle")} <= kinds
            if words[0] in ("two", "three", "four"):
                n = ("two", "three", "four").index(words[0]) + 2
                assert sum(t.kind == words[1][:-1] for t in things) == n


def test_relations_agree_with_the_boxes():
    scenes = make_scenes(100, seed=2, min_objects=2, max_objects=2)
    caps = caption_scenes(scenes, seed=0)
    checked = 0
    for i, cs in enumerate(caps):
        things = scene_things(scenes, i)
        for cap in cs:
            for rel in ("left of", "right of", "above", "below"):
                if f" {rel} " in cap and things[0].kind != things[1].kind:
                    first = next(t for t in things if t.kind in cap.split(rel)[0].split()[-1])
                    second = next(t for t in things if t is not first)
                    assert relation(first, second) == rel, (cap, things)
                    checked += 1
    assert checked > 50


def test_vocabulary_round_trip(data):
    v = data.vocab
    assert v.idx_to_word[:4] == [NULL, START, END, "<UNK>"] and v.null == 0
    assert {"red", "circle", "left", "above", "two"} <= set(v.word_to_idx)
    for cap in data.captions[0]:
        assert v.decode(v.encode(cap)) == " ".join(tokenize(cap))
    assert v.encode("a purple circle")[2] == v.word_to_idx["<UNK>"]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        v.decode([len(v)])


def test_tokens_and_mask(data):
    M = sum(len(c) for c in data.captions)
    assert data.tokens.shape == (M, 16) and data.tokens.dtype == np.int64
    assert (data.tokens[:, 0] == data.vocab.start).all()
    lengths = data.mask.sum(axis=1)
    ends = data.tokens[np.arange(M), lengths - 1]
    assert (ends == data.vocab.end).all()
    assert (data.tokens[~data.mask] == data.vocab.null).all()
    assert np.bincount(data.image_index, minlength=len(data)).min() >= 1
    i = int(data.image_index[7])
    assert data.vocab.decode(data.tokens[7]) in [" ".join(tokenize(c)) for c in data.captions[i]]


def test_padding_and_cutting():
    v = Vocabulary(["a", "red", "circle"])
    tokens, mask = v.encode_batch(["a red circle", "a circle"])
    assert tokens.shape == (2, 5)
    np.testing.assert_array_equal(mask.sum(1), [5, 4])
    cut, _ = v.encode_batch(["a red circle"], max_length=3)
    assert list(cut[0]) == [v.start, v.word_to_idx["a"], v.word_to_idx["red"]]


def test_deterministic_and_shared_vocabulary(data):
    again = make_caption_data(300, seed=5)
    assert again.captions == data.captions
    test = make_caption_data(50, seed=99, vocab=data.vocab)
    assert test.vocab is data.vocab
    assert test.captions != data.captions[:50]


def test_language_alone_cannot_caption():
    """Captions depend on the image: the most common caption matches few scenes."""
    d = make_caption_data(500, seed=1)
    flat = [c for cs in d.captions for c in cs]
    from collections import Counter

    top, count = Counter(flat).most_common(1)[0]
    assert count / len(d) < 0.15, top
