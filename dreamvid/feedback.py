"""Feedback transforms for zoom loops: ``(rates per second, fps) → one affine matrix per frame``; ``warp_affine(image, matrix) → image``.

Conventions:
    Pixel coordinates ``(x, y)``, x to the right, y down, origin at the top-left pixel's centre.
    ``zoom > 1`` zooms **in** (content grows); ``degrees > 0`` turns the content **counter-clockwise** as
    seen on screen; ``shift = (dx, dy)`` moves the content right and down, in pixels. The centre is given
    relative to the frame, ``(0.5, 0.5)`` being its middle.
    Rates are per second and converted per frame exactly: ``scale = zoom ** (1 / fps)``,
    ``angle = degrees / fps``, ``shift = shift / fps``, so the motion over a second is the same at any fps.
    A matrix ``M`` (2×3) maps a source pixel to where it lands: ``dst = M @ (x, y, 1)``. Zoom, rotation and
    shift are composed into one matrix and applied with **one** resample per frame.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from dreamvid.errors import ConfigError

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

    Zoom and rotation about the centre compose exactly (n frames at n·fps equal one at fps), and so does
    a shift alone; a shift combined with zoom or rotation is applied after each frame's zoom/rotation, so
    its total differs from the per-second figure by O(1/fps).

    Example:
        >>> m60 = frame_matrix((9, 9), fps=60, zoom_per_second=1.2, degrees_per_second=30)
        >>> m30 = frame_matrix((9, 9), fps=30, zoom_per_second=1.2, degrees_per_second=30)
        >>> bool(np.allclose(compose(m60, m60), m30))
        True
    """
    if not fps > 0:
        raise ConfigError(f"fps must be positive, got {fps!r}")
    return affine_matrix(size, zoom=zoom_per_second ** (1 / fps), degrees=degrees_per_second / fps,
                         shift=(shift_per_second[0] / fps, shift_per_second[1] / fps), center=center)


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
