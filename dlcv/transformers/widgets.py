"""Lecture 14's widgets: where a ViT's tokens look, and where a captioner's words look.

    view = AttentionView(model, X, y, class_names)
    view            # last line of a cell: live in JupyterLab, a static PNG elsewhere
    CaptionAttentionView(captioner, feats, scenes, vocab)

AttentionView: one image of X: (N, C, S, S) and the trained ViT (dlcv.transformers.vit.ViT).
Controls (attributes): view.index (which image), view.layer (which encoder block), view.head
(one head, or the mean of the heads), view.query (the class token or one patch, row by row).
Panels: the image with the query outlined; the query's attention weights over the patches laid
on the image; the weights over every token (the class token first) as bars.

CaptionAttentionView: one scene, the caption the TransformerCaptioner writes for it (greedy),
and one of its words. Controls: view.index (which scene), view.layer, view.head (one head or the
mean), view.word (a word of the caption). Panels: the scene lit by the cross-attention of the
query that chose the word (over the 8x8 cells); that query's causal self-attention over <START>
and the words before the word, as bars.
"""

from __future__ import annotations

import html

import numpy as np
import torch
from matplotlib.patches import Rectangle

from dlcv.captioning.attention_maps import upsample_attention
from dlcv.captioning.decoding import greedy_decode
from dlcv.transformers.vit import attention_maps
from dlcv.widget import FigureView, dropdown, slider

MEAN = -1


class AttentionView(FigureView):
    """Attention weights of one query token, in one layer and head, over one image's tokens.

    Args: model: a trained ViT (eval mode); X: (N, C, S, S) its inputs; y: (N,) labels;
    class_names: K names; index: the first image; layer, head (MEAN for the mean over heads),
    query (0 the class token, 1.. the patches): the first choices.
    State: stats (dict: index, label, pred, layer, head, query, weights (T,), cls_weight,
    top_patch (0-based patch index), entropy).
    Artists: digit (the image), overlay (the weights over the patches, (grid, grid)), box (the query's
    outline), bars (one per token).
    """

    def __init__(self, model, X, y, class_names, index: int = 0, layer: int = 0,
                 head: int = MEAN, query: int = 0):
        X = torch.as_tensor(np.asarray(X, np.float32))
        y = np.asarray(y, np.int64)
        if X.dim() != 4 or y.shape != (len(X),):
            raise ValueError(f"AttentionView: X must be (N, C, H, W) and y (N,), got "
                             f"{tuple(X.shape)} and {y.shape}")
        L, H, g = len(model.blocks), model.blocks[0].attn.heads, model.grid
        T = 1 + g * g
        for name, v, hi in (("index", index, len(X) - 1), ("layer", layer, L - 1),
                            ("query", query, T - 1)):
            if not (isinstance(v, int) and 0 <= v <= hi):
                raise ValueError(f"AttentionView: {name} must be an int in 0..{hi}, got {v!r}")
        if not (head == MEAN or isinstance(head, int) and 0 <= head < H):
            raise ValueError(f"AttentionView: head must be {MEAN} (mean) or in 0..{H - 1}, "
                             f"got {head!r}")
        super().__init__(figsize=(12.0, 3.6))
        self.model, self.X, self.y, self.class_names = model, X, y, list(class_names)
        self.g, self.T = g, T
        with torch.no_grad():
            self.pred = model(X).argmax(1).numpy()
        self._maps: dict[int, np.ndarray] = {}

        self.index = slider("image", index, 0, len(X) - 1, 1, width="300px")
        self.layer = dropdown("layer", [(f"block {i + 1}", i) for i in range(L)], layer,
                              width="160px")
        self.head = dropdown("head", [("mean of heads", MEAN)] +
                             [(f"head {h + 1}", h) for h in range(H)], head, width="190px")
        self.query = dropdown("query", [("class token", 0)] +
                              [(f"patch {p} (row {p // g}, col {p % g})", p + 1)
                               for p in range(g * g)], query, width="260px")
        self.watch(self.index, self.layer, self.head, self.query)

        gs = self.fig.add_gridspec(1, 3, width_ratios=[1, 1, 2.2], left=0.03, right=0.99,
                                   bottom=0.16, top=0.86, wspace=0.2)
        self.ax_img, self.ax_att, self.ax_bar = (self.fig.add_subplot(gs[i]) for i in range(3))
        S = X.shape[-1]
        ext = (-0.5, S - 0.5, S - 0.5, -0.5)
        self.digit = self.ax_img.imshow(np.zeros((S, S)), cmap="gray")
        self.under = self.ax_att.imshow(np.zeros((S, S)), cmap="gray")
        self.overlay = self.ax_att.imshow(np.zeros((g, g)), cmap="inferno", alpha=0.7,
                                          extent=ext, vmin=0, vmax=1)
        self.box = Rectangle((0, 0), 1, 1, fill=False, color="tab:cyan", lw=2.5)
        self.ax_img.add_patch(self.box)
        for ax in (self.ax_img, self.ax_att):
            ax.set_xticks([])
            ax.set_yticks([])
        self.ax_att.set_title("weights over the patches", fontsize=9)
        self.title = self.ax_img.set_title("", fontsize=9)
        self.bars = self.ax_bar.bar(np.arange(T), np.zeros(T), color="tab:blue")
        self.bars[0].set_color("tab:orange")
        self.ax_bar.set_xticks(np.arange(T), ["cls"] + [str(p) for p in range(g * g)],
                               fontsize=7)
        self.ax_bar.set_xlabel("key token (cls, then the patches row by row)", fontsize=8)
        self.ax_bar.set_ylabel("attention weight", fontsize=8)
        self.ax_bar.set_ylim(0, 1)
        self.bar_title = self.ax_bar.set_title("", fontsize=9)
        self.update()

    def control_rows(self):
        return [[self.index, self.layer], [self.head, self.query]]

    def maps(self, i: int) -> np.ndarray:
        """(L, heads, T, T) the attention weights of image i (computed once per image)."""
        if i not in self._maps:
            self._maps[i] = attention_maps(self.model, self.X[i:i + 1])[0].numpy()
        return self._maps[i]

    def update(self) -> None:
        if self._syncing:
            return
        i, layer, head, q = (int(self.index.value), int(self.layer.value), int(self.head.value),
                             int(self.query.value))
        A = self.maps(i)[layer]                                       # (heads, T, T)
        w = (A.mean(0) if head == MEAN else A[head])[q]               # (T,)
        S, g = self.X.shape[-1], self.g
        patch = S / g
        img = self.X[i, 0].numpy()
        self.digit.set_data(img)
        self.digit.set_clim(img.min(), img.max())
        self.under.set_data(img)
        self.under.set_clim(img.min(), img.max())
        grid = w[1:].reshape(g, g)
        self.overlay.set_data(grid / max(grid.max(), 1e-12))
        if q == 0:
            self.box.set_bounds(-0.4, -0.4, S - 0.2, S - 0.2)
            self.box.set_linestyle("--")
        else:
            r, c = divmod(q - 1, g)
            self.box.set_bounds(c * patch - 0.5, r * patch - 0.5, patch, patch)
            self.box.set_linestyle("-")
        for b, v in zip(self.bars, w, strict=True):
            b.set_height(v)
        label, pred = int(self.y[i]), int(self.pred[i])
        who = "class token" if q == 0 else f"patch {q - 1}"
        hname = "mean of heads" if head == MEAN else f"head {head + 1}"
        self.title.set_text(f"label {self.class_names[label]}, ViT says "
                            f"{self.class_names[pred]}; query: {who}")
        self.bar_title.set_text(f"block {layer + 1}, {hname}: where the {who} looks")
        p = np.clip(w, 1e-12, 1)
        entropy = float(-(p * np.log(p)).sum())
        top = int(np.argmax(w[1:]))
        self.stats = {"index": i, "label": label, "pred": pred, "layer": layer, "head": head,
                      "query": q, "weights": w, "cls_weight": float(w[0]), "top_patch": top,
                      "entropy": entropy}
        self.readout.value = html.escape(
            f"image {i} (label {self.class_names[label]}, predicted {self.class_names[pred]}). "
            f"Block {layer + 1}, {hname}, query {who}: weight {w[0]:.3f} on the class token, "
            f"largest patch weight {w[1 + top]:.3f} on patch {top} (row {top // g}, col "
            f"{top % g}); entropy {entropy:.2f} nats (uniform over {self.T} tokens: "
            f"{np.log(self.T):.2f}).")
        self.render()


class CaptionAttentionView(FigureView):
    """Where each word of a generated caption looks: the image cells and the earlier words.

    Args: captioner: a trained dlcv.transformers.captioner.TransformerCaptioner (eval mode);
    feats: (N, C, g, g) the scenes' encoder features; scenes: the ShapesScenes they come from
    (for the pictures); vocab: the captions' Vocabulary; index, layer, head (MEAN for the mean
    over heads), word (a position in the caption of scene index): the first choices.
    State: stats (dict: index, caption, word (its position), layer, head, cross (g * g,) the
    cross-attention weights, self (t + 1,) the self-attention weights over <START> and the
    words before, top_cell).
    Artists: scene, heat (the upsampled cross-attention), bars (one per position of the
    caption's input, <START> first; those after the query are 0).
    """

    def __init__(self, captioner, feats, scenes, vocab, index: int = 0, layer: int = 0,
                 head: int = MEAN, word: int = 0, max_length: int = 16):
        feats = torch.as_tensor(np.asarray(feats, np.float32))
        if feats.dim() != 4 or len(feats) != len(scenes):
            raise ValueError(f"CaptionAttentionView: feats must be (N, C, g, g) with one row per "
                             f"scene ({len(scenes)}), got {tuple(feats.shape)}")
        L, H = len(captioner.blocks), captioner.blocks[0].cross_attn.heads
        for name, v, hi in (("index", index, len(feats) - 1), ("layer", layer, L - 1)):
            if not (isinstance(v, int) and 0 <= v <= hi):
                raise ValueError(f"CaptionAttentionView: {name} must be an int in 0..{hi}, "
                                 f"got {v!r}")
        if not (head == MEAN or isinstance(head, int) and 0 <= head < H):
            raise ValueError(f"CaptionAttentionView: head must be {MEAN} (mean) or in "
                             f"0..{H - 1}, got {head!r}")
        super().__init__(figsize=(11.0, 3.6))
        self.model, self.feats, self.scenes, self.vocab = captioner, feats, scenes, vocab
        self.max_length, self.g = max_length, captioner.grid
        self._cache: dict[int, tuple] = {}

        self.index = slider("scene", index, 0, len(feats) - 1, 1, width="300px")
        self.layer = dropdown("layer", [(f"block {i + 1}", i) for i in range(L)], layer,
                              width="160px")
        self.head = dropdown("head", [("mean of heads", MEAN)] +
                             [(f"head {h + 1}", h) for h in range(H)], head, width="190px")
        words = self.caption(index)[0]
        if not (isinstance(word, int) and 0 <= word < len(words)):
            raise ValueError(f"CaptionAttentionView: word must be an int in 0..{len(words) - 1} "
                             f"(the caption of scene {index} has {len(words)} words), got {word!r}")
        self.word = dropdown("word", self._word_options(words), word, width="220px")
        self.watch(self.layer, self.head, self.word)
        self.index.observe(lambda _c: self._new_scene(), names="value")  # shown in control_rows

        gs = self.fig.add_gridspec(1, 2, width_ratios=[1, 2.2], left=0.03, right=0.99,
                                   bottom=0.3, top=0.86, wspace=0.15)
        self.ax_img, self.ax_bar = self.fig.add_subplot(gs[0]), self.fig.add_subplot(gs[1])
        S = scenes.images.shape[1]
        self.scene = self.ax_img.imshow(np.zeros((S, S, 3)))
        self.heat = self.ax_img.imshow(np.zeros((S, S)), cmap="inferno", alpha=0.6, vmin=0,
                                       vmax=1)
        self.ax_img.set_xticks([])
        self.ax_img.set_yticks([])
        self.title = self.ax_img.set_title("", fontsize=9)
        self.bars = self.ax_bar.bar(np.arange(max_length), np.zeros(max_length),
                                    color="tab:blue")
        self.ax_bar.set_ylim(0, 1)
        self.ax_bar.set_ylabel("self-attention weight", fontsize=8)
        self.bar_title = self.ax_bar.set_title("", fontsize=9)
        self.update()

    def control_rows(self):
        return [[self.index, self.layer], [self.head, self.word]]

    @staticmethod
    def _word_options(words):
        return [(f"{t + 1}: {w}", t) for t, w in enumerate(words)]

    def caption(self, i: int) -> tuple[list, dict]:
        """The greedy caption of scene i (its words, up to <END>) and the captioner's attention
        on it: {"self": (L, heads, T, T), "cross": (L, heads, T, g * g)}, T = 1 + len(words)
        (computed once per scene)."""
        if i not in self._cache:
            tok, _ = greedy_decode(self.model, self.feats[i:i + 1], self.vocab,
                                   max_length=self.max_length - 1)
            words = self.vocab.decode(tok[0]).split() or [self.vocab.idx_to_word[self.vocab.end]]
            ids = [self.vocab.start] + [self.vocab.word_to_idx.get(w, 3) for w in words]
            with torch.no_grad():
                self.model(self.feats[i:i + 1], torch.tensor([ids]))
            att = {k: v[0].numpy() for k, v in self.model.attention().items()}
            self._cache[i] = (words, att)
        return self._cache[i]

    def _new_scene(self) -> None:
        """The index moved: the word list follows the new caption (one update, not two)."""
        words = self.caption(int(self.index.value))[0]
        with self.syncing():
            self.word.options = self._word_options(words)
            self.word.value = 0
        self.update()

    def update(self) -> None:
        if self._syncing:
            return
        i, layer, head = int(self.index.value), int(self.layer.value), int(self.head.value)
        words, att = self.caption(i)
        t = min(int(self.word.value), len(words) - 1)
        pick = (lambda a: a.mean(0)) if head == MEAN else (lambda a: a[head])
        cross = pick(att["cross"][layer])[t]                               # (g * g,)
        selfw = pick(att["self"][layer])[t, :t + 1]                        # (t + 1,)
        img = self.scenes.images[i]
        S = img.shape[0]
        up = upsample_attention(cross, (self.g, self.g), S)
        self.scene.set_data(img)
        self.heat.set_data(up / max(float(up.max()), 1e-12))
        heights = np.zeros(len(self.bars))
        heights[:t + 1] = selfw
        for b, v in zip(self.bars, heights, strict=True):
            b.set_height(v)
        labels = ["<START>"] + words[:-1]
        ticks = [labels[k] if k < len(labels) else "" for k in range(len(self.bars))]
        self.ax_bar.set_xticks(np.arange(len(self.bars)), ticks, rotation=60, fontsize=7)
        hname = "mean of heads" if head == MEAN else f"head {head + 1}"
        word = words[t]
        self.title.set_text(f"cross-attention that chose {word!r}")
        self.bar_title.set_text(f"block {layer + 1}, {hname}: the query that chose {word!r} "
                                f"looks back at")
        top = int(np.argmax(cross))
        self.stats = {"index": i, "caption": " ".join(words), "word": t, "layer": layer,
                      "head": head, "cross": cross, "self": selfw, "top_cell": top}
        self.readout.value = html.escape(
            f"scene {i}: '{' '.join(words)}'. Word {t + 1} ({word!r}), block {layer + 1}, "
            f"{hname}: largest cross-attention {cross[top]:.3f} on cell (row {top // self.g}, "
            f"col {top % self.g}); self-attention {selfw[0]:.3f} on <START>"
            + (f", {selfw[-1]:.3f} on the word just before" if t > 0 else "") + ".")
        self.render()
