"""Video at the boundary: probe, read frames, write frames -- the only module that runs ffmpeg.

Convention:
    - A *frame* is a numpy array of shape ``(H, W, 3)``, dtype ``uint8``, channels in **RGB** order, in
      display orientation (rotation metadata already applied). Sizes are written ``(width, height)``.
    - Frame ``t`` of a clip is the picture shown at time ``t / fps``: variable-frame-rate input is turned
      into constant frame rate at :attr:`VideoInfo.fps`, and the frame rate is an exact
      :class:`~fractions.Fraction` (23.976 footage is ``Fraction(24000, 1001)``, never 23.98 or 24).
    - Frames travel through pipes as raw ``rgb24`` bytes; nothing is written to disk frame by frame
      except the PNG frames output itself.

The ffmpeg binary is the one bundled with imageio-ffmpeg (``imageio_ffmpeg.get_ffmpeg_exe()``); no system
ffmpeg or ffprobe is needed. Inputs are anything it reads: MP4, MOV, MKV, WebM, AVI, GIF, still images
(PNG/JPEG/WebP..., a one-frame video with :attr:`VideoInfo.is_image` set), image sequences given as a
printf pattern (``frames/f_%04d.png``) or as a folder of numbered images (read in numeric order, at 25 fps).

Outputs, chosen by :func:`output_format`:
    - ``.mp4``: H.264 (libx264, yuv420p, BT.709, ``+faststart``), audio AAC. yuv420p needs an even size,
      so an odd width or height is *padded* by one pixel that repeats the edge (never rescaled).
    - ``.webm``: VP9 (libvpx-vp9, yuv420p, BT.709; VP8 if VP9 is missing), audio Opus. Odd sizes are kept.
    - ``.gif``: one palette for the whole clip (palettegen/paletteuse), loops forever; GIF stores delays
      in 1/100 s, so players round the frame rate (23.976 fps plays at 25 fps). No audio.
    - a folder (a path ending in ``/``, an existing folder, or a name without extension): lossless PNG
      frames ``frame_000001.png``, ``frame_000002.png``, ... at the exact frame size. No audio.

Every output is written atomically: to a hidden part file (or folder) beside the target, renamed into
place only when complete; on any failure nothing appears at the target and an existing file is kept.
"""

from __future__ import annotations

import logging
import math
import os
import re
import secrets
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import IO

import imageio_ffmpeg
import numpy as np

from dreamvid.errors import ConfigError, DreamvidError, InputError, OutputError
from dreamvid.images import MAX_SIZE, check_output_path, declared_size, fsync_path

__all__ = [
    "OUTPUT_FORMATS",
    "SegmentJoiner",
    "VideoInfo",
    "VideoWriter",
    "output_format",
    "output_size",
    "probe",
    "read_audio",
    "read_frames",
]

logger = logging.getLogger(__name__)

damage_log = logging.getLogger("dreamvid.damage")
"""Warnings that an input is damaged (frames lost to truncation or corrupt data), one per clip, naming the
lost frames; the frames that could be decoded were still delivered. The CLI shows them and exits with
status 3."""

OUTPUT_FORMATS: dict[str, str] = {".mp4": "mp4", ".webm": "webm", ".gif": "gif"}
"""File extensions :class:`VideoWriter` writes, and their format names; a folder means ``"png"``."""

FRAME_PATTERN = "frame_%06d.png"
"""Names of the files in a PNG frames folder (printf style), numbered from 1: ``frame_000001.png``, ..."""

_FRAME_NAME_RE = re.compile(r"frame_\d{6}\.png")
_SCAN_PACKETS = 3000  # packets read by probe(); the count is exact up to here, estimated from duration beyond
_NTSC_BASES = (15, 24, 30, 48, 60, 120, 240)  # rates sold as N * 1000/1001 (23.976, 29.97, 59.94, ...)
_IMAGE_SUFFIXES = ("png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff")
_SEQUENCE_RE = re.compile(rf"(?P<prefix>.*?)(?P<number>\d+)\.(?P<ext>{'|'.join(_IMAGE_SUFFIXES)})", re.I)
_PATTERN_RE = re.compile(r"%(0?)(\d*)d")
_AUDIO_CODECS = {"mp4": ["-c:a", "aac", "-b:a", "192k"], "webm": ["-c:a", "libopus", "-b:a", "128k"]}
_COLOUR_TAGS = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
                "-color_range", "tv"]
_TO_BT709 = "scale=out_color_matrix=bt709:out_range=tv"


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learnt about a clip.

    Attributes:
        path: The path as given to :func:`probe`.
        width: Display width in pixels (after rotation metadata is applied).
        height: Display height in pixels.
        fps: Exact frame rate, e.g. ``Fraction(24000, 1001)``; ffmpeg's default 25 for stills and sequences.
        duration: Length of the video in seconds (``frames / fps`` when the count is exact).
        frames: Number of frames :func:`read_frames` yields for the whole clip: exact for clips of up to
            3000 frames (counted without decoding), estimated from the duration beyond that.
        has_audio: Whether the file has an audio stream.
        rotation: Clockwise rotation in degrees (0, 90, 180, 270) applied for display, as in the
            classic ``rotate`` tag of phone footage; frames are delivered already rotated.
        codec: ffmpeg's name of the video codec (``"h264"``, ``"vp9"``, ``"png"``, ...).
        is_image: A single still picture, treated as a one-frame video.
    """

    path: Path
    width: int
    height: int
    fps: Fraction
    duration: float
    frames: int
    has_audio: bool
    rotation: int
    codec: str
    is_image: bool


# --------------------------------------------------------------------------------------------- probing


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a clip's size, exact frame rate, length and streams, without decoding any picture.

    Args:
        path: A video file, a still image, an image-sequence pattern (``f_%04d.png``) or a folder of
            numbered images.

    Returns:
        The clip's :class:`VideoInfo`.

    Raises:
        InputError: The path is missing or empty, is not a video or image ffmpeg can read, or has no video
            stream (e.g. an audio file).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "grey.mp4"
        >>> with VideoWriter(path, fps=Fraction(30000, 1001), size=(64, 48)) as writer:
        ...     for _ in range(3):
        ...         writer.write(np.full((48, 64, 3), 128, np.uint8))
        >>> info = probe(path)
        >>> info.width, info.height, info.fps, info.frames
        (64, 48, Fraction(30000, 1001), 3)
    """
    source = Path(path)
    input_args = _input_args(source)
    command = [_ffmpeg(), "-nostdin", "-hide_banner", "-nostats", *input_args, "-map", "0:V:0", "-c", "copy",
               "-frames:v", str(_SCAN_PACKETS), "-f", "framecrc", "pipe:1"]
    result = _run(command, source)
    header = _parse_header(result.stderr, source)
    if header.video is None:
        kind = "audio only" if header.has_audio else "no picture"
        raise InputError(f"{source} has no video stream ({kind}); give a video or image file")
    scan = _parse_scan(result.stdout)
    if scan.packets == 0 and result.returncode == 0:
        raise InputError(f"{source} has a video stream but no frames in it (zero frames); give a clip with frames")
    if scan.packets == 0:
        raise InputError(f"cannot read {source} as a video: {_last_line(result.stderr)}; check the file")
    return _build_info(source, header, scan)


@dataclass(frozen=True)
class _Stream:
    codec: str
    width: int
    height: int
    fps_text: str | None  # average rate as ffmpeg printed it ("23.98"), None if absent
    tbr_text: str | None  # ffmpeg's guess of the base rate
    rotation: int


@dataclass(frozen=True)
class _Header:
    demuxer: str
    duration: float | None
    video: _Stream | None
    has_audio: bool


@dataclass(frozen=True)
class _Scan:
    packets: int  # shown packets (not flagged discard)
    complete: bool  # the whole stream was read (fewer packets than the scan limit)
    time_base: Fraction
    durations: frozenset[int]  # packet durations in time_base units, the last packet excluded
    span: int  # from the first packet's start to the last packet's end, in time_base units


_INPUT_RE = re.compile(r"^Input #0, (?P<demuxer>.+?), from '", re.M)
_DURATION_RE = re.compile(r"^\s*Duration: (?:(?P<h>\d+):(?P<m>\d+):(?P<s>\d+(?:\.\d+)?)|N/A)", re.M)
_STREAM_RE = re.compile(r"^\s*Stream #0:\d+\S*: (?P<kind>\w+): (?P<desc>.*)$")
_ROTATION_RE = re.compile(r"rotation of (?P<degrees>-?\d+(?:\.\d+)?) degrees")
_SIZE_RE = re.compile(r"(?P<width>\d+)x(?P<height>\d+)(?:\s|$)")
_NOT_PICTURES = ("(attached pic)", "(timed thumbnails)")
_MP4_BOXES = (b"ftyp", b"mdat", b"moov", b"free", b"skip", b"wide")  # boxes an MP4/MOV file starts with


def _parse_header(stderr: str, source: Path, *, what: str = "a video") -> _Header:
    """Parse the ``Input #0`` block that ffmpeg prints for ``-i``; raise if there is none."""
    match = _INPUT_RE.search(stderr)
    if match is None and "moov atom not found" in stderr and _head(source, 8)[4:8] in _MP4_BOXES:
        # an MP4/MOV whose index was never written (a text file named .mp4 lacks the leading box too)
        raise InputError(f"cannot read {source} as {what}: its index (the MP4 'moov' atom) is missing, so the "
                         "file was cut off while it was being written; re-export it, or recover it with an "
                         "MP4 repair tool")
    if match is None:
        raise InputError(f"cannot read {source} as {what}: {_last_line(stderr)}; check the file")
    block = stderr[match.start():]
    end = re.search(r"^(Output #|Stream mapping:|\[out#)", block, re.M)
    block = block[:end.start()] if end else block
    duration_match = _DURATION_RE.search(block)
    duration = None
    if duration_match and duration_match.group("h") is not None:
        h, m, s = duration_match.group("h", "m", "s")
        duration = int(h) * 3600 + int(m) * 60 + float(s)

    video: _Stream | None = None
    has_audio = False
    in_video = False  # inside the block of the chosen video stream (its side data follows it)
    for line in block.splitlines():
        stream = _STREAM_RE.match(line)
        if stream:
            in_video = False
            kind, desc = stream.group("kind", "desc")
            has_audio = has_audio or kind == "Audio"
            if kind == "Video" and video is None and not any(tag in desc for tag in _NOT_PICTURES):
                video, in_video = _parse_video_stream(desc, source), True
        elif in_video and video is not None and (rotation := _ROTATION_RE.search(line)):
            clockwise = -float(rotation.group("degrees"))  # ffmpeg prints the counter-clockwise angle
            video = _replace_rotation(video, int(round(clockwise / 90.0)) * 90 % 360)
    return _Header(match.group("demuxer"), duration, video, has_audio)


def _parse_video_stream(desc: str, source: Path) -> _Stream:
    """Parse the description after ``Video:`` (``h264 (High), yuv420p(tv), 64x48 [SAR 1:1], 25 fps``)."""
    parts = _split_top_level(desc)
    codec = parts[0].split()[0] if parts and parts[0] else "unknown"
    width = height = 0
    fps_text = tbr_text = None
    for part in parts[1:]:
        if width == 0 and (size := _SIZE_RE.match(part)):
            width, height = int(size.group("width")), int(size.group("height"))
        elif rate := re.match(r"(\d+(?:\.\d+)?)(k?) (fps|tbr)\b", part):
            value = str(Fraction(rate.group(1)) * (1000 if rate.group(2) else 1))
            if rate.group(3) == "fps":
                fps_text = value
            else:
                tbr_text = value
    if width <= 0 or height <= 0:
        declared = declared_size(_head(source)) if source.is_file() else None
        if declared is not None and max(declared) > MAX_SIZE:  # ffmpeg leaves the size out past its own limit
            raise InputError(f"{source} is {declared[0]}x{declared[1]} pixels, more than the {MAX_SIZE} pixels a "
                             "side dreamvid works with; downscale it first")
        raise InputError(f"cannot read {source} as a video: its picture size is unknown; check the file")
    return _Stream(codec, width, height, fps_text, tbr_text, 0)


def _head(source: Path, size: int = 65536) -> bytes:
    """The first ``size`` bytes of a file (fewer if it is shorter; none if it cannot be read)."""
    try:
        with open(source, "rb") as stream:
            return stream.read(size)
    except OSError:
        return b""


def _replace_rotation(stream: _Stream, rotation: int) -> _Stream:
    return _Stream(stream.codec, stream.width, stream.height, stream.fps_text, stream.tbr_text, rotation)


def _split_top_level(text: str) -> list[str]:
    """Split at ", " outside parentheses and brackets: ``yuv420p(tv, bt709)`` stays one part."""
    parts, depth, current = [], 0, []
    for index, char in enumerate(text):
        depth += (char in "([") - (char in ")]")
        if char == "," and depth == 0 and text[index + 1:index + 2] == " ":
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts


def _parse_scan(framecrc: str) -> _Scan:
    """Parse ffmpeg's ``framecrc`` listing: ``#tb 0: 1/24000``, then one line per packet,
    ``0, dts, pts, duration, size, crc[, F=flags]``."""
    time_base = Fraction(1, 1)
    rows: list[tuple[int, int]] = []  # (pts, duration) of shown packets
    listed = 0
    for line in framecrc.splitlines():
        if line.startswith("#tb 0:"):
            time_base = Fraction(line.split(":", 1)[1].strip())
        elif line and not line.startswith("#"):
            fields = [field.strip() for field in line.split(",")]
            if len(fields) < 6:
                continue
            listed += 1
            flags = int(fields[6].split("=", 1)[1], 16) if len(fields) > 6 and "=" in fields[6] else 1
            if flags & 0x4:  # AV_PKT_FLAG_DISCARD: decoded but never shown (edit lists)
                continue
            rows.append((int(fields[2]), int(fields[3])))
    if not rows:
        return _Scan(0, listed < _SCAN_PACKETS, time_base, frozenset(), 0)
    durations = [duration for _, duration in rows[:-1]]
    typical = max(set(durations), key=durations.count) if durations else 0
    first = min(pts for pts, _ in rows)
    last = max(pts + (duration if duration > 0 else typical) for pts, duration in rows)
    return _Scan(len(rows), listed < _SCAN_PACKETS, time_base, frozenset(durations), last - first)


def _build_info(source: Path, header: _Header, scan: _Scan) -> VideoInfo:
    """Combine the header and the packet scan into the frame rate, frame count and duration."""
    stream = header.video
    assert stream is not None  # checked by the caller
    fps = _frame_rate(stream, scan)
    if scan.complete:
        # Evenly spaced packets: one frame each. Otherwise (variable frame rate) the constant-rate
        # conversion yields one frame per 1/fps of the stream's time span.
        from_span = scan.span * scan.time_base * fps
        frames = scan.packets if abs(from_span - scan.packets) < Fraction(1, 2) else max(1, round(from_span))
        duration = float(frames / fps)
    elif header.duration:
        frames = max(scan.packets, round(Fraction(header.duration) * fps))
        duration = header.duration
    else:
        frames, duration = scan.packets, float(scan.packets / fps)
    is_image = frames == 1 and (header.demuxer.endswith("_pipe") or header.demuxer == "image2")
    swap = stream.rotation in (90, 270)
    return VideoInfo(
        path=source,
        width=stream.height if swap else stream.width,
        height=stream.width if swap else stream.height,
        fps=fps,
        duration=duration,
        frames=frames,
        has_audio=header.has_audio,
        rotation=stream.rotation,
        codec=stream.codec,
        is_image=is_image,
    )


def _frame_rate(stream: _Stream, scan: _Scan) -> Fraction:
    """Return the exact frame rate of a video stream.

    Evenly spaced packets give it exactly as ``1 / (duration * time_base)`` (1001 ticks of 1/24000 s is
    24000/1001). Otherwise the rate ffmpeg printed with two decimals is turned back into a fraction
    (:func:`_rate_from_text`). For variable frame rate, ffmpeg's base rate (tbr) wins over the average
    when it lies between 0.99x and 1.5x of it (a nominal 30 fps phone clip with dropped frames keeps
    30 fps, so no picture is lost to the conversion); a wildly variable clip gets its average rate.
    """
    average = _rate_from_text(stream.fps_text or stream.tbr_text or "25")
    durations = sorted(scan.durations)
    if durations and durations[0] > 0 and durations[0] == durations[-1]:
        exact = 1 / (durations[0] * scan.time_base)
        if stream.fps_text is None or abs(exact - average) <= Fraction(1, 100):
            return exact
    if stream.tbr_text is not None:
        base = _rate_from_text(stream.tbr_text)
        if average * Fraction(99, 100) <= base <= min(average * Fraction(3, 2), Fraction(240)):
            return base
    return average


def _rate_from_text(text: str) -> Fraction:
    """Turn a rate printed with two decimals back into the exact fraction it most likely was.

    Example:
        >>> _rate_from_text("23.98"), _rate_from_text("25"), _rate_from_text("8.33")
        (Fraction(24000, 1001), Fraction(25, 1), Fraction(25, 3))
    """
    value = Fraction(text)
    for base in _NTSC_BASES:
        ntsc = Fraction(base * 1000, 1001)
        if abs(value - ntsc) <= Fraction(1, 200):
            return ntsc
    low, high = value - Fraction(1, 200), value + Fraction(1, 200)
    for denominator in range(1, 1002):  # the simplest fraction that ffmpeg would print as ``text``
        numerator = math.ceil(low * denominator)
        if numerator > 0 and Fraction(numerator, denominator) <= high:
            return Fraction(numerator, denominator)
    return value.limit_denominator(1001)


# ------------------------------------------------------------------------------------- input handling


def _input_args(source: Path) -> list[str]:
    """ffmpeg's input options for ``source``: a file, a printf pattern, or a folder of numbered images."""
    if source.is_dir():
        return _folder_sequence(source)
    if not source.exists():
        if _PATTERN_RE.search(source.name) and source.parent.is_dir():
            return _pattern_sequence(source)
        raise InputError(f"input file not found: {source}")
    try:
        size = source.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}; check the file") from None
    if size == 0:
        raise InputError(f"input file {source} is empty (0 bytes); check the file")
    if not os.access(source, os.R_OK):
        raise InputError(f"cannot read {source}: permission denied; check the file's permissions")
    return ["-i", _url(source)]


def _url(path: Path) -> str:
    """An ffmpeg URL for a local path: ``file:`` so names with ':' or a leading '-' are never misread."""
    return "file:" + str(path.absolute())


def _escape_percent(folder: Path) -> str:
    """A folder's absolute path with '%' doubled, to put in front of a printf file-name pattern."""
    return str(folder.absolute()).replace("%", "%%")


def _pattern_sequence(pattern: Path) -> list[str]:
    """Input options for an image sequence named by a printf pattern such as ``f_%04d.png``."""
    match = _PATTERN_RE.search(pattern.name)
    assert match is not None
    head, tail = pattern.name[:match.start()], pattern.name[match.end():]
    digits = r"\d+" if not match.group(2) else rf"\d{{{int(match.group(2))},}}"
    name_re = re.compile(re.escape(head) + f"({digits})" + re.escape(tail))
    numbers = sorted(int(found.group(1)) for entry in os.scandir(pattern.parent)
                     if (found := name_re.fullmatch(entry.name)))
    if not numbers:
        raise InputError(f"no files match the image-sequence pattern {pattern}; check the name and folder")
    _check_contiguous(numbers, pattern)
    path = _escape_percent(pattern.parent) + os.sep + pattern.name
    return ["-f", "image2", "-start_number", str(numbers[0]), "-i", "file:" + path]


def _folder_sequence(folder: Path) -> list[str]:
    """Input options for a folder of numbered images (``frame_000001.png``, ...), read in numeric order."""
    groups: dict[tuple[str, str], list[str]] = {}
    for entry in os.scandir(folder):
        found = _SEQUENCE_RE.fullmatch(entry.name)
        if found and not entry.name.startswith(".") and entry.is_file():
            groups.setdefault((found.group("prefix"), found.group("ext")), []).append(found.group("number"))
    if not groups:
        raise InputError(f"folder {folder} holds no numbered images (like frame_000001.png); give a video")
    if len(groups) > 1:
        names = ", ".join(sorted(f"{prefix}N.{ext}" for prefix, ext in groups))
        raise InputError(f"folder {folder} holds several image sequences ({names}); "
                         f"name one with a pattern such as {folder / 'frame_%06d.png'}")
    (prefix, ext), numbers = next(iter(groups.items()))
    width = min(len(number) for number in numbers)
    if any(len(number) != width and number.startswith("0") for number in numbers):
        raise InputError(f"folder {folder} mixes differently padded frame numbers; rename the images")
    values = sorted(int(number) for number in numbers)
    _check_contiguous(values, folder)
    pattern = _escape_percent(folder) + os.sep + f"{prefix.replace('%', '%%')}%0{width}d.{ext}"
    return ["-f", "image2", "-start_number", str(values[0]), "-i", "file:" + pattern]


def _check_contiguous(numbers: list[int], where: Path) -> None:
    """Raise if a numbered sequence has a gap (ffmpeg would silently stop there)."""
    for expected, number in enumerate(numbers, start=numbers[0]):
        if number != expected:
            raise InputError(f"image {expected} of the sequence {where} is missing (found "
                             f"{numbers[0]}..{numbers[-1]}); renumber the images without gaps")


# --------------------------------------------------------------------------------------------- reading


def read_frames(
    path: str | os.PathLike[str],
    *,
    start: float = 0.0,
    duration: float | None = None,
    frames: int | None = None,
    width: int | None = None,
    info: VideoInfo | None = None,
) -> Iterator[np.ndarray]:
    """Decode a clip into RGB frames at its constant, exact frame rate.

    The clip is probed (unless ``info`` is given) and the arguments checked before this returns; decoding
    starts when the iterator is first advanced and stops (ffmpeg is ended) when it is exhausted or closed.

    Args:
        path: A video, still image, image-sequence pattern or folder of numbered images.
        start: Seconds to skip; seeking is frame-accurate (the first frame is the first at or after it).
        duration: Seconds to read from ``start``; None reads to the end.
        frames: Stop after this many frames; None reads to the end (or ``duration``).
        width: Downscale to this width (area filter), height from the aspect ratio rounded to even, as in
            :func:`output_size`; None or a width >= the clip's keeps the size.
        info: ``probe(path)``, if already known, to skip probing again.

    Returns:
        An iterator of new, writable ``(H, W, 3)`` uint8 RGB frames; frame ``t`` is the picture at
        ``start + t / info.fps``.

    Damaged input (a file cut short, or corrupt data mid-stream) is not an error once a frame has been
    decoded: the iterator yields every frame that can be decoded (a frame lost mid-stream shows the one
    before it, so the timing holds), then logs one warning on :data:`damage_log` that names the lost
    frames, e.g. ``frames 8-11 could not be decoded`` or ``it ends after frame 10, 4 frames early``.

    Raises:
        InputError: The clip cannot be read (see :func:`probe`), ``start`` is past its end, it yields no
            frames, or ffmpeg fails before decoding any frame (raised by the iterator).
        ConfigError: A negative ``start``, a ``duration``/``frames`` that is not positive, ``width`` < 2.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "clip.webm"
        >>> with VideoWriter(path, fps=Fraction(25), size=(64, 48)) as writer:
        ...     for _ in range(5):
        ...         writer.write(np.zeros((48, 64, 3), np.uint8))
        >>> [frame.shape for frame in read_frames(path, frames=2, width=32)]
        [(24, 32, 3), (24, 32, 3)]
    """
    source = Path(path)
    _check_read_options(start, duration, frames, width)
    info = probe(source) if info is None else info
    if start > 0 and start >= info.duration:
        raise InputError(f"start {start:g} s is at or past the end of {source}: the clip is only "
                         f"{info.duration:.3f} s long; choose an earlier start")
    out_width, out_height = output_size(info.width, info.height, target_width=width)
    _check_frame_size(source, out_width, out_height)
    # showinfo logs each decoded picture's time before the rate conversion: that is how lost frames are found
    filters = ["showinfo=checksum=0", f"fps={_ratio(info.fps)}"]
    if (out_width, out_height) != (info.width, info.height):
        filters.append(f"scale={out_width}:{out_height}:flags=area")
    command = [_ffmpeg(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+info"]
    if start > 0:
        command += ["-ss", _seconds(start, ceil=False)]
    if duration is not None:
        command += ["-t", _seconds(duration, ceil=False)]
    command += [*_input_args(source), "-map", "0:V:0", "-vf", ",".join(filters), "-fps_mode", "passthrough"]
    if frames is not None:
        command += ["-frames:v", str(frames)]
    command += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    expected = info.frames - math.floor(start * info.fps + Fraction(1, 1000)) if start > 0 else info.frames
    if duration is not None:
        expected = min(expected, math.ceil(duration * info.fps - Fraction(1, 1000)))
    if frames is not None:
        expected = min(expected, frames)
    return _stream_frames(command, (out_height, out_width, 3), info, start, expected=expected)


def _check_frame_size(source: Path, width: int, height: int) -> None:
    """Refuse, before any decoding, frames with a side over :data:`~dreamvid.images.MAX_SIZE` pixels."""
    if max(width, height) > MAX_SIZE:
        fits = min(3840, width * MAX_SIZE // max(width, height)) // 2 * 2
        raise InputError(f"{source} gives {width}x{height} frames, more than the {MAX_SIZE} pixels a side dreamvid "
                         f"works with; read it at a smaller width (--width {fits})")


def _check_read_options(start: float, duration: float | None, frames: int | None, width: int | None) -> None:
    _check_times(start, duration, what="")
    if frames is not None and (not _is_int(frames) or frames < 1):
        raise ConfigError(f"expected a frame count >= 1, got {frames!r}")
    if width is not None and (not _is_int(width) or width < 2):
        raise ConfigError(f"expected a width >= 2 pixels, got {width!r}")


def _stream_frames(command: list[str], shape: tuple[int, int, int], info: VideoInfo, start: float, *,
                   expected: int) -> Iterator[np.ndarray]:
    """Run ffmpeg and yield exactly ``H * W * 3`` bytes at a time as frames; end ffmpeg however it stops.

    Once a frame has been yielded, ffmpeg failing or stopping inside a frame ends the clip there (the
    partial frame is dropped); whatever was lost is logged on :data:`damage_log` when the clip ends.
    """
    logger.debug("reading frames: %s", command)
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    decode_log = _DecodeLog(process)
    count, cut_short = 0, False
    try:
        while True:
            frame = np.empty(shape, np.uint8)
            got = _read_into(process.stdout, memoryview(frame).cast("B"))  # type: ignore[arg-type]
            if got < frame.nbytes:
                cut_short = got > 0
                break
            count += 1
            yield frame
        failed = process.wait() != 0 or cut_short
        if count == 0 and failed:
            raise InputError(f"cannot decode {info.path}: {decode_log.last()}; check the file")
        if count == 0:
            raise InputError(f"no frames to read from {info.path} at start {start:g} s: the clip is only "
                             f"{info.duration:.3f} s long; choose an earlier start")
        decode_log.finish()
        lost = _describe_damage(decode_log.times, decode_log.errors, count=count, expected=expected,
                                fps=info.fps, stopped=decode_log.last() if failed else None)
        if lost is not None:
            damage_log.warning("%s is damaged: %s; the output keeps every frame that could be decoded",
                               info.path, lost)
    finally:
        _end(process)


def _describe_damage(times: Sequence[float], errors: Sequence[tuple[int, str]], *, count: int, expected: int,
                     fps: Fraction, stopped: str | None) -> str | None:
    """Say which output frames decoding lost, or None when ffmpeg reported no damage.

    Args:
        times: Times in seconds of the decoded pictures, before the conversion to constant frame rate.
        errors: ``(pictures decoded so far, message)`` for each decoding error ffmpeg reported.
        count: Frames yielded.
        expected: Frames the clip should have given.
        fps: The output frame rate.
        stopped: ffmpeg's last error when it failed (or stopped inside a frame), else None.

    Example:
        >>> times = [0.0, 0.1, 0.2, 0.6, 0.7]  # 0.3-0.5 s lost
        >>> _describe_damage(times, [(3, "Invalid NAL unit size")], count=8, expected=10, fps=Fraction(10),
        ...                  stopped=None)
        'frames 3-5 could not be decoded (each shows the frame before it); it ends after frame 7, 2 frames early'
    """
    if not errors and stopped is None:
        return None
    parts = []
    missing = _missing_frames(times, fps, count)
    if missing:
        shown = ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in _runs(missing))
        noun = "frames" if len(missing) > 1 else "frame"
        parts.append(f"{noun} {shown} could not be decoded (each shows the frame before it)")
    if stopped is not None:
        parts.append(f"decoding stopped after frame {count - 1} ({stopped})")
    elif count < expected:
        parts.append(f"it ends after frame {count - 1}, {expected - count} frame{'s' * (expected - count > 1)} early")
    if not parts:
        near, message = errors[0]
        parts.append(f"decoding errors near frame {min(near, count - 1)} ({message}); frames there may show blocks")
    return "; ".join(parts)


def _missing_frames(times: Sequence[float], fps: Fraction, count: int) -> list[int]:
    """Output frames that fall in a gap of the decoded pictures' times (over 1.5 times the usual spacing)."""
    relative = [t - times[0] for t in times]
    steps = sorted(b - a for a, b in zip(relative, relative[1:]) if b > a)
    if not steps:
        return []
    usual = steps[len(steps) // 2]
    shown = {round(t * fps) for t in relative}
    missing: list[int] = []
    for a, b in zip(relative, relative[1:]):
        if b - a > 1.5 * usual:
            missing += [t for t in range(round(a * fps) + 1, min(round(b * fps), count)) if t not in shown]
    return missing


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted integers as ``(first, last)`` pairs: ``[3, 4, 5, 9]`` → ``[(3, 5), (9, 9)]``."""
    runs: list[tuple[int, int]] = []
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    return runs


def _read_into(stream: IO[bytes], buffer: memoryview) -> int:
    """Fill ``buffer`` from ``stream``; return the bytes read (less than its size only at end of stream)."""
    filled = 0
    while filled < len(buffer):
        got = stream.readinto(buffer[filled:])
        if not got:
            break
        filled += got
    return filled


# ------------------------------------------------------------------------------------------- formats


def read_audio(
    path: str | os.PathLike[str],
    *,
    sample_rate: int = 22050,
    start: float = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """Decode the first audio stream of ``path`` (WAV, MP3, FLAC, M4A, Ogg, or a video's soundtrack) to mono.

    Args:
        path: any file ffmpeg reads that has sound.
        sample_rate: the rate to resample to, in Hz.
        start, duration: the part to decode, in seconds (``None``: to the end).

    Returns:
        ``(samples,)`` float32 in [-1, 1], the channels averaged.

    Raises:
        InputError: the file is missing, empty, unreadable, has no audio stream, or ``start`` is past its end.

    Example:
        >>> import tempfile, wave
        >>> path = Path(tempfile.mkdtemp()) / "tone.wav"
        >>> with wave.open(str(path), "wb") as w:
        ...     w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
        ...     w.writeframes((np.sin(np.arange(8000) * 0.1) * 16000).astype("<i2").tobytes())
        >>> read_audio(path, sample_rate=8000).shape
        (8000,)
    """
    source = Path(path)
    _check_times(start, duration, what="audio ")
    if not _is_int(sample_rate) or sample_rate < 1000:
        raise ConfigError(f"expected a sample rate of at least 1000 Hz, got {sample_rate!r}")
    input_args = _input_args(source)
    header = _parse_header(_run([_ffmpeg(), "-nostdin", "-hide_banner", *input_args], source).stderr, source,
                           what="audio")
    if not header.has_audio:
        raise InputError(f"{source} has no audio stream; give a file with sound (WAV, MP3, FLAC, M4A, or a "
                         f"video with a soundtrack)")
    if header.duration is not None and start >= header.duration:
        raise InputError(f"audio start {start:g} s is past the end of {source}: it is only "
                         f"{header.duration:.3f} s long; choose an earlier start")
    options = ["-ss", _seconds(start, ceil=False)] if start > 0 else []
    options += ["-t", _seconds(duration, ceil=False)] if duration is not None else []
    command = [_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", *options, *input_args,
               "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "pipe:1"]
    logger.debug("decoding audio: %s", command)
    try:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    except OSError as exc:
        raise DreamvidError(f"cannot run ffmpeg for {source}: {exc}; reinstall imageio-ffmpeg") from None
    if result.returncode != 0:
        reason = _last_line(result.stderr.decode("utf-8", "replace"))
        raise InputError(f"cannot decode the audio of {source}: {reason}; check the file")
    return np.frombuffer(result.stdout[: len(result.stdout) // 4 * 4], dtype="<f4").astype(np.float32)


def output_format(path: str | os.PathLike[str]) -> str:
    """Name the output format for a path: ``"mp4"``, ``"webm"``, ``"gif"`` or ``"png"`` (frames folder).

    A path ending in a separator, an existing folder, or a name without an extension is a folder of PNG
    frames; otherwise the (case-insensitive) extension decides.

    Args:
        path: The output path.

    Returns:
        The format name.

    Raises:
        OutputError: An unknown extension (including ``.png``: a single image is not a video output).

    Example:
        >>> output_format("dream.MP4"), output_format("frames/"), output_format("frames")
        ('mp4', 'png', 'png')
    """
    text = os.fspath(path)
    target = Path(text)
    if text.endswith(("/", os.sep)) or target.is_dir() or not target.suffix:
        return "png"
    name = OUTPUT_FORMATS.get(target.suffix.lower())
    if name is None:
        raise OutputError(f"unknown output format '{target.suffix}' for {target}; use "
                          f"{', '.join(OUTPUT_FORMATS)}, or a folder (ending in /) for PNG frames")
    return name


def output_size(width: int, height: int, *, target_width: int | None) -> tuple[int, int]:
    """The frame size after ``--width``: a smaller even width, the height from the aspect ratio, even.

    Args:
        width: Source width in pixels.
        height: Source height in pixels.
        target_width: Wanted width; None, or a width >= ``width`` (no upscaling), keeps the source size
            exactly (the writer pads odd sizes for H.264). An odd target is rounded down to even.

    Returns:
        ``(width, height)``.

    Raises:
        ConfigError: ``target_width`` is below 2, or a size is not a positive integer.

    Example:
        >>> output_size(1920, 1080, target_width=853), output_size(63, 47, target_width=None)
        ((852, 480), (63, 47))
    """
    if not (_is_int(width) and _is_int(height)) or width < 1 or height < 1:
        raise ConfigError(f"expected a positive frame size, got {width!r}x{height!r}")
    if target_width is None:
        return width, height
    if not _is_int(target_width) or target_width < 2:
        raise ConfigError(f"expected a width >= 2 pixels, got {target_width!r}")
    if target_width >= width:
        return width, height
    new_width = target_width - target_width % 2
    new_height = max(2, 2 * math.floor(height * new_width / width / 2 + 0.5))
    return new_width, new_height


# --------------------------------------------------------------------------------------------- writing


class VideoWriter:
    """Encode RGB frames into a video file or PNG frames folder, atomically; a context manager.

    Frames go to ffmpeg through a pipe as they are written. With ``audio_from``, the audio of that file
    (from ``audio_start`` for ``audio_duration`` seconds) is added to MP4/WebM output, padded with silence
    or cut so that it ends with the last frame (within one audio packet). On :meth:`close` the complete
    output is renamed into place; on an exception inside the ``with`` block, or :meth:`abort`, ffmpeg is
    stopped, the part file is removed and nothing appears at ``path``.

    Args:
        path: Output path; :func:`output_format` picks the format.
        fps: Exact frame rate (a Fraction or int), e.g. ``info.fps``.
        size: ``(width, height)`` of the frames that will be written.
        audio_from: File whose first audio stream is carried over (ignored for GIF and PNG frames, and
            when it has no audio).
        audio_start: Where the audio starts in ``audio_from``, seconds (the video's ``start``).
        audio_duration: Seconds of audio to use; None uses it to the end (it is then cut to the video).
        crf: Quality, lower is better: libx264's CRF for MP4 (0-51, 18 looks lossless), libvpx's for WebM
            (0-63). Ignored for GIF and PNG frames.
        inputs: Input files the output must not overwrite (``audio_from`` is always included).
        spherical: ``(projection, stereo)``, e.g. ``("equirect", "top-bottom")``: mark MP4 output as a 360°
            video (V1 and V2 spherical metadata, see :mod:`dreamvid.spherical`); other formats have none.

    Raises:
        OutputError: Unknown format, unwritable or missing directory, output is an input, a non-empty
            folder that is not a previous frames output, or ffmpeg failing (from :meth:`write`/:meth:`close`).
        InputError: ``audio_from`` cannot be read, or ``audio_start`` is past its end.
        ConfigError: ``fps``, ``size``, ``crf`` or the audio times are out of range.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp()) / "frames"
        >>> with VideoWriter(folder, fps=Fraction(25), size=(4, 3)) as writer:
        ...     writer.write(np.zeros((3, 4, 3), np.uint8))
        >>> sorted(path.name for path in folder.iterdir())
        ['frame_000001.png']
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: Fraction | int,
        size: tuple[int, int],
        audio_from: str | os.PathLike[str] | None = None,
        audio_start: float = 0.0,
        audio_duration: float | None = None,
        crf: int = 18,
        inputs: Sequence[str | os.PathLike[str]] = (),
        spherical: tuple[str, str] | None = None,
    ) -> None:
        self.format = output_format(path)
        self._spherical = spherical if self.format == "mp4" else None
        self.fps = _check_fps(fps)
        self.size = _check_size(size)
        self._crf = _check_crf(crf, self.format)
        sources = [*inputs, *([audio_from] if audio_from is not None else [])]
        self.path = _check_target(Path(path), self.format, sources)
        self._audio = self._audio_input(audio_from, audio_start, audio_duration)
        self._frames = 0
        self._closed = False
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: _StderrTail | None = None
        self._part = _reserve_part(self.path, self.format)  # the finished output before the rename
        self._video_part: Path | None = None  # video-only file when audio is muxed in a second step
        try:
            if self._audio is not None:
                self._video_part = _reserve_part(self.path, self.format, tag="video")
            self._start_encoder()
        except BaseException:
            self.abort()
            raise

    # -- public API

    def write(self, frame: np.ndarray) -> None:
        """Send one ``(height, width, 3)`` uint8 RGB frame (not modified) to the encoder.

        Raises:
            OutputError: ffmpeg has failed (the output is then abandoned).
            ValueError: The writer is closed, or the frame has the wrong shape or dtype.
        """
        if self._closed or self._process is None or self._process.stdin is None:
            raise ValueError(f"the writer for {self.path} is closed")
        width, height = self.size
        if not isinstance(frame, np.ndarray) or frame.shape != (height, width, 3) or frame.dtype != np.uint8:
            got = f"{frame.shape} {frame.dtype}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise ValueError(f"expected a frame of shape ({height}, {width}, 3) uint8, got {got}")
        try:
            self._process.stdin.write(memoryview(np.ascontiguousarray(frame)).cast("B"))
        except (BrokenPipeError, OSError):
            self._fail("ffmpeg stopped while encoding")
        self._frames += 1

    def close(self) -> Path:
        """Finish encoding, add the audio, and move the output into place.

        Returns:
            The output path.

        Raises:
            OutputError: No frame was written, or ffmpeg or the final rename failed (nothing is left behind).
        """
        if self._closed:
            raise ValueError(f"the writer for {self.path} is already closed")
        try:
            self._finish_encoder()
            if self._audio is not None:
                self._mux_audio()
            if self._spherical is not None:
                from dreamvid.spherical import write_spherical

                projection, stereo = self._spherical
                write_spherical(self._part, projection=projection, stereo=stereo)
            self._publish()
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and remove every part file; the target is left as it was. Safe to call twice."""
        self._closed = True
        if self._process is not None:
            _end(self._process)
        for part in (self._part, self._video_part):
            if part is not None:
                if part.is_dir() and not part.is_symlink():
                    shutil.rmtree(part, ignore_errors=True)
                else:
                    part.unlink(missing_ok=True)

    @property
    def frames_written(self) -> int:
        """Frames written so far."""
        return self._frames

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._closed:
            self.close()

    # -- steps

    def _audio_input(self, audio_from: str | os.PathLike[str] | None, start: float,
                     duration: float | None) -> list[str] | None:
        """ffmpeg input options for the audio, or None when there is none to carry over."""
        _check_times(start, duration, what="audio ")
        if audio_from is None or self.format not in _AUDIO_CODECS:
            return None
        source = Path(audio_from)
        input_args = _input_args(source)
        result = _run([_ffmpeg(), "-nostdin", "-hide_banner", *input_args], source)
        header = _parse_header(result.stderr, source)
        if not header.has_audio:
            return None
        if header.duration is not None and start >= header.duration:
            raise InputError(f"audio start {start:g} s is past the end of {source}: it is only "
                             f"{header.duration:.3f} s long; choose an earlier start")
        options = ["-ss", _seconds(start, ceil=False)] if start > 0 else []
        options += ["-t", _seconds(duration, ceil=False)] if duration is not None else []
        return [*options, *input_args]

    def _start_encoder(self) -> None:
        width, height = self.size
        target = self._video_part if self._video_part is not None else self._part
        command = [_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                   "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                   "-framerate", _ratio(self.fps), "-i", "pipe:0", "-map", "0:v:0",
                   *_video_options(self.format, self.size, self._crf, faststart=self._audio is None)]
        if self.format == "png":
            command += ["-start_number", "1", "-f", "image2", "file:" + _escape_percent(target) + os.sep
                        + FRAME_PATTERN]
        else:
            command += ["-f", self.format, _url(target)]
        logger.debug("encoding %s: %s", self.path, command)
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
        self._stderr = _StderrTail(self._process)

    def _finish_encoder(self) -> None:
        assert self._process is not None and self._process.stdin is not None
        if self._frames == 0:
            raise OutputError(f"no frames were written to {self.path}; nothing to save")
        try:
            self._process.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        if self._process.wait() != 0:
            self._fail("ffmpeg failed while encoding")

    def _mux_audio(self) -> None:
        """Copy the encoded video and add the audio, cut or padded to exactly the video's length.

        A second, cheap step (the video is copied, not re-encoded): with a single process, ``-shortest``
        ends the output up to 0.35 s late, depending on thread timing; an exact ``-t`` needs the frame count.
        """
        assert self._audio is not None and self._video_part is not None
        seconds = _seconds(self._frames / self.fps, ceil=True)
        command = [_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                   "-i", _url(self._video_part), *self._audio, "-map", "0:v:0", "-map", "1:a:0",
                   "-c:v", "copy", *_AUDIO_CODECS[self.format], "-af", "apad", "-t", seconds]
        if self.format == "mp4":
            command += ["-movflags", "+faststart"]
        command += ["-f", self.format, _url(self._part)]
        logger.debug("adding audio to %s: %s", self.path, command)
        result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, check=False)
        if result.returncode != 0:
            detail = _last_line(result.stderr.decode("utf-8", "replace"))
            raise OutputError(f"ffmpeg failed while adding the audio to {self.path}: {detail}")
        self._video_part.unlink(missing_ok=True)

    def _publish(self) -> None:
        """Rename the finished part file (or folder) over the target."""
        try:
            if self.format == "png":
                _replace_folder(self._part, self.path)
            else:
                fsync_path(self._part)
                os.replace(self._part, self.path)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        fsync_path(self.path.parent)

    def _fail(self, what: str) -> None:
        """Stop ffmpeg and raise an OutputError quoting the last line it printed."""
        assert self._process is not None and self._stderr is not None
        _end(self._process)
        detail = self._stderr.last()
        self.abort()
        raise OutputError(f"{what} {self.path}: {detail}")


class SegmentJoiner(VideoWriter):
    """A :class:`VideoWriter` for MP4/WebM whose video is joined from encoded segments instead of frames.

    Each segment is a complete file written by a :class:`VideoWriter` with the same format, frame rate,
    size and ``crf`` (so the streams have the same parameters). :meth:`join` copies their streams one
    after the other with ffmpeg's concat demuxer -- no re-encoding, so the output decodes to exactly the
    segments' frames -- then adds the audio and moves the output into place as :meth:`VideoWriter.close`
    does. Constructing one checks the target and the audio up front without starting anything;
    :meth:`abort` leaves nothing behind, so ``SegmentJoiner(path, ...).abort()`` is a cheap check that
    an output could be written.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> for name in ("a.mp4", "b.mp4"):
        ...     with VideoWriter(folder / name, fps=Fraction(25), size=(64, 48)) as writer:
        ...         for _ in range(3):
        ...             writer.write(np.zeros((48, 64, 3), np.uint8))
        >>> joiner = SegmentJoiner(folder / "ab.mp4", fps=Fraction(25), size=(64, 48))
        >>> joiner.join([folder / "a.mp4", folder / "b.mp4"], frames=6).name, probe(folder / "ab.mp4").frames
        ('ab.mp4', 6)
    """

    def join(self, segments: Sequence[str | os.PathLike[str]], *, frames: int) -> Path:
        """Join ``segments`` (in order; ``frames`` frames in all) into the output, add the audio, publish.

        Returns:
            The output path.

        Raises:
            OutputError: No segment, or ffmpeg or the final rename failed (nothing is left behind).
            ValueError: The format is GIF or PNG frames (those cannot be joined without re-encoding).
        """
        if self.format not in _AUDIO_CODECS:
            self.abort()
            raise ValueError(f"only MP4 and WebM segments can be joined, not {self.format}")
        self._segments = [Path(segment) for segment in segments]
        self._frames = frames
        return self.close()

    def write(self, frame: np.ndarray) -> None:
        """Refused: a joiner takes whole segments (:meth:`join`), not frames."""
        raise ValueError(f"the joiner for {self.path} takes segments (join), not frames")

    def _start_encoder(self) -> None:
        """Nothing runs until :meth:`join` brings the segments."""
        self._segments: list[Path] = []

    def _finish_encoder(self) -> None:
        if not self._segments or self._frames == 0:
            raise OutputError(f"no frames were written to {self.path}; nothing to save")
        target = self._video_part if self._video_part is not None else self._part
        listing = "ffconcat version 1.0\n" + "".join(
            "file '" + _url(segment).replace("'", "'\\''") + "'\n" for segment in self._segments)
        command = [_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
                   "-protocol_whitelist", "file,pipe", "-i", "pipe:0", "-map", "0:v:0", "-c", "copy"]
        if self.format == "mp4" and self._audio is None:
            command += ["-movflags", "+faststart"]
        command += ["-f", self.format, _url(target)]
        logger.debug("joining %d segments into %s: %s", len(self._segments), self.path, command)
        result = subprocess.run(command, input=listing.encode("utf-8"), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, check=False)
        if result.returncode != 0:
            detail = _last_line(result.stderr.decode("utf-8", "replace"))
            raise OutputError(f"ffmpeg failed while joining the segments of {self.path}: {detail}")


def _video_options(format_name: str, size: tuple[int, int], crf: int, *, faststart: bool) -> list[str]:
    """Encoder options per output format (see the module docstring)."""
    width, height = size
    if format_name == "mp4":
        filters = [_TO_BT709, "format=yuv420p"]
        if width % 2 or height % 2:  # yuv420p needs even sides: repeat the last column/row, never rescale
            filters[:0] = [f"pad={width + width % 2}:{height + height % 2}:0:0",
                           f"fillborders=right={width % 2}:bottom={height % 2}:mode=smear"]
        options = ["-vf", ",".join(filters), "-c:v", "libx264", "-preset", "medium", "-crf", str(crf),
                   "-pix_fmt", "yuv420p", *_COLOUR_TAGS]
        return options + (["-movflags", "+faststart"] if faststart else [])
    if format_name == "webm":
        options = ["-vf", f"{_TO_BT709},format=yuv420p", "-pix_fmt", "yuv420p", *_COLOUR_TAGS]
        if "libvpx-vp9" in _encoders():
            return options + ["-c:v", "libvpx-vp9", "-crf", str(crf), "-b:v", "0", "-deadline", "good",
                              "-cpu-used", "4", "-row-mt", "1"]
        return options + ["-c:v", "libvpx", "-crf", str(max(crf, 4)), "-b:v", "50M"]
    if format_name == "gif":
        palette = "split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=sierra2_4a"
        return ["-vf", palette, "-loop", "0"]
    return ["-c:v", "png", "-pix_fmt", "rgb24"]


def _check_target(target: Path, format_name: str, inputs: Sequence[str | os.PathLike[str]]) -> Path:
    """Check before any work that the output can be written and would not overwrite an input."""
    if format_name != "png":
        return check_output_path(target, extensions=OUTPUT_FORMATS.keys(), inputs=inputs)
    parent = target.absolute().parent
    if not parent.is_dir():
        raise OutputError(f"output directory does not exist: {parent}; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to {parent}: permission denied")
    if target.exists() and not target.is_dir():
        raise OutputError(f"output path {target} is a file, not a folder; give a folder for PNG frames")
    for source in inputs:
        source_path = Path(source)
        if target.absolute() == source_path.absolute() or target.absolute() in source_path.absolute().parents:
            raise OutputError(f"output folder {target} holds the input {source_path}; choose another folder")
    if target.is_dir():
        foreign = [entry.name for entry in os.scandir(target) if not _FRAME_NAME_RE.fullmatch(entry.name)]
        if foreign:
            raise OutputError(f"output folder {target} already holds other files ({foreign[0]}, ...); "
                              "empty it or choose another folder")
    return target


def _reserve_part(target: Path, format_name: str, *, tag: str = "") -> Path:
    """Create a new hidden part file (or folder) beside ``target``; keep the real extension last."""
    middle = f".{tag}" if tag else ""
    for _ in range(100):
        name = f".{target.name}.{secrets.token_hex(4)}{middle}.part"
        part = target.absolute().parent / (name if format_name == "png" else name + target.suffix)
        try:
            if format_name == "png":
                part.mkdir()
            else:
                os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return part
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"cannot write to {part.parent}: {exc.strerror or exc}") from None
    raise OutputError(f"cannot create a temporary file in {target.parent}; remove stale .part files")


def _replace_folder(part: Path, target: Path) -> None:
    """Move a finished frames folder into place, replacing an earlier frames folder of the same name."""
    if not target.exists():
        os.rename(part, target)
        return
    old = target.absolute().parent / f".{target.name}.{secrets.token_hex(4)}.old"
    os.rename(target, old)
    try:
        os.rename(part, target)
    except OSError:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _check_times(start: float, duration: float | None, *, what: str) -> None:
    """Raise unless ``start`` is a finite number >= 0 and ``duration`` is None or a finite number > 0."""
    if not _is_number(start) or not math.isfinite(start) or start < 0:
        raise ConfigError(f"expected {what}start >= 0 seconds, got {start!r}")
    if duration is not None and (not _is_number(duration) or not math.isfinite(duration) or duration <= 0):
        raise ConfigError(f"expected {what}duration > 0 seconds, got {duration!r}")


def _check_fps(fps: Fraction | int) -> Fraction:
    if isinstance(fps, bool) or not isinstance(fps, (Fraction, int)):
        raise ConfigError(f"expected an exact frame rate such as Fraction(24000, 1001), got {fps!r}")
    if fps <= 0 or fps > 1000:
        raise ConfigError(f"expected a frame rate from 0 to 1000 fps, got {fps}")
    return Fraction(fps)


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    if (not isinstance(size, (tuple, list)) or len(size) != 2 or not all(_is_int(side) for side in size)
            or min(size) < 1 or max(size) > 16384):
        raise ConfigError(f"expected a frame size (width, height) from 1 to 16384 pixels, got {size!r}")
    return int(size[0]), int(size[1])


def _check_crf(crf: int, format_name: str) -> int:
    highest = 51 if format_name == "mp4" else 63
    if not _is_int(crf) or not 0 <= crf <= highest:
        raise ConfigError(f"expected a CRF from 0 to {highest} for {format_name}, got {crf!r}")
    return crf


# ------------------------------------------------------------------------------------------- process


@cache
def _ffmpeg() -> str:
    """Path of imageio-ffmpeg's bundled ffmpeg binary."""
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise DreamvidError(f"cannot find ffmpeg ({exc}); reinstall it: pip install --force-reinstall "
                            "imageio-ffmpeg") from None


@cache
def _encoders() -> frozenset[str]:
    """Names of the encoders the bundled ffmpeg has."""
    result = subprocess.run([_ffmpeg(), "-hide_banner", "-encoders"], capture_output=True, text=True,
                            check=False)
    return frozenset(line.split()[1] for line in result.stdout.splitlines()
                     if len(line.split()) > 1 and re.fullmatch(r"[VAS][.A-Z]{5}", line.split()[0]))


def _run(command: list[str], source: Path) -> subprocess.CompletedProcess[str]:
    """Run a short ffmpeg command to completion, capturing its text output."""
    logger.debug("running %s", command)
    try:
        return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              encoding="utf-8", errors="replace", check=False)
    except OSError as exc:
        raise DreamvidError(f"cannot run ffmpeg for {source}: {exc}; reinstall imageio-ffmpeg") from None


class _DecodeLog:
    """Drain a decoding ffmpeg's stderr (``-loglevel level+info``) in a thread, sorting what it says.

    Keeps the time of every picture ``showinfo`` reports (``times``), every decoding error with the number
    of pictures reported before it (``errors``: errors, and warnings about corrupt packets or frames),
    and the last error lines for messages (:meth:`last`).
    """

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.times: list[float] = []
        self.errors: list[tuple[int, str]] = []
        self._lines: deque[str] = deque(maxlen=20)
        self._thread = threading.Thread(target=self._drain, args=(process.stderr,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            found = _LEVEL_LINE_RE.match(raw.decode("utf-8", "replace").strip())
            if found is None:
                continue
            context, level, message = found.group("context", "level", "message")
            if level == "info":
                picture = _SHOWINFO_RE.match(message) if "Parsed_showinfo" in context else None
                if picture is not None:
                    self.times.append(float(picture.group("time")))
            elif level in ("error", "fatal", "panic") or (level == "warning" and "corrupt" in message.lower()):
                self.errors.append((len(self.times), message))
                if level != "warning":
                    self._lines.append(context + message)
        stream.close()

    def finish(self) -> None:
        """Wait until everything ffmpeg printed has been read (call after it has exited)."""
        self._thread.join(timeout=5)

    def last(self) -> str:
        self.finish()
        return _last_line("\n".join(self._lines))


_LEVEL_LINE_RE = re.compile(r"(?P<context>(?:\[[^\]]*\]\s*)*?)\[(?P<level>panic|fatal|error|warning|info|verbose"
                            r"|debug|trace)\]\s?(?P<message>.*)")
_SHOWINFO_RE = re.compile(r"n:\s*\d+\s+pts:\s*-?\d+\s+pts_time:(?P<time>-?\d+(?:\.\d*)?(?:e[-+]?\d+)?)")


class _StderrTail:
    """Drain a process's stderr in a thread (so it never blocks on a full pipe), keeping the last lines."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._lines: deque[str] = deque(maxlen=20)
        self._thread = threading.Thread(target=self._drain, args=(process.stderr,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").strip()
            if line:
                self._lines.append(line)
        stream.close()

    def last(self) -> str:
        self._thread.join(timeout=5)
        return _last_line("\n".join(self._lines))


_GENERIC_ERROR_RE = re.compile(
    r"Error opening (input|output) files?\b.*|Error selecting an encoder|Conversion failed!?"
    r"|Task finished with error code.*|Terminating thread with return code.*|Nothing was written into.*"
    r"|Could not open encoder before EOF|Error while (filtering|processing the decoded data).*"
)


def _last_line(stderr: str) -> str:
    """ffmpeg's most telling message: the last line that is not a generic "Error opening output files" or
    "Conversion failed" summary, without its ``[component @ 0x...]`` prefixes and trailing period."""
    lines = [re.sub(r"^(\[[^\]]*\]\s*)+", "", line.strip()) for line in stderr.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return "ffmpeg gave no reason"
    specific = [line for line in lines if not _GENERIC_ERROR_RE.fullmatch(line)]
    line = specific[-1] if specific else lines[-1]
    line = re.sub(r"^Error opening (input|output)( files?)?:\s*", "", line)
    return line.rstrip(".") or "ffmpeg gave no reason"


def _end(process: subprocess.Popen[bytes]) -> None:
    """Stop a process if it is still running and reap it."""
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
    if process.poll() is None:
        process.kill()
    process.wait()


# ------------------------------------------------------------------------------------------- helpers


def _ratio(rate: Fraction) -> str:
    return f"{rate.numerator}/{rate.denominator}"


def _seconds(value: float | Fraction, *, ceil: bool) -> str:
    """Seconds as whole microseconds for ffmpeg (its own unit), rounded down unless ``ceil``.

    Rounding down keeps a frame that starts exactly at a ``start`` and leaves out the one that starts
    exactly at the end of a ``duration``: ``17 / (24000/1001)`` s is 709041.67 us -> ``709041us``.
    """
    micros = value * 1_000_000
    return f"{math.ceil(micros) if ceil else math.floor(micros)}us"


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, Fraction, np.integer, np.floating)) and not isinstance(value, bool)
