"""Captions for the shapes scenes: a small grammar, a vocabulary, and padded token arrays.

Every scene of dlcv.shapes gets several captions that say what is there and where, drawn from a
grammar over its objects' sizes, colours, classes and positions:

    "a large red circle left of a small blue square"
    "a green triangle above a yellow circle"
    "two squares and a triangle"
    "there is a small yellow triangle at the top"

Positions come from the boxes' centres (left of / right of / above / below, whichever axis
separates the two objects more; top / bottom / left / right / middle of the image for one
object). Because the words name colours, sizes, classes, counts and places, a model that does
not look at the image cannot do well: a language-only baseline scores clearly lower.

    data = make_caption_data(1000, seed=0)       # CaptionData
    data.scenes                                   # the ShapesScenes
    data.captions[i]                              # list of strings for scene i
    vocab = data.vocab                            # Vocabulary (<NULL>=0, <START>, <END>, <UNK>)
    tokens, mask = vocab.encode_batch(["a red circle"], max_length=16)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from dlcv.shapes import COLOR_NAMES, SIZE_NAMES, ShapesScenes, make_scenes

NULL, START, END, UNK = "<NULL>", "<START>", "<END>", "<UNK>"
SPECIAL_TOKENS = (NULL, START, END, UNK)
NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six")
PLURALS = {"circle": "circles", "square": "squares", "triangle": "triangles"}


def tokenize(caption: str) -> list[str]:
    """Lower-case words of a caption: 'A red circle.' -> ['a', 'red', 'circle']."""
    if not isinstance(caption, str):
        raise TypeError(f"tokenize: expected a string, got {type(caption).__name__}")
    cleaned = "".join(ch if ch.isalnum() or ch in "<>" else " " for ch in caption.lower())
    return cleaned.split()


# --------------------------------------------------------------------------------------------
# The grammar
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Thing:
    """One object of a scene, as the grammar sees it."""

    size: str
    color: str
    kind: str
    cx: float
    cy: float

    def phrase(self, rng: np.random.Generator, detail: str) -> str:
        """'a large red circle', 'a red circle', 'a large circle' or 'a circle'."""
        words = {"full": [self.size, self.color], "color": [self.color], "size": [self.size],
                 "bare": []}[detail]
        return " ".join(["a", *words, self.kind])


def relation(a: Thing, b: Thing) -> str:
    """Where a is relative to b, along the axis that separates their centres more."""
    dx, dy = a.cx - b.cx, a.cy - b.cy
    if abs(dx) >= abs(dy):
        return "left of" if dx < 0 else "right of"
    return "above" if dy < 0 else "below"


def place(t: Thing, image_size: int) -> str:
    """Where an object is in the image: 'at the top left', 'on the right', 'in the middle'."""
    third = image_size / 3
    col = 0 if t.cx < third else (2 if t.cx >= 2 * third else 1)
    row = 0 if t.cy < third else (2 if t.cy >= 2 * third else 1)
    vertical, horizontal = ("top", "", "bottom")[row], ("left", "", "right")[col]
    if not vertical and not horizontal:
        return "in the middle"
    if vertical and horizontal:
        return f"at the {vertical} {horizontal}"
    return f"at the {vertical}" if vertical else f"on the {horizontal}"


def count_phrase(kinds: Sequence[str]) -> str:
    """'two circles and a square' (classes in order of first appearance, counts in words)."""
    counts = Counter(kinds)
    parts = []
    for kind in dict.fromkeys(kinds):
        n = counts[kind]
        parts.append(f"a {kind}" if n == 1 else f"{NUMBER_WORDS[min(n, 6)]} {PLURALS[kind]}")
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def scene_things(scenes: ShapesScenes, i: int) -> list[Thing]:
    """The objects of scene i as Things (centres of their boxes)."""
    out = []
    for box, lab, col, size in zip(scenes.boxes[i], scenes.labels[i], scenes.colors[i],
                                   scenes.sizes[i], strict=True):
        out.append(Thing(SIZE_NAMES[size], COLOR_NAMES[col], scenes.class_names[lab],
                         float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2))
    return out


def caption_things(things: Sequence[Thing], rng: np.random.Generator, image_size: int,
                   n: int = 5) -> list[str]:
    """n different captions (fewer if the grammar cannot make n different ones)."""
    if not things:
        return ["an empty scene"]
    candidates: list[str] = []
    details = ("full", "full", "color", "size")
    # A pair of objects and their relation: the most informative sentence.
    if len(things) >= 2:
        for _ in range(6):
            a, b = rng.choice(len(things), size=2, replace=False)
            candidates.append(f"{things[a].phrase(rng, rng.choice(details))} "
                              f"{relation(things[a], things[b])} "
                              f"{things[b].phrase(rng, rng.choice(details))}")
    # One object and its place in the image.
    for _ in range(3):
        t = things[int(rng.integers(len(things)))]
        opening = "there is " if rng.random() < 0.5 else ""
        candidates.append(f"{opening}{t.phrase(rng, 'full')} {place(t, image_size)}")
    # Counting.
    candidates.append(count_phrase([t.kind for t in things]))
    if len(things) == 1:
        candidates.append(f"a single {things[0].color} {things[0].kind}")
    unique = list(dict.fromkeys(candidates))
    order = rng.permutation(len(unique))
    return [unique[k] for k in order[:n]]


# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------
class Vocabulary:
    """Words <-> integer ids. Ids 0..3 are <NULL> (padding), <START>, <END> and <UNK>."""

    def __init__(self, words: Iterable[str]):
        words = [w for w in dict.fromkeys(words) if w not in SPECIAL_TOKENS]
        self.idx_to_word = list(SPECIAL_TOKENS) + sorted(words)
        self.word_to_idx = {w: i for i, w in enumerate(self.idx_to_word)}

    @classmethod
    def from_captions(cls, captions: Iterable[str], min_count: int = 1) -> Vocabulary:
        counts = Counter(w for c in captions for w in tokenize(c))
        return cls(w for w, k in counts.items() if k >= min_count)

    def __len__(self) -> int:
        return len(self.idx_to_word)

    @property
    def null(self) -> int:
        return self.word_to_idx[NULL]

    @property
    def start(self) -> int:
        return self.word_to_idx[START]

    @property
    def end(self) -> int:
        return self.word_to_idx[END]

    def encode(self, caption: str) -> list[int]:
        """<START> words <END> as ids; unknown words become <UNK>."""
        unk = self.word_to_idx[UNK]
        return [self.start, *(self.word_to_idx.get(w, unk) for w in tokenize(caption)), self.end]

    def encode_batch(self, captions: Sequence[str], max_length: int | None = None):
        """Padded ids and mask.

        Returns tokens (N, T) int64 (each row <START> ... <END> <NULL> <NULL> ...) and mask
        (N, T) bool (True on real tokens, <START> and <END> included). T is the longest caption
        plus 2 or max_length; longer captions are cut and keep no <END>.
        """
        ids = [self.encode(c) for c in captions]
        T = max_length or max((len(x) for x in ids), default=2)
        tokens = np.full((len(ids), T), self.null, dtype=np.int64)
        for i, x in enumerate(ids):
            x = x[:T]
            tokens[i, :len(x)] = x
        return tokens, tokens != self.null

    def decode(self, ids: Iterable[int], stop_at_end: bool = True) -> str:
        """Ids back to a sentence; drops <START> and <NULL>, stops at <END>."""
        words = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self):
                raise ValueError(f"decode: id {i} is outside the vocabulary (size {len(self)})")
            w = self.idx_to_word[i]
            if w == END and stop_at_end:
                break
            if w not in (START, NULL):
                words.append(w)
        return " ".join(words)


# --------------------------------------------------------------------------------------------
# A captioning data set
# --------------------------------------------------------------------------------------------
@dataclass
class CaptionData:
    """Scenes with captions.

    scenes: ShapesScenes; captions: list of N lists of strings; vocab: Vocabulary;
    tokens: (M, T) int64 padded ids of all captions; mask: (M, T) bool;
    image_index: (M,) int64, the scene each caption describes.
    """

    scenes: ShapesScenes
    captions: list
    vocab: Vocabulary
    tokens: np.ndarray
    mask: np.ndarray
    image_index: np.ndarray

    def __len__(self) -> int:
        return len(self.scenes)


def caption_scenes(scenes: ShapesScenes, seed: int = 0, per_image: int = 5) -> list[list[str]]:
    """per_image captions for every scene (deterministic from seed)."""
    rng = np.random.default_rng(seed)
    size = scenes.images.shape[1]
    return [caption_things(scene_things(scenes, i), rng, size, per_image)
            for i in range(len(scenes))]


def make_caption_data(n: int, seed: int = 0, per_image: int = 5, vocab: Vocabulary | None = None,
                      max_length: int | None = 16, **scene_kwargs) -> CaptionData:
    """n shapes scenes with per_image captions each, tokenised and padded.

    Pass the training set's vocab when making a validation or test set, so ids agree.
    scene_kwargs go to dlcv.shapes.make_scenes (size, min_objects, max_objects, ...).
    """
    scenes = make_scenes(n, seed=seed, **scene_kwargs)
    captions = caption_scenes(scenes, seed=seed + 1, per_image=per_image)
    flat = [c for cs in captions for c in cs]
    vocab = vocab or Vocabulary.from_captions(flat)
    tokens, mask = vocab.encode_batch(flat, max_length)
    index = np.repeat(np.arange(n), [len(cs) for cs in captions]).astype(np.int64)
    return CaptionData(scenes, captions, vocab, tokens, mask, index)
