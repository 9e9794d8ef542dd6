"""InfoNCE, the loss of contrastive learning: the teaching versions (a later assignment asks
students to write them, so they live in a module of their own that a grading sandbox leaves
out).

    info_nce(z1, z2, tau=0.5)          SimCLR's NT-Xent: z1, z2 (N, D) embeddings of two views
                                       of the same N images; every one of the 2N embeddings must
                                       pick out its partner among the 2N - 1 others -> scalar
    clip_loss(img, txt, scale)         CLIP's symmetric InfoNCE: img (N, D) and txt (N, D)
                                       embeddings of N matching image-caption pairs -> scalar

Both normalise the embeddings to unit length, so a similarity is a cosine in [-1, 1] and the
temperature tau (or the logit scale 1 / tau) sets how sharp the softmax over candidates is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _pair(a, b, who: str, names: tuple[str, str]):
    ok = (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dim() == 2
          and a.shape == b.shape and len(a) >= 2)
    if not ok:
        shapes = tuple(tuple(t.shape) if hasattr(t, "shape") else type(t).__name__ for t in (a, b))
        raise ValueError(f"{who}: {names[0]} and {names[1]} must be tensors of one shape (N, D) "
                         f"with N >= 2, got {shapes[0]} and {shapes[1]}")


def info_nce(z1: torch.Tensor, z2: torch.Tensor, tau: float = 0.5) -> torch.Tensor:
    """SimCLR's normalised temperature-scaled cross-entropy (NT-Xent).

    z1, z2: (N, D), row i of both from the same image. With u_1..u_2N the 2N rows normalised to
    unit length and s_ij = u_i . u_j / tau, the loss of row i whose partner is p(i) is

        l_i = -log( exp(s_i,p(i)) / sum_{k != i} exp(s_ik) ),

    a cross-entropy over the 2N - 1 other rows with the partner as the right answer; the loss
    is the mean of l_i over all 2N rows. Its smallest possible value is reached when partners
    coincide and everything else is far away; log(2N - 1) is its value for random embeddings
    that tell nothing apart.
    """
    _pair(z1, z2, "info_nce", ("z1", "z2"))
    if not tau > 0:
        raise ValueError(f"info_nce: tau must be > 0, got {tau}")
    n = len(z1)
    u = F.normalize(torch.cat([z1, z2]), dim=1)                  # (2N, D)
    s = u @ u.T / tau                                            # (2N, 2N)
    s = s.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))  # no row is its own
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(s, partner)


def clip_loss(img: torch.Tensor, txt: torch.Tensor, scale: torch.Tensor | float = 10.0
              ) -> torch.Tensor:
    """CLIP's symmetric InfoNCE for N matching pairs (image i goes with text i).

    img, txt: (N, D); scale: the logit scale 1 / tau (a learnable tensor in CLIP). With the rows
    normalised, logits = scale * img @ txt.T (N, N); the loss is the mean of the cross-entropy
    of every row (which text goes with this image?) and of every column (which image goes with
    this text?), with the diagonal as the right answers.
    """
    _pair(img, txt, "clip_loss", ("img", "txt"))
    logits = scale * F.normalize(img, dim=1) @ F.normalize(txt, dim=1).T   # (N, N)
    target = torch.arange(len(img))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
