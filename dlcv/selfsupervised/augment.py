"""SimCLR's augmentations in torch, on whole batches of small images (Chen et al. 2020).

Every function takes x: (N, C, H, W) float in [0, 1] and a torch.Generator, draws its random
numbers for every image at once, and returns a new (N, C, H, W) batch in [0, 1]:

    random_resized_crop(x, g, scale=(0.2, 1), ratio=(3/4, 4/3), flip=True)
                                 a random window (area share in scale, aspect in ratio),
                                 resized back to H x W, mirrored left-right with probability 1/2
    color_jitter(x, g, strength=0.5, p=0.8)
                                 brightness, contrast and saturation changed by random factors
                                 in [1 - strength, 1 + strength], with probability p
    random_grayscale(x, g, p=0.2)
                                 the luminance in every channel, with probability p
    hue_shuffle(x, g, p=0.5)     the colour channels permuted at random (a coarse hue change:
                                 red becomes green or blue), with probability p
    gaussian_blur(x, g, sigma=(0.1, 1.0), p=0.5)
                                 a 5x5 Gaussian blur of random width, with probability p
    simclr_view(x, g, ...)       the five above in SimCLR's order: one random "view"
    two_views(x, g, ...)         two independent views of every image: (N, C, H, W) twice

The numpy augmentations of dlcv.augment (lecture 05) work one image at a time; a contrastive
step needs two views of every image of every batch, so these draw the parameters as tensors and
warp the whole batch with one grid_sample.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dlcv.validate import number_in

LUMA = (0.299, 0.587, 0.114)  # ITU-R 601 weights of R, G, B in the luminance


def _check(x, who: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise ValueError(f"{who}: x must be a float tensor (N, C, H, W), got {shape}")
    return x


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def _where(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a where mask (N,) is True, else b (both (N, C, H, W))."""
    return torch.where(mask[:, None, None, None], a, b)


def random_resized_crop(x, g: torch.Generator, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3),
                        flip: bool = True) -> torch.Tensor:
    """A random window of every image, resized (bilinearly) to the image's size.

    The window covers a share of the image's area drawn uniformly from scale, with an aspect
    ratio (width / height) drawn log-uniformly from ratio, cut to fit and placed uniformly
    inside the image; with flip, half of the windows are mirrored left-right.
    """
    x = _check(x, "random_resized_crop")
    lo, hi = (number_in("random_resized_crop", "scale", s, 0.01, 1.0) for s in scale)
    if lo > hi or ratio[0] > ratio[1] or ratio[0] <= 0:
        raise ValueError(f"random_resized_crop: scale and ratio must be (low, high) ranges, got "
                         f"{scale} and {ratio}")
    n = len(x)
    area = _uniform(n, lo, hi, g)
    aspect = torch.exp(_uniform(n, math.log(ratio[0]), math.log(ratio[1]), g))
    w = torch.sqrt(area * aspect).clamp(max=1.0)          # window width / image width
    h = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (1 - w) * (2 * torch.rand(n, generator=g) - 1)    # window centre in [-1, 1] coordinates
    cy = (1 - h) * (2 * torch.rand(n, generator=g) - 1)
    sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = w * sign, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def grey(x: torch.Tensor) -> torch.Tensor:
    """The luminance of RGB images (N, 3, H, W) -> (N, 1, H, W) (grey images pass through)."""
    if x.shape[1] == 1:
        return x
    w = torch.tensor(LUMA, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def color_jitter(x, g: torch.Generator, strength: float = 0.5, p: float = 0.8) -> torch.Tensor:
    """Brightness, then contrast, then saturation, each scaled by a factor drawn uniformly in
    [1 - strength, 1 + strength] per image; applied to a share p of the images.

    brightness: x * b; contrast: mean + c (x - mean), the mean grey level of the image;
    saturation: grey + s (x - grey), pixel by pixel (a no-op on grey images).
    """
    x = _check(x, "color_jitter")
    strength = number_in("color_jitter", "strength", strength, 0.0, 1.0)
    p = number_in("color_jitter", "p", p, 0.0, 1.0)
    n = len(x)
    b, c, s = (_uniform(n, 1 - strength, 1 + strength, g).view(n, 1, 1, 1) for _ in range(3))
    out = (x * b).clamp(0, 1)
    mean = grey(out).mean((2, 3), keepdim=True)
    out = (mean + c * (out - mean)).clamp(0, 1)
    gr = grey(out)
    out = (gr + s * (out - gr)).clamp(0, 1)
    return _where(torch.rand(n, generator=g) < p, out, x)


def random_grayscale(x, g: torch.Generator, p: float = 0.2) -> torch.Tensor:
    """The luminance copied to every channel, for a share p of the images."""
    x = _check(x, "random_grayscale")
    p = number_in("random_grayscale", "p", p, 0.0, 1.0)
    return _where(torch.rand(len(x), generator=g) < p, grey(x).expand_as(x), x)


def hue_shuffle(x, g: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """For a share p of the images, the channels in one of the 5 orders other than (0, 1, 2)."""
    x = _check(x, "hue_shuffle")
    p = number_in("hue_shuffle", "p", p, 0.0, 1.0)
    if x.shape[1] != 3:
        raise ValueError(f"hue_shuffle: x must be RGB (N, 3, H, W), got {tuple(x.shape)}")
    orders = torch.tensor([[0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])
    pick = orders[torch.randint(0, 5, (len(x),), generator=g)]            # (N, 3)
    shuffled = torch.gather(x, 1, pick[:, :, None, None].expand_as(x))
    return _where(torch.rand(len(x), generator=g) < p, shuffled, x)


def gaussian_kernels(sigma: torch.Tensor, size: int = 5) -> torch.Tensor:
    """(N,) widths in pixels -> (N, size) normalised 1-D Gaussian kernels."""
    r = torch.arange(size, dtype=sigma.dtype) - (size - 1) / 2
    k = torch.exp(-r[None] ** 2 / (2 * sigma[:, None] ** 2))
    return k / k.sum(1, keepdim=True)


def gaussian_blur(x, g: torch.Generator, sigma=(0.1, 1.0), p: float = 0.5) -> torch.Tensor:
    """A separable 5x5 Gaussian blur with a width drawn uniformly from sigma (pixels), for a
    share p of the images (borders replicated)."""
    x = _check(x, "gaussian_blur")
    p = number_in("gaussian_blur", "p", p, 0.0, 1.0)
    if not 0 < sigma[0] <= sigma[1]:
        raise ValueError(f"gaussian_blur: sigma must be a range (low, high) of positive widths, "
                         f"got {sigma}")
    n, c, h, w = x.shape
    k = gaussian_kernels(_uniform(n, sigma[0], sigma[1], g)).to(x.dtype)   # (N, 5)
    k = k.repeat_interleave(c, 0)                                          # (N C, 5)
    y = x.reshape(1, n * c, h, w)
    y = F.conv2d(F.pad(y, (2, 2, 0, 0), mode="replicate"), k.view(n * c, 1, 1, 5), groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, 2, 2), mode="replicate"), k.view(n * c, 1, 5, 1), groups=n * c)
    return _where(torch.rand(n, generator=g) < p, y.view(n, c, h, w), x)


def simclr_view(x, g: torch.Generator, scale=(0.2, 1.0), flip: bool = True,
                ratio=(3 / 4, 4 / 3), strength: float = 0.5, hue_p: float = 0.8, grey_p: float = 0.2,
                blur_p: float = 0.5) -> torch.Tensor:
    """One random view of every image: crop (and flip), colour jitter (p = 0.8) with a channel
    shuffle (hue_p) in place of SimCLR's hue jitter, grey (grey_p), blur (blur_p), in SimCLR's
    order; on grey images (C = 1) the colour steps reduce to brightness and contrast.
    x: (N, C, H, W) in [0, 1] -> (N, C, H, W) in [0, 1]."""
    v = random_resized_crop(x, g, scale, ratio, flip=flip)
    v = color_jitter(v, g, strength) if strength > 0 else v
    if x.shape[1] == 3:
        v = hue_shuffle(v, g, hue_p) if hue_p > 0 else v
        v = random_grayscale(v, g, grey_p) if grey_p > 0 else v
    v = gaussian_blur(v, g, p=blur_p) if blur_p > 0 else v
    return v.clamp(0, 1)


def two_views(x, g: torch.Generator, **kw) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent simclr_view's of the batch x: (N, C, H, W) -> two (N, C, H, W)."""
    return simclr_view(x, g, **kw), simclr_view(x, g, **kw)
