"""Data sets for the course, all offline.

Embedded real data (ships inside installed wheels):
    load_digits()          1797 handwritten digits, 8x8 grey levels (scikit-learn)
    load_photo(name)       real photographs (scikit-image, scikit-learn sample images)
Optional real data, used when present on disk:
    load_cifar10()         CIFAR-10 in its official python format, data/cifar-10-batches-py/
Procedural data:
    make_toy_2d(kind)      2-D point clouds for decision-region pictures
Helpers:
    split_data(...)        stratified train/val/test split with an optional dev subset
    load_classification()  the image-classification data a lecture or assignment uses:
                           CIFAR-10 when present, digits otherwise
"""

from __future__ import annotations

import os
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DIGIT_CLASSES = tuple(str(d) for d in range(10))
CIFAR10_CLASSES = (
    "plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

# The course's own data folder: <repo>/data. DLCV_DATA overrides it.
DATA_DIR = Path(os.environ.get("DLCV_DATA", Path(__file__).resolve().parent.parent / "data"))
CIFAR10_DIR = DATA_DIR / "cifar-10-batches-py"


class DataSetNotFound(FileNotFoundError):
    """An optional data set is not on disk. The message says how to get it."""


# --------------------------------------------------------------------------------------------
# Digits
# --------------------------------------------------------------------------------------------
def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The UCI handwritten digits shipped with scikit-learn.

    Returns:
        X: (1797, 8, 8) float64, grey levels in [0, 16]
        y: (1797,) int64, labels 0..9
    """
    csv = os.environ.get("DLCV_DIGITS_CSV")  # the grading sandbox: the file, without sklearn
    if csv:
        import gzip

        with gzip.open(csv, "rt") as f:
            rows = np.loadtxt(f, delimiter=",")  # (1797, 65): 64 pixels, then the label
        return rows[:, :-1].reshape(-1, 8, 8).astype(np.float64), rows[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits as _load

    d = _load()
    return d.images.astype(np.float64), d.target.astype(np.int64)


# --------------------------------------------------------------------------------------------
# Photographs
# --------------------------------------------------------------------------------------------
_SKIMAGE_PHOTOS = (
    "astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "moon",
    "immunohistochemistry", "hubble_deep_field", "brick", "grass", "gravel",
)
_SKLEARN_PHOTOS = ("china", "flower")
PHOTOS = _SKIMAGE_PHOTOS + _SKLEARN_PHOTOS


def load_photo(name: str, gray: bool = False, size: int | None = None) -> np.ndarray:
    """A real photograph that ships with scikit-image or scikit-learn.

    Args:
        name: one of PHOTOS ("astronaut", "camera", "coffee", "chelsea", "china", ...).
        gray: return a single-channel image (luminance).
        size: if given, resize so that the longer side has this many pixels.

    Returns:
        (H, W, 3) uint8 colour image, or (H, W) uint8 when gray=True.
    """
    if name in _SKIMAGE_PHOTOS:
        import skimage.data

        img = getattr(skimage.data, name)()
    elif name in _SKLEARN_PHOTOS:
        from sklearn.datasets import load_sample_image

        img = load_sample_image(f"{name}.jpg")
    else:
        raise ValueError(f"load_photo: unknown photo {name!r}; choose one of {', '.join(PHOTOS)}")
    img = np.asarray(img)
    if size is not None:
        if not (isinstance(size, int) and size > 0):
            raise ValueError(f"load_photo: size must be a positive int, got {size!r}")
        from skimage.transform import resize

        h, w = img.shape[:2]
        s = size / max(h, w)
        out_shape = (max(1, round(h * s)), max(1, round(w * s))) + img.shape[2:]
        img = (resize(img, out_shape, anti_aliasing=True, preserve_range=True) + 0.5).astype(np.uint8)
    if gray and img.ndim == 3:
        img = (img[..., :3] @ np.array([0.299, 0.587, 0.114]) + 0.5).astype(np.uint8)
    elif not gray and img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return img


# --------------------------------------------------------------------------------------------
# CIFAR-10 (official python format)
# --------------------------------------------------------------------------------------------
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


def cifar10_missing_message(root: Path) -> str:
    return (
        f"CIFAR-10 was not found in {root}/ (expected data_batch_1..5 and test_batch in the "
        f"official python format). To use it, download {CIFAR10_URL} (163 MB) and unpack it in "
        f"{root.parent}/ (it makes the folder {root.name}/), or run `bash data/get_cifar10.sh` in "
        "the course folder, or copy an existing cifar-10-batches-py/ folder there, or point "
        "DLCV_DATA at the folder that contains it. Everything in the course also runs without it."
    )


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, numbers, strings and numpy arrays, and nothing that runs code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("numpy.core.numeric", "_frombuffer"),
               ("numpy._core.numeric", "_frombuffer"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a data batch never needs")


def _what_file_is_this(head: bytes) -> str:
    """A guess at a file that is not a pickle, from its first bytes."""
    if head.startswith(b"\x1f\x8b"):
        return "a gzip file: unpack cifar-10-python.tar.gz (tar -xzf) instead of copying it"
    if head.lstrip().lower().startswith((b"<!doctype", b"<html", b"<?xml")):
        return "a web page, not data: the download failed; download the file again"
    if head.startswith(b"PK"):
        return "a zip file: unpack it first"
    if not head:
        return "empty"
    return "not a pickled python batch"


def _load_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file. Accepts the official files (Python 2 pickles, read with latin1) and
    re-pickled copies: str or bytes keys, labels as a list or an array, data as (N, 3072) rows or
    (N, 3, 32, 32) / (N, 32, 32, 3) images. Anything else raises a ValueError saying what it is."""
    with open(path, "rb") as f:
        head = f.read(16)
        f.seek(0)
        try:
            d = _ArrayUnpickler(f, encoding="latin1").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
                ImportError, IndexError, KeyError, MemoryError) as e:
            if head[:1] != b"\x80":  # every pickle of protocol 2 or later starts with 0x80
                what = _what_file_is_this(head)
                raise ValueError(f"{path} is not a CIFAR-10 python batch: it is {what}") from e
            if isinstance(e, EOFError):
                raise ValueError(f"{path} is truncated ({path.stat().st_size:,} bytes; a batch has "
                                 "about 31 MB): copy or download it again") from e
            raise ValueError(f"{path} is not a CIFAR-10 python batch ({e})") from e
    if not isinstance(d, dict):
        raise ValueError(f"{path} is not a CIFAR-10 python batch: it holds a {type(d).__name__}, "
                         "not a dict with 'data' and 'labels'")
    d = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in d.items()}  # b'data' -> 'data'
    if "labels" not in d and "fine_labels" in d:
        raise ValueError(f"{path} is a CIFAR-100 batch (it has 'fine_labels'), not CIFAR-10")
    if "data" not in d or "labels" not in d:
        raise ValueError(f"{path} is not a CIFAR-10 python batch: it has the keys "
                         f"{sorted(map(str, d))}, not 'data' and 'labels'")
    data, labels = np.asarray(d["data"]), np.asarray(d["labels"])
    if data.dtype != np.uint8:
        raise ValueError(f"{path}: 'data' should hold uint8 pixel values 0..255, got dtype {data.dtype}")
    if data.ndim == 2 and data.shape[1] == 3072:
        X = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # (N, 32, 32, 3)
    elif data.shape[1:] == (3, 32, 32):
        X = data.transpose(0, 2, 3, 1)
    elif data.shape[1:] == (32, 32, 3):
        X = data
    else:
        raise ValueError(f"{path}: expected 'data' of shape (N, 3072), (N, 3, 32, 32) or "
                         f"(N, 32, 32, 3), got {data.shape}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{path}: 'labels' should be a list of integers, got {labels.dtype} of "
                         f"shape {labels.shape}")
    y = labels.astype(np.int64)
    if y.shape != (X.shape[0],):
        raise ValueError(f"{path}: {X.shape[0]} images but {y.shape[0]} labels")
    if y.size and not (y.min() >= 0 and y.max() <= 9):
        raise ValueError(f"{path}: labels should be 0..9, got values from {y.min()} to {y.max()}")
    return np.ascontiguousarray(X), y


def load_cifar10(
    root: str | Path | None = None, num_batches: int = 5
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CIFAR-10 from its official python format (as in CS231n).

    Args:
        root: folder holding data_batch_1..5 and test_batch; default data/cifar-10-batches-py.
        num_batches: how many of the five training batches to read (1..5).

    Returns:
        X_train: (10000 * num_batches, 32, 32, 3) uint8, y_train: (N,) int64,
        X_test: (10000, 32, 32, 3) uint8, y_test: (10000,) int64

    Raises:
        DataSetNotFound: with instructions, when the files are not there.
    """
    root = Path(root) if root is not None else CIFAR10_DIR
    if not 1 <= num_batches <= 5:
        raise ValueError(f"load_cifar10: num_batches must be in 1..5, got {num_batches}")
    files = [root / f"data_batch_{b}" for b in range(1, num_batches + 1)] + [root / "test_batch"]
    if not all(f.is_file() for f in files):
        raise DataSetNotFound(cifar10_missing_message(root))
    parts = [_load_cifar_batch(f) for f in files[:-1]]
    X_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    X_test, y_test = _load_cifar_batch(files[-1])
    return X_train, y_train, X_test, y_test


def cifar10_available(root: str | Path | None = None) -> bool:
    root = Path(root) if root is not None else CIFAR10_DIR
    return (root / "data_batch_1").is_file() and (root / "test_batch").is_file()


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------
@dataclass
class Splits:
    """Train / validation / test (and a small dev subset of train) for one data set.

    Images keep their shape: X_* is (N, H, W) or (N, H, W, C); y_* is (N,) int64.
    """

    name: str
    class_names: tuple[str, ...]
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_dev: np.ndarray = field(repr=False, default=None)
    y_dev: np.ndarray = field(repr=False, default=None)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.X_train.shape[1:])

    def summary(self) -> str:
        rows = [f"{self.name}: {self.num_classes} classes, images {self.image_shape}"]
        for part in ("train", "val", "test", "dev"):
            X = getattr(self, f"X_{part}")
            if X is not None:
                rows.append(f"  {part:5s} {X.shape[0]:6d}")
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.summary()


def _stratified_order(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A permutation of range(len(y)) that interleaves the classes (round-robin over shuffled
    classes), so that any prefix of it is close to stratified."""
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
    order, rank = [], []
    for idx in per_class:
        order.append(idx)
        rank.append(np.arange(len(idx)) / len(idx) + rng.uniform(0, 1e-6, len(idx)))
    order, rank = np.concatenate(order), np.concatenate(rank)
    return order[np.argsort(rank, kind="stable")]


def split_data(
    X: np.ndarray,
    y: np.ndarray,
    num_val: int | float,
    num_test: int | float,
    num_dev: int = 0,
    seed: int = 0,
    name: str = "data",
    class_names: tuple[str, ...] | None = None,
) -> Splits:
    """Stratified, shuffled train/val/test split with an optional dev subset of train.

    Args:
        X: (N, ...) samples; y: (N,) integer labels.
        num_val, num_test: sizes (int) or fractions of N (float in (0, 1)).
        num_dev: size of a small subset of the training set for quick experiments.
        seed: the split is a deterministic function of the seed.
    """
    X, y = np.asarray(X), np.asarray(y)
    if y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise ValueError(
            f"split_data: X and y must have the same first dimension and y must be 1-D; "
            f"got X {X.shape}, y {y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"split_data: y must hold integer labels, got dtype {y.dtype}")
    n = len(y)

    def count(v, what):
        k = round(v * n) if isinstance(v, float) else int(v)
        if not 0 <= k <= n:
            raise ValueError(f"split_data: {what}={v} is outside 0..{n}")
        return k

    n_val, n_test = count(num_val, "num_val"), count(num_test, "num_test")
    if n_val + n_test >= n:
        raise ValueError(f"split_data: num_val + num_test = {n_val + n_test} leaves no training data")
    rng = np.random.default_rng(seed)
    order = _stratified_order(y, rng)
    test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    train = np.sort(train)
    train = train[rng.permutation(len(train))]
    if num_dev > len(train):
        raise ValueError(f"split_data: num_dev={num_dev} is larger than the training set ({len(train)})")
    dev = train[_stratified_order(y[train], rng)[:num_dev]] if num_dev else None
    if class_names is None:
        class_names = tuple(str(c) for c in range(int(y.max()) + 1))
    return Splits(
        name=name,
        class_names=tuple(class_names),
        X_train=X[train], y_train=y[train],
        X_val=X[val], y_val=y[val],
        X_test=X[test], y_test=y[test],
        X_dev=None if dev is None else X[dev],
        y_dev=None if dev is None else y[dev],
    )


def load_classification(
    name: str = "auto",
    num_train: int = 5000,
    num_val: int = 500,
    num_test: int = 500,
    num_dev: int = 500,
    seed: int = 0,
) -> Splits:
    """The image-classification data used by lectures 01-02 and assignment a1.

    name="digits": the 1797 embedded digits, split 1257 / 180 / 360 (dev 200);
    name="cifar10": a CIFAR-10 subset of the given sizes (as in CS231n: 5000 / 500 / 500);
    name="auto": CIFAR-10 when it is on disk, digits otherwise (with a note saying so).
    The num_* arguments apply to CIFAR-10 only: the digits split is fixed.
    """
    if name == "auto":
        name = "cifar10" if cifar10_available() else "digits"
        if name == "digits":
            warnings.warn(
                "CIFAR-10 is not on disk, using the embedded digits instead. "
                + cifar10_missing_message(CIFAR10_DIR),
                stacklevel=2,
            )
    if name == "digits":
        X, y = load_digits()
        return split_data(X, y, num_val=180, num_test=360, num_dev=200, seed=seed,
                          name="digits", class_names=DIGIT_CLASSES)
    if name == "cifar10":
        X_train, y_train, X_test, y_test = load_cifar10()
        rng = np.random.default_rng(seed)
        if num_train + num_val > len(y_train):
            raise ValueError(f"load_classification: num_train + num_val > {len(y_train)}")
        tr = rng.permutation(len(y_train))
        te = rng.permutation(len(y_test))[:num_test]
        dev = tr[:num_train][:num_dev]
        return Splits(
            name="cifar10", class_names=CIFAR10_CLASSES,
            X_train=X_train[tr[:num_train]], y_train=y_train[tr[:num_train]],
            X_val=X_train[tr[num_train:num_train + num_val]],
            y_val=y_train[tr[num_train:num_train + num_val]],
            X_test=X_test[te], y_test=y_test[te],
            X_dev=X_train[dev], y_dev=y_train[dev],
        )
    raise ValueError(f"load_classification: unknown data set {name!r}; use 'auto', 'digits' or 'cifar10'")


# --------------------------------------------------------------------------------------------
# 2-D toy data
# --------------------------------------------------------------------------------------------
TOY_KINDS = ("blobs", "moons", "circles", "spiral", "xor")


def make_toy_2d(
    kind: str = "blobs",
    n: int = 150,
    noise: float = 0.2,
    num_classes: int = 3,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Small 2-D classification problems for decision-region pictures.

    Args:
        kind: "blobs", "moons" (2 classes), "circles" (2 classes), "spiral", or "xor" (2 classes).
        n: total number of points (split evenly between classes).
        noise: standard deviation of the Gaussian noise added to the clean shape (>= 0).
        num_classes: number of classes for "blobs" and "spiral" (2..6).
        seed: the data is a deterministic function of all arguments.

    Returns:
        X: (n, 2) float64, roughly inside [-1.5, 1.5]^2; y: (n,) int64.
    """
    if kind not in TOY_KINDS:
        raise ValueError(f"make_toy_2d: unknown kind {kind!r}; choose one of {TOY_KINDS}")
    if n < 2:
        raise ValueError(f"make_toy_2d: n must be at least 2, got {n}")
    if noise < 0:
        raise ValueError(f"make_toy_2d: noise must be >= 0, got {noise}")
    if kind in ("moons", "circles", "xor"):
        num_classes = 2
    if not 2 <= num_classes <= 6:
        raise ValueError(f"make_toy_2d: num_classes must be in 2..6, got {num_classes}")
    rng = np.random.default_rng(seed)
    y = np.arange(n) % num_classes
    if kind == "blobs":
        angles = 2 * np.pi * np.arange(num_classes) / num_classes + 0.3
        centres = np.stack([np.cos(angles), np.sin(angles)], 1)
        X = centres[y]  # the spread of each blob is the noise below
    elif kind == "moons":
        t = rng.uniform(0, np.pi, n)
        X = np.where(
            (y == 0)[:, None],
            np.stack([np.cos(t), np.sin(t)], 1) - [0.5, 0.25],
            np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1) - [0.5, 0.25],
        )
    elif kind == "circles":
        t = rng.uniform(0, 2 * np.pi, n)
        r = np.where(y == 0, 1.0, 0.45)
        X = r[:, None] * np.stack([np.cos(t), np.sin(t)], 1)
    elif kind == "spiral":
        r = rng.uniform(0.1, 1.0, n)
        t = y * 2 * np.pi / num_classes + r * 3.0
        X = r[:, None] * np.stack([np.cos(t), np.sin(t)], 1)
    else:  # xor
        X = rng.uniform(-1, 1, (n, 2))
        y = (np.sign(X[:, 0]) != np.sign(X[:, 1])).astype(np.int64)
    X = X + rng.normal(0, noise, X.shape) if noise else X
    return X.astype(np.float64), y.astype(np.int64)
