"""Detection as set prediction (DETR, Carion et al., 2020): match, then score.

A DETR-style detector outputs a fixed set of Q predictions (class probabilities over K classes
plus "no object", and a box each) in no particular order. To train it, each of the G ground-truth
objects is paired with one prediction by the assignment of least total cost; the predictions left
over must say "no object". Boxes here are (x1, y1, x2, y2) divided by the image size (in [0, 1]).

    generalized_iou(a, b)                    (M, 4), (G, 4) -> (M, G) GIoU (Rezatofighi et al.)
    match_cost(probs, boxes, labels, gt)     (Q, G) -w_class p_q(c_g) + w_l1 |b_q - b_g|_1
                                             - w_giou GIoU(b_q, b_g)
    hungarian_match(cost)                    scipy's linear_sum_assignment: (pred_idx, gt_idx)
    brute_force_match(cost)                  every injective assignment tried (small sets only)
    set_loss(logits, boxes, labels, gt)      the Hungarian loss: cross-entropy of every query
                                             (unmatched ones toward "no object", down-weighted)
                                             plus L1 and GIoU on the matched boxes
    batch_set_loss(...)                      the same for a batch, one matching per image
    noisy_predictions(labels, gt, Q, ...)    a set of Q predictions made from the ground truth
                                             (noisy boxes in shuffled order, a duplicate, the
                                             rest "no object") to show the matching on
    TinyDETR(...)                            object queries decoding lecture 13's encoder
                                             features of a scene into Q (class, box) pairs
    detector(seed=0, steps=...)              a TinyDETR trained with batch_set_loss, cached
    detection_summary(model, feats, scenes)  objects found (right class, IoU >= 0.5 with its
                                             matched query), duplicates and false alarms
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn

from dlcv.captioning.encoders import encode_scenes
from dlcv.loop import sampled, train
from dlcv.shapes import make_scenes
from dlcv.transformers.blocks import DecoderBlock, EncoderBlock
from dlcv.validate import integer, number_in, positive


def _boxes(b, name: str, who: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(b, np.float64) if not isinstance(b, torch.Tensor) else b)
    if t.dim() != 2 or t.shape[1] != 4:
        raise ValueError(f"{who}: {name} must be (M, 4) boxes (x1, y1, x2, y2), got "
                         f"{tuple(t.shape)}")
    return t


def generalized_iou(a, b) -> torch.Tensor:
    """a: (M, 4), b: (G, 4) boxes (x1, y1, x2, y2), x2 >= x1, y2 >= y1 -> (M, G)
    GIoU = IoU - |C minus (A union B)| / |C|, C the smallest box around both. In [-1, 1]:
    equal to the IoU when one box's hull adds nothing, and, unlike the IoU, still informative
    (negative, growing with the gap) when the boxes do not overlap."""
    a, b = _boxes(a, "a", "generalized_iou"), _boxes(b, "b", "generalized_iou")
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])                       # (M,)
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])                       # (G,)
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)                                  # (M, G)
    union = area_a[:, None] + area_b[None] - inter
    iou = inter / union.clamp(min=1e-12)
    hull = (torch.maximum(a[:, None, 2:], b[None, :, 2:])
            - torch.minimum(a[:, None, :2], b[None, :, :2])).prod(-1)
    return iou - (hull - union) / hull.clamp(min=1e-12)


WEIGHTS = {"class": 1.0, "l1": 5.0, "giou": 2.0}  # DETR's matching and loss weights


def match_cost(probs, boxes, gt_labels, gt_boxes, w_class: float = WEIGHTS["class"],
               w_l1: float = WEIGHTS["l1"], w_giou: float = WEIGHTS["giou"]) -> np.ndarray:
    """probs: (Q, K + 1) class probabilities of the predictions (last column: no object);
    boxes: (Q, 4) predicted boxes; gt_labels: (G,) ints in 0..K-1; gt_boxes: (G, 4).
    Returns (Q, G) float64: the cost of pairing prediction q with object g,
    -w_class p_q(label_g) + w_l1 ||b_q - b_g||_1 - w_giou GIoU(b_q, b_g)."""
    P = torch.as_tensor(np.asarray(probs, np.float64) if not isinstance(probs, torch.Tensor)
                        else probs.double())
    B, G = _boxes(boxes, "boxes", "match_cost").double(), _boxes(gt_boxes, "gt_boxes",
                                                                 "match_cost").double()
    lab = torch.as_tensor(np.asarray(gt_labels), dtype=torch.long).reshape(-1)
    if P.dim() != 2 or len(P) != len(B) or len(lab) != len(G):
        raise ValueError(f"match_cost: probs must be (Q, K + 1) with Q = len(boxes) and "
                         f"gt_labels (G,) with G = len(gt_boxes), got {tuple(P.shape)}, "
                         f"{tuple(B.shape)}, {tuple(lab.shape)}, {tuple(G.shape)}")
    if len(lab) and not (0 <= int(lab.min()) and int(lab.max()) < P.shape[1] - 1):
        raise ValueError(f"match_cost: gt_labels must be in 0..{P.shape[1] - 2}, got "
                         f"{lab.tolist()}")
    cost = (-w_class * P[:, lab] + w_l1 * torch.cdist(B, G, p=1)
            - w_giou * generalized_iou(B, G))
    return cost.detach().numpy()


def _check_cost(cost, who: str) -> np.ndarray:
    c = np.asarray(cost, np.float64)
    if c.ndim != 2 or c.shape[0] < c.shape[1] or not np.all(np.isfinite(c)):
        raise ValueError(f"{who}: cost must be a finite (Q, G) matrix with Q >= G (at least as "
                         f"many predictions as objects), got shape {c.shape}")
    return c


def hungarian_match(cost) -> tuple[np.ndarray, np.ndarray]:
    """cost: (Q, G), Q >= G -> (pred_idx, gt_idx), two (G,) int arrays sorted by gt_idx: object
    gt_idx[i] goes to prediction pred_idx[i], the injective assignment of least total cost
    (the Hungarian algorithm of Kuhn, 1955, in scipy: O(Q G^2) instead of Q!/(Q-G)! tries)."""
    c = _check_cost(cost, "hungarian_match")
    rows, cols = linear_sum_assignment(c)
    order = np.argsort(cols)
    return rows[order].astype(np.int64), cols[order].astype(np.int64)


def brute_force_match(cost) -> tuple[np.ndarray, np.ndarray]:
    """The same answer as hungarian_match by trying every injective assignment of the G objects
    to the Q predictions (Q! / (Q - G)! of them: only for small sets; Q <= 8)."""
    c = _check_cost(cost, "brute_force_match")
    Q, G = c.shape
    if Q > 8:
        raise ValueError(f"brute_force_match: Q must be <= 8 (Q! / (Q - G)! assignments), got {Q}")
    cols = np.arange(G)
    best, best_rows = np.inf, np.arange(G)
    for rows in itertools.permutations(range(Q), G):
        total = c[list(rows), cols].sum()
        if total < best - 1e-12:
            best, best_rows = total, np.array(rows)
    return best_rows.astype(np.int64), cols.astype(np.int64)


def set_loss(logits: torch.Tensor, boxes: torch.Tensor, gt_labels, gt_boxes,
             no_object_weight: float = 0.1, match: tuple | None = None) -> dict:
    """The Hungarian loss of one image's Q predictions.

    logits: (Q, K + 1) class scores (last: no object); boxes: (Q, 4); gt_labels: (G,);
    gt_boxes: (G, 4); no_object_weight: the weight of the "no object" class in the
    cross-entropy (DETR: 0.1, since most queries are empty); match: (pred_idx, gt_idx) to use
    instead of the Hungarian one (to compare with a fixed, order-based pairing).

    Returns {"total", "class", "l1", "giou"} (scalar tensors, differentiable in logits and
    boxes; l1 and giou are means over the G matched pairs, 0 when G = 0) and "match"
    (pred_idx, gt_idx). total = class + WEIGHTS["l1"] l1 + WEIGHTS["giou"] giou.
    """
    if logits.dim() != 2 or boxes.shape != (len(logits), 4):
        raise ValueError(f"set_loss: logits must be (Q, K + 1) and boxes (Q, 4), got "
                         f"{tuple(logits.shape)} and {tuple(boxes.shape)}")
    out = batch_set_loss(logits[None], boxes[None], [gt_labels], [gt_boxes], no_object_weight,
                         None if match is None else [match])
    out["match"] = out.pop("matches")[0]
    return out


def batch_set_loss(logits: torch.Tensor, boxes: torch.Tensor, gt_labels, gt_boxes,
                   no_object_weight: float = 0.1, matches: list | None = None) -> dict:
    """set_loss for a batch: logits (B, Q, K + 1), boxes (B, Q, 4), gt_labels and gt_boxes
    lists of B arrays (G_b,) and (G_b, 4). Each image is matched on its own (Hungarian, or the
    given matches: a list of B (pred_idx, gt_idx)); the cross-entropy averages over all B Q
    queries (weighted), L1 and GIoU over all matched pairs of the batch.
    Returns {"total", "class", "l1", "giou", "matches"}."""
    if logits.dim() != 3 or boxes.shape != (*logits.shape[:2], 4):
        raise ValueError(f"batch_set_loss: logits must be (B, Q, K + 1) and boxes (B, Q, 4), "
                         f"got {tuple(logits.shape)} and {tuple(boxes.shape)}")
    if len(gt_labels) != len(logits) or len(gt_boxes) != len(logits):
        raise ValueError(f"batch_set_loss: need one gt_labels and one gt_boxes array per image "
                         f"({len(logits)}), got {len(gt_labels)} and {len(gt_boxes)}")
    positive("batch_set_loss", "no_object_weight", no_object_weight)
    B, Q, K1 = logits.shape
    gts = [_boxes(g, "gt_boxes", "batch_set_loss").to(boxes.dtype) for g in gt_boxes]
    labs = [torch.as_tensor(np.asarray(lab), dtype=torch.long).reshape(-1) for lab in gt_labels]
    sizes = [len(lab) for lab in labs]
    for b, (g, n) in enumerate(zip(gts, sizes, strict=True)):
        if len(g) != n:
            raise ValueError(f"batch_set_loss: image {b} has {n} labels but {len(g)} boxes")
    all_gt, all_lab = torch.cat(gts), torch.cat(labs)                     # (M, 4), (M,)
    start = np.concatenate([[0], np.cumsum(sizes)])
    if matches is None and len(all_lab):
        # one cost matrix for the whole batch, (B Q, M), cut into each image's (Q, G_b) block
        cost = match_cost(torch.softmax(logits.detach(), -1).reshape(B * Q, K1),
                          boxes.detach().reshape(B * Q, 4), all_lab, all_gt.detach())
    found = []
    for b in range(B):
        if matches is not None:
            pi, gi = (np.asarray(m, np.int64) for m in matches[b])
        elif sizes[b]:
            pi, gi = hungarian_match(cost[b * Q:(b + 1) * Q, start[b]:start[b + 1]])
        else:
            pi = gi = np.zeros(0, np.int64)
        found.append((pi, gi))
    rows = torch.as_tensor(np.concatenate([b * Q + m[0] for b, m in enumerate(found)]),
                           dtype=torch.long)                              # flat query index
    cols = torch.as_tensor(np.concatenate([start[b] + m[1] for b, m in enumerate(found)]),
                           dtype=torch.long)                              # index into all_gt
    target = torch.full((B * Q,), K1 - 1, dtype=torch.long)
    target[rows] = all_lab[cols]
    weight = torch.ones(K1, dtype=logits.dtype)
    weight[-1] = no_object_weight
    cls = F.cross_entropy(logits.reshape(B * Q, K1), target, weight=weight)
    pred, gt = boxes.reshape(B * Q, 4)[rows], all_gt[cols]
    if len(gt):
        l1 = (pred - gt).abs().sum(-1).mean()
        giou = (1 - torch.diagonal(generalized_iou(pred, gt))).mean()
    else:
        l1 = giou = logits.new_zeros(())
    total = cls + WEIGHTS["l1"] * l1 + WEIGHTS["giou"] * giou
    return {"total": total, "class": cls, "l1": l1, "giou": giou, "matches": found}


def noisy_predictions(gt_labels, gt_boxes, num_queries: int, num_classes: int = 3,
                      noise: float = 0.03, duplicate: bool = True, seed: int = 0
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """A made-up set of predictions for one image, to show matching and the loss on.

    gt_labels: (G,); gt_boxes: (G, 4) in [0, 1]; num_queries: Q >= G + duplicate.
    Every object is predicted by one query (its box moved by up to `noise`, logits confident in
    its class), at shuffled positions; with duplicate, one more query predicts object 0 again
    (a slightly worse box); the other queries predict "no object" with random boxes.
    Returns logits (Q, num_classes + 1) and boxes (Q, 4), float64.
    """
    gt = _boxes(gt_boxes, "gt_boxes", "noisy_predictions").double()
    lab = np.asarray(gt_labels, np.int64).reshape(-1)
    G = len(lab)
    Q = integer("noisy_predictions", "num_queries", num_queries, G + int(duplicate))
    rng = np.random.default_rng(seed)
    slots = rng.permutation(Q)
    logits = torch.zeros(Q, num_classes + 1, dtype=torch.float64)
    logits[:, -1] = 3.0                                            # "no object" by default
    corners = np.sort(rng.uniform(0, 1, (Q, 2, 2)), axis=1)      # (Q, [min, max], [x, y])
    boxes = torch.as_tensor(corners.reshape(Q, 4))                 # (x1, y1, x2, y2)
    sources = list(range(G)) + ([0] if duplicate and G else [])
    for n, g in enumerate(sources):
        q = slots[n]
        jitter = torch.as_tensor(rng.uniform(-noise, noise, 4)) * (2.0 if n >= G else 1.0)
        b = (gt[g] + jitter).clamp(0, 1)
        boxes[q] = torch.stack([torch.minimum(b[0], b[2]), torch.minimum(b[1], b[3]),
                                torch.maximum(b[0], b[2]), torch.maximum(b[1], b[3])])
        logits[q] = 0.0
        logits[q, lab[g]] = 3.0 if n < G else 2.0
    return logits, boxes


class TinyDETR(nn.Module):
    """A DETR-style head (Carion et al., 2020) on a frozen CNN's feature map.

    feats: (N, C, g, g) (lecture 13's shapes encoder: C = 48, g = 8) -> each cell a token,
    projected to dim features, plus a learned positional encoding -> enc_layers EncoderBlocks
    -> the memory (N, g * g, dim). Q learned object queries (N, Q, dim) -> dec_layers
    DecoderBlocks (self-attention among the queries, cross-attention to the memory) -> per query
    logits over num_classes + 1 ("no object" last) and a box (a sigmoid (cx, cy, w, h) turned
    into (x1, y1, x2, y2) in [0, 1] units of the image size).
    forward returns (logits (N, Q, K + 1), boxes (N, Q, 4)).
    """

    def __init__(self, in_channels: int = 48, grid: int = 8, dim: int = 32, heads: int = 2,
                 queries: int = 6, num_classes: int = 3, enc_layers: int = 1,
                 dec_layers: int = 2, seed: int = 0):
        super().__init__()
        who = "TinyDETR"
        self.in_channels = integer(who, "in_channels", in_channels, 1)
        self.grid = integer(who, "grid", grid, 1)
        self.num_queries = integer(who, "queries", queries, 1)
        self.num_classes = integer(who, "num_classes", num_classes, 1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.proj = nn.Linear(in_channels, dim)
            self.pos = nn.Parameter(torch.randn(1, grid * grid, dim) * 0.02)
            self.encoder = nn.ModuleList(EncoderBlock(dim, heads, 2 * dim)
                                         for _ in range(integer(who, "enc_layers", enc_layers, 0)))
            self.queries = nn.Parameter(torch.randn(1, queries, dim))
            self.decoder = nn.ModuleList(DecoderBlock(dim, heads, 2 * dim)
                                         for _ in range(integer(who, "dec_layers", dec_layers, 1)))
            self.norm = nn.LayerNorm(dim)
            self.classify = nn.Linear(dim, num_classes + 1)
            self.box = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 4))

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        want = (self.in_channels, self.grid, self.grid)
        if not isinstance(feats, torch.Tensor) or feats.dim() != 4 or tuple(feats.shape[1:]) != want:
            shape = tuple(feats.shape) if hasattr(feats, "shape") else type(feats).__name__
            raise ValueError(f"TinyDETR: feats must be (N, {', '.join(map(str, want))}), got {shape}")
        memory = self.proj(feats.flatten(2).transpose(1, 2)) + self.pos      # (N, g*g, dim)
        for block in self.encoder:
            memory = block(memory)
        x = self.queries.expand(len(feats), -1, -1)                          # (N, Q, dim)
        for block in self.decoder:
            x = block(x, memory)
        x = self.norm(x)
        cxcywh = torch.sigmoid(self.box(x))                                  # (N, Q, 4)
        half = cxcywh[..., 2:] / 2
        return self.classify(x), torch.cat([cxcywh[..., :2] - half, cxcywh[..., :2] + half], -1)


@dataclass
class DetectorData:
    """Scenes, their encoder features (N, 48, 8, 8) and the boxes in [0, 1] units."""

    scenes: object
    feats: torch.Tensor
    boxes: list
    labels: list


def detector_data(n: int, seed: int) -> DetectorData:
    """make_scenes(n, seed) (64 x 64), encoded by lecture 13's shapes encoder (seed 0)."""
    scenes = make_scenes(integer("detector_data", "n", n, 1), seed=seed)
    feats = torch.as_tensor(encode_scenes(scenes).maps)
    size = scenes.images.shape[1]
    return DetectorData(scenes, feats, [np.asarray(b, np.float32) / size for b in scenes.boxes],
                        list(scenes.labels))


TRAIN_SEED, TEST_SEED = 500, 501   # the detector's scenes: make_scenes(n, 500) and (n, 501)
_CACHE: dict[tuple, TinyDETR] = {}


def train_detr(model: TinyDETR, data: DetectorData, steps: int = 1500, batch_size: int = 32,
               lr: float = 2e-3, seed: int = 0) -> list:
    """Train model (in place) on data with Adam on batch_set_loss through dlcv.loop.train
    (steps minibatches drawn with replacement). Returns the loss of every step; sets
    model.seconds (wall clock) and model.parts (per step: class, l1, giou)."""
    steps = integer("train_detr", "steps", steps, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    g = torch.Generator().manual_seed(seed)
    parts = []

    def loss_of(idx):
        logits, boxes = model(data.feats[idx])
        out = batch_set_loss(logits, boxes, [data.labels[i] for i in idx],
                             [data.boxes[i] for i in idx])
        parts.append([float(out[k].detach()) for k in ("class", "l1", "giou")])
        return out["total"]

    t0 = time.perf_counter()
    model.train()
    log = train(loss_of, opt, sampled(len(data.feats), batch_size, steps, g), scheduler=sched,
                clip_norm=1.0)
    model.eval()
    model.seconds, model.parts = time.perf_counter() - t0, np.array(parts)
    return log.loss


def detector(seed: int = 0, steps: int = 1500, num_scenes: int = 2000) -> TinyDETR:
    """A TinyDETR trained on detector_data(num_scenes, TRAIN_SEED), cached per settings."""
    key = (integer("detector", "seed", seed, 0), steps, num_scenes)
    if key not in _CACHE:
        model = TinyDETR(seed=seed)
        model.losses = train_detr(model, detector_data(num_scenes, TRAIN_SEED), steps, seed=seed)
        _CACHE[key] = model
    return _CACHE[key]


def detection_summary(model: TinyDETR, data: DetectorData, iou_threshold: float = 0.5) -> dict:
    """How the detector does on data. Each image's predictions are matched to its objects
    (Hungarian, as in training); a query "claims an object" when its most likely class is not
    "no object". Returns {"objects": total objects, "found": objects whose matched query claims
    their class with a box of IoU >= iou_threshold, "extra": queries that claim an object but
    are not matched (duplicates and false alarms), "images": N, "exact_count": images where the
    number of claiming queries equals the number of objects}."""
    number_in("detection_summary", "iou_threshold", iou_threshold, 0.0, 1.0)
    with torch.no_grad():
        logits, boxes = model(data.feats)
    out = batch_set_loss(logits, boxes, data.labels, data.boxes)
    claims = logits.argmax(-1) != logits.shape[-1] - 1                   # (N, Q)
    found = extra = exact = total = 0
    for b, (pi, gi) in enumerate(out["matches"]):
        lab = np.asarray(data.labels[b])
        total += len(lab)
        if len(gi):
            iou = _iou_pairs(boxes[b, pi], data.boxes[b][gi])
            right = logits[b, pi].argmax(-1).numpy() == lab[gi]
            found += int(np.sum(right & (iou >= iou_threshold)))
        matched = np.zeros(claims.shape[1], bool)
        matched[pi] = True
        extra += int((claims[b].numpy() & ~matched).sum())
        exact += int(claims[b].sum()) == len(lab)
    return {"objects": total, "found": found, "extra": extra, "images": len(data.feats),
            "exact_count": exact}


def _iou_pairs(a, b) -> np.ndarray:
    """a, b: (M, 4) boxes -> (M,) IoU of a[i] with b[i]."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    lt, rb = np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, 2:], b[:, 2:])
    inter = np.clip(rb - lt, 0, None).prod(1)
    union = (a[:, 2:] - a[:, :2]).prod(1) + (b[:, 2:] - b[:, :2]).prod(1) - inter
    return inter / np.maximum(union, 1e-12)
