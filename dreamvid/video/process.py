"""ffmpeg as a process: ``command → result``; where the binary is, how its output is drained and read.

Convention:
    - The ffmpeg binary is the one bundled with imageio-ffmpeg; no system ffmpeg or ffprobe is needed.
      This package is the only place that imports imageio-ffmpeg or starts ffmpeg.
    - Paths reach ffmpeg as ``file:`` URLs (:func:`ffmpeg_url`), so names with ':' or a leading '-' are
      never read as options or protocols.
    - Times reach ffmpeg as whole microseconds (:func:`seconds_text`), rates as exact ratios
      (:func:`ratio_text`), never as rounded decimals.
    - An ffmpeg error becomes one line (:func:`last_line`): its most telling message, without the
      ``[component @ 0x...]`` prefixes.
    - User inputs are read with only the ``file`` protocol and without the demuxers that read other files
      named inside the input (HLS and concat playlists, DASH and IMF manifests, SDP, scripts, devices),
      whatever the file's name (:func:`input_guard`); :func:`allow_playlists` lifts that for one block.
"""

from __future__ import annotations

import logging
import math
import re
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import IO

import imageio_ffmpeg
import numpy as np

from dreamvid.errors import ConfigError, DreamvidError

__all__ = [
    "DecodeLog",
    "StderrTail",
    "allow_playlists",
    "check_times",
    "encoders",
    "end_process",
    "escape_percent",
    "ffmpeg_path",
    "ffmpeg_url",
    "input_guard",
    "is_int",
    "is_number",
    "last_line",
    "ratio_text",
    "run_ffmpeg",
    "seconds_text",
]

logger = logging.getLogger("dreamvid.video")


@cache
def ffmpeg_path() -> str:
    """Path of imageio-ffmpeg's bundled ffmpeg binary."""
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise DreamvidError(f"cannot find ffmpeg ({exc}); reinstall it: pip install --force-reinstall "
                            "imageio-ffmpeg") from None


@cache
def encoders() -> frozenset[str]:
    """Names of the encoders the bundled ffmpeg has."""
    result = subprocess.run([ffmpeg_path(), "-hide_banner", "-encoders"], capture_output=True, text=True,
                            check=False)
    return frozenset(line.split()[1] for line in result.stdout.splitlines()
                     if len(line.split()) > 1 and re.fullmatch(r"[VAS][.A-Z]{5}", line.split()[0]))


READS_OTHER_FILES = frozenset({"hls", "applehttp", "concat", "dash", "imf", "sdp", "rtp", "rtsp", "sap",
                               "avisynth", "vapoursynth", "dvdvideo", "webm_dash_manifest"})
"""Demuxers that read files or streams named inside their input; refused for user inputs (with devices)."""

REFUSED_FORMAT = "Format not on whitelist"
"""What ffmpeg prints when an input's format is one :func:`input_guard` leaves out."""

_PLAYLISTS_ALLOWED: ContextVar[bool] = ContextVar("dreamvid_playlists_allowed", default=False)


@contextmanager
def allow_playlists(allowed: bool = True) -> Iterator[None]:
    """Within this block (in this thread or task), read inputs with ffmpeg's own defaults: playlists and
    other protocols too (``dreamvid video --allow-playlists``). Only for inputs whose every named file is trusted.

    Example:
        >>> with allow_playlists():
        ...     input_guard()
        []
    """
    token = _PLAYLISTS_ALLOWED.set(allowed)
    try:
        yield
    finally:
        _PLAYLISTS_ALLOWED.reset(token)


def playlists_allowed() -> bool:
    """Whether :func:`allow_playlists` is in force here."""
    return _PLAYLISTS_ALLOWED.get()


def input_guard() -> list[str]:
    """ffmpeg input options that keep a user input to itself: only the ``file`` protocol, and only demuxers
    that read nothing but their input (no playlists, manifests, scripts or devices). Empty inside
    :func:`allow_playlists`."""
    if playlists_allowed():
        return []
    return ["-protocol_whitelist", "file", "-format_whitelist", _media_demuxers()]


@cache
def _media_demuxers() -> str:
    """The bundled ffmpeg's demuxers, less devices and :data:`READS_OTHER_FILES`, comma-separated."""
    result = subprocess.run([ffmpeg_path(), "-hide_banner", "-demuxers"], capture_output=True, text=True,
                            check=False)
    names = []
    for line in result.stdout.splitlines():
        flags, rest = line[1:4], line[4:].split()  # " D d lavfi   Libavfilter ...": d marks a device
        if flags.startswith("D") and "d" not in flags and rest and rest[0] != "=":
            names += [name for name in rest[0].split(",") if name not in READS_OTHER_FILES]
    if not names:
        raise DreamvidError("cannot list the bundled ffmpeg's formats; reinstall it: pip install --force-reinstall "
                            "imageio-ffmpeg")
    return ",".join(names)


def run_ffmpeg(command: list[str], source: Path) -> subprocess.CompletedProcess[str]:
    """Run a short ffmpeg command to completion, capturing its text output."""
    logger.debug("running %s", command)
    try:
        return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              encoding="utf-8", errors="replace", check=False)
    except OSError as exc:
        raise DreamvidError(f"cannot run ffmpeg for {source}: {exc}; reinstall imageio-ffmpeg") from None


class DecodeLog:
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
        return last_line("\n".join(self._lines))


_LEVEL_LINE_RE = re.compile(r"(?P<context>(?:\[[^\]]*\]\s*)*?)\[(?P<level>panic|fatal|error|warning|info|verbose"
                            r"|debug|trace)\]\s?(?P<message>.*)")
_SHOWINFO_RE = re.compile(r"n:\s*\d+\s+pts:\s*-?\d+\s+pts_time:(?P<time>-?\d+(?:\.\d*)?(?:e[-+]?\d+)?)")


class StderrTail:
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
        return last_line("\n".join(self._lines))


_GENERIC_ERROR_RE = re.compile(
    r"Error opening (input|output) files?\b.*|Error selecting an encoder|Conversion failed!?"
    r"|Task finished with error code.*|Terminating thread with return code.*|Nothing was written into.*"
    r"|Could not open encoder before EOF|Error while (filtering|processing the decoded data).*"
)


def last_line(stderr: str) -> str:
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


def end_process(process: subprocess.Popen[bytes]) -> None:
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


# -------------------------------------------------------------------------------------- arguments


def ffmpeg_url(path: Path) -> str:
    """An ffmpeg URL for a local path: ``file:`` so names with ':' or a leading '-' are never misread."""
    return "file:" + str(path.absolute())


def escape_percent(folder: Path) -> str:
    """A folder's absolute path with '%' doubled, to put in front of a printf file-name pattern."""
    return str(folder.absolute()).replace("%", "%%")


def ratio_text(rate: Fraction) -> str:
    """An exact rate as ffmpeg reads it: ``Fraction(24000, 1001)`` → ``"24000/1001"``."""
    return f"{rate.numerator}/{rate.denominator}"


def seconds_text(value: float | Fraction, *, ceil: bool) -> str:
    """Seconds as whole microseconds for ffmpeg (its own unit), rounded down unless ``ceil``.

    Rounding down keeps a frame that starts exactly at a ``start`` and leaves out the one that starts
    exactly at the end of a ``duration``: ``17 / (24000/1001)`` s is 709041.67 us -> ``709041us``.
    """
    micros = value * 1_000_000
    return f"{math.ceil(micros) if ceil else math.floor(micros)}us"


# ------------------------------------------------------------------------------------------- checks


def is_int(value: object) -> bool:
    """An integer (Python or numpy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """A real number (int, float, Fraction, numpy), not a bool."""
    return isinstance(value, (int, float, Fraction, np.integer, np.floating)) and not isinstance(value, bool)


def check_times(start: float, duration: float | None, *, what: str) -> None:
    """Raise unless ``start`` is a finite number >= 0 and ``duration`` is None or a finite number > 0."""
    if not is_number(start) or not math.isfinite(start) or start < 0:
        raise ConfigError(f"expected {what}start >= 0 seconds, got {start!r}")
    if duration is not None and (not is_number(duration) or not math.isfinite(duration) or duration <= 0):
        raise ConfigError(f"expected {what}duration > 0 seconds, got {duration!r}")
