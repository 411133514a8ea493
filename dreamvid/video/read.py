"""Reading a clip: ``path → frames`` at its constant, exact frame rate, counting what damage loses; and its sound.

Convention:
    - A *frame* is a new, writable numpy array ``(H, W, 3)`` uint8 in **RGB** order, in display orientation
      (rotation metadata already applied). Sizes are written ``(width, height)``.
    - Frame ``t`` of a clip is the picture shown at time ``t / fps``: variable-frame-rate input is turned
      into constant frame rate at :attr:`~dreamvid.video.VideoInfo.fps`.
    - Frames travel from ffmpeg through a pipe as raw ``rgb24`` bytes; nothing is written to disk.
    - Damage (a file cut short, corrupt data mid-stream) costs frames, not the clip: every frame that
      decodes is delivered, a lost frame shows the one before it, and one warning on :data:`damage_log`
      names what was lost.
    - Sound is decoded to mono float32 samples in [-1, 1] at a chosen sample rate.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import IO

import numpy as np

from dreamvid.errors import ConfigError, DreamvidError, InputError
from dreamvid.images import MAX_SIZE
from dreamvid.video.probe import VideoInfo, audio_input, ffmpeg_input, probe
from dreamvid.video.process import (
    DecodeLog,
    check_times,
    end_process,
    ffmpeg_path,
    is_int,
    last_line,
    ratio_text,
    seconds_text,
)

__all__ = ["check_one_frame", "damage_log", "output_size", "read_audio", "read_frames"]

logger = logging.getLogger("dreamvid.video")

damage_log = logging.getLogger("dreamvid.damage")
"""Warnings that an input is damaged (frames lost to truncation or corrupt data), one per clip, naming the
lost frames; the frames that could be decoded were still delivered. The CLI shows them and exits with
status 3."""


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
        >>> from dreamvid.video import VideoWriter
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
    check_one_frame(duration, info.fps)
    if start > 0 and start >= info.duration:
        raise InputError(f"start {start:g} s is at or past the end of {source}: the clip is only "
                         f"{info.duration:.3f} s long; choose an earlier start")
    out_width, out_height = output_size(info.width, info.height, target_width=width)
    _check_frame_size(source, out_width, out_height)
    # showinfo logs each decoded picture's time before the rate conversion: that is how lost frames are found
    filters = ["showinfo=checksum=0", f"fps={ratio_text(info.fps)}"]
    if (out_width, out_height) != (info.width, info.height):
        filters.append(f"scale={out_width}:{out_height}:flags=area")
    command = [ffmpeg_path(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+info"]
    if start > 0:
        command += ["-ss", seconds_text(start, ceil=False)]
    if duration is not None:
        command += ["-t", seconds_text(duration, ceil=False)]
    command += [*ffmpeg_input(source), "-map", "0:V:0", "-vf", ",".join(filters), "-fps_mode", "passthrough"]
    if frames is not None:
        command += ["-frames:v", str(frames)]
    command += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    expected = info.frames - math.floor(start * info.fps + Fraction(1, 1000)) if start > 0 else info.frames
    if duration is not None:
        expected = min(expected, math.ceil(duration * info.fps - Fraction(1, 1000)))
    if frames is not None:
        expected = min(expected, frames)
    return _stream_frames(command, (out_height, out_width, 3), info, start, expected=expected)


def check_one_frame(duration: float | None, fps: Fraction) -> None:
    """Refuse a ``duration`` shorter than one frame at ``fps`` (ffmpeg would read ``-t 0us`` as "no limit").

    Example:
        >>> check_one_frame(1e-9, Fraction(6))
        Traceback (most recent call last):
        dreamvid.errors.ConfigError: expected a duration of at least one frame (0.1667 s at 6 fps), got 1e-09 s
    """
    if duration is not None and duration * fps < 1:
        raise ConfigError(f"expected a duration of at least one frame ({1 / float(fps):.4g} s at {float(fps):g} fps), "
                          f"got {duration:g} s")


def _check_frame_size(source: Path, width: int, height: int) -> None:
    """Refuse, before any decoding, frames with a side over :data:`~dreamvid.images.MAX_SIZE` pixels."""
    if max(width, height) > MAX_SIZE:
        fits = min(3840, width * MAX_SIZE // max(width, height)) // 2 * 2
        raise InputError(f"{source} gives {width}x{height} frames, more than the {MAX_SIZE} pixels a side dreamvid "
                         f"works with; read it at a smaller width (--width {fits})")


def _check_read_options(start: float, duration: float | None, frames: int | None, width: int | None) -> None:
    check_times(start, duration, what="")
    if frames is not None and (not is_int(frames) or frames < 1):
        raise ConfigError(f"expected a frame count >= 1, got {frames!r}")
    if width is not None and (not is_int(width) or width < 2):
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
    decode_log = DecodeLog(process)
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
        end_process(process)


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
    check_times(start, duration, what="audio ")
    if not is_int(sample_rate) or sample_rate < 1000:
        raise ConfigError(f"expected a sample rate of at least 1000 Hz, got {sample_rate!r}")
    sound = audio_input(source, start=start, duration=duration, what="audio")
    if sound is None:
        raise InputError(f"{source} has no audio stream; give a file with sound (WAV, MP3, FLAC, M4A, or a "
                         f"video with a soundtrack)")
    command = [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", *sound,
               "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "pipe:1"]
    logger.debug("decoding audio: %s", command)
    try:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    except OSError as exc:
        raise DreamvidError(f"cannot run ffmpeg for {source}: {exc}; reinstall imageio-ffmpeg") from None
    if result.returncode != 0:
        reason = last_line(result.stderr.decode("utf-8", "replace"))
        raise InputError(f"cannot decode the audio of {source}: {reason}; check the file")
    return np.frombuffer(result.stdout[: len(result.stdout) // 4 * 4], dtype="<f4").astype(np.float32)


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
    if not (is_int(width) and is_int(height)) or width < 1 or height < 1:
        raise ConfigError(f"expected a positive frame size, got {width!r}x{height!r}")
    if target_width is None:
        return width, height
    if not is_int(target_width) or target_width < 2:
        raise ConfigError(f"expected a width >= 2 pixels, got {target_width!r}")
    if target_width >= width:
        return width, height
    new_width = target_width - target_width % 2
    new_height = max(2, 2 * math.floor(height * new_width / width / 2 + 0.5))
    return new_width, new_height

