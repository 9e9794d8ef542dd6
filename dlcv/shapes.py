"""Shapes scenes: a procedural data set for detection, segmentation and captioning.

Every scene is an RGB image with a few coloured shapes (circles, squares, triangles) of two size
categories on a textured, noisy background. Later shapes may hide part of earlier ones; the
ground truth describes what is *visible*:

    boxes   (K, 4) float32, (x1, y1, x2, y2) in pixels, the tight box of the visible mask
    labels  (K,)   int64, index into CLASSES
    masks   (K, H, W) bool, the visible pixels of each object (they never overlap)
    colors  (K,)   int64, index into COLORS;  sizes (K,) int64, 0 = small, 1 = large

Coordinates: pixel (row r, column c) covers the square [c, c+1) x [r, r+1), so a box
(x1, y1, x2, y2) = (c_min, r_min, c_max + 1, r_max + 1) covers exactly the mask's pixels, and its
width is x2 - x1 pixels. This is the convention of the whole course (torchvision uses it too).

    scenes = make_scenes(1000, seed=0)          # ShapesScenes, about a second for 1000 scenes
    scenes.images                                # (N, H, W, 3) float32 in [0, 1]
    scenes.boxes[i], scenes.labels[i], scenes.masks[i]
    scenes.semantic                              # (N, H, W) int64: 0 background, 1 + class
    scenes.tensors()                             # (N, 3, H, W) torch float32 for a network

The same seed always gives the same scenes (on any machine with the same numpy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

CLASSES = ("circle", "square", "triangle")
COLORS = {
    "red": (0.86, 0.16, 0.14),
    "green": (0.18, 0.70, 0.22),
    "blue": (0.16, 0.32, 0.90),
    "yellow": (0.95, 0.85, 0.15),
}
COLOR_NAMES = tuple(COLORS)
SIZE_NAMES = ("small", "large")
BACKGROUNDS = ("texture", "noise", "plain")


# --------------------------------------------------------------------------------------------
# Data containers
# --------------------------------------------------------------------------------------------
@dataclass
class DetectionData:
    """Images with boxes and labels (the shapes scenes, or a data set read from VOC files).

    images: (N, H, W, 3) float32 in [0, 1] when all images have one size, else a list of them
    boxes:  list of N arrays (K_i, 4) float32, (x1, y1, x2, y2) in pixels
    labels: list of N arrays (K_i,) int64, indices into class_names
    class_names: names of the classes
    difficult: list of N arrays (K_i,) bool (VOC's "difficult" flag; all False for shapes)
    """

    images: np.ndarray | list
    boxes: list
    labels: list
    class_names: tuple
    difficult: list = field(default_factory=list)

    def __post_init__(self):
        n = len(self.images)
        if len(self.boxes) != n or len(self.labels) != n:
            raise ValueError(f"DetectionData: {n} images but {len(self.boxes)} box arrays and "
                             f"{len(self.labels)} label arrays; expected one of each per image")
        if not self.difficult:
            self.difficult = [np.zeros(len(b), dtype=bool) for b in self.boxes]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def objects_per_image(self) -> np.ndarray:
        """(N,) int64: how many objects each image has."""
        return np.array([len(b) for b in self.boxes], dtype=np.int64)

    def tensors(self):
        """The images as one torch tensor (N, 3, H, W) float32 (needs images of one size)."""
        import torch

        if isinstance(self.images, list):
            raise ValueError("tensors(): the images have different sizes; resize them first")
        return torch.from_numpy(np.ascontiguousarray(self.images.transpose(0, 3, 1, 2)))


@dataclass
class ShapesScenes(DetectionData):
    """Shapes scenes: DetectionData plus masks, colours, sizes and the semantic label map.

    masks:    list of N arrays (K_i, H, W) bool, visible pixels of each object
    colors:   list of N arrays (K_i,) int64, indices into COLOR_NAMES
    sizes:    list of N arrays (K_i,) int64, 0 = small, 1 = large
    semantic: (N, H, W) int64, 0 for background and 1 + class index on objects
    seed:     the seed that made them
    """

    masks: list = field(default_factory=list)
    colors: list = field(default_factory=list)
    sizes: list = field(default_factory=list)
    semantic: np.ndarray | None = None
    seed: int | None = None

    def subset(self, index) -> ShapesScenes:
        """The scenes at the given indices (a slice, a list or a boolean mask)."""
        idx = np.arange(len(self))[index]
        pick = lambda seq: [seq[i] for i in idx]
        return ShapesScenes(self.images[idx], pick(self.boxes), pick(self.labels),
                            self.class_names, pick(self.difficult), pick(self.masks),
                            pick(self.colors), pick(self.sizes), self.semantic[idx], self.seed)

    def instance_map(self, i: int) -> np.ndarray:
        """(H, W) int64: 0 for background, k + 1 on the visible pixels of object k of scene i."""
        out = np.zeros(self.images.shape[1:3], dtype=np.int64)
        for k, m in enumerate(self.masks[i]):
            out[m] = k + 1
        return out

    def describe(self, i: int) -> list[str]:
        """The objects of scene i in words, e.g. ['large red circle at (12, 30, 40, 58)']."""
        return [f"{SIZE_NAMES[s]} {COLOR_NAMES[c]} {self.class_names[lab]} at "
                f"({', '.join(str(int(v)) for v in b)})"
                for b, lab, c, s in zip(self.boxes[i], self.labels[i], self.colors[i],
                                        self.sizes[i], strict=True)]


# --------------------------------------------------------------------------------------------
# Rasterising one shape
# --------------------------------------------------------------------------------------------
def shape_mask(kind: str, center: tuple[float, float], extent: float, size: int) -> np.ndarray:
    """(size, size) bool: the pixels whose centres fall inside the shape.

    kind: 'circle' | 'square' | 'triangle'; center: (x, y) in pixels; extent: the shape's width
    in pixels (the diameter of a circle, the side of a square, the base of a triangle, whose
    height equals its base).
    """
    if kind not in CLASSES:
        raise ValueError(f"shape_mask: kind must be one of {CLASSES}, got {kind!r}")
    if extent <= 0:
        raise ValueError(f"shape_mask: extent must be positive, got {extent}")
    cx, cy = center
    yy, xx = np.mgrid[0:size, 0:size] + 0.5  # pixel centres
    h = extent / 2
    if kind == "circle":
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= h * h
    if kind == "square":
        return (np.abs(xx - cx) <= h) & (np.abs(yy - cy) <= h)
    # An upright triangle: apex at (cx, cy - h), base from (cx - h, cy + h) to (cx + h, cy + h).
    inside_base = yy <= cy + h
    depth = (yy - (cy - h)) / 2  # the half-width of the triangle at this row
    return inside_base & (depth >= 0) & (np.abs(xx - cx) <= depth)


def box_of_mask(mask: np.ndarray) -> np.ndarray:
    """(4,) float32 tight box (x1, y1, x2, y2) of a non-empty (H, W) bool mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("box_of_mask: the mask is empty")
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Backgrounds
# --------------------------------------------------------------------------------------------
def make_background(rng: np.random.Generator, size: int, kind: str = "texture",
                    noise: float = 0.04) -> np.ndarray:
    """(size, size, 3) float32 in [0, 1]: a muted background.

    'texture': a few random oriented waves and a colour gradient, plus pixel noise;
    'noise': a flat muted colour plus pixel noise; 'plain': a flat muted colour.
    """
    if kind not in BACKGROUNDS:
        raise ValueError(f"make_background: kind must be one of {BACKGROUNDS}, got {kind!r}")
    base = rng.uniform(0.30, 0.65) + rng.uniform(-0.08, 0.08, size=3)  # a muted grey-ish colour
    img = np.broadcast_to(base, (size, size, 3)).astype(np.float32).copy()
    if kind == "texture":
        yy, xx = (np.mgrid[0:size, 0:size] + 0.5) / size
        for _ in range(3):
            freq = rng.uniform(1.5, 6.0)
            theta = rng.uniform(0, np.pi)
            wave = np.cos(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta))
                          + rng.uniform(0, 2 * np.pi))
            tint = rng.uniform(0.03, 0.09) * (1 + rng.uniform(-0.5, 0.5, size=3))
            img += wave[..., None].astype(np.float32) * tint.astype(np.float32)
        grad = rng.uniform(-0.12, 0.12, size=(2, 3)).astype(np.float32)
        img += (xx[..., None] - 0.5) * grad[0] + (yy[..., None] - 0.5) * grad[1]
    if kind != "plain" and noise > 0:
        img += rng.normal(0, noise, size=img.shape).astype(np.float32)
    return np.clip(img, 0, 1)


# --------------------------------------------------------------------------------------------
# Scenes
# --------------------------------------------------------------------------------------------
@dataclass
class Scene:
    """One scene: image (H, W, 3) float32, and its objects (see the module docstring)."""

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    colors: np.ndarray
    sizes: np.ndarray


def _extent(rng: np.random.Generator, size: int, size_class: int) -> float:
    lo, hi = ((0.16, 0.24), (0.32, 0.44))[size_class]
    return float(rng.uniform(lo, hi) * size)


def make_scene(rng: np.random.Generator, size: int = 64, min_objects: int = 1,
               max_objects: int = 4, classes: Sequence[str] = CLASSES,
               background: str = "texture", noise: float = 0.04, min_visible: float = 0.6,
               max_tries: int = 30) -> Scene:
    """One random scene.

    Objects are placed one after another; a new object is kept only if every object so far still
    shows at least `min_visible` of its area (so nothing disappears behind later shapes), which
    bounds occlusion. The number of objects is uniform in [min_objects, max_objects]; a scene
    may end with fewer if no placement satisfies the rule after `max_tries` attempts.
    """
    image = make_background(rng, size, background, noise)
    n_objects = int(rng.integers(min_objects, max_objects + 1))
    full: list[np.ndarray] = []  # the complete mask of each placed shape
    visible: list[np.ndarray] = []
    labels, colors, sizes = [], [], []
    for _ in range(n_objects):
        for _ in range(max_tries):
            size_class = int(rng.integers(2))
            extent = _extent(rng, size, size_class)
            h = extent / 2
            center = (rng.uniform(h, size - h), rng.uniform(h, size - h))
            label = int(rng.integers(len(classes)))
            mask = shape_mask(classes[label], center, extent, size)
            if mask.sum() < 12:
                continue
            new_visible = [v & ~mask for v in visible]
            if all(nv.sum() >= min_visible * f.sum() for nv, f in zip(new_visible, full, strict=True)):
                visible = new_visible + [mask]
                full.append(mask)
                labels.append(label)
                colors.append(int(rng.integers(len(COLORS))))
                sizes.append(size_class)
                break
    for mask, c in zip(full, colors, strict=True):
        rgb = np.array(COLORS[COLOR_NAMES[c]], dtype=np.float32)
        rgb = np.clip(rgb + rng.uniform(-0.07, 0.07, size=3).astype(np.float32), 0, 1)
        shade = 1 + rng.normal(0, 0.03, size=(int(mask.sum()), 1)).astype(np.float32)
        image[mask] = np.clip(rgb * shade, 0, 1)
    k = len(labels)
    masks = np.array(visible, dtype=bool).reshape(k, size, size)
    boxes = np.array([box_of_mask(m) for m in masks], dtype=np.float32).reshape(k, 4)
    return Scene(image, boxes, np.array(labels, dtype=np.int64), masks,
                 np.array(colors, dtype=np.int64), np.array(sizes, dtype=np.int64))


def make_scenes(n: int, seed: int = 0, size: int = 64, min_objects: int = 1,
                max_objects: int = 4, classes: Sequence[str] = CLASSES,
                background: str = "texture", noise: float = 0.04,
                min_visible: float = 0.6) -> ShapesScenes:
    """n shapes scenes, deterministic from `seed` (see make_scene for the arguments).

    Returns a ShapesScenes with images (n, size, size, 3) float32 in [0, 1].
    """
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ValueError(f"make_scenes: n must be a positive integer, got {n!r}")
    if not (isinstance(size, (int, np.integer)) and 16 <= size <= 512):
        raise ValueError(f"make_scenes: size must be an integer in [16, 512], got {size!r}")
    if not 0 <= min_objects <= max_objects:
        raise ValueError(f"make_scenes: need 0 <= min_objects <= max_objects, got "
                         f"{min_objects} and {max_objects}")
    unknown = [c for c in classes if c not in CLASSES]
    if unknown or not classes:
        raise ValueError(f"make_scenes: classes must be a non-empty subset of {CLASSES}, "
                         f"got {tuple(classes)}")
    if not 0 < min_visible <= 1:
        raise ValueError(f"make_scenes: min_visible must be in (0, 1], got {min_visible}")
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), dtype=np.float32)
    semantic = np.zeros((n, size, size), dtype=np.int64)
    boxes, labels, masks, colors, sizes = [], [], [], [], []
    for i in range(n):
        s = make_scene(rng, size, min_objects, max_objects, classes, background, noise,
                       min_visible)
        images[i] = s.image
        for m, lab in zip(s.masks, s.labels, strict=True):
            semantic[i][m] = lab + 1
        boxes.append(s.boxes)
        labels.append(s.labels)
        masks.append(s.masks)
        colors.append(s.colors)
        sizes.append(s.sizes)
    return ShapesScenes(images, boxes, labels, tuple(classes), [], masks, colors, sizes,
                        semantic, seed)


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------
def draw_boxes(ax, boxes, labels=None, scores=None, class_names: Sequence[str] | None = None,
               color=None, linestyle: str = "-", linewidth: float = 1.5, fontsize: float = 7,
               show_text: bool = True):
    """Draw boxes (K, 4) (x1, y1, x2, y2) on an image axis; returns the list of patches.

    With labels the colour follows the class (the course palette); with scores the text shows
    them ('circle 0.93'). Pixel edges are at integer coordinates, as in imshow with
    extent=(0, W, H, 0), which show_scene sets.
    """
    from matplotlib.patches import Rectangle

    from dlcv.plots import CLASS_COLORS

    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    patches = []
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        lab = None if labels is None else int(labels[k])
        col = color or (CLASS_COLORS[lab % len(CLASS_COLORS)] if lab is not None else "white")
        rect = Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=col,
                         linewidth=linewidth, linestyle=linestyle)
        ax.add_patch(rect)
        patches.append(rect)
        if show_text and (lab is not None or scores is not None):
            text = class_names[lab] if (class_names is not None and lab is not None) else (
                str(lab) if lab is not None else "")
            if scores is not None:
                text = f"{text} {float(scores[k]):.2f}".strip()
            ax.text(x1, y1 - 0.5, text, color="white", fontsize=fontsize, va="bottom",
                    bbox=dict(facecolor=col, edgecolor="none", pad=0.8, alpha=0.85))
    return patches


def show_scene(ax, image, boxes=None, labels=None, scores=None,
               class_names: Sequence[str] | None = CLASSES, title: str | None = None,
               alpha: float = 1.0, **kw):
    """An image (H, W, 3) with its boxes; pixel edges at integer coordinates. `alpha` fades the
    image (for drawing over it)."""
    h, w = np.shape(image)[:2]
    ax.imshow(np.clip(image, 0, 1), extent=(0, w, h, 0), interpolation="nearest", alpha=alpha)
    if boxes is not None:
        draw_boxes(ax, boxes, labels, scores, class_names, **kw)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax
