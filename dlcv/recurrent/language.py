"""A character-level language model for lecture 12: truncated back-propagation through time,
sampling with a temperature.

    load_text(prose_only)                  English prose shipped with Python (about 240 000 chars)
    CharVocab(text)                        sorted characters; encode (str -> (L,) int64), decode
    CharLM(vocab_size, ...)                embedding -> LSTM / GRU -> next-character scores:
                                           forward(x (N, T) int64, state) -> (logits (N, T, V), state)
    stream_batches(ids, batch_size)        (batch_size, L) contiguous streams of a long text
    train_char_lm(model, ids, steps, ...)  CharLMHistory: chunks of a long text, state carried over
    evaluate_char_lm(model, ids)           mean cross-entropy in nats per character
    next_char_probs(model, vocab, prompt, temperature)   (V,) the next character's distribution
    sample(model, vocab, prompt, length, temperature)    the generated characters (str)

Layers, gradients and updates come from torch (nn.Embedding, nn.LSTM, nn.GRU, torch.optim), the
training loop from dlcv.loop.train.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.loop import train
from dlcv.validate import integer, positive

# --------------------------------------------------------------------------------------------
# A character-level language model
# --------------------------------------------------------------------------------------------
_ASCII_FOR = {"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u2026": "...",
              "\u2014": "-", "\u2013": "-"}


def load_text(prose_only: bool = True) -> str:
    """English text shipped with Python: the language reference's topics (pydoc_data.topics),
    joined in sorted order, curly quotes and dashes made ASCII, other non-ASCII dropped.

    prose_only=True keeps the paragraphs of prose (about 240 000 characters): it drops the
    indented lines (grammar rules and code examples), the rows of tables (lines starting with
    "|" or "+") and the lines that underline headings.
    """
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[k] for k in sorted(topics))
    for a, b in _ASCII_FOR.items():
        text = text.replace(a, b)
    text = "".join(ch for ch in text if ch.isascii())
    if prose_only:
        lines = [ln for ln in text.split("\n")
                 if not ln.startswith((" ", "\t", "|", "+"))
                 and not re.fullmatch(r"[*=\-~^]+", ln)]
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return text.strip() + "\n"


class CharVocab:
    """The characters of a text, sorted, with encode (str -> int64 ids) and decode."""

    def __init__(self, text: str):
        if not isinstance(text, str) or not text:
            raise ValueError("CharVocab: text must be a non-empty string")
        self.chars = sorted(set(text))
        self.index = {ch: k for k, ch in enumerate(self.chars)}

    @property
    def size(self) -> int:
        return len(self.chars)

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, s: str) -> np.ndarray:
        missing = sorted(set(s) - set(self.index))
        if missing:
            raise ValueError(f"CharVocab.encode: characters not in the vocabulary: {missing}")
        return np.fromiter((self.index[ch] for ch in s), dtype=np.int64, count=len(s))

    def decode(self, ids) -> str:
        return "".join(self.chars[int(k)] for k in np.asarray(ids).ravel())


class CharLM(nn.Module):
    """Characters -> embedding -> LSTM or GRU (num_layers) -> scores of the next character.

    forward(x (N, T) int64, state=None) -> (logits (N, T, V), state); state is what nn.LSTM
    (a pair (h, c)) or nn.GRU (h) returns, to be passed to the next call.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 32, hidden_size: int = 128,
                 cell: str = "lstm", num_layers: int = 1, seed: int = 0):
        super().__init__()
        who = "CharLM"
        vocab_size = integer(who, "vocab_size", vocab_size, 2)
        if cell not in ("lstm", "gru"):
            raise ValueError(f"{who}: cell must be 'lstm' or 'gru', got {cell!r}")
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(vocab_size, integer(who, "embed_dim", embed_dim, 1))
        layer = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = layer(embed_dim, integer(who, "hidden_size", hidden_size, 1),
                         num_layers=integer(who, "num_layers", num_layers, 1), batch_first=True)
        self.out = nn.Linear(hidden_size, vocab_size)
        torch.random.set_rng_state(gen_state)
        self.cell, self.vocab_size = cell, vocab_size

    def forward(self, x, state=None):
        out, state = self.rnn(self.embed(x), state)   # (N, T, H)
        return self.out(out), state                   # (N, T, V)


def _detach(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def stream_batches(ids, batch_size: int) -> torch.Tensor:
    """Cut a long id sequence into batch_size contiguous streams: (batch_size, L) int64, row b
    being ids[b*L : (b+1)*L]. Consecutive chunks of a row continue each other, so the hidden
    state of one chunk is the right starting state for the next (truncated BPTT)."""
    ids = torch.as_tensor(np.asarray(ids, dtype=np.int64))
    batch_size = integer("stream_batches", "batch_size", batch_size, 1)
    L = len(ids) // batch_size
    if L < 2:
        raise ValueError(f"stream_batches: {len(ids)} ids are too few for {batch_size} streams")
    return ids[:L * batch_size].view(batch_size, L)


@dataclass
class CharLMHistory:
    """loss: minibatch cross-entropy (nats per character) per step; grad_norm: the gradient norm
    before clipping per step; val_steps, val_loss: held-out loss; seconds: training time."""

    loss: list = field(default_factory=list)
    grad_norm: list = field(default_factory=list)
    val_steps: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    seconds: float = 0.0


def train_char_lm(model: CharLM, ids, steps: int = 700, batch_size: int = 32, chunk: int = 64,
                  lr: float = 2e-2, clip: float | None = 1.0, seed: int = 0, val_ids=None,
                  val_every: int = 200, progress: bool = True) -> CharLMHistory:
    """Train a character model by truncated back-propagation through time.

    The text is cut into batch_size streams (stream_batches); step k reads the next `chunk`
    characters of every stream, predicts each next character (teacher forcing: the input is the
    true text), back-propagates through those `chunk` steps only, and carries the hidden state,
    detached, into the next chunk. At the end of the streams the state is reset to zero.
    Adam with a cosine decay of the learning rate to lr / 10; gradients clipped to norm `clip`.

    Args:
        ids: (L,) int64 character ids.  val_ids: optional held-out ids, scored every val_every
            steps and at the end.  seed: where the streams start (a random offset).
    Returns:
        CharLMHistory. The model ends in eval mode.
    """
    who = "train_char_lm"
    steps = integer(who, "steps", steps, 1)
    chunk = integer(who, "chunk", chunk, 1)
    val_every = integer(who, "val_every", val_every, 1)
    lr = positive(who, "lr", lr)
    ids = np.asarray(ids, dtype=np.int64)
    offset = int(np.random.default_rng(seed).integers(0, max(1, len(ids) // 10)))
    data = stream_batches(ids[offset:], batch_size)              # (B, L)
    if data.shape[1] < chunk + 1:
        raise ValueError(f"{who}: each of the {batch_size} streams has only {data.shape[1]} "
                         f"characters, fewer than chunk + 1 = {chunk + 1}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr / 10)
    hist = CharLMHistory()
    state = None

    def chunks():
        nonlocal state
        pos = 0
        for _ in range(steps):
            if pos + chunk + 1 > data.shape[1]:
                state, pos = None, 0                               # wrap around: fresh state
            yield data[:, pos:pos + chunk], data[:, pos + 1:pos + chunk + 1]  # (B, chunk) each:
            pos += chunk                                           # inputs, next characters

    def loss_of(batch):
        nonlocal state
        x, y = batch
        logits, state = model(x, _detach(state))                   # gradients stop here
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    def validate(step: int, _loss: float) -> None:
        if val_ids is not None and (step % val_every == 0 or step == steps):
            hist.val_steps.append(step)
            hist.val_loss.append(evaluate_char_lm(model, val_ids))
            model.train()

    t0 = time.perf_counter()
    model.train()
    log = train(loss_of, opt, chunks(), scheduler=sched, clip_norm=clip, grad_norm=True,
                on_step=validate, progress="training" if progress else None, total=steps)
    hist.loss, hist.grad_norm = log.loss, log.grad_norm
    hist.seconds = time.perf_counter() - t0
    model.eval()
    return hist


def evaluate_char_lm(model: CharLM, ids, batch_size: int = 16, chunk: int = 256) -> float:
    """Mean cross-entropy (nats per character) of predicting each next character of ids, the
    state carried across chunks as in training. Divide by log(2) for bits per character."""
    data = stream_batches(ids, batch_size)
    total, count, state = 0.0, 0, None
    model.eval()
    with torch.no_grad():
        for pos in range(0, data.shape[1] - 1, chunk):
            x = data[:, pos:pos + chunk]
            y = data[:, pos + 1:pos + chunk + 1]
            x = x[:, :y.shape[1]]
            logits, state = model(x, state)
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                           reduction="sum"))
            count += y.numel()
    return total / count


def _check_temperature(temperature, who):
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or \
            not temperature > 0:
        raise ValueError(f"{who}: temperature must be a positive number, got {temperature!r}")
    return float(temperature)


def next_char_probs(model: CharLM, vocab: CharVocab, prompt: str,
                    temperature: float = 1.0) -> np.ndarray:
    """(V,) the distribution softmax(scores / temperature) of the character after prompt."""
    temperature = _check_temperature(temperature, "next_char_probs")
    if not prompt:
        raise ValueError("next_char_probs: prompt must not be empty")
    x = torch.as_tensor(vocab.encode(prompt))[None]                 # (1, P)
    model.eval()
    with torch.no_grad():
        logits, _ = model(x)
        return F.softmax(logits[0, -1].double() / temperature, dim=0).numpy()


def sample(model: CharLM, vocab: CharVocab, prompt: str, length: int = 200,
           temperature: float = 1.0, seed: int = 0) -> str:
    """Continue prompt by `length` characters, each drawn from softmax(scores / temperature) and
    fed back as the next input (output feedback). A small temperature approaches the greedy
    choice (always the most likely character), a large one approaches uniform noise.
    Returns the generated characters only (without the prompt)."""
    who = "sample"
    temperature = _check_temperature(temperature, who)
    length = integer(who, "length", length, 0)
    if not prompt:
        raise ValueError(f"{who}: prompt must not be empty")
    gen = torch.Generator().manual_seed(int(seed))
    x = torch.as_tensor(vocab.encode(prompt))[None]                 # (1, P)
    out = []
    model.eval()
    with torch.no_grad():
        logits, state = model(x)
        for _ in range(length):
            p = F.softmax(logits[0, -1].double() / temperature, dim=0)  # (V,)
            k = int(torch.multinomial(p, 1, generator=gen))
            out.append(k)
            logits, state = model(torch.tensor([[k]]), state)
    return vocab.decode(out)
