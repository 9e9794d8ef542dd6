"""Lecture 13's widget: where an attention captioner looks while it writes each word.

    view = AttentionView(model, feats, scenes, references, vocab)
    view            # last line of a cell: live in JupyterLab, a static PNG elsewhere

Top row, left to right: the test image with dashed boxes around the objects the selected word
names (if it names any); the image with the attention map of the selected word, upsampled from
the encoder's h x w grid to the image and drawn as heat; the raw h x w attention weights, the
most-watched cell outlined. Bottom: the map of every word of the generated caption, side by side
(the selected word framed). The readout gives the caption with the selected word marked, the share
of attention that falls on the named objects, and the reference captions.

Controls (attributes): scene (the test image's index) and word (position in the generated caption;
its range follows the caption's length).

Each caption is decoded greedily (dlcv.captioning.decoding.greedy_decode) the first time its image is
shown, then cached.
"""

from __future__ import annotations

import html

import numpy as np
from matplotlib import colormaps
from matplotlib.patches import Rectangle

from dlcv.captioning.attention_maps import attention_on_objects, upsample_attention, word_objects
from dlcv.captioning.decoding import greedy_decode
from dlcv.widget import FigureView, slider

MAX_WORDS = 14          # panels in the strip (longer captions show their first MAX_WORDS words)
STRIP_COLS = 7
SEL_COLOR = "#D55E00"
HEAT = colormaps["inferno"]


def heat_overlay(image: np.ndarray, attention: np.ndarray, strength: float = 0.75) -> np.ndarray:
    """(H, W, 3) picture: the image, dimmed, under an inferno heat map of attention (H, W)
    (scaled to its maximum; opacity up to `strength` where the attention peaks)."""
    a = np.asarray(attention, dtype=np.float32)
    a = a / max(float(a.max()), 1e-12)
    w = (strength * a)[..., None]
    base = 0.55 * np.asarray(image, dtype=np.float32)
    return np.clip((1 - w) * base + w * HEAT(a)[..., :3], 0, 1)


class AttentionView(FigureView):
    """The attention maps of an AttentionCaptioner on held-out shapes scenes.

    Args:
        model: an AttentionCaptioner (anything whose step() returns attention weights).
        feats: (N, C, h, w) encoder features of the images (with whatever channels the model
            was trained on).
        scenes: the N ShapesScenes the features come from (images, masks for the boxes).
        references: N lists of reference captions.
        vocab: the Vocabulary the model was trained with.
        scene, word: the initial selection (test image index, word position).

    State after every update: words (the generated caption), maps ((len(words), H, W) upsampled
    attention), named (object indices the selected word names), on_objects (attention share on
    them, or None). Artists: img_im, named_boxes, heat_im, grid_im, grid_max, strip_ims,
    strip_titles, strip_frames.
    """

    def __init__(self, model, feats, scenes, references, vocab, scene: int = 0, word: int = 0,
                 max_length: int = 16):
        who = "AttentionView"
        feats = np.asarray(feats.detach().numpy() if hasattr(feats, "detach") else feats,
                           dtype=np.float32)
        if feats.ndim != 4:
            raise ValueError(f"{who}: feats must be (N, C, h, w) feature maps, got "
                             f"{feats.shape}")
        N = len(feats)
        if len(scenes) != N or len(references) != N:
            raise ValueError(f"{who}: {N} feature maps, {len(scenes)} scenes and "
                             f"{len(references)} reference lists: they must agree")
        if not hasattr(model, "attend"):
            raise TypeError(f"{who}: model must be an attention captioner (with attend()), got "
                            f"{type(model).__name__}")
        for name, v, hi in (("scene", scene, N - 1), ("word", word, MAX_WORDS - 1)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or not 0 <= v <= hi:
                raise ValueError(f"{who}: {name} must be an int in 0..{hi}, got {v!r}")
        super().__init__(figsize=(11.0, 6.2))
        self.model, self.feats, self.scenes = model, feats, scenes
        self.references, self.vocab, self.max_length = references, vocab, max_length
        self.grid = feats.shape[2:]
        self.size = scenes.images.shape[1:3]
        self._cache: dict[int, tuple[list[str], np.ndarray, np.ndarray]] = {}
        self.scene = slider("test image", int(scene), 0, N - 1, width="330px")
        self.word = slider("word", int(word), 0, MAX_WORDS - 1, width="330px")
        self.watch(self.scene, self.word)
        self._build_figure()
        self.update()

    def control_rows(self):
        return [[self.scene, self.word]]

    # -- decoding (cached) --------------------------------------------------------------------
    def decode(self, i: int) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(words, upsampled maps (len(words), H, W), raw weights (len(words), h, w))."""
        if i not in self._cache:
            tokens, alphas = greedy_decode(self.model, self.feats[i:i + 1], self.vocab,
                                           max_length=self.max_length)
            words = self.vocab.decode(tokens[0]).split()[:MAX_WORDS]
            raw = alphas[0, :len(words)].reshape(len(words), *self.grid)
            maps = upsample_attention(raw, tuple(self.grid), tuple(self.size))
            self._cache[i] = (words, maps.reshape(len(words), *self.size), raw)
        return self._cache[i]

    # -- figure -------------------------------------------------------------------------------
    def _build_figure(self) -> None:
        fig = self.fig
        H, W = self.size
        h, w = self.grid
        blank = np.zeros((H, W, 3))
        self.ax_img = fig.add_axes((0.03, 0.43, 0.28, 0.48))
        self.ax_heat = fig.add_axes((0.36, 0.43, 0.28, 0.48))
        self.ax_grid = fig.add_axes((0.69, 0.43, 0.28, 0.48))
        self.img_im = self.ax_img.imshow(blank, extent=(0, W, H, 0), interpolation="nearest")
        self.named_boxes = [Rectangle((0, 0), 1, 1, fill=False, ec="white", lw=1.8, ls="--",
                                      visible=False) for _ in range(8)]
        for r in self.named_boxes:
            self.ax_img.add_patch(r)
        self.img_title = self.ax_img.set_title("", fontsize=10)
        self.heat_im = self.ax_heat.imshow(blank, extent=(0, W, H, 0), interpolation="bilinear")
        self.heat_title = self.ax_heat.set_title("", fontsize=10)
        self.grid_im = self.ax_grid.imshow(np.zeros((h, w)), cmap="inferno", vmin=0, vmax=1,
                                           interpolation="nearest")
        self.grid_max = Rectangle((-0.5, -0.5), 1, 1, fill=False, ec="#56B4E9", lw=2.2)
        self.ax_grid.add_patch(self.grid_max)
        self.grid_title = self.ax_grid.set_title("", fontsize=10)
        self.grid_cbar = fig.colorbar(self.grid_im, ax=self.ax_grid, fraction=0.046, pad=0.03)
        self.grid_cbar.ax.tick_params(labelsize=7)
        for ax in (self.ax_img, self.ax_heat):
            ax.set_xticks([])
            ax.set_yticks([])
        self.ax_grid.set_xticks(range(w))
        self.ax_grid.set_yticks(range(h))
        self.ax_grid.tick_params(labelsize=7, length=0)

        rows = int(np.ceil(MAX_WORDS / STRIP_COLS))
        pw, ph = 0.94 / STRIP_COLS, 0.36 / rows
        self.strip_axes, self.strip_ims, self.strip_titles, self.strip_frames = [], [], [], []
        for k in range(MAX_WORDS):
            r, c = divmod(k, STRIP_COLS)
            ax = fig.add_axes((0.03 + c * pw + 0.01, 0.02 + (rows - 1 - r) * ph, pw - 0.02,
                               ph - 0.035))
            ax.set_xticks([])
            ax.set_yticks([])
            self.strip_axes.append(ax)
            self.strip_ims.append(ax.imshow(blank, extent=(0, W, H, 0), interpolation="bilinear"))
            self.strip_titles.append(ax.set_title("", fontsize=8.5, pad=2))
            frame = Rectangle((0, 0), W, H, fill=False, ec=SEL_COLOR, lw=3, visible=False)
            ax.add_patch(frame)
            self.strip_frames.append(frame)

    # -- update -------------------------------------------------------------------------------
    def _sync_word(self, n_words: int) -> None:
        """Keep the word slider inside the caption without triggering updates."""
        with self.syncing():
            hi = max(n_words - 1, 0)
            if self.word.value > hi:
                self.word.value = hi
            self.word.max = hi

    def update(self) -> None:
        if self._syncing:
            return
        i = int(self.scene.value)
        words, maps, raw = self.decode(i)
        self._sync_word(len(words))
        t = int(self.word.value)
        self.words, self.maps = words, maps
        img = np.clip(self.scenes.images[i], 0, 1)
        self.img_im.set_data(img)

        if words:
            objs = word_objects(words, self.scenes, i)[t]
            self.named = objs
            masks = self.scenes.masks[i][objs] if objs else np.zeros((0, *self.size), bool)
            self.on_objects = attention_on_objects(maps[t], masks) if objs else None
            self.heat_im.set_data(heat_overlay(img, maps[t]))
            g = raw[t]
            self.grid_im.set_data(g)
            self.grid_im.set_clim(0, max(float(g.max()), 1e-6))
            r, c = np.unravel_index(int(np.argmax(g)), g.shape)
            self.grid_max.set_xy((c - 0.5, r - 0.5))
            self.grid_max.set_visible(True)
            word = words[t]
            self.heat_title.set_text(f"attention while choosing “{word}”")
            self.grid_title.set_text(f"the {g.shape[0]}×{g.shape[1]} weights α (sum 1); "
                                     f"max {g.max():.2f}")
        else:
            self.named, self.on_objects, word = [], None, ""
            self.heat_im.set_data(np.zeros((*self.size, 3)))
            self.grid_im.set_data(np.zeros(self.grid))
            self.grid_max.set_visible(False)
            self.heat_title.set_text("(the model wrote no word)")
            self.grid_title.set_text("")
        for k, box in enumerate(self.named_boxes):
            if k < len(self.named):
                x1, y1, x2, y2 = self.scenes.boxes[i][self.named[k]]
                box.set_bounds(x1, y1, x2 - x1, y2 - y1)
                box.set_visible(True)
            else:
                box.set_visible(False)
        self.img_title.set_text(f"test image {i}" + (f": “{word}” names the dashed object"
                                                      + ("s" if len(self.named) > 1 else "")
                                                      if self.named else ""))

        for k in range(MAX_WORDS):
            vis = k < len(words)
            self.strip_axes[k].set_visible(vis)
            if vis:
                self.strip_ims[k].set_data(heat_overlay(img, maps[k]))
                self.strip_titles[k].set_text(words[k])
                self.strip_titles[k].set_color(SEL_COLOR if k == t else "black")
                self.strip_titles[k].set_fontweight("bold" if k == t else "normal")
            self.strip_frames[k].set_visible(vis and k == t)

        shown = " ".join(f"<b style='color:{SEL_COLOR}'>[{html.escape(w)}]</b>" if k == t
                         else html.escape(w) for k, w in enumerate(words))
        share = ("" if self.on_objects is None else
                 f"<br>attention on the object{'s' if len(self.named) > 1 else ''} “"
                 f"{html.escape(word)}” names: <b>{self.on_objects:.0%}</b> (they cover "
                 f"{np.asarray(self.scenes.masks[i][self.named]).any(0).mean():.0%} of the "
                 "image)")
        refs = "".join(f"<li>{html.escape(r)}</li>" for r in self.references[i])
        self.readout.value = (f"<b>generated:</b> {shown}{share}<br><b>references:</b>"
                              f"<ul style='margin:0'>{refs}</ul>")
        self.render()
