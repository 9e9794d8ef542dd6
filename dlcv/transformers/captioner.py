"""A transformer captioner: lecture 13's attention captioner with the LSTM replaced by decoder
blocks (the lecture's teaching version; a later assignment asks students to write one, so this
module is not in its grading sandbox).

    TransformerCaptioner(V, C)     the encoder's grid (N, C, g, g) -> g * g cell tokens with
                                   learned positions (the memory); the caption's words with
                                   learned positions -> causal self-attention, cross-attention
                                   to the cells, MLP (pre-norm DecoderBlocks) -> next-word scores

It has the interface of dlcv.captioning.captioners, so lecture 13's training and decoding work
with it unchanged:

    logits, alphas = model(feats, tokens_in)          # teacher forcing, (N, T, V), (N, T, L)
    state = model.init_state(feats)                   # the memory, and no words yet
    logits, state, alpha = model.step(state, words)   # one more word (N,) -> scores (N, V)
    hist = train_captioner(model, feats, tokens, image_index, steps=...)
    tokens, alphas = greedy_decode(model, feats, vocab)

alphas are the last block's cross-attention weights, averaged over the heads: for every word, a
distribution over the L = g * g cells (lecture 13's maps). model.attention() returns every
block's and head's weights of the last call.
"""

from __future__ import annotations

import torch
from torch import nn

from dlcv.transformers.blocks import DecoderBlock
from dlcv.validate import integer


class TransformerCaptioner(nn.Module):
    """Decoder-only captioner over a grid of image features.

    Args:
        vocab_size: V; feature_channels: C; grid: g (the features are (N, C, g, g));
        dim: D, the width of every token; heads, layers: of the decoder; max_length: the
        longest input sequence (<START> and the words); null: the padding id.
    forward(feats (N, C, g, g), tokens_in (N, T)) -> logits (N, T, V), alphas (N, T, g * g).
    """

    feature_ndim = 4

    def __init__(self, vocab_size: int, feature_channels: int, grid: int = 8, dim: int = 48,
                 heads: int = 4, layers: int = 2, max_length: int = 20, null: int = 0,
                 seed: int = 0):
        super().__init__()
        who = "TransformerCaptioner"
        self.vocab_size = integer(who, "vocab_size", vocab_size, 4)
        self.feature_channels = integer(who, "feature_channels", feature_channels, 1)
        self.grid = integer(who, "grid", grid, 1)
        self.max_length = integer(who, "max_length", max_length, 2)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.cells = nn.Linear(feature_channels, dim)
            self.cell_pos = nn.Parameter(torch.randn(1, grid * grid, dim) * 0.02)
            self.embed = nn.Embedding(vocab_size, dim, padding_idx=null)
            self.word_pos = nn.Parameter(torch.randn(1, max_length, dim) * 0.02)
            self.blocks = nn.ModuleList(DecoderBlock(dim, heads, 4 * dim)
                                        for _ in range(integer(who, "layers", layers, 1)))
            self.norm = nn.LayerNorm(dim)
            self.out = nn.Linear(dim, vocab_size)

    def memory(self, feats: torch.Tensor) -> torch.Tensor:
        """feats: (N, C, g, g) -> the cell tokens (N, g * g, D), cells row by row."""
        want = (self.feature_channels, self.grid, self.grid)
        if not isinstance(feats, torch.Tensor) or feats.dim() != 4 or tuple(feats.shape[1:]) != want:
            shape = tuple(feats.shape) if hasattr(feats, "shape") else type(feats).__name__
            raise ValueError(f"TransformerCaptioner: feats must be (N, {', '.join(map(str, want))}),"
                             f" got {shape}")
        return self.cells(feats.flatten(2).transpose(1, 2)) + self.cell_pos

    def decode(self, memory: torch.Tensor, tokens_in: torch.Tensor):
        """memory: (N, L, D); tokens_in: (N, T) ids -> logits (N, T, V), alphas (N, T, L)."""
        if tokens_in.dim() != 2 or tokens_in.shape[0] != memory.shape[0]:
            raise ValueError(f"TransformerCaptioner: tokens_in must be ({memory.shape[0]}, T), got "
                             f"{tuple(tokens_in.shape)}")
        T = tokens_in.shape[1]
        if T > self.max_length:
            raise ValueError(f"TransformerCaptioner: at most {self.max_length} input tokens, got {T}")
        if int(tokens_in.min()) < 0 or int(tokens_in.max()) >= self.vocab_size:
            raise ValueError(f"TransformerCaptioner: token ids must be in 0..{self.vocab_size - 1}")
        x = self.embed(tokens_in) + self.word_pos[:, :T]                   # (N, T, D)
        mask = torch.ones(T, T, dtype=torch.bool).tril()                   # causal
        for block in self.blocks:
            x = block(x, memory, mask)
        alphas = self.blocks[-1].cross_attn.weights.mean(1)                # (N, T, L)
        return self.out(self.norm(x)), alphas

    def forward(self, feats: torch.Tensor, tokens_in: torch.Tensor):
        return self.decode(self.memory(feats), torch.as_tensor(tokens_in).long())

    def attention(self) -> dict:
        """The weights of the last call: {"self": (N, layers, heads, T, T), "cross": (N, layers,
        heads, T, L)}."""
        return {"self": torch.stack([b.self_attn.weights for b in self.blocks], 1),
                "cross": torch.stack([b.cross_attn.weights for b in self.blocks], 1)}

    def init_state(self, feats: torch.Tensor):
        """The state before the first word: (memory (N, L, D), words so far (N, 0))."""
        memory = self.memory(feats)
        return memory, torch.zeros(len(memory), 0, dtype=torch.long)

    def step(self, state, words: torch.Tensor):
        """One more word. words: (N,) ids -> logits (N, V) for the word after them, the new
        state, and alpha (N, L): the cross-attention that chose it. The decoder reruns over the
        whole prefix (no cache of keys and values: simple, and cheap for captions this short)."""
        memory, prefix = state
        prefix = torch.cat([prefix, torch.as_tensor(words).long()[:, None]], dim=1)   # (N, t+1)
        logits, alphas = self.decode(memory, prefix)
        return logits[:, -1], (memory, prefix), alphas[:, -1]
