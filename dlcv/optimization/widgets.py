"""Lecture 03's widget: six optimizers racing on a 2-D loss surface.

    view = OptimizerTrajectoryView()
    view            # last line of a cell

Left: the contour lines of a surface from dlcv.optimization.landscapes (the banana by default), its minima
(gold stars), the start (black circle) and one path per selected optimizer, one dot per step.
Right: the loss at every step, one line per optimizer. Below: per optimizer the final loss, the
distance to the nearest minimum, and whether the run diverged.

The runs are torch.optim's (dlcv.optimization.landscapes.trajectory). SGD, Momentum and Nesterov take steps
proportional to the gradient, AdaGrad, RMSProp and Adam divide the gradient by a running
magnitude, so their steps are measured in parameter units: one learning rate cannot suit both,
and the widget has one slider for each family.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from dlcv.optimization import landscapes
from dlcv.optimization.landscapes import OPTIMIZER_COLORS, OPTIMIZERS, SGD_FAMILY, SURFACES
from dlcv.widget import FigureView, dropdown, slider

DEFAULT_OPTIMIZERS = ("SGD", "Momentum", "Adam")
DECAY_CHOICES = (0.9, 0.95, 0.99, 0.995, 0.999, 0.9999)  # for beta2 and RMSProp's alpha
GRID_STEPS = 160
LOSS_FLOOR = 1e-16  # losses are drawn at least this large on a log axis
REACHED = 1e-2  # a run "reached" a minimum when it ends closer than this


class OptimizerTrajectoryView(FigureView):
    """Paths of SGD, Momentum, Nesterov, AdaGrad, RMSProp and Adam on a 2-D surface.

    Controls (attributes): surface, start (the surface's named start points), optimizers
    (which ones are drawn; a SelectMultiple), lr_sgd (learning rate of SGD/Momentum/Nesterov),
    lr_adaptive (of AdaGrad/RMSProp/Adam), momentum, beta1, beta2 (Adam), alpha (RMSProp's decay
    rate), steps. Choosing a surface also sets its start options and default learning rates.
    State: runs (optimizer name -> landscapes.Run of the drawn optimizers).
    Artists: paths, ends, loss_lines (dicts by optimizer), start_marker, minima_marker,
    saddle_marker, contours (the filled ContourSet) and contour_lines.
    """

    def __init__(self, surface: str = "banana", start: str | None = None,
                 optimizers=DEFAULT_OPTIMIZERS, momentum: float = 0.9, beta1: float = 0.9,
                 beta2: float = 0.999, alpha: float = 0.99):
        super().__init__(figsize=(11.0, 4.7))
        s = landscapes.get_surface(surface)
        if start is not None and start not in s.starts:
            raise ValueError(f"OptimizerTrajectoryView: start must be one of {tuple(s.starts)}, "
                             f"got {start!r}")
        bad = [o for o in optimizers if o not in OPTIMIZERS]
        if bad:
            raise ValueError(f"OptimizerTrajectoryView: optimizers must come from {OPTIMIZERS}, "
                             f"got {bad}")
        for name, v in (("beta2", beta2), ("alpha", alpha)):
            if v not in DECAY_CHOICES:
                raise ValueError(f"OptimizerTrajectoryView: {name} must be one of {DECAY_CHOICES}")
        self._cache: dict[tuple, landscapes.Run] = {}
        self.runs: dict[str, landscapes.Run] = {}

        # -- controls ------------------------------------------------------------------------
        self.surface = dropdown("surface", tuple(SURFACES), s.name, width="250px")
        self.start = dropdown("start", tuple(s.starts), start or next(iter(s.starts)),
                              width="250px")
        self.steps = slider("steps", s.steps, 10, 500, 10, width="300px")
        self.optimizers = widgets.SelectMultiple(
            options=OPTIMIZERS, value=tuple(o for o in OPTIMIZERS if o in optimizers), rows=6,
            description="optimizers", style={"description_width": "initial"},
            layout=widgets.Layout(width="210px"))
        self.lr_sgd = slider("lr (SGD, Momentum, Nesterov)", s.lr_sgd, -5, 0, 0.05, ".1e",
                             log=True, width="360px")
        self.momentum = slider("momentum ρ", momentum, 0.0, 0.99, 0.01, ".2f", width="360px")
        self.lr_adaptive = slider("lr (AdaGrad, RMSProp, Adam)", s.lr_adaptive, -3, 0.5, 0.05,
                                  ".1e", log=True, width="360px")
        self.beta1 = slider("Adam β1", beta1, 0.0, 0.99, 0.01, ".2f", width="360px")
        self.beta2 = widgets.SelectionSlider(
            description="Adam β2", options=DECAY_CHOICES, value=beta2, continuous_update=False,
            style={"description_width": "initial"}, layout=widgets.Layout(width="360px"))
        self.alpha = widgets.SelectionSlider(
            description="RMSProp decay α", options=DECAY_CHOICES, value=alpha,
            continuous_update=False, style={"description_width": "initial"},
            layout=widgets.Layout(width="360px"))
        self._controls.append(self.surface)
        self.watch(self.start, self.steps, self.optimizers, self.lr_sgd, self.momentum,
                   self.lr_adaptive, self.beta1, self.beta2, self.alpha)
        self.surface.observe(lambda _c: self._surface_changed(), names="value")

        # -- figure --------------------------------------------------------------------------
        self.ax = self.fig.add_axes((0.05, 0.11, 0.42, 0.8))
        self.ax_loss = self.fig.add_axes((0.57, 0.11, 0.4, 0.8))
        self._build_artists()
        self._draw_surface()
        self.update()

    # -- layout -------------------------------------------------------------------------------
    def control_rows(self):
        return [[self.surface, self.start, self.steps],
                [self.optimizers,
                 widgets.VBox([self.lr_sgd, self.momentum]),
                 widgets.VBox([self.lr_adaptive, self.beta1, self.beta2, self.alpha])]]

    # -- figure pieces ------------------------------------------------------------------------
    def _build_artists(self):
        ax, axl = self.ax, self.ax_loss
        self.contours = self.contour_lines = None
        self.paths, self.ends, self.loss_lines = {}, {}, {}
        for name in OPTIMIZERS:
            c = OPTIMIZER_COLORS[name]
            (self.paths[name],) = ax.plot([], [], "-", color=c, lw=1.4, marker=".", ms=3.5,
                                          label=name, zorder=4)
            (self.ends[name],) = ax.plot([], [], "o", color=c, mec="k", mew=0.8, ms=7, zorder=6)
            (self.loss_lines[name],) = axl.plot([], [], "-", color=c, lw=1.6, label=name)
        (self.minima_marker,) = ax.plot([], [], "*", color="gold", mec="k", mew=0.8, ms=15,
                                        zorder=5, label="minimum")
        (self.saddle_marker,) = ax.plot([], [], "X", color="w", mec="k", mew=0.8, ms=9,
                                        zorder=5, label="saddle")
        (self.start_marker,) = ax.plot([], [], "o", mfc="w", mec="k", mew=1.6, ms=9, zorder=5,
                                       label="start")
        self.title = ax.set_title("", fontsize=10)
        ax.set_xlabel("$x$", labelpad=1)
        ax.set_ylabel("$y$", labelpad=1)
        axl.set_xlabel("step")
        axl.set_ylabel("loss $f(x, y)$")
        axl.grid(True, which="major", alpha=0.3)
        self.loss_title = axl.set_title("the loss at every step", fontsize=10)

    def _draw_surface(self):
        """Contours, minima, saddles and box of the current surface: the one rebuild allowed
        (the old contour sets are removed, a new one drawn)."""
        s = landscapes.get_surface(self.surface.value)
        for cs in (self.contours, self.contour_lines):
            if cs is not None:
                cs.remove()
        self.contours, self.contour_lines = landscapes.draw_surface(
            self.ax, s, GRID_STEPS, markers=False, title=False)
        mins = np.asarray(s.minima)
        self.minima_marker.set_data(mins[:, 0], mins[:, 1])
        sad = np.asarray(s.saddles).reshape(-1, 2)
        self.saddle_marker.set_data(sad[:, 0], sad[:, 1])
        self.ax_loss.set_yscale("log" if s.log_scale else "linear")
        self.title.set_text(f"{s.name}:  {s.formula}")
        self._surface_obj = s

    # -- state changes ------------------------------------------------------------------------
    def _surface_changed(self):
        s = landscapes.get_surface(self.surface.value)
        with self.syncing():
            self.start.options = tuple(s.starts)
            self.start.value = next(iter(s.starts))
            self.lr_sgd.value = s.lr_sgd
            self.lr_adaptive.value = s.lr_adaptive
            self.steps.value = s.steps
        self._draw_surface()
        self.update()

    def _settings(self, name: str) -> dict:
        """The hyperparameters that matter for optimizer `name`."""
        if name in SGD_FAMILY:
            kw = {"lr": float(self.lr_sgd.value)}
            if name != "SGD":
                kw["momentum"] = float(self.momentum.value)
            return kw
        kw = {"lr": float(self.lr_adaptive.value)}
        if name == "RMSProp":
            kw["alpha"] = float(self.alpha.value)
        elif name == "Adam":
            kw["beta1"], kw["beta2"] = float(self.beta1.value), float(self.beta2.value)
        return kw

    def _run(self, name: str) -> landscapes.Run:
        kw = self._settings(name)
        key = (self.surface.value, self.start.value, int(self.steps.value), name,
               tuple(sorted(kw.items())))
        if key not in self._cache:
            if len(self._cache) > 200:
                self._cache.clear()
            self._cache[key] = landscapes.trajectory(self.surface.value, name, self.start.value,
                                                     int(self.steps.value), **kw)
        return self._cache[key]

    # -- drawing ------------------------------------------------------------------------------
    def update(self):
        if self._syncing:
            return
        s = self._surface_obj
        selected = [o for o in OPTIMIZERS if o in self.optimizers.value]
        self.runs = {name: self._run(name) for name in selected}
        p0 = np.asarray(s.starts[self.start.value], dtype=np.float64)
        self.start_marker.set_data([p0[0]], [p0[1]])

        lo, hi = np.inf, -np.inf
        for name in OPTIMIZERS:
            run = self.runs.get(name)
            on = run is not None
            for art in (self.paths[name], self.ends[name], self.loss_lines[name]):
                art.set_visible(on)
            if not on:
                for art in (self.paths[name], self.ends[name], self.loss_lines[name]):
                    art.set_data([], [])
                continue
            path = run.path  # (n + 1, 2)
            self.paths[name].set_data(path[:, 0], path[:, 1])
            self.ends[name].set_data([path[-1, 0]], [path[-1, 1]])
            self.ends[name].set_marker("X" if run.diverged else "o")
            shown = np.maximum(run.losses, LOSS_FLOOR) if s.log_scale else run.losses
            self.loss_lines[name].set_data(np.arange(len(shown)), shown)
            lo, hi = min(lo, float(shown.min())), max(hi, float(shown.max()))

        axl = self.ax_loss
        axl.set_xlim(0, max(1, int(self.steps.value)))
        if np.isfinite(lo):
            if s.log_scale:
                axl.set_ylim(lo / 3, hi * 3)
            else:
                pad = 0.05 * (hi - lo) + 1e-9
                axl.set_ylim(lo - pad, hi + pad)
        handles = [self.loss_lines[n] for n in selected]
        if handles:
            axl.legend(handles=handles, loc="best", fontsize=9, framealpha=0.9)
        elif axl.get_legend() is not None:
            axl.get_legend().remove()
        self.readout.value = self._readout(s)
        self.render()

    def _readout(self, s: landscapes.Surface) -> str:
        if not self.runs:
            return "<i>select at least one optimizer</i>"
        rows = []
        for name, run in self.runs.items():
            end = run.path[-1]
            i, d = landscapes.nearest_minimum(s, end)
            m = s.minima[i]
            if run.diverged:
                status = f"<b>diverged</b> at step {run.steps_taken}"
            elif d < REACHED:
                status = "reached a minimum"
            else:
                status = "still on its way"
            rows.append(
                f"<tr><td style='color:{OPTIMIZER_COLORS[name]}'><b>{html.escape(name)}</b></td>"
                f"<td>{run.losses[-1]:.3g}</td><td>{d:.3g} (to ({m[0]:.2f}, {m[1]:.2f}))</td>"
                f"<td>{status}</td></tr>")
        head = ("<tr><th align='left'>optimizer</th><th>final loss</th>"
                "<th>distance to nearest minimum</th><th>status</th></tr>")
        return ("<table style='border-spacing: 14px 0'>" + head + "".join(rows) + "</table>")
