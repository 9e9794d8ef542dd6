"""Lecture 12's widgets: gradients through time, the gates of an LSTM, sampling with a temperature.

    GradientFlowView()              how the error signal of a vanilla RNN grows or dies on its
                                    way back in time, with W_hh's eigenvalues
    LSTMGatesView()                 a trained LSTM stepped through a sequence of the marker task:
                                    every gate as a heatmap, one step's equations with numbers,
                                    and what breaks when a gate is clamped
    SamplingView(model, vocab)      a character model's next-character distribution and a sample
                                    at a chosen temperature

All three are FigureViews (dlcv/widget.py): displayed last in a cell they are live in
JupyterLab and a static PNG elsewhere. The numbers come from dlcv.recurrent.gradients,
dlcv.recurrent.gates and dlcv.recurrent.language.
"""

from __future__ import annotations

import html
import textwrap

import numpy as np
from matplotlib import patheffects
from matplotlib.patches import Circle, Rectangle

from dlcv.plots import CLASS_COLORS
from dlcv.recurrent.gates import (
    CLAMPS,
    GATE_NAMES,
    MARKER_SYMBOLS,
    MARKERS,
    NOISE_SYMBOLS,
    MarkerNet,
    make_marker_task,
    marker_accuracy,
    marker_lstm,
    marker_trace,
)
from dlcv.recurrent.gradients import MATRIX_KINDS, NONLINEARITIES, gradient_norms, recurrent_matrix
from dlcv.recurrent.language import next_char_probs, sample
from dlcv.widget import FigureView, dropdown, slider

# ---------------------------------------------------------------------------------------------
# Gradient flow in a vanilla RNN
# ---------------------------------------------------------------------------------------------
RADIUS_RANGE = (0.5, 2.0)
NORM_LIMITS = (1e-16, 1e16)  # fixed log axes, so that settings can be compared by eye


class GradientFlowView(FigureView):
    """||h_t|| forward, ||dL/dh_t|| backward, and the eigenvalues of W_hh.

    Args:
        spectral_radius: the largest |eigenvalue| of W_hh, in RADIUS_RANGE.
        nonlinearity: "linear", "tanh" or "relu".  matrix: "random" or "orthogonal".
        input_scale: standard deviation of the inputs per unit (0..3).
        n: hidden units.  steps: T.  seed: W, inputs, h_0 and the loss direction.
    Controls: radius, nonlinearity, matrix, input_scale. State: flow (the GradientFlow of the
    current setting), eigenvalues (n,) complex. Artists: state_line, grad_line, ref_line,
    eig_points, radius_circle.
    """

    def __init__(self, spectral_radius: float = 1.0, nonlinearity: str = "tanh",
                 matrix: str = "random", input_scale: float = 1.0, n: int = 32,
                 steps: int = 50, seed: int = 0):
        lo, hi = RADIUS_RANGE
        if not lo <= spectral_radius <= hi:
            raise ValueError(f"GradientFlowView: spectral_radius must be in [{lo}, {hi}], "
                             f"got {spectral_radius!r}")
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"GradientFlowView: nonlinearity must be one of {NONLINEARITIES}, "
                             f"got {nonlinearity!r}")
        if matrix not in MATRIX_KINDS:
            raise ValueError(f"GradientFlowView: matrix must be one of {MATRIX_KINDS}, "
                             f"got {matrix!r}")
        if not 0 <= input_scale <= 3:
            raise ValueError(f"GradientFlowView: input_scale must be in [0, 3], "
                             f"got {input_scale!r}")
        super().__init__(figsize=(13.0, 4.0))
        self.n, self.steps, self.seed = int(n), int(steps), int(seed)

        self.radius = slider("spectral radius ρ of W_hh", float(spectral_radius), lo, hi, 0.05,
                             readout_format=".2f", width="380px")
        self.nonlinearity = dropdown("nonlinearity", list(NONLINEARITIES), nonlinearity)
        self.matrix = dropdown("W_hh", list(MATRIX_KINDS), matrix)
        self.input_scale = slider("input scale", float(input_scale), 0.0, 3.0, 0.1,
                                  readout_format=".1f", width="300px")
        self.watch(self.radius, self.nonlinearity, self.matrix, self.input_scale)

        gs = self.fig.add_gridspec(1, 3, width_ratios=[1.0, 1.25, 0.8], left=0.06, right=0.98,
                                   bottom=0.14, top=0.88, wspace=0.3)
        self.ax_fwd = self.fig.add_subplot(gs[0])
        self.ax_bwd = self.fig.add_subplot(gs[1])
        self.ax_eig = self.fig.add_subplot(gs[2])
        t = np.arange(self.steps + 1)
        (self.state_line,) = self.ax_fwd.semilogy(t, np.ones_like(t, dtype=float), "-",
                                                  color=CLASS_COLORS[0], lw=1.8)
        self.ax_fwd.set_xlabel("time step t")
        self.ax_fwd.set_title("forward: $\\|h_t\\|$", fontsize=10)
        (self.grad_line,) = self.ax_bwd.semilogy(t, np.ones_like(t, dtype=float), "-",
                                                 color=CLASS_COLORS[5], lw=1.8,
                                                 label="$\\|\\partial L / \\partial h_t\\|$ "
                                                       "(autograd)")
        (self.ref_line,) = self.ax_bwd.semilogy(t, np.ones_like(t, dtype=float), "--",
                                                color="0.45", lw=1.0,
                                                label="$\\rho^{T-t}$ (linear prediction)")
        self.ax_bwd.axvline(self.steps, color="0.75", lw=0.8)
        self.ax_bwd.text(self.steps - 0.5, NORM_LIMITS[1] / 10, "loss\nat T", ha="right",
                         va="top", fontsize=8, color="0.4")
        self.ax_bwd.set_xlabel("time step t (the error travels right to left)")
        self.ax_bwd.legend(loc="lower right", fontsize=8)
        self.bwd_title = self.ax_bwd.set_title("", fontsize=10)
        for ax in (self.ax_fwd, self.ax_bwd):
            ax.set_ylim(*NORM_LIMITS)
            ax.set_xlim(0, self.steps)
            ax.grid(True, which="major", alpha=0.3)

        theta = np.linspace(0, 2 * np.pi, 200)
        self.ax_eig.plot(np.cos(theta), np.sin(theta), color="0.3", lw=1.0)
        self.radius_circle = Circle((0, 0), 1.0, fill=False, ls="--", color=CLASS_COLORS[5],
                                    lw=1.2)
        self.ax_eig.add_patch(self.radius_circle)
        self.eig_points = self.ax_eig.scatter(np.zeros(self.n), np.zeros(self.n), s=14,
                                              color=CLASS_COLORS[0], zorder=3)
        self.ax_eig.axhline(0, color="0.85", lw=0.8, zorder=0)
        self.ax_eig.axvline(0, color="0.85", lw=0.8, zorder=0)
        self.ax_eig.set_xlim(-2.1, 2.1)
        self.ax_eig.set_ylim(-2.1, 2.1)
        self.ax_eig.set_aspect("equal")
        self.ax_eig.set_xlabel("real part")
        self.ax_eig.set_ylabel("imaginary part")
        self.ax_eig.set_title("eigenvalues of $W_{hh}$ (unit circle solid)", fontsize=10)
        self._eig_cache: dict = {}
        self.update()

    def control_rows(self):
        return [[self.radius, self.nonlinearity, self.matrix], [self.input_scale]]

    def weights(self):
        """(W (n, n), eigenvalues (n,)) of the current setting, cached."""
        key = (round(float(self.radius.value), 6), self.matrix.value)
        if key not in self._eig_cache:
            W = recurrent_matrix(self.n, key[0], key[1], seed=self.seed)
            self._eig_cache[key] = (W, np.linalg.eigvals(W))
        return self._eig_cache[key]

    def update(self) -> None:
        rho = float(self.radius.value)
        W, eig = self.weights()
        self.eigenvalues = eig
        self.flow = flow = gradient_norms(W, self.steps, self.nonlinearity.value,
                                          float(self.input_scale.value), seed=self.seed)
        lo = NORM_LIMITS[0]
        t = np.arange(self.steps + 1)
        self.state_line.set_ydata(np.maximum(flow.state, lo))
        self.grad_line.set_ydata(np.maximum(flow.grad, lo))
        self.ref_line.set_ydata(np.maximum(flow.grad[-1] * rho ** (self.steps - t), lo))
        ratio = flow.grad[0] / flow.grad[-1]
        self.bwd_title.set_text(f"backward: $\\|\\partial L/\\partial h_0\\|$ / "
                                f"$\\|\\partial L/\\partial h_T\\|$ = {ratio:.1e}")
        self.eig_points.set_offsets(np.c_[eig.real, eig.imag])
        self.radius_circle.set_radius(rho)
        nl = self.nonlinearity.value
        deriv = ("" if nl == "linear" else
                 f" The mean derivative φ' over units and steps is {flow.deriv.mean():.2f}"
                 f"{' (saturated units pass almost nothing back)' if nl == 'tanh' else ''}.")
        self.readout.value = (
            f"<b>ρ = {rho:.2f}</b>, {html.escape(nl)}, {self.matrix.value} W_hh "
            f"({self.n} units, T = {self.steps} steps): the error signal changes by a factor "
            f"<b>{ratio:.1e}</b> on its way back from step T to step 0 "
            f"(a linear RNN would give ρ<sup>T</sup> = {rho ** self.steps:.1e}); "
            f"‖h<sub>T</sub>‖ = {flow.state[-1]:.2e}.{html.escape(deriv)}")
        self.render()


# ---------------------------------------------------------------------------------------------
# The gates of a trained LSTM
# ---------------------------------------------------------------------------------------------
GATE_PANELS = ("i", "f", "o", "g", "c", "h")
C_LIMIT = 3.0  # colour range of the cell state (values beyond are drawn at the ends)


def picked_sequences(task, per_kind: int = 3) -> list[int]:
    """Indices of the first `per_kind` one-marker and two-marker sequences of a MarkerTask."""
    one = [int(k) for k in np.flatnonzero(task.num_markers == 1)[:per_kind]]
    two = [int(k) for k in np.flatnonzero(task.num_markers == 2)[:per_kind]]
    return one + two


class LSTMGatesView(FigureView):
    """Step through a trained LSTM: gates, cell and hidden state over time, clamp a gate.

    Args:
        net: an LSTM MarkerNet (default: dlcv.recurrent.gates.marker_lstm(), trained once, cached).
        test: the MarkerTask used for accuracies (default: 1000 sequences, seed 7).
        sequence: which of the picked sequences to show (0..5).  t: the time step (default:
            the first marker of the sequence).  unit: the unit whose equations are written out
            (default: the one whose cell state changes most at step t).
        clamp: a key of dlcv.recurrent.gates.CLAMPS.
    Controls: sequence, t, unit, clamp. State: trace (the LSTMTrace of the picked sequences
    under the clamp), probs (their answer probabilities), accuracy (dict, on `test`).
    Artists: images (dict gate -> AxesImage), step_boxes, unit_boxes, equation_text, bars,
    answer_title.
    """

    def __init__(self, net: MarkerNet | None = None, test=None, sequence: int = 0,
                 t: int | None = None, unit: int | None = None, clamp: str = "none"):
        self.net = net if net is not None else marker_lstm()
        if not isinstance(self.net, MarkerNet) or self.net.cell != "lstm":
            raise ValueError("LSTMGatesView: net must be an LSTM MarkerNet")
        self.test = test if test is not None else make_marker_task(1000, seed=7)
        self.picked = picked_sequences(self.test)
        self.tokens = self.test.tokens[self.picked]                 # (6, T)
        T = self.tokens.shape[1]
        H = self.net.hidden
        if not 0 <= sequence < len(self.picked):
            raise ValueError(f"LSTMGatesView: sequence must be in 0..{len(self.picked) - 1}, "
                             f"got {sequence!r}")
        if unit is not None and not 0 <= unit < H:
            raise ValueError(f"LSTMGatesView: unit must be in 0..{H - 1}, got {unit!r}")
        if clamp not in CLAMPS:
            raise ValueError(f"LSTMGatesView: clamp must be one of {list(CLAMPS)}, "
                             f"got {clamp!r}")
        if t is None:
            t = int(self.test.positions[self.picked[sequence]][0])
        if not 0 <= t < T:
            raise ValueError(f"LSTMGatesView: t must be in 0..{T - 1}, got {t!r}")
        super().__init__(figsize=(13.5, 6.6))
        self._cache: dict = {}
        if unit is None:  # the unit whose cell changes most at step t
            c = self.data("none")[0].c[sequence]                   # (T, H)
            before = c[t - 1] if t > 0 else np.zeros_like(c[t])
            unit = int(np.argmax(np.abs(c[t] - before)))

        options = {}
        for j, k in enumerate(self.picked):
            answer = MARKERS[self.test.y[k]]
            options[f"{j}: {self.test.text(k)}  → {answer}"] = j
        self.sequence = dropdown("sequence", options, sequence, width="330px")
        self.t = slider("time step t", int(t), 0, T - 1, 1, width="380px")
        self.unit = slider("unit", int(unit), 0, H - 1, 1, width="220px")
        self.clamp = dropdown("clamp", list(CLAMPS), clamp, width="200px")
        self.watch(self.sequence, self.t, self.unit, self.clamp)

        gs = self.fig.add_gridspec(2, 4, width_ratios=[1, 1, 1, 1.22], left=0.04, right=0.99,
                                   bottom=0.08, top=0.93, wspace=0.22, hspace=0.42)
        self.images, self.step_boxes, self.unit_boxes, self.tick_axes = {}, [], [], []
        for n, key in enumerate(GATE_PANELS):
            ax = self.fig.add_subplot(gs[n // 3, n % 3])
            signed = key in ("g", "c", "h")
            lim = C_LIMIT if key == "c" else 1.0
            im = ax.imshow(np.zeros((H, T)), aspect="auto", interpolation="nearest",
                           cmap="RdBu_r" if signed else "viridis",
                           vmin=-lim if signed else 0.0, vmax=lim)
            self.fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02).ax.tick_params(labelsize=7)
            ax.set_title(f"{GATE_NAMES[key]} ${key}$", fontsize=10)
            ax.set_yticks(range(H))
            ax.set_yticklabels([str(u) for u in range(H)], fontsize=6)
            ax.set_xticks(range(T))
            ax.tick_params(axis="x", length=0, labelsize=8)
            if n % 3 == 0:
                ax.set_ylabel("unit", fontsize=8)
            box = Rectangle((t - 0.5, -0.5), 1, H, fill=False, ec="k", lw=2.0)
            ubox = Rectangle((-0.5, unit - 0.5), T, 1, fill=False, ec="w", lw=1.0, ls="--",
                             path_effects=[patheffects.withStroke(linewidth=2.2, foreground="k")])
            ax.add_patch(box)
            ax.add_patch(ubox)
            self.images[key] = im
            self.step_boxes.append(box)
            self.unit_boxes.append(ubox)
            self.tick_axes.append(ax)

        self.ax_eq = self.fig.add_subplot(gs[0, 3])
        self.ax_eq.axis("off")
        self.equation_text = self.ax_eq.text(0.0, 1.02, "", ha="left", va="top", fontsize=9.5,
                                             transform=self.ax_eq.transAxes, linespacing=1.55)
        self.ax_pred = self.fig.add_subplot(gs[1, 3])
        self.bars = self.ax_pred.barh(range(len(MARKERS)), np.zeros(len(MARKERS)),
                                      color="0.7")
        self.ax_pred.set_yticks(range(len(MARKERS)))
        self.ax_pred.set_yticklabels(MARKERS)
        self.ax_pred.invert_yaxis()
        self.ax_pred.set_xlim(0, 1)
        self.ax_pred.set_xlabel("probability of each answer at '?'", fontsize=9)
        self.answer_title = self.ax_pred.set_title("", fontsize=10)
        self.update()

    def control_rows(self):
        return [[self.sequence, self.clamp], [self.t, self.unit]]

    # -- data ------------------------------------------------------------------------------
    def data(self, clamp: str):
        """(trace, probs, accuracy) of the picked sequences under a clamp, cached."""
        if clamp not in self._cache:
            trace, probs = marker_trace(self.net, self.tokens, clamp)
            acc = marker_accuracy(self.net, self.test, clamp)
            self._cache[clamp] = (trace, probs, acc)
        return self._cache[clamp]

    # -- update ----------------------------------------------------------------------------
    def update(self) -> None:
        j, t, u = int(self.sequence.value), int(self.t.value), int(self.unit.value)
        clamp = self.clamp.value
        self.trace, self.probs, self.accuracy = trace, probs, acc = self.data(clamp)
        k = self.picked[j]
        symbols = [MARKER_SYMBOLS[s] for s in self.tokens[j]]
        for key, im in self.images.items():
            im.set_data(trace[key][j].T)                            # (H, T)
        for ax in self.tick_axes:
            ax.set_xticklabels(symbols)
            for lab, s in zip(ax.get_xticklabels(), symbols, strict=True):
                marker = s not in NOISE_SYMBOLS and s != "?"
                lab.set_color(CLASS_COLORS[5] if marker else "0.25")
                lab.set_fontweight("bold" if marker or s == "?" else "normal")
        for box in self.step_boxes:
            box.set_x(t - 0.5)
        for box in self.unit_boxes:
            box.set_y(u - 0.5)

        spec = trace.clamp
        v = {key: float(trace[key][j, t, u]) for key in ("i", "f", "g", "o", "c", "h")}
        a = {key: float(trace.pre[key][j, t, u]) for key in ("i", "f", "g", "o")}
        c_prev = float(trace.c[j, t - 1, u]) if t > 0 else 0.0

        def gate_line(key, fn):
            if key in spec:
                return f"${key} = {v[key]:g}$  (clamped)"
            return f"${key} = \\{fn}({a[key]:+.2f}) = {v[key]:.2f}$"

        lines = [
            f"step $t = {t}$, input '{symbols[t]}', unit {u}",
            gate_line("i", "sigma") + "    " + gate_line("f", "sigma"),
            gate_line("g", "tanh") + "    " + gate_line("o", "sigma"),
            "$c_t = f \\cdot c_{t-1} + i \\cdot g$",
            f"$\\quad = {v['f']:.2f} \\cdot ({c_prev:+.2f}) + {v['i']:.2f} \\cdot "
            f"({v['g']:+.2f}) = {v['c']:+.2f}$",
            "$h_t = o \\cdot \\tanh(c_t)$",
            f"$\\quad = {v['o']:.2f} \\cdot \\tanh({v['c']:+.2f}) = {v['h']:+.2f}$",
        ]
        self.equation_text.set_text("\n".join(lines))

        p = probs[j]
        truth, pred = int(self.test.y[k]), int(np.argmax(p))
        for m, bar in enumerate(self.bars):
            bar.set_width(float(p[m]))
            bar.set_color(CLASS_COLORS[2] if m == truth else
                          (CLASS_COLORS[5] if m == pred else "0.7"))
        verdict = "right" if pred == truth else "wrong"
        self.answer_title.set_text(f"answer: {MARKERS[pred]} (p = {p[pred]:.2f}), "
                                   f"true: {MARKERS[truth]}: {verdict}")

        base = self.data("none")[2]
        fmt = "{:.0%}".format
        self.readout.value = (
            f"<b>clamp: {html.escape(clamp)}</b>. Accuracy on {len(self.test)} test sequences: "
            f"<b>{fmt(acc['all'])}</b> (one marker {fmt(acc['one marker'])}, two markers "
            f"{fmt(acc['two markers'])}); without a clamp {fmt(base['all'])}; guessing gives "
            f"25%. This sequence ({html.escape(self.test.text(k))}): the answer is "
            f"<b>{MARKERS[truth]}</b>, the network says <b>{MARKERS[pred]}</b> "
            f"(p = {p[pred]:.2f}).")
        self.render()


# ---------------------------------------------------------------------------------------------
# Sampling a character model with a temperature
# ---------------------------------------------------------------------------------------------
PROMPTS = ("The ", "An exception ", "If the ", "A class ")
TEMPERATURE_RANGE = (0.1, 2.0)


def char_label(ch: str) -> str:
    """A visible label for a character: '␣' for a space, '⏎' for a new line."""
    return {" ": "␣", "\n": "⏎", "\t": "⇥"}.get(ch, ch)


class SamplingView(FigureView):
    """The next-character distribution after a prompt, and a sample, at a temperature.

    Args:
        model, vocab: a trained dlcv.recurrent.language.CharLM and its CharVocab.
        prompts: the prompts to choose from (their characters must be in vocab).
        temperature: in TEMPERATURE_RANGE.  seed: the sampling seed (0..20).
        length: characters to sample.  top: how many characters the bar chart shows.
    Controls: temperature, prompt, seed. State: probs (V,) at the temperature, probs_t1 (V,)
    at temperature 1, text (the sample). Artists: bars, t1_marks, sample_text, dist_title.
    """

    def __init__(self, model, vocab, prompts=PROMPTS, temperature: float = 1.0, seed: int = 0,
                 length: int = 480, top: int = 24):
        lo, hi = TEMPERATURE_RANGE
        if not lo <= temperature <= hi:
            raise ValueError(f"SamplingView: temperature must be in [{lo}, {hi}], "
                             f"got {temperature!r}")
        prompts = tuple(prompts)
        if not prompts:
            raise ValueError("SamplingView: give at least one prompt")
        for p in prompts:
            vocab.encode(p)  # raises a clear error for unknown characters
        super().__init__(figsize=(13.0, 4.1))
        self.model, self.vocab, self.length = model, vocab, int(length)
        self.top = min(int(top), vocab.size)
        self._cache: dict = {}

        self.temperature = slider("temperature τ", float(temperature), lo, hi, 0.05,
                                  readout_format=".2f", width="380px")
        self.prompt = dropdown("prompt", list(prompts), prompts[0], width="240px")
        self.seed = slider("seed", int(seed), 0, 20, 1, width="220px")
        self.watch(self.temperature, self.prompt, self.seed)

        gs = self.fig.add_gridspec(2, 1, height_ratios=[1.0, 0.5], left=0.05, right=0.99,
                                   bottom=0.02, top=0.93, hspace=0.3)
        self.ax_dist = self.fig.add_subplot(gs[0])
        self.ax_text = self.fig.add_subplot(gs[1])
        x = np.arange(self.top)
        self.bars = self.ax_dist.bar(x, np.zeros(self.top), color=CLASS_COLORS[0],
                                     label="at temperature τ")
        (self.t1_marks,) = self.ax_dist.plot(x, np.zeros(self.top), "_", ms=14, mew=2,
                                             color=CLASS_COLORS[5], label="at τ = 1")
        self.ax_dist.set_xticks(x)
        self.ax_dist.set_xlim(-0.6, self.top - 0.4)
        self.ax_dist.set_ylim(0, 1.0)
        self.ax_dist.set_ylabel("probability")
        self.ax_dist.legend(loc="upper right", fontsize=8)
        self.dist_title = self.ax_dist.set_title("", fontsize=10)
        self.ax_text.axis("off")
        self.sample_text = self.ax_text.text(0.0, 1.0, "", ha="left", va="top",
                                             family="monospace", fontsize=8.5,
                                             transform=self.ax_text.transAxes)
        self.update()

    def control_rows(self):
        return [[self.temperature, self.prompt, self.seed]]

    def _logits_order(self, prompt: str):
        if prompt not in self._cache:
            p1 = next_char_probs(self.model, self.vocab, prompt, 1.0)
            self._cache[prompt] = (p1, np.argsort(-p1)[:self.top])
        return self._cache[prompt]

    def update(self) -> None:
        tau, prompt, seed = float(self.temperature.value), self.prompt.value, int(self.seed.value)
        self.probs_t1, order = self._logits_order(prompt)
        self.probs = probs = next_char_probs(self.model, self.vocab, prompt, tau)
        for bar, k in zip(self.bars, order, strict=True):
            bar.set_height(float(probs[k]))
        self.t1_marks.set_ydata(self.probs_t1[order])
        self.ax_dist.set_xticklabels([char_label(self.vocab.chars[k]) for k in order])
        nz = probs[probs > 0]
        entropy = float(-(nz * np.log2(nz)).sum())
        shown = float(probs[order].sum())
        self.dist_title.set_text(
            f"the character after {prompt!r} at τ = {tau:.2f}: entropy {entropy:.2f} bits; "
            f"these {self.top} characters hold {shown:.0%} of the probability")
        self.text = text = sample(self.model, self.vocab, prompt, self.length, tau, seed)
        wrapped = []
        for line in (prompt + text).split("\n"):
            wrapped.extend(textwrap.wrap(line, 165, replace_whitespace=False) or [""])
        self.sample_text.set_text("\n".join(wrapped[:8]))
        self.readout.value = (
            f"<b>τ = {tau:.2f}</b>, seed {seed}: the model reads the prompt, then each character "
            f"is drawn from softmax(scores / τ) and fed back as the next input. Entropy of the "
            f"first choice: {entropy:.2f} bits (at τ = 1: "
            f"{float(-(self.probs_t1 * np.log2(self.probs_t1)).sum()):.2f} bits).")
        self.render()
