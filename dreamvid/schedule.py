"""Keyframed schedules: ``parse_schedule(text) → Schedule``; ``schedule(frame) → value``.

Syntax (presets and ``--set``):
    ``1.3``                          a constant
    ``"0:1.0, 90:1.3, 180:1.0"``     FRAME:VALUE keyframes, linear in between
    ``"smooth 0:1.0, 90:1.3"``       eased (smoothstep) in between
    ``"0:b8, 120:b12:7"``            text values (objectives, layers) switch at their keyframe

Before the first keyframe the first value holds, after the last the last one. Frames are integers in
increasing order (output frames, counted from 0); values between keyframes are interpolated at fractional
frames too. Which settings take schedules is listed in :mod:`dreamvid.config` (``SCHEDULED`` per table);
:meth:`dreamvid.config.Config.at` evaluates them all for one frame.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass

from dreamvid.errors import ConfigError

Value = float | str
_KEYFRAME_SPLIT = re.compile(r",\s*(?=\d+\s*:)")  # a comma that starts the next FRAME:
_SCHEDULE_START = re.compile(r"\s*(smooth\s+)?\d+\s*:")


@dataclass(frozen=True)
class Schedule:
    """Keyframes ``frames[i] → values[i]``; call it with a frame number to get the value there.

    Numbers interpolate (linearly, or with smoothstep easing when ``smooth``); text values hold from their
    keyframe to the next. A constant is a single keyframe at frame 0.
    """

    frames: tuple[int, ...]
    values: tuple[Value, ...]
    smooth: bool = False

    @property
    def numeric(self) -> bool:
        return all(isinstance(v, float) for v in self.values)

    @property
    def constant(self) -> bool:
        return len(set(self.values)) == 1

    def __call__(self, frame: float) -> Value:
        frames, values = self.frames, self.values
        if not self.numeric:
            return values[max(0, bisect.bisect_right(frames, frame) - 1)]
        if frame <= frames[0]:
            return values[0]
        if frame >= frames[-1]:
            return values[-1]
        i = bisect.bisect_right(frames, frame) - 1
        t = (frame - frames[i]) / (frames[i + 1] - frames[i])
        if self.smooth:
            t = t * t * (3 - 2 * t)
        low, high = float(values[i]), float(values[i + 1])
        return low + (high - low) * t


def is_schedule(text: object) -> bool:
    """Whether ``text`` is written as keyframes (``"0:b8, 120:b12"``, ``"smooth 0:1, 9:2"``), not a plain value.

    Example:
        >>> is_schedule("0:b8, 120:b12"), is_schedule("b12:7"), is_schedule("0.5*b8+b12")
        (True, False, False)
    """
    return isinstance(text, str) and _SCHEDULE_START.match(text) is not None


def parse_schedule(text: str | float | int, *, name: str = "value") -> Schedule:
    """Parse a schedule; numbers interpolate (linear or smooth), text switches at keyframes.

    Args:
        text: the schedule, or a plain number.
        name: the setting's name, for error messages.

    Raises:
        ConfigError: malformed keyframes, frames not increasing, mixed number and text values.

    Example:
        >>> zoom = parse_schedule("0:1.0, 90:1.3, 180:1.0", name="zoom")
        >>> [round(zoom(f), 3) for f in (0, 45, 90, 135, 200)]
        [1.0, 1.15, 1.3, 1.15, 1.0]
        >>> parse_schedule("0:b8, 120:b12", name="objective")(119)
        'b8'
    """
    if isinstance(text, bool) or not isinstance(text, (int, float, str)):
        raise ConfigError(f"{name} must be a number or a schedule like \"0:1.0, 90:1.3\", got {text!r}")
    if isinstance(text, (int, float)):
        return Schedule((0,), (float(text),))
    return _parse_text(text, name)


@functools.lru_cache(maxsize=256)
def _parse_text(text: str, name: str) -> Schedule:
    body = text.strip()
    smooth = body.startswith("smooth ")
    if smooth:
        body = body[len("smooth "):].strip()
    try:
        return Schedule((0,), (float(body),))
    except ValueError:
        pass
    frames, values = _keyframes(body, name, text)
    numeric = all(isinstance(v, float) for v in values)
    if not numeric and any(isinstance(v, float) for v in values):
        raise ConfigError(f"schedule for {name} mixes numbers and text: {text!r}")
    if smooth and not numeric:
        raise ConfigError(f"'smooth' needs numeric values in the schedule for {name}: {text!r}")
    return Schedule(tuple(frames), tuple(values), smooth)


_FRAME_DIGITS = 9
"""Keyframes are below 10^9 (over a year at 30 fps); longer numbers are refused before ``int()`` reads them."""


def _keyframes(body: str, name: str, text: str) -> tuple[list[int], list[Value]]:
    frames: list[int] = []
    values: list[Value] = []
    for part in _KEYFRAME_SPLIT.split(body):
        frame, sep, value = part.partition(":")
        if not sep or not frame.strip().isdigit() or not value.strip():
            raise ConfigError(f"malformed schedule for {name}: {text!r}; write FRAME:VALUE keyframes "
                              f"like \"0:1.0, 90:1.3\" (frames are whole numbers)")
        if len(frame.strip()) > _FRAME_DIGITS:
            raise ConfigError(f"schedule for {name} has keyframe {frame.strip()[:20]}...; frames are below "
                              f"10^{_FRAME_DIGITS}")
        if frames and int(frame) <= frames[-1]:
            raise ConfigError(f"schedule for {name} must have increasing frames, got {frame.strip()} after "
                              f"{frames[-1]}: {text!r}")
        frames.append(int(frame))
        try:
            values.append(float(value))
        except ValueError:
            head = value.split(",")[0].strip()
            if "," in value and _is_number(head):  # "0:1.0, x": a number followed by junk
                raise ConfigError(f"malformed schedule for {name}: {text!r}; write FRAME:VALUE keyframes "
                                  f"like \"0:1.0, 90:1.3\" (frames are whole numbers)") from None
            values.append(value.strip())
    return frames, values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
