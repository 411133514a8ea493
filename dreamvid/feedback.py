"""Feedback transforms for zoom loops: ``(rates per second, fps) → one affine matrix per frame``; ``warp_affine(image, matrix) → image``.

Conventions:
    Pixel coordinates ``(x, y)``, x to the right, y down, origin at the top-left pixel's centre.
    ``zoom > 1`` zooms **in** (content grows); ``degrees > 0`` turns the content **counter-clockwise** as
    seen on screen; ``shift = (dx, dy)`` moves the content right and down, in pixels. The centre is given
    relative to the frame, ``(0.5, 0.5)`` being its middle.
    Rates are per second and describe one continuous motion, ``dx/dt = L (x − c) + v`` with
    ``L = ln(zoom)·I + radians·K`` (K the quarter turn) and ``v`` the shift per second; a frame's matrix is
    that motion's flow over ``1/fps`` (a matrix exponential), so n frames at n·fps compose to exactly one
    frame at fps, whatever the mix of zoom, rotation and shift. Alone, each gives ``scale = zoom ** (1 / fps)``,
    ``angle = degrees / fps``, ``shift = shift / fps``.
    A matrix ``M`` (2×3) maps a source pixel to where it lands: ``dst = M @ (x, y, 1)``. Zoom, rotation and
    shift are composed into one matrix and applied with **one** resample per frame.
"""

from __future__ import annotations

import math

from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from dreamvid.errors import ConfigError

if TYPE_CHECKING:
    from dreamvid.config import ZoomConfig

_BORDERS = {"reflect": cv2.BORDER_REFLECT101, "replicate": cv2.BORDER_REPLICATE, "wrap": cv2.BORDER_WRAP,
            "constant": cv2.BORDER_CONSTANT}
_FILTERS = {"lanczos": cv2.INTER_LANCZOS4, "cubic": cv2.INTER_CUBIC, "linear": cv2.INTER_LINEAR}


def affine_matrix(
    size: tuple[int, int],
    *,
    zoom: float = 1.0,
    degrees: float = 0.0,
    shift: tuple[float, float] = (0.0, 0.0),
    center: tuple[float, float] = (0.5, 0.5),
) -> np.ndarray:
    """The 2×3 matrix that zooms by ``zoom`` and turns by ``degrees`` about ``center``, then shifts.

    Args:
        size: ``(width, height)`` of the frame.
        zoom: scale factor, > 0 (> 1 zooms in).
        degrees: counter-clockwise rotation on screen.
        shift: ``(dx, dy)`` in pixels.
        center: relative centre of zoom and rotation.

    Example:
        >>> affine_matrix((5, 5), zoom=2.0).round(3).tolist()
        [[2.0, 0.0, -2.0], [0.0, 2.0, -2.0]]
    """
    if not zoom > 0 or not math.isfinite(zoom):
        raise ConfigError(f"zoom must be a positive number, got {zoom!r}")
    width, height = size
    cx, cy = center[0] * (width - 1), center[1] * (height - 1)
    a = math.radians(degrees)
    # y points down, so a counter-clockwise turn on screen is (x, y) -> (x cos a + y sin a, -x sin a + y cos a)
    linear = zoom * np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    offset = np.array([cx, cy]) - linear @ np.array([cx, cy]) + np.asarray(shift, dtype=float)
    return np.hstack([linear, offset[:, None]]) + 0.0  # + 0.0 turns -0.0 into 0.0


def frame_matrix(
    size: tuple[int, int],
    *,
    fps: float,
    zoom_per_second: float = 1.0,
    degrees_per_second: float = 0.0,
    shift_per_second: tuple[float, float] = (0.0, 0.0),
    center: tuple[float, float] = (0.5, 0.5),
) -> np.ndarray:
    """One frame's share of per-second motion, as a single matrix (see the module conventions).

    The matrix is ``expm(G / fps)`` for the motion's generator ``G``, so frames compose exactly: two
    frames at 60 fps equal one at 30 fps for any mix of zoom, rotation and shift. With a shift alone the
    content moves ``shift_per_second`` pixels a second; combined with zoom or rotation, the shift is the
    velocity of the content at the centre (the path curves, as a spiral does).

    Example:
        >>> m60 = frame_matrix((9, 9), fps=60, zoom_per_second=1.2, degrees_per_second=30, shift_per_second=(5, 0))
        >>> m30 = frame_matrix((9, 9), fps=30, zoom_per_second=1.2, degrees_per_second=30, shift_per_second=(5, 0))
        >>> bool(np.allclose(compose(m60, m60), m30))
        True
        >>> frame_matrix((5, 5), fps=1, zoom_per_second=2.0).round(6).tolist()
        [[2.0, 0.0, -2.0], [0.0, 2.0, -2.0]]
    """
    if not fps > 0:
        raise ConfigError(f"fps must be positive, got {fps!r}")
    if not zoom_per_second > 0 or not math.isfinite(zoom_per_second):
        raise ConfigError(f"zoom must be a positive number, got {zoom_per_second!r}")
    width, height = size
    c = np.array([center[0] * (width - 1), center[1] * (height - 1)])
    a = math.radians(degrees_per_second)
    # a counter-clockwise turn on screen (y down) is x -> [[cos, sin], [-sin, cos]] x: generator [[0, 1], [-1, 0]]
    linear = np.array([[math.log(zoom_per_second), a], [-a, math.log(zoom_per_second)]])
    generator = np.zeros((3, 3))
    generator[:2, :2] = linear
    generator[:2, 2] = np.asarray(shift_per_second, dtype=float) - linear @ c
    matrix = torch.linalg.matrix_exp(torch.from_numpy(generator / fps)).numpy()[:2]
    return matrix + 0.0  # + 0.0 turns -0.0 into 0.0


def feedback_matrix(zoom: ZoomConfig, size: tuple[int, int], fps: float) -> np.ndarray | None:
    """The frame matrix for a ``[zoom]`` table already evaluated at a frame (``Config.at``); ``None`` if identity."""
    if (zoom.zoom, zoom.rotate, zoom.shift_x, zoom.shift_y) == (1.0, 0.0, 0.0, 0.0):
        return None
    return frame_matrix(size, fps=fps, zoom_per_second=float(zoom.zoom), degrees_per_second=float(zoom.rotate),
                        shift_per_second=(float(zoom.shift_x), float(zoom.shift_y)),
                        center=(float(zoom.center_x), float(zoom.center_y)))


def compose(second: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The matrix applying ``first`` then ``second``."""
    a = np.vstack([second, [0, 0, 1]])
    b = np.vstack([first, [0, 0, 1]])
    return (a @ b)[:2]


def warp_affine(image: np.ndarray, matrix: np.ndarray, *, border: str = "reflect", filter: str = "lanczos") -> np.ndarray:
    """Resample ``image`` (H, W, C) so each source pixel moves where ``matrix`` sends it; same size and dtype.

    A sharp filter (Lanczos) keeps detail from washing out over hundreds of feedback frames; the reflect
    border leaves no smeared edges. The identity matrix returns an exact copy. Float results are not
    clipped (Lanczos may overshoot a little); uint8 results are saturated by OpenCV.

    Example:
        >>> img = np.arange(9, dtype=np.float32).reshape(3, 3, 1)
        >>> warp_affine(img, affine_matrix((3, 3), degrees=90))[..., 0].tolist()
        [[2.0, 5.0, 8.0], [1.0, 4.0, 7.0], [0.0, 3.0, 6.0]]
    """
    if border not in _BORDERS or filter not in _FILTERS:
        raise ConfigError(f"unknown border {border!r} or filter {filter!r}; borders: {', '.join(_BORDERS)}; "
                          f"filters: {', '.join(_FILTERS)}")
    if image.ndim != 3:
        raise ValueError(f"expected an image of shape (H, W, C), got {image.shape}")
    if np.allclose(matrix, [[1, 0, 0], [0, 1, 0]], atol=1e-12):
        return image.copy()
    height, width = image.shape[:2]
    out = cv2.warpAffine(image, np.asarray(matrix, dtype=np.float64), (width, height),
                         flags=_FILTERS[filter], borderMode=_BORDERS[border])
    return out.reshape(image.shape)


def lab_stats(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of an RGB float image (H, W, 3) in [0, 1], in CIE LAB."""
    lab = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.float32), cv2.COLOR_RGB2LAB).reshape(-1, 3)
    return lab.mean(0), lab.std(0)


def match_colour(image: np.ndarray, reference: tuple[np.ndarray, np.ndarray], *, strength: float = 1.0) -> np.ndarray:
    """Move ``image``'s LAB mean and std toward ``reference`` (from :func:`lab_stats`) by ``strength`` (0–1).

    Keeps long feedback loops from drifting in brightness and saturation (colour burn-out).

    Example:
        >>> grey = np.full((4, 4, 3), 0.5, np.float32)
        >>> bool(np.allclose(match_colour(grey * 0.5, lab_stats(grey)), grey, atol=1e-3))
        True
    """
    if strength <= 0:
        return image.copy()
    lab = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.float32), cv2.COLOR_RGB2LAB)
    mean, std = lab.reshape(-1, 3).mean(0), lab.reshape(-1, 3).std(0)
    ref_mean, ref_std = reference
    matched = (lab - mean) * (ref_std / np.maximum(std, 1e-3)) + ref_mean
    lab = lab + strength * (matched - lab)
    return np.clip(cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB), 0, 1)
