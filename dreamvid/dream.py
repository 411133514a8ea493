"""The dream engine: ``dream(image, model, objective, settings) → image``.

Convention:
    ``image`` is ``(1, 3, H, W)`` float32 RGB in [0, 1] on the model's device; the result has the same
    shape, dtype and device and the input is never modified.

Algorithm (google/deepdream notebook, 2015): gradient ascent on the input pixels with the network
frozen, over an octave pyramid worked from the smallest level up, carrying only the added detail
(``dreamed − base``) to the next level. Each step rolls the image by a random offset (jitter), optionally
scales and rotates it a little (transform robustness, for dreaming from noise), backpropagates the
objective to the input, optionally blurs the gradient and balances its frequency bands (Laplacian
pyramid normalisation, for dreaming from noise), normalises it by its mean absolute value,
takes ``x += step_size · g / mean|g|`` and clamps to [0, 1].

Speed: the forward pass stops at the deepest layer the objective reads (see
:class:`dreamvid.models.FeatureModel`), weights carry no gradients and are stored channels-last, and
matrix work runs under bf16 autocast on CPUs with native bf16 and fp16 on CUDA (``precision="auto"``).
Figures: docs/benchmarks.md, from ``scripts/bench_engine.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import nullcontext
from functools import lru_cache

import torch
import torch.nn.functional as F

from dreamvid.config import DreamConfig
from dreamvid.errors import ConfigError
from dreamvid.models import FeatureModel
from dreamvid.objectives import Objective

Progress = Callable[[int, int], None]
"""``progress(done, total)``, called after every gradient step."""

MIN_OCTAVE_SIDE = 32


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` → CUDA when present, else CPU; otherwise the named device, checked to exist.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device '{name}'; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' asked for but CUDA is not available here; use --device cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"device '{name}' does not exist; this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device 'mps' asked for but it is not available here; use --device cpu")
    return device


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when this CPU has bf16 matrix instructions (AVX512-BF16 or AMX), where bf16 autocast pays."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``name`` on ``device``; ``None`` means plain fp32.

    ``auto``: bf16 on CPUs with native bf16, fp16 on CUDA, fp32 otherwise.
    """
    if name == "fp32":
        return None
    if name == "bf16":
        return torch.bfloat16
    if name == "fp16":
        if device.type == "cpu":
            raise ConfigError("fp16 is not supported on the CPU; use run.precision=bf16 or fp32")
        return torch.float16
    if name != "auto":
        raise ConfigError(f"unknown precision '{name}'; use auto, fp32, bf16 or fp16")
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None


def noise_image(width: int, height: int, *, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
    """A soft grey noise picture to dream from: ``(1, 3, height, width)`` in [0, 1], mid-grey ± low-frequency noise.

    Example:
        >>> noise_image(8, 4, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([1, 3, 4, 8])
    """
    coarse = torch.randn(1, 3, max(height // 8, 1), max(width // 8, 1), generator=generator)
    fine = torch.randn(1, 3, height, width, generator=generator)
    smooth = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)
    return (0.5 + 0.12 * smooth + 0.03 * fine).clamp(0, 1).to(device)


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflected borders; ``sigma`` in pixels (0 returns the input)."""
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
    out = F.conv2d(F.pad(image, (pad_x, pad_x, 0, 0), mode="reflect"), kx, groups=c)
    return F.conv2d(F.pad(out, (0, 0, pad_y, pad_y), mode="reflect"), ky, groups=c)


def laplacian_normalize(grad: torch.Tensor, levels: int) -> torch.Tensor:
    """Split ``grad`` into a Laplacian pyramid of ``levels`` bands, scale each band to unit std, merge.

    Boosts the low frequencies of the gradient so structure grows before texture (the "lapnorm" of the
    DeepDream notebook); ``levels <= 1`` returns the input.
    """
    if levels <= 1:
        return grad
    bands, x = [], grad
    for _ in range(levels - 1):
        if min(x.shape[-2:]) < 4:
            break
        low = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False, antialias=True)
        bands.append(x - F.interpolate(low, size=x.shape[-2:], mode="bilinear", align_corners=False))
        x = low
    out = x / (x.std() + 1e-8)
    for band in reversed(bands):
        out = F.interpolate(out, size=band.shape[-2:], mode="bilinear", align_corners=False) + band / (band.std() + 1e-8)
    return out


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels (a smoothness prior)."""
    return (image[..., 1:, :] - image[..., :-1, :]).abs().mean() + (image[..., :, 1:] - image[..., :, :-1]).abs().mean()


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


def _resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(image.shape[-2:]) == size:
        return image
    shrinking = size[0] < image.shape[-2]
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


def _random_affine(x: torch.Tensor, settings: DreamConfig, generator: torch.Generator) -> torch.Tensor:
    """Scale by 1 ± scale_jitter and rotate by ± rotate_jitter degrees about the centre (reflect borders)."""
    if settings.scale_jitter <= 0 and settings.rotate_jitter <= 0:
        return x
    u = torch.rand(2, generator=generator) * 2 - 1
    scale = 1 + settings.scale_jitter * float(u[0])
    angle = math.radians(settings.rotate_jitter * float(u[1]))
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    h, w = x.shape[-2:]
    theta = torch.tensor([[cos, -sin * h / w, 0.0], [sin * w / h, cos, 0.0]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta[None], list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def ascent_step(
    x: torch.Tensor,
    model: FeatureModel,
    objective: Objective,
    settings: DreamConfig,
    *,
    generator: torch.Generator,
    autocast_dtype: torch.dtype | None = None,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """One normalised gradient-ascent step on ``x``; returns a new tensor in [0, 1].

    Args:
        weight: optional ``(1, 1, H, W)`` per-pixel step weight (e.g. a mask); applied after normalising.
    """
    j = settings.jitter
    oy, ox = (torch.randint(-j, j + 1, (2,), generator=generator).tolist() if j > 0 else (0, 0))
    leaf = x.detach().requires_grad_(True)
    seen = _random_affine(torch.roll(leaf, shifts=(oy, ox), dims=(2, 3)), settings, generator)
    context = torch.autocast(x.device.type, dtype=autocast_dtype) if autocast_dtype else nullcontext()
    with context:
        acts = model(seen, objective.layers)
    loss = objective(acts)
    if settings.tv > 0:
        loss = loss - settings.tv * total_variation(leaf)
    (grad,) = torch.autograd.grad(loss, leaf)
    grad = gaussian_blur(grad.float(), settings.smooth)
    grad = laplacian_normalize(grad, settings.lapnorm)
    scale = settings.step_size / (grad.abs().mean() + 1e-8)
    if weight is not None:
        grad = grad * weight
    return torch.addcmul(x.detach(), grad, scale).clamp_(0, 1)


def dream(
    image: torch.Tensor,
    model: FeatureModel,
    objective: Objective,
    settings: DreamConfig,
    *,
    generator: torch.Generator,
    precision: str = "auto",
    progress: Progress | None = None,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Dream ``image`` toward ``objective`` over an octave pyramid.

    Args:
        image: ``(1, 3, H, W)`` float in [0, 1] on the model's device.
        model: the feature extractor.
        objective: what to maximise.
        settings: octaves, steps, step size, jitter and priors.
        generator: the random source for jitter and transforms (CPU generator), for repeatable results.
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16``.
        progress: called as ``progress(done, total)`` after each step.
        weight: optional ``(1, 1, H, W)`` per-pixel step multiplier (e.g. larger where a video frame
            shows newly revealed content), resized to each octave.

    Returns:
        The dreamed image, same shape, dtype and device.

    Example:
        >>> from dreamvid.config import DreamConfig
        >>> from dreamvid.models import load_model
        >>> from dreamvid.objectives import layer
        >>> out = dream(torch.rand(1, 3, 48, 64), load_model(), layer("b4"), DreamConfig(octaves=1, steps=2),
        ...             generator=torch.Generator().manual_seed(0))
        >>> out.shape
        torch.Size([1, 3, 48, 64])
    """
    if image.ndim != 4 or image.shape[:2] != (1, 3):
        raise ValueError(f"expected an image of shape (1, 3, H, W), got {tuple(image.shape)}")
    full = image.float()
    work = full
    if settings.max_size and max(full.shape[-2:]) > settings.max_size:
        f = settings.max_size / max(full.shape[-2:])
        work = _resize(full, (max(1, round(full.shape[-2] * f)), max(1, round(full.shape[-1] * f))))
    dtype = resolve_precision(precision, image.device)
    sizes = octave_sizes(*work.shape[-2:], octaves=settings.octaves, scale=settings.octave_scale)
    total, done = len(sizes) * settings.steps, 0
    if progress is not None:
        progress(0, total)
    detail = torch.zeros_like(_resize(work, sizes[0]))
    for size in sizes:
        base = _resize(work, size)
        x = (base + _resize(detail, size)).clamp(0, 1)
        level_weight = None if weight is None else _resize(weight.float(), size)
        for _ in range(settings.steps):
            x = ascent_step(x, model, objective, settings, generator=generator, autocast_dtype=dtype,
                            weight=level_weight)
            done += 1
            if progress is not None:
                progress(done, total)
        detail = x - base
    out = (full + _resize(detail, tuple(full.shape[-2:]))).clamp(0, 1)
    return out.to(image.dtype)
