"""Equirectangular (360°) geometry: ``(sizes, motion) → sampling maps``; ``(frame, maps) → frame``.

Three jobs on panoramas: polar cap faces (gnomonic views straight at a pole, for dreaming the poles
without the equirect smear), spherical feedback motion (zoom, roll, yaw and pitch on the sphere, the
panoramic version of :mod:`dreamvid.feedback`), and the pixel ↔ direction conventions both rest on.

Convention:
    - An *equirect frame* is a numpy array ``(H, W)`` or ``(H, W, C)``, uint8 or float (float32 works
      fastest); ``W = 2H`` usually, not required. Column ``u`` has longitude ``λ = 2π(u + 0.5)/W − π``
      (left edge −180°, ``λ = 0`` the *front* in the middle, ``λ`` growing to the right); row ``v`` has
      latitude ``φ = π/2 − π(v + 0.5)/H`` (top row next to the north pole).
    - Directions are unit vectors ``(x, y, z)``: ``x`` right (``λ = 90°``), ``y`` up (north pole), ``z``
      the front; ``λ = atan2(x, z)``, ``φ = asin(y)``.
    - A *map* pair ``(map_x, map_y)``, each ``(H, W)`` float32 like ``cv2.remap``'s, gives for every output
      pixel the source pixel it samples: ``out[v, u] = source[map_y[v, u], map_x[v, u]]``.
    - Sampling an equirect source wraps in ``x`` (the left and right edges are neighbours) and never in
      ``y``: above the top row (below the bottom row) the samples continue **across the pole**, row
      ``−1 − j`` at column ``u`` being row ``j`` at column ``u + W/2``, exact when ``W`` is even; for odd
      ``W`` the edge row repeats instead. Interpolation is Lanczos (8×8 taps) unless ``filter`` says
      ``"cubic"`` or ``"linear"``; OpenCV places cubic and Lanczos samples on a 1/32 px grid (as
      :func:`dreamvid.feedback.warp_affine` does), and integer positions give exact copies. Float results
      are not clipped (Lanczos may overshoot a little); uint8 results are saturated.
    - Maps are cached per size and motion (they are reused every frame) and returned read-only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import cv2
import numpy as np

from dreamvid.arrays import check_frame
from dreamvid.errors import ConfigError

__all__ = [
    "POLES",
    "face_size",
    "from_face",
    "latitudes",
    "longitudes",
    "motion_maps",
    "motion_per_frame",
    "to_face",
    "warp_equirect",
]

POLES: tuple[str, ...] = ("north", "south")
"""Names the face functions accept for ``pole``."""

Maps = tuple[np.ndarray, np.ndarray]
"""``(map_x, map_y)``: the source pixel each output pixel samples, ``(H, W)`` float32 each."""

_FILTERS = {"lanczos": cv2.INTER_LANCZOS4, "cubic": cv2.INTER_CUBIC, "linear": cv2.INTER_LINEAR}
_DTYPES = ("uint8", "float32", "float64")  # the frames warped here
_MARGIN = 5  # padding for Lanczos's 8 taps (floor(x) − 3 … floor(x) + 4) around samples in [−0.5, size]
_CHUNK_PIXELS = 1 << 19  # maps are computed in bands of rows of about this many pixels (bounded memory)
_MOTION_CACHE, _FACE_CACHE = 4, 8


# ----------------------------------------------------------------------------------------- coordinates


def latitudes(height: int) -> np.ndarray:
    """The latitude of each row's centre, radians, north (+π/2) at the top.

    Example:
        >>> np.degrees(latitudes(4)).tolist()
        [67.5, 22.5, -22.5, -67.5]
    """
    _check_size(height, "height")
    return math.pi / 2 - math.pi * (np.arange(height) + 0.5) / height


def longitudes(width: int) -> np.ndarray:
    """The longitude of each column's centre, radians, from −π (left) to π (right); 0 is the front.

    Example:
        >>> np.degrees(longitudes(4)).tolist()
        [-135.0, -45.0, 45.0, 135.0]
    """
    _check_size(width, "width")
    return 2 * math.pi * (np.arange(width) + 0.5) / width - math.pi


def _directions(lam: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors ``(x, y, z)`` of longitudes and latitudes (broadcast)."""
    cos_phi = np.cos(phi)
    return cos_phi * np.sin(lam), np.sin(phi) + 0 * lam, cos_phi * np.cos(lam)


def _pixels(x: np.ndarray, y: np.ndarray, z: np.ndarray, width: int, height: int) -> Maps:
    """Equirect pixel coordinates of directions (not necessarily unit): ``map_x`` in ``[0, W)``."""
    lam = np.arctan2(x, z)
    phi = np.arctan2(y, np.hypot(x, z))
    map_x = np.mod((lam + math.pi) * (width / (2 * math.pi)) - 0.5, width)
    map_y = (math.pi / 2 - phi) * (height / math.pi) - 0.5
    return map_x.astype(np.float32), map_y.astype(np.float32)


# ------------------------------------------------------------------------------------------ polar faces


def face_size(width: int, fov_deg: float = 100.0) -> int:
    """The side of a polar face whose centre has the equator's pixel density (``W/2π`` px per radian).

    ``side = round(W/π · tan(fov/2))``: at the default 100° field of view a face is about 0.38 W wide.

    Example:
        >>> face_size(2048), face_size(2048, 90.0)
        (777, 652)
    """
    _check_size(width, "width")
    return max(1, round(width / math.pi * math.tan(math.radians(_check_fov(fov_deg)) / 2)))


def to_face(image: np.ndarray, pole: str, *, fov_deg: float = 100.0, size: int | None = None,
            filter: str = "lanczos") -> np.ndarray:
    """Sample an equirect frame into a square gnomonic (rectilinear) face looking straight at a pole.

    Orientation: a face is what a camera sees after pitching up (``"north"``) or down (``"south"``) by 90°
    from the front, so its image continues the front view: the **north** face has the front (``λ = 0``)
    at its **bottom**, ``λ = 90°`` (right) at its right and the back at its top; the **south** face has the
    front at its **top**, ``λ = 90°`` at its right and the back at its bottom. ``fov_deg`` spans the
    face from side to side, so the face covers every latitude ``|φ| ≥ 90° − fov/2`` fully (its corners
    reach further, to ``90° − atan(√2·tan(fov/2))``).

    Args:
        image: Equirect frame ``(H, W)`` or ``(H, W, C)``; not modified.
        pole: ``"north"`` or ``"south"``.
        fov_deg: Field of view across the face, in (0, 180) degrees.
        size: Face side in pixels; default :func:`face_size` (the equator's density at the centre).
        filter: ``"lanczos"``, ``"cubic"`` or ``"linear"``.

    Returns:
        A new ``(size, size)`` or ``(size, size, C)`` array of the image's dtype.

    Example:
        >>> pano = np.repeat(np.sin(latitudes(32))[:, None], 64, axis=1).astype(np.float32)  # sin(φ)
        >>> face = to_face(pano, "north", fov_deg=90.0)  # 90°: the face's edges are at φ = 45°
        >>> face.shape, round(float(face[10, 10]), 2), round(float(face[0, 10]), 2), round(float(face[0, 0]), 2)
        ((20, 20), 1.0, 0.72, 0.6)
    """
    check_frame(image, "image", dtypes=_DTYPES, channels=None)
    height, width = image.shape[:2]
    size = face_size(width, fov_deg) if size is None else _check_size(size, "size")
    map_x, map_y = _face_maps(_check_pole(pole), size, float(_check_fov(fov_deg)), width, height)
    return _remap_equirect(image, map_x, map_y, _FILTERS[_check_filter(filter)])


def from_face(face: np.ndarray, pole: str, width: int, height: int, *, fov_deg: float = 100.0,
              filter: str = "lanczos") -> tuple[np.ndarray, np.ndarray]:
    """Resample a polar face (as :func:`to_face` makes them) back onto an equirect grid.

    Meant for detail: dream a face, take ``dreamed − to_face(original)``, bring it back with this and
    blend it in near the pole with a weight of your choosing (times the mask).

    Args:
        face: A square face ``(N, N)`` or ``(N, N, C)``, any ``N``; not modified.
        pole: The pole it looks at, ``"north"`` or ``"south"``.
        width, height: The equirect frame's size.
        fov_deg: The field of view the face was made with.
        filter: ``"lanczos"``, ``"cubic"`` or ``"linear"``.

    Returns:
        ``(frame, mask)``: a new ``(H, W)`` or ``(H, W, C)`` array of the face's dtype, zero outside the
        face, and a ``(H, W)`` float32 mask, 1.0 where the pixel's direction falls inside the face and 0.0
        elsewhere.

    Example:
        >>> frame, mask = from_face(np.ones((20, 20), np.float32), "south", 64, 32, fov_deg=90.0)
        >>> frame.shape, mask[-8:].min().item(), mask[:16].max().item(), float(frame[-1, 0].round(3))
        ((32, 64), 1.0, 0.0, 1.0)
    """
    check_frame(face, "face", dtypes=_DTYPES, channels=None)
    if face.shape[0] != face.shape[1]:
        raise ValueError(f"expected a square face, got {face.shape[1]}x{face.shape[0]}")
    rows, map_x, map_y, band_mask = _cap_maps(_check_pole(pole), face.shape[0], float(_check_fov(fov_deg)),
                                             _check_size(width, "width"), _check_size(height, "height"))
    frame = np.zeros((height, width) + face.shape[2:], face.dtype)
    mask = np.zeros((height, width), np.float32)
    if map_x.size:
        band = _remap(face, map_x, map_y, _FILTERS[_check_filter(filter)], cv2.BORDER_REPLICATE)
        keep = band_mask if band.ndim == 2 else band_mask[..., None]
        frame[rows] = np.where(keep > 0, band, 0).astype(face.dtype, copy=False)
        mask[rows] = band_mask
    return frame, mask


def _face_basis(pole: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(right, down, centre)`` unit vectors of a face's plane (see :func:`to_face` for orientation)."""
    if pole == "north":
        return np.array([1.0, 0, 0]), np.array([0, 0, 1.0]), np.array([0, 1.0, 0])
    return np.array([1.0, 0, 0]), np.array([0, 0, -1.0]), np.array([0, -1.0, 0])


@lru_cache(maxsize=_FACE_CACHE)
def _face_maps(pole: str, size: int, fov_deg: float, width: int, height: int) -> Maps:
    """Equirect source coordinates of every face pixel."""
    right, down, centre = _face_basis(pole)
    plane = (2 * (np.arange(size) + 0.5) / size - 1) * math.tan(math.radians(fov_deg) / 2)

    def rows(band: slice) -> Maps:
        a, b = plane[None, :], plane[band, None]
        x, y, z = (a * r + b * d + c for r, d, c in zip(right, down, centre))
        return _pixels(x, y, z, width, height)

    return _read_only(_by_rows(rows, size, size))


@lru_cache(maxsize=_FACE_CACHE)
def _cap_maps(pole: str, size: int, fov_deg: float, width: int, height: int
              ) -> tuple[slice, np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, map_x, map_y, mask)``: face coordinates of the equirect rows a face can reach."""
    right, down, centre = _face_basis(pole)
    half = math.tan(math.radians(fov_deg) / 2)
    reach = math.pi / 2 - math.atan(math.sqrt(2) * half)  # lowest |latitude| a face corner reaches
    lat = latitudes(height) * (1 if pole == "north" else -1)
    near = np.flatnonzero(lat >= reach - 1e-9)  # contiguous: the rows from the pole to the corners' reach
    rows = slice(int(near[0]), int(near[-1]) + 1) if near.size else slice(0, 0)
    lam = longitudes(width)[None, :]

    to_px = size / (2 * half)  # face pixels per unit of the face plane

    def band_maps(band: slice) -> tuple[np.ndarray, ...]:
        d = np.stack(_directions(lam, latitudes(height)[rows][band, None]), axis=-1)
        depth = d @ centre  # gnomonic projection: the plane point is d / depth
        a, b = (d @ right) / np.maximum(depth, 1e-12), (d @ down) / np.maximum(depth, 1e-12)
        inside = (depth > 1e-12) & (np.abs(a) <= half) & (np.abs(b) <= half)
        return tuple(v.astype(np.float32) for v in ((a + half) * to_px - 0.5, (b + half) * to_px - 0.5, inside))

    if rows.stop == rows.start:
        empty = np.zeros((0, width), np.float32)
        return rows, *_read_only((empty, empty.copy(), empty.copy()))
    return rows, *_read_only(_by_rows(band_maps, rows.stop - rows.start, width))


# --------------------------------------------------------------------------------------------- motion


def motion_per_frame(fps: float, *, zoom: float = 1.0, roll: float = 0.0, yaw: float = 0.0,
                     pitch: float = 0.0) -> dict[str, float]:
    """One frame's share of per-second rates, as keyword arguments for :func:`motion_maps`.

    ``zoom ** (1/fps)`` and ``degrees / fps``, exactly. Because a frame's motion is the flow of one
    continuous motion (see :func:`motion_maps`), n frames at ``n·fps`` compose to exactly one at ``fps``.

    Args:
        fps: Frames per second, > 0.
        zoom: Magnification per second (> 1 zooms in).
        roll, yaw, pitch: Degrees per second (signs as in :func:`motion_maps`).

    Example:
        >>> {k: round(v, 4) for k, v in motion_per_frame(30, zoom=1.5, yaw=15).items()}
        {'zoom': 1.0136, 'roll': 0.0, 'yaw': 0.5, 'pitch': 0.0}
    """
    if not isinstance(fps, (int, float)) or not 0 < fps < math.inf:
        raise ConfigError(f"expected a positive fps, got {fps!r}")
    _check_zoom(zoom)
    return {"zoom": zoom ** (1 / fps), "roll": roll / fps, "yaw": yaw / fps, "pitch": pitch / fps}


def motion_maps(width: int, height: int, *, zoom: float = 1.0, roll: float = 0.0, yaw: float = 0.0,
                pitch: float = 0.0) -> Maps | None:
    """The maps of one feedback frame's motion on the sphere; ``None`` for no motion.

    Conventions (as seen by a viewer inside the sphere looking at the front):

    - ``zoom > 1`` magnifies about the front by ``zoom`` (and shrinks about the back by as much): a
      conformal map (stereographic projection from the back, scale the plane, project back), so shapes
      stay round everywhere; the front and the back stay where they are.
    - ``roll > 0`` turns the picture **counter-clockwise** about the front, degrees (as
      :func:`dreamvid.feedback.affine_matrix`'s ``degrees``): content right of the front moves above it.
    - ``yaw > 0`` turns the view **right**: the picture moves left (``360°·k/W`` is ``np.roll`` by ``−k``
      columns, exactly).
    - ``pitch > 0`` tilts the view **up**: the picture near the front moves down.

    Composition: there is no order. The frame's motion is the flow over one frame of one continuous
    motion combining all four (the exponential of the summed generators, as
    :func:`dreamvid.feedback.frame_matrix` does on the plane), so each alone is exactly the named motion,
    and frames made with :func:`motion_per_frame` compose exactly: two frames at 60 fps equal one at 30.
    Together, zoom and a turn make a spiral.

    Args:
        width, height: The equirect frame's size.
        zoom: Magnification this frame, > 0.
        roll, yaw, pitch: Degrees this frame.

    Returns:
        ``(map_x, map_y)`` for :func:`warp_equirect` (read-only, cached), or ``None`` when all four are
        neutral.

    Example:
        >>> image = np.arange(8, dtype=np.float32).reshape(1, 8)
        >>> warp_equirect(image, motion_maps(8, 1, yaw=90.0)).tolist()  # turn right: picture moves left
        [[2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 0.0, 1.0]]
    """
    _check_size(width, "width")
    _check_size(height, "height")
    _check_zoom(zoom)
    angles = [float(a) for a in (roll, yaw, pitch)]
    if not all(math.isfinite(a) for a in angles):
        raise ConfigError(f"expected finite roll, yaw and pitch, got {roll!r}, {yaw!r} and {pitch!r}")
    if zoom == 1.0 and angles == [0.0, 0.0, 0.0]:
        return None
    return _motion_maps(width, height, float(zoom), *angles)


@lru_cache(maxsize=_MOTION_CACHE)
def _motion_maps(width: int, height: int, zoom: float, roll: float, yaw: float, pitch: float) -> Maps:
    """Cached maps of :func:`motion_maps` (arguments checked there)."""
    if zoom == 1.0 and roll == 0.0 and pitch == 0.0:  # a pure yaw is a shift in x: exact, cheap
        shift = yaw / 360.0 * width
        map_x = np.mod(np.arange(width, dtype=np.float64) + shift, width).astype(np.float32)
        map_y = np.arange(height, dtype=np.float32)
        return _read_only((np.broadcast_to(map_x, (height, width)).copy(),
                           np.broadcast_to(map_y[:, None], (height, width)).copy()))
    mobius = _sampling_mobius(zoom, roll, yaw, pitch)
    lam = longitudes(width)[None, :]

    def rows(band: slice) -> Maps:
        x, y, z = _directions(lam, latitudes(height)[band, None])
        return _pixels(*_apply_mobius(mobius, x, y, z), width, height)

    return _read_only(_by_rows(rows, height, width))


def _sampling_mobius(zoom: float, roll: float, yaw: float, pitch: float) -> np.ndarray:
    """The 2×2 complex matrix (SL(2, C)) taking an output direction to the source direction it samples.

    Directions act through the stereographic coordinate ``w = (x + iy) / (1 + z)`` (projection from the
    back onto the plane through the centre), on which the frame's sampling motion is ``w → (aw + b) /
    (cw + d)``. Generators, each the *sampling* map (the inverse of the picture's motion):
    zoom ``w → w / zoom``; roll ``w → e^{−i·roll} w``; yaw turns the front toward the right (``+x``);
    pitch turns the front toward the top (``+y``). The sum of generators is exponentiated in closed form:
    ``exp(A) = cosh(s)·I + sinh(s)/s·A`` with ``s² = −det(A)`` for traceless ``A``.
    """
    r, a, b = (math.radians(v) for v in (roll, yaw, pitch))
    generator = (-math.log(zoom) / 2 - 1j * r / 2) * np.array([[1, 0], [0, -1]], complex)
    generator += a / 2 * np.array([[0, 1], [-1, 0]], complex) + b / 2 * np.array([[0, 1j], [1j, 0]])
    s = np.sqrt(-np.linalg.det(generator) + 0j)
    sinhc = np.sinh(s) / s if abs(s) > 1e-8 else 1.0 + s * s / 6
    return np.cosh(s) * np.eye(2) + sinhc * generator


def _apply_mobius(mobius: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directions moved by a Möbius matrix, in homogeneous spinor form (no division by zero anywhere)."""
    front = z >= 0  # w = p/q with (p, q) = (x + iy, 1 + z) near the front, ((1 − z), x − iy) near the back
    p = np.where(front, x + 1j * y, 1 - z)
    q = np.where(front, 1 + z, x - 1j * y)
    p, q = mobius[0, 0] * p + mobius[0, 1] * q, mobius[1, 0] * p + mobius[1, 1] * q
    pp, qq = np.abs(p) ** 2, np.abs(q) ** 2
    xy = 2 * p * np.conj(q)  # (x + iy)·(|p|² + |q|²)
    return xy.real, xy.imag, qq - pp


def warp_equirect(image: np.ndarray, maps: Maps | None, *, filter: str = "lanczos") -> np.ndarray:
    """Resample an equirect frame with maps from :func:`motion_maps` (x wraps, the poles are crossed).

    Args:
        image: Equirect frame ``(H, W)`` or ``(H, W, C)``, uint8 or float; not modified.
        maps: ``(map_x, map_y)`` of the image's size, or ``None`` (a copy comes back).
        filter: ``"lanczos"`` (default: sharp enough for hundreds of feedback frames), ``"cubic"`` or
            ``"linear"``.

    Returns:
        A new array of the image's shape and dtype.

    Example:
        >>> image = np.arange(6, dtype=np.float32).reshape(1, 6, 1)
        >>> warp_equirect(image, motion_maps(6, 1, yaw=-60.0))[..., 0].tolist()
        [[5.0, 0.0, 1.0, 2.0, 3.0, 4.0]]
    """
    check_frame(image, "image", dtypes=_DTYPES, channels=None)
    flag = _FILTERS[_check_filter(filter)]
    if maps is None:
        return image.copy()
    map_x, map_y = maps
    if map_x.shape != image.shape[:2] or map_y.shape != image.shape[:2]:
        raise ValueError(f"expected maps of the image's size {image.shape[1]}x{image.shape[0]}, got "
                         f"{map_x.shape[1]}x{map_x.shape[0]} and {map_y.shape[1]}x{map_y.shape[0]}")
    return _remap_equirect(image, map_x, map_y, flag)


# -------------------------------------------------------------------------------------------- helpers


def _remap_equirect(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, flag: int) -> np.ndarray:
    """Sample an equirect image at source pixel coordinates, wrapping in x and crossing the poles."""
    return _remap(_pad(image, _MARGIN), map_x + np.float32(_MARGIN), map_y + np.float32(_MARGIN),
                  flag, cv2.BORDER_REPLICATE)


def _pad(image: np.ndarray, margin: int) -> np.ndarray:
    """``image`` padded by ``margin`` on every side: x wraps; rows continue across the poles (even W:
    row ``−1 − j`` is row ``j`` turned by half a turn) or repeat the edge row (odd W)."""
    height, width = image.shape[:2]
    cols = np.arange(-margin, width + margin) % width
    padded = np.empty((height + 2 * margin, width + 2 * margin) + image.shape[2:], image.dtype)
    np.take(image, cols, axis=1, out=padded[margin:margin + height])
    if width % 2 == 0:
        top, bottom, turn = np.arange(margin - 1, -1, -1), height - 1 - np.arange(margin), width // 2
    else:
        top, bottom, turn = np.zeros(margin, int), np.full(margin, height - 1), 0
    turned = (cols + turn) % width
    padded[:margin] = image[np.clip(top, 0, height - 1)][:, turned]
    padded[margin + height:] = image[np.clip(bottom, 0, height - 1)][:, turned]
    return padded


def _remap(source: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, flag: int, border: int) -> np.ndarray:
    """cv2.remap for any channel count (1, 3 and 4 at once; others plane by plane); same dtype."""
    planes = source if source.ndim == 3 else source[..., None]
    work = planes.astype(np.float32) if planes.dtype == np.float64 else planes
    if planes.shape[2] in (1, 3, 4):
        groups = [work]
    else:  # OpenCV interpolates 2-channel images through a fixed-point table (see flow._channel_groups)
        groups = [work[..., c:c + 1] for c in range(planes.shape[2])]
    out = [cv2.remap(np.ascontiguousarray(g), map_x, map_y, flag, borderMode=border).reshape(map_x.shape + (-1,))
           for g in groups]
    result = out[0] if len(out) == 1 else np.concatenate(out, axis=2)
    shape = map_x.shape + source.shape[2:]
    return result.reshape(shape).astype(source.dtype, copy=False)


def _by_rows(fn: Callable[[slice], tuple[np.ndarray, ...]], height: int, width: int) -> tuple[np.ndarray, ...]:
    """``fn`` over bands of rows, stacked: the float64 work stays small at 8K."""
    step = max(1, _CHUNK_PIXELS // max(width, 1))
    parts = [fn(slice(start, min(start + step, height))) for start in range(0, height, step)]
    return tuple(np.concatenate(arrays, axis=0) for arrays in zip(*parts))


def _read_only(arrays: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    for array in arrays:
        array.setflags(write=False)
    return arrays


def _check_size(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"expected {name} to be a positive integer, got {value!r}")
    return int(value)


def _check_fov(fov_deg: object) -> float:
    if isinstance(fov_deg, bool) or not isinstance(fov_deg, (int, float)) or not 0 < fov_deg < 180:
        raise ConfigError(f"expected a face field of view between 0 and 180 degrees, got {fov_deg!r}")
    return float(fov_deg)


def _check_pole(pole: object) -> str:
    if pole not in POLES:
        raise ConfigError(f"expected pole 'north' or 'south', got {pole!r}")
    return str(pole)


def _check_zoom(zoom: object) -> None:
    if isinstance(zoom, bool) or not isinstance(zoom, (int, float)) or not 0 < zoom < math.inf:
        raise ConfigError(f"expected zoom to be a positive number, got {zoom!r}")


def _check_filter(filter: str) -> str:
    if filter not in _FILTERS:
        raise ConfigError(f"unknown filter {filter!r}; use one of {', '.join(_FILTERS)}")
    return filter
