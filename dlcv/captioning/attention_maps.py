"""Lecture 13's attention maps on the image, and the objects a caption's words name.

    upsample_attention(alpha, (h, w), size)          # (L,) or (T, L) weights -> (H, W) or
                                                     # (T, H, W) maps, each keeping its sum
    attention_overlay(image, attention)              # (H, W, 3) image lit by an (H, W) map
    word_objects(words, scenes, i)                   # per word, the objects of scene i it names
    phrase_accuracy(captions, scenes)                # (share of true noun phrases, their number)
    attention_on_objects(alpha_up, masks)            # share of an (H, W) map on (K, H, W) masks
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from dlcv.captioning.captions import PLURALS
from dlcv.captioning.decoding import _words
from dlcv.shapes import COLOR_NAMES, SIZE_NAMES, ShapesScenes

NUMBER_WORDS = {"a": 1, "one": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5,
                "six": 6}
SINGULAR = {v: k for k, v in PLURALS.items()}


# --------------------------------------------------------------------------------------------
# Attention maps on the image, and the objects words name
# --------------------------------------------------------------------------------------------
def upsample_attention(alpha, grid: tuple[int, int], size: int | tuple[int, int]) -> np.ndarray:
    """Attention weights on an h x w grid, smoothly upsampled (bilinear) to the image.

    alpha: (L,) or (T, L) with L = h * w (or already (h, w) / (T, h, w)); grid: (h, w);
    size: the image side (or (H, W)). Returns (H, W) or (T, H, W) float32, rescaled so that each
    map still sums to 1.
    """
    who = "upsample_attention"
    h, w = grid
    H, W = (size, size) if isinstance(size, int | np.integer) else size
    a = torch.as_tensor(np.asarray(alpha, dtype=np.float32))
    if a.ndim in (2, 3) and tuple(a.shape[-2:]) == (h, w):
        pass                                                         # already on the grid
    elif a.ndim in (1, 2) and a.shape[-1] == h * w:
        a = a.reshape(*a.shape[:-1], h, w)
    else:
        raise ValueError(f"{who}: alpha must be (L,), (T, L), ({h}, {w}) or (T, {h}, {w}) with "
                         f"L = {h * w}, got {tuple(np.shape(alpha))}")
    single = a.ndim == 2
    a3 = a.reshape(-1, 1, h, w)
    up = F.interpolate(a3, size=(H, W), mode="bilinear", align_corners=False)[:, 0]
    up = up / up.sum(dim=(1, 2), keepdim=True).clamp(min=1e-12)
    up = up * a3.sum(dim=(1, 2, 3))[:, None, None]                   # keep each map's total
    out = up.numpy().astype(np.float32)
    return out[0] if single else out


def attention_overlay(image, attention, floor: float = 0.2) -> np.ndarray:
    """The image lit by an attention map (Xu et al.'s pictures): pixels keep
    floor + (1 - floor) * attention / max(attention) of their brightness.
    image (H, W, 3) in [0, 1]; attention (H, W). Returns (H, W, 3) float32."""
    image = np.asarray(image, dtype=np.float32)
    att = np.asarray(attention, dtype=np.float32)
    if image.ndim != 3 or image.shape[:2] != att.shape:
        raise ValueError(f"attention_overlay: image (H, W, 3) and attention (H, W) must agree, "
                         f"got {image.shape} and {att.shape}")
    light = floor + (1 - floor) * att / max(float(att.max()), 1e-12)
    return np.clip(image * light[..., None], 0, 1)


def word_objects(words: Sequence[str], scenes: ShapesScenes, i: int) -> list[list[int]]:
    """Which objects of scene i each word of a caption names.

    A noun phrase ("a large red circle", "two squares") names the objects of the scene that fit
    all its attributes; each of its words (article, size, colour, noun) gets those objects'
    indices. Other words (relations, places, "and") get an empty list. A phrase that fits no
    object (a false caption) also gets an empty list.
    """
    if not 0 <= i < len(scenes):
        raise ValueError(f"word_objects: i must be in 0..{len(scenes) - 1}, got {i}")
    kinds = [scenes.class_names[lab] for lab in scenes.labels[i]]
    colors = [COLOR_NAMES[c] for c in scenes.colors[i]]
    sizes = [SIZE_NAMES[s] for s in scenes.sizes[i]]
    out: list[list[int]] = [[] for _ in words]
    start = None
    attrs: dict = {}
    for t, w in enumerate(words):
        if w in NUMBER_WORDS and start is None:
            start, attrs = t, {}
        elif start is not None and w == "single":
            pass                                                     # "a single red circle"
        elif start is not None and w in SIZE_NAMES:
            attrs["size"] = w
        elif start is not None and w in COLOR_NAMES:
            attrs["color"] = w
        elif start is not None and (w in PLURALS or w in SINGULAR):
            kind = SINGULAR.get(w, w)
            hits = [k for k in range(len(kinds)) if kinds[k] == kind
                    and attrs.get("color", colors[k]) == colors[k]
                    and attrs.get("size", sizes[k]) == sizes[k]]
            for s in range(start, t + 1):
                out[s] = hits
            start = None
        elif start is not None:
            start = None                                             # not a noun phrase
    return out


CLASS_WORDS = ("circle", "square", "triangle", "circles", "squares", "triangles")


def phrase_accuracy(captions: Sequence[str], scenes: ShapesScenes) -> tuple[float, int]:
    """How often a caption's noun phrases are true: the share of noun phrases ("a large red
    circle", "two squares") that fit at least one object of their scene (word_objects; counts
    are not checked). captions: one string per scene. Returns (share, number of phrases)."""
    if len(captions) != len(scenes):
        raise ValueError(f"phrase_accuracy: {len(captions)} captions for {len(scenes)} scenes")
    hits = total = 0
    for i, caption in enumerate(captions):
        words = _words(caption)
        named = word_objects(words, scenes, i)
        for t, w in enumerate(words):
            if w in CLASS_WORDS:
                total += 1
                hits += bool(named[t])
    return (hits / total if total else float("nan")), total


def attention_on_objects(alpha_up: np.ndarray, masks: np.ndarray) -> float:
    """The share of an upsampled attention map (H, W) that falls on the union of masks
    (K, H, W) bool."""
    if len(masks) == 0:
        return 0.0
    union = np.asarray(masks, dtype=bool).any(axis=0)
    if union.shape != alpha_up.shape:
        raise ValueError(f"attention_on_objects: masks {union.shape} and map {alpha_up.shape} "
                         f"differ in size")
    return float(alpha_up[union].sum() / max(float(alpha_up.sum()), 1e-12))
