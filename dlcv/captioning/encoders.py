"""A small CNN image encoder for the shapes scenes: features that say what is where.

A captioner needs image features. This module trains a small convolutional network (lectures 06
and 07) to tell, for every cell of an 8 x 8 grid over a 64 x 64 scene, which object covers it:
background, or one of the 24 (size, colour, class) combinations. Its last convolutional layer
is then a map of what is where, which is what a caption talks about.

    features = encode_scenes(scenes, seed=0)    # ImageFeatures; the encoder is trained on first
                                                 # use (a few seconds) and cached per seed
    features.vectors   (N, D) float32, D = 1600: the 25 cell-label probabilities of every cell,
                       flattened and standardised; one vector per image (a captioner's h0)
    features.maps      (N, C, 8, 8) float32, C = 48: the last convolutional layer, one vector per
                       cell (an attention model looks at these)
    features.cell_probs (N, 25, 8, 8) float32: the encoder's probabilities per cell

    encoder = shapes_encoder(seed=0)             # the trained, cached EncoderResult
    grid_labels(scenes)                          # (N, 8, 8) the training targets
    show_cell_labels(ax, image, labels)          # a scene with a letter in every object cell

The encoder trains on its own scenes (make_scenes(num_scenes, seed=ENCODER_SCENE_SEED + seed)),
so it has never seen the scenes a caller makes with small seeds. Training it is not an
assignment task: nothing here is a solution of a5 (no RNN, LSTM, loss layer or BLEU).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.loop import sampled, train
from dlcv.shapes import CLASSES, COLOR_NAMES, COLORS, SIZE_NAMES, ShapesScenes, make_scenes, show_scene
from dlcv.timing import torch_threads

GRID = 8
NUM_CELL_LABELS = 1 + len(COLOR_NAMES) * 3 * len(SIZE_NAMES)  # background + 24 objects
ENCODER_SCENE_SEED = 7_000  # the encoder's own training scenes: make_scenes(n, 7000 + seed)


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------
def cell_label(color: int, kind: int, size: int, num_classes: int = 3) -> int:
    """The label of an object in the grid targets: 1 + (colour * num_classes + class) * 2 + size."""
    return 1 + (int(color) * num_classes + int(kind)) * len(SIZE_NAMES) + int(size)


def describe_cell_label(label: int, class_names=("circle", "square", "triangle")) -> str:
    """'background' or e.g. 'large red circle' for a grid label."""
    label = int(label)
    if not 0 <= label < 1 + len(COLOR_NAMES) * len(class_names) * len(SIZE_NAMES):
        raise ValueError(f"describe_cell_label: label must be in 0..{NUM_CELL_LABELS - 1}, "
                         f"got {label}")
    if label == 0:
        return "background"
    rest, size = divmod(label - 1, len(SIZE_NAMES))
    color, kind = divmod(rest, len(class_names))
    return f"{SIZE_NAMES[size]} {COLOR_NAMES[color]} {class_names[kind]}"


def grid_labels(scenes: ShapesScenes, grid: int = GRID, min_cover: float = 0.25) -> np.ndarray:
    """What the encoder learns to see: one label per cell of a grid x grid partition.

    Each cell gets the label (cell_label) of the object that covers most of its pixels, if that
    object covers at least min_cover of the cell, and 0 (background) otherwise.
    Returns (N, grid, grid) int64 with values in 0..NUM_CELL_LABELS - 1.
    """
    if not isinstance(scenes, ShapesScenes):
        raise TypeError(f"grid_labels: scenes must be a ShapesScenes, got {type(scenes).__name__}")
    N, H, W = scenes.images.shape[:3]
    if not (isinstance(grid, int | np.integer) and grid >= 1) or H % grid or W % grid:
        raise ValueError(f"grid_labels: grid must be a positive int dividing the image size "
                         f"{H}x{W}, got {grid!r}")
    if not 0 < min_cover <= 1:
        raise ValueError(f"grid_labels: min_cover must be in (0, 1], got {min_cover}")
    k = len(scenes.class_names)
    n_labels = 1 + len(COLOR_NAMES) * k * len(SIZE_NAMES)
    pix = np.zeros((N, H, W), dtype=np.int64)  # (N, H, W) label of every pixel
    for i in range(N):
        for m, lab, col, size in zip(scenes.masks[i], scenes.labels[i], scenes.colors[i],
                                     scenes.sizes[i], strict=True):
            pix[i][m] = cell_label(col, lab, size, k)
    ch, cw = H // grid, W // grid
    cell = (np.arange(H) // ch)[:, None] * grid + (np.arange(W) // cw)[None, :]  # (H, W)
    idx = (np.arange(N)[:, None, None] * grid * grid + cell[None]) * n_labels + pix
    counts = np.bincount(idx.ravel(), minlength=N * grid * grid * n_labels)
    counts = counts.reshape(N, grid, grid, n_labels)
    counts[..., 0] = 0  # the objects compete for the cell; background is what is left
    best = counts.argmax(-1)  # (N, grid, grid)
    covered = counts.max(-1) >= min_cover * ch * cw
    return np.where(covered, best, 0).astype(np.int64)


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------
class ShapesEncoder(nn.Module):
    """(N, 3, 64, 64) images in [0, 1] -> (N, channels, 8, 8) feature maps, and cell scores.

    conv 4x4 stride 4 (3 -> 16, 16 x 16) - conv 3x3 stride 2 (-> channels, 8 x 8) - two conv
    3x3 (-> channels, 8 x 8), each followed by batch norm and ReLU; the maps are the output of
    the last block. A 1x1 convolution scores the NUM_CELL_LABELS labels of every cell (the
    training task). Each cell's feature vector sees a window of 44 x 44 pixels, enough to tell
    a circle from a square. The stride-4 first layer keeps training cheap (about 15 ms per
    minibatch of 64 on one CPU thread).
    """

    def __init__(self, channels: int = 48, num_labels: int = NUM_CELL_LABELS):
        super().__init__()
        if not (isinstance(channels, int) and channels >= 1):
            raise ValueError(f"ShapesEncoder: channels must be a positive int, got {channels!r}")

        def block(c_in, c_out, k, stride, pad):
            return [nn.Conv2d(c_in, c_out, k, stride, pad), nn.BatchNorm2d(c_out), nn.ReLU()]

        self.channels = channels
        self.body = nn.Sequential(*block(3, 16, 4, 4, 0), *block(16, channels, 3, 2, 1),
                                  *block(channels, channels, 3, 1, 1),
                                  *block(channels, channels, 3, 1, 1))
        self.head = nn.Conv2d(channels, num_labels, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 3, H, W) in [0, 1] -> maps (N, channels, H / 8, W / 8)."""
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] % 8 or x.shape[3] % 8:
            raise ValueError(f"ShapesEncoder: x must be (N, 3, H, W) with H and W multiples of "
                             f"8, got {tuple(x.shape)}")
        return self.body(x - 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 3, H, W) -> cell-label scores (N, num_labels, H / 8, W / 8)."""
        return self.head(self.features(x))


def _as_nchw(images) -> torch.Tensor:
    """(N, H, W, 3) numpy/torch images in [0, 1] -> (N, 3, H, W) float32 tensor."""
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(
        np.asarray(images, dtype=np.float32))
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"images must be (N, H, W, 3) RGB in [0, 1], got shape {tuple(x.shape)}")
    return x.permute(0, 3, 1, 2).float().contiguous()


@dataclass
class EncoderResult:
    """A trained encoder and how it went.

    encoder: the ShapesEncoder (eval mode). losses: the training loss of every step.
    cell_accuracy: fraction of the held-out cells labelled right; object_cell_accuracy: the same
    over the cells an object covers. vector_mean, vector_std: (D,) statistics of the raw vectors
    on the training scenes (encode_scenes standardises with them). seconds: training time.
    """

    encoder: ShapesEncoder
    losses: list = field(default_factory=list)
    cell_accuracy: float = 0.0
    object_cell_accuracy: float = 0.0
    vector_mean: np.ndarray | None = None
    vector_std: np.ndarray | None = None
    seconds: float = 0.0
    seed: int = 0


def train_shapes_encoder(seed: int = 0, num_scenes: int = 1500, steps: int = 300,
                         batch_size: int = 64, lr: float = 1e-2, channels: int = 48,
                         progress: bool = False) -> EncoderResult:
    """Train a ShapesEncoder on grid_labels of its own scenes (not cached: see shapes_encoder).

    Scenes: make_scenes(num_scenes, seed=ENCODER_SCENE_SEED + seed); 200 more, with the next
    seed, measure the cell accuracy. Adam with a one-cycle learning rate (peak lr),
    cross-entropy over the cells, minibatches drawn by a generator seeded with seed. Torch runs
    on one thread meanwhile (see dlcv.timing.torch_threads).
    """
    with torch_threads(1):
        return _train_shapes_encoder(seed, num_scenes, steps, batch_size, lr, channels, progress)


def _train_shapes_encoder(seed, num_scenes, steps, batch_size, lr, channels, progress):
    for name, v, lo in (("num_scenes", num_scenes, 10), ("steps", steps, 1),
                        ("batch_size", batch_size, 1)):
        if not (isinstance(v, int | np.integer) and v >= lo):
            raise ValueError(f"train_shapes_encoder: {name} must be an int >= {lo}, got {v!r}")
    t0 = time.perf_counter()
    scenes = make_scenes(int(num_scenes), seed=ENCODER_SCENE_SEED + seed)
    held_out = make_scenes(200, seed=ENCODER_SCENE_SEED + seed + 1)
    x, y = _as_nchw(scenes.images), torch.from_numpy(grid_labels(scenes))
    with torch.random.fork_rng():  # seeded initial weights, the caller's torch RNG untouched
        torch.manual_seed(seed)
        encoder = ShapesEncoder(channels)
    opt = torch.optim.Adam(encoder.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=int(steps))
    gen = torch.Generator().manual_seed(seed)
    encoder.train()
    try:
        log = train(lambda idx: F.cross_entropy(encoder(x[idx]), y[idx]), opt,
                    sampled(len(x), int(batch_size), int(steps), gen), scheduler=sched,
                    progress="image encoder" if progress else None, total=int(steps))
    finally:
        encoder.eval()
    losses = log.loss
    result = EncoderResult(encoder, losses, seed=seed)
    with torch.no_grad():
        pred = encoder(_as_nchw(held_out.images)).argmax(1).numpy()  # (200, 8, 8)
        raw = _raw_vectors(encoder, x)  # (num_scenes, D)
    truth = grid_labels(held_out)
    result.cell_accuracy = float(np.mean(pred == truth))
    result.object_cell_accuracy = float(np.mean(pred[truth > 0] == truth[truth > 0]))
    result.vector_mean = raw.mean(axis=0)
    result.vector_std = raw.std(axis=0) + 0.05  # a floor: some cells are almost never used
    result.seconds = time.perf_counter() - t0
    return result


def _raw_vectors(encoder: ShapesEncoder, x: torch.Tensor, batch_size: int = 500) -> np.ndarray:
    """Flattened cell-label probabilities (N, num_labels * h * w), before standardising."""
    out = []
    with torch.no_grad():
        for s in range(0, len(x), batch_size):
            out.append(F.softmax(encoder(x[s:s + batch_size]), dim=1).flatten(1))
    return torch.cat(out).numpy()


def shapes_encoder(seed: int = 0) -> EncoderResult:
    """The trained encoder for this seed, trained on the first call and cached for the process
    (about 5 s on a laptop CPU), however the seed is passed (shapes_encoder(0), seed=0,
    np.int64(0)). Do not train the returned network further: it is shared."""
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise ValueError(f"shapes_encoder: seed must be an int, got {seed!r}")
    return _cached_encoder(int(seed))


@lru_cache(maxsize=4)
def _cached_encoder(seed: int) -> EncoderResult:
    return train_shapes_encoder(seed, progress=True)


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------
@dataclass
class ImageFeatures:
    """What the encoder says about N images.

    vectors: (N, D) float32, D = NUM_CELL_LABELS * 8 * 8, the cell-label probabilities of every
    cell flattened (label-major: index = label * 64 + row * 8 + column) and standardised with
    the training scenes' mean and standard deviation.
    maps: (N, C, 8, 8) float32, the encoder's last convolutional layer.
    cell_probs: (N, NUM_CELL_LABELS, 8, 8) float32, the probabilities themselves.
    """

    vectors: np.ndarray
    maps: np.ndarray
    cell_probs: np.ndarray

    def __len__(self) -> int:
        return len(self.vectors)


def encode_scenes(scenes, seed: int = 0, encoder: EncoderResult | None = None,
                  batch_size: int = 500) -> ImageFeatures:
    """Features of shapes scenes (a ShapesScenes, or images (N, H, W, 3) in [0, 1], H and W
    multiples of 8) from the cached encoder of this seed (shapes_encoder(seed)), or from the
    given EncoderResult."""
    images = scenes.images if isinstance(scenes, ShapesScenes) else scenes
    x = _as_nchw(images)
    if encoder is not None and not isinstance(encoder, EncoderResult):
        raise TypeError(f"encode_scenes: encoder must be an EncoderResult (from shapes_encoder or "
                        f"train_shapes_encoder), got {type(encoder).__name__}")
    res = encoder or shapes_encoder(seed)
    enc = res.encoder
    maps, probs = [], []
    with torch.no_grad(), torch_threads(1):
        for s in range(0, len(x), batch_size):
            m = enc.features(x[s:s + batch_size])  # (B, C, h, w)
            maps.append(m)
            probs.append(F.softmax(enc.head(m), dim=1))  # (B, labels, h, w)
    maps_t, probs_t = torch.cat(maps), torch.cat(probs)
    raw = probs_t.flatten(1).numpy()
    if raw.shape[1] != res.vector_mean.shape[0]:
        raise ValueError(f"encode_scenes: the encoder was trained on 64x64 scenes (an 8x8 grid); "
                         f"images of size {tuple(x.shape[2:])} give a different grid")
    vectors = ((raw - res.vector_mean) / res.vector_std).astype(np.float32)
    return ImageFeatures(vectors, maps_t.numpy(), probs_t.numpy())


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------
def show_cell_labels(ax, image, labels, class_names=CLASSES, title: str | None = None,
                     fontsize: float = 8):
    """An image (H, W, 3) with its grid labels (g, g) written in the cells: c, s, t for a small
    circle, square or triangle, C, S, T for a large one, in the object's colour; background
    cells stay empty. Grid lines show the cells."""
    import matplotlib.patheffects as pe

    labels = np.asarray(labels)
    h, w = np.shape(image)[:2]
    if labels.ndim != 2 or h % labels.shape[0] or w % labels.shape[1]:
        raise ValueError(f"show_cell_labels: labels must be a (g, g) grid dividing the image "
                         f"size {h}x{w}, got shape {labels.shape}")
    gh, gw = labels.shape
    ch, cw = h / gh, w / gw
    show_scene(ax, image, title=title, alpha=0.55)
    for k in range(1, gh):
        ax.axhline(k * ch, color="white", lw=0.4, alpha=0.6)
    for k in range(1, gw):
        ax.axvline(k * cw, color="white", lw=0.4, alpha=0.6)
    k = len(class_names)
    for r in range(gh):
        for c in range(gw):
            lab = int(labels[r, c])
            if lab == 0:
                continue
            rest, size = divmod(lab - 1, len(SIZE_NAMES))
            color, kind = divmod(rest, k)
            letter = class_names[kind][0]
            ax.text((c + 0.5) * cw, (r + 0.5) * ch, letter.upper() if size else letter,
                    ha="center", va="center", fontsize=fontsize, fontweight="bold",
                    color=COLORS[COLOR_NAMES[color]],
                    path_effects=[pe.withStroke(linewidth=1.5, foreground="black")])
    return ax
