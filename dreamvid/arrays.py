"""Frames as numpy arrays: one check and one float ↔ uint8 conversion for the whole package.

Convention:
    A *frame* is an ``(H, W, 3)`` RGB numpy array, either uint8 (0–255) or float32 in [0, 1]. Converting
    float → uint8 rounds half up after clamping (``⌊255·x + ½⌋``, NaN → 0); uint8 → float divides by 255,
    so ``to_uint8(to_float(frame))`` gives ``frame`` back exactly.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np


def check_frame(
    frame: object,
    name: str = "frame",
    *,
    dtypes: Collection[str] = ("uint8",),
    channels: int | None = 3,
) -> np.ndarray:
    """Raise unless ``frame`` is a non-empty ``(H, W, channels)`` array of one of ``dtypes``; return it.

    Args:
        frame: what to check.
        name: what the error message calls it.
        dtypes: accepted dtype names; ``"float"`` accepts any floating-point dtype.
        channels: the last axis' length; ``None`` accepts ``(H, W)`` and ``(H, W, C)`` of any C.

    Raises:
        TypeError: ``frame`` is not a numpy array.
        ValueError: wrong shape or dtype ("expected …, got …").

    Example:
        >>> check_frame(np.zeros((2, 3, 3), np.uint8)).shape
        (2, 3, 3)
        >>> check_frame(np.zeros((2, 3), np.uint8), "mask")
        Traceback (most recent call last):
        ValueError: expected mask of shape (H, W, 3), got (2, 3)
        >>> check_frame(np.zeros((2, 3), np.int32), dtypes=("uint8", "float32", "float64"), channels=None)
        Traceback (most recent call last):
        ValueError: expected frame of dtype uint8, float32 or float64, got int32
    """
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"expected {name} to be a numpy array, got {type(frame).__name__}")
    if channels is None:
        if frame.ndim not in (2, 3) or 0 in frame.shape:
            raise ValueError(f"expected {name} of shape (H, W) or (H, W, C), got {frame.shape}")
    elif frame.ndim != 3 or frame.shape[2] != channels or 0 in frame.shape:
        raise ValueError(f"expected {name} of shape (H, W, {channels}), got {frame.shape}")
    floating = "float" in dtypes and np.issubdtype(frame.dtype, np.floating)
    if not floating and frame.dtype.name not in dtypes:
        *most, last = dtypes
        shown = f"{', '.join(most)} or {last}" if most else last
        raise ValueError(f"expected {name} of dtype {shown}, got {frame.dtype}")
    return frame


def to_uint8(frame: np.ndarray, *, in_place: bool = False) -> np.ndarray:
    """A new uint8 array from floats in [0, 1]: ``⌊255·x + ½⌋`` after clamping, NaN → 0.

    The arithmetic keeps ``frame``'s float dtype (float32 or float64). ``in_place=True`` scales a float
    ``frame`` in place before converting (it is destroyed), saving one full-size copy for huge frames.

    Example:
        >>> to_uint8(np.array([0.0, 0.5, 1.2, -1.0, np.nan, 0.5 / 255])).tolist()
        [0, 128, 255, 0, 0, 1]
    """
    values = np.asarray(frame)
    if not np.issubdtype(values.dtype, np.floating):
        values, in_place = values.astype(np.float32), True
    scaled = np.multiply(values, 255, out=values if in_place else None)
    np.nan_to_num(scaled, copy=False, nan=0.0)
    scaled += 0.5
    return np.clip(scaled, 0, 255, out=scaled).astype(np.uint8)


def to_float(frame: np.ndarray) -> np.ndarray:
    """A new float32 array in [0, 1] from uint8 (``frame / 255``); floats are copied as float32.

    Example:
        >>> to_float(np.array([0, 51, 255], np.uint8)).tolist()
        [0.0, 0.20000000298023224, 1.0]
    """
    if frame.dtype == np.uint8:
        return frame.astype(np.float32) / np.float32(255.0)
    return np.array(frame, dtype=np.float32)
