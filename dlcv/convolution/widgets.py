"""The views of lectures 06-07: ConvolutionExplorer and BlockCostView.

Lecture 06's widget: a 3x3 convolution slid over a real photograph, one position at a time.

    view = ConvolutionExplorer()
    view            # last line of a cell: live in JupyterLab, a static PNG elsewhere

Panels, left to right: the (zero-padded) grey input with the current window's nine taps
outlined; the nine input values under the taps; the kernel with its values; the output map with
the current position marked. Below them: the output-size formula with the numbers filled in, and
the dot product at the current position written out (nine products and their sum).

Controls (attributes): photo (a photograph; `view.image` is the base class's rendered figure),
kernel (a named kernel from dlcv.convolution.arithmetic.KERNELS or "custom"), cells (nine FloatText for the
kernel values, row by row: editing one switches the kernel to "custom", choosing a named kernel
fills them), stride, padding, dilation (sliders), position (the output position i * M_w + j) and
the buttons prev / next.
The output map is recomputed (torch, through dlcv.convolution.arithmetic.conv2d_single) only when the
image, the kernel, stride, padding or dilation change; moving the position only moves artists.

Lecture 07's widget: what the building blocks of CNN architectures cost, layer by layer.

    view = BlockCostView()
    view            # last line of a cell

Pick a block (two 3x3 convs, ResNet bottleneck, ResNeXt, naive or bottlenecked inception module,
fire module, dense block, mlpconv), its width C (input channels), the feature-map size and the
cardinality of the ResNeXt block. Left: multiply-accumulates of every convolution; right: its
parameters; the readout gives the totals and the output shape. The numbers come from
dlcv.convolution.costs.block_costs (a forward pass on torch's meta device: no real computation).
"""

from __future__ import annotations

import html
from functools import lru_cache

import ipywidgets as widgets
import numpy as np
from matplotlib.patches import Rectangle
from matplotlib.ticker import EngFormatter, MaxNLocator

from dlcv.convolution.arithmetic import KERNELS, conv2d_single, output_size, output_size_formula, window
from dlcv.convolution.costs import BLOCKS, block_costs
from dlcv.data import load_photo
from dlcv.widget import FigureView, dropdown, slider

# --------------------------------------------------------------------------------------------
# ConvolutionExplorer (lecture 06)
# --------------------------------------------------------------------------------------------
PHOTO_CHOICES = ("camera", "astronaut", "coffee", "chelsea", "coins", "moon", "brick", "china")
K = 3  # the explorer's kernels are 3x3
MAX_STRIDE, MAX_PADDING, MAX_DILATION = 4, 4, 4
TAP_COLOR = "#D55E00"
PAD_TINT = (0.34, 0.71, 0.91, 0.45)  # light blue over the zero padding


@lru_cache(maxsize=32)
def _photo(name: str, size: int) -> np.ndarray:
    """Grey photo, longer side `size`, as float64 grey levels 0..255 (read-only)."""
    img = load_photo(name, gray=True, size=size).astype(np.float64)  # (H, W)
    img.setflags(write=False)
    return img


def _fmt(v: float) -> str:
    """A kernel value or product, short: 2, -0.5, 0.111, 17.9."""
    v = float(v)
    if abs(v - round(v)) < 1e-9:
        return str(int(round(v)))
    if abs(v) >= 100:
        return f"{v:.1f}"
    return f"{v:.3g}"


def _factor(v: float) -> str:
    """_fmt, with negative numbers in parentheses (for sums of products)."""
    t = _fmt(v)
    return f"({t})" if t.startswith("-") else t


class ConvolutionExplorer(FigureView):
    """A 3x3 kernel on a grey photograph: stride, padding, dilation and one window's dot product.

    Args:
        photo: one of PHOTO_CHOICES.  kernel: a name from KERNELS, "custom", or a (3, 3) array
            (which starts the explorer in "custom" mode with those values).
        stride: 1..4.  padding: 0..4.  dilation: 1..4.
        position: output position index i * M_w + j (default: the centre of the output).
        size: the longer side of the photo in pixels, 16..128 (default 64: the taps stay visible).

    State: output ((M_h, M_w) float64 map), window (dlcv.convolution.arithmetic.Window at the position),
    stats (i, j, value, M_h, M_w, products), computes (how many times the output map was
    computed). Artists: input_im, pad_im, image_border, window_box, tap_boxes (nine Rectangles),
    patch_im / patch_texts, kernel_im / kernel_texts, output_im, output_marker (and the crosshair
    out_hline / out_vline), formula_text, dot_text.
    """

    def __init__(self, photo: str = "camera", kernel="Sobel x", stride: int = 1,
                 padding: int = 0, dilation: int = 1, position: int | None = None,
                 size: int = 64):
        who = "ConvolutionExplorer"
        if photo not in PHOTO_CHOICES:
            raise ValueError(f"{who}: photo must be one of {PHOTO_CHOICES}, got {photo!r}")
        if isinstance(kernel, str):
            if kernel != "custom" and kernel not in KERNELS:
                raise ValueError(f"{who}: kernel must be one of {tuple(KERNELS)}, 'custom' or a "
                                 f"(3, 3) array, got {kernel!r}")
            values = KERNELS.get(kernel, KERNELS["identity"])
        else:
            values = np.asarray(kernel, dtype=np.float64)
            if values.shape != (K, K) or not np.all(np.isfinite(values)):
                raise ValueError(f"{who}: a kernel array must be (3, 3) and finite, got shape "
                                 f"{values.shape}")
            kernel = "custom"
        for name, v, lo, hi in (("stride", stride, 1, MAX_STRIDE),
                                ("padding", padding, 0, MAX_PADDING),
                                ("dilation", dilation, 1, MAX_DILATION), ("size", size, 16, 128)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or not lo <= v <= hi:
                raise ValueError(f"{who}: {name} must be an int in {lo}..{hi}, got {v!r}")
        self.size = int(size)
        img = _photo(photo, self.size)
        m_h = output_size(img.shape[0], K, stride, padding, dilation)
        m_w = output_size(img.shape[1], K, stride, padding, dilation)
        if position is None:
            position = (m_h // 2) * m_w + m_w // 2
        if isinstance(position, bool) or not isinstance(position, int | np.integer) \
                or not 0 <= position < m_h * m_w:
            raise ValueError(f"{who}: position must be an int in 0..{m_h * m_w - 1} "
                             f"(= M_h * M_w - 1 for this setting), got {position!r}")
        super().__init__(figsize=(12.5, 6.0))
        self._key = None       # what the current output map was computed from
        self._geometry = None  # (image shape, stride, padding, dilation) of the current map
        self.computes = 0

        # -- controls ------------------------------------------------------------------------
        self.photo = dropdown("photo", PHOTO_CHOICES, photo, width="190px")
        self.kernel = dropdown("kernel", tuple(KERNELS) + ("custom",), kernel, width="240px")
        self.cells = [widgets.FloatText(value=float(values[a, b]), step=0.5,
                                        layout=widgets.Layout(width="72px"))
                      for a in range(K) for b in range(K)]
        self.stride = slider("stride S", int(stride), 1, MAX_STRIDE, 1, width="250px")
        self.padding = slider("zero padding P", int(padding), 0, MAX_PADDING, 1, width="250px")
        self.dilation = slider("dilation D", int(dilation), 1, MAX_DILATION, 1, width="250px")
        self.position = slider("position i·M_w + j", int(position), 0, m_h * m_w - 1, 1,
                               width="420px")
        self.prev = widgets.Button(description="◀ prev", layout=widgets.Layout(width="80px"))
        self.next = widgets.Button(description="next ▶", layout=widgets.Layout(width="80px"))
        self.prev.on_click(lambda _b: self.step(-1))
        self.next.on_click(lambda _b: self.step(+1))
        self.watch(self.photo, self.stride, self.padding, self.dilation, self.position)
        self.kernel.observe(lambda _c: self._kernel_chosen(), names="value")
        for c in self.cells:
            c.observe(lambda _c: self._cell_edited(), names="value")

        self._build_figure(img)
        self.update()

    # -- layout -------------------------------------------------------------------------------
    def control_rows(self):
        grid = widgets.GridBox(self.cells, layout=widgets.Layout(
            grid_template_columns="repeat(3, 76px)", grid_gap="2px"))
        left = widgets.VBox([widgets.HBox([self.photo, self.kernel]),
                             widgets.HBox([self.stride, self.padding]),
                             widgets.HBox([self.dilation]),
                             widgets.HBox([self.prev, self.position, self.next])])
        return [[left, widgets.VBox([widgets.HTML("<b>kernel values</b> (edit: custom)"),
                                     grid])]]

    # -- figure -------------------------------------------------------------------------------
    def _build_figure(self, img: np.ndarray) -> None:
        fig = self.fig
        self.ax_in = fig.add_axes((0.02, 0.29, 0.31, 0.65))
        self.ax_patch = fig.add_axes((0.365, 0.46, 0.13, 0.3))
        self.ax_kernel = fig.add_axes((0.525, 0.46, 0.13, 0.3))
        self.ax_out = fig.add_axes((0.685, 0.29, 0.31, 0.65))
        for ax in (self.ax_in, self.ax_patch, self.ax_kernel, self.ax_out):
            ax.set_xticks([])
            ax.set_yticks([])

        # input: padded image, blue tint over the padding, image border, window and taps
        self.input_im = self.ax_in.imshow(img, cmap="gray", vmin=0, vmax=255,
                                          interpolation="nearest")
        self.pad_im = self.ax_in.imshow(np.zeros(img.shape + (4,)), interpolation="nearest")
        self.image_border = Rectangle((-0.5, -0.5), img.shape[1], img.shape[0], fill=False,
                                      ec="#56B4E9", lw=1.0, ls="--")
        self.ax_in.add_patch(self.image_border)
        self.window_box = Rectangle((0, 0), 1, 1, fill=False, ec="#F0E442", lw=1.6, ls="--")
        self.ax_in.add_patch(self.window_box)
        self.tap_boxes = [Rectangle((0, 0), 1, 1, fill=False, ec=TAP_COLOR, lw=1.4)
                          for _ in range(K * K)]
        for r in self.tap_boxes:
            self.ax_in.add_patch(r)
        self.in_title = self.ax_in.set_title("", fontsize=10)

        # the nine input values under the taps, and the kernel
        self.patch_im = self.ax_patch.imshow(np.zeros((K, K)), cmap="gray", vmin=0, vmax=255)
        self.patch_pad_im = self.ax_patch.imshow(np.zeros((K, K, 4)))
        self.patch_texts = [[self.ax_patch.text(b, a, "", ha="center", va="center", fontsize=10)
                             for b in range(K)] for a in range(K)]
        self.ax_patch.set_title("input under the taps", fontsize=10)
        for s in self.ax_patch.spines.values():
            s.set_edgecolor(TAP_COLOR)
            s.set_linewidth(2)
        self.kernel_im = self.ax_kernel.imshow(np.zeros((K, K)), cmap="RdBu_r", vmin=-1, vmax=1)
        self.kernel_texts = [[self.ax_kernel.text(b, a, "", ha="center", va="center",
                                                  fontsize=10) for b in range(K)]
                             for a in range(K)]
        self.kernel_title = self.ax_kernel.set_title("", fontsize=10)
        self.fig.text(0.51, 0.61, "×", ha="center", va="center", fontsize=18)
        self.fig.text(0.67, 0.61, "→", ha="center", va="center", fontsize=18)

        # output map and the current position
        self.output_im = self.ax_out.imshow(np.zeros((2, 2)), cmap="gray",
                                            interpolation="nearest")
        self.output_marker = Rectangle((0, 0), 1, 1, fill=False, ec=TAP_COLOR, lw=1.8)
        self.ax_out.add_patch(self.output_marker)
        self.out_hline = self.ax_out.axhline(0, color=TAP_COLOR, lw=0.7, alpha=0.45)
        self.out_vline = self.ax_out.axvline(0, color=TAP_COLOR, lw=0.7, alpha=0.45)
        self.out_title = self.ax_out.set_title("", fontsize=10)

        # text: the size formula and the dot product
        self.formula_text = fig.text(0.025, 0.22, "", ha="left", va="top", fontsize=10,
                                     family="monospace")
        self.dot_text = fig.text(0.53, 0.22, "", ha="left", va="top", fontsize=10,
                                 family="monospace")

    # -- controls -----------------------------------------------------------------------------
    def kernel_values(self) -> np.ndarray:
        """(3, 3) the kernel as the nine cells hold it."""
        return np.array([float(c.value) for c in self.cells]).reshape(K, K)

    def _kernel_chosen(self) -> None:
        name = self.kernel.value
        if name != "custom" and not self._syncing:
            with self.syncing():
                for c, v in zip(self.cells, KERNELS[name].ravel(), strict=True):
                    c.value = float(v)
        self.update()

    def _cell_edited(self) -> None:
        if self._syncing:
            return
        if self.kernel.value != "custom":
            with self.syncing():
                self.kernel.value = "custom"
        self.update()

    def step(self, delta: int) -> None:
        """Move the output position by delta (wrapping around the map)."""
        n = int(self.position.max) + 1
        self.position.value = (int(self.position.value) + int(delta)) % n

    def set_kernel(self, values) -> None:
        """Set all nine kernel values at once (custom kernel), with a single update."""
        w = np.asarray(values, dtype=np.float64)
        if w.shape != (K, K) or not np.all(np.isfinite(w)):
            raise ValueError(f"ConvolutionExplorer.set_kernel: values must be a finite (3, 3) "
                             f"array, got shape {w.shape}")
        with self.syncing():
            self.kernel.value = "custom"
            for c, v in zip(self.cells, w.ravel(), strict=True):
                c.value = float(v)
        self.update()

    # -- computing ----------------------------------------------------------------------------
    def _settings(self) -> tuple[int, int, int]:
        return int(self.stride.value), int(self.padding.value), int(self.dilation.value)

    def _recompute(self, img: np.ndarray, w: np.ndarray) -> None:
        s, p, d = self._settings()
        self.output = conv2d_single(img, w, s, p, d)  # (M_h, M_w)
        self.computes += 1
        m_h, m_w = self.output.shape
        geometry = (img.shape, s, p, d)
        if geometry != self._geometry:
            # keep the window near the same place of the image when the grid changes
            if self._geometry is None:
                i, j = divmod(int(self.position.value), m_w)
            else:
                (_h, _w), s0, p0, d0 = self._geometry
                i0, j0 = divmod(int(self.position.value), self._m_w)
                c_r = s0 * i0 - p0 + d0 * (K - 1) / 2  # window centre in the image
                c_c = s0 * j0 - p0 + d0 * (K - 1) / 2
                i = int(np.clip(round((c_r + p - d * (K - 1) / 2) / s), 0, m_h - 1))
                j = int(np.clip(round((c_c + p - d * (K - 1) / 2) / s), 0, m_w - 1))
            with self.syncing():
                if m_h * m_w - 1 > self.position.max:
                    self.position.max = m_h * m_w - 1
                    self.position.value = i * m_w + j
                else:
                    self.position.value = i * m_w + j
                    self.position.max = m_h * m_w - 1
            self._geometry = geometry
            self._m_w = m_w
            self._draw_geometry(img, m_h, m_w)

        # the output map: grey for kernels that keep the brightness (weights summing to about 1:
        # blurs, sharpen, emboss), red/blue around 0 for the others (edges: weights sum to 0)
        out = self.output
        self.output_im.set_data(out)
        if w.sum() > 0.5:
            lo, hi = np.percentile(out, [0.5, 99.5])
            self.output_im.set_cmap("gray")
            self.output_im.set_clim(lo, max(hi, lo + 1e-9))
        else:
            v = max(float(np.abs(out).max()), 1e-9)
            self.output_im.set_cmap("RdBu_r")
            self.output_im.set_clim(-v, v)
        v = max(float(np.abs(w).max()), 1e-9)
        self.kernel_im.set_data(w)
        self.kernel_im.set_clim(-v, v)
        for a in range(K):
            for b in range(K):
                t = self.kernel_texts[a][b]
                t.set_text(_fmt(w[a, b]))
                t.set_color("white" if abs(w[a, b]) > 0.6 * v else "black")

    def _draw_geometry(self, img: np.ndarray, m_h: int, m_w: int) -> None:
        """Artists that depend on the image and on stride / padding / dilation only."""
        s, p, d = self._settings()
        H, W = img.shape
        padded = np.pad(img, p)  # (H + 2P, W + 2P), zeros around
        extent = (-p - 0.5, W + p - 0.5, H + p - 0.5, -p - 0.5)
        self.input_im.set_data(padded)
        self.input_im.set_extent(extent)
        tint = np.zeros(padded.shape + (4,))
        tint[:] = PAD_TINT
        tint[p:p + H, p:p + W] = 0.0
        self.pad_im.set_data(tint)
        self.pad_im.set_extent(extent)
        self.image_border.set_bounds(-0.5, -0.5, W, H)
        self.ax_in.set_xlim(extent[0], extent[1])
        self.ax_in.set_ylim(extent[2], extent[3])
        pad_note = f", zero padding P = {p} (blue)" if p else ", no padding"
        self.in_title.set_text(f"input {H}×{W}{pad_note}")
        self.output_im.set_extent((-0.5, m_w - 0.5, m_h - 0.5, -0.5))
        self.ax_out.set_xlim(-0.5, m_w - 0.5)
        self.ax_out.set_ylim(m_h - 0.5, -0.5)
        self.out_title.set_text(f"output {m_h}×{m_w}  (S = {s}, P = {p}, D = {d})")
        lines = ["output size  M = floor((N + 2P - D(K-1) - 1)/S) + 1"]
        if H == W:
            lines.append(output_size_formula(H, K, s, p, d, name="  M") + "  (height = width)")
        else:
            lines += [output_size_formula(H, K, s, p, d, name="M_h"),
                      output_size_formula(W, K, s, p, d, name="M_w")]
        lines.append(f"window: {K}×{K} taps spanning D(K-1)+1 = {d * (K - 1) + 1} pixels")
        self.formula_lines = lines
        self.formula_text.set_text("\n".join(lines))

    # -- update -------------------------------------------------------------------------------
    def update(self) -> None:
        if self._syncing:
            return
        img = _photo(self.photo.value, self.size)
        w = self.kernel_values()
        key = (self.photo.value, tuple(w.ravel()), *self._settings())
        if key != self._key:
            self._recompute(img, w)
            self._key = key
        self.kernel_title.set_text(f"kernel: {self.kernel.value}")
        s, p, d = self._settings()
        m_h, m_w = self.output.shape
        i, j = divmod(int(self.position.value), m_w)
        win = window(img, K, i, j, s, p, d)
        self.window = win

        # taps on the input, the window's extent, the marker on the output
        for (x, y), box in zip(win.tap_points(), self.tap_boxes, strict=True):
            box.set_xy((x - 0.5, y - 0.5))
        self.window_box.set_bounds(win.left - 0.5, win.top - 0.5, win.extent, win.extent)
        self.output_marker.set_xy((j - 0.5, i - 0.5))
        self.out_hline.set_ydata([i, i])
        self.out_vline.set_xdata([j, j])

        # the nine values under the taps (padding taps tinted blue)
        self.patch_im.set_data(win.patch)
        tint = np.zeros((K, K, 4))
        tint[~win.inside] = PAD_TINT
        self.patch_pad_im.set_data(tint)
        for a in range(K):
            for b in range(K):
                t = self.patch_texts[a][b]
                t.set_text(_fmt(win.patch[a, b]))
                t.set_color("white" if win.patch[a, b] < 128 else "black")

        # the dot product, written out, one kernel row per line
        products = win.patch * w  # (3, 3)
        value = float(self.output[i, j])
        head = f"y[{i}, {j}] = "
        pad = " " * len(head)
        rows = [(head + "  " if a == 0 else pad + "+ ")
                + " + ".join(f"{_factor(w[a, b])}·{_fmt(win.patch[a, b])}" for b in range(K))
                for a in range(K)]
        rows.append(pad + "= " + " + ".join(_factor(products[a].sum()) for a in range(K))
                    + "   (row sums)")
        rows.append(pad + f"= {_fmt(value)}")
        self.dot_lines = rows
        self.dot_text.set_text("\n".join(rows))
        self.stats = {"i": i, "j": j, "value": value, "M_h": m_h, "M_w": m_w,
                      "products": products, "sum_of_products": float(products.sum())}

        self.readout.value = (
            "<pre style='margin:0'>" + html.escape("\n".join(self.formula_lines)) + "\n\n"
            + html.escape("\n".join(rows)) + "</pre>"
        )
        self.render()


# --------------------------------------------------------------------------------------------
# BlockCostView (lecture 07)
# --------------------------------------------------------------------------------------------
MAX_ROWS = 12  # bars drawn (blocks have at most 11 convolutions here)
_COLORS = {"1x1": "#56B4E9", "3x3": "#E69F00", "5x5": "#D55E00", "7x7": "#CC79A7"}


def _color(label: str) -> str:
    for k, c in _COLORS.items():
        if label.startswith(k):
            return c
    return "#999999"


def _human(n: float) -> str:
    for unit, f in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= f:
            return f"{n / f:.3g}{unit}"
    return f"{n:.0f}"


class BlockCostView(FigureView):
    """Per-layer MACs and parameters of one block; controls block, channels, size, cardinality."""

    def __init__(self, block: str = "ResNet bottleneck", channels: int = 256, size: int = 28,
                 cardinality: int = 32):
        super().__init__(figsize=(10.0, 3.9))
        self.block = dropdown("block", list(BLOCKS), value=block, width="330px")
        self.channels = slider("channels C", channels, 16, 512, step=16)
        self.size = slider("map size H = W", size, 7, 56, step=7)
        self.cardinality = dropdown("cardinality (ResNeXt)", [1, 2, 4, 8, 16, 32],
                                    value=cardinality, width="230px")
        self.ax_macs, self.ax_params = self.fig.subplots(1, 2, sharey=True)
        rows = np.arange(MAX_ROWS)
        self.bars_macs = self.ax_macs.barh(rows, np.zeros(MAX_ROWS), color="#999999")
        self.bars_params = self.ax_params.barh(rows, np.zeros(MAX_ROWS), color="#999999")
        self.text_macs = [self.ax_macs.text(0, r, "", va="center", fontsize=7) for r in rows]
        self.text_params = [self.ax_params.text(0, r, "", va="center", fontsize=7) for r in rows]
        self.ax_macs.set_xlabel("multiply-accumulates")
        self.ax_params.set_xlabel("parameters")
        for ax in (self.ax_macs, self.ax_params):
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))
            ax.xaxis.set_major_locator(MaxNLocator(4))
        self.title = self.fig.suptitle("", fontsize=10)
        self.fig.subplots_adjust(left=0.2, right=0.97, wspace=0.08, bottom=0.14, top=0.86)
        self.rows: list = []
        self.watch(self.block, self.channels, self.size, self.cardinality)
        self.update()

    def update(self) -> None:
        table, info = block_costs(self.block.value, self.channels.value, self.size.value,
                                  self.cardinality.value)
        self.rows = list(table)
        n = len(self.rows)
        labels = [r.name for r in self.rows]
        macs = np.array([r.macs for r in self.rows], dtype=float)
        params = np.array([r.params for r in self.rows], dtype=float)
        for i in range(MAX_ROWS):
            on = i < n
            for bars, texts, vals in ((self.bars_macs, self.text_macs, macs),
                                      (self.bars_params, self.text_params, params)):
                bars[i].set_width(vals[i] if on else 0.0)
                bars[i].set_color(_color(labels[i]) if on else "#999999")
                texts[i].set_text(" " + _human(vals[i]) if on else "")
                texts[i].set_position(((vals[i] if on else 0.0), i))
        for ax, vals in ((self.ax_macs, macs), (self.ax_params, params)):
            ax.set_xlim(0, 1.3 * max(vals.max(), 1.0))
        self.ax_macs.set_yticks(np.arange(n))
        self.ax_macs.set_yticklabels(labels, fontsize=8)
        self.ax_macs.set_ylim(max(n, 6) - 0.5, -0.5)  # thin bars for short blocks
        self.title.set_text(f"{self.block.value}: input {self.channels.value} x "
                            f"{self.size.value} x {self.size.value} -> output "
                            f"{' x '.join(str(s) for s in info['out_shape'][1:])}")
        self.stats = dict(macs=table.macs, params=table.params, **info)
        ref = info["reference_macs"]
        self.readout.value = (
            f"<b>{self.block.value}</b>: {table.macs:,d} multiply-accumulates, "
            f"{table.params:,d} parameters, output {info['out_shape'][1:]}.<br>"
            f"For comparison, one 3x3 convolution C &rarr; C on the same map costs {ref:,d} MACs "
            f"(this block: {table.macs / ref:.2f}x).")
        self.render()
