"""Large frames in tiles: ``tiled_gradient(x, model, objective, settings) → gradient``, within ``max_memory``.

When the estimated memory of one step (:func:`estimate_step_memory`) exceeds the budget, the gradient is
computed on overlapping tiles and assembled into one full-size gradient, which the engine then blurs and
normalises exactly as an untiled one. Each tile is a *core* plus a margin of context on every side; the
cores partition the frame, and each tile's objective reads only the activations whose cells lie in its
core, every cell of the frame weighing alike, so the tiles' gradients sum to the untiled gradient (for
objectives that are means over positions: layers, channels, guides; a class logit reads a whole tile and
is only approximated). With a margin at least the layer's receptive-field radius the sum is exact: tiles
start on multiples of the network's stride and TensorFlow-"same" padding is made to fall as in the whole
frame. The core grid starts at a random offset each step, drawn from the same generator after the
jitter, so no grid shows.

Panoramas (``wrap_x``): the network sees the frame padded circularly on both sides by the tile margin and
only the central activations count; the autograd of that padding folds the margins' gradient back onto
the wrapped columns. Margin and memory figures: docs/benchmarks.md ("Tiles").
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import lru_cache

import torch

from dreamvid.models import FeatureModel
from dreamvid.objectives import Objective
from dreamvid.ops import random_affine, total_variation
from dreamvid.settings import DreamConfig

log = logging.getLogger(__name__)

STEP_ALLOWANCE_BYTES_PER_PIXEL = 270
"""Bytes per pixel one step needs beyond the activations it saves for backward (measured: docs/benchmarks.md)."""

TILED_FRAME_BYTES_PER_PIXEL = 48
"""Full-size buffers of a tiled step per pixel: gradient, blur, output (+64 with scale/rotate jitter)."""

TILE_MARGIN_STRIDES = 8
"""Context around each tile's core, in units of the network's coarsest stride (128 px for EfficientNet-Lite0
b10): in fp32 exact for b4 and 0.4 % off for b10 (scripts/bench_tiles.py; docs/benchmarks.md, "Tiles")."""


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

    The estimate is ``(a + 270) · height · width``: ``a`` is the activation memory autograd saves per
    input pixel, measured once per model, layers and precision on a 128×128 input (a few milliseconds),
    and 270 bytes per pixel (:data:`STEP_ALLOWANCE_BYTES_PER_PIXEL`) cover the backward pass's temporaries and the step's full-size buffers.
    Not included: the process itself (Python, torch and the weights: about 0.8 GB resident here) and
    the caller's frames.

    Measured per layer and precision: docs/benchmarks.md ("Tiles").

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


def tiled_gradient(
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
        seen = random_affine(leaf.index_select(2, rows).index_select(3, cols), settings, generator, wrap_x=wrap_x)
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

