"""Neural style transfer with Gram matrices (lecture 17, Gatys, Ecker & Bethge 2016), here on the
features of a random, untrained multi-scale CNN (as in Ustyuzhaninov et al. 2017 and He, Wang &
Hopcroft 2016): the course has no pretrained VGG.

    gram_matrix(f)                          f: (N, C, H, W) -> (N, C, C), G = F F^T / (H W)
    RandomFeatures(widths, seed)            conv 3x3 + ReLU + 2x2 average pooling, repeated;
                                            x (N, 3, H, W) -> a list of feature maps, one per
                                            scale; weights random and frozen
    style_loss(feats, target_grams)         sum over layers of the mean squared Gram difference
    content_loss(feats, target, layer)      mean squared feature difference at one layer
    style_transfer(content, style, net, ...) optimise the pixels (Adam through dlcv.loop.train)
                                            -> StyleResult

Images are (3, H, W) float tensors in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dlcv.loop import Log, train
from dlcv.validate import integer, positive


def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """Channel correlations of feature maps: f (N, C, H, W) -> (N, C, C) with
    G[c, d] = sum over positions of f[c, p] f[d, p], divided by H W. Where a feature fires is
    forgotten; which features fire together is kept."""
    if f.dim() != 4:
        raise ValueError(f"gram_matrix: f must be (N, C, H, W), got {tuple(f.shape)}")
    N, C, H, W = f.shape
    F = f.reshape(N, C, H * W)
    return F @ F.transpose(1, 2) / (H * W)


class RandomFeatures(nn.Module):
    """A frozen CNN with random weights: for each width w, conv 3x3 (padding 1, He-scaled
    Gaussian weights) -> ReLU, then 2x2 average pooling before the next. forward(x (N, 3, H, W))
    returns the ReLU outputs, one (N, w_k, H / 2^k, W / 2^k) map per layer."""

    def __init__(self, widths: tuple[int, ...] = (64, 128, 128, 128), seed: int = 0):
        super().__init__()
        if not widths or any(int(w) < 1 for w in widths):
            raise ValueError(f"RandomFeatures: widths must be positive ints, got {widths!r}")
        g = torch.Generator().manual_seed(seed)
        self.convs = nn.ModuleList()
        c_in = 3
        for w in widths:
            conv = nn.Conv2d(c_in, w, 3, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g)
                                  * np.sqrt(2.0 / (9 * c_in)))
                conv.bias.zero_()
            self.convs.append(conv)
            c_in = w
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"RandomFeatures: x must be (N, 3, H, W), got {tuple(x.shape)}")
        out, h = [], x - 0.5  # centred pixels
        for i, conv in enumerate(self.convs):
            if i:
                h = nn.functional.avg_pool2d(h, 2)
            h = torch.relu(conv(h))
            out.append(h)
        return out


def style_loss(feats: list[torch.Tensor], target_grams: list[torch.Tensor]) -> torch.Tensor:
    """sum_l mean (G_l(x) - G_l(style))^2 over the layers; G of each feature map (N, C, C)."""
    if len(feats) != len(target_grams):
        raise ValueError(f"style_loss: {len(feats)} feature maps but {len(target_grams)} Grams")
    return sum(((gram_matrix(f) - g) ** 2).mean() for f, g in zip(feats, target_grams, strict=True))


def content_loss(feats: list[torch.Tensor], target: torch.Tensor, layer: int) -> torch.Tensor:
    """mean (F_layer(x) - F_layer(content))^2."""
    return ((feats[layer] - target) ** 2).mean()


@dataclass
class StyleResult:
    """image: (3, H, W) numpy in [0, 1]; log: per-step total loss; style, content: the two
    terms after the last step (style weighted, content unweighted)."""

    image: np.ndarray
    log: Log
    style: float
    content: float


def _image(x, who: str) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x, np.float32))
    if x.dim() != 3 or x.shape[0] != 3:
        raise ValueError(f"{who}: images must be (3, H, W) in [0, 1], got {tuple(x.shape)}")
    return x


def style_transfer(content, style, net: RandomFeatures, steps: int = 200,
                   style_weight: float = 1e3, content_layer: int = 1, lr: float = 0.03,
                   init: str = "content", seed: int = 0) -> StyleResult:
    """Gatys et al.'s optimisation: find pixels x minimising
        content_weight * content_loss(x) + style_weight * style_loss(x)
    (content weight 1; content_weight 0 when content is None: texture synthesis from noise).
    content, style: (3, H, W) in [0, 1] (sizes may differ); init "content" or "noise" (uniform).
    Adam on the pixels through dlcv.loop.train, clamped to [0, 1] after each step.
    """
    steps = integer("style_transfer", "steps", steps, 1)
    style_weight = positive("style_transfer", "style_weight", style_weight)
    s = _image(style, "style_transfer")
    c = _image(content, "style_transfer") if content is not None else None
    with torch.no_grad():
        grams = [gram_matrix(f) for f in net(s[None])]
        target = net(c[None])[content_layer] if c is not None else None
    g = torch.Generator().manual_seed(seed)
    shape = c.shape if c is not None else s.shape
    x0 = c.clone() if (init == "content" and c is not None) else torch.rand(shape, generator=g)
    x = x0[None].clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    parts = {}

    def loss_of(_):
        feats = net(x)
        st = style_weight * style_loss(feats, grams)
        ct = content_loss(feats, target, content_layer) if target is not None else st * 0
        parts["style"], parts["content"] = float(st.detach()), float(ct.detach())
        return st + ct

    def clamp(_step, _loss):
        with torch.no_grad():
            x.clamp_(0, 1)

    log = train(loss_of, opt, range(steps), on_step=clamp)
    return StyleResult(x.detach()[0].numpy(), log, parts["style"], parts["content"])


def to_chw(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 photograph -> (3, H, W) float32 in [0, 1]."""
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"to_chw: img must be (H, W, 3), got {img.shape}")
    return (img.astype(np.float32) / 255).transpose(2, 0, 1)


def to_hwc(x: np.ndarray) -> np.ndarray:
    """(3, H, W) in [0, 1] -> (H, W, 3) for imshow."""
    return np.clip(np.asarray(x).transpose(1, 2, 0), 0, 1)
