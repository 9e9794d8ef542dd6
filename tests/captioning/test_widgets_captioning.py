"""Tests for dlcv/captioning/widgets.py: the attention-map view, without a browser."""


import numpy as np
import pytest
import torch

from dlcv.captioning import attention_maps, decoding
from dlcv.captioning import captioners as cap
from dlcv.captioning.captions import make_caption_data
from dlcv.captioning.widgets import MAX_WORDS, AttentionView, heat_overlay
from dlcv.shapes import COLOR_NAMES


@pytest.fixture(scope="module")
def setup():
    data = make_caption_data(6, seed=4)
    torch.manual_seed(0)
    model = cap.AttentionCaptioner(len(data.vocab), 6, embed_dim=8, hidden_dim=16,
                                   attention_dim=8).eval()
    feats = torch.randn(6, 6, 8, 8)
    return data, model, feats


@pytest.fixture()
def view(setup):
    data, model, feats = setup
    return AttentionView(model, feats, data.scenes, data.captions, data.vocab, scene=0, word=0)


def test_initial_state(view, setup):
    data, model, feats = setup
    assert view.renders == 1
    tokens, alphas = decoding.greedy_decode(model, feats[:1], data.vocab)
    words = data.vocab.decode(tokens[0]).split()[:MAX_WORDS]
    assert view.words == words and len(words) >= 1
    assert view.word.max == len(words) - 1
    assert view.maps.shape == (len(words), 64, 64)
    np.testing.assert_allclose(view.maps.sum(axis=(1, 2)), 1, rtol=1e-4)
    # the raw grid shows the weights of word 0, scaled to its maximum
    np.testing.assert_allclose(view.grid_im.get_array(), alphas[0, 0].reshape(8, 8), rtol=1e-5)
    # the strip shows one panel per word, the selected one framed
    assert sum(ax.get_visible() for ax in view.strip_axes) == len(words)
    assert view.strip_titles[0].get_text() == words[0] and view.strip_frames[0].get_visible()
    assert data.captions[0][0] in view.readout.value and "references" in view.readout.value
    assert view._repr_mimebundle_()["image/png"]
    assert view.image in view.widget.children and view.readout in view.widget.children


def test_moving_the_word_changes_the_maps(view):
    if len(view.words) < 2:
        pytest.skip("the untrained model wrote a single word")
    renders = view.renders
    before = np.array(view.heat_im.get_array(), copy=True)
    view.word.value = 1
    assert view.renders == renders + 1
    assert view.strip_frames[1].get_visible() and not view.strip_frames[0].get_visible()
    assert view.strip_titles[1].get_fontweight() == "bold"
    np.testing.assert_allclose(view.heat_im.get_array(), heat_overlay(
        view.scenes.images[0], view.maps[1]), rtol=1e-5)
    assert not np.allclose(before, view.heat_im.get_array())
    assert f"[{view.words[1]}]" in view.readout.value


def test_changing_the_image_decodes_and_keeps_the_word_in_range(view, setup):
    data, model, feats = setup
    view.word.value = view.word.max
    renders = view.renders
    view.scene.value = 3
    assert view.renders == renders + 1                   # one update, not two
    tokens, _ = decoding.greedy_decode(model, feats[3:4], data.vocab)
    assert view.words == data.vocab.decode(tokens[0]).split()[:MAX_WORDS]
    assert view.word.max == len(view.words) - 1 and view.word.value <= view.word.max
    assert set(view._cache) == {0, 3}
    assert data.captions[3][0] in view.readout.value
    np.testing.assert_allclose(view.img_im.get_array(), data.scenes.images[3])


def test_named_objects_get_boxes_and_a_share(view, setup):
    data, _, _ = setup
    i = 2
    k = 0
    color = COLOR_NAMES[data.scenes.colors[i][k]]
    kind = data.scenes.class_names[data.scenes.labels[i][k]]
    words = ["a", color, kind, "at", "the", "top"]
    raw = np.full((len(words), 8, 8), 1 / 64, np.float32)
    maps = attention_maps.upsample_attention(raw, (8, 8), (64, 64))
    view._cache[i] = (words, maps, raw)                  # a caption we know names object k
    view.scene.value = i
    view.word.value = 1
    assert k in view.named and view.named_boxes[0].get_visible()
    x1, y1, x2, y2 = data.scenes.boxes[i][view.named[0]]
    assert view.named_boxes[0].get_bbox().bounds == pytest.approx((x1, y1, x2 - x1, y2 - y1))
    masks = data.scenes.masks[i][view.named]
    assert view.on_objects == pytest.approx(masks.any(0).mean(), rel=1e-4)  # uniform attention
    assert "attention on the object" in view.readout.value
    view.word.value = 3                                  # "at" names nothing
    assert view.named == [] and view.on_objects is None
    assert not any(b.get_visible() for b in view.named_boxes)


def test_bad_arguments(setup):
    data, model, feats = setup
    st = cap.ShowTellCaptioner(len(data.vocab), 5)
    with pytest.raises(TypeError, match="attention captioner"):
        AttentionView(st, feats, data.scenes, data.captions, data.vocab)
    with pytest.raises(ValueError, match="must agree"):
        AttentionView(model, feats[:3], data.scenes, data.captions, data.vocab)
    with pytest.raises(ValueError, match=r"\(N, C, h, w\)"):
        AttentionView(model, feats[:, 0], data.scenes, data.captions, data.vocab)
    with pytest.raises(ValueError, match="scene must be"):
        AttentionView(model, feats, data.scenes, data.captions, data.vocab, scene=6)


def test_constructor_opens_on_the_scene_it_is_given(setup):
    data, model, feats = setup
    v = AttentionView(model, feats, data.scenes, data.captions, data.vocab, scene=1)
    assert v.scene.value == 1 and v.renders == 1
    assert data.captions[1][0] in v.readout.value
