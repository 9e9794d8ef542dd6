"""Tests for dlcv/transformers/detr.py: GIoU by hand, Hungarian against brute force, the set loss."""

import numpy as np
import pytest
import torch
from torch import nn

from dlcv.transformers import detr as D


def test_generalized_iou_by_hand():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 0.0, 3.0, 2.0], [3.0, 0.0, 4.0, 1.0]])
    g = D.generalized_iou(a, b)[0].numpy()
    # identical: 1; half overlap: IoU 2/6, hull = union; disjoint: 0 - (8 - 5) / 8
    np.testing.assert_allclose(g, [1.0, 2 / 6, -3 / 8])
    # symmetric, and equal to the IoU when the hull adds nothing
    np.testing.assert_allclose(D.generalized_iou(b, a)[:, 0].numpy(), g)


def test_match_cost_by_hand():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])       # K = 2, last: no object
    boxes = np.array([[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]])
    gt = np.array([[0.0, 0.0, 0.5, 0.5]])
    c = D.match_cost(probs, boxes, [1], gt)
    giou_far = -(1.0 - 0.5) / 1.0                             # disjoint, hull the unit square
    np.testing.assert_allclose(c[:, 0], [-0.2 + 0 - 2 * 1.0, -0.1 + 5 * 2.0 - 2 * giou_far])


def test_hungarian_equals_brute_force():
    rng = np.random.default_rng(0)
    for trial in range(60):
        Q = int(rng.integers(1, 7))
        G = int(rng.integers(1, Q + 1))
        cost = rng.normal(size=(Q, G))
        h, b = D.hungarian_match(cost), D.brute_force_match(cost)
        assert cost[h].sum() == pytest.approx(cost[b].sum(), abs=1e-12), trial
        assert len(set(h[0])) == G and list(h[1]) == list(range(G))


def test_noisy_predictions_are_recovered_by_the_matching():
    gt = np.array([[0.1, 0.1, 0.3, 0.3], [0.5, 0.5, 0.9, 0.8], [0.6, 0.1, 0.8, 0.3]])
    labels = np.array([0, 2, 1])
    logits, boxes = D.noisy_predictions(labels, gt, 6, seed=1)
    out = D.set_loss(logits, boxes, labels, gt)
    pi, gi = out["match"]
    assert list(gi) == [0, 1, 2]
    np.testing.assert_array_equal(logits[pi].argmax(1).numpy(), labels)
    assert float(out["l1"]) < 0.12 and float(out["giou"]) < 0.3
    # the duplicate of object 0 is a query that predicts class 0 and is not matched
    dup = [q for q in range(6) if q not in pi and int(logits[q].argmax()) == 0]
    assert len(dup) == 1


def test_set_loss_ignores_the_order_of_the_predictions():
    gt = np.array([[0.1, 0.1, 0.3, 0.3], [0.5, 0.5, 0.9, 0.8]])
    labels = np.array([1, 0])
    logits, boxes = D.noisy_predictions(labels, gt, 5, seed=2)
    perm = torch.tensor([4, 2, 0, 1, 3])
    a = D.set_loss(logits, boxes, labels, gt)
    b = D.set_loss(logits[perm], boxes[perm], labels, gt)
    for key in ("total", "class", "l1", "giou"):
        assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-12)
    fixed = D.set_loss(logits, boxes, labels, gt, match=(np.array([0, 1]), np.array([0, 1])))
    assert float(fixed["total"]) > float(a["total"])


def test_perfect_predictions_and_the_loss_by_hand():
    gt = torch.tensor([[0.1, 0.2, 0.4, 0.6]], dtype=torch.float64)
    logits = torch.tensor([[5.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 5.0]], dtype=torch.float64,
                          requires_grad=True)
    boxes = torch.cat([gt, torch.tensor([[0.5, 0.5, 0.9, 0.9]], dtype=torch.float64)])
    boxes.requires_grad_()
    out = D.set_loss(logits, boxes, [0], gt)
    assert float(out["l1"].detach()) == 0
    assert float(out["giou"].detach()) == pytest.approx(0, abs=1e-12)
    # weighted cross-entropy: (1 * CE_0 + 0.1 * CE_1) / (1 + 0.1), both CE = log(1 + 3 e^-5)
    ce = np.log(1 + 3 * np.exp(-5))
    assert float(out["class"].detach()) == pytest.approx(ce)
    out["total"].backward()
    assert logits.grad is not None and boxes.grad is not None


def test_batch_loss_matches_each_image_alone():
    gts = [np.array([[0.1, 0.1, 0.3, 0.3]]), np.array([[0.2, 0.2, 0.6, 0.7], [0.6, 0.1, 0.9, 0.4]])]
    labs = [np.array([2]), np.array([0, 1])]
    preds = [D.noisy_predictions(lab, gt, 4, seed=s)
             for s, (lab, gt) in enumerate(zip(labs, gts, strict=True))]
    logits = torch.stack([p[0] for p in preds])
    boxes = torch.stack([p[1] for p in preds])
    batch = D.batch_set_loss(logits, boxes, labs, gts)
    for b in range(2):
        alone = D.set_loss(logits[b], boxes[b], labs[b], gts[b])
        np.testing.assert_array_equal(alone["match"][0], batch["matches"][b][0])
    pairs = np.concatenate([np.abs(boxes[b][pi].numpy() - gts[b][gi]).sum(1)
                            for b, (pi, gi) in enumerate(batch["matches"])])
    assert float(batch["l1"]) == pytest.approx(pairs.mean())
    empty = D.batch_set_loss(logits[:1], boxes[:1], [np.zeros(0, int)], [np.zeros((0, 4))])
    assert float(empty["l1"]) == 0 and empty["matches"][0][0].size == 0


class Fixed(nn.Module):
    """A 'detector' that returns given outputs (to test detection_summary by hand)."""

    def __init__(self, logits, boxes):
        super().__init__()
        self.logits, self.boxes = logits, boxes

    def forward(self, feats):
        return self.logits, self.boxes


def test_detection_summary_by_hand():
    gts = [np.array([[0.1, 0.1, 0.3, 0.3]], np.float32),
           np.array([[0.2, 0.2, 0.6, 0.7], [0.6, 0.1, 0.9, 0.4]], np.float32)]
    labs = [np.array([2]), np.array([0, 1])]
    logits = torch.full((2, 3, 4), -5.0)
    logits[:, :, 3] = 5.0                                    # every query: no object ...
    boxes = torch.zeros(2, 3, 4)
    boxes[..., 2:] = 0.05
    logits[0, 1, 2], logits[0, 1, 3] = 5.0, -5.0             # image 0: query 1 finds the object
    boxes[0, 1] = torch.tensor(gts[0][0])
    logits[0, 2, 0], logits[0, 2, 3] = 5.0, -5.0             # ... and query 2 is a false alarm
    logits[1, 0, 0], logits[1, 0, 3] = 5.0, -5.0             # image 1: right class, right box
    boxes[1, 0] = torch.tensor(gts[1][0])
    logits[1, 2, 0], logits[1, 2, 3] = 5.0, -5.0             # wrong class for object 1
    boxes[1, 2] = torch.tensor(gts[1][1])
    data = D.DetectorData(None, torch.zeros(2, 48, 8, 8), gts, labs)
    s = D.detection_summary(Fixed(logits, boxes), data)
    assert s == {"objects": 3, "found": 2, "extra": 1, "images": 2, "exact_count": 1}


def test_tiny_detr_trains_on_a_few_scenes():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(8, 48, 8, 8, generator=g)
    gts = [np.array([[0.1, 0.1, 0.4, 0.4]], np.float32) + 0.05 * i for i in range(8)]
    data = D.DetectorData(None, feats, gts, [np.array([i % 3]) for i in range(8)])
    model = D.TinyDETR(seed=0)
    logits, boxes = model(feats[:2])
    assert logits.shape == (2, 6, 4) and boxes.shape == (2, 6, 4)
    assert bool((boxes[..., 2:] >= boxes[..., :2]).all())
    losses = D.train_detr(model, data, steps=80, batch_size=8, lr=3e-3)
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])
    assert model.parts.shape == (80, 3) and not model.training


@pytest.mark.parametrize("call, match", [
    (lambda: D.hungarian_match(np.ones((2, 3))), "Q >= G"),
    (lambda: D.brute_force_match(np.ones((9, 2))), "Q must be <= 8"),
    (lambda: D.match_cost(np.ones((2, 3)), np.ones((2, 4)), [2], np.ones((1, 4))), "gt_labels"),
    (lambda: D.generalized_iou(np.ones((2, 3)), np.ones((1, 4))), r"\(M, 4\)"),
    (lambda: D.set_loss(torch.ones(2, 3), torch.ones(3, 4), [0], np.ones((1, 4))), "set_loss"),
    (lambda: D.TinyDETR()(torch.ones(1, 48, 4, 4)), r"\(N, 48, 8, 8\)"),
    (lambda: D.noisy_predictions([0, 1], np.ones((2, 4)), 2), "num_queries"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
