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

Large frames (``max_memory``): when the estimated memory of one step (:func:`estimate_step_memory`)
exceeds the budget, the gradient is computed on overlapping tiles and assembled into one full-size
gradient, which is then blurred and normalised exactly as an untiled one. Each tile is a *core* plus a
margin of context on every side; the cores partition the frame, and each tile's objective reads only
the activations whose cells lie in its core, every cell of the frame weighing alike, so the tiles'
gradients sum to the untiled gradient (for objectives that are means over positions: layers, channels,
guides; a class logit reads a whole tile and is only approximated). With a margin at least the
layer's receptive-field radius the sum is exact: tiles start on multiples of the network's stride and
TensorFlow-"same" padding is made to fall as in the whole frame. The core grid starts at a random
offset each step, drawn from the same generator after the jitter, so no grid shows.

Panoramas (``wrap_x``): the left and right edges are neighbours (equirectangular 360°). The network
sees the frame padded circularly on both sides by the tile margin and only the central activations
count; the autograd of that padding folds the margins' gradient back onto the wrapped columns.
Resizing between octaves, the gradient blur, the Laplacian normalisation and the TV prior wrap in x.
The horizontal roll is an exact yaw, so it is drawn over the whole width each step (whatever
``jitter``); vertically the frame shifts by the jitter with mirrored rows instead of rolling (rolling
would make the poles neighbours). The scale and rotation jitter samples wrapped columns, but scaling
or rotating about a centre is not periodic, so the transformed frame has a discontinuity where it
wraps; the whole-width roll puts it at a random column each step, where it averages out. The octave
pyramid resamples by non-integer factors, which makes a column where the grids of two levels align a
little sharper than its neighbours, and the frame's edge is always such a column; so each dream turns
the whole frame by a random yaw first (and back at the end), and that column falls anywhere in the
panorama, like the many other aligned columns (measured: seam ratio of the dream at 1024×512, 4
turns, 1.13 without the yaw, see docs/benchmarks.md for the figure with it).

Speed: the forward pass stops at the deepest layer the objective reads (see
:class:`dreamvid.models.FeatureModel`), weights carry no gradients and are stored channels-last, and
matrix work runs under bf16 autocast on CPUs with native bf16 and fp16 on CUDA (``precision="auto"``).
Figures: docs/benchmarks.md, from ``scripts/bench_engine.py``.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

from dreamvid.config import DreamConfig
from dreamvid.errors import ConfigError
from dreamvid.models import FeatureModel
from dreamvid.objectives import Objective

log = logging.getLogger(__name__)

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
            return _resize(t, (t.shape[-2] // 2, t.shape[-1] // 2), wrap_x=True)
        return F.interpolate(t, scale_factor=0.5, mode="bilinear", align_corners=False, antialias=True)

    def up(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if wrap_x:
            return _resize(t, size, wrap_x=True)
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


def _resize(image: torch.Tensor, size: tuple[int, int], *, wrap_x: bool = False) -> torch.Tensor:
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


def _resize_weight(weight: torch.Tensor, size: tuple[int, int], *, wrap_x: bool) -> torch.Tensor:
    """A step weight at an octave's ``size``; a ``(1, 1, H, 1)`` row weight stays one column wide.

    Plain bilinear: through :func:`_resize` the one-column latitude band (256 rows to 93) came out all
    zeros, so the coarse octaves were not dreamed at all, while full-width weights resized right; a
    smooth band needs no antialiasing.
    """
    if weight.shape[-1] != 1:
        return _resize(weight, size, wrap_x=wrap_x)
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


def _random_affine(x: torch.Tensor, settings: DreamConfig, generator: torch.Generator, *,
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


# --------------------------------------------------------------------------------------------------
# Memory estimate and tiles.

STEP_ALLOWANCE_BYTES_PER_PIXEL = 160
"""Bytes per pixel one step needs beyond the activations it saves for backward (measured, see below)."""

TILED_FRAME_BYTES_PER_PIXEL = 48
"""Full-size buffers of a tiled step per pixel: gradient, blur, output (+64 with scale/rotate jitter)."""

TILE_MARGIN_STRIDES = 8
"""Context around each tile's core, in units of the network's coarsest stride.

Measured: gradient of tiles with 128 px cores vs the untiled gradient on a 512×768 photo, fp32, mean
absolute difference relative to the gradient's: b4 (stride 8, receptive-field radius 33 px): margin
32 px 0.05 %, 64 px exact; b10 (stride 16, radius 170 px): 64 px 8 %, 96 px 1.9 %, 128 px 0.21 %,
160 px exact; b12 and b15 (stride 32): 256 px exact and 1.0 %. Under bf16 the floor is bf16's own
rounding: 0.5 % for b4, 1 % for b10. Blending whole-tile gradients with smooth windows over the same
tiles instead of splitting the activations by core needs about twice the margin (b10: 1.0 % at
128 px, 0.08 % at 192 px).
"""


@dataclass(frozen=True)
class _Probe:
    """What a small forward pass tells about a model and a set of layers."""

    bytes_per_pixel: float  # activations saved for backward, per input pixel
    strides: dict[str, int]  # spatial objective layer → its stride in input pixels
    stride: int  # the coarsest stride of the network part that runs: tiles align to it


_PROBES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PROBE_SIDE = 128


def _probe(model: FeatureModel, layers: Iterable[str], autocast_dtype: torch.dtype | None) -> _Probe:
    """Run ``model`` once on a 128×128 input and measure; cached per model, layers and precision.

    Bytes: the tensors autograd saves for backward whose batch dimension is the image's (weights and
    their low-precision copies excluded), deduplicated by storage.
    """
    key = (frozenset(layers), autocast_dtype)
    cache = _PROBES.setdefault(model, {})
    if key in cache:
        return cache[key]
    device = model.mean.device
    saved: dict[int, int] = {}
    side: list[int] = [_PROBE_SIDE]

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.ndim == 4 and t.shape[0] == 1 and min(t.shape[-2:]) > 1:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            side.append(min(t.shape[-2:]))
        return t

    image = torch.rand(1, 3, _PROBE_SIDE, _PROBE_SIDE, device=device).requires_grad_(True)
    context = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype else nullcontext()
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), context:
        acts = model(image, key[0])

    def stride(size: int) -> int:
        return 2 ** round(math.log2(_PROBE_SIDE / max(size, 1)))

    strides = {name: stride(a.shape[-1]) for name, a in acts.items() if a.ndim == 4}
    coarsest = max([stride(min(side)), *strides.values()])
    cache[key] = _Probe(sum(saved.values()) / _PROBE_SIDE**2, strides, coarsest)
    return cache[key]


def estimate_step_memory(
    height: int, width: int, model: FeatureModel, layers: Iterable[str], *, autocast_dtype: torch.dtype | None = None
) -> int:
    """Peak bytes one untiled :func:`ascent_step` adds to the process for an ``height × width`` image.

    The estimate is ``(a + 160) · height · width``: ``a`` is the activation memory autograd saves per
    input pixel, measured once per model, layers and precision on a 128×128 input (a few milliseconds),
    and 160 bytes per pixel cover the backward pass's temporaries and the step's full-size buffers.
    Not included: the process itself (Python, torch and the weights: about 0.8 GB resident here) and
    the caller's frames.

    Measured (EfficientNet-Lite0, 2-core Xeon with AMX, bf16 autocast; peak RSS of one step on a
    1024×2048 image minus the RSS before it, fresh process per figure) — bytes per pixel, a / measured
    / estimate: stem 22 / 210 / 182, b2 225 / 362 / 385, b4 287 / 386 / 447, b6 315 / 433 / 475,
    b8 346 / 473 / 506, b10 390 / 503 / 550, b12 408 / 519 / 568, b15 436 / 553 / 596,
    head 439 / 566 / 599, logits 439 / 550 / 599; fp32: b4 705 / 746 / 865, b10 927 / 974 / 1087.
    Steps on 512², 1024² and 1024×2048 b10 images measured 546, 485 and 500 bytes per pixel: linear.

    Example:
        >>> from dreamvid.models import load_model
        >>> estimate_step_memory(1080, 1920, load_model(), ["b10"]) > 500 * 1080 * 1920
        True
    """
    probe = _probe(model, layers, autocast_dtype)
    return int((probe.bytes_per_pixel + STEP_ALLOWANCE_BYTES_PER_PIXEL) * height * width)


@dataclass(frozen=True)
class _Tile:
    """One tile in the coordinates of the jittered image: rows and columns read, and its core within them."""

    rows: torch.Tensor  # (th,) indices into the jittered image's rows
    cols: torch.Tensor  # (tw,)
    core: tuple[int, int, int, int]  # top, bottom, left, right, in tile pixels
    share: float  # the core's share of the image's area


def _cores(length: int, core: int, offset: int, *, stride: int, periodic: bool) -> list[tuple[int, int]]:
    """Split ``[0, length)`` (a circle when ``periodic``) into cores of ``core`` pixels cut at ``offset + k·core``.

    A last piece shorter than ``stride`` joins its neighbour.

    Example:
        >>> _cores(100, 32, 16, stride=16, periodic=False)
        [(0, 16), (16, 48), (48, 80), (80, 100)]
        >>> _cores(100, 48, 16, stride=16, periodic=True)
        [(16, 64), (64, 116)]
    """
    if core >= length:
        return [(offset, offset + length)] if periodic else [(0, length)]
    if periodic:
        cuts = [offset + k * core for k in range(math.ceil(length / core))] + [offset + length]
    else:
        cuts = [0] + list(range(offset or core, length, core)) + [length]
    if cuts[-1] - cuts[-2] < stride:
        del cuts[-2]
    return list(zip(cuts, cuts[1:]))


def _spans(cores: list[tuple[int, int]], length: int, margin: int, stride: int,
           periodic: bool) -> list[tuple[torch.Tensor, int]]:
    """Indices read for each core with ``margin`` of context, and where the core starts among them.

    Every span has the same length, so the network meets one input shape per octave (oneDNN builds its
    kernels per shape): a core short of the longest gets extra context. Plain spans stay inside the
    image, start on a multiple of ``stride`` and have a length congruent to the image's modulo
    ``stride``, which lands every layer's TensorFlow-"same" padding on the untiled network's grid.

    Example:
        >>> [(int(i[0]), len(i), at) for i, at in _spans([(0, 16), (16, 48), (48, 80), (80, 100)], 100, 16, 16, False)]
        [(0, 68, 0), (0, 68, 16), (32, 68, 16), (32, 68, 48)]
    """
    if len(cores) == 1 and not periodic:
        return [(torch.arange(length), 0)]
    longest = max(b - a for a, b in cores)
    if periodic:
        width = longest + 2 * margin
        return [(torch.arange(a - margin, a - margin + width).remainder(length), margin) for a, _ in cores]
    size = min(length, -(-(longest + 2 * margin) // stride) * stride + length % stride)
    starts = [min(max(a - margin, 0), length - size) for a, _ in cores]
    return [(torch.arange(start, start + size), a - start) for start, (a, _) in zip(starts, cores)]


def _plan_tiles(h: int, w: int, *, tile_pixels: float, probe: _Probe, wrap_x: bool,
                generator: torch.Generator) -> list[_Tile]:
    """Cores that partition the ``h × w`` image, each with a margin of context, fitting ``tile_pixels``.

    Whole columns of full height when that wastes less on margins than square tiles; core sides are
    multiples of the network's coarsest stride; the cut positions are random (from ``generator``).
    """
    s = probe.stride
    m = TILE_MARGIN_STRIDES * s
    smallest = max(m, s)  # a core no smaller than its margin: at most 9 times the untiled work
    if h * (w + 2 * m * wrap_x) <= tile_pixels:
        core_h, core_w = h, w
    else:
        column = (int(tile_pixels // h) - 2 * m) // s * s  # core width of a full-height tile
        side = (math.isqrt(int(tile_pixels)) - 2 * m) // s * s  # core side of a square tile
        if side < smallest:
            _warn_small_budget(h, w)
            side = smallest
        if column >= smallest and (column + 2 * m) / column <= (side + 2 * m) ** 2 / side**2:
            core_h, core_w = h, column
        else:
            core_h = core_w = side
    offsets = [int(torch.randint(0, c // s, (1,), generator=generator)) * s if c < n else 0
               for c, n in ((core_h, h), (core_w, w))]
    row_cores = _cores(h, core_h, offsets[0], stride=s, periodic=False)
    col_cores = _cores(w, core_w, offsets[1], stride=s, periodic=wrap_x)
    tiles = []
    for (a, b), (rows, top) in zip(row_cores, _spans(row_cores, h, m, s, periodic=False)):
        for (c, d), (cols, left) in zip(col_cores, _spans(col_cores, w, m, s, periodic=wrap_x)):
            tiles.append(_Tile(rows, cols, (top, top + b - a, left, left + d - c), (b - a) * (d - c) / (h * w)))
    return tiles


@lru_cache(maxsize=64)
def _warn_small_budget(h: int, w: int) -> None:
    log.warning("max_memory is too small for a %d×%d frame; dreaming it in the smallest tiles", w, h)


class _ScaleGradient(torch.autograd.Function):
    """Identity forward; multiplies the gradient flowing back by ``factor``."""

    @staticmethod
    def forward(ctx, x, factor):  # type: ignore[override]
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return grad * ctx.factor, None


def _core_activations(acts: dict[str, torch.Tensor], tile: _Tile, probe: _Probe,
                      frame_pixels: int) -> dict[str, torch.Tensor]:
    """The tile's share of each activation: the cells of its core, each weighing ``stride² / frame_pixels``.

    Cell ``i`` of a layer with stride ``s`` covers tile pixels ``[i·s, (i+1)·s)``. An objective that
    is a mean over the cells it is given then weighs every cell of the frame alike, whichever tile it
    lies in (the untiled step weighs them alike too). A non-spatial activation (logits) is the tile's
    own, weighted by the core's share of the frame.
    """
    top, bottom, left, right = tile.core
    out = {}
    for name, a in acts.items():
        s = probe.strides.get(name)
        if s is None:
            out[name] = _ScaleGradient.apply(a, tile.share)
            continue
        core = a[..., -(-top // s):-(-bottom // s), -(-left // s):-(-right // s)]
        out[name] = _ScaleGradient.apply(core, core.shape[-2] * core.shape[-1] * s * s / frame_pixels)
    return out


def _shift_index(n: int, shift: int, *, mirror: bool) -> torch.Tensor:
    """Index map of a shift by ``shift``: circular like ``torch.roll``, or with mirrored ends."""
    i = torch.arange(n) - shift
    if not mirror:
        return i.remainder(n)
    i = i.remainder(2 * n)
    return torch.where(i >= n, 2 * n - 1 - i, i)


def _tiled_gradient(
    x: torch.Tensor,
    model: FeatureModel,
    objective: Objective,
    settings: DreamConfig,
    *,
    shift: tuple[int, int],
    generator: torch.Generator,
    autocast_dtype: torch.dtype | None,
    max_memory: int | None,
    wrap_x: bool,
) -> torch.Tensor:
    """The gradient of the jittered objective (and TV prior) with respect to ``x``, assembled from tiles."""
    h, w = x.shape[-2:]
    leaf = x.detach().requires_grad_(True)
    rows = _shift_index(h, shift[0], mirror=wrap_x).to(x.device)
    cols = _shift_index(w, shift[1], mirror=False).to(x.device)
    affine = settings.scale_jitter > 0 or settings.rotate_jitter > 0
    seen = x.detach()
    if affine:  # jitter the whole frame once; tiles read the result and autograd carries it back
        seen = _random_affine(leaf.index_select(2, rows).index_select(3, cols), settings, generator, wrap_x=wrap_x)
        rows, cols = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    probe = _probe(model, objective.layers, autocast_dtype)
    frame = (TILED_FRAME_BYTES_PER_PIXEL + 64 * affine) * h * w
    # the frame's own buffers come first; past 3/4 of the budget the tiles still get a quarter of it
    budget = math.inf if max_memory is None else max(max_memory - frame, max_memory / 4)
    tile_pixels = budget / (probe.bytes_per_pixel + STEP_ALLOWANCE_BYTES_PER_PIXEL)
    grad = torch.zeros(h, w, 3, dtype=torch.float32, device=x.device)  # (H, W, C) for index_put_
    context = torch.autocast(x.device.type, dtype=autocast_dtype) if autocast_dtype else nullcontext()
    for tile in _plan_tiles(h, w, tile_pixels=tile_pixels, probe=probe, wrap_x=wrap_x, generator=generator):
        r, c = rows[tile.rows.to(x.device)], cols[tile.cols.to(x.device)]
        part = _tile_gradient(seen.detach().index_select(2, r).index_select(3, c), tile, model, objective, probe,
                              context, h * w)
        grad.index_put_((r[:, None], c[None, :]), part[0].permute(1, 2, 0), accumulate=True)
    grad = grad.permute(2, 0, 1)[None]
    if affine:
        (grad,) = torch.autograd.grad(seen, leaf, grad)
    if settings.tv > 0:
        (tv,) = torch.autograd.grad(total_variation(leaf, wrap_x=wrap_x), leaf)
        grad = grad - settings.tv * tv
    return grad


def _tile_gradient(tile_image: torch.Tensor, tile: _Tile, model: FeatureModel, objective: Objective, probe: _Probe,
                   context: AbstractContextManager, frame_pixels: int) -> torch.Tensor:
    """The gradient of the tile's share of the objective (see :func:`_core_activations`)."""
    leaf = tile_image.requires_grad_(True)
    with context:
        acts = model(leaf, objective.layers)
    loss = objective(_core_activations(acts, tile, probe, frame_pixels))
    (grad,) = torch.autograd.grad(loss, leaf)
    return grad.float()


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
        max_memory: bytes one step may use (see :func:`estimate_step_memory`); larger images are dreamed
            in tiles. ``None``: no limit.
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
        grad = _tiled_gradient(x, model, objective, settings, shift=(oy, ox), generator=generator,
                               autocast_dtype=autocast_dtype, max_memory=max_memory, wrap_x=wrap_x)
    else:
        leaf = x.detach().requires_grad_(True)
        seen = _random_affine(torch.roll(leaf, shifts=(oy, ox), dims=(2, 3)), settings, generator)
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
            :func:`estimate_step_memory`) are dreamed in tiles. ``None``: no limit. The estimate is
            conservative: a whole dream (octaves=2, steps=3, b10, bf16) raised the peak RSS by
            1.07 GB for a 3840×1920 frame with 1 GB and by 1.9 GB for 7680×3840 with 2 GB, on top
            of the process (about 0.8 GB) and the caller's frames.
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
        work = _resize(full, (max(1, round(full.shape[-2] * f)), max(1, round(full.shape[-1] * f))), wrap_x=wrap_x)
    dtype = resolve_precision(precision, full.device)
    sizes = octave_sizes(*work.shape[-2:], octaves=settings.octaves, scale=settings.octave_scale)
    total, done = len(sizes) * settings.steps, 0
    if progress is not None:
        progress(0, total)
    detail = torch.zeros(1, 3, *sizes[0], dtype=full.dtype, device=full.device)
    for size in sizes:
        base = _resize(work, size, wrap_x=wrap_x)
        x = (base + _resize(detail, size, wrap_x=wrap_x)).clamp_(0, 1)
        del detail
        level_weight = None if weight is None else _resize_weight(weight.float(), size, wrap_x=wrap_x)
        for _ in range(settings.steps):
            x = ascent_step(x, model, objective, settings, generator=generator, autocast_dtype=dtype,
                            weight=level_weight, max_memory=max_memory, wrap_x=wrap_x)
            done += 1
            if progress is not None:
                progress(done, total)
        detail = x - base
        del x
    out = (full + _resize(detail, tuple(full.shape[-2:]), wrap_x=wrap_x)).clamp_(0, 1)
    return torch.roll(out, -yaw, dims=-1) if yaw else out
