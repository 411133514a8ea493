"""The Python entry points that have no command behind them: :func:`dream` on an image in memory, and
:func:`analyze_audio`. Everything else :mod:`dreamvid` offers is re-exported from where it lives.

Convention:
    An image is a torch tensor ``(1, 3, H, W)`` or ``(3, H, W)``, float in [0, 1] (any float dtype and
    device), or a numpy ``(H, W, 3)`` RGB array, uint8 or float in [0, 1]. :func:`dream` gives back the
    same type, shape and dtype (and device) as it was given; uint8 is rounded half up.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TypeVar

import numpy as np
import torch

from dreamvid.arrays import check_frame, to_float, to_uint8
from dreamvid.audio import SAMPLE_RATE, Envelopes, analyze
from dreamvid.engine import Engine, Progress, build_engine
from dreamvid.pipeline import dream_picture
from dreamvid.settings import Config
from dreamvid.video import read_audio

Image = TypeVar("Image", torch.Tensor, np.ndarray)


def dream(image: Image, config: Config | None = None, *, progress: Progress | None = None) -> Image:
    """Dream one image in memory with ``config`` (default: the defaults), as ``dreamvid image`` would.

    The model is loaded once per model, objective, device and precision and kept for the next call. The
    ``[vr]`` layout applies (``vr.projection = "equirect"`` dreams a 360° panorama without a seam).

    Args:
        image: a tensor ``(1, 3, H, W)``/``(3, H, W)`` float in [0, 1], or a numpy ``(H, W, 3)`` array,
            uint8 or float in [0, 1]. It is not modified.
        config: the settings (:func:`dreamvid.load_config`); schedules are taken at frame 0.
        progress: ``progress(done, total)`` after each gradient step.

    Returns:
        The dreamed image: the same type, shape and dtype as ``image`` (and device, for a tensor).

    Raises:
        TypeError, ValueError: ``image`` is none of the above.
        ConfigError, ModelError, ObjectiveError: with a one-line message.

    Example:
        >>> import dreamvid
        >>> config = dreamvid.load_config(None, ["dream.octaves=1", "dream.steps=2", "run.device=cpu"])
        >>> out = dreamvid.dream(np.full((32, 48, 3), 128, np.uint8), config)
        >>> out.shape, out.dtype, bool((out != 128).any())
        ((32, 48, 3), dtype('uint8'), True)
        >>> dreamvid.dream(torch.full((1, 3, 32, 32), 0.5), config).shape
        torch.Size([1, 3, 32, 32])
    """
    config = config if config is not None else Config()
    result = dream_picture(config, _engine(config), _to_picture(image), progress=progress, source="the image")
    return _like(result, image)


def analyze_audio(
    source: str | os.PathLike[str] | np.ndarray,
    *,
    fps: float = 30.0,
    sample_rate: int = SAMPLE_RATE,
    start: float = 0.0,
    duration: float | None = None,
    frames: int | None = None,
    attack: float = 0.02,
    release: float = 0.25,
) -> Envelopes:
    """The per-frame envelopes of a soundtrack (what ``audio.react`` reactions see), as ``dreamvid analyze``.

    Args:
        source: a sound file (WAV, MP3, FLAC, M4A, a video's soundtrack ...), or mono samples in [-1, 1].
        fps: the video frame rate the envelopes are sampled at (one value per frame).
        sample_rate: the rate of ``source``'s samples (a file is decoded at this rate).
        start, duration: the part of a file to analyse, in seconds.
        frames: how many frames to describe (default: the sound's length).
        attack, release: envelope smoothing time constants in seconds (``[audio]``).

    Returns:
        The :class:`~dreamvid.audio.Envelopes` ``rms onset beat low mid high``, each in [0, 1].

    Example:
        >>> t = np.arange(22050) / 22050
        >>> env = analyze_audio(np.sin(2 * np.pi * 80 * t) * np.minimum(1, t / 0.01), fps=10)
        >>> env.frames, round(float(env.low.max()), 2)
        (10, 1.0)
    """
    if isinstance(source, np.ndarray):
        samples = source.astype(np.float32).reshape(-1)
    else:
        samples = read_audio(source, sample_rate=sample_rate, start=start, duration=duration)
    return analyze(samples, sample_rate, fps=fps, frames=frames, attack=attack, release=release)


def _engine(config: Config) -> Engine:
    """The engine ``config`` needs, built on first use and cached."""
    return _cached_engine(tuple(config.dream.objectives), config.model.name, config.model.weights or None,
                          config.run.device, config.run.precision, config.run.max_memory_bytes)


@lru_cache(maxsize=4)
def _cached_engine(texts: tuple[str, ...], model: str, weights: str | None, device: str, precision: str,
                   max_memory: int | None) -> Engine:
    return build_engine(objectives=texts, model=model, weights=weights, device=device, precision=precision,
                        max_memory=max_memory)


def _to_picture(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """``image`` as a new ``(H, W, 3)`` float32 numpy array in [0, 1]."""
    if isinstance(image, torch.Tensor):
        if not image.is_floating_point() or image.dim() not in (3, 4) or (image.dim() == 4 and image.shape[0] != 1) \
                or image.shape[-3] != 3:
            raise ValueError(f"expected a float tensor of shape (1, 3, H, W) or (3, H, W), got {image.dtype} "
                             f"{tuple(image.shape)}")
        return np.ascontiguousarray(image.detach().reshape(3, *image.shape[-2:]).permute(1, 2, 0).float().cpu().numpy())
    check_frame(image, "image", dtypes=("uint8", "float"))
    return to_float(image)


def _like(result: np.ndarray, image: Image) -> Image:
    """The float32 ``(H, W, 3)`` ``result`` as the type, shape, dtype and device of ``image``."""
    if isinstance(image, torch.Tensor):
        out = torch.from_numpy(result).permute(2, 0, 1).to(device=image.device, dtype=image.dtype)
        return out.reshape(image.shape).contiguous()
    if image.dtype == np.uint8:
        return to_uint8(result)
    return result.astype(image.dtype, copy=False)
