"""Image operations on tensors for the engine: resizing, blurs, priors and random transforms.

Convention:
    ``image`` is ``(1, C, H, W)`` float on any device; functions return new tensors and never modify
    their input. With ``wrap_x`` the left and right edges are neighbours (equirectangular 360°
    panoramas): padding, resampling and differences wrap in x; rows never wrap (they reflect).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dreamvid.settings import DreamConfig

MIN_OCTAVE_SIDE = 32
"""The pyramid drops levels whose short side would be under this many pixels."""


def gaussian_blur(image: torch.Tensor, sigma: float, *, wrap_x: bool = False) -> torch.Tensor:
    """Separable Gaussian blur with reflected borders; ``sigma`` in pixels (0 returns the input).

    With ``wrap_x`` the left and right edges are neighbours (circular padding in x).
    """
    if sigma <= 0:
        return image
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = image.shape[1]
    pad_x = min(radius, image.shape[-1] - 1)
    pad_y = min(radius, image.shape[-2] - 1)
    kx = kernel[radius - pad_x : radius + pad_x + 1]
    ky = kernel[radius - pad_y : radius + pad_y + 1]
    kx = (kx / kx.sum()).view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    ky = (ky / ky.sum()).view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    out = F.conv2d(F.pad(image, (pad_x, pad_x, 0, 0), mode="circular" if wrap_x else "reflect"), kx, groups=c)
    return F.conv2d(F.pad(out, (0, 0, pad_y, pad_y), mode="reflect"), ky, groups=c)


def laplacian_normalize(grad: torch.Tensor, levels: int, *, wrap_x: bool = False) -> torch.Tensor:
    """Split ``grad`` into a Laplacian pyramid of ``levels`` bands, scale each band to unit std, merge.

    Boosts the low frequencies of the gradient so structure grows before texture (the "lapnorm" of the
    DeepDream notebook); ``levels <= 1`` returns the input. ``wrap_x``: resample periodically in x.
    """
    if levels <= 1:
        return grad

    def half(t: torch.Tensor) -> torch.Tensor:
        if wrap_x:
            return resize(t, (t.shape[-2] // 2, t.shape[-1] // 2), wrap_x=True)
        return F.interpolate(t, scale_factor=0.5, mode="bilinear", align_corners=False, antialias=True)

    def up(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if wrap_x:
            return resize(t, size, wrap_x=True)
        return F.interpolate(t, size=size, mode="bilinear", align_corners=False)

    bands, x = [], grad
    for _ in range(levels - 1):
        if min(x.shape[-2:]) < 4:
            break
        low = half(x)
        bands.append(x - up(low, tuple(x.shape[-2:])))
        x = low
    out = x / (x.std() + 1e-8)
    for band in reversed(bands):
        out = up(out, tuple(band.shape[-2:])) + band / (band.std() + 1e-8)
    return out


def total_variation(image: torch.Tensor, *, wrap_x: bool = False) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels (a smoothness prior).

    With ``wrap_x`` the last column's neighbour is the first.
    """
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    if wrap_x:
        return dy + (image - torch.roll(image, 1, dims=-1)).abs().mean()
    return dy + (image[..., :, 1:] - image[..., :, :-1]).abs().mean()


def octave_sizes(height: int, width: int, *, octaves: int, scale: float) -> list[tuple[int, int]]:
    """Pyramid sizes from smallest to full, dropping levels whose short side would be under 32 px.

    Example:
        >>> octave_sizes(100, 200, octaves=3, scale=2.0)
        [(50, 100), (100, 200)]
    """
    sizes = []
    for level in range(octaves - 1, -1, -1):
        f = scale**level
        h, w = max(1, round(height / f)), max(1, round(width / f))
        if min(h, w) >= MIN_OCTAVE_SIDE or level == 0:
            sizes.append((h, w))
    return sizes


def resize(image: torch.Tensor, size: tuple[int, int], *, wrap_x: bool = False) -> torch.Tensor:
    """Bilinear resize (antialiased when shrinking); ``wrap_x``: the left and right edges are neighbours."""
    if tuple(image.shape[-2:]) == size:
        return image
    shrinking = size[0] < image.shape[-2]
    if not wrap_x:
        return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=shrinking)
    if size[0] != image.shape[-2]:
        image = F.interpolate(image, size=(size[0], image.shape[-1]), mode="bilinear", align_corners=False,
                              antialias=shrinking)
    return _resize_x_periodic(image, size[1], antialias=shrinking)


def resize_weight(weight: torch.Tensor, size: tuple[int, int], *, wrap_x: bool) -> torch.Tensor:
    """A step weight at an octave's ``size``; a ``(1, 1, H, 1)`` row weight stays one column wide.

    Plain bilinear: through :func:`resize` the one-column latitude band (256 rows to 93) came out all
    zeros, so the coarse octaves were not dreamed at all, while full-width weights resized right; a
    smooth band needs no antialiasing.
    """
    if weight.shape[-1] != 1:
        return resize(weight, size, wrap_x=wrap_x)
    if weight.shape[-2] == size[0]:
        return weight
    return F.interpolate(weight, size=(size[0], 1), mode="bilinear", align_corners=False)


def _resize_x_periodic(image: torch.Tensor, width: int, *, antialias: bool) -> torch.Tensor:
    """Resize the last axis to ``width`` as ``F.interpolate(mode="bilinear")`` does, but circularly.

    Same triangle filter (widened by the shrink factor when ``antialias``) and pixel-centre alignment,
    so columns away from the edges match ``F.interpolate``; taps past an edge wrap to the other side.
    """
    n = image.shape[-1]
    if n == width:
        return image
    scale = n / width
    support = scale if antialias and scale > 1 else 1.0
    centre = (torch.arange(width, dtype=torch.float64) + 0.5) * scale
    first = torch.floor(centre - support + 0.5)
    taps = first[:, None] + torch.arange(math.ceil(2 * support) + 1, dtype=torch.float64)
    weights = (1 - ((taps + 0.5 - centre[:, None]) / support).abs()).clamp(min=0)
    weights = (weights / weights.sum(1, keepdim=True)).to(image.dtype).to(image.device)
    index = taps.long().remainder(n).to(image.device)
    out = image.index_select(-1, index[:, 0]) * weights[:, 0]
    for k in range(1, index.shape[1]):
        out.add_(image.index_select(-1, index[:, k]) * weights[:, k])
    return out


def random_affine(x: torch.Tensor, settings: DreamConfig, generator: torch.Generator, *,
                   wrap_x: bool = False) -> torch.Tensor:
    """Scale by 1 ± scale_jitter and rotate by ± rotate_jitter degrees about the centre (reflect borders).

    With ``wrap_x``, samples past the left or right edge come from the other side (rows still reflect).
    """
    if settings.scale_jitter <= 0 and settings.rotate_jitter <= 0:
        return x
    u = torch.rand(2, generator=generator) * 2 - 1
    scale = 1 + settings.scale_jitter * float(u[0])
    angle = math.radians(settings.rotate_jitter * float(u[1]))
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    h, w = x.shape[-2:]
    theta = torch.tensor([[cos, -sin * h / w, 0.0], [sin * w / h, cos, 0.0]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta[None], list(x.shape), align_corners=False)
    if wrap_x:  # column u (pixels) → u mod w, read from x with its first column appended on the right
        u_px = ((grid[..., 0] + 1) * w - 1) / 2
        gx = (2 * u_px.remainder(w) + 1) / (w + 1) - 1
        grid = torch.stack([gx, grid[..., 1]], dim=-1)
        x = torch.cat([x, x[..., :1]], dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

