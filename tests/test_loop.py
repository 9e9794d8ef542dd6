"""dlcv.loop: the shared training loop does exactly what the hand-written loop does, and its
minibatch streams cover the data as they say."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlcv.loop import Log, cycled, sampled, shuffled, train


def _problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(50, 3, generator=g)
    y = (X[:, 0] > 0).long()
    torch.manual_seed(seed)
    return nn.Linear(3, 2), X, y


def test_train_is_the_hand_written_loop_step_for_step():
    net_a, X, y = _problem()
    net_b, _, _ = _problem()
    opt_a = torch.optim.SGD(net_a.parameters(), lr=0.1, momentum=0.9)
    opt_b = torch.optim.SGD(net_b.parameters(), lr=0.1, momentum=0.9)
    sched_b = torch.optim.lr_scheduler.StepLR(opt_b, 3, gamma=0.5)
    sched_a = torch.optim.lr_scheduler.StepLR(opt_a, 3, gamma=0.5)

    by_hand, lrs = [], []
    order = torch.randperm(50, generator=torch.Generator().manual_seed(1))
    for idx in order.split(8):
        loss = F.cross_entropy(net_a(X[idx]), y[idx])
        opt_a.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net_a.parameters(), 0.5)
        lrs.append(opt_a.param_groups[0]["lr"])
        opt_a.step()
        sched_a.step()
        by_hand.append(loss.item())

    log = train(lambda idx: F.cross_entropy(net_b(X[idx]), y[idx]), opt_b,
                shuffled(50, 8, torch.Generator().manual_seed(1)), scheduler=sched_b, clip_norm=0.5)
    assert log.loss == by_hand and log.lr == lrs and log.steps == 7  # 6 full batches and 2 left
    for pa, pb in zip(net_a.parameters(), net_b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert len(log.grad_norm) == 7 and not log.stopped and log.seconds > 0


def test_clipping_records_the_norm_before_and_bounds_the_step():
    net, X, y = _problem()
    before = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    log = train(lambda _: 100 * F.cross_entropy(net(X), y), opt, range(1), clip_norm=0.01)
    step = torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(net.parameters(), before,
                                                                          strict=True)))
    assert log.grad_norm[0] > 0.01 and float(step) == pytest.approx(0.01, rel=1e-4)


def test_grad_norm_without_clipping_is_the_total_norm():
    net, X, y = _problem()
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    log = train(lambda _: F.cross_entropy(net(X), y), opt, range(1), grad_norm=True)
    want = math.sqrt(sum(float((p.grad ** 2).sum()) for p in net.parameters()))
    assert log.grad_norm == [pytest.approx(want, rel=1e-6)]
    assert train(lambda _: F.cross_entropy(net(X), y), opt, range(2)).grad_norm == []


def test_on_step_sees_every_step_and_can_stop():
    net, X, y = _problem()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    seen = []
    log = train(lambda _: F.cross_entropy(net(X), y), opt, range(10),
                on_step=lambda step, loss: seen.append((step, loss)) or step == 4)
    assert [s for s, _ in seen] == [1, 2, 3, 4] and log.steps == 4 and log.stopped
    assert [v for _, v in seen] == log.loss


def test_a_log_continues_across_calls_and_a_non_finite_loss_stops():
    net, X, y = _problem()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    log = Log()
    for _ in range(3):
        train(lambda _: F.cross_entropy(net(X), y), opt, range(2), log=log)
    assert log.steps == 6
    steps = iter([1.0, 2.0, float("nan"), 4.0])
    w = nn.Parameter(torch.ones(1))
    nan_log = train(lambda _: next(steps) * w.sum(), torch.optim.SGD([w], lr=0.1), range(4),
                    stop_if_not_finite=True)
    assert nan_log.steps == 3 and nan_log.stopped and math.isnan(nan_log.loss[-1])


def test_bad_arguments_say_what_is_wrong():
    net, X, y = _problem()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="clip_norm must be > 0"):
        train(lambda _: F.cross_entropy(net(X), y), opt, range(1), clip_norm=0)
    with pytest.raises(ValueError, match="shuffled: batch_size must be an int >= 1"):
        next(shuffled(10, 0))
    with pytest.raises(ValueError, match="sampled: n must be an int >= 1"):
        next(sampled(0, 4, 3))


def test_shuffled_is_one_epoch_that_covers_every_example_once():
    batches = list(shuffled(10, 4, torch.Generator().manual_seed(0)))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
    kept = list(shuffled(10, 4, torch.Generator().manual_seed(0), drop_last=True))
    assert [len(b) for b in kept] == [4, 4] and torch.equal(torch.cat(kept), torch.cat(batches)[:8])


def test_cycled_batches_are_full_distinct_and_reshuffle_at_the_end():
    batches = list(cycled(10, 4, 5, torch.Generator().manual_seed(0)))
    assert len(batches) == 5 and all(len(b) == 4 and len(set(b.tolist())) == 4 for b in batches)
    first, second = torch.cat(batches[:2]), torch.cat(batches[2:4])  # two permutations' heads
    assert len(set(first.tolist())) == 8 and len(set(second.tolist())) == 8
    again = list(cycled(10, 4, 5, torch.Generator().manual_seed(0)))
    assert all(torch.equal(a, b) for a, b in zip(batches, again, strict=True))


def test_sampled_draws_with_replacement_in_range():
    batches = list(sampled(5, 8, 3, torch.Generator().manual_seed(0)))
    assert [b.shape for b in batches] == [torch.Size([5])] * 3  # at most n per batch
    assert all(0 <= int(b.min()) and int(b.max()) < 5 for b in batches)
