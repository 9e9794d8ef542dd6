"""Lecture 18's widgets: robust regression by EM, step by step, and a template tracker frame by
frame.

    view = GUMEMView()
    view            # last line of a cell: live in JupyterLab, a static PNG elsewhere

GUMEMView: a line fitted by the Gaussian-uniform mixture (dlcv.beyond.gum). Controls (attributes):
view.fraction (share of outliers), view.kind (uniform or clustered outliers), view.init (where EM
starts) and view.iteration (which EM iteration to show). Left: the points coloured by their
responsibility (the probability of being an inlier), the true line, least squares and the EM
line. Middle: the histogram of residuals of the EM line with the fitted mixture density. Right:
the log-likelihood and the inlier share rho over the iterations, the current one marked.

    view = TrackerView(sequence, {"NCC": ncc_map, ...})

TrackerView: a tracker replayed frame by frame (dlcv.beyond.tracking). Controls: view.frame, view.method.
Left: the frame with the true box, the tracker's box, its search window and its path so far.
Middle: the search window. Right: the score map with its peak (the tracker's choice) and the
true offset. Bottom: the centre error of every method over the video, the current frame marked.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.patches import Rectangle

from dlcv.beyond.gum import OUTLIER_KINDS, gum_em, least_squares, line_with_outliers
from dlcv.plots import CLASS_COLORS
from dlcv.widget import FigureView, dropdown, slider

EM_ITERATIONS = 20
NUM_POINTS = 120
RESP_CMAP = LinearSegmentedColormap.from_list("resp", [CLASS_COLORS[5], "#dddddd",
                                                       CLASS_COLORS[0]])


class GUMEMView(FigureView):
    """EM for a Gaussian-uniform mixture line fit, one iteration at a time.

    Args:
        fraction: share of outliers in [0, 0.7]; kind: "uniform" or "clustered";
        init: "least-squares" or "flat"; iteration: 0..20; seed: the data.
    State: fit (the dlcv.beyond.gum.GUMFit of the current data), data (dlcv.beyond.gum.LineData), stats
    (dict: slope, intercept, sigma, rho, loglik, ls_slope, ls_intercept, labelled_right).
    Artists: points (PathCollection), true_line, ls_line, em_line, hist (StepPatch), density,
    ll_line, rho_line, ll_marker, rho_marker.
    """

    def __init__(self, fraction: float = 0.3, kind: str = "uniform", init: str = "least-squares",
                 iteration: int = 0, seed: int = 0):
        if not 0 <= fraction <= 0.7:
            raise ValueError(f"GUMEMView: fraction must be in [0, 0.7], got {fraction!r}")
        if kind not in OUTLIER_KINDS:
            raise ValueError(f"GUMEMView: kind must be one of {OUTLIER_KINDS}, got {kind!r}")
        if init not in ("least-squares", "flat"):
            raise ValueError(f"GUMEMView: init must be 'least-squares' or 'flat', got {init!r}")
        if not (isinstance(iteration, int) and 0 <= iteration <= EM_ITERATIONS):
            raise ValueError(f"GUMEMView: iteration must be an int in 0..{EM_ITERATIONS}, "
                             f"got {iteration!r}")
        super().__init__(figsize=(13.0, 4.2))
        self.seed = seed
        self._cache: dict = {}

        self.fraction = slider("outlier fraction", float(fraction), 0.0, 0.7, 0.05,
                               readout_format=".2f", width="300px")
        self.kind = dropdown("outliers", list(OUTLIER_KINDS), kind, width="200px")
        self.init = dropdown("EM starts from", ["least-squares", "flat"], init, width="260px")
        self.iteration = slider("EM iteration", iteration, 0, EM_ITERATIONS, 1, width="420px",
                                continuous_update=True)
        self.watch(self.fraction, self.kind, self.init, self.iteration)

        gs = self.fig.add_gridspec(1, 3, width_ratios=[1.25, 1.0, 1.0], left=0.05, right=0.93,
                                   bottom=0.13, top=0.9, wspace=0.38)
        self.ax_fit = self.fig.add_subplot(gs[0])
        self.ax_res = self.fig.add_subplot(gs[1])
        self.ax_ll = self.fig.add_subplot(gs[2])

        xs = np.array([-2.6, 2.6])
        self.points = self.ax_fit.scatter(np.zeros(NUM_POINTS), np.zeros(NUM_POINTS),
                                          c=np.zeros(NUM_POINTS), cmap=RESP_CMAP, vmin=0, vmax=1,
                                          s=16, edgecolors="k", linewidths=0.3, zorder=3)
        (self.true_line,) = self.ax_fit.plot(xs, xs, "k--", lw=1, label="true line")
        (self.ls_line,) = self.ax_fit.plot(xs, xs, color="0.5", lw=1.5, label="least squares")
        (self.em_line,) = self.ax_fit.plot(xs, xs, color=CLASS_COLORS[2], lw=2.5,
                                           label="Gaussian-uniform EM")
        self.ax_fit.set_xlim(*xs)
        self.ax_fit.set_ylim(-3.3, 3.3)
        self.ax_fit.set_xlabel("x")
        self.ax_fit.set_ylabel("y")
        self.ax_fit.legend(fontsize=7, loc="upper left")
        cb = self.fig.colorbar(self.points, ax=self.ax_fit, fraction=0.04, pad=0.01)
        cb.set_label("P(inlier)", fontsize=8, labelpad=-2)
        self.fit_title = self.ax_fit.set_title("", fontsize=10)

        self.edges = np.linspace(-4, 4, 41)
        self.hist = self.ax_res.stairs(np.zeros(40), self.edges, fill=True, color="0.75",
                                       label="residuals")
        self.grid = np.linspace(-4, 4, 400)
        (self.density,) = self.ax_res.plot(self.grid, 0 * self.grid, color=CLASS_COLORS[2],
                                           lw=2, label=r"$\rho\,N(0,\sigma^2) + (1-\rho)/\gamma$")
        (self.uniform_line,) = self.ax_res.plot(self.grid, 0 * self.grid, ":",
                                                color=CLASS_COLORS[5], lw=1.5,
                                                label=r"outlier part $(1-\rho)/\gamma$")
        self.ax_res.set_xlabel("residual  y - (a x + b)")
        self.ax_res.set_ylabel("density")
        self.ax_res.legend(fontsize=7, loc="upper right")
        self.res_title = self.ax_res.set_title("", fontsize=10)

        its = np.arange(EM_ITERATIONS + 1)
        (self.ll_line,) = self.ax_ll.plot(its, 0 * its, "o-", ms=3, color=CLASS_COLORS[0],
                                          label="log-likelihood")
        (self.ll_marker,) = self.ax_ll.plot([0], [0], "o", ms=10, mfc="none", mec="k", mew=1.5)
        self.ax_rho = self.ax_ll.twinx()
        (self.rho_line,) = self.ax_rho.plot(its, 0 * its, "s-", ms=3, color=CLASS_COLORS[1],
                                            label=r"$\rho$ (inlier share)")
        (self.rho_marker,) = self.ax_rho.plot([0], [0], "s", ms=10, mfc="none", mec="k", mew=1.5)
        self.ax_rho.set_ylim(0, 1.05)
        self.ax_rho.set_ylabel(r"$\rho$", color=CLASS_COLORS[1])
        self.ax_ll.set_xlabel("EM iteration")
        self.ax_ll.set_ylabel("log-likelihood", color=CLASS_COLORS[0])
        self.ax_ll.set_title("EM never lowers the likelihood", fontsize=10)
        lines = [self.ll_line, self.rho_line]
        self.ax_ll.legend(lines, [ln.get_label() for ln in lines], fontsize=7, loc="lower right")
        self.update()

    def control_rows(self):
        return [[self.fraction, self.kind, self.init], [self.iteration]]

    def current(self):
        """(data, fit, least-squares (slope, intercept)) for the current controls, cached."""
        key = (round(float(self.fraction.value), 3), self.kind.value, self.init.value)
        if key not in self._cache:
            d = line_with_outliers(NUM_POINTS, key[0], seed=self.seed, kind=key[1])
            fit = gum_em(d.x, d.y, EM_ITERATIONS, init=key[2])
            self._cache[key] = (d, fit, least_squares(d.x, d.y))
        return self._cache[key]

    def update(self) -> None:
        d, fit, (a_ls, b_ls) = self.current()
        k = int(self.iteration.value)
        a, b, sigma, rho = fit.slope[k], fit.intercept[k], fit.sigma[k], fit.rho[k]
        r = fit.resp[k]
        xs = np.array(self.ax_fit.get_xlim())
        self.points.set_offsets(np.c_[d.x, d.y])
        self.points.set_array(r)
        self.true_line.set_data(xs, d.slope * xs + d.intercept)
        self.ls_line.set_data(xs, a_ls * xs + b_ls)
        self.em_line.set_data(xs, a * xs + b)
        right = float(np.mean((r > 0.5) == d.inlier))
        self.fit_title.set_text(f"iteration {k}: {100 * right:.0f}% of points labelled right")

        res = d.y - (a * d.x + b)
        h, _ = np.histogram(np.clip(res, -3.99, 3.99), self.edges, density=True)
        self.hist.set_data(h, self.edges)
        g = np.exp(-0.5 * (self.grid / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
        dens = rho * g + (1 - rho) / fit.gamma
        self.density.set_ydata(dens)
        self.uniform_line.set_ydata(np.full_like(self.grid, (1 - rho) / fit.gamma))
        self.ax_res.set_ylim(0, 1.15 * max(h.max(), dens.max(), 0.1))
        self.res_title.set_text(rf"$\sigma$ = {sigma:.3f},  $\rho$ = {rho:.2f},  "
                                rf"$\gamma$ = {fit.gamma:.1f}")

        ll = fit.loglik
        self.ll_line.set_ydata(ll)
        self.ll_marker.set_data([k], [ll[k]])
        pad = 0.05 * (ll.max() - ll.min() + 1e-9)
        self.ax_ll.set_ylim(ll.min() - pad, ll.max() + pad)
        self.rho_line.set_ydata(fit.rho)
        self.rho_marker.set_data([k], [rho])

        self.stats = {"slope": a, "intercept": b, "sigma": sigma, "rho": rho, "loglik": ll[k],
                      "ls_slope": a_ls, "ls_intercept": b_ls, "labelled_right": right}
        self.readout.value = (
            f"<b>iteration {k}</b>: EM line y = {a:.3f} x + {b:.3f}; least squares "
            f"y = {a_ls:.3f} x + {b_ls:.3f}; true line y = {d.slope:.2f} x + {d.intercept:.2f}. "
            f"&sigma; = {sigma:.3f}, &rho; = {rho:.2f} (true inlier share "
            f"{d.inlier.mean():.2f}), log-likelihood {ll[k]:.1f}. "
            f"{html.escape(f'{100 * right:.0f}%')} of the points are on the right side of "
            f"responsibility 0.5.")
        self.render()


class TrackerView(FigureView):
    """A template tracker replayed frame by frame, for several similarity functions.

    Args:
        sequence: a dlcv.beyond.tracking.TrackingSequence (default: make_sequence()).
        methods: {name: score_fn(template, window) -> map}, default raw correlation and NCC.
        search: the side of the search window (pixels).
        frame: the frame shown first (1..T-1).
        results: {name: TrackResult} already computed by track(sequence, methods[name], search)
            for some of the methods (the others are tracked here).
        threshold: the centre error (pixels) marked on the error panel; the readout gives the
            share of frames within it.
    State: results ({name: TrackResult}), errors ({name: (T,) centre errors}).
    Artists: frame_image, true_box, pred_box, window_box, path_line, window_image, map_image,
    peak_marker, truth_marker, error_lines ({name: Line2D}), frame_line.
    """

    def __init__(self, sequence=None, methods: dict[str, Callable] | None = None,
                 search: int = 64, frame: int = 1, results: dict | None = None,
                 threshold: float = 5.0):
        from dlcv.beyond.tracking import centre_errors, correlation_map, make_sequence, ncc_map, track

        self.sequence = make_sequence() if sequence is None else sequence
        methods = methods or {"raw correlation": correlation_map, "NCC": ncc_map}
        T = len(self.sequence)
        if not (isinstance(frame, int) and 1 <= frame < T):
            raise ValueError(f"TrackerView: frame must be an int in 1..{T - 1}, got {frame!r}")
        super().__init__(figsize=(13.0, 6.2))
        self.search = search
        if not threshold > 0:
            raise ValueError(f"TrackerView: threshold must be > 0 pixels, got {threshold!r}")
        self.threshold = float(threshold)
        given = results or {}
        if set(given) - set(methods):
            raise ValueError(f"TrackerView: results has methods that are not in methods: "
                             f"{sorted(set(given) - set(methods))}")
        self.results = {n: given[n] if n in given else track(self.sequence, f, search=search)
                        for n, f in methods.items()}
        self.errors = {n: centre_errors(r.centres, self.sequence.centres)
                       for n, r in self.results.items()}
        names = list(methods)
        self.colors = {n: CLASS_COLORS[(i + 1) % len(CLASS_COLORS)] for i, n in enumerate(names)}

        self.frame = slider("frame", frame, 1, T - 1, 1, width="420px", continuous_update=True)
        self.method = dropdown("similarity", names, names[-1], width="260px")
        self.watch(self.frame, self.method)

        gs = self.fig.add_gridspec(2, 3, height_ratios=[1.6, 1.0], width_ratios=[1.6, 1, 1],
                                   left=0.06, right=0.98, bottom=0.09, top=0.93, hspace=0.42,
                                   wspace=0.2)
        self.ax_frame = self.fig.add_subplot(gs[0, 0])
        self.ax_win = self.fig.add_subplot(gs[0, 1])
        self.ax_map = self.fig.add_subplot(gs[0, 2])
        self.ax_err = self.fig.add_subplot(gs[1, :])

        seq = self.sequence
        size = seq.size
        self.frame_image = self.ax_frame.imshow(seq.frames[frame])
        self.true_box = Rectangle((0, 0), size, size, fill=False, ec="w", lw=1.5, ls="--")
        self.pred_box = Rectangle((0, 0), size, size, fill=False, ec="y", lw=2)
        self.window_box = Rectangle((0, 0), search, search, fill=False, ec="w", lw=1, ls=":")
        for p in (self.window_box, self.true_box, self.pred_box):
            self.ax_frame.add_patch(p)
        (self.path_line,) = self.ax_frame.plot([], [], "-", color="y", lw=1.2)
        self.ax_frame.axis("off")
        self.frame_title = self.ax_frame.set_title("", fontsize=10)

        self.window_image = self.ax_win.imshow(np.zeros((search, search, 3)))
        self.ax_win.axis("off")
        self.ax_win.set_title("search window", fontsize=10)
        n = search - size + 1
        self.map_image = self.ax_map.imshow(np.zeros((n, n)), cmap="viridis")
        (self.peak_marker,) = self.ax_map.plot([], [], "+", color="r", ms=14, mew=2,
                                               label="peak (tracker's choice)")
        (self.truth_marker,) = self.ax_map.plot([], [], "o", mfc="none", mec=CLASS_COLORS[3], ms=10,
                                                mew=2,
                                                label="true offset")
        self.ax_map.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=1,
                           framealpha=0.9)
        self.ax_map.set_xticks([])
        self.ax_map.set_yticks([])
        self.map_title = self.ax_map.set_title("", fontsize=10)

        t_axis = np.arange(T)
        self.error_lines = {}
        for name in names:  # errors below half a pixel are drawn at 0.5 on the log axis
            (self.error_lines[name],) = self.ax_err.plot(
                t_axis, np.maximum(self.errors[name], 0.5), "-", color=self.colors[name], lw=1.5,
                label=name)
        self.ax_err.axhline(threshold, color="0.4", ls=":", lw=1, label=f"{threshold:g} px")
        if seq.occluded.any():
            occ = np.flatnonzero(seq.occluded)
            self.ax_err.axvspan(occ[0] - 0.5, occ[-1] + 0.5, color="0.9", zorder=0,
                                label="behind the post")
        self.frame_line = self.ax_err.axvline(frame, color="k", lw=1)
        self.ax_err.set_yscale("log")
        top = max(float(max(e.max() for e in self.errors.values())), 10.0)
        self.ax_err.set_ylim(0.4, 2 * top)
        self.ax_err.set_xlim(0, T - 1)
        self.ax_err.set_xlabel("frame")
        self.ax_err.set_ylabel("centre error (pixels)")
        self.ax_err.legend(fontsize=7, loc="upper left", ncol=len(names) + 2, framealpha=0.9)
        self.update()

    def control_rows(self):
        return [[self.frame, self.method]]

    def update(self) -> None:
        from dlcv.beyond.tracking import crop

        seq, name = self.sequence, self.method.value
        t = int(self.frame.value)
        res = self.results[name]
        size, S = seq.size, self.search
        col = self.colors[name]
        self.frame_image.set_data(seq.frames[t])
        tr, tc = seq.centres[t]
        pr, pc = res.centres[t]
        wr, wc = res.window_centres[t]
        self.true_box.set_xy((tc - size / 2, tr - size / 2))
        self.pred_box.set_xy((pc - size / 2, pr - size / 2))
        self.pred_box.set_edgecolor(col)
        self.window_box.set_xy((round(wc - S / 2) - 0.5, round(wr - S / 2) - 0.5))
        self.path_line.set_data(res.centres[:t + 1, 1], res.centres[:t + 1, 0])
        self.path_line.set_color(col)
        err = self.errors[name][t]
        self.frame_title.set_text(f"frame {t}: white dashed = truth, coloured = {name} "
                                  f"(error {err:.1f} px)")

        self.window_image.set_data(crop(seq.frames[t], (wr, wc), S))
        m = res.maps[t - 1]
        self.map_image.set_data(m)
        self.map_image.set_clim(float(m.min()), float(m.max()))
        i, j = np.unravel_index(int(np.argmax(m)), m.shape)
        self.peak_marker.set_data([j], [i])
        top, left = round(wr - S / 2), round(wc - S / 2)
        ti, tj = tr - size / 2 - top, tc - size / 2 - left
        inside = 0 <= ti <= m.shape[0] - 1 and 0 <= tj <= m.shape[1] - 1
        self.truth_marker.set_data([tj] if inside else [], [ti] if inside else [])
        self.map_title.set_text(f"{name} score map (peak {m[i, j]:.3g})")

        for n, line in self.error_lines.items():
            line.set_linewidth(2.5 if n == name else 1.0)
        self.frame_line.set_xdata([t, t])
        self.stats = {"frame": t, "method": name, "error": float(err), "peak": (int(i), int(j)),
                      "truth_in_window": bool(inside)}
        th = self.threshold
        summary = ", ".join(f"{n}: {np.mean(e[1:] <= th):.0%}" for n, e in self.errors.items())
        self.readout.value = (
            f"<b>frame {t}</b>, {html.escape(name)}: centre error <b>{err:.1f} px</b>. "
            f"Frames tracked within {th:g} px over the whole video: {html.escape(summary)}.")
        self.render()
