"""Tests for dlcv/convolution/widgets.py: the convolution explorer, without a browser."""


import numpy as np
import pytest
from scipy.signal import correlate2d

from dlcv.convolution.arithmetic import KERNELS
from dlcv.convolution.widgets import PHOTO_CHOICES, ConvolutionExplorer
from dlcv.data import load_photo


@pytest.fixture()
def view():
    return ConvolutionExplorer(photo="camera", kernel="Sobel x")


def _photo(name="camera", size=64):
    return load_photo(name, gray=True, size=size).astype(float)


def _taps(v):
    return np.array([b.get_xy() for b in v.tap_boxes]) + 0.5  # (9, 2) (x, y) tap centres


def test_initial_state(view):
    img = _photo()
    assert view.renders == 1 and view.computes == 1
    np.testing.assert_allclose(view.output, correlate2d(img, KERNELS["Sobel x"], mode="valid"))
    assert view.output.shape == (62, 62)
    assert view.position.max == 62 * 62 - 1
    i, j = view.stats["i"], view.stats["j"]
    assert (i, j) == (31, 31)
    assert view.stats["value"] == pytest.approx(view.stats["sum_of_products"])
    np.testing.assert_allclose(view.window.patch, img[i:i + 3, j:j + 3])
    np.testing.assert_allclose(view.kernel_values(), KERNELS["Sobel x"])
    assert "M = floor((64 + 2*0 - 1*(3-1) - 1)/1) + 1 = 62" in view.formula_text.get_text()
    assert view.dot_text.get_text().startswith(f"y[{i}, {j}] = ")
    last = view.dot_text.get_text().splitlines()[-1]
    assert float(last.split("=")[-1]) == pytest.approx(view.stats["value"], rel=1e-3, abs=1e-9)
    # taps on the input: rows i..i+2, cols j..j+2
    pts = _taps(view)
    assert set(pts[:, 0]) == {j, j + 1, j + 2} and set(pts[:, 1]) == {i, i + 1, i + 2}
    assert [t.get_text() for t in view.kernel_texts[0]] == ["-1", "0", "1"]
    assert view._repr_mimebundle_()["image/png"]
    box = view.widget  # the live layout: controls, the figure, the readout
    assert view.image in box.children and view.readout in box.children
    assert "y[31, 31]" in view.readout.value and "= 62" in view.readout.value


def test_choosing_custom_keeps_the_values(view):
    computes, renders = view.computes, view.renders
    view.kernel.value = "custom"
    assert view.computes == computes and view.renders == renders + 1
    np.testing.assert_allclose(view.kernel_values(), KERNELS["Sobel x"])
    assert view.kernel_title.get_text() == "kernel: custom"


def test_position_moves_artists_without_recomputing(view):
    computes, renders = view.computes, view.renders
    taps, dot = _taps(view), view.dot_text.get_text()
    marker = view.output_marker.get_xy()
    view.position.value = 10 * 62 + 20  # i = 10, j = 20
    assert view.computes == computes and view.renders == renders + 1
    assert (view.stats["i"], view.stats["j"]) == (10, 20)
    assert view.output_marker.get_xy() == (19.5, 9.5) != marker
    assert list(view.out_hline.get_ydata()) == [10, 10]
    assert list(view.out_vline.get_xdata()) == [20, 20]
    np.testing.assert_allclose(_taps(view) - taps, np.tile([20 - 31, 10 - 31], (9, 1)))
    assert view.dot_text.get_text() != dot and view.dot_text.get_text().startswith("y[10, 20]")
    assert view.stats["value"] == pytest.approx(view.output[10, 20])
    assert (view.window.patch * view.kernel_values()).sum() == pytest.approx(view.output[10, 20])
    # buttons step through the positions and wrap around
    view.next.click()
    assert (view.stats["i"], view.stats["j"]) == (10, 21)
    view.prev.click()
    view.prev.click()
    assert (view.stats["i"], view.stats["j"]) == (10, 19)
    view.position.value = 0
    view.prev.click()
    assert view.position.value == 62 * 62 - 1
    assert view.computes == computes


def test_kernel_choice_fills_cells_with_one_update(view):
    renders, computes = view.renders, view.computes
    view.kernel.value = "Gaussian blur"
    assert view.renders == renders + 1 and view.computes == computes + 1
    np.testing.assert_allclose(view.kernel_values(), KERNELS["Gaussian blur"])
    np.testing.assert_allclose(view.output,
                               correlate2d(_photo(), KERNELS["Gaussian blur"], mode="valid"))
    assert view.kernel_texts[1][1].get_text() == "0.25"
    assert view.kernel_title.get_text() == "kernel: Gaussian blur"
    assert view.output_im.get_cmap().name == "gray"  # a blur keeps the brightness
    view.kernel.value = "Sobel y"
    assert view.output_im.get_cmap().name == "RdBu_r"  # edges: signed


def test_editing_a_cell_switches_to_custom(view):
    renders = view.renders
    view.cells[4].value = 3.0  # centre of Sobel x
    assert view.kernel.value == "custom"
    assert view.renders == renders + 1
    w = KERNELS["Sobel x"].copy()
    w[1, 1] = 3.0
    np.testing.assert_allclose(view.kernel_values(), w)
    np.testing.assert_allclose(view.output, correlate2d(_photo(), w, mode="valid"))
    assert view.kernel_texts[1][1].get_text() == "3"
    assert "3·" in view.dot_text.get_text()
    view.set_kernel(np.eye(3))
    assert view.renders == renders + 2
    np.testing.assert_allclose(view.output, correlate2d(_photo(), np.eye(3), mode="valid"))
    with pytest.raises(ValueError, match=r"finite \(3, 3\) array"):
        view.set_kernel(np.ones((2, 2)))


def test_stride_padding_dilation_change_output_and_formula(view):
    img = _photo()
    view.stride.value = 2
    assert view.output.shape == (31, 31)
    assert "floor((64 + 2*0 - 1*(3-1) - 1)/2) + 1 = 31" in view.formula_text.get_text()
    np.testing.assert_allclose(view.output,
                               correlate2d(img, KERNELS["Sobel x"], mode="valid")[::2, ::2])
    view.padding.value = 1
    assert view.output.shape == (32, 32)
    assert "P = 1" in view.in_title.get_text()
    assert view.input_im.get_array().shape == (66, 66)  # the padded input is drawn
    view.dilation.value = 2
    assert view.output.shape == (31, 31)
    assert "floor((64 + 2*1 - 2*(3-1) - 1)/2) + 1 = 31" in view.formula_text.get_text()
    assert "D(K-1)+1 = 5" in view.formula_text.get_text()
    assert view.window_box.get_width() == 5
    pts = _taps(view)
    assert np.ptp(pts[:, 0]) == 4 and np.ptp(pts[:, 1]) == 4  # taps 2 pixels apart
    assert view.position.max == 31 * 31 - 1
    # every position still satisfies window . kernel == output
    for pos in (0, 31 * 31 - 1, 500):
        view.position.value = pos
        assert view.stats["value"] == pytest.approx(view.stats["sum_of_products"])
        assert view.stats["value"] == pytest.approx(
            view.output[divmod(pos, 31)])


def test_window_stays_near_the_same_place_when_the_grid_changes(view):
    view.position.value = 20 * 62 + 40  # window centre at pixel (21, 41)
    view.stride.value = 2
    i, j = view.stats["i"], view.stats["j"]
    assert abs(2 * i + 1 - 21) <= 1 and abs(2 * j + 1 - 41) <= 1


def test_photo_changes_input_and_shape(view):
    renders, computes = view.renders, view.computes
    view.photo.value = "coffee"
    assert view.renders == renders + 1 and view.computes == computes + 1
    img = _photo("coffee")
    assert img.shape == (43, 64)
    np.testing.assert_allclose(view.input_im.get_array(), img)
    assert view.output.shape == (41, 62)
    assert "M_h = floor((43" in view.formula_text.get_text()
    assert "M_w = floor((64" in view.formula_text.get_text()
    assert 0 <= view.position.value <= view.position.max == 41 * 62 - 1


def test_padding_taps_read_zeros():
    v = ConvolutionExplorer(kernel="box blur", padding=2, position=0)
    assert v.window.top == -2 and v.window.left == -2
    np.testing.assert_array_equal(v.window.patch[0], 0)
    assert not v.window.inside[0].any()
    assert v.stats["value"] == pytest.approx(v.window.patch.sum() / 9)


def test_custom_kernel_array_and_all_photos_construct():
    v = ConvolutionExplorer(photo="moon", kernel=np.ones((3, 3)), stride=3, dilation=4)
    assert v.kernel.value == "custom"
    assert v.output.shape == (19, 19)  # floor((64 - 9)/3) + 1
    for name in PHOTO_CHOICES:
        v.photo.value = name
        assert v.output.ndim == 2 and np.isfinite(v.output).all()


@pytest.mark.parametrize("kwargs, msg", [
    (dict(photo="lena"), "photo must be one of"),
    (dict(kernel="blurry"), "kernel must be one of"),
    (dict(kernel=np.ones((2, 2))), r"kernel array must be \(3, 3\)"),
    (dict(stride=0), r"stride must be an int in 1\.\.4"),
    (dict(padding=5), r"padding must be an int in 0\.\.4"),
    (dict(dilation=9), r"dilation must be an int in 1\.\.4"),
    (dict(size=8), r"size must be an int in 16\.\.128"),
    (dict(position=62 * 62), r"position must be an int in 0\.\.3843"),
])
def test_bad_arguments(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        ConvolutionExplorer(**kwargs)
