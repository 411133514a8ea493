"""Dreaming in a decorrelated Fourier space: ``dream_fourier(image, model, objective, settings) → image``.

The picture is not optimised pixel by pixel but through a parameterisation that makes natural images
easy to reach (Olah, Mordvintsev and Schubert, "Feature Visualization", Distill 2017; Lucid's
``fft_image`` and ``to_valid_rgb``)::

    picture = sigmoid(C · irfft2(spectrum ⊙ scale) / 4)

- ``spectrum`` is the learned ``(3, H, W//2 + 1)`` complex array, one per decorrelated colour channel;
- ``scale = 1 / max(f, 1 / max(H, W)) ** DECAY`` with ``f`` the frequency in cycles per pixel: a
  1/f-like spectrum, as natural images have, so large shapes grow as fast as fine detail. Lucid's
  decay is 1; with EfficientNet-Lite0 that still left a fine, colourful texture over everything, and 1.5
  gave large shapes in the class's colours (Lite2's ranks: docs/benchmarks.md);
- ``C`` maps decorrelated colour channels to RGB: the square root of ImageNet's colour covariance
  (Lucid's ``color_correlation_svd_sqrt``, columns scaled to a largest norm of 1), so a step moves
  luminance and colour in the proportions photographs have, not each of R, G and B on its own;
- the sigmoid keeps the picture in (0, 1) without clamping (a clamp would stop the gradient);
- the 4 is Lucid's.

Each step shows the network a randomly transformed picture (transformation robustness): padded by
``jitter`` px of grey, rolled by up to ±``jitter`` px, scaled by 1 ± ``scale_jitter`` and rotated by
± ``rotate_jitter`` degrees; Adam with learning rate ``step_size`` climbs the objective on the spectrum.

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

DECAY = 1.5
"""The spectrum's weights fall as ``1 / f ** DECAY``."""

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


def to_picture(spectrum: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The ``(1, 3, H, W)`` picture in (0, 1) of a ``(3, H, W // 2 + 1)`` complex ``spectrum``; ``size`` = (H, W)."""
    h, w = size
    colours = torch.fft.irfft2(spectrum * spectrum_scale(h, w).to(spectrum.device), s=(h, w), norm="ortho") / _MAGIC
    rgb = torch.einsum("rc,chw->rhw", COLOUR.to(colours), colours)
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


def robust_view(image: torch.Tensor, settings: DreamConfig, generator: torch.Generator) -> torch.Tensor:
    """What the network sees at one step: ``image`` padded with ``jitter`` px of grey, rolled by ±``jitter``
    px, then scaled and rotated by :func:`dreamvid.ops.random_affine`; ``(1, 3, H + 2j, W + 2j)``."""
    j = int(settings.jitter)
    if j <= 0:
        return random_affine(image, settings, generator)
    oy, ox = torch.randint(-j, j + 1, (2,), generator=generator).tolist()
    padded = F.pad(image, (j, j, j, j), value=0.5)
    return random_affine(torch.roll(padded, shifts=(oy, ox), dims=(2, 3)), settings, generator)


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
    spectrum = torch.view_as_real(to_spectrum(work)).clone().requires_grad_(True)
    optimiser = torch.optim.Adam([spectrum], lr=float(settings.step_size))
    steps = int(settings.steps)
    context = torch.autocast(full.device.type, dtype=autocast_dtype) if autocast_dtype else nullcontext()
    if progress is not None:
        progress(0, steps)
    for done in range(1, steps + 1):
        picture = to_picture(torch.view_as_complex(spectrum), size)
        with context:
            acts = model(robust_view(picture, settings, generator), objective.layers)
        loss = objective(acts)
        if settings.tv > 0:
            loss = loss - settings.tv * total_variation(picture)
        optimiser.zero_grad(set_to_none=True)
        (-loss.float()).backward()
        optimiser.step()
        if progress is not None:
            progress(done, steps)
    with torch.no_grad():
        dreamed = to_picture(torch.view_as_complex(spectrum), size)
    if work is full:
        return dreamed
    return (full + resize(dreamed - work, tuple(full.shape[-2:]))).clamp_(0, 1)
