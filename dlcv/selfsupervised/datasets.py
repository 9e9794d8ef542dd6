"""The data of lecture 15: the digits at 16x16 pixels, and one-object shapes scenes with their
labels and captions.

    load_digits16(size=16)              DigitSplits: the course's 1797 digits (split 1257 / 180
                                        / 360 as everywhere) as (N, 1, size, size) float32
                                        tensors in [0, 1], upsampled bilinearly from 8x8
    labelled_subset(y, per_class, seed=0)
                                        (per_class * K,) indices: per_class random examples of
                                        every class (the few labels of a label-scarce task)
    load_scenes(n, seed=0, size=32)     ObjectScenes: n scenes of dlcv.shapes with exactly one
                                        object each, its shape and colour as labels, and the
                                        captions of dlcv.captioning.captions
    ObjectScenes.images                 (N, 3, S, S) float32 tensor in [0, 1]
    ObjectScenes.shape, .color, .size   (N,) int64: indices into SHAPES, COLORS, SIZE_NAMES
    ObjectScenes.label                  (N,) int64: color * 3 + shape, one of 12 classes
    class_names()                       the 12 names "red circle", "red square", ...

One object per scene, so that "what is in the picture" has one answer: a shape (3 classes),
a colour (4) or both (12). The objects vary in position, size and shade, the backgrounds in
texture and tone, so that neither a pixel nor a mean colour gives the shape away.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from dlcv.captioning.captions import caption_scenes
from dlcv.data import load_classification
from dlcv.shapes import CLASSES, COLOR_NAMES, SIZE_NAMES, make_scenes
from dlcv.validate import integer


@dataclass
class DigitSplits:
    """X_*: (N, 1, S, S) float32 tensors in [0, 1]; y_*: (N,) int64 tensors."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor


@functools.lru_cache(maxsize=4)
def load_digits16(size: int = 16) -> DigitSplits:
    """The embedded digits (grey levels 0..16 divided by 16) upsampled bilinearly from 8x8 to
    size x size, in the course's fixed split. Upsampling adds no information; it gives crops,
    blurs and masked patches a few pixels to work with."""
    size = integer("load_digits16", "size", size, 8, 64)  # (cached: do not modify the tensors)
    d = load_classification("digits")

    def up(X):
        t = torch.tensor(np.asarray(X, np.float32).reshape(-1, 1, 8, 8) / 16)
        return F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)

    return DigitSplits(up(d.X_train), torch.tensor(d.y_train), up(d.X_val), torch.tensor(d.y_val),
                       up(d.X_test), torch.tensor(d.y_test))

def labelled_subset(y: torch.Tensor, per_class: int, seed: int = 0) -> torch.Tensor:
    """Sorted indices of per_class examples of every class of y: (N,), drawn at random."""
    per_class = integer("labelled_subset", "per_class", per_class, 1)
    g = torch.Generator().manual_seed(seed)
    out = []
    for k in torch.unique(y):
        idx = torch.nonzero(y == k).flatten()
        if len(idx) < per_class:
            raise ValueError(f"labelled_subset: class {int(k)} has {len(idx)} examples, fewer "
                             f"than per_class = {per_class}")
        out.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return torch.cat(out).sort().values


SHAPES = CLASSES             # ("circle", "square", "triangle")
COLORS = COLOR_NAMES         # ("red", "green", "blue", "yellow")
SIZES = SIZE_NAMES           # ("small", "large")


def class_names() -> list[str]:
    """The 12 colour-shape classes in label order: label = color * 3 + shape."""
    return [f"{c} {s}" for c in COLORS for s in SHAPES]


@dataclass
class ObjectScenes:
    """images: (N, 3, S, S) float32 tensor in [0, 1]; shape, color, size (0 small, 1 large),
    label: (N,) int64 tensors; captions: N lists of strings; seed: the seed that made them."""

    images: torch.Tensor
    shape: torch.Tensor
    color: torch.Tensor
    size: torch.Tensor
    captions: list
    seed: int

    @property
    def label(self) -> torch.Tensor:
        """(N,) int64: the colour-shape class, color * 3 + shape."""
        return self.color * len(SHAPES) + self.shape

    def __len__(self) -> int:
        return len(self.images)


_CACHE: dict[tuple, ObjectScenes] = {}


def load_scenes(n: int, seed: int = 0, size: int = 32, background: str = "noise") -> ObjectScenes:
    """n one-object shapes scenes of size x size pixels (deterministic from seed, cached).

    Use different seeds for training and test sets: the scenes of two seeds are independent.
    """
    n = integer("load_scenes", "n", n, 1)
    seed = integer("load_scenes", "seed", seed, 0)
    size = integer("load_scenes", "size", size, 16, 128)
    key = (n, seed, size, background)
    if key not in _CACHE:
        sc = make_scenes(n, seed=seed, size=size, min_objects=1, max_objects=1,
                         background=background)
        images = torch.from_numpy(np.ascontiguousarray(sc.images.transpose(0, 3, 1, 2)))
        shape = torch.tensor([int(lab[0]) for lab in sc.labels])
        color = torch.tensor([int(c[0]) for c in sc.colors])
        sizes = torch.tensor([int(z[0]) for z in sc.sizes])
        _CACHE[key] = ObjectScenes(images, shape, color, sizes, caption_scenes(sc, seed=seed + 1),
                                   seed)
    return _CACHE[key]
