"""Writing a clip: ``frames → VideoWriter → the output``, encoded by ffmpeg as the frames arrive.

Convention:
    - A *frame* is a numpy array ``(H, W, 3)`` uint8 in **RGB** order, of the writer's ``size``
      (``(width, height)``); frames travel to ffmpeg through a pipe as raw ``rgb24`` bytes.
    - ``.mp4``: H.264 (libx264, yuv420p, BT.709, ``+faststart``), audio AAC. yuv420p needs an even size,
      so an odd width or height is *padded* by one pixel that repeats the edge (never rescaled).
    - ``.webm``: VP9 (libvpx-vp9, yuv420p, BT.709; VP8 if VP9 is missing), audio Opus. Odd sizes are kept.
    - ``.gif``: one palette for the whole clip (palettegen/paletteuse), loops forever; GIF stores delays
      in 1/100 s, so players round the frame rate (23.976 fps plays at 25 fps). No audio.
    - a folder: lossless PNG frames ``frame_000001.png``, ``frame_000002.png``, ... at the exact frame size.
    - The output appears at its path only when complete (see :mod:`dreamvid.video.output`).
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import numpy as np

from dreamvid.arrays import check_frame
from dreamvid.errors import OutputError
from dreamvid.video.output import FRAME_PATTERN, PendingOutput
from dreamvid.video.process import (
    StderrTail,
    encoders,
    end_process,
    escape_percent,
    ffmpeg_path,
    ffmpeg_url,
    ratio_text,
)

__all__ = ["VideoWriter"]

logger = logging.getLogger("dreamvid.video")

_COLOUR_TAGS = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
                "-color_range", "tv"]
_TO_BT709 = "scale=out_color_matrix=bt709:out_range=tv"


class VideoWriter:
    """Encode RGB frames into a video file or PNG frames folder, atomically; a context manager.

    Frames go to ffmpeg through a pipe as they are written. With ``audio_from``, the audio of that file
    (from ``audio_start`` for ``audio_duration`` seconds) is added to MP4/WebM output, padded with silence
    or cut so that it ends with the last frame (within one audio packet). On :meth:`close` the complete
    output is renamed into place; on an exception inside the ``with`` block, or :meth:`abort`, ffmpeg is
    stopped, the part file is removed and nothing appears at ``path``.

    Args:
        path: Output path; :func:`~dreamvid.video.output_format` picks the format.
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
        self._output = PendingOutput(path, fps=fps, size=size, audio_from=audio_from, audio_start=audio_start,
                                     audio_duration=audio_duration, crf=crf, inputs=inputs, spherical=spherical)
        self.path, self.format = self._output.path, self._output.format
        self.fps, self.size = self._output.fps, self._output.size
        self._frames = 0
        self._closed = False
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: StderrTail | None = None
        try:
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
        check_frame(frame, "frame")
        if frame.shape != (height, width, 3):
            raise ValueError(f"expected a frame of shape ({height}, {width}, 3) uint8, got {frame.shape}")
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
            self._output.finish(self._frames)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and remove every part file; the target is left as it was. Safe to call twice."""
        self._closed = True
        if self._process is not None:
            end_process(self._process)
        self._output.abort()

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

    def _start_encoder(self) -> None:
        width, height = self.size
        target = self._output.video_target
        command = [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                   "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                   "-framerate", ratio_text(self.fps), "-i", "pipe:0", "-map", "0:v:0",
                   *_video_options(self.format, self.size, self._output.crf,
                                   faststart=self._output.audio is None)]
        if self.format == "png":
            command += ["-start_number", "1", "-f", "image2", "file:" + escape_percent(target) + os.sep
                        + FRAME_PATTERN]
        else:
            command += ["-f", self.format, ffmpeg_url(target)]
        logger.debug("encoding %s: %s", self.path, command)
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
        self._stderr = StderrTail(self._process)

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

    def _fail(self, what: str) -> None:
        """Stop ffmpeg and raise an OutputError quoting the last line it printed."""
        assert self._process is not None and self._stderr is not None
        end_process(self._process)
        detail = self._stderr.last()
        self.abort()
        raise OutputError(f"{what} {self.path}: {detail}")


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
        if "libvpx-vp9" in encoders():
            return options + ["-c:v", "libvpx-vp9", "-crf", str(crf), "-b:v", "0", "-deadline", "good",
                              "-cpu-used", "4", "-row-mt", "1"]
        return options + ["-c:v", "libvpx", "-crf", str(max(crf, 4)), "-b:v", "50M"]
    if format_name == "gif":
        palette = "split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=sierra2_4a"
        return ["-vf", palette, "-loop", "0"]
    return ["-c:v", "png", "-pix_fmt", "rgb24"]

