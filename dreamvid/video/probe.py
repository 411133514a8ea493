"""Probing a clip: ``path → VideoInfo`` (size, exact frame rate, length, streams), without decoding a picture.

Convention:
    - Sizes are display sizes (rotation metadata applied), written ``(width, height)``.
    - The frame rate is an exact :class:`~fractions.Fraction` (23.976 footage is ``Fraction(24000, 1001)``,
      never 23.98 or 24); variable-frame-rate input is described at the constant rate it is read at.
    - Inputs are anything the bundled ffmpeg reads: MP4, MOV, MKV, WebM, AVI, GIF, still images (a
      one-frame video with :attr:`VideoInfo.is_image` set), image sequences given as a printf pattern
      (``frames/f_%04d.png``) or as a folder of numbered images (read in numeric order, at 25 fps).
    - What ffmpeg prints is parsed here (:func:`parse_header`): the ``Input #0`` block for streams and
      duration, and a ``framecrc`` packet listing for the exact rate and frame count.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from dreamvid.errors import ConfigError, InputError
from dreamvid.images import MAX_SIZE, declared_size
from dreamvid.video.process import (
    REFUSED_FORMAT,
    escape_percent,
    ffmpeg_path,
    ffmpeg_url,
    input_guard,
    last_line,
    playlists_allowed,
    run_ffmpeg,
    seconds_text,
)

__all__ = ["Header", "VideoInfo", "audio_input", "ffmpeg_input", "parse_header", "playlist_refusal", "probe"]

_SCAN_PACKETS = 3000  # packets read by probe(); the count is exact up to here, estimated from duration beyond
_NTSC_BASES = (15, 24, 30, 48, 60, 120, 240)  # rates sold as N * 1000/1001 (23.976, 29.97, 59.94, ...)
_IMAGE_SUFFIXES = ("png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff")
_SEQUENCE_RE = re.compile(rf"(?P<prefix>.*?)(?P<number>\d+)\.(?P<ext>{'|'.join(_IMAGE_SUFFIXES)})", re.I)
_PATTERN_RE = re.compile(r"%(0?)(\d*)d")


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
        >>> import numpy as np
        >>> from dreamvid.video import VideoWriter
        >>> path = Path(tempfile.mkdtemp()) / "grey.mp4"
        >>> with VideoWriter(path, fps=Fraction(30000, 1001), size=(64, 48)) as writer:
        ...     for _ in range(3):
        ...         writer.write(np.full((48, 64, 3), 128, np.uint8))
        >>> info = probe(path)
        >>> info.width, info.height, info.fps, info.frames
        (64, 48, Fraction(30000, 1001), 3)
    """
    source = Path(path)
    input_args = ffmpeg_input(source)
    command = [ffmpeg_path(), "-nostdin", "-hide_banner", "-nostats", *input_args, "-map", "0:V:0", "-c", "copy",
               "-frames:v", str(_SCAN_PACKETS), "-f", "framecrc", "pipe:1"]
    result = run_ffmpeg(command, source)
    header = parse_header(result.stderr, source)
    if header.video is None:
        kind = "audio only" if header.has_audio else "no picture"
        raise InputError(f"{source} has no video stream ({kind}); give a video or image file")
    scan = _parse_scan(result.stdout)
    if scan.packets == 0 and result.returncode == 0:
        raise InputError(f"{source} has a video stream but no frames in it (zero frames); give a clip with frames")
    if scan.packets == 0:
        raise InputError(f"cannot read {source} as a video: {last_line(result.stderr)}; check the file")
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
class Header:
    """What ffmpeg's ``Input #0`` block says: the demuxer, the duration (None if unknown), the first video
    stream (None if none) and whether there is sound."""

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


def parse_header(stderr: str, source: Path, *, what: str = "a video") -> Header:
    """Parse the ``Input #0`` block that ffmpeg prints for ``-i``; raise if there is none."""
    match = _INPUT_RE.search(stderr)
    if match is None and REFUSED_FORMAT in stderr:
        raise playlist_refusal(source)
    if match is None and "moov atom not found" in stderr and _head(source, 8)[4:8] in _MP4_BOXES:
        # an MP4/MOV whose index was never written (a text file named .mp4 lacks the leading box too)
        raise InputError(f"cannot read {source} as {what}: its index (the MP4 'moov' atom) is missing, so the "
                         "file was cut off while it was being written; re-export it, or recover it with an "
                         "MP4 repair tool")
    if match is None:
        raise InputError(f"cannot read {source} as {what}: {last_line(stderr)}; check the file")
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
    return Header(match.group("demuxer"), duration, video, has_audio)


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


def _build_info(source: Path, header: Header, scan: _Scan) -> VideoInfo:
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


def ffmpeg_input(source: Path) -> list[str]:
    """ffmpeg's input options for ``source``: a file, a printf pattern, or a folder of numbered images.

    The options keep ffmpeg to ``source`` (:func:`~dreamvid.video.process.input_guard`), and a file that
    is an HLS or concat playlist, whatever its name, is refused before ffmpeg sees it.

    Raises:
        InputError: ``source`` is missing, empty, unreadable, or a playlist (outside ``allow_playlists``).
    """
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
    if not playlists_allowed() and _head(source, 64).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(_PLAYLIST_MAGIC):
        raise playlist_refusal(source)
    return [*input_guard(), "-i", ffmpeg_url(source)]


_PLAYLIST_MAGIC = (b"#EXTM3U", b"ffconcat")


def playlist_refusal(source: Path) -> InputError:
    """The error for an input that is a playlist (or another format that reads files named inside it)."""
    head = _head(source, 64).lstrip(b"\xef\xbb\xbf \t\r\n")
    kind = ("an HLS playlist" if head.startswith(b"#EXTM3U") else "a concat list" if head.startswith(b"ffconcat")
            else "a playlist or another format that reads other files")
    return InputError(f"{source} is {kind}, which makes ffmpeg read the files it names; inputs are read as "
                      "media files only, so give the media file itself (or pass --allow-playlists if you trust "
                      "every file it names)")


def audio_input(source: Path, *, start: float, duration: float | None, what: str = "a video") -> list[str] | None:
    """ffmpeg input options for the sound of ``source`` from ``start`` for ``duration`` seconds (None: to the
    end), or None when it has no audio stream; ``what`` names the file in the error when it cannot be read.

    Raises:
        InputError: ``source`` cannot be read, or ``start`` is at or past the end of its sound.
    """
    if duration is not None and duration < 1e-6:  # ffmpeg counts in microseconds, and reads "-t 0us" as "no limit"
        raise ConfigError(f"expected {what.removeprefix('a ')} duration of at least 0.000001 s, got {duration!r}")
    input_args = ffmpeg_input(source)
    header = parse_header(run_ffmpeg([ffmpeg_path(), "-nostdin", "-hide_banner", *input_args], source).stderr,
                          source, what=what)
    if not header.has_audio:
        return None
    if header.duration is not None and start >= header.duration:
        raise InputError(f"audio start {start:g} s is past the end of {source}: it is only "
                         f"{header.duration:.3f} s long; choose an earlier start")
    options = ["-ss", seconds_text(start, ceil=False)] if start > 0 else []
    options += ["-t", seconds_text(duration, ceil=False)] if duration is not None else []
    return [*options, *input_args]


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
    path = escape_percent(pattern.parent) + os.sep + pattern.name
    return [*input_guard(), "-f", "image2", "-start_number", str(numbers[0]), "-i", "file:" + path]


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
    pattern = escape_percent(folder) + os.sep + f"{prefix.replace('%', '%%')}%0{width}d.{ext}"
    return [*input_guard(), "-f", "image2", "-start_number", str(values[0]), "-i", "file:" + pattern]


def _check_contiguous(numbers: list[int], where: Path) -> None:
    """Raise if a numbered sequence has a gap (ffmpeg would silently stop there)."""
    for expected, number in enumerate(numbers, start=numbers[0]):
        if number != expected:
            raise InputError(f"image {expected} of the sequence {where} is missing (found "
                             f"{numbers[0]}..{numbers[-1]}); renumber the images without gaps")

