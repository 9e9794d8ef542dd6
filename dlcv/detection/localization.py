"""Lecture 09's machinery: localisation as regression, sliding windows, OverFeat, proposals.

    LocalizationNet(specific=False)      a small CNN for 64x64 scenes: class scores (background +
                                         3 shapes) and one box (class-agnostic) or one per class
    localization_data(n, seed)           one-object shapes scenes (and some empty ones) as tensors
    train_localizer(net, data, ...)      cross-entropy + box_weight * L2 box loss, Adam, a few s
    predict_boxes(net, images)           class probabilities and the box of the predicted class
    count_windows(width, height, ...)    how many windows a sliding-window detector must score
    window_crops(image, size, stride)    every window of an image, cut out (the naive way)
    convolutionalize(net)                the same network with its Linear layers as convolutions
    dense_predictions(fcn, image)        one pass over a large image: a map of scores and boxes
    compose_scene(scenes, corners, ...)  a larger scene made of the objects of one-object scenes
    greedy_merge(boxes, scores, ...)     OverFeat's greedy merging of the boxes of many windows
    selective_search(image, ...)         region proposals by hierarchical grouping of segments

Boxes are (x1, y1, x2, y2) in pixels with pixel edges (see dlcv.shapes). IoU, NMS, box
encoding, anchors and their matching, detection AP and RoI pooling are assignment a4's work:
where this module needs an IoU of two boxes it uses the lecture's loop version from
dlcv.detection.boxes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.loop import shuffled, train
from dlcv.shapes import CLASSES, ShapesScenes, make_background, make_scenes

WINDOW = 64  # the input size of LocalizationNet: one window, in pixels
NET_STRIDE = 8  # how far apart the windows of the convolutionalised net are, in pixels
LOC_CLASSES = ("background",) + CLASSES  # class 0 is "no object"


@contextmanager
def _seeded(seed: int | None):
    """Fix torch's global random state inside the block and restore it after (None: no-op)."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------
class LocalizationNet(nn.Module):
    """Classification plus localisation for one 64x64 window.

    features: AvgPool 2 -> conv 3x3 (3 -> 16) -> BN -> ReLU -> max-pool 2 -> conv 4x4 (16 -> 32)
              -> BN -> ReLU -> max-pool 2 -> conv 3x3 (32 -> 32) -> BN -> ReLU, all without
              padding: x (N, 3, 64, 64) -> (N, 32, 4, 4). Total stride 8.
    fc:       Linear(512, hidden) -> ReLU
    cls:      Linear(hidden, 4): scores of background, circle, square, triangle
    box:      Linear(hidden, 4) (class-agnostic) or Linear(hidden, 12) (specific=True: one box
              per shape class, class c's box in columns 4c..4c+3). Boxes are (x1, y1, x2, y2)
              divided by 64, so a window's box lies in [0, 1].

    forward(x) -> (scores (N, 4), boxes (N, 4) or (N, 12)). seed fixes the initial weights
    without touching torch's global random state.
    """

    def __init__(self, specific: bool = False, hidden: int = 64, seed: int | None = 0):
        super().__init__()
        if not (isinstance(hidden, int) and hidden >= 1):
            raise ValueError(f"LocalizationNet: hidden must be a positive int, got {hidden!r}")
        self.specific = bool(specific)
        self.num_classes = len(LOC_CLASSES)
        with _seeded(seed):
            self.features = nn.Sequential(
                nn.AvgPool2d(2),                                            # (N, 3, 32, 32)
                nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.ReLU(),         # (N, 16, 30, 30)
                nn.MaxPool2d(2),                                            # (N, 16, 15, 15)
                nn.Conv2d(16, 32, 4), nn.BatchNorm2d(32), nn.ReLU(),        # (N, 32, 12, 12)
                nn.MaxPool2d(2),                                            # (N, 32, 6, 6)
                nn.Conv2d(32, 32, 3), nn.BatchNorm2d(32), nn.ReLU())        # (N, 32, 4, 4)
            self.fc = nn.Linear(32 * 4 * 4, hidden)
            self.cls = nn.Linear(hidden, self.num_classes)
            self.box = nn.Linear(hidden, 4 * (self.num_classes - 1) if specific else 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (3, 64, 64):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"LocalizationNet: x must have shape (N, 3, 64, 64), got {shape}")
        h = torch.relu(self.fc(self.features(x).flatten(1)))               # (N, hidden)
        return self.cls(h), self.box(h)


def box_of_class(boxes: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """The box of each example's class from a head's output.

    boxes: (N, 4) (class-agnostic: returned as is) or (N, 4 * C) (class-specific, C shape
    classes); classes: (N,) int64 in 0..C (0 = background, which gets the first class's box).
    Returns (N, 4).
    """
    if boxes.shape[1] == 4:
        return boxes
    n = boxes.shape[0]
    per_class = boxes.view(n, -1, 4)                                       # (N, C, 4)
    return per_class[torch.arange(n), (classes - 1).clamp(min=0)]


# --------------------------------------------------------------------------------------------
# Data and training
# --------------------------------------------------------------------------------------------
@dataclass
class LocalizationData:
    """Windows with at most one object each.

    images: (N, 3, 64, 64) float32 tensor; labels: (N,) int64 tensor, 0 = background (an empty
    scene), 1 + shape class otherwise; boxes: (N, 4) float32 tensor, the object's box in pixels
    (zeros for background); scenes: the ShapesScenes with objects, then the empty ones.
    """

    images: torch.Tensor
    labels: torch.Tensor
    boxes: torch.Tensor
    scenes: ShapesScenes
    empty: ShapesScenes | None = None

    def __len__(self) -> int:
        return len(self.labels)


def localization_data(n: int, seed: int = 0, empty_fraction: float = 0.12) -> LocalizationData:
    """n one-object 64x64 shapes scenes plus round(empty_fraction * n) scenes without objects."""
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"localization_data: n must be a positive int, got {n!r}")
    if not 0 <= empty_fraction < 1:
        raise ValueError(f"localization_data: empty_fraction must be in [0, 1), got "
                         f"{empty_fraction}")
    scenes = make_scenes(n, seed=seed, min_objects=1, max_objects=1)
    images = [scenes.tensors()]
    labels = [torch.tensor([int(lab[0]) + 1 for lab in scenes.labels])]
    boxes = [torch.from_numpy(np.stack([b[0] for b in scenes.boxes]))]
    n_empty = int(round(empty_fraction * n))
    empty = None
    if n_empty:
        empty = make_scenes(n_empty, seed=seed + 10_000, min_objects=0, max_objects=0)
        images.append(empty.tensors())
        labels.append(torch.zeros(n_empty, dtype=torch.int64))
        boxes.append(torch.zeros(n_empty, 4))
    return LocalizationData(torch.cat(images), torch.cat(labels), torch.cat(boxes).float(),
                            scenes, empty)


@dataclass
class TrainLog:
    """Per epoch: mean total loss, mean cross-entropy, mean box loss (box_weight not applied)."""

    loss: list = field(default_factory=list)
    cls: list = field(default_factory=list)
    box: list = field(default_factory=list)
    seconds: float = 0.0


def localization_loss(scores, boxes, labels, target_boxes, box_weight: float = 3.0):
    """Multitask loss of a batch: (total, cross-entropy, box loss).

    scores: (N, 4); boxes: (N, 4) or (N, 12) predicted boxes / 64; labels: (N,) 0..3;
    target_boxes: (N, 4) in pixels. The box loss is the squared L2 distance between the predicted
    and the true box (coordinates divided by 64), averaged over the examples that have an object:
    background windows have no box to regress. total = cross-entropy + box_weight * box loss.
    """
    ce = F.cross_entropy(scores, labels)
    obj = labels > 0
    if obj.any():
        pred = box_of_class(boxes, labels)[obj]                            # (M, 4)
        box = ((pred - target_boxes[obj] / WINDOW) ** 2).sum(dim=1).mean()
    else:
        box = scores.new_zeros(())
    return ce + box_weight * box, ce, box


def train_localizer(net: LocalizationNet, data: LocalizationData, epochs: int = 12,
                    batch_size: int = 32, lr: float = 5e-3, box_weight: float = 3.0,
                    flip: bool = True, seed: int = 0) -> TrainLog:
    """Train net in place with Adam and a one-cycle learning rate; returns a TrainLog.

    Each minibatch flips a random half of its windows left-right (and their boxes), which doubles
    the data for free. seed fixes the order of the minibatches and the flips.
    """
    import time

    if not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f"train_localizer: epochs must be a positive int, got {epochs!r}")
    n = len(data)
    if n < batch_size:
        raise ValueError(f"train_localizer: {n} examples, fewer than batch_size={batch_size}")
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = n // batch_size
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr,
                                                total_steps=epochs * steps_per_epoch)
    log = TrainLog()
    sums = np.zeros(3)

    def loss_of(idx):
        nonlocal sums
        x, y, b = data.images[idx], data.labels[idx], data.boxes[idx].clone()
        if flip:
            f = torch.rand(len(idx), generator=gen) < 0.5
            x = torch.where(f[:, None, None, None], x.flip(-1), x)
            b[f] = torch.stack([WINDOW - b[f, 2], b[f, 1], WINDOW - b[f, 0], b[f, 3]], 1)
            b[y == 0] = 0
        scores, boxes = net(x)
        loss, ce, bl = localization_loss(scores, boxes, y, b, box_weight)
        sums += (loss.item(), ce.item(), bl.item())
        return loss

    t0 = time.perf_counter()
    net.train()
    for _ in range(epochs):
        sums = np.zeros(3)
        train(loss_of, opt, shuffled(n, batch_size, gen, drop_last=True), scheduler=sched)
        for lst, v in zip((log.loss, log.cls, log.box), sums / steps_per_epoch, strict=True):
            lst.append(float(v))
    net.eval()
    log.seconds = time.perf_counter() - t0
    return log


@torch.no_grad()
def predict_boxes(net: LocalizationNet, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities (N, 4), boxes (N, 4) in pixels) for 64x64 windows (N, 3, 64, 64).

    The box is the class-agnostic one, or (class-specific head) the box of the most probable
    shape class, the background excluded.
    """
    net.eval()
    scores, boxes = net(images)
    prob = torch.softmax(scores, dim=1)
    best_shape = prob[:, 1:].argmax(dim=1) + 1                             # (N,) in 1..3
    return prob.numpy(), (box_of_class(boxes, best_shape) * WINDOW).numpy()


# --------------------------------------------------------------------------------------------
# Sliding windows and OverFeat
# --------------------------------------------------------------------------------------------
def count_windows(width: int, height: int, sizes: Sequence[int], step: float | None = 0.125,
                  ratios: Sequence[float] = (1.0,)) -> list[tuple[int, float, int]]:
    """How many windows a sliding-window detector scores on a width x height image.

    sizes: window sides in pixels (the square root of the window's area); ratios: aspect ratios
    height / width; step: the shift between neighbouring windows as a fraction of the window's
    width (horizontally) and height (vertically), at least one pixel; None: one pixel.
    Returns one (size, ratio, count) per window shape that fits in the image.
    """
    if width < 1 or height < 1:
        raise ValueError(f"count_windows: width and height must be positive, got "
                         f"{width}, {height}")
    if step is not None and not 0 < step <= 1:
        raise ValueError(f"count_windows: step is a fraction of the window side in (0, 1] or "
                         f"None (one pixel), got {step}")
    out = []
    for s in sizes:
        for r in ratios:
            w, h = round(s / math.sqrt(r)), round(s * math.sqrt(r))
            if w > width or h > height or w < 1 or h < 1:
                continue
            sx, sy = (1, 1) if step is None else (max(1, round(step * w)), max(1, round(step * h)))
            out.append((int(s), float(r), ((width - w) // sx + 1) * ((height - h) // sy + 1)))
    return out


def window_crops(image: torch.Tensor, size: int = WINDOW, stride: int = NET_STRIDE
                 ) -> tuple[torch.Tensor, np.ndarray]:
    """Every size x size window of image (3, H, W) at the given stride, cut out one by one.

    Returns crops (M, 3, size, size) and their top-left corners (M, 2) as (x, y), row by row.
    """
    if not isinstance(image, torch.Tensor) or image.dim() != 3 or image.shape[0] != 3:
        raise ValueError("window_crops: image must be a tensor of shape (3, H, W)")
    _, h, w = image.shape
    if h < size or w < size:
        raise ValueError(f"window_crops: the image ({h}x{w}) is smaller than the window {size}")
    corners = [(x, y) for y in range(0, h - size + 1, stride)
               for x in range(0, w - size + 1, stride)]
    crops = torch.stack([image[:, y:y + size, x:x + size] for x, y in corners])
    return crops, np.array(corners, dtype=np.int64)


class ConvLocalizer(nn.Module):
    """LocalizationNet with its Linear layers rewritten as convolutions (OverFeat's trick).

    fc (Linear(32*4*4, hidden)) becomes Conv2d(32, hidden, 4); cls and box become 1x1
    convolutions; the weights are copied, not retrained. forward(x) on (N, 3, H, W) with H, W >= 64
    gives scores (N, 4, h, w) and boxes (N, 4 or 12, h, w), h = (H - 64) // 8 + 1: the outputs of
    the window whose top-left corner is (8 j, 8 i) at position (i, j).
    """

    def __init__(self, net: LocalizationNet):
        super().__init__()
        self.features = net.features
        self.specific = net.specific
        hidden = net.fc.out_features
        self.fc = nn.Conv2d(32, hidden, 4)
        self.cls = nn.Conv2d(hidden, net.cls.out_features, 1)
        self.box = nn.Conv2d(hidden, net.box.out_features, 1)
        with torch.no_grad():
            self.fc.weight.copy_(net.fc.weight.view(hidden, 32, 4, 4))     # same numbers
            self.fc.bias.copy_(net.fc.bias)
            for conv, lin in ((self.cls, net.cls), (self.box, net.box)):
                conv.weight.copy_(lin.weight[:, :, None, None])
                conv.bias.copy_(lin.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3 \
                or min(x.shape[2:]) < WINDOW:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"ConvLocalizer: x must have shape (N, 3, H, W) with H, W >= 64, "
                             f"got {shape}")
        h = torch.relu(self.fc(self.features(x)))                          # (N, hidden, h, w)
        return self.cls(h), self.box(h)


def convolutionalize(net: LocalizationNet) -> ConvLocalizer:
    """A fully convolutional copy of a trained LocalizationNet (in eval mode)."""
    return ConvLocalizer(net).eval()


@dataclass
class DenseOutput:
    """The convolutionalised network's answer for every window of one image.

    prob: (4, h, w) class probabilities (background first) of the window at each position;
    boxes: (h, w, 4) the box of the most probable shape class, in image pixels;
    corners: (h, w, 2) the windows' top-left corners (x, y); stride, window: in pixels.
    """

    prob: np.ndarray
    boxes: np.ndarray
    corners: np.ndarray
    stride: int = NET_STRIDE
    window: int = WINDOW

    def detections(self, min_score: float = 0.5):
        """Windows whose best shape class has probability >= min_score:
        (boxes (M, 4), scores (M,), labels (M,) shape indices 0..2, window boxes (M, 4))."""
        shape_prob = self.prob[1:]                                          # (3, h, w)
        best = shape_prob.argmax(axis=0)
        score = shape_prob.max(axis=0)
        keep = score >= min_score
        corners = self.corners[keep]
        windows = np.concatenate([corners, corners + self.window], axis=1).astype(np.float64)
        return self.boxes[keep], score[keep], best[keep], windows


@torch.no_grad()
def dense_predictions(fcn: ConvLocalizer, image) -> DenseOutput:
    """Run the convolutionalised net once over image (H, W, 3) numpy or (3, H, W) tensor."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"dense_predictions: image must be (H, W, 3), got {image.shape}")
        image = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()
    scores, boxes = fcn(image[None])                                       # (1, 4, h, w), ...
    prob = torch.softmax(scores[0], dim=0)                                 # (4, h, w)
    _, h, w = prob.shape
    best_shape = prob[1:].argmax(dim=0) + 1                                # (h, w)
    flat = boxes[0].permute(1, 2, 0).reshape(h * w, -1)                    # (h*w, 4 or 12)
    box = box_of_class(flat, best_shape.reshape(-1)).reshape(h, w, 4) * WINDOW
    ii, jj = np.mgrid[0:h, 0:w]
    corners = np.stack([jj * NET_STRIDE, ii * NET_STRIDE], axis=-1)        # (h, w, 2) as (x, y)
    box = box.numpy() + np.concatenate([corners, corners], axis=-1)        # window -> image
    return DenseOutput(prob.numpy(), box, corners)


@dataclass
class Composite:
    """A larger scene: image (S, S, 3) float32, boxes (K, 4), labels (K,) shape indices."""

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray


def compose_scene(scenes: ShapesScenes, index: Sequence[int], corners: Sequence[tuple[int, int]],
                  size: int = 128, seed: int = 0) -> Composite:
    """Paste the first object of scenes[index[k]] onto a fresh size x size background.

    The 64x64 tile of scene index[k] goes to top-left corner corners[k] = (x, y); only the
    object's visible pixels are copied, so the objects keep the scale the network was trained
    on. Objects must not overlap.
    """
    if len(index) != len(corners):
        raise ValueError(f"compose_scene: {len(index)} scenes but {len(corners)} corners")
    rng = np.random.default_rng(seed)
    tile = scenes.images.shape[1]
    image = make_background(rng, size)
    taken = np.zeros((size, size), dtype=bool)
    boxes, labels = [], []
    for i, (x, y) in zip(index, corners, strict=True):
        if not (0 <= x <= size - tile and 0 <= y <= size - tile):
            raise ValueError(f"compose_scene: corner {(x, y)} puts the {tile}x{tile} tile "
                             f"outside the {size}x{size} image")
        mask = scenes.masks[i][0]
        region = (slice(y, y + tile), slice(x, x + tile))
        if (taken[region] & mask).any():
            raise ValueError(f"compose_scene: the object of scene {i} overlaps an earlier one")
        taken[region] |= mask
        image[region][mask] = scenes.images[i][mask]
        boxes.append(scenes.boxes[i][0] + np.array([x, y, x, y], dtype=np.float32))
        labels.append(int(scenes.labels[i][0]))
    return Composite(image, np.array(boxes, dtype=np.float32).reshape(-1, 4),
                     np.array(labels, dtype=np.int64))


@dataclass
class MergeResult:
    """greedy_merge's output: boxes (M, 4) (mean of their members), scores (M,) (sum of the
    members' scores: OverFeat's accumulated confidence), labels (M,), counts (M,) members,
    steps: how many merges were made."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    counts: np.ndarray
    steps: int


def greedy_merge(boxes, scores, labels=None, max_distance: float = 0.5) -> MergeResult:
    """OverFeat's greedy box merging, with distance 1 - IoU between boxes of one class.

    Repeat: find the two closest boxes of the same label; if their distance is above
    max_distance, stop; otherwise replace them by one box, the average of their members'
    coordinates, whose score is the sum of the members' scores. (OverFeat's own match score
    combines the distance between centres and the overlap; 1 - IoU plays the same role.)
    boxes: (N, 4); scores: (N,); labels: (N,) ints or None (one class).
    """
    from dlcv.detection.boxes import iou_pair

    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(s) != len(b):
        raise ValueError(f"greedy_merge: {len(b)} boxes but {len(s)} scores")
    lab = np.zeros(len(b), dtype=np.int64) if labels is None else np.asarray(labels, np.int64)
    if lab.shape != (len(b),):
        raise ValueError(f"greedy_merge: labels must have shape ({len(b)},), got {lab.shape}")
    if not 0 <= max_distance <= 1:
        raise ValueError(f"greedy_merge: max_distance must be in [0, 1], got {max_distance}")
    groups = [dict(sum=b[i].copy(), n=1, score=s[i], label=int(lab[i])) for i in range(len(b))]
    steps = 0
    while True:
        best, pair = max_distance, None
        means = [g["sum"] / g["n"] for g in groups]
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if groups[i]["label"] != groups[j]["label"]:
                    continue
                d = 1.0 - iou_pair(means[i], means[j])
                if d <= best:
                    best, pair = d, (i, j)
        if pair is None:
            break
        i, j = pair
        gi, gj = groups[i], groups[j]
        groups[i] = dict(sum=gi["sum"] + gj["sum"], n=gi["n"] + gj["n"],
                         score=gi["score"] + gj["score"], label=gi["label"])
        del groups[j]
        steps += 1
    order = sorted(range(len(groups)), key=lambda k: -groups[k]["score"])
    return MergeResult(np.array([groups[k]["sum"] / groups[k]["n"] for k in order]).reshape(-1, 4),
                       np.array([groups[k]["score"] for k in order]),
                       np.array([groups[k]["label"] for k in order], dtype=np.int64),
                       np.array([groups[k]["n"] for k in order], dtype=np.int64), steps)


# --------------------------------------------------------------------------------------------
# Region proposals: a small selective search
# --------------------------------------------------------------------------------------------
@dataclass
class Grouping:
    """The hierarchy built by selective_search.

    segments: (H, W) int64, the initial regions 0..n-1; boxes: (R, 4) the box of every region
    ever formed (the n initial ones, then one per merge, R = 2n - 1 when everything merges);
    merges: list of (a, b, new) region ids, in order; sizes: (R,) pixels per region.
    """

    segments: np.ndarray
    boxes: np.ndarray
    merges: list
    sizes: np.ndarray

    @property
    def num_initial(self) -> int:
        return int(self.segments.max()) + 1

    def labels_after(self, steps: int) -> np.ndarray:
        """(H, W) region ids after the first `steps` merges (ids of the merged regions)."""
        n = self.num_initial
        if not 0 <= steps <= len(self.merges):
            raise ValueError(f"labels_after: steps must be in [0, {len(self.merges)}], "
                             f"got {steps}")
        parent = np.arange(n + len(self.merges))
        for a, b, new in self.merges[:steps]:
            parent[a] = parent[b] = new
        root = np.arange(n)
        for _ in range(len(self.merges) + 1):  # follow parents to the newest region
            nxt = parent[root]
            if np.array_equal(nxt, root):
                break
            root = nxt
        return root[self.segments]


def _colour_histogram(pixels: np.ndarray, bins: int) -> np.ndarray:
    h = np.concatenate([np.histogram(pixels[:, c], bins=bins, range=(0, 1))[0] for c in range(3)])
    return h / max(h.sum(), 1)


def selective_search(image: np.ndarray, scale: float = 60.0, sigma: float = 0.5,
                     min_size: int = 20, bins: int = 25) -> Grouping:
    """Region proposals in the spirit of Uijlings et al. (2013), kept small for teaching.

    1. Over-segment image (H, W, 3) float in [0, 1] with Felzenszwalb and Huttenlocher's graph
       method (skimage.segmentation.felzenszwalb, with scale, sigma, min_size).
    2. Repeatedly merge the two most similar *neighbouring* regions; similarity = colour
       (intersection of colour histograms, `bins` per channel) + size (1 - joint size / image
       size: small regions merge first) + fill (1 - the empty part of their joint box / image
       size: regions that fit together merge first). Texture, which the paper also uses, is left
       out.
    3. Every region ever formed, initial or merged, gives a proposal: its box.
    """
    from skimage.segmentation import felzenszwalb

    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"selective_search: image must be (H, W, 3), got {img.shape}")
    H, W = img.shape[:2]
    seg = felzenszwalb(img, scale=scale, sigma=sigma, min_size=min_size).astype(np.int64)
    n = int(seg.max()) + 1
    total = float(H * W)
    flat = seg.ravel()
    pix = img.reshape(-1, 3)
    regions = {}
    rows, cols = np.divmod(np.arange(H * W), W)
    for r in range(n):
        m = flat == r
        rr, cc = rows[m], cols[m]
        regions[r] = dict(size=int(m.sum()), hist=_colour_histogram(pix[m], bins),
                          box=np.array([cc.min(), rr.min(), cc.max() + 1, rr.max() + 1], float))
    # neighbours: pairs of different labels touching horizontally or vertically
    pairs = set()
    for a, b in ((seg[:, :-1], seg[:, 1:]), (seg[:-1, :], seg[1:, :])):
        diff = a != b
        for u, v in zip(a[diff].tolist(), b[diff].tolist(), strict=True):
            pairs.add((min(u, v), max(u, v)))

    def similarity(ra, rb):
        colour = np.minimum(ra["hist"], rb["hist"]).sum() / 3  # each channel sums to 1/3
        size = 1 - (ra["size"] + rb["size"]) / total
        x1, y1 = min(ra["box"][0], rb["box"][0]), min(ra["box"][1], rb["box"][1])
        x2, y2 = max(ra["box"][2], rb["box"][2]), max(ra["box"][3], rb["box"][3])
        fill = 1 - ((x2 - x1) * (y2 - y1) - ra["size"] - rb["size"]) / total
        return colour + size + fill

    sims = {p: similarity(regions[p[0]], regions[p[1]]) for p in pairs}
    boxes = [regions[r]["box"] for r in range(n)]
    sizes = [regions[r]["size"] for r in range(n)]
    merges = []
    nxt = n
    while sims:
        a, b = max(sims, key=lambda p: (sims[p], -p[0], -p[1]))
        ra, rb = regions.pop(a), regions.pop(b)
        size = ra["size"] + rb["size"]
        new = dict(size=size, hist=(ra["hist"] * ra["size"] + rb["hist"] * rb["size"]) / size,
                   box=np.array([min(ra["box"][0], rb["box"][0]), min(ra["box"][1], rb["box"][1]),
                                 max(ra["box"][2], rb["box"][2]), max(ra["box"][3], rb["box"][3])]))
        neighbours = set()
        for p in [p for p in sims if a in p or b in p]:
            del sims[p]
            neighbours.update(p)
        neighbours -= {a, b}
        regions[nxt] = new
        for q in neighbours:
            sims[(q, nxt)] = similarity(regions[q], new)
        merges.append((a, b, nxt))
        boxes.append(new["box"])
        sizes.append(size)
        nxt += 1
    return Grouping(seg, np.array(boxes, dtype=np.float64).reshape(-1, 4), merges,
                    np.array(sizes, dtype=np.int64))
