"""Lecture 13's decoding of captions (greedy and beam search), BLEU, and the beam-search drawing.

Everything here is *the lecture's version*. Assignment a5 asks you to write your own beam search
and BLEU; its tests refuse these functions.

The decoders work with either captioner of dlcv.captioning.captioners, through the interface they
share (state = model.init_state(feats); logits, state, alpha = model.step(state, words)):

    tokens, alphas = greedy_decode(model, feats, vocab)   # feats (N, ...) -> tokens (N, max_length),
                                                          # alphas (N, max_length, L) or None;
                                                          # force={2: "red"} plants a word
    result = lecture_beam_search(model, feats[i], vocab, beam_size=3)   # ONE image (no batch
                                                          # dimension) -> BeamResult(captions, steps)
    bleu = lecture_bleu(candidates, references)           # M sentences, M lists of references ->
                                                          # BleuResult: corpus BLEU with its parts

The parts of BLEU:
    ngrams(words, n)                                      # Counter of a sentence's n-grams
    clipped_counts(candidate, references, n)              # (clipped matches, candidate n-grams)
    closest_ref_length(candidate, references)             # the r of one sentence

The drawing:
    draw_beam_search(ax, result, vocab)                   # the worked example, as a tree
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.captioning.captioners import IN_COLOR, _check_model, _features
from dlcv.captioning.captions import Vocabulary, tokenize
from dlcv.validate import integer


# --------------------------------------------------------------------------------------------
# Decoding: greedy and beam search
# --------------------------------------------------------------------------------------------
def _select(state, index: torch.Tensor):
    """The state of the rows `index` (every tensor of a state has the batch first)."""
    return tuple(s[index] for s in state)


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
# Drawing
# --------------------------------------------------------------------------------------------
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
