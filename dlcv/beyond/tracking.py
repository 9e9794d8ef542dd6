"""Object tracking as template matching (lecture 18): a synthetic video made from real photographs,
score maps of raw pixels, normalised cross-correlation and a small siamese network (SiamFC).

    make_sequence(num_frames, ...)         a target (a square cut from a photo) moving over another
                                           photo, with rotation, scaling, changing light, noise and
                                           an occluding post -> TrackingSequence (frames, centres)
    photo_at_height(name, height)          a photo as float32 in [0, 1], resized to `height` rows
    crop(image, centre, size)              a size x size window (zero outside the image)
    correlation_map(template, window)      raw cross-correlation  sum z * x  at every offset
    ncc_map(template, window)              normalised cross-correlation (scikit-image)
    SiamFC(width, seed)                    f: fully convolutional backbone; score = f(z) * f(x)
    siamfc_pairs(photos, batch, rng, ...)  training pairs (exemplar, search region, label map)
    train_siamfc(net, photos, steps, ...)  logistic loss on the score map (Bertinetto et al. 2016)
    siamfc_map(net, template, window)      the network's score map, upsampled to pixel offsets
    track(sequence, score_fn, ...)         follow the target frame by frame -> TrackResult
    centre_errors(pred, truth)             distance in pixels, per frame
    precision_curve(errors, thresholds)    fraction of frames within each distance (OTB)

Coordinates are (row, column) in pixels; a window of size S centred at c covers rows
c_r - S // 2 ... c_r - S // 2 + S - 1. Images are float32 (H, W, 3) in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.data import load_photo
from dlcv.loop import train

# The photographs the tracker is trained on; the test video uses others (china, chelsea).
TRAIN_PHOTOS = ("astronaut", "coffee", "rocket", "flower", "immunohistochemistry", "camera")


# --------------------------------------------------------------------------------------------
# A video from photographs
# --------------------------------------------------------------------------------------------
@dataclass
class TrackingSequence:
    """A video with one target.

    frames: (T, H, W, 3) float32 in [0, 1]
    centres: (T, 2) float64, the target's centre (row, column) in every frame
    size: side of the square box that holds the target (pixels)
    template: (size, size, 3) float32, the target as cut from frame 0 (what the tracker is given)
    light: (T,) the global brightness factor of each frame
    occluded: (T,) bool, True where the post hides a part of the target
    """

    frames: np.ndarray
    centres: np.ndarray
    size: int
    template: np.ndarray
    light: np.ndarray
    occluded: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.frames)

    def box(self, t: int) -> tuple[float, float, float, float]:
        """(x1, y1, x2, y2) of the target box in frame t (the course's box format)."""
        r, c = self.centres[t]
        h = self.size / 2
        return (c - h, r - h, c + h, r + h)


def _square_alpha(size: int, pad: int) -> np.ndarray:
    """(size + 2 pad, size + 2 pad) alpha mask: 1 on the central size x size square, 0 around it
    (the margin leaves room to turn the square without cutting its corners)."""
    a = np.zeros((size + 2 * pad, size + 2 * pad), np.float32)
    a[pad:pad + size, pad:pad + size] = 1
    return a


def photo_at_height(name: str, height: int) -> np.ndarray:
    """A dlcv.data photo resized to `height` rows, aspect kept: (height, W, 3) float32 in [0, 1]."""
    img = load_photo(name)
    h, w = img.shape[:2]
    from skimage.transform import resize

    out = resize(img, (height, round(w * height / h)), anti_aliasing=True, preserve_range=True)
    return (out / 255.0).astype(np.float32)


def make_sequence(num_frames: int = 60, background: str = "china", target: str = "chelsea",
                  target_box: tuple[int, int, int] = (40, 120, 220), height: int = 120,
                  size: int = 30, rotation: float = 20.0, scale: tuple[float, float] = (1.0, 0.85),
                  light: tuple[float, float] = (0.55, 1.25), noise: float = 0.03,
                  occluder: bool = True, seed: int = 0) -> TrackingSequence:
    """A target moving over a photograph, frame by frame.

    Args:
        num_frames: T >= 2.
        background: a dlcv.data.PHOTOS name, resized to `height` rows.
        target: the photo the target is cut from; target_box = (row, column, side) of the
            square, in the original photo's pixels, that becomes the target.
        size: the target's side in the video (pixels) at frame 0.
        rotation: the target turns by this many degrees in total, steadily.
        scale: (first, last) scale factor of the target (it shrinks or grows linearly).
        light: (low, high) range of the global brightness factor, which swings once.
        noise: standard deviation of Gaussian pixel noise.
        occluder: draw a post in front of the scene, which the target passes behind.
        seed: the trajectory's phase and the noise are a deterministic function of the seed.
    """
    if not (isinstance(num_frames, int) and num_frames >= 2):
        raise ValueError(f"make_sequence: num_frames must be an int >= 2, got {num_frames!r}")
    if not (isinstance(size, int) and 8 <= size <= height // 2):
        raise ValueError(f"make_sequence: size must be an int in 8..{height // 2}, got {size!r}")
    if not 0 < light[0] <= light[1]:
        raise ValueError(f"make_sequence: light must be (low, high) with 0 < low <= high, "
                         f"got {light!r}")
    from skimage.transform import rescale, resize
    from skimage.transform import rotate as sk_rotate

    rng = np.random.default_rng(seed)
    bg = photo_at_height(background, height)                  # (H, W, 3)
    H, W = bg.shape[:2]
    src = load_photo(target).astype(np.float32) / 255.0
    r0, c0, side = target_box
    if r0 < 0 or c0 < 0 or r0 + side > src.shape[0] or c0 + side > src.shape[1]:
        raise ValueError(f"make_sequence: target_box {target_box} lies outside the "
                         f"{target!r} photo {src.shape[:2]}")
    big = 2 * size                                            # render large, then scale down
    pad = big // 4                                            # room for the turned corners
    patch = np.pad(resize(src[r0:r0 + side, c0:c0 + side], (big, big), anti_aliasing=True),
                   ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    alpha_big = _square_alpha(big, pad)

    T = num_frames
    s = np.linspace(0, 1, T)
    phase = rng.uniform(0, 2 * np.pi)
    margin = size * 0.8
    rows = H / 2 + (H / 2 - margin) * 0.8 * np.sin(2 * np.pi * s * 1.3 + phase)
    cols = margin + (W - 2 * margin) * (0.5 - 0.5 * np.cos(np.pi * s))
    centres = np.stack([rows, cols], 1)
    angles = rotation * s
    scales = np.linspace(scale[0], scale[1], T)
    gain = light[0] + (light[1] - light[0]) * (0.5 + 0.5 * np.cos(2 * np.pi * s + 0.4))
    post_col = int(W * 0.58)
    post_w = max(3, size // 5)
    frames = np.empty((T, H, W, 3), np.float32)
    occluded = np.zeros(T, bool)
    template = None
    for t in range(T):
        img = bg.copy()
        rot = sk_rotate(patch, angles[t], mode="edge")
        a_rot = sk_rotate(alpha_big, angles[t], mode="constant")
        k = scales[t] * size / big
        p = np.clip(rescale(rot, k, channel_axis=2, anti_aliasing=True), 0, 1)  # (ph, pw, 3)
        a = np.clip(rescale(a_rot, k, anti_aliasing=True), 0, 1)
        ph, pw = a.shape
        top = int(round(centres[t, 0] - ph / 2))
        left = int(round(centres[t, 1] - pw / 2))
        centres[t] = (top + ph / 2, left + pw / 2)  # the exact centre of what was drawn
        y0, x0 = max(top, 0), max(left, 0)
        y1, x1 = min(top + ph, H), min(left + pw, W)
        if y1 > y0 and x1 > x0:
            aa = a[y0 - top:y1 - top, x0 - left:x1 - left, None]
            img[y0:y1, x0:x1] = aa * p[y0 - top:y1 - top, x0 - left:x1 - left] + \
                (1 - aa) * img[y0:y1, x0:x1]
        if occluder:
            occluded[t] = (left < post_col + post_w) and (left + pw > post_col)
            img[:, post_col:post_col + post_w] = np.array([0.32, 0.22, 0.14], np.float32)
        img = img * gain[t]
        if noise:
            img = img + rng.normal(0, noise, img.shape).astype(np.float32)
        frames[t] = np.clip(img, 0, 1)
        if t == 0:
            template = crop(frames[0], centres[0], size)
    return TrackingSequence(frames, centres, size, template, gain, occluded)


def crop(image: np.ndarray, centre: Sequence[float], size: int) -> np.ndarray:
    """The size x size window of image (H, W[, C]) centred at centre (row, column), rounded to
    whole pixels; parts outside the image are 0. Returns (size, size[, C]) float32."""
    image = np.asarray(image, np.float32)
    if image.ndim not in (2, 3):
        raise ValueError(f"crop: image must be (H, W) or (H, W, C), got {image.shape}")
    if not (isinstance(size, int | np.integer) and size >= 1):
        raise ValueError(f"crop: size must be a positive int, got {size!r}")
    top = int(round(centre[0] - size / 2))
    left = int(round(centre[1] - size / 2))
    out = np.zeros((size, size) + image.shape[2:], np.float32)
    H, W = image.shape[:2]
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(top + size, H), min(left + size, W)
    if y1 > y0 and x1 > x0:
        out[y0 - top:y1 - top, x0 - left:x1 - left] = image[y0:y1, x0:x1]
    return out


# --------------------------------------------------------------------------------------------
# Score maps
# --------------------------------------------------------------------------------------------
def _check_pair(template, window, who):
    z, x = np.asarray(template, np.float32), np.asarray(window, np.float32)
    if z.ndim != x.ndim or z.ndim not in (2, 3) or (z.ndim == 3 and z.shape[2] != x.shape[2]):
        raise ValueError(f"{who}: template (h, w[, C]) and window (H, W[, C]) must have the same "
                         f"channels, got {z.shape} and {x.shape}")
    if z.shape[0] > x.shape[0] or z.shape[1] > x.shape[1]:
        raise ValueError(f"{who}: the template {z.shape[:2]} is larger than the window "
                         f"{x.shape[:2]}")
    return z, x


def correlation_map(template: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Raw cross-correlation: score[i, j] = sum over the template of z * x[i:i+h, j:j+w] (all
    channels). template: (h, w[, C]), window: (H, W[, C]) -> (H - h + 1, W - w + 1).
    Bright regions score high whatever their pattern: the reason to normalise."""
    from scipy.signal import correlate

    z, x = _check_pair(template, window, "correlation_map")
    out = correlate(x, z, mode="valid", method="fft")
    return out.reshape(out.shape[:2]).astype(np.float64)


def ncc_map(template: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation: the correlation of the mean-subtracted template and window
    patch, divided by both norms; in [-1, 1], blind to brightness and contrast changes of the
    patch. template: (h, w[, C]), window: (H, W[, C]) -> (H - h + 1, W - w + 1).
    (scikit-image's match_template.)"""
    from skimage.feature import match_template

    z, x = _check_pair(template, window, "ncc_map")
    out = match_template(x, z)
    return out.reshape(out.shape[:2]).astype(np.float64)


# --------------------------------------------------------------------------------------------
# SiamFC
# --------------------------------------------------------------------------------------------
class SiamFC(nn.Module):
    """A small fully convolutional siamese network (after Bertinetto et al., 2016).

    backbone f (no padding, total stride 2):
        conv3x3 (3 -> w) -> ReLU -> conv3x3 (w -> 2w, stride 2) -> ReLU -> conv3x3 (2w -> 2w)
    score(z, x) = a * corr(f(z), f(x)) + b: the feature map of the exemplar z (B, 3, h, w) is the
    kernel of a cross-correlation over the feature map of the search region x (B, 3, H, W);
    one channel out, (B, 1, (H - h) // 2 + 1, (W - w) // 2 + 1). The scale a and bias b are
    learned (SiamFC's "adjust" layer).

    normalize=True divides each correlation by the norms of the two feature patches (a cosine
    similarity in [-1, 1], the feature-space version of normalised cross-correlation), so that
    regions with strong features do not win by strength alone; it makes the small network
    train much faster. normalize=False is the original plain correlation.
    """

    stride = 2

    def __init__(self, width: int = 8, normalize: bool = True, seed: int | None = 0):
        super().__init__()
        if not (isinstance(width, int) and width >= 1):
            raise ValueError(f"SiamFC: width must be an int >= 1, got {width!r}")
        self.normalize = normalize
        ctx = torch.random.fork_rng(devices=[]) if seed is not None else nullcontext()
        with ctx:
            if seed is not None:
                torch.manual_seed(seed)
            self.backbone = nn.Sequential(
                nn.Conv2d(3, width, 3), nn.ReLU(),
                nn.Conv2d(width, 2 * width, 3, stride=2), nn.ReLU(),
                nn.Conv2d(2 * width, 2 * width, 3))
        self.adjust = nn.Parameter(torch.tensor(5.0 if normalize else 1e-2))
        self.bias = nn.Parameter(torch.tensor(0.0))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) images in [0, 1] -> (B, 2 width, (H - 7) // 2, (W - 7) // 2) feature maps
        (30 x 30 -> 11 x 11, 64 x 64 -> 28 x 28); each feature sees a 9 x 9 pixel neighbourhood."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"SiamFC: images must have shape (B, 3, H, W), got {shape}")
        return self.backbone(x - 0.5)

    def correlate(self, fz: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
        """Feature maps fz (B, C, hz, wz) and fx (B, C, hx, wx) -> (B, 1, hx-hz+1, wx-wz+1):
        each exemplar correlated with its own search region (plain or cosine)."""
        B, C = fz.shape[:2]
        if fx.shape[:2] != (B, C):
            raise ValueError(f"SiamFC: z and x must give the same batch and channels, got "
                             f"{tuple(fz.shape[:2])} and {tuple(fx.shape[:2])}")
        # one cross-correlation per pair: the batch becomes the groups of a single convolution
        out = F.conv2d(fx.reshape(1, B * C, *fx.shape[2:]), fz, groups=B)   # (1, B, h, w)
        out = out.reshape(B, 1, *out.shape[2:])
        if self.normalize:
            nz = fz.flatten(1).norm(dim=1).reshape(B, 1, 1, 1)              # (B, 1, 1, 1)
            ones = torch.ones(1, 1, *fz.shape[2:], dtype=fx.dtype)
            nx = F.conv2d((fx * fx).sum(1, keepdim=True), ones).clamp_min(1e-12).sqrt()
            out = out / (nz * nx + 1e-6)                                    # (B, 1, h, w)
        return out

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.correlate(self.features(z), self.features(x)) * self.adjust + self.bias


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    """(B, H, W, 3) or (H, W, 3) float -> (B, 3, H, W) float32 tensor."""
    a = np.asarray(images, np.float32)
    if a.ndim == 3:
        a = a[None]
    return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))


def siamfc_pairs(photos: Sequence[np.ndarray], batch: int, rng: np.random.Generator,
                 size: int = 30, search: int = 64, max_shift: int = 14, radius: float = 3.0,
                 rotation: float = 10.0, scale: tuple[float, float] = (0.9, 1.1),
                 light: tuple[float, float] = (0.5, 1.3), noise: float = 0.03,
                 occlude: float = 0.0):
    """Training pairs for SiamFC cut from photographs.

    Each pair: an exemplar z (size x size) at a random place of a random photo, and a search
    region x (search x search) of a changed copy of the photo (turned by up to `rotation`
    degrees and scaled about the exemplar's centre by a factor s drawn from `scale`, which shows
    the photo at 1/s of its size: s > 1 shrinks it; brightness times a factor in `light`,
    noise, and with probability `occlude` a bar of random colour and width across it, in the
    spirit of random erasing), centred up to max_shift pixels away from the exemplar. The label
    map marks score cells within `radius` pixels of the true offset as positive (1), the others
    as 0.

    Returns z (B, size, size, 3), x (B, search, search, 3), labels (B, n, n) with
    n = (search - size) // 2 + 1, and the true offsets (B, 2) in pixels.
    """
    from skimage.transform import AffineTransform, warp

    n = (search - size) // SiamFC.stride + 1
    Z = np.empty((batch, size, size, 3), np.float32)
    X = np.empty((batch, search, search, 3), np.float32)
    offsets = np.empty((batch, 2))
    half = search // 2 + max_shift + 4
    for b in range(batch):
        img = photos[rng.integers(len(photos))]
        H, W = img.shape[:2]
        c = np.array([rng.integers(half, H - half), rng.integers(half, W - half)], float)
        Z[b] = crop(img, c, size)
        ang = np.deg2rad(rng.uniform(-rotation, rotation))
        sc = rng.uniform(*scale)
        # the changed photo: rotate and scale about c (skimage's warp maps output -> input)
        to_c = AffineTransform(translation=(-c[1], -c[0]))
        rs = AffineTransform(scale=sc, rotation=ang)
        back = AffineTransform(translation=(c[1], c[0]))
        tf = to_c + rs + back
        shift = rng.integers(-max_shift, max_shift + 1, 2)
        centre_x = c + shift
        # warp only the search window: output pixel (r, q) of the window <- changed photo
        top, left = centre_x[0] - search / 2, centre_x[1] - search / 2
        place = AffineTransform(translation=(left, top))
        window = warp(img, place + tf, output_shape=(search, search), mode="edge")
        window = window * rng.uniform(*light)
        window = window + rng.normal(0, noise, window.shape)
        if rng.random() < occlude:
            w = int(rng.integers(3, 9))
            at = int(rng.integers(0, search - w))
            colour = rng.uniform(0, 1, 3)
            if rng.random() < 0.5:
                window[:, at:at + w] = colour
            else:
                window[at:at + w, :] = colour
        X[b] = np.clip(window, 0, 1)
        offsets[b] = (c - centre_x) + search / 2 - size / 2  # top-left of the target in x
    grid = np.arange(n) * SiamFC.stride                      # score cell -> pixel offset
    d = np.hypot(grid[None, :, None] - offsets[:, 0, None, None],
                 grid[None, None, :] - offsets[:, 1, None, None])  # (B, n, n)
    labels = (d <= radius).astype(np.float32)
    return Z, X, labels, offsets


@dataclass
class SiamFCHistory:
    """train_siamfc's record, per step: loss; and the mean distance (pixels) between the score
    map's peak and the true offset."""

    loss: np.ndarray
    peak_error: np.ndarray


def train_siamfc(net: SiamFC, photos: Sequence[str] | Sequence[np.ndarray] = TRAIN_PHOTOS,
                 steps: int = 120, batch: int = 16, lr: float = 3e-3, height: int = 120,
                 seed: int = 0, **pair_kwargs) -> SiamFCHistory:
    """Train SiamFC (in place) with Adam on the balanced logistic loss of the score map:
    positives (near the true offset) and negatives each weigh one half, as in SiamFC.

    photos: names (loaded and resized to `height` rows) or (H, W, 3) float arrays in [0, 1].
    pair_kwargs go to siamfc_pairs (size, search, max_shift, rotation, ...).
    """
    imgs = [photo_at_height(p, height) if isinstance(p, str) else np.asarray(p, np.float32)
            for p in photos]
    if not imgs:
        raise ValueError("train_siamfc: photos is empty")
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    errs = []

    def loss_of(pair_batch):
        Z, X, L, off = pair_batch
        score = net(_to_tensor(Z), _to_tensor(X))[:, 0]                # (B, n, n)
        lab = torch.from_numpy(L)
        pos = lab.sum((1, 2), keepdim=True).clamp_min(1)
        neg = (1 - lab).sum((1, 2), keepdim=True).clamp_min(1)
        w = 0.5 * lab / pos + 0.5 * (1 - lab) / neg                   # (B, n, n), sums to 1
        with torch.no_grad():                                         # where the peak landed
            n = score.shape[-1]
            k = score.reshape(len(score), -1).argmax(1).numpy()
            peak = np.stack([k // n, k % n], 1) * SiamFC.stride
        errs.append(float(np.hypot(*(peak - off).T).mean()))
        return (w * F.binary_cross_entropy_with_logits(score, lab, reduction="none")
                ).sum((1, 2)).mean()

    net.train()
    log = train(loss_of, opt, (siamfc_pairs(imgs, batch, rng, **pair_kwargs) for _ in range(steps)))
    net.eval()
    return SiamFCHistory(np.array(log.loss), np.array(errs))


def siamfc_map(net: SiamFC, template: np.ndarray, window: np.ndarray) -> np.ndarray:
    """The network's score map for one template (h, w, 3) and window (H, W, 3), bilinearly
    upsampled from stride 2 to one value per pixel offset: (H - h + 1, W - w + 1), like ncc_map."""
    z, x = _check_pair(template, window, "siamfc_map")
    if z.ndim != 3 or z.shape[2] != 3:
        raise ValueError(f"siamfc_map: template and window must be colour (h, w, 3), got {z.shape}")
    with torch.no_grad():
        s = net(_to_tensor(z), _to_tensor(x))                         # (1, 1, n, m)
        out_shape = (x.shape[0] - z.shape[0] + 1, x.shape[1] - z.shape[1] + 1)
        s = F.interpolate(s, size=out_shape, mode="bilinear", align_corners=True)
    return s[0, 0].double().numpy()


# --------------------------------------------------------------------------------------------
# The tracking loop and its evaluation
# --------------------------------------------------------------------------------------------
@dataclass
class TrackResult:
    """track()'s output.

    centres: (T, 2) predicted centres; frame 0 is the given start
    maps: list of T - 1 score maps (one per frame from 1 on), each (S - size + 1, S - size + 1)
    window_centres: (T, 2) where each frame's search window was centred (the previous estimate)
    peaks: (T - 1,) the best score of each map
    """

    centres: np.ndarray
    maps: list
    window_centres: np.ndarray
    peaks: np.ndarray


def track(sequence: TrackingSequence, score_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
          search: int = 60, template: np.ndarray | None = None) -> TrackResult:
    """Follow the target: in every frame, cut a search window centred on the previous estimate,
    score every offset of the template in it with score_fn(template, window), and move to the
    best one. The template is the one of frame 0 (never updated, as in SiamFC).

    score_fn: e.g. ncc_map, correlation_map, or lambda z, x: siamfc_map(net, z, x).
    """
    z = sequence.template if template is None else np.asarray(template, np.float32)
    size = z.shape[0]
    if search < size:
        raise ValueError(f"track: search ({search}) must be at least the template size ({size})")
    T = len(sequence)
    centres = np.zeros((T, 2))
    centres[0] = sequence.centres[0]
    wc = np.zeros((T, 2))
    wc[0] = centres[0]
    maps, peaks = [], []
    for t in range(1, T):
        c = centres[t - 1]
        window = crop(sequence.frames[t], c, search)
        m = score_fn(z, window)
        if m.shape != (search - size + 1, search - size + 1):
            raise ValueError(f"track: score_fn returned a map of shape {m.shape}, expected "
                             f"{(search - size + 1, search - size + 1)}")
        i, j = np.unravel_index(int(np.argmax(m)), m.shape)
        top = round(c[0] - search / 2)
        left = round(c[1] - search / 2)
        centres[t] = (top + i + size / 2, left + j + size / 2)
        wc[t] = c
        maps.append(m)
        peaks.append(float(m[i, j]))
    return TrackResult(centres, maps, wc, np.array(peaks))


def centre_errors(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(T,) Euclidean distance in pixels between predicted and true centres, both (T, 2)."""
    p, q = np.asarray(pred, float), np.asarray(truth, float)
    if p.shape != q.shape or p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"centre_errors: pred and truth must both be (T, 2), got {p.shape} and "
                         f"{q.shape}")
    return np.hypot(*(p - q).T)


def precision_curve(errors: np.ndarray, thresholds: np.ndarray | None = None):
    """The precision plot of tracking benchmarks (OTB, Wu et al. 2013): for every threshold,
    the fraction of frames whose centre error is at most that many pixels.
    Returns (thresholds, fractions); default thresholds 0..50 pixels."""
    e = np.asarray(errors, float)
    th = np.arange(51.0) if thresholds is None else np.asarray(thresholds, float)
    return th, (e[None, :] <= th[:, None]).mean(1)
