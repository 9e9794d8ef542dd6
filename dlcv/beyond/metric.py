"""Deep metric learning (lecture 18): siamese embeddings, contrastive and triplet losses, mining,
retrieval.

    nuisance_digits(X, pad, seed, ...)      digits placed at random offsets on a larger canvas,
                                            with random contrast and noise (what a metric should
                                            learn to ignore)
    EmbeddingNet(dim, normalize)            a small CNN: image -> embedding (N, dim)
    pairwise_distances(E)                   (N, N) Euclidean distances, safe to differentiate
    contrastive_loss(d, same, margin)       Hadsell, Chopra & LeCun (2006), per pair
    triplet_loss(d_ap, d_an, margin)        Schroff, Kalenichenko & Philbin (2015), per triplet
    triplet_kinds(d_ap, d_an, margin)       "easy" / "semi-hard" / "hard" for each triplet
    batch_loss(E, labels, loss, mining, m)  the loss of a whole batch with online mining
    class_balanced_batch(y, classes, ...)   P classes x K examples: a batch with positives
    train_embedding(net, X, y, ...)         Adam on batch_loss -> EmbeddingHistory
    embed(net, X, features)                 (N, dim) numpy embeddings (or the layer before the
                                            projection), in eval mode
    recall_at_k(E, y, ks)                   retrieval quality, leave-one-out, with scikit-learn

The losses are written with torch, so autograd gives their gradients. Nearest neighbours come from
scikit-learn (assignment a1 asks students to write kNN distances themselves in numpy).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.loop import train

LOSSES = ("contrastive", "triplet")
MINING = ("all", "hard", "semi-hard")


# --------------------------------------------------------------------------------------------
# Data: digits with nuisances
# --------------------------------------------------------------------------------------------
def nuisance_digits(X: np.ndarray, pad: int = 2, seed: int = 0, contrast: tuple[float, float] =
                    (0.5, 1.0), noise: float = 0.1) -> np.ndarray:
    """Each image placed at a random offset on a larger blank canvas, with a random contrast
    factor and Gaussian pixel noise: changes that do not change the digit.

    Args:
        X: (N, h, w) images with values in [0, 1].
        pad: the canvas is (h + 2 pad, w + 2 pad); offsets are uniform in 0..2 pad on each axis.
        seed: the nuisances are a deterministic function of the seed.
        contrast: (low, high) range of the uniform factor the image is multiplied by.
        noise: standard deviation of the added Gaussian noise (0 for none).

    Returns:
        (N, h + 2 pad, w + 2 pad) float32.
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 3:
        raise ValueError(f"nuisance_digits: X must have shape (N, h, w), got {X.shape}")
    if not (isinstance(pad, int) and pad >= 0):
        raise ValueError(f"nuisance_digits: pad must be an int >= 0, got {pad!r}")
    lo, hi = contrast
    if not 0 < lo <= hi:
        raise ValueError(f"nuisance_digits: contrast must be (low, high) with 0 < low <= high, "
                         f"got {contrast!r}")
    if noise < 0:
        raise ValueError(f"nuisance_digits: noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    N, h, w = X.shape
    out = np.zeros((N, h + 2 * pad, w + 2 * pad), np.float32)
    off = rng.integers(0, 2 * pad + 1, (N, 2))
    scale = rng.uniform(lo, hi, N).astype(np.float32)
    for i in range(N):
        out[i, off[i, 0]:off[i, 0] + h, off[i, 1]:off[i, 1] + w] = scale[i] * X[i]
    if noise:
        out += rng.normal(0, noise, out.shape).astype(np.float32)
    return out


# --------------------------------------------------------------------------------------------
# The embedding network
# --------------------------------------------------------------------------------------------
class EmbeddingNet(nn.Module):
    """A small CNN that maps a grey image to a point of R^dim.

    conv3x3 (1 -> 16) -> ReLU -> max-pool 2 -> conv3x3 (16 -> 32) -> ReLU -> conv3x3 (32 -> 32)
    -> ReLU -> global max-pool -> Linear(32, dim) [-> L2 normalisation]

    x: (N, 1, H, W) -> (N, dim). The global max-pool makes the output (nearly) insensitive to where
    the digit sits. normalize=True puts the embeddings on the unit sphere (as FaceNet does), so
    distances lie in [0, 2] and a margin has a fixed meaning. seed fixes the initial weights
    without touching the global torch random state.
    """

    def __init__(self, dim: int = 16, normalize: bool = True, width: int = 32,
                 seed: int | None = 0):
        super().__init__()
        if not (isinstance(dim, int) and dim >= 1):
            raise ValueError(f"EmbeddingNet: dim must be an int >= 1, got {dim!r}")
        self.dim, self.normalize = dim, normalize
        ctx = torch.random.fork_rng(devices=[]) if seed is not None else nullcontext()
        with ctx:
            if seed is not None:
                torch.manual_seed(seed)
            self.features = nn.Sequential(
                nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, 16, H/2, W/2)
                nn.Conv2d(16, width, 3, padding=1), nn.ReLU(),
                nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                nn.AdaptiveMaxPool2d(1), nn.Flatten())                       # (N, width)
            self.project = nn.Linear(width, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 1:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"EmbeddingNet: x must have shape (N, 1, H, W), got {shape}")
        e = self.project(self.features(x))  # (N, dim)
        return F.normalize(e, dim=1) if self.normalize else e


# --------------------------------------------------------------------------------------------
# Distances and losses
# --------------------------------------------------------------------------------------------
def pairwise_distances(E: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """E: (N, D) embeddings -> (N, N) Euclidean distances.

    Computed as sqrt(max(|a|^2 + |b|^2 - 2 a.b, 0) + eps): the eps keeps the gradient of the
    square root finite where two embeddings coincide (the diagonal). Diagonal entries are set
    to exactly 0.
    """
    if not isinstance(E, torch.Tensor) or E.dim() != 2:
        raise ValueError(f"pairwise_distances: E must be a (N, D) tensor, got "
                         f"{getattr(E, 'shape', type(E).__name__)}")
    sq = (E * E).sum(1)                                        # (N,)
    d2 = (sq[:, None] + sq[None, :] - 2 * E @ E.T).clamp_min(0)  # (N, N)
    d = torch.sqrt(d2 + eps)
    return d * (1 - torch.eye(len(E), dtype=E.dtype, device=E.device))


def contrastive_loss(d, same, margin: float = 1.0):
    """The contrastive loss of pairs (Hadsell, Chopra & LeCun, 2006), one value per pair:

        L = 1/2 y d^2 + 1/2 (1 - y) max(0, margin - d)^2,

    y = 1 for a similar pair (pulled together), 0 for a dissimilar one (pushed apart until it is
    at least `margin` away, then left alone). d, same: (P,) tensors or arrays of distances and of
    0/1 (or bool) labels. Returns a (P,) tensor (or array, for numpy input).
    """
    if margin <= 0:
        raise ValueError(f"contrastive_loss: margin must be > 0, got {margin}")
    as_np = not isinstance(d, torch.Tensor)
    d_t = torch.as_tensor(np.asarray(d, np.float64) if as_np else d)
    y = torch.as_tensor(np.asarray(same) if not isinstance(same, torch.Tensor) else same)
    if y.shape != d_t.shape:
        raise ValueError(f"contrastive_loss: same must have the shape of d {tuple(d_t.shape)}, "
                         f"got {tuple(y.shape)}")
    y = y.to(d_t.dtype)
    out = 0.5 * y * d_t ** 2 + 0.5 * (1 - y) * F.relu(margin - d_t) ** 2
    return out.numpy() if as_np else out


def triplet_loss(d_ap, d_an, margin: float = 0.2):
    """The triplet loss (Schroff, Kalenichenko & Philbin, 2015), one value per triplet:

        L = max(0, d(a, p) - d(a, n) + margin).

    d_ap, d_an: (T,) distances anchor-positive and anchor-negative (tensors or arrays). FaceNet
    uses squared distances; any increasing function of the distance works the same way.
    """
    if margin < 0:
        raise ValueError(f"triplet_loss: margin must be >= 0, got {margin}")
    as_np = not isinstance(d_ap, torch.Tensor)
    a = torch.as_tensor(np.asarray(d_ap, np.float64) if as_np else d_ap)
    n = torch.as_tensor(np.asarray(d_an, np.float64) if not isinstance(d_an, torch.Tensor)
                        else d_an)
    if a.shape != n.shape:
        raise ValueError(f"triplet_loss: d_ap {tuple(a.shape)} and d_an {tuple(n.shape)} must "
                         f"have the same shape")
    out = F.relu(a - n + margin)
    return out.numpy() if as_np else out


def triplet_kinds(d_ap, d_an, margin: float = 0.2) -> np.ndarray:
    """Name each triplet by where its negative lies (FaceNet's vocabulary):

        "easy"       d_an >= d_ap + margin           (loss 0, no gradient)
        "semi-hard"  d_ap < d_an < d_ap + margin     (farther than the positive, inside the margin)
        "hard"       d_an <= d_ap                    (the negative is closer than the positive)

    Returns a (T,) array of strings.
    """
    a, n = np.asarray(d_ap, np.float64), np.asarray(d_an, np.float64)
    if a.shape != n.shape:
        raise ValueError(f"triplet_kinds: d_ap {a.shape} and d_an {n.shape} must have the same "
                         f"shape")
    return np.where(n >= a + margin, "easy", np.where(n > a, "semi-hard", "hard"))


@dataclass
class BatchLoss:
    """batch_loss's result: the scalar loss (a tensor with a graph), how many pairs or triplets
    it averaged, and the fraction of those with a non-zero loss (the ones that still teach)."""

    loss: torch.Tensor
    count: int
    active: float


def batch_loss(E: torch.Tensor, labels: torch.Tensor, loss: str = "triplet",
               mining: str = "semi-hard", margin: float = 0.2) -> BatchLoss:
    """The loss of a batch of embeddings, with every pair or triplet formed inside the batch.

    Args:
        E: (N, D) embeddings; labels: (N,) integer classes (same class = similar).
        loss: "contrastive" (all pairs i < j: similar ones pulled, dissimilar ones pushed past
            the margin) or "triplet".
        mining (triplets only): for each anchor-positive pair (a, p), which negative n:
            "all"        every negative: all valid triplets, averaged over the active ones
                         (those with a positive loss; easy triplets would dilute the mean)
            "hard"       the closest negative of the anchor, with the farthest positive
                         ("batch hard", Hermans, Beyer & Leibe 2017): one triplet per anchor
            "semi-hard"  the closest negative that is still farther than p (FaceNet); the
                         closest negative overall when there is none
        margin: the margin of the loss.

    Returns:
        BatchLoss(loss, count, active).
    """
    if loss not in LOSSES:
        raise ValueError(f"batch_loss: loss must be one of {LOSSES}, got {loss!r}")
    if mining not in MINING:
        raise ValueError(f"batch_loss: mining must be one of {MINING}, got {mining!r}")
    labels = torch.as_tensor(labels)
    if E.dim() != 2 or labels.shape != (E.shape[0],):
        raise ValueError(f"batch_loss: E must be (N, D) and labels (N,), got {tuple(E.shape)} "
                         f"and {tuple(labels.shape)}")
    N = E.shape[0]
    D = pairwise_distances(E)                                 # (N, N)
    same = labels[:, None] == labels[None, :]                  # (N, N)
    eye = torch.eye(N, dtype=torch.bool, device=E.device)
    pos = same & ~eye
    if not pos.any() or same.all():
        raise ValueError("batch_loss: the batch needs at least one pair of the same class and "
                         "one of different classes (use class_balanced_batch)")
    if loss == "contrastive":
        iu = torch.triu_indices(N, N, 1)
        d, s = D[iu[0], iu[1]], same[iu[0], iu[1]]
        per = contrastive_loss(d, s, margin)
        return BatchLoss(per.mean(), int(per.numel()), float((per > 0).float().mean()))

    big = torch.finfo(E.dtype).max / 4
    neg = ~same
    if mining == "hard":
        d_ap = D.masked_fill(~pos, -1.0).max(1).values            # (N,) farthest positive
        d_an = D.masked_fill(~neg, big).min(1).values             # (N,) closest negative
        ok = pos.any(1) & neg.any(1)
        per = triplet_loss(d_ap[ok], d_an[ok], margin)
        return BatchLoss(per.mean(), int(per.numel()), float((per > 0).float().mean()))

    a_idx, p_idx = torch.nonzero(pos, as_tuple=True)               # (P,) anchor-positive pairs
    d_ap = D[a_idx, p_idx]                                         # (P,)
    d_neg = D[a_idx].masked_fill(~neg[a_idx], big)                 # (P, N) anchor to negatives
    if mining == "semi-hard":
        farther = d_neg.masked_fill(d_neg <= d_ap[:, None], big)
        d_semi = farther.min(1).values
        d_an = torch.where(d_semi < big, d_semi, d_neg.min(1).values)
        per = triplet_loss(d_ap, d_an, margin)
        return BatchLoss(per.mean(), int(per.numel()), float((per > 0).float().mean()))
    # all triplets (a, p, n)
    valid = neg[a_idx]                                             # (P, N)
    per = F.relu(d_ap[:, None] - d_neg + margin) * valid           # (P, N)
    active = per > 1e-16
    count = int(valid.sum())
    n_active = int(active.sum())
    mean = per.sum() / max(n_active, 1)
    return BatchLoss(mean, count, n_active / max(count, 1))


# --------------------------------------------------------------------------------------------
# Training and retrieval
# --------------------------------------------------------------------------------------------
def class_balanced_batch(y: np.ndarray, classes: Sequence[int], per_class: int,
                         rng: np.random.Generator) -> np.ndarray:
    """Indices of a batch with `per_class` random examples of each class in `classes` (P x K
    sampling: every anchor has positives in the batch). y: (N,) labels."""
    y = np.asarray(y)
    out = []
    for c in classes:
        idx = np.flatnonzero(y == c)
        if len(idx) == 0:
            raise ValueError(f"class_balanced_batch: class {c} has no examples")
        out.append(rng.choice(idx, per_class, replace=len(idx) < per_class))
    return np.concatenate(out)


@dataclass
class EmbeddingHistory:
    """train_embedding's record, one entry per step: loss, active (fraction of pairs or
    triplets with a positive loss)."""

    loss: np.ndarray
    active: np.ndarray


def train_embedding(net: nn.Module, X: np.ndarray, y: np.ndarray, loss: str = "triplet",
                    mining: str = "semi-hard", margin: float = 0.2, steps: int = 300,
                    classes_per_batch: int = 7, per_class: int = 8, lr: float = 3e-3,
                    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
                    seed: int = 0) -> EmbeddingHistory:
    """Train an embedding network (in place) with Adam on batch_loss.

    Args:
        net: maps (B, 1, H, W) float32 images to (B, dim) embeddings.
        X: (N, H0, W0) images; y: (N,) integer labels (only their equality matters).
        loss, mining, margin: see batch_loss.
        steps: number of Adam steps; each batch has per_class examples of classes_per_batch
            random classes.
        augment: f(images (B, H0, W0), rng) -> (B, H, W) applied to every batch (fresh
            nuisances at every step), e.g. lambda x, g: nuisance_digits(x, seed=g.integers(1e9)).
        seed: batches and nuisances are a deterministic function of the seed.
    """
    X, y = np.asarray(X, np.float32), np.asarray(y)
    if X.ndim != 3 or y.shape != (X.shape[0],):
        raise ValueError(f"train_embedding: X must be (N, H, W) and y (N,), got {X.shape} and "
                         f"{y.shape}")
    classes = np.unique(y)
    if not 2 <= classes_per_batch <= len(classes):
        raise ValueError(f"train_embedding: classes_per_batch must be in 2..{len(classes)}, "
                         f"got {classes_per_batch}")
    if not (isinstance(per_class, int) and per_class >= 2):
        raise ValueError(f"train_embedding: per_class must be an int >= 2, got {per_class!r}")
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    active = []

    def batches():
        for _ in range(steps):
            cls = rng.choice(classes, classes_per_batch, replace=False)
            idx = class_balanced_batch(y, cls, per_class, rng)
            xb = X[idx] if augment is None else augment(X[idx], rng)
            yield torch.from_numpy(np.ascontiguousarray(xb, np.float32))[:, None], idx  # (B, 1, H, W)

    def loss_of(batch):
        xb, idx = batch
        out = batch_loss(net(xb), torch.from_numpy(y[idx]), loss, mining, margin)
        active.append(out.active)
        return out.loss

    net.train()
    log = train(loss_of, opt, batches())
    net.eval()
    return EmbeddingHistory(np.array(log.loss), np.array(active))


def embed(net: nn.Module, X: np.ndarray, batch_size: int = 1024,
          features: bool = False) -> np.ndarray:
    """X: (N, H, W) images -> (N, dim) float64 embeddings, in eval mode without gradients.

    features=True returns the layer before the final projection instead, net.features(x)
    (N, width) for an EmbeddingNet: what the network computed before the last linear map
    specialised it to the training classes."""
    X = np.asarray(X, np.float32)
    if X.ndim != 3:
        raise ValueError(f"embed: X must have shape (N, H, W), got {X.shape}")
    if features and not hasattr(net, "features"):
        raise ValueError("embed: features=True needs a network with a .features part")
    f = net.features if features else net
    was = net.training
    net.eval()
    with torch.no_grad():
        out = torch.cat([f(torch.from_numpy(X[i:i + batch_size])[:, None])
                         for i in range(0, len(X), batch_size)])
    net.train(was)
    return out.double().numpy()


def recall_at_k(E: np.ndarray, y: np.ndarray, ks: Sequence[int] = (1, 2, 4, 8)) -> dict[int, float]:
    """Recall@k of retrieval, leave-one-out: every item queries all the others; a query counts
    as a hit at k when at least one of its k nearest neighbours (Euclidean) has its class.

    E: (N, D) embeddings (or raw pixels, flattened); y: (N,) labels. Returns {k: recall}.
    Neighbours come from scikit-learn's NearestNeighbors.
    """
    from sklearn.neighbors import NearestNeighbors

    E, y = np.asarray(E, np.float64), np.asarray(y)
    if E.ndim != 2 or y.shape != (E.shape[0],):
        raise ValueError(f"recall_at_k: E must be (N, D) and y (N,), got {E.shape} and {y.shape}")
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1 or max(ks) >= len(E):
        raise ValueError(f"recall_at_k: every k must be in 1..{len(E) - 1}, got {ks}")
    kmax = max(ks)
    _, idx = NearestNeighbors(n_neighbors=kmax + 1).fit(E).kneighbors(E)  # (N, kmax + 1)
    # drop the query itself (it is its own nearest neighbour, unless duplicates tie with it)
    nb = np.array([[j for j in row if j != i][:kmax] for i, row in enumerate(idx)])
    hit = y[nb] == y[:, None]                                               # (N, kmax)
    return {k: float(hit[:, :k].any(1).mean()) for k in ks}


def nearest(E_query: np.ndarray, E_gallery: np.ndarray, k: int = 5) -> np.ndarray:
    """(Q, k) indices of the k nearest gallery items of every query (scikit-learn)."""
    from sklearn.neighbors import NearestNeighbors

    Q, G = np.asarray(E_query, np.float64), np.asarray(E_gallery, np.float64)
    if Q.ndim != 2 or G.ndim != 2 or Q.shape[1] != G.shape[1]:
        raise ValueError(f"nearest: E_query (Q, D) and E_gallery (G, D) must share D, got "
                         f"{Q.shape} and {G.shape}")
    if not 1 <= k <= len(G):
        raise ValueError(f"nearest: k must be in 1..{len(G)}, got {k}")
    return NearestNeighbors(n_neighbors=k).fit(G).kneighbors(Q, return_distance=False)
