"""Image data augmentation in numpy: label-preserving random changes of training images.

Images are float arrays with values in [0, 1]: one image (H, W, C) or a batch (N, H, W, C)
(C = 3 for colour; grey images may be (H, W, 1)). Random functions take `rng`, a
numpy Generator or an int seed, so that a seed fixes the result; on a batch every image gets
its own random draw.

    to_float(img)                          uint8 0..255 -> float 0..1 (what load_photo returns)
    hflip(img)                             mirror left-right
    random_hflip(img, rng, p=0.5)          mirror with probability p
    random_crop(img, size, rng, padding)   a random size x size window (after zero padding)
    center_crop(img, size)                 the central window (test-time counterpart)
    random_resized_crop(img, size, rng)    a random area / aspect-ratio window, resized
    color_jitter(img, rng, brightness, contrast, saturation)
    pca_lighting(img, rng, std)            AlexNet's colour shift along the RGB principal axes
    rotate(img, max_degrees, rng)          a random rotation
    cutout(img, size, rng)                 zero a random square (DeVries & Taylor, 2017)
    shift(images, dy, dx, axes)            move a batch by whole pixels, zeros coming in
    augment_by_shifts(X, y, shifts)        the training set plus shifted copies (labels tiled)

Used by lecture 05 on real photographs and by assignments a2 and a3 (shifted digits).
"""

from __future__ import annotations

import numpy as np


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------
def _rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, int | np.integer):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy Generator or an int seed, got {type(rng).__name__}")


def _check(img, who: str) -> np.ndarray:
    """A float image (H, W, C) or batch (N, H, W, C) with values in [0, 1]."""
    img = np.asarray(img)
    if img.ndim not in (3, 4):
        raise ValueError(f"{who}: img must be an image (H, W, C) or a batch (N, H, W, C), "
                         f"got shape {img.shape}")
    if not np.issubdtype(img.dtype, np.floating):
        raise TypeError(f"{who}: img must hold floats in [0, 1], got dtype {img.dtype}; "
                        "convert with dlcv.augment.to_float(img)")
    if img.size and (img.min() < -1e-6 or img.max() > 1 + 1e-6):
        raise ValueError(f"{who}: img values must lie in [0, 1], got [{img.min():.3g}, "
                         f"{img.max():.3g}]")
    return img


def _size(size, who: str) -> tuple[int, int]:
    if isinstance(size, int | np.integer):
        size = (int(size), int(size))
    if not (len(size) == 2 and all(isinstance(s, int | np.integer) and s >= 1 for s in size)):
        raise ValueError(f"{who}: size must be a positive int or (height, width), got {size!r}")
    return int(size[0]), int(size[1])


def _per_image(fn, img: np.ndarray, rng: np.random.Generator, *args, **kwargs) -> np.ndarray:
    """Apply fn(image, rng, ...) to one image, or to each image of a batch."""
    if img.ndim == 3:
        return fn(img, rng, *args, **kwargs)
    return np.stack([fn(im, rng, *args, **kwargs) for im in img])


def to_float(img) -> np.ndarray:
    """uint8 image(s) with values 0..255 -> float64 in [0, 1]; float input is checked and kept."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0
    return _check(img, "to_float").astype(np.float64)


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------
def hflip(img) -> np.ndarray:
    """Mirror left-right: (H, W, C) or (N, H, W, C), same shape."""
    img = _check(img, "hflip")
    return img[..., ::-1, :].copy()


def random_hflip(img, rng, p: float = 0.5) -> np.ndarray:
    """Mirror each image left-right with probability p."""
    img, rng = _check(img, "random_hflip"), _rng(rng)
    if not 0 <= p <= 1:
        raise ValueError(f"random_hflip: p must be in [0, 1], got {p}")
    return _per_image(lambda im, r: im[:, ::-1].copy() if r.random() < p else im.copy(), img, rng)


def _crop_one(im, rng, h, w, padding, return_offset):
    H, W = im.shape[:2]
    if padding:
        im = np.pad(im, ((padding, padding), (padding, padding), (0, 0)))
    Hp, Wp = im.shape[:2]
    if h > Hp or w > Wp:
        raise ValueError(f"random_crop: crop {h}x{w} is larger than the (padded) image {Hp}x{Wp}")
    top, left = int(rng.integers(0, Hp - h + 1)), int(rng.integers(0, Wp - w + 1))
    out = im[top:top + h, left:left + w].copy()
    return (out, (top, left)) if return_offset else out


def random_crop(img, size, rng, padding: int = 0, return_offset: bool = False):
    """A random window of the image, as in CIFAR-10 training (pad by 4, crop 32 x 32).

    Args:
        img: (H, W, C) or (N, H, W, C) floats in [0, 1].
        size: int or (h, w), the window.
        rng: numpy Generator or int seed.
        padding: zeros (black) added on every side before cropping.
        return_offset: also return the window's (top, left) in the padded image (one image only).

    Returns:
        (h, w, C) or (N, h, w, C); with return_offset, (crop, (top, left)).
    """
    img, rng = _check(img, "random_crop"), _rng(rng)
    h, w = _size(size, "random_crop")
    if not (isinstance(padding, int | np.integer) and padding >= 0):
        raise ValueError(f"random_crop: padding must be an int >= 0, got {padding!r}")
    if return_offset and img.ndim == 4:
        raise ValueError("random_crop: return_offset works on one image (H, W, C), not a batch")
    return _per_image(_crop_one, img, rng, h, w, int(padding), return_offset)


def center_crop(img, size) -> np.ndarray:
    """The central (h, w) window: the deterministic crop used at test time."""
    img = _check(img, "center_crop")
    h, w = _size(size, "center_crop")
    H, W = img.shape[-3:-1]
    if h > H or w > W:
        raise ValueError(f"center_crop: crop {h}x{w} is larger than the image {H}x{W}")
    top, left = (H - h) // 2, (W - w) // 2
    return img[..., top:top + h, left:left + w, :].copy()


def _resize(im: np.ndarray, h: int, w: int) -> np.ndarray:
    from skimage.transform import resize

    return np.clip(resize(im, (h, w, im.shape[2]), order=1, anti_aliasing=True, mode="edge"), 0, 1)


def _rrc_one(im, rng, h, w, scale, ratio):
    H, W = im.shape[:2]
    area = H * W
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1])))  # width / height
        cw, ch = int(round(np.sqrt(target * aspect))), int(round(np.sqrt(target / aspect)))
        if 0 < cw <= W and 0 < ch <= H:
            top, left = int(rng.integers(0, H - ch + 1)), int(rng.integers(0, W - cw + 1))
            return _resize(im[top:top + ch, left:left + cw], h, w)
    s = min(H, W)  # fall back to the central square
    return _resize(im[(H - s) // 2:(H - s) // 2 + s, (W - s) // 2:(W - s) // 2 + s], h, w)


def random_resized_crop(img, size, rng, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)) -> np.ndarray:
    """A window covering a random fraction `scale` of the area, with a random aspect ratio
    (log-uniform in `ratio`, width / height), resized to `size` (the ImageNet training crop of
    Szegedy et al., 2015). Returns (h, w, C) or (N, h, w, C)."""
    img, rng = _check(img, "random_resized_crop"), _rng(rng)
    h, w = _size(size, "random_resized_crop")
    if not (0 < scale[0] <= scale[1] <= 1):
        raise ValueError(f"random_resized_crop: scale must satisfy 0 < min <= max <= 1, "
                         f"got {scale}")
    if not (0 < ratio[0] <= ratio[1]):
        raise ValueError(f"random_resized_crop: ratio must satisfy 0 < min <= max, got {ratio}")
    return _per_image(_rrc_one, img, rng, h, w, tuple(scale), tuple(ratio))


def rotate(img, max_degrees: float, rng) -> np.ndarray:
    """Rotate by a random angle in [-max_degrees, max_degrees] about the centre (reflected
    borders, same shape)."""
    from skimage.transform import rotate as _rot

    img, rng = _check(img, "rotate"), _rng(rng)
    if not 0 <= max_degrees <= 180:
        raise ValueError(f"rotate: max_degrees must be in [0, 180], got {max_degrees}")
    return _per_image(lambda im, r: np.clip(_rot(im, r.uniform(-max_degrees, max_degrees),
                                                 mode="reflect", order=1), 0, 1), img, rng)


def cutout(img, size: int, rng) -> np.ndarray:
    """Set a size x size square at a random centre to 0 (the square may stick out of the image,
    as in DeVries & Taylor, 2017). Returns the same shape."""
    img, rng = _check(img, "cutout"), _rng(rng)
    if not (isinstance(size, int | np.integer) and size >= 1):
        raise ValueError(f"cutout: size must be a positive int, got {size!r}")

    def one(im, r):
        H, W = im.shape[:2]
        cy, cx = int(r.integers(0, H)), int(r.integers(0, W))
        out = im.copy()
        y0, x0 = cy - size // 2, cx - size // 2
        out[max(0, y0):y0 + size, max(0, x0):x0 + size] = 0
        return out

    return _per_image(one, img, rng)


# --------------------------------------------------------------------------------------------
# Colour
# --------------------------------------------------------------------------------------------
_LUMA = np.array([0.299, 0.587, 0.114])


def _grey(im: np.ndarray) -> np.ndarray:
    """(H, W, 1) luminance of an (H, W, 3) image (or the image itself if it has one channel)."""
    return im if im.shape[-1] == 1 else (im[..., :3] @ _LUMA)[..., None]


def _jitter_one(im, rng, brightness, contrast, saturation):
    out = im * rng.uniform(1 - brightness, 1 + brightness)  # brightness: scale all values
    c = rng.uniform(1 - contrast, 1 + contrast)  # contrast: blend with the mean grey level
    out = np.clip(c * out + (1 - c) * _grey(out).mean(), 0, 1)
    s = rng.uniform(1 - saturation, 1 + saturation)  # saturation: blend with the grey image
    return np.clip(s * out + (1 - s) * _grey(out), 0, 1)


def color_jitter(img, rng, brightness: float = 0.0, contrast: float = 0.0,
                 saturation: float = 0.0) -> np.ndarray:
    """Random brightness, contrast and saturation changes (as torchvision's ColorJitter).

    Each factor is drawn uniformly from [1 - x, 1 + x] for x = brightness, contrast, saturation
    (each in [0, 1]); 0 leaves that property alone. Brightness multiplies the values, contrast
    blends with the image's mean grey level, saturation blends with the grey version.
    Results are clipped to [0, 1]. Same shape as the input.
    """
    img, rng = _check(img, "color_jitter"), _rng(rng)
    for name, v in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
        if not 0 <= v <= 1:
            raise ValueError(f"color_jitter: {name} must be in [0, 1], got {v}")
    return _per_image(_jitter_one, img, rng, brightness, contrast, saturation)


def pca_lighting(img, rng, std: float = 0.1, eigvals=None, eigvecs=None) -> np.ndarray:
    """AlexNet's "fancy PCA" colour augmentation (Krizhevsky et al., 2012).

    Adds sum_k alpha_k * sqrt(lambda_k) * v_k to every pixel, where v_k are the principal axes
    of the RGB values, lambda_k the variances along them and alpha_k ~ N(0, std^2): one random
    colour shift per image, larger along the directions in which natural colours vary most.
    (The paper writes lambda_k for pixels in 0..255; for values in [0, 1] the usual choice is
    the standard deviation sqrt(lambda_k), as here.) By default the PCA is of the image's own
    pixels; pass eigvals (3,) and eigvecs (3, 3) (columns are axes) of a whole training set to
    use those instead. Colour images only; the result is clipped to [0, 1].
    """
    img, rng = _check(img, "pca_lighting"), _rng(rng)
    if img.shape[-1] != 3:
        raise ValueError(f"pca_lighting: needs colour images (..., 3), got {img.shape}")
    if std < 0:
        raise ValueError(f"pca_lighting: std must be >= 0, got {std}")

    def one(im, r):
        if eigvals is None:
            lam, vec = np.linalg.eigh(np.cov(im.reshape(-1, 3), rowvar=False))
        else:
            lam, vec = np.asarray(eigvals, dtype=np.float64), np.asarray(eigvecs, dtype=np.float64)
            if lam.shape != (3,) or vec.shape != (3, 3):
                raise ValueError(f"pca_lighting: eigvals must be (3,) and eigvecs (3, 3), got "
                                 f"{lam.shape}, {vec.shape}")
        shift = vec @ (r.normal(0, std, 3) * np.sqrt(np.maximum(lam, 0)))  # (3,)
        return np.clip(im + shift, 0, 1)

    return _per_image(one, img, rng)


# --------------------------------------------------------------------------------------------
# Whole-pixel shifts of a batch (any layout)
# --------------------------------------------------------------------------------------------
def shift(images, dy: int, dx: int, axes: tuple[int, int] = (-2, -1)) -> np.ndarray:
    """A batch moved by dy rows and dx columns; the pixels that come in are 0.

    Args:
        images: an array whose `axes` are the image rows and columns: (-2, -1) for (N, H, W) or
            (N, C, H, W), (1, 2) for (N, H, W, C). Any dtype.
        dy, dx: whole pixels; positive moves down / right. |dy| < H and |dx| < W.
    Returns:
        an array of the same shape and dtype.
    """
    images = np.asarray(images)
    ax_h, ax_w = (a % images.ndim for a in axes)
    H, W = images.shape[ax_h], images.shape[ax_w]
    if not (isinstance(dy, int | np.integer) and isinstance(dx, int | np.integer)):
        raise TypeError(f"shift: dy and dx must be whole pixels (ints), got {dy!r} and {dx!r}")
    if abs(dy) >= H or abs(dx) >= W:
        raise ValueError(f"shift: |dy| must be < H = {H} and |dx| < W = {W}, got {dy}, {dx}")
    out = np.zeros_like(images)
    dst = [slice(None)] * images.ndim
    src = [slice(None)] * images.ndim
    dst[ax_h], src[ax_h] = slice(max(dy, 0), H + min(dy, 0)), slice(max(-dy, 0), H + min(-dy, 0))
    dst[ax_w], src[ax_w] = slice(max(dx, 0), W + min(dx, 0)), slice(max(-dx, 0), W + min(-dx, 0))
    out[tuple(dst)] = images[tuple(src)]
    return out


def augment_by_shifts(X, y, shifts, axes: tuple[int, int] = (-2, -1)) -> tuple[np.ndarray, np.ndarray]:
    """The training set followed by shifted copies: one copy of X per (dy, dx) in shifts.

    Args:
        X: (N, ...) images (rows and columns on `axes`, see shift); y: (N,) labels.
        shifts: list of (dy, dx); include (0, 0) to keep the originals.
    Returns:
        X_aug: (len(shifts) * N, ...), copy k holding X shifted by shifts[k]; y_aug: y tiled.
    """
    X, y = np.asarray(X), np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"augment_by_shifts: y must have shape ({X.shape[0]},), got {y.shape}")
    if not len(shifts):
        raise ValueError("augment_by_shifts: shifts is empty")
    X_aug = np.concatenate([shift(X, int(dy), int(dx), axes) for dy, dx in shifts])
    return X_aug, np.tile(y, len(shifts))
