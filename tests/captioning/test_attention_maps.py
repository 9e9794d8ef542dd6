"""dlcv.captioning.attention_maps: attention maps on the image and the objects words name."""

import numpy as np
import pytest

from dlcv.captioning import attention_maps
from dlcv.shapes import COLOR_NAMES


# --------------------------------------------------------------------------------------------
# Attention maps and the objects words name
# --------------------------------------------------------------------------------------------
def test_upsample_attention_keeps_mass_and_peak():
    alpha = np.zeros(64, np.float32)
    alpha[2 * 8 + 5] = 0.7   # row 2, column 5
    alpha[6 * 8 + 1] = 0.3
    up = attention_maps.upsample_attention(alpha, (8, 8), 64)
    assert up.shape == (64, 64) and up.sum() == pytest.approx(1, rel=1e-5)
    r, c = np.unravel_index(up.argmax(), up.shape)
    assert r // 8 == 2 and c // 8 == 5
    many = attention_maps.upsample_attention(np.full((3, 64), 1 / 64), (8, 8), (32, 48))
    assert many.shape == (3, 32, 48)
    np.testing.assert_allclose(many, 1 / (32 * 48), rtol=1e-5)
    assert attention_maps.upsample_attention(alpha.reshape(8, 8), (8, 8), 16).shape == (16, 16)
    with pytest.raises(ValueError, match="alpha must be"):
        attention_maps.upsample_attention(np.ones(10), (8, 8), 64)


def test_attention_on_objects_and_overlay():
    att = np.zeros((4, 4))
    att[0, 0], att[3, 3] = 3.0, 1.0
    m = np.zeros((1, 4, 4), bool)
    m[0, 0, 0] = True
    assert attention_maps.attention_on_objects(att, m) == pytest.approx(0.75)
    assert attention_maps.attention_on_objects(att, np.zeros((0, 4, 4), bool)) == 0.0
    img = np.ones((4, 4, 3))
    lit = attention_maps.attention_overlay(img, att, floor=0.2)
    assert lit[0, 0, 0] == pytest.approx(1.0) and lit[1, 1, 0] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="must agree"):
        attention_maps.attention_overlay(img, np.zeros((3, 3)))


def test_word_objects_on_true_captions(data):
    """Grammar captions are true, so every noun phrase names at least one object."""
    for i in range(len(data)):
        colors = [COLOR_NAMES[c] for c in data.scenes.colors[i]]
        for caption in data.captions[i]:
            words = caption.split()
            objs = attention_maps.word_objects(words, data.scenes, i)
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
        assert attention_maps.word_objects(["a", absent[0], "circle"], data.scenes, i) == [[], [], []]
    with pytest.raises(ValueError, match="i must be"):
        attention_maps.word_objects(["a"], data.scenes, 99)


def test_phrase_accuracy(data):
    refs = [c[0] for c in data.captions]
    share, n = attention_maps.phrase_accuracy(refs, data.scenes)
    assert share == 1.0 and n >= len(refs)
    # a colour that no object of scene 0 has makes its phrases false
    absent = [c for c in COLOR_NAMES if c not in [COLOR_NAMES[k] for k in data.scenes.colors[0]]]
    if absent:
        bad = [f"a {absent[0]} circle left of a {absent[0]} square"] + refs[1:]
        share, n2 = attention_maps.phrase_accuracy(bad, data.scenes)
        n0 = sum(w in attention_maps.CLASS_WORDS for w in refs[0].split())
        assert n2 == n - n0 + 2 and share == pytest.approx((n2 - 2) / n2)
    with pytest.raises(ValueError, match="captions for"):
        attention_maps.phrase_accuracy(refs[:2], data.scenes)
