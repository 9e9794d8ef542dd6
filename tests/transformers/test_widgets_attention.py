"""Tests for dlcv/transformers/widgets.py: the attention view, without a browser."""

import numpy as np
import pytest

from dlcv.transformers.vit import attention_maps
from dlcv.transformers.widgets import MEAN, AttentionView


@pytest.fixture(scope="module")
def view(quick_vit):
    model, d = quick_vit
    return AttentionView(model, d.X_test[:12], d.y_test[:12], d.class_names, index=2)


def test_first_figure_is_the_class_token_of_block_1(view, quick_vit):
    model, d = quick_vit
    assert view.renders >= 1
    W = attention_maps(model, __import__("torch").as_tensor(d.X_test[2:3]))[0].numpy()
    w = W[0].mean(0)[0]
    np.testing.assert_allclose(view.stats["weights"], w, atol=1e-6)
    np.testing.assert_allclose([b.get_height() for b in view.bars], w, atol=1e-6)
    grid = w[1:].reshape(4, 4)
    np.testing.assert_allclose(view.overlay.get_array(), grid / grid.max(), atol=1e-6)
    np.testing.assert_allclose(view.digit.get_array(), d.X_test[2, 0])
    assert view.box.get_linestyle() == "--"
    assert "class token" in view.readout.value and f"label {d.y_test[2]}" in view.title.get_text()


def test_every_control_changes_the_figure(view, quick_vit):
    model, d = quick_vit
    import torch

    def state():
        return (np.array(view.stats["weights"]).copy(), np.array(view.digit.get_array()).copy(),
                view.box.get_bbox().bounds, view.bar_title.get_text())

    for control, value in ((view.index, 5), (view.layer, 1), (view.head, 0), (view.query, 6)):
        before, renders = state(), view.renders
        control.value = value
        after = state()
        assert view.renders == renders + 1
        assert any(not np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
                   for a, b in zip(before, after, strict=True)), control.description
    W = attention_maps(model, torch.as_tensor(d.X_test[5:6]))[0].numpy()
    np.testing.assert_allclose(view.stats["weights"], W[1, 0, 6], atol=1e-6)
    # query 6 is patch 5: row 1, column 1 of the 4 x 4 grid, a 2 x 2 square of pixels
    np.testing.assert_allclose(view.box.get_bbox().bounds, (1.5, 1.5, 2, 2))
    assert view.stats["top_patch"] == int(np.argmax(W[1, 0, 6, 1:]))
    view.head.value = MEAN
    np.testing.assert_allclose(view.stats["weights"], W[1].mean(0)[6], atol=1e-6)
    assert "patch 5" in view.readout.value


def test_bad_arguments(quick_vit):
    model, d = quick_vit
    with pytest.raises(ValueError, match="query"):
        AttentionView(model, d.X_test[:3], d.y_test[:3], d.class_names, query=17)
    with pytest.raises(ValueError, match="head"):
        AttentionView(model, d.X_test[:3], d.y_test[:3], d.class_names, head=2)
    with pytest.raises(ValueError, match=r"X must be \(N, C, H, W\)"):
        AttentionView(model, d.X_test[:3, 0], d.y_test[:3], d.class_names)


# ---------------------------------------------------------------------------------------------
# CaptionAttentionView
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def caption_view():
    import torch

    from dlcv.captioning.captioners import train_captioner
    from dlcv.captioning.captions import make_caption_data
    from dlcv.transformers.captioner import TransformerCaptioner
    from dlcv.transformers.widgets import CaptionAttentionView

    data = make_caption_data(12, seed=0)
    feats = torch.randn(12, 6, 8, 8, generator=torch.Generator().manual_seed(0))
    model = TransformerCaptioner(len(data.vocab), 6, dim=16, heads=2, layers=2, seed=0)
    train_captioner(model, feats, data.tokens, data.image_index, steps=60, batch_size=16,
                    progress=False)
    return CaptionAttentionView(model, feats, data.scenes, data.vocab, index=0), model, feats, data


def test_caption_view_shows_the_captions_attention(caption_view):
    import torch

    view, model, feats, data = caption_view
    words, att = view.caption(0)
    assert view.stats["caption"] == " ".join(words) and len(words) >= 2
    ids = [data.vocab.start] + [data.vocab.word_to_idx[w] for w in words]
    with torch.no_grad():
        model(feats[:1], torch.tensor([ids]))
    cross = model.attention()["cross"][0, 0].mean(0)[0].numpy()
    np.testing.assert_allclose(view.stats["cross"], cross, atol=1e-6)
    np.testing.assert_allclose(view.stats["self"], [1.0], atol=1e-6)   # the first query: <START>
    np.testing.assert_allclose(view.scene.get_array(), data.scenes.images[0])
    assert [o[1] for o in view.word.options] == list(range(len(words)))
    assert f"'{words[0]}'" in view.title.get_text()


def test_caption_view_every_control_changes_the_figure(caption_view):
    view, *_ = caption_view

    def state():
        return (np.array(view.heat.get_array()).copy(), [b.get_height() for b in view.bars],
                view.bar_title.get_text(), np.array(view.scene.get_array()).copy())

    for control, value in ((view.word, 1), (view.layer, 1), (view.head, 0), (view.index, 4)):
        before, renders = state(), view.renders
        control.value = value
        after = state()
        assert view.renders == renders + 1, control.description
        assert any(not np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
                   for a, b in zip(before, after, strict=True)), control.description
    # a new scene: the word list is its caption's, and the first word is chosen
    words, att = view.caption(4)
    assert view.word.value == 0 and len(view.word.options) == len(words)
    np.testing.assert_allclose(view.stats["cross"], att["cross"][1, 0, 0], atol=1e-6)
    view.word.value = len(words) - 1
    t = len(words) - 1
    np.testing.assert_allclose(view.stats["self"], att["self"][1, 0, t, :t + 1], atol=1e-6)
    assert sum(b.get_height() for b in view.bars) == pytest.approx(1.0, abs=1e-5)


def test_caption_view_bad_arguments(caption_view):
    from dlcv.transformers.widgets import CaptionAttentionView

    _, model, feats, data = caption_view
    with pytest.raises(ValueError, match="one row per scene"):
        CaptionAttentionView(model, feats[:3], data.scenes, data.vocab)
    with pytest.raises(ValueError, match="layer"):
        CaptionAttentionView(model, feats, data.scenes, data.vocab, layer=2)
    with pytest.raises(ValueError, match="word must be"):
        CaptionAttentionView(model, feats, data.scenes, data.vocab, word=99)
