"""The digits as images for generative models, and a reference classifier that judges samples.

    digit_images(scale)                 the 1797 digits as (N, 1, 8, 8) float32 in [0, 1] or
                                        [-1, 1], and their labels
    reference_classifier(seed=0)        an MLP trained once on 1500 digits (and on non-digits,
                                        to be unsure of them), cached per seed
                                        -> ReferenceClassifier
    score_samples(x, classifier)        the share of images it labels with confidence >= 0.9 and
                                        the class histogram -> SampleScore
    split_order(seed), NUM_TRAIN        the fixed split: the first NUM_TRAIN of the permutation
                                        train (the classifier and the lecture's generators)
    non_digits(n, X, generator)         noise and pixel-shuffled digits, for outlier exposure

A generated digit "looks like a digit" to this measure when a classifier trained on real digits
is confident about it. The measure says nothing about diversity beyond the class histogram: a
generator that draws one perfect 1 a thousand times scores 100% with a histogram of one bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.data import load_digits
from dlcv.loop import cycled, train
from dlcv.validate import choice, integer, number_in

NUM_TRAIN = 1500  # the classifier's training digits; the other 297 are its test set


def digit_images(scale: str = "unit") -> tuple[np.ndarray, np.ndarray]:
    """The digits as images: X (1797, 1, 8, 8) float32, y (1797,) int64.

    scale "unit": grey levels / 16, in [0, 1]; "symmetric": 2 * that - 1, in [-1, 1] (the range
    of a tanh output and of diffusion's data).
    """
    choice("digit_images", "scale", scale, ("unit", "symmetric"))
    X, y = load_digits()
    X = (X / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8)
    return (X if scale == "unit" else 2 * X - 1), y


def split_order(seed: int = 0) -> np.ndarray:
    """A fixed permutation of the 1797 digits: the first NUM_TRAIN train the classifier."""
    return np.random.default_rng(seed).permutation(1797)


@dataclass
class ReferenceClassifier:
    """model: the trained network (eval mode); test_accuracy and test_confident: its accuracy
    and its share of confidence >= 0.9 on the 297 held-out real digits."""

    model: nn.Module
    test_accuracy: float
    test_confident: float

    def probabilities(self, x) -> np.ndarray:
        """x: (N, 1, 8, 8) or (N, 64) images in [0, 1] -> (N, 10) class probabilities."""
        x = torch.as_tensor(np.asarray(x, np.float32)).reshape(-1, 1, 8, 8)
        with torch.no_grad():
            return torch.softmax(self.model(x), dim=1).numpy()


_CLASSIFIERS: dict[tuple[int, int], ReferenceClassifier] = {}


def non_digits(n: int, X: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """n images that are not digits, for outlier exposure: X (M, 1, 8, 8) real digits in [0, 1].

    Half uniform noise, half real digits with their 64 pixels shuffled (the right grey levels,
    no strokes). Returns (n, 1, 8, 8).
    """
    n = integer("non_digits", "n", n, 1)
    k = n // 2
    noise = torch.rand(k, 1, 8, 8, generator=generator)
    flat = X[torch.randint(0, len(X), (n - k,), generator=generator)].reshape(n - k, 64)
    perm = torch.argsort(torch.rand(n - k, 64, generator=generator), dim=1)
    return torch.cat([noise, torch.gather(flat, 1, perm).reshape(n - k, 1, 8, 8)])


def reference_classifier(seed: int = 0, steps: int = 1000) -> ReferenceClassifier:
    """The reference digit classifier, trained once per (seed, steps) and cached.

    An MLP 64 -> 256 -> 256 -> 10 (ReLU) trained with Adam (lr 2e-3) on the first NUM_TRAIN
    digits of split_order(seed), images in [0, 1], batches of 64 digits with their labels plus
    16 non_digits whose target is the uniform distribution over the ten classes ("outlier
    exposure", Hendrycks et al. 2019): without them a classifier is confident on about half of
    all uniform-noise images, and the score would not tell a digit from a smudge. It remains
    confident on about half of the pixel-wise averages of two digits: the score is a floor on
    quality, not a proof of it.
    """
    seed = integer("reference_classifier", "seed", seed, 0)
    steps = integer("reference_classifier", "steps", steps, 1)
    key = (seed, steps)
    if key in _CLASSIFIERS:
        return _CLASSIFIERS[key]
    X, y = digit_images("unit")
    order = split_order(seed)
    Xtr, ytr = torch.as_tensor(X[order[:NUM_TRAIN]]), torch.as_tensor(y[order[:NUM_TRAIN]])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256),
                              nn.ReLU(), nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed)

    def loss_of(idx):
        scores = model(torch.cat([Xtr[idx], non_digits(16, Xtr, g)]))  # (64 + 16, 10)
        uniform = -F.log_softmax(scores[len(idx):], dim=1).mean()  # CE with the uniform target
        return F.cross_entropy(scores[:len(idx)], ytr[idx]) + uniform

    model.train()
    train(loss_of, opt, cycled(NUM_TRAIN, 64, steps, g))
    model.eval()
    clf = ReferenceClassifier(model, 0.0, 0.0)
    p = clf.probabilities(X[order[NUM_TRAIN:]])
    clf.test_accuracy = float((p.argmax(1) == y[order[NUM_TRAIN:]]).mean())
    clf.test_confident = float((p.max(1) >= 0.9).mean())
    _CLASSIFIERS[key] = clf
    return clf


@dataclass
class SampleScore:
    """confident: share of samples labelled with confidence >= threshold; histogram: (10,)
    counts of the predicted classes (all samples); labels, confidence: (N,) per sample."""

    confident: float
    histogram: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray

    def __str__(self) -> str:
        return (f"{100 * self.confident:.1f}% confident (>= 0.9); classes "
                f"{' '.join(str(int(c)) for c in self.histogram)}")


def score_samples(x, classifier: ReferenceClassifier, threshold: float = 0.9) -> SampleScore:
    """Judge generated digits: x (N, 1, 8, 8), (N, 8, 8) or (N, 64) in [0, 1] (clip first if needed).

    Returns the share the classifier labels with confidence >= threshold and the histogram of
    its labels (a collapsed generator shows one or two tall bars).
    """
    threshold = number_in("score_samples", "threshold", threshold, 0.0, 1.0)
    x = np.asarray(x, np.float32)
    if x.ndim not in (2, 3, 4) or len(x) == 0 or x[0].size != 64:
        raise ValueError(f"score_samples: x must be (N, 1, 8, 8), (N, 8, 8) or (N, 64) with N >= 1, "
                         f"got {x.shape}")
    p = classifier.probabilities(x)
    labels, conf = p.argmax(1), p.max(1)
    return SampleScore(float((conf >= threshold).mean()), np.bincount(labels, minlength=10),
                       labels, conf)
