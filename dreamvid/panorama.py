"""Frames as they are laid out: ``Layout`` (flat or equirect 360°, mono or stereo) and ``dream_layout``.

A frame is dreamed as one or two *eyes*:

- **equirect** eyes are dreamed with ``wrap_x`` (the left and right edges are neighbours in every
  convolution, resize, blur and jitter, see :mod:`dreamvid.engine`), and the poles, which the
  equirectangular projection stretches by 1/cos(latitude), get ``vr.poles``: ``"faces"`` dreams the
  frame with the step faded out above 50° latitude (gone by 65°), then dreams a square gnomonic face
  looking at each pole (no stretch there) seeded from that result, and adds the face's detail back where
  the band faded out; ``"weight"`` scales the step by cos(latitude); ``"none"`` leaves the poles alone.
- **stereo** frames hold the left eye on top (``top-bottom``) or on the left (``left-right``). The left
  eye is dreamed; the right eye is seeded with the left eye's detail (``dreamed − source``) moved by the
  disparity (optical flow from the right eye to the left) wherever the flow is reliable, and dreamed
  only where it is not (occlusions), with the cheaper seeded schedule. Where the flow holds, the right
  eye's hallucination *is* the left eye's, offset by the disparity, so both eyes see the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from dreamvid.arrays import to_uint8
from dreamvid.engine import Engine, Progress
from dreamvid.equirect import from_face, motion_maps, to_face, warp_equirect
from dreamvid.errors import ConfigError
from dreamvid.feedback import feedback_matrix, warp_affine
from dreamvid.flow import FlowFunction, reliability, warp
from dreamvid.settings import DreamConfig, VrConfig, ZoomConfig
from dreamvid.spherical import Spherical

POLE_FOV = 100.0
"""Field of view (degrees) of the square faces dreamed at each pole: they reach 40° of latitude."""
BAND_FULL, BAND_ZERO = 50.0, 65.0
"""With ``poles = "faces"`` the equirect step is full up to ``BAND_FULL`` degrees of latitude and fades
to nothing at ``BAND_ZERO``; the pole faces take over in between, completely above."""


@dataclass(frozen=True)
class Layout:
    """How a frame is laid out: ``projection`` ``"flat"`` or ``"equirect"``, ``stereo`` ``"mono"``,
    ``"top-bottom"`` (left eye on top) or ``"left-right"`` (left eye on the left).

    Example:
        >>> frame = np.zeros((4, 6, 3), np.float32)
        >>> [eye.shape for eye in Layout("equirect", "top-bottom").split(frame)]
        [(2, 6, 3), (2, 6, 3)]
    """

    projection: str = "flat"
    stereo: str = "mono"

    @property
    def equirect(self) -> bool:
        return self.projection == "equirect"

    @property
    def eyes(self) -> int:
        return 1 if self.stereo == "mono" else 2

    def split(self, frame: np.ndarray) -> list[np.ndarray]:
        """The eyes of ``frame`` (views, not copies), left first."""
        if self.stereo == "mono":
            return [frame]
        axis = 0 if self.stereo == "top-bottom" else 1
        half = frame.shape[axis] // 2
        return [frame[:half], frame[half:]] if axis == 0 else [frame[:, :half], frame[:, half:]]

    def join(self, eyes: list[np.ndarray]) -> np.ndarray:
        """The frame made of ``eyes`` (the inverse of :meth:`split`)."""
        if self.stereo == "mono":
            return eyes[0]
        return np.concatenate(eyes, axis=0 if self.stereo == "top-bottom" else 1)

    def eye_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """``(width, height)`` of one eye of a frame of ``size``."""
        width, height = size
        if self.stereo == "top-bottom":
            return width, height // 2
        if self.stereo == "left-right":
            return width // 2, height
        return width, height

    def describe(self) -> str:
        """A few words for logs and sidecars: ``"equirect top-bottom"``, ``"flat"``."""
        return self.projection + ("" if self.stereo == "mono" else f" {self.stereo}")


def resolve_layout(vr: VrConfig, metadata: Spherical | None, size: tuple[int, int], *, source: str = "the input") -> Layout:
    """The layout to dream with: ``[vr]`` where it says, else the input's spherical ``metadata``.

    Raises:
        ConfigError: the metadata names a projection dreamvid cannot dream (cubemap, mesh) or a stereo
            layout it cannot split, or a stereo frame has an odd side to split.
    """
    projection, stereo = vr.projection, vr.stereo
    if projection == "auto":
        projection = "flat"
        if metadata is not None:
            if metadata.projection != "equirect":
                raise ConfigError(f"{source} is a {metadata.projection} 360° video; dreamvid dreams equirect "
                                  f"360° frames: pass --projection flat to dream its frames as they are")
            projection = "equirect"
    if stereo == "auto":
        stereo = "mono"
        if metadata is not None:
            if metadata.stereo not in ("mono", "top-bottom", "left-right"):
                raise ConfigError(f"{source} has {metadata.stereo} stereo, which dreamvid cannot split; pass "
                                  f"--stereo mono, top-bottom or left-right to say how its frames are laid out")
            stereo = metadata.stereo
    width, height = size
    if (stereo == "top-bottom" and height % 2) or (stereo == "left-right" and width % 2):
        side = "height" if stereo == "top-bottom" else "width"
        raise ConfigError(f"a {stereo} stereo frame splits in two along its {side}, but {width}x{height} "
                          f"has an odd {side}; crop or scale it to an even {side}")
    return Layout(projection, stereo)


def latitude_weight(height: int, poles: str) -> np.ndarray | None:
    """The per-row step weight of an equirect eye ``(height,)``: cos(latitude) for ``"weight"``, the band
    for ``"faces"`` (1 up to 50°, cosine fade to 0 at 65°), ``None`` for ``"none"``.

    Example:
        >>> [round(float(w), 3) for w in latitude_weight(6, "weight")]
        [0.259, 0.707, 0.966, 0.966, 0.707, 0.259]
    """
    if poles == "none":
        return None
    latitude = np.abs(np.degrees(math.pi / 2 - math.pi * (np.arange(height) + 0.5) / height))
    if poles == "weight":
        return np.cos(np.radians(latitude)).astype(np.float32)
    t = np.clip((latitude - BAND_FULL) / (BAND_ZERO - BAND_FULL), 0, 1)
    return (0.5 + 0.5 * np.cos(math.pi * t)).astype(np.float32)


def dream_layout(
    seed: np.ndarray,
    source: np.ndarray,
    engine: Engine,
    settings: DreamConfig,
    *,
    layout: Layout,
    generator: torch.Generator,
    touch_up: DreamConfig | None = None,
    fresh_boost: float = 0.0,
    poles: str = "faces",
    weight: np.ndarray | None = None,
    flow: FlowFunction | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Dream one frame ``seed`` (``(H, W, 3)`` float32 in [0, 1]) as ``layout`` says; returns a new array.

    Every argument is a value in force at this frame (nothing is read from a configuration here).

    Args:
        source: the frame before any dream was carried into ``seed`` (the footage), for the stereo
            transfer of the left eye's detail; for a still, the picture itself.
        settings: the schedule for this frame (the full one, or the seeded one for carried frames).
        touch_up: the schedule for the right eye's occlusions (the seeded one; default ``settings``).
        fresh_boost: the right eye's occlusions step ``1 + fresh_boost`` times faster.
        poles: ``vr.poles`` for equirect eyes (``"faces"``, ``"weight"`` or ``"none"``).
        weight: optional ``(H, W)`` per-pixel step multiplier.
        flow: the optical flow for the stereo disparity (needed for stereo layouts); for equirect layouts
            one that works across the seam (``make_flow(..., wrap_x=True)``).
        progress: ``progress(done, total)`` after each gradient step of the (left) eye's dream.
    """
    eyes = layout.split(seed)
    weights = layout.split(weight) if weight is not None else [None] * layout.eyes
    left = _dream_eye(eyes[0], engine, settings, layout=layout, generator=generator, weight=weights[0], poles=poles,
                      progress=progress)
    if layout.eyes == 1:
        return left
    if flow is None:
        raise ValueError(f"dreaming a {layout.stereo} stereo frame needs the optical flow for the disparity (flow=...)")
    sources = layout.split(source)
    left_u8, right_u8 = (to_uint8(s) for s in sources)
    disparity = flow(right_u8, left_u8)  # right-eye pixel -> where it is in the left eye
    mask = reliability(disparity, flow(left_u8, right_u8), wrap_x=layout.equirect)
    right_seed = np.clip(eyes[1] + mask[..., None] * (warp(left - sources[0], disparity, wrap_x=layout.equirect)
                                                     - (eyes[1] - sources[1])), 0, 1)
    touch_up = touch_up if touch_up is not None else settings
    occluded = (1 - mask) * (1 + fresh_boost)
    if weights[1] is not None:
        occluded = occluded * weights[1]
    right = (_dream_eye(right_seed, engine, touch_up, layout=layout, generator=generator, weight=occluded,
                        poles="none")
             if float(occluded.max()) > 1e-3 and touch_up.steps > 0 else right_seed)
    return layout.join([left, right])


def _dream_eye(
    image: np.ndarray,
    engine: Engine,
    settings: DreamConfig,
    *,
    layout: Layout,
    generator: torch.Generator,
    weight: np.ndarray | None,
    poles: str,
    progress: Progress | None = None,
) -> np.ndarray:
    """Dream one eye: flat, or equirect with the seam wrapped and the poles as ``poles`` says."""
    if not layout.equirect:
        return engine.dream_array(image, settings, generator=generator, weight=weight, progress=progress)
    height, width = image.shape[:2]
    band = latitude_weight(height, poles)
    banded = weight
    if band is not None:  # alone, one column: the engine weighs whole rows (no full-size weight at 8K)
        banded = band[:, None] if weight is None else weight * band[:, None]
    out = engine.dream_array(image, settings, generator=generator, weight=banded, wrap_x=True, progress=progress)
    if poles != "faces":
        return out
    fade = 1 - band[:, None]  # type: ignore[index]
    for pole in ("north", "south"):
        face = to_face(out, pole, fov_deg=POLE_FOV)
        face_weight = None if weight is None else np.maximum(to_face(weight, pole, fov_deg=POLE_FOV, filter="linear"), 0)
        dreamed = engine.dream_array(np.clip(face, 0, 1), settings, generator=generator, weight=face_weight)
        detail, inside = from_face(dreamed - face, pole, width, height, fov_deg=POLE_FOV)
        del dreamed, face
        inside *= fade
        detail *= inside[..., None]
        out += detail
        del detail, inside
    return np.clip(out, 0, 1, out=out)


def check_layout_size(layout: Layout, size: tuple[int, int]) -> None:
    """Refuse frames too small to split or to dream as a panorama, before any work."""
    width, height = layout.eye_size(size)
    if layout.equirect and (width < 8 or height < 4):
        raise ConfigError(f"an equirect eye of {width}x{height} is too small to dream as a 360° panorama; "
                          f"use --projection flat, or a frame at least 8x4 per eye")



def mover(zoom: ZoomConfig, layout: Layout, size: tuple[int, int], fps: float) -> Callable[[np.ndarray], np.ndarray] | None:
    """The frame's feedback transform from a ``[zoom]`` table evaluated at a frame; ``None`` if identity.

    Flat eyes move by the affine matrix of :func:`dreamvid.feedback.feedback_matrix`; equirect eyes by the
    same motion on the sphere (:func:`dreamvid.equirect.motion_maps`): ``zoom`` magnifies about the
    front (the frame's centre) and keeps the point behind fixed, ``rotate`` rolls about the line of
    sight, ``shift_x`` turns (yaw: pixels per second at the equator) and ``shift_y`` tilts (pitch), so
    nothing tears at the seam or the poles. Each eye of a stereo frame moves alike.
    """
    width, height = layout.eye_size(size)
    if layout.equirect:
        maps = motion_maps(width, height, zoom=float(zoom.zoom) ** (1 / fps), roll=float(zoom.rotate) / fps,
                           yaw=-float(zoom.shift_x) * 360 / width / fps, pitch=float(zoom.shift_y) * 180 / height / fps)
        if maps is None:
            return None

        def one(eye: np.ndarray) -> np.ndarray:
            return warp_equirect(eye, maps)
    else:
        matrix = feedback_matrix(zoom, (width, height), fps)
        if matrix is None:
            return None

        def one(eye: np.ndarray) -> np.ndarray:
            return warp_affine(eye, matrix, border=zoom.border, filter=zoom.filter)

    return lambda frame: layout.join([one(np.ascontiguousarray(eye)) for eye in layout.split(frame)])


def eye_flows(flow: FlowFunction, current: np.ndarray, previous: np.ndarray, layout: Layout) -> list[np.ndarray]:
    """The backward flow of each eye (``current`` → ``previous``, uint8 frames); ``flow`` wraps for equirect."""
    return [flow(a, b) for a, b in zip(layout.split(current), layout.split(previous))]


def eye_reliability(flow: FlowFunction, current: np.ndarray, previous: np.ndarray, backward: list[np.ndarray],
                    layout: Layout) -> np.ndarray:
    """The forward–backward consistency mask ``(H, W)`` of the whole frame, eye by eye."""
    return layout.join([reliability(b, flow(p, c), wrap_x=layout.equirect)
                        for b, c, p in zip(backward, layout.split(current), layout.split(previous))])


def follow(image: np.ndarray, backward: list[np.ndarray], layout: Layout, *,
           interpolation: str = "linear") -> np.ndarray:
    """Move ``image`` (a whole frame) eye by eye along ``backward`` (see :func:`dreamvid.flow.warp`)."""
    return layout.join([warp(np.ascontiguousarray(e), b, wrap_x=layout.equirect, interpolation=interpolation)
                        for e, b in zip(layout.split(image), backward)])
