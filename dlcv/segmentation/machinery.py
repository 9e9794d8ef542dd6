"""Segmentation machinery for lecture 10: from sliding windows to encoder-decoders and masks.

Colours
    SEMANTIC_COLORS, semantic_cmap()       background + the three shape classes, the course palette
    label_image(labels)                    (H, W) class map -> (H, W, 3) RGB picture
Sliding windows versus a fully convolutional network
    PatchClassifier(...)                   a small classifier of k x k patches, made only of
                                           unpadded convolutions, so it also runs on whole images
    extract_patches(image, size)           the zero-padded patch around every pixel (unfold)
Upsampling
    unpool_nearest(x, factor)              repeat every value in a factor x factor block
    unpool_bed_of_nails(x, factor)         each value at the top-left of its block, zeros elsewhere
    (max unpooling: torch.nn.functional.max_pool2d(return_indices=True) and max_unpool2d)
Transposed convolution
    transposed_output_size(n, k, ...)      (n - 1) * S - 2P + D(K - 1) + output_padding + 1
    transposed_output_size_formula(...)    the same, written out with the numbers filled in
    conv_matrix_1d / conv_matrix_2d        the matrix C of a convolution, y = C x; the transposed
                                           convolution is x' = C^T y
    stamp_span(i, k, stride, padding)      the output positions that input i's kernel copy covers
    stamp_counts(n, k, ...)                how many kernel copies overlap at each output position
The lecture's segmenter
    EncoderDecoder(...)                    a small U-Net-like network: 3 steps down, 3 steps up,
                                           skip connections (torch)
    draw_encoder_decoder(ax, trace)        a picture of its U shape
    train_segmenter(model, X, y, ...)      Adam with a one-cycle schedule, per-pixel cross-entropy,
                                           tqdm, fixed seed -> SegmentationHistory
    predict(model, X)                      (N, H, W) label maps
    confusion_matrix, per_class_iou, pixel_accuracy
Instance masks (Mask R-CNN's mask and keypoint heads, the geometry only)
    mask_target(mask, box, size)           the ground-truth mask of one object, resampled to the
                                           size x size grid over its box (the head's target)
    paste_mask(mask, box, image_size)      a size x size mask of one box back into the image
    keypoint_target(point, box, size)      the one-hot cell of a keypoint on the box's grid
    keypoint_from_heatmap(heatmap, box)    the image point of a heatmap's arg-max cell

Segmentation is not part of any assignment, so this module holds complete implementations. The
box geometry of detection (IoU, NMS, box encoding, RoI pooling and RoIAlign) belongs to
assignment a4 and is not here: mask_target and paste_mask work on boxes rounded to whole pixels,
with plain bilinear resizing, as the first public Mask R-CNN code pasted its masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.loop import cycled, train
from dlcv.plots import CLASS_COLORS
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
# Upsampling without parameters
# --------------------------------------------------------------------------------------------
def _check_map(x, who: str) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"{who}: x must have shape (..., H, W), got {tuple(x.shape)}")
    return x


def _check_factor(factor, who: str) -> int:
    if isinstance(factor, bool) or not isinstance(factor, int | np.integer) or factor < 1:
        raise ValueError(f"{who}: factor must be an int >= 1, got {factor!r}")
    return int(factor)


def unpool_nearest(x, factor: int = 2) -> torch.Tensor:
    """Nearest-neighbour upsampling: x (..., H, W) -> (..., factor * H, factor * W), every value
    copied into a factor x factor block (as F.interpolate(mode='nearest') does)."""
    x = _check_map(x, "unpool_nearest")
    f = _check_factor(factor, "unpool_nearest")
    return x.repeat_interleave(f, dim=-2).repeat_interleave(f, dim=-1)


def unpool_bed_of_nails(x, factor: int = 2) -> torch.Tensor:
    """'Bed of nails' upsampling: x (..., H, W) -> (..., factor * H, factor * W), every value at
    the top-left corner of its factor x factor block and zeros elsewhere."""
    x = _check_map(x, "unpool_bed_of_nails")
    f = _check_factor(factor, "unpool_bed_of_nails")
    out = x.new_zeros(x.shape[:-2] + (f * x.shape[-2], f * x.shape[-1]))
    out[..., ::f, ::f] = x
    return out


# --------------------------------------------------------------------------------------------
# Transposed convolution
# --------------------------------------------------------------------------------------------


def transposed_output_size(n: int, k: int, stride: int = 1, padding: int = 0,
                           output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution along one axis (torch's convention).

        out = (n - 1) * S - 2P + D(K - 1) + output_padding + 1

    which is (n - 1) * S - 2P + K + output_padding for D = 1: every input position stamps a copy
    of the kernel, the copies S apart, the stamped canvas is (n - 1) S + K long, the padding P
    crops P positions from each end, and output_padding adds positions at the far end.

    Raises:
        ValueError: a bad argument; output_padding not smaller than the stride or the dilation
            (torch's rule); or an output shorter than 1.
    """
    who = "transposed_output_size"
    n, k = integer(who, "n", n, 1), integer(who, "k", k, 1)
    stride, padding = integer(who, "stride", stride, 1), integer(who, "padding", padding, 0)
    output_padding = integer(who, "output_padding", output_padding, 0)
    dilation = integer(who, "dilation", dilation, 1)
    if output_padding >= max(stride, dilation):
        raise ValueError(f"{who}: output_padding must be smaller than the stride or the "
                         f"dilation, got output_padding = {output_padding} with stride = "
                         f"{stride} and dilation = {dilation}")
    out = (n - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1
    if out < 1:
        raise ValueError(f"{who}: the output would have length {out}: the padding {padding} crops "
                         f"more than the {(n - 1) * stride + dilation * (k - 1) + 1} positions the "
                         "kernel copies cover; use less padding, a larger kernel, stride or input")
    return out


def transposed_output_size_formula(n: int, k: int, stride: int = 1, padding: int = 0,
                                   output_padding: int = 0, name: str = "out") -> str:
    """The output-size formula with the numbers filled in, e.g.
    'out = (4 - 1)*2 - 2*1 + 3 + 1 = 8' (dilation 1)."""
    m = transposed_output_size(n, k, stride, padding, output_padding)
    return f"{name} = ({n} - 1)*{stride} - 2*{padding} + {k} + {output_padding} = {m}"


def _kernel_1d(kernel, who: str) -> np.ndarray:
    w = np.asarray(kernel, dtype=np.float64)
    if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)):
        raise ValueError(f"{who}: kernel must be a finite 1-D array (k,), got shape {w.shape}")
    return w


def conv_matrix_1d(kernel, n: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The matrix C of a 1-D convolution (cross-correlation, zero padding), so that C @ x equals
    torch.nn.functional.conv1d(x, kernel, stride=stride, padding=padding) for x of length n.

    Row m holds the kernel taps at columns m * S - P + t (t = 0..k-1); taps that fall into the
    padding are dropped, since they multiply zeros.

    Args:
        kernel: (k,); n: input length; stride, padding: ints.

    Returns:
        C: (M, n) float64 with M = floor((n + 2P - k) / S) + 1.
    """
    who = "conv_matrix_1d"
    w = _kernel_1d(kernel, who)
    n = integer(who, "n", n, 1)
    stride, padding = integer(who, "stride", stride, 1), integer(who, "padding", padding, 0)
    k = w.size
    if k > n + 2 * padding:
        raise ValueError(f"{who}: the kernel ({k} taps) is longer than the padded input "
                         f"({n} + 2*{padding})")
    m = (n + 2 * padding - k) // stride + 1
    C = np.zeros((m, n))
    for row in range(m):
        for t in range(k):
            col = row * stride - padding + t
            if 0 <= col < n:
                C[row, col] = w[t]
    return C


def conv_matrix_2d(kernel, shape: tuple[int, int], stride: int = 1, padding: int = 0) -> np.ndarray:
    """The matrix C of a 2-D single-channel convolution: C @ x.ravel() equals
    torch.nn.functional.conv2d(x, kernel, stride=stride, padding=padding).ravel() for an input
    x of shape (H, W) (row-major flattening of input and output).

    Args:
        kernel: (kh, kw); shape: (H, W) of the input; stride, padding: ints (both axes).

    Returns:
        C: (M_h * M_w, H * W) float64.
    """
    who = "conv_matrix_2d"
    w = np.asarray(kernel, dtype=np.float64)
    if w.ndim != 2 or w.size == 0 or not np.all(np.isfinite(w)):
        raise ValueError(f"{who}: kernel must be a finite 2-D array (kh, kw), got shape {w.shape}")
    if len(tuple(shape)) != 2:
        raise ValueError(f"{who}: shape must be (H, W), got {shape!r}")
    H, W = (integer(who, "shape", s, 1) for s in shape)
    stride, padding = integer(who, "stride", stride, 1), integer(who, "padding", padding, 0)
    kh, kw = w.shape
    if kh > H + 2 * padding or kw > W + 2 * padding:
        raise ValueError(f"{who}: the kernel {w.shape} does not fit into the padded input "
                         f"({H} + 2*{padding}, {W} + 2*{padding})")
    m_h = (H + 2 * padding - kh) // stride + 1
    m_w = (W + 2 * padding - kw) // stride + 1
    C = np.zeros((m_h * m_w, H * W))
    for i in range(m_h):
        for j in range(m_w):
            for a in range(kh):
                for b in range(kw):
                    r, c = i * stride - padding + a, j * stride - padding + b
                    if 0 <= r < H and 0 <= c < W:
                        C[i * m_w + j, r * W + c] = w[a, b]
    return C


def stamp_span(i: int, k: int, stride: int = 1, padding: int = 0) -> tuple[int, int]:
    """Where input position i's copy of the kernel lands in a transposed convolution's output:
    positions [start, stop) with start = i * S - P and stop = start + K (it may stick out of the
    output at either end; those parts are cropped)."""
    who = "stamp_span"
    i, k = integer(who, "i", i, 0), integer(who, "k", k, 1)
    stride, padding = integer(who, "stride", stride, 1), integer(who, "padding", padding, 0)
    start = i * stride - padding
    return start, start + k


def stamp_counts(n: int, k: int, stride: int = 1, padding: int = 0, output_padding: int = 0,
                 dims: int = 2) -> np.ndarray:
    """How many kernel copies cover each output position of a transposed convolution of an
    n (x n) input: the output of conv_transpose with an all-ones input and an all-ones kernel.

    Where K is not a multiple of S the copies overlap unevenly (a 1-2-1-2 pattern along each axis,
    a checkerboard in 2-D): the source of the checkerboard artefacts of learned upsampling.

    Args:
        n, k, stride, padding, output_padding: as in transposed_output_size.
        dims: 1 for a (out,) profile, 2 for the (out, out) map (the outer product of profiles).

    Returns:
        (out,) or (out, out) int64.
    """
    out = transposed_output_size(n, k, stride, padding, output_padding)
    if dims not in (1, 2):
        raise ValueError(f"stamp_counts: dims must be 1 or 2, got {dims!r}")
    counts = np.zeros(out, dtype=np.int64)
    for i in range(n):
        start, stop = stamp_span(i, k, stride, padding)
        lo, hi = max(start, 0), min(stop, out)
        if hi > lo:
            counts[lo:hi] += 1
    return counts if dims == 1 else np.outer(counts, counts)


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


# --------------------------------------------------------------------------------------------
# Scoring label maps
# --------------------------------------------------------------------------------------------
def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Pixel confusion matrix: entry [t, p] counts the pixels of true class t predicted as p.

    Args:
        y_true, y_pred: integer label maps of one shape (any shape, e.g. (N, H, W)), values in
            0..num_classes-1.

    Returns:
        (num_classes, num_classes) int64; rows are true classes, columns predictions (as in
        sklearn.metrics.confusion_matrix).
    """
    who = "confusion_matrix"
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"{who}: y_true and y_pred must have one shape, got {t.shape} and "
                         f"{p.shape}")
    num_classes = integer(who, "num_classes", num_classes, 1)
    for name, a in (("y_true", t), ("y_pred", p)):
        if not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{who}: {name} must hold integer labels, got dtype {a.dtype}")
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"{who}: {name} must lie in 0..{num_classes - 1}, got values "
                             f"{a.min()}..{a.max()}")
    flat = t.ravel().astype(np.int64) * num_classes + p.ravel().astype(np.int64)
    return np.bincount(flat, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def _check_confusion(confusion, who: str) -> np.ndarray:
    c = np.asarray(confusion)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or (c.size and c.min() < 0):
        raise ValueError(f"{who}: confusion must be a square (C, C) matrix of counts, got "
                         f"shape {c.shape}")
    return c.astype(np.float64)


def per_class_iou(confusion) -> np.ndarray:
    """Intersection over union of every class from a pixel confusion matrix:

        IoU_c = TP_c / (TP_c + FP_c + FN_c) = C[c, c] / (row sum + column sum - C[c, c])

    Returns:
        (C,) float64; NaN for a class that is neither present nor predicted (0 / 0).
    """
    c = _check_confusion(confusion, "per_class_iou")
    tp = np.diag(c)
    union = c.sum(0) + c.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)


def pixel_accuracy(confusion) -> float:
    """The fraction of pixels whose class is right: trace / total."""
    c = _check_confusion(confusion, "pixel_accuracy")
    total = c.sum()
    if total == 0:
        raise ValueError("pixel_accuracy: the confusion matrix is empty")
    return float(np.trace(c) / total)


# --------------------------------------------------------------------------------------------
# Instance masks: Mask R-CNN's geometry
# --------------------------------------------------------------------------------------------
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
