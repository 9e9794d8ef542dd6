"""A small Vision Transformer on the digits, and lecture 06's CNN as its baseline.

    load_digits(seed=0)                 the 8x8 digits as (N, 1, 8, 8) float32 images,
                                        standardised as in lecture 06 (one mean, one std)
    patchify(x, patch)                  (N, C, H, W) -> (N, P, C * patch * patch) the patches,
                                        row by row
    ViT(image_size, patch, ...)         patch embedding, class token, learned positions,
                                        pre-norm encoder blocks, a linear head on the class token
    small_cnn(seed)                     lecture 06's CNN (two 3x3 convolutions and pooling)
    train(model, data, kind, ...)       dlcv.networks.training.fit on the training split, with
                                        the recipe of its kind (RECIPES: "cnn" or "vit")
    vit(seed=0, ...) / cnn(seed=0)      the trained models, cached per settings
    attention_maps(model, x)            (N, L, heads, T, T) every layer's attention weights
    rollout(weights)                    (N, T, T) attention rollout (Abnar & Zuidema, 2020)
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from dlcv.data import Splits, load_classification
from dlcv.networks.training import History, evaluate, fit
from dlcv.transformers.blocks import EncoderBlock
from dlcv.validate import choice, integer


def load_digits(seed: int = 0) -> Splits:
    """The embedded digits split 1257 / 180 / 360 (as everywhere in the course), as
    (N, 1, 8, 8) float32 images standardised with one mean and one standard deviation of the
    training pixels: exactly the inputs of lecture 06's CNN."""
    d = load_classification("digits", seed=seed)
    mu, sigma = d.X_train.mean(), d.X_train.std()
    parts = {}
    for part in ("train", "val", "test"):
        parts[f"X_{part}"] = ((getattr(d, f"X_{part}") - mu) / sigma)[:, None].astype(np.float32)
        parts[f"y_{part}"] = getattr(d, f"y_{part}")
    return Splits(name=d.name, class_names=d.class_names, **parts)


def patchify(x: torch.Tensor, patch: int) -> torch.Tensor:
    """x: (N, C, H, W) -> (N, (H/patch) * (W/patch), C * patch * patch): the non-overlapping
    patch x patch squares, row by row, each flattened (channel first). H and W must be
    multiples of patch."""
    patch = integer("patchify", "patch", patch, 1)
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[-1] % patch or \
            x.shape[-2] % patch:
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise ValueError(f"patchify: x must be (N, C, H, W) with H, W multiples of {patch}, "
                         f"got {shape}")
    N, C, H, W = x.shape
    p = x.reshape(N, C, H // patch, patch, W // patch, patch)
    return p.permute(0, 2, 4, 1, 3, 5).reshape(N, (H // patch) * (W // patch), C * patch * patch)


POSITIONS = ("learned", "none")


class ViT(nn.Module):
    """A Vision Transformer (Dosovitskiy et al., 2021), small.

    x: (N, C, S, S) -> patches of patch x patch, each mapped linearly to dim features (a
    convolution with kernel and stride patch: the same as patchify followed by nn.Linear)
    -> (N, P, dim), P = (S / patch)^2; a learned class token in front -> (N, 1 + P, dim);
    plus learned positional encodings (positions="none": without them); depth pre-norm
    EncoderBlocks; LayerNorm; a linear head on the class token's output -> (N, num_classes).
    """

    def __init__(self, image_size: int = 8, patch: int = 2, channels: int = 1, dim: int = 16,
                 depth: int = 2, heads: int = 2, mlp_dim: int = 32, num_classes: int = 10,
                 positions: str = "learned", seed: int = 0):
        super().__init__()
        who = "ViT"
        self.image_size = integer(who, "image_size", image_size, 1)
        self.patch = integer(who, "patch", patch, 1, image_size)
        if image_size % patch:
            raise ValueError(f"ViT: image_size ({image_size}) must be a multiple of patch ({patch})")
        self.channels = integer(who, "channels", channels, 1)
        self.positions = choice(who, "positions", positions, POSITIONS)
        self.grid = image_size // patch
        P = self.grid ** 2
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.embed = nn.Conv2d(channels, dim, patch, stride=patch)     # (N, dim, g, g)
            self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
            self.pos = nn.Parameter(torch.randn(1, 1 + P, dim) * 0.02)
            self.blocks = nn.ModuleList(EncoderBlock(dim, heads, mlp_dim)
                                        for _ in range(integer(who, "depth", depth, 1)))
            self.norm = nn.LayerNorm(dim)
            self.head = nn.Linear(dim, integer(who, "num_classes", num_classes, 2))
        if positions == "none":
            self.pos.requires_grad_(False)
            self.pos.zero_()

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, S, S) -> (N, 1 + P, dim): the class token and the patch embeddings, with
        their positional encodings added (the input of the first block)."""
        want = (self.channels, self.image_size, self.image_size)
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != want:
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"ViT: x must be (N, {', '.join(map(str, want))}), got {shape}")
        t = self.embed(x).flatten(2).transpose(1, 2)                     # (N, P, dim)
        return torch.cat([self.cls.expand(len(x), -1, -1), t], dim=1) + self.pos

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.tokens(x)
        for block in self.blocks:
            t = block(t)
        return self.head(self.norm(t[:, 0]))


def small_cnn(seed: int = 0) -> nn.Sequential:
    """Lecture 06's CNN for (N, 1, 8, 8) digits: 3x3 conv to 8 channels, ReLU, 2x2 pool,
    3x3 conv to 16, ReLU, 2x2 pool, linear -> (N, 10). 1,898 parameters."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, 8, 4, 4)
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 16, 2, 2)
            nn.Flatten(), nn.Linear(16 * 2 * 2, 10))                     # (N, 10)


# lecture 06's recipe for the CNN; Adam with a smaller step for the ViT (SGD with momentum
# trains transformers poorly: their layers' gradients differ in scale by orders of magnitude)
RECIPES = {"cnn": dict(optimizer="momentum", lr=0.05), "vit": dict(optimizer="adam", lr=3e-3)}


def train(model: nn.Module, data: Splits, kind: str, epochs: int = 20, batch_size: int = 32,
          seed: int = 0) -> History:
    """Train model (in place) on data's training split with dlcv.networks.training.fit, the
    recipe of RECIPES[kind] ("cnn" or "vit"), validating on data's validation split. The
    model's wall-clock training time (seconds) is set as model.seconds."""
    choice("train", "kind", kind, tuple(RECIPES))
    t0 = time.perf_counter()
    hist = fit(model, data.X_train, data.y_train, data.X_val, data.y_val, epochs=epochs,
               batch_size=batch_size, seed=seed, **RECIPES[kind])
    model.seconds = time.perf_counter() - t0
    model.history = hist
    return hist


_CACHE: dict[tuple, nn.Module] = {}


def vit(seed: int = 0, epochs: int = 20, positions: str = "learned", **arch) -> ViT:
    """A ViT(**arch, positions, seed) trained for `epochs` on load_digits(), cached per
    settings (do not train it further). model.history, model.seconds: its training record."""
    key = ("vit", integer("vit", "seed", seed, 0), epochs, positions, tuple(sorted(arch.items())))
    if key not in _CACHE:
        model = ViT(positions=positions, seed=seed, **arch)
        train(model, load_digits(), "vit", epochs=epochs, seed=seed)
        _CACHE[key] = model
    return _CACHE[key]


def cnn(seed: int = 0, epochs: int = 20) -> nn.Sequential:
    """small_cnn(seed) trained as in lecture 06 for `epochs` on load_digits(), cached."""
    key = ("cnn", integer("cnn", "seed", seed, 0), epochs)
    if key not in _CACHE:
        model = small_cnn(seed)
        train(model, load_digits(), "cnn", epochs=epochs, seed=seed)
        _CACHE[key] = model
    return _CACHE[key]


def accuracy(model: nn.Module, X, y) -> float:
    """The share of X that the model classifies as y (eval mode)."""
    return evaluate(model, X, y)[1]


def attention_maps(model: ViT, x: torch.Tensor) -> torch.Tensor:
    """x: (N, C, S, S) -> (N, depth, heads, T, T), T = 1 + P: every block's attention weights
    (row i: where token i looks; token 0 is the class token, 1.. the patches row by row)."""
    was = model.training
    model.eval()
    with torch.no_grad():
        model(x)
    model.train(was)
    return torch.stack([b.attn.weights for b in model.blocks], dim=1)


def rollout(weights: torch.Tensor) -> torch.Tensor:
    """weights: (N, L, heads, T, T) -> (N, T, T), Abnar & Zuidema's (2020) attention rollout:
    average the heads, add the identity for the residual path and renormalise the rows,
    A_l = (mean_h W_l + I) / 2, then multiply through the layers, R = A_L ... A_1. Row i of R
    says how much each input token has flowed into token i's output, if attention were linear
    mixing (a heuristic: it ignores the MLPs and the values)."""
    if weights.dim() != 5 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError(f"rollout: weights must be (N, L, heads, T, T), got "
                         f"{tuple(weights.shape)}")
    N, L, _, T, _ = weights.shape
    eye = torch.eye(T, dtype=weights.dtype)
    R = eye.expand(N, T, T)
    for layer in range(L):
        A = (weights[:, layer].mean(1) + eye) / 2                       # (N, T, T), rows sum to 1
        R = A @ R
    return R
