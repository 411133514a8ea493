"""Joining encoded segments: ``segments → SegmentJoiner → the output``, their streams copied, never re-encoded.

Convention:
    - Segments are complete MP4 or WebM files written by :class:`~dreamvid.video.VideoWriter` with the
      output's format, frame rate, size and ``crf``, so their streams have the same parameters and each
      starts on a keyframe; ffmpeg's concat demuxer copies them one after the other, and the output
      decodes to exactly the segments' frames.
    - The audio is added to the joined video as a writer adds it to encoded frames, and the output is
      renamed into place at once (see :mod:`dreamvid.video.output`).
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from dreamvid.errors import OutputError
from dreamvid.video.output import AUDIO_CODECS, PendingOutput
from dreamvid.video.process import ffmpeg_path, ffmpeg_url, last_line

__all__ = ["SegmentJoiner"]

logger = logging.getLogger("dreamvid.video")


class SegmentJoiner:
    """Join encoded MP4/WebM segments into an output, add its audio and move it into place.

    Takes the arguments of :class:`~dreamvid.video.VideoWriter`. Constructing one checks the target and
    the audio up front without starting anything; :meth:`abort` leaves nothing behind, so
    ``SegmentJoiner(path, ...).abort()`` is a cheap check that an output could be written.

    Example:
        >>> import tempfile
        >>> import numpy as np
        >>> from dreamvid.video import VideoWriter, probe
        >>> folder = Path(tempfile.mkdtemp())
        >>> for name in ("a.mp4", "b.mp4"):
        ...     with VideoWriter(folder / name, fps=Fraction(25), size=(64, 48)) as writer:
        ...         for _ in range(3):
        ...             writer.write(np.zeros((48, 64, 3), np.uint8))
        >>> joiner = SegmentJoiner(folder / "ab.mp4", fps=Fraction(25), size=(64, 48))
        >>> joiner.join([folder / "a.mp4", folder / "b.mp4"], frames=6).name, probe(folder / "ab.mp4").frames
        ('ab.mp4', 6)
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
        self._output = PendingOutput(path, fps=fps, size=size, audio_from=audio_from, audio_start=audio_start,
                                     audio_duration=audio_duration, crf=crf, inputs=inputs, spherical=spherical)
        self.path, self.format = self._output.path, self._output.format

    def join(self, segments: Sequence[str | os.PathLike[str]], *, frames: int) -> Path:
        """Join ``segments`` (in order; ``frames`` frames in all) into the output, add the audio, publish.

        Returns:
            The output path.

        Raises:
            OutputError: No segment, or ffmpeg or the final rename failed (nothing is left behind).
            ValueError: The format is GIF or PNG frames (those cannot be joined without re-encoding).
        """
        try:
            if self.format not in AUDIO_CODECS:
                raise ValueError(f"only MP4 and WebM segments can be joined, not {self.format}")
            if not segments or frames == 0:
                raise OutputError(f"no frames were written to {self.path}; nothing to save")
            self._concat([Path(segment) for segment in segments])
            return self._output.finish(frames)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Remove every part file; the target is left as it was. Safe to call twice."""
        self._output.abort()

    def _concat(self, segments: list[Path]) -> None:
        """Copy the segments' video streams one after the other into the output's video part."""
        listing = "ffconcat version 1.0\n" + "".join(
            "file '" + ffmpeg_url(segment).replace("'", "'\\''") + "'\n" for segment in segments)
        command = [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "concat",
                   "-safe", "0", "-protocol_whitelist", "file,pipe", "-i", "pipe:0", "-map", "0:v:0", "-c", "copy"]
        if self.format == "mp4" and self._output.audio is None:
            command += ["-movflags", "+faststart"]
        command += ["-f", self.format, ffmpeg_url(self._output.video_target)]
        logger.debug("joining %d segments into %s: %s", len(segments), self.path, command)
        result = subprocess.run(command, input=listing.encode("utf-8"), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, check=False)
        if result.returncode != 0:
            detail = last_line(result.stderr.decode("utf-8", "replace"))
            raise OutputError(f"ffmpeg failed while joining the segments of {self.path}: {detail}")
