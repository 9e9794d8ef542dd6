"""Lecture 12's image captioners, decoding, BLEU, scheduled sampling and attention maps (torch).

Everything here is *the lecture's version*. Assignment a5 asks you to write your own numpy RNN,
LSTM, captioning model, beam search and BLEU; its tests refuse these functions.

Two decoders read features of an image encoder (a CNN: dlcv.captioning.encoders) and write a caption word by
word:

    ShowTellCaptioner(V, D)      Vinyals et al. (2015): the image vector (N, D) is the LSTM's
                                 input at t = -1, then the words follow. With use_image=False
                                 the image is zeroed: a language-only baseline.
    AttentionCaptioner(V, C)     soft attention over the (N, C, h, w) feature grid (Xu et al.,
                                 2015; attending with the current state as Lu et al., 2017).

Both share one interface, so every decoding function works with either:

    state = model.init_state(feats)                  # after reading the image
    logits, state, alpha = model.step(state, words)  # one word (N,) -> scores (N, V)
    logits, alphas = model(feats, tokens_in)         # teacher forcing on (N, T) inputs

    hist = train_captioner(model, feats, data.tokens, data.image_index, steps=400)
    loss = caption_loss(model, feats, tokens, image_index)   # held-out cross-entropy per word
    tokens, alphas = greedy_decode(model, feats, vocab)      # force={2: "red"} plants a word
    result = lecture_beam_search(model, feats[i], vocab, beam_size=3)   # with every step
    bleu = lecture_bleu(candidates, references)      # corpus BLEU with its parts

The rest:
    add_coordinates(fmap)                            # two channels with each cell's x and y
    teacher_forcing_probability(i, kind)             # scheduled sampling (Bengio et al., 2015)
    upsample_attention, attention_overlay            # attention maps on the image
    word_objects, phrase_accuracy, attention_on_objects   # which objects words name; truth
    draw_captioner(ax, kind), draw_beam_search(ax, result, vocab)   # the lecture's drawings
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.captioning.captions import PLURALS, Vocabulary, tokenize
from dlcv.loop import cycled, train
from dlcv.shapes import COLOR_NAMES, SIZE_NAMES, ShapesScenes
from dlcv.validate import integer

NUMBER_WORDS = {"a": 1, "one": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5,
                "six": 6}
SINGULAR = {v: k for k, v in PLURALS.items()}


# --------------------------------------------------------------------------------------------
# Checking inputs
# --------------------------------------------------------------------------------------------


def _features(feats, ndim: int, who: str, channels: int | None = None) -> torch.Tensor:
    """feats as a float32 tensor with `ndim` dimensions (2: (N, D) vectors, 4: (N, C, h, w))."""
    t = feats if isinstance(feats, torch.Tensor) else torch.as_tensor(np.asarray(feats))
    want = "(N, D) vectors" if ndim == 2 else "(N, C, h, w) feature maps"
    if t.ndim != ndim or t.shape[0] == 0:
        raise ValueError(f"{who}: feats must be {want}, got shape {tuple(t.shape)}")
    if channels is not None and t.shape[1] != channels:
        raise ValueError(f"{who}: feats must have {channels} channels (dimension 1), got "
                         f"shape {tuple(t.shape)}")
    return t.float()


def _tokens(tokens, vocab_size: int, who: str) -> torch.Tensor:
    t = tokens if isinstance(tokens, torch.Tensor) else torch.as_tensor(np.asarray(tokens))
    if t.ndim != 2 or t.is_floating_point():
        raise ValueError(f"{who}: tokens must be (N, T) integer ids, got shape {tuple(t.shape)} "
                         f"dtype {t.dtype}")
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= vocab_size):
        raise ValueError(f"{who}: token ids must be in 0..{vocab_size - 1}, got "
                         f"{int(t.min())}..{int(t.max())}")
    return t.long()


# --------------------------------------------------------------------------------------------
# Image features (the encoder itself is dlcv.captioning.encoders)
# --------------------------------------------------------------------------------------------
def add_coordinates(fmap: torch.Tensor) -> torch.Tensor:
    """Append two channels holding each cell's x and y in [-1, 1]: (N, C, h, w) -> (N, C + 2,
    h, w). A weighted average of such vectors then also says WHERE the weights were."""
    fmap = _features(fmap, 4, "add_coordinates")
    N, _, h, w = fmap.shape
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    coords = torch.stack([xs, ys])[None].expand(N, -1, -1, -1)       # (N, 2, h, w)
    return torch.cat([fmap, coords], dim=1)


# --------------------------------------------------------------------------------------------
# Two captioners
# --------------------------------------------------------------------------------------------
class ShowTellCaptioner(nn.Module):
    """Show and Tell (Vinyals et al., 2015): an LSTM that reads the image first, then words.

    x_{-1} = W_I v (the image vector, projected to the word-embedding size), x_t = W_e y_t for
    t >= 0 (y_0 = <START>); the LSTM runs over x_{-1}, x_0, x_1, ... and the output at step t
    scores the word y_{t+1}: p(y_{t+1} | image, y_0..y_t) = softmax(W_o h_t + b_o).

    Args:
        vocab_size: V. feature_dim: D, the length of an image vector.
        embed_dim, hidden_dim: E and H. use_image: False zeroes every image vector, which makes
            the same network a language model (the lecture's language-only baseline).
        null: the padding id (its embedding is kept at zero).

    The lecture's version; a5 asks you to write your own numpy LSTM captioner.
    """

    def __init__(self, vocab_size: int, feature_dim: int, embed_dim: int = 48,
                 hidden_dim: int = 128, use_image: bool = True, null: int = 0):
        super().__init__()
        who = "ShowTellCaptioner"
        self.vocab_size = integer(who, "vocab_size", vocab_size, 4)
        self.feature_dim = integer(who, "feature_dim", feature_dim, 1)
        self.use_image = bool(use_image)
        self.image_proj = nn.Linear(feature_dim, embed_dim)          # W_I
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=null)  # W_e
        self.lstm = nn.LSTM(embed_dim, hidden_dim, batch_first=True)
        self.out = nn.Linear(hidden_dim, vocab_size)                 # W_o

    feature_ndim = 2

    def _image_input(self, feats: torch.Tensor) -> torch.Tensor:
        feats = _features(feats, 2, type(self).__name__, self.feature_dim)
        if not self.use_image:
            feats = torch.zeros_like(feats)
        return self.image_proj(feats)                                # (N, E)

    def init_state(self, feats) -> tuple[torch.Tensor, torch.Tensor]:
        """Read the image (step t = -1). feats: (N, D). Returns (h, c), each (N, H)."""
        x = self._image_input(feats)[:, None]                        # (N, 1, E)
        _, (h, c) = self.lstm(x)                                     # (1, N, H) each
        return h[0], c[0]

    def step(self, state, words):
        """One word. words: (N,) ids. Returns logits (N, V), the new state, and None (no
        attention)."""
        h, c = state
        x = self.embed(words)[:, None]                               # (N, 1, E)
        out, (h, c) = self.lstm(x, (h[None].contiguous(), c[None].contiguous()))
        return self.out(out[:, 0]), (h[0], c[0]), None

    def forward(self, feats, tokens_in):
        """Teacher forcing. feats: (N, D); tokens_in: (N, T) (<START> w1 w2 ...).

        Returns logits (N, T, V) (position t scores the word after tokens_in[:, t]) and None.
        """
        tokens_in = _tokens(tokens_in, self.vocab_size, "ShowTellCaptioner.forward")
        v = self._image_input(feats)[:, None]                        # (N, 1, E)
        x = torch.cat([v, self.embed(tokens_in)], dim=1)             # (N, T + 1, E)
        out, _ = self.lstm(x)                                        # (N, T + 1, H)
        return self.out(out[:, 1:]), None                            # drop the image step


class AttentionCaptioner(nn.Module):
    """An LSTM captioner with soft attention over the encoder's grid (Xu et al., 2015).

    The encoder's grid a = (a_1, ..., a_L), a_i in R^C, L = h * w. At word t:

        h_t, c_t = LSTM(W_e y_t, h_{t-1}, c_{t-1})            (read the word)
        e_{t,i}  = w^T tanh(W_a a_i + W_h h_t)                (a score per grid cell)
        alpha_t  = softmax(e_t)                               (where to look, sums to 1)
        z_t      = sum_i alpha_{t,i} a_i                      (the context vector, in R^C)
        p(y_{t+1} | image, y_0..y_t) = softmax(W_o [h_t, z_t] + b_o)

    The initial state is h_0 = tanh(W_h0 mean_i a_i), c_0 = tanh(W_c0 mean_i a_i). Xu et al.
    compute alpha_t from h_{t-1} and feed z_t into the LSTM; like Lu et al. (2017) we attend with
    h_t, so the map that chooses a word knows the word before it, and the LSTM reads words only.
    Then teacher forcing runs the LSTM over a whole caption in one call and attends for all
    positions at once.

    Args:
        vocab_size: V. feature_channels: C. embed_dim, hidden_dim, attention_dim: E, H, A.
        null: the padding id.

    The lecture's version (torch autograd does the backward pass); a5 asks for numpy LSTMs.
    """

    feature_ndim = 4

    def __init__(self, vocab_size: int, feature_channels: int, embed_dim: int = 32,
                 hidden_dim: int = 64, attention_dim: int = 64, null: int = 0):
        super().__init__()
        who = "AttentionCaptioner"
        self.vocab_size = integer(who, "vocab_size", vocab_size, 4)
        self.feature_channels = C = integer(who, "feature_channels", feature_channels, 1)
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=null)  # W_e
        self.init_h = nn.Linear(C, hidden_dim)
        self.init_c = nn.Linear(C, hidden_dim)
        self.att_features = nn.Linear(C, attention_dim)              # W_a
        self.att_hidden = nn.Linear(hidden_dim, attention_dim, bias=False)  # W_h
        self.att_score = nn.Linear(attention_dim, 1)                 # w
        self.lstm = nn.LSTM(embed_dim, hidden_dim, batch_first=True)
        self.out = nn.Linear(hidden_dim + C, vocab_size)             # W_o

    def init_state(self, feats):
        """feats: (N, C, h, w). Returns the state (h, c, a, pa): h, c (N, H); a (N, L, C) the
        grid as L vectors; pa (N, L, A) = W_a a_i (computed once per image)."""
        feats = _features(feats, 4, "AttentionCaptioner", self.feature_channels)
        a = feats.flatten(2).transpose(1, 2)                         # (N, L, C)
        mean = a.mean(dim=1)                                         # (N, C)
        return (torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean)), a,
                self.att_features(a))

    def attend(self, a, pa, h):
        """Soft attention for T states at once. a: (N, L, C); pa: (N, L, A); h: (N, T, H).

        Returns alpha (N, T, L) = softmax_i(w^T tanh(W_a a_i + W_h h_t)) and the contexts
        z (N, T, C) = sum_i alpha_{t,i} a_i."""
        e = self.att_score(torch.tanh(pa[:, None] + self.att_hidden(h)[:, :, None]))  # (N,T,L,1)
        alpha = F.softmax(e.squeeze(-1), dim=-1)                     # (N, T, L)
        return alpha, torch.bmm(alpha, a)                            # (N, T, L) @ (N, L, C)

    def step(self, state, words):
        """One word. words: (N,) ids. Returns logits (N, V), the new state, alpha (N, L): where
        the model looked to choose the next word."""
        h, c, a, pa = state
        out, (h, c) = self.lstm(self.embed(words)[:, None],
                                (h[None].contiguous(), c[None].contiguous()))  # (N, 1, H)
        alpha, z = self.attend(a, pa, out)                           # (N, 1, L), (N, 1, C)
        logits = self.out(torch.cat([out[:, 0], z[:, 0]], dim=1))    # (N, V)
        return logits, (h[0], c[0], a, pa), alpha[:, 0]

    def forward(self, feats, tokens_in):
        """Teacher forcing. feats: (N, C, h, w); tokens_in: (N, T).

        Returns logits (N, T, V) and the attention maps alphas (N, T, L).
        """
        tokens_in = _tokens(tokens_in, self.vocab_size, "AttentionCaptioner.forward")
        h, c, a, pa = self.init_state(feats)
        if tokens_in.shape[0] != h.shape[0]:
            raise ValueError(f"AttentionCaptioner.forward: {h.shape[0]} feature maps but "
                             f"{tokens_in.shape[0]} token rows")
        out, _ = self.lstm(self.embed(tokens_in), (h[None], c[None]))  # (N, T, H)
        alphas, z = self.attend(a, pa, out)                          # (N, T, L), (N, T, C)
        return self.out(torch.cat([out, z], dim=-1)), alphas


def _check_model(model, who: str) -> None:
    if not all(hasattr(model, n) for n in ("init_state", "step", "vocab_size", "feature_ndim")):
        raise TypeError(f"{who}: model must be a ShowTellCaptioner or an AttentionCaptioner, got "
                        f"{type(model).__name__}")


def _select(state, index: torch.Tensor):
    """The state of the rows `index` (every tensor of a state has the batch first)."""
    return tuple(s[index] for s in state)


# --------------------------------------------------------------------------------------------
# Training with teacher forcing, and the held-out loss
# --------------------------------------------------------------------------------------------
@dataclass
class CaptionHistory:
    """loss: the minibatch loss (mean cross-entropy per word) of every step; seconds: the time
    the training steps took."""

    loss: list = field(default_factory=list)
    seconds: float = 0.0


def _batches(tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                                 torch.Tensor]:
    """Inputs, targets and the target mask of padded captions, cut to the longest caption."""
    T = int(mask.sum(1).max())                                       # real tokens, with START/END
    return tokens[:, :T - 1], tokens[:, 1:T], mask[:, 1:T]


def sequence_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the real (mask True) positions. logits (N, T, V); targets and
    mask (N, T)."""
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                         reduction="none").reshape(targets.shape)    # (N, T)
    return (ce * mask).sum() / mask.sum().clamp(min=1)


def train_captioner(model: nn.Module, feats, tokens, image_index, steps: int = 400,
                    batch_size: int = 64, lr: float = 3e-3, seed: int = 0,
                    attention_penalty: float = 0.0, null: int = 0,
                    progress: bool = True) -> CaptionHistory:
    """Teacher forcing: minimise the cross-entropy of every next word given the true prefix.

    Adam, a cosine-annealed learning rate, gradient norm clipped at 5; minibatches of captions
    by a seeded permutation, epoch after epoch.

    Args:
        model: a ShowTellCaptioner or AttentionCaptioner.
        feats: image features, (M_img, D) or (M_img, C, h, w) as the model expects.
        tokens: (M, T) padded caption ids (<START> ... <END> <NULL>...); image_index: (M,) the
            image of each caption (a row of feats).
        attention_penalty: Xu et al.'s "doubly stochastic" term lambda * sum_i (1 - sum_t
            alpha_{t,i})^2, which asks every cell to be looked at about once over a caption
            (AttentionCaptioner only; 0 turns it off).
        progress: show a tqdm progress bar.

    Returns:
        CaptionHistory. The model is left in eval mode.
    """
    who = "train_captioner"
    _check_model(model, who)
    feats = _features(feats, model.feature_ndim, who)
    tokens = _tokens(tokens, model.vocab_size, who)
    image_index = torch.as_tensor(np.asarray(image_index)).long()
    if image_index.shape != (tokens.shape[0],):
        raise ValueError(f"{who}: image_index must be ({tokens.shape[0]},), one image per "
                         f"caption, got {tuple(image_index.shape)}")
    if int(image_index.min()) < 0 or int(image_index.max()) >= len(feats):
        raise ValueError(f"{who}: image_index must be in 0..{len(feats) - 1}")
    steps = integer(who, "steps", steps, 1)
    batch_size = min(integer(who, "batch_size", batch_size, 1), len(tokens))
    if not lr > 0:
        raise ValueError(f"{who}: lr must be positive, got {lr}")
    mask = tokens != null
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr / 20)
    gen = torch.Generator().manual_seed(int(seed))
    hist = CaptionHistory()

    def loss_of(idx):
        inputs, targets, tmask = _batches(tokens[idx], mask[idx])
        logits, alphas = model(feats[image_index[idx]], inputs)  # (B, T, V), (B, T, L)
        loss = sequence_loss(logits, targets, tmask)
        if attention_penalty and alphas is not None:
            seen = (alphas * tmask[..., None]).sum(1)            # (B, L): sum over words
            loss = loss + attention_penalty * ((1 - seen) ** 2).sum(1).mean()
        return loss

    model.train()
    try:
        log = train(loss_of, opt, cycled(len(tokens), batch_size, steps, gen), scheduler=sched,
                    clip_norm=5.0, progress="training" if progress else None, total=steps)
    finally:
        model.eval()
    hist.loss, hist.seconds = log.loss, log.seconds
    return hist


@torch.no_grad()
def caption_loss(model: nn.Module, feats, tokens, image_index, null: int = 0,
                 batch_size: int = 500) -> float:
    """The mean cross-entropy per word of captions under teacher forcing (exp of it is the
    perplexity). Same arguments as train_captioner."""
    who = "caption_loss"
    _check_model(model, who)
    feats = _features(feats, model.feature_ndim, who)
    tokens = _tokens(tokens, model.vocab_size, who)
    image_index = torch.as_tensor(np.asarray(image_index)).long()
    was = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for s in range(0, len(tokens), batch_size):
            tok = tokens[s:s + batch_size]
            inputs, targets, tmask = _batches(tok, tok != null)
            logits, _ = model(feats[image_index[s:s + batch_size]], inputs)
            n = int(tmask.sum())
            total += float(sequence_loss(logits, targets, tmask)) * n
            count += n
    finally:
        model.train(was)
    return total / max(count, 1)


# --------------------------------------------------------------------------------------------
# Decoding: greedy and beam search
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def greedy_decode(model: nn.Module, feats, vocab: Vocabulary, max_length: int = 16,
                  force: dict | None = None):
    """The most likely next word, again and again, from <START> until <END> or max_length.

    Args:
        feats: (N, ...) features the model expects.
        force: optional {position: word} to impose a word at a position (0 = the first word),
            whatever the model prefers; the lecture uses it to plant a mistake.

    Returns:
        tokens (N, max_length) int64: the words (without <START>), <END> where a caption ends,
        <NULL> after it; alphas (N, max_length, L) float32 attention maps (each row the map
        used to choose that word; zeros after the end), or None for a model without attention.
    """
    who = "greedy_decode"
    _check_model(model, who)
    max_length = integer(who, "max_length", max_length, 1)
    feats = _features(feats, model.feature_ndim, who)
    force = dict(force or {})
    unknown = [w for w in force.values() if w not in vocab.word_to_idx]
    if unknown:
        raise ValueError(f"{who}: force names words outside the vocabulary: {unknown}")
    was = model.training
    model.eval()
    try:
        state = model.init_state(feats)
        N = feats.shape[0]
        words = torch.full((N,), vocab.start, dtype=torch.long)
        done = torch.zeros(N, dtype=torch.bool)
        tokens = torch.full((N, max_length), vocab.null, dtype=torch.long)
        alphas = None
        for t in range(max_length):
            logits, state, alpha = model.step(state, words)
            if alpha is not None:
                if alphas is None:
                    alphas = torch.zeros(N, max_length, alpha.shape[1])
                alphas[:, t] = alpha * (~done)[:, None]
            words = logits.argmax(dim=1)
            if t in force:
                words = torch.full_like(words, vocab.word_to_idx[force[t]])
            tokens[:, t] = torch.where(done, torch.full_like(words, vocab.null), words)
            done |= words == vocab.end
            if bool(done.all()):
                break
    finally:
        model.train(was)
    return tokens.numpy(), None if alphas is None else alphas.numpy()


@dataclass
class BeamResult:
    """What lecture_beam_search found.

    captions: the finished captions, best first, as (ids without <START>/<END>, log-probability);
    steps: for every step, the candidates considered, each (ids so far, log-probability, kept),
    best first; kept candidates are the beams of the next step.
    """

    captions: list
    steps: list


@torch.no_grad()
def lecture_beam_search(model: nn.Module, feats, vocab: Vocabulary, beam_size: int = 3,
                        max_length: int = 16) -> BeamResult:
    """Beam search for one image: keep the beam_size most probable prefixes at every step.

    Every beam is extended by every word; the beam_size best of all extensions (by the summed
    log-probability log p(y_1..y_t | image)) survive. A prefix that ends with <END> is finished
    and leaves the beam; the search stops when beam_size captions are finished, or at
    max_length, when the unfinished beams are finished as they stand.

    Args:
        feats: the features of ONE image, without the batch dimension ((D,) or (C, h, w)).

    Returns:
        BeamResult (captions best first; the candidates of every step, for the lecture's
        worked example).

    The lecture's version; a5 asks you to write your own numpy beam search.
    """
    who = "lecture_beam_search"
    _check_model(model, who)
    beam_size = integer(who, "beam_size", beam_size, 1, model.vocab_size)
    max_length = integer(who, "max_length", max_length, 1)
    f = feats if isinstance(feats, torch.Tensor) else torch.as_tensor(np.asarray(feats))
    if f.ndim != model.feature_ndim - 1:
        raise ValueError(f"{who}: feats must be the features of one image with "
                         f"{model.feature_ndim - 1} dimensions, got shape {tuple(f.shape)}")
    was = model.training
    model.eval()
    try:
        state = model.init_state(f[None].float())
        beams = [([], 0.0)]                                          # (ids, log-probability)
        words = torch.tensor([vocab.start])
        finished, steps = [], []
        for _ in range(max_length):
            logits, state, _ = model.step(state, words)              # (B, V), one row a beam
            logp = F.log_softmax(logits, dim=1)                      # (B, V)
            total = torch.tensor([s for _, s in beams])[:, None] + logp  # (B, V)
            total[:, vocab.null] = -math.inf                         # never <NULL> or <START>
            total[:, vocab.start] = -math.inf
            V = total.shape[1]
            room = beam_size - len(finished)                         # beams still searching
            top = torch.topk(total.flatten(), min(2 * beam_size, total.numel()))
            chosen, cands = [], []
            for score, k in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                if score == -math.inf:
                    break
                b, w = divmod(k, V)
                keep = len(chosen) < room
                if keep:
                    chosen.append((b, w, score))
                cands.append((beams[b][0] + [w], score, keep))
            steps.append(cands)
            rows, next_words, next_beams = [], [], []
            for b, w, score in chosen:
                if w == vocab.end:
                    finished.append((beams[b][0], score))
                else:
                    rows.append(b)
                    next_words.append(w)
                    next_beams.append((beams[b][0] + [w], score))
            if not next_beams:
                break
            beams = next_beams
            state = _select(state, torch.tensor(rows))
            words = torch.tensor(next_words)
        else:
            finished.extend(beams)                                   # out of time: take them
        finished.sort(key=lambda x: -x[1])
    finally:
        model.train(was)
    return BeamResult(finished[:beam_size], steps)


# --------------------------------------------------------------------------------------------
# BLEU
# --------------------------------------------------------------------------------------------
def _words(s) -> list[str]:
    return tokenize(s) if isinstance(s, str) else [str(w) for w in s]


def ngrams(words: Sequence[str], n: int) -> Counter:
    """Counts of the n-grams (tuples of n words) of a sentence."""
    return Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def clipped_counts(candidate, references, n: int) -> tuple[int, int]:
    """The numerator and denominator of BLEU's modified n-gram precision for one sentence.

    Each candidate n-gram counts at most as often as it appears in the one reference that has it
    most often ("clipping"). Returns (clipped matches, number of candidate n-grams).
    """
    cand = ngrams(_words(candidate), n)
    best: Counter = Counter()
    for ref in references:
        best |= ngrams(_words(ref), n)                               # element-wise maximum
    return sum(min(c, best[g]) for g, c in cand.items()), sum(cand.values())


def closest_ref_length(candidate, references) -> int:
    """The reference length closest to the candidate's (the shorter one on a tie)."""
    c = len(_words(candidate))
    return min((len(_words(r)) for r in references), key=lambda r: (abs(r - c), r))


@dataclass
class BleuResult:
    """bleu: the score in [0, 1]; precisions: (max_n,) modified n-gram precisions p_n;
    matches, totals: (max_n,) their clipped numerators and denominators summed over the corpus;
    brevity_penalty: BP; candidate_length c and reference_length r (summed)."""

    bleu: float
    precisions: np.ndarray
    matches: np.ndarray
    totals: np.ndarray
    brevity_penalty: float
    candidate_length: int
    reference_length: int


def lecture_bleu(candidates: Sequence, references: Sequence[Sequence], max_n: int = 4,
                 smooth: bool = False) -> BleuResult:
    """Corpus BLEU (Papineni et al., 2002).

    BLEU = BP * exp( (1/N) sum_n log p_n ),   BP = 1 if c > r else exp(1 - r / c),

    with p_n the clipped n-gram matches over all candidates divided by all candidate n-grams,
    c the total candidate length and r the sum of the closest reference lengths.

    Args:
        candidates: M sentences (strings or lists of words).
        references: M lists of reference sentences (each list for one candidate).
        max_n: the longest n-gram (N = 4 is the standard BLEU-4).
        smooth: add 1 to the matches and totals of n >= 2 (Lin and Och's smoothing), so a
            single sentence without any 4-gram match does not score exactly 0.

    The lecture's version; a5 asks you to write your own BLEU.
    """
    who = "lecture_bleu"
    max_n = integer(who, "max_n", max_n, 1)
    if isinstance(candidates, str) or len(candidates) != len(references):
        raise ValueError(f"{who}: need one list of references per candidate, got "
                         f"{len(candidates)} candidates and {len(references)} reference lists")
    if any(isinstance(r, str) or len(r) == 0 for r in references):
        raise ValueError(f"{who}: every candidate needs a non-empty LIST of reference sentences")
    matches, totals = np.zeros(max_n, np.int64), np.zeros(max_n, np.int64)
    c = r = 0
    for cand, refs in zip(candidates, references, strict=True):
        for n in range(1, max_n + 1):
            m, t = clipped_counts(cand, refs, n)
            matches[n - 1] += m
            totals[n - 1] += t
        c += len(_words(cand))
        r += closest_ref_length(cand, refs)
    num, den = matches.astype(np.float64), totals.astype(np.float64)
    if smooth:
        num[1:] += 1
        den[1:] += 1
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(den > 0, num / np.maximum(den, 1), 0.0)
    bp = 1.0 if c > r else (math.exp(1 - r / c) if c > 0 else 0.0)
    bleu = bp * math.exp(np.mean(np.log(p))) if np.all(p > 0) else 0.0
    return BleuResult(float(bleu), p, matches, totals, float(bp), c, r)


# --------------------------------------------------------------------------------------------
# Scheduled sampling
# --------------------------------------------------------------------------------------------
SCHEDULES = ("linear", "exponential", "inverse sigmoid")


def teacher_forcing_probability(i, kind: str = "inverse sigmoid", k: float | None = None,
                                c: float | None = None, eps_min: float = 0.0) -> np.ndarray:
    """Bengio et al. (2015): eps_i, the probability of feeding the TRUE previous word at
    training step i (1 - eps_i is the probability of feeding the model's own prediction).

        linear:          eps_i = max(eps_min, k - c i)       (default k = 1, c = 1e-3)
        exponential:     eps_i = k ** i,  k < 1              (default k = 0.995)
        inverse sigmoid: eps_i = k / (k + exp(i / k)), k >= 1 (default k = 100)

    i: a step or an array of steps (>= 0). Returns an array of the same shape in [0, 1].
    """
    who = "teacher_forcing_probability"
    if kind not in SCHEDULES:
        raise ValueError(f"{who}: kind must be one of {SCHEDULES}, got {kind!r}")
    i = np.asarray(i, dtype=np.float64)
    if np.any(i < 0):
        raise ValueError(f"{who}: steps i must be >= 0")
    if kind == "linear":
        k, c = (1.0 if k is None else k), (1e-3 if c is None else c)
        if c < 0:
            raise ValueError(f"{who}: the linear slope c must be >= 0, got {c}")
        return np.clip(np.maximum(eps_min, k - c * i), 0.0, 1.0)
    if kind == "exponential":
        k = 0.995 if k is None else k
        if not 0 < k < 1:
            raise ValueError(f"{who}: the exponential schedule needs 0 < k < 1, got {k}")
        return np.maximum(eps_min, k ** i)
    k = 100.0 if k is None else k
    if k < 1:
        raise ValueError(f"{who}: the inverse sigmoid schedule needs k >= 1, got {k}")
    return np.maximum(eps_min, k / (k + np.exp(np.minimum(i / k, 700.0))))


# --------------------------------------------------------------------------------------------
# Attention maps on the image, and the objects words name
# --------------------------------------------------------------------------------------------
def upsample_attention(alpha, grid: tuple[int, int], size: int | tuple[int, int]) -> np.ndarray:
    """Attention weights on an h x w grid, smoothly upsampled (bilinear) to the image.

    alpha: (L,) or (T, L) with L = h * w (or already (h, w) / (T, h, w)); grid: (h, w);
    size: the image side (or (H, W)). Returns (H, W) or (T, H, W) float32, rescaled so that each
    map still sums to 1.
    """
    who = "upsample_attention"
    h, w = grid
    H, W = (size, size) if isinstance(size, int | np.integer) else size
    a = torch.as_tensor(np.asarray(alpha, dtype=np.float32))
    if a.ndim in (2, 3) and tuple(a.shape[-2:]) == (h, w):
        pass                                                         # already on the grid
    elif a.ndim in (1, 2) and a.shape[-1] == h * w:
        a = a.reshape(*a.shape[:-1], h, w)
    else:
        raise ValueError(f"{who}: alpha must be (L,), (T, L), ({h}, {w}) or (T, {h}, {w}) with "
                         f"L = {h * w}, got {tuple(np.shape(alpha))}")
    single = a.ndim == 2
    a3 = a.reshape(-1, 1, h, w)
    up = F.interpolate(a3, size=(H, W), mode="bilinear", align_corners=False)[:, 0]
    up = up / up.sum(dim=(1, 2), keepdim=True).clamp(min=1e-12)
    up = up * a3.sum(dim=(1, 2, 3))[:, None, None]                   # keep each map's total
    out = up.numpy().astype(np.float32)
    return out[0] if single else out


def attention_overlay(image, attention, floor: float = 0.2) -> np.ndarray:
    """The image lit by an attention map (Xu et al.'s pictures): pixels keep
    floor + (1 - floor) * attention / max(attention) of their brightness.
    image (H, W, 3) in [0, 1]; attention (H, W). Returns (H, W, 3) float32."""
    image = np.asarray(image, dtype=np.float32)
    att = np.asarray(attention, dtype=np.float32)
    if image.ndim != 3 or image.shape[:2] != att.shape:
        raise ValueError(f"attention_overlay: image (H, W, 3) and attention (H, W) must agree, "
                         f"got {image.shape} and {att.shape}")
    light = floor + (1 - floor) * att / max(float(att.max()), 1e-12)
    return np.clip(image * light[..., None], 0, 1)


def word_objects(words: Sequence[str], scenes: ShapesScenes, i: int) -> list[list[int]]:
    """Which objects of scene i each word of a caption names.

    A noun phrase ("a large red circle", "two squares") names the objects of the scene that fit
    all its attributes; each of its words (article, size, colour, noun) gets those objects'
    indices. Other words (relations, places, "and") get an empty list. A phrase that fits no
    object (a false caption) also gets an empty list.
    """
    if not 0 <= i < len(scenes):
        raise ValueError(f"word_objects: i must be in 0..{len(scenes) - 1}, got {i}")
    kinds = [scenes.class_names[lab] for lab in scenes.labels[i]]
    colors = [COLOR_NAMES[c] for c in scenes.colors[i]]
    sizes = [SIZE_NAMES[s] for s in scenes.sizes[i]]
    out: list[list[int]] = [[] for _ in words]
    start = None
    attrs: dict = {}
    for t, w in enumerate(words):
        if w in NUMBER_WORDS and start is None:
            start, attrs = t, {}
        elif start is not None and w == "single":
            pass                                                     # "a single red circle"
        elif start is not None and w in SIZE_NAMES:
            attrs["size"] = w
        elif start is not None and w in COLOR_NAMES:
            attrs["color"] = w
        elif start is not None and (w in PLURALS or w in SINGULAR):
            kind = SINGULAR.get(w, w)
            hits = [k for k in range(len(kinds)) if kinds[k] == kind
                    and attrs.get("color", colors[k]) == colors[k]
                    and attrs.get("size", sizes[k]) == sizes[k]]
            for s in range(start, t + 1):
                out[s] = hits
            start = None
        elif start is not None:
            start = None                                             # not a noun phrase
    return out


CLASS_WORDS = ("circle", "square", "triangle", "circles", "squares", "triangles")


def phrase_accuracy(captions: Sequence[str], scenes: ShapesScenes) -> tuple[float, int]:
    """How often a caption's noun phrases are true: the share of noun phrases ("a large red
    circle", "two squares") that fit at least one object of their scene (word_objects; counts
    are not checked). captions: one string per scene. Returns (share, number of phrases)."""
    if len(captions) != len(scenes):
        raise ValueError(f"phrase_accuracy: {len(captions)} captions for {len(scenes)} scenes")
    hits = total = 0
    for i, caption in enumerate(captions):
        words = _words(caption)
        named = word_objects(words, scenes, i)
        for t, w in enumerate(words):
            if w in CLASS_WORDS:
                total += 1
                hits += bool(named[t])
    return (hits / total if total else float("nan")), total


def attention_on_objects(alpha_up: np.ndarray, masks: np.ndarray) -> float:
    """The share of an upsampled attention map (H, W) that falls on the union of masks
    (K, H, W) bool."""
    if len(masks) == 0:
        return 0.0
    union = np.asarray(masks, dtype=bool).any(axis=0)
    if union.shape != alpha_up.shape:
        raise ValueError(f"attention_on_objects: masks {union.shape} and map {alpha_up.shape} "
                         f"differ in size")
    return float(alpha_up[union].sum() / max(float(alpha_up.sum()), 1e-12))


# --------------------------------------------------------------------------------------------
# Drawings
# --------------------------------------------------------------------------------------------
IN_COLOR, HID_COLOR, OUT_COLOR, IMG_COLOR = "#f4b6b6", "#b9e3b9", "#b7d1f0", "#f7d79a"
DECODERS = ("karpathy", "show and tell", "attention")


def _node(ax, x, y, color, text, w=0.9, h=0.5, fontsize=8):
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.03",
                                fc=color, ec="0.3", lw=0.9, zorder=2))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=3)


def _link(ax, p, q, color="0.25", ls="-", rad=0.0, text=None, fontsize=7):
    from matplotlib.patches import FancyArrowPatch

    ax.add_patch(FancyArrowPatch(p, q, arrowstyle="-|>", mutation_scale=8, color=color, lw=1.0,
                                 ls=ls, shrinkA=1, shrinkB=1, zorder=1,
                                 connectionstyle=f"arc3,rad={rad}"))
    if text:
        ax.text((p[0] + q[0]) / 2 + 0.05, (p[1] + q[1]) / 2, text, fontsize=fontsize,
                color=color, va="center")


def draw_captioner(ax, kind: str, words: Sequence[str] = ("a", "red", "circle")) -> None:
    """An unrolled captioning decoder: inputs (red) at the bottom, LSTM/RNN states (green),
    predicted words (blue) on top; where the image enters depends on `kind`:

    'karpathy': the image vector is added inside the first step (W_ih v);
    'show and tell': the image vector is the input of an extra step t = -1;
    'attention': a grid of image features feeds a context vector z_t into every step.
    """
    if kind not in DECODERS:
        raise ValueError(f"draw_captioner: kind must be one of {DECODERS}, got {kind!r}")
    ins = ["<START>", *words]
    outs = [*words, "<END>"]
    x0 = 1.6 if kind == "show and tell" else 0.9
    dx = 1.25
    if kind == "show and tell":
        _node(ax, 0.35, 0, IMG_COLOR, "CNN(I)\n= v", h=0.62)
        _node(ax, 0.35, 1, HID_COLOR, "$h_{-1}$")
        _link(ax, (0.35, 0.31), (0.35, 0.75))
        _link(ax, (0.8, 1), (x0 - 0.45, 1))
        ax.text(0.35, 1.55, "reads the\nimage", ha="center", fontsize=7, color="0.35")
    if kind == "karpathy":
        _node(ax, -0.55, 1, IMG_COLOR, "CNN(I)\n= v", h=0.62)
        _link(ax, (-0.1, 1), (x0 - 0.45, 1), color="#b35900", text=None)
        ax.text(-0.05, 1.42, "$W_{ih} v$", fontsize=7.5, color="#b35900")
    if kind == "attention":
        from matplotlib.patches import Rectangle

        gx, gy = -0.55, 1.0
        for r in range(3):
            for c in range(3):
                ax.add_patch(Rectangle((gx - 0.45 + 0.3 * c, gy - 0.45 + 0.3 * r), 0.3, 0.3,
                                       fc=IMG_COLOR, ec="0.4", lw=0.6))
        ax.text(gx, gy + 0.55, "CNN grid\n$a_1, ..., a_L$", ha="center", fontsize=7)
    for t, (w_in, w_out) in enumerate(zip(ins, outs, strict=True)):
        x = x0 + dx * t
        _node(ax, x, 0, IN_COLOR, w_in, fontsize=7.5)
        _node(ax, x, 1, HID_COLOR, f"$h_{t}$")
        _node(ax, x, 2, OUT_COLOR, w_out, fontsize=7.5)
        _link(ax, (x, 0.25), (x, 0.75))
        _link(ax, (x, 1.25), (x, 1.75))
        if t:
            _link(ax, (x - dx + 0.45, 1), (x - 0.45, 1))
            _link(ax, (x - dx + 0.3, 1.8), (x - 0.3, 0.22), color="0.6", ls=":")
        if kind == "attention":
            _link(ax, (-0.1, 0.75), (x - 0.3, 0.75), color="#b35900", rad=0.12 + 0.03 * t)
            ax.text(x + 0.3, 0.55, f"$z_{t}$", fontsize=7.5, color="#b35900")
    title = {"karpathy": "Karpathy & Fei-Fei (2015): the image enters the first step",
             "show and tell": "Show and Tell (Vinyals et al., 2015): the image is the input at "
                              "t = -1",
             "attention": "Show, Attend and Tell (Xu et al., 2015): a new look at every word"}
    ax.set_title(title[kind], fontsize=9)
    ax.set_xlim(-1.2, x0 + dx * len(ins) - 0.5)
    ax.set_ylim(-0.45 if kind != "attention" else -0.75, 2.45)
    ax.set_aspect("equal")
    ax.axis("off")


def draw_beam_search(ax, result: BeamResult, vocab: Vocabulary, steps: int | None = None,
                     fontsize: float = 7.5) -> None:
    """The worked example of beam search as a tree: one column per step, each candidate as
    'word  log p' (kept: bold, in a box; dropped: grey), linked to the beam it extends; finished
    captions (ending in <END>) in orange."""
    shown = result.steps if steps is None else result.steps[:steps]
    pos: dict = {(): (0.0, 0.0)}
    ax.text(0, 0, "<START>", ha="center", va="center", fontsize=fontsize,
            bbox=dict(boxstyle="round,pad=0.25", fc=IN_COLOR, ec="0.4"))
    max_rows = max((len(c) for c in shown), default=1)
    for t, cands in enumerate(shown, start=1):
        for r, (ids, score, keep) in enumerate(cands):
            y = (max_rows - 1) / 2 - r
            x = 1.6 * t
            pos[tuple(ids)] = (x, y)
            word = vocab.idx_to_word[ids[-1]]
            end = ids[-1] == vocab.end
            color = "#D55E00" if (end and keep) else ("black" if keep else "0.6")
            ax.text(x, y, f"{word}  {score:.2f}", ha="center", va="center", fontsize=fontsize,
                    color=color, fontweight="bold" if keep else "normal",
                    bbox=dict(boxstyle="round,pad=0.25", fc="white",
                              ec=color if keep else "none", lw=0.9))
            px, py = pos.get(tuple(ids[:-1]), (x - 1.6, y))
            ax.plot([px + 0.55, x - 0.6], [py, y], color="0.3" if keep else "0.8", lw=0.8,
                    zorder=0)
        ax.text(1.6 * t, (max_rows - 1) / 2 + 0.9, f"step {t}", ha="center", fontsize=8,
                color="0.3")
    ax.set_xlim(-0.8, 1.6 * len(shown) + 0.9)
    ax.set_ylim(-(max_rows - 1) / 2 - 0.8, (max_rows - 1) / 2 + 1.3)
    ax.axis("off")
