"""Lecture 11's widget: a transposed convolution as kernel copies stamped into the output.

    view = TransposedConvView()
    view            # last line of a cell: live in JupyterLab, a static PNG elsewhere

Panels, left to right: the n x n input with the selected cell; the output grid, where every
input cell stamps a copy of the k x k kernel, S positions after its neighbour's copy (all copies
outlined, the selected cell's copy filled; the positions cropped by the padding tinted blue, those
added by output_padding tinted orange); and how many copies overlap at each output position
(with an all-ones input and kernel this is exactly the output of the transposed convolution;
where K is not a multiple of S the counts alternate: the checkerboard).
Below them and in the readout: the output-size formula with the numbers filled in, checked
against the shape that torch.nn.functional.conv_transpose2d gives.

Controls (attributes): n (input size 2..6), k (kernel size 1..5), stride (1..3), padding (0..2),
output_padding (0..2; values not smaller than the stride are refused with a message, not an
exception), row and col (the selected input cell).
"""

from __future__ import annotations

import html
import textwrap

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle

from dlcv.segmentation.upsampling import stamp_counts, stamp_span, transposed_output_size
from dlcv.widget import FigureView, slider

MAX_N, MAX_K, MAX_S, MAX_P, MAX_OP = 6, 5, 3, 2, 2
MAX_OUT = (MAX_N - 1) * MAX_S + MAX_K + MAX_OP  # the largest output side (22)
SEL_COLOR = "#D55E00"
CROP_TINT = (0.34, 0.71, 0.91, 0.55)   # blue: stamped, then cropped by the padding
EXTRA_TINT = (0.90, 0.62, 0.0, 0.35)   # orange: added by output_padding, no stamp reaches it
OUT_TINT = (0.95, 0.95, 0.95, 1.0)     # the output proper


def torch_output_shape(n: int, k: int, stride: int, padding: int,
                       output_padding: int
                       ) -> tuple[tuple[int, ...] | None, np.ndarray | None, str]:
    """Run F.conv_transpose2d on an all-ones (1, 1, n, n) input with an all-ones (1, 1, k, k)
    kernel. Returns (output shape, output (out, out) as int64, "") or (None, None, torch's
    error message) for settings torch refuses."""
    x = torch.ones(1, 1, n, n)
    w = torch.ones(1, 1, k, k)
    try:
        y = F.conv_transpose2d(x, w, stride=stride, padding=padding, output_padding=output_padding)
    except RuntimeError as e:
        return None, None, str(e).strip().splitlines()[0]
    return tuple(y.shape), y[0, 0].round().to(torch.int64).numpy(), ""


class TransposedConvView(FigureView):
    """Kernel copies, cropping and overlaps of a 2-D transposed convolution.

    Args:
        n: input size 2..6.  k: kernel size 1..5.  stride: 1..3.  padding: 0..2.
        output_padding: 0..2.  row, col: the selected input cell, 0..n-1.

    State after every update: valid (bool), message (why a setting is refused, else ""),
    out (output side), counts ((out, out) int64 overlaps), torch_shape (the shape
    F.conv_transpose2d gives, or None), formula_lines (the readout's lines), span
    ((row range, col range) of the selected copy in output coordinates, before cropping).
    Artists: in_im, in_texts, sel_in_box; out_im (tints), out_border, stamp_boxes (one per input
    cell, MAX_N**2), sel_stamp; count_im, count_texts (MAX_OUT x MAX_OUT); formula_text.
    """

    def __init__(self, n: int = 4, k: int = 3, stride: int = 2, padding: int = 0,
                 output_padding: int = 0, row: int = 1, col: int = 1):
        who = "TransposedConvView"
        for name, v, lo, hi in (("n", n, 2, MAX_N), ("k", k, 1, MAX_K),
                                ("stride", stride, 1, MAX_S),
                                ("padding", padding, 0, MAX_P),
                                ("output_padding", output_padding, 0, MAX_OP),
                                ("row", row, 0, n - 1), ("col", col, 0, n - 1)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or not lo <= v <= hi:
                raise ValueError(f"{who}: {name} must be an int in {lo}..{hi}, got {v!r}")
        super().__init__(figsize=(13.0, 5.2))
        self.n = slider("input size n", int(n), 2, MAX_N, width="250px")
        self.k = slider("kernel size K", int(k), 1, MAX_K, width="250px")
        self.stride = slider("stride S", int(stride), 1, MAX_S, width="250px")
        self.padding = slider("padding P", int(padding), 0, MAX_P, width="250px")
        self.output_padding = slider("output_padding", int(output_padding), 0, MAX_OP,
                                     width="250px")
        self.row = slider("input row i", int(row), 0, int(n) - 1, width="250px")
        self.col = slider("input column j", int(col), 0, int(n) - 1, width="250px")
        self.watch(self.n, self.k, self.stride, self.padding, self.output_padding, self.row,
                   self.col)
        self._build_figure()
        self.update()

    def control_rows(self):
        return [[self.n, self.k, self.stride], [self.padding, self.output_padding],
                [self.row, self.col]]

    # -- figure -------------------------------------------------------------------------------
    def _build_figure(self) -> None:
        fig = self.fig
        self.ax_in = fig.add_axes((0.025, 0.38, 0.17, 0.45))
        self.ax_out = fig.add_axes((0.235, 0.24, 0.36, 0.67))
        self.ax_cnt = fig.add_axes((0.635, 0.24, 0.36, 0.67))
        for ax in (self.ax_in, self.ax_out, self.ax_cnt):
            ax.tick_params(which="both", length=0, labelsize=7)
            ax.grid(which="minor", color="0.55", lw=0.5)
            ax.set_aspect("equal")

        # input: the selected cell coloured, every cell labelled with (i, j)
        self.in_im = self.ax_in.imshow(np.zeros((2, 2)), cmap="Oranges", vmin=0, vmax=1.6,
                                       interpolation="nearest")
        self.in_texts = [[self.ax_in.text(b, a, "", ha="center", va="center", fontsize=7)
                          for b in range(MAX_N)] for a in range(MAX_N)]
        self.sel_in_box = Rectangle((0, 0), 1, 1, fill=False, ec=SEL_COLOR, lw=2.2)
        self.ax_in.add_patch(self.sel_in_box)
        self.in_title = self.ax_in.set_title("", fontsize=10)

        # output: tints, the output border, every kernel copy, the selected copy
        self.out_im = self.ax_out.imshow(np.zeros((2, 2, 4)), interpolation="nearest")
        self.stamp_boxes = [Rectangle((0, 0), 1, 1, fill=False, ec="0.35", lw=0.9, ls="--")
                            for _ in range(MAX_N * MAX_N)]
        for r in self.stamp_boxes:
            self.ax_out.add_patch(r)
        self.sel_stamp = Rectangle((0, 0), 1, 1, fc=SEL_COLOR, alpha=0.45, ec=SEL_COLOR, lw=2.2)
        self.ax_out.add_patch(self.sel_stamp)
        self.tap_texts = [[self.ax_out.text(0, 0, f"w{a}{b}", ha="center", va="center",
                                            fontsize=7, color="k", visible=False)
                           for b in range(MAX_K)] for a in range(MAX_K)]
        self.out_border = Rectangle((0, 0), 1, 1, fill=False, ec="k", lw=1.6)
        self.ax_out.add_patch(self.out_border)
        self.out_title = self.ax_out.set_title("", fontsize=10)

        # overlap counts
        self.count_im = self.ax_cnt.imshow(np.zeros((2, 2)), cmap="YlGnBu", vmin=0, vmax=1,
                                           interpolation="nearest")
        self.count_texts = [[self.ax_cnt.text(b, a, "", ha="center", va="center", fontsize=7)
                             for b in range(MAX_OUT)] for a in range(MAX_OUT)]
        self.count_title = self.ax_cnt.set_title("", fontsize=10)

        self.formula_text = fig.text(0.025, 0.15, "", ha="left", va="top", fontsize=9,
                                     family="monospace")
        self.warning_text = fig.text(0.45, 0.13, "", ha="left", va="center", fontsize=9.5,
                                     color=SEL_COLOR)
        self.legend_text = fig.text(0.45, 0.06, "", ha="left", va="center", fontsize=8.5)
        self.message_text = fig.text(0.615, 0.58, "", ha="center", va="center", fontsize=11,
                                     color="#b00", visible=False)

    @staticmethod
    def _grid(ax, lo: float, hi_x: float, hi_y: float) -> None:
        """Cell borders as minor-tick grid lines over [lo, hi) x [lo, hi) (cell centres at ints),
        integer labels on the major ticks."""
        ax.set_xticks(np.arange(lo, hi_x + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(lo, hi_y + 1) - 0.5, minor=True)
        step = 1 if max(hi_x, hi_y) - lo <= 12 else 2
        ax.set_xticks(np.arange(lo, hi_x, step))
        ax.set_yticks(np.arange(lo, hi_y, step))
        ax.set_xlim(lo - 0.5, hi_x - 0.5)
        ax.set_ylim(hi_y - 0.5, lo - 0.5)

    # -- update -------------------------------------------------------------------------------
    def _settings(self) -> tuple[int, int, int, int, int]:
        return (int(self.n.value), int(self.k.value), int(self.stride.value),
                int(self.padding.value), int(self.output_padding.value))

    def _sync_selection(self, n: int) -> None:
        """Keep the row / col sliders inside 0..n-1 without triggering updates."""
        with self.syncing():
            for s in (self.row, self.col):
                if s.max != n - 1:
                    if s.value > n - 1:
                        s.value = n - 1
                    s.max = n - 1

    def update(self) -> None:
        if self._syncing:
            return
        n, k, s, p, op = self._settings()
        self._sync_selection(n)
        i, j = int(self.row.value), int(self.col.value)
        shape, torch_out, torch_msg = torch_output_shape(n, k, s, p, op)
        self.torch_shape = shape
        raw = (n - 1) * s - 2 * p + k + op
        if op >= s:
            out, message = None, f"output_padding = {op} must be smaller than the stride S = {s}"
        elif raw < 1:
            out, message = None, (f"the padding crops everything: (n - 1)*S - 2*P + K + "
                                  f"output_padding = {raw} < 1")
        else:
            out, message = transposed_output_size(n, k, s, p, op), ""
        self.valid = out is not None
        self.message = message
        self.out = out

        # input panel
        sel = np.zeros((n, n))
        sel[i, j] = 1.0
        self.in_im.set_data(sel)
        self.in_im.set_extent((-0.5, n - 0.5, n - 0.5, -0.5))
        for a in range(MAX_N):
            for b in range(MAX_N):
                t = self.in_texts[a][b]
                t.set_visible(a < n and b < n)
                t.set_text(f"{a},{b}")
                t.set_color("white" if (a, b) == (i, j) else "0.25")
        self.sel_in_box.set_xy((j - 0.5, i - 0.5))
        self._grid(self.ax_in, 0, n, n)
        self.in_title.set_text(f"input {n}×{n}\nselected cell ({i}, {j})")

        lines = ["out = (n - 1)*S - 2*P + K + output_padding"]
        canvas = (n - 1) * s + k  # what the kernel copies cover, before cropping
        (r0, r1), (c0, c1) = stamp_span(i, k, s, p), stamp_span(j, k, s, p)
        self.span = ((r0, r1), (c0, c1))
        if self.valid:
            for ax in (self.ax_out, self.ax_cnt):
                ax.set_visible(True)
            self.message_text.set_visible(False)
            lines.append(f"    = ({n} - 1)*{s} - 2*{p} + {k} + {op} = {out}")
            ok = shape == (1, 1, out, out)
            lines.append(f"F.conv_transpose2d: output shape {shape}  "
                         + ("✓ matches" if ok else "✗ DIFFERS"))
            counts = stamp_counts(n, k, s, p, op)
            self.counts = counts
            self.counts_match_torch = torch_out is not None and np.array_equal(counts, torch_out)
            lo, hi = -p, max(out, canvas - p)
            # tints over [lo, hi): output proper, cropped by padding, added by output_padding
            idx = np.arange(lo, hi)
            in_out = (idx >= 0) & (idx < out)
            in_canvas = idx < canvas - p
            both_out = in_out[:, None] & in_out[None, :]
            both_canvas = in_canvas[:, None] & in_canvas[None, :]
            tint = np.zeros((hi - lo, hi - lo, 4))
            tint[both_canvas & ~both_out] = CROP_TINT
            tint[both_out] = OUT_TINT
            tint[both_out & ~both_canvas] = EXTRA_TINT
            self.out_im.set_data(tint)
            self.out_im.set_extent((lo - 0.5, hi - 0.5, hi - 0.5, lo - 0.5))
            self._grid(self.ax_out, lo, hi, hi)
            for q, box in enumerate(self.stamp_boxes):
                a, b = divmod(q, MAX_N)
                box.set_visible(a < n and b < n)
                if a < n and b < n:
                    box.set_bounds(b * s - p - 0.5, a * s - p - 0.5, k, k)
            self.sel_stamp.set_visible(True)
            self.sel_stamp.set_bounds(c0 - 0.5, r0 - 0.5, k, k)
            for a in range(MAX_K):
                for b in range(MAX_K):
                    t = self.tap_texts[a][b]
                    t.set_visible(a < k and b < k)
                    t.set_position((c0 + b, r0 + a))
                    t.set_fontsize(7 if hi - lo <= 12 else 5)
                    t.set_text(f"w{a}{b}" if hi - lo <= 14 else f"{a}{b}")
            self.out_border.set_visible(True)
            self.out_border.set_bounds(-0.5, -0.5, out, out)
            self.out_title.set_text(f"output {out}×{out}: {n}×{n} copies of the {k}×{k} kernel, "
                                    f"{s} apart")
            # overlap counts
            self.count_im.set_data(counts)
            self.count_im.set_extent((-0.5, out - 0.5, out - 0.5, -0.5))
            self.count_im.set_clim(0, max(int(counts.max()), 1))
            fs = 9 if out <= 8 else 7 if out <= 14 else 5.5
            cmax = max(int(counts.max()), 1)
            for a in range(MAX_OUT):
                for b in range(MAX_OUT):
                    t = self.count_texts[a][b]
                    vis = a < out and b < out
                    t.set_visible(vis)
                    if vis:
                        t.set_text(str(counts[a, b]))
                        t.set_fontsize(fs)
                        t.set_color("white" if counts[a, b] > 0.6 * cmax else "black")
            self._grid(self.ax_cnt, 0, out, out)
            self.count_title.set_text("kernel copies overlapping at each output position")
            vals = np.unique(counts[counts > 0]) if (counts > 0).any() else np.array([0])
            rows_in = f"rows {max(r0, 0)}..{min(r1, out) - 1}" if min(r1, out) > max(r0, 0) \
                else "no rows"
            cols_in = f"columns {max(c0, 0)}..{min(c1, out) - 1}" if min(c1, out) > max(c0, 0) \
                else "no columns"
            lines.append(f"input ({i}, {j}) stamps output rows {r0}..{r1 - 1}, columns "
                         f"{c0}..{c1 - 1}; inside the output: {rows_in}, {cols_in}")
            uneven = len(vals) > 1 and k % s != 0
            if k < s:
                note = f"K = {k} < S = {s}: gaps between the copies (zeros in the output)"
            elif k % s:
                note = (f"K mod S = {k % s} ≠ 0: copies overlap unevenly "
                        f"({'/'.join(str(v) for v in vals)}), a checkerboard")
            else:
                note = f"K mod S = 0: every position is covered by {vals.max()} copies (even)"
                if len(vals) > 1:
                    note += " inside, fewer at the border"
            lines.append(note)
            self.uneven = uneven
            self.warning_text.set_text(note)
            self.legend_text.set_text(
                "dashed: every kernel copy;  orange: the copy of the selected cell, x[i, j]·w "
                "(tap w_ab at each position)\nblue: stamped, then cropped by the padding;  "
                "light orange: added by output_padding (no copy reaches it)")
        else:
            self.counts = None
            self.counts_match_torch = False
            self.uneven = False
            lines.append(f"    = ({n} - 1)*{s} - 2*{p} + {k} + {op} = {raw}: refused")
            lines.append("F.conv_transpose2d refuses it too" if shape is None
                         else f"F.conv_transpose2d: output shape {shape}")
            lines.append(message)
            if torch_msg:
                lines.append("torch says: " + torch_msg)
            for ax in (self.ax_out, self.ax_cnt):
                ax.set_visible(False)
            self.message_text.set_visible(True)
            self.message_text.set_text(
                "No transposed convolution for this setting:\n" + textwrap.fill(message, 60)
                + ("\n\ntorch:\n" + textwrap.fill(torch_msg, 70) if torch_msg else ""))
            self.out_im.set_data(np.zeros((1, 1, 4)))
            for box in self.stamp_boxes:
                box.set_visible(False)
            self.sel_stamp.set_visible(False)
            for row in self.tap_texts:
                for t in row:
                    t.set_visible(False)
            self.out_border.set_visible(False)
            self.count_im.set_data(np.zeros((1, 1)))
            for row in self.count_texts:
                for t in row:
                    t.set_visible(False)
            self.out_title.set_text("no output for this setting")
            self.count_title.set_text("")
            self.warning_text.set_text("")
            self.legend_text.set_text("")
        self.formula_lines = lines
        self.formula_text.set_text("\n".join(lines[:3]))
        color = "#b00" if not self.valid else "inherit"
        self.readout.value = ("<pre style='margin:0; color:" + color + "'>"
                              + html.escape("\n".join(lines)) + "</pre>")
        self.render()
