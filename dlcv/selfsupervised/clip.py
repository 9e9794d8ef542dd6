"""CLIP in miniature (Radford et al. 2021): an image encoder and a text encoder trained so that
an image and its caption land close together, and zero-shot classification by prompts.

    TextEncoder(vocab_size, dim=32, out=32, seed=0)
                                 tokens (N, T) int64, mask (N, T) bool -> (N, out): the mean of
                                 the word embeddings of the real tokens, then an MLP (a bag of
                                 words: the order of the words is not seen)
    ClipModel(vocab_size, width=8, dim=32, seed=0)
                                 .image(x): (N, 3, S, S) -> (N, dim); .text(tokens, mask) ->
                                 (N, dim); .scale: the logit scale exp(log_scale), learned
    fit_clip(model, images, tokens, mask, caption_of, steps, ...)
                                 every step: batch_size images, one of their captions each, an
                                 Adam step on infonce.clip_loss through dlcv.loop.train -> Log
    clip_model(seed=0, n_train=1000, steps=150)
                                 (model, vocab) trained on load_scenes(n_train, seed=0) and
                                 their captions, cached per settings
    embed_prompts(model, vocab, prompts)
                                 (P, dim) unit text embeddings of the prompts
    zero_shot_scores(model, images, text_emb)
                                 (N, P) cosine similarity of every image to every prompt
    ensemble(text_emb, groups)   (G, dim): the normalised mean embedding of each group of
                                 prompts (prompt ensembling: "red" = the mean of "a red circle",
                                 "a red square", "a red triangle")
    supervised_scenes(seed=0, n_train=1000, steps=150)
                                 the baseline: the same image encoder and a linear layer
                                 trained on the 12 colour-shape labels of the same images
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dlcv.captioning.captions import Vocabulary
from dlcv.loop import Log, cycled, train
from dlcv.selfsupervised.encoder import Encoder, fit_supervised
from dlcv.validate import integer


class TextEncoder(nn.Module):
    """tokens: (N, T) int64, mask: (N, T) bool -> (N, out).

    The mean of the embeddings (dim) of the tokens where mask is True (<START> and <END>
    included), then Linear(dim, dim), ReLU, Linear(dim, out).
    """

    def __init__(self, vocab_size: int, dim: int = 32, out: int = 32, seed: int = 0):
        super().__init__()
        vocab_size = integer("TextEncoder", "vocab_size", vocab_size, 1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.embed = nn.Embedding(vocab_size, dim)
            self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, out))

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if tokens.dim() != 2 or mask.shape != tokens.shape:
            raise ValueError(f"TextEncoder: tokens and mask must both be (N, T), got "
                             f"{tuple(tokens.shape)} and {tuple(mask.shape)}")
        m = mask.float().unsqueeze(2)                                      # (N, T, 1)
        bag = (self.embed(tokens) * m).sum(1) / m.sum(1).clamp(min=1)      # (N, dim)
        return self.mlp(bag)


class ClipModel(nn.Module):
    """An Encoder(3, width) and a linear projection for images, a TextEncoder for captions,
    both to dim numbers, and a learned logit scale (initial value 10)."""

    def __init__(self, vocab_size: int, width: int = 8, dim: int = 32, seed: int = 0):
        super().__init__()
        self.encoder = Encoder(3, width, seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            self.project = nn.Linear(self.encoder.dim, dim)
        self.text_encoder = TextEncoder(vocab_size, dim, dim, seed + 2)
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.exp().clamp(max=100)

    def image(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.encoder(x))

    def text(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.text_encoder(tokens, mask)


def fit_clip(model: ClipModel, images: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor,
             caption_of: list, steps: int = 150, batch_size: int = 128, lr: float = 3e-3,
             seed: int = 0) -> Log:
    """Train model (in place) on images (N, 3, S, S) and captions: tokens, mask (M, T) and
    caption_of, N lists of row indices into tokens (the captions of each image). Every step
    draws batch_size images and one of each image's captions at random. Left in eval mode."""
    # imported here: a grading sandbox may hold this module without the teaching InfoNCE
    from dlcv.selfsupervised.infonce import clip_loss

    if len(caption_of) != len(images):
        raise ValueError(f"fit_clip: caption_of must list the captions of each of the "
                         f"{len(images)} images, got {len(caption_of)} lists")
    steps = integer("fit_clip", "steps", steps, 1)
    g = torch.Generator().manual_seed(seed)
    counts = torch.tensor([len(c) for c in caption_of])
    flat = torch.tensor([r for c in caption_of for r in c])
    first = torch.cumsum(counts, 0) - counts                               # (N,)
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def loss_of(idx):
        pick = (torch.rand(len(idx), generator=g) * counts[idx]).long()
        rows = flat[first[idx] + pick]
        return clip_loss(model.image(images[idx]), model.text(tokens[rows], mask[rows]),
                         model.scale)

    model.train()
    log = train(loss_of, opt, cycled(len(images), min(batch_size, len(images)), steps, g))
    model.eval()
    return log


_CACHE: dict[tuple, tuple] = {}


def clip_model(seed: int = 0, n_train: int = 1000, steps: int = 150, width: int = 8
               ) -> tuple[ClipModel, Vocabulary]:
    """(model, vocab) trained on the one-object scenes load_scenes(n_train, seed=0) and their
    captions (the vocabulary is theirs), cached per settings; model.log is the Log."""
    from dlcv.selfsupervised.datasets import load_scenes

    key = (integer("clip_model", "seed", seed, 0), n_train, steps, width)
    if key not in _CACHE:
        data = load_scenes(n_train, seed=0)
        flat = [c for cs in data.captions for c in cs]
        vocab = Vocabulary.from_captions(flat)
        tokens, mask = (torch.from_numpy(a) for a in vocab.encode_batch(flat))
        caption_of, row = [], 0
        for cs in data.captions:
            caption_of.append(list(range(row, row + len(cs))))
            row += len(cs)
        model = ClipModel(len(vocab), width, seed=seed)
        model.log = fit_clip(model, data.images, tokens, mask, caption_of, steps, seed=seed)
        _CACHE[key] = (model, vocab)
    return _CACHE[key]


def embed_prompts(model: ClipModel, vocab: Vocabulary, prompts: list[str]) -> torch.Tensor:
    """(P, dim) unit-length text embeddings of the prompts (words outside the vocabulary become
    <UNK>)."""
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise ValueError("embed_prompts: prompts must be a non-empty list of strings")
    tokens, mask = (torch.from_numpy(a) for a in vocab.encode_batch(prompts))
    with torch.no_grad():
        return F.normalize(model.text(tokens, mask), dim=1)


def zero_shot_scores(model: ClipModel, images: torch.Tensor, text_emb: torch.Tensor
                     ) -> torch.Tensor:
    """(N, P): the cosine similarity of each image's embedding to each (unit) prompt embedding."""
    model.eval()
    with torch.no_grad():
        return F.normalize(model.image(images), dim=1) @ text_emb.T


def ensemble(text_emb: torch.Tensor, groups: list[list[int]]) -> torch.Tensor:
    """(G, dim): for every group of row indices of text_emb (P, dim), the mean of those rows,
    normalised to unit length."""
    if not groups or any(not grp for grp in groups):
        raise ValueError("ensemble: groups must be a non-empty list of non-empty index lists")
    return F.normalize(torch.stack([text_emb[grp].mean(0) for grp in groups]), dim=1)


_SUP: dict[tuple, tuple] = {}


def supervised_scenes(seed: int = 0, n_train: int = 1000, steps: int = 150, width: int = 8
                      ) -> tuple[Encoder, nn.Linear]:
    """The baseline for zero-shot: (encoder, head) with CLIP's image encoder trained on the 12
    colour-shape labels of the same images (no augmentation, like CLIP here), cached."""
    from dlcv.selfsupervised.datasets import load_scenes

    key = (integer("supervised_scenes", "seed", seed, 0), n_train, steps, width)
    if key not in _SUP:
        data = load_scenes(n_train, seed=0)
        enc = Encoder(3, width, seed)
        head, enc.log = fit_supervised(enc, data.images, data.label, steps, batch_size=128,
                                       seed=seed)
        _SUP[key] = (enc, head)
    return _SUP[key]
