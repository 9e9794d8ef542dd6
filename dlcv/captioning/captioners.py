"""Lecture 13's image captioners, their training, and scheduled sampling (torch).

Everything here is *the lecture's version*. Assignment a5 asks you to write your own numpy RNN,
LSTM and captioning model; its tests refuse these functions.

Two decoders read features of an image encoder (a CNN: dlcv.captioning.encoders) and write a caption word by
word:

    ShowTellCaptioner(V, D)      Vinyals et al. (2015): the image vector (N, D) is the LSTM's
                                 input at t = -1, then the words follow. With use_image=False
                                 the image is zeroed: a language-only baseline.
    AttentionCaptioner(V, C)     soft attention over the (N, C, h, w) feature grid (Xu et al.,
                                 2015; attending with the current state as Lu et al., 2017).

Both share one interface, so every decoding function (dlcv.captioning.decoding) works with either:

    state = model.init_state(feats)                  # after reading the image
    logits, state, alpha = model.step(state, words)  # one word (N,) -> scores (N, V)
    logits, alphas = model(feats, tokens_in)         # teacher forcing on (N, T) inputs

    hist = train_captioner(model, feats, data.tokens, data.image_index, steps=400)
    loss = caption_loss(model, feats, tokens, image_index)   # held-out cross-entropy per word

The rest:
    add_coordinates(fmap)                            # two channels with each cell's x and y
    sequence_loss(logits, targets, mask)             # (N, T, V), (N, T), (N, T) -> mean per word
    teacher_forcing_probability(i, kind)             # scheduled sampling (Bengio et al., 2015)
    draw_captioner(ax, kind)                         # the lecture's drawing of the decoders

Decoding and BLEU are in dlcv.captioning.decoding; attention maps on the image and the objects
words name in dlcv.captioning.attention_maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.loop import cycled, train
from dlcv.validate import integer

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
