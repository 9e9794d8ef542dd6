"""Lecture 17's widgets: a VAE's latent plane, and a diffusion sample walked from noise to image.

    view = LatentExplorerView(model, X_test, y_test)
    view            # last line of a cell: live in JupyterLab, a static PNG elsewhere

LatentExplorerView: a model with a 2-D latent (dlcv.generative.autoencoders). Controls: view.z1,
view.z2. Left: the decoded images of a grid over the latent plane, the point (z1, z2) marked.
Middle: the encoded test set (posterior means), coloured by class, the point marked. Right: the
image decoded at (z1, z2), live.

    view = DiffusionStepperView(trajectory)

DiffusionStepperView: a sampler's Trajectory (dlcv.generative.diffusion) of 8x8 images. Controls:
view.step (how many reverse steps were taken), view.sample (which of the trajectory's samples).
Left: x_t. Middle: the model's clean-image estimate x0_hat at that step. Right: the noise level
sqrt(1 - abar_t) and the distance from x0_hat to the final sample over the steps, the current
step marked.
"""

from __future__ import annotations

import numpy as np

from dlcv.generative.autoencoders import AutoEncoder, decode, decode_grid, encode_mean, mosaic
from dlcv.generative.diffusion import Schedule, Trajectory
from dlcv.plots import class_cmap
from dlcv.widget import FigureView, slider


class LatentExplorerView(FigureView):
    """Decode any point of a 2-D latent plane.

    Args: model (an AutoEncoder with latent_dim 2), X (N, 1, 8, 8) test images in [0, 1], y (N,)
    labels, lims: the plane shown, n: the grid's side, z1, z2: the first point.
    State: point (z1, z2), decoded (8, 8) the image decoded there, nearest_label (the class of the nearest
    encoded test image). Artists: grid_image, grid_marker, codes (PathCollection), code_marker,
    decoded_image.
    """

    def __init__(self, model: AutoEncoder, X, y, lims=(-2.5, 2.5), n: int = 12,
                 z1: float = 0.0, z2: float = 0.0):
        if getattr(model, "latent_dim", None) != 2:
            raise ValueError("LatentExplorerView: model must be an AutoEncoder with latent_dim 2")
        if not (lims[0] <= z1 <= lims[1] and lims[0] <= z2 <= lims[1]):
            raise ValueError(f"LatentExplorerView: z1, z2 must lie in {lims}, got {z1}, {z2}")
        super().__init__(figsize=(12.0, 4.2))
        self.model, self.lims = model, lims
        self.y = np.asarray(y)
        self.codes_xy = encode_mean(model, X)
        self.z1 = slider("z1", float(z1), float(lims[0]), float(lims[1]), 0.1,
                         readout_format=".1f", continuous_update=True)
        self.z2 = slider("z2", float(z2), float(lims[0]), float(lims[1]), 0.1,
                         readout_format=".1f", continuous_update=True)
        self.watch(self.z1, self.z2)
        gs = self.fig.add_gridspec(1, 3, width_ratios=[1.1, 1.2, 0.8], left=0.04, right=0.98,
                                   bottom=0.12, top=0.9, wspace=0.3)
        self.ax_grid = self.fig.add_subplot(gs[0])
        self.ax_codes = self.fig.add_subplot(gs[1])
        self.ax_img = self.fig.add_subplot(gs[2])
        ext = (lims[0], lims[1], lims[0], lims[1])
        self.grid_image = self.ax_grid.imshow(mosaic(decode_grid(model, lims, n), pad=1, fill=0.3),
                                              cmap="gray_r", vmin=0, vmax=1, extent=ext,
                                              interpolation="nearest")
        (self.grid_marker,) = self.ax_grid.plot([z1], [z2], "o", ms=11, mfc="none", mec="r", mew=2)
        self.ax_grid.set_title("decoded grid over the latent plane", fontsize=10)
        self.ax_grid.set_xlabel("z1")
        self.ax_grid.set_ylabel("z2")
        self.codes = self.ax_codes.scatter(*self.codes_xy.T, c=self.y, cmap=class_cmap(10),
                                           vmin=-0.5, vmax=9.5, s=9)
        cb = self.fig.colorbar(self.codes, ax=self.ax_codes, ticks=range(10), fraction=0.05)
        cb.set_label("class")
        (self.code_marker,) = self.ax_codes.plot([z1], [z2], "x", ms=14, color="k", mew=3)
        self.ax_codes.set_xlim(*lims)
        self.ax_codes.set_ylim(*lims)
        self.ax_codes.set_aspect("equal")
        self.ax_codes.set_title("encoded test digits (posterior means)", fontsize=10)
        self.ax_codes.set_xlabel("z1")
        self.decoded_image = self.ax_img.imshow(np.zeros((8, 8)), cmap="gray_r", vmin=0, vmax=1)
        self.ax_img.axis("off")
        self.img_title = self.ax_img.set_title("", fontsize=10)
        self.update()

    def update(self) -> None:
        z = np.array([self.z1.value, self.z2.value], np.float64)
        self.point = (float(z[0]), float(z[1]))
        self.decoded = decode(self.model, z[None])[0]
        d = np.linalg.norm(self.codes_xy - z, axis=1)
        self.nearest_label = int(self.y[d.argmin()])
        self.grid_marker.set_data([z[0]], [z[1]])
        self.code_marker.set_data([z[0]], [z[1]])
        self.decoded_image.set_data(self.decoded)
        self.img_title.set_text(f"decoded at z = ({z[0]:.1f}, {z[1]:.1f})")
        self.readout.value = (f"<b>z = ({z[0]:.1f}, {z[1]:.1f})</b>: the nearest encoded test "
                              f"digit is a {self.nearest_label} (distance {d.min():.2f}); "
                              f"{(d < 0.3).sum()} test digits are encoded within 0.3.")
        self.render()


class DiffusionStepperView(FigureView):
    """Walk a diffusion sample from noise (step 0) to the image (last step).

    Args: trajectory (a Trajectory of n samples of 64 pixels in [-1, 1]), schedule (its Schedule),
    step: the first step shown, sample: which sample.
    State: t (the time of x_t shown), x_t and x0_hat (8, 8). Artists: xt_image, x0_image,
    noise_line, dist_line, marker.
    """

    def __init__(self, trajectory: Trajectory, schedule: Schedule, step: int = 0,
                 sample: int = 0):
        K, n = trajectory.x0_hats.shape[:2]
        if trajectory.xs.shape[2] != 64:
            raise ValueError("DiffusionStepperView: the trajectory must hold 8x8 images (64 values)")
        if not (isinstance(step, int) and 0 <= step <= K):
            raise ValueError(f"DiffusionStepperView: step must be an int in 0..{K}, got {step!r}")
        if not (isinstance(sample, int) and 0 <= sample < n):
            raise ValueError(f"DiffusionStepperView: sample must be an int in 0..{n - 1}, "
                             f"got {sample!r}")
        super().__init__(figsize=(11.0, 3.8))
        self.traj, self.schedule, self.K = trajectory, schedule, K
        self.step = slider("reverse steps taken", step, 0, K, 1, width="420px",
                           continuous_update=True)
        self.sample = slider("sample", sample, 0, n - 1, 1, width="260px")
        self.watch(self.step, self.sample)
        gs = self.fig.add_gridspec(1, 3, width_ratios=[0.8, 0.8, 1.4], left=0.03, right=0.97,
                                   bottom=0.15, top=0.88, wspace=0.3)
        self.ax_xt = self.fig.add_subplot(gs[0])
        self.ax_x0 = self.fig.add_subplot(gs[1])
        self.ax_curve = self.fig.add_subplot(gs[2])
        self.xt_image = self.ax_xt.imshow(np.zeros((8, 8)), cmap="gray_r", vmin=-1, vmax=1)
        self.x0_image = self.ax_x0.imshow(np.zeros((8, 8)), cmap="gray_r", vmin=-1, vmax=1)
        for ax in (self.ax_xt, self.ax_x0):
            ax.axis("off")
        self.xt_title = self.ax_xt.set_title("", fontsize=10)
        self.ax_x0.set_title(r"predicted clean image $\hat x_0$", fontsize=10)
        steps = np.arange(K + 1)
        times = trajectory.times
        noise = np.sqrt(1 - schedule.abar(times).numpy())
        (self.noise_line,) = self.ax_curve.plot(steps, noise, color="0.4",
                                                label=r"noise level $\sqrt{1-\bar\alpha_t}$")
        (self.dist_line,) = self.ax_curve.plot(steps[:-1], np.zeros(K), color="C3",
                                               label=r"RMS($\hat x_0$ - final sample)")
        (self.marker,) = self.ax_curve.plot([0], [1], "o", ms=9, mfc="none", mec="k", mew=1.5)
        self.ax_curve.set_xlabel("reverse steps taken")
        self.ax_curve.legend(fontsize=8)
        self.ax_curve.set_ylim(0, 1.6)
        self.update()

    def update(self) -> None:
        k, i = int(self.step.value), int(self.sample.value)
        self.t = int(self.traj.times[k])
        self.x_t = self.traj.xs[k, i].reshape(8, 8)
        final = self.traj.xs[-1, i]
        dist = np.sqrt(((self.traj.x0_hats[:, i] - final) ** 2).mean(1))
        self.dist_line.set_ydata(dist)
        hat_k = min(k, self.K - 1)
        self.x0_hat = self.traj.x0_hats[hat_k, i].reshape(8, 8)
        self.xt_image.set_data(self.x_t)
        self.x0_image.set_data(self.x0_hat)
        self.xt_title.set_text(f"$x_t$, t = {self.t}")
        self.marker.set_data([k], [self.noise_line.get_ydata()[k]])
        self.readout.value = (f"<b>after {k} of {self.K} steps</b> (t = {self.t}): noise level "
                              f"{self.noise_line.get_ydata()[k]:.2f}; the estimate x&#770;<sub>0</sub> "
                              f"at step {hat_k + 1} is {dist[hat_k]:.2f} (RMS) from the final sample.")
        self.render()
