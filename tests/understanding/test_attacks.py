"""Tests for dlcv/understanding/attacks.py: FGSM and PGD against hand-computed cases on a linear
model, the budget and the [0, 1] range, targeted attacks, fooling images, success rates."""

import pytest
import torch
import torch.nn.functional as F

from dlcv.understanding import attacks as A


def _x(n=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    return 0.3 + 0.4 * torch.rand(n, 1, 4, 4, generator=g)     # away from 0 and 1


def test_fgsm_is_the_sign_of_the_loss_gradient(linear):
    x, y = _x(), torch.tensor([0, 1, 2, 0, 1])
    eps = 0.05
    # d CE / d x = W^T (softmax - onehot), by hand
    p = torch.softmax(linear(x), 1)
    grad = (p - F.one_hot(y, 3).float()) @ linear.fc.weight            # (N, 16)
    want = (x + eps * grad.sign().reshape(x.shape)).clamp(0, 1)
    torch.testing.assert_close(A.fgsm(linear, x, y, eps), want)
    # targeted: down the gradient of the target's loss, which lowers that loss
    t = torch.tensor([1, 2, 0, 1, 2])
    xt = A.fgsm(linear, x, y, eps, target=t)
    assert (F.cross_entropy(linear(xt), t, reduction="none")
            < F.cross_entropy(linear(x), t, reduction="none")).all()


def test_pgd_one_full_step_without_random_start_is_fgsm(linear):
    x, y = _x(), torch.tensor([0, 1, 2, 0, 1])
    torch.testing.assert_close(A.pgd(linear, x, y, 0.1, steps=1, step_size=0.1,
                                     random_start=False), A.fgsm(linear, x, y, 0.1))


def test_pgd_stays_in_the_ball_and_the_image_range(linear):
    x = torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    y = torch.zeros(6, dtype=torch.int64)
    for eps in (0.0, 0.03, 0.3):
        xa = A.pgd(linear, x, y, eps, steps=7)
        assert (xa - x).abs().max() <= eps + 1e-6
        assert xa.min() >= 0 and xa.max() <= 1


def test_pgd_finds_the_smallest_flip_of_a_linear_two_class_model(linear):
    # two classes: the margin m = f_y - f_other is linear, w = W_y - W_other; the smallest
    # L-inf change that flips it is m / ||w||_1 (every pixel moved by eps against sign(w))
    lin = linear
    lin.fc.weight.data, lin.fc.bias.data = lin.fc.weight.data[:2], lin.fc.bias.data[:2]
    x = torch.full((1, 1, 4, 4), 0.5)
    y = lin(x).argmax(1)
    w = (lin.fc.weight[y[0]] - lin.fc.weight[1 - y[0]]).detach()
    margin = float((lin(x)[0, y[0]] - lin(x)[0, 1 - y[0]]).detach())
    flip = margin / float(w.abs().sum())
    assert 0 < flip < 0.5
    above = A.pgd(lin, x, y, flip * 1.02, steps=20, random_start=False)
    below = A.pgd(lin, x, y, flip * 0.98, steps=20, random_start=False)
    assert A.predict(lin, above)[0].item() != y.item()
    assert A.predict(lin, below)[0].item() == y.item()
    # FGSM is exact here: the loss is monotone in the margin
    assert A.predict(lin, A.fgsm(lin, x, y, flip * 1.02))[0].item() != y.item()


def test_targeted_pgd_reaches_the_target_and_success_rate_counts_it(linear):
    x, y = _x(8), A.predict(linear, _x(8))[0]
    t = (y + 1) % 3
    xa = A.pgd(linear, x, y, 0.5, steps=30, target=t)
    assert (A.predict(linear, xa)[0] == t).all()
    assert A.success_rate(linear, x, xa, y, target=t) == 1.0
    assert A.success_rate(linear, x, x, y) == 0.0


def test_success_rate_by_hand(linear):
    x = _x(4)
    pred = A.predict(linear, x)[0]
    y = pred.clone()
    y[0] = (pred[0] + 1) % 3                    # image 0 is already wrong: not counted
    x_adv = x.clone()
    x_adv[1] = x_adv[1] * 0                      # change image 1 only
    changed = A.predict(linear, x_adv)[0][1] != y[1]
    assert A.success_rate(linear, x, x_adv, y) == pytest.approx(float(changed) / 3)
    # targeted: images whose true class is the target are not counted either
    assert A.success_rate(linear, x, x, y, target=y) == 0.0


def test_fooling_images_start_from_noise_and_stay_near_it(linear):
    noise, fool = A.fooling_images(linear, torch.tensor([0, 1, 2]), (1, 4, 4), eps=0.4,
                                   steps=30)
    assert noise.shape == fool.shape == (3, 1, 4, 4)
    assert (fool - noise).abs().max() <= 0.4 + 1e-6
    assert (A.predict(linear, fool)[0] == torch.tensor([0, 1, 2])).all()
    again, _ = A.fooling_images(linear, torch.tensor([0, 1, 2]), (1, 4, 4), seed=0)
    torch.testing.assert_close(noise, again)


def test_clear_errors(linear):
    x, y = _x(2), torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"fgsm: eps must be a number in \[0.0, 1.0\]"):
        A.fgsm(linear, x, y, 1.5)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        A.pgd(linear, x[0], y, 0.1)
    with pytest.raises(ValueError, match=r"y must be \(2,\)"):
        A.pgd(linear, x, torch.tensor([0, 1, 2]), 0.1)
    with pytest.raises(ValueError, match="steps"):
        A.pgd(linear, x, y, 0.1, steps=0)
    with pytest.raises(ValueError, match="same shape"):
        A.success_rate(linear, x, x[:1], y)
