"""Dreaming in a decorrelated Fourier space: ``dream_fourier(image, model, objective, settings) → image``.

The picture is not optimised pixel by pixel but through a parameterisation that makes natural images
easy to reach (Olah, Mordvintsev and Schubert, "Feature Visualization", Distill 2017; Lucid's
``fft_image`` and ``to_valid_rgb``)::

    picture = sigmoid(cap(C · irfft2(spectrum ⊙ scale) / 4))

- ``spectrum`` is the learned ``(3, H, W//2 + 1)`` complex array, one per decorrelated colour channel;
- ``scale = 1 / max(f, 1 / max(H, W)) ** DECAY`` with ``f`` the frequency in cycles per pixel: a
  1/f-like spectrum, as natural images have, so large shapes grow as fast as fine detail. Lucid's
  decay is 1; with EfficientNet-Lite0 that left a fine, colourful texture over everything, 1.5 gave
  patches in the class's colours, and 2 (with the crops below) whole objects: bananas, strawberries,
  goldfish a person names at once (docs/benchmarks.md);
- ``C`` maps decorrelated colour channels to RGB: the square root of ImageNet's colour covariance
  (Lucid's ``color_correlation_svd_sqrt``, columns scaled to a largest norm of 1), so a step moves
  luminance and colour in the proportions photographs have, not each of R, G and B on its own;
- ``cap`` scales the pre-sigmoid picture down when its standard deviation exceeds
  ``max(CONTRAST_CAP, the start picture's)``: without it the climb drives most pixels into the sigmoid's
  flat ends, a picture of pure black, white and primaries (the start picture is still encoded exactly);
- the mean of the two colour channels (their spectrum's zero frequency) stays the start picture's, so the
  dream paints colour locally and cannot tint the whole picture (free, the background drifted to cyan
  and blue in most classes);
- the sigmoid keeps the picture in (0, 1) without clamping (a clamp would stop the gradient);
- the 4 is Lucid's.

Each step shows the network a batch of ``VIEWS`` randomly transformed views (transformation
robustness): the picture padded by ``jitter`` px of grey and rolled by up to ±``jitter`` px, a random
crop of ``CROP_MIN`` to 1 of its sides resized to at most ``VIEW_SIZE`` px (the network's training
size), scaled by 1 ± ``scale_jitter`` and rotated by ± ``rotate_jitter`` degrees. The crops make the
objective hold for the picture's parts at several scales, so it paints whole objects, not a texture
of their parts; Adam with learning rate ``step_size`` climbs the objective's mean over the batch.

The start picture is encoded exactly (:func:`to_spectrum` inverts :func:`to_picture` for values inside
[0.001, 0.999]), so a dream from noise starts from the noise, and a photograph can be dreamed too. Noise
for this parameterisation is faint (:data:`NOISE_CONTRAST`): the fine grain of full-strength noise stays
as coloured speckle (Lucid starts from a spectrum of standard deviation 0.01, a nearly grey picture).

Convention:
    ``image`` is ``(1, 3, H, W)`` float32 RGB in [0, 1]; the spectrum is ``(3, H, W//2 + 1)`` complex64,
    FFT with ``norm="ortho"``, frequencies as :func:`torch.fft.fftfreq` (rows) and ``rfftfreq`` (columns).
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn.functional as F

from dreamvid.models import FeatureModel
from dreamvid.objectives import Objective
from dreamvid.ops import random_affine, resize, total_variation
from dreamvid.settings import DreamConfig

_COLOUR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOUR = _COLOUR_SQRT / _COLOUR_SQRT.norm(dim=0).max()
"""Decorrelated colour → RGB (rows R, G, B): ImageNet's colour covariance square root, largest column norm 1."""

DECAY = 2.0
"""The spectrum's weights fall as ``1 / f ** DECAY``."""

CONTRAST_CAP = 2.5
"""Largest standard deviation of the pre-sigmoid picture (unless the start picture's is larger)."""

VIEWS = 4
"""Randomly transformed views the network sees per step."""

CROP_MIN = 0.3
"""Smallest random crop, as a fraction of the padded picture's sides."""

VIEW_SIZE = 224
"""Longest side of a view (EfficientNet-Lite0's training size); smaller pictures keep their size."""

NOISE_CONTRAST = 0.2
"""A dream from noise in this parameterisation starts from ``0.5 + NOISE_CONTRAST · (noise − 0.5)``."""

_MAGIC = 4.0
_EDGE = 1e-3  # start pictures are clamped to [_EDGE, 1 - _EDGE] before the logit


def spectrum_scale(height: int, width: int, *, decay: float = DECAY) -> torch.Tensor:
    """The ``1 / f ** decay`` weights of an rfft2 spectrum of ``height × width``: ``(height, width // 2 + 1)`` float32.

    Example:
        >>> spectrum_scale(4, 4, decay=1)[0]  # the mean and the lowest frequencies get the cap, 1 / (1/4)
        tensor([4., 4., 2.])
    """
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    return torch.sqrt(fx * fx + fy * fy).clamp(min=1 / max(height, width)) ** -decay


def to_logits(spectrum: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The ``(3, H, W)`` pre-sigmoid RGB picture of a ``(3, H, W // 2 + 1)`` complex ``spectrum``; ``size`` = (H, W)."""
    h, w = size
    colours = torch.fft.irfft2(spectrum * spectrum_scale(h, w).to(spectrum.device), s=(h, w), norm="ortho") / _MAGIC
    return torch.einsum("rc,chw->rhw", COLOUR.to(colours), colours)


def to_picture(spectrum: torch.Tensor, size: tuple[int, int], *, cap: float | None = None) -> torch.Tensor:
    """The ``(1, 3, H, W)`` picture in (0, 1) of a ``(3, H, W // 2 + 1)`` complex ``spectrum``; ``size`` = (H, W).

    ``cap``: the pre-sigmoid picture is scaled down to this standard deviation when it has more.

    Example:
        >>> spectrum = torch.randn(3, 16, 9, dtype=torch.complex64, generator=torch.Generator().manual_seed(0)) * 50
        >>> bool(torch.logit(to_picture(spectrum, (16, 16), cap=1.0)).std() < 1.001)
        True
    """
    rgb = to_logits(spectrum, size)
    if cap is not None:
        rgb = rgb * torch.clamp(cap / rgb.std(), max=1.0)
    return torch.sigmoid(rgb)[None]


def to_spectrum(image: torch.Tensor) -> torch.Tensor:
    """The spectrum whose :func:`to_picture` is ``image`` (``(1, 3, H, W)``, values clamped to [0.001, 0.999]).

    Example:
        >>> x = torch.rand(1, 3, 5, 6) * 0.9 + 0.05
        >>> bool(torch.allclose(to_picture(to_spectrum(x), (5, 6)), x, atol=1e-5))
        True
    """
    h, w = image.shape[-2:]
    rgb = torch.logit(image[0].float().clamp(_EDGE, 1 - _EDGE))
    colours = torch.einsum("cr,rhw->chw", torch.linalg.inv(COLOUR).to(rgb), rgb) * _MAGIC
    return torch.fft.rfft2(colours, norm="ortho") / spectrum_scale(h, w).to(rgb.device)


def robust_view(image: torch.Tensor, settings: DreamConfig, generator: torch.Generator, *,
                crop_min: float = CROP_MIN, size: int = VIEW_SIZE) -> torch.Tensor:
    """One view the network sees at a step: ``image`` padded with ``jitter`` px of grey and rolled by
    ±``jitter`` px, a random crop of ``crop_min`` to 1 of its sides resized to a longest side of at most
    ``size`` px (the padded picture's own size when smaller), then scaled and rotated by
    :func:`dreamvid.ops.random_affine`; ``(1, 3, h, w)`` with the padded picture's aspect ratio."""
    j = int(settings.jitter)
    if j > 0:
        oy, ox = torch.randint(-j, j + 1, (2,), generator=generator).tolist()
        image = torch.roll(F.pad(image, (j, j, j, j), value=0.5), shifts=(oy, ox), dims=(2, 3))
    h, w = image.shape[-2:]
    u = torch.rand(3, generator=generator).tolist()
    side = crop_min + (1 - crop_min) * u[0]
    ch, cw = max(1, round(h * side)), max(1, round(w * side))
    top, left = round(u[1] * (h - ch)), round(u[2] * (w - cw))
    f = min(1.0, size / max(h, w))
    view = resize(image[..., top:top + ch, left:left + cw], (max(1, round(h * f)), max(1, round(w * f))))
    return random_affine(view, settings, generator)


def dream_fourier(
    image: torch.Tensor,
    model: FeatureModel,
    objective: Objective,
    settings: DreamConfig,
    *,
    generator: torch.Generator,
    autocast_dtype: torch.dtype | None = None,
    progress=None,
) -> torch.Tensor:
    """Climb ``objective`` for ``settings.steps`` Adam steps on the spectrum of ``image``.

    Args:
        image: ``(1, 3, H, W)`` float32 in [0, 1], the start picture (not modified).
        settings: ``steps``, ``step_size`` (Adam's learning rate), ``jitter``, ``scale_jitter``,
            ``rotate_jitter``, ``tv`` and ``max_size`` (the dream runs at that longest side and its change
            is resized onto the full picture); one level, so ``octaves`` is 1.
        generator: the random source of the transforms.
        autocast_dtype: the network's autocast dtype, ``None`` for fp32.
        progress: ``progress(done, total)`` after each step.

    Returns:
        A new ``(1, 3, H, W)`` float32 picture in [0, 1].
    """
    full = image.float()
    work = full
    if settings.max_size and max(full.shape[-2:]) > settings.max_size:
        f = settings.max_size / max(full.shape[-2:])
        work = resize(full, (max(1, round(full.shape[-2] * f)), max(1, round(full.shape[-1] * f))))
    size = (work.shape[-2], work.shape[-1])
    start = to_spectrum(work)
    cap = max(CONTRAST_CAP, float(to_logits(start, size).std()))  # the start picture is never scaled down
    held = torch.view_as_real(start)
    free = torch.ones_like(held)
    free[1:, 0, 0] = 0  # the colour channels' means stay the start's
    spectrum = held.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([spectrum], lr=float(settings.step_size))

    def picture() -> torch.Tensor:
        return to_picture(torch.view_as_complex(spectrum * free + held * (1 - free)), size, cap=cap)

    steps = int(settings.steps)
    context = torch.autocast(full.device.type, dtype=autocast_dtype) if autocast_dtype else nullcontext()
    if progress is not None:
        progress(0, steps)
    for done in range(1, steps + 1):
        painted = picture()
        views = torch.cat([robust_view(painted, settings, generator) for _ in range(VIEWS)])
        with context:
            acts = model(views, objective.layers)
        loss = objective(acts)
        if settings.tv > 0:
            loss = loss - settings.tv * total_variation(painted)
        optimiser.zero_grad(set_to_none=True)
        (-loss.float()).backward()
        optimiser.step()
        if progress is not None:
            progress(done, steps)
    with torch.no_grad():
        dreamed = picture()
    if work is full:
        return dreamed
    return (full + resize(dreamed - work, tuple(full.shape[-2:]))).clamp_(0, 1)
