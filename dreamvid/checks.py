"""Checks for the frozen setting tables: each raises one ``ConfigError`` line naming ``table.key``.

``check_int(table, "octaves", 1, 12)`` inside a table's ``__post_init__`` → ``dream.octaves must be an integer
from 1 to 12, got 0``. A table names itself by its ``TABLE`` class attribute; fields listed in its
``SCHEDULED`` may also hold a schedule (see :mod:`dreamvid.schedule`) whose keyframes are each checked.
An int is accepted where a float is expected (and stored back as float); a bool is never a number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NoReturn

from dreamvid.errors import ConfigError
from dreamvid.schedule import is_schedule, parse_schedule

_KINDS = {
    bool: "a boolean", str: "a string", int: "an integer", float: "a number", list: "a list", dict: "a table"
}


def show(value: object, *, limit: int = 80) -> str:
    """A value as the user wrote it: TOML spelling for booleans, repr otherwise, cut to ``limit`` characters.

    Example:
        >>> show(True), show("x" * 100, limit=12)
        ('true', "'xxxxxxxx...")
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def typed(value: object) -> str:
    """A value and its kind, for messages about a wrong type: ``'4' (a string)``."""
    return f"{show(value)} ({_KINDS.get(type(value), type(value).__name__)})"


def quoted(names: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in names)


def fail(table: object, key: str, expected: str, got: str) -> NoReturn:
    """Raise the one-line error for ``table.key``: ``dream.octaves must be ..., got 0``."""
    raise ConfigError(f"{_table_name(table)}.{key} must be {expected}, got {got}")


def _table_name(table: object) -> str:
    return getattr(type(table), "TABLE", type(table).__name__)


def check_str(table: object, key: str, *, allow_empty: bool = True) -> None:
    value = getattr(table, key)
    expected = "a string" if allow_empty else "a non-empty string"
    if not isinstance(value, str):
        fail(table, key, expected, typed(value))
    if not value and not allow_empty:
        fail(table, key, expected, "''")


def check_choice(table: object, key: str, choices: Sequence[str]) -> None:
    """Require one of the strings ``choices``: ``dream.parameterization must be one of 'pixels', 'fourier', got 'fft'``."""
    value = getattr(table, key)
    if not isinstance(value, str) or value not in choices:
        fail(table, key, f"one of {quoted(choices)}", typed(value) if not isinstance(value, str) else repr(value))


def check_int(table: object, key: str, low: int, high: int | None, *, expected: str = "") -> None:
    """Require an int (not a bool) in ``[low, high]``; ``high=None`` means no upper bound.

    A field in the table's ``SCHEDULED`` may also hold a schedule whose keyframe values are in range.
    """
    value = getattr(table, key)
    if not expected:
        expected = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    if _check_schedule(table, key, expected, lambda v: low <= v and (high is None or v <= high)):
        return
    if isinstance(value, bool) or not isinstance(value, int):
        fail(table, key, expected + _schedule_hint(table, key), typed(value))
    if value < low or (high is not None and value > high):
        fail(table, key, expected, show(value))


def check_number(table: object, key: str, low: float, high: float, *, above_low: bool = False) -> None:
    """Require an int or float (not a bool) in ``[low, high]``, or ``(low, high]`` if ``above_low``.

    The value is stored back as a float. A field in the table's ``SCHEDULED`` may also hold a schedule
    whose keyframe values are in range.
    """
    value = getattr(table, key)
    if above_low:
        expected = f"a number greater than {low:g} and at most {high:g}"
    else:
        expected = f"a number from {low:g} to {high:g}"

    def in_range(v: float) -> bool:
        return low < v <= high if above_low else low <= v <= high  # False for NaN

    if _check_schedule(table, key, expected, in_range):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(table, key, expected + _schedule_hint(table, key), typed(value))
    if not in_range(value):
        fail(table, key, expected, show(value))
    object.__setattr__(table, key, float(value))


def _schedule_hint(table: object, key: str) -> str:
    """For text in a field that takes schedules: say that a schedule would have been fine."""
    if isinstance(getattr(table, key), str) and key in getattr(table, "SCHEDULED", ()):
        return " or a schedule like \"0:1.0, 90:1.3\""
    return ""


def _check_schedule(table: object, key: str, expected: str, in_range: Callable[[float], bool]) -> bool:
    """Check a schedule held by a ``SCHEDULED`` field: numbers, each keyframe in range. False if no schedule."""
    value = getattr(table, key)
    if key not in getattr(table, "SCHEDULED", ()) or not is_schedule(value):
        return False
    schedule = parse_schedule(value, name=f"{_table_name(table)}.{key}")
    if not schedule.numeric:
        fail(table, key, f"{expected}, or a schedule of numbers", show(value))
    for frame, number in zip(schedule.frames, schedule.values):
        if not in_range(number):  # values between keyframes lie between keyframe values
            fail(table, key, expected, f"{number:g} at frame {frame} of {value!r}")
    return True
