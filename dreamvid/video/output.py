"""An output being made: ``(path, fps, size, audio, ...) → part files → the output``, renamed into place at once.

What :class:`~dreamvid.video.VideoWriter` (frames in) and :class:`~dreamvid.video.SegmentJoiner`
(encoded segments in) share: checking the target before any work, the part files the video is encoded
into, adding the audio, marking a 360° video, and publishing.

Convention:
    - :func:`output_format` picks the format from the path: ``.mp4`` (H.264 + AAC), ``.webm`` (VP9 +
      Opus), ``.gif`` (no audio), or a folder of lossless PNG frames ``frame_000001.png``, ... (a path
      ending in ``/``, an existing folder, or a name without extension; no audio).
    - The video is encoded into a hidden part file (or folder) beside the target; with audio, into a
      second, video-only part, and the audio is added in a second step that copies the video. On
      success the part is renamed over the target; on any failure every part is removed and nothing
      appears at the target (an existing file is kept).
    - The audio is cut or padded with silence to end with the last frame (within one audio packet).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from dreamvid import fileio
from dreamvid.errors import ConfigError, OutputError
from dreamvid.images import check_output_path
from dreamvid.spherical import write_spherical
from dreamvid.video.probe import audio_input
from dreamvid.video.process import check_times, ffmpeg_path, ffmpeg_url, is_int, last_line, seconds_text

__all__ = ["AUDIO_CODECS", "FRAME_PATTERN", "OUTPUT_FORMATS", "PendingOutput", "output_format"]

logger = logging.getLogger("dreamvid.video")

OUTPUT_FORMATS: dict[str, str] = {".mp4": "mp4", ".webm": "webm", ".gif": "gif"}
"""File extensions the writers write, and their format names; a folder means ``"png"``."""

FRAME_PATTERN = "frame_%06d.png"
"""Names of the files in a PNG frames folder (printf style), numbered from 1: ``frame_000001.png``, ..."""

AUDIO_CODECS = {"mp4": ["-c:a", "aac", "-b:a", "192k"], "webm": ["-c:a", "libopus", "-b:a", "128k"]}
"""ffmpeg's audio options per format; only these formats carry audio (and can be joined from segments)."""

_FRAME_NAME_RE = re.compile(r"frame_\d{6}\.png")


class PendingOutput:
    """An output checked and reserved, waiting for its video; :meth:`finish` publishes it, :meth:`abort` drops it.

    Constructing one checks everything that can be checked before any work (format, target, frame rate,
    size, quality, the audio file) and reserves the part files, so a failure here leaves nothing behind.

    Args:
        path: Output path; :func:`output_format` picks the format.
        fps: Exact frame rate (a Fraction or int).
        size: ``(width, height)`` of the frames.
        audio_from: File whose first audio stream is carried over (ignored for GIF and PNG frames, and
            when it has no audio).
        audio_start: Where the audio starts in ``audio_from``, seconds.
        audio_duration: Seconds of audio to use; None uses it to the end (it is then cut to the video).
        crf: Quality: libx264's CRF for MP4 (0-51), libvpx's for WebM (0-63); checked, not used here.
        inputs: Input files the output must not overwrite (``audio_from`` is always included).
        spherical: ``(projection, stereo)`` to mark an MP4 output as a 360° video; None for none.

    Attributes:
        path, format, fps, size, crf: as checked.
        video_target: where the encoder (or the joiner) writes the video.

    Raises:
        OutputError: Unknown format, unwritable or missing directory, output is an input, a non-empty
            folder that is not a previous frames output, or a part file that cannot be created.
        InputError: ``audio_from`` cannot be read, or ``audio_start`` is past its end.
        ConfigError: ``fps``, ``size``, ``crf`` or the audio times are out of range.
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
        self.crf = _check_crf(crf, self.format)
        sources = [*inputs, *([audio_from] if audio_from is not None else [])]
        self.path = _check_target(Path(path), self.format, sources)
        check_times(audio_start, audio_duration, what="audio ")
        self.audio = (audio_input(Path(audio_from), start=audio_start, duration=audio_duration)
                      if audio_from is not None and self.format in AUDIO_CODECS else None)
        self._part = fileio.reserve_part(self.path, folder=self.format == "png")  # the output before the rename
        self._video_part: Path | None = None  # video-only part when the audio is added in a second step
        if self.audio is not None:
            try:
                self._video_part = fileio.reserve_part(self.path, tag="video")
            except BaseException:
                self.abort()
                raise

    @property
    def video_target(self) -> Path:
        """The part the video is written to: the video-only part when audio is added after."""
        return self._video_part if self._video_part is not None else self._part

    def finish(self, frames: int) -> Path:
        """Add the audio (cut to ``frames`` frames) and the 360° metadata, and rename the output into place.

        Returns:
            The output path.

        Raises:
            OutputError: ffmpeg or the rename failed; every part is removed.
        """
        try:
            if self._video_part is not None:
                self._mux_audio(frames)
            if self._spherical is not None:
                projection, stereo = self._spherical
                write_spherical(self._part, projection=projection, stereo=stereo)
            return fileio.publish(self._part, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Remove every part; the target is left as it was. Safe to call twice."""
        for part in (self._part, self._video_part):
            if part is not None:
                fileio.remove_part(part)

    def _mux_audio(self, frames: int) -> None:
        """Copy the encoded video and add the audio, cut or padded to exactly the video's length.

        A second, cheap step (the video is copied, not re-encoded): with a single process, ``-shortest``
        ends the output up to 0.35 s late, depending on thread timing; an exact ``-t`` needs the frame count.
        """
        assert self.audio is not None and self._video_part is not None
        seconds = seconds_text(frames / self.fps, ceil=True)
        command = [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                   "-i", ffmpeg_url(self._video_part), *self.audio, "-map", "0:v:0", "-map", "1:a:0",
                   "-c:v", "copy", *AUDIO_CODECS[self.format], "-af", "apad", "-t", seconds]
        if self.format == "mp4":
            command += ["-movflags", "+faststart"]
        command += ["-f", self.format, ffmpeg_url(self._part)]
        logger.debug("adding audio to %s: %s", self.path, command)
        result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, check=False)
        if result.returncode != 0:
            detail = last_line(result.stderr.decode("utf-8", "replace"))
            raise OutputError(f"ffmpeg failed while adding the audio to {self.path}: {detail}")
        self._video_part.unlink(missing_ok=True)


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


def _check_fps(fps: Fraction | int) -> Fraction:
    """``fps`` as an exact Fraction, or a ConfigError unless it is an int or Fraction in (0, 1000]."""
    if isinstance(fps, bool) or not isinstance(fps, (Fraction, int)):
        raise ConfigError(f"expected an exact frame rate such as Fraction(24000, 1001), got {fps!r}")
    if fps <= 0 or fps > 1000:
        raise ConfigError(f"expected a frame rate from 0 to 1000 fps, got {fps}")
    return Fraction(fps)


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    """``(width, height)`` as ints, or a ConfigError unless each side is from 1 to 16384."""
    if (not isinstance(size, (tuple, list)) or len(size) != 2 or not all(is_int(side) for side in size)
            or min(size) < 1 or max(size) > 16384):
        raise ConfigError(f"expected a frame size (width, height) from 1 to 16384 pixels, got {size!r}")
    return int(size[0]), int(size[1])


def _check_crf(crf: int, format_name: str) -> int:
    """``crf``, or a ConfigError unless it is in the encoder's range (0-51 for H.264, 0-63 otherwise)."""
    highest = 51 if format_name == "mp4" else 63
    if not is_int(crf) or not 0 <= crf <= highest:
        raise ConfigError(f"expected a CRF from 0 to {highest} for {format_name}, got {crf!r}")
    return crf

