"""Lecture 16's widget: what the classifier looks at, and how little it takes to change its mind.

    view = InspectView(model, X, y, class_names)
    view            # last line of a cell: live in JupyterLab, a static PNG elsewhere

InspectView: one image of X: (N, C, H, W) in [0, 1] and one class. Controls (attributes):
view.index (which image), view.explain (the class to explain: the true label or any class),
view.attack (FGSM or PGD), view.eps (the L-inf budget) and view.goal (away from the true class,
or toward the explained class; when that is the true label, toward the runner-up class).
Panels: the image with the prediction; the gradient saliency, Grad-CAM and occlusion maps of the
explained class (dlcv.understanding.attribution); the attacked image (dlcv.understanding.attacks)
with its prediction; the probabilities of every class before and after the attack.
"""

from __future__ import annotations

import html

import numpy as np
import torch

from dlcv.plots import CLASS_COLORS
from dlcv.understanding.attacks import fgsm, pgd, predict
from dlcv.understanding.attribution import gradcam, occlusion, saliency, upsample
from dlcv.widget import FigureView, dropdown, slider

GOALS = ("away from the true class", "toward the explained class")
TRUE_LABEL = -1


def _show(img: np.ndarray) -> np.ndarray:
    """(C, H, W) -> what imshow takes: (H, W) for one channel, (H, W, 3) for three."""
    return img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)


class InspectView(FigureView):
    """Saliency, Grad-CAM and occlusion of one image side by side, and an attack on it.

    Args:
        model: a trained classifier (eval mode) of X's images; X: (N, C, H, W) in [0, 1];
        y: (N,) labels; class_names: K names; index: the first image; eps: the first budget;
        pgd_steps: the steps of PGD.
    State: stats (dict: label, explained, pred, p_pred, target (None when untargeted),
    adv_pred, p_adv_pred, linf).
    Artists: clean_image, saliency_image, gradcam_image, occlusion_image, adv_image, bars_clean,
    bars_adv (BarContainers, one bar per class).
    """

    def __init__(self, model, X, y, class_names, index: int = 0, eps: float = 0.1,
                 pgd_steps: int = 10):
        X = torch.as_tensor(np.asarray(X, np.float32))
        y = np.asarray(y, np.int64)
        if X.dim() != 4 or y.shape != (len(X),):
            raise ValueError(f"InspectView: X must be (N, C, H, W) and y (N,), got "
                             f"{tuple(X.shape)} and {y.shape}")
        if not (isinstance(index, int) and 0 <= index < len(X)):
            raise ValueError(f"InspectView: index must be an int in 0..{len(X) - 1}, got {index!r}")
        if not 0 <= eps <= 0.3:
            raise ValueError(f"InspectView: eps must be in [0, 0.3], got {eps!r}")
        super().__init__(figsize=(15.0, 3.3))
        self.model, self.X, self.y = model, X, y
        self.class_names, self.pgd_steps = list(class_names), pgd_steps
        K = len(self.class_names)

        self.index = slider("image", index, 0, len(X) - 1, 1, width="300px")
        self.explain = dropdown("explain class",
                                [("true label", TRUE_LABEL)] + [(n, k) for k, n in
                                                                enumerate(self.class_names)],
                                TRUE_LABEL, width="220px")
        self.attack = dropdown("attack", ["FGSM", "PGD"], "PGD", width="160px")
        self.eps = slider("budget eps (L-inf)", float(eps), 0.0, 0.3, 0.01, readout_format=".2f",
                          width="340px")
        self.goal = dropdown("goal", list(GOALS), GOALS[0], width="330px")
        self.watch(self.index, self.explain, self.attack, self.eps, self.goal)

        gs = self.fig.add_gridspec(1, 6, width_ratios=[1, 1, 1, 1, 1, 1.6], left=0.02,
                                   right=0.99, bottom=0.14, top=0.86, wspace=0.28)
        axes = [self.fig.add_subplot(gs[i]) for i in range(6)]
        self.ax_img, self.ax_sal, self.ax_cam, self.ax_occ, self.ax_adv, self.ax_bar = axes
        blank = _show(np.zeros(X.shape[1:]))
        grey = dict(cmap="gray", vmin=0, vmax=1)
        self.clean_image = self.ax_img.imshow(blank, **grey)
        self.saliency_image = self.ax_sal.imshow(blank[..., 0] if blank.ndim == 3 else blank,
                                                 cmap="magma", vmin=0, vmax=1)
        self.cam_under = self.ax_cam.imshow(blank, **grey)
        self.gradcam_image = self.ax_cam.imshow(np.zeros(X.shape[2:]), cmap="jet", vmin=0,
                                                vmax=1, alpha=0.5)
        self.occlusion_image = self.ax_occ.imshow(np.zeros(X.shape[2:]), cmap="RdBu_r",
                                                  vmin=-1, vmax=1)
        self.adv_image = self.ax_adv.imshow(blank, **grey)
        for ax, title in zip(axes[1:4], ["gradient saliency", "Grad-CAM (conv3)",
                                         "occlusion: drop of p (scaled)"], strict=True):
            ax.set_title(title, fontsize=9)
        for ax in axes[:5]:
            ax.set_xticks([])
            ax.set_yticks([])
        self.titles = [self.ax_img.set_title("", fontsize=9), self.ax_adv.set_title("", fontsize=9)]
        ks = np.arange(K)
        self.bars_clean = self.ax_bar.bar(ks - 0.2, np.zeros(K), 0.4, color="0.6", label="clean")
        self.bars_adv = self.ax_bar.bar(ks + 0.2, np.zeros(K), 0.4, color=CLASS_COLORS[3],
                                        label="attacked")
        self.ax_bar.set_xticks(ks, self.class_names, fontsize=7,
                               rotation=0 if K <= 10 and max(map(len, self.class_names)) <= 2
                               else 60)
        self.ax_bar.set_ylim(0, 1)
        self.ax_bar.set_ylabel("probability", fontsize=8)
        self.ax_bar.legend(fontsize=7, loc="upper right")
        self.update()

    def control_rows(self):
        return [[self.index, self.explain], [self.attack, self.eps, self.goal]]

    def update(self) -> None:
        i = int(self.index.value)
        x, label = self.X[i:i + 1], int(self.y[i])
        explained = label if self.explain.value == TRUE_LABEL else int(self.explain.value)
        pred, probs = predict(self.model, x)
        pred, probs = int(pred[0]), probs[0].numpy()

        sal = saliency(self.model, x, explained)[0].numpy()
        cam = upsample(gradcam(self.model, x, explained), x.shape[-1])[0].numpy()
        occ = occlusion(self.model, x, explained, patch=max(2, x.shape[-1] // 4),
                        stride=max(1, x.shape[-1] // 8))[0].numpy()
        img = _show(x[0].numpy())
        self.clean_image.set_data(img)
        self.saliency_image.set_data(sal / max(sal.max(), 1e-12))
        self.cam_under.set_data(img)
        self.gradcam_image.set_data(cam / max(cam.max(), 1e-12))
        self.occlusion_image.set_data(occ / max(np.abs(occ).max(), 1e-12))
        self.titles[0].set_text(f"label {self.class_names[label]}: says "
                                f"{self.class_names[pred]} ({probs[pred]:.2f})")

        eps = float(self.eps.value)
        target = None
        if self.goal.value == GOALS[1]:
            if explained != label:
                target = explained
            else:
                others = probs.copy()
                others[label] = -1
                target = int(others.argmax())
        yt = torch.tensor([label])
        tt = None if target is None else torch.tensor([target])
        if self.attack.value == "FGSM":
            x_adv = fgsm(self.model, x, yt, eps, target=tt)
        else:
            x_adv = pgd(self.model, x, yt, eps, self.pgd_steps, target=tt, seed=i)
        adv_pred, adv_probs = predict(self.model, x_adv)
        adv_pred, adv_probs = int(adv_pred[0]), adv_probs[0].numpy()
        self.adv_image.set_data(_show(x_adv[0].numpy()))
        self.titles[1].set_text(f"{self.attack.value}, eps {eps:.2f}: says "
                                f"{self.class_names[adv_pred]} ({adv_probs[adv_pred]:.2f})")
        for b, p in zip(self.bars_clean, probs, strict=True):
            b.set_height(p)
        for b, p in zip(self.bars_adv, adv_probs, strict=True):
            b.set_height(p)
        linf = float((x_adv - x).abs().max())
        self.stats = {"label": label, "explained": explained, "pred": pred,
                      "p_pred": float(probs[pred]), "target": target, "adv_pred": adv_pred,
                      "p_adv_pred": float(adv_probs[adv_pred]), "linf": linf,
                      "saliency": sal, "gradcam": cam, "occlusion": occ}
        aim = ("away from " + self.class_names[label] if target is None
               else "toward " + self.class_names[target])
        verdict = ("fooled" if (adv_pred != label if target is None else adv_pred == target)
                   else "not fooled")
        self.readout.value = html.escape(
            f"image {i}, label {self.class_names[label]}, explaining class "
            f"{self.class_names[explained]} (p = {probs[explained]:.3f}). "
            f"{self.attack.value} {aim} with eps = {eps:.2f} (largest pixel change "
            f"{linf:.3f}): the model says {self.class_names[adv_pred]} with p = "
            f"{adv_probs[adv_pred]:.3f}, {verdict}.")
        self.render()
