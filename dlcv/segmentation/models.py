"""The segmenters of lecture 11: from sliding windows to an encoder-decoder, and its training.

Colours
    SEMANTIC_COLORS, semantic_cmap()       background + the three shape classes, the course palette
    label_image(labels)                    (H, W) class map -> (H, W, 3) RGB picture
Sliding windows versus a fully convolutional network
    PatchClassifier(...)                   a small classifier of k x k patches, made only of
                                           unpadded convolutions, so it also runs on whole images:
                                           (N, 3, P, P) -> (N, C, 1, 1); .dense (N, 3, H, W) ->
                                           (N, C, H, W)
    extract_patches(image, size)           (C, H, W) -> (H * W, C, P, P): the zero-padded patch
                                           around every pixel (unfold)
The lecture's segmenter
    EncoderDecoder(...)                    a small U-Net-like network: 3 steps down, 3 steps up,
                                           skip connections (torch): (N, 3, H, W) -> (N, C, H, W)
    draw_encoder_decoder(ax, trace)        a picture of its U shape
    train_segmenter(model, X, y, ...)      Adam with a one-cycle schedule, per-pixel cross-entropy,
                                           tqdm, fixed seed -> SegmentationHistory
    predict(model, X)                      (N, C, H, W) images -> (N, H, W) label maps

The upsampling its decoder uses is taken apart in dlcv.segmentation.upsampling; the scores of its
label maps are in dlcv.segmentation.scoring. Segmentation is not part of any assignment, so this
module holds complete implementations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.loop import cycled, train
from dlcv.plots import CLASS_COLORS
from dlcv.segmentation.scoring import confusion_matrix, per_class_iou
from dlcv.validate import integer

# --------------------------------------------------------------------------------------------
# Colours
# --------------------------------------------------------------------------------------------
BACKGROUND_COLOR = "#D9D9D9"
# background, circle, square, triangle
SEMANTIC_COLORS = (BACKGROUND_COLOR,) + tuple(CLASS_COLORS[:3])


def semantic_cmap(num_classes: int = 4):
    """A ListedColormap for label maps: light grey background, then the course's class colours
    (class c >= 1 gets CLASS_COLORS[c - 1], the colour draw_boxes gives shape label c - 1)."""
    from matplotlib.colors import ListedColormap

    top = 1 + len(CLASS_COLORS)
    if not (isinstance(num_classes, int | np.integer) and 2 <= num_classes <= top):
        raise ValueError(f"semantic_cmap: num_classes must be an int in 2..{top}, "
                         f"got {num_classes!r}")
    return ListedColormap((BACKGROUND_COLOR,) + tuple(CLASS_COLORS[:num_classes - 1]))


def label_image(labels, num_classes: int = 4) -> np.ndarray:
    """(H, W) int class map (0 = background) -> (H, W, 3) float RGB picture in [0, 1]."""
    from matplotlib.colors import to_rgb

    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"label_image: labels must be an (H, W) integer map, got shape "
                         f"{labels.shape} dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"label_image: labels must lie in 0..{num_classes - 1}, got values "
                         f"{labels.min()}..{labels.max()}")
    palette = np.array([to_rgb(c) for c in semantic_cmap(num_classes).colors])  # (C, 3)
    return palette[labels]


# --------------------------------------------------------------------------------------------
# Sliding windows
# --------------------------------------------------------------------------------------------
class PatchClassifier(nn.Sequential):
    """Classifies the centre pixel of a patch, with unpadded ('valid') convolutions only.

    `layers` convolutions with kernel `kernel` and ReLUs between them; the last one outputs
    `num_classes` scores. A (N, 3, P, P) batch of patches with P = patch_size gives (N, C, 1, 1)
    scores. Because nothing in it depends on the input size, the same network applied to a
    whole image padded by P // 2 on each side gives (1, C, H, W) scores: the score of every
    pixel's patch at once, with the work that overlapping patches share done only once.
    """

    def __init__(self, num_classes: int = 4, width: int = 16, layers: int = 4, kernel: int = 5,
                 in_channels: int = 3):
        for name, v, lo in (("num_classes", num_classes, 2), ("width", width, 1),
                            ("layers", layers, 1), ("kernel", kernel, 1),
                            ("in_channels", in_channels, 1)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
                raise ValueError(f"PatchClassifier: {name} must be an int >= {lo}, got {v!r}")
        if kernel % 2 == 0:
            raise ValueError(f"PatchClassifier: kernel must be odd (the patch has a centre), "
                             f"got {kernel}")
        mods: list[nn.Module] = []
        c = in_channels
        for i in range(layers):
            last = i == layers - 1
            mods.append(nn.Conv2d(c, num_classes if last else width, kernel))
            if not last:
                mods.append(nn.ReLU())
            c = width
        super().__init__(*mods)
        self.patch_size = layers * (kernel - 1) + 1

    def dense(self, images: torch.Tensor) -> torch.Tensor:
        """Scores of every pixel's patch: images (N, 3, H, W) -> (N, C, H, W) (zero padding)."""
        if not (isinstance(images, torch.Tensor) and images.ndim == 4):
            raise ValueError(f"PatchClassifier.dense: images must be a (N, C, H, W) tensor, got "
                             f"{type(images).__name__} {tuple(getattr(images, 'shape', ()))}")
        r = self.patch_size // 2
        return self(F.pad(images, (r, r, r, r)))


def extract_patches(image: torch.Tensor, size: int) -> torch.Tensor:
    """The size x size patch centred on every pixel of one image, zero-padded at the border.

    Args:
        image: (C, H, W) tensor; size: odd patch side P.

    Returns:
        (H * W, C, P, P) tensor, row by row: patch h * W + w is centred on pixel (h, w).
    """
    if not (isinstance(image, torch.Tensor) and image.ndim == 3):
        raise ValueError(f"extract_patches: image must be a (C, H, W) tensor, got "
                         f"{type(image).__name__} {tuple(getattr(image, 'shape', ()))}")
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1 \
            or size % 2 == 0:
        raise ValueError(f"extract_patches: size must be an odd positive int, got {size!r}")
    C, H, W = image.shape
    r = size // 2
    cols = F.unfold(image[None], kernel_size=size, padding=r)  # (1, C * P * P, H * W)
    return cols[0].T.reshape(H * W, C, size, size)


# --------------------------------------------------------------------------------------------
# The lecture's encoder-decoder
# --------------------------------------------------------------------------------------------
def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class EncoderDecoder(nn.Module):
    """A small U-Net-like segmenter: three steps down, three steps up, skip connections.

    With width w, for an input (N, 3, H, W) (H and W multiples of 8):

        down1  3x3 conv with stride 2, 3x3 conv      (N, w, H/2, W/2)     -> skip s1
        down2  2x2 max-pool, 3x3 conv                (N, 2w, H/4, W/4)    -> skip s2
        down3  2x2 max-pool, two 3x3 convs           (N, 4w, H/8, W/8)    (the bottleneck)
        up3    2x2 transposed conv, stride 2; concatenate s2; 3x3 conv    (N, 2w, H/4, W/4)
        up2    2x2 transposed conv, stride 2; concatenate s1; 3x3 conv    (N, w, H/2, W/2)
        up1    2x2 transposed conv, stride 2; concatenate the input image;
               3x3 conv                                                   (N, w/2, H, W)
        head   1x1 conv                                                   (N, num_classes, H, W)

    Every 3x3 conv is followed by batch normalisation and a ReLU. The transposed convolutions
    have kernel 2 = stride 2, so their kernel copies tile the output without overlap (no
    checkerboard). The full-resolution skip of the raw image helps to place boundaries to the
    pixel. forward returns per-pixel class scores (logits).
    """

    def __init__(self, num_classes: int = 4, width: int = 16, in_channels: int = 3):
        super().__init__()
        for name, v, lo in (("num_classes", num_classes, 2), ("width", width, 2),
                            ("in_channels", in_channels, 1)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
                raise ValueError(f"EncoderDecoder: {name} must be an int >= {lo}, got {v!r}")
        if width % 2:
            raise ValueError(f"EncoderDecoder: width must be even, got {width}")
        w = int(width)
        self.in_channels, self.num_classes, self.width = int(in_channels), int(num_classes), w
        self.down1 = nn.Sequential(_conv_bn_relu(in_channels, w, stride=2), _conv_bn_relu(w, w))
        self.down2 = _conv_bn_relu(w, 2 * w)
        self.down3 = nn.Sequential(_conv_bn_relu(2 * w, 4 * w), _conv_bn_relu(4 * w, 4 * w))
        self.up3 = nn.ConvTranspose2d(4 * w, 2 * w, kernel_size=2, stride=2)
        self.dec3 = _conv_bn_relu(4 * w, 2 * w)
        self.up2 = nn.ConvTranspose2d(2 * w, w, kernel_size=2, stride=2)
        self.dec2 = _conv_bn_relu(2 * w, w)
        self.up1 = nn.ConvTranspose2d(w, w // 2 - in_channels if w // 2 > in_channels else w // 2,
                                      kernel_size=2, stride=2)
        c_up1 = self.up1.out_channels
        self.dec1 = _conv_bn_relu(c_up1 + in_channels, w // 2)
        self.head = nn.Conv2d(w // 2, num_classes, kernel_size=1)

    def _check(self, x: torch.Tensor) -> None:
        if not (isinstance(x, torch.Tensor) and x.ndim == 4 and x.shape[1] == self.in_channels):
            raise ValueError(f"EncoderDecoder: x must be a (N, {self.in_channels}, H, W) tensor, "
                             f"got {type(x).__name__} {tuple(getattr(x, 'shape', ()))}")
        if x.shape[2] % 8 or x.shape[3] % 8:
            raise ValueError(f"EncoderDecoder: H and W must be multiples of 8 (three halvings), "
                             f"got {tuple(x.shape[2:])}")

    def trace(self, x: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
        """The forward pass, recording (stage name, output shape) after every stage."""
        self._check(x)
        shapes: list[tuple[str, tuple[int, ...]]] = [("input", tuple(x.shape))]
        self.forward(x, shapes)
        return shapes

    def forward(self, x: torch.Tensor, _shapes: list | None = None) -> torch.Tensor:
        self._check(x)

        def rec(name, t):
            if _shapes is not None:
                _shapes.append((name, tuple(t.shape)))
            return t

        s1 = rec("down1", self.down1(x))                                  # (N, w, H/2, W/2)
        s2 = rec("down2", self.down2(F.max_pool2d(s1, 2)))                # (N, 2w, H/4, W/4)
        z = rec("down3", self.down3(F.max_pool2d(s2, 2)))                 # (N, 4w, H/8, W/8)
        y = rec("up3", self.dec3(torch.cat([self.up3(z), s2], dim=1)))    # (N, 2w, H/4, W/4)
        y = rec("up2", self.dec2(torch.cat([self.up2(y), s1], dim=1)))    # (N, w, H/2, W/2)
        y = rec("up1", self.dec1(torch.cat([self.up1(y), x], dim=1)))     # (N, w/2, H, W)
        return rec("head", self.head(y))                                  # (N, classes, H, W)


def draw_encoder_decoder(ax, trace: list[tuple[str, tuple[int, ...]]],
                         skips: tuple[tuple[str, str], ...] = (("down2", "up3"), ("down1", "up2"),
                                                               ("input", "up1"))) -> dict:
    """The U shape of an encoder-decoder: one box per stage of `trace` (EncoderDecoder.trace),
    its height proportional to the spatial size, its width growing with the channels, placed one
    level lower for every halving; arrows along the path and, dashed, the skip connections.

    Args:
        ax: a matplotlib Axes.  trace: [(stage name, (N, C, H, W)), ...] in forward order.
        skips: (from stage, to stage) pairs drawn as skip connections.

    Returns:
        {stage name: (x centre, y centre, width, height)} of the drawn boxes.
    """
    from matplotlib.patches import FancyArrowPatch, Rectangle

    if not trace or any(len(shape) != 4 for _, shape in trace):
        raise ValueError("draw_encoder_decoder: trace must be a non-empty list of "
                         "(name, (N, C, H, W)) pairs, as EncoderDecoder.trace returns")
    h0 = trace[0][1][2]
    cmax = max(shape[1] for _, shape in trace)
    boxes = {}
    for q, (name, (_, c, h, w)) in enumerate(trace):
        x = 1.5 * q
        level = np.log2(h0 / h)
        height = 1.6 * h / h0
        width = 0.18 + 0.42 * c / cmax
        y = -1.25 * level
        col = "#56B4E9" if name.startswith("down") else "#E69F00" if name.startswith("up") \
            else "0.75"
        ax.add_patch(Rectangle((x - width / 2, y - height / 2), width, height, fc=col, ec="k",
                               lw=0.8))
        ax.text(x, y - height / 2 - 0.12, f"{name}\n{c}×{h}×{w}", ha="center", va="top",
                fontsize=7.5)
        boxes[name] = (x, y, width, height)
    names = [n for n, _ in trace]
    for a, b in zip(names[:-1], names[1:], strict=True):
        xa, ya, wa, _ = boxes[a]
        xb, yb, wb, _ = boxes[b]
        ax.add_patch(FancyArrowPatch((xa + wa / 2, ya), (xb - wb / 2, yb), arrowstyle="-|>",
                                     mutation_scale=9, color="0.3", lw=1))
    for a, b in skips:
        if a in boxes and b in boxes:
            xa, ya, wa, ha = boxes[a]
            xb, yb, wb, hb = boxes[b]
            yk = ya + ha / 2 + 0.08
            ax.add_patch(FancyArrowPatch((xa, yk), (xb, yb + hb / 2 + 0.08),
                                         connectionstyle="arc3,rad=-0.12", arrowstyle="-|>",
                                         mutation_scale=9, color="#009E73", lw=1.2, ls="--"))
    ax.set_xlim(-0.9, 1.5 * (len(trace) - 1) + 0.9)
    lo = min(y - hh / 2 for _, y, _, hh in boxes.values()) - 0.75
    hi = max(y + hh / 2 for _, y, _, hh in boxes.values()) + 1.3
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.axis("off")
    return boxes


@dataclass
class SegmentationHistory:
    """What train_segmenter records.

    loss: the minibatch loss of every step; lr: the learning rate of every step;
    val_steps / val_miou / val_iou: when the held-out set was scored, its mean IoU over the
    object classes (1..C-1) and its (C,) per-class IoU at that step; seconds: wall-clock time
    of the training steps (without the held-out scoring).
    """

    loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    val_steps: list = field(default_factory=list)
    val_miou: list = field(default_factory=list)
    val_iou: list = field(default_factory=list)
    seconds: float = 0.0


def _images_labels(X, y, who: str, channels: int | None = None):
    X = torch.as_tensor(np.asarray(X, dtype=np.float32) if not isinstance(X, torch.Tensor) else X)
    if X.ndim != 4 or (channels is not None and X.shape[1] != channels):
        c = channels if channels is not None else "C"
        raise ValueError(f"{who}: X must be (N, {c}, H, W) images, got {tuple(X.shape)}")
    X = X.float()
    if y is None:
        return X, None
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
    if y.shape != (X.shape[0],) + tuple(X.shape[2:]) or y.is_floating_point():
        raise ValueError(f"{who}: y must be ({X.shape[0]}, {X.shape[2]}, {X.shape[3]}) integer "
                         f"label maps, got shape {tuple(y.shape)} dtype {y.dtype}")
    return X, y.long()


@torch.no_grad()
def predict(model: nn.Module, X, batch_size: int = 100) -> np.ndarray:
    """Label maps: X (N, C, H, W) images -> (N, H, W) int64, the arg-max class of every pixel
    (the model in eval mode; its mode is restored afterwards)."""
    X, _ = _images_labels(X, None, "predict")
    was = model.training
    model.eval()
    try:
        out = [model(X[i:i + batch_size]).argmax(1) for i in range(0, len(X), batch_size)]
    finally:
        model.train(was)
    return torch.cat(out).numpy().astype(np.int64)


def train_segmenter(model: nn.Module, X, y, steps: int = 450, batch_size: int = 16,
                    lr: float = 5e-3, weight_decay: float = 0.0, seed: int = 0,
                    X_val=None, y_val=None, val_every: int = 75,
                    progress: bool = True) -> SegmentationHistory:
    """Train a segmenter with the per-pixel cross-entropy, averaged over all pixels.

    Adam with a one-cycle learning-rate schedule (warm up over the first 15% of the steps to
    `lr`, then anneal to nearly 0); minibatches drawn by a seeded permutation, epoch after epoch.
    The model runs in torch's channels-last memory layout, which is faster on CPUs.

    Args:
        model: maps (B, C, H, W) images to (B, num_classes, H, W) scores.
        X: (N, C, H, W) float images; y: (N, H, W) int labels in 0..num_classes-1.
        steps, batch_size, lr, weight_decay: the optimisation. seed: the minibatch order (the
            weights are whatever the model was built with).
        X_val, y_val: optional held-out images and labels, scored every `val_every` steps and at
            the end (mean IoU over the classes 1..C-1, i.e. without the background).
        progress: show a tqdm progress bar.

    Returns:
        SegmentationHistory. The model is left in eval mode.
    """
    who = "train_segmenter"
    X, y = _images_labels(X, y, who)
    if (X_val is None) != (y_val is None):
        raise ValueError(f"{who}: give both X_val and y_val, or neither")
    if X_val is not None:
        X_val, y_val = _images_labels(X_val, y_val, who, channels=X.shape[1])
    steps = integer(who, "steps", steps, 1)
    batch_size = integer(who, "batch_size", batch_size, 1)
    val_every = integer(who, "val_every", val_every, 1)
    if not lr > 0:
        raise ValueError(f"{who}: lr must be positive, got {lr}")
    batch_size = min(batch_size, len(X))
    model.to(memory_format=torch.channels_last)
    X = X.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps,
                                                pct_start=0.15)
    gen = torch.Generator().manual_seed(int(seed))
    hist = SegmentationHistory()
    num_classes = int(getattr(model, "num_classes", 0)) or int(y.max()) + 1
    if X_val is not None:
        num_classes = max(num_classes, int(y_val.max()) + 1)

    def score(step: int) -> None:
        pred = predict(model, X_val)
        iou = per_class_iou(confusion_matrix(y_val.numpy(), pred, num_classes))
        hist.val_steps.append(step)
        hist.val_iou.append(iou)
        hist.val_miou.append(float(np.nanmean(iou[1:])))

    def validate(step: int, _loss: float) -> None:
        if X_val is not None and (step % val_every == 0 or step == steps):
            score(step)
            model.train()

    model.train()
    log = train(lambda idx: F.cross_entropy(model(X[idx]), y[idx]),  # mean over B * H * W pixels
                opt, cycled(len(X), batch_size, steps, gen), scheduler=sched, on_step=validate,
                progress="training" if progress else None, total=steps)
    model.eval()
    hist.loss, hist.lr, hist.seconds = log.loss, log.lr, log.seconds
    return hist
