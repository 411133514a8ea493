"""The dream engine: ``dream(image, model, objective, settings) → image``, and :class:`Engine`, built once.

Convention:
    ``image`` is ``(1, 3, H, W)`` float32 RGB in [0, 1] on the model's device; the result has the same
    shape, dtype and device and the input is never modified. :meth:`Engine.dream_array` is the numpy
    side: an ``(H, W, 3)`` float32 frame in [0, 1] in, a new one out.

Algorithm (google/deepdream notebook, 2015): gradient ascent on the input pixels with the network
frozen, over an octave pyramid worked from the smallest level up, carrying only the added detail
(``dreamed − base``) to the next level. Each step rolls the image by a random offset (jitter), optionally
scales and rotates it a little (transform robustness, for dreaming from noise), backpropagates the
objective to the input, optionally blurs the gradient and balances its frequency bands (Laplacian
pyramid normalisation, for dreaming from noise), normalises it by its mean absolute value,
takes ``x += step_size · g / mean|g|`` and clamps to [0, 1]. Frames over ``max_memory`` take their
gradient in tiles (:mod:`dreamvid.tiles`).

Panoramas (``wrap_x``): the left and right edges are neighbours (equirectangular 360°). Resizing between
octaves, the gradient blur, the Laplacian normalisation and the TV prior wrap in x (:mod:`dreamvid.ops`).
The horizontal roll is an exact yaw, so it is drawn over the whole width each step (whatever
``jitter``); vertically the frame shifts by the jitter with mirrored rows instead of rolling (rolling
would make the poles neighbours). The scale and rotation jitter samples wrapped columns, but scaling
or rotating about a centre is not periodic, so the transformed frame has a discontinuity where it
wraps; the whole-width roll puts it at a random column each step, where it averages out. The octave
pyramid resamples by non-integer factors, which makes a column where the grids of two levels align a
little sharper than its neighbours, and the frame's edge is always such a column; so each dream turns
the whole frame by a random yaw first (and back at the end), and that column falls anywhere in the
panorama (seam figures: docs/benchmarks.md).

Speed: the forward pass stops at the deepest layer the objective reads (see
:class:`dreamvid.models.FeatureModel`), weights carry no gradients and are stored channels-last, and
matrix work runs under bf16 autocast on CPUs with native bf16 and fp16 on CUDA (``precision="auto"``).
Figures: docs/benchmarks.md, from ``scripts/bench_engine.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from dreamvid.errors import ConfigError
from dreamvid.fourier import dream_fourier
from dreamvid.images import read_image, to_tensor
from dreamvid.models import FeatureModel, load_model
from dreamvid.objectives import Objective, parse_objective
from dreamvid.ops import (
    gaussian_blur,
    laplacian_normalize,
    octave_sizes,
    random_affine,
    resize,
    resize_weight,
    total_variation,
)
from dreamvid.runtime import cpu_kind
from dreamvid.settings import DreamConfig
from dreamvid.tiles import estimate_step_memory, tiled_gradient

Progress = Callable[..., None]
"""``progress(done, total, preview=None)``: called as work is done (``preview``: the latest frame or ``None``)."""

GUIDE_MAX_SIDE = 512
"""Guide pictures (``guide:x.jpg`` objectives) are shrunk to this longest side before their features are taken."""


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


def cpu_has_native_bf16() -> bool:
    """True when this CPU has bf16 matrix instructions (AVX512-BF16 or AMX), where bf16 autocast pays."""
    return cpu_kind() != "none"


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




def ascent_step(
    x: torch.Tensor,
    model: FeatureModel,
    objective: Objective,
    settings: DreamConfig,
    *,
    generator: torch.Generator,
    autocast_dtype: torch.dtype | None = None,
    weight: torch.Tensor | None = None,
    max_memory: int | None = None,
    wrap_x: bool = False,
) -> torch.Tensor:
    """One normalised gradient-ascent step on ``x``; returns a new tensor in [0, 1].

    Args:
        weight: optional ``(1, 1, H, W)`` per-pixel step weight (e.g. a mask); applied after normalising.
        max_memory: bytes one step may use (see :func:`dreamvid.tiles.estimate_step_memory`); larger
            images are dreamed in tiles. ``None``: no limit.
        wrap_x: the left and right edges are neighbours (equirectangular panoramas).

    Tiles: the biggest that fit ``max_memory`` less the frame's own full-size buffers (48 bytes per
    pixel, 112 with scale or rotation jitter; the tiles get at least a quarter of the budget), as
    whole-height columns when that wastes less on margins than squares, with a margin of
    ``TILE_MARGIN_STRIDES`` times the network's coarsest stride (128 px for EfficientNet-Lite0 b10)
    and a core no smaller than the margin. A step in tiles draws the core grid's offset from
    ``generator`` after the jitter, so it continues the random sequence differently from an untiled
    step; with ``wrap_x`` the horizontal roll is drawn over the whole width.
    """
    _check_max_memory(max_memory)
    j = settings.jitter
    oy, ox = (torch.randint(-j, j + 1, (2,), generator=generator).tolist() if j > 0 else (0, 0))
    if wrap_x:  # a horizontal roll is an exact yaw: any amount, so the frame's own seam lands anywhere
        ox = int(torch.randint(0, x.shape[-1], (1,), generator=generator))
    if wrap_x or (max_memory is not None and _over_budget(x, model, objective, autocast_dtype, max_memory)):
        grad = tiled_gradient(x, model, objective, settings, shift=(oy, ox), generator=generator,
                               autocast_dtype=autocast_dtype, max_memory=max_memory, wrap_x=wrap_x)
    else:
        leaf = x.detach().requires_grad_(True)
        seen = random_affine(torch.roll(leaf, shifts=(oy, ox), dims=(2, 3)), settings, generator)
        context = torch.autocast(x.device.type, dtype=autocast_dtype) if autocast_dtype else nullcontext()
        with context:
            acts = model(seen, objective.layers)
        loss = objective(acts)
        if settings.tv > 0:
            loss = loss - settings.tv * total_variation(leaf)
        (grad,) = torch.autograd.grad(loss, leaf)
    grad = gaussian_blur(grad.float(), settings.smooth, wrap_x=wrap_x)
    grad = laplacian_normalize(grad, settings.lapnorm, wrap_x=wrap_x)
    scale = settings.step_size / (grad.abs().mean() + 1e-8)
    if weight is not None:
        grad = grad * weight
    return torch.addcmul(x.detach(), grad, scale).clamp_(0, 1)


def _check_max_memory(max_memory: int | None) -> None:
    if max_memory is not None and (isinstance(max_memory, bool) or not isinstance(max_memory, int) or max_memory <= 0):
        raise ConfigError(f"max_memory must be a positive number of bytes, or None for no limit; got {max_memory!r}")


def _over_budget(x: torch.Tensor, model: FeatureModel, objective: Objective, autocast_dtype: torch.dtype | None,
                 max_memory: int) -> bool:
    h, w = x.shape[-2:]
    return estimate_step_memory(h, w, model, objective.layers, autocast_dtype=autocast_dtype) > max_memory


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
    max_memory: int | None = None,
    wrap_x: bool = False,
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
            shows newly revealed content), resized to each octave; ``(1, 1, H, 1)`` weighs whole rows.
        max_memory: bytes one gradient step may use; octaves whose step would need more (by
            :func:`dreamvid.tiles.estimate_step_memory`, a conservative estimate: docs/benchmarks.md)
            are dreamed in tiles. ``None``: no limit.
        wrap_x: treat the left and right edges as neighbours (equirectangular 360° panoramas).

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
    _check_max_memory(max_memory)
    if settings.parameterization == "fourier":
        _check_fourier(image, model, objective, settings, precision, weight=weight, max_memory=max_memory,
                       wrap_x=wrap_x)
        return dream_fourier(image, model, objective, settings, generator=generator, progress=progress,
                             autocast_dtype=resolve_precision(precision, image.device)).to(image.dtype)
    full = image.float()
    yaw = int(torch.randint(0, full.shape[-1], (1,), generator=generator)) if wrap_x else 0
    if yaw:  # a random yaw, undone at the end (see the module notes on panoramas)
        if full.data_ptr() == image.data_ptr():  # turn the caller's frame in place and back: no second 8K copy
            full.copy_(torch.roll(full, yaw, dims=-1))
            try:
                return _dream_turned(full, yaw, model, objective, settings, generator=generator, precision=precision,
                                     progress=progress, weight=weight, max_memory=max_memory)
            finally:
                image.copy_(torch.roll(image, -yaw, dims=-1))
        full = torch.roll(full, yaw, dims=-1)
    return _dream_turned(full, yaw, model, objective, settings, generator=generator, precision=precision,
                         progress=progress, weight=weight, max_memory=max_memory, wrap_x=wrap_x).to(image.dtype)


def _check_fourier(image: torch.Tensor, model: FeatureModel, objective: Objective, settings: DreamConfig,
                   precision: str, *, weight: torch.Tensor | None, max_memory: int | None, wrap_x: bool) -> None:
    """Refuse what ``dream.parameterization = "fourier"`` does not use (octaves, gradient filters) or cannot do
    (360° frames, step weights for video, tiles)."""
    why = "with dream.parameterization = 'fourier'"
    if settings.octaves != 1:
        raise ConfigError(f"dream.octaves must be 1 {why} (the spectrum holds every scale at once), got {settings.octaves}")
    if settings.smooth != 0:
        raise ConfigError(f"dream.smooth must be 0 {why} (the 1/f spectrum is the prior), got {settings.smooth:g}")
    if settings.lapnorm > 1:
        raise ConfigError(f"dream.lapnorm must be 0 or 1 {why} (the 1/f spectrum is the prior), got {settings.lapnorm}")
    why = "dream.parameterization = 'fourier' paints flat still pictures"
    if wrap_x:
        raise ConfigError(f"{why}, not 360° frames; use dream.parameterization = 'pixels'")
    if weight is not None:
        raise ConfigError(f"{why}, not video frames; use dream.parameterization = 'pixels'")
    h, w = image.shape[-2:]
    if settings.max_size and max(h, w) > settings.max_size:
        f = settings.max_size / max(h, w)
        h, w = max(1, round(h * f)), max(1, round(w * f))
    dtype = resolve_precision(precision, image.device)
    if max_memory is not None and estimate_step_memory(h, w, model, objective.layers, autocast_dtype=dtype) > max_memory:
        raise ConfigError(f"{why} in one piece, and {w}x{h} needs more than run.max_memory; "
                          f"set a smaller dream.max_size or raise run.max_memory")


def _dream_turned(
    full: torch.Tensor,
    yaw: int,
    model: FeatureModel,
    objective: Objective,
    settings: DreamConfig,
    *,
    generator: torch.Generator,
    precision: str,
    progress: Progress | None,
    weight: torch.Tensor | None,
    max_memory: int | None,
    wrap_x: bool = True,
) -> torch.Tensor:
    """:func:`dream` of ``full`` (float32), turned by ``yaw`` columns (0: not turned); the result turned back."""
    if yaw and weight is not None and weight.shape[-1] != 1:
        weight = torch.roll(weight, yaw, dims=-1)
    work = full
    if settings.max_size and max(full.shape[-2:]) > settings.max_size:
        f = settings.max_size / max(full.shape[-2:])
        work = resize(full, (max(1, round(full.shape[-2] * f)), max(1, round(full.shape[-1] * f))), wrap_x=wrap_x)
    dtype = resolve_precision(precision, full.device)
    sizes = octave_sizes(*work.shape[-2:], octaves=settings.octaves, scale=settings.octave_scale)
    total, done = len(sizes) * settings.steps, 0
    if progress is not None:
        progress(0, total)
    detail = torch.zeros(1, 3, *sizes[0], dtype=full.dtype, device=full.device)
    for size in sizes:
        base = resize(work, size, wrap_x=wrap_x)
        x = (base + resize(detail, size, wrap_x=wrap_x)).clamp_(0, 1)
        del detail
        level_weight = None if weight is None else resize_weight(weight.float(), size, wrap_x=wrap_x)
        for _ in range(settings.steps):
            x = ascent_step(x, model, objective, settings, generator=generator, autocast_dtype=dtype,
                            weight=level_weight, max_memory=max_memory, wrap_x=wrap_x)
            done += 1
            if progress is not None:
                progress(done, total)
        detail = x - base
        del x
    out = (full + resize(detail, tuple(full.shape[-2:]), wrap_x=wrap_x)).clamp_(0, 1)
    return torch.roll(out, -yaw, dims=-1) if yaw else out


def seeded_generator(seed: int, stream: str = "dream") -> torch.Generator:
    """The one place a seed becomes random numbers: the generator of ``stream`` for ``seed``.

    ``"dream"`` (jitter, tile grids) is ``torch.Generator().manual_seed(seed)``; any other stream
    (``"noise"``: the picture a dream from noise starts from) is seeded from a hash of the seed and the
    stream's name, so the streams of one seed are independent of each other.

    Example:
        >>> a, b = seeded_generator(7), seeded_generator(7, "noise")
        >>> torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=seeded_generator(7)))
        True
        >>> torch.equal(torch.rand(3, generator=b), torch.rand(3, generator=seeded_generator(7)))
        False
    """
    if stream == "dream":
        return torch.Generator().manual_seed(seed)
    digest = hashlib.sha256(f"dreamvid:{seed}:{stream}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))


@dataclass(frozen=True)
class Engine:
    """A loaded model and its parsed objectives on a device, with the precision and memory budget to dream at.

    ``objectives`` holds every objective a render names (one, or each value of a schedule like
    ``"0:b8, 120:b12"``), parsed up front so a bad one fails before any frame is rendered. Built once by
    :func:`build_engine`; what changes from frame to frame (the :class:`DreamConfig` in force, the
    generator, a step weight) is passed to each call.
    """

    model: FeatureModel
    objectives: Mapping[str, Objective]
    device: torch.device
    precision: str = "auto"
    max_memory: int | None = None

    def objective(self, text: str) -> Objective:
        """The parsed objective for ``text``, a value of ``dream.objective`` at some frame."""
        return self.objectives[text]

    def dream(self, image: torch.Tensor, settings: DreamConfig, *, generator: torch.Generator,
              weight: torch.Tensor | None = None, wrap_x: bool = False,
              progress: Progress | None = None) -> torch.Tensor:
        """:func:`dream` of a ``(1, 3, H, W)`` tensor with this engine's model, objective, precision and memory."""
        return dream(image, self.model, self.objective(settings.objective), settings, generator=generator,
                     precision=self.precision, progress=progress, weight=weight, max_memory=self.max_memory,
                     wrap_x=wrap_x)

    def dream_array(self, image: np.ndarray, settings: DreamConfig, *, generator: torch.Generator,
                    weight: np.ndarray | None = None, wrap_x: bool = False,
                    progress: Progress | None = None) -> np.ndarray:
        """Dream an ``(H, W, 3)`` float array in [0, 1]; returns a new float32 array.

        ``weight``: optional ``(H, W)`` per-pixel step multiplier, or ``(H, 1)`` per row.
        """
        x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None].to(self.device)
        w = None if weight is None else torch.from_numpy(np.ascontiguousarray(weight, np.float32))[None, None]
        out = self.dream(x, settings, generator=generator, weight=None if w is None else w.to(self.device),
                         wrap_x=wrap_x, progress=progress)
        return out[0].permute(1, 2, 0).float().cpu().numpy()


def build_engine(
    *,
    objectives: Sequence[str] = ("",),
    model: str = "efficientnet-lite0",
    weights: str | None = None,
    device: str = "auto",
    precision: str = "auto",
    max_memory: int | None = None,
) -> Engine:
    """Resolve the device and precision, load the model and parse the objectives.

    Args:
        objectives: every objective text the render uses (``""``: the model's default layer).
        model, weights: the network and an optional state-dict file.
        device, precision: as ``[run]`` names them (``"auto"``, ``"cpu"``, ``"cuda:1"``; ``"bf16"`` ...).
        max_memory: bytes one gradient step may use (larger frames are dreamed in tiles); ``None``: no limit.

    Raises:
        ConfigError, ModelError, ObjectiveError, InputError: with a one-line message.

    Example:
        >>> sorted(build_engine(objectives=["b4"], device="cpu").objective("b4").layers)
        ['b4']
    """
    torch_device = resolve_device(device)
    resolve_precision(precision, torch_device)
    net = load_model(model, weights=weights or None, device=torch_device)

    def guide_features(path: str, layer: str) -> torch.Tensor:
        guide = to_tensor(read_image(path), device=torch_device)
        scale = GUIDE_MAX_SIDE / max(guide.shape[-2:])
        if scale < 1:
            size = (max(1, round(guide.shape[-2] * scale)), max(1, round(guide.shape[-1] * scale)))
            guide = F.interpolate(guide, size=size, mode="bilinear", antialias=True, align_corners=False)
        with torch.no_grad():
            return net(guide, [layer])[layer]

    parsed = {text: parse_objective(text, default_layer=net.default_layer, layers=net.channels,
                                    categories=net.categories, guide_features=guide_features)
              for text in dict.fromkeys(objectives)}
    return Engine(net, parsed, torch_device, precision, max_memory)
