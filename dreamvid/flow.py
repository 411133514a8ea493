"""Optical flow: ``(method) → (frame_a, frame_b) → flow``; warping, reliability masks, cut detection.

The only module that uses OpenCV for motion; OpenCV's BGR/grayscale conversions stay in here.

Convention:
    - A *frame* is a numpy array of shape ``(H, W, 3)``, dtype ``uint8``, channels in **RGB** order.
      A 2-D ``(H, W)`` uint8 array is taken as an already-converted grayscale frame.
    - A *flow* is a numpy array of shape ``(H, W, 2)``, dtype ``float32``, in pixels; channel 0 is the
      x (column) displacement, channel 1 the y (row) displacement; ``+x`` is right, ``+y`` is down.
    - ``flow(a, b)`` (what :func:`make_flow` returns) lives on **a's grid** and points into **b**:
      ``a(p) ≈ b(p + flow(p))``. This is OpenCV's ``calc(I0, I1)``.
    - The flow the video code uses is the **backward** flow ``b`` on the *current* frame's grid:
      ``current(p) ≈ previous(p + b(p))``, i.e. ``b = flow(current, previous)``; the forward flow is
      ``f = flow(previous, current)``. To bring anything from the previous frame onto the current grid,
      sample it at ``p + b(p)``: ``warp(previous_thing, b)``. The common shortcut of sampling at
      ``p − f(p)`` is wrong wherever the motion changes (object edges), because ``f`` lives on the
      previous frame's grid, not the current one.

Methods (:data:`FLOW_METHODS`; figures measured at 1080p on a CPU): ``"dis"`` (DIS, medium preset, the
default: 0.08 px end-point error, 0.12 s per frame on a CPU), ``"dis-fast"`` (DIS, fast preset: 0.14 px,
0.03 s) and ``"farneback"`` (dense polynomial expansion: 1 px, 0.45 s; a fallback). A RAFT method
(torchvision's ``raft_small``, only when its weights are already on disk; H and W multiples of 8) is a
possible later addition; nothing here downloads.

Panoramas (``wrap_x``): for equirectangular 360° frames the left and right edges are neighbours. Flow is
then computed on the frame padded circularly in x (:func:`periodic_flow`, or ``make_flow(wrap_x=True)``)
and cropped back, so motion across the seam is found like any other; :func:`warp`, :func:`reliability`
and the cut test take ``wrap_x=True`` to sample across the seam instead of off the frame (rows never wrap).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from dreamvid.arrays import check_frame
from dreamvid.errors import ConfigError

__all__ = [
    "BORDER_MODES",
    "CUT_MIN_RELIABLE",
    "CUT_THRESHOLD",
    "FLOW_METHODS",
    "FlowFunction",
    "backward_flow",
    "change_score",
    "make_flow",
    "periodic_flow",
    "reliability",
    "scene_cut",
    "warp",
]

FLOW_METHODS: tuple[str, ...] = ("dis", "dis-fast", "farneback")
"""Names :func:`make_flow` accepts."""

BORDER_MODES: tuple[str, ...] = ("replicate", "reflect", "wrap", "constant")
"""Names :func:`warp` accepts for ``border``."""

FlowFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``flow(frame_a, frame_b) -> (H, W, 2) float32`` on a's grid pointing into b."""

_BORDERS = {
    "replicate": cv2.BORDER_REPLICATE,  # aaa|abcd|ddd
    "reflect": cv2.BORDER_REFLECT_101,  # cb|abcd|cb  (mirror about the edge pixel, like numpy's "reflect")
    "wrap": cv2.BORDER_WRAP,  # cd|abcd|ab  (equirectangular panoramas)
    "constant": cv2.BORDER_CONSTANT,  # 00|abcd|00
}
_DIS_MIN_SIDE = 32  # smaller frames are padded for DIS (measured: 15x300 segfaults, 24x2000 fails)
_DIS_PRESETS = {"dis": cv2.DISOpticalFlow_PRESET_MEDIUM, "dis-fast": cv2.DISOpticalFlow_PRESET_FAST}
# Farneback: 5 pyramid levels at scale 0.5, a 21 px window, poly_n 7 with sigma 1.5 (OpenCV's recommended
# pair). Measured on noisy 160x120 pans of 3.6 / 11.7 px: mean error 0.11 / 2.3 px, against 0.16 / 4.5 px
# for the OpenCV sample's levels 3, window 15, poly_n 5, sigma 1.2.
_FARNEBACK = {"pyr_scale": 0.5, "levels": 5, "winsize": 21, "iterations": 3, "poly_n": 7,
              "poly_sigma": 1.5, "flags": 0}
_WARP_CHANNELS = 4  # cv2.remap handles at most 4 channels at once
_PERIODIC_MARGIN, _PERIODIC_MIN_MARGIN = 1 / 8, 16  # periodic_flow's default pad: W/8 a side, >= 16 px

# Ruder, Dosovitskiy & Brox (2016) consistency test; see :func:`reliability`.
_OCCLUSION_RELATIVE, _OCCLUSION_ABSOLUTE = 0.01, 0.5
_BOUNDARY_RELATIVE, _BOUNDARY_ABSOLUTE = 0.01, 0.002
_SOFT_SIGMA, _SOFT_TAPS = 0.8, 5

CUT_THRESHOLD = 0.6
"""Default :func:`scene_cut` threshold on the change score (see there for the figures behind it)."""

CUT_MIN_RELIABLE = 0.2
"""Default :func:`scene_cut` minimum fraction of reliable pixels."""

_CUT_MIN_CONTRAST = 0.03  # floor of the contrast that normalises the change score


# ---------------------------------------------------------------------------------------------- flow


def make_flow(method: str = "dis", *, weights: str | None = None, device: str = "cpu",
              wrap_x: bool = False) -> FlowFunction:
    """Make an optical-flow function.

    Args:
        method: One of :data:`FLOW_METHODS`, or ``"raft"`` (torchvision's RAFT-small: slower, better on
            large motion; its weights come from torchvision's cache or ``weights``, see
            :func:`dreamvid.models.load_raft`).
        weights: RAFT only: a state-dict file.
        device: RAFT only: where it runs.
        wrap_x: Panoramas: the left and right edges are neighbours (see :func:`periodic_flow`).

    Returns:
        ``flow(frame_a, frame_b)``: the dense flow on ``frame_a``'s grid pointing into ``frame_b``
        (``a(p) ≈ b(p + flow(p))``), a new ``(H, W, 2)`` float32 array. Frames are ``(H, W, 3)`` uint8 RGB
        or ``(H, W)`` uint8 grayscale, of equal size; they are not modified. Each call starts from zero
        flow (no initial guess). For DIS, frames under 32 px on a side are padded by edge replication
        (OpenCV's DIS fails or crashes on them). A DIS function keeps one OpenCV object: do not share it
        across threads.

    Raises:
        ConfigError: Unknown ``method``.

    Example:
        >>> flow = make_flow("dis-fast")
        >>> frame = np.zeros((32, 48, 3), np.uint8)
        >>> flow(frame, frame).shape
        (32, 48, 2)
    """
    if wrap_x:
        return periodic_flow(make_flow(method, weights=weights, device=device))
    if method == "raft":
        return _raft_flow(weights, device)
    if method in _DIS_PRESETS:
        dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[method])

        def calc(gray_a: np.ndarray, gray_b: np.ndarray) -> np.ndarray:
            height, width = gray_a.shape
            pad_y, pad_x = max(0, _DIS_MIN_SIDE - height), max(0, _DIS_MIN_SIDE - width)
            if pad_y or pad_x:  # OpenCV's DIS rejects, or crashes on, images under ~32 px on a side
                gray_a, gray_b = (cv2.copyMakeBorder(g, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
                                  for g in (gray_a, gray_b))
            return dis.calc(gray_a, gray_b, None)[:height, :width]
    elif method == "farneback":

        def calc(gray_a: np.ndarray, gray_b: np.ndarray) -> np.ndarray:
            return cv2.calcOpticalFlowFarneback(gray_a, gray_b, None, **_FARNEBACK)
    else:
        raise ConfigError(f"unknown flow method {method!r}; use one of {', '.join(FLOW_METHODS)} or raft")

    def flow(frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
        gray_a, gray_b = _gray(frame_a, "frame_a"), _gray(frame_b, "frame_b")
        if gray_a.shape != gray_b.shape:
            raise ValueError(f"expected frames of equal size, got {_size(gray_a)} and {_size(gray_b)}")
        return np.ascontiguousarray(calc(gray_a, gray_b), dtype=np.float32)

    flow.__doc__ = f"Optical flow ({method}) on frame_a's grid pointing into frame_b."
    return flow


def periodic_flow(flow: FlowFunction, *, margin: int | None = None) -> FlowFunction:
    """A flow function for panoramas: x is periodic (the left and right edges are neighbours).

    Both frames are padded circularly by ``margin`` columns on each side, ``flow`` runs on the padded
    pair, and the result is cropped back to the frame, so content crossing the seam is tracked as in
    the middle of the frame. The x displacements are not reduced modulo the width: ``p + flow(p)`` may
    lie past an edge, which :func:`warp` with ``wrap_x=True`` reads from the other side.

    Args:
        flow: Any :data:`FlowFunction` (from :func:`make_flow`).
        margin: Columns added on each side; default ``W/8`` rounded up, at least 16, at most ``W``.

    Returns:
        A :data:`FlowFunction` of the same frames and convention.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> scene = cv2.GaussianBlur(rng.random((40, 120)).astype(np.float32), (0, 0), 2)
        >>> scene = cv2.normalize(scene, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
        >>> current, previous = scene, np.roll(scene, -3, axis=1)  # the view turned 3 px right, across the seam
        >>> b = periodic_flow(make_flow("dis"))(current, previous)
        >>> np.round(np.median(b[10:30, :4], axis=(0, 1)), 1).tolist()  # at the seam: previous(p − 3x)
        [-3.0, 0.0]
    """
    if margin is not None and (isinstance(margin, bool) or not isinstance(margin, int) or margin < 0):
        raise ConfigError(f"expected a periodic-flow margin of 0 or more columns, got {margin!r}")

    def wrapped(frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
        if not (isinstance(frame_a, np.ndarray) and isinstance(frame_b, np.ndarray)) or frame_a.ndim < 2 \
                or frame_a.shape != frame_b.shape or frame_a.size == 0:
            return flow(frame_a, frame_b)  # the flow function says what is wrong with them
        width = frame_a.shape[1]
        pad = margin if margin is not None else max(_PERIODIC_MIN_MARGIN, math.ceil(width * _PERIODIC_MARGIN))
        columns = np.arange(-min(pad, width), width + min(pad, width)) % width
        padded = flow(frame_a[:, columns], frame_b[:, columns])
        return np.ascontiguousarray(padded[:, min(pad, width):min(pad, width) + width])

    wrapped.__doc__ = f"{flow.__doc__ or 'Optical flow'} Periodic in x (panoramas)."
    return wrapped


def _raft_flow(weights: str | None, device: str) -> FlowFunction:
    """RAFT-small as a :data:`FlowFunction`: RGB in [-1, 1], sides padded (replicated) to multiples of 8, >= 128."""
    import torch
    import torch.nn.functional as F

    from dreamvid.models import load_raft

    net = load_raft(weights=weights, device=device)

    def flow(frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
        check_frame(frame_a, "frame_a")
        check_frame(frame_b, "frame_b")
        if frame_a.shape != frame_b.shape:
            raise ValueError(f"expected frames of equal size, got {_size(frame_a)} and {_size(frame_b)}")
        height, width = frame_a.shape[:2]
        # RAFT works at 1/8 scale and its correlation pyramid needs >= 16 cells: sides >= 128, multiples of 8
        pad = (0, max(128, width + -width % 8) - width, 0, max(128, height + -height % 8) - height)
        a, b = (F.pad(torch.from_numpy(np.ascontiguousarray(f)).permute(2, 0, 1)[None].float().div(127.5).sub(1),
                      pad, mode="replicate").to(device) for f in (frame_a, frame_b))
        with torch.no_grad():
            out = net(a, b, num_flow_updates=12)[-1][0, :, :height, :width]
        return np.ascontiguousarray(out.permute(1, 2, 0).cpu().numpy(), dtype=np.float32)

    return flow


def backward_flow(
    current: np.ndarray, previous: np.ndarray, *, flow: FlowFunction | None = None
) -> np.ndarray:
    """The backward flow ``b`` on the current frame's grid: ``current(p) ≈ previous(p + b(p))``.

    Args:
        current: The later frame, ``(H, W, 3)`` uint8 RGB (or ``(H, W)`` uint8 gray); not modified.
        previous: The earlier frame, same size and kind; not modified.
        flow: A function from :func:`make_flow`; reuse one across frames. Default: a new ``"dis"`` one.

    Returns:
        A new ``(H, W, 2)`` float32 flow, ``flow(current, previous)``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> scene = cv2.GaussianBlur(rng.random((80, 100)).astype(np.float32), (0, 0), 2)
        >>> scene = cv2.normalize(scene, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
        >>> previous, current = scene[10:70, 10:90], scene[10:70, 12:92]  # camera pans 2 px right
        >>> b = backward_flow(current, previous)
        >>> np.round(np.median(b[20:40, 20:60], axis=(0, 1)), 1).tolist()  # current(p) = previous(p + 2x)
        [2.0, 0.0]
    """
    return (flow or make_flow("dis"))(current, previous)


# ---------------------------------------------------------------------------------------------- warp


def warp(image: np.ndarray, flow: np.ndarray, *, border: str = "replicate", wrap_x: bool = False,
         interpolation: str = "linear") -> np.ndarray:
    """Sample ``image`` at ``p + flow(p)`` for every pixel ``p`` of the flow's grid (bilinear).

    With the backward flow ``b`` this moves anything from the previous frame onto the current grid:
    ``warp(previous, b) ≈ current``. Float results are exact bilinear interpolation to float32
    precision (float64 images are computed in float32); integer flows give exact copies.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` array, dtype uint8, float32 or float64 (any C); not modified.
        flow: ``(H, W, 2)`` float flow in pixels, channel 0 = x; not modified.
        border: How samples outside the image are filled: ``"replicate"`` (nearest edge pixel),
            ``"reflect"`` (mirror about the edge pixel: ``cb|abcd|cb``), ``"wrap"`` (the opposite edge:
            360° panoramas) or ``"constant"`` (zero).
        wrap_x: Panoramas: x is periodic (samples past the left or right edge come from the other side)
            while ``border`` applies to rows only (so ``"replicate"`` keeps the poles apart).
        interpolation: ``"linear"`` (bilinear), ``"cubic"`` (bicubic, 4×4 taps: keeps more of the detail
            it moves) or ``"lanczos"`` (8×8 taps).

    Returns:
        A new array of the same shape and dtype as ``image`` (uint8 results are rounded).

    Raises:
        ConfigError: Unknown ``border``.
        TypeError/ValueError: Arrays of the wrong type, shape or dtype, or sizes that differ.

    Example:
        >>> image = np.array([[0.0, 1.0, 2.0]], np.float32)
        >>> right = np.zeros((1, 3, 2), np.float32); right[..., 0] = 1  # take the right neighbour
        >>> warp(image, right).tolist(), warp(image, right, border="wrap").tolist()
        ([[1.0, 2.0, 2.0]], [[1.0, 2.0, 0.0]])
        >>> warp(image, right, wrap_x=True).tolist()
        [[1.0, 2.0, 0.0]]
    """
    if border not in _BORDERS:
        raise ConfigError(f"unknown border mode {border!r}; use one of {', '.join(BORDER_MODES)}")
    if interpolation not in _INTERPOLATIONS:
        raise ConfigError(f"unknown interpolation {interpolation!r}; use one of {', '.join(_INTERPOLATIONS)}")
    check_frame(image, "image", dtypes=("uint8", "float32", "float64"), channels=None)
    flow = _check_flow(flow, "flow")
    if flow.shape[:2] != image.shape[:2]:
        raise ValueError(f"expected a flow of the image's size {_size(image)}, got {_size(flow)}")

    height, width = flow.shape[:2]
    map_x = flow[..., 0] + np.arange(width, dtype=np.float32)[None, :]  # new arrays: inputs untouched
    map_y = flow[..., 1] + np.arange(height, dtype=np.float32)[:, None]
    # float32 work: OpenCV interpolates float64 through its 1/32 px fixed-point table.
    source = image.astype(np.float32) if image.dtype == np.float64 else image
    planes = source if source.ndim == 3 else source[..., None]
    taps = _INTERPOLATIONS[interpolation]
    if wrap_x and taps == cv2.INTER_LINEAR:  # x in [0, W], read with the first column appended: W is column 0
        map_x = np.mod(map_x, np.float32(width), out=map_x)
        planes = np.concatenate([planes, planes[:, :1]], axis=1)
    elif wrap_x:  # wider kernels: the other side's columns on both sides
        pad = 4
        map_x = np.mod(map_x, np.float32(width), out=map_x) + np.float32(pad)
        planes = np.concatenate([planes[:, -pad:], planes, planes[:, :pad]], axis=1)
    chunks = [
        cv2.remap(np.ascontiguousarray(planes[..., start:stop]), map_x, map_y, taps,
                  borderMode=_BORDERS[border], borderValue=0).reshape(height, width, stop - start)
        for start, stop in _channel_groups(planes.shape[2])
    ]
    result = chunks[0] if len(chunks) == 1 else np.concatenate(chunks, axis=2)
    return result.reshape(image.shape).astype(image.dtype, copy=False)


_INTERPOLATIONS = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}


def _channel_groups(channels: int) -> list[tuple[int, int]]:
    """Channel ranges for cv2.remap: at most 4 at a time and never exactly 2 (OpenCV 5 interpolates
    2-channel images through the 1/32 px fixed-point table: errors up to 1.1 % of the range, measured)."""
    groups = []
    start = 0
    while channels - start > 0:
        size = min(_WARP_CHANNELS, channels - start)
        size = 1 if size == 2 else size
        groups.append((start, start + size))
        start += size
    return groups


# --------------------------------------------------------------------------------------- reliability


def reliability(backward: np.ndarray, forward: np.ndarray, *, soft: bool = True,
                wrap_x: bool = False) -> np.ndarray:
    """Where the backward flow can be trusted: 1 = reliable, 0 = occluded, motion boundary or off-frame.

    The forward-backward consistency test of Ruder, Dosovitskiy & Brox (2016, "Artistic style transfer
    for videos"). With ``f̃(p) = f(p + b(p))`` (the forward flow warped by the backward flow), pixel ``p``
    of the current frame is *unreliable* where

    - ``|f̃ + b|² > 0.01·(|f̃|² + |b|²) + 0.5`` (disocclusion: the two flows do not undo each other), or
    - ``|∇b_x|² + |∇b_y|² > 0.01·|b|² + 0.002`` (motion boundary; central differences), or
    - ``p + b(p)`` falls outside ``[0, W−1] × [0, H−1]`` (content entering the frame).

    The soft mask marks reliable pixels +1 and unreliable −1, blurs with a 5-tap Gaussian (σ = 0.8) and
    clips to ``[0, 1]``, so the edges of unreliable regions fade over about one pixel. An isolated
    unreliable pixel ends at about 0.5.

    The test is symmetric in time: ``reliability(f_t→t+1, f_t+1→t)`` is the mask on frame t's grid for
    sampling frame t+1 (what the metrics use).

    Args:
        backward: Backward flow ``b`` on the current grid, ``(H, W, 2)``; not modified.
        forward: Forward flow ``f`` on the previous grid, same shape; not modified.
        soft: False returns the hard test instead: exactly 1.0 (reliable) or 0.0.
        wrap_x: Panoramas: x is periodic, so samples past the left or right edge are in the frame, and
            differences and the blur reach across the seam.

    Returns:
        A new ``(H, W)`` float32 mask in ``[0, 1]``.

    Example:
        >>> still = np.zeros((4, 6, 2), np.float32)
        >>> reliability(still, still).min()
        np.float32(1.0)
        >>> left = still.copy(); left[..., 0] = -1  # current(p) = previous(p - (1, 0)): column 0 entered
        >>> reliability(left, -left, soft=False)[0].tolist()
        [0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    backward = _check_flow(backward, "backward")
    forward = _check_flow(forward, "forward")
    if forward.shape != backward.shape:
        raise ValueError(f"expected forward and backward flows of equal size, got {_size(forward)} "
                         f"and {_size(backward)}")
    reliable = ~_unreliable(backward, forward, wrap_x=wrap_x)
    if not soft:
        return reliable.astype(np.float32)
    marks = np.where(reliable, np.float32(1.0), np.float32(-1.0))
    pad = _SOFT_TAPS // 2 if wrap_x else 0
    if pad:
        marks = marks[:, np.arange(-pad, marks.shape[1] + pad) % marks.shape[1]]
    blurred = cv2.GaussianBlur(marks, (_SOFT_TAPS, _SOFT_TAPS), _SOFT_SIGMA,
                               borderType=cv2.BORDER_REPLICATE)
    return np.clip(blurred[:, pad:blurred.shape[1] - pad], 0.0, 1.0)


def _unreliable(backward: np.ndarray, forward: np.ndarray, *, wrap_x: bool = False) -> np.ndarray:
    """The hard test of :func:`reliability`: a ``(H, W)`` bool array, True where unreliable."""
    bx, by = _planes(backward)
    fx, fy = _planes(warp(forward, backward, wrap_x=wrap_x))  # f̃(p) = f(p + b(p)); off-frame: flagged anyway
    b_sq = bx * bx + by * by
    round_trip = np.square(fx + bx) + np.square(fy + by)
    magnitudes = fx * fx + fy * fy + b_sq
    occluded = round_trip > _OCCLUSION_RELATIVE * magnitudes + _OCCLUSION_ABSOLUTE
    return occluded | _boundary_or_outside(backward, wrap_x=wrap_x)


def _boundary_or_outside(backward: np.ndarray, *, wrap_x: bool = False) -> np.ndarray:
    """The parts of the test that need only ``b``: True at motion boundaries and off-frame samples
    (``wrap_x``: no sample is off the frame in x, and x differences are periodic)."""
    bx, by = _planes(backward)
    height, width = bx.shape
    gradient_sq = sum(np.square(g) for g in (*_gradient(bx, wrap_x=wrap_x), *_gradient(by, wrap_x=wrap_x)))
    boundary = gradient_sq > _BOUNDARY_RELATIVE * (bx * bx + by * by) + _BOUNDARY_ABSOLUTE
    y = by + np.arange(height, dtype=np.float32)[:, None]
    outside = boundary | (y < 0) | (y > height - 1)
    if wrap_x:
        return outside
    x = bx + np.arange(width, dtype=np.float32)[None, :]
    return outside | (x < 0) | (x > width - 1)


def _planes(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous copies of the x and y channels (numpy is several times faster on them)."""
    return np.ascontiguousarray(flow[..., 0]), np.ascontiguousarray(flow[..., 1])


def _gradient(channel: np.ndarray, *, wrap_x: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(d/dx, d/dy) by central differences; one-sided at the edges; zero along a side of length 1.
    ``wrap_x``: d/dx is periodic (central everywhere)."""
    grads = []
    for axis in (1, 0):
        if channel.shape[axis] < 2:
            grads.append(np.zeros_like(channel))
        elif axis == 1 and wrap_x:
            grads.append((np.roll(channel, -1, axis=1) - np.roll(channel, 1, axis=1)) / 2)
        else:
            grads.append(np.gradient(channel, axis=axis))
    return grads[0], grads[1]


# ------------------------------------------------------------------------------------------ scene cut


def scene_cut(
    current: np.ndarray,
    previous: np.ndarray,
    backward: np.ndarray,
    *,
    threshold: float = CUT_THRESHOLD,
    min_reliable: float = CUT_MIN_RELIABLE,
    mask: np.ndarray | None = None,
    wrap_x: bool = False,
) -> bool:
    """Whether ``current`` does not continue ``previous`` (a cut, a flash, or flow that failed).

    Rule: warp ``previous`` onto the current grid with the backward flow and take the difference
    ``d = current − warp(previous, b)`` (RGB, ``[0, 1]`` scale) over the *reliable* pixels. The *change
    score* is the mean of ``|d − mean(d)|`` (the mean taken per channel, so a global exposure change or
    fade does not count) divided by the current frame's own contrast there, ``mean |current −
    mean(current)|`` (at least 0.03, so near-flat frames do not divide by ~0). It is a cut when the score
    exceeds ``threshold`` or fewer than ``min_reliable`` of the pixels are reliable. Unrelated images
    score about 1 (as different from each other as the frame is from its own mean), whatever their
    brightness or contrast; a continuing shot scores little more than its noise does.

    Reliable pixels are ``mask > 0.5`` when a :func:`reliability` mask is given (recommended: the
    forward-backward test rejects nearly all of the chaotic flow found between unrelated images);
    otherwise those that pass the parts of the test that need only ``b`` (in frame, no motion boundary).

    Defaults, measured on 160×120 crops of scikit-image photos with DIS medium: continuing motion
    (shifts up to 20 px, 2° rotation with 3 % zoom, 8 % exposure change with noise, noise σ = 8/255 in
    both frames, a 4× darkened scene) scores at most 0.14 with 69-97 % reliable pixels (with the mask);
    unrelated photos, a darkened pair included, score 0.93-1.4 with the mask (0.98-2.0 without) and
    keep 0-9 % reliable pixels with the mask. A cut to or from a flat grey frame scores 1.0 or more.

    Args:
        current, previous: ``(H, W, 3)`` uint8 RGB frames of equal size; not modified.
        backward: ``flow(current, previous)``, ``(H, W, 2)``; not modified.
        threshold: Largest change score that still counts as continuous (> 0).
        min_reliable: Smallest fraction of reliable pixels that still counts as continuous (0 to 1).
        mask: Optional ``reliability(backward, forward)`` mask, ``(H, W)`` in ``[0, 1]``.
        wrap_x: Panoramas: x is periodic (as in :func:`warp`).

    Returns:
        True for a cut.

    Raises:
        ConfigError: ``threshold`` not positive, or ``min_reliable`` outside ``[0, 1]``.
        TypeError/ValueError: Arrays of the wrong type, shape, dtype or size.

    Example:
        >>> frame = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
        >>> still = np.zeros((24, 32, 2), np.float32)
        >>> scene_cut(frame, frame, still), scene_cut(frame, 255 - frame, still)
        (False, True)
    """
    if not _is_number(threshold) or not 0 < threshold < math.inf:
        raise ConfigError(f"expected a positive scene-cut threshold, got {threshold!r}")
    if not _is_number(min_reliable) or not 0 <= min_reliable <= 1:
        raise ConfigError(f"expected a scene-cut min_reliable from 0 to 1, got {min_reliable!r}")
    score, fraction = change_score(current, previous, backward, mask=mask, wrap_x=wrap_x)
    return fraction < min_reliable or score > threshold


def change_score(current: np.ndarray, previous: np.ndarray, backward: np.ndarray, *,
                 mask: np.ndarray | None = None, wrap_x: bool = False) -> tuple[float, float]:
    """The two figures :func:`scene_cut` thresholds: ``(change score, reliable fraction)``.

    See :func:`scene_cut` for the arguments and definitions. The score is ``inf`` when no pixel is
    reliable. Useful for tuning the thresholds on footage.
    """
    check_frame(current, "current")
    check_frame(previous, "previous")
    backward = _check_flow(backward, "backward")
    if not current.shape == previous.shape == backward.shape[:2] + (3,):
        raise ValueError(f"expected current, previous and backward of one size, got {_size(current)}, "
                         f"{_size(previous)} and {_size(backward)}")
    if mask is None:
        reliable = ~_boundary_or_outside(backward, wrap_x=wrap_x)
    else:
        if not isinstance(mask, np.ndarray) or mask.shape != backward.shape[:2]:
            got = mask.shape if isinstance(mask, np.ndarray) else type(mask).__name__
            raise ValueError(f"expected a mask of shape {backward.shape[:2]}, got {got}")
        reliable = mask > 0.5
    fraction = float(reliable.mean())
    if not reliable.any():
        return float("inf"), fraction
    selected = reliable.astype(np.uint8)
    now = current.astype(np.float32)
    difference = now - warp(previous, backward, wrap_x=wrap_x).astype(np.float32)
    # Means per channel over the reliable pixels (cv2.mean with a mask: no copies of the selection).
    residual = _masked_mean(np.abs(difference - _masked_mean(difference, selected)), selected)
    contrast = _masked_mean(np.abs(now - _masked_mean(now, selected)), selected)
    score = float(residual.mean()) / max(float(contrast.mean()) / 255.0, _CUT_MIN_CONTRAST) / 255.0
    return score, fraction


def _masked_mean(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-channel mean of an ``(H, W, 3)`` float32 image over the pixels where ``mask`` is non-zero."""
    return np.array(cv2.mean(image, mask=mask)[:3], np.float32)


# -------------------------------------------------------------------------------------------- helpers


def _gray(frame: object, name: str) -> np.ndarray:
    """A contiguous ``(H, W)`` uint8 gray image from an RGB frame (or a gray one, as is)."""
    if isinstance(frame, np.ndarray) and frame.ndim == 2 and 0 not in frame.shape:
        return np.ascontiguousarray(check_frame(frame, name, channels=None))
    check_frame(frame, name)
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def _check_flow(flow: object, name: str) -> np.ndarray:
    """``flow`` as a float32 ``(H, W, 2)`` array (a copy only if the dtype differs)."""
    return check_frame(flow, name, dtypes=("float32", "float64"), channels=2).astype(np.float32, copy=False)


def _is_number(value: object) -> bool:
    """A real number (int or float), not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _size(array: np.ndarray) -> str:
    """``WxH`` of an image-like array."""
    return f"{array.shape[1]}x{array.shape[0]}"
