"""dlcv.detection.localization: lecture 09's localisation network, sliding windows, OverFeat, proposals,
YOLOv2's priors."""


import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcv.detection import localization as loc
from dlcv.shapes import make_scenes


@pytest.fixture(scope="module")
def small_data():
    return loc.localization_data(40, seed=3, empty_fraction=0.25)


@pytest.fixture(scope="module")
def net():
    return loc.LocalizationNet(seed=1).eval()


# -- the network -------------------------------------------------------------------------------
def test_net_output_shapes():
    x = torch.rand(5, 3, 64, 64)
    scores, boxes = loc.LocalizationNet().eval()(x)
    assert scores.shape == (5, 4) and boxes.shape == (5, 4)
    scores, boxes = loc.LocalizationNet(specific=True).eval()(x)
    assert scores.shape == (5, 4) and boxes.shape == (5, 12)


def test_net_rejects_wrong_input():
    with pytest.raises(ValueError, match=r"\(N, 3, 64, 64\)"):
        loc.LocalizationNet()(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match="hidden"):
        loc.LocalizationNet(hidden=0)


def test_net_seed_fixes_weights_and_keeps_global_state():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b = loc.LocalizationNet(seed=5), loc.LocalizationNet(seed=5)
    after = torch.rand(1)
    assert torch.equal(before, after)  # the global random state was not consumed
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_box_of_class():
    boxes = torch.arange(2 * 12, dtype=torch.float32).view(2, 12)
    out = loc.box_of_class(boxes, torch.tensor([3, 0]))
    assert torch.equal(out[0], boxes[0, 8:12])  # class 3 = triangle, the third box
    assert torch.equal(out[1], boxes[1, 0:4])   # background gets the first class's box
    agnostic = torch.rand(2, 4)
    assert loc.box_of_class(agnostic, torch.tensor([1, 2])) is agnostic


# -- data and loss -----------------------------------------------------------------------------
def test_localization_data(small_data):
    d = small_data
    assert d.images.shape == (50, 3, 64, 64)
    assert d.labels.shape == (50,) and d.boxes.shape == (50, 4)
    assert int((d.labels == 0).sum()) == 10
    assert torch.all(d.boxes[d.labels == 0] == 0)
    for i in range(40):
        assert int(d.labels[i]) == int(d.scenes.labels[i][0]) + 1
        np.testing.assert_array_equal(d.boxes[i].numpy(), d.scenes.boxes[i][0])
    with pytest.raises(ValueError, match="n must"):
        loc.localization_data(0)


def test_localization_loss_by_hand():
    scores = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    labels = torch.tensor([0, 1])                   # background, circle
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.1, 0.2, 0.5, 0.5]])
    target = torch.tensor([[9.0, 9.0, 9.0, 9.0], [0.0, 0.0, 32.0, 32.0]])  # pixels
    total, ce, box = loc.localization_loss(scores, boxes, labels, target, box_weight=3.0)
    assert ce.item() == pytest.approx(F.cross_entropy(scores, labels).item())
    # only the circle has a box: (0.1^2 + 0.2^2 + 0^2 + 0^2) with the target / 64 = (0, 0, .5, .5)
    assert box.item() == pytest.approx(0.01 + 0.04)
    assert total.item() == pytest.approx(ce.item() + 3.0 * 0.05)


def test_train_localizer_is_deterministic_and_learns(small_data):
    logs = []
    for _ in range(2):
        n = loc.LocalizationNet(seed=0)
        logs.append(loc.train_localizer(n, small_data, epochs=2, batch_size=10, lr=5e-3))
    assert logs[0].loss == logs[1].loss
    assert len(logs[0].loss) == len(logs[0].cls) == len(logs[0].box) == 2
    assert logs[0].loss[-1] < logs[0].loss[0]
    assert not n.training  # left in eval mode
    with pytest.raises(ValueError, match="batch_size"):
        loc.train_localizer(n, small_data, batch_size=1000)


def test_predict_boxes(net, small_data):
    prob, boxes = loc.predict_boxes(net, small_data.images[:6])
    assert prob.shape == (6, 4) and boxes.shape == (6, 4)
    np.testing.assert_allclose(prob.sum(axis=1), 1, rtol=1e-5)
    with torch.no_grad():
        _, raw = net(small_data.images[:6])
    np.testing.assert_allclose(boxes, raw.numpy() * 64, rtol=1e-5)


# -- sliding windows and OverFeat ----------------------------------------------------------------
def test_count_windows_by_hand():
    assert loc.count_windows(64, 64, [64]) == [(64, 1.0, 1)]
    assert loc.count_windows(64, 64, [32], step=0.25) == [(32, 1.0, 25)]   # 8-pixel steps
    assert loc.count_windows(64, 64, [32], step=None) == [(32, 1.0, 33 * 33)]
    # ratio 2 (tall): w = round(32 / sqrt 2) = 23, h = 45; steps of 1/8: 3 and 6 pixels
    ((_, _, n),) = loc.count_windows(64, 64, [32], step=0.125, ratios=[2.0])
    assert n == ((64 - 23) // 3 + 1) * ((64 - 45) // 6 + 1)
    assert loc.count_windows(64, 64, [100]) == []  # too large: skipped
    with pytest.raises(ValueError, match="step"):
        loc.count_windows(64, 64, [32], step=2)


def test_window_crops():
    img = torch.arange(3 * 80 * 72, dtype=torch.float32).view(3, 80, 72)
    crops, corners = loc.window_crops(img, size=64, stride=8)
    assert crops.shape == (3 * 2, 3, 64, 64)           # rows 0, 8, 16; columns 0, 8
    assert corners.tolist() == [[0, 0], [8, 0], [0, 8], [8, 8], [0, 16], [8, 16]]
    assert torch.equal(crops[3], img[:, 8:72, 8:72])
    with pytest.raises(ValueError, match="smaller"):
        loc.window_crops(torch.zeros(3, 32, 32))


def test_convolutionalized_net_equals_cut_out_windows(net):
    torch.manual_seed(0)
    image = torch.rand(3, 96, 80)
    fcn = loc.convolutionalize(net)
    with torch.no_grad():
        scores, boxes = fcn(image[None])
    assert scores.shape == (1, 4, 5, 3) and boxes.shape == (1, 4, 5, 3)
    crops, corners = loc.window_crops(image)
    with torch.no_grad():
        s_crops, b_crops = net(crops)
    np.testing.assert_allclose(scores[0].reshape(4, -1).T.numpy(), s_crops.numpy(), atol=1e-4)
    np.testing.assert_allclose(boxes[0].reshape(4, -1).T.numpy(), b_crops.numpy(), atol=1e-4)
    dense = loc.dense_predictions(fcn, image.permute(1, 2, 0).numpy())
    prob, box = loc.predict_boxes(net, crops)
    np.testing.assert_allclose(dense.prob.reshape(4, -1).T, prob, atol=1e-5)
    np.testing.assert_allclose(dense.boxes.reshape(-1, 4),
                               box + np.concatenate([corners, corners], axis=1), atol=1e-3)
    with pytest.raises(ValueError, match="H, W >= 64"):
        fcn(torch.rand(1, 3, 40, 40))


def test_dense_output_detections():
    prob = np.zeros((4, 2, 2))
    prob[0] = 1.0
    prob[:, 0, 1] = [0.1, 0.8, 0.05, 0.05]                 # a circle at row 0, column 1
    boxes = np.arange(16, dtype=float).reshape(2, 2, 4)
    corners = np.array([[[0, 0], [8, 0]], [[0, 8], [8, 8]]])
    out = loc.DenseOutput(prob, boxes, corners)
    b, s, lab, win = out.detections(0.5)
    assert b.tolist() == [[4, 5, 6, 7]] and s.tolist() == [0.8] and lab.tolist() == [0]
    assert win.tolist() == [[8, 0, 72, 64]]


def test_compose_scene():
    scenes = make_scenes(3, seed=2, min_objects=1, max_objects=1)
    comp = loc.compose_scene(scenes, [0, 1], [(0, 0), (64, 64)], size=128)
    assert comp.image.shape == (128, 128, 3)
    np.testing.assert_array_equal(comp.boxes[1], scenes.boxes[1][0] + 64)
    assert comp.labels.tolist() == [int(scenes.labels[0][0]), int(scenes.labels[1][0])]
    m = scenes.masks[1][0]
    np.testing.assert_array_equal(comp.image[64:, 64:][m], scenes.images[1][m])
    with pytest.raises(ValueError, match="overlaps"):
        loc.compose_scene(scenes, [0, 0], [(0, 0), (0, 0)])
    with pytest.raises(ValueError, match="outside"):
        loc.compose_scene(scenes, [0], [(100, 0)])


def test_greedy_merge_by_hand():
    boxes = [[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [0, 0, 10, 10]]
    scores = [0.9, 0.7, 0.8, 0.6]
    labels = [0, 0, 0, 1]                       # the last one is another class
    m = loc.greedy_merge(boxes, scores, labels, max_distance=0.5)
    assert m.steps == 1
    np.testing.assert_allclose(m.boxes[0], [0.5, 0, 10.5, 10])  # the average of the first two
    assert m.scores[0] == pytest.approx(1.6) and m.counts.tolist() == [2, 1, 1]
    assert sorted(m.labels.tolist()) == [0, 0, 1]
    none = loc.greedy_merge(boxes, scores, labels, max_distance=0.0)
    assert none.steps == 0 and len(none.boxes) == 4
    with pytest.raises(ValueError, match="scores"):
        loc.greedy_merge(boxes, scores[:2])


# -- proposals ---------------------------------------------------------------------------------
def test_selective_search_finds_flat_squares():
    img = np.full((40, 40, 3), 0.5)
    img[5:15, 5:20] = (1.0, 0.0, 0.0)           # a red rectangle: box (5, 5, 20, 15)
    img[22:35, 25:33] = (0.0, 0.0, 1.0)         # a blue one: box (25, 22, 33, 35)
    g = loc.selective_search(img, scale=10, min_size=5)
    boxes = g.boxes.tolist()
    assert [5, 5, 20, 15] in boxes and [25, 22, 33, 35] in boxes
    n = g.num_initial
    assert len(g.merges) == n - 1 and len(g.boxes) == 2 * n - 1  # everything merges into one
    assert g.boxes[-1].tolist() == [0, 0, 40, 40]
    np.testing.assert_array_equal(g.labels_after(0), g.segments)
    assert len(np.unique(g.labels_after(len(g.merges)))) == 1
    assert len(np.unique(g.labels_after(1))) == n - 1
    assert g.sizes[-1] == 40 * 40
    with pytest.raises(ValueError, match="steps"):
        g.labels_after(len(g.merges) + 1)
    with pytest.raises(ValueError, match="H, W, 3"):
        loc.selective_search(np.zeros((10, 10)))


# -- YOLOv2's priors ------------------------------------------------------------------------------
