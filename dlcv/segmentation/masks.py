"""Instance masks for lecture 11: the geometry of Mask R-CNN's mask and keypoint heads.

    mask_target(mask, box, size)           (H, W) mask of one object -> (size, size) float32: the
                                           mask resampled to the size x size grid over its box
                                           (the head's target)
    paste_mask(mask, box, image_size)      (m, m) mask of one box -> (H, W) bool: back in the image
    keypoint_target(point, box, size)      (x, y) -> (row, col): the one-hot cell of a keypoint on
                                           the box's size x size grid
    keypoint_from_heatmap(heatmap, box)    (size, size) heatmap -> (x, y): the image point of its
                                           arg-max cell

Boxes are (4,) (x1, y1, x2, y2) in pixels. Segmentation is not part of any assignment, so this
module holds complete implementations. The box geometry of detection (IoU, NMS, box encoding,
RoI pooling and RoIAlign) belongs to assignment a4 and is not here: mask_target and paste_mask
work on boxes rounded to whole pixels, with plain bilinear resizing, as the first public Mask
R-CNN code pasted its masks.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dlcv.validate import integer


def _box(box, who: str) -> np.ndarray:
    b = np.asarray(box, dtype=np.float64)
    if b.shape != (4,) or not np.all(np.isfinite(b)) or b[2] <= b[0] or b[3] <= b[1]:
        raise ValueError(f"{who}: box must be (4,) finite (x1, y1, x2, y2) with x2 > x1 and "
                         f"y2 > y1, got {np.asarray(box).tolist()}")
    return b


def _pixel_box(b: np.ndarray) -> tuple[int, int, int, int]:
    """A box rounded to whole pixels, at least one pixel wide and high."""
    x1, y1 = int(np.floor(b[0] + 0.5)), int(np.floor(b[1] + 0.5))
    x2, y2 = int(np.floor(b[2] + 0.5)), int(np.floor(b[3] + 0.5))
    return x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)


def mask_target(mask, box, size: int = 28) -> np.ndarray:
    """The mask head's target for one object: its mask inside its box, resampled to size x size.

    The box is rounded to whole pixels (pixel column c covers [c, c + 1)); the part of the mask
    inside it (zeros outside the image) is resized bilinearly to (size, size). Threshold the
    result at 0.5 for a binary target.

    Args:
        mask: (H, W) bool or float in [0, 1]; box: (4,) (x1, y1, x2, y2) in pixels; size: side.

    Returns:
        (size, size) float32 in [0, 1].
    """
    who = "mask_target"
    m = np.asarray(mask, dtype=np.float32)
    if m.ndim != 2:
        raise ValueError(f"{who}: mask must be (H, W), got shape {m.shape}")
    size = integer(who, "size", size, 1)
    x1, y1, x2, y2 = _pixel_box(_box(box, who))
    H, W = m.shape
    crop = np.zeros((y2 - y1, x2 - x1), dtype=np.float32)
    r0, r1, c0, c1 = max(y1, 0), min(y2, H), max(x1, 0), min(x2, W)
    if r1 > r0 and c1 > c0:
        crop[r0 - y1:r1 - y1, c0 - x1:c1 - x1] = m[r0:r1, c0:c1]
    t = F.interpolate(torch.from_numpy(crop)[None, None], size=(size, size), mode="bilinear",
                      align_corners=False)
    return t[0, 0].clamp(0.0, 1.0).numpy()  # bilinear weights can overshoot by rounding


def paste_mask(mask, box, image_size: tuple[int, int], threshold: float = 0.5) -> np.ndarray:
    """Paste one predicted box mask back into the image.

    The (m, m) mask (probabilities, e.g. the sigmoid of the 28 x 28 logits) is resized
    bilinearly to the box rounded to whole pixels, thresholded, and placed into an empty image;
    the parts of the box outside the image are cut off.

    Args:
        mask: (m, m) float probabilities in [0, 1]; box: (4,) (x1, y1, x2, y2) in pixels;
        image_size: (H, W); threshold: probability above which a pixel belongs to the object.

    Returns:
        (H, W) bool.
    """
    who = "paste_mask"
    m = np.asarray(mask, dtype=np.float32)
    if m.ndim != 2 or not np.all(np.isfinite(m)):
        raise ValueError(f"{who}: mask must be a finite (m, m) array, got shape {m.shape}")
    if len(tuple(image_size)) != 2:
        raise ValueError(f"{who}: image_size must be (H, W), got {image_size!r}")
    H, W = (integer(who, "image_size", s, 1) for s in image_size)
    x1, y1, x2, y2 = _pixel_box(_box(box, who))
    up = F.interpolate(torch.from_numpy(m)[None, None], size=(y2 - y1, x2 - x1), mode="bilinear",
                       align_corners=False)[0, 0].numpy()  # (h, w)
    out = np.zeros((H, W), dtype=bool)
    r0, r1, c0, c1 = max(y1, 0), min(y2, H), max(x1, 0), min(x2, W)
    if r1 > r0 and c1 > c0:
        out[r0:r1, c0:c1] = up[r0 - y1:r1 - y1, c0 - x1:c1 - x1] > threshold
    return out


def keypoint_target(point, box, size: int = 56) -> tuple[int, int]:
    """The one cell of a size x size grid over the box that holds the keypoint (x, y): the
    keypoint head's target is a one-hot size x size map, trained with a softmax over all
    size * size positions.

    Returns:
        (row, col), each in 0..size-1 (a point outside the box is clipped to its border cell).
    """
    who = "keypoint_target"
    b = _box(box, who)
    size = integer(who, "size", size, 1)
    p = np.asarray(point, dtype=np.float64)
    if p.shape != (2,) or not np.all(np.isfinite(p)):
        raise ValueError(f"{who}: point must be (2,) finite (x, y), got "
                         f"{np.asarray(point).tolist()}")
    col = int(np.clip(np.floor((p[0] - b[0]) / (b[2] - b[0]) * size), 0, size - 1))
    row = int(np.clip(np.floor((p[1] - b[1]) / (b[3] - b[1]) * size), 0, size - 1))
    return row, col


def keypoint_from_heatmap(heatmap, box) -> tuple[float, float]:
    """The image point (x, y) of the centre of a heatmap's arg-max cell, the heatmap
    (size, size) laid over the box (the inverse of keypoint_target, to half a cell)."""
    who = "keypoint_from_heatmap"
    h = np.asarray(heatmap, dtype=np.float64)
    if h.ndim != 2 or h.shape[0] != h.shape[1] or not np.all(np.isfinite(h)):
        raise ValueError(f"{who}: heatmap must be a finite square (size, size) array, got shape "
                         f"{h.shape}")
    b = _box(box, who)
    size = h.shape[0]
    row, col = np.unravel_index(int(np.argmax(h)), h.shape)
    return (float(b[0] + (col + 0.5) / size * (b[2] - b[0])),
            float(b[1] + (row + 0.5) / size * (b[3] - b[1])))
