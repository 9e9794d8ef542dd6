"""Lecture 08's widget: a threshold slider that moves along the precision-recall curve.

    view = PRThresholdView()
    view            # last line of a cell: live in JupyterLab, a static PNG elsewhere

Controls (attributes): view.source (which scores: a real softmax classifier on the digits at three
levels of quality, or synthetic Gaussian scores), view.positive (the digit called positive; off for
synthetic scores), view.threshold (predict positive when score >= threshold) and the button
view.best_f1 (moves the threshold to the score with the highest F1).

Left: the score histograms of positives and negatives (counts on a log axis, so that a handful of
positives stays visible next to a thousand negatives), the threshold line and the shaded
"predicted positive" side. Middle: the PR curve, its interpolated envelope (shaded: its area is the
all-point AP), the 11 recall levels of the VOC 2007 AP, iso-F1 curves, the precision of a random
ranking, and the current operating point. Right: the 2x2 confusion counts at the threshold.
All numbers come from dlcv.evaluation.metrics (counting by scikit-learn).
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
from matplotlib.patches import Polygon, Rectangle

from dlcv.evaluation.metrics import (
    ELEVEN_RECALLS,
    SCORE_SOURCES,
    average_precision,
    binary_metrics,
    confusion_counts,
    interpolated_precision,
    operating_point,
    pr_points,
    scored_set,
)
from dlcv.plots import CLASS_COLORS
from dlcv.widget import FigureView, dropdown, slider

THRESHOLD_RANGE = (-12.0, 12.0)  # digit scores are log-odds clipped to +-12
NUM_BINS = 40
POS_COLOR, NEG_COLOR = CLASS_COLORS[5], CLASS_COLORS[0]  # vermillion, blue


class PRThresholdView(FigureView):
    """Precision, recall and the confusion counts of one threshold, on the whole PR curve.

    Args:
        source: a key of dlcv.evaluation.metrics.SCORE_SOURCES.
        positive: the positive digit (0..9) for digit sources.
        threshold: the starting threshold, in THRESHOLD_RANGE.
    State: stats (dict of the current counts and rates, AP by the three methods), curve (the
    current dlcv.evaluation.metrics.PRCurve). Artists: hist_pos, hist_neg (StepPatch), span (predicted
    positive side), thr_line, pr_line, envelope, ap_area, eleven, chance_line, op_marker,
    cell_texts (dict "tp"/"fp"/"fn"/"tn" -> Text), formula_text.
    """

    def __init__(self, source: str = "digits: softmax on 8 PCA features", positive: int = 9,
                 threshold: float = 0.0):
        if source not in SCORE_SOURCES:
            raise ValueError(f"PRThresholdView: source must be one of {list(SCORE_SOURCES)}, "
                             f"got {source!r}")
        if isinstance(positive, bool) or not isinstance(positive, int) or not 0 <= positive <= 9:
            raise ValueError(f"PRThresholdView: positive must be a digit 0..9, got {positive!r}")
        lo, hi = THRESHOLD_RANGE
        if not lo <= threshold <= hi:
            raise ValueError(f"PRThresholdView: threshold must be in [{lo}, {hi}], "
                             f"got {threshold!r}")
        super().__init__(figsize=(13.0, 4.3))
        self._cache: dict = {}

        # -- controls ------------------------------------------------------------------------
        self.source = dropdown("scores", list(SCORE_SOURCES), source, width="330px")
        self.positive = dropdown("positive digit", list(range(10)), positive, width="150px")
        self.threshold = slider("threshold t", float(threshold), lo, hi, 0.1,
                                readout_format=".1f", width="420px", continuous_update=True)
        self.best_f1 = widgets.Button(description="threshold of best F1",
                                      layout=widgets.Layout(width="170px"))
        self.best_f1.on_click(lambda _b: self._go_to_best_f1())
        self.watch(self.source, self.positive, self.threshold)

        # -- figure --------------------------------------------------------------------------
        gs = self.fig.add_gridspec(1, 3, width_ratios=[1.25, 1.0, 0.62], left=0.05, right=0.99,
                                   bottom=0.13, top=0.9, wspace=0.28)
        self.ax_hist = self.fig.add_subplot(gs[0])
        self.ax_pr = self.fig.add_subplot(gs[1])
        self.ax_cm = self.fig.add_subplot(gs[2])

        edges = np.linspace(0, 1, NUM_BINS + 1)
        zeros = np.zeros(NUM_BINS)
        self.span = Rectangle((0, 0), 1, 1, transform=self.ax_hist.get_xaxis_transform(),
                              color="0.85", zorder=0)
        self.ax_hist.add_patch(self.span)
        self.hist_neg = self.ax_hist.stairs(zeros, edges, baseline=0.5, fill=True, alpha=0.45,
                                            color=NEG_COLOR, label="negatives")
        self.hist_pos = self.ax_hist.stairs(zeros, edges, baseline=0.5, fill=True, alpha=0.55,
                                            color=POS_COLOR, label="positives")
        self.thr_line = self.ax_hist.axvline(0, color="k", lw=1.8)
        self.span_text = self.ax_hist.text(0, 0.97, "negative ←  → positive",
                                           transform=self.ax_hist.get_xaxis_transform(),
                                           ha="center", va="top", fontsize=8,
                                           bbox=dict(boxstyle="round,pad=0.2", fc="w",
                                                     ec="0.6", lw=0.6))
        self.ax_hist.set_yscale("log")
        self.ax_hist.set_ylabel("count (log scale)")
        self.hist_title = self.ax_hist.set_title("", fontsize=10)
        self.ax_hist.legend(loc="upper left", fontsize=8, framealpha=0.9,
                            bbox_to_anchor=(0.0, 0.9))

        r = np.linspace(0.01, 1, 200)
        for f in (0.2, 0.4, 0.6, 0.8):
            ok = r > f / 2 + 1e-3
            p = f * r[ok] / (2 * r[ok] - f)  # F1 = f  <=>  p = f r / (2 r - f)
            keep = p <= 1.05
            self.ax_pr.plot(r[ok][keep], p[keep], color="0.8", lw=0.8, zorder=0)
            self.ax_pr.text(1.0, f / (2 - f), f"F1={f}", fontsize=7, color="0.55",
                            ha="right", va="bottom")
        self.ap_area = Polygon(np.zeros((3, 2)), closed=True, color=CLASS_COLORS[2], alpha=0.15,
                               lw=0, label="area = all-point AP")
        self.ax_pr.add_patch(self.ap_area)
        (self.chance_line,) = self.ax_pr.plot([0, 1], [0, 0], ":", color="0.4", lw=1,
                                              label="random ranking")
        (self.pr_line,) = self.ax_pr.plot([], [], "-", color="0.25", lw=1.2,
                                          label="PR curve")
        (self.envelope,) = self.ax_pr.plot([], [], drawstyle="steps-pre", color=CLASS_COLORS[2],
                                           lw=1.8, label="interpolated precision")
        self.eleven = self.ax_pr.scatter(ELEVEN_RECALLS, np.zeros(11), s=18, marker="s",
                                         color=CLASS_COLORS[2], edgecolors="k", linewidths=0.5,
                                         zorder=4, label="11 VOC-2007 levels")
        (self.op_marker,) = self.ax_pr.plot([], [], "o", ms=11, mfc=CLASS_COLORS[1], mec="k",
                                            mew=1.5, zorder=6, label="threshold t")
        self.ax_pr.set_xlim(-0.02, 1.02)
        self.ax_pr.set_ylim(0, 1.04)
        self.ax_pr.set_xlabel("recall")
        self.ax_pr.set_ylabel("precision")
        self.pr_title = self.ax_pr.set_title("", fontsize=10)

        self.ax_cm.set_xlim(0, 2)
        self.ax_cm.set_ylim(-1.6, 3.3)
        self.ax_cm.axis("off")
        cells = {"tp": (0, 1, "#b8e0c8"), "fn": (1, 1, "#f3c9b8"),
                 "fp": (0, 0, "#f3c9b8"), "tn": (1, 0, "#b8e0c8")}
        self.cell_texts = {}
        for name, (x, y, col) in cells.items():
            self.ax_cm.add_patch(Rectangle((x + 0.03, y + 0.03), 0.94, 0.94, color=col))
            self.cell_texts[name] = self.ax_cm.text(x + 0.5, y + 0.5, "", ha="center",
                                                    va="center", fontsize=13)
        self.ax_cm.text(0.5, 2.02, "predicted +", ha="center", va="bottom", fontsize=9)
        self.ax_cm.text(1.5, 2.02, "predicted −", ha="center", va="bottom", fontsize=9)
        self.ax_cm.text(-0.04, 1.5, "actual +", ha="right", va="center", fontsize=9,
                        rotation=90)
        self.ax_cm.text(-0.04, 0.5, "actual −", ha="right", va="center", fontsize=9,
                        rotation=90)
        self.formula_text = self.ax_cm.text(1.0, 3.28, "", ha="center", va="top", fontsize=9,
                                            linespacing=1.4)
        # the PR panel's legend sits under the confusion table, where it hides nothing
        self.ax_cm.legend(*self.ax_pr.get_legend_handles_labels(), loc="lower center",
                          fontsize=8, framealpha=0.0, borderaxespad=0.0)
        self.update()

    def control_rows(self):
        return [[self.source, self.positive], [self.threshold, self.best_f1]]

    # -- data ----------------------------------------------------------------------------------
    def data(self):
        """Labels, scores and everything derived from them for the current source, cached."""
        kind = SCORE_SOURCES[self.source.value][0]
        positive = int(self.positive.value) if kind == "digits" else None
        key = (self.source.value, positive)
        if key not in self._cache:
            y, s = scored_set(self.source.value, positive or 0)
            curve = pr_points(y, s)
            lo = float(min(s.min(), -1.0))
            hi = float(max(s.max(), 1.0))
            pad = 0.03 * (hi - lo)
            edges = np.linspace(lo - pad, hi + pad, NUM_BINS + 1)
            f1 = 2 * curve.tp / (curve.tp + curve.fp + curve.num_pos)  # F1 = 2TP / (2TP+FP+FN)
            self._cache[key] = {
                "y": y, "scores": s, "curve": curve, "edges": edges,
                "hist_pos": np.histogram(s[y == 1], edges)[0].astype(float),
                "hist_neg": np.histogram(s[y == 0], edges)[0].astype(float),
                "envelope": interpolated_precision(curve.precision, curve.recall),
                "eleven": interpolated_precision(curve.precision, curve.recall, at=ELEVEN_RECALLS),
                "ap": {m: average_precision(y, s, m)
                       for m in ("all-point", "11-point", "non-interpolated")},
                "best_f1_threshold": float(curve.thresholds[int(np.argmax(f1))]),
            }
        return self._cache[key]

    @property
    def curve(self):
        return self.data()["curve"]

    def _go_to_best_f1(self) -> None:
        lo, hi = THRESHOLD_RANGE
        self.threshold.value = float(np.clip(self.data()["best_f1_threshold"], lo, hi))

    # -- update --------------------------------------------------------------------------------
    def update(self) -> None:
        kind = SCORE_SOURCES[self.source.value][0]
        self.positive.disabled = kind != "digits"
        d = self.data()
        c, t = d["curve"], float(self.threshold.value)
        edges = d["edges"]

        # histograms, threshold, predicted-positive side
        self.hist_pos.set_data(d["hist_pos"], edges)
        self.hist_neg.set_data(d["hist_neg"], edges)
        x0, x1 = min(edges[0], t - 0.3), max(edges[-1], t + 0.3)
        self.ax_hist.set_xlim(x0, x1)
        top = max(d["hist_neg"].max(), d["hist_pos"].max())
        self.ax_hist.set_ylim(0.5, top * 4)
        self.thr_line.set_xdata([t, t])
        self.span.set_x(t)
        self.span.set_width(max(x1 - t, 0))
        self.span_text.set_x(t)
        what = ("log-odds of the positive digit" if kind == "digits" else "score")
        self.ax_hist.set_xlabel(f"{what} (predict positive if score ≥ t)")
        name = (f"digit {self.positive.value} against the rest" if kind == "digits"
                else "synthetic scores")
        self.hist_title.set_text(f"{name}: {c.num_pos} positives, {c.num_neg} negatives")

        # PR curve, envelope, AP area, 11 points, operating point
        prec0 = c.precision[0]
        self.pr_line.set_data(np.r_[0.0, c.recall], np.r_[prec0, c.precision])
        env_x = np.r_[0.0, c.recall]
        env_y = np.r_[d["envelope"][0], d["envelope"]]
        self.envelope.set_data(env_x, env_y)
        # the shaded area under the steps: (x[i-1], y[i]) -> (x[i], y[i]), closed on the axis
        steps = np.stack([np.c_[env_x[:-1], env_y[1:]], np.c_[env_x[1:], env_y[1:]]], axis=1)
        self.ap_area.set_xy(np.r_[[[0.0, 0.0]], steps.reshape(-1, 2), [[env_x[-1], 0.0]]])
        self.eleven.set_offsets(np.c_[ELEVEN_RECALLS, d["eleven"]])
        rate = c.num_pos / (c.num_pos + c.num_neg)
        self.chance_line.set_ydata([rate, rate])
        k = operating_point(c, t)
        if k is None:
            self.op_marker.set_data([0.0], [1.0])
            self.op_marker.set_visible(False)
        else:
            self.op_marker.set_data([c.recall[k]], [c.precision[k]])
            self.op_marker.set_visible(True)
        ap = d["ap"]
        self.pr_title.set_text(f"AP: all-point {ap['all-point']:.3f}, "
                               f"11-point {ap['11-point']:.3f}")

        # confusion counts
        counts = confusion_counts(d["y"], d["scores"], t)
        m = binary_metrics(counts)
        for name in ("tp", "fp", "fn", "tn"):
            self.cell_texts[name].set_text(f"{name.upper()}\n{m[name]}")

        def fmt(v):
            return "undefined" if np.isnan(v) else f"{v:.3f}"

        self.formula_text.set_text(
            f"precision = {m['tp']}/{m['tp'] + m['fp']} = {fmt(m['precision'])}\n"
            f"recall = {m['tp']}/{m['tp'] + m['fn']} = {fmt(m['recall'])}\n"
            f"F1 = {fmt(m['f'])}")

        self.stats = {**m, "threshold": t, "point": k, "ap_all_point": ap["all-point"],
                      "ap_11_point": ap["11-point"], "ap_sklearn": ap["non-interpolated"],
                      "num_pos": c.num_pos, "num_neg": c.num_neg}
        prob = (f" (probability {1 / (1 + np.exp(-t)):.3f})" if kind == "digits" else "")
        self.readout.value = (
            f"<b>t = {t:.2f}</b>{html.escape(prob)}: "
            f"TP {m['tp']}, FP {m['fp']}, FN {m['fn']}, TN {m['tn']}. "
            f"Precision <b>{fmt(m['precision'])}</b>, recall <b>{fmt(m['recall'])}</b>, "
            f"F1 <b>{fmt(m['f'])}</b>, accuracy {fmt(m['accuracy'])}. "
            f"AP: all-point <b>{ap['all-point']:.3f}</b>, 11-point <b>{ap['11-point']:.3f}</b>, "
            f"non-interpolated (scikit-learn) {ap['non-interpolated']:.3f}. "
            f"A random ranking has precision {rate:.3f} at every recall."
        )
        self.render()
